/* The control server's core: client slots, the queue to the engine
 * thread, deadlines, responses and counters (server_core.h). The Unix
 * socket (server_unix.c) and the named pipe (server_win.c) move the bytes
 * and call in here, so both answer alike: same limits (NAT_CTL_LINE_MAX,
 * NAT_CTL_CLIENTS_MAX, idle_ms), same error codes, same counting. */
#include "server_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERRLEN 512

uint64_t ctl_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ctl_server_count(struct nat_ctl_server *s, enum nat_ctl_error c)
{
	if (c != NAT_CTL_E_NONE && (unsigned)c < NAT_CTL_E_MAX)
		atomic_fetch_add(&s->errors[c], 1);
}

static void server_free(struct nat_ctl_server *s)
{
	if (s->link)
		ctl_link_free(s->link);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		free(s->cl[i].in);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->watch_mu);
	free(s);
}

/* When a reading slot with nothing asked is dropped: sooner than one
 * with half a request, so idle connections do not hold slots long. */
static uint64_t idle_deadline(const struct nat_ctl_server *s,
			      const struct ctl_client *c, uint64_t now)
{
	unsigned ms = s->idle_ms;
	if (c->st == CL_READING && c->in_len == 0 &&
	    ms > NAT_CTL_IDLE_EMPTY_MS)
		ms = NAT_CTL_IDLE_EMPTY_MS;
	return now + ms;
}

struct nat_ctl_server *nat_ctl_server_start(const char *path,
					    const struct nat_ctl_server_opts *o,
					    char *errbuf, size_t errlen)
{
	if (ctl_link_check(path, errbuf, errlen) < 0)
		return NULL;
	struct nat_ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	s->wake_fd = -1;
	s->idle_ms = o && o->idle_ms ? o->idle_ms : NAT_CTL_IDLE_MS;
	s->any_uid = o && o->allow_any_uid;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->watch_mu, NULL);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		s->cl[i].in = malloc(NAT_CTL_LINE_MAX);
		if (!s->cl[i].in) {
			snprintf(errbuf, errlen, "out of memory");
			goto fail;
		}
	}
	s->link = ctl_link_new();
	if (!s->link) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	if (ctl_link_open(s, path, errbuf, errlen) < 0)
		goto fail;
	if (pthread_create(&s->th, NULL, ctl_link_main, s) != 0) {
		snprintf(errbuf, errlen, "control socket: cannot start its "
					 "thread");
		goto fail;
	}
	return s;
fail:
	server_free(s);
	return NULL;
}

int ctl_server_slot_free(const struct nat_ctl_server *s)
{
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		if (s->cl[i].st == CL_FREE)
			return i;
	return -1;
}

int ctl_server_evict(struct nat_ctl_server *s)
{
	int best = -1;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		const struct ctl_client *c = &s->cl[i];
		if (c->st != CL_READING && c->st != CL_WRITING)
			continue;
		if (best < 0 || c->last_ms < s->cl[best].last_ms)
			best = i;
	}
	if (best < 0)
		return -1;
	ctl_server_count(s, NAT_CTL_E_TIMEOUT);
	if (s->cl[best].st == CL_READING)
		ctl_link_say(s, best, NAT_CTL_E_TIMEOUT,
			     "timeout: closed, idle the longest, to make room "
			     "for a new connection");
	ctl_server_close(s, best);
	return best;
}

void ctl_server_open(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	uint64_t now = ctl_mono_ms();
	c->st = CL_READING;
	c->in_len = 0;
	c->last_ms = now;
	c->deadline_ms = idle_deadline(s, c, now);
}

