/* natdump internals: the input stream (files and directories merged in
 * time order), glassnat's trace comments, the output buffer and the
 * subcommands. One program, modules prefixed nd_. */
#ifndef GLASSNAT_ND_H
#define GLASSNAT_ND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "capture.h"

/* ---- glassnat trace comments (nd_note.c) ---- */

enum nd_stage { ND_STAGE_NONE = 0, ND_STAGE_PRE, ND_STAGE_POST };
enum nd_dir { ND_DIR_NONE = 0, ND_DIR_OUT, ND_DIR_IN };

enum { ND_NAME_MAX = 192, ND_WORD_MAX = 32 };

/* The facts of one comment "flow=42 stage=pre dir=out verdict=nat
 * rule=internet map=1.2.3.4:5 reason=R hairpin=1". Values are
 * percent-decoded; unknown keys are ignored. */
struct nd_note {
	bool glassnat; /* a flow= key was present */
	bool has_map, hairpin;
	uint8_t stage, dir; /* enum nd_stage, enum nd_dir */
	uint64_t flow;
	uint32_t map_ip; /* host order */
	uint16_t map_port;
	char verdict[ND_WORD_MAX];
	char reason[ND_WORD_MAX * 2];
	char rule[ND_NAME_MAX];
};

/* Parses comment (may be NULL) into *n with the note codec (note.h).
 * Never fails: what is not understood is left out, and n->glassnat is
 * false without a valid flow id. */
void nd_note_parse(struct nd_note *n, const char *comment);

/* ---- packet headers for display (nd_note.c) ---- */

struct nd_hdr {
	bool ip;     /* an IPv4 header was parsed */
	uint8_t proto, tcp_flags;
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	bool ports; /* TCP/UDP/ICMP echo: ports/ids are meaningful */
	uint32_t seq, ack;
	uint16_t payload; /* TCP payload bytes in the capture */
	uint8_t icmp_type, icmp_code;
	/* ICMP errors (3, 11, 12): the quoted packet's tuple, and the
	 * next-hop MTU of a frag-needed (3/4; 0 when the router gave none). */
	bool icmp_err;
	uint16_t mtu;
	struct nd_inner {
		bool ip, ports;
		uint8_t proto;
		uint32_t src, dst;
		uint16_t sport, dport;
	} inner;
};

/* An ICMP type and code in words: "echo-request", "port-unreachable",
 * "frag-needed", "time-exceeded", "reassembly-time-exceeded", ...;
 * "icmp-T/C" into buf (16 bytes) for the rest. */
const char *nd_icmp_name(uint8_t type, uint8_t code, char *buf);
/* "time-exceeded", "frag-needed mtu=1400" for an error header h. */
void nd_icmp_words(const struct nd_hdr *h, char *buf, size_t len);

/* Decodes the headers of an IPv4 packet in a frame of the given link
 * type, decapsulated as replay does (linktype.h); h->ip false when the
 * frame carries no IPv4. */
void nd_hdr_parse(struct nd_hdr *h, const uint8_t *data, size_t caplen,
		  uint32_t linktype);

/* ---- one packet as the commands see it ---- */

struct nd_pkt {
	const uint8_t *data;
	uint32_t caplen, len;
	uint64_t ts_ns;
	uint32_t linktype, ifindex, section, has, flags;
	uint64_t dropcount;
	const char *if_name, *comment;
	unsigned file; /* index into the input's file list */
	struct nd_note note;
};

/* ---- input (nd_input.c) ---- */

struct nd_input;

/* Opens the named files and directories (a directory contributes its
 * capture files: *.pcap, *.pcapng, *.cap and those with .zst added; "-"
 * is standard input, once; a pipe or "-" is read in one pass). Files
 * are opened lazily in order of their first timestamp and merged by
 * timestamp, so rings cost one open file at a time. Returns NULL on a
 * usage problem (message on stderr). */
struct nd_input *nd_input_open(char **paths, int n);

/* The next packet in time order. Returns 1, or 0 when every file is done.
 * The packet's bytes are valid until the next call. Damage is reported on
 * stderr as "FILE: offset N: what" and counted; reading goes on with the
 * other files. */
