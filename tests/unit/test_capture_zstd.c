/* The streaming zstd source under the capture reader: concatenated and
 * skippable frames (ring files of earlier versions), one frame flushed as
 * it grows (ring files now) cut anywhere, a frame cut in the middle,
 * garbage, and the pcapng reader reading through it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "capture.h"
#include "capture_zstd.h"
#include "pcapng_write.h"

struct mbuf {
	uint8_t *p;
	size_t len, cap;
};

static int mem_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		    size_t errlen)
{
	struct mbuf *m = ctx;
	(void)errbuf;
	(void)errlen;
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* A pcapng of n packets on interfaces pre-nat/post-nat. */
static struct mbuf make_pcapng(unsigned n, uint64_t t0)
{
	struct mbuf m = {0};
	char err[256], c[64];
	uint8_t pkt[120];
	struct pcapng_w *w = pcapng_w_open(mem_sink, &m, err, sizeof err);
	cr_assert(w);
	cr_assert_eq(pcapng_w_interface(w, "pre-nat", 101, err, sizeof err), 0);
	cr_assert_eq(pcapng_w_interface(w, "post-nat", 101, err, sizeof err), 1);
	for (unsigned i = 0; i < n; i++) {
		memset(pkt, (int)i, sizeof pkt);
		snprintf(c, sizeof c, "flow=%u stage=pre dir=out verdict=nat", i);
		cr_assert_eq(pcapng_w_packet(w, i & 1, t0 + i, pkt, sizeof pkt,
					     sizeof pkt, 2, c, err, sizeof err),
			     0);
	}
	pcapng_w_close(w);
	return m;
}

static struct mbuf compress(const struct mbuf *in, size_t off, size_t len)
{
	struct mbuf z = {0};
	z.cap = ZSTD_compressBound(len);
	z.p = malloc(z.cap);
	z.len = ZSTD_compress(z.p, z.cap, in->p + off, len, 1);
	cr_assert(!ZSTD_isError(z.len));
	return z;
}

static void append(struct mbuf *a, const void *p, size_t n)
{
	mem_sink(a, p, n, NULL, 0);
}

/* Reads everything; returns packets, sets *rc to the last cap_next. */
static unsigned read_all(const struct mbuf *z, int *rc, char *err,
			 uint64_t *first_ts)
{
	struct cap_source src;
	struct cap_mem m;
	struct cap_zstd *zs;
	struct cap_reader *r;
	struct cap_packet p;
	unsigned n = 0;
	cap_source_mem(&src, &m, z->p, z->len);
	cr_assert(cap_zstd_magic(z->p, z->len));
	zs = cap_zstd_new(&src, err, CAP_ERRBUF_SIZE);
	cr_assert(zs);
	cap_zstd_source(zs, &src);
	r = cap_open(&src, err, CAP_ERRBUF_SIZE);
	if (!r) {
		*rc = -2;
		cap_zstd_free(zs);
		return 0;
	}
	while ((*rc = cap_next(r, &p, err, CAP_ERRBUF_SIZE)) == 1) {
		if (n == 0 && first_ts)
			*first_ts = p.ts_ns;
		cr_assert_eq(p.caplen, 120);
		cr_assert_eq(p.data[0], (uint8_t)n, "packet %u intact", n);
		n++;
	}
	cap_close(r);
	cap_zstd_free(zs);
	return n;
}

Test(capture_zstd, one_frame_reads_every_packet)
{
	struct mbuf pc = make_pcapng(500, 1000), z = compress(&pc, 0, pc.len);
	char err[CAP_ERRBUF_SIZE];
	int rc;
	uint64_t t = 0;
	cr_assert_eq(read_all(&z, &rc, err, &t), 500);
	cr_assert_eq(rc, 0, "clean end: %s", err);
	cr_assert_eq(t, 1000);
	free(pc.p);
	free(z.p);
}

Test(capture_zstd, concatenated_and_skippable_frames_are_one_stream)
{
	struct mbuf pc = make_pcapng(300, 0), all = {0};
	/* split at a block boundary: the SHB and IDBs, then the EPBs */
	size_t cut = 0;
	uint32_t bl;
	for (int i = 0; i < 3 + 100; i++) {
		memcpy(&bl, pc.p + cut + 4, 4);
		cut += bl;
	}
	struct mbuf a = compress(&pc, 0, cut), b = compress(&pc, cut, pc.len - cut);
	static const uint8_t skip[] = {0x52, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3};
	char err[CAP_ERRBUF_SIZE];
	int rc;
	append(&all, a.p, a.len);
	append(&all, skip, sizeof skip);
	append(&all, b.p, b.len);
	cr_assert_eq(read_all(&all, &rc, err, NULL), 300);
	cr_assert_eq(rc, 0, "clean end: %s", err);
	free(pc.p);
	free(a.p);
	free(b.p);
	free(all.p);
}

