/* The seeds' rule model in the engine: forwards matched by source,
 * interface and external address (first match in file order), redirect
 * rules (destination rewritten, replies from the original address), and
 * several inside networks with their own flow limits and counters. Each
 * engine is built from YAML, as a user would write it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "packet.h"
#include "pktbuild.h"

#define NAT IP4(203, 0, 113, 1)
#define NAT2 IP4(203, 0, 113, 2)
#define IN1 IP4(172, 17, 240, 21)
#define IN2 IP4(172, 17, 240, 22)
#define OFFICE IP4(198, 51, 100, 10)
#define OTHER IP4(192, 0, 2, 77)
#define DNS1 IP4(198, 51, 100, 53)
#define DNS2 IP4(192, 0, 2, 53)
#define S (1000000000ull)

#define HEAD "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

static struct nat_config g_cfg;
static uint8_t buf[2048];

#define MAX_EV 1024
static struct nat_event g_ev[MAX_EV];
static size_t g_nev;

static void on_event(void *ctx, const struct nat_event *ev)
{
	(void)ctx;
	if (g_nev < MAX_EV)
		g_ev[g_nev++] = *ev;
}

static struct nat_engine *make(const char *yaml)
{
	char err[512];
	g_nev = 0;
	nat_config_free(&g_cfg);
	int rc = nat_config_load_mem("t.yaml", yaml, strlen(yaml), &g_cfg, err,
				     sizeof err);
	cr_assert_eq(rc, 0, "config did not load: %s", err);
	struct nat_engine *e = nat_engine_create(&g_cfg, err, sizeof err);
	cr_assert_not_null(e, "engine create failed: %s", err);
	struct nat_hooks h = { .ctx = NULL, .event = on_event };
	nat_engine_set_hooks(e, &h);
	return e;
}

static struct nat_result go_if(struct nat_engine *e, size_t len,
			       enum nat_dir d, uint64_t ts, const char *in_if)
{
	struct nat_meta m = { .dir = d, .ts_ns = ts, .in_if = in_if };
	struct nat_result r;
	nat_process(e, buf, len, &m, &r);
	return r;
}

static struct nat_result go(struct nat_engine *e, size_t len, enum nat_dir d,
			    uint64_t ts)
{
	return go_if(e, len, d, ts, NULL);
}

static void assert_csums(const char *what)
{
	cr_assert(tb_ip_ok(buf), "%s: IP checksum invalid", what);
	cr_assert(tb_l4_ok(buf), "%s: L4 checksum invalid", what);
}

static size_t count_ev(enum nat_event_type t)
{
	size_t n = 0;
	for (size_t i = 0; i < g_nev; i++)
		n += g_ev[i].type == t;
	return n;
}

static void fini(void)
{
	nat_config_free(&g_cfg);
}

TestSuite(rules, .fini = fini);

/* ---- forwards ---- */

#define SSH_OFFICE                                                   \
	HEAD "port_forward:\n"                                       \
	     "  - name: ssh\n"                                       \
	     "    protocol: tcp\n"                                   \
	     "    external_port: 2222\n"                             \
	     "    internal_ip: 172.17.240.21\n"                      \
	     "    internal_port: 22\n"                               \
	     "    source: 198.51.100.0/24\n"

Test(rules, forward_with_source_refuses_another_network_with_its_reason)
{
	struct nat_engine *e = make(SSH_OFFICE);
	size_t n = tb_tcp(buf, OTHER, 40000, NAT, 2222, 0x02, 0);
	struct nat_result r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_FWD_SOURCE, "reason %s",
		     nat_reason_name(r.reason));
	cr_assert_str_eq(nat_reason_name(r.reason), "forward_source");
	cr_assert_eq(count_ev(NAT_EV_PKT_DROP), 1,
		     "the refusal is a pkt.drop event");
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_FWD_SOURCE], 1);

	n = tb_tcp(buf, OFFICE, 40000, NAT, 2222, 0x02, 0);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "the office is let in");
	cr_assert(r.forward);
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 22);
	assert_csums("forwarded syn");
	nat_engine_destroy(e);
}

