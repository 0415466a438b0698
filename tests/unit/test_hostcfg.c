/* nat/backend/hostcfg: the ip_local_reserved_ports syntax (checked against
 * a naive bool array on random sets with a fixed seed), and apply /
 * restore / recover on a /proc/sys tree of the test's own in a temporary
 * directory (no root, no namespace). tests/e2e/hostcfg_test.sh runs the
 * same against a real kernel in a namespace. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostcfg.h"

static struct nat_hostcfg_ports set, other;
static char err[1024];

static int parse(const char *text)
{
	err[0] = '\0';
	return nat_hostcfg_ports_parse(text, strlen(text), &set, err,
				       sizeof(err));
}

/* Parses text, which must be valid, and returns its canonical form. */
static const char *canon(const char *text)
{
	static char buf[4096];
	cr_assert_eq(parse(text), 0, "'%s' should parse, got: %s", text, err);
	size_t n = nat_hostcfg_ports_format(&set, buf, sizeof(buf));
	cr_assert_lt(n, sizeof(buf));
	cr_assert_eq(strlen(buf), n);
	return buf;
}

Test(hostcfg_ports, kernel_forms_parse_to_the_kernels_own_print)
{
	cr_assert_str_eq(canon(""), "");
	cr_assert_str_eq(canon("\n"), "");
	cr_assert_str_eq(canon("  "), "");
	cr_assert_str_eq(canon("8080"), "8080");
	cr_assert_str_eq(canon("40000-60000\n"), "40000-60000");
	cr_assert_str_eq(canon("9000-9010,8080"), "8080,9000-9010");
	cr_assert_str_eq(canon(" 1 , 3-4 ,\t7 "), "1,3-4,7");
	cr_assert_str_eq(canon("0"), "0");
	cr_assert_str_eq(canon("65535"), "65535");
	cr_assert_str_eq(canon("0-65535"), "0-65535");
	cr_assert_str_eq(canon("65534-65535"), "65534-65535");
	cr_assert_str_eq(canon("5-5"), "5");
}

Test(hostcfg_ports, overlapping_and_adjacent_items_merge)
{
	cr_assert_str_eq(canon("1-10,5-20"), "1-20");
	cr_assert_str_eq(canon("1-5,6-9"), "1-9");
	cr_assert_str_eq(canon("7,7,7"), "7");
	cr_assert_str_eq(canon("63,64"), "63-64"); /* across a word */
	cr_assert_str_eq(canon("100-200,150"), "100-200");
	cr_assert_eq(nat_hostcfg_ports_count(&set), 101);
}

static void must_fail(const char *text, const char *want_item)
{
	int rc = parse(text);
	cr_assert_eq(rc, -1, "'%s' should be refused", text);
	cr_assert(strstr(err, want_item) != NULL,
		  "for '%s' expected the message to name %s, got: %s", text,
		  want_item, err);
	cr_assert_eq(nat_hostcfg_ports_count(&set), 0,
		     "a refused list leaves the set empty");
}

Test(hostcfg_ports, malformed_lists_are_refused_naming_the_item)
{
	must_fail("65536", "'65536' at offset 0");
	must_fail("10-5", "'10-5' at offset 0");
	must_fail("1,10-5", "'10-5' at offset 2");
	must_fail("-5", "'-5'");
	must_fail("5-", "'5-'");
	must_fail("a", "'a'");
	must_fail("1,,2", "'' at offset 2");
	must_fail(",1", "'' at offset 0");
	must_fail("1,", "'' at offset 2");
	must_fail("1 2", "'1 2'");
	must_fail("1-2-3", "'1-2-3'");
	must_fail("3 - 4", "'3 - 4'");
	must_fail("123456", "'123456'");
	must_fail("000080", "'000080'");
	must_fail("+5", "'+5'");
	must_fail("0x10", "'0x10'");
	must_fail("1\n2", "'1?2' at offset 0");
	must_fail("1-99999", "'1-99999'");
	must_fail("4294967297", "'4294967297'");
}

Test(hostcfg_ports, nul_inside_the_length_is_refused)
{
	cr_assert_eq(nat_hostcfg_ports_parse("80\0"
					     "81",
					     5, &set, err, sizeof(err)),
		     -1);
}

