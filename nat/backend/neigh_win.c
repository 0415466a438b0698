/* nat_neigh_state() on Windows: not read (GetIpNetTable2 could; nothing
 * asks for it yet), so forward.unanswered says "unknown". */
#include "neigh.h"

#include <stdio.h>

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
