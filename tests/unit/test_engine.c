/* Engine behaviour: RFC 4787 / 5382 / 5508 translation, driven packet by
 * packet with explicit timestamps. Each test is named for the behaviour it
 * checks; failures say which behaviour broke. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "config.h"
#include "engine.h"
#include "packet.h"
#include "pktbuild.h"

#define NAT IP4(203, 0, 113, 1)
#define IN1 IP4(172, 17, 240, 21)
#define IN2 IP4(172, 17, 240, 22)
#define IN3 IP4(172, 17, 240, 23)
#define R1 IP4(198, 51, 100, 10)
#define R2 IP4(198, 51, 100, 20)
#define R3 IP4(203, 0, 113, 99)
#define S (1000000000ull) /* one second in ns */

static struct nat_rule_cfg g_rules[8];
static struct nat_forward_cfg g_fwd[4];
static struct nat_config g_cfg;

#define MAX_EV 4096
static struct nat_event g_ev[MAX_EV];
static size_t g_nev;

static void on_event(void *ctx, const struct nat_event *ev)
{
	(void)ctx;
	if (g_nev < MAX_EV)
		g_ev[g_nev++] = *ev;
}

static size_t count_ev(enum nat_event_type t)
{
	size_t n = 0;
	for (size_t i = 0; i < g_nev; i++)
		n += g_ev[i].type == t;
	return n;
}

static void base_cfg(void)
{
	nat_config_defaults(&g_cfg);
	memset(g_rules, 0, sizeof(g_rules));
	memset(g_fwd, 0, sizeof(g_fwd));
	g_cfg.nat_ip = NAT;
	g_cfg.internal.addr = IP4(172, 17, 240, 0);
	g_cfg.internal.len = 24;
	snprintf(g_rules[0].name, NAT_NAME_MAX, "internet");
	g_rules[0].action = NAT_ACT_NAT;
	g_cfg.rules = g_rules;
	g_cfg.n_rules = 1;
	g_cfg.forwards = g_fwd;
	g_cfg.n_forwards = 0;
	g_cfg.limits.max_flows = 1024;
	g_nev = 0;
}

static struct nat_engine *make(void)
{
	char err[256];
	struct nat_engine *e = nat_engine_create(&g_cfg, err, sizeof(err));
	cr_assert_not_null(e, "engine create failed: %s", err);
	struct nat_hooks h = {.ctx = NULL, .event = on_event};
	nat_engine_set_hooks(e, &h);
	return e;
}

static uint8_t buf[2048];

static struct nat_result go(struct nat_engine *e, size_t len, enum nat_dir d,
			    uint64_t ts)
{
	struct nat_meta m = {.dir = d, .ts_ns = ts};
	struct nat_result r;
	nat_process(e, buf, len, &m, &r);
	return r;
}

static void assert_csums(const char *what)
{
	cr_assert(tb_ip_ok(buf), "%s: IP checksum invalid after rewrite",
		  what);
	cr_assert(tb_l4_ok(buf), "%s: L4 checksum invalid after rewrite",
		  what);
}

TestSuite(engine, .init = base_cfg);

Test(engine, eim_same_port_for_two_destinations)
{
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	uint16_t p1 = tb_sport(buf);
	cr_assert_eq(tb_src(buf), NAT, "source not rewritten to nat_ip");
	assert_csums("udp out");
	n = tb_udp(buf, IN1, 5000, R2, 9999, 10);
	r = go(e, n, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_sport(buf), p1,
		     "EIM broken: second destination got port %u, first %u",
		     tb_sport(buf), p1);
	nat_engine_destroy(e);
}

static void open_udp_mapping(struct nat_engine *e, uint16_t *mapped)
{
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	*mapped = tb_sport(buf);
}

Test(engine, apdf_drops_unsolicited_inbound_from_third_host)
{
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m);
	size_t n = tb_udp(buf, R3, 53, NAT, m, 10);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FILTERED, "reason %s",
		     nat_reason_name(r.reason));
	/* Same address, other port: still refused under APDF. */
	n = tb_udp(buf, R1, 54, NAT, m, 10);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.reason, NAT_R_FILTERED);
	/* The real peer gets through. */
	n = tb_udp(buf, R1, 53, NAT, m, 10);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 5000);
	assert_csums("reply");
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_FILTERED], 2);
	nat_engine_destroy(e);
}

Test(engine, eif_admits_inbound_from_third_host)
{
	g_cfg.filtering = NAT_FILTER_EI;
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m);
	size_t n = tb_udp(buf, R3, 4444, NAT, m, 10);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "EIF refused a third host: %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 5000);
	assert_csums("eif inbound");
	/* The inside host answers the third host from the same mapping. */
	n = tb_udp(buf, IN1, 5000, R3, 4444, 10);
	r = go(e, n, NAT_DIR_OUT, 2);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_sport(buf), m);
	nat_engine_destroy(e);
}

Test(engine, adf_admits_known_address_any_port_only)
{
	g_cfg.filtering = NAT_FILTER_ADDR;
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m);
	size_t n = tb_udp(buf, R1, 7777, NAT, m, 10);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 1).verdict, NAT_V_NAT,
		     "ADF refused a known address on another port");
	n = tb_udp(buf, R3, 53, NAT, m, 10);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.reason, NAT_R_FILTERED,
		     "ADF admitted an unknown address");
	nat_engine_destroy(e);
}

Test(engine, port_preserved_when_free_else_from_range)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40009;
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5000, R1, 80, NAT_TCP_SYN, 0);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_sport(buf), 5000, "free port not preserved");
	n = tb_tcp(buf, IN2, 5000, R1, 80, NAT_TCP_SYN, 0);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_sport(buf), 40000,
		     "taken port must fall back to port_range, got %u",
		     tb_sport(buf));
	assert_csums("fallback");
	nat_engine_destroy(e);
}

Test(engine, no_preservation_allocates_from_range)
{
	g_cfg.port_preservation = false;
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5000, R1, 80, NAT_TCP_SYN, 0);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_sport(buf), g_cfg.port_range.lo);
	nat_engine_destroy(e);
}

Test(engine, two_port_range_exhausts_with_event)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40001;
	g_cfg.port_preservation = false;
	struct nat_engine *e = make();
	uint32_t hosts[3] = {IN1, IN2, IN3};
	struct nat_result r;
	for (int i = 0; i < 3; i++) {
		size_t n = tb_udp(buf, hosts[i], 1000, R1, 53, 4);
		r = go(e, n, NAT_DIR_OUT, 0);
		if (i < 2)
			cr_assert_eq(tb_sport(buf), 40000 + i);
	}
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_PORT_EXHAUSTED, "got %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(count_ev(NAT_EV_PORT_EXHAUSTED), 1);
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_PORT_EXHAUSTED], 1);
	/* A host that already has a mapping still gets through (EIM). */
	size_t n = tb_udp(buf, IN1, 1000, R2, 53, 4);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	cr_assert_eq(tb_sport(buf), 40000);
	nat_engine_destroy(e);
}

Test(engine, icmp_echo_id_mapped_both_ways)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40009;
	struct nat_engine *e = make();
	size_t n = tb_echo(buf, 8, IN2, R1, 7, 1);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_echo_id(buf), 7);
	n = tb_echo(buf, 8, IN3, R1, 7, 1);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), NAT);
	cr_assert_eq(tb_echo_id(buf), 40000, "colliding id not remapped");
	assert_csums("echo request");
	n = tb_echo(buf, 0, R1, NAT, 40000, 1);
	r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN3);
	cr_assert_eq(tb_echo_id(buf), 7, "reply id not mapped back");
	assert_csums("echo reply");
	n = tb_echo(buf, 0, R1, NAT, 7, 1);
	go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(tb_dst(buf), IN2);
	nat_engine_destroy(e);
}

/* Sends an outbound packet, then an ICMP error from `from` quoting the
 * translated packet (whole or 8 bytes of L4), and checks the error is
 * translated back with valid outer and inner checksums. */
