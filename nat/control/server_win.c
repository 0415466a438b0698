/* The control server and client on Windows: a named pipe
 * (\\.\pipe\glassnat by default) instead of a Unix socket.
 *
 * Why a pipe and not AF_UNIX: Windows 10 has AF_UNIX, but Debian 12's wine
 * (8.0) has not (socket() fails with WSAEAFNOSUPPORT), so an AF_UNIX
 * server could not be run by `make windows-test`; named pipes run under
 * wine and are the Windows-native local IPC. The protocol on the pipe is
 * the Linux socket's, byte for byte: one JSON line in, one JSON line out,
 * parsed and executed by the shared functions of control.c.
 *
 * Same shape as the Linux server (control.c): one control thread does all
 * pipe I/O (overlapped, one operation per client at a time, waited for
 * with WaitForMultipleObjects and per-client deadlines); valid requests are
 * queued under the mutex and executed by the engine thread in
 * nat_ctl_server_drain. Same limits (NAT_CTL_LINE_MAX, NAT_CTL_CLIENTS_MAX,
 * idle_ms) and error codes.
 *
 * Access: the pipe's DACL grants access to LocalSystem and
 * BUILTIN\Administrators only (an elevated administrator; a non-elevated
 * one is denied by the kernel, CreateFile fails with ERROR_ACCESS_DENIED).
 * That is the counterpart of the Linux socket's mode 0660 root:root; there
 * is no per-connection SO_PEERCRED check on top (see docs/windows.md). */
#ifdef _WIN32

#include "control.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <sddl.h>

#define PIPE_PREFIX "\\\\.\\pipe\\"
#define PIPE_BUF_BYTES 65536

enum cl_state {
	CL_FREE = 0,
	CL_READING, /* collecting a line */
	CL_QUEUED,  /* request handed to the engine */
	CL_DONE,    /* engine answered; control thread picks it up */
	CL_WRITING, /* sending the response */
};

struct client {
	HANDLE h; /* INVALID_HANDLE_VALUE when free */
	enum cl_state st;
	bool close_after; /* after the response is written */
	bool pending;	  /* an overlapped read or write is outstanding */
	OVERLAPPED ov;	  /* ov.hEvent: manual reset, made at start */
	char *in;	  /* NAT_CTL_LINE_MAX bytes, reserved at start */
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline_ms;
	struct nat_ctl_req req;
	enum nat_ctl_error code; /* of the engine's answer */
};

struct nat_ctl_server {
	char path[NAT_PATH_MAX];
	HANDLE lh;	/* the instance waiting for the next client */
	OVERLAPPED lov; /* its ConnectNamedPipe */
	bool lpending;
	bool lnow; /* connected before ConnectNamedPipe: lov holds nothing */
	HANDLE wake_ctl; /* auto-reset: the engine answered, or stop */
	PSECURITY_DESCRIPTOR sd;
	SECURITY_ATTRIBUTES sa;
	unsigned idle_ms;
	bool any_uid;
	pthread_t th;
	atomic_bool stop;
	pthread_mutex_t mu; /* st, out, code of QUEUED / DONE clients */
	struct client cl[NAT_CTL_CLIENTS_MAX];
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t errors[NAT_CTL_E_MAX];
};

static uint64_t mono_ms(void)
{
	return (uint64_t)GetTickCount64();
}

static void count_err(struct nat_ctl_server *s, enum nat_ctl_error c)
{
	if (c != NAT_CTL_E_NONE && (unsigned)c < NAT_CTL_E_MAX)
		atomic_fetch_add(&s->errors[c], 1);
}

/* Windows' message for err, without the trailing CR LF. */
static const char *win_msg(DWORD err, char *buf, size_t len)
{
	DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
					 FORMAT_MESSAGE_IGNORE_INSERTS,
				 NULL, err, 0, buf, (DWORD)len, NULL);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	if (n == 0)
		snprintf(buf, len, "error %lu", (unsigned long)err);
	return buf;
}

/* Waits for c's outstanding operation to end (cancelled first). */
static void cl_cancel(struct client *c)
{
	DWORD n;
	if (!c->pending)
		return;
	CancelIoEx(c->h, &c->ov);
	GetOverlappedResult(c->h, &c->ov, &n, TRUE);
	c->pending = false;
}

