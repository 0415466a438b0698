/* natdump show, flows, drops, stats and export. Each walks the merged
 * input once through the pairer; only `flows` and `drops` keep state that
 * grows (one record per flow or per reason and rule). */
#include "nd.h"

#include <stdlib.h>
#include <string.h>

#include "pcapng_write.h"

/* Shared set-up: input, pairer, filter. */
struct run {
	struct nd_input *in;
	struct nd_pairer *pr;
	struct nd_filter *flt;
	struct nd_out out;
};

/* Returns 0, or the exit status: 2 for a filter libpcap cannot compile
 * (a usage error), 1 for unreadable input. */
static int run_open(struct run *r, const struct nd_opts *o)
{
	bool ok;
	memset(r, 0, sizeof *r);
	r->flt = nd_filter_new(o->filter, &ok);
	if (!ok)
		return 2;
	r->in = nd_input_open(o->files, o->nfiles);
	if (!r->in) {
		nd_filter_free(r->flt);
		return 1;
	}
	r->pr = nd_pairer_new(r->in);
	if (!r->pr) {
		nd_input_close(r->in);
		nd_filter_free(r->flt);
		return 1;
	}
	nd_out_init(&r->out, stdout);
	return 0;
}

static int run_close(struct run *r)
{
	int rc = nd_input_damaged(r->in) ? 1 : 0;
	if (nd_out_finish(&r->out) < 0) {
		fprintf(stderr, "natdump: writing the output failed\n");
		rc = 1;
	}
	nd_pairer_free(r->pr);
	nd_input_close(r->in);
	nd_filter_free(r->flt);
	return rc;
}

static const char *dir_name(uint8_t d)
{
	return d == ND_DIR_OUT ? "out" : d == ND_DIR_IN ? "in" : "-";
}

/* The headers of a unit's pre and post packets (zeroed where absent). */
static void unit_hdrs(const struct nd_unit *u, struct nd_hdr *pre,
		      struct nd_hdr *post)
{
	memset(pre, 0, sizeof *pre);
	memset(post, 0, sizeof *post);
	if (u->pre)
		nd_hdr_parse(pre, u->pre->data, u->pre->caplen,
			     u->pre->linktype);
	if (u->post)
		nd_hdr_parse(post, u->post->data, u->post->caplen,
			     u->post->linktype);
}

/* The quoted packet of an ICMP error as a header to print (ip false when
 * h is NULL or not an error). */
static void inner_hdr(struct nd_hdr *ih, const struct nd_hdr *h)
{
	memset(ih, 0, sizeof *ih);
	if (!h || !h->icmp_err || !h->inner.ip)
		return;
	ih->ip = true;
	ih->proto = h->inner.proto;
	ih->src = h->inner.src;
	ih->dst = h->inner.dst;
	ih->sport = h->inner.sport;
	ih->dport = h->inner.dport;
	ih->ports = h->inner.ports;
}

static enum nd_tmode tmode;
static bool tseen;
static uint64_t tfirst, tprev;

void nd_show_time_mode(enum nd_tmode m)
{
	tmode = m;
	tseen = false;
}

/* The text form of a line's time for the -t modes other than ISO. */
static void time_text(char *buf, size_t len, uint64_t ts)
{
	uint64_t base = ts, d;
	if (!tseen) {
		tfirst = tprev = ts;
		tseen = true;
	}
	if (tmode == ND_T_DELTA)
		base = tprev;
	else if (tmode == ND_T_SINCE)
		base = tfirst;
	tprev = ts;
	if (tmode == ND_T_EPOCH)
		base = 0;
	d = ts >= base ? ts - base : 0;
	snprintf(buf, len, "%llu.%09llu", (unsigned long long)(d / 1000000000u),
		 (unsigned long long)(d % 1000000000u));
}