static void check_icmp_error(struct nat_engine *e, size_t n, uint8_t type,
			     uint8_t code, uint32_t from, bool full_quote,
			     uint32_t in_ip, uint16_t in_port)
{
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	uint8_t quoted[1500];
	memcpy(quoted, buf, n);
	size_t q = full_quote ? n : 28;
	size_t m = tb_icmp_error(buf, type, code, from, NAT, quoted, q);
	struct nat_result r = go(e, m, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "ICMP error %u not translated: %s",
		     type, nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), in_ip, "outer destination not restored");
	cr_assert(tb_ip_ok(buf), "outer IP checksum");
	cr_assert(tb_l4_ok(buf), "ICMP checksum after inner rewrite");
	const uint8_t *inner = buf + 28;
	cr_assert_eq(tb_src(inner), in_ip, "inner source not restored");
	cr_assert_eq(tb_sport(inner), in_port, "inner port not restored");
	cr_assert(tb_ip_ok(inner), "inner IP checksum");
	if (full_quote)
		cr_assert(tb_l4_ok(inner), "inner L4 checksum");
}

Test(engine, icmp_errors_translated_back_udp_and_tcp)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40009;
	struct nat_engine *e = make();
	/* Take port 53000 so the flow under test is remapped. */
	size_t n = tb_udp(buf, IN1, 53000, R1, 53, 10);
	go(e, n, NAT_DIR_OUT, 0);
	n = tb_udp(buf, IN2, 53000, R1, 53, 20);
	check_icmp_error(e, n, 3, 3, R1, true, IN2, 53000);
	n = tb_udp(buf, IN2, 53000, R1, 53, 20);
	check_icmp_error(e, n, 3, 3, R1, false, IN2, 53000);
	uint32_t router = IP4(198, 51, 100, 254);
	n = tb_udp(buf, IN2, 53000, R1, 53, 20);
	check_icmp_error(e, n, 11, 0, router, true, IN2, 53000);
	n = tb_tcp(buf, IN1, 6000, R2, 443, NAT_TCP_SYN, 0);
	check_icmp_error(e, n, 11, 0, router, true, IN1, 6000);
	n = tb_tcp(buf, IN3, 6000, R2, 443, NAT_TCP_SYN, 12);
	check_icmp_error(e, n, 3, 1, router, false, IN3, 6000);
	/* An error about no flow of ours is dropped and counted. */
	n = tb_udp(buf, NAT, 9, R1, 53, 4);
	uint8_t q[64];
	memcpy(q, buf, n);
	n = tb_icmp_error(buf, 3, 3, R1, NAT, q, 28);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.reason, NAT_R_ICMP_NO_FLOW);
	nat_engine_destroy(e);
}

Test(engine, icmp_error_from_inside_translated_out)
{
	g_fwd[0] = (struct nat_forward_cfg){.proto = 17, .ext_port = 5353,
					    .int_ip = IN2, .int_port = 53};
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "dns");
	g_cfg.n_forwards = 1;
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, R1, 3333, NAT, 5353, 8);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN2);
	uint8_t q[64];
	memcpy(q, buf, 28);
	n = tb_icmp_error(buf, 3, 3, IN2, R1, q, 28);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert_eq(tb_src(buf), NAT, "inside address leaked in ICMP error");
	cr_assert_eq(tb_get32(buf + 28 + 16), NAT, "inner dst not mapped");
	cr_assert_eq(tb_get16(buf + 28 + 22), 5353, "inner dport not mapped");
	cr_assert(tb_ip_ok(buf) && tb_l4_ok(buf) && tb_ip_ok(buf + 28));
	nat_engine_destroy(e);
}

static void tcp_handshake(struct nat_engine *e, uint32_t in, uint16_t port,
			  uint64_t t, uint16_t *mapped)
{
	size_t n = tb_tcp(buf, in, port, R1, 80, NAT_TCP_SYN, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, t).verdict, NAT_V_NAT);
	*mapped = tb_sport(buf);
	n = tb_tcp(buf, R1, 80, NAT, *mapped, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_IN, t).verdict, NAT_V_NAT);
	n = tb_tcp(buf, in, port, R1, 80, NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, t).verdict, NAT_V_NAT);
}

static enum nat_verdict tcp_in(struct nat_engine *e, uint16_t mapped,
			       uint8_t flags, uint64_t t)
{
	size_t n = tb_tcp(buf, R1, 80, NAT, mapped, flags, 0);
	return go(e, n, NAT_DIR_IN, t).verdict;
}

Test(engine, tcp_timeouts_follow_state)
{
	g_cfg.timeouts.tcp_transitory = 20;
	g_cfg.timeouts.tcp_established = 100;
	g_cfg.timeouts.tcp_time_wait = 10;
	g_cfg.timeouts.tcp_closed = 5;
	struct nat_engine *e = make();
	uint16_t m;

	/* SYN_SENT: transitory. */
	size_t n = tb_tcp(buf, IN1, 1001, R1, 80, NAT_TCP_SYN, 0);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t syn_only = tb_sport(buf);
	n = tb_tcp(buf, IN2, 1002, R1, 80, NAT_TCP_SYN, 0);
	go(e, n, NAT_DIR_OUT, 0);
	uint16_t syn_only2 = tb_sport(buf);
	cr_assert_eq(tcp_in(e, syn_only2, NAT_TCP_SYN | NAT_TCP_ACK, 19 * S),
		     NAT_V_NAT, "SYN_SENT flow expired before transitory");
	cr_assert_eq(tcp_in(e, syn_only, NAT_TCP_SYN | NAT_TCP_ACK, 21 * S),
		     NAT_V_DROP, "SYN_SENT flow outlived transitory");

	/* ESTABLISHED: established timeout, refreshed by traffic. */
	tcp_handshake(e, IN3, 1003, 30 * S, &m);
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 120 * S), NAT_V_NAT,
		     "ESTABLISHED flow expired early");
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 219 * S), NAT_V_NAT);
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 320 * S), NAT_V_DROP,
		     "ESTABLISHED flow outlived its idle timeout");

	/* RST closes quickly. */
	tcp_handshake(e, IN1, 2001, 400 * S, &m);
	n = tb_tcp(buf, IN1, 2001, R1, 80, NAT_TCP_RST | NAT_TCP_ACK, 0);
	go(e, n, NAT_DIR_OUT, 401 * S);
	/* Traffic after the RST refreshes the short timer, no more. */
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 403 * S), NAT_V_NAT);
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 409 * S), NAT_V_DROP,
		     "RST did not close the flow within tcp_closed");

	/* Both FINs: time_wait. */
	tcp_handshake(e, IN2, 2002, 500 * S, &m);
	n = tb_tcp(buf, IN2, 2002, R1, 80, NAT_TCP_FIN | NAT_TCP_ACK, 0);
	go(e, n, NAT_DIR_OUT, 501 * S);
	cr_assert_eq(tcp_in(e, m, NAT_TCP_FIN | NAT_TCP_ACK, 501 * S),
		     NAT_V_NAT);
	cr_assert_eq(tcp_in(e, m, NAT_TCP_ACK, 511 * S), NAT_V_DROP,
		     "TIME_WAIT outlived tcp_time_wait");

	size_t closes = 0;
	for (size_t i = 0; i < g_nev; i++)
		if (g_ev[i].type == NAT_EV_FLOW_CLOSE &&
		    g_ev[i].close_reason == NAT_CLOSE_TIMEOUT)
			closes++;
	cr_assert_geq(closes, 4, "expired flows must emit flow.close");
	nat_engine_destroy(e);
}

Test(engine, tcp_states_reported_in_order)
{
	struct nat_engine *e = make();
	uint16_t m;
	tcp_handshake(e, IN1, 3000, 0, &m);
	uint8_t seen[8];
	size_t k = 0;
	for (size_t i = 0; i < g_nev && k < 8; i++)
		if (g_ev[i].type == NAT_EV_FLOW_STATE)
			seen[k++] = g_ev[i].flow.tcp_state;
	cr_assert_eq(k, 3);
	cr_assert_eq(seen[0], NAT_TCP_SYN_SENT);
	cr_assert_eq(seen[1], NAT_TCP_SYN_RECEIVED);
	cr_assert_eq(seen[2], NAT_TCP_ESTABLISHED);
	nat_engine_destroy(e);
}

