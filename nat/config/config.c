/* Configuration loading: YAML text -> struct nat_config, validated.
 *
 * libyaml's document API builds the node tree; this file walks it with a
 * fixed schema (every mapping level has its own key table), so the walk
 * depth is bounded by the schema and never by the input, even with
 * self-referencing aliases. Every error names the node that caused it:
 * "FILE:LINE:COLUMN: field: what is wrong" (1-based line and column; the
 * column counts characters, as libyaml does). The first error stops the
 * load. docs/config.md is the user-facing description of the schema. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CFG_FILE_MAX	   (16u << 20) /* bytes; a config is never near this */
#define CFG_KEYS_MAX	   16  /* keys in any one mapping of the schema */
#define CFG_FIELD_MAX	   160 /* "port_forward[4096].internal_port" etc. */
#define CFG_SHOW_MAX	   48  /* bytes of an offending value quoted back */
#define CFG_QUEUE_MAX	   (1u << 24)
#define CFG_FLOWS_MAX	   (1u << 24)
#define CFG_TRACE_FILE_MIN (64u << 10)

struct loader {
	const char *file;
	yaml_document_t *doc;
	struct nat_config *cfg;
	char *err;
	size_t errlen;
};

/* ---------------------------------------------------------------- errors */

static int fail_at(struct loader *l, yaml_mark_t m, const char *field,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(struct loader *l, yaml_mark_t m, const char *field,
		   const char *fmt, ...)
{
	if (l->err && l->errlen) {
		int n = snprintf(l->err, l->errlen, "%s:%zu:%zu: %s: ", l->file,
				 m.line + 1, m.column + 1, field);
		if (n >= 0 && (size_t)n < l->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

#define fail(l, node, field, ...) \
	fail_at((l), (node)->start_mark, (field), __VA_ARGS__)

/* A printable, one-line, bounded copy of a scalar for messages: control
 * bytes become '?', and a cut never splits a UTF-8 sequence. */
static const char *show_bytes(const char *s, size_t len,
			      char out[CFG_SHOW_MAX + 4])
{
	size_t n = len, i;
	bool cut = false;

	if (n > CFG_SHOW_MAX) {
		n = CFG_SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (cut) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static const char *show(const yaml_node_t *n, char out[CFG_SHOW_MAX + 4])
{
	if (n->type != YAML_SCALAR_NODE)
		return strcpy(out, "?");
	return show_bytes((const char *)n->data.scalar.value,
			  n->data.scalar.length, out);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* out = a + b, cut to CFG_FIELD_MAX - 1 bytes (field paths are short; the
 * cut only ever hits a pathological key quoted back from the input). */
static void join(char out[CFG_FIELD_MAX], const char *a, const char *b)
{
	size_t la = strnlen(a, CFG_FIELD_MAX - 1);
	size_t lb = strnlen(b, CFG_FIELD_MAX - 1 - la);

	memmove(out, a, la);
	memcpy(out + la, b, lb);
	out[la + lb] = '\0';
}

/* "prefix.key", or "key" at the top level. */
static void field_name(char out[CFG_FIELD_MAX], const char *prefix,
		       const char *key)
{
	char tmp[CFG_FIELD_MAX];

	join(tmp, prefix, prefix[0] ? "." : "");
	join(out, tmp, key);
}

/* "prefix[i]" with i counted from 1, as in the plan. */
static void field_index(char out[CFG_FIELD_MAX], const char *prefix, size_t i)
{
	char idx[32];

	snprintf(idx, sizeof idx, "[%zu]", i + 1);
	join(out, prefix, idx);
}

/* ---------------------------------------------------------------- scalars */

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML's null: an empty or ~/null plain scalar ("key:" with no value). */
static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (!is_plain(n))
		return false;
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (slen(n) == strlen(nulls[i]) &&
		    memcmp(sval(n), nulls[i], slen(n)) == 0)
			return true;
	return false;
}

static bool text_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

enum dec_result { DEC_OK, DEC_NOT_NUMBER, DEC_LEADING_ZERO, DEC_OVERFLOW };

/* Decimal digits only, the whole of s[0..len). */
static enum dec_result parse_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return DEC_NOT_NUMBER;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return DEC_NOT_NUMBER;
	if (len > 1 && s[0] == '0')
		return DEC_LEADING_ZERO;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return DEC_OVERFLOW;
		v = v * 10 + d;
	}
	*out = v;
	return DEC_OK;
}

/* Explains why s is not an unsigned decimal integer; for messages. */
static int fail_number(struct loader *l, const yaml_node_t *n,
		       const char *field, const char *what, enum dec_result r,
		       uint64_t max)
{
	char b[CFG_SHOW_MAX + 4];
	const char *s = sval(n);
	size_t len = slen(n);

	if (len > 0 && s[0] == '-')
		return fail(l, n, field, "must not be negative (got %s)",
			    show(n, b));
	if (r == DEC_OVERFLOW)
		return fail(l, n, field,
			    "%s is too large (at most %" PRIu64 ")", show(n, b),
			    max);
	if (r == DEC_LEADING_ZERO)
		return fail(l, n, field,
			    "leading zero in \"%s\" (write it in decimal "
			    "without leading zeros)",
			    show(n, b));
	if (len > 0 && s[0] >= '0' && s[0] <= '9')
		return fail(l, n, field, "trailing junk in \"%s\", expected %s",
			    show(n, b), what);
	return fail(l, n, field, "expected %s, got \"%s\"", what, show(n, b));
}

static int get_uint(struct loader *l, const yaml_node_t *n, const char *field,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	char b[CFG_SHOW_MAX + 4];
	uint64_t v;
	enum dec_result r;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected an integer, got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(l, n, field,
			    "expected an integer, got an empty value");
	if (!is_plain(n))
		return fail(l, n, field,
			    "expected an integer, got the quoted string \"%s\"",
			    show(n, b));
	r = parse_dec(sval(n), slen(n), &v);
	if (r != DEC_OK)
		return fail_number(l, n, field, "an integer", r, max);
	if (v < min || v > max)
		return fail(l, n, field,
			    "%" PRIu64 " is out of range (%" PRIu64 "..%" PRIu64
			    ")",
			    v, min, max);
	*out = v;
	return 0;
}

static int get_u32(struct loader *l, const yaml_node_t *n, const char *field,
		   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (get_uint(l, n, field, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int get_bool(struct loader *l, const yaml_node_t *n, const char *field,
		    bool *out)
{
	char b[CFG_SHOW_MAX + 4];

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected true or false, got %s",
			    kind_name(n));
	if (is_plain(n)) {
		if (text_is(sval(n), slen(n), "true") ||
		    text_is(sval(n), slen(n), "yes")) {
			*out = true;
			return 0;
		}
		if (text_is(sval(n), slen(n), "false") ||
		    text_is(sval(n), slen(n), "no")) {
			*out = false;
			return 0;
		}
	}
	return fail(l, n, field, "expected true or false, got \"%s\"",
		    show(n, b));
}

enum str_flags {
	STR_EMPTY_OK = 1, /* "" and null are allowed and mean "none" */
	STR_NO_CTRL = 2,  /* printed in logs, events and plans: one line */
};

/* Copies a string scalar into buf[size]; too long is an error, never a
 * silent truncation. UTF-8 passes through byte for byte. */
static int get_str(struct loader *l, const yaml_node_t *n, const char *field,
		   char *buf, size_t size, int flags)
{
	const char *s;
	size_t len;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a string, got %s",
			    kind_name(n));
	s = sval(n);
	len = is_null(n) ? 0 : slen(n);
	if (len == 0 && !(flags & STR_EMPTY_OK))
		return fail(l, n, field, "must not be empty");
	if (memchr(s, '\0', len))
		return fail(l, n, field, "contains a NUL byte");
	if (len >= size)
		return fail(l, n, field, "too long (%zu bytes, at most %zu)",
			    len, size - 1);
	if (flags & STR_NO_CTRL)
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return fail(l, n, field,
					    "contains a control character "
					    "(byte %zu)",
					    i + 1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

/* Case-insensitive match against names[]; *out gets the index. `what`
 * names the kind of value in the message ("action", "protocol"). */
static int get_enum(struct loader *l, const yaml_node_t *n, const char *field,
		    const char *what, const char *const names[], size_t count,
		    size_t *out)
{
	char b[CFG_SHOW_MAX + 4], list[256];
	size_t used = 0;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a %s name, got %s", what,
			    kind_name(n));
	for (size_t i = 0; i < count; i++) {
		if (text_is(sval(n), slen(n), names[i])) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (size_t i = 0; i < count && used < sizeof list; i++) {
		const char *sep = i == 0 ? ""
					 : (i + 1 == count ? " or " : ", ");
		int k = snprintf(list + used, sizeof list - used, "%s%s", sep,
				 names[i]);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	if (is_null(n))
		return fail(l, n, field, "empty value (expected %s)", list);
	return fail(l, n, field, "unknown %s \"%s\" (expected %s)", what,
		    show(n, b), list);
}

/* ---------------------------------------------------------------- addresses */

/* Dotted quad, exactly four decimal octets, no leading zeros (which
 * inet_aton would read as octal). */
static bool parse_ipv4(const char *s, size_t len, uint32_t *out)
{
	uint32_t a = 0;
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		uint64_t v;

		while (i < len && s[i] != '.')
			i++;
		if (i - start > 3 ||
		    parse_dec(s + start, i - start, &v) != DEC_OK || v > 255)
			return false;
		a = a << 8 | (uint32_t)v;
		if (part < 3) {
			if (i >= len)
				return false;
			i++; /* the dot */
		}
	}
	if (i != len)
		return false;
	*out = a;
	return true;
}

static uint32_t prefix_mask(unsigned len)
{
	return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

static void fmt_ip(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

static void fmt_cidr(const struct nat_cidr *c, char out[20])
{
	char ip[16];

	fmt_ip(c->addr, ip);
	snprintf(out, 20, "%s/%u", ip, c->len);
}

static bool cidr_contains(const struct nat_cidr *c, uint32_t a)
{
	return (a & prefix_mask(c->len)) == c->addr;
}

static int get_ipv4(struct loader *l, const yaml_node_t *n, const char *field,
		    uint32_t *out)
{
	char b[CFG_SHOW_MAX + 4];

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected an IPv4 address, got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(l, n, field,
			    "expected an IPv4 address, got an empty value");
	if (memchr(sval(n), '/', slen(n)))
		return fail(l, n, field,
			    "expected a single IPv4 address, not a network "
			    "(\"%s\")",
			    show(n, b));
	if (!parse_ipv4(sval(n), slen(n), out))
		return fail(l, n, field,
			    "\"%s\" is not an IPv4 address (expected a.b.c.d)",
			    show(n, b));
	return 0;
}

/* An address that can be a packet's source or a host's address. */
static int get_unicast(struct loader *l, const yaml_node_t *n,
		       const char *field, uint32_t *out)
{
	char ip[16];

	if (get_ipv4(l, n, field, out) < 0)
		return -1;
	if (*out == 0 || *out == 0xffffffffu || (*out >> 28) == 0xe) {
		fmt_ip(*out, ip);
		return fail(l, n, field, "%s is not a unicast host address",
			    ip);
	}
	return 0;
}

enum cidr_flags {
	CIDR_BARE_OK = 1, /* a bare address means /32 */
	CIDR_ANY_OK = 2,  /* "any" means 0.0.0.0/0 */
};

static int get_cidr(struct loader *l, const yaml_node_t *n, const char *field,
		    int flags, struct nat_cidr *out)
{
	char b[CFG_SHOW_MAX + 4], want[20], ip[16];
	const char *s, *slash;
	size_t len, alen;
	uint32_t a;
	uint64_t plen = 32;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field,
			    "expected an IPv4 network (CIDR), got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(
			l, n, field,
			"expected an IPv4 network (CIDR), got an empty value");
	s = sval(n);
	len = slen(n);
	if ((flags & CIDR_ANY_OK) && text_is(s, len, "any")) {
		out->addr = 0;
		out->len = 0;
		return 0;
	}
	slash = memchr(s, '/', len);
	alen = slash ? (size_t)(slash - s) : len;
	if (!parse_ipv4(s, alen, &a)) {
		if (flags & CIDR_BARE_OK)
			return fail(l, n, field,
				    "\"%s\" is not an IPv4 address or network "
				    "(expected a.b.c.d or a.b.c.d/len)",
				    show(n, b));
		return fail(
			l, n, field,
			"\"%s\" is not an IPv4 network (expected a.b.c.d/len)",
			show(n, b));
	}
	if (!slash) {
		if (!(flags & CIDR_BARE_OK))
			return fail(l, n, field,
				    "\"%s\" has no prefix length (expected a "
				    "network like %s/24)",
				    show(n, b), show(n, b));
	} else {
		enum dec_result r = parse_dec(slash + 1, len - alen - 1, &plen);
		if (r != DEC_OK && r != DEC_OVERFLOW)
			return fail(
				l, n, field,
				"bad prefix length in \"%s\" (expected 0..32)",
				show(n, b));
		if (r == DEC_OVERFLOW || plen > 32)
			return fail(l, n, field,
				    "prefix length in \"%s\" is out of range "
				    "(0..32)",
				    show(n, b));
	}
	out->len = (uint8_t)plen;
	out->addr = a & prefix_mask(out->len);
	if (out->addr != a) {
		fmt_cidr(out, want);
		fmt_ip(a, ip);
		return fail(l, n, field,
			    "host bits set in %s/%u, did you mean %s?", ip,
			    out->len, want);
	}
	return 0;
}

/* ---------------------------------------------------------------- ports, durations, sizes */

static int fail_range(struct loader *l, const yaml_node_t *n, const char *field)
{
	char b[CFG_SHOW_MAX + 4];
	const char *s = sval(n);

	if (slen(n) > 0 && s[0] == '-')
		return fail(l, n, field, "must not be negative (got %s)",
			    show(n, b));
	return fail(l, n, field,
		    "expected a port (1..65535) or a range like 8000-8080, got "
		    "\"%s\"",
		    show(n, b));
}

/* "N" or "A-B" (spaces around '-' allowed), or a plain integer. */
static int get_port_range(struct loader *l, const yaml_node_t *n,
			  const char *field, struct nat_port_range *out)
{
	char b[CFG_SHOW_MAX + 4];
	const char *s, *dash;
	size_t len, llen, rstart;
	uint64_t lo, hi;
	enum dec_result r;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field,
			    "expected a port or a range like 8000-8080, got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(l, n, field,
			    "expected a port or a range like 8000-8080, got an "
			    "empty value");
	s = sval(n);
	len = slen(n);
	dash = len ? memchr(s + 1, '-', len - 1) : NULL;
	if (!dash) {
		r = parse_dec(s, len, &lo);
		if (r != DEC_OK)
			return r == DEC_NOT_NUMBER
				       ? fail_range(l, n, field)
				       : fail_number(l, n, field, "a port", r,
						     65535);
		hi = lo;
	} else {
		llen = (size_t)(dash - s);
		while (llen > 0 && s[llen - 1] == ' ')
			llen--;
		rstart = (size_t)(dash - s) + 1;
		while (rstart < len && s[rstart] == ' ')
			rstart++;
		if (parse_dec(s, llen, &lo) != DEC_OK ||
		    parse_dec(s + rstart, len - rstart, &hi) != DEC_OK)
			return fail_range(l, n, field);
	}
	if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535)
		return fail(l, n, field,
			    "port %" PRIu64 " is out of range (1..65535)",
			    (lo < 1 || lo > 65535) ? lo : hi);
	if (lo > hi)
		return fail(l, n, field,
			    "inverted range %s (start must not exceed end)",
			    show(n, b));
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return 0;
}

static int get_port(struct loader *l, const yaml_node_t *n, const char *field,
		    uint16_t *out)
{
	uint64_t v;

	if (get_uint(l, n, field, 1, 65535, &v) < 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* Seconds as an integer, or "2h4m", "240s", "4m", "1d": units d h m s,
 * each at most once and in that order. */
static int get_duration(struct loader *l, const yaml_node_t *n,
			const char *field, uint32_t *out)
{
	static const char units[] = "dhms";
	static const uint64_t mult[] = { 86400, 3600, 60, 1 };
	char b[CFG_SHOW_MAX + 4];
	const char *s;
	size_t len, i = 0;
	uint64_t total = 0;
	int last = -1;

	if (n->type == YAML_SCALAR_NODE && is_plain(n) && !is_null(n) &&
	    slen(n) > 0 && strspn(sval(n), "0123456789-") == slen(n))
		return get_u32(l, n, field, 1, UINT32_MAX, out);
	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a duration, got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(l, n, field,
			    "expected a duration, got an empty value");
	s = sval(n);
	len = slen(n);
	while (i < len) {
		size_t start = i;
		uint64_t v;
		const char *u;
		int k;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || i == len)
			goto bad;
		if (i - start > 12)
			goto big;
		if (parse_dec(s + start, i - start, &v) != DEC_OK)
			goto bad;
		u = s[i] ? strchr(units, s[i]) : NULL;
		if (!u)
			goto bad;
		k = (int)(u - units);
		if (k <= last)
			goto bad;
		last = k;
		i++;
		total +=
			v * mult[k]; /* v < 10^12, total <= 2^32: no overflow */
		if (total > UINT32_MAX)
			goto big;
	}
	if (total == 0)
		return fail(l, n, field,
			    "must be at least 1 second (got \"%s\")",
			    show(n, b));
	*out = (uint32_t)total;
	return 0;
bad:
	return fail(l, n, field,
		    "bad duration \"%s\" (expected seconds, or units d h m s "
		    "in that order, like 2h4m)",
		    show(n, b));
big:
	return fail(l, n, field,
		    "duration \"%s\" is too long (at most %" PRIu32 " seconds)",
		    show(n, b), UINT32_MAX);
}

/* Bytes as an integer, or with a unit: B, KB MB GB TB (powers of 1000),
 * KiB MiB GiB TiB (powers of 1024). */
static int get_size(struct loader *l, const yaml_node_t *n, const char *field,
		    uint64_t min, uint64_t *out)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
		{ "B", 1 },
		{ "KB", 1000 },
		{ "kB", 1000 },
		{ "MB", 1000 * 1000 },
		{ "GB", 1000 * 1000 * 1000 },
		{ "TB", 1000ull * 1000 * 1000 * 1000 },
		{ "KiB", 1ull << 10 },
		{ "MiB", 1ull << 20 },
		{ "GiB", 1ull << 30 },
		{ "TiB", 1ull << 40 },
	};
	char b[CFG_SHOW_MAX + 4];
	const char *s;
	size_t len, i = 0;
	uint64_t v, total = 0;
	bool found = false;

	if (n->type == YAML_SCALAR_NODE && is_plain(n) && !is_null(n) &&
	    slen(n) > 0 && strspn(sval(n), "0123456789-") == slen(n))
		return get_uint(l, n, field, min, UINT64_MAX, out);
	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a size, got %s",
			    kind_name(n));
	if (is_null(n))
		return fail(l, n, field, "expected a size, got an empty value");
	s = sval(n);
	len = slen(n);
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (parse_dec(s, i, &v) == DEC_OK) {
		size_t j = i;
		while (j < len && s[j] == ' ')
			j++;
		for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
			if (len - j == strlen(units[k].name) &&
			    memcmp(s + j, units[k].name, len - j) == 0) {
				if (v > UINT64_MAX / units[k].mult)
					return fail(l, n, field,
						    "size \"%s\" is too large",
						    show(n, b));
				total = v * units[k].mult;
				found = true;
				break;
			}
		}
	}
	if (!found)
		return fail(l, n, field,
			    "bad size \"%s\" (expected bytes, or a number with "
			    "B, KB, MB, GB, KiB, MiB or GiB)",
			    show(n, b));
	if (total < min)
		return fail(l, n, field,
			    "%s is too small (at least %" PRIu64 " bytes)",
			    show(n, b), min);
	*out = total;
	return 0;
}

/* ---------------------------------------------------------------- mappings */

static size_t edit_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), row[CFG_FIELD_MAX + 1];

	if (la > CFG_FIELD_MAX || lb > CFG_FIELD_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Checks every key of map against keys[] (unknown and duplicate keys are
 * errors) and sets vals[i] to the value of keys[i], or NULL if absent.
 * `where` is the mapping's path ("" for the top level). */
static int read_keys(struct loader *l, const yaml_node_t *map,
		     const char *where, const char *const keys[], size_t nkeys,
		     yaml_node_t *vals[])
{
	yaml_mark_t first[CFG_KEYS_MAX];
	char f[CFG_FIELD_MAX], b[CFG_SHOW_MAX + 4];

	for (size_t i = 0; i < nkeys; i++)
		vals[i] = NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
		size_t i, best = SIZE_MAX, best_i = 0;

		if (!k || !v)
			return fail_at(l, map->start_mark,
				       where[0] ? where : "config",
				       "broken mapping");
		if (k->type != YAML_SCALAR_NODE)
			return fail(l, k, where[0] ? where : "config",
				    "expected a key name, got %s",
				    kind_name(k));
		for (i = 0; i < nkeys; i++)
			if (slen(k) == strlen(keys[i]) &&
			    memcmp(sval(k), keys[i], slen(k)) == 0)
				break;
		field_name(f, where, show(k, b));
		if (i < nkeys) {
			if (vals[i])
				return fail(l, k, f,
					    "duplicate key (first at line %zu)",
					    first[i].line + 1);
			vals[i] = v;
			first[i] = k->start_mark;
			continue;
		}
		for (size_t j = 0; j < nkeys; j++) {
			size_t d = edit_distance(sval(k), slen(k), keys[j]);
			if (d < best) {
				best = d;
				best_i = j;
			}
		}
		if (best <= 2 && best < strlen(keys[best_i]))
			return fail(l, k, f, "unknown key, did you mean %s?",
				    keys[best_i]);
		{
			char list[512];
			size_t used = 0;
			list[0] = '\0';
			for (size_t j = 0; j < nkeys && used < sizeof list;
			     j++) {
				int w = snprintf(list + used,
						 sizeof list - used, "%s%s",
						 j ? ", " : "", keys[j]);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			return fail(l, k, f, "unknown key (expected one of %s)",
				    list);
		}
	}
	return 0;
}

/* A mapping value, or null meaning "all defaults". Returns 1 if there is
 * a mapping to read, 0 for null, -1 on error. */
static int want_mapping(struct loader *l, const yaml_node_t *n,
			const char *field)
{
	if (n->type == YAML_MAPPING_NODE)
		return 1;
	if (is_null(n))
		return 0;
	return fail(l, n, field, "expected a mapping, got %s", kind_name(n));
}

static int want_sequence(struct loader *l, const yaml_node_t *n,
			 const char *field)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return 1;
	if (is_null(n))
		return 0;
	return fail(l, n, field, "expected a list, got %s", kind_name(n));
}

static int missing(struct loader *l, const yaml_node_t *map, const char *where,
		   const char *key, const char *why)
{
	char f[CFG_FIELD_MAX];

	field_name(f, where, key);
	return fail(l, map, f, "required key is missing%s", why);
}

/* ---------------------------------------------------------------- rules */

static const char *const action_names[] = { "nat", "bypass", "drop", "snat",
					    "masquerade" };
static const char *const rule_proto_names[] = { "any", "tcp", "udp", "icmp" };
static const uint8_t rule_proto_values[] = { 0, 6, 17, 1 };
static const char *const fwd_proto_names[] = { "tcp", "udp" };
static const uint8_t fwd_proto_values[] = { 6, 17 };
static const char *const filtering_names[] = { "address_and_port_dependent",
					       "address_dependent",
					       "endpoint_independent" };
static const char *const policy_names[] = { "drop", "pass" };
static const char *const format_names[] = { "text", "json" };

enum {
	R_NAME,
	R_DESCRIPTION,
	R_ACTION,
	R_PROTOCOL,
	R_SOURCE,
	R_DESTINATION,
	R_PORTS,
	R_TO_ADDRESS,
	R_IN_INTERFACE,
	R_OUT_INTERFACE,
	R_NKEYS
};
static const char *const rule_keys[R_NKEYS] = {
	"name",		"description",	 "action", "protocol",
	"source",	"destination",	 "ports",  "to_address",
	"in_interface", "out_interface",
};

static int read_rule_ports(struct loader *l, const yaml_node_t *n,
			   const char *field, struct nat_rule_cfg *r)
{
	char f[CFG_FIELD_MAX];
	size_t i = 0;

	if (n->type == YAML_SCALAR_NODE) {
		r->n_ports = 1;
		return get_port_range(l, n, field, &r->ports[0]);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(
			l, n, field,
			"expected a port, a range or a list of them, got %s",
			kind_name(n));
	if (n->data.sequence.items.top == n->data.sequence.items.start)
		return fail(l, n, field,
			    "empty list (leave ports out to match any port)");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(l->doc, *it);

		field_index(f, field, i);
		if (i >= NAT_RULE_PORTS_MAX)
			return fail(l, e, f,
				    "too many port entries (at most %d; use "
				    "ranges)",
				    NAT_RULE_PORTS_MAX);
		if (get_port_range(l, e, f, &r->ports[i]) < 0)
			return -1;
	}
	r->n_ports = (unsigned)i;
	return 0;
}

static int read_rule(struct loader *l, const yaml_node_t *map, size_t idx,
		     struct nat_rule_cfg *r)
{
	yaml_node_t *v[R_NKEYS];
	char where[CFG_FIELD_MAX], f[CFG_FIELD_MAX];
	size_t e;

	field_index(where, "rules", idx);
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, where,
			    "expected a mapping (name, destination, "
			    "action...), got %s",
			    kind_name(map));
	r->line = (unsigned)map->start_mark.line + 1;
	r->dst.addr = r->src.addr = 0;
	r->dst.len = r->src.len = 0;
	if (read_keys(l, map, where, rule_keys, R_NKEYS, v) < 0)
		return -1;

#define F(k) (field_name(f, where, rule_keys[k]), f)
	if (!v[R_NAME])
		return missing(l, map, where, "name",
			       " (every rule needs a unique name)");
	if (get_str(l, v[R_NAME], F(R_NAME), r->name, sizeof r->name,
		    STR_NO_CTRL) < 0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(l->cfg->rules[j].name, r->name) == 0)
			return fail(l, v[R_NAME], F(R_NAME),
				    "duplicate rule name \"%s\" (first used by "
				    "rules[%zu] at line %u)",
				    r->name, j + 1, l->cfg->rules[j].line);
	if (v[R_DESCRIPTION] &&
	    get_str(l, v[R_DESCRIPTION], F(R_DESCRIPTION), r->description,
		    sizeof r->description, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (!v[R_ACTION])
		return missing(l, map, where, "action",
			       " (nat, bypass, drop, snat or masquerade)");
	if (get_enum(l, v[R_ACTION], F(R_ACTION), "action", action_names, 5,
		     &e) < 0)
		return -1;
	r->action = (enum nat_action)e;
	if (v[R_PROTOCOL]) {
		if (get_enum(l, v[R_PROTOCOL], F(R_PROTOCOL), "protocol",
			     rule_proto_names, 4, &e) < 0)
			return -1;
		r->proto = rule_proto_values[e];
	}
	if (v[R_SOURCE] && get_cidr(l, v[R_SOURCE], F(R_SOURCE),
				    CIDR_BARE_OK | CIDR_ANY_OK, &r->src) < 0)
		return -1;
	if (v[R_DESTINATION] &&
	    get_cidr(l, v[R_DESTINATION], F(R_DESTINATION),
		     CIDR_BARE_OK | CIDR_ANY_OK, &r->dst) < 0)
		return -1;
	if (v[R_PORTS]) {
		if (read_rule_ports(l, v[R_PORTS], F(R_PORTS), r) < 0)
			return -1;
		if (r->proto != 6 && r->proto != 17)
			return fail(l, v[R_PORTS], F(R_PORTS),
				    "ports need protocol tcp or udp (protocol "
				    "is %s)",
				    nat_proto_name(r->proto));
	}
	if (r->action == NAT_ACT_SNAT) {
		if (!v[R_TO_ADDRESS])
			return missing(l, map, where, "to_address",
				       " (action snat needs it)");
		if (get_unicast(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
				&r->to_address) < 0)
			return -1;
	} else if (v[R_TO_ADDRESS]) {
		return fail(l, v[R_TO_ADDRESS], F(R_TO_ADDRESS),
			    "only valid with action snat (action is %s)",
			    nat_action_name(r->action));
	}
	if (v[R_IN_INTERFACE] &&
	    get_str(l, v[R_IN_INTERFACE], F(R_IN_INTERFACE), r->in_if,
		    sizeof r->in_if, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (v[R_OUT_INTERFACE] &&
	    get_str(l, v[R_OUT_INTERFACE], F(R_OUT_INTERFACE), r->out_if,
		    sizeof r->out_if, STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
#undef F
	return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top -
			n->data.sequence.items.start);
}

/* External addresses the engine reserves port pools for: nat_ip and each
 * distinct snat to_address. */
static unsigned count_ext_addrs(const struct nat_config *cfg)
{
	unsigned n = 1;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];
		if (r->action != NAT_ACT_SNAT || r->to_address == cfg->nat_ip)
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = cfg->rules[j].action == NAT_ACT_SNAT &&
			       cfg->rules[j].to_address == r->to_address;
		n += !seen;
	}
	return n;
}

static int read_rules(struct loader *l, const yaml_node_t *n)
{
	struct nat_config *cfg = l->cfg;
	size_t count;
	int r = want_sequence(l, n, "rules");

	if (r <= 0)
		return r;
	count = seq_len(n);
	if (count == 0)
		return 0;
	if (count > NAT_RULES_MAX) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[NAT_RULES_MAX]);
		return fail(l, e, "rules", "too many rules (at most %d)",
			    NAT_RULES_MAX);
	}
	cfg->rules = calloc(count, sizeof *cfg->rules);
	if (!cfg->rules)
		return fail(l, n, "rules", "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[i]);
		cfg->n_rules = i + 1;
		if (read_rule(l, e, i, &cfg->rules[i]) < 0)
			return -1;
		if (cfg->rules[i].action == NAT_ACT_SNAT &&
		    count_ext_addrs(cfg) > NAT_EXT_ADDR_MAX) {
			char field[64];
			snprintf(field, sizeof field, "rules[%zu].to_address",
				 i + 1);
			return fail(l, e, field,
				    "too many distinct snat addresses (at most "
				    "%d with nat_ip)",
				    NAT_EXT_ADDR_MAX);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- forwards */

enum {
	P_NAME,
	P_PROTOCOL,
	P_EXTERNAL_PORT,
	P_INTERNAL_IP,
	P_INTERNAL_PORT,
	P_NKEYS
};
static const char *const fwd_keys[P_NKEYS] = { "name", "protocol",
					       "external_port", "internal_ip",
					       "internal_port" };

static int read_forward(struct loader *l, const yaml_node_t *map, size_t idx,
			struct nat_forward_cfg *fw)
{
	const struct nat_config *cfg = l->cfg;
	yaml_node_t *v[P_NKEYS];
	char where[CFG_FIELD_MAX], f[CFG_FIELD_MAX], ip[16], net[20];
	size_t e;

	field_index(where, "port_forward", idx);
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, where,
			    "expected a mapping (name, protocol, "
			    "external_port, internal_ip...), got %s",
			    kind_name(map));
	fw->line = (unsigned)map->start_mark.line + 1;
	if (read_keys(l, map, where, fwd_keys, P_NKEYS, v) < 0)
		return -1;

#define F(k) (field_name(f, where, fwd_keys[k]), f)
	if (!v[P_NAME])
		return missing(l, map, where, "name",
			       " (every forward needs a unique name)");
	if (get_str(l, v[P_NAME], F(P_NAME), fw->name, sizeof fw->name,
		    STR_NO_CTRL) < 0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(cfg->forwards[j].name, fw->name) == 0)
			return fail(l, v[P_NAME], F(P_NAME),
				    "duplicate forward name \"%s\" (first used "
				    "by port_forward[%zu] at line %u)",
				    fw->name, j + 1, cfg->forwards[j].line);
	if (!v[P_PROTOCOL])
		return missing(l, map, where, "protocol", " (tcp or udp)");
	if (get_enum(l, v[P_PROTOCOL], F(P_PROTOCOL), "protocol",
		     fwd_proto_names, 2, &e) < 0)
		return -1;
	fw->proto = fwd_proto_values[e];
	if (!v[P_EXTERNAL_PORT])
		return missing(l, map, where, "external_port", "");
	if (get_port(l, v[P_EXTERNAL_PORT], F(P_EXTERNAL_PORT), &fw->ext_port) <
	    0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (cfg->forwards[j].proto == fw->proto &&
		    cfg->forwards[j].ext_port == fw->ext_port)
			return fail(l, v[P_EXTERNAL_PORT], F(P_EXTERNAL_PORT),
				    "%s/%u is already forwarded by \"%s\" "
				    "(port_forward[%zu] at line %u)",
				    nat_proto_name(fw->proto), fw->ext_port,
				    cfg->forwards[j].name, j + 1,
				    cfg->forwards[j].line);
	if (!v[P_INTERNAL_IP])
		return missing(l, map, where, "internal_ip", "");
	if (get_unicast(l, v[P_INTERNAL_IP], F(P_INTERNAL_IP), &fw->int_ip) < 0)
		return -1;
	if (!cidr_contains(&cfg->internal, fw->int_ip)) {
		fmt_ip(fw->int_ip, ip);
		fmt_cidr(&cfg->internal, net);
		return fail(l, v[P_INTERNAL_IP], F(P_INTERNAL_IP),
			    "%s is outside internal_network %s", ip, net);
	}
	fw->int_port = fw->ext_port;
	if (v[P_INTERNAL_PORT] &&
	    get_port(l, v[P_INTERNAL_PORT], F(P_INTERNAL_PORT), &fw->int_port) <
		    0)
		return -1;
#undef F
	return 0;
}

static int read_forwards(struct loader *l, const yaml_node_t *n)
{
	struct nat_config *cfg = l->cfg;
	size_t count;
	int r = want_sequence(l, n, "port_forward");

	if (r <= 0)
		return r;
	count = seq_len(n);
	if (count == 0)
		return 0;
	if (count > NAT_FORWARDS_MAX) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[NAT_FORWARDS_MAX]);
		return fail(l, e, "port_forward",
			    "too many forwards (at most %d)", NAT_FORWARDS_MAX);
	}
	cfg->forwards = calloc(count, sizeof *cfg->forwards);
	if (!cfg->forwards)
		return fail(l, n, "port_forward", "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = yaml_document_get_node(
			l->doc, n->data.sequence.items.start[i]);
		cfg->n_forwards = i + 1;
		if (read_forward(l, e, i, &cfg->forwards[i]) < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- sections */

static int read_port_range(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "start", "end" };
	yaml_node_t *v[2];
	struct nat_port_range *pr = &l->cfg->port_range;
	uint16_t lo, hi;

	if (n->type == YAML_SCALAR_NODE)
		return get_port_range(l, n, "port_range", pr);
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "port_range",
			    "expected \"START-END\" or a mapping {start, end}, "
			    "got %s",
			    kind_name(n));
	if (read_keys(l, n, "port_range", keys, 2, v) < 0)
		return -1;
	if (!v[0])
		return missing(l, n, "port_range", "start", "");
	if (!v[1])
		return missing(l, n, "port_range", "end", "");
	if (get_port(l, v[0], "port_range.start", &lo) < 0 ||
	    get_port(l, v[1], "port_range.end", &hi) < 0)
		return -1;
	if (lo > hi)
		return fail(l, n, "port_range",
			    "inverted range %u-%u (start must not exceed end)",
			    lo, hi);
	pr->lo = lo;
	pr->hi = hi;
	return 0;
}

static int read_timeouts(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "tcp_established",
					    "tcp_transitory",
					    "tcp_time_wait",
					    "tcp_closed",
					    "udp",
					    "icmp" };
	struct nat_timeouts *t = &l->cfg->timeouts;
	uint32_t *dst[] = { &t->tcp_established,
			    &t->tcp_transitory,
			    &t->tcp_time_wait,
			    &t->tcp_closed,
			    &t->udp,
			    &t->icmp };
	yaml_node_t *v[6];
	char f[CFG_FIELD_MAX];
	int r = want_mapping(l, n, "timeouts");

	if (r <= 0)
		return r;
	if (read_keys(l, n, "timeouts", keys, 6, v) < 0)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		field_name(f, "timeouts", keys[i]);
		if (v[i] && get_duration(l, v[i], f, dst[i]) < 0)
			return -1;
	}
	return 0;
}

static int read_limits(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "max_flows", "max_flows_per_host" };
	struct nat_limits *lim = &l->cfg->limits;
	yaml_node_t *v[2];
	int r = want_mapping(l, n, "limits");

	if (r <= 0)
		return r;
	if (read_keys(l, n, "limits", keys, 2, v) < 0)
		return -1;
	if (v[0] && get_u32(l, v[0], "limits.max_flows", 1, CFG_FLOWS_MAX,
			    &lim->max_flows) < 0)
		return -1;
	if (v[1] && get_u32(l, v[1], "limits.max_flows_per_host", 0,
			    CFG_FLOWS_MAX, &lim->max_flows_per_host) < 0)
		return -1;
	return 0;
}