/* One packet record (show, follow): the pair as one line. Text:
 * "TIME FLOW DIR PROTO PRE → POST [FLAGS seq= ack= len=] VERDICT rule=
 * reason= hairpin"; a packet without a glassnat note is "TIME - - PROTO
 * TUPLE if=NAME". The TCP details stand before the verdict in text and
 * after it in JSON, so they have a text row and a JSON row. */
static void show_unit(struct nd_out *out, const struct nd_unit *u, bool json,
		      bool tcp_detail)
{
	struct nd_hdr pre, post;
	const struct nd_note *n = u->note;
	const struct nd_hdr *any;
	bool g = n->glassnat, td;
	bool iso = tmode == ND_T_ISO || tmode == ND_T_ISO4;
	bool notime = !json && tmode == ND_T_NONE;
	char pb[8], tb[32] = "";

	if (!json && !iso && !notime)
		time_text(tb, sizeof tb, u->ts_ns);
	unit_hdrs(u, &pre, &post);
	any = u->pre ? &pre : &post;
	bool tcp = any->ip && any->proto == 6 && any->ports;
	td = tcp_detail && tcp;
	/* ICMP errors: type and code in words, the quoted tuple as it came
	 * and (translated) as it left. */
	bool ie = any->ip && any->icmp_err;
	char iw[48], ipb[8];
	struct nd_hdr iq_pre, iq_post;
	inner_hdr(&iq_pre, u->pre ? &pre : NULL);
	inner_hdr(&iq_post, u->post ? &post : NULL);
	if (ie)
		nd_icmp_words(any, iw, sizeof iw);
	bool two = ie && iq_pre.ip && iq_post.ip &&
		   (iq_pre.src != iq_post.src || iq_pre.dst != iq_post.dst ||
		    iq_pre.sport != iq_post.sport ||
		    iq_pre.dport != iq_post.dport);
	const struct nd_hdr *iq1 = iq_pre.ip ? &iq_pre : &iq_post;

	const struct nd_field f[] = {
		{"ts", json || iso ? "" : NULL, ND_F_TIME, true, .u = u->ts_ns},
		{NULL, "", ND_F_STR, tb[0] != '\0', .s = tb},
		{"ts_ns", NULL, ND_F_U64, true, .u = u->ts_ns},
		{"flow", notime ? "" : " ", ND_F_U64, g, .dflt = "-",
		 .u = n->flow},
		{"dir", " ", ND_F_WORD, g, .dflt = "-", .s = dir_name(n->dir)},
		{"proto", " ", ND_F_WORD, any->ip,
		 .s = nd_proto_name(any->proto, pb)},
		{"pre", " ", ND_F_TUPLE, u->pre != NULL,
		 .dflt = g ? "-" : NULL, .h = &pre},
		{g ? "post" : "packet", g ? " \xe2\x86\x92 " : " ", ND_F_TUPLE,
		 u->post != NULL, .dflt = "-", .h = &post},
		{NULL, " if=", ND_F_STR, !g && u->post && u->post->if_name,
		 .s = u->post ? u->post->if_name : NULL},
		{NULL, " ", ND_F_TCPFLAGS, tcp, .flags = any->tcp_flags},
		{"icmp", " ", ND_F_STR, ie, .s = iw},
		{"icmp_type", NULL, ND_F_U64, ie, .u = any->icmp_type},
		{"icmp_code", NULL, ND_F_U64, ie, .u = any->icmp_code},
		{"mtu", NULL, ND_F_U64, ie && any->icmp_type == 3 &&
					       any->icmp_code == 4,
		 .u = any->mtu},
		{"inner_proto", " about ", ND_F_WORD, ie && iq1->ip,
		 .s = nd_proto_name(iq1->proto, ipb)},
		{"inner", " ", ND_F_TUPLE, ie && iq1->ip, .h = iq1},
		{"inner_post", " \xe2\x86\x92 ", ND_F_TUPLE, two, .h = &iq_post},
		{NULL, " seq=", ND_F_U64, g && td, .u = any->seq},
		{NULL, " ack=", ND_F_U64, g && td, .u = any->ack},
		{NULL, " len=", ND_F_U64, g && td, .u = any->payload},
		{"verdict", " ", ND_F_STR, g,
		 .s = json || n->verdict[0] ? n->verdict : "-"},
		{"rule", " rule=", ND_F_STR, g && n->rule[0], .s = n->rule},
		{"reason", " reason=", ND_F_STR, g && n->reason[0],
		 .s = n->reason},
		{"map", NULL, ND_F_IPPORT, g && n->has_map, .ip = n->map_ip,
		 .port = n->map_port},
		{"hairpin", " hairpin", ND_F_TRUE, g && n->hairpin, .u = 0},
		{"tcp_flags", NULL, ND_F_TCPFLAGS, tcp, .flags = any->tcp_flags},
		{"seq", NULL, ND_F_U64, td, .u = any->seq},
		{"ack", NULL, ND_F_U64, td, .u = any->ack},
		{"payload", NULL, ND_F_U64, td, .u = any->payload},
		{"len", NULL, ND_F_U64, true,
		 .u = u->pre ? u->pre->len : u->post->len},
	};
	nd_record(out, f, sizeof f / sizeof f[0], json);
}

