/* natdump's comment parser and formatters (the modules are included
 * whole: natdump is a program, not part of the library). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "linktype.h"
#include "pcapng_write.h"
#include "pktbuild.h"
#include "replay.h"

#include "../../tools/natdump/nd_note.c"
#include "../../tools/natdump/nd_out.c"
#include "../../tools/natdump/nd_reasons.c"

Test(natdump, comment_pre_with_all_keys)
{
	struct nd_note n;
	nd_note_parse(&n, "flow=42 stage=post dir=out verdict=nat rule=internet "
			  "map=192.168.45.57:40001 hairpin=1");
	cr_assert(n.glassnat);
	cr_assert_eq(n.flow, 42);
	cr_assert_eq(n.stage, ND_STAGE_POST);
	cr_assert_eq(n.dir, ND_DIR_OUT);
	cr_assert_str_eq(n.verdict, "nat");
	cr_assert_str_eq(n.rule, "internet");
	cr_assert(n.has_map);
	cr_assert_eq(n.map_ip, 0xc0a82d39u);
	cr_assert_eq(n.map_port, 40001);
	cr_assert(n.hairpin);
}

Test(natdump, comment_values_are_percent_decoded)
{
	struct nd_note n;
	nd_note_parse(&n, "flow=1 stage=pre dir=in verdict=drop "
			  "rule=forward:my%20web%3dsite%25 reason=no_mapping");
	cr_assert_str_eq(n.rule, "forward:my web=site%");
	cr_assert_str_eq(n.reason, "no_mapping");
	cr_assert_eq(n.dir, ND_DIR_IN);
}

Test(natdump, replay_comment_with_unencoded_space_and_utf8)
{
	struct nd_note n;
	nd_note_parse(&n, "flow=2 dir=out verdict=bypass rule=호스트 네트워크");
	cr_assert_eq(n.stage, ND_STAGE_NONE);
	cr_assert_str_eq(n.rule, "호스트 네트워크");
}

Test(natdump, not_a_glassnat_comment)
{
	struct nd_note n;
	nd_note_parse(&n, "captured on eth0");
	cr_assert(!n.glassnat);
	nd_note_parse(&n, NULL);
	cr_assert(!n.glassnat);
	nd_note_parse(&n, "flow=abc stage=pre");
	cr_assert(!n.glassnat, "a bad flow id is not a glassnat comment");
	nd_note_parse(&n, "flow=99999999999999999999999");
	cr_assert(!n.glassnat, "overflow rejected");
}

Test(natdump, bad_percent_escapes_are_kept)
{
	struct nd_note n;
	nd_note_parse(&n, "flow=1 reason=a%2 rule=%zz%41");
	cr_assert_str_eq(n.reason, "a%2");
	cr_assert_str_eq(n.rule, "%zzA");
}

Test(natdump, a_bad_map_keeps_the_flow)
{
	struct nd_note n;
	nd_note_parse(&n, "flow=5 stage=post dir=out verdict=nat map=1.2.3.4");
	cr_assert(n.glassnat);
	cr_assert_eq(n.flow, 5);
	cr_assert(!n.has_map);
}

Test(natdump, headers_of_raw_and_ethernet_packets)
{
	uint8_t eth[14 + 40] = {0};
	struct nd_hdr h;
	uint8_t *ip = eth + 14;
	eth[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[9] = 6;
	ip[12] = 10, ip[15] = 2;
	ip[16] = 198, ip[17] = 51, ip[18] = 100, ip[19] = 10;
	ip[20] = 0x9c, ip[21] = 0x40; /* 40000 */
	ip[23] = 80;
	ip[24] = 0, ip[27] = 7; /* seq 7 */
	ip[32] = 0x50;
	ip[33] = 0x12;
	nd_hdr_parse(&h, ip, 40, 101);
	cr_assert(h.ip && h.ports);
	cr_assert_eq(h.src, 0x0a000002u);
	cr_assert_eq(h.sport, 40000);
	cr_assert_eq(h.dport, 80);
	cr_assert_eq(h.seq, 7);
	cr_assert_eq(h.tcp_flags, 0x12);
	nd_hdr_parse(&h, eth, sizeof eth, 1);
	cr_assert(h.ip && h.sport == 40000, "Ethernet");
	nd_hdr_parse(&h, ip, 30, 101);
	cr_assert(h.ip && !h.ports, "truncated TCP: addresses only");
	nd_hdr_parse(&h, ip, 10, 101);
	cr_assert(!h.ip);
}

