/* The config lints `glassnat check` prints and `natdump why` uses:
 * rules that can never match, forwards outside internal_network, and the
 * host-dependent ones (internal_network on no interface, port_range
 * overlapping the host's ephemeral ports), whose facts the caller
 * supplies, so the logic stays testable without a host. */
#include "config.h"
#include "lint.h"

#include <stdio.h>
#include <string.h>

static uint32_t cidr_mask(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

/* a contains every address of b. */
static bool cidr_covers(const struct nat_cidr *a, const struct nat_cidr *b)
{
	return a->len <= b->len && (b->addr & cidr_mask(a->len)) == a->addr;
}

static bool port_in(const struct nat_rule_cfg *r, uint16_t port)
{
	if (!r->n_ports)
		return true;
	for (unsigned i = 0; i < r->n_ports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

/* Every destination port of b is one of a's. */
static bool ports_cover(const struct nat_rule_cfg *a,
			const struct nat_rule_cfg *b)
{
	if (!a->n_ports)
		return true;
	if (!b->n_ports)
		return false;
	for (unsigned j = 0; j < b->n_ports; j++) {
		/* Each range of b inside one range of a (ranges of a are not
		 * merged: a conservative answer, never a false warning). */
		bool in = false;
		for (unsigned i = 0; i < a->n_ports && !in; i++)
			in = b->ports[j].lo >= a->ports[i].lo &&
			     b->ports[j].hi <= a->ports[i].hi;
		if (!in)
			return false;
	}
	return true;
}

bool nat_rule_covers(const struct nat_rule_cfg *a,
		     const struct nat_rule_cfg *b)
{
	if (a->proto && a->proto != b->proto)
		return false;
	if (a->in_if[0] && strcmp(a->in_if, b->in_if) != 0)
		return false;
	if (a->out_if[0] && strcmp(a->out_if, b->out_if) != 0)
		return false;
	/* Ports only mean something for TCP and UDP; a rule with ports
	 * and no protocol matches TCP/UDP only. */
	return cidr_covers(&a->src, &b->src) && cidr_covers(&a->dst, &b->dst) &&
	       ports_cover(a, b);
}

bool nat_rule_matches_tuple(const struct nat_rule_cfg *r, uint8_t proto,
			    uint32_t src, uint32_t dst, uint16_t dport)
{
	if (r->proto && r->proto != proto)
		return false;
	if ((src & cidr_mask(r->src.len)) != r->src.addr ||
	    (dst & cidr_mask(r->dst.len)) != r->dst.addr)
		return false;
	if (r->n_ports && proto != 6 && proto != 17)
		return false;
	return proto == 6 || proto == 17 ? port_in(r, dport) : true;
}

size_t nat_config_shadowed(const struct nat_config *cfg, size_t *rule,
			   size_t *by, size_t max)
{
	size_t n = 0;
	for (size_t j = 1; j < cfg->n_rules; j++) {
		for (size_t i = 0; i < j; i++) {
			if (!nat_rule_covers(&cfg->rules[i], &cfg->rules[j]))
				continue;
			if (n < max) {
				rule[n] = j;
				by[n] = i;
			}
			n++;
			break;
		}
	}
	return n;
}

static void fmt_ip(uint32_t a, char *b)
{
	snprintf(b, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

size_t nat_config_lint(const struct nat_config *cfg,
		       const struct nat_lint_host *host,
		       void (*emit)(void *ctx, const char *msg), void *ctx)
{
	char msg[512], a[16], b[16];
	size_t n = 0;

	for (size_t j = 1; j < cfg->n_rules; j++) {
		for (size_t i = 0; i < j; i++) {
			const struct nat_rule_cfg *ri = &cfg->rules[i],
						  *rj = &cfg->rules[j];
			if (!nat_rule_covers(ri, rj))
				continue;
			snprintf(msg, sizeof msg,
				 "rule '%s' (line %u) never matches: rule '%s' "
				 "(line %u) above it matches everything it "
				 "would; move '%s' above '%s' or narrow '%s'",
				 rj->name, rj->line, ri->name, ri->line,
				 rj->name, ri->name, ri->name);
			emit(ctx, msg);
			n++;
			break;
		}
	}
	fmt_ip(cfg->internal.addr, a);
	for (size_t i = 0; i < cfg->n_forwards; i++) {
		const struct nat_forward_cfg *f = &cfg->forwards[i];
		if (nat_cidr_is_host(&cfg->internal, f->int_ip))
			continue;
		fmt_ip(f->int_ip, b);
		snprintf(msg, sizeof msg,
			 "forward '%s' points at %s, outside internal_network "
			 "%s/%u: its replies would never be translated back",
			 f->name, b, a, cfg->internal.len);
		emit(ctx, msg);
		n++;
	}
	if (!host)
		return n;
	if (host->internal_if_known && !host->internal_on_if) {
		snprintf(msg, sizeof msg,
			 "internal_network %s/%u is on no interface of this "
			 "host: no inside host can reach glassnat through it; "
			 "set it to the inside interface's network (ip -4 addr)",
			 a, cfg->internal.len);
		emit(ctx, msg);
		n++;
	}
	for (size_t i = 0; host->if_has_ipv4 && i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];
		if (r->action != NAT_ACT_MASQUERADE || !r->out_if[0] ||
		    host->if_has_ipv4(r->out_if) != 0)
			continue;
		snprintf(msg, sizeof msg,
			 "masquerade rule '%s': out interface %s has no IPv4 "
			 "address (or does not exist): its flows are dropped "
			 "as no_address until it gets one",
			 r->name, r->out_if);
		emit(ctx, msg);
		n++;
	}
	if (host->ephemeral_known) {
		uint16_t lo = cfg->port_range.lo, hi = cfg->port_range.hi;
		if (lo <= host->ephemeral_hi && host->ephemeral_lo <= hi) {
			snprintf(msg, sizeof msg,
				 "port_range %u-%u overlaps the host's ephemeral "
				 "ports %u-%u (net.ipv4.ip_local_port_range): "
				 "`glassnat run` reserves port_range for its run; "
				 "a program binding a port in it explicitly "
				 "loses its replies (no_mapping)",
				 lo, hi, host->ephemeral_lo,
				 host->ephemeral_hi);
			emit(ctx, msg);
			n++;
		}
	}
	return n;
}
