/* The capture reader on files built byte by byte in memory, in either
 * byte order, valid and damaged. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* ---- a growable buffer that writes in a chosen byte order ---- */

struct bb {
	uint8_t *p;
	size_t len, cap;
	bool be;
};

static void bb_put(struct bb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void bb_u8(struct bb *b, uint8_t v)
{
	bb_put(b, &v, 1);
}

static void bb_u16(struct bb *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	if (b->be) {
		x[0] = (uint8_t)(v >> 8);
		x[1] = (uint8_t)v;
	}
	bb_put(b, x, 2);
}

static void bb_u32(struct bb *b, uint32_t v)
{
	if (b->be) {
		bb_u16(b, (uint16_t)(v >> 16));
		bb_u16(b, (uint16_t)v);
	} else {
		bb_u16(b, (uint16_t)v);
		bb_u16(b, (uint16_t)(v >> 16));
	}
}

static void bb_u64(struct bb *b, uint64_t v)
{
	if (b->be) {
		bb_u32(b, (uint32_t)(v >> 32));
		bb_u32(b, (uint32_t)v);
	} else {
		bb_u32(b, (uint32_t)v);
		bb_u32(b, (uint32_t)(v >> 32));
	}
}

static void bb_pad(struct bb *b)
{
	while (b->len % 4)
		bb_u8(b, 0);
}

static void bb_set32(struct bb *b, size_t at, uint32_t v)
{
	size_t save = b->len;
	b->len = at;
	bb_u32(b, v);
	b->len = save;
}

/* Starts a block; returns its offset for blk_end. */
static size_t blk_begin(struct bb *b, uint32_t type)
{
	size_t at = b->len;
	bb_u32(b, type);
	bb_u32(b, 0);
	return at;
}

static void blk_end(struct bb *b, size_t at)
{
	uint32_t total;
	bb_pad(b);
	total = (uint32_t)(b->len - at + 4);
	bb_set32(b, at + 4, total);
	bb_u32(b, total);
}

static void opt(struct bb *b, uint16_t code, const void *v, size_t len)
{
	bb_u16(b, code);
	bb_u16(b, (uint16_t)len);
	bb_put(b, v, len);
	bb_pad(b);
}

static void opt_str(struct bb *b, uint16_t code, const char *s)
{
	opt(b, code, s, strlen(s));
}

static void opt32(struct bb *b, uint16_t code, uint32_t v)
{
	bb_u16(b, code);
	bb_u16(b, 4);
	bb_u32(b, v);
}

static void opt64(struct bb *b, uint16_t code, uint64_t v)
{
	bb_u16(b, code);
	bb_u16(b, 8);
	bb_u64(b, v);
}

static void opt_end(struct bb *b)
{
	bb_u16(b, 0);
	bb_u16(b, 0);
}

static size_t shb(struct bb *b, bool be)
{
	size_t at;
	b->be = be;
	at = blk_begin(b, 0x0A0D0D0Au);
	bb_u32(b, 0x1A2B3C4Du);
	bb_u16(b, 1);
	bb_u16(b, 0);
	bb_u64(b, UINT64_MAX);
	blk_end(b, at);
	return at;
}

/* IDB with if_name (when not NULL) and if_tsresol (when tsresol >= 0). */
static size_t idb(struct bb *b, uint16_t linktype, uint32_t snaplen,
		  const char *name, int tsresol)
{
	size_t at = blk_begin(b, 1);
	bb_u16(b, linktype);
	bb_u16(b, 0);
	bb_u32(b, snaplen);
	if (name)
		opt_str(b, 2, name);
	if (tsresol >= 0) {
		uint8_t r = (uint8_t)tsresol;
		opt(b, 9, &r, 1);
	}
	if (name || tsresol >= 0)
		opt_end(b);
	blk_end(b, at);
	return at;
}

/* EPB; flags written when nonzero, comment when not NULL. */
static size_t epb(struct bb *b, uint32_t if_id, uint64_t ts, const void *data,
		  uint32_t caplen, uint32_t len, uint32_t flags,
		  const char *comment)
{
	size_t at = blk_begin(b, 6);
	bb_u32(b, if_id);
	bb_u32(b, (uint32_t)(ts >> 32));
	bb_u32(b, (uint32_t)ts);
	bb_u32(b, caplen);
	bb_u32(b, len);
	bb_put(b, data, caplen);
	bb_pad(b);
	if (flags)
		opt32(b, 2, flags);
	if (comment)
		opt_str(b, 1, comment);
	if (flags || comment)
		opt_end(b);
	blk_end(b, at);
	return at;
}

static size_t spb(struct bb *b, const void *data, uint32_t stored, uint32_t len)
{
	size_t at = blk_begin(b, 3);
	bb_u32(b, len);
	bb_put(b, data, stored);
	blk_end(b, at);
	return at;
}

static const uint8_t PKT[20] = { 0x45, 0, 0,  20, 1, 2, 0,   0, 64, 17,
				 0,    0, 10, 0,  0, 1, 192, 0, 2,  1 };

/* ---- reading everything back ---- */

struct got {
	uint32_t caplen, len, linktype, ifindex, flags, has, section, queue;
	uint64_t ts, offset, dropcount, packetid;
	uint8_t first;
	char ifname[64], comment[300];
	bool has_ifname, has_comment;
};

struct all {
	int rc; /* of open (-1) or of the last cap_next */
	size_t n;
	struct got p[16];
	char err[CAP_ERRBUF_SIZE];
};

static struct all read_all(const struct bb *b)
{
	struct all a;
	struct cap_source src;
	struct cap_mem m;
	struct cap_reader *r;
	struct cap_packet pkt;

	memset(&a, 0, sizeof a);
	cap_source_mem(&src, &m, b->p, b->len);
	r = cap_open(&src, a.err, sizeof a.err);
	if (!r) {
		a.rc = -1;
		return a;
	}
	while ((a.rc = cap_next(r, &pkt, a.err, sizeof a.err)) == 1) {
		struct got *g;
		cr_assert_lt(a.n, 16);
		g = &a.p[a.n++];
		g->caplen = pkt.caplen;
		g->len = pkt.len;
		g->linktype = pkt.linktype;
		g->ifindex = pkt.ifindex;
		g->flags = pkt.flags;
		g->has = pkt.has;
		g->section = pkt.section;
		g->queue = pkt.queue;
		g->ts = pkt.ts_ns;
		g->offset = pkt.offset;
		g->dropcount = pkt.dropcount;
		g->packetid = pkt.packetid;
		g->first = pkt.caplen ? pkt.data[0] : 0;
		if (pkt.if_name) {
			g->has_ifname = true;
			snprintf(g->ifname, sizeof g->ifname, "%s",
				 pkt.if_name);
		}
		if (pkt.comment) {
			g->has_comment = true;
			snprintf(g->comment, sizeof g->comment, "%s",
				 pkt.comment);
		}
	}
	/* a finished reader keeps answering the same */
	{
		char again[CAP_ERRBUF_SIZE] = "";
		cr_assert_eq(cap_next(r, &pkt, again, sizeof again), a.rc);
		if (a.rc < 0)
			cr_assert_str_eq(again, a.err);
	}
	cap_close(r);
	return a;
}

static void expect_error(const struct all *a, size_t packets, size_t off,
			 const char *what)
{
	char prefix[64];
	snprintf(prefix, sizeof prefix, "offset %zu: ", off);
	cr_assert_eq(a->rc, -1, "expected an error, rc %d", a->rc);
	cr_assert_eq(a->n, packets, "%zu packets before the error, want %zu",
		     a->n, packets);
	cr_assert_eq(strncmp(a->err, prefix, strlen(prefix)), 0,
		     "error \"%s\" does not start with \"%s\"", a->err, prefix);
	cr_assert_not_null(strstr(a->err, what), "error \"%s\" lacks \"%s\"",
			   a->err, what);
}

/* ---- pcapng ---- */

Test(capture, pcapng_both_byte_orders)
{
	for (int be = 0; be < 2; be++) {
		struct bb b = { 0 };
		struct all a;
		shb(&b, be);
		idb(&b, 101, 0, "eth0", 9);
		epb(&b, 0, 1700000000123456789ull, PKT, 20, 20, 2, "hello");
		epb(&b, 0, 5, PKT + 1, 3, 60, 0, NULL);
		a = read_all(&b);
		cr_assert_eq(a.rc, 0, "%s: %s", be ? "BE" : "LE", a.err);
		cr_assert_eq(a.n, 2);
		cr_assert_eq(a.p[0].ts, 1700000000123456789ull);
		cr_assert_eq(a.p[0].caplen, 20);
		cr_assert_eq(a.p[0].first, 0x45);
		cr_assert_eq(a.p[0].linktype, 101);
		cr_assert_str_eq(a.p[0].ifname, "eth0");
		cr_assert(a.p[0].has & CAP_HAS_FLAGS);
		cr_assert_eq(a.p[0].flags & CAP_DIR_MASK, CAP_DIR_OUTBOUND);
		cr_assert_str_eq(a.p[0].comment, "hello");
		cr_assert_eq(a.p[1].caplen, 3);
		cr_assert_eq(a.p[1].len, 60);
		cr_assert_eq(a.p[1].first, 0);
		cr_assert_not(a.p[1].has & CAP_HAS_FLAGS);
		cr_assert_not(a.p[1].has_comment);
		cr_assert_eq(a.p[1].ts, 5);
		free(b.p);
	}
}

Test(capture, sections_change_byte_order_and_reset_interfaces)
{
	struct bb b = { 0 };
	struct all a;
	shb(&b, false);
	idb(&b, 101, 0, "a0", -1);
	idb(&b, 1, 0, "a1", -1);
	epb(&b, 1, 1000, PKT, 20, 20, 0, NULL);
	shb(&b, true);
	idb(&b, 113, 0, "b0", -1);
	epb(&b, 0, 2000, PKT, 20, 20, 1, NULL);
	shb(&b, false);
	idb(&b, 228, 0, NULL, -1);
	epb(&b, 0, 3000, PKT, 20, 20, 0, NULL);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 3);
	cr_assert_str_eq(a.p[0].ifname, "a1");
	cr_assert_eq(a.p[0].linktype, 1);
	cr_assert_eq(a.p[0].section, 0);
	cr_assert_str_eq(a.p[1].ifname, "b0");
	cr_assert_eq(a.p[1].linktype, 113);
	cr_assert_eq(a.p[1].ts, 2000000); /* default µs resolution */
	cr_assert_eq(a.p[1].section, 1);
	cr_assert_eq(a.p[1].flags, CAP_DIR_INBOUND);
	cr_assert_not(a.p[2].has_ifname);
	cr_assert_eq(a.p[2].linktype, 228);
	cr_assert_eq(a.p[2].section, 2);
	free(b.p);
}

