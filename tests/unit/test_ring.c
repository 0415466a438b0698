/* The ring writer alone: each file one zstd frame, flushed by the caller
 * and by size so the open file decodes to its last flushed record, ended
 * (statistics block last) at rotation and close. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
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

/* isb_ifdrop of the file's last block (an ISB), or -1 when it has none. */
static long long isb_ifdrop(const char *path)
{
	size_t n, cap = 4 << 20, o = 0;
	uint8_t *z = slurp(path, &n), *out = malloc(cap);
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer in = { z, n, 0 };
	for (;;) {
		ZSTD_outBuffer ob = { out + o, cap - o, 0 };
		size_t left = ZSTD_decompressStream(dc, &ob, &in);
		cr_assert(!ZSTD_isError(left), "%s", path);
		o += ob.pos;
		if (in.pos == in.size && ob.pos < ob.size)
			break;
	}
	ZSTD_freeDCtx(dc);
	long long drop = -1;
	size_t off = 0;
	uint32_t type, len;
	while (off + 12 <= o) {
		memcpy(&type, out + off, 4);
		memcpy(&len, out + off + 4, 4);
		if (len < 12 || off + len > o)
			break;
		drop = -1;
		/* ISB: if id, ts high, ts low, then options (code 5 ifdrop) */
		for (size_t p = off + 20; type == 5 && p + 4 <= off + len - 4;) {
			uint16_t code, olen;
			memcpy(&code, out + p, 2);
			memcpy(&olen, out + p + 2, 2);
			if (code == 0)
				break;
			if (code == 5 && olen == 8) {
				uint64_t v;
				memcpy(&v, out + p + 4, 8);
				drop = (long long)v;
			}
			p += 4 + (((size_t)olen + 3) & ~(size_t)3);
		}
		off += len;
	}
	free(z);
	free(out);
	return drop;
}

static void fsize_limit(rlim_t n)
{
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { n, RLIM_INFINITY };
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void put_nocheck(struct trace_ring *r, unsigned i, int *failures)
{
	uint8_t pkt[300] = { 0x45 };
	char err[256];
	pkt[4] = (uint8_t)i;
	if (trace_ring_packet(r, TRACE_RING_IF_PRE, 1000ull * i, pkt,
			      sizeof pkt, sizeof pkt, 2, "flow=1", err,
			      sizeof err) < 0)
		(*failures)++;
}

/* A full disk (the file size limit here): the file that holds data
 * stays, the packets not flushed are counted lost with it, a new file
 * that cannot get a byte is removed instead of the old one, and the next
 * completed file's statistics block records every loss. */
Test(ring, write_failure_keeps_data_and_next_file_records_the_losses)
{
	char err[256], names[8][320];
	int fails = 0;
	struct trace_ring_stats st;
	struct trace_ring *r = trace_ring_open(g_dir, 64 << 20, 1, err,
					       sizeof err);
	cr_assert_not_null(r, "%s", err);
	for (unsigned i = 0; i < 50; i++)
		put(r, i);
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(list(names, 8), 1);
	char first[320];
	snprintf(first, sizeof first, "%s", names[0]);

	fsize_limit(0);
	for (unsigned i = 0; i < 10; i++)
		put_nocheck(r, 50 + i, &fails);
	cr_assert_eq(fails, 0, "fed to zstd, not on disk yet");
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "File too large"), "%s", err);
	cr_assert_eq(trace_ring_take_discarded(r), 10);
	cr_assert_eq(trace_ring_take_discarded(r), 0, "taken once");
	sleep(1); /* one attempt a second */
	usleep(100000);
	put_nocheck(r, 60, &fails); /* opens a new file: fed, not written */
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), -1);
	cr_assert_eq(trace_ring_take_discarded(r), 1);
	trace_ring_stats(r, &st);
	cr_assert_eq(st.files_opened, 2);
	cr_assert_eq(st.files_removed, 0,
		     "a file with data removed for one that stayed empty");
	cr_assert_eq(list(names, 8), 1, "the empty file is not kept");
	cr_assert_str_eq(names[0], first);
	cr_assert_eq(decode(first).packets, 50, "what was flushed stays");

	fsize_limit(RLIM_INFINITY);
	trace_ring_note_lost(r, 11);
	sleep(1);
	usleep(100000);
	for (unsigned i = 0; i < 5; i++)
		put(r, 70 + i);
	cr_assert_eq(trace_ring_close(r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(list(names, 8), 1, "bound 1: the old file goes once "
					"the new one holds data");
	cr_assert_str_neq(names[0], first);
	struct decoded d = decode(names[0]);
	cr_assert_eq(d.packets, 5);
	cr_assert(d.ends_with_isb);
	cr_assert_eq(isb_ifdrop(names[0]), 11, "losses not recorded");
	DIR *dir = opendir(g_dir);
	struct dirent *e;
	while ((e = readdir(dir)))
		cr_assert_null(strstr(e->d_name, "reserve"),
			       "reserve left behind: %s", e->d_name);
	closedir(dir);
}

/* Losses that no completed file recorded get a file of their own at
 * close: no packets, its statistics block. */
Test(ring, close_records_unrecorded_losses_in_a_file_of_their_own)
{
	char err[256], names[8][320];
	int fails = 0;
	struct trace_ring *r = trace_ring_open(g_dir, 64 << 20, 4, err,
					       sizeof err);
	cr_assert_not_null(r, "%s", err);
	for (unsigned i = 0; i < 20; i++)
		put(r, i);
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), 0, "%s", err);
	fsize_limit(0);
	put_nocheck(r, 20, &fails);
	cr_assert_eq(trace_ring_flush(r, err, sizeof err), -1);
	fsize_limit(RLIM_INFINITY);
	cr_assert_eq(trace_ring_take_discarded(r), 1);
	trace_ring_note_lost(r, 7);
	cr_assert_eq(trace_ring_close(r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(list(names, 8), 2);
	cr_assert_eq(decode(names[0]).packets, 20);
	struct decoded d = decode(names[1]);
	cr_assert_eq(d.packets, 0);
	cr_assert(d.frame_ended && d.ends_with_isb);
	cr_assert_eq(isb_ifdrop(names[1]), 7);
}
