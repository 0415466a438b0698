/* Lines for people in the one form (log_line.h). A line is formatted
 * whole into a stack buffer and written with one fwrite under a mutex, so
 * lines from several threads never interleave. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log_line.h"
#include "platform.h"

#define LINE_MAX_BYTES 2048

static pthread_mutex_t ll_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *ll_out; /* NULL: stderr */
static int ll_verbose;
static int ll_journal = -1; /* the output is the journal: 1, not: 0, -1 unknown */
static struct log_writer *ll_mirror; /* guarded by ll_lock */
static enum log_level ll_mirror_min;
static pthread_t ll_mirror_thread;

const char *log_level_name(enum log_level lvl)
{
	static const char *const names[] = { "DEBUG", "INFO", "WARN",
					     "ERROR" };
	return (unsigned)lvl < 4 ? names[lvl] : "INFO";
}

size_t log_line_prefix(char *out, size_t cap, uint64_t ts_ns,
		       enum log_level lvl, const char *component)
{
	time_t sec = (time_t)(ts_ns / 1000000000u);
	unsigned ms = (unsigned)(ts_ns % 1000000000u / 1000000u);
	struct tm tm;
	if (cap == 0)
		return 0;
	if (!gmtime_r(&sec, &tm))
		memset(&tm, 0, sizeof(tm));
	int k = snprintf(out, cap,
			 "[%04d-%02d-%02dT%02d:%02d:%02d.%03uZ] [%s] [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
			 log_level_name(lvl), component ? component : "MAIN");
	if (k < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)k < cap ? (size_t)k : cap - 1;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

FILE *log_line_output(void)
{
	return ll_out ? ll_out : stderr;
}

void log_line_set_output(FILE *f)
{
	pthread_mutex_lock(&ll_lock);
	ll_out = f;
	ll_journal = -1;
	pthread_mutex_unlock(&ll_lock);
}

void log_line_verbose(int on)
{
	ll_verbose = on;
}

void log_line_mirror(struct log_writer *w, enum log_level min)
{
	pthread_mutex_lock(&ll_lock);
	ll_mirror = w && !log_beside_people(w) ? w : NULL;
	ll_mirror_min = min;
	ll_mirror_thread = pthread_self();
	pthread_mutex_unlock(&ll_lock);
}

/* Appends msg[0..n) to out at *len, control characters as \xNN. */
static void put_escaped(char *out, size_t cap, size_t *len, const char *msg,
			size_t n)
{
	for (size_t i = 0; i < n && *len + 5 < cap; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c < 0x20 || c == 0x7f)
			*len += (size_t)snprintf(out + *len, cap - *len,
						 "\\x%02x", c);
		else
			out[(*len)++] = (char)c;
	}
}

/* systemd connects a service's stderr to the journal and says so in
 * $JOURNAL_STREAM ("DEVICE:INODE" of that stream); the journal then reads
 * a leading "<N>" on each line as its syslog priority and strips it, so
 * `journalctl -p warning` finds the warnings and the stored line keeps
 * the one form. */
static bool to_journal(FILE *f)
{
	if (ll_journal < 0) {
		const char *js = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;
		ll_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
			     fstat(fileno(f), &st) == 0 &&
			     (unsigned long long)st.st_dev == dev &&
			     (unsigned long long)st.st_ino == ino;
	}
	return ll_journal == 1;
}

/* syslog priorities: debug 7, info 6, warning 4, err 3. */
static int journal_priority(enum log_level lvl)
{
	static const int prio[] = { 7, 6, 4, 3 };
	return (unsigned)lvl < 4 ? prio[lvl] : 6;
}

/* One message, possibly of several lines, under the lock. */
static void write_msg(uint64_t ts, enum log_level lvl, const char *comp,
		      const char *msg)
{
	char line[LINE_MAX_BYTES];
	FILE *f = log_line_output();
	const char *p = msg;
	bool journal = to_journal(f);
	do {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		size_t len = 0;
		if (journal)
			len = (size_t)snprintf(line, sizeof(line), "<%d>",
					       journal_priority(lvl));
		len += log_line_prefix(line + len, sizeof(line) - len, ts, lvl,
				       comp);
		put_escaped(line, sizeof(line), &len, p, n);
		line[len++] = '\n';
		fwrite(line, 1, len, f);
		p = nl ? nl + 1 : NULL;
	} while (p && *p);
	fflush(f);
}

static void vline(enum log_level lvl, const char *comp, const char *fmt,
		  va_list ap) __attribute__((format(printf, 3, 0)));

static void vline(enum log_level lvl, const char *comp, const char *fmt,
		  va_list ap)
{
	char msg[LOG_MSG_MAX * 4];
	if (lvl == LOG_DEBUG && !ll_verbose)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	uint64_t ts = wall_ns();
	pthread_mutex_lock(&ll_lock);
	write_msg(ts, lvl, comp, msg);
	bool mirror = ll_mirror && lvl >= ll_mirror_min &&
		      pthread_equal(ll_mirror_thread, pthread_self());
	struct log_writer *w = ll_mirror;
	pthread_mutex_unlock(&ll_lock);
	if (mirror)
		log_text(w, ts, lvl, comp, "%s", msg);
}

void log_line(enum log_level lvl, const char *component, const char *fmt,
	      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(lvl, component, fmt, ap);
	va_end(ap);
}

/* ---- streams ---- */

struct ll_stream {
	char comp[16];
};

static bool strip(const char **s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(*s, prefix, n) != 0)
		return false;
	*s += n;
	return true;
}

static void stream_line(void *ctx, const char *line)
{
	const struct ll_stream *st = ctx;
	enum log_level lvl = LOG_INFO;
	const char *comp = st->comp;
	if (strip(&line, "warning: "))
		lvl = LOG_WARN;
	else if (strip(&line, "error: "))
		lvl = LOG_ERROR;
	if (strip(&line, "host: "))
		comp = "HOST";
	log_line(lvl, comp, "%s", line);
}

FILE *log_line_stream(const char *component)
{
	struct ll_stream *st = calloc(1, sizeof(*st));
	FILE *f = NULL;
	if (st) {
		snprintf(st->comp, sizeof(st->comp), "%s", component);
		f = nat_plat_line_stream(stream_line, st, free);
		if (!f)
			free(st);
	}
	return f ? f : log_line_output();
}

void log_line_stream_close(FILE *f)
{
	if (f && f != log_line_output() && f != stderr && f != stdout)
		fclose(f);
}