Test(capture, new_section_forgets_old_interfaces)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	idb(&b, 101, 0, NULL, -1);
	epb(&b, 1, 0, PKT, 20, 20, 0, NULL);
	shb(&b, true);
	idb(&b, 101, 0, NULL, -1);
	at = epb(&b, 1, 0, PKT, 20, 20, 0, NULL);
	a = read_all(&b);
	expect_error(&a, 1, at, "interface 1");
	free(b.p);
}

Test(capture, unknown_and_custom_blocks_are_skipped)
{
	for (int be = 0; be < 2; be++) {
		struct bb b = { 0 };
		struct all a;
		size_t at;
		const uint32_t types[] = { 4 /* NRB */,	   5 /* ISB */,
					   0x0A /* DSB */, 0xBAD,
					   0x40000BAD,	   0x12345678,
					   0x80000001 };
		shb(&b, be);
		idb(&b, 101, 0, NULL, -1);
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
			at = blk_begin(&b, types[i]);
			bb_u32(&b, 32473); /* a PEN, or anything */
			bb_put(&b, "junk!", 5);
			blk_end(&b, at);
			epb(&b, 0, i, PKT, 20, 20, 0, NULL);
		}
		a = read_all(&b);
		cr_assert_eq(a.rc, 0, "%s", a.err);
		cr_assert_eq(a.n, 7);
		cr_assert_eq(a.p[6].ts, 6000);
		free(b.p);
	}
}

