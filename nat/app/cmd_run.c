/* `glassnat run`: the live gateway. Loads the config, applies the command
 * line's overrides, restores the state file's forwards, opens the
 * observers, runs the platform's live backend (live.h) with the control
 * socket's callbacks (trace, reload, forwards, counters), and prints the
 * final statistics. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "control.h"
#include "engine.h"
#include "live.h"
#include "metrics_http.h"
#include "log_line.h"
#include "notify.h"
#include "observe.h"
#include "packet.h"
#include "platform.h"

/* Set by the signal handlers; run_reload is read by run_tick. */
static volatile sig_atomic_t run_stop, run_reload, run_signo;
/* The run a stop request goes to; NULL while none is open. */
static const struct nat_live_ops *run_be;
static struct nat_live *volatile run_live;

/* A signal handler, or Windows' console control thread. */
static void run_on_stop(int signo)
{
	struct nat_live *l = run_live;

	run_signo = signo;
	run_stop = 1;
	if (l)
		run_be->request_stop(l);
}

static void run_on_hup(void)
{
	run_reload = 1;
}

/* One line for people (log_line.h), the level by its name ("INFO"). */
static void run_log(const char *level, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void run_log(const char *level, const char *comp, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX * 2];
	enum log_level l = LOG_INFO;
	va_list ap;

	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
		if (strcmp(level, log_level_name((enum log_level)i)) == 0)
			l = (enum log_level)i;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(l, comp, "%s", msg);
}

/* nat_obs_opts.on_error: a trace or events write failed (full disk);
 * said at once, from the writer's thread, while forwarding goes on. */
static void run_obs_error(void *ctx, const char *component, const char *msg)
{
	(void)ctx;
	run_log("ERROR", component, "%s; forwarding goes on, losses counted",
		msg);
}

struct run_ctx {
	struct nat_engine *e;
	struct nat_observers ob;
	const char *config_path;
	struct nat_config *cfg; /* as started (trace dir, socket, state) */
	bool live_no_preserve;	/* run forced port preservation off */
	struct nat_ctl_server *ctl;
	struct nat_ctl_ops ops;
	const struct nat_live_ops *be;
	struct nat_live *live; /* NULL until the backend is open */
	bool started;	       /* steering and control socket up: a run, not a
		       * failed start (only then final statistics) */
	struct nat_metrics_http *http; /* /metrics, when metrics.listen */
	uint64_t next_publish_ns;
	uint64_t status_ns;    /* when STATUS= was last sent */
};

#define RUN_STATUS_NS (10ull * 1000000000ull) /* STATUS= every 10 s */

/* run's own long option, above the shared ones (app.h). */
enum { OPT_NO_FASTPATH = 1000 };

/* The live gateway's view of the engine's forwards changed: steer their
 * ports to the queue and keep the runtime ones in the state file. */
static int run_forwards_changed(void *ctx, char *errbuf, size_t errlen)
{
	struct run_ctx *rc = ctx;
	struct nat_forward_info *fi = malloc(NAT_FORWARDS_MAX * sizeof(*fi));
	struct nat_forward_cfg *fw = malloc(NAT_FORWARDS_MAX * sizeof(*fw));
	int r = -1;

	if (!fi || !fw) {
		snprintf(errbuf, errlen, "out of memory");
		goto out;
	}
	size_t n = nat_engine_forward_list(rc->e, fi, NAT_FORWARDS_MAX);
	for (size_t i = 0; i < n; i++)
		fw[i] = fi[i].f;
	if (!rc->live) {
		snprintf(errbuf, errlen, "the live gateway is not running");
		goto out;
	}
	if (rc->be->set_forwards(rc->live, nat_engine_config(rc->e), fw, n,
				 errbuf, errlen) != 0)
		goto out;
	if (rc->cfg->state_file[0] &&
	    nat_ctl_state_save(rc->cfg->state_file, rc->e, errbuf, errlen) != 0)
		goto out;
	r = 0;
out:
	free(fi);
	free(fw);
	return r;
}

