/* The event log: every event type as JSON (parsed back with jansson and
 * checked field by field and against docs/events.schema.json) and as
 * Hyper-NAT text; escaping; pkt.drop rate limiting; a slow writer that
 * loses records without ever blocking the producer, and accounts for every
 * one; reopen after a logrotate rename; stdout. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "pktbuild.h"

#define S 1000000000ull

static char g_dir[64];
static char g_path[128];

static void tmp_init(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/glassnat-log-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/events.log", g_dir);
}

static void tmp_fini(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", g_dir);
}

TestSuite(log, .init = tmp_init, .fini = tmp_fini);

/* 2026-11-23T01:02:03.456789123Z */
static uint64_t ts0(void)
{
	struct tm tm = { .tm_year = 126,
			 .tm_mon = 10,
			 .tm_mday = 23,
			 .tm_hour = 1,
			 .tm_min = 2,
			 .tm_sec = 3 };
	return (uint64_t)timegm(&tm) * S + 456789123ull;
}

static struct log_writer *open_log(const char *path, enum nat_log_format f,
				   bool verbose, uint32_t queue,
				   uint32_t delay_us)
{
	char err[256];
	struct log_opts o = { .path = path,
			      .format = f,
			      .verbose = verbose,
			      .queue = queue,
			      .test_delay_us = delay_us };
	struct log_writer *w = log_open(&o, err, sizeof(err));
	cr_assert_not_null(w, "log_open: %s", err);
	return w;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot read %s", path);
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		size_t k = fread(buf + n, 1, 4096, f);
		n += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Splits buf in place into lines; returns their number. */
static size_t lines_of(char *buf, char **lines, size_t max)
{
	size_t n = 0;
	for (char *p = buf; *p && n < max;) {
		char *nl = strchr(p, '\n');
		cr_assert_not_null(nl, "last line has no newline: %s", p);
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

static json_t *parse(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &e);
	cr_assert_not_null(j, "not JSON (%s): %s", e.text, line);
	cr_assert(json_is_object(j), "not an object: %s", line);
	return j;
}

/* The object has exactly these keys (NULL-terminated). */
static void assert_keys(json_t *o, const char *const *keys, const char *line)
{
	size_t n = 0;
	for (; keys[n]; n++)
		cr_assert_not_null(json_object_get(o, keys[n]),
				   "missing \"%s\" in %s", keys[n], line);
	cr_assert_eq(json_object_size(o), n, "%zu keys instead of %zu in %s",
		     json_object_size(o), n, line);
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_string(v), "\"%s\" is not a string", k);
	return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", k);
	return json_integer_value(v);
}

static void assert_ep(json_t *o, const char *k, const char *ip, int port)
{
	json_t *ep = json_object_get(o, k);
	cr_assert(json_is_object(ep), "\"%s\" is not an object", k);
	static const char *const keys[] = { "ip", "port", NULL };
	assert_keys(ep, keys, k);
	cr_assert_str_eq(jstr(ep, "ip"), ip, "%s.ip", k);
	cr_assert_eq(jint(ep, "port"), port, "%s.port", k);
}

/* ---- a small engine, only for rule and forward names ---- */

static struct nat_rule_cfg g_rules[4];
static struct nat_forward_cfg g_fwd[2];
static struct nat_config g_cfg;

static struct nat_engine *names_engine(const char *rule0, const char *rule1)
{
	char err[256];
	nat_config_defaults(&g_cfg);
	memset(g_rules, 0, sizeof(g_rules));
	memset(g_fwd, 0, sizeof(g_fwd));
	snprintf(g_cfg.path, sizeof(g_cfg.path), "configs/hyper-nat.yaml");
	g_cfg.nat_ip = IP4(192, 168, 45, 57);
	g_cfg.internal.addr = IP4(172, 17, 240, 0);
	g_cfg.internal.len = 24;
	snprintf(g_rules[0].name, NAT_NAME_MAX, "%s", rule1);
	g_rules[0].action = NAT_ACT_BYPASS;
	g_rules[0].dst.addr = IP4(192, 168, 45, 0);
	g_rules[0].dst.len = 24;
	snprintf(g_rules[1].name, NAT_NAME_MAX, "%s", rule0);
	g_rules[1].action = NAT_ACT_NAT;
	g_cfg.rules = g_rules;
	g_cfg.n_rules = 2;
	g_fwd[0] = (struct nat_forward_cfg){ .proto = 6,
					     .ext_port = 8080,
					     .int_ip = IP4(172, 17, 240, 21),
					     .int_port = 80 };
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "Web");
	g_cfg.forwards = g_fwd;
	g_cfg.n_forwards = 1;
	g_cfg.limits.max_flows = 64;
	struct nat_engine *e = nat_engine_create(&g_cfg, err, sizeof(err));
	cr_assert_not_null(e, "engine: %s", err);
	return e;
}

/* ---- hand-made events, one of each engine type ---- */

static struct nat_event ev_snat_open(void)
{
	struct nat_event ev = { .type = NAT_EV_FLOW_OPEN, .ts_ns = ts0() };
	ev.flow = (struct nat_flow_info){ .id = 42,
					  .proto = 6,
					  .kind = NAT_FLOW_SNAT,
					  .tcp_state = NAT_TCP_SYN_SENT,
					  .rule = 1,
					  .in_ip = IP4(172, 17, 240, 21),
					  .in_port = 54321,
					  .map_ip = IP4(192, 168, 45, 57),
					  .map_port = 40001,
					  .rem_ip = IP4(142, 250, 207, 46),
					  .rem_port = 443,
					  .first_ns = ts0(),
					  .last_ns = ts0(),
					  .pkts_out = 1,
					  .bytes_out = 60 };
	return ev;
}

static struct nat_event ev_icmp_open(void)
{
	struct nat_event ev = { .type = NAT_EV_FLOW_OPEN, .ts_ns = ts0() };
	ev.flow = (struct nat_flow_info){ .id = 43,
					  .proto = 1,
					  .kind = NAT_FLOW_SNAT,
					  .rule = 1,
					  .in_ip = IP4(172, 17, 240, 21),
					  .in_port = 44,
					  .map_ip = IP4(192, 168, 45, 57),
					  .map_port = 40006,
					  .rem_ip = IP4(8, 8, 8, 8),
					  .rem_port = 44 };
	return ev;
}

