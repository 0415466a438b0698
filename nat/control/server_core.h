/* The transport-independent core of the control server (server.c), for
 * its two transports only: server_unix.c (a Unix socket, poll) and
 * server_win.c (a named pipe, overlapped I/O). Internal to nat/control/.
 *
 * The core owns the client slots and their states, the line buffers, the
 * queue handed to the engine thread (a slot in CL_QUEUED, under mu), the
 * deadlines and the counters. A transport owns the connections: it
 * accepts, moves bytes between a connection and its slot's buffers, and
 * runs the control thread's loop, calling the core at each step. The
 * core calls back into the transport through the ctl_link_* functions,
 * which the one transport linked in (chosen by file name in the
 * Makefile) implements.
 *
 * Threads: everything here runs on the control thread, except
 * nat_ctl_server_drain (engine thread) and the counters (any). */
#ifndef GLASSNAT_SERVER_CORE_H
#define GLASSNAT_SERVER_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"

enum ctl_cl_state {
	CL_FREE = 0,
	CL_READING, /* collecting a line */
	CL_QUEUED,  /* request handed to the engine */
	CL_DONE,    /* engine answered; control thread picks it up */
	CL_WRITING, /* sending the response */
	CL_WATCHING, /* subscribed: sending event lines until the peer goes */
};

/* A subscriber's queue: whole event lines, filled by the feed (any
 * thread, under watch_mu), sent by the control thread. Bounded: a line
 * that does not fit is lost and counted, and a watch.loss line tells the
 * reader once room returns. */
struct ctl_watch {
	char *q; /* NAT_CTL_WATCH_QUEUE bytes */
	size_t len;
	uint64_t lines, lost, lost_told;
	struct nat_ctl_req filter;
};

struct ctl_client {
	enum ctl_cl_state st;
	bool close_after; /* after the response is written */
	char *in;	  /* NAT_CTL_LINE_MAX bytes, reserved at start */
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline_ms;
	struct nat_ctl_req req;
	enum nat_ctl_error code; /* of the engine's answer */
	uint64_t last_ms;	 /* last activity: the idlest is evicted */
	struct ctl_watch *w;	 /* CL_WATCHING only */
};

struct ctl_link; /* a transport's own state (server_unix.c, server_win.c) */

struct nat_ctl_server {
	struct ctl_link *link; /* the transport's (ctl_link_new) */
	int wake_fd; /* nat_ctl_server_wake_fd; -1: none */
	unsigned idle_ms;
	bool any_uid;
	pthread_t th;
	atomic_bool stop;
	atomic_bool pending; /* a request was queued since the last drain */
	pthread_mutex_t mu; /* st, out, code of QUEUED / DONE clients */
	struct ctl_client cl[NAT_CTL_CLIENTS_MAX];
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t errors[NAT_CTL_E_MAX];
	/* The event feed (nat_ctl_server_publish): watch_mu guards every
	 * slot's w->q, w->len and the loss counts. */
	pthread_mutex_t watch_mu;
	atomic_uint watchers;
	atomic_bool feed; /* nat_ctl_server_feed_on: someone publishes */
	atomic_uint_fast64_t watch_lines, watch_lost;
};

/* Monotonic milliseconds, for deadlines. */
uint64_t ctl_mono_ms(void);

/* Counts one error of code (NAT_CTL_E_NONE is not counted). */
void ctl_server_count(struct nat_ctl_server *s, enum nat_ctl_error code);

/* A free slot, or -1 (the transport then refuses the client "busy"). */
int ctl_server_slot_free(const struct nat_ctl_server *s);

/* No slot free: closes the busy connection idle the longest (reading
 * with nothing asked, or a half request, or an unread answer; never a
 * subscriber or a request the engine holds), counted "timeout", and
 * returns its slot; -1 when none can go. One slot is so always there
 * for a new client: an administrator is never locked out. */
int ctl_server_evict(struct nat_ctl_server *s);

