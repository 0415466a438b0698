/* The ring writer alone: each file one zstd frame, flushed by the caller
 * and by size so the open file decodes to its last flushed record, ended
 * (statistics block last) at rotation and close. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "capture.h"
#include "ring.h"

static char g_dir[64];

static void setup(void)
{
	snprintf(g_dir, sizeof g_dir, "/tmp/glassnat-ring-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(ring, .init = setup, .fini = teardown);

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	uint8_t *b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

struct decoded {
	unsigned packets;
	bool frame_ended;   /* the file is one complete frame */
	bool clean_end;	    /* the pcapng ends at a block boundary */
	bool ends_with_isb; /* last block is an ISB */
};

/* Decodes what the file on disk holds (a frame not ended: up to its last
 * complete zstd block) and reads it as pcapng. */
static struct decoded decode(const char *path)
{
	struct decoded d = { 0 };
	size_t n, cap = 1 << 20, o = 0;
	uint8_t *z = slurp(path, &n), *out = malloc(cap);
	size_t fs = ZSTD_findFrameCompressedSize(z, n);
	cr_assert(ZSTD_isError(fs) || fs == n,
		  "%s: more than one zstd frame (first %zu of %zu bytes)", path,
		  fs, n);
	d.frame_ended = !ZSTD_isError(fs);
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer in = { z, n, 0 };
	for (;;) {
		if (cap - o < ZSTD_DStreamOutSize())
			out = realloc(out, cap *= 2);
		ZSTD_outBuffer ob = { out + o, cap - o, 0 };
		size_t left = ZSTD_decompressStream(dc, &ob, &in);
		cr_assert(!ZSTD_isError(left), "%s: %s", path,
			  ZSTD_getErrorName(left));
		o += ob.pos;
		if (in.pos == in.size && ob.pos < ob.size)
			break;
	}
	ZSTD_freeDCtx(dc);
	/* walk the blocks: how many EPBs, is the last block whole */
	size_t off = 0;
	uint32_t type = 0, len;
	while (off + 12 <= o) {
		memcpy(&type, out + off, 4);
		memcpy(&len, out + off + 4, 4);
		if (len < 12 || off + len > o)
			break;
		d.packets += type == 6;
		off += len;
	}
	d.clean_end = off == o;
	d.ends_with_isb = d.clean_end && type == 5;
	free(z);
	free(out);
	return d;
}

static size_t list(char names[][320], size_t max)
{
	DIR *dir = opendir(g_dir);
	struct dirent *e;
	size_t n = 0;
	cr_assert_not_null(dir);
	while ((e = readdir(dir)) && n < max)
		if (strstr(e->d_name, ".pcapng.zst"))
			snprintf(names[n++], 320, "%s/%s", g_dir, e->d_name);
	closedir(dir);
	qsort(names, n, 320, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void put(struct trace_ring *r, unsigned i)
{
	uint8_t pkt[300];
	char err[256], c[80];
	/* half random payload, so zstd does not squeeze it to nothing */
	uint32_t x = 2463534242u ^ i;
	for (size_t k = 0; k < sizeof pkt; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pkt[k] = k % 2 ? (uint8_t)x : (uint8_t)k;
	}
	snprintf(c, sizeof c, "flow=%u stage=pre dir=out verdict=nat", i);
	cr_assert_eq(trace_ring_packet(r, TRACE_RING_IF_PRE, 1000ull * i, pkt,
				       sizeof pkt, sizeof pkt, 2, c, err,
				       sizeof err),
		     0, "%s", err);
	cr_assert_eq(trace_ring_rotate_due(r, err, sizeof err), 0, "%s", err);
}

Test(ring, flush_makes_the_open_file_decode_to_the_last_record)
{
	char err[256], names[4][320];
	struct trace_ring *r =
		trace_ring_open(g_dir, 64 << 20, 4, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	for (unsigned i = 0; i < 3; i++)
		put(r, i);
	cr_assert(trace_ring_pending(r));
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), 0, "%s", err);
	cr_assert(!trace_ring_pending(r));
	cr_assert_eq(list(names, 4), 1);
	struct decoded d = decode(names[0]);
	cr_assert(!d.frame_ended, "a flush must not end the frame");
	cr_assert_eq(d.packets, 3);
	cr_assert(d.clean_end, "the flush ended mid-record");
	put(r, 3);
	cr_assert_eq(trace_ring_close(r, err, sizeof err), 0, "%s", err);
	d = decode(names[0]);
	cr_assert(d.frame_ended, "close did not end the frame");
	cr_assert_eq(d.packets, 4);
	cr_assert(d.ends_with_isb, "the file does not end with its ISB");
}

Test(ring, size_threshold_flushes_between_records)
{
	char err[256], names[4][320];
	struct trace_ring_stats st;
	struct trace_ring *r =
		trace_ring_open(g_dir, 64 << 20, 4, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(list(names, 4), 1);
	/* ~2.4 MB of pcapng, never flushed by the caller */
	unsigned checked = 0;
	uint64_t flushes = 0;
	for (unsigned i = 0; i < 6000; i++) {
		put(r, i);
		trace_ring_stats(r, &st);
		if (st.flushes == flushes)
			continue;
		flushes = st.flushes;
		/* just flushed by size: everything so far decodes */
		struct decoded d = decode(names[0]);
		cr_assert(!d.frame_ended);
		cr_assert_eq(d.packets, i + 1, "flush %llu: %u of %u packets",
			     (unsigned long long)flushes, d.packets, i + 1);
		cr_assert(d.clean_end);
		checked++;
	}
	/* one flush per TRACE_RING_FLUSH_BYTES of ~400-byte records */
	cr_assert_geq(checked, 6000u * 380 / TRACE_RING_FLUSH_BYTES - 1,
		      "%u size flushes", checked);
	cr_assert_leq(checked, 6000u * 420 / TRACE_RING_FLUSH_BYTES + 1,
		      "%u size flushes", checked);
	cr_assert_eq(trace_ring_close(r, err, sizeof err), 0, "%s", err);
	struct decoded d = decode(names[0]);
	cr_assert(d.frame_ended);
	cr_assert_eq(d.packets, 6000);
}

Test(ring, rotation_ends_each_file_as_one_frame_with_its_isb)
{
	char err[256], names[16][320];
	struct trace_ring_stats st;
	struct trace_ring *r =
		trace_ring_open(g_dir, 64 << 10, 16, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	for (unsigned i = 0; i < 3000; i++) {
		put(r, i);
		if (i % 100 == 99)
			cr_assert_eq(trace_ring_flush(r, err, sizeof err), 0);
	}
	trace_ring_stats(r, &st);
	cr_assert_geq(st.files_opened, 3, "%llu files",
		      (unsigned long long)st.files_opened);
	cr_assert_eq(st.frames, st.files_opened - 1,
		     "one frame ended per rotated file");
	cr_assert_eq(trace_ring_close(r, err, sizeof err), 0, "%s", err);
	size_t n = list(names, 16);
	cr_assert_eq(n, st.files_opened);
	unsigned total = 0;
	for (size_t i = 0; i < n; i++) {
		struct decoded d = decode(names[i]);
		cr_assert(d.frame_ended, "%s: frame not ended", names[i]);
		cr_assert(d.ends_with_isb, "%s: no ISB last", names[i]);
		total += d.packets;
	}
	cr_assert_eq(total, 3000);
}
