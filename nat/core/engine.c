/* The packet pipeline: see engine.h.
 *
 * Every packet is first *decided* — flow found or created, translation
 * planned — and only then rewritten, so the trace hook sees the packet as
 * it arrived together with the verdict, and a drop never leaves a packet
 * half rewritten. Outbound packets to one of our own external addresses
 * are hairpinned: translated as outbound, then the result as inbound.
 *
 * The rest of the engine is beside this file: engine_flow.c (events,
 * flow close and expiry, the clock), engine_life.c (create, destroy,
 * queries), engine_forward.c (run-time forwards), engine_reload.c;
 * engine_int.h is what they share. */
#include "engine.h"

#include <stddef.h>
#include <string.h>

#include "engine_int.h"
#include "packet.h"

/* The translation decided for one packet, applied after the pre hook. */
struct plan {
	bool src, dst, inner_src, inner_dst;
	uint32_t src_ip, dst_ip, isrc_ip, idst_ip;
	uint16_t src_port, dst_port, isrc_port, idst_port;
};

/* ---- TCP state ---- */

static void tcp_track(struct nat_engine *e, uint32_t idx, uint8_t fl,
		      bool from_inside)
{
	struct nat_flow *f = &e->ft.f[idx];
	uint8_t old = f->tcp_state, st = old;
	bool from_init = from_inside == ((f->tflags & NAT_TF_OUT_INIT) != 0);

	/* The kernel never takes these: out of its map before the engine
	 * handles the state change, so the rest of the flow is seen here. */
	if ((f->tflags & NAT_TF_OFFLOAD) &&
	    (fl & (NAT_TCP_SYN | NAT_TCP_FIN | NAT_TCP_RST)))
		nat_eng_offload_remove(e, idx);

	if (fl & NAT_TCP_RST) {
		st = NAT_TCP_CLOSED;
	} else if ((fl & (NAT_TCP_SYN | NAT_TCP_ACK)) == NAT_TCP_SYN) {
		if (from_init &&
		    (st == NAT_TCP_NONE || st == NAT_TCP_NEW ||
		     st == NAT_TCP_TIME_WAIT || st == NAT_TCP_CLOSED)) {
			st = NAT_TCP_SYN_SENT;
			f->tflags &=
				(uint8_t) ~(NAT_TF_FIN_IN | NAT_TF_FIN_OUT);
		}
	} else if (fl & NAT_TCP_SYN) {
		if (!from_init && st == NAT_TCP_SYN_SENT)
			st = NAT_TCP_SYN_RECEIVED;
	} else if (st == NAT_TCP_SYN_RECEIVED && from_init &&
		   (fl & NAT_TCP_ACK)) {
		st = NAT_TCP_ESTABLISHED;
	} else if (st == NAT_TCP_NEW && !from_init) {
		st = NAT_TCP_ESTABLISHED;
	}
	if ((fl & NAT_TCP_FIN) && st != NAT_TCP_CLOSED) {
		f->tflags |= from_inside ? NAT_TF_FIN_OUT : NAT_TF_FIN_IN;
		bool both = (f->tflags & (NAT_TF_FIN_OUT | NAT_TF_FIN_IN)) ==
			    (NAT_TF_FIN_OUT | NAT_TF_FIN_IN);
		st = both ? NAT_TCP_TIME_WAIT : NAT_TCP_FIN_WAIT;
	}
	if (st == old)
		return;
	f->tcp_state = st;
	nat_flow_rearm(&e->ft, idx, e->now_s);
	nat_eng_emit_flow(e, NAT_EV_FLOW_STATE, f, old, NAT_CLOSE_TIMEOUT);
}

/* Accounts one packet of a flow. ICMP errors count but do not refresh the
 * flow's timer (RFC 5508 REQ-2: only the flow's own traffic keeps it). */
static void account(struct nat_engine *e, uint32_t idx, const struct nat_pkt *p,
		    bool from_inside, bool refresh)
{
	struct nat_flow *f = &e->ft.f[idx];
	e->net_st[f->net].packets++;
	e->net_st[f->net].bytes += p->ip_total;
	if (from_inside) {
		f->pkts_out++;
		f->bytes_out += p->ip_total;
	} else {
		f->pkts_in++;
		f->bytes_in += p->ip_total;
		f->tflags |= NAT_TF_SEEN_IN;
	}
	if (!refresh)
		return;
	nat_flow_touch(&e->ft, idx, e->ts_ns, e->now_s);
	if (f->proto == 6 && !(p->flags & NAT_PKT_FRAG_LATER))
		tcp_track(e, idx, p->tcp_flags, from_inside);
}

/* ---- flow creation ---- */

static struct nat_flow *new_flow(struct nat_engine *e, uint32_t *idx_out,
				 uint8_t proto, uint8_t kind)
{
	uint32_t idx = nat_flow_alloc(&e->ft);
	struct nat_flow *f = &e->ft.f[idx];
	f->proto = proto;
	f->kind = kind;
	f->first_ns = f->last_ns = e->ts_ns;
	f->rule = NAT_RULE_NONE;
	*idx_out = idx;
	return f;
}

static void open_flow(struct nat_engine *e, uint32_t idx)
{
	struct nat_flow *f = &e->ft.f[idx];
	if (f->kind == NAT_FLOW_FORWARD)
		e->fwd_flows[f->rule]++;
	if (f->kind != NAT_FLOW_BYPASS)
		nat_ports_ref(&e->addr[f->addr_idx].pool[pool_of(f->proto)],
			      f->map_port, f->in_ip, f->in_port);
	f->lru_s = (uint16_t)e->now_s;
	f->net = net_of(e, f->in_ip);
	nat_flow_insert(&e->ft, idx, e->now_s);
	e->st.flows_total++;
	e->net_st[f->net].flows_total++;
	nat_eng_emit_flow(e, NAT_EV_FLOW_OPEN, f, NAT_TCP_NONE,
			  NAT_CLOSE_TIMEOUT);
}

