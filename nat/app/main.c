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

#include <jansson.h>
#ifndef _WIN32
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#endif

#include "config.h"
#include "client.h"
#include "control.h"
#include "engine.h"
#include "nfqueue.h"
#include "observe.h"
#include "packet.h"
#include "platform.h"
#include "replay.h"
#ifdef _WIN32
#include "windivert.h"
#endif

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
	OPT_PROTO,
	OPT_PORT,
	OPT_TO,
	OPT_HOST,
	OPT_LIMIT,
	OPT_PROMETHEUS,
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
	"  reload    re-read the config in the running gateway (control socket)\n"
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
	"Once running it answers on its control socket (control_socket,\n"
	"root only: glassnat forward/flows/stats/trace/reload) and restores\n"
	"the forwards kept in state_file. SIGHUP reopens the events file and\n"
	"reloads the config.\n"
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
	"                      " NAT_CONTROL_SOCKET_DEFAULT ")\n"                \
	"  -c, --config FILE   take the control socket path from FILE\n"        \
	"      --json          print the answer as JSON\n"                      \
	"  -h, --help          this text\n"

#define CONTROL_NOTE                                                         \
	"The gateway answers on its control socket (root only); when it is\n" \
	"not running the command says so and exits 1. docs/control.md has\n" \
	"the protocol.\n"

static const char help_forward[] =
	"usage: glassnat forward list [OPTIONS]\n"
	"       glassnat forward add PROTO/EXT_PORT:INT_IP[:INT_PORT] [--name N]\n"
	"       glassnat forward add --name N --proto P --port EXT_PORT\n"
	"                            --to INT_IP[:INT_PORT]\n"
	"       glassnat forward remove EXT_PORT [--proto P] | --name N\n"
	"\n"
	"Lists, adds or removes port forwards (DNAT) in the running gateway,\n"
	"over its control socket. PROTO is tcp or udp; INT_PORT defaults to\n"
	"EXT_PORT; without --name a forward is named PROTO/EXT_PORT. Forwards\n"
	"added here are kept in the config's state_file and restored at the\n"
	"next start. Removing a forward refuses new connections to its port\n"
	"and closes its flows.\n"
	"\n"
	"options:\n"
	"  -n, --name N        the forward's name (add), or the forward to\n"
	"                      remove by name (remove)\n"
	"      --proto P       tcp or udp (add; remove by port when both exist)\n"
	"      --port N        the external port (add)\n"
	"      --to IP[:PORT]  the inside host and port (add)\n" CONTROL_OPTIONS
	"\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat forward list\n"
	"  glassnat forward add tcp/8080:172.17.240.21:80 --name web\n"
	"  glassnat forward add --name Web --proto tcp --port 8080 \\\n"
	"      --to 172.17.240.21:80\n"
	"  glassnat forward remove 8080\n"
	"  glassnat forward remove --name web\n";

static const char help_flows[] =
	"usage: glassnat flows [--host IP] [--port N] [--proto P] [--limit N]\n"
	"                      [OPTIONS]\n"
	"\n"
	"Lists the running gateway's flows: id, protocol, inside, mapped and\n"
	"remote address:port, TCP state, rule, packets and bytes each way.\n"
	"\n"
	"options:\n"
	"      --host IP       only flows with IP as inside, mapped or remote\n"
	"      --port N        only flows with port N on any side\n"
	"      --proto P       tcp, udp or icmp\n"
	"      --limit N       at most N flows (default 100, at most 10000)\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat flows --host 172.17.240.21 --proto tcp\n"
	"  glassnat flows --json | jq '.flows[] | select(.kind==\"forward\")'\n";

static const char help_stats[] =
	"usage: glassnat stats [--prometheus] [OPTIONS]\n"
	"\n"
	"Prints the running gateway's counters: packets, translated, bypassed,\n"
	"passed and dropped by reason, flows, trace and log losses, control\n"
	"requests and errors.\n"
	"\n"
	"options:\n"
	"      --prometheus    the Prometheus text format (glassnat_* metrics)\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat stats -s /run/glassnat.sock\n"
	"  glassnat stats --prometheus > /var/lib/node_exporter/glassnat.prom\n";

