/* Tests for nat/core/packet.c: every parse verdict, every rewrite checked against
 * a checksum recomputed from scratch, the RFC 1624 corner cases, and a
 * randomized comparison of incremental against full checksums.
 *
 * Packets are built byte by byte here; the oracle sums a copy of the
 * pseudo-header and segment with nat_csum_add(), which is itself checked
 * against a plain RFC 1071 loop (checksum_sum_matches_reference_loop). */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "packet.h"

#define IP4(a, b, c, d)                                                      \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |    \
	 (uint32_t)(d))

enum { P_ICMP = 1, P_TCP = 6, P_UDP = 17 };

/* ---- byte helpers ------------------------------------------------------- */

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)get16(b) << 16 | get16(b + 2);
}

/* The textbook RFC 1071 loop, one big-endian word at a time. */
static uint16_t ref_sum(uint32_t init, const uint8_t *d, size_t n)
{
	uint64_t s = init;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (i < n)
		s += (uint32_t)d[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: fixed seed per test, reproducible. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static void fill_rnd(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

/* ---- the from-scratch oracle -------------------------------------------- */

static size_t ihl_of(const uint8_t *ip)
{
	return (size_t)(ip[0] & 0x0f) * 4;
}

static size_t l4_csum_off(uint8_t proto)
{
	return proto == P_TCP ? 16 : proto == P_UDP ? 6 : 2;
}

/* IP header checksum as a full computation would store it. */
static uint16_t full_ip_csum(const uint8_t *ip)
{
	uint8_t tmp[60];
	size_t ihl = ihl_of(ip);

	memcpy(tmp, ip, ihl);
	tmp[10] = tmp[11] = 0;
	return (uint16_t)~nat_csum_add(0, tmp, ihl);
}

/* L4 checksum as a full computation would store it, for the complete
 * datagram at ip (total length from the header): pseudo-header plus a copy
 * of the segment with its checksum field zeroed. */
static uint16_t full_l4_csum(const uint8_t *ip)
{
	static uint8_t tmp[12 + 65536];
	size_t ihl = ihl_of(ip);
	size_t seg = get16(ip + 2) - ihl;
	uint8_t proto = ip[9];
	size_t ph = 0;

	if (proto != P_ICMP) {
		memcpy(tmp, ip + 12, 8);
		tmp[8] = 0;
		tmp[9] = proto;
		put16(tmp + 10, (uint16_t)seg);
		ph = 12;
	}
	memcpy(tmp + ph, ip + ihl, seg);
	tmp[ph + l4_csum_off(proto)] = 0;
	tmp[ph + l4_csum_off(proto) + 1] = 0;
	uint16_t c = (uint16_t)~nat_csum_add(0, tmp, ph + seg);
	if (proto == P_UDP && c == 0)
		c = 0xffff;
	return c;
}

static uint16_t stored_l4_csum(const uint8_t *ip)
{
	return get16(ip + ihl_of(ip) + l4_csum_off(ip[9]));
}

/* Sets both checksums of the complete datagram at ip to their full value. */
static void finalize(uint8_t *ip)
{
	size_t off = ihl_of(ip) + l4_csum_off(ip[9]);

	put16(ip + 10, full_ip_csum(ip));
	if (ip[9] == P_TCP || ip[9] == P_UDP || ip[9] == P_ICMP)
		put16(ip + off, full_l4_csum(ip));
}

#define expect_ip_csum(ip)                                                   \
	cr_expect_eq(get16((ip) + 10), full_ip_csum(ip),                      \
		     "IP checksum %04x, full computation gives %04x",         \
		     get16((ip) + 10), full_ip_csum(ip))
#define expect_l4_csum(ip)                                                   \
	cr_expect_eq(stored_l4_csum(ip), full_l4_csum(ip),                    \
		     "L4 (proto %u) checksum %04x, full computation gives %04x", \
		     (ip)[9], stored_l4_csum(ip), full_l4_csum(ip))

/* ---- builders ----------------------------------------------------------- */

/* Writes an IPv4 header of ihl bytes (options: NOPs) carrying l4len bytes
 * of l4, then fixes both checksums. Returns the total length. */
static size_t mk_ip(uint8_t *b, size_t ihl, uint8_t proto, uint32_t src,
		    uint32_t dst, const uint8_t *l4, size_t l4len)
{
	memset(b, 0, ihl);
	b[0] = (uint8_t)(0x40 | ihl / 4);
	put16(b + 2, (uint16_t)(ihl + l4len));
	put16(b + 4, 0x1c46);
	put16(b + 6, 0x4000); /* DF */
	b[8] = 64;
	b[9] = proto;
	put32(b + 12, src);
	put32(b + 16, dst);
	memset(b + 20, 1, ihl - 20);
	memmove(b + ihl, l4, l4len);
	finalize(b);
	return ihl + l4len;
}

/* TCP header (data offset doff bytes, options NOP) + paylen random bytes. */
static size_t mk_tcp_seg(uint8_t *l4, uint16_t sp, uint16_t dp, uint8_t flags,
			 size_t doff, size_t paylen)
{
	memset(l4, 0, doff);
	put16(l4, sp);
	put16(l4 + 2, dp);
	put32(l4 + 4, 0x11223344);
	put32(l4 + 8, 0x55667788);
	l4[12] = (uint8_t)(doff / 4 << 4);
	l4[13] = flags;
	put16(l4 + 14, 65535);
	memset(l4 + 20, 1, doff - 20);
	fill_rnd(l4 + doff, paylen);
	return doff + paylen;
}

static size_t mk_udp_dgram(uint8_t *l4, uint16_t sp, uint16_t dp,
			   size_t paylen)
{
	put16(l4, sp);
	put16(l4 + 2, dp);
	put16(l4 + 4, (uint16_t)(8 + paylen));
	put16(l4 + 6, 0);
	fill_rnd(l4 + 8, paylen);
	return 8 + paylen;
}

static size_t mk_echo(uint8_t *l4, uint8_t type, uint16_t id, uint16_t seq,
		      size_t paylen)
{
	l4[0] = type;
	l4[1] = 0;
	put16(l4 + 2, 0);
	put16(l4 + 4, id);
	put16(l4 + 6, seq);
	fill_rnd(l4 + 8, paylen);
	return 8 + paylen;
}

/* ICMP error message quoting qlen bytes of quote. */
static size_t mk_icmp_err(uint8_t *l4, uint8_t type, uint8_t code,
			  const uint8_t *quote, size_t qlen)
{
	l4[0] = type;
	l4[1] = code;
	put16(l4 + 2, 0);
	put32(l4 + 4, 0);
	memcpy(l4 + 8, quote, qlen);
	return 8 + qlen;
}

static uint8_t buf[70000], seg[70000], quote[70000];

static const uint32_t A_IN = IP4(192, 168, 1, 10);
static const uint32_t A_EXT = IP4(203, 0, 113, 5);
static const uint32_t A_REM = IP4(198, 51, 100, 7);
static const uint32_t A_RTR = IP4(192, 0, 2, 1);

static size_t tcp_pkt(uint8_t *b, size_t paylen)
{
	size_t n = mk_tcp_seg(seg, 51000, 443, NAT_TCP_SYN | NAT_TCP_ACK, 24,
			      paylen);
	return mk_ip(b, 20, P_TCP, A_IN, A_REM, seg, n);
}

static size_t udp_pkt(uint8_t *b, size_t paylen)
{
	size_t n = mk_udp_dgram(seg, 5353, 53, paylen);
	return mk_ip(b, 20, P_UDP, A_IN, A_REM, seg, n);
}

static enum nat_parse_status parse(struct nat_pkt *p, uint8_t *b, size_t n)
{
	return nat_pkt_parse(p, b, n);
}

/* ---- checksum primitives ------------------------------------------------ */

Test(packet, checksum_sum_matches_rfc1071_example)
{
	/* RFC 1071 section 3: these bytes sum to 0xddf2. */
	const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	cr_assert_eq(nat_csum_add(0, d, sizeof(d)), 0xddf2);
	/* Odd length: the last byte is the high byte of a padded word. */
	cr_assert_eq(nat_csum_add(0, d, 3), ref_sum(0, d, 3));
	cr_assert_eq(nat_csum_add(0, d, 0), 0);
	cr_assert_eq(nat_csum_add(0x1fffe, d, 0), 0xffff);
}

Test(packet, checksum_sum_matches_reference_loop)
{
	static uint8_t d[2048];
	rng_state = 0x1071;
	for (int i = 0; i < 20000; i++) {
		size_t off = rnd() % 8, n = rnd() % 1500;
		uint32_t init = rnd();
		if (i % 7 == 0)
			memset(d, 0xff, sizeof(d));
		else if (i % 11 == 0)
			memset(d, 0, sizeof(d));
		else
			fill_rnd(d, sizeof(d));
		cr_assert_eq(nat_csum_add(init, d + off, n),
			     ref_sum(init, d + off, n),
			     "len %zu off %zu init %08x", n, off, init);
	}
}

/* Data {0x0001, m}: changing m 0x1234 -> 0xfffe makes the sum 0xffff
 * (negative zero), whose checksum is 0x0000. RFC 1141's eqn. 2 computes
 * 0xffff here. */
Test(packet, adjust_gives_0000_not_ffff_when_sum_becomes_negative_zero)
{
	const uint8_t before[] = {0x00, 0x01, 0x12, 0x34};
	const uint8_t after[] = {0x00, 0x01, 0xff, 0xfe};
	uint16_t hc = (uint16_t)~ref_sum(0, before, 4);
	cr_assert_eq(hc, 0xedca);
	cr_assert_eq((uint16_t)~ref_sum(0, after, 4), 0x0000);
	cr_expect_eq(nat_csum_adjust16(hc, 0x1234, 0xfffe), 0x0000);
	/* and back again */
	cr_expect_eq(nat_csum_adjust16(0x0000, 0xfffe, 0x1234), hc);
}

Test(packet, adjust_never_returns_ffff)
{
	/* The one input eqn. 3 would carry to 0xffff: an already
	 * non-canonical 0xffff, a word going 0xffff -> 0. */
	cr_expect_eq(nat_csum_adjust16(0xffff, 0xffff, 0x0000), 0x0000);
	cr_expect_eq(nat_csum_adjust32(0xffff, 0xffffffff, 0), 0x0000);
	/* An unchanged word leaves a canonical checksum alone. */
	cr_expect_eq(nat_csum_adjust16(0x1234, 0xabcd, 0xabcd), 0x1234);
	cr_expect_eq(nat_csum_adjust16(0x0000, 0xabcd, 0xabcd), 0x0000);
	rng_state = 1624;
	for (int i = 0; i < 200000; i++) {
		uint16_t c = (uint16_t)rnd(), o = (uint16_t)rnd(),
			 n = (uint16_t)rnd();
		if (i % 3 == 0)
			o = 0xffff;
		if (i % 5 == 0)
			n = 0;
		cr_assert_neq(nat_csum_adjust16(c, o, n), 0xffff);
	}
}

/* Data of random words plus a changed word: adjust equals recomputation. */
Test(packet, adjust_matches_recomputation)
{
	uint8_t d[64];
	rng_state = 0xadad;
	for (int i = 0; i < 100000; i++) {
		fill_rnd(d, sizeof(d));
		if (i % 4 == 0)
			memset(d, 0, sizeof(d) - 4);
		d[0] |= 0x40; /* never all zeros, like every real header */
		size_t w = 2 + 2 * (rnd() % 31);
		uint16_t hc = (uint16_t)~ref_sum(0, d, sizeof(d));
		uint16_t o = get16(d + w), n = (uint16_t)rnd();
		if (i % 8 == 0)
			n = 0;
		if (i % 8 == 1)
			n = 0xffff;
		put16(d + w, n);
		cr_assert_eq(nat_csum_adjust16(hc, o, n),
			     (uint16_t)~ref_sum(0, d, sizeof(d)));
	}
}

/* ---- parsing: every verdict --------------------------------------------- */

Test(packet, parse_empty_is_bad_ip)
{
	struct nat_pkt p;
	cr_expect_eq(parse(&p, buf, 0), NAT_PARSE_BAD_IP);
}

Test(packet, parse_version6_is_ipv6_even_when_short)
{
	struct nat_pkt p;
	memset(buf, 0, 40);
	buf[0] = 0x60;
	cr_expect_eq(parse(&p, buf, 40), NAT_PARSE_IPV6);
	cr_expect_eq(parse(&p, buf, 1), NAT_PARSE_IPV6);
}

Test(packet, parse_other_versions_are_bad_ip)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 0);
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		buf[0] = (uint8_t)(v << 4 | 5);
		cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_IP, "version %u",
			     v);
	}
}

