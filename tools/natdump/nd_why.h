/* natdump why: the facts gathered about one target (a flow, a port, an
 * address, a 5-tuple, or everything) and the one decision made from
 * them. nd_why.c gathers (trace, events, config, the live host);
 * nd_why_rules.c decides, with no I/O, so the unit tests feed it facts. */
#ifndef GLASSNAT_ND_WHY_H
#define GLASSNAT_ND_WHY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

enum nd_why_kind {
	ND_WHY_ALL = 0, /* no target: the gateway as a whole */
	ND_WHY_FLOW,
	ND_WHY_PORT,  /* proto 0: tcp or udp */
	ND_WHY_ADDR,
	ND_WHY_TUPLE, /* proto src:sport > dst:dport, either direction */
};

struct nd_why_target {
	enum nd_why_kind kind;
	uint64_t flow;
	uint8_t proto;
	uint16_t port;
	uint32_t addr;
	uint32_t src, dst; /* TUPLE */
	uint16_t sport, dport;
};

/* Parses a target word (or words joined by spaces): "42", "tcp/8081",
 * "udp/53", "8081/tcp", "203.0.113.1", "tcp 1.2.3.4:5 > 6.7.8.9:10" (">"
 * optional). Returns false when s is none of them. */
bool nd_why_parse_target(const char *s, struct nd_why_target *t);

/* One packet tuple as evidence: proto, src:sport > dst:dport. */
struct nd_why_tuple {
	uint8_t proto, tcp_flags;
	uint32_t src, dst;
	uint16_t sport, dport;
};

struct nd_why_icmp {
	uint64_t n;
	uint8_t type, code;
	uint16_t mtu;
	uint32_t router;	   /* the error's source */
	struct nd_why_tuple about; /* the quoted packet, as it arrived */
};

struct nd_why_facts {
	struct nd_why_target target;
	/* Trace and events about the target. */
	uint64_t units, flows;	  /* packets (pairs) and flows seen */
	uint64_t units_in, units_out; /* of those: arrived from outside, inside */
	uint64_t natted;
	uint64_t drops[NAT_R_MAX];    /* by reason, trace or pkt.drop events */
	uint64_t passes[NAT_R_MAX];   /* passed untranslated, by reason */
	struct nd_why_tuple drop_ex[NAT_R_MAX]; /* first example of each */
	char drop_rule[192];	     /* rule named by a rule_drop */
	/* A TCP SYN-ACK (or any TCP) dropped as no_mapping, to a port in
	 * port_range: the reply to the host's own connection. */
	uint64_t synack_no_mapping;
	struct nd_why_tuple synack_ex;
	/* No forward owns the port (pkt.unowned or reason no_forward). */
	uint64_t unowned;
	struct nd_why_tuple unowned_ex;
	/* Forward flows: seen, of which the inside host never answered. */
	uint64_t fwd_flows, fwd_unanswered;
	char neigh[16];	    /* from forward.unanswered: "" when none */
	uint32_t fwd_ip;    /* the forward's target */
	uint16_t fwd_port;  /* its internal port */
	uint16_t fwd_ext;   /* the external port */
	uint8_t fwd_proto;
	char fwd_name[192];
	uint64_t port_exhausted, table_full; /* events */
	struct nd_why_tuple limit_ex;
	struct nd_why_icmp mtu, ttl, unreach, other_icmp;
	/* Config (--config). */
	bool has_config;
	char filtering[40];
	uint16_t port_lo, port_hi;
	uint32_t max_flows;
	uint32_t internal, nat_ip;
	uint8_t internal_len;
	bool target_outside_internal; /* an inside-looking address outside */
	char internal_if[20];	      /* the interface holding the target */
	uint32_t if_net;
	uint8_t if_net_len;
	bool internal_on_no_if;	      /* --live: no interface in it */
	/* A rule the target's flows could never reach: shadowed by the
	 * rule they matched. */
	char shadowed[192], shadower[192];
	unsigned shadowed_line, shadower_line;
	char flow_rule[192];	      /* the rule the target's flows matched */
	/* Queue (--live: /proc; or the stats event). */
	uint64_t queue_dropped, user_dropped;
	bool queue_known;
};

/* The causes, most specific first (the order nd_why_decide tries). */
enum nd_why_cause {
	ND_CAUSE_NONE = 0, /* no problem seen */
	ND_CAUSE_NOTHING,  /* nothing about the target */
	ND_CAUSE_WRONG_INTERNAL,
	ND_CAUSE_HOST_PORT_RANGE,
	ND_CAUSE_PORT_EXHAUSTED,
	ND_CAUSE_TABLE_FULL,
	ND_CAUSE_FILTERED,
	ND_CAUSE_RULE_DROP,
	ND_CAUSE_SHADOWED,
	ND_CAUSE_FWD_NO_ARP,
	ND_CAUSE_FWD_NO_RETURN,
	ND_CAUSE_FWD_SILENT, /* unanswered, neighbour state unknown */
	ND_CAUSE_NO_FORWARD,
	ND_CAUSE_ICMP_MTU,
	ND_CAUSE_ICMP_TTL,
	ND_CAUSE_ICMP_UNREACH,
	ND_CAUSE_ICMP_OTHER,
	ND_CAUSE_DROP_OTHER,
	ND_CAUSE_QUEUE_OVERFLOW,
	ND_CAUSE_INTERNAL_NO_IF,
};

/* The short name of a cause ("no_forward", "fwd_no_arp", ...), stable
 * for scripts (`natdump why --json`). */
const char *nd_why_cause_name(enum nd_why_cause c);

/* Decides the cause from f and writes the one sentence naming it and its
 * fix into out (no newline). */
enum nd_why_cause nd_why_decide(const struct nd_why_facts *f, char *out,
				size_t len);

#endif
