/* The IPFIX encoder and the event mapping (ipfix.h). Fields are written
 * big-endian byte by byte; every append checks the room left first. */
#include "ipfix.h"

#include <string.h>

/* Information Element ids (IANA IPFIX registry; RFC 7659, RFC 8158). */
enum {
	IE_PROTOCOL = 4,	     /* protocolIdentifier */
	IE_SRC_PORT = 7,	     /* sourceTransportPort */
	IE_SRC_V4 = 8,		     /* sourceIPv4Address */
	IE_DST_PORT = 11,	     /* destinationTransportPort */
	IE_DST_V4 = 12,		     /* destinationIPv4Address */
	IE_FLOW_START_MS = 152,	     /* flowStartMilliseconds */
	IE_FLOW_END_MS = 153,	     /* flowEndMilliseconds */
	IE_POST_NAT_SRC_V4 = 225,    /* postNATSourceIPv4Address */
	IE_POST_NAT_DST_V4 = 226,    /* postNATDestinationIPv4Address */
	IE_POST_NAPT_SRC_PORT = 227, /* postNAPTSourceTransportPort */
	IE_POST_NAPT_DST_PORT = 228, /* postNAPTDestinationTransportPort */
	IE_NAT_REALM = 229,	     /* natOriginatingAddressRealm */
	IE_NAT_EVENT = 230,	     /* natEvent */
	IE_OBS_TIME_MS = 323,	     /* observationTimeMilliseconds */
	IE_NAT_QUOTA_EVENT = 466,    /* natQuotaExceededEvent */
	IE_MAX_SESSIONS = 471,	     /* maxSessionEntries */
	IE_MAX_PER_USER = 473,	     /* maxEntriesPerUser */
};

struct ie {
	uint16_t id, len;
};

/* The templates: one list each, used to write both the template and the
 * data records, so the two cannot disagree. */
