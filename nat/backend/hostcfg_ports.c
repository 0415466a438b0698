/* The reserved-ports set and its text form, the syntax of
 * net.ipv4.ip_local_reserved_ports (hostcfg.h): comma-separated ports and
 * LO-HI ranges. Pure functions, no I/O: the parser every start reads the
 * kernel's value with, and what fuzz_hostcfg drives. */
#include "hostcfg.h"

#include <stdio.h>
#include <string.h>

/* ---- ports --------------------------------------------------------------- */

void nat_hostcfg_ports_clear(struct nat_hostcfg_ports *set)
{
	memset(set, 0, sizeof(*set));
}

void nat_hostcfg_ports_add(struct nat_hostcfg_ports *set, uint16_t lo,
			   uint16_t hi)
{
	for (uint32_t p = lo; p <= hi; p++)
		set->w[p >> 6] |= (uint64_t)1 << (p & 63);
}

bool nat_hostcfg_ports_has(const struct nat_hostcfg_ports *set, uint16_t port)
{
	return (set->w[port >> 6] >> (port & 63)) & 1;
}

void nat_hostcfg_ports_merge(struct nat_hostcfg_ports *a,
			     const struct nat_hostcfg_ports *b)
{
	for (size_t i = 0; i < sizeof(a->w) / sizeof(a->w[0]); i++)
		a->w[i] |= b->w[i];
}

void nat_hostcfg_ports_subtract(struct nat_hostcfg_ports *a,
				const struct nat_hostcfg_ports *b)
{
	for (size_t i = 0; i < sizeof(a->w) / sizeof(a->w[0]); i++)
		a->w[i] &= ~b->w[i];
}

size_t nat_hostcfg_ports_count(const struct nat_hostcfg_ports *a)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(a->w) / sizeof(a->w[0]); i++)
		n += (size_t)__builtin_popcountll(a->w[i]);
	return n;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* One decimal port at text[*i], 0-65535, no sign, at most 5 digits. */
static bool parse_port(const char *text, size_t len, size_t *i, uint16_t *out)
{
	uint32_t v = 0;
	size_t start = *i;

	while (*i < len && text[*i] >= '0' && text[*i] <= '9' &&
	       *i - start < 6) {
		v = v * 10 + (uint32_t)(text[*i] - '0');
		(*i)++;
	}
	if (*i == start || *i - start > 5 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* The message for a bad item: the text from it up to the next comma (at
 * most 24 bytes, anything unprintable as '?': it ends up in a log line). */
static void bad_item(const char *text, size_t len, size_t item, char *errbuf,
		     size_t errlen)
{
	char shown[25];
	size_t n = 0;

	while (item + n < len && text[item + n] != ',' && n < 24) {
		char c = text[item + n];
		shown[n++] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	shown[n] = '\0';
	snprintf(errbuf, errlen,
		 "bad port list item '%s' at offset %zu (want PORT or LO-HI, "
		 "0-65535, separated by commas)",
		 shown, item);
}

int nat_hostcfg_ports_parse(const char *text, size_t len,
			    struct nat_hostcfg_ports *out, char *errbuf,
			    size_t errlen)
{
	size_t i = 0;

	nat_hostcfg_ports_clear(out);
	/* One trailing newline, as the kernel prints and accepts it. */
	if (len > 0 && text[len - 1] == '\n')
		len--;
	while (i < len && is_blank(text[i]))
		i++;
	if (i == len)
		return 0;
	for (;;) {
		size_t item = i;
		uint16_t lo, hi;

		while (i < len && is_blank(text[i]))
			i++;
		item = i;
		if (!parse_port(text, len, &i, &lo))
			goto bad;
		hi = lo;
		if (i < len && text[i] == '-') {
			i++;
			if (!parse_port(text, len, &i, &hi) || hi < lo)
				goto bad;
		}
		while (i < len && is_blank(text[i]))
			i++;
		nat_hostcfg_ports_add(out, lo, hi);
		if (i == len)
			return 0;
		if (text[i] != ',')
			goto bad;
		i++;
		continue;
	bad:
		bad_item(text, len, item, errbuf, errlen);
		nat_hostcfg_ports_clear(out);
		return -1;
	}
}

size_t nat_hostcfg_ports_format(const struct nat_hostcfg_ports *set, char *buf,
				size_t len)
{
	size_t need = 0;
	uint32_t p = 0;

	if (len > 0)
		buf[0] = '\0';
	while (p < 65536) {
		if (!nat_hostcfg_ports_has(set, (uint16_t)p)) {
			/* Skip empty words whole. */
			if ((p & 63) == 0 && set->w[p >> 6] == 0)
				p += 64;
			else
				p++;
			continue;
		}
		uint32_t lo = p;
		while (p + 1 < 65536 &&
		       nat_hostcfg_ports_has(set, (uint16_t)(p + 1)))
			p++;
		char item[16];
		int n = lo == p ? snprintf(item, sizeof(item), "%s%u",
					   need ? "," : "", lo)
				: snprintf(item, sizeof(item), "%s%u-%u",
					   need ? "," : "", lo, p);
		if (need + (size_t)n < len)
			memcpy(buf + need, item, (size_t)n + 1);
		else if (len > 0)
			buf[need < len ? need : len - 1] = '\0';
		need += (size_t)n;
		p++;
	}
	return need;
}
