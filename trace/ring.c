/* zstd-compressed pcapng ring files (see ring.h).
 *
 * The pcapng writer hands whole blocks to ring_sink(), which streams them
 * through the one ZSTD_CCtx (ZSTD_e_continue) into the current file's one
 * frame. trace_ring_flush() (ZSTD_e_flush) is what makes the bytes on disk
 * decodable up to that point; end_file() ends the frame (ZSTD_e_end) at
 * rotation and close. ZSTD_e_flush ends the current zstd block, so each
 * flush costs a block header and some ratio: flushes come at most once a
 * second or every TRACE_RING_FLUSH_BYTES. */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "pcapng_write.h"

enum {
	LINKTYPE_RAW = 101,
	NAME_MAX_LEN = TRACE_RING_DIR_MAX + 64,
	SEQ_MOD = 1000000,
	OPEN_TRIES = 100, /* names taken by an earlier run in the same second */
	/* Bytes held in DIR/.glassnat-reserve-PID while the ring is open:
	 * released at close when losses are not recorded in a file yet, so a
	 * full disk still gets the file that records them (a few hundred
	 * bytes; tmpfs and most file systems allocate 4 KiB at a time). */
	RESERVE_BYTES = 64 * 1024,
};

#define RETRY_NS 1000000000ull /* between attempts to open a file */

struct trace_ring {
	char dir[TRACE_RING_DIR_MAX];
	uint64_t file_size;
	uint32_t files;

	ZSTD_CCtx *cctx;
	uint8_t *out; /* ZSTD_CStreamOutSize() bytes */
	size_t out_size;

	int fd; /* -1: no file open */
	struct pcapng_w *w;
	uint64_t file_bytes;
	uint64_t flushed_bytes; /* file_bytes at the last flush: decodable */
	uint64_t unflushed; /* pcapng bytes fed since the last flush */
	bool pending;	    /* unflushed > 0 */
	char path[NAME_MAX_LEN];

	/* Files this ring created and has not removed, oldest first
	 * (circular: first, n; room for files + 1: a new file counts only
	 * once it has bytes on disk, see make_room). */
	char (*names)[NAME_MAX_LEN];
	uint32_t first, n;
	char reserve[NAME_MAX_LEN]; /* "" when none is held */
	uint32_t seq;
	uint64_t retry_at;  /* CLOCK_MONOTONIC ns */
	char last_err[160]; /* why the last open failed */

	struct trace_ring_stats st;

	/* Records the tracer lost (its running total) and the part of it
	 * already recorded in a completed file: each file ends with an
	 * Interface Statistics Block whose isb_ifdrop is the difference, so
	 * losses while no file could be written go into the next file that
	 * is completed. */
	uint64_t lost_now, lost_recorded;
	uint64_t last_ts;
	/* EPBs fed to zstd since the last flush: lost with the file when a
	 * write fails before the next flush; and those not yet taken by
	 * trace_ring_take_discarded(). */
	uint64_t unflushed_pkts, discarded;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void make_room(struct trace_ring *r);

static int write_all(struct trace_ring *r, const uint8_t *p, size_t n,
		     char *errbuf, size_t errlen)
{
	bool had_bytes = r->file_bytes > 0;
	while (n) {
		ssize_t k = write(r->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			snprintf(errbuf, errlen, "%s: write: %s", r->path,
				 strerror(errno));
			return -1;
		}
		p += k;
		n -= (size_t)k;
		r->file_bytes += (uint64_t)k;
		r->st.bytes += (uint64_t)k;
	}
	if (!had_bytes && r->file_bytes)
		make_room(r);
	return 0;
}

/* Feeds len bytes to the frame (mode ZSTD_e_continue), flushes it
 * (ZSTD_e_flush) or ends it (ZSTD_e_end), writing whatever zstd produces.
 * zstd returns 0 when a flush or an end is complete. */
static int compress(struct trace_ring *r, const void *buf, size_t len,
		    ZSTD_EndDirective mode, char *errbuf, size_t errlen)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { r->out, r->out_size, 0 };
		size_t left = ZSTD_compressStream2(r->cctx, &out, &in, mode);
		if (ZSTD_isError(left)) {
			snprintf(errbuf, errlen, "%s: zstd: %s", r->path,
				 ZSTD_getErrorName(left));
			return -1;
		}
		if (out.pos &&
		    write_all(r, r->out, out.pos, errbuf, errlen) < 0)
			return -1;
		if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return 0;
	}
}