Test(capture, every_standard_option_is_parsed_or_skipped)
{
	for (int be = 0; be < 2; be++) {
		struct bb b = { 0 };
		struct all a;
		size_t at;
		uint8_t v4[8] = { 10, 0, 0, 1, 255, 255, 255, 0 };
		uint8_t v6[17] = { 0x20, 0x01, 0x0d, 0xb8, [16] = 64 };
		uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
		uint8_t eui[8] = { 2, 0, 0, 0, 0, 0, 0, 1 };
		uint8_t filt[5] = { 0, 't', 'c', 'p' };
		uint8_t fcs = 4, tsres = 3;
		uint8_t custom[7] = { 0, 0, 0x7e, 0xd9, 'x', 'y', 'z' };
		uint8_t hash[5] = { 2, 0xde, 0xad, 0xbe, 0xef };
		uint8_t verdict[9] = { 1, 1, 2, 3, 4, 5, 6, 7, 8 };

		b.be = be;
		/* SHB with all its options */
		at = blk_begin(&b, 0x0A0D0D0Au);
		bb_u32(&b, 0x1A2B3C4Du);
		bb_u16(&b, 1);
		bb_u16(&b, 0);
		bb_u64(&b, UINT64_MAX);
		opt_str(&b, 1, "section comment");
		opt_str(&b, 2, "x86_64");
		opt_str(&b, 3, "Linux 6.1");
		opt_str(&b, 4, "test");
		opt(&b, 2988, custom, sizeof custom);
		opt_end(&b);
		blk_end(&b, at);

		at = blk_begin(&b, 1);
		bb_u16(&b, 1);
		bb_u16(&b, 0);
		bb_u32(&b, 65535);
		opt_str(&b, 1, "interface comment");
		opt_str(&b, 2, "inside");
		opt_str(&b, 3, "the inside LAN");
		opt(&b, 4, v4, sizeof v4);
		opt(&b, 5, v6, sizeof v6);
		opt(&b, 6, mac, sizeof mac);
		opt(&b, 7, eui, sizeof eui);
		opt64(&b, 8, 1000000000);
		opt(&b, 9, &tsres, 1); /* milliseconds */
		opt32(&b, 10, 0);
		opt(&b, 11, filt, sizeof filt);
		opt_str(&b, 12, "Linux");
		opt(&b, 13, &fcs, 1);
		opt64(&b, 14, 100); /* if_tsoffset: +100 s */
		opt_str(&b, 15, "NIC");
		opt64(&b, 16, 1000);
		opt64(&b, 17, 1000);
		opt_str(&b, 18, "Europe/Paris");
		opt(&b, 2989, custom, sizeof custom);
		opt(&b, 19372, custom, sizeof custom);
		opt(&b, 19373, custom, 4);
		opt(&b, 999, "unknown", 7);
		opt_end(&b);
		blk_end(&b, at);

		at = blk_begin(&b, 6);
		bb_u32(&b, 0);
		bb_u32(&b, 0);
		bb_u32(&b, 2500); /* 2.5 s in ms */
		bb_u32(&b, 20);
		bb_u32(&b, 20);
		bb_put(&b, PKT, 20);
		opt_str(&b, 1, "first");
		opt32(&b, 2, 0x00000001);
		opt(&b, 3, hash, sizeof hash);
		opt64(&b, 4, 42);
		opt64(&b, 5, 0x1122334455667788ull);
		opt32(&b, 6, 3);
		opt(&b, 7, verdict, sizeof verdict);
		opt(&b, 2988, custom, sizeof custom);
		opt(&b, 2989, custom, sizeof custom);
		opt(&b, 19372, custom, sizeof custom);
		opt(&b, 19373, custom, sizeof custom);
		opt_str(&b, 1, "second");
		opt_end(&b);
		blk_end(&b, at);

		a = read_all(&b);
		cr_assert_eq(a.rc, 0, "%s: %s", be ? "BE" : "LE", a.err);
		cr_assert_eq(a.n, 1);
		cr_assert_str_eq(a.p[0].ifname, "inside");
		cr_assert_eq(a.p[0].ts, 102500000000ull);
		cr_assert_str_eq(a.p[0].comment, "first");
		cr_assert_eq(a.p[0].flags, 1);
		cr_assert_eq(a.p[0].dropcount, 42);
		cr_assert_eq(a.p[0].packetid, 0x1122334455667788ull);
		cr_assert_eq(a.p[0].queue, 3);
		cr_assert_eq(a.p[0].has,
			     CAP_HAS_TS | CAP_HAS_FLAGS | CAP_HAS_DROPCOUNT |
				     CAP_HAS_PACKETID | CAP_HAS_QUEUE |
				     CAP_HAS_HASH | CAP_HAS_VERDICT);
		free(b.p);
	}
}

