/* Config loader behaviour, fed from memory: defaults, every value form,
 * the errors (with their FILE:LINE:COLUMN) and the plan. The files under
 * tests/data/ are checked by test_config_files.c. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define BASE "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

static struct nat_config cfg;
static char err[512];

/* Frees the previous load first: loading overwrites *cfg. */
static int load(const char *text)
{
	nat_config_free(&cfg);
	return nat_config_load_mem("t.yaml", text, strlen(text), &cfg, err,
				   sizeof err);
}

static void must_load(const char *text)
{
	int rc = load(text);
	cr_assert_eq(rc, 0, "expected the config to load, got: %s", err);
}

static void must_fail(const char *text, const char *want)
{
	int rc = load(text);
	cr_assert_eq(rc, -1, "expected a failure for:\n%s", text);
	cr_assert_str_eq(err, want);
	cr_assert_null(cfg.rules, "a failed load leaves no rules allocated");
	cr_assert_null(cfg.forwards,
		       "a failed load leaves no forwards allocated");
	cr_assert_eq(cfg.n_rules, 0);
	cr_assert_eq(cfg.n_forwards, 0);
}

static uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d;
}

static void teardown(void)
{
	nat_config_free(&cfg);
}

TestSuite(config, .fini = teardown);

Test(config, defaults_match_the_header_contract)
{
	nat_config_defaults(&cfg);
	cr_assert_eq(cfg.n_rules, 0);
	cr_assert_eq(cfg.n_forwards, 0);
	cr_assert_eq(cfg.nat_ip, 0);
	cr_assert_eq(cfg.filtering, NAT_FILTER_ADDR_PORT);
	cr_assert(cfg.port_preservation);
	cr_assert_eq(cfg.port_range.lo, 40000);
	cr_assert_eq(cfg.port_range.hi, 60000);
	cr_assert_eq(cfg.timeouts.tcp_established, 7440);
	cr_assert_eq(cfg.timeouts.tcp_transitory, 240);
	cr_assert_eq(cfg.timeouts.tcp_time_wait, 120);
	cr_assert_eq(cfg.timeouts.tcp_closed, 10);
	cr_assert_eq(cfg.timeouts.udp, 120);
	cr_assert_eq(cfg.timeouts.icmp, 60);
	cr_assert_eq(cfg.limits.max_flows, 65536);
	cr_assert_eq(cfg.limits.max_flows_per_host, 0);
	cr_assert_eq(cfg.policies.fragments, NAT_POLICY_TRANSLATE);
	cr_assert_eq(cfg.timeouts.fragment, 30);
	cr_assert_eq(cfg.limits.max_frag_datagrams, 1024);
	cr_assert_eq(cfg.limits.max_frag_held, 1024);
	cr_assert_eq(cfg.limits.max_frag_bytes, 1u << 20);
	cr_assert_eq(cfg.policies.ipv6, NAT_POLICY_PASS);
	cr_assert_eq(cfg.policies.other_protocols, NAT_POLICY_DROP);
	cr_assert_eq(cfg.policies.unmatched_inbound, NAT_POLICY_DROP);
	cr_assert_not(cfg.trace.enabled);
	cr_assert_eq(cfg.trace.file_size, 64u << 20);
	cr_assert_eq(cfg.trace.files, 8);
	cr_assert_eq(cfg.trace.max_packets_per_flow, 0);
	cr_assert_eq(cfg.trace.queue, 65536);
	cr_assert_str_eq(cfg.logging.events, "");
	cr_assert_eq(cfg.logging.format, NAT_LOG_TEXT);
	cr_assert_not(cfg.logging.verbose);
	cr_assert_eq(cfg.logging.queue, 65536);
	cr_assert_str_eq(cfg.control_socket, "/run/glassnat/glassnat.sock");
}

Test(config, minimal_config_gets_every_default)
{
	must_load(BASE);
	cr_assert_eq(cfg.nat_ip, ip(203, 0, 113, 1));
	cr_assert_eq(cfg.internal.addr, ip(172, 17, 240, 0));
	cr_assert_eq(cfg.internal.len, 24);
	cr_assert_not(cfg.has_host_internal_ip);
	cr_assert_eq(cfg.port_range.lo, 40000);
	cr_assert_eq(cfg.timeouts.tcp_established, 7440);
	cr_assert_str_eq(cfg.path, "t.yaml");
}