Test(engine, udp_and_icmp_idle_timeouts)
{
	g_cfg.timeouts.udp = 30;
	g_cfg.timeouts.icmp = 10;
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m);
	size_t n = tb_echo(buf, 8, IN2, R1, 77, 1);
	go(e, n, NAT_DIR_OUT, 0);
	n = tb_echo(buf, 0, R1, NAT, 77, 1);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 9 * S).verdict, NAT_V_NAT);
	n = tb_echo(buf, 0, R1, NAT, 77, 2);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 20 * S).verdict, NAT_V_DROP,
		     "ICMP flow outlived its timeout");
	n = tb_udp(buf, R1, 53, NAT, m, 4);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 29 * S).verdict, NAT_V_NAT);
	n = tb_udp(buf, R1, 53, NAT, m, 4);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 60 * S).verdict, NAT_V_DROP,
		     "UDP flow outlived its timeout");
	nat_engine_destroy(e);
}

Test(engine, lru_eviction_at_per_host_limit)
{
	g_cfg.limits.max_flows_per_host = 3;
	struct nat_engine *e = make();
	uint16_t ports[4];
	for (int i = 0; i < 3; i++) {
		size_t n = tb_udp(buf, IN1, 5000, R1, (uint16_t)(100 + i), 4);
		go(e, n, NAT_DIR_OUT, (uint64_t)i * S);
		ports[i] = tb_sport(buf);
	}
	/* Flow 0 is used again, so flow 1 is now the least recently used. */
	size_t n = tb_udp(buf, IN1, 5000, R1, 100, 4);
	go(e, n, NAT_DIR_OUT, 3 * S);
	n = tb_udp(buf, IN1, 5000, R1, 103, 4);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 4 * S);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(nat_engine_stats(e)->flows_evicted, 1);
	cr_assert_eq(nat_engine_stats(e)->flows_active, 3);
	bool evicted_right = false;
	for (size_t i = 0; i < g_nev; i++)
		if (g_ev[i].type == NAT_EV_FLOW_CLOSE &&
		    g_ev[i].close_reason == NAT_CLOSE_EVICTED)
			evicted_right = g_ev[i].flow.rem_port == 101;
	cr_assert(evicted_right, "LRU evicted the wrong flow");
	/* The evicted flow's peer is filtered now; the reused one is not. */
	n = tb_udp(buf, R1, 101, NAT, ports[1], 4);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 5 * S).verdict, NAT_V_DROP);
	n = tb_udp(buf, R1, 100, NAT, ports[0], 4);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 5 * S).verdict, NAT_V_NAT);
	/* Another host is not limited by IN1's flows. */
	n = tb_udp(buf, IN2, 5000, R1, 100, 4);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 5 * S).verdict, NAT_V_NAT);
	cr_assert_eq(nat_engine_stats(e)->flows_evicted, 1);
	nat_engine_destroy(e);
}

static void add_web_forward(void)
{
	g_fwd[0] = (struct nat_forward_cfg){.proto = 6, .ext_port = 8080,
					    .int_ip = IN1, .int_port = 80};
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "Web Server");
	g_cfg.n_forwards = 1;
}

Test(engine, forward_reached_from_outside)
{
	add_web_forward();
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, R1, 7000, NAT, 8080, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert(r.forward);
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 80);
	assert_csums("forward in");
	n = tb_tcp(buf, IN1, 80, R1, 7000, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), NAT);
	cr_assert_eq(tb_sport(buf), 8080, "forward reply not from 8080");
	assert_csums("forward reply");
	/* A stray ACK to the forward port opens nothing. */
	n = tb_tcp(buf, R2, 7001, NAT, 8080, NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_DROP);
	nat_engine_destroy(e);
}

Test(engine, hairpin_to_forwarded_port)
{
	add_web_forward();
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN2, 6000, NAT, 8080, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert(r.hairpin);
	cr_assert_eq(tb_src(buf), NAT, "hairpin must translate the source");
	cr_assert_eq(tb_sport(buf), 6000);
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 80);
	assert_csums("hairpin request");
	n = tb_tcp(buf, IN1, 80, NAT, 6000, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert_eq(tb_src(buf), NAT);
	cr_assert_eq(tb_sport(buf), 8080);
	cr_assert_eq(tb_dst(buf), IN2);
	cr_assert_eq(tb_dport(buf), 6000);
	assert_csums("hairpin reply");
	cr_assert_eq(nat_engine_stats(e)->hairpinned, 2);
	nat_engine_destroy(e);
}

Test(engine, hairpin_to_mapping_under_eif)
{
	g_cfg.filtering = NAT_FILTER_EI;
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m); /* IN1:5000 -> NAT:m */
	size_t n = tb_udp(buf, IN2, 7000, NAT, m, 8);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert_eq(tb_src(buf), NAT);
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 5000);
	assert_csums("hairpin udp");
	nat_engine_destroy(e);
}

Test(engine, bypass_keeps_source)
{
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_BYPASS,
					   .dst = {IP4(192, 0, 2, 0), 24}};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "host network");
	g_rules[1] = (struct nat_rule_cfg){.action = NAT_ACT_NAT};
	snprintf(g_rules[1].name, NAT_NAME_MAX, "internet");
	g_cfg.n_rules = 2;
	struct nat_engine *e = make();
	uint32_t host = IP4(192, 0, 2, 100);
	size_t n = tb_tcp(buf, IN1, 5555, host, 22, NAT_TCP_SYN, 0);
	uint8_t before[64];
	memcpy(before, buf, n);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_BYPASS);
	cr_assert_eq(r.rule, 0);
	cr_assert(memcmp(before, buf, n) == 0, "bypassed packet modified");
	n = tb_tcp(buf, host, 22, IN1, 5555, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_BYPASS, "reply to bypass flow: %s",
		     nat_reason_name(r.reason));
	cr_assert_neq(r.flow_id, 0);
	n = tb_tcp(buf, IN1, 5556, R1, 443, NAT_TCP_SYN, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	nat_engine_destroy(e);
}

Test(engine, first_matching_rule_wins)
{
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_DROP,
					   .dst = {IP4(198, 51, 100, 10), 32}};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "block one");
	g_rules[1] = (struct nat_rule_cfg){.action = NAT_ACT_BYPASS,
					   .dst = {IP4(198, 51, 100, 0), 24}};
	snprintf(g_rules[1].name, NAT_NAME_MAX, "lab");
	g_rules[2] = (struct nat_rule_cfg){.action = NAT_ACT_DROP,
					   .dst = {IP4(198, 51, 100, 0), 24}};
	snprintf(g_rules[2].name, NAT_NAME_MAX, "never reached");
	g_rules[3] = (struct nat_rule_cfg){.action = NAT_ACT_NAT};
	snprintf(g_rules[3].name, NAT_NAME_MAX, "internet");
	g_cfg.n_rules = 4;
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IN1, 1, R1, 53, 4);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_RULE_DROP);
	cr_assert_eq(r.rule, 0);
	n = tb_udp(buf, IN1, 1, R2, 53, 4);
	r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_BYPASS, "later rule overrode earlier");
	cr_assert_eq(r.rule, 1);
	n = tb_udp(buf, IN1, 1, R3, 53, 4);
	r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(r.rule, 3);
	cr_assert_str_eq(nat_engine_rule_name(e, 3), "internet");
	nat_engine_destroy(e);
}

