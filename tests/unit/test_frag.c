/* Tests for nat/core/frag.c: fragments in order and out of order, a first
 * fragment that never comes, overlaps and tiny fragments, full tables and
 * buffers, datagrams that share an IP id, the header checksum after a
 * rewrite against a full recompute, and a randomized comparison against a
 * naive list model with a fixed seed. Every test asserts the counters.
 *
 * Fragments are built here byte by byte (pktbuild.h computes checksums
 * from scratch), never through the code under test. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frag.h"
#include "pktbuild.h"

#define S_NS 1000000000ull

enum { P_ICMP = 1, P_TCP = 6, P_UDP = 17 };

static const uint32_t INSIDE = IP4(172, 17, 240, 22);
static const uint32_t REMOTE = IP4(198, 51, 100, 7);
static const uint32_t NATIP = IP4(203, 0, 113, 1);

/* Writes one fragment into b: IHL 20, the payload a pattern derived from
 * its offset (so a reordering shows), header checksum valid. */
static size_t mkfrag(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto,
		     uint16_t id, uint16_t offset, uint16_t payload, bool more)
{
	size_t total = 20u + payload;
	tb_ip_header(b, total, proto, src, dst);
	tb_put16(b + 4, id);
	tb_put16(b + 6, (uint16_t)((more ? 0x2000 : 0) | offset / 8));
	for (size_t i = 0; i < payload; i++)
		b[20 + i] = (uint8_t)(offset + i);
	tb_put16(b + 10, 0);
	tb_put16(b + 10, tb_fold(tb_sum(0, b, 20)));
	return total;
}

static struct nat_frag_info info_of(const uint8_t *b, size_t len,
				    enum nat_frag_kind want)
{
	struct nat_frag_info fi;
	enum nat_frag_kind k = nat_frag_parse(b, len, &fi);
	cr_assert_eq(k, want, "fragment kind %d, expected %d", k, want);
	return fi;
}

static struct nat_frag_table *mk(uint32_t dgrams, uint32_t held, uint32_t bytes)
{
	struct nat_frag_params p = { .max_datagrams = dgrams,
				     .max_held = held,
				     .max_held_bytes = bytes,
				     .timeout_ns = 0,
				     .hash_seed = 0x5eed };
	char err[160];
	struct nat_frag_table *t = nat_frag_create(&p, err, sizeof(err));
	cr_assert_not_null(t, "create: %s", err);
	return t;
}

static const struct nat_frag_rewrite SNAT = { .what = NAT_FRAG_RW_SRC,
					      .src = IP4(203, 0, 113, 1),
					      .flow_id = 7 };

/* Expect every counter of t to equal want (named in the failure). */
static void expect_stats(const struct nat_frag_table *t,
			 const struct nat_frag_stats *want)
{
	const struct nat_frag_stats *st = nat_frag_stats(t);
	for (int s = 0; s < NAT_FRAG_STAT_MAX; s++)
		cr_expect_eq(nat_frag_stat_value(st, s),
			     nat_frag_stat_value(want, s),
			     "counter %s is %llu, expected %llu",
			     nat_frag_stat_name(s),
			     (unsigned long long)nat_frag_stat_value(st, s),
			     (unsigned long long)nat_frag_stat_value(want, s));
}

static void expect_usage(const struct nat_frag_table *t, uint32_t dgrams,
			 uint32_t held)
{
	struct nat_frag_usage u;
	nat_frag_usage(t, &u);
	cr_expect_eq(u.datagrams, dgrams, "%u datagrams tracked, expected %u",
		     u.datagrams, dgrams);
	cr_expect_eq(u.held, held, "%u fragments held, expected %u", u.held,
		     held);
}

/* What the out callback saw. */
struct seen {
	int n;
	uint64_t tag[16];
	enum nat_frag_stat why[16];
	uint8_t pkt[16][1600];
	size_t len[16];
};

static void on_out(void *ctx, uint64_t tag, uint8_t *pkt, size_t len,
		   enum nat_frag_stat why)
{
	struct seen *s = ctx;
	cr_assert_lt(s->n, 16);
	s->tag[s->n] = tag;
	s->why[s->n] = why;
	s->len[s->n] = len;
	memcpy(s->pkt[s->n], pkt, len < 1600 ? len : 1600);
	s->n++;
}

/* A 3-fragment UDP datagram: [0,1480) [1480,2960) [2960,3000). */
static size_t frag3(uint8_t *b, int which, uint32_t src, uint16_t id)
{
	static const uint16_t off[3] = { 0, 1480, 2960 };
	static const uint16_t pay[3] = { 1480, 1480, 40 };
	return mkfrag(b, src, REMOTE, P_UDP, id, off[which], pay[which],
		      which < 2);
}

