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
	/* raw and mangle: tcp and udp on port_range, 4 ICMP types each. */
	cr_assert_eq(check_lines(t, m), 12, "rules:\n%s", t);
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
		     12, "rules:\n%s", t);
	free(t);
}

Test(nfq_rules, fixed_addresses_exclude_loopback)
{
	char *t = rules_for(BASE "rules:\n  - name: s\n    action: snat\n"
				 "    to_address: 198.51.100.9\n");
	cr_assert_eq(check_lines(t, "! -i lo -d 203.0.113.1/32"), 12,
		     "rules:\n%s", t);
	cr_assert_eq(check_lines(t, "! -i lo -d 198.51.100.9/32"), 12,
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