static int ring_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		     size_t errlen)
{
	struct trace_ring *r = ctx;
	if (r->fd < 0) {
		snprintf(errbuf, errlen, "no trace file open");
		return -1;
	}
	r->pending = true;
	r->unflushed += len;
	return compress(r, buf, len, ZSTD_e_continue, errbuf, errlen);
}

/* A packet block in pieces (pcapng_w_set_gather): zstd copies its input
 * into its window anyway, so the packet goes to it from the tracer's
 * queue, not through the pcapng writer's buffer first. The pieces are fed
 * back to back, with no flush between them. */
static int ring_gather(void *ctx, const struct pcapng_w_piece *v, size_t n,
		       char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].len && ring_sink(ctx, v[i].p, v[i].len, errbuf,
					  errlen) < 0)
			return -1;
	return 0;
}

/* Closes the current file as it is (after a failed write: what was
 * flushed stays readable, so it stays in the ring). */
static void drop_file(struct trace_ring *r)
{
	if (r->w)
		pcapng_w_close(r->w);
	r->w = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->pending = false;
	r->unflushed = 0;
	r->path[0] = '\0';
}

static void forget_newest(struct trace_ring *r)
{
	if (r->n)
		r->n--;
}

/* Removes the oldest files while more than `files` exist. Called when
 * the newest file gets its first bytes on disk, never before: a file
 * that holds data is not removed for one that may stay empty (a full
 * disk). A failed removal is left for the next call. */
static void make_room(struct trace_ring *r)
{
	while (r->n > r->files) {
		const char *old = r->names[r->first];
		if (unlink(old) < 0 && errno != ENOENT)
			return;
		r->st.files_removed++;
		r->first = (r->first + 1) % (r->files + 1);
		r->n--;
	}
}

static int open_file(struct trace_ring *r, char *errbuf, size_t errlen)
{
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	int fd = -1;
	for (int i = 0; i < OPEN_TRIES && fd < 0; i++) {
		r->seq = (r->seq + 1) % SEQ_MOD;
		snprintf(r->path, sizeof r->path,
			 "%s/glassnat-%s-%06u.pcapng.zst", r->dir, stamp,
			 r->seq);
		fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0640);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: create: %s", r->path,
			 strerror(errno));
		r->path[0] = '\0';
		return -1;
	}
	r->fd = fd;
	r->file_bytes = 0;
	r->flushed_bytes = 0;
	r->pending = false;
	r->unflushed = 0;
	snprintf(r->names[(r->first + r->n) % (r->files + 1)], NAME_MAX_LEN,
		 "%s", r->path);
	r->n++;
	r->st.files_opened++;

	size_t z = ZSTD_CCtx_reset(r->cctx, ZSTD_reset_session_only);
	if (ZSTD_isError(z)) {
		snprintf(errbuf, errlen, "zstd reset: %s",
			 ZSTD_getErrorName(z));
		goto fail;
	}
	r->w = pcapng_w_open(ring_sink, r, errbuf, errlen);
	if (!r->w)
		goto fail;
	pcapng_w_set_gather(r->w, ring_gather);
	if (pcapng_w_interface(r->w, "pre-nat", LINKTYPE_RAW, errbuf, errlen) !=
		    TRACE_RING_IF_PRE ||
	    pcapng_w_interface(r->w, "post-nat", LINKTYPE_RAW, errbuf,
			       errlen) != TRACE_RING_IF_POST)
		goto fail;
	return 0;
