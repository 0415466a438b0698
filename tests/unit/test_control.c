/* The control protocol: request parsing (every action, every error) and
 * the dispatcher against a real engine (forward add / remove / list,
 * flows, stats, reload semantics, rollback when persisting fails), the
 * state file, and the server's handling of bad clients. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "engine.h"
#include "packet.h"
#include "pktbuild.h"

#define NAT IP4(203, 0, 113, 1)
#define IN1 IP4(172, 17, 240, 21)
#define R1 IP4(198, 51, 100, 10)
#define S (1000000000ull)

static const char base_yaml[] =
	"nat_ip: 203.0.113.1\n"
	"internal_network: 172.17.240.0/24\n"
	"rules:\n"
	"  - { name: internet, destination: 0.0.0.0/0, action: nat }\n"
	"port_forward:\n"
	"  - { name: web, protocol: tcp, external_port: 8080,\n"
	"      internal_ip: 172.17.240.21, internal_port: 80 }\n"
	"limits: { max_flows: 256 }\n";

static struct nat_config g_cfg;
static struct nat_engine *g_e;
static struct nat_event g_ev[256];
static size_t g_nev;
static uint8_t buf[2048];

static void on_event(void *ctx, const struct nat_event *ev)
{
	(void)ctx;
	if (g_nev < 256)
		g_ev[g_nev++] = *ev;
}

static void load(struct nat_config *c, const char *yaml)
{
	char err[512];
	cr_assert_eq(nat_config_load_mem("t.yaml", yaml, strlen(yaml), c, err,
					 sizeof(err)),
		     0, "config: %s", err);
}

static void setup(void)
{
	char err[512];
	load(&g_cfg, base_yaml);
	g_e = nat_engine_create(&g_cfg, err, sizeof(err));
	cr_assert_not_null(g_e, "%s", err);
	struct nat_hooks h = { .event = on_event };
	nat_engine_set_hooks(g_e, &h);
	g_nev = 0;
}

static void teardown(void)
{
	nat_engine_destroy(g_e);
	nat_config_free(&g_cfg);
}

TestSuite(control, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static int parse(const char *line, struct nat_ctl_req *r,
		 enum nat_ctl_error *code, char *err)
{
	return nat_ctl_parse(line, strlen(line), r, code, err, 512);
}

static void parse_fails(const char *line, enum nat_ctl_error want,
			const char *msg_part)
{
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(parse(line, &r, &code, err), -1, "accepted: %s", line);
	cr_assert_eq(code, want, "%s: code %s, want %s (%s)", line,
		     nat_ctl_error_name(code), nat_ctl_error_name(want), err);
	cr_assert(strstr(err, msg_part), "%s: message '%s' lacks '%s'", line,
		  err, msg_part);
}

/* Parses and executes line; returns the parsed response (caller frees). */
static json_t *run(const char *line, const struct nat_ctl_ops *ops)
{
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(parse(line, &r, &code, err), 0, "%s: %s", line, err);
	char *out = nat_ctl_execute(g_e, ops, &r, &code);
	cr_assert_not_null(out);
	size_t n = strlen(out);
	cr_assert(n > 0 && out[n - 1] == '\n' && !memchr(out, '\n', n - 1),
		  "response is not one line: %s", out);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	cr_assert(json_is_object(j), "response not JSON: %s", out);
	free(out);
	return j;
}

static bool success(json_t *j)
{
	return json_is_true(json_object_get(j, "success"));
}

static const char *msg(json_t *j)
{
	const char *m = json_string_value(json_object_get(j, "message"));
	return m ? m : "";
}

static struct nat_result go(size_t len, enum nat_dir d, uint64_t ts)
{
	struct nat_meta m = { .dir = d, .ts_ns = ts };
	struct nat_result r;
	nat_process(g_e, buf, len, &m, &r);
	return r;
}

static size_t count_ev(enum nat_event_type t)
{
	size_t n = 0;
	for (size_t i = 0; i < g_nev; i++)
		n += g_ev[i].type == t;
	return n;
}

/* ---- parsing ---- */

Test(control, parse_seed_forward_add_example)
{
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(parse("{\"action\":\"forward_add\",\"rule\":{\"name\":\"Web\","
			   "\"protocol\":\"tcp\",\"external_port\":8080,"
			   "\"internal_ip\":\"172.17.240.21\",\"internal_port\":80}}",
			   &r, &code, err),
		     0, "%s", err);
	cr_assert_eq(r.action, NAT_CTL_FORWARD_ADD);
	cr_assert_str_eq(r.fwd.name, "Web");
	cr_assert_eq(r.fwd.proto, 6);
	cr_assert_eq(r.fwd.ext_port, 8080);
	cr_assert_eq(r.fwd.int_ip, IN1);
	cr_assert_eq(r.fwd.int_port, 80);
	cr_assert(r.fwd.runtime, "a forward added over the socket is runtime");
}

Test(control, parse_forward_add_defaults_name_and_internal_port)
{
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(parse("{\"action\":\"forward_add\",\"rule\":{\"protocol\":"
			   "\"udp\",\"external_port\":53,\"internal_ip\":"
			   "\"172.17.240.21\"}}",
			   &r, &code, err),
		     0, "%s", err);
	cr_assert_str_eq(r.fwd.name, "udp/53");
	cr_assert_eq(r.fwd.int_port, 53);
}

