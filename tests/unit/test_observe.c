/* The observers together: with tiny queues and slow writers the engine is
 * never stalled or changed, and every loss is both counted and reported
 * (trace.loss / log.loss events add up to the counters). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "capture.h"
#include "capture_zstd.h"
#include "config.h"
#include "engine.h"
#include "observe.h"
#include "packet.h"
#include "pktbuild.h"

#define NAT IP4(203, 0, 113, 1)
#define S 1000000000ull

static struct nat_rule_cfg rule;

static void cfg_init(struct nat_config *c)
{
	nat_config_defaults(c);
	c->nat_ip = NAT;
	c->internal.addr = IP4(172, 17, 240, 0);
	c->internal.len = 24;
	memset(&rule, 0, sizeof(rule));
	snprintf(rule.name, sizeof(rule.name), "internet");
	rule.action = NAT_ACT_NAT;
	c->rules = &rule;
	c->n_rules = 1;
	c->limits.max_flows = 4096;
}

/* Sum of isb_ifdrop over every ring file in dir, read back through the
 * same reader natdump uses. */
static uint64_t ring_ifdrop(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "no trace directory %s", dir);
	uint64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".pcapng.zst"))
			continue;
		char path[512], err[256];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f);
		struct cap_source fs, zs;
		cap_source_file(&fs, f);
		struct cap_zstd *z = cap_zstd_new(&fs, err, sizeof(err));
		cr_assert_not_null(z, "%s", err);
		cap_zstd_source(z, &zs);
		struct cap_reader *r = cap_open(&zs, err, sizeof(err));
		cr_assert_not_null(r, "%s: %s", path, err);
		struct cap_packet pkt;
		int rc;
		while ((rc = cap_next(r, &pkt, err, sizeof(err))) == 1)
			;
		cr_assert_eq(rc, 0, "%s: %s", path, err);
		total += cap_ifdrop(r);
		cap_close(r);
		cap_zstd_free(z);
		fclose(f);
	}
	closedir(d);
	return total;
}

/* Packet k of a fixed mix: new UDP flows, their replies, unsolicited
 * drops. */
static size_t packet(uint8_t *b, unsigned k, enum nat_dir *dir)
{
	uint32_t in = IP4(172, 17, 240, 10 + (k / 3) % 200);
	uint16_t port = (uint16_t)(20000 + (k / 3) % 500);
	uint32_t rem = IP4(198, 51, 100, 1 + k % 7);
	switch (k % 3) {
	case 0:
		*dir = NAT_DIR_OUT;
		return tb_udp(b, in, port, rem, 53, 32);
	case 1:
		*dir = NAT_DIR_IN;
		return tb_udp(b, rem, 53, NAT, port, 32);
	default:
		*dir = NAT_DIR_IN;
		return tb_tcp(b, rem, 1234, NAT, (uint16_t)(50000 + k % 999),
			      NAT_TCP_SYN, 0);
	}
}

Test(observe, slow_writers_lose_counted_records_never_stall_or_change)
{
	char dir[] = "/tmp/glassnat-obs-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char events[256], trace[256];
	snprintf(events, sizeof(events), "%s/ev.json", dir);
	snprintf(trace, sizeof(trace), "%s/trace", dir);

	struct nat_config c;
	cfg_init(&c);
	c.trace.queue = 2;   /* 3200 bytes: a handful of records */
	c.logging.queue = 8; /* slots */
	char err[256];
	struct nat_engine *e = nat_engine_create(&c, err, sizeof(err));
	struct nat_engine *ref = nat_engine_create(&c, err, sizeof(err));
	cr_assert(e && ref, "%s", err);
	struct nat_observers ob;
	struct nat_obs_opts o = {.events = events,
				 .trace_dir = trace,
				 .format = NAT_LOG_JSON,
				 .test_trace_delay_us = 300,
				 .test_log_delay_us = 300};
	cr_assert_eq(nat_obs_open(&ob, e, &c, &o, err, sizeof(err)), 0, "%s",
		     err);

	enum { N = 6000 };
	uint8_t a[256], b[256];
	for (unsigned k = 0; k < N; k++) {
		enum nat_dir d;
		size_t n = packet(a, k, &d);
		memcpy(b, a, n);
		uint64_t ts = (uint64_t)k * (S / 1000); /* 1 ms apart */
		struct nat_meta m = {.dir = d, .ts_ns = ts};
		struct nat_result ra, rb;
		nat_process(e, a, n, &m, &ra);
		nat_process(ref, b, n, &m, &rb);
		cr_assert_eq(ra.verdict, rb.verdict,
			     "packet %u: observers changed the verdict", k);
		cr_assert(memcmp(a, b, n) == 0,
			  "packet %u: observers changed the bytes", k);
		nat_obs_poll(&ob, ts);
	}
	struct nat_obs_counts cnt;
	nat_obs_close(&ob, 0, &cnt);
	cr_assert_eq(nat_engine_stats(e)->packets, N);
	cr_assert_gt(cnt.trace_lost, 0, "the test did not overflow the trace");
	cr_assert_gt(cnt.log_lost, 0, "the test did not overflow the log");
	cr_assert_eq(cnt.trace_selected,
		     cnt.trace_written + cnt.trace_lost + cnt.trace_failed);

	cr_assert_eq(ring_ifdrop(trace), cnt.trace_lost + cnt.trace_failed,
		     "the rings' isb_ifdrop must add up to the trace losses");

	FILE *f = fopen(events, "r");
	cr_assert_not_null(f);
	char line[8192];
	uint64_t trace_reported = 0, log_reported = 0, lines = 0;
	while (fgets(line, sizeof(line), f)) {
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);
		cr_assert_not_null(j, "line %llu is not JSON: %s",
				   (unsigned long long)lines, je.text);
		const char *ev = json_string_value(json_object_get(j, "ev"));
		cr_assert_not_null(ev);
		if (!strcmp(ev, "trace.loss"))
			trace_reported += (uint64_t)json_integer_value(
				json_object_get(j, "lost_since_last"));
		if (!strcmp(ev, "log.loss"))
			log_reported += (uint64_t)json_integer_value(
				json_object_get(j, "lost_since_last"));
		else
			lines++; /* log.loss lines are not counted written */
		json_decref(j);
	}
	fclose(f);
	cr_assert_eq(trace_reported, cnt.trace_lost,
		     "trace.loss events (%llu) != trace lost (%llu)",
		     (unsigned long long)trace_reported,
		     (unsigned long long)cnt.trace_lost);
	cr_assert_eq(log_reported, cnt.log_lost,
		     "log.loss events (%llu) != log_lost (%llu)",
		     (unsigned long long)log_reported,
		     (unsigned long long)cnt.log_lost);
	cr_assert_eq(lines, cnt.log_written,
		     "%llu records in the file, %llu counted written",
		     (unsigned long long)lines,
		     (unsigned long long)cnt.log_written);
	nat_engine_destroy(e);
	nat_engine_destroy(ref);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}