/* slot now holds a new connection: reading, its idle deadline set. */
void ctl_server_open(struct nat_ctl_server *s, int slot);

/* ctl_link_close, then the slot is free again. */
void ctl_server_close(struct nat_ctl_server *s, int slot);

/* Whether slot is READING or WRITING: the transport waits on its I/O. */
bool ctl_server_busy(const struct nat_ctl_server *s, int slot);

/* The earliest deadline of the busy slots, or next if that is earlier. */
uint64_t ctl_server_next_deadline(const struct nat_ctl_server *s,
				  uint64_t next);

/* A full line buffer and no '\n': answers "oversized" and closes after.
 * Returns true when that happened (the transport stops reading). */
bool ctl_server_full(struct nat_ctl_server *s, int slot);

/* n bytes were read into slot's in[in_len..]. A complete line is parsed
 * and answered or queued: returns true then; false: read more. */
bool ctl_server_received(struct nat_ctl_server *s, int slot, size_t n);

/* slot's out is all sent: closes (close_after), or reads again and takes
 * a pipelined line already buffered. Returns true when the transport
 * should read (the slot is READING with no complete line). */
bool ctl_server_sent(struct nat_ctl_server *s, int slot);

/* The peer is gone (read end or write error): counted "disconnected"
 * when mid-request or mid-response, then closed. */
void ctl_server_gone(struct nat_ctl_server *s, int slot);

/* A subscriber (CL_WATCHING) has bytes to send: copied into its out
 * (the transport sends out[out_off..out_len) and calls this again when
 * done). Returns false when nothing is queued. */
bool ctl_server_watch_refill(struct nat_ctl_server *s, int slot);

/* Starts sending the engine's answers (slots in CL_DONE). */
void ctl_server_pickup(struct nat_ctl_server *s);

/* Closes every busy slot past its deadline at now, counted "timeout"; a
 * peer with a partial line is told so first (ctl_link_say). */
void ctl_server_expire(struct nat_ctl_server *s, uint64_t now);

/* ---- implemented by the transport (server_unix.c, server_win.c) ---- */

/* Whether path can be served; -1 with errbuf when not (Unix: too long,
 * not a socket, or another glassnat answers there; a stale socket is
 * removed. Windows: not \\.\pipe\NAME). */
int ctl_link_check(const char *path, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* A link holding nothing yet, or NULL when memory is short. */
struct ctl_link *ctl_link_new(void);

/* Listens on path (and sets s->wake_fd where there is one). -1 with
 * errbuf; ctl_link_free then releases what was made. */
int ctl_link_open(struct nat_ctl_server *s, const char *path, char *errbuf,
		  size_t errlen) __attribute__((warn_unused_result));

/* The control thread (arg: the server), until s->stop. */
void *ctl_link_main(void *arg);

/* Releases whatever the link holds, and the link. */
void ctl_link_free(struct ctl_link *k);

/* Releases slot's connection, if any (the core then frees the slot). */
void ctl_link_close(struct nat_ctl_server *s, int slot);

/* A response is set in slot's out: start sending it (the Unix socket
 * waits for POLLOUT instead). */
void ctl_link_start_write(struct nat_ctl_server *s, int slot);

/* Best effort, never blocks long: an error line to slot's peer just before
 * the core closes it (a timeout). */
void ctl_link_say(struct nat_ctl_server *s, int slot, enum nat_ctl_error code,
		  const char *msg);

/* Whether this transport can stream events to a subscriber. */
bool ctl_link_can_watch(void);

/* A request was queued (control thread). */
void ctl_link_wake_engine(struct nat_ctl_server *s);

/* The engine is about to run the queue (engine thread). */
void ctl_link_engine_woken(struct nat_ctl_server *s);

/* Responses are ready, or stop: wakes the control thread (any thread). */
void ctl_link_wake_ctl(struct nat_ctl_server *s);

#endif
