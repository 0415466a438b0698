/* nat_file_replace (nat/platform/file.h): the whole file or nothing, and
 * never through a symlink, at the temporary name or at the target. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

static char g_dir[64];

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/glassnat-file-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(file, .init = setup, .fini = teardown);

static void in_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", g_dir, name);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* The file's whole content, compared with want. */
static void expect(const char *path, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cr_expect_str_eq(buf, want, "%s holds \"%s\", expected \"%s\"", path,
			 buf, want);
}

static void expect_gone(const char *path)
{
	struct stat st;
	cr_expect_neq(lstat(path, &st), 0, "%s is still there", path);
}

Test(file, replace_writes_new_file_in_a_new_directory_with_private_modes)
{
	char path[128], dir[128], err[512];
	struct stat st;
	in_dir(dir, sizeof(dir), "sub");
	in_dir(path, sizeof(path), "sub/state.json");
	cr_assert_eq(nat_file_replace(path, "one\n", 4, err, sizeof(err)), 0,
		     "%s", err);
	expect(path, "one\n");
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0640, "file mode %o",
		     st.st_mode & 0777);
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0750, "directory mode %o",
		     st.st_mode & 0777);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	expect_gone(tmp);
}

Test(file, replace_replaces_existing_file_whole)
{
	char path[128], err[512];
	in_dir(path, sizeof(path), "state.json");
	put(path, "an older and longer content\n");
	cr_assert_eq(nat_file_replace(path, "new\n", 4, err, sizeof(err)), 0,
		     "%s", err);
	expect(path, "new\n");
}

/* state.json.tmp -> victim (which exists when content is not NULL), then
 * a replace of state.json: it must succeed without writing through the
 * link, and remove it. */
static void replace_with_link_at_tmp(const char *victim_content)
{
	char path[128], tmp[160], victim[128], err[512];
	in_dir(path, sizeof(path), "state.json");
	in_dir(victim, sizeof(victim), "victim");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (victim_content)
		put(victim, victim_content);
	cr_assert_eq(symlink(victim, tmp), 0, "%s", strerror(errno));
	cr_assert_eq(nat_file_replace(path, "state\n", 6, err, sizeof(err)),
		     0, "%s", err);
	if (victim_content)
		expect(victim, victim_content);
	else
		expect_gone(victim);
	expect(path, "state\n");
	expect_gone(tmp);
}

Test(file, symlink_at_temporary_name_is_not_followed)
{
	replace_with_link_at_tmp("untouched\n");
}

Test(file, dangling_symlink_at_temporary_name_creates_nothing_there)
{
	replace_with_link_at_tmp(NULL);
}

Test(file, symlink_at_target_is_replaced_and_its_destination_untouched)
{
	char path[128], victim[128], err[512];
	struct stat st;
	in_dir(path, sizeof(path), "state.json");
	in_dir(victim, sizeof(victim), "victim");
	put(victim, "untouched\n");
	cr_assert_eq(symlink(victim, path), 0, "%s", strerror(errno));
	cr_assert_eq(nat_file_replace(path, "state\n", 6, err, sizeof(err)),
		     0, "%s", err);
	expect(victim, "untouched\n");
	cr_assert_eq(lstat(path, &st), 0);
	cr_expect(S_ISREG(st.st_mode), "the target is still a symlink");
	expect(path, "state\n");
}

Test(file, failure_names_the_path_and_leaves_the_target)
{
	char path[128], err[512];
	/* The target is a directory: rename cannot replace it. */
	in_dir(path, sizeof(path), "state.json");
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(nat_file_replace(path, "state\n", 6, err, sizeof(err)),
		     -1);
	cr_expect(strncmp(err, path, strlen(path)) == 0 &&
			  strstr(err, "directory"),
		  "error: %s", err);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	expect_gone(tmp);
}
