/* Configuration loading: YAML text -> struct nat_config, validated.
 *
 * libyaml's document API builds the node tree; this file walks it with a
 * fixed schema (every mapping level has its own key table), so the walk
 * depth is bounded by the schema and never by the input, even with
 * self-referencing aliases. Every error names the node that caused it:
 * "FILE:LINE:COLUMN: field: what is wrong" (1-based line and column; the
 * column counts characters, as libyaml does). The first error stops the
 * load. docs/config.md is the user-facing description of the schema. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config_yaml.h"
#include "config_observe.h"

/* ---------------------------------------------------------------- rules */

static const char *const action_names[] = { "nat",	 "bypass",
					    "drop",	 "snat",
					    "masquerade", "redirect" };
/* What a redirect does with the source (`then`). */
static const char *const then_names[] = { "nat", "bypass", "masquerade" };
static const enum nat_action then_values[] = { NAT_ACT_NAT, NAT_ACT_BYPASS,
					       NAT_ACT_MASQUERADE };
static const char *const rule_proto_names[] = { "any", "tcp", "udp", "icmp" };
static const uint8_t rule_proto_values[] = { 0, 6, 17, 1 };
static const char *const fwd_proto_names[] = { "tcp", "udp" };
static const uint8_t fwd_proto_values[] = { 6, 17 };
static const char *const filtering_names[] = { "address_and_port_dependent",
					       "address_dependent",
					       "endpoint_independent" };
static const char *const policy_names[] = { "drop", "pass", "translate" };
static const char *const format_names[] = { "text", "json" };
static const char *const fastpath_names[] = { "auto", "on", "off" };

enum {
	R_NAME,
	R_DESCRIPTION,
	R_ACTION,
	R_PROTOCOL,
	R_SOURCE,
	R_DESTINATION,
	R_PORTS,
	R_TO_ADDRESS,
	R_IN_INTERFACE,
	R_OUT_INTERFACE,
	R_TO_PORT,
	R_THEN,
	R_NKEYS
};
static const char *const rule_keys[R_NKEYS] = {
	"name",		"description",	 "action",  "protocol",
	"source",	"destination",	 "ports",   "to_address",
	"in_interface", "out_interface", "to_port", "then",
};

static int read_rule_ports(struct loader *l, const yaml_node_t *n,
			   const char *field, struct nat_rule_cfg *r)
{
	char f[CFG_FIELD_MAX];
	size_t i = 0;

	if (n->type == YAML_SCALAR_NODE) {
		r->n_ports = 1;
		return cfg_get_port_range(l, n, field, &r->ports[0]);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(
			l, n, field,
			"expected a port, a range or a list of them, got %s",
			cfg_kind_name(n));
	if (n->data.sequence.items.top == n->data.sequence.items.start)
		return fail(l, n, field,
			    "empty list (leave ports out to match any port)");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(l->doc, *it);

		cfg_field_index(f, field, i);
		if (i >= NAT_RULE_PORTS_MAX)
			return fail(l, e, f,
				    "too many port entries (at most %d; use "
				    "ranges)",
				    NAT_RULE_PORTS_MAX);
		if (cfg_get_port_range(l, e, f, &r->ports[i]) < 0)
			return -1;
	}
	r->n_ports = (unsigned)i;
	return 0;
}

/* A redirect's to_address / to_port (at least one) and then. */
static int read_redirect(struct loader *l, const yaml_node_t *map,
			 const char *where, yaml_node_t *v[],
			 struct nat_rule_cfg *r)
{
	char f[CFG_FIELD_MAX], ip[16];
	size_t e;

#define F(k) (cfg_field_name(f, where, rule_keys[k]), f)
	if (!v[R_TO_ADDRESS] && !v[R_TO_PORT])
		return cfg_missing(l, map, where, "to_address",
				   " (action redirect needs to_address, "
				   "to_port or both)");
	if (v[R_TO_ADDRESS]) {
		if (cfg_get_unicast(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
				    &r->to_address) < 0)
			return -1;
		if (r->to_address == l->cfg->nat_ip) {
			cfg_fmt_ip(r->to_address, ip);
			return fail(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
				    "%s is nat_ip: a redirect sends traffic on "
				    "to another host (use a port_forward for "
				    "the NAT address)",
				    ip);
		}
	}
	if (v[R_TO_PORT]) {
		if (r->proto != 6 && r->proto != 17)
			return fail(l, v[R_TO_PORT], F(R_TO_PORT),
				    "to_port needs protocol tcp or udp "
				    "(protocol is %s)",
				    nat_proto_name(r->proto));
		if (cfg_get_port(l, v[R_TO_PORT], F(R_TO_PORT), &r->to_port) <
		    0)
			return -1;
	}
	r->then = NAT_ACT_NAT;
	if (v[R_THEN]) {
		if (cfg_get_enum(l, v[R_THEN], F(R_THEN), "then", then_names, 3,
				 &e) < 0)
			return -1;
		r->then = then_values[e];
	}
#undef F
	return 0;
}

static int read_rule(struct loader *l, const yaml_node_t *map, size_t idx,
		     struct nat_rule_cfg *r)
{
	yaml_node_t *v[R_NKEYS];
	char where[CFG_FIELD_MAX], f[CFG_FIELD_MAX];
	size_t e;

	cfg_field_index(where, "rules", idx);
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, where,
			    "expected a mapping (name, destination, "
			    "action...), got %s",
			    cfg_kind_name(map));
	r->line = (unsigned)map->start_mark.line + 1;
	r->dst.addr = r->src.addr = 0;
	r->dst.len = r->src.len = 0;
	if (cfg_read_keys(l, map, where, rule_keys, R_NKEYS, v) < 0)
		return -1;

