/* Streaming reader for capture files: classic pcap (either byte order,
 * microsecond or nanosecond magic) and pcapng (either byte order, several
 * sections, interfaces with options, EPB, SPB, the obsolete Packet Block;
 * every other block type is skipped).
 *
 * The reader pulls bytes through a struct cap_source and never seeks, so a
 * pipe or a decompressing stream (zstd ring files) serves as well as a
 * file. Memory is bounded: one block buffer of at most CAP_MAX_BLOCK bytes
 * and at most CAP_MAX_IFACES interfaces per section; a length field beyond
 * those is an error, never an allocation.
 *
 * Errors are written into a caller-owned errbuf as "offset N: what is
 * wrong", N being the byte offset of the damaged block or record. A clean
 * end of input at a block boundary is end-of-file; input ending inside a
 * block is an error ("truncated block"). */
#ifndef GLASSNAT_CAPTURE_H
#define GLASSNAT_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcapng.h"

enum {
	CAP_MAX_BLOCK = 16u * 1024 * 1024, /* largest block / record accepted */
	CAP_MAX_IFACES = 4096,		   /* interfaces per pcapng section */
	CAP_MAX_STR = 256,		   /* kept bytes of a name or comment */
	CAP_ERRBUF_SIZE = 256,		   /* enough for every message */
};

/* A byte source. read() stores up to n bytes at buf and the count in *got;
 * fewer than n only at the end of the input. Returns 0, or -1 on an I/O
 * error (with a message in errbuf). */
struct cap_source {
	void *ctx;
	int (*read)(void *ctx, void *buf, size_t n, size_t *got, char *errbuf,
		    size_t errlen);
};

/* Reads from f (not closed by the reader). */
void cap_source_file(struct cap_source *src, FILE *f);

/* Reads from memory; *m is the source's state and must outlive it. */
struct cap_mem {
	const uint8_t *data;
	size_t len, pos;
};
void cap_source_mem(struct cap_source *src, struct cap_mem *m, const void *data,
		    size_t len);

enum cap_format { CAP_PCAP = 1, CAP_PCAPNG = 2 };

/* EPB flags (pcapng epb_flags), bits 0-1: direction. */
enum {
	CAP_DIR_MASK = PCAPNG_EPB_DIR_MASK,
	CAP_DIR_INBOUND = PCAPNG_EPB_DIR_INBOUND,
	CAP_DIR_OUTBOUND = PCAPNG_EPB_DIR_OUTBOUND,
};

/* cap_packet.has bits: which optional fields are present. */
enum {
	CAP_HAS_TS = 1u << 0,	     /* SPBs carry no timestamp */
	CAP_HAS_FLAGS = 1u << 1,     /* epb_flags */
	CAP_HAS_DROPCOUNT = 1u << 2, /* epb_dropcount, or the PB's drops */
	CAP_HAS_PACKETID = 1u << 3,  /* epb_packetid */
	CAP_HAS_QUEUE = 1u << 4,     /* epb_queue */
	CAP_HAS_HASH = 1u << 5,	     /* epb_hash (value not kept) */
	CAP_HAS_VERDICT = 1u << 6,   /* epb_verdict (value not kept) */
};

/* One packet. Every pointer is owned by the reader and valid until the
 * next cap_next() or cap_close(). */
struct cap_packet {
	const uint8_t *data;
	uint32_t caplen;     /* bytes at data */
	uint32_t len;	     /* length on the wire */
	uint64_t ts_ns;	     /* ns since the epoch, tsresol/tsoffset applied */
	uint32_t linktype;   /* low 16 bits of the link type */
	uint32_t ifindex;    /* interface id within its section (pcap: 0) */
	const char *if_name; /* if_name option, NULL when absent */
	const char *comment; /* first opt_comment, NULL when absent */
	uint32_t has;	     /* CAP_HAS_* */
	uint32_t flags;	     /* epb_flags (direction: CAP_DIR_*) */
	uint64_t dropcount, packetid;
	uint32_t queue;
	uint32_t section; /* pcapng section number, from 0 */
	uint64_t offset;  /* byte offset of the packet's block/record */
};

struct cap_reader;

/* Reads the file header (pcap) or the first Section Header Block
 * (pcapng). Returns NULL with a message in errbuf when the input is
 * empty ("offset 0: empty file"), not a capture, damaged, or memory is
 * short. src is copied; its ctx must outlive the reader. */
struct cap_reader *cap_open(const struct cap_source *src, char *errbuf,
			    size_t errlen) __attribute__((warn_unused_result));

/* Reads the next packet into *pkt, skipping non-packet blocks. Returns 1
 * for a packet, 0 at the end of the input, -1 on damage or I/O error
 * (errbuf). After -1 or 0, further calls return the same. */
int cap_next(struct cap_reader *r, struct cap_packet *pkt, char *errbuf,
	     size_t errlen) __attribute__((warn_unused_result));

enum cap_format cap_format(const struct cap_reader *r);

/* Interfaces defined in the current section (pcap: 1). */
uint32_t cap_iface_count(const struct cap_reader *r);

/* Packets the capture says it lost (isb_ifdrop of every interface of
 * every section read so far, the latest value of each). */
uint64_t cap_ifdrop(const struct cap_reader *r);

void cap_close(struct cap_reader *r);

#endif
