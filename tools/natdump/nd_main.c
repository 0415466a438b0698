/* natdump: the offline decoder of glassnat's trace rings and of any
 * pcap/pcapng capture. Command line and help; the work is in nd_*.c.
 * Exit status: 0 ok, 1 damaged input or runtime failure, 2 usage. */
#include "nd.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
	"usage: natdump COMMAND [OPTIONS] FILE|DIR...\n"
	"\n"
	"Decodes glassnat's trace rings (.pcapng.zst), plain pcapng and\n"
	"classic pcap files. A directory is read as one time-ordered stream.\n"
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
	"`natdump COMMAND --help` lists a command's options.\n"
	"exit status: 0 ok, 1 damaged input or failure, 2 usage.\n";

static const char opts_common[] =
	"  -f, --filter BPF    keep pairs where either side matches (libpcap)\n"
	"  -c, --count N       stop after N lines (export: N pairs)\n"
	"      --since TIME    from TIME (epoch seconds or 2023-11-14T22:13:20Z)\n"
	"      --until TIME    up to TIME\n"
	"      --flow ID       only flow ID\n"
	"      --json          one JSON object a line\n"
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

static void cmd_help(const struct cmd *c, FILE *f)
{
	fprintf(f, "usage: %s\n\n%s\noptions:\n%s", c->synopsis, c->about,
		opts_common);
	if (strcmp(c->name, "export") == 0)
		fputs("  -o, --output OUT    the pcapng file to write (required)\n",
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

enum { O_SINCE = 256, O_UNTIL, O_FLOW, O_JSON, O_EVENTS };

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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct cmd *c = NULL;
	struct nd_opts o;
	int opt, first;

	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	/* Hidden: the reasons and their explanations, for the docs test. */
	if (strcmp(argv[1], "--list-reasons") == 0 && argc == 2)
		return nd_list_reasons(stdout);
	if (strcmp(argv[1], "why") == 0) /* its own options: nd_why.c */
		return nd_cmd_why(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			c = &cmds[i];
	if (!c) {
		fprintf(stderr, "natdump: unknown command '%s'\n\n%s", argv[1],
			usage_main);
		return 2;
	}
	memset(&o, 0, sizeof o);
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "f:c:o:h", lo, NULL)) != -1) {
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
		case 'h':
			cmd_help(c, stdout);
			return 0;
		default:
			goto usage;
		}
	}
	first = optind;
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
	if (strcmp(c->name, "export") == 0 && !o.out) {
		fprintf(stderr, "natdump export: -o OUT.pcapng is required\n");
		goto usage;
	}
	if (strcmp(c->name, "export") != 0 && o.out) {
		fprintf(stderr, "natdump %s: -o is for export\n", c->name);
		goto usage;
	}
	if (first >= argc) {
		fprintf(stderr, "natdump %s: no FILE or DIR given\n", c->name);
		goto usage;
	}
	o.files = argv + first;
	o.nfiles = argc - first;
	return c->run(&o);
bad:
	fprintf(stderr, "natdump %s: bad value '%s' for %s\n", c->name, optarg,
		argv[optind - 1]);
usage:
	fputc('\n', stderr);
	cmd_help(c, stderr);
	return 2;
}
