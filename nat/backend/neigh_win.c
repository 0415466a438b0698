/* nat_neigh_state() on Windows: not read (GetIpNetTable2 could; nothing
 * asks for it yet), so forward.unanswered says "unknown". */
#include "neigh.h"

#include <stdio.h>
#include <string.h>

const char *nat_neigh_state_name(unsigned nud)
{
	(void)nud;
	return "unknown";
}

int nat_neigh_state(uint32_t ip, char *out, size_t len)
{
	(void)ip;
	snprintf(out, len, "unknown");
	return -1;
}

void nat_host_lint_facts(const struct nat_config *cfg,
			 struct nat_lint_host *h)
{
	(void)cfg;
	memset(h, 0, sizeof *h);
}

int nat_host_net_of(uint32_t addr, char *ifname, size_t len,
		    struct nat_cidr *net)
{
	(void)addr;
	(void)net;
	if (len)
		ifname[0] = '\0';
	return -1;
}

int nat_host_if_has_ipv4(const char *name)
{
	(void)name;
	return -1;
}