static struct nat_event ev_bypass_open(void)
{
	struct nat_event ev = { .type = NAT_EV_FLOW_OPEN, .ts_ns = ts0() };
	ev.flow = (struct nat_flow_info){ .id = 44,
					  .proto = 6,
					  .kind = NAT_FLOW_BYPASS,
					  .tcp_state = NAT_TCP_SYN_SENT,
					  .rule = 0,
					  .in_ip = IP4(172, 17, 240, 21),
					  .in_port = 54322,
					  .map_ip = IP4(172, 17, 240, 21),
					  .map_port = 54322,
					  .rem_ip = IP4(192, 168, 45, 100),
					  .rem_port = 22 };
	return ev;
}

static struct nat_event ev_forward_open(void)
{
	struct nat_event ev = { .type = NAT_EV_FLOW_OPEN, .ts_ns = ts0() };
	ev.flow = (struct nat_flow_info){ .id = 45,
					  .proto = 6,
					  .kind = NAT_FLOW_FORWARD,
					  .tcp_state = NAT_TCP_SYN_SENT,
					  .rule = 0,
					  .in_ip = IP4(172, 17, 240, 21),
					  .in_port = 80,
					  .map_ip = IP4(192, 168, 45, 57),
					  .map_port = 8080,
					  .rem_ip = IP4(198, 51, 100, 7),
					  .rem_port = 50000 };
	return ev;
}

static struct nat_event ev_state(void)
{
	struct nat_event ev = ev_snat_open();
	ev.type = NAT_EV_FLOW_STATE;
	ev.old_state = NAT_TCP_SYN_SENT;
	ev.flow.tcp_state = NAT_TCP_ESTABLISHED;
	return ev;
}

static struct nat_event ev_close(enum nat_close_reason why)
{
	struct nat_event ev = ev_snat_open();
	ev.type = NAT_EV_FLOW_CLOSE;
	ev.close_reason = why;
	ev.flow.tcp_state = NAT_TCP_ESTABLISHED;
	ev.flow.last_ns = ev.flow.first_ns + 12500000000ull;
	ev.flow.pkts_out = 10;
	ev.flow.pkts_in = 8;
	ev.flow.bytes_out = 1234;
	ev.flow.bytes_in = 5678;
	return ev;
}

static struct nat_event ev_drop(uint64_t ts)
{
	struct nat_event ev = { .type = NAT_EV_PKT_DROP,
				.ts_ns = ts,
				.reason = NAT_R_NO_MAPPING };
	ev.flow = (struct nat_flow_info){ .proto = 6,
					  .rule = NAT_RULE_NONE,
					  .rem_ip = IP4(203, 0, 113, 99),
					  .rem_port = 1234,
					  .map_ip = IP4(192, 168, 45, 57),
					  .map_port = 40123 };
	return ev;
}

static struct nat_event ev_limit(enum nat_event_type t, enum nat_reason r)
{
	struct nat_event ev = { .type = t, .ts_ns = ts0(), .reason = r };
	ev.flow = (struct nat_flow_info){ .proto = 17,
					  .rule = NAT_RULE_NONE,
					  .in_ip = IP4(172, 17, 240, 22),
					  .in_port = 5353,
					  .rem_ip = IP4(198, 51, 100, 1),
					  .rem_port = 53 };
	return ev;
}

static struct nat_event ev_sweep(void)
{
	struct nat_event ev = { .type = NAT_EV_EXPIRED_SWEEP,
				.ts_ns = ts0(),
				.n_expired = 5,
				.n_remaining = 10 };
	return ev;
}

static struct nat_stats sample_stats(void)
{
	struct nat_stats st = { .packets = 1234,
				.natted = 1000,
				.bypassed = 200,
				.dropped = 34,
				.flows_active = 5,
				.flows_total = 150 };
	st.by_reason[NAT_R_NO_MAPPING] = 30;
	st.by_reason[NAT_R_MALFORMED_IP] = 4;
	return st;
}

