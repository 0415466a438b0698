/* The kernel fast path: a TC (clsact ingress) program that translates the
 * packets of flows the engine offloaded, in place, and lets everything
 * else go on to NFQUEUE. Built by clang -target bpf (Makefile), embedded
 * in the binary and loaded by fastpath_linux.c; docs/fastpath.md.
 *
 * Only what the engine would do to an established packet is done here:
 * addresses and ports (the ICMP echo identifier) from the map, the IPv4
 * and L4 checksums through the kernel's helpers (which keep
 * CHECKSUM_PARTIAL, CHECKSUM_COMPLETE and GSO packets right). TTL is left
 * alone, as the engine leaves it; the forwarding that follows lowers it.
 * TCP SYN, FIN and RST, fragments, ICMP errors and anything malformed
 * always miss, so every state change still passes through the engine. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"
#include "fastpath.h"

#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct nat_fp_key);
	__type(value, struct nat_fp_val);
	__uint(max_entries, 2); /* the loader sets 2 * max_flows */
} nat_fp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nat_fp_stats);
	__uint(max_entries, 1);
} nat_fp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nat_fp_config);
	__uint(max_entries, 1);
} nat_fp_config SEC(".maps");

static __always_inline void count(enum nat_fp_counter c)
{
	__u32 zero = 0;
	struct nat_fp_stats *s = bpf_map_lookup_elem(&nat_fp_stats, &zero);

	if (s && c < NAT_FP_C_MAX)
		s->c[c]++;
}

/* Makes the first n bytes of the frame linear: nothing to do (and no
 * cost) when they are, as for nearly every driver; a pull otherwise.
 * 0, or -1 when the frame is shorter or the pull fails. */
static __always_inline int linear(struct __sk_buff *skb, __u32 n)
{
	if ((long)skb->data + n <= (long)skb->data_end)
		return 0;
	if (n > skb->len)
		return -1;
	return bpf_skb_pull_data(skb, n) < 0 ? -1 : 0;
}

/* The context allows only whole-word stores to mark; clang would narrow
 * a masked update to one byte. */
static __always_inline void set_mark(struct __sk_buff *skb, __u32 mark)
{
	*(volatile __u32 *)&skb->mark = mark;
}

/* A packet the program understood but did not translate: it goes on to
 * NFQUEUE, with its queue in the QMARK bits when there are several. */
static __always_inline int miss(struct __sk_buff *skb, enum nat_fp_counter c)
{
	__u32 zero = 0;
	struct nat_fp_config *cfg = bpf_map_lookup_elem(&nat_fp_config, &zero);

	count(c);
	if (cfg && cfg->n_queues > 1) {
		__u32 q = bpf_get_hash_recalc(skb) % cfg->n_queues;

		set_mark(skb, (skb->mark & ~NAT_FP_QMARK_MASK) |
				      ((q << NAT_FP_QMARK_SHIFT) &
				       NAT_FP_QMARK_MASK));
	}
	return TC_ACT_OK;
}

int glassnat_fp(struct __sk_buff *skb);