Test(config, rule_names_in_korean_pass_through_byte_for_byte)
{
	must_load(BASE "rules:\n"
		       "  - name: \"내부 네트워크\"\n"
		       "    description: \"VM <-> VM 통신\"\n"
		       "    destination: 172.17.240.0/24\n"
		       "    action: bypass\n");
	cr_assert_eq(cfg.n_rules, 1);
	cr_assert_str_eq(cfg.rules[0].name,
			 "\xeb\x82\xb4\xeb\xb6\x80 "
			 "\xeb\x84\xa4\xed\x8a\xb8\xec\x9b\x8c\xed\x81\xac");
	cr_assert_str_eq(cfg.rules[0].description, "VM <-> VM 통신");
	cr_assert_eq(cfg.rules[0].action, NAT_ACT_BYPASS);
	cr_assert_eq(cfg.rules[0].line, 4);
}

Test(config, rule_defaults_are_any_protocol_any_source_any_destination)
{
	must_load(BASE "rules:\n  - name: all\n    action: nat\n");
	cr_assert_eq(cfg.rules[0].proto, 0);
	cr_assert_eq(cfg.rules[0].src.len, 0);
	cr_assert_eq(cfg.rules[0].dst.len, 0);
	cr_assert_eq(cfg.rules[0].n_ports, 0);
	cr_assert_str_eq(cfg.rules[0].in_if, "");
	cr_assert_str_eq(cfg.rules[0].out_if, "");
}

Test(config, bare_address_in_source_or_destination_means_slash_32)
{
	must_load(BASE "rules:\n  - name: one\n    source: 172.17.240.9\n"
		       "    destination: 8.8.8.8\n    action: bypass\n");
	cr_assert_eq(cfg.rules[0].src.addr, ip(172, 17, 240, 9));
	cr_assert_eq(cfg.rules[0].src.len, 32);
	cr_assert_eq(cfg.rules[0].dst.addr, ip(8, 8, 8, 8));
	cr_assert_eq(cfg.rules[0].dst.len, 32);
}

Test(config, any_and_slash_0_match_everything)
{
	must_load(BASE "rules:\n  - name: a\n    source: any\n    destination: "
		       "0.0.0.0/0\n"
		       "    action: nat\n");
	cr_assert_eq(cfg.rules[0].src.len, 0);
	cr_assert_eq(cfg.rules[0].dst.len, 0);
	cr_assert_eq(cfg.rules[0].dst.addr, 0);
}

Test(config, every_action_and_protocol_name_is_accepted)
{
	must_load(BASE "rules:\n"
		       "  - {name: a, action: nat, protocol: tcp}\n"
		       "  - {name: b, action: bypass, protocol: udp}\n"
		       "  - {name: c, action: drop, protocol: icmp}\n"
		       "  - {name: d, action: snat, to_address: 203.0.113.5, "
		       "protocol: any}\n"
		       "  - {name: e, action: MASQUERADE, protocol: TCP}\n");
	cr_assert_eq(cfg.n_rules, 5);
	cr_assert_eq(cfg.rules[0].action, NAT_ACT_NAT);
	cr_assert_eq(cfg.rules[0].proto, 6);
	cr_assert_eq(cfg.rules[1].action, NAT_ACT_BYPASS);
	cr_assert_eq(cfg.rules[1].proto, 17);
	cr_assert_eq(cfg.rules[2].action, NAT_ACT_DROP);
	cr_assert_eq(cfg.rules[2].proto, 1);
	cr_assert_eq(cfg.rules[3].action, NAT_ACT_SNAT);
	cr_assert_eq(cfg.rules[3].proto, 0);
	cr_assert_eq(cfg.rules[3].to_address, ip(203, 0, 113, 5));
	cr_assert_eq(cfg.rules[4].action, NAT_ACT_MASQUERADE);
	cr_assert_eq(cfg.rules[4].proto, 6);
}

Test(config, ports_accept_a_number_a_range_and_a_list_of_both)
{
	must_load(
		BASE
		"rules:\n"
		"  - {name: a, protocol: tcp, ports: 443, action: nat}\n"
		"  - {name: b, protocol: udp, ports: 5000-5010, action: nat}\n"
		"  - {name: c, protocol: tcp, ports: [22, \"80\", 8000 - "
		"8080], action: nat}\n");
	cr_assert_eq(cfg.rules[0].n_ports, 1);
	cr_assert_eq(cfg.rules[0].ports[0].lo, 443);
	cr_assert_eq(cfg.rules[0].ports[0].hi, 443);
	cr_assert_eq(cfg.rules[1].n_ports, 1);
	cr_assert_eq(cfg.rules[1].ports[0].lo, 5000);
	cr_assert_eq(cfg.rules[1].ports[0].hi, 5010);
	cr_assert_eq(cfg.rules[2].n_ports, 3);
	cr_assert_eq(cfg.rules[2].ports[0].lo, 22);
	cr_assert_eq(cfg.rules[2].ports[1].lo, 80);
	cr_assert_eq(cfg.rules[2].ports[2].lo, 8000);
	cr_assert_eq(cfg.rules[2].ports[2].hi, 8080);
}