Test(capture, options_end_at_block_end_without_endofopt)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	at = blk_begin(&b, 1);
	bb_u16(&b, 101);
	bb_u16(&b, 0);
	bb_u32(&b, 0);
	opt_str(&b, 2, "noend");
	blk_end(&b, at);
	epb(&b, 0, 0, PKT, 20, 20, 0, NULL);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_str_eq(a.p[0].ifname, "noend");
	free(b.p);
}

Test(capture, option_longer_than_block_is_an_error)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	at = blk_begin(&b, 1);
	bb_u16(&b, 101);
	bb_u16(&b, 0);
	bb_u32(&b, 0);
	bb_u16(&b, 2);
	bb_u16(&b, 200); /* if_name claims 200 bytes */
	bb_put(&b, "abcd", 4);
	blk_end(&b, at);
	a = read_all(&b);
	expect_error(&a, 0, at, "option 2 length 200 exceeds the block");
	free(b.p);
}

Test(capture, fixed_length_options_are_checked)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	at = blk_begin(&b, 6);
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u16(&b, 2); /* epb_flags with 2 bytes */
	bb_u16(&b, 2);
	bb_u32(&b, 0);
	blk_end(&b, at);
	a = read_all(&b);
	expect_error(&a, 0, at, "epb_flags option length 2, expected 4");
	free(b.p);
}