static void emit_limit(struct nat_engine *e, enum nat_event_type type,
		       const struct nat_pkt *p, enum nat_reason r)
{
	if (type == NAT_EV_TABLE_FULL)
		e->st.table_full_events++;
	else
		e->st.port_exhausted_events++;
	struct nat_event ev;
	if (!nat_eng_ev_begin(e, &ev, type))
		return;
	ev.reason = r;
	ev.flow.proto = p->proto;
	ev.flow.in_ip = p->src;
	ev.flow.in_port = p->sport;
	ev.flow.rem_ip = p->dst;
	ev.flow.rem_port = p->dport;
	nat_eng_emit(e, &ev);
}

static void emit_unowned(struct nat_engine *e, const struct nat_pkt *p)
{
	struct nat_event ev;
	if (!nat_eng_ev_begin(e, &ev, NAT_EV_PKT_UNOWNED))
		return;
	ev.reason = NAT_R_NO_FORWARD;
	ev.flow.proto = p->proto;
	ev.flow.rem_ip = p->src;
	ev.flow.rem_port = p->sport;
	ev.flow.map_ip = p->dst;
	ev.flow.map_port = p->dport;
	ev.flow.rule = NAT_RULE_NONE;
	nat_eng_emit(e, &ev);
}

/* Makes room for one more flow of inside host ip: its network's and its
 * own least recently used flow go at their limits (engine_nets.c). */
static void host_make_room(struct nat_engine *e, uint32_t ip)
{
	nat_eng_make_room(e, ip, net_of(e, ip));
}

/* The external port an inside endpoint already has on address a (EIM,
 * RFC 4787 REQ-1), or false. */
static bool existing_mapping(const struct nat_engine *e, uint8_t proto,
			     uint32_t ip, uint16_t port, uint8_t a,
			     uint16_t *out)
{
	for (uint32_t i = nat_flow_ep_first(&e->ft, proto, ip, port);
	     i != NAT_FLOW_NIL; i = nat_flow_ep_next(&e->ft, i)) {
		const struct nat_flow *f = &e->ft.f[i];
		if (f->kind != NAT_FLOW_BYPASS && f->addr_idx == a) {
			*out = f->map_port;
			return true;
		}
	}
	return false;
}

/* ---- the outbound and inbound decisions ---- */

struct ctx {
	struct nat_engine *e;
	struct nat_pkt *p;
	const struct nat_meta *m;
	struct nat_result *res;
	struct plan pl;
	uint32_t idx; /* the packet's flow (set_flow), or NAT_FLOW_NIL */
};

static enum nat_verdict verdict(struct ctx *c, enum nat_verdict v,
				enum nat_reason r)
{
	c->res->verdict = v;
	c->res->reason = r;
	return v;
}

static enum nat_verdict policy(struct ctx *c, enum nat_policy pol,
			       enum nat_reason r)
{
	return verdict(c, pol == NAT_POLICY_PASS ? NAT_V_PASS : NAT_V_DROP, r);
}

static void set_flow(struct ctx *c, uint32_t idx)
{
	const struct nat_flow *f = &c->e->ft.f[idx];
	c->idx = idx;
	c->res->flow_id = f->id;
	c->res->flow_trace = &c->e->ft.f[idx].trace;
	c->res->forward = f->kind == NAT_FLOW_FORWARD;
	c->res->rule = f->rule;
}

/* A reply of a redirected flow leaves from the address the inside host
 * addressed (docs/translation.md). */
static void unredirect(struct ctx *c, const struct nat_flow *f)
{
	if (!(f->tflags & NAT_TF_REDIRECT))
		return;
	c->pl.src = true;
	c->pl.src_ip = f->vis_ip;
	c->pl.src_port = f->vis_port;
}

/* The inbound half, on a tuple that may already carry an outbound
 * translation (hairpin): src/sport is the remote, dst/dport ours. */