void ctl_server_close(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	ctl_link_close(s, slot);
	if (c->w) {
		pthread_mutex_lock(&s->watch_mu);
		free(c->w->q);
		free(c->w);
		c->w = NULL;
		pthread_mutex_unlock(&s->watch_mu);
		atomic_fetch_sub(&s->watchers, 1);
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->in_len = 0;
	c->close_after = false;
	c->st = CL_FREE;
}

/* A slot's state as the control thread sees it without mu: the engine
 * thread moves a QUEUED slot to DONE (under mu) while this thread scans
 * every slot, so the scan reads atomically (nat_ctl_server_drain stores
 * atomically). The control thread's own moves need nothing more. */
static enum ctl_cl_state cl_state(const struct nat_ctl_server *s, int slot)
{
	return __atomic_load_n(&s->cl[slot].st, __ATOMIC_ACQUIRE);
}

bool ctl_server_busy(const struct nat_ctl_server *s, int slot)
{
	enum ctl_cl_state st = cl_state(s, slot);
	return st == CL_READING || st == CL_WRITING || st == CL_WATCHING;
}

/* Busy with a deadline: a subscriber has none (it may be quiet for
 * hours; a stalled one only loses lines). */
static bool timed(const struct nat_ctl_server *s, int slot)
{
	enum ctl_cl_state st = cl_state(s, slot);
	return st == CL_READING || st == CL_WRITING;
}

uint64_t ctl_server_next_deadline(const struct nat_ctl_server *s,
				  uint64_t next)
{
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		if (timed(s, i) && s->cl[i].deadline_ms < next)
			next = s->cl[i].deadline_ms;
	return next;
}

/* Starts sending line (owned); a NULL line (no memory) closes. */
static void respond(struct nat_ctl_server *s, int slot, char *line,
		    bool close_after)
{
	struct ctl_client *c = &s->cl[slot];
	if (!line) {
		ctl_server_close(s, slot);
		return;
	}
	atomic_fetch_add(&s->requests, 1);
	free(c->out);
	c->out = line;
	c->out_len = strlen(line);
	c->out_off = 0;
	c->close_after = close_after;
	c->st = CL_WRITING;
	c->last_ms = ctl_mono_ms();
	c->deadline_ms = c->last_ms + s->idle_ms;
	ctl_link_start_write(s, slot);
}

/* subscribe: the slot becomes a subscriber; the answer is the first line
 * of its queue, the events follow. */
static void subscribe(struct nat_ctl_server *s, int slot)
{
	static const char ok[] =
		"{\"success\":true,\"message\":\"Watching: one event a line "
		"follows\"}\n";
	struct ctl_client *c = &s->cl[slot];
	struct ctl_watch *w;
	if (!ctl_link_can_watch() || !atomic_load(&s->feed)) {
		ctl_server_count(s, NAT_CTL_E_FAILED);
		respond(s, slot,
			nat_ctl_error_response(
				NAT_CTL_E_FAILED,
				ctl_link_can_watch()
					? "subscribe: no event feed here "
					  "(glassnat run has one)"
					: "subscribe: not on Windows yet "
					  "(read the events file)"),
			false);
		return;
	}
	if (atomic_load(&s->watchers) >= NAT_CTL_WATCHERS_MAX) {
		char msg[96];
		ctl_server_count(s, NAT_CTL_E_BUSY);
		snprintf(msg, sizeof(msg),
			 "busy: %d subscribers already (the most at once)",
			 NAT_CTL_WATCHERS_MAX);
		respond(s, slot, nat_ctl_error_response(NAT_CTL_E_BUSY, msg),
			false);
		return;
	}
	w = calloc(1, sizeof(*w));
	char *out = malloc(NAT_CTL_WATCH_QUEUE);
	if (w)
		w->q = malloc(NAT_CTL_WATCH_QUEUE);
	if (!w || !w->q || !out) {
		if (w)
			free(w->q);
		free(w);
		free(out);
		ctl_server_count(s, NAT_CTL_E_FAILED);
		respond(s, slot,
			nat_ctl_error_response(NAT_CTL_E_FAILED,
					       "subscribe: out of memory"),
			false);
		return;
	}
	atomic_fetch_add(&s->requests, 1);
	w->filter = c->req;
	memcpy(w->q, ok, sizeof(ok) - 1);
	w->len = sizeof(ok) - 1;
	free(c->out);
	c->out = out;
	c->out_len = c->out_off = 0;
	c->in_len = 0; /* what follows subscribe is not read */
	c->st = CL_WATCHING;
	atomic_fetch_add(&s->watchers, 1);
	pthread_mutex_lock(&s->watch_mu);
	c->w = w;
	pthread_mutex_unlock(&s->watch_mu);
	ctl_link_start_write(s, slot);
}

bool ctl_server_watch_refill(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	bool any;
	if (!c->w)
		return false;
	pthread_mutex_lock(&s->watch_mu);
	any = c->w->len > 0;
	if (any) {
		memcpy(c->out, c->w->q, c->w->len);
		c->out_len = c->w->len;
		c->out_off = 0;
		c->w->len = 0;
	}
	pthread_mutex_unlock(&s->watch_mu);
	if (any)
		c->last_ms = ctl_mono_ms();
	return any;
}

/* Appends one line to w if it fits (watch_mu held). */
static bool watch_put(struct ctl_watch *w, const char *line, size_t n)
{
	if (NAT_CTL_WATCH_QUEUE - w->len < n)
		return false;
	memcpy(w->q + w->len, line, n);
	w->len += n;
	return true;
}

void nat_ctl_server_publish(struct nat_ctl_server *s, const char *lines,
			    size_t len)
{
	bool queued = false;
	if (!s || atomic_load(&s->watchers) == 0)
		return;
	pthread_mutex_lock(&s->watch_mu);
	while (len > 0) {
		const char *nl = memchr(lines, '\n', len);
		size_t n = nl ? (size_t)(nl - lines) + 1 : len;
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			struct ctl_watch *w = s->cl[i].w;
			if (!w || !nat_ctl_event_matches(&w->filter, lines,
							 n - (nl != NULL)))
				continue;
			if (w->lost > w->lost_told) {
				char note[160];
				int k = snprintf(
					note, sizeof(note),
					"{\"ev\":\"watch.loss\",\"lost_since_"
					"last\":%llu,\"lost_total\":%llu}\n",
					(unsigned long long)(w->lost -
							     w->lost_told),
					(unsigned long long)w->lost);
				if (k > 0 && watch_put(w, note, (size_t)k))
					w->lost_told = w->lost;
			}
			if (w->lost == w->lost_told &&
			    watch_put(w, lines, n)) {
				w->lines++;
				atomic_fetch_add(&s->watch_lines, 1);
				queued = true;
			} else {
				w->lost++;
				atomic_fetch_add(&s->watch_lost, 1);
			}
		}
		lines += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->watch_mu);
	if (queued)
		ctl_link_wake_ctl(s);
}

