/* Link-layer decapsulation (see linktype.h). Each link type maps to one
 * framing in the table; the framing says how to find the network-layer
 * header and how to tell what it is. Fields are read with memcpy and
 * ntohs/ntohl after a length check. */
#include "linktype.h"

#include <arpa/inet.h>
#include <string.h>

enum framing {
	F_BY_VERSION, /* raw IP: the version nibble decides */
	F_IPV4,	      /* raw IPv4 by the link type's promise */
	F_IPV6,
	F_ETHERNET, /* 14 bytes, optional 802.1Q / 802.1ad tags */
	F_SLL,	    /* Linux cooked v1: 16 bytes, protocol at 14 */
	F_SLL2,	    /* Linux cooked v2: 20 bytes, protocol at 0 */
	F_BSD_LOOP, /* 4-byte address family */
};

static const struct link {
	uint32_t linktype;
	const char *name;
	enum framing framing;
} links[] = {
	{TRACE_LT_NULL, "NULL", F_BSD_LOOP},
	{TRACE_LT_ETHERNET, "ETHERNET", F_ETHERNET},
	{TRACE_LT_DLT_RAW12, "RAW", F_BY_VERSION},
	{TRACE_LT_DLT_RAW14, "RAW", F_BY_VERSION},
	{TRACE_LT_RAW, "RAW", F_BY_VERSION},
	{TRACE_LT_LOOP, "LOOP", F_BSD_LOOP},
	{TRACE_LT_LINUX_SLL, "LINUX_SLL", F_SLL},
	{TRACE_LT_IPV4, "IPV4", F_IPV4},
	{TRACE_LT_IPV6, "IPV6", F_IPV6},
	{TRACE_LT_LINUX_SLL2, "LINUX_SLL2", F_SLL2},
};

enum {
	ETH_HDR = 14,
	ETH_TYPE_AT = 12,
	VLAN_TAG = 4,
	SLL_HDR = 16,
	SLL_PROTO_AT = 14,
	SLL2_HDR = 20,
	SLL2_PROTO_AT = 0,
	LOOP_HDR = 4,
	ETHERTYPE_IPV4 = 0x0800,
	ETHERTYPE_IPV6 = 0x86DD,
	ETHERTYPE_VLAN = 0x8100,
	ETHERTYPE_QINQ = 0x88A8,
	ETHERTYPE_QINQ_OLD = 0x9100, /* pre-802.1ad QinQ */
};

static const struct link *find(uint32_t linktype)
{
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (links[i].linktype == linktype)
			return &links[i];
	return NULL;
}

static uint16_t rd16be(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return ntohs(v);
}

static uint32_t rd32be(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return ntohl(v);
}

static enum trace_l3 by_version(const uint8_t *p, size_t len)
{
	if (len < 1)
		return TRACE_L3_NOT_IP;
	switch (p[0] >> 4) {
	case 4:
		return TRACE_L3_IPV4;
	case 6:
		return TRACE_L3_IPV6;
	default:
		return TRACE_L3_NOT_IP;
	}
}

static enum trace_l3 by_ethertype(uint16_t et)
{
	if (et == ETHERTYPE_IPV4)
		return TRACE_L3_IPV4;
	if (et == ETHERTYPE_IPV6)
		return TRACE_L3_IPV6;
	return TRACE_L3_NOT_IP;
}

/* BSD loopback: the address family in the capturing host's byte order
 * (NULL) or network order (LOOP), so both are tried; AF_INET is 2
 * everywhere, AF_INET6 differs between systems (10, 24, 28, 30). */
static enum trace_l3 by_family(const uint8_t *p)
{
	uint32_t be = rd32be(p), le = __builtin_bswap32(be);
	if (be == 2 || le == 2)
		return TRACE_L3_IPV4;
	for (int i = 0; i < 2; i++) {
		uint32_t f = i ? le : be;
		if (f == 10 || f == 24 || f == 28 || f == 30)
			return TRACE_L3_IPV6;
	}
	return TRACE_L3_NOT_IP;
}

static enum trace_l3 ethernet(const uint8_t *p, size_t len, size_t *off)
{
	size_t o = ETH_TYPE_AT;
	int tags = 0;
	if (len < ETH_HDR)
		return TRACE_L3_NOT_IP;
	uint16_t et = rd16be(p + o);
	while (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ ||
	       et == ETHERTYPE_QINQ_OLD) {
		o += VLAN_TAG;
		if (++tags > TRACE_LINK_MAX_TAGS || len < o + 2)
			return TRACE_L3_NOT_IP;
		et = rd16be(p + o);
	}
	enum trace_l3 l3 = by_ethertype(et);
	if (l3 != TRACE_L3_NOT_IP)
		*off = o + 2;
	return l3;
}

/* A fixed header of hdr bytes with the ethertype at proto_at. */
static enum trace_l3 cooked(const uint8_t *p, size_t len, size_t hdr,
			    size_t proto_at, size_t *off)
{
	if (len < hdr)
		return TRACE_L3_NOT_IP;
	enum trace_l3 l3 = by_ethertype(rd16be(p + proto_at));
	if (l3 != TRACE_L3_NOT_IP)
		*off = hdr;
	return l3;
}

enum trace_l3 trace_link_decap(uint32_t linktype, const uint8_t *p, size_t len,
			       size_t *off)
{
	const struct link *l = find(linktype);
	enum trace_l3 l3;
	*off = 0;
	if (!l)
		return TRACE_L3_UNKNOWN_LINK;
	switch (l->framing) {
	case F_BY_VERSION:
		return by_version(p, len);
	case F_IPV4:
		return TRACE_L3_IPV4;
	case F_IPV6:
		return TRACE_L3_IPV6;
	case F_ETHERNET:
		return ethernet(p, len, off);
	case F_SLL:
		return cooked(p, len, SLL_HDR, SLL_PROTO_AT, off);
	case F_SLL2:
		return cooked(p, len, SLL2_HDR, SLL2_PROTO_AT, off);
	case F_BSD_LOOP:
		if (len < LOOP_HDR)
			return TRACE_L3_NOT_IP;
		l3 = by_family(p);
		if (l3 != TRACE_L3_NOT_IP)
			*off = LOOP_HDR;
		return l3;
	}
	return TRACE_L3_UNKNOWN_LINK;
}

const char *trace_link_name(uint32_t linktype)
{
	const struct link *l = find(linktype);
	return l ? l->name : NULL;
}
