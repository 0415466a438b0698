/* Host settings for the run (hostcfg.h): the /proc/sys reads and writes,
 * and the state file that lets a crashed run's changes be put back at the
 * next start (the reserved-ports syntax is hostcfg_ports.c).
 *
 * Order of work in apply: read everything, decide every change, write the
 * state file, then change. A crash anywhere after the state file exists is
 * recovered by restore's rules, which are safe on values never changed:
 * ports are removed only if glassnat added them (they were not reserved
 * before), a value is put back only if it still holds what glassnat set. */
#include "hostcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESERVED_REL   "net/ipv4/ip_local_reserved_ports"
#define PORT_RANGE_REL "net/ipv4/ip_local_port_range"
#define BOOT_ID_REL    "kernel/random/boot_id"
#define STATE_MAGIC    "glassnat-hostcfg 1"
#define STATE_MAX      (1u << 20) /* bytes of a state file we accept */
#define SYSCTL_MAX     (1u << 20) /* bytes of a /proc/sys value we read */

/* The set as a malloc'd string (the caller frees), or NULL. */
static char *ports_text(const struct nat_hostcfg_ports *set)
{
	size_t n = nat_hostcfg_ports_format(set, NULL, 0);
	char *s = malloc(n + 1);
	if (s)
		nat_hostcfg_ports_format(set, s, n + 1);
	return s;
}

/* ---- /proc/sys ------------------------------------------------------------ */

static void say(struct nat_hostcfg *h, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct nat_hostcfg *h, bool warning, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!h->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->log(h->log_ctx, warning, line);
}

static void full_path(const struct nat_hostcfg *h, const char *rel, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/%s", h->proc_sys, rel);
}

/* Reads the whole value (a malloc'd, NUL-terminated string without the
 * trailing newline) into *out. -1 with errbuf; errno is kept. */