static int run_trace(void *ctx, bool on, const char *bpf, char *errbuf,
		     size_t errlen)
{
	struct run_ctx *rc = ctx;
	if (!on) {
		if (rc->ob.trace)
			trace_set_enabled(rc->ob.trace, false);
		return 0;
	}
	if (bpf[0] && app_check_bpf(bpf, errbuf, errlen) != 0)
		return -1;
	if (nat_obs_trace_on(&rc->ob, &rc->cfg->trace, bpf, errbuf, errlen) !=
	    0)
		return -1;
	/* Flows in the kernel fast path come back to the engine, so the
	 * new filter sees their next packets; those it leaves unselected go
	 * back to the kernel on their next packet. */
	uint32_t back = nat_engine_offload_flush(rc->e);
	run_log("INFO", "TRACE", "Tracing on to %s%s%s%s", rc->cfg->trace.dir,
		bpf[0] ? ", filter: " : "", bpf,
		back ? " (flows taken back from the fast path)" : "");
	return 0;
}

/* A reload's trace section: `trace on` uses it from now on (an open ring
 * keeps its directory and sizes until the next start); trace.enabled
 * newly set starts tracing. Says so in changes (the engine's "no
 * changes" is replaced). */
static void run_reload_trace(struct run_ctx *rc, const struct nat_config *n,
			     char *changes, size_t clen)
{
	struct nat_trace_cfg *o = &rc->cfg->trace;
	const struct nat_trace_cfg *t = &n->trace;
	char msg[NAT_PATH_MAX + NAT_BPF_MAX + 160];
	size_t m = 0;

	if (strcmp(o->dir, t->dir) != 0)
		m += (size_t)snprintf(msg + m, sizeof(msg) - m,
				      "trace.dir %s -> %s; ",
				      o->dir[0] ? o->dir : "(none)",
				      t->dir[0] ? t->dir : "(none)");
	if (strcmp(o->filter, t->filter) != 0 && m < sizeof(msg))
		m += (size_t)snprintf(msg + m, sizeof(msg) - m,
				      "trace.filter \"%s\" -> \"%s\"; ",
				      o->filter, t->filter);
	if ((o->file_size != t->file_size || o->files != t->files ||
	     o->queue != t->queue ||
	     o->max_packets_per_flow != t->max_packets_per_flow) &&
	    m < sizeof(msg))
		m += (size_t)snprintf(msg + m, sizeof(msg) - m,
				      "trace sizes changed; ");
	bool start = t->enabled && !o->enabled && !rc->ob.trace && t->dir[0];
	if (t->enabled != o->enabled && m < sizeof(msg))
		m += (size_t)snprintf(msg + m, sizeof(msg) - m,
				      "trace.enabled %s; ",
				      t->enabled ? "on" : "off");
	if (m == 0)
		return;
	*o = *t;
	char err[ERRBUF_LEN] = "";
	if (start && nat_obs_trace_on(&rc->ob, o, o->filter, err,
				      sizeof(err)) != 0)
		run_log("ERROR", "TRACE", "reload: trace not started: %s",
			err);
	else if (start)
		(void)nat_engine_offload_flush(rc->e); /* as `trace on` */
	if (m > 2 && m < sizeof(msg))
		msg[m - 2] = '\0'; /* the last "; " */
	const char *tail = rc->ob.trace && !start
				   ? " (the open trace keeps its directory "
				     "and sizes until the next start)"
				   : start && !err[0] ? " (tracing started)"
						      : "";
	if (strcmp(changes, "no changes") == 0)
		snprintf(changes, clen, "%s%s", msg, tail);
	else {
		size_t k = strlen(changes);
		snprintf(changes + k, clen - k, "; %s%s", msg, tail);
	}
}

/* SIGHUP and `glassnat reload`: re-read the config; a broken one is
 * refused with its FILE:LINE:COLUMN message and the running one stays. */
