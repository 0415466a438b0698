/* The engine's side of the kernel fast path (offload.h; the contract in
 * engine.h): which flows the kernel may translate on its own, and how
 * what it counted comes back into the flows.
 *
 * The engine stays the one authority. A flow is installed only once it
 * is established and nobody watches it; every packet that can change its
 * state (SYN, FIN, RST) still reaches the engine, which takes the flow
 * out of the map before handling it. The kernel's counters are added to
 * the flow whenever the engine looks (expiry, listings) and when the
 * flow leaves the map, so every flow.close carries the true totals.
 * docs/translation.md says it for users. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "packet.h"

/* Both directions of flow f as the offloader takes them: rw[0] a packet
 * arriving from the inside, rw[1] its reply arriving from outside. A
 * redirected flow's inside host addressed vis_ip:vis_port. */
static void flow_rewrites(const struct nat_flow *f,
			  struct nat_fp_rewrite rw[2])
{
	uint32_t vip = nat_flow_vis_ip(f);
	uint16_t vport = nat_flow_vis_port(f);

	memset(rw, 0, 2 * sizeof(*rw));
	rw[0].proto = rw[1].proto = f->proto;
	rw[0].dir = NAT_DIR_OUT;
	rw[0].src = f->in_ip;
	rw[0].sport = f->in_port;
	rw[0].dst = vip;
	rw[0].dport = vport;
	rw[0].new_src = f->map_ip;
	rw[0].new_sport = f->map_port;
	rw[0].new_dst = f->rem_ip;
	rw[0].new_dport = f->rem_port;
	rw[1].dir = NAT_DIR_IN;
	rw[1].src = f->rem_ip;
	rw[1].sport = f->rem_port;
	rw[1].dst = f->map_ip;
	rw[1].dport = f->map_port;
	rw[1].new_src = vip;
	rw[1].new_sport = vport;
	rw[1].new_dst = f->in_ip;
	rw[1].new_dport = f->in_port;
	if (f->proto == 1) {
		/* Echo: the identifier is the request's source "port" and
		 * the reply's destination one; the other is 0. */
		rw[0].dport = rw[0].new_dport = 0;
		rw[1].sport = rw[1].new_sport = 0;
	}
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* Adds to flow idx what the kernel counted (c, since install) beyond
 * what was taken already. */
static void take(struct nat_engine *e, uint32_t idx,
		 const struct nat_fp_counters *c)
{
	struct nat_flow *f = &e->ft.f[idx];
	struct nat_fp_counters *t = &e->off_taken[idx];
	uint64_t po = since(c->pkts_out, t->pkts_out);
	uint64_t pi = since(c->pkts_in, t->pkts_in);
	uint64_t bo = since(c->bytes_out, t->bytes_out);
	uint64_t bi = since(c->bytes_in, t->bytes_in);

	f->pkts_out += (uint32_t)po;
	f->pkts_in += (uint32_t)pi;
	f->bytes_out += bo;
	f->bytes_in += bi;
	if (pi)
		f->tflags |= NAT_TF_SEEN_IN;
	e->net_st[f->net].packets += po + pi;
	e->net_st[f->net].bytes += bo + bi;
	e->st.offload_packets += po + pi;
	e->st.offload_bytes += bo + bi;
	if (c->last_ns > f->last_ns)
		f->last_ns = c->last_ns;
	*t = *c;
}

/* Whether the observers want every packet of f. */
static bool watched(const struct nat_engine *e, const struct nat_flow *f)
{
	if (e->hooks.watching)
		return e->hooks.watching(e->hooks.ctx, f->trace);
	return e->hooks.packet != NULL;
}

/* Outbound datagrams after which a UDP flow nobody answered is taken to
 * be a one-way stream and goes to the kernel (a DNS query and its
 * retries stay in user space). */
#define NAT_OFFLOAD_UDP_ONEWAY 4

/* The packet's own facts and the flow's state allow the kernel to take
 * the flow's next packets (engine.h). */
static bool eligible(const struct nat_engine *e, const struct nat_flow *f,
		     const struct nat_pkt *p, const struct nat_result *res)
{
	if (res->verdict != NAT_V_NAT || res->hairpin ||
	    f->kind == NAT_FLOW_BYPASS || (f->tflags & NAT_TF_OFFLOAD))
		return false;
	if (p->flags & (NAT_PKT_FRAG_MORE | NAT_PKT_FRAG_LATER |
			NAT_PKT_ICMP_ERROR | NAT_PKT_TRUNCATED))
		return false;
	/* Hairpinned flows (remote = one of our own addresses) stay: each
	 * of their packets is translated twice, which the map cannot say. */
	if (ext_addr_idx(e, f->rem_ip) >= 0)
		return false;
	switch (f->proto) {
	case 6:
		if (f->tcp_state != NAT_TCP_ESTABLISHED ||
		    (f->tflags & (NAT_TF_FIN_OUT | NAT_TF_FIN_IN)) ||
		    (p->tcp_flags & (NAT_TCP_SYN | NAT_TCP_FIN | NAT_TCP_RST)))
			return false;
		break;
	case 17:
		/* Answered; or a one-way stream the inside opened (RTP,
		 * syslog, iperf3 -u): its replies, if any come, are the
		 * flow's, which every filtering mode lets in. A forward's
		 * unanswered datagrams stay (forward.unanswered). */
		if (!f->pkts_out ||
		    (!f->pkts_in && (!(f->tflags & NAT_TF_OUT_INIT) ||
				     f->pkts_out < NAT_OFFLOAD_UDP_ONEWAY)))
			return false;
		break;
	case 1:
		if (!(p->flags & NAT_PKT_ICMP_QUERY) || !f->pkts_out ||
		    !f->pkts_in)
			return false;
		break;
	default:
		return false;
	}
	return !watched(e, f);
}

void nat_eng_offload_consider(struct nat_engine *e, uint32_t idx,
			      const struct nat_pkt *p,
			      const struct nat_result *res)
{
	struct nat_flow *f = &e->ft.f[idx];
	struct nat_fp_rewrite rw[2];

	if (!e->off.install || !eligible(e, f, p, res))
		return;
	/* A full map or a refusing kernel says the same for a while: one
	 * try a second, not one system call per packet. */
	if (e->off_refused && e->now_s < e->off_retry_s)
		return;
	flow_rewrites(f, rw);
	if (e->off.install(e->off.ctx, f->id, rw) != 0) {
		e->st.offload_failed++;
		e->off_refused = true;
		e->off_retry_s = e->now_s + 1;
		return;
	}
	e->off_refused = false;
	memset(&e->off_taken[idx], 0, sizeof(e->off_taken[idx]));
	f->tflags |= NAT_TF_OFFLOAD;
	e->st.offload_now++;
	e->st.offload_total++;
}

void nat_eng_offload_remove(struct nat_engine *e, uint32_t idx)
{
	struct nat_flow *f = &e->ft.f[idx];
	struct nat_fp_rewrite rw[2];
	struct nat_fp_counters c;

	if (!(f->tflags & NAT_TF_OFFLOAD))
		return;
	memset(&c, 0, sizeof(c));
	flow_rewrites(f, rw);
	e->off.remove(e->off.ctx, rw, &c);
	take(e, idx, &c);
	f->tflags &= (uint8_t)~NAT_TF_OFFLOAD;
	e->st.offload_now--;
}

bool nat_eng_offload_alive(struct nat_engine *e, uint32_t idx)
{
	struct nat_flow *f = &e->ft.f[idx];
	struct nat_fp_rewrite rw[2];
	struct nat_fp_counters c;

	if (!(f->tflags & NAT_TF_OFFLOAD))
		return false;
	flow_rewrites(f, rw);
	if (e->off.read(e->off.ctx, rw, &c) != 0)
		return false;
	take(e, idx, &c);
	uint64_t deadline =
		f->last_ns + (uint64_t)nat_flow_timeout(&e->ft, f) * NS_PER_S;
	return deadline > e->base_ns + (uint64_t)e->now_s * NS_PER_S;
}

void nat_eng_offload_peek(const struct nat_engine *e, uint32_t idx,
			  struct nat_flow_info *fi)
{
	const struct nat_flow *f = &e->ft.f[idx];
	const struct nat_fp_counters *t = &e->off_taken[idx];
	struct nat_fp_rewrite rw[2];
	struct nat_fp_counters c;

