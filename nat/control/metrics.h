/* The one registry of glassnat's counters: every counter and gauge is one
 * row of a table (metrics.c) with its stable key, Prometheus name, help,
 * unit, type and labels, and the words the final statistics print. Every
 * output is rendered from that table and a snapshot of values:
 * `glassnat stats` (text, --json, --prometheus), the control protocol's
 * stats answer, the final statistics at Ctrl+C, the `stats` event and
 * the /metrics endpoint. Adding a counter is one row (docs/metrics.md).
 *
 * A snapshot is plain data: taken on the engine thread, it may be copied
 * to any thread (the log writer, the HTTP server) and rendered there. */
#ifndef GLASSNAT_METRICS_H
#define GLASSNAT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct nat_ctl_extra; /* protocol.h */

/* The most samples (a labelled row is one sample per label value). */
enum { NAT_METRICS_MAX = 192 };

/* Flow duration histogram bounds, seconds (the last bucket is +Inf). */
enum { NAT_METRICS_DUR_BUCKETS = 9 };

struct nat_metrics_hist {
	uint64_t bucket[NAT_METRICS_DUR_BUCKETS + 1]; /* not cumulative */
	uint64_t count;
	uint64_t sum_ms;
};

/* One snapshot: sample i of the registry's order in v[i]. absent[i]: the
 * running backend has no such counter (left out of every output). */
struct nat_metrics {
	uint32_t n;
	uint8_t absent[NAT_METRICS_MAX];
	uint64_t v[NAT_METRICS_MAX];
	struct nat_metrics_hist flow_duration;
};

/* Number of samples the registry has (<= NAT_METRICS_MAX, checked by the
 * unit tests). */
size_t nat_metrics_count(void);

/* Fills m from the engine's counters st and the rest x (NULL: engine
 * only; backend counters absent). Any thread that may read st and x. */
void nat_metrics_fill(struct nat_metrics *m, const struct nat_stats *st,
		      const struct nat_ctl_extra *x);

/* The sample index of key ("log.lost") or key + label value
 * ("by_reason", "no_mapping"); -1 when there is none. */
int nat_metrics_index(const char *key, const char *label_value);

/* Adds one closed flow of dur_ns to the duration histogram. */
void nat_metrics_hist_add(struct nat_metrics_hist *h, uint64_t dur_ns);

/* Renders m as the stats JSON object ("{...}", no newline): the keys of
 * the control protocol's stats answer (docs/control.md). Returns the
 * length it needs (snprintf-like: output cut at cap-1, NUL-terminated). */
size_t nat_metrics_json(const struct nat_metrics *m, char *out, size_t cap);

/* The reverse, for clients: reads the stats object o (a json_t *) into m;
 * keys it lacks are absent. */
struct json_t;
void nat_metrics_from_json(struct nat_metrics *m, struct json_t *o);

/* Renders m in Prometheus' text exposition format 0.0.4 (HELP and TYPE
 * for every family). Returns the length it needs, as nat_metrics_json. */
size_t nat_metrics_prometheus(const struct nat_metrics *m, char *out,
			      size_t cap);

/* The final statistics' lines after the "Final statistics:" header,
 * Hyper-NAT's first (Packets processed ... Total connections), then the
 * rest; fn gets each line's component ("MAIN", "QUEUE", ...), whether it
 * shows a loss (a WARN) and its text ("  Packets NATted: 12"). */
void nat_metrics_text(const struct nat_metrics *m,
		      void (*fn)(void *ctx, const char *comp, bool warn,
				 const char *line),
		      void *ctx);

/* Writes the registry as a Markdown table (docs/metrics.md is checked
 * against it by the unit tests): key, Prometheus name, type, unit, help. */
size_t nat_metrics_doc(char *out, size_t cap);

#endif