/* Writes one of everything through w. */
static void emit_all(struct log_writer *w, struct nat_engine *e)
{
	struct log_engine_ctx c = { .w = w, .e = e };
	struct nat_event evs[] = {
		ev_snat_open(),
		ev_icmp_open(),
		ev_bypass_open(),
		ev_forward_open(),
		ev_state(),
		ev_close(NAT_CLOSE_TIMEOUT),
		ev_close(NAT_CLOSE_EVICTED),
		ev_drop(ts0()),
		ev_limit(NAT_EV_PORT_EXHAUSTED, NAT_R_PORT_EXHAUSTED),
		ev_limit(NAT_EV_TABLE_FULL, NAT_R_TABLE_FULL),
		ev_sweep()
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		log_engine_event(&c, &evs[i]);
	log_config_load(w, ts0(), &g_cfg, NULL);
	log_config_load(w, ts0(), &g_cfg, "rules: +1 -0");
	log_trace_loss(w, ts0(), 3, 7);
	log_text(w, ts0(), LOG_INFO, "MAIN", "glassnat %s starting", "0.1");
	struct nat_stats st = sample_stats();
	struct nat_metrics m;
	nat_metrics_fill(&m, &st, NULL);
	log_final_stats(w, ts0(), &m);
}

static const char *const K_FLOW[] = { "ts",   "ev",	"flow",	  "proto",
				      "kind", "inside", "mapped", "remote",
				      "rule", NULL };

Test(log, json_every_event_has_exactly_the_documented_fields)
{
	struct nat_engine *e = names_engine("인터넷", "호스트 네트워크");
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 64, 0);
	emit_all(w, e);
	log_close(w);
	nat_engine_destroy(e);

	char *buf = slurp(g_path);
	char *l[64];
	size_t n = lines_of(buf, l, 64);
	cr_assert_eq(n, 16, "%zu lines", n);
	json_t *j;

	/* flow.open, TCP SNAT */
	j = parse(l[0]);
	{
		static const char *const k[] = { "ts",	   "ev",     "flow",
						 "proto",  "kind",   "inside",
						 "mapped", "remote", "rule",
						 "state",  NULL };
		assert_keys(j, k, l[0]);
	}
	cr_assert_str_eq(jstr(j, "ts"), "2026-11-23T01:02:03.456789Z");
	cr_assert_str_eq(jstr(j, "ev"), "flow.open");
	cr_assert_eq(jint(j, "flow"), 42);
	cr_assert_str_eq(jstr(j, "proto"), "tcp");
	cr_assert_str_eq(jstr(j, "kind"), "snat");
	assert_ep(j, "inside", "172.17.240.21", 54321);
	assert_ep(j, "mapped", "192.168.45.57", 40001);
	assert_ep(j, "remote", "142.250.207.46", 443);
	cr_assert_str_eq(jstr(j, "rule"), "인터넷");
	cr_assert_str_eq(jstr(j, "state"), "SYN_SENT");
	json_decref(j);

	/* flow.open, ICMP: no state; port is the echo identifier */
	j = parse(l[1]);
	assert_keys(j, K_FLOW, l[1]);
	cr_assert_str_eq(jstr(j, "proto"), "icmp");
	assert_ep(j, "inside", "172.17.240.21", 44);
	assert_ep(j, "mapped", "192.168.45.57", 40006);
	json_decref(j);

	/* bypass, forward: the forward's name is the rule */
	j = parse(l[2]);
	cr_assert_str_eq(jstr(j, "kind"), "bypass");
	cr_assert_str_eq(jstr(j, "rule"), "호스트 네트워크");
	json_decref(j);
	j = parse(l[3]);
	cr_assert_str_eq(jstr(j, "kind"), "forward");
	cr_assert_str_eq(jstr(j, "rule"), "Web");
	assert_ep(j, "remote", "198.51.100.7", 50000);
	json_decref(j);

	/* flow.state */
	j = parse(l[4]);
	{
		static const char *const k[] = {
			"ts",	"ev",	     "flow",   "proto",
			"kind", "inside",    "mapped", "remote",
			"rule", "old_state", "state",  NULL
		};
		assert_keys(j, k, l[4]);
	}
	cr_assert_str_eq(jstr(j, "ev"), "flow.state");
	cr_assert_str_eq(jstr(j, "old_state"), "SYN_SENT");
	cr_assert_str_eq(jstr(j, "state"), "ESTABLISHED");
	json_decref(j);

	/* flow.close and flow.evicted */
	static const char *const kc[] = {
		"ts",	  "ev",	      "flow",	  "proto",     "kind",
		"inside", "mapped",   "remote",	  "rule",      "state",
		"end",	  "pkts_out", "pkts_in",  "bytes_out", "bytes_in",
		"first",  "last",     "duration", NULL
	};
	for (int i = 5; i <= 6; i++) {
		j = parse(l[i]);
		assert_keys(j, kc, l[i]);
		cr_assert_str_eq(jstr(j, "ev"),
				 i == 5 ? "flow.close" : "flow.evicted");
		cr_assert_str_eq(jstr(j, "end"),
				 i == 5 ? "timeout" : "evicted");
		cr_assert_eq(jint(j, "pkts_out"), 10);
		cr_assert_eq(jint(j, "pkts_in"), 8);
		cr_assert_eq(jint(j, "bytes_out"), 1234);
		cr_assert_eq(jint(j, "bytes_in"), 5678);
		cr_assert_str_eq(jstr(j, "first"),
				 "2026-11-23T01:02:03.456789Z");
		cr_assert_str_eq(jstr(j, "last"),
				 "2026-11-23T01:02:15.956789Z");
		json_t *d = json_object_get(j, "duration");
		cr_assert(json_is_real(d), "duration not a float: %s", l[i]);
		cr_assert_float_eq(json_real_value(d), 12.5, 1e-9);
		json_decref(j);
	}

	/* pkt.drop, inbound: remote and mapped, no inside; rule null */
	j = parse(l[7]);
	{
		static const char *const k[] = { "ts",	  "ev",	    "flow",
						 "proto", "mapped", "remote",
						 "rule",  "reason", NULL };
		assert_keys(j, k, l[7]);
	}
	cr_assert_eq(jint(j, "flow"), 0);
	cr_assert(json_is_null(json_object_get(j, "rule")));
	cr_assert_str_eq(jstr(j, "reason"), "no_mapping");
	json_decref(j);

	/* port.exhausted, table.full */
	static const char *const kl[] = { "ts",	    "ev",     "flow",	"proto",
					  "inside", "remote", "reason", NULL };
	j = parse(l[8]);
	assert_keys(j, kl, l[8]);
	cr_assert_str_eq(jstr(j, "ev"), "port.exhausted");
	cr_assert_str_eq(jstr(j, "reason"), "port_exhausted");
	cr_assert_str_eq(jstr(j, "proto"), "udp");
	json_decref(j);
	j = parse(l[9]);
	assert_keys(j, kl, l[9]);
	cr_assert_str_eq(jstr(j, "ev"), "table.full");
	json_decref(j);

	/* flows.expired */
	j = parse(l[10]);
	{
		static const char *const k[] = { "ts", "ev", "expired",
						 "remaining", NULL };
		assert_keys(j, k, l[10]);
	}
	cr_assert_eq(jint(j, "expired"), 5);
	cr_assert_eq(jint(j, "remaining"), 10);
	json_decref(j);

	/* config.load, first and reload */
	static const char *const kcfg[] = {
		"ts",	 "ev",	     "path",	  "nat_ip",  "internal_network",
		"rules", "forwards", "filtering", "changes", NULL
	};
	j = parse(l[11]);
	assert_keys(j, kcfg, l[11]);
	cr_assert_str_eq(jstr(j, "path"), "configs/hyper-nat.yaml");
	cr_assert_str_eq(jstr(j, "nat_ip"), "192.168.45.57");
	cr_assert_str_eq(jstr(j, "internal_network"), "172.17.240.0/24");
	cr_assert_eq(jint(j, "rules"), 2);
	cr_assert_eq(jint(j, "forwards"), 1);
	cr_assert(json_is_null(json_object_get(j, "changes")));
	json_decref(j);
	j = parse(l[12]);
	cr_assert_str_eq(jstr(j, "changes"), "rules: +1 -0");
	json_decref(j);

	/* trace.loss, log */
	j = parse(l[13]);
	{
		static const char *const k[] = { "ts", "ev", "lost_since_last",
						 "lost_total", NULL };
		assert_keys(j, k, l[13]);
	}
	cr_assert_eq(jint(j, "lost_since_last"), 3);
	cr_assert_eq(jint(j, "lost_total"), 7);
	json_decref(j);
	j = parse(l[14]);
	{
		static const char *const k[] = { "ts",	      "ev",  "level",
						 "component", "msg", NULL };
		assert_keys(j, k, l[14]);
	}
	cr_assert_str_eq(jstr(j, "level"), "info");
	cr_assert_str_eq(jstr(j, "msg"), "glassnat 0.1 starting");
	json_decref(j);

	/* stats */
	j = parse(l[15]);
	cr_assert_str_eq(jstr(j, "ev"), "stats");
	cr_assert_eq(jint(j, "packets"), 1234);
	cr_assert_eq(jint(j, "flows_total"), 150);
	cr_assert_eq(jint(j, "trace_lost"), 7);
	cr_assert_eq(jint(j, "log_lost"), 0);
	json_t *br = json_object_get(j, "by_reason");
	cr_assert(json_is_object(br));
	cr_assert_eq(json_object_size(br), NAT_R_MAX - 1);
	cr_assert_eq(jint(br, "no_mapping"), 30);
	cr_assert_eq(jint(json_object_get(j, "suppressed"), "no_mapping"), 0);
	json_decref(j);
	free(buf);
}