static int read_value(const struct nat_hostcfg *h, const char *rel, char **out,
		      char *errbuf, size_t errlen)
{
	char path[NAT_HOSTCFG_PATH_MAX + 128];
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	int fd, saved = 0;

	full_path(h, rel, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		snprintf(errbuf, errlen, "reading %s: %s", path,
			 strerror(saved));
		errno = saved;
		return -1;
	}
	for (;;) {
		if (n + 1 >= cap || !buf) {
			char *nb = cap > SYSCTL_MAX ? NULL
						    : realloc(buf, cap *= 2);
			if (!nb) {
				saved = ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (saved) {
		free(buf);
		snprintf(errbuf, errlen, "reading %s: %s", path,
			 strerror(saved));
		errno = saved;
		return -1;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		buf[--n] = '\0';
	*out = buf;
	return 0;
}

/* Writes value + '\n' in one write(), as /proc/sys wants it. */
static int write_value(const struct nat_hostcfg *h, const char *rel,
		       const char *value, char *errbuf, size_t errlen)
{
	char path[NAT_HOSTCFG_PATH_MAX + 128];
	size_t len = strlen(value);
	char *line = malloc(len + 2);
	int fd, saved;
	ssize_t w;

	full_path(h, rel, path, sizeof(path));
	if (!line) {
		snprintf(errbuf, errlen, "writing %s: out of memory", path);
		return -1;
	}
	memcpy(line, value, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	/* O_TRUNC is what a test's plain file needs; /proc/sys ignores it. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		saved = errno;
		snprintf(errbuf, errlen, "writing '%s' to %s: %s", value, path,
			 strerror(saved));
		free(line);
		errno = saved;
		return -1;
	}
	do {
		w = write(fd, line, len + 1);
	} while (w < 0 && errno == EINTR);
	saved = w < 0 ? errno : w != (ssize_t)(len + 1) ? EIO : 0;
	if (close(fd) != 0 && !saved)
		saved = errno;
	free(line);
	if (saved) {
		snprintf(errbuf, errlen, "writing '%s' to %s: %s", value, path,
			 strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/* A small integer value (accept_local, rp_filter). */
static int read_int(const struct nat_hostcfg *h, const char *rel, int *out,
		    char *errbuf, size_t errlen)
{
	char *s, *end;
	long v;

	if (read_value(h, rel, &s, errbuf, errlen) != 0)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < -1000 || v > 1000) {
		char path[NAT_HOSTCFG_PATH_MAX + 128];
		full_path(h, rel, path, sizeof(path));
		snprintf(errbuf, errlen, "%s: '%.32s' is not a number", path,
			 s);
		free(s);
		return -1;
	}
	free(s);
	*out = (int)v;
	return 0;
}

static bool ifname_ok(const char *name)
{
	size_t n = strnlen(name, 16);
	return n > 0 && n < 16 && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..") && !strpbrk(name, " \t\n");
}

/* The kernel's boot id ("" when unknown, e.g. in a test's tree): sysctls
 * start over at boot, so a state file from another boot has nothing left
 * to put back. */
static void read_boot_id(const struct nat_hostcfg *h, char *out, size_t len)
{
	char *s, err[8];

	out[0] = '\0';
	if (read_value(h, BOOT_ID_REL, &s, err, sizeof(err)) != 0)
		return;
	if (strlen(s) < len && strspn(s, "0123456789abcdef-") == strlen(s))
		snprintf(out, len, "%s", s);
	free(s);
}

/* ---- state file ---------------------------------------------------------- */

/* The text of the state file: what restore needs, nothing else. */
static char *state_text(const struct nat_hostcfg *h)
{
	char *ports = h->ports_changed ? ports_text(&h->ports_added) : NULL;
	size_t cap = 256 + (ports ? strlen(ports) : 0) +
		     h->n_chg * sizeof(struct nat_hostcfg_change) * 2;
	char *s = malloc(cap);
	size_t n;

	if (!s || (h->ports_changed && !ports)) {
		free(s);
		free(ports);
		return NULL;
	}
	n = (size_t)snprintf(s, cap,
			     STATE_MAGIC "\n# host settings glassnat changed "
					 "for its run; put back on exit or "
					 "at the next start\n");
	if (h->boot_id[0])
		n += (size_t)snprintf(s + n, cap - n, "boot %s\n", h->boot_id);
	if (ports)
		n += (size_t)snprintf(s + n, cap - n, "ports-added %s\n",
				      ports);
	for (size_t i = 0; i < h->n_chg; i++)
		n += (size_t)snprintf(s + n, cap - n, "set %s %s %s\n",
				      h->chg[i].rel, h->chg[i].was,
				      h->chg[i].now);
	free(ports);
	return s;
}

static int write_state(const struct nat_hostcfg *h, char *errbuf, size_t errlen)
{
	char tmp[NAT_HOSTCFG_PATH_MAX + 32], dir[NAT_HOSTCFG_PATH_MAX];
	char *text = state_text(h);
	int fd = -1, saved = 0;

	if (!text) {
		snprintf(errbuf, errlen, "state file %s: out of memory",
			 h->state_path);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", h->state_path, (long)getpid());
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = open(tmp,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0600);
		/* A temp file a crash left under this pid: not ours to
		 * trust, remove it (unlink does not follow a link). */
		if (fd < 0 && errno == EEXIST && attempt == 0)
			unlink(tmp);
		else if (fd < 0)
			break;
	}
	if (fd < 0) {
		saved = errno;
		snprintf(errbuf, errlen, "state file %s: creating %s: %s",
			 h->state_path, tmp, strerror(saved));
		free(text);
		return -1;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			saved = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!saved && fsync(fd) != 0)
		saved = errno;
	if (close(fd) != 0 && !saved)
		saved = errno;
	free(text);
	if (!saved && rename(tmp, h->state_path) != 0)
		saved = errno;
	if (saved) {
		snprintf(errbuf, errlen, "state file %s: %s", h->state_path,
			 strerror(saved));
		unlink(tmp);
		return -1;
	}
	/* The rename itself is durable only once the directory is. */
	snprintf(dir, sizeof(dir), "%s", h->state_path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* A "set" line's path must be one of the values apply changes: a state
 * file cannot make restore write anywhere else under /proc/sys. */
static bool rel_ok(const char *rel)
{
	static const char pre[] = "net/ipv4/conf/";
	char ifname[17];
	const char *p, *slash;

	if (strncmp(rel, pre, sizeof(pre) - 1) != 0)
		return false;
	p = rel + sizeof(pre) - 1;
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(ifname))
		return false;
	memcpy(ifname, p, (size_t)(slash - p));
	ifname[slash - p] = '\0';
	return ifname_ok(ifname) && (!strcmp(slash + 1, "accept_local") ||
				     !strcmp(slash + 1, "rp_filter"));
}

static bool small_int_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 4)
		return false;
	for (size_t i = s[0] == '-' ? 1 : 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[0] != '-' || n > 1;
}

/* Parses a state file's text into h's change list. */
static int parse_state(struct nat_hostcfg *h, char *text, char *errbuf,
		       size_t errlen)
{
	unsigned lineno = 0;
	char *save = NULL;

	h->n_chg = 0;
	h->ports_changed = false;
	h->boot_id[0] = '\0';
	nat_hostcfg_ports_clear(&h->ports_added);
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, STATE_MAGIC) != 0)
				goto bad;
			continue;
		}
		if (line[0] == '#')
			continue;
		if (!strncmp(line, "boot ", 5)) {
			size_t n = strlen(line + 5);
			if (n == 0 || n >= sizeof(h->boot_id) ||
			    strspn(line + 5, "0123456789abcdef-") != n)
				goto bad;
			memcpy(h->boot_id, line + 5, n + 1);
			continue;
		}
		if (!strncmp(line, "ports-added ", 12)) {
			if (h->ports_changed ||
			    nat_hostcfg_ports_parse(
				    line + 12, strlen(line + 12),
				    &h->ports_added, errbuf, errlen) != 0)
				goto bad;
			h->ports_changed = true;
			continue;
		}
		struct nat_hostcfg_change c;
		char rel[sizeof(c.rel) + 1], was[sizeof(c.was) + 1],
			now[sizeof(c.now) + 1], extra;
		if (h->n_chg == NAT_HOSTCFG_CHANGES_MAX ||
		    sscanf(line, "set %96s %16s %16s %c", rel, was, now,
			   &extra) != 3 ||
		    strlen(rel) >= sizeof(c.rel) || !rel_ok(rel) ||
		    !small_int_ok(was) || !small_int_ok(now))
			goto bad;
		snprintf(c.rel, sizeof(c.rel), "%.95s", rel);
		snprintf(c.was, sizeof(c.was), "%.15s", was);
		snprintf(c.now, sizeof(c.now), "%.15s", now);
		h->chg[h->n_chg++] = c;
	}
	if (lineno == 0)
		goto bad;
	return 0;
bad:
	snprintf(errbuf, errlen,
		 "state file %s: line %u is not what glassnat writes; put the "
		 "values it names back by hand and delete it",
		 h->state_path, lineno);
	h->n_chg = 0;
	h->ports_changed = false;
	return -1;
}

/* ---- apply / restore ----------------------------------------------------- */

void nat_hostcfg_init(struct nat_hostcfg *h, const char *proc_sys,
		      nat_hostcfg_log_fn log, void *log_ctx)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->proc_sys, sizeof(h->proc_sys), "%s",
		 proc_sys && proc_sys[0] ? proc_sys : "/proc/sys");
	h->log = log;
	h->log_ctx = log_ctx;
}

