/* The engine's offload decision and accounting (engine_offload.c), against
 * a fake offloader that keeps the installed flows in an array and lets a
 * test play the kernel: set what it counted and when it last saw a packet. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "config.h"
#include "engine.h"
#include "packet.h"
#include "pktbuild.h"

#define NAT IP4(203, 0, 113, 1)
#define IN1 IP4(172, 17, 240, 21)
#define IN2 IP4(172, 17, 240, 22)
#define R1 IP4(198, 51, 100, 10)
#define S (1000000000ull)
#define BASE (1700000000ull * S) /* wall clock, like live packets */

/* ---- the fake offloader ---- */

#define FK_MAX 8
struct fk_entry {
	bool used;
	uint64_t id;
	struct nat_fp_rewrite rw[2];
	struct nat_fp_counters c; /* what "the kernel" counted */
};

static struct {
	struct fk_entry e[FK_MAX];
	unsigned installs, removes, reads;
	bool fail; /* install refuses */
	/* The order of calls, for "removed before the state event". */
	unsigned seq, removed_at;
} fk;

static bool same(const struct nat_fp_rewrite *a, const struct nat_fp_rewrite *b)
{
	return memcmp(a, b, 2 * sizeof(*a)) == 0;
}

static struct fk_entry *fk_find(const struct nat_fp_rewrite rw[2])
{
	for (int i = 0; i < FK_MAX; i++)
		if (fk.e[i].used && same(fk.e[i].rw, rw))
			return &fk.e[i];
	return NULL;
}

static int fk_install(void *ctx, uint64_t id, const struct nat_fp_rewrite rw[2])
{
	(void)ctx;
	fk.installs++;
	if (fk.fail)
		return -1;
	cr_assert_null(fk_find(rw), "flow %llu installed twice",
		       (unsigned long long)id);
	for (int i = 0; i < FK_MAX; i++) {
		if (!fk.e[i].used) {
			memset(&fk.e[i], 0, sizeof(fk.e[i]));
			fk.e[i].used = true;
			fk.e[i].id = id;
			memcpy(fk.e[i].rw, rw, 2 * sizeof(*rw));
			return 0;
		}
	}
	return -1;
}

static void fk_remove(void *ctx, const struct nat_fp_rewrite rw[2],
		      struct nat_fp_counters *c)
{
	(void)ctx;
	struct fk_entry *x = fk_find(rw);
	cr_assert_not_null(x, "remove of a flow that is not installed");
	fk.removes++;
	fk.removed_at = ++fk.seq;
	*c = x->c;
	x->used = false;
}

static int fk_read(void *ctx, const struct nat_fp_rewrite rw[2],
		   struct nat_fp_counters *c)
{
	(void)ctx;
	struct fk_entry *x = fk_find(rw);
	fk.reads++;
	if (!x)
		return -1;
	*c = x->c;
	return 0;
}

static unsigned fk_count(void)
{
	unsigned n = 0;
	for (int i = 0; i < FK_MAX; i++)
		n += fk.e[i].used;
	return n;
}

static struct fk_entry *fk_only(void)
{
	cr_assert_eq(fk_count(), 1, "expected one installed flow, have %u",
		     fk_count());
	for (int i = 0; i < FK_MAX; i++)
		if (fk.e[i].used)
			return &fk.e[i];
	return NULL;
}

/* ---- the engine under test ---- */

static struct nat_rule_cfg g_rules[2];
static struct nat_forward_cfg g_fwd[2];
static struct nat_config g_cfg;

#define MAX_EV 256
static struct nat_event g_ev[MAX_EV];
static unsigned g_ev_seq[MAX_EV];
static size_t g_nev;
static int g_watch = -1; /* -1: no watching hook; 0/1 its answer */
static bool g_packet_hook;

static void on_event(void *ctx, const struct nat_event *ev)
{
	(void)ctx;
	if (g_nev < MAX_EV) {
		g_ev_seq[g_nev] = ++fk.seq;
		g_ev[g_nev++] = *ev;
	}
}

static void on_packet(void *ctx, int stage, const uint8_t *pkt, size_t len,
		      const struct nat_meta *m, const struct nat_result *r)
{
	(void)ctx, (void)stage, (void)pkt, (void)len, (void)m, (void)r;
}

