/* The enums every layer of the core shares, with their names: direction,
 * verdict, reason, TCP state, flow kind, close reason. The lowest core
 * header: packet < flow / ports / rules < engine all may include it, and it
 * includes nothing of glassnat's. Names are stable: events, traces, stats,
 * natdump and the docs use them. */
#ifndef GLASSNAT_TYPES_H
#define GLASSNAT_TYPES_H

enum nat_dir {
	NAT_DIR_UNKNOWN = 0, /* let nat_engine_classify() decide */
	NAT_DIR_OUT = 1,     /* arrived from the inside network */
	NAT_DIR_IN = 2,	     /* arrived from the outside */
};

enum nat_verdict {
	NAT_V_NAT = 0, /* accept, packet modified */
	NAT_V_BYPASS,  /* accept unchanged: a rule said bypass */
	NAT_V_PASS,    /* accept unchanged: not the NAT's business (reason) */
	NAT_V_DROP,    /* drop (reason) */
	NAT_V_HELD,    /* a non-first fragment before its first: the engine
			* keeps a copy and hands it back later through the
			* fragment sink (nat_engine_set_frag_sink); the
			* backend must neither send nor drop its original
			* until then */
};

/* Why a packet was dropped or passed untranslated: the one list. Each
 * entry is X(SYMBOL, "name", "what it means", "what to check"). The enum,
 * nat_reason_name() and natdump's explanations (`natdump drops`, `natdump
 * --list-reasons`) are made from it; docs/troubleshooting.md carries the
 * same words (tests/e2e/docs_test.sh checks). Each reason has a counter
 * (nat_stats.by_reason) and its name is stable for events, traces and
 * docs. Add a reason at the end of the list. */
#define NAT_FOREACH_REASON(X)                                                  \
	X(MALFORMED_IP, "malformed_ip",                                        \
	  "the IPv4 header is invalid (version, IHL, total length)",           \
	  "the sender or a middlebox corrupting packets; capture on the "      \
	  "inside interface")                                                  \
	X(MALFORMED_L4, "malformed_l4",                                        \
	  "the TCP/UDP/ICMP header is truncated or inconsistent",              \
	  "MTU/offload settings and the sender; compare pre-nat bytes with a " \
	  "capture upstream")                                                  \
	X(MALFORMED_ICMP_INNER, "malformed_icmp_inner",                        \
	  "an ICMP error whose embedded header cannot be used",                \
	  "the router that sent the ICMP error; it must quote the IP header "  \
	  "plus 8 bytes")                                                      \
	X(IPV6, "ipv6", "IPv6 is never translated; passed or dropped by policy", \
	  "policies.ipv6 in the config; IPv6 routing on the host")             \
	X(FRAGMENT, "fragment",                                                \
	  "a non-first fragment dropped by policies.fragments: drop",          \
	  "policies.fragments (translate is the default); path MTU discovery " \
	  "(ICMP type 3 code 4 must pass)")                                    \
	X(OTHER_PROTOCOL, "other_protocol",                                    \
	  "not TCP, UDP or ICMP; passed or dropped by policy",                 \
	  "policies.other_protocols; GRE/ESP need a bypass rule")              \
	X(ICMP_UNSUPPORTED, "icmp_unsupported",                                \
	  "an ICMP type glassnat does not translate",                          \
	  "which ICMP type (natdump follow); only echo and errors 3/11/12 "    \
	  "are translated")                                                    \
	X(ICMP_NO_FLOW, "icmp_no_flow",                                        \
	  "an ICMP error about a flow that does not exist (any more)",         \
	  "whether the flow timed out (natdump flows, flow.close events)")     \
	X(NO_MAPPING, "no_mapping",                                            \
	  "inbound packet with no flow, no port forward and no mapping",       \
	  "unsolicited traffic, or a flow that expired: timeouts, flow.close " \
	  "events, forward list, policies.unmatched_inbound; a TCP SYN-ACK "   \
	  "is the reply to the host's own connection from a port in "          \
	  "port_range (natdump why)")                                          \
	X(FILTERED, "filtered",                                                \
	  "a mapping exists but the filtering mode refused this remote",       \
	  "filtering in the config (endpoint_independent / "                   \
	  "address_dependent / address_and_port_dependent)")                   \
	X(RULE_DROP, "rule_drop",                                              \
	  "a rule with action drop matched the first packet",                  \
	  "the rule named in the line: glassnat check -c FILE prints the "     \
	  "plan")                                                              \
	X(PORT_EXHAUSTED, "port_exhausted",                                    \
	  "no free external port or ICMP id for a new flow",                   \
	  "port_range size, flows per inside host, port.exhausted events")     \
	X(TABLE_FULL, "table_full",                                            \
	  "limits.max_flows reached: no room for a new flow",                  \
	  "limits.max_flows and timeouts; table.full events; natdump flows "   \
	  "for the top talkers")                                               \
	X(TCP_NO_FLOW, "tcp_no_flow",                                          \
	  "an outbound TCP RST for a flow that does not exist",                \
	  "a host resetting a connection glassnat already closed or never "    \
	  "saw")                                                               \
	X(NO_ADDRESS, "no_address",                                            \
	  "masquerade found no address on the out interface",                  \
	  "the out interface's IPv4 address (ip -4 addr) and the rule's "      \
	  "interface")                                                         \
	X(NOT_INSIDE, "not_inside",                                            \
	  "outbound source address outside internal_network",                  \
	  "internal_network in the config; routing that sends other hosts "    \
	  "through the NAT")                                                   \
	X(NOT_OURS, "not_ours",                                                \
	  "inbound to an address that is not one of the NAT's",                \
	  "nat_ip and the addresses of the out interface; routing on the "     \
	  "outside")                                                           \
	X(TO_HOST, "to_host", "inbound for the host itself, not for the NAT",  \
	  "a port the host uses itself; glassnat reserves port_range from the " \
	  "kernel at start (the \"reserved ports\" log line)")                  \
	X(HOST_INTERNAL, "host_internal",                                      \
	  "from host_internal_ip: the host's own inside address is never "     \
	  "translated",                                                        \
	  "host_internal_ip in the config")                                    \
	X(UDP_LENGTH, "udp_length",                                            \
	  "a UDP length field below 8 or past the end of the IP payload",      \
	  "the sender or a middlebox corrupting packets (RFC 768); natdump "   \
	  "show the packet")                                                   \
	X(ICMP_CHECKSUM, "icmp_checksum",                                      \
	  "an ICMP error whose checksum is wrong (RFC 5508 REQ-3)",            \
	  "the router that sent it, or corruption on the way; compare with a " \
	  "capture upstream")                                                  \
	X(FRAG_BAD, "fragment_bad",                                            \
	  "a fragment IPv4 does not allow: empty, not a multiple of 8 bytes "  \
	  "before the last, ending past 65535 bytes, or cut short where it "   \
	  "had to be held",                                                    \
	  "the sender or a middlebox; in replay, the capture's snaplen")       \
	X(FRAG_OVERLAP, "fragment_overlap",                                    \
	  "a fragment overlapping bytes already seen for its datagram, and "   \
	  "the rest of that datagram",                                         \
	  "overlap attacks (RFC 1858) or fragments duplicated on the path; "   \
	  "natdump follow the flow")                                           \
	X(FRAG_TINY, "fragment_tiny",                                          \
	  "a fragment at offset 8 bytes, or a first fragment shorter than its " \
	  "L4 header (RFC 1858), and the rest of that datagram",               \
	  "the sender: tiny-fragment attacks")                                 \
	X(FRAG_FULL, "fragment_full",                                          \
	  "the fragment table or the hold buffer is full",                     \
	  "limits.max_frag_datagrams, max_frag_held and max_frag_bytes; a "    \
	  "flood of fragments whose first fragment never comes")               \
	X(FRAG_TIMEOUT, "fragment_timeout",                                    \
	  "a held fragment whose first fragment did not arrive in time",       \
	  "loss of first fragments upstream; timeouts.fragment")               \
	X(FRAG_UNHELD, "fragment_unheld",                                      \
	  "a non-first fragment came before its first fragment and the "       \
	  "backend in use cannot hold it",                                     \
	  "reordering upstream; which backends hold fragments: "               \
	  "docs/fragments.md")                                                 \
	X(NO_FORWARD, "no_forward",                                            \
	  "inbound to a port of nat_ip outside port_range that no forward "    \
	  "owns: handed to the host's own stack",                              \
	  "the forward list (glassnat forward list); a service of the host "   \
	  "on that port; natdump why PROTO/PORT")                              \
	X(FWD_SOURCE, "forward_source",                                        \
	  "a port forward listens on this address and port, but its source "   \
	  "or in_interface does not admit this sender",                        \
	  "the forward's source and in_interface (glassnat forward list, "     \
	  "glassnat check); the sender's address as the NAT sees it")          \
	X(REDIRECT_CLASH, "redirect_clash",                                    \
	  "a new flow would meet the same remote from the same external port " \
	  "as a redirected flow, and their replies could not be told apart",   \
	  "the redirect rule (glassnat check) and the inside host talking to " \
	  "the redirect target directly from the same port")