static bool changes_full(struct nat_hostcfg *h, char *errbuf, size_t errlen)
{
	if (h->n_chg < NAT_HOSTCFG_CHANGES_MAX)
		return false;
	snprintf(errbuf, errlen, "more than %d host settings to change",
		 NAT_HOSTCFG_CHANGES_MAX);
	return true;
}

/* Decides the per-interface changes for hairpin on ifname. */
static int plan_hairpin(struct nat_hostcfg *h, const char *ifname, char *errbuf,
			size_t errlen)
{
	char rel[96], rel_all[96];
	int dev, all;

	if (!ifname_ok(ifname)) {
		snprintf(errbuf, errlen, "'%.16s' is not an interface name",
			 ifname);
		return -1;
	}
	/* accept_local counts when set on the interface or on "all". */
	snprintf(rel, sizeof(rel), "net/ipv4/conf/%s/accept_local", ifname);
	if (read_int(h, rel, &dev, errbuf, errlen) != 0 ||
	    read_int(h, "net/ipv4/conf/all/accept_local", &all, errbuf,
		     errlen) != 0)
		return -1;
	if (dev != 1 && all != 1) {
		if (changes_full(h, errbuf, errlen))
			return -1;
		struct nat_hostcfg_change *c = &h->chg[h->n_chg++];
		snprintf(c->rel, sizeof(c->rel), "%s", rel);
		snprintf(c->was, sizeof(c->was), "%d", dev);
		snprintf(c->now, sizeof(c->now), "1");
	}
	/* The kernel filters with max(all, interface): 1 (strict) drops a
	 * packet whose source, the NAT address, routes out of another
	 * interface, even with accept_local; 2 (loose) on the interface
	 * wins over all=1 and lets it pass. 0 and 2 need nothing. */
	snprintf(rel, sizeof(rel), "net/ipv4/conf/%s/rp_filter", ifname);
	snprintf(rel_all, sizeof(rel_all), "net/ipv4/conf/all/rp_filter");
	if (read_int(h, rel, &dev, errbuf, errlen) != 0 ||
	    read_int(h, rel_all, &all, errbuf, errlen) != 0)
		return -1;
	if ((dev > all ? dev : all) == 1) {
		if (changes_full(h, errbuf, errlen))
			return -1;
		struct nat_hostcfg_change *c = &h->chg[h->n_chg++];
		snprintf(c->rel, sizeof(c->rel), "%s", rel);
		snprintf(c->was, sizeof(c->was), "%d", dev);
		snprintf(c->now, sizeof(c->now), "2");
	}
	return 0;
}

