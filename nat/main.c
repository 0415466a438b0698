/* The `glassnat` command line: option parsing, help texts and the glue
 * from commands to the engine, the replay backend and (later) the control
 * socket.
 *
 * Exit status, for every command: 0 ok, 1 runtime failure, 2 usage or
 * config error. This is the only file of the program that calls exit
 * (through main's return). Hyper-NAT's single-dash spellings (-config,
 * -verbose, -version) are rewritten to their long forms before getopt
 * sees them. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "config.h"
#include "engine.h"
#include "nfqueue.h"
#include "observe.h"
#include "packet.h"
#include "replay.h"

#ifndef GLASSNAT_VERSION
#define GLASSNAT_VERSION "0.1.0"
#endif

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2 };

#define ERRBUF_LEN 512

/* Long options without a short form get values above any char. */
enum {
	OPT_TRACE = 256,
	OPT_TRACE_FILTER,
	OPT_EVENTS,
	OPT_LOG_FORMAT,
	OPT_VERSION,
	OPT_NAME,
	OPT_SOCKET,
	OPT_JSON,
};

/* ---- help texts ------------------------------------------------------ */

/* Laid out as they print; clang-format would split the lines. */
/* clang-format off */

static const char help_main[] =
	"usage: glassnat [COMMAND] [OPTIONS]\n"
	"\n"
	"glassnat is a user-space IPv4 NAT gateway that records how every\n"
	"packet was translated and why.\n"
	"\n"
	"commands:\n"
	"  run       run the live gateway (the default command)\n"
	"  replay    translate a capture file offline, write the result\n"
	"  check     validate a config file and print the plan\n"
	"  forward   list, add or remove port forwards (control socket)\n"
	"  flows     list the live flows (control socket)\n"
	"  stats     print the live counters (control socket)\n"
	"  trace     turn packet tracing on or off (control socket)\n"
	"  version   print the version\n"
	"\n"
	"options without a command are those of `run`:\n"
	"  -c, --config FILE   the config file (Hyper-NAT: -config FILE)\n"
	"  -v, --verbose       DEBUG lines in the text log (Hyper-NAT: -verbose)\n"
	"      --version       print the version (Hyper-NAT: -version)\n"
	"  -h, --help          this text; `glassnat COMMAND --help` for a command\n"
	"  (`glassnat run --help` lists run's trace and event options)\n"
	"\n"
	"exit status: 0 ok, 1 runtime failure, 2 usage or config error.\n"
	"\n"
	"examples:\n"
	"  glassnat check -c configs/hyper-nat.yaml\n"
	"  glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng\n"
	"  glassnat -config configs/hyper-nat.yaml -verbose\n";

static const char help_run[] =
	"usage: glassnat run -c FILE [--trace DIR] [--trace-filter BPF]\n"
	"                    [--events FILE|-] [--log-format text|json] [-v]\n"
	"\n"
	"Runs the live gateway (the default command: `glassnat -c FILE` is the\n"
	"same). The config is loaded and validated first; the command line\n"
	"overrides the config's trace and logging settings.\n"
	"\n"
	"Needs root (CAP_NET_ADMIN). At start glassnat binds nfnetlink queue\n"
	"0 and installs its iptables chains GLASSNAT-RAW (raw), GLASSNAT-IN\n"
	"and GLASSNAT-OUT (mangle); Ctrl+C or SIGTERM removes them and prints\n"
	"the final statistics. After a crash the chains stay and drop what\n"
	"they queue (fail closed) until the next start removes them.\n"
	"See docs/troubleshooting.md.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE        the config file (required; Hyper-NAT's\n"
	"                           -config FILE is accepted)\n"
	"      --trace DIR          write before/after pcapng ring files into DIR\n"
	"                           (overrides trace.dir, turns tracing on)\n"
	"      --trace-filter BPF   trace only flows matching BPF (libpcap\n"
	"                           syntax, checked at start)\n"
	"      --events FILE|-      write the flows' events to FILE (JSON lines\n"
	"                           unless --log-format text; reopened on\n"
	"                           SIGHUP for logrotate) or - (stdout, text\n"
	"                           unless --log-format json)\n"
	"      --log-format text|json\n"
	"                           the events' format\n"
	"  -v, --verbose            DEBUG lines in the text log (Hyper-NAT:\n"
	"                           -verbose)\n"
	"  -h, --help               this text\n"
	"\n"
	"examples:\n"
	"  glassnat run -c /etc/glassnat.yaml --events - --log-format json\n"
	"  glassnat run -c gw.yaml --trace /var/lib/glassnat/trace \\\n"
	"      --trace-filter 'host 172.17.240.21 and tcp port 443'\n"
	"  glassnat -config configs/hyper-nat.yaml -verbose\n";

