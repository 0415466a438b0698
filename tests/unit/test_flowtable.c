/* The flow table and the port pool checked against deliberately naive
 * models (plain arrays, linear scans) over 10^6 random operations with a
 * fixed seed, so any failure reproduces exactly. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "ports.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: fixed seed, reproducible */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

struct naive_flow {
	bool live;
	uint32_t idx; /* the record the real table returned */
	uint8_t proto;
	uint32_t in_ip, map_ip, rem_ip;
	uint16_t in_port, map_port, rem_port;
};

#define CAP 512
static struct naive_flow model[CAP * 2];
static size_t n_model;

/* Small value spaces so collisions, shared endpoints and hash chains are
 * common. */
static void random_tuple(struct naive_flow *f)
{
	static const uint8_t protos[3] = {1, 6, 17};
	f->proto = protos[rnd() % 3];
	f->in_ip = 0xac11f000u | (uint32_t)(rnd() % 8);
	f->in_port = (uint16_t)(1000 + rnd() % 8);
	f->rem_ip = 0xc6336400u | (uint32_t)(rnd() % 4);
	f->rem_port = (uint16_t)(rnd() % 4);
	f->map_ip = 0xcb007101u;
	f->map_port = (uint16_t)(40000 + rnd() % 64);
}

static long naive_find_in(const struct naive_flow *k)
{
	for (size_t i = 0; i < n_model; i++) {
		const struct naive_flow *f = &model[i];
		if (f->live && f->proto == k->proto && f->in_ip == k->in_ip &&
		    f->in_port == k->in_port && f->rem_ip == k->rem_ip &&
		    f->rem_port == k->rem_port)
			return (long)i;
	}
	return -1;
}

static long naive_find_out(const struct naive_flow *k)
{
	for (size_t i = 0; i < n_model; i++) {
		const struct naive_flow *f = &model[i];
		if (f->live && f->proto == k->proto && f->map_ip == k->map_ip &&
		    f->map_port == k->map_port && f->rem_ip == k->rem_ip &&
		    f->rem_port == k->rem_port)
			return (long)i;
	}
	return -1;
}

static size_t naive_ep_count(const struct naive_flow *k)
{
	size_t n = 0;
	for (size_t i = 0; i < n_model; i++) {
		const struct naive_flow *f = &model[i];
		n += f->live && f->proto == k->proto && f->in_ip == k->in_ip &&
		     f->in_port == k->in_port;
	}
	return n;
}

static size_t naive_live(void)
{
	size_t n = 0;
	for (size_t i = 0; i < n_model; i++)
		n += model[i].live;
	return n;
}

static void compact(void)
{
	size_t j = 0;
	for (size_t i = 0; i < n_model; i++)
		if (model[i].live)
			model[j++] = model[i];
	n_model = j;
}

Test(flowtable, matches_naive_model_over_1e6_random_ops)
{
	struct nat_flow_table t;
	struct nat_timeouts to = {7440, 240, 120, 10, 120, 60, 30};
	cr_assert_eq(nat_flow_table_init(&t, CAP, 0, &to, 12345), 0);
	rng_state = 0x9e3779b97f4a7c15ull;
	n_model = 0;
	for (long op = 0; op < 1000000; op++) {
		struct naive_flow k;
		random_tuple(&k);
		unsigned what = (unsigned)(rnd() % 10);
		if (what < 4) { /* insert unless either key exists */
			if (naive_find_in(&k) >= 0 || naive_find_out(&k) >= 0)
				continue;
			uint32_t idx = nat_flow_alloc(&t);
			if (naive_live() == CAP) {
				cr_assert_eq(idx, NAT_FLOW_NIL,
					     "op %ld: alloc beyond capacity",
					     op);
				continue;
			}
			cr_assert_neq(idx, NAT_FLOW_NIL,
				      "op %ld: alloc failed with room", op);
			struct nat_flow *f = &t.f[idx];
			f->proto = k.proto;
			f->in_ip = k.in_ip;
			f->in_port = k.in_port;
			f->rem_ip = k.rem_ip;
			f->rem_port = k.rem_port;
			f->map_ip = k.map_ip;
			f->map_port = k.map_port;
			nat_flow_insert(&t, idx, 0);
			if (n_model == CAP * 2)
				compact();
			k.live = true;
			k.idx = idx;
			model[n_model++] = k;
		} else if (what < 7) { /* remove a random live flow */
			if (n_model == 0)
				continue;
			size_t i = rnd() % n_model;
			if (!model[i].live)
				continue;
			nat_flow_remove(&t, model[i].idx);
			model[i].live = false;
		} else { /* look up both ways and by endpoint */
			long ni = naive_find_in(&k);
			uint32_t ri = nat_flow_find_in(&t, k.proto, k.in_ip,
						       k.in_port, k.rem_ip,
						       k.rem_port);
			cr_assert_eq(ni < 0, ri == NAT_FLOW_NIL,
				     "op %ld: inside lookup disagrees", op);
			if (ni >= 0)
				cr_assert_eq(ri, model[ni].idx);
			long no = naive_find_out(&k);
			uint32_t ro = nat_flow_find_out(&t, k.proto, k.map_ip,
							k.map_port, k.rem_ip,
							k.rem_port);
			cr_assert_eq(no < 0, ro == NAT_FLOW_NIL,
				     "op %ld: outside lookup disagrees", op);
			if (no >= 0)
				cr_assert_eq(ro, model[no].idx);
			size_t ne = 0;
			for (uint32_t i = nat_flow_ep_first(&t, k.proto,
							    k.in_ip, k.in_port);
			     i != NAT_FLOW_NIL; i = nat_flow_ep_next(&t, i))
				ne++;
			cr_assert_eq(ne, naive_ep_count(&k),
				     "op %ld: endpoint index disagrees", op);
		}
		if ((op & 1023) == 0)
			cr_assert_eq(t.used, naive_live(),
				     "op %ld: live count disagrees", op);
	}
	nat_flow_table_destroy(&t);
}

