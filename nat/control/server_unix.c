/* The control server's Unix-socket transport (server.h): a SOCK_STREAM
 * socket, mode 0660 root:root, every peer checked with SO_PEERCRED; one
 * control thread accepts, reads and writes non-blocking with poll(), and
 * calls the core (server.c) for everything else. Two eventfds wake the
 * engine (a request is queued: nat_ctl_server_wake_fd) and the control
 * thread (responses are ready, or stop). */
#include "server_core.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct ctl_link {
	char path[SUN_PATH_MAX];
	bool bound; /* path is ours: removed on stop */
	int lfd, wake_engine, wake_ctl;
	int fd[NAT_CTL_CLIENTS_MAX]; /* -1: no connection */
};

struct ctl_link *ctl_link_new(void)
{
	struct ctl_link *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->lfd = k->wake_engine = k->wake_ctl = -1;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		k->fd[i] = -1;
	return k;
}

void ctl_link_free(struct ctl_link *k)
{
	if (k->lfd >= 0)
		close(k->lfd);
	if (k->bound)
		unlink(k->path);
	if (k->wake_engine >= 0)
		close(k->wake_engine);
	if (k->wake_ctl >= 0)
		close(k->wake_ctl);
	free(k);
}

static void poke(int fd)
{
	uint64_t one = 1;
	ssize_t w = write(fd, &one, sizeof(one));
	(void)w;
}

static void drain_fd(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
}

/* An error line to a connection we will not keep: best effort, never
 * waits. */
static void send_error(int fd, enum nat_ctl_error code, const char *msg)
{
	char *line = nat_ctl_error_response(code, msg);
	if (line) {
		ssize_t w = send(fd, line, strlen(line),
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		free(line);
	}
}

static void refuse(struct nat_ctl_server *s, int fd, enum nat_ctl_error code,
		   const char *msg)
{
	ctl_server_count(s, code);
	send_error(fd, code, msg);
	close(fd);
}

static void do_accept(struct nat_ctl_server *s)
{
	struct ctl_link *k = s->link;
	for (int n = 0; n < NAT_CTL_CLIENTS_MAX; n++) {
		int fd = accept4(k->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (!s->any_uid &&
		    (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
		     cr.uid != 0)) {
			refuse(s, fd, NAT_CTL_E_PERMISSION,
			       "permission denied: the control socket takes "
			       "requests from root only");
			continue;
		}
		int slot = ctl_server_slot_free(s);
		if (slot < 0)
			slot = ctl_server_evict(s);
		if (slot < 0) {
			refuse(s, fd, NAT_CTL_E_BUSY,
			       "busy: too many control connections");
			continue;
		}
		k->fd[slot] = fd;
		ctl_server_open(s, slot);
	}
}

static void cl_read(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	int *fd = &s->link->fd[slot];
	for (;;) {
		if (ctl_server_full(s, slot)) {
			if (*fd >= 0)
				shutdown(*fd, SHUT_RD);
			return;
		}
		ssize_t r = read(*fd, c->in + c->in_len,
				 NAT_CTL_LINE_MAX - c->in_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			ctl_server_gone(s, slot);
			return;
		}
		if (ctl_server_received(s, slot, (size_t)r))
			return;
	}
}

/* A subscriber: what it sends is read and dropped (its end shows it is
 * gone); its queue is sent as the socket takes it. */
static void watch_io(struct nat_ctl_server *s, int slot, short revents)
{
	struct ctl_client *c = &s->cl[slot];
	int fd = s->link->fd[slot];
	char sink[512];
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t r = read(fd, sink, sizeof(sink));
		if (r == 0 || (r < 0 && errno != EAGAIN &&
			       errno != EWOULDBLOCK && errno != EINTR)) {
			ctl_server_gone(s, slot);
			return;
		}
	}
	for (;;) {
		if (c->out_off == c->out_len &&
		    !ctl_server_watch_refill(s, slot))
			return;
		ssize_t w = send(fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			ctl_server_gone(s, slot);
			return;
		}
		c->out_off += (size_t)w;
	}
}

/* Whether a subscriber has bytes waiting (its own or queued). */
static bool watch_wants_out(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	bool q;
	if (c->out_off < c->out_len)
		return true;
	pthread_mutex_lock(&s->watch_mu);
	q = c->w && c->w->len > 0;
	pthread_mutex_unlock(&s->watch_mu);
	return q;
}

static void cl_write(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	while (c->out_off < c->out_len) {
		ssize_t w = send(s->link->fd[slot], c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			ctl_server_gone(s, slot);
			return;
		}
		c->out_off += (size_t)w;
	}
	(void)ctl_server_sent(s, slot); /* reading waits for POLLIN */
}

void *ctl_link_main(void *arg)
{
	struct nat_ctl_server *s = arg;
	struct ctl_link *k = s->link;
	struct pollfd pfd[NAT_CTL_CLIENTS_MAX + 2];
	int who[NAT_CTL_CLIENTS_MAX + 2];

	while (!atomic_load(&s->stop)) {
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = k->lfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = k->wake_ctl, .events = POLLIN };
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			if (!ctl_server_busy(s, i))
				continue;
			short ev = s->cl[i].st == CL_READING ? POLLIN : POLLOUT;
			if (s->cl[i].st == CL_WATCHING)
				ev = POLLIN | (watch_wants_out(s, i) ? POLLOUT
								     : 0);
			who[n] = i;
			pfd[n++] = (struct pollfd){ .fd = k->fd[i],
						    .events = ev };
		}
		uint64_t now = ctl_mono_ms();
		uint64_t next = ctl_server_next_deadline(s, now + 1000);
		int rc = poll(pfd, (nfds_t)n, next > now ? (int)(next - now) : 0);
		if (rc < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			drain_fd(k->wake_ctl);
		ctl_server_pickup(s);
		for (int j = 2; j < n; j++) {
			int i = who[j];
			if (!pfd[j].revents || k->fd[i] != pfd[j].fd)
				continue;
			if (s->cl[i].st == CL_READING)
				cl_read(s, i);
			else if (s->cl[i].st == CL_WRITING)
				cl_write(s, i);
			else if (s->cl[i].st == CL_WATCHING)
				watch_io(s, i, pfd[j].revents);
		}
		ctl_server_expire(s, ctl_mono_ms());
		if (pfd[0].revents & POLLIN)
			do_accept(s);
	}
	return NULL;
}