static const char help_replay[] =
	"usage: glassnat replay -c FILE IN.pcap[ng] -o OUT.pcapng\n"
	"                       [--trace DIR] [--trace-filter BPF]\n"
	"                       [--events FILE|-] [--log-format text|json]\n"
	"                       [-v] [-q]\n"
	"\n"
	"Translates the capture IN offline through the engine, as the live\n"
	"gateway would, and writes every packet that was not dropped, after\n"
	"translation, to OUT (pcapng). Each written packet carries a comment\n"
	"\"flow=ID dir=in|out verdict=V rule=NAME\" (frame.comment in\n"
	"Wireshark). A packet's direction comes from the pcapng direction flag,\n"
	"else the interface name (inside/outside), else its addresses; its\n"
	"capture time drives the timeouts. A summary is printed on stdout.\n"
	"With --trace and --events the run tells the same story a live\n"
	"gateway would: offline, the writers are waited for, so nothing is\n"
	"lost. Flows still open at the end of IN are closed (reason\n"
	"shutdown).\n"
	"\n"
	"options:\n"
	"  -c, --config FILE    the config file (required)\n"
	"  -o, --output OUT     the output pcapng file (required)\n"
	"      --trace DIR      write every selected packet before and after\n"
	"                       translation into zstd pcapng ring files in DIR\n"
	"                       (natdump and Wireshark read them)\n"
	"      --trace-filter BPF\n"
	"                       trace only flows matching BPF (libpcap syntax,\n"
	"                       either side of the translation, sticky per flow)\n"
	"      --events FILE|-  write the flows' events to FILE (JSON lines\n"
	"                       unless --log-format text) or - (stdout, text\n"
	"                       unless --log-format json)\n"
	"      --log-format text|json\n"
	"                       the events' format\n"
	"  -v, --verbose        DEBUG lines (state changes, bypasses) in text\n"
	"  -q, --quiet          do not print the summary\n"
	"  -h, --help           this text\n"
	"\n"
	"examples:\n"
	"  glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng\n"
	"  tshark -r out.pcapng -T fields -e ip.src -e ip.dst -e frame.comment\n"
	"  glassnat replay -c gw.yaml in.pcap -o out.pcapng --trace tr \\\n"
	"      --events ev.json && jq 'select(.flow==3)' ev.json\n";

static const char help_check[] =
	"usage: glassnat check -c FILE\n"
	"\n"
	"Loads and validates FILE and prints the compiled plan: addresses,\n"
	"rules in the order they match, port forwards, port range, filtering,\n"
	"timeouts, limits, policies, trace and logging settings, and the memory\n"
	"the engine reserves for it. On an error, prints FILE:LINE:COLUMN and\n"
	"what is wrong, and exits 2.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   the config file (required; -config FILE too)\n"
	"  -h, --help          this text\n"
	"\n"
	"example:\n"
	"  glassnat check -c configs/hyper-nat.yaml\n";

#define CONTROL_OPTIONS                                                      \
	"  -s, --socket PATH   the control socket (default: control_socket of\n" \
	"                      the config given with -c, else\n"                \
	"                      /run/glassnat.sock)\n"                           \
	"  -c, --config FILE   take the control socket path from FILE\n"        \
	"      --json          print the answer as JSON\n"                      \
	"  -h, --help          this text\n"

#define CONTROL_NOTE                                                         \
	"note: the control socket is not in this build yet; the command checks\n" \
	"its arguments and then fails (exit 1).\n"

