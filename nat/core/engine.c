/* The packet pipeline: see engine.h.
 *
 * Every packet is first *decided* — flow found or created, translation
 * planned — and only then rewritten, so the trace hook sees the packet as
 * it arrived together with the verdict, and a drop never leaves a packet
 * half rewritten. Outbound packets to one of our own external addresses
 * are hairpinned: translated as outbound, then the result as inbound. */
#include "engine.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "flow.h"
#include "packet.h"
#include "ports.h"
#include "rules.h"

#define NS_PER_S 1000000000ull
#define NAT_ADDR_MAX NAT_EXT_ADDR_MAX

enum { POOL_TCP, POOL_UDP, POOL_ICMP, POOL_N };

struct nat_addr {
	uint32_t ip;
	char ifname[NAT_IFNAME_MAX]; /* "" for addresses from the config */
	struct nat_port_pool pool[POOL_N];
};

struct nat_engine {
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
};

enum fwd_state { FWD_FREE = 0, FWD_ACTIVE, FWD_RETIRED };

/* The translation decided for one packet, applied after the pre hook. */
struct plan {
	bool src, dst, inner_src, inner_dst;
	uint32_t src_ip, dst_ip, isrc_ip, idst_ip;
	uint16_t src_port, dst_port, isrc_port, idst_port;
};

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
	return nat_cidr_contains(&e->cfg.internal, ip);
}

static void flow_info(const struct nat_flow *f, struct nat_flow_info *fi)
{
	fi->id = f->id;
	fi->proto = f->proto;
	fi->kind = f->kind;
	fi->tcp_state = f->tcp_state;
	fi->rule = f->rule;
	fi->in_ip = f->in_ip;
	fi->map_ip = f->map_ip;
	fi->rem_ip = f->rem_ip;
	fi->in_port = f->in_port;
	fi->map_port = f->map_port;
	fi->rem_port = f->rem_port;
	fi->first_ns = f->first_ns;
	fi->last_ns = f->last_ns;
	fi->pkts_out = f->pkts_out;
	fi->pkts_in = f->pkts_in;
	fi->bytes_out = f->bytes_out;
	fi->bytes_in = f->bytes_in;
}

static void emit(struct nat_engine *e, struct nat_event *ev)
{
	if (e->hooks.event)
		e->hooks.event(e->hooks.ctx, ev);
}

/* Starts an event of `type` at the engine's time: false (and nothing to
 * fill) when nobody listens, so events cost nothing without observers. */
static bool ev_begin(const struct nat_engine *e, struct nat_event *ev,
		     enum nat_event_type type)
{
	if (!e->hooks.event)
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->ts_ns = e->ts_ns;
	return true;
}

static void emit_flow(struct nat_engine *e, enum nat_event_type type,
		      const struct nat_flow *f, uint8_t old_state,
		      enum nat_close_reason why)
{
	struct nat_event ev;
	if (!ev_begin(e, &ev, type))
		return;
	flow_info(f, &ev.flow);
	ev.old_state = old_state;
	ev.close_reason = why;
	emit(e, &ev);
}

/* ---- flow lifetime ---- */

/* Everything a flow holds besides its record: the port reference. */
static void release_flow(struct nat_engine *e, struct nat_flow *f)
{
	if (f->kind == NAT_FLOW_FORWARD && f->rule < NAT_FORWARDS_MAX &&
	    e->fwd_flows[f->rule] > 0 && --e->fwd_flows[f->rule] == 0 &&
	    e->fwd_state[f->rule] == FWD_RETIRED)
		e->fwd_state[f->rule] = FWD_FREE;
	if (f->kind != NAT_FLOW_BYPASS)
		nat_ports_unref(&e->addr[f->addr_idx].pool[pool_of(f->proto)],
				f->map_port);
}

static void close_flow(struct nat_engine *e, uint32_t idx,
		       enum nat_close_reason why)
{
	struct nat_flow *f = &e->ft.f[idx];
	emit_flow(e, NAT_EV_FLOW_CLOSE, f, f->tcp_state, why);
	release_flow(e, f);
	nat_flow_remove(&e->ft, idx);
}

static void on_expired(void *ctx, uint32_t idx)
{
	struct nat_engine *e = ctx;
	struct nat_flow *f = &e->ft.f[idx];
	emit_flow(e, NAT_EV_FLOW_CLOSE, f, f->tcp_state, NAT_CLOSE_TIMEOUT);
	release_flow(e, f);
	e->st.flows_expired++;
}

static void expire_to(struct nat_engine *e, uint32_t now_s)
{
	uint32_t n = nat_flow_expire(&e->ft, now_s, on_expired, e);
	struct nat_event ev;
	if (n && ev_begin(e, &ev, NAT_EV_EXPIRED_SWEEP)) {
		ev.n_expired = n;
		ev.n_remaining = e->ft.used;
		emit(e, &ev);
	}
}

/* Advances engine time to ts (never backwards) and fires due timers. The
 * division happens once per second of traffic, not per packet. */
static void clock_to(struct nat_engine *e, uint64_t ts)
{
	e->ts_ns = ts;
	if (!e->started) {
		e->started = true;
		e->base_ns = ts - ts % NS_PER_S;
		e->ft.base_ns = e->base_ns;
		e->ft.wheel_s = 0;
		e->now_s = 0;
		e->next_sec_ns = e->base_ns + NS_PER_S;
		return;
	}
	if (ts < e->next_sec_ns)
		return;
	e->now_s = (uint32_t)((ts - e->base_ns) / NS_PER_S);
	e->next_sec_ns = e->base_ns + (uint64_t)(e->now_s + 1) * NS_PER_S;
	expire_to(e, e->now_s);
}

/* ---- TCP state ---- */