Test(packet, parse_short_header_is_bad_ip)
{
	struct nat_pkt p;
	tcp_pkt(buf, 0);
	for (size_t n = 1; n < 20; n++)
		cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_IP, "len %zu", n);
}

Test(packet, parse_ihl_below_5_is_bad_ip)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 0);
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		buf[0] = (uint8_t)(0x40 | ihl);
		cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_IP);
	}
}

Test(packet, parse_ihl_beyond_captured_is_bad_ip)
{
	struct nat_pkt p;
	memset(seg, 0, 8);
	size_t n = mk_ip(buf, 60, 200, A_IN, A_REM, seg, 8);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(parse(&p, buf, 59), NAT_PARSE_BAD_IP);
	/* src/dst/proto are filled once the fixed header is in. */
	cr_expect_eq(p.src, A_IN);
	cr_expect_eq(p.dst, A_REM);
	cr_expect_eq(p.proto, 200);
}

Test(packet, parse_total_below_ihl_is_bad_ip)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 0);
	put16(buf + 2, 19);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_IP);
	put16(buf + 2, 20); /* IP header alone: valid, TCP then missing */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_L4);
}

Test(packet, parse_trims_link_padding_to_total_length)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 2); /* 30 bytes, padded to 46 on Ethernet */
	memset(buf + n, 0xee, 16);
	cr_assert_eq(parse(&p, buf, n + 16), NAT_PARSE_OK);
	cr_expect_eq(p.len, n);
	cr_expect_eq(p.l4_len, n - 20);
	cr_expect_eq(p.ip_total, n);
	cr_expect_eq(p.flags & NAT_PKT_TRUNCATED, 0);
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, parse_short_capture_sets_truncated_and_keeps_len)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 100);
	cr_assert_eq(parse(&p, buf, 64), NAT_PARSE_OK);
	cr_expect_eq(p.len, 64);
	cr_expect_eq(p.l4_len, 44);
	cr_expect_eq(p.ip_total, n);
	cr_expect(p.flags & NAT_PKT_TRUNCATED);
	cr_expect_eq(p.sport, 51000);
	cr_expect(!nat_pkt_l4_csum_ok(&p), "cannot verify a partial segment");
}