Test(hostcfg_ports, format_truncates_like_snprintf)
{
	char buf[8];
	cr_assert_eq(parse("1000,2000,3000"), 0);
	size_t n = nat_hostcfg_ports_format(&set, buf, sizeof(buf));
	cr_assert_eq(n, strlen("1000,2000,3000"));
	cr_assert_eq(strlen(buf), 4, "only whole items, got '%s'", buf);
	cr_assert_str_eq(buf, "1000");
	cr_assert_eq(nat_hostcfg_ports_format(&set, NULL, 0), n);
	char one[1] = { 'x' };
	nat_hostcfg_ports_format(&set, one, 1);
	cr_assert_eq(one[0], '\0');
}

Test(hostcfg_ports, merge_subtract_count)
{
	cr_assert_eq(parse("8080,40100-40200"), 0);
	other = set;
	nat_hostcfg_ports_clear(&set);
	nat_hostcfg_ports_add(&set, 40000, 60000);
	nat_hostcfg_ports_subtract(&set, &other);
	char buf[256];
	nat_hostcfg_ports_format(&set, buf, sizeof(buf));
	cr_assert_str_eq(buf, "40000-40099,40201-60000");
	cr_assert_eq(nat_hostcfg_ports_count(&set), 20001 - 101);
	nat_hostcfg_ports_merge(&set, &other);
	nat_hostcfg_ports_format(&set, buf, sizeof(buf));
	cr_assert_str_eq(buf, "8080,40000-60000");
	cr_assert(nat_hostcfg_ports_has(&set, 65535) == false);
	nat_hostcfg_ports_add(&set, 65535, 65535);
	cr_assert(nat_hostcfg_ports_has(&set, 65535));
}

/* The naive model: a bool per port, printed item by item. */
static void naive_format(const bool *on, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned p = 0; p < 65536; p++) {
		if (!on[p])
			continue;
		unsigned lo = p;
		while (p + 1 < 65536 && on[p + 1])
			p++;
		n += (size_t)snprintf(out + n, len - n, "%s%u", n ? "," : "",
				      lo);
		if (p > lo)
			n += (size_t)snprintf(out + n, len - n, "-%u", p);
	}
}

Test(hostcfg_ports, random_sets_match_a_naive_model)
{
	static bool on[65536];
	static char text[300000], want[300000], got[300000];
	srand(17);
	for (int round = 0; round < 200; round++) {
		memset(on, 0, sizeof(on));
		size_t n = 0;
		int items = rand() % 40;
		text[0] = '\0';
		for (int i = 0; i < items; i++) {
			unsigned lo = (unsigned)rand() % 65536, hi = lo;
			if (rand() % 2)
				hi = lo + (unsigned)rand() % 300;
			if (hi > 65535)
				hi = 65535;
			for (unsigned p = lo; p <= hi; p++)
				on[p] = true;
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "%s%u", i ? "," : "", lo);
			if (hi != lo || rand() % 4 == 0)
				n += (size_t)snprintf(
					text + n, sizeof(text) - n, "-%u", hi);
		}
		cr_assert_eq(nat_hostcfg_ports_parse(text, n, &set, err,
						     sizeof(err)),
			     0, "'%s': %s", text, err);
		naive_format(on, want, sizeof(want));
		nat_hostcfg_ports_format(&set, got, sizeof(got));
		cr_assert_str_eq(got, want, "for '%s'", text);
		/* subtract then merge back gives the union. */
		other = set;
		nat_hostcfg_ports_clear(&set);
		nat_hostcfg_ports_add(&set, 40000, 60000);
		nat_hostcfg_ports_subtract(&set, &other);
		for (unsigned p = 40000; p <= 60000; p++)
			cr_assert_eq(nat_hostcfg_ports_has(&set, (uint16_t)p),
				     !on[p]);
	}
	/* The worst case for the text: every other port. */
	nat_hostcfg_ports_clear(&set);
	for (unsigned p = 0; p < 65536; p += 2)
		nat_hostcfg_ports_add(&set, (uint16_t)p, (uint16_t)p);
	size_t need = nat_hostcfg_ports_format(&set, got, sizeof(got));
	cr_assert_lt(need, 262144);
	cr_assert_eq(
		nat_hostcfg_ports_parse(got, need, &other, err, sizeof(err)),
		0);
	cr_assert_eq(memcmp(&set, &other, sizeof(set)), 0);
}

