/* The replay backend end to end: capture files (pcapng with directions
 * and interface names, classic pcap on several link types, damaged
 * files) through a real engine, the output read back. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "engine.h"
#include "pcapng_write.h"
#include "pktbuild.h"
#include "replay.h"

#define INSIDE IP4(10, 0, 0, 5)
#define NAT_IP IP4(203, 0, 113, 1)
#define REMOTE IP4(8, 8, 8, 8)

static const char CONFIG[] = "nat_ip: 203.0.113.1\n"
			     "internal_network: 10.0.0.0/24\n"
			     "rules:\n"
			     "  - name: internet\n"
			     "    destination: 0.0.0.0/0\n"
			     "    action: nat\n"
			     "port_forward:\n"
			     "  - name: web\n"
			     "    protocol: tcp\n"
			     "    external_port: 8080\n"
			     "    internal_ip: 10.0.0.7\n"
			     "    internal_port: 80\n";

static char tmpdir[64], in_path[128], out_path[128];
static struct nat_engine *eng;

static void setup(void)
{
	struct nat_config cfg;
	char err[512];
	snprintf(tmpdir, sizeof tmpdir, "/tmp/glassnat-replay-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(in_path, sizeof in_path, "%s/in.cap", tmpdir);
	snprintf(out_path, sizeof out_path, "%s/out.pcapng", tmpdir);
	cr_assert_eq(nat_config_load_mem("test.yaml", CONFIG, sizeof CONFIG - 1,
					 &cfg, err, sizeof err),
		     0, "%s", err);
	eng = nat_engine_create(&cfg, err, sizeof err);
	cr_assert_not_null(eng, "%s", err);
	nat_config_free(&cfg);
}

static void teardown(void)
{
	char cmd[128];
	nat_engine_destroy(eng);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

/* ---- input writers ---- */

static struct pcapng_w *ng_open(FILE **f)
{
	char err[256];
	struct pcapng_w *w;
	*f = fopen(in_path, "wb");
	cr_assert_not_null(*f);
	w = pcapng_w_open_file(*f, err, sizeof err);
	cr_assert_not_null(w, "%s", err);
	return w;
}

static void ng_pkt(struct pcapng_w *w, uint32_t ifid, uint64_t ts,
		   const uint8_t *d, size_t n, uint32_t flags)
{
	char err[256];
	cr_assert_eq(pcapng_w_packet(w, ifid, ts, d, n, n, flags, NULL, err,
				     sizeof err),
		     0, "%s", err);
}

static void ng_if(struct pcapng_w *w, const char *name, uint16_t lt)
{
	char err[256];
	cr_assert_geq(pcapng_w_interface(w, name, lt, err, sizeof err), 0);
}

/* Prefixes an IP packet with a link-layer header. */
static size_t frame(uint8_t *out, const uint8_t *hdr, size_t hlen,
		    const uint8_t *ip, size_t iplen)
{
	memcpy(out, hdr, hlen);
	memcpy(out + hlen, ip, iplen);
	return hlen + iplen;
}

/* ---- reading the output back ---- */

struct outpkt {
	uint8_t data[256];
	uint32_t len, flags;
	uint64_t ts;
	char comment[256];
};

