/* Observers: see observe.h. */
#include "observe.h"

#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000ull

/* nat_hooks has one ctx; these fan out to the log and the trace. */
static void obs_event(void *ctx, const struct nat_event *ev)
{
	struct nat_observers *ob = ctx;
	log_engine_event(&ob->lctx, ev);
}

static void obs_packet(void *ctx, int stage, const uint8_t *pkt, size_t len,
		       const struct nat_meta *m, const struct nat_result *r)
{
	struct nat_observers *ob = ctx;
	trace_packet(ob->trace, ob->e, stage, pkt, len, m, r);
}

static void obs_trace_error(void *ctx, const char *msg)
{
	struct nat_observers *ob = ctx;
	ob->on_error(ob->error_ctx, "TRACE", msg);
}

static void obs_log_error(void *ctx, const char *msg)
{
	struct nat_observers *ob = ctx;
	ob->on_error(ob->error_ctx, "LOG", msg);
}

static void obs_trace_opts(struct nat_observers *ob, struct trace_opts *to)
{
	memset(to, 0, sizeof(*to));
	if (ob->on_error) {
		to->on_error = obs_trace_error;
		to->error_ctx = ob;
	}
}

int nat_obs_open(struct nat_observers *ob, struct nat_engine *e,
		 const struct nat_config *cfg, const struct nat_obs_opts *o,
		 char *errbuf, size_t errlen)
{
	memset(ob, 0, sizeof(*ob));
	ob->e = e;
	ob->on_error = o->on_error;
	ob->error_ctx = o->error_ctx;
	const char *events = o->events ? o->events : cfg->logging.events;
	if (events && events[0]) {
		struct log_opts lo;
		memset(&lo, 0, sizeof(lo));
		lo.path = events;
		lo.format = o->format >= 0 ? (enum nat_log_format)o->format
					   : cfg->logging.format;
		lo.verbose = o->verbose || cfg->logging.verbose;
		lo.queue = cfg->logging.queue;
		lo.test_delay_us = o->test_log_delay_us;
		if (ob->on_error) {
			lo.on_error = obs_log_error;
			lo.error_ctx = ob;
		}
		ob->log = log_open(&lo, errbuf, errlen);
		if (!ob->log)
			return -1;
		ob->lctx.w = ob->log;
		ob->lctx.e = e;
	}
	if (o->trace_dir || cfg->trace.enabled) {
		struct trace_opts to;
		obs_trace_opts(ob, &to);
		to.test_delay_us = o->test_trace_delay_us;
		ob->trace = trace_open_opts(&cfg->trace, o->trace_dir,
					    o->trace_filter, &to, errbuf,
					    errlen);
		if (!ob->trace) {
			log_close(ob->log);
			ob->log = NULL;
			return -1;
		}
		ob->tctx.t = ob->trace;
		ob->tctx.e = e;
	}
	struct nat_hooks h;
	memset(&h, 0, sizeof(h));
	h.ctx = ob;
	if (ob->log)
		h.event = obs_event;
	if (ob->trace)
		h.packet = obs_packet;
	nat_engine_set_hooks(e, &h);
	return 0;
}

int nat_obs_trace_on(struct nat_observers *ob,
		     const struct nat_trace_cfg *cfg, const char *bpf,
		     char *errbuf, size_t errlen)
{
	if (ob->trace) {
		if (trace_set_filter(ob->trace, bpf, errbuf, errlen) < 0)
			return -1;
		trace_set_enabled(ob->trace, true);
		return 0;
	}
	if (!cfg->dir[0]) {
		snprintf(errbuf, errlen,
			 "no trace directory: set trace.dir in the config (and "
			 "reload) or start glassnat with --trace DIR");
		return -1;
	}
	struct trace_opts to;
	obs_trace_opts(ob, &to);
	ob->trace = trace_open_opts(cfg, NULL, bpf, &to, errbuf, errlen);
	if (!ob->trace)
		return -1;
	ob->tctx.t = ob->trace;
	ob->tctx.e = ob->e;
	struct nat_hooks h;
	memset(&h, 0, sizeof(h));
	h.ctx = ob;
	if (ob->log)
		h.event = obs_event;
	h.packet = obs_packet;
	nat_engine_set_hooks(ob->e, &h);
	return 0;
}

