/* The control protocol: one JSON request per line in, one JSON response
 * per line out (docs/control.md is the contract). nat_ctl_parse turns a
 * request line into a validated struct; nat_ctl_execute runs it against
 * the engine and builds the response line. Neither does I/O: the fuzz
 * target drives them from memory, and both servers (server.h) use them. */
#ifndef GLASSNAT_PROTOCOL_H
#define GLASSNAT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "live.h"
#include "metrics.h"

enum {
	NAT_CTL_LINE_MAX = 65536,  /* bytes of one request line, '\n' incl. */
	NAT_CTL_CLIENTS_MAX = 16,  /* connections at once; more get "busy" */
	NAT_CTL_IDLE_MS = 5000,	   /* mid-request or mid-answer this long:
				    * dropped */
	NAT_CTL_IDLE_EMPTY_MS = 2000, /* connected, nothing asked this long:
				       * dropped */
	NAT_CTL_WATCHERS_MAX = 4,  /* subscribed connections at once, so
				    * the other slots stay for requests */
	NAT_CTL_WATCH_QUEUE = 1 << 20, /* bytes queued per subscriber; a
					* slow reader loses lines past it */
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
	NAT_CTL_FLOW_DELETE,
	NAT_CTL_SUBSCRIBE, /* answered by the server: events stream after */
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
	/* flows, flow_delete, subscribe: filters (0 / false = any) */
	bool has_addr, has_kind, has_id, count_only, all;
	uint32_t addr;
	uint16_t fport;
	uint8_t fproto;
	uint8_t kind;	   /* enum nat_flow_kind, with has_kind */
	uint8_t state;	   /* enum nat_tcp_state + 1; 0: any */
	uint64_t id;	   /* with has_id */
	char rule[NAT_NAME_MAX]; /* "": any */
	char event[32];	   /* subscribe: "ev" prefix ("flow", "pkt.drop") */
	uint32_t limit;	   /* flows: at most this many listed */
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
	uint64_t log_failed; /* of log_lost: failed writes (full disk) */
	/* table.full / port.exhausted events held back by the rate limit */
	uint64_t table_full_suppressed, port_exhausted_suppressed;
	uint64_t ctl_requests;		     /* request lines answered */
	uint64_t ctl_errors[NAT_CTL_E_MAX]; /* by code */
	uint64_t log_suppressed;	     /* pkt.drop events rate-limited */
	uint64_t forwards;		     /* set by the stats action */
	uint64_t metrics_scrapes;	     /* /metrics answered */
	bool ipfix_open;		     /* an IPFIX exporter runs */
	uint64_t ipfix_sent, ipfix_lost, ipfix_failed, ipfix_messages;
	/* The live backend's counters (metrics.c maps them by name). */
	size_t n_backend;
	struct nat_live_counter backend[NAT_LIVE_COUNTERS_MAX];
	/* Closed flows by duration (run: fed from flow.close events). */
	struct nat_metrics_hist flow_duration;
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

/* Whether flow f passes r's flow filters (address, port, protocol, kind,
 * state, rule, id). rule_name: f's rule or forward name, or NULL. */
bool nat_ctl_flow_matches(const struct nat_ctl_req *r,
			  const struct nat_flow_info *f,
			  const char *rule_name);

/* Whether an event line (one JSON object, as the events file has it)
 * passes r's filters (subscribe): event prefix, and for events naming a
 * flow its id, endpoints, protocol, kind and rule. A filter an event
 * cannot be checked against (a pkt.drop has no kind) excludes it. */
bool nat_ctl_event_matches(const struct nat_ctl_req *r, const char *line,
			   size_t len);
const char *nat_ctl_action_name(enum nat_ctl_action a);

struct json_t;

/* A forward as the protocol shows it (name, protocol, external_port,
 * internal_ip, internal_port, origin; "flows" when flows >= 0). A new
 * reference, or NULL when memory is short. */
struct json_t *nat_ctl_forward_json(const struct nat_forward_cfg *f,
				    long flows);

#endif
