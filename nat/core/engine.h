/* nat_process(): the one packet pipeline.
 *
 * parse -> flow lookup -> [miss: rules / forwards / filtering -> allocate
 * port -> new flow] -> rewrite + checksums -> TCP state, counters -> hooks.
 *
 * The engine does no I/O and reads no clock: every call carries the
 * packet's timestamp, so replays and tests are deterministic. One thread
 * owns an engine; nothing here locks. All memory is reserved by
 * nat_engine_create(); nat_process() allocates nothing. */
#ifndef GLASSNAT_ENGINE_H
#define GLASSNAT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "frag.h"
#include "offload.h"
#include "types.h"

/* A copy of one flow's identity and counters, for events and listings.
 * inside = the inside host; mapped = its external address; remote = the
 * outside peer. For bypass flows mapped == inside. */
struct nat_flow_info {
	uint64_t id;
	uint8_t proto;
	uint8_t kind;	   /* enum nat_flow_kind */
	uint8_t tcp_state; /* enum nat_tcp_state */
	uint8_t net;	   /* inside network index (nat_engine_net_name) */
	bool redirected;   /* a redirect rule rewrote the destination: */
	uint16_t rule;	   /* rule index, NAT_RULE_NONE, or forward index */
	uint32_t in_ip, map_ip, rem_ip;
	uint32_t orig_ip;  /* what the inside host addressed (redirected) */
	uint16_t in_port, map_port, rem_port;
	uint16_t orig_port;
	uint64_t first_ns, last_ns;
	uint64_t pkts_out, pkts_in, bytes_out, bytes_in;
};

enum nat_event_type {
	NAT_EV_FLOW_OPEN = 0,
	NAT_EV_FLOW_STATE,  /* TCP state change: old_state -> flow.tcp_state */
	NAT_EV_FLOW_CLOSE,  /* close_reason set */
	NAT_EV_PKT_DROP,    /* reason set; flow.id 0 when no flow */
	NAT_EV_PORT_EXHAUSTED,
	NAT_EV_TABLE_FULL,
	NAT_EV_EXPIRED_SWEEP, /* n_expired flows removed, n_remaining left */
	NAT_EV_FORWARD_ADD,    /* fwd set: a forward now accepts connections */
	NAT_EV_FORWARD_REMOVE, /* fwd set; n_closed flows closed (flushed) */
	/* A TCP SYN or a UDP datagram to a port of nat_ip that no forward or
	 * mapping owns, handed to the host (reason no_forward); tuple as for
	 * PKT_DROP (dir in). */
	NAT_EV_PKT_UNOWNED,
	/* A forward flow's second packet from the remote (a retransmitted
	 * SYN) while nothing came back from the inside host: flow set;
	 * neigh is "" from the engine, the observer fills in the neighbour
	 * state of flow.in_ip where the platform can read it. */
	NAT_EV_FWD_UNANSWERED,
	NAT_EV_MAX
};

struct nat_event {
	uint64_t ts_ns;
	struct nat_flow_info flow; /* for PKT_DROP: the packet's tuple */
	enum nat_event_type type;
	enum nat_reason reason;
	enum nat_close_reason close_reason;
	uint32_t n_expired, n_remaining;
	/* FORWARD_ADD / FORWARD_REMOVE: the forward (valid during the hook
	 * only: copy it) and, for REMOVE, the flows it closed. */
	uint32_t n_closed;
	const struct nat_forward_cfg *fwd;
	uint8_t old_state;
	char neigh[12]; /* FWD_UNANSWERED: "REACHABLE", "FAILED", ... */
};

/* Per-packet facts supplied by the backend. */
struct nat_meta {
	enum nat_dir dir;
	uint64_t ts_ns;	    /* packet time, ns since the Unix epoch */
	const char *in_if;  /* NULL when unknown */
	const char *out_if; /* NULL when unknown */
	/* The backend's handle of this packet (NFQUEUE: its packet id),
	 * given back with a held fragment when it leaves (frag sink). */
	uint64_t tag;
};

