/* The pcapng writer: what it writes reads back through the capture
 * reader, and tshark (Wireshark's own reader) agrees. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "pcapng_write.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/glassnat-pcapng-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static const uint8_t IP1[28] = { 0x45, 0,    0,	  28,  0, 1,  0, 0, 64, 17,
				 0,    0,    192, 168, 1, 10, 8, 8, 8,	8,
				 0x30, 0x39, 0,	  53,  0, 8,  0, 0 };

/* Writes two interfaces and three packets to path. */
static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void write_sample(const char *path)
{
	char err[256];
	FILE *f = fopen(path, "wb");
	struct pcapng_w *w;
	cr_assert_not_null(f);
	w = pcapng_w_open_file(f, err, sizeof err);
	cr_assert_not_null(w, "%s", err);
	cr_assert_eq(pcapng_w_interface(w, "pre-nat", 101, err, sizeof err), 0);
	cr_assert_eq(pcapng_w_interface(w, "post-nat", 101, err, sizeof err),
		     1);
	cr_assert_eq(pcapng_w_packet(w, 0, 1700000000123456789ull, IP1, 28, 28,
				     PCAPNG_W_DIR_OUT,
				     "flow=1 stage=pre dir=out", err,
				     sizeof err),
		     0, "%s", err);
	cr_assert_eq(pcapng_w_packet(w, 1, 1700000000123456790ull, IP1, 27, 28,
				     PCAPNG_W_DIR_IN,
				     "flow=1 stage=post dir=in verdict=nat",
				     err, sizeof err),
		     0, "%s", err);
	cr_assert_eq(
		pcapng_w_packet(w, 1, 3, IP1, 0, 0, 0, NULL, err, sizeof err),
		0, "%s", err);
	cr_assert_eq(
		pcapng_w_packet(w, 2, 3, IP1, 1, 1, 0, NULL, err, sizeof err),
		-1, "an undefined interface must be refused");
	pcapng_w_close(w);
	cr_assert_eq(fclose(f), 0);
}

Test(pcapng_write, reads_back_through_the_reader, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
	char path[128], err[CAP_ERRBUF_SIZE];
	struct cap_source src;
	struct cap_reader *r;
	struct cap_packet p;
	FILE *f;

	snprintf(path, sizeof path, "%s/w.pcapng", tmpdir);
	write_sample(path);
	f = fopen(path, "rb");
	cr_assert_not_null(f);
	cap_source_file(&src, f);
	r = cap_open(&src, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(cap_format(r), CAP_PCAPNG);

	cr_assert_eq(cap_next(r, &p, err, sizeof err), 1, "%s", err);
	cr_assert_eq(cap_iface_count(r), 2);
	cr_assert_str_eq(p.if_name, "pre-nat");
	cr_assert_eq(p.linktype, 101);
	cr_assert_eq(p.ts_ns, 1700000000123456789ull);
	cr_assert_eq(p.caplen, 28);
	cr_assert_eq(memcmp(p.data, IP1, 28), 0);
	cr_assert_eq(p.flags, CAP_DIR_OUTBOUND);
	cr_assert_str_eq(p.comment, "flow=1 stage=pre dir=out");

	cr_assert_eq(cap_next(r, &p, err, sizeof err), 1, "%s", err);
	cr_assert_str_eq(p.if_name, "post-nat");
	cr_assert_eq(p.ifindex, 1);
	cr_assert_eq(p.caplen, 27);
	cr_assert_eq(p.len, 28);
	cr_assert_eq(memcmp(p.data, IP1, 27), 0);
	cr_assert_eq(p.flags, CAP_DIR_INBOUND);
	cr_assert_str_eq(p.comment, "flow=1 stage=post dir=in verdict=nat");

	cr_assert_eq(cap_next(r, &p, err, sizeof err), 1, "%s", err);
	cr_assert_eq(p.caplen, 0);
	cr_assert_eq(p.ts_ns, 3);
	cr_assert_not(p.has & CAP_HAS_FLAGS);
	cr_assert_null(p.comment);

	cr_assert_eq(cap_next(r, &p, err, sizeof err), 0, "%s", err);
	cap_close(r);
	fclose(f);
}

/* A sink that checks it is handed whole blocks, one per call. */
struct block_sink {
	uint8_t data[4096];
	size_t len;
	unsigned calls;
	bool fail;
};

static int block_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		      size_t errlen)
{
	struct block_sink *s = ctx;
	uint32_t total, trailer;
	if (s->fail) {
		snprintf(errbuf, errlen, "disk full");
		return -1;
	}
	cr_assert_geq(len, 12);
	cr_assert_eq(len % 4, 0);
	memcpy(&total, (const uint8_t *)buf + 4, 4);
	memcpy(&trailer, (const uint8_t *)buf + len - 4, 4);
	cr_assert_eq(total, len);
	cr_assert_eq(trailer, len);
	cr_assert_leq(s->len + len, sizeof s->data);
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	s->calls++;
	return 0;
}

