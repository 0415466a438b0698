/* Port reservations for a Windows run (portres.h): the state file, its
 * parser, and the order of calls. No system call of its own: everything
 * goes through the ops table, so the unit tests drive it on Linux. */
#include "portres.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "file.h"

#define PORTRES_HEADER "glassnat reserved ports\n"

static void say(const struct nat_portres *r, bool warning, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
static void say(const struct nat_portres *r, bool warning, const char *fmt,
		...)
{
	char line[512];
	va_list ap;

	if (!r->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->log(r->log_ctx, warning, line);
}

static const char *proto_name(uint8_t proto)
{
	return proto == 6 ? "TCP" : "UDP";
}

/* One decimal number of at most 5 digits at text[*i]. */
static bool parse_num(const char *text, size_t len, size_t *i, uint32_t *out)
{
	size_t start = *i;
	uint32_t v = 0;

	while (*i < len && text[*i] >= '0' && text[*i] <= '9') {
		if (*i - start == 5)
			return false;
		v = v * 10 + (uint32_t)(text[*i] - '0');
		(*i)++;
	}
	*out = v;
	return *i > start;
}

int nat_portres_parse(const char *text, size_t len,
		      struct nat_portres_entry out[NAT_PORTRES_MAX], size_t *n,
		      char *errbuf, size_t errlen)
{
	const size_t hl = sizeof(PORTRES_HEADER) - 1;
	size_t i = hl;
	unsigned line = 2;

	*n = 0;
	if (len < hl || memcmp(text, PORTRES_HEADER, hl) != 0) {
		snprintf(errbuf, errlen,
			 "line 1: not a glassnat reserved-ports file");
		return -1;
	}
	for (; i < len; line++) {
		struct nat_portres_entry e;
		uint32_t start, count;

		if (*n == NAT_PORTRES_MAX) {
			snprintf(errbuf, errlen,
				 "line %u: more than %d reservations", line,
				 NAT_PORTRES_MAX);
			return -1;
		}
		if (len - i >= 4 && memcmp(text + i, "tcp ", 4) == 0)
			e.proto = 6;
		else if (len - i >= 4 && memcmp(text + i, "udp ", 4) == 0)
			e.proto = 17;
		else {
			snprintf(errbuf, errlen,
				 "line %u: expected \"tcp \" or \"udp \"",
				 line);
			return -1;
		}
		i += 4;
		if (!parse_num(text, len, &i, &start) || i >= len ||
		    text[i++] != ' ' || !parse_num(text, len, &i, &count) ||
		    i >= len || text[i++] != '\n') {
			snprintf(errbuf, errlen,
				 "line %u: expected START COUNT and a newline",
				 line);
			return -1;
		}
		if (start == 0 || count == 0 || start + count - 1 > 65535) {
			snprintf(errbuf, errlen,
				 "line %u: ports %lu+%lu are not within "
				 "1-65535",
				 line, (unsigned long)start,
				 (unsigned long)count);
			return -1;
		}
		e.start = (uint16_t)start;
		e.count = (uint16_t)count;
		out[(*n)++] = e;
	}
	return 0;
}

void nat_portres_init(struct nat_portres *r, const struct nat_portres_ops *ops,
		      const char *state_path, nat_portres_log_fn log,
		      void *log_ctx)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	snprintf(r->state_path, sizeof(r->state_path), "%s", state_path);
	r->log = log;
	r->log_ctx = log_ctx;
}

/* Releases e; true when it is gone (released, or already not there). */
static bool release_one(const struct nat_portres *r,
			const struct nat_portres_entry *e)
{
	unsigned long code =
		r->ops->release(r->ops->ctx, e->proto, e->start, e->count);
	unsigned last = (unsigned)e->start + e->count - 1;
	char why[256];

	if (code == 0) {
		say(r, false, "released the %s port reservation %u-%u",
		    proto_name(e->proto), e->start, last);
		return true;
	}
	if (code == r->ops->not_found)
		return true;
	r->ops->describe(r->ops->ctx, code, why, sizeof(why));
	say(r, true,
	    "cannot release the %s port reservation %u-%u: %s (error %lu); "
	    "the next start tries again, or remove it by hand: netsh int "
	    "ipv4 delete excludedportrange protocol=%s startport=%u "
	    "numberofports=%u",
	    proto_name(e->proto), e->start, last, why, code,
	    e->proto == 6 ? "tcp" : "udp", e->start, e->count);
	return false;
}

static int write_state(const struct nat_portres *r,
		       const struct nat_portres_entry *e, size_t n,
		       char *errbuf, size_t errlen)
{
	char text[NAT_PORTRES_FILE_MAX];
	size_t used = (size_t)snprintf(text, sizeof(text), PORTRES_HEADER);

	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "%s %u %u\n",
					 e[i].proto == 6 ? "tcp" : "udp",
					 e[i].start, e[i].count);
	return nat_file_replace(r->state_path, text, used, errbuf, errlen);
}