int nd_cmd_show(const struct nd_opts *o)
{
	struct run r;
	struct nd_unit u;
	uint64_t shown = 0;
	int orc = run_open(&r, o);
	if (orc != 0)
		return orc;
	while (nd_pairer_next(r.pr, &u) == 1) {
		if (!nd_unit_selected(o, r.flt, &u))
			continue;
		show_unit(&r.out, &u, o->json, false);
		if (o->count && ++shown >= o->count)
			break;
	}
	return run_close(&r);
}

/* ---- interned names: rules and reasons are few ---- */

enum { MAX_NAMES = 4096 };

struct names {
	char *s[MAX_NAMES];
	unsigned n;
};

/* Index of s (0 is ""), or 0 when the table is full. */
static unsigned intern(struct names *t, const char *s)
{
	if (!s[0])
		return 0;
	for (unsigned i = 1; i < t->n; i++)
		if (strcmp(t->s[i], s) == 0)
			return i;
	if (t->n == 0)
		t->s[t->n++] = strdup("");
	if (t->n == MAX_NAMES)
		return 0;
	t->s[t->n] = strdup(s);
	return t->s[t->n] ? t->n++ : 0;
}

static const char *name_of(const struct names *t, unsigned i)
{
	return i && i < t->n ? t->s[i] : "";
}

static void names_free(struct names *t)
{
	for (unsigned i = 0; i < t->n; i++)
		free(t->s[i]);
}

/* ---- flows ---- */

enum {
	T_SYN = 1,
	T_SYNACK = 2,
	T_FIN_OUT = 4,
	T_FIN_IN = 8,
	T_RST = 16,
	T_ACK = 32,
};

struct flow {
	uint64_t id;
	bool used, has_in, has_map, has_rem;
	uint8_t proto, tcp;
	uint32_t in_ip, map_ip, rem_ip;
	uint16_t in_port, map_port, rem_port;
	unsigned rule, reason;
	uint64_t first, last, order;
	uint64_t pkts_out, pkts_in, bytes_out, bytes_in, drops;
};

struct flow_tab {
	struct flow *f;
	size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct flow *flow_get(struct flow_tab *t, uint64_t id)
{
	size_t i;
	if (t->n * 2 >= t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		struct flow *nf = calloc(nc, sizeof *nf);
		if (!nf)
			return NULL;
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->f[k].used)
				continue;
			i = mix(t->f[k].id) & (nc - 1);
			while (nf[i].used)
				i = (i + 1) & (nc - 1);
			nf[i] = t->f[k];
		}
		free(t->f);
		t->f = nf;
		t->cap = nc;
	}
	i = mix(id) & (t->cap - 1);
	while (t->f[i].used && t->f[i].id != id)
		i = (i + 1) & (t->cap - 1);
	if (!t->f[i].used) {
		memset(&t->f[i], 0, sizeof t->f[i]);
		t->f[i].used = true;
		t->f[i].id = id;
		t->f[i].order = t->n++;
	}
	return &t->f[i];
}

