/* Rendering of log records: one JSON object per line, or Hyper-NAT's
 * `[time] [LEVEL] [COMPONENT] message` text, both from the same record.
 * Field names and forms are the contract of docs/events.md; the JSON is
 * written by hand, every string escaped (control characters as \u00XX,
 * invalid UTF-8 as U+FFFD, valid UTF-8 passed through). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log_rec.h"

/* A bounded string builder: appends past the end are cut, never overrun. */
struct sb {
	char *p;
	size_t n, cap; /* cap excludes the byte kept for the final newline */
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
	if (n > b->cap - b->n)
		n = b->cap - b->n;
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
	if (b->n < b->cap)
		b->p[b->n++] = c;
}

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	size_t room = b->cap - b->n;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->p + b->n, room + 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	b->n += (size_t)k < room ? (size_t)k : room;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * Rejects overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* A JSON string literal. */
static void sb_json_str(struct sb *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);
	sb_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
			i++;
		} else if (c < 0x20) {
			sb_printf(b, "\\u%04x", c);
			i++;
		} else {
			size_t k = utf8_len(s + i, n - i);
			if (k == 0) {
				sb_puts(b, "\\ufffd");
				i++;
			} else {
				sb_putn(b, str + i, k);
				i += k;
			}
		}
	}
	sb_putc(b, '"');
}

/* A string in a text line: control characters as \xNN so a hostile name
 * cannot forge a line; invalid UTF-8 as '?'. */
static void sb_text_str(struct sb *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			sb_printf(b, "\\x%02x", s[i]);
			i++;
			continue;
		}
		size_t k = utf8_len(s + i, n - i);
		if (k == 0) {
			sb_putc(b, '?');
			i++;
		} else {
			sb_putn(b, str + i, k);
			i += k;
		}
	}
}

static void sb_ip(struct sb *b, uint32_t ip)
{
	sb_printf(b, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
		  (ip >> 8) & 0xff, ip & 0xff);
}

/* RFC 3339 UTC with microseconds (JSON) or milliseconds (text). */
static void sb_time(struct sb *b, uint64_t ts_ns, bool json)
{
	time_t sec = (time_t)(ts_ns / 1000000000u);
	unsigned long frac = (unsigned long)(ts_ns % 1000000000u);
	struct tm tm;
	if (!gmtime_r(&sec, &tm))
		memset(&tm, 0, sizeof(tm));
	if (json)
		sb_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06luZ",
			  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			  tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
	else /* log_line.h's form */
		sb_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03luZ",
			  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			  tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000000);
}

static const char *proto_lname(uint8_t p)
{
	switch (p) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		return NULL;
	}
}

