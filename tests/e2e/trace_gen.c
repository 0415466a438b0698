/* Test helper for trace_cut_test.sh: pushes UDP/TCP/ICMP traffic through
 * an engine with the tracer hooked, ending a zstd frame (trace_sync) after
 * every batch, and prints the ring file's compressed size after each
 * frame, one a line: the frame boundaries the cut test checks against.
 *
 *   trace_gen DIR FRAMES PAIRS_PER_FRAME
 *
 * Prints "file PATH" first. Exit 0, or 1 with a message on stderr. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: trace_gen DIR FRAMES PAIRS\n");
		return 1;
	}
	int frames = atoi(argv[2]), pairs = atoi(argv[3]);
	static struct nat_rule_cfg rule = { .action = NAT_ACT_NAT,
					    .name = "internet" };
	struct nat_config cfg;
	char err[256];
	nat_config_defaults(&cfg);
	cfg.nat_ip = 0xC0A82D39u; /* 192.168.45.57 */
	cfg.internal.addr = 0xAC11F000u;
	cfg.internal.len = 24;
	cfg.rules = &rule;
	cfg.n_rules = 1;
	cfg.limits.max_flows = 4096;
	struct nat_engine *e = nat_engine_create(&cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	struct tracer *t =
		trace_open(&cfg.trace, argv[1], NULL, err, sizeof err);
	if (!t) {
		fprintf(stderr, "trace: %s\n", err);
		return 1;
	}
	struct trace_engine_ctx ctx = { t, e };
	struct nat_hooks h = { .ctx = &ctx, .packet = trace_hook };
	nat_engine_set_hooks(e, &h);

	char path[600] = "";
	uint8_t b[2048];
	uint64_t ts = 1700000000ull * 1000000000ull;
	for (int f = 0; f < frames; f++) {
		for (int i = 0; i < pairs; i++) {
			size_t n = udp(b, (unsigned)(i % 7),
				       (uint16_t)(20000 + f * 10 + i % 10),
				       (size_t)((f * 131 + i * 17) % 900));
			struct nat_meta m = { .dir = NAT_DIR_OUT, .ts_ns = ts };
			struct nat_result r;
			nat_process(e, b, n, &m, &r);
			ts += 1000;
		}
		trace_sync(t);
		if (!*path) {
			DIR *d = opendir(argv[1]);
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (strstr(de->d_name, ".pcapng.zst"))
					snprintf(path, sizeof path, "%s/%s",
						 argv[1], de->d_name);
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
	if (lost || written != (uint64_t)frames * (uint64_t)pairs * 2) {
		fprintf(stderr, "lost %llu, written %llu\n",
			(unsigned long long)lost, (unsigned long long)written);
		return 1;
	}
	return 0;
}