/* One capture with a frame per link type and framing, VLAN stacks and
 * non-IP frames included: every packet replay translates is one natdump
 * decodes, with the same addresses and ports, and nothing else. */
Test(natdump, reads_every_frame_replay_reads)
{
	static const char config[] = "nat_ip: 203.0.113.1\n"
				     "internal_network: 10.0.0.0/24\n";
	static const uint8_t eth[14] = { [12] = 0x08 };
	static const uint8_t vlan[18] = { [12] = 0x81, [16] = 0x08 };
	static const uint8_t qinq[22] = { [12] = 0x88, 0xa8,
					  [16] = 0x81, [20] = 0x08 };
	static const uint8_t q9100[22] = { [12] = 0x91, [16] = 0x91,
					   [20] = 0x08 };
	static const uint8_t arp[14] = { [12] = 0x08, 0x06 };
	static const uint8_t sll[16] = { [14] = 0x08 };
	static const uint8_t sll2[20] = { [0] = 0x08 };
	static const uint8_t null_le[4] = { 2 }, loop_be[4] = { 0, 0, 0, 2 };
	static const uint8_t loop_bad[4] = { 0, 0, 0, 7 };
	static const struct {
		uint16_t lt;
		const uint8_t *hdr;
		size_t hlen;
	} cases[] = {
		{ TRACE_LT_ETHERNET, eth, 14 },	  { TRACE_LT_ETHERNET, vlan, 18 },
		{ TRACE_LT_ETHERNET, qinq, 22 },  { TRACE_LT_ETHERNET, q9100, 22 },
		{ TRACE_LT_ETHERNET, arp, 14 },	  { TRACE_LT_LINUX_SLL, sll, 16 },
		{ TRACE_LT_LINUX_SLL2, sll2, 20 }, { TRACE_LT_NULL, null_le, 4 },
		{ TRACE_LT_LOOP, loop_be, 4 },	  { TRACE_LT_LOOP, loop_bad, 4 },
		{ TRACE_LT_RAW, NULL, 0 },	  { TRACE_LT_DLT_RAW14, NULL, 0 },
		{ TRACE_LT_IPV4, NULL, 0 },	  { 147, NULL, 0 },
	};
	enum { N = sizeof cases / sizeof cases[0] };
	char dir[] = "/tmp/nd-replay-XXXXXX", in[64], out[64], err[512];
	struct nat_config cfg;
	struct nat_engine *e;
	struct pcapng_w *w;
	FILE *f;
	bool replayed[N] = { false };
	size_t ndecoded = 0;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(in, sizeof in, "%s/in.pcapng", dir);
	snprintf(out, sizeof out, "%s/out.pcapng", dir);
	f = fopen(in, "wb");
	cr_assert_not_null(f);
	w = pcapng_w_open_file(f, err, sizeof err);
	cr_assert_not_null(w, "%s", err);
	for (size_t i = 0; i < N; i++) {
		uint8_t fr[128];
		size_t n;
		cr_assert_eq(pcapng_w_interface(w, "inside", cases[i].lt, err,
						sizeof err),
			     (int)i, "%s", err);
		if (cases[i].hlen)
			memcpy(fr, cases[i].hdr, cases[i].hlen);
		n = cases[i].hlen + tb_tcp(fr + cases[i].hlen, IP4(10, 0, 0, 5),
					   (uint16_t)(1000 + i),
					   IP4(8, 8, 8, 8), 443, 0x02, 0);
		cr_assert_eq(pcapng_w_packet(w, (uint32_t)i, 1000 + i, fr, n, n,
					     PCAPNG_W_DIR_OUT, NULL, err,
					     sizeof err),
			     0, "%s", err);
	}
	pcapng_w_close(w);
	cr_assert_eq(fclose(f), 0);

	/* replay: which packets were translated (their source port) */
	cr_assert_eq(nat_config_load_mem("t.yaml", config, sizeof config - 1,
					 &cfg, err, sizeof err),
		     0, "%s", err);
	e = nat_engine_create(&cfg, err, sizeof err);
	cr_assert_not_null(e, "%s", err);
	nat_config_free(&cfg);
	struct nat_replay_opts o = { .in_path = in, .out_path = out };
	struct nat_replay_result res;
	cr_assert_eq(nat_replay_run(e, &o, &res, err, sizeof err), 0, "%s",
		     err);
	nat_engine_destroy(e);
	cr_assert_eq(res.records, N);
	cr_assert_eq(res.skipped, 3, "ARP, family 7, link type 147");
	f = fopen(out, "rb");
	cr_assert_not_null(f);
	struct cap_source src;
	cap_source_file(&src, f);
	struct cap_reader *r = cap_open(&src, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	struct cap_packet p;
	while (cap_next(r, &p, err, sizeof err) == 1) {
		cr_assert_lt(p.ts_ns - 1000, (uint64_t)N);
		replayed[p.ts_ns - 1000] = true;
	}
	cap_close(r);
	fclose(f);

	/* natdump on the same input */
	f = fopen(in, "rb");
	cr_assert_not_null(f);
	cap_source_file(&src, f);
	r = cap_open(&src, err, sizeof err);
	cr_assert_not_null(r, "%s", err);
	while (cap_next(r, &p, err, sizeof err) == 1) {
		struct nd_hdr h;
		size_t i = (size_t)(p.ts_ns - 1000);
		cr_assert_lt(i, (size_t)N);
		nd_hdr_parse(&h, p.data, p.caplen, p.linktype);
		cr_assert_eq(h.ip, replayed[i],
			     "frame %zu (link type %u): natdump %s, replay %s",
			     i, p.linktype, h.ip ? "decodes" : "does not",
			     replayed[i] ? "translates" : "skips");
		if (h.ip) {
			ndecoded++;
			cr_assert_eq(h.src, IP4(10, 0, 0, 5), "frame %zu", i);
			cr_assert_eq(h.sport, 1000 + i, "frame %zu", i);
		}
	}
	cap_close(r);
	fclose(f);
	cr_assert_eq(ndecoded, N - 3);
	snprintf(err, sizeof err, "rm -rf '%s'", dir);
	cr_assert_eq(system(err), 0);
}

Test(natdump, formatter_matches_printf)
{
	char path[] = "/tmp/nd-out-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w+");
	struct nd_out o;
	char buf[256];
	size_t n;
	nd_out_init(&o, f);
	nd_u64(&o, 0);
	nd_putc(&o, ' ');
	nd_u64(&o, UINT64_MAX);
	nd_putc(&o, ' ');
	nd_ipport(&o, 0xc0a80001u, 65535);
	nd_putc(&o, ' ');
	nd_time(&o, 1700000000123456789ull);
	nd_putc(&o, ' ');
	nd_json_str(&o, "a\"b\\c\n");
	cr_assert_eq(nd_out_finish(&o), 0);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	cr_assert_str_eq(buf, "0 18446744073709551615 192.168.0.1:65535 "
			      "2023-11-14T22:13:20.123456789Z \"a\\\"b\\\\c\\u000a\"");
	fclose(f);
	unlink(path);
}

