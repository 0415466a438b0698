/* natdump why: answers "why did this fail?" for a flow, a port, an
 * address or a 5-tuple (or the gateway as a whole) with one sentence
 * naming the cause and its fix, then the evidence. This file reads what
 * glassnat recorded (the trace rings, the events file) and runs the
 * command; nd_why_live.c adds the config, the live host and the control
 * socket; nd_why_rules.c decides. */
#include "nd_why_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lint.h"

const char *nd_why_ip(uint32_t a, char *b)
{
	snprintf(b, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
	return b;
}

void nd_why_note(struct gather *g, const char *fmt, ...)
{
	if (g->n_notes >= sizeof g->notes / sizeof g->notes[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->notes[g->n_notes++], sizeof g->notes[0], fmt, ap);
	va_end(ap);
}

static enum nat_reason reason_of(const char *name)
{
	for (int r = 1; r < NAT_R_MAX; r++)
		if (strcmp(nat_reason_name((enum nat_reason)r), name) == 0)
			return (enum nat_reason)r;
	return NAT_R_NONE;
}

void nd_why_count_flow(struct gather *g, uint64_t id)
{
	if (!id)
		return;
	for (size_t i = 0; i < g->n_flow_ids; i++)
		if (g->flow_ids[i] == id)
			return;
	if (g->n_flow_ids < FLOWS_MAX)
		g->flow_ids[g->n_flow_ids++] = id;
}

static bool in_time(const struct gather *g, uint64_t ts)
{
	return (!g->has_since || ts >= g->since) &&
	       (!g->has_until || ts <= g->until);
}

/* ---- the trace ---- */

static bool hdr_has(const struct nd_hdr *h, const struct nd_why_target *t)
{
	if (!h->ip)
		return false;
	switch (t->kind) {
	case ND_WHY_PORT:
		if (h->proto == t->proto && h->ports &&
		    (h->sport == t->port || h->dport == t->port))
			return true;
		return h->icmp_err && h->inner.proto == t->proto &&
		       (h->inner.sport == t->port || h->inner.dport == t->port);
	case ND_WHY_ADDR:
		return h->src == t->addr || h->dst == t->addr ||
		       (h->icmp_err &&
			(h->inner.src == t->addr || h->inner.dst == t->addr));
	case ND_WHY_TUPLE:
		if (h->proto != t->proto || !h->ports)
			return false;
		return (h->src == t->src && h->sport == t->sport &&
			h->dst == t->dst && h->dport == t->dport) ||
		       (h->src == t->dst && h->sport == t->dport &&
			h->dst == t->src && h->dport == t->sport);
	default:
		return false;
	}
}

static bool unit_matches(const struct nd_why_target *t, const struct nd_unit *u,
			 const struct nd_hdr *pre, const struct nd_hdr *post)
{
	switch (t->kind) {
	case ND_WHY_ALL:
		return true;
	case ND_WHY_FLOW:
		return u->note->glassnat && u->note->flow == t->flow;
	default:
		return hdr_has(pre, t) || hdr_has(post, t);
	}
}

static void tuple_of(struct nd_why_tuple *x, const struct nd_hdr *h)
{
	x->proto = h->proto;
	x->tcp_flags = h->tcp_flags;
	x->src = h->src;
	x->dst = h->dst;
	x->sport = h->ports ? h->sport : 0;
	x->dport = h->ports ? h->dport : 0;
}

static void icmp_of(struct nd_why_icmp *ic, const struct nd_hdr *h)
{
	if (ic->n++)
		return;
	ic->type = h->icmp_type;
	ic->code = h->icmp_code;
	ic->mtu = h->mtu;
	ic->router = h->src;
	ic->about.proto = h->inner.proto;
	ic->about.src = h->inner.src;
	ic->about.dst = h->inner.dst;
	ic->about.sport = h->inner.ports ? h->inner.sport : 0;
	ic->about.dport = h->inner.ports ? h->inner.dport : 0;
}

static struct fwd_seen *fwd_get(struct gather *g, uint64_t id)
{
	for (size_t i = 0; i < g->n_fwd; i++)
		if (g->fwd[i].id == id)
			return &g->fwd[i];
	if (g->n_fwd >= FWD_MAX)
		return NULL;
	struct fwd_seen *s = &g->fwd[g->n_fwd++];
	memset(s, 0, sizeof *s);
	s->id = id;
	return s;
}

/* The rule a flow matched and its first packet's tuple, for the shadow
 * check (outbound flows: inside > remote:port). */
static void shadow_check(struct gather *g, const char *rule, uint8_t proto,
			 uint32_t src, uint32_t dst, uint16_t dport)
{
	const struct nat_config *c = g->cfg;
	if (!c || g->f.shadowed[0] || !rule[0])
		return;
	size_t i;
	for (i = 0; i < c->n_rules; i++)
		if (strcmp(c->rules[i].name, rule) == 0)
			break;
	if (i == c->n_rules)
		return;
	for (size_t j = i + 1; j < c->n_rules; j++) {
		if (!nat_rule_covers(&c->rules[i], &c->rules[j]) ||
		    !nat_rule_matches_tuple(&c->rules[j], proto, src, dst,
					    dport))
			continue;
		snprintf(g->f.shadowed, sizeof g->f.shadowed, "%s",
			 c->rules[j].name);
		snprintf(g->f.shadower, sizeof g->f.shadower, "%s", rule);
		g->f.shadowed_line = c->rules[j].line;
		g->f.shadower_line = c->rules[i].line;
		return;
	}
}

static void take_unit(struct gather *g, const struct nd_unit *u,
		      const struct nd_hdr *pre, const struct nd_hdr *post)
{
	struct nd_why_facts *f = &g->f;
	const struct nd_note *n = u->note;
	const struct nd_hdr *any = u->pre ? pre : post;
	bool interesting = false;

	f->units++;
	nd_why_count_flow(g, n->glassnat ? n->flow : 0);
	if (n->dir == ND_DIR_IN)
		f->units_in++;
	else if (n->dir == ND_DIR_OUT)
		f->units_out++;
	enum nat_reason r = n->reason[0] ? reason_of(n->reason) : NAT_R_NONE;
	if (strcmp(n->verdict, "drop") == 0 && r != NAT_R_NONE) {
		if (!f->drops[r]++)
			tuple_of(&f->drop_ex[r], any);
		if (r == NAT_R_RULE_DROP && n->rule[0])
			snprintf(f->drop_rule, sizeof f->drop_rule, "%s",
				 n->rule);
		if (r == NAT_R_NO_MAPPING && any->ip && any->proto == 6 &&
		    (any->tcp_flags & 0x12) == 0x12 &&
		    (!g->cfg || (any->dport >= g->cfg->port_range.lo &&
				 any->dport <= g->cfg->port_range.hi))) {
			if (!f->synack_no_mapping++)
				tuple_of(&f->synack_ex, any);
		}
		interesting = true;
	} else if (strcmp(n->verdict, "pass") == 0 && r != NAT_R_NONE) {
		f->passes[r]++;
		if (r == NAT_R_NO_FORWARD && !f->unowned_ex.proto)
			tuple_of(&f->unowned_ex, any);
		interesting = r == NAT_R_NO_FORWARD;
	} else if (strcmp(n->verdict, "nat") == 0) {
		f->natted++;
	}
	if (any->ip && any->proto == 1 && any->icmp_err) {
		if (any->icmp_type == 3 && any->icmp_code == 4)
			icmp_of(&f->mtu, any);
		else if (any->icmp_type == 11)
			icmp_of(&f->ttl, any);
		else if (any->icmp_type == 3)
			icmp_of(&f->unreach, any);
		else
			icmp_of(&f->other_icmp, any);
		interesting = true;
	}
	/* Forward flows: did the inside host ever send? */
	if (n->glassnat && n->flow && strncmp(n->rule, "forward:", 8) == 0) {
		struct fwd_seen *s = fwd_get(g, n->flow);
		if (s) {
			if (n->dir == ND_DIR_IN) {
				s->in++;
				if (post->ip && !s->ip) {
					s->ip = post->dst;
					s->port = post->dport;
					s->ext = pre->ip ? pre->dport : 0;
					s->proto = post->proto;
					snprintf(s->name, sizeof s->name, "%s",
						 n->rule + 8);
				}
			} else {
				s->out++;
			}
		}
	}
	if (n->glassnat && n->dir == ND_DIR_OUT && pre->ip && n->rule[0])
		shadow_check(g, n->rule, pre->proto, pre->src, pre->dst,
			     pre->ports ? pre->dport : 0);
	if (n->rule[0] && !f->flow_rule[0])
		snprintf(f->flow_rule, sizeof f->flow_rule, "%s", n->rule);

	if (interesting ? g->n_pkt_lines < PKT_LINES_MAX
			: g->n_plain_lines < PLAIN_LINES_MAX) {
		nd_show_unit(&g->pout, u, false, true);
		if (interesting)
			g->n_pkt_lines++;
		else
			g->n_plain_lines++;
	} else {
		g->pkt_more++;
	}
}

static int read_trace(struct gather *g, char **files, int n)
{
	struct nd_input *in = nd_input_open(files, n);
	struct nd_pairer *pr = in ? nd_pairer_new(in) : NULL;
	struct nd_unit u;
	int rc = 0;
	if (!pr) {
		nd_input_close(in);
		return 1;
	}
	while (nd_pairer_next(pr, &u) == 1) {
		struct nd_hdr pre, post;
		if (!in_time(g, u.ts_ns))
			continue;
		memset(&pre, 0, sizeof pre);
		memset(&post, 0, sizeof post);
		if (u.pre)
			nd_hdr_parse(&pre, u.pre->data, u.pre->caplen,
				     u.pre->linktype);
		if (u.post)
			nd_hdr_parse(&post, u.post->data, u.post->caplen,
				     u.post->linktype);
		if (unit_matches(&g->f.target, &u, &pre, &post))
			take_unit(g, &u, &pre, &post);
	}
	if (nd_input_damaged(in))
		rc = 1;
	nd_pairer_free(pr);
	nd_input_close(in);
	return rc;
}

/* ---- the events ---- */


static struct ep ep_of(json_t *o, const char *key)
{
	struct ep e = { 0 };
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(json_object_get(v, "ip"));
	struct nd_why_target t;
	if (!s || !nd_why_parse_target(s, &t) || t.kind != ND_WHY_ADDR)
		return e;
	e.on = true;
	e.ip = t.addr;
	e.port = (uint16_t)json_integer_value(json_object_get(v, "port"));
	return e;
}

uint8_t nd_why_ev_proto(json_t *o)
{
	const char *p = json_string_value(json_object_get(o, "proto"));
	if (!p)
		return (uint8_t)json_integer_value(json_object_get(o, "proto"));
	return strcmp(p, "tcp") == 0 ? 6 : strcmp(p, "udp") == 0 ? 17
					 : strcmp(p, "icmp") == 0 ? 1 : 0;
}

bool nd_why_ev_matches(const struct nd_why_target *t, json_t *o, uint8_t proto,
		       const struct ep *eps, size_t n)
{
	switch (t->kind) {
	case ND_WHY_ALL:
		return true;
	case ND_WHY_FLOW:
		return (uint64_t)json_integer_value(json_object_get(o, "flow")) ==
		       t->flow;
	case ND_WHY_PORT:
		if (proto != t->proto)
			return false;
		for (size_t i = 0; i < n; i++)
			if (eps[i].on && eps[i].port == t->port)
				return true;
		return false;
	case ND_WHY_ADDR:
		for (size_t i = 0; i < n; i++)
			if (eps[i].on && eps[i].ip == t->addr)
				return true;
		return false;
	case ND_WHY_TUPLE: {
		bool s = false, d = false;
		for (size_t i = 0; i < n; i++) {
			if (!eps[i].on)
				continue;
			s |= (eps[i].ip == t->src && eps[i].port == t->sport);
			d |= (eps[i].ip == t->dst && eps[i].port == t->dport);
		}
		return proto == t->proto && s && d;
	}
	}
	return false;
}

bool nd_why_json_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* The final stats event: the queue's counters, whatever their names
 * (queue_dropped, queue_overflow, user_dropped, enobufs ...), and for the
 * whole gateway the drops by reason. */
void nd_why_take_stats(struct gather *g, json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		uint64_t x;
		if (!nd_why_json_u64(v, &x))
			continue;
		if (strstr(k, "user_dropped") || strstr(k, "socket_full")) {
			g->f.queue_known = true;
			g->f.user_dropped += x;
		} else if (strstr(k, "queue_dropped") ||
			   strstr(k, "queue_overflow") ||
			   strstr(k, "overflow")) {
			g->f.queue_known = true;
			g->f.queue_dropped += x;
		}
	}
	json_t *q = json_object_get(o, "queue");
	if (json_is_object(q))
		nd_why_take_stats(g, q);
	if (g->f.target.kind != ND_WHY_ALL)
		return;
	json_t *br = json_object_get(o, "by_reason");
	json_object_foreach(br, k, v)
	{
		uint64_t x;
		enum nat_reason r = reason_of(k);
		if (r != NAT_R_NONE && nd_why_json_u64(v, &x) && x > g->ev_drops[r] &&
		    r != NAT_R_NO_FORWARD && r != NAT_R_TO_HOST &&
		    r != NAT_R_NOT_OURS && r != NAT_R_NOT_INSIDE &&
		    r != NAT_R_HOST_INTERNAL && r != NAT_R_IPV6)
			g->ev_drops[r] = x;
	}
}

static void take_event(struct gather *g, json_t *o, const char *line)
{
	struct nd_why_facts *f = &g->f;
	const char *ev = json_string_value(json_object_get(o, "ev"));
	if (!ev)
		return;
	if (strcmp(ev, "stats") == 0) {
		nd_why_take_stats(g, o);
		return;
	}
	uint8_t proto = nd_why_ev_proto(o);
	struct ep eps[3] = { ep_of(o, "inside"), ep_of(o, "mapped"),
			     ep_of(o, "remote") };
	if (!nd_why_ev_matches(&f->target, o, proto, eps, 3))
		return;
	bool keep = true;
	const char *reason = json_string_value(json_object_get(o, "reason"));
	const char *rule = json_string_value(json_object_get(o, "rule"));
	uint64_t flow = 0;
	(void)nd_why_json_u64(json_object_get(o, "flow"), &flow);
	if (strcmp(ev, "pkt.drop") == 0 && reason) {
		enum nat_reason r = reason_of(reason);
		struct nd_why_tuple x = { .proto = proto };
		if (eps[0].on) {
			x.src = eps[0].ip, x.sport = eps[0].port;
			x.dst = eps[2].ip, x.dport = eps[2].port;
		} else {
			x.src = eps[2].ip, x.sport = eps[2].port;
			x.dst = eps[1].ip, x.dport = eps[1].port;
		}
		if (r != NAT_R_NONE && !g->ev_drops[r]++ && !f->drops[r])
			f->drop_ex[r] = x;
		if (r == NAT_R_RULE_DROP && rule && !f->drop_rule[0])
			snprintf(f->drop_rule, sizeof f->drop_rule, "%s", rule);
	} else if (strcmp(ev, "pkt.unowned") == 0) {
		if (!g->ev_unowned++ && !f->unowned_ex.proto) {
			f->unowned_ex.proto = proto;
			f->unowned_ex.src = eps[2].ip;
			f->unowned_ex.sport = eps[2].port;
			f->unowned_ex.dst = eps[1].ip;
			f->unowned_ex.dport = eps[1].port;
		}
	} else if (strcmp(ev, "forward.unanswered") == 0) {
		const char *ng = json_string_value(json_object_get(o, "neigh"));
		f->fwd_unanswered++;
		/* The worst state seen wins: one answered ARP is enough
		 * to say the host exists. */
		if (ng && (!f->neigh[0] || strcmp(f->neigh, "unknown") == 0 ||
			   strcmp(ng, "REACHABLE") == 0 ||
			   strcmp(ng, "STALE") == 0))
			snprintf(f->neigh, sizeof f->neigh, "%s", ng);
		f->fwd_ip = eps[0].ip;
		f->fwd_port = eps[0].port;
		f->fwd_ext = eps[1].port;
		f->fwd_proto = proto;
		if (rule)
			snprintf(f->fwd_name, sizeof f->fwd_name, "%s", rule);
	} else if (strcmp(ev, "port.exhausted") == 0 ||
		   strcmp(ev, "table.full") == 0) {
		uint64_t *c = ev[0] == 'p' ? &f->port_exhausted
					   : &f->table_full;
		if (!f->port_exhausted && !f->table_full) {
			f->limit_ex.proto = proto;
			f->limit_ex.src = eps[0].ip;
			f->limit_ex.sport = eps[0].port;
			f->limit_ex.dst = eps[2].ip;
			f->limit_ex.dport = eps[2].port;
		}
		(*c)++;
	} else if (strcmp(ev, "flow.open") == 0) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		g->ev_flows++;
		nd_why_count_flow(g, flow);
		if (kind && strcmp(kind, "forward") == 0)
			f->fwd_flows++;
		else if (rule)
			shadow_check(g, rule, proto, eps[0].ip, eps[2].ip,
				     eps[2].port);
		if (rule && !f->flow_rule[0])
			snprintf(f->flow_rule, sizeof f->flow_rule, "%s", rule);
		keep = f->target.kind == ND_WHY_FLOW;
	} else if (strcmp(ev, "flow.close") == 0 ||
		   strcmp(ev, "flow.evicted") == 0) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		uint64_t in = 0, out = 0;
		(void)nd_why_json_u64(json_object_get(o, "pkts_in"), &in);
		(void)nd_why_json_u64(json_object_get(o, "pkts_out"), &out);
		if (kind && strcmp(kind, "forward") == 0 && in && !out) {
			g->ev_fwd_silent++;
			if (!f->fwd_ip) {
				f->fwd_ip = eps[0].ip;
				f->fwd_port = eps[0].port;
				f->fwd_ext = eps[1].port;
				f->fwd_proto = proto;
				if (rule)
					snprintf(f->fwd_name,
						 sizeof f->fwd_name, "%s",
						 rule);
			}
		} else {
			keep = f->target.kind == ND_WHY_FLOW;
		}
	} else {
		keep = false;
	}
	if (!keep)
		return;
	if (g->n_ev_lines < EV_LINES_MAX) {
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		char *copy = malloc(n + 1);
		if (copy) {
			memcpy(copy, line, n);
			copy[n] = '\0';
			g->ev_lines[g->n_ev_lines++] = copy;
		}
	} else {
		g->ev_more++;
	}
}

