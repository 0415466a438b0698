/* Port pool: see ports.h. Costs: pick is O(1) when the preserved or the
 * cursor port is free and O(range) in the worst case (a nearly full
 * range); exhaustion is detected in O(1) from free_in_range. */
#include "ports.h"

#include <stdlib.h>

#define NAT_PORTS 65536u

size_t nat_ports_memory(void)
{
	return NAT_PORTS * sizeof(struct nat_port_entry);
}

int nat_ports_init(struct nat_port_pool *p, uint16_t lo, uint16_t hi)
{
	p->e = calloc(NAT_PORTS, sizeof(*p->e));
	if (!p->e)
		return -1;
	p->lo = lo;
	p->hi = hi;
	p->cursor = lo;
	p->free_in_range = (uint32_t)hi - lo + 1;
	return 0;
}

void nat_ports_destroy(struct nat_port_pool *p)
{
	free(p->e);
	p->e = NULL;
}

static bool in_range(const struct nat_port_pool *p, uint16_t port)
{
	return port >= p->lo && port <= p->hi;
}

bool nat_ports_pick(struct nat_port_pool *p, uint16_t port, bool preserve,
		    uint16_t *out)
{
	if (preserve && port != 0 && nat_ports_is_free(p, port)) {
		*out = port;
		return true;
	}
	if (p->free_in_range == 0)
		return false;
	uint32_t span = (uint32_t)p->hi - p->lo + 1;
	uint32_t c = p->cursor;
	for (uint32_t i = 0; i < span; i++) {
		uint16_t cand = (uint16_t)c;
		c = (c == p->hi) ? p->lo : c + 1;
		if (nat_ports_is_free(p, cand)) {
			p->cursor = c;
			*out = cand;
			return true;
		}
	}
	return false; /* free_in_range out of step: cannot happen */
}

static void mark_busy(struct nat_port_pool *p, uint16_t port)
{
	if (in_range(p, port))
		p->free_in_range--;
}

static void mark_free(struct nat_port_pool *p, uint16_t port)
{
	if (in_range(p, port))
		p->free_in_range++;
}

void nat_ports_ref(struct nat_port_pool *p, uint16_t port, uint32_t owner_ip,
		   uint16_t owner_port)
{
	struct nat_port_entry *e = &p->e[port];
	if (e->refs == 0) {
		if (e->reserved == 0)
			mark_busy(p, port);
		e->owner_ip = owner_ip;
		e->owner_port = owner_port;
	}
	e->refs++;
}

void nat_ports_unref(struct nat_port_pool *p, uint16_t port)
{
	struct nat_port_entry *e = &p->e[port];
	if (e->refs == 0)
		return;
	if (--e->refs == 0) {
		if (e->reserved == 0)
			mark_free(p, port);
		e->owner_ip = 0;
		e->owner_port = 0;
	}
}

void nat_ports_reserve(struct nat_port_pool *p, uint16_t port)
{
	struct nat_port_entry *e = &p->e[port];
	if (e->reserved == 0 && e->refs == 0)
		mark_busy(p, port);
	e->reserved++;
}

void nat_ports_unreserve(struct nat_port_pool *p, uint16_t port)
{
	struct nat_port_entry *e = &p->e[port];
	if (e->reserved == 0)
		return;
	if (--e->reserved == 0 && e->refs == 0)
		mark_free(p, port);
}

bool nat_ports_owner(const struct nat_port_pool *p, uint16_t port,
		     uint32_t *ip, uint16_t *owner_port)
{
	const struct nat_port_entry *e = &p->e[port];
	if (e->refs == 0)
		return false;
	*ip = e->owner_ip;
	*owner_port = e->owner_port;
	return true;
}
