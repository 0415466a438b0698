/* Flow table: see flow.h. Lookups cost one hash and a chain walk (load
 * factor <= 1); insert and remove are O(chain). Expiry costs O(flows in the
 * slots that fired), never a scan of the table. */
#include "flow.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 31))
		p <<= 1;
	return p;
}

#define hash5 nat_flow_hash5

static inline uint32_t hash_in(const struct nat_flow_table *t,
			       const struct nat_flow *f)
{
	return hash5(t->seed, f->proto, f->in_ip, f->in_port,
		     nat_flow_vis_ip(f), nat_flow_vis_port(f)) & t->mask;
}

static inline uint32_t hash_out(const struct nat_flow_table *t,
				const struct nat_flow *f)
{
	return hash5(t->seed ^ NAT_FLOW_SEED_OUT, f->proto, f->map_ip, f->map_port,
		     f->rem_ip, f->rem_port) & t->mask;
}

static inline uint32_t hash_ep(const struct nat_flow_table *t, uint8_t proto,
			       uint32_t ip, uint16_t port)
{
	return hash5(t->seed ^ 0x27d4eb2fu, proto, ip, port, 0, 0) & t->mask;
}

static inline uint32_t hash_host(const struct nat_flow_table *t, uint32_t ip)
{
	return hash5(t->seed ^ 0x165667b1u, 0, ip, 0, 0, 0) & t->host_mask;
}

size_t nat_flow_table_memory(uint32_t cap, uint32_t per_host_limit)
{
	size_t buckets = pow2_at_least(cap);
	size_t n = (size_t)cap * sizeof(struct nat_flow) +
		   3 * buckets * sizeof(uint32_t) +
		   ((size_t)cap + NAT_WHEEL_SLOTS) * sizeof(struct nat_link);
	if (per_host_limit) {
		size_t hb = pow2_at_least(cap);
		n += (size_t)cap * sizeof(struct nat_host) +
		     hb * sizeof(uint32_t) +
		     (2 * (size_t)cap) * sizeof(struct nat_link);
	}
	return n;
}

static void link_init(struct nat_link *l, uint32_t i)
{
	l[i].prev = l[i].next = i;
}

static void link_add_tail(struct nat_link *l, uint32_t head, uint32_t i)
{
	uint32_t last = l[head].prev;
	l[i].prev = last;
	l[i].next = head;
	l[last].next = i;
	l[head].prev = i;
}

static void link_del(struct nat_link *l, uint32_t i)
{
	l[l[i].prev].next = l[i].next;
	l[l[i].next].prev = l[i].prev;
	l[i].prev = l[i].next = i;
}

int nat_flow_table_init(struct nat_flow_table *t, uint32_t cap,
			uint32_t per_host_limit, const struct nat_timeouts *to,
			uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap >= NAT_FLOW_NIL - NAT_WHEEL_SLOTS)
		return -1;
	uint32_t buckets = pow2_at_least(cap);
	t->cap = cap;
	t->mask = buckets - 1;
	t->seed = seed;
	t->next_id = 1;
	t->to = *to;
	t->f = calloc(cap, sizeof(*t->f));
	t->h_in = malloc(buckets * sizeof(uint32_t));
	t->h_out = malloc(buckets * sizeof(uint32_t));
	t->h_ep = malloc(buckets * sizeof(uint32_t));
	t->tw = malloc(((size_t)cap + NAT_WHEEL_SLOTS) * sizeof(*t->tw));
	if (!t->f || !t->h_in || !t->h_out || !t->h_ep || !t->tw)
		goto fail;
	memset(t->h_in, 0xff, buckets * sizeof(uint32_t));
	memset(t->h_out, 0xff, buckets * sizeof(uint32_t));
	memset(t->h_ep, 0xff, buckets * sizeof(uint32_t));
	for (uint32_t i = 0; i < cap + NAT_WHEEL_SLOTS; i++)
		link_init(t->tw, i);
	for (uint32_t i = 0; i < cap; i++)
		t->f[i].next_in = (i + 1 < cap) ? i + 1 : NAT_FLOW_NIL;
	t->free_head = 0;

	if (per_host_limit) {
		uint32_t hb = pow2_at_least(cap);
		t->per_host_limit = per_host_limit;
		t->host_cap = cap;
		t->host_mask = hb - 1;
		t->hosts = calloc(cap, sizeof(*t->hosts));
		t->h_host = malloc(hb * sizeof(uint32_t));
		t->hl = malloc(2 * (size_t)cap * sizeof(*t->hl));
		if (!t->hosts || !t->h_host || !t->hl)
			goto fail;
		memset(t->h_host, 0xff, hb * sizeof(uint32_t));
		for (uint32_t i = 0; i < 2 * cap; i++)
			link_init(t->hl, i);
		for (uint32_t i = 0; i < cap; i++)
			t->hosts[i].next = (i + 1 < cap) ? i + 1 : NAT_FLOW_NIL;
		t->host_free = 0;
	}
	return 0;
