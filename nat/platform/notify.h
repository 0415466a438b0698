/* Telling the service manager how the run goes. Linux: systemd's notify
 * protocol (sd_notify(3): one datagram of "KEY=value" lines to the
 * AF_UNIX socket in $NOTIFY_SOCKET, a leading '@' naming an abstract
 * socket; WATCHDOG=1 at half of $WATCHDOG_USEC). Windows: the service
 * control manager's status when glassnat runs as a service (service_win.c).
 * Without a service manager every call is a no-op. Calls come from the
 * engine thread (main). notify_unix.c, notify_win.c. */
#ifndef GLASSNAT_NOTIFY_H
#define GLASSNAT_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Reads the environment once (and removes NOTIFY_SOCKET, WATCHDOG_USEC and
 * WATCHDOG_PID from it, so programs glassnat runs do not inherit them).
 * Returns true when a service manager listens. */
bool nat_notify_init(void);

/* READY=1 with STATUS=status: the gateway translates. */
void nat_notify_ready(const char *status);

/* STATUS=status (a line shown by `systemctl status`). */
void nat_notify_status(const char *status);

/* RELOADING=1 (a SIGHUP's reload begins); nat_notify_ready ends it. */
void nat_notify_reloading(void);

/* STOPPING=1 with STATUS=status: the gateway is shutting down. */
void nat_notify_stopping(const char *status);

/* WATCHDOG=1 when half the watchdog interval has passed since the last
 * one; call it often (the engine's ~100 ms tick). */
void nat_notify_watchdog(void);

/* The interval between watchdog pings in ns (half WATCHDOG_USEC), 0 when
 * the service manager asked for none. */
uint64_t nat_notify_watchdog_ns(void);

#endif