fail:
	/* Headers not written whole: the file is useless. */
	unlink(r->path);
	forget_newest(r);
	drop_file(r);
	return -1;
}

/* A write failed: the packets since the last flush are lost with the
 * file, which keeps what it held at its last flush (cut back to it: it
 * decodes to there) or, having never been flushed, is removed. The next
 * packet opens a new file, at most one attempt a second. */
static int io_failed(struct trace_ring *r)
{
	r->st.errors++;
	r->discarded += r->unflushed_pkts;
	r->unflushed_pkts = 0;
	if (r->fd >= 0 && r->flushed_bytes == 0) {
		unlink(r->path);
		forget_newest(r);
	} else if (r->fd >= 0 && r->file_bytes > r->flushed_bytes) {
		/* What follows the last flush is counted lost: cut it, so
		 * the file holds exactly what was counted written (and the
		 * room goes back to the disk). */
		if (ftruncate(r->fd, (off_t)r->flushed_bytes) < 0)
			r->st.errors++;
	}
	drop_file(r);
	r->retry_at = mono_ns() + RETRY_NS;
	return -1;
}

/* Takes RESERVE_BYTES of the disk in a hidden file (readers list only
 * capture names). Without room the ring simply holds no reserve. */
static void hold_reserve(struct trace_ring *r)
{
	static const uint8_t zero[4096];
	snprintf(r->reserve, sizeof r->reserve, "%s/.glassnat-reserve-%ld",
		 r->dir, (long)getpid());
	int fd = open(r->reserve, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0640);
	bool ok = fd >= 0;
	for (size_t n = 0; ok && n < RESERVE_BYTES; n += sizeof zero)
		ok = write(fd, zero, sizeof zero) == (ssize_t)sizeof zero;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok) {
		if (fd >= 0)
			unlink(r->reserve);
		r->reserve[0] = '\0';
	}
}

static void release_reserve(struct trace_ring *r)
{
	if (r->reserve[0])
		unlink(r->reserve);
	r->reserve[0] = '\0';
}

struct trace_ring *trace_ring_open(const char *dir, uint64_t file_size,
				   uint32_t files, char *errbuf, size_t errlen)
{
	if (!dir || !*dir || strlen(dir) >= TRACE_RING_DIR_MAX) {
		snprintf(errbuf, errlen, "trace dir: empty or too long");
		return NULL;
	}
	if (files == 0 || file_size == 0) {
		snprintf(errbuf, errlen,
			 "trace: files (%u) and file_size (%llu) must be > 0",
			 files, (unsigned long long)file_size);
		return NULL;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(errbuf, errlen, "%s: mkdir: %s", dir, strerror(errno));
		return NULL;
	}
	struct trace_ring *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	r->file_size = file_size;
	r->files = files;
	r->fd = -1;
	r->out_size = ZSTD_CStreamOutSize();
	r->out = malloc(r->out_size);
	r->names = calloc((size_t)files + 1, sizeof *r->names);
	r->cctx = ZSTD_createCCtx();
	if (!r->out || !r->names || !r->cctx) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	size_t z = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_compressionLevel,
					  TRACE_RING_LEVEL);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(z)) {
		snprintf(errbuf, errlen, "zstd: %s", ZSTD_getErrorName(z));
		goto fail;
	}
	if (open_file(r, errbuf, errlen) < 0)
		goto fail;
	hold_reserve(r);
	return r;
fail:
	ZSTD_freeCCtx(r->cctx);
	free(r->names);
	free(r->out);
	free(r);
	return NULL;
}

int trace_ring_flush(struct trace_ring *r, char *errbuf, size_t errlen)
{
	if (r->fd < 0 || !r->pending)
		return 0;
	if (compress(r, NULL, 0, ZSTD_e_flush, errbuf, errlen) < 0)
		return io_failed(r);
	r->pending = false;
	r->unflushed = 0;
	r->unflushed_pkts = 0;
	r->flushed_bytes = r->file_bytes;
	r->st.flushes++;
	return 0;
}

