/* Inside networks (internal_network entries, the networks section): each
 * has its own flow limit with LRU eviction, its own per-host limit and
 * its own counters, like swnat's namespaces. One flow table serves them
 * all; a flow records its network (f->net) when it opens. Engine thread.
 * See engine.h and docs/config.md. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "engine_int.h"

/* The per-host limit that applies in net: its own, else limits'. */
static uint32_t host_limit(const struct nat_engine *e, uint8_t net)
{
	uint32_t own = e->cfg.nets[net].max_flows_per_host;
	return own ? own : e->cfg.limits.max_flows_per_host;
}

int nat_eng_nets_init(struct nat_engine *e, char *errbuf, size_t errlen)
{
	struct nat_config *c = &e->cfg;
	if (c->n_nets == 0) {
		memset(&c->nets[0], 0, sizeof(c->nets[0]));
		c->nets[0].cidr = c->internal;
		snprintf(c->nets[0].name, sizeof(c->nets[0].name), "%u.%u.%u.%u/%u",
			 c->internal.addr >> 24, (c->internal.addr >> 16) & 255,
			 (c->internal.addr >> 8) & 255, c->internal.addr & 255,
			 c->internal.len);
		c->n_nets = 1;
	}
	if (c->n_nets > NAT_NETS_MAX) {
		snprintf(errbuf, errlen, "too many inside networks (at most %d)",
			 NAT_NETS_MAX);
		return -1;
	}
	bool lru = false;
	for (unsigned i = 0; i < c->n_nets; i++)
		lru |= c->nets[i].max_flows != 0;
	if (lru && nat_flow_table_enable_nets(&e->ft) < 0) {
		snprintf(errbuf, errlen, "out of memory (network LRU lists)");
		return -1;
	}
	return 0;
}

static void evict(struct nat_engine *e, uint32_t victim)
{
	e->st.flows_evicted++;
	e->net_st[e->ft.f[victim].net].flows_evicted++;
	nat_eng_close_flow(e, victim, NAT_CLOSE_EVICTED);
}

void nat_eng_make_room(struct nat_engine *e, uint32_t ip, uint8_t net)
{
	uint32_t max = e->cfg.nets[net].max_flows;
	if (max && e->ft.net_count[net] >= max) {
		uint32_t victim = nat_flow_net_lru(&e->ft, net);
		if (victim != NAT_FLOW_NIL)
			evict(e, victim);
	}
	uint32_t lim = host_limit(e, net);
	if (!lim || !e->ft.hl || nat_flow_host_count(&e->ft, ip) < lim)
		return;
	uint32_t victim = nat_flow_host_lru(&e->ft, ip);
	if (victim != NAT_FLOW_NIL)
		evict(e, victim);
}

unsigned nat_engine_n_nets(const struct nat_engine *e)
{
	return e->cfg.n_nets ? e->cfg.n_nets : 1;
}

const char *nat_engine_net_name(const struct nat_engine *e, unsigned net)
{
	return net < e->cfg.n_nets ? e->cfg.nets[net].name : "?";
}

const struct nat_net_stats *nat_engine_net_stats(struct nat_engine *e,
						 unsigned net)
{
	if (net >= NAT_NETS_MAX)
		net = 0;
	e->net_st[net].flows_active = e->ft.net_count[net];
	return &e->net_st[net];
}
