/* The event log: a single-producer / single-consumer ring of fixed-size
 * slots reserved at open, drained by one writer thread.
 *
 * The producer (the engine's thread) copies a record into consecutive
 * slots and publishes it with a release store of `head`; the writer reads
 * `head` with acquire, formats, and gives the slots back with a release
 * store of `tail`. Neither side locks. A record that does not fit in the
 * free slots is dropped and counted; the writer turns the count into
 * `log.loss` events, at most one a second and one at close, whose
 * lost_since_last values add up to log_lost(). The writer polls (1 to
 * 10 ms when idle) so that the producer never makes a system call. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_rec.h"
#include "platform.h"

#define SLOT	       256u	     /* bytes per ring slot */
#define OUTBUF	       (64u * 1024u) /* writer's output buffer */
#define IDLE_MIN_NS    1000000L	     /* writer poll interval after activity */
#define IDLE_MAX_NS    10000000L     /* ... growing to this when idle */
#define LOSS_REPORT_NS 1000000000ull /* at most one log.loss a second */

_Static_assert(offsetof(struct log_rec, u.eng.rule) + NAT_NAME_MAX <= SLOT,
	       "an engine event must fit one slot");

/* Rate-limit kinds: a pkt.drop's reason, or these two after them. */
enum { RL_TABLE_FULL = NAT_R_MAX, RL_PORT_EXHAUSTED, RL_KINDS };

struct log_writer {
	/* Inside networks' names for flow events (log_event). */
	char net_names[NAT_NETS_MAX][NAT_NAME_MAX];
	/* Shared, each index on its own cache line. */
	alignas(64) _Atomic uint64_t head; /* slots published (producer) */
	alignas(64) _Atomic uint64_t tail; /* slots consumed (writer) */
	alignas(64) _Atomic uint64_t lost; /* records dropped */
	_Atomic uint64_t failed;	   /* ... of them by failed writes */
	_Atomic uint64_t written;
	_Atomic uint64_t suppressed;
	atomic_int reopen; /* set by log_reopen (signal handlers) */
	atomic_int stop;

	/* Producer only. */
	alignas(64) uint64_t p_head, p_tail_cache;
	/* Rate limits, one per kind (rl_kind): pkt.drop per reason, then
	 * table.full and port.exhausted. */
	uint64_t rl_sec[RL_KINDS];     /* the second counted */
	uint32_t rl_count[RL_KINDS];   /* ... events emitted in it */
	uint64_t rl_pending[RL_KINDS]; /* ... suppressed, not yet told */
	uint64_t rl_total[RL_KINDS];   /* ... suppressed in all */
	uint64_t trace_lost;		/* last trace.loss lost_total */
	bool stopped;

	/* Set at open. */
	unsigned char *ring; /* cap * SLOT bytes */
	uint64_t cap;	     /* slots, a power of two */
	enum nat_log_format format;
	bool verbose;
	uint32_t drops_per_sec;
	uint32_t test_delay_us;
	void (*on_error)(void *ctx, const char *msg);
	void *error_ctx;
	char path[NAT_PATH_MAX];
	bool is_stdout;
	bool no_text_stats; /* log_beside_people on a text stdout */
	bool has_thread;
	void (*sink)(void *ctx, const char *lines, size_t len);
	void *sink_ctx;
	pthread_t thread;

	/* Writer only. */
	int fd;
	char *out; /* OUTBUF bytes */
	size_t out_len;
	uint64_t out_recs;   /* records in out, counted when written */
	char *line;	     /* LOG_LINE_MAX bytes */
	struct log_rec *rec; /* the record being rendered */
	uint64_t reported;   /* losses already in log.loss events */
	uint64_t last_report_ns;
	bool reported_once;
	uint64_t last_error_ns; /* on_error called (monotonic); 0: never */
};

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000L,
			       .tv_nsec = ns % 1000000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- producer ---- */

/* Copies the first len bytes of r into the ring, or drops and counts it.
 * Never waits. */
