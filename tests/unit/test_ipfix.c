/* The IPFIX encoder (nat/app/ipfix.c): message and set layout per
 * RFC 7011, the templates, records decoded back field by field, the
 * sequence number, the size cap, and how engine events map to NAT
 * events (RFC 8158). */
#include <criterion/criterion.h>
#include <string.h>

#include "ipfix.h"

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

static uint64_t gn(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A template as read back: ids and lengths. */
struct tpl {
	uint16_t id, n;
	uint16_t ie[32], len[32];
};

/* Walks a message: checks the header and every set length; returns the
 * templates found and the data sets' offsets. */
static size_t walk(const uint8_t *m, size_t len, struct tpl *tpls,
		   size_t *ntpl, size_t *data_off, uint16_t *data_id,
		   size_t *ndata)
{
	cr_assert_geq(len, 16);
	cr_assert_eq(g16(m), 10, "version 10");
	cr_assert_eq(g16(m + 2), len, "message length %u vs %zu", g16(m + 2),
		     len);
	size_t off = 16;
	*ntpl = *ndata = 0;
	while (off < len) {
		cr_assert_leq(off + 4, len);
		uint16_t id = g16(m + off), sl = g16(m + off + 2);
		cr_assert_geq(sl, 4, "set length %u", sl);
		cr_assert_leq(off + sl, len, "set past the message");
		if (id == 2) {
			size_t p = off + 4;
			while (p < off + sl) {
				struct tpl *t = &tpls[(*ntpl)++];
				t->id = g16(m + p);
				t->n = g16(m + p + 2);
				p += 4;
				for (uint16_t i = 0; i < t->n; i++, p += 4) {
					t->ie[i] = g16(m + p);
					t->len[i] = g16(m + p + 2);
				}
			}
			cr_assert_eq(p, off + sl, "template set length");
		} else {
			cr_assert_geq(id, 256, "data set id %u", id);
			data_off[*ndata] = off;
			data_id[(*ndata)++] = id;
		}
		off += sl;
	}
	cr_assert_eq(off, len);
	return off;
}

static const struct tpl *find(const struct tpl *t, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return &t[i];
	return NULL;
}

/* The value of IE ie in the record at rec, laid out by t. */
static uint64_t value(const struct tpl *t, const uint8_t *rec, uint16_t ie)
{
	size_t off = 0;
	for (uint16_t i = 0; i < t->n; i++) {
		if (t->ie[i] == ie)
			return gn(rec + off, t->len[i]);
		off += t->len[i];
	}
	cr_assert_fail("IE %u not in template %u", ie, t->id);
	return 0;
}

static size_t rec_len(const struct tpl *t)
{
	size_t n = 0;
	for (uint16_t i = 0; i < t->n; i++)
		n += t->len[i];
	return n;
}

static struct ipfix_rec session(uint8_t ev, uint16_t sport)
{
	struct ipfix_rec r = {
		.event = ev, .proto = 6, .realm = 1,
		.ts_ms = 1764547200123ull, .start_ms = 1764547200000ull,
		.end_ms = 1764547201000ull, .src = 0xac11f015,
		.post_src = 0xcb007101, .dst = 0xc633640a,
		.post_dst = 0xc633640a, .sport = sport, .post_sport = 40001,
		.dport = 443, .post_dport = 443,
	};
	return r;
}

Test(ipfix, templates_then_a_session_record_decode_back)
{
	struct ipfix_enc e;
	ipfix_enc_init(&e, 7);
	ipfix_enc_begin(&e, 1764547200u);
	ipfix_enc_templates(&e);
	struct ipfix_rec r = session(IPFIX_NAT44_SESSION_CREATE, 51000);
	cr_assert(ipfix_enc_add(&e, &r));
	size_t len = ipfix_enc_finish(&e);

	struct tpl t[8];
	size_t nt, doff[8], nd;
	uint16_t did[8];
	walk(e.buf, len, t, &nt, doff, did, &nd);
	cr_assert_eq(g32(e.buf + 4), 1764547200u, "export time");
	cr_assert_eq(g32(e.buf + 8), 0, "first message: sequence 0");
	cr_assert_eq(g32(e.buf + 12), 7, "observation domain");
	cr_assert_eq(nt, 3, "three templates");
	const struct tpl *s = find(t, nt, IPFIX_TPL_SESSION);
	cr_assert_not_null(s);
	cr_assert_eq(nd, 1);
	cr_assert_eq(did[0], IPFIX_TPL_SESSION);
	const uint8_t *rec = e.buf + doff[0] + 4;
	cr_assert_eq(g16(e.buf + doff[0] + 2), 4 + rec_len(s),
		     "one record in the data set");
	cr_assert_eq(value(s, rec, 230), IPFIX_NAT44_SESSION_CREATE);
	cr_assert_eq(value(s, rec, 323), 1764547200123ull);
	cr_assert_eq(value(s, rec, 8), 0xac11f015);
	cr_assert_eq(value(s, rec, 225), 0xcb007101);
	cr_assert_eq(value(s, rec, 4), 6);
	cr_assert_eq(value(s, rec, 7), 51000);
	cr_assert_eq(value(s, rec, 227), 40001);
	cr_assert_eq(value(s, rec, 12), 0xc633640a);
	cr_assert_eq(value(s, rec, 226), 0xc633640a);
	cr_assert_eq(value(s, rec, 11), 443);
	cr_assert_eq(value(s, rec, 228), 443);
	cr_assert_eq(value(s, rec, 229), 1);
	cr_assert_eq(value(s, rec, 152), 1764547200000ull);
	cr_assert_eq(value(s, rec, 153), 1764547201000ull);
}

Test(ipfix, sequence_counts_data_records_of_earlier_messages)
{
	struct ipfix_enc e;
	ipfix_enc_init(&e, 0);
	ipfix_enc_begin(&e, 1);
	ipfix_enc_templates(&e);
	ipfix_enc_finish(&e);
	cr_assert_eq(g32(e.buf + 8), 0);
	ipfix_enc_begin(&e, 2);
	for (int i = 0; i < 3; i++) {
		struct ipfix_rec r = session(IPFIX_NAT44_SESSION_DELETE, i);
		cr_assert(ipfix_enc_add(&e, &r));
	}
	ipfix_enc_finish(&e);
	cr_assert_eq(g32(e.buf + 8), 0, "templates are not data records");
	ipfix_enc_begin(&e, 3);
	struct ipfix_rec r = session(IPFIX_NAT44_SESSION_DELETE, 9);
	cr_assert(ipfix_enc_add(&e, &r));
	ipfix_enc_finish(&e);
	cr_assert_eq(g32(e.buf + 8), 3, "sequence after 3 records: %u",
		     g32(e.buf + 8));
}

Test(ipfix, a_full_message_refuses_the_next_record_and_stays_valid)
{
	struct ipfix_enc e;
	ipfix_enc_init(&e, 0);
	ipfix_enc_begin(&e, 1);
	ipfix_enc_templates(&e);
	int n = 0;
	struct ipfix_rec r = session(IPFIX_NAT44_SESSION_CREATE, 1);
	while (ipfix_enc_add(&e, &r))
		n++;
	cr_assert_gt(n, 10);
	size_t len = ipfix_enc_finish(&e);
	cr_assert_leq(len, IPFIX_MSG_MAX);
	struct tpl t[8];
	size_t nt, doff[8], nd;
	uint16_t did[8];
	walk(e.buf, len, t, &nt, doff, did, &nd);
	const struct tpl *s = find(t, nt, IPFIX_TPL_SESSION);
	cr_assert_eq(nd, 1);
	cr_assert_eq(g16(e.buf + doff[0] + 2), 4 + n * rec_len(s),
		     "%d records in the data set", n);
	cr_assert_gt(len + rec_len(s), IPFIX_MSG_MAX,
		     "refused while there was room");
}

Test(ipfix, mixed_events_get_a_data_set_each)
{
	struct ipfix_enc e;
	ipfix_enc_init(&e, 0);
	ipfix_enc_begin(&e, 1);
	ipfix_enc_templates(&e);
	struct ipfix_rec a = session(IPFIX_NAT44_SESSION_CREATE, 1);
	struct ipfix_rec p = { .event = IPFIX_NAT_PORTS_EXHAUSTED,
			       .proto = 17, .post_src = 0xcb007101,
			       .src = 0xac11f016, .ts_ms = 5 };
	struct ipfix_rec q = { .event = IPFIX_NAT_QUOTA_EXCEEDED,
			       .quota_event = IPFIX_QUOTA_MAX_SESSIONS,
			       .max_sessions = 65536, .ts_ms = 6 };
	cr_assert(ipfix_enc_add(&e, &a));
	cr_assert(ipfix_enc_add(&e, &p));
	cr_assert(ipfix_enc_add(&e, &q));
	cr_assert(ipfix_enc_add(&e, &a));
	size_t len = ipfix_enc_finish(&e);
	struct tpl t[8];
	size_t nt, doff[8], nd;
	uint16_t did[8];
	walk(e.buf, len, t, &nt, doff, did, &nd);
	cr_assert_eq(nd, 4);
	cr_assert_eq(did[1], IPFIX_TPL_PORTS);
	cr_assert_eq(did[2], IPFIX_TPL_QUOTA);
	const struct tpl *tp = find(t, nt, IPFIX_TPL_PORTS);
	const struct tpl *tq = find(t, nt, IPFIX_TPL_QUOTA);
	cr_assert_eq(value(tp, e.buf + doff[1] + 4, 230), 12);
	cr_assert_eq(value(tp, e.buf + doff[1] + 4, 225), 0xcb007101);
	cr_assert_eq(value(tp, e.buf + doff[1] + 4, 4), 17);
	cr_assert_eq(value(tq, e.buf + doff[2] + 4, 230), 13);
	cr_assert_eq(value(tq, e.buf + doff[2] + 4, 466), 1);
	cr_assert_eq(value(tq, e.buf + doff[2] + 4, 471), 65536);
}

static struct nat_event flow_ev(enum nat_event_type type, uint8_t kind)
{
	struct nat_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.ts_ns = 3000000000ull;
	ev.flow.kind = kind;
	ev.flow.proto = 17;
	ev.flow.in_ip = 0xac11f015;
	ev.flow.in_port = 80;
	ev.flow.map_ip = 0xcb007101;
	ev.flow.map_port = 8080;
	ev.flow.rem_ip = 0xc633640a;
	ev.flow.rem_port = 5555;
	ev.flow.first_ns = 1000000000ull;
	ev.flow.last_ns = 2500000000ull;
	return ev;
}

Test(ipfix, flow_from_inside_maps_source_to_its_mapping)
{
	struct ipfix_limits lim = { .nat_ip = 1 };
	struct nat_event ev = flow_ev(NAT_EV_FLOW_CLOSE, NAT_FLOW_SNAT);
	struct ipfix_rec r;
	cr_assert(ipfix_rec_from_event(&ev, &lim, &r));
	cr_assert_eq(r.event, IPFIX_NAT44_SESSION_DELETE);
	cr_assert_eq(r.realm, 1);
	cr_assert_eq(r.src, 0xac11f015);
	cr_assert_eq(r.sport, 80);
	cr_assert_eq(r.post_src, 0xcb007101);
	cr_assert_eq(r.post_sport, 8080);
	cr_assert_eq(r.dst, 0xc633640a);
	cr_assert_eq(r.post_dst, 0xc633640a);
	cr_assert_eq(r.start_ms, 1000);
	cr_assert_eq(r.end_ms, 2500);
	cr_assert_eq(r.ts_ms, 3000);
	cr_assert(!ipfix_rec_quota(&ev, &lim, &r), "not evicted");
}

Test(ipfix, forward_flow_is_opened_from_outside_to_the_inside_host)
{
	struct ipfix_limits lim = { .nat_ip = 1 };
	struct nat_event ev = flow_ev(NAT_EV_FLOW_OPEN, NAT_FLOW_FORWARD);
	struct ipfix_rec r;
	cr_assert(ipfix_rec_from_event(&ev, &lim, &r));
	cr_assert_eq(r.event, IPFIX_NAT44_SESSION_CREATE);
	cr_assert_eq(r.realm, 2);
	cr_assert_eq(r.src, 0xc633640a);
	cr_assert_eq(r.post_src, 0xc633640a);
	cr_assert_eq(r.dst, 0xcb007101);
	cr_assert_eq(r.dport, 8080);
	cr_assert_eq(r.post_dst, 0xac11f015);
	cr_assert_eq(r.post_dport, 80);
	cr_assert_eq(r.end_ms, 1000, "an open ends where it starts");
}

Test(ipfix, limits_become_ports_exhausted_and_quota_events)
{
	struct ipfix_limits lim = { .nat_ip = 0xcb007101, .max_flows = 100,
				    .max_per_host = 4 };
	struct nat_event ev = flow_ev(NAT_EV_PORT_EXHAUSTED, 0);
	ev.flow.map_ip = 0;
	struct ipfix_rec r;
	cr_assert(ipfix_rec_from_event(&ev, &lim, &r));
	cr_assert_eq(r.event, IPFIX_NAT_PORTS_EXHAUSTED);
	cr_assert_eq(r.post_src, 0xcb007101, "nat_ip when the event has none");
	ev = flow_ev(NAT_EV_TABLE_FULL, 0);
	cr_assert(ipfix_rec_from_event(&ev, &lim, &r));
	cr_assert_eq(r.event, IPFIX_NAT_QUOTA_EXCEEDED);
	cr_assert_eq(r.quota_event, IPFIX_QUOTA_MAX_SESSIONS);
	cr_assert_eq(r.max_sessions, 100);
	ev = flow_ev(NAT_EV_FLOW_CLOSE, NAT_FLOW_SNAT);
	ev.close_reason = NAT_CLOSE_EVICTED;
	cr_assert(ipfix_rec_quota(&ev, &lim, &r));
	cr_assert_eq(r.quota_event, IPFIX_QUOTA_MAX_PER_USER);
	cr_assert_eq(r.max_per_user, 4);
	cr_assert_eq(r.src, 0xac11f015);
	ev = flow_ev(NAT_EV_FLOW_STATE, NAT_FLOW_SNAT);
	cr_assert(!ipfix_rec_from_event(&ev, &lim, &r), "no IPFIX form");
	ev = flow_ev(NAT_EV_PKT_DROP, NAT_FLOW_SNAT);
	cr_assert(!ipfix_rec_from_event(&ev, &lim, &r), "no IPFIX form");
}
