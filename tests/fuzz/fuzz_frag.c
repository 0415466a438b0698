/* libFuzzer target for nat/core/frag.c: a sequence of fragments through
 * learn, lookup, hold, release and expire on one small table per input.
 *
 * The input is a sequence of 8-byte records:
 *   [op][key][off_hi][off_lo][pay_hi][pay_lo][flags][gap]
 * op & 3: 0 a first fragment (parse, learn, release), 1 a later fragment
 * (parse, lookup, hold on a miss), 2 expire, 3 release; op & 4: instead
 * of building the fragment, the next `pay_lo` input bytes are the packet,
 * copied into a buffer of exactly that size (ASan sees any overread).
 * key picks the source (4), IP id (4) and protocol (TCP/UDP); flags bit 0
 * is MF; gap advances the clock by gap * 250 ms.
 *
 * Beyond memory safety it checks: the limits are never exceeded; every
 * fragment handed back or translated parses as a later fragment, carries
 * its datagram's rewrite and, if its header checksum was valid, still has
 * a valid one; every held fragment leaves exactly once (counted out ==
 * held in); after a final expiry the table is empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frag.h"
#include "packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { DGRAMS = 4, HELD = 6, BYTES = 4000 };
#define MS 1000000ull

static void check(int cond)
{
	if (!cond)
		abort();
}

static uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static void wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void wr32(uint8_t *b, uint32_t v)
{
	wr16(b, (uint16_t)(v >> 16));
	wr16(b + 2, (uint16_t)v);
}

static bool ip_csum_ok(const uint8_t *b)
{
	return nat_csum_add(0, b, (size_t)(b[0] & 15) * 4) == 0xffff;
}

/* The rewrite is a function of the key, so a fragment handed back can be
 * checked against what its datagram must get. */
static struct nat_frag_rewrite rewrite_for(const struct nat_frag_key *k)
{
	struct nat_frag_rewrite rw = { .what = (uint8_t)(k->id % 4u),
				       .src = 0xcb007100u | (k->src & 0xff),
				       .dst = 0xac11f000u | k->id,
				       .flow_id = k->src ^ k->id };
	return rw;
}

static void expect_rewritten(const uint8_t *b, size_t len,
			     const struct nat_frag_key *k, bool csum_was_ok)
{
	struct nat_frag_info fi;
	check(nat_frag_parse(b, len, &fi) == NAT_FRAG_LATER);
	struct nat_frag_rewrite rw = rewrite_for(k);
	check(rd32(b + 12) == ((rw.what & NAT_FRAG_RW_SRC) ? rw.src : k->src));
	check(rd32(b + 16) == ((rw.what & NAT_FRAG_RW_DST) ? rw.dst : k->dst));
	if (csum_was_ok)
		check(ip_csum_ok(b));
}

struct run {
	struct nat_frag_table *t;
	uint64_t out; /* fragments handed back, any reason */
	uint64_t last_tag;
	/* the key of each held tag, to check the rewrite on release */
	struct nat_frag_key tag_key[4096];
	uint16_t tag_len[4096];
	bool tag_csum_ok[4096];
	bool tag_out[4096];
};

static void on_out(void *ctx, uint64_t tag, uint8_t *pkt, size_t len,
		   enum nat_frag_stat why)
{
	struct run *r = ctx;
	check(tag >= 1 && tag <= r->last_tag && tag < 4096);
	check(!r->tag_out[tag]);
	r->tag_out[tag] = true;
	check(len == r->tag_len[tag]);
	r->out++;
	if (why == NAT_FRAG_S_RELEASED)
		expect_rewritten(pkt, len, &r->tag_key[tag],
				 r->tag_csum_ok[tag]);
	else
		check(why == NAT_FRAG_S_EXPIRED_HELD ||
		      why == NAT_FRAG_S_DROPPED_OVERLAP ||
		      why == NAT_FRAG_S_DROPPED_TINY);
}

static void check_limits(const struct run *r)
{
	struct nat_frag_usage u;
	nat_frag_usage(r->t, &u);
	check(u.datagrams <= DGRAMS && u.held <= HELD && u.held_bytes <= BYTES);
	const struct nat_frag_stats *st = nat_frag_stats(r->t);
	check(st->held == r->out + u.held);
}