Test(engine, rule_protocol_and_ports_match)
{
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_DROP,
					   .proto = 6,
					   .n_ports = 1,
					   .ports = {{25, 25}}};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "no smtp");
	g_rules[1] = (struct nat_rule_cfg){.action = NAT_ACT_NAT};
	snprintf(g_rules[1].name, NAT_NAME_MAX, "internet");
	g_cfg.n_rules = 2;
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5000, R1, 25, NAT_TCP_SYN, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).reason, NAT_R_RULE_DROP);
	n = tb_udp(buf, IN1, 5000, R1, 25, 4);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	n = tb_tcp(buf, IN1, 5001, R1, 26, NAT_TCP_SYN, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	nat_engine_destroy(e);
}

Test(engine, snat_rule_uses_its_address)
{
	uint32_t alt = IP4(203, 0, 113, 2);
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_SNAT,
					   .dst = {IP4(198, 51, 100, 0), 24},
					   .to_address = alt};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "via alt");
	g_rules[1] = (struct nat_rule_cfg){.action = NAT_ACT_NAT};
	snprintf(g_rules[1].name, NAT_NAME_MAX, "internet");
	g_cfg.n_rules = 2;
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 4);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_src(buf), alt);
	uint16_t m = tb_sport(buf);
	n = tb_udp(buf, R1, 53, alt, m, 4);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN1);
	n = tb_udp(buf, IN1, 5000, R3, 53, 4);
	go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(tb_src(buf), NAT);
	nat_engine_destroy(e);
}

/* Many inside hosts all using source port 5000, more of them than there
 * are external ports: each mapping is unique, each reply reaches its own
 * host, and the rest are refused as port exhaustion. */
Test(engine, more_flows_than_ports_never_share_a_mapping)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40009;
	struct nat_engine *e = make();
	enum { HOSTS = 50 };
	uint16_t mapped[HOSTS];
	int ok = 0, exhausted = 0;
	for (int h = 0; h < HOSTS; h++) {
		uint32_t ip = IP4(172, 17, 240, 100 + h);
		size_t n = tb_udp(buf, ip, 5000, R1, 53, 4);
		struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
		mapped[h] = 0;
		if (r.verdict == NAT_V_NAT) {
			mapped[h] = tb_sport(buf);
			ok++;
		} else {
			cr_assert_eq(r.reason, NAT_R_PORT_EXHAUSTED);
			exhausted++;
		}
	}
	cr_assert_eq(ok, 11, "5000 preserved once plus 10 range ports");
	cr_assert_eq(exhausted, HOSTS - 11);
	for (int a = 0; a < HOSTS; a++)
		for (int b = a + 1; b < HOSTS; b++)
			cr_assert(!mapped[a] || mapped[a] != mapped[b],
				  "mapping %u handed out twice", mapped[a]);
	for (int h = 0; h < HOSTS; h++) {
		if (!mapped[h])
			continue;
		size_t n = tb_udp(buf, R1, 53, NAT, mapped[h], 4);
		cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
		cr_assert_eq(tb_dst(buf), IP4(172, 17, 240, 100 + h),
			     "reply for %u reached the wrong host", mapped[h]);
		cr_assert_eq(tb_dport(buf), 5000);
	}
	nat_engine_destroy(e);
}

Test(engine, table_full_drops_with_event)
{
	g_cfg.limits.max_flows = 2;
	struct nat_engine *e = make();
	for (int i = 0; i < 3; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(5000 + i), R1, 53, 4);
		struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
		if (i == 2) {
			cr_assert_eq(r.reason, NAT_R_TABLE_FULL);
			cr_assert_eq(count_ev(NAT_EV_TABLE_FULL), 1);
		}
	}
	nat_engine_destroy(e);
}

Test(engine, unsolicited_inbound_dropped_as_no_mapping)
{
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, R3, 1234, NAT, 40123, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING);
	cr_assert_eq(count_ev(NAT_EV_PKT_DROP), 1);
	cr_assert_eq(g_ev[g_nev - 1].reason, NAT_R_NO_MAPPING);
	nat_engine_destroy(e);
}

Test(engine, malformed_fragments_ipv6_counted_never_mangled)
{
	g_cfg.policies.fragments = NAT_POLICY_DROP;
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5000, R1, 80, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, 30, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_MALFORMED_L4);
	memset(buf, 0xab, 40);
	r = go(e, 40, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_MALFORMED_IP);
	/* A non-first fragment with policies.fragments: drop: dropped, never
	 * rewritten. */
	n = tb_udp(buf, IN1, 5000, R1, 53, 40);
	tb_put16(buf + 6, 0x0010); /* offset 16*8 */
	tb_put16(buf + 10, 0);
	tb_put16(buf + 10, tb_fold(tb_sum(0, buf, 20)));
	uint8_t before[128];
	memcpy(before, buf, n);
	r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_FRAGMENT);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert(memcmp(before, buf, n) == 0);
	/* IPv6: passed by default, untouched. */
	memset(buf, 0, 60);
	buf[0] = 0x60;
	memcpy(before, buf, 60);
	r = go(e, 60, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_PASS);
	cr_assert_eq(r.reason, NAT_R_IPV6);
	cr_assert(memcmp(before, buf, 60) == 0);
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_MALFORMED_L4], 1);
	cr_assert_eq(st->by_reason[NAT_R_MALFORMED_IP], 1);
	cr_assert_eq(st->by_reason[NAT_R_FRAGMENT], 1);
	cr_assert_eq(st->by_reason[NAT_R_IPV6], 1);
	cr_assert_eq(st->packets, 4);
	nat_engine_destroy(e);
}

Test(engine, tcp_rst_without_flow_not_leaked)
{
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5000, R1, 80, NAT_TCP_RST, 0);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_TCP_NO_FLOW);
	nat_engine_destroy(e);
}

Test(engine, flow_ids_unique_and_in_events)
{
	struct nat_engine *e = make();
	uint64_t ids[10];
	for (int i = 0; i < 10; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(6000 + i), R1, 53, 4);
		ids[i] = go(e, n, NAT_DIR_OUT, 0).flow_id;
		cr_assert_neq(ids[i], 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j]);
	}
	cr_assert_eq(count_ev(NAT_EV_FLOW_OPEN), 10);
	for (size_t i = 0; i < g_nev; i++)
		cr_assert_eq(g_ev[i].flow.id, ids[i]);
	nat_engine_flush(e, S);
	cr_assert_eq(count_ev(NAT_EV_FLOW_CLOSE), 10);
	cr_assert_eq(nat_engine_stats(e)->flows_active, 0);
	nat_engine_destroy(e);
}

Test(engine, host_internal_ip_never_translated)
{
	g_cfg.has_host_internal_ip = true;
	g_cfg.host_internal_ip = IP4(172, 17, 240, 1);
	struct nat_engine *e = make();
	size_t n = tb_udp(buf, IP4(172, 17, 240, 1), 5000, R1, 53, 4);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_neq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), IP4(172, 17, 240, 1));
	nat_engine_destroy(e);
}

/* The batch entry point must decide exactly as one call per packet: two
 * engines, the same random mix of traffic, byte-identical outputs. */