Test(rules, forwards_sharing_a_port_first_match_in_file_order)
{
	struct nat_engine *e = make(
		HEAD "port_forward:\n"
		     "  - {name: office, protocol: tcp, external_port: 80, "
		     "internal_ip: 172.17.240.21, source: [198.51.100.0/24, "
		     "192.0.2.1]}\n"
		     "  - {name: rest, protocol: tcp, external_port: 80, "
		     "internal_ip: 172.17.240.22}\n");
	size_t n = tb_tcp(buf, OFFICE, 1000, NAT, 80, 0x02, 0);
	struct nat_result r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN1, "office goes to the first forward");
	n = tb_tcp(buf, IP4(192, 0, 2, 1), 1000, NAT, 80, 0x02, 0);
	r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(tb_dst(buf), IN1, "second source of the list too");
	n = tb_tcp(buf, OTHER, 1000, NAT, 80, 0x02, 0);
	r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN2, "everyone else to the second");
	nat_engine_destroy(e);
}

Test(rules, forward_on_a_second_address_only_there)
{
	struct nat_engine *e = make(
		HEAD "port_forward:\n"
		     "  - {name: web2, protocol: tcp, external_port: 8080, "
		     "internal_ip: 172.17.240.22, internal_port: 80, "
		     "external_ip: 203.0.113.2}\n");
	size_t n = tb_tcp(buf, OTHER, 1000, NAT2, 8080, 0x02, 0);
	struct nat_result r = go(e, n, NAT_DIR_IN, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT, "reason %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), IN2);
	cr_assert_eq(tb_dport(buf), 80);
	/* The reply leaves from the second address. */
	n = tb_tcp(buf, IN2, 80, OTHER, 1000, 0x12, 0);
	r = go(e, n, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), NAT2, "reply must come from 203.0.113.2");
	cr_assert_eq(tb_sport(buf), 8080);
	assert_csums("reply");
	/* nat_ip:8080 is not forwarded. */
	n = tb_tcp(buf, OTHER, 1001, NAT, 8080, 0x02, 0);
	r = go(e, n, NAT_DIR_IN, 2);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING, "reason %s",
		     nat_reason_name(r.reason));
	nat_engine_destroy(e);
}

Test(rules, forward_in_interface_must_match)
{
	struct nat_engine *e = make(
		HEAD "port_forward:\n"
		     "  - {name: w, protocol: udp, external_port: 5000, "
		     "internal_ip: 172.17.240.21, in_interface: wan0}\n");
	size_t n = tb_udp(buf, OTHER, 1000, NAT, 5000, 4);
	struct nat_result r = go_if(e, n, NAT_DIR_IN, 0, "wan1");
	cr_assert_eq(r.reason, NAT_R_FWD_SOURCE);
	n = tb_udp(buf, OTHER, 1000, NAT, 5000, 4);
	r = go_if(e, n, NAT_DIR_IN, 0, "wan0");
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), IN1);
	nat_engine_destroy(e);
}

