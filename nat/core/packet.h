/* IPv4 packet parsing, validation, in-place rewriting and checksums.
 *
 * Packets are read through one bounds-checked view: nothing is read past
 * `len`, fields are decoded with memcpy + ntohs/ntohl, never by casting.
 * Rewrites update checksums incrementally (RFC 1624), so they are correct
 * on first fragments and on truncated copies, where the payload is missing.
 * All addresses and ports in struct nat_pkt are in host byte order. */
#ifndef GLASSNAT_PACKET_H
#define GLASSNAT_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nat_parse_status {
	NAT_PARSE_OK = 0,
	NAT_PARSE_IPV6,	     /* version 6: never parsed further */
	NAT_PARSE_BAD_IP,    /* not IPv4/6, bad IHL, total length, truncated header */
	NAT_PARSE_BAD_L4,    /* TCP/UDP/ICMP header truncated or inconsistent */
	NAT_PARSE_BAD_INNER, /* ICMP error whose embedded header is unusable */
};

/* pkt->flags */
enum {
	NAT_PKT_FRAG_LATER = 1u << 0, /* fragment offset > 0: no L4 header */
	NAT_PKT_FRAG_MORE = 1u << 1,  /* MF set (first fragment if not LATER) */
	NAT_PKT_ICMP_ERROR = 1u << 2, /* ICMP type 3, 11 or 12 with inner header */
	NAT_PKT_ICMP_QUERY = 1u << 3, /* ICMP echo request (8) or reply (0) */
	NAT_PKT_TRUNCATED = 1u << 4,  /* captured bytes < IP total length */
	/* Content errors the parser finds but does not refuse (the headers
	 * are usable, for natdump and traces); the engine drops on them. */
	NAT_PKT_UDP_LEN_BAD = 1u << 5,	 /* UDP length < 8, or past the IP
					    payload (not on a first fragment) */
	NAT_PKT_ICMP_CSUM_BAD = 1u << 6, /* ICMP error, whole message present,
					    checksum wrong (RFC 5508 REQ-3) */
};

/* The embedded datagram of an ICMP error (RFC 792; RFC 5508). Offsets are
 * from the start of the outer packet. l4_len may be as small as 8 bytes. */
struct nat_inner {
	uint16_t ip_off; /* offset of the embedded IPv4 header */
	uint16_t l4_off; /* offset of the embedded L4 header */
	uint16_t l4_len; /* embedded L4 bytes available in the packet */
	uint8_t proto;
	uint8_t icmp_type; /* when proto is ICMP: the embedded echo type */
	uint32_t src, dst;
	uint16_t sport, dport; /* ports; for embedded echo, see nat_pkt.sport */
};

struct nat_pkt {
	uint8_t *buf;	/* first byte of the IPv4 header; rewritten in place */
	size_t len;	/* bytes usable: min(captured, IP total length) */
	uint16_t ihl;	/* IP header length in bytes (20..60) */
	uint16_t l4_len; /* L4 bytes available (len - ihl); 0 for FRAG_LATER */
	uint16_t ip_total; /* IP total length field */
	uint8_t proto;
	uint8_t flags; /* NAT_PKT_* */
	uint32_t src, dst;
	/* TCP/UDP: the ports. ICMP echo: the identifier stands in for the
	 * querier's port, so a request has sport = id, dport = 0 and a reply
	 * has sport = 0, dport = id. A flow key is then the same shape for
	 * every protocol. */
	uint16_t sport, dport;
	uint8_t tcp_flags; /* TCP only */
	uint8_t icmp_type, icmp_code;
	struct nat_inner inner; /* valid when flags & NAT_PKT_ICMP_ERROR */
};

/* TCP flag bits as in the header. */
enum {
	NAT_TCP_FIN = 0x01,
	NAT_TCP_SYN = 0x02,
	NAT_TCP_RST = 0x04,
	NAT_TCP_PSH = 0x08,
	NAT_TCP_ACK = 0x10,
};

