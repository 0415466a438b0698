/* The trace note codec: the exact bytes the tracer and replay write, a
 * round trip over random notes (fixed seed), the spellings earlier
 * versions wrote, and malformed notes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "note.h"

static struct trace_note note(uint64_t flow, uint8_t stage, uint8_t dir,
			      const char *verdict)
{
	struct trace_note n;
	memset(&n, 0, sizeof n);
	n.flow = flow;
	n.stage = stage;
	n.dir = dir;
	snprintf(n.verdict, sizeof n.verdict, "%s", verdict);
	return n;
}

static void set_rule(struct trace_note *n, bool forward, const char *name)
{
	n->has_rule = true;
	n->forward = forward;
	snprintf(n->rule, sizeof n->rule, "%s", name);
}

static void expect_encoding(const struct trace_note *n,
			    enum trace_note_form form, const char *want)
{
	char buf[TRACE_NOTE_MAX];
	int len = trace_note_encode(n, form, buf, sizeof buf);
	cr_assert_eq(len, (int)strlen(want), "length %d for '%s'", len, buf);
	cr_assert_str_eq(buf, want);
}

Test(note, encode_value_escapes_space_percent_equals_controls_only)
{
	char out[128];
	const char *in = "인터넷 a=b%c\t\x7f:/-";
	trace_note_encode_value(out, sizeof out, in, strlen(in));
	cr_assert_str_eq(out, "인터넷%20a%3Db%25c%09%7F:/-");
	/* never splits an escape */
	trace_note_encode_value(out, 5, "a b", 3);
	cr_assert_str_eq(out, "a%20");
	trace_note_encode_value(out, 4, "a b", 3);
	cr_assert_str_eq(out, "a");
}

Test(note, tracer_spelling_has_stage_reason_before_rule_and_encoded_names)
{
	struct trace_note n = note(42, TRACE_NOTE_POST, TRACE_NOTE_OUT, "nat");
	set_rule(&n, false, "internet");
	n.has_map = true;
	n.map_ip = 0xc0a82d39u;
	n.map_port = 40001;
	expect_encoding(&n, TRACE_NOTE_ENCODED,
			"flow=42 stage=post dir=out verdict=nat rule=internet "
			"map=192.168.45.57:40001");

	n = note(9, TRACE_NOTE_PRE, TRACE_NOTE_DIR_UNKNOWN, "pass");
	snprintf(n.reason, sizeof n.reason, "to_host");
	set_rule(&n, true, "Web Server");
	n.hairpin = true;
	expect_encoding(&n, TRACE_NOTE_ENCODED,
			"flow=9 stage=pre dir=unknown verdict=pass "
			"reason=to_host rule=forward:Web%20Server hairpin=1");
}

Test(note, replay_spelling_has_no_stage_rule_before_reason_and_raw_names)
{
	struct trace_note n = note(2, TRACE_NOTE_STAGE_NONE, TRACE_NOTE_OUT,
				   "pass");
	set_rule(&n, false, "호스트 네트워크");
	snprintf(n.reason, sizeof n.reason, "to_host");
	expect_encoding(&n, TRACE_NOTE_REPLAY_V1,
			"flow=2 dir=out verdict=pass rule=호스트 네트워크 "
			"reason=to_host");
	n = note(0, TRACE_NOTE_STAGE_NONE, TRACE_NOTE_IN, "pass");
	snprintf(n.reason, sizeof n.reason, "not_ours");
	expect_encoding(&n, TRACE_NOTE_REPLAY_V1,
			"flow=0 dir=in verdict=pass reason=not_ours");
}

Test(note, encode_refuses_a_buffer_too_small)
{
	char buf[16];
	struct trace_note n = note(123456789, TRACE_NOTE_PRE, TRACE_NOTE_IN,
				   "drop");
	memset(buf, 'x', sizeof buf);
	cr_assert_eq(trace_note_encode(&n, TRACE_NOTE_ENCODED, buf, sizeof buf),
		     -1);
	cr_assert_str_eq(buf, "", "a refused note leaves an empty string");
	cr_assert_eq(trace_note_encode(&n, TRACE_NOTE_ENCODED, buf, 0), -1);
}

static void random_name(char *s, size_t cap, unsigned *seed)
{
	/* every byte but NUL, weighted toward the ones that need escaping */
	static const char special[] = " %=\t\x7f:";
	size_t n = (size_t)rand_r(seed) % (cap - 1);
	for (size_t i = 0; i < n; i++) {
		int r = rand_r(seed);
		s[i] = r % 3 ? (char)(1 + (r >> 4) % 255)
			     : special[(r >> 4) % (sizeof special - 1)];
	}
	s[n] = '\0';
}

Test(note, random_notes_round_trip_through_the_encoded_spelling)
{
	unsigned seed = 20261201;
	for (int i = 0; i < 5000; i++) {
		struct trace_note a, b;
		char buf[TRACE_NOTE_MAX], err[128];
		memset(&a, 0, sizeof a);
		a.flow = (uint64_t)rand_r(&seed) << 33 ^ (uint64_t)rand_r(&seed);
		a.stage = (uint8_t)(rand_r(&seed) % 3);
		a.dir = (uint8_t)(rand_r(&seed) % 3);
		random_name(a.verdict, sizeof a.verdict, &seed);
		random_name(a.reason, sizeof a.reason, &seed);
		if ((a.has_rule = rand_r(&seed) % 2)) {
			a.forward = rand_r(&seed) % 2;
			random_name(a.rule, sizeof a.rule, &seed);
		}
		a.hairpin = rand_r(&seed) % 2;
		if ((a.has_map = rand_r(&seed) % 2)) {
			a.map_ip = (uint32_t)rand_r(&seed) * 2654435761u;
			a.map_port = (uint16_t)rand_r(&seed);
		}
		int len = trace_note_encode(&a, TRACE_NOTE_ENCODED, buf,
					    sizeof buf);
		cr_assert_gt(len, 0, "note %d did not fit", i);
		cr_assert_null(memchr(buf, '\n', (size_t)len));
		cr_assert_eq(trace_note_decode(&b, buf, (size_t)len, err,
					       sizeof err),
			     0, "note %d '%s': %s", i, buf, err);
		a.has_flow = true;
		cr_assert_eq(memcmp(&a, &b, sizeof a), 0,
			     "note %d changed in a round trip: '%s'", i, buf);
	}
}