#define F(k) (cfg_field_name(f, where, rule_keys[k]), f)
	if (!v[R_NAME])
		return cfg_missing(l, map, where, "name",
			       " (every rule needs a unique name)");
	if (cfg_get_str(l, v[R_NAME], F(R_NAME), r->name, sizeof r->name,
		    STR_NO_CTRL) < 0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(l->cfg->rules[j].name, r->name) == 0)
			return fail(l, v[R_NAME], F(R_NAME),
				    "duplicate rule name \"%s\" (first used by "
				    "rules[%zu] at line %u)",
				    r->name, j + 1, l->cfg->rules[j].line);
	if (v[R_DESCRIPTION] &&
	    cfg_get_str(l, v[R_DESCRIPTION], F(R_DESCRIPTION), r->description,
		    sizeof r->description, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (!v[R_ACTION])
		return cfg_missing(l, map, where, "action",
			       " (nat, bypass, drop, snat, masquerade or "
			       "redirect)");
	if (cfg_get_enum(l, v[R_ACTION], F(R_ACTION), "action", action_names, 6,
		     &e) < 0)
		return -1;
	r->action = (enum nat_action)e;
	if (v[R_PROTOCOL]) {
		if (cfg_get_enum(l, v[R_PROTOCOL], F(R_PROTOCOL), "protocol",
			     rule_proto_names, 4, &e) < 0)
			return -1;
		r->proto = rule_proto_values[e];
	}
	if (v[R_SOURCE] && cfg_get_cidr(l, v[R_SOURCE], F(R_SOURCE),
				    CIDR_BARE_OK | CIDR_ANY_OK, &r->src) < 0)
		return -1;
	if (v[R_DESTINATION] &&
	    cfg_get_cidr(l, v[R_DESTINATION], F(R_DESTINATION),
		     CIDR_BARE_OK | CIDR_ANY_OK, &r->dst) < 0)
		return -1;
	if (v[R_PORTS]) {
		if (read_rule_ports(l, v[R_PORTS], F(R_PORTS), r) < 0)
			return -1;
		if (r->proto != 6 && r->proto != 17)
			return fail(l, v[R_PORTS], F(R_PORTS),
				    "ports need protocol tcp or udp (protocol "
				    "is %s)",
				    nat_proto_name(r->proto));
	}
	if (r->action == NAT_ACT_SNAT) {
		if (!v[R_TO_ADDRESS])
			return cfg_missing(l, map, where, "to_address",
				       " (action snat needs it)");
		if (cfg_get_unicast(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
				&r->to_address) < 0)
			return -1;
	} else if (r->action == NAT_ACT_REDIRECT) {
		if (read_redirect(l, map, where, v, r) < 0)
			return -1;
	} else if (v[R_TO_ADDRESS]) {
		return fail(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
			    "only valid with action snat or redirect (action "
			    "is %s)",
			    nat_action_name(r->action));
	}
	if (r->action != NAT_ACT_REDIRECT && v[R_TO_PORT])
		return fail(l, v[R_TO_PORT], F(R_TO_PORT),
			    "only valid with action redirect (action is %s)",
			    nat_action_name(r->action));
	if (r->action != NAT_ACT_REDIRECT && v[R_THEN])
		return fail(l, v[R_THEN], F(R_THEN),
			    "only valid with action redirect (action is %s)",
			    nat_action_name(r->action));
	if (v[R_IN_INTERFACE] &&
	    cfg_get_str(l, v[R_IN_INTERFACE], F(R_IN_INTERFACE), r->in_if,
		    sizeof r->in_if, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (v[R_OUT_INTERFACE] &&
	    cfg_get_str(l, v[R_OUT_INTERFACE], F(R_OUT_INTERFACE), r->out_if,
		    sizeof r->out_if, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
#undef F
	return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top -
			n->data.sequence.items.start);
}

/* Up to max distinct external addresses of cfg into out; returns how
 * many there are (max + 1 when there are more). */
static unsigned ext_addrs(const struct nat_config *cfg, uint32_t *seen,
			  unsigned max)
{
	unsigned n = 0;
	size_t total = 1 + cfg->n_rules + cfg->n_forwards;

	for (size_t i = 0; i < total; i++) {
		uint32_t a;
		if (i == 0) {
			a = cfg->nat_ip;
		} else if (i <= cfg->n_rules) {
			const struct nat_rule_cfg *r = &cfg->rules[i - 1];
			if (r->action != NAT_ACT_SNAT)
				continue;
			a = r->to_address;
		} else {
			a = cfg->forwards[i - 1 - cfg->n_rules].ext_ip;
			if (!a)
				continue;
		}
		bool dup = false;
		for (unsigned j = 0; j < n && !dup; j++)
			dup = seen[j] == a;
		if (dup)
			continue;
		if (n == max)
			return n + 1;
		seen[n++] = a;
	}
	return n;
}

unsigned nat_config_ext_addrs(const struct nat_config *cfg,
			      uint32_t out[NAT_EXT_ADDR_MAX])
{
	unsigned n = ext_addrs(cfg, out, NAT_EXT_ADDR_MAX);
	return n > NAT_EXT_ADDR_MAX ? NAT_EXT_ADDR_MAX : n;
}

/* External addresses the engine reserves port pools for. */
static unsigned count_ext_addrs(const struct nat_config *cfg)
{
	uint32_t seen[NAT_EXT_ADDR_MAX];
	return ext_addrs(cfg, seen, NAT_EXT_ADDR_MAX);
}

static int read_rules(struct loader *l, const yaml_node_t *n)
{
	struct nat_config *cfg = l->cfg;
	size_t count;
	int r = cfg_want_sequence(l, n, "rules");

	if (r <= 0)
		return r;
	count = seq_len(n);
	if (count == 0)
		return 0;
	if (count > NAT_RULES_MAX) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[NAT_RULES_MAX]);
		return fail(l, e, "rules", "too many rules (at most %d)",
			    NAT_RULES_MAX);
	}
	cfg->rules = calloc(count, sizeof *cfg->rules);
	if (!cfg->rules)
		return fail(l, n, "rules", "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[i]);
		cfg->n_rules = i + 1;
		if (read_rule(l, e, i, &cfg->rules[i]) < 0)
			return -1;
		if (cfg->rules[i].action == NAT_ACT_SNAT &&
		    count_ext_addrs(cfg) > NAT_EXT_ADDR_MAX) {
			char field[64];
			snprintf(field, sizeof field, "rules[%zu].to_address",
				 i + 1);
			return fail(l, e, field,
				    "too many distinct snat addresses (at most "
				    "%d with nat_ip)",
				    NAT_EXT_ADDR_MAX);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- forwards */

enum {
	P_NAME,
	P_PROTOCOL,
	P_EXTERNAL_PORT,
	P_INTERNAL_IP,
	P_INTERNAL_PORT,
	P_SOURCE,
	P_IN_INTERFACE,
	P_EXTERNAL_IP,
	P_NKEYS
};
static const char *const fwd_keys[P_NKEYS] = {
	"name",		 "protocol", "external_port", "internal_ip",
	"internal_port", "source",   "in_interface",  "external_ip"
};

/* A forward's `source`: one CIDR (a bare address is a /32, "any" all) or
 * a list of them. */
static int read_fwd_source(struct loader *l, const yaml_node_t *n,
			   const char *field, struct nat_forward_cfg *fw)
{
	char f[CFG_FIELD_MAX];
	size_t i = 0;

	if (n->type == YAML_SCALAR_NODE) {
		fw->n_src = 1;
		if (cfg_get_cidr(l, n, field, CIDR_BARE_OK | CIDR_ANY_OK,
				 &fw->src[0]) < 0)
			return -1;
		if (fw->src[0].len == 0)
			fw->n_src = 0; /* any */
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, field,
			    "expected a network (a.b.c.d/len) or a list of "
			    "them, got %s",
			    cfg_kind_name(n));
	if (n->data.sequence.items.top == n->data.sequence.items.start)
		return fail(l, n, field,
			    "empty list (leave source out to accept every "
			    "source)");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(l->doc, *it);

		cfg_field_index(f, field, i);
		if (i >= NAT_FWD_SRC_MAX)
			return fail(l, e, f,
				    "too many source networks (at most %d)",
				    NAT_FWD_SRC_MAX);
		if (cfg_get_cidr(l, e, f, CIDR_BARE_OK, &fw->src[i]) < 0)
			return -1;
	}
	fw->n_src = (uint8_t)i;
	return 0;
}

/* The address a forward listens on. */
static uint32_t fwd_addr(const struct nat_config *cfg,
			 const struct nat_forward_cfg *f)
{
	return f->ext_ip ? f->ext_ip : cfg->nat_ip;
}

static int read_forward(struct loader *l, const yaml_node_t *map, size_t idx,
			struct nat_forward_cfg *fw)
{
	const struct nat_config *cfg = l->cfg;
	yaml_node_t *v[P_NKEYS];
	char where[CFG_FIELD_MAX], f[CFG_FIELD_MAX], ip[16], net[20];
	size_t e;

	cfg_field_index(where, "port_forward", idx);
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, where,
			    "expected a mapping (name, protocol, "
			    "external_port, internal_ip...), got %s",
			    cfg_kind_name(map));
	fw->line = (unsigned)map->start_mark.line + 1;
	if (cfg_read_keys(l, map, where, fwd_keys, P_NKEYS, v) < 0)
		return -1;

#define F(k) (cfg_field_name(f, where, fwd_keys[k]), f)
	if (!v[P_NAME])
		return cfg_missing(l, map, where, "name",
			       " (every forward needs a unique name)");
	if (cfg_get_str(l, v[P_NAME], F(P_NAME), fw->name, sizeof fw->name,
		    STR_NO_CTRL) < 0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(cfg->forwards[j].name, fw->name) == 0)
			return fail(l, v[P_NAME], F(P_NAME),
				    "duplicate forward name \"%s\" (first used "
				    "by port_forward[%zu] at line %u)",
				    fw->name, j + 1, cfg->forwards[j].line);
	if (!v[P_PROTOCOL])
		return cfg_missing(l, map, where, "protocol", " (tcp or udp)");
	if (cfg_get_enum(l, v[P_PROTOCOL], F(P_PROTOCOL), "protocol",
		     fwd_proto_names, 2, &e) < 0)
		return -1;
	fw->proto = fwd_proto_values[e];
	if (!v[P_EXTERNAL_PORT])
		return cfg_missing(l, map, where, "external_port", "");
	if (cfg_get_port(l, v[P_EXTERNAL_PORT], F(P_EXTERNAL_PORT), &fw->ext_port) <
	    0)
		return -1;
	if (v[P_EXTERNAL_IP]) {
		if (cfg_get_unicast(l, v[P_EXTERNAL_IP], F(P_EXTERNAL_IP),
				    &fw->ext_ip) < 0)
			return -1;
		if (nat_config_net_of(cfg, fw->ext_ip) >= 0) {
			cfg_fmt_ip(fw->ext_ip, ip);
			return fail(l, v[P_EXTERNAL_IP], F(P_EXTERNAL_IP),
				    "%s is inside an internal network (a "
				    "forward listens on an outside address)",
				    ip);
		}
		if (fw->ext_ip == cfg->nat_ip)
			fw->ext_ip = 0;
	}
	if (v[P_SOURCE] &&
	    read_fwd_source(l, v[P_SOURCE], F(P_SOURCE), fw) < 0)
		return -1;
	if (v[P_IN_INTERFACE] &&
	    cfg_get_str(l, v[P_IN_INTERFACE], F(P_IN_INTERFACE), fw->in_if,
			sizeof fw->in_if, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	/* First match wins: an earlier forward on the same address, protocol
	 * and port that accepts every source and interface hides this one. */
	for (size_t j = 0; j < idx; j++) {
		const struct nat_forward_cfg *g = &cfg->forwards[j];
		if (g->proto != fw->proto || g->ext_port != fw->ext_port ||
		    fwd_addr(cfg, g) != fwd_addr(cfg, fw) ||
		    g->n_src != 0 || g->in_if[0] != '\0')
			continue;
		cfg_fmt_ip(fwd_addr(cfg, fw), ip);
		return fail(l, v[P_EXTERNAL_PORT], F(P_EXTERNAL_PORT),
			    "%s %s:%u is already forwarded by \"%s\" "
			    "(port_forward[%zu] at line %u) for every "
			    "source: this forward would never match",
			    nat_proto_name(fw->proto), ip, fw->ext_port,
			    g->name, j + 1, g->line);
	}
	if (!v[P_INTERNAL_IP])
		return cfg_missing(l, map, where, "internal_ip", "");
	if (cfg_get_unicast(l, v[P_INTERNAL_IP], F(P_INTERNAL_IP), &fw->int_ip) < 0)
		return -1;
	int in_net = nat_config_net_of(cfg, fw->int_ip);
	if (in_net < 0) {
		cfg_fmt_ip(fw->int_ip, ip);
		cfg_fmt_cidr(&cfg->internal, net);
		return fail(l, v[P_INTERNAL_IP], F(P_INTERNAL_IP),
			    "%s is outside internal_network %s%s", ip, net,
			    cfg->n_nets > 1 ? " and the other inside networks"
					    : "");
	}
	if (!nat_cidr_is_host(&cfg->nets[in_net].cidr, fw->int_ip)) {
		cfg_fmt_ip(fw->int_ip, ip);
		cfg_fmt_cidr(&cfg->nets[in_net].cidr, net);
		return fail(l, v[P_INTERNAL_IP], F(P_INTERNAL_IP),
			    "%s is the network or broadcast address of "
			    "internal_network %s, not a host",
			    ip, net);
	}
	fw->int_port = fw->ext_port;
	if (v[P_INTERNAL_PORT] &&
	    cfg_get_port(l, v[P_INTERNAL_PORT], F(P_INTERNAL_PORT), &fw->int_port) <
		    0)
		return -1;
#undef F
	return 0;
}

static int read_forwards(struct loader *l, const yaml_node_t *n)
{
	struct nat_config *cfg = l->cfg;
	size_t count;
	int r = cfg_want_sequence(l, n, "port_forward");

	if (r <= 0)
		return r;
	count = seq_len(n);
	if (count == 0)
		return 0;
	if (count > NAT_FORWARDS_MAX) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[NAT_FORWARDS_MAX]);
		return fail(l, e, "port_forward",
			    "too many forwards (at most %d)", NAT_FORWARDS_MAX);
	}
	cfg->forwards = calloc(count, sizeof *cfg->forwards);
	if (!cfg->forwards)
		return fail(l, n, "port_forward", "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[i]);
		cfg->n_forwards = i + 1;
		if (read_forward(l, e, i, &cfg->forwards[i]) < 0)
			return -1;
		if (cfg->forwards[i].ext_ip &&
		    count_ext_addrs(cfg) > NAT_EXT_ADDR_MAX) {
			char field[64];
			snprintf(field, sizeof field,
				 "port_forward[%zu].external_ip", i + 1);
			return fail(l, e, field,
				    "too many distinct external addresses (at "
				    "most %d with nat_ip and snat addresses)",
				    NAT_EXT_ADDR_MAX);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- networks */

/* Adds inside network c (from node n, for messages); refuses overlaps. */
static int add_net(struct loader *l, const yaml_node_t *n, const char *field,
		   const struct nat_cidr *c)
{
	struct nat_config *cfg = l->cfg;
	char a[20], b[20];

	for (unsigned i = 0; i < cfg->n_nets; i++) {
		const struct nat_cidr *o = &cfg->nets[i].cidr;
		uint8_t len = o->len < c->len ? o->len : c->len;
		uint32_t mask = len ? ~0u << (32 - len) : 0;
		if ((o->addr & mask) != (c->addr & mask))
			continue;
		cfg_fmt_cidr(c, a);
		cfg_fmt_cidr(o, b);
		return fail(l, n, field,
			    "%s overlaps inside network %s (line %u): each "
			    "inside address belongs to one network",
			    a, b, cfg->nets[i].line);
	}
	if (cfg->n_nets == NAT_NETS_MAX)
		return fail(l, n, field, "too many inside networks (at most %d)",
			    NAT_NETS_MAX);
	struct nat_net_cfg *nt = &cfg->nets[cfg->n_nets++];
	memset(nt, 0, sizeof *nt);
	nt->cidr = *c;
	nt->line = (unsigned)n->start_mark.line + 1;
	cfg_fmt_cidr(c, nt->name);
	return 0;
}

/* internal_network: one CIDR or a list of them. */
static int read_internal(struct loader *l, const yaml_node_t *n)
{
	char f[CFG_FIELD_MAX];
	struct nat_cidr c;
	size_t i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		if (cfg_get_cidr(l, n, "internal_network", 0, &c) < 0)
			return -1;
		return add_net(l, n, "internal_network", &c);
	}
	if (n->data.sequence.items.top == n->data.sequence.items.start)
		return fail(l, n, "internal_network",
			    "empty list (name at least one inside network, "
			    "a.b.c.d/len)");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(l->doc, *it);
		cfg_field_index(f, "internal_network", i);
		if (cfg_get_cidr(l, e, f, 0, &c) < 0 || add_net(l, e, f, &c) < 0)
			return -1;
	}
	return 0;
}

/* networks: per inside network a name and its own limits. An entry's
 * network is one of internal_network's, or adds one. */
static int read_networks(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "name", "network", "max_flows",
					    "max_flows_per_host" };
	struct nat_config *cfg = l->cfg;
	char where[CFG_FIELD_MAX], f[CFG_FIELD_MAX], net[20];
	int r = cfg_want_sequence(l, n, "networks");
	bool described[NAT_NETS_MAX] = { false };
	size_t i = 0;

	if (r <= 0)
		return r;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *m = yaml_document_get_node(l->doc, *it);
		yaml_node_t *v[4];
		struct nat_cidr c;
		struct nat_net_cfg *nt = NULL;

		cfg_field_index(where, "networks", i);
		if (m->type != YAML_MAPPING_NODE)
			return fail(l, m, where,
				    "expected a mapping (name, network, "
				    "max_flows...), got %s",
				    cfg_kind_name(m));
		if (cfg_read_keys(l, m, where, keys, 4, v) < 0)
			return -1;
		if (!v[1])
			return cfg_missing(l, m, where, "network",
					   " (an inside network, a.b.c.d/len)");
		cfg_field_name(f, where, "network");
		if (cfg_get_cidr(l, v[1], f, 0, &c) < 0)
			return -1;
		for (unsigned j = 0; j < cfg->n_nets && !nt; j++)
			if (cfg->nets[j].cidr.addr == c.addr &&
			    cfg->nets[j].cidr.len == c.len)
				nt = &cfg->nets[j];
		if (nt && described[nt - cfg->nets]) {
			cfg_fmt_cidr(&c, net);
			return fail(l, v[1], f,
				    "%s is described twice in networks", net);
		}
		if (!nt) {
			if (add_net(l, v[1], f, &c) < 0)
				return -1;
			nt = &cfg->nets[cfg->n_nets - 1];
		}
		described[nt - cfg->nets] = true;
		if (v[0]) {
			cfg_field_name(f, where, "name");
			if (cfg_get_str(l, v[0], f, nt->name, sizeof nt->name,
					STR_NO_CTRL) < 0)
				return -1;
		}
		cfg_field_name(f, where, "max_flows");
		if (v[2] && cfg_get_u32(l, v[2], f, 1, CFG_FLOWS_MAX,
					&nt->max_flows) < 0)
			return -1;
		cfg_field_name(f, where, "max_flows_per_host");
		if (v[3] && cfg_get_u32(l, v[3], f, 1, CFG_FLOWS_MAX,
					&nt->max_flows_per_host) < 0)
			return -1;
		nt->line = (unsigned)m->start_mark.line + 1;
		for (unsigned j = 0; j < cfg->n_nets; j++) {
			if (&cfg->nets[j] == nt ||
			    strcmp(cfg->nets[j].name, nt->name) != 0)
				continue;
			cfg_fmt_cidr(&cfg->nets[j].cidr, net);
			cfg_field_name(f, where, "name");
			return fail(l, v[0] ? v[0] : m, f,
				    "duplicate network name \"%s\" (also the "
				    "name of %s)",
				    nt->name, net);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- sections */

static int read_port_range(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "start", "end" };
	yaml_node_t *v[2];
	struct nat_port_range *pr = &l->cfg->port_range;
	uint16_t lo, hi;

	if (n->type == YAML_SCALAR_NODE)
		return cfg_get_port_range(l, n, "port_range", pr);
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "port_range",
			    "expected \"START-END\" or a mapping {start, end}, "
			    "got %s",
			    cfg_kind_name(n));
	if (cfg_read_keys(l, n, "port_range", keys, 2, v) < 0)
		return -1;
	if (!v[0])
		return cfg_missing(l, n, "port_range", "start", "");
	if (!v[1])
		return cfg_missing(l, n, "port_range", "end", "");
	if (cfg_get_port(l, v[0], "port_range.start", &lo) < 0 ||
	    cfg_get_port(l, v[1], "port_range.end", &hi) < 0)
		return -1;
	if (lo > hi)
		return fail(l, n, "port_range",
			    "inverted range %u-%u (start must not exceed end)",
			    lo, hi);
	pr->lo = lo;
	pr->hi = hi;
	return 0;
}

static int read_timeouts(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "tcp_established",
					    "tcp_transitory",
					    "tcp_time_wait",
					    "tcp_closed",
					    "udp",
					    "icmp",
					    "fragment" };
	struct nat_timeouts *t = &l->cfg->timeouts;
	uint32_t *dst[] = { &t->tcp_established,
			    &t->tcp_transitory,
			    &t->tcp_time_wait,
			    &t->tcp_closed,
			    &t->udp,
			    &t->icmp,
			    &t->fragment };
	yaml_node_t *v[7];
	char f[CFG_FIELD_MAX];
	int r = cfg_want_mapping(l, n, "timeouts");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "timeouts", keys, 7, v) < 0)
		return -1;
	for (size_t i = 0; i < 7; i++) {
		cfg_field_name(f, "timeouts", keys[i]);
		if (v[i] && cfg_get_duration(l, v[i], f, dst[i]) < 0)
			return -1;
	}
	/* Held fragments wait this long for their first fragment: an hour is
	 * far past any reordering, and keeps the tracker's arithmetic in
	 * range. */
	if (v[6] && t->fragment > 3600)
		return fail(l, v[6], "timeouts.fragment",
			    "%" PRIu32 " s is too long (at most 3600 s; Linux "
			    "waits 30 s for a datagram's fragments)",
			    t->fragment);
	return 0;
}