static bool on_watching(void *ctx, uint32_t word)
{
	(void)ctx, (void)word;
	return g_watch == 1;
}

static const struct nat_event *last_ev(enum nat_event_type t, size_t *at)
{
	for (size_t i = g_nev; i-- > 0;)
		if (g_ev[i].type == t) {
			if (at)
				*at = i;
			return &g_ev[i];
		}
	return NULL;
}

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	nat_config_defaults(&g_cfg);
	memset(g_rules, 0, sizeof(g_rules));
	memset(g_fwd, 0, sizeof(g_fwd));
	g_cfg.nat_ip = NAT;
	g_cfg.internal.addr = IP4(172, 17, 240, 0);
	g_cfg.internal.len = 24;
	g_cfg.rules = g_rules;
	g_cfg.n_rules = 0;
	g_cfg.forwards = g_fwd;
	g_cfg.limits.max_flows = 64;
	g_cfg.timeouts.udp = 120;
	g_nev = 0;
	g_watch = -1;
	g_packet_hook = false;
}

static struct nat_engine *make(void)
{
	char err[256];
	struct nat_engine *e = nat_engine_create(&g_cfg, err, sizeof(err));
	cr_assert_not_null(e, "engine create failed: %s", err);
	struct nat_hooks h = { .ctx = NULL, .event = on_event };
	if (g_packet_hook)
		h.packet = on_packet;
	if (g_watch >= 0)
		h.watching = on_watching;
	nat_engine_set_hooks(e, &h);
	struct nat_offload_ops ops = { .ctx = NULL,
				       .install = fk_install,
				       .remove = fk_remove,
				       .read = fk_read };
	cr_assert_eq(nat_engine_set_offload(e, &ops, err, sizeof(err)), 0,
		     "set_offload: %s", err);
	return e;
}

static uint8_t buf[2048];

static struct nat_result go(struct nat_engine *e, size_t len, enum nat_dir d,
			    uint64_t ts)
{
	struct nat_meta m = { .dir = d, .ts_ns = BASE + ts };
	struct nat_result r;
	nat_process(e, buf, len, &m, &r);
	return r;
}

static uint16_t handshake(struct nat_engine *e, uint32_t in, uint16_t port,
			  uint64_t t)
{
	unsigned before = fk.installs;
	size_t n = tb_tcp(buf, in, port, R1, 80, NAT_TCP_SYN, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, t).verdict, NAT_V_NAT);
	uint16_t mapped = tb_sport(buf);
	cr_assert_eq(fk.installs, before, "offloaded on its SYN");
	n = tb_tcp(buf, R1, 80, NAT, mapped, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_IN, t).verdict, NAT_V_NAT);
	cr_assert_eq(fk.installs, before, "offloaded on its SYN/ACK");
	n = tb_tcp(buf, in, port, R1, 80, NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, t).verdict, NAT_V_NAT);
	return mapped;
}

/* The one flow's close event, or a failure. */
static const struct nat_event *close_ev(void)
{
	const struct nat_event *ev = last_ev(NAT_EV_FLOW_CLOSE, NULL);
	cr_assert_not_null(ev, "no flow.close event");
	return ev;
}

TestSuite(offload, .init = setup);

Test(offload, tcp_installed_once_established_with_both_rewrites)
{
	struct nat_engine *e = make();
	uint16_t mapped = handshake(e, IN1, 5555, 0);
	cr_assert_eq(fk.installs, 1, "an established TCP flow not offloaded");
	struct fk_entry *x = fk_only();
	const struct nat_fp_rewrite *o = &x->rw[0], *i = &x->rw[1];
	cr_assert_eq(o->dir, NAT_DIR_OUT);
	cr_assert_eq(o->proto, 6);
	cr_assert(o->src == IN1 && o->sport == 5555 && o->dst == R1 &&
			  o->dport == 80,
		  "out rewrite matches the wrong packets");
	cr_assert(o->new_src == NAT && o->new_sport == mapped &&
			  o->new_dst == R1 && o->new_dport == 80,
		  "out rewrite gives the wrong translation");
	cr_assert_eq(i->dir, NAT_DIR_IN);
	cr_assert(i->src == R1 && i->sport == 80 && i->dst == NAT &&
			  i->dport == mapped,
		  "in rewrite matches the wrong packets");
	cr_assert(i->new_src == R1 && i->new_sport == 80 && i->new_dst == IN1 &&
			  i->new_dport == 5555,
		  "in rewrite gives the wrong translation");
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->offload_now, 1);
	cr_assert_eq(st->offload_total, 1);
	/* More packets reaching the engine do not install it again. */
	size_t n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 100);
	go(e, n, NAT_DIR_OUT, 1 * S);
	cr_assert_eq(fk.installs, 1, "installed again while installed");
	nat_engine_destroy(e);
}