Test(config, sixteen_port_entries_fit_and_seventeen_do_not)
{
	must_load(BASE "rules:\n  - name: a\n    protocol: tcp\n"
		       "    ports: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]\n  "
		       "  action: nat\n");
	cr_assert_eq(cfg.rules[0].n_ports, 16);
	must_fail(BASE
		  "rules:\n  - name: a\n    protocol: tcp\n"
		  "    ports: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n    "
		  "action: nat\n",
		  "t.yaml:6:52: rules[1].ports[17]: too many port entries (at "
		  "most 16; use ranges)");
}

Test(config, ports_need_tcp_or_udp)
{
	must_fail(BASE "rules:\n  - name: a\n    ports: 80\n    action: nat\n",
		  "t.yaml:5:12: rules[1].ports: ports need protocol tcp or udp "
		  "(protocol is any)");
}

Test(config, snat_needs_to_address_and_nothing_else_takes_it)
{
	must_fail(BASE "rules:\n  - name: a\n    action: snat\n",
		  "t.yaml:4:5: rules[1].to_address: required key is missing "
		  "(action snat needs it)");
	must_fail(BASE "rules:\n  - name: a\n    action: masquerade\n    "
		       "to_address: 1.2.3.4\n",
		  "t.yaml:6:17: rules[1].to_address: only valid with action "
		  "snat or redirect (action is masquerade)");
}

Test(config, duplicate_rule_names_are_rejected_with_the_first_line)
{
	must_fail(BASE "rules:\n  - {name: a, action: nat}\n  - {name: b, "
		       "action: nat}\n"
		       "  - {name: a, action: bypass}\n",
		  "t.yaml:6:12: rules[3].name: duplicate rule name \"a\" "
		  "(first used by rules[1] at line 4)");
}

Test(config, forward_internal_port_defaults_to_external_port)
{
	must_load(BASE "port_forward:\n  - name: dns\n    protocol: udp\n    "
		       "external_port: 53\n"
		       "    internal_ip: 172.17.240.100\n");
	cr_assert_eq(cfg.n_forwards, 1);
	cr_assert_str_eq(cfg.forwards[0].name, "dns");
	cr_assert_eq(cfg.forwards[0].proto, 17);
	cr_assert_eq(cfg.forwards[0].ext_port, 53);
	cr_assert_eq(cfg.forwards[0].int_port, 53);
	cr_assert_eq(cfg.forwards[0].int_ip, ip(172, 17, 240, 100));
	cr_assert_eq(cfg.forwards[0].line, 4);
}

Test(config, same_external_port_on_tcp_and_udp_is_not_an_overlap)
{
	must_load(BASE "port_forward:\n"
		       "  - {name: u, protocol: udp, external_port: 53, "
		       "internal_ip: 172.17.240.5}\n"
		       "  - {name: t, protocol: tcp, external_port: 53, "
		       "internal_ip: 172.17.240.6}\n"
		       "  - {name: w, protocol: tcp, external_port: 54, "
		       "internal_ip: 172.17.240.6,"
		       " internal_port: 53}\n");
	cr_assert_eq(cfg.n_forwards, 3);
}

Test(config, same_protocol_and_external_port_is_an_overlap)
{
	must_fail(BASE "port_forward:\n"
		       "  - {name: a, protocol: udp, external_port: 53, "
		       "internal_ip: 172.17.240.5}\n"
		       "  - {name: b, protocol: udp, external_port: 53, "
		       "internal_ip: 172.17.240.6}\n",
		  "t.yaml:5:45: port_forward[2].external_port: udp "
		  "203.0.113.1:53 is already forwarded by \"a\" "
		  "(port_forward[1] at line 4) for every source: this "
		  "forward would never match");
}

Test(config, forward_to_an_address_outside_the_inside_network_is_rejected)
{
	must_fail(BASE "port_forward:\n"
		       "  - {name: a, protocol: tcp, external_port: 80, "
		       "internal_ip: 172.17.241.5}\n",
		  "t.yaml:4:62: port_forward[1].internal_ip: 172.17.241.5 is "
		  "outside internal_network "
		  "172.17.240.0/24");
}

Test(config, forward_protocol_must_be_tcp_or_udp)
{
	must_fail(BASE "port_forward:\n"
		       "  - {name: a, protocol: icmp, external_port: 80, "
		       "internal_ip: 172.17.240.5}\n",
		  "t.yaml:4:25: port_forward[1].protocol: unknown protocol "
		  "\"icmp\" (expected tcp or udp)");
}

