/* The NAT's port_range reserved from Windows' dynamic (ephemeral) port
 * allocator for a run, so the host's own connections never pick a port
 * whose replies the inbound WinDivert handle takes (docs/windows.md,
 * "The host's own connections").
 *
 * Windows' default dynamic range is 49152-65535 and overlaps the default
 * port_range 40000-60000. A persistent TCP and UDP port reservation
 * (CreatePersistentTcpPortReservation, CreatePersistentUdpPortReservation)
 * takes the range out of the allocator; it outlives the process, so the
 * ranges are recorded in a state file before they are reserved, released
 * on exit (Delete...PortReservation) and, after a crash, at the next start.
 *
 * The system calls go through an ops table (nat_portres_ops):
 * hostcfg_win.c has the real ones, the unit tests a fake. A reservation
 * that fails is a warning, never a failed start: the NAT works without
 * it, only the host's own connections may lose replies. */
#ifndef GLASSNAT_PORTRES_H
#define GLASSNAT_PORTRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	NAT_PORTRES_MAX = 4,	   /* reservations in one state file */
	NAT_PORTRES_PATH_MAX = 512, /* state file path */
	NAT_PORTRES_FILE_MAX = 1024 /* state file bytes */
};

/* One reservation: count ports from start, for proto 6 (TCP) or 17 (UDP). */
struct nat_portres_entry {
	uint8_t proto;
	uint16_t start, count;
};

/* The system, as the module sees it. reserve/release return 0 or the
 * system's error code; describe writes that code's text. */
struct nat_portres_ops {
	unsigned long (*reserve)(void *ctx, uint8_t proto, uint16_t start,
				 uint16_t count);
	unsigned long (*release)(void *ctx, uint8_t proto, uint16_t start,
				 uint16_t count);
	void (*describe)(void *ctx, unsigned long code, char *buf,
			 size_t len);
	unsigned long not_found; /* release's code: no such reservation */
	void *ctx;
};

/* One line for people, without a newline; warning: something the host
 * may notice (a reservation not made or not released). */
typedef void (*nat_portres_log_fn)(void *ctx, bool warning, const char *line);

struct nat_portres {
	const struct nat_portres_ops *ops;
	char state_path[NAT_PORTRES_PATH_MAX];
	nat_portres_log_fn log;
	void *log_ctx;
	struct nat_portres_entry held[NAT_PORTRES_MAX]; /* reserved by us */
	size_t n_held;
};

/* Parses a state file: the line "glassnat reserved ports", then one line
 * "tcp|udp START COUNT" per reservation (START 1-65535, COUNT >= 1, the
 * range within 65535), each ending in '\n'. Returns 0 with *n entries in
 * out, or -1 with the line and what is wrong in errbuf. */
int nat_portres_parse(const char *text, size_t len,
		      struct nat_portres_entry out[NAT_PORTRES_MAX], size_t *n,
		      char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Prepares r; state_path is where the reservations are recorded (beside
 * the forwards' state file). log may be NULL. Changes nothing. */
void nat_portres_init(struct nat_portres *r, const struct nat_portres_ops *ops,
		      const char *state_path, nat_portres_log_fn log,
		      void *log_ctx);

/* Releases what a state file left by a run that did not exit cleanly
 * records and deletes the file; no file is not an error. Returns 0, or -1
 * with errbuf (a file it cannot read or parse is kept, and nothing is
 * released from it). */
int nat_portres_recover(struct nat_portres *r, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Reserves lo-hi for TCP, then UDP: records both in the state file first
 * (when that fails nothing is reserved), then one reservation each, one
 * log line each (a warning naming the call, the error and the
 * consequence when it fails). Returns how many were made (0-2). */
size_t nat_portres_apply(struct nat_portres *r, uint16_t lo, uint16_t hi);

/* Releases what apply reserved, one log line each, and deletes the state
 * file (kept when a release failed, so the next start tries again).
 * Safe to call twice or without apply. */
void nat_portres_release(struct nat_portres *r);

#endif