static int run_reload_config(void *ctx, char *changes, size_t clen,
			     char *errbuf, size_t errlen)
{
	struct run_ctx *rc = ctx;
	struct nat_config ncfg;

	if (nat_config_load(rc->config_path, &ncfg, errbuf, errlen) != 0)
		return -1;
	if (rc->live_no_preserve)
		ncfg.port_preservation = false;
	int r = nat_engine_reload(rc->e, &ncfg, changes, clen, errbuf, errlen);
	if (r == 0 &&
	    (strcmp(ncfg.control_socket, rc->cfg->control_socket) != 0 ||
	     strcmp(ncfg.state_file, rc->cfg->state_file) != 0)) {
		size_t n = strlen(changes);
		snprintf(changes + n, clen - n, "%s",
			 "; control_socket / state_file changed: they take "
			 "effect at the next start");
	}
	if (r == 0)
		run_reload_trace(rc, &ncfg, changes, clen);
	if (r == 0) {
		char err2[ERRBUF_LEN];
		if (run_forwards_changed(rc, err2, sizeof(err2)) != 0)
			run_log("ERROR", "MAIN",
				"reload: updating the chains / state file: %s",
				err2);
		if (rc->ob.log)
			log_config_load(rc->ob.log, app_wall_ns(), &ncfg,
					changes);
	}
	nat_config_free(&ncfg);
	return r;
}

static void run_extra(void *ctx, struct nat_ctl_extra *x)
{
	struct run_ctx *rc = ctx;
	nat_obs_extra(&rc->ob, x);
	if (rc->ctl)
		nat_ctl_server_counters(rc->ctl, &x->ctl_requests,
					x->ctl_errors);
	if (rc->live)
		x->n_backend = rc->be->counters(rc->live, x->backend,
						NAT_LIVE_COUNTERS_MAX);
	x->forwards = nat_engine_forward_list(rc->e, NULL, 0);
	x->metrics_scrapes = nat_metrics_http_scrapes(rc->http);
}

/* Hands /metrics a fresh snapshot, at most once a second (reading the
 * backend's counters reads /proc). Engine thread. */
static void run_publish(struct run_ctx *rc, uint64_t now_ns)
{
	struct nat_ctl_extra x;
	struct nat_metrics m;
	if (!rc->http || now_ns < rc->next_publish_ns)
		return;
	rc->next_publish_ns = now_ns + 1000000000u;
	memset(&x, 0, sizeof(x));
	run_extra(rc, &x);
	nat_metrics_fill(&m, nat_engine_stats(rc->e), &x);
	nat_metrics_http_publish(rc->http, &m);
}

/* READY=1 (ready) or a STATUS= line for the service manager:
 * what `systemctl status` shows under the unit. */
static void run_notify_status(const struct run_ctx *rc, bool ready)
{
	const struct nat_stats *s = nat_engine_stats(rc->e);
	char ip[16], status[256];
	snprintf(status, sizeof(status),
		 "Translating for %s: %llu packets, %llu flows active",
		 nat_ip_str(nat_engine_config(rc->e)->nat_ip, ip),
		 (unsigned long long)s->packets,
		 (unsigned long long)s->flows_active);
	if (ready)
		nat_notify_ready(status);
	else
		nat_notify_status(status);
}

/* The watch feed: event lines to the control socket's subscribers
 * (writer thread), while there are any (engine thread). */
static void run_watch_sink(void *ctx, const char *lines, size_t len)
{
	struct run_ctx *rc = ctx;
	nat_ctl_server_publish(rc->ctl, lines, len);
}

static bool run_watch_on(void *ctx)
{
	struct run_ctx *rc = ctx;
	return nat_ctl_server_watchers(rc->ctl) > 0;
}

/* nat_live_opts.wake_fd / on_wake: control requests are answered as they
 * come, not on the tick. */
static int run_wake_fd(void *ctx)
{
	struct run_ctx *rc = ctx;
	return rc->ctl ? nat_ctl_server_wake_fd(rc->ctl) : -1;
}

static void run_wake(void *ctx)
{
	struct run_ctx *rc = ctx;
	if (rc->ctl)
		nat_ctl_server_drain(rc->ctl, rc->e, &rc->ops);
}

