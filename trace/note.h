/* The trace note: the "key=value" comment on every packet glassnat
 * writes (trace rings and replay output) and natdump reads. One codec:
 * the tracer, replay and natdump all go through this file.
 * docs/trace-format.md is the contract.
 *
 *   flow=42 stage=post dir=out verdict=nat reason=R rule=NAME hairpin=1
 *       map=192.0.2.1:40001
 *
 * Keys are separated by single spaces, each key from its value by the
 * first '='. Unknown keys are skipped when decoding, so keys may be added. */
#ifndef GLASSNAT_TRACE_NOTE_H
#define GLASSNAT_TRACE_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TRACE_NOTE_WORD_MAX = 32,  /* verdict, bytes with the NUL */
	TRACE_NOTE_REASON_MAX = 64,
	TRACE_NOTE_NAME_MAX = 192, /* rule / forward name, decoded */
	/* Room for any note whose strings fit their fields, every name byte
	 * percent-encoded. */
	TRACE_NOTE_MAX = 1024,
};

enum trace_note_stage {
	TRACE_NOTE_STAGE_NONE = 0, /* not written (replay output) */
	TRACE_NOTE_PRE,
	TRACE_NOTE_POST,
};

enum trace_note_dir {
	TRACE_NOTE_DIR_UNKNOWN = 0, /* written "unknown" */
	TRACE_NOTE_OUT,
	TRACE_NOTE_IN,
};

/* The facts of one note. Strings are NUL-terminated and decoded; "" means
 * absent (verdict is always written, even when ""). */
struct trace_note {
	uint64_t flow;
	bool has_flow; /* decode: a valid flow= key was read */
	uint8_t stage; /* enum trace_note_stage */
	uint8_t dir;   /* enum trace_note_dir */
	bool has_rule; /* rule= is written, even with an empty name */
	bool forward;  /* the rule is a port forward: "rule=forward:NAME" */
	bool hairpin;
	bool has_map;
	uint32_t map_ip; /* host order */
	uint16_t map_port;
	char verdict[TRACE_NOTE_WORD_MAX];
	char reason[TRACE_NOTE_REASON_MAX];
	char rule[TRACE_NOTE_NAME_MAX];
};

/* How the encoder spells a note. Both decode to the same struct.
 * TRACE_NOTE_ENCODED is the contract (docs/trace-format.md): keys in the
 * documented order (reason before rule), names percent-encoded.
 * TRACE_NOTE_REPLAY_V1 is what `glassnat replay` has always written to its
 * output: rule before reason, names as they are (spaces included). It is
 * kept so replay output stays byte for byte what it was; the decoder reads
 * it (see trace_note_decode). */
enum trace_note_form { TRACE_NOTE_ENCODED, TRACE_NOTE_REPLAY_V1 };

/* Writes the note n into buf (cap bytes, NUL-terminated). Optional keys are
 * written when set: stage when not NONE, reason when not "", rule when
 * has_rule, hairpin when true, map when has_map. Returns the length without
 * the NUL, or -1 when cap is too small (buf then holds ""). cap >=
 * TRACE_NOTE_MAX is always enough. */
int trace_note_encode(const struct trace_note *n, enum trace_note_form form,
		      char *buf, size_t cap) __attribute__((warn_unused_result));

/* Percent-encodes n bytes of s as a note value: space, '%', '=' and
 * control bytes (< 0x20, 0x7f) become %XX (upper-case hex), every other
 * byte (UTF-8 included) is kept. Writes at most cap-1 bytes plus a NUL,
 * never splitting an escape; returns the length written. */
size_t trace_note_encode_value(char *dst, size_t cap, const char *s, size_t n);

/* Reads the note in s[0..len) (need not be NUL-terminated; NULL with len 0
 * is an empty note) into *n, never reading past len. Values longer than
 * their field are cut to it. Returns 0 for a well-formed glassnat note;
 * -1 with the first problem in errbuf ("no flow key", "map: bad value
 * 'x'") otherwise. Either way *n holds every field that could be read:
 * n->has_flow says whether the note names a flow. */
int trace_note_decode(struct trace_note *n, const char *s, size_t len,
		      char *errbuf, size_t errlen);

#endif