Test(config, host_bits_in_a_network_are_rejected_with_a_suggestion)
{
	must_fail("nat_ip: 203.0.113.1\ninternal_network: 10.1.2.3/8\n",
		  "t.yaml:2:19: internal_network: host bits set in 10.1.2.3/8, "
		  "did you mean 10.0.0.0/8?");
}

Test(config, prefix_length_above_32_is_rejected)
{
	must_fail("nat_ip: 203.0.113.1\ninternal_network: 10.0.0.0/40\n",
		  "t.yaml:2:19: internal_network: prefix length in "
		  "\"10.0.0.0/40\" is out of range (0..32)");
	must_fail("nat_ip: 203.0.113.1\ninternal_network: 10.0.0.0/\n",
		  "t.yaml:2:19: internal_network: bad prefix length in "
		  "\"10.0.0.0/\" (expected 0..32)");
}

Test(config, malformed_addresses_are_rejected)
{
	static const char *const bad[] = { "1.2.3",   "1.2.3.4.5", "256.1.1.1",
					   "1..2.3",  "01.2.3.4",  "1.2.3.4 ",
					   "a.b.c.d", "1.2.3.-4",  "1.2.3.4x" };
	char text[128], want[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text,
			 "nat_ip: \"%s\"\ninternal_network: 10.0.0.0/8\n",
			 bad[i]);
		snprintf(want, sizeof want,
			 "t.yaml:1:9: nat_ip: \"%s\" is not an IPv4 address "
			 "(expected a.b.c.d)",
			 bad[i]);
		must_fail(text, want);
	}
}

Test(config, nat_ip_inside_the_inside_network_is_rejected)
{
	must_fail("internal_network: 10.0.0.0/8\nnat_ip: 10.9.9.9\n",
		  "t.yaml:2:9: nat_ip: 10.9.9.9 is inside internal_network "
		  "10.0.0.0/8 "
		  "(the NAT address must be outside)");
}

Test(config, host_internal_ip_is_optional_and_must_be_inside)
{
	must_load(BASE "host_internal_ip: 172.17.240.1\n");
	cr_assert(cfg.has_host_internal_ip);
	cr_assert_eq(cfg.host_internal_ip, ip(172, 17, 240, 1));
	must_load(BASE "host_internal_ip:\n");
	cr_assert_not(cfg.has_host_internal_ip);
	must_fail(BASE "host_internal_ip: 192.0.2.1\n",
		  "t.yaml:3:19: host_internal_ip: 192.0.2.1 is outside "
		  "internal_network 172.17.240.0/24");
}

Test(config, durations_accept_seconds_and_unit_suffixes)
{
	must_load(BASE
		  "timeouts:\n  tcp_established: 2h4m\n  tcp_transitory: 240s\n"
		  "  tcp_time_wait: 4m\n  tcp_closed: 1d\n  udp: 1h1m1s\n  "
		  "icmp: 90\n");
	cr_assert_eq(cfg.timeouts.tcp_established, 7440);
	cr_assert_eq(cfg.timeouts.tcp_transitory, 240);
	cr_assert_eq(cfg.timeouts.tcp_time_wait, 240);
	cr_assert_eq(cfg.timeouts.tcp_closed, 86400);
	cr_assert_eq(cfg.timeouts.udp, 3661);
	cr_assert_eq(cfg.timeouts.icmp, 90);
}

Test(config, durations_reject_zero_junk_and_overflow)
{
	must_fail(
		BASE "timeouts:\n  udp: 0\n",
		"t.yaml:4:8: timeouts.udp: 0 is out of range (1..4294967295)");
	must_fail(BASE "timeouts:\n  udp: 0m0s\n",
		  "t.yaml:4:8: timeouts.udp: must be at least 1 second (got "
		  "\"0m0s\")");
	must_fail(BASE "timeouts:\n  udp: 5ms\n",
		  "t.yaml:4:8: timeouts.udp: bad duration \"5ms\" (expected "
		  "seconds, or units d h m s "
		  "in that order, like 2h4m)");
	must_fail(BASE "timeouts:\n  udp: 2h2h\n",
		  "t.yaml:4:8: timeouts.udp: bad duration \"2h2h\" (expected "
		  "seconds, or units d h m s "
		  "in that order, like 2h4m)");
	must_fail(BASE "timeouts:\n  udp: 50000d\n",
		  "t.yaml:4:8: timeouts.udp: duration \"50000d\" is too long "
		  "(at most 4294967295 seconds)");
	must_fail(BASE "timeouts:\n  udp: -5\n",
		  "t.yaml:4:8: timeouts.udp: must not be negative (got -5)");
}

