/* The fast path's differential test: the BPF program (run with
 * BPF_PROG_TEST_RUN on an Ethernet frame) against the engine
 * (nat_process) on copies of the same packets. Every flow's first
 * packets go through the engine alone; the rewrite each direction got is
 * read off what the engine did and installed with the loader
 * (nat_fastpath_ops().install); from then on every packet goes through
 * both, and a packet the program must translate has to come out
 * byte-identical to the engine's (checksums included) with the hit mark,
 * while a packet it must not translate (SYN/FIN/RST, fragments, ICMP
 * errors, malformed, flows not installed) has to come out untouched with
 * only the queue bits of its mark set. Removing a flow must return the
 * packets and bytes the program translated.
 *
 * The groups run twice where they can: with the rewrites read off the
 * engine's output and installed by the test, then with the engine
 * deciding what to offload and installing it itself
 * (nat_engine_set_offload), the test recording those calls on their way
 * to the loader ("engine offloads: ...").
 *
 * Output: "ok - ..." / "not ok - ..." / "ok - ... # SKIP reason" lines
 * (tests/e2e/fastpath_diff_test.sh counts them). Exit 0 when nothing
 * failed, 1 when something did, 77 when BPF cannot be loaded here (the
 * reason on the line before).
 *
 *   fastpath_diff [--seed N] [--flows N] [--replay CONFIG CAPTURE]...
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "../unit/pktbuild.h"
#include "capture.h"
#include "config.h"
#include "engine.h"
#include "fastpath.h"
#include "linktype.h"

#define MAXPKT 65536
#define ETH 14
#define MAX_FLOWS 4096
#define N_QUEUES 4
#define SHOW_FAILS 4
#define FP_MAX_IF 8
#define COARSE_NS 20000000ull

/* ---- a tiny random generator (fixed seed: failures reproduce) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static uint32_t rnd_in(uint32_t lo, uint32_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

/* ---- the test's own reading of a packet (not the engine's parser) ---- */

enum cls {
	CL_ELIGIBLE,  /* TCP without SYN/FIN/RST, UDP, ICMP echo */
	CL_TCP_CTL,   /* SYN, FIN or RST */
	CL_FRAGMENT,
	CL_ICMP_OTHER,
	CL_OTHER_PROTO,
	CL_MALFORMED, /* passed without any mark */
};

struct tuple {
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t tcp_flags;
};

static enum cls classify(const uint8_t *p, size_t len, struct tuple *t)
{
	size_t ihl, tot, need;

	memset(t, 0, sizeof(*t));
	if (len < 20 || p[0] >> 4 != 4 || (p[0] & 0xf) < 5)
		return CL_MALFORMED;
	ihl = (size_t)(p[0] & 0xf) * 4;
	tot = tb_get16(p + 2);
	if (tot < ihl || tot > len)
		return CL_MALFORMED;
	if ((tb_get16(p + 6) & 0x3fff) != 0)
		return CL_FRAGMENT;
	t->proto = p[9];
	t->src = tb_get32(p + 12);
	t->dst = tb_get32(p + 16);
	if (p[9] == 6)
		need = 20;
	else if (p[9] == 17 || p[9] == 1)
		need = 8;
	else
		return CL_OTHER_PROTO;
	if (ihl + need > tot || ihl + need > len)
		return CL_MALFORMED;
	const uint8_t *l4 = p + ihl;
	if (p[9] == 1) {
		if (l4[0] == 8 && l4[1] == 0)
			t->sport = tb_get16(l4 + 4);
		else if (l4[0] == 0 && l4[1] == 0)
			t->dport = tb_get16(l4 + 4);
		else
			return CL_ICMP_OTHER;
		return CL_ELIGIBLE;
	}
	t->sport = tb_get16(l4);
	t->dport = tb_get16(l4 + 2);
	if (p[9] == 6) {
		t->tcp_flags = l4[13];
		if (l4[13] & 0x07)
			return CL_TCP_CTL;
	}
	return CL_ELIGIBLE;
}

/* ---- building packets with valid checksums ---- */

struct pspec {
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport; /* ICMP: the identifier in sport */
	uint8_t icmp_type;     /* 8 request, 0 reply */
	uint8_t tcp_flags;     /* default ACK */
	size_t plen;
	unsigned ip_opt_words, tcp_opt_words;
	bool udp_csum0;
	uint16_t frag; /* flags + offset field */
};

static size_t build(uint8_t *b, const struct pspec *s)
{
	size_t ihl = 20 + 4 * s->ip_opt_words, l4len, tot;
	uint8_t *l4 = b + ihl;

	if (s->proto == 6)
		l4len = 20 + 4 * s->tcp_opt_words + s->plen;
	else
		l4len = 8 + s->plen;
	tot = ihl + l4len;
	memset(b, 0, tot);
	b[0] = (uint8_t)(0x40 | ihl / 4);
	b[1] = (uint8_t)(rnd() & 0xfc);
	tb_put16(b + 2, (uint16_t)tot);
	tb_put16(b + 4, (uint16_t)rnd());
	tb_put16(b + 6, s->frag ? s->frag : (rnd() & 1) ? 0x4000 : 0);
	b[8] = (uint8_t)rnd_in(1, 255);
	b[9] = s->proto;
	tb_put32(b + 12, s->src);
	tb_put32(b + 16, s->dst);
	/* NOPs, then a record-route-sized option of junk, then EOL */
	for (size_t i = 20; i < ihl; i++)
		b[i] = 1;
	if (ihl > 24) {
		b[20] = 7;			    /* record route */
		b[21] = (uint8_t)(ihl - 20 - 1);    /* length */
		b[22] = 4;			    /* pointer */
		for (size_t i = 23; i < ihl - 1; i++)
			b[i] = (uint8_t)rnd();
		b[ihl - 1] = 0;
	}
	tb_put16(b + 10, tb_fold(tb_sum(0, b, ihl)));

	uint8_t *pay = l4 + (s->proto == 6 ? 20 + 4 * s->tcp_opt_words : 8);
	for (size_t i = 0; i < s->plen; i++)
		pay[i] = (uint8_t)rnd();
	if (s->proto == 6) {
		tb_put16(l4, s->sport);
		tb_put16(l4 + 2, s->dport);
		tb_put32(l4 + 4, rnd());
		tb_put32(l4 + 8, rnd());
		l4[12] = (uint8_t)((5 + s->tcp_opt_words) << 4);
		l4[13] = s->tcp_flags ? s->tcp_flags : 0x10;
		tb_put16(l4 + 14, (uint16_t)rnd());
		for (unsigned i = 0; i < s->tcp_opt_words * 4; i++)
			l4[20 + i] = 1; /* NOP */
		tb_put16(l4 + 18, (rnd() & 3) == 0 ? (uint16_t)rnd() : 0);
		tb_put16(l4 + 16, tb_l4_csum(b, l4, l4len, 6));
	} else if (s->proto == 17) {
		tb_put16(l4, s->sport);
		tb_put16(l4 + 2, s->dport);
		tb_put16(l4 + 4, (uint16_t)l4len);
		if (!s->udp_csum0) {
			uint16_t c = tb_l4_csum(b, l4, l4len, 17);
			tb_put16(l4 + 6, c ? c : 0xffff);
		}
	} else {
		l4[0] = s->icmp_type;
		tb_put16(l4 + 4, s->sport);
		tb_put16(l4 + 6, (uint16_t)rnd());
		tb_put16(l4 + 2, tb_fold(tb_sum(0, l4, l4len)));
	}
	return tot;
}

