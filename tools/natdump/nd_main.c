/* natdump: the offline decoder of glassnat's trace rings and of any
 * pcap/pcapng capture. Command line and help; the work is in nd_*.c.
 * Exit status: 0 ok, 1 damaged input or runtime failure, 2 usage. */
#include "nd.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h" /* GLASSNAT_VERSION */

static const char usage_main[] =
	"usage: natdump COMMAND [OPTIONS] FILE|DIR|-... [EXPRESSION]\n"
	"       natdump [OPTIONS] -r FILE [EXPRESSION]     (show, as tcpdump)\n"
	"\n"
	"Decodes glassnat's trace rings (.pcapng.zst), plain pcapng and\n"
	"classic pcap files. A directory is read as one time-ordered stream;\n"
	"'-' (or a pipe) is read as it comes. Words after the files are a\n"
	"libpcap filter expression, as tcpdump takes it (natdump show DIR tcp\n"
	"port 443).\n"
	"\n"
	"commands:\n"
	"  show     packets in time order, one line per before/after pair\n"
	"  flows    one line per flow: tuples, rule, times, counts, end\n"
	"  follow   the life of one flow: natdump follow ID FILE|DIR...\n"
	"  drops    drops grouped by reason and rule, with what to check\n"
	"  stats    files, time span, packets, flows, losses, reasons\n"
	"  export   write a plain pcapng for Wireshark (-o OUT.pcapng)\n"
	"  why      why did TARGET fail: the cause and its fix, then evidence\n"
	"\n"
	"`natdump COMMAND --help` lists a command's options;\n"
	"`natdump --version` prints the version.\n"
	"exit status: 0 ok, 1 damaged input or failure, 2 usage.\n";

static const char opts_common[] =
	"  -r FILE             read FILE (repeatable; then every word after\n"
	"                      the options is the filter expression)\n"
	"  EXPRESSION          trailing words: a filter, as -f (both: and-ed)\n"
	"  -f, --filter BPF    keep pairs where either side matches (libpcap)\n"
	"  -c, --count N       stop after N lines (export: N pairs)\n"
	"      --since TIME    from TIME (epoch seconds or 2023-11-14T22:13:20Z)\n"
	"      --until TIME    up to TIME\n"
	"      --flow ID       only flow ID\n"
	"      --json          one JSON object a line\n"
	"  -t                  no time; -tt epoch seconds; -ttt since the line\n"
	"                      before; -tttt date and time (the default);\n"
	"                      -ttttt since the first line (show, follow)\n"
	"  -n                  accepted for tcpdump's sake: natdump never\n"
	"                      resolves names\n"
	"  -h, --help          this text\n";

struct cmd {
	const char *name, *synopsis, *about;
	int (*run)(const struct nd_opts *o);
};

static const struct cmd cmds[] = {
	{"show", "natdump show [OPTIONS] FILE|DIR...",
	 "Prints every packet in time order. A before/after pair is one line:\n"
	 "time, flow id, direction, protocol, the tuple before -> after,\n"
	 "verdict, rule and reason. '-' stands for a side not traced (a drop\n"
	 "has no after; glassnat replay output has no before). Packets without\n"
	 "a glassnat comment are shown as plain packets ('- -').\n",
	 nd_cmd_show},
	{"flows", "natdump flows [OPTIONS] FILE|DIR...",
	 "One line per flow, in order of first appearance: id, protocol,\n"
	 "inside <-> mapped <-> remote, rule, first and last seen, packets and\n"
	 "bytes each way, and the end state the packets imply or the drop\n"
	 "reason ('?' marks an endpoint the trace does not show).\n",
	 nd_cmd_flows},
	{"follow", "natdump follow ID [OPTIONS] [--events FILE] FILE|DIR...",
	 "Every traced packet of flow ID, before and after, with TCP flags,\n"
	 "sequence and acknowledgement numbers and payload length, and the\n"
	 "TCP state changes they imply. --events FILE merges the flow's events\n"
	 "(glassnat's JSON lines) in time order instead of the implied states.\n",
	 nd_cmd_follow},
	{"drops", "natdump drops [OPTIONS] FILE|DIR...",
	 "Drops grouped by reason and rule, with a count, an example flow and\n"
	 "what the reason means and what to check (docs/troubleshooting.md).\n",
	 nd_cmd_drops},
	{"stats", "natdump stats [OPTIONS] FILE|DIR...",
	 "Files (and how many are damaged), time span, packets, pairs, flows,\n"
	 "trace losses (epb_dropcount) and counters by verdict and reason.\n",
	 nd_cmd_stats},
	{"export", "natdump export -o OUT.pcapng [OPTIONS] FILE|DIR...",
	 "Writes the selected packets, time-ordered, to one plain pcapng file\n"
	 "(nanosecond timestamps) keeping interfaces (merged by name and link\n"
	 "type), direction flags and comments. Pairs stay together.\n",
	 nd_cmd_export},
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(name, cmds[i].name) == 0)
			return &cmds[i];
	return NULL;
}