static int read_policies(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "fragments", "ipv6",
					    "other_protocols",
					    "unmatched_inbound" };
	struct nat_policies *p = &l->cfg->policies;
	enum nat_policy *dst[] = { &p->fragments, &p->ipv6, &p->other_protocols,
				   &p->unmatched_inbound };
	yaml_node_t *v[4];
	char f[CFG_FIELD_MAX];
	size_t e;
	int r = want_mapping(l, n, "policies");

	if (r <= 0)
		return r;
	if (read_keys(l, n, "policies", keys, 4, v) < 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (!v[i])
			continue;
		field_name(f, "policies", keys[i]);
		if (get_enum(l, v[i], f, "policy", policy_names, 2, &e) < 0)
			return -1;
		*dst[i] = (enum nat_policy)e;
	}
	return 0;
}

static int read_trace(struct loader *l, const yaml_node_t *n)
{
	enum {
		T_ENABLED,
		T_DIR,
		T_FILTER,
		T_FILE_SIZE,
		T_FILES,
		T_MAX_PKTS,
		T_QUEUE,
		T_NKEYS
	};
	static const char *const keys[T_NKEYS] = {
		"enabled",   "dir",   "filter",
		"file_size", "files", "max_packets_per_flow",
		"queue"
	};
	struct nat_trace_cfg *t = &l->cfg->trace;
	yaml_node_t *v[T_NKEYS];
	int r = want_mapping(l, n, "trace");

	if (r <= 0)
		return r;
	if (read_keys(l, n, "trace", keys, T_NKEYS, v) < 0)
		return -1;
	if (v[T_ENABLED] &&
	    get_bool(l, v[T_ENABLED], "trace.enabled", &t->enabled) < 0)
		return -1;
	if (v[T_DIR] && get_str(l, v[T_DIR], "trace.dir", t->dir, sizeof t->dir,
				STR_EMPTY_OK) < 0)
		return -1;
	if (v[T_FILTER] &&
	    get_str(l, v[T_FILTER], "trace.filter", t->filter, sizeof t->filter,
		    STR_EMPTY_OK | STR_NO_CTRL) < 0)
		return -1;
	if (v[T_FILE_SIZE] && get_size(l, v[T_FILE_SIZE], "trace.file_size",
				       CFG_TRACE_FILE_MIN, &t->file_size) < 0)
		return -1;
	if (v[T_FILES] &&
	    get_u32(l, v[T_FILES], "trace.files", 1, 100000, &t->files) < 0)
		return -1;
	if (v[T_MAX_PKTS] &&
	    get_u32(l, v[T_MAX_PKTS], "trace.max_packets_per_flow", 0,
		    UINT32_MAX, &t->max_packets_per_flow) < 0)
		return -1;
	if (v[T_QUEUE] && get_u32(l, v[T_QUEUE], "trace.queue", 1,
				  CFG_QUEUE_MAX, &t->queue) < 0)
		return -1;
	return 0;
}