Test(offload, fin_takes_flow_out_before_its_state_change)
{
	struct nat_engine *e = make();
	uint16_t mapped = handshake(e, IN1, 5555, 0);
	struct fk_entry *x = fk_only();
	x->c.pkts_out = 1000;
	x->c.bytes_out = 1000 * 1500;
	x->c.pkts_in = 500;
	x->c.bytes_in = 500 * 52;
	x->c.last_ns = BASE + 5 * S;
	size_t n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_FIN | NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 6 * S).verdict, NAT_V_NAT);
	cr_assert_eq(fk.removes, 1, "a FIN left the flow in the kernel");
	size_t at;
	const struct nat_event *st = last_ev(NAT_EV_FLOW_STATE, &at);
	cr_assert_not_null(st);
	cr_assert_eq(st->flow.tcp_state, NAT_TCP_FIN_WAIT);
	cr_assert_lt(fk.removed_at, g_ev_seq[at],
		     "the state event came before the flow left the map");
	cr_assert_eq(st->flow.pkts_out, 3 + 1000,
		     "the state event lacks the kernel's packets: %llu",
		     (unsigned long long)st->flow.pkts_out);
	/* Closing: not installed again, and the close carries all of it. */
	n = tb_tcp(buf, R1, 80, NAT, mapped, NAT_TCP_FIN | NAT_TCP_ACK, 0);
	go(e, n, NAT_DIR_IN, 7 * S);
	n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 0);
	go(e, n, NAT_DIR_OUT, 7 * S);
	cr_assert_eq(fk.installs, 1, "a closing flow was offloaded again");
	nat_engine_flush(e, BASE + 8 * S);
	const struct nat_event *c = close_ev();
	cr_assert_eq(c->flow.pkts_out, 3 + 1000 + 1);
	cr_assert_eq(c->flow.pkts_in, 2 + 500);
	cr_assert_eq(c->flow.bytes_in, 2 * 40 + 500 * 52);
	const struct nat_stats *s = nat_engine_stats(e);
	cr_assert_eq(s->offload_packets, 1500);
	cr_assert_eq(s->offload_bytes, 1000 * 1500 + 500 * 52);
	cr_assert_eq(s->offload_now, 0);
	nat_engine_destroy(e);
}

Test(offload, rst_from_outside_takes_flow_out)
{
	struct nat_engine *e = make();
	uint16_t mapped = handshake(e, IN1, 5555, 0);
	size_t n = tb_tcp(buf, R1, 80, NAT, mapped, NAT_TCP_RST, 0);
	go(e, n, NAT_DIR_IN, 1 * S);
	cr_assert_eq(fk.removes, 1, "an RST left the flow in the kernel");
	cr_assert_eq(fk_count(), 0);
	nat_engine_destroy(e);
}

Test(offload, udp_installed_only_once_seen_both_ways)
{
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t mapped = tb_sport(buf);
	n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(fk.installs, 0, "UDP offloaded after two datagrams out");
	n = tb_udp(buf, R1, 53, NAT, mapped, 30);
	go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(fk.installs, 1, "UDP seen both ways not offloaded");
	struct fk_entry *x = fk_only();
	cr_assert(x->rw[1].dport == mapped && x->rw[1].new_dport == 5000);
	nat_engine_destroy(e);
}

Test(offload, udp_one_way_stream_installed_after_four_out)
{
	struct nat_engine *e = make();
	size_t n = 0;
	for (int k = 1; k <= 3; k++) {
		n = tb_udp(buf, IN1, 5004, R1, 5201, 64);
		go(e, n, NAT_DIR_OUT, 0);
	}
	cr_assert_eq(fk.installs, 0, "a one-way UDP flow offloaded before 4");
	uint16_t mapped = tb_sport(buf);
	n = tb_udp(buf, IN1, 5004, R1, 5201, 64);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(fk.installs, 1, "a one-way UDP stream stayed in user space");
	struct fk_entry *x = fk_only();
	cr_assert(x->rw[0].sport == 5004 && x->rw[0].new_sport == mapped);
	cr_assert(x->rw[1].dport == mapped && x->rw[1].new_dport == 5004);
	nat_engine_destroy(e);
}