static void push(struct log_writer *w, struct log_rec *r, size_t len)
{
	if (!w->has_thread)
		return; /* no output: nothing is queued or lost */
	if (w->stopped) {
		atomic_fetch_add_explicit(&w->lost, 1, memory_order_relaxed);
		return;
	}
	uint64_t n = (len + SLOT - 1) / SLOT;
	uint64_t h = w->p_head;
	if (w->cap - (h - w->p_tail_cache) < n) {
		w->p_tail_cache =
			atomic_load_explicit(&w->tail, memory_order_acquire);
		if (w->cap - (h - w->p_tail_cache) < n) {
			atomic_fetch_add_explicit(&w->lost, 1,
						  memory_order_relaxed);
			return;
		}
	}
	r->h.nslots = (uint16_t)n;
	r->h.len = (uint32_t)len;
	size_t bytes = (size_t)(w->cap * SLOT);
	size_t off = (size_t)((h & (w->cap - 1)) * SLOT);
	size_t first = len < bytes - off ? len : bytes - off;
	memcpy(w->ring + off, r, first);
	if (first < len)
		memcpy(w->ring, (const unsigned char *)r + first, len - first);
	w->p_head = h + n;
	atomic_store_explicit(&w->head, h + n, memory_order_release);
}

/* False when the text format hides this record (DEBUG without verbose):
 * it is then not queued at all. */
