/* Test generator of glassnat-style trace files (pcapng, interfaces
 * pre-nat and post-nat, LINKTYPE_RAW, ns, direction flags, comments), for
 * natdump's tests and benchmark while real rings are not available.
 *
 *   natdump_gen scenario > f.pcapng     the known flows below
 *   natdump_gen bench FIRST_FLOW PAIRS START_NS > f.pcapng
 *
 * Built by the test scripts against the library:
 *   cc -Itrace -Inat/core -Inat/config tests/e2e/natdump_gen.c BUILD/libglassnat.a */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng_write.h"

static struct pcapng_w *w;
static char err[256];

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t ip(const char *s)
{
	unsigned a, b, c, d;
	if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
		abort();
	return a << 24 | b << 16 | c << 8 | d;
}

/* A raw IPv4 packet (checksums are not natdump's business: zero). */
static size_t build(uint8_t *b, uint8_t proto, uint32_t s, uint16_t sp,
		    uint32_t d, uint16_t dp, uint8_t flags, uint32_t seq,
		    size_t payload)
{
	size_t l4 = proto == 6 ? 20 : 8, tot = 20 + l4 + payload;
	memset(b, 0, tot);
	b[0] = 0x45;
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	b[8] = 64;
	b[9] = proto;
	put32(b + 12, s);
	put32(b + 16, d);
	if (proto == 1) {
		b[20] = 8; /* echo request, id in the "sport" */
		b[24] = (uint8_t)(sp >> 8);
		b[25] = (uint8_t)sp;
		return tot;
	}
	b[20] = (uint8_t)(sp >> 8);
	b[21] = (uint8_t)sp;
	b[22] = (uint8_t)(dp >> 8);
	b[23] = (uint8_t)dp;
	if (proto == 6) {
		put32(b + 24, seq);
		put32(b + 28, seq ? seq - 1000 : 0);
		b[32] = 0x50;
		b[33] = flags;
	} else {
		b[24] = (uint8_t)((8 + payload) >> 8);
		b[25] = (uint8_t)(8 + payload);
	}
	return tot;
}

static void emit(uint32_t ifc, uint64_t ts, const uint8_t *b, size_t n,
		 uint32_t dir, const char *comment)
{
	if (pcapng_w_packet(w, ifc, ts, b, n, n, dir, comment, err,
			    sizeof err) < 0) {
		fprintf(stderr, "natdump_gen: %s\n", err);
		exit(1);
	}
}

struct tup {
	uint8_t proto;
	const char *s, *d;
	uint16_t sp, dp;
};

/* One pair: pre with tuple a, post with tuple b (b NULL: a drop). */
static void pair(uint64_t ts, uint64_t flow, int out, const struct tup *a,
		 const struct tup *b, uint8_t flags, uint32_t seq,
		 size_t payload, const char *tail)
{
	uint8_t pk[1600];
	char c[512];
	size_t n;
	uint32_t dir = out ? 2 : 1;
	const char *verdict = b ? "nat" : "drop";
	if (tail && strncmp(tail, "verdict=", 8) == 0)
		verdict = NULL;
	n = build(pk, a->proto, ip(a->s), a->sp, ip(a->d), a->dp, flags, seq,
		  payload);
	snprintf(c, sizeof c, "flow=%llu stage=pre dir=%s%s%s %s",
		 (unsigned long long)flow, out ? "out" : "in",
		 verdict ? " verdict=" : "", verdict ? verdict : "", tail);
	emit(0, ts, pk, n, dir, c);
	if (!b)
		return;
	n = build(pk, b->proto, ip(b->s), b->sp, ip(b->d), b->dp, flags, seq,
		  payload);
	snprintf(c, sizeof c, "flow=%llu stage=post dir=%s%s%s %s",
		 (unsigned long long)flow, out ? "out" : "in",
		 verdict ? " verdict=" : "", verdict ? verdict : "", tail);
	emit(1, ts, pk, n, dir, c);
}