fail:
	nat_flow_table_destroy(t);
	return -1;
}

size_t nat_flow_table_nets_memory(uint32_t cap)
{
	return ((size_t)cap + NAT_NETS_MAX) * sizeof(struct nat_link);
}

int nat_flow_table_enable_nets(struct nat_flow_table *t)
{
	if (t->nl)
		return 0;
	t->nl = malloc(nat_flow_table_nets_memory(t->cap));
	if (!t->nl)
		return -1;
	for (uint32_t i = 0; i < t->cap + NAT_NETS_MAX; i++)
		link_init(t->nl, i);
	return 0;
}

uint32_t nat_flow_net_lru(const struct nat_flow_table *t, uint8_t net)
{
	if (!t->nl || net >= NAT_NETS_MAX)
		return NAT_FLOW_NIL;
	uint32_t first = t->nl[t->cap + net].next;
	return first == t->cap + net ? NAT_FLOW_NIL : first;
}

void nat_flow_table_destroy(struct nat_flow_table *t)
{
	free(t->f);
	free(t->h_in);
	free(t->h_out);
	free(t->h_ep);
	free(t->tw);
	free(t->hosts);
	free(t->h_host);
	free(t->hl);
	free(t->nl);
	memset(t, 0, sizeof(*t));
}

uint32_t nat_flow_find_in(const struct nat_flow_table *t, uint8_t proto,
			  uint32_t in_ip, uint16_t in_port, uint32_t rem_ip,
			  uint16_t rem_port)
{
	uint32_t h = hash5(t->seed, proto, in_ip, in_port, rem_ip, rem_port) &
		     t->mask;
	for (uint32_t i = t->h_in[h]; i != NAT_FLOW_NIL; i = t->f[i].next_in) {
		const struct nat_flow *f = &t->f[i];
		if (f->in_ip == in_ip && nat_flow_vis_ip(f) == rem_ip &&
		    f->in_port == in_port && nat_flow_vis_port(f) == rem_port &&
		    f->proto == proto)
			return i;
	}
	return NAT_FLOW_NIL;
}

uint32_t nat_flow_find_out(const struct nat_flow_table *t, uint8_t proto,
			   uint32_t map_ip, uint16_t map_port, uint32_t rem_ip,
			   uint16_t rem_port)
{
	uint32_t h = hash5(t->seed ^ NAT_FLOW_SEED_OUT, proto, map_ip, map_port,
			   rem_ip, rem_port) & t->mask;
	for (uint32_t i = t->h_out[h]; i != NAT_FLOW_NIL;
	     i = t->f[i].next_out) {
		const struct nat_flow *f = &t->f[i];
		if (f->map_ip == map_ip && f->rem_ip == rem_ip &&
		    f->map_port == map_port && f->rem_port == rem_port &&
		    f->proto == proto)
			return i;
	}
	return NAT_FLOW_NIL;
}

static uint32_t ep_scan(const struct nat_flow_table *t, uint32_t i,
			uint8_t proto, uint32_t ip, uint16_t port)
{
	for (; i != NAT_FLOW_NIL; i = t->f[i].next_ep) {
		const struct nat_flow *f = &t->f[i];
		if (f->in_ip == ip && f->in_port == port && f->proto == proto)
			return i;
	}
	return NAT_FLOW_NIL;
}

uint32_t nat_flow_ep_first(const struct nat_flow_table *t, uint8_t proto,
			   uint32_t ip, uint16_t port)
{
	return ep_scan(t, t->h_ep[hash_ep(t, proto, ip, port)], proto, ip,
		       port);
}

