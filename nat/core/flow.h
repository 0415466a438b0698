/* The flow table: fixed-capacity flow records with three hash indexes and
 * the timers that expire them.
 *
 * One struct nat_flow serves both directions. It is found from the inside
 * by (proto, inside ip:port, remote ip:port), from the outside by (proto,
 * mapped ip:port, remote ip:port), and all flows of one inside endpoint by
 * (proto, inside ip:port), which is how endpoint-independent mapping and
 * filtering find an existing mapping. Indexes are chained through 32-bit
 * record indexes; every array is allocated once by nat_flow_table_init().
 *
 * Expiry uses a timing wheel of one-second slots: a packet only stores its
 * timestamp, and a slot that fires re-arms the flows whose traffic moved
 * their deadline. The per-inside-host LRU (for max_flows_per_host) is kept
 * to one-second granularity: a flow moves to the tail of its host's list
 * at most once per second. Single-threaded: the engine thread owns it. */
#ifndef GLASSNAT_FLOW_H
#define GLASSNAT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "types.h"

#define NAT_FLOW_NIL UINT32_MAX
#define NAT_WHEEL_SLOTS 8192u /* seconds; longer deadlines re-arm */

/* tflags */
enum {
	NAT_TF_FIN_OUT = 1u << 0, /* FIN seen from the inside */
	NAT_TF_FIN_IN = 1u << 1,  /* FIN seen from the outside */
	NAT_TF_OUT_INIT = 1u << 2, /* the inside side opened the flow */
	NAT_TF_SEEN_IN = 1u << 3,  /* a packet came from the outside */
	NAT_TF_REDIRECT = 1u << 4, /* a redirect rule rewrote the destination:
				      the inside host sees vis_ip:vis_port */
	NAT_TF_OFFLOAD = 1u << 5,  /* in the kernel fast path's map
				      (engine_offload.c) */
};

struct nat_flow {
	/* Looked at by every lookup: the keys and the chains, first. */
	uint32_t in_ip, map_ip, rem_ip;
	uint16_t in_port, map_port, rem_port;
	uint8_t proto;
	uint8_t kind;	   /* enum nat_flow_kind */
	uint32_t next_in, next_out, next_ep; /* hash chains */
	uint8_t tcp_state; /* enum nat_tcp_state */
	uint8_t tflags;	   /* NAT_TF_* */
	uint8_t addr_idx;  /* which external address (port pool) */
	uint8_t net;	   /* inside network (config nets[]) of in_ip */
	uint16_t rule;	/* rule index, forward index (FORWARD) or NONE */
	uint16_t lru_s; /* low bits of the second it last moved in the LRU */
	/* NAT_TF_REDIRECT: the remote as the inside host addressed it (its
	 * packets are found by it: the in index keys on it). */
	uint16_t vis_port;
	uint32_t vis_ip;
	/* Written by every packet. */
	uint64_t last_ns;
	uint32_t pkts_out, pkts_in;
	uint64_t bytes_out, bytes_in;
	/* Read by events and listings. */
	uint64_t id;
	uint64_t first_ns;
	uint32_t trace; /* owned by the trace observer: see nat_result */
};

struct nat_link {
	uint32_t prev, next;
};

struct nat_host {
	uint32_t ip;
	uint32_t count; /* live flows of this inside host */
	uint32_t next;	/* hash chain, or free list */
};

struct nat_flow_table {
	struct nat_flow *f;
	uint32_t cap, used;
	uint32_t free_head; /* through next_in */
	uint32_t mask;	    /* hash buckets - 1 */
	uint32_t *h_in, *h_out, *h_ep;
	uint64_t seed;
	uint64_t next_id;

	/* Timing wheel: tw[0..cap) are flows, tw[cap + s] the sentinel of
	 * slot s; circular doubly linked lists. */
	struct nat_link *tw;
	uint64_t base_ns;  /* engine second 0 */
	uint32_t wheel_s;  /* last second processed */
	struct nat_timeouts to;

	/* Per-host LRU; NULL when max_flows_per_host is 0. hl[0..cap) are
	 * flows, hl[cap + h] the sentinel of host h. */
	uint32_t per_host_limit;
	struct nat_host *hosts;
	uint32_t *h_host;
	uint32_t host_cap, host_free, host_mask;
	struct nat_link *hl;

	/* Per inside network: live flows, and (NULL until
	 * nat_flow_table_enable_nets) an LRU list each, nl[0..cap) flows,
	 * nl[cap + n] the sentinel of network n. */
	uint32_t net_count[NAT_NETS_MAX];
	struct nat_link *nl;
};

/* Reserves everything for cap flows. per_host_limit 0 disables the
 * per-host index. Returns -1 when memory is short. */
int nat_flow_table_init(struct nat_flow_table *t, uint32_t cap,
			uint32_t per_host_limit, const struct nat_timeouts *to,
			uint64_t seed) __attribute__((warn_unused_result));
void nat_flow_table_destroy(struct nat_flow_table *t);

/* Bytes nat_flow_table_init() reserves. */
size_t nat_flow_table_memory(uint32_t cap, uint32_t per_host_limit);

/* Keeps an LRU list per inside network (f->net), for per-network flow
 * limits; call before the first insert. Returns -1 when memory is short.
 * Costs nat_flow_table_nets_memory(cap) bytes. */
int nat_flow_table_enable_nets(struct nat_flow_table *t)
	__attribute__((warn_unused_result));
size_t nat_flow_table_nets_memory(uint32_t cap);

/* The least recently used flow of inside network net, or NIL (none, or
 * the per-network lists are off). */