static bool ev_time(json_t *o, uint64_t *ns)
{
	const char *s = json_string_value(json_object_get(o, "ts"));
	char tmp[64];
	size_t n = s ? strlen(s) : 0;
	if (!n || n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n + 1);
	return nd_parse_time(tmp, ns);
}

static int read_events(struct gather *g, const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;
	if (!fp) {
		fprintf(stderr, "natdump why: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = getline(&line, &cap, fp)) >= 0) {
		json_error_t jerr;
		lineno++;
		if (n <= 1 || line[0] != '{')
			continue; /* text lines of a mixed log */
		json_t *o = json_loadb(line, (size_t)n, 0, &jerr);
		uint64_t ts = 0;
		if (!o || !json_is_object(o)) {
			fprintf(stderr, "natdump why: %s:%zu: %s\n", path,
				lineno, o ? "not a JSON object" : jerr.text);
			rc = 1;
		} else if (!ev_time(o, &ts) || in_time(g, ts)) {
			take_event(g, o, line);
		}
		json_decref(o);
	}
	free(line);
	fclose(fp);
	return rc;
}

/* ---- the command ---- */

static const char usage[] =
	"usage: natdump why [TARGET] [--events FILE] [--config FILE] [--live]\n"
	"                   [-s SOCKET] [--since TIME] [--until TIME] [FILE|DIR...]\n"
	"\n"
	"Answers \"why did this fail?\" with one sentence naming the cause and\n"
	"its fix, then the evidence (packets, events, counters, config).\n"
	"TARGET is a flow id (42), a port (tcp/8081), an address\n"
	"(172.17.240.21) or a 5-tuple (\"tcp 198.51.100.7:5000 > 203.0.113.1:80\");\n"
	"none: the gateway as a whole. FILE|DIR are glassnat's trace rings.\n"
	"\n"
	"options:\n"
	"      --events FILE   glassnat's events (JSON lines: --events of run)\n"
	"      --config FILE   the gateway's config: rules, internal_network\n"
	"      --live          on the gateway: read the kernel's queue counters,\n"
	"                      interfaces and ports too\n"
	"  -s, --socket PATH   ask the running gateway (its control socket) for\n"
	"                      its counters and live flows\n"
	"      --since TIME    from TIME (epoch seconds or 2023-11-14T22:13:20Z)\n"
	"      --until TIME    up to TIME\n"
	"  -h, --help          this text\n"
	"\n"
	"The causes, most specific first: wrong internal_network, the host's\n"
	"own traffic in port_range, port exhaustion, table full, filtering,\n"
	"rule drop, a shadowed rule, a forward's target not answering ARP or\n"
	"answering but routing its replies elsewhere, no forward for the port,\n"
	"ICMP errors (frag-needed with the MTU, time-exceeded, unreachable),\n"
	"other drops, queue overflow; else \"no problem seen\".\n"
	"exit status: 0 answered, 1 unreadable or damaged input, 2 usage.\n";

static bool is_path(const char *s)
{
	struct stat st;
	return stat(s, &st) == 0;
}

enum { W_EVENTS = 256, W_CONFIG, W_LIVE, W_SINCE, W_UNTIL };

int nd_cmd_why(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "events", required_argument, NULL, W_EVENTS },
		{ "config", required_argument, NULL, W_CONFIG },
		{ "live", no_argument, NULL, W_LIVE },
		{ "since", required_argument, NULL, W_SINCE },
		{ "until", required_argument, NULL, W_UNTIL },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *events = NULL, *config = NULL, *sock = NULL;
	bool live = false;
	int opt, rc = 0;
	struct gather *g = calloc(1, sizeof *g);
	if (!g) {
		fputs("natdump why: out of memory\n", stderr);
		return 1;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "hs:", lo, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case W_EVENTS:
			events = optarg;
			break;
		case W_CONFIG:
			config = optarg;
			break;
		case W_LIVE:
			live = true;
			break;
		case W_SINCE:
		case W_UNTIL:
			if (!nd_parse_time(optarg, opt == W_SINCE ? &g->since
								  : &g->until)) {
				fprintf(stderr,
					"natdump why: bad time '%s'\n\n%s",
					optarg, usage);
				free(g);
				return 2;
			}
			if (opt == W_SINCE)
				g->has_since = true;
			else
				g->has_until = true;
			break;
		case 'h':
			fputs(usage, stdout);
			free(g);
			return 0;
		default:
			fputs(usage, stderr);
			free(g);
			return 2;
		}
	}
	/* The target: the first words that parse as one and name no file
	 * ("tcp A:P > B:P" may come as up to four words). */
	int first = optind;
	if (first < argc && !is_path(argv[first])) {
		char joined[128] = "";
		int used = 0;
		for (int k = 0; k < 4 && first + k < argc; k++) {
			size_t l = strlen(joined);
			snprintf(joined + l, sizeof joined - l, "%s%s",
				 k ? " " : "", argv[first + k]);
			struct nd_why_target t;
			if (nd_why_parse_target(joined, &t)) {
				g->f.target = t;
				used = k + 1;
			}
		}
		if (!used) {
			fprintf(stderr,
				"natdump why: '%s' is no target (flow id, "
				"tcp/PORT, address or 5-tuple) and no file\n\n%s",
				argv[first], usage);
			free(g);
			return 2;
		}
		first += used;
	}
	if (first >= argc && !events && !live && !config && !sock) {
		fprintf(stderr, "natdump why: nothing to read: give the trace "
				"rings, --events, --config or --live\n\n%s",
			usage);
		free(g);
		return 2;
	}

	struct nat_config cfg;
	bool have_cfg = false;
	if (config) {
		char err[512];
		if (nat_config_load(config, &cfg, err, sizeof err) != 0) {
			fprintf(stderr, "natdump why: %s\n", err);
			free(g);
			return 2;
		}
		have_cfg = true;
		g->cfg = &cfg;
	}
	g->pkts = tmpfile();
	if (!g->pkts) {
		fprintf(stderr, "natdump why: tmpfile: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	nd_out_init(&g->pout, g->pkts);
	if (first < argc && read_trace(g, argv + first, argc - first))
		rc = 1;
	if (events && read_events(g, events))
		rc = 1;
	if (sock && nd_why_read_socket(g, sock))
		rc = 1;
	/* Merge the two sources (each drop may be in both). */
	struct nd_why_facts *f = &g->f;
	for (int r = 0; r < NAT_R_MAX; r++)
		if (g->ev_drops[r] > f->drops[r])
			f->drops[r] = g->ev_drops[r];
	if (g->ev_unowned > f->unowned)
		f->unowned = g->ev_unowned;
	f->flows = g->n_flow_ids;
	if (!f->fwd_unanswered) {
		uint64_t silent = 0;
		for (size_t i = 0; i < g->n_fwd; i++) {
			const struct fwd_seen *s = &g->fwd[i];
			if (!s->in || s->out)
				continue;
			if (!silent++ && !f->fwd_ip) {
				f->fwd_ip = s->ip;
				f->fwd_port = s->port;
				f->fwd_ext = s->ext;
				f->fwd_proto = s->proto;
				snprintf(f->fwd_name, sizeof f->fwd_name, "%s",
					 s->name);
			}
		}
		f->fwd_unanswered = silent > g->ev_fwd_silent ? silent
							       : g->ev_fwd_silent;
	}
	if (have_cfg)
		nd_why_take_config(g, &cfg, live);
	if (live)
		nd_why_take_proc_queue(g);

	char sentence[1024];
	enum nd_why_cause c = nd_why_decide(f, sentence, sizeof sentence);
	printf("%s\n", sentence);
	for (size_t i = 0; i < g->n_notes; i++)
		printf("  %s\n", g->notes[i]);
	for (size_t i = 0; i < g->n_ev_lines; i++)
		printf("  event %s\n", g->ev_lines[i]);
	if (g->ev_more)
		printf("  ... %zu more events\n", g->ev_more);
	for (int r = 1; r < NAT_R_MAX; r++)
		if (f->drops[r] || f->passes[r])
			printf("  counter %s=%llu\n",
			       nat_reason_name((enum nat_reason)r),
			       (unsigned long long)(f->drops[r] + f->passes[r]));
	fflush(stdout);
	if (nd_out_finish(&g->pout) < 0)
		rc = 1;
	rewind(g->pkts);
	char line[2048];
	while (fgets(line, sizeof line, g->pkts))
		printf("  packet %s", line);
	if (g->pkt_more)
		printf("  ... %zu more packets (natdump show)\n", g->pkt_more);
	printf("  (cause: %s)\n", nd_why_cause_name(c));
	if (fflush(stdout) != 0)
		rc = 1;
out:
	free(g->pout.buf); /* NULL after nd_out_finish */
	if (g->pkts)
		fclose(g->pkts);
	for (size_t i = 0; i < g->n_ev_lines; i++)
		free(g->ev_lines[i]);
	if (have_cfg)
		nat_config_free(&cfg);
	free(g);
	return rc;
}
