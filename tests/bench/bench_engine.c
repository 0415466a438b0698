/* Engine benchmark: packets per second on one core for established flows
 * (64- and 1500-byte packets, both directions), new flows per second, at
 * 1k and 1M flows, and memory per flow. Medians of several rounds; no
 * assertion on speed (the machines are shared and noisy): it reports.
 *
 * Every packet is restored from a per-flow header template before it is
 * processed (the engine rewrites in place); only the headers are copied,
 * as only they are read — the payload stays in the buffer, as it would in
 * a NIC ring. Flows are visited in a random order so the 1M case pays the
 * cache misses a real gateway pays. */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "observe.h"
#include "tracer.h"

#define HDR 40 /* IPv4 + TCP headers copied per packet */
#define ROUNDS 5

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t csum(uint32_t s, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (n & 1)
		s += (uint32_t)d[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A TCP packet of total length `len` (headers + zero payload). The TCP
 * checksum covers the zero payload, so it is valid for any length. */
static void tcp_pkt(uint8_t *b, size_t len, uint32_t src, uint16_t sport,
		    uint32_t dst, uint16_t dport, uint8_t flags)
{
	memset(b, 0, HDR);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)len);
	b[8] = 64;
	b[9] = 6;
	put32(b + 12, src);
	put32(b + 16, dst);
	put16(b + 10, csum(0, b, 20));
	uint8_t *t = b + 20;
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, 1);
	put32(t + 8, 1);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	uint32_t s = 0;
	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	s += 6 + (uint32_t)(len - 20);
	put16(t + 16, csum(s, t, 20)); /* payload is zeros */
}

struct flows {
	uint32_t n;
	uint8_t *out_tpl; /* n * HDR */
	uint8_t *in_tpl;
	uint32_t *order; /* visiting order, random */
	uint8_t *ring;	 /* RING packets' headers in arrival order */
};

/* Packets arrive in a ring, as from a NIC or a queue: the headers the
 * engine reads are laid out in arrival order (out, in, out, ...) for flows
 * taken in random order. */
#define RING (1u << 21)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static struct nat_config make_cfg(uint32_t max_flows)
{
	static struct nat_rule_cfg rule;
	struct nat_config c;
	nat_config_defaults(&c);
	c.nat_ip = 0xcb007101u; /* 203.0.113.1 */
	c.internal.addr = 0xac100000u; /* 172.16.0.0/12 */
	c.internal.len = 12;
	memset(&rule, 0, sizeof(rule));
	snprintf(rule.name, sizeof(rule.name), "internet");
	rule.action = NAT_ACT_NAT;
	c.rules = &rule;
	c.n_rules = 1;
	c.port_range.lo = 1024;
	c.port_range.hi = 65535;
	c.limits.max_flows = max_flows;
	return c;
}

/* Flow i: inside endpoint i / REMOTES, remote i % REMOTES, so endpoints
 * share external ports the way EIM makes them. */
#define REMOTES 64
static uint32_t in_ip(uint32_t i) { return 0xac100000u + (i / REMOTES) / 16 + 1; }
static uint16_t in_port(uint32_t i) { return (uint16_t)(10000 + (i / REMOTES) % 16); }
static uint32_t rem_ip(uint32_t i) { return 0xc6336400u + i % REMOTES; }

static uint64_t ts; /* engine time: 1 µs per packet, no expiry */

