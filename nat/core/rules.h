/* First-match rules and port forwards, compiled from the config.
 *
 * Rules are consulted on the first packet of a flow only (the decision is
 * cached in the flow), so a linear first-match scan is the right cost.
 * Forwards are found by (protocol, external port) in O(1), then the
 * forwards sharing that port (other addresses, other sources) are tried in
 * order: the first that accepts the connection wins. */
#ifndef GLASSNAT_RULES_H
#define GLASSNAT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define NAT_FWD_NONE 0xffffu

struct nat_rules {
	const struct nat_rule_cfg *r; /* borrowed from the engine's config */
	uint16_t n;
	/* fwd_idx[0] tcp, [1] udp: the first forward slot on each external
	 * port, or NAT_FWD_NONE; fwd_next[slot] the next one on the same
	 * protocol and port, in slot order (config forwards in file order,
	 * then run-time ones). */
	uint16_t *fwd_idx[2];
	uint16_t *fwd_next; /* NAT_FORWARDS_MAX entries */
	const struct nat_forward_cfg *fwd;
	uint16_t n_fwd;
	uint32_t nat_ip; /* where forwards without external_ip listen */
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

/* The first forward slot on (proto, external port) on any address, or
 * NAT_FWD_NONE; walk on with rs->fwd_next. */
static inline uint16_t nat_rules_forward(const struct nat_rules *rs,
					 uint8_t proto, uint16_t port)
{
	if (proto == 6)
		return rs->fwd_idx[0][port];
	if (proto == 17)
		return rs->fwd_idx[1][port];
	return NAT_FWD_NONE;
}

/* Links / unlinks forward slot `slot` (rs->fwd[slot] filled) into its
 * port's list, kept in slot order. */
void nat_rules_fwd_link(struct nat_rules *rs, uint16_t slot);
void nat_rules_fwd_unlink(struct nat_rules *rs, uint16_t slot);

/* The address forward f listens on (external_ip, or nat_ip). */
static inline uint32_t nat_rules_fwd_addr(const struct nat_rules *rs,
					  const struct nat_forward_cfg *f)
{
	return f->ext_ip ? f->ext_ip : rs->nat_ip;
}

/* The first forward on (proto, dst:dport) that accepts a connection from
 * src arriving on in_if (NULL: unknown), or NAT_FWD_NONE. *refused is set
 * when forwards listen there but none accepts this source / interface. */
uint16_t nat_rules_forward_match(const struct nat_rules *rs, uint8_t proto,
				 uint32_t dst, uint16_t dport, uint32_t src,
				 const char *in_if, bool *refused);

static inline bool nat_cidr_contains(const struct nat_cidr *c, uint32_t a)
{
	uint32_t mask = c->len ? ~0u << (32 - c->len) : 0;
	return (a & mask) == c->addr;
}

#endif