Test(pcapng_write, sink_gets_whole_padded_blocks)
{
	struct block_sink s = { .len = 0 };
	char err[256], cerr[CAP_ERRBUF_SIZE];
	struct pcapng_w *w = pcapng_w_open(block_sink, &s, err, sizeof err);
	struct cap_source src;
	struct cap_mem m;
	struct cap_reader *r;
	struct cap_packet p;

	cr_assert_not_null(w, "%s", err);
	cr_assert_eq(pcapng_w_interface(w, "x", 101, err, sizeof err), 0);
	/* lengths 1..5 and a 3-byte comment: padding everywhere */
	for (size_t n = 1; n <= 5; n++)
		cr_assert_eq(pcapng_w_packet(w, 0, n, IP1, n, n, 0, "abc", err,
					     sizeof err),
			     0);
	cr_assert_eq(s.calls, 7);
	cr_assert_eq(pcapng_w_bytes(w), s.len);
	/* shb_userappl "glassnat" is in the SHB */
	cr_assert_not_null(memmem(s.data, 64, "glassnat", 8));
	s.fail = true;
	cr_assert_eq(
		pcapng_w_packet(w, 0, 9, IP1, 4, 4, 0, NULL, err, sizeof err),
		-1);
	cr_assert_str_eq(err, "disk full");
	pcapng_w_close(w);

	cap_source_mem(&src, &m, s.data, s.len);
	r = cap_open(&src, cerr, sizeof cerr);
	cr_assert_not_null(r, "%s", cerr);
	for (size_t n = 1; n <= 5; n++) {
		cr_assert_eq(cap_next(r, &p, cerr, sizeof cerr), 1, "%s", cerr);
		cr_assert_eq(p.caplen, n);
		cr_assert_eq(p.ts_ns, n);
		cr_assert_str_eq(p.comment, "abc");
	}
	cr_assert_eq(cap_next(r, &p, cerr, sizeof cerr), 0, "%s", cerr);
	cap_close(r);
}

Test(pcapng_write, long_comment_is_clipped_on_a_character_boundary)
{
	struct block_sink s = { .len = 0 };
	char err[256], cerr[CAP_ERRBUF_SIZE];
	char comment[PCAPNG_W_MAX_COMMENT + 8];
	struct pcapng_w *w = pcapng_w_open(block_sink, &s, err, sizeof err);
	struct cap_source src;
	struct cap_mem m;
	struct cap_reader *r;
	struct cap_packet p;
	size_t n = 0;

	cr_assert_not_null(w);
	cr_assert_eq(pcapng_w_interface(w, "x", 101, err, sizeof err), 0);
	/* 'a' then two-byte characters, so the limit falls mid-character */
	comment[n++] = 'a';
	while (n + 2 < sizeof comment) {
		comment[n++] = (char)0xC3;
		comment[n++] = (char)0xA9; /* é */
	}
	comment[n] = '\0';
	cr_assert_eq(pcapng_w_packet(w, 0, 1, IP1, 4, 4, 0, comment, err,
				     sizeof err),
		     0);
	pcapng_w_close(w);
	cap_source_mem(&src, &m, s.data, s.len);
	r = cap_open(&src, cerr, sizeof cerr);
	cr_assert_not_null(r, "%s", cerr);
	cr_assert_eq(cap_next(r, &p, cerr, sizeof cerr), 1, "%s", cerr);
	cr_assert_eq(cap_next(r, &p, cerr, sizeof cerr), 0, "%s", cerr);
	cap_close(r);
	/* the option length: 1023 (not 1024, which splits an é) */
	{
		uint8_t *epb = memmem(s.data, s.len, "a\xC3\xA9", 3);
		uint16_t optlen;
		cr_assert_not_null(epb);
		memcpy(&optlen, epb - 2, 2);
		cr_assert_eq(optlen, PCAPNG_W_MAX_COMMENT - 1);
	}
}