Test(frag, parse_tells_first_later_whole_and_bad)
{
	uint8_t b[1600];
	struct nat_frag_info fi;
	size_t n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 0, 64, false);
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_NONE);
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 0, 64, true);
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_FIRST);
	cr_expect(fi.more && fi.offset == 0 && fi.payload == 64);
	cr_expect(fi.key.src == INSIDE && fi.key.dst == REMOTE &&
		  fi.key.id == 9 && fi.key.proto == P_UDP);
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 64, 30, false);
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_LATER);
	cr_expect(!fi.more && fi.offset == 64 && fi.payload == 30);
	/* MF with a payload not a multiple of 8 */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 64, 30, true);
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_BAD);
	/* truncated copy: total length past the bytes given */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 64, 32, true);
	cr_expect_eq(nat_frag_parse(b, n - 1, &fi), NAT_FRAG_BAD);
	/* end past 65535 (ping of death) */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 9, 65528, 8, false);
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_BAD);
	/* not IPv4 */
	b[0] = 0x65;
	cr_expect_eq(nat_frag_parse(b, n, &fi), NAT_FRAG_BAD);
	cr_expect_eq(nat_frag_parse(b, 19, &fi), NAT_FRAG_BAD);
}

Test(frag, in_order_fragments_follow_the_first_and_are_forgotten_at_the_end)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	size_t n = frag3(b, 0, INSIDE, 0x4242);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 1 * S_NS), NAT_FRAG_OK);
	cr_expect_eq(nat_frag_release(t, &fi.key, NULL), 0);
	for (int w = 1; w < 3; w++) {
		n = frag3(b, w, INSIDE, 0x4242);
		fi = info_of(b, n, NAT_FRAG_LATER);
		struct nat_frag_rewrite rw;
		cr_assert_eq(nat_frag_lookup(t, &fi, 2 * S_NS, &rw),
			     NAT_FRAG_OK, "fragment %d not translated", w);
		cr_expect_eq(rw.flow_id, 7);
		cr_assert(nat_frag_apply(b, n, &rw));
		cr_expect_eq(tb_src(b), SNAT.src, "source left untranslated");
		cr_expect_eq(tb_dst(b), REMOTE);
		cr_expect(tb_ip_ok(b), "header checksum wrong after rewrite");
		cr_expect_eq(b[20], (uint8_t)(w == 1 ? 1480 : 2960),
			     "payload touched");
	}
	expect_usage(t, 0, 0);
	struct nat_frag_stats want = { .learned = 1, .translated = 2 };
	expect_stats(t, &want);
	/* A duplicate after completion is a new, unlearned datagram. */
	struct nat_frag_rewrite rw;
	cr_expect_eq(nat_frag_lookup(t, &fi, 3 * S_NS, &rw), NAT_FRAG_MISS);
	nat_frag_destroy(t);
}

Test(frag, later_fragments_before_the_first_are_held_then_released_in_order)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	struct nat_frag_info fi;
	struct nat_frag_rewrite rw;
	for (int w = 2; w >= 1; w--) {
		size_t n = frag3(b, w, INSIDE, 77);
		fi = info_of(b, n, NAT_FRAG_LATER);
		cr_assert_eq(nat_frag_lookup(t, &fi, S_NS, &rw), NAT_FRAG_MISS);
		cr_assert_eq(
			nat_frag_hold(t, &fi, b, n, 100u + (unsigned)w, S_NS),
			NAT_FRAG_HELD);
	}
	expect_usage(t, 1, 2);
	size_t n = frag3(b, 0, INSIDE, 77);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 2 * S_NS), NAT_FRAG_OK);
	struct seen s = { 0 };
	struct nat_frag_out out = { &s, on_out };
	cr_assert_eq(nat_frag_release(t, &fi.key, &out), 2);
	cr_assert_eq(s.n, 2);
	/* arrival order: the last fragment came first */
	cr_expect_eq(s.tag[0], 102);
	cr_expect_eq(s.tag[1], 101);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(s.why[i], NAT_FRAG_S_RELEASED);
		cr_expect_eq(tb_src(s.pkt[i]), SNAT.src,
			     "released fragment %d untranslated", i);
		cr_expect(tb_ip_ok(s.pkt[i]));
	}
	cr_expect_eq(s.len[0], 60);
	cr_expect_eq(s.len[1], 1500);
	cr_expect_eq(s.pkt[1][20], (uint8_t)1480, "held payload corrupted");
	cr_expect_eq(s.pkt[1][1499], (uint8_t)(1480 + 1479));
	expect_usage(t, 0, 0);
	struct nat_frag_stats want = { .learned = 1, .held = 2, .released = 2 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, first_fragment_never_arriving_expires_held_ones_at_the_timeout)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	for (int w = 1; w < 3; w++) {
		size_t n = frag3(b, w, INSIDE, 5);
		struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
		cr_assert_eq(nat_frag_hold(t, &fi, b, n, (uint64_t)w,
					   10 * S_NS + (uint64_t)w),
			     NAT_FRAG_HELD);
	}
	struct seen s = { 0 };
	struct nat_frag_out out = { &s, on_out };
	cr_expect_eq(nat_frag_expire(t, 40 * S_NS, &out), 0,
		     "expired before 30 s");
	cr_expect_eq(s.n, 0);
	expect_usage(t, 1, 2);
	cr_expect_eq(nat_frag_expire(t, 40 * S_NS + 1, &out), 1);
	cr_assert_eq(s.n, 2);
	cr_expect(s.tag[0] == 1 && s.tag[1] == 2);
	cr_expect(s.why[0] == NAT_FRAG_S_EXPIRED_HELD &&
		  s.why[1] == NAT_FRAG_S_EXPIRED_HELD);
	expect_usage(t, 0, 0);
	struct nat_frag_stats want = { .held = 2,
				       .expired_held = 2,
				       .expired_entries = 1 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, learned_but_incomplete_datagram_expires_as_an_entry)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	size_t n = frag3(b, 0, INSIDE, 6);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	cr_expect_eq(nat_frag_expire(t, 30 * S_NS - 1, NULL), 0);
	cr_expect_eq(nat_frag_expire(t, 30 * S_NS, NULL), 1);
	struct nat_frag_stats want = { .learned = 1, .expired_entries = 1 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, overlapping_fragment_drops_the_rest_of_its_datagram)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	struct nat_frag_rewrite rw;
	size_t n = frag3(b, 0, INSIDE, 1);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	/* [1400, 1480+...) overlaps the first fragment's last bytes */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 1, 1400, 800, true);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_OVERLAP);
	/* an innocent fragment of the same datagram is dropped too */
	n = frag3(b, 2, INSIDE, 1);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_OVERLAP);
	/* an exact duplicate of the first overlaps as well */
	n = frag3(b, 0, INSIDE, 2);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_DROP_OVERLAP);
	struct nat_frag_stats want = { .learned = 2, .dropped_overlap = 3 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, overlap_among_held_fragments_drops_them_at_release)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	size_t n = frag3(b, 1, INSIDE, 3);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_hold(t, &fi, b, n, 1, 0), NAT_FRAG_HELD);
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 3, 2000, 40, false);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 2, 0), NAT_FRAG_DROP_OVERLAP);
	n = frag3(b, 0, INSIDE, 3);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_DROP_OVERLAP);
	struct seen s = { 0 };
	struct nat_frag_out out = { &s, on_out };
	cr_expect_eq(nat_frag_release(t, &fi.key, &out), 1);
	cr_assert_eq(s.n, 1);
	cr_expect_eq(s.why[0], NAT_FRAG_S_DROPPED_OVERLAP,
		     "a fragment of an overlapping datagram was released");
	cr_expect_eq(nat_frag_expire(t, 31 * S_NS, &out), 1);
	struct nat_frag_stats want = { .held = 1,
				       .dropped_overlap = 3,
				       .expired_entries = 1 };
	expect_stats(t, &want);
	expect_usage(t, 0, 0);
	nat_frag_destroy(t);
}