static int read_logging(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "events", "format", "verbose",
					    "queue" };
	struct nat_logging_cfg *g = &l->cfg->logging;
	yaml_node_t *v[4];
	size_t e;
	int r = want_mapping(l, n, "logging");

	if (r <= 0)
		return r;
	if (read_keys(l, n, "logging", keys, 4, v) < 0)
		return -1;
	if (v[0] && get_str(l, v[0], "logging.events", g->events,
			    sizeof g->events, STR_EMPTY_OK) < 0)
		return -1;
	if (v[1]) {
		if (get_enum(l, v[1], "logging.format", "format", format_names,
			     2, &e) < 0)
			return -1;
		g->format = (enum nat_log_format)e;
	}
	if (v[2] && get_bool(l, v[2], "logging.verbose", &g->verbose) < 0)
		return -1;
	if (v[3] &&
	    get_u32(l, v[3], "logging.queue", 1, CFG_QUEUE_MAX, &g->queue) < 0)
		return -1;
	return 0;
}

enum {
	K_NAT_IP,
	K_INTERNAL_NETWORK,
	K_HOST_INTERNAL_IP,
	K_RULES,
	K_PORT_FORWARD,
	K_FILTERING,
	K_PORT_PRESERVATION,
	K_PORT_RANGE,
	K_TIMEOUTS,
	K_LIMITS,
	K_POLICIES,
	K_TRACE,
	K_LOGGING,
	K_CONTROL_SOCKET,
	K_STATE_FILE,
	K_NKEYS
};
static const char *const top_keys[K_NKEYS] = {
	"nat_ip",	"internal_network", "host_internal_ip",	 "rules",
	"port_forward", "filtering",	    "port_preservation", "port_range",
	"timeouts",	"limits",	    "policies",		 "trace",
	"logging",	"control_socket",   "state_file",
};