static void tcp_track(struct nat_engine *e, uint32_t idx, uint8_t fl,
		      bool from_inside)
{
	struct nat_flow *f = &e->ft.f[idx];
	uint8_t old = f->tcp_state, st = old;
	bool from_init = from_inside == ((f->tflags & NAT_TF_OUT_INIT) != 0);

	if (fl & NAT_TCP_RST) {
		st = NAT_TCP_CLOSED;
	} else if ((fl & (NAT_TCP_SYN | NAT_TCP_ACK)) == NAT_TCP_SYN) {
		if (from_init &&
		    (st == NAT_TCP_NONE || st == NAT_TCP_NEW ||
		     st == NAT_TCP_TIME_WAIT || st == NAT_TCP_CLOSED)) {
			st = NAT_TCP_SYN_SENT;
			f->tflags &= (uint8_t)~(NAT_TF_FIN_IN | NAT_TF_FIN_OUT);
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
	emit_flow(e, NAT_EV_FLOW_STATE, f, old, NAT_CLOSE_TIMEOUT);
}

/* Accounts one packet of a flow. ICMP errors count but do not refresh the
 * flow's timer (RFC 5508 REQ-2: only the flow's own traffic keeps it). */
static void account(struct nat_engine *e, uint32_t idx,
		    const struct nat_pkt *p, bool from_inside, bool refresh)
{
	struct nat_flow *f = &e->ft.f[idx];
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
	nat_flow_insert(&e->ft, idx, e->now_s);
	e->st.flows_total++;
	emit_flow(e, NAT_EV_FLOW_OPEN, f, NAT_TCP_NONE, NAT_CLOSE_TIMEOUT);
}

static void emit_limit(struct nat_engine *e, enum nat_event_type type,
		       const struct nat_pkt *p, enum nat_reason r)
{
	if (type == NAT_EV_TABLE_FULL)
		e->st.table_full_events++;
	else
		e->st.port_exhausted_events++;
	struct nat_event ev;
	if (!ev_begin(e, &ev, type))
		return;
	ev.reason = r;
	ev.flow.proto = p->proto;
	ev.flow.in_ip = p->src;
	ev.flow.in_port = p->sport;
	ev.flow.rem_ip = p->dst;
	ev.flow.rem_port = p->dport;
	emit(e, &ev);
}

/* Makes room for one more flow of inside host ip: evicts its least
 * recently used flow when it is at max_flows_per_host. */
static void host_make_room(struct nat_engine *e, uint32_t ip)
{
	uint32_t lim = e->ft.per_host_limit;
	if (!lim || nat_flow_host_count(&e->ft, ip) < lim)
		return;
	uint32_t victim = nat_flow_host_lru(&e->ft, ip);
	if (victim == NAT_FLOW_NIL)
		return;
	e->st.flows_evicted++;
	close_flow(e, victim, NAT_CLOSE_EVICTED);
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
	c->res->flow_id = f->id;
	c->res->flow_trace = &c->e->ft.f[idx].trace;
	c->res->forward = f->kind == NAT_FLOW_FORWARD;
	c->res->rule = f->rule;
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
		bool syn = proto != 6 || (p->tcp_flags & (NAT_TCP_SYN |
							  NAT_TCP_ACK |
							  NAT_TCP_RST)) ==
						 NAT_TCP_SYN;
		uint16_t fwd = a == 0 ? nat_rules_forward(&e->rules, proto,
							  dport)
				      : NAT_FWD_NONE;
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
		} else if (nat_ports_owner(pool, dport, &own_ip, &own_port)) {
			bool ok = false;
			uint32_t j = nat_flow_ep_first(&e->ft, proto, own_ip,
						       own_port);
			for (; j != NAT_FLOW_NIL; j = nat_flow_ep_next(&e->ft, j)) {
				const struct nat_flow *g = &e->ft.f[j];
				if (g->addr_idx != a || g->kind == NAT_FLOW_BYPASS)
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
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.dst = true;
	c->pl.dst_ip = f->in_ip;
	c->pl.dst_port = f->in_port;
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

/* Chooses the external address for a new translated flow, or -1. */
static int snat_addr(struct ctx *c, uint16_t rule, enum nat_action act)
{
	struct nat_engine *e = c->e;
	if (act == NAT_ACT_SNAT)
		return e->rule_addr[rule];
	if (act == NAT_ACT_MASQUERADE && c->m->out_if) {
		for (unsigned i = 0; i < e->n_addr; i++)
			if (strcmp(e->addr[i].ifname, c->m->out_if) == 0)
				return (int)i;
		return -1;
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
	enum nat_action act =
		rule == NAT_RULE_NONE ? NAT_ACT_NAT : e->cfg.rules[rule].action;
	if (act == NAT_ACT_DROP)
		return verdict(c, NAT_V_DROP, NAT_R_RULE_DROP);

	/* Hairpin (RFC 4787 REQ-9): to one of our external addresses on a
	 * forwarded or mapped port. The source is always translated, so the
	 * far side answers through the NAT. */
	int a = ext_addr_idx(e, p->dst);
	if (a >= 0) {
		uint32_t oip;
		uint16_t oport;
		bool hairpin =
			proto != 1 &&
			((a == 0 && nat_rules_forward(&e->rules, proto,
						      p->dport) != NAT_FWD_NONE) ||
			 nat_ports_owner(&e->addr[a].pool[pool_of(proto)],
					 p->dport, &oip, &oport));
		/* Anything else addressed to our own address is for the host
		 * itself, which receives it on its inside interface. */
		if (!hairpin)
			return verdict(c, NAT_V_PASS, NAT_R_TO_HOST);
		act = NAT_ACT_NAT;
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
		host_make_room(e, p->src);
		struct nat_flow *f = new_flow(e, idx_out, proto,
					      NAT_FLOW_BYPASS);
		f->in_ip = f->map_ip = p->src;
		f->in_port = f->map_port = p->sport;
		f->rem_ip = p->dst;
		f->rem_port = p->dport;
		f->rule = rule;
		f->tflags = NAT_TF_OUT_INIT;
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
	host_make_room(e, p->src);
	struct nat_flow *f = new_flow(e, idx_out, proto, NAT_FLOW_SNAT);
	f->in_ip = p->src;
	f->in_port = p->sport;
	f->map_ip = e->addr[a].ip;
	f->map_port = port;
	f->rem_ip = p->dst;
	f->rem_port = p->dport;
	f->addr_idx = (uint8_t)a;
	f->rule = rule;
	f->tflags = NAT_TF_OUT_INIT;
	f->tcp_state = proto == 6 ? NAT_TCP_NEW : NAT_TCP_NONE;
	open_flow(e, *idx_out);
	return NAT_V_NAT;
}

static enum nat_verdict icmp_error_out(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_inner *in = &c->p->inner;
	uint32_t idx = nat_flow_find_in(&e->ft, in->proto, in->dst, in->dport,
					in->src, in->sport);
	if (idx == NAT_FLOW_NIL)
		return verdict(c, NAT_V_DROP, NAT_R_ICMP_NO_FLOW);
	const struct nat_flow *f = &e->ft.f[idx];
	set_flow(c, idx);
	account(e, idx, c->p, true, false);
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.src = true;
	c->pl.src_ip = f->map_ip;
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
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.dst = true;
	c->pl.dst_ip = f->in_ip;
	c->pl.inner_src = true;
	c->pl.isrc_ip = f->in_ip;
	c->pl.isrc_port = f->in_port;
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
}

static enum nat_verdict outbound(struct ctx *c)
{
	struct nat_engine *e = c->e;
	const struct nat_pkt *p = c->p;

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
		enum nat_verdict v = outbound_new(c, &idx);
		if (idx == NAT_FLOW_NIL || v == NAT_V_DROP)
			return v;
	}
	const struct nat_flow *f = &e->ft.f[idx];
	set_flow(c, idx);
	account(e, idx, p, true, true);
	if (f->kind == NAT_FLOW_BYPASS)
		return verdict(c, NAT_V_BYPASS, NAT_R_NONE);
	c->pl.src = true;
	c->pl.src_ip = f->map_ip;
	c->pl.src_port = f->map_port;
	if (p->proto != 1 && ext_addr_idx(e, p->dst) >= 0) {
		uint32_t mip = f->map_ip;
		uint16_t mport = f->map_port;
		enum nat_verdict v = inbound(c, mip, mport, p->dst, p->dport,
					     true);
		if (v != NAT_V_NAT) {
			c->pl.src = false;
			if (v != NAT_V_DROP)
				return verdict(c, NAT_V_DROP,
					       NAT_R_NO_MAPPING);
			return v;
		}
		e->st.hairpinned++;
	}
	return verdict(c, NAT_V_NAT, NAT_R_NONE);
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
	}
	if (r->reason != NAT_R_NONE)
		e->st.by_reason[r->reason]++;
}

static void emit_drop(struct nat_engine *e, const struct nat_pkt *p,
		      const struct nat_result *r, bool parsed)
{
	struct nat_event ev;
	if (!ev_begin(e, &ev, NAT_EV_PKT_DROP))
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
	emit(e, &ev);
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
	clock_to(e, m->ts_ns);

	struct nat_pkt p;
	c.p = &p;
	bool parsed = false;
	switch (nat_pkt_parse(&p, pkt, len)) {
	case NAT_PARSE_OK:
		parsed = true;
		if (res->dir == NAT_DIR_UNKNOWN)
			res->dir = is_inside(e, p.src) ? NAT_DIR_OUT
				   : ext_addr_idx(e, p.dst) >= 0 ? NAT_DIR_IN
							       : NAT_DIR_UNKNOWN;
		if (p.flags & NAT_PKT_FRAG_LATER)
			policy(&c, e->cfg.policies.fragments, NAT_R_FRAGMENT);
		else if (p.proto != 6 && p.proto != 17 && p.proto != 1)
			policy(&c, e->cfg.policies.other_protocols,
			       NAT_R_OTHER_PROTOCOL);
		else if (res->dir == NAT_DIR_OUT)
			outbound(&c);
		else if (res->dir == NAT_DIR_IN)
			(p.flags & NAT_PKT_ICMP_ERROR)
				? icmp_error_in(&c)
				: inbound(&c, p.src, p.sport, p.dst, p.dport,
					  false);
		else
			verdict(&c, NAT_V_PASS, NAT_R_NOT_OURS);
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

	count(e, res);
	if (e->hooks.packet)
		e->hooks.packet(e->hooks.ctx, 0, pkt, len, m, res);
	if (res->verdict == NAT_V_DROP) {
		emit_drop(e, &p, res, parsed);
		return NAT_V_DROP;
	}
	if (res->verdict == NAT_V_NAT)
		apply(&p, &c.pl);
	if (e->hooks.packet)
		e->hooks.packet(e->hooks.ctx, 1, pkt, len, m, res);
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

/* ---- lifetime and queries ---- */

static int add_addr(struct nat_engine *e, uint32_t ip, const char *ifname,
		    char *errbuf, size_t errlen)
{
	if (e->n_addr == NAT_ADDR_MAX) {
		snprintf(errbuf, errlen,
			 "too many external addresses (at most %d)",
			 NAT_ADDR_MAX);
		return -1;
	}
	struct nat_addr *a = &e->addr[e->n_addr];
	memset(a, 0, sizeof(*a));
	a->ip = ip;
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname ? ifname : "");
	for (int k = 0; k < POOL_N; k++) {
		if (nat_ports_init(&a->pool[k], e->cfg.port_range.lo,
				   e->cfg.port_range.hi) < 0) {
			for (int j = 0; j < k; j++)
				nat_ports_destroy(&a->pool[j]);
			snprintf(errbuf, errlen, "out of memory for port pools");
			return -1;
		}
	}
	return (int)e->n_addr++;
}

/* Distinct external addresses the config names: nat_ip, then each snat
 * to_address in rule order. */
static unsigned config_addrs(const struct nat_config *cfg,
			     uint32_t out[NAT_ADDR_MAX])
{
	unsigned n = 0;
	out[n++] = cfg->nat_ip;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		if (cfg->rules[i].action != NAT_ACT_SNAT)
			continue;
		bool seen = false;
		for (unsigned j = 0; j < n; j++)
			seen |= out[j] == cfg->rules[i].to_address;
		if (!seen && n < NAT_ADDR_MAX)
			out[n++] = cfg->rules[i].to_address;
	}
	return n;
}

size_t nat_engine_flow_bytes(void)
{
	return sizeof(struct nat_flow) + 3 * sizeof(uint32_t) +
	       sizeof(struct nat_link);
}

size_t nat_engine_memory(const struct nat_config *cfg)
{
	uint32_t addrs[NAT_ADDR_MAX];
	unsigned n = config_addrs(cfg, addrs);
	return sizeof(struct nat_engine) +
	       nat_flow_table_memory(cfg->limits.max_flows,
				     cfg->limits.max_flows_per_host) +
	       (size_t)n * POOL_N * nat_ports_memory() +
	       2 * 65536 * sizeof(uint16_t) + cfg->n_rules +
	       (size_t)NAT_FORWARDS_MAX *
		       (sizeof(struct nat_forward_cfg) + 1 + sizeof(uint32_t));
}

struct nat_engine *nat_engine_create(const struct nat_config *cfg,
				     char *errbuf, size_t errlen)
{
	struct nat_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	e->cfg.rules = NULL;
	e->cfg.forwards = NULL;
	e->cfg.n_rules = e->cfg.n_forwards = 0;
	if (cfg->n_rules) {
		e->cfg.rules = malloc(cfg->n_rules * sizeof(*cfg->rules));
		e->rule_addr = calloc(cfg->n_rules, 1);
		if (!e->cfg.rules || !e->rule_addr)
			goto nomem;
		memcpy(e->cfg.rules, cfg->rules,
		       cfg->n_rules * sizeof(*cfg->rules));
		e->cfg.n_rules = cfg->n_rules;
	}
	e->n_rule_names = e->cfg.n_rules;
	e->cfg.forwards = calloc(NAT_FORWARDS_MAX, sizeof(*cfg->forwards));
	e->fwd_state = calloc(NAT_FORWARDS_MAX, 1);
	e->fwd_flows = calloc(NAT_FORWARDS_MAX, sizeof(*e->fwd_flows));
	if (!e->cfg.forwards || !e->fwd_state || !e->fwd_flows)
		goto nomem;
	if (cfg->n_forwards > NAT_FORWARDS_MAX) {
		snprintf(errbuf, errlen, "too many forwards (at most %d)",
			 NAT_FORWARDS_MAX);
		goto fail;
	}
	if (cfg->n_forwards) {
		memcpy(e->cfg.forwards, cfg->forwards,
		       cfg->n_forwards * sizeof(*cfg->forwards));
		e->cfg.n_forwards = cfg->n_forwards;
		memset(e->fwd_state, FWD_ACTIVE, cfg->n_forwards);
	}
	if (cfg->limits.max_flows == 0) {
		snprintf(errbuf, errlen, "limits.max_flows must be at least 1");
		goto fail;
	}
	if (nat_rules_init(&e->rules, &e->cfg) < 0)
		goto nomem;
	uint64_t seed = 0x243f6a8885a308d3ull;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed ^= (uint64_t)(uintptr_t)e;
	if (nat_flow_table_init(&e->ft, cfg->limits.max_flows,
				cfg->limits.max_flows_per_host, &cfg->timeouts,
				seed) < 0)
		goto nomem;

	uint32_t addrs[NAT_ADDR_MAX];
	unsigned n = config_addrs(cfg, addrs);
	for (unsigned i = 0; i < n; i++)
		if (add_addr(e, addrs[i], NULL, errbuf, errlen) < 0)
			goto fail;
	for (size_t i = 0; i < e->cfg.n_rules; i++)
		if (e->cfg.rules[i].action == NAT_ACT_SNAT)
			e->rule_addr[i] = (uint8_t)ext_addr_idx(
				e, e->cfg.rules[i].to_address);
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *f = &e->cfg.forwards[i];
		nat_ports_reserve(&e->addr[0].pool[pool_of(f->proto)],
				  f->ext_port);
	}
	return e;
nomem:
	snprintf(errbuf, errlen, "out of memory reserving %zu bytes",
		 nat_engine_memory(cfg));
fail:
	nat_engine_destroy(e);
	return NULL;
}

void nat_engine_destroy(struct nat_engine *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->n_addr; i++)
		for (int k = 0; k < POOL_N; k++)
			nat_ports_destroy(&e->addr[i].pool[k]);
	nat_flow_table_destroy(&e->ft);
	nat_rules_destroy(&e->rules);
	free(e->cfg.rules);
	free(e->cfg.forwards);
	free(e->fwd_state);
	free(e->fwd_flows);
	free(e->rule_addr);
	free(e);
}

void nat_engine_set_hooks(struct nat_engine *e, const struct nat_hooks *h)
{
	if (h)
		e->hooks = *h;
	else
		memset(&e->hooks, 0, sizeof(e->hooks));
}

int nat_engine_set_if_addr(struct nat_engine *e, const char *ifname,
			   uint32_t addr, char *errbuf, size_t errlen)
{
	for (unsigned i = 0; i < e->n_addr; i++) {
		if (strcmp(e->addr[i].ifname, ifname) == 0 &&
		    e->addr[i].ip == addr)
			return 0;
	}
	/* An address already in use (nat_ip itself, say) shares its pools:
	 * two pools for one address would hand out one port twice. */
	int a = ext_addr_idx(e, addr);
	if (a >= 0 && e->addr[a].ifname[0] == '\0') {
		snprintf(e->addr[a].ifname, sizeof(e->addr[a].ifname), "%s",
			 ifname);
		return 0;
	}
	return add_addr(e, addr, ifname, errbuf, errlen) < 0 ? -1 : 0;
}

enum nat_dir nat_engine_classify(const struct nat_engine *e,
				 const uint8_t *pkt, size_t len)
{
	if (len < 20 || (pkt[0] >> 4) != 4)
		return NAT_DIR_UNKNOWN;
	uint32_t src, dst;
	memcpy(&src, pkt + 12, 4);
	memcpy(&dst, pkt + 16, 4);
	src = __builtin_bswap32(src);
	dst = __builtin_bswap32(dst);
	if (is_inside(e, src))
		return NAT_DIR_OUT;
	if (ext_addr_idx(e, dst) >= 0)
		return NAT_DIR_IN;
	return NAT_DIR_UNKNOWN;
}

void nat_engine_tick(struct nat_engine *e, uint64_t ts_ns)
{
	if (!e->started || ts_ns < e->ts_ns)
		return;
	clock_to(e, ts_ns);
}

void nat_engine_flush(struct nat_engine *e, uint64_t ts_ns)
{
	if (ts_ns > e->ts_ns)
		e->ts_ns = ts_ns;
	for (uint32_t i = 0; i < e->ft.cap; i++)
		if (e->ft.f[i].id != 0)
			close_flow(e, i, NAT_CLOSE_SHUTDOWN);
}

const struct nat_stats *nat_engine_stats(struct nat_engine *e)
{
	/* Derived, not kept: the table knows how many flows it holds. */
	e->st.flows_active = e->ft.used;
	return &e->st;
}

uint64_t nat_engine_now(const struct nat_engine *e)
{
	return e->ts_ns;
}

void nat_engine_foreach_flow(const struct nat_engine *e,
			     void (*fn)(void *ctx,
					const struct nat_flow_info *fi),
			     void *ctx)
{
	struct nat_flow_info fi;
	for (uint32_t i = 0; i < e->ft.cap; i++) {
		if (e->ft.f[i].id == 0)
			continue;
		flow_info(&e->ft.f[i], &fi);
		fn(ctx, &fi);
	}
}

const char *nat_engine_rule_name(const struct nat_engine *e, uint16_t rule)
{
	if (rule == NAT_RULE_NONE || rule >= e->n_rule_names)
		return NULL;
	return e->cfg.rules[rule].name;
}

const char *nat_engine_forward_name(const struct nat_engine *e, uint16_t idx)
{
	if (idx >= e->cfg.n_forwards || e->fwd_state[idx] == FWD_FREE)
		return NULL;
	return e->cfg.forwards[idx].name;
}

const struct nat_config *nat_engine_config(const struct nat_engine *e)
{
	return &e->cfg;
}

/* ---- port forwards at run time ---- */

static uint16_t *fwd_index(struct nat_engine *e, uint8_t proto)
{
	return e->rules.fwd_idx[proto == 6 ? 0 : 1];
}

static void emit_forward(struct nat_engine *e, enum nat_event_type type,
			 const struct nat_forward_cfg *f, uint32_t closed)
{
	struct nat_event ev;
	if (!ev_begin(e, &ev, type))
		return;
	ev.fwd = f;
	ev.n_closed = closed;
	ev.flow.proto = f->proto;
	emit(e, &ev);
}

/* "(config line 31)" or "(added at run time)". */
static const char *fwd_origin(const struct nat_forward_cfg *f, char *buf,
			      size_t len)
{
	if (f->runtime)
		snprintf(buf, len, "added at run time");
	else
		snprintf(buf, len, "config line %u", f->line);
	return buf;
}

/* Flows using external port `port` that are not forward flows: a live
 * mapping holds the port. */
static bool port_held_by_mapping(const struct nat_engine *e, uint8_t proto,
				 uint16_t port, uint32_t *owner_ip,
				 uint16_t *owner_port)
{
	const struct nat_port_pool *pool = &e->addr[0].pool[pool_of(proto)];
	uint64_t fwd_refs = 0;
	for (size_t i = 0; i < e->cfg.n_forwards; i++)
		if (e->fwd_state[i] != FWD_FREE &&
		    e->cfg.forwards[i].proto == proto &&
		    e->cfg.forwards[i].ext_port == port)
			fwd_refs += e->fwd_flows[i];
	if (pool->e[port].refs <= fwd_refs)
		return false;
	return nat_ports_owner(pool, port, owner_ip, owner_port);
}

/* Checks a new forward: its fields, the active forwards (name and
 * proto/port must be unique) and the live mappings. */
static int fwd_check(const struct nat_engine *e, const struct nat_forward_cfg *f,
		     char *errbuf, size_t errlen)
{
	char ip[16], net[16], where[40];
	if (f->name[0] == '\0') {
		snprintf(errbuf, errlen, "a forward needs a name");
		return -1;
	}
	if ((f->proto != 6 && f->proto != 17) || f->ext_port == 0 ||
	    f->int_port == 0) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": protocol must be tcp or udp and "
			 "ports 1-65535",
			 f->name);
		return -1;
	}
	if (!is_inside(e, f->int_ip) || f->int_ip == e->cfg.internal.addr) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": internal_ip %s is not a host of "
			 "internal_network %s/%u",
			 f->name, nat_ip_str(f->int_ip, ip),
			 nat_ip_str(e->cfg.internal.addr, net),
			 e->cfg.internal.len);
		return -1;
	}
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *g = &e->cfg.forwards[i];
		if (e->fwd_state[i] != FWD_ACTIVE)
			continue;
		if (strcmp(g->name, f->name) == 0 ||
		    (g->proto == f->proto && g->ext_port == f->ext_port)) {
			snprintf(errbuf, errlen,
				 "forward \"%s\" %s/%u clashes with forward "
				 "\"%s\" %s/%u (%s): %s",
				 f->name, nat_proto_name(f->proto), f->ext_port,
				 g->name, nat_proto_name(g->proto), g->ext_port,
				 fwd_origin(g, where, sizeof(where)),
				 strcmp(g->name, f->name) == 0
					 ? "same name"
					 : "same protocol and port");
			return -1;
		}
	}
	uint32_t oip;
	uint16_t oport;
	if (port_held_by_mapping(e, f->proto, f->ext_port, &oip, &oport)) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": %s/%u is in use by a live mapping of "
			 "%s:%u; choose another port or retry when it expires",
			 f->name, nat_proto_name(f->proto), f->ext_port,
			 nat_ip_str(oip, ip), oport);
		return -1;
	}
	return 0;
}