/* ---- flows the test installed ---- */

struct flow {
	struct nat_fp_rewrite rw[2]; /* [0] out, [1] in */
	uint64_t pkts[2], bytes[2];
	uint64_t installed_wall;
	bool live;
};

struct ctx {
	const char *group;
	struct nat_engine *e;
	struct nat_fastpath *fp;
	struct nat_offload_ops ops; /* the loader's */
	int prog_fd;
	/* The engine installs and removes flows itself (nat_engine_set_offload)
	 * through wrap_* below, which record what it installed; otherwise the
	 * test reads the rewrites off the engine's output (learn). */
	bool engine_offload;
	bool keep_open; /* one_flow leaves TCP flows open (no FIN) */
	uint64_t ts;
	struct flow flows[MAX_FLOWS];
	size_t n_flows;
	uint16_t gso_ok; /* the kernel takes gso_size in ctx_in */
	/* per group */
	unsigned long n_pkts, n_hits, n_miss, n_fail, n_removed;
	uint64_t hit_counter_start;
};

static unsigned long total_fail;

static void fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->n_fail++ >= SHOW_FAILS)
		return;
	printf("#   %s: ", c->group);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void hexline(const char *what, const uint8_t *p, size_t len, size_t at)
{
	size_t from = at > 8 ? at - 8 : 0, to = at + 8 < len ? at + 8 : len;

	printf("#     %s [%zu..%zu):", what, from, to);
	for (size_t i = from; i < to; i++)
		printf(i == at ? " [%02x]" : " %02x", p[i]);
	printf("\n");
}

static bool same_key(const struct nat_fp_rewrite *r, const struct tuple *t)
{
	return r->proto == t->proto && r->src == t->src && r->dst == t->dst &&
	       r->sport == t->sport && r->dport == t->dport;
}

/* The live flow with this key in one direction, else one that was
 * removed (a flow installed again has a second record). */
static struct flow *find(struct ctx *c, const struct tuple *t, int *dir)
{
	struct flow *gone = NULL;
	int gone_dir = 0;

	for (size_t i = 0; i < c->n_flows; i++)
		for (int d = 0; d < 2; d++) {
			if (!same_key(&c->flows[i].rw[d], t))
				continue;
			if (c->flows[i].live) {
				*dir = d;
				return &c->flows[i];
			}
			if (!gone)
				gone = &c->flows[i], gone_dir = d;
		}
	*dir = gone_dir;
	return gone;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t prog_hits(struct ctx *c)
{
	const char *names[32];
	uint64_t v[32];
	size_t n = nat_fastpath_counters(c->fp, names, v, 32);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], "fastpath_hit") == 0)
			return v[i];
	return 0;
}

/* The engine translated `before` into `after` (direction dir): install
 * that rewrite and its reverse. */
static void learn(struct ctx *c, const uint8_t *before, const uint8_t *after,
		  size_t len, enum nat_dir dir)
{
	struct tuple a, b;
	struct flow *f;

	if (c->n_flows == MAX_FLOWS)
		return;
	if (classify(before, len, &a) != CL_ELIGIBLE ||
	    classify(after, len, &b) != CL_ELIGIBLE)
		return;
	f = &c->flows[c->n_flows];
	memset(f, 0, sizeof(*f));
	int d = dir == NAT_DIR_OUT ? 0 : 1;
	struct nat_fp_rewrite *fw = &f->rw[d], *bw = &f->rw[1 - d];
	fw->proto = bw->proto = a.proto;
	fw->dir = (uint8_t)dir;
	fw->src = a.src, fw->dst = a.dst, fw->sport = a.sport,
	fw->dport = a.dport;
	fw->new_src = b.src, fw->new_dst = b.dst, fw->new_sport = b.sport,
	fw->new_dport = b.dport;
	bw->dir = (uint8_t)(dir == NAT_DIR_OUT ? NAT_DIR_IN : NAT_DIR_OUT);
	bw->src = b.dst, bw->dst = b.src, bw->sport = b.dport,
	bw->dport = b.sport;
	bw->new_src = a.dst, bw->new_dst = a.src, bw->new_sport = a.dport,
	bw->new_dport = a.sport;
	f->installed_wall = wall_ns();
	if (c->ops.install(c->ops.ctx, c->n_flows + 1, f->rw) != 0) {
		fail(c, "install of flow %zu refused", c->n_flows + 1);
		return;
	}
	f->live = true;
	c->n_flows++;
}

static void check_counters(struct ctx *c, const struct flow *f,
			   const struct nat_fp_counters *k, const char *how)
{
	uint64_t now = wall_ns();

	if (k->pkts_out != f->pkts[0] || k->pkts_in != f->pkts[1] ||
	    k->bytes_out != f->bytes[0] || k->bytes_in != f->bytes[1])
		fail(c,
		     "%s: counters out %llu pkts %llu bytes, in %llu/%llu; "
		     "the program translated %llu/%llu and %llu/%llu",
		     how, (unsigned long long)k->pkts_out,
		     (unsigned long long)k->bytes_out,
		     (unsigned long long)k->pkts_in,
		     (unsigned long long)k->bytes_in,
		     (unsigned long long)f->pkts[0],
		     (unsigned long long)f->bytes[0],
		     (unsigned long long)f->pkts[1],
		     (unsigned long long)f->bytes[1]);
	/* The program reads the coarse clock: up to a jiffy (10 ms at the
	 * lowest HZ) behind the precise one. */
	if (f->pkts[0] + f->pkts[1] == 0
		    ? k->last_ns != 0
		    : (k->last_ns + COARSE_NS < f->installed_wall ||
		       k->last_ns > now + 1000000))
		fail(c, "%s: last_ns %llu not between install %llu and now %llu",
		     how, (unsigned long long)k->last_ns,
		     (unsigned long long)f->installed_wall,
		     (unsigned long long)now);
}