	if (!(f->tflags & NAT_TF_OFFLOAD))
		return;
	flow_rewrites(f, rw);
	if (e->off.read(e->off.ctx, rw, &c) != 0)
		return;
	fi->pkts_out += since(c.pkts_out, t->pkts_out);
	fi->pkts_in += since(c.pkts_in, t->pkts_in);
	fi->bytes_out += since(c.bytes_out, t->bytes_out);
	fi->bytes_in += since(c.bytes_in, t->bytes_in);
	if (c.last_ns > fi->last_ns)
		fi->last_ns = c.last_ns;
}

uint32_t nat_engine_offload_flush(struct nat_engine *e)
{
	uint32_t n = 0;

	if (!e->st.offload_now)
		return 0;
	for (uint32_t i = 0; i < e->ft.cap; i++) {
		if (e->ft.f[i].id != 0 &&
		    (e->ft.f[i].tflags & NAT_TF_OFFLOAD)) {
			nat_eng_offload_remove(e, i);
			n++;
		}
	}
	return n;
}

int nat_engine_set_offload(struct nat_engine *e,
			   const struct nat_offload_ops *ops, char *errbuf,
			   size_t errlen)
{
	if (ops && ops->install && !e->off_taken) {
		e->off_taken = calloc(e->ft.cap, sizeof(*e->off_taken));
		if (!e->off_taken) {
			snprintf(errbuf, errlen,
				 "out of memory for the fast path's counters "
				 "(%zu bytes)",
				 (size_t)e->ft.cap * sizeof(*e->off_taken));
			return -1;
		}
	}
	if (e->off.install)
		(void)nat_engine_offload_flush(e);
	if (ops && ops->install)
		e->off = *ops;
	else
		memset(&e->off, 0, sizeof(e->off));
	e->off_refused = false;
	return 0;
}