static const char help_forward[] =
	"usage: glassnat forward list [OPTIONS]\n"
	"       glassnat forward add PROTO/EXT_PORT:INT_IP[:INT_PORT] [--name N]\n"
	"       glassnat forward remove EXT_PORT | --name N   [OPTIONS]\n"
	"\n"
	"Lists, adds or removes port forwards (DNAT) in the running gateway,\n"
	"over its control socket. PROTO is tcp or udp; INT_PORT defaults to\n"
	"EXT_PORT. Forwards added here last until the gateway stops.\n"
	"\n"
	"options:\n"
	"  -n, --name N        the forward's name (add), or the forward to\n"
	"                      remove by name (remove)\n" CONTROL_OPTIONS
	"\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat forward list\n"
	"  glassnat forward add tcp/8080:172.17.240.21:80 --name web\n"
	"  glassnat forward remove 8080\n"
	"  glassnat forward remove --name web\n";

static const char help_flows[] =
	"usage: glassnat flows [OPTIONS]\n"
	"\n"
	"Lists the running gateway's flows: id, protocol, inside, mapped and\n"
	"remote address:port, TCP state, rule, packets and bytes each way.\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat flows --json | jq 'select(.inside | startswith(\"172.17.240.21\"))'\n";

static const char help_stats[] =
	"usage: glassnat stats [OPTIONS]\n"
	"\n"
	"Prints the running gateway's counters: packets, translated, bypassed,\n"
	"passed and dropped by reason, flows, trace and log losses.\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat stats -s /run/glassnat.sock\n";

static const char help_trace[] =
	"usage: glassnat trace on [BPF] [OPTIONS]\n"
	"       glassnat trace off [OPTIONS]\n"
	"\n"
	"Turns before/after packet tracing on (optionally only for flows\n"
	"matching BPF, libpcap syntax, checked here) or off in the running\n"
	"gateway. Traces go to the config's trace.dir.\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat trace on 'host 172.17.240.21 and udp port 53'\n"
	"  glassnat trace off\n";

static const char help_version[] =
	"usage: glassnat version   (or glassnat --version, glassnat -version)\n"
	"\n"
	"Prints the version and the backends in this build.\n"
	"\n"
	"options:\n"
	"  -h, --help   this text\n"
	"\n"
	"example:\n"
	"  glassnat version\n";

/* clang-format on */

/* ---- small helpers --------------------------------------------------- */

/* Reports a getopt failure (optstring starts with ':'). */
static int opt_fail(const char *cmd, int c, char **argv)
{
	char name[64];
	const char *arg = argv[optind - 1];

	if (optopt > 0 && optopt < 128 && arg[0] == '-' && arg[1] != '-')
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="),
			 arg);
	if (c == ':')
		fprintf(stderr, "glassnat %s: option '%s' needs an argument\n",
			cmd, name);
	else
		fprintf(stderr, "glassnat %s: unknown option '%s'\n", cmd,
			name);
	fprintf(stderr, "try 'glassnat %s --help'\n", cmd);
	return EX_USAGE;
}

static int usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "glassnat %s: %s\n", cmd, what);
	fprintf(stderr, "try 'glassnat %s --help'\n", cmd);
	return EX_USAGE;
}