/* nat_live_opts.on_start: the backend steers packets to us. */
static int run_start(void *ctx, char *errbuf, size_t errlen)
{
	struct run_ctx *rc = ctx;
	/* Restored runtime forwards are not in the chains installed from
	 * the config yet. */
	if (nat_engine_forward_list(rc->e, NULL, 0) != rc->cfg->n_forwards &&
	    run_forwards_changed(rc, errbuf, errlen) != 0)
		return -1;
	rc->ctl = nat_ctl_server_start(rc->cfg->control_socket, NULL, errbuf,
				       errlen);
	if (!rc->ctl)
		return -1;
	if (rc->cfg->metrics.enabled) {
		char ip[16];
		rc->http = nat_metrics_http_start(rc->cfg->metrics.addr,
						  rc->cfg->metrics.port, errbuf,
						  errlen);
		if (!rc->http)
			return -1;
		run_publish(rc, 0);
		run_log("INFO", "METRICS", "Serving http://%s:%u/metrics",
			nat_ip_str(rc->cfg->metrics.addr, ip),
			rc->cfg->metrics.port);
	}
	if (nat_obs_watch_open(&rc->ob, rc->cfg, run_watch_sink, run_watch_on,
			       rc, errbuf, errlen) != 0)
		return -1;
	nat_ctl_server_feed_on(rc->ctl, true);
	run_log("INFO", "CONTROL",
		"Control socket %s (" NAT_PLAT_CTL_ACCESS ")",
		rc->cfg->control_socket);
	rc->started = true;
	run_log("INFO", "ENGINE", "Started");
	run_notify_status(rc, true);
	return 0;
}

/* nat_live_opts.on_tick: every ~100 ms on the engine thread. */
static void run_tick(void *ctx, uint64_t now_ns)
{
	struct run_ctx *rc = ctx;
	/* The watchdog hears from this thread: a stuck engine stops the
	 * pings, and systemd restarts the service. */
	nat_notify_watchdog();
	if (!rc->status_ns)
		rc->status_ns = now_ns; /* READY=1 just said it */
	if (now_ns - rc->status_ns >= RUN_STATUS_NS) {
		rc->status_ns = now_ns;
		run_notify_status(rc, false);
	}
	nat_obs_poll(&rc->ob, now_ns);
	run_publish(rc, now_ns);
	if (rc->ctl)
		nat_ctl_server_drain(rc->ctl, rc->e, &rc->ops);
	if (run_reload) {
		char changes[1024], err[ERRBUF_LEN];
		run_reload = 0;
		nat_notify_reloading();
		/* SIGHUP: logrotate moved the events file away, or the
		 * config changed: both. */
		if (rc->ob.log)
			log_reopen(rc->ob.log);
		if (run_reload_config(rc, changes, sizeof(changes), err,
				      sizeof(err)) == 0)
			run_log("INFO", "MAIN", "SIGHUP: config reloaded: %s",
				changes);
		else
			run_log("ERROR", "MAIN",
				"SIGHUP: reload refused, the running config "
				"stays: %s",
				err);
		run_notify_status(rc, true);
	}
}

/* Adds the runtime forwards kept in the state file; a clash with a
 * config forward names both. Returns -1 (printed). */
static int run_restore_state(struct nat_engine *e, const struct nat_config *cfg)
{
	struct nat_forward_cfg *fw;
	size_t n;
	char err[ERRBUF_LEN];

	if (!cfg->state_file[0])
		return 0;
	if (nat_ctl_state_load(cfg->state_file, &fw, &n, err, sizeof(err)) !=
	    0) {
		run_log("ERROR", "MAIN", "state file: %s", err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < cfg->n_forwards; j++) {
			const struct nat_forward_cfg *c = &cfg->forwards[j];
			if (strcmp(c->name, fw[i].name) != 0 &&
			    (c->proto != fw[i].proto ||
			     c->ext_port != fw[i].ext_port))
				continue;
			run_log("ERROR", "MAIN",
				"state file %s: forward \"%s\" %s/%u (added at "
				"run time) clashes with forward \"%s\" %s/%u "
				"(%s:%u): remove one of them (edit the config, "
				"or the state file while glassnat is stopped)",
				cfg->state_file, fw[i].name,
				nat_proto_name(fw[i].proto), fw[i].ext_port,
				c->name, nat_proto_name(c->proto), c->ext_port,
				cfg->path, c->line);
			free(fw);
			return -1;
		}
		if (nat_engine_forward_add(e, &fw[i], err, sizeof(err)) != 0) {
			run_log("ERROR", "MAIN", "state file %s: %s",
				cfg->state_file, err);
			free(fw);
			return -1;
		}
	}
	if (n)
		run_log("INFO", "MAIN",
			"Restored %zu runtime port forward(s) from %s", n,
			cfg->state_file);
	free(fw);
	return 0;
}

