/* The engine's insides, shared by its files and nobody else: engine.c
 * (the packet pipeline), engine_life.c (create, destroy, queries),
 * engine_forward.c (port forwards at run time) and engine_reload.c. Callers
 * outside nat/core/engine*.c use engine.h. Engine thread only. */
#ifndef GLASSNAT_ENGINE_INT_H
#define GLASSNAT_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "flow.h"
#include "frag.h"
#include "ports.h"
#include "rules.h"

#define NS_PER_S     1000000000ull
#define NAT_ADDR_MAX NAT_EXT_ADDR_MAX

enum { POOL_TCP, POOL_UDP, POOL_ICMP, POOL_N };

struct nat_addr {
	uint32_t ip;
	char ifname[NAT_IFNAME_MAX]; /* "" for addresses from the config */
	uint64_t if_seq; /* when its interface last reported it (if_seq) */
	struct nat_port_pool pool[POOL_N];
};

struct nat_engine {
	uint64_t if_seq; /* nat_engine_set_if_addr calls so far */
	struct nat_config cfg; /* deep copy; rules/forwards owned */
	struct nat_rules rules;
	struct nat_flow_table ft;
	struct nat_addr addr[NAT_ADDR_MAX];
	unsigned n_addr;
	uint8_t *rule_addr; /* snat rules: index into addr[] */
	struct nat_hooks hooks;
	struct nat_stats st;
	bool started;
	uint64_t base_ns;
	uint64_t next_sec_ns;
	uint32_t now_s;
	uint64_t ts_ns; /* current packet's time, for expiry events */
	/* Forward slots: cfg.forwards has NAT_FORWARDS_MAX entries,
	 * cfg.n_forwards is the high-water mark; rules.fwd_idx and a forward
	 * flow's `rule` hold slot numbers. A slot is retired when a reload
	 * drops its forward while flows still use it (they keep its name). */
	uint8_t *fwd_state;  /* enum fwd_state per slot */
	uint32_t *fwd_flows; /* live flows per slot */
	/* cfg.rules[0..n_rules) match; [n_rules..n_rule_names) are names of
	 * rules a reload dropped that live flows still carry. */
	size_t n_rule_names;
	/* Non-first fragments (docs/fragments.md): the tracker, and where
	 * held ones leave. */
	struct nat_frag_table *frag;
	struct nat_frag_sink frag_sink;
	/* Inside networks (cfg.nets, at least one): counters. */
	struct nat_net_stats net_st[NAT_NETS_MAX];
	/* The kernel fast path (engine_offload.c): the offloader
	 * (off.install NULL: none); per flow slot, the kernel counters
	 * already added to the flow; after a refused install, none is tried
	 * before second off_retry_s. */
	struct nat_offload_ops off;
	struct nat_fp_counters *off_taken;
	uint32_t off_retry_s;
	bool off_refused;
};

enum fwd_state { FWD_FREE = 0, FWD_ACTIVE, FWD_RETIRED };

/* ---- small helpers ---- */

static inline int pool_of(uint8_t proto)
{
	return proto == 6 ? POOL_TCP : proto == 17 ? POOL_UDP : POOL_ICMP;
}

static inline int ext_addr_idx(const struct nat_engine *e, uint32_t ip)
{
	for (unsigned i = 0; i < e->n_addr; i++)
		if (e->addr[i].ip == ip)
			return (int)i;
	return -1;
}

static inline bool is_inside(const struct nat_engine *e, uint32_t ip)
{
	if (e->cfg.n_nets <= 1)
		return nat_cidr_contains(&e->cfg.internal, ip);
	return nat_config_net_of(&e->cfg, ip) >= 0;
}

/* The inside network of ip (0 when outside all: callers checked). */
static inline uint8_t net_of(const struct nat_engine *e, uint32_t ip)
{
	int n = e->cfg.n_nets <= 1 ? 0 : nat_config_net_of(&e->cfg, ip);
	return n < 0 ? 0 : (uint8_t)n;
}

/* ---- engine_flow.c ---- */

/* Copies a flow's identity and counters for an event or a listing. */
void nat_eng_flow_info(const struct nat_flow *f, struct nat_flow_info *fi);
/* Starts an event of `type` at the engine's time: false (and nothing to
 * fill) when nobody listens. */
bool nat_eng_ev_begin(const struct nat_engine *e, struct nat_event *ev,
		      enum nat_event_type type);
/* Hands a filled event to the event hook. */
void nat_eng_emit(struct nat_engine *e, struct nat_event *ev);
/* A flow event (open, state, close) about f. */
void nat_eng_emit_flow(struct nat_engine *e, enum nat_event_type type,
		       const struct nat_flow *f, uint8_t old_state,
		       enum nat_close_reason why);
/* Closes flow idx: flow.close event (why), port and forward references
 * released, record freed. */
void nat_eng_close_flow(struct nat_engine *e, uint32_t idx,
			enum nat_close_reason why);