Test(capture, spb_is_clipped_to_snaplen)
{
	struct bb b = { 0 };
	struct all a;
	shb(&b, true);
	idb(&b, 101, 8, "snap8", -1);
	spb(&b, PKT, 20, 20);
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	spb(&b, PKT, 20, 20);
	spb(&b, PKT, 12, 1500); /* clipped by whatever captured it */
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 3);
	cr_assert_eq(a.p[0].caplen, 8);
	cr_assert_eq(a.p[0].len, 20);
	cr_assert_str_eq(a.p[0].ifname, "snap8");
	cr_assert_not(a.p[0].has & CAP_HAS_TS);
	cr_assert_eq(a.p[0].first, 0x45);
	cr_assert_eq(a.p[1].caplen, 20);
	cr_assert_eq(a.p[2].caplen, 12);
	cr_assert_eq(a.p[2].len, 1500);
	free(b.p);
}

Test(capture, spb_without_interface_is_an_error)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	at = spb(&b, PKT, 20, 20);
	a = read_all(&b);
	expect_error(&a, 0, at, "no interface");
	free(b.p);
}

Test(capture, obsolete_packet_block)
{
	for (int be = 0; be < 2; be++) {
		struct bb b = { 0 };
		struct all a;
		size_t at;
		shb(&b, be);
		idb(&b, 1, 0, NULL, -1);
		idb(&b, 101, 0, "pb", 9);
		at = blk_begin(&b, 2);
		bb_u16(&b, 1);
		bb_u16(&b, 7); /* drops */
		bb_u32(&b, 0);
		bb_u32(&b, 77);
		bb_u32(&b, 20);
		bb_u32(&b, 40);
		bb_put(&b, PKT, 20);
		opt32(&b, 2, 2); /* pack_flags: outbound */
		opt_str(&b, 1, "old");
		opt_end(&b);
		blk_end(&b, at);
		a = read_all(&b);
		cr_assert_eq(a.rc, 0, "%s", a.err);
		cr_assert_eq(a.n, 1);
		cr_assert_eq(a.p[0].ifindex, 1);
		cr_assert_str_eq(a.p[0].ifname, "pb");
		cr_assert_eq(a.p[0].ts, 77);
		cr_assert_eq(a.p[0].caplen, 20);
		cr_assert_eq(a.p[0].len, 40);
		cr_assert_eq(a.p[0].dropcount, 7);
		cr_assert_eq(a.p[0].flags, CAP_DIR_OUTBOUND);
		cr_assert_str_eq(a.p[0].comment, "old");
		free(b.p);
	}
}