static const char help_trace[] =
	"usage: glassnat trace on [BPF] [OPTIONS]\n"
	"       glassnat trace off [OPTIONS]\n"
	"\n"
	"Turns before/after packet tracing on (optionally only for flows\n"
	"matching BPF, libpcap syntax, checked here) or off in the running\n"
	"gateway. Traces go to the config's trace.dir (or run's --trace DIR).\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat trace on 'host 172.17.240.21 and udp port 53'\n"
	"  glassnat trace off\n";

static const char help_reload[] =
	"usage: glassnat reload [OPTIONS]\n"
	"\n"
	"Makes the running gateway re-read its config file (as SIGHUP does):\n"
	"rules, port forwards, filtering, timeouts and policies are replaced;\n"
	"flows keep their decision. A config with an error is refused with\n"
	"its FILE:LINE:COLUMN message and the running config stays; so is a\n"
	"change of nat_ip, internal_network, port_range or limits (restart).\n"
	"Prints what changed.\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat reload -c /etc/glassnat.yaml\n";

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

#ifdef _WIN32
/* Windows: Ctrl+C, Ctrl+Break and closing the console stop the gateway
 * (there is no SIGHUP: a service is restarted instead). */
static void run_signals(void)
{
	if (nat_plat_on_console_stop(&run_stop, &run_signo) != 0)
		fprintf(stderr, "glassnat run: cannot install the Ctrl+C "
				"handler\n");
}
#else
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
#endif

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
	const char *config_path;
	struct nat_config *cfg; /* as started (trace dir, socket, state) */
	bool live_no_preserve;	/* run forced port preservation off */
	struct nat_ctl_server *ctl;
	struct nat_ctl_ops ops;
	struct nat_live_stats *ls;
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
#ifdef _WIN32
	if (nat_windivert_set_forwards(nat_engine_config(rc->e), fw, n, errbuf,
				       errlen) != 0)
		goto out;
#else
	if (nat_nfqueue_set_forwards(nat_engine_config(rc->e), fw, n, errbuf,
				     errlen) != 0)
		goto out;
#endif
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
	if (bpf[0] && check_bpf(bpf, errbuf, errlen) != 0)
		return -1;
	if (nat_obs_trace_on(&rc->ob, &rc->cfg->trace, bpf, errbuf, errlen) !=
	    0)
		return -1;
	run_log("INFO", "TRACE", "Tracing on to %s%s%s", rc->cfg->trace.dir,
		bpf[0] ? ", filter: " : "", bpf);
	return 0;
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
	if (r == 0 && (strcmp(ncfg.control_socket, rc->cfg->control_socket) != 0 ||
		       strcmp(ncfg.state_file, rc->cfg->state_file) != 0)) {
		size_t n = strlen(changes);
		snprintf(changes + n, clen - n, "%s",
			 "; control_socket / state_file changed: they take "
			 "effect at the next start");
	}
	if (r == 0) {
		char err2[ERRBUF_LEN];
		if (run_forwards_changed(rc, err2, sizeof(err2)) != 0)
			run_log("ERROR", "MAIN",
				"reload: updating the chains / state file: %s",
				err2);
		if (rc->ob.log)
			log_config_load(rc->ob.log, wall_ns(), &ncfg, changes);
	}
	nat_config_free(&ncfg);
	return r;
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
	}
	if (rc->ctl)
		nat_ctl_server_counters(rc->ctl, &x->ctl_requests,
					x->ctl_errors);
	if (rc->ls) {
		x->queue_enobufs = rc->ls->enobufs;
		x->queue_verdict_errors = rc->ls->verdict_errors;
	}
}

/* nat_live_opts.on_start: queue bound, chains installed. */
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
#ifdef _WIN32
	run_log("INFO", "CONTROL", "Control socket %s (administrators only)",
		rc->cfg->control_socket);
#else
	run_log("INFO", "CONTROL", "Control socket %s (root only)",
		rc->cfg->control_socket);