Test(engine, batch_processing_equals_one_by_one)
{
	g_cfg.port_range.lo = 40000;
	g_cfg.port_range.hi = 40063;
	struct nat_engine *a = make();
	struct nat_engine *b = make();
	enum { N = 4096, B = 13 };
	static uint8_t pa[B][128], pb[B][128];
	uint8_t *ptrs[B];
	size_t lens[B];
	struct nat_meta metas[B];
	struct nat_result ra, rb[B];
	uint64_t x = 99;
	for (int base = 0; base < N; base += B) {
		for (int i = 0; i < B; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			uint32_t h = IP4(172, 17, 240, 1 + (x >> 60));
			uint16_t port = (uint16_t)(1000 + ((x >> 40) & 7));
			uint32_t r = IP4(198, 51, 100, (x >> 32) & 3);
			bool in = (x >> 20) & 1;
			size_t n;
			if ((x >> 24) & 1)
				n = in ? tb_udp(pa[i], r, 53, NAT,
						(uint16_t)(40000 + ((x >> 8) & 63)), 4)
				       : tb_udp(pa[i], h, port, r, 53, 4);
			else
				n = in ? tb_tcp(pa[i], r, 80, NAT,
						(uint16_t)(1000 + ((x >> 8) & 7)),
						NAT_TCP_ACK, 0)
				       : tb_tcp(pa[i], h, port, r, 80,
						NAT_TCP_SYN, 0);
			memcpy(pb[i], pa[i], n);
			ptrs[i] = pb[i];
			lens[i] = n;
			metas[i] = (struct nat_meta){
				.dir = in ? NAT_DIR_IN : NAT_DIR_OUT,
				.ts_ns = (uint64_t)(base + i) * 50000000ull};
		}
		nat_process_batch(b, ptrs, lens, metas, rb, B);
		for (int i = 0; i < B; i++) {
			nat_process(a, pa[i], lens[i], &metas[i], &ra);
			cr_assert_eq(ra.verdict, rb[i].verdict,
				     "packet %d: verdict differs", base + i);
			cr_assert_eq(ra.reason, rb[i].reason);
			cr_assert(memcmp(pa[i], pb[i], lens[i]) == 0,
				  "packet %d: bytes differ", base + i);
		}
	}
	cr_assert_eq(nat_engine_stats(a)->natted, nat_engine_stats(b)->natted);
	nat_engine_destroy(a);
	nat_engine_destroy(b);
}

/* ---- bad input (issue 17 item 12) ---- */

Test(engine, udp_length_0_4_7_or_past_the_datagram_dropped_and_counted)
{
	struct nat_engine *e = make();
	const uint16_t bad[] = {0, 4, 7, 8 + 10 + 1, 4000};
	size_t nbad = sizeof(bad) / sizeof(bad[0]);
	for (size_t i = 0; i < nbad; i++) {
		size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
		tb_put16(buf + 24, bad[i]);
		tb_put16(buf + 26, 0);
		uint16_t c = tb_l4_csum(buf, buf + 20, n - 20, 17);
		tb_put16(buf + 26, c ? c : 0xffff);
		uint8_t before[64];
		memcpy(before, buf, n);
		struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
		cr_assert_eq(r.verdict, NAT_V_DROP,
			     "UDP length %u over an 18-byte datagram was %s",
			     bad[i], nat_verdict_name(r.verdict));
		cr_assert_eq(r.reason, NAT_R_UDP_LENGTH, "length %u: %s",
			     bad[i], nat_reason_name(r.reason));
		cr_assert(memcmp(before, buf, n) == 0, "dropped but rewritten");
		/* Inbound too. */
		n = tb_udp(buf, R1, 53, NAT, 40000, 10);
		tb_put16(buf + 24, bad[i]);
		cr_assert_eq(go(e, n, NAT_DIR_IN, 0).reason, NAT_R_UDP_LENGTH);
	}
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_UDP_LENGTH], 2 * nbad);
	cr_assert_eq(st->dropped, 2 * nbad);
	cr_assert_eq(st->flows_total, 0, "a bad datagram opened a flow");
	cr_assert_eq(count_ev(NAT_EV_PKT_DROP), 2 * nbad);
	cr_assert_eq(g_ev[0].reason, NAT_R_UDP_LENGTH);
	/* The right length passes. */
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 10);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	nat_engine_destroy(e);
}

Test(engine, icmp_error_with_bad_checksum_dropped_and_counted)
{
	struct nat_engine *e = make();
	uint16_t m;
	open_udp_mapping(e, &m);
	uint8_t inner[64];
	size_t qn = tb_udp(inner, NAT, m, R1, 53, 10);
	size_t n = tb_icmp_error(buf, 3, 3, R1, NAT, inner, qn);
	buf[22] ^= 0x10; /* the ICMP checksum */
	uint8_t before[128];
	memcpy(before, buf, n);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_DROP, "bad-checksum error was %s",
		     nat_verdict_name(r.verdict));
	cr_assert_eq(r.reason, NAT_R_ICMP_CHECKSUM, "%s",
		     nat_reason_name(r.reason));
	cr_assert(memcmp(before, buf, n) == 0, "dropped but rewritten");
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_ICMP_CHECKSUM], 1);
	cr_assert_eq(g_ev[g_nev - 1].type, NAT_EV_PKT_DROP);
	cr_assert_eq(g_ev[g_nev - 1].reason, NAT_R_ICMP_CHECKSUM);
	/* The same error intact is translated. */
	n = tb_icmp_error(buf, 3, 3, R1, NAT, inner, qn);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), IN1);
	assert_csums("icmp error in");
	/* A truncated copy cannot be judged: translated as before. */
	n = tb_icmp_error(buf, 3, 3, R1, NAT, inner, qn);
	buf[22] ^= 0x10;
	r = go(e, n - 2, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	nat_engine_destroy(e);
}

/* ---- fragments (docs/fragments.md; issue 17 item 4) ---- */

#define FR_MAX 8
#define DG_MAX 8192

struct frags {
	uint8_t b[FR_MAX][1600];
	size_t len[FR_MAX];
	size_t n;
};

/* Cuts the IPv4 datagram d (20-byte header) into fragments carrying
 * `chunk` payload bytes each (a multiple of 8), IP id `id`. */
static void fragment(const uint8_t *d, size_t dlen, size_t chunk, uint16_t id,
		     struct frags *f)
{
	size_t pay = dlen - 20;
	f->n = 0;
	for (size_t off = 0; off < pay; off += chunk) {
		size_t k = pay - off < chunk ? pay - off : chunk;
		uint8_t *o = f->b[f->n];
		cr_assert_lt(f->n, FR_MAX);
		memcpy(o, d, 20);
		memcpy(o + 20, d + 20 + off, k);
		tb_put16(o + 2, (uint16_t)(20 + k));
		tb_put16(o + 4, id);
		tb_put16(o + 6, (uint16_t)((off + k < pay ? 0x2000 : 0) |
					   (off / 8)));
		tb_put16(o + 10, 0);
		tb_put16(o + 10, tb_fold(tb_sum(0, o, 20)));
		f->len[f->n++] = 20 + k;
	}
}

/* Puts fragments back together (any order) into out; returns the length,
 * 0 when a byte is missing. */
static size_t reassemble(uint8_t (*b)[1600], const size_t *len, size_t n,
			 uint8_t *out)
{
	size_t end = 0, got = 0;
	for (size_t i = 0; i < n; i++) {
		size_t off = (size_t)(tb_get16(b[i] + 6) & 0x1fff) * 8;
		memcpy(out + 20 + off, b[i] + 20, len[i] - 20);
		got += len[i] - 20;
		if (!(tb_get16(b[i] + 6) & 0x2000))
			end = off + len[i] - 20;
		if (off == 0)
			memcpy(out, b[i], 20);
	}
	if (got != end)
		return 0;
	tb_put16(out + 2, (uint16_t)(20 + end));
	tb_put16(out + 6, 0);
	tb_put16(out + 10, 0);
	tb_put16(out + 10, tb_fold(tb_sum(0, out, 20)));
	return 20 + end;
}

/* What the fragment sink saw. */
static struct {
	uint8_t b[FR_MAX][1600];
	size_t len[FR_MAX];
	uint64_t tag[FR_MAX];
	struct nat_result res[FR_MAX];
	size_t n;
} g_out;

static void on_frag(void *ctx, uint64_t tag, const uint8_t *pkt, size_t len,
		    const struct nat_meta *m, const struct nat_result *res)
{
	(void)ctx;
	(void)m;
	cr_assert_lt(g_out.n, FR_MAX);
	memcpy(g_out.b[g_out.n], pkt, len);
	g_out.len[g_out.n] = len;
	g_out.tag[g_out.n] = tag;
	g_out.res[g_out.n] = *res;
	g_out.n++;
}

static struct nat_engine *make_frag(void)
{
	struct nat_engine *e = make();
	memset(&g_out, 0, sizeof(g_out));
	struct nat_frag_sink s = {.ctx = NULL, .fn = on_frag};
	nat_engine_set_frag_sink(e, &s);
	return e;
}