Test(note, decodes_replay_notes_with_unencoded_spaces)
{
	struct trace_note n;
	char err[128];
	const char *s = "flow=2 dir=out verdict=bypass rule=호스트 네트워크 "
			"reason=to_host";
	cr_assert_eq(trace_note_decode(&n, s, strlen(s), err, sizeof err), 0,
		     "%s", err);
	cr_assert_eq(n.stage, TRACE_NOTE_STAGE_NONE);
	cr_assert_str_eq(n.rule, "호스트 네트워크");
	cr_assert_str_eq(n.reason, "to_host");
	s = "flow=3 dir=in verdict=nat rule=forward:DNS over TCP";
	cr_assert_eq(trace_note_decode(&n, s, strlen(s), err, sizeof err), 0);
	cr_assert(n.forward);
	cr_assert_str_eq(n.rule, "DNS over TCP");
	s = "flow=4 dir=in verdict=nat rule=forward%3Aweb";
	cr_assert_eq(trace_note_decode(&n, s, strlen(s), err, sizeof err), 0);
	cr_assert(n.forward, "the prefix is read after decoding");
	cr_assert_str_eq(n.rule, "web");
}

Test(note, decode_reads_only_len_bytes)
{
	struct trace_note n;
	char err[128];
	char s[] = { 'f', 'l', 'o', 'w', '=', '1', '2', '3' }; /* no NUL */
	cr_assert_eq(trace_note_decode(&n, s, 6, err, sizeof err), 0);
	cr_assert_eq(n.flow, 1);
	cr_assert_eq(trace_note_decode(&n, s, sizeof s, err, sizeof err), 0);
	cr_assert_eq(n.flow, 123);
	cr_assert_eq(trace_note_decode(&n, NULL, 0, err, sizeof err), -1);
	cr_assert_str_eq(err, "no flow key");
}

Test(note, malformed_notes_name_their_problem_and_keep_the_rest)
{
	static const struct {
		const char *in, *err;
		bool has_flow;
	} cases[] = {
		{ "captured on eth0", "no flow key", false },
		{ "", "no flow key", false },
		{ "flow=abc stage=pre", "flow: bad id 'abc'", false },
		{ "flow=99999999999999999999999", "flow: bad id", false },
		{ "flow=18446744073709551616", "flow: bad id", false },
		{ "flow=", "flow: bad id ''", false },
		{ "flow=1 stage=middle", "stage: unknown value", true },
		{ "flow=1 dir=sideways", "dir: unknown value", true },
		{ "flow=1 hairpin=yes", "hairpin: not 0 or 1", true },
		{ "flow=1 map=1.2.3.4", "map: bad endpoint", true },
		{ "flow=1 map=1.2.3.256:5", "map: bad endpoint", true },
		{ "flow=1 map=1.2.3.4:65536", "map: bad endpoint", true },
		{ "flow=1 map=1.2.3:4", "map: bad endpoint", true },
		{ "flow=1 map=1.2.3.4:5x", "map: bad endpoint", true },
		{ "flow=1 map=:", "map: bad endpoint", true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct trace_note n;
		char err[128];
		const char *s = cases[i].in;
		cr_assert_eq(trace_note_decode(&n, s, strlen(s), err,
					       sizeof err),
			     -1, "'%s' accepted", s);
		cr_assert(strncmp(err, cases[i].err, strlen(cases[i].err)) ==
				  0,
			  "'%s': error '%s', want '%s'", s, err, cases[i].err);
		cr_assert_eq(n.has_flow, cases[i].has_flow, "'%s'", s);
		cr_assert(!n.has_map, "'%s'", s);
	}
}

Test(note, unknown_keys_and_bad_escapes_are_tolerated)
{
	struct trace_note n;
	char err[128];
	const char *s = "flow=7 future=x%ZZ stage=pre dir=unknown verdict=drop "
			"reason=a%2 rule=50%";
	cr_assert_eq(trace_note_decode(&n, s, strlen(s), err, sizeof err), 0,
		     "%s", err);
	cr_assert_eq(n.dir, TRACE_NOTE_DIR_UNKNOWN);
	cr_assert_str_eq(n.reason, "a%2");
	cr_assert_str_eq(n.rule, "50%");
}

Test(note, long_values_are_cut_to_their_field)
{
	char s[600];
	struct trace_note n;
	char err[128];
	int o = snprintf(s, sizeof s, "flow=1 rule=");
	memset(s + o, 'r', 400);
	s[o + 400] = '\0';
	cr_assert_eq(trace_note_decode(&n, s, strlen(s), err, sizeof err), 0);
	cr_assert_eq(strlen(n.rule), TRACE_NOTE_NAME_MAX - 1);
}