Test(control, parse_every_action)
{
	static const char *const lines[NAT_CTL_ACTION_MAX] = {
		"{\"action\":\"forward_list\"}",
		"{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		"\"external_port\":1,\"internal_ip\":\"172.17.240.2\"}}",
		"{\"action\":\"forward_remove\",\"name\":\"web\"}",
		"{\"action\":\"flows\",\"address\":\"172.17.240.21\","
		"\"port\":80,\"protocol\":\"icmp\",\"limit\":10000}",
		"{\"action\":\"stats\"}",
		"{\"action\":\"trace_on\",\"filter\":\"udp port 53\"}",
		"{\"action\":\"trace_off\"}",
		"{\"action\":\"reload\"}",
		"{\"action\":\"flow_delete\",\"flow\":7}",
		"{\"action\":\"subscribe\",\"event\":\"flow\"}",
	};
	for (int i = 0; i < NAT_CTL_ACTION_MAX; i++) {
		struct nat_ctl_req r;
		enum nat_ctl_error code;
		char err[512];
		cr_assert_eq(parse(lines[i], &r, &code, err), 0, "%s: %s",
			     lines[i], err);
		cr_assert_eq((int)r.action, i, "%s parsed as %s", lines[i],
			     nat_ctl_action_name(r.action));
	}
}

Test(control, parse_errors_name_the_problem)
{
	parse_fails("not json", NAT_CTL_E_INVALID_JSON, "invalid JSON");
	parse_fails("{\"action\":\"stats\"", NAT_CTL_E_INVALID_JSON,
		    "invalid JSON");
	parse_fails("[\"stats\"]", NAT_CTL_E_INVALID_JSON, "an array");
	parse_fails("{\"action\":\"stats\",\"action\":\"stats\"}",
		    NAT_CTL_E_INVALID_JSON, "duplicate");
	parse_fails("{}", NAT_CTL_E_BAD_REQUEST, "action: missing");
	parse_fails("{\"action\":7}", NAT_CTL_E_BAD_REQUEST,
		    "action: expected a string, got an integer");
	parse_fails("{\"action\":\"fly\"}", NAT_CTL_E_UNKNOWN_ACTION,
		    "unknown action \"fly\"");
	parse_fails("{\"action\":\"stats\",\"x\":1}", NAT_CTL_E_BAD_REQUEST,
		    "unknown member \"x\"");
	parse_fails("{\"action\":\"forward_add\"}", NAT_CTL_E_BAD_REQUEST,
		    "rule: missing");
	parse_fails("{\"action\":\"forward_add\",\"rule\":[]}",
		    NAT_CTL_E_BAD_REQUEST, "rule: expected an object");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":\"80\",\"internal_ip\":\"172.17.240.2\"}}",
		    NAT_CTL_E_BAD_REQUEST,
		    "rule.external_port: expected an integer, got a string");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":65536,\"internal_ip\":\"172.17.240.2\"}}",
		    NAT_CTL_E_BAD_REQUEST, "65536 is out of range (1-65535)");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":0,\"internal_ip\":\"172.17.240.2\"}}",
		    NAT_CTL_E_BAD_REQUEST, "0 is out of range");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"sctp\","
		    "\"external_port\":80,\"internal_ip\":\"172.17.240.2\"}}",
		    NAT_CTL_E_BAD_REQUEST, "\"sctp\" is not tcp or udp");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":80,\"internal_ip\":\"172.17.240.256\"}}",
		    NAT_CTL_E_BAD_REQUEST, "is not an IPv4 address");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":80}}",
		    NAT_CTL_E_BAD_REQUEST, "rule.internal_ip: missing");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":80,\"internal_ip\":\"172.17.240.2\","
		    "\"name\":\"a\\nb\"}}",
		    NAT_CTL_E_BAD_REQUEST, "control character");
	parse_fails("{\"action\":\"forward_remove\"}", NAT_CTL_E_BAD_REQUEST,
		    "exactly one of");
	parse_fails("{\"action\":\"forward_remove\",\"name\":\"a\","
		    "\"external_port\":1}",
		    NAT_CTL_E_BAD_REQUEST, "exactly one of");
	parse_fails("{\"action\":\"flows\",\"limit\":0}", NAT_CTL_E_BAD_REQUEST,
		    "limit: 0 is out of range (1-10000)");
	parse_fails("{\"action\":\"flows\",\"limit\":1.5}",
		    NAT_CTL_E_BAD_REQUEST, "a number with a fraction");
	parse_fails("{\"action\":\"trace_on\",\"filter\":true}",
		    NAT_CTL_E_BAD_REQUEST, "filter: expected a string");
}

Test(control, parse_refuses_oversized_and_nul)
{
	size_t n = NAT_CTL_LINE_MAX + 10;
	char *big = malloc(n);
	memset(big, ' ', n);
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(nat_ctl_parse(big, n, &r, &code, err, sizeof(err)), -1);
	cr_assert_eq(code, NAT_CTL_E_OVERSIZED);
	free(big);
	cr_assert_eq(nat_ctl_parse("{\"action\":\"stats\"}\0x", 20, &r, &code,
				   err, sizeof(err)),
		     -1);
	cr_assert_eq(code, NAT_CTL_E_INVALID_JSON);
}

/* ---- dispatching ---- */

static const char add_rt[] =
	"{\"action\":\"forward_add\",\"rule\":{\"name\":\"rt\",\"protocol\":"
	"\"tcp\",\"external_port\":9090,\"internal_ip\":\"172.17.240.21\","
	"\"internal_port\":80}}";