int nat_portres_recover(struct nat_portres *r, char *errbuf, size_t errlen)
{
	struct nat_portres_entry e[NAT_PORTRES_MAX];
	char text[NAT_PORTRES_FILE_MAX + 1], why[256];
	size_t len, n;
	bool all = true;
	FILE *f = fopen(r->state_path, "rb");

	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(errbuf, errlen, "%s: %s", r->state_path,
			 strerror(errno));
		return -1;
	}
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (len > NAT_PORTRES_FILE_MAX) {
		snprintf(errbuf, errlen, "%s: longer than %d bytes",
			 r->state_path, NAT_PORTRES_FILE_MAX);
		return -1;
	}
	if (nat_portres_parse(text, len, e, &n, why, sizeof(why)) != 0) {
		snprintf(errbuf, errlen, "%s: %s", r->state_path, why);
		return -1;
	}
	say(r, false, "a previous run did not exit cleanly: releasing the "
		      "port reservations %s records",
	    r->state_path);
	for (size_t i = 0; i < n; i++)
		all &= release_one(r, &e[i]);
	if (!all) {
		snprintf(errbuf, errlen,
			 "%s: a reservation it records could not be released "
			 "(see the warning above); the file is kept",
			 r->state_path);
		return -1;
	}
	if (remove(r->state_path) != 0) {
		snprintf(errbuf, errlen, "%s: cannot delete it: %s",
			 r->state_path, strerror(errno));
		return -1;
	}
	return 0;
}

size_t nat_portres_apply(struct nat_portres *r, uint16_t lo, uint16_t hi)
{
	struct nat_portres_entry want[2] = {
		{ 6, lo, (uint16_t)(hi - lo + 1) },
		{ 17, lo, (uint16_t)(hi - lo + 1) },
	};
	char err[600], why[256];

	if (hi < lo || lo == 0)
		return 0;
	if (write_state(r, want, 2, err, sizeof(err)) != 0) {
		say(r, true,
		    "port_range %u-%u is not reserved from Windows' dynamic "
		    "ports: the reservation cannot be recorded (%s); the "
		    "host's own connections may pick a port in it and lose "
		    "their replies",
		    lo, hi, err);
		return 0;
	}
	for (size_t i = 0; i < 2; i++) {
		unsigned long code = r->ops->reserve(r->ops->ctx, want[i].proto,
						     want[i].start,
						     want[i].count);
		if (code == 0) {
			r->held[r->n_held++] = want[i];
			say(r, false,
			    "reserved %s ports %u-%u from Windows' dynamic "
			    "ports for the run",
			    proto_name(want[i].proto), lo, hi);
			continue;
		}
		r->ops->describe(r->ops->ctx, code, why, sizeof(why));
		say(r, true,
		    "cannot reserve %s ports %u-%u from Windows' dynamic "
		    "ports: %s (error %lu); the host's own %s connections may "
		    "pick a port in port_range and lose their replies to "
		    "glassnat (reason no_mapping): narrow port_range to "
		    "ports outside the dynamic range (netsh int ipv4 show "
		    "dynamicport %s), see docs/windows.md",
		    proto_name(want[i].proto), lo, hi, why, code,
		    proto_name(want[i].proto),
		    want[i].proto == 6 ? "tcp" : "udp");
	}
	if (r->n_held < 2 &&
	    write_state(r, r->held, r->n_held, err, sizeof(err)) != 0)
		say(r, true, "%s", err);
	if (r->n_held == 0)
		remove(r->state_path);
	return r->n_held;
}

void nat_portres_release(struct nat_portres *r)
{
	bool all = true;

	for (size_t i = 0; i < r->n_held; i++)
		all &= release_one(r, &r->held[i]);
	if (r->n_held == 0)
		return;
	r->n_held = 0;
	if (all)
		remove(r->state_path);
}