#endif
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
	struct nat_live_stats ls;
	memset(&ls, 0, sizeof(ls));
	struct run_ctx ctx = {
		.e = e,
		.config_path = config,
		.cfg = &cfg,
		.live_no_preserve = cfg.port_range.lo > 1 || cfg.port_range.hi < 65535,
		.ls = &ls,
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
	if (run_restore_state(e, &cfg) != 0) {
		nat_obs_close(&ctx.ob, wall_ns(), NULL);
		nat_engine_destroy(e);
		rc = EX_USAGE;
		goto out;
	}
	if (ctx.ob.trace)
		run_log("INFO", "MAIN", "Tracing to %s%s%s", cfg.trace.dir,
			cfg.trace.filter[0] ? ", filter: " : "",
			cfg.trace.filter);
	struct nat_live_opts o = {
		.stop = &run_stop,
		.reload = &run_reload,
		.on_tick = run_tick,
		.on_start = run_start,
		.ctx = &ctx,
		.queue_num = 0,
		.verbose = cfg.logging.verbose,
		.log = stderr,
	};
	run_signals();
	run_log("INFO", "ENGINE", "Started");
#ifdef _WIN32
	int lrc = nat_windivert_run(e, &cfg, &o, &ls, err, sizeof(err));
#else
	int lrc = nat_nfqueue_run(e, &cfg, &o, &ls, err, sizeof(err));
#endif
	nat_ctl_server_stop(ctx.ctl);
	ctx.ctl = NULL;
	if (lrc != 0) {
		run_log("ERROR", "ENGINE", "%s%s", err,
			!nat_plat_is_admin() ? NAT_PLAT_ADMIN_HINT : "");
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
			 "'%.95s': expected PROTO/EXT_PORT:INT_IP"
			 "[:INT_PORT]",
			 spec);
		return false;
	}
	*slash = '\0';
	if (strcmp(buf, "tcp") != 0 && strcmp(buf, "udp") != 0) {
		snprintf(why, whylen, "'%.95s': protocol must be tcp or udp",
			 spec);
		return false;
	}
	errno = 0;
	port = strtoul(slash + 1, &end, 10);
	if (end == slash + 1 || *end != ':' || port < 1 || port > 65535 ||
	    errno) {
		snprintf(why, whylen,
			 "'%.95s': external port must be 1-65535 "
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
		snprintf(why, whylen, "'%.95s': '%.95s' is not an IPv4 address",
			 spec,
			 ip);
		return false;
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port < 1 || port > 65535 ||
		    errno) {
			snprintf(why, whylen,
				 "'%.95s': internal port must be 1-65535", spec);
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

/* What the control commands share: where the socket is, how to print. */
struct ctl_opts {
	const char *socket;
	const char *config;
	const char *name;
	const char *proto;
	const char *port;
	const char *to;
	const char *host;
	const char *limit;
	bool json;
	bool prometheus;
};

enum {
	CO_NAME = 1,
	CO_FWD = 2,   /* --proto --port --to (forward add) */
	CO_FLOWS = 4, /* --host --port --proto --limit */
	CO_PROM = 8,
};

/* Parses the options common to the control commands; returns -1 when
 * done (help printed or error), with *rc set. */
static int control_opts(const char *cmd, const char *help, int argc,
			char **argv, unsigned allow, struct ctl_opts *co,
			int *rc)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "name", required_argument, NULL, 'n' },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "to", required_argument, NULL, OPT_TO },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(co, 0, sizeof(*co));
	while ((c = getopt_long(argc, argv, ":s:c:n:h", longopts, NULL)) !=
	       -1) {
		unsigned need = 0;
		switch (c) {
		case 's':
			co->socket = optarg;
			break;
		case OPT_JSON:
			co->json = true;
			break;
		case 'c':
			co->config = optarg;
			break;
		case 'n':
			need = CO_NAME;
			co->name = optarg;
			break;
		case OPT_PROTO:
			need = CO_FWD | CO_FLOWS;
			co->proto = optarg;
			break;
		case OPT_PORT:
			need = CO_FWD | CO_FLOWS;
			co->port = optarg;
			break;
		case OPT_TO:
			need = CO_FWD;
			co->to = optarg;
			break;
		case OPT_HOST:
			need = CO_FLOWS;
			co->host = optarg;
			break;
		case OPT_LIMIT:
			need = CO_FLOWS;
			co->limit = optarg;
			break;
		case OPT_PROMETHEUS:
			need = CO_PROM;
			co->prometheus = true;
			break;
		case 'h':
			fputs(help, stdout);
			*rc = EX_OK;
			return -1;
		default:
			*rc = opt_fail(cmd, c, argv);
			return -1;
		}
		if (need && !(need & allow)) {
			fprintf(stderr,
				"glassnat %s: unknown option '%s'\n"
				"try 'glassnat %s --help'\n",
				cmd, argv[optind - 1], cmd);
			*rc = EX_USAGE;
			return -1;
		}
	}
	return 0;
}