static bool copy_opt(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* Compiles a BPF expression for raw IPv4 to check its syntax. */
static int check_bpf(const char *expr, char *errbuf, size_t errlen)
{
	struct bpf_program prog;
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
	int rc;

	if (!p) {
		snprintf(errbuf, errlen, "cannot set up the BPF compiler");
		return -1;
	}
	rc = pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN);
	if (rc != 0)
		snprintf(errbuf, errlen, "BPF '%s': %s", expr, pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	return rc == 0 ? 0 : -1;
}

/* Loads a config; on failure prints the loader's message as is (it names
 * FILE:LINE:COLUMN) and returns -1. */
static int load_config(const char *path, struct nat_config *cfg)
{
	char err[ERRBUF_LEN];

	if (nat_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

/* ---- run ------------------------------------------------------------- */

/* Set by the signal handlers, read by the live loop and run_tick. */
static volatile sig_atomic_t run_stop, run_reload, run_signo;

static void run_on_signal(int sig)
{
	if (sig == SIGHUP) {
		run_reload = 1;
		return;
	}
	run_signo = sig;
	run_stop = 1;
}

/* No SA_RESTART: a signal interrupts the queue read at once. */
static void run_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = run_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* One line of Hyper-NAT's text log: "[time] [LEVEL] [COMPONENT] message".
 * TODO(lead): route through logging/ (log_text) once it is wired, so the
 * text and JSON forms come from the same place. */
static void run_log(const char *level, const char *comp, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
static void run_log(const char *level, const char *comp, const char *fmt,
		    ...)
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

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct run_ctx {
	struct nat_engine *e;
	struct nat_observers ob;
};

/* nat_live_opts.on_tick: every ~100 ms on the engine thread. */
static void run_tick(void *ctx, uint64_t now_ns)
{
	struct run_ctx *rc = ctx;
	nat_obs_poll(&rc->ob, now_ns);
	if (run_reload) {
		run_reload = 0;
		/* SIGHUP: logrotate moved the events file away. */
		if (rc->ob.log)
			log_reopen(rc->ob.log);
		run_log("INFO", "MAIN",
			"SIGHUP: events file reopened; reloading the config "
			"is not supported yet: restart glassnat to apply "
			"config changes");
	}
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

/* The final statistics, in Hyper-NAT's form and then glassnat's own
 * counters (reasons, queue). active = flows alive before the flush. */
static void run_final_stats(const struct nat_stats *s, uint64_t active,
			    const struct nat_live_stats *ls)
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
	run_log("INFO", "QUEUE",
		"  Batches: %llu (largest %llu), GSO packets: %llu, "
		"checksums computed in full: %llu",
		(unsigned long long)ls->batches,
		(unsigned long long)ls->max_batch, (unsigned long long)ls->gso,
		(unsigned long long)ls->csum_full);
	run_log(ls->enobufs || ls->queue_dropped || ls->user_dropped ? "WARN"
								      : "INFO",
		"QUEUE",
		"  Queue overflow: %llu, not delivered (socket full): %llu, "
		"ENOBUFS: %llu, verdict errors: %llu, truncated: %llu",
		(unsigned long long)ls->queue_dropped,
		(unsigned long long)ls->user_dropped,
		(unsigned long long)ls->enobufs,
		(unsigned long long)ls->verdict_errors,
		(unsigned long long)ls->truncated);
}

static int cmd_run(int argc, char **argv)
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
	const char *config = NULL, *trace = NULL, *filter = NULL;
	const char *events = NULL, *format = NULL;
	bool verbose = false;
	struct nat_config cfg;
	char err[ERRBUF_LEN], ip[16], net[16];
	int c;

	while ((c = getopt_long(argc, argv, ":c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case OPT_TRACE:
			trace = optarg;
			break;
		case OPT_TRACE_FILTER:
			filter = optarg;
			break;
		case OPT_EVENTS:
			events = optarg;
			break;
		case OPT_LOG_FORMAT:
			format = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_VERSION:
			printf("glassnat %s\n", GLASSNAT_VERSION);
			return EX_OK;
		case 'h':
			fputs(help_run, stdout);
			return EX_OK;
		default:
			return opt_fail("run", c, argv);
		}
	}
	if (optind < argc)
		return usage_error("run", "unexpected argument (run takes "
					  "only options)");
	if (!config)
		return usage_error("run", "missing -c FILE (the config file)");
	if (format && strcmp(format, "text") != 0 &&
	    strcmp(format, "json") != 0)
		return usage_error("run", "--log-format must be text or json");

	if (load_config(config, &cfg) != 0)
		return EX_USAGE;
	int rc = EX_USAGE;
	if (trace) {
		if (!copy_opt(cfg.trace.dir, sizeof(cfg.trace.dir), trace)) {
			fprintf(stderr,
				"glassnat run: --trace: path longer "
				"than %zu bytes\n",
				sizeof(cfg.trace.dir) - 1);
			goto out;
		}
		cfg.trace.enabled = true;
	}
	if (filter &&
	    !copy_opt(cfg.trace.filter, sizeof(cfg.trace.filter), filter)) {
		fprintf(stderr,
			"glassnat run: --trace-filter: longer than "
			"%zu bytes\n",
			sizeof(cfg.trace.filter) - 1);
		goto out;
	}
	if (cfg.trace.filter[0] &&
	    check_bpf(cfg.trace.filter, err, sizeof(err)) != 0) {
		fprintf(stderr, "glassnat run: trace filter: %s\n", err);
		goto out;
	}
	if (events &&
	    !copy_opt(cfg.logging.events, sizeof(cfg.logging.events), events)) {
		fprintf(stderr,
			"glassnat run: --events: path longer than "
			"%zu bytes\n",
			sizeof(cfg.logging.events) - 1);
		goto out;
	}
	if (format)
		cfg.logging.format = strcmp(format, "json") == 0 ? NAT_LOG_JSON
								 : NAT_LOG_TEXT;
	if (verbose)
		cfg.logging.verbose = true;

	rc = EX_RUNTIME;
	run_log("INFO", "MAIN", "glassnat v%s starting...", GLASSNAT_VERSION);
	run_log("INFO", "MAIN", "Configuration loaded from %s", config);
	run_log("INFO", "MAIN", "NAT IP: %s", nat_ip_str(cfg.nat_ip, ip));
	run_log("INFO", "MAIN", "Internal Network: %s/%u",
		nat_ip_str(cfg.internal.addr, net), cfg.internal.len);
	run_log("INFO", "MAIN",
		"Rules: %zu, port forwards: %zu, port range: %u-%u", cfg.n_rules,
		cfg.n_forwards, cfg.port_range.lo, cfg.port_range.hi);
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
	struct run_ctx ctx = { .e = e };
	/* Events to a file are JSON lines (for jq and log pipelines) unless
	 * --log-format says otherwise; to stdout they follow the config. */
	struct nat_obs_opts oo = {
		.format = format ? (int)cfg.logging.format
			  : (cfg.logging.events[0] &&
			     strcmp(cfg.logging.events, "-") != 0)
				  ? NAT_LOG_JSON
				  : -1,
		.verbose = cfg.logging.verbose,
	};
	if (nat_obs_open(&ctx.ob, e, &cfg, &oo, err, sizeof(err)) < 0) {
		run_log("ERROR", "MAIN", "%s", err);
		nat_engine_destroy(e);
		goto out;
	}
	if (ctx.ob.log)
		log_config_load(ctx.ob.log, wall_ns(), &cfg, NULL);
	if (ctx.ob.trace)
		run_log("INFO", "MAIN", "Tracing to %s%s%s", cfg.trace.dir,
			cfg.trace.filter[0] ? ", filter: " : "",
			cfg.trace.filter);
	struct nat_live_opts o = {
		.stop = &run_stop,
		.reload = &run_reload,
		.on_tick = run_tick,
		.ctx = &ctx,
		.queue_num = 0,
		.verbose = cfg.logging.verbose,
		.log = stderr,
	};
	struct nat_live_stats ls;
	run_signals();
	run_log("INFO", "ENGINE", "Started");
	int lrc = nat_nfqueue_run(e, &cfg, &o, &ls, err, sizeof(err));
	if (lrc != 0) {
		run_log("ERROR", "ENGINE", "%s%s", err,
			geteuid() != 0 ? " (glassnat run needs root)" : "");
	} else {
		run_log("INFO", "MAIN", "Received signal %s, shutting down...",
			run_signal_name(run_signo));
		rc = EX_OK;
	}
	const struct nat_stats *s = nat_engine_stats(e);
	uint64_t active = s->flows_active;
	struct nat_obs_counts oc;
	nat_obs_close(&ctx.ob, wall_ns(), &oc);
	run_log("INFO", "ENGINE", "Stopped");
	run_final_stats(s, active, &ls);
	if (oc.traced)
		run_log(oc.trace_lost || oc.trace_failed ? "WARN" : "INFO",
			"TRACE",
			"  Trace: %llu packets written, %llu lost (queue full), "
			"%llu lost (write errors)",
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
			" (%llu lost, %llu drop events rate-limited)\n",
			(unsigned long long)c->log_written, events,
			(unsigned long long)c->log_lost,
			(unsigned long long)c->log_suppressed);
}

static int cmd_replay(int argc, char **argv)
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
	const char *config = NULL, *out = NULL, *in = NULL;
	const char *trace = NULL, *filter = NULL, *events = NULL;
	const char *format = NULL;
	bool quiet = false, verbose = false;
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
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case OPT_TRACE:
			trace = optarg;
			break;
		case OPT_TRACE_FILTER:
			filter = optarg;
			break;
		case OPT_EVENTS:
			events = optarg;
			break;
		case OPT_LOG_FORMAT:
			format = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(help_replay, stdout);
			return EX_OK;
		default:
			return opt_fail("replay", c, argv);
		}
	}
	if (optind == argc)
		return usage_error("replay", "missing the input capture IN");
	if (argc - optind > 1)
		return usage_error("replay", "more than one input capture");
	in = argv[optind];
	if (!config)
		return usage_error("replay",
				   "missing -c FILE (the config file)");
	if (!out)
		return usage_error("replay",
				   "missing -o OUT.pcapng (the output file)");
	if (format && strcmp(format, "text") != 0 &&
	    strcmp(format, "json") != 0)
		return usage_error("replay",
				   "--log-format takes text or json");
	if (filter && !trace)
		return usage_error("replay", "--trace-filter needs --trace DIR");

	if (load_config(config, &cfg) != 0)
		return EX_USAGE;
	e = nat_engine_create(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "glassnat replay: %s\n", err);
		nat_config_free(&cfg);
		return EX_RUNTIME;
	}
	memset(&oo, 0, sizeof(oo));
	oo.events = events;
	oo.trace_dir = trace;
	oo.trace_filter = filter;
	oo.verbose = verbose;
	/* A file of events is for jq and log pipelines: JSON unless asked
	 * otherwise; stdout is for people: the config's format. */
	oo.format = format	  ? (strcmp(format, "json") == 0 ? NAT_LOG_JSON
								  : NAT_LOG_TEXT)
		    : events && strcmp(events, "-") != 0 ? NAT_LOG_JSON
							   : -1;
	memset(&ro, 0, sizeof(ro));
	if (nat_obs_open(&ro.ob, e, &cfg, &oo, err, sizeof(err)) < 0) {
		fprintf(stderr, "glassnat replay: %s\n", err);
		nat_engine_destroy(e);
		nat_config_free(&cfg);
		return strstr(err, "filter") ? EX_USAGE : EX_RUNTIME;
	}
	if (ro.ob.log)
		log_config_load(ro.ob.log, wall_ns(), &cfg, NULL);
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
		print_obs_counts(stdout, &counts, trace, events);
	}
	fflush(stdout);
	if (rc != 0)
		fprintf(stderr, "glassnat replay: %s\n", err);
	nat_engine_destroy(e);
	return rc == 0 ? EX_OK : EX_RUNTIME;
}

