/* The host's neighbour (ARP) table, read for diagnosis: whether the inside
 * host a forward points at ever answered ARP. Read-only, on demand, never
 * on the packet path of a healthy flow (forward.unanswered events only). */
#ifndef GLASSNAT_NEIGH_H
#define GLASSNAT_NEIGH_H

#include <stddef.h>
#include <stdint.h>

/* Writes the kernel's neighbour state of IPv4 address ip (host order) into
 * out: "REACHABLE", "STALE", "DELAY", "PROBE", "INCOMPLETE", "FAILED",
 * "NOARP", "PERMANENT", "none" (no entry: the host never tried to reach
 * it), or "unknown" (the platform cannot tell, or the read failed).
 * Returns 0 when the table was read, -1 otherwise ("unknown"). */
int nat_neigh_state(uint32_t ip, char *out, size_t len);

/* The words of nat_neigh_state() for an NUD_* state bit set (Linux's
 * values; exported for tests). */
const char *nat_neigh_state_name(unsigned nud);

#endif