/* The ephemeral range, for the "leaves N ports" note; 0 if unknown. */
static size_t ephemeral_left(const struct nat_hostcfg *h,
			     const struct nat_hostcfg_ports *reserved,
			     unsigned *lo, unsigned *hi)
{
	char *s, err[8];
	size_t left = 0;

	if (read_value(h, PORT_RANGE_REL, &s, err, sizeof(err)) != 0)
		return 0;
	if (sscanf(s, "%u %u", lo, hi) == 2 && *lo <= *hi && *hi <= 65535) {
		for (unsigned p = *lo; p <= *hi; p++)
			left += !nat_hostcfg_ports_has(reserved, (uint16_t)p);
	} else {
		*lo = *hi = 0;
	}
	free(s);
	return left;
}

static const char *change_reason(const struct nat_hostcfg_change *c)
{
	if (strstr(c->rel, "/accept_local"))
		return "so hairpinned packets are not dropped as martians";
	return "so hairpinned packets from the NAT address pass the "
	       "reverse-path filter (2 is loose; it was strict)";
}

/* "net/ipv4/conf/eth1/accept_local" -> "accept_local", "eth1". */
static void change_names(const struct nat_hostcfg_change *c, char *key,
			 size_t klen, char *ifname, size_t ilen)
{
	const char *p = c->rel + strlen("net/ipv4/conf/");
	const char *slash = strchr(p, '/');
	snprintf(ifname, ilen, "%.*s", (int)(slash - p), p);
	snprintf(key, klen, "%s", slash + 1);
}