static struct nat_result go_frag(struct nat_engine *e, struct frags *f,
				 size_t i, enum nat_dir d, uint64_t ts)
{
	struct nat_meta m = {.dir = d, .ts_ns = ts, .tag = 100 + i};
	struct nat_result r;
	nat_process(e, f->b[i], f->len[i], &m, &r);
	return r;
}

static uint8_t g_dg[DG_MAX], g_ref[DG_MAX], g_re[DG_MAX];

/* Packets = verdicts given + fragments held now. */
static void assert_packets_add_up(struct nat_engine *e)
{
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->packets, st->natted + st->bypassed + st->passed +
					  st->dropped + st->frag_held_now,
		     "packets %llu != verdicts + held",
		     (unsigned long long)st->packets);
}

Test(engine, fragmented_udp_out_and_its_fragmented_reply_in_byte_exact)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	/* 4,000 bytes of UDP on a 1500-byte MTU: three fragments. */
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 4000 - 8);
	fragment(g_dg, dl, 1480, 0x4242, &f);
	cr_assert_eq(f.n, 3);
	uint16_t mapped = 0;
	for (size_t i = 0; i < f.n; i++) {
		struct nat_result r = go_frag(e, &f, i, NAT_DIR_OUT, 0);
		cr_assert_eq(r.verdict, NAT_V_NAT, "fragment %zu: %s/%s", i,
			     nat_verdict_name(r.verdict),
			     nat_reason_name(r.reason));
		cr_assert_neq(r.flow_id, 0);
		cr_assert_eq(tb_src(f.b[i]), NAT,
			     "fragment %zu left with an inside source", i);
		cr_assert_eq(tb_dst(f.b[i]), R1);
		cr_assert(tb_ip_ok(f.b[i]), "fragment %zu: IP checksum", i);
		if (i == 0)
			mapped = tb_sport(f.b[0]);
	}
	size_t rl = reassemble(f.b, f.len, f.n, g_re);
	size_t refl = tb_udp(g_ref, NAT, mapped, R1, 53, 4000 - 8);
	cr_assert_eq(rl, refl);
	cr_assert(tb_l4_ok(g_re), "UDP checksum of the reassembled datagram");
	cr_assert(memcmp(g_re + 20, g_ref + 20, refl - 20) == 0,
		  "reassembled datagram differs from one sent by NAT:%u",
		  mapped);

	/* The reply, 4,000 bytes, fragmented, arrives in order. */
	dl = tb_udp(g_dg, R1, 53, NAT, mapped, 4000 - 8);
	fragment(g_dg, dl, 1480, 0x9999, &f);
	for (size_t i = 0; i < f.n; i++) {
		struct nat_result r = go_frag(e, &f, i, NAT_DIR_IN, S);
		cr_assert_eq(r.verdict, NAT_V_NAT, "reply fragment %zu: %s", i,
			     nat_reason_name(r.reason));
		cr_assert_eq(tb_dst(f.b[i]), IN1,
			     "reply fragment %zu not sent to the inside host",
			     i);
		cr_assert_eq(tb_src(f.b[i]), R1);
		cr_assert(tb_ip_ok(f.b[i]));
	}
	rl = reassemble(f.b, f.len, f.n, g_re);
	refl = tb_udp(g_ref, R1, 53, IN1, 5000, 4000 - 8);
	cr_assert_eq(rl, refl);
	cr_assert(tb_l4_ok(g_re));
	cr_assert(memcmp(g_re + 20, g_ref + 20, refl - 20) == 0,
		  "reassembled reply differs from one sent to IN1:5000");

	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->natted, 6);
	cr_assert_eq(st->flows_total, 1, "fragments opened flows of their own");
	cr_assert_eq(st->frag.learned, 2);
	cr_assert_eq(st->frag.translated, 4);
	cr_assert_eq(st->frag.held, 0);
	cr_assert_eq(st->frag_datagrams_now, 0, "complete datagrams forgotten");
	cr_assert_eq(g_out.n, 0, "nothing was held, nothing released");
	assert_packets_add_up(e);
	nat_engine_destroy(e);
}

Test(engine, later_fragments_before_their_first_are_held_then_released)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 4000 - 8);
	fragment(g_dg, dl, 1480, 7, &f);
	/* Last, then middle: held, nothing leaves. */
	struct nat_result r = go_frag(e, &f, 2, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_HELD, "%s/%s",
		     nat_verdict_name(r.verdict), nat_reason_name(r.reason));
	r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_HELD);
	cr_assert_eq(g_out.n, 0);
	cr_assert_eq(nat_engine_stats(e)->frag_held_now, 2);
	assert_packets_add_up(e);
	/* The first: translated, and the two held ones leave after it. */
	r = go_frag(e, &f, 0, NAT_DIR_OUT, S / 2);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	uint16_t mapped = tb_sport(f.b[0]);
	cr_assert_eq(g_out.n, 2, "held fragments released: %zu", g_out.n);
	cr_assert_eq(g_out.tag[0], 102, "released in arrival order");
	cr_assert_eq(g_out.tag[1], 101);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(g_out.res[i].verdict, NAT_V_NAT);
		cr_assert_eq(g_out.res[i].flow_id, r.flow_id,
			     "a released fragment is not in its flow");
		cr_assert_eq(tb_src(g_out.b[i]), NAT,
			     "released fragment with an inside source");
		cr_assert(tb_ip_ok(g_out.b[i]));
	}
	/* Put first + released together: the datagram NAT:mapped sent. */
	memcpy(f.b[1], g_out.b[1], g_out.len[1]);
	memcpy(f.b[2], g_out.b[0], g_out.len[0]);
	size_t rl = reassemble(f.b, f.len, 3, g_re);
	size_t refl = tb_udp(g_ref, NAT, mapped, R1, 53, 4000 - 8);
	cr_assert_eq(rl, refl);
	cr_assert(tb_l4_ok(g_re));
	cr_assert(memcmp(g_re + 20, g_ref + 20, refl - 20) == 0);
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->frag.held, 2);
	cr_assert_eq(st->frag.released, 2);
	cr_assert_eq(st->natted, 3);
	cr_assert_eq(st->frag_held_now, 0);
	cr_assert_eq(st->frag_datagrams_now, 0);
	assert_packets_add_up(e);
	nat_engine_destroy(e);
}

Test(engine, later_fragment_first_without_a_sink_is_dropped_unheld)
{
	struct nat_engine *e = make();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 3000);
	fragment(g_dg, dl, 1480, 7, &f);
	struct nat_result r = go_frag(e, &f, 2, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FRAG_UNHELD, "%s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_src(f.b[2]), IN1);
	nat_engine_destroy(e);
}

Test(engine, held_fragments_whose_first_never_comes_expire_counted)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 4000 - 8);
	fragment(g_dg, dl, 1480, 7, &f);
	cr_assert_eq(go_frag(e, &f, 1, NAT_DIR_OUT, 0).verdict, NAT_V_HELD);
	cr_assert_eq(go_frag(e, &f, 2, NAT_DIR_OUT, 0).verdict, NAT_V_HELD);
	nat_engine_tick(e, 29 * S);
	cr_assert_eq(g_out.n, 0, "expired before timeouts.fragment (30 s)");
	nat_engine_tick(e, 31 * S);
	cr_assert_eq(g_out.n, 2, "held fragments not expired: %zu", g_out.n);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(g_out.res[i].verdict, NAT_V_DROP);
		cr_assert_eq(g_out.res[i].reason, NAT_R_FRAG_TIMEOUT);
		cr_assert_eq(tb_src(g_out.b[i]), IN1, "untranslated copy");
	}
	cr_assert_eq(g_out.tag[0], 101);
	cr_assert_eq(g_out.tag[1], 102);
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_FRAG_TIMEOUT], 2);
	cr_assert_eq(st->dropped, 2);
	cr_assert_eq(st->frag.expired_held, 2);
	cr_assert_eq(st->frag.expired_entries, 1);
	cr_assert_eq(st->frag_held_now, 0);
	cr_assert_eq(count_ev(NAT_EV_PKT_DROP), 2);
	assert_packets_add_up(e);
	/* The first fragment coming now finds nothing to release. */
	cr_assert_eq(go_frag(e, &f, 0, NAT_DIR_OUT, 32 * S).verdict,
		     NAT_V_NAT);
	cr_assert_eq(g_out.n, 2);
	nat_engine_destroy(e);
}

