/* natdump's output: one large buffer, filled by hand-rolled formatters and
 * written when full. printf per field would cost more than decoding. */
#include "nd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OUT_CAP = 1u << 20, OUT_SLACK = 512 };

void nd_out_init(struct nd_out *o, FILE *f)
{
	o->f = f;
	o->len = 0;
	o->cap = OUT_CAP;
	o->failed = false;
	o->buf = malloc(OUT_CAP);
	if (!o->buf) {
		o->cap = 0;
		o->failed = true;
	}
}

void nd_out_flush(struct nd_out *o)
{
	if (o->len && !o->failed && fwrite(o->buf, 1, o->len, o->f) != o->len)
		o->failed = true;
	o->len = 0;
}

int nd_out_finish(struct nd_out *o)
{
	nd_out_flush(o);
	if (fflush(o->f) != 0)
		o->failed = true;
	free(o->buf);
	o->buf = NULL;
	o->cap = 0;
	return o->failed ? -1 : 0;
}

/* Room for n more bytes (n <= OUT_CAP), flushing first if needed. */
static char *room(struct nd_out *o, size_t n)
{
	if (o->len + n > o->cap)
		nd_out_flush(o);
	if (n > o->cap)
		return NULL;
	return o->buf + o->len;
}

void nd_putn(struct nd_out *o, const char *s, size_t n)
{
	while (n) {
		size_t k = n < o->cap ? n : o->cap;
		char *d = room(o, k);
		if (!d)
			return;
		memcpy(d, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

void nd_puts(struct nd_out *o, const char *s)
{
	nd_putn(o, s, strlen(s));
}

void nd_putc(struct nd_out *o, char c)
{
	char *d = room(o, 1);
	if (d) {
		*d = c;
		o->len++;
	}
}

void nd_u64(struct nd_out *o, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	char *d;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	d = room(o, n);
	if (!d)
		return;
	for (size_t i = 0; i < n; i++)
		d[i] = tmp[n - 1 - i];
	o->len += n;
}

/* Decimal octets without division: a table of "0".."255". */
static const char *octet(unsigned v, size_t *len)
{
	static char tab[256][4];
	static bool ready;
	if (!ready) {
		for (unsigned i = 0; i < 256; i++) {
			char *t = tab[i];
			if (i >= 100)
				*t++ = (char)('0' + i / 100);
			if (i >= 10)
				*t++ = (char)('0' + i / 10 % 10);
			*t++ = (char)('0' + i % 10);
			*t = '\0';
		}
		ready = true;
	}
	*len = v >= 100 ? 3 : v >= 10 ? 2 : 1;
	return tab[v];
}

void nd_ip(struct nd_out *o, uint32_t ip)
{
	char *d = room(o, 16);
	if (!d)
		return;
	for (int i = 3; i >= 0; i--) {
		size_t n;
		const char *s = octet((ip >> (i * 8)) & 0xff, &n);
		memcpy(d, s, n);
		d += n;
		if (i)
			*d++ = '.';
	}
	o->len = (size_t)(d - o->buf);
}

void nd_ipport(struct nd_out *o, uint32_t ip, uint16_t port)
{
	nd_ip(o, ip);
	nd_putc(o, ':');
	nd_u64(o, port);
}

static void put_dec(char *d, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		d[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void nd_time(struct nd_out *o, uint64_t ts_ns)
{
	/* the date part is recomputed only when the second changes */
	static uint64_t last_sec = UINT64_MAX;
	static char date[21]; /* "YYYY-mm-ddTHH:MM:SS." */
	uint64_t sec = ts_ns / 1000000000u;
	char *d;
	if (sec != last_sec) {
		struct tm tm;
		time_t t = (time_t)sec;
		if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 ||
		    tm.tm_year + 1900 < 0)
			memset(&tm, 0, sizeof tm);
		put_dec(date, (unsigned)(tm.tm_year + 1900), 4);
		date[4] = '-';
		put_dec(date + 5, (unsigned)tm.tm_mon + 1, 2);
		date[7] = '-';
		put_dec(date + 8, (unsigned)tm.tm_mday, 2);
		date[10] = 'T';
		put_dec(date + 11, (unsigned)tm.tm_hour, 2);
		date[13] = ':';
		put_dec(date + 14, (unsigned)tm.tm_min, 2);
		date[16] = ':';
		put_dec(date + 17, (unsigned)tm.tm_sec, 2);
		date[19] = '.';
		last_sec = sec;
	}
	d = room(o, 30);
	if (!d)
		return;
	memcpy(d, date, 20);
	put_dec(d + 20, (unsigned)(ts_ns % 1000000000u), 9);
	d[29] = 'Z';
	o->len += 30;
}

void nd_json_str(struct nd_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	nd_putc(o, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			nd_putc(o, '\\');
			nd_putc(o, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4],
				     hex[c & 15]};
			nd_putn(o, e, 6);
		} else {
			nd_putc(o, (char)c);
		}
	}
	nd_putc(o, '"');
}

void nd_pad(struct nd_out *o, size_t line_start, size_t col)
{
	size_t at = o->len >= line_start ? o->len - line_start : 0;
	nd_putc(o, ' ');
	for (at++; at < col; at++)
		nd_putc(o, ' ');
}

const char *nd_proto_name(uint8_t proto, char *buf)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default: {
		unsigned v = proto;
		char *b = buf;
		*b++ = 'p';
		if (v >= 100)
			*b++ = (char)('0' + v / 100);
		if (v >= 10)
			*b++ = (char)('0' + v / 10 % 10);
		*b++ = (char)('0' + v % 10);
		*b = '\0';
		return buf;
	}
	}
}

