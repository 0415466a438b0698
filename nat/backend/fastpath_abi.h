/* The layout the fast-path BPF program (fastpath.bpf.c) and its loader
 * (fastpath_linux.c) share: map keys and values, the program's counters.
 * Included by both the BPF object (clang -target bpf) and user space, so
 * it uses the kernel's fixed-width types only. docs/fastpath.md. */
#ifndef GLASSNAT_FASTPATH_ABI_H
#define GLASSNAT_FASTPATH_ABI_H

#include <linux/types.h>

/* A packet as it arrives at the interface: addresses and ports in network
 * byte order, exactly as in the headers. ICMP echo: the identifier is in
 * sport for a request (type 8), in dport for a reply (type 0), the other
 * port 0. pad is always zero (the key is hashed as bytes). */
struct nat_fp_key {
	__u32 src, dst;
	__u16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};

/* What changes: the checksum deltas are computed by the loader
 * (nat_fp_entry_build), so the program only adds them. */
#define NAT_FP_CH_ADDR 0x01 /* an address: IPv4 header + L4 pseudo header */
#define NAT_FP_CH_PORT 0x02 /* a port or the ICMP echo identifier */

/* One direction of one offloaded flow. In a per-CPU hash: the rewrite is
 * the same on every CPU, the counters are each CPU's own (the loader sums
 * them), so no packet ever waits on another CPU's cache line. */
struct nat_fp_val {
	__u32 new_src, new_dst;	    /* network order */
	__u16 new_sport, new_dport; /* network order; ICMP: as in the key */
	__u32 csum_addr; /* one's complement delta of the address change */
	__u32 csum_port; /* ... of the port / identifier change */
	__u8 changed;	 /* NAT_FP_CH_* */
	__u8 dir;	 /* enum nat_dir, for people reading the map */
	__u16 pad;
	__u64 pkts, bytes; /* bytes: IPv4 total length, as the engine counts */
	__u64 last_ns;	   /* bpf_ktime_get_coarse_ns(): latest packet */
};

/* The program's own counters: one list, the enum and the names (stats)
 * come from it. */
#define NAT_FP_FOREACH_COUNTER(X)                                              \
	X(HIT, "fastpath_hit")                 /* translated in the kernel */ \
	X(MISS, "fastpath_miss")               /* understood, not offloaded */ \
	X(TCP_CTL, "fastpath_tcp_syn_fin_rst") /* always to user space */      \
	X(FRAGMENT, "fastpath_fragment")       /* always to user space */      \
	X(ICMP_OTHER, "fastpath_icmp_not_echo") /* errors, others */          \
	X(OTHER_PROTO, "fastpath_other_proto") /* IPv4, not TCP/UDP/ICMP */    \
	X(NOT_IPV4, "fastpath_not_ipv4")       /* passed, unmarked */          \
	X(MALFORMED, "fastpath_malformed")     /* truncated, bad IHL: passed */ \
	X(ERROR, "fastpath_error")             /* a helper failed: dropped */

enum nat_fp_counter {
#define NAT_FP_X_ENUM(name, str) NAT_FP_C_##name,
	NAT_FP_FOREACH_COUNTER(NAT_FP_X_ENUM)
#undef NAT_FP_X_ENUM
	NAT_FP_C_MAX
};

struct nat_fp_stats {
	__u64 c[NAT_FP_C_MAX];
};

/* The config map's one entry (index 0). */
struct nat_fp_config {
	__u32 n_queues; /* >= 1: the QMARK modulus */
};

/* Map names in the object (bpf_object__find_map_by_name). */
#define NAT_FP_MAP_FLOWS "nat_fp_flows"
#define NAT_FP_MAP_STATS "nat_fp_stats"
#define NAT_FP_MAP_CONFIG "nat_fp_config"
#define NAT_FP_PROG "glassnat_fp"

#endif