Test(engine, overlapping_fragment_drops_the_rest_of_its_datagram)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 4000 - 8);
	fragment(g_dg, dl, 1480, 7, &f);
	cr_assert_eq(go_frag(e, &f, 0, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	/* Fragment 1 moved 8 bytes back: it overlaps the first. */
	tb_put16(f.b[1] + 6, (uint16_t)(0x2000 | (1480 / 8 - 1)));
	tb_put16(f.b[1] + 10, 0);
	tb_put16(f.b[1] + 10, tb_fold(tb_sum(0, f.b[1], 20)));
	struct nat_result r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FRAG_OVERLAP, "%s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_src(f.b[1]), IN1, "dropped but rewritten");
	r = go_frag(e, &f, 2, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_FRAG_OVERLAP,
		     "a good fragment of an overlapping datagram was %s",
		     nat_verdict_name(r.verdict));
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_FRAG_OVERLAP], 2);
	cr_assert_eq(st->frag.dropped_overlap, 2);
	assert_packets_add_up(e);
	nat_engine_destroy(e);
}

Test(engine, tiny_fragments_dropped_and_counted)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	/* RFC 1858: a fragment at offset 8 bytes. */
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 16);
	fragment(g_dg, dl, 8, 11, &f);
	cr_assert_eq(go_frag(e, &f, 0, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	struct nat_result r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FRAG_TINY, "%s",
		     nat_reason_name(r.reason));
	/* A later fragment at offset 8 before any first: tiny as well. */
	dl = tb_udp(g_dg, IN1, 5001, R1, 53, 16);
	fragment(g_dg, dl, 8, 12, &f);
	r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_FRAG_TINY, "%s/%s",
		     nat_verdict_name(r.verdict), nat_reason_name(r.reason));
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_FRAG_TINY], 2);
	cr_assert_eq(st->frag.dropped_tiny, 2);
	assert_packets_add_up(e);
	nat_engine_destroy(e);
}

Test(engine, fragments_of_a_bad_size_are_fragment_bad)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 3000);
	fragment(g_dg, dl, 1480, 7, &f);
	/* A non-last fragment whose payload is not a multiple of 8. */
	f.len[1] -= 3;
	tb_put16(f.b[1] + 2, (uint16_t)f.len[1]);
	tb_put16(f.b[1] + 10, 0);
	tb_put16(f.b[1] + 10, tb_fold(tb_sum(0, f.b[1], 20)));
	struct nat_result r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.reason, NAT_R_FRAG_BAD, "%s/%s",
		     nat_verdict_name(r.verdict), nat_reason_name(r.reason));
	nat_engine_destroy(e);
}

Test(engine, fragments_policy_drop_keeps_first_fragments_translated)
{
	g_cfg.policies.fragments = NAT_POLICY_DROP;
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 5000, R1, 53, 3000);
	fragment(g_dg, dl, 1480, 7, &f);
	cr_assert_eq(go_frag(e, &f, 0, NAT_DIR_OUT, 0).verdict, NAT_V_NAT);
	struct nat_result r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FRAGMENT);
	cr_assert_eq(nat_engine_stats(e)->frag.learned, 0);
	nat_engine_destroy(e);
}

Test(engine, hairpinned_fragments_rewrite_both_addresses)
{
	g_fwd[0] = (struct nat_forward_cfg){.proto = 17, .ext_port = 5353,
					    .int_ip = IN2, .int_port = 53};
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "dns");
	g_cfg.n_forwards = 1;
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, IN1, 6000, NAT, 5353, 3000);
	fragment(g_dg, dl, 1480, 21, &f);
	/* Out of order: the last one is held first. */
	cr_assert_eq(go_frag(e, &f, 2, NAT_DIR_OUT, 0).verdict, NAT_V_HELD);
	struct nat_result r = go_frag(e, &f, 0, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert(r.hairpin);
	r = go_frag(e, &f, 1, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert(r.hairpin);
	cr_assert_eq(g_out.n, 1);
	memcpy(f.b[2], g_out.b[0], g_out.len[0]);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(tb_src(f.b[i]), NAT, "fragment %zu source", i);
		cr_assert_eq(tb_dst(f.b[i]), IN2, "fragment %zu destination",
			     i);
		cr_assert(tb_ip_ok(f.b[i]));
	}
	size_t rl = reassemble(f.b, f.len, 3, g_re);
	cr_assert_neq(rl, 0);
	cr_assert(tb_l4_ok(g_re), "hairpinned datagram's UDP checksum");
	cr_assert_eq(tb_dport(g_re), 53);
	cr_assert_eq(nat_engine_stats(e)->hairpinned, 3);
	nat_engine_destroy(e);
}

static void copy_flow(void *ctx, const struct nat_flow_info *fi)
{
	*(struct nat_flow_info *)ctx = *fi;
}

/* Issue 17 item 7: the engine matches a reply to a bypassed flow (what
 * the live rules must hand it: docs/translation.md). */
Test(engine, replies_to_a_bypassed_flow_are_its_inbound_packets)
{
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_BYPASS,
					   .dst = {IP4(192, 0, 2, 0), 24}};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "host network");
	struct nat_engine *e = make();
	uint32_t host = IP4(192, 0, 2, 100);
	size_t n = tb_tcp(buf, IN1, 5555, host, 22, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_BYPASS);
	uint64_t id = r.flow_id;
	n = tb_tcp(buf, host, 22, IN1, 5555, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	r = go(e, n, NAT_DIR_IN, S);
	cr_assert_eq(r.verdict, NAT_V_BYPASS, "%s", nat_reason_name(r.reason));
	cr_assert_eq(r.flow_id, id, "the reply is not in the bypassed flow");
	n = tb_tcp(buf, IN1, 5555, host, 22, NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, S).flow_id, id);
	struct nat_flow_info fi = {0};
	nat_engine_foreach_flow(e, copy_flow, &fi);
	cr_assert_eq(fi.id, id);
	cr_assert_eq(fi.pkts_in, 1, "reply not counted in the flow");
	cr_assert_eq(fi.pkts_out, 2);
	cr_assert_eq(fi.tcp_state, NAT_TCP_ESTABLISHED, "state %s",
		     nat_tcp_state_name(fi.tcp_state));
	nat_engine_destroy(e);
}