/* ---- check ----------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
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
			fputs(help_check, stdout);
			return EX_OK;
		default:
			return opt_fail("check", c, argv);
		}
	}
	/* `glassnat check FILE` is accepted as a convenience. */
	if (!config && argc - optind == 1)
		config = argv[optind++];
	if (optind < argc)
		return usage_error("check", "unexpected argument");
	if (!config)
		return usage_error("check",
				   "missing -c FILE (the config file)");
	if (load_config(config, &cfg) != 0)
		return EX_USAGE;
	nat_config_print_plan(stdout, &cfg, nat_engine_memory(&cfg));
	nat_config_free(&cfg);
	return fflush(stdout) == 0 ? EX_OK : EX_RUNTIME;
}

/* ---- control-socket commands ----------------------------------------- */

/* Checks "tcp/8080:172.17.240.21[:80]". */
static bool parse_forward_spec(const char *spec, char *why, size_t whylen)
{
	char buf[96], *slash, *colon, *ip, *end;
	unsigned long port;

	if (!copy_opt(buf, sizeof(buf), spec)) {
		snprintf(why, whylen, "forward spec too long");
		return false;
	}
	slash = strchr(buf, '/');
	if (!slash) {
		snprintf(why, whylen,
			 "'%s': expected PROTO/EXT_PORT:INT_IP"
			 "[:INT_PORT]",
			 spec);
		return false;
	}
	*slash = '\0';
	if (strcmp(buf, "tcp") != 0 && strcmp(buf, "udp") != 0) {
		snprintf(why, whylen, "'%s': protocol must be tcp or udp",
			 spec);
		return false;
	}
	errno = 0;
	port = strtoul(slash + 1, &end, 10);
	if (end == slash + 1 || *end != ':' || port < 1 || port > 65535 ||
	    errno) {
		snprintf(why, whylen,
			 "'%s': external port must be 1-65535 "
			 "followed by :INT_IP",
			 spec);
		return false;
	}
	ip = end + 1;
	colon = strchr(ip, ':');
	if (colon)
		*colon = '\0';
	uint32_t addr;
	if (!nat_ip_parse(ip, &addr)) {
		snprintf(why, whylen, "'%s': '%s' is not an IPv4 address", spec,
			 ip);
		return false;
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port < 1 || port > 65535 ||
		    errno) {
			snprintf(why, whylen,
				 "'%s': internal port must be 1-65535", spec);
			return false;
		}
	}
	return true;
}

