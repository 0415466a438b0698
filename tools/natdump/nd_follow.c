/* natdump follow ID: the life of one flow, packet by packet, with the TCP
 * state changes the packets imply, merged with that flow's events from a
 * JSON-lines file (--events) in time order. Events are parsed with
 * jansson; only the followed flow's are kept. */
#include "nd.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct event {
	uint64_t ts_ns;
	size_t line;
	char *text; /* the rendered line, without the time */
	char *json; /* the compact object, for --json */
};

struct events {
	struct event *v;
	size_t n, cap;
};

/* "2023-11-14T22:13:20.123456Z" (any fraction, optional offset Z) */
static bool rfc3339_ns(const char *s, uint64_t *ns)
{
	char tmp[64];
	size_t n = strlen(s);
	if (n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n + 1);
	if (n > 6 && (strcmp(tmp + n - 6, "+00:00") == 0 ||
		      strcmp(tmp + n - 6, "-00:00") == 0))
		tmp[n - 6] = '\0';
	return nd_parse_time(tmp, ns);
}

static void add_field(char *buf, size_t len, const char *key, json_t *v)
{
	size_t at = strlen(buf);
	if (!v || at >= len)
		return;
	if (json_is_string(v))
		snprintf(buf + at, len - at, " %s=%s", key, json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf + at, len - at, " %s=%lld", key,
			 (long long)json_integer_value(v));
	else if (json_is_object(v)) {
		json_t *ip = json_object_get(v, "ip");
		json_t *port = json_object_get(v, "port");
		if (json_is_string(ip))
			snprintf(buf + at, len - at, " %s=%s:%lld", key,
				 json_string_value(ip),
				 json_is_integer(port)
					 ? (long long)json_integer_value(port)
					 : 0LL);
	}
}

static int load_events(const char *path, uint64_t flow, struct events *ev)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;
	if (!f) {
		fprintf(stderr, "natdump: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		json_error_t jerr;
		json_t *o, *id, *ts;
		uint64_t t;
		char text[512];
		lineno++;
		if (n <= 1)
			continue;
		o = json_loadb(line, (size_t)n, 0, &jerr);
		if (!o || !json_is_object(o)) {
			fprintf(stderr, "%s: line %zu: %s\n", path, lineno,
				o ? "not a JSON object" : jerr.text);
			json_decref(o);
			rc = -1;
			continue;
		}
		id = json_object_get(o, "flow");
		ts = json_object_get(o, "ts");
		if (!json_is_integer(id) ||
		    (uint64_t)json_integer_value(id) != flow) {
			json_decref(o);
			continue;
		}
		if (!json_is_string(ts) ||
		    !rfc3339_ns(json_string_value(ts), &t)) {
			fprintf(stderr, "%s: line %zu: bad or missing ts\n",
				path, lineno);
			json_decref(o);
			rc = -1;
			continue;
		}
		snprintf(text, sizeof text, "event %s",
			 json_is_string(json_object_get(o, "ev"))
				 ? json_string_value(json_object_get(o, "ev"))
				 : "?");
		add_field(text, sizeof text, "old_state",
			  json_object_get(o, "old_state"));
		add_field(text, sizeof text, "state", json_object_get(o, "state"));
		add_field(text, sizeof text, "reason",
			  json_object_get(o, "reason"));
		add_field(text, sizeof text, "rule", json_object_get(o, "rule"));
		add_field(text, sizeof text, "inside",
			  json_object_get(o, "inside"));
		add_field(text, sizeof text, "mapped",
			  json_object_get(o, "mapped"));
		add_field(text, sizeof text, "remote",
			  json_object_get(o, "remote"));
		if (ev->n == ev->cap) {
			size_t nc = ev->cap ? ev->cap * 2 : 64;
			struct event *nv = realloc(ev->v, nc * sizeof *nv);
			if (!nv) {
				json_decref(o);
				rc = -1;
				break;
			}
			ev->v = nv;
			ev->cap = nc;
		}
		ev->v[ev->n].ts_ns = t;
		ev->v[ev->n].line = lineno;
		ev->v[ev->n].text = strdup(text);
		ev->v[ev->n].json = json_dumps(o, JSON_COMPACT);
		ev->n++;
		json_decref(o);
	}
	free(line);
	fclose(f);
	return rc;
}

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* One event line: "TIME TEXT", or {"event":{...}} as glassnat wrote it. */
static void put_event(struct nd_out *out, const struct event *e, bool json)
{
	const struct nd_field f[] = {
		{NULL, "", ND_F_TIME, true, .u = e->ts_ns},
		{"event", " ", ND_F_RAW, true,
		 .s = json ? (e->json ? e->json : "null")
			   : (e->text ? e->text : "event")},
	};
	nd_record(out, f, sizeof f / sizeof f[0], json);
}

