/* nat/backend/nfqueue_rules: the iptables-restore text the NFQUEUE
 * backend installs, generated from a config and a plan built here (not
 * from the host's routes), checked line by line. iptables itself is not
 * run: tests/e2e/realhost_test.sh installs the text for real. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nfqueue_rules.h"

#define BASE "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

static struct nat_config cfg;
static struct nat_nfq_plan plan;
static char err[512];

static void fini(void)
{
	nat_config_free(&cfg);
}

TestSuite(nfq_rules, .fini = fini);

/* Loads text, builds its plan with out0 as the route to everywhere. */
static char *rules_for(const char *text)
{
	int rc = nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				     sizeof(err));
	cr_assert_eq(rc, 0, "config: %s", err);
	memset(&plan, 0, sizeof(plan));
	plan.ext[plan.n_ext++] = cfg.nat_ip;
	for (size_t i = 0; i < cfg.n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg.rules[i];
		if (r->action == NAT_ACT_SNAT)
			plan.ext[plan.n_ext++] = r->to_address;
		else if (r->action == NAT_ACT_MASQUERADE)
			snprintf(plan.masq_if[plan.n_masq++], IF_NAMESIZE, "%s",
				 r->out_if[0] ? r->out_if : "out0");
	}
	char *t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_not_null(t);
	return t;
}

/* How many times needle occurs in line (non-overlapping). */
static int count(const char *line, size_t len, const char *needle)
{
	int n = 0;
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= len; i++)
		if (memcmp(line + i, needle, k) == 0) {
			n++;
			i += k - 1;
		}
	return n;
}

/* Every rule line: at most one input-interface match (iptables refuses
 * "multiple -i flags"), and returns how many lines contain want. */
static int check_lines(const char *t, const char *want)
{
	int hits = 0;
	for (const char *p = t; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		cr_assert_leq(count(p, len, " -i "), 1,
			      "more than one -i in: %.*s", (int)len, p);
		if (count(p, len, want) > 0)
			hits++;
		p += len + (e != NULL);
	}
	return hits;
}