/* ---- what the core asks of the transport (server_core.h) ---- */

void ctl_link_close(struct nat_ctl_server *s, int slot)
{
	int *fd = &s->link->fd[slot];
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void ctl_link_start_write(struct nat_ctl_server *s, int slot)
{
	(void)s; /* server_main polls the slot for POLLOUT */
	(void)slot;
}

void ctl_link_say(struct nat_ctl_server *s, int slot, enum nat_ctl_error code,
		  const char *msg)
{
	send_error(s->link->fd[slot], code, msg);
}

bool ctl_link_can_watch(void)
{
	return true;
}

void ctl_link_wake_engine(struct nat_ctl_server *s)
{
	poke(s->link->wake_engine);
}

void ctl_link_engine_woken(struct nat_ctl_server *s)
{
	drain_fd(s->link->wake_engine);
}

void ctl_link_wake_ctl(struct nat_ctl_server *s)
{
	poke(s->link->wake_ctl);
}

/* Whether something answers on path (a running glassnat). */
static bool socket_alive(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	bool alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

int ctl_link_check(const char *path, char *errbuf, size_t errlen)
{
	struct stat stt;
	if (strlen(path) >= SUN_PATH_MAX || path[0] == '\0') {
		snprintf(errbuf, errlen,
			 "control socket path '%s': empty or longer than %zu "
			 "bytes",
			 path, SUN_PATH_MAX - 1);
		return -1;
	}
	if (lstat(path, &stt) != 0)
		return 0;
	if (!S_ISSOCK(stt.st_mode)) {
		snprintf(errbuf, errlen,
			 "control socket %s: exists and is not a socket; "
			 "remove it or set control_socket",
			 path);
		return -1;
	}
	if (socket_alive(path)) {
		snprintf(errbuf, errlen,
			 "control socket %s: another glassnat answers there "
			 "(stop it, or give this one its own control_socket)",
			 path);
		return -1;
	}
	unlink(path); /* stale: left by a crash */
	return 0;
}

/* Binds and listens on path: created 0600 and only then opened up to
 * 0660 root:root, so no moment exists where another user could connect. */
int ctl_link_open(struct nat_ctl_server *s, const char *path, char *errbuf,
		  size_t errlen)
{
	struct ctl_link *k = s->link;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(k->path, sizeof(k->path), "%s", path);
	k->wake_engine = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	k->wake_ctl = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	k->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->wake_engine < 0 || k->wake_ctl < 0 || k->lfd < 0) {
		snprintf(errbuf, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	s->wake_fd = k->wake_engine;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	mode_t old = umask(0177);
	int brc = bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (brc != 0) {
		snprintf(errbuf, errlen, "control socket %s: bind: %s", path,
			 strerror(errno));
		return -1;
	}
	k->bound = true;
	if (!s->any_uid && chown(path, 0, 0) != 0) {
		snprintf(errbuf, errlen, "control socket %s: chown root: %s",
			 path, strerror(errno));
		return -1;
	}
	if (chmod(path, 0660) != 0 || listen(k->lfd, 64) != 0) {
		snprintf(errbuf, errlen, "control socket %s: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}