Test(engine, reload_refuses_new_fragment_limits_and_keeps_running)
{
	struct nat_engine *e = make();
	struct nat_config n = g_cfg;
	char chg[256], err[512];
	n.limits.max_frag_held = 7;
	cr_assert_eq(nat_engine_reload(e, &n, chg, sizeof(chg), err,
				       sizeof(err)),
		     -1, "a reload resized the fragment table");
	cr_assert(strstr(err, "max_frag_held 1024 -> 7") != NULL, "%s", err);
	n = g_cfg;
	n.policies.fragments = NAT_POLICY_DROP;
	cr_assert_eq(nat_engine_reload(e, &n, chg, sizeof(chg), err,
				       sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(nat_engine_config(e)->policies.fragments,
		     NAT_POLICY_DROP);
	nat_engine_destroy(e);
}

Test(engine, later_fragments_of_a_dropped_first_fragment_share_its_drop)
{
	struct nat_engine *e = make_frag();
	static struct frags f;
	size_t dl = tb_udp(g_dg, R1, 53, NAT, 40999, 4000 - 8);
	fragment(g_dg, dl, 1480, 5, &f);
	cr_assert_eq(go_frag(e, &f, 1, NAT_DIR_IN, 0).verdict, NAT_V_HELD);
	struct nat_result r = go_frag(e, &f, 0, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING);
	cr_assert_eq(g_out.n, 1, "the held fragment still waits");
	cr_assert_eq(g_out.res[0].verdict, NAT_V_DROP);
	cr_assert_eq(g_out.res[0].reason, NAT_R_NO_MAPPING,
		     "held fragment of an unsolicited datagram dropped as %s",
		     nat_reason_name(g_out.res[0].reason));
	r = go_frag(e, &f, 2, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING);
	const struct nat_stats *st = nat_engine_stats(e);
	cr_assert_eq(st->by_reason[NAT_R_NO_MAPPING], 3);
	cr_assert_eq(st->frag_held_now, 0);
	cr_assert_eq(st->frag_datagrams_now, 0);
	assert_packets_add_up(e);
	nat_engine_destroy(e);
}

/* Issue 17 items 7 and 8: with a bypass rule for the inside network, the
 * reply between two inside hosts comes from inside as well; it belongs to
 * the bypassed flow (in packets, TCP state), it does not open a flow. */
Test(engine, inside_to_inside_reply_is_the_bypassed_flows_inbound_packet)
{
	g_rules[0] = (struct nat_rule_cfg){.action = NAT_ACT_BYPASS,
					   .dst = {IP4(172, 17, 240, 0), 24}};
	snprintf(g_rules[0].name, NAT_NAME_MAX, "inside");
	struct nat_engine *e = make();
	size_t n = tb_tcp(buf, IN1, 5555, IN2, 22, NAT_TCP_SYN, 0);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_BYPASS);
	uint64_t id = r.flow_id;
	n = tb_tcp(buf, IN2, 22, IN1, 5555, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	r = go(e, n, NAT_DIR_OUT, S);
	cr_assert_eq(r.verdict, NAT_V_BYPASS, "%s", nat_reason_name(r.reason));
	cr_assert_eq(r.flow_id, id, "the reply opened flow %llu",
		     (unsigned long long)r.flow_id);
	n = tb_tcp(buf, IN1, 5555, IN2, 22, NAT_TCP_ACK, 0);
	cr_assert_eq(go(e, n, NAT_DIR_OUT, S).flow_id, id);
	struct nat_flow_info fi = {0};
	nat_engine_foreach_flow(e, copy_flow, &fi);
	cr_assert_eq(nat_engine_stats(e)->flows_total, 1);
	cr_assert_eq(fi.pkts_in, 1, "reply not counted as the flow's in");
	cr_assert_eq(fi.pkts_out, 2);
	cr_assert_eq(fi.tcp_state, NAT_TCP_ESTABLISHED, "state %s",
		     nat_tcp_state_name(fi.tcp_state));
	/* ICMP echo between inside hosts: the reply is the flow's too. */
	n = tb_echo(buf, 8, IN1, IN2, 0x77, 1);
	r = go(e, n, NAT_DIR_OUT, 2 * S);
	cr_assert_eq(r.verdict, NAT_V_BYPASS);
	id = r.flow_id;
	n = tb_echo(buf, 0, IN2, IN1, 0x77, 1);
	r = go(e, n, NAT_DIR_OUT, 2 * S);
	cr_assert_eq(r.flow_id, id, "the echo reply opened a flow");
	cr_assert_eq(nat_engine_stats(e)->flows_total, 2);
	nat_engine_destroy(e);
}

/* The gateway itself sends a time-exceeded (TTL 1) or frag-needed about a
 * packet it translated inbound to a forward: the quote must carry the NAT
 * address and port the sender used, the outer source (the gateway's own)
 * stays; with no flow it is dropped rather than sent quoting the inside. */
Test(engine, gateway_icmp_error_about_a_forwarded_packet_quotes_the_nat_address)
{
	g_fwd[0] = (struct nat_forward_cfg){.proto = 17, .ext_port = 5353,
					    .int_ip = IN2, .int_port = 53};
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "dns");
	g_cfg.n_forwards = 1;
	struct nat_engine *e = make();
	const uint32_t gw = IP4(198, 51, 100, 1); /* another address of ours */
	size_t n = tb_udp(buf, R1, 3333, NAT, 5353, 8);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN2);
	uint8_t q[64];
	memcpy(q, buf, 36);
	for (int type = 0; type < 2; type++) {
		n = tb_icmp_error(buf, type ? 3 : 11, type ? 4 : 0,
				  type ? gw : NAT, R1, q, 36);
		struct nat_result r = go(e, n, NAT_DIR_OUT, 1);
		cr_assert_eq(r.verdict, NAT_V_NAT, "%s",
			     nat_reason_name(r.reason));
		cr_assert_neq(r.flow_id, 0, "not accounted to the forward");
		cr_assert_eq(tb_src(buf), type ? gw : NAT,
			     "the gateway's own source changed");
		cr_assert_eq(tb_dst(buf), R1);
		cr_assert_eq(tb_get32(buf + 28 + 12), R1, "inner src changed");
		cr_assert_eq(tb_get32(buf + 28 + 16), NAT,
			     "the quote still holds the inside address");
		cr_assert_eq(tb_get16(buf + 28 + 22), 5353,
			     "the quoted port is not the forward's");
		cr_assert(tb_ip_ok(buf) && tb_l4_ok(buf) && tb_ip_ok(buf + 28),
			  "checksums after the quote was rewritten");
	}
	/* No flow for the quoted packet: dropped, counted. */
	memcpy(q, buf + 28, 36);
	tb_put32(q + 16, IN3);
	q[10] = q[11] = 0;
	tb_put16(q + 10, tb_fold(tb_sum(0, q, 20)));
	n = tb_icmp_error(buf, 11, 0, NAT, R1, q, 36);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 2);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_ICMP_NO_FLOW);
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_ICMP_NO_FLOW], 1);
	nat_engine_destroy(e);
}

/* Masquerade follows its out interface: when the interface's address
 * changes, new flows take the new one; a flow on the old one keeps it
 * and its replies still find it. */
Test(engine, masquerade_new_flows_take_the_out_interfaces_new_address)
{
	const uint32_t a1 = IP4(198, 51, 100, 1), a2 = IP4(198, 51, 100, 2);
	char err[128];
	g_rules[0].action = NAT_ACT_MASQUERADE;
	snprintf(g_rules[0].out_if, sizeof(g_rules[0].out_if), "out1");
	struct nat_engine *e = make();
	struct nat_meta m = {.dir = NAT_DIR_OUT, .ts_ns = 0, .out_if = "out1"};
	struct nat_result r;

	cr_assert_eq(nat_engine_set_if_addr(e, "out1", a1, err, sizeof(err)), 0);
	size_t n = tb_udp(buf, IN1, 5000, R1, 53, 8);
	nat_process(e, buf, n, &m, &r);
	cr_assert_eq(r.verdict, NAT_V_NAT, "%s", nat_reason_name(r.reason));
	cr_assert_eq(tb_src(buf), a1);
	uint16_t p1 = tb_sport(buf);

	/* The interface now has a2 only: the backend reports a2, again. */
	cr_assert_eq(nat_engine_set_if_addr(e, "out1", a2, err, sizeof(err)), 0);
	cr_assert_eq(nat_engine_set_if_addr(e, "out1", a2, err, sizeof(err)), 0);
	n = tb_udp(buf, IN2, 5000, R1, 53, 8);
	nat_process(e, buf, n, &m, &r);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), a2, "a new flow kept the old address");

	/* The old flow keeps a1, both ways. */
	n = tb_udp(buf, IN1, 5000, R1, 53, 8);
	nat_process(e, buf, n, &m, &r);
	cr_assert_eq(tb_src(buf), a1, "an existing flow changed address");
	n = tb_udp(buf, R1, 53, a1, p1, 8);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN1);

	/* Both addresses reported (a1 back, then a2): the last one wins. */
	cr_assert_eq(nat_engine_set_if_addr(e, "out1", a1, err, sizeof(err)), 0);
	n = tb_udp(buf, IN3, 5000, R1, 53, 8);
	nat_process(e, buf, n, &m, &r);
	cr_assert_eq(tb_src(buf), a1);
	nat_engine_destroy(e);
}
