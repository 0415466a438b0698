/* nat_config_lint_addrs: the addresses a config translates to that the
 * host does not have, each named with its fix (what `glassnat run`
 * refuses and `glassnat check` warns about on the gateway). The host's
 * addresses are a fixed list here. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"

#define BASE "nat_ip: 203.0.113.1\ninternal_network: 172.17.240.0/24\n"

static struct nat_config cfg;
static char got[2048];

static int host_has_nat_ip_only(uint32_t addr)
{
	return addr == 0xcb007101u; /* 203.0.113.1 */
}

static int host_has_nothing(uint32_t addr)
{
	(void)addr;
	return 0;
}

static int cannot_tell(uint32_t addr)
{
	(void)addr;
	return -1;
}

static void collect(void *ctx, const char *msg)
{
	(void)ctx;
	size_t n = strlen(got);
	snprintf(got + n, sizeof(got) - n, "%s|", msg);
}

static size_t lint(const char *text, nat_addr_local_fn f, const char *dev)
{
	char err[256];
	nat_config_free(&cfg);
	cr_assert_eq(nat_config_load_mem("t.yaml", text, strlen(text), &cfg,
					 err, sizeof(err)),
		     0, "%s", err);
	got[0] = '\0';
	return nat_config_lint_addrs(&cfg, f, dev, collect, NULL);
}

Test(config_lint, snat_to_an_address_the_host_lacks_is_named_with_the_fix)
{
	size_t n = lint(
		BASE "rules:\n"
		     "  - {name: a, action: snat, to_address: 198.51.100.9}\n"
		     "  - {name: b, action: snat, to_address: 203.0.113.1}\n"
		     "  - {name: c, action: snat, to_address: 198.51.100.7,"
		     " out_interface: eth7}\n",
		host_has_nat_ip_only, "out0");
	cr_assert_eq(n, 2);
	cr_assert_str_eq(got,
			 "snat rule 'a': to_address 198.51.100.9 is not an "
			 "address of this host (ip addr add 198.51.100.9/32 "
			 "dev out0, or use masquerade)|"
			 "snat rule 'c': to_address 198.51.100.7 is not an "
			 "address of this host (ip addr add 198.51.100.7/32 "
			 "dev eth7, or use masquerade)|");
	nat_config_free(&cfg);
}

Test(config_lint, nat_ip_first_then_rules_and_OUT_without_a_device)
{
	size_t n = lint(
		BASE "rules:\n"
		     "  - {name: a, action: snat, to_address: 198.51.100.9}\n",
		host_has_nothing, NULL);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(got,
			 "nat_ip 203.0.113.1 is not an address of this host "
			 "(no interface has it): add it to the outside "
			 "interface (ip addr add 203.0.113.1/32 dev OUT) or "
			 "fix nat_ip|"
			 "snat rule 'a': to_address 198.51.100.9 is not an "
			 "address of this host (ip addr add 198.51.100.9/32 "
			 "dev OUT, or use masquerade)|");
	nat_config_free(&cfg);
}

Test(config_lint, nothing_when_the_host_cannot_tell_or_has_them_all)
{
	cr_assert_eq(lint(BASE "rules:\n  - {name: a, action: snat, "
			       "to_address: 198.51.100.9}\n",
			  cannot_tell, NULL),
		     0, "got: %s", got);
	cr_assert_eq(lint(BASE "rules:\n  - {name: m, action: masquerade}\n",
			  host_has_nat_ip_only, NULL),
		     0, "got: %s", got);
	nat_config_free(&cfg);
}