static int read_root(struct loader *l, const yaml_node_t *root)
{
	struct nat_config *cfg = l->cfg;
	yaml_node_t *v[K_NKEYS];
	char ip[16], net[20];
	size_t e;

	if (root->type != YAML_MAPPING_NODE)
		return fail(l, root, "config",
			    "expected a mapping of keys (nat_ip: ...), got %s",
			    kind_name(root));
	if (read_keys(l, root, "", top_keys, K_NKEYS, v) < 0)
		return -1;

	if (!v[K_NAT_IP])
		return missing(l, root, "", "nat_ip",
			       " (the outside address to translate to)");
	if (get_unicast(l, v[K_NAT_IP], "nat_ip", &cfg->nat_ip) < 0)
		return -1;
	if (!v[K_INTERNAL_NETWORK])
		return missing(l, root, "", "internal_network",
			       " (the inside network, a.b.c.d/len)");
	if (get_cidr(l, v[K_INTERNAL_NETWORK], "internal_network", 0,
		     &cfg->internal) < 0)
		return -1;
	if (cidr_contains(&cfg->internal, cfg->nat_ip)) {
		fmt_ip(cfg->nat_ip, ip);
		fmt_cidr(&cfg->internal, net);
		return fail(l, v[K_NAT_IP], "nat_ip",
			    "%s is inside internal_network %s (the NAT address "
			    "must be outside)",
			    ip, net);
	}
	if (v[K_HOST_INTERNAL_IP] && !is_null(v[K_HOST_INTERNAL_IP])) {
		if (get_unicast(l, v[K_HOST_INTERNAL_IP], "host_internal_ip",
				&cfg->host_internal_ip) < 0)
			return -1;
		if (!cidr_contains(&cfg->internal, cfg->host_internal_ip)) {
			fmt_ip(cfg->host_internal_ip, ip);
			fmt_cidr(&cfg->internal, net);
			return fail(
				l, v[K_HOST_INTERNAL_IP], "host_internal_ip",
				"%s is outside internal_network %s", ip, net);
		}
		cfg->has_host_internal_ip = true;
	}
	if (v[K_RULES] && read_rules(l, v[K_RULES]) < 0)
		return -1;
	if (v[K_PORT_FORWARD] && read_forwards(l, v[K_PORT_FORWARD]) < 0)
		return -1;
	if (v[K_FILTERING]) {
		if (get_enum(l, v[K_FILTERING], "filtering", "filtering",
			     filtering_names, 3, &e) < 0)
			return -1;
		cfg->filtering = (enum nat_filtering)e;
	}
	if (v[K_PORT_PRESERVATION] &&
	    get_bool(l, v[K_PORT_PRESERVATION], "port_preservation",
		     &cfg->port_preservation) < 0)
		return -1;
	if (v[K_PORT_RANGE] && read_port_range(l, v[K_PORT_RANGE]) < 0)
		return -1;
	if (v[K_TIMEOUTS] && read_timeouts(l, v[K_TIMEOUTS]) < 0)
		return -1;
	if (v[K_LIMITS] && read_limits(l, v[K_LIMITS]) < 0)
		return -1;
	if (v[K_POLICIES] && read_policies(l, v[K_POLICIES]) < 0)
		return -1;
	if (v[K_TRACE] && read_trace(l, v[K_TRACE]) < 0)
		return -1;
	if (v[K_LOGGING] && read_logging(l, v[K_LOGGING]) < 0)
		return -1;
	if (v[K_CONTROL_SOCKET] &&
	    get_str(l, v[K_CONTROL_SOCKET], "control_socket",
		    cfg->control_socket, sizeof cfg->control_socket, 0) < 0)
		return -1;
	if (v[K_STATE_FILE] &&
	    get_str(l, v[K_STATE_FILE], "state_file", cfg->state_file,
		    sizeof cfg->state_file, STR_EMPTY_OK) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- loading */

/* libyaml's reader reports a byte offset, not a mark: turn it into one. */
static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t off)
{
	yaml_mark_t m = { 0, 0, 0 };

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	m.index = off;
	return m;
}

static int fail_yaml(struct loader *l, const yaml_parser_t *p, const char *text,
		     size_t len)
{
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail_at(l, m, "yaml", "out of memory");
	case YAML_READER_ERROR:
		m = mark_of_offset(text, len, p->problem_offset);
		if (p->problem_value != -1)
			return fail_at(l, m, "yaml", "%s (byte 0x%02X)",
				       problem, p->problem_value);
		return fail_at(l, m, "yaml", "%s", problem);
	default:
		if (p->context)
			return fail_at(
				l, m, "yaml", "%s (%s at line %zu, column %zu)",
				problem, p->context, p->context_mark.line + 1,
				p->context_mark.column + 1);
		return fail_at(l, m, "yaml", "%s", problem);
	}
}