Test(frag, fragment_past_the_last_ones_end_is_inconsistent)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	struct nat_frag_rewrite rw;
	size_t n = frag3(b, 0, INSIDE, 4);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	/* the last fragment says the datagram ends at 3000 */
	n = frag3(b, 2, INSIDE, 4);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_OK);
	/* a fragment past that end */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 4, 3000, 40, true);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_OVERLAP);
	/* a second last fragment with another end, on another datagram */
	n = frag3(b, 0, INSIDE, 5);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	n = frag3(b, 2, INSIDE, 5);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_OK);
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 5, 1480, 40, false);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_OVERLAP);
	/* and a last fragment ending before bytes already seen */
	n = frag3(b, 0, INSIDE, 6);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 6, 1000, 40, false);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_OVERLAP);
	expect_usage(t, 3, 0);
	struct nat_frag_stats want = { .learned = 3,
				       .translated = 2,
				       .dropped_overlap = 3 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, tiny_fragments_are_dropped_rfc1858)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	struct nat_frag_rewrite rw;
	/* offset 8 bytes: would rewrite a TCP header's flags */
	size_t n = mkfrag(b, INSIDE, REMOTE, P_TCP, 11, 8, 16, false);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_MISS);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 1, 0), NAT_FRAG_DROP_TINY);
	/* its first fragment is then refused too */
	n = mkfrag(b, INSIDE, REMOTE, P_TCP, 11, 0, 24, true);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_DROP_TINY);
	/* a TCP first fragment shorter than a TCP header */
	n = mkfrag(b, INSIDE, REMOTE, P_TCP, 12, 0, 16, true);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_DROP_TINY);
	n = mkfrag(b, INSIDE, REMOTE, P_TCP, 12, 16, 40, false);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_DROP_TINY);
	/* a UDP first fragment of 8 bytes carries its whole header: fine */
	n = mkfrag(b, INSIDE, REMOTE, P_UDP, 13, 0, 8, true);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	struct nat_frag_stats want = { .learned = 1, .dropped_tiny = 4 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, table_full_refuses_new_datagrams_and_counts)
{
	struct nat_frag_table *t = mk(2, 8, 8192);
	uint8_t b[1600];
	for (uint16_t id = 1; id <= 3; id++) {
		size_t n = frag3(b, 1, INSIDE, id);
		struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
		cr_expect_eq(nat_frag_hold(t, &fi, b, n, id, 0),
			     id <= 2 ? NAT_FRAG_HELD : NAT_FRAG_DROP_FULL,
			     "datagram %u", id);
	}
	size_t n = frag3(b, 0, INSIDE, 4);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_DROP_FULL);
	/* a known datagram still gets its fragments in */
	n = frag3(b, 2, INSIDE, 1);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 9, 0), NAT_FRAG_HELD);
	expect_usage(t, 2, 3);
	cr_expect_eq(nat_frag_expire(t, 30 * S_NS, NULL), 2);
	cr_expect_eq(nat_frag_learn(t, &fi, &SNAT, 30 * S_NS),
		     NAT_FRAG_DROP_OVERLAP, "learn of a non-first fragment");
	struct nat_frag_stats want = { .held = 3,
				       .dropped_full = 2,
				       .expired_held = 3,
				       .expired_entries = 2,
				       .dropped_overlap = 1 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, buffer_full_by_slots_or_bytes_refuses_and_counts)
{
	/* two slots */
	struct nat_frag_table *t = mk(8, 2, 8192);
	uint8_t b[1600];
	for (uint16_t id = 1; id <= 3; id++) {
		size_t n = frag3(b, 1, INSIDE, id);
		struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
		cr_expect_eq(nat_frag_hold(t, &fi, b, n, id, 0),
			     id <= 2 ? NAT_FRAG_HELD : NAT_FRAG_DROP_BUFFER,
			     "datagram %u", id);
	}
	expect_usage(t, 2, 2);
	struct nat_frag_stats want = { .held = 2, .dropped_buffer = 1 };
	expect_stats(t, &want);
	nat_frag_destroy(t);

	/* 2000 bytes: one 1500-byte fragment fits, a second does not, a
	 * 60-byte one does; after expiry the bytes are free again */
	t = mk(8, 8, 2000);
	size_t n = frag3(b, 1, INSIDE, 1);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 1, 0), NAT_FRAG_HELD);
	n = frag3(b, 1, INSIDE, 2);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 2, 0), NAT_FRAG_DROP_BUFFER);
	n = frag3(b, 2, INSIDE, 1);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 3, 0), NAT_FRAG_HELD);
	expect_usage(t, 1, 2);
	cr_expect_eq(nat_frag_expire(t, 30 * S_NS, NULL), 1);
	n = frag3(b, 1, INSIDE, 2);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_expect_eq(nat_frag_hold(t, &fi, b, n, 4, 30 * S_NS), NAT_FRAG_HELD);
	struct nat_frag_stats want2 = { .held = 3,
					.dropped_buffer = 1,
					.expired_held = 2,
					.expired_entries = 1 };
	expect_stats(t, &want2);
	nat_frag_destroy(t);
}