/* What happened to one packet. */
struct nat_result {
	enum nat_verdict verdict;
	enum nat_reason reason; /* NAT_R_NONE when translated/bypassed */
	enum nat_dir dir;	/* the direction used (after classify) */
	uint64_t flow_id;	/* 0 when no flow */
	uint16_t rule;		/* rule index or NAT_RULE_NONE */
	bool hairpin;		/* translated as out and then as in */
	bool forward;		/* the flow came from a port forward */
	/* The flow's observer word (zero when the flow opens), or NULL when
	 * there is no flow. Valid only inside the packet hook; the trace
	 * selector keeps its sticky per-flow decision and packet count
	 * there. */
	uint32_t *flow_trace;
};

/* Observers. Called on the engine's thread, synchronously; they must copy
 * what they need and return quickly (logging/ and trace/ queue it). */
struct nat_hooks {
	void *ctx;
	void (*event)(void *ctx, const struct nat_event *ev);
	/* Called before rewriting (pre) and after (post) with the packet
	 * bytes; for a drop, only pre is called, with the result filled. */
	void (*packet)(void *ctx, int stage /* 0 pre, 1 post */,
		       const uint8_t *pkt, size_t len,
		       const struct nat_meta *meta,
		       const struct nat_result *res);
	/* Whether the observer wants every packet of the flow whose
	 * observer word (nat_result.flow_trace) is flow_trace, as it stands
	 * after the packet hook saw a packet of it: such a flow is never
	 * handed to the kernel fast path. NULL: with a packet hook every
	 * flow is watched, without one none. */
	bool (*watching)(void *ctx, uint32_t flow_trace);
};

struct nat_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t natted, bypassed, passed, dropped;
	uint64_t by_reason[NAT_R_MAX];
	uint64_t flows_active, flows_total;
	uint64_t flows_expired, flows_evicted;
	uint64_t hairpinned;
	uint64_t port_exhausted_events, table_full_events;
	/* The fragment tracker's counters (docs/fragments.md;
	 * nat_frag_stat_name() names them) and its use now. Held fragments
	 * are in `packets` from their arrival but get their verdict (and its
	 * counter) when they leave, so packets = natted + bypassed + passed
	 * + dropped + frag_held_now. */
	struct nat_frag_stats frag;
	uint64_t frag_datagrams_now, frag_held_now;
	/* The kernel fast path (docs/translation.md): flows in its map now,
	 * flows ever installed, installs it refused (the flow stayed in user
	 * space), and the packets / bytes it translated for the engine's
	 * flows (added when a flow leaves the map, and at expiry checks and
	 * listings). Those packets are not in `packets` above. */
	uint64_t offload_now, offload_total, offload_failed;
	uint64_t offload_packets, offload_bytes;
};

/* One inside network's counters (nat_engine_net_stats). */
struct nat_net_stats {
	uint64_t flows_active; /* live flows now */
	uint64_t flows_total;  /* flows opened */
	uint64_t flows_evicted; /* closed to make room: the network's
				   max_flows or a host's max_flows_per_host */
	uint64_t packets, bytes; /* of its flows, both directions */
};

struct nat_engine;

/* Creates an engine for cfg (copied; cfg may be freed after). Reserves the
 * flow table, indexes and port pools. Returns NULL and a message in
 * errbuf on failure (bad config combination, out of memory). */