Test(packet, parse_later_fragment_skips_l4)
{
	struct nat_pkt p;
	memset(seg, 0xab, 3); /* not even a TCP header */
	size_t n = mk_ip(buf, 20, P_TCP, A_IN, A_REM, seg, 3);
	put16(buf + 6, 0x2000 | 185); /* MF, offset 1480 */
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.flags, NAT_PKT_FRAG_LATER | NAT_PKT_FRAG_MORE);
	cr_expect_eq(p.sport, 0);
	cr_expect_eq(p.dport, 0);
	cr_expect_eq(p.l4_len, 0);
	put16(buf + 6, 185); /* last fragment */
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.flags, NAT_PKT_FRAG_LATER);
}

Test(packet, parse_first_fragment_has_ports)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 40);
	put16(buf + 6, 0x2000);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.flags, NAT_PKT_FRAG_MORE);
	cr_expect_eq(p.sport, 51000);
	cr_expect_eq(p.dport, 443);
}

Test(packet, parse_tcp_fields)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 10);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.proto, P_TCP);
	cr_expect_eq(p.ihl, 20);
	cr_expect_eq(p.l4_len, 34);
	cr_expect_eq(p.src, A_IN);
	cr_expect_eq(p.dst, A_REM);
	cr_expect_eq(p.sport, 51000);
	cr_expect_eq(p.dport, 443);
	cr_expect_eq(p.tcp_flags, NAT_TCP_SYN | NAT_TCP_ACK);
	cr_expect_eq(p.flags, 0);
	cr_expect(nat_pkt_ip_csum_ok(&p));
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, parse_ip_options_are_skipped)
{
	struct nat_pkt p;
	size_t s = mk_udp_dgram(seg, 1000, 2000, 5);
	size_t n = mk_ip(buf, 60, P_UDP, A_IN, A_REM, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.ihl, 60);
	cr_expect_eq(p.sport, 1000);
	cr_expect_eq(p.dport, 2000);
	cr_expect(nat_pkt_ip_csum_ok(&p));
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, parse_tcp_short_header_is_bad_l4)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 0);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	for (size_t l4 = 0; l4 < 20; l4++) {
		put16(buf + 2, (uint16_t)(20 + l4));
		cr_expect_eq(parse(&p, buf, 20 + l4), NAT_PARSE_BAD_L4,
			     "%zu TCP bytes", l4);
	}
}

Test(packet, parse_tcp_bad_data_offset_is_bad_l4)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 0); /* doff 24, 24 bytes present */
	buf[20 + 12] = 4 << 4;      /* 16 < 20 */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_L4);
	buf[20 + 12] = 7 << 4; /* 28 > 24 */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_L4);
	buf[20 + 12] = 6 << 4; /* exactly what is there */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	/* A capture cut inside the options is BAD_L4 as well. */
	cr_expect_eq(parse(&p, buf, n - 1), NAT_PARSE_BAD_L4);
}

Test(packet, parse_udp_short_is_bad_l4)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 0);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(parse(&p, buf, n - 1), NAT_PARSE_BAD_L4);
	put16(buf + 2, 27);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_L4);
}

Test(packet, parse_icmp_short_is_bad_l4)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 7, 1, 0);
	size_t n = mk_ip(buf, 20, P_ICMP, A_IN, A_REM, seg, s);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(parse(&p, buf, n - 1), NAT_PARSE_BAD_L4);
}

Test(packet, parse_echo_request_id_is_source_port)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 0x4242, 9, 56);
	size_t n = mk_ip(buf, 20, P_ICMP, A_IN, A_REM, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.flags, NAT_PKT_ICMP_QUERY);
	cr_expect_eq(p.icmp_type, 8);
	cr_expect_eq(p.sport, 0x4242);
	cr_expect_eq(p.dport, 0);
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, parse_echo_reply_id_is_destination_port)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 0, 0x4242, 9, 56);
	size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.flags, NAT_PKT_ICMP_QUERY);
	cr_expect_eq(p.sport, 0);
	cr_expect_eq(p.dport, 0x4242);
}

Test(packet, parse_other_icmp_types_have_no_ports_and_no_flags)
{
	struct nat_pkt p;
	const uint8_t types[] = {4, 5, 9, 10, 13, 14, 17, 18, 255};
	for (size_t i = 0; i < sizeof(types); i++) {
		size_t s = mk_echo(seg, types[i], 0x4242, 9, 12);
		seg[1] = 3;
		size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
		cr_expect_eq(p.flags, 0, "type %u", types[i]);
		cr_expect_eq(p.sport, 0);
		cr_expect_eq(p.dport, 0);
		cr_expect_eq(p.icmp_type, types[i]);
		cr_expect_eq(p.icmp_code, 3);
	}
}

Test(packet, parse_unknown_protocol_is_ok_without_ports)
{
	struct nat_pkt p;
	fill_rnd(seg, 30);
	size_t n = mk_ip(buf, 20, 47 /* GRE */, A_IN, A_REM, seg, 30);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.proto, 47);
	cr_expect_eq(p.l4_len, 30);
	cr_expect_eq(p.sport, 0);
}

/* The router's "time exceeded" for our translated TCP SYN, quoting qlen
 * bytes of it. */
