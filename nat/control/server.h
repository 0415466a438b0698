/* The control server: one thread that accepts clients and reads and
 * writes their lines, handing each valid request to the engine thread
 * through a mutex-protected queue. The engine thread executes the queued
 * requests when it calls nat_ctl_server_drain (between packets), so
 * nothing but that thread ever touches the flow table; a bad request is
 * answered by the control thread and never reaches the engine.
 *
 * One core (server.c: client slots, the queue, deadlines, counters) and
 * two transports: a Unix socket (server_unix.c) and a named pipe
 * (server_win.c). */
#ifndef GLASSNAT_SERVER_H
#define GLASSNAT_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "protocol.h"

struct nat_ctl_server_opts {
	unsigned idle_ms;   /* 0: NAT_CTL_IDLE_MS */
	bool allow_any_uid; /* tests only: skip the root check and chown
			     * (Windows: the default DACL) */
};

struct nat_ctl_server;

/* Creates the socket at path (mode 0660, owner root:root; a stale socket
 * nobody answers on is replaced; a live one or a non-socket file is an
 * error) and starts the control thread. Returns NULL with errbuf.
 * Windows: path is a named pipe, \\.\pipe\NAME, open to LocalSystem and
 * Administrators only (nat/control/server_win.c). */
struct nat_ctl_server *nat_ctl_server_start(const char *path,
					    const struct nat_ctl_server_opts *o,
					    char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread: executes every queued request and hands the responses
 * back. Cheap when nothing is queued (one atomic load): the live loop
 * may call it after every batch. */
void nat_ctl_server_drain(struct nat_ctl_server *s, struct nat_engine *e,
			  const struct nat_ctl_ops *ops);

/* A file descriptor that becomes readable when a request is queued (the
 * live loop may poll it); read it only through nat_ctl_server_drain.
 * Windows: -1 (the engine drains on its tick). */
int nat_ctl_server_wake_fd(const struct nat_ctl_server *s);

/* The event feed for subscribers (glassnat watch): on marks that lines
 * will be published, so subscribe is accepted (without it, subscribe
 * answers "failed"). Any thread. */
void nat_ctl_server_feed_on(struct nat_ctl_server *s, bool on);

/* Complete '\n'-terminated event lines (JSON, as the events file has
 * them) to every subscriber whose filter takes them; a subscriber whose
 * queue is full loses the line (counted). Never blocks on a reader. Any
 * one thread (the watch feed's writer). */
void nat_ctl_server_publish(struct nat_ctl_server *s, const char *lines,
			    size_t len);

/* Subscribers now: the feed's producer may skip work when 0. */
unsigned nat_ctl_server_watchers(const struct nat_ctl_server *s);

/* Lines queued to subscribers and lines they lost, since start. */
void nat_ctl_server_watch_counters(const struct nat_ctl_server *s,
				   uint64_t *lines, uint64_t *lost);

/* Requests answered and errors by code, any thread. */
void nat_ctl_server_counters(const struct nat_ctl_server *s,
			     uint64_t *requests,
			     uint64_t errors[NAT_CTL_E_MAX]);

/* Stops the thread, closes every client, removes the socket file. s may
 * be NULL. */
void nat_ctl_server_stop(struct nat_ctl_server *s);

#endif