struct nat_engine *nat_engine_create(const struct nat_config *cfg,
				     char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
void nat_engine_destroy(struct nat_engine *e);

/* Bytes nat_engine_create() reserves for cfg (also shown by `check`). */
size_t nat_engine_memory(const struct nat_config *cfg);
/* Bytes reserved per flow slot (flow record plus its index share). */
size_t nat_engine_flow_bytes(void);

void nat_engine_set_hooks(struct nat_engine *e, const struct nat_hooks *h);

/* Sets the address masquerade rules use for interface ifname (live
 * backends call it for every address the interface has, again and again).
 * New flows get the address reported last; addresses reported earlier
 * stay, so flows on them keep translating. Without one, masquerade uses
 * nat_ip. Returns -1 when the address table is full (errbuf). */
int nat_engine_set_if_addr(struct nat_engine *e, const char *ifname,
			   uint32_t addr, char *errbuf, size_t errlen);

/* Decides the direction of a packet from its addresses: source inside
 * internal_network is OUT; destination an external address of ours is IN;
 * otherwise UNKNOWN. */
enum nat_dir nat_engine_classify(const struct nat_engine *e,
				 const uint8_t *pkt, size_t len);

/* Where held fragments leave (verdict NAT_V_HELD, docs/fragments.md).
 * fn is called once for every packet nat_process() answered NAT_V_HELD,
 * with that packet's meta tag: res->verdict NAT_V_NAT / BYPASS / PASS
 * (pkt[0..len) is the fragment as it must leave, rewritten: send it) or
 * NAT_V_DROP (its first fragment never came, or its datagram overlapped:
 * let the original go). Called on the engine's thread from inside
 * nat_process() (after the packet that released them, which is returned
 * after), nat_engine_tick() or nat_engine_flush(). pkt is the engine's:
 * valid during the call only. fn must not call back into the engine. A
 * backend clears the sink before its own state goes away (the final
 * nat_engine_flush() drops what is still held through the sink). */
struct nat_frag_sink {
	void *ctx;
	void (*fn)(void *ctx, uint64_t tag, const uint8_t *pkt, size_t len,
		   const struct nat_meta *meta, const struct nat_result *res);
};

/* Sets (s NULL or s->fn NULL: clears) the sink. Without one the engine
 * holds nothing: a non-first fragment that comes before its first is
 * dropped (reason fragment_unheld). */
void nat_engine_set_frag_sink(struct nat_engine *e,
			      const struct nat_frag_sink *s);

/* Drops every held fragment now (reason fragment_timeout), through the
 * sink: for a backend that stops (the end of a replay). */
void nat_engine_drop_held(struct nat_engine *e);

/* Processes one packet in place (length never changes). Returns the
 * verdict (also in *res, which must not be NULL). NAT_V_HELD: the engine
 * kept a copy of this non-first fragment; it leaves later through the
 * fragment sink. */
enum nat_verdict nat_process(struct nat_engine *e, uint8_t *pkt, size_t len,
			     const struct nat_meta *meta,
			     struct nat_result *res);

/* Processes n packets exactly as n calls to nat_process() in order would,
 * but first prefetches each packet's hash bucket and then its flow record,
 * so the cache misses of a large table overlap instead of queueing.
 * Backends that receive packets in batches use this. */
void nat_process_batch(struct nat_engine *e, uint8_t *const *pkts,
		       const size_t *lens, const struct nat_meta *metas,
		       struct nat_result *res, size_t n);

/* Expires idle flows up to ts_ns. nat_process() does this on its own as
 * time passes; backends call it when idle. */
void nat_engine_tick(struct nat_engine *e, uint64_t ts_ns);

/* Closes every flow (events with NAT_CLOSE_SHUTDOWN) and drops every
 * held fragment (reason fragment_timeout, through the sink). */
void nat_engine_flush(struct nat_engine *e, uint64_t ts_ns);

/* The counters; flows_active is the table's count at the time of the
 * call. Engine thread. */
const struct nat_stats *nat_engine_stats(struct nat_engine *e);

/* The engine's time: the latest packet or tick timestamp seen (ns). */
uint64_t nat_engine_now(const struct nat_engine *e);

/* Calls fn for every live flow, in no particular order. fn must not call
 * back into the engine. */
void nat_engine_foreach_flow(const struct nat_engine *e,
			     void (*fn)(void *ctx,
					const struct nat_flow_info *fi),
			     void *ctx);

/* Inside networks: how many (>= 1), each one's name (config nets[], or
 * "?" past the end), and its counters (flows_active filled at the call).
 * Engine thread. */
unsigned nat_engine_n_nets(const struct nat_engine *e);
const char *nat_engine_net_name(const struct nat_engine *e, unsigned net);
const struct nat_net_stats *nat_engine_net_stats(struct nat_engine *e,
						 unsigned net);
/* Control (engine thread): closes every live flow match accepts, each
 * with a flow.close event, end "deleted"; match must not call back into
 * the engine. Returns how many were closed. */
uint32_t nat_engine_flow_delete(struct nat_engine *e,
				bool (*match)(void *ctx,
					      const struct nat_flow_info *fi),
				void *ctx);

/* ---- the kernel fast path (offload.h, docs/translation.md) ----
 *
 * Engine thread. With ops set, after translating a packet the engine
 * installs its flow through ops->install when the flow is established
 * (TCP past the handshake with no FIN or RST, UDP seen both ways, ICMP
 * echo answered), is not hairpinned and nobody watches it
 * (nat_hooks.watching). A SYN, FIN or RST of an offloaded flow, its
 * expiry, and every close take it out of the map first, adding the
 * kernel's counters to the flow's, so events, listings and the
 * statistics carry the true totals. */

/* Sets the offloader (copied), or (ops NULL) takes every offloaded flow
 * out of the map and stops offloading. Reserves one counter record per
 * flow slot: -1 with errbuf when memory is short (nothing changed). */
int nat_engine_set_offload(struct nat_engine *e,
			   const struct nat_offload_ops *ops, char *errbuf,
			   size_t errlen) __attribute__((warn_unused_result));

/* Takes every offloaded flow out of the map (counters added to its
 * flow), so its next packets reach the engine and its observers again
 * (`trace on`); a flow still eligible is installed again on its next
 * packet. Returns how many were taken out. */
uint32_t nat_engine_offload_flush(struct nat_engine *e);

/* Names for rule indexes in results/events ("(forward) NAME" for forward
 * flows is the caller's business: see nat_engine_forward_name). */
const char *nat_engine_rule_name(const struct nat_engine *e, uint16_t rule);
const char *nat_engine_forward_name(const struct nat_engine *e, uint16_t idx);

/* ---- port forwards and reload (control requests) ----
 *
 * Engine thread only, between packets: the control socket queues its
 * requests to this thread (control.h). None of these is on the packet
 * path; they may scan the flow table (O(max_flows)). */

/* Adds a forward (f->runtime says where it came from). Refused, with a
 * message naming both sides in errbuf: a name or proto/port already
 * forwarded; an internal_ip outside internal_network; the external port
 * held by a live mapping (a translated flow uses it: adding would take
 * its inbound traffic). Emits forward.add. Returns 0 or -1. */
int nat_engine_forward_add(struct nat_engine *e,
			   const struct nat_forward_cfg *f, char *errbuf,
			   size_t errlen) __attribute__((warn_unused_result));

/* Removes the forward named `name`, or (name NULL) the one on proto/port
 * (proto 0: tcp or udp, whichever exists; both is an error). New
 * connections to the port then fail; the forward's live flows are closed
 * (flow.close, end "flushed") so the port is free at once. Emits
 * forward.remove. removed (may be NULL) gets a copy. Returns 0, or -1 with
 * "no forward ..." in errbuf. */
int nat_engine_forward_remove(struct nat_engine *e, const char *name,
			      uint8_t proto, uint16_t port,
			      struct nat_forward_cfg *removed, char *errbuf,
			      size_t errlen) __attribute__((warn_unused_result));

/* One forward and its live flows. */
struct nat_forward_info {
	struct nat_forward_cfg f;
	uint32_t flows;
};

/* Copies up to max active forwards (config ones first, in file order,
 * then runtime ones in the order added) into out; returns how many
 * exist (may exceed max). */
size_t nat_engine_forward_list(const struct nat_engine *e,
			       struct nat_forward_info *out, size_t max);

/* Replaces the config of a running engine with cfg: rules, config
 * forwards (runtime ones stay), filtering, port preservation, timeouts,
 * policies, host_internal_ip. Flows keep their decision: a flow keeps its
 * translation and its rule / forward name (a rule or forward the new
 * config drops keeps a retired name until its last flow ends; a dropped
 * forward's flows are not closed). Refused with nothing changed, and the
 * reason in errbuf: nat_ip, internal_network, port_range or limits
 * changed (they size the engine: restart), a config forward clashing
 * with a runtime one, a new forward on a port a live mapping holds.
 * changes gets one line saying what changed ("no changes" when
 * nothing). Emits forward.add / forward.remove for config forwards. */
int nat_engine_reload(struct nat_engine *e, const struct nat_config *cfg,
		      char *changes, size_t changes_len, char *errbuf,
		      size_t errlen) __attribute__((warn_unused_result));

/* The engine's current config (rules and forwards as compiled; forwards
 * array has free slots: use nat_engine_forward_list). */
const struct nat_config *nat_engine_config(const struct nat_engine *e);

#endif