Test(natdump, time_arguments)
{
	uint64_t t;
	cr_assert(nd_parse_time("1700000000.5", &t));
	cr_assert_eq(t, 1700000000500000000ull);
	cr_assert(nd_parse_time("2023-11-14T22:13:20.000004Z", &t));
	cr_assert_eq(t, 1700000000000004000ull);
	cr_assert(!nd_parse_time("yesterday", &t));
	cr_assert(!nd_parse_time("2023-13-14T22:13:20Z", &t));
}

/* One record written through nd_record() into buf. */
static void record_to(char *buf, size_t len, const struct nd_field *f,
		      size_t n, bool json)
{
	FILE *tf = tmpfile();
	struct nd_out o;
	size_t got;
	cr_assert_not_null(tf);
	nd_out_init(&o, tf);
	nd_record(&o, f, n, json);
	cr_assert_eq(nd_out_finish(&o), 0);
	rewind(tf);
	got = fread(buf, 1, len - 1, tf);
	buf[got] = '\0';
	fclose(tf);
}

Test(natdump, one_field_list_makes_the_text_line_and_the_json_object)
{
	struct nd_hdr ip = {.ip = true, .src = 0x0a000005u, .dst = 0xc6336407u,
			    .sport = 1000, .dport = 53, .ports = true};
	struct nd_hdr nonip = {.ip = false};
	const struct nd_field f[] = {
		{"id", "", ND_F_U64, true, .u = 42},
		{"rule", " rule=", ND_F_STR, false, .dflt = "-", .s = ""},
		{"name", " name=", ND_F_STR, true, .s = "a\"b"},
		{"pre", " ", ND_F_TUPLE, true, .h = &ip},
		{"post", " > ", ND_F_TUPLE, true, .h = &nonip},
		{"in", " in=", ND_F_EP, true, .ip = 0x0a000005u, .port = 7,
		 .ports = false},
		{"out", " out=", ND_F_EP, false, .dflt = "?"},
		{"bytes", "/", ND_F_U64, true, .suffix = "B", .u = 9},
		{"ns", NULL, ND_F_U64, true, .u = 5},
		{NULL, " text-only=", ND_F_WORD, true, .s = "w"},
		{"hairpin", " hairpin", ND_F_TRUE, true, .u = 0},
		{"gone", " gone=", ND_F_U64, false, .u = 1},
	};
	char buf[512];
	record_to(buf, sizeof buf, f, sizeof f / sizeof f[0], false);
	cr_assert_str_eq(buf, "42 rule=- name=a\"b 10.0.0.5:1000 > "
			      "198.51.100.7:53 > non-ip in=10.0.0.5 out=?/9B "
			      "text-only=w hairpin\n",
			 "text: absent fields show their default, text-only "
			 "fields are written, JSON-only ones are not; got %s",
			 buf);
	record_to(buf, sizeof buf, f, sizeof f / sizeof f[0], true);
	cr_assert_str_eq(buf, "{\"id\":42,\"name\":\"a\\\"b\",\"pre\":{\"src\":"
			      "\"10.0.0.5\",\"dst\":\"198.51.100.7\",\"sport\":"
			      "1000,\"dport\":53},\"in\":{\"ip\":\"10.0.0.5\","
			      "\"port\":7},\"bytes\":9,\"ns\":5,"
			      "\"hairpin\":true}\n",
			 "JSON: absent fields and non-IP tuples are left out, "
			 "strings escaped; got %s",
			 buf);
}

Test(natdump, every_engine_reason_is_explained)
{
	for (int r = NAT_R_NONE + 1; r < NAT_R_MAX; r++) {
		const char *name = nat_reason_name((enum nat_reason)r);
		const struct nd_reason_doc *d = nd_reason_doc(name);
		cr_assert_not_null(d, "reason %d (%s) has no explanation", r,
				   name);
		cr_assert(d->meaning[0] && d->check[0],
			  "reason %s: empty means or check", name);
	}
	cr_assert_null(nd_reason_doc("none"), "none is not a drop reason");
	cr_assert_null(nd_reason_doc("no_such_reason"));
}