/* Puts f into a free slot and starts forwarding to it. Checked before. */
static int fwd_insert(struct nat_engine *e, const struct nat_forward_cfg *f,
		      char *errbuf, size_t errlen)
{
	size_t slot = 0;
	while (slot < NAT_FORWARDS_MAX && e->fwd_state[slot] != FWD_FREE)
		slot++;
	if (slot == NAT_FORWARDS_MAX) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": too many forwards (at most %d, "
			 "counting retired ones that still carry flows)",
			 f->name, NAT_FORWARDS_MAX);
		return -1;
	}
	e->cfg.forwards[slot] = *f;
	e->fwd_state[slot] = FWD_ACTIVE;
	e->fwd_flows[slot] = 0;
	if (slot >= e->cfg.n_forwards)
		e->cfg.n_forwards = slot + 1;
	e->rules.n_fwd = (uint16_t)e->cfg.n_forwards;
	fwd_index(e, f->proto)[f->ext_port] = (uint16_t)slot;
	nat_ports_reserve(&e->addr[0].pool[pool_of(f->proto)], f->ext_port);
	emit_forward(e, NAT_EV_FORWARD_ADD, f, 0);
	return 0;
}

/* Stops new connections to slot's forward; its flows stay (retired) or
 * are closed first (flush). */
