/* natdump's comment parser and formatters (the modules are included
 * whole: natdump is a program, not part of the library). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	char out[16];
	nd_pct_decode(out, sizeof out, "a%2", 3);
	cr_assert_str_eq(out, "a%2");
	nd_pct_decode(out, sizeof out, "%zz%41", 6);
	cr_assert_str_eq(out, "%zzA");
	nd_pct_decode(out, 4, "abcdef", 6);
	cr_assert_str_eq(out, "abc", "clipped to the buffer");
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
