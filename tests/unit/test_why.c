/* Diagnosis: natdump why's target syntax and decision (nd_why_rules.c is
 * included whole: natdump is a program, not part of the library; its
 * nd_reason_doc comes from test_natdump.c's copy of nd_reasons.c), the
 * config lints (lint.c), and what the engine records for it: packets to
 * nat_ip no forward owns (no_forward, pkt.unowned) and forward flows the
 * inside host never answers (forward.unanswered). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "lint.h"
#include "pktbuild.h"

#include "../../tools/natdump/nd_why_rules.c"

static char out[1024];

/* ---- targets ---- */

Test(why_target, forms)
{
	struct nd_why_target t;
	cr_assert(nd_why_parse_target("42", &t));
	cr_assert_eq(t.kind, ND_WHY_FLOW);
	cr_assert_eq(t.flow, 42);
	cr_assert(nd_why_parse_target("tcp/8081", &t));
	cr_assert_eq(t.kind, ND_WHY_PORT);
	cr_assert_eq(t.proto, 6);
	cr_assert_eq(t.port, 8081);
	cr_assert(nd_why_parse_target("53/udp", &t));
	cr_assert_eq(t.proto, 17);
	cr_assert_eq(t.port, 53);
	cr_assert(nd_why_parse_target("172.17.240.21", &t));
	cr_assert_eq(t.kind, ND_WHY_ADDR);
	cr_assert_eq(t.addr, IP4(172, 17, 240, 21));
	cr_assert(nd_why_parse_target("tcp 198.51.100.7:5000 > 203.0.113.1:80",
				      &t));
	cr_assert_eq(t.kind, ND_WHY_TUPLE);
	cr_assert_eq(t.src, IP4(198, 51, 100, 7));
	cr_assert_eq(t.sport, 5000);
	cr_assert_eq(t.dst, IP4(203, 0, 113, 1));
	cr_assert_eq(t.dport, 80);
	cr_assert(nd_why_parse_target("udp 1.2.3.4:5 6.7.8.9:10", &t));
}

Test(why_target, refuses_what_is_no_target)
{
	struct nd_why_target t;
	const char *bad[] = { "",	   "0",		"tcp/0",   "tcp/65536",
			      "icmp/5",	   "1.2.3",	"1.2.3.256", "1.2.3.4.5",
			      "sctp/80",   "tcp 1.2.3.4 > 5.6.7.8", "trace/",
			      "tcp/80x",   "./ring",	"udp 1.2.3.4:5 >" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!nd_why_parse_target(bad[i], &t), "'%s' accepted",
			  bad[i]);
}

/* ---- the decision ---- */

static struct nd_why_facts f;

static void facts_init(void)
{
	memset(&f, 0, sizeof f);
	f.target.kind = ND_WHY_FLOW;
	f.target.flow = 7;
}

TestSuite(why, .init = facts_init);

Test(why, healthy_flow_gets_no_cause)
{
	f.units = 10;
	f.flows = 1;
	f.natted = 10;
	f.passes[NAT_R_TO_HOST] = 1; /* a pass is no problem */
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_NONE);
	cr_assert(strncmp(out, "no problem seen for flow 7: 10 packet(s)", 40) ==
			  0,
		  "%s", out);
}

Test(why, nothing_seen_is_not_no_problem)
{
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_NOTHING);
	cr_assert(strstr(out, "nothing seen for flow 7"), "%s", out);
}

Test(why, forward_unanswered_tells_arp_from_routing)
{
	f.fwd_unanswered = 1;
	f.fwd_ip = IP4(172, 17, 240, 99);
	f.fwd_port = 80;
	f.fwd_ext = 8082;
	f.fwd_proto = 6;
	snprintf(f.fwd_name, sizeof f.fwd_name, "ghost");
	const char *no_arp[] = { "INCOMPLETE", "FAILED", "none" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f.neigh, sizeof f.neigh, "%s", no_arp[i]);
		cr_assert_eq(nd_why_decide(&f, out, sizeof out),
			     ND_CAUSE_FWD_NO_ARP, "%s: %s", no_arp[i], out);
		cr_assert(strstr(out, "forward 'ghost' (tcp/8082) sends to "
				      "172.17.240.99:80"),
			  "%s", out);
	}
	const char *answered[] = { "REACHABLE", "STALE", "DELAY", "PROBE" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(f.neigh, sizeof f.neigh, "%s", answered[i]);
		cr_assert_eq(nd_why_decide(&f, out, sizeof out),
			     ND_CAUSE_FWD_NO_RETURN, "%s: %s", answered[i],
			     out);
		cr_assert(strncmp(out, "replies not coming back through the "
				       "gateway: 172.17.240.99 answers ARP",
				  67) == 0,
			  "%s", out);
	}
	snprintf(f.neigh, sizeof f.neigh, "unknown");
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_FWD_SILENT);
}

