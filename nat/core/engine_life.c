/* An engine's lifetime and the queries on it: create, destroy, external
 * addresses, classify, tick, flush, stats and names. See engine.h. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine_int.h"
#include "packet.h"

/* ---- lifetime and queries ---- */

int nat_eng_add_addr(struct nat_engine *e, uint32_t ip, const char *ifname,
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
			snprintf(errbuf, errlen,
				 "out of memory for port pools");
			return -1;
		}
	}
	return (int)e->n_addr++;
}

/* Distinct external addresses the config names: nat_ip, each snat
 * to_address in rule order, each forward's external_ip
 * (nat_config_ext_addrs). */
unsigned nat_eng_config_addrs(const struct nat_config *cfg,
			      uint32_t out[NAT_ADDR_MAX])
{
	return nat_config_ext_addrs(cfg, out);
}

size_t nat_engine_flow_bytes(void)
{
	return sizeof(struct nat_flow) + 3 * sizeof(uint32_t) +
	       sizeof(struct nat_link);
}

static void frag_params(const struct nat_config *cfg, uint32_t seed,
			struct nat_frag_params *fp)
{
	memset(fp, 0, sizeof(*fp));
	fp->max_datagrams = cfg->limits.max_frag_datagrams;
	fp->max_held = cfg->limits.max_frag_held;
	fp->max_held_bytes = cfg->limits.max_frag_bytes;
	fp->timeout_ns = (uint64_t)cfg->timeouts.fragment * NS_PER_S;
	fp->hash_seed = seed;
}

/* Nonzero when some limit needs the per-host index. */
static uint32_t host_index_limit(const struct nat_config *cfg)
{
	uint32_t lim = cfg->limits.max_flows_per_host;
	for (unsigned i = 0; i < cfg->n_nets && i < NAT_NETS_MAX; i++)
		if (cfg->nets[i].max_flows_per_host > lim)
			lim = cfg->nets[i].max_flows_per_host;
	return lim;
}

static bool nets_lru(const struct nat_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_nets && i < NAT_NETS_MAX; i++)
		if (cfg->nets[i].max_flows)
			return true;
	return false;
}

size_t nat_engine_memory(const struct nat_config *cfg)
{
	struct nat_frag_params fp;
	frag_params(cfg, 0, &fp);
	uint32_t addrs[NAT_ADDR_MAX];
	unsigned n = nat_eng_config_addrs(cfg, addrs);
	return sizeof(struct nat_engine) +
	       nat_flow_table_memory(cfg->limits.max_flows,
				     host_index_limit(cfg)) +
	       (nets_lru(cfg) ? nat_flow_table_nets_memory(cfg->limits.max_flows)
			      : 0) +
	       (size_t)n * POOL_N * nat_ports_memory() +
	       2 * 65536 * sizeof(uint16_t) + cfg->n_rules +
	       (size_t)NAT_FORWARDS_MAX *
		       (sizeof(struct nat_forward_cfg) + 1 + sizeof(uint32_t)) +
	       nat_frag_memory(&fp);
}

struct nat_engine *nat_engine_create(const struct nat_config *cfg, char *errbuf,
				     size_t errlen)
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
				host_index_limit(cfg), &cfg->timeouts,
				seed) < 0)
		goto nomem;
	if (nat_eng_nets_init(e, errbuf, errlen) < 0)
		goto fail;
	struct nat_frag_params fp;
	frag_params(cfg, (uint32_t)(seed >> 32), &fp);
	e->frag = nat_frag_create(&fp, errbuf, errlen);
	if (!e->frag)
		goto fail;

	uint32_t addrs[NAT_ADDR_MAX];
	unsigned n = nat_eng_config_addrs(cfg, addrs);
	for (unsigned i = 0; i < n; i++)
		if (nat_eng_add_addr(e, addrs[i], NULL, errbuf, errlen) < 0)
			goto fail;
	for (size_t i = 0; i < e->cfg.n_rules; i++)
		if (e->cfg.rules[i].action == NAT_ACT_SNAT)
			e->rule_addr[i] = (uint8_t)ext_addr_idx(
				e, e->cfg.rules[i].to_address);
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *f = &e->cfg.forwards[i];
		int a = f->ext_ip ? ext_addr_idx(e, f->ext_ip) : 0;
		nat_ports_reserve(&e->addr[a < 0 ? 0 : a].pool[pool_of(f->proto)],
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
	nat_frag_destroy(e->frag);
	free(e->cfg.rules);
	free(e->cfg.forwards);
	free(e->fwd_state);
	free(e->fwd_flows);
	free(e->rule_addr);
	free(e->off_taken);
	free(e);
}

void nat_engine_set_hooks(struct nat_engine *e, const struct nat_hooks *h)
{
	if (h)
		e->hooks = *h;
	else
		memset(&e->hooks, 0, sizeof(e->hooks));
}

void nat_engine_set_frag_sink(struct nat_engine *e,
			      const struct nat_frag_sink *s)
{
	if (s && s->fn)
		e->frag_sink = *s;
	else
		memset(&e->frag_sink, 0, sizeof(e->frag_sink));
}

void nat_engine_drop_held(struct nat_engine *e)
{
	nat_eng_frag_expire(e, UINT64_MAX);
}

int nat_engine_set_if_addr(struct nat_engine *e, const char *ifname,
			   uint32_t addr, char *errbuf, size_t errlen)
{
	/* The address reported last is the one new flows get: an address
	 * the interface lost is reported no more, its replacement is. */
	uint64_t seq = ++e->if_seq;
	for (unsigned i = 0; i < e->n_addr; i++) {
		if (strcmp(e->addr[i].ifname, ifname) == 0 &&
		    e->addr[i].ip == addr) {
			e->addr[i].if_seq = seq;
			return 0;
		}
	}
	/* An address already in use (nat_ip itself, say) shares its pools:
	 * two pools for one address would hand out one port twice. */
	int a = ext_addr_idx(e, addr);
	if (a >= 0 && e->addr[a].ifname[0] == '\0') {
		snprintf(e->addr[a].ifname, sizeof(e->addr[a].ifname), "%s",
			 ifname);
		e->addr[a].if_seq = seq;
		return 0;
	}
	a = nat_eng_add_addr(e, addr, ifname, errbuf, errlen);
	if (a < 0)
		return -1;
	e->addr[a].if_seq = seq;
	return 0;
}

enum nat_dir nat_engine_classify(const struct nat_engine *e, const uint8_t *pkt,
				 size_t len)
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
	nat_eng_clock_to(e, ts_ns);
}

void nat_engine_flush(struct nat_engine *e, uint64_t ts_ns)
{
	if (ts_ns > e->ts_ns)
		e->ts_ns = ts_ns;
	nat_eng_frag_expire(e, UINT64_MAX);
	for (uint32_t i = 0; i < e->ft.cap; i++)
		if (e->ft.f[i].id != 0)
			nat_eng_close_flow(e, i, NAT_CLOSE_SHUTDOWN);
}

const struct nat_stats *nat_engine_stats(struct nat_engine *e)
{
	/* Derived, not kept: the table knows how many flows it holds. */
	e->st.flows_active = e->ft.used;
	struct nat_frag_usage u;
	nat_frag_usage(e->frag, &u);
	e->st.frag = *nat_frag_stats(e->frag);
	e->st.frag_datagrams_now = u.datagrams;
	e->st.frag_held_now = u.held;
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
		nat_eng_flow_info(&e->ft.f[i], &fi);
		nat_eng_offload_peek(e, i, &fi);
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