/* Advances engine time to ts (never backwards) and fires due timers. */
void nat_eng_clock_to(struct nat_engine *e, uint64_t ts);

/* ---- engine.c ---- */

/* Drops every held fragment whose datagram is due at now_ns (UINT64_MAX:
 * all of them) through the sink, counted. */
void nat_eng_frag_expire(struct nat_engine *e, uint64_t now_ns);

/* ---- engine_life.c ---- */

/* Adds external address ip (ifname NULL for a config address) with its
 * port pools. Returns its index, or -1 with errbuf (table full, memory). */
int nat_eng_add_addr(struct nat_engine *e, uint32_t ip, const char *ifname,
		     char *errbuf, size_t errlen);
/* Distinct external addresses the config names: nat_ip, each snat
 * to_address in rule order, each forward's external_ip. Returns how many
 * (at most NAT_ADDR_MAX). */
unsigned nat_eng_config_addrs(const struct nat_config *cfg,
			      uint32_t out[NAT_ADDR_MAX]);

/* ---- engine_nets.c ---- */

/* Sets up the inside networks of a new engine (a hand-built config with
 * none gets one from cfg.internal) and their LRU lists when a network
 * has its own max_flows. Returns -1 with errbuf. */
int nat_eng_nets_init(struct nat_engine *e, char *errbuf, size_t errlen);
/* Makes room for one more flow of inside host ip in network net: evicts
 * the network's least recently used flow at its max_flows, the host's at
 * its max_flows_per_host (flow.close, end "evicted", counted). */
void nat_eng_make_room(struct nat_engine *e, uint32_t ip, uint8_t net);

/* ---- engine_offload.c ---- */

struct nat_pkt;
struct nat_result;

/* After packet p of flow idx was translated (res): installs the flow in
 * the fast path when it is eligible (engine.h). */
void nat_eng_offload_consider(struct nat_engine *e, uint32_t idx,
			      const struct nat_pkt *p,
			      const struct nat_result *res);
/* Takes flow idx out of the map (if it is there), adding the kernel's
 * counters to it. */
void nat_eng_offload_remove(struct nat_engine *e, uint32_t idx);
/* Flow idx's timer fired while it is offloaded: takes the kernel's
 * counters; true when its last packet (the kernel's) is recent enough
 * that it has not expired. */
bool nat_eng_offload_alive(struct nat_engine *e, uint32_t idx);
/* Adds to fi what the kernel counted for flow idx and the flow has not
 * taken yet (a listing). */
void nat_eng_offload_peek(const struct nat_engine *e, uint32_t idx,
			  struct nat_flow_info *fi);

/* ---- engine_redirect.c ---- */

/* Where a new outbound flow really goes: a redirect's target, else the
 * packet's destination. */
struct nat_redir {
	bool on; /* a redirect rule matched */
	uint32_t ip;
	uint16_t port;
};

/* Fills rd for the first packet p of a new flow that matched rule (or
 * NAT_RULE_NONE) with action *act; a redirect replaces *act by its
 * `then`. */
void nat_eng_redirect_plan(const struct nat_engine *e, uint16_t rule,
			   const struct nat_pkt *p, struct nat_redir *rd,
			   enum nat_action *act);
/* Sets a new outbound flow's remote (rd) and, for a redirect, what the
 * inside host addressed (p's destination) and the flag. */
void nat_eng_set_remote(struct nat_flow *f, const struct nat_pkt *p,
			const struct nat_redir *rd);
/* Whether the outside tuple (map_ip:map_port, rd) of a new flow is taken:
 * only a redirect makes two flows of one inside endpoint meet the same
 * remote, and their replies could not be told apart. */
bool nat_eng_redirect_clash(const struct nat_engine *e, uint8_t proto,
			    uint32_t map_ip, uint16_t map_port,
			    const struct nat_redir *rd);

/* ---- engine_forward.c ---- */

/* "config line 31" or "added at run time", in buf. */
const char *nat_eng_fwd_origin(const struct nat_forward_cfg *f, char *buf,
			       size_t len);
/* Whether a live flow that is not a forward flow holds external port
 * `port` of proto on address ip (0: nat_ip) (adding a forward there would take its
 * inbound traffic); if so, *owner_ip:*owner_port is one inside endpoint
 * holding it. */
bool nat_eng_port_held_by_mapping(const struct nat_engine *e, uint8_t proto,
				  uint32_t ip, uint16_t port,
				  uint32_t *owner_ip, uint16_t *owner_port);
/* Puts f (checked before) into a free slot and starts forwarding to it:
 * forward.add event. Returns 0, or -1 with errbuf. */
int nat_eng_fwd_insert(struct nat_engine *e, const struct nat_forward_cfg *f,
		       char *errbuf, size_t errlen);
/* Stops new connections to slot's forward; its flows are closed (flush)
 * or keep the slot as retired. forward.remove event. Returns the number of
 * flows closed. */
uint32_t nat_eng_fwd_withdraw(struct nat_engine *e, size_t slot, bool flush);

#endif