Test(why, no_forward_names_the_port)
{
	f.target.kind = ND_WHY_PORT;
	f.target.proto = 6;
	f.target.port = 8081;
	f.unowned = 3;
	f.unowned_ex = (struct nd_why_tuple){ .proto = 6,
					      .src = IP4(198, 51, 100, 10),
					      .sport = 5555,
					      .dst = IP4(203, 0, 113, 1),
					      .dport = 8081 };
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_NO_FORWARD);
	cr_assert(strncmp(out, "no forward for tcp/8081: 3 connection(s) to "
			       "203.0.113.1:8081",
			  60) == 0,
		  "%s", out);
}

Test(why, synack_no_mapping_is_the_hosts_own_connection)
{
	f.has_config = true;
	f.port_lo = 40000;
	f.port_hi = 60000;
	f.drops[NAT_R_NO_MAPPING] = 4;
	f.synack_no_mapping = 4;
	f.synack_ex = (struct nd_why_tuple){ .proto = 6,
					     .tcp_flags = 0x12,
					     .src = IP4(198, 51, 100, 10),
					     .sport = 80,
					     .dst = IP4(203, 0, 113, 1),
					     .dport = 45000 };
	cr_assert_eq(nd_why_decide(&f, out, sizeof out),
		     ND_CAUSE_HOST_PORT_RANGE);
	cr_assert(strstr(out, "from port 45000, inside port_range 40000-60000"),
		  "%s", out);
	/* Without the SYN-ACK it is a plain no_mapping, with its words. */
	f.synack_no_mapping = 0;
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_DROP_OTHER);
	cr_assert(strstr(out, "dropped as no_mapping"), "%s", out);
	cr_assert(strstr(out, "unsolicited traffic"), "%s", out);
}

Test(why, engine_limits_and_filtering)
{
	f.drops[NAT_R_FILTERED] = 2;
	f.drop_ex[NAT_R_FILTERED] = (struct nd_why_tuple){
		.proto = 17, .src = IP4(198, 51, 100, 11), .sport = 7000,
		.dst = IP4(203, 0, 113, 1), .dport = 40000 };
	snprintf(f.filtering, sizeof f.filtering, "address_dependent");
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_FILTERED);
	cr_assert(strstr(out, "198.51.100.11:7000 sent 2 packet(s) to "
			      "203.0.113.1:40000"),
		  "%s", out);
	cr_assert(strstr(out, "filtering address_dependent"), "%s", out);
	f.table_full = 1; /* an event: outranks filtering */
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_TABLE_FULL);
	f.drops[NAT_R_PORT_EXHAUSTED] = 1;
	cr_assert_eq(nd_why_decide(&f, out, sizeof out),
		     ND_CAUSE_PORT_EXHAUSTED);
}

Test(why, icmp_errors_in_words_with_mtu)
{
	f.units = 3;
	f.natted = 3;
	f.ttl = (struct nd_why_icmp){ .n = 1, .type = 11, .router =
							IP4(203, 0, 113, 254),
				      .about = { .proto = 1 } };
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_ICMP_TTL);
	cr_assert(strncmp(out, "ICMP time-exceeded from 203.0.113.254", 37) == 0,
		  "%s", out);
	f.mtu = (struct nd_why_icmp){ .n = 1, .type = 3, .code = 4,
				      .mtu = 1400,
				      .router = IP4(203, 0, 113, 254),
				      .about = { .proto = 17, .sport = 40001,
						 .dport = 5353 } };
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_ICMP_MTU);
	cr_assert(strncmp(out, "ICMP frag-needed mtu=1400 from 203.0.113.254",
			  44) == 0,
		  "%s", out);
	memset(&f.mtu, 0, sizeof f.mtu);
	memset(&f.ttl, 0, sizeof f.ttl);
	f.unreach = (struct nd_why_icmp){ .n = 1, .type = 3, .code = 3 };
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_ICMP_UNREACH);
	cr_assert(strncmp(out, "ICMP port-unreachable", 21) == 0, "%s", out);
}