static bool parse_port(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return end != s && !*end && !errno && v >= 1 && v <= 65535;
}

/* Parses the options common to the control commands; returns -1 when
 * done (help printed or error), with *rc set. */
static int control_opts(const char *cmd, const char *help, int argc,
			char **argv, const char **name, int *rc)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int c;

	while ((c = getopt_long(argc, argv, name ? ":s:c:n:h" : ":s:c:h",
				longopts, NULL)) != -1) {
		switch (c) {
		case 's':
		case OPT_JSON:
			break;
		case 'c':
			config = optarg;
			break;
		case 'n':
			if (name) {
				*name = optarg;
				break;
			}
			fprintf(stderr,
				"glassnat %s: unknown option "
				"'--name'\ntry 'glassnat %s --help'\n",
				cmd, cmd);
			*rc = EX_USAGE;
			return -1;
		case 'h':
			fputs(help, stdout);
			*rc = EX_OK;
			return -1;
		default:
			*rc = opt_fail(cmd, c, argv);
			return -1;
		}
	}
	if (config) {
		struct nat_config cfg;

		if (load_config(config, &cfg) != 0) {
			*rc = EX_USAGE;
			return -1;
		}
		nat_config_free(&cfg);
	}
	return 0;
}

static int control_unavailable(const char *what)
{
	fprintf(stderr,
		"glassnat %s: the control socket is not available in this "
		"build yet (it comes with the live gateway)\n",
		what);
	return EX_RUNTIME;
}