Test(rules, runtime_forward_with_source_and_unknown_external_ip)
{
	struct nat_engine *e = make(HEAD);
	struct nat_forward_cfg f;
	char err[256];
	memset(&f, 0, sizeof f);
	snprintf(f.name, sizeof f.name, "rt");
	f.proto = 6;
	f.ext_port = 2200;
	f.int_ip = IN1;
	f.int_port = 22;
	f.runtime = true;
	f.n_src = 1;
	f.src[0].addr = IP4(198, 51, 100, 0);
	f.src[0].len = 24;
	cr_assert_eq(nat_engine_forward_add(e, &f, err, sizeof err), 0, "%s",
		     err);
	size_t n = tb_tcp(buf, OTHER, 1000, NAT, 2200, 0x02, 0);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).reason, NAT_R_FWD_SOURCE);
	n = tb_tcp(buf, OFFICE, 1000, NAT, 2200, 0x02, 0);
	cr_assert_eq(go(e, n, NAT_DIR_IN, 0).verdict, NAT_V_NAT);

	/* A second forward on the port for another source is fine; one
	 * for every source after it too; a duplicate of that is not. */
	snprintf(f.name, sizeof f.name, "rt2");
	f.n_src = 0;
	cr_assert_eq(nat_engine_forward_add(e, &f, err, sizeof err), 0, "%s",
		     err);
	snprintf(f.name, sizeof f.name, "rt3");
	cr_assert_eq(nat_engine_forward_add(e, &f, err, sizeof err), -1);
	cr_assert(strstr(err, "for every source"), "%s", err);

	snprintf(f.name, sizeof f.name, "rt4");
	f.ext_ip = IP4(192, 0, 2, 200);
	cr_assert_eq(nat_engine_forward_add(e, &f, err, sizeof err), -1);
	cr_assert(strstr(err, "not an address glassnat listens on"), "%s",
		  err);
	nat_engine_destroy(e);
}

/* ---- redirect ---- */

#define DNS_REDIRECT                                                   \
	HEAD "rules:\n"                                                \
	     "  - name: dns\n"                                         \
	     "    action: redirect\n"                                  \
	     "    protocol: udp\n"                                     \
	     "    destination: 198.51.100.53\n"                        \
	     "    ports: 53\n"                                         \
	     "    to_address: 192.0.2.53\n"                            \
	     "    to_port: 5353\n"                                     \
	     "  - {name: all, action: nat}\n"

Test(rules, redirect_udp53_reply_comes_from_the_original_address)
{
	struct nat_engine *e = make(DNS_REDIRECT);
	size_t n = tb_udp(buf, IN1, 3333, DNS1, 53, 20);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(r.rule, 0, "the redirect rule decided");
	cr_assert_eq(tb_src(buf), NAT, "source translated (then: nat)");
	uint16_t m = tb_sport(buf);
	cr_assert_eq(tb_dst(buf), DNS2, "destination redirected");
	cr_assert_eq(tb_dport(buf), 5353);
	assert_csums("redirected query");

	n = tb_udp(buf, DNS2, 5353, NAT, m, 40);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "reason %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), IN1);
	cr_assert_eq(tb_dport(buf), 3333);
	cr_assert_eq(tb_src(buf), DNS1, "reply must come from 198.51.100.53");
	cr_assert_eq(tb_sport(buf), 53);
	assert_csums("reply");

	/* Later packets of the flow follow it. */
	n = tb_udp(buf, IN1, 3333, DNS1, 53, 20);
	r = go(e, n, NAT_DIR_OUT, 2);
	cr_assert_eq(tb_dst(buf), DNS2);
	cr_assert_eq(tb_sport(buf), m);

	/* Other traffic is not redirected. */
	n = tb_udp(buf, IN1, 3334, IP4(198, 51, 100, 54), 53, 20);
	go(e, n, NAT_DIR_OUT, 2);
	cr_assert_eq(tb_dst(buf), IP4(198, 51, 100, 54));

	/* The host asking the target directly from the same port would
	 * meet the redirected flow's outside tuple. */
	n = tb_udp(buf, IN1, 3333, DNS2, 5353, 20);
	r = go(e, n, NAT_DIR_OUT, 3);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_REDIRECT_CLASH);
	nat_engine_destroy(e);
}

Test(rules, redirect_then_bypass_keeps_the_source)
{
	struct nat_engine *e = make(
		HEAD "rules:\n"
		     "  - {name: dns, action: redirect, protocol: udp, ports: "
		     "53, to_address: 172.17.240.53, then: bypass}\n");
	size_t n = tb_udp(buf, IN1, 3333, DNS1, 53, 20);
	struct nat_result r = go(e, n, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), IN1, "then: bypass keeps the source");
	cr_assert_eq(tb_sport(buf), 3333);
	cr_assert_eq(tb_dst(buf), IP4(172, 17, 240, 53));
	cr_assert_eq(tb_dport(buf), 53);
	/* The inside resolver answers from inside. */
	n = tb_udp(buf, IP4(172, 17, 240, 53), 53, IN1, 3333, 40);
	r = go(e, n, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_src(buf), DNS1, "reply from the original address");
	cr_assert_eq(tb_dst(buf), IN1);
	assert_csums("inside reply");
	nat_engine_destroy(e);
}