static void cmd_help(const struct cmd *c, FILE *f)
{
	fprintf(f, "usage: %s\n\n%s\noptions:\n%s", c->synopsis, c->about,
		opts_common);
	if (strcmp(c->name, "export") == 0)
		fputs("  -o, -w, --output OUT  the pcapng file to write "
		      "(required; - is\n"
		      "                      standard output)\n",
		      f);
	if (strcmp(c->name, "show") == 0)
		fputs("  -w FILE             write the selected packets to FILE "
		      "as pcapng\n"
		      "                      (as export -o; - is standard "
		      "output) instead of lines\n",
		      f);
	if (strcmp(c->name, "follow") == 0)
		fputs("      --events FILE   merge this flow's events (JSON lines)\n",
		      f);
	fputs("\nexit status: 0 ok, 1 damaged input or failure, 2 usage.\n", f);
}

static bool parse_u64_arg(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

enum { O_SINCE = 256, O_UNTIL, O_FLOW, O_JSON, O_EVENTS, O_VERSION };

/* Whether a positional word names input rather than starting the filter
 * expression: "-", something that exists, or something shaped like a
 * path (a '/' or a capture file's extension: a missing file is then
 * reported as such, not taken for a filter). */
static bool input_word(const char *w)
{
	static const char *const ext[] = {".pcap", ".pcapng", ".cap", ".zst"};
	struct stat st;
	size_t n = strlen(w);
	if (strcmp(w, "-") == 0 || strchr(w, '/') || stat(w, &st) == 0)
		return true;
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(w + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/* The words w[0..n) joined by spaces, and-ed with -f's expression when
 * there is one. NULL when memory is short. */
static char *join_filter(const char *f, char **w, int n)
{
	size_t len = f ? strlen(f) + 16 : 1;
	char *s, *p;
	for (int i = 0; i < n; i++)
		len += strlen(w[i]) + 1;
	s = p = malloc(len);
	if (!s)
		return NULL;
	if (f)
		p += sprintf(p, "(%s) and (", f);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? " " : "", w[i]);
	if (f)
		strcpy(p, ")");
	return s;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"filter", required_argument, NULL, 'f'},
		{"count", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'},
		{"since", required_argument, NULL, O_SINCE},
		{"until", required_argument, NULL, O_UNTIL},
		{"flow", required_argument, NULL, O_FLOW},
		{"json", no_argument, NULL, O_JSON},
		{"events", required_argument, NULL, O_EVENTS},
		{"version", no_argument, NULL, O_VERSION},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct cmd *c = NULL;
	struct nd_opts o;
	char **rfiles = NULL, *expr = NULL;
	int opt, first, nr = 0, rc, tcount = 0;
	const char *wout = NULL;

	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("natdump %s (glassnat)\n", GLASSNAT_VERSION);
		return 0;
	}
	/* Hidden: the reasons and their explanations, for the docs test. */
	if (strcmp(argv[1], "--list-reasons") == 0 && argc == 2)
		return nd_list_reasons(stdout);
	if (strcmp(argv[1], "why") == 0) /* its own options: nd_why.c */
		return nd_cmd_why(argc - 1, argv + 1);
	c = find_cmd(argv[1]);
	if (!c && argv[1][0] == '-' && argv[1][1] != '\0') {
		/* tcpdump's habit: options first, no command: show. */
		c = &cmds[0];
		argc++;
		argv--;
	} else if (!c) {
		fprintf(stderr, "natdump: unknown command '%s'\n\n%s", argv[1],
			usage_main);
		return 2;
	}
	memset(&o, 0, sizeof o);
	argc--;
	argv++;
	rfiles = calloc((size_t)argc + 1, sizeof *rfiles);
	if (!rfiles) {
		fprintf(stderr, "natdump: out of memory\n");
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "f:c:o:r:w:ntVh", lo, NULL)) !=
	       -1) {
		switch (opt) {
		case 'f':
			o.filter = optarg;
			break;
		case 'c':
			if (!parse_u64_arg(optarg, &o.count) || o.count == 0)
				goto bad;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'r':
			rfiles[nr++] = optarg;
			break;
		case 'w':
			wout = optarg;
			break;
		case 'n':
			break; /* natdump never resolves names */
		case 't':
			tcount++;
			break;
		case O_SINCE:
			if (!nd_parse_time(optarg, &o.since))
				goto bad;
			o.has_since = true;
			break;
		case O_UNTIL:
			if (!nd_parse_time(optarg, &o.until))
				goto bad;
			o.has_until = true;
			break;
		case O_FLOW:
			if (!parse_u64_arg(optarg, &o.flow))
				goto bad;
			o.has_flow = true;
			break;
		case O_JSON:
			o.json = true;
			break;
		case O_EVENTS:
			o.events = optarg;
			break;
		case 'V':
		case O_VERSION:
			printf("natdump %s (glassnat)\n", GLASSNAT_VERSION);
			free(rfiles);
			return 0;
		case 'h':
			cmd_help(c, stdout);
			free(rfiles);
			return 0;
		default:
			goto usage;
		}
	}
	first = optind;
	if (tcount > ND_T_SINCE) {
		fprintf(stderr, "natdump %s: at most -ttttt\n", c->name);
		goto usage;
	}
	nd_show_time_mode((enum nd_tmode)tcount);
	if (strcmp(c->name, "follow") == 0) {
		if (first >= argc || !parse_u64_arg(argv[first], &o.flow)) {
			fprintf(stderr, "natdump follow: a flow ID is needed\n");
			goto usage;
		}
		o.has_flow = true;
		first++;
	} else if (o.events) {
		fprintf(stderr, "natdump %s: --events is for follow\n", c->name);
		goto usage;
	}
	if (wout) {
		if (strcmp(c->name, "show") == 0) {
			c = find_cmd("export"); /* the same selection */
		} else if (strcmp(c->name, "export") != 0) {
			fprintf(stderr, "natdump %s: -w is for show and "
					"export\n",
				c->name);
			goto usage;
		}
		if (o.out && strcmp(o.out, wout) != 0) {
			fprintf(stderr, "natdump: -w and -o name different "
					"files\n");
			goto usage;
		}
		o.out = wout;
	}
	if (strcmp(c->name, "export") == 0 && !o.out) {
		fprintf(stderr, "natdump export: -o OUT.pcapng is required\n");
		goto usage;
	}
	if (strcmp(c->name, "export") != 0 && o.out) {
		fprintf(stderr, "natdump %s: -o is for export\n", c->name);
		goto usage;
	}
	if (nr > 0) { /* -r: every positional word is the expression */
		o.files = rfiles;
		o.nfiles = nr;
	} else {
		o.files = argv + first;
		while (first < argc && input_word(argv[first])) {
			o.nfiles++;
			first++;
		}
	}
	if (o.nfiles == 0) {
		if (first < argc)
			fprintf(stderr, "natdump %s: '%s' is neither a file nor "
					"a directory (give input first, or "
					"with -r)\n",
				c->name, argv[first]);
		else
			fprintf(stderr, "natdump %s: no FILE or DIR given\n",
				c->name);
		goto usage;
	}
	if (first < argc) {
		expr = join_filter(o.filter, argv + first, argc - first);
		if (!expr) {
			fprintf(stderr, "natdump: out of memory\n");
			free(rfiles);
			return 1;
		}
		o.filter = expr;
	}
	rc = c->run(&o);
	free(expr);
	free(rfiles);
	return rc;
bad:
	fprintf(stderr, "natdump %s: bad value '%s' for %s\n", c->name, optarg,
		argv[optind - 1]);
usage:
	free(rfiles);
	fputc('\n', stderr);
	cmd_help(c, stderr);
	return 2;
}