static const char *run_signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "interrupt";
	case SIGTERM:
		return "terminated";
	default:
		return "unknown";
	}
}

static void run_stat_line(void *ctx, const char *comp, bool warn,
			  const char *line)
{
	(void)ctx;
	run_log(warn ? "WARN" : "INFO", comp, "%s", line);
}

/* The final statistics: every counter of the registry (metrics.h),
 * Hyper-NAT's lines first; the same lines as the stats event's text and
 * `glassnat stats`. */
static void run_final_stats(const struct nat_metrics *m)
{
	run_log("INFO", "MAIN", "Final statistics:");
	nat_metrics_text(m, run_stat_line, NULL);
}

/* Runs the backend until a stop request or a failure, and reads its
 * and the control socket's counters into ctx->ob.more before they close.
 * Returns 0 after a stop, -1 after a failure (both logged; a failure
 * before ctx->started is logged as a failed start, once). */
static int run_backend(struct run_ctx *ctx)
{
	const struct nat_live_ops *be = ctx->be;
	char err[ERRBUF_LEN];
	struct nat_live_opts o = {
		.on_tick = run_tick,
		.on_start = run_start,
		.wake_fd = run_wake_fd,
		.on_wake = run_wake,
		.ctx = ctx,
		.verbose = ctx->cfg->logging.verbose,
		.log = log_line_stream("QUEUE"),
	};
	int lrc = -1;

	run_be = be;
	if (nat_plat_stop_signals(run_on_stop, run_on_hup) != 0)
		run_log("WARN", "MAIN", "cannot install the Ctrl+C handler");
	ctx->live = be->open(ctx->e, ctx->cfg, &o, err, sizeof(err));
	if (ctx->live) {
		run_live = ctx->live;
		if (run_stop) /* a signal while it was opening */
			be->request_stop(ctx->live);
		lrc = be->run(ctx->live, err, sizeof(err));
		run_live = NULL;
		if (lrc == 0)
			nat_notify_stopping(run_stop ? "Stopping on a signal"
						     : "Stopping");
	}
	struct nat_ctl_extra *more = &ctx->ob.more;
	more->n_backend = be->counters(ctx->live, more->backend,
				       NAT_LIVE_COUNTERS_MAX);
	if (ctx->ctl)
		nat_ctl_server_counters(ctx->ctl, &more->ctl_requests,
					more->ctl_errors);
	be->close(ctx->live);
	ctx->live = NULL;
	nat_obs_watch_close(&ctx->ob); /* its sink is the control server */
	nat_ctl_server_stop(ctx->ctl);
	ctx->ctl = NULL;
	more->metrics_scrapes = nat_metrics_http_scrapes(ctx->http);
	nat_metrics_http_stop(ctx->http);
	ctx->http = NULL;
	log_line_stream_close(o.log);
	if (lrc != 0) {
		if (ctx->started)
			run_log("ERROR", "ENGINE", "%s", err);
		else
			run_log("ERROR", "MAIN", "Start failed: %s%s", err,
				!nat_plat_is_admin() ? NAT_PLAT_ADMIN_HINT
						     : "");
		return -1;
	}
	run_log("INFO", "MAIN", "Received signal %s, shutting down...",
		run_signal_name(run_signo));
	return 0;
}

/* No -c: the installed config (NAT_PLAT_CONFIG_DEFAULT), when there is
 * one; else the usage error names both ways. */
static int run_default_config(struct app_obs_args *a)
{
	struct stat st;
	char msg[256];

	if (stat(NAT_PLAT_CONFIG_DEFAULT, &st) == 0) {
		a->config = NAT_PLAT_CONFIG_DEFAULT;
		return 0;
	}
	snprintf(msg, sizeof(msg),
		 "missing -c FILE (the config file), and the default "
		 "config " NAT_PLAT_CONFIG_DEFAULT ": %s",
		 strerror(errno));
	app_usage_error("run", msg);
	return -1;
}

/* Makes the control socket's directory (the default /run/glassnat/,
 * which systemd's RuntimeDirectory= makes for the service) when it is
 * missing: one level, mode 0755, its path into dir (else dir is "").
 * A failure shows up, named, when the socket or the host settings' file
 * beside it cannot be created. */