static uint32_t fwd_withdraw(struct nat_engine *e, size_t slot, bool flush)
{
	struct nat_forward_cfg f = e->cfg.forwards[slot];
	uint32_t closed = 0;
	if (flush) {
		for (uint32_t i = 0; i < e->ft.cap && e->fwd_flows[slot]; i++) {
			const struct nat_flow *fl = &e->ft.f[i];
			if (fl->id != 0 && fl->kind == NAT_FLOW_FORWARD &&
			    fl->rule == slot) {
				close_flow(e, i, NAT_CLOSE_FLUSHED);
				closed++;
			}
		}
	}
	fwd_index(e, f.proto)[f.ext_port] = NAT_FWD_NONE;
	nat_ports_unreserve(&e->addr[0].pool[pool_of(f.proto)], f.ext_port);
	emit_forward(e, NAT_EV_FORWARD_REMOVE, &f, closed);
	if (e->fwd_flows[slot] == 0) {
		e->fwd_state[slot] = FWD_FREE;
		memset(&e->cfg.forwards[slot], 0, sizeof(e->cfg.forwards[slot]));
	} else {
		e->fwd_state[slot] = FWD_RETIRED;
	}
	return closed;
}

int nat_engine_forward_add(struct nat_engine *e,
			   const struct nat_forward_cfg *f, char *errbuf,
			   size_t errlen)
{
	if (fwd_check(e, f, errbuf, errlen) < 0)
		return -1;
	return fwd_insert(e, f, errbuf, errlen);
}