void nd_tcp_flags(struct nd_out *o, uint8_t f)
{
	nd_putc(o, '[');
	if (f & 0x02)
		nd_putc(o, 'S');
	if (f & 0x01)
		nd_putc(o, 'F');
	if (f & 0x04)
		nd_putc(o, 'R');
	if (f & 0x08)
		nd_putc(o, 'P');
	if (f & 0x20)
		nd_putc(o, 'U');
	if (f & 0x10)
		nd_putc(o, '.');
	nd_putc(o, ']');
}

/* ---- records ---- */

static void text_tuple(struct nd_out *o, const struct nd_hdr *h)
{
	if (!h->ip) {
		nd_puts(o, "non-ip");
		return;
	}
	if (h->ports) {
		nd_ipport(o, h->src, h->sport);
		nd_puts(o, " > ");
		nd_ipport(o, h->dst, h->dport);
	} else {
		nd_ip(o, h->src);
		nd_puts(o, " > ");
		nd_ip(o, h->dst);
	}
}

static void json_tuple(struct nd_out *o, const struct nd_hdr *h)
{
	nd_puts(o, "{\"src\":\"");
	nd_ip(o, h->src);
	nd_puts(o, "\",\"dst\":\"");
	nd_ip(o, h->dst);
	nd_putc(o, '"');
	if (h->ports) {
		nd_puts(o, ",\"sport\":");
		nd_u64(o, h->sport);
		nd_puts(o, ",\"dport\":");
		nd_u64(o, h->dport);
	}
	nd_putc(o, '}');
}