Test(frag, same_ip_id_from_two_sources_are_two_datagrams)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	const uint32_t other = IP4(172, 17, 240, 23);
	const struct nat_frag_rewrite rw_b = { .what = NAT_FRAG_RW_SRC,
					       .src = IP4(203, 0, 113, 2),
					       .flow_id = 8 };
	uint8_t b[1600];
	/* both datagrams' second fragments arrive first */
	size_t n = frag3(b, 1, INSIDE, 99);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_hold(t, &fi, b, n, 1, 0), NAT_FRAG_HELD);
	n = frag3(b, 1, other, 99);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_hold(t, &fi, b, n, 2, 0), NAT_FRAG_HELD);
	/* the second source's first fragment releases only its own */
	n = frag3(b, 0, other, 99);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &rw_b, 0), NAT_FRAG_OK);
	struct seen s = { 0 };
	struct nat_frag_out out = { &s, on_out };
	cr_assert_eq(nat_frag_release(t, &fi.key, &out), 1);
	cr_expect_eq(s.tag[0], 2);
	cr_expect_eq(tb_src(s.pkt[0]), rw_b.src);
	n = frag3(b, 0, INSIDE, 99);
	fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &SNAT, 0), NAT_FRAG_OK);
	cr_assert_eq(nat_frag_release(t, &fi.key, &out), 1);
	cr_expect_eq(s.tag[1], 1);
	cr_expect_eq(tb_src(s.pkt[1]), SNAT.src);
	/* the last fragments find their own rewrite */
	struct nat_frag_rewrite rw;
	n = frag3(b, 2, other, 99);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_OK);
	cr_expect_eq(rw.src, rw_b.src);
	cr_expect_eq(rw.flow_id, 8);
	n = frag3(b, 2, INSIDE, 99);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_OK);
	cr_expect_eq(rw.src, SNAT.src);
	expect_usage(t, 0, 0);
	struct nat_frag_stats want = {
		.learned = 2, .held = 2, .released = 2, .translated = 2
	};
	expect_stats(t, &want);
	nat_frag_destroy(t);
}