Test(control, forward_add_is_listed_and_forwards_new_connections)
{
	json_t *j = run(add_rt, NULL);
	cr_assert(success(j), "%s", msg(j));
	cr_assert_str_eq(msg(j), "Port forward added");
	json_decref(j);
	cr_assert_eq(count_ev(NAT_EV_FORWARD_ADD), 1, "no forward.add event");
	j = run("{\"action\":\"forward_list\"}", NULL);
	json_t *arr = json_object_get(j, "forwards");
	cr_assert_eq(json_array_size(arr), 2);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(arr, 0), "origin")),
			 "config", "config forwards are listed first");
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(arr, 1), "name")),
			 "rt");
	json_decref(j);
	size_t n = tb_tcp(buf, R1, 5555, NAT, 9090, NAT_TCP_SYN, 0);
	struct nat_result r = go(n, NAT_DIR_IN, S);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert(r.forward, "the SYN did not open a forward flow");
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 80);
}

Test(control, forward_add_clash_names_both_sides)
{
	json_t *j = run("{\"action\":\"forward_add\",\"rule\":{\"name\":\"x\","
			"\"protocol\":\"tcp\",\"external_port\":8080,"
			"\"internal_ip\":\"172.17.240.22\"}}",
			NULL);
	cr_assert(!success(j));
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "refused");
	cr_assert(strstr(msg(j), "\"x\" tcp/8080 clashes with forward \"web\" "
				 "tcp/8080 (config line 6)"),
		  "%s", msg(j));
	json_decref(j);
	j = run("{\"action\":\"forward_add\",\"rule\":{\"name\":\"x\","
		"\"protocol\":\"tcp\",\"external_port\":1,"
		"\"internal_ip\":\"198.51.100.1\"}}",
		NULL);
	cr_assert(!success(j));
	cr_assert(strstr(msg(j), "not a host of internal_network"), "%s",
		  msg(j));
	json_decref(j);
}

/* One rule for forward targets, the config's (check) and forward_add's:
 * a host of internal_network, never its network or broadcast address. */
Test(control, forward_add_refuses_the_network_and_broadcast_addresses)
{
	static const char *const bad[] = { "172.17.240.0", "172.17.240.255" };
	for (size_t i = 0; i < 2; i++) {
		char line[256];
		snprintf(line, sizeof(line),
			 "{\"action\":\"forward_add\",\"rule\":{\"name\":"
			 "\"b%zu\",\"protocol\":\"tcp\",\"external_port\":"
			 "%zu,\"internal_ip\":\"%s\"}}",
			 i, 7000 + i, bad[i]);
		json_t *j = run(line, NULL);
		cr_assert(!success(j), "forward_add to %s succeeded", bad[i]);
		cr_assert(strstr(msg(j), "not a host of internal_network"),
			  "%s: %s", bad[i], msg(j));
		json_decref(j);
	}
	json_t *j = run("{\"action\":\"forward_add\",\"rule\":{\"name\":"
			"\"ok\",\"protocol\":\"tcp\",\"external_port\":7002,"
			"\"internal_ip\":\"172.17.240.254\"}}",
			NULL);
	cr_assert(success(j), "%s", msg(j));
	json_decref(j);
}

Test(control, forward_remove_closes_flows_and_refuses_new_ones)
{
	json_decref(run(add_rt, NULL));
	size_t n = tb_tcp(buf, R1, 5555, NAT, 9090, NAT_TCP_SYN, 0);
	cr_assert(go(n, NAT_DIR_IN, S).forward);
	cr_assert_eq(nat_engine_stats(g_e)->flows_active, 1);
	json_t *j = run("{\"action\":\"forward_remove\",\"external_port\":9090}",
			NULL);
	cr_assert(success(j), "%s", msg(j));
	json_decref(j);
	cr_assert_eq(nat_engine_stats(g_e)->flows_active, 0,
		     "the forward's flow was not closed");
	bool flushed = false;
	for (size_t i = 0; i < g_nev; i++)
		flushed |= g_ev[i].type == NAT_EV_FLOW_CLOSE &&
			   g_ev[i].close_reason == NAT_CLOSE_FLUSHED;
	cr_assert(flushed, "no flow.close with reason flushed");
	cr_assert_eq(count_ev(NAT_EV_FORWARD_REMOVE), 1);
	n = tb_tcp(buf, R1, 5556, NAT, 9090, NAT_TCP_SYN, 0);
	struct nat_result r = go(n, NAT_DIR_IN, 2 * S);
	cr_assert(!r.forward && r.verdict == NAT_V_DROP,
		  "a new connection still went through the removed forward");
	j = run("{\"action\":\"forward_remove\",\"name\":\"rt\"}", NULL);
	cr_assert(!success(j));
	cr_assert(strstr(msg(j), "no forward named \"rt\""), "%s", msg(j));
	json_decref(j);
}

Test(control, forward_add_refused_on_a_port_held_by_a_live_mapping)
{
	/* An outbound flow maps IN1:45000 to nat_ip:45000 (preserved). */
	size_t n = tb_udp(buf, IN1, 45000, R1, 53, 4);
	cr_assert_eq(go(n, NAT_DIR_OUT, S).verdict, NAT_V_NAT);
	uint16_t mapped = tb_sport(buf);
	char line[256];
	snprintf(line, sizeof(line),
		 "{\"action\":\"forward_add\",\"rule\":{\"name\":\"m\","
		 "\"protocol\":\"udp\",\"external_port\":%u,\"internal_ip\":"
		 "\"172.17.240.22\"}}",
		 mapped);
	json_t *j = run(line, NULL);
	cr_assert(!success(j));
	cr_assert(strstr(msg(j), "in use by a live mapping of 172.17.240.21:45000"),
		  "%s", msg(j));
	json_decref(j);
}

