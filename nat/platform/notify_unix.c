/* systemd's notify protocol by hand (notify.h): the protocol is a stable,
 * documented interface (sd_notify(3), "NOTIFY_SOCKET"), a few lines of
 * socket code, and libsystemd would be one more library for those lines. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

static int nt_fd = -1;
static struct sockaddr_un nt_addr;
static socklen_t nt_addr_len;
static uint64_t nt_wd_ns; /* ping interval; 0: no watchdog */
static uint64_t nt_wd_last;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One datagram; a failure is ignored: the service manager is gone or
 * busy, and the gateway keeps translating either way. */
static void send_state(const char *msg)
{
	if (nt_fd < 0)
		return;
	while (sendto(nt_fd, msg, strlen(msg), MSG_NOSIGNAL,
		      (const struct sockaddr *)&nt_addr, nt_addr_len) < 0 &&
	       errno == EINTR)
		;
}

bool nat_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");

	if (usec && (!pid || strtoul(pid, NULL, 10) == (unsigned long)getpid())) {
		char *end;
		unsigned long long u = strtoull(usec, &end, 10);
		if (*end == '\0' && u > 0)
			nt_wd_ns = u * 1000ull / 2;
	}
	if (path && (path[0] == '/' || path[0] == '@') &&
	    strlen(path) < sizeof(nt_addr.sun_path)) {
		size_t n = strlen(path);
		memset(&nt_addr, 0, sizeof(nt_addr));
		nt_addr.sun_family = AF_UNIX;
		memcpy(nt_addr.sun_path, path, n);
		if (path[0] == '@')
			nt_addr.sun_path[0] = '\0'; /* abstract namespace */
		nt_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
					  (path[0] == '/'));
		nt_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	if (nt_fd < 0)
		nt_wd_ns = 0; /* nobody to ping */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	nt_wd_last = mono_ns();
	return nt_fd >= 0;
}

static void send_kv(const char *first, const char *status)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", first, first[0] ? "\n" : "",
		 status);
	send_state(msg);
}

void nat_notify_ready(const char *status)
{
	send_kv("READY=1", status);
}

void nat_notify_status(const char *status)
{
	send_kv("", status);
}

void nat_notify_reloading(void)
{
	send_state("RELOADING=1");
}

void nat_notify_stopping(const char *status)
{
	send_kv("STOPPING=1", status);
}

void nat_notify_watchdog(void)
{
	if (!nt_wd_ns)
		return;
	uint64_t now = mono_ns();
	if (now - nt_wd_last < nt_wd_ns)
		return;
	nt_wd_last = now;
	send_state("WATCHDOG=1");
}

uint64_t nat_notify_watchdog_ns(void)
{
	return nt_wd_ns;
}
