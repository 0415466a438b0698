/* The glassnat configuration: loading (YAML, libyaml), validation and the
 * compiled plan printed by `glassnat check`.
 *
 * Hyper-NAT's file (configs/hyper-nat.yaml) is a valid glassnat config.
 * Every error names FILE:LINE:COLUMN and the field; see docs/config.md.
 * Addresses and ports are stored in host byte order. */
#ifndef GLASSNAT_CONFIG_H
#define GLASSNAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "platform.h"

#define NAT_NAME_MAX 64	 /* rule / forward names, bytes incl. NUL */
#define NAT_DESC_MAX 160
#define NAT_IFNAME_MAX 16 /* IFNAMSIZ */
#define NAT_PATH_MAX 256

/* control_socket and state_file when the config sets none: per platform
 * (a Unix socket on Linux, a named pipe on Windows; platform.h). */
#define NAT_CONTROL_SOCKET_DEFAULT NAT_PLAT_CONTROL_SOCKET_DEFAULT
#define NAT_STATE_FILE_DEFAULT NAT_PLAT_STATE_FILE_DEFAULT
#define NAT_BPF_MAX 512
#define NAT_RULE_PORTS_MAX 16
#define NAT_RULES_MAX 1024
#define NAT_FORWARDS_MAX 4096
#define NAT_EXT_ADDR_MAX 16 /* nat_ip + distinct snat to_address and forward
			     external_ip (+ masquerade) */
#define NAT_FWD_SRC_MAX 8 /* CIDRs in one forward's `source` */
#define NAT_NETS_MAX 16	  /* inside networks (internal_network, networks) */

enum nat_action {
	NAT_ACT_NAT = 0,    /* SNAT to nat_ip */
	NAT_ACT_BYPASS,	    /* forward unchanged */
	NAT_ACT_DROP,	    /* drop, with reason rule_drop */
	NAT_ACT_SNAT,	    /* SNAT to to_address */
	NAT_ACT_MASQUERADE, /* SNAT to the out interface's address */
	NAT_ACT_REDIRECT,   /* rewrite the destination (to_address and/or
			       to_port), then source NAT by `then` */
};

enum nat_filtering {
	NAT_FILTER_ADDR_PORT = 0, /* address-and-port-dependent (default) */
	NAT_FILTER_ADDR,	  /* address-dependent */
	NAT_FILTER_EI,		  /* endpoint-independent */
};

/* What to do with packets the engine will not translate. TRANSLATE is for
 * policies.fragments only: non-first fragments follow their first
 * fragment's translation (docs/fragments.md). */
enum nat_policy { NAT_POLICY_DROP = 0, NAT_POLICY_PASS, NAT_POLICY_TRANSLATE };

enum nat_log_format { NAT_LOG_TEXT = 0, NAT_LOG_JSON };

/* The kernel fast path (docs/translation.md): auto loads it where it can
 * (one log line says why not), on refuses to start without it, off never
 * loads it. Linux only; on Windows `on` is refused at start. */
enum nat_fastpath_mode {
	NAT_FASTPATH_AUTO = 0,
	NAT_FASTPATH_ON,
	NAT_FASTPATH_OFF,
};

struct nat_cidr {
	uint32_t addr; /* already masked */
	uint8_t len;   /* 0..32; 0 matches everything */
};

/* Whether a is a host of c: inside it, and neither its network nor its
 * broadcast address (a /31 or /32 has neither). The one rule for forward
 * targets, in the config and at run time. */
static inline bool nat_cidr_is_host(const struct nat_cidr *c, uint32_t a)
{
	uint32_t mask = c->len ? ~0u << (32 - c->len) : 0;
	if ((a & mask) != c->addr)
		return false;
	return c->len >= 31 || (a != c->addr && a != (c->addr | ~mask));
}

struct nat_port_range {
	uint16_t lo, hi; /* inclusive, lo <= hi */
};

struct nat_rule_cfg {
	char name[NAT_NAME_MAX];
	char description[NAT_DESC_MAX];
	enum nat_action action;
	uint8_t proto;		/* 0 any, 1 icmp, 6 tcp, 17 udp */
	struct nat_cidr src;	/* `source`, default 0.0.0.0/0 */
	struct nat_cidr dst;	/* `destination`, default 0.0.0.0/0 */
	struct nat_port_range ports[NAT_RULE_PORTS_MAX]; /* destination ports */
	unsigned n_ports;				 /* 0: any port */
	uint32_t to_address; /* snat: the source; redirect: the new
				destination (0 = keep the address) */
	uint16_t to_port;    /* redirect: the new destination port (0 =
				keep the port) */
	enum nat_action then; /* redirect: the source translation, NAT_ACT_NAT
				 (default), _BYPASS or _MASQUERADE */
	char in_if[NAT_IFNAME_MAX];  /* "" = any */
	char out_if[NAT_IFNAME_MAX]; /* "" = any */
	unsigned line;		     /* where it was defined */
};

