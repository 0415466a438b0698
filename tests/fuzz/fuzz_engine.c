/* libFuzzer target for the packet path: parse + engine. The input is a
 * sequence of records [dir:1][gap:1][len:2][bytes...] fed to one engine
 * (with a small table, a 4-port range and a forward, so exhaustion,
 * eviction, hairpins and expiry are all reachable). Each packet is copied
 * into a buffer of exactly its length so ASan sees any overread. After the
 * engine, every translated packet must still parse. Fragments: a tiny
 * fragment table (so full, timeout and overlap are reachable); every
 * packet the engine holds must leave through the sink exactly once (by
 * the flush at the latest), and packets = verdicts + fragments held. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nat_engine *engine;

enum { TAGS = 1 << 16 };
static uint8_t held[TAGS]; /* 1 while the engine holds that packet */
static size_t n_held;

static void frag_out(void *ctx, uint64_t tag, const uint8_t *pkt, size_t len,
		     const struct nat_meta *m, const struct nat_result *res)
{
	(void)ctx;
	(void)m;
	if (tag >= TAGS || !held[tag])
		abort(); /* a fragment left that was never held, or twice */
	held[tag] = 0;
	n_held--;
	if (res->verdict == NAT_V_NAT) {
		uint8_t *copy = malloc(len ? len : 1);
		struct nat_pkt p;
		if (!copy)
			abort();
		memcpy(copy, pkt, len);
		if (nat_pkt_parse(&p, copy, len) != NAT_PARSE_OK)
			abort(); /* a released fragment was broken */
		free(copy);
	}
}

static void check_counts(void)
{
	const struct nat_stats *st = nat_engine_stats(engine);
	if (st->packets != st->natted + st->bypassed + st->passed +
				   st->dropped + st->frag_held_now ||
	    st->frag_held_now != n_held)
		abort();
}

static void setup(void)
{
	static struct nat_rule_cfg rules[3];
	static struct nat_forward_cfg fwd[1];
	struct nat_config c;
	nat_config_defaults(&c);
	c.nat_ip = 0xcb007101u;
	c.internal.addr = 0xac11f000u;
	c.internal.len = 24;
	rules[0].action = NAT_ACT_BYPASS;
	rules[0].dst.addr = 0xc0000200u;
	rules[0].dst.len = 24;
	rules[1].action = NAT_ACT_DROP;
	rules[1].proto = 6;
	rules[1].n_ports = 1;
	rules[1].ports[0].lo = rules[1].ports[0].hi = 25;
	rules[2].action = NAT_ACT_NAT;
	c.rules = rules;
	c.n_rules = 3;
	fwd[0].proto = 6;
	fwd[0].ext_port = 8080;
	fwd[0].int_ip = 0xac11f015u;
	fwd[0].int_port = 80;
	c.forwards = fwd;
	c.n_forwards = 1;
	c.port_range.lo = 40000;
	c.port_range.hi = 40003;
	c.limits.max_flows = 64;
	c.limits.max_flows_per_host = 4;
	c.timeouts.udp = 2;
	c.timeouts.icmp = 1;
	c.timeouts.tcp_transitory = 3;
	c.timeouts.fragment = 2;
	c.limits.max_frag_datagrams = 4;
	c.limits.max_frag_held = 4;
	c.limits.max_frag_bytes = 2048;
	char err[256];
	engine = nat_engine_create(&c, err, sizeof(err));
	if (!engine)
		abort();
	struct nat_frag_sink sink = {.ctx = NULL, .fn = frag_out};
	nat_engine_set_frag_sink(engine, &sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!engine)
		setup();
	uint64_t ts = 0, tag = 0;
	while (size >= 4) {
		uint8_t dir = data[0] % 3;
		ts += (uint64_t)data[1] * 100000000ull;
		size_t len = (size_t)(data[2] << 8 | data[3]);
		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		if (held[tag % TAGS]) /* 65536 packets in one input */
			break;
		uint8_t *pkt = malloc(len ? len : 1);
		if (!pkt)
			return 0;
		memcpy(pkt, data, len);
		struct nat_meta m = {.dir = (enum nat_dir)dir, .ts_ns = ts,
				     .tag = tag % TAGS};
		struct nat_result r;
		enum nat_verdict v = nat_process(engine, pkt, len, &m, &r);
		if (v == NAT_V_HELD) {
			held[tag % TAGS] = 1;
			n_held++;
		}
		tag++;
		check_counts();
		if (v == NAT_V_NAT) {
			struct nat_pkt p;
			if (nat_pkt_parse(&p, pkt, len) != NAT_PARSE_OK)
				abort(); /* the engine broke a packet */
		}
		free(pkt);
		data += len;
		size -= len;
	}
	/* Start the next input from an empty table. */
	nat_engine_flush(engine, ts + 1);
	nat_engine_tick(engine, ts + 100000000000ull);
	if (n_held != 0)
		abort(); /* the flush left a held fragment behind */
	check_counts();
	return 0;
}