static void open_flows(struct nat_engine *e, struct flows *f, uint32_t from,
		       uint32_t to, size_t len)
{
	uint8_t b[HDR];
	struct nat_result r;
	for (uint32_t i = from; i < to; i++) {
		struct nat_meta m = {.dir = NAT_DIR_OUT, .ts_ns = ts += 1000};
		tcp_pkt(b, len, in_ip(i), in_port(i), rem_ip(i), 443,
			0x02 /* SYN */);
		nat_process(e, b, len, &m, &r);
		if (r.verdict != NAT_V_NAT) {
			fprintf(stderr, "bench: flow %u not opened: %s\n", i,
				nat_reason_name(r.reason));
			exit(1);
		}
		uint16_t mapped = (uint16_t)(b[20] << 8 | b[21]);
		if (f) {
			tcp_pkt(f->out_tpl + (size_t)i * HDR, len, in_ip(i),
				in_port(i), rem_ip(i), 443, 0x10);
			tcp_pkt(f->in_tpl + (size_t)i * HDR, len, rem_ip(i),
				443, 0xcb007101u, mapped, 0x10);
		}
		uint8_t sa[HDR];
		m.dir = NAT_DIR_IN;
		tcp_pkt(sa, len, rem_ip(i), 443, 0xcb007101u, mapped, 0x12);
		nat_process(e, sa, len, &m, &r);
		m.dir = NAT_DIR_OUT;
		tcp_pkt(b, len, in_ip(i), in_port(i), rem_ip(i), 443, 0x10);
		nat_process(e, b, len, &m, &r);
	}
}

/* Established-flow throughput: alternating out and in packets, handed
 * to the engine in batches of BATCH as a queue backend receives them. */
#define BATCH 32
static double run_established(struct nat_engine *e, const struct flows *f,
			      size_t len, uint64_t packets)
{
	static uint8_t buf[BATCH][2048];
	uint8_t *pk[BATCH];
	size_t lens[BATCH];
	struct nat_meta m[BATCH];
	struct nat_result r[BATCH];
	uint64_t bad = 0;
	for (int i = 0; i < BATCH; i++) {
		pk[i] = buf[i];
		lens[i] = len;
		m[i] = (struct nat_meta){.dir = (i & 1) ? NAT_DIR_IN
							: NAT_DIR_OUT,
					 .ts_ns = ts};
	}
	uint64_t t0 = now_ns();
	for (uint64_t k = 0; k < packets; k += BATCH) {
		for (int i = 0; i < BATCH; i++)
			memcpy(buf[i],
			       f->ring + (size_t)((k + (uint64_t)i) % RING) * HDR,
			       HDR);
		nat_process_batch(e, pk, lens, m, r, BATCH);
		for (int i = 0; i < BATCH; i++)
			bad += r[i].verdict != NAT_V_NAT;
	}
	uint64_t t1 = now_ns();
	ts += 1000;
	if (bad) {
		fprintf(stderr, "bench: %" PRIu64 " packets not translated\n",
			bad);
		exit(1);
	}
	return (double)packets / ((double)(t1 - t0) / 1e9);
}

/* Resident memory now, in bytes (/proc/self/statm), so the engine's own
 * share can be told from the benchmark's buffers. */
static long rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * 4096;
}

/* ---- trace: every packet selected ----
 *
 * The same established traffic with every packet selected by the trace
 * (no filter) and events on. Unlike the runs above, each packet carries
 * its own random payload (a pool larger than zstd's window, so the trace
 * is as incompressible as TLS traffic), because the trace copies and
 * compresses the payload. The engine stays on CPU 0; the writer thread
 * may run on any CPU. The engine thread only copies into the bounded
 * queue; what the writer cannot keep up with is dropped and counted, so
 * the lines report: the engine's rate with tracing (the cost on the
 * forwarding path), the writer's rate (records it stored per second of
 * the run, as pcapng bytes and bytes on disk, and its CPU), and the
 * loss; then the loss when the same packets are offered at a fixed rate
 * (TRACE_PPS packets a second, default half the writer's rate). */
#define TPOOL_PKTS 65536u /* 65536 x 1500 B = 96 MiB of payload */
#define TPOOL_STRIDE 1536u

static uint8_t *tpool; /* TPOOL_PKTS packets, random payloads */