/* ---- apply / restore / recover on a fake /proc/sys ----------------------- */

static char root[256], state[300], logbuf[8192];
static struct nat_hostcfg h;

static void log_cb(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s%s\n", warning ? "W: " : "",
		 line);
}

static void put(const char *rel, const char *value)
{
	char path[512], cmd[600];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "%s", path);
	*strrchr(cmd, '/') = '\0';
	char mk[700];
	snprintf(mk, sizeof(mk), "mkdir -p '%s'", cmd);
	cr_assert_eq(system(mk), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fprintf(f, "%s\n", value);
	fclose(f);
}

static const char *get(const char *rel)
{
	static char buf[4][256];
	static int k;
	char path[512];
	char *b = buf[k++ % 4];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	if (!fgets(b, 256, f))
		b[0] = '\0';
	fclose(f);
	b[strcspn(b, "\n")] = '\0';
	return b;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void tree_setup(void)
{
	snprintf(root, sizeof(root), "/tmp/glassnat-hostcfg-unit.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	snprintf(state, sizeof(state), "%s/hostcfg.state", root);
	put("net/ipv4/ip_local_reserved_ports", "");
	put("net/ipv4/ip_local_port_range", "32768\t60999");
	put("net/ipv4/conf/all/accept_local", "0");
	put("net/ipv4/conf/all/rp_filter", "0");
	put("net/ipv4/conf/eth1/accept_local", "0");
	put("net/ipv4/conf/eth1/rp_filter", "0");
	logbuf[0] = '\0';
	nat_hostcfg_init(&h, root, log_cb, NULL);
}

static void tree_teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (strncmp(root, "/tmp/glassnat-hostcfg-unit.", 27) == 0)
		(void)!system(cmd);
}

TestSuite(hostcfg, .init = tree_setup, .fini = tree_teardown);

static struct nat_hostcfg_want want_default(void)
{
	struct nat_hostcfg_want w = { 0 };
	w.reserve[0].lo = 40000;
	w.reserve[0].hi = 60000;
	w.n_reserve = 1;
	strcpy(w.hairpin_if[0], "eth1");
	w.n_hairpin_if = 1;
	return w;
}

static void must_apply(const struct nat_hostcfg_want *w)
{
	int rc = nat_hostcfg_apply(&h, w, state, err, sizeof(err));
	cr_assert_eq(rc, 0, "apply: %s", err);
}

Test(hostcfg, apply_sets_what_is_missing_and_says_so_one_line_each)
{
	struct nat_hostcfg_want w = want_default();
	must_apply(&w);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"),
			 "40000-60000");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "1");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/rp_filter"), "0",
			 "rp_filter 0 lets hairpin pass: left alone");
	cr_assert_str_eq(
		logbuf,
		"reserved ports 40000-60000 from the kernel's ephemeral range "
		"(net.ipv4.ip_local_reserved_ports was '', restored on exit); "
		"8231 ports of 32768-60999 are left for the host's own "
		"connections\n"
		"accept_local=1 on eth1 (was 0) so hairpinned packets are not "
		"dropped as martians, restored on exit\n");
	cr_assert(exists(state));
}

Test(hostcfg, restore_puts_everything_back_and_removes_the_state_file)
{
	struct nat_hostcfg_want w = want_default();
	put("net/ipv4/conf/all/rp_filter", "1");
	must_apply(&w);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/rp_filter"), "2");
	logbuf[0] = '\0';
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"), "");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/rp_filter"), "0");
	cr_assert_str_eq(get("net/ipv4/conf/all/rp_filter"), "1");
	cr_assert_not(exists(state));
	cr_assert_str_eq(
		logbuf, "rp_filter=0 on eth1 again (glassnat had set 2)\n"
			"accept_local=0 on eth1 again (glassnat had set 1)\n"
			"net.ipv4.ip_local_reserved_ports is '' again (removed "
			"40000-60000 that glassnat had reserved)\n");
	/* A second restore has nothing to do. */
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0);
}