int trace_ring_packet(struct trace_ring *r, uint32_t if_id, uint64_t ts_ns,
		      const uint8_t *data, size_t caplen, size_t orig_len,
		      uint32_t dir_flags, const char *comment, char *errbuf,
		      size_t errlen)
{
	if (r->fd < 0) {
		if (mono_ns() < r->retry_at) {
			snprintf(errbuf, errlen,
				 "no trace file open (retrying every second); "
				 "last: %s",
				 r->last_err);
			r->st.errors++;
			return -1;
		}
		if (open_file(r, errbuf, errlen) < 0) {
			snprintf(r->last_err, sizeof r->last_err, "%s", errbuf);
			return io_failed(r);
		}
	}
	if (pcapng_w_packet(r->w, if_id, ts_ns, data, caplen, orig_len,
			    dir_flags, comment, errbuf, errlen) < 0)
		return io_failed(r);
	r->st.packets++;
	r->unflushed_pkts++;
	r->last_ts = ts_ns;
	return 0;
}

uint64_t trace_ring_take_discarded(struct trace_ring *r)
{
	uint64_t n = r->discarded;
	r->discarded = 0;
	return n;
}

void trace_ring_note_lost(struct trace_ring *r, uint64_t total)
{
	r->lost_now = total;
}

/* Completes the current file: its last block says what was lost while it
 * was the current file, then the frame ends. The file is closed either
 * way. */
static int end_file(struct trace_ring *r, char *errbuf, size_t errlen)
{
	if (r->fd < 0)
		return 0;
	uint64_t lost = r->lost_now;
	if (pcapng_w_isb(r->w, TRACE_RING_IF_PRE, r->last_ts,
			 lost - r->lost_recorded, errbuf, errlen) < 0 ||
	    compress(r, NULL, 0, ZSTD_e_end, errbuf, errlen) < 0)
		return io_failed(r);
	r->lost_recorded = lost;
	r->unflushed_pkts = 0;
	r->st.frames++;
	drop_file(r);
	return 0;
}

/* At close, losses no completed file records yet get a file of their
 * own (no packets, its statistics block), written in the room the
 * reserve held. */
static int record_losses(struct trace_ring *r, char *errbuf, size_t errlen)
{
	if (r->lost_now == r->lost_recorded)
		return 0;
	release_reserve(r);
	if (open_file(r, errbuf, errlen) < 0)
		return -1;
	return end_file(r, errbuf, errlen);
}

int trace_ring_rotate_due(struct trace_ring *r, char *errbuf, size_t errlen)
{
	if (r->fd < 0)
		return 0;
	/* The next packet opens the next file. */
	if (r->file_bytes >= r->file_size)
		return end_file(r, errbuf, errlen);
	if (r->unflushed >= TRACE_RING_FLUSH_BYTES)
		return trace_ring_flush(r, errbuf, errlen);
	return 0;
}

bool trace_ring_pending(const struct trace_ring *r)
{
	return r->fd >= 0 && r->pending;
}

const char *trace_ring_path(const struct trace_ring *r)
{
	return r->path;
}

uint64_t trace_ring_file_bytes(const struct trace_ring *r)
{
	return r->fd >= 0 ? r->file_bytes : 0;
}

void trace_ring_stats(const struct trace_ring *r, struct trace_ring_stats *st)
{
	*st = r->st;
}

int trace_ring_close(struct trace_ring *r, char *errbuf, size_t errlen)
{
	if (!r)
		return 0;
	int rc = end_file(r, errbuf, errlen);
	char err2[160];
	if (record_losses(r, rc < 0 ? err2 : errbuf,
			  rc < 0 ? sizeof err2 : errlen) < 0)
		rc = -1;
	release_reserve(r);
	ZSTD_freeCCtx(r->cctx);
	free(r->names);
	free(r->out);
	free(r);
	return rc;
}
