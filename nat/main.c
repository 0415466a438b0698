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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "config.h"
#include "engine.h"
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
	"note: live mode needs the NFQUEUE backend, which is not in this build\n"
	"yet; this build validates everything and then stops (exit 1).\n"
	"Use `glassnat replay` to translate captures.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE        the config file (required; Hyper-NAT's\n"
	"                           -config FILE is accepted)\n"
	"      --trace DIR          write before/after pcapng ring files into DIR\n"
	"                           (overrides trace.dir, turns tracing on)\n"
	"      --trace-filter BPF   trace only flows matching BPF (libpcap\n"
	"                           syntax, checked at start)\n"
	"      --events FILE|-      write JSON/text events to FILE, - = stdout\n"
	"      --log-format text|json\n"
	"                           the events' format (default text)\n"
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
	"                       [--trace DIR] [--events FILE] [-q]\n"
	"\n"
	"Translates the capture IN offline through the engine, as the live\n"
	"gateway would, and writes every packet that was not dropped, after\n"
	"translation, to OUT (pcapng). Each written packet carries a comment\n"
	"\"flow=ID dir=in|out verdict=V rule=NAME\" (frame.comment in\n"
	"Wireshark). A packet's direction comes from the pcapng direction flag,\n"
	"else the interface name (inside/outside), else its addresses.\n"
	"A summary is printed on stdout.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   the config file (required)\n"
	"  -o, --output OUT    the output pcapng file (required)\n"
	"      --trace DIR     before/after trace rings (not in this build yet)\n"
	"      --events FILE   write events to FILE (not in this build yet)\n"
	"  -q, --quiet         do not print the summary\n"
	"  -h, --help          this text\n"
	"\n"
	"example:\n"
	"  glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng\n"
	"  tshark -r out.pcapng -T fields -e ip.src -e ip.dst -e frame.comment\n";

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
	char err[ERRBUF_LEN];
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

	fprintf(stderr, "glassnat run: live mode needs the NFQUEUE backend, "
			"which is not in this build yet; use `glassnat "
			"replay`\n");
	rc = EX_RUNTIME;
out:
	nat_config_free(&cfg);
	return rc;
}

/* ---- replay ---------------------------------------------------------- */

static int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *out = NULL, *in = NULL;
	const char *trace = NULL, *events = NULL;
	bool quiet = false;
	struct nat_config cfg;
	struct nat_engine *e;
	struct nat_replay_opts o;
	struct nat_replay_result res;
	char err[ERRBUF_LEN];
	int c, rc;

	while ((c = getopt_long(argc, argv, ":c:o:qh", longopts, NULL)) != -1) {
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
		case OPT_EVENTS:
			events = optarg;
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
	if (trace || events) {
		fprintf(stderr,
			"glassnat replay: %s is not in this build yet (a later "
			"release adds it); run without it\n",
			trace ? "--trace" : "--events");
		return EX_USAGE;
	}

	if (load_config(config, &cfg) != 0)
		return EX_USAGE;
	e = nat_engine_create(&cfg, err, sizeof(err));
	nat_config_free(&cfg);
	if (!e) {
		fprintf(stderr, "glassnat replay: %s\n", err);
		return EX_RUNTIME;
	}

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.in_path = in;
	o.out_path = out;
	rc = nat_replay_run(e, &o, &res, err, sizeof(err));
	if (!quiet)
		nat_replay_print_summary(stdout, &o, &res, nat_engine_stats(e));
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