static size_t read_out(struct outpkt *o, size_t max)
{
	char err[CAP_ERRBUF_SIZE];
	struct cap_source src;
	struct cap_reader *r;
	struct cap_packet p;
	size_t n = 0;
	int rc;
	FILE *f = fopen(out_path, "rb");
	cr_assert_not_null(f);
	cap_source_file(&src, f);
	r = cap_open(&src, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	while ((rc = cap_next(r, &p, err, sizeof err)) == 1) {
		cr_assert_lt(n, max);
		cr_assert_str_eq(p.if_name, "post-nat");
		cr_assert_eq(p.linktype, 101);
		o[n].len = p.caplen < 256 ? p.caplen : 256;
		memcpy(o[n].data, p.data, o[n].len);
		o[n].flags = p.flags;
		o[n].ts = p.ts_ns;
		snprintf(o[n].comment, sizeof o[n].comment, "%s",
			 p.comment ? p.comment : "");
		n++;
	}
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(cap_iface_count(r), 1);
	cap_close(r);
	fclose(f);
	return n;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int run(struct nat_replay_result *res, char *err, size_t errlen)
{
	struct nat_replay_opts o = { .in_path = in_path, .out_path = out_path };
	return nat_replay_run(eng, &o, res, err, errlen);
}

/* ---- tests ---- */

Test(replay_io, pcapng_directions_translation_and_comments, .init = setup,
     .fini = teardown)
{
	static const uint8_t eth_vlan[] = {
		0,  1,	  2,	3, 4, 5,    6,	  7, 8, 9,    10,
		11, 0x81, 0x00, 0, 5, 0x88, 0xa8, 0, 6, 0x08, 0x00
	}; /* dot1q + qinq tags */
	static const uint8_t sll[] = { 0, 0, 0, 1, 0, 6, 1,    2,
				       3, 4, 5, 6, 0, 0, 0x08, 0x00 };
	static const uint8_t arp_hdr[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0,    1,    2,	   3,
					   4,	 5,    0x08, 0x06 };
	uint8_t ip[128], fr[256];
	size_t n;
	struct outpkt out[8];
	struct nat_replay_result res;
	char err[256];
	FILE *f;
	struct pcapng_w *w = ng_open(&f);

	ng_if(w, "inside", 1);	  /* 0: Ethernet, direction by name */
	ng_if(w, "outside", 113); /* 1: SLL, direction by name */
	ng_if(w, "any", 101);	  /* 2: raw, direction by EPB flags */
	ng_if(w, "weird", 147);	  /* 3: a link type replay cannot read */

	n = tb_udp(ip, INSIDE, 1234, REMOTE, 53, 4);
	ng_pkt(w, 0, 1000000000, fr,
	       frame(fr, eth_vlan, sizeof eth_vlan, ip, n), 0);
	n = tb_udp(ip, REMOTE, 53, NAT_IP, 1234, 4);
	ng_pkt(w, 1, 1100000000, fr, frame(fr, sll, sizeof sll, ip, n), 0);
	ng_pkt(w, 0, 1200000000, fr, frame(fr, arp_hdr, sizeof arp_hdr, ip, 28),
	       0);
	ng_pkt(w, 3, 1300000000, ip, n, 0);
	/* unsolicited inbound: dropped, not written */
	n = tb_udp(ip, REMOTE, 53, NAT_IP, 999, 4);
	ng_pkt(w, 2, 1400000000, ip, n, PCAPNG_W_DIR_IN);
	/* through the forward, direction from the flag */
	n = tb_tcp(ip, REMOTE, 5555, NAT_IP, 8080, 0x02 /* SYN */, 0);
	ng_pkt(w, 2, 1500000000, ip, n, PCAPNG_W_DIR_IN);
	pcapng_w_close(w);
	fclose(f);

	cr_assert_eq(run(&res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.records, 6);
	cr_assert_eq(res.skipped, 2);
	cr_assert_eq(res.unknown_link, 1);
	cr_assert_eq(res.unknown_dir, 0);
	cr_assert_eq(res.written, 3);
	cr_assert_eq(nat_engine_stats(eng)->dropped, 1);

	cr_assert_eq(read_out(out, 8), 3);
	/* outbound: source translated, comment names flow, dir and rule */
	cr_assert_eq(tb_src(out[0].data), NAT_IP);
	cr_assert_eq(tb_sport(out[0].data), 1234); /* port preserved */
	cr_assert(tb_ip_ok(out[0].data));
	cr_assert(tb_l4_ok(out[0].data));
	cr_assert_eq(out[0].flags, PCAPNG_W_DIR_OUT);
	cr_assert_eq(out[0].ts, 1000000000);
	cr_assert_str_eq(out[0].comment,
			 "flow=1 dir=out verdict=nat rule=internet");
	/* the reply: destination back to the inside host */
	cr_assert_eq(tb_dst(out[1].data), INSIDE);
	cr_assert_eq(tb_dport(out[1].data), 1234);
	cr_assert(tb_l4_ok(out[1].data));
	cr_assert_eq(out[1].flags, PCAPNG_W_DIR_IN);
	cr_assert(starts_with(out[1].comment, "flow=1 dir=in verdict=nat"),
		  "%s", out[1].comment);
	/* the forward */
	cr_assert_eq(tb_dst(out[2].data), IP4(10, 0, 0, 7));
	cr_assert_eq(tb_dport(out[2].data), 80);
	cr_assert_not_null(strstr(out[2].comment, " rule=forward:web"), "%s",
			   out[2].comment);
	cr_assert_not_null(strstr(out[2].comment, "dir=in"), "%s",
			   out[2].comment);
}

/* Classic pcap, one file per link type, direction by classification. */
static void pcap_file(uint32_t linktype, bool be, const uint8_t *hdr,
		      size_t hlen, const uint8_t *ip, size_t iplen)
{
	uint8_t h[24], rec[16];
	uint32_t v32[6] = { 0xA1B2C3D4u, 0, 0, 0, 262144, linktype };
	FILE *f = fopen(in_path, "wb");
	cr_assert_not_null(f);
	for (int i = 0; i < 6; i++) {
		uint32_t v = be ? htonl(v32[i]) : v32[i];
		if (be && i == 1)
			v = htonl(2u << 16 | 4u); /* version 2.4 */
		if (!be && i == 1)
			v = 2u | 4u << 16;
		memcpy(h + 4 * i, &v, 4);
	}
	cr_assert_eq(fwrite(h, 1, 24, f), 24);
	{
		uint32_t r[4] = { 100, 5, (uint32_t)(hlen + iplen),
				  (uint32_t)(hlen + iplen) };
		for (int i = 0; i < 4; i++) {
			uint32_t v = be ? htonl(r[i]) : r[i];
			memcpy(rec + 4 * i, &v, 4);
		}
	}
	cr_assert_eq(fwrite(rec, 1, 16, f), 16);
	cr_assert_eq(fwrite(hdr, 1, hlen, f), hlen);
	cr_assert_eq(fwrite(ip, 1, iplen, f), iplen);
	fclose(f);
}

Test(replay_io, pcap_link_types_are_decapsulated, .init = setup,
     .fini = teardown)
{
	static const uint8_t null_le[] = { 2, 0, 0, 0 };
	static const uint8_t loop_be[] = { 0, 0, 0, 2 };
	static const uint8_t sll2[20] = { 0x08, 0x00 };
	static const uint8_t none[1] = { 0 };
	struct {
		uint32_t lt;
		const uint8_t *hdr;
		size_t hlen;
	} cases[] = {
		{ 0, null_le, 4 }, { 108, loop_be, 4 }, { 276, sll2, 20 },
		{ 228, none, 0 },  { 12, none, 0 },	{ 14, none, 0 },
		{ 101, none, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t ip[64];
		struct outpkt out[2];
		struct nat_replay_result res;
		char err[256];
		size_t n = tb_tcp(ip, INSIDE, (uint16_t)(2000 + i), REMOTE, 443,
				  0x02 /* SYN */, 0);
		pcap_file(cases[i].lt, i % 2, cases[i].hdr, cases[i].hlen, ip,
			  n);
		cr_assert_eq(run(&res, err, sizeof err), 0, "%s", err);
		cr_assert_eq(res.records, 1);
		cr_assert_eq(res.skipped, 0, "link type %u", cases[i].lt);
		cr_assert_eq(res.written, 1, "link type %u", cases[i].lt);
		cr_assert_eq(read_out(out, 2), 1);
		cr_assert_eq(tb_src(out[0].data), NAT_IP, "link type %u",
			     cases[i].lt);
		cr_assert_eq(out[0].len, n);
		cr_assert_eq(out[0].ts, 100000005000ull);
		cr_assert(starts_with(out[0].comment, "flow="));
		cr_assert_not_null(strstr(out[0].comment, " dir=out "));
	}
}

Test(replay_io, ipv6_is_handed_to_the_engine_and_passed, .init = setup,
     .fini = teardown)
{
	uint8_t ip6[40] = { 0x60, 0, 0, 0, 0, 0, 59, 64 };
	struct outpkt out[2];
	struct nat_replay_result res;
	char err[256];
	char want[64];

	pcap_file(101, false, ip6, 0, ip6, sizeof ip6);
	cr_assert_eq(run(&res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.ipv6, 1);
	cr_assert_eq(res.unknown_dir, 0);
	cr_assert_eq(nat_engine_stats(eng)->by_reason[NAT_R_IPV6], 1);
	cr_assert_eq(read_out(out, 2), 1); /* default policy: pass */
	snprintf(want, sizeof want, "verdict=%s reason=%s",
		 nat_verdict_name(NAT_V_PASS), nat_reason_name(NAT_R_IPV6));
	cr_assert_not_null(strstr(out[0].comment, want), "%s", out[0].comment);
	cr_assert_eq(memcmp(out[0].data, ip6, sizeof ip6), 0);
}

Test(replay_io, undecidable_direction_is_counted, .init = setup,
     .fini = teardown)
{
	uint8_t ip[64];
	struct nat_replay_result res;
	char err[256];
	size_t n = tb_udp(ip, IP4(1, 2, 3, 4), 1, IP4(5, 6, 7, 8), 2, 0);
	pcap_file(101, true, ip, 0, ip, n);
	cr_assert_eq(run(&res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.unknown_dir, 1);
	cr_assert_eq(res.records, 1);
}

Test(replay_io, damaged_input_keeps_what_came_before, .init = setup,
     .fini = teardown)
{
	uint8_t ip[64];
	struct outpkt out[4];
	struct nat_replay_result res;
	char err[256], want[200];
	FILE *f;
	long cut = 0;
	struct pcapng_w *w = ng_open(&f);
	size_t n;

	ng_if(w, "inside", 101);
	for (int i = 0; i < 3; i++) {
		n = tb_udp(ip, INSIDE, (uint16_t)(3000 + i), REMOTE, 53, 0);
		ng_pkt(w, 0, (uint64_t)i, ip, n, 0);
		if (i == 1)
			cut = ftell(f);
	}
	pcapng_w_close(w);
	fclose(f);
	cr_assert_eq(truncate(in_path, cut + 30), 0);

	cr_assert_eq(run(&res, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: offset %ld: truncated block", in_path,
		 cut);
	cr_assert(starts_with(err, want), "\"%s\" vs \"%s\"", err, want);
	cr_assert_eq(res.records, 2);
	cr_assert_eq(res.written, 2);
	cr_assert_eq(read_out(out, 4), 2);
	cr_assert_eq(tb_sport(out[1].data), 3001);
}

Test(replay_io, unreadable_input_is_an_error, .init = setup, .fini = teardown)
{
	struct nat_replay_result res;
	char err[256], want[200];
	FILE *f = fopen(in_path, "wb");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(run(&res, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: offset 0: empty file", in_path);
	cr_assert_str_eq(err, want);
	unlink(in_path);
	cr_assert_eq(run(&res, err, sizeof err), -1);
	cr_assert(starts_with(err, in_path));
}

Test(replay_io, summary_lists_reasons_by_name, .init = setup, .fini = teardown)
{
	uint8_t ip[64];
	struct nat_replay_result res;
	struct nat_replay_opts o = { .in_path = in_path, .out_path = NULL };
	char err[256], *text = NULL, line[128];
	size_t tlen = 0;
	FILE *m;
	size_t n = tb_udp(ip, REMOTE, 53, NAT_IP, 999, 0);

	pcap_file(101, false, ip, 0, ip, n); /* unsolicited: no_mapping */
	cr_assert_eq(nat_replay_run(eng, &o, &res, err, sizeof err), 0, "%s",
		     err);
	cr_assert_eq(res.written, 0);
	m = open_memstream(&text, &tlen);
	nat_replay_print_summary(m, &o, &res, nat_engine_stats(eng));
	fclose(m);
	cr_assert_not_null(strstr(text, "records read"), "%s", text);
	snprintf(line, sizeof line, "    %-26s %12d\n",
		 nat_reason_name(NAT_R_NO_MAPPING), 1);
	cr_assert_not_null(strstr(text, line), "%s", text);
	cr_assert_null(strstr(text, nat_reason_name(NAT_R_TABLE_FULL)), "%s",
		       text);
	free(text);
}
