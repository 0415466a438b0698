/* Lines for people (logging/log_line.h): the one prefix form, messages of
 * several lines, escaping, levels, the backend stream's prefixes, and the
 * mirror into a JSON events file. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "log_line.h"

#define LINE_RE                                                                \
	"^\\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\\] " \
	"\\[(DEBUG|INFO|WARN|ERROR)\\] \\[[A-Z][A-Z0-9_]*\\] .+$"

static FILE *g_out;

static void out_init(void)
{
	g_out = tmpfile();
	cr_assert_not_null(g_out);
	log_line_set_output(g_out);
	log_line_verbose(0);
}

static void out_fini(void)
{
	log_line_set_output(NULL);
	log_line_verbose(0);
	fclose(g_out);
}

/* Everything written so far, NUL-terminated, into buf. */
static void out_read(char *buf, size_t len)
{
	fflush(g_out);
	rewind(g_out);
	size_t n = fread(buf, 1, len - 1, g_out);
	buf[n] = '\0';
}

/* Each '\n'-terminated line of s matches LINE_RE; returns how many. */
static int all_match(const char *s)
{
	regex_t re;
	char line[4096];
	int n = 0;
	cr_assert_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
	while (*s) {
		const char *nl = strchr(s, '\n');
		cr_assert_not_null(nl, "the output ends without a newline: %s", s);
		size_t k = (size_t)(nl - s);
		cr_assert_lt(k, sizeof(line));
		memcpy(line, s, k);
		line[k] = '\0';
		cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0,
			     "not in the one form: '%s'", line);
		n++;
		s = nl + 1;
	}
	regfree(&re);
	return n;
}

Test(log_line, prefix_is_utc_with_milliseconds_level_and_component)
{
	char p[128];
	/* 2026-12-01T13:29:42.123456789Z */
	size_t n = log_line_prefix(p, sizeof(p), 1796131782123456789ull,
				   LOG_WARN, "HOST");
	cr_assert_str_eq(p, "[2026-12-01T13:29:42.123Z] [WARN] [HOST] ");
	cr_assert_eq(n, strlen(p));
	log_line_prefix(p, sizeof(p), 0, (enum log_level)9, NULL);
	cr_assert_str_eq(p, "[1970-01-01T00:00:00.000Z] [INFO] [MAIN] ");
	cr_assert_eq(log_line_prefix(p, 8, 0, LOG_INFO, "MAIN"), 7);
	cr_assert_str_eq(p, "[1970-0");
}

Test(log_line, multi_line_message_is_one_prefixed_line_each,
     .init = out_init, .fini = out_fini)
{
	char buf[4096];
	log_line(LOG_INFO, "QUEUE", "rules:\n*raw\n-A X\nCOMMIT\n");
	out_read(buf, sizeof(buf));
	cr_assert_eq(all_match(buf), 4, "%s", buf);
	cr_assert_not_null(strstr(buf, "] [INFO] [QUEUE] -A X\n"));
}

Test(log_line, control_characters_cannot_forge_a_line, .init = out_init,
     .fini = out_fini)
{
	char buf[1024];
	log_line(LOG_ERROR, "MAIN", "name \"a\rb\x1b[31m\"");
	out_read(buf, sizeof(buf));
	cr_assert_eq(all_match(buf), 1);
	cr_assert_not_null(strstr(buf, "[ERROR] [MAIN] name \"a\\x0db\\x1b[31m\"\n"),
			   "%s", buf);
}

Test(log_line, debug_only_when_verbose, .init = out_init, .fini = out_fini)
{
	char buf[1024];
	log_line(LOG_DEBUG, "MAIN", "hidden");
	out_read(buf, sizeof(buf));
	cr_assert_str_eq(buf, "");
	log_line_verbose(1);
	log_line(LOG_DEBUG, "MAIN", "shown");
	out_read(buf, sizeof(buf));
	cr_assert_not_null(strstr(buf, "] [DEBUG] [MAIN] shown\n"), "%s", buf);
}