static double cpu_s(int who)
{
	struct rusage u;
	getrusage(who, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Established traffic from the payload pool; pps 0 = as fast as the
 * engine goes, else paced to pps packets a second. Returns the seconds
 * taken. */
static double run_traced(struct nat_engine *e, const struct flows *f,
			 size_t len, uint64_t packets, double pps)
{
	uint8_t *pk[BATCH];
	size_t lens[BATCH];
	struct nat_meta m[BATCH];
	struct nat_result r[BATCH];
	uint64_t bad = 0;
	for (int i = 0; i < BATCH; i++) {
		lens[i] = len;
		m[i] = (struct nat_meta){.dir = (i & 1) ? NAT_DIR_IN
							: NAT_DIR_OUT,
					 .ts_ns = ts};
	}
	uint64_t t0 = now_ns();
	for (uint64_t k = 0; k < packets; k += BATCH) {
		if (pps > 0) {
			uint64_t due = t0 + (uint64_t)((double)k / pps * 1e9);
			while (now_ns() < due)
				;
		}
		for (int i = 0; i < BATCH; i++) {
			uint64_t n = k + (uint64_t)i;
			pk[i] = tpool + (size_t)(n % TPOOL_PKTS) * TPOOL_STRIDE;
			memcpy(pk[i], f->ring + (size_t)(n % RING) * HDR, HDR);
		}
		nat_process_batch(e, pk, lens, m, r, BATCH);
		for (int i = 0; i < BATCH; i++)
			bad += r[i].verdict != NAT_V_NAT;
	}
	uint64_t t1 = now_ns();
	ts += 1000;
	if (bad) {
		fprintf(stderr, "bench: %" PRIu64 " packets not translated\n",
			bad);
		exit(1);
	}
	return (double)(t1 - t0) / 1e9;
}

struct trace_run {
	double secs;	   /* offering, engine side */
	double drain_secs; /* until the writer had stored everything */
	double cpu_other;  /* CPU seconds of the other threads (writers) */
	uint64_t selected, written, lost;
};

static void trace_phase(struct nat_observers *ob, struct nat_engine *e,
			const struct flows *f, size_t len, uint64_t packets,
			double pps, struct trace_run *tr)
{
	uint64_t s0 = trace_selected(ob->trace);
	uint64_t w0 = trace_written(ob->trace);
	uint64_t l0 = trace_lost(ob->trace) + trace_failed(ob->trace);
	double all0 = cpu_s(RUSAGE_SELF), me0 = cpu_s(RUSAGE_THREAD);
	uint64_t t0 = now_ns();
	tr->secs = run_traced(e, f, len, packets, pps);
	trace_sync(ob->trace);
	tr->drain_secs = (double)(now_ns() - t0) / 1e9;
	tr->cpu_other = (cpu_s(RUSAGE_SELF) - all0) -
			(cpu_s(RUSAGE_THREAD) - me0);
	tr->selected = trace_selected(ob->trace) - s0;
	tr->written = trace_written(ob->trace) - w0;
	tr->lost = trace_lost(ob->trace) + trace_failed(ob->trace) - l0;
}

static double loss_pct(const struct trace_run *tr)
{
	return 100.0 * (double)tr->lost /
	       (double)(tr->selected ? tr->selected : 1);
}

static void bench_traced(struct nat_engine *e, const struct nat_config *cfg,
			 const struct flows *f, size_t len, double plain_pps)
{
	if (!tpool) {
		tpool = malloc((size_t)TPOOL_PKTS * TPOOL_STRIDE);
		if (!tpool) {
			fprintf(stderr, "bench: out of memory\n");
			exit(1);
		}
		for (size_t i = 0; i < (size_t)TPOOL_PKTS * TPOOL_STRIDE;
		     i += 8) {
			uint64_t v = rnd();
			memcpy(tpool + i, &v, 8);
		}
	}
	char dir[] = "/tmp/glassnat-bench-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("bench: mkdtemp");
		return;
	}
	char tdir[64], evs[64], err[256];
	snprintf(tdir, sizeof(tdir), "%s/trace", dir);
	snprintf(evs, sizeof(evs), "%s/events.json", dir);
	struct nat_observers ob;
	struct nat_obs_opts o = {.events = evs, .trace_dir = tdir,
				 .format = NAT_LOG_JSON};
	/* The writer threads inherit the affinity: let them run anywhere,
	 * then pin the engine back to CPU 0. */
	cpu_set_t all, one;
	CPU_ZERO(&all);
	for (int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, &all);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	(void)sched_setaffinity(0, sizeof(all), &all);
	int rc = nat_obs_open(&ob, e, cfg, &o, err, sizeof(err));
	(void)sched_setaffinity(0, sizeof(one), &one);
	if (rc < 0) {
		fprintf(stderr, "bench: %s\n", err);
		return;
	}
	/* EPB: 28 + packet + flags 8 + comment (~92) + end 4 + length 4 */
	double epb = 28.0 + (double)len + 8 + 92 + 8;
	uint64_t packets = 4000000;
	struct trace_run full, paced;
	trace_phase(&ob, e, f, len, packets, 0, &full);
	double mpps = (double)packets / full.secs / 1e6;
	double wr = (double)full.written / full.drain_secs;
	printf("  traced     %8u flows  %4zu-byte  %8.2f Mpps  (%.0f%% of "
	       "untraced; every packet selected, random payloads: %" PRIu64
	       " records written, %" PRIu64 " lost = %.1f%%)\n",
	       f->n, len, mpps, 100.0 * mpps * 1e6 / plain_pps, full.written,
	       full.lost, loss_pct(&full));
	printf("  trace writer             %4zu-byte  %8.3f M records/s  "
	       "%6.0f MB/s of pcapng, %.2f CPU s per GB (threads other than "
	       "the engine's)\n",
	       len, wr / 1e6, wr * epb / 1e6,
	       full.cpu_other / ((double)full.written * epb / 1e9));
	const char *env = getenv("TRACE_PPS");
	/* Two records a packet: half the writer's rate in packets is a
	 * quarter of its records. */
	double pps = env ? strtod(env, NULL) : wr / 4;
	uint64_t n_paced = (uint64_t)(pps * 3); /* 3 s */
	n_paced -= n_paced % BATCH;
	if (n_paced >= BATCH) {
		trace_phase(&ob, e, f, len, n_paced, pps, &paced);
		printf("  traced, paced            %4zu-byte  %8.3f M packets/s "
		       "offered (%s) for %.1f s: %" PRIu64
		       " records written, %" PRIu64 " lost = %.2f%%\n",
		       len, pps / 1e6,
		       env ? "TRACE_PPS" : "half the writer's rate",
		       paced.secs, paced.written, paced.lost,
		       loss_pct(&paced));
	}
	nat_obs_close(&ob, ts, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
}

static void bench_size(uint32_t n)
{
	struct nat_config cfg = make_cfg(n);
	char err[256];
	struct flows f = {.n = n};
	f.out_tpl = malloc((size_t)n * HDR);
	f.in_tpl = malloc((size_t)n * HDR);
	f.order = malloc((size_t)n * sizeof(uint32_t));
	f.ring = malloc((size_t)RING * HDR);
	if (!f.out_tpl || !f.in_tpl || !f.order || !f.ring) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	/* Touch the benchmark's own buffers before measuring the engine (with
	 * a nonzero byte: malloc + memset 0 may become an untouched calloc). */
	memset(f.out_tpl, 1, (size_t)n * HDR);
	memset(f.in_tpl, 1, (size_t)n * HDR);
	memset(f.ring, 1, (size_t)RING * HDR);
	for (uint32_t i = 0; i < n; i++)
		f.order[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd() % (i + 1));
		uint32_t t = f.order[i];
		f.order[i] = f.order[j];
		f.order[j] = t;
	}
	long rss0 = rss_bytes();
	struct nat_engine *e = nat_engine_create(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	open_flows(e, &f, 0, n, 64);
	long rss1 = rss_bytes();

	uint64_t packets = n < 1000000 ? 20000000 : 8000000;
	const size_t sizes[2] = {64, 1500};
	double plain = 0;
	for (int s = 0; s < 2; s++) {
		/* Templates carry the length; rebuild for this size. */
		for (uint32_t i = 0; i < n; i++) {
			put16(f.out_tpl + (size_t)i * HDR + 2,
			      (uint16_t)sizes[s]);
			put16(f.in_tpl + (size_t)i * HDR + 2,
			      (uint16_t)sizes[s]);
		}
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *o = f.out_tpl + (size_t)i * HDR;
			uint8_t *in = f.in_tpl + (size_t)i * HDR;
			uint16_t mp = (uint16_t)(in[22] << 8 | in[23]);
			tcp_pkt(o, sizes[s], in_ip(i), in_port(i), rem_ip(i),
				443, 0x10);
			tcp_pkt(in, sizes[s], rem_ip(i), 443, 0xcb007101u, mp,
				0x10);
		}
		for (uint32_t k = 0; k < RING; k++) {
			uint32_t i = f.order[(k / 2) % n];
			memcpy(f.ring + (size_t)k * HDR,
			       ((k & 1) ? f.in_tpl : f.out_tpl) + (size_t)i * HDR,
			       HDR);
		}
		double v[ROUNDS];
		for (int k = 0; k < ROUNDS; k++)
			v[k] = run_established(e, &f, sizes[s], packets);
		plain = median(v, ROUNDS);
		printf("established  %8u flows  %4zu-byte  %8.2f Mpps  "
		       "(median of %d, %" PRIu64 " packets each)\n",
		       n, sizes[s], plain / 1e6, ROUNDS, packets);
	}
	/* Last: closing the observers closes every flow of this engine. */
	bench_traced(e, &cfg, &f, sizes[1], plain);
	nat_engine_destroy(e);

	/* New flows per second with the table already holding n flows. */
	double v[ROUNDS];
	for (int k = 0; k < ROUNDS; k++) {
		struct nat_config c2 = make_cfg(2 * n);
		struct nat_engine *e2 = nat_engine_create(&c2, err,
							  sizeof(err));
		if (!e2) {
			fprintf(stderr, "bench: %s\n", err);
			exit(1);
		}
		open_flows(e2, NULL, 0, n, 64);
		uint64_t t0 = now_ns();
		open_flows(e2, NULL, n, 2 * n, 64);
		uint64_t t1 = now_ns();
		/* open_flows sends three packets per flow; count flows. */
		v[k] = (double)n / ((double)(t1 - t0) / 1e9);
		nat_engine_destroy(e2);
	}
	printf("new flows    %8u -> %u flows      %8.2f M flows/s "
	       "(3-packet TCP handshake each, median of %d)\n",
	       n, 2 * n, median(v, ROUNDS) / 1e6, ROUNDS);
	printf("memory       %8u flows  %zu bytes/flow (record + indexes), "
	       "%.1f bytes/flow with port pools, measured RSS %.1f "
	       "bytes/flow\n",
	       n, nat_engine_flow_bytes(),
	       (double)nat_engine_memory(&cfg) / n,
	       (double)(rss1 - rss0) / n);
	free(f.out_tpl);
	free(f.in_tpl);
	free(f.order);
	free(f.ring);
}

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: bench_engine [FLOWS...]\n"
		       "Engine benchmark on one core (default: 1000 and "
		       "1048576 flows).\n");
		return 0;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("bench: sched_setaffinity (continuing unpinned)");
	printf("glassnat engine benchmark: one core, no hooks, TCP "
	       "established flows, alternating out/in\n");
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			bench_size((uint32_t)strtoul(argv[i], NULL, 10));
	} else {
		bench_size(1000);
		bench_size(1u << 20);
	}
	return 0;
}