static int cmd_forward(int argc, char **argv)
{
	const char *name = NULL, *sub;
	char why[160];
	int rc;

	if (control_opts("forward", help_forward, argc, argv, &name, &rc))
		return rc;
	if (optind == argc)
		return usage_error("forward", "missing list, add or remove");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0) {
		if (optind < argc || name)
			return usage_error("forward", "list takes no "
						      "arguments");
		return control_unavailable("forward list");
	}
	if (strcmp(sub, "add") == 0) {
		if (argc - optind != 1)
			return usage_error("forward",
					   "add needs one PROTO/"
					   "EXT_PORT:INT_IP[:INT_PORT]");
		if (!parse_forward_spec(argv[optind], why, sizeof(why)))
			return usage_error("forward", why);
		return control_unavailable("forward add");
	}
	if (strcmp(sub, "remove") == 0) {
		if (argc - optind > 1 || (argc == optind && !name) ||
		    (argc > optind && name))
			return usage_error("forward", "remove needs one "
						      "EXT_PORT or --name N");
		if (argc > optind && !parse_port(argv[optind]))
			return usage_error("forward", "remove: EXT_PORT must "
						      "be 1-65535");
		return control_unavailable("forward remove");
	}
	snprintf(why, sizeof(why),
		 "unknown subcommand '%s' (list, add, "
		 "remove)",
		 sub);
	return usage_error("forward", why);
}