static int read_limits(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "max_flows", "max_flows_per_host",
					    "max_frag_datagrams",
					    "max_frag_held", "max_frag_bytes" };
	struct nat_limits *lim = &l->cfg->limits;
	yaml_node_t *v[5];
	int r = cfg_want_mapping(l, n, "limits");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "limits", keys, 5, v) < 0)
		return -1;
	/* The fragment tracker's own bounds (frag.c). */
	if (v[2] && cfg_get_u32(l, v[2], "limits.max_frag_datagrams", 1,
				1u << 20, &lim->max_frag_datagrams) < 0)
		return -1;
	if (v[3] && cfg_get_u32(l, v[3], "limits.max_frag_held", 1, 1u << 20,
				&lim->max_frag_held) < 0)
		return -1;
	if (v[4] && cfg_get_u32(l, v[4], "limits.max_frag_bytes", 576,
				1u << 30, &lim->max_frag_bytes) < 0)
		return -1;
	if (v[0] && cfg_get_u32(l, v[0], "limits.max_flows", 1, CFG_FLOWS_MAX,
			    &lim->max_flows) < 0)
		return -1;
	if (v[1] && cfg_get_u32(l, v[1], "limits.max_flows_per_host", 0,
			    CFG_FLOWS_MAX, &lim->max_flows_per_host) < 0)
		return -1;
	return 0;
}

