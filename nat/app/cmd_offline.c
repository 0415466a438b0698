/* The offline commands: `replay` (a capture through the engine, as the
 * live gateway would translate it) and `check` (validate a config, print
 * the plan). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "platform.h"
#include "config.h"
#include "lint.h"
#include "neigh.h"
#include "engine.h"
#include "observe.h"
#include "replay.h"

/* ---- replay ---------------------------------------------------------- */

/* Offline, waiting is right and losing is not: every REPLAY_SYNC packets
 * the replay lets the trace and event writers catch up. */
#define REPLAY_SYNC 256

struct replay_obs {
	struct nat_observers ob;
	unsigned n;
};

static void replay_after_packet(void *ctx, uint64_t ts_ns)
{
	struct replay_obs *ro = ctx;
	nat_obs_poll(&ro->ob, ts_ns);
	if (++ro->n % REPLAY_SYNC == 0)
		nat_obs_sync(&ro->ob);
}

static void print_obs_counts(FILE *out, const struct nat_obs_counts *c,
			     const char *trace_dir, const char *events)
{
	if (c->traced)
		fprintf(out,
			"  trace                 %10llu packets to %s"
			" (%llu lost: queue full, %llu lost: write errors)\n",
			(unsigned long long)c->trace_written, trace_dir,
			(unsigned long long)c->trace_lost,
			(unsigned long long)c->trace_failed);
	if (c->logged)
		fprintf(out,
			"  events                %10llu records to %s"
			" (%llu lost, %llu events rate-limited)\n",
			(unsigned long long)c->log_written, events,
			(unsigned long long)c->log_lost,
			(unsigned long long)c->log_suppressed);
}

/* A trace or events write failed: said at once, on stderr. */
static void replay_on_error(void *ctx, const char *component, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "glassnat replay: error: %s: %s\n",
		strcmp(component, "TRACE") == 0 ? "trace" : "events", msg);
}

/* Offline nothing may be lost: any trace packet or event not written
 * fails the run. Prints the one line that says what was lost (the last
 * line of the output) and returns true when something was. */
static bool replay_report_loss(const struct nat_obs_counts *c)
{
	uint64_t trace = c->trace_lost + c->trace_failed;
	if (trace == 0 && c->log_lost == 0)
		return false;
	fprintf(stderr,
		"glassnat replay: data lost: %llu trace packets (%llu write "
		"errors, %llu queue full), %llu events (%llu write errors)\n",
		(unsigned long long)trace,
		(unsigned long long)c->trace_failed,
		(unsigned long long)c->trace_lost,
		(unsigned long long)c->log_lost,
		(unsigned long long)c->log_failed);
	return true;
}

