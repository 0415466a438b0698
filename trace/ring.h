/* zstd-compressed pcapng ring files.
 *
 * Files are DIR/glassnat-<UTC YYYYmmddTHHMMSSZ>-<seq 6 digits>.pcapng.zst,
 * each a complete pcapng section (SHB, IDB 0 "pre-nat", IDB 1 "post-nat",
 * LINKTYPE_RAW, ns timestamps) stored as a sequence of complete zstd
 * frames. trace_ring_end_frame() closes the current frame; the caller
 * (the tracer's writer thread) does so at least once a second, and the
 * ring does on rotation and close, so a file cut short decodes up to its
 * last complete frame.
 *
 * A file is rotated at the first record boundary after its compressed size
 * on disk reaches file_size; it can exceed file_size by what zstd holds
 * back (at most one 128 KiB block of input, compressed) plus the frame
 * epilogue. At most `files` files exist at once: the oldest this ring
 * wrote is removed before a new one is created.
 *
 * One ZSTD_CCtx and one output buffer serve every file. I/O errors (disk
 * full, DIR removed) close the damaged file, are counted and kept as the
 * last error, and the next packet opens a new file (at most one attempt a
 * second). Single-threaded: the writer thread owns a ring. */
#ifndef GLASSNAT_TRACE_RING_H
#define GLASSNAT_TRACE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TRACE_RING_IF_PRE = 0,
	TRACE_RING_IF_POST = 1,
	TRACE_RING_LEVEL =
		1, /* zstd level: the cheapest of the standard ones */
};

struct trace_ring_stats {
	uint64_t files_opened;	/* files created */
	uint64_t files_removed; /* oldest removed to keep the count bound */
	uint64_t packets;	/* EPBs handed to zstd */
	uint64_t frames;	/* zstd frames completed */
	uint64_t bytes;		/* compressed bytes written, all files */
	uint64_t errors;	/* failed writes / opens */
};

struct trace_ring;

/* Creates dir (mode 0750) when missing and opens the first file, so an
 * unusable dir is reported here. Returns NULL with a message in errbuf. */
struct trace_ring *trace_ring_open(const char *dir, uint64_t file_size,
				   uint32_t files, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes one EPB on TRACE_RING_IF_PRE or _POST (see pcapng_w_packet).
 * Returns 0, or -1 (errbuf, counted) when the packet was not stored. */
int trace_ring_packet(struct trace_ring *r, uint32_t if_id, uint64_t ts_ns,
		      const uint8_t *data, size_t caplen, size_t orig_len,
		      uint32_t dir_flags, const char *comment, char *errbuf,
		      size_t errlen) __attribute__((warn_unused_result));

/* Rotates when the current file has reached file_size: ends its frame
 * and closes it; the next packet opens a new file. The caller calls it
 * between records, so a before/after pair never spans two files.
 * Returns 0 or -1 (errbuf, counted). */
int trace_ring_rotate_due(struct trace_ring *r, char *errbuf, size_t errlen);

/* The tracer's running total of records it could not write (queue full,
 * I/O errors). Each file ends with an Interface Statistics Block (on
 * pre-nat) whose isb_ifdrop is what was lost while it was current. */
void trace_ring_note_lost(struct trace_ring *r, uint64_t total);

/* True when data was written since the current frame began. */
bool trace_ring_pending(const struct trace_ring *r);

/* Ends the current zstd frame (ZSTD_e_end) and writes it out; a no-op
 * with nothing pending. Returns 0 or -1 (errbuf, counted). */
int trace_ring_end_frame(struct trace_ring *r, char *errbuf, size_t errlen);

/* Path of the file being written ("" when none is open). */
const char *trace_ring_path(const struct trace_ring *r);

/* Compressed bytes of the current file written so far. */
uint64_t trace_ring_file_bytes(const struct trace_ring *r);

void trace_ring_stats(const struct trace_ring *r, struct trace_ring_stats *st);

/* Ends the frame, closes the file, frees everything. Returns 0, or -1
 * when that last write failed (errbuf). */
int trace_ring_close(struct trace_ring *r, char *errbuf, size_t errlen);

#endif