Test(frag, inbound_rewrite_of_the_destination_and_hairpin_of_both)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	const struct nat_frag_rewrite dnat = { .what = NAT_FRAG_RW_DST,
					       .dst = INSIDE };
	size_t n = mkfrag(b, REMOTE, NATIP, P_UDP, 7, 0, 1480, true);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
	cr_assert_eq(nat_frag_learn(t, &fi, &dnat, 0), NAT_FRAG_OK);
	n = mkfrag(b, REMOTE, NATIP, P_UDP, 7, 1480, 100, false);
	fi = info_of(b, n, NAT_FRAG_LATER);
	struct nat_frag_rewrite rw;
	cr_assert_eq(nat_frag_lookup(t, &fi, 0, &rw), NAT_FRAG_OK);
	cr_assert(nat_frag_apply(b, n, &rw));
	cr_expect(tb_src(b) == REMOTE && tb_dst(b) == INSIDE);
	cr_expect(tb_ip_ok(b));
	const struct nat_frag_rewrite both = { .what = NAT_FRAG_RW_SRC |
						       NAT_FRAG_RW_DST,
					       .src = NATIP,
					       .dst = IP4(172, 17, 240, 21) };
	cr_assert(nat_frag_apply(b, n, &both));
	cr_expect(tb_src(b) == NATIP && tb_dst(b) == IP4(172, 17, 240, 21));
	cr_expect(tb_ip_ok(b));
	/* nothing asked: nothing changes */
	uint8_t before[1600];
	memcpy(before, b, n);
	const struct nat_frag_rewrite none = { 0 };
	cr_assert(nat_frag_apply(b, n, &none));
	cr_expect_eq(memcmp(before, b, n), 0);
	cr_expect_not(nat_frag_apply(b, 19, &both));
	nat_frag_destroy(t);
}

static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64*: fixed seed, reproducible */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

Test(frag, header_checksum_after_apply_equals_a_full_recompute)
{
	rng = 0x1234567;
	uint8_t b[60];
	for (int round = 0; round < 200000; round++) {
		size_t ihl = 20 + 4 * (rnd() % 11);
		for (size_t i = 0; i < ihl; i++)
			b[i] = (uint8_t)rnd();
		b[0] = (uint8_t)(0x40 | ihl / 4);
		/* corner values: all-zero and all-one addresses */
		if (round % 7 == 0)
			tb_put32(b + 12, 0);
		if (round % 11 == 0)
			tb_put32(b + 16, 0xffffffff);
		tb_put16(b + 10, 0);
		tb_put16(b + 10, tb_fold(tb_sum(0, b, ihl)));
		struct nat_frag_rewrite rw = { .what = (uint8_t)(rnd() % 4),
					       .src = (uint32_t)rnd(),
					       .dst = (uint32_t)rnd() };
		if (round % 13 == 0)
			rw.src = 0;
		if (round % 17 == 0)
			rw.dst = 0xffffffff;
		cr_assert(nat_frag_apply(b, ihl, &rw));
		uint16_t got = tb_get16(b + 10);
		tb_put16(b + 10, 0);
		uint16_t full = tb_fold(tb_sum(0, b, ihl));
		cr_assert_eq(got, full,
			     "round %d: incremental %#06x, full %#06x", round,
			     got, full);
		if (rw.what & NAT_FRAG_RW_SRC)
			cr_assert_eq(tb_src(b), rw.src);
		if (rw.what & NAT_FRAG_RW_DST)
			cr_assert_eq(tb_dst(b), rw.dst);
	}
}

Test(frag, stat_names_come_from_one_list)
{
	cr_expect_str_eq(nat_frag_stat_name(NAT_FRAG_S_LEARNED), "learned");
	cr_expect_str_eq(nat_frag_stat_name(NAT_FRAG_S_DROPPED_TINY),
			 "dropped_tiny");
	cr_expect_str_eq(nat_frag_stat_name(NAT_FRAG_STAT_MAX), "?");
	struct nat_frag_stats st = { 0 };
	st.dropped_buffer = 42;
	cr_expect_eq(nat_frag_stat_value(&st, NAT_FRAG_S_DROPPED_BUFFER), 42);
	for (int s = 0; s < NAT_FRAG_STAT_MAX; s++) {
		cr_expect_neq(nat_frag_stat_name(s)[0], '?');
		cr_expect_gt(strlen(nat_frag_stat_desc(s)), 10);
	}
}

Test(frag, create_refuses_bad_parameters_with_a_message)
{
	char err[160] = "";
	struct nat_frag_params p = { .max_datagrams = 0,
				     .max_held = 4,
				     .max_held_bytes = 4096 };
	cr_expect_null(nat_frag_create(&p, err, sizeof(err)));
	cr_expect(strstr(err, "max_datagrams 0") != NULL, "message: %s", err);
	p.max_datagrams = 4;
	p.max_held_bytes = 100;
	cr_expect_null(nat_frag_create(&p, err, sizeof(err)));
	cr_expect(strstr(err, "max_held_bytes 100") != NULL, "message: %s",
		  err);
	cr_expect_eq(nat_frag_memory(&p), 0);
	p.max_held_bytes = 4096;
	cr_expect_gt(nat_frag_memory(&p), 4096 + 4 * 1024);
}

/* ---- the naive model: a plain array in creation order, ranges kept as a
 * list and compared pairwise, held fragments as a plain array ---- */

#define N_DGRAMS  6
#define N_HELD	  10
#define N_BYTES	  3000
#define N_TIMEOUT (5 * S_NS)