Test(pcapng_write, tshark_reads_it, .init = make_tmpdir, .fini = remove_tmpdir)
{
	char path[128], cmd[512], line[512];
	FILE *p;
	int n = 0;

	if (system("command -v tshark >/dev/null 2>&1") != 0)
		cr_skip_test("tshark is not installed");
	snprintf(path, sizeof path, "%s/t.pcapng", tmpdir);
	write_sample(path);
	snprintf(cmd, sizeof cmd,
		 "tshark -r '%s' -T fields -E separator='|' "
		 "-e frame.comment -e frame.interface_name "
		 "-e frame.packet_flags_direction -e ip.src -e "
		 "frame.time_epoch 2>&1",
		 path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "Running as user", 15) == 0)
			continue;
		switch (n++) {
		case 0:
			cr_expect(
				starts_with(line,
					    "flow=1 stage=pre dir=out|pre-nat|"
					    "0x00000002|192.168.1.10|"
					    "1700000000.123456789"),
				"line 1: %s", line);
			break;
		case 1:
			cr_expect(
				starts_with(line,
					    "flow=1 stage=post dir=in "
					    "verdict=nat|post-nat|0x00000001|"),
				"line 2: %s", line);
			break;
		case 2:
			cr_expect(starts_with(line, "|post-nat|"), "line 3: %s",
				  line);
			break;
		default:
			cr_expect_fail("unexpected output: %s", line);
		}
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(n, 3);
}

/* A memory stream for the gather test: blocks from the sink and pieces
 * from the gather sink, appended; gathers counts gather calls. */
struct mem_out {
	uint8_t buf[8192];
	size_t len;
	unsigned gathers;
};

static int mem_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		    size_t errlen)
{
	struct mem_out *m = ctx;
	(void)errbuf;
	(void)errlen;
	cr_assert_leq(m->len + len, sizeof m->buf);
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static int mem_gather(void *ctx, const struct pcapng_w_piece *v, size_t n,
		      char *errbuf, size_t errlen)
{
	struct mem_out *m = ctx;
	m->gathers++;
	for (size_t i = 0; i < n; i++)
		mem_sink(ctx, v[i].p, v[i].len, errbuf, errlen);
	return 0;
}

/* Every packet length modulo 4, with and without flags and comments of
 * every length modulo 4: the gathered stream is byte for byte the copied
 * one, and each packet is one gather call. */
Test(pcapng_write, gathered_packets_are_the_same_bytes_as_copied)
{
	static const char *comments[] = { NULL, "a", "ab", "abc", "abcd",
					  "flow=7 stage=post dir=in" };
	uint8_t pkt[64];
	char err[256];
	for (size_t i = 0; i < sizeof pkt; i++)
		pkt[i] = (uint8_t)(i * 37 + 1);
	for (size_t caplen = 0; caplen <= 9; caplen++) {
		for (size_t c = 0; c < sizeof comments / sizeof *comments;
		     c++) {
			for (uint32_t flags = 0; flags <= PCAPNG_W_DIR_OUT;
			     flags += PCAPNG_W_DIR_OUT) {
				static struct mem_out a, b;
				memset(&a, 0, sizeof a);
				memset(&b, 0, sizeof b);
				struct pcapng_w *wa = pcapng_w_open(
					mem_sink, &a, err, sizeof err);
				struct pcapng_w *wb = pcapng_w_open(
					mem_sink, &b, err, sizeof err);
				cr_assert(wa && wb, "%s", err);
				pcapng_w_set_gather(wb, mem_gather);
				cr_assert_eq(pcapng_w_interface(wa, "pre-nat",
								101, err,
								sizeof err),
					     0);
				cr_assert_eq(pcapng_w_interface(wb, "pre-nat",
								101, err,
								sizeof err),
					     0);
				cr_assert_eq(pcapng_w_packet(wa, 0, 42, pkt,
							     caplen, 60, flags,
							     comments[c], err,
							     sizeof err),
					     0);
				cr_assert_eq(pcapng_w_packet(wb, 0, 42, pkt,
							     caplen, 60, flags,
							     comments[c], err,
							     sizeof err),
					     0);
				cr_assert_eq(b.gathers, 1u);
				cr_assert_eq(a.len, b.len,
					     "caplen %zu comment %zu flags %u: "
					     "%zu bytes copied, %zu gathered",
					     caplen, c, flags, a.len, b.len);
				cr_assert_eq(a.len % 4, 0u);
				cr_assert(!memcmp(a.buf, b.buf, a.len),
					  "caplen %zu comment %zu flags %u: "
					  "bytes differ",
					  caplen, c, flags);
				cr_assert_eq(pcapng_w_bytes(wa),
					     pcapng_w_bytes(wb));
				pcapng_w_close(wa);
				pcapng_w_close(wb);
			}
		}
	}
}