static int read_policies(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "fragments", "ipv6",
					    "other_protocols",
					    "unmatched_inbound" };
	struct nat_policies *p = &l->cfg->policies;
	enum nat_policy *dst[] = { &p->fragments, &p->ipv6, &p->other_protocols,
				   &p->unmatched_inbound };
	yaml_node_t *v[4];
	char f[CFG_FIELD_MAX];
	size_t e;
	int r = cfg_want_mapping(l, n, "policies");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "policies", keys, 4, v) < 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (!v[i])
			continue;
		cfg_field_name(f, "policies", keys[i]);
		/* translate only for fragments (index 0); a fragment passed
		 * unchanged would carry the inside source address out, so
		 * `pass` there means translate as well. */
		if (cfg_get_enum(l, v[i], f, "policy", policy_names,
				 i == 0 ? 3 : 2, &e) < 0)
			return -1;
		*dst[i] = (enum nat_policy)e;
	}
	if (p->fragments == NAT_POLICY_PASS)
		p->fragments = NAT_POLICY_TRANSLATE;
	return 0;
}

static int read_trace(struct loader *l, const yaml_node_t *n)
{
	enum {
		T_ENABLED,
		T_DIR,
		T_FILTER,
		T_FILE_SIZE,
		T_FILES,
		T_MAX_PKTS,
		T_QUEUE,
		T_NKEYS
	};
	static const char *const keys[T_NKEYS] = {
		"enabled",   "dir",   "filter",
		"file_size", "files", "max_packets_per_flow",
		"queue"
	};
	struct nat_trace_cfg *t = &l->cfg->trace;
	yaml_node_t *v[T_NKEYS];
	int r = cfg_want_mapping(l, n, "trace");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "trace", keys, T_NKEYS, v) < 0)
		return -1;
	if (v[T_ENABLED] &&
	    cfg_get_bool(l, v[T_ENABLED], "trace.enabled", &t->enabled) < 0)
		return -1;
	if (v[T_DIR] && cfg_get_str(l, v[T_DIR], "trace.dir", t->dir, sizeof t->dir,
				STR_EMPTY_OK) < 0)
		return -1;
	if (v[T_FILTER] &&
	    cfg_get_str(l, v[T_FILTER], "trace.filter", t->filter, sizeof t->filter,
		    STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (v[T_FILE_SIZE] && cfg_get_size(l, v[T_FILE_SIZE], "trace.file_size",
				       CFG_TRACE_FILE_MIN, &t->file_size) < 0)
		return -1;
	if (v[T_FILES] &&
	    cfg_get_u32(l, v[T_FILES], "trace.files", 1, 100000, &t->files) < 0)
		return -1;
	if (v[T_MAX_PKTS] &&
	    cfg_get_u32(l, v[T_MAX_PKTS], "trace.max_packets_per_flow", 0,
		    UINT32_MAX, &t->max_packets_per_flow) < 0)
		return -1;
	if (v[T_QUEUE] && cfg_get_u32(l, v[T_QUEUE], "trace.queue", 1,
				  CFG_QUEUE_MAX, &t->queue) < 0)
		return -1;
	return 0;
}

static int read_logging(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "events", "format", "verbose",
					    "queue" };
	struct nat_logging_cfg *g = &l->cfg->logging;
	yaml_node_t *v[4];
	size_t e;
	int r = cfg_want_mapping(l, n, "logging");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "logging", keys, 4, v) < 0)
		return -1;
	if (v[0] && cfg_get_str(l, v[0], "logging.events", g->events,
			    sizeof g->events, STR_EMPTY_OK) < 0)
		return -1;
	if (v[1]) {
		if (cfg_get_enum(l, v[1], "logging.format", "format", format_names,
			     2, &e) < 0)
			return -1;
		g->format = (enum nat_log_format)e;
	}
	if (v[2] && cfg_get_bool(l, v[2], "logging.verbose", &g->verbose) < 0)
		return -1;
	if (v[3] &&
	    cfg_get_u32(l, v[3], "logging.queue", 1, CFG_QUEUE_MAX, &g->queue) < 0)
		return -1;
	return 0;
}