Test(config, sizes_accept_bytes_and_si_and_binary_suffixes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "64MiB", 64ull << 20 }, { "1GiB", 1ull << 30 },
		{ "500KB", 500000 },	  { "100000", 100000 },
		{ "2 MB", 2000000 },	  { "128KiB", 128ull << 10 },
		{ "70000B", 70000 },	  { "1TiB", 1ull << 40 },
	};
	char text[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, BASE "trace:\n  file_size: %s\n",
			 cases[i].text);
		must_load(text);
		cr_assert_eq(cfg.trace.file_size, cases[i].bytes, "%s",
			     cases[i].text);
		nat_config_free(&cfg);
	}
	must_fail(BASE "trace:\n  file_size: 64Mb\n",
		  "t.yaml:4:14: trace.file_size: bad size \"64Mb\" (expected "
		  "bytes, or a number with B, "
		  "KB, MB, GB, KiB, MiB or GiB)");
	must_fail(BASE "trace:\n  file_size: 99999999999TiB\n",
		  "t.yaml:4:14: trace.file_size: size \"99999999999TiB\" is "
		  "too large");
}

Test(config, booleans_are_true_false_yes_no)
{
	must_load(BASE "port_preservation: no\ntrace: {enabled: yes}\nlogging: "
		       "{verbose: True}\n");
	cr_assert_not(cfg.port_preservation);
	cr_assert(cfg.trace.enabled);
	cr_assert(cfg.logging.verbose);
	nat_config_free(&cfg);
	must_load(BASE "port_preservation: false\ntrace: {enabled: true}\n");
	cr_assert_not(cfg.port_preservation);
	cr_assert(cfg.trace.enabled);
	must_fail(BASE "port_preservation: 1\n",
		  "t.yaml:3:20: port_preservation: expected true or false, got "
		  "\"1\"");
}

Test(config, integers_reject_junk_negatives_leading_zeros_and_overflow)
{
	must_fail(BASE "limits: {max_flows: 12abc}\n",
		  "t.yaml:3:21: limits.max_flows: trailing junk in \"12abc\", "
		  "expected an integer");
	must_fail(BASE "limits: {max_flows: -12}\n",
		  "t.yaml:3:21: limits.max_flows: must not be negative (got "
		  "-12)");
	must_fail(BASE "limits: {max_flows: 0100}\n",
		  "t.yaml:3:21: limits.max_flows: leading zero in \"0100\" "
		  "(write it in decimal without "
		  "leading zeros)");
	must_fail(BASE "limits: {max_flows: 18446744073709551616}\n",
		  "t.yaml:3:21: limits.max_flows: 18446744073709551616 is too "
		  "large (at most 16777216)");
	must_fail(BASE "limits: {max_flows: 1.5}\n",
		  "t.yaml:3:21: limits.max_flows: trailing junk in \"1.5\", "
		  "expected an integer");
	must_fail(BASE "limits: {max_flows: [1]}\n",
		  "t.yaml:3:21: limits.max_flows: expected an integer, got a "
		  "list");
	must_fail(BASE "limits: {max_flows: }\n",
		  "t.yaml:3:21: limits.max_flows: expected an integer, got an "
		  "empty value");
}

Test(config, limits_bounds_are_inclusive)
{
	must_load(BASE
		  "limits: {max_flows: 16777216, max_flows_per_host: 0}\n");
	cr_assert_eq(cfg.limits.max_flows, 16777216);
	nat_config_free(&cfg);
	must_load(BASE "limits: {max_flows: 1, max_flows_per_host: 10}\n");
	cr_assert_eq(cfg.limits.max_flows, 1);
	cr_assert_eq(cfg.limits.max_flows_per_host, 10);
}

Test(config, port_range_accepts_a_string_or_a_mapping)
{
	must_load(BASE "port_range: \"1024-2047\"\n");
	cr_assert_eq(cfg.port_range.lo, 1024);
	cr_assert_eq(cfg.port_range.hi, 2047);
	nat_config_free(&cfg);
	must_load(BASE "port_range: {start: 50000, end: 50000}\n");
	cr_assert_eq(cfg.port_range.lo, 50000);
	cr_assert_eq(cfg.port_range.hi, 50000);
	must_fail(BASE "port_range: {start: 5}\n",
		  "t.yaml:3:13: port_range.end: required key is missing");
	must_fail(BASE "port_range: 1000-70000\n",
		  "t.yaml:3:13: port_range: port 70000 is out of range "
		  "(1..65535)");
}

