/* The Windows port reservation logic (nat/backend/portres.c) against a
 * fake system: which calls are made, in which order, what is recorded in
 * the state file, and what is said when a call fails. hostcfg_win.c's
 * real calls run under wine in tests/windows/windivert_test.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portres.h"

#define NOT_FOUND 1168ul /* ERROR_NOT_FOUND */

struct call {
	char op; /* 'r' reserve, 'd' release */
	uint8_t proto;
	uint16_t start, count;
};

static struct fake {
	struct call calls[16];
	size_t n;
	unsigned long reserve_rc[18]; /* by proto: [6], [17] */
	unsigned long release_rc[18];
} fk;

static char lines[16][600];
static bool warn[16];
static size_t n_lines;
static char dir[64], path[128];

static unsigned long f_reserve(void *ctx, uint8_t proto, uint16_t start,
			       uint16_t count)
{
	(void)ctx;
	fk.calls[fk.n++] = (struct call){ 'r', proto, start, count };
	return fk.reserve_rc[proto];
}

static unsigned long f_release(void *ctx, uint8_t proto, uint16_t start,
			       uint16_t count)
{
	(void)ctx;
	fk.calls[fk.n++] = (struct call){ 'd', proto, start, count };
	return fk.release_rc[proto];
}

static void f_describe(void *ctx, unsigned long code, char *buf, size_t len)
{
	(void)ctx;
	snprintf(buf, len, "fake error %lu", code);
}

static const struct nat_portres_ops fake_ops = {
	.reserve = f_reserve,
	.release = f_release,
	.describe = f_describe,
	.not_found = NOT_FOUND,
};

static void logf_(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	cr_assert_lt(n_lines, 16);
	warn[n_lines] = warning;
	snprintf(lines[n_lines++], sizeof(lines[0]), "%s", line);
}

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	n_lines = 0;
	snprintf(dir, sizeof(dir), "/tmp/portres-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/forwards.json.ports", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static char *slurp(const char *p)
{
	static char buf[2048];
	FILE *f = fopen(p, "rb");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void put(const char *p, const char *text)
{
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void assert_call(size_t i, char op, uint8_t proto, uint16_t start,
			uint16_t count)
{
	cr_assert_gt(fk.n, i, "call %zu was not made (%zu calls)", i, fk.n);
	cr_assert(fk.calls[i].op == op && fk.calls[i].proto == proto &&
			  fk.calls[i].start == start &&
			  fk.calls[i].count == count,
		  "call %zu: %c %u %u+%u, expected %c %u %u+%u", i,
		  fk.calls[i].op, fk.calls[i].proto, fk.calls[i].start,
		  fk.calls[i].count, op, proto, start, count);
}

TestSuite(portres, .init = setup, .fini = teardown);

Test(portres, reserves_tcp_and_udp_records_them_and_releases_on_exit)
{
	struct nat_portres r;

	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_apply(&r, 40000, 60000), 2);
	cr_assert_eq(fk.n, 2);
	assert_call(0, 'r', 6, 40000, 20001);
	assert_call(1, 'r', 17, 40000, 20001);
	cr_assert_str_eq(slurp(path), "glassnat reserved ports\n"
				      "tcp 40000 20001\nudp 40000 20001\n");
	cr_assert(!warn[0] && strstr(lines[0], "reserved TCP ports "
					       "40000-60000"),
		  "%s", lines[0]);
	nat_portres_release(&r);
	cr_assert_eq(fk.n, 4);
	assert_call(2, 'd', 6, 40000, 20001);
	assert_call(3, 'd', 17, 40000, 20001);
	cr_assert_null(slurp(path), "the state file is gone after release");
	nat_portres_release(&r); /* twice: nothing more */
	cr_assert_eq(fk.n, 4);
}

Test(portres, a_failed_reservation_is_a_clear_warning_and_not_recorded)
{
	struct nat_portres r;

	fk.reserve_rc[17] = 5; /* ERROR_ACCESS_DENIED */
	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_apply(&r, 40000, 60000), 1);
	cr_assert_eq(n_lines, 2);
	cr_assert(warn[1]);
	cr_assert(strstr(lines[1], "cannot reserve UDP ports 40000-60000 "
				   "from Windows' dynamic ports: fake error 5 "
				   "(error 5)"),
		  "%s", lines[1]);
	cr_assert(strstr(lines[1], "lose their replies"), "%s", lines[1]);
	cr_assert_str_eq(slurp(path),
			 "glassnat reserved ports\ntcp 40000 20001\n");
	nat_portres_release(&r);
	cr_assert_eq(fk.n, 3, "only the TCP reservation is released");
	assert_call(2, 'd', 6, 40000, 20001);
}

Test(portres, nothing_reserved_leaves_no_state_file)
{
	struct nat_portres r;

	fk.reserve_rc[6] = fk.reserve_rc[17] = 50; /* ERROR_NOT_SUPPORTED */
	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_apply(&r, 40000, 60000), 0);
	cr_assert(warn[0] && warn[1]);
	cr_assert_null(slurp(path));
	nat_portres_release(&r);
	cr_assert_eq(fk.n, 2, "no release of what was never reserved");
}