Test(rules, icmp_error_about_a_redirected_flow_quotes_the_original)
{
	struct nat_engine *e = make(DNS_REDIRECT);
	size_t n = tb_udp(buf, IN1, 3333, DNS1, 53, 20);
	go(e, n, NAT_DIR_OUT, 0);
	uint8_t sent[128];
	memcpy(sent, buf, n);
	uint32_t router = IP4(192, 0, 2, 254);
	n = tb_icmp_error(buf, 3, 3, router, NAT, sent, 28);
	struct nat_result r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "reason %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_dst(buf), IN1);
	/* The quoted header: from the host to what it addressed. */
	cr_assert_eq(tb_get32(buf + 28 + 12), IN1);
	cr_assert_eq(tb_get32(buf + 28 + 16), DNS1);
	cr_assert_eq(tb_get16(buf + 28 + 22), 53);
	nat_engine_destroy(e);
}

/* ---- inside networks ---- */

#define TWO_NETS                                                         \
	"nat_ip: 203.0.113.1\n"                                          \
	"internal_network: [172.17.240.0/25, 172.17.240.128/25]\n"       \
	"networks:\n"                                                    \
	"  - {name: lab, network: 172.17.240.0/25, max_flows: 3}\n"      \
	"  - {name: office, network: 172.17.240.128/25}\n"

Test(rules, network_at_its_flow_limit_evicts_its_lru_only)
{
	struct nat_engine *e = make(TWO_NETS);
	cr_assert_eq(nat_engine_n_nets(e), 2);
	cr_assert_str_eq(nat_engine_net_name(e, 0), "lab");
	cr_assert_str_eq(nat_engine_net_name(e, 1), "office");
	uint32_t office = IP4(172, 17, 240, 200);
	/* The office opens 5 flows: no limit of its own. */
	for (uint16_t i = 0; i < 5; i++) {
		size_t n = tb_udp(buf, office, (uint16_t)(6000 + i), DNS1, 53,
				  4);
		cr_assert_eq(go(e, n, NAT_DIR_OUT, i * S).verdict, NAT_V_NAT);
	}
	/* The lab opens 6; it keeps 3, the oldest go. */
	for (uint16_t i = 0; i < 6; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(7000 + i), DNS1, 53, 4);
		cr_assert_eq(go(e, n, NAT_DIR_OUT, (10 + i) * S).verdict,
			     NAT_V_NAT);
	}
	const struct nat_net_stats *lab = nat_engine_net_stats(e, 0);
	cr_assert_eq(lab->flows_active, 3);
	cr_assert_eq(lab->flows_total, 6);
	cr_assert_eq(lab->flows_evicted, 3);
	const struct nat_net_stats *off = nat_engine_net_stats(e, 1);
	cr_assert_eq(off->flows_active, 5, "the office is unaffected");
	cr_assert_eq(off->flows_evicted, 0);
	cr_assert_eq(nat_engine_stats(e)->flows_evicted, 3);
	size_t closes = 0;
	for (size_t i = 0; i < g_nev; i++)
		if (g_ev[i].type == NAT_EV_FLOW_CLOSE &&
		    g_ev[i].close_reason == NAT_CLOSE_EVICTED) {
			closes++;
			cr_assert_eq(g_ev[i].flow.net, 0,
				     "evicted flows are the lab's");
			cr_assert_eq(g_ev[i].flow.in_port, 7000 + closes - 1,
				     "LRU order: oldest first");
		}
	cr_assert_eq(closes, 3);
	nat_engine_destroy(e);
}