enum {
	K_NAT_IP,
	K_INTERNAL_NETWORK,
	K_HOST_INTERNAL_IP,
	K_RULES,
	K_PORT_FORWARD,
	K_FILTERING,
	K_PORT_PRESERVATION,
	K_PORT_RANGE,
	K_TIMEOUTS,
	K_LIMITS,
	K_POLICIES,
	K_TRACE,
	K_LOGGING,
	K_CONTROL_SOCKET,
	K_STATE_FILE,
	K_NETWORKS,
	K_METRICS,
	K_IPFIX,
	K_FASTPATH,
	K_NKEYS
};
static const char *const top_keys[K_NKEYS] = {
	"nat_ip",	"internal_network", "host_internal_ip",	 "rules",
	"port_forward", "filtering",	    "port_preservation", "port_range",
	"timeouts",	"limits",	    "policies",		 "trace",
	"logging",	"control_socket",   "state_file",	 "networks",
	"metrics",	"ipfix",	    "fastpath",
};

static int read_root(struct loader *l, const yaml_node_t *root)
{
	struct nat_config *cfg = l->cfg;
	yaml_node_t *v[K_NKEYS];
	char ip[16], net[20];
	size_t e;

	if (root->type != YAML_MAPPING_NODE)
		return fail(l, root, "config",
			    "expected a mapping of keys (nat_ip: ...), got %s",
			    cfg_kind_name(root));
	if (cfg_read_keys(l, root, "", top_keys, K_NKEYS, v) < 0)
		return -1;

	if (!v[K_NAT_IP])
		return cfg_missing(l, root, "", "nat_ip",
			       " (the outside address to translate to)");
	if (cfg_get_unicast(l, v[K_NAT_IP], "nat_ip", &cfg->nat_ip) < 0)
		return -1;
	if (!v[K_INTERNAL_NETWORK] && !v[K_NETWORKS])
		return cfg_missing(l, root, "", "internal_network",
			       " (the inside network, a.b.c.d/len)");
	if (v[K_INTERNAL_NETWORK] && read_internal(l, v[K_INTERNAL_NETWORK]) < 0)
		return -1;
	if (v[K_NETWORKS] && read_networks(l, v[K_NETWORKS]) < 0)
		return -1;
	if (cfg->n_nets == 0)
		return fail(l, v[K_NETWORKS], "networks",
			    "no inside network (name at least one, or set "
			    "internal_network)");
	cfg->internal = cfg->nets[0].cidr;
	int nat_net = nat_config_net_of(cfg, cfg->nat_ip);
	if (nat_net >= 0) {
		cfg_fmt_ip(cfg->nat_ip, ip);
		cfg_fmt_cidr(&cfg->nets[nat_net].cidr, net);
		return fail(l, v[K_NAT_IP], "nat_ip",
			    "%s is inside internal_network %s (the NAT address "
			    "must be outside)",
			    ip, net);
	}
	if (v[K_HOST_INTERNAL_IP] && !cfg_is_null(v[K_HOST_INTERNAL_IP])) {
		if (cfg_get_unicast(l, v[K_HOST_INTERNAL_IP], "host_internal_ip",
				&cfg->host_internal_ip) < 0)
			return -1;
		if (nat_config_net_of(cfg, cfg->host_internal_ip) < 0) {
			cfg_fmt_ip(cfg->host_internal_ip, ip);
			cfg_fmt_cidr(&cfg->internal, net);
			return fail(
				l, v[K_HOST_INTERNAL_IP], "host_internal_ip",
				"%s is outside internal_network %s", ip, net);
		}
		cfg->has_host_internal_ip = true;
	}
	if (v[K_RULES] && read_rules(l, v[K_RULES]) < 0)
		return -1;
	if (v[K_PORT_FORWARD] && read_forwards(l, v[K_PORT_FORWARD]) < 0)
		return -1;
	if (v[K_FILTERING]) {
		if (cfg_get_enum(l, v[K_FILTERING], "filtering", "filtering",
			     filtering_names, 3, &e) < 0)
			return -1;
		cfg->filtering = (enum nat_filtering)e;
	}
	if (v[K_PORT_PRESERVATION] &&
	    cfg_get_bool(l, v[K_PORT_PRESERVATION], "port_preservation",
		     &cfg->port_preservation) < 0)
		return -1;
	if (v[K_PORT_RANGE] && read_port_range(l, v[K_PORT_RANGE]) < 0)
		return -1;
	if (v[K_TIMEOUTS] && read_timeouts(l, v[K_TIMEOUTS]) < 0)
		return -1;
	if (v[K_LIMITS] && read_limits(l, v[K_LIMITS]) < 0)
		return -1;
	if (v[K_POLICIES] && read_policies(l, v[K_POLICIES]) < 0)
		return -1;
	if (v[K_TRACE] && read_trace(l, v[K_TRACE]) < 0)
		return -1;
	if (v[K_LOGGING] && read_logging(l, v[K_LOGGING]) < 0)
		return -1;
	if (v[K_CONTROL_SOCKET] &&
	    cfg_get_str(l, v[K_CONTROL_SOCKET], "control_socket",
		    cfg->control_socket, sizeof cfg->control_socket, 0) < 0)
		return -1;
	if (v[K_STATE_FILE] &&
	    cfg_get_str(l, v[K_STATE_FILE], "state_file", cfg->state_file,
		    sizeof cfg->state_file, STR_EMPTY_OK) < 0)
		return -1;
	if (v[K_METRICS] && cfg_read_metrics(l, v[K_METRICS]) < 0)
		return -1;
	if (v[K_IPFIX] && cfg_read_ipfix(l, v[K_IPFIX]) < 0)
		return -1;
	if (v[K_FASTPATH]) {
		if (cfg_get_enum(l, v[K_FASTPATH], "fastpath", "fastpath mode",
				 fastpath_names, 3, &e) < 0)
			return -1;
		cfg->fastpath = (enum nat_fastpath_mode)e;
	}
	return 0;
}