Test(capture, header_only_files_have_no_packets)
{
	struct bb b = { 0 };
	struct all a;
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 0);
	free(b.p);

	memset(&b, 0, sizeof b);
	bb_u32(&b, 0xA1B2C3D4u);
	bb_u16(&b, 2);
	bb_u16(&b, 4);
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u32(&b, 65535);
	bb_u32(&b, 1);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 0);
	free(b.p);
}

Test(capture, empty_file_is_an_error)
{
	struct bb b = { 0 };
	struct all a = read_all(&b);
	cr_assert_eq(a.rc, -1);
	cr_assert_str_eq(a.err, "offset 0: empty file");
}

Test(capture, not_a_capture_is_an_error)
{
	struct bb b = { 0 };
	struct all a;
	bb_put(&b, "GET / HTTP/1.1\r\n", 16);
	a = read_all(&b);
	expect_error(&a, 0, 0, "not a pcap or pcapng file");
	free(b.p);
}

Test(capture, bad_byte_order_magic)
{
	struct bb b = { 0 };
	struct all a;
	shb(&b, false);
	b.p[8] = 0x11;
	a = read_all(&b);
	expect_error(&a, 0, 0, "byte-order magic");
	free(b.p);
}

enum which { W_SHB, W_IDB, W_EPB, W_SPB };

/* A file whose last block is `w`, preceded by one good packet (or, for
 * the first SHB, nothing). Returns the offset of the last block. */
static size_t file_ending_with(struct bb *b, enum which w, bool first_shb)
{
	size_t at;
	if (w == W_SHB && first_shb)
		return shb(b, false);
	shb(b, false);
	idb(b, 101, 0, "if", -1);
	epb(b, 0, 1, PKT, 20, 20, 0, NULL);
	switch (w) {
	case W_SHB:
		at = shb(b, true);
		break;
	case W_IDB:
		at = idb(b, 101, 0, "second", 9);
		break;
	case W_EPB:
		at = epb(b, 0, 2, PKT, 20, 20, 1, "cut");
		break;
	default:
		at = spb(b, PKT, 20, 20);
		break;
	}
	return at;
}

Test(capture, cut_in_each_block_type_reports_offset_after_packets)
{
	for (int w = W_SHB; w <= W_SPB; w++) {
		for (int first = 0; first < 2; first++) {
			struct bb b = { 0 };
			size_t at, full;
			if (first && w != W_SHB)
				continue;
			at = file_ending_with(&b, (enum which)w, first);
			full = b.len - at;
			/* cut inside the header, just after it, and one
			 * byte short of the trailer */
			size_t cuts[] = { 5, 9, full / 2, full - 1 };
			for (size_t c = 0; c < 4; c++) {
				struct bb t = b;
				struct all a;
				t.len = at + cuts[c];
				a = read_all(&t);
				expect_error(&a, first ? 0 : 1, at,
					     "truncated");
			}
			free(b.p);
		}
	}
}