Test(portres, nothing_is_reserved_when_it_cannot_be_recorded)
{
	struct nat_portres r;

	nat_portres_init(&r, &fake_ops, "/nonexistent-dir/a/b/x.ports", logf_,
			 NULL);
	cr_assert_eq(nat_portres_apply(&r, 40000, 60000), 0);
	cr_assert_eq(fk.n, 0, "no reservation without a record of it");
	cr_assert(warn[0] && strstr(lines[0], "cannot be recorded"), "%s",
		  lines[0]);
}

Test(portres, recover_releases_what_a_crashed_run_recorded)
{
	struct nat_portres r;
	char err[600];

	put(path, "glassnat reserved ports\ntcp 50000 10\nudp 50000 10\n");
	fk.release_rc[17] = NOT_FOUND; /* already gone: fine */
	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_recover(&r, err, sizeof err), 0, "%s", err);
	assert_call(0, 'd', 6, 50000, 10);
	assert_call(1, 'd', 17, 50000, 10);
	cr_assert_null(slurp(path));
}

Test(portres, recover_keeps_the_file_when_a_release_fails)
{
	struct nat_portres r;
	char err[600];

	put(path, "glassnat reserved ports\ntcp 50000 10\n");
	fk.release_rc[6] = 5;
	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_recover(&r, err, sizeof err), -1);
	cr_assert(strstr(err, "could not be released"), "%s", err);
	cr_assert(warn[n_lines - 1] &&
			  strstr(lines[n_lines - 1], "netsh int ipv4 delete "
						     "excludedportrange "
						     "protocol=tcp "
						     "startport=50000 "
						     "numberofports=10"),
		  "%s", lines[n_lines - 1]);
	cr_assert_not_null(slurp(path));
}

Test(portres, recover_without_a_file_does_nothing)
{
	struct nat_portres r;
	char err[600];

	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_recover(&r, err, sizeof err), 0);
	cr_assert_eq(fk.n, 0);
	cr_assert_eq(n_lines, 0);
}

Test(portres, recover_refuses_a_bad_file_and_releases_nothing)
{
	struct nat_portres r;
	char err[600];

	put(path, "glassnat reserved ports\ntcp 65000 1000\n");
	nat_portres_init(&r, &fake_ops, path, logf_, NULL);
	cr_assert_eq(nat_portres_recover(&r, err, sizeof err), -1);
	cr_assert(strstr(err, "line 2: ports 65000+1000 are not within "
			      "1-65535"),
		  "%s", err);
	cr_assert_eq(fk.n, 0);
	cr_assert_not_null(slurp(path));
}

Test(portres, parse_accepts_the_format_and_refuses_each_fault)
{
	struct nat_portres_entry e[NAT_PORTRES_MAX];
	size_t n;
	char err[256];
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "", "line 1: not a glassnat" },
		{ "glassnat reserved ports\nsctp 1 1\n", "line 2: expected" },
		{ "glassnat reserved ports\ntcp 1 1", "line 2: expected START" },
		{ "glassnat reserved ports\ntcp 0 1\n", "not within" },
		{ "glassnat reserved ports\ntcp 5 0\n", "not within" },
		{ "glassnat reserved ports\ntcp 65535 2\n", "not within" },
		{ "glassnat reserved ports\ntcp 123456 1\n", "line 2: expected" },
		{ "glassnat reserved ports\ntcp 1 1\ntcp 1 1\ntcp 1 1\ntcp 1 "
		  "1\ntcp 1 1\n",
		  "line 6: more than 4" },
	};

	static const char good[] = "glassnat reserved ports\ntcp 1 65535\n"
				   "udp 40000 20001\n";

	cr_assert_eq(nat_portres_parse(good, strlen(good), e, &n, err,
				       sizeof err),
		     0, "%s", err);
	cr_assert_eq(n, 2);
	cr_assert(e[0].proto == 6 && e[0].start == 1 && e[0].count == 65535);
	cr_assert(e[1].proto == 17 && e[1].start == 40000 &&
		  e[1].count == 20001);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(nat_portres_parse(bad[i].text, strlen(bad[i].text),
					       e, &n, err, sizeof err),
			     -1, "accepted: %s", bad[i].text);
		cr_assert(strstr(err, bad[i].msg), "%s: %s", bad[i].text, err);
	}
}
