/* glassnat's trace comments and the packet headers natdump shows.
 *
 * A comment is a list of key=value words separated by spaces. Values are
 * percent-encoded by the tracer; glassnat replay writes rule names as they
 * are, so a word without '=' continues the value before it. */
#include "nd.h"

#include <string.h>

#include "packet.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void nd_pct_decode(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < dstlen; i++) {
		int hi, lo;
		if (src[i] == '%' && i + 2 < len &&
		    (hi = hexval(src[i + 1])) >= 0 &&
		    (lo = hexval(src[i + 2])) >= 0) {
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = '\0';
}

static bool parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* "a.b.c.d:port" */
static bool parse_map(const char *s, size_t len, uint32_t *ip, uint16_t *port)
{
	char tmp[24];
	const char *colon = memchr(s, ':', len);
	uint64_t p;
	size_t il;
	if (!colon)
		return false;
	il = (size_t)(colon - s);
	if (il >= sizeof tmp)
		return false;
	memcpy(tmp, s, il);
	tmp[il] = '\0';
	if (!nat_ip_parse(tmp, ip))
		return false;
	if (!parse_u64(colon + 1, len - il - 1, &p) || p > 65535)
		return false;
	*port = (uint16_t)p;
	return true;
}

static bool key_is(const char *k, size_t kl, const char *name)
{
	return strlen(name) == kl && memcmp(k, name, kl) == 0;
}

enum { K_NONE, K_RULE, K_REASON, K_OTHER };

static void note_value(struct nd_note *n, int key, const char *v, size_t vl)
{
	if (key == K_RULE)
		nd_pct_decode(n->rule, sizeof n->rule, v, vl);
	else if (key == K_REASON)
		nd_pct_decode(n->reason, sizeof n->reason, v, vl);
}

void nd_note_parse(struct nd_note *n, const char *comment)
{
	const char *p = comment;
	int last = K_NONE;
	const char *lv = NULL; /* start of the last rule/reason value */

	memset(n, 0, sizeof *n);
	if (!p)
		return;
	while (*p) {
		const char *w, *eq, *v;
		size_t wl, kl, vl;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		w = p;
		while (*p && *p != ' ')
			p++;
		wl = (size_t)(p - w);
		eq = memchr(w, '=', wl);
		if (!eq) {
			/* an unencoded space inside a rule name */
			if (last == K_RULE || last == K_REASON)
				note_value(n, last, lv, (size_t)(p - lv));
			continue;
		}
		kl = (size_t)(eq - w);
		v = eq + 1;
		vl = wl - kl - 1;
		last = K_OTHER;
		if (key_is(w, kl, "flow")) {
			n->glassnat = parse_u64(v, vl, &n->flow);
		} else if (key_is(w, kl, "stage")) {
			if (vl == 3 && memcmp(v, "pre", 3) == 0)
				n->stage = ND_STAGE_PRE;
			else if (vl == 4 && memcmp(v, "post", 4) == 0)
				n->stage = ND_STAGE_POST;
		} else if (key_is(w, kl, "dir")) {
			if (vl == 3 && memcmp(v, "out", 3) == 0)
				n->dir = ND_DIR_OUT;
			else if (vl == 2 && memcmp(v, "in", 2) == 0)
				n->dir = ND_DIR_IN;
		} else if (key_is(w, kl, "verdict")) {
			nd_pct_decode(n->verdict, sizeof n->verdict, v, vl);
		} else if (key_is(w, kl, "rule")) {
			last = K_RULE;
			lv = v;
			note_value(n, last, v, vl);
		} else if (key_is(w, kl, "reason")) {
			last = K_REASON;
			lv = v;
			note_value(n, last, v, vl);
		} else if (key_is(w, kl, "map")) {
			n->has_map = parse_map(v, vl, &n->map_ip, &n->map_port);
		} else if (key_is(w, kl, "hairpin")) {
			n->hairpin = vl == 1 && v[0] == '1';
		}
	}
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the IPv4 header for a link type, or -1. */
static long l3_offset(const uint8_t *d, size_t caplen, uint32_t linktype)
{
	size_t off;
	uint16_t et;
	switch (linktype) {
	case 101: /* LINKTYPE_RAW */
	case 228: /* LINKTYPE_IPV4 */
	case 12:  /* DLT_RAW as some writers store it */
		return 0;
	case 0: /* BSD loopback: 4-byte family in host order */
		return caplen >= 4 ? 4 : -1;
	case 1: /* Ethernet, one optional 802.1Q tag */
		if (caplen < 14)
			return -1;
		et = rd16(d + 12);
		off = 14;
		if (et == 0x8100 && caplen >= 18) {
			et = rd16(d + 16);
			off = 18;
		}
		return et == 0x0800 ? (long)off : -1;
	case 113: /* Linux cooked v1 */
		return caplen >= 16 && rd16(d + 14) == 0x0800 ? 16 : -1;
	case 276: /* Linux cooked v2 */
		return caplen >= 20 && rd16(d) == 0x0800 ? 20 : -1;
	default:
		return -1;
	}
}

void nd_hdr_parse(struct nd_hdr *h, const uint8_t *data, size_t caplen,
		  uint32_t linktype)
{
	uint8_t copy[192];
	struct nat_pkt p;
	enum nat_parse_status st;
	long l3 = l3_offset(data, caplen, linktype);
	size_t n;

	memset(h, 0, sizeof *h);
	if (l3 < 0)
		return;
	n = caplen - (size_t)l3;
	if (n > sizeof copy)
		n = sizeof copy;
	memcpy(copy, data + l3, n);
	st = nat_pkt_parse(&p, copy, n);
	if (st == NAT_PARSE_IPV6 || n < 20 || (copy[0] >> 4) != 4)
		return;
	h->ip = true;
	h->proto = copy[9];
	h->src = rd32(copy + 12);
	h->dst = rd32(copy + 16);
	if (st != NAT_PARSE_OK || (p.flags & NAT_PKT_FRAG_LATER))
		return;
	h->icmp_type = p.icmp_type;
	h->icmp_code = p.icmp_code;
	if (p.proto == 6 || p.proto == 17 ||
	    (p.proto == 1 && (p.flags & NAT_PKT_ICMP_QUERY))) {
		h->ports = true;
		h->sport = p.sport;
		h->dport = p.dport;
	}
	if (p.proto == 6) {
		const uint8_t *t = copy + p.ihl; /* 20 bytes checked */
		size_t doff = (size_t)(t[12] >> 4) * 4;
		size_t ip_data = p.ip_total > p.ihl ? p.ip_total - p.ihl : 0;
		h->tcp_flags = p.tcp_flags;
		h->seq = rd32(t + 4);
		h->ack = rd32(t + 8);
		h->payload = (uint16_t)(ip_data > doff ? ip_data - doff : 0);
	}
}