int nat_engine_forward_remove(struct nat_engine *e, const char *name,
			      uint8_t proto, uint16_t port,
			      struct nat_forward_cfg *removed, char *errbuf,
			      size_t errlen)
{
	size_t found = NAT_FORWARDS_MAX;
	unsigned n = 0;
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *g = &e->cfg.forwards[i];
		if (e->fwd_state[i] != FWD_ACTIVE)
			continue;
		bool hit = name ? strcmp(g->name, name) == 0
				: g->ext_port == port &&
					  (proto == 0 || g->proto == proto);
		if (hit) {
			found = i;
			n++;
		}
	}
	if (n == 0) {
		if (name)
			snprintf(errbuf, errlen, "no forward named \"%s\"",
				 name);
		else
			snprintf(errbuf, errlen, "no forward on %s port %u",
				 proto ? nat_proto_name(proto) : "tcp or udp",
				 port);
		return -1;
	}
	if (n > 1) {
		snprintf(errbuf, errlen,
			 "both tcp/%u and udp/%u are forwarded: say which "
			 "(protocol) or remove by name",
			 port, port);
		return -1;
	}
	if (removed)
		*removed = e->cfg.forwards[found];
	fwd_withdraw(e, found, true);
	return 0;
}

size_t nat_engine_forward_list(const struct nat_engine *e,
			       struct nat_forward_info *out, size_t max)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < e->cfg.n_forwards; i++) {
			const struct nat_forward_cfg *g = &e->cfg.forwards[i];
			if (e->fwd_state[i] != FWD_ACTIVE ||
			    g->runtime != (pass == 1))
				continue;
			if (n < max) {
				out[n].f = *g;
				out[n].flows = e->fwd_flows[i];
			}
			n++;
		}
	return n;
}