struct nat_forward_cfg {
	char name[NAT_NAME_MAX];
	uint8_t proto; /* 6 tcp or 17 udp */
	uint16_t ext_port;
	uint32_t int_ip;
	uint16_t int_port; /* defaults to ext_port */
	uint32_t ext_ip;   /* `external_ip`: the address it listens on;
			      0 = nat_ip */
	struct nat_cidr src[NAT_FWD_SRC_MAX]; /* `source`: who may connect */
	uint8_t n_src;			      /* 0: anyone */
	char in_if[NAT_IFNAME_MAX];	      /* `in_interface`, "" = any */
	unsigned line;	   /* 0 for forwards added at run time */
	bool runtime;	   /* added over the control socket (state_file) */
};

struct nat_timeouts { /* seconds */
	uint32_t tcp_established; /* default 7440 (2 h 4 min, RFC 5382) */
	uint32_t tcp_transitory;  /* default 240 (SYN and one-FIN states) */
	uint32_t tcp_time_wait;	  /* default 120 (both FINs seen) */
	uint32_t tcp_closed;	  /* default 10 (after RST) */
	uint32_t udp;		  /* default 120 (RFC 4787 REQ-5) */
	uint32_t icmp;		  /* default 60 (RFC 5508 REQ-1) */
	uint32_t fragment;	  /* default 30: a datagram's fragments are
				     tracked this long from the first one seen
				     (Linux's ipfrag_time); at most 3600 */
};

struct nat_limits {
	uint32_t max_flows;	     /* default 65536 */
	uint32_t max_flows_per_host; /* default 0 = no per-host limit */
	/* The fragment tracker (docs/fragments.md), sized at start. */
	uint32_t max_frag_datagrams; /* datagrams tracked; default 1024 */
	uint32_t max_frag_held;	     /* fragments held early; default 1024 */
	uint32_t max_frag_bytes;     /* bytes held; default 1 MiB (>= 576) */
};

/* One inside network (`internal_network` entries, `networks`): its own
 * flow limits, LRU eviction and counters. */
struct nat_net_cfg {
	char name[NAT_NAME_MAX]; /* default: the CIDR, "172.17.240.0/24" */
	struct nat_cidr cidr;
	uint32_t max_flows;	     /* 0 = only the table's limit */
	uint32_t max_flows_per_host; /* 0 = limits.max_flows_per_host */
	unsigned line;		     /* where it was defined */
};

struct nat_policies {
	enum nat_policy fragments; /* non-first fragments: translate (the
				    * default; `pass` in a file means it
				    * too: a later fragment never leaves
				    * with an inside address) or drop */
	enum nat_policy ipv6;		  /* default pass */
	enum nat_policy other_protocols;  /* not TCP/UDP/ICMP; default drop */
	enum nat_policy unmatched_inbound; /* no flow, forward or mapping;
					    * default drop; pass = the host's */
};

struct nat_trace_cfg {
	bool enabled;
	char dir[NAT_PATH_MAX];
	char filter[NAT_BPF_MAX];     /* libpcap syntax, "" = all */
	uint64_t file_size;	      /* bytes before rotation, default 64 MiB */
	uint32_t files;		      /* ring length, default 8 */
	uint32_t max_packets_per_flow; /* 0 = no cap */
	uint32_t queue;		      /* records, default 65536 */
};

struct nat_logging_cfg {
	char events[NAT_PATH_MAX]; /* "" = none, "-" = stdout */
	enum nat_log_format format;
	bool verbose;	/* DEBUG lines in the text format */
	uint32_t queue; /* records, default 65536 */
};

/* metrics: /metrics over HTTP (docs/metrics.md); off unless set. */
struct nat_metrics_cfg {
	bool enabled;
	uint32_t addr; /* listen address, host order (0: every address) */
	uint16_t port;
};

/* ipfix: NAT events to a collector (docs/ipfix.md); off unless set. */
struct nat_ipfix_cfg {
	bool enabled;
	uint32_t addr; /* collector, host order */
	uint16_t port;
	uint32_t template_interval; /* seconds between template re-sends */
	uint32_t queue;		    /* records, default 4096 */
	uint32_t domain;	    /* observation domain id */
};

