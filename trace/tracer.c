/* The packet tracer (see tracer.h).
 *
 * The queue is a single-producer / single-consumer byte ring of
 * trace.queue * TRACE_QUEUE_UNIT bytes reserved at open. A record is a
 * struct rec header followed by the pre bytes and then the post bytes,
 * padded to 8; a record never wraps: when it does not fit before the end,
 * a WRAP marker sends the reader back to offset 0. head and tail count
 * bytes since open; only the producer writes head, only the consumer tail.
 *
 * The writer thread polls: when the queue is empty it sleeps, 1 ms
 * doubling to POLL_MAX_US while it stays empty, so an idle tracer costs a
 * few dozen wake-ups a second and the engine never makes a system call. */
#include "tracer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "note.h"
#include "pcapng_write.h"
#include "ring.h"
#include "select.h"

enum {
	WRAP = 0xffffffffu,
	POLL_MIN_US = 1000,
	POLL_MAX_US = 32000,
	DEF_FILES = 8,
	DEF_QUEUE = 65536,
	ERR_MAX = 256,
};

#define DEF_FILE_SIZE (64ull << 20)

/* Every filter the config or a control request holds fits the selector. */
_Static_assert(TRACE_SEL_EXPR_MAX >= NAT_BPF_MAX,
	       "trace filter limit below the config's");

struct rec {
	uint32_t size; /* whole record, multiple of 8; WRAP = skip to 0 */
	uint32_t pre_len, post_len;   /* bytes stored */
	uint32_t pre_orig, post_orig; /* bytes on the wire */
	uint8_t has_post;
	uint8_t dir, verdict, reason;
	uint8_t hairpin, forward;
	uint8_t name_len;
	uint8_t pad;
	uint64_t ts_ns;
	uint64_t flow_id;
	char name[NAT_NAME_MAX]; /* rule or forward name, not terminated */
};

_Static_assert(NAT_NAME_MAX <= TRACE_NOTE_NAME_MAX, "names fit a note");

/* A counter written by one thread, read by any. */
typedef _Atomic uint64_t counter_t;

