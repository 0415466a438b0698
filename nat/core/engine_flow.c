/* The engine's events, the end of a flow's life (close, expiry) and its
 * clock: what the pipeline (engine.c) and the rest of the engine share
 * (engine_int.h). */
#include "engine.h"

#include <string.h>

#include "engine_int.h"

/* ---- small helpers ---- */

void nat_eng_flow_info(const struct nat_flow *f, struct nat_flow_info *fi)
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
	fi->net = f->net;
	fi->redirected = (f->tflags & NAT_TF_REDIRECT) != 0;
	fi->orig_ip = fi->redirected ? f->vis_ip : 0;
	fi->orig_port = fi->redirected ? f->vis_port : 0;
	fi->first_ns = f->first_ns;
	fi->last_ns = f->last_ns;
	fi->pkts_out = f->pkts_out;
	fi->pkts_in = f->pkts_in;
	fi->bytes_out = f->bytes_out;
	fi->bytes_in = f->bytes_in;
}

void nat_eng_emit(struct nat_engine *e, struct nat_event *ev)
{
	if (e->hooks.event)
		e->hooks.event(e->hooks.ctx, ev);
}

/* Starts an event of `type` at the engine's time: false (and nothing to
 * fill) when nobody listens, so events cost nothing without observers. */
bool nat_eng_ev_begin(const struct nat_engine *e, struct nat_event *ev,
		      enum nat_event_type type)
{
	if (!e->hooks.event)
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->ts_ns = e->ts_ns;
	return true;
}

void nat_eng_emit_flow(struct nat_engine *e, enum nat_event_type type,
		       const struct nat_flow *f, uint8_t old_state,
		       enum nat_close_reason why)
{
	struct nat_event ev;
	if (!nat_eng_ev_begin(e, &ev, type))
		return;
	nat_eng_flow_info(f, &ev.flow);
	ev.old_state = old_state;
	ev.close_reason = why;
	nat_eng_emit(e, &ev);
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

void nat_eng_close_flow(struct nat_engine *e, uint32_t idx,
			enum nat_close_reason why)
{
	struct nat_flow *f = &e->ft.f[idx];
	nat_eng_offload_remove(e, idx); /* its counters, before the event */
	nat_eng_emit_flow(e, NAT_EV_FLOW_CLOSE, f, f->tcp_state, why);
	release_flow(e, f);
	nat_flow_remove(&e->ft, idx);
}

uint32_t nat_engine_flow_delete(struct nat_engine *e,
				bool (*match)(void *ctx,
					      const struct nat_flow_info *fi),
				void *ctx)
{
	struct nat_flow_info fi;
	uint32_t closed = 0;
	/* Closing removes only flow i from the table: the walk goes on. */
	for (uint32_t i = 0; i < e->ft.cap; i++) {
		if (e->ft.f[i].id == 0)
			continue;
		nat_eng_flow_info(&e->ft.f[i], &fi);
		nat_eng_offload_peek(e, i, &fi);
		if (!match(ctx, &fi))
			continue;
		nat_eng_close_flow(e, i, NAT_CLOSE_DELETED);
		closed++;
	}
	return closed;
}

static bool on_expired(void *ctx, uint32_t idx)
{
	struct nat_engine *e = ctx;
	struct nat_flow *f = &e->ft.f[idx];
	/* Idle here, maybe not in the kernel: its last packet decides. */
	if (nat_eng_offload_alive(e, idx))
		return false;
	nat_eng_offload_remove(e, idx);
	nat_eng_emit_flow(e, NAT_EV_FLOW_CLOSE, f, f->tcp_state,
			  NAT_CLOSE_TIMEOUT);
	release_flow(e, f);
	e->st.flows_expired++;
	return true;
}

static void expire_to(struct nat_engine *e, uint32_t now_s)
{
	uint32_t n = nat_flow_expire(&e->ft, now_s, on_expired, e);
	struct nat_event ev;
	if (n && nat_eng_ev_begin(e, &ev, NAT_EV_EXPIRED_SWEEP)) {
		ev.n_expired = n;
		ev.n_remaining = e->ft.used;
		nat_eng_emit(e, &ev);
	}
}

/* Advances engine time to ts (never backwards) and fires due timers. The
 * division happens once per second of traffic, not per packet. */
void nat_eng_clock_to(struct nat_engine *e, uint64_t ts)
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
	nat_eng_frag_expire(e, ts);
}