/* Naive pool: a plain array of owners and counts; allocation scans. */
struct naive_port {
	uint32_t refs, reserved;
	uint32_t owner_ip;
	uint16_t owner_port;
};

Test(flowtable, port_pool_matches_naive_model_over_1e6_random_ops)
{
	enum { LO = 40000, HI = 40031 };
	static struct naive_port np[65536];
	memset(np, 0, sizeof(np));
	struct nat_port_pool pool;
	cr_assert_eq(nat_ports_init(&pool, LO, HI), 0);
	rng_state = 4242;
	for (long op = 0; op < 1000000; op++) {
		unsigned what = (unsigned)(rnd() % 8);
		uint16_t port = (uint16_t)(LO - 4 + rnd() % 40);
		uint32_t ip = 0xac11f000u | (uint32_t)(rnd() % 4);
		if (what < 3) { /* pick + ref, preserving sometimes */
			uint16_t want = (uint16_t)(LO - 4 + rnd() % 40);
			bool pres = rnd() & 1;
			uint16_t got;
			bool ok = nat_ports_pick(&pool, want, pres, &got);
			size_t free_n = 0;
			for (uint32_t p = LO; p <= HI; p++)
				free_n += !np[p].refs && !np[p].reserved;
			bool want_free = want && !np[want].refs &&
					 !np[want].reserved;
			if (pres && want_free) {
				cr_assert(ok && got == want,
					  "op %ld: free port not preserved",
					  op);
			} else {
				cr_assert_eq(ok, free_n > 0,
					     "op %ld: pick %d with %zu free",
					     op, ok, free_n);
			}
			if (!ok)
				continue;
			cr_assert(!np[got].refs && !np[got].reserved,
				  "op %ld: port %u handed out while in use",
				  op, got);
			nat_ports_ref(&pool, got, ip, want);
			np[got].refs = 1;
			np[got].owner_ip = ip;
			np[got].owner_port = want;
		} else if (what < 5) { /* another flow on a used port */
			if (!np[port].refs)
				continue;
			nat_ports_ref(&pool, port, np[port].owner_ip,
				      np[port].owner_port);
			np[port].refs++;
		} else if (what < 7) {
			if (!np[port].refs)
				continue;
			nat_ports_unref(&pool, port);
			np[port].refs--;
		} else if (rnd() & 1) {
			nat_ports_reserve(&pool, port);
			np[port].reserved++;
		} else if (np[port].reserved) {
			nat_ports_unreserve(&pool, port);
			np[port].reserved--;
		}
		uint32_t oip;
		uint16_t oport;
		bool has = nat_ports_owner(&pool, port, &oip, &oport);
		cr_assert_eq(has, np[port].refs > 0, "op %ld: owner", op);
		if (has)
			cr_assert(oip == np[port].owner_ip &&
					  oport == np[port].owner_port,
				  "op %ld: wrong owner", op);
		if ((op & 255) == 0) {
			uint32_t free_n = 0;
			for (uint32_t p = LO; p <= HI; p++)
				free_n += !np[p].refs && !np[p].reserved;
			cr_assert_eq(pool.free_in_range, free_n,
				     "op %ld: free count drifted", op);
		}
	}
	nat_ports_destroy(&pool);
}

Test(flowtable, wheel_expires_exactly_at_deadline)
{
	struct nat_flow_table t;
	struct nat_timeouts to = {7440, 240, 120, 10, 30, 60, 30};
	cr_assert_eq(nat_flow_table_init(&t, 64, 0, &to, 1), 0);
	uint32_t idx = nat_flow_alloc(&t);
	t.f[idx].proto = 17;
	t.f[idx].last_ns = 5ull * 1000000000ull;
	nat_flow_insert(&t, idx, 5);
	t.wheel_s = 5;
	cr_assert_eq(nat_flow_expire(&t, 34, NULL, NULL), 0);
	/* Traffic at 20 s moves the deadline to 50 s. */
	t.f[idx].last_ns = 20ull * 1000000000ull;
	cr_assert_eq(nat_flow_expire(&t, 49, NULL, NULL), 0);
	cr_assert_eq(nat_flow_expire(&t, 50, NULL, NULL), 1);
	cr_assert_eq(t.used, 0);
	/* A deadline beyond the wheel's span still fires, after laps. */
	idx = nat_flow_alloc(&t);
	t.f[idx].proto = 6;
	t.f[idx].tcp_state = NAT_TCP_ESTABLISHED;
	t.f[idx].last_ns = 50ull * 1000000000ull;
	nat_flow_insert(&t, idx, 50);
	cr_assert_eq(nat_flow_expire(&t, 50 + 7439, NULL, NULL), 0);
	cr_assert_eq(nat_flow_expire(&t, 50 + 7440, NULL, NULL), 1);
	nat_flow_table_destroy(&t);
}