static enum nat_verdict inbound(struct ctx *c, uint32_t src, uint16_t sport,
				uint32_t dst, uint16_t dport, bool hairpin)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;
	uint8_t proto = p->proto;

	uint32_t idx = nat_flow_find_out(&e->ft, proto, dst, dport, src, sport);
	if (idx == NAT_FLOW_NIL) {
		int a = ext_addr_idx(e, dst);
		if (a < 0)
			return verdict(c, NAT_V_PASS, NAT_R_NOT_OURS);
		if (proto == 1) {
			if (p->icmp_type == 8 && !hairpin)
				return verdict(c, NAT_V_PASS, NAT_R_TO_HOST);
			return policy(c, e->cfg.policies.unmatched_inbound,
				      p->icmp_type == 0 ? NAT_R_NO_MAPPING
							: NAT_R_TO_HOST);
		}
		bool syn = proto != 6 ||
			   (p->tcp_flags & (NAT_TCP_SYN | NAT_TCP_ACK |
					    NAT_TCP_RST)) == NAT_TCP_SYN;
		bool refused;
		uint16_t fwd = nat_rules_forward_match(
			&e->rules, proto, dst, dport, src, c->m->in_if,
			&refused);
		uint32_t own_ip = 0;
		uint16_t own_port = 0;
		uint16_t rule = NAT_RULE_NONE;
		uint8_t kind;
		struct nat_port_pool *pool = &e->addr[a].pool[pool_of(proto)];
		if (fwd != NAT_FWD_NONE) {
			if (!syn)
				return verdict(c, NAT_V_DROP, NAT_R_NO_MAPPING);
			own_ip = e->rules.fwd[fwd].int_ip;
			own_port = e->rules.fwd[fwd].int_port;
			rule = fwd;
			kind = NAT_FLOW_FORWARD;
		} else if (refused) {
			return verdict(c, NAT_V_DROP, NAT_R_FWD_SOURCE);
		} else if (nat_ports_owner(pool, dport, &own_ip, &own_port)) {
			bool ok = false;
			uint32_t j = nat_flow_ep_first(&e->ft, proto, own_ip,
						       own_port);
			for (; j != NAT_FLOW_NIL;
			     j = nat_flow_ep_next(&e->ft, j)) {
				const struct nat_flow *g = &e->ft.f[j];
				if (g->addr_idx != a ||
				    g->kind == NAT_FLOW_BYPASS)
					continue;
				rule = g->rule;
				if (e->cfg.filtering == NAT_FILTER_EI ||
				    (e->cfg.filtering == NAT_FILTER_ADDR &&
				     g->rem_ip == src)) {
					ok = true;
					break;
				}
			}
			if (!ok || !syn)
				return verdict(c, NAT_V_DROP, NAT_R_FILTERED);
			kind = NAT_FLOW_INBOUND;
		} else if (a == 0 && !e->cfg.port_preservation &&
			   (dport < e->cfg.port_range.lo ||
			    dport > e->cfg.port_range.hi)) {
			/* Not the NAT's port (without port preservation it
			 * maps into port_range only): the host's, its own
			 * service or a forward that is missing. Said once
			 * per new connection, so "why does tcp/8081 time
			 * out" has an answer. */
			if (syn)
				emit_unowned(e, p);
			return verdict(c, NAT_V_PASS, NAT_R_NO_FORWARD);
		} else {
			return policy(c, e->cfg.policies.unmatched_inbound,
				      e->cfg.policies.unmatched_inbound ==
						      NAT_POLICY_PASS
					      ? NAT_R_TO_HOST
					      : NAT_R_NO_MAPPING);
		}
		if (e->ft.free_head == NAT_FLOW_NIL) {
			emit_limit(e, NAT_EV_TABLE_FULL, p, NAT_R_TABLE_FULL);
			return verdict(c, NAT_V_DROP, NAT_R_TABLE_FULL);
		}
		host_make_room(e, own_ip);
		struct nat_flow *f = new_flow(e, &idx, proto, kind);
		f->in_ip = own_ip;
		f->in_port = own_port;
		f->map_ip = dst;
		f->map_port = dport;
		f->rem_ip = src;
		f->rem_port = sport;
		f->addr_idx = (uint8_t)a;
		f->rule = rule;
		if (proto == 6)
			f->tcp_state = NAT_TCP_NONE;
		open_flow(e, idx);
	}
	struct nat_flow *f = &e->ft.f[idx];
	if (!hairpin)
		set_flow(c, idx);
	else
		c->res->hairpin = true;
	account(e, idx, p, false, true);
	/* The remote tried twice and the inside host never answered. */
	if (f->kind == NAT_FLOW_FORWARD && f->pkts_in == 2 && !f->pkts_out)
		nat_eng_emit_flow(e, NAT_EV_FWD_UNANSWERED, f, NAT_TCP_NONE,
				  NAT_CLOSE_TIMEOUT);
	if (f->kind == NAT_FLOW_BYPASS && !(f->tflags & NAT_TF_REDIRECT))
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.dst = true;
	c->pl.dst_ip = f->in_ip;
	c->pl.dst_port = f->in_port;
	unredirect(c, f);
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

/* Chooses the external address for a new translated flow, or -1. */
static int snat_addr(struct ctx *c, uint16_t rule, enum nat_action act)
{
	struct nat_engine *e = c->e;
	if (act == NAT_ACT_SNAT)
		return e->rule_addr[rule];
	if (act == NAT_ACT_MASQUERADE && c->m->out_if) {
		/* The interface's address reported last (it follows a
		 * change for new flows; flows on an old one keep it). */
		int best = -1;
		for (unsigned i = 0; i < e->n_addr; i++)
			if (strcmp(e->addr[i].ifname, c->m->out_if) == 0 &&
			    (best < 0 || e->addr[i].if_seq > e->addr[best].if_seq))
				best = (int)i;
		return best;
	}
	return 0;
}