/* ---- reload ---- */

/* Appends to a fixed buffer; what does not fit is cut with "...". */
struct chg {
	char *p;
	size_t len, cap;
	bool any;
};

static void chg_add(struct chg *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void chg_add(struct chg *c, const char *fmt, ...)
{
	va_list ap;
	if (c->cap == 0 || c->len + 1 >= c->cap)
		return;
	if (c->any) {
		int k = snprintf(c->p + c->len, c->cap - c->len, "; ");
		c->len += (size_t)k < c->cap - c->len ? (size_t)k
						       : c->cap - c->len - 1;
	}
	c->any = true;
	va_start(ap, fmt);
	int k = vsnprintf(c->p + c->len, c->cap - c->len, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= c->cap - c->len) {
		c->len = c->cap - 1;
		if (c->cap > 4)
			memcpy(c->p + c->cap - 4, "...", 4);
	} else {
		c->len += (size_t)k;
	}
}

static const struct nat_rule_cfg *find_rule(const struct nat_rule_cfg *r,
					    size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].name, name) == 0)
			return &r[i];
	return NULL;
}

static bool same_forward(const struct nat_forward_cfg *a,
			 const struct nat_forward_cfg *b)
{
	return a->proto == b->proto && a->ext_port == b->ext_port &&
	       a->int_ip == b->int_ip && a->int_port == b->int_port;
}

