/* Config lints: see lint.c. */
#ifndef GLASSNAT_LINT_H
#define GLASSNAT_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Rule a matches every packet rule b would (so b after a never
 * matches): protocol, interfaces, source, destination and ports. */
bool nat_rule_covers(const struct nat_rule_cfg *a,
		     const struct nat_rule_cfg *b);

/* The first packet of a flow with this tuple matches r (interfaces not
 * considered: the caller does not know them). */
bool nat_rule_matches_tuple(const struct nat_rule_cfg *r, uint8_t proto,
			    uint32_t src, uint32_t dst, uint16_t dport);

/* The rules that never match: rule[k] is shadowed by the earlier by[k]
 * (the first that covers it). Fills up to max; returns how many. */
size_t nat_config_shadowed(const struct nat_config *cfg, size_t *rule,
			   size_t *by, size_t max);

/* What the host says, for the host lints (unknown fields are skipped). */
struct nat_lint_host {
	bool internal_if_known; /* internal_on_if was read */
	bool internal_on_if;	/* an interface's network holds internal_network */
	bool ephemeral_known;
	uint16_t ephemeral_lo, ephemeral_hi; /* ip_local_port_range */
	/* Whether interface name has an IPv4 address: 1, 0 (none, or no
	 * such interface), -1 cannot tell; NULL: not asked. */
	int (*if_has_ipv4)(const char *name);
};

/* Emits one message per finding (shadowed rules, forwards outside
 * internal_network; with host, internal_network on no interface,
 * port_range overlapping the ephemeral ports and masquerade rules whose
 * out interface has no IPv4 address). Returns how many. */
size_t nat_config_lint(const struct nat_config *cfg,
		       const struct nat_lint_host *host,
		       void (*emit)(void *ctx, const char *msg), void *ctx);

#endif
