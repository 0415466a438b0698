/* pcapng writer: one Section Header Block, Interface Description Blocks
 * and Enhanced Packet Blocks, in the host's byte order.
 *
 * Each block is built whole in a buffer reserved by pcapng_w_open() and
 * handed to the sink in one call, so a sink that frames its output (a zstd
 * ring closing a frame every second) never sees half a block. Writing a
 * packet allocates nothing. Interfaces are written with if_tsresol 9
 * (nanoseconds) and snaplen 0; packets longer than PCAPNG_W_MAX_PACKET are
 * clipped (the original length is kept in the block). */
#ifndef GLASSNAT_PCAPNG_WRITE_H
#define GLASSNAT_PCAPNG_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcapng.h"

enum {
	PCAPNG_W_MAX_PACKET = 262144, /* bytes kept of one packet */
	PCAPNG_W_MAX_COMMENT = 1024,  /* bytes kept of a comment */
	PCAPNG_W_MAX_NAME = 256,      /* bytes kept of an interface name */
};

/* EPB direction flags (epb_flags bits 0-1, pcapng.h). */
enum {
	PCAPNG_W_DIR_NONE = PCAPNG_EPB_DIR_NONE,
	PCAPNG_W_DIR_IN = PCAPNG_EPB_DIR_INBOUND,
	PCAPNG_W_DIR_OUT = PCAPNG_EPB_DIR_OUTBOUND,
};

/* Takes one whole block. Returns 0, or -1 with a message in errbuf. */
typedef int (*pcapng_w_sink_fn)(void *ctx, const void *buf, size_t len,
				char *errbuf, size_t errlen);

/* A sink writing to a FILE * (ctx); errors name errno. */
int pcapng_w_file_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		       size_t errlen);

struct pcapng_w;

/* One piece of a block handed to a gather sink. */
struct pcapng_w_piece {
	const void *p;
	size_t len;
};

/* Takes one whole block in n pieces, in order, in one call. Returns 0, or
 * -1 with a message in errbuf. */
typedef int (*pcapng_w_gather_fn)(void *ctx, const struct pcapng_w_piece *v,
				  size_t n, char *errbuf, size_t errlen);

/* From now on pcapng_w_packet hands each EPB to fn (with the sink's ctx)
 * in pieces: the fixed fields, the packet bytes where the caller keeps
 * them (not copied), its padding, and the options and trailer; so a
 * sink that copies anyway (a compressor) saves one copy of every packet.
 * Other blocks still go to the sink. NULL restores the sink. */
void pcapng_w_set_gather(struct pcapng_w *w, pcapng_w_gather_fn fn);

/* Reserves the block buffer and writes the SHB (shb_userappl "glassnat").
 * Returns NULL with a message in errbuf on failure. */
struct pcapng_w *pcapng_w_open(pcapng_w_sink_fn sink, void *ctx, char *errbuf,
			       size_t errlen)
	__attribute__((warn_unused_result));

/* The same writing to f (not closed by pcapng_w_close). */
struct pcapng_w *pcapng_w_open_file(FILE *f, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes an IDB; interfaces are numbered from 0 in the order written.
 * Returns the interface id, or -1 (errbuf). */
int pcapng_w_interface(struct pcapng_w *w, const char *name, uint16_t linktype,
		       char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes one EPB on interface if_id: timestamp in ns since the epoch,
 * caplen bytes of data (orig_len on the wire), epb_flags when dir_flags
 * is not 0, opt_comment when comment is not NULL. Returns 0 or -1. */
int pcapng_w_packet(struct pcapng_w *w, uint32_t if_id, uint64_t ts_ns,
		    const uint8_t *data, size_t caplen, size_t orig_len,
		    uint32_t dir_flags, const char *comment, char *errbuf,
		    size_t errlen) __attribute__((warn_unused_result));

/* Bytes handed to the sink so far. */
uint64_t pcapng_w_bytes(const struct pcapng_w *w);

/* Frees the writer (the sink is not flushed or closed). */
/* Writes an Interface Statistics Block for interface if_id at ts_ns
 * (which is also its isb_endtime) with isb_ifdrop = ifdrop: the packets
 * the capture lost "for lack of resources" (Wireshark shows it in the
 * capture file properties; natdump stats reports it). */
int pcapng_w_isb(struct pcapng_w *w, uint32_t if_id, uint64_t ts_ns,
		 uint64_t ifdrop, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

void pcapng_w_close(struct pcapng_w *w);

#endif