static int cmd_flows(int argc, char **argv)
{
	int rc;

	if (control_opts("flows", help_flows, argc, argv, NULL, &rc))
		return rc;
	if (optind < argc)
		return usage_error("flows", "unexpected argument");
	return control_unavailable("flows");
}

static int cmd_stats(int argc, char **argv)
{
	int rc;

	if (control_opts("stats", help_stats, argc, argv, NULL, &rc))
		return rc;
	if (optind < argc)
		return usage_error("stats", "unexpected argument");
	return control_unavailable("stats");
}

static int cmd_trace(int argc, char **argv)
{
	char err[ERRBUF_LEN];
	const char *sub;
	int rc;

	if (control_opts("trace", help_trace, argc, argv, NULL, &rc))
		return rc;
	if (optind == argc)
		return usage_error("trace", "missing on or off");
	sub = argv[optind++];
	if (strcmp(sub, "on") == 0) {
		if (argc - optind > 1)
			return usage_error("trace", "on takes at most one BPF "
						    "expression (quote it)");
		if (argc > optind &&
		    check_bpf(argv[optind], err, sizeof(err)) != 0)
			return usage_error("trace", err);
		return control_unavailable("trace on");
	}
	if (strcmp(sub, "off") == 0) {
		if (optind < argc)
			return usage_error("trace", "off takes no arguments");
		return control_unavailable("trace off");
	}
	return usage_error("trace", "expected on [BPF] or off");
}

static int cmd_version(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help_version, stdout);
			return EX_OK;
		}
		return opt_fail("version", c, argv);
	}
	if (optind < argc)
		return usage_error("version", "unexpected argument");
	printf("glassnat %s (backends: replay)\n", GLASSNAT_VERSION);
	return EX_OK;
}

/* ---- dispatch -------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "run", cmd_run },	{ "replay", cmd_replay },
	{ "check", cmd_check }, { "forward", cmd_forward },
	{ "flows", cmd_flows }, { "stats", cmd_stats },
	{ "trace", cmd_trace }, { "version", cmd_version },
};

/* Rewrites Hyper-NAT's Go-style single-dash long options in place (up to
 * a "--"): -config[=F] -> --config[=F], -verbose, -version. The strings
 * are static or point into the original argument. */
static void translate_hyper_nat(int argc, char **argv, char **store,
				size_t store_len)
{
	static const char *const names[] = { "config", "verbose", "version" };
	size_t used = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '-')
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t n = strlen(names[k]);

			if (strncmp(a + 1, names[k], n) != 0 ||
			    (a[1 + n] != '\0' && a[1 + n] != '='))
				continue;
			if (used == store_len)
				return;
			size_t len = strlen(a) + 2;
			char *s = malloc(len);
			if (!s)
				return;
			snprintf(s, len, "-%s", a);
			store[used++] = s;
			argv[i] = s;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	char *store[64] = { NULL };
	const struct command *cmd = NULL;
	int rc;

	translate_hyper_nat(argc, argv, store,
			    sizeof(store) / sizeof(store[0]));
	opterr = 0;

	if (argc < 2) {
		fputs(help_main, stderr);
		return EX_USAGE;
	}
	if (argv[1][0] != '-') {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]);
		     i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				cmd = &commands[i];
		if (!cmd) {
			fprintf(stderr, "glassnat: unknown command '%s'\n",
				argv[1]);
			fprintf(stderr, "try 'glassnat --help'\n");
			rc = EX_USAGE;
			goto out;
		}
		/* The command sees itself as argv[0]. */
		rc = cmd->fn(argc - 1, argv + 1);
		goto out;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(help_main, stdout);
		rc = EX_OK;
		goto out;
	}
	if (strcmp(argv[1], "--version") == 0 && argc == 2) {
		rc = cmd_version(1, argv);
		goto out;
	}
	rc = cmd_run(argc, argv); /* options only: the default command */
out:
	for (size_t i = 0; i < sizeof(store) / sizeof(store[0]); i++)
		free(store[i]);
	return rc;
}