static bool root_is_empty(yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	return !root || is_null(root);
}

int nat_config_load_mem(const char *name, const char *text, size_t len,
			struct nat_config *cfg, char *errbuf, size_t errlen)
{
	struct loader l = { name ? name : "<memory>", NULL, cfg, errbuf,
			    errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_mark_t start = { 0, 0, 0 };
	int rc = -1;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!text)
		len = 0;
	if (!text || len == 0)
		text = "";
	nat_config_defaults(cfg);
	if (strlen(l.file) >= sizeof cfg->path)
		return fail_at(&l, start, "config",
			       "file name too long (at most %zu bytes)",
			       sizeof cfg->path - 1);
	snprintf(cfg->path, sizeof cfg->path, "%s", l.file);
	if (!yaml_parser_initialize(&parser))
		return fail_at(&l, start, "yaml", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		fail_yaml(&l, &parser, text, len);
		yaml_parser_delete(&parser);
		return -1;
	}
	l.doc = &doc;
	if (root_is_empty(&doc)) {
		fail_at(&l, start, "config",
			"empty file (expected at least nat_ip and "
			"internal_network)");
		goto out;
	}
	/* A second document would be silently ignored by a reader that stops
	 * at the first; say so instead. Syntax errors there count too. */
	if (!yaml_parser_load(&parser, &extra)) {
		fail_yaml(&l, &parser, text, len);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		fail_at(&l, yaml_document_get_root_node(&extra)->start_mark,
			"config",
			"more than one YAML document (a config is one "
			"document)");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	rc = read_root(&l, yaml_document_get_root_node(&doc));
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc < 0)
		nat_config_free(cfg);
	return rc;
}

