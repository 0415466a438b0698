/* WinDivert filter strings from a config (see windivert.h). Pure string
 * code: it builds and is unit-tested on Linux too.
 *
 * WinDivert's filter language compares IPv4 addresses and ports as
 * numbers, so internal_network becomes "ip.SrcAddr >= FIRST and
 * ip.SrcAddr <= LAST" and forwarded ports are merged into ranges. */
#include "windivert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

struct fbuf {
	char *p;
	size_t len, used;
	bool overflow;
};

static void fb_add(struct fbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fb_add(struct fbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->used, b->len - b->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->len - b->used) {
		b->overflow = true;
		return;
	}
	b->used += (size_t)n;
}

static int fb_done(struct fbuf *b, const char *what, char *errbuf,
		   size_t errlen)
{
	if (!b->overflow)
		return 0;
	snprintf(errbuf, errlen,
		 "WinDivert %s filter longer than %zu bytes (too many "
		 "external addresses?)",
		 what, b->len - 1);
	return -1;
}

static uint32_t cidr_last(const struct nat_cidr *c)
{
	return c->len == 0 ? 0xffffffffu
			   : c->addr | (0xffffffffu >> c->len);
}

int nat_wd_filter_outbound(const struct nat_config *cfg, char *buf,
			   size_t len, char *errbuf, size_t errlen)
{
	struct fbuf b = { buf, len, 0, len == 0 };
	char a[16], z[16];

	if (len)
		buf[0] = '\0';
	if (cfg->n_nets > 1) {
		/* Several inside networks: any of them. */
		fb_add(&b, "ip and (");
		for (unsigned i = 0; i < cfg->n_nets; i++)
			fb_add(&b, "%s(ip.SrcAddr >= %s and ip.SrcAddr <= %s)",
			       i ? " or " : "",
			       nat_ip_str(cfg->nets[i].cidr.addr, a),
			       nat_ip_str(cidr_last(&cfg->nets[i].cidr), z));
		fb_add(&b, ")");
	} else {
		fb_add(&b, "ip and ip.SrcAddr >= %s and ip.SrcAddr <= %s",
		       nat_ip_str(cfg->internal.addr, a),
		       nat_ip_str(cidr_last(&cfg->internal), z));
	}
	if (cfg->has_host_internal_ip)
		fb_add(&b, " and ip.SrcAddr != %s",
		       nat_ip_str(cfg->host_internal_ip, a));
	return fb_done(&b, "outbound", errbuf, errlen);
}

struct prange {
	uint16_t lo, hi;
};

static int prange_cmp(const void *x, const void *y)
{
	const struct prange *a = x, *b = y;
	return a->lo != b->lo ? (a->lo < b->lo ? -1 : 1)
	       : a->hi != b->hi ? (a->hi < b->hi ? -1 : 1)
				: 0;
}