static void run_socket_dir(const char *sock, char *dir, size_t len)
{
	char *slash;
	struct stat st;

	snprintf(dir, len, "%s", sock);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (stat(dir, &st) != 0 && errno == ENOENT &&
		    mkdir(dir, 0755) == 0) {
			run_log("INFO", "CONTROL", "Created %s", dir);
			return;
		}
	}
	dir[0] = '\0';
}

int app_cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "trace-filter", required_argument, NULL, OPT_TRACE_FILTER },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ "no-fastpath", no_argument, NULL, OPT_NO_FASTPATH },
		{ NULL, 0, NULL, 0 },
	};
	struct app_obs_args a = { 0 };
	bool no_fastpath = false;
	struct nat_config cfg;
	char err[ERRBUF_LEN], ip[16], net[16];
	int c;

	while ((c = getopt_long(argc, argv, ":c:vh", longopts, NULL)) != -1) {
		if (app_obs_arg(&a, c, optarg))
			continue;
		switch (c) {
		case OPT_VERSION:
			printf("glassnat %s\n", GLASSNAT_VERSION);
			return EX_OK;
		case 'h':
			fputs(app_help_run, stdout);
			return EX_OK;
		case OPT_NO_FASTPATH:
			no_fastpath = true;
			break;
		default:
			return app_opt_fail("run", c, argv);
		}
	}
	if (optind < argc)
		return app_usage_error("run", "unexpected argument (run takes "
					      "only options)");
	if (!a.config && run_default_config(&a) != 0)
		return EX_USAGE;
	if (a.format && strcmp(a.format, "text") != 0 &&
	    strcmp(a.format, "json") != 0)
		return app_usage_error("run",
				       "--log-format must be text or json");

	if (app_load_config(a.config, &cfg) != 0)
		return EX_USAGE;
	int rc = EX_USAGE;
	if (a.trace) {
		if (!app_copy_opt(cfg.trace.dir, sizeof(cfg.trace.dir),
				  a.trace)) {
			fprintf(stderr,
				"glassnat run: --trace: path longer "
				"than %zu bytes\n",
				sizeof(cfg.trace.dir) - 1);
			goto out;
		}
		cfg.trace.enabled = true;
	}
	if (a.filter && !app_copy_opt(cfg.trace.filter,
				      sizeof(cfg.trace.filter), a.filter)) {
		fprintf(stderr,
			"glassnat run: --trace-filter: longer than "
			"%zu bytes\n",
			sizeof(cfg.trace.filter) - 1);
		goto out;
	}
	if (cfg.trace.filter[0] &&
	    app_check_bpf(cfg.trace.filter, err, sizeof(err)) != 0) {
		fprintf(stderr, "glassnat run: trace filter: %s\n", err);
		goto out;
	}
	if (a.events && !app_copy_opt(cfg.logging.events,
				      sizeof(cfg.logging.events), a.events)) {
		fprintf(stderr,
			"glassnat run: --events: path longer than "
			"%zu bytes\n",
			sizeof(cfg.logging.events) - 1);
		goto out;
	}
	if (a.format)
		cfg.logging.format = strcmp(a.format, "json") == 0
					     ? NAT_LOG_JSON
					     : NAT_LOG_TEXT;
	if (a.verbose)
		cfg.logging.verbose = true;
	if (no_fastpath)
		cfg.fastpath = NAT_FASTPATH_OFF;
	if (cfg.fastpath == NAT_FASTPATH_ON &&
	    strcmp(nat_plat_live_backend()->name, "nfqueue") != 0) {
		fprintf(stderr,
			"glassnat run: %s: fastpath: on: the kernel fast path "
			"(TC-BPF) is Linux only, and this is the Windows build "
			"(%s backend): set fastpath: auto or off\n",
			a.config, nat_plat_live_backend()->name);
		goto out;
	}

	rc = EX_RUNTIME;
	log_line_verbose(cfg.logging.verbose);
	nat_notify_init();
	run_log("INFO", "MAIN", "glassnat v%s starting...", GLASSNAT_VERSION);
	run_log("INFO", "MAIN", "Configuration loaded from %s", a.config);
	run_log("INFO", "MAIN", "NAT IP: %s", nat_ip_str(cfg.nat_ip, ip));
	run_log("INFO", "MAIN", "Internal Network: %s/%u",
		nat_ip_str(cfg.internal.addr, net), cfg.internal.len);
	run_log("INFO", "MAIN",
		"Rules: %zu, port forwards: %zu, port range: %u-%u",
		cfg.n_rules, cfg.n_forwards, cfg.port_range.lo,
		cfg.port_range.hi);
	/* Only port_range (plus forwards and ICMP) is queued inbound, so that
	 * the host's own services on the NAT address keep working; a mapped
	 * port outside it would never see its replies. */
	if (cfg.port_preservation &&
	    (cfg.port_range.lo > 1 || cfg.port_range.hi < 65535)) {
		cfg.port_preservation = false;
		run_log("INFO", "MAIN",
			"Live mode: external ports and ICMP ids come from "
			"port_range %u-%u only (port preservation off: replies "
			"to ports outside it are not queued)",
			cfg.port_range.lo, cfg.port_range.hi);
	}
	struct nat_engine *e = nat_engine_create(&cfg, err, sizeof(err));
	if (!e) {
		run_log("ERROR", "MAIN", "%s", err);
		goto out;
	}
	struct run_ctx ctx = {
		.e = e,
		.config_path = a.config,
		.cfg = &cfg,
		.live_no_preserve = cfg.port_range.lo > 1 ||
				    cfg.port_range.hi < 65535,
		.be = nat_plat_live_backend(),
	};
	ctx.ops = (struct nat_ctl_ops){
		.ctx = &ctx,
		.trace = run_trace,
		.reload = run_reload_config,
		.forwards_changed = run_forwards_changed,
		.extra = run_extra,
	};
	/* Events to a file are JSON lines (for jq and log pipelines) unless
	 * --log-format says otherwise; to stdout they follow the config. */
	struct nat_obs_opts oo = {
		.format = a.format ? (int)cfg.logging.format
			  : (cfg.logging.events[0] &&
			     strcmp(cfg.logging.events, "-") != 0)
				  ? NAT_LOG_JSON
				  : -1,
		.verbose = cfg.logging.verbose,
		.neigh = true,
		.on_error = run_obs_error,
	};
	if (nat_obs_open(&ctx.ob, e, &cfg, &oo, err, sizeof(err)) < 0) {
		run_log("ERROR", "MAIN", "%s", err);
		nat_engine_destroy(e);
		goto out;
	}
	if (ctx.ob.log)
		log_config_load(ctx.ob.log, app_wall_ns(), &cfg, NULL);
	/* From here the run's warnings are `log` events too. */
	log_line_mirror(ctx.ob.log, LOG_WARN);
	if (run_restore_state(e, &cfg) != 0) {
		log_line_mirror(NULL, LOG_WARN);
		nat_obs_close(&ctx.ob, app_wall_ns(), NULL);
		nat_engine_destroy(e);
		rc = EX_USAGE;
		goto out;
	}
	if (ctx.ob.trace)
		run_log("INFO", "MAIN", "Tracing to %s%s%s", cfg.trace.dir,
			cfg.trace.filter[0] ? ", filter: " : "",
			cfg.trace.filter);
	char made_dir[sizeof(cfg.control_socket)];
	run_socket_dir(cfg.control_socket, made_dir, sizeof(made_dir));
	if (run_backend(&ctx) == 0)
		rc = EX_OK;
	if (made_dir[0])
		rmdir(made_dir); /* what this run made; kept if not empty */
	struct nat_obs_counts oc;
	log_line_mirror(NULL, LOG_WARN);
	nat_obs_close(&ctx.ob, app_wall_ns(), &oc);
	if (!ctx.started) {
		/* Nothing ran: no statistics that would read like a run. */
		nat_engine_destroy(e);
		goto out;
	}
	run_log("INFO", "ENGINE", "Stopped");
	run_final_stats(&oc.final);
	run_log("INFO", "MAIN", "glassnat stopped");
	nat_engine_destroy(e);
out:
	nat_config_free(&cfg);
	return rc;
}