/* Puts the recorded changes back. Returns the number of failures; the
 * first one's message is in errbuf. */
static unsigned put_back(struct nat_hostcfg *h, char *errbuf, size_t errlen)
{
	unsigned failed = 0;
	char err[600];

	/* In reverse: the last change made is the first undone. */
	for (size_t i = h->n_chg; i-- > 0;) {
		const struct nat_hostcfg_change *c = &h->chg[i];
		char key[32], ifname[17], *cur = NULL;

		change_names(c, key, sizeof(key), ifname, sizeof(ifname));
		if (read_value(h, c->rel, &cur, err, sizeof(err)) != 0) {
			if (errno == ENOENT) {
				say(h, false,
				    "%s on %s not put back: the interface is "
				    "gone",
				    key, ifname);
				continue;
			}
			goto fail;
		}
		if (strcmp(cur, c->now) != 0) {
			if (strcmp(cur, c->was) != 0)
				say(h, true,
				    "%s on %s left at %s: changed since "
				    "glassnat set it to %s (it was %s)",
				    key, ifname, cur, c->now, c->was);
			free(cur);
			continue;
		}
		free(cur);
		if (write_value(h, c->rel, c->was, err, sizeof(err)) != 0)
			goto fail;
		say(h, false, "%s=%s on %s again (glassnat had set %s)", key,
		    c->was, ifname, c->now);
		continue;
	fail:
		if (!failed++)
			snprintf(errbuf, errlen, "%s", err);
		say(h, true, "%s", err);
	}
	if (h->ports_changed) {
		struct nat_hostcfg_ports cur;
		char *text = NULL, *now = NULL, *added = NULL;

		if (read_value(h, RESERVED_REL, &text, err, sizeof(err)) != 0 ||
		    nat_hostcfg_ports_parse(text, strlen(text), &cur, err,
					    sizeof(err)) != 0) {
			if (text) {
				char path[NAT_HOSTCFG_PATH_MAX + 64],
					inner[256];
				full_path(h, RESERVED_REL, path, sizeof(path));
				snprintf(inner, sizeof(inner), "%.255s", err);
				snprintf(err, sizeof(err), "%.300s: %s", path,
					 inner);
			}
		} else {
			nat_hostcfg_ports_subtract(&cur, &h->ports_added);
			now = ports_text(&cur);
			added = ports_text(&h->ports_added);
			if (!now || !added)
				snprintf(err, sizeof(err), "out of memory");
			else if (strcmp(now, text) == 0)
				goto ports_done; /* nothing of ours left */
			else if (write_value(h, RESERVED_REL, now, err,
					     sizeof(err)) == 0) {
				say(h, false,
				    "net.ipv4.ip_local_reserved_ports is '%s' "
				    "again (removed %s that glassnat had "
				    "reserved)",
				    now, added);
				goto ports_done;
			}
		}
		if (!failed++)
			snprintf(errbuf, errlen, "%s", err);
		say(h, true, "%s", err);
	ports_done:
		free(text);
		free(now);
		free(added);
	}
	return failed;
}

static int finish_restore(struct nat_hostcfg *h, unsigned failed, char *errbuf,
			  size_t errlen)
{
	if (failed) {
		size_t n = strlen(errbuf);
		snprintf(errbuf + n, errlen > n ? errlen - n : 0,
			 " (state file %s kept for the next start)",
			 h->state_path);
		return -1;
	}
	if (unlink(h->state_path) != 0 && errno != ENOENT) {
		snprintf(errbuf, errlen, "state file %s: %s", h->state_path,
			 strerror(errno));
		return -1;
	}
	h->active = false;
	h->n_chg = 0;
	h->ports_changed = false;
	return 0;
}

int nat_hostcfg_restore(struct nat_hostcfg *h, char *errbuf, size_t errlen)
{
	if (!h->active)
		return 0;
	return finish_restore(h, put_back(h, errbuf, errlen), errbuf, errlen);
}