uint32_t nat_flow_ep_next(const struct nat_flow_table *t, uint32_t idx)
{
	const struct nat_flow *f = &t->f[idx];
	return ep_scan(t, f->next_ep, f->proto, f->in_ip, f->in_port);
}

uint32_t nat_flow_alloc(struct nat_flow_table *t)
{
	uint32_t i = t->free_head;
	if (i == NAT_FLOW_NIL)
		return NAT_FLOW_NIL;
	t->free_head = t->f[i].next_in;
	memset(&t->f[i], 0, sizeof(t->f[i]));
	t->f[i].id = t->next_id++;
	return i;
}

static uint32_t host_find(const struct nat_flow_table *t, uint32_t ip)
{
	for (uint32_t h = t->h_host[hash_host(t, ip)]; h != NAT_FLOW_NIL;
	     h = t->hosts[h].next)
		if (t->hosts[h].ip == ip)
			return h;
	return NAT_FLOW_NIL;
}

/* Host records are as many as flow records, so one is always free when
 * a flow record was. */
static uint32_t host_get(struct nat_flow_table *t, uint32_t ip)
{
	uint32_t h = host_find(t, ip);
	if (h != NAT_FLOW_NIL)
		return h;
	h = t->host_free;
	t->host_free = t->hosts[h].next;
	uint32_t b = hash_host(t, ip);
	t->hosts[h].ip = ip;
	t->hosts[h].count = 0;
	t->hosts[h].next = t->h_host[b];
	t->h_host[b] = h;
	link_init(t->hl, t->cap + h);
	return h;
}

static void host_put(struct nat_flow_table *t, uint32_t ip)
{
	uint32_t b = hash_host(t, ip);
	uint32_t *pp = &t->h_host[b];
	while (*pp != NAT_FLOW_NIL) {
		uint32_t h = *pp;
		if (t->hosts[h].ip == ip) {
			if (--t->hosts[h].count == 0) {
				*pp = t->hosts[h].next;
				t->hosts[h].next = t->host_free;
				t->host_free = h;
			}
			return;
		}
		pp = &t->hosts[h].next;
	}
}

static uint32_t deadline_s(const struct nat_flow_table *t,
			   const struct nat_flow *f)
{
	uint64_t last = f->last_ns > t->base_ns ? f->last_ns - t->base_ns : 0;
	return (uint32_t)(last / 1000000000ull) + nat_flow_timeout(t, f);
}

static void wheel_arm(struct nat_flow_table *t, uint32_t idx, uint32_t now_s)
{
	uint32_t d = deadline_s(t, &t->f[idx]);
	if (d <= now_s)
		d = now_s + 1;
	if (d - now_s >= NAT_WHEEL_SLOTS)
		d = now_s + NAT_WHEEL_SLOTS - 1;
	link_add_tail(t->tw, t->cap + (d & (NAT_WHEEL_SLOTS - 1)), idx);
}

void nat_flow_insert(struct nat_flow_table *t, uint32_t idx, uint32_t now_s)
{
	struct nat_flow *f = &t->f[idx];
	uint32_t b = hash_in(t, f);
	f->next_in = t->h_in[b];
	t->h_in[b] = idx;
	b = hash_out(t, f);
	f->next_out = t->h_out[b];
	t->h_out[b] = idx;
	b = hash_ep(t, f->proto, f->in_ip, f->in_port);
	f->next_ep = t->h_ep[b];
	t->h_ep[b] = idx;
	t->used++;
	wheel_arm(t, idx, now_s);
	if (t->hl) {
		uint32_t h = host_get(t, f->in_ip);
		t->hosts[h].count++;
		f->lru_s = (uint16_t)now_s;
		link_add_tail(t->hl, t->cap + h, idx);
	}
	if (f->net >= NAT_NETS_MAX)
		f->net = 0;
	t->net_count[f->net]++;
	if (t->nl) {
		f->lru_s = (uint16_t)now_s;
		link_add_tail(t->nl, t->cap + f->net, idx);
	}
}

static void chain_del(uint32_t *head, struct nat_flow *fl, uint32_t idx,
		      size_t next_off)
{
	uint32_t *pp = head;
	while (*pp != NAT_FLOW_NIL) {
		uint32_t *next = (uint32_t *)((char *)&fl[*pp] + next_off);
		if (*pp == idx) {
			*pp = *next;
			return;
		}
		pp = next;
	}
}