Test(config, policies_filtering_and_logging_format_by_name)
{
	must_load(BASE "filtering: address_dependent\n"
		       "policies: {fragments: pass, ipv6: drop, "
		       "other_protocols: pass, "
		       "unmatched_inbound: pass}\n"
		       "logging: {events: \"-\", format: json, queue: 10}\n");
	cr_assert_eq(cfg.filtering, NAT_FILTER_ADDR);
	cr_assert_eq(cfg.policies.fragments, NAT_POLICY_TRANSLATE,
		     "fragments: pass must mean translate: a later fragment "
		     "passed unchanged leaks the inside source address");
	cr_assert_eq(cfg.policies.ipv6, NAT_POLICY_DROP);
	cr_assert_eq(cfg.policies.other_protocols, NAT_POLICY_PASS);
	cr_assert_eq(cfg.policies.unmatched_inbound, NAT_POLICY_PASS);
	cr_assert_str_eq(cfg.logging.events, "-");
	cr_assert_eq(cfg.logging.format, NAT_LOG_JSON);
	cr_assert_eq(cfg.logging.queue, 10);
}

Test(config, empty_sections_mean_defaults)
{
	must_load(BASE "rules:\nport_forward:\ntimeouts:\nlimits:\npolicies:"
		       "\ntrace:\nlogging:\n");
	cr_assert_eq(cfg.n_rules, 0);
	cr_assert_null(cfg.rules);
	cr_assert_eq(cfg.n_forwards, 0);
	cr_assert_eq(cfg.timeouts.udp, 120);
	cr_assert_eq(cfg.limits.max_flows, 65536);
}

Test(config, unknown_keys_are_errors_with_a_suggestion_when_close)
{
	must_fail(BASE "port_forwards: []\n",
		  "t.yaml:3:1: port_forwards: unknown key, did you mean "
		  "port_forward?");
	must_fail(BASE "limits: {max_flow: 10}\n",
		  "t.yaml:3:10: limits.max_flow: unknown key, did you mean "
		  "max_flows?");
	must_fail(BASE "logging: {colour: red}\n",
		  "t.yaml:3:11: logging.colour: unknown key (expected one of "
		  "events, format, verbose, "
		  "queue)");
}

Test(config, duplicate_keys_are_errors)
{
	must_fail(BASE "nat_ip: 203.0.113.2\n",
		  "t.yaml:3:1: nat_ip: duplicate key (first at line 1)");
	must_fail(BASE "trace:\n  files: 2\n  files: 3\n",
		  "t.yaml:5:3: trace.files: duplicate key (first at line 4)");
}

Test(config, names_longer_than_the_buffer_are_errors_not_truncated)
{
	char text[512], name[80];

	memset(name, 'n', 63);
	name[63] = '\0';
	snprintf(text, sizeof text,
		 BASE "rules:\n  - name: %s\n    action: nat\n", name);
	must_load(text);
	cr_assert_str_eq(cfg.rules[0].name, name);
	nat_config_free(&cfg);
	strcat(name, "x");
	snprintf(text, sizeof text,
		 BASE "rules:\n  - name: %s\n    action: nat\n", name);
	must_fail(
		text,
		"t.yaml:4:11: rules[1].name: too long (64 bytes, at most 63)");
}

Test(config, interface_names_are_at_most_15_bytes)
{
	must_load(BASE "rules:\n  - {name: a, action: nat, in_interface: "
		       "abcdefghijklmno}\n");
	cr_assert_str_eq(cfg.rules[0].in_if, "abcdefghijklmno");
	must_fail(BASE "rules:\n  - {name: a, action: nat, in_interface: "
		       "abcdefghijklmnop}\n",
		  "t.yaml:4:42: rules[1].in_interface: too long (16 bytes, at "
		  "most 15)");
}

Test(config, a_nul_byte_in_a_string_is_rejected)
{
	must_fail(BASE "rules:\n  - {name: \"a\\0b\", action: nat}\n",
		  "t.yaml:4:12: rules[1].name: contains a NUL byte");
}

Test(config, yaml_syntax_errors_carry_libyaml_position)
{
	must_fail(BASE "rules: [\n",
		  "t.yaml:4:1: yaml: did not find expected node content (while "
		  "parsing a flow node at "
		  "line 4, column 1)");
	must_fail("nat_ip: a: b\n", "t.yaml:1:10: yaml: mapping values are not "
				    "allowed in this context");
}