static size_t icmp_err_tcp(uint8_t *b, uint8_t type, size_t qlen)
{
	size_t s = mk_tcp_seg(seg, 40001, 443, NAT_TCP_SYN, 20, 12);
	size_t ql = mk_ip(quote, 20, P_TCP, A_EXT, A_REM, seg, s);
	if (qlen > ql)
		qlen = ql;
	s = mk_icmp_err(seg, type, 0, quote, qlen);
	return mk_ip(b, 20, P_ICMP, A_RTR, A_EXT, seg, s);
}

Test(packet, parse_icmp_errors_fill_inner)
{
	const uint8_t types[] = {3, 11, 12};
	for (size_t i = 0; i < 3; i++) {
		struct nat_pkt p;
		size_t n = icmp_err_tcp(buf, types[i], 28);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
		cr_expect_eq(p.flags, NAT_PKT_ICMP_ERROR, "type %u", types[i]);
		cr_expect_eq(p.sport, 0);
		cr_expect_eq(p.dport, 0);
		cr_expect_eq(p.inner.ip_off, 28);
		cr_expect_eq(p.inner.l4_off, 48);
		cr_expect_eq(p.inner.l4_len, 8);
		cr_expect_eq(p.inner.proto, P_TCP);
		cr_expect_eq(p.inner.src, A_EXT);
		cr_expect_eq(p.inner.dst, A_REM);
		cr_expect_eq(p.inner.sport, 40001);
		cr_expect_eq(p.inner.dport, 443);
		cr_expect(nat_pkt_l4_csum_ok(&p));
	}
}

Test(packet, parse_icmp_error_inner_with_options)
{
	struct nat_pkt p;
	size_t s = mk_udp_dgram(seg, 4000, 53, 20);
	size_t ql = mk_ip(quote, 28, P_UDP, A_EXT, A_REM, seg, s);
	s = mk_icmp_err(seg, 3, 3, quote, ql);
	size_t n = mk_ip(buf, 24, P_ICMP, A_REM, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.inner.ip_off, 32);
	cr_expect_eq(p.inner.l4_off, 60);
	cr_expect_eq(p.inner.l4_len, 28);
	cr_expect_eq(p.inner.sport, 4000);
	cr_expect_eq(p.inner.dport, 53);
}

Test(packet, parse_icmp_error_inner_echo_uses_port_convention)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 0x7777, 3, 0);
	size_t ql = mk_ip(quote, 20, P_ICMP, A_EXT, A_REM, seg, s);
	s = mk_icmp_err(seg, 11, 0, quote, ql);
	size_t n = mk_ip(buf, 20, P_ICMP, A_RTR, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.inner.proto, P_ICMP);
	cr_expect_eq(p.inner.icmp_type, 8);
	cr_expect_eq(p.inner.sport, 0x7777);
	cr_expect_eq(p.inner.dport, 0);

	s = mk_echo(seg, 0, 0x7777, 3, 0);
	ql = mk_ip(quote, 20, P_ICMP, A_REM, A_EXT, seg, s);
	s = mk_icmp_err(seg, 3, 1, quote, ql);
	n = mk_ip(buf, 20, P_ICMP, A_RTR, A_REM, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect_eq(p.inner.icmp_type, 0);
	cr_expect_eq(p.inner.sport, 0);
	cr_expect_eq(p.inner.dport, 0x7777);
}

Test(packet, parse_icmp_error_inner_too_short_is_bad_inner)
{
	struct nat_pkt p;
	for (size_t q = 0; q < 28; q++) {
		size_t n = icmp_err_tcp(buf, 3, q);
		cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER,
			     "%zu quoted bytes", q);
		cr_expect_eq(p.flags & NAT_PKT_ICMP_ERROR, 0);
	}
	size_t n = icmp_err_tcp(buf, 3, 28);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
}

Test(packet, parse_icmp_error_inner_bad_version_or_ihl_is_bad_inner)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 11, 1000);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	buf[28] = 0x65;
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER, "inner IPv6");
	buf[28] = 0x44;
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER, "inner IHL 4");
	buf[28] = 0x4f; /* 60 bytes of header: more than the 52 quoted */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER, "inner IHL 15");
	buf[28] = 0x4a; /* 40 bytes: leaves 12 of L4, 8 are enough */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
	buf[28] = 0x4c; /* 48 bytes: leaves 4 of L4 */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER);
}

Test(packet, parse_icmp_error_inner_later_fragment_is_bad_inner)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 3, 1000);
	put16(buf + 28 + 6, 0x0001);
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_BAD_INNER);
	put16(buf + 28 + 6, 0x2000); /* first fragment: fine */
	cr_expect_eq(parse(&p, buf, n), NAT_PARSE_OK);
}

/* ---- rewrites ----------------------------------------------------------- */

Test(packet, tcp_set_src_rewrites_address_port_and_checksums)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 33);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 40001);
	cr_expect_eq(get32(buf + 12), A_EXT);
	cr_expect_eq(get16(buf + 20), 40001);
	cr_expect_eq(get16(buf + 22), 443);
	cr_expect_eq(p.src, A_EXT);
	cr_expect_eq(p.sport, 40001);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
	cr_expect(nat_pkt_ip_csum_ok(&p));
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, tcp_set_dst_rewrites_address_port_and_checksums)
{
	struct nat_pkt p;
	size_t s = mk_tcp_seg(seg, 443, 40001, NAT_TCP_ACK, 20, 100);
	size_t n = mk_ip(buf, 20, P_TCP, A_REM, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_dst(&p, A_IN, 51000);
	cr_expect_eq(get32(buf + 16), A_IN);
	cr_expect_eq(get16(buf + 22), 51000);
	cr_expect_eq(get16(buf + 20), 443);
	cr_expect_eq(p.dst, A_IN);
	cr_expect_eq(p.dport, 51000);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
}

Test(packet, udp_set_src_and_dst_fix_checksum)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 17); /* odd payload */
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 40002);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
	nat_pkt_set_dst(&p, IP4(8, 8, 8, 8), 5353);
	cr_expect_eq(get32(buf + 16), IP4(8, 8, 8, 8));
	cr_expect_eq(get16(buf + 22), 5353);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
}

Test(packet, udp_zero_checksum_is_preserved)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 20);
	put16(buf + 26, 0);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 40003);
	nat_pkt_set_dst(&p, A_RTR, 9);
	cr_expect_eq(get16(buf + 26), 0, "no checksum stays no checksum");
	cr_expect_eq(get16(buf + 20), 40003);
	expect_ip_csum(buf);
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

/* Builds a datagram whose checksum, once src is rewritten to A_EXT:40000,
 * is computed over data summing to 0xffff: a filler word in the payload is
 * chosen for that. */
