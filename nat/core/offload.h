/* The engine's side of the kernel fast path (docs/translation.md).
 *
 * The engine stays the one authority: it decides which flows the kernel
 * may translate on its own (established, nobody watching, not hairpinned)
 * and hands each one to an offloader as two plain rewrites, one for each
 * direction. The offloader (nat/backend/fastpath*.c on Linux; tests use a
 * fake) owns everything kernel-specific: map layout, checksum deltas,
 * clocks. The engine does no I/O itself; it only calls these hooks, on
 * its own thread (or with its lock held). */
#ifndef GLASSNAT_OFFLOAD_H
#define GLASSNAT_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

/* One direction of one flow: a packet arriving as
 * (proto, src:sport -> dst:dport) leaves as (new_src:new_sport ->
 * new_dst:new_dport). Addresses and ports in host byte order. ICMP echo:
 * the identifier is in sport and new_sport (requests, dir out) or dport
 * and new_dport (replies, dir in); the other port is 0. */
struct nat_fp_rewrite {
	uint8_t proto;
	uint8_t dir; /* enum nat_dir: NAT_DIR_OUT (arrives inside) / IN */
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t new_src, new_dst;
	uint16_t new_sport, new_dport;
};

/* What the kernel did for one offloaded flow since it was installed. */
struct nat_fp_counters {
	uint64_t pkts_out, bytes_out; /* rw[0]: dir out */
	uint64_t pkts_in, bytes_in;   /* rw[1]: dir in */
	uint64_t last_ns; /* latest packet either way, ns since the Unix
			     epoch (wall clock, like nat_meta.ts_ns); 0: none */
};

/* rw[0] is always the out direction, rw[1] the in direction. */
struct nat_offload_ops {
	void *ctx;
	/* Installs both directions of flow id. 0, or -1 (map full, kernel
	 * refused): the flow then simply stays in user space. */
	int (*install)(void *ctx, uint64_t id,
		       const struct nat_fp_rewrite rw[2]);
	/* Removes both directions and returns (adds nothing to) the
	 * counters the kernel kept for them since install; after it returns
	 * the kernel translates no more packets of the flow. */
	void (*remove)(void *ctx, const struct nat_fp_rewrite rw[2],
		       struct nat_fp_counters *c);
	/* Reads the counters without removing. 0, or -1 (not there). */
	int (*read)(void *ctx, const struct nat_fp_rewrite rw[2],
		    struct nat_fp_counters *c);
};

#endif