Test(capture, clean_end_between_blocks_is_eof)
{
	struct bb b = { 0 };
	struct all a;
	file_ending_with(&b, W_EPB, false);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 2);
	free(b.p);
}

Test(capture, bad_block_lengths)
{
	struct {
		uint32_t total; /* written in the header */
		uint32_t trailer;
		const char *what;
	} cases[] = {
		{ 34, 36, "not a multiple of 4" },
		{ 28, 28, "below its minimum 32" },
		{ 8, 8, "below its minimum" },
		{ 36, 40, "trailer length 40 differs from header length 36" },
		{ 0x01000004u, 0, "exceeds the maximum" },
		{ 0xfffffffcu, 0, "exceeds the maximum" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bb b = { 0 };
		struct all a;
		size_t at;
		shb(&b, i % 2);
		idb(&b, 101, 0, NULL, -1);
		epb(&b, 0, 0, PKT, 20, 20, 0, NULL);
		at = b.len;
		bb_u32(&b, 6);
		bb_u32(&b, cases[i].total);
		for (int k = 0; k < 6; k++)
			bb_u32(&b, 0);
		bb_u32(&b, cases[i].trailer);
		a = read_all(&b);
		expect_error(&a, 1, at, cases[i].what);
		free(b.p);
	}
}

Test(capture, shb_below_minimum)
{
	struct bb b = { 0 };
	struct all a;
	bb_u32(&b, 0x0A0D0D0Au);
	bb_u32(&b, 24);
	bb_u32(&b, 0x1A2B3C4Du);
	bb_u32(&b, 1);
	bb_u32(&b, 0);
	bb_u32(&b, 24);
	a = read_all(&b);
	expect_error(&a, 0, 0, "SHB (type 0xa0d0d0a) length 24 below");
	free(b.p);
}

Test(capture, epb_caplen_beyond_block)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	at = epb(&b, 0, 0, PKT, 20, 20, 0, NULL);
	bb_set32(&b, at + 20, 24); /* caplen 24, 20 bytes there */
	a = read_all(&b);
	expect_error(&a, 0, at, "captured length 24 exceeds the block");
	free(b.p);
}

Test(capture, epb_for_missing_interface)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	idb(&b, 101, 0, NULL, -1);
	epb(&b, 0, 0, PKT, 20, 20, 0, NULL);
	at = epb(&b, 3, 0, PKT, 20, 20, 0, NULL);
	a = read_all(&b);
	expect_error(&a, 1, at, "interface 3 but the section defines 1");
	free(b.p);
}

Test(capture, tsresol_power_of_two_and_offset)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, true);
	idb(&b, 101, 0, NULL, 0x80 | 10); /* 1/1024 s */
	epb(&b, 0, 5 * 1024 + 512, PKT, 20, 20, 0, NULL);
	epb(&b, 0, 1, PKT, 20, 20, 0, NULL);
	idb(&b, 101, 0, NULL, 0); /* seconds */
	epb(&b, 1, 3, PKT, 20, 20, 0, NULL);
	at = blk_begin(&b, 1); /* ns with a negative offset */
	bb_u16(&b, 101);
	bb_u16(&b, 0);
	bb_u32(&b, 0);
	opt64(&b, 14, (uint64_t)-2);
	{
		uint8_t r = 9;
		opt(&b, 9, &r, 1);
	}
	opt_end(&b);
	blk_end(&b, at);
	epb(&b, 2, 5000000001ull, PKT, 20, 20, 0, NULL);
	a = read_all(&b);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_assert_eq(a.n, 4);
	cr_assert_eq(a.p[0].ts, 5500000000ull);
	cr_assert_eq(a.p[1].ts, 976562); /* 1/1024 s, rounded down */
	cr_assert_eq(a.p[2].ts, 3000000000ull);
	cr_assert_eq(a.p[3].ts, 3000000001ull);
	free(b.p);
}