void nat_ctl_server_feed_on(struct nat_ctl_server *s, bool on)
{
	if (s)
		atomic_store(&s->feed, on);
}

unsigned nat_ctl_server_watchers(const struct nat_ctl_server *s)
{
	return s ? atomic_load(&((struct nat_ctl_server *)s)->watchers) : 0;
}

void nat_ctl_server_watch_counters(const struct nat_ctl_server *s,
				   uint64_t *lines, uint64_t *lost)
{
	struct nat_ctl_server *m = (struct nat_ctl_server *)s;
	*lines = atomic_load(&m->watch_lines);
	*lost = atomic_load(&m->watch_lost);
}

/* A complete line is in in[0..n): parse it, answer or queue it. */
static void take_line(struct nat_ctl_server *s, int slot, size_t n)
{
	struct ctl_client *c = &s->cl[slot];
	char err[ERRLEN];
	enum nat_ctl_error code;
	size_t len = n;
	if (len > 0 && c->in[len - 1] == '\r')
		len--;
	int rc = nat_ctl_parse(c->in, len, &c->req, &code, err, sizeof(err));
	/* Keep what followed the line (a pipelined request). */
	memmove(c->in, c->in + n + 1, c->in_len - n - 1);
	c->in_len -= n + 1;
	if (rc < 0) {
		ctl_server_count(s, code);
		respond(s, slot, nat_ctl_error_response(code, err), false);
		return;
	}
	if (c->req.action == NAT_CTL_SUBSCRIBE) {
		subscribe(s, slot);
		return;
	}
	pthread_mutex_lock(&s->mu);
	c->st = CL_QUEUED;
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->pending, true);
	ctl_link_wake_engine(s);
}

bool ctl_server_full(struct nat_ctl_server *s, int slot)
{
	if (s->cl[slot].in_len < NAT_CTL_LINE_MAX)
		return false;
	char msg[96];
	ctl_server_count(s, NAT_CTL_E_OVERSIZED);
	snprintf(msg, sizeof(msg),
		 "request line longer than %d bytes: connection closed",
		 NAT_CTL_LINE_MAX - 1);
	respond(s, slot, nat_ctl_error_response(NAT_CTL_E_OVERSIZED, msg),
		true);
	return true;
}