Test(capture_zstd, frame_cut_in_the_middle_delivers_what_was_decoded)
{
	/* ~200 KB: more than one 128 KB zstd block, so the first block
	 * decodes before the cut */
	struct mbuf pc = make_pcapng(1200, 0), z = compress(&pc, 0, pc.len);
	char err[CAP_ERRBUF_SIZE];
	int rc;
	unsigned n;
	z.len = z.len * 3 / 4;
	n = read_all(&z, &rc, err, NULL);
	cr_assert_eq(rc, -1);
	cr_assert_gt(n, 0, "packets before the cut are delivered");
	cr_assert_lt(n, 1200);
	cr_assert(strstr(err, "truncated zstd frame") != NULL, "%s", err);
	cr_assert_eq(strncmp(err, "offset ", 7), 0, "%s", err);
	free(pc.p);
	free(z.p);
}

/* Offset just past each pcapng block of pc (SHB, IDBs, then one a packet). */
static size_t block_end(const struct mbuf *pc, unsigned blocks)
{
	size_t off = 0;
	uint32_t bl;
	for (unsigned i = 0; i < blocks; i++) {
		memcpy(&bl, pc->p + off + 4, 4);
		off += bl;
	}
	return off;
}

enum { FLUSH_EVERY = 40, RING_PKTS = 1600 };

/* One frame as the ring writes it: fed packet block by packet block,
 * flushed (ZSTD_e_flush) after every FLUSH_EVERY packets, ended after the
 * last. flushed_at[k] is the compressed size after flush k, which holds
 * (k + 1) * FLUSH_EVERY packets. */