static const struct nat_forward_cfg *
find_fwd(const struct nat_forward_cfg *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

/* Whether the reload's new config could be applied; errbuf says why not. */
static int reload_check(const struct nat_engine *e, const struct nat_config *n,
			char *errbuf, size_t errlen)
{
	const struct nat_config *o = &e->cfg;
	char a[20], b[20];
	if (n->nat_ip != o->nat_ip) {
		snprintf(errbuf, errlen,
			 "nat_ip changed (%s -> %s): that needs a restart; "
			 "the running config stays",
			 nat_ip_str(o->nat_ip, a), nat_ip_str(n->nat_ip, b));
		return -1;
	}
	if (n->internal.addr != o->internal.addr ||
	    n->internal.len != o->internal.len) {
		snprintf(errbuf, errlen,
			 "internal_network changed (%s/%u -> %s/%u): that needs "
			 "a restart; the running config stays",
			 nat_ip_str(o->internal.addr, a), o->internal.len,
			 nat_ip_str(n->internal.addr, b), n->internal.len);
		return -1;
	}
	if (n->port_range.lo != o->port_range.lo ||
	    n->port_range.hi != o->port_range.hi) {
		snprintf(errbuf, errlen,
			 "port_range changed (%u-%u -> %u-%u): that needs a "
			 "restart; the running config stays",
			 o->port_range.lo, o->port_range.hi, n->port_range.lo,
			 n->port_range.hi);
		return -1;
	}
	if (n->limits.max_flows != o->limits.max_flows ||
	    n->limits.max_flows_per_host != o->limits.max_flows_per_host) {
		snprintf(errbuf, errlen,
			 "limits changed (max_flows %u -> %u, "
			 "max_flows_per_host %u -> %u): they size the flow "
			 "table, that needs a restart; the running config stays",
			 o->limits.max_flows, n->limits.max_flows,
			 o->limits.max_flows_per_host,
			 n->limits.max_flows_per_host);
		return -1;
	}
	if (n->n_forwards > NAT_FORWARDS_MAX) {
		snprintf(errbuf, errlen, "too many forwards");
		return -1;
	}
	/* New snat addresses need room among the external addresses. */
	uint32_t addrs[NAT_ADDR_MAX];
	unsigned na = config_addrs(n, addrs), extra = 0;
	for (unsigned i = 0; i < na; i++)
		if (ext_addr_idx(e, addrs[i]) < 0)
			extra++;
	if (e->n_addr + extra > NAT_ADDR_MAX) {
		snprintf(errbuf, errlen,
			 "too many external addresses (at most %d, counting "
			 "the ones in use): restart to drop old ones",
			 NAT_ADDR_MAX);
		return -1;
	}
	/* Config forwards against runtime ones and live mappings. */
	char where[40];
	for (size_t j = 0; j < n->n_forwards; j++) {
		const struct nat_forward_cfg *f = &n->forwards[j];
		for (size_t i = 0; i < o->n_forwards; i++) {
			const struct nat_forward_cfg *g = &o->forwards[i];
			if (e->fwd_state[i] != FWD_ACTIVE || !g->runtime)
				continue;
			if (strcmp(g->name, f->name) == 0 ||
			    (g->proto == f->proto && g->ext_port == f->ext_port)) {
				snprintf(errbuf, errlen,
					 "%s:%u: forward \"%s\" %s/%u clashes "
					 "with forward \"%s\" %s/%u (%s); "
					 "remove one; the running config stays",
					 n->path, f->line, f->name,
					 nat_proto_name(f->proto), f->ext_port,
					 g->name, nat_proto_name(g->proto),
					 g->ext_port,
					 fwd_origin(g, where, sizeof(where)));
				return -1;
			}
		}
		bool had = false;
		for (size_t i = 0; i < o->n_forwards; i++)
			had |= e->fwd_state[i] != FWD_FREE &&
			       o->forwards[i].proto == f->proto &&
			       o->forwards[i].ext_port == f->ext_port;
		uint32_t oip;
		uint16_t oport;
		if (!had && port_held_by_mapping(e, f->proto, f->ext_port, &oip,
						 &oport)) {
			snprintf(errbuf, errlen,
				 "%s:%u: forward \"%s\": %s/%u is in use by a "
				 "live mapping of %s:%u; the running config "
				 "stays",
				 n->path, f->line, f->name,
				 nat_proto_name(f->proto), f->ext_port,
				 nat_ip_str(oip, a), oport);
			return -1;
		}
	}
	return 0;
}

static void reload_scalars(struct nat_engine *e, const struct nat_config *n,
			   struct chg *c)
{
	struct nat_config *o = &e->cfg;
	char a[20], b[20];
	if (n->filtering != o->filtering)
		chg_add(c, "filtering %s -> %s", nat_filtering_name(o->filtering),
			nat_filtering_name(n->filtering));
	if (n->port_preservation != o->port_preservation)
		chg_add(c, "port_preservation %s -> %s",
			o->port_preservation ? "true" : "false",
			n->port_preservation ? "true" : "false");
	if (n->has_host_internal_ip != o->has_host_internal_ip ||
	    n->host_internal_ip != o->host_internal_ip)
		chg_add(c, "host_internal_ip %s -> %s",
			o->has_host_internal_ip
				? nat_ip_str(o->host_internal_ip, a)
				: "none",
			n->has_host_internal_ip
				? nat_ip_str(n->host_internal_ip, b)
				: "none");
#define TO(k)                                                              \
	if (n->timeouts.k != o->timeouts.k)                                \
	chg_add(c, "timeouts." #k " %u -> %u", o->timeouts.k, n->timeouts.k)
	TO(tcp_established);
	TO(tcp_transitory);
	TO(tcp_time_wait);
	TO(tcp_closed);
	TO(udp);
	TO(icmp);
#undef TO
	if (memcmp(&n->policies, &o->policies, sizeof(n->policies)) != 0)
		chg_add(c, "policies changed");
	o->filtering = n->filtering;
	o->port_preservation = n->port_preservation;
	o->has_host_internal_ip = n->has_host_internal_ip;
	o->host_internal_ip = n->host_internal_ip;
	o->timeouts = n->timeouts;
	e->ft.to = n->timeouts;
	o->policies = n->policies;
}

int nat_engine_reload(struct nat_engine *e, const struct nat_config *n,
		      char *changes, size_t changes_len, char *errbuf,
		      size_t errlen)
{
	struct chg c = { changes, 0, changes_len, false };
	if (changes_len)
		changes[0] = '\0';
	if (reload_check(e, n, errbuf, errlen) < 0)
		return -1;

	/* Rules: which old names do live flows still carry? */
	size_t old_names = e->n_rule_names;
	bool *used = calloc(old_names ? old_names : 1, 1);
	uint16_t *map = calloc(old_names ? old_names : 1, sizeof(*map));
	if (!used || !map) {
		free(used);
		free(map);
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < e->ft.cap; i++) {
		const struct nat_flow *f = &e->ft.f[i];
		if (f->id != 0 && f->kind != NAT_FLOW_FORWARD &&
		    f->rule < old_names)
			used[f->rule] = true;
	}
	size_t keep = 0;
	for (size_t i = 0; i < old_names; i++)
		if (used[i] &&
		    !find_rule(n->rules, n->n_rules, e->cfg.rules[i].name))
			keep++;
	size_t total = n->n_rules + keep;
	struct nat_rule_cfg *nr = malloc((total ? total : 1) * sizeof(*nr));
	uint8_t *ra = calloc(n->n_rules ? n->n_rules : 1, 1);
	if (!nr || !ra || total >= NAT_RULE_NONE) {
		free(used);
		free(map);
		free(nr);
		free(ra);
		snprintf(errbuf, errlen, "out of memory (rules)");
		return -1;
	}
	if (n->n_rules)
		memcpy(nr, n->rules, n->n_rules * sizeof(*nr));
	size_t at = n->n_rules;
	for (size_t i = 0; i < old_names; i++) {
		const struct nat_rule_cfg *r =
			find_rule(n->rules, n->n_rules, e->cfg.rules[i].name);
		if (r) {
			map[i] = (uint16_t)(r - n->rules);
		} else if (used[i]) {
			nr[at] = e->cfg.rules[i];
			map[i] = (uint16_t)at++;
		} else {
			map[i] = NAT_RULE_NONE;
		}
	}
	/* What changed, by name (order changes count too). */
	for (size_t i = 0; i < n->n_rules; i++) {
		const struct nat_rule_cfg *r = find_rule(
			e->cfg.rules, e->cfg.n_rules, n->rules[i].name);
		if (!r)
			chg_add(&c, "rule \"%s\" added", n->rules[i].name);
		else if (memcmp(&r->action, &n->rules[i].action,
				sizeof(*r) - offsetof(struct nat_rule_cfg,
						      action) -
					sizeof(r->line)) != 0 ||
			 (size_t)(r - e->cfg.rules) != i)
			chg_add(&c, "rule \"%s\" changed", n->rules[i].name);
	}
	for (size_t i = 0; i < e->cfg.n_rules; i++)
		if (!find_rule(n->rules, n->n_rules, e->cfg.rules[i].name))
			chg_add(&c, "rule \"%s\" removed%s",
				e->cfg.rules[i].name,
				used[i] ? " (its flows keep their decision)"
					: "");
	for (uint32_t i = 0; i < e->ft.cap; i++) {
		struct nat_flow *f = &e->ft.f[i];
		if (f->id != 0 && f->kind != NAT_FLOW_FORWARD &&
		    f->rule < old_names)
			f->rule = map[f->rule];
	}
	free(used);
	free(map);
	free(e->cfg.rules);
	free(e->rule_addr);
	e->cfg.rules = nr;
	e->cfg.n_rules = n->n_rules;
	e->n_rule_names = total;
	e->rule_addr = ra;
	e->rules.r = nr;
	e->rules.n = (uint16_t)n->n_rules;
	uint32_t addrs[NAT_ADDR_MAX];
	unsigned na = config_addrs(n, addrs);
	for (unsigned i = 0; i < na; i++)
		if (ext_addr_idx(e, addrs[i]) < 0)
			(void)add_addr(e, addrs[i], NULL, errbuf, errlen);
	for (size_t i = 0; i < e->cfg.n_rules; i++)
		if (e->cfg.rules[i].action == NAT_ACT_SNAT)
			e->rule_addr[i] = (uint8_t)ext_addr_idx(
				e, e->cfg.rules[i].to_address);

	/* Config forwards: withdraw the dropped and changed ones (their flows
	 * go on, retired), then add the new and changed ones. */
	bool *changed = calloc(n->n_forwards ? n->n_forwards : 1, 1);
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *g = &e->cfg.forwards[i];
		if (e->fwd_state[i] != FWD_ACTIVE || g->runtime)
			continue;
		const struct nat_forward_cfg *f =
			find_fwd(n->forwards, n->n_forwards, g->name);
		if (f && same_forward(f, g)) {
			e->cfg.forwards[i].line = f->line;
			continue;
		}
		if (!f)
			chg_add(&c, "forward \"%s\" removed", g->name);
		else if (changed)
			changed[f - n->forwards] = true;
		fwd_withdraw(e, i, false);
	}
	for (size_t j = 0; j < n->n_forwards; j++) {
		const struct nat_forward_cfg *f = &n->forwards[j];
		bool active = false, existed = changed && changed[j];
		for (size_t i = 0; i < e->cfg.n_forwards; i++)
			if (e->fwd_state[i] == FWD_ACTIVE &&
			    strcmp(e->cfg.forwards[i].name, f->name) == 0)
				active = true;
		if (active)
			continue;
		struct nat_forward_cfg nf = *f;
		nf.runtime = false;
		char ip[16];
		if (fwd_insert(e, &nf, errbuf, errlen) == 0)
			chg_add(&c, "forward \"%s\" %s (%s/%u -> %s:%u)",
				f->name, existed ? "changed" : "added",
				nat_proto_name(f->proto), f->ext_port,
				nat_ip_str(f->int_ip, ip), f->int_port);
		else
			chg_add(&c, "forward \"%s\" NOT added: %s", f->name,
				errbuf);
	}
	free(changed);
	reload_scalars(e, n, &c);
	if (!c.any)
		chg_add(&c, "no changes");
	return 0;
}