Test(capture, tsresol_too_fine_is_an_error)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	shb(&b, false);
	at = idb(&b, 101, 0, NULL, 0x80 | 64);
	a = read_all(&b);
	expect_error(&a, 0, at, "if_tsresol 0xc0");
	free(b.p);
}

/* ---- classic pcap ---- */

static void pcap_hdr(struct bb *b, bool be, bool ns, uint32_t linktype)
{
	b->be = be;
	bb_u32(b, ns ? 0xA1B23C4Du : 0xA1B2C3D4u);
	bb_u16(b, 2);
	bb_u16(b, 4);
	bb_u32(b, 0);
	bb_u32(b, 0);
	bb_u32(b, 262144);
	bb_u32(b, linktype);
}

static size_t pcap_rec(struct bb *b, uint32_t sec, uint32_t frac, const void *d,
		       uint32_t caplen, uint32_t len)
{
	size_t at = b->len;
	bb_u32(b, sec);
	bb_u32(b, frac);
	bb_u32(b, caplen);
	bb_u32(b, len);
	bb_put(b, d, caplen);
	return at;
}

Test(capture, pcap_micro_and_nano_in_both_byte_orders)
{
	for (int be = 0; be < 2; be++) {
		for (int ns = 0; ns < 2; ns++) {
			struct bb b = { 0 };
			struct all a;
			size_t at;
			pcap_hdr(&b, be, ns, 0x10000065u); /* FCS bits */
			pcap_rec(&b, 1700000000, 250, PKT, 20, 20);
			at = pcap_rec(&b, 1, 999, PKT + 3, 10, 100);
			a = read_all(&b);
			cr_assert_eq(a.rc, 0, "%s", a.err);
			cr_assert_eq(a.n, 2);
			cr_assert_eq(a.p[0].ts, 1700000000000000000ull +
							(ns ? 250u : 250000u));
			cr_assert_eq(a.p[0].linktype, 101);
			cr_assert_eq(a.p[0].first, 0x45);
			cr_assert_eq(a.p[0].offset, 24);
			cr_assert_eq(a.p[1].caplen, 10);
			cr_assert_eq(a.p[1].len, 100);
			cr_assert_eq(a.p[1].first, 20);
			cr_assert_eq(a.p[1].offset, at);
			cr_assert_not(a.p[1].has_ifname);
			free(b.p);
		}
	}
}

Test(capture, pcap_truncated_record)
{
	struct bb b = { 0 };
	size_t at;
	pcap_hdr(&b, true, false, 1);
	pcap_rec(&b, 1, 2, PKT, 20, 20);
	at = pcap_rec(&b, 1, 3, PKT, 20, 20);
	for (size_t cut = 1; cut < 36; cut += 7) {
		struct bb t = b;
		struct all a;
		t.len = at + cut;
		a = read_all(&t);
		expect_error(&a, 1, at, "truncated record");
	}
	free(b.p);
}

Test(capture, pcap_truncated_file_header)
{
	struct bb b = { 0 };
	struct all a;
	pcap_hdr(&b, false, false, 1);
	b.len = 10;
	a = read_all(&b);
	expect_error(&a, 0, 0, "truncated pcap file header");
	free(b.p);
}

Test(capture, pcap_record_beyond_maximum)
{
	struct bb b = { 0 };
	struct all a;
	size_t at;
	pcap_hdr(&b, false, true, 1);
	at = b.len;
	bb_u32(&b, 0);
	bb_u32(&b, 0);
	bb_u32(&b, 0x7fffffff);
	bb_u32(&b, 0x7fffffff);
	a = read_all(&b);
	expect_error(&a, 0, at, "exceeds the maximum");
	free(b.p);
}