/* ---- structural check against docs/events.schema.json ---- */

static json_t *g_schema;

static json_t *resolve(json_t *s)
{
	json_t *ref = json_object_get(s, "$ref");
	if (!json_is_string(ref))
		return s;
	const char *r = json_string_value(ref);
	cr_assert(strncmp(r, "#/$defs/", 8) == 0, "unsupported $ref %s", r);
	json_t *d = json_object_get(json_object_get(g_schema, "$defs"), r + 8);
	cr_assert_not_null(d, "dangling $ref %s", r);
	return resolve(d);
}

static bool type_ok(const char *t, json_t *v)
{
	if (!strcmp(t, "object"))
		return json_is_object(v);
	if (!strcmp(t, "string"))
		return json_is_string(v);
	if (!strcmp(t, "integer"))
		return json_is_integer(v);
	if (!strcmp(t, "number"))
		return json_is_number(v);
	if (!strcmp(t, "null"))
		return json_is_null(v);
	if (!strcmp(t, "boolean"))
		return json_is_boolean(v);
	cr_assert_fail("unsupported type %s", t);
	return false;
}

/* A oneOf branch: type, enum, minimum, maximum only. */
static bool simple_ok(json_t *s, json_t *v)
{
	json_t *t = json_object_get(s, "type"),
	       *en = json_object_get(s, "enum");
	json_t *min = json_object_get(s, "minimum");
	json_t *max = json_object_get(s, "maximum");
	if (t && !type_ok(json_string_value(t), v))
		return false;
	if (en) {
		bool ok = false;
		size_t i;
		json_t *x;
		json_array_foreach(en, i, x) ok |= json_equal(x, v);
		if (!ok)
			return false;
	}
	if (min && json_number_value(v) < json_number_value(min))
		return false;
	if (max && json_number_value(v) > json_number_value(max))
		return false;
	return true;
}

/* Checks v against the schema keywords glassnat's schema uses: $ref,
 * type, const, enum, pattern, minimum, maximum, oneOf (of simple
 * branches), properties, required, additionalProperties. */
static void check(json_t *s, json_t *v, const char *where)
{
	s = resolve(s);
	json_t *one = json_object_get(s, "oneOf");
	if (one) {
		size_t i, hits = 0;
		json_t *x;
		json_array_foreach(one, i, x) hits += simple_ok(x, v);
		cr_assert_eq(hits, 1, "%s: matches %zu oneOf branches", where,
			     hits);
	}
	json_t *t = json_object_get(s, "type");
	if (json_is_string(t))
		cr_assert(type_ok(json_string_value(t), v), "%s: not %s", where,
			  json_string_value(t));
	else if (json_is_array(t)) {
		bool ok = false;
		size_t i;
		json_t *x;
		json_array_foreach(t, i, x)
			ok |= type_ok(json_string_value(x), v);
		cr_assert(ok, "%s: wrong type", where);
	}
	json_t *c = json_object_get(s, "const");
	if (c)
		cr_assert(json_equal(c, v), "%s: not the const", where);
	json_t *en = json_object_get(s, "enum");
	if (en) {
		bool ok = false;
		size_t i;
		json_t *x;
		json_array_foreach(en, i, x) ok |= json_equal(x, v);
		cr_assert(ok, "%s: not in enum", where);
	}
	json_t *pat = json_object_get(s, "pattern");
	if (pat && json_is_string(v)) {
		regex_t re;
		cr_assert_eq(regcomp(&re, json_string_value(pat),
				     REG_EXTENDED | REG_NOSUB),
			     0, "bad pattern");
		cr_assert_eq(regexec(&re, json_string_value(v), 0, NULL, 0), 0,
			     "%s: \"%s\" does not match %s", where,
			     json_string_value(v), json_string_value(pat));
		regfree(&re);
	}
	json_t *min = json_object_get(s, "minimum");
	if (min && json_is_number(v))
		cr_assert(json_number_value(v) >= json_number_value(min),
			  "%s below minimum", where);
	json_t *max = json_object_get(s, "maximum");
	if (max && json_is_number(v))
		cr_assert(json_number_value(v) <= json_number_value(max),
			  "%s above maximum", where);
	if (!json_is_object(v))
		return;
	json_t *props = json_object_get(s, "properties");
	json_t *req = json_object_get(s, "required");
	json_t *addl = json_object_get(s, "additionalProperties");
	size_t i;
	json_t *x;
	json_array_foreach(req, i, x) cr_assert_not_null(
		json_object_get(v, json_string_value(x)),
		"%s: required \"%s\" missing", where, json_string_value(x));
	const char *k;
	json_object_foreach(v, k, x)
	{
		char sub[256];
		snprintf(sub, sizeof(sub), "%s.%s", where, k);
		json_t *ps = props ? json_object_get(props, k) : NULL;
		if (ps)
			check(ps, x, sub);
		else if (json_is_false(addl))
			cr_assert_fail("%s: not in the schema", sub);
		else if (json_is_object(addl))
			check(addl, x, sub);
	}
}

