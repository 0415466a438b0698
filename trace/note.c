/* The trace note codec (see note.h).
 *
 * Who wrote what, for the decoder's tolerance:
 *   - the tracer (trace rings, every version): stage= present, reason
 *     before rule, values percent-encoded (space, '%', '=', controls);
 *   - glassnat replay output (every version so far, TRACE_NOTE_REPLAY_V1):
 *     no stage=, rule before reason, rule names unencoded, so a name with
 *     a space spreads over several words ("rule=호스트 네트워크").
 * The decoder therefore takes a word without '=' that follows a rule= or
 * reason= value as the continuation of that value, space included. A
 * percent-encoded note never has such a word. */
#include "note.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- encoding ---- */

/* Output cursor: the one place that checks room. */
struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len <= n) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_fmt(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		o->full = true;
		return;
	}
	put(o, tmp, (size_t)n);
}

static bool needs_escape(uint8_t c)
{
	return c == ' ' || c == '%' || c == '=' || c < 0x20 || c == 0x7f;
}

size_t trace_note_encode_value(char *dst, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (!cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		bool esc = needs_escape(c);
		if (o + (esc ? 3 : 1) >= cap)
			break;
		if (esc) {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

/* " key=VALUE", the value encoded (or raw). */
static void put_kv(struct out *o, const char *key, const char *prefix,
		   const char *v, bool raw)
{
	char enc[3 * TRACE_NOTE_NAME_MAX + 1];
	size_t vl = strlen(v);
	put_str(o, " ");
	put_str(o, key);
	put_str(o, "=");
	put_str(o, prefix);
	if (raw) {
		put(o, v, vl);
		return;
	}
	if (vl >= TRACE_NOTE_NAME_MAX) { /* longer than any field */
		o->full = true;
		return;
	}
	put(o, enc, trace_note_encode_value(enc, sizeof enc, v, vl));
}

static const char *stage_name(uint8_t s)
{
	return s == TRACE_NOTE_PRE ? "pre" : s == TRACE_NOTE_POST ? "post" : "";
}

static const char *dir_name(uint8_t d)
{
	return d == TRACE_NOTE_OUT  ? "out"
	       : d == TRACE_NOTE_IN ? "in"
				    : "unknown";
}

int trace_note_encode(const struct trace_note *n, enum trace_note_form form,
		      char *buf, size_t cap)
{
	struct out o = {buf, cap, 0, cap == 0};
	bool v1 = form == TRACE_NOTE_REPLAY_V1;
	const char *fwd = n->forward ? "forward:" : "";
	if (cap)
		buf[0] = '\0';
	put_fmt(&o, "flow=%" PRIu64, n->flow);
	if (n->stage != TRACE_NOTE_STAGE_NONE)
		put_kv(&o, "stage", "", stage_name(n->stage), false);
	put_kv(&o, "dir", "", dir_name(n->dir), false);
	put_kv(&o, "verdict", "", n->verdict, false);
	if (v1 && n->has_rule)
		put_kv(&o, "rule", fwd, n->rule, true);
	if (n->reason[0])
		put_kv(&o, "reason", "", n->reason, false);
	if (!v1 && n->has_rule)
		put_kv(&o, "rule", fwd, n->rule, false);
	if (n->hairpin)
		put_str(&o, " hairpin=1");
	if (n->has_map)
		put_fmt(&o, " map=%u.%u.%u.%u:%u", n->map_ip >> 24,
			(n->map_ip >> 16) & 255, (n->map_ip >> 8) & 255,
			n->map_ip & 255, n->map_port);
	if (o.full) {
		if (cap)
			buf[0] = '\0';
		return -1;
	}
	return (int)o.len;
}

/* ---- decoding ---- */

/* A span of the input. */
struct span {
	const char *p;
	size_t len;
};

static bool span_is(struct span s, const char *lit)
{
	return strlen(lit) == s.len && memcmp(s.p, lit, s.len) == 0;
}

static void fail(char *errbuf, size_t errlen, int *rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(char *errbuf, size_t errlen, int *rc, const char *fmt, ...)
{
	va_list ap;
	if (*rc < 0)
		return; /* keep the first problem */
	*rc = -1;
	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes v into dst (cap >= 1, always terminated, cut to fit).
 * "%XY" with two hex digits becomes that byte; anything else is kept, so
 * a stray '%' in an unencoded replay name survives. */
static void pct_decode(char *dst, size_t cap, struct span v)
{
	size_t o = 0;
	for (size_t i = 0; i < v.len && o + 1 < cap; i++) {
		int hi, lo;
		if (v.p[i] == '%' && i + 2 < v.len &&
		    (hi = hexval(v.p[i + 1])) >= 0 &&
		    (lo = hexval(v.p[i + 2])) >= 0) {
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dst[o++] = v.p[i];
		}
	}
	dst[o] = '\0';
}

static bool parse_u64(struct span s, uint64_t *v)
{
	uint64_t x = 0;
	if (s.len == 0 || s.len > 20)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned)(s.p[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* "a.b.c.d:port", decimal, each part in range. */
static bool parse_map(struct span s, uint32_t *ip, uint16_t *port)
{
	uint32_t a = 0;
	size_t i = 0;
	uint64_t part;
	for (int k = 0; k < 5; k++) {
		size_t st = i;
		char sep = k < 3 ? '.' : k == 3 ? ':' : '\0';
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
			i++;
		if (i - st > 5 ||
		    !parse_u64((struct span){s.p + st, i - st}, &part))
			return false;
		if (k < 4) {
			if (part > 255 || i - st > 3)
				return false;
			a = a << 8 | (uint32_t)part;
		} else if (part > 65535) {
			return false;
		}
		if (sep) {
			if (i >= s.len || s.p[i] != sep)
				return false;
			i++;
		}
	}
	if (i != s.len)
		return false;
	*ip = a;
	*port = (uint16_t)part;
	return true;
}

/* rule= value: "forward:" marks a port forward. Checked after decoding,
 * so "forward%3Ax" and "forward:x" read alike and a decoded note encodes
 * back to what it was. */
static void set_rule(struct trace_note *n, struct span v)
{
	static const char fwd[] = "forward:";
	const size_t fl = sizeof fwd - 1;
	char tmp[sizeof fwd - 1 + TRACE_NOTE_NAME_MAX];
	const char *name = tmp;
	pct_decode(tmp, sizeof tmp, v);
	n->has_rule = true;
	n->forward = strncmp(tmp, fwd, fl) == 0;
	if (n->forward)
		name += fl;
	size_t nl = strnlen(name, sizeof n->rule - 1); /* cut to the field */
	memset(n->rule, 0, sizeof n->rule);
	memcpy(n->rule, name, nl);
}

enum last_key { LAST_OTHER, LAST_RULE, LAST_REASON };

int trace_note_decode(struct trace_note *n, const char *s, size_t len,
		      char *errbuf, size_t errlen)
{
	struct span cur = {s, s ? len : 0}; /* what is left to read */
	struct span val = {NULL, 0};	  /* the last rule/reason value */
	enum last_key last = LAST_OTHER;
	int rc = 0;

	memset(n, 0, sizeof *n);
	if (errlen)
		errbuf[0] = '\0';
	while (cur.len) {
		struct span w, k, v;
		const char *eq;
		if (*cur.p == ' ') {
			cur.p++;
			cur.len--;
			continue;
		}
		w.p = cur.p;
		while (cur.len && *cur.p != ' ') {
			cur.p++;
			cur.len--;
		}
		w.len = (size_t)(cur.p - w.p);
		eq = memchr(w.p, '=', w.len);
		if (!eq) {
			/* a replay name's unencoded space: the value goes on */
			if (last == LAST_OTHER)
				continue;
			val.len = (size_t)(cur.p - val.p);
			if (last == LAST_RULE)
				set_rule(n, val);
			else
				pct_decode(n->reason, sizeof n->reason, val);
			continue;
		}
		k = (struct span){w.p, (size_t)(eq - w.p)};
		v = (struct span){eq + 1, w.len - k.len - 1};
		last = LAST_OTHER;
		if (span_is(k, "flow")) {
			n->has_flow = parse_u64(v, &n->flow);
			if (!n->has_flow)
				fail(errbuf, errlen, &rc, "flow: bad id '%.*s'",
				     (int)(v.len > 24 ? 24 : v.len), v.p);
		} else if (span_is(k, "stage")) {
			n->stage = span_is(v, "pre")	? TRACE_NOTE_PRE
				   : span_is(v, "post") ? TRACE_NOTE_POST
							: TRACE_NOTE_STAGE_NONE;
			if (n->stage == TRACE_NOTE_STAGE_NONE)
				fail(errbuf, errlen, &rc,
				     "stage: unknown value");
		} else if (span_is(k, "dir")) {
			n->dir = span_is(v, "out")  ? TRACE_NOTE_OUT
				 : span_is(v, "in") ? TRACE_NOTE_IN
						    : TRACE_NOTE_DIR_UNKNOWN;
			if (n->dir == TRACE_NOTE_DIR_UNKNOWN &&
			    !span_is(v, "unknown"))
				fail(errbuf, errlen, &rc, "dir: unknown value");
		} else if (span_is(k, "verdict")) {
			pct_decode(n->verdict, sizeof n->verdict, v);
		} else if (span_is(k, "rule")) {
			last = LAST_RULE;
			val = v;
			set_rule(n, v);
		} else if (span_is(k, "reason")) {
			last = LAST_REASON;
			val = v;
			pct_decode(n->reason, sizeof n->reason, v);
		} else if (span_is(k, "map")) {
			n->has_map = parse_map(v, &n->map_ip, &n->map_port);
			if (!n->has_map)
				fail(errbuf, errlen, &rc, "map: bad endpoint");
		} else if (span_is(k, "hairpin")) {
			n->hairpin = span_is(v, "1");
			if (!n->hairpin && !span_is(v, "0"))
				fail(errbuf, errlen, &rc,
				     "hairpin: not 0 or 1");
		}
	}
	if (!n->has_flow)
		fail(errbuf, errlen, &rc, "no flow key");
	return rc;
}
