/* What the host's network tables say, read for diagnosis: the neighbour
 * (ARP) state of the inside host a forward points at (did it ever answer
 * ARP?), and the interface networks and ephemeral ports the config lints
 * compare with. Read-only, on demand, never on the packet path of a
 * healthy flow (forward.unanswered events only). */
#ifndef GLASSNAT_NEIGH_H
#define GLASSNAT_NEIGH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lint.h"

/* Writes the kernel's neighbour state of IPv4 address ip (host order) into
 * out: "REACHABLE", "STALE", "DELAY", "PROBE", "INCOMPLETE", "FAILED",
 * "NOARP", "PERMANENT", "none" (no entry: the host never tried to reach
 * it), or "unknown" (the platform cannot tell, or the read failed).
 * Returns 0 when the table was read, -1 otherwise ("unknown"). */
int nat_neigh_state(uint32_t ip, char *out, size_t len);

/* The words of nat_neigh_state() for an NUD_* state bit set (Linux's
 * values; exported for tests). */
const char *nat_neigh_state_name(unsigned nud);

/* The host facts of the config lints for cfg: whether an interface has an
 * address in internal_network, net.ipv4.ip_local_port_range, and
 * if_has_ipv4. What cannot be read is left unknown. */
void nat_host_lint_facts(const struct nat_config *cfg,
			 struct nat_lint_host *h);

/* Whether interface name has an IPv4 address: 1, 0 (none, or no such
 * interface), -1 cannot tell (nat_lint_host.if_has_ipv4). */
int nat_host_if_has_ipv4(const char *name);

/* The interface with an IPv4 network holding addr: its name and network.
 * Returns 0, or -1 when none (or the platform cannot tell). */
int nat_host_net_of(uint32_t addr, char *ifname, size_t len,
		    struct nat_cidr *net);

#endif
