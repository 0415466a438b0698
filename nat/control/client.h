/* The client side of the control protocol, used by `glassnat forward |
 * flows | stats | trace | reload`: one request line out, one response line
 * back. One interface, two transports: a Unix socket (client_unix.c) and a
 * named pipe on Windows (client_win.c). The callers print the messages;
 * this layer only says what happened. */
#ifndef GLASSNAT_CLIENT_H
#define GLASSNAT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

enum nat_ctl_call_result {
	NAT_CTL_CALL_OK = 0,
	NAT_CTL_CALL_NOT_RUNNING, /* no socket/pipe there (*oserr: ENOENT) */
	NAT_CTL_CALL_NO_ANSWER,	  /* a socket nobody listens on */
	NAT_CTL_CALL_DENIED,	  /* permissions (not root / not elevated) */
	NAT_CTL_CALL_TIMEOUT,	  /* no answer within timeout_ms */
	NAT_CTL_CALL_CLOSED,	  /* closed without an answer */
	NAT_CTL_CALL_ERROR,	  /* anything else: *oserr */
};

/* Connects to path (a socket path, or \\.\pipe\NAME on Windows), writes
 * line (which carries its '\n'), and reads one response line within
 * timeout_ms into *resp (malloc'd, NUL-terminated, the caller frees;
 * *resp_len bytes without the NUL). A gateway that refuses the connection
 * answers and closes at once, maybe before the request is sent: its answer
 * is still read. *oserr gets errno / GetLastError() for
 * NAT_CTL_CALL_ERROR (0 otherwise). */
enum nat_ctl_call_result nat_ctl_call(const char *path, const char *line,
				      unsigned timeout_ms, char **resp,
				      size_t *resp_len, unsigned long *oserr)
	__attribute__((warn_unused_result));

/* A stream (subscribe): connects to path, writes line, then calls on_line
 * for every line received (its '\n' cut), the first being the answer to
 * line, until on_line returns false (NAT_CTL_CALL_OK) or the server closes
 * (NAT_CTL_CALL_CLOSED, also after lines: the stream ended). The first
 * line must come within timeout_ms; later ones may take any time.
 * Windows: NAT_CTL_CALL_ERROR with *oserr ERROR_NOT_SUPPORTED (the pipe
 * server streams nothing yet). */
enum nat_ctl_call_result nat_ctl_stream(const char *path, const char *line,
					unsigned timeout_ms,
					bool (*on_line)(void *ctx,
							const char *line,
							size_t len),
					void *ctx, unsigned long *oserr)
	__attribute__((warn_unused_result));

#endif