static struct mbuf ring_frame(const struct mbuf *pc, size_t *flushed_at,
			      unsigned *n_flushes)
{
	struct mbuf z = {0};
	ZSTD_CCtx *c = ZSTD_createCCtx();
	uint8_t out[1 << 16];
	size_t from = 0;
	*n_flushes = 0;
	cr_assert(!ZSTD_isError(
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	for (unsigned k = 0; k <= RING_PKTS / FLUSH_EVERY; k++) {
		bool last = k == RING_PKTS / FLUSH_EVERY;
		size_t to = last ? pc->len : block_end(pc, 3 + (k + 1) * FLUSH_EVERY);
		ZSTD_inBuffer in = { pc->p + from, to - from, 0 };
		ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_flush;
		size_t left;
		do {
			ZSTD_outBuffer ob = { out, sizeof out, 0 };
			left = ZSTD_compressStream2(c, &ob, &in, mode);
			cr_assert(!ZSTD_isError(left));
			append(&z, out, ob.pos);
		} while (left);
		if (!last)
			flushed_at[(*n_flushes)++] = z.len;
		from = to;
	}
	ZSTD_freeCCtx(c);
	return z;
}

Test(capture_zstd, flushed_frame_cut_anywhere_delivers_every_flushed_packet)
{
	struct mbuf pc = make_pcapng(RING_PKTS, 0);
	size_t flushed_at[RING_PKTS / FLUSH_EVERY];
	unsigned nf;
	struct mbuf z = ring_frame(&pc, flushed_at, &nf);
	char err[CAP_ERRBUF_SIZE];
	int rc;
	cr_assert_eq(ZSTD_findFrameCompressedSize(z.p, z.len), z.len,
		     "one frame");
	cr_assert_eq(read_all(&z, &rc, err, NULL), RING_PKTS);
	cr_assert_eq(rc, 0, "whole frame: clean end: %s", err);

	size_t full = z.len;
	unsigned prev = 0;
	/* every odd offset step, and each flush point, one before and after */
	size_t cuts[4096];
	size_t nc = 0;
	for (size_t c = 20; c < full && nc < 2000; c += 61)
		cuts[nc++] = c;
	for (unsigned k = 0; k < nf; k++) {
		cuts[nc++] = flushed_at[k] - 1;
		cuts[nc++] = flushed_at[k];
		cuts[nc++] = flushed_at[k] + 1;
	}
	/* ascending, for the monotony check */
	for (size_t i = 1; i < nc; i++)
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];
			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	for (size_t i = 0; i < nc; i++) {
		unsigned flushed = 0;
		for (unsigned k = 0; k < nf; k++)
			if (flushed_at[k] <= cuts[i])
				flushed = (k + 1) * FLUSH_EVERY;
		z.len = cuts[i];
		unsigned n = read_all(&z, &rc, err, NULL);
		if (rc == -2) /* cut before the IDBs were flushed */
			cr_assert_eq(flushed, 0, "cut %zu: %s", cuts[i], err);
		else
			cr_assert_eq(rc, -1, "cut %zu: damage reported",
				     cuts[i]);
		cr_assert_geq(n, flushed,
			      "cut at %zu: %u packets, %u were flushed before",
			      cuts[i], n, flushed);
		cr_assert_geq(n, prev, "cut at %zu: %u packets < %u at %zu",
			      cuts[i], n, prev, i ? cuts[i - 1] : 0);
		if (rc == -1)
			cr_assert(strstr(err, "truncated zstd frame"), "%s",
				  err);
		prev = n;
	}
	free(pc.p);
	z.len = full;
	free(z.p);
}

Test(capture_zstd, old_multi_frame_ring_file_cut_delivers_complete_frames)
{
	/* earlier versions: a frame ended every FLUSH_EVERY packets */
	struct mbuf pc = make_pcapng(400, 0), all = {0};
	size_t from = 0, ends[16];
	unsigned nfr = 0;
	for (unsigned k = 1; k <= 400 / FLUSH_EVERY; k++) {
		size_t to = k == 400 / FLUSH_EVERY ? pc.len
						   : block_end(&pc, 3 + k * FLUSH_EVERY);
		struct mbuf f = compress(&pc, from, to - from);
		append(&all, f.p, f.len);
		ends[nfr++] = all.len;
		free(f.p);
		from = to;
	}
	char err[CAP_ERRBUF_SIZE];
	int rc;
	cr_assert_eq(read_all(&all, &rc, err, NULL), 400);
	cr_assert_eq(rc, 0, "%s", err);
	size_t full = all.len;
	for (unsigned k = 0; k + 1 < nfr; k++) {
		all.len = ends[k] + (ends[k + 1] - ends[k]) / 2;
		cr_assert_geq(read_all(&all, &rc, err, NULL), (k + 1) * FLUSH_EVERY,
			      "cut in frame %u", k + 2);
		cr_assert_eq(rc, -1);
	}
	all.len = full;
	free(pc.p);
	free(all.p);
}

Test(capture_zstd, cut_inside_the_frame_header_is_an_error)
{
	struct mbuf pc = make_pcapng(10, 0), z = compress(&pc, 0, pc.len);
	char err[CAP_ERRBUF_SIZE];
	int rc;
	z.len = 5;
	cr_assert_eq(read_all(&z, &rc, err, NULL), 0);
	cr_assert_eq(rc, -2);
	cr_assert(strstr(err, "truncated zstd frame") != NULL, "%s", err);
	free(pc.p);
	free(z.p);
}

Test(capture_zstd, corrupt_frame_is_an_error_not_a_crash)
{
	struct mbuf pc = make_pcapng(400, 0), z = compress(&pc, 0, pc.len);
	char err[CAP_ERRBUF_SIZE];
	int rc;
	for (size_t i = 20; i < z.len; i += 7)
		z.p[i] ^= 0x5a;
	read_all(&z, &rc, err, NULL);
	cr_assert(rc < 0, "damage is reported");
	cr_assert_eq(strncmp(err, "offset ", 7), 0, "%s", err);
	free(pc.p);
	free(z.p);
}

Test(capture_zstd, magic_detection)
{
	static const uint8_t zs[] = {0x28, 0xb5, 0x2f, 0xfd};
	static const uint8_t sk[] = {0x5f, 0x2a, 0x4d, 0x18};
	static const uint8_t ng[] = {0x0a, 0x0d, 0x0d, 0x0a};
	cr_assert(cap_zstd_magic(zs, 4));
	cr_assert(cap_zstd_magic(sk, 4));
	cr_assert(!cap_zstd_magic(ng, 4));
	cr_assert(!cap_zstd_magic(zs, 3));
}
