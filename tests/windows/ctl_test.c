/* The Windows control server and client (nat/control/server_win.c), cross-built
 * into build-win/ctl_test.exe and run under wine by windows_test.sh.
 *
 *   ctl_test.exe CONFIG              the checks below; "ok - ..." /
 *                                    "not ok - ..." lines, exit 0 when all
 *                                    pass
 *   ctl_test.exe serve CONFIG PIPE N serves PIPE (allow_any_uid) for
 *                                    glassnat.exe's client until N
 *                                    requests are answered (or 60 s);
 *                                    writes the file "ready" once it
 *                                    listens
 *
 * The engine is nat_engine_create() on CONFIG; the main thread drains the
 * servers (as the engine thread of `glassnat run` does on its tick) while a
 * client thread talks to them. */
#ifdef _WIN32

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "client.h"
#include "config.h"
#include "client.h"
#include "control.h"
#include "engine.h"

static int failed, passed;
static atomic_bool client_done;
static struct nat_ctl_server *servers[4];
static pthread_mutex_t servers_mu = PTHREAD_MUTEX_INITIALIZER;
static char pipe_a[128], pipe_b[128];

static void result(bool ok, const char *what, const char *detail)
{
	if (ok) {
		passed++;
		printf("ok - %s\n", what);
	} else {
		failed++;
		printf("not ok - %s\n", what);
		if (detail)
			printf("#   %s\n", detail);
	}
	fflush(stdout);
}

/* One request through the real client; the response line or NULL. */
static char *call(const char *pipe, const char *line, int *rc)
{
	char *resp = NULL;
	size_t n;
	unsigned long werr;
	*rc = (int)nat_ctl_call(pipe, line, 10000, &resp, &n, &werr);
	return resp;
}

static void expect_call(const char *pipe, const char *line, const char *want,
			const char *what)
{
	int rc;
	char *r = call(pipe, line, &rc);
	char detail[512];
	snprintf(detail, sizeof(detail), "rc %d, answer %.400s", rc,
		 r ? r : "(none)");
	result(rc == NAT_CTL_CALL_OK && r && strstr(r, want) &&
		       r[strlen(r) - 1] == '\n',
	       what, detail);
	free(r);
}

/* A raw connection (overlapped handle, so reads can time out). */
static HANDLE raw_open(const char *pipe)
{
	for (int i = 0; i < 200; i++) {
		HANDLE h = CreateFileA(pipe, GENERIC_READ | GENERIC_WRITE, 0,
				       NULL, OPEN_EXISTING,
				       FILE_FLAG_OVERLAPPED, NULL);
		if (h != INVALID_HANDLE_VALUE)
			return h;
		if (GetLastError() != ERROR_PIPE_BUSY)
			return h;
		WaitNamedPipeA(pipe, 50);
	}
	return INVALID_HANDLE_VALUE;
}

static bool raw_write(HANDLE h, const char *buf, size_t len)
{
	OVERLAPPED ov = { 0 };
	DWORD n = 0;
	ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	BOOL ok = WriteFile(h, buf, (DWORD)len, NULL, &ov) ||
		  GetLastError() == ERROR_IO_PENDING;
	if (ok) {
		if (WaitForSingleObject(ov.hEvent, 5000) != WAIT_OBJECT_0)
			CancelIoEx(h, &ov);
		ok = GetOverlappedResult(h, &ov, &n, TRUE) && n == len;
	}
	CloseHandle(ov.hEvent);
	return ok;
}

/* Reads until nlines '\n' or the pipe closes / ms pass. Returns the bytes
 * read (buf NUL-terminated); *closed when the server closed. */
static size_t raw_read(HANDLE h, char *buf, size_t cap, int nlines, DWORD ms,
		       bool *closed)
{
	size_t used = 0;
	int seen = 0;
	*closed = false;
	OVERLAPPED ov = { 0 };
	ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	while (seen < nlines && used + 1 < cap) {
		DWORD n = 0;
		ResetEvent(ov.hEvent);
		if (!ReadFile(h, buf + used, (DWORD)(cap - used - 1), NULL,
			      &ov) &&
		    GetLastError() != ERROR_IO_PENDING) {
			*closed = true;
			break;
		}
		if (WaitForSingleObject(ov.hEvent, ms) != WAIT_OBJECT_0) {
			CancelIoEx(h, &ov);
			GetOverlappedResult(h, &ov, &n, TRUE);
			break;
		}
		if (!GetOverlappedResult(h, &ov, &n, TRUE)) {
			*closed = true;
			break;
		}
		for (DWORD i = 0; i < n; i++)
			seen += buf[used + i] == '\n';
		used += n;
	}
	buf[used] = '\0';
	CloseHandle(ov.hEvent);
	return used;
}

