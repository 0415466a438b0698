/* IPv4 parsing, in-place rewriting and checksums: the per-packet hot path.
 *
 * Every field is read with memcpy + ntohs/ntohl after one length check per
 * header; nothing allocates, nothing divides. Rewrites adjust checksums
 * incrementally (RFC 1624 eqn. 3), so they need only the bytes they touch
 * and stay right on first fragments and truncated copies.
 *
 * Precondition of every nat_pkt_set_* function: *p was filled by
 * nat_pkt_parse() returning NAT_PARSE_OK and the bytes of p->buf[0..p->len)
 * are still there. The old values used for the checksum deltas are read
 * from the packet bytes, not from *p, so a delta always matches what it
 * replaces. */
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

enum {
	IP_HDR_MIN = 20,
	IP_OFF_TOTAL = 2,
	IP_OFF_FRAG = 6,
	IP_OFF_PROTO = 9,
	IP_OFF_CSUM = 10,
	IP_OFF_SRC = 12,
	IP_OFF_DST = 16,
	IP_FRAG_MF = 0x2000,
	IP_FRAG_OFFSET = 0x1fff,

	TCP_HDR_MIN = 20,
	TCP_OFF_DOFF = 12,
	TCP_OFF_FLAGS = 13,
	TCP_OFF_CSUM = 16,

	UDP_HDR_LEN = 8,
	UDP_OFF_LEN = 4,
	UDP_OFF_CSUM = 6,

	ICMP_HDR_LEN = 8,
	ICMP_OFF_CSUM = 2,
	ICMP_OFF_ID = 4,

	ICMP_ECHO_REPLY = 0,
	ICMP_DEST_UNREACH = 3,
	ICMP_ECHO_REQUEST = 8,
	ICMP_TIME_EXCEEDED = 11,
	ICMP_PARAM_PROBLEM = 12,

	/* An ICMP error quotes an IP header plus at least this much L4. */
	INNER_L4_MIN = 8,
};

static inline uint16_t rd16(const uint8_t *b)
{
	uint16_t v;

	memcpy(&v, b, sizeof(v));
	return ntohs(v);
}

static inline uint32_t rd32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, sizeof(v));
	return ntohl(v);
}

static inline void wr16(uint8_t *b, uint16_t v)
{
	v = htons(v);
	memcpy(b, &v, sizeof(v));
}

static inline void wr32(uint8_t *b, uint32_t v)
{
	v = htonl(v);
	memcpy(b, &v, sizeof(v));
}

/* ---- checksums ---------------------------------------------------------
 *
 * A delta is the one's-complement sum of (~old + new) over every 16-bit
 * word that changed; several deltas add up in a uint32_t (a packet changes
 * at most a handful of words, far from overflow) and are folded once.
 *
 * csum_apply() is RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), and it returns
 * the representation a full computation would store. Why:
 *  - End-around-carry addition yields 0x0000 only when every addend is
 *    0x0000; otherwise it lands in 1..0xFFFF. A full computation over data
 *    that is not all zeros therefore sums to 1..0xFFFF and stores
 *    ~sum in 0x0000..0xFFFE: it never stores 0xFFFF, and stores 0x0000
 *    when the data sums to "negative zero" 0xFFFF.
 *  - Eqn. 3 keeps that property: its inner sum is 0 only when ~HC, every
 *    ~m and every m' are 0, i.e. the stored checksum was already 0xFFFF
 *    and a word changed from 0xFFFF to 0. (Eqn. 2 of RFC 1141,
 *    HC + m + ~m', is the one that produces 0xFFFF where 0x0000 is due:
 *    the bug RFC 1624 was written about.)
 *  - That single case starts from a checksum that is already the
 *    non-canonical 0xFFFF. We map a 0xFFFF result to 0x0000. That is right
 *    for every checksum whose covered data can never be all zeros: the IP
 *    header (version nibble 4), TCP and UDP (the pseudo-header carries the
 *    protocol number), an ICMP error (type 3, 11 or 12) and an echo
 *    request (type 8). So a TCP checksum never leaves here as 0xFFFF.
 *  - Two protocol rules sit on top: UDP stores a computed 0x0000 as
 *    0xFFFF (RFC 768: 0 means "no checksum"), and an ICMP message that
 *    may be all zeros (an echo reply with id 0, seq 0 and zero payload)
 *    needs 0xFFFF, which icmp_canon() restores after looking at the bytes.
 */