Test(config, empty_input_and_a_second_document_are_errors)
{
	must_fail("", "t.yaml:1:1: config: empty file (expected at least "
		      "nat_ip and internal_network)");
	must_fail("---\n", "t.yaml:1:1: config: empty file (expected at least "
			   "nat_ip and internal_network)");
	must_fail(BASE "---\n" BASE, "t.yaml:4:1: config: more than one YAML "
				     "document (a config is one document)");
}

Test(config, self_referencing_alias_is_a_type_error_not_a_hang)
{
	must_fail(BASE "rules: &r [*r]\n",
		  "t.yaml:3:8: rules[1]: expected a mapping (name, "
		  "destination, action...), got a list");
	must_fail(BASE "rules:\n  - &m {name: a, action: nat, ports: *m}\n",
		  "t.yaml:4:5: rules[1].ports: expected a port, a range or a "
		  "list of them, got a mapping");
}

Test(config, aliases_repeat_values)
{
	must_load(BASE "rules:\n  - {name: a, destination: &net "
		       "192.168.45.0/24, action: bypass}\n"
		       "  - {name: b, source: *net, action: drop}\n");
	cr_assert_eq(cfg.rules[1].src.addr, ip(192, 168, 45, 0));
	cr_assert_eq(cfg.rules[1].src.len, 24);
}

Test(config, rule_count_is_limited)
{
	size_t n = NAT_RULES_MAX + 1, cap = 64 + n * 40;
	char *text = malloc(cap);
	size_t used;

	cr_assert_not_null(text);
	used = (size_t)snprintf(text, cap, BASE "rules:\n");
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "- {name: r%zu, action: nat}\n", i);
	cr_assert_eq(load(text), -1);
	cr_assert_str_eq(err,
			 "t.yaml:1028:3: rules: too many rules (at most 1024)");
	/* exactly the maximum loads */
	*strstr(text, "- {name: r1024,") = '\0';
	must_load(text);
	cr_assert_eq(cfg.n_rules, NAT_RULES_MAX);
	cr_assert_str_eq(cfg.rules[1023].name, "r1023");
	free(text);
}

Test(config, input_need_not_be_nul_terminated)
{
	char buf[sizeof BASE + 8];

	memcpy(buf, BASE, sizeof BASE - 1);
	memset(buf + sizeof BASE - 1, 'Z', sizeof buf - (sizeof BASE - 1));
	cr_assert_eq(nat_config_load_mem("m", buf, sizeof BASE - 1, &cfg, err,
					 sizeof err),
		     0, "%s", err);
	cr_assert_eq(cfg.internal.len, 24);
}

Test(config, a_small_error_buffer_is_truncated_and_terminated)
{
	char small[12];

	memset(small, 'X', sizeof small);
	cr_assert_eq(nat_config_load_mem("t.yaml", "x: 1\n", 5, &cfg, small,
					 sizeof small),
		     -1);
	cr_assert_str_eq(small, "t.yaml:1:1:");
	cr_assert_eq(nat_config_load_mem("t.yaml", "x: 1\n", 5, &cfg, NULL, 0),
		     -1);
}

Test(config, a_missing_file_names_the_file_and_the_reason)
{
	cr_assert_eq(nat_config_load("tests/data/no/such.yaml", &cfg, err,
				     sizeof err),
		     -1);
	cr_assert_str_eq(err, "tests/data/no/such.yaml: cannot open: No such "
			      "file or directory");
}

Test(config, free_is_safe_twice_and_on_a_zeroed_config)
{
	struct nat_config z;

	memset(&z, 0, sizeof z);
	nat_config_free(&z);
	must_load(BASE "rules:\n  - {name: a, action: nat}\n");
	nat_config_free(&cfg);
	nat_config_free(&cfg);
	cr_assert_null(cfg.rules);
}

Test(config, names_of_actions_filtering_and_protocols)
{
	cr_assert_str_eq(nat_action_name(NAT_ACT_NAT), "nat");
	cr_assert_str_eq(nat_action_name(NAT_ACT_BYPASS), "bypass");
	cr_assert_str_eq(nat_action_name(NAT_ACT_DROP), "drop");
	cr_assert_str_eq(nat_action_name(NAT_ACT_SNAT), "snat");
	cr_assert_str_eq(nat_action_name(NAT_ACT_MASQUERADE), "masquerade");
	cr_assert_str_eq(nat_filtering_name(NAT_FILTER_ADDR_PORT),
			 "address_and_port_dependent");
	cr_assert_str_eq(nat_filtering_name(NAT_FILTER_ADDR),
			 "address_dependent");
	cr_assert_str_eq(nat_filtering_name(NAT_FILTER_EI),
			 "endpoint_independent");
	cr_assert_str_eq(nat_proto_name(0), "any");
	cr_assert_str_eq(nat_proto_name(1), "icmp");
	cr_assert_str_eq(nat_proto_name(6), "tcp");
	cr_assert_str_eq(nat_proto_name(17), "udp");
	cr_assert_str_eq(nat_proto_name(47), "?");
}

