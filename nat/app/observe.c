/* Observers: see observe.h. */
#include "observe.h"

#include <stdio.h>
#include <string.h>

#include "neigh.h"

#define NS_PER_S 1000000000ull

/* nat_hooks has one ctx; these fan out to the log and the trace. */
static void obs_event(void *ctx, const struct nat_event *ev)
{
	struct nat_observers *ob = ctx;
	const struct nat_event *out = ev;
	struct nat_event copy;
	if (ev->type == NAT_EV_FWD_UNANSWERED && ob->neigh) {
		/* Rare (once per unanswered forward flow): worth one read of
		 * the neighbour table, which tells "no such host" from "the
		 * host answers but routes its replies elsewhere". */
		copy = *ev;
		(void)nat_neigh_state(ev->flow.in_ip, copy.neigh,
				      sizeof copy.neigh);
		out = &copy;
	}
	if (ev->type == NAT_EV_FLOW_CLOSE && ev->ts_ns >= ev->flow.first_ns)
		nat_metrics_hist_add(&ob->flow_duration,
				     ev->ts_ns - ev->flow.first_ns);
	if (ob->log)
		log_engine_event(&ob->lctx, out);
	ipfix_export_event(ob->ipfix, out);
	if (ob->watch && ob->watch_on(ob->watch_ctx))
		log_engine_event(&ob->wctx, out);
}

static void obs_packet(void *ctx, int stage, const uint8_t *pkt, size_t len,
		       const struct nat_meta *m, const struct nat_result *r)
{
	struct nat_observers *ob = ctx;
	trace_packet(ob->trace, ob->e, stage, pkt, len, m, r);
}

/* A flow the trace selects stays out of the kernel fast path. */
static bool obs_watching(void *ctx, uint32_t flow_trace)
{
	struct nat_observers *ob = ctx;
	return trace_watching(ob->trace, flow_trace);
}

/* The engine's hooks for what is open now. */
static void set_hooks(struct nat_observers *ob)
{
	struct nat_hooks h;
	memset(&h, 0, sizeof(h));
	h.ctx = ob;
	h.event = obs_event; /* the log, the watch feed, IPFIX, metrics */
	if (ob->trace) {
		h.packet = obs_packet;
		h.watching = obs_watching;
	}
	nat_engine_set_hooks(ob->e, &h);
}

int nat_obs_watch_open(struct nat_observers *ob, const struct nat_config *cfg,
		       void (*sink)(void *ctx, const char *lines, size_t len),
		       bool (*on)(void *ctx), void *ctx, char *errbuf,
		       size_t errlen)
{
	struct log_opts lo;
	memset(&lo, 0, sizeof(lo));
	lo.format = NAT_LOG_JSON;
	lo.queue = cfg->logging.queue;
	lo.sink = sink;
	lo.sink_ctx = ctx;
	ob->watch = log_open(&lo, errbuf, errlen);
	if (!ob->watch)
		return -1;
	ob->wctx.w = ob->watch;
	ob->wctx.e = ob->e;
	ob->watch_on = on;
	ob->watch_ctx = ctx;
	set_hooks(ob);
	return 0;
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
	ob->neigh = o->neigh;
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
	if (cfg->ipfix.enabled) {
		struct ipfix_limits lim = {
			.nat_ip = cfg->nat_ip,
			.max_flows = cfg->limits.max_flows,
			.max_per_host = cfg->limits.max_flows_per_host,
		};
		ob->ipfix = ipfix_export_start(&cfg->ipfix, &lim, errbuf,
					       errlen);
		if (!ob->ipfix) {
			trace_close(ob->trace);
			ob->trace = NULL;
			log_close(ob->log);
			ob->log = NULL;
			return -1;
		}
	}
	set_hooks(ob);
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
	set_hooks(ob);
	return 0;
}

void nat_obs_watch_close(struct nat_observers *ob)
{
	struct log_writer *w = ob->watch;
	if (!w)
		return;
	ob->watch = NULL;
	set_hooks(ob);
	log_close(w);
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

void nat_obs_extra(const struct nat_observers *ob, struct nat_ctl_extra *x)
{
	if (ob->trace) {
		x->traced = true;
		x->trace_on = trace_enabled(ob->trace);
		x->trace_written = trace_written(ob->trace);
		x->trace_lost = trace_lost(ob->trace);
		x->trace_failed = trace_failed(ob->trace);
	}
	if (ob->log) {
		x->logged = true;
		x->log_written = log_written(ob->log);
		x->log_lost = log_lost(ob->log);
		x->log_suppressed = log_suppressed(ob->log);
		x->log_failed = log_failed(ob->log);
		x->table_full_suppressed =
			log_suppressed_event(ob->log, NAT_EV_TABLE_FULL);
		x->port_exhausted_suppressed =
			log_suppressed_event(ob->log, NAT_EV_PORT_EXHAUSTED);
	}
	x->flow_duration = ob->flow_duration;
	if (ob->ipfix) {
		struct ipfix_counts c;
		ipfix_export_counts(ob->ipfix, &c);
		x->ipfix_open = true;
		x->ipfix_sent = c.sent;
		x->ipfix_lost = c.lost;
		x->ipfix_failed = c.failed;
		x->ipfix_messages = c.messages;
	}
}

void nat_obs_close(struct nat_observers *ob, uint64_t ts_ns,
		   struct nat_obs_counts *counts)
{
	struct nat_obs_counts c;
	memset(&c, 0, sizeof(c));
	if (ts_ns == 0)
		ts_ns = nat_engine_now(ob->e);
	uint64_t active = nat_engine_stats(ob->e)->flows_active;
	nat_engine_flush(ob->e, ts_ns);
	nat_obs_watch_close(ob); /* the flows' last events are in */
	struct nat_stats st = *nat_engine_stats(ob->e);
	st.flows_active = active;
	struct nat_ctl_extra x = ob->more;
	x.forwards = nat_engine_forward_list(ob->e, NULL, 0);
	if (ob->ipfix) {
		/* Every flow.close of the shutdown is queued: send them, then
		 * the counts are final. */
		struct ipfix_counts ic;
		ipfix_export_stop(ob->ipfix, &ic);
		ob->ipfix = NULL;
		x.ipfix_open = true;
		x.ipfix_sent = ic.sent;
		x.ipfix_lost = ic.lost;
		x.ipfix_failed = ic.failed;
		x.ipfix_messages = ic.messages;
	}
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
		nat_obs_extra(ob, &x);
		trace_close(ob->trace);
		ob->trace = NULL;
	}
	if (ob->log) {
		if (c.trace_failed)
			log_text(ob->log, ts_ns, LOG_WARN, "TRACE",
				 "%llu trace records lost to write errors",
				 (unsigned long long)c.trace_failed);
		nat_obs_extra(ob, &x);
		nat_metrics_fill(&c.final, &st, &x);
		log_final_stats(ob->log, ts_ns, &c.final);
		log_stop(ob->log);
		c.logged = true;
		c.log_written = log_written(ob->log);
		c.log_lost = log_lost(ob->log);
		c.log_suppressed = log_suppressed(ob->log);
		x.log_written = c.log_written;
		x.log_lost = c.log_lost;
		x.log_suppressed = c.log_suppressed;
		c.log_failed = log_failed(ob->log);
		x.log_failed = c.log_failed;
		log_close(ob->log);
	}
	x.flow_duration = ob->flow_duration;
	nat_metrics_fill(&c.final, &st, &x);
	nat_engine_set_hooks(ob->e, NULL);
	ob->trace = NULL;
	ob->log = NULL;
	if (counts)
		*counts = c;
}
