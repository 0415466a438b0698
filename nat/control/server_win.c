/* The control server on Windows: a named pipe
 * (\\.\pipe\glassnat by default) instead of a Unix socket.
 *
 * Why a pipe and not AF_UNIX: Windows 10 has AF_UNIX, but Debian 12's wine
 * (8.0) has not (socket() fails with WSAEAFNOSUPPORT), so an AF_UNIX
 * server could not be run by `make windows-test`; named pipes run under
 * wine and are the Windows-native local IPC. The protocol on the pipe is
 * the Linux socket's, byte for byte: one JSON line in, one JSON line out,
 * parsed and executed by the shared functions of protocol.c.
 *
 * The transport only: one control thread does all pipe I/O (overlapped,
 * one operation per client at a time, waited for with
 * WaitForMultipleObjects) and calls the core (server.c) for the rest:
 * client slots, deadlines, the queue to the engine thread (which drains
 * it on its tick: no wake descriptor), responses and counters, shared
 * with the Unix socket (server_unix.c).
 *
 * Access: the pipe's DACL grants access to LocalSystem and
 * BUILTIN\Administrators only (an elevated administrator; a non-elevated
 * one is denied by the kernel, CreateFile fails with ERROR_ACCESS_DENIED).
 * That is the counterpart of the Linux socket's mode 0660 root:root; there
 * is no per-connection SO_PEERCRED check on top (see docs/windows.md). */
#include "server_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <sddl.h>

#define PIPE_PREFIX "\\\\.\\pipe\\"
#define PIPE_BUF_BYTES 65536

struct pipe_client {
	HANDLE h;     /* INVALID_HANDLE_VALUE when free */
	bool pending; /* an overlapped read or write is outstanding */
	OVERLAPPED ov; /* ov.hEvent: manual reset, made at start */
};

struct ctl_link {
	char path[NAT_PATH_MAX];
	HANDLE lh;	/* the instance waiting for the next client */
	OVERLAPPED lov; /* its ConnectNamedPipe */
	bool lpending;
	bool lnow; /* connected before ConnectNamedPipe: lov holds nothing */
	HANDLE wake_ctl; /* auto-reset: the engine answered, or stop */
	PSECURITY_DESCRIPTOR sd;
	SECURITY_ATTRIBUTES sa;
	struct pipe_client pc[NAT_CTL_CLIENTS_MAX];
};

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

