/* The counter registry (nat/control/metrics.c): every output carries
 * every sample, the JSON form reads back to the same snapshot, the
 * Prometheus text has HELP and TYPE per family, the final statistics keep
 * Hyper-NAT's lines first, docs/metrics.md is the registry's table; and
 * the config keys metrics: and ipfix: (nat/config/config_observe.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "protocol.h"

static char g_buf[65536];

static void sample(struct nat_metrics *m)
{
	static struct nat_stats st;
	static struct nat_ctl_extra x;
	memset(&st, 0, sizeof(st));
	memset(&x, 0, sizeof(x));
	/* A distinct value for every source field, to catch crossed rows. */
	st.packets = 1001;
	st.bytes = 1002;
	st.natted = 1003;
	st.bypassed = 1004;
	st.passed = 1005;
	st.dropped = 1006;
	st.flows_active = 1007;
	st.flows_total = 1008;
	st.flows_expired = 1009;
	st.flows_evicted = 1010;
	st.hairpinned = 1011;
	st.port_exhausted_events = 1012;
	st.table_full_events = 1013;
	st.by_reason[NAT_R_NO_MAPPING] = 1014;
	st.frag.dropped_overlap = 1015;
	x.traced = true;
	x.trace_lost = 1016;
	x.trace_failed = 1017;
	x.logged = true;
	x.log_lost = 1018;
	x.ctl_errors[NAT_CTL_E_BUSY] = 1019;
	x.n_backend = 2;
	x.backend[0] = (struct nat_live_counter){ .name = "queue_dropped",
						  .value = 145092 };
	x.backend[1] = (struct nat_live_counter){ .name = "enobufs",
						  .value = 1020 };
	nat_metrics_hist_add(&x.flow_duration, 500000000ull);
	nat_metrics_hist_add(&x.flow_duration, 7200ull * 1000000000ull);
	nat_metrics_fill(m, &st, &x);
}

Test(metrics, the_registry_fits_its_snapshot)
{
	cr_assert_leq(nat_metrics_count(), NAT_METRICS_MAX,
		      "%zu samples: raise NAT_METRICS_MAX",
		      nat_metrics_count());
	struct nat_metrics m;
	sample(&m);
	cr_assert_eq(m.n, nat_metrics_count());
}

Test(metrics, backend_counters_the_backend_lacks_are_absent)
{
	struct nat_metrics m;
	sample(&m);
	int qd = nat_metrics_index("queue.queue_dropped", NULL);
	int gso = nat_metrics_index("queue.gso", NULL);
	cr_assert_geq(qd, 0);
	cr_assert_eq(m.v[qd], 145092);
	cr_assert(!m.absent[qd]);
	cr_assert(m.absent[gso], "gso: not reported by this backend");
	nat_metrics_json(&m, g_buf, sizeof(g_buf));
	cr_assert(strstr(g_buf, "\"queue_dropped\":145092"), "%s", g_buf);
	cr_assert_null(strstr(g_buf, "\"gso\""), "%s", g_buf);
}

Test(metrics, json_reads_back_to_the_same_snapshot)
{
	struct nat_metrics m, back;
	sample(&m);
	size_t n = nat_metrics_json(&m, g_buf, sizeof(g_buf));
	cr_assert_lt(n, sizeof(g_buf));
	json_error_t err;
	json_t *o = json_loads(g_buf, 0, &err);
	cr_assert_not_null(o, "%s: %s", err.text, g_buf);
	/* The keys the control protocol has always answered. */
	cr_assert_eq(json_integer_value(json_object_get(o, "natted")), 1003);
	cr_assert_eq(json_integer_value(json_object_get(
			     json_object_get(o, "by_reason"), "no_mapping")),
		     1014);
	cr_assert(json_is_true(
		json_object_get(json_object_get(o, "trace"), "open")));
	cr_assert_eq(json_integer_value(json_object_get(
			     json_object_get(json_object_get(o, "control"),
					     "errors"),
			     "busy")),
		     1019);
	nat_metrics_from_json(&back, o);
	json_decref(o);
	cr_assert_eq(back.n, m.n);
	for (size_t i = 0; i < m.n; i++) {
		cr_assert_eq(back.absent[i], m.absent[i], "sample %zu", i);
		cr_assert_eq(back.v[i], m.v[i], "sample %zu", i);
	}
	cr_assert_eq(memcmp(&back.flow_duration, &m.flow_duration,
			    sizeof(m.flow_duration)),
		     0);
}