Test(config, plan_lists_addresses_rules_forwards_and_memory)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	must_load(BASE
		  "host_internal_ip: 172.17.240.1\n"
		  "rules:\n"
		  "  - {name: \"내부\", destination: 172.17.240.0/24, action: "
		  "bypass}\n"
		  "  - {name: web, protocol: tcp, ports: [80, 8000-8080], "
		  "action: snat,"
		  " to_address: 203.0.113.9}\n"
		  "port_forward:\n"
		  "  - {name: Web Server, protocol: tcp, external_port: 8080,"
		  " internal_ip: 172.17.240.21, internal_port: 80}\n"
		  "trace: {enabled: true, dir: /tmp/t, file_size: 1GiB, files: "
		  "4}\n"
		  "limits: {max_flows: 1000}\n");
	f = open_memstream(&out, &outlen);
	cr_assert_not_null(f);
	nat_config_print_plan(f, &cfg, 3u << 20);
	fclose(f);
	cr_assert(strstr(out, "glassnat plan for t.yaml\n"), "%s", out);
	cr_assert(strstr(out, "  nat_ip            203.0.113.1\n"), "%s", out);
	cr_assert(
		strstr(out,
		       "  internal_network  172.17.240.0/24 (256 addresses)\n"),
		"%s", out);
	cr_assert(
		strstr(out,
		       "  host_internal_ip  172.17.240.1 (never translated)\n"),
		"%s", out);
	cr_assert(strstr(out,
			 "rules (first match, on the first packet of a flow):\n"
			 "  1. 내부  dst 172.17.240.0/24 -> bypass  (line 5)\n"
			 "  2. web  tcp dst 0.0.0.0/0 ports 80,8000-8080 -> "
			 "snat (as 203.0.113.9)"
			 "  (line 6)\n"),
		  "%s", out);
	cr_assert(
		strstr(out, "  tcp/8080 -> 172.17.240.21:80  \"Web Server\"\n"),
		"%s", out);
	cr_assert(
		strstr(out, "  port_range         40000-60000 (20001 ports)\n"),
		"%s", out);
	cr_assert(strstr(out, "  tcp_established    7440 s (2h4m)\n"), "%s",
		  out);
	cr_assert(strstr(out, "trace: on\n"), "%s", out);
	cr_assert(strstr(out, "  files              4 x 1 GiB\n"), "%s", out);
	cr_assert(strstr(out, "memory reserved: 3145728 bytes (3.0 MiB) for "
			      "1000 flows\n"),
		  "%s", out);
	free(out);
}

Test(config, plan_says_none_when_there_are_no_rules_or_forwards)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	must_load(BASE);
	f = open_memstream(&out, &outlen);
	cr_assert_not_null(f);
	nat_config_print_plan(f, &cfg, 0);
	fclose(f);
	cr_assert(strstr(out, "rules: (none)\n"), "%s", out);
	cr_assert(strstr(out, "forwards: (none)\n"), "%s", out);
	cr_assert(strstr(out, "  host_internal_ip  (none)\n"), "%s", out);
	cr_assert(strstr(out, "trace: off\n"), "%s", out);
	free(out);
}

Test(config, fastpath_mode_auto_by_default_on_and_off_by_name)
{
	must_load(BASE);
	cr_assert_eq(cfg.fastpath, NAT_FASTPATH_AUTO,
		     "the fast path must default to auto");
	must_load(BASE "fastpath: on\n");
	cr_assert_eq(cfg.fastpath, NAT_FASTPATH_ON);
	must_load(BASE "fastpath: OFF\n");
	cr_assert_eq(cfg.fastpath, NAT_FASTPATH_OFF);
	cr_assert_str_eq(nat_fastpath_mode_name(NAT_FASTPATH_AUTO), "auto");
	cr_assert_str_eq(nat_fastpath_mode_name(NAT_FASTPATH_OFF), "off");
}

Test(config, fastpath_bad_value_names_file_line_column_and_choices)
{
	must_fail(BASE "fastpath: sometimes\n",
		  "t.yaml:3:11: fastpath: unknown fastpath mode \"sometimes\" "
		  "(expected auto, on or off)");
	must_fail(BASE "fastpath: [on]\n",
		  "t.yaml:3:11: fastpath: expected a fastpath mode name, got "
		  "a list");
}
