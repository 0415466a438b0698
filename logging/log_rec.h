/* The record that travels through the log ring, and its rendering.
 * Private to logging/: log.c queues records, log_format.c renders them. */
#ifndef GLASSNAT_LOG_REC_H
#define GLASSNAT_LOG_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "log.h"

enum log_rec_kind {
	LREC_ENGINE = 1, /* a struct nat_event */
	LREC_CONFIG,	 /* config.load */
	LREC_TRACE_LOSS, /* trace.loss */
	LREC_LOG_LOSS,	 /* log.loss (made by the writer, never queued) */
	LREC_TEXT,	 /* log */
	LREC_STATS,	 /* stats */
};

#define LOG_COMPONENT_MAX 16

struct log_rec_hdr {
	uint16_t kind;	 /* enum log_rec_kind */
	uint16_t nslots; /* ring slots this record occupies */
	uint32_t len;	 /* bytes of the record, header included */
	uint64_t ts_ns;
};

/* Strings are NUL-terminated within len: each record is copied only up to
 * its last string's terminator, so short messages take one slot. */
struct log_rec {
	struct log_rec_hdr h;
	union {
		struct {
			struct nat_event ev;
			uint64_t suppressed; /* pkt.drop: held back before */
			/* forward.add / forward.remove: the forward's fields
			 * are in ev.flow (proto, map_port = external port,
			 * in_ip:in_port = internal), its name in rule. */
			bool fwd_runtime;
			bool has_rule;
			/* flow events with several inside networks: the
			 * flow's network's name, in the writer's table
			 * (set once, before the first record naming it);
			 * NULL otherwise */
			const char *net;
			char rule[NAT_NAME_MAX];
		} eng;
		struct {
			uint32_t nat_ip;
			struct nat_cidr internal;
			uint32_t n_rules, n_forwards;
			uint8_t filtering;
			bool has_changes;
			char path[NAT_PATH_MAX];
			char changes[LOG_MSG_MAX];
		} cfg;
		struct {
			uint64_t since, total;
		} loss;
		struct {
			uint8_t level; /* enum log_level */
			char component[LOG_COMPONENT_MAX];
			char msg[LOG_MSG_MAX];
		} text;
		struct {
			struct nat_metrics m;
			uint64_t suppressed[NAT_R_MAX];
			/* table.full / port.exhausted events held back */
			uint64_t table_full_suppressed;
			uint64_t port_exhausted_suppressed;
			uint64_t trace_lost;
			uint64_t log_lost; /* filled by the writer */
		} stats;
	} u;
};

/* The level (and so whether text shows it without verbose) of a record. */
enum log_level log_rec_level(const struct log_rec *r);

/* Renders r as complete '\n'-terminated lines into out (cap bytes, at
 * least LOG_LINE_MAX). Returns the length; output that would not fit is
 * cut and still ends with a newline. Writer thread only (uses gmtime_r). */
size_t log_rec_format(const struct log_rec *r, enum nat_log_format fmt,
		      char *out, size_t cap);

#define LOG_LINE_MAX 16384

#endif