static void flow_account(struct flow *f, const struct nd_unit *u,
			 struct names *rules, struct names *reasons)
{
	struct nd_hdr pre, post;
	const struct nd_note *n = u->note;
	const struct nd_pkt *p = u->pre ? u->pre : u->post;
	bool out = n->dir != ND_DIR_IN;

	unit_hdrs(u, &pre, &post);
	if (!f->first || u->ts_ns < f->first)
		f->first = u->ts_ns;
	if (u->ts_ns > f->last)
		f->last = u->ts_ns;
	if (!f->proto && (pre.ip || post.ip))
		f->proto = pre.ip ? pre.proto : post.proto;
	if (out) {
		f->pkts_out++;
		f->bytes_out += p->len;
	} else {
		f->pkts_in++;
		f->bytes_in += p->len;
	}
	if (!f->rule && n->rule[0])
		f->rule = intern(rules, n->rule);
	if (strcmp(n->verdict, "drop") == 0) {
		f->drops++;
		f->reason = intern(reasons, n->reason);
	}
	if (out) {
		if (pre.ip && !f->has_in) {
			f->in_ip = pre.src, f->in_port = pre.sport, f->has_in = true;
		}
		if ((pre.ip || post.ip) && !f->has_rem) {
			const struct nd_hdr *h = pre.ip ? &pre : &post;
			f->rem_ip = h->dst, f->rem_port = h->dport;
			f->has_rem = true;
		}
		if (post.ip && !f->has_map) {
			f->map_ip = post.src, f->map_port = post.sport;
			f->has_map = true;
		}
	} else {
		if (pre.ip && !f->has_map) {
			f->map_ip = pre.dst, f->map_port = pre.dport;
			f->has_map = true;
		}
		if ((pre.ip || post.ip) && !f->has_rem) {
			const struct nd_hdr *h = pre.ip ? &pre : &post;
			f->rem_ip = h->src, f->rem_port = h->sport;
			f->has_rem = true;
		}
		if (post.ip && !f->has_in) {
			f->in_ip = post.dst, f->in_port = post.dport;
			f->has_in = true;
		}
	}
	if (n->has_map && !f->has_map) {
		f->map_ip = n->map_ip, f->map_port = n->map_port;
		f->has_map = true;
	}
	if ((pre.ip ? pre.proto : post.proto) == 6) {
		uint8_t fl = pre.ip ? pre.tcp_flags : post.tcp_flags;
		if ((fl & 0x12) == 0x02)
			f->tcp |= T_SYN;
		if ((fl & 0x12) == 0x12)
			f->tcp |= T_SYNACK;
		if ((fl & 0x10) && (f->tcp & T_SYNACK))
			f->tcp |= T_ACK;
		if (fl & 0x01)
			f->tcp |= out ? T_FIN_OUT : T_FIN_IN;
		if (fl & 0x04)
			f->tcp |= T_RST;
	}
}

static const char *flow_end(const struct flow *f)
{
	if (f->proto != 6)
		return "open";
	if (f->tcp & T_RST)
		return "closed";
	if ((f->tcp & (T_FIN_OUT | T_FIN_IN)) == (T_FIN_OUT | T_FIN_IN))
		return "time_wait";
	if (f->tcp & (T_FIN_OUT | T_FIN_IN))
		return "fin_wait";
	if (f->tcp & T_ACK)
		return "established";
	if (f->tcp & T_SYNACK)
		return "syn_received";
	if (f->tcp & T_SYN)
		return "syn_sent";
	return "new";
}