Test(log, every_line_matches_the_schema)
{
	json_error_t err;
	g_schema = json_load_file("docs/events.schema.json", 0, &err);
	cr_assert_not_null(g_schema, "docs/events.schema.json: %s (line %d)",
			   err.text, err.line);
	cr_assert_str_eq(
		json_string_value(json_object_get(g_schema, "$schema")),
		"https://json-schema.org/draft/2020-12/schema");
	json_t *defs = json_object_get(g_schema, "$defs");

	struct nat_engine *e = names_engine("in\"ter\\net\x01", "bypass");
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 8, 2000);
	emit_all(w, e);
	/* Lose some on purpose so log.loss appears too. */
	struct log_engine_ctx c = { .w = w, .e = e };
	for (int i = 0; i < 200; i++) {
		struct nat_event ev = ev_sweep();
		log_engine_event(&c, &ev);
	}
	log_close(w);
	nat_engine_destroy(e);

	char *buf = slurp(g_path);
	static char *l[4096];
	size_t n = lines_of(buf, l, 4096);
	bool seen_loss = false;
	for (size_t i = 0; i < n; i++) {
		json_t *j = parse(l[i]);
		const char *ev = jstr(j, "ev");
		seen_loss |= !strcmp(ev, "log.loss");
		json_t *def = json_object_get(defs, ev);
		cr_assert_not_null(def, "no schema for %s", ev);
		/* the top-level oneOf names the definition too */
		bool listed = false;
		size_t k;
		json_t *x;
		json_array_foreach(json_object_get(g_schema, "oneOf"), k, x)
		{
			const char *r =
				json_string_value(json_object_get(x, "$ref"));
			listed |= r && !strcmp(r + 8, ev);
		}
		cr_assert(listed, "%s not in oneOf", ev);
		check(def, j, ev);
		json_decref(j);
	}
	cr_assert(seen_loss, "no log.loss line");
	json_decref(g_schema);
	free(buf);
}

Test(log, hostile_names_are_escaped_and_utf8_passes_through)
{
	const char *hostile = "a\"b\\c\n\t\x01\x1f 한국어 \xff\xc0\xaf end";
	struct nat_engine *e = names_engine(hostile, "호스트 네트워크");
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 64, 0);
	struct log_engine_ctx c = { .w = w, .e = e };
	struct nat_event ev = ev_snat_open();
	log_engine_event(&c, &ev);
	log_text(w, ts0(), LOG_WARN, "MAIN", "msg %s", hostile);
	log_close(w);
	nat_engine_destroy(e);

	char *buf = slurp(g_path);
	char *l[4];
	cr_assert_eq(lines_of(buf, l, 4), 2);
	/* Raw form: control characters as \u00XX, Korean bytes unchanged,
	 * invalid bytes as U+FFFD. */
	cr_assert_not_null(strstr(l[0], "\"rule\":\"a\\\"b\\\\c\\u000a\\u0009"
					"\\u0001\\u001f 한국어 "
					"\\ufffd\\ufffd\\ufffd end\""),
			   "raw: %s", l[0]);
	json_t *j = parse(l[0]);
	cr_assert_str_eq(jstr(j, "rule"),
			 "a\"b\\c\n\t\x01\x1f 한국어 \xef\xbf\xbd\xef\xbf\xbd"
			 "\xef\xbf\xbd end");
	json_decref(j);
	j = parse(l[1]);
	cr_assert_str_eq(jstr(j, "level"), "warn");
	cr_assert(strncmp(jstr(j, "msg"), "msg a\"b\\c\n", 10) == 0);
	json_decref(j);
	free(buf);

	/* Text: a name cannot start a new line. */
	cr_assert_eq(unlink(g_path), 0);
	e = names_engine(hostile, "x");
	w = open_log(g_path, NAT_LOG_TEXT, true, 64, 0);
	c = (struct log_engine_ctx){ .w = w, .e = e };
	ev = ev_bypass_open();
	ev.flow.rule = 1;
	log_engine_event(&c, &ev);
	log_close(w);
	nat_engine_destroy(e);
	buf = slurp(g_path);
	cr_assert(strstr(buf,
			 "(rule: a\"b\\c\\x0a\\x09\\x01\\x1f 한국어 ??? end)"),
		  "text: %s", buf);
	cr_assert_eq(strchr(buf, '\n'), buf + strlen(buf) - 1,
		     "more than one line: %s", buf);
	free(buf);
}