/* Closing the server end (without DisconnectNamedPipe) keeps what was
 * written readable by the client, then it reads ERROR_BROKEN_PIPE. */
static void cl_close(struct client *c)
{
	cl_cancel(c);
	if (c->h != INVALID_HANDLE_VALUE)
		CloseHandle(c->h);
	c->h = INVALID_HANDLE_VALUE;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->in_len = 0;
	c->close_after = false;
	c->st = CL_FREE;
}

/* An error line to a pipe we will not keep: best effort, waits at most
 * 100 ms (the line fits the pipe's buffer, so it never has to). */
static void send_error(HANDLE h, enum nat_ctl_error code, const char *msg)
{
	char *line = nat_ctl_error_response(code, msg);
	OVERLAPPED ov = { 0 };
	DWORD n;
	if (!line)
		return;
	ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	if (ov.hEvent) {
		if (WriteFile(h, line, (DWORD)strlen(line), NULL, &ov) ||
		    GetLastError() == ERROR_IO_PENDING) {
			if (WaitForSingleObject(ov.hEvent, 100) != WAIT_OBJECT_0)
				CancelIoEx(h, &ov);
			GetOverlappedResult(h, &ov, &n, TRUE);
		}
		CloseHandle(ov.hEvent);
	}
	free(line);
}

static void cl_start_read(struct nat_ctl_server *s, struct client *c);
static void cl_start_write(struct nat_ctl_server *s, struct client *c);

/* Starts sending line (owned); a NULL line (no memory) closes. */
static void cl_respond(struct nat_ctl_server *s, struct client *c, char *line,
		       bool close_after)
{
	if (!line) {
		cl_close(c);
		return;
	}
	atomic_fetch_add(&s->requests, 1);
	free(c->out);
	c->out = line;
	c->out_len = strlen(line);
	c->out_off = 0;
	c->close_after = close_after;
	c->st = CL_WRITING;
	c->deadline_ms = mono_ms() + s->idle_ms;
	cl_start_write(s, c);
}

/* A complete line is in c->in[0..n): parse it, answer or queue it. */
static void cl_line(struct nat_ctl_server *s, struct client *c, size_t n)
{
	char err[512];
	enum nat_ctl_error code;
	size_t len = n;
	if (len > 0 && c->in[len - 1] == '\r')
		len--;
	int rc = nat_ctl_parse(c->in, len, &c->req, &code, err, sizeof(err));
	/* Keep what followed the line (a pipelined request). */
	memmove(c->in, c->in + n + 1, c->in_len - n - 1);
	c->in_len -= n + 1;
	if (rc < 0) {
		count_err(s, code);
		cl_respond(s, c, nat_ctl_error_response(code, err), false);
		return;
	}
	pthread_mutex_lock(&s->mu);
	c->st = CL_QUEUED;
	pthread_mutex_unlock(&s->mu);
	/* The engine drains on its tick (~100 ms): no wake needed. */
}

/* The client is gone: mid-request (or before its answer) is counted. */
static void cl_gone(struct nat_ctl_server *s, struct client *c)
{
	if (c->st == CL_WRITING || c->in_len > 0)
		count_err(s, NAT_CTL_E_DISCONNECTED);
	cl_close(c);
}

static void cl_start_read(struct nat_ctl_server *s, struct client *c)
{
	if (c->in_len == NAT_CTL_LINE_MAX) {
		char msg[96];
		count_err(s, NAT_CTL_E_OVERSIZED);
		snprintf(msg, sizeof(msg),
			 "request line longer than %d bytes: connection closed",
			 NAT_CTL_LINE_MAX - 1);
		cl_respond(s, c,
			   nat_ctl_error_response(NAT_CTL_E_OVERSIZED, msg),
			   true);
		return;
	}
	ResetEvent(c->ov.hEvent);
	if (ReadFile(c->h, c->in + c->in_len,
		     (DWORD)(NAT_CTL_LINE_MAX - c->in_len), NULL, &c->ov) ||
	    GetLastError() == ERROR_IO_PENDING) {
		c->pending = true; /* the event is set either way */
		return;
	}
	cl_gone(s, c);
}

