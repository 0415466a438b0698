/* The WinDivert filter strings glassnat opens its Windows handles with
 * (nat/backend/windivert_filter.c), generated from configs: checked here on
 * Linux, since no WinDivert driver runs on the build machines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "windivert.h"

#define BASE "nat_ip: 192.168.45.57\ninternal_network: 172.17.240.0/24\n"

static struct nat_config cfg;
static char err[512], out[NAT_WD_FILTER_MAX], in[NAT_WD_FILTER_MAX];

static void load(const char *text)
{
	nat_config_free(&cfg);
	cr_assert_eq(nat_config_load_mem("t.yaml", text, strlen(text), &cfg,
					 err, sizeof err),
		     0, "config did not load: %s", err);
	cr_assert_eq(nat_wd_filter_outbound(&cfg, out, sizeof out, err,
					    sizeof err),
		     0, "%s", err);
	cr_assert_eq(nat_wd_filter_inbound(&cfg, in, sizeof in, err,
					   sizeof err),
		     0, "%s", err);
}

static void fini(void)
{
	nat_config_free(&cfg);
}

TestSuite(windivert_filter, .fini = fini);

Test(windivert_filter, outbound_is_the_internal_network_as_a_range)
{
	load(BASE);
	cr_assert_str_eq(out, "ip and ip.SrcAddr >= 172.17.240.0 and "
			      "ip.SrcAddr <= 172.17.240.255");
}

Test(windivert_filter, outbound_leaves_out_host_internal_ip)
{
	load(BASE "host_internal_ip: 172.17.240.1\n");
	cr_assert_str_eq(out, "ip and ip.SrcAddr >= 172.17.240.0 and "
			      "ip.SrcAddr <= 172.17.240.255 and "
			      "ip.SrcAddr != 172.17.240.1");
}

Test(windivert_filter, inbound_is_nat_ip_port_range_and_icmp)
{
	load(BASE);
	cr_assert_str_eq(
		in,
		"inbound and ip and ((ip.DstAddr == 192.168.45.57) and ((tcp "
		"and tcp.DstPort >= 40000 and tcp.DstPort <= 60000) or (udp and "
		"udp.DstPort >= 40000 and udp.DstPort <= 60000) or (icmp and "
		"icmp.Type == 0 and icmp.Body >= 2621440000 and icmp.Body <= "
		"3932225535) or (icmp and (icmp.Type == 3 or icmp.Type == 11 or "
		"icmp.Type == 12) and (ip.HdrLength != 5 or packet[28] != 69 or "
		"(packet[37] == 1 and packet16[26] >= 40000 and packet16[26] <= "
		"60000) or (packet[37] != 1 and packet16[24] >= 40000 and "
		"packet16[24] <= 60000)))))");
}

Test(windivert_filter, inbound_never_takes_echo_requests)
{
	load(BASE);
	cr_assert_null(strstr(in, "icmp.Type == 8"), "%s", in);
	cr_assert_null(strstr(in, "(icmp or"), "%s", in);
	cr_assert_null(strstr(in, "(icmp)"), "%s", in);
}

Test(windivert_filter, inbound_has_each_forward_and_merges_neighbours)
{
	load(BASE "port_forward:\n"
		  "  - {name: a, protocol: tcp, external_port: 8080, "
		  "internal_ip: 172.17.240.21}\n"
		  "  - {name: b, protocol: tcp, external_port: 8081, "
		  "internal_ip: 172.17.240.22}\n"
		  "  - {name: c, protocol: udp, external_port: 53, "
		  "internal_ip: 172.17.240.100}\n"
		  "  - {name: d, protocol: tcp, external_port: 22, "
		  "internal_ip: 172.17.240.23}\n");
	cr_assert(strstr(in, " or (ip.DstAddr == 192.168.45.57 and ((tcp and "
			     "tcp.DstPort == 22) or (tcp and tcp.DstPort >= "
			     "8080 and tcp.DstPort <= 8081) or (udp and "
			     "udp.DstPort == 53) or (icmp and (icmp.Type == 3 "
			     "or icmp.Type == 11 or icmp.Type == 12) and "
			     "ip.HdrLength == 5 and packet[28] == 69 and "
			     "((packet[37] == 6 and packet16[24] == 22) or "
			     "(packet[37] == 6 and packet16[24] >= 8080 and "
			     "packet16[24] <= 8081) or (packet[37] == 17 and "
			     "packet16[24] == 53))))))"),
		  "%s", in);
}

Test(windivert_filter, forwards_are_on_nat_ip_only)
{
	load(BASE "rules:\n"
		  "  - {name: a, destination: 10.0.0.0/8, action: snat, "
		  "to_address: 192.168.45.58}\n"
		  "port_forward:\n"
		  "  - {name: a, protocol: tcp, external_port: 8080, "
		  "internal_ip: 172.17.240.21}\n");
	cr_assert(strstr(in, "(ip.DstAddr == 192.168.45.57 and ((tcp and "
			     "tcp.DstPort == 8080)"),
		  "%s", in);
	cr_assert_null(strstr(in, "192.168.45.58 and ((tcp and tcp.DstPort "
				  "== 8080)"),
		       "%s", in);
}

Test(windivert_filter, masquerade_is_refused_with_its_line)
{
	load(BASE "rules:\n"
		  "  - {name: wan, destination: 0.0.0.0/0, action: "
		  "masquerade}\n");
	cr_assert_eq(nat_wd_check_config(&cfg, err, sizeof err), -1);
	cr_assert(strstr(err, "t.yaml:4: rule 'wan': masquerade is not "
			      "supported on Windows"),
		  "%s", err);
	load(BASE);
	cr_assert_eq(nat_wd_check_config(&cfg, err, sizeof err), 0);
}

Test(windivert_filter, inbound_takes_every_snat_address_once)
{
	load(BASE "rules:\n"
		  "  - {name: a, destination: 10.0.0.0/8, action: snat, "
		  "to_address: 192.168.45.58}\n"
		  "  - {name: b, destination: 10.1.0.0/16, action: snat, "
		  "to_address: 192.168.45.58}\n"
		  "  - {name: c, destination: 0.0.0.0/0, action: nat}\n");
	cr_assert(strstr(in, "((ip.DstAddr == 192.168.45.57 or ip.DstAddr == "
			     "192.168.45.58) and"),
		  "%s", in);
}

Test(windivert_filter, many_scattered_forwards_become_one_span)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "%sport_forward:\n",
				    BASE);

	for (int i = 0; i < NAT_WD_MAX_RANGES + 5; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
				      "  - {name: f%d, protocol: udp, "
				      "external_port: %d, internal_ip: "
				      "172.17.240.21}\n",
				      i, 1000 + 2 * i);
	load(text);
	cr_assert(strstr(in, "(udp and udp.DstPort >= 1000 and udp.DstPort "
			     "<= 1056) or (icmp"),
		  "%s", in);
	cr_assert(strstr(in, "(packet[37] == 17 and packet16[24] >= 1000 and "
			     "packet16[24] <= 1056))"),
		  "%s", in);
	cr_assert_lt(strlen(in), 1000);
}

Test(windivert_filter, a_small_buffer_is_an_error_not_a_cut_filter)
{
	char small[40];

	load(BASE);
	cr_assert_eq(nat_wd_filter_inbound(&cfg, small, sizeof small, err,
					   sizeof err),
		     -1);
	cr_assert(strstr(err, "inbound filter longer than"), "%s", err);
}