uint32_t nat_flow_net_lru(const struct nat_flow_table *t, uint8_t net);

/* The remote address / port the inside host addressed: vis_* for a
 * redirected flow, rem_* otherwise (the in index's key). */
static inline uint32_t nat_flow_vis_ip(const struct nat_flow *f)
{
	return (f->tflags & NAT_TF_REDIRECT) ? f->vis_ip : f->rem_ip;
}
static inline uint16_t nat_flow_vis_port(const struct nat_flow *f)
{
	return (f->tflags & NAT_TF_REDIRECT) ? f->vis_port : f->rem_port;
}

uint32_t nat_flow_find_in(const struct nat_flow_table *t, uint8_t proto,
			  uint32_t in_ip, uint16_t in_port, uint32_t rem_ip,
			  uint16_t rem_port);
uint32_t nat_flow_find_out(const struct nat_flow_table *t, uint8_t proto,
			   uint32_t map_ip, uint16_t map_port, uint32_t rem_ip,
			   uint16_t rem_port);

/* First / next flow of inside endpoint (proto, ip, port); NIL at the end. */
uint32_t nat_flow_ep_first(const struct nat_flow_table *t, uint8_t proto,
			   uint32_t ip, uint16_t port);
uint32_t nat_flow_ep_next(const struct nat_flow_table *t, uint32_t idx);

/* Takes a free record, zeroed but for its id (next_id++). NIL when the
 * table is full. Fill the tuple, then nat_flow_insert(). */
uint32_t nat_flow_alloc(struct nat_flow_table *t);
/* Links a filled record into the indexes, the wheel and its host. */
void nat_flow_insert(struct nat_flow_table *t, uint32_t idx, uint32_t now_s);
/* Unlinks and frees a record. */
void nat_flow_remove(struct nat_flow_table *t, uint32_t idx);

/* The idle timeout (seconds) that applies to a flow in its state. */
uint32_t nat_flow_timeout(const struct nat_flow_table *t,
			  const struct nat_flow *f);

/* Re-arms the timer after a state change that may shorten the timeout. */
void nat_flow_rearm(struct nat_flow_table *t, uint32_t idx, uint32_t now_s);

/* Records activity: the host LRU position moves at most once a second. */
static inline void nat_flow_touch(struct nat_flow_table *t, uint32_t idx,
				  uint64_t ts_ns, uint32_t now_s);

/* Live flows of inside host ip, and its least recently used flow (NIL if
 * none or the per-host index is off). */
uint32_t nat_flow_host_count(const struct nat_flow_table *t, uint32_t ip);
uint32_t nat_flow_host_lru(const struct nat_flow_table *t, uint32_t ip);

/* Processes wheel slots up to now_s; calls expired(ctx, idx) for each flow
 * whose deadline passed, before removing it. expired returns false when
 * the flow lives on after all (it moved last_ns forward: traffic the
 * table did not see, the kernel fast path's): it is re-armed instead.
 * Returns flows expired. */
uint32_t nat_flow_expire(struct nat_flow_table *t, uint32_t now_s,
			 bool (*expired)(void *ctx, uint32_t idx), void *ctx);

/* ---- inline ---- */

/* A 64-bit mix of the key (splitmix64 finaliser over both halves) keyed
 * with the table's seed, so bucket positions cannot be predicted from
 * outside. */
static inline uint32_t nat_flow_hash5(uint64_t seed, uint8_t proto,
				      uint32_t a, uint16_t ap, uint32_t b,
				      uint16_t bp)
{
	uint64_t x = (((uint64_t)a << 32) | b) ^ seed;
	uint64_t y = ((uint64_t)ap << 32) | ((uint64_t)bp << 16) | proto;
	x ^= y * 0x9e3779b97f4a7c15ull;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x;
}

#define NAT_FLOW_SEED_OUT 0x5bd1e995u

/* Batch prefetching: the bucket of a key, then (once it has arrived) the
 * first record of its chain. Hints only: never change results. */
static inline const uint32_t *nat_flow_bucket_in(const struct nat_flow_table *t,
						 uint8_t proto, uint32_t a,
						 uint16_t ap, uint32_t b,
						 uint16_t bp)
{
	return &t->h_in[nat_flow_hash5(t->seed, proto, a, ap, b, bp) &
			t->mask];
}

static inline const uint32_t *
nat_flow_bucket_out(const struct nat_flow_table *t, uint8_t proto, uint32_t a,
		    uint16_t ap, uint32_t b, uint16_t bp)
{
	return &t->h_out[nat_flow_hash5(t->seed ^ NAT_FLOW_SEED_OUT, proto, a,
					ap, b, bp) &
			 t->mask];
}

static inline void nat_flow_prefetch_rec(const struct nat_flow_table *t,
					 uint32_t idx)
{
	if (idx != NAT_FLOW_NIL) {
		const char *r = (const char *)&t->f[idx];
		__builtin_prefetch(r, 1);
		__builtin_prefetch(r + sizeof(struct nat_flow) - 1, 1);
	}
}
/* Moves flow idx to the tail of its host's and its network's LRU lists. */
void nat_flow_host_move_tail(struct nat_flow_table *t, uint32_t idx);

static inline void nat_flow_touch(struct nat_flow_table *t, uint32_t idx,
				  uint64_t ts_ns, uint32_t now_s)
{
	struct nat_flow *f = &t->f[idx];
	f->last_ns = ts_ns;
	if ((t->hl || t->nl) && f->lru_s != (uint16_t)now_s) {
		f->lru_s = (uint16_t)now_s;
		nat_flow_host_move_tail(t, idx);
	}
}

#endif