/* ---------------------------------------------------------------- loading */

/* libyaml's reader reports a byte offset, not a mark: turn it into one. */
static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t off)
{
	yaml_mark_t m = { 0, 0, 0 };

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	m.index = off;
	return m;
}

static int fail_yaml(struct loader *l, const yaml_parser_t *p, const char *text,
		     size_t len)
{
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return cfg_fail_at(l, m, "yaml", "out of memory");
	case YAML_READER_ERROR:
		m = mark_of_offset(text, len, p->problem_offset);
		if (p->problem_value != -1)
			return cfg_fail_at(l, m, "yaml", "%s (byte 0x%02X)",
				       problem, p->problem_value);
		return cfg_fail_at(l, m, "yaml", "%s", problem);
	default:
		if (p->context)
			return cfg_fail_at(
				l, m, "yaml", "%s (%s at line %zu, column %zu)",
				problem, p->context, p->context_mark.line + 1,
				p->context_mark.column + 1);
		return cfg_fail_at(l, m, "yaml", "%s", problem);
	}
}

static bool root_is_empty(yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	return !root || cfg_is_null(root);
}

int nat_config_load_mem(const char *name, const char *text, size_t len,
			struct nat_config *cfg, char *errbuf, size_t errlen)
{
	struct loader l = { name ? name : "<memory>", NULL, cfg, errbuf,
			    errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_mark_t start = { 0, 0, 0 };
	int rc = -1;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!text)
		len = 0;
	if (!text || len == 0)
		text = "";
	nat_config_defaults(cfg);
	if (strlen(l.file) >= sizeof cfg->path)
		return cfg_fail_at(&l, start, "config",
			       "file name too long (at most %zu bytes)",
			       sizeof cfg->path - 1);
	snprintf(cfg->path, sizeof cfg->path, "%s", l.file);
	if (!yaml_parser_initialize(&parser))
		return cfg_fail_at(&l, start, "yaml", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		fail_yaml(&l, &parser, text, len);
		yaml_parser_delete(&parser);
		return -1;
	}
	l.doc = &doc;
	if (root_is_empty(&doc)) {
		cfg_fail_at(&l, start, "config",
			"empty file (expected at least nat_ip and "
			"internal_network)");
		goto out;
	}
	/* A second document would be silently ignored by a reader that stops
	 * at the first; say so instead. Syntax errors there count too. */
	if (!yaml_parser_load(&parser, &extra)) {
		fail_yaml(&l, &parser, text, len);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		cfg_fail_at(&l, yaml_document_get_root_node(&extra)->start_mark,
			"config",
			"more than one YAML document (a config is one "
			"document)");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	rc = read_root(&l, yaml_document_get_root_node(&doc));
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc < 0)
		nat_config_free(cfg);
	return rc;
}