Test(log_line, stream_turns_warning_error_and_host_prefixes_into_levels,
     .init = out_init, .fini = out_fini)
{
	char buf[4096];
	FILE *s = log_line_stream("QUEUE");
	cr_assert_neq(s, g_out, "Linux has line streams");
	fprintf(s, "warning: host: accept_local is 1\n");
	fprintf(s, "error: removing the chains: EPERM\nqueue 0 bound");
	fprintf(s, "; chains installed\n");
	fprintf(s, "host: reserved ports 1-2\npartial");
	log_line_stream_close(s);
	out_read(buf, sizeof(buf));
	cr_assert_eq(all_match(buf), 5, "%s", buf);
	cr_assert_not_null(strstr(buf, "] [WARN] [HOST] accept_local is 1\n"));
	cr_assert_not_null(
		strstr(buf, "] [ERROR] [QUEUE] removing the chains: EPERM\n"));
	cr_assert_not_null(
		strstr(buf, "] [INFO] [QUEUE] queue 0 bound; chains installed\n"));
	cr_assert_not_null(strstr(buf, "] [INFO] [HOST] reserved ports 1-2\n"));
	cr_assert_not_null(strstr(buf, "] [INFO] [QUEUE] partial\n"));
}

Test(log_line, warnings_mirrored_as_log_events_in_a_json_file,
     .init = out_init, .fini = out_fini)
{
	char path[] = "/tmp/glassnat-ll-XXXXXX", err[256], buf[4096];
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct log_opts o = { .path = path, .format = NAT_LOG_JSON };
	struct log_writer *w = log_open(&o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	log_line_mirror(w, LOG_WARN);
	log_line(LOG_INFO, "MAIN", "not mirrored");
	log_line(LOG_WARN, "QUEUE", "net.ipv4.ip_forward is 0");
	log_line_mirror(NULL, LOG_WARN);
	log_line(LOG_ERROR, "MAIN", "after the mirror ended");
	log_close(w);
	FILE *f = fopen(path, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	cr_assert_not_null(strstr(buf, "\"ev\":\"log\",\"level\":\"warn\","
				       "\"component\":\"QUEUE\",\"msg\":"
				       "\"net.ipv4.ip_forward is 0\"}\n"),
			   "%s", buf);
	cr_assert_null(strstr(buf, "not mirrored"));
	cr_assert_null(strstr(buf, "after the mirror"));
}

Test(log_line, no_mirror_and_no_stats_block_into_text_on_stdout)
{
	char err[256];
	struct log_opts o = { .path = "-", .format = NAT_LOG_TEXT };
	struct log_writer *w = log_open(&o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	cr_assert(log_beside_people(w));
	struct nat_stats st;
	struct nat_metrics m;
	memset(&st, 0, sizeof(st));
	nat_metrics_fill(&m, &st, NULL);
	log_final_stats(w, 1, &m);
	log_stop(w);
	cr_assert_eq(log_written(w), 0, "the stats block went to stdout");
	log_close(w);
	struct log_opts j = { .path = "-", .format = NAT_LOG_JSON };
	w = log_open(&j, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	cr_assert(!log_beside_people(w));
	log_close(w);
}

Test(log_line, journal_stream_gets_syslog_priorities, .init = out_init,
     .fini = out_fini)
{
	char buf[1024], js[64];
	struct stat st;
	cr_assert_eq(fstat(fileno(g_out), &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_line_set_output(g_out); /* looks again */
	log_line(LOG_WARN, "HOST", "a\nb");
	log_line(LOG_INFO, "MAIN", "c");
	unsetenv("JOURNAL_STREAM");
	log_line_set_output(g_out);
	log_line(LOG_ERROR, "MAIN", "not the journal any more");
	out_read(buf, sizeof(buf));
	cr_assert_not_null(strstr(buf, "<4>["), "%s", buf);
	cr_assert_not_null(strstr(buf, "] [WARN] [HOST] b\n<6>["), "%s", buf);
	cr_assert_not_null(strstr(buf, "\n[") && strstr(buf, "] [ERROR] [MAIN] not"),
			   "%s", buf);
	cr_assert_null(strstr(buf, "<3>"), "%s", buf);
}
