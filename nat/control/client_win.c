/* The control client over a named pipe (client.h), Windows only: the
 * counterpart of client_unix.c. */
#include "client.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

static uint64_t mono_ms(void)
{
	return (uint64_t)GetTickCount64();
}

enum nat_ctl_call_result nat_ctl_call(const char *path, const char *line,
				      unsigned timeout_ms, char **resp,
				      size_t *resp_len, unsigned long *oserr)
{
	HANDLE h = INVALID_HANDLE_VALUE;
	uint64_t start = mono_ms();
	*resp = NULL;
	*resp_len = 0;
	*oserr = 0;
	/* Every instance busy (between one client and the server's next
	 * instance): wait for one, within the timeout. */
	for (;;) {
		h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
				OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		DWORD err = GetLastError();
		uint64_t el = mono_ms() - start;
		if (err != ERROR_PIPE_BUSY || el >= timeout_ms) {
			*oserr = err;
			if (err == ERROR_FILE_NOT_FOUND ||
			    err == ERROR_PATH_NOT_FOUND ||
			    err == ERROR_BAD_PATHNAME ||
			    err == ERROR_INVALID_NAME)
				return NAT_CTL_CALL_NOT_RUNNING;
			if (err == ERROR_ACCESS_DENIED)
				return NAT_CTL_CALL_DENIED;
			return err == ERROR_PIPE_BUSY ? NAT_CTL_CALL_TIMEOUT
						      : NAT_CTL_CALL_ERROR;
		}
		WaitNamedPipeA(path, 100);
	}
	OVERLAPPED ov = { 0 };
	ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
	size_t cap = 65536, used = 0;
	char *buf = malloc(cap);
	enum nat_ctl_call_result rc = NAT_CTL_CALL_ERROR;
	DWORD n;
	if (!ov.hEvent || !buf) {
		*oserr = ERROR_NOT_ENOUGH_MEMORY;
		goto out;
	}
	/* The request and its '\n'. A gateway that refuses the connection
	 * (busy) answers and closes at once, maybe before this is sent:
	 * read its answer anyway. */
	size_t len = strlen(line), off = 0;
	while (off < len) {
		ResetEvent(ov.hEvent);
		if (!WriteFile(h, line + off, (DWORD)(len - off), NULL, &ov) &&
		    GetLastError() != ERROR_IO_PENDING)
			break;
		if (WaitForSingleObject(ov.hEvent, timeout_ms) !=
		    WAIT_OBJECT_0)
			CancelIoEx(h, &ov);
		if (!GetOverlappedResult(h, &ov, &n, TRUE) || n == 0)
			break;
		off += n;
	}
	bool done = false;
	while (!done) {
		uint64_t el = mono_ms() - start;
		if (used + 1 >= cap) {
			char *nb = cap < (256u << 20) ? realloc(buf, cap * 2)
						       : NULL;
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ResetEvent(ov.hEvent);
		if (!ReadFile(h, buf + used, (DWORD)(cap - used - 1), NULL,
			      &ov) &&
		    GetLastError() != ERROR_IO_PENDING)
			break; /* ERROR_BROKEN_PIPE: closed */
		if (el >= timeout_ms ||
		    WaitForSingleObject(ov.hEvent,
					(DWORD)(timeout_ms - el)) !=
			    WAIT_OBJECT_0) {
			CancelIoEx(h, &ov);
			GetOverlappedResult(h, &ov, &n, TRUE);
			rc = NAT_CTL_CALL_TIMEOUT;
			goto out;
		}
		if (!GetOverlappedResult(h, &ov, &n, TRUE))
			break;
		done = memchr(buf + used, '\n', n) != NULL;
		used += n;
	}
	if (done) {
		buf[used] = '\0';
		*resp = buf;
		*resp_len = used;
		buf = NULL;
		rc = NAT_CTL_CALL_OK;
	} else {
		rc = NAT_CTL_CALL_CLOSED;
	}
out:
	free(buf);
	if (ov.hEvent)
		CloseHandle(ov.hEvent);
	CloseHandle(h);
	return rc;
}


enum nat_ctl_call_result nat_ctl_stream(const char *path, const char *line,
					unsigned timeout_ms,
					bool (*on_line)(void *ctx,
							const char *line,
							size_t len),
					void *ctx, unsigned long *oserr)
{
	(void)path;
	(void)line;
	(void)timeout_ms;
	(void)on_line;
	(void)ctx;
	*oserr = ERROR_NOT_SUPPORTED;
	return NAT_CTL_CALL_ERROR;
}
