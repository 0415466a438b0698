/* Test helper for the trace tests: pushes UDP traffic through an engine
 * with the tracer hooked.
 *
 *   trace_gen DIR FLUSHES PAIRS_PER_FLUSH
 *	flushes the ring (trace_sync) after every batch and prints the ring
 *	file's compressed size after each flush, one a line: the flush
 *	points trace_cut_test.sh checks against. Prints "file PATH" first.
 *   trace_gen live DIR SECONDS PAIRS_PER_SECOND
 *	paces the traffic on the wall clock (timestamps are the wall clock,
 *	batches every 10 ms) and never syncs: the tracer's own timer
 *	flushes. After each batch prints "MS PAIRS": the wall clock in ms
 *	and the pairs handed to the tracer so far. Closes the ring at the
 *	end, unless killed first (trace_tshark_test.sh kills it).
 *   trace_gen capture OUT.pcapng PACKETS SECONDS
 *	writes an input capture for `glassnat replay`: PACKETS outbound UDP
 *	packets from inside hosts (direction flag outbound, LINKTYPE_RAW),
 *	spread evenly over SECONDS.
 *
 * Exit 0, or 1 with a message on stderr. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pcapng_write.h"

#include "config.h"
#include "engine.h"
#include "tracer.h"

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

static uint16_t csum(const uint8_t *d, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (n & 1)
		s += (uint32_t)d[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A UDP packet from 172.17.240.(10+host):sport to 198.51.100.10:53. */
static size_t udp(uint8_t *b, unsigned host, uint16_t sport, size_t plen)
{
	size_t total = 28 + plen;
	memset(b, 0, total);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)total);
	b[8] = 64;
	b[9] = 17;
	put32(b + 12, 0xAC11F000u | (10 + host));
	put32(b + 16, 0xC633640Au);
	put16(b + 10, csum(b, 20, 0));
	put16(b + 20, sport);
	put16(b + 22, 53);
	put16(b + 24, (uint16_t)(8 + plen));
	for (size_t i = 0; i < plen; i++)
		b[28 + i] = (uint8_t)(i * 31 + sport);
	/* checksum 0: none, valid for UDP over IPv4 */
	return total;
}

static struct nat_rule_cfg g_rule = { .action = NAT_ACT_NAT,
				      .name = "internet" };

static void config(struct nat_config *cfg)
{
	nat_config_defaults(cfg);
	cfg->nat_ip = 0xC0A82D39u; /* 192.168.45.57 */
	cfg->internal.addr = 0xAC11F000u;
	cfg->internal.len = 24;
	cfg->rules = &g_rule;
	cfg->n_rules = 1;
	cfg->limits.max_flows = 4096;
}

/* The i-th packet of batch f: 7 hosts, 10 source ports per batch, payload
 * lengths spread so the trace does not compress to nothing. */