static size_t pkt_summing_to_ffff_after_snat(uint8_t *b, uint8_t proto)
{
	size_t s = proto == P_TCP ? mk_tcp_seg(seg, 40000, 80, 0, 20, 2)
				  : mk_udp_dgram(seg, 40000, 53, 2);
	size_t filler = s - 2;
	put16(seg + filler, 0);
	size_t n = mk_ip(b, 20, proto, A_EXT, A_REM, seg, s);
	uint16_t c = full_l4_csum(b); /* ~sum with filler 0 */
	put16(b + 20 + filler, c);    /* sum becomes 0xffff */
	finalize(b);
	cr_assert_eq(full_l4_csum(b), proto == P_UDP ? 0xffff : 0x0000);
	/* Now make it the inside packet. */
	put32(b + 12, A_IN);
	put16(b + 20, 51515);
	finalize(b);
	return n;
}

Test(packet, tcp_checksum_becomes_0000_never_ffff)
{
	struct nat_pkt p;
	size_t n = pkt_summing_to_ffff_after_snat(buf, P_TCP);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 40000);
	cr_expect_eq(get16(buf + 36), 0x0000);
	expect_l4_csum(buf);
	cr_expect(nat_pkt_l4_csum_ok(&p));
	/* and out of 0x0000 again */
	nat_pkt_set_src(&p, A_IN, 51515);
	expect_l4_csum(buf);
}

Test(packet, udp_computed_zero_is_stored_as_ffff)
{
	struct nat_pkt p;
	size_t n = pkt_summing_to_ffff_after_snat(buf, P_UDP);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 40000);
	cr_expect_eq(get16(buf + 26), 0xffff);
	expect_l4_csum(buf);
	cr_expect(nat_pkt_l4_csum_ok(&p));
	/* a stored 0xffff is a real checksum, adjusted like any other */
	nat_pkt_set_src(&p, A_IN, 51515);
	expect_l4_csum(buf);
}

Test(packet, echo_request_set_src_changes_id_set_dst_does_not)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 0x1111, 1, 56);
	size_t n = mk_ip(buf, 20, P_ICMP, A_IN, A_REM, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 0x2222);
	cr_expect_eq(get16(buf + 24), 0x2222);
	cr_expect_eq(p.sport, 0x2222);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
	nat_pkt_set_dst(&p, A_RTR, 0x3333);
	cr_expect_eq(get16(buf + 24), 0x2222, "dst port of a request: no field");
	cr_expect_eq(p.dport, 0);
	cr_expect_eq(get32(buf + 16), A_RTR);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
}

Test(packet, echo_reply_set_dst_changes_id_set_src_does_not)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 0, 0x2222, 1, 56);
	size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_dst(&p, A_IN, 0x1111);
	cr_expect_eq(get16(buf + 24), 0x1111);
	cr_expect_eq(p.dport, 0x1111);
	expect_l4_csum(buf);
	nat_pkt_set_src(&p, A_RTR, 0x4444);
	cr_expect_eq(get16(buf + 24), 0x1111);
	cr_expect_eq(p.sport, 0);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
}

/* An echo reply of all zeros sums to +0: its checksum is 0xffff. */
Test(packet, echo_reply_all_zero_gets_ffff)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 0, 0x0001, 0, 0);
	size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
	cr_assert_eq(get16(buf + 22), 0xfffe);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_dst(&p, A_IN, 0);
	cr_expect_eq(get16(buf + 22), 0xffff);
	expect_l4_csum(buf);
	cr_expect(nat_pkt_l4_csum_ok(&p));
	nat_pkt_set_dst(&p, A_EXT, 1);
	cr_expect_eq(get16(buf + 22), 0xfffe);
}

Test(packet, icmp_error_outer_rewrite_changes_address_only)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 11, 28);
	uint8_t icmp_before[64];
	memcpy(icmp_before, buf + 20, n - 20);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_dst(&p, A_IN, 1234);
	cr_expect_eq(get32(buf + 16), A_IN);
	cr_expect_eq(memcmp(icmp_before, buf + 20, n - 20), 0,
		     "ICMP bytes untouched");
	expect_ip_csum(buf);
	nat_pkt_set_src(&p, A_RTR, 1234);
	cr_expect_eq(memcmp(icmp_before, buf + 20, n - 20), 0);
}

Test(packet, later_fragment_rewrite_changes_address_only)
{
	struct nat_pkt p;
	uint8_t before[64];
	fill_rnd(seg, 64);
	size_t n = mk_ip(buf, 20, P_UDP, A_IN, A_REM, seg, 64);
	put16(buf + 6, 100);
	finalize(buf);
	memcpy(before, buf + 20, 64);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_src(&p, A_EXT, 999);
	nat_pkt_set_dst(&p, A_RTR, 999);
	cr_expect_eq(get32(buf + 12), A_EXT);
	cr_expect_eq(get32(buf + 16), A_RTR);
	cr_expect_eq(memcmp(buf + 20, before, 64), 0, "payload untouched");
	cr_expect_eq(p.sport, 0);
	expect_ip_csum(buf);
}

Test(packet, truncated_capture_rewrite_matches_full_packet_prefix)
{
	static uint8_t full[2000], cut[2000];
	struct nat_pkt pf, pc;
	size_t n = tcp_pkt(full, 1000);
	memcpy(cut, full, 100);
	cr_assert_eq(parse(&pf, full, n), NAT_PARSE_OK);
	cr_assert_eq(parse(&pc, cut, 100), NAT_PARSE_OK);
	cr_assert(pc.flags & NAT_PKT_TRUNCATED);
	nat_pkt_set_src(&pf, A_EXT, 40404);
	nat_pkt_set_src(&pc, A_EXT, 40404);
	expect_l4_csum(full);
	cr_expect_eq(memcmp(full, cut, 100), 0);
}

/* Inbound ICMP error about our translated packet: translate the quote back
 * (inner src) and the outer destination, as the engine does. */
static void rewrite_error_back(struct nat_pkt *p)
{
	nat_pkt_set_dst(p, A_IN, 0);
	nat_pkt_set_inner_src(p, A_IN, 51000);
}

static void expect_quote_valid(const uint8_t *b, bool quote_complete)
{
	const uint8_t *q = b + 28;
	expect_ip_csum(b);
	expect_l4_csum(b); /* outer ICMP */
	expect_ip_csum(q);
	if (quote_complete)
		expect_l4_csum(q);
}

Test(packet, icmp_error_inner_tcp_8_bytes)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 11, 28);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	rewrite_error_back(&p);
	cr_expect_eq(get32(buf + 28 + 12), A_IN);
	cr_expect_eq(get16(buf + 48), 51000);
	cr_expect_eq(p.inner.src, A_IN);
	cr_expect_eq(p.inner.sport, 51000);
	cr_expect_eq(p.inner.dport, 443);
	expect_quote_valid(buf, false);
	cr_expect(nat_pkt_l4_csum_ok(&p));
}