static int cmp_order(const void *a, const void *b)
{
	const struct flow *x = *(struct flow *const *)a;
	const struct flow *y = *(struct flow *const *)b;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* One flow record. Text: "ID PROTO INSIDE ↔ MAPPED ↔ REMOTE rule= first=
 * last= out=P/BB in=P/BB end=END [drops=N:REASON]", or end=dropped:REASON
 * when every packet was dropped; '?' for an endpoint the trace does not
 * show. */
static void put_flow(struct nd_out *out, const struct flow *f,
		     const char *rule, const char *reason, bool json)
{
	bool ports = f->proto == 6 || f->proto == 17 || f->proto == 1;
	bool all_dropped = f->drops && f->drops == f->pkts_in + f->pkts_out;
	char pb[8];
	const struct nd_field fs[] = {
		{"flow", "", ND_F_U64, true, .u = f->id},
		{"proto", " ", ND_F_WORD, true,
		 .s = nd_proto_name(f->proto, pb)},
		{"inside", " ", ND_F_EP, f->has_in, .dflt = "?",
		 .ip = f->in_ip, .port = f->in_port, .ports = ports},
		{"mapped", " \xe2\x86\x94 ", ND_F_EP, f->has_map, .dflt = "?",
		 .ip = f->map_ip, .port = f->map_port, .ports = ports},
		{"remote", " \xe2\x86\x94 ", ND_F_EP, f->has_rem, .dflt = "?",
		 .ip = f->rem_ip, .port = f->rem_port, .ports = ports},
		{"rule", " rule=", ND_F_STR, rule[0] != 0, .dflt = "-",
		 .s = rule},
		{"first", " first=", ND_F_TIME, true, .u = f->first},
		{"last", " last=", ND_F_TIME, true, .u = f->last},
		{"pkts_out", " out=", ND_F_U64, true, .u = f->pkts_out},
		{"bytes_out", "/", ND_F_U64, true, .suffix = "B",
		 .u = f->bytes_out},
		{"pkts_in", " in=", ND_F_U64, true, .u = f->pkts_in},
		{"bytes_in", "/", ND_F_U64, true, .suffix = "B",
		 .u = f->bytes_in},
		{"end", " end=", ND_F_WORD, true,
		 .s = !json && all_dropped ? "dropped" : flow_end(f)},
		{"drops", " drops=", ND_F_U64, f->drops && (json || !all_dropped),
		 .u = f->drops},
		{"drop_reason", ":", ND_F_STR, f->drops != 0, .s = reason},
	};
	nd_record(out, fs, sizeof fs / sizeof fs[0], json);
}

int nd_cmd_flows(const struct nd_opts *o)
{
	struct run r;
	struct nd_unit u;
	struct flow_tab t = {0};
	struct names rules = {0}, reasons = {0};
	struct flow **list = NULL;
	uint64_t shown = 0;
	int rc;

	if ((rc = run_open(&r, o)) != 0)
		return rc;
	while (nd_pairer_next(r.pr, &u) == 1) {
		struct flow *f;
		if (!u.note->glassnat || u.note->flow == 0 ||
		    !nd_unit_selected(o, r.flt, &u))
			continue;
		f = flow_get(&t, u.note->flow);
		if (!f) {
			fprintf(stderr, "natdump: out of memory for flows\n");
			break;
		}
		flow_account(f, &u, &rules, &reasons);
	}
	list = malloc((t.n ? t.n : 1) * sizeof *list);
	if (list) {
		size_t k = 0;
		for (size_t i = 0; i < t.cap; i++)
			if (t.f[i].used)
				list[k++] = &t.f[i];
		qsort(list, k, sizeof *list, cmp_order);
	}
	for (size_t i = 0; list && i < t.n; i++) {
		const struct flow *f = list[i];
		if (o->count && shown++ >= o->count)
			break;
		put_flow(&r.out, f, name_of(&rules, f->rule),
			 name_of(&reasons, f->reason), o->json);
	}
	free(list);
	free(t.f);
	names_free(&rules);
	names_free(&reasons);
	rc = run_close(&r);
	return rc;
}

/* ---- drops ---- */

struct drop_group {
	unsigned reason, rule;
	uint64_t count, ex_flow, ex_ts;
	struct nd_hdr ex;
};

/* One drop group. Text: "REASON rule=R N packets", then "  example: flow
 * ID PROTO TUPLE at TIME" and the reason's "  means:" and "  check:"
 * lines. The example's time stands before its tuple in JSON and after it
 * in text. */
static void put_drop_group(struct nd_out *out, const struct drop_group *g,
			   const char *reason, const char *rule, bool json)
{
	const struct nd_reason_doc *d = nd_reason_doc(reason);
	char pb[8];
	const struct nd_field f[] = {
		{"reason", "", ND_F_STR, true, .s = reason},
		{"rule", " rule=", ND_F_STR, rule[0] != 0, .dflt = "-",
		 .s = rule},
		{"count", " ", ND_F_U64, true,
		 .suffix = g->count == 1 ? " packet\n" : " packets\n",
		 .u = g->count},
		{"example_flow", "  example: flow ", ND_F_U64, true,
		 .u = g->ex_flow},
		{"example_ts", NULL, ND_F_TIME, true, .u = g->ex_ts},
		{NULL, " ", ND_F_WORD, g->ex.ip,
		 .s = nd_proto_name(g->ex.proto, pb)},
		{"example", " ", ND_F_TUPLE, true, .h = &g->ex},
		{NULL, " at ", ND_F_TIME, true, .u = g->ex_ts},
		{"means", "\n  means: ", ND_F_STR, d != NULL,
		 .s = d ? d->meaning : NULL},
		{"check", "\n  check: ", ND_F_STR, d != NULL,
		 .s = d ? d->check : NULL},
	};
	nd_record(out, f, sizeof f / sizeof f[0], json);
}

int nd_cmd_drops(const struct nd_opts *o)
{
	struct run r;
	struct nd_unit u;
	struct names rules = {0}, reasons = {0};
	struct drop_group *g = NULL;
	size_t ng = 0, gcap = 0;
	uint64_t total = 0;

	int orc = run_open(&r, o);
	if (orc != 0)
		return orc;
	while (nd_pairer_next(r.pr, &u) == 1) {
		unsigned re, ru;
		size_t i;
		if (!u.note->glassnat || strcmp(u.note->verdict, "drop") != 0 ||
		    !nd_unit_selected(o, r.flt, &u))
			continue;
		re = intern(&reasons, u.note->reason[0] ? u.note->reason : "?");
		ru = intern(&rules, u.note->rule);
		total++;
		for (i = 0; i < ng; i++)
			if (g[i].reason == re && g[i].rule == ru)
				break;
		if (i == ng) {
			const struct nd_pkt *p = u.pre ? u.pre : u.post;
			if (ng == gcap) {
				size_t nc = gcap ? gcap * 2 : 16;
				struct drop_group *n = realloc(g, nc * sizeof *n);
				if (!n)
					continue;
				g = n;
				gcap = nc;
			}
			memset(&g[ng], 0, sizeof g[ng]);
			g[ng].reason = re;
			g[ng].rule = ru;
			g[ng].ex_flow = u.note->flow;
			g[ng].ex_ts = u.ts_ns;
			nd_hdr_parse(&g[ng].ex, p->data, p->caplen, p->linktype);
			ng++;
		}
		g[i].count++;
	}
	for (size_t i = 0; i < ng; i++)
		put_drop_group(&r.out, &g[i], name_of(&reasons, g[i].reason),
			       name_of(&rules, g[i].rule), o->json);
	if (!o->json && ng == 0)
		nd_puts(&r.out, "no drops\n");
	free(g);
	names_free(&rules);
	names_free(&reasons);
	(void)total;
	return run_close(&r);
}

/* ---- stats ---- */

struct counter {
	unsigned name;
	uint64_t n;
};

static void count_name(struct counter *c, size_t *n, size_t cap,
		       unsigned name)
{
	for (size_t i = 0; i < *n; i++)
		if (c[i].name == name) {
			c[i].n++;
			return;
		}
	if (*n < cap) {
		c[*n].name = name;
		c[(*n)++].n = 1;
	}
}

/* "LABEL NAME COUNT" lines, in order of first appearance. */
static void put_counts(struct nd_out *out, const char *label,
		       const struct counter *c, size_t n,
		       const struct names *names)
{
	for (size_t i = 0; i < n; i++) {
		nd_puts(out, label);
		nd_puts(out, name_of(names, c[i].name));
		nd_putc(out, ' ');
		nd_u64(out, c[i].n);
		nd_putc(out, '\n');
	}
}

int nd_cmd_stats(const struct nd_opts *o)
{
	struct run r;
	struct nd_unit u;
	struct names names = {0};
	struct counter verdicts[64], reasons[256];
	size_t nv = 0, nr = 0;
	uint64_t packets = 0, pairs = 0, pre_only = 0, post_only = 0, plain = 0;
	uint64_t first = UINT64_MAX, last = 0, losses = 0, bytes = 0;
	struct flow_tab t = {0};

	int orc = run_open(&r, o);
	if (orc != 0)
		return orc;
	while (nd_pairer_next(r.pr, &u) == 1) {
		if (!nd_unit_selected(o, r.flt, &u))
			continue;
		packets += (u.pre != NULL) + (u.post != NULL);
		if (u.pre) {
			bytes += u.pre->len;
			losses += u.pre->dropcount;
		}
		if (u.post) {
			bytes += u.post->len;
			losses += u.post->dropcount;
		}
		if (u.ts_ns < first)
			first = u.ts_ns;
		if (u.ts_ns > last)
			last = u.ts_ns;
		if (!u.note->glassnat) {
			plain++;
			continue;
		}
		if (u.pre && u.post)
			pairs++;
		else if (u.pre)
			pre_only++;
		else
			post_only++;
		if (u.note->flow && !flow_get(&t, u.note->flow))
			break;
		count_name(verdicts, &nv, 64,
			   intern(&names, u.note->verdict[0] ? u.note->verdict
							     : "?"));
		if (u.note->reason[0])
			count_name(reasons, &nr, 256,
				   intern(&names, u.note->reason));
	}
	nd_puts(&r.out, "files        ");
	nd_u64(&r.out, nd_input_files(r.in));
	if (nd_input_damaged(r.in)) {
		nd_puts(&r.out, " (");
		nd_u64(&r.out, nd_input_damaged(r.in));
		nd_puts(&r.out, " damaged)");
	}
	nd_puts(&r.out, "\ntime span    ");
	if (first <= last) {
		uint64_t span = last - first;
		char frac[16];
		nd_time(&r.out, first);
		nd_puts(&r.out, " .. ");
		nd_time(&r.out, last);
		nd_puts(&r.out, " (");
		nd_u64(&r.out, span / 1000000000u);
		snprintf(frac, sizeof frac, ".%03u s)",
			 (unsigned)(span % 1000000000u / 1000000u));
		nd_puts(&r.out, frac);
	} else {
		nd_putc(&r.out, '-');
	}
	nd_puts(&r.out, "\npackets      ");
	nd_u64(&r.out, packets);
	nd_puts(&r.out, " (");
	nd_u64(&r.out, bytes);
	nd_puts(&r.out, " bytes)\npairs        ");
	nd_u64(&r.out, pairs);
	nd_puts(&r.out, "\npre only     ");
	nd_u64(&r.out, pre_only);
	nd_puts(&r.out, "\npost only    ");
	nd_u64(&r.out, post_only);
	nd_puts(&r.out, "\nplain        ");
	nd_u64(&r.out, plain);
	nd_puts(&r.out, "\nflows        ");
	nd_u64(&r.out, t.n);
	nd_puts(&r.out, "\ntrace losses ");
	nd_u64(&r.out, losses + nd_input_ifdrop(r.in));
	nd_putc(&r.out, '\n');
	put_counts(&r.out, "verdict ", verdicts, nv, &names);
	put_counts(&r.out, "reason ", reasons, nr, &names);
	free(t.f);
	names_free(&names);
	return run_close(&r);
}

/* ---- export ---- */

enum { MAX_OUT_IFS = 256 };

struct exp_ifs {
	struct {
		char name[CAP_MAX_STR];
		uint32_t linktype;
	} ifs[MAX_OUT_IFS];
	unsigned n;
};

/* The output interface for a packet: interfaces with the same name and
 * link type are merged, so a ring set keeps pre-nat and post-nat. */
static int exp_iface(struct pcapng_w *w, struct exp_ifs *t,
		     const struct nd_pkt *p, char *err, size_t errlen)
{
	char name[CAP_MAX_STR];
	int id;
	if (p->if_name)
		snprintf(name, sizeof name, "%s", p->if_name);
	else
		snprintf(name, sizeof name, "if%u", (unsigned)p->ifindex);
	for (unsigned i = 0; i < t->n; i++)
		if (t->ifs[i].linktype == p->linktype &&
		    strcmp(t->ifs[i].name, name) == 0)
			return (int)i;
	if (t->n == MAX_OUT_IFS) {
		snprintf(err, errlen, "more than %u interfaces",
			 (unsigned)MAX_OUT_IFS);
		return -1;
	}
	id = pcapng_w_interface(w, name, (uint16_t)p->linktype, err, errlen);
	if (id < 0)
		return -1;
	snprintf(t->ifs[t->n].name, sizeof t->ifs[t->n].name, "%s", name);
	t->ifs[t->n].linktype = p->linktype;
	t->n++;
	return id;
}

static int exp_packet(struct pcapng_w *w, struct exp_ifs *t,
		      const struct nd_pkt *p, char *err, size_t errlen)
{
	int id = exp_iface(w, t, p, err, errlen);
	uint32_t dir = (p->has & CAP_HAS_FLAGS) ? (p->flags & CAP_DIR_MASK) : 0;
	if (id < 0)
		return -1;
	return pcapng_w_packet(w, (uint32_t)id, p->ts_ns, p->data, p->caplen,
			       p->len, dir, p->comment, err, errlen);
}

int nd_cmd_export(const struct nd_opts *o)
{
	struct run r;
	struct nd_unit u;
	struct exp_ifs *t = calloc(1, sizeof *t);
	struct pcapng_w *w = NULL;
	FILE *f;
	char err[256];
	int rc;
	uint64_t shown = 0;
	bool failed = false;

	if (!t)
		return 1;
	if ((rc = run_open(&r, o)) != 0) {
		free(t);
		return rc;
	}
	f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "wb");
	if (!f) {
		fprintf(stderr, "natdump: %s: %m\n", o->out);
		free(t);
		run_close(&r);
		return 1;
	}
	w = pcapng_w_open_file(f, err, sizeof err);
	if (!w)
		failed = true;
	while (!failed && nd_pairer_next(r.pr, &u) == 1) {
		if (!nd_unit_selected(o, r.flt, &u))
			continue;
		if ((u.pre && exp_packet(w, t, u.pre, err, sizeof err) < 0) ||
		    (u.post && exp_packet(w, t, u.post, err, sizeof err) < 0))
			failed = true;
		if (o->count && ++shown >= o->count)
			break;
	}
	pcapng_w_close(w);
	if ((f == stdout ? fflush(f) : fclose(f)) != 0 && !failed) {
		snprintf(err, sizeof err, "%m");
		failed = true;
	}
	if (failed)
		fprintf(stderr, "natdump: %s: %s\n", o->out, err);
	free(t);
	rc = run_close(&r);
	return failed ? 1 : rc;
}

void nd_show_unit(struct nd_out *out, const struct nd_unit *u, bool json,
		  bool tcp_detail)
{
	show_unit(out, u, json, tcp_detail);
}
