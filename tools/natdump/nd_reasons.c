/* What each drop/pass reason means and what to check: the same text as
 * docs/troubleshooting.md (keep the two in step). Names are those of
 * nat_reason_name(). */
#include "nd.h"

#include <string.h>

static const struct nd_reason_doc docs[] = {
	{"malformed_ip", "the IPv4 header is invalid (version, IHL, total length)",
	 "the sender or a middlebox corrupting packets; capture on the inside interface"},
	{"malformed_l4", "the TCP/UDP/ICMP header is truncated or inconsistent",
	 "MTU/offload settings and the sender; compare pre-nat bytes with a capture upstream"},
	{"malformed_icmp_inner", "an ICMP error whose embedded header cannot be used",
	 "the router that sent the ICMP error; it must quote the IP header plus 8 bytes"},
	{"ipv6", "IPv6 is never translated; passed or dropped by policy",
	 "policies.ipv6 in the config; IPv6 routing on the host"},
	{"fragment", "a non-first fragment carries no ports to translate",
	 "policies.fragments; path MTU discovery (ICMP type 3 code 4 must pass)"},
	{"other_protocol", "not TCP, UDP or ICMP; passed or dropped by policy",
	 "policies.other_protocols; GRE/ESP need a bypass rule"},
	{"icmp_unsupported", "an ICMP type glassnat does not translate",
	 "which ICMP type (natdump follow); only echo and errors 3/11/12 are translated"},
	{"icmp_no_flow", "an ICMP error about a flow that does not exist (any more)",
	 "whether the flow timed out (natdump flows, flow.close events)"},
	{"no_mapping", "inbound packet with no flow, no port forward and no mapping",
	 "unsolicited traffic, or a flow that expired: timeouts, flow.close events, forward list, policies.unmatched_inbound"},
	{"filtered", "a mapping exists but the filtering mode refused this remote",
	 "filtering in the config (endpoint_independent / address_dependent / address_and_port_dependent)"},
	{"rule_drop", "a rule with action drop matched the first packet",
	 "the rule named in the line: glassnat check -c FILE prints the plan"},
	{"port_exhausted", "no free external port or ICMP id for a new flow",
	 "port_range size, flows per inside host, port.exhausted events"},
	{"table_full", "limits.max_flows reached: no room for a new flow",
	 "limits.max_flows and timeouts; table.full events; natdump flows for the top talkers"},
	{"tcp_no_flow", "an outbound TCP RST for a flow that does not exist",
	 "a host resetting a connection glassnat already closed or never saw"},
	{"no_address", "masquerade found no address on the out interface",
	 "the out interface's IPv4 address (ip -4 addr) and the rule's interface"},
	{"not_inside", "outbound source address outside internal_network",
	 "internal_network in the config; routing that sends other hosts through the NAT"},
	{"not_ours", "inbound to an address that is not one of the NAT's",
	 "nat_ip and the addresses of the out interface; routing on the outside"},
	{"to_host", "inbound for the host itself, not for the NAT",
	 "ip_local_port_range overlapping port_range (a warning at start)"},
	{"host_internal", "from host_internal_ip: the host's own inside address is never translated",
	 "host_internal_ip in the config"},
};

const struct nd_reason_doc *nd_reason_doc(const char *name)
{
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		if (strcmp(docs[i].name, name) == 0)
			return &docs[i];
	return NULL;
}