int nat_hostcfg_recover(struct nat_hostcfg *h, const char *state_path,
			char *errbuf, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t r;
	int fd;

	if (snprintf(h->state_path, sizeof(h->state_path), "%s", state_path) >=
	    (int)sizeof(h->state_path)) {
		snprintf(errbuf, errlen, "state file %.64s...: path too long",
			 state_path);
		return -1;
	}
	fd = open(state_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)STATE_MAX) {
		int saved = fd < 0 || errno != 0 ? errno : EINVAL;
		snprintf(errbuf, errlen, "state file %s: %s", state_path,
			 fd >= 0 && (!S_ISREG(st.st_mode) ||
				     st.st_size > (off_t)STATE_MAX)
				 ? "not a regular file of glassnat's"
				 : strerror(saved));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(errbuf, errlen, "state file %s: out of memory",
			 state_path);
		return -1;
	}
	do {
		r = read(fd, text, (size_t)st.st_size);
	} while (r < 0 && errno == EINTR);
	close(fd);
	if (r != (ssize_t)st.st_size) {
		snprintf(errbuf, errlen, "state file %s: short read",
			 state_path);
		free(text);
		return -1;
	}
	text[r] = '\0';
	int rc = parse_state(h, text, errbuf, errlen);
	free(text);
	if (rc != 0)
		return -1;
	char boot[sizeof(h->boot_id)];
	read_boot_id(h, boot, sizeof(boot));
	if (boot[0] && h->boot_id[0] && strcmp(boot, h->boot_id) != 0) {
		say(h, false,
		    "state file %s is from an earlier boot: the kernel started "
		    "from its own settings since, nothing to put back",
		    state_path);
		h->active = true;
		return finish_restore(h, 0, errbuf, errlen);
	}
	say(h, true,
	    "state file %s: the last run did not exit cleanly; putting back "
	    "the host settings it changed",
	    state_path);
	h->active = true;
	return finish_restore(h, put_back(h, errbuf, errlen), errbuf, errlen);
}

