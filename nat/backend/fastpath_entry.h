/* Pure helpers of the fast-path loader (fastpath_linux.c): a rewrite from
 * the engine (offload.h) into the map entry the BPF program reads
 * (fastpath_abi.h), and the counters back. No I/O; unit-tested in
 * tests/unit/test_fastpath.c. Linux builds only. */
#ifndef GLASSNAT_FASTPATH_ENTRY_H
#define GLASSNAT_FASTPATH_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "fastpath_abi.h"
#include "offload.h"

/* The one's complement delta (RFC 1624: sum of ~old + new over the 16-bit
 * words that change) a checksum needs when n bytes at old become new, as
 * the kernel's csum helpers take it (bpf_l3/l4_csum_replace with size 0).
 * Both buffers are raw header bytes; n even. */
uint32_t nat_fp_csum_delta(const void *old, const void *new_, size_t n);

/* Fills the map key and value (counters zero) for one direction. */
void nat_fp_entry_build(const struct nat_fp_rewrite *rw,
			struct nat_fp_key *key, struct nat_fp_val *val);

/* Adds one CPU's counters of one direction into c: pkts and bytes into
 * the out or in pair by dir (0 = rw[0], out), last_ns (monotonic) kept as
 * the maximum into *last_mono. */
void nat_fp_counters_add(struct nat_fp_counters *c, int dir,
			 const struct nat_fp_val *v, uint64_t *last_mono);

/* Monotonic ns (bpf_ktime_get_ns) to wall-clock ns since the epoch, given
 * both clocks read now; 0 stays 0 (no packet). */
uint64_t nat_fp_mono_to_wall(uint64_t mono, uint64_t now_mono,
			     uint64_t now_wall);

#endif