static void remove_flow(struct ctx *c, struct flow *f)
{
	struct nat_fp_counters k;

	c->ops.remove(c->ops.ctx, f->rw, &k);
	check_counters(c, f, &k, "remove");
	f->live = false;
	c->n_removed++;
}

/* One BPF_PROG_TEST_RUN of the Ethernet frame around ip[0..len). */
static int run_prog(struct ctx *c, const uint8_t *ip, size_t len,
		    uint32_t mark_in, uint16_t gso, uint8_t *out,
		    size_t *out_len, uint32_t *mark_out, uint32_t *retval,
		    uint16_t ethertype)
{
	static uint8_t frame[MAXPKT + ETH];
	struct __sk_buff ci, co;
	static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 1,
					 0x02, 0, 0, 0, 0, 2};

	memcpy(frame, macs, 12);
	frame[12] = (uint8_t)(ethertype >> 8);
	frame[13] = (uint8_t)ethertype;
	memcpy(frame + ETH, ip, len);
	memset(&ci, 0, sizeof(ci));
	memset(&co, 0, sizeof(co));
	ci.mark = mark_in;
	if (gso) {
		ci.gso_size = gso;
		ci.gso_segs = (uint32_t)((len + gso - 1) / gso);
	}
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame,
			    .data_size_in = (uint32_t)(len + ETH),
			    .data_out = out, .data_size_out = MAXPKT + ETH,
			    .ctx_in = &ci, .ctx_size_in = sizeof(ci),
			    .ctx_out = &co, .ctx_size_out = sizeof(co),
			    .repeat = 1);
	if (bpf_prog_test_run_opts(c->prog_fd, &o) != 0)
		return -errno;
	*out_len = o.data_size_out;
	*mark_out = co.mark;
	*retval = o.retval;
	return 0;
}

/* One packet through the engine (when engine) and the program; checks as
 * the file's comment says. *after gets the engine's output tuple. */
static void diff_packet(struct ctx *c, const uint8_t *ip, size_t len,
			enum nat_dir dir, bool engine, struct tuple *after)
{
	static uint8_t eng[MAXPKT], out[MAXPKT + ETH];
	struct tuple t;
	enum cls cl = classify(ip, len, &t);
	int d = 0;
	struct flow *f = NULL;
	struct nat_result res;
	struct nat_meta meta;
	uint32_t mark_in = rnd(), mark, retval;
	size_t out_len;
	uint16_t gso = 0;

	c->n_pkts++;
	memcpy(eng, ip, len);
	memset(&res, 0, sizeof(res));
	if (engine) {
		memset(&meta, 0, sizeof(meta));
		meta.dir = dir;
		meta.ts_ns = c->ts += 1000;
		nat_process(c->e, eng, len, &meta, &res);
	}
	/* After the engine: with engine_offload it may just have installed
	 * (or removed) this packet's flow. */
	if (cl == CL_ELIGIBLE || cl == CL_TCP_CTL) {
		f = find(c, &t, &d);
		if (f && !f->live)
			f = NULL;
	}
	bool hit = cl == CL_ELIGIBLE && f;
	if (after && classify(eng, len, after) > CL_ICMP_OTHER)
		memset(after, 0, sizeof(*after));

	if (c->gso_ok && len > 1500 && cl == CL_ELIGIBLE)
		gso = t.proto == 6 ? 1448 : 1472;
	int rc = run_prog(c, ip, len, mark_in, gso, out, &out_len, &mark,
			  &retval, 0x0800);
	if (rc != 0) {
		fail(c, "BPF_PROG_TEST_RUN on %zu bytes: %s", len, strerror(-rc));
		return;
	}
	if (retval != TC_ACT_OK)
		fail(c, "packet %lu: program returned %u, not TC_ACT_OK",
		     c->n_pkts, retval);
	if (out_len != len + ETH) {
		fail(c, "packet %lu: %zu bytes came out of %zu", c->n_pkts,
		     out_len, len + ETH);
		return;
	}
	if (hit) {
		c->n_hits++;
		if (engine && res.verdict != NAT_V_NAT)
			fail(c, "packet %lu: the engine answered %s to a packet "
				"of an offloaded flow", c->n_pkts,
			     nat_verdict_name(res.verdict));
		if (memcmp(out + ETH, eng, len) != 0) {
			size_t at = 0;
			while (out[ETH + at] == eng[at])
				at++;
			fail(c, "packet %lu (%zu bytes, proto %u, dir %s): the "
				"program's output differs from the engine's at "
				"byte %zu",
			     c->n_pkts, len, t.proto,
			     d == 0 ? "out" : "in", at);
			if (c->n_fail <= SHOW_FAILS) {
				hexline("engine ", eng, len, at);
				hexline("program", out + ETH, len, at);
			}
		}
		if (mark != ((mark_in & ~NAT_FP_MARK_MASK) | NAT_FP_MARK))
			fail(c, "packet %lu: mark 0x%08x after a hit (in 0x%08x)",
			     c->n_pkts, mark, mark_in);
		f->pkts[d]++;
		f->bytes[d] += tb_get16(ip + 2); /* not the frame's padding */
		return;
	}
	c->n_miss++;
	if (memcmp(out + ETH, ip, len) != 0)
		fail(c, "packet %lu (class %d, %zu bytes): changed by the "
			"program, must pass untouched",
		     c->n_pkts, (int)cl, len);
	if (cl == CL_MALFORMED) {
		if (mark != mark_in)
			fail(c, "packet %lu: malformed, mark 0x%08x -> 0x%08x",
			     c->n_pkts, mark_in, mark);
	} else if ((mark & ~NAT_FP_QMARK_MASK) !=
			   (mark_in & ~NAT_FP_QMARK_MASK) ||
		   ((mark & NAT_FP_QMARK_MASK) >> NAT_FP_QMARK_SHIFT) >=
			   N_QUEUES) {
		fail(c, "packet %lu: missed, mark 0x%08x -> 0x%08x (queue bits "
			"only, < %d)",
		     c->n_pkts, mark_in, mark, N_QUEUES);
	}
	if (!engine || c->engine_offload)
		return;
	if (cl == CL_ELIGIBLE && res.verdict == NAT_V_NAT && !res.hairpin &&
	    find(c, &t, &d) == NULL)
		learn(c, ip, eng, len, res.dir);
	if (cl == CL_TCP_CTL && f && (t.tcp_flags & 0x05))
		remove_flow(c, f); /* FIN or RST: the flow is closing */
}

/* ---- the engine's own offload calls, recorded on their way ---- */