static const char *level_name(enum log_level l, bool json)
{
	static const char *const up[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	static const char *const lo[] = { "debug", "info", "warn", "error" };
	unsigned i = (unsigned)l < 4 ? (unsigned)l : 1;
	return json ? lo[i] : up[i];
}

static const char *ev_name(const struct log_rec *r)
{
	switch (r->h.kind) {
	case LREC_ENGINE:
		switch (r->u.eng.ev.type) {
		case NAT_EV_FLOW_OPEN:
			return "flow.open";
		case NAT_EV_FLOW_STATE:
			return "flow.state";
		case NAT_EV_FLOW_CLOSE:
			return r->u.eng.ev.close_reason == NAT_CLOSE_EVICTED
				       ? "flow.evicted"
				       : "flow.close";
		case NAT_EV_PKT_DROP:
			return "pkt.drop";
		case NAT_EV_PORT_EXHAUSTED:
			return "port.exhausted";
		case NAT_EV_TABLE_FULL:
			return "table.full";
		case NAT_EV_EXPIRED_SWEEP:
			return "flows.expired";
		case NAT_EV_FORWARD_ADD:
			return "forward.add";
		case NAT_EV_FORWARD_REMOVE:
			return "forward.remove";
		case NAT_EV_PKT_UNOWNED:
			return "pkt.unowned";
		case NAT_EV_FWD_UNANSWERED:
			return "forward.unanswered";
		default:
			return "engine.unknown";
		}
	case LREC_CONFIG:
		return "config.load";
	case LREC_TRACE_LOSS:
		return "trace.loss";
	case LREC_LOG_LOSS:
		return "log.loss";
	case LREC_TEXT:
		return "log";
	case LREC_STATS:
		return "stats";
	default:
		return "unknown";
	}
}

enum log_level log_rec_level(const struct log_rec *r)
{
	switch (r->h.kind) {
	case LREC_ENGINE: {
		const struct nat_event *ev = &r->u.eng.ev;
		switch (ev->type) {
		case NAT_EV_FLOW_OPEN:
			return ev->flow.kind == NAT_FLOW_BYPASS ? LOG_DEBUG
								: LOG_INFO;
		case NAT_EV_FLOW_STATE:
			return LOG_DEBUG;
		case NAT_EV_FLOW_CLOSE:
			return ev->close_reason == NAT_CLOSE_EVICTED
				       ? LOG_INFO
				       : LOG_DEBUG;
		case NAT_EV_EXPIRED_SWEEP:
		case NAT_EV_FORWARD_ADD:
		case NAT_EV_FORWARD_REMOVE:
		case NAT_EV_PKT_UNOWNED:
			return LOG_INFO;
		default:
			return LOG_WARN;
		}
	}
	case LREC_TEXT:
		return (enum log_level)r->u.text.level;
	case LREC_TRACE_LOSS:
	case LREC_LOG_LOSS:
		return LOG_WARN;
	default:
		return LOG_INFO;
	}
}

/* ---- JSON ---- */

static void j_key(struct sb *b, const char *k)
{
	sb_printf(b, ",\"%s\":", k);
}

static void j_u64(struct sb *b, const char *k, uint64_t v)
{
	sb_printf(b, ",\"%s\":%llu", k, (unsigned long long)v);
}

static void j_str(struct sb *b, const char *k, const char *v)
{
	j_key(b, k);
	sb_json_str(b, v);
}

static void j_ep(struct sb *b, const char *k, uint32_t ip, uint16_t port)
{
	j_key(b, k);
	sb_puts(b, "{\"ip\":\"");
	sb_ip(b, ip);
	sb_printf(b, "\",\"port\":%u}", port);
}

static void j_proto(struct sb *b, uint8_t p)
{
	const char *n = proto_lname(p);
	j_key(b, "proto");
	if (n)
		sb_printf(b, "\"%s\"", n);
	else
		sb_printf(b, "%u", p);
}

static void j_rule(struct sb *b, const struct log_rec *r)
{
	j_key(b, "rule");
	if (r->u.eng.has_rule)
		sb_json_str(b, r->u.eng.rule);
	else
		sb_puts(b, "null");
}

static void j_engine(struct sb *b, const struct log_rec *r)
{
	const struct nat_event *ev = &r->u.eng.ev;
	const struct nat_flow_info *f = &ev->flow;
	bool tcp = f->proto == 6;

	if (ev->type == NAT_EV_EXPIRED_SWEEP) {
		j_u64(b, "expired", ev->n_expired);
		j_u64(b, "remaining", ev->n_remaining);
		return;
	}
	if (ev->type == NAT_EV_FORWARD_ADD ||
	    ev->type == NAT_EV_FORWARD_REMOVE) {
		j_str(b, "name", r->u.eng.rule);
		j_proto(b, f->proto);
		j_u64(b, "external_port", f->map_port);
		j_ep(b, "internal", f->in_ip, f->in_port);
		j_str(b, "origin", r->u.eng.fwd_runtime ? "runtime" : "config");
		if (ev->type == NAT_EV_FORWARD_REMOVE)
			j_u64(b, "closed", ev->n_closed);
		return;
	}
	j_u64(b, "flow", f->id);
	j_proto(b, f->proto);
	switch (ev->type) {
	case NAT_EV_FLOW_OPEN:
	case NAT_EV_FLOW_STATE:
	case NAT_EV_FLOW_CLOSE:
		j_str(b, "kind", nat_flow_kind_name(f->kind));
		j_ep(b, "inside", f->in_ip, f->in_port);
		j_ep(b, "mapped", f->map_ip, f->map_port);
		j_ep(b, "remote", f->rem_ip, f->rem_port);
		j_rule(b, r);
		if (r->u.eng.net)
			j_str(b, "network", r->u.eng.net);
		if (f->redirected)
			j_ep(b, "original", f->orig_ip, f->orig_port);
		if (ev->type == NAT_EV_FLOW_STATE)
			j_str(b, "old_state",
			      nat_tcp_state_name(ev->old_state));
		if (tcp)
			j_str(b, "state", nat_tcp_state_name(f->tcp_state));
		if (ev->type != NAT_EV_FLOW_CLOSE)
			break;
		j_str(b, "end", nat_close_reason_name(ev->close_reason));
		j_u64(b, "pkts_out", f->pkts_out);
		j_u64(b, "pkts_in", f->pkts_in);
		j_u64(b, "bytes_out", f->bytes_out);
		j_u64(b, "bytes_in", f->bytes_in);
		j_key(b, "first");
		sb_putc(b, '"');
		sb_time(b, f->first_ns, true);
		sb_putc(b, '"');
		j_key(b, "last");
		sb_putc(b, '"');
		sb_time(b, f->last_ns, true);
		sb_putc(b, '"');
		{
			uint64_t d = f->last_ns > f->first_ns
					     ? (f->last_ns - f->first_ns) / 1000
					     : 0;
			sb_printf(b, ",\"duration\":%llu.%06llu",
				  (unsigned long long)(d / 1000000),
				  (unsigned long long)(d % 1000000));
		}
		break;
	case NAT_EV_PKT_DROP:
		if (f->in_ip || f->in_port)
			j_ep(b, "inside", f->in_ip, f->in_port);
		if (f->map_ip || f->map_port)
			j_ep(b, "mapped", f->map_ip, f->map_port);
		if (f->rem_ip || f->rem_port)
			j_ep(b, "remote", f->rem_ip, f->rem_port);
		j_rule(b, r);
		j_str(b, "reason", nat_reason_name(ev->reason));
		if (r->u.eng.suppressed)
			j_u64(b, "suppressed", r->u.eng.suppressed);
		break;
	case NAT_EV_PKT_UNOWNED:
		j_ep(b, "mapped", f->map_ip, f->map_port);
		j_ep(b, "remote", f->rem_ip, f->rem_port);
		j_str(b, "reason", nat_reason_name(ev->reason));
		if (r->u.eng.suppressed)
			j_u64(b, "suppressed", r->u.eng.suppressed);
		break;
	case NAT_EV_FWD_UNANSWERED:
		j_ep(b, "inside", f->in_ip, f->in_port);
		j_ep(b, "mapped", f->map_ip, f->map_port);
		j_ep(b, "remote", f->rem_ip, f->rem_port);
		j_rule(b, r);
		j_u64(b, "pkts_in", f->pkts_in);
		j_str(b, "neigh", ev->neigh[0] ? ev->neigh : "unknown");
		break;
	default: /* port.exhausted, table.full */
		j_ep(b, "inside", f->in_ip, f->in_port);
		j_ep(b, "remote", f->rem_ip, f->rem_port);
		j_str(b, "reason", nat_reason_name(ev->reason));
		if (r->u.eng.suppressed)
			j_u64(b, "suppressed", r->u.eng.suppressed);
		break;
	}
}

static void j_reasons(struct sb *b, const char *k, const uint64_t *v)
{
	j_key(b, k);
	sb_putc(b, '{');
	for (int i = 1; i < NAT_R_MAX; i++)
		sb_printf(b, "%s\"%s\":%llu", i > 1 ? "," : "",
			  nat_reason_name((enum nat_reason)i),
			  (unsigned long long)v[i]);
	sb_putc(b, '}');
}

/* Every counter of the registry, at the top level of the event (the
 * stats answer's keys), then the event's own: the suppressed drop events
 * and, kept for readers of the first schema, trace_lost and log_lost. */
static void j_stats(struct sb *b, const struct log_rec *r)
{
	char buf[LOG_LINE_MAX];
	size_t n = nat_metrics_json(&r->u.stats.m, buf, sizeof(buf));
	if (n >= sizeof(buf) || n < 2)
		return;
	if (n > 2) {
		sb_putc(b, ',');
		sb_putn(b, buf + 1, n - 2);
	}
	j_reasons(b, "suppressed", r->u.stats.suppressed);
	j_u64(b, "trace_lost", r->u.stats.trace_lost);
	j_u64(b, "log_lost", r->u.stats.log_lost);
}

static void format_json(struct sb *b, const struct log_rec *r)
{
	sb_puts(b, "{\"ts\":\"");
	sb_time(b, r->h.ts_ns, true);
	sb_printf(b, "\",\"ev\":\"%s\"", ev_name(r));
	switch (r->h.kind) {
	case LREC_ENGINE:
		j_engine(b, r);
		break;
	case LREC_CONFIG:
		j_str(b, "path", r->u.cfg.path);
		j_key(b, "nat_ip");
		sb_putc(b, '"');
		sb_ip(b, r->u.cfg.nat_ip);
		sb_putc(b, '"');
		j_key(b, "internal_network");
		sb_putc(b, '"');
		sb_ip(b, r->u.cfg.internal.addr);
		sb_printf(b, "/%u\"", r->u.cfg.internal.len);
		j_u64(b, "rules", r->u.cfg.n_rules);
		j_u64(b, "forwards", r->u.cfg.n_forwards);
		j_str(b, "filtering",
		      nat_filtering_name(
			      (enum nat_filtering)r->u.cfg.filtering));
		j_key(b, "changes");
		if (r->u.cfg.has_changes)
			sb_json_str(b, r->u.cfg.changes);
		else
			sb_puts(b, "null");
		break;
	case LREC_TRACE_LOSS:
	case LREC_LOG_LOSS:
		j_u64(b, "lost_since_last", r->u.loss.since);
		j_u64(b, "lost_total", r->u.loss.total);
		break;
	case LREC_TEXT:
		j_str(b, "level",
		      level_name((enum log_level)r->u.text.level, true));
		j_str(b, "component", r->u.text.component);
		j_str(b, "msg", r->u.text.msg);
		break;
	case LREC_STATS:
		j_stats(b, r);
		break;
	default:
		break;
	}
	sb_puts(b, "}\n");
}

/* ---- text ---- */

static void t_prefix(struct sb *b, const struct log_rec *r, enum log_level l,
		     const char *comp)
{
	sb_putc(b, '[');
	sb_time(b, r->h.ts_ns, false);
	sb_printf(b, "] [%s] [", level_name(l, false));
	sb_text_str(b, comp);
	sb_puts(b, "] ");
}

static void t_proto(struct sb *b, uint8_t p)
{
	switch (p) {
	case 1:
		sb_puts(b, "ICMP");
		break;
	case 6:
		sb_puts(b, "TCP");
		break;
	case 17:
		sb_puts(b, "UDP");
		break;
	default:
		sb_printf(b, "proto %u", p);
	}
}

/* ip:port, or just ip for protocols without ports (ICMP: the echo id is
 * shown apart, as Hyper-NAT does). */
static void t_ep(struct sb *b, uint8_t proto, uint32_t ip, uint16_t port)
{
	sb_ip(b, ip);
	if (proto == 6 || proto == 17)
		sb_printf(b, ":%u", port);
}

static void t_flow(struct sb *b, uint64_t id)
{
	if (id)
		sb_printf(b, " (flow %llu)", (unsigned long long)id);
	else
		sb_puts(b, " (flow -)");
}

static void t_rule(struct sb *b, const struct log_rec *r, const char *what)
{
	sb_printf(b, " (%s: ", what);
	if (r->u.eng.has_rule)
		sb_text_str(b, r->u.eng.rule);
	else
		sb_putc(b, '-');
	sb_putc(b, ')');
}

/* "TCP in:p → rem:p (mapped to :m)" / "ICMP in → rem (ID:a mapped to
 * ID:b)"; bypass flows show no mapping. */
static void t_out_tuple(struct sb *b, const struct nat_flow_info *f)
{
	bool icmp = f->proto == 1;
	t_proto(b, f->proto);
	sb_putc(b, ' ');
	t_ep(b, f->proto, f->in_ip, f->in_port);
	sb_puts(b, " → ");
	t_ep(b, f->proto, f->rem_ip, f->rem_port);
	if (f->kind == NAT_FLOW_BYPASS) {
		if (icmp)
			sb_printf(b, " (ID:%u)", f->in_port);
	} else if (icmp)
		sb_printf(b, " (ID:%u mapped to ID:%u)", f->in_port,
			  f->map_port);
	else
		sb_printf(b, " (mapped to :%u)", f->map_port);
}

/* Inbound-opened flows: "TCP rem:p → :m forwarded to in:p". */
static void t_in_tuple(struct sb *b, const struct nat_flow_info *f,
		       const char *verb)
{
	t_proto(b, f->proto);
	sb_putc(b, ' ');
	t_ep(b, f->proto, f->rem_ip, f->rem_port);
	sb_printf(b, " → :%u %s ", f->map_port, verb);
	t_ep(b, f->proto, f->in_ip, f->in_port);
}

static void t_tuple(struct sb *b, const struct nat_flow_info *f)
{
	if (f->kind == NAT_FLOW_FORWARD)
		t_in_tuple(b, f, "forwarded to");
	else if (f->kind == NAT_FLOW_INBOUND)
		t_in_tuple(b, f, "to");
	else
		t_out_tuple(b, f);
}

static void t_engine(struct sb *b, const struct log_rec *r, enum log_level l)
{
	const struct nat_event *ev = &r->u.eng.ev;
	const struct nat_flow_info *f = &ev->flow;

	switch (ev->type) {
	case NAT_EV_FLOW_OPEN:
		switch (f->kind) {
		case NAT_FLOW_BYPASS:
			t_prefix(b, r, l, "BYPASS");
			t_out_tuple(b, f);
			t_rule(b, r, "rule");
			break;
		case NAT_FLOW_FORWARD:
			t_prefix(b, r, l, "FORWARD");
			sb_puts(b, "New ");
			t_tuple(b, f);
			t_rule(b, r, "forward");
			break;
		case NAT_FLOW_INBOUND:
			t_prefix(b, r, l, "NAT");
			sb_puts(b, "New inbound ");
			t_tuple(b, f);
			break;
		default:
			t_prefix(b, r, l, "NAT");
			sb_puts(b, "New ");
			t_out_tuple(b, f);
			break;
		}
		if (r->u.eng.net)
			sb_printf(b, " (network %s)", r->u.eng.net);
		break;
	case NAT_EV_FLOW_STATE:
		t_prefix(b, r, l, "TABLE");
		sb_printf(b, "TCP state: %s → %s",
			  nat_tcp_state_name(ev->old_state),
			  nat_tcp_state_name(f->tcp_state));
		break;
	case NAT_EV_FLOW_CLOSE: {
		uint64_t d = f->last_ns > f->first_ns
				     ? (f->last_ns - f->first_ns) / 1000
				     : 0;
		t_prefix(b, r, l, "TABLE");
		sb_puts(b, ev->close_reason == NAT_CLOSE_EVICTED ? "Evicted "
								 : "Closed ");
		t_tuple(b, f);
		sb_printf(b,
			  ": %s after %llu.%06llu s, out %llu pkts %llu "
			  "bytes, in %llu pkts %llu bytes",
			  nat_close_reason_name(ev->close_reason),
			  (unsigned long long)(d / 1000000),
			  (unsigned long long)(d % 1000000),
			  (unsigned long long)f->pkts_out,
			  (unsigned long long)f->bytes_out,
			  (unsigned long long)f->pkts_in,
			  (unsigned long long)f->bytes_in);
		if (r->u.eng.net)
			sb_printf(b, " (network %s)", r->u.eng.net);
		break;
	}
	case NAT_EV_PKT_DROP: {
		bool inbound = f->in_ip == 0 && f->map_ip != 0;
		t_prefix(b, r, l, "NAT");
		if (f->proto == 0 && !f->in_ip && !f->map_ip && !f->rem_ip) {
			sb_puts(b, "Dropped packet");
		} else {
			sb_puts(b, "Dropped ");
			t_proto(b, f->proto);
			sb_putc(b, ' ');
			if (inbound) {
				t_ep(b, f->proto, f->rem_ip, f->rem_port);
				sb_puts(b, " → ");
				t_ep(b, f->proto, f->map_ip, f->map_port);
			} else {
				t_ep(b, f->proto, f->in_ip, f->in_port);
				sb_puts(b, " → ");
				t_ep(b, f->proto, f->rem_ip, f->rem_port);
			}
		}
		sb_printf(b, ": %s", nat_reason_name(ev->reason));
		if (r->u.eng.has_rule)
			t_rule(b, r, "rule");
		t_flow(b, f->id);
		if (r->u.eng.suppressed)
			sb_printf(b, " (+%llu suppressed)",
				  (unsigned long long)r->u.eng.suppressed);
		return;
	}
	case NAT_EV_PORT_EXHAUSTED:
	case NAT_EV_TABLE_FULL:
		t_prefix(b, r, l,
			 ev->type == NAT_EV_TABLE_FULL ? "TABLE" : "NAT");
		sb_puts(b, ev->type == NAT_EV_TABLE_FULL
				   ? "Flow table full, refused "
				   : "Port pool exhausted, refused ");
		t_proto(b, f->proto);
		sb_putc(b, ' ');
		t_ep(b, f->proto, f->in_ip, f->in_port);
		sb_puts(b, " → ");
		t_ep(b, f->proto, f->rem_ip, f->rem_port);
		t_flow(b, f->id);
		if (r->u.eng.suppressed)
			sb_printf(b, " (+%llu suppressed)",
				  (unsigned long long)r->u.eng.suppressed);
		return;
	case NAT_EV_PKT_UNOWNED:
		t_prefix(b, r, l, "NAT");
		sb_puts(b, "No forward for ");
		t_proto(b, f->proto);
		sb_printf(b, " port %u: ", f->map_port);
		t_ep(b, f->proto, f->rem_ip, f->rem_port);
		sb_puts(b, " → ");
		t_ep(b, f->proto, f->map_ip, f->map_port);
		sb_puts(b, " handed to the host");
		if (r->u.eng.suppressed)
			sb_printf(b, " (+%llu suppressed)",
				  (unsigned long long)r->u.eng.suppressed);
		return;
	case NAT_EV_FWD_UNANSWERED:
		t_prefix(b, r, l, "FORWARD");
		sb_puts(b, "No answer from the forward's target: ");
		t_tuple(b, f);
		sb_printf(b, ", %llu packets in, none back; neighbour %s",
			  (unsigned long long)f->pkts_in,
			  ev->neigh[0] ? ev->neigh : "unknown");
		t_rule(b, r, "forward");
		break;
	case NAT_EV_EXPIRED_SWEEP:
		t_prefix(b, r, l, "TABLE");
		sb_printf(b, "Cleaned %u expired entries, %u remaining",
			  ev->n_expired, ev->n_remaining);
		return;
	case NAT_EV_FORWARD_ADD:
	case NAT_EV_FORWARD_REMOVE:
		t_prefix(b, r, l, "FORWARD");
		sb_puts(b, ev->type == NAT_EV_FORWARD_ADD ? "Port forward added: "
							  : "Port forward removed: ");
		sb_text_str(b, r->u.eng.rule);
		sb_putc(b, ' ');
		t_proto(b, f->proto);
		sb_printf(b, " %u → ", f->map_port);
		t_ep(b, 6, f->in_ip, f->in_port);
		sb_puts(b, r->u.eng.fwd_runtime ? " (run time)" : " (config)");
		if (ev->type == NAT_EV_FORWARD_REMOVE)
			sb_printf(b, ", %u flows closed", ev->n_closed);
		return;
	default:
		t_prefix(b, r, l, "ENGINE");
		sb_printf(b, "Unknown event %d", (int)ev->type);
		return;
	}
	t_flow(b, f->id);
}

struct t_stats_ctx {
	struct sb *b;
	const struct log_rec *r;
};

static void t_stats_line(void *ctx, const char *comp, bool warn,
			 const char *line)
{
	struct t_stats_ctx *c = ctx;
	t_prefix(c->b, c->r, warn ? LOG_WARN : LOG_INFO, comp);
	sb_puts(c->b, line);
	sb_putc(c->b, '\n');
}

/* The final statistics: the registry's lines (metrics.h), the same as
 * the run prints at Ctrl+C, then the drop events held back. */
static void t_stats(struct sb *b, const struct log_rec *r)
{
	struct t_stats_ctx c = { b, r };
	t_prefix(b, r, LOG_INFO, "MAIN");
	sb_puts(b, "Final statistics:\n");
	nat_metrics_text(&r->u.stats.m, t_stats_line, &c);
	for (int i = 1; i < NAT_R_MAX; i++) {
		if (!r->u.stats.suppressed[i])
			continue;
		t_prefix(b, r, LOG_INFO, "LOG");
		sb_printf(b, "  Drop events suppressed (%s): %llu\n",
			  nat_reason_name((enum nat_reason)i),
			  (unsigned long long)r->u.stats.suppressed[i]);
	}
}

static void format_text(struct sb *b, const struct log_rec *r)
{
	enum log_level l = log_rec_level(r);
	switch (r->h.kind) {
	case LREC_ENGINE:
		t_engine(b, r, l);
		break;
	case LREC_CONFIG:
		t_prefix(b, r, l, "MAIN");
		sb_puts(b, r->u.cfg.has_changes ? "Configuration reloaded from "
						: "Configuration loaded from ");
		sb_text_str(b, r->u.cfg.path);
		sb_puts(b, " (NAT IP ");
		sb_ip(b, r->u.cfg.nat_ip);
		sb_puts(b, ", internal network ");
		sb_ip(b, r->u.cfg.internal.addr);
		sb_printf(b, "/%u, %u rules, %u forwards, filtering %s)",
			  r->u.cfg.internal.len, r->u.cfg.n_rules,
			  r->u.cfg.n_forwards,
			  nat_filtering_name(
				  (enum nat_filtering)r->u.cfg.filtering));
		if (r->u.cfg.has_changes) {
			sb_puts(b, ": ");
			sb_text_str(b, r->u.cfg.changes);
		}
		break;
	case LREC_TRACE_LOSS:
	case LREC_LOG_LOSS:
		t_prefix(b, r, l, r->h.kind == LREC_LOG_LOSS ? "LOG" : "TRACE");
		sb_printf(b, "Lost %llu %s records (%llu in total)",
			  (unsigned long long)r->u.loss.since,
			  r->h.kind == LREC_LOG_LOSS ? "log" : "trace",
			  (unsigned long long)r->u.loss.total);
		break;
	case LREC_TEXT:
		t_prefix(b, r, l, r->u.text.component);
		sb_text_str(b, r->u.text.msg);
		break;
	case LREC_STATS:
		t_stats(b, r);
		return; /* every line already ends with '\n' */
	default:
		return;
	}
	sb_putc(b, '\n');
}

size_t log_rec_format(const struct log_rec *r, enum nat_log_format fmt,
		      char *out, size_t cap)
{
	if (cap < 2)
		return 0;
	struct sb b = { .p = out, .n = 0, .cap = cap - 1 };
	if (fmt == NAT_LOG_JSON)
		format_json(&b, r);
	else
		format_text(&b, r);
	if (b.n == b.cap && (b.n == 0 || out[b.n - 1] != '\n'))
		out[b.n++] = '\n'; /* cut: keep lines whole */
	return b.n;
}
