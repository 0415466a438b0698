/* The live backends follow the rule model: NFQUEUE rules queue every
 * inside network and forwards on other addresses; WinDivert's filters
 * capture the same. Sources are not filtered there: the engine refuses
 * them with reason forward_source, so a refusal is seen and counted. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nfqueue_rules.h"
#include "windivert.h"

static struct nat_config cfg;
static char err[512];

static const char two_nets[] =
	"nat_ip: 203.0.113.1\n"
	"internal_network: [172.17.240.0/25, 172.17.240.128/25]\n"
	"port_forward:\n"
	"  - {name: w, protocol: tcp, external_port: 8080, internal_ip: "
	"172.17.240.5, external_ip: 203.0.113.2, source: 198.51.100.0/24}\n";

static void load(const char *text)
{
	nat_config_free(&cfg);
	int rc = nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				     sizeof(err));
	cr_assert_eq(rc, 0, "config: %s", err);
}

static void fini(void)
{
	nat_config_free(&cfg);
}

TestSuite(rules_backends, .fini = fini);

Test(rules_backends, nfqueue_queues_every_network_and_the_second_address)
{
	load(two_nets);
	struct nat_nfq_plan pl;
	nat_nfq_plan_build(&pl, &cfg);
	cr_assert_eq(pl.n_ext, 2, "the forward's address is an outside one");
	cr_assert_eq(pl.ext[1], 0xcb007102u);
	char *t = nat_nfq_rules_text(&cfg, &pl, 0, false);
	cr_assert_not_null(t);
	const char *want[] = {
		"-A GLASSNAT-OUT -s 172.17.240.0/25 -j NFQUEUE --queue-num 0\n",
		"-A GLASSNAT-OUT -s 172.17.240.128/25 -j NFQUEUE --queue-num 0\n",
		"-s 172.17.240.128/25 -m addrtype ! --dst-type LOCAL -j CT "
		"--notrack\n",
		"! -i lo -d 203.0.113.2/32 -p tcp --dport 8080 -j NFQUEUE "
		"--queue-num 0\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(t, want[i]), "rules lack:\n%s\nrules:\n%s",
			  want[i], t);
	cr_expect_null(strstr(t, "198.51.100"),
		       "sources are the engine's to check, not iptables'");
	free(t);
}

Test(rules_backends, windivert_filters_take_every_network_and_address)
{
	load(two_nets);
	char out[4096], in[4096];
	cr_assert_eq(nat_wd_filter_outbound(&cfg, out, sizeof out, err,
					    sizeof err),
		     0, "%s", err);
	cr_assert_str_eq(out,
			 "ip and ((ip.SrcAddr >= 172.17.240.0 and ip.SrcAddr "
			 "<= 172.17.240.127) or (ip.SrcAddr >= 172.17.240.128 "
			 "and ip.SrcAddr <= 172.17.240.255))");
	cr_assert_eq(nat_wd_filter_inbound(&cfg, in, sizeof in, err,
					   sizeof err),
		     0, "%s", err);
	cr_assert(strstr(in, "(ip.DstAddr == 203.0.113.1 or ip.DstAddr == "
			     "203.0.113.2)"),
		  "%s", in);
	cr_assert(strstr(in, "(tcp and tcp.DstPort == 8080)"), "%s", in);
}

Test(rules_backends, one_network_keeps_its_filter)
{
	load("nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n");
	char out[512];
	cr_assert_eq(nat_wd_filter_outbound(&cfg, out, sizeof out, err,
					    sizeof err),
		     0);
	cr_assert_str_eq(out, "ip and ip.SrcAddr >= 172.17.240.0 and "
			      "ip.SrcAddr <= 172.17.240.255");
}