static int wrap_install(void *ctx, uint64_t id,
			const struct nat_fp_rewrite rw[2])
{
	struct ctx *c = ctx;
	struct flow *f;

	if (c->n_flows == MAX_FLOWS)
		return -1;
	f = &c->flows[c->n_flows];
	memset(f, 0, sizeof(*f));
	memcpy(f->rw, rw, sizeof(f->rw));
	f->installed_wall = wall_ns();
	if (rw[0].dir != NAT_DIR_OUT || rw[1].dir != NAT_DIR_IN)
		fail(c, "engine installed flow %llu with directions %u/%u",
		     (unsigned long long)id, rw[0].dir, rw[1].dir);
	if (c->ops.install(c->ops.ctx, id, rw) != 0) {
		fail(c, "install of flow %llu refused", (unsigned long long)id);
		return -1;
	}
	f->live = true;
	c->n_flows++;
	return 0;
}

static struct flow *wrap_find(struct ctx *c, const struct nat_fp_rewrite rw[2])
{
	for (size_t i = 0; i < c->n_flows; i++)
		if (c->flows[i].live &&
		    memcmp(&c->flows[i].rw, rw, sizeof(c->flows[i].rw)) == 0)
			return &c->flows[i];
	return NULL;
}

static void wrap_remove(void *ctx, const struct nat_fp_rewrite rw[2],
			struct nat_fp_counters *k)
{
	struct ctx *c = ctx;
	struct flow *f = wrap_find(c, rw);

	c->ops.remove(c->ops.ctx, rw, k);
	if (!f) {
		fail(c, "engine removed a flow it had not installed");
		return;
	}
	check_counters(c, f, k, "remove by the engine");
	f->live = false;
	c->n_removed++;
}

static int wrap_read(void *ctx, const struct nat_fp_rewrite rw[2],
		     struct nat_fp_counters *k)
{
	struct ctx *c = ctx;
	struct flow *f = wrap_find(c, rw);
	int rc = c->ops.read(c->ops.ctx, rw, k);

	if (f && rc == 0)
		check_counters(c, f, k, "read by the engine");
	else if (f)
		fail(c, "read: an installed flow is not in the map");
	return rc;
}

/* ---- groups ---- */

static int open_group(struct ctx *c, const char *group, const char *yaml,
		      const char *path)
{
	struct nat_config cfg;
	char err[512];
	int rc;

	c->group = group;
	c->n_pkts = c->n_hits = c->n_miss = c->n_fail = c->n_removed = 0;
	c->n_flows = 0;
	if (path)
		rc = nat_config_load(path, &cfg, err, sizeof(err));
	else
		rc = nat_config_load_mem(group, yaml, strlen(yaml), &cfg, err,
					 sizeof(err));
	if (rc != 0) {
		printf("not ok - %s: config: %s\n", group, err);
		total_fail++;
		return -1;
	}
	c->e = nat_engine_create(&cfg, err, sizeof(err));
	nat_config_free(&cfg);
	if (!c->e) {
		printf("not ok - %s: engine: %s\n", group, err);
		total_fail++;
		return -1;
	}
	c->ts = 1700000000ull * 1000000000ull;
	nat_fastpath_flush(c->fp);
	if (c->engine_offload) {
		struct nat_offload_ops w = {.ctx = c,
					    .install = wrap_install,
					    .remove = wrap_remove,
					    .read = wrap_read};
		if (nat_engine_set_offload(c->e, &w, err, sizeof(err)) != 0) {
			printf("not ok - %s: nat_engine_set_offload: %s\n",
			       group, err);
			total_fail++;
			nat_engine_destroy(c->e);
			c->e = NULL;
			return -1;
		}
	}
	c->hit_counter_start = prog_hits(c);
	return 0;
}

static void close_group(struct ctx *c)
{
	unsigned long live = 0;
	uint64_t hits = prog_hits(c) - c->hit_counter_start;

	if (c->engine_offload) {
		/* Closing every flow takes each offloaded one out of the map
		 * through the engine, with the kernel's counters. */
		nat_engine_flush(c->e, c->ts += 1000);
		for (size_t i = 0; i < c->n_flows; i++)
			if (c->flows[i].live)
				fail(c, "flow %zu still in the map after the "
					"engine closed every flow", i + 1);
	}

	/* Every flow still installed: read, then remove, both must agree
	 * with what the program translated. */
	for (size_t i = 0; i < c->n_flows; i++) {
		struct flow *f = &c->flows[i];
		struct nat_fp_counters k;

		if (!f->live)
			continue;
		live++;
		if (c->ops.read(c->ops.ctx, f->rw, &k) != 0)
			fail(c, "read: flow %zu not in the map", i + 1);
		else
			check_counters(c, f, &k, "read");
		remove_flow(c, f);
		if (c->ops.read(c->ops.ctx, f->rw, &k) != -1)
			fail(c, "read after remove: flow %zu still there", i + 1);
	}
	if (hits != c->n_hits)
		fail(c, "the program counted %llu hits, the test expected %lu",
		     (unsigned long long)hits, c->n_hits);
	if (c->n_fail == 0)
		printf("ok - %s: %lu packets, %lu translated by the program "
		       "byte-identical to the engine, %lu passed untouched; "
		       "%zu flows installed, %lu removed with exact counters\n",
		       c->group, c->n_pkts, c->n_hits, c->n_miss, c->n_flows,
		       c->n_removed);
	else
		printf("not ok - %s: %lu failures in %lu packets (%lu hits)\n",
		       c->group, c->n_fail, c->n_pkts, c->n_hits);
	if (c->n_fail)
		total_fail++;
	if (c->n_pkts == 0 || (c->n_hits == 0 && c->n_flows > 0)) {
		printf("not ok - %s: no packet was translated by the program\n",
		       c->group);
		total_fail++;
	}
	(void)live;
	nat_engine_destroy(c->e);
	c->e = NULL;
}

/* A flow between inside host in:isport and remote rem:rport: the
 * handshake through the engine, then n packets each way through both,
 * then the close. Returns the mapped tuple's port (0: not translated). */
