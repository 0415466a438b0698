/* The Linux kernel fast path: a TC (clsact) BPF program on the inside and
 * outside interfaces that translates the packets of flows the engine
 * offloaded (nat/core/offload.h), in place, with the kernel's checksum
 * helpers; everything else goes on to NFQUEUE as before. Loaded with
 * libbpf from the object built from fastpath.bpf.c and embedded in the
 * binary. docs/translation.md says which packets the kernel translates.
 *
 * The program marks every packet it translated with NAT_FP_MARK (under
 * NAT_FP_MARK_MASK) so the queueing rules let it pass; a packet it did
 * not translate gets its queue number in the NAT_FP_QMARK bits (the
 * skb's flow hash modulo the queue count set at open), so the rules can
 * spread the slow path over several queues keeping each flow on one. */
#ifndef GLASSNAT_FASTPATH_H
#define GLASSNAT_FASTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "offload.h"

#define NAT_FP_MARK 0x474e0000u	     /* "GN": translated in the kernel */
#define NAT_FP_MARK_MASK 0xffff0000u
#define NAT_FP_QMARK_SHIFT 8	     /* queue index in bits 8..15 ... */
#define NAT_FP_QMARK_MASK 0x0000ff00u /* ... of a packet not translated */

struct nat_fastpath;

struct nat_fastpath_opts {
	const char *const *ifnames; /* interfaces to attach to (ingress) */
	size_t n_ifnames;
	uint32_t max_flows;	    /* map capacity, in flows */
	unsigned n_queues;	    /* >= 1: the QMARK modulus */
};

/* Loads the program and its maps and attaches it on every interface
 * named (clsact ingress; the qdisc is created if missing and removed at
 * close if we created it). NULL with the reason in errbuf (no BPF, no
 * permission, an interface missing): nothing is left attached. */
struct nat_fastpath *nat_fastpath_open(const struct nat_fastpath_opts *o,
				       char *errbuf, size_t errlen);

/* The engine's hooks (ctx = fp): install / remove / read. */
struct nat_offload_ops nat_fastpath_ops(struct nat_fastpath *fp);

/* Removes every installed flow (counters discarded: the caller removed
 * the flows it accounts for first). */
void nat_fastpath_flush(struct nat_fastpath *fp);

/* Detaches, unloads, frees. NULL is a no-op. */
void nat_fastpath_close(struct nat_fastpath *fp);

/* The program's fd, for BPF_PROG_TEST_RUN in tests
 * (tests/e2e/fastpath_diff.c); owned by fp. */
int nat_fastpath_prog_fd(const struct nat_fastpath *fp);

/* Counters of the program itself (hits, misses, installs, install
 * failures, ...) for stats: name/value pairs, at most max; returns n. */
size_t nat_fastpath_counters(const struct nat_fastpath *fp,
			     const char **names, uint64_t *values, size_t max);

#endif
