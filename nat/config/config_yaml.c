/* The YAML reader under the config loader: errors, field paths, scalars,
 * addresses, ports, durations, sizes and mapping checks (config_yaml.h).
 * Every error names the node that caused it, so every function here takes
 * the node it reads. */
#include "config_yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- errors */

int cfg_fail_at(struct loader *l, yaml_mark_t m, const char *field,
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

const char *cfg_kind_name(const yaml_node_t *n)
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
void cfg_field_name(char out[CFG_FIELD_MAX], const char *prefix,
		       const char *key)
{
	char tmp[CFG_FIELD_MAX];

	join(tmp, prefix, prefix[0] ? "." : "");
	join(out, tmp, key);
}

/* "prefix[i]" with i counted from 1, as in the plan. */
void cfg_field_index(char out[CFG_FIELD_MAX], const char *prefix, size_t i)
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
bool cfg_is_null(const yaml_node_t *n)
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
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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

int cfg_get_u32(struct loader *l, const yaml_node_t *n, const char *field,
		   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (get_uint(l, n, field, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int cfg_get_bool(struct loader *l, const yaml_node_t *n, const char *field,
		    bool *out)
{
	char b[CFG_SHOW_MAX + 4];

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected true or false, got %s",
			    cfg_kind_name(n));
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

/* Copies a string scalar into buf[size]; too long is an error, never a
 * silent truncation. UTF-8 passes through byte for byte. */
int cfg_get_str(struct loader *l, const yaml_node_t *n, const char *field,
		   char *buf, size_t size, int flags)
{
	const char *s;
	size_t len;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a string, got %s",
			    cfg_kind_name(n));
	s = sval(n);
	len = cfg_is_null(n) ? 0 : slen(n);
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
int cfg_get_enum(struct loader *l, const yaml_node_t *n, const char *field,
		    const char *what, const char *const names[], size_t count,
		    size_t *out)
{
	char b[CFG_SHOW_MAX + 4], list[256];
	size_t used = 0;

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a %s name, got %s", what,
			    cfg_kind_name(n));
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
	if (cfg_is_null(n))
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

void cfg_fmt_ip(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

void cfg_fmt_cidr(const struct nat_cidr *c, char out[20])
{
	char ip[16];

	cfg_fmt_ip(c->addr, ip);
	snprintf(out, 20, "%s/%u", ip, c->len);
}

bool cfg_cidr_contains(const struct nat_cidr *c, uint32_t a)
{
	return (a & prefix_mask(c->len)) == c->addr;
}

static int get_ipv4(struct loader *l, const yaml_node_t *n, const char *field,
		    uint32_t *out)
{
	char b[CFG_SHOW_MAX + 4];

	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected an IPv4 address, got %s",
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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
int cfg_get_unicast(struct loader *l, const yaml_node_t *n,
		       const char *field, uint32_t *out)
{
	char ip[16];

	if (get_ipv4(l, n, field, out) < 0)
		return -1;
	if (*out == 0 || *out == 0xffffffffu || (*out >> 28) == 0xe) {
		cfg_fmt_ip(*out, ip);
		return fail(l, n, field, "%s is not a unicast host address",
			    ip);
	}
	return 0;
}

int cfg_get_cidr(struct loader *l, const yaml_node_t *n, const char *field,
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
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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
		cfg_fmt_cidr(out, want);
		cfg_fmt_ip(a, ip);
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
int cfg_get_port_range(struct loader *l, const yaml_node_t *n,
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
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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

int cfg_get_port(struct loader *l, const yaml_node_t *n, const char *field,
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
int cfg_get_duration(struct loader *l, const yaml_node_t *n,
			const char *field, uint32_t *out)
{
	static const char units[] = "dhms";
	static const uint64_t mult[] = { 86400, 3600, 60, 1 };
	char b[CFG_SHOW_MAX + 4];
	const char *s;
	size_t len, i = 0;
	uint64_t total = 0;
	int last = -1;

	if (n->type == YAML_SCALAR_NODE && is_plain(n) && !cfg_is_null(n) &&
	    slen(n) > 0 && strspn(sval(n), "0123456789-") == slen(n))
		return cfg_get_u32(l, n, field, 1, UINT32_MAX, out);
	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a duration, got %s",
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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
int cfg_get_size(struct loader *l, const yaml_node_t *n, const char *field,
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

	if (n->type == YAML_SCALAR_NODE && is_plain(n) && !cfg_is_null(n) &&
	    slen(n) > 0 && strspn(sval(n), "0123456789-") == slen(n))
		return get_uint(l, n, field, min, UINT64_MAX, out);
	if (n->type != YAML_SCALAR_NODE)
		return fail(l, n, field, "expected a size, got %s",
			    cfg_kind_name(n));
	if (cfg_is_null(n))
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
int cfg_read_keys(struct loader *l, const yaml_node_t *map,
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
			return cfg_fail_at(l, map->start_mark,
				       where[0] ? where : "config",
				       "broken mapping");
		if (k->type != YAML_SCALAR_NODE)
			return fail(l, k, where[0] ? where : "config",
				    "expected a key name, got %s",
				    cfg_kind_name(k));
		for (i = 0; i < nkeys; i++)
			if (slen(k) == strlen(keys[i]) &&
			    memcmp(sval(k), keys[i], slen(k)) == 0)
				break;
		cfg_field_name(f, where, show(k, b));
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
int cfg_want_mapping(struct loader *l, const yaml_node_t *n,
			const char *field)
{
	if (n->type == YAML_MAPPING_NODE)
		return 1;
	if (cfg_is_null(n))
		return 0;
	return fail(l, n, field, "expected a mapping, got %s", cfg_kind_name(n));
}

int cfg_want_sequence(struct loader *l, const yaml_node_t *n,
			 const char *field)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return 1;
	if (cfg_is_null(n))
		return 0;
	return fail(l, n, field, "expected a list, got %s", cfg_kind_name(n));
}

int cfg_missing(struct loader *l, const yaml_node_t *map, const char *where,
		   const char *key, const char *why)
{
	char f[CFG_FIELD_MAX];

	cfg_field_name(f, where, key);
	return fail(l, map, f, "required key is missing%s", why);
}