SEC("tc")
int glassnat_fp(struct __sk_buff *skb)
{
	void *data, *end;
	__u32 ihl, tot, l4_off, l4_need, csum_off;
	__u8 *ip, *l4, proto, echo_req = 0;
	struct nat_fp_key key = {};
	struct nat_fp_val *v;
	__u64 flags;

	if (skb->protocol != bpf_htons(ETH_P_IP)) {
		count(NAT_FP_C_NOT_IPV4);
		return TC_ACT_OK;
	}
	if (linear(skb, ETH_HLEN + 20) != 0) {
		count(NAT_FP_C_MALFORMED);
		return TC_ACT_OK;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 20) > end || (ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5) {
		count(NAT_FP_C_MALFORMED);
		return TC_ACT_OK;
	}
	ihl = (ip[0] & 0xf) * 4;
	tot = (__u32)(ip[2] << 8 | ip[3]);
	if (tot < ihl || ETH_HLEN + tot > skb->len) {
		count(NAT_FP_C_MALFORMED);
		return TC_ACT_OK;
	}
	if (((ip[6] << 8 | ip[7]) & (IP_MF | IP_OFFMASK)) != 0)
		return miss(skb, NAT_FP_C_FRAGMENT);

	proto = ip[9];
	if (proto == IPPROTO_TCP)
		l4_need = 20;
	else if (proto == IPPROTO_UDP || proto == IPPROTO_ICMP)
		l4_need = 8;
	else
		return miss(skb, NAT_FP_C_OTHER_PROTO);

	if (tot < ihl + l4_need ||
	    linear(skb, ETH_HLEN + ihl + l4_need) != 0) {
		count(NAT_FP_C_MALFORMED);
		return TC_ACT_OK;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	l4 = ip + ihl;
	if ((void *)(ip + 20) > end || (void *)(l4 + l4_need) > end) {
		count(NAT_FP_C_MALFORMED);
		return TC_ACT_OK;
	}
	l4_off = ETH_HLEN + ihl;

	__builtin_memcpy(&key.src, ip + 12, 4);
	__builtin_memcpy(&key.dst, ip + 16, 4);
	key.proto = proto;
	if (proto == IPPROTO_TCP) {
		if (l4[13] & (TCP_SYN | TCP_FIN | TCP_RST))
			return miss(skb, NAT_FP_C_TCP_CTL);
		__builtin_memcpy(&key.sport, l4, 2);
		__builtin_memcpy(&key.dport, l4 + 2, 2);
		csum_off = l4_off + 16;
	} else if (proto == IPPROTO_UDP) {
		__builtin_memcpy(&key.sport, l4, 2);
		__builtin_memcpy(&key.dport, l4 + 2, 2);
		csum_off = l4_off + 6;
	} else {
		if (l4[0] == ICMP_ECHO && l4[1] == 0) {
			__builtin_memcpy(&key.sport, l4 + 4, 2);
			echo_req = 1;
		} else if (l4[0] == ICMP_ECHOREPLY && l4[1] == 0)
			__builtin_memcpy(&key.dport, l4 + 4, 2);
		else
			return miss(skb, NAT_FP_C_ICMP_OTHER);
		csum_off = l4_off + 2;
	}

	v = bpf_map_lookup_elem(&nat_fp_flows, &key);
	if (!v)
		return miss(skb, NAT_FP_C_MISS);

	/* The new fields first, straight into the packet (the head is
	 * writable in a TC program), then the checksums by the deltas. */
	if (v->changed & NAT_FP_CH_ADDR) {
		__builtin_memcpy(ip + 12, &v->new_src, 4);
		__builtin_memcpy(ip + 16, &v->new_dst, 4);
	}
	if (v->changed & NAT_FP_CH_PORT) {
		if (proto == IPPROTO_ICMP) {
			if (echo_req)
				__builtin_memcpy(l4 + 4, &v->new_sport, 2);
			else
				__builtin_memcpy(l4 + 4, &v->new_dport, 2);
		} else {
			__builtin_memcpy(l4, &v->new_sport, 2);
			__builtin_memcpy(l4 + 2, &v->new_dport, 2);
		}
	}
	/* From here the packet pointers are invalid (the helpers may move
	 * the data); only offsets and the map value are used. */
	if (v->changed & NAT_FP_CH_ADDR) {
		if (bpf_l3_csum_replace(skb, ETH_HLEN + 10, 0, v->csum_addr, 0))
			goto err;
		if (proto != IPPROTO_ICMP) {
			flags = BPF_F_PSEUDO_HDR;
			if (proto == IPPROTO_UDP)
				flags |= BPF_F_MARK_MANGLED_0;
			if (bpf_l4_csum_replace(skb, csum_off, 0, v->csum_addr,
						flags))
				goto err;
		}
	}
	if (v->changed & NAT_FP_CH_PORT) {
		flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
		if (bpf_l4_csum_replace(skb, csum_off, 0, v->csum_port, flags))
			goto err;
	}

	v->pkts++;
	/* The IPv4 total length, as the engine counts: a frame's Ethernet
	 * padding is not the packet's (a GRO/GSO packet's header has the
	 * whole length). */
	v->bytes += tot;
	/* The coarse clock (a jiffy's resolution, ample for idle timeouts in
	 * seconds) costs a fraction of the precise one on these machines. */
	v->last_ns = bpf_ktime_get_coarse_ns();
	set_mark(skb, (skb->mark & ~NAT_FP_MARK_MASK) | NAT_FP_MARK);
	count(NAT_FP_C_HIT);
	return TC_ACT_OK;

err:
	/* Half rewritten: better lost than sent with a wrong header. */
	count(NAT_FP_C_ERROR);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
