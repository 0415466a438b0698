/* Reload: a new config for a running engine, checked whole before any
 * of it is applied. Engine thread, between packets. See engine.h. */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "packet.h"

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
	       a->int_ip == b->int_ip && a->int_port == b->int_port &&
	       a->ext_ip == b->ext_ip && a->n_src == b->n_src &&
	       memcmp(a->src, b->src, a->n_src * sizeof(a->src[0])) == 0 &&
	       strcmp(a->in_if, b->in_if) == 0;
}

/* Whether the inside networks (addresses, names, limits) differ. */
static bool nets_differ(const struct nat_config *a, const struct nat_config *b)
{
	if (a->n_nets != b->n_nets)
		return true;
	for (unsigned i = 0; i < a->n_nets && i < NAT_NETS_MAX; i++) {
		const struct nat_net_cfg *x = &a->nets[i], *y = &b->nets[i];
		if (x->cidr.addr != y->cidr.addr || x->cidr.len != y->cidr.len ||
		    x->max_flows != y->max_flows ||
		    x->max_flows_per_host != y->max_flows_per_host ||
		    strcmp(x->name, y->name) != 0)
			return true;
	}
	return false;
}

static const struct nat_forward_cfg *find_fwd(const struct nat_forward_cfg *f,
					      size_t n, const char *name)
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
		snprintf(
			errbuf, errlen,
			"internal_network changed (%s/%u -> %s/%u): that needs "
			"a restart; the running config stays",
			nat_ip_str(o->internal.addr, a), o->internal.len,
			nat_ip_str(n->internal.addr, b), n->internal.len);
		return -1;
	}
	if (n->n_nets && nets_differ(n, o)) {
		snprintf(errbuf, errlen,
			 "internal networks changed (internal_network or "
			 "networks): that needs a restart; the running config "
			 "stays");
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
		snprintf(
			errbuf, errlen,
			"limits changed (max_flows %u -> %u, "
			"max_flows_per_host %u -> %u): they size the flow "
			"table, that needs a restart; the running config stays",
			o->limits.max_flows, n->limits.max_flows,
			o->limits.max_flows_per_host,
			n->limits.max_flows_per_host);
		return -1;
	}
	if (n->limits.max_frag_datagrams != o->limits.max_frag_datagrams ||
	    n->limits.max_frag_held != o->limits.max_frag_held ||
	    n->limits.max_frag_bytes != o->limits.max_frag_bytes ||
	    n->timeouts.fragment != o->timeouts.fragment) {
		snprintf(errbuf, errlen,
			 "fragment limits changed (max_frag_datagrams %u -> "
			 "%u, max_frag_held %u -> %u, max_frag_bytes %u -> "
			 "%u, timeouts.fragment %u -> %u): they size the "
			 "fragment table, that needs a restart; the running "
			 "config stays",
			 o->limits.max_frag_datagrams,
			 n->limits.max_frag_datagrams, o->limits.max_frag_held,
			 n->limits.max_frag_held, o->limits.max_frag_bytes,
			 n->limits.max_frag_bytes, o->timeouts.fragment,
			 n->timeouts.fragment);
		return -1;
	}
	if (n->n_forwards > NAT_FORWARDS_MAX) {
		snprintf(errbuf, errlen, "too many forwards");
		return -1;
	}
	/* New snat addresses need room among the external addresses. */
	uint32_t addrs[NAT_ADDR_MAX];
	unsigned na = nat_eng_config_addrs(n, addrs), extra = 0;
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
			    (g->proto == f->proto &&
			     g->ext_port == f->ext_port &&
			     g->ext_ip == f->ext_ip)) {
				snprintf(errbuf, errlen,
					 "%s:%u: forward \"%s\" %s/%u clashes "
					 "with forward \"%s\" %s/%u (%s); "
					 "remove one; the running config stays",
					 n->path, f->line, f->name,
					 nat_proto_name(f->proto), f->ext_port,
					 g->name, nat_proto_name(g->proto),
					 g->ext_port,
					 nat_eng_fwd_origin(g, where,
							    sizeof(where)));
				return -1;
			}
		}
		bool had = false;
		for (size_t i = 0; i < o->n_forwards; i++)
			had |= e->fwd_state[i] != FWD_FREE &&
			       o->forwards[i].proto == f->proto &&
			       o->forwards[i].ext_ip == f->ext_ip &&
			       o->forwards[i].ext_port == f->ext_port;
		uint32_t oip;
		uint16_t oport;
		if (!had && nat_eng_port_held_by_mapping(e, f->proto, f->ext_ip,
							 f->ext_port, &oip,
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
		chg_add(c, "filtering %s -> %s",
			nat_filtering_name(o->filtering),
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
#define TO(k)                               \
	if (n->timeouts.k != o->timeouts.k) \
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
				sizeof(*r) -
					offsetof(struct nat_rule_cfg, action) -
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
	unsigned na = nat_eng_config_addrs(n, addrs);
	for (unsigned i = 0; i < na; i++)
		if (ext_addr_idx(e, addrs[i]) < 0)
			(void)nat_eng_add_addr(e, addrs[i], NULL, errbuf,
					       errlen);
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
		nat_eng_fwd_withdraw(e, i, false);
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
		if (nat_eng_fwd_insert(e, &nf, errbuf, errlen) == 0)
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