Test(why, config_causes)
{
	f.target.kind = ND_WHY_ADDR;
	f.target.addr = IP4(172, 17, 240, 21);
	f.target_outside_internal = true;
	f.internal = IP4(172, 17, 240, 128);
	f.internal_len = 25;
	snprintf(f.internal_if, sizeof f.internal_if, "br0");
	f.if_net = IP4(172, 17, 240, 0);
	f.if_net_len = 24;
	cr_assert_eq(nd_why_decide(&f, out, sizeof out),
		     ND_CAUSE_WRONG_INTERNAL);
	cr_assert(strstr(out, "(172.17.240.0/24 on br0)"), "%s", out);
	f.target_outside_internal = false;
	snprintf(f.shadowed, sizeof f.shadowed, "srv-bypass");
	snprintf(f.shadower, sizeof f.shadower, "all");
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_SHADOWED);
	cr_assert(strstr(out, "move 'srv-bypass' above 'all'"), "%s", out);
}

Test(why, queue_overflow_only_for_the_gateway_or_an_unseen_target)
{
	f.queue_known = true;
	f.queue_dropped = 100;
	f.units = 5;
	f.flows = 1;
	f.natted = 5;
	/* A healthy flow is not blamed on a queue that overflowed once. */
	cr_assert_eq(nd_why_decide(&f, out, sizeof out), ND_CAUSE_NONE);
	f.target.kind = ND_WHY_ALL;
	cr_assert_eq(nd_why_decide(&f, out, sizeof out),
		     ND_CAUSE_QUEUE_OVERFLOW);
	cr_assert(strncmp(out, "queue overflow: the kernel dropped 100", 38) == 0,
		  "%s", out);
}

Test(why, every_cause_has_a_name)
{
	for (int c = ND_CAUSE_NONE; c <= ND_CAUSE_INTERNAL_NO_IF; c++)
		cr_assert_neq(strcmp(nd_why_cause_name((enum nd_why_cause)c),
				     "?"),
			      0, "cause %d", c);
}

/* ---- lints ---- */

static struct nat_config lcfg;

static size_t n_msgs;
static char msgs[2048];

static void collect(void *ctx, const char *m)
{
	(void)ctx;
	size_t n = strlen(msgs);
	snprintf(msgs + n, sizeof msgs - n, "%s|", m);
	n_msgs++;
}

static void lint_load(const char *text)
{
	char err[256];
	n_msgs = 0;
	msgs[0] = '\0';
	cr_assert_eq(nat_config_load_mem("t.yaml", text, strlen(text), &lcfg,
					 err, sizeof err),
		     0, "%s", err);
}

#define LBASE "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

Test(lint, shadowed_rule_named_with_the_rule_above)
{
	lint_load(LBASE "rules:\n"
			"  - { name: all, action: nat }\n"
			"  - { name: srv, destination: 198.51.100.10/32, "
			"action: bypass }\n");
	cr_assert_eq(nat_config_lint(&lcfg, NULL, collect, NULL), 1, "%s", msgs);
	cr_assert(strstr(msgs, "rule 'srv' (line 5) never matches: rule 'all' "
			       "(line 4) above it"),
		  "%s", msgs);
	nat_config_free(&lcfg);
}

Test(lint, narrower_rule_first_is_fine)
{
	lint_load(LBASE "rules:\n"
			"  - { name: srv, destination: 198.51.100.10/32, "
			"action: bypass }\n"
			"  - { name: web, protocol: tcp, ports: [80], "
			"action: nat }\n"
			"  - { name: all, action: nat }\n");
	cr_assert_eq(nat_config_lint(&lcfg, NULL, collect, NULL), 0, "%s", msgs);
	nat_config_free(&lcfg);
}

Test(lint, rule_covers_by_protocol_ports_and_networks)
{
	struct nat_rule_cfg a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.proto = 6;
	a.dst = (struct nat_cidr){ IP4(198, 51, 100, 0), 24 };
	a.ports[0] = (struct nat_port_range){ 1, 1024 };
	a.n_ports = 1;
	b = a;
	b.dst = (struct nat_cidr){ IP4(198, 51, 100, 10), 32 };
	b.ports[0] = (struct nat_port_range){ 80, 80 };
	cr_assert(nat_rule_covers(&a, &b));
	cr_assert(!nat_rule_covers(&b, &a));
	b.proto = 17;
	cr_assert(!nat_rule_covers(&a, &b), "tcp does not cover udp");
	b.proto = 6;
	b.n_ports = 0;
	cr_assert(!nat_rule_covers(&a, &b), "ports 1-1024 do not cover any");
	snprintf(a.in_if, sizeof a.in_if, "eth1");
	b.n_ports = 1;
	cr_assert(!nat_rule_covers(&a, &b), "an interface narrows a");
	cr_assert(nat_rule_matches_tuple(&b, 6, IP4(172, 17, 240, 21),
					 IP4(198, 51, 100, 10), 80));
	cr_assert(!nat_rule_matches_tuple(&b, 6, IP4(172, 17, 240, 21),
					  IP4(198, 51, 100, 11), 80));
	cr_assert(!nat_rule_matches_tuple(&b, 1, IP4(172, 17, 240, 21),
					  IP4(198, 51, 100, 10), 0));
}