int nat_config_load(const char *path, struct nat_config *cfg, char *errbuf,
		    size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	nat_config_defaults(cfg);
	if (errbuf && errlen)
		errbuf[0] = '\0';
	f = fopen(path, "rb");
	if (!f) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: cannot open: %s", path,
				 strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;
			if (cap >= CFG_FILE_MAX) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: too large (at most %u "
						 "bytes)",
						 path, CFG_FILE_MAX);
				free(buf);
				fclose(f);
				return -1;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: out of memory", path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				if (errbuf && errlen)
					snprintf(errbuf, errlen,
						 "%s: cannot read: %s", path,
						 strerror(errno));
				free(buf);
				fclose(f);
				return -1;
			}
			break;
		}
	}
	fclose(f);
	rc = nat_config_load_mem(path, buf ? buf : "", len, cfg, errbuf,
				 errlen);
	free(buf);
	return rc;
}

void nat_config_defaults(struct nat_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->filtering = NAT_FILTER_ADDR_PORT;
	cfg->port_preservation = true;
	cfg->port_range.lo = 40000;
	cfg->port_range.hi = 60000;
	cfg->timeouts.tcp_established = 7440;
	cfg->timeouts.tcp_transitory = 240;
	cfg->timeouts.tcp_time_wait = 120;
	cfg->timeouts.tcp_closed = 10;
	cfg->timeouts.udp = 120;
	cfg->timeouts.icmp = 60;
	cfg->limits.max_flows = 65536;
	cfg->limits.max_flows_per_host = 0;
	cfg->policies.fragments = NAT_POLICY_DROP;
	cfg->policies.ipv6 = NAT_POLICY_PASS;
	cfg->policies.other_protocols = NAT_POLICY_DROP;
	cfg->policies.unmatched_inbound = NAT_POLICY_DROP;
	cfg->trace.file_size = 64ull << 20;
	cfg->trace.files = 8;
	cfg->trace.queue = 65536;
	cfg->logging.format = NAT_LOG_TEXT;
	cfg->logging.queue = 65536;
	snprintf(cfg->control_socket, sizeof cfg->control_socket, "%s",
		 NAT_CONTROL_SOCKET_DEFAULT);
	snprintf(cfg->state_file, sizeof cfg->state_file, "%s",
		 NAT_STATE_FILE_DEFAULT);
}