static void bump(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

struct tracer;
static void note_lost(struct tracer *t);

struct tracer {
	/* engine thread */
	struct trace_sel *sel;
	atomic_bool enabled;
	uint8_t *scratch; /* the pre bytes between stage 0 and stage 1 */
	size_t scratch_len, scratch_orig;
	bool pend;	/* stage 0 kept a packet for stage 1 */
	bool known;	/* its flow was already selected */
	bool pre_match; /* the filter matched the pre bytes */
	counter_t selected, lost;

	/* the queue */
	uint8_t *q;
	size_t qcap;
	_Atomic uint64_t head, tail;

	/* writer thread */
	struct trace_ring *ring;
	pthread_t thread;
	atomic_bool stop;
	struct trace_opts opts;
	uint64_t frame_ns;
	uint64_t frame_start; /* when the current frame got its first data */
	uint64_t last_report;
	counter_t written, failed;
	_Atomic uint64_t sync_req, sync_done; /* trace_sync() handshake */

	pthread_mutex_t err_mu;
	char err[ERR_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* ---- notes ---- */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The source (src) or destination endpoint of an IPv4 TCP/UDP packet or
 * ICMP echo (the id as port). False for anything else, ICMP errors
 * included. */
static bool endpoint(const uint8_t *p, size_t len, bool src, uint32_t *ip,
		     uint16_t *port)
{
	if (len < 20 || (p[0] >> 4) != 4)
		return false;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || len < ihl || (get16(p + 6) & 0x1fff))
		return false;
	const uint8_t *l4 = p + ihl;
	size_t left = len - ihl;
	switch (p[9]) {
	case 6:
	case 17:
		if (left < 4)
			return false;
		*port = get16(l4 + (src ? 0 : 2));
		break;
	case 1:
		if (left < 8 || (l4[0] != 0 && l4[0] != 8))
			return false;
		*port = get16(l4 + 4);
		break;
	default:
		return false;
	}
	*ip = get32(p + (src ? 12 : 16));
	return true;
}

static uint8_t note_dir(uint8_t d)
{
	return d == NAT_DIR_OUT	 ? TRACE_NOTE_OUT
	       : d == NAT_DIR_IN ? TRACE_NOTE_IN
				 : TRACE_NOTE_DIR_UNKNOWN;
}

static uint32_t dir_flags(uint8_t d)
{
	return d == NAT_DIR_OUT	 ? PCAPNG_W_DIR_OUT
	       : d == NAT_DIR_IN ? PCAPNG_W_DIR_IN
				 : PCAPNG_W_DIR_NONE;
}

/* The note of the pre (post false) or post packet of record h. */
static void make_note(struct trace_note *n, const struct rec *h, bool post,
		      const uint8_t *pre, const uint8_t *pst)
{
	memset(n, 0, sizeof *n);
	n->flow = h->flow_id;
	n->stage = post ? TRACE_NOTE_POST : TRACE_NOTE_PRE;
	n->dir = note_dir(h->dir);
	snprintf(n->verdict, sizeof n->verdict, "%s",
		 nat_verdict_name(h->verdict));
	if (h->reason != NAT_R_NONE)
		snprintf(n->reason, sizeof n->reason, "%s",
			 nat_reason_name(h->reason));
	if (h->name_len) {
		n->has_rule = true;
		n->forward = h->forward;
		memcpy(n->rule, h->name, h->name_len); /* < NAT_NAME_MAX */
	}
	n->hairpin = h->hairpin;
	if (post && h->verdict == NAT_V_NAT)
		n->has_map = h->dir == NAT_DIR_OUT
				     ? endpoint(pst, h->post_len, true,
						&n->map_ip, &n->map_port)
				     : h->dir == NAT_DIR_IN &&
					       endpoint(pre, h->pre_len, false,
							&n->map_ip,
							&n->map_port);
}

/* ---- queue: engine side ---- */

static size_t rec_size(size_t pre, size_t post)
{
	return (sizeof(struct rec) + pre + post + 7) & ~(size_t)7;
}

static size_t clip(size_t n)
{
	return n > TRACE_MAX_PACKET ? TRACE_MAX_PACKET : n;
}

static void enqueue(struct tracer *t, const struct nat_engine *e,
		    const struct nat_meta *m, const struct nat_result *r,
		    const uint8_t *pre, size_t pre_len, size_t pre_orig,
		    const uint8_t *post, size_t post_len)
{
	uint64_t n_pkts = post ? 2 : 1;
	size_t post_cl = post ? clip(post_len) : 0;
	size_t need = rec_size(pre_len, post_cl);
	bump(&t->selected, n_pkts);

	uint64_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
	uint64_t tl = atomic_load_explicit(&t->tail, memory_order_acquire);
	size_t room = t->qcap - (size_t)(h - tl);
	size_t off = (size_t)(h % t->qcap);
	size_t to_end = t->qcap - off;
	size_t skip = to_end < need ? to_end : 0;
	if (need > t->qcap || room < skip + need) {
		bump(&t->lost, n_pkts);
		return;
	}
	if (skip) {
		uint32_t w = WRAP;
		memcpy(t->q + off, &w, sizeof w);
		off = 0;
	}

	struct rec hd;
	memset(&hd, 0, offsetof(struct rec, name));
	hd.size = (uint32_t)need;
	hd.pre_len = (uint32_t)pre_len;
	hd.pre_orig = (uint32_t)(pre_orig > UINT32_MAX ? UINT32_MAX : pre_orig);
	hd.post_len = (uint32_t)post_cl;
	hd.post_orig =
		(uint32_t)(post_len > UINT32_MAX ? UINT32_MAX : post_len);
	hd.has_post = post != NULL;
	hd.dir = (uint8_t)r->dir;
	hd.verdict = (uint8_t)r->verdict;
	hd.reason = (uint8_t)r->reason;
	hd.hairpin = r->hairpin;
	hd.forward = r->forward;
	hd.ts_ns = m->ts_ns;
	hd.flow_id = r->flow_id;
	const char *name = NULL;
	if (e && r->rule != NAT_RULE_NONE)
		name = r->forward ? nat_engine_forward_name(e, r->rule)
				  : nat_engine_rule_name(e, r->rule);
	size_t nl = name ? strnlen(name, NAT_NAME_MAX) : 0;
	hd.name_len = (uint8_t)nl;
	memcpy(hd.name, name ? name : "", nl);

	uint8_t *d = t->q + off;
	memcpy(d, &hd, offsetof(struct rec, name) + nl);
	d += sizeof hd;
	memcpy(d, pre, pre_len);
	if (post_cl)
		memcpy(d + pre_len, post, post_cl);
	atomic_store_explicit(&t->head, h + skip + need, memory_order_release);
}

void trace_packet(struct tracer *t, const struct nat_engine *e, int stage,
		  const uint8_t *pkt, size_t len, const struct nat_meta *m,
		  const struct nat_result *r)
{
	uint32_t *w = r->flow_trace;
	if (stage == 0) {
		t->pend = false;
		if (!atomic_load_explicit(&t->enabled, memory_order_relaxed))
			return;
		enum trace_sel_state s = w ? trace_sel_state(t->sel, *w)
					   : TRACE_SEL_UNDECIDED;
		if (s == TRACE_SEL_NO || s == TRACE_SEL_CAPPED)
			return;
		t->known = s == TRACE_SEL_YES;
		t->pre_match = !t->known && trace_sel_match(t->sel, pkt, len);
		if (r->verdict == NAT_V_DROP) { /* no stage 1 follows */
			bool sel = t->known || t->pre_match;
			if (w && !t->known)
				trace_sel_decide(t->sel, w, sel);
			if (sel && (!w || trace_sel_take(t->sel, w)))
				enqueue(t, e, m, r, pkt, clip(len), len, NULL,
					0);
			return;
		}
		t->scratch_len = clip(len);
		t->scratch_orig = len;
		memcpy(t->scratch, pkt, t->scratch_len);
		t->pend = true;
		return;
	}
	if (!t->pend)
		return;
	t->pend = false;
	bool sel = t->known || t->pre_match ||
		   trace_sel_match(t->sel, pkt, len);
	if (w && !t->known)
		trace_sel_decide(t->sel, w, sel);
	if (sel && (!w || trace_sel_take(t->sel, w)))
		enqueue(t, e, m, r, t->scratch, t->scratch_len, t->scratch_orig,
			pkt, len);
}

void trace_hook(void *ctx, int stage, const uint8_t *pkt, size_t len,
		const struct nat_meta *m, const struct nat_result *r)
{
	const struct trace_engine_ctx *c = ctx;
	trace_packet(c->t, c->e, stage, pkt, len, m, r);
}

/* ---- writer thread ---- */

static void io_error(struct tracer *t, const char *msg, uint64_t n_pkts)
{
	bump(&t->failed, n_pkts);
	pthread_mutex_lock(&t->err_mu);
	snprintf(t->err, sizeof t->err, "%s", msg);
	pthread_mutex_unlock(&t->err_mu);
	uint64_t now = mono_ns();
	if (t->opts.on_error &&
	    (!t->last_report || now - t->last_report >= 1000000000ull)) {
		t->last_report = now;
		t->opts.on_error(t->opts.error_ctx, msg);
	}
}

/* Packets the ring had accepted and then lost with a failed file move
 * from written to failed. Writer thread (or trace_close after it). */
static void settle(struct tracer *t)
{
	uint64_t d = trace_ring_take_discarded(t->ring);
	if (!d)
		return;
	uint64_t w = atomic_load_explicit(&t->written, memory_order_relaxed);
	atomic_store_explicit(&t->written, w > d ? w - d : 0,
			      memory_order_relaxed);
	bump(&t->failed, d);
}

static void write_rec(struct tracer *t, const struct rec *h)
{
	const uint8_t *pre = (const uint8_t *)(h + 1);
	const uint8_t *post = pre + h->pre_len;
	char comment[TRACE_NOTE_MAX], err[ERR_MAX];
	struct trace_note note;
	bool was_pending = trace_ring_pending(t->ring);
	uint32_t flags = dir_flags(h->dir);

	make_note(&note, h, false, pre, post);
	if (trace_note_encode(&note, TRACE_NOTE_ENCODED, comment,
			      sizeof comment) < 0)
		comment[0] = '\0'; /* cannot happen: names < NAT_NAME_MAX */
	if (trace_ring_packet(t->ring, TRACE_RING_IF_PRE, h->ts_ns, pre,
			      h->pre_len, h->pre_orig, flags, comment, err,
			      sizeof err) < 0)
		io_error(t, err, 1);
	else
		bump(&t->written, 1);
	if (h->has_post) {
		make_note(&note, h, true, pre, post);
		if (trace_note_encode(&note, TRACE_NOTE_ENCODED, comment,
				      sizeof comment) < 0)
			comment[0] = '\0';
		if (trace_ring_packet(t->ring, TRACE_RING_IF_POST, h->ts_ns,
				      post, h->post_len, h->post_orig, flags,
				      comment, err, sizeof err) < 0)
			io_error(t, err, 1);
		else
			bump(&t->written, 1);
	}
	if (!was_pending && trace_ring_pending(t->ring))
		t->frame_start = mono_ns();
	settle(t);
	note_lost(t);
	if (trace_ring_rotate_due(t->ring, err, sizeof err) < 0)
		io_error(t, err, 0);
	settle(t);
}

/* Flushes the ring when its oldest unflushed data is frame_ns old (or
 * when forced). */
static void frame_timer(struct tracer *t, bool force)
{
	char err[ERR_MAX];
	if (!trace_ring_pending(t->ring))
		return;
	if (!force && mono_ns() - t->frame_start < t->frame_ns)
		return;
	if (trace_ring_flush(t->ring, err, sizeof err) < 0)
		io_error(t, err, 0);
	settle(t);
}

/* Writes one record; false when the queue is empty. */
static bool drain_one(struct tracer *t)
{
	uint64_t tl = atomic_load_explicit(&t->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&t->head, memory_order_acquire);
	if (tl == h)
		return false;
	size_t off = (size_t)(tl % t->qcap);
	uint32_t size;
	memcpy(&size, t->q + off, sizeof size);
	if (size == WRAP) {
		atomic_store_explicit(&t->tail, tl + (t->qcap - off),
				      memory_order_release);
		return true;
	}
	if (t->opts.test_delay_us)
		sleep_us(t->opts.test_delay_us);
	write_rec(t, (const struct rec *)(const void *)(t->q + off));
	atomic_store_explicit(&t->tail, tl + size, memory_order_release);
	return true;
}

static void *writer_main(void *arg)
{
	struct tracer *t = arg;
	unsigned nap = POLL_MIN_US;
	for (;;) {
		bool stopping =
			atomic_load_explicit(&t->stop, memory_order_acquire);
		uint64_t req = atomic_load_explicit(&t->sync_req,
						    memory_order_acquire);
		bool any = false;
		while (drain_one(t)) {
			any = true;
			frame_timer(t, false);
		}
		bool synced = req != atomic_load_explicit(&t->sync_done,
							  memory_order_relaxed);
		frame_timer(t, synced);
		if (synced)
			atomic_store_explicit(&t->sync_done, req,
					      memory_order_release);
		if (stopping)
			break; /* the queue was empty after stop was seen */
		if (any) {
			nap = POLL_MIN_US;
			continue;
		}
		sleep_us(nap);
		if (nap < POLL_MAX_US)
			nap *= 2;
	}
	frame_timer(t, true);
	return NULL;
}

/* ---- open / close / control ---- */

static void free_tracer(struct tracer *t)
{
	trace_sel_close(t->sel);
	free(t->scratch);
	free(t->q);
	pthread_mutex_destroy(&t->err_mu);
	free(t);
}

struct tracer *trace_open_opts(const struct nat_trace_cfg *cfg,
			       const char *dir_override,
			       const char *filter_override,
			       const struct trace_opts *opts, char *errbuf,
			       size_t errlen)
{
	const char *dir = dir_override && *dir_override ? dir_override
							: cfg->dir;
	const char *filter = filter_override ? filter_override : cfg->filter;
	uint64_t fsize = cfg->file_size ? cfg->file_size : DEF_FILE_SIZE;
	uint32_t files = cfg->files ? cfg->files : DEF_FILES;
	uint32_t queue = cfg->queue ? cfg->queue : DEF_QUEUE;

	struct tracer *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->err_mu, NULL);
	if (opts)
		t->opts = *opts;
	/* Flushes early enough that the poll sleep and the write still keep
	 * the interval within frame_ms. */
	t->frame_ns = (uint64_t)(t->opts.frame_ms ? t->opts.frame_ms
						  : TRACE_FRAME_MS) *
		      1000000ull;
	if (t->frame_ns > 4ull * POLL_MAX_US * 1000)
		t->frame_ns -= 2ull * POLL_MAX_US * 1000;
	atomic_init(&t->enabled, true);
	atomic_init(&t->stop, false);
	atomic_init(&t->head, 0);
	atomic_init(&t->tail, 0);
	atomic_init(&t->sync_req, 0);
	atomic_init(&t->sync_done, 0);
	t->sel = trace_sel_open(filter, cfg->max_packets_per_flow, errbuf,
				errlen);
	if (!t->sel)
		goto fail;
	t->qcap = (size_t)queue * TRACE_QUEUE_UNIT;
	t->q = malloc(t->qcap);
	t->scratch = malloc(TRACE_MAX_PACKET);
	if (!t->q || !t->scratch) {
		snprintf(errbuf, errlen,
			 "trace queue: out of memory (%zu bytes)", t->qcap);
		goto fail;
	}
	t->ring = trace_ring_open(dir, fsize, files, errbuf, errlen);
	if (!t->ring)
		goto fail;
	int rc = pthread_create(&t->thread, NULL, writer_main, t);
	if (rc) {
		snprintf(errbuf, errlen, "trace writer thread: %s",
			 strerror(rc));
		char e2[ERR_MAX];
		(void)trace_ring_close(t->ring, e2, sizeof e2);
		goto fail;
	}
	return t;
fail:
	free_tracer(t);
	return NULL;
}

struct tracer *trace_open(const struct nat_trace_cfg *cfg,
			  const char *dir_override, const char *filter_override,
			  char *errbuf, size_t errlen)
{
	return trace_open_opts(cfg, dir_override, filter_override, NULL, errbuf,
			       errlen);
}

void trace_close(struct tracer *t)
{
	char err[ERR_MAX];
	if (!t)
		return;
	atomic_store_explicit(&t->stop, true, memory_order_release);
	pthread_join(t->thread, NULL);
	note_lost(t);
	if (trace_ring_close(t->ring, err, sizeof err) < 0)
		io_error(t, err, 0);
	free_tracer(t);
}

void trace_sync(struct tracer *t)
{
	uint64_t req = atomic_fetch_add(&t->sync_req, 1) + 1;
	while (atomic_load_explicit(&t->sync_done, memory_order_acquire) < req)
		sleep_us(1000);
}

int trace_set_filter(struct tracer *t, const char *bpf, char *errbuf,
		     size_t errlen)
{
	return trace_sel_set_filter(t->sel, bpf, errbuf, errlen);
}

void trace_set_enabled(struct tracer *t, bool on)
{
	atomic_store_explicit(&t->enabled, on, memory_order_relaxed);
}

bool trace_enabled(const struct tracer *t)
{
	return atomic_load_explicit(&t->enabled, memory_order_relaxed);
}

uint64_t trace_selected(const struct tracer *t)
{
	return atomic_load_explicit(&t->selected, memory_order_relaxed);
}

/* Writer thread: tells the ring what has been lost so far, for the
 * statistics block that ends each file. */
static void note_lost(struct tracer *t)
{
	trace_ring_note_lost(t->ring,
			     atomic_load_explicit(&t->lost,
						  memory_order_relaxed) +
				     atomic_load_explicit(&t->failed,
							  memory_order_relaxed));
}

uint64_t trace_lost(const struct tracer *t)
{
	return atomic_load_explicit(&t->lost, memory_order_relaxed);
}

uint64_t trace_written(const struct tracer *t)
{
	return atomic_load_explicit(&t->written, memory_order_relaxed);
}

uint64_t trace_failed(const struct tracer *t)
{
	return atomic_load_explicit(&t->failed, memory_order_relaxed);
}

void trace_last_error(struct tracer *t, char *buf, size_t len)
{
	pthread_mutex_lock(&t->err_mu);
	snprintf(buf, len, "%s", t->err);
	pthread_mutex_unlock(&t->err_mu);
}

bool trace_watching(const struct tracer *t, uint32_t word)
{
	if (!t || !atomic_load_explicit(&t->enabled, memory_order_relaxed))
		return false;
	return trace_sel_state(t->sel, word) != TRACE_SEL_NO;
}