static int only_eth0_has_ipv4(const char *name)
{
	return strcmp(name, "eth0") == 0;
}

Test(lint, masquerade_interface_without_address)
{
	lint_load(LBASE "rules:\n"
			"  - { name: up, action: masquerade, out_interface: eth0 }\n"
			"  - { name: down, action: masquerade, out_interface: wwan0 }\n");
	struct nat_lint_host h = { .if_has_ipv4 = only_eth0_has_ipv4 };
	cr_assert_eq(nat_config_lint(&lcfg, &h, collect, NULL), 1, "%s", msgs);
	cr_assert(strstr(msgs, "masquerade rule 'down': out interface wwan0 "
			       "has no IPv4 address"),
		  "%s", msgs);
	nat_config_free(&lcfg);
}

Test(lint, host_facts)
{
	lint_load(LBASE "port_range: \"40000-60000\"\n");
	struct nat_lint_host h = { .internal_if_known = true,
				   .internal_on_if = false,
				   .ephemeral_known = true,
				   .ephemeral_lo = 32768,
				   .ephemeral_hi = 60999 };
	cr_assert_eq(nat_config_lint(&lcfg, &h, collect, NULL), 2, "%s", msgs);
	cr_assert(strstr(msgs, "internal_network 172.17.240.0/24 is on no "
			       "interface"),
		  "%s", msgs);
	cr_assert(strstr(msgs, "port_range 40000-60000 overlaps the host's "
			       "ephemeral ports 32768-60999"),
		  "%s", msgs);
	n_msgs = 0;
	msgs[0] = '\0';
	h.internal_on_if = true;
	h.ephemeral_lo = 20000;
	h.ephemeral_hi = 30000;
	cr_assert_eq(nat_config_lint(&lcfg, &h, collect, NULL), 0, "%s", msgs);
	nat_config_free(&lcfg);
}

/* ---- what the engine records ---- */

#define NAT IP4(203, 0, 113, 1)
#define REM IP4(198, 51, 100, 10)

static struct nat_event evs[32];
static size_t nev;

static void on_ev(void *ctx, const struct nat_event *ev)
{
	(void)ctx;
	if (nev < 32)
		evs[nev++] = *ev;
}

static struct nat_engine *engine_for(struct nat_config *c,
				     struct nat_forward_cfg *fw)
{
	char err[256];
	nat_config_defaults(c);
	c->nat_ip = NAT;
	c->internal = (struct nat_cidr){ IP4(172, 17, 240, 0), 24 };
	c->port_preservation = false; /* as live runs it */
	memset(fw, 0, sizeof *fw);
	snprintf(fw->name, sizeof fw->name, "web");
	fw->proto = 6;
	fw->ext_port = 8080;
	fw->int_ip = IP4(172, 17, 240, 21);
	fw->int_port = 80;
	c->forwards = fw;
	c->n_forwards = 1;
	struct nat_engine *e = nat_engine_create(c, err, sizeof err);
	cr_assert_not_null(e, "%s", err);
	struct nat_hooks h = { .event = on_ev };
	nat_engine_set_hooks(e, &h);
	nev = 0;
	return e;
}

static enum nat_verdict feed(struct nat_engine *e, uint8_t *b, size_t n,
			     enum nat_dir d, struct nat_result *r)
{
	struct nat_meta m = { .dir = d, .ts_ns = 1000000000ull };
	return nat_process(e, b, n, &m, r);
}