static enum nat_verdict outbound_new(struct ctx *c, uint32_t *idx_out)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;
	uint8_t proto = p->proto;

	if (proto == 6 && (p->tcp_flags & NAT_TCP_RST))
		return verdict(c, NAT_V_DROP, NAT_R_TCP_NO_FLOW);

	uint16_t rule = nat_rules_match(&e->rules, proto, p->src, p->dst,
					p->dport, c->m->in_if, c->m->out_if);
	c->res->rule = rule;
	enum nat_action act = rule == NAT_RULE_NONE ? NAT_ACT_NAT
						    : e->cfg.rules[rule].action;
	if (act == NAT_ACT_DROP)
		return verdict(c, NAT_V_DROP, NAT_R_RULE_DROP);
	struct nat_redir rd;
	nat_eng_redirect_plan(e, rule, p, &rd, &act);

	/* Hairpin (RFC 4787 REQ-9): to one of our external addresses on a
	 * forwarded or mapped port. The source is always translated, so the
	 * far side answers through the NAT. */
	int a = ext_addr_idx(e, p->dst);
	if (a >= 0) {
		uint32_t oip;
		uint16_t oport;
		bool hairpin =
			proto != 1 &&
			((a == 0 &&
			  nat_rules_forward(&e->rules, proto, p->dport) !=
				  NAT_FWD_NONE) ||
			 nat_ports_owner(&e->addr[a].pool[pool_of(proto)],
					 p->dport, &oip, &oport));
		/* Anything else addressed to our own address is for the host
		 * itself, which receives it on its inside interface. */
		if (!hairpin)
			return verdict(c, NAT_V_PASS, NAT_R_TO_HOST);
		act = NAT_ACT_NAT;
		nat_eng_redirect_plan(e, rule, p, &rd, &act); /* no redirect */
	}
	if ((p->flags & NAT_PKT_ICMP_QUERY) && p->icmp_type != 8 &&
	    act != NAT_ACT_BYPASS)
		return verdict(c, NAT_V_DROP, NAT_R_ICMP_UNSUPPORTED);

	if (e->ft.free_head == NAT_FLOW_NIL) {
		emit_limit(e, NAT_EV_TABLE_FULL, p, NAT_R_TABLE_FULL);
		if (act == NAT_ACT_BYPASS)
			return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
		return verdict(c, NAT_V_DROP, NAT_R_TABLE_FULL);
	}
	if (act == NAT_ACT_BYPASS) {
		if (rd.on && nat_eng_redirect_clash(e, proto, p->src, p->sport,
						    &rd))
			return verdict(c, NAT_V_DROP, NAT_R_REDIRECT_CLASH);
		host_make_room(e, p->src);
		struct nat_flow *f =
			new_flow(e, idx_out, proto, NAT_FLOW_BYPASS);
		f->in_ip = f->map_ip = p->src;
		f->in_port = f->map_port = p->sport;
		nat_eng_set_remote(f, p, &rd);
		f->rule = rule;
		f->tcp_state = proto == 6 ? NAT_TCP_NEW : NAT_TCP_NONE;
		open_flow(e, *idx_out);
		return NAT_V_BYPASS;
	}

	if (a < 0)
		a = snat_addr(c, rule, act);
	if (a < 0)
		return verdict(c, NAT_V_DROP, NAT_R_NO_ADDRESS);
	uint16_t port;
	if (!existing_mapping(e, proto, p->src, p->sport, (uint8_t)a, &port) &&
	    !nat_ports_pick(&e->addr[a].pool[pool_of(proto)], p->sport,
			    e->cfg.port_preservation, &port)) {
		emit_limit(e, NAT_EV_PORT_EXHAUSTED, p, NAT_R_PORT_EXHAUSTED);
		return verdict(c, NAT_V_DROP, NAT_R_PORT_EXHAUSTED);
	}
	if (nat_eng_redirect_clash(e, proto, e->addr[a].ip, port, &rd))
		return verdict(c, NAT_V_DROP, NAT_R_REDIRECT_CLASH);
	host_make_room(e, p->src);
	struct nat_flow *f = new_flow(e, idx_out, proto, NAT_FLOW_SNAT);
	f->in_ip = p->src;
	f->in_port = p->sport;
	f->map_ip = e->addr[a].ip;
	f->map_port = port;
	nat_eng_set_remote(f, p, &rd);
	f->addr_idx = (uint8_t)a;
	f->rule = rule;
	f->tcp_state = proto == 6 ? NAT_TCP_NEW : NAT_TCP_NONE;
	open_flow(e, *idx_out);
	return NAT_V_NAT;
}

/* An ICMP error going out whose quote is a packet the inside host got
 * (inner source remote, inner destination inside): its flow, set and
 * accounted as outbound, or NULL when none. */
static const struct nat_flow *icmp_quoted_inside(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_inner *in = &c->p->inner;
	uint32_t idx = nat_flow_find_in(&e->ft, in->proto, in->dst, in->dport,
					in->src, in->sport);
	if (idx == NAT_FLOW_NIL)
		return NULL;
	set_flow(c, idx);
	account(e, idx, c->p, true, false);
	return &e->ft.f[idx];
}