static inline uint32_t csum_delta16(uint16_t old_word, uint16_t new_word)
{
	return (uint32_t)(uint16_t)~old_word + new_word;
}

static inline uint32_t csum_delta32(uint32_t old_val, uint32_t new_val)
{
	return csum_delta16((uint16_t)(old_val >> 16), (uint16_t)(new_val >> 16)) +
	       csum_delta16((uint16_t)old_val, (uint16_t)new_val);
}

static inline uint16_t csum_apply(uint16_t csum, uint32_t delta)
{
	uint32_t s = (uint32_t)(uint16_t)~csum + delta;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	uint16_t r = (uint16_t)~s;
	return r == 0xffff ? 0 : r;
}

/* Applies delta to the checksum stored at field; returns the delta of the
 * checksum word itself, for an enclosing checksum that covers it. */
static inline uint32_t csum_replace(uint8_t *field, uint32_t delta)
{
	uint16_t old_c = rd16(field);
	uint16_t new_c = csum_apply(old_c, delta);

	wr16(field, new_c);
	return csum_delta16(old_c, new_c);
}

/* UDP flavour: a stored 0 means "no checksum" and stays; a computed 0 is
 * stored as 0xFFFF. */
static inline uint32_t csum_replace_udp(uint8_t *field, uint32_t delta)
{
	uint16_t old_c = rd16(field);

	if (old_c == 0)
		return 0;
	uint16_t new_c = csum_apply(old_c, delta);
	if (new_c == 0)
		new_c = 0xffff;
	wr16(field, new_c);
	return csum_delta16(old_c, new_c);
}

/* An ICMP checksum has no pseudo-header, so its message can be all zeros
 * (sum +0), and then 0xFFFF is the stored value, not 0x0000. Only called
 * with c == 0, which is rare (about 1 in 65536), so the scan costs nothing
 * on average. Judged on the n bytes present. */
static uint16_t icmp_canon_slow(const uint8_t *msg, size_t n)
{
	if (msg[0] | msg[1])
		return 0;
	for (size_t i = ICMP_OFF_ID; i < n; i++)
		if (msg[i])
			return 0;
	return 0xffff;
}

static inline uint16_t icmp_canon(uint16_t c, const uint8_t *msg, size_t n)
{
	return c != 0 ? c : icmp_canon_slow(msg, n);
}

