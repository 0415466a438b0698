/* The IPFIX exporter (ipfix.h): a bounded single-producer ring filled on
 * the engine thread, drained by a thread of its own that encodes and
 * sends over UDP. Loss is counted where it happens: queue full (lost),
 * send failed (failed). */
#include "ipfix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_MIN_NS 1000000L   /* 1 ms */
#define IDLE_MAX_NS 50000000L  /* 50 ms: how late an event may leave */

struct ipfix_exporter {
	int fd;
	struct ipfix_limits lim;
	uint64_t tpl_interval_ns;
	struct ipfix_rec *ring; /* cap records */
	uint64_t cap;		/* a power of two */
	_Atomic uint64_t head;	/* written by the engine thread */
	_Atomic uint64_t tail;	/* written by the exporter thread */
	_Atomic int stop;
	_Atomic uint64_t sent, lost, failed, messages;
	pthread_t thread;
	struct ipfix_enc enc; /* exporter thread only */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void push(struct ipfix_exporter *x, const struct ipfix_rec *r)
{
	uint64_t h = atomic_load_explicit(&x->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&x->tail, memory_order_acquire);
	if (h - t >= x->cap) {
		atomic_fetch_add_explicit(&x->lost, 1, memory_order_relaxed);
		return;
	}
	x->ring[h & (x->cap - 1)] = *r;
	atomic_store_explicit(&x->head, h + 1, memory_order_release);
}

void ipfix_export_event(struct ipfix_exporter *x, const struct nat_event *ev)
{
	struct ipfix_rec r;
	if (!x)
		return;
	if (ipfix_rec_from_event(ev, &x->lim, &r))
		push(x, &r);
	if (ipfix_rec_quota(ev, &x->lim, &r))
		push(x, &r);
}

/* Sends the message in x->enc; its records count as sent or failed. */
static void send_msg(struct ipfix_exporter *x)
{
	uint32_t recs = x->enc.records;
	size_t len = ipfix_enc_finish(&x->enc);
	if (send(x->fd, x->enc.buf, len, 0) == (ssize_t)len) {
		atomic_fetch_add_explicit(&x->sent, recs, memory_order_relaxed);
		atomic_fetch_add_explicit(&x->messages, 1,
					  memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&x->failed, recs,
					  memory_order_relaxed);
	}
}

static void begin_msg(struct ipfix_exporter *x, uint64_t *next_tpl)
{
	uint64_t now = mono_ns();
	ipfix_enc_begin(&x->enc, (uint32_t)time(NULL));
	if (now >= *next_tpl) {
		ipfix_enc_templates(&x->enc);
		*next_tpl = now + x->tpl_interval_ns;
	}
}

static void *exporter_main(void *arg)
{
	struct ipfix_exporter *x = arg;
	uint64_t next_tpl = 0; /* templates in the first message */
	long idle = IDLE_MIN_NS;

	for (;;) {
		int stop = atomic_load_explicit(&x->stop, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&x->tail, memory_order_relaxed);
		uint64_t h = atomic_load_explicit(&x->head, memory_order_acquire);
		if (t != h || mono_ns() >= next_tpl) {
			begin_msg(x, &next_tpl);
			for (; t != h; t++) {
				const struct ipfix_rec *r =
					&x->ring[t & (x->cap - 1)];
				if (!ipfix_enc_add(&x->enc, r)) {
					send_msg(x);
					begin_msg(x, &next_tpl);
					if (!ipfix_enc_add(&x->enc, r))
						atomic_fetch_add_explicit(
							&x->failed, 1,
							memory_order_relaxed);
				}
				atomic_store_explicit(&x->tail, t + 1,
						      memory_order_release);
			}
			send_msg(x);
			idle = IDLE_MIN_NS;
			continue;
		}
		if (stop)
			break;
		struct timespec ts = { 0, idle };
		nanosleep(&ts, NULL);
		if (idle < IDLE_MAX_NS)
			idle *= 2;
	}
	return NULL;
}

struct ipfix_exporter *ipfix_export_start(const struct nat_ipfix_cfg *cfg,
					  const struct ipfix_limits *lim,
					  char *errbuf, size_t errlen)
{
	struct ipfix_exporter *x = calloc(1, sizeof(*x));
	struct sockaddr_in sa;
	char ip[INET_ADDRSTRLEN];

	if (!x) {
		snprintf(errbuf, errlen, "ipfix: out of memory");
		return NULL;
	}
	x->lim = *lim;
	x->tpl_interval_ns = (uint64_t)cfg->template_interval * 1000000000u;
	x->cap = 16;
	while (x->cap < cfg->queue)
		x->cap <<= 1;
	x->ring = calloc(x->cap, sizeof(*x->ring));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->port);
	sa.sin_addr.s_addr = htonl(cfg->addr);
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	x->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!x->ring || x->fd < 0 ||
	    connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(errbuf, errlen, "ipfix.collector %s:%u: %s", ip,
			 cfg->port, x->ring ? strerror(errno) : "out of memory");
		goto fail;
	}
	ipfix_enc_init(&x->enc, cfg->domain);
	if (pthread_create(&x->thread, NULL, exporter_main, x) != 0) {
		snprintf(errbuf, errlen, "ipfix: cannot start its thread");
		goto fail;
	}
	return x;
fail:
	if (x->fd >= 0)
		close(x->fd);
	free(x->ring);
	free(x);
	return NULL;
}

void ipfix_export_counts(const struct ipfix_exporter *cx,
			 struct ipfix_counts *c)
{
	struct ipfix_exporter *x = (struct ipfix_exporter *)cx;
	memset(c, 0, sizeof(*c));
	if (!x)
		return;
	c->sent = atomic_load(&x->sent);
	c->lost = atomic_load(&x->lost);
	c->failed = atomic_load(&x->failed);
	c->messages = atomic_load(&x->messages);
}

void ipfix_export_stop(struct ipfix_exporter *x, struct ipfix_counts *final)
{
	if (final)
		memset(final, 0, sizeof(*final));
	if (!x)
		return;
	atomic_store_explicit(&x->stop, 1, memory_order_release);
	pthread_join(x->thread, NULL);
	if (final)
		ipfix_export_counts(x, final);
	close(x->fd);
	free(x->ring);
	free(x);
}