/* The socket path: -s, else the config's control_socket, else the
 * default. Returns NULL (printed) when the config does not load. */
static const char *ctl_socket_path(const struct ctl_opts *co, char *buf,
				   size_t len)
{
	if (co->socket)
		return co->socket;
	if (co->config) {
		struct nat_config cfg;
		if (load_config(co->config, &cfg) != 0)
			return NULL;
		snprintf(buf, len, "%s", cfg.control_socket);
		nat_config_free(&cfg);
		return buf;
	}
	return NAT_CONTROL_SOCKET_DEFAULT;
}

#define CTL_TIMEOUT_MS 15000

/* Sends one request and reads its response. Returns the parsed response
 * or NULL with the reason printed (exit 1). */
static json_t *ctl_call(const char *cmd, const char *path, json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT), *buf = NULL;
	json_decref(req);
	size_t len = line ? strlen(line) : 0, used = 0;
	char *req_nl = line ? malloc(len + 2) : NULL;
	unsigned long oserr = 0;
	if (!req_nl) {
		free(line);
		fprintf(stderr, "glassnat %s: out of memory\n", cmd);
		return NULL;
	}
	memcpy(req_nl, line, len);
	memcpy(req_nl + len, "\n", 2);
	free(line);
	enum nat_ctl_call_result rc =
		nat_ctl_call(path, req_nl, CTL_TIMEOUT_MS, &buf, &used, &oserr);
	free(req_nl);
	switch (rc) {
	case NAT_CTL_CALL_OK:
		break;
	case NAT_CTL_CALL_NOT_RUNNING:
	case NAT_CTL_CALL_NO_ANSWER:
		fprintf(stderr,
			"glassnat %s: the gateway is not running (%s at %s; "
			"start `glassnat run`, or give the socket with -s / "
			"the config with -c)\n",
			cmd,
			rc == NAT_CTL_CALL_NOT_RUNNING
				? "no control socket"
				: "nobody answers on the socket",
			path);
		return NULL;
	case NAT_CTL_CALL_DENIED:
		fprintf(stderr,
			"glassnat %s: permission denied on %s (%s)\n", cmd,
			path, NAT_PLAT_CTL_DENIED_HINT);
		return NULL;
	case NAT_CTL_CALL_TIMEOUT:
		fprintf(stderr, "glassnat %s: no answer from %s within %d s\n",
			cmd, path, CTL_TIMEOUT_MS / 1000);
		return NULL;
	case NAT_CTL_CALL_CLOSED:
		fprintf(stderr,
			"glassnat %s: the control socket %s closed without an "
			"answer\n",
			cmd, path);
		return NULL;
	case NAT_CTL_CALL_ERROR:
	default: {
		char eb[128];
		fprintf(stderr,
			"glassnat %s: cannot reach the control socket %s: %s\n",
			cmd, path, nat_plat_os_error(oserr, eb, sizeof(eb)));
		return NULL;
	}
	}
	json_error_t je;
	json_t *resp = json_loadb(buf, used, JSON_DISABLE_EOF_CHECK, &je);
	free(buf);
	if (!json_is_object(resp)) {
		fprintf(stderr, "glassnat %s: unreadable answer: %s\n", cmd,
			je.text);
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* Runs one request: prints JSON as is with --json; otherwise an error
 * message, or hands a success to print (may be NULL: the message). */
static int ctl_run(const char *cmd, const struct ctl_opts *co, json_t *req,
		   void (*print)(json_t *resp, const struct ctl_opts *co))
{
	char buf[128];
	const char *path = ctl_socket_path(co, buf, sizeof(buf));
	if (!path) {
		json_decref(req);
		return EX_USAGE;
	}
	json_t *resp = ctl_call(cmd, path, req);
	if (!resp)
		return EX_RUNTIME;
	bool ok = json_is_true(json_object_get(resp, "success"));
	if (co->json) {
		char *s = json_dumps(resp, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
	} else if (!ok) {
		fprintf(stderr, "glassnat %s: %s (%s)\n", cmd,
			json_string_value(json_object_get(resp, "message")),
			json_string_value(json_object_get(resp, "error")));
	} else if (print) {
		print(resp, co);
	} else {
		const char *m =
			json_string_value(json_object_get(resp, "message"));
		const char *ch =
			json_string_value(json_object_get(resp, "changes"));
		printf("%s%s%s\n", m ? m : "ok", ch ? ": " : "", ch ? ch : "");
	}
	json_decref(resp);
	return ok ? EX_OK : EX_RUNTIME;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void print_forwards(json_t *resp, const struct ctl_opts *co)
{
	json_t *arr = json_object_get(resp, "forwards"), *f;
	size_t i;
	(void)co;
	if (json_array_size(arr) == 0) {
		printf("no port forwards\n");
		return;
	}
	printf("%-24s %-5s %-8s %-22s %-8s %s\n", "NAME", "PROTO", "EXTERNAL",
	       "INTERNAL", "ORIGIN", "FLOWS");
	json_array_foreach(arr, i, f)
	{
		char to[40];
		snprintf(to, sizeof(to), "%s:%lld", jstr(f, "internal_ip"),
			 jint(f, "internal_port"));
		printf("%-24s %-5s %-8lld %-22s %-8s %lld\n", jstr(f, "name"),
		       jstr(f, "protocol"), jint(f, "external_port"), to,
		       jstr(f, "origin"), jint(f, "flows"));
	}
}

static void print_added(json_t *resp, const struct ctl_opts *co)
{
	json_t *f = json_object_get(resp, "forward");
	(void)co;
	printf("%s: \"%s\" %s/%lld -> %s:%lld\n", jstr(resp, "message"),
	       jstr(f, "name"), jstr(f, "protocol"), jint(f, "external_port"),
	       jstr(f, "internal_ip"), jint(f, "internal_port"));
}

/* "tcp/8080:172.17.240.21[:80]" into a rule object. */
static json_t *forward_rule(const char *spec, const char *name, char *why,
			    size_t whylen)
{
	char buf[96], *slash, *colon, *ip, *end;
	unsigned long port, iport;
	uint32_t addr;

	if (!parse_forward_spec(spec, why, whylen))
		return NULL;
	copy_opt(buf, sizeof(buf), spec);
	slash = strchr(buf, '/');
	*slash = '\0';
	port = strtoul(slash + 1, &end, 10);
	ip = end + 1;
	colon = strchr(ip, ':');
	if (colon)
		*colon = '\0';
	(void)nat_ip_parse(ip, &addr);
	iport = colon ? strtoul(colon + 1, NULL, 10) : port;
	json_t *r = json_pack("{s:s, s:i, s:s, s:i}", "protocol", buf,
			      "external_port", (int)port, "internal_ip", ip,
			      "internal_port", (int)iport);
	if (r && name)
		json_object_set_new(r, "name", json_string(name));
	return r;
}

static int cmd_forward(int argc, char **argv)
{
	struct ctl_opts co;
	const char *sub;
	char why[256]; /* the longest message: spec and address, each <= 95 */
	int rc;

	if (control_opts("forward", help_forward, argc, argv,
			 CO_NAME | CO_FWD, &co, &rc))
		return rc;
	if (optind == argc)
		return usage_error("forward", "missing list, add or remove");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0) {
		if (optind < argc || co.name || co.proto || co.port || co.to)
			return usage_error("forward", "list takes no "
						      "arguments");
		return ctl_run("forward list", &co,
			       json_pack("{s:s}", "action", "forward_list"),
			       print_forwards);
	}
	if (strcmp(sub, "add") == 0) {
		char spec[128];
		if (argc - optind == 1 && !co.proto && !co.port && !co.to) {
			snprintf(spec, sizeof(spec), "%s", argv[optind]);
		} else if (argc == optind && co.proto && co.port && co.to) {
			snprintf(spec, sizeof(spec), "%s/%s:%s", co.proto,
				 co.port, co.to);
		} else {
			return usage_error("forward",
					   "add needs PROTO/EXT_PORT:INT_IP"
					   "[:INT_PORT], or --proto P --port "
					   "N --to INT_IP[:INT_PORT]");
		}
		json_t *rule = forward_rule(spec, co.name, why, sizeof(why));
		if (!rule)
			return usage_error("forward", why);
		return ctl_run("forward add", &co,
			       json_pack("{s:s, s:o}", "action", "forward_add",
					 "rule", rule),
			       print_added);
	}
	if (strcmp(sub, "remove") == 0) {
		if (argc - optind > 1 || (argc == optind && !co.name) ||
		    (argc > optind && co.name) || co.to || co.port)
			return usage_error("forward", "remove needs one "
						      "EXT_PORT or --name N");
		if (argc > optind && !parse_port(argv[optind]))
			return usage_error("forward", "remove: EXT_PORT must "
						      "be 1-65535");
		if (co.proto && strcmp(co.proto, "tcp") != 0 &&
		    strcmp(co.proto, "udp") != 0)
			return usage_error("forward",
					   "--proto must be tcp or udp");
		json_t *req =
			co.name ? json_pack("{s:s, s:s}", "action",
					    "forward_remove", "name", co.name)
				: json_pack("{s:s, s:i}", "action",
					    "forward_remove", "external_port",
					    atoi(argv[optind]));
		if (co.proto && !co.name)
			json_object_set_new(req, "protocol",
					    json_string(co.proto));
		return ctl_run("forward remove", &co, req, print_added);
	}
	snprintf(why, sizeof(why),
		 "unknown subcommand '%s' (list, add, "
		 "remove)",
		 sub);
	return usage_error("forward", why);
}

static void print_flows(json_t *resp, const struct ctl_opts *co)
{
	json_t *arr = json_object_get(resp, "flows"), *f;
	size_t i;
	(void)co;
	printf("%-8s %-5s %-8s %-21s %-21s %-21s %-12s %-16s %s\n", "ID",
	       "PROTO", "KIND", "INSIDE", "MAPPED", "REMOTE", "STATE", "RULE",
	       "PKTS OUT/IN  BYTES OUT/IN");
	json_array_foreach(arr, i, f)
	{
		printf("%-8lld %-5s %-8s %-21s %-21s %-21s %-12s %-16s "
		       "%lld/%lld  %lld/%lld\n",
		       jint(f, "id"), jstr(f, "proto"), jstr(f, "kind"),
		       jstr(f, "inside"), jstr(f, "mapped"), jstr(f, "remote"),
		       jstr(f, "state"), jstr(f, "rule"), jint(f, "pkts_out"),
		       jint(f, "pkts_in"), jint(f, "bytes_out"),
		       jint(f, "bytes_in"));
	}
	printf("%lld flow(s) shown of %lld matching%s\n", jint(resp, "shown"),
	       jint(resp, "matched"),
	       json_is_true(json_object_get(resp, "truncated"))
		       ? " (raise --limit for more)"
		       : "");
}

static int cmd_flows(int argc, char **argv)
{
	struct ctl_opts co;
	int rc;

	if (control_opts("flows", help_flows, argc, argv, CO_FLOWS, &co, &rc))
		return rc;
	if (optind < argc)
		return usage_error("flows", "unexpected argument");
	json_t *req = json_pack("{s:s}", "action", "flows");
	uint32_t a;
	if (co.host) {
		if (!nat_ip_parse(co.host, &a)) {
			json_decref(req);
			return usage_error("flows",
					   "--host must be an IPv4 address");
		}
		json_object_set_new(req, "address", json_string(co.host));
	}
	if (co.port) {
		if (!parse_port(co.port)) {
			json_decref(req);
			return usage_error("flows", "--port must be 1-65535");
		}
		json_object_set_new(req, "port", json_integer(atoi(co.port)));
	}
	if (co.proto) {
		if (strcmp(co.proto, "tcp") != 0 && strcmp(co.proto, "udp") != 0 &&
		    strcmp(co.proto, "icmp") != 0) {
			json_decref(req);
			return usage_error("flows",
					   "--proto must be tcp, udp or icmp");
		}
		json_object_set_new(req, "protocol", json_string(co.proto));
	}
	if (co.limit) {
		char *end;
		long v = strtol(co.limit, &end, 10);
		if (*end || end == co.limit || v < 1 || v > NAT_CTL_FLOWS_MAX) {
			json_decref(req);
			return usage_error("flows", "--limit must be 1-10000");
		}
		json_object_set_new(req, "limit", json_integer(v));
	}
	return ctl_run("flows", &co, req, print_flows);
}

static void print_stats(json_t *resp, const struct ctl_opts *co)
{
	json_t *s = json_object_get(resp, "stats");
	json_t *br = json_object_get(s, "by_reason");
	json_t *ctl = json_object_get(s, "control");
	json_t *errs = json_object_get(ctl, "errors");
	const char *k;
	json_t *v;

	if (co->prometheus) {
		static const char *const verdicts[] = { "natted", "bypassed",
							"passed", "dropped" };
		printf("# HELP glassnat_packets_total Packets seen by the "
		       "engine, by verdict.\n"
		       "# TYPE glassnat_packets_total counter\n");
		for (size_t i = 0; i < 4; i++)
			printf("glassnat_packets_total{verdict=\"%s\"} %lld\n",
			       verdicts[i], jint(s, verdicts[i]));
		printf("# HELP glassnat_bytes_total Bytes seen by the engine.\n"
		       "# TYPE glassnat_bytes_total counter\n"
		       "glassnat_bytes_total %lld\n",
		       jint(s, "bytes"));
		printf("# HELP glassnat_drops_total Packets dropped or passed "
		       "untranslated, by reason.\n"
		       "# TYPE glassnat_drops_total counter\n");
		json_object_foreach(br, k, v)
			printf("glassnat_drops_total{reason=\"%s\"} %lld\n", k,
			       (long long)json_integer_value(v));
		printf("# HELP glassnat_flows_active Flows in the table now.\n"
		       "# TYPE glassnat_flows_active gauge\n"
		       "glassnat_flows_active %lld\n",
		       jint(s, "flows_active"));
		printf("# HELP glassnat_flows_total Flows opened.\n"
		       "# TYPE glassnat_flows_total counter\n"
		       "glassnat_flows_total %lld\n",
		       jint(s, "flows_total"));
		printf("# HELP glassnat_flows_expired_total Flows closed by "
		       "timeout.\n"
		       "# TYPE glassnat_flows_expired_total counter\n"
		       "glassnat_flows_expired_total %lld\n",
		       jint(s, "flows_expired"));
		printf("# HELP glassnat_flows_evicted_total Flows evicted at "
		       "max_flows_per_host.\n"
		       "# TYPE glassnat_flows_evicted_total counter\n"
		       "glassnat_flows_evicted_total %lld\n",
		       jint(s, "flows_evicted"));
		printf("# HELP glassnat_hairpinned_total Packets hairpinned.\n"
		       "# TYPE glassnat_hairpinned_total counter\n"
		       "glassnat_hairpinned_total %lld\n",
		       jint(s, "hairpinned"));
		printf("# HELP glassnat_forwards Port forwards active.\n"
		       "# TYPE glassnat_forwards gauge\n"
		       "glassnat_forwards %lld\n",
		       jint(s, "forwards"));
		printf("# HELP glassnat_trace_lost_total Trace records lost "
		       "(queue full).\n"
		       "# TYPE glassnat_trace_lost_total counter\n"
		       "glassnat_trace_lost_total %lld\n",
		       jint(json_object_get(s, "trace"), "lost"));
		printf("# HELP glassnat_log_lost_total Event records lost.\n"
		       "# TYPE glassnat_log_lost_total counter\n"
		       "glassnat_log_lost_total %lld\n",
		       jint(json_object_get(s, "log"), "lost"));
		printf("# HELP glassnat_control_requests_total Control "
		       "requests answered.\n"
		       "# TYPE glassnat_control_requests_total counter\n"
		       "glassnat_control_requests_total %lld\n",
		       jint(ctl, "requests"));
		printf("# HELP glassnat_control_errors_total Control requests "
		       "refused, by error.\n"
		       "# TYPE glassnat_control_errors_total counter\n");
		json_object_foreach(errs, k, v)
			printf("glassnat_control_errors_total{error=\"%s\"} "
			       "%lld\n",
			       k, (long long)json_integer_value(v));
		return;
	}
	printf("packets      %lld (%lld bytes)\n", jint(s, "packets"),
	       jint(s, "bytes"));
	printf("  natted     %lld\n  bypassed   %lld\n  passed     %lld\n"
	       "  dropped    %lld\n",
	       jint(s, "natted"), jint(s, "bypassed"), jint(s, "passed"),
	       jint(s, "dropped"));
	printf("flows        %lld active, %lld total, %lld expired, %lld "
	       "evicted\n",
	       jint(s, "flows_active"), jint(s, "flows_total"),
	       jint(s, "flows_expired"), jint(s, "flows_evicted"));
	printf("hairpinned   %lld\nforwards     %lld\n", jint(s, "hairpinned"),
	       jint(s, "forwards"));
	printf("by reason (dropped or passed untranslated):\n");
	json_object_foreach(br, k, v)
		if (json_integer_value(v))
			printf("  %-22s %lld\n", k,
			       (long long)json_integer_value(v));
	json_t *t = json_object_get(s, "trace");
	printf("trace        %s, %lld written, %lld lost\n",
	       !json_is_true(json_object_get(t, "open")) ? "off (not open)"
	       : json_is_true(json_object_get(t, "on"))	 ? "on"
							 : "paused",
	       jint(t, "written"), jint(t, "lost"));
	json_t *l = json_object_get(s, "log");
	printf("events       %lld written, %lld lost\n", jint(l, "written"),
	       jint(l, "lost"));
	printf("control      %lld requests", jint(ctl, "requests"));
	json_object_foreach(errs, k, v)
		if (json_integer_value(v))
			printf(", %s %lld", k, (long long)json_integer_value(v));
	printf("\n");
}

static int cmd_stats(int argc, char **argv)
{
	struct ctl_opts co;
	int rc;

	if (control_opts("stats", help_stats, argc, argv, CO_PROM, &co, &rc))
		return rc;
	if (optind < argc)
		return usage_error("stats", "unexpected argument");
	if (co.json && co.prometheus)
		return usage_error("stats", "--json or --prometheus, not both");
	return ctl_run("stats", &co, json_pack("{s:s}", "action", "stats"),
		       print_stats);
}

static int cmd_trace(int argc, char **argv)
{
	struct ctl_opts co;
	char err[ERRBUF_LEN];
	const char *sub;
	int rc;

	if (control_opts("trace", help_trace, argc, argv, 0, &co, &rc))
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
		json_t *req = json_pack("{s:s}", "action", "trace_on");
		if (argc > optind)
			json_object_set_new(req, "filter",
					    json_string(argv[optind]));
		return ctl_run("trace on", &co, req, NULL);
	}
	if (strcmp(sub, "off") == 0) {
		if (optind < argc)
			return usage_error("trace", "off takes no arguments");
		return ctl_run("trace off", &co,
			       json_pack("{s:s}", "action", "trace_off"), NULL);
	}
	return usage_error("trace", "expected on [BPF] or off");
}

static int cmd_reload(int argc, char **argv)
{
	struct ctl_opts co;
	int rc;

	if (control_opts("reload", help_reload, argc, argv, 0, &co, &rc))
		return rc;
	if (optind < argc)
		return usage_error("reload", "unexpected argument");
	return ctl_run("reload", &co, json_pack("{s:s}", "action", "reload"),
		       NULL);
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
	{ "trace", cmd_trace }, { "reload", cmd_reload },
	{ "version", cmd_version },
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