Test(packet, icmp_error_inner_tcp_full)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 3, 1000);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_assert_eq(p.inner.l4_len, 32);
	rewrite_error_back(&p);
	expect_quote_valid(buf, true);
	/* and the other direction: the remote side of the quote */
	nat_pkt_set_inner_dst(&p, A_RTR, 8443);
	cr_expect_eq(get16(buf + 48 + 2), 8443);
	cr_expect_eq(p.inner.dst, A_RTR);
	expect_quote_valid(buf, true);
}

Test(packet, icmp_error_inner_tcp_checksum_just_out_of_reach)
{
	/* 17 TCP bytes quoted: the checksum at +16..17 is not all there. */
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 3, 20 + 17);
	uint8_t byte16 = buf[48 + 16];
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	rewrite_error_back(&p);
	cr_expect_eq(buf[48 + 16], byte16, "half a checksum is not written");
	expect_quote_valid(buf, false);
}

Test(packet, icmp_error_inner_udp)
{
	struct nat_pkt p;
	size_t s = mk_udp_dgram(seg, 40001, 53, 31);
	size_t ql = mk_ip(quote, 20, P_UDP, A_EXT, A_REM, seg, s);
	for (int full = 0; full < 2; full++) {
		size_t q = full ? ql : 28;
		s = mk_icmp_err(seg, 3, 3, quote, q);
		size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
		rewrite_error_back(&p);
		cr_expect_eq(get16(buf + 48), 51000);
		expect_quote_valid(buf, full);
		cr_expect_neq(get16(buf + 48 + 6), 0);
	}
}

Test(packet, icmp_error_inner_udp_zero_checksum_preserved)
{
	struct nat_pkt p;
	size_t s = mk_udp_dgram(seg, 40001, 53, 31);
	size_t ql = mk_ip(quote, 20, P_UDP, A_EXT, A_REM, seg, s);
	put16(quote + 26, 0);
	s = mk_icmp_err(seg, 3, 3, quote, ql);
	size_t n = mk_ip(buf, 20, P_ICMP, A_REM, A_EXT, seg, s);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	rewrite_error_back(&p);
	cr_expect_eq(get16(buf + 48 + 6), 0);
	expect_ip_csum(buf);
	expect_l4_csum(buf);
	expect_ip_csum(buf + 28);
}

Test(packet, icmp_error_inner_echo)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 0x9999, 5, 24);
	size_t ql = mk_ip(quote, 20, P_ICMP, A_EXT, A_REM, seg, s);
	for (int full = 0; full < 2; full++) {
		size_t q = full ? ql : 28;
		s = mk_icmp_err(seg, 11, 0, quote, q);
		size_t n = mk_ip(buf, 20, P_ICMP, A_RTR, A_EXT, seg, s);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
		nat_pkt_set_dst(&p, A_IN, 0);
		nat_pkt_set_inner_src(&p, A_IN, 0x1234);
		cr_expect_eq(get16(buf + 48 + 4), 0x1234);
		cr_expect_eq(p.inner.sport, 0x1234);
		expect_quote_valid(buf, full);
		/* the echo's destination side has no id */
		nat_pkt_set_inner_dst(&p, A_RTR, 0x5555);
		cr_expect_eq(get16(buf + 48 + 4), 0x1234);
		cr_expect_eq(p.inner.dport, 0);
		expect_quote_valid(buf, full);
	}
}

Test(packet, inner_rewrite_is_noop_without_icmp_error)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 40);
	uint8_t before[100];
	memcpy(before, buf, n);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_set_inner_src(&p, A_EXT, 1);
	nat_pkt_set_inner_dst(&p, A_EXT, 1);
	cr_expect_eq(memcmp(before, buf, n), 0);
}

Test(packet, l4_csum_full_repairs_and_skips_partial)
{
	struct nat_pkt p;
	size_t n = tcp_pkt(buf, 50);
	put16(buf + 36, 0xdead);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(!nat_pkt_l4_csum_ok(&p));
	nat_pkt_l4_csum_full(&p);
	cr_expect(nat_pkt_l4_csum_ok(&p));
	expect_l4_csum(buf);

	n = udp_pkt(buf, 3);
	put16(buf + 26, 0x0bad);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_l4_csum_full(&p);
	expect_l4_csum(buf);

	size_t s = mk_echo(seg, 8, 1, 2, 9);
	n = mk_ip(buf, 20, P_ICMP, A_IN, A_REM, seg, s);
	put16(buf + 22, 0x0bad);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_l4_csum_full(&p);
	expect_l4_csum(buf);

	n = tcp_pkt(buf, 50);
	put16(buf + 36, 0xdead);
	cr_assert_eq(parse(&p, buf, n - 1), NAT_PARSE_OK);
	nat_pkt_l4_csum_full(&p);
	cr_expect_eq(get16(buf + 36), 0xdead, "truncated: left alone");
	put16(buf + 6, 0x2000);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	nat_pkt_l4_csum_full(&p);
	cr_expect_eq(get16(buf + 36), 0xdead, "first fragment: left alone");
}

/* ---- randomized: incremental == full recomputation ---------------------- */

static uint32_t rnd_addr(void)
{
	uint32_t a = rnd();
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff;
	case 2:
		return a & 0xffff0000;
	default:
		return a;
	}
}

static uint16_t rnd_port(void)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffff;
	default:
		return (uint16_t)rnd();
	}
}

static size_t rnd_ihl(void)
{
	return rnd() % 4 ? 20 : 20 + 4 * (rnd() % 11);
}

/* A random complete datagram into b; returns its length. kind: 0 TCP,
 * 1 UDP, 2 UDP without checksum, 3 echo request, 4 echo reply. */
static size_t rnd_datagram(uint8_t *b, int kind, size_t maxpay)
{
	size_t pay = rnd() % (maxpay + 1), s, hdr = 8;
	uint8_t proto;
	switch (kind) {
	case 0:
		hdr = 20 + 4 * (rnd() % 11);
		s = mk_tcp_seg(seg, rnd_port(), rnd_port(), (uint8_t)rnd(), hdr,
			       pay);
		proto = P_TCP;
		break;
	case 1:
	case 2:
		s = mk_udp_dgram(seg, rnd_port(), rnd_port(), pay);
		proto = P_UDP;
		break;
	default:
		s = mk_echo(seg, kind == 3 ? 8 : 0, rnd_port(), rnd_port(),
			    pay);
		proto = P_ICMP;
		break;
	}
	if (rnd() % 16 == 0) /* words of 0 and 0xffff stress the corners */
		memset(seg + hdr, rnd() % 2 ? 0xff : 0, s - hdr);
	size_t n = mk_ip(b, rnd_ihl(), proto, rnd_addr(), rnd_addr(), seg, s);
	if (kind == 2)
		put16(b + ihl_of(b) + 6, 0);
	return n;
}