static void one_flow(struct ctx *c, uint8_t proto, uint32_t in, uint16_t isport,
		     uint32_t rem, uint16_t rport, unsigned n, bool sweep)
{
	static uint8_t pkt[MAXPKT];
	struct pspec s = {.proto = proto};
	struct tuple m;
	size_t len;

	/* first packet out: tells the mapping */
	s.src = in, s.dst = rem, s.sport = isport, s.dport = rport;
	s.icmp_type = 8;
	s.tcp_flags = 0x02; /* SYN */
	len = build(pkt, &s);
	diff_packet(c, pkt, len, NAT_DIR_OUT, true, &m);
	if (m.proto == 0 || m.src == in)
		return; /* dropped or bypassed: nothing to offload */
	struct pspec o = s, r = {.proto = proto};
	/* replies come from where the engine sent it, to the mapping */
	r.src = m.dst, r.dst = m.src, r.sport = m.dport, r.dport = m.sport;
	if (proto == 1)
		r.sport = m.sport, r.dport = 0;
	r.icmp_type = 0;
	r.tcp_flags = 0x12; /* SYN-ACK */
	len = build(pkt, &r);
	diff_packet(c, pkt, len, NAT_DIR_IN, true, NULL);
	o.tcp_flags = 0x10;
	r.tcp_flags = 0x10;
	len = build(pkt, &o); /* the ACK: established, offloaded after it */
	diff_packet(c, pkt, len, NAT_DIR_OUT, true, NULL);

	size_t maxp = 1400;
	for (unsigned i = 0; i < n; i++) {
		bool out = (rnd() & 1) != 0;
		struct pspec *p = out ? &o : &r;

		if (sweep) {
			out = (i & 1) == 0;
			p = out ? &o : &r;
			p->plen = i / 2;
		} else {
			p->plen = rnd_in(0, 9) == 0 ? rnd_in(1400, 3000)
						    : rnd_in(0, (uint32_t)maxp);
			p->ip_opt_words = rnd_in(0, 9) == 0 ? rnd_in(1, 10) : 0;
			p->tcp_opt_words = rnd_in(0, 4) == 0 ? rnd_in(1, 10) : 0;
			p->udp_csum0 = rnd_in(0, 4) == 0;
			p->tcp_flags = (uint8_t)(0x10 | (rnd() & 0x28)); /* PSH, URG */
		}
		len = build(pkt, p);
		diff_packet(c, pkt, len, out ? NAT_DIR_OUT : NAT_DIR_IN, true,
			    NULL);
		if (!sweep && rnd_in(0, 19) == 0) {
			/* a fragment of this flow's tuple: always to user
			 * space, untouched (the engine is not asked: it
			 * would hold it) */
			struct pspec fr = *p;
			fr.frag = rnd() & 1 ? 0x2000 : (uint16_t)rnd_in(1, 0x1fff);
			len = build(pkt, &fr);
			diff_packet(c, pkt, len, NAT_DIR_OUT, false, NULL);
		}
		if (!sweep && rnd_in(0, 29) == 0 && proto != 1) {
			/* an ICMP error from the remote quoting the flow's
			 * translated packet: always a miss */
			static uint8_t q[MAXPKT];
			struct pspec qs = o;
			qs.src = m.src, qs.dst = m.dst, qs.sport = m.sport;
			qs.dport = m.dport, qs.ip_opt_words = 0, qs.plen = 0;
			build(q, &qs);
			len = tb_icmp_error(pkt, 3, 3, rem, m.src, q, 28);
			diff_packet(c, pkt, len, NAT_DIR_IN, false, NULL);
		}
	}
	if (proto == 6 && !c->keep_open) {
		/* the close: misses, and takes the flow out of the map */
		o.plen = r.plen = 0;
		o.ip_opt_words = r.ip_opt_words = o.tcp_opt_words =
			r.tcp_opt_words = 0;
		o.tcp_flags = 0x11;
		len = build(pkt, &o);
		diff_packet(c, pkt, len, NAT_DIR_OUT, true, NULL);
		/* a late ACK after it: not offloaded any more */
		r.tcp_flags = 0x10;
		len = build(pkt, &r);
		diff_packet(c, pkt, len, NAT_DIR_IN, true, NULL);
	}
}

static void random_group(struct ctx *c, const char *group, const char *yaml,
			 unsigned flows, bool few_ports)
{
	if (open_group(c, group, yaml, NULL) != 0)
		return;
	for (unsigned i = 0; i < flows; i++) {
		uint8_t proto = (uint8_t)(rnd_in(0, 9) < 5 ? 6 : rnd_in(0, 2) ? 17 : 1);
		uint32_t in = IP4(172, 17, 240, rnd_in(2, 254));
		uint32_t rem = IP4(198, 51, 100, rnd_in(1, 254));
		uint16_t sp = few_ports ? (uint16_t)(40000 + rnd_in(0, 7))
					: (uint16_t)rnd_in(1024, 65535);
		uint16_t dp = (uint16_t)(rnd_in(0, 3) == 0 ? 8080 : rnd_in(1, 65535));
		struct tuple t = {.proto = proto, .src = in, .dst = rem,
				  .sport = sp, .dport = proto == 1 ? 0 : dp};
		int d;

		if (find(c, &t, &d))
			continue; /* the same 5-tuple again: a new flow */
		one_flow(c, proto, in, sp, rem, dp, rnd_in(4, 40), false);
	}
	close_group(c);
}

/* Every payload length from 0 up to what BPF_PROG_TEST_RUN takes, both
 * directions, TCP, UDP and ICMP echo. */
static void sweep_group(struct ctx *c, size_t max_frame)
{
	static const char yaml[] = "nat_ip: 203.0.113.1\n"
				   "internal_network: 172.17.240.0/24\n"
				   "port_preservation: false\n";
	if (open_group(c, "lengths", yaml, NULL) != 0)
		return;
	size_t max_ip = max_frame - ETH;
	one_flow(c, 6, IP4(172, 17, 240, 10), 33000, IP4(198, 51, 100, 7), 443,
		 (unsigned)(2 * (max_ip - 40 + 1)), true);
	one_flow(c, 17, IP4(172, 17, 240, 11), 33001, IP4(198, 51, 100, 8), 53,
		 (unsigned)(2 * (max_ip - 28 + 1)), true);
	one_flow(c, 1, IP4(172, 17, 240, 12), 777, IP4(198, 51, 100, 9), 0,
		 (unsigned)(2 * (max_ip - 28 + 1)), true);
	close_group(c);
}

