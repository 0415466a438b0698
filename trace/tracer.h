/* The packet tracer: the engine's packet hook, a bounded queue and a
 * writer thread that stores each selected packet before and after
 * translation in zstd-compressed pcapng ring files (ring.h), selected by
 * BPF, sticky per flow (select.h). docs/trace-format.md is the contract
 * for the files and the comments.
 *
 * Threads: trace_hook / trace_packet / trace_set_filter run on the engine
 * thread and never block, allocate or do I/O (trace_set_filter compiles,
 * and is called between packets, as control requests are). A full queue
 * drops the record and counts it (trace_lost); the writer thread alone
 * touches the files. Counters may be read from any thread.
 *
 * Counting is per pcapng packet (EPB): a translated or passed packet is two
 * (pre and post), a drop is one. A pair is queued, lost or written whole
 * (except when a file write fails between its halves). Once the queue is
 * drained (trace_close, or idle):
 *   trace_selected == trace_written + trace_lost + trace_failed. */
#ifndef GLASSNAT_TRACER_H
#define GLASSNAT_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

enum {
	TRACE_MAX_PACKET = 65535, /* bytes kept of one packet */
	TRACE_QUEUE_UNIT = 1600,  /* queue bytes reserved per trace.queue */
	TRACE_FRAME_MS = 1000,	  /* the ring is flushed at least this often */
};

struct tracer;

/* Test and embedding knobs; all zero = the defaults. */
struct trace_opts {
	unsigned test_delay_us; /* writer sleeps this long per record */
	unsigned frame_ms; /* flush interval (default TRACE_FRAME_MS) */
	/* Called on the writer thread for I/O errors, at most once a second
	 * (the rest are only counted). */
	void (*on_error)(void *ctx, const char *msg);
	void *error_ctx;
};

/* Opens the ring in dir_override, else cfg->dir, selecting with
 * filter_override, else cfg->filter (NULL/"" = everything), and starts
 * the writer thread. Zero cfg sizes take the config defaults. Tracing
 * starts enabled (cfg->enabled is the caller's decision to call this).
 * Returns NULL with a message in errbuf: bad BPF (with the expression),
 * unusable directory, out of memory. */
struct tracer *trace_open(const struct nat_trace_cfg *cfg,
			  const char *dir_override, const char *filter_override,
			  char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
struct tracer *
trace_open_opts(const struct nat_trace_cfg *cfg, const char *dir_override,
		const char *filter_override, const struct trace_opts *opts,
		char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes out everything queued, ends the file, closes it, stops
 * the thread, frees. Call after the engine stopped calling the hook. */
void trace_close(struct tracer *t);

/* Waits until everything queued so far is written and flushed, so the
 * files on disk decode to it all. Blocks (polling every
 * millisecond): for tests, shutdown and control requests, never the
 * packet path. */
void trace_sync(struct tracer *t);

/* nat_hooks.packet for an engine that only traces: ctx is a
 * struct trace_engine_ctx (e names rules; it may be NULL). */
struct trace_engine_ctx {
	struct tracer *t;
	const struct nat_engine *e;
};
void trace_hook(void *ctx, int stage, const uint8_t *pkt, size_t len,
		const struct nat_meta *m, const struct nat_result *r);

/* The same for a caller that dispatches hooks itself. */
void trace_packet(struct tracer *t, const struct nat_engine *e, int stage,
		  const uint8_t *pkt, size_t len, const struct nat_meta *m,
		  const struct nat_result *r);

/* Replaces the filter (NULL/"" = everything); every flow is decided
 * afresh, its per-flow count restarting. Engine thread, between packets.
 * Returns -1 with the pcap message in errbuf; the old filter stays. */
int trace_set_filter(struct tracer *t, const char *bpf, char *errbuf,
		     size_t errlen) __attribute__((warn_unused_result));

/* Pauses / resumes tracing (any thread; takes effect on the next
 * packet). Flows seen while paused keep their earlier decisions. */
void trace_set_enabled(struct tracer *t, bool on);
bool trace_enabled(const struct tracer *t);

uint64_t trace_selected(const struct tracer *t); /* packets offered */
uint64_t trace_lost(const struct tracer *t);	 /* dropped: queue full */
uint64_t trace_written(const struct tracer *t);	 /* stored in a file */
uint64_t trace_failed(const struct tracer *t);	 /* dropped: I/O error */

/* The last I/O error ("" when none); any thread. */
void trace_last_error(struct tracer *t, char *buf, size_t len);

/* Whether tracing (on now) wants every packet of the flow whose observer
 * word is word, as trace_packet left it: selected by the filter in force
 * (capped or not), or not decided yet under it. Such a flow stays out of
 * the kernel fast path (nat_hooks.watching). Engine thread. */
bool trace_watching(const struct tracer *t, uint32_t word);

#endif
