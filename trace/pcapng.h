/* pcapng numbers: block types, option codes and EPB flag bits, as
 * draft-ietf-opsawg-pcapng defines them. The one list the reader
 * (capture.c) and the writer (pcapng_write.c) share. */
#ifndef GLASSNAT_PCAPNG_H
#define GLASSNAT_PCAPNG_H

/* Block types. */
enum {
	PCAPNG_BT_IDB = 0x00000001u, /* Interface Description */
	PCAPNG_BT_PB = 0x00000002u,  /* Packet Block (obsolete) */
	PCAPNG_BT_SPB = 0x00000003u, /* Simple Packet */
	PCAPNG_BT_ISB = 0x00000005u, /* Interface Statistics */
	PCAPNG_BT_EPB = 0x00000006u, /* Enhanced Packet */
	PCAPNG_BT_SHB = 0x0A0D0D0Au, /* Section Header: same in both orders */
};

/* The SHB's byte-order magic, as written by a host of either order. */
enum { PCAPNG_BOM = 0x1A2B3C4Du };

/* Smallest total length of each block type: 12 bytes of framing (type,
 * length, trailing length) plus the fixed fields. */
enum {
	PCAPNG_MIN_BLOCK = 12,
	PCAPNG_MIN_SHB = 12 + 16,
	PCAPNG_MIN_IDB = 12 + 8,
	PCAPNG_MIN_EPB = 12 + 20,
	PCAPNG_MIN_SPB = 12 + 4,
	PCAPNG_MIN_PB = 12 + 20,
};

/* Option codes valid in every block. */
enum { PCAPNG_OPT_ENDOFOPT = 0, PCAPNG_OPT_COMMENT = 1 };

/* Section Header Block options. */
enum { PCAPNG_SHB_USERAPPL = 4 };

/* Interface Description Block options. */
enum { PCAPNG_IF_NAME = 2, PCAPNG_IF_TSRESOL = 9, PCAPNG_IF_TSOFFSET = 14 };

/* Enhanced Packet Block options. */
enum {
	PCAPNG_EPB_FLAGS = 2,
	PCAPNG_EPB_HASH = 3,
	PCAPNG_EPB_DROPCOUNT = 4,
	PCAPNG_EPB_PACKETID = 5,
	PCAPNG_EPB_QUEUE = 6,
	PCAPNG_EPB_VERDICT = 7,
};

/* Interface Statistics Block options. */
enum { PCAPNG_ISB_ENDTIME = 3, PCAPNG_ISB_IFDROP = 5 };

/* epb_flags bits 0-1: the direction. */
enum {
	PCAPNG_EPB_DIR_MASK = 0x3u,
	PCAPNG_EPB_DIR_NONE = 0x0u,
	PCAPNG_EPB_DIR_INBOUND = 0x1u,
	PCAPNG_EPB_DIR_OUTBOUND = 0x2u,
};

#endif