/* Every sample line's family has HELP and TYPE before it, once; counter
 * families end in _total; no family appears in two places. */
Test(metrics, prometheus_text_has_help_and_type_for_every_family)
{
	struct nat_metrics m;
	sample(&m);
	size_t n = nat_metrics_prometheus(&m, g_buf, sizeof(g_buf));
	cr_assert_lt(n, sizeof(g_buf));
	char *save, *line, done[256][64];
	size_t ndone = 0, samples = 0;
	char help[64] = "", type[64] = "", kind[16] = "";
	for (line = strtok_r(g_buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		if (sscanf(line, "# HELP %63s", name) == 1) {
			for (size_t i = 0; i < ndone; i++)
				cr_assert_str_neq(done[i], name,
						  "%s twice", name);
			snprintf(help, sizeof(help), "%s", name);
			snprintf(done[ndone++], 64, "%s", name);
			continue;
		}
		if (sscanf(line, "# TYPE %63s %15s", name, kind) == 2) {
			cr_assert_str_eq(name, help, "TYPE without HELP");
			snprintf(type, sizeof(type), "%s", name);
			if (strcmp(kind, "counter") == 0)
				cr_assert(strstr(name, "_total"), "%s", name);
			continue;
		}
		cr_assert_neq(line[0], '#', "%s", line);
		cr_assert_eq(strncmp(line, type, strlen(type)), 0,
			     "sample %s outside its family %s", line, type);
		samples++;
	}
	/* Every present sample, plus the histogram's 10 buckets, sum and
	 * count. */
	size_t present = 0;
	for (size_t i = 0; i < m.n; i++)
		present += !m.absent[i];
	cr_assert_eq(samples, present + 12, "%zu lines, %zu samples", samples,
		     present);
}

Test(metrics, prometheus_histogram_is_cumulative)
{
	struct nat_metrics m;
	sample(&m);
	nat_metrics_prometheus(&m, g_buf, sizeof(g_buf));
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_bucket{le=\"1\"} 1\n"), "%s", g_buf);
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_bucket{le=\"1800\"} 1\n"));
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_bucket{le=\"7440\"} 2\n"));
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_sum 7200.500\n"));
	cr_assert(strstr(g_buf, "glassnat_flow_duration_seconds_count 2\n"));
	cr_assert(strstr(g_buf, "glassnat_queue_overflow_total 145092\n"));
	cr_assert(strstr(g_buf, "glassnat_drops_total{reason=\"no_mapping\"} 1014\n"));
}

struct lines {
	char text[64][160];
	bool warn[64];
	size_t n;
};

static void collect(void *ctx, const char *comp, bool warn, const char *line)
{
	struct lines *l = ctx;
	cr_assert_lt(l->n, 64);
	snprintf(l->text[l->n], sizeof(l->text[0]), "[%s] %s", comp, line);
	l->warn[l->n++] = warn;
}

static bool has_line(const struct lines *l, const char *s, bool warn)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->text[i], s) == 0)
			return l->warn[i] == warn;
	return false;
}