/* Minimum capture that still parses: IP header + L4 header. */
static size_t min_capture(const uint8_t *b)
{
	size_t ihl = ihl_of(b);
	if (b[9] == P_TCP)
		return ihl + (b[ihl + 12] >> 4) * 4u;
	return ihl + 8;
}

static void check_reparse(uint8_t *b, size_t n, const struct nat_pkt *p)
{
	struct nat_pkt q;
	cr_assert_eq(nat_pkt_parse(&q, b, n), NAT_PARSE_OK);
	cr_assert_eq(q.src, p->src);
	cr_assert_eq(q.dst, p->dst);
	cr_assert_eq(q.sport, p->sport);
	cr_assert_eq(q.dport, p->dport);
	if (p->flags & NAT_PKT_ICMP_ERROR) {
		cr_assert_eq(q.inner.src, p->inner.src);
		cr_assert_eq(q.inner.dst, p->inner.dst);
		cr_assert_eq(q.inner.sport, p->inner.sport);
		cr_assert_eq(q.inner.dport, p->inner.dport);
	}
}

static void random_outer_case(int kind)
{
	static uint8_t full[4096], cut[4096];
	struct nat_pkt p, pc;
	size_t n = rnd_datagram(full, kind, 300);
	size_t c = min_capture(full);
	c += rnd() % (n - c + 1);
	memcpy(cut, full, c);
	cr_assert_eq(nat_pkt_parse(&p, full, n), NAT_PARSE_OK);
	cr_assert_eq(nat_pkt_parse(&pc, cut, c), NAT_PARSE_OK);

	int ops = 1 + (int)(rnd() % 3);
	for (int i = 0; i < ops; i++) {
		uint32_t a = rnd_addr();
		uint16_t port = rnd_port();
		bool src = rnd() % 2;
		if (src) {
			nat_pkt_set_src(&p, a, port);
			nat_pkt_set_src(&pc, a, port);
		} else {
			nat_pkt_set_dst(&p, a, port);
			nat_pkt_set_dst(&pc, a, port);
		}
		cr_assert_eq(get32(full + (src ? 12 : 16)), a);
	}
	cr_assert_eq(get16(full + 10), full_ip_csum(full), "kind %d", kind);
	if (kind == 2)
		cr_assert_eq(stored_l4_csum(full), 0);
	else
		cr_assert_eq(stored_l4_csum(full), full_l4_csum(full),
			     "kind %d: incremental %04x, full %04x", kind,
			     stored_l4_csum(full), full_l4_csum(full));
	cr_assert(nat_pkt_ip_csum_ok(&p));
	cr_assert(nat_pkt_l4_csum_ok(&p));
	cr_assert_eq(memcmp(full, cut, c), 0,
		     "truncated copy differs from the full packet's prefix");
	check_reparse(full, n, &p);
}

static void random_error_case(void)
{
	static uint8_t full[4096], cut[4096];
	struct nat_pkt p, pc;
	int inner_kind = (int)(rnd() % 5);
	size_t ql = rnd_datagram(quote, inner_kind, 120);
	size_t iihl = ihl_of(quote);
	size_t qcut = iihl + 8 + rnd() % (ql - iihl - 8 + 1);
	uint8_t type = (uint8_t[]){3, 11, 12}[rnd() % 3];
	size_t oihl = rnd_ihl();
	uint32_t osrc = rnd_addr(), odst = rnd_addr();

	size_t s = mk_icmp_err(seg, type, (uint8_t)rnd(), quote, ql);
	size_t n = mk_ip(full, oihl, P_ICMP, osrc, odst, seg, s);
	s = mk_icmp_err(seg, type, full[oihl + 1], quote, qcut);
	size_t nc = mk_ip(cut, oihl, P_ICMP, osrc, odst, seg, s);
	cr_assert_eq(nat_pkt_parse(&p, full, n), NAT_PARSE_OK,
		     "status %d, inner kind %d", nat_pkt_parse(&p, full, n),
		     inner_kind);
	cr_assert_eq(nat_pkt_parse(&pc, cut, nc), NAT_PARSE_OK);
	cr_assert(p.flags & NAT_PKT_ICMP_ERROR);

	int ops = 1 + (int)(rnd() % 3);
	for (int i = 0; i < ops; i++) {
		uint32_t a = rnd_addr();
		uint16_t port = rnd_port();
		switch (rnd() % 4) {
		case 0:
			nat_pkt_set_inner_src(&p, a, port);
			nat_pkt_set_inner_src(&pc, a, port);
			break;
		case 1:
			nat_pkt_set_inner_dst(&p, a, port);
			nat_pkt_set_inner_dst(&pc, a, port);
			break;
		case 2:
			nat_pkt_set_src(&p, a, port);
			nat_pkt_set_src(&pc, a, port);
			break;
		default:
			nat_pkt_set_dst(&p, a, port);
			nat_pkt_set_dst(&pc, a, port);
			break;
		}
	}
	const uint8_t *q = full + oihl + 8;
	const uint8_t *qc = cut + oihl + 8;
	cr_assert_eq(get16(full + 10), full_ip_csum(full));
	cr_assert_eq(stored_l4_csum(full), full_l4_csum(full),
		     "outer ICMP: incremental %04x, full %04x",
		     stored_l4_csum(full), full_l4_csum(full));
	cr_assert_eq(get16(q + 10), full_ip_csum(q));
	if (inner_kind == 2)
		cr_assert_eq(stored_l4_csum(q), 0);
	else
		cr_assert_eq(stored_l4_csum(q), full_l4_csum(q),
			     "quoted kind %d: incremental %04x, full %04x",
			     inner_kind, stored_l4_csum(q), full_l4_csum(q));
	cr_assert_eq(get16(cut + 10), full_ip_csum(cut));
	cr_assert_eq(stored_l4_csum(cut), full_l4_csum(cut),
		     "outer ICMP of the short quote");
	/* Half a quoted TCP checksum is left as it was: compare before it. */
	size_t same = inner_kind == 0 && qcut == iihl + 17 ? qcut - 1 : qcut;
	size_t diff = 0;
	while (diff < same && q[diff] == qc[diff])
		diff++;
	cr_assert_eq(diff, same,
		     "short quote (%zu of %zu bytes, kind %d) differs from the "
		     "full quote at byte %zu",
		     qcut, ql, inner_kind, diff);
	cr_assert(nat_pkt_l4_csum_ok(&p));
	check_reparse(full, n, &p);
	check_reparse(cut, nc, &pc);
}

Test(packet, random_rewrites_match_full_recomputation)
{
	rng_state = 0x5eed5eed5eedULL;
	for (int i = 0; i < 100000; i++) {
		int kind = (int)(rnd() % 6);
		if (kind == 5)
			random_error_case();
		else
			random_outer_case(kind);
	}
}

/* ---- text forms --------------------------------------------------------- */