Test(hostcfg, user_reservations_are_kept_before_and_meanwhile)
{
	struct nat_hostcfg_want w = want_default();
	put("net/ipv4/ip_local_reserved_ports", "8080,40100-40200");
	must_apply(&w);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"),
			 "8080,40000-60000");
	cr_assert(strstr(logbuf, "reserved ports 40000-40099,40201-60000 ") !=
			  NULL,
		  "%s", logbuf);
	put("net/ipv4/ip_local_reserved_ports", "8080,9090,40000-60000");
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"),
			 "8080,9090,40100-40200");
}

Test(hostcfg, a_value_the_user_changed_meanwhile_is_left_with_a_warning)
{
	struct nat_hostcfg_want w = want_default();
	must_apply(&w);
	put("net/ipv4/conf/eth1/accept_local", "0"); /* set back by hand */
	put("net/ipv4/ip_local_reserved_ports", "");
	logbuf[0] = '\0';
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
	cr_assert_eq(strstr(logbuf, "W: "), NULL,
		     "back at the original: nothing to warn about: %s", logbuf);
	must_apply(&w);
	put("net/ipv4/conf/eth1/accept_local", "2");
	logbuf[0] = '\0';
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "2");
	cr_assert(strstr(logbuf,
			 "W: accept_local on eth1 left at 2: changed "
			 "since glassnat set it to 1 (it was 0)") != NULL,
		  "%s", logbuf);
}

Test(hostcfg, nothing_to_change_writes_no_state_file)
{
	struct nat_hostcfg_want w = want_default();
	put("net/ipv4/ip_local_reserved_ports", "30000-61000");
	put("net/ipv4/ip_local_port_range", "32768 29999");
	put("net/ipv4/conf/all/accept_local", "1");
	put("net/ipv4/conf/eth1/rp_filter", "2");
	put("net/ipv4/conf/all/rp_filter", "1");
	must_apply(&w);
	cr_assert_not(exists(state));
	cr_assert_str_eq(logbuf, "");
	cr_assert_eq(nat_hostcfg_restore(&h, err, sizeof(err)), 0);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"),
			 "30000-61000");
}

Test(hostcfg, recover_after_a_crash_restores_and_says_so)
{
	struct nat_hostcfg_want w = want_default();
	put("net/ipv4/conf/eth1/rp_filter", "1");
	must_apply(&w);
	/* The process dies here: a new one starts from nothing. */
	nat_hostcfg_init(&h, root, log_cb, NULL);
	logbuf[0] = '\0';
	cr_assert_eq(nat_hostcfg_recover(&h, state, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"), "");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/rp_filter"), "1");
	cr_assert_not(exists(state));
	cr_assert(strstr(logbuf, "did not exit cleanly") != NULL, "%s", logbuf);
	/* and then applies anew */
	must_apply(&w);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/rp_filter"), "2");
}

Test(hostcfg, a_state_file_from_an_earlier_boot_is_dropped_untouched)
{
	struct nat_hostcfg_want w = want_default();
	put("kernel/random/boot_id", "0f1e2d3c-aaaa-4bbb-8ccc-000000000001");
	must_apply(&w);
	FILE *f = fopen(state, "r");
	char text[512] = "";
	cr_assert_not_null(f);
	cr_assert_gt(fread(text, 1, sizeof(text) - 1, f), 0);
	fclose(f);
	cr_assert(strstr(text, "\nboot 0f1e2d3c-aaaa-4bbb-8ccc-000000000001\n"),
		  "%s", text);
	/* Reboot: the kernel's values start over (here: as the boot set
	 * them, which happen to equal what glassnat had set). */
	put("kernel/random/boot_id", "0f1e2d3c-aaaa-4bbb-8ccc-000000000002");
	nat_hostcfg_init(&h, root, log_cb, NULL);
	logbuf[0] = '\0';
	cr_assert_eq(nat_hostcfg_recover(&h, state, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert(strstr(logbuf, "is from an earlier boot"), "%s", logbuf);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "1");
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"),
			 "40000-60000");
	cr_assert_not(exists(state));
}

Test(hostcfg, recover_without_a_state_file_does_nothing)
{
	cr_assert_eq(nat_hostcfg_recover(&h, state, err, sizeof(err)), 0);
	cr_assert_str_eq(logbuf, "");
}

