/* `glassnat run`: the live gateway. Loads the config, applies the command
 * line's overrides, restores the state file's forwards, opens the
 * observers, runs the platform's live backend (live.h) with the control
 * socket's callbacks (trace, reload, forwards, counters), and prints the
 * final statistics. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "config.h"
#include "control.h"
#include "engine.h"
#include "live.h"
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

/* One line of Hyper-NAT's text log: "[time] [LEVEL] [COMPONENT] message". */
static void run_log(const char *level, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void run_log(const char *level, const char *comp, const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "[%s] [%s] [%s] ", when, level, comp);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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
};

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
	run_log("INFO", "TRACE", "Tracing on to %s%s%s", rc->cfg->trace.dir,
		bpf[0] ? ", filter: " : "", bpf);
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

/* The value of the backend counter called name; 0 when it has none. */
static uint64_t run_counter(const struct nat_live_counter *c, size_t n,
			    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].name, name) == 0)
			return c[i].value;
	return 0;
}

static void run_extra(void *ctx, struct nat_ctl_extra *x)
{
	struct run_ctx *rc = ctx;
	if (rc->ob.trace) {
		x->traced = true;
		x->trace_on = trace_enabled(rc->ob.trace);
		x->trace_written = trace_written(rc->ob.trace);
		x->trace_lost = trace_lost(rc->ob.trace);
		x->trace_failed = trace_failed(rc->ob.trace);
	}
	if (rc->ob.log) {
		x->logged = true;
		x->log_written = log_written(rc->ob.log);
		x->log_lost = log_lost(rc->ob.log);
		x->log_failed = log_failed(rc->ob.log);
		x->table_full_suppressed =
			log_suppressed_event(rc->ob.log, NAT_EV_TABLE_FULL);
		x->port_exhausted_suppressed = log_suppressed_event(
			rc->ob.log, NAT_EV_PORT_EXHAUSTED);
	}
	if (rc->ctl)
		nat_ctl_server_counters(rc->ctl, &x->ctl_requests,
					x->ctl_errors);
	if (rc->live) {
		struct nat_live_counter c[NAT_LIVE_COUNTERS_MAX];
		size_t n = rc->be->counters(rc->live, c, NAT_LIVE_COUNTERS_MAX);
		x->queue_enobufs = run_counter(c, n, "enobufs");
		x->queue_verdict_errors = run_counter(c, n, "verdict_errors");
	}
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
	run_log("INFO", "CONTROL",
		"Control socket %s (" NAT_PLAT_CTL_ACCESS ")",
		rc->cfg->control_socket);
	rc->started = true;
	run_log("INFO", "ENGINE", "Started");
	return 0;
}