static enum nat_verdict icmp_error_out(struct ctx *c)
{
	const struct nat_flow *f = icmp_quoted_inside(c);
	if (!f)
		return verdict(c, NAT_V_DROP, NAT_R_ICMP_NO_FLOW);
	if (f->tflags & NAT_TF_REDIRECT) {
		/* About a reply that came from the address the host
		 * addressed: to the remote the flow really goes to. */
		c->pl.dst = true;
		c->pl.dst_ip = f->rem_ip;
		c->pl.inner_src = true;
		c->pl.isrc_ip = f->rem_ip;
		c->pl.isrc_port = f->rem_port;
		if (f->kind == NAT_FLOW_BYPASS)
			return verdict(c, NAT_V_NAT, NAT_R_NONE);
	}
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.src = true;
	c->pl.src_ip = f->map_ip;
	c->pl.inner_dst = true;
	c->pl.idst_ip = f->map_ip;
	c->pl.idst_port = f->map_port;
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

/* An ICMP error this host sent itself (TTL exceeded, fragmentation
 * needed) about a packet it had translated inbound and was forwarding to
 * the inside: the quote holds the inside address. It gets the NAT
 * address back, as the remote host sent it (RFC 5508 REQ-4); the outer
 * source is the host's own. No flow: dropped, never sent quoting an
 * inside address. */
static enum nat_verdict icmp_error_local(struct ctx *c)
{
	const struct nat_flow *f = icmp_quoted_inside(c);
	if (!f)
		return verdict(c, NAT_V_DROP, NAT_R_ICMP_NO_FLOW);
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.inner_dst = true;
	c->pl.idst_ip = f->map_ip;
	c->pl.idst_port = f->map_port;
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

static enum nat_verdict icmp_error_in(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;
	const struct nat_inner *in = &p->inner;
	uint32_t idx = nat_flow_find_out(&e->ft, in->proto, in->src, in->sport,
					 in->dst, in->dport);
	if (idx == NAT_FLOW_NIL || e->ft.f[idx].map_ip != p->dst) {
		if (ext_addr_idx(e, p->dst) < 0)
			return verdict(c, NAT_V_PASS, NAT_R_NOT_OURS);
		return policy(c, e->cfg.policies.unmatched_inbound,
			      e->cfg.policies.unmatched_inbound ==
					      NAT_POLICY_PASS
				      ? NAT_R_TO_HOST
				      : NAT_R_ICMP_NO_FLOW);
	}
	const struct nat_flow *f = &e->ft.f[idx];
	set_flow(c, idx);
	account(e, idx, p, false, false);
	if (f->tflags & NAT_TF_REDIRECT) {
		/* The quoted packet goes back to what the host addressed. */
		c->pl.inner_dst = true;
		c->pl.idst_ip = f->vis_ip;
		c->pl.idst_port = f->vis_port;
	}
	if (f->kind == NAT_FLOW_BYPASS && !(f->tflags & NAT_TF_REDIRECT))
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.dst = f->kind != NAT_FLOW_BYPASS;
	c->pl.dst_ip = f->in_ip;
	c->pl.inner_src = f->kind != NAT_FLOW_BYPASS;
	c->pl.isrc_ip = f->in_ip;
	c->pl.isrc_port = f->in_port;
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

static enum nat_verdict outbound(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;

	if ((p->flags & NAT_PKT_ICMP_ERROR) && !is_inside(e, p->src) &&
	    is_inside(e, p->inner.dst) && !is_inside(e, p->dst))
		return icmp_error_local(c);
	if (!is_inside(e, p->src))
		return verdict(c, NAT_V_PASS, NAT_R_NOT_INSIDE);
	if (e->cfg.has_host_internal_ip && p->src == e->cfg.host_internal_ip)
		return verdict(c, NAT_V_PASS, NAT_R_HOST_INTERNAL);
	if (p->flags & NAT_PKT_ICMP_ERROR)
		return icmp_error_out(c);
	if (p->proto == 1 && !(p->flags & NAT_PKT_ICMP_QUERY)) {
		uint16_t rule = nat_rules_match(&e->rules, 1, p->src, p->dst, 0,
						c->m->in_if, c->m->out_if);
		c->res->rule = rule;
		if (rule != NAT_RULE_NONE &&
		    e->cfg.rules[rule].action == NAT_ACT_BYPASS)
			return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
		if (rule != NAT_RULE_NONE &&
		    e->cfg.rules[rule].action == NAT_ACT_DROP)
			return verdict(c, NAT_V_DROP, NAT_R_RULE_DROP);
		return verdict(c, NAT_V_DROP, NAT_R_ICMP_UNSUPPORTED);
	}

	uint32_t idx = nat_flow_find_in(&e->ft, p->proto, p->src, p->sport,
					p->dst, p->dport);
	if (idx == NAT_FLOW_NIL) {
		/* A reply between two inside hosts to a bypassed flow (a
		 * bypass rule for the inside network) arrives from inside
		 * too: it is that flow's inbound packet, not a new flow. */
		uint32_t r = nat_flow_find_out(&e->ft, p->proto, p->dst,
					       p->dport, p->src, p->sport);
		if (r != NAT_FLOW_NIL && e->ft.f[r].kind == NAT_FLOW_BYPASS) {
			set_flow(c, r);
			account(e, r, p, false, true);
			unredirect(c, &e->ft.f[r]);
			return verdict(c, c->pl.src ? NAT_V_NAT : NAT_V_BYPASS,
				       NAT_R_NONE);
		}
		enum nat_verdict v = outbound_new(c, &idx);
		if (idx == NAT_FLOW_NIL || v == NAT_V_DROP)
			return v;
	}
	const struct nat_flow *f = &e->ft.f[idx];
	set_flow(c, idx);
	account(e, idx, p, true, true);
	if (f->tflags & NAT_TF_REDIRECT) {
		c->pl.dst = true;
		c->pl.dst_ip = f->rem_ip;
		c->pl.dst_port = f->rem_port;
		if (f->kind == NAT_FLOW_BYPASS)
			return verdict(c, NAT_V_NAT, NAT_R_NONE);
	}
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.src = true;
	c->pl.src_ip = f->map_ip;
	c->pl.src_port = f->map_port;
	if (p->proto != 1 && !(f->tflags & NAT_TF_REDIRECT) &&
	    ext_addr_idx(e, p->dst) >= 0) {
		uint32_t mip = f->map_ip;
		uint16_t mport = f->map_port;
		enum nat_verdict v =
			inbound(c, mip, mport, p->dst, p->dport, true);
		if (v != NAT_V_NAT) {
			c->pl.src = false;
			if (v != NAT_V_DROP)
				return verdict(c, NAT_V_DROP, NAT_R_NO_MAPPING);
			return v;
		}
		e->st.hairpinned++;
	}
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

/* ---- non-first fragments (docs/fragments.md) ---- */

static enum nat_verdict frag_drop(struct ctx *c, enum nat_frag_result r)
{
	switch (r) {
	case NAT_FRAG_DROP_OVERLAP:
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_OVERLAP);
	case NAT_FRAG_DROP_TINY:
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_TINY);
	default: /* DROP_FULL, DROP_BUFFER */
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_FULL);
	}
}

/* The fragment facts of the parsed packet. The tracker reads only the IP
 * header, which nat_pkt_parse() checked lies within the bytes; a
 * truncated copy is described by its total length (it can be
 * translated, never held). */
static enum nat_frag_kind frag_info(const struct nat_pkt *p,
				    struct nat_frag_info *fi)
{
	size_t n = p->len < p->ip_total ? p->ip_total : p->len;
	return nat_frag_parse(p->buf, n, fi);
}

/* A non-first fragment whose first fragment was decided: the same
 * translation (addresses only: it has no L4 header), the same flow. */
static enum nat_verdict frag_follow(struct ctx *c,
				    const struct nat_frag_rewrite *rw)
{
	struct nat_engine *e = c->e;
	c->res->flow_id = rw->flow_id;
	c->res->dir = (enum nat_dir)rw->dir;
	if (rw->flow_idx < e->ft.cap && rw->flow_id &&
	    e->ft.f[rw->flow_idx].id == rw->flow_id) {
		set_flow(c, rw->flow_idx);
		account(e, rw->flow_idx, c->p, rw->dir != NAT_DIR_IN, true);
	}
	if (!rw->what)
		return verdict(c, (enum nat_verdict)rw->verdict,
			       (enum nat_reason)rw->reason);
	c->pl.src = (rw->what & NAT_FRAG_RW_SRC) != 0;
	c->pl.src_ip = rw->src;
	c->pl.dst = (rw->what & NAT_FRAG_RW_DST) != 0;
	c->pl.dst_ip = rw->dst;
	/* Both addresses rewritten: a hairpin, or a redirected flow. */
	bool redirected = c->idx != NAT_FLOW_NIL &&
			  (e->ft.f[c->idx].tflags & NAT_TF_REDIRECT);
	if (c->pl.src && c->pl.dst && !redirected) {
		c->res->hairpin = true;
		e->st.hairpinned++;
	}
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

static enum nat_verdict frag_later(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;
	if (e->cfg.policies.fragments != NAT_POLICY_TRANSLATE)
		return verdict(c, NAT_V_DROP, NAT_R_FRAGMENT);
	/* What the first fragment gets from its addresses alone, a later
	 * one gets at once: nothing to remember. */
	if (c->res->dir == NAT_DIR_OUT && !is_inside(e, p->src))
		return verdict(c, NAT_V_PASS, NAT_R_NOT_INSIDE);
	if (c->res->dir == NAT_DIR_OUT && e->cfg.has_host_internal_ip &&
	    p->src == e->cfg.host_internal_ip)
		return verdict(c, NAT_V_PASS, NAT_R_HOST_INTERNAL);
	if (c->res->dir == NAT_DIR_UNKNOWN)
		return verdict(c, NAT_V_PASS, NAT_R_NOT_OURS);

	struct nat_frag_info fi;
	if (frag_info(p, &fi) != NAT_FRAG_LATER)
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_BAD);
	struct nat_frag_rewrite rw;
	enum nat_frag_result r = nat_frag_lookup(e->frag, &fi, e->ts_ns, &rw);
	if (r == NAT_FRAG_OK)
		return frag_follow(c, &rw);
	if (r != NAT_FRAG_MISS)
		return frag_drop(c, r);
	/* Before its first fragment: held until that one is decided. */
	if (!e->frag_sink.fn)
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_UNHELD);
	if (p->flags & NAT_PKT_TRUNCATED)
		return verdict(c, NAT_V_DROP, NAT_R_FRAG_BAD);
	r = nat_frag_hold(e->frag, &fi, p->buf, p->len, c->m->tag, e->ts_ns);
	if (r != NAT_FRAG_HELD)
		return frag_drop(c, r);
	return verdict(c, NAT_V_HELD, NAT_R_NONE);
}

