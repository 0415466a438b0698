/* The fast-path loader's pure helpers (nat/backend/fastpath_entry.c):
 * map entries from the engine's rewrites, the checksum deltas the BPF
 * program adds, counters and clocks. The deltas are checked by applying
 * them the way the kernel's bpf_l3/l4_csum_replace(size 0) do (modelled
 * here from the kernel's documented arithmetic) to packets built by
 * pktbuild.h, against checksums recomputed from scratch; the real
 * helpers are checked against the engine in tests/e2e/fastpath_diff.c. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "fastpath_entry.h"
#include "pktbuild.h"

static uint64_t seed = 20261201;

static uint32_t rnd(void)
{
	seed = seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(seed >> 33);
}

/* The kernel's csum_add / csum_fold / csum_replace_by_diff on raw
 * (memory-order) values. */
static uint32_t k_add(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;
	return r + (r < b);
}

static uint16_t k_fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void k_replace_by_diff(uint8_t *field, uint32_t diff, bool udp)
{
	uint16_t sum;

	memcpy(&sum, field, 2);
	if (udp && sum == 0)
		return; /* BPF_F_MARK_MANGLED_0: no checksum stays none */
	sum = k_fold(k_add(diff, ~(uint32_t)sum));
	if (udp && sum == 0)
		sum = 0xffff;
	memcpy(field, &sum, 2);
}

/* Applies an entry to packet p the way fastpath.bpf.c does. */
static void apply(uint8_t *p, const struct nat_fp_val *v)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4;
	uint8_t *l4 = p + ihl;
	uint8_t *cs = l4 + (p[9] == 6 ? 16 : p[9] == 17 ? 6 : 2);

	if (v->changed & NAT_FP_CH_ADDR) {
		memcpy(p + 12, &v->new_src, 4);
		memcpy(p + 16, &v->new_dst, 4);
		k_replace_by_diff(p + 10, v->csum_addr, false);
		if (p[9] != 1)
			k_replace_by_diff(cs, v->csum_addr, p[9] == 17);
	}
	if (v->changed & NAT_FP_CH_PORT) {
		if (p[9] == 1)
			memcpy(l4 + 4, l4[0] == 8 ? &v->new_sport : &v->new_dport, 2);
		else {
			memcpy(l4, &v->new_sport, 2);
			memcpy(l4 + 2, &v->new_dport, 2);
		}
		k_replace_by_diff(cs, v->csum_port, p[9] == 17);
	}
}

static size_t random_packet(uint8_t *b, uint8_t proto, struct nat_fp_rewrite *rw)
{
	rw->proto = proto;
	rw->src = IP4(172, 17, 240, rnd() % 254 + 1);
	rw->dst = rnd();
	rw->sport = (uint16_t)rnd();
	rw->dport = proto == 1 ? 0 : (uint16_t)rnd();
	if (proto == 6)
		return tb_tcp(b, rw->src, rw->sport, rw->dst, rw->dport, 0x18,
			      rnd() % 1400);
	if (proto == 17)
		return tb_udp(b, rw->src, rw->sport, rw->dst, rw->dport,
			      rnd() % 1400);
	return tb_echo(b, 8, rw->src, rw->dst, rw->sport, (uint16_t)rnd());
}

Test(fastpath_entry, deltas_give_the_recomputed_checksums)
{
	static uint8_t b[2048];
	static const uint8_t protos[] = {6, 17, 1};

	for (int i = 0; i < 30000; i++) {
		struct nat_fp_rewrite rw;
		struct nat_fp_key k;
		struct nat_fp_val v;
		uint8_t proto = protos[i % 3];
		size_t len = random_packet(b, proto, &rw);

		/* any subset of the four fields changes */
		rw.new_src = rnd() & 1 ? rnd() : rw.src;
		rw.new_dst = rnd() & 1 ? rnd() : rw.dst;
		rw.new_sport = rnd() & 1 ? (uint16_t)rnd() : rw.sport;
		rw.new_dport = proto == 1 ? 0 : rnd() & 1 ? (uint16_t)rnd() : rw.dport;
		nat_fp_entry_build(&rw, &k, &v);
		apply(b, &v);

		cr_assert_eq(tb_src(b), rw.new_src);
		cr_assert_eq(tb_dst(b), rw.new_dst);
		cr_assert(tb_ip_ok(b), "packet %d: IPv4 checksum wrong", i);
		cr_assert(tb_l4_ok(b), "packet %d (proto %u, %zu bytes): L4 checksum wrong",
			  i, proto, len);
	}
}