Test(rules, network_per_host_limit_overrides_the_global_one)
{
	struct nat_engine *e = make(
		"nat_ip: 203.0.113.1\n"
		"internal_network: [172.17.240.0/25, 172.17.240.128/25]\n"
		"networks:\n"
		"  - {network: 172.17.240.0/25, max_flows_per_host: 2}\n");
	for (uint16_t i = 0; i < 4; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(7000 + i), DNS1, 53, 4);
		go(e, n, NAT_DIR_OUT, i * S);
		n = tb_udp(buf, IP4(172, 17, 240, 200), (uint16_t)(7000 + i),
			   DNS1, 53, 4);
		go(e, n, NAT_DIR_OUT, i * S);
	}
	cr_assert_eq(nat_engine_net_stats(e, 0)->flows_active, 2);
	cr_assert_eq(nat_engine_net_stats(e, 0)->flows_evicted, 2);
	cr_assert_eq(nat_engine_net_stats(e, 1)->flows_active, 4);
	cr_assert_str_eq(nat_engine_net_name(e, 1), "172.17.240.128/25",
			 "an unnamed network is named by its CIDR");
	nat_engine_destroy(e);
}

Test(rules, both_networks_are_inside_and_forwards_reach_either)
{
	struct nat_engine *e = make(
		"nat_ip: 203.0.113.1\n"
		"internal_network: [172.17.240.0/25, 172.17.240.128/25]\n"
		"port_forward:\n"
		"  - {name: o, protocol: tcp, external_port: 80, internal_ip: "
		"172.17.240.200}\n");
	size_t n = tb_udp(buf, IP4(172, 17, 240, 130), 1, DNS1, 53, 4);
	struct nat_result r = go(e, n, NAT_DIR_UNKNOWN, 0);
	cr_assert_eq(r.dir, NAT_DIR_OUT, "second network is inside");
	cr_assert_eq(r.verdict, NAT_V_NAT);
	n = tb_tcp(buf, OTHER, 1000, NAT, 80, 0x02, 0);
	r = go(e, n, NAT_DIR_IN, 1);
	cr_assert_eq(tb_dst(buf), IP4(172, 17, 240, 200));
	nat_engine_destroy(e);
}

/* A datagram in two fragments (offset 0 with MF, then the rest). */
static size_t frag_of(const uint8_t *whole, size_t len, size_t cut,
		      bool first, uint8_t *out)
{
	size_t body = first ? cut : len - 20 - cut;
	memcpy(out, whole, 20);
	memcpy(out + 20, whole + 20 + (first ? 0 : cut), body);
	tb_put16(out + 2, (uint16_t)(20 + body));
	tb_put16(out + 6, first ? 0x2000 : (uint16_t)(cut / 8));
	out[10] = out[11] = 0;
	tb_put16(out + 10, tb_fold(tb_sum(0, out, 20)));
	return 20 + body;
}

Test(rules, fragments_of_a_redirected_flow_follow_it_and_are_no_hairpin)
{
	struct nat_engine *e = make(DNS_REDIRECT);
	uint8_t whole[256];
	size_t n = tb_udp(whole, IN1, 3333, DNS1, 53, 64);
	size_t k = frag_of(whole, n, 40, true, buf);
	struct nat_result r = go(e, k, NAT_DIR_OUT, 0);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	cr_assert_eq(tb_dst(buf), DNS2);
	k = frag_of(whole, n, 40, false, buf);
	r = go(e, k, NAT_DIR_OUT, 1);
	cr_assert_eq(r.verdict, NAT_V_NAT, "reason %s",
		     nat_reason_name(r.reason));
	cr_assert_eq(tb_src(buf), NAT, "later fragment translated");
	cr_assert_eq(tb_dst(buf), DNS2, "later fragment redirected");
	cr_assert(tb_ip_ok(buf));
	cr_assert_not(r.hairpin, "a redirect is no hairpin");
	cr_assert_eq(nat_engine_stats(e)->hairpinned, 0);
	nat_engine_destroy(e);
}