/* After a first fragment (offset 0, MF) was decided: tells the tracker
 * what its later fragments get, the rewrite or the same drop (so they do
 * not wait in the buffer for nothing). Returns false when the tracker
 * refuses it; the packet is then dropped (keeping its own reason if it
 * was dropped already). */
static bool frag_learn(struct ctx *c, struct nat_frag_key *key,
		       struct nat_frag_rewrite *rw)
{
	struct nat_engine *e = c->e;
	struct nat_frag_info fi;
	if (frag_info(c->p, &fi) != NAT_FRAG_FIRST) {
		if (c->res->verdict != NAT_V_DROP)
			verdict(c, NAT_V_DROP, NAT_R_FRAG_BAD);
		return false;
	}
	memset(rw, 0, sizeof(*rw));
	if (c->res->verdict == NAT_V_NAT) {
		rw->what = (uint8_t)((c->pl.src ? NAT_FRAG_RW_SRC : 0) |
				     (c->pl.dst ? NAT_FRAG_RW_DST : 0));
		rw->src = c->pl.src_ip;
		rw->dst = c->pl.dst_ip;
	}
	rw->flow_id = c->res->flow_id;
	rw->flow_idx = c->idx;
	rw->verdict = (uint8_t)c->res->verdict;
	rw->reason = (uint8_t)c->res->reason;
	rw->dir = (uint8_t)c->res->dir;
	enum nat_frag_result r = nat_frag_learn(e->frag, &fi, rw, e->ts_ns);
	if (r != NAT_FRAG_OK) {
		if (c->res->verdict != NAT_V_DROP)
			frag_drop(c, r);
		return false;
	}
	*key = fi.key;
	return true;
}

static void apply(struct nat_pkt *p, const struct plan *pl)
{
	if (pl->inner_src)
		nat_pkt_set_inner_src(p, pl->isrc_ip, pl->isrc_port);
	if (pl->inner_dst)
		nat_pkt_set_inner_dst(p, pl->idst_ip, pl->idst_port);
	if (pl->src)
		nat_pkt_set_src(p, pl->src_ip,
				(p->flags & NAT_PKT_ICMP_ERROR) ? 0
								: pl->src_port);
	if (pl->dst)
		nat_pkt_set_dst(p, pl->dst_ip,
				(p->flags & NAT_PKT_ICMP_ERROR) ? 0
								: pl->dst_port);
}

static void count(struct nat_engine *e, const struct nat_result *r)
{
	switch (r->verdict) {
	case NAT_V_NAT:
		e->st.natted++;
		break;
	case NAT_V_BYPASS:
		e->st.bypassed++;
		break;
	case NAT_V_PASS:
		e->st.passed++;
		break;
	case NAT_V_DROP:
		e->st.dropped++;
		break;
	case NAT_V_HELD: /* counted when it leaves */
		break;
	}
	if (r->reason != NAT_R_NONE)
		e->st.by_reason[r->reason]++;
}