struct nd {
	struct nat_frag_key key;
	struct nat_frag_rewrite rw;
	uint64_t deadline;
	bool learned, last;
	int poison; /* 0 or a stat */
	int nr;
	uint32_t r0[64], r1[64];
	uint32_t end, maxend;
	int nh;
	uint64_t htag[N_HELD];
	uint32_t hlen[N_HELD];
};

struct naive {
	struct nd d[N_DGRAMS];
	int n;
	int held;
	uint64_t bytes;
	uint64_t st[NAT_FRAG_STAT_MAX];
	/* expected callbacks of the current operation */
	int nout;
	uint64_t otag[64];
	int owhy[64];
};

static int nv_find(struct naive *m, const struct nat_frag_key *k)
{
	for (int i = 0; i < m->n; i++)
		if (m->d[i].key.src == k->src && m->d[i].key.dst == k->dst &&
		    m->d[i].key.id == k->id && m->d[i].key.proto == k->proto)
			return i;
	return -1;
}

static int nv_create(struct naive *m, const struct nat_frag_key *k,
		     uint64_t now)
{
	if (m->n == N_DGRAMS)
		return -1;
	struct nd *d = &m->d[m->n];
	memset(d, 0, sizeof(*d));
	d->key = *k;
	d->deadline = now + N_TIMEOUT;
	return m->n++;
}

static void nv_remove(struct naive *m, int i)
{
	memmove(&m->d[i], &m->d[i + 1],
		(size_t)(m->n - i - 1) * sizeof(m->d[0]));
	m->n--;
}

static uint32_t nv_covered(const struct nd *d)
{
	uint32_t c = 0;
	for (int i = 0; i < d->nr; i++)
		c += d->r1[i] - d->r0[i];
	return c;
}

static bool nv_complete(const struct nd *d)
{
	return d->learned && d->last && !d->poison && d->nh == 0 &&
	       nv_covered(d) == d->end;
}

static enum nat_frag_result nv_poison(struct naive *m, struct nd *d, int why)
{
	d->poison = why;
	m->st[why]++;
	return why == NAT_FRAG_S_DROPPED_TINY ? NAT_FRAG_DROP_TINY
					      : NAT_FRAG_DROP_OVERLAP;
}

static enum nat_frag_result nv_admit(struct naive *m, struct nd *d,
				     const struct nat_frag_info *fi)
{
	if (d->poison) {
		m->st[d->poison]++;
		return d->poison == NAT_FRAG_S_DROPPED_TINY
			       ? NAT_FRAG_DROP_TINY
			       : NAT_FRAG_DROP_OVERLAP;
	}
	if (fi->offset == 8)
		return nv_poison(m, d, NAT_FRAG_S_DROPPED_TINY);
	uint32_t b0 = fi->offset / 8u,
		 b1 = (fi->offset + fi->payload + 7u) / 8u;
	if (d->last && (b1 > d->end || (!fi->more && b1 != d->end)))
		return nv_poison(m, d, NAT_FRAG_S_DROPPED_OVERLAP);
	if (!d->last && !fi->more && b1 < d->maxend)
		return nv_poison(m, d, NAT_FRAG_S_DROPPED_OVERLAP);
	for (int i = 0; i < d->nr; i++)
		if (b0 < d->r1[i] && d->r0[i] < b1)
			return nv_poison(m, d, NAT_FRAG_S_DROPPED_OVERLAP);
	cr_assert_lt(d->nr, 64);
	d->r0[d->nr] = b0;
	d->r1[d->nr++] = b1;
	if (b1 > d->maxend)
		d->maxend = b1;
	if (!fi->more) {
		d->last = true;
		d->end = b1;
	}
	return NAT_FRAG_OK;
}

static void nv_drain(struct naive *m, struct nd *d, bool released, int why)
{
	if (d->poison) {
		released = false;
		why = d->poison;
	}
	for (int h = 0; h < d->nh; h++) {
		int w = released ? NAT_FRAG_S_RELEASED : why;
		m->st[w]++;
		m->otag[m->nout] = d->htag[h];
		m->owhy[m->nout++] = w;
		m->held--;
		m->bytes -= d->hlen[h];
	}
	d->nh = 0;
}

static enum nat_frag_result nv_learn(struct naive *m,
				     const struct nat_frag_info *fi,
				     const struct nat_frag_rewrite *rw,
				     uint64_t now)
{
	int i = nv_find(m, &fi->key);
	if (i < 0)
		i = nv_create(m, &fi->key, now);
	if (i < 0) {
		m->st[NAT_FRAG_S_DROPPED_FULL]++;
		return NAT_FRAG_DROP_FULL;
	}
	struct nd *d = &m->d[i];
	uint16_t min = fi->key.proto == P_TCP ? 20 : 8;
	if (!d->poison && fi->payload < min)
		return nv_poison(m, d, NAT_FRAG_S_DROPPED_TINY);
	enum nat_frag_result r = nv_admit(m, d, fi);
	if (r != NAT_FRAG_OK)
		return r;
	d->rw = *rw;
	d->learned = true;
	m->st[NAT_FRAG_S_LEARNED]++;
	return NAT_FRAG_OK;
}