Test(nfq_rules, masquerade_matches_the_out_interface_with_one_input_match)
{
	char *t = rules_for(BASE "rules:\n  - name: m\n    action: "
				 "masquerade\n    out_interface: eth9\n");
	const char *m = "-i eth9 -m addrtype --dst-type LOCAL --limit-iface-in";
	/* raw and mangle: tcp and udp on port_range, 4 ICMP types each;
	 * mangle also non-first fragments. */
	cr_assert_eq(check_lines(t, m), 13, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "! -i lo -i"), 0, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-IN -i eth9 -m addrtype "
				    "--dst-type LOCAL --limit-iface-in -p tcp "
				    "--dport 40000:60000 -j NFQUEUE "
				    "--queue-num 0"),
		     1, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, masquerade_without_out_interface_follows_the_route_device)
{
	char *t = rules_for(BASE "rules:\n  - name: m\n    action: "
				 "masquerade\n");
	cr_assert_eq(check_lines(t, "-i out0 -m addrtype --dst-type LOCAL "
				    "--limit-iface-in"),
		     13, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, fixed_addresses_exclude_loopback)
{
	char *t = rules_for(BASE "rules:\n  - name: s\n    action: snat\n"
				 "    to_address: 198.51.100.9\n");
	cr_assert_eq(check_lines(t, "! -i lo -d 203.0.113.1/32"), 13,
		     "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "! -i lo -d 198.51.100.9/32"), 13,
		     "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "addrtype --dst-type LOCAL --limit"), 0,
		     "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, forwards_outside_port_range_get_their_own_rule)
{
	char *t = rules_for(BASE "port_forward:\n  - {name: w, protocol: tcp, "
				 "external_port: 8080, internal_ip: "
				 "172.17.240.21, internal_port: 80}\n"
				 "rules:\n  - name: m\n    action: "
				 "masquerade\n");
	cr_assert_eq(check_lines(t, "-p tcp --dport 8080 -j NFQUEUE"), 2,
		     "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-p tcp --dport 8080 -j CT --notrack"), 2,
		     "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, non_first_fragments_to_every_external_address_are_queued)
{
	char *t = rules_for(BASE "rules:\n  - name: s\n    action: snat\n"
				 "    to_address: 198.51.100.9\n");
	cr_assert_eq(check_lines(t, "-A GLASSNAT-IN ! -i lo -d 203.0.113.1/32 "
				    "-f -j NFQUEUE --queue-num 0"),
		     1, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-IN ! -i lo -d 198.51.100.9/32 "
				    "-f -j NFQUEUE --queue-num 0"),
		     1, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-f -j CT"), 0, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, the_reassembly_rule_only_when_the_plan_says_so)
{
	char *t = rules_for(BASE);
	const char *r = "-A GLASSNAT-IN -p 255 -m socket -j RETURN";
	cr_assert_eq(check_lines(t, r), 0, "rules:\n%s", t);
	free(t);
	plan.defrag = true;
	t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_eq(check_lines(t, r), 1, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, gateway_icmp_errors_quoting_the_inside_are_queued)
{
	char *t = rules_for(BASE);
	const char *want = "-A GLASSNAT-OUT ! -d 172.17.240.0/24 -p icmp "
			   "--icmp-type 11 -m addrtype --src-type LOCAL -j "
			   "NFQUEUE --queue-num 0";
	cr_assert_eq(check_lines(t, want), 1, "rules:\n%s", t);
	free(t);
	/* With xt_u32: only those whose quoted destination is inside. */
	plan.u32_ok = true;
	t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_eq(check_lines(t, "--src-type LOCAL -m u32 --u32 "
				    "\"0>>22&0x3C@24&0xFFFFFF00=0xAC11F000\" "
				    "-j NFQUEUE"),
		     3, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, install_deletes_every_stale_jump_in_the_same_transaction)
{
	free(rules_for(BASE)); /* loads cfg */
	plan.stale[NAT_NFQ_J_RAW] = 0;
	plan.stale[NAT_NFQ_J_IN] = 2;
	plan.stale[NAT_NFQ_J_OUT] = 1;
	char *t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_eq(check_lines(t, "-D PREROUTING -j GLASSNAT-RAW"), 0);
	cr_assert_eq(check_lines(t, "-D PREROUTING -j GLASSNAT-IN"), 2);
	cr_assert_eq(check_lines(t, "-D POSTROUTING -j GLASSNAT-OUT"), 1);
	cr_assert_eq(check_lines(t, "-I PREROUTING 1 -j GLASSNAT-"), 2);
	cr_assert_eq(check_lines(t, "-I POSTROUTING 1 -j GLASSNAT-OUT"), 1);
	/* Deleted before the new jump, inside the mangle transaction. */
	const char *mangle = strstr(t, "*mangle");
	cr_assert_not_null(mangle);
	const char *del = strstr(mangle, "-D PREROUTING -j GLASSNAT-IN");
	const char *ins = strstr(mangle, "-I PREROUTING 1 -j GLASSNAT-IN");
	cr_assert(del && ins && del < ins, "rules:\n%s", t);
	cr_assert(strstr(ins, "COMMIT") != NULL);
	/* No separate removal: nothing but declarations flushes. */
	cr_assert_eq(check_lines(t, "-F "), 0);
	cr_assert_eq(check_lines(t, "-X "), 0);
	free(t);
	/* A reload (no jumps) touches no jump. */
	t = nat_nfq_rules_text(&cfg, &plan, 0, false);
	cr_assert_eq(check_lines(t, "-j GLASSNAT-"), 0, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, a_clean_stop_drops_the_inside_network_and_queues_nothing)
{
	char *t = rules_for(BASE "host_internal_ip: 172.17.240.1\n");
	free(t);
	t = nat_nfq_closed_text(&cfg);
	cr_assert_not_null(t);
	cr_assert_eq(check_lines(t, "NFQUEUE"), 0, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-OUT -s 172.17.240.0/24 -m "
				    "comment --comment \"" NAT_NFQ_CLOSED
				    "\" -j DROP"),
		     1, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-OUT -s 172.17.240.1/32 -j "
				    "RETURN"),
		     1, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-IN"), 0, "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "-A GLASSNAT-RAW"), 0, "rules:\n%s", t);
	/* The jumps stay as they are. */
	cr_assert_eq(check_lines(t, "ROUTING"), 0, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, stale_state_is_read_from_iptables_save)
{
	static const char save[] =
		"# Generated by iptables-save\n"
		"*raw\n:PREROUTING ACCEPT [0:0]\n:GLASSNAT-RAW - [0:0]\n"
		"-A PREROUTING -j GLASSNAT-RAW\n"
		"-A GLASSNAT-RAW -s 172.17.240.0/24 -j CT --notrack\n"
		"COMMIT\n"
		"*mangle\n:PREROUTING ACCEPT [0:0]\n:GLASSNAT-IN - [0:0]\n"
		":GLASSNAT-OUT - [0:0]\n"
		"-A PREROUTING -j GLASSNAT-IN\n-A PREROUTING -j GLASSNAT-IN\n"
		"-A PREROUTING -j GLASSNAT-RAW-NOT-OURS\n"
		"-A POSTROUTING -j GLASSNAT-OUT\n"
		"-A GLASSNAT-OUT -s 172.17.240.0/24 -j NFQUEUE --queue-num 0\n"
		"COMMIT\n";
	struct nat_nfq_stale st;

	nat_nfq_stale_parse(save, &st);
	cr_assert_eq(st.jumps[NAT_NFQ_J_RAW], 1);
	cr_assert_eq(st.jumps[NAT_NFQ_J_IN], 2);
	cr_assert_eq(st.jumps[NAT_NFQ_J_OUT], 1);
	cr_assert_eq(st.chains, 3);
	cr_assert(st.queueing);
	cr_assert(!st.closed);

	nat_nfq_stale_parse("*mangle\n:GLASSNAT-OUT - [0:0]\n"
			    "-A POSTROUTING -j GLASSNAT-OUT\n"
			    "-A GLASSNAT-OUT -s 172.17.240.0/24 -m comment "
			    "--comment \"" NAT_NFQ_CLOSED "\" -j DROP\nCOMMIT\n",
			    &st);
	cr_assert_eq(st.chains, 1);
	cr_assert_eq(st.jumps[NAT_NFQ_J_OUT], 1);
	cr_assert(!st.queueing);
	cr_assert(st.closed);

	nat_nfq_stale_parse("", &st);
	cr_assert_eq(st.chains, 0);
	cr_assert_eq(st.jumps[NAT_NFQ_J_IN], 0);
}

Test(nfq_rules, bridged_frames_skip_the_queue_when_physdev_is_there)
{
	char *t = rules_for(BASE);
	const char *r = "-A GLASSNAT-OUT -m physdev --physdev-is-bridged -j "
			"RETURN";
	cr_assert_eq(check_lines(t, r), 0, "rules:\n%s", t);
	free(t);
	plan.physdev = true;
	t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_eq(check_lines(t, r), 1, "rules:\n%s", t);
	/* Before the rule that queues the inside network. */
	const char *q = strstr(t, "-A GLASSNAT-OUT -s 172.17.240.0/24 -j "
				  "NFQUEUE");
	cr_assert(q && strstr(t, r) < q, "rules:\n%s", t);
	free(t);
}

/* What the kernel fast path translated carries NAT_FP_MARK: the first rule
 * of every chain lets it through untracked and unqueued, and without the
 * fast path no rule mentions the mark. */
Test(nfq_rules, fastpath_marked_packets_skip_every_chain_first)
{
	char *t = rules_for("nat_ip: 203.0.113.1\n"
			    "internal_network: 172.17.240.0/24\n");
	cr_assert_null(strstr(t, "--mark"), "mark rules without the fast path");
	free(t);
	nat_config_free(&cfg);
	const char *text = "nat_ip: 203.0.113.1\n"
			   "internal_network: 172.17.240.0/24\n";
	int rc = nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				     sizeof(err));
	cr_assert_eq(rc, 0, "config: %s", err);
	plan.fastpath = true;
	t = nat_nfq_rules_text(&cfg, &plan, 0, true);
	cr_assert_not_null(t);
	const char *m = "-m mark --mark 0x474e0000/0xffff0000";
	char want[160];
	static const char *const chains[] = { "GLASSNAT-RAW", "GLASSNAT-IN",
					      "GLASSNAT-OUT" };
	for (int i = 0; i < 3; i++) {
		/* The chain's first rule is the mark's. */
		snprintf(want, sizeof(want), "-A %s ", chains[i]);
		const char *first = strstr(t, want);
		cr_assert_not_null(first, "no rule in %s", chains[i]);
		cr_assert(strncmp(first + strlen(want), m, strlen(m)) == 0,
			  "%s: the first rule is not the fast path's: %.80s",
			  chains[i], first);
	}
	snprintf(want, sizeof(want), "-A GLASSNAT-RAW %s -j CT --notrack\n", m);
	cr_assert_not_null(strstr(t, want), "marked packets still tracked");
	snprintf(want, sizeof(want), "-A GLASSNAT-OUT %s -j RETURN\n", m);
	cr_assert_not_null(strstr(t, want), "marked packets still queued");
	free(t);
}