static size_t packet(uint8_t *b, int f, int i)
{
	return udp(b, (unsigned)(i % 7),
		   (uint16_t)(20000 + f % 2000 * 10 + i % 10),
		   (size_t)((f * 131 + i * 17) % 900));
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int capture(const char *out, long packets, long seconds)
{
	char err[256];
	FILE *f = fopen(out, "wb");
	if (!f) {
		perror(out);
		return 1;
	}
	struct pcapng_w *w = pcapng_w_open_file(f, err, sizeof err);
	if (!w || pcapng_w_interface(w, "inside", 101, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", out, err);
		return 1;
	}
	uint8_t b[2048];
	uint64_t t0 = 1700000000ull * 1000000000ull;
	uint64_t step = (uint64_t)seconds * 1000000000ull / (uint64_t)packets;
	for (long i = 0; i < packets; i++) {
		size_t n = packet(b, (int)(i / 500), (int)(i % 500));
		if (pcapng_w_packet(w, 0, t0 + (uint64_t)i * step, b, n, n,
				    PCAPNG_W_DIR_OUT, NULL, err,
				    sizeof err) < 0) {
			fprintf(stderr, "%s: %s\n", out, err);
			return 1;
		}
	}
	pcapng_w_close(w);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}
	return 0;
}

static int live(struct nat_engine *e, struct tracer *t, long seconds, long rate)
{
	uint8_t b[2048];
	uint64_t start = wall_ns(),
		 end = start + (uint64_t)seconds * 1000000000ull;
	long sent = 0;
	for (;;) {
		uint64_t now = wall_ns();
		if (now >= end)
			break;
		/* pairs due by now at `rate` a second */
		long due = (long)((now - start) / 1000000ull * (uint64_t)rate /
				  1000);
		for (; sent < due; sent++) {
			size_t n =
				packet(b, (int)(sent / 500), (int)(sent % 500));
			struct nat_meta m = { .dir = NAT_DIR_OUT,
					      .ts_ns = wall_ns() };
			struct nat_result r;
			nat_process(e, b, n, &m, &r);
		}
		printf("%llu %ld\n", (unsigned long long)(wall_ns() / 1000000u),
		       sent);
		fflush(stdout);
		usleep(10000);
	}
	uint64_t lost = trace_lost(t);
	trace_close(t);
	if (lost) {
		fprintf(stderr, "lost %llu\n", (unsigned long long)lost);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "capture"))
		return capture(argv[2], atol(argv[3]), atol(argv[4]));
	bool is_live = argc == 5 && !strcmp(argv[1], "live");
	if (argc != 4 && !is_live) {
		fprintf(stderr,
			"usage: trace_gen DIR FLUSHES PAIRS\n"
			"       trace_gen live DIR SECONDS PAIRS_PER_SECOND\n"
			"       trace_gen capture OUT.pcapng PACKETS "
			"SECONDS\n");
		return 1;
	}
	const char *dir = argv[is_live ? 2 : 1];
	struct nat_config cfg;
	char err[256];
	config(&cfg);
	struct nat_engine *e = nat_engine_create(&cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	struct tracer *t = trace_open(&cfg.trace, dir, NULL, err, sizeof err);
	if (!t) {
		fprintf(stderr, "trace: %s\n", err);
		return 1;
	}
	struct trace_engine_ctx ctx = { t, e };
	struct nat_hooks h = { .ctx = &ctx, .packet = trace_hook };
	nat_engine_set_hooks(e, &h);
	if (is_live) {
		int rc = live(e, t, atol(argv[3]), atol(argv[4]));
		nat_engine_destroy(e);
		return rc;
	}

	int flushes = atoi(argv[2]), pairs = atoi(argv[3]);
	char path[600] = "";
	uint8_t b[2048];
	uint64_t ts = 1700000000ull * 1000000000ull;
	for (int f = 0; f < flushes; f++) {
		for (int i = 0; i < pairs; i++) {
			size_t n = packet(b, f, i);
			struct nat_meta m = { .dir = NAT_DIR_OUT, .ts_ns = ts };
			struct nat_result r;
			nat_process(e, b, n, &m, &r);
			ts += 1000;
		}
		trace_sync(t);
		if (!*path) {
			DIR *d = opendir(dir);
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (strstr(de->d_name, ".pcapng.zst"))
					snprintf(path, sizeof path, "%s/%s",
						 dir, de->d_name);
			if (d)
				closedir(d);
			printf("file %s\n", path);
		}
		struct stat st;
		if (stat(path, &st) < 0) {
			perror(path);
			return 1;
		}
		printf("%lld\n", (long long)st.st_size);
	}
	uint64_t lost = trace_lost(t), written = trace_written(t);
	trace_close(t);
	nat_engine_destroy(e);
	if (lost || written != (uint64_t)flushes * (uint64_t)pairs * 2) {
		fprintf(stderr, "lost %llu, written %llu\n",
			(unsigned long long)lost, (unsigned long long)written);
		return 1;
	}
	return 0;
}