/* Sorts and merges touching or overlapping ranges; returns the count. */
static size_t prange_merge(struct prange *r, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), prange_cmp);
	for (size_t i = 1; i < n; i++) {
		if ((uint32_t)r[i].lo <= (uint32_t)r[out].hi + 1) {
			if (r[i].hi > r[out].hi)
				r[out].hi = r[i].hi;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

/* Appends " or " before every term but the first (*first, cleared). */
static void add_or(struct fbuf *b, bool *first)
{
	if (!*first)
		fb_add(b, " or ");
	*first = false;
}

static void add_ports(struct fbuf *b, const char *proto,
		      const struct prange *r, size_t n, bool *first)
{
	struct prange span;

	if (n > NAT_WD_MAX_RANGES) {
		/* One span: the engine passes what is not ours. */
		span.lo = r[0].lo;
		span.hi = r[n - 1].hi;
		r = &span;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		add_or(b, first);
		if (r[i].lo == r[i].hi)
			fb_add(b, "(%s and %s.DstPort == %u)", proto, proto,
			       r[i].lo);
		else
			fb_add(b,
			       "(%s and %s.DstPort >= %u and "
			       "%s.DstPort <= %u)",
			       proto, proto, r[i].lo, proto, r[i].hi);
	}
}

/* Forwarded port ranges per protocol listed apart in the ICMP error
 * term; beyond this, one span (WinDivert compiles at most 256 tests, and
 * the port terms take three per range). */
#define WD_QUOTE_RANGES 6

/* The quoted source port test for one protocol's forwarded ports. */
static void add_quoted(struct fbuf *b, unsigned proto, const struct prange *r,
		       size_t n, bool *first)
{
	struct prange span;

	if (n > WD_QUOTE_RANGES) {
		span.lo = r[0].lo;
		span.hi = r[n - 1].hi;
		r = &span;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		add_or(b, first);
		if (r[i].lo == r[i].hi)
			fb_add(b, "(packet[37] == %u and packet16[24] == %u)",
			       proto, r[i].lo);
		else
			fb_add(b,
			       "(packet[37] == %u and packet16[24] >= %u and "
			       "packet16[24] <= %u)",
			       proto, r[i].lo, r[i].hi);
	}
}

#define WD_ICMP_ERROR                                                        \
	"icmp and (icmp.Type == 3 or icmp.Type == 11 or icmp.Type == 12)"

/* The ICMP the engine needs (engine.c: inbound ICMP) for mappings, on
 * every external address, and nothing the host needs for itself:
 * - echo replies whose identifier the NAT handed out: live mode maps
 *   identifiers from port_range only (no preservation, cmd_run.c), so the
 *   host's own pings from the NAT address keep working. icmp.Body is the
 *   identifier and sequence number as one 32-bit number.
 * - errors (destination unreachable, time exceeded, parameter problem,
 *   RFC 5508) quoting a packet the NAT sent from a mapping: its source
 *   port (TCP/UDP, bytes 0-1 of the quoted transport header) or echo
 *   identifier (ICMP, bytes 4-5) is in port_range. The quote is read at
 *   fixed offsets (packet[N] is byte N, packet16[N] the 16-bit word at
 *   byte 2N), right for a 20-byte outer and quoted IP header; an error
 *   laid out otherwise is taken whole, and the engine passes what is not
 *   its own.
 * Echo requests to the host are never taken. */
static void add_icmp(struct fbuf *b, uint16_t lo, uint16_t hi)
{
	fb_add(b,
	       " or (icmp and icmp.Type == 0 and icmp.Body >= %lu and "
	       "icmp.Body <= %lu)",
	       (unsigned long)lo << 16, ((unsigned long)hi << 16) | 0xffff);
	fb_add(b,
	       " or (" WD_ICMP_ERROR " and (ip.HdrLength != 5 or "
	       "packet[28] != 69 or (packet[37] == 1 and packet16[26] >= %u "
	       "and packet16[26] <= %u) or (packet[37] != 1 and packet16[24] "
	       ">= %u and packet16[24] <= %u)))",
	       lo, hi, lo, hi);
}

/* The forwards, on nat_ip only (the engine forwards nothing on the snat
 * addresses): TCP/UDP to a forwarded port, and errors quoting a packet
 * sent from one (a forwarded flow's replies leave from it). */
static void add_forwards(struct fbuf *b, uint32_t nat_ip,
			 const struct prange *tcp, size_t n_tcp,
			 const struct prange *udp, size_t n_udp)
{
	bool first = true;
	char a[16];

	if (n_tcp + n_udp == 0)
		return;
	fb_add(b, " or (ip.DstAddr == %s and (", nat_ip_str(nat_ip, a));
	add_ports(b, "tcp", tcp, n_tcp, &first);
	add_ports(b, "udp", udp, n_udp, &first);
	fb_add(b,
	       " or (" WD_ICMP_ERROR " and ip.HdrLength == 5 and packet[28] "
	       "== 69 and (");
	first = true;
	add_quoted(b, 6, tcp, n_tcp, &first);
	add_quoted(b, 17, udp, n_udp, &first);
	fb_add(b, "))))");
}

int nat_wd_filter_inbound(const struct nat_config *cfg, char *buf, size_t len,
			  char *errbuf, size_t errlen)
{
	struct fbuf b = { buf, len, 0, len == 0 };
	uint32_t ext[NAT_EXT_ADDR_MAX];
	size_t n_ext = 0, n_tcp = 0, n_udp = 0;
	struct prange *tcp, *udp;
	uint16_t lo = cfg->port_range.lo, hi = cfg->port_range.hi;
	char a[16];
	int rc;

	if (len)
		buf[0] = '\0';
	ext[n_ext++] = cfg->nat_ip;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];
		bool seen = false;

		if (r->action != NAT_ACT_SNAT)
			continue;
		for (size_t k = 0; k < n_ext; k++)
			seen |= ext[k] == r->to_address;
		if (!seen && n_ext < NAT_EXT_ADDR_MAX)
			ext[n_ext++] = r->to_address;
	}
	/* Forwards on other addresses (external_ip); a forward's source
	 * and in_interface are the engine's to check (it drops with reason
	 * forward_source), so the filter takes every sender. */
	for (size_t i = 0; i < cfg->n_forwards; i++) {
		uint32_t x = cfg->forwards[i].ext_ip;
		bool seen = x == 0;
		for (size_t k = 0; k < n_ext; k++)
			seen |= ext[k] == x;
		if (!seen && n_ext < NAT_EXT_ADDR_MAX)
			ext[n_ext++] = x;
	}
	/* port_range plus one range per forward, per protocol. */
	tcp = calloc(cfg->n_forwards + 1, sizeof(*tcp));
	udp = calloc(cfg->n_forwards + 1, sizeof(*udp));
	if (!tcp || !udp) {
		free(tcp);
		free(udp);
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_forwards; i++) {
		const struct nat_forward_cfg *f = &cfg->forwards[i];
		struct prange r = { f->ext_port, f->ext_port };

		if (f->proto == 6)
			tcp[n_tcp++] = r;
		else if (f->proto == 17)
			udp[n_udp++] = r;
	}
	n_tcp = prange_merge(tcp, n_tcp);
	n_udp = prange_merge(udp, n_udp);

	/* No fragment term: at this layer WinDivert passes IPv4 fragments by
	 * and shows the datagram Windows reassembled from them (its inbound
	 * classify skips FWP_CONDITION_FLAG_IS_FRAGMENT), ports included. */
	fb_add(&b, "inbound and ip and ((");
	for (size_t k = 0; k < n_ext; k++)
		fb_add(&b, "%sip.DstAddr == %s", k ? " or " : "",
		       nat_ip_str(ext[k], a));
	fb_add(&b,
	       ") and ((tcp and tcp.DstPort >= %u and tcp.DstPort <= %u)"
	       " or (udp and udp.DstPort >= %u and udp.DstPort <= %u)",
	       lo, hi, lo, hi);
	add_icmp(&b, lo, hi);
	fb_add(&b, ")");
	add_forwards(&b, cfg->nat_ip, tcp, n_tcp, udp, n_udp);
	fb_add(&b, ")");
	free(tcp);
	free(udp);
	rc = fb_done(&b, "inbound", errbuf, errlen);
	return rc;
}

int nat_wd_check_config(const struct nat_config *cfg, char *errbuf,
			size_t errlen)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];

		if (r->action != NAT_ACT_MASQUERADE)
			continue;
		snprintf(errbuf, errlen,
			 "%s:%u: rule '%s': masquerade is not supported on "
			 "Windows: WinDivert does not tell glassnat the "
			 "interface a packet leaves by, so the interface's "
			 "address cannot be followed; use action: snat with "
			 "to_address set to that address, or action: nat "
			 "(nat_ip). See docs/windows.md",
			 cfg->path[0] ? cfg->path : "config", r->line, r->name);
		return -1;
	}
	return 0;
}