Test(metrics, final_statistics_keep_hyper_nat_lines_first_then_the_rest)
{
	struct nat_metrics m;
	sample(&m);
	struct lines l = { .n = 0 };
	nat_metrics_text(&m, collect, &l);
	static const char *const hyper[] = {
		"[MAIN]   Packets processed: 1001", "[MAIN]   Packets NATted: 1003",
		"[MAIN]   Packets bypassed: 1004",  "[MAIN]   Packets passed: 1005",
		"[MAIN]   Packets dropped: 1006",   "[MAIN]   Active connections: 1007",
		"[MAIN]   Total connections: 1008",
	};
	for (size_t i = 0; i < 7; i++)
		cr_assert_str_eq(l.text[i], hyper[i], "line %zu", i);
	cr_assert(has_line(&l, "[MAIN]   Passed/dropped no_mapping: 1014", false));
	cr_assert(has_line(&l, "[MAIN]   Port exhaustion events: 1012", true));
	cr_assert(has_line(&l, "[FRAG]   Fragments dropped_overlap: 1015", false));
	cr_assert(has_line(&l, "[QUEUE]   Queue overflow: 145092, ENOBUFS: 1020", true),
		  "absent counters are left out of the line");
	cr_assert(has_line(&l, "[TRACE]   Trace packets written: 0, lost (queue full): 1016, lost (write errors): 1017", true));
	cr_assert(has_line(&l, "[LOG]   Events written: 0, lost: 1018, drop events rate-limited: 0", true));
	cr_assert(has_line(&l, "[CONTROL]   Control requests: 0, refused busy: 1019", false));
	for (size_t i = 0; i < l.n; i++)
		cr_assert_null(strstr(l.text[i], "IPFIX"), "ipfix not open: %s",
			       l.text[i]);
}

Test(metrics, docs_metrics_md_has_the_registry_table)
{
	FILE *f = fopen("docs/metrics.md", "r");
	cr_assert_not_null(f, "docs/metrics.md (run from the top directory)");
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	nat_metrics_doc(g_buf, sizeof(g_buf));
	cr_assert(strstr(doc, g_buf),
		  "docs/metrics.md lacks the registry's table; it is:\n%s",
		  g_buf);
}

static int load(const char *text, struct nat_config *cfg, char *err)
{
	return nat_config_load_mem("t.yaml", text, strlen(text), cfg, err,
				   256);
}

#define BASE "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

Test(metrics, config_metrics_and_ipfix_are_off_unless_set)
{
	struct nat_config cfg;
	char err[256];
	cr_assert_eq(load(BASE, &cfg, err), 0, "%s", err);
	cr_assert(!cfg.metrics.enabled);
	cr_assert(!cfg.ipfix.enabled);
	nat_config_free(&cfg);
	cr_assert_eq(load(BASE "metrics: {listen: \"127.0.0.1:9469\"}\n"
			       "ipfix: {collector: \"198.51.100.9:4739\", "
			       "template_interval: 30s, observation_domain: 7}\n",
			  &cfg, err),
		     0, "%s", err);
	cr_assert(cfg.metrics.enabled);
	cr_assert_eq(cfg.metrics.addr, 0x7f000001);
	cr_assert_eq(cfg.metrics.port, 9469);
	cr_assert(cfg.ipfix.enabled);
	cr_assert_eq(cfg.ipfix.addr, 0xc6336409);
	cr_assert_eq(cfg.ipfix.port, 4739);
	cr_assert_eq(cfg.ipfix.template_interval, 30);
	cr_assert_eq(cfg.ipfix.queue, 4096);
	cr_assert_eq(cfg.ipfix.domain, 7);
	nat_config_free(&cfg);
}

Test(metrics, config_bad_endpoints_are_named_with_their_place)
{
	struct nat_config cfg;
	char err[256];
	cr_assert_eq(load(BASE "metrics: {listen: \"127.0.0.1\"}\n", &cfg, err),
		     -1);
	cr_assert(strstr(err, "t.yaml:3:19: metrics.listen: \"127.0.0.1\" is "
			      "not IPV4:PORT"),
		  "%s", err);
	cr_assert_eq(load(BASE "metrics: {listen: \"127.0.0.1:70000\"}\n", &cfg,
			  err),
		     -1);
	cr_assert(strstr(err, "metrics.listen"), "%s", err);
	cr_assert_eq(load(BASE "ipfix: {collector: \"0.0.0.0:4739\"}\n", &cfg,
			  err),
		     -1);
	cr_assert(strstr(err, "ipfix.collector: 0.0.0.0 is not a unicast"),
		  "%s", err);
	cr_assert_eq(load(BASE "ipfix: {queue: 10}\n", &cfg, err), -1);
	cr_assert(strstr(err, "collector"), "%s", err);
	cr_assert_eq(load(BASE "ipfix: {collector: \"198.51.100.9:4739\", "
			       "templates: 1}\n",
			  &cfg, err),
		     -1);
	cr_assert(strstr(err, "templates"), "%s", err);
}