void nat_config_free(struct nat_config *cfg)
{
	free(cfg->rules);
	cfg->rules = NULL;
	cfg->n_rules = 0;
	free(cfg->forwards);
	cfg->forwards = NULL;
	cfg->n_forwards = 0;
}

/* ---------------------------------------------------------------- names and plan */

const char *nat_action_name(enum nat_action a)
{
	if ((unsigned)a < sizeof action_names / sizeof action_names[0])
		return action_names[a];
	return "?";
}

const char *nat_filtering_name(enum nat_filtering f)
{
	if ((unsigned)f < sizeof filtering_names / sizeof filtering_names[0])
		return filtering_names[f];
	return "?";
}

const char *nat_proto_name(uint8_t proto)
{
	switch (proto) {
	case 0:
		return "any";
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		return "?";
	}
}

static const char *policy_name(enum nat_policy p)
{
	return p == NAT_POLICY_PASS ? "pass" : "drop";
}

/* 7440 -> "2h4m", 240 -> "4m", 90 -> "1m30s". */
static void fmt_duration(uint32_t s, char out[32])
{
	static const uint32_t mult[] = { 86400, 3600, 60, 1 };
	static const char units[] = "dhms";
	size_t used = 0;

	snprintf(out, 32, "0s");
	for (int i = 0; i < 4 && s; i++) {
		uint32_t q = s / mult[i];
		if (q == 0)
			continue;
		s -= q * mult[i];
		used += (size_t)snprintf(out + used, 32 - used, "%" PRIu32 "%c",
					 q, units[i]);
	}
}

