/* Test helpers: build IPv4 TCP/UDP/ICMP packets with valid checksums, and
 * read fields back, independently of nat/core/packet.c's parser (checksums are
 * computed here from scratch so a rewrite bug cannot hide behind the code
 * under test). Header-only; every function is static. */
#ifndef GLASSNAT_TEST_PKTBUILD_H
#define GLASSNAT_TEST_PKTBUILD_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	 (uint32_t)(d))

static inline uint16_t tb_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t tb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void tb_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void tb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t tb_sum(uint32_t s, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += tb_get16(d + i);
	if (n & 1)
		s += (uint32_t)d[n - 1] << 8;
	return s;
}

static inline uint16_t tb_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Checksum over an L4 segment with the IPv4 pseudo-header. */
static inline uint16_t tb_l4_csum(const uint8_t *ip, const uint8_t *l4,
				  size_t l4len, uint8_t proto)
{
	uint32_t s = tb_sum(0, ip + 12, 8);
	s += proto;
	s += (uint32_t)l4len;
	return tb_fold(tb_sum(s, l4, l4len));
}

static inline void tb_ip_header(uint8_t *b, size_t total, uint8_t proto,
				uint32_t src, uint32_t dst)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	tb_put16(b + 2, (uint16_t)total);
	tb_put16(b + 4, 0x1234);
	tb_put16(b + 6, 0x4000); /* DF */
	b[8] = 64;
	b[9] = proto;
	tb_put32(b + 12, src);
	tb_put32(b + 16, dst);
	tb_put16(b + 10, tb_fold(tb_sum(0, b, 20)));
}

/* TCP with `plen` payload bytes (a repeating pattern). Returns length. */
static inline size_t tb_tcp(uint8_t *b, uint32_t src, uint16_t sport,
			    uint32_t dst, uint16_t dport, uint8_t flags,
			    size_t plen)
{
	size_t total = 20 + 20 + plen;
	tb_ip_header(b, total, 6, src, dst);
	uint8_t *t = b + 20;
	memset(t, 0, 20);
	tb_put16(t, sport);
	tb_put16(t + 2, dport);
	tb_put32(t + 4, 1000);
	tb_put32(t + 8, (flags & 0x10) ? 2000 : 0);
	t[12] = 5 << 4;
	t[13] = flags;
	tb_put16(t + 14, 65535);
	for (size_t i = 0; i < plen; i++)
		t[20 + i] = (uint8_t)(i * 7 + 3);
	tb_put16(t + 16, tb_l4_csum(b, t, 20 + plen, 6));
	return total;
}

static inline size_t tb_udp(uint8_t *b, uint32_t src, uint16_t sport,
			    uint32_t dst, uint16_t dport, size_t plen)
{
	size_t total = 20 + 8 + plen;
	tb_ip_header(b, total, 17, src, dst);
	uint8_t *u = b + 20;
	tb_put16(u, sport);
	tb_put16(u + 2, dport);
	tb_put16(u + 4, (uint16_t)(8 + plen));
	tb_put16(u + 6, 0);
	for (size_t i = 0; i < plen; i++)
		u[8 + i] = (uint8_t)(i * 13 + 1);
	uint16_t c = tb_l4_csum(b, u, 8 + plen, 17);
	tb_put16(u + 6, c ? c : 0xffff);
	return total;
}

/* ICMP echo request (type 8) or reply (type 0). */
static inline size_t tb_echo(uint8_t *b, uint8_t type, uint32_t src,
			     uint32_t dst, uint16_t id, uint16_t seq)
{
	size_t total = 20 + 8 + 16;
	tb_ip_header(b, total, 1, src, dst);
	uint8_t *m = b + 20;
	memset(m, 0, 24);
	m[0] = type;
	tb_put16(m + 4, id);
	tb_put16(m + 6, seq);
	for (int i = 0; i < 16; i++)
		m[8 + i] = (uint8_t)i;
	tb_put16(m + 2, tb_fold(tb_sum(0, m, 24)));
	return total;
}

/* ICMP error (type/code) from `src` to `dst` quoting the first
 * `quote` bytes of the packet `inner`. */
static inline size_t tb_icmp_error(uint8_t *b, uint8_t type, uint8_t code,
				   uint32_t src, uint32_t dst,
				   const uint8_t *inner, size_t quote)
{
	size_t total = 20 + 8 + quote;
	tb_ip_header(b, total, 1, src, dst);
	uint8_t *m = b + 20;
	memset(m, 0, 8);
	m[0] = type;
	m[1] = code;
	memcpy(m + 8, inner, quote);
	tb_put16(m + 2, tb_fold(tb_sum(0, m, 8 + quote)));
	return total;
}

/* ---- reading back ---- */

static inline uint32_t tb_src(const uint8_t *b) { return tb_get32(b + 12); }
static inline uint32_t tb_dst(const uint8_t *b) { return tb_get32(b + 16); }
static inline uint16_t tb_sport(const uint8_t *b) { return tb_get16(b + 20); }
static inline uint16_t tb_dport(const uint8_t *b) { return tb_get16(b + 22); }
/* ICMP echo identifier */
static inline uint16_t tb_echo_id(const uint8_t *b) { return tb_get16(b + 24); }

static inline bool tb_ip_ok(const uint8_t *b)
{
	size_t ihl = (size_t)(b[0] & 15) * 4;
	return tb_fold(tb_sum(0, b, ihl)) == 0;
}

/* Verifies the L4 checksum of a complete packet (TCP, UDP, ICMP). */
static inline bool tb_l4_ok(const uint8_t *b)
{
	size_t ihl = (size_t)(b[0] & 15) * 4;
	size_t total = tb_get16(b + 2);
	const uint8_t *l4 = b + ihl;
	size_t n = total - ihl;
	if (b[9] == 1)
		return tb_fold(tb_sum(0, l4, n)) == 0;
	if (b[9] == 17 && tb_get16(l4 + 6) == 0)
		return true;
	uint32_t s = tb_sum(0, b + 12, 8) + b[9] + (uint32_t)n;
	return tb_fold(tb_sum(s, l4, n)) == 0;
}

#endif
