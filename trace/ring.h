/* zstd-compressed pcapng ring files.
 *
 * Files are DIR/glassnat-<UTC YYYYmmddTHHMMSSZ>-<seq 6 digits>.pcapng.zst,
 * each a complete pcapng section (SHB, IDB 0 "pre-nat", IDB 1 "post-nat",
 * LINKTYPE_RAW, ns timestamps, and last an Interface Statistics Block)
 * stored as ONE zstd frame: readers that stop after the first frame
 * (Wireshark 4.0) still read the whole file. The frame is flushed
 * (ZSTD_e_flush: the bytes on disk decode up to there) by
 * trace_ring_flush(), which the caller (the tracer's writer thread) calls
 * at least once a second, and by the ring itself between records once
 * TRACE_RING_FLUSH_BYTES of pcapng have been fed since the last flush. It
 * is ended (ZSTD_e_end, with its checksum) at rotation and close. A file
 * cut short (a crash, a copy of the file being written) decodes up to its
 * last flush, and further to its last complete zstd block.
 *
 * A file is rotated at the first record boundary after its compressed size
 * on disk reaches file_size; it can exceed file_size by what zstd holds
 * back (at most one 128 KiB block of input, compressed) plus the frame
 * epilogue. At most `files` files with data exist at once: the oldest
 * this ring wrote is removed when a new file gets its first bytes on
 * disk, never before, so a full disk never costs a file that holds data
 * (for a moment, with a new file still empty, there are files + 1).
 *
 * One ZSTD_CCtx (reset for each file) and one output buffer serve every
 * file. I/O errors (disk full, DIR removed) close the damaged file (cut
 * back to its last flush, so it decodes to there; removed when it was
 * never flushed), are counted and kept as the last error, and the next
 * packet opens a new file (at most one attempt a second). The packets fed
 * since the last flush are lost with the file (trace_ring_take_discarded).
 * Losses are recorded on disk: each completed file's statistics block
 * counts every loss not recorded by an earlier file, and at close losses
 * still unrecorded get a file of their own, written in 64 KiB the ring
 * holds in reserve (DIR/.glassnat-reserve-PID) from open to close, so a
 * disk that stayed full still says what was lost. Single-threaded: the
 * writer thread owns a ring. */
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
	/* pcapng bytes fed since the last flush that make the ring flush at
	 * the next record boundary: bounds what a cut file loses when
	 * packets come faster than one flush a second. */
	TRACE_RING_FLUSH_BYTES = 200 * 1024,
	/* Longest DIR accepted, with its NUL (the config's path limit). */
	TRACE_RING_DIR_MAX = 256,
};

struct trace_ring_stats {
	uint64_t files_opened;	/* files created */
	uint64_t files_removed; /* oldest removed to keep the count bound */
	uint64_t packets;	/* EPBs handed to zstd */
	uint64_t flushes;	/* ZSTD_e_flush done (timer or size) */
	uint64_t frames;	/* zstd frames ended: files completed */
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

/* Called between records (so a before/after pair never spans two files,
 * nor two flushes). Rotates when the current file has reached file_size:
 * writes its statistics block, ends its frame and closes it; the next
 * packet opens a new file. Otherwise flushes when TRACE_RING_FLUSH_BYTES
 * are pending. Returns 0 or -1 (errbuf, counted). */
int trace_ring_rotate_due(struct trace_ring *r, char *errbuf, size_t errlen);

/* The tracer's running total of records it could not write (queue full,
 * I/O errors). Each file ends with an Interface Statistics Block (on
 * pre-nat) whose isb_ifdrop is what was lost since the last completed
 * file recorded its losses. */
void trace_ring_note_lost(struct trace_ring *r, uint64_t total);

/* EPBs that trace_ring_packet() accepted but that were lost with a file
 * whose write failed before they were flushed, since the last call.
 * The caller moves them from written to failed. */
uint64_t trace_ring_take_discarded(struct trace_ring *r);

/* True when data was fed to zstd since the last flush. */
bool trace_ring_pending(const struct trace_ring *r);

/* Flushes the current frame (ZSTD_e_flush) and writes it out, so the file
 * on disk decodes up to the last record; the frame stays open. A no-op
 * with nothing pending. Returns 0 or -1 (errbuf, counted). */
int trace_ring_flush(struct trace_ring *r, char *errbuf, size_t errlen);

/* Path of the file being written ("" when none is open). */
const char *trace_ring_path(const struct trace_ring *r);

/* Compressed bytes of the current file written so far. */
uint64_t trace_ring_file_bytes(const struct trace_ring *r);

void trace_ring_stats(const struct trace_ring *r, struct trace_ring_stats *st);

/* Writes the statistics block, ends the frame, closes the file; when
 * losses are still unrecorded, writes a file that records them (see
 * above); frees everything. Returns 0, or -1 when a write failed
 * (errbuf). */
int trace_ring_close(struct trace_ring *r, char *errbuf, size_t errlen);

#endif