static int fail_persist(void *ctx, char *err, size_t len)
{
	(void)ctx;
	snprintf(err, len, "state file /x: disk full");
	return -1;
}

Test(control, failed_persisting_rolls_the_add_back)
{
	struct nat_ctl_ops ops = { .forwards_changed = fail_persist };
	json_t *j = run(add_rt, &ops);
	cr_assert(!success(j));
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "failed");
	cr_assert(strstr(msg(j), "disk full (the forward was not added)"), "%s",
		  msg(j));
	json_decref(j);
	cr_assert_eq(nat_engine_forward_list(g_e, NULL, 0), 1,
		     "the forward stayed after a failed persist");
}

Test(control, flows_are_filtered_and_limited)
{
	for (uint16_t p = 1000; p < 1005; p++) {
		size_t n = tb_udp(buf, IN1, p, R1, 53, 4);
		go(n, NAT_DIR_OUT, S);
	}
	size_t n = tb_tcp(buf, IN1, 2000, R1, 443, NAT_TCP_SYN, 0);
	go(n, NAT_DIR_OUT, S);
	json_t *j = run("{\"action\":\"flows\",\"protocol\":\"udp\",\"limit\":2}",
			NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 5);
	cr_assert_eq(json_array_size(json_object_get(j, "flows")), 2);
	cr_assert(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	j = run("{\"action\":\"flows\",\"port\":443}", NULL);
	json_t *f = json_array_get(json_object_get(j, "flows"), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(f, "state")),
			 "SYN_SENT");
	cr_assert_str_eq(json_string_value(json_object_get(f, "rule")),
			 "internet");
	cr_assert_eq(json_integer_value(json_object_get(f, "pkts_out")), 1);
	json_decref(j);
	j = run("{\"action\":\"flows\",\"address\":\"198.51.100.99\"}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 0);
	json_decref(j);
}

Test(control, stats_match_the_engine)
{
	size_t n = tb_udp(buf, IN1, 1000, R1, 53, 4);
	go(n, NAT_DIR_OUT, S);
	json_t *j = run("{\"action\":\"stats\"}", NULL);
	json_t *s = json_object_get(j, "stats");
	cr_assert_eq(json_integer_value(json_object_get(s, "packets")), 1);
	cr_assert_eq(json_integer_value(json_object_get(s, "natted")), 1);
	cr_assert_eq(json_integer_value(json_object_get(s, "flows_active")), 1);
	cr_assert_eq(json_integer_value(json_object_get(s, "forwards")), 1);
	cr_assert(json_is_object(json_object_get(s, "by_reason")));
	cr_assert(json_is_object(json_object_get(
		json_object_get(s, "control"), "errors")));
	json_decref(j);
}

Test(control, trace_and_reload_without_support_answer_failed)
{
	json_t *j = run("{\"action\":\"reload\"}", NULL);
	cr_assert(!success(j));
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "failed");
	json_decref(j);
	j = run("{\"action\":\"trace_on\"}", NULL);
	cr_assert(!success(j));
	json_decref(j);
}

/* ---- reload semantics (engine) ---- */

static int reload(const char *yaml, char *changes, char *err)
{
	struct nat_config c;
	load(&c, yaml);
	int rc = nat_engine_reload(g_e, &c, changes, 1024, err, 512);
	nat_config_free(&c);
	return rc;
}

Test(control, reload_keeps_flow_decisions_and_old_rule_names)
{
	size_t n = tb_udp(buf, IN1, 1000, R1, 53, 4);
	go(n, NAT_DIR_OUT, S);
	uint16_t mapped = tb_sport(buf);
	char changes[1024], err[512];
	cr_assert_eq(reload("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n"
			    "rules:\n"
			    "  - { name: block, destination: 198.51.100.0/24, "
			    "action: drop }\n"
			    "limits: { max_flows: 256 }\n",
			    changes, err),
		     0, "%s", err);
	cr_assert(strstr(changes, "rule \"block\" added"), "%s", changes);
	cr_assert(strstr(changes, "rule \"internet\" removed (its flows keep "
				  "their decision)"),
		  "%s", changes);
	cr_assert(strstr(changes, "forward \"web\" removed"), "%s", changes);
	/* The existing flow keeps translating, under its old rule name. */
	n = tb_udp(buf, IN1, 1000, R1, 53, 4);
	struct nat_result r = go(n, NAT_DIR_OUT, 2 * S);
	cr_assert_eq(r.verdict, NAT_V_NAT, "the established flow lost its "
					   "decision");
	cr_assert_eq(tb_sport(buf), mapped);
	cr_assert_str_eq(nat_engine_rule_name(g_e, r.rule), "internet");
	/* A new flow meets the new rules. */
	n = tb_udp(buf, IN1, 1001, R1, 53, 4);
	r = go(n, NAT_DIR_OUT, 2 * S);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_str_eq(nat_engine_rule_name(g_e, r.rule), "block");
}