/* nat_live_opts.on_tick: every ~100 ms on the engine thread. */
static void run_tick(void *ctx, uint64_t now_ns)
{
	struct run_ctx *rc = ctx;
	nat_obs_poll(&rc->ob, now_ns);
	if (rc->ctl)
		nat_ctl_server_drain(rc->ctl, rc->e, &rc->ops);
	if (run_reload) {
		char changes[1024], err[ERRBUF_LEN];
		run_reload = 0;
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

/* The backend's counters, a line per counter line: "label: value"
 * joined by ", ", a qualifier as " (label value)"; WARN when a counter
 * that means loss is not zero. */
static void run_backend_stats(const struct nat_live_counter *c, size_t n)
{
	for (size_t i = 0; i < n;) {
		char line[512];
		size_t used = 0;
		bool loss = false;
		unsigned ln = c[i].line;

		line[0] = '\0';
		for (size_t first = i; i < n && c[i].line == ln; i++) {
			const char *sep = i == first ? "" : ", ";
			unsigned long long v = (unsigned long long)c[i].value;
			int w = c[i].flags & NAT_LIVE_C_QUALIF
					? snprintf(line + used,
						   sizeof(line) - used,
						   " (%s %llu)", c[i].label, v)
					: snprintf(line + used,
						   sizeof(line) - used,
						   "%s%s: %llu", sep,
						   c[i].label, v);
			if (w > 0 && (size_t)w < sizeof(line) - used)
				used += (size_t)w;
			if ((c[i].flags & NAT_LIVE_C_LOSS) && c[i].value)
				loss = true;
		}
		run_log(loss ? "WARN" : "INFO", "QUEUE", "  %s", line);
	}
}

/* The final statistics, in Hyper-NAT's form and then glassnat's own
 * counters (reasons, backend). active = flows alive before the flush. */
static void run_final_stats(const struct nat_stats *s, uint64_t active,
			    const struct nat_live_counter *lc, size_t nlc)
{
	run_log("INFO", "MAIN", "Final statistics:");
	run_log("INFO", "MAIN", "  Packets processed: %llu",
		(unsigned long long)s->packets);
	run_log("INFO", "MAIN", "  Packets NATted: %llu",
		(unsigned long long)s->natted);
	run_log("INFO", "MAIN", "  Packets bypassed: %llu",
		(unsigned long long)s->bypassed);
	run_log("INFO", "MAIN", "  Packets passed: %llu",
		(unsigned long long)s->passed);
	run_log("INFO", "MAIN", "  Packets dropped: %llu",
		(unsigned long long)s->dropped);
	run_log("INFO", "MAIN", "  Active connections: %llu",
		(unsigned long long)active);
	run_log("INFO", "MAIN", "  Total connections: %llu",
		(unsigned long long)s->flows_total);
	for (int r = 1; r < NAT_R_MAX; r++)
		if (s->by_reason[r])
			run_log("INFO", "MAIN", "  Passed/dropped %s: %llu",
				nat_reason_name((enum nat_reason)r),
				(unsigned long long)s->by_reason[r]);
	run_log("INFO", "MAIN", "  Hairpinned: %llu",
		(unsigned long long)s->hairpinned);
	run_backend_stats(lc, nlc);
}

/* Runs the backend until a stop request or a failure, and reads its
 * counters into lc[NAT_LIVE_COUNTERS_MAX] (*nlc of them) before it closes.
 * Returns 0 after a stop, -1 after a failure (both logged; a failure
 * before ctx->started is logged as a failed start, once). */
static int run_backend(struct run_ctx *ctx, struct nat_live_counter *lc,
		       size_t *nlc)
{
	const struct nat_live_ops *be = ctx->be;
	char err[ERRBUF_LEN];
	struct nat_live_opts o = {
		.on_tick = run_tick,
		.on_start = run_start,
		.ctx = ctx,
		.verbose = ctx->cfg->logging.verbose,
		.log = stderr,
	};
	int lrc = -1;

	run_be = be;
	if (nat_plat_stop_signals(run_on_stop, run_on_hup) != 0)
		fprintf(stderr, "glassnat run: cannot install the Ctrl+C "
				"handler\n");
	ctx->live = be->open(ctx->e, ctx->cfg, &o, err, sizeof(err));
	if (ctx->live) {
		run_live = ctx->live;
		if (run_stop) /* a signal while it was opening */
			be->request_stop(ctx->live);
		lrc = be->run(ctx->live, err, sizeof(err));
		run_live = NULL;
	}
	*nlc = be->counters(ctx->live, lc, NAT_LIVE_COUNTERS_MAX);
	be->close(ctx->live);
	ctx->live = NULL;
	nat_ctl_server_stop(ctx->ctl);
	ctx->ctl = NULL;
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
		{ NULL, 0, NULL, 0 },
	};
	struct app_obs_args a = { 0 };
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
		default:
			return app_opt_fail("run", c, argv);
		}
	}
	if (optind < argc)
		return app_usage_error("run", "unexpected argument (run takes "
					      "only options)");
	if (!a.config)
		return app_usage_error("run",
				       "missing -c FILE (the config file)");
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

	rc = EX_RUNTIME;
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
		.on_error = run_obs_error,
	};
	if (nat_obs_open(&ctx.ob, e, &cfg, &oo, err, sizeof(err)) < 0) {
		run_log("ERROR", "MAIN", "%s", err);
		nat_engine_destroy(e);
		goto out;
	}
	if (ctx.ob.log)
		log_config_load(ctx.ob.log, app_wall_ns(), &cfg, NULL);
	if (run_restore_state(e, &cfg) != 0) {
		nat_obs_close(&ctx.ob, app_wall_ns(), NULL);
		nat_engine_destroy(e);
		rc = EX_USAGE;
		goto out;
	}
	if (ctx.ob.trace)
		run_log("INFO", "MAIN", "Tracing to %s%s%s", cfg.trace.dir,
			cfg.trace.filter[0] ? ", filter: " : "",
			cfg.trace.filter);
	struct nat_live_counter lc[NAT_LIVE_COUNTERS_MAX];
	size_t nlc;
	if (run_backend(&ctx, lc, &nlc) == 0)
		rc = EX_OK;
	const struct nat_stats *s = nat_engine_stats(e);
	uint64_t active = s->flows_active;
	struct nat_obs_counts oc;
	nat_obs_close(&ctx.ob, app_wall_ns(), &oc);
	if (!ctx.started) {
		/* Nothing ran: no statistics that would read like a run. */
		nat_engine_destroy(e);
		goto out;
	}
	run_log("INFO", "ENGINE", "Stopped");
	run_final_stats(s, active, lc, nlc);
	if (oc.traced)
		run_log(oc.trace_lost || oc.trace_failed ? "WARN" : "INFO",
			"TRACE",
			"  Trace: %llu packets written, %llu lost (queue "
			"full), %llu lost (write errors)",
			(unsigned long long)oc.trace_written,
			(unsigned long long)oc.trace_lost,
			(unsigned long long)oc.trace_failed);
	if (oc.logged)
		run_log(oc.log_lost ? "WARN" : "INFO", "LOG",
			"  Events: %llu written, %llu lost, %llu drop events "
			"rate-limited",
			(unsigned long long)oc.log_written,
			(unsigned long long)oc.log_lost,
			(unsigned long long)oc.log_suppressed);
	run_log("INFO", "MAIN", "glassnat stopped");
	nat_engine_destroy(e);
out:
	nat_config_free(&cfg);
	return rc;
}