/* Reports trace losses not reported yet. The report is itself a log
 * record and may find the log's ring full: then the log counts it lost
 * and the same losses are reported again at the next poll, so the
 * trace.loss events that reach the file add up to trace_lost(). */
static void report_trace_loss(struct nat_observers *ob, uint64_t ts_ns)
{
	uint64_t lost = trace_lost(ob->trace);
	if (lost == ob->trace_lost_reported || !ob->log)
		return;
	uint64_t log_lost_before = log_lost(ob->log);
	log_trace_loss(ob->log, ts_ns, lost - ob->trace_lost_reported, lost);
	if (log_lost(ob->log) == log_lost_before)
		ob->trace_lost_reported = lost;
}

/* Trace write errors as an ERROR line in the events log: the first at
 * once, then at most once a minute while they go on. */
static void report_trace_failed(struct nat_observers *ob, uint64_t ts_ns)
{
	uint64_t failed = trace_failed(ob->trace);
	if (failed == ob->trace_failed_reported || !ob->log ||
	    (ob->trace_failed_reported && ts_ns < ob->next_failed_ns))
		return;
	char why[256];
	trace_last_error(ob->trace, why, sizeof(why));
	log_text(ob->log, ts_ns, LOG_ERROR, "TRACE",
		 "trace writes failing: %llu packets lost so far (%s); "
		 "forwarding goes on",
		 (unsigned long long)failed, why);
	ob->trace_failed_reported = failed;
	ob->next_failed_ns = ts_ns + 60 * NS_PER_S;
}

void nat_obs_poll(struct nat_observers *ob, uint64_t ts_ns)
{
	if (!ob->trace)
		return;
	if (trace_failed(ob->trace) != ob->trace_failed_reported)
		report_trace_failed(ob, ts_ns);
	if (ts_ns < ob->next_poll_ns)
		return;
	ob->next_poll_ns = ts_ns + NS_PER_S;
	report_trace_loss(ob, ts_ns);
}

void nat_obs_sync(struct nat_observers *ob)
{
	if (ob->trace)
		trace_sync(ob->trace);
	log_sync(ob->log);
}

void nat_obs_close(struct nat_observers *ob, uint64_t ts_ns,
		   struct nat_obs_counts *counts)
{
	struct nat_obs_counts c;
	memset(&c, 0, sizeof(c));
	if (ts_ns == 0)
		ts_ns = nat_engine_now(ob->e);
	nat_engine_flush(ob->e, ts_ns);
	if (ob->trace) {
		/* The engine is done: nothing is produced from here on, so
		 * after the sync the counters are final. */
		trace_sync(ob->trace);
		log_sync(ob->log); /* room for the last report */
		report_trace_loss(ob, ts_ns);
		c.traced = true;
		c.trace_selected = trace_selected(ob->trace);
		c.trace_written = trace_written(ob->trace);
		c.trace_lost = trace_lost(ob->trace);
		c.trace_failed = trace_failed(ob->trace);
		trace_close(ob->trace);
	}
	if (ob->log) {
		if (c.trace_failed)
			log_text(ob->log, ts_ns, LOG_WARN, "TRACE",
				 "%llu trace records lost to write errors",
				 (unsigned long long)c.trace_failed);
		log_final_stats(ob->log, ts_ns, nat_engine_stats(ob->e));
		log_stop(ob->log);
		c.logged = true;
		c.log_written = log_written(ob->log);
		c.log_lost = log_lost(ob->log);
		c.log_suppressed = log_suppressed(ob->log);
		c.log_failed = log_failed(ob->log);
		log_close(ob->log);
	}
	nat_engine_set_hooks(ob->e, NULL);
	ob->trace = NULL;
	ob->log = NULL;
	if (counts)
		*counts = c;
}
