/* The control socket: runtime port forwards, flows, stats, tracing and
 * reload over a Unix socket, one JSON request per line, one JSON response
 * per line (docs/control.md is the contract).
 *
 * Two halves. The pure half (nat_ctl_parse, nat_ctl_execute) turns a
 * request line into a validated struct and a struct into a response line;
 * it does no I/O and is what the fuzz target drives from memory. The
 * server half runs a thread that accepts, reads and writes with poll()
 * and per-client deadlines, and hands each valid request to the engine
 * thread through a mutex-protected queue: the engine thread executes the
 * queued requests when it calls nat_ctl_server_drain (between packets),
 * so nothing but that thread ever touches the flow table. A bad request
 * is answered by the control thread and never reaches the engine. */
#ifndef GLASSNAT_CONTROL_H
#define GLASSNAT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

enum {
	NAT_CTL_LINE_MAX = 65536,  /* bytes of one request line, '\n' incl. */
	NAT_CTL_CLIENTS_MAX = 16,  /* connections at once; more get "busy" */
	NAT_CTL_IDLE_MS = 5000,	   /* a client silent this long is dropped */
	NAT_CTL_FLOWS_DEFAULT = 100, /* flows listed without "limit" */
	NAT_CTL_FLOWS_MAX = 10000,   /* largest "limit" */
};

enum nat_ctl_action {
	NAT_CTL_FORWARD_LIST = 0,
	NAT_CTL_FORWARD_ADD,
	NAT_CTL_FORWARD_REMOVE,
	NAT_CTL_FLOWS,
	NAT_CTL_STATS,
	NAT_CTL_TRACE_ON,
	NAT_CTL_TRACE_OFF,
	NAT_CTL_RELOAD,
	NAT_CTL_ACTION_MAX
};

/* Error codes: the "error" member of a failed response, each counted. */
enum nat_ctl_error {
	NAT_CTL_E_NONE = 0,
	NAT_CTL_E_INVALID_JSON,	 /* not JSON, or not one object */
	NAT_CTL_E_BAD_REQUEST,	 /* missing field, wrong type, bad value */
	NAT_CTL_E_UNKNOWN_ACTION,
	NAT_CTL_E_OVERSIZED,	 /* line over NAT_CTL_LINE_MAX: closed */
	NAT_CTL_E_TIMEOUT,	 /* stalled mid-request or not reading */
	NAT_CTL_E_DISCONNECTED,	 /* closed mid-request (no response) */
	NAT_CTL_E_PERMISSION,	 /* peer is not root: closed */
	NAT_CTL_E_BUSY,		 /* NAT_CTL_CLIENTS_MAX connections */
	NAT_CTL_E_REFUSED,	 /* valid, but the engine said no (clash...) */
	NAT_CTL_E_FAILED,	 /* could not be done (I/O, iptables, memory) */
	NAT_CTL_E_MAX
};

/* A validated request. */
struct nat_ctl_req {
	enum nat_ctl_action action;
	struct nat_forward_cfg fwd; /* forward_add (runtime = true) */
	/* forward_remove: by name, or by port (proto 0: either) */
	bool by_name;
	char name[NAT_NAME_MAX];
	uint8_t proto;
	uint16_t port;
	/* flows: filters (0 / false = any) and limit */
	bool has_addr;
	uint32_t addr;
	uint16_t fport;
	uint8_t fproto;
	uint32_t limit;
	/* trace_on */
	char bpf[NAT_BPF_MAX];
};

/* Parses one request line (len bytes, without its '\n'). Returns 0, or -1
 * with the code in *code and a message naming the field in errbuf. */