static const struct ie tpl_session[] = {
	{ IE_OBS_TIME_MS, 8 },	      { IE_NAT_EVENT, 1 },
	{ IE_SRC_V4, 4 },	      { IE_POST_NAT_SRC_V4, 4 },
	{ IE_PROTOCOL, 1 },	      { IE_SRC_PORT, 2 },
	{ IE_POST_NAPT_SRC_PORT, 2 }, { IE_DST_V4, 4 },
	{ IE_POST_NAT_DST_V4, 4 },    { IE_DST_PORT, 2 },
	{ IE_POST_NAPT_DST_PORT, 2 }, { IE_NAT_REALM, 1 },
	{ IE_FLOW_START_MS, 8 },      { IE_FLOW_END_MS, 8 },
};
static const struct ie tpl_ports[] = {
	{ IE_OBS_TIME_MS, 8 }, { IE_NAT_EVENT, 1 }, { IE_POST_NAT_SRC_V4, 4 },
	{ IE_PROTOCOL, 1 },    { IE_SRC_V4, 4 },
};
static const struct ie tpl_quota[] = {
	{ IE_OBS_TIME_MS, 8 },	{ IE_NAT_EVENT, 1 },
	{ IE_NAT_QUOTA_EVENT, 4 }, { IE_MAX_SESSIONS, 4 },
	{ IE_MAX_PER_USER, 4 },	{ IE_SRC_V4, 4 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	uint16_t id;
	const struct ie *f;
	size_t n;
} templates[] = {
	{ IPFIX_TPL_SESSION, tpl_session, N(tpl_session) },
	{ IPFIX_TPL_PORTS, tpl_ports, N(tpl_ports) },
	{ IPFIX_TPL_QUOTA, tpl_quota, N(tpl_quota) },
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void putn(uint8_t *p, uint64_t v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

void ipfix_enc_init(struct ipfix_enc *e, uint32_t domain)
{
	memset(e, 0, sizeof(*e));
	e->domain = domain;
}

void ipfix_enc_begin(struct ipfix_enc *e, uint32_t export_s)
{
	/* RFC 7011 3.1: version, length, export time, sequence, domain. */
	put16(e->buf, 10);
	put16(e->buf + 2, 0);
	put32(e->buf + 4, export_s);
	put32(e->buf + 8, e->seq);
	put32(e->buf + 12, e->domain);
	e->len = 16;
	e->set_off = 0;
	e->records = 0;
}

static void close_set(struct ipfix_enc *e)
{
	if (e->set_off)
		put16(e->buf + e->set_off + 2, (uint16_t)(e->len - e->set_off));
	e->set_off = 0;
}

/* Opens a set of id unless one is open; false when there is no room for
 * its header plus need bytes. */
static bool want_set(struct ipfix_enc *e, uint16_t id, size_t need)
{
	if (e->set_off && e->set_id == id)
		return e->len + need <= sizeof(e->buf);
	if (e->len + 4 + need > sizeof(e->buf))
		return false;
	close_set(e);
	e->set_off = e->len;
	e->set_id = id;
	put16(e->buf + e->len, id);
	put16(e->buf + e->len + 2, 0);
	e->len += 4;
	return true;
}

void ipfix_enc_templates(struct ipfix_enc *e)
{
	for (size_t t = 0; t < N(templates); t++) {
		size_t need = 4 + 4 * templates[t].n;
		if (!want_set(e, 2, need)) /* set id 2: templates */
			return;
		put16(e->buf + e->len, templates[t].id);
		put16(e->buf + e->len + 2, (uint16_t)templates[t].n);
		e->len += 4;
		for (size_t i = 0; i < templates[t].n; i++) {
			put16(e->buf + e->len, templates[t].f[i].id);
			put16(e->buf + e->len + 2, templates[t].f[i].len);
			e->len += 4;
		}
	}
	close_set(e);
}

/* r's value for Information Element id. */
static uint64_t field(const struct ipfix_rec *r, uint16_t id)
{
	switch (id) {
	case IE_OBS_TIME_MS:
		return r->ts_ms;
	case IE_NAT_EVENT:
		return r->event;
	case IE_SRC_V4:
		return r->src;
	case IE_POST_NAT_SRC_V4:
		return r->post_src;
	case IE_PROTOCOL:
		return r->proto;
	case IE_SRC_PORT:
		return r->sport;
	case IE_POST_NAPT_SRC_PORT:
		return r->post_sport;
	case IE_DST_V4:
		return r->dst;
	case IE_POST_NAT_DST_V4:
		return r->post_dst;
	case IE_DST_PORT:
		return r->dport;
	case IE_POST_NAPT_DST_PORT:
		return r->post_dport;
	case IE_NAT_REALM:
		return r->realm;
	case IE_FLOW_START_MS:
		return r->start_ms;
	case IE_FLOW_END_MS:
		return r->end_ms;
	case IE_NAT_QUOTA_EVENT:
		return r->quota_event;
	case IE_MAX_SESSIONS:
		return r->max_sessions;
	case IE_MAX_PER_USER:
		return r->max_per_user;
	default:
		return 0;
	}
}

static size_t tpl_of(const struct ipfix_rec *r)
{
	switch (r->event) {
	case IPFIX_NAT_PORTS_EXHAUSTED:
		return 1;
	case IPFIX_NAT_QUOTA_EXCEEDED:
		return 2;
	default:
		return 0;
	}
}

bool ipfix_enc_add(struct ipfix_enc *e, const struct ipfix_rec *r)
{
	size_t t = tpl_of(r), size = 0;
	for (size_t i = 0; i < templates[t].n; i++)
		size += templates[t].f[i].len;
	if (!want_set(e, templates[t].id, size))
		return false;
	for (size_t i = 0; i < templates[t].n; i++) {
		const struct ie *f = &templates[t].f[i];
		putn(e->buf + e->len, field(r, f->id), f->len);
		e->len += f->len;
	}
	e->records++;
	return true;
}

size_t ipfix_enc_finish(struct ipfix_enc *e)
{
	close_set(e);
	put16(e->buf + 2, (uint16_t)e->len);
	put32(e->buf + 8, e->seq);
	e->seq += e->records; /* RFC 7011 3.1: modulo 2^32 */
	e->records = 0;
	return e->len;
}

bool ipfix_rec_quota(const struct nat_event *ev,
		     const struct ipfix_limits *lim, struct ipfix_rec *out)
{
	if (ev->type != NAT_EV_FLOW_CLOSE ||
	    ev->close_reason != NAT_CLOSE_EVICTED || !lim->max_per_host)
		return false;
	memset(out, 0, sizeof(*out));
	out->event = IPFIX_NAT_QUOTA_EXCEEDED;
	out->ts_ms = ev->ts_ns / 1000000u;
	out->quota_event = IPFIX_QUOTA_MAX_PER_USER;
	out->max_per_user = lim->max_per_host;
	out->src = ev->flow.in_ip;
	return true;
}

bool ipfix_rec_from_event(const struct nat_event *ev,
			  const struct ipfix_limits *lim,
			  struct ipfix_rec *out)
{
	const struct nat_flow_info *f = &ev->flow;
	memset(out, 0, sizeof(*out));
	out->ts_ms = ev->ts_ns / 1000000u;
	out->proto = f->proto;
	switch (ev->type) {
	case NAT_EV_FLOW_OPEN:
	case NAT_EV_FLOW_CLOSE:
		out->event = ev->type == NAT_EV_FLOW_OPEN
				     ? IPFIX_NAT44_SESSION_CREATE
				     : IPFIX_NAT44_SESSION_DELETE;
		out->start_ms = f->first_ns / 1000000u;
		out->end_ms = (ev->type == NAT_EV_FLOW_OPEN ? f->first_ns
							    : f->last_ns) /
			      1000000u;
		if (f->kind == NAT_FLOW_FORWARD || f->kind == NAT_FLOW_INBOUND) {
			/* Opened from outside: remote -> mapped, translated
			 * to the inside host. */
			out->realm = 2;
			out->src = out->post_src = f->rem_ip;
			out->sport = out->post_sport = f->rem_port;
			out->dst = f->map_ip;
			out->dport = f->map_port;
			out->post_dst = f->in_ip;
			out->post_dport = f->in_port;
		} else {
			out->realm = 1;
			out->src = f->in_ip;
			out->sport = f->in_port;
			out->post_src = f->map_ip;
			out->post_sport = f->map_port;
			out->dst = out->post_dst = f->rem_ip;
			out->dport = out->post_dport = f->rem_port;
		}
		return true;
	case NAT_EV_PORT_EXHAUSTED:
		/* The engine's event names the host that asked; the
		 * address that ran out is nat_ip unless it says another. */
		out->event = IPFIX_NAT_PORTS_EXHAUSTED;
		out->post_src = f->map_ip ? f->map_ip : lim->nat_ip;
		out->src = f->in_ip;
		return true;
	case NAT_EV_TABLE_FULL:
		out->event = IPFIX_NAT_QUOTA_EXCEEDED;
		out->quota_event = IPFIX_QUOTA_MAX_SESSIONS;
		out->max_sessions = lim->max_flows;
		out->src = f->in_ip;
		return true;
	default:
		return false;
	}
}