/* A value in its text form; JSON quotes the kinds that are strings. */
static void put_value(struct nd_out *o, const struct nd_field *f, bool json)
{
	bool quote = json && f->kind != ND_F_U64 && f->kind != ND_F_RAW;
	switch (f->kind) {
	case ND_F_STR:
		if (json) {
			nd_json_str(o, f->s);
			return;
		}
		break;
	case ND_F_TUPLE:
		if (json)
			json_tuple(o, f->h);
		else
			text_tuple(o, f->h);
		return;
	case ND_F_EP:
		if (json) {
			nd_puts(o, "{\"ip\":\"");
			nd_ip(o, f->ip);
			nd_puts(o, "\",\"port\":");
			nd_u64(o, f->port);
			nd_putc(o, '}');
		} else if (f->ports) {
			nd_ipport(o, f->ip, f->port);
		} else {
			nd_ip(o, f->ip);
		}
		return;
	case ND_F_TRUE:
		if (json)
			nd_puts(o, "true");
		return;
	default:
		break;
	}
	if (quote)
		nd_putc(o, '"');
	switch (f->kind) {
	case ND_F_U64:
		nd_u64(o, f->u);
		break;
	case ND_F_TIME:
		nd_time(o, f->u);
		break;
	case ND_F_IPPORT:
		nd_ipport(o, f->ip, f->port);
		break;
	case ND_F_TCPFLAGS:
		nd_tcp_flags(o, f->flags);
		break;
	default: /* STR (text), WORD, RAW */
		nd_puts(o, f->s);
		break;
	}
	if (quote)
		nd_putc(o, '"');
}

void nd_record(struct nd_out *o, const struct nd_field *f, size_t n,
	       bool json)
{
	bool first = true;
	if (json)
		nd_putc(o, '{');
	for (size_t i = 0; i < n; i++, f++) {
		if (json) {
			if (!f->key || !f->on ||
			    (f->kind == ND_F_TUPLE && !f->h->ip))
				continue;
			if (!first)
				nd_putc(o, ',');
			first = false;
			nd_putc(o, '"');
			nd_puts(o, f->key);
			nd_puts(o, "\":");
			put_value(o, f, true);
			continue;
		}
		if (!f->label || (!f->on && !f->dflt))
			continue;
		nd_puts(o, f->label);
		if (!f->on) {
			nd_puts(o, f->dflt);
			continue;
		}
		put_value(o, f, false);
		if (f->suffix)
			nd_puts(o, f->suffix);
	}
	nd_puts(o, json ? "}\n" : "\n");
}

static bool digits(const char **s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned)((*s)[i] - '0');
		if (d > 9)
			return false;
		*v = *v * 10 + d;
	}
	*s += n;
	return true;
}

static bool frac_ns(const char **s, uint64_t *ns)
{
	uint64_t scale = 100000000u;
	*ns = 0;
	if (**s != '.')
		return true;
	(*s)++;
	if (**s < '0' || **s > '9')
		return false;
	for (; **s >= '0' && **s <= '9'; (*s)++) {
		*ns += (uint64_t)(**s - '0') * scale;
		scale /= 10;
	}
	return true;
}

bool nd_parse_time(const char *s, uint64_t *ns)
{
	unsigned y, mo, d, h, mi, se;
	uint64_t frac;
	const char *p = s;
	if (strlen(s) >= 10 && s[4] == '-') {
		struct tm tm;
		time_t t;
		if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
		    *p++ != '-' || !digits(&p, 2, &d) ||
		    (*p != 'T' && *p != ' ') || !*p++ || !digits(&p, 2, &h) ||
		    *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
		    !digits(&p, 2, &se) || !frac_ns(&p, &frac))
			return false;
		if (*p == 'Z')
			p++;
		if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
		    mi > 59 || se > 60 || y < 1970)
			return false;
		memset(&tm, 0, sizeof tm);
		tm.tm_year = (int)y - 1900;
		tm.tm_mon = (int)mo - 1;
		tm.tm_mday = (int)d;
		tm.tm_hour = (int)h;
		tm.tm_min = (int)mi;
		tm.tm_sec = (int)se;
		t = timegm(&tm);
		if (t < 0)
			return false;
		*ns = (uint64_t)t * 1000000000u + frac;
		return true;
	} else {
		uint64_t sec = 0;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (sec > 18000000000u)
				return false;
			sec = sec * 10 + (uint64_t)(*p - '0');
		}
		if (!frac_ns(&p, &frac) || *p)
			return false;
		*ns = sec * 1000000000u + frac;
		return true;
	}
}