Test(log, text_renders_the_hyper_nat_forms)
{
	struct nat_engine *e = names_engine("인터넷", "호스트 네트워크");
	struct log_writer *w = open_log(g_path, NAT_LOG_TEXT, true, 64, 0);
	emit_all(w, e);
	log_text(w, ts0(), LOG_DEBUG, "ENGINE", "debug shown with verbose");
	log_close(w);

	char *buf = slurp(g_path);
	char *l[64];
	size_t n = lines_of(buf, l, 64);
	const char *want[] = {
		"[2026-11-23T01:02:03.456Z] [INFO] [NAT] New TCP "
		"172.17.240.21:54321 → 142.250.207.46:443 (mapped to :40001) "
		"(flow 42)",
		"[2026-11-23T01:02:03.456Z] [INFO] [NAT] New ICMP 172.17.240.21 "
		"→ 8.8.8.8 (ID:44 mapped to ID:40006) (flow 43)",
		"[2026-11-23T01:02:03.456Z] [DEBUG] [BYPASS] TCP "
		"172.17.240.21:54322 → 192.168.45.100:22 (rule: 호스트 "
		"네트워크) (flow 44)",
		"[2026-11-23T01:02:03.456Z] [INFO] [FORWARD] New TCP "
		"198.51.100.7:50000 → :8080 forwarded to 172.17.240.21:80 "
		"(forward: Web) (flow 45)",
		"[2026-11-23T01:02:03.456Z] [DEBUG] [TABLE] TCP state: SYN_SENT "
		"→ ESTABLISHED (flow 42)",
		"[2026-11-23T01:02:03.456Z] [DEBUG] [TABLE] Closed TCP "
		"172.17.240.21:54321 → 142.250.207.46:443 (mapped to :40001): "
		"timeout after 12.500000 s, out 10 pkts 1234 bytes, in 8 pkts "
		"5678 bytes (flow 42)",
		"[2026-11-23T01:02:03.456Z] [INFO] [TABLE] Evicted TCP "
		"172.17.240.21:54321 → 142.250.207.46:443 (mapped to :40001): "
		"evicted after 12.500000 s, out 10 pkts 1234 bytes, in 8 pkts "
		"5678 bytes (flow 42)",
		"[2026-11-23T01:02:03.456Z] [WARN] [NAT] Dropped TCP "
		"203.0.113.99:1234 → 192.168.45.57:40123: no_mapping (flow -)",
		"[2026-11-23T01:02:03.456Z] [WARN] [NAT] Port pool exhausted, "
		"refused UDP 172.17.240.22:5353 → 198.51.100.1:53 (flow -)",
		"[2026-11-23T01:02:03.456Z] [WARN] [TABLE] Flow table full, "
		"refused UDP 172.17.240.22:5353 → 198.51.100.1:53 (flow -)",
		"[2026-11-23T01:02:03.456Z] [INFO] [TABLE] Cleaned 5 expired "
		"entries, 10 remaining",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN] Configuration loaded "
		"from configs/hyper-nat.yaml (NAT IP 192.168.45.57, internal "
		"network 172.17.240.0/24, 2 rules, 1 forwards, filtering "
		"address_and_port_dependent)",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN] Configuration "
		"reloaded "
		"from configs/hyper-nat.yaml (NAT IP 192.168.45.57, internal "
		"network 172.17.240.0/24, 2 rules, 1 forwards, filtering "
		"address_and_port_dependent): rules: +1 -0",
		"[2026-11-23T01:02:03.456Z] [WARN] [TRACE] Lost 3 trace records "
		"(7 in total)",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN] glassnat 0.1 starting",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN] Final statistics:",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Packets processed: "
		"1234",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Packets NATted: "
		"1000",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Packets bypassed: "
		"200",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Packets passed: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Packets dropped: 34",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Active connections: "
		"5",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Total connections: "
		"150",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Passed/dropped malformed_ip: 4",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Passed/dropped no_mapping: 30",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Hairpinned: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Bytes processed: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Expired connections: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Evicted connections: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Port exhaustion events: 0",
		"[2026-11-23T01:02:03.456Z] [INFO] [MAIN]   Table full events: 0",
		"[2026-11-23T01:02:03.456Z] [DEBUG] [ENGINE] debug shown with "
		"verbose",
	};
	size_t nw = sizeof(want) / sizeof(want[0]);
	for (size_t i = 0; i < nw && i < n; i++)
		cr_assert_str_eq(l[i], want[i], "line %zu: %s", i, l[i]);
	cr_assert_eq(n, nw, "%zu lines, want %zu", n, nw);
	free(buf);

	/* Without verbose the DEBUG lines are not written at all. */
	cr_assert_eq(unlink(g_path), 0);
	w = open_log(g_path, NAT_LOG_TEXT, false, 64, 0);
	emit_all(w, e);
	log_text(w, ts0(), LOG_DEBUG, "ENGINE", "hidden");
	log_close(w);
	nat_engine_destroy(e);
	buf = slurp(g_path);
	cr_assert_null(strstr(buf, "[DEBUG]"), "DEBUG without verbose: %s",
		       buf);
	cr_assert_not_null(strstr(buf, "New TCP 172.17.240.21:54321"));
	free(buf);
}

Test(log, drops_rate_limited_per_reason_and_suppressed_count_carried)
{
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 1024, 0);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	uint64_t t = ts0();
	for (int i = 0; i < 100; i++) {
		struct nat_event ev = ev_drop(t + (uint64_t)i * 1000000);
		log_engine_event(&c, &ev);
	}
	/* Another reason in the same second has its own budget. */
	struct nat_event other = ev_drop(t);
	other.reason = NAT_R_FILTERED;
	log_engine_event(&c, &other);
	struct nat_event next = ev_drop(t + S);
	log_engine_event(&c, &next);
	log_engine_event(&c, &next);
	cr_assert_eq(log_suppressed(w), 80);
	struct nat_stats st = sample_stats();
	struct nat_metrics m;
	nat_metrics_fill(&m, &st, NULL);
	log_final_stats(w, t + 2 * S, &m);
	log_close(w);

	char *buf = slurp(g_path);
	char *l[64];
	size_t n = lines_of(buf, l, 64);
	cr_assert_eq(n, 20 + 1 + 2 + 1, "%zu lines", n);
	for (int i = 0; i < 20; i++) {
		json_t *j = parse(l[i]);
		cr_assert_null(json_object_get(j, "suppressed"), "line %d", i);
		json_decref(j);
	}
	json_t *j = parse(l[20]);
	cr_assert_str_eq(jstr(j, "reason"), "filtered");
	json_decref(j);
	j = parse(l[21]);
	cr_assert_eq(jint(j, "suppressed"), 80, "%s", l[21]);
	cr_assert_str_eq(jstr(j, "ts"), "2026-11-23T01:02:04.456789Z");
	json_decref(j);
	j = parse(l[22]);
	cr_assert_null(json_object_get(j, "suppressed"));
	json_decref(j);
	j = parse(l[23]);
	cr_assert_eq(jint(json_object_get(j, "suppressed"), "no_mapping"), 80);
	cr_assert_eq(jint(json_object_get(j, "suppressed"), "filtered"), 0);
	json_decref(j);
	free(buf);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