Test(fastpath_entry, udp_without_checksum_keeps_none)
{
	static uint8_t b[2048];
	struct nat_fp_rewrite rw;
	struct nat_fp_key k;
	struct nat_fp_val v;

	random_packet(b, 17, &rw);
	tb_put16(b + 26, 0);
	rw.new_src = IP4(203, 0, 113, 1);
	rw.new_sport = 40000;
	rw.new_dst = rw.dst, rw.new_dport = rw.dport;
	nat_fp_entry_build(&rw, &k, &v);
	apply(b, &v);
	cr_assert_eq(tb_get16(b + 26), 0, "UDP checksum 0 became 0x%04x",
		     tb_get16(b + 26));
}

Test(fastpath_entry, key_and_value_are_in_network_order)
{
	struct nat_fp_rewrite rw = {.proto = 17, .dir = 1,
				    .src = IP4(172, 17, 240, 2),
				    .dst = IP4(198, 51, 100, 2),
				    .sport = 5000, .dport = 53,
				    .new_src = IP4(203, 0, 113, 1),
				    .new_dst = IP4(198, 51, 100, 2),
				    .new_sport = 40000, .new_dport = 53};
	struct nat_fp_key k;
	struct nat_fp_val v;
	static const uint8_t want_key[16] = {172, 17, 240, 2, 198, 51, 100, 2,
					     0x13, 0x88, 0, 53, 17, 0, 0, 0};

	memset(&k, 0xaa, sizeof(k));
	nat_fp_entry_build(&rw, &k, &v);
	cr_assert_eq(sizeof(k), 16);
	cr_assert(memcmp(&k, want_key, 16) == 0, "key bytes (pad must be 0)");
	cr_assert_eq(v.new_src, htonl(IP4(203, 0, 113, 1)));
	cr_assert_eq(v.new_sport, htons(40000));
	cr_assert_eq(v.changed, NAT_FP_CH_ADDR | NAT_FP_CH_PORT);
	cr_assert_eq(v.dir, 1);
	cr_assert_eq(v.pkts + v.bytes + v.last_ns, 0);
}

Test(fastpath_entry, unchanged_fields_are_not_flagged)
{
	struct nat_fp_rewrite rw = {.proto = 6, .src = 1, .dst = 2,
				    .sport = 3, .dport = 4, .new_src = 1,
				    .new_dst = 2, .new_sport = 3,
				    .new_dport = 4};
	struct nat_fp_key k;
	struct nat_fp_val v;

	nat_fp_entry_build(&rw, &k, &v);
	cr_assert_eq(v.changed, 0);
	rw.new_dport = 5;
	nat_fp_entry_build(&rw, &k, &v);
	cr_assert_eq(v.changed, NAT_FP_CH_PORT, "only a port changed");
	cr_assert_eq(v.csum_addr, 0);
}

Test(fastpath_entry, counters_sum_cpus_and_keep_the_latest)
{
	struct nat_fp_counters c = {0};
	struct nat_fp_val a = {.pkts = 2, .bytes = 100, .last_ns = 50};
	struct nat_fp_val b = {.pkts = 3, .bytes = 7, .last_ns = 40};
	uint64_t last = 0;

	nat_fp_counters_add(&c, 0, &a, &last);
	nat_fp_counters_add(&c, 0, &b, &last);
	nat_fp_counters_add(&c, 1, &b, &last);
	cr_assert_eq(c.pkts_out, 5);
	cr_assert_eq(c.bytes_out, 107);
	cr_assert_eq(c.pkts_in, 3);
	cr_assert_eq(c.bytes_in, 7);
	cr_assert_eq(last, 50);
}

Test(fastpath_entry, monotonic_to_wall_clock)
{
	cr_assert_eq(nat_fp_mono_to_wall(0, 1000, 5000), 0, "no packet stays 0");
	cr_assert_eq(nat_fp_mono_to_wall(900, 1000, 5000), 4900);
	cr_assert_eq(nat_fp_mono_to_wall(1200, 1000, 5000), 5000,
		     "a packet after the read is now");
	cr_assert_eq(nat_fp_mono_to_wall(1, 10000, 5000), 1,
		     "never before the epoch");
}