static void emit_drop(struct nat_engine *e, const struct nat_pkt *p,
		      const struct nat_result *r, bool parsed)
{
	struct nat_event ev;
	if (!nat_eng_ev_begin(e, &ev, NAT_EV_PKT_DROP))
		return;
	ev.reason = r->reason;
	ev.flow.id = r->flow_id;
	ev.flow.rule = r->rule;
	if (parsed) {
		ev.flow.proto = p->proto;
		if (r->dir == NAT_DIR_IN) {
			ev.flow.rem_ip = p->src;
			ev.flow.rem_port = p->sport;
			ev.flow.map_ip = p->dst;
			ev.flow.map_port = p->dport;
		} else {
			ev.flow.in_ip = p->src;
			ev.flow.in_port = p->sport;
			ev.flow.rem_ip = p->dst;
			ev.flow.rem_port = p->dport;
		}
	}
	nat_eng_emit(e, &ev);
}

/* The decision for a parsed packet, in c->res (and c->pl). */
static void decide(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;
	if (p->flags & NAT_PKT_UDP_LEN_BAD)
		verdict(c, NAT_V_DROP, NAT_R_UDP_LENGTH);
	else if (p->flags & NAT_PKT_ICMP_CSUM_BAD)
		verdict(c, NAT_V_DROP, NAT_R_ICMP_CHECKSUM);
	else if (p->proto != 6 && p->proto != 17 && p->proto != 1)
		policy(c, e->cfg.policies.other_protocols,
		       NAT_R_OTHER_PROTOCOL);
	else if (p->flags & NAT_PKT_FRAG_LATER)
		frag_later(c);
	else if (c->res->dir == NAT_DIR_OUT)
		outbound(c);
	else if (c->res->dir == NAT_DIR_IN)
		(p->flags & NAT_PKT_ICMP_ERROR)
			? icmp_error_in(c)
			: inbound(c, p->src, p->sport, p->dst, p->dport, false);
	else
		verdict(c, NAT_V_PASS, NAT_R_NOT_OURS);
}

/* Counts a decided packet, shows it to the hooks, rewrites it. */
static void finish(struct nat_engine *e, struct nat_pkt *p, uint8_t *pkt,
		   size_t len, const struct nat_meta *m,
		   const struct nat_result *res, const struct plan *pl,
		   bool parsed)
{
	count(e, res);
	if (e->hooks.packet)
		e->hooks.packet(e->hooks.ctx, 0, pkt, len, m, res);
	if (res->verdict == NAT_V_DROP) {
		emit_drop(e, p, res, parsed);
		return;
	}
	if (res->verdict == NAT_V_NAT)
		apply(p, pl);
	if (e->hooks.packet)
		e->hooks.packet(e->hooks.ctx, 1, pkt, len, m, res);
}

/* A held fragment leaving the tracker (nat_frag_out): decided as if it
 * arrived now, shown to the hooks as it arrived and as it leaves, and
 * handed to the sink with its tag. */
struct frag_out_ctx {
	struct nat_engine *e;
	const struct nat_frag_key *key;	   /* release: the datagram */
	const struct nat_frag_rewrite *rw; /* and what it learned */
};

static void frag_out(void *vctx, uint64_t tag, uint8_t *pkt, size_t len,
		     enum nat_frag_stat why)
{
	struct frag_out_ctx *o = vctx;
	struct nat_engine *e = o->e;
	struct nat_meta m;
	struct nat_result res;
	struct ctx c;
	struct nat_pkt p;
	memset(&m, 0, sizeof(m));
	memset(&res, 0, sizeof(res));
	memset(&c, 0, sizeof(c));
	m.ts_ns = e->ts_ns;
	m.tag = tag;
	res.rule = NAT_RULE_NONE;
	c.e = e;
	c.p = &p;
	c.m = &m;
	c.res = &res;
	c.idx = NAT_FLOW_NIL;
	bool ok = true;
	if (why == NAT_FRAG_S_RELEASED) {
		/* The tracker rewrote it already; the hooks see it first as it
		 * arrived, so put the addresses of the key back, then redo the
		 * rewrite through the pipeline's own path. */
		struct nat_frag_rewrite back = { .what = NAT_FRAG_RW_SRC |
							 NAT_FRAG_RW_DST,
						 .src = o->key->src,
						 .dst = o->key->dst };
		nat_frag_apply(pkt, len, &back);
		m.dir = (enum nat_dir)o->rw->dir;
		res.dir = m.dir;
		ok = nat_pkt_parse(&p, pkt, len) == NAT_PARSE_OK;
		if (ok)
			frag_follow(&c, o->rw);
		else /* cannot happen: the tracker holds whole fragments */
			verdict(&c, NAT_V_DROP, NAT_R_FRAG_BAD);
	} else {
		ok = nat_pkt_parse(&p, pkt, len) == NAT_PARSE_OK;
		m.dir = ok && is_inside(e, p.src) ? NAT_DIR_OUT : NAT_DIR_IN;
		res.dir = m.dir;
		verdict(&c, NAT_V_DROP,
			why == NAT_FRAG_S_EXPIRED_HELD	 ? NAT_R_FRAG_TIMEOUT
			: why == NAT_FRAG_S_DROPPED_TINY ? NAT_R_FRAG_TINY
							 : NAT_R_FRAG_OVERLAP);
	}
	finish(e, &p, pkt, len, &m, &res, &c.pl, ok);
	if (e->frag_sink.fn)
		e->frag_sink.fn(e->frag_sink.ctx, tag, pkt, len, &m, &res);
}