void nat_flow_remove(struct nat_flow_table *t, uint32_t idx)
{
	struct nat_flow *f = &t->f[idx];
	chain_del(&t->h_in[hash_in(t, f)], t->f, idx,
		  offsetof(struct nat_flow, next_in));
	chain_del(&t->h_out[hash_out(t, f)], t->f, idx,
		  offsetof(struct nat_flow, next_out));
	chain_del(&t->h_ep[hash_ep(t, f->proto, f->in_ip, f->in_port)], t->f,
		  idx, offsetof(struct nat_flow, next_ep));
	link_del(t->tw, idx);
	if (t->hl) {
		link_del(t->hl, idx);
		host_put(t, f->in_ip);
	}
	t->net_count[f->net]--;
	if (t->nl)
		link_del(t->nl, idx);
	t->used--;
	f->id = 0;
	f->next_in = t->free_head;
	t->free_head = idx;
}

uint32_t nat_flow_timeout(const struct nat_flow_table *t,
			  const struct nat_flow *f)
{
	switch (f->proto) {
	case 6:
		switch (f->tcp_state) {
		case NAT_TCP_ESTABLISHED:
			return t->to.tcp_established;
		case NAT_TCP_TIME_WAIT:
			return t->to.tcp_time_wait;
		case NAT_TCP_CLOSED:
			return t->to.tcp_closed;
		default:
			return t->to.tcp_transitory;
		}
	case 17:
		return t->to.udp;
	default:
		return t->to.icmp;
	}
}

void nat_flow_rearm(struct nat_flow_table *t, uint32_t idx, uint32_t now_s)
{
	link_del(t->tw, idx);
	wheel_arm(t, idx, now_s);
}

void nat_flow_host_move_tail(struct nat_flow_table *t, uint32_t idx)
{
	if (t->nl) {
		link_del(t->nl, idx);
		link_add_tail(t->nl, t->cap + t->f[idx].net, idx);
	}
	if (!t->hl)
		return;
	uint32_t h = host_find(t, t->f[idx].in_ip);
	if (h == NAT_FLOW_NIL)
		return;
	link_del(t->hl, idx);
	link_add_tail(t->hl, t->cap + h, idx);
}

uint32_t nat_flow_host_count(const struct nat_flow_table *t, uint32_t ip)
{
	if (!t->hl)
		return 0;
	uint32_t h = host_find(t, ip);
	return h == NAT_FLOW_NIL ? 0 : t->hosts[h].count;
}

uint32_t nat_flow_host_lru(const struct nat_flow_table *t, uint32_t ip)
{
	if (!t->hl)
		return NAT_FLOW_NIL;
	uint32_t h = host_find(t, ip);
	if (h == NAT_FLOW_NIL)
		return NAT_FLOW_NIL;
	uint32_t first = t->hl[t->cap + h].next;
	return first == t->cap + h ? NAT_FLOW_NIL : first;
}

uint32_t nat_flow_expire(struct nat_flow_table *t, uint32_t now_s,
			 bool (*expired)(void *ctx, uint32_t idx), void *ctx)
{
	uint32_t n = 0;
	if (now_s <= t->wheel_s)
		return 0;
	uint32_t steps = now_s - t->wheel_s;
	if (steps > NAT_WHEEL_SLOTS)
		steps = NAT_WHEEL_SLOTS;
	uint32_t from = now_s - steps + 1;
	for (uint32_t s = from; s <= now_s; s++) {
		uint32_t head = t->cap + (s & (NAT_WHEEL_SLOTS - 1));
		/* Detach the slot first: flows re-armed below may land in
		 * this very slot again (a deadline one lap ahead). */
		uint32_t i = t->tw[head].next;
		if (i == head)
			continue;
		t->tw[t->tw[head].prev].next = NAT_FLOW_NIL;
		link_init(t->tw, head);
		while (i != NAT_FLOW_NIL) {
			uint32_t next = t->tw[i].next;
			link_init(t->tw, i);
			if (deadline_s(t, &t->f[i]) <= now_s &&
			    (!expired || expired(ctx, i))) {
				nat_flow_remove(t, i);
				n++;
			} else {
				wheel_arm(t, i, now_s);
			}
			i = next;
		}
	}
	t->wheel_s = now_s;
	return n;
}