int nd_input_next(struct nd_input *in, struct nd_pkt *p);

unsigned nd_input_files(const struct nd_input *in);
const char *nd_input_path(const struct nd_input *in, unsigned file);
unsigned nd_input_damaged(const struct nd_input *in);
/* Records the captures say they lost (pcapng isb_ifdrop: glassnat's trace
 * rings end each file with one), over every file read so far. */
uint64_t nd_input_ifdrop(const struct nd_input *in);
/* Largest number of files open at once. */
unsigned nd_input_max_open(const struct nd_input *in);
void nd_input_close(struct nd_input *in);

/* ---- output (nd_out.c) ---- */

/* A large buffer flushed to a FILE when full: no printf per field. */
struct nd_out {
	FILE *f;
	char *buf;
	size_t len, cap;
	bool failed;
};

void nd_out_init(struct nd_out *o, FILE *f);
/* Flushes; returns -1 if any write failed. */
int nd_out_finish(struct nd_out *o);
void nd_out_flush(struct nd_out *o);
void nd_puts(struct nd_out *o, const char *s);
void nd_putn(struct nd_out *o, const char *s, size_t n);
void nd_putc(struct nd_out *o, char c);
void nd_u64(struct nd_out *o, uint64_t v);
void nd_ip(struct nd_out *o, uint32_t ip);
void nd_ipport(struct nd_out *o, uint32_t ip, uint16_t port);
/* "2023-11-14T22:13:20.001000000Z" */
void nd_time(struct nd_out *o, uint64_t ts_ns);
/* A JSON string literal, quotes included (UTF-8 passed through). */
void nd_json_str(struct nd_out *o, const char *s);
/* Pads with spaces up to column `col` of the current line. */
void nd_pad(struct nd_out *o, size_t line_start, size_t col);
const char *nd_proto_name(uint8_t proto, char *buf);
/* "S", "SA", "FA", ... in tcpdump's spelling: [S.] [F.] [R] [P.] */
void nd_tcp_flags(struct nd_out *o, uint8_t flags);

/* ---- records: one field list, written as text or as JSON (nd_out.c) ----
 *
 * Each kind of output line (a packet, a flow, a drop group, an event) is
 * described once, as an array of fields; nd_record() writes it either as
 * a text line or as a JSON object, so the two forms cannot drift apart. */

enum nd_field_kind {
	ND_F_U64,      /* a number */
	ND_F_STR,      /* JSON: a string literal (escaped); text: as is */
	ND_F_WORD,     /* a known-safe word: "word" in JSON, unescaped */
	ND_F_RAW,      /* JSON text already encoded; text: as is */
	ND_F_TIME,     /* "2023-11-14T22:13:20.001000000Z" (quoted in JSON) */
	ND_F_IPPORT,   /* "1.2.3.4:5" (quoted in JSON) */
	ND_F_TCPFLAGS, /* "[S.]" (quoted in JSON) */
	ND_F_TUPLE,    /* JSON {"src","dst"[,"sport","dport"]}, left out when
			* not IPv4; text "a:p > b:p", "a > b" or "non-ip" */
	ND_F_EP,       /* JSON {"ip","port"}; text ip:port, or ip alone
			* without ports */
	ND_F_TRUE,     /* JSON true; text the label alone */
};

struct nd_field {
	const char *key;   /* JSON key; NULL: a text-only field */
	const char *label; /* text before the value; NULL: a JSON-only field */
	enum nd_field_kind kind;
	bool on;	    /* present; an absent field is left out of JSON */
	const char *dflt;   /* text in place of an absent value, or NULL to
			     * leave the field (label too) out of the text */
	const char *suffix; /* text after a present value, or NULL */
	uint64_t u;	    /* U64, TIME */
	const char *s;	    /* STR, WORD, RAW */
	const struct nd_hdr *h; /* TUPLE */
	uint32_t ip;		/* IPPORT, EP (host order) */
	uint16_t port;		/* IPPORT, EP */
	bool ports;		/* EP: the text form shows the port */
	uint8_t flags;		/* TCPFLAGS */
};