/* The TCP state the packets so far imply, in the engine's names. */
struct tcp_track {
	bool syn, synack, est, fin_out, fin_in, rst;
};

static const char *track_state(const struct tcp_track *t)
{
	if (t->rst)
		return "CLOSED";
	if (t->fin_out && t->fin_in)
		return "TIME_WAIT";
	if (t->fin_out || t->fin_in)
		return "FIN_WAIT";
	if (t->est)
		return "ESTABLISHED";
	if (t->synack)
		return "SYN_RECEIVED";
	if (t->syn)
		return "SYN_SENT";
	return "NEW";
}

int nd_cmd_follow(const struct nd_opts *o)
{
	struct nd_input *in;
	struct nd_pairer *pr;
	struct nd_filter *flt;
	struct nd_out out;
	struct nd_unit u;
	struct events ev = {0};
	struct tcp_track tt = {0};
	const char *state = NULL;
	size_t next_ev = 0;
	uint64_t shown = 0;
	bool ok;
	int rc = 0;

	if (o->events) {
		if (load_events(o->events, o->flow, &ev) < 0)
			rc = 1;
		if (ev.n)
			qsort(ev.v, ev.n, sizeof *ev.v, cmp_event);
	}
	flt = nd_filter_new(o->filter, &ok);
	if (!ok)
		return 2; /* a usage error */
	in = nd_input_open(o->files, o->nfiles);
	pr = in ? nd_pairer_new(in) : NULL;
	if (!pr) {
		nd_input_close(in);
		nd_filter_free(flt);
		return 1;
	}
	nd_out_init(&out, stdout);
	while (nd_pairer_next(pr, &u) == 1) {
		struct nd_hdr h;
		const struct nd_pkt *p;
		if (!nd_unit_selected(o, flt, &u))
			continue;
		while (next_ev < ev.n && ev.v[next_ev].ts_ns <= u.ts_ns)
			put_event(&out, &ev.v[next_ev++], o->json);
		nd_show_unit(&out, &u, o->json, true);
		p = u.pre ? u.pre : u.post;
		nd_hdr_parse(&h, p->data, p->caplen, p->linktype);
		/* Flow 0 is every packet of no flow (drops before a flow
		 * existed): no connection, so no state to imply; and a
		 * dropped packet never reached the other side. */
		if (o->flow != 0 && strcmp(u.note->verdict, "drop") != 0 &&
		    h.ip && h.proto == 6 && h.ports) {
			const char *ns;
			bool out_dir = u.note->dir != ND_DIR_IN;
			if ((h.tcp_flags & 0x12) == 0x02)
				tt.syn = true;
			else if ((h.tcp_flags & 0x12) == 0x12)
				tt.synack = true;
			else if ((h.tcp_flags & 0x10) && tt.synack)
				tt.est = true;
			if (h.tcp_flags & 0x01) {
				if (out_dir)
					tt.fin_out = true;
				else
					tt.fin_in = true;
			}
			if (h.tcp_flags & 0x04)
				tt.rst = true;
			ns = track_state(&tt);
			if (!o->events && state != ns && !o->json) {
				nd_time(&out, u.ts_ns);
				nd_puts(&out, "   state ");
				nd_puts(&out, state ? state : "-");
				nd_puts(&out, " -> ");
				nd_puts(&out, ns);
				nd_putc(&out, '\n');
			}
			state = ns;
		}
		if (o->count && ++shown >= o->count)
			break;
	}
	while (next_ev < ev.n && !(o->count && shown >= o->count))
		put_event(&out, &ev.v[next_ev++], o->json);
	if (nd_input_damaged(in))
		rc = 1;
	if (nd_out_finish(&out) < 0)
		rc = 1;
	for (size_t i = 0; i < ev.n; i++) {
		free(ev.v[i].text);
		free(ev.v[i].json);
	}
	free(ev.v);
	nd_pairer_free(pr);
	nd_input_close(in);
	nd_filter_free(flt);
	return rc;
}
