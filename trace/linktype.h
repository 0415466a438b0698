/* Link-layer decapsulation: where the network-layer packet starts in a
 * captured frame, for every link type glassnat reads. The one table of
 * link types; replay and natdump both go through it, so they read a
 * capture the same way.
 *
 * Supported (tcpdump.org link-type numbers, low 16 bits): RAW (101, and
 * DLT_RAW as 12 or 14), IPV4 (228), IPV6 (229), ETHERNET (1) with up to
 * TRACE_LINK_MAX_TAGS 802.1Q / 802.1ad (QinQ) tags, LINUX_SLL (113),
 * LINUX_SLL2 (276), NULL (0) and LOOP (108). */
#ifndef GLASSNAT_TRACE_LINKTYPE_H
#define GLASSNAT_TRACE_LINKTYPE_H

#include <stddef.h>
#include <stdint.h>

enum {
	TRACE_LT_NULL = 0,
	TRACE_LT_ETHERNET = 1,
	TRACE_LT_DLT_RAW12 = 12, /* DLT_RAW as some writers store it */
	TRACE_LT_DLT_RAW14 = 14, /* the same, on other systems */
	TRACE_LT_RAW = 101,
	TRACE_LT_LOOP = 108,
	TRACE_LT_LINUX_SLL = 113,
	TRACE_LT_IPV4 = 228,
	TRACE_LT_IPV6 = 229,
	TRACE_LT_LINUX_SLL2 = 276,
	TRACE_LINK_MAX_TAGS = 8, /* VLAN tags skipped before giving up */
};

/* What a frame carries. */
enum trace_l3 {
	TRACE_L3_IPV4,
	TRACE_L3_IPV6,
	TRACE_L3_NOT_IP,       /* ARP, too short, unknown family ... */
	TRACE_L3_UNKNOWN_LINK, /* a link type not in the table */
};

/* Decapsulates the frame p[0..len) of the given link type: returns what
 * it carries and sets *off to the first byte of the network-layer packet
 * (0 unless IPv4 or IPv6). Reads nothing at or past p + len. RAW frames
 * are classified by their version nibble; IPV4 / IPV6 by the link type
 * alone, as the link type promises. */
enum trace_l3 trace_link_decap(uint32_t linktype, const uint8_t *p, size_t len,
			       size_t *off);

/* The link type's name ("ETHERNET", "LINUX_SLL2", ...), or NULL when the
 * table does not know it. */
const char *trace_link_name(uint32_t linktype);

#endif