static void fmt_bytes(uint64_t b, char out[32])
{
	if (b >= (1ull << 30) && b % (1ull << 30) == 0)
		snprintf(out, 32, "%" PRIu64 " GiB", b >> 30);
	else if (b >= (1ull << 20) && b % (1ull << 20) == 0)
		snprintf(out, 32, "%" PRIu64 " MiB", b >> 20);
	else if (b >= (1ull << 10) && b % (1ull << 10) == 0)
		snprintf(out, 32, "%" PRIu64 " KiB", b >> 10);
	else
		snprintf(out, 32, "%" PRIu64 " bytes", b);
}

static void print_rule(FILE *out, size_t i, const struct nat_rule_cfg *r,
		       uint32_t nat_ip)
{
	char a[20], ip[16];

	fprintf(out, "  %zu. %s ", i + 1, r->name);
	if (r->proto)
		fprintf(out, " %s", nat_proto_name(r->proto));
	if (r->in_if[0])
		fprintf(out, " in %s", r->in_if);
	if (r->out_if[0])
		fprintf(out, " out %s", r->out_if);
	if (r->src.len) {
		fmt_cidr(&r->src, a);
		fprintf(out, " src %s", a);
	}
	fmt_cidr(&r->dst, a);
	fprintf(out, " dst %s", a);
	for (unsigned k = 0; k < r->n_ports; k++) {
		fprintf(out, "%s%u", k ? "," : " ports ", r->ports[k].lo);
		if (r->ports[k].hi != r->ports[k].lo)
			fprintf(out, "-%u", r->ports[k].hi);
	}
	fprintf(out, " -> %s", nat_action_name(r->action));
	if (r->action == NAT_ACT_NAT) {
		fmt_ip(nat_ip, ip);
		fprintf(out, " (as %s)", ip);
	} else if (r->action == NAT_ACT_SNAT) {
		fmt_ip(r->to_address, ip);
		fprintf(out, " (as %s)", ip);
	} else if (r->action == NAT_ACT_MASQUERADE) {
		fprintf(out, " (as the out interface's address)");
	}
	fprintf(out, "  (line %u)\n", r->line);
	if (r->description[0])
		fprintf(out, "     %s\n", r->description);
}

void nat_config_print_plan(FILE *out, const struct nat_config *cfg,
			   size_t reserved_bytes)
{
	const struct nat_timeouts *t = &cfg->timeouts;
	const char *tnames[] = { "tcp_established",
				 "tcp_transitory",
				 "tcp_time_wait",
				 "tcp_closed",
				 "udp",
				 "icmp" };
	const uint32_t tvals[] = { t->tcp_established,
				   t->tcp_transitory,
				   t->tcp_time_wait,
				   t->tcp_closed,
				   t->udp,
				   t->icmp };
	char ip[16], net[20], d[32];

	fprintf(out, "glassnat plan for %s\n",
		cfg->path[0] ? cfg->path : "(memory)");
	fmt_ip(cfg->nat_ip, ip);
	fprintf(out, "  nat_ip            %s\n", ip);
	fmt_cidr(&cfg->internal, net);
	fprintf(out, "  internal_network  %s (%" PRIu64 " addresses)\n", net,
		(uint64_t)1 << (32 - cfg->internal.len));
	if (cfg->has_host_internal_ip) {
		fmt_ip(cfg->host_internal_ip, ip);
		fprintf(out, "  host_internal_ip  %s (never translated)\n", ip);
	} else {
		fprintf(out, "  host_internal_ip  (none)\n");
	}

	if (cfg->n_rules == 0) {
		fprintf(out, "rules: (none)\n");
	} else {
		fprintf(out, "rules (first match, on the first packet of a "
			     "flow):\n");
		for (size_t i = 0; i < cfg->n_rules; i++)
			print_rule(out, i, &cfg->rules[i], cfg->nat_ip);
	}

	if (cfg->n_forwards == 0) {
		fprintf(out, "forwards: (none)\n");
	} else {
		fprintf(out, "forwards (inbound to nat_ip, DNAT):\n");
		for (size_t i = 0; i < cfg->n_forwards; i++) {
			const struct nat_forward_cfg *fw = &cfg->forwards[i];
			fmt_ip(fw->int_ip, ip);
			fprintf(out, "  %s/%u -> %s:%u  \"%s\"\n",
				nat_proto_name(fw->proto), fw->ext_port, ip,
				fw->int_port, fw->name);
		}
	}

	fprintf(out, "translation:\n");
	fprintf(out, "  filtering          %s\n",
		nat_filtering_name(cfg->filtering));
	fprintf(out, "  port_preservation  %s\n",
		cfg->port_preservation ? "yes" : "no");
	fprintf(out, "  port_range         %u-%u (%u ports)\n",
		cfg->port_range.lo, cfg->port_range.hi,
		(unsigned)(cfg->port_range.hi - cfg->port_range.lo + 1));

	fprintf(out, "timeouts:\n");
	for (size_t i = 0; i < 6; i++) {
		fmt_duration(tvals[i], d);
		fprintf(out, "  %-17s  %" PRIu32 " s (%s)\n", tnames[i],
			tvals[i], d);
	}

	fprintf(out, "limits:\n");
	fprintf(out, "  max_flows          %" PRIu32 "\n",
		cfg->limits.max_flows);
	if (cfg->limits.max_flows_per_host)
		fprintf(out,
			"  max_flows_per_host %" PRIu32
			" (least recently used evicted)\n",
			cfg->limits.max_flows_per_host);
	else
		fprintf(out, "  max_flows_per_host none\n");

	fprintf(out, "policies:\n");
	fprintf(out, "  fragments          %s\n",
		policy_name(cfg->policies.fragments));
	fprintf(out, "  ipv6               %s\n",
		policy_name(cfg->policies.ipv6));
	fprintf(out, "  other_protocols    %s\n",
		policy_name(cfg->policies.other_protocols));
	fprintf(out, "  unmatched_inbound  %s\n",
		policy_name(cfg->policies.unmatched_inbound));

	if (cfg->trace.enabled) {
		fmt_bytes(cfg->trace.file_size, d);
		fprintf(out, "trace: on\n");
		fprintf(out, "  dir                %s\n",
			cfg->trace.dir[0] ? cfg->trace.dir : "(from --trace)");
		fprintf(out, "  filter             %s\n",
			cfg->trace.filter[0] ? cfg->trace.filter
					     : "(all packets)");
		fprintf(out, "  files              %" PRIu32 " x %s\n",
			cfg->trace.files, d);
		if (cfg->trace.max_packets_per_flow)
			fprintf(out, "  max_packets_per_flow %" PRIu32 "\n",
				cfg->trace.max_packets_per_flow);
		else
			fprintf(out, "  max_packets_per_flow no cap\n");
		fprintf(out, "  queue              %" PRIu32 " records\n",
			cfg->trace.queue);
	} else {
		fprintf(out, "trace: off\n");
	}

	fprintf(out, "logging:\n");
	fprintf(out, "  events             %s\n",
		!cfg->logging.events[0]			? "(none)"
		: strcmp(cfg->logging.events, "-") == 0 ? "stdout"
							: cfg->logging.events);
	fprintf(out, "  format             %s%s\n",
		cfg->logging.format == NAT_LOG_JSON ? "json" : "text",
		cfg->logging.verbose ? ", verbose" : "");
	fprintf(out, "  queue              %" PRIu32 " records\n",
		cfg->logging.queue);
	fprintf(out, "control_socket       %s\n", cfg->control_socket);
	fprintf(out, "state_file           %s\n",
		cfg->state_file[0] ? cfg->state_file : "(none)");
	fprintf(out,
		"memory reserved: %zu bytes (%.1f MiB) for %" PRIu32 " flows\n",
		reserved_bytes, (double)reserved_bytes / (1024.0 * 1024.0),
		cfg->limits.max_flows);
}
