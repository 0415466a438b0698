/* Streaming zstd source (see capture_zstd.h).
 *
 * read() serves the output buffer; when it is empty, refill() runs
 * ZSTD_decompressStream() on the input buffer, topping the input up from
 * the inner source. ZSTD_decompressStream() returns 0 exactly when a frame
 * is complete, so "input ended while a frame was open" is the truncation
 * test. The frame's start offset is kept for the message. */
#include "capture_zstd.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

enum {
	IN_SIZE = 256 * 1024,
	OUT_SIZE = 1024 * 1024,
};

struct cap_zstd {
	struct cap_source inner;
	ZSTD_DCtx *dctx;
	uint8_t *in, *out;
	size_t in_pos, in_len;	 /* unread input: in[in_pos..in_len) */
	size_t out_pos, out_len; /* unread output */
	uint64_t in_base;	 /* compressed offset of in[0] */
	uint64_t frame_off;	 /* compressed offset of the open frame */
	bool in_frame;		 /* a frame has begun and not ended */
	bool eof;		 /* the inner source is exhausted */
	bool failed;
	char err[CAP_ERRBUF_SIZE];
};

__attribute__((format(printf, 2, 3))) static int zfail(struct cap_zstd *z,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(z->err, sizeof z->err, fmt, ap);
	va_end(ap);
	z->failed = true;
	return -1;
}

/* Makes output available. Returns 1 with out_len > 0, 0 at a clean end
 * (between frames), -1 on error (z->err). */
static int refill(struct cap_zstd *z)
{
	z->out_pos = z->out_len = 0;
	for (;;) {
		ZSTD_inBuffer ib;
		ZSTD_outBuffer ob;
		size_t ret, before;

		if (z->in_pos == z->in_len && !z->eof) {
			size_t got = 0;
			char msg[CAP_ERRBUF_SIZE] = "";
			z->in_base += z->in_len;
			z->in_pos = z->in_len = 0;
			if (z->inner.read(z->inner.ctx, z->in, IN_SIZE, &got,
					  msg, sizeof msg) < 0)
				return zfail(z, "%s", msg);
			if (got > IN_SIZE)
				got = IN_SIZE; /* a misbehaving source */
			z->in_len = got;
			if (got == 0)
				z->eof = true;
		}
		if (z->in_pos == z->in_len && z->eof && !z->in_frame)
			return 0;
		if (!z->in_frame)
			z->frame_off = z->in_base + z->in_pos;
		ib.src = z->in;
		ib.size = z->in_len;
		ib.pos = z->in_pos;
		ob.dst = z->out;
		ob.size = OUT_SIZE;
		ob.pos = 0;
		before = z->in_pos;
		ret = ZSTD_decompressStream(z->dctx, &ob, &ib);
		z->in_pos = ib.pos;
		if (ZSTD_isError(ret))
			return zfail(z,
				     "zstd frame at compressed offset %" PRIu64
				     ": %s",
				     z->frame_off, ZSTD_getErrorName(ret));
		z->in_frame = ret != 0;
		if (ob.pos > 0) {
			z->out_len = ob.pos;
			return 1;
		}
		if (z->in_pos == z->in_len && z->eof) {
			if (z->in_frame)
				return zfail(z,
					     "truncated zstd frame (frame at "
					     "compressed offset %" PRIu64
					     ", input ends at %" PRIu64
					     "): the file was cut short or "
					     "is still being written",
					     z->frame_off,
					     z->in_base + z->in_len);
			return 0;
		}
		if (z->in_pos == before && z->in_pos < z->in_len)
			return zfail(z,
				     "zstd made no progress at compressed "
				     "offset %" PRIu64,
				     z->in_base + z->in_pos);
	}
}

static int zread(void *ctx, void *buf, size_t n, size_t *got, char *errbuf,
		 size_t errlen)
{
	struct cap_zstd *z = ctx;
	uint8_t *dst = buf;
	size_t done = 0;

	while (done < n) {
		size_t k;
		if (z->out_pos == z->out_len) {
			int rc;
			if (z->failed)
				rc = -1;
			else
				rc = refill(z);
			if (rc < 0) {
				/* The bytes of this call belong to a block
				 * the cut left incomplete: report the cut. */
				snprintf(errbuf, errlen, "%s", z->err);
				*got = done;
				return -1;
			}
			if (rc == 0)
				break;
		}
		k = z->out_len - z->out_pos;
		if (k > n - done)
			k = n - done;
		memcpy(dst + done, z->out + z->out_pos, k);
		z->out_pos += k;
		done += k;
	}
	*got = done;
	return 0;
}

struct cap_zstd *cap_zstd_new(const struct cap_source *inner, char *errbuf,
			      size_t errlen)
{
	struct cap_zstd *z = calloc(1, sizeof *z);
	if (!z)
		goto oom;
	z->dctx = ZSTD_createDCtx();
	z->in = malloc(IN_SIZE);
	z->out = malloc(OUT_SIZE);
	if (!z->dctx || !z->in || !z->out)
		goto oom;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax,
						CAP_ZSTD_WINDOW_LOG_MAX))) {
		snprintf(errbuf, errlen, "zstd: cannot limit the window");
		cap_zstd_free(z);
		return NULL;
	}
	cap_zstd_reset(z, inner);
	return z;
oom:
	snprintf(errbuf, errlen, "out of memory for a zstd stream");
	cap_zstd_free(z);
	return NULL;
}

void cap_zstd_reset(struct cap_zstd *z, const struct cap_source *inner)
{
	z->inner = *inner;
	ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only);
	z->in_pos = z->in_len = z->out_pos = z->out_len = 0;
	z->in_base = z->frame_off = 0;
	z->in_frame = z->eof = z->failed = false;
	z->err[0] = '\0';
}

void cap_zstd_source(struct cap_zstd *z, struct cap_source *src)
{
	src->ctx = z;
	src->read = zread;
}

uint64_t cap_zstd_in_bytes(const struct cap_zstd *z)
{
	return z->in_base + z->in_pos;
}

void cap_zstd_free(struct cap_zstd *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	free(z->in);
	free(z->out);
	free(z);
}

bool cap_zstd_magic(const uint8_t *p, size_t n)
{
	uint32_t m;
	if (n < 4)
		return false;
	m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
	return m == ZSTD_MAGICNUMBER ||
	       (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}