int nat_config_load(const char *path, struct nat_config *cfg, char *errbuf,
		    size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	nat_config_defaults(cfg);
	if (errbuf && errlen)
		errbuf[0] = '\0';
	f = fopen(path, "rb");
	if (!f) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: cannot open: %s", path,
				 strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;
			if (cap >= CFG_FILE_MAX) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: too large (at most %u "
						 "bytes)",
						 path, CFG_FILE_MAX);
				free(buf);
				fclose(f);
				return -1;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: out of memory", path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: cannot read: %s", path,
						 strerror(errno));
				free(buf);
				fclose(f);
				return -1;
			}
			break;
		}
	}
	fclose(f);
	rc = nat_config_load_mem(path, buf ? buf : "", len, cfg, errbuf,
				 errlen);
	free(buf);
	return rc;
}

void nat_config_defaults(struct nat_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->filtering = NAT_FILTER_ADDR_PORT;
	cfg->port_preservation = true;
	cfg->port_range.lo = 40000;
	cfg->port_range.hi = 60000;
	cfg->timeouts.tcp_established = 7440;
	cfg->timeouts.tcp_transitory = 240;
	cfg->timeouts.tcp_time_wait = 120;
	cfg->timeouts.tcp_closed = 10;
	cfg->timeouts.udp = 120;
	cfg->timeouts.icmp = 60;
	cfg->timeouts.fragment = 30;
	cfg->limits.max_flows = 65536;
	cfg->limits.max_flows_per_host = 0;
	cfg->limits.max_frag_datagrams = 1024;
	cfg->limits.max_frag_held = 1024;
	cfg->limits.max_frag_bytes = 1u << 20;
	cfg->policies.fragments = NAT_POLICY_TRANSLATE;
	cfg->policies.ipv6 = NAT_POLICY_PASS;
	cfg->policies.other_protocols = NAT_POLICY_DROP;
	cfg->policies.unmatched_inbound = NAT_POLICY_DROP;
	cfg->trace.file_size = 64ull << 20;
	cfg->trace.files = 8;
	cfg->trace.queue = 65536;
	cfg->logging.format = NAT_LOG_TEXT;
	cfg->logging.queue = 65536;
	snprintf(cfg->control_socket, sizeof cfg->control_socket, "%s",
		 NAT_CONTROL_SOCKET_DEFAULT);
	snprintf(cfg->state_file, sizeof cfg->state_file, "%s",
		 NAT_STATE_FILE_DEFAULT);
}