Test(log, slow_writer_never_blocks_and_accounts_for_every_record)
{
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 8, 2000);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	struct nat_event ev = ev_snat_open();
	double t0 = mono_ms();
	for (int i = 0; i < 10000; i++) {
		ev.flow.id = (uint64_t)i + 1;
		log_engine_event(&c, &ev);
	}
	double took = mono_ms() - t0;
	cr_assert_lt(took, 200.0, "producer took %.1f ms", took);
	log_stop(w);
	uint64_t written = log_written(w), lost = log_lost(w);
	cr_assert_eq(written + lost, 10000, "written %llu + lost %llu",
		     (unsigned long long)written, (unsigned long long)lost);
	cr_assert_gt(lost, 0);
	cr_assert_gt(written, 0);

	char *buf = slurp(g_path);
	static char *l[20000];
	size_t n = lines_of(buf, l, 20000);
	uint64_t records = 0, sum = 0, last_total = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *j = parse(l[i]);
		if (!strcmp(jstr(j, "ev"), "log.loss")) {
			sum += (uint64_t)jint(j, "lost_since_last");
			last_total = (uint64_t)jint(j, "lost_total");
			cr_assert_eq(last_total, sum, "running total");
		} else
			records++;
		json_decref(j);
	}
	cr_assert_eq(records, written);
	cr_assert_eq(sum, lost, "log.loss sums to %llu, lost %llu",
		     (unsigned long long)sum, (unsigned long long)lost);
	log_close(w);
	free(buf);
}

Test(log, a_long_message_spans_slots_and_wraps_the_ring)
{
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 8, 0);
	char msg[LOG_MSG_MAX];
	for (int round = 0; round < 50; round++) {
		memset(msg, 'a' + round % 26, sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		log_text(w, ts0(), LOG_INFO, "MAIN", "%s", msg);
		while (log_written(w) < (uint64_t)round + 1)
			usleep(200);
	}
	log_close(w);
	char *buf = slurp(g_path);
	static char *l[64];
	size_t n = lines_of(buf, l, 64);
	cr_assert_eq(n, 50);
	for (size_t i = 0; i < n; i++) {
		json_t *j = parse(l[i]);
		const char *m = jstr(j, "msg");
		cr_assert_eq(strlen(m), LOG_MSG_MAX - 1);
		cr_assert_eq(m[0], 'a' + (int)i % 26);
		cr_assert_eq(m[LOG_MSG_MAX - 2], 'a' + (int)i % 26);
		json_decref(j);
	}
	free(buf);
}

Test(log, reopen_after_rename_writes_the_new_file)
{
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 64, 0);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	struct nat_event ev = ev_sweep();
	for (int i = 0; i < 3; i++)
		log_engine_event(&c, &ev);
	for (int i = 0; i < 2000 && log_written(w) < 3; i++)
		usleep(1000);
	cr_assert_eq(log_written(w), 3);
	char old[160];
	snprintf(old, sizeof(old), "%s.1", g_path);
	cr_assert_eq(rename(g_path, old), 0);
	log_reopen(w);
	ev.n_expired = 99;
	for (int i = 0; i < 2; i++)
		log_engine_event(&c, &ev);
	log_close(w);

	struct stat st;
	cr_assert_eq(stat(g_path, &st), 0, "no new file");
	cr_assert_eq(st.st_mode & 0777 & ~0640u, 0, "mode %o",
		     st.st_mode & 0777);
	char *a = slurp(old), *b = slurp(g_path);
	char *l[8];
	cr_assert_eq(lines_of(a, l, 8), 3);
	cr_assert_not_null(strstr(l[0], "\"expired\":5"));
	cr_assert_eq(lines_of(b, l, 8), 2);
	cr_assert_not_null(strstr(l[0], "\"expired\":99"));
	free(a);
	free(b);
}

Test(log, dash_writes_to_stdout)
{
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	struct log_writer *w = open_log("-", NAT_LOG_TEXT, false, 16, 0);
	log_text(w, ts0(), LOG_INFO, "MAIN", "to stdout");
	log_close(w);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	char *buf = slurp(g_path);
	cr_assert_str_eq(buf, "[2026-11-23T01:02:03.456Z] [INFO] [MAIN] to "
			      "stdout\n");
	free(buf);
}

Test(log, no_path_discards_and_counts_nothing_lost)
{
	char err[64];
	struct log_opts o = { .path = "", .format = NAT_LOG_JSON };
	struct log_writer *w = log_open(&o, err, sizeof(err));
	cr_assert_not_null(w);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	for (int i = 0; i < 30; i++) {
		struct nat_event ev = ev_drop(ts0());
		log_engine_event(&c, &ev);
	}
	cr_assert_eq(log_lost(w), 0);
	cr_assert_eq(log_written(w), 0);
	cr_assert_eq(log_suppressed(w), 10);
	log_close(w);
}

Test(log, open_failure_names_the_path)
{
	char err[256];
	struct log_opts o = { .path = "/nonexistent-dir/x.log" };
	cr_assert_null(log_open(&o, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "/nonexistent-dir/x.log"), "%s", err);
}

/* A real engine's events, end to end: a TCP SYN out opens a flow with the
 * rule's name and the translated port in the mapped tuple. */
Test(log, real_engine_flow_open_carries_rule_and_mapping)
{
	struct nat_engine *e = names_engine("인터넷", "호스트 네트워크");
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 64, 0);
	struct log_engine_ctx c = { .w = w, .e = e };
	struct nat_hooks h = { .ctx = &c, .event = log_engine_event };
	nat_engine_set_hooks(e, &h);
	static uint8_t pkt[128];
	size_t len = tb_tcp(pkt, IP4(172, 17, 240, 21), 54321,
			    IP4(142, 250, 207, 46), 443, 0x02, 0);
	struct nat_meta m = { .dir = NAT_DIR_OUT, .ts_ns = ts0() };
	struct nat_result r;
	cr_assert_eq(nat_process(e, pkt, len, &m, &r), NAT_V_NAT);
	uint16_t mapped = tb_sport(pkt);
	len = tb_tcp(pkt, IP4(172, 17, 240, 21), 54322, IP4(192, 168, 45, 100),
		     22, 0x02, 0);
	cr_assert_eq(nat_process(e, pkt, len, &m, &r), NAT_V_BYPASS);
	nat_engine_flush(e, ts0() + S);
	log_close(w);
	nat_engine_destroy(e);

	char *buf = slurp(g_path);
	char *l[16];
	size_t n = lines_of(buf, l, 16);
	cr_assert_geq(n, 4);
	json_t *j = parse(l[0]);
	cr_assert_str_eq(jstr(j, "ev"), "flow.open");
	cr_assert_str_eq(jstr(j, "rule"), "인터넷");
	assert_ep(j, "mapped", "192.168.45.57", mapped);
	json_t *id = json_object_get(j, "flow");
	cr_assert(json_integer_value(id) > 0);
	json_decref(j);
	size_t closes = 0, bypass_opens = 0;
	for (size_t i = 1; i < n; i++) {
		j = parse(l[i]);
		const char *ev = jstr(j, "ev");
		if (!strcmp(ev, "flow.close")) {
			closes++;
			cr_assert_str_eq(jstr(j, "end"), "shutdown");
		}
		if (!strcmp(ev, "flow.open")) {
			bypass_opens++;
			cr_assert_str_eq(jstr(j, "kind"), "bypass");
			cr_assert_str_eq(jstr(j, "rule"), "호스트 네트워크");
		}
		json_decref(j);
	}
	cr_assert_eq(closes, 2);
	cr_assert_eq(bypass_opens, 1);
	free(buf);
}