/* After the answers: the server closes (ERROR_BROKEN_PIPE on read). */
static bool raw_closed(HANDLE h)
{
	char b[64];
	bool closed;
	raw_read(h, b, sizeof(b), 1, 3000, &closed);
	return closed;
}

static void add_server(struct nat_ctl_server *s)
{
	pthread_mutex_lock(&servers_mu);
	for (int i = 0; i < 4; i++)
		if (!servers[i]) {
			servers[i] = s;
			break;
		}
	pthread_mutex_unlock(&servers_mu);
}

static void stop_server(struct nat_ctl_server *s)
{
	pthread_mutex_lock(&servers_mu);
	for (int i = 0; i < 4; i++)
		if (servers[i] == s)
			servers[i] = NULL;
	pthread_mutex_unlock(&servers_mu);
	nat_ctl_server_stop(s);
}

static void *client_main(void *arg)
{
	struct nat_ctl_server *a = arg;
	char buf[8192], detail[600];
	bool closed;
	int rc;

	expect_call(pipe_a, "{\"action\":\"forward_list\"}\n",
		    "{\"success\":true,\"forwards\":[]}",
		    "forward_list answers an empty list");
	expect_call(pipe_a, "{\"action\":\"bogus\"}\n",
		    "\"error\":\"unknown_action\"",
		    "bogus action: unknown_action");
	expect_call(pipe_a, "not json\r\n", "\"error\":\"invalid_json\"",
		    "not JSON (CR LF): invalid_json");
	expect_call(pipe_a,
		    "{\"action\":\"forward_add\",\"rule\":{\"name\":\"Web\","
		    "\"protocol\":\"tcp\",\"external_port\":9999,"
		    "\"internal_ip\":\"172.17.240.21\",\"internal_port\":80}}\n",
		    "\"message\":\"Port forward added\"",
		    "forward_add: added");
	expect_call(pipe_a, "{\"action\":\"forward_list\"}\n",
		    "\"name\":\"Web\",\"protocol\":\"tcp\","
		    "\"external_port\":9999",
		    "forward_list shows the runtime forward");
	expect_call(pipe_a, "{\"action\":\"reload\"}\n",
		    "\"error\":\"failed\"", "reload without ops: failed");

	/* Two requests in one write, then a third on the same connection. */
	HANDLE h = raw_open(pipe_a);
	const char *two = "{\"action\":\"bogus\"}\n"
			  "{\"action\":\"forward_remove\",\"name\":\"Web\"}\n";
	bool ok = h != INVALID_HANDLE_VALUE && raw_write(h, two, strlen(two));
	raw_read(h, buf, sizeof(buf), 2, 5000, &closed);
	snprintf(detail, sizeof(detail), "%.500s", buf);
	result(ok && strstr(buf, "unknown_action") &&
		       strstr(buf, "Port forward removed") &&
		       strstr(buf, "unknown_action") <
			       strstr(buf, "Port forward removed"),
	       "two pipelined requests: two answers, in order", detail);
	ok = raw_write(h, "{\"action\":\"stats\"}\n", 19);
	raw_read(h, buf, sizeof(buf), 1, 5000, &closed);
	snprintf(detail, sizeof(detail), "%.500s", buf);
	result(ok && strstr(buf, "\"success\":true,\"stats\":") != NULL,
	       "the connection is kept after an error: stats", detail);
	CloseHandle(h);

	/* Unfinished request: timeout after idle_ms (300), then closed. */
	h = raw_open(pipe_a);
	ok = raw_write(h, "{\"action\"", 9);
	DWORD t0 = GetTickCount();
	raw_read(h, buf, sizeof(buf), 1, 5000, &closed);
	DWORD dt = GetTickCount() - t0;
	snprintf(detail, sizeof(detail), "after %lu ms: %.400s",
		 (unsigned long)dt, buf);
	result(ok && strstr(buf, "\"error\":\"timeout\"") && dt >= 200 &&
		       dt < 4000,
	       "an unfinished request times out (idle 300 ms)", detail);
	result(raw_closed(h), "... and the connection is closed", NULL);
	CloseHandle(h);

	/* A line of 65536 bytes: oversized, then closed. */
	h = raw_open(pipe_a);
	char *big = malloc(NAT_CTL_LINE_MAX);
	memset(big, 'a', NAT_CTL_LINE_MAX);
	ok = raw_write(h, big, NAT_CTL_LINE_MAX);
	free(big);
	raw_read(h, buf, sizeof(buf), 1, 5000, &closed);
	snprintf(detail, sizeof(detail), "%.400s", buf);
	result(ok && strstr(buf, "\"error\":\"oversized\""),
	       "a 65536-byte line: oversized", detail);
	result(raw_closed(h), "... and the connection is closed", NULL);
	CloseHandle(h);

	/* Gone mid-request: counted as disconnected. */
	h = raw_open(pipe_a);
	raw_write(h, "{\"act", 5);
	Sleep(50);
	CloseHandle(h);
	Sleep(200);

	uint64_t req, err[NAT_CTL_E_MAX];
	nat_ctl_server_counters(a, &req, err);
	snprintf(detail, sizeof(detail),
		 "requests %llu, unknown_action %llu, invalid_json %llu, "
		 "timeout %llu, oversized %llu, disconnected %llu, failed %llu",
		 (unsigned long long)req,
		 (unsigned long long)err[NAT_CTL_E_UNKNOWN_ACTION],
		 (unsigned long long)err[NAT_CTL_E_INVALID_JSON],
		 (unsigned long long)err[NAT_CTL_E_TIMEOUT],
		 (unsigned long long)err[NAT_CTL_E_OVERSIZED],
		 (unsigned long long)err[NAT_CTL_E_DISCONNECTED],
		 (unsigned long long)err[NAT_CTL_E_FAILED]);
	result(req == 10 && err[NAT_CTL_E_UNKNOWN_ACTION] == 2 &&
		       err[NAT_CTL_E_INVALID_JSON] == 1 &&
		       err[NAT_CTL_E_TIMEOUT] == 1 &&
		       err[NAT_CTL_E_OVERSIZED] == 1 &&
		       err[NAT_CTL_E_DISCONNECTED] == 1 &&
		       err[NAT_CTL_E_FAILED] == 1,
	       "counters: 10 answered, errors by code", detail);

	/* Server B (Administrators-only DACL, 5 s idle): 16 idle
	 * connections, the 17th is answered all the same (the idlest one
	 * makes room: nobody is locked out); a slot freed is taken again. */
	HANDLE hs[NAT_CTL_CLIENTS_MAX];
	int opened = 0;
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++) {
		hs[i] = raw_open(pipe_b);
		opened += hs[i] != INVALID_HANDLE_VALUE;
	}
	Sleep(100);
	char *r = call(pipe_b, "{\"action\":\"stats\"}\n", &rc);
	snprintf(detail, sizeof(detail), "%d opened, rc %d: %.400s", opened,
		 rc, r ? r : "(none)");
	result(opened == NAT_CTL_CLIENTS_MAX && r &&
		       strstr(r, "\"success\":true"),
	       "the 17th connection: answered, the idlest made room", detail);
	free(r);
	CloseHandle(hs[0]);
	Sleep(200);
	expect_call(pipe_b, "{\"action\":\"forward_list\"}\n",
		    "\"success\":true", "a freed slot serves again");
	for (int i = 1; i < NAT_CTL_CLIENTS_MAX; i++)
		if (hs[i] != INVALID_HANDLE_VALUE)
			CloseHandle(hs[i]);

	/* Stopping with a client connected and a read pending. */
	h = raw_open(pipe_a);
	Sleep(50);
	t0 = GetTickCount();
	stop_server(a);
	dt = GetTickCount() - t0;
	snprintf(detail, sizeof(detail), "%lu ms", (unsigned long)dt);
	result(dt < 3000, "stop with a connected client returns", detail);
	result(raw_closed(h), "... and that client sees the pipe closed",
	       NULL);
	CloseHandle(h);
	r = call(pipe_a, "{\"action\":\"stats\"}\n", &rc);
	result(rc == NAT_CTL_CALL_NOT_RUNNING && !r,
	       "after stop: the client says not running", NULL);
	free(r);
	atomic_store(&client_done, true);
	return NULL;
}