static enum nat_frag_result nv_lookup(struct naive *m,
				      const struct nat_frag_info *fi,
				      struct nat_frag_rewrite *rw)
{
	int i = nv_find(m, &fi->key);
	if (i < 0 || (!m->d[i].learned && !m->d[i].poison))
		return NAT_FRAG_MISS;
	enum nat_frag_result r = nv_admit(m, &m->d[i], fi);
	if (r != NAT_FRAG_OK)
		return r;
	*rw = m->d[i].rw;
	m->st[NAT_FRAG_S_TRANSLATED]++;
	if (nv_complete(&m->d[i]))
		nv_remove(m, i);
	return NAT_FRAG_OK;
}

static enum nat_frag_result nv_hold(struct naive *m,
				    const struct nat_frag_info *fi,
				    uint64_t tag, uint64_t now)
{
	uint32_t need = fi->ihl + fi->payload;
	bool fresh = false;
	int i = nv_find(m, &fi->key);
	if (i < 0) {
		i = nv_create(m, &fi->key, now);
		if (i < 0) {
			m->st[NAT_FRAG_S_DROPPED_FULL]++;
			return NAT_FRAG_DROP_FULL;
		}
		fresh = true;
	}
	struct nd *d = &m->d[i];
	if (!d->poison && (m->held == N_HELD || m->bytes + need > N_BYTES)) {
		m->st[NAT_FRAG_S_DROPPED_BUFFER]++;
		if (fresh)
			nv_remove(m, i);
		return NAT_FRAG_DROP_BUFFER;
	}
	enum nat_frag_result r = nv_admit(m, d, fi);
	if (r != NAT_FRAG_OK)
		return r;
	d->htag[d->nh] = tag;
	d->hlen[d->nh++] = need;
	m->held++;
	m->bytes += need;
	m->st[NAT_FRAG_S_HELD]++;
	return NAT_FRAG_HELD;
}

static size_t nv_release(struct naive *m, const struct nat_frag_key *k)
{
	int i = nv_find(m, k);
	if (i < 0 || (!m->d[i].learned && !m->d[i].poison))
		return 0;
	int before = m->nout;
	nv_drain(m, &m->d[i], true, NAT_FRAG_S_RELEASED);
	if (nv_complete(&m->d[i]))
		nv_remove(m, i);
	return (size_t)(m->nout - before);
}

static size_t nv_expire(struct naive *m, uint64_t now)
{
	size_t n = 0;
	while (m->n > 0 && m->d[0].deadline <= now) {
		nv_drain(m, &m->d[0], false, NAT_FRAG_S_EXPIRED_HELD);
		m->st[NAT_FRAG_S_EXPIRED_ENTRIES]++;
		nv_remove(m, 0);
		n++;
	}
	return n;
}

/* The real table's callbacks, with the rewritten source of released ones. */
struct got {
	int n;
	uint64_t tag[64];
	int why[64];
	uint32_t src[64];
	bool csum_ok[64];
};

static void on_got(void *ctx, uint64_t tag, uint8_t *pkt, size_t len,
		   enum nat_frag_stat why)
{
	struct got *g = ctx;
	cr_assert_lt(g->n, 64);
	cr_assert_geq(len, 20);
	g->tag[g->n] = tag;
	g->why[g->n] = why;
	g->src[g->n] = tb_src(pkt);
	g->csum_ok[g->n] = tb_ip_ok(pkt);
	g->n++;
}

static void compare_out(const struct naive *m, const struct got *g,
			uint32_t want_src_of_released, int step)
{
	cr_assert_eq(g->n, m->nout, "step %d: %d fragments out, model %d", step,
		     g->n, m->nout);
	for (int i = 0; i < g->n; i++) {
		cr_assert_eq(g->tag[i], m->otag[i], "step %d: out %d tag", step,
			     i);
		cr_assert_eq(g->why[i], m->owhy[i], "step %d: out %d why %s",
			     step, i, nat_frag_stat_name(g->why[i]));
		cr_assert(g->csum_ok[i], "step %d: bad header checksum", step);
		if (g->why[i] == NAT_FRAG_S_RELEASED)
			cr_assert_eq(g->src[i], want_src_of_released,
				     "step %d: released untranslated", step);
	}
}

