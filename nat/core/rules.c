/* Rules and forwards: see rules.h. */
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#include "types.h"

int nat_rules_init(struct nat_rules *rs, const struct nat_config *cfg)
{
	memset(rs, 0, sizeof(*rs));
	rs->r = cfg->rules;
	rs->n = (uint16_t)cfg->n_rules;
	rs->fwd = cfg->forwards;
	rs->n_fwd = (uint16_t)cfg->n_forwards;
	rs->nat_ip = cfg->nat_ip;
	rs->fwd_next = malloc(NAT_FORWARDS_MAX * sizeof(uint16_t));
	if (!rs->fwd_next) {
		nat_rules_destroy(rs);
		return -1;
	}
	memset(rs->fwd_next, 0xff, NAT_FORWARDS_MAX * sizeof(uint16_t));
	for (int k = 0; k < 2; k++) {
		rs->fwd_idx[k] = malloc(65536 * sizeof(uint16_t));
		if (!rs->fwd_idx[k]) {
			nat_rules_destroy(rs);
			return -1;
		}
		memset(rs->fwd_idx[k], 0xff, 65536 * sizeof(uint16_t));
	}
	for (uint16_t i = 0; i < rs->n_fwd; i++)
		nat_rules_fwd_link(rs, i);
	return 0;
}

void nat_rules_destroy(struct nat_rules *rs)
{
	free(rs->fwd_idx[0]);
	free(rs->fwd_idx[1]);
	free(rs->fwd_next);
	memset(rs, 0, sizeof(*rs));
}

static bool port_match(const struct nat_rule_cfg *r, uint8_t proto,
		       uint16_t dport)
{
	if (r->n_ports == 0)
		return true;
	if (proto != 6 && proto != 17)
		return false;
	for (unsigned i = 0; i < r->n_ports; i++)
		if (dport >= r->ports[i].lo && dport <= r->ports[i].hi)
			return true;
	return false;
}

static bool if_match(const char *want, const char *have)
{
	if (want[0] == '\0')
		return true;
	return have && strcmp(want, have) == 0;
}

uint16_t nat_rules_match(const struct nat_rules *rs, uint8_t proto,
			 uint32_t src, uint32_t dst, uint16_t dport,
			 const char *in_if, const char *out_if)
{
	for (uint16_t i = 0; i < rs->n; i++) {
		const struct nat_rule_cfg *r = &rs->r[i];
		if (r->proto && r->proto != proto)
			continue;
		if (!nat_cidr_contains(&r->dst, dst) ||
		    !nat_cidr_contains(&r->src, src))
			continue;
		if (!port_match(r, proto, dport))
			continue;
		if (!if_match(r->in_if, in_if) || !if_match(r->out_if, out_if))
			continue;
		return i;
	}
	return NAT_RULE_NONE;
}

/* ---- forwards ---- */

static uint16_t *fwd_head(struct nat_rules *rs, const struct nat_forward_cfg *f)
{
	return &rs->fwd_idx[f->proto == 6 ? 0 : 1][f->ext_port];
}

void nat_rules_fwd_link(struct nat_rules *rs, uint16_t slot)
{
	uint16_t *pp = fwd_head(rs, &rs->fwd[slot]);
	while (*pp != NAT_FWD_NONE && *pp < slot)
		pp = &rs->fwd_next[*pp];
	rs->fwd_next[slot] = *pp;
	*pp = slot;
}

void nat_rules_fwd_unlink(struct nat_rules *rs, uint16_t slot)
{
	uint16_t *pp = fwd_head(rs, &rs->fwd[slot]);
	while (*pp != NAT_FWD_NONE && *pp != slot)
		pp = &rs->fwd_next[*pp];
	if (*pp == slot)
		*pp = rs->fwd_next[slot];
	rs->fwd_next[slot] = NAT_FWD_NONE;
}

uint16_t nat_rules_forward_match(const struct nat_rules *rs, uint8_t proto,
				 uint32_t dst, uint16_t dport, uint32_t src,
				 const char *in_if, bool *refused)
{
	*refused = false;
	for (uint16_t i = nat_rules_forward(rs, proto, dport); i != NAT_FWD_NONE;
	     i = rs->fwd_next[i]) {
		const struct nat_forward_cfg *f = &rs->fwd[i];
		if (nat_rules_fwd_addr(rs, f) != dst)
			continue;
		if (nat_forward_accepts(f, src, in_if))
			return i;
		*refused = true;
	}
	return NAT_FWD_NONE;
}
