/* libFuzzer target for nat_pkt_parse() and every rewrite it allows.
 *
 * The input is copied into a heap buffer of exactly its size, so ASan
 * reports any read or write past the captured bytes. The first 12 bytes
 * choose the rewrite values; the rest is the packet. Beyond memory safety
 * it checks what must hold for any accepted packet: the parse invariants,
 * a re-parse agreeing with the rewritten fields, and checksums that were
 * valid before a rewrite still valid after it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static uint32_t take32(const uint8_t *d)
{
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
	       (uint32_t)d[2] << 8 | d[3];
}

static void check_invariants(const struct nat_pkt *p, size_t size)
{
	check(p->len <= size);
	check(p->ihl >= 20 && p->ihl <= 60 && p->ihl <= p->len);
	check(p->len <= p->ip_total);
	if (p->flags & NAT_PKT_FRAG_LATER)
		check(p->l4_len == 0 && p->sport == 0 && p->dport == 0);
	else
		check(p->l4_len == p->len - p->ihl);
	if (p->flags & NAT_PKT_ICMP_ERROR) {
		check(p->inner.ip_off == p->ihl + 8);
		check(p->inner.l4_off >= p->inner.ip_off + 20);
		check(p->inner.l4_len >= 8);
		check((size_t)p->inner.l4_off + p->inner.l4_len == p->len);
	}
}

static void check_reparse(const struct nat_pkt *p)
{
	struct nat_pkt q;

	check(nat_pkt_parse(&q, p->buf, p->len) == NAT_PARSE_OK);
	check(q.src == p->src && q.dst == p->dst);
	check(q.sport == p->sport && q.dport == p->dport);
	if (p->flags & NAT_PKT_ICMP_ERROR) {
		check(q.inner.src == p->inner.src && q.inner.dst == p->inner.dst);
		check(q.inner.sport == p->inner.sport &&
		      q.inner.dport == p->inner.dport);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 12)
		return 0;
	uint32_t a1 = take32(data), a2 = take32(data + 4);
	uint16_t p1 = (uint16_t)(data[8] << 8 | data[9]);
	uint16_t p2 = (uint16_t)(data[10] << 8 | data[11]);
	data += 12;
	size -= 12;

	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	struct nat_pkt p;
	enum nat_parse_status st = nat_pkt_parse(&p, buf, size);
	if (st != NAT_PARSE_OK) {
		/* Rewrites are for accepted packets only; the inner ones must
		 * still refuse anything without ICMP_ERROR. */
		if (st != NAT_PARSE_IPV6 && st != NAT_PARSE_BAD_IP &&
		    st != NAT_PARSE_BAD_INNER) {
			check(st == NAT_PARSE_BAD_L4);
		}
		if (!(p.flags & NAT_PKT_ICMP_ERROR)) {
			nat_pkt_set_inner_src(&p, a1, p1);
			nat_pkt_set_inner_dst(&p, a2, p2);
		}
		free(buf);
		return 0;
	}
	check_invariants(&p, size);

	bool ip_ok = nat_pkt_ip_csum_ok(&p);
	bool l4_ok = nat_pkt_l4_csum_ok(&p);
	struct nat_pkt inner_view = p;
	bool inner_ip_ok = false;
	if (p.flags & NAT_PKT_ICMP_ERROR) {
		/* The quoted IP header checksum, checked on its own. */
		inner_view.buf = buf + p.inner.ip_off;
		inner_view.ihl = (uint16_t)(p.inner.l4_off - p.inner.ip_off);
		inner_ip_ok = nat_pkt_ip_csum_ok(&inner_view);
	}

	nat_pkt_set_src(&p, a1, p1);
	nat_pkt_set_dst(&p, a2, p2);
	if (p.flags & NAT_PKT_ICMP_ERROR) {
		nat_pkt_set_inner_src(&p, a2, p2);
		nat_pkt_set_inner_dst(&p, a1, p1);
		if (inner_ip_ok)
			check(nat_pkt_ip_csum_ok(&inner_view));
	}
	check(p.src == a1 && p.dst == a2);
	if (ip_ok)
		check(nat_pkt_ip_csum_ok(&p));
	if (l4_ok)
		check(nat_pkt_l4_csum_ok(&p));
	check_reparse(&p);

	nat_pkt_l4_csum_full(&p);
	if (!(p.flags & (NAT_PKT_FRAG_LATER | NAT_PKT_FRAG_MORE |
			 NAT_PKT_TRUNCATED)) &&
	    (p.proto == 1 || p.proto == 6 || p.proto == 17))
		check(nat_pkt_l4_csum_ok(&p));

	char s[16];
	uint32_t back;
	check(nat_ip_parse(nat_ip_str(a1, s), &back) && back == a1);
	free(buf);
	return 0;
}