Test(offload, icmp_echo_installed_once_answered_with_the_id)
{
	struct nat_engine *e = make();
	size_t n = tb_echo(buf, 8, IN1, R1, 7, 1);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t id = tb_echo_id(buf);
	cr_assert_eq(fk.installs, 0, "unanswered echo offloaded");
	n = tb_echo(buf, 0, R1, NAT, id, 1);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
	cr_assert_eq(fk.installs, 1, "answered echo not offloaded");
	struct fk_entry *x = fk_only();
	cr_assert(x->rw[0].sport == 7 && x->rw[0].new_sport == id &&
			  x->rw[0].dport == 0 && x->rw[0].new_dport == 0,
		  "echo out rewrite: the id belongs in sport");
	cr_assert(x->rw[1].dport == id && x->rw[1].new_dport == 7 &&
			  x->rw[1].sport == 0 && x->rw[1].new_sport == 0,
		  "echo in rewrite: the id belongs in dport");
	nat_engine_destroy(e);
}

Test(offload, watched_flow_stays_in_user_space)
{
	g_packet_hook = true;
	g_watch = 1;
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	cr_assert_eq(fk.installs, 0, "a traced flow was offloaded");
	nat_engine_destroy(e);
}

Test(offload, packet_hook_without_watching_watches_everything)
{
	g_packet_hook = true;
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	cr_assert_eq(fk.installs, 0,
		     "offloaded under a packet hook that sees every packet");
	nat_engine_destroy(e);
}

Test(offload, unselected_flow_offloaded_under_a_trace)
{
	g_packet_hook = true;
	g_watch = 0;
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	cr_assert_eq(fk.installs, 1, "a flow the trace did not select stayed");
	nat_engine_destroy(e);
}

Test(offload, hairpinned_flow_not_offloaded)
{
	g_cfg.filtering = NAT_FILTER_EI;
	struct nat_engine *e = make();
	/* IN2 gets a mapping; IN1 talks to it through the NAT address. */
	size_t n = tb_udp(buf, IN2, 6000, R1, 53, 10);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t m2 = tb_sport(buf);
	for (int k = 0; k < 3; k++) {
		n = tb_udp(buf, IN1, 7000, NAT, m2, 10);
		cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
		cr_assert(tb_dst(buf) == IN2, "not hairpinned");
		n = tb_udp(buf, IN2, 6000, NAT, tb_sport(buf), 10);
		go(e, n, NAT_DIR_OUT, 0);
	}
	cr_assert_eq(fk.installs, 0, "a hairpinned flow was offloaded");
	nat_engine_destroy(e);
}

Test(offload, refused_install_counted_and_tried_again_a_second_later)
{
	struct nat_engine *e = make();
	fk.fail = true;
	handshake(e, IN1, 5555, 0);
	cr_assert_eq(fk.installs, 1);
	size_t n;
	for (int k = 0; k < 5; k++) {
		n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 10);
		cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT,
			     "a refused flow stopped translating");
	}
	cr_assert_eq(fk.installs, 1, "retried within the same second");
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->offload_failed, 1);
	cr_assert_eq(st->offload_now, 0);
	fk.fail = false;
	n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 10);
	go(e, n, NAT_DIR_OUT, 2 * S);
	cr_assert_eq(fk.installs, 2, "not tried again a second later");
	cr_assert_eq(nat_engine_stats(e)->offload_now, 1);
	nat_engine_destroy(e);
}

/* A UDP flow the kernel keeps busy outlives its idle timeout; once the
 * kernel saw nothing for the timeout it expires with every count. */