void nat_config_free(struct nat_config *cfg)
{
	free(cfg->rules);
	cfg->rules = NULL;
	cfg->n_rules = 0;
	free(cfg->forwards);
	cfg->forwards = NULL;
	cfg->n_forwards = 0;
}

/* ---------------------------------------------------------------- matching */

int nat_config_net_of(const struct nat_config *cfg, uint32_t ip)
{
	if (cfg->n_nets == 0)
		return cfg_cidr_contains(&cfg->internal, ip) ? 0 : -1;
	for (unsigned i = 0; i < cfg->n_nets; i++)
		if (cfg_cidr_contains(&cfg->nets[i].cidr, ip))
			return (int)i;
	return -1;
}

bool nat_forward_accepts(const struct nat_forward_cfg *f, uint32_t src,
			 const char *in_if)
{
	if (f->in_if[0] && (!in_if || strcmp(f->in_if, in_if) != 0))
		return false;
	if (f->n_src == 0)
		return true;
	for (unsigned i = 0; i < f->n_src; i++)
		if (cfg_cidr_contains(&f->src[i], src))
			return true;
	return false;
}

/* ---------------------------------------------------------------- names */

const char *nat_action_name(enum nat_action a)
{
	if ((unsigned)a < sizeof action_names / sizeof action_names[0])
		return action_names[a];
	return "?";
}

const char *nat_fastpath_mode_name(enum nat_fastpath_mode m)
{
	if ((unsigned)m < sizeof fastpath_names / sizeof fastpath_names[0])
		return fastpath_names[m];
	return "?";
}

const char *nat_filtering_name(enum nat_filtering f)
{
	if ((unsigned)f < sizeof filtering_names / sizeof filtering_names[0])
		return filtering_names[f];
	return "?";
}

const char *nat_proto_name(uint8_t proto)
{
	switch (proto) {
	case 0:
		return "any";
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		return "?";
	}
}