/* Writes one record: "{...}\n" in JSON, else the fields' labels and values
 * in order and "\n". The first JSON field must be present. */
void nd_record(struct nd_out *o, const struct nd_field *f, size_t n,
	       bool json);

/* ---- reasons (nd_reasons.c) ---- */

struct nd_reason_doc {
	const char *name, *meaning, *check;
};
/* The explanation of a reason name (the words docs/troubleshooting.md
 * uses too), or NULL for a name the engine does not give. */
const struct nd_reason_doc *nd_reason_doc(const char *name);
/* Writes every reason as "name<TAB>means<TAB>check" lines, in the engine's
 * order (the hidden `natdump --list-reasons`). Returns the exit status. */
int nd_list_reasons(FILE *f);

/* ---- time arguments ---- */

/* Parses "1700000000[.5]" or "2023-11-14T22:13:20[.123][Z]" (UTC). */
bool nd_parse_time(const char *s, uint64_t *ns);


/* ---- commands (nd_cmds.c, nd_follow.c) ---- */

struct nd_opts {
	const char *filter; /* -f BPF */
	uint64_t count;	    /* -c, 0 = no limit */
	bool has_since, has_until, json, has_flow;
	uint64_t since, until, flow;
	const char *out;    /* export -o, show -w; "-": standard output */
	const char *events; /* follow --events */
	char **files;
	int nfiles;
};

/* Each returns the exit status: 0 ok, 1 damaged input or failure. */
int nd_cmd_show(const struct nd_opts *o);
int nd_cmd_flows(const struct nd_opts *o);
int nd_cmd_follow(const struct nd_opts *o);
int nd_cmd_drops(const struct nd_opts *o);
int nd_cmd_stats(const struct nd_opts *o);
int nd_cmd_export(const struct nd_opts *o);
/* natdump why (nd_why.c): parses its own arguments (argv[0] "why"). */
int nd_cmd_why(int argc, char **argv);

/* A before/after pair, or one side of it, or a plain packet (no
 * glassnat comment: pre NULL, post the packet, note.glassnat false). */
struct nd_unit {
	const struct nd_pkt *pre, *post;
	const struct nd_note *note; /* post's when present, else pre's */
	uint64_t ts_ns;
};

struct nd_pairer;
/* Groups the input's packets into units: a pre followed by the post of
 * the same flow in the same file is one unit. Returns NULL when memory is
 * short. */
struct nd_pairer *nd_pairer_new(struct nd_input *in);
/* 1 with *u set (valid until the next call), 0 at the end. */
int nd_pairer_next(struct nd_pairer *pr, struct nd_unit *u);
void nd_pairer_free(struct nd_pairer *pr);

/* How text lines show time, tcpdump's -t family (JSON keeps "ts"). */
enum nd_tmode {
	ND_T_ISO = 0,	/* default and -tttt: 2023-11-14T22:13:20.001000000Z */
	ND_T_NONE,	/* -t */
	ND_T_EPOCH,	/* -tt: 1700000000.001000000 */
	ND_T_DELTA,	/* -ttt: seconds since the previous line */
	ND_T_ISO4,	/* -tttt: as the default */
	ND_T_SINCE,	/* -ttttt: seconds since the first line */
};
/* Sets the time form of nd_show_unit's text lines (once, before use). */
void nd_show_time_mode(enum nd_tmode m);

/* One line (or JSON object) for a unit; tcp_detail adds flags and
 * sequence numbers (follow). */
void nd_show_unit(struct nd_out *out, const struct nd_unit *u, bool json,
		  bool tcp_detail);

/* BPF on either side of a unit, compiled once per link type. */
struct nd_filter;
/* NULL expr: matches everything. Returns NULL on a bad expression
 * (message on stderr). */
struct nd_filter *nd_filter_new(const char *expr, bool *ok);
bool nd_filter_unit(struct nd_filter *f, const struct nd_unit *u);
void nd_filter_free(struct nd_filter *f);

/* The unit passes -f, --flow, --since and --until. */
bool nd_unit_selected(const struct nd_opts *o, struct nd_filter *f,
		      const struct nd_unit *u);

#endif