Test(offload, expiry_follows_the_kernels_last_packet)
{
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t mapped = tb_sport(buf);
	n = tb_udp(buf, R1, 53, NAT, mapped, 30);
	go(e, n, NAT_DIR_IN, 0);
	struct fk_entry *x = fk_only();
	x->c.pkts_out = 40;
	x->c.bytes_out = 40 * 38;
	x->c.last_ns = BASE + 100 * S;
	nat_engine_tick(e, BASE + 130 * S);
	cr_assert_null(last_ev(NAT_EV_FLOW_CLOSE, NULL),
		       "expired while the kernel was translating it");
	cr_assert_eq(fk.removes, 0);
	/* Taken at the check: counted once, not again at the close. */
	cr_assert_eq(nat_engine_stats(e)->offload_packets, 40);
	x->c.pkts_out = 50;
	x->c.bytes_out = 50 * 38;
	nat_engine_tick(e, BASE + 219 * S);
	cr_assert_null(last_ev(NAT_EV_FLOW_CLOSE, NULL), "expired early");
	nat_engine_tick(e, BASE + 222 * S);
	const struct nat_event *c = close_ev();
	cr_assert_eq(c->close_reason, NAT_CLOSE_TIMEOUT);
	cr_assert_eq(fk.removes, 1, "expired but left in the kernel's map");
	cr_assert_eq(c->flow.pkts_out, 1 + 50);
	cr_assert_eq(c->flow.bytes_out, 38 + 50 * 38);
	cr_assert_eq(c->flow.last_ns, BASE + 100 * S);
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->offload_packets, 50);
	cr_assert_eq(st->flows_expired, 1);
	nat_engine_destroy(e);
}

static void sum_flows(void *ctx, const struct nat_flow_info *fi)
{
	uint64_t *s = ctx;
	s[0] += fi->pkts_out;
	s[1] += fi->bytes_in;
}

Test(offload, listing_shows_kernel_counts_without_taking_them)
{
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	struct fk_entry *x = fk_only();
	x->c.pkts_out = 7;
	x->c.bytes_in = 7000;
	uint64_t s[2] = { 0, 0 };
	nat_engine_foreach_flow(e, sum_flows, s);
	cr_assert_eq(s[0], 2 + 7, "listing lacks the kernel's packets");
	cr_assert_eq(s[1], 40 + 7000);
	memset(s, 0, sizeof(s));
	nat_engine_foreach_flow(e, sum_flows, s);
	cr_assert_eq(s[0], 2 + 7, "a listing counted the kernel's twice");
	nat_engine_flush(e, BASE + S);
	cr_assert_eq(close_ev()->flow.pkts_out, 2 + 7);
	nat_engine_destroy(e);
}

Test(offload, flush_takes_every_flow_back_and_next_packet_reinstalls)
{
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	handshake(e, IN2, 5556, 0);
	cr_assert_eq(fk_count(), 2);
	for (int i = 0; i < FK_MAX; i++)
		fk.e[i].c.pkts_in = 3;
	cr_assert_eq(nat_engine_offload_flush(e), 2);
	cr_assert_eq(fk_count(), 0);
	cr_assert_eq(nat_engine_stats(e)->offload_now, 0);
	cr_assert_eq(nat_engine_stats(e)->offload_packets, 6);
	size_t n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 10);
	go(e, n, NAT_DIR_OUT, S);
	cr_assert_eq(fk_count(), 1, "not offloaded again after the flush");
	nat_engine_flush(e, BASE + 2 * S);
	/* Both closes carry the kernel's 3 replies. */
	unsigned with = 0;
	for (size_t i = 0; i < g_nev; i++)
		if (g_ev[i].type == NAT_EV_FLOW_CLOSE)
			with += g_ev[i].flow.pkts_in == 1 + 3;
	cr_assert_eq(with, 2, "a close lost the kernel's packets");
	cr_assert_eq(fk_count(), 0, "shutdown left flows in the kernel");
	nat_engine_destroy(e);
}

Test(offload, delete_and_clearing_the_offloader_remove_from_the_map)
{
	struct nat_engine *e = make();
	handshake(e, IN1, 5555, 0);
	handshake(e, IN2, 5556, 0);
	char err[128];
	cr_assert_eq(nat_engine_set_offload(e, NULL, err, sizeof(err)), 0);
	cr_assert_eq(fk_count(), 0, "clearing the offloader left flows");
	size_t n = tb_tcp(buf, IN1, 5555, R1, 80, NAT_TCP_ACK, 10);
	go(e, n, NAT_DIR_OUT, S);
	cr_assert_eq(fk.installs, 2, "installed with no offloader");
	nat_engine_destroy(e);
}