Test(frag, matches_naive_model_over_200000_random_fragments)
{
	rng = 0xf4a9u;
	struct nat_frag_params p = { .max_datagrams = N_DGRAMS,
				     .max_held = N_HELD,
				     .max_held_bytes = N_BYTES,
				     .timeout_ns = N_TIMEOUT,
				     .hash_seed = 1 };
	char err[160];
	struct nat_frag_table *t = nat_frag_create(&p, err, sizeof(err));
	cr_assert_not_null(t, "%s", err);
	static struct naive m;
	memset(&m, 0, sizeof(m));
	uint8_t b[600];
	uint64_t now = 0, tag = 0;
	for (int step = 0; step < 200000; step++) {
		now += rnd() % (S_NS / 2);
		struct got g = { 0 };
		struct nat_frag_out out = { &g, on_got };
		m.nout = 0;
		uint32_t src = IP4(10, 0, 0, 1 + rnd() % 3);
		uint16_t id = (uint16_t)(rnd() % 3);
		uint8_t proto = rnd() % 2 ? P_UDP : P_TCP;
		/* the rewrite is a function of the key, so released
		 * fragments can be checked */
		struct nat_frag_rewrite rw = { .what = NAT_FRAG_RW_SRC,
					       .src = src ^ 0xcb000000u ^ id,
					       .flow_id = id };
		unsigned op = (unsigned)(rnd() % 12);
		if (op < 3) {
			uint16_t pay = (uint16_t)(8 * (1 + rnd() % 6));
			size_t n =
				mkfrag(b, src, REMOTE, proto, id, 0, pay, true);
			struct nat_frag_info fi = info_of(b, n, NAT_FRAG_FIRST);
			enum nat_frag_result r =
				nat_frag_learn(t, &fi, &rw, now);
			cr_assert_eq(r, nv_learn(&m, &fi, &rw, now),
				     "step %d: learn %d", step, r);
			if (r == NAT_FRAG_OK)
				cr_assert_eq(nat_frag_release(t, &fi.key, &out),
					     nv_release(&m, &fi.key),
					     "step %d: release", step);
		} else if (op < 10) {
			uint16_t off = (uint16_t)(8 * (1 + rnd() % 14));
			bool more = rnd() % 3 != 0;
			uint16_t pay = (uint16_t)(8 * (1 + rnd() % 5));
			if (!more)
				pay = (uint16_t)(pay - rnd() % 8);
			size_t n = mkfrag(b, src, REMOTE, proto, id, off, pay,
					  more);
			struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
			struct nat_frag_rewrite got_rw, want_rw;
			enum nat_frag_result r =
				nat_frag_lookup(t, &fi, now, &got_rw);
			cr_assert_eq(r, nv_lookup(&m, &fi, &want_rw),
				     "step %d: lookup %d", step, r);
			if (r == NAT_FRAG_OK) {
				cr_assert_eq(got_rw.src, want_rw.src);
				cr_assert_eq(got_rw.flow_id, want_rw.flow_id);
			}
			if (r == NAT_FRAG_MISS) {
				tag++;
				r = nat_frag_hold(t, &fi, b, n, tag, now);
				cr_assert_eq(r, nv_hold(&m, &fi, tag, now),
					     "step %d: hold %d", step, r);
			}
		} else if (op == 10) {
			cr_assert_eq(nat_frag_expire(t, now, &out),
				     nv_expire(&m, now), "step %d: expire",
				     step);
		} else {
			struct nat_frag_key k = { src, REMOTE, id, proto };
			cr_assert_eq(nat_frag_release(t, &k, &out),
				     nv_release(&m, &k), "step %d: release",
				     step);
		}
		compare_out(&m, &g, rw.src, step);
		struct nat_frag_usage u;
		nat_frag_usage(t, &u);
		cr_assert_eq(u.datagrams, (uint32_t)m.n, "step %d: datagrams",
			     step);
		cr_assert_eq(u.held, (uint32_t)m.held, "step %d: held", step);
		cr_assert_eq(u.held_bytes, m.bytes, "step %d: bytes", step);
	}
	const struct nat_frag_stats *st = nat_frag_stats(t);
	for (int s = 0; s < NAT_FRAG_STAT_MAX; s++) {
		cr_expect_eq(nat_frag_stat_value(st, s), m.st[s],
			     "counter %s: %llu, model %llu",
			     nat_frag_stat_name(s),
			     (unsigned long long)nat_frag_stat_value(st, s),
			     (unsigned long long)m.st[s]);
		/* every path was exercised */
		cr_expect_gt(m.st[s], 0, "counter %s never moved",
			     nat_frag_stat_name(s));
	}
	nat_frag_destroy(t);
}

Test(frag, clock_stepping_back_delays_expiry_never_reorders_it)
{
	struct nat_frag_table *t = mk(8, 8, 8192);
	uint8_t b[1600];
	size_t n = frag3(b, 1, INSIDE, 1);
	struct nat_frag_info fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_hold(t, &fi, b, n, 1, 10 * S_NS), NAT_FRAG_HELD);
	n = frag3(b, 1, INSIDE, 2);
	fi = info_of(b, n, NAT_FRAG_LATER);
	cr_assert_eq(nat_frag_hold(t, &fi, b, n, 2, 5 * S_NS), NAT_FRAG_HELD);
	struct seen s = { 0 };
	struct nat_frag_out out = { &s, on_out };
	cr_expect_eq(nat_frag_expire(t, 40 * S_NS - 1, &out), 0,
		     "the second datagram expired before the first");
	cr_expect_eq(nat_frag_expire(t, 40 * S_NS, &out), 2);
	cr_expect(s.n == 2 && s.tag[0] == 1 && s.tag[1] == 2);
	struct nat_frag_stats want = { .held = 2,
				       .expired_held = 2,
				       .expired_entries = 2 };
	expect_stats(t, &want);
	nat_frag_destroy(t);
}
