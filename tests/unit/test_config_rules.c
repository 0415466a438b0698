/* Config keys of the seeds' rule model: forward source / in_interface /
 * external_ip, redirect rules, internal_network lists and the networks
 * section; their values, and the plan `glassnat check` prints. The broken
 * uses are files under tests/data/bad (test_config_files.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define IP4(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define HEAD "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

static struct nat_config cfg;
static char err[512];

static void must_load(const char *text)
{
	nat_config_free(&cfg);
	int rc = nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				     sizeof err);
	cr_assert_eq(rc, 0, "expected the config to load, got: %s", err);
}

static void fini(void)
{
	nat_config_free(&cfg);
}

TestSuite(config_rules, .fini = fini);

Test(config_rules, forward_source_scalar_list_and_any)
{
	must_load(HEAD "port_forward:\n"
		       "  - {name: a, protocol: tcp, external_port: 22, "
		       "internal_ip: 172.17.240.5, source: 198.51.100.0/24}\n"
		       "  - {name: b, protocol: tcp, external_port: 22, "
		       "internal_ip: 172.17.240.6, source: [192.0.2.7, "
		       "192.0.2.128/25]}\n"
		       "  - {name: c, protocol: tcp, external_port: 22, "
		       "internal_ip: 172.17.240.7, source: any, in_interface: "
		       "eth0}\n");
	cr_assert_eq(cfg.n_forwards, 3);
	cr_assert_eq(cfg.forwards[0].n_src, 1);
	cr_assert_eq(cfg.forwards[0].src[0].addr, IP4(198, 51, 100, 0));
	cr_assert_eq(cfg.forwards[0].src[0].len, 24);
	cr_assert_eq(cfg.forwards[1].n_src, 2);
	cr_assert_eq(cfg.forwards[1].src[0].len, 32, "bare address is /32");
	cr_assert_eq(cfg.forwards[1].src[1].addr, IP4(192, 0, 2, 128));
	cr_assert_eq(cfg.forwards[2].n_src, 0, "any means every source");
	cr_assert_str_eq(cfg.forwards[2].in_if, "eth0");
	cr_assert(nat_forward_accepts(&cfg.forwards[1], IP4(192, 0, 2, 200),
				      NULL));
	cr_assert_not(nat_forward_accepts(&cfg.forwards[1],
					  IP4(192, 0, 2, 8), NULL));
	cr_assert_not(nat_forward_accepts(&cfg.forwards[2], 1, "eth1"));
	cr_assert_not(nat_forward_accepts(&cfg.forwards[2], 1, NULL),
		      "unknown interface does not match a named one");
}

Test(config_rules, forward_external_ip_and_nat_ip_means_default)
{
	must_load(HEAD "port_forward:\n"
		       "  - {name: a, protocol: tcp, external_port: 80, "
		       "internal_ip: 172.17.240.5, external_ip: 203.0.113.2}\n"
		       "  - {name: b, protocol: tcp, external_port: 80, "
		       "internal_ip: 172.17.240.6, external_ip: 203.0.113.1}\n");
	cr_assert_eq(cfg.forwards[0].ext_ip, IP4(203, 0, 113, 2));
	cr_assert_eq(cfg.forwards[1].ext_ip, 0, "nat_ip is stored as 0");
}

Test(config_rules, too_many_external_addresses_are_refused)
{
	char text[8192];
	size_t at = (size_t)snprintf(text, sizeof text, HEAD "port_forward:\n");
	for (int i = 0; i < 17; i++)
		at += (size_t)snprintf(text + at, sizeof text - at,
				       "  - {name: f%d, protocol: tcp, "
				       "external_port: 80, internal_ip: "
				       "172.17.240.5, external_ip: 198.51.100.%d}\n",
				       i, i + 1);
	nat_config_free(&cfg);
	int rc = nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				     sizeof err);
	cr_assert_eq(rc, -1);
	cr_assert(strstr(err, "port_forward[16].external_ip: too many distinct "
			      "external addresses"),
		  "%s", err);
}

Test(config_rules, redirect_fields_and_default_then)
{
	must_load(HEAD "rules:\n"
		       "  - {name: a, action: redirect, protocol: udp, ports: "
		       "53, to_address: 192.0.2.53, to_port: 5353}\n"
		       "  - {name: b, action: redirect, protocol: tcp, to_port: "
		       "3128, then: bypass}\n"
		       "  - {name: c, action: redirect, to_address: 192.0.2.9, "
		       "then: masquerade, out_interface: eth0}\n");
	cr_assert_eq(cfg.rules[0].action, NAT_ACT_REDIRECT);
	cr_assert_eq(cfg.rules[0].to_address, IP4(192, 0, 2, 53));
	cr_assert_eq(cfg.rules[0].to_port, 5353);
	cr_assert_eq(cfg.rules[0].then, NAT_ACT_NAT, "then defaults to nat");
	cr_assert_eq(cfg.rules[1].to_address, 0, "address kept");
	cr_assert_eq(cfg.rules[1].then, NAT_ACT_BYPASS);
	cr_assert_eq(cfg.rules[2].then, NAT_ACT_MASQUERADE);
	cr_assert_str_eq(nat_action_name(NAT_ACT_REDIRECT), "redirect");
}

Test(config_rules, internal_network_list_and_networks_section)
{
	must_load("nat_ip: 203.0.113.1\n"
		  "internal_network: [172.17.240.0/25, 172.17.240.128/26]\n"
		  "networks:\n"
		  "  - {name: lab, network: 172.17.240.128/26, max_flows: 50}\n"
		  "  - {name: extra, network: 172.17.240.192/26, "
		  "max_flows_per_host: 4}\n");
	cr_assert_eq(cfg.n_nets, 3, "networks may add a network");
	cr_assert_str_eq(cfg.nets[0].name, "172.17.240.0/25");
	cr_assert_eq(cfg.nets[0].max_flows, 0);
	cr_assert_str_eq(cfg.nets[1].name, "lab");
	cr_assert_eq(cfg.nets[1].max_flows, 50);
	cr_assert_eq(cfg.nets[1].line, 4);
	cr_assert_str_eq(cfg.nets[2].name, "extra");
	cr_assert_eq(cfg.nets[2].max_flows_per_host, 4);
	cr_assert_eq(cfg.internal.addr, IP4(172, 17, 240, 0),
		     "internal is the first network");
	cr_assert_eq(nat_config_net_of(&cfg, IP4(172, 17, 240, 200)), 2);
	cr_assert_eq(nat_config_net_of(&cfg, IP4(172, 17, 240, 130)), 1);
	cr_assert_eq(nat_config_net_of(&cfg, IP4(172, 17, 241, 1)), -1);
}

Test(config_rules, networks_alone_define_the_inside)
{
	must_load("nat_ip: 203.0.113.1\n"
		  "networks:\n"
		  "  - {name: a, network: 172.17.240.0/24}\n"
		  "port_forward:\n"
		  "  - {name: w, protocol: tcp, external_port: 80, "
		  "internal_ip: 172.17.240.5}\n");
	cr_assert_eq(cfg.n_nets, 1);
	cr_assert_eq(cfg.internal.len, 24);
}

Test(config_rules, single_network_file_keeps_its_plan)
{
	must_load(HEAD);
	cr_assert_eq(cfg.n_nets, 1);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	nat_config_print_plan(f, &cfg, 0);
	fclose(f);
	cr_assert_null(strstr(text, "networks ("),
		       "no networks section for one plain network");
	cr_assert(strstr(text, "  internal_network  172.17.240.0/24 (256 "
			       "addresses)\n"));
	free(text);
}

Test(config_rules, plan_shows_redirects_forward_matches_and_networks)
{
	must_load("nat_ip: 203.0.113.1\n"
		  "internal_network: [172.17.240.0/25, 172.17.240.128/25]\n"
		  "networks:\n"
		  "  - {name: lab, network: 172.17.240.0/25, max_flows: 3}\n"
		  "rules:\n"
		  "  - {name: dns, action: redirect, protocol: udp, ports: 53, "
		  "to_address: 192.0.2.53}\n"
		  "port_forward:\n"
		  "  - {name: s, protocol: tcp, external_port: 22, internal_ip: "
		  "172.17.240.5, source: 198.51.100.0/24, in_interface: "
		  "eth0, external_ip: 203.0.113.2}\n");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	nat_config_print_plan(f, &cfg, 0);
	fclose(f);
	const char *want[] = {
		"  internal_network  172.17.240.0/25, 172.17.240.128/25 (256 "
		"addresses)\n",
		"  1. lab  172.17.240.0/25 (128 addresses)  max_flows 3 (least "
		"recently used evicted)  (line 4)\n",
		"  2. 172.17.240.128/25  172.17.240.128/25 (128 addresses)  "
		"(line 2)\n",
		"-> redirect to 192.0.2.53, then nat (as 203.0.113.1); replies "
		"come from the address asked  (line 6)\n",
		"forwards (inbound to nat_ip, DNAT; first match in this "
		"order):\n",
		"  tcp 203.0.113.2:22 -> 172.17.240.5:22  \"s\"  from "
		"198.51.100.0/24  in eth0\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(text, want[i]), "plan lacks:\n%s\nplan:\n%s",
			  want[i], text);
	free(text);
}