/* Packets the program must pass untouched whatever the map holds. */
static void malformed_group(struct ctx *c)
{
	static uint8_t pkt[MAXPKT], out[MAXPKT + ETH];
	static const char yaml[] = "nat_ip: 203.0.113.1\n"
				   "internal_network: 172.17.240.0/24\n";
	struct pspec s = {.proto = 6, .src = IP4(172, 17, 240, 20),
			  .dst = IP4(198, 51, 100, 20), .sport = 5555,
			  .dport = 80, .tcp_flags = 0x10, .plen = 100};
	size_t len, out_len;
	uint32_t mark, retval;

	if (open_group(c, "malformed", yaml, NULL) != 0)
		return;
	/* install the flow so only the damage can make it miss */
	c->keep_open = true;
	one_flow(c, 6, s.src, s.sport, s.dst, s.dport, 2, false);
	c->keep_open = false;
	if (c->n_flows != 1 || !c->flows[0].live)
		fail(c, "the flow the damaged packets belong to is not installed");
	len = build(pkt, &s);
	/* Ethernet padding after the packet: translated, counted without
	 * it, left as it was */
	for (int k = 0; k < 4; k++) {
		len = build(pkt, &s);
		memset(pkt + len, k ? 0xa5 : 0, 18);
		diff_packet(c, pkt, len + 6 + 4 * (size_t)k, NAT_DIR_OUT, true,
			    NULL);
	}
	/* truncated: the frame shorter than tot_len, at every cut */
	for (size_t cut = 20; cut < len; cut += 7)
		diff_packet(c, pkt, cut, NAT_DIR_OUT, false, NULL);
	/* IHL below 5, version 6 in a 0x0800 frame, tot_len below IHL */
	for (int k = 0; k < 3; k++) {
		len = build(pkt, &s);
		if (k == 0)
			pkt[0] = 0x44;
		else if (k == 1)
			pkt[0] = 0x65;
		else
			tb_put16(pkt + 2, 19);
		diff_packet(c, pkt, len, NAT_DIR_OUT, false, NULL);
	}
	/* TCP header cut by tot_len */
	len = build(pkt, &s);
	tb_put16(pkt + 2, 30);
	diff_packet(c, pkt, len, NAT_DIR_OUT, false, NULL);
	/* not IPv4 at all: no mark bit may change */
	len = build(pkt, &s);
	for (int k = 0; k < 2; k++) {
		uint32_t m_in = rnd();
		int rc = run_prog(c, pkt, len, m_in, 0, out, &out_len, &mark,
				  &retval, k ? 0x86dd : 0x0806);
		c->n_pkts++;
		c->n_miss++;
		if (rc || retval != TC_ACT_OK || out_len != len + ETH ||
		    memcmp(out + ETH, pkt, len) || mark != m_in)
			fail(c, "ethertype 0x%04x: not passed untouched",
			     k ? 0x86dd : 0x0806);
	}
	close_group(c);
}

/* Recomputes the L4 checksum of a whole TCP/UDP packet from scratch. */
static void l4_recsum(uint8_t *p)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4, tot = tb_get16(p + 2);
	size_t at = p[9] == 6 ? 16 : 6;
	uint16_t v;

	tb_put16(p + ihl + at, 0);
	v = tb_l4_csum(p, p + ihl, tot - ihl, p[9]);
	tb_put16(p + ihl + at, p[9] == 17 && v == 0 ? 0xffff : v);
}

/* Packets whose checksum before or after the translation is the one's
 * complement zero (0x0000 / 0xffff; UDP's 0 becomes 0xffff): the
 * program's helpers and the engine's RFC 1624 arithmetic must agree on
 * which of the two they write. */
static void edge_group(struct ctx *c)
{
	static const char yaml[] = "nat_ip: 203.0.113.1\n"
				   "internal_network: 172.17.240.0/24\n"
				   "port_preservation: false\n";
	static uint8_t pkt[MAXPKT], scratch[MAXPKT];
	unsigned edges = 0, tries = 0;

	if (open_group(c, "checksum edges", yaml, NULL) != 0)
		return;
	for (int k = 0; k < 40; k++) {
		uint8_t proto = k & 1 ? 17 : 6;
		one_flow(c, proto, IP4(172, 17, 240, 30 + k), (uint16_t)(20000 + k),
			 IP4(198, 51, 100, 30 + k), 443, 1, false);
		if (c->n_flows == 0)
			continue;
		const struct flow *f = &c->flows[c->n_flows - 1];
		for (int d = 0; d < 2; d++) {
			const struct nat_fp_rewrite *rw = &f->rw[d];
			struct pspec s = {.proto = proto, .src = rw->src,
					  .dst = rw->dst, .sport = rw->sport,
					  .dport = rw->dport, .plen = 64};
			for (int which = 0; which < 2; which++) {
				size_t len = build(pkt, &s);
				size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
				size_t at = ihl + (proto == 6 ? 16 : 6);
				uint8_t *w = pkt + ihl + (proto == 6 ? 20 : 8);
				uint16_t k16;

				if (which == 0) { /* the input's sum */
					k16 = tb_get16(pkt + at);
				} else {	  /* the output's */
					struct nat_result res;
					struct nat_meta meta = {.dir = d ? NAT_DIR_IN : NAT_DIR_OUT,
								.ts_ns = c->ts += 1000};
					memcpy(scratch, pkt, len);
					nat_process(c->e, scratch, len, &meta, &res);
					k16 = tb_get16(scratch + at);
				}
				uint32_t nw = (uint32_t)tb_get16(w) + k16;
				nw = (nw & 0xffff) + (nw >> 16);
				tb_put16(w, (uint16_t)nw);
				l4_recsum(pkt);
				tries++;
				diff_packet(c, pkt, len, d ? NAT_DIR_IN : NAT_DIR_OUT,
					    true, NULL);
				uint16_t in_c = tb_get16(pkt + at);
				if (which == 0 && (in_c == 0 || in_c == 0xffff))
					edges++;
				if (which == 1) {
					/* the engine once more, on its own:
					 * its output (the program's, when the
					 * diff held) has the zero sum */
					static uint8_t o2[MAXPKT];
					struct nat_result res;
					struct nat_meta meta = {.dir = d ? NAT_DIR_IN : NAT_DIR_OUT,
								.ts_ns = c->ts += 1000};
					memcpy(o2, pkt, len);
					nat_process(c->e, o2, len, &meta, &res);
					uint16_t oc = tb_get16(o2 + at);
					if (oc == 0 || oc == 0xffff)
						edges++;
				}
			}
		}
	}
	if (edges != tries)
		fail(c, "only %u of %u crafted packets had a zero checksum", edges,
		     tries);
	close_group(c);
}

static void replay_group(struct ctx *c, const char *config,
			 const char *capture)
{
	char err[CAP_ERRBUF_SIZE], name[300];
	struct cap_source src;
	struct cap_reader *r;
	struct cap_packet cp;
	FILE *f;
	int n;

	snprintf(name, sizeof(name), "%sreplay %s through %s",
		 c->engine_offload ? "engine offloads: " : "", capture, config);
	if (open_group(c, name, NULL, config) != 0)
		return;
	f = fopen(capture, "rb");
	if (!f) {
		fail(c, "%s: %s", capture, strerror(errno));
		close_group(c);
		return;
	}
	cap_source_file(&src, f);
	r = cap_open(&src, err, sizeof(err));
	if (!r) {
		fail(c, "%s: %s", capture, err);
		fclose(f);
		close_group(c);
		return;
	}
	/* Twice: the second pass sends every packet again, now of flows the
	 * first pass installed (retransmissions, as far as the program and
	 * the engine care). */
	static uint8_t pkts[256][2048];
	static size_t lens[256];
	static enum nat_dir dirs[256];
	size_t np = 0;
	while ((n = cap_next(r, &cp, err, sizeof(err))) == 1 && np < 256) {
		size_t off;
		if (trace_link_decap(cp.linktype, cp.data, cp.caplen, &off) !=
			    TRACE_L3_IPV4 ||
		    cp.caplen - off > sizeof(pkts[0]))
			continue;
		lens[np] = cp.caplen - off;
		memcpy(pkts[np], cp.data + off, lens[np]);
		dirs[np] = NAT_DIR_UNKNOWN;
		if (cp.has & CAP_HAS_FLAGS) {
			if ((cp.flags & CAP_DIR_MASK) == CAP_DIR_INBOUND)
				dirs[np] = NAT_DIR_IN;
			else if ((cp.flags & CAP_DIR_MASK) == CAP_DIR_OUTBOUND)
				dirs[np] = NAT_DIR_OUT;
		}
		np++;
	}
	if (n < 0)
		fail(c, "%s: %s", capture, err);
	cap_close(r);
	fclose(f);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < np; i++) {
			/* fragments go to the engine only in the first pass
			 * (a repeated one would be a duplicate to it) */
			struct tuple t;
			bool frag = classify(pkts[i], lens[i], &t) == CL_FRAGMENT;
			diff_packet(c, pkts[i], lens[i], dirs[i],
				    pass == 0 || !frag, NULL);
		}
	close_group(c);
}