/* Parses buf[0..len) as an IPv4 packet into *p (p->buf = buf).
 * Checks, in order: version, IHL >= 5, header within len, total length >=
 * IHL and (when captured in full) trims len to it; then for first
 * fragments the L4 header (TCP: 20 bytes and data offset within bytes
 * available; UDP: 8; ICMP: 8) and, for ICMP errors (types 3, 11, 12), the
 * embedded IPv4 header plus at least 8 bytes of its L4 header.
 * Flags, without refusing the packet: a UDP length field below 8 or (when
 * the packet is not a first fragment) above the IP payload as
 * NAT_PKT_UDP_LEN_BAD; an ICMP error whose checksum is wrong over the whole
 * message as NAT_PKT_ICMP_CSUM_BAD (not judged on a truncated copy or a
 * first fragment, where the message is not all there).
 * Never reads past len. On failure *p is partly filled (src/dst/proto are
 * valid once the IP header passed). */
enum nat_parse_status nat_pkt_parse(struct nat_pkt *p, uint8_t *buf,
				    size_t len)
	__attribute__((warn_unused_result));

/* One's-complement sum of data (RFC 1071), folded to 16 bits, not
 * complemented; `initial` is added first (a partial sum, e.g. the
 * pseudo-header). Handles odd lengths. */
uint16_t nat_csum_add(uint32_t initial, const uint8_t *data, size_t len);

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changes from
 * old_word to new_word. `csum` and the result are as stored in the header
 * (network order values passed as host integers of the field). */
uint16_t nat_csum_adjust16(uint16_t csum, uint16_t old_word,
			   uint16_t new_word);
/* Same for a 32-bit value (an address): two words. */
uint16_t nat_csum_adjust32(uint16_t csum, uint32_t old_val, uint32_t new_val);

/* Rewrites the source (or destination) address and port of a packet that
 * nat_pkt_parse() accepted (NAT_PARSE_OK) and updates, incrementally: the
 * IP header checksum; the TCP checksum; the UDP checksum unless it is 0
 * (not used), never producing 0; for an ICMP echo the identifier (port)
 * and the ICMP checksum. The port is not touched on FRAG_LATER packets (no
 * L4 header), nor on ICMP other than the id-bearing side of an echo (the
 * source of a request, the destination of a reply): there the port
 * argument is ignored and p->sport/dport stay as parsed.
 * Updates p->src/sport (p->dst/dport) to the new values. */
void nat_pkt_set_src(struct nat_pkt *p, uint32_t addr, uint16_t port);
void nat_pkt_set_dst(struct nat_pkt *p, uint32_t addr, uint16_t port);

/* For an ICMP error: rewrites the embedded datagram's source (or
 * destination) address and port (or echo id), fixing the embedded IP
 * checksum, the embedded TCP/UDP/ICMP checksum when its field lies within
 * the bytes available, and the outer ICMP checksum for every word
 * changed. Updates p->inner. No-op unless p->flags has ICMP_ERROR. */
void nat_pkt_set_inner_src(struct nat_pkt *p, uint32_t addr, uint16_t port);
void nat_pkt_set_inner_dst(struct nat_pkt *p, uint32_t addr, uint16_t port);

/* Full verification helpers for tests and replay diagnostics: true when
 * the stored checksum is valid over the bytes present. L4 checks need
 * the whole datagram (not TRUNCATED, not a fragment). */
bool nat_pkt_ip_csum_ok(const struct nat_pkt *p);
bool nat_pkt_l4_csum_ok(const struct nat_pkt *p);

/* Recomputes the L4 checksum from scratch (TCP, UDP, ICMP) over the whole
 * datagram. Used by the live backend when the kernel hands over a packet
 * whose checksum was never filled in. No-op for fragments/truncated. */
void nat_pkt_l4_csum_full(struct nat_pkt *p);

/* Formats "a.b.c.d" into buf (>= 16 bytes); returns buf. */
char *nat_ip_str(uint32_t addr, char *buf);
/* Parses a dotted quad strictly (four decimal octets, no leading junk or
 * trailing bytes); returns false on error. */
bool nat_ip_parse(const char *s, uint32_t *out);

#endif
