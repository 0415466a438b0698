/* A streaming zstd byte source for the capture reader (capture.h).
 *
 * Wraps another struct cap_source and hands out the decompressed bytes of
 * a sequence of zstd frames: a ring file is one frame, flushed as it grew
 * (ring.h); ring files of earlier versions are concatenated complete
 * frames; skippable frames are skipped. Memory is fixed when created: one input
 * and one output buffer and one decompression context whose window is
 * capped at CAP_ZSTD_WINDOW_LOG_MAX, so a hostile frame header cannot make
 * it allocate more. Nothing is written to disk.
 *
 * Input that ends inside a frame (a ring file cut short, or still being
 * written) is an error, reported only after every byte decoded before the
 * cut (every complete zstd block) has been handed out:
 * "truncated zstd frame (frame at compressed offset F, input ends at E):
 * the file was cut short or is still being written". */
#ifndef GLASSNAT_CAPTURE_ZSTD_H
#define GLASSNAT_CAPTURE_ZSTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

enum {
	CAP_ZSTD_WINDOW_LOG_MAX = 27, /* 128 MB, zstd's own default limit */
};

struct cap_zstd;

/* Creates a decompressing source reading compressed bytes from *inner
 * (copied; its ctx must outlive the source). Returns NULL with a message
 * in errbuf when memory is short. */
struct cap_zstd *cap_zstd_new(const struct cap_source *inner, char *errbuf,
			      size_t errlen) __attribute__((warn_unused_result));

/* Starts over on a new input, keeping the buffers and the context. */
void cap_zstd_reset(struct cap_zstd *z, const struct cap_source *inner);

/* Fills *src so that the capture reader pulls decompressed bytes from z. */
void cap_zstd_source(struct cap_zstd *z, struct cap_source *src);

/* Compressed bytes consumed from the inner source so far. */
uint64_t cap_zstd_in_bytes(const struct cap_zstd *z);

void cap_zstd_free(struct cap_zstd *z);

/* True when the first bytes (n >= 4) start a zstd frame or a skippable
 * frame. */
bool cap_zstd_magic(const uint8_t *p, size_t n);

#endif
