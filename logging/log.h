/* Events -> JSON lines or Hyper-NAT style text, asynchronously.
 *
 * Producers copy each event into a fixed-size slot of a bounded
 * single-producer / single-consumer ring reserved by log_open(); one writer
 * thread formats and writes. A producer never allocates, locks, waits or
 * makes a system call on the engine path: when the ring is full the record
 * is dropped and counted, and the writer reports the losses as `log.loss`
 * events. The record formats are documented in docs/events.md and
 * docs/events.schema.json.
 *
 * Threads: all producer calls (log_engine_event, log_config_load,
 * log_trace_loss, log_text, log_final_stats) must come from one thread at
 * a time; a caller that uses several threads serialises them (e.g. main
 * logs before starting the engine thread and after joining it). */
#ifndef GLASSNAT_LOG_H
#define GLASSNAT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "metrics.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

#define LOG_QUEUE_DEFAULT	  65536u
#define LOG_DROPS_PER_SEC_DEFAULT 20u
#define LOG_MSG_MAX		  1024 /* bytes of a log_text message / changes text */

struct log_opts {
	const char *path; /* "-" stdout, "" or NULL: no output, counters only */
	enum nat_log_format format;
	bool verbose; /* text: DEBUG lines too (JSON always has every event) */
	uint32_t queue; /* slots, rounded up to a power of two; 0: default */
	/* Rate limit: pkt.drop per reason, table.full, port.exhausted, each
	 * per second; 0: 20. */
	uint32_t drops_per_sec;
	uint32_t test_delay_us; /* tests: the writer sleeps this per record */
	/* Instead of a file (path ignored): the writer thread hands its
	 * formatted lines, whole lines only, to sink (the control socket's
	 * subscribers). sink must not block. */
	void (*sink)(void *ctx, const char *lines, size_t len);
	void *sink_ctx;
	/* Called on the writer thread when a write fails (full disk): the
	 * first failure at once, then at most once every LOG_ERROR_REPORT_S
	 * while failures go on (the rest are counted in log_lost). NULL: no
	 * call. It must not call this writer's producer functions. */
	void (*on_error)(void *ctx, const char *msg);
	void *error_ctx;
};

#define LOG_ERROR_REPORT_S 60u

struct log_writer;

/* What log_engine_event() needs: the writer and the engine whose rule and
 * forward names it resolves (on the engine's thread, at event time). */
struct log_engine_ctx {
	struct log_writer *w;
	const struct nat_engine *e; /* may be NULL: rule names are null */
};

/* Opens o->path (append, O_CLOEXEC, created 0640), reserves the ring and
 * starts the writer thread. With no path nothing is opened or started and
 * every record is discarded (rate limiting and suppression still count).
 * Returns NULL with a message in errbuf on failure. */
struct log_writer *log_open(const struct log_opts *o, char *errbuf,
			    size_t errlen) __attribute__((warn_unused_result));

/* nat_hooks.event: ctx is a struct log_engine_ctx. Copies the event and
 * the rule / forward name into one slot. Events that can repeat per
 * packet are rate limited by the event's second (drops_per_sec each):
 * pkt.drop per reason, table.full, port.exhausted; the next event of the
 * same kind carries the number held back (`suppressed`; totals in
 * log_suppressed, log_suppressed_event). Never blocks. */
void log_engine_event(void *ctx, const struct nat_event *ev);

/* Event config.load. changes is NULL on the first load, else a one-line
 * description of what a reload changed (truncated to LOG_MSG_MAX). */
void log_config_load(struct log_writer *w, uint64_t ts_ns,
		     const struct nat_config *cfg, const char *changes);

/* Event trace.loss: the trace writer lost records. */
void log_trace_loss(struct log_writer *w, uint64_t ts_ns,
		    uint64_t lost_since_last, uint64_t lost_total);

/* Event log (a startup / shutdown line). The message is formatted on the
 * caller's thread and truncated to LOG_MSG_MAX bytes. In text, DEBUG
 * lines appear only with verbose. */
void log_text(struct log_writer *w, uint64_t ts_ns, enum log_level lvl,
	      const char *component, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Event stats: every counter of the registry m (metrics.h) plus the
 * pkt.drop events suppressed per reason; in text the "Final statistics"
 * block (the same lines as the run's at Ctrl+C). m's log.written and
 * log.lost are set by the writer as it writes the record. */
void log_final_stats(struct log_writer *w, uint64_t ts_ns,
		     const struct nat_metrics *m);

/* The live run's lines for people (log_line.h) go to stderr beside w
 * and carry the final statistics block. Returns true when w writes text
 * to stdout, the same terminal: w then leaves that block out of the text
 * (the stats record is still counted and the JSON form keeps it) and
 * log_line does not repeat its lines into w. Producer thread. */
bool log_beside_people(struct log_writer *w);

/* Async-signal-safe: asks the writer to reopen the file (after a
 * logrotate rename, on SIGHUP). Records queued after this call go to the
 * new file. If reopening fails the writer keeps the old file and says so
 * there. No effect on stdout or without output. */
void log_reopen(struct log_writer *w);

/* Producer thread: waits (sleeping a millisecond at a time) until the
 * writer has taken every record queued so far, so the ring is empty.
 * For offline work (replay), where waiting is right and a loss is not;
 * never on a live packet path. No-op without a writer thread. */
void log_sync(struct log_writer *w);

/* Drains what is queued, writes a final log.loss if losses are not yet
 * reported, stops the writer and closes the file; the counters stay
 * readable. Records pushed afterwards are counted as lost (and never
 * reported). Producer thread. w may be NULL. */
void log_stop(struct log_writer *w);

/* log_stop(), then frees everything. w may be NULL. */
void log_close(struct log_writer *w);

/* Records dropped (full ring, or a failed write). The lost_since_last
 * values of all log.loss events add up to this after log_close. */
uint64_t log_lost(const struct log_writer *w);
/* Records formatted and written (log.loss lines not included). */
uint64_t log_written(const struct log_writer *w);
/* table.full (type NAT_EV_TABLE_FULL) or port.exhausted events held
 * back by the rate limit; 0 for other types. Producer thread. */
uint64_t log_suppressed_event(const struct log_writer *w,
			      enum nat_event_type type);
/* Records lost to failed writes (part of log_lost). */
uint64_t log_failed(const struct log_writer *w);
/* Events suppressed by the rate limits (pkt.drop, table.full,
 * port.exhausted; not losses). */
uint64_t log_suppressed(const struct log_writer *w);

#endif