Test(control, reload_forward_removed_keeps_its_flows_and_name)
{
	size_t n = tb_tcp(buf, R1, 5555, NAT, 8080, NAT_TCP_SYN, 0);
	struct nat_result r = go(n, NAT_DIR_IN, S);
	cr_assert(r.forward);
	char changes[1024], err[512];
	cr_assert_eq(reload("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n"
			    "port_forward:\n"
			    "  - { name: web2, protocol: tcp, external_port: "
			    "8081, internal_ip: 172.17.240.21 }\n"
			    "limits: { max_flows: 256 }\n",
			    changes, err),
		     0, "%s", err);
	cr_assert(strstr(changes, "forward \"web2\" added"), "%s", changes);
	n = tb_tcp(buf, R1, 5555, NAT, 8080, NAT_TCP_ACK, 0);
	r = go(n, NAT_DIR_IN, 2 * S);
	cr_assert_eq(r.verdict, NAT_V_NAT, "the forward's flow was cut");
	cr_assert_str_eq(nat_engine_forward_name(g_e, r.rule), "web");
	n = tb_tcp(buf, R1, 6000, NAT, 8080, NAT_TCP_SYN, 0);
	cr_assert(!go(n, NAT_DIR_IN, 2 * S).forward,
		  "new connections still use the dropped forward");
	n = tb_tcp(buf, R1, 6001, NAT, 8081, NAT_TCP_SYN, 0);
	cr_assert(go(n, NAT_DIR_IN, 2 * S).forward, "the new forward is not live");
}

Test(control, reload_refuses_what_needs_a_restart)
{
	char changes[1024], err[512];
	cr_assert_eq(reload("nat_ip: 203.0.113.2\n"
			    "internal_network: 172.17.240.0/24\n"
			    "limits: { max_flows: 256 }\n",
			    changes, err),
		     -1);
	cr_assert(strstr(err, "nat_ip changed (203.0.113.1 -> 203.0.113.2)"),
		  "%s", err);
	cr_assert_eq(reload("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n"
			    "limits: { max_flows: 512 }\n",
			    changes, err),
		     -1);
	cr_assert(strstr(err, "max_flows 256 -> 512"), "%s", err);
	cr_assert_eq(reload("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n"
			    "port_range: 1000-2000\n"
			    "limits: { max_flows: 256 }\n",
			    changes, err),
		     -1);
	cr_assert(strstr(err, "port_range changed"), "%s", err);
	/* Nothing changed: the config forward is still there. */
	cr_assert_eq(nat_engine_forward_list(g_e, NULL, 0), 1);
}

Test(control, reload_refuses_a_config_forward_clashing_with_a_runtime_one)
{
	json_decref(run(add_rt, NULL));
	char changes[1024], err[512];
	cr_assert_eq(reload("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n"
			    "port_forward:\n"
			    "  - { name: other, protocol: tcp, external_port: "
			    "9090, internal_ip: 172.17.240.22 }\n"
			    "limits: { max_flows: 256 }\n",
			    changes, err),
		     -1);
	cr_assert(strstr(err, "t.yaml:4: forward \"other\" tcp/9090 clashes "
			      "with forward \"rt\" tcp/9090 (added at run time)"),
		  "%s", err);
	cr_assert_eq(nat_engine_forward_list(g_e, NULL, 0), 2);
}

Test(control, reload_without_changes_says_so)
{
	char changes[1024], err[512];
	cr_assert_eq(reload(base_yaml, changes, err), 0, "%s", err);
	cr_assert_str_eq(changes, "no changes");
	cr_assert_eq(count_ev(NAT_EV_FORWARD_ADD), 0);
}

/* ---- the state file ---- */

