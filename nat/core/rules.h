/* First-match rules and port forwards, compiled from the config.
 *
 * Rules are consulted on the first packet of a flow only (the decision is
 * cached in the flow), so a linear first-match scan is the right cost.
 * Forwards are found in O(1) by (protocol, external port). */
#ifndef GLASSNAT_RULES_H
#define GLASSNAT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define NAT_FWD_NONE 0xffffu

struct nat_rules {
	const struct nat_rule_cfg *r; /* borrowed from the engine's config */
	uint16_t n;
	/* fwd_idx[0] tcp, [1] udp: forward index per external port, or
	 * NAT_FWD_NONE. */
	uint16_t *fwd_idx[2];
	const struct nat_forward_cfg *fwd;
	uint16_t n_fwd;
};

/* Compiles the config's rules and forwards (borrowed: cfg must outlive
 * rules). Returns -1 when memory is short. */
int nat_rules_init(struct nat_rules *rs, const struct nat_config *cfg)
	__attribute__((warn_unused_result));
void nat_rules_destroy(struct nat_rules *rs);

/* Index of the first rule matching the first packet of a flow, or
 * NAT_RULE_NONE. in_if/out_if may be NULL (unknown): a rule that names an
 * interface then does not match. */
uint16_t nat_rules_match(const struct nat_rules *rs, uint8_t proto,
			 uint32_t src, uint32_t dst, uint16_t dport,
			 const char *in_if, const char *out_if);

/* The forward for (proto, external port), or NAT_FWD_NONE. */
static inline uint16_t nat_rules_forward(const struct nat_rules *rs,
					 uint8_t proto, uint16_t port)
{
	if (proto == 6)
		return rs->fwd_idx[0][port];
	if (proto == 17)
		return rs->fwd_idx[1][port];
	return NAT_FWD_NONE;
}

static inline bool nat_cidr_contains(const struct nat_cidr *c, uint32_t a)
{
	uint32_t mask = c->len ? ~0u << (32 - c->len) : 0;
	return (a & mask) == c->addr;
}

#endif