static bool wanted(const struct log_writer *w, const struct log_rec *r)
{
	return w->format == NAT_LOG_JSON || w->verbose ||
	       log_rec_level(r) != LOG_DEBUG;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The rate limit an event falls under, or -1 (not limited). */
static int rl_kind(const struct nat_event *ev)
{
	switch (ev->type) {
	case NAT_EV_PKT_DROP:
	case NAT_EV_PKT_UNOWNED: /* pkt.drop's limit, per reason */
		return (unsigned)ev->reason < NAT_R_MAX ? (int)ev->reason : -1;
	case NAT_EV_TABLE_FULL:
		return RL_TABLE_FULL;
	case NAT_EV_PORT_EXHAUSTED:
		return RL_PORT_EXHAUSTED;
	default:
		return -1;
	}
}

void log_engine_event(void *ctx, const struct nat_event *ev)
{
	const struct log_engine_ctx *c = ctx;
	struct log_writer *w = c->w;
	struct log_rec r;
	if (!w)
		return;
	r.h.kind = LREC_ENGINE;
	r.h.ts_ns = ev->ts_ns;
	r.u.eng.ev = *ev;
	r.u.eng.suppressed = 0;
	r.u.eng.has_rule = false;
	r.u.eng.fwd_runtime = false;
	r.u.eng.rule[0] = '\0';
	r.u.eng.net = NULL;
	r.u.eng.ev.fwd = NULL; /* valid during the hook only */
	if ((ev->type == NAT_EV_FORWARD_ADD ||
	     ev->type == NAT_EV_FORWARD_REMOVE) &&
	    ev->fwd) {
		struct nat_flow_info *fi = &r.u.eng.ev.flow;
		fi->proto = ev->fwd->proto;
		fi->map_port = ev->fwd->ext_port;
		fi->in_ip = ev->fwd->int_ip;
		fi->in_port = ev->fwd->int_port;
		r.u.eng.fwd_runtime = ev->fwd->runtime;
		copy_name(r.u.eng.rule, sizeof(r.u.eng.rule), ev->fwd->name);
		r.u.eng.has_rule = true;
	}

	int k = rl_kind(ev);
	if (k >= 0) {
		uint64_t sec = ev->ts_ns / 1000000000u;
		if (sec != w->rl_sec[k]) {
			w->rl_sec[k] = sec;
			w->rl_count[k] = 0;
		}
		if (w->rl_count[k] >= w->drops_per_sec) {
			w->rl_pending[k]++;
			w->rl_total[k]++;
			atomic_fetch_add_explicit(&w->suppressed, 1,
						  memory_order_relaxed);
			return;
		}
		w->rl_count[k]++;
		r.u.eng.suppressed = w->rl_pending[k];
		w->rl_pending[k] = 0;
	}
	if (!wanted(w, &r))
		return;

	bool flow_ev =
		ev->type == NAT_EV_FLOW_OPEN || ev->type == NAT_EV_FLOW_STATE ||
		ev->type == NAT_EV_FLOW_CLOSE || ev->type == NAT_EV_PKT_DROP ||
		ev->type == NAT_EV_FWD_UNANSWERED;
	if (c->e && flow_ev && ev->flow.rule != NAT_RULE_NONE) {
		const char *name =
			ev->type != NAT_EV_PKT_DROP &&
					ev->flow.kind == NAT_FLOW_FORWARD
				? nat_engine_forward_name(c->e, ev->flow.rule)
				: nat_engine_rule_name(c->e, ev->flow.rule);
		if (name) {
			copy_name(r.u.eng.rule, sizeof(r.u.eng.rule), name);
			r.u.eng.has_rule = true;
		}
	}
	if (c->e && flow_ev && ev->type != NAT_EV_PKT_DROP &&
	    nat_engine_n_nets(c->e) > 1 && ev->flow.net < NAT_NETS_MAX) {
		/* Names are the engine's for its lifetime; the writer keeps
		 * its own copy, written before the record that uses it is
		 * published. */
		char *slot = w->net_names[ev->flow.net];
		if (!slot[0])
			copy_name(slot, NAT_NAME_MAX,
				  nat_engine_net_name(c->e, ev->flow.net));
		r.u.eng.net = slot;
	}
	push(w, &r,
	     offsetof(struct log_rec, u.eng.rule) + strlen(r.u.eng.rule) + 1);
}

void log_config_load(struct log_writer *w, uint64_t ts_ns,
		     const struct nat_config *cfg, const char *changes)
{
	struct log_rec r;
	if (!w)
		return;
	r.h.kind = LREC_CONFIG;
	r.h.ts_ns = ts_ns;
	r.u.cfg.nat_ip = cfg->nat_ip;
	r.u.cfg.internal = cfg->internal;
	r.u.cfg.n_rules = (uint32_t)cfg->n_rules;
	r.u.cfg.n_forwards = (uint32_t)cfg->n_forwards;
	r.u.cfg.filtering = (uint8_t)cfg->filtering;
	r.u.cfg.has_changes = changes != NULL;
	copy_name(r.u.cfg.path, sizeof(r.u.cfg.path), cfg->path);
	copy_name(r.u.cfg.changes, sizeof(r.u.cfg.changes),
		  changes ? changes : "");
	push(w, &r,
	     offsetof(struct log_rec, u.cfg.changes) + strlen(r.u.cfg.changes) +
		     1);
}

void log_trace_loss(struct log_writer *w, uint64_t ts_ns,
		    uint64_t lost_since_last, uint64_t lost_total)
{
	struct log_rec r;
	if (!w)
		return;
	w->trace_lost = lost_total;
	r.h.kind = LREC_TRACE_LOSS;
	r.h.ts_ns = ts_ns;
	r.u.loss.since = lost_since_last;
	r.u.loss.total = lost_total;
	push(w, &r, offsetof(struct log_rec, u.loss) + sizeof(r.u.loss));
}

void log_text(struct log_writer *w, uint64_t ts_ns, enum log_level lvl,
	      const char *component, const char *fmt, ...)
{
	struct log_rec r;
	if (!w)
		return;
	r.h.kind = LREC_TEXT;
	r.h.ts_ns = ts_ns;
	r.u.text.level = (uint8_t)lvl;
	if (!wanted(w, &r))
		return;
	copy_name(r.u.text.component, sizeof(r.u.text.component),
		  component ? component : "MAIN");
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(r.u.text.msg, sizeof(r.u.text.msg), fmt, ap);
	va_end(ap);
	if (k < 0)
		r.u.text.msg[0] = '\0';
	push(w, &r,
	     offsetof(struct log_rec, u.text.msg) + strlen(r.u.text.msg) + 1);
}

void log_final_stats(struct log_writer *w, uint64_t ts_ns,
		     const struct nat_metrics *m)
{
	struct log_rec r;
	if (!w || w->no_text_stats)
		return;
	memset(&r.u.stats, 0, sizeof(r.u.stats));
	r.h.kind = LREC_STATS;
	r.h.ts_ns = ts_ns;
	r.u.stats.m = *m;
	memcpy(r.u.stats.suppressed, w->rl_total, sizeof(r.u.stats.suppressed));
	r.u.stats.table_full_suppressed = w->rl_total[RL_TABLE_FULL];
	r.u.stats.port_exhausted_suppressed = w->rl_total[RL_PORT_EXHAUSTED];
	r.u.stats.trace_lost = w->trace_lost;
	push(w, &r, offsetof(struct log_rec, u.stats) + sizeof(r.u.stats));
}

bool log_beside_people(struct log_writer *w)
{
	if (!w || !w->is_stdout || w->format != NAT_LOG_TEXT)
		return false;
	w->no_text_stats = true;
	return true;
}

void log_reopen(struct log_writer *w)
{
	if (w)
		atomic_store_explicit(&w->reopen, 1, memory_order_release);
}

uint64_t log_lost(const struct log_writer *w)
{
	return w ? atomic_load_explicit(&w->lost, memory_order_relaxed) : 0;
}

uint64_t log_written(const struct log_writer *w)
{
	return w ? atomic_load_explicit(&w->written, memory_order_relaxed) : 0;
}

uint64_t log_suppressed_event(const struct log_writer *w,
			      enum nat_event_type type)
{
	if (!w)
		return 0;
	return type == NAT_EV_TABLE_FULL	? w->rl_total[RL_TABLE_FULL]
	       : type == NAT_EV_PORT_EXHAUSTED ? w->rl_total[RL_PORT_EXHAUSTED]
					       : 0;
}

uint64_t log_failed(const struct log_writer *w)
{
	return w ? atomic_load_explicit(&w->failed, memory_order_relaxed) : 0;
}

uint64_t log_suppressed(const struct log_writer *w)
{
	return w ? atomic_load_explicit(&w->suppressed, memory_order_relaxed)
		 : 0;
}

/* ---- writer ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Writes the buffer. Records in it count as written, or as lost when the
 * write fails (full disk): the next log.loss reports them. */
static void write_failed(struct log_writer *w, int err)
{
	atomic_fetch_add_explicit(&w->lost, w->out_recs, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->failed, w->out_recs,
				  memory_order_relaxed);
	uint64_t mono = now_ns(CLOCK_MONOTONIC);
	if (!w->on_error ||
	    (w->last_error_ns &&
	     mono - w->last_error_ns < LOG_ERROR_REPORT_S * 1000000000ull))
		return;
	w->last_error_ns = mono;
	char msg[NAT_PATH_MAX + 160];
	snprintf(msg, sizeof(msg),
		 "write %s: %s (%llu events lost so far)",
		 w->is_stdout ? "stdout" : w->path, strerror(err),
		 (unsigned long long)atomic_load_explicit(
			 &w->failed, memory_order_relaxed));
	w->on_error(w->error_ctx, msg);
}

static void flush(struct log_writer *w)
{
	if (w->sink) {
		if (w->out_len)
			w->sink(w->sink_ctx, w->out, w->out_len);
	} else if (w->out_len && write_all(w->fd, w->out, w->out_len) < 0) {
		write_failed(w, errno);
	}
	else
		atomic_fetch_add_explicit(&w->written, w->out_recs,
					  memory_order_relaxed);
	w->out_len = 0;
	w->out_recs = 0;
}

static void emit(struct log_writer *w, const struct log_rec *r, bool counted)
{
	size_t n = log_rec_format(r, w->format, w->line, LOG_LINE_MAX);
	if (w->out_len + n > OUTBUF)
		flush(w);
	memcpy(w->out + w->out_len, w->line, n);
	w->out_len += n;
	w->out_recs += counted;
}

static void report_loss(struct log_writer *w, bool force)
{
	uint64_t lost = atomic_load_explicit(&w->lost, memory_order_relaxed);
	if (lost == w->reported)
		return;
	uint64_t mono = now_ns(CLOCK_MONOTONIC);
	if (!force && w->reported_once &&
	    mono - w->last_report_ns < LOSS_REPORT_NS)
		return;
	struct log_rec *r = w->rec;
	r->h.kind = LREC_LOG_LOSS;
	r->h.ts_ns = now_ns(CLOCK_REALTIME);
	r->u.loss.since = lost - w->reported;
	r->u.loss.total = lost;
	w->reported = lost;
	w->last_report_ns = mono;
	w->reported_once = true;
	emit(w, r, false);
}

static int open_path(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void do_reopen(struct log_writer *w)
{
	flush(w);
	if (w->is_stdout || w->sink)
		return;
	int fd = open_path(w->path);
	if (fd < 0) {
		struct log_rec *r = w->rec;
		int err = errno;
		r->h.kind = LREC_TEXT;
		r->h.ts_ns = now_ns(CLOCK_REALTIME);
		r->u.text.level = LOG_ERROR;
		copy_name(r->u.text.component, sizeof(r->u.text.component),
			  "LOG");
		snprintf(r->u.text.msg, sizeof(r->u.text.msg),
			 "reopen %s: %s; still writing to the old file",
			 w->path, strerror(err));
		emit(w, r, false);
		flush(w);
		return;
	}
	close(w->fd);
	w->fd = fd;
}

/* Copies the record at slot t out of the ring into w->rec. */
static void take(struct log_writer *w, uint64_t t)
{
	size_t bytes = (size_t)(w->cap * SLOT);
	size_t off = (size_t)((t & (w->cap - 1)) * SLOT);
	struct log_rec_hdr hdr;
	memcpy(&hdr, w->ring + off, sizeof(hdr));
	size_t len = hdr.len <= sizeof(*w->rec) ? hdr.len : sizeof(*w->rec);
	size_t first = len < bytes - off ? len : bytes - off;
	memcpy(w->rec, w->ring + off, first);
	if (first < len)
		memcpy((unsigned char *)w->rec + first, w->ring, len - first);
}

/* The stats record's log counters, as they are when it is written. */
static void stats_fill_log(struct log_writer *w, struct log_rec *r)
{
	uint64_t lost = atomic_load_explicit(&w->lost, memory_order_relaxed);
	uint64_t written =
		atomic_load_explicit(&w->written, memory_order_relaxed) +
		w->out_recs;
	int il = nat_metrics_index("log.lost", NULL);
	int iw = nat_metrics_index("log.written", NULL);
	r->u.stats.log_lost = lost;
	if (il >= 0) {
		r->u.stats.m.v[il] = lost;
		r->u.stats.m.absent[il] = 0;
	}
	if (iw >= 0) {
		r->u.stats.m.v[iw] = written;
		r->u.stats.m.absent[iw] = 0;
	}
}

static void *writer_main(void *arg)
{
	struct log_writer *w = arg;
	uint64_t t = 0;
	long idle = IDLE_MIN_NS;

	for (;;) {
		/* head first: a record published after log_reopen() is seen
		 * only together with the reopen flag, so it goes to the new
		 * file. */
		uint64_t h =
			atomic_load_explicit(&w->head, memory_order_acquire);
		if (atomic_exchange_explicit(&w->reopen, 0,
					     memory_order_acq_rel))
			do_reopen(w);
		if (t == h) {
			report_loss(w, false);
			flush(w);
			if (atomic_load_explicit(&w->stop,
						 memory_order_acquire)) {
				if (atomic_load_explicit(
					    &w->head, memory_order_acquire) ==
				    t)
					break;
				continue;
			}
			sleep_ns(idle);
			if (idle < IDLE_MAX_NS)
				idle *= 2;
			continue;
		}
		idle = IDLE_MIN_NS;
		while (t != h) {
			take(w, t);
			t += w->rec->h.nslots;
			atomic_store_explicit(&w->tail, t,
					      memory_order_release);
			if (w->rec->h.kind == LREC_STATS)
				stats_fill_log(w, w->rec);
			emit(w, w->rec, true);
			if (w->test_delay_us)
				sleep_ns((long)w->test_delay_us * 1000L);
			report_loss(w, false);
		}
	}
	report_loss(w, true);
	flush(w);
	return NULL;
}

/* ---- open / close ---- */

static void free_writer(struct log_writer *w)
{
	free(w->ring);
	free(w->out);
	free(w->line);
	free(w->rec);
	nat_plat_aligned_free(w); /* aligned_alloc is _aligned_malloc on Windows */
}

struct log_writer *log_open(const struct log_opts *o, char *errbuf,
			    size_t errlen)
{
	struct log_writer *w =
		aligned_alloc(alignof(struct log_writer), sizeof(*w));
	if (!w) {
		snprintf(errbuf, errlen, "log: out of memory");
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->format = o->format;
	w->verbose = o->verbose;
	w->drops_per_sec = o->drops_per_sec ? o->drops_per_sec
					    : LOG_DROPS_PER_SEC_DEFAULT;
	w->test_delay_us = o->test_delay_us;
	w->on_error = o->on_error;
	w->error_ctx = o->error_ctx;
	for (int i = 0; i < RL_KINDS; i++)
		w->rl_sec[i] = UINT64_MAX;
	w->sink = o->sink;
	w->sink_ctx = o->sink_ctx;
	if ((!o->path || !o->path[0]) && !o->sink)
		return w; /* counters only */

	if (!o->sink && strlen(o->path) >= sizeof(w->path)) {
		snprintf(errbuf, errlen, "log: path too long: %s", o->path);
		free_writer(w);
		return NULL;
	}
	if (!o->sink)
		copy_name(w->path, sizeof(w->path), o->path);
	uint64_t want = o->queue ? o->queue : LOG_QUEUE_DEFAULT;
	w->cap = 1;
	while (w->cap < want)
		w->cap <<= 1;
	w->ring = malloc((size_t)(w->cap * SLOT));
	w->out = malloc(OUTBUF);
	w->line = malloc(LOG_LINE_MAX);
	w->rec = malloc(sizeof(*w->rec));
	if (!w->ring || !w->out || !w->line || !w->rec) {
		snprintf(errbuf, errlen,
			 "log: out of memory for a queue of %llu records",
			 (unsigned long long)w->cap);
		free_writer(w);
		return NULL;
	}
	if (o->sink) {
		w->fd = -1;
	} else if (strcmp(o->path, "-") == 0) {
		w->is_stdout = true;
		w->fd = STDOUT_FILENO;
	} else {
		w->fd = open_path(o->path);
		if (w->fd < 0) {
			snprintf(errbuf, errlen, "open %s: %s", o->path,
				 strerror(errno));
			free_writer(w);
			return NULL;
		}
	}
	int err = pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		snprintf(errbuf, errlen, "log: writer thread: %s",
			 strerror(err));
		if (!w->is_stdout && w->fd >= 0)
			close(w->fd);
		free_writer(w);
		return NULL;
	}
	w->has_thread = true;
	return w;
}

void log_sync(struct log_writer *w)
{
	if (!w || w->stopped || !w->has_thread)
		return;
	uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
	while (atomic_load_explicit(&w->tail, memory_order_acquire) != h)
		sleep_ns(1000000L);
}

void log_stop(struct log_writer *w)
{
	if (!w || w->stopped)
		return;
	w->stopped = true;
	if (!w->has_thread)
		return;
	atomic_store_explicit(&w->stop, 1, memory_order_release);
	pthread_join(w->thread, NULL);
	if (!w->is_stdout && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void log_close(struct log_writer *w)
{
	if (!w)
		return;
	log_stop(w);
	free_writer(w);
}