Test(control, state_file_round_trip_keeps_runtime_forwards_only)
{
	char dir[] = "/tmp/glassnat-state-XXXXXX", path[128], err[512];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/forwards.json", dir);
	json_decref(run(add_rt, NULL));
	cr_assert_eq(nat_ctl_state_save(path, g_e, err, sizeof(err)), 0, "%s",
		     err);
	struct nat_forward_cfg *f;
	size_t n;
	cr_assert_eq(nat_ctl_state_load(path, &f, &n, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(f[0].name, "rt");
	cr_assert_eq(f[0].ext_port, 9090);
	cr_assert_eq(f[0].int_port, 80);
	cr_assert(f[0].runtime);
	free(f);
	FILE *fp = fopen(path, "w");
	fputs("{\"version\":1,\"forwards\":[{\"protocol\":\"tcp\"}]}", fp);
	fclose(fp);
	cr_assert_eq(nat_ctl_state_load(path, &f, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "forwards[0]: rule.external_port: missing"), "%s",
		  err);
	snprintf(path, sizeof(path), "%s/none.json", dir);
	cr_assert_eq(nat_ctl_state_load(path, &f, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0, "a missing state file is no forwards");
	free(f);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* ---- the server: bad clients never block it ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads one line, draining the server on this thread meanwhile (we are
 * the engine thread here). */
static void read_line(struct nat_ctl_server *s, int fd, char *out, size_t cap)
{
	size_t used = 0;
	for (int i = 0; i < 400 && used + 1 < cap; i++) {
		nat_ctl_server_drain(s, g_e, NULL);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(fd, out + used, cap - used - 1);
		if (r <= 0)
			break;
		used += (size_t)r;
		if (memchr(out, '\n', used))
			break;
	}
	out[used] = '\0';
}

Test(control, server_answers_pipelined_requests_and_drops_bad_clients)
{
	char dir[] = "/tmp/glassnat-sock-XXXXXX", path[128], err[512];
	char line[4096];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	struct nat_ctl_server_opts o = { .idle_ms = 300, .allow_any_uid = true };
	struct nat_ctl_server *s = nat_ctl_server_start(path, &o, err,
							sizeof(err));
	cr_assert_not_null(s, "%s", err);
	/* A second server on the same path is refused. */
	cr_assert_null(nat_ctl_server_start(path, &o, err, sizeof(err)));
	cr_assert(strstr(err, "another glassnat answers there"), "%s", err);

	int fd = connect_to(path);
	const char two[] = "{\"action\":\"stats\"}\n{\"action\":\"nope\"}\n";
	cr_assert_eq(write(fd, two, sizeof(two) - 1), (ssize_t)sizeof(two) - 1);
	read_line(s, fd, line, sizeof(line));
	cr_assert(strstr(line, "\"success\":true"), "first answer: %s", line);
	char *second = strchr(line, '\n') + 1;
	if (!*second)
		read_line(s, fd, second, sizeof(line) - (size_t)(second - line));
	cr_assert(strstr(second, "unknown_action"), "second answer: %s", second);
	close(fd);

	/* A stalled half request: a timeout error, then closed. */
	fd = connect_to(path);
	cr_assert_eq(write(fd, "{\"act", 5), 5);
	read_line(s, fd, line, sizeof(line));
	cr_assert(strstr(line, "\"error\":\"timeout\""), "stall: %s", line);
	close(fd);

	uint64_t req, errs[NAT_CTL_E_MAX];
	nat_ctl_server_counters(s, &req, errs);
	cr_assert_eq(errs[NAT_CTL_E_UNKNOWN_ACTION], 1);
	cr_assert_eq(errs[NAT_CTL_E_TIMEOUT], 1);
	nat_ctl_server_stop(s);
	cr_assert_eq(access(path, F_OK), -1, "socket file left behind");
	rmdir(dir);
}

/* ---- the seeds' rule model over the control socket ---- */

static const char add_ssh[] =
	"{\"action\":\"forward_add\",\"rule\":{\"name\":\"ssh\","
	"\"protocol\":\"tcp\",\"external_port\":2222,"
	"\"internal_ip\":\"172.17.240.21\",\"internal_port\":22,"
	"\"source\":[\"198.51.100.0/24\",\"192.0.2.7\"],"
	"\"in_interface\":\"eth0\",\"external_ip\":\"203.0.113.1\"}}";

Test(control, forward_add_with_source_and_interface_is_listed_and_kept)
{
	json_t *j = run(add_ssh, NULL);
	cr_assert(success(j), "%s", msg(j));
	json_t *fw = json_object_get(j, "forward");
	cr_assert_null(json_object_get(fw, "external_ip"),
		       "nat_ip is the default address, not shown");
	json_t *src = json_object_get(fw, "source");
	cr_assert_eq(json_array_size(src), 2);
	cr_assert_str_eq(json_string_value(json_array_get(src, 1)),
			 "192.0.2.7/32");
	cr_assert_str_eq(json_string_value(json_object_get(fw, "in_interface")),
			 "eth0");
	json_decref(j);

	size_t n = tb_tcp(buf, IP4(192, 0, 2, 8), 5555, NAT, 2222, NAT_TCP_SYN,
			  0);
	struct nat_meta m = { .dir = NAT_DIR_IN, .ts_ns = S, .in_if = "eth0" };
	struct nat_result r;
	nat_process(g_e, buf, n, &m, &r);
	cr_assert_eq(r.reason, NAT_R_FWD_SOURCE, "reason %s",
		     nat_reason_name(r.reason));
	n = tb_tcp(buf, IP4(192, 0, 2, 7), 5555, NAT, 2222, NAT_TCP_SYN, 0);
	nat_process(g_e, buf, n, &m, &r);
	cr_assert_eq(r.verdict, NAT_V_NAT);

	char dir[] = "/tmp/glassnat-state-XXXXXX", path[128], err[512];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/forwards.json", dir);
	cr_assert_eq(nat_ctl_state_save(path, g_e, err, sizeof(err)), 0, "%s",
		     err);
	struct nat_forward_cfg *f;
	cr_assert_eq(nat_ctl_state_load(path, &f, &n, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(n, 1);
	cr_assert_eq(f[0].n_src, 2, "the state file keeps the sources");
	cr_assert_eq(f[0].src[0].addr, IP4(198, 51, 100, 0));
	cr_assert_eq(f[0].src[0].len, 24);
	cr_assert_str_eq(f[0].in_if, "eth0");
	free(f);
	unlink(path);
	rmdir(dir);
}

Test(control, forward_add_bad_source_or_external_ip_is_refused)
{
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":1,\"internal_ip\":\"172.17.240.2\","
		    "\"source\":\"198.51.100.1/24\"}}",
		    NAT_CTL_E_BAD_REQUEST, "rule.source: 198.51.100.1/24 is not "
					   "a network");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":1,\"internal_ip\":\"172.17.240.2\","
		    "\"source\":[]}}",
		    NAT_CTL_E_BAD_REQUEST, "rule.source: 0 networks");
	parse_fails("{\"action\":\"forward_add\",\"rule\":{\"protocol\":\"tcp\","
		    "\"external_port\":1,\"internal_ip\":\"172.17.240.2\","
		    "\"external_ip\":\"nope\"}}",
		    NAT_CTL_E_BAD_REQUEST, "rule.external_ip: \"nope\" is not");
	json_t *j = run("{\"action\":\"forward_add\",\"rule\":{\"protocol\":"
			"\"tcp\",\"external_port\":1,\"internal_ip\":"
			"\"172.17.240.2\",\"external_ip\":\"192.0.2.9\"}}",
			NULL);
	cr_assert(!success(j));
	cr_assert(strstr(msg(j), "external_ip 192.0.2.9 is not an address "
				 "glassnat listens on"),
		  "%s", msg(j));
	json_decref(j);
}

Test(control, stats_and_flows_name_the_network)
{
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	cr_assert_eq(go(n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	json_t *j = run("{\"action\":\"stats\"}", NULL);
	json_t *nets = json_object_get(json_object_get(j, "stats"), "networks");
	cr_assert_eq(json_array_size(nets), 1);
	json_t *n0 = json_array_get(nets, 0);
	cr_assert_str_eq(json_string_value(json_object_get(n0, "name")),
			 "172.17.240.0/24");
	cr_assert_eq(json_integer_value(json_object_get(n0, "flows_active")),
		     1);
	json_decref(j);
	j = run("{\"action\":\"flows\"}", NULL);
	json_t *f0 = json_array_get(json_object_get(j, "flows"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(f0, "network")),
			 "172.17.240.0/24");
	json_decref(j);
}

/* ---- flows filters, flow_delete, subscribe filters (issue 20) ---- */

Test(control, flows_filter_by_state_kind_rule_and_count)
{
	size_t n = tb_tcp(buf, IN1, 2000, R1, 443, NAT_TCP_SYN, 0);
	go(n, NAT_DIR_OUT, S);
	n = tb_udp(buf, IN1, 3000, R1, 53, 4);
	go(n, NAT_DIR_OUT, S);
	json_t *j = run("{\"action\":\"flows\",\"state\":\"syn_sent\"}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 1,
		     "state SYN_SENT (any case) takes the TCP flow only");
	json_decref(j);
	j = run("{\"action\":\"flows\",\"state\":\"ESTABLISHED\"}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 0);
	json_decref(j);
	j = run("{\"action\":\"flows\",\"kind\":\"snat\",\"rule\":\"internet\","
		"\"count\":true}",
		NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 2);
	cr_assert_eq(json_array_size(json_object_get(j, "flows")), 0,
		     "count: no list");
	json_decref(j);
	j = run("{\"action\":\"flows\",\"kind\":\"forward\"}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 0);
	json_decref(j);
	j = run("{\"action\":\"flows\",\"rule\":\"nope\"}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "matched")), 0);
	json_decref(j);
	parse_fails("{\"action\":\"flows\",\"kind\":\"weird\"}",
		    NAT_CTL_E_BAD_REQUEST, "kind: \"weird\" is not snat");
	parse_fails("{\"action\":\"flows\",\"state\":\"OPEN\"}",
		    NAT_CTL_E_BAD_REQUEST, "is not a TCP state");
	parse_fails("{\"action\":\"flows\",\"count\":1}", NAT_CTL_E_BAD_REQUEST,
		    "count: expected a boolean");
}

Test(control, flow_delete_closes_matching_flows_with_end_deleted)
{
	size_t n = tb_udp(buf, IN1, 3000, R1, 53, 4);
	go(n, NAT_DIR_OUT, S);
	n = tb_udp(buf, IN1, 3001, R1, 53, 4);
	go(n, NAT_DIR_OUT, S);
	n = tb_tcp(buf, IN1, 2000, R1, 443, NAT_TCP_SYN, 0);
	go(n, NAT_DIR_OUT, S);
	g_nev = 0;
	json_t *j = run("{\"action\":\"flow_delete\",\"protocol\":\"udp\"}",
			NULL);
	cr_assert(success(j), "%s", msg(j));
	cr_assert_eq(json_integer_value(json_object_get(j, "deleted")), 2);
	json_decref(j);
	cr_assert_eq(count_ev(NAT_EV_FLOW_CLOSE), 2);
	for (size_t i = 0; i < g_nev; i++)
		cr_assert_eq(g_ev[i].close_reason, NAT_CLOSE_DELETED);
	cr_assert_str_eq(nat_close_reason_name(NAT_CLOSE_DELETED), "deleted");
	cr_assert_eq(nat_engine_stats(g_e)->flows_active, 1, "the TCP flow stays");
	/* The freed mapping: the reply to a deleted flow has no mapping. */
	n = tb_udp(buf, R1, 53, NAT, 3000, 4);
	cr_assert_eq(go(n, NAT_DIR_IN, S).reason, NAT_R_NO_MAPPING);
	j = run("{\"action\":\"flow_delete\",\"all\":true}", NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "deleted")), 1);
	json_decref(j);
	cr_assert_eq(nat_engine_stats(g_e)->flows_active, 0);
	parse_fails("{\"action\":\"flow_delete\"}", NAT_CTL_E_BAD_REQUEST,
		    "needs a filter");
	parse_fails("{\"action\":\"flow_delete\",\"all\":true,\"flow\":3}",
		    NAT_CTL_E_BAD_REQUEST, "all: not with a filter");
}

Test(control, subscribe_filters_match_event_lines)
{
	static const char open[] =
		"{\"ts\":\"2026-11-23T01:02:03.456789Z\",\"ev\":\"flow.open\","
		"\"flow\":42,\"proto\":\"tcp\",\"kind\":\"snat\",\"inside\":{"
		"\"ip\":\"172.17.240.21\",\"port\":54321},\"mapped\":{\"ip\":"
		"\"203.0.113.1\",\"port\":40001},\"remote\":{\"ip\":"
		"\"198.51.100.10\",\"port\":443},\"rule\":\"internet\","
		"\"state\":\"SYN_SENT\"}";
	static const struct {
		const char *req;
		bool match;
	} cases[] = {
		{ "{\"action\":\"subscribe\"}", true },
		{ "{\"action\":\"subscribe\",\"event\":\"flow\"}", true },
		{ "{\"action\":\"subscribe\",\"event\":\"flow.open\"}", true },
		{ "{\"action\":\"subscribe\",\"event\":\"flow.close\"}", false },
		{ "{\"action\":\"subscribe\",\"event\":\"flo\"}", false },
		{ "{\"action\":\"subscribe\",\"event\":\"pkt.drop\"}", false },
		{ "{\"action\":\"subscribe\",\"flow\":42}", true },
		{ "{\"action\":\"subscribe\",\"flow\":4}", false },
		{ "{\"action\":\"subscribe\",\"address\":\"198.51.100.10\"}", true },
		{ "{\"action\":\"subscribe\",\"address\":\"198.51.100.1\"}", false },
		{ "{\"action\":\"subscribe\",\"port\":40001}", true },
		{ "{\"action\":\"subscribe\",\"port\":4000}", false },
		{ "{\"action\":\"subscribe\",\"protocol\":\"udp\"}", false },
		{ "{\"action\":\"subscribe\",\"kind\":\"snat\",\"rule\":\"internet\","
		  "\"state\":\"SYN_SENT\",\"protocol\":\"tcp\"}",
		  true },
		{ "{\"action\":\"subscribe\",\"kind\":\"bypass\"}", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nat_ctl_req r;
		enum nat_ctl_error code;
		char err[512];
		cr_assert_eq(parse(cases[i].req, &r, &code, err), 0, "%s: %s",
			     cases[i].req, err);
		cr_assert_eq(nat_ctl_event_matches(&r, open, sizeof(open) - 1),
			     cases[i].match, "%s on flow.open: want %d",
			     cases[i].req, cases[i].match);
	}
	struct nat_ctl_req r;
	enum nat_ctl_error code;
	char err[512];
	cr_assert_eq(parse("{\"action\":\"subscribe\",\"flow\":42}", &r, &code,
			   err),
		     0);
	cr_assert(!nat_ctl_event_matches(&r, "not json", 8),
		  "a line that is not JSON never matches a filter");
}

/* An idle connection in every slot: a new client still gets an answer
 * (the idlest connection makes room), and the idle one is told why. */
Test(control, server_never_locks_a_new_client_out)
{
	char dir[] = "/tmp/glassnat-sock-XXXXXX", path[128], err[512];
	char line[4096];
	int fds[NAT_CTL_CLIENTS_MAX];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	struct nat_ctl_server_opts o = { .allow_any_uid = true };
	struct nat_ctl_server *s = nat_ctl_server_start(path, &o, err,
							sizeof(err));
	cr_assert_not_null(s, "%s", err);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		fds[i] = connect_to(path);
	usleep(100000); /* all accepted, all idle */
	int fd = connect_to(path);
	const char req[] = "{\"action\":\"stats\"}\n";
	cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	read_line(s, fd, line, sizeof(line));
	cr_assert(strstr(line, "\"success\":true"),
		  "a 17th client gets its answer: %s", line);
	close(fd);
	read_line(s, fds[0], line, sizeof(line));
	cr_assert(strstr(line, "make room for a new connection"),
		  "the idlest connection is told why it is closed: %s", line);
	for (int i = 0; i < NAT_CTL_CLIENTS_MAX; i++)
		close(fds[i]);
	nat_ctl_server_stop(s);
	rmdir(dir);
}

/* subscribe: without a feed it fails; with one the answer comes first,
 * then the published lines that pass the filter, in order. */
Test(control, server_streams_published_lines_to_subscribers)
{
	char dir[] = "/tmp/glassnat-sock-XXXXXX", path[128], err[512];
	char line[4096];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	struct nat_ctl_server_opts o = { .allow_any_uid = true };
	struct nat_ctl_server *s = nat_ctl_server_start(path, &o, err,
							sizeof(err));
	cr_assert_not_null(s, "%s", err);
	int fd = connect_to(path);
	const char sub[] = "{\"action\":\"subscribe\",\"event\":\"flow\"}\n";
	cr_assert_eq(write(fd, sub, sizeof(sub) - 1), (ssize_t)sizeof(sub) - 1);
	read_line(s, fd, line, sizeof(line));
	cr_assert(strstr(line, "no event feed"), "no feed: %s", line);
	nat_ctl_server_feed_on(s, true);
	cr_assert_eq(write(fd, sub, sizeof(sub) - 1), (ssize_t)sizeof(sub) - 1);
	read_line(s, fd, line, sizeof(line));
	cr_assert(strstr(line, "\"success\":true"), "subscribed: %s", line);
	for (int i = 0; i < 100 && nat_ctl_server_watchers(s) == 0; i++)
		usleep(1000);
	cr_assert_eq(nat_ctl_server_watchers(s), 1);
	const char lines[] = "{\"ev\":\"flow.open\",\"flow\":1}\n"
			     "{\"ev\":\"pkt.drop\",\"flow\":0}\n"
			     "{\"ev\":\"flow.close\",\"flow\":1}\n";
	nat_ctl_server_publish(s, lines, sizeof(lines) - 1);
	size_t used = 0;
	line[0] = '\0';
	for (int i = 0; i < 200 && !strstr(line, "flow.close"); i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(fd, line + used, sizeof(line) - used - 1);
		if (r <= 0)
			break;
		used += (size_t)r;
		line[used] = '\0';
	}
	cr_assert_str_eq(line,
			 "{\"ev\":\"flow.open\",\"flow\":1}\n"
			 "{\"ev\":\"flow.close\",\"flow\":1}\n",
			 "the flow events in order, the drop filtered out");
	uint64_t queued, lost;
	nat_ctl_server_watch_counters(s, &queued, &lost);
	cr_assert_eq(queued, 2);
	cr_assert_eq(lost, 0);
	close(fd);
	for (int i = 0; i < 200 && nat_ctl_server_watchers(s) != 0; i++)
		usleep(1000);
	cr_assert_eq(nat_ctl_server_watchers(s), 0, "a gone subscriber is freed");
	nat_ctl_server_stop(s);
	rmdir(dir);
}