static void cl_start_write(struct nat_ctl_server *s, struct client *c)
{
	ResetEvent(c->ov.hEvent);
	if (WriteFile(c->h, c->out + c->out_off,
		      (DWORD)(c->out_len - c->out_off), NULL, &c->ov) ||
	    GetLastError() == ERROR_IO_PENDING) {
		c->pending = true;
		return;
	}
	cl_gone(s, c);
}

/* c's operation has ended (its event is set). */
static void cl_complete(struct nat_ctl_server *s, struct client *c)
{
	DWORD n = 0;
	BOOL ok = GetOverlappedResult(c->h, &c->ov, &n, FALSE);
	c->pending = false;
	if (!ok) {
		cl_gone(s, c);
		return;
	}
	if (c->st == CL_READING) {
		size_t before = c->in_len;
		c->in_len += n;
		if (n > 0)
			c->deadline_ms = mono_ms() + s->idle_ms;
		char *nl = memchr(c->in + before, '\n', c->in_len - before);
		if (nl)
			cl_line(s, c, (size_t)(nl - c->in));
		else
			cl_start_read(s, c);
		return;
	}
	/* CL_WRITING */
	c->out_off += n;
	if (c->out_off < c->out_len) {
		cl_start_write(s, c);
		return;
	}
	free(c->out);
	c->out = NULL;
	if (c->close_after) {
		cl_close(c);
		return;
	}
	c->st = CL_READING;
	c->deadline_ms = mono_ms() + s->idle_ms;
	/* A pipelined request may already be complete. */
	char *nl = memchr(c->in, '\n', c->in_len);
	if (nl)
		cl_line(s, c, (size_t)(nl - c->in));
	else
		cl_start_read(s, c);
}

static HANDLE new_instance(struct nat_ctl_server *s, bool first)
{
	return CreateNamedPipeA(
		s->path,
		PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
			(first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
		PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
			PIPE_REJECT_REMOTE_CLIENTS,
		PIPE_UNLIMITED_INSTANCES, PIPE_BUF_BYTES, PIPE_BUF_BYTES, 0,
		s->sd ? &s->sa : NULL);
}

/* Waits for the next client on s->lh (made when missing). */
static void listen_arm(struct nat_ctl_server *s)
{
	if (s->lpending)
		return;
	if (s->lh == INVALID_HANDLE_VALUE) {
		s->lh = new_instance(s, false);
		if (s->lh == INVALID_HANDLE_VALUE)
			return; /* retried on the next turn */
	}
	ResetEvent(s->lov.hEvent);
	s->lnow = false;
	if (ConnectNamedPipe(s->lh, &s->lov)) {
		SetEvent(s->lov.hEvent);
	} else {
		DWORD err = GetLastError();
		if (err == ERROR_PIPE_CONNECTED) {
			s->lnow = true;
			SetEvent(s->lov.hEvent);
		} else if (err != ERROR_IO_PENDING) {
			CloseHandle(s->lh); /* a client came and went */
			s->lh = INVALID_HANDLE_VALUE;
			return;
		}
	}
	s->lpending = true;
}

/* s->lov is set: a client is connected to s->lh. */
static void do_accept(struct nat_ctl_server *s)
{
	DWORD n;
	HANDLE h = s->lh;
	BOOL ok = s->lnow || GetOverlappedResult(h, &s->lov, &n, FALSE);
	s->lpending = false;
	s->lh = INVALID_HANDLE_VALUE;
	if (!ok) {
		CloseHandle(h);
		return;
	}
	struct client *c = NULL;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX && !c; i++)
		if (s->cl[i].st == CL_FREE)
			c = &s->cl[i];
	if (!c) {
		count_err(s, NAT_CTL_E_BUSY);
		send_error(h, NAT_CTL_E_BUSY,
			   "busy: too many control connections");
		CloseHandle(h);
		return;
	}
	c->h = h;
	c->st = CL_READING;
	c->in_len = 0;
	c->deadline_ms = mono_ms() + s->idle_ms;
	cl_start_read(s, c);
}

