/* Port forwards added and removed at run time (control requests), and
 * the forward slots reload shares. Engine thread, between packets; these
 * may scan the flow table. See engine.h. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "packet.h"

/* ---- port forwards at run time ---- */

/* The port pool of the address forward f listens on. */
static struct nat_port_pool *fwd_pool(struct nat_engine *e,
				      const struct nat_forward_cfg *f)
{
	int a = f->ext_ip ? ext_addr_idx(e, f->ext_ip) : 0;
	return &e->addr[a < 0 ? 0 : a].pool[pool_of(f->proto)];
}

static void emit_forward(struct nat_engine *e, enum nat_event_type type,
			 const struct nat_forward_cfg *f, uint32_t closed)
{
	struct nat_event ev;
	if (!nat_eng_ev_begin(e, &ev, type))
		return;
	ev.fwd = f;
	ev.n_closed = closed;
	ev.flow.proto = f->proto;
	nat_eng_emit(e, &ev);
}

/* "(config line 31)" or "(added at run time)". */
const char *nat_eng_fwd_origin(const struct nat_forward_cfg *f, char *buf,
			       size_t len)
{
	if (f->runtime)
		snprintf(buf, len, "added at run time");
	else
		snprintf(buf, len, "config line %u", f->line);
	return buf;
}

/* Flows using external port `port` of address ip (0: nat_ip) that are
 * not forward flows: a live mapping holds the port. */
bool nat_eng_port_held_by_mapping(const struct nat_engine *e, uint8_t proto,
				  uint32_t ip, uint16_t port,
				  uint32_t *owner_ip, uint16_t *owner_port)
{
	int a = ip ? ext_addr_idx(e, ip) : 0;
	if (a < 0)
		return false;
	const struct nat_port_pool *pool = &e->addr[a].pool[pool_of(proto)];
	uint64_t fwd_refs = 0;
	for (size_t i = 0; i < e->cfg.n_forwards; i++)
		if (e->fwd_state[i] != FWD_FREE &&
		    e->cfg.forwards[i].proto == proto &&
		    e->cfg.forwards[i].ext_ip == ip &&
		    e->cfg.forwards[i].ext_port == port)
			fwd_refs += e->fwd_flows[i];
	if (pool->e[port].refs <= fwd_refs)
		return false;
	return nat_ports_owner(pool, port, owner_ip, owner_port);
}

/* Checks a new forward: its fields, the active forwards (name and
 * proto/port must be unique) and the live mappings. */
static int fwd_check(const struct nat_engine *e,
		     const struct nat_forward_cfg *f, char *errbuf,
		     size_t errlen)
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
	int in_net = nat_config_net_of(&e->cfg, f->int_ip);
	if (in_net < 0 || !nat_cidr_is_host(&e->cfg.nets[in_net].cidr,
					    f->int_ip)) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": internal_ip %s is not a host of "
			 "internal_network %s/%u%s",
			 f->name, nat_ip_str(f->int_ip, ip),
			 nat_ip_str(e->cfg.internal.addr, net),
			 e->cfg.internal.len,
			 e->cfg.n_nets > 1 ? " or another inside network" : "");
		return -1;
	}
	if (f->ext_ip && ext_addr_idx(e, f->ext_ip) < 0) {
		snprintf(errbuf, errlen,
			 "forward \"%s\": external_ip %s is not an address "
			 "glassnat listens on (nat_ip, snat to_address or a "
			 "config forward's external_ip): add it in the config "
			 "and restart",
			 f->name, nat_ip_str(f->ext_ip, ip));
		return -1;
	}
	for (size_t i = 0; i < e->cfg.n_forwards; i++) {
		const struct nat_forward_cfg *g = &e->cfg.forwards[i];
		if (e->fwd_state[i] != FWD_ACTIVE)
			continue;
		/* Same name, or an earlier forward on the same address and
		 * port that admits everyone: this one would never match. */
		if (strcmp(g->name, f->name) == 0 ||
		    (g->proto == f->proto && g->ext_port == f->ext_port &&
		     g->ext_ip == f->ext_ip && g->n_src == 0 &&
		     g->in_if[0] == '\0')) {
			snprintf(errbuf, errlen,
				 "forward \"%s\" %s/%u clashes with forward "
				 "\"%s\" %s/%u (%s): %s",
				 f->name, nat_proto_name(f->proto), f->ext_port,
				 g->name, nat_proto_name(g->proto), g->ext_port,
				 nat_eng_fwd_origin(g, where, sizeof(where)),
				 strcmp(g->name, f->name) == 0
					 ? "same name"
					 : "same protocol, address and port, "
					   "for every source");
			return -1;
		}
	}
	uint32_t oip;
	uint16_t oport;
	if (nat_eng_port_held_by_mapping(e, f->proto, f->ext_ip, f->ext_port,
					 &oip, &oport)) {
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
int nat_eng_fwd_insert(struct nat_engine *e, const struct nat_forward_cfg *f,
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
	nat_rules_fwd_link(&e->rules, (uint16_t)slot);
	nat_ports_reserve(fwd_pool(e, f), f->ext_port);
	emit_forward(e, NAT_EV_FORWARD_ADD, f, 0);
	return 0;
}

/* Stops new connections to slot's forward; its flows stay (retired) or
 * are closed first (flush). */
uint32_t nat_eng_fwd_withdraw(struct nat_engine *e, size_t slot, bool flush)
{
	struct nat_forward_cfg f = e->cfg.forwards[slot];
	uint32_t closed = 0;
	if (flush) {
		for (uint32_t i = 0; i < e->ft.cap && e->fwd_flows[slot]; i++) {
			const struct nat_flow *fl = &e->ft.f[i];
			if (fl->id != 0 && fl->kind == NAT_FLOW_FORWARD &&
			    fl->rule == slot) {
				nat_eng_close_flow(e, i, NAT_CLOSE_FLUSHED);
				closed++;
			}
		}
	}
	nat_rules_fwd_unlink(&e->rules, (uint16_t)slot);
	nat_ports_unreserve(fwd_pool(e, &f), f.ext_port);
	emit_forward(e, NAT_EV_FORWARD_REMOVE, &f, closed);
	if (e->fwd_flows[slot] == 0) {
		e->fwd_state[slot] = FWD_FREE;
		memset(&e->cfg.forwards[slot], 0,
		       sizeof(e->cfg.forwards[slot]));
	} else {
		e->fwd_state[slot] = FWD_RETIRED;
	}
	return closed;
}

int nat_engine_forward_add(struct nat_engine *e,
			   const struct nat_forward_cfg *fin, char *errbuf,
			   size_t errlen)
{
	struct nat_forward_cfg f = *fin;
	if (f.ext_ip == e->cfg.nat_ip) /* nat_ip is the default, kept as 0 */
		f.ext_ip = 0;
	if (fwd_check(e, &f, errbuf, errlen) < 0)
		return -1;
	return nat_eng_fwd_insert(e, &f, errbuf, errlen);
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
	nat_eng_fwd_withdraw(e, found, true);
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
