/* The control client over a Unix socket (client.h). */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The largest answer read: far above any response (flows are capped by
 * NAT_CTL_FLOWS_MAX). */
#define RESP_MAX (256u << 20)

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum nat_ctl_call_result connect_to(const char *path, int *fd_out,
					   unsigned long *oserr)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	if (plen >= sizeof(sa.sun_path)) {
		*oserr = ENAMETOOLONG;
		return NAT_CTL_CALL_ERROR;
	}
	memcpy(sa.sun_path, path, plen + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		*fd_out = fd;
		return NAT_CTL_CALL_OK;
	}
	int err = errno;
	if (fd >= 0)
		close(fd);
	switch (err) {
	case ENOENT:
		return NAT_CTL_CALL_NOT_RUNNING;
	case ECONNREFUSED:
		return NAT_CTL_CALL_NO_ANSWER;
	case EACCES:
	case EPERM:
		return NAT_CTL_CALL_DENIED;
	default:
		*oserr = (unsigned long)err;
		return NAT_CTL_CALL_ERROR;
	}
}

/* Sends the request line; a server that refuses at once (closes) still
 * has its answer read by the caller. */
static void send_line(int fd, const char *line)
{
	size_t len = strlen(line), off = 0;
	while (off < len) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

enum nat_ctl_call_result nat_ctl_call(const char *path, const char *line,
				      unsigned timeout_ms, char **resp,
				      size_t *resp_len, unsigned long *oserr)
{
	*resp = NULL;
	*resp_len = 0;
	*oserr = 0;
	int fd = -1;
	enum nat_ctl_call_result rc = connect_to(path, &fd, oserr);
	if (rc != NAT_CTL_CALL_OK)
		return rc;

	send_line(fd, line);

	uint64_t deadline = mono_ms() + timeout_ms;
	size_t cap = 65536, used = 0;
	char *buf = malloc(cap);
	bool done = false;
	rc = NAT_CTL_CALL_CLOSED;
	while (buf && !done) {
		uint64_t now = mono_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = now < deadline ? poll(&p, 1, (int)(deadline - now))
					: 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			rc = NAT_CTL_CALL_TIMEOUT;
			break;
		}
		if (used + 1 >= cap) {
			char *nb = cap < RESP_MAX ? realloc(buf, cap * 2) : NULL;
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + used, cap - used - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done = memchr(buf + used, '\n', (size_t)r) != NULL;
		used += (size_t)r;
	}
	close(fd);
	if (!done) {
		free(buf);
		return rc;
	}
	buf[used] = '\0';
	*resp = buf;
	*resp_len = used;
	return NAT_CTL_CALL_OK;
}

enum nat_ctl_call_result nat_ctl_stream(const char *path, const char *line,
					unsigned timeout_ms,
					bool (*on_line)(void *ctx,
							const char *line,
							size_t len),
					void *ctx, unsigned long *oserr)
{
	enum { BUF = 1 << 16 };
	int fd = -1;
	*oserr = 0;
	enum nat_ctl_call_result rc = connect_to(path, &fd, oserr);
	if (rc != NAT_CTL_CALL_OK)
		return rc;
	send_line(fd, line);
	char *buf = malloc(BUF);
	size_t used = 0;
	bool first = true;
	uint64_t deadline = mono_ms() + timeout_ms;
	rc = NAT_CTL_CALL_CLOSED;
	while (buf) {
		int wait = -1;
		if (first) {
			uint64_t now = mono_ms();
			wait = now < deadline ? (int)(deadline - now) : 0;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, wait);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			rc = NAT_CTL_CALL_TIMEOUT;
			break;
		}
		if (pr < 0) {
			*oserr = (unsigned long)errno;
			rc = NAT_CTL_CALL_ERROR;
			break;
		}
		if (used == BUF) { /* a line longer than any event: cut */
			buf[BUF - 1] = '\n';
		} else {
			ssize_t r = read(fd, buf + used, BUF - used);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			used += (size_t)r;
		}
		size_t start = 0;
		char *nl;
		bool go = true;
		while (go && (nl = memchr(buf + start, '\n', used - start))) {
			size_t n = (size_t)(nl - (buf + start));
			first = false;
			go = on_line(ctx, buf + start, n);
			start += n + 1;
		}
		memmove(buf, buf + start, used - start);
		used -= start;
		if (!go) {
			rc = NAT_CTL_CALL_OK;
			break;
		}
	}
	free(buf);
	close(fd);
	return rc;
}