static void *server_main(void *arg)
{
	struct nat_ctl_server *s = arg;
	HANDLE hs[2 + NAT_CTL_CLIENTS_MAX];

	while (!atomic_load(&s->stop)) {
		DWORD n = 0;
		listen_arm(s);
		hs[n++] = s->wake_ctl;
		if (s->lpending)
			hs[n++] = s->lov.hEvent;
		uint64_t now = mono_ms(), next = now + 1000;
		/* No instance (out of handles?): try again soon. */
		if (!s->lpending)
			next = now + 100;
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			struct client *c = &s->cl[i];
			if (c->st != CL_READING && c->st != CL_WRITING)
				continue;
			if (c->pending)
				hs[n++] = c->ov.hEvent;
			if (c->deadline_ms < next)
				next = c->deadline_ms;
		}
		DWORD w = WaitForMultipleObjects(
			n, hs, FALSE, next > now ? (DWORD)(next - now) : 0);
		if (w == WAIT_FAILED)
			break;
		/* Responses from the engine. */
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			struct client *c = &s->cl[i];
			if (c->st != CL_DONE)
				continue;
			char *line = c->out;
			c->out = NULL;
			count_err(s, c->code);
			cl_respond(s, c, line, false);
		}
		pthread_mutex_unlock(&s->mu);
		/* Every finished operation, not only the one Wait named. */
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			struct client *c = &s->cl[i];
			if (c->pending && (c->st == CL_READING ||
					   c->st == CL_WRITING) &&
			    WaitForSingleObject(c->ov.hEvent, 0) ==
				    WAIT_OBJECT_0)
				cl_complete(s, c);
		}
		now = mono_ms();
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
			struct client *c = &s->cl[i];
			if ((c->st != CL_READING && c->st != CL_WRITING) ||
			    now < c->deadline_ms)
				continue;
			count_err(s, NAT_CTL_E_TIMEOUT);
			if (c->st == CL_READING && c->in_len > 0) {
				char msg[96];
				snprintf(msg, sizeof(msg),
					 "timeout: no complete request line "
					 "within %u ms",
					 s->idle_ms);
				cl_cancel(c);
				send_error(c->h, NAT_CTL_E_TIMEOUT, msg);
			}
			cl_close(c);
		}
		if (s->lpending &&
		    WaitForSingleObject(s->lov.hEvent, 0) == WAIT_OBJECT_0)
			do_accept(s);
	}
	return NULL;
}

/* "\\.\pipe\NAME", case-insensitive; forward slashes are Windows' too. */
static bool is_pipe_name(const char *p)
{
	const char *want = PIPE_PREFIX;
	size_t i;
	for (i = 0; want[i]; i++) {
		char a = p[i] == '/' ? '\\' : p[i];
		char b = want[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (a != b)
			return false;
	}
	return p[i] != '\0' && strpbrk(p + i, "\\/") == NULL;
}

struct nat_ctl_server *nat_ctl_server_start(const char *path,
					    const struct nat_ctl_server_opts *o,
					    char *errbuf, size_t errlen)
{
	char wm[256];
	if (!is_pipe_name(path) || strlen(path) >= NAT_PATH_MAX) {
		snprintf(errbuf, errlen,
			 "control socket '%s': on Windows it is a named pipe, "
			 "\\\\.\\pipe\\NAME (the default: %s); set "
			 "control_socket to one",
			 path, NAT_CONTROL_SOCKET_DEFAULT);
		return NULL;
	}
	struct nat_ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->lh = INVALID_HANDLE_VALUE;
	s->idle_ms = o && o->idle_ms ? o->idle_ms : NAT_CTL_IDLE_MS;
	s->any_uid = o && o->allow_any_uid;
	pthread_mutex_init(&s->mu, NULL);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		s->cl[i].h = INVALID_HANDLE_VALUE;
		s->cl[i].in = malloc(NAT_CTL_LINE_MAX);
		s->cl[i].ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
		if (!s->cl[i].in || !s->cl[i].ov.hEvent) {
			snprintf(errbuf, errlen, "out of memory");
			goto fail;
		}
	}
	s->wake_ctl = CreateEventA(NULL, FALSE, FALSE, NULL);
	s->lov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	if (!s->wake_ctl || !s->lov.hEvent) {
		snprintf(errbuf, errlen, "control socket: %s",
			 win_msg(GetLastError(), wm, sizeof(wm)));
		goto fail;
	}
	/* LocalSystem and the Administrators group only (protected: nothing
	 * inherited). Tests (allow_any_uid) take the default DACL. */
	if (!s->any_uid) {
		if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(
			    "D:P(A;;GA;;;SY)(A;;GA;;;BA)", SDDL_REVISION_1,
			    &s->sd, NULL)) {
			snprintf(errbuf, errlen,
				 "control socket %s: security descriptor: %s",
				 path, win_msg(GetLastError(), wm, sizeof(wm)));
			goto fail;
		}
		s->sa.nLength = sizeof(s->sa);
		s->sa.lpSecurityDescriptor = s->sd;
		s->sa.bInheritHandle = FALSE;
	}
	/* Another server on the name (a pipe vanishes with its process:
	 * there is no stale one). FILE_FLAG_FIRST_PIPE_INSTANCE makes this
	 * atomic on Windows; wine ignores that flag, so ask first. */
	if (WaitNamedPipeA(path, 1) || GetLastError() == ERROR_SEM_TIMEOUT) {
		snprintf(errbuf, errlen,
			 "control socket %s: another glassnat answers there "
			 "(stop it, or give this one its own control_socket)",
			 path);
		goto fail;
	}
	s->lh = new_instance(s, true);
	if (s->lh == INVALID_HANDLE_VALUE) {
		DWORD err = GetLastError();
		if (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY)
			snprintf(errbuf, errlen,
				 "control socket %s: another glassnat answers "
				 "there (stop it, or give this one its own "
				 "control_socket)",
				 path);
		else
			snprintf(errbuf, errlen, "control socket %s: %s", path,
				 win_msg(err, wm, sizeof(wm)));
		goto fail;
	}
	if (pthread_create(&s->th, NULL, server_main, s) != 0) {
		snprintf(errbuf, errlen, "control socket: cannot start its "
					 "thread");
		goto fail;
	}
	return s;
