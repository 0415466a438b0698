/* Pure helpers of the fast-path loader: rewrites to map entries. See
 * fastpath_entry.h. */
#include "fastpath_entry.h"

#include <arpa/inet.h>
#include <string.h>

uint32_t nat_fp_csum_delta(const void *old, const void *new_, size_t n)
{
	const uint8_t *a = old, *b = new_;
	uint32_t sum = 0;

	/* Words are summed as they lie in memory (native loads of network
	 * bytes), as the kernel's helpers do: the one's complement sum does
	 * not depend on byte order (RFC 1071). */
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint16_t o, w;

		memcpy(&o, a + i, 2);
		memcpy(&w, b + i, 2);
		if (o == w)
			continue;
		sum += (uint16_t)~o;
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

void nat_fp_entry_build(const struct nat_fp_rewrite *rw,
			struct nat_fp_key *key, struct nat_fp_val *val)
{
	uint32_t old_a[2], new_a[2];
	uint16_t old_p[2], new_p[2];

	memset(key, 0, sizeof(*key));
	memset(val, 0, sizeof(*val));
	key->src = htonl(rw->src);
	key->dst = htonl(rw->dst);
	key->sport = htons(rw->sport);
	key->dport = htons(rw->dport);
	key->proto = rw->proto;

	val->new_src = htonl(rw->new_src);
	val->new_dst = htonl(rw->new_dst);
	val->new_sport = htons(rw->new_sport);
	val->new_dport = htons(rw->new_dport);
	val->dir = rw->dir;

	old_a[0] = key->src;
	old_a[1] = key->dst;
	new_a[0] = val->new_src;
	new_a[1] = val->new_dst;
	old_p[0] = key->sport;
	old_p[1] = key->dport;
	new_p[0] = val->new_sport;
	new_p[1] = val->new_dport;
	if (memcmp(old_a, new_a, sizeof(old_a)) != 0) {
		val->changed |= NAT_FP_CH_ADDR;
		val->csum_addr = nat_fp_csum_delta(old_a, new_a, sizeof(old_a));
	}
	if (memcmp(old_p, new_p, sizeof(old_p)) != 0) {
		val->changed |= NAT_FP_CH_PORT;
		val->csum_port = nat_fp_csum_delta(old_p, new_p, sizeof(old_p));
	}
}

void nat_fp_counters_add(struct nat_fp_counters *c, int dir,
			 const struct nat_fp_val *v, uint64_t *last_mono)
{
	if (dir == 0) {
		c->pkts_out += v->pkts;
		c->bytes_out += v->bytes;
	} else {
		c->pkts_in += v->pkts;
		c->bytes_in += v->bytes;
	}
	if (v->last_ns > *last_mono)
		*last_mono = v->last_ns;
}

uint64_t nat_fp_mono_to_wall(uint64_t mono, uint64_t now_mono,
			     uint64_t now_wall)
{
	if (mono == 0)
		return 0;
	if (mono >= now_mono)
		return now_wall;
	if (now_mono - mono >= now_wall)
		return 1;
	return now_wall - (now_mono - mono);
}