struct nat_config {
	char path[NAT_PATH_MAX]; /* the file it came from */
	uint32_t nat_ip;
	struct nat_cidr internal; /* nets[0].cidr: the first inside network */
	struct nat_net_cfg nets[NAT_NETS_MAX]; /* every inside network, in
						  internal_network order */
	unsigned n_nets;		       /* >= 1 once loaded */
	bool has_host_internal_ip;
	uint32_t host_internal_ip;
	struct nat_rule_cfg *rules; /* in file order; owned */
	size_t n_rules;
	struct nat_forward_cfg *forwards; /* owned */
	size_t n_forwards;
	enum nat_filtering filtering;
	bool port_preservation;		  /* default true */
	struct nat_port_range port_range; /* default 40000-60000 */
	struct nat_timeouts timeouts;
	struct nat_limits limits;
	struct nat_policies policies;
	struct nat_trace_cfg trace;
	struct nat_logging_cfg logging;
	char control_socket[108]; /* default NAT_CONTROL_SOCKET_DEFAULT */
	/* Forwards added at run time, kept across restarts; "" = not kept.
	 * Default NAT_STATE_FILE_DEFAULT. */
	char state_file[NAT_PATH_MAX];
	struct nat_metrics_cfg metrics;
	struct nat_ipfix_cfg ipfix;
	enum nat_fastpath_mode fastpath; /* default auto */
};

/* Fills *cfg with every default (no rules, no forwards, nat_ip 0). */
void nat_config_defaults(struct nat_config *cfg);

/* Loads and validates path into *cfg (defaults first). On failure returns
 * -1, writes "FILE:LINE:COLUMN: field: what is wrong" into errbuf and
 * leaves *cfg freed (safe to call nat_config_free again). */
int nat_config_load(const char *path, struct nat_config *cfg, char *errbuf,
		    size_t errlen) __attribute__((warn_unused_result));

/* Same from memory; `name` stands for the file in messages. */
int nat_config_load_mem(const char *name, const char *text, size_t len,
			struct nat_config *cfg, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Frees what nat_config_load allocated; cfg may be zeroed or defaulted. */
void nat_config_free(struct nat_config *cfg);

const char *nat_action_name(enum nat_action a);
const char *nat_filtering_name(enum nat_filtering f);
const char *nat_fastpath_mode_name(enum nat_fastpath_mode m); /* "auto".. */
const char *nat_proto_name(uint8_t proto); /* "any", "tcp", "udp", "icmp" */

/* The distinct outside addresses cfg translates to or listens on, in
 * this order: nat_ip, each snat to_address (rule order), each forward's
 * external_ip (file order); at most NAT_EXT_ADDR_MAX. Returns how many. */
unsigned nat_config_ext_addrs(const struct nat_config *cfg,
			      uint32_t out[NAT_EXT_ADDR_MAX]);

/* Index of the inside network holding ip, or -1. cfg->n_nets 0 (a config
 * built by hand) means the one network cfg->internal. */
int nat_config_net_of(const struct nat_config *cfg, uint32_t ip);

/* Whether forward f accepts a connection from src arriving on in_if (NULL
 * = unknown: a forward naming an interface then refuses). */
bool nat_forward_accepts(const struct nat_forward_cfg *f, uint32_t src,
			 const char *in_if);

/* Prints the compiled plan (addresses, rules in order, forwards, port
 * range, filtering, timeouts, limits, policies, trace and logging) in the
 * human form shown by `glassnat check`. `reserved_bytes` is the memory the
 * engine reserves for this config (nat_engine_memory()). */
void nat_config_print_plan(FILE *out, const struct nat_config *cfg,
			   size_t reserved_bytes);

/* Whether addr is an address of this host: 1 yes, 0 no, -1 cannot tell
 * (nat_plat_addr_is_local). */
typedef int (*nat_addr_local_fn)(uint32_t addr);

/* The addresses cfg translates to that are not addresses of this host:
 * nat_ip, then each snat rule's to_address (replies to them never reach
 * the gateway: the traffic is blackholed). For each, emit gets one
 * message with the fix (no newline); out_dev names the outside interface
 * in it when a rule names none (NULL or "": "OUT"). Returns how many. */
size_t nat_config_lint_addrs(const struct nat_config *cfg,
			     nat_addr_local_fn is_local, const char *out_dev,
			     void (*emit)(void *ctx, const char *msg),
			     void *ctx);

#endif