int nat_ctl_parse(const char *line, size_t len, struct nat_ctl_req *req,
		  enum nat_ctl_error *code, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Counters and state beyond the engine, for the stats action. */
struct nat_ctl_extra {
	bool traced, trace_on;
	uint64_t trace_written, trace_lost, trace_failed;
	bool logged;
	uint64_t log_written, log_lost;
	uint64_t ctl_requests;		     /* request lines answered */
	uint64_t ctl_errors[NAT_CTL_E_MAX]; /* by code */
	uint64_t queue_enobufs, queue_verdict_errors; /* live backend */
};

/* What executing a request needs besides the engine. Every member may be
 * NULL: the action then answers "not available here". Engine thread. */
struct nat_ctl_ops {
	void *ctx;
	/* trace_on (bpf "" = everything) / trace_off. */
	int (*trace)(void *ctx, bool on, const char *bpf, char *errbuf,
		     size_t errlen);
	/* Re-reads and applies the config; changes gets what changed. */
	int (*reload)(void *ctx, char *changes, size_t changes_len,
		      char *errbuf, size_t errlen);
	/* After a runtime forward change: persist the state file, update
	 * the packet steering. -1: the change is rolled back. */
	int (*forwards_changed)(void *ctx, char *errbuf, size_t errlen);
	void (*extra)(void *ctx, struct nat_ctl_extra *x);
};

/* Executes req against e (engine thread). Returns the response line,
 * '\n'-terminated, malloc'd (the caller frees), or NULL when memory is
 * short. *code gets NAT_CTL_E_NONE or the error answered. */
char *nat_ctl_execute(struct nat_engine *e, const struct nat_ctl_ops *ops,
		      const struct nat_ctl_req *req, enum nat_ctl_error *code);

/* An error response line for code and message (malloc'd, or NULL). */
char *nat_ctl_error_response(enum nat_ctl_error code, const char *msg);

const char *nat_ctl_error_name(enum nat_ctl_error code);
const char *nat_ctl_action_name(enum nat_ctl_action a);

/* ---- the state file: forwards added at run time ----
 *
 * {"version":1,"forwards":[{"name":..,"protocol":..,"external_port":..,
 * "internal_ip":..,"internal_port":..}, ...]} */

/* Writes the runtime forwards of e to path atomically (a temporary file
 * in the same directory, fsync, rename, fsync of the directory; the
 * directory is created 0750 when missing). Returns -1 with errbuf. */
int nat_ctl_state_save(const char *path, const struct nat_engine *e,
		       char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Reads path into *out (malloc'd, *n entries, runtime = true). A missing
 * file is no forwards (returns 0). Returns -1 with "PATH: ..." in errbuf
 * for a file that is not a valid state file. */
int nat_ctl_state_load(const char *path, struct nat_forward_cfg **out,
		       size_t *n, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* ---- the server ---- */

struct nat_ctl_server_opts {
	unsigned idle_ms;   /* 0: NAT_CTL_IDLE_MS */
	bool allow_any_uid; /* tests only: skip the root check and chown
			     * (Windows: the default DACL) */
};

struct nat_ctl_server;

/* Creates the socket at path (mode 0660, owner root:root; a stale socket
 * nobody answers on is replaced; a live one or a non-socket file is an
 * error) and starts the control thread. Returns NULL with errbuf.
 * Windows: path is a named pipe, \\.\pipe\NAME, open to LocalSystem and
 * Administrators only (nat/control/control_win.c). */
struct nat_ctl_server *nat_ctl_server_start(const char *path,
					    const struct nat_ctl_server_opts *o,
					    char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread: executes every queued request and hands the responses
 * back. Cheap when nothing is queued (one mutex round). */
void nat_ctl_server_drain(struct nat_ctl_server *s, struct nat_engine *e,
			  const struct nat_ctl_ops *ops);

/* A file descriptor that becomes readable when a request is queued (the
 * live loop may poll it); read it only through nat_ctl_server_drain.
 * Windows: -1 (the engine drains on its tick). */
int nat_ctl_server_wake_fd(const struct nat_ctl_server *s);

/* Requests answered and errors by code, any thread. */
void nat_ctl_server_counters(const struct nat_ctl_server *s,
			     uint64_t *requests,
			     uint64_t errors[NAT_CTL_E_MAX]);

/* Stops the thread, closes every client, removes the socket file. s may
 * be NULL. */
void nat_ctl_server_stop(struct nat_ctl_server *s);

#endif