/* table.full and port.exhausted repeat once per refused packet: each has
 * its own budget per second of event time, and the next one emitted
 * carries how many were held back, in JSON and in text. */
Test(log, table_full_and_port_exhausted_rate_limited_with_suppressed)
{
	struct log_writer *w = open_log(g_path, NAT_LOG_JSON, false, 1024, 0);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	uint64_t t = ts0();
	for (int i = 0; i < 100; i++) {
		struct nat_event a =
			ev_limit(NAT_EV_TABLE_FULL, NAT_R_TABLE_FULL);
		struct nat_event b =
			ev_limit(NAT_EV_PORT_EXHAUSTED, NAT_R_PORT_EXHAUSTED);
		a.ts_ns = b.ts_ns = t + (uint64_t)i * 1000000;
		log_engine_event(&c, &a);
		if (i < 30)
			log_engine_event(&c, &b);
	}
	/* pkt.drop of reason table_full keeps its own budget */
	struct nat_event d = ev_drop(t);
	d.reason = NAT_R_TABLE_FULL;
	log_engine_event(&c, &d);
	cr_assert_eq(log_suppressed_event(w, NAT_EV_TABLE_FULL), 80);
	cr_assert_eq(log_suppressed_event(w, NAT_EV_PORT_EXHAUSTED), 10);
	cr_assert_eq(log_suppressed(w), 90);
	struct nat_event a = ev_limit(NAT_EV_TABLE_FULL, NAT_R_TABLE_FULL);
	struct nat_event b =
		ev_limit(NAT_EV_PORT_EXHAUSTED, NAT_R_PORT_EXHAUSTED);
	a.ts_ns = b.ts_ns = t + S;
	log_engine_event(&c, &a);
	log_engine_event(&c, &b);
	log_engine_event(&c, &a); /* nothing held back before this one */
	log_close(w);

	char *buf = slurp(g_path);
	char *l[128];
	size_t n = lines_of(buf, l, 128);
	cr_assert_eq(n, 20 + 20 + 1 + 3, "%zu lines", n);
	int tf = 0, pe = 0;
	for (size_t i = 0; i < 41; i++) {
		json_t *j = parse(l[i]);
		cr_assert_null(json_object_get(j, "suppressed"), "%s", l[i]);
		tf += !strcmp(jstr(j, "ev"), "table.full");
		pe += !strcmp(jstr(j, "ev"), "port.exhausted");
		json_decref(j);
	}
	cr_assert_eq(tf, 20, "table.full in the first second");
	cr_assert_eq(pe, 20, "port.exhausted in the first second");
	json_t *j = parse(l[41]);
	cr_assert_str_eq(jstr(j, "ev"), "table.full");
	cr_assert_eq(jint(j, "suppressed"), 80, "%s", l[41]);
	json_decref(j);
	j = parse(l[42]);
	cr_assert_str_eq(jstr(j, "ev"), "port.exhausted");
	cr_assert_eq(jint(j, "suppressed"), 10, "%s", l[42]);
	json_decref(j);
	j = parse(l[43]);
	cr_assert_null(json_object_get(j, "suppressed"), "%s", l[43]);
	json_decref(j);
	free(buf);

	/* text: the Hyper-NAT line with the count last */
	cr_assert_eq(unlink(g_path), 0);
	w = open_log(g_path, NAT_LOG_TEXT, false, 1024, 0);
	c.w = w;
	for (int i = 0; i < 25; i++) {
		a.ts_ns = t + (uint64_t)i;
		log_engine_event(&c, &a);
	}
	a.ts_ns = t + S;
	log_engine_event(&c, &a);
	log_close(w);
	buf = slurp(g_path);
	cr_assert_not_null(
		strstr(buf, "Flow table full, refused UDP 172.17.240.22:5353 → "
			    "198.51.100.1:53 (flow -) (+5 suppressed)\n"),
		"%s", buf);
	free(buf);
}

static int g_log_errors;
static char g_log_error[512];

static void on_log_error(void *ctx, const char *msg)
{
	(void)ctx;
	g_log_errors++;
	snprintf(g_log_error, sizeof g_log_error, "%s", msg);
}

/* A full disk (here: the file size limit) loses the records, counts them
 * as failed writes and says so at once through on_error, once. */
Test(log, write_failure_counted_and_reported_once)
{
	char err[256];
	struct log_opts o = { .path = g_path,
			      .format = NAT_LOG_JSON,
			      .queue = 1024,
			      .on_error = on_log_error };
	struct log_writer *w = log_open(&o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { 0, RLIM_INFINITY };
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	struct log_engine_ctx c = { .w = w, .e = NULL };
	struct nat_event ev = ev_snat_open();
	for (int i = 0; i < 50; i++) {
		log_engine_event(&c, &ev);
		log_sync(w);
	}
	log_stop(w);
	cr_assert_eq(log_written(w), 0);
	cr_assert_eq(log_failed(w), 50, "%llu failed",
		     (unsigned long long)log_failed(w));
	cr_assert_eq(log_lost(w), 50);
	cr_assert_eq(g_log_errors, 1, "on_error called %d times",
		     g_log_errors);
	cr_assert_not_null(strstr(g_log_error, g_path), "%s", g_log_error);
	cr_assert_not_null(strstr(g_log_error, "File too large"), "%s",
			   g_log_error);
	log_close(w);
}