Test(engine_why, unforwarded_port_is_handed_to_the_host_and_said)
{
	struct nat_config c;
	struct nat_forward_cfg fw;
	struct nat_engine *e = engine_for(&c, &fw);
	uint8_t b[128];
	struct nat_result r;
	size_t n = tb_tcp(b, REM, 5555, NAT, 8081, 0x02, 0);
	cr_assert_eq(feed(e, b, n, NAT_DIR_IN, &r), NAT_V_PASS);
	cr_assert_eq(r.reason, NAT_R_NO_FORWARD);
	cr_assert_eq(nev, 1);
	cr_assert_eq(evs[0].type, NAT_EV_PKT_UNOWNED);
	cr_assert_eq(evs[0].flow.map_port, 8081);
	cr_assert_eq(evs[0].flow.rem_ip, REM);
	/* Not a new connection: counted, not said. */
	n = tb_tcp(b, REM, 5555, NAT, 8081, 0x10, 0);
	cr_assert_eq(feed(e, b, n, NAT_DIR_IN, &r), NAT_V_PASS);
	cr_assert_eq(r.reason, NAT_R_NO_FORWARD);
	cr_assert_eq(nev, 1);
	/* UDP is said too. */
	n = tb_udp(b, REM, 5555, NAT, 5300, 4);
	cr_assert_eq(feed(e, b, n, NAT_DIR_IN, &r), NAT_V_PASS);
	cr_assert_eq(nev, 2);
	/* In port_range, it stays the NAT's business: no_mapping. */
	n = tb_tcp(b, REM, 5555, NAT, 45000, 0x12, 0);
	cr_assert_eq(feed(e, b, n, NAT_DIR_IN, &r), NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING);
	cr_assert_eq(nat_engine_stats(e)->by_reason[NAT_R_NO_FORWARD], 3);
	nat_engine_destroy(e);
}

Test(engine_why, forward_retry_without_answer_is_said_once)
{
	struct nat_config c;
	struct nat_forward_cfg fw;
	struct nat_engine *e = engine_for(&c, &fw);
	uint8_t b[128];
	struct nat_result r;
	for (int i = 0; i < 3; i++) {
		size_t n = tb_tcp(b, REM, 5555, NAT, 8080, 0x02, 0);
		cr_assert_eq(feed(e, b, n, NAT_DIR_IN, &r), NAT_V_NAT);
	}
	size_t k = 0;
	for (size_t i = 0; i < nev; i++)
		if (evs[i].type == NAT_EV_FWD_UNANSWERED) {
			k++;
			cr_assert_eq(evs[i].flow.in_ip, IP4(172, 17, 240, 21));
			cr_assert_eq(evs[i].flow.pkts_in, 2);
			cr_assert_eq(evs[i].neigh[0], '\0');
		}
	cr_assert_eq(k, 1, "forward.unanswered %zu times", k);
	nat_engine_destroy(e);
}

Test(engine_why, answered_forward_is_not_unanswered)
{
	struct nat_config c;
	struct nat_forward_cfg fw;
	struct nat_engine *e = engine_for(&c, &fw);
	uint8_t b[128];
	struct nat_result r;
	size_t n = tb_tcp(b, REM, 5555, NAT, 8080, 0x02, 0);
	feed(e, b, n, NAT_DIR_IN, &r);
	n = tb_tcp(b, IP4(172, 17, 240, 21), 80, REM, 5555, 0x12, 0);
	cr_assert_eq(feed(e, b, n, NAT_DIR_OUT, &r), NAT_V_NAT);
	n = tb_tcp(b, REM, 5555, NAT, 8080, 0x10, 0);
	feed(e, b, n, NAT_DIR_IN, &r);
	for (size_t i = 0; i < nev; i++)
		cr_assert_neq(evs[i].type, NAT_EV_FWD_UNANSWERED);
	nat_engine_destroy(e);
}

/* natdump's words for ICMP (nd_note.c, linked from test_natdump.c). */
Test(why_icmp, words)
{
	char b[16], w[48];
	cr_assert_str_eq(nd_icmp_name(11, 0, b), "time-exceeded");
	cr_assert_str_eq(nd_icmp_name(3, 3, b), "port-unreachable");
	cr_assert_str_eq(nd_icmp_name(3, 13, b), "admin-prohibited");
	cr_assert_str_eq(nd_icmp_name(11, 1, b), "reassembly-time-exceeded");
	cr_assert_str_eq(nd_icmp_name(42, 7, b), "icmp-42/7");
	struct nd_hdr h;
	memset(&h, 0, sizeof h);
	h.icmp_type = 3;
	h.icmp_code = 4;
	h.mtu = 1400;
	nd_icmp_words(&h, w, sizeof w);
	cr_assert_str_eq(w, "frag-needed mtu=1400");
}