uint16_t nat_csum_add(uint32_t initial, const uint8_t *data, size_t len)
{
	/* Sum native-order words and swap once at the end: the one's-complement
	 * sum is byte-order independent (RFC 1071 section 2 (B)). */
	uint64_t sum = 0;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, data, 8);
		sum += (w & 0xffffffffu) + (w >> 32);
		data += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, data, 4);
		sum += w;
		data += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, data, 2);
		sum += w;
		data += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the high byte of a word padded with zero. */
		uint8_t pad[2] = {data[0], 0};
		uint16_t w;
		memcpy(&w, pad, 2);
		sum += w;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);

	uint32_t s = (uint32_t)ntohs((uint16_t)sum) + (initial & 0xffff) +
		     (initial >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

uint16_t nat_csum_adjust16(uint16_t csum, uint16_t old_word, uint16_t new_word)
{
	return csum_apply(csum, csum_delta16(old_word, new_word));
}

uint16_t nat_csum_adjust32(uint16_t csum, uint32_t old_val, uint32_t new_val)
{
	return csum_apply(csum, csum_delta32(old_val, new_val));
}

/* ---- parsing ----------------------------------------------------------- */

static inline enum nat_parse_status parse_tcp(struct nat_pkt *p,
					      const uint8_t *l4)
{
	if (p->l4_len < TCP_HDR_MIN)
		return NAT_PARSE_BAD_L4;
	unsigned doff = (unsigned)(l4[TCP_OFF_DOFF] >> 4) * 4u;
	if (doff < TCP_HDR_MIN || doff > p->l4_len)
		return NAT_PARSE_BAD_L4;
	p->sport = rd16(l4);
	p->dport = rd16(l4 + 2);
	p->tcp_flags = l4[TCP_OFF_FLAGS];
	return NAT_PARSE_OK;
}

static inline enum nat_parse_status parse_udp(struct nat_pkt *p,
					      const uint8_t *l4)
{
	if (p->l4_len < UDP_HDR_LEN)
		return NAT_PARSE_BAD_L4;
	p->sport = rd16(l4);
	p->dport = rd16(l4 + 2);
	/* RFC 768: the length counts header and data, so at least 8, and the
	 * datagram lies within the IP payload (judged on the total length
	 * field, also for a truncated copy). A first fragment carries only
	 * the start: its length field may exceed its own payload. */
	uint16_t ulen = rd16(l4 + UDP_OFF_LEN);
	if (ulen < UDP_HDR_LEN ||
	    (!(p->flags & NAT_PKT_FRAG_MORE) && ulen > p->ip_total - p->ihl))
		p->flags |= NAT_PKT_UDP_LEN_BAD;
	return NAT_PARSE_OK;
}

/* The quoted datagram of an ICMP error, at l4 + 8. Kept out of line: it is
 * the cold path. */
static enum nat_parse_status parse_inner(struct nat_pkt *p)
{
	size_t off = (size_t)p->ihl + ICMP_HDR_LEN;
	size_t avail = p->len - off; /* >= 0: the ICMP header was checked */
	const uint8_t *ip = p->buf + off;

	if (avail < IP_HDR_MIN || (ip[0] >> 4) != 4)
		return NAT_PARSE_BAD_INNER;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4u;
	if (ihl < IP_HDR_MIN || ihl + INNER_L4_MIN > avail)
		return NAT_PARSE_BAD_INNER;
	/* A non-first fragment has no ports to translate back. */
	if (rd16(ip + IP_OFF_FRAG) & IP_FRAG_OFFSET)
		return NAT_PARSE_BAD_INNER;

	struct nat_inner *in = &p->inner;
	const uint8_t *l4 = ip + ihl;
	in->ip_off = (uint16_t)off;
	in->l4_off = (uint16_t)(off + ihl);
	in->l4_len = (uint16_t)(avail - ihl);
	in->proto = ip[IP_OFF_PROTO];
	in->src = rd32(ip + IP_OFF_SRC);
	in->dst = rd32(ip + IP_OFF_DST);
	switch (in->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		in->sport = rd16(l4);
		in->dport = rd16(l4 + 2);
		break;
	case IPPROTO_ICMP:
		in->icmp_type = l4[0];
		if (l4[0] == ICMP_ECHO_REQUEST)
			in->sport = rd16(l4 + ICMP_OFF_ID);
		else if (l4[0] == ICMP_ECHO_REPLY)
			in->dport = rd16(l4 + ICMP_OFF_ID);
		break;
	default:
		break;
	}
	p->flags |= NAT_PKT_ICMP_ERROR;
	/* RFC 5508 REQ-3: an ICMP error with a bad checksum is dropped. Only
	 * judged when the whole message is here. */
	if (!(p->flags & (NAT_PKT_TRUNCATED | NAT_PKT_FRAG_MORE)) &&
	    nat_csum_add(0, p->buf + p->ihl, p->l4_len) != 0xffff)
		p->flags |= NAT_PKT_ICMP_CSUM_BAD;
	return NAT_PARSE_OK;
}

static inline enum nat_parse_status parse_icmp(struct nat_pkt *p,
					       const uint8_t *l4)
{
	if (p->l4_len < ICMP_HDR_LEN)
		return NAT_PARSE_BAD_L4;
	p->icmp_type = l4[0];
	p->icmp_code = l4[1];
	switch (l4[0]) {
	case ICMP_ECHO_REQUEST:
		p->flags |= NAT_PKT_ICMP_QUERY;
		p->sport = rd16(l4 + ICMP_OFF_ID);
		return NAT_PARSE_OK;
	case ICMP_ECHO_REPLY:
		p->flags |= NAT_PKT_ICMP_QUERY;
		p->dport = rd16(l4 + ICMP_OFF_ID);
		return NAT_PARSE_OK;
	case ICMP_DEST_UNREACH:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAM_PROBLEM:
		return parse_inner(p);
	default:
		return NAT_PARSE_OK;
	}
}

enum nat_parse_status nat_pkt_parse(struct nat_pkt *p, uint8_t *buf,
				    size_t len)
{
	*p = (struct nat_pkt){.buf = buf, .len = len};
	if (len == 0)
		return NAT_PARSE_BAD_IP;
	unsigned version = buf[0] >> 4;
	if (version == 6)
		return NAT_PARSE_IPV6;
	if (version != 4 || len < IP_HDR_MIN)
		return NAT_PARSE_BAD_IP;

	p->proto = buf[IP_OFF_PROTO];
	p->src = rd32(buf + IP_OFF_SRC);
	p->dst = rd32(buf + IP_OFF_DST);
	size_t ihl = (size_t)(buf[0] & 0x0f) * 4u;
	uint16_t total = rd16(buf + IP_OFF_TOTAL);
	if (ihl < IP_HDR_MIN || ihl > len || total < ihl)
		return NAT_PARSE_BAD_IP;
	p->ihl = (uint16_t)ihl;
	p->ip_total = total;
	/* Bytes past the total length are link-layer padding; fewer bytes than
	 * the total length is a truncated capture, parsed as far as it goes. */
	if (len >= total)
		len = total;
	else
		p->flags |= NAT_PKT_TRUNCATED;
	p->len = len;

	uint16_t frag = rd16(buf + IP_OFF_FRAG);
	if (frag & IP_FRAG_MF)
		p->flags |= NAT_PKT_FRAG_MORE;
	if (frag & IP_FRAG_OFFSET) {
		p->flags |= NAT_PKT_FRAG_LATER;
		return NAT_PARSE_OK;
	}

	/* len <= 65535 here: trimmed to total, or below it. */
	p->l4_len = (uint16_t)(len - ihl);
	const uint8_t *l4 = buf + ihl;
	switch (p->proto) {
	case IPPROTO_TCP:
		return parse_tcp(p, l4);
	case IPPROTO_UDP:
		return parse_udp(p, l4);
	case IPPROTO_ICMP:
		return parse_icmp(p, l4);
	default:
		return NAT_PARSE_OK;
	}
}

/* ---- rewriting ---------------------------------------------------------- */

/* is_src is a constant at each call site, so each inlined copy keeps only
 * its own branch. */
static inline void pkt_rewrite(struct nat_pkt *p, uint32_t addr, uint16_t port,
			       bool is_src)
{
	uint8_t *b = p->buf;
	uint8_t *a = b + (is_src ? IP_OFF_SRC : IP_OFF_DST);
	uint32_t d = csum_delta32(rd32(a), addr);

	wr32(a, addr);
	csum_replace(b + IP_OFF_CSUM, d);
	if (is_src)
		p->src = addr;
	else
		p->dst = addr;
	if (p->flags & NAT_PKT_FRAG_LATER)
		return;

	uint8_t *l4 = b + p->ihl;
	uint8_t *pp = l4 + (is_src ? 0 : 2);
	uint16_t *pport = is_src ? &p->sport : &p->dport;
	switch (p->proto) {
	case IPPROTO_TCP:
		d += csum_delta16(rd16(pp), port);
		wr16(pp, port);
		csum_replace(l4 + TCP_OFF_CSUM, d);
		*pport = port;
		return;
	case IPPROTO_UDP:
		d += csum_delta16(rd16(pp), port);
		wr16(pp, port);
		csum_replace_udp(l4 + UDP_OFF_CSUM, d);
		*pport = port;
		return;
	case IPPROTO_ICMP: {
		/* Only the querier's side carries the id: the source of a
		 * request, the destination of a reply. ICMP has no
		 * pseudo-header, so the address change alone leaves its
		 * checksum as it is. */
		uint8_t want = is_src ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
		if (!(p->flags & NAT_PKT_ICMP_QUERY) || p->icmp_type != want)
			return;
		uint8_t *id = l4 + ICMP_OFF_ID;
		uint16_t c = csum_apply(rd16(l4 + ICMP_OFF_CSUM),
					csum_delta16(rd16(id), port));
		wr16(id, port);
		wr16(l4 + ICMP_OFF_CSUM, icmp_canon(c, l4, p->l4_len));
		*pport = port;
		return;
	}
	default:
		return;
	}
}

void nat_pkt_set_src(struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	pkt_rewrite(p, addr, port, true);
}

void nat_pkt_set_dst(struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	pkt_rewrite(p, addr, port, false);
}

/* RFC 5508 section 4.2: translate the quoted datagram back. Every word
 * changed inside the ICMP message (address, port or id, and each quoted
 * checksum) feeds the outer ICMP checksum's delta. All those words sit at
 * even offsets from the ICMP header (the quoted IP header starts 8 bytes
 * in and is a multiple of 4 long), so they line up with the outer sum. */
static inline void pkt_rewrite_inner(struct nat_pkt *p, uint32_t addr,
				     uint16_t port, bool is_src)
{
	if (!(p->flags & NAT_PKT_ICMP_ERROR))
		return;
	struct nat_inner *in = &p->inner;
	uint8_t *ip = p->buf + in->ip_off;
	uint8_t *l4 = p->buf + in->l4_off;
	uint8_t *a = ip + (is_src ? IP_OFF_SRC : IP_OFF_DST);
	uint8_t *pp = l4 + (is_src ? 0 : 2);
	uint16_t *pport = is_src ? &in->sport : &in->dport;
	uint32_t d_addr = csum_delta32(rd32(a), addr);
	uint32_t outer = d_addr;

	wr32(a, addr);
	outer += csum_replace(ip + IP_OFF_CSUM, d_addr);
	if (is_src)
		in->src = addr;
	else
		in->dst = addr;

	switch (in->proto) {
	case IPPROTO_TCP: {
		uint32_t d_port = csum_delta16(rd16(pp), port);
		wr16(pp, port);
		outer += d_port;
		/* Often not quoted: only 8 bytes of TCP are guaranteed. */
		if (in->l4_len >= TCP_OFF_CSUM + 2)
			outer += csum_replace(l4 + TCP_OFF_CSUM, d_addr + d_port);
		*pport = port;
		break;
	}
	case IPPROTO_UDP: {
		uint32_t d_port = csum_delta16(rd16(pp), port);
		wr16(pp, port);
		outer += d_port;
		outer += csum_replace_udp(l4 + UDP_OFF_CSUM, d_addr + d_port);
		*pport = port;
		break;
	}
	case IPPROTO_ICMP: {
		uint8_t want = is_src ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
		if (in->icmp_type != want)
			break;
		uint8_t *id = l4 + ICMP_OFF_ID;
		uint8_t *cf = l4 + ICMP_OFF_CSUM;
		uint16_t old_c = rd16(cf);
		uint32_t d_id = csum_delta16(rd16(id), port);
		wr16(id, port);
		uint16_t new_c =
			icmp_canon(csum_apply(old_c, d_id), l4, in->l4_len);
		wr16(cf, new_c);
		outer += d_id + csum_delta16(old_c, new_c);
		*pport = port;
		break;
	}
	default:
		break;
	}
	/* The outer type (3, 11, 12) is never 0, so csum_apply's canonical
	 * form is the right one here. */
	csum_replace(p->buf + p->ihl + ICMP_OFF_CSUM, outer);
}

void nat_pkt_set_inner_src(struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	pkt_rewrite_inner(p, addr, port, true);
}

void nat_pkt_set_inner_dst(struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	pkt_rewrite_inner(p, addr, port, false);
}

/* ---- full verification ------------------------------------------------- */

/* Pseudo-header (RFC 793 section 3.1, RFC 768) of the parsed packet, read
 * from the bytes, as a partial sum. */
static uint32_t pseudo_sum(const struct nat_pkt *p)
{
	uint32_t src = rd32(p->buf + IP_OFF_SRC);
	uint32_t dst = rd32(p->buf + IP_OFF_DST);

	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       p->proto + p->l4_len;
}

static inline bool l4_whole(const struct nat_pkt *p)
{
	return !(p->flags & (NAT_PKT_FRAG_LATER | NAT_PKT_FRAG_MORE |
			     NAT_PKT_TRUNCATED));
}

bool nat_pkt_ip_csum_ok(const struct nat_pkt *p)
{
	return nat_csum_add(0, p->buf, p->ihl) == 0xffff;
}

/* False as well for a protocol without a checksum known here. */
bool nat_pkt_l4_csum_ok(const struct nat_pkt *p)
{
	if (!l4_whole(p))
		return false;
	const uint8_t *l4 = p->buf + p->ihl;
	switch (p->proto) {
	case IPPROTO_TCP:
		return nat_csum_add(pseudo_sum(p), l4, p->l4_len) == 0xffff;
	case IPPROTO_UDP:
		if (rd16(l4 + UDP_OFF_CSUM) == 0)
			return true; /* sender computed none */
		return nat_csum_add(pseudo_sum(p), l4, p->l4_len) == 0xffff;
	case IPPROTO_ICMP:
		return nat_csum_add(0, l4, p->l4_len) == 0xffff;
	default:
		return false;
	}
}

/* The UDP length field is not consulted: the datagram is taken to fill the
 * IP payload, as for TCP. */
void nat_pkt_l4_csum_full(struct nat_pkt *p)
{
	if (!l4_whole(p))
		return;
	uint8_t *l4 = p->buf + p->ihl;
	uint16_t c;
	switch (p->proto) {
	case IPPROTO_TCP:
		wr16(l4 + TCP_OFF_CSUM, 0);
		c = (uint16_t)~nat_csum_add(pseudo_sum(p), l4, p->l4_len);
		wr16(l4 + TCP_OFF_CSUM, c);
		return;
	case IPPROTO_UDP:
		wr16(l4 + UDP_OFF_CSUM, 0);
		c = (uint16_t)~nat_csum_add(pseudo_sum(p), l4, p->l4_len);
		wr16(l4 + UDP_OFF_CSUM, c ? c : 0xffff);
		return;
	case IPPROTO_ICMP:
		wr16(l4 + ICMP_OFF_CSUM, 0);
		c = (uint16_t)~nat_csum_add(0, l4, p->l4_len);
		wr16(l4 + ICMP_OFF_CSUM, c);
		return;
	default:
		return;
	}
}

/* ---- addresses as text --------------------------------------------------- */

char *nat_ip_str(uint32_t addr, char *buf)
{
	char *o = buf;

	for (int shift = 24; shift >= 0; shift -= 8) {
		unsigned v = (addr >> shift) & 0xff;
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		if (shift)
			*o++ = '.';
	}
	*o = '\0';
	return buf;
}

/* Strict: exactly four decimal octets 0..255 joined by '.', nothing before
 * or after. A leading zero ("01") is refused: inet_aton would read it as
 * octal, so accepting it would make a config mean two things. */
bool nat_ip_parse(const char *s, uint32_t *out)
{
	uint32_t a = 0;

	if (!s)
		return false;
	for (int i = 0; i < 4; i++) {
		if (i > 0 && *s++ != '.')
			return false;
		const char *start = s;
		unsigned v = 0;
		while (*s >= '0' && *s <= '9') {
			if (s - start == 3)
				return false;
			v = v * 10 + (unsigned)(*s - '0');
			s++;
		}
		if (s == start || v > 255 || (s - start > 1 && *start == '0'))
			return false;
		a = a << 8 | v;
	}
	if (*s != '\0')
		return false;
	*out = a;
	return true;
}
