/* Names for the shared enums: see types.h. */
#include "types.h"

#define NAT_REASON_NAME_(sym, name, means, check) [NAT_R_##sym] = name,
static const char *const reason_names[NAT_R_MAX] = {
	[NAT_R_NONE] = "none",
	NAT_FOREACH_REASON(NAT_REASON_NAME_)
};
#undef NAT_REASON_NAME_

const char *nat_reason_name(enum nat_reason r)
{
	return (unsigned)r < NAT_R_MAX ? reason_names[r] : "?";
}

const char *nat_verdict_name(enum nat_verdict v)
{
	static const char *const n[] = {"nat", "bypass", "pass", "drop",
					"held"};
	return (unsigned)v < sizeof(n) / sizeof(n[0]) ? n[v] : "?";
}

const char *nat_tcp_state_name(enum nat_tcp_state s)
{
	static const char *const n[NAT_TCP_STATE_MAX] = {
		"NONE",	       "NEW",	      "SYN_SENT",  "SYN_RECEIVED",
		"ESTABLISHED", "FIN_WAIT",    "TIME_WAIT", "CLOSED"};
	return (unsigned)s < NAT_TCP_STATE_MAX ? n[s] : "?";
}

const char *nat_flow_kind_name(enum nat_flow_kind k)
{
	static const char *const n[] = {"snat", "bypass", "forward",
					"inbound"};
	return (unsigned)k < 4 ? n[k] : "?";
}

const char *nat_close_reason_name(enum nat_close_reason r)
{
	static const char *const n[] = {"timeout", "evicted", "shutdown",
					"flushed", "deleted"};
	return (unsigned)r < sizeof n / sizeof n[0] ? n[r] : "?";
}