/* The largest frame BPF_PROG_TEST_RUN takes here (the kernel limits it
 * to what fits a page), and whether it takes gso_size in the context. */
static size_t probe_max_frame(struct ctx *c)
{
	static uint8_t pkt[MAXPKT], out[MAXPKT + ETH];
	size_t lo = 64, hi = 16384, out_len;
	uint32_t mark, retval;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[9] = 47; /* GRE: passes */
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;
		tb_put16(pkt + 2, (uint16_t)(mid - ETH));
		if (run_prog(c, pkt, mid - ETH, 0, 0, out, &out_len, &mark,
			     &retval, 0x0800) == 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	tb_put16(pkt + 2, (uint16_t)(lo - ETH));
	c->gso_ok = run_prog(c, pkt, lo - ETH, 0, 1448, out, &out_len, &mark,
			     &retval, 0x0800) == 0;
	return lo;
}

/* "udp 172.17.240.2:5000 198.51.100.2:6000 203.0.113.1:40000": the
 * inside end, the remote, the mapping (ICMP: the identifiers as ports,
 * the remote's 0). Fills both directions. */
static int parse_flow(const char *spec, struct nat_fp_rewrite rw[2])
{
	char proto[8];
	unsigned a[3][4], p[3];

	if (sscanf(spec, "%7s %u.%u.%u.%u:%u %u.%u.%u.%u:%u %u.%u.%u.%u:%u",
		   proto, &a[0][0], &a[0][1], &a[0][2], &a[0][3], &p[0],
		   &a[1][0], &a[1][1], &a[1][2], &a[1][3], &p[1], &a[2][0],
		   &a[2][1], &a[2][2], &a[2][3], &p[2]) != 16)
		return -1;
	uint32_t ip[3];
	for (int i = 0; i < 3; i++)
		ip[i] = IP4(a[i][0] & 255, a[i][1] & 255, a[i][2] & 255,
			    a[i][3] & 255);
	memset(rw, 0, 2 * sizeof(*rw));
	rw[0].proto = rw[1].proto = strcmp(proto, "tcp") == 0 ? 6
				    : strcmp(proto, "udp") == 0 ? 17
				    : strcmp(proto, "icmp") == 0 ? 1 : 0;
	if (rw[0].proto == 0)
		return -1;
	rw[0].dir = NAT_DIR_OUT;
	rw[0].src = ip[0], rw[0].sport = (uint16_t)p[0];
	rw[0].dst = ip[1], rw[0].dport = (uint16_t)p[1];
	rw[0].new_src = ip[2], rw[0].new_sport = (uint16_t)p[2];
	rw[0].new_dst = ip[1], rw[0].new_dport = (uint16_t)p[1];
	rw[1].dir = NAT_DIR_IN;
	rw[1].src = ip[1], rw[1].sport = (uint16_t)p[1];
	rw[1].dst = ip[2], rw[1].dport = (uint16_t)p[2];
	rw[1].new_src = ip[1], rw[1].new_sport = (uint16_t)p[1];
	rw[1].new_dst = ip[0], rw[1].new_dport = (uint16_t)p[0];
	return 0;
}

/* The live smoke (fastpath_diff_test.sh): attach to the interfaces,
 * install the flows, say "ready", wait for a line on stdin, then remove
 * each flow printing its counters, and the program's. */
static int live(char *ifs, char **flows, int n_flows)
{
	const char *names[FP_MAX_IF];
	struct nat_fp_rewrite rw[8][2];
	char err[512], line[64];
	size_t n = 0;

	for (char *save = NULL, *t = strtok_r(ifs, ",", &save);
	     t && n < FP_MAX_IF; t = strtok_r(NULL, ",", &save))
		names[n++] = t;
	for (int i = 0; i < n_flows; i++)
		if (i >= 8 || parse_flow(flows[i], rw[i]) != 0) {
			fprintf(stderr, "fastpath_diff: bad --flow %s\n",
				flows[i]);
			return 2;
		}
	struct nat_fastpath_opts o = {.ifnames = names, .n_ifnames = n,
				      .max_flows = 64, .n_queues = 1};
	struct nat_fastpath *fp = nat_fastpath_open(&o, err, sizeof(err));
	if (!fp) {
		printf("%s\n", err);
		return 77;
	}
	struct nat_offload_ops ops = nat_fastpath_ops(fp);
	for (int i = 0; i < n_flows; i++)
		if (ops.install(ops.ctx, (uint64_t)i + 1, rw[i]) != 0) {
			printf("install of flow %d failed\n", i + 1);
			nat_fastpath_close(fp);
			return 1;
		}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	for (int i = 0; i < n_flows; i++) {
		struct nat_fp_counters k;
		ops.remove(ops.ctx, rw[i], &k);
		printf("flow %d: out %llu pkts %llu bytes, in %llu pkts %llu "
		       "bytes, last %s\n",
		       i + 1, (unsigned long long)k.pkts_out,
		       (unsigned long long)k.bytes_out,
		       (unsigned long long)k.pkts_in,
		       (unsigned long long)k.bytes_in,
		       k.last_ns && k.last_ns <= wall_ns() &&
				       wall_ns() - k.last_ns < 60000000000ull
			       ? "recent"
			       : "wrong");
	}
	const char *cn[32];
	uint64_t cv[32];
	size_t nc = nat_fastpath_counters(fp, cn, cv, 32);
	for (size_t i = 0; i < nc; i++)
		printf("%s=%llu\n", cn[i], (unsigned long long)cv[i]);
	nat_fastpath_close(fp);
	return 0;
}

/* The program's cost per packet as BPF_PROG_TEST_RUN measures it (JIT,
 * one CPU): a hit (a rewrite whose result is installed as the way back,
 * so every repetition hits again) and a miss. Printed, not checked. */
static void timing(struct ctx *c)
{
	static uint8_t pkt[2048], out[2048 + ETH], frame[2048 + ETH];
	struct nat_fp_rewrite rw[2] = {
		{.proto = 17, .dir = NAT_DIR_OUT, .src = IP4(172, 17, 240, 2),
		 .dst = IP4(198, 51, 100, 2), .sport = 5000, .dport = 53,
		 .new_src = IP4(203, 0, 113, 1), .new_dst = IP4(198, 51, 100, 2),
		 .new_sport = 40000, .new_dport = 53},
		{.proto = 17, .dir = NAT_DIR_IN, .src = IP4(203, 0, 113, 1),
		 .dst = IP4(198, 51, 100, 2), .sport = 40000, .dport = 53,
		 .new_src = IP4(172, 17, 240, 2), .new_dst = IP4(198, 51, 100, 2),
		 .new_sport = 5000, .new_dport = 53}};
	struct pspec s = {.proto = 17, .src = rw[0].src, .dst = rw[0].dst,
			  .sport = 5000, .dport = 53, .plen = 18};
	uint32_t dur[2] = {0, 0};
	struct nat_fp_counters k;

	if (c->ops.install(c->ops.ctx, 1, rw) != 0)
		return;
	for (int miss = 0; miss < 2; miss++) {
		size_t len = build(pkt, &s);
		if (miss)
			pkt[9] = 47; /* GRE: not ours */
		memset(frame, 0, ETH);
		frame[12] = 0x08;
		memcpy(frame + ETH, pkt, len);
		DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame,
				    .data_size_in = (uint32_t)(len + ETH),
				    .data_out = out, .data_size_out = sizeof(out),
				    .repeat = 200000);
		if (bpf_prog_test_run_opts(c->prog_fd, &o) == 0)
			dur[miss] = o.duration;
	}
	c->ops.remove(c->ops.ctx, rw, &k);
	printf("# program time per packet (BPF_PROG_TEST_RUN, 200000 runs): "
	       "hit %u ns, miss %u ns; %llu hits counted\n",
	       dur[0], dur[1], (unsigned long long)(k.pkts_out + k.pkts_in));
}