fail:
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		free(s->cl[i].in);
		if (s->cl[i].ov.hEvent)
			CloseHandle(s->cl[i].ov.hEvent);
	}
	if (s->lh != INVALID_HANDLE_VALUE)
		CloseHandle(s->lh);
	if (s->wake_ctl)
		CloseHandle(s->wake_ctl);
	if (s->lov.hEvent)
		CloseHandle(s->lov.hEvent);
	if (s->sd)
		LocalFree(s->sd);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

void nat_ctl_server_drain(struct nat_ctl_server *s, struct nat_engine *e,
			  const struct nat_ctl_ops *ops)
{
	int todo[NAT_CTL_CLIENTS_MAX], n = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		if (s->cl[i].st == CL_QUEUED)
			todo[n++] = i;
	pthread_mutex_unlock(&s->mu);
	if (n == 0)
		return;
	for (int k = 0; k < n; k++) {
		struct client *c = &s->cl[todo[k]];
		enum nat_ctl_error code;
		/* c->req is stable while QUEUED: only this thread reads it. */
		char *line = nat_ctl_execute(e, ops, &c->req, &code);
		pthread_mutex_lock(&s->mu);
		c->out = line;
		c->code = code;
		c->st = CL_DONE;
		pthread_mutex_unlock(&s->mu);
	}
	SetEvent(s->wake_ctl);
}

int nat_ctl_server_wake_fd(const struct nat_ctl_server *s)
{
	(void)s;
	return -1; /* no descriptor: the engine drains on its tick */
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
	DWORD n;
	if (!s)
		return;
	atomic_store(&s->stop, true);
	SetEvent(s->wake_ctl);
	pthread_join(s->th, NULL);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		cl_close(&s->cl[i]);
		free(s->cl[i].in);
		CloseHandle(s->cl[i].ov.hEvent);
	}
	if (s->lh != INVALID_HANDLE_VALUE) {
		if (s->lpending) {
			CancelIoEx(s->lh, &s->lov);
			GetOverlappedResult(s->lh, &s->lov, &n, TRUE);
		}
		CloseHandle(s->lh);
	}
	CloseHandle(s->lov.hEvent);
	CloseHandle(s->wake_ctl);
	if (s->sd)
		LocalFree(s->sd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

#else
/* Linux builds leave this file out (Makefile); an empty unit otherwise. */
typedef int nat_control_win_unused;
#endif