bool ctl_server_received(struct nat_ctl_server *s, int slot, size_t n)
{
	struct ctl_client *c = &s->cl[slot];
	size_t before = c->in_len;
	c->in_len += n;
	if (n > 0) {
		c->last_ms = ctl_mono_ms();
		c->deadline_ms = c->last_ms + s->idle_ms;
	}
	char *nl = memchr(c->in + before, '\n', c->in_len - before);
	if (!nl)
		return false;
	take_line(s, slot, (size_t)(nl - c->in));
	return true;
}

bool ctl_server_sent(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	free(c->out);
	c->out = NULL;
	if (c->close_after) {
		ctl_server_close(s, slot);
		return false;
	}
	c->st = CL_READING;
	c->last_ms = ctl_mono_ms();
	c->deadline_ms = idle_deadline(s, c, c->last_ms);
	/* A pipelined request may already be complete. */
	char *nl = memchr(c->in, '\n', c->in_len);
	if (!nl)
		return true;
	take_line(s, slot, (size_t)(nl - c->in));
	return false;
}

void ctl_server_gone(struct nat_ctl_server *s, int slot)
{
	/* Mid-request or mid-response is counted; nobody to answer. */
	if (s->cl[slot].st == CL_WRITING || s->cl[slot].in_len > 0)
		ctl_server_count(s, NAT_CTL_E_DISCONNECTED);
	ctl_server_close(s, slot);
}

void ctl_server_pickup(struct nat_ctl_server *s)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		struct ctl_client *c = &s->cl[i];
		if (c->st != CL_DONE)
			continue;
		char *line = c->out;
		c->out = NULL;
		ctl_server_count(s, c->code);
		respond(s, i, line, false);
	}
	pthread_mutex_unlock(&s->mu);
}

void ctl_server_expire(struct nat_ctl_server *s, uint64_t now)
{
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		struct ctl_client *c = &s->cl[i];
		if (!timed(s, i) || now < c->deadline_ms)
			continue;
		ctl_server_count(s, NAT_CTL_E_TIMEOUT);
		if (c->st == CL_READING && c->in_len > 0) {
			char msg[96];
			snprintf(msg, sizeof(msg),
				 "timeout: no complete request line within "
				 "%u ms",
				 s->idle_ms);
			ctl_link_say(s, i, NAT_CTL_E_TIMEOUT, msg);
		}
		ctl_server_close(s, i);
	}
}

/* ---- the public API (server.h) ---- */

void nat_ctl_server_drain(struct nat_ctl_server *s, struct nat_engine *e,
			  const struct nat_ctl_ops *ops)
{
	int todo[NAT_CTL_CLIENTS_MAX], n = 0;
	if (!atomic_exchange(&s->pending, false))
		return;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		if (s->cl[i].st == CL_QUEUED)
			todo[n++] = i;
	pthread_mutex_unlock(&s->mu);
	if (n == 0)
		return;
	ctl_link_engine_woken(s);
	for (int k = 0; k < n; k++) {
		struct ctl_client *c = &s->cl[todo[k]];
		enum nat_ctl_error code;
		/* c->req is stable while QUEUED: only this thread reads it. */
		char *line = nat_ctl_execute(e, ops, &c->req, &code);
		pthread_mutex_lock(&s->mu);
		c->out = line;
		c->code = code;
		__atomic_store_n(&c->st, CL_DONE, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&s->mu);
	}
	ctl_link_wake_ctl(s);
}

int nat_ctl_server_wake_fd(const struct nat_ctl_server *s)
{
	return s->wake_fd;
}

void nat_ctl_server_counters(const struct nat_ctl_server *s,
			     uint64_t *requests,
			     uint64_t errors[NAT_CTL_E_MAX])
{
	struct nat_ctl_server *m = (struct nat_ctl_server *)s;
	*requests = atomic_load(&m->requests);
	for (int i = 0; i < NAT_CTL_E_MAX; i++)
		errors[i] = atomic_load(&m->errors[i]);
}

void nat_ctl_server_stop(struct nat_ctl_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	ctl_link_wake_ctl(s);
	pthread_join(s->th, NULL);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		ctl_server_close(s, i);
	server_free(s);
}
