/* The config files in the tree: every tests/data/bad/NAME.yaml fails with
 * exactly the message in NAME.expected, every tests/data/good/ file and
 * every shipped example loads, and Hyper-NAT's own file loads unchanged.
 * Run from the repository root (the Makefile does). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define BAD_DIR	 "tests/data/bad"
#define GOOD_DIR "tests/data/good"

static struct nat_config cfg;
static char err[1024];

static void teardown(void)
{
	nat_config_free(&cfg);
}

TestSuite(config_files, .fini = teardown);

static uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The first line of path, without its newline; false if unreadable. */
static bool read_line(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(out, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		out[strcspn(out, "\n")] = '\0';
	return ok;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir's *.yaml files; the caller frees each and the array. */
static size_t list_yaml(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 0;

	*names = NULL;
	cr_assert_not_null(d, "cannot open %s (run from the repository root)",
			   dir);
	while ((e = readdir(d)) != NULL) {
		if (!has_suffix(e->d_name, ".yaml"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			*names = realloc(*names, cap * sizeof **names);
			cr_assert_not_null(*names);
		}
		(*names)[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(*names, n, sizeof **names, by_name);
	return n;
}

Test(config_files, every_bad_file_fails_with_its_expected_message)
{
	char **names;
	size_t n = list_yaml(BAD_DIR, &names);
	char path[512], exp_path[512], want[1024];

	cr_assert_geq(n, 20,
		      "expected at least 20 broken configs in %s, found %zu",
		      BAD_DIR, n);
	for (size_t i = 0; i < n; i++) {
		int rc;

		snprintf(path, sizeof path, "%s/%s", BAD_DIR, names[i]);
		snprintf(exp_path, sizeof exp_path, "%s/%.*s.expected", BAD_DIR,
			 (int)(strlen(names[i]) - 5), names[i]);
		cr_expect(read_line(exp_path, want, sizeof want),
			  "%s has no %s", path, exp_path);
		rc = nat_config_load(path, &cfg, err, sizeof err);
		cr_expect_eq(rc, -1, "%s loaded but should have failed", path);
		cr_expect_null(cfg.rules,
			       "%s: rules left allocated after a failure",
			       path);
		cr_expect_str_eq(err, want, "%s: message differs", path);
		nat_config_free(&cfg);
		free(names[i]);
	}
	free(names);
}

Test(config_files, every_expected_file_has_its_yaml)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *e;
	char path[512];

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		FILE *f;

		if (!has_suffix(e->d_name, ".expected"))
			continue;
		snprintf(path, sizeof path, "%s/%.*s.yaml", BAD_DIR,
			 (int)(strlen(e->d_name) - 9), e->d_name);
		f = fopen(path, "r");
		cr_expect_not_null(f, "%s/%s has no %s", BAD_DIR, e->d_name,
				   path);
		if (f)
			fclose(f);
	}
	closedir(d);
}

Test(config_files, hyper_nat_config_loads_unchanged)
{
	int rc = nat_config_load("configs/hyper-nat.yaml", &cfg, err,
				 sizeof err);

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_str_eq(cfg.path, "configs/hyper-nat.yaml");
	cr_assert_eq(cfg.nat_ip, ip(192, 168, 45, 57));
	cr_assert_eq(cfg.internal.addr, ip(172, 17, 240, 0));
	cr_assert_eq(cfg.internal.len, 24);
	cr_assert(cfg.has_host_internal_ip);
	cr_assert_eq(cfg.host_internal_ip, ip(172, 17, 240, 1));
	cr_assert_eq(cfg.n_rules, 3);
	cr_assert_str_eq(cfg.rules[0].name, "내부 네트워크");
	cr_assert_eq(cfg.rules[0].action, NAT_ACT_BYPASS);
	cr_assert_eq(cfg.rules[0].dst.addr, ip(172, 17, 240, 0));
	cr_assert_eq(cfg.rules[0].dst.len, 24);
	cr_assert_str_eq(cfg.rules[1].name, "호스트 네트워크");
	cr_assert_eq(cfg.rules[1].action, NAT_ACT_BYPASS);
	cr_assert_eq(cfg.rules[1].dst.addr, ip(192, 168, 45, 0));
	cr_assert_eq(cfg.rules[1].dst.len, 24);
	cr_assert_str_eq(cfg.rules[2].name, "인터넷");
	cr_assert_eq(cfg.rules[2].action, NAT_ACT_NAT);
	cr_assert_eq(cfg.rules[2].dst.len, 0);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(cfg.rules[i].proto, 0);
		cr_assert_eq(cfg.rules[i].src.len, 0);
		cr_assert_eq(cfg.rules[i].n_ports, 0);
	}
	cr_assert_eq(cfg.n_forwards, 0);
	cr_assert_eq(cfg.port_range.lo, 40000);
	cr_assert_eq(cfg.port_range.hi, 60000);
}

Test(config_files, lab_config_has_its_two_forwards)
{
	int rc = nat_config_load("configs/lab.yaml", &cfg, err, sizeof err);

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(cfg.nat_ip, ip(203, 0, 113, 1));
	cr_assert_eq(cfg.internal.addr, ip(172, 17, 240, 0));
	cr_assert_eq(cfg.n_forwards, 2);
	cr_assert_eq(cfg.forwards[0].proto, 6);
	cr_assert_eq(cfg.forwards[0].ext_port, 8080);
	cr_assert_eq(cfg.forwards[0].int_ip, ip(172, 17, 240, 21));
	cr_assert_eq(cfg.forwards[0].int_port, 80);
	cr_assert_eq(cfg.forwards[1].proto, 17);
	cr_assert_eq(cfg.forwards[1].ext_port, 5353);
	cr_assert_eq(cfg.forwards[1].int_ip, ip(172, 17, 240, 22));
	cr_assert_eq(cfg.forwards[1].int_port, 53);
}

Test(config_files, full_example_loads_with_the_documented_defaults)
{
	int rc = nat_config_load("configs/full-example.yaml", &cfg, err,
				 sizeof err);
	struct nat_config def;

	cr_assert_eq(rc, 0, "%s", err);
	nat_config_defaults(&def);
	cr_assert_eq(cfg.n_rules, 5);
	cr_assert_eq(cfg.n_forwards, 3);
	/* Every section repeats its default, so the values must equal them. */
	cr_assert_eq(memcmp(&cfg.timeouts, &def.timeouts, sizeof def.timeouts),
		     0);
	cr_assert_eq(memcmp(&cfg.limits, &def.limits, sizeof def.limits), 0);
	cr_assert_eq(memcmp(&cfg.policies, &def.policies, sizeof def.policies),
		     0);
	cr_assert_eq(cfg.port_range.lo, def.port_range.lo);
	cr_assert_eq(cfg.port_range.hi, def.port_range.hi);
	cr_assert_eq(cfg.filtering, def.filtering);
	cr_assert_eq(cfg.port_preservation, def.port_preservation);
	cr_assert_eq(cfg.trace.file_size, def.trace.file_size);
	cr_assert_eq(cfg.trace.files, def.trace.files);
	cr_assert_str_eq(cfg.control_socket, def.control_socket);
}

Test(config_files, full_good_config_sets_every_key)
{
	int rc = nat_config_load(GOOD_DIR "/full.yaml", &cfg, err, sizeof err);
	const struct nat_rule_cfg *r;

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(cfg.nat_ip, ip(198, 51, 100, 7));
	cr_assert_eq(cfg.internal.addr, ip(10, 20, 0, 0));
	cr_assert_eq(cfg.internal.len, 16);
	cr_assert_eq(cfg.host_internal_ip, ip(10, 20, 0, 1));

	cr_assert_eq(cfg.n_rules, 5);
	r = &cfg.rules[0];
	cr_assert_str_eq(r->name, "내부 네트워크");
	cr_assert_str_eq(r->description, "VM <-> VM, 소스 IP 유지");
	r = &cfg.rules[1];
	cr_assert_eq(r->proto, 6);
	cr_assert_eq(r->src.addr, ip(10, 20, 5, 5));
	cr_assert_eq(r->src.len, 32);
	cr_assert_eq(r->dst.len, 0);
	cr_assert_eq(r->n_ports, 3);
	cr_assert_eq(r->ports[1].lo, 443);
	cr_assert_eq(r->ports[2].lo, 8000);
	cr_assert_eq(r->ports[2].hi, 8080);
	cr_assert_eq(r->action, NAT_ACT_DROP);
	cr_assert_str_eq(r->in_if, "eth1");
	r = &cfg.rules[2];
	cr_assert_eq(r->action, NAT_ACT_SNAT);
	cr_assert_eq(r->to_address, ip(198, 51, 100, 8));
	cr_assert_eq(r->n_ports, 1);
	cr_assert_eq(r->ports[0].lo, 53);
	r = &cfg.rules[3];
	cr_assert_eq(r->action, NAT_ACT_MASQUERADE);
	cr_assert_eq(r->proto, 1);
	cr_assert_str_eq(r->out_if, "wlan0");
	cr_assert_eq(cfg.rules[4].action, NAT_ACT_NAT);
	cr_assert_eq(cfg.rules[4].line, 26);

	cr_assert_eq(cfg.n_forwards, 3);
	cr_assert_str_eq(cfg.forwards[0].name, "Web Server");
	cr_assert_eq(cfg.forwards[1].int_port, 53);
	cr_assert_eq(cfg.forwards[2].proto, 6);
	cr_assert_eq(cfg.forwards[2].ext_port, 53);

	cr_assert_eq(cfg.filtering, NAT_FILTER_EI);
	cr_assert_not(cfg.port_preservation);
	cr_assert_eq(cfg.port_range.lo, 20000);
	cr_assert_eq(cfg.port_range.hi, 29999);
	cr_assert_eq(cfg.timeouts.tcp_established,
		     86400 + 2 * 3600 + 3 * 60 + 4);
	cr_assert_eq(cfg.timeouts.tcp_transitory, 300);
	cr_assert_eq(cfg.timeouts.tcp_time_wait, 60);
	cr_assert_eq(cfg.timeouts.tcp_closed, 5);
	cr_assert_eq(cfg.timeouts.udp, 180);
	cr_assert_eq(cfg.timeouts.icmp, 30);
	cr_assert_eq(cfg.limits.max_flows, 1024);
	cr_assert_eq(cfg.limits.max_flows_per_host, 64);
	cr_assert_eq(cfg.policies.fragments, NAT_POLICY_TRANSLATE);
	cr_assert_eq(cfg.policies.ipv6, NAT_POLICY_DROP);
	cr_assert_eq(cfg.policies.other_protocols, NAT_POLICY_PASS);
	cr_assert_eq(cfg.policies.unmatched_inbound, NAT_POLICY_PASS);
	cr_assert(cfg.trace.enabled);
	cr_assert_str_eq(cfg.trace.dir, "/tmp/glassnat-trace");
	cr_assert_str_eq(cfg.trace.filter, "tcp port 80");
	cr_assert_eq(cfg.trace.file_size, 1ull << 30);
	cr_assert_eq(cfg.trace.files, 3);
	cr_assert_eq(cfg.trace.max_packets_per_flow, 100);
	cr_assert_eq(cfg.trace.queue, 4096);
	cr_assert_str_eq(cfg.logging.events, "/var/log/glassnat/events.jsonl");
	cr_assert_eq(cfg.logging.format, NAT_LOG_JSON);
	cr_assert(cfg.logging.verbose);
	cr_assert_eq(cfg.logging.queue, 1000);
	cr_assert_str_eq(cfg.control_socket, "/tmp/glassnat-test.sock");
}

Test(config_files, every_good_file_and_shipped_config_loads)
{
	char **names;
	size_t n = list_yaml(GOOD_DIR, &names);
	char path[512];

	cr_assert_geq(n, 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", GOOD_DIR, names[i]);
		cr_expect_eq(nat_config_load(path, &cfg, err, sizeof err), 0,
			     "%s: %s", path, err);
		nat_config_free(&cfg);
		free(names[i]);
	}
	free(names);
	n = list_yaml("configs", &names);
	cr_assert_geq(n, 3);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "configs/%s", names[i]);
		cr_expect_eq(nat_config_load(path, &cfg, err, sizeof err), 0,
			     "%s: %s", path, err);
		nat_config_free(&cfg);
		free(names[i]);
	}
	free(names);
}