int app_cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "trace-filter", required_argument, NULL, OPT_TRACE_FILTER },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct app_obs_args a = { 0 };
	const char *out = NULL, *in = NULL;
	bool quiet = false;
	struct nat_config cfg;
	struct nat_engine *e;
	struct nat_replay_opts o;
	struct nat_replay_result res;
	struct replay_obs ro;
	struct nat_obs_opts oo;
	struct nat_obs_counts counts;
	char err[ERRBUF_LEN];
	int c, rc;

	while ((c = getopt_long(argc, argv, ":c:o:vqh", longopts, NULL)) !=
	       -1) {
		if (app_obs_arg(&a, c, optarg))
			continue;
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(app_help_replay, stdout);
			return EX_OK;
		default:
			return app_opt_fail("replay", c, argv);
		}
	}
	if (optind == argc)
		return app_usage_error("replay",
				       "missing the input capture IN");
	if (argc - optind > 1)
		return app_usage_error("replay", "more than one input capture");
	in = argv[optind];
	if (!a.config)
		return app_usage_error("replay",
				       "missing -c FILE (the config file)");
	if (!out)
		return app_usage_error(
			"replay", "missing -o OUT.pcapng (the output file)");
	if (a.format && strcmp(a.format, "text") != 0 &&
	    strcmp(a.format, "json") != 0)
		return app_usage_error("replay",
				       "--log-format takes text or json");
	if (a.filter && !a.trace)
		return app_usage_error("replay",
				       "--trace-filter needs --trace DIR");

	if (app_load_config(a.config, &cfg) != 0)
		return EX_USAGE;
	e = nat_engine_create(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "glassnat replay: %s\n", err);
		nat_config_free(&cfg);
		return EX_RUNTIME;
	}
	memset(&oo, 0, sizeof(oo));
	oo.events = a.events;
	oo.trace_dir = a.trace;
	oo.trace_filter = a.filter;
	oo.verbose = a.verbose;
	oo.on_error = replay_on_error;
	/* A file of events is for jq and log pipelines: JSON unless asked
	 * otherwise; stdout is for people: the config's format. */
	oo.format = a.format ? (strcmp(a.format, "json") == 0 ? NAT_LOG_JSON
							      : NAT_LOG_TEXT)
		    : a.events && strcmp(a.events, "-") != 0 ? NAT_LOG_JSON
							     : -1;
	memset(&ro, 0, sizeof(ro));
	if (nat_obs_open(&ro.ob, e, &cfg, &oo, err, sizeof(err)) < 0) {
		fprintf(stderr, "glassnat replay: %s\n", err);
		nat_engine_destroy(e);
		nat_config_free(&cfg);
		return strstr(err, "filter") ? EX_USAGE : EX_RUNTIME;
	}
	if (ro.ob.log)
		log_config_load(ro.ob.log, app_wall_ns(), &cfg, NULL);
	nat_config_free(&cfg);

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.in_path = in;
	o.out_path = out;
	o.after_packet = replay_after_packet;
	o.ctx = &ro;
	rc = nat_replay_run(e, &o, &res, err, sizeof(err));
	nat_obs_close(&ro.ob, 0, &counts);
	if (!quiet) {
		nat_replay_print_summary(stdout, &o, &res, nat_engine_stats(e));
		print_obs_counts(stdout, &counts, a.trace, a.events);
	}
	fflush(stdout);
	if (rc != 0)
		fprintf(stderr, "glassnat replay: %s\n", err);
	bool lost = replay_report_loss(&counts);
	nat_engine_destroy(e);
	return rc == 0 && !lost ? EX_OK : EX_RUNTIME;
}

/* ---- check ----------------------------------------------------------- */

static void check_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "glassnat check: warning: %s\n", msg);
}

int app_cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	struct nat_config cfg;
	int c;

	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			fputs(app_help_check, stdout);
			return EX_OK;
		default:
			return app_opt_fail("check", c, argv);
		}
	}
	/* `glassnat check FILE` is accepted as a convenience. */
	if (!config && argc - optind == 1)
		config = argv[optind++];
	if (optind < argc)
		return app_usage_error("check", "unexpected argument");
	if (!config) /* the installed one (glassnat.yaml(5)) */
		config = NAT_PLAT_CONFIG_DEFAULT;
	if (app_load_config(config, &cfg) != 0)
		return EX_USAGE;
	nat_config_print_plan(stdout, &cfg, nat_engine_memory(&cfg));
	/* Run on the gateway (the host that has nat_ip), say what `run`
	 * would refuse; elsewhere the host's addresses say nothing. */
	if (nat_plat_addr_is_local(cfg.nat_ip) == 1) {
		struct nat_lint_host host;
		nat_host_lint_facts(&cfg, &host);
		nat_config_lint_addrs(&cfg, nat_plat_addr_is_local, NULL,
				      check_warn, NULL);
		nat_config_lint(&cfg, &host, check_warn, NULL);
	} else {
		nat_config_lint(&cfg, NULL, check_warn, NULL);
	}
	nat_config_free(&cfg);
	return fflush(stdout) == 0 ? EX_OK : EX_RUNTIME;
}