static void scenario(void)
{
	const uint64_t t0 = 1700000000000000000ull;
	/* flow 7: TCP out via rule "internet", full handshake and close */
	struct tup o1 = {6, "10.0.0.2", "198.51.100.10", 40000, 80};
	struct tup o1n = {6, "192.0.2.1", "198.51.100.10", 40000, 80};
	struct tup i1 = {6, "198.51.100.10", "192.0.2.1", 80, 40000};
	struct tup i1n = {6, "198.51.100.10", "10.0.0.2", 80, 40000};
	const char *r1 = "rule=internet map=192.0.2.1:40000";
	/* flow 8: UDP, a rule name with a space and a percent */
	struct tup o2 = {17, "10.0.0.3", "203.0.113.7", 5353, 53};
	struct tup o2n = {17, "192.0.2.1", "203.0.113.7", 40001, 53};
	/* flow 9: port forward, inbound */
	struct tup i3 = {6, "198.51.100.20", "192.0.2.1", 5555, 8080};
	struct tup i3n = {6, "198.51.100.20", "10.0.0.5", 5555, 80};
	/* no flow: unsolicited inbound */
	struct tup i4 = {6, "198.51.100.99", "192.0.2.1", 1234, 50000};
	/* flow 10: rule drop */
	struct tup o5 = {17, "10.0.0.4", "203.0.113.9", 6000, 123};
	/* flow 11: ICMP echo */
	struct tup o6 = {1, "10.0.0.6", "198.51.100.10", 77, 0};
	struct tup o6n = {1, "192.0.2.1", "198.51.100.10", 40002, 0};

	pair(t0 + 1000, 7, 1, &o1, &o1n, 0x02, 1000, 0, r1);
	pair(t0 + 2000, 7, 0, &i1, &i1n, 0x12, 5000, 0, r1);
	pair(t0 + 3000, 8, 1, &o2, &o2n, 0, 0, 30,
	     "rule=my%20rule%25 map=192.0.2.1:40001");
	pair(t0 + 4000, 7, 1, &o1, &o1n, 0x10, 1001, 0, r1);
	pair(t0 + 5000, 7, 1, &o1, &o1n, 0x18, 1001, 100, r1);
	pair(t0 + 6000, 9, 0, &i3, &i3n, 0x02, 9000, 0, "rule=forward:web");
	pair(t0 + 7000, 0, 0, &i4, NULL, 0x02, 1, 0, "reason=no_mapping");
	pair(t0 + 8000, 10, 1, &o5, NULL, 0, 0, 48,
	     "rule=blocked reason=rule_drop");
	pair(t0 + 9000, 11, 1, &o6, &o6n, 0, 0, 56,
	     "rule=internet map=192.0.2.1:40002");
	pair(t0 + 10000, 7, 1, &o1, &o1n, 0x11, 1101, 0, r1);
	pair(t0 + 11000, 7, 0, &i1, &i1n, 0x11, 5001, 0, r1);
	pair(t0 + 12000, 7, 1, &o1, &o1n, 0x10, 1102, 0, r1);
	pair(t0 + 13000, 0, 0, &i4, NULL, 0x02, 2, 0, "reason=no_mapping");
}

static void bench(uint64_t first, uint64_t pairs, uint64_t t)
{
	char rule[160];
	for (uint64_t i = 0; i < pairs; i++) {
		uint64_t flow = first + i / 8;
		uint16_t port = (uint16_t)(1024 + flow % 60000);
		struct tup o = {6, "10.0.0.2", "198.51.100.10", port, 443};
		struct tup on = {6, "192.0.2.1", "198.51.100.10", port, 443};
		struct tup in = {6, "198.51.100.10", "192.0.2.1", 443, port};
		struct tup inn = {6, "198.51.100.10", "10.0.0.2", 443, port};
		snprintf(rule, sizeof rule, "rule=internet map=192.0.2.1:%u",
			 port);
		if (i % 50 == 49)
			pair(t, 0, 0, &in, NULL, 0x02, 1, 0,
			     "reason=no_mapping");
		else if (i % 2)
			pair(t, flow, 0, &in, &inn, 0x10, (uint32_t)i, 40, rule);
		else
			pair(t, flow, 1, &o, &on, 0x18, (uint32_t)i, 60, rule);
		t += 1000;
	}
}

int main(int argc, char **argv)
{
	w = pcapng_w_open_file(stdout, err, sizeof err);
	if (!w || pcapng_w_interface(w, "pre-nat", 101, err, sizeof err) != 0 ||
	    pcapng_w_interface(w, "post-nat", 101, err, sizeof err) != 1) {
		fprintf(stderr, "natdump_gen: %s\n", err);
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "scenario") == 0)
		scenario();
	else if (argc == 5 && strcmp(argv[1], "bench") == 0)
		bench(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
		      strtoull(argv[4], NULL, 10));
	else {
		fprintf(stderr, "usage: natdump_gen scenario | bench FIRST "
				"PAIRS START_NS\n");
		return 2;
	}
	pcapng_w_close(w);
	return fflush(stdout) == 0 ? 0 : 1;
}