#define NAT_REASON_ENUM_(sym, name, means, check) NAT_R_##sym,
enum nat_reason {
	NAT_R_NONE = 0, /* translated or bypassed: no reason */
	NAT_FOREACH_REASON(NAT_REASON_ENUM_)
	NAT_R_MAX
};
#undef NAT_REASON_ENUM_

enum nat_tcp_state {
	NAT_TCP_NONE = 0, /* not TCP */
	NAT_TCP_NEW,	  /* first packet was not a SYN (picked up midstream) */
	NAT_TCP_SYN_SENT,
	NAT_TCP_SYN_RECEIVED,
	NAT_TCP_ESTABLISHED,
	NAT_TCP_FIN_WAIT,  /* one side sent FIN */
	NAT_TCP_TIME_WAIT, /* both sides sent FIN */
	NAT_TCP_CLOSED,	   /* RST seen */
	NAT_TCP_STATE_MAX
};

enum nat_flow_kind {
	NAT_FLOW_SNAT = 0, /* opened from inside, source translated */
	NAT_FLOW_BYPASS,   /* opened from inside, untranslated (rule bypass) */
	NAT_FLOW_FORWARD,  /* opened from outside through a port forward */
	NAT_FLOW_INBOUND,  /* opened from outside through a mapping (EIF/ADF) */
};

enum nat_close_reason {
	NAT_CLOSE_TIMEOUT = 0,
	NAT_CLOSE_EVICTED, /* LRU at max_flows_per_host */
	NAT_CLOSE_SHUTDOWN,
	NAT_CLOSE_FLUSHED, /* removed by control (forward removed, etc.) */
	NAT_CLOSE_DELETED, /* removed by `glassnat flow delete` */
};

/* No rule matched (a rule index in results, events and flows). */
#define NAT_RULE_NONE 0xffffu

/* Names (static strings; "?" for a value out of range). */
const char *nat_reason_name(enum nat_reason r);
const char *nat_verdict_name(enum nat_verdict v);
const char *nat_tcp_state_name(enum nat_tcp_state s);
const char *nat_flow_kind_name(enum nat_flow_kind k);
const char *nat_close_reason_name(enum nat_close_reason r);

#endif