Test(hostcfg, apply_refuses_while_a_state_file_exists)
{
	struct nat_hostcfg_want w = want_default();
	put("hostcfg.state", "glassnat-hostcfg 1");
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "exists") && strstr(err, "recover first"), "%s",
		  err);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
}

static void state_refused(const char *text, const char *want_err)
{
	put("hostcfg.state", text);
	int rc = nat_hostcfg_recover(&h, state, err, sizeof(err));
	cr_assert_eq(rc, -1, "state '%s' should be refused", text);
	cr_assert(strstr(err, want_err) != NULL, "for '%s' got: %s", text, err);
	cr_assert(exists(state), "a refused state file is kept");
	cr_assert_str_eq(get("net/ipv4/conf/all/accept_local"), "0");
}

Test(hostcfg, a_state_file_cannot_make_restore_write_elsewhere)
{
	state_refused("glassnat-hostcfg 1\nset net/ipv4/conf/all/../../"
		      "ip_forward 0 1",
		      "line 2");
	state_refused("glassnat-hostcfg 1\nset net/ipv4/ip_forward 0 1",
		      "line 2");
	state_refused(
		"glassnat-hostcfg 1\nset net/ipv4/conf/eth1/forwarding 0 1",
		"line 2");
	state_refused("glassnat-hostcfg 1\nset net/ipv4/conf/eth1/accept_local "
		      "0 1 extra",
		      "line 2");
	state_refused("glassnat-hostcfg 1\nset net/ipv4/conf/eth1/accept_local "
		      "x 1",
		      "line 2");
	state_refused("glassnat-hostcfg 1\nports-added 1-", "line 2");
	state_refused("glassnat-hostcfg 1\nboot ../../x", "line 2");
	state_refused("something else\n", "line 1");
	state_refused("", "line 0");
}

Test(hostcfg, a_symlinked_state_file_is_not_followed)
{
	char target[400];
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	put("elsewhere", "glassnat-hostcfg 1\nports-added 1-2");
	cr_assert_eq(symlink(target, state), 0);
	cr_assert_eq(nat_hostcfg_recover(&h, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "symbolic links") != NULL, "%s", err);
	struct nat_hostcfg_want w = want_default();
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1,
		     "apply must not replace a link either");
}

Test(hostcfg, a_failed_change_undoes_the_earlier_ones)
{
	struct nat_hostcfg_want w = want_default();
	char link[400], target[400];
	/* Reads follow the link, the write (O_NOFOLLOW) fails: the last of
	 * the three changes fails after two are made. */
	put("net/ipv4/conf/eth1/rp_real", "1");
	snprintf(link, sizeof(link), "%s/net/ipv4/conf/eth1/rp_filter", root);
	snprintf(target, sizeof(target), "%s/net/ipv4/conf/eth1/rp_real", root);
	cr_assert_eq(unlink(link), 0);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "writing '2' to ") &&
			  strstr(err, "eth1/rp_filter"),
		  "the error names the value and the file: %s", err);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"), "");
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
	cr_assert_not(exists(state));
}

Test(hostcfg, refuses_a_reservation_that_leaves_no_ephemeral_port)
{
	struct nat_hostcfg_want w = want_default();
	put("net/ipv4/ip_local_port_range", "40000 60000");
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "no port of its ephemeral range 40000-60000"),
		  "%s", err);
	cr_assert_str_eq(get("net/ipv4/ip_local_reserved_ports"), "");
	cr_assert_not(exists(state));
}

Test(hostcfg, errors_name_the_file)
{
	struct nat_hostcfg_want w = want_default();
	strcpy(w.hairpin_if[0], "eth9");
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "reading ") &&
			  strstr(err, "/net/ipv4/conf/eth9/accept_local: No "
				      "such file or directory"),
		  "%s", err);
	strcpy(w.hairpin_if[0], "..");
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "'..' is not an interface name");
	put("net/ipv4/ip_local_reserved_ports", "1-x");
	w = want_default();
	cr_assert_eq(nat_hostcfg_apply(&h, &w, state, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/net/ipv4/ip_local_reserved_ports: bad port "
			      "list item '1-x'"),
		  "%s", err);
	cr_assert_str_eq(get("net/ipv4/conf/eth1/accept_local"), "0");
}
