/* IPFIX NAT event logging (RFC 7011 messages, RFC 8158 NAT events; the
 * Information Element numbers of RFC 7659 and IANA's IPFIX registry).
 * docs/ipfix.md has the templates and how each glassnat event maps.
 *
 * The encoder (ipfix_enc_*) is pure: it writes messages into a buffer and
 * does no I/O. The exporter (ipfix_export_*) queues records from the
 * engine thread into a bounded ring (full: the record is lost and
 * counted, the engine never waits) and a thread of its own encodes them
 * and sends them over UDP to the collector, re-sending the templates on
 * a timer. Linux only; the Windows build's exporter refuses to start. */
#ifndef GLASSNAT_IPFIX_H
#define GLASSNAT_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

/* Message size cap: one message per UDP datagram, under a 1500-byte MTU
 * with IP and UDP headers (RFC 7011 section 10.3.3). */
enum { IPFIX_MSG_MAX = 1400 };

/* Template ids (data sets carry these as their set id). */
enum {
	IPFIX_TPL_SESSION = 256, /* NAT44 session create / delete */
	IPFIX_TPL_PORTS = 257,	 /* NAT ports exhausted */
	IPFIX_TPL_QUOTA = 258,	 /* quota exceeded */
};

/* natEvent values (IANA "NAT Event Type", RFC 8158 section 2). */
enum ipfix_nat_event {
	IPFIX_NAT44_SESSION_CREATE = 4,
	IPFIX_NAT44_SESSION_DELETE = 5,
	IPFIX_NAT_PORTS_EXHAUSTED = 12,
	IPFIX_NAT_QUOTA_EXCEEDED = 13,
};

/* natQuotaExceededEvent values (RFC 8158 section 2). */
enum {
	IPFIX_QUOTA_MAX_SESSIONS = 1,
	IPFIX_QUOTA_MAX_PER_USER = 3,
};

/* One NAT event, host byte order. Addresses and ports in the direction
 * the session was opened in (RFC 8158): for a flow from inside, src is
 * the inside host and post_src its mapping; for a port forward, src is
 * the remote host, dst the NAT address and port and post_dst the inside
 * host. */
struct ipfix_rec {
	uint8_t event; /* enum ipfix_nat_event */
	uint8_t proto;
	uint8_t realm; /* natOriginatingAddressRealm: 1 private, 2 public */
	uint64_t ts_ms;
	uint64_t start_ms, end_ms; /* the flow's first and last packet */
	uint32_t src, post_src, dst, post_dst;
	uint16_t sport, post_sport, dport, post_dport;
	uint32_t quota_event, max_sessions, max_per_user;
};

/* What the records need from the config (host order). */
struct ipfix_limits {
	uint32_t nat_ip;       /* the address port exhaustion is about */
	uint32_t max_flows;    /* limits.max_flows (table full) */
	uint32_t max_per_host; /* limits.max_flows_per_host (0: none) */
};

/* Turns an engine event into a record; false for events that have no
 * IPFIX form (TCP state changes, drops, sweeps, forward changes). */
bool ipfix_rec_from_event(const struct nat_event *ev,
			  const struct ipfix_limits *lim,
			  struct ipfix_rec *out);

/* The second record of a flow closed by max_flows_per_host (a quota
 * exceeded, "maximum entries per user"); false for every other event. */
bool ipfix_rec_quota(const struct nat_event *ev,
		     const struct ipfix_limits *lim, struct ipfix_rec *out);

/* One message being built. */
struct ipfix_enc {
	uint8_t buf[IPFIX_MSG_MAX];
	size_t len;
	size_t set_off; /* the open set's header, 0: none open */
	uint16_t set_id;
	uint32_t seq;	  /* data records sent before this message */
	uint32_t domain;  /* observation domain id */
	uint32_t records; /* data records in this message */
};

/* Starts an encoder for observation domain `domain` (sequence 0). */
void ipfix_enc_init(struct ipfix_enc *e, uint32_t domain);

/* Starts a message stamped export_s (seconds since the epoch). */
void ipfix_enc_begin(struct ipfix_enc *e, uint32_t export_s);

/* Appends the template set (every template). Call right after begin;
 * the templates always fit. */
void ipfix_enc_templates(struct ipfix_enc *e);

/* Appends r; false when the message has no room for it (finish, send,
 * begin a new one, then add it there). */
bool ipfix_enc_add(struct ipfix_enc *e, const struct ipfix_rec *r)
	__attribute__((warn_unused_result));

/* Closes the message: fills in the lengths and the sequence number and
 * advances the sequence by its data records. Returns its length (the
 * bytes in e->buf). */
size_t ipfix_enc_finish(struct ipfix_enc *e);

struct ipfix_exporter;

/* Starts exporting to cfg's collector with a queue of cfg->queue
 * records. Returns NULL with a message in errbuf. */
struct ipfix_exporter *ipfix_export_start(const struct nat_ipfix_cfg *cfg,
					  const struct ipfix_limits *lim,
					  char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread: queues the record for ev, if it has one. Never blocks:
 * a full queue counts the record lost. */
void ipfix_export_event(struct ipfix_exporter *x, const struct nat_event *ev);

/* Counters (any thread): records sent, lost because the queue was full,
 * lost because sending failed; messages sent. */
struct ipfix_counts {
	uint64_t sent, lost, failed, messages;
};
void ipfix_export_counts(const struct ipfix_exporter *x,
			 struct ipfix_counts *c);

/* Sends what is queued, stops the thread, writes the final counters
 * into final (may be NULL) and frees x (NULL: no-op). Engine thread. */
void ipfix_export_stop(struct ipfix_exporter *x, struct ipfix_counts *final);

#endif