Test(packet, ip_str_formats_dotted_quad)
{
	char b[16];
	cr_expect_str_eq(nat_ip_str(IP4(192, 168, 1, 10), b), "192.168.1.10");
	cr_expect_str_eq(nat_ip_str(0, b), "0.0.0.0");
	cr_expect_str_eq(nat_ip_str(0xffffffff, b), "255.255.255.255");
	cr_expect_str_eq(nat_ip_str(IP4(10, 0, 100, 9), b), "10.0.100.9");
}

Test(packet, ip_parse_accepts_exact_dotted_quads)
{
	uint32_t a = 7;
	cr_expect(nat_ip_parse("192.168.1.10", &a));
	cr_expect_eq(a, IP4(192, 168, 1, 10));
	cr_expect(nat_ip_parse("0.0.0.0", &a));
	cr_expect_eq(a, 0);
	cr_expect(nat_ip_parse("255.255.255.255", &a));
	cr_expect_eq(a, 0xffffffff);
	cr_expect(nat_ip_parse("10.0.100.9", &a));
	cr_expect_eq(a, IP4(10, 0, 100, 9));
}

Test(packet, ip_parse_rejects_everything_else)
{
	const char *bad[] = {
		"",	       "1.2.3",	      "1.2.3.4.5",   "256.1.1.1",
		"1.2.3.256",   "1.2.3.1000",  "01.2.3.4",    "1.2.3.04",
		"1.2.3.00",    " 1.2.3.4",    "1.2.3.4 ",    "1.2.3.4\n",
		"1..3.4",      ".1.2.3.4",    "1.2.3.4.",    "1.2.3.-4",
		"+1.2.3.4",    "1.2.3.4x",    "a.b.c.d",     "0x1.2.3.4",
		"1.2.3.0004",  "1,2,3,4",     "1.2.3.",	     "4294967297.1.1.1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t a = 0x12345678;
		cr_expect(!nat_ip_parse(bad[i], &a), "accepted \"%s\"", bad[i]);
		cr_expect_eq(a, 0x12345678, "wrote output for \"%s\"", bad[i]);
	}
	cr_expect(!nat_ip_parse(NULL, &(uint32_t){0}));
}

Test(packet, ip_str_and_parse_round_trip)
{
	char b[16];
	rng_state = 42;
	for (int i = 0; i < 10000; i++) {
		uint32_t a = rnd(), back;
		cr_assert(nat_ip_parse(nat_ip_str(a, b), &back), "%s", b);
		cr_assert_eq(back, a);
	}
}

/* ---- content checks: UDP length, ICMP error checksum (issue 17 item 12) */

/* Sets the UDP length field of udp_pkt()'s datagram and fixes the UDP
 * checksum, so only the length is wrong. */
static void set_udp_len(uint8_t *b, uint16_t ulen)
{
	put16(b + 24, ulen);
	finalize(b);
}

Test(packet, udp_length_below_8_or_past_the_payload_is_flagged)
{
	const uint16_t bad[] = {0, 4, 7, 8 + 41, 0xffff};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nat_pkt p;
		size_t n = udp_pkt(buf, 40);
		set_udp_len(buf, bad[i]);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK,
			     "length %u: headers stay usable", bad[i]);
		cr_expect(p.flags & NAT_PKT_UDP_LEN_BAD,
			  "UDP length %u over a 48-byte datagram not flagged",
			  bad[i]);
		cr_expect_eq(p.sport, 5353, "ports still read for natdump");
	}
}

Test(packet, udp_length_8_to_the_payload_is_fine)
{
	const uint16_t good[] = {8, 20, 48};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct nat_pkt p;
		size_t n = udp_pkt(buf, 40);
		set_udp_len(buf, good[i]);
		cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
		cr_expect(!(p.flags & NAT_PKT_UDP_LEN_BAD),
			  "UDP length %u within a 48-byte datagram flagged",
			  good[i]);
	}
}

Test(packet, udp_length_of_a_first_fragment_only_needs_8)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 40);
	set_udp_len(buf, 4000); /* the whole datagram's length */
	put16(buf + 6, 0x2000); /* MF, offset 0 */
	finalize(buf);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(!(p.flags & NAT_PKT_UDP_LEN_BAD),
		  "a first fragment's length covers the whole datagram");
	set_udp_len(buf, 7);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_UDP_LEN_BAD, "7 is below the header");
}

Test(packet, udp_length_judged_on_total_length_when_truncated)
{
	struct nat_pkt p;
	size_t n = udp_pkt(buf, 40);
	cr_assert_eq(parse(&p, buf, n - 20), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_TRUNCATED);
	cr_expect(!(p.flags & NAT_PKT_UDP_LEN_BAD),
		  "a short capture of a good datagram is not a bad length");
	set_udp_len(buf, 49);
	cr_assert_eq(parse(&p, buf, n - 20), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_UDP_LEN_BAD);
}

Test(packet, icmp_error_bad_checksum_is_flagged)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 3, 28);
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(!(p.flags & NAT_PKT_ICMP_CSUM_BAD), "good checksum flagged");
	buf[20 + 2] ^= 0x01;
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_ICMP_CSUM_BAD, "bad checksum not flagged");
	cr_expect_eq(p.inner.sport, 40001, "the quote is still parsed");
	buf[20 + 2] ^= 0x01;
	buf[n - 1] ^= 0x40; /* a quoted byte: the checksum covers it */
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_ICMP_CSUM_BAD);
}

Test(packet, icmp_error_checksum_not_judged_on_a_partial_message)
{
	struct nat_pkt p;
	size_t n = icmp_err_tcp(buf, 11, 40);
	buf[20 + 2] ^= 0x01;
	cr_assert_eq(parse(&p, buf, n - 4), NAT_PARSE_OK);
	cr_expect(p.flags & NAT_PKT_TRUNCATED);
	cr_expect(!(p.flags & NAT_PKT_ICMP_CSUM_BAD),
		  "a truncated copy cannot be judged");
	put16(buf + 6, 0x2000); /* a first fragment of a larger error */
	finalize(buf);
	buf[20 + 2] ^= 0x01;
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(!(p.flags & NAT_PKT_ICMP_CSUM_BAD),
		  "a first fragment carries only part of the message");
}

Test(packet, echo_checksum_is_not_judged)
{
	struct nat_pkt p;
	size_t s = mk_echo(seg, 8, 77, 1, 16);
	size_t n = mk_ip(buf, 20, P_ICMP, A_IN, A_REM, seg, s);
	buf[20 + 2] ^= 0x01;
	cr_assert_eq(parse(&p, buf, n), NAT_PARSE_OK);
	cr_expect(!(p.flags & NAT_PKT_ICMP_CSUM_BAD),
		  "only errors are checked (RFC 5508 REQ-3)");
}