static void frag_release(struct nat_engine *e, const struct nat_frag_key *k,
			 const struct nat_frag_rewrite *rw)
{
	struct frag_out_ctx o = { .e = e, .key = k, .rw = rw };
	struct nat_frag_out out = { .ctx = &o, .fn = frag_out };
	(void)nat_frag_release(e->frag, k, &out);
}

void nat_eng_frag_expire(struct nat_engine *e, uint64_t now_ns)
{
	struct frag_out_ctx o = { .e = e };
	struct nat_frag_out out = { .ctx = &o, .fn = frag_out };
	(void)nat_frag_expire(e->frag, now_ns, &out);
}

enum nat_verdict nat_process(struct nat_engine *e, uint8_t *pkt, size_t len,
			     const struct nat_meta *m, struct nat_result *res)
{
	struct ctx c;
	c.e = e;
	c.m = m;
	c.res = res;
	memset(&c.pl, 0, sizeof(c.pl));
	res->verdict = NAT_V_DROP;
	res->reason = NAT_R_NONE;
	res->dir = m->dir;
	res->flow_id = 0;
	res->rule = NAT_RULE_NONE;
	res->hairpin = false;
	res->forward = false;
	res->flow_trace = NULL;

	e->st.packets++;
	e->st.bytes += len;
	nat_eng_clock_to(e, m->ts_ns);

	struct nat_pkt p;
	c.p = &p;
	c.idx = NAT_FLOW_NIL;
	bool parsed = false, learned = false;
	struct nat_frag_key fkey;
	struct nat_frag_rewrite frw;
	switch (nat_pkt_parse(&p, pkt, len)) {
	case NAT_PARSE_OK:
		parsed = true;
		if (res->dir == NAT_DIR_UNKNOWN)
			res->dir = is_inside(e, p.src) ? NAT_DIR_OUT
				   : ext_addr_idx(e, p.dst) >= 0
					   ? NAT_DIR_IN
					   : NAT_DIR_UNKNOWN;
		decide(&c);
		if ((p.flags & (NAT_PKT_FRAG_MORE | NAT_PKT_FRAG_LATER)) ==
			    NAT_PKT_FRAG_MORE &&
		    e->cfg.policies.fragments == NAT_POLICY_TRANSLATE)
			learned = frag_learn(&c, &fkey, &frw);
		break;
	case NAT_PARSE_IPV6:
		policy(&c, e->cfg.policies.ipv6, NAT_R_IPV6);
		break;
	case NAT_PARSE_BAD_IP:
		verdict(&c, NAT_V_DROP, NAT_R_MALFORMED_IP);
		break;
	case NAT_PARSE_BAD_L4:
		verdict(&c, NAT_V_DROP, NAT_R_MALFORMED_L4);
		break;
	case NAT_PARSE_BAD_INNER:
		verdict(&c, NAT_V_DROP, NAT_R_MALFORMED_ICMP_INNER);
		break;
	}

	/* A held fragment is seen by the hooks when it leaves. */
	if (res->verdict == NAT_V_HELD)
		return NAT_V_HELD;
	finish(e, &p, pkt, len, m, res, &c.pl, parsed);
	if (e->off.install && c.idx != NAT_FLOW_NIL &&
	    res->verdict == NAT_V_NAT)
		nat_eng_offload_consider(e, c.idx, &p, res);
	if (learned)
		frag_release(e, &fkey, &frw);
	return res->verdict;
}

/* The lookup key of a TCP/UDP packet read straight from its bytes, for
 * prefetching only: anything unusual is left to nat_process(). */
static const uint32_t *batch_bucket(const struct nat_engine *e,
				    const uint8_t *b, size_t len,
				    enum nat_dir dir)
{
	if (len < 24 || (b[0] >> 4) != 4 || (b[6] & 0x1f) || b[7])
		return NULL;
	size_t ihl = (size_t)(b[0] & 15) * 4;
	uint8_t proto = b[9];
	if ((proto != 6 && proto != 17) || len < ihl + 4)
		return NULL;
	uint32_t src = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		       (uint32_t)b[14] << 8 | b[15];
	uint32_t dst = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 |
		       (uint32_t)b[18] << 8 | b[19];
	uint16_t sport = (uint16_t)(b[ihl] << 8 | b[ihl + 1]);
	uint16_t dport = (uint16_t)(b[ihl + 2] << 8 | b[ihl + 3]);
	if (dir == NAT_DIR_OUT)
		return nat_flow_bucket_in(&e->ft, proto, src, sport, dst,
					  dport);
	if (dir == NAT_DIR_IN)
		return nat_flow_bucket_out(&e->ft, proto, dst, dport, src,
					   sport);
	return NULL;
}

#define BATCH_STRIDE 16

void nat_process_batch(struct nat_engine *e, uint8_t *const *pkts,
		       const size_t *lens, const struct nat_meta *metas,
		       struct nat_result *res, size_t n)
{
	const uint32_t *bucket[BATCH_STRIDE];
	for (size_t at = 0; at < n; at += BATCH_STRIDE) {
		size_t k = n - at < BATCH_STRIDE ? n - at : BATCH_STRIDE;
		for (size_t i = 0; i < k; i++) {
			bucket[i] = batch_bucket(e, pkts[at + i], lens[at + i],
						 metas[at + i].dir);
			if (bucket[i])
				__builtin_prefetch(bucket[i], 0);
		}
		for (size_t i = 0; i < k; i++)
			if (bucket[i])
				nat_flow_prefetch_rec(&e->ft, *bucket[i]);
		for (size_t i = 0; i < k; i++)
			nat_process(e, pkts[at + i], lens[at + i],
				    &metas[at + i], &res[at + i]);
	}
}
