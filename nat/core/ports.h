/* External port / ICMP identifier pool for one (protocol, external address).
 *
 * A direct table of 65536 entries: which inside endpoint owns each external
 * port and how many flows use it. Endpoint-independent mapping means one
 * owner per port; a port is free when no flow uses it and no forward has
 * reserved it. Allocation is deterministic (the same packets give the same
 * ports on every platform): the inside port itself when free (port
 * preservation), else the next free port of the range after a cursor. */
#ifndef GLASSNAT_PORTS_H
#define GLASSNAT_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nat_port_entry {
	uint32_t owner_ip;
	uint32_t refs;	     /* flows using this port */
	uint16_t owner_port;
	uint16_t reserved;   /* forwards pinned on this port */
};

struct nat_port_pool {
	struct nat_port_entry *e; /* 65536 entries, owned */
	uint16_t lo, hi;	  /* allocation range, inclusive */
	uint32_t cursor;	  /* next port to try in the range */
	uint32_t free_in_range;	  /* free ports in [lo, hi] */
};

/* Bytes one pool reserves. */
size_t nat_ports_memory(void);

/* Allocates the table for range [lo, hi]. Returns -1 on ENOMEM. */
int nat_ports_init(struct nat_port_pool *p, uint16_t lo, uint16_t hi)
	__attribute__((warn_unused_result));
void nat_ports_destroy(struct nat_port_pool *p);

static inline bool nat_ports_is_free(const struct nat_port_pool *p,
				     uint16_t port)
{
	return p->e[port].refs == 0 && p->e[port].reserved == 0;
}

/* Picks a port for an inside endpoint whose port is `port`: `port` itself when
 * `preserve` and it is free (and not 0), else the next free port of the
 * range. Does not take a reference. Returns false when the range is
 * exhausted. */
bool nat_ports_pick(struct nat_port_pool *p, uint16_t port, bool preserve,
		    uint16_t *out)
	__attribute__((warn_unused_result));

/* Takes / drops one flow's reference on `port`, recording its owner on
 * the first reference. */
void nat_ports_ref(struct nat_port_pool *p, uint16_t port, uint32_t owner_ip,
		   uint16_t owner_port);
void nat_ports_unref(struct nat_port_pool *p, uint16_t port);

/* Pins / unpins a forward's external port so allocation skips it. */
void nat_ports_reserve(struct nat_port_pool *p, uint16_t port);
void nat_ports_unreserve(struct nat_port_pool *p, uint16_t port);

/* The owner of a port in use: false when nobody uses it. */
bool nat_ports_owner(const struct nat_port_pool *p, uint16_t port,
		     uint32_t *ip, uint16_t *owner_port);

#endif