/* Waits for the slot's outstanding operation to end (cancelled first). */
static void pc_cancel(struct pipe_client *p)
{
	DWORD n;
	if (!p->pending)
		return;
	CancelIoEx(p->h, &p->ov);
	GetOverlappedResult(p->h, &p->ov, &n, TRUE);
	p->pending = false;
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

static void cl_start_read(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	struct pipe_client *p = &s->link->pc[slot];
	if (ctl_server_full(s, slot))
		return;
	ResetEvent(p->ov.hEvent);
	if (ReadFile(p->h, c->in + c->in_len,
		     (DWORD)(NAT_CTL_LINE_MAX - c->in_len), NULL, &p->ov) ||
	    GetLastError() == ERROR_IO_PENDING) {
		p->pending = true; /* the event is set either way */
		return;
	}
	ctl_server_gone(s, slot);
}

static void cl_start_write(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	struct pipe_client *p = &s->link->pc[slot];
	ResetEvent(p->ov.hEvent);
	if (WriteFile(p->h, c->out + c->out_off,
		      (DWORD)(c->out_len - c->out_off), NULL, &p->ov) ||
	    GetLastError() == ERROR_IO_PENDING) {
		p->pending = true;
		return;
	}
	ctl_server_gone(s, slot);
}

/* The slot's operation has ended (its event is set). */
static void cl_complete(struct nat_ctl_server *s, int slot)
{
	struct ctl_client *c = &s->cl[slot];
	struct pipe_client *p = &s->link->pc[slot];
	DWORD n = 0;
	BOOL ok = GetOverlappedResult(p->h, &p->ov, &n, FALSE);
	p->pending = false;
	if (!ok) {
		ctl_server_gone(s, slot);
		return;
	}
	if (c->st == CL_READING) {
		if (!ctl_server_received(s, slot, n))
			cl_start_read(s, slot);
		return;
	}
	/* CL_WRITING */
	c->out_off += n;
	if (c->out_off < c->out_len)
		cl_start_write(s, slot);
	else if (ctl_server_sent(s, slot))
		cl_start_read(s, slot);
}

static HANDLE new_instance(struct ctl_link *k, bool first)
{
	return CreateNamedPipeA(
		k->path,
		PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
			(first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
		PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
			PIPE_REJECT_REMOTE_CLIENTS,
		PIPE_UNLIMITED_INSTANCES, PIPE_BUF_BYTES, PIPE_BUF_BYTES, 0,
		k->sd ? &k->sa : NULL);
}

/* Waits for the next client on k->lh (made when missing). */
static void listen_arm(struct ctl_link *k)
{
	if (k->lpending)
		return;
	if (k->lh == INVALID_HANDLE_VALUE) {
		k->lh = new_instance(k, false);
		if (k->lh == INVALID_HANDLE_VALUE)
			return; /* retried on the next turn */
	}
	ResetEvent(k->lov.hEvent);
	k->lnow = false;
	if (ConnectNamedPipe(k->lh, &k->lov)) {
		SetEvent(k->lov.hEvent);
	} else {
		DWORD err = GetLastError();
		if (err == ERROR_PIPE_CONNECTED) {
			k->lnow = true;
			SetEvent(k->lov.hEvent);
		} else if (err != ERROR_IO_PENDING) {
			CloseHandle(k->lh); /* a client came and went */
			k->lh = INVALID_HANDLE_VALUE;
			return;
		}
	}
	k->lpending = true;
}

/* k->lov is set: a client is connected to k->lh. */
static void do_accept(struct nat_ctl_server *s)
{
	struct ctl_link *k = s->link;
	DWORD n;
	HANDLE h = k->lh;
	BOOL ok = k->lnow || GetOverlappedResult(h, &k->lov, &n, FALSE);
	k->lpending = false;
	k->lh = INVALID_HANDLE_VALUE;
	if (!ok) {
		CloseHandle(h);
		return;
	}
	int slot = ctl_server_slot_free(s);
	if (slot < 0)
		slot = ctl_server_evict(s);
	if (slot < 0) {
		ctl_server_count(s, NAT_CTL_E_BUSY);
		send_error(h, NAT_CTL_E_BUSY,
			   "busy: too many control connections");
		CloseHandle(h);
		return;
	}
	k->pc[slot].h = h;
	ctl_server_open(s, slot);
	cl_start_read(s, slot);
}

void *ctl_link_main(void *arg)
{
	struct nat_ctl_server *s = arg;
	struct ctl_link *k = s->link;
	HANDLE hs[2 + NAT_CTL_CLIENTS_MAX];

	while (!atomic_load(&s->stop)) {
		DWORD n = 0;
		listen_arm(k);
		hs[n++] = k->wake_ctl;
		if (k->lpending)
			hs[n++] = k->lov.hEvent;
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
			if (ctl_server_busy(s, i) && k->pc[i].pending)
				hs[n++] = k->pc[i].ov.hEvent;
		/* No instance (out of handles?): try again soon. */
		uint64_t now = ctl_mono_ms();
		uint64_t next = ctl_server_next_deadline(
			s, now + (k->lpending ? 1000 : 100));
		DWORD w = WaitForMultipleObjects(
			n, hs, FALSE, next > now ? (DWORD)(next - now) : 0);
		if (w == WAIT_FAILED)
			break;
		ctl_server_pickup(s);
		/* Every finished operation, not only the one Wait named. */
		for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
			if (k->pc[i].pending && ctl_server_busy(s, i) &&
			    WaitForSingleObject(k->pc[i].ov.hEvent, 0) ==
				    WAIT_OBJECT_0)
				cl_complete(s, i);
		ctl_server_expire(s, ctl_mono_ms());
		if (k->lpending &&
		    WaitForSingleObject(k->lov.hEvent, 0) == WAIT_OBJECT_0)
			do_accept(s);
	}
	return NULL;
}

/* ---- what the core asks of the transport (server_core.h) ---- */

/* Events are made in ctl_link_open, where they can fail cleanly. */
struct ctl_link *ctl_link_new(void)
{
	struct ctl_link *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->lh = INVALID_HANDLE_VALUE;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		k->pc[i].h = INVALID_HANDLE_VALUE;
	return k;
}

void ctl_link_free(struct ctl_link *k)
{
	DWORD n;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		if (k->pc[i].ov.hEvent)
			CloseHandle(k->pc[i].ov.hEvent);
	if (k->lh != INVALID_HANDLE_VALUE) {
		if (k->lpending) {
			CancelIoEx(k->lh, &k->lov);
			GetOverlappedResult(k->lh, &k->lov, &n, TRUE);
		}
		CloseHandle(k->lh);
	}
	if (k->lov.hEvent)
		CloseHandle(k->lov.hEvent);
	if (k->wake_ctl)
		CloseHandle(k->wake_ctl);
	if (k->sd)
		LocalFree(k->sd);
	free(k);
}

/* Closing the server end (without DisconnectNamedPipe) keeps what was
 * written readable by the client, then it reads ERROR_BROKEN_PIPE. */
void ctl_link_close(struct nat_ctl_server *s, int slot)
{
	struct pipe_client *p = &s->link->pc[slot];
	pc_cancel(p);
	if (p->h != INVALID_HANDLE_VALUE)
		CloseHandle(p->h);
	p->h = INVALID_HANDLE_VALUE;
}

void ctl_link_start_write(struct nat_ctl_server *s, int slot)
{
	cl_start_write(s, slot);
}

void ctl_link_say(struct nat_ctl_server *s, int slot, enum nat_ctl_error code,
		  const char *msg)
{
	struct pipe_client *p = &s->link->pc[slot];
	pc_cancel(p);
	send_error(p->h, code, msg);
}

/* The engine drains on its tick (~100 ms): nothing to wake or clear. */
/* Subscribers need overlapped streaming writes this transport does not
 * have yet: subscribe answers "not on Windows yet". */
bool ctl_link_can_watch(void)
{
	return false;
}

void ctl_link_wake_engine(struct nat_ctl_server *s)
{
	(void)s;
}

void ctl_link_engine_woken(struct nat_ctl_server *s)
{
	(void)s;
}

void ctl_link_wake_ctl(struct nat_ctl_server *s)
{
	SetEvent(s->link->wake_ctl);
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

/* LocalSystem and the Administrators group only (protected: nothing
 * inherited). Tests (allow_any_uid) take the default DACL. */
static int restrict_access(struct ctl_link *k, const char *path,
			   char *errbuf, size_t errlen)
{
	char wm[256];
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(
		    "D:P(A;;GA;;;SY)(A;;GA;;;BA)", SDDL_REVISION_1, &k->sd,
		    NULL)) {
		snprintf(errbuf, errlen,
			 "control socket %s: security descriptor: %s", path,
			 win_msg(GetLastError(), wm, sizeof(wm)));
		return -1;
	}
	k->sa.nLength = sizeof(k->sa);
	k->sa.lpSecurityDescriptor = k->sd;
	k->sa.bInheritHandle = FALSE;
	return 0;
}

/* The first instance of the pipe; another server on the name is an error
 * (a pipe vanishes with its process: there is no stale one). */
static int first_instance(struct ctl_link *k, const char *path, char *errbuf,
			  size_t errlen)
{
	static const char taken[] =
		"control socket %s: another glassnat answers there (stop it, "
		"or give this one its own control_socket)";
	char wm[256];
	/* FILE_FLAG_FIRST_PIPE_INSTANCE makes this atomic on Windows; wine
	 * ignores that flag, so ask first. */
	if (WaitNamedPipeA(path, 1) || GetLastError() == ERROR_SEM_TIMEOUT) {
		snprintf(errbuf, errlen, taken, path);
		return -1;
	}
	k->lh = new_instance(k, true);
	if (k->lh != INVALID_HANDLE_VALUE)
		return 0;
	DWORD err = GetLastError();
	if (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY)
		snprintf(errbuf, errlen, taken, path);
	else
		snprintf(errbuf, errlen, "control socket %s: %s", path,
			 win_msg(err, wm, sizeof(wm)));
	return -1;
}

int ctl_link_check(const char *path, char *errbuf, size_t errlen)
{
	if (is_pipe_name(path) && strlen(path) < NAT_PATH_MAX)
		return 0;
	snprintf(errbuf, errlen,
		 "control socket '%s': on Windows it is a named pipe, "
		 "\\\\.\\pipe\\NAME (the default: %s); set control_socket "
		 "to one",
		 path, NAT_CONTROL_SOCKET_DEFAULT);
	return -1;
}

int ctl_link_open(struct nat_ctl_server *s, const char *path, char *errbuf,
		  size_t errlen)
{
	struct ctl_link *k = s->link;
	char wm[256];
	snprintf(k->path, sizeof(k->path), "%s", path);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		k->pc[i].ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
		if (!k->pc[i].ov.hEvent) {
			snprintf(errbuf, errlen, "out of memory");
			return -1;
		}
	}
	k->wake_ctl = CreateEventA(NULL, FALSE, FALSE, NULL);
	k->lov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	if (!k->wake_ctl || !k->lov.hEvent) {
		snprintf(errbuf, errlen, "control socket: %s",
			 win_msg(GetLastError(), wm, sizeof(wm)));
		return -1;
	}
	if (!s->any_uid && restrict_access(k, path, errbuf, errlen) < 0)
		return -1;
	return first_instance(k, path, errbuf, errlen);
}