/* The random groups' configs: port preservation with few source ports
 * (collisions), and no preservation with a redirect and an snat rule. */
static const char cfg_colliding[] = "nat_ip: 203.0.113.1\n"
				    "internal_network: 172.17.240.0/24\n"
				    "port_preservation: true\n";
static const char cfg_rules[] = "nat_ip: 203.0.113.1\n"
				"internal_network: 172.17.240.0/24\n"
				"port_preservation: false\n"
				"rules:\n"
				"  - name: to-proxy\n"
				"    protocol: tcp\n"
				"    ports: 8080\n"
				"    action: redirect\n"
				"    to_address: 198.51.100.80\n"
				"    to_port: 3128\n"
				"  - name: upper-half\n"
				"    source: 172.17.240.128/25\n"
				"    action: snat\n"
				"    to_address: 203.0.113.2\n"
				"  - name: internet\n"
				"    action: nat\n";

static int usage(FILE *to)
{
	fprintf(to,
		"usage: fastpath_diff [--seed N] [--flows N] "
		"[--replay CONFIG CAPTURE]...\n"
		"       fastpath_diff --live IF[,IF...] --flow "
		"'udp IN:PORT REMOTE:PORT MAPPED:PORT'...\n"
		"Runs the fast path's BPF program (BPF_PROG_TEST_RUN) and the "
		"engine on the same packets and compares them byte by byte.\n"
		"--live attaches to the interfaces, installs the flows, prints "
		"\"ready\", waits for a line on stdin, then prints each flow's "
		"counters.\n"
		"Needs root (CAP_BPF). Exit 0 all passed, 1 a check failed, "
		"77 BPF cannot be loaded here.\n");
	return to == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	static struct ctx c;
	unsigned flows = 300;
	char err[512], *live_ifs = NULL, *live_flows[8];
	int n_live = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout);
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 0) | 1;
		else if (strcmp(argv[i], "--flows") == 0 && i + 1 < argc)
			flows = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--replay") == 0 && i + 2 < argc)
			i += 2; /* below, once the program is loaded */
		else if (strcmp(argv[i], "--live") == 0 && i + 1 < argc)
			live_ifs = argv[++i];
		else if (strcmp(argv[i], "--flow") == 0 && i + 1 < argc &&
			 n_live < 8)
			live_flows[n_live++] = argv[++i];
		else
			return usage(stderr);
	}
	if (live_ifs)
		return live(live_ifs, live_flows, n_live);

	struct nat_fastpath_opts o = {.max_flows = MAX_FLOWS,
				      .n_queues = N_QUEUES};
	c.fp = nat_fastpath_open(&o, err, sizeof(err));
	if (!c.fp) {
		printf("%s\n", err);
		return 77;
	}
	c.ops = nat_fastpath_ops(c.fp);
	c.prog_fd = nat_fastpath_prog_fd(c.fp);

	size_t max_frame = probe_max_frame(&c);
	printf("ok - BPF_PROG_TEST_RUN takes frames up to %zu bytes\n",
	       max_frame);
	if (c.gso_ok)
		printf("ok - BPF_PROG_TEST_RUN takes gso_size/gso_segs: "
		       "packets over 1500 bytes run as GSO packets\n");
	else
		printf("ok - GSO packets # SKIP this kernel's "
		       "BPF_PROG_TEST_RUN refuses gso_size in the context\n");

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--replay") == 0) {
			replay_group(&c, argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(argv[i], "--seed") == 0 ||
			   strcmp(argv[i], "--flows") == 0) {
			i++;
		}

	sweep_group(&c, max_frame);
	edge_group(&c);
	malformed_group(&c);
	random_group(&c, "random flows, port preservation, colliding ports",
		     cfg_colliding,
		     flows, true);
	random_group(&c, "random flows, no port preservation, snat and redirect",
		     cfg_rules,
		     flows, false);

	timing(&c);

	/* The same with the engine deciding what to offload and installing
	 * it itself (rewrites as the engine computes them). */
	c.engine_offload = true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--replay") == 0) {
			replay_group(&c, argv[i + 1], argv[i + 2]);
			i += 2;
		}
	random_group(&c, "engine offloads: random flows, colliding ports",
		     cfg_colliding,
		     flows, true);
	random_group(&c, "engine offloads: random flows, snat and redirect",
		     cfg_rules,
		     flows, false);

	nat_fastpath_close(c.fp);
	return total_fail ? 1 : 0;
}