static size_t build(uint8_t *b, const uint8_t *rec, bool first)
{
	uint8_t key = rec[1];
	uint16_t off = first ? 0 : (uint16_t)((rd16(rec + 2) & 0x1fff) * 8u);
	uint16_t pay = (uint16_t)(rd16(rec + 4) % 1500u);
	bool more = first || (rec[6] & 1);
	size_t total = 20u + pay;
	memset(b, 0, total);
	b[0] = 0x45;
	wr16(b + 2, (uint16_t)total);
	wr16(b + 4, (uint16_t)((key >> 2) & 3));
	wr16(b + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
	b[8] = 64;
	b[9] = (key & 16) ? 6 : 17;
	wr32(b + 12, 0xac11f010u + (key & 3));
	wr32(b + 16, 0xc6336407u);
	for (size_t i = 20; i < total; i++)
		b[i] = (uint8_t)i;
	wr16(b + 10, (uint16_t)~nat_csum_add(0, b, 20));
	return total;
}

static void one(struct run *r, uint8_t *pkt, size_t len, uint64_t now)
{
	struct nat_frag_info fi;
	struct nat_frag_out out = { r, on_out };
	switch (nat_frag_parse(pkt, len, &fi)) {
	case NAT_FRAG_FIRST: {
		check(fi.offset == 0 && fi.more);
		check((size_t)fi.ihl + fi.payload <= len);
		struct nat_frag_rewrite rw = rewrite_for(&fi.key);
		if (nat_frag_learn(r->t, &fi, &rw, now) == NAT_FRAG_OK)
			nat_frag_release(r->t, &fi.key, &out);
		break;
	}
	case NAT_FRAG_LATER: {
		check(fi.offset > 0 && (size_t)fi.ihl + fi.payload <= len);
		struct nat_frag_rewrite rw;
		enum nat_frag_result res = nat_frag_lookup(r->t, &fi, now, &rw);
		if (res == NAT_FRAG_OK) {
			bool was_ok = ip_csum_ok(pkt);
			check(nat_frag_apply(pkt, len, &rw));
			struct nat_frag_rewrite want = rewrite_for(&fi.key);
			check(rw.what == want.what &&
			      rw.flow_id == want.flow_id);
			if (was_ok)
				check(ip_csum_ok(pkt));
		} else if (res == NAT_FRAG_MISS && r->last_tag + 1 < 4096) {
			uint64_t tag = ++r->last_tag;
			r->tag_key[tag] = fi.key;
			r->tag_len[tag] = (uint16_t)(fi.ihl + fi.payload);
			r->tag_csum_ok[tag] = ip_csum_ok(pkt);
			res = nat_frag_hold(r->t, &fi, pkt, len, tag, now);
			if (res != NAT_FRAG_HELD)
				r->tag_out[tag] = true; /* never entered */
		}
		break;
	}
	case NAT_FRAG_NONE:
	case NAT_FRAG_BAD:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	memset(&r, 0, sizeof(r));
	struct nat_frag_params p = { .max_datagrams = DGRAMS,
				     .max_held = HELD,
				     .max_held_bytes = BYTES,
				     .timeout_ns = 2000 * MS,
				     .hash_seed = 3 };
	char err[160];
	r.t = nat_frag_create(&p, err, sizeof(err));
	check(r.t != NULL);
	struct nat_frag_out out = { &r, on_out };
	uint64_t now = 0;
	uint8_t b[1600];

	while (size >= 8) {
		const uint8_t *rec = data;
		data += 8;
		size -= 8;
		now += rec[7] * 250 * MS;
		if (rec[0] & 4) {
			size_t n = rec[5] < size ? rec[5] : size;
			uint8_t *raw = malloc(n ? n : 1);
			check(raw != NULL);
			memcpy(raw, data, n);
			data += n;
			size -= n;
			one(&r, raw, n, now);
			free(raw);
		} else {
			switch (rec[0] & 3) {
			case 0:
				one(&r, b, build(b, rec, true), now);
				break;
			case 1:
				one(&r, b, build(b, rec, false), now);
				break;
			case 2:
				nat_frag_expire(r.t, now, &out);
				break;
			case 3: {
				struct nat_frag_key k = {
					0xac11f010u + (rec[1] & 3), 0xc6336407u,
					(uint16_t)((rec[1] >> 2) & 3),
					(rec[1] & 16) ? 6 : 17
				};
				nat_frag_release(r.t, &k, &out);
				break;
			}
			}
		}
		check_limits(&r);
	}
	nat_frag_expire(r.t, UINT64_MAX, &out);
	struct nat_frag_usage u;
	nat_frag_usage(r.t, &u);
	check(u.datagrams == 0 && u.held == 0 && u.held_bytes == 0);
	check_limits(&r);
	for (uint64_t tag = 1; tag <= r.last_tag; tag++)
		check(r.tag_out[tag]);
	nat_frag_destroy(r.t);
	return 0;
}
