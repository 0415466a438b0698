/* Observers: the events log and the trace rings, attached to an engine.
 *
 * One place opens both from the config and the command line, joins their
 * hooks into the engine's single nat_hooks, turns trace-queue losses into
 * trace.loss events (polled on the engine thread, at most once a second),
 * and shuts them down in the right order: engine flows closed (flow.close
 * events), final statistics, trace drained, log drained. Used by `run`
 * and `replay` alike, so both tell the same story. */
#ifndef GLASSNAT_OBSERVE_H
#define GLASSNAT_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "ipfix.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "tracer.h"

struct nat_obs_opts {
	const char *events;	  /* overrides logging.events; NULL: config */
	const char *trace_dir;	  /* overrides trace.dir (and enables) */
	const char *trace_filter; /* overrides trace.filter */
	int format;		  /* -1: config, else enum nat_log_format */
	bool verbose;
	bool neigh; /* live: forward.unanswered carries the neighbour state */
	/* Tests: make the writers slow (µs per record). */
	unsigned test_trace_delay_us, test_log_delay_us;
	/* Called at once when a trace or events write fails (then at most
	 * once a second for the trace, once a minute for the events), on
	 * the failing writer's thread: component "TRACE" or "LOG" and a
	 * message. The caller shows it where people look (stderr); it must
	 * not log through the observers. NULL: not called. */
	void (*on_error)(void *ctx, const char *component, const char *msg);
	void *error_ctx;
};

struct nat_observers {
	struct nat_engine *e;
	struct log_writer *log;
	struct tracer *trace;
	struct ipfix_exporter *ipfix; /* NAT events to a collector */
	struct log_engine_ctx lctx;
	struct trace_engine_ctx tctx;
	uint64_t trace_lost_reported;
	uint64_t trace_failed_reported; /* write errors told in the log */
	uint64_t next_poll_ns, next_failed_ns;
	void (*on_error)(void *ctx, const char *component, const char *msg);
	void *error_ctx;
	bool neigh;
	struct nat_metrics_hist flow_duration; /* closed flows */
	/* The counters beyond the engine and the observers (backend,
	 * control) for the final statistics: set by the caller before
	 * nat_obs_close. */
	struct nat_ctl_extra more;
	/* The watch feed (nat_obs_watch_open): a second log writer, JSON,
	 * fed only while watch_on says someone listens. */
	struct log_writer *watch;
	struct log_engine_ctx wctx;
	bool (*watch_on)(void *ctx);
	void *watch_ctx;
};

/* Opens what cfg and o ask for and sets e's hooks. Returns -1 with a
 * message in errbuf (unwritable events file, bad BPF, trace dir). */
int nat_obs_open(struct nat_observers *ob, struct nat_engine *e,
		 const struct nat_config *cfg, const struct nat_obs_opts *o,
		 char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread (control: trace on): opens the trace ring now, from cfg
 * (trace.dir must be set), selecting with bpf ("" = everything), and
 * hooks it into the engine. An open ring gets the new filter and is
 * resumed instead. Returns -1 with errbuf (no trace.dir, bad BPF). */
int nat_obs_trace_on(struct nat_observers *ob,
		     const struct nat_trace_cfg *cfg, const char *bpf,
		     char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread, after nat_obs_open: every engine event also goes, as the
 * JSON line the events file would get, through a bounded queue and its
 * own writer thread to sink, whenever on(ctx) is true (checked per event;
 * it must be cheap). Losses are counted like the log's (log.loss lines
 * reach sink too). Returns -1 with errbuf (out of memory). */
int nat_obs_watch_open(struct nat_observers *ob, const struct nat_config *cfg,
		       void (*sink)(void *ctx, const char *lines, size_t len),
		       bool (*on)(void *ctx), void *ctx, char *errbuf,
		       size_t errlen) __attribute__((warn_unused_result));

/* Stops the watch feed (its last lines reach sink first): before what
 * sink writes to goes away. The engine must not run meanwhile. */
void nat_obs_watch_close(struct nat_observers *ob);

/* Engine thread, as often as convenient: emits trace.loss when the trace
 * queue lost records since the last report (at most once a second), and
 * an ERROR log line when trace writes fail (the first failure at the
 * next poll, then at most once a minute while they go on). */
void nat_obs_poll(struct nat_observers *ob, uint64_t ts_ns);

/* Offline callers (replay): waits until both writers have taken what is
 * queued, so an offline run loses nothing. Never on a live path. */
void nat_obs_sync(struct nat_observers *ob);

/* Engine thread: the observers' counters (trace, log, flow durations)
 * into x; the rest of x is left as it is. */
void nat_obs_extra(const struct nat_observers *ob, struct nat_ctl_extra *x);

/* What the observers did, for summaries; filled by nat_obs_close. */
struct nat_obs_counts {
	bool traced, logged;
	uint64_t trace_selected, trace_written, trace_lost, trace_failed;
	uint64_t log_written, log_lost, log_suppressed, log_failed;
	/* Every counter (metrics.h) at the end: ob->more, the observers'
	 * final counts and the engine's (flows_active: the flows alive
	 * before the shutdown closed them). The stats event carries the
	 * same, but log.written / log.lost as they were when it was
	 * written. */
	struct nat_metrics final;
};

/* Closes every flow (flow.close events, reason shutdown), reports the
 * remaining trace losses, logs the final statistics, drains and closes
 * the trace and the log, and clears the engine's hooks. ts_ns: the time
 * to stamp (0: the engine's time). counts may be NULL. */
void nat_obs_close(struct nat_observers *ob, uint64_t ts_ns,
		   struct nat_obs_counts *counts);

#endif