static struct nat_engine *engine(const char *config)
{
	static struct nat_config cfg;
	char err[512];
	if (nat_config_load(config, &cfg, err, sizeof(err)) != 0) {
		printf("not ok - load %s: %s\n", config, err);
		return NULL;
	}
	struct nat_engine *e = nat_engine_create(&cfg, err, sizeof(err));
	if (!e)
		printf("not ok - engine: %s\n", err);
	return e;
}

static void drain_all(struct nat_engine *e)
{
	pthread_mutex_lock(&servers_mu);
	for (int i = 0; i < 4; i++)
		if (servers[i])
			nat_ctl_server_drain(servers[i], e, NULL);
	pthread_mutex_unlock(&servers_mu);
}

static int serve(const char *config, const char *pipe, int n)
{
	struct nat_engine *e = engine(config);
	char err[512];
	struct nat_ctl_server_opts o = { .allow_any_uid = true };
	if (!e)
		return 1;
	struct nat_ctl_server *s = nat_ctl_server_start(pipe, &o, err,
							sizeof(err));
	if (!s) {
		fprintf(stderr, "serve: %s\n", err);
		return 1;
	}
	FILE *f = fopen("ready", "w");
	if (f)
		fclose(f);
	uint64_t req = 0, errs[NAT_CTL_E_MAX];
	for (int t = 0; t < 6000 && req < (uint64_t)n; t++) {
		nat_ctl_server_drain(s, e, NULL);
		nat_ctl_server_counters(s, &req, errs);
		Sleep(10);
	}
	Sleep(200); /* the last answer is written by the control thread */
	nat_ctl_server_stop(s);
	nat_engine_destroy(e);
	return req < (uint64_t)n;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], atoi(argv[4]));
	if (argc != 2) {
		fprintf(stderr, "usage: ctl_test CONFIG | serve CONFIG PIPE N\n");
		return 2;
	}
	struct nat_engine *e = engine(argv[1]);
	char err[512];
	if (!e)
		return 1;
	snprintf(pipe_a, sizeof(pipe_a), "\\\\.\\pipe\\glassnat-test-a-%lu",
		 (unsigned long)GetCurrentProcessId());
	snprintf(pipe_b, sizeof(pipe_b), "\\\\.\\pipe\\glassnat-test-b-%lu",
		 (unsigned long)GetCurrentProcessId());

	struct nat_ctl_server_opts oa = { .idle_ms = 300,
					  .allow_any_uid = true };
	struct nat_ctl_server *a = nat_ctl_server_start(pipe_a, &oa, err,
							sizeof(err));
	result(a != NULL, "server A starts (default DACL)", err);
	struct nat_ctl_server *b = nat_ctl_server_start(pipe_b, NULL, err,
							sizeof(err));
	result(b != NULL, "server B starts (Administrators-only DACL)", err);
	if (!a || !b)
		return 1;
	struct nat_ctl_server *dup = nat_ctl_server_start(pipe_a, &oa, err,
							  sizeof(err));
	result(!dup && strstr(err, "another glassnat answers there"),
	       "a second server on the same pipe is refused", err);
	struct nat_ctl_server *bad = nat_ctl_server_start(
		"/run/glassnat.sock", &oa, err, sizeof(err));
	result(!bad && strstr(err, "named pipe"),
	       "a Unix path is refused, naming the pipe form", err);
	add_server(a);
	add_server(b);

	pthread_t th;
	pthread_create(&th, NULL, client_main, a);
	/* The engine thread: drains every 10 ms (glassnat run: ~100 ms). */
	for (int t = 0; t < 6000 && !atomic_load(&client_done); t++) {
		drain_all(e);
		Sleep(10);
	}
	if (!atomic_load(&client_done)) {
		printf("not ok - the client thread finished within 60 s\n");
		return 1;
	}
	pthread_join(th, NULL);
	stop_server(b);
	nat_engine_destroy(e);
	printf("# %d passed, %d failed\n", passed, failed);
	return failed != 0;
}

#else
/* Built by mk/windows.mk only. */
typedef int ctl_test_unused;
#endif