int nat_hostcfg_apply(struct nat_hostcfg *h,
		      const struct nat_hostcfg_want *want,
		      const char *state_path, char *errbuf, size_t errlen)
{
	struct nat_hostcfg_ports cur, wanted, after;
	char *was = NULL, *added_text = NULL;
	char err[600];
	struct stat st;
	size_t done = 0;
	bool ports_done = false;

	if (h->active) {
		snprintf(errbuf, errlen, "host settings already applied");
		return -1;
	}
	if (snprintf(h->state_path, sizeof(h->state_path), "%s", state_path) >=
	    (int)sizeof(h->state_path)) {
		snprintf(errbuf, errlen, "state file %.64s...: path too long",
			 state_path);
		return -1;
	}
	if (lstat(state_path, &st) == 0) {
		snprintf(errbuf, errlen,
			 "state file %s exists: a run did not put back its "
			 "host settings (recover first)",
			 state_path);
		return -1;
	}
	if (want->n_reserve > NAT_HOSTCFG_RANGES_MAX ||
	    want->n_hairpin_if > NAT_HOSTCFG_IFS_MAX) {
		snprintf(errbuf, errlen, "too many port ranges or interfaces");
		return -1;
	}
	h->n_chg = 0;
	h->ports_changed = false;
	nat_hostcfg_ports_clear(&h->ports_added);

	/* Decide. */
	if (want->n_reserve > 0) {
		if (read_value(h, RESERVED_REL, &was, errbuf, errlen) != 0)
			return -1;
		if (nat_hostcfg_ports_parse(was, strlen(was), &cur, err,
					    sizeof(err)) != 0) {
			char path[NAT_HOSTCFG_PATH_MAX + 64];
			full_path(h, RESERVED_REL, path, sizeof(path));
			snprintf(errbuf, errlen, "%s: %s", path, err);
			goto fail;
		}
		nat_hostcfg_ports_clear(&wanted);
		for (size_t i = 0; i < want->n_reserve; i++) {
			if (want->reserve[i].lo > want->reserve[i].hi) {
				snprintf(errbuf, errlen, "bad port range %u-%u",
					 want->reserve[i].lo,
					 want->reserve[i].hi);
				goto fail;
			}
			nat_hostcfg_ports_add(&wanted, want->reserve[i].lo,
					      want->reserve[i].hi);
		}
		h->ports_added = wanted;
		nat_hostcfg_ports_subtract(&h->ports_added, &cur);
		h->ports_changed = nat_hostcfg_ports_count(&h->ports_added) > 0;
	}
	for (size_t i = 0; i < want->n_hairpin_if; i++)
		if (plan_hairpin(h, want->hairpin_if[i], errbuf, errlen) != 0)
			goto fail;
	if (!h->ports_changed && h->n_chg == 0) {
		free(was);
		return 0;
	}

	unsigned eph_lo = 0, eph_hi = 0;
	size_t left = 0;
	if (h->ports_changed) {
		after = cur;
		nat_hostcfg_ports_merge(&after, &h->ports_added);
		left = ephemeral_left(h, &after, &eph_lo, &eph_hi);
		if (eph_hi != 0 && left == 0) {
			char *wt = ports_text(&wanted);
			snprintf(
				errbuf, errlen,
				"reserving %s would leave the host no port of "
				"its ephemeral range %u-%u (%s/%s) for its own "
				"connections: move port_range or the range",
				wt ? wt : "the port range", eph_lo, eph_hi,
				h->proc_sys, PORT_RANGE_REL);
			free(wt);
			goto fail;
		}
		added_text = ports_text(&h->ports_added);
		if (!added_text) {
			snprintf(errbuf, errlen, "out of memory");
			goto fail;
		}
	}

	/* Record, then change. */
	read_boot_id(h, h->boot_id, sizeof(h->boot_id));
	if (write_state(h, errbuf, errlen) != 0)
		goto fail;
	h->active = true;
	if (h->ports_changed) {
		char *now = ports_text(&after);
		if (!now || write_value(h, RESERVED_REL, now, errbuf, errlen)) {
			if (!now)
				snprintf(errbuf, errlen, "out of memory");
			free(now);
			goto undo;
		}
		free(now);
		ports_done = true;
		if (eph_hi != 0)
			say(h, false,
			    "reserved ports %s from the kernel's ephemeral "
			    "range (net.ipv4.ip_local_reserved_ports was '%s', "
			    "restored on exit); %zu ports of %u-%u are left "
			    "for the host's own connections",
			    added_text, was, left, eph_lo, eph_hi);
		else
			say(h, false,
			    "reserved ports %s from the kernel's ephemeral "
			    "range (net.ipv4.ip_local_reserved_ports was '%s', "
			    "restored on exit)",
			    added_text, was);
	}
	for (done = 0; done < h->n_chg; done++) {
		const struct nat_hostcfg_change *c = &h->chg[done];
		char key[32], ifname[17];
		if (write_value(h, c->rel, c->now, errbuf, errlen) != 0)
			goto undo;
		change_names(c, key, sizeof(key), ifname, sizeof(ifname));
		say(h, false, "%s=%s on %s (was %s) %s, restored on exit", key,
		    c->now, ifname, c->was, change_reason(c));
	}
	free(was);
	free(added_text);
	return 0;

undo:
	/* Put back only what was changed: the rest still holds "was". */
	h->n_chg = done;
	h->ports_changed = ports_done;
	if (finish_restore(h, put_back(h, err, sizeof(err)), err,
			   sizeof(err)) != 0) {
		size_t n = strlen(errbuf);
		snprintf(errbuf + n, errlen > n ? errlen - n : 0,
			 "; undoing: %s", err);
	}
fail:
	free(was);
	free(added_text);
	h->active = false;
	h->n_chg = 0;
	h->ports_changed = false;
	return -1;
}
