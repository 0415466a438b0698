/* The control protocol: see protocol.h and docs/control.md.
 *
 * Requests are parsed with jansson (Debian's libjansson: a well-kept JSON
 * parser, so none is written here). Parsing is strict: a request is one
 * JSON object; unknown members, wrong types and out-of-range values are
 * errors that name the member, so a typo never silently does something
 * else. */
#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "packet.h"

#define ERRLEN 512

static const char *const action_names[NAT_CTL_ACTION_MAX] = {
	[NAT_CTL_FORWARD_LIST] = "forward_list",
	[NAT_CTL_FORWARD_ADD] = "forward_add",
	[NAT_CTL_FORWARD_REMOVE] = "forward_remove",
	[NAT_CTL_FLOWS] = "flows",
	[NAT_CTL_STATS] = "stats",
	[NAT_CTL_TRACE_ON] = "trace_on",
	[NAT_CTL_TRACE_OFF] = "trace_off",
	[NAT_CTL_RELOAD] = "reload",
	[NAT_CTL_FLOW_DELETE] = "flow_delete",
	[NAT_CTL_SUBSCRIBE] = "subscribe",
};

static const char *const error_names[NAT_CTL_E_MAX] = {
	[NAT_CTL_E_NONE] = "none",
	[NAT_CTL_E_INVALID_JSON] = "invalid_json",
	[NAT_CTL_E_BAD_REQUEST] = "bad_request",
	[NAT_CTL_E_UNKNOWN_ACTION] = "unknown_action",
	[NAT_CTL_E_OVERSIZED] = "oversized",
	[NAT_CTL_E_TIMEOUT] = "timeout",
	[NAT_CTL_E_DISCONNECTED] = "disconnected",
	[NAT_CTL_E_PERMISSION] = "permission_denied",
	[NAT_CTL_E_BUSY] = "busy",
	[NAT_CTL_E_REFUSED] = "refused",
	[NAT_CTL_E_FAILED] = "failed",
};

const char *nat_ctl_action_name(enum nat_ctl_action a)
{
	return (unsigned)a < NAT_CTL_ACTION_MAX ? action_names[a] : "?";
}

const char *nat_ctl_error_name(enum nat_ctl_error c)
{
	return (unsigned)c < NAT_CTL_E_MAX ? error_names[c] : "?";
}

/* ---- parsing ---- */

struct pctx {
	enum nat_ctl_error *code;
	char *err;
	size_t errlen;
};

static int bad(struct pctx *p, enum nat_ctl_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct pctx *p, enum nat_ctl_error code, const char *fmt, ...)
{
	va_list ap;
	*p->code = code;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Refuses members of o not in allowed (NULL-terminated). */
static int only_keys(struct pctx *p, json_t *o, const char *where,
		     const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok) {
			char shown[72];
			snprintf(shown, sizeof(shown), "%.64s", k);
			for (char *c = shown; *c; c++)
				if ((unsigned char)*c < 0x20)
					*c = '?';
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "%s: unknown member \"%s\"", where, shown);
		}
	}
	return 0;
}

/* A string member into buf[size]: 1..size-1 bytes, no control bytes.
 * Returns 0 (absent: *present false), -1 on error. */
static int get_string(struct pctx *p, json_t *o, const char *key,
		      const char *where, char *buf, size_t size, bool *present,
		      bool empty_ok)
{
	json_t *v = json_object_get(o, key);
	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: expected a string, got %s", where, key,
			   json_kind(v));
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n == 0 && !empty_ok)
		return bad(p, NAT_CTL_E_BAD_REQUEST, "%s%s: must not be empty",
			   where, key);
	if (n >= size)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: too long (%zu bytes, at most %zu)", where,
			   key, n, size - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "%s%s: contains a control character "
				   "(byte %zu)",
				   where, key, i + 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int get_int(struct pctx *p, json_t *o, const char *key,
		   const char *where, long long lo, long long hi,
		   long long *out, bool *present)
{
	json_t *v = json_object_get(o, key);
	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: expected an integer, got %s", where, key,
			   json_kind(v));
	long long x = json_integer_value(v);
	if (x < lo || x > hi)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: %lld is out of range (%lld-%lld)", where, key,
			   x, lo, hi);
	*out = x;
	return 0;
}

static int get_proto(struct pctx *p, json_t *o, const char *key,
		     const char *where, bool icmp_ok, uint8_t *out,
		     bool *present)
{
	char s[8];
	if (get_string(p, o, key, where, s, sizeof(s), present, false) < 0) {
		if (*p->code == NAT_CTL_E_BAD_REQUEST && strstr(p->err, "long"))
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "%s%s: must be tcp or udp%s", where, key,
				   icmp_ok ? " or icmp" : "");
		return -1;
	}
	if (!*present)
		return 0;
	if (strcmp(s, "tcp") == 0)
		*out = 6;
	else if (strcmp(s, "udp") == 0)
		*out = 17;
	else if (icmp_ok && strcmp(s, "icmp") == 0)
		*out = 1;
	else
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: \"%s\" is not tcp or udp%s", where, key, s,
			   icmp_ok ? " or icmp" : "");
	return 0;
}

static int get_ip(struct pctx *p, json_t *o, const char *key,
		  const char *where, uint32_t *out, bool *present)
{
	char s[20];
	if (get_string(p, o, key, where, s, sizeof(s), present, false) < 0)
		return -1;
	if (*present && !nat_ip_parse(s, out))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "%s%s: \"%s\" is not an IPv4 address", where, key,
			   s);
	return 0;
}

/* "a.b.c.d" (a /32) or "a.b.c.d/len" with no host bits. */
static bool cidr_parse(const char *s, struct nat_cidr *out)
{
	char a[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned len = 32;
	if (alen >= sizeof(a))
		return false;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (!nat_ip_parse(a, &out->addr))
		return false;
	if (slash) {
		const char *d = slash + 1;
		if (!*d || strlen(d) > 2 || d[0] < '0' || d[0] > '9' ||
		    (d[1] && (d[1] < '0' || d[1] > '9')))
			return false;
		len = (unsigned)atoi(d);
		if (len > 32)
			return false;
	}
	uint32_t mask = len ? ~0u << (32 - len) : 0;
	if (out->addr & ~mask)
		return false;
	out->len = (uint8_t)len;
	return true;
}

/* rule.source: one network or a list of them, as in the config. */
static int get_sources(struct pctx *p, json_t *rule,
		       struct nat_forward_cfg *f)
{
	json_t *v = json_object_get(rule, "source");
	if (!v)
		return 0;
	json_t *one = json_is_string(v) ? v : NULL;
	size_t n = one ? 1 : json_is_array(v) ? json_array_size(v) : 0;
	if (!one && !json_is_array(v))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule.source: expected a network or a list of "
			   "them, got %s",
			   json_kind(v));
	if (n == 0 || n > NAT_FWD_SRC_MAX)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule.source: %zu networks (1-%d)", n,
			   NAT_FWD_SRC_MAX);
	for (size_t i = 0; i < n; i++) {
		json_t *e = one ? one : json_array_get(v, i);
		if (!json_is_string(e) ||
		    !cidr_parse(json_string_value(e), &f->src[i]))
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "rule.source: %s is not a network "
				   "(a.b.c.d/len, no host bits, or an address)",
				   json_is_string(e) ? json_string_value(e)
						     : json_kind(e));
		if (f->src[i].len == 0) { /* 0.0.0.0/0: everyone */
			f->n_src = 0;
			return 0;
		}
	}
	f->n_src = (uint8_t)n;
	return 0;
}

static int parse_forward_add(struct pctx *p, json_t *root,
			     struct nat_ctl_req *r)
{
	static const char *const top[] = { "action", "rule", NULL };
	static const char *const keys[] = {
		"name",		 "protocol", "external_port", "internal_ip",
		"internal_port", "source",   "in_interface",  "external_ip",
		NULL
	};
	const char *w = "rule.";
	bool has;
	long long v;
	if (only_keys(p, root, "request", top) < 0)
		return -1;
	json_t *rule = json_object_get(root, "rule");
	if (!rule)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule: missing (the forward to add: name, protocol, "
			   "external_port, internal_ip, internal_port)");
	if (!json_is_object(rule))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule: expected an object, got %s", json_kind(rule));
	if (only_keys(p, rule, "rule", keys) < 0)
		return -1;
	struct nat_forward_cfg *f = &r->fwd;
	memset(f, 0, sizeof(*f));
	f->runtime = true;
	if (get_proto(p, rule, "protocol", w, false, &f->proto, &has) < 0)
		return -1;
	if (!has)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule.protocol: missing (tcp or udp)");
	if (get_int(p, rule, "external_port", w, 1, 65535, &v, &has) < 0)
		return -1;
	if (!has)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule.external_port: missing (1-65535)");
	f->ext_port = (uint16_t)v;
	if (get_ip(p, rule, "internal_ip", w, &f->int_ip, &has) < 0)
		return -1;
	if (!has)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "rule.internal_ip: missing (an inside address)");
	f->int_port = f->ext_port;
	if (get_int(p, rule, "internal_port", w, 1, 65535, &v, &has) < 0)
		return -1;
	if (has)
		f->int_port = (uint16_t)v;
	if (get_string(p, rule, "name", w, f->name, sizeof(f->name), &has,
		       false) < 0)
		return -1;
	if (!has) /* the name the CLI's short form gets: "tcp/8080" */
		snprintf(f->name, sizeof(f->name), "%s/%u",
			 nat_proto_name(f->proto), f->ext_port);
	if (get_sources(p, rule, f) < 0)
		return -1;
	if (get_string(p, rule, "in_interface", w, f->in_if, sizeof(f->in_if),
		       &has, true) < 0)
		return -1;
	if (get_ip(p, rule, "external_ip", w, &f->ext_ip, &has) < 0)
		return -1;
	return 0;
}

static int parse_forward_remove(struct pctx *p, json_t *root,
				struct nat_ctl_req *r)
{
	static const char *const top[] = { "action", "name", "external_port",
					   "protocol", NULL };
	bool has_name, has_port, has_proto;
	long long v = 0;
	if (only_keys(p, root, "request", top) < 0 ||
	    get_string(p, root, "name", "", r->name, sizeof(r->name),
		       &has_name, false) < 0 ||
	    get_int(p, root, "external_port", "", 1, 65535, &v, &has_port) <
		    0 ||
	    get_proto(p, root, "protocol", "", false, &r->proto, &has_proto) <
		    0)
		return -1;
	if (has_name == has_port)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "forward_remove needs exactly one of \"name\" and "
			   "\"external_port\"");
	if (has_name && has_proto)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "protocol: only with external_port");
	r->by_name = has_name;
	r->port = (uint16_t)v;
	return 0;
}

/* The flow filters flows, flow_delete and subscribe share. */
static int parse_flow_filters(struct pctx *p, json_t *root,
			      struct nat_ctl_req *r)
{
	char word[24];
	bool has;
	long long v;
	if (get_ip(p, root, "address", "", &r->addr, &r->has_addr) < 0 ||
	    get_proto(p, root, "protocol", "", true, &r->fproto, &has) < 0)
		return -1;
	if (get_int(p, root, "port", "", 1, 65535, &v, &has) < 0)
		return -1;
	if (has)
		r->fport = (uint16_t)v;
	if (get_int(p, root, "flow", "", 1, INT64_MAX, &v, &r->has_id) < 0)
		return -1;
	if (r->has_id)
		r->id = (uint64_t)v;
	if (get_string(p, root, "rule", "", r->rule, sizeof(r->rule), &has,
		       false) < 0)
		return -1;
	if (get_string(p, root, "kind", "", word, sizeof(word), &has, false) <
	    0)
		return -1;
	if (has) {
		unsigned k = 0;
		while (k < 4 &&
		       strcmp(nat_flow_kind_name((enum nat_flow_kind)k), word))
			k++;
		if (k == 4)
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "kind: \"%s\" is not snat, bypass, forward "
				   "or inbound",
				   word);
		r->has_kind = true;
		r->kind = (uint8_t)k;
	}
	if (get_string(p, root, "state", "", word, sizeof(word), &has, false) <
	    0)
		return -1;
	if (has) {
		unsigned k = 1;
		for (char *c = word; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		while (k < NAT_TCP_STATE_MAX &&
		       strcmp(nat_tcp_state_name((enum nat_tcp_state)k), word))
			k++;
		if (k == NAT_TCP_STATE_MAX)
			return bad(p, NAT_CTL_E_BAD_REQUEST,
				   "state: \"%s\" is not a TCP state (NEW, "
				   "SYN_SENT, SYN_RECEIVED, ESTABLISHED, "
				   "FIN_WAIT, TIME_WAIT, CLOSED)",
				   word);
		r->state = (uint8_t)(k + 1);
	}
	return 0;
}

static int parse_flows(struct pctx *p, json_t *root, struct nat_ctl_req *r)
{
	static const char *const top[] = { "action", "address", "port",
					   "protocol", "limit",	  "flow",
					   "rule",   "kind",	"state",
					   "count",  NULL };
	bool has;
	long long v;
	if (only_keys(p, root, "request", top) < 0 ||
	    parse_flow_filters(p, root, r) < 0)
		return -1;
	r->limit = NAT_CTL_FLOWS_DEFAULT;
	if (get_int(p, root, "limit", "", 1, NAT_CTL_FLOWS_MAX, &v, &has) < 0)
		return -1;
	if (has)
		r->limit = (uint32_t)v;
	json_t *c = json_object_get(root, "count");
	if (c && !json_is_boolean(c))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "count: expected a boolean, got %s", json_kind(c));
	r->count_only = c && json_is_true(c);
	return 0;
}

static int parse_flow_delete(struct pctx *p, json_t *root,
			     struct nat_ctl_req *r)
{
	static const char *const top[] = { "action", "address", "port",
					   "protocol", "flow",	  "rule",
					   "kind",   "state",	"all",
					   NULL };
	if (only_keys(p, root, "request", top) < 0 ||
	    parse_flow_filters(p, root, r) < 0)
		return -1;
	json_t *a = json_object_get(root, "all");
	if (a && !json_is_boolean(a))
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "all: expected a boolean, got %s", json_kind(a));
	r->all = a && json_is_true(a);
	bool any = r->has_addr || r->fport || r->fproto || r->has_id ||
		   r->rule[0] || r->has_kind || r->state;
	if (!any && !r->all)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "flow_delete needs a filter (flow, address, port, "
			   "protocol, rule, kind, state) or \"all\": true");
	if (any && r->all)
		return bad(p, NAT_CTL_E_BAD_REQUEST,
			   "all: not with a filter");
	return 0;
}

static int parse_subscribe(struct pctx *p, json_t *root,
			   struct nat_ctl_req *r)
{
	static const char *const top[] = { "action", "address", "port",
					   "protocol", "flow",	  "rule",
					   "kind",   "state",	"event",
					   NULL };
	bool has;
	if (only_keys(p, root, "request", top) < 0 ||
	    parse_flow_filters(p, root, r) < 0 ||
	    get_string(p, root, "event", "", r->event, sizeof(r->event), &has,
		       false) < 0)
		return -1;
	return 0;
}

int nat_ctl_parse(const char *line, size_t len, struct nat_ctl_req *req,
		  enum nat_ctl_error *code, char *errbuf, size_t errlen)
{
	struct pctx p = { code, errbuf, errlen };
	json_error_t je;
	int rc = -1;

	memset(req, 0, sizeof(*req));
	*code = NAT_CTL_E_NONE;
	if (errlen)
		errbuf[0] = '\0';
	if (len >= NAT_CTL_LINE_MAX)
		return bad(&p, NAT_CTL_E_OVERSIZED,
			   "request longer than %d bytes", NAT_CTL_LINE_MAX - 1);
	if (memchr(line, '\0', len))
		return bad(&p, NAT_CTL_E_INVALID_JSON,
			   "invalid JSON: contains a NUL byte");
	json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return bad(&p, NAT_CTL_E_INVALID_JSON,
			   "invalid JSON at column %d: %s", je.column, je.text);
	if (!json_is_object(root)) {
		bad(&p, NAT_CTL_E_INVALID_JSON,
		    "a request is a JSON object, got %s", json_kind(root));
		goto out;
	}
	json_t *a = json_object_get(root, "action");
	if (!a) {
		bad(&p, NAT_CTL_E_BAD_REQUEST,
		    "action: missing (forward_list, forward_add, "
		    "forward_remove, flows, flow_delete, stats, subscribe, "
		    "trace_on, trace_off, reload)");
		goto out;
	}
	if (!json_is_string(a)) {
		bad(&p, NAT_CTL_E_BAD_REQUEST,
		    "action: expected a string, got %s", json_kind(a));
		goto out;
	}
	const char *name = json_string_value(a);
	size_t k = 0;
	while (k < NAT_CTL_ACTION_MAX &&
	       (strlen(action_names[k]) != json_string_length(a) ||
		strcmp(action_names[k], name) != 0))
		k++;
	if (k == NAT_CTL_ACTION_MAX) {
		char shown[40];
		snprintf(shown, sizeof(shown), "%.32s", name);
		for (char *c = shown; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
		bad(&p, NAT_CTL_E_UNKNOWN_ACTION,
		    "unknown action \"%s\" (forward_list, forward_add, "
		    "forward_remove, flows, flow_delete, stats, subscribe, "
		    "trace_on, trace_off, reload)",
		    shown);
		goto out;
	}
	req->action = (enum nat_ctl_action)k;
	static const char *const only_action[] = { "action", NULL };
	static const char *const trace_keys[] = { "action", "filter", NULL };
	bool has;
	switch (req->action) {
	case NAT_CTL_FORWARD_ADD:
		rc = parse_forward_add(&p, root, req);
		break;
	case NAT_CTL_FORWARD_REMOVE:
		rc = parse_forward_remove(&p, root, req);
		break;
	case NAT_CTL_FLOWS:
		rc = parse_flows(&p, root, req);
		break;
	case NAT_CTL_FLOW_DELETE:
		rc = parse_flow_delete(&p, root, req);
		break;
	case NAT_CTL_SUBSCRIBE:
		rc = parse_subscribe(&p, root, req);
		break;
	case NAT_CTL_TRACE_ON:
		rc = only_keys(&p, root, "request", trace_keys) < 0 ||
				     get_string(&p, root, "filter", "", req->bpf,
						sizeof(req->bpf), &has, true) < 0
			     ? -1
			     : 0;
		break;
	default:
		rc = only_keys(&p, root, "request", only_action);
		break;
	}
out:
	json_decref(root);
	return rc;
}

/* ---- responses ---- */

/* Serialises o (stolen) as one line. */
static char *finish(json_t *o)
{
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *nat_ctl_error_response(enum nat_ctl_error code, const char *msg)
{
	return finish(json_pack("{s:b, s:s, s:s}", "success", 0, "error",
				nat_ctl_error_name(code), "message", msg));
}

static char *ok_message(const char *msg)
{
	return finish(json_pack("{s:b, s:s}", "success", 1, "message", msg));
}

static json_t *ep_str(uint32_t ip, uint16_t port, uint8_t proto)
{
	char buf[24], a[16];
	nat_ip_str(ip, a);
	if (proto == 6 || proto == 17)
		snprintf(buf, sizeof(buf), "%s:%u", a, port);
	else
		snprintf(buf, sizeof(buf), "%s", a);
	return json_string(buf);
}

json_t *nat_ctl_forward_json(const struct nat_forward_cfg *f, long flows)
{
	char ip[16];
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "name", f->name,
			      "protocol", nat_proto_name(f->proto),
			      "external_port", (int)f->ext_port, "internal_ip",
			      nat_ip_str(f->int_ip, ip), "internal_port",
			      (int)f->int_port, "origin",
			      f->runtime ? "runtime" : "config");
	if (o && f->ext_ip)
		json_object_set_new(o, "external_ip",
				    json_string(nat_ip_str(f->ext_ip, ip)));
	if (o && f->n_src) {
		json_t *src = json_array();
		for (unsigned i = 0; src && i < f->n_src; i++) {
			char c[20];
			snprintf(c, sizeof(c), "%s/%u",
				 nat_ip_str(f->src[i].addr, ip), f->src[i].len);
			json_array_append_new(src, json_string(c));
		}
		json_object_set_new(o, "source", src);
	}
	if (o && f->in_if[0])
		json_object_set_new(o, "in_interface", json_string(f->in_if));
	if (o && flows >= 0)
		json_object_set_new(o, "flows", json_integer(flows));
	return o;
}

static char *do_forward_list(struct nat_engine *e)
{
	struct nat_forward_info *fi =
		malloc(NAT_FORWARDS_MAX * sizeof(*fi));
	if (!fi)
		return NULL;
	size_t n = nat_engine_forward_list(e, fi, NAT_FORWARDS_MAX);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n && i < NAT_FORWARDS_MAX; i++)
		json_array_append_new(arr, nat_ctl_forward_json(&fi[i].f, fi[i].flows));
	free(fi);
	return finish(json_pack("{s:b, s:o}", "success", 1, "forwards", arr));
}

static char *do_forward_add(struct nat_engine *e, const struct nat_ctl_ops *ops,
			    const struct nat_ctl_req *r,
			    enum nat_ctl_error *code)
{
	char err[ERRLEN], err2[ERRLEN];
	if (nat_engine_forward_add(e, &r->fwd, err, sizeof(err)) < 0) {
		*code = NAT_CTL_E_REFUSED;
		return nat_ctl_error_response(*code, err);
	}
	if (ops->forwards_changed &&
	    ops->forwards_changed(ops->ctx, err, sizeof(err)) < 0) {
		if (nat_engine_forward_remove(e, r->fwd.name, 0, 0, NULL, err2,
					      sizeof(err2)) < 0) {
			/* cannot happen: it was just added */
		}
		(void)ops->forwards_changed(ops->ctx, err2, sizeof(err2));
		*code = NAT_CTL_E_FAILED;
		char msg[ERRLEN + 64];
		snprintf(msg, sizeof(msg), "%s (the forward was not added)",
			 err);
		return nat_ctl_error_response(*code, msg);
	}
	struct nat_forward_cfg added = r->fwd; /* as the engine keeps it */
	if (added.ext_ip == nat_engine_config(e)->nat_ip)
		added.ext_ip = 0;
	return finish(json_pack("{s:b, s:s, s:o}", "success", 1, "message",
				"Port forward added", "forward",
				nat_ctl_forward_json(&added, -1)));
}

static char *do_forward_remove(struct nat_engine *e,
			       const struct nat_ctl_ops *ops,
			       const struct nat_ctl_req *r,
			       enum nat_ctl_error *code)
{
	char err[ERRLEN], err2[ERRLEN];
	struct nat_forward_cfg gone;
	if (nat_engine_forward_remove(e, r->by_name ? r->name : NULL,
				      r->proto, r->port, &gone, err,
				      sizeof(err)) < 0) {
		*code = NAT_CTL_E_REFUSED;
		return nat_ctl_error_response(*code, err);
	}
	if (ops->forwards_changed &&
	    ops->forwards_changed(ops->ctx, err, sizeof(err)) < 0) {
		/* Put it back: the state file and the steering still say so. */
		if (nat_engine_forward_add(e, &gone, err2, sizeof(err2)) < 0) {
			/* its port was free a moment ago: cannot happen */
		}
		(void)ops->forwards_changed(ops->ctx, err2, sizeof(err2));
		*code = NAT_CTL_E_FAILED;
		char msg[ERRLEN + 64];
		snprintf(msg, sizeof(msg),
			 "%s (the forward was put back; its flows were "
			 "closed)",
			 err);
		return nat_ctl_error_response(*code, msg);
	}
	return finish(json_pack("{s:b, s:s, s:o}", "success", 1, "message",
				"Port forward removed", "forward",
				nat_ctl_forward_json(&gone, -1)));
}

struct flows_ctx {
	const struct nat_engine *e;
	const struct nat_ctl_req *r;
	json_t *arr;
	uint64_t matched;
	uint64_t now_ns;
};

bool nat_ctl_flow_matches(const struct nat_ctl_req *r,
			  const struct nat_flow_info *f, const char *rule_name)
{
	if (r->fproto && f->proto != r->fproto)
		return false;
	if (r->has_addr && f->in_ip != r->addr && f->map_ip != r->addr &&
	    f->rem_ip != r->addr)
		return false;
	if (r->fport && f->in_port != r->fport && f->map_port != r->fport &&
	    f->rem_port != r->fport)
		return false;
	if (r->has_id && f->id != r->id)
		return false;
	if (r->has_kind && f->kind != r->kind)
		return false;
	if (r->state && (f->proto != 6 || f->tcp_state + 1 != r->state))
		return false;
	if (r->rule[0] && (!rule_name || strcmp(rule_name, r->rule) != 0))
		return false;
	return true;
}

static const char *flow_rule_name(const struct nat_engine *e,
				  const struct nat_flow_info *f)
{
	return f->kind == NAT_FLOW_FORWARD ? nat_engine_forward_name(e, f->rule)
					   : nat_engine_rule_name(e, f->rule);
}

static void flow_one(void *ctx, const struct nat_flow_info *f)
{
	struct flows_ctx *c = ctx;
	const char *rule = flow_rule_name(c->e, f);
	if (!nat_ctl_flow_matches(c->r, f, rule))
		return;
	if (c->matched++ >= c->r->limit || !c->arr || c->r->count_only)
		return;
	const char *pn = nat_proto_name(f->proto);
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:o, s:o, s:o, s:s?, s:I, s:I, s:I, s:I, "
		"s:f, s:f}",
		"id", (json_int_t)f->id, "proto", pn, "kind",
		nat_flow_kind_name((enum nat_flow_kind)f->kind), "inside",
		ep_str(f->in_ip, f->in_port, f->proto), "mapped",
		ep_str(f->map_ip, f->map_port, f->proto), "remote",
		ep_str(f->rem_ip, f->rem_port, f->proto), "rule", rule,
		"pkts_out", (json_int_t)f->pkts_out, "pkts_in",
		(json_int_t)f->pkts_in, "bytes_out", (json_int_t)f->bytes_out,
		"bytes_in", (json_int_t)f->bytes_in, "age",
		c->now_ns > f->first_ns ? (double)(c->now_ns - f->first_ns) / 1e9
					: 0.0,
		"idle",
		c->now_ns > f->last_ns ? (double)(c->now_ns - f->last_ns) / 1e9
				       : 0.0);
	if (o && f->proto == 1) { /* echo: the identifiers, in and out */
		json_object_set_new(o, "echo_id", json_integer(f->in_port));
		json_object_set_new(o, "mapped_id", json_integer(f->map_port));
	}
	if (o && f->proto == 6)
		json_object_set_new(o, "state",
				    json_string(nat_tcp_state_name(
					    (enum nat_tcp_state)f->tcp_state)));
	if (o)
		json_object_set_new(o, "network",
				    json_string(nat_engine_net_name(c->e,
								    f->net)));
	if (o && f->redirected) /* what the inside host addressed */
		json_object_set_new(o, "original",
				    ep_str(f->orig_ip, f->orig_port, f->proto));
	json_array_append_new(c->arr, o);
}

static char *do_flows(struct nat_engine *e, const struct nat_ctl_req *r)
{
	struct flows_ctx c = { e, r, json_array(), 0, nat_engine_now(e) };
	nat_engine_foreach_flow(e, flow_one, &c);
	size_t shown = c.arr ? json_array_size(c.arr) : 0;
	return finish(json_pack("{s:b, s:o, s:I, s:I, s:b}", "success", 1,
				"flows", c.arr, "matched", (json_int_t)c.matched,
				"shown", (json_int_t)shown, "truncated",
				c.matched > shown));
}

struct delete_ctx {
	const struct nat_engine *e;
	const struct nat_ctl_req *r;
};

static bool delete_match(void *ctx, const struct nat_flow_info *f)
{
	struct delete_ctx *c = ctx;
	return c->r->all || nat_ctl_flow_matches(c->r, f, flow_rule_name(c->e, f));
}

static char *do_flow_delete(struct nat_engine *e, const struct nat_ctl_req *r)
{
	struct delete_ctx c = { e, r };
	uint32_t n = nat_engine_flow_delete(e, delete_match, &c);
	char msg[64];
	snprintf(msg, sizeof(msg), "%u flow%s deleted", n, n == 1 ? "" : "s");
	return finish(json_pack("{s:b, s:s, s:I}", "success", 1, "message", msg,
				"deleted", (json_int_t)n));
}

/* ---- subscribe filters, on event lines ---- */

static bool ep_has(json_t *o, const char *key, bool ip, uint32_t addr,
		   uint16_t port)
{
	json_t *ep = json_object_get(o, key);
	if (!json_is_object(ep))
		return false;
	if (ip) {
		json_t *v = json_object_get(ep, "ip");
		uint32_t a;
		return json_is_string(v) && nat_ip_parse(json_string_value(v), &a) &&
		       a == addr;
	}
	json_t *v = json_object_get(ep, "port");
	return json_is_integer(v) && json_integer_value(v) == port;
}

static bool str_is(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

bool nat_ctl_event_matches(const struct nat_ctl_req *r, const char *line,
			   size_t len)
{
	static const char *const eps[] = { "inside", "mapped", "remote" };
	bool ok = true, any;
	if (!r->event[0] && !r->has_addr && !r->fport && !r->fproto &&
	    !r->has_id && !r->rule[0] && !r->has_kind && !r->state)
		return true;
	json_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return false;
	}
	if (r->event[0]) {
		json_t *ev = json_object_get(o, "ev");
		size_t n = strlen(r->event);
		ok = json_is_string(ev) &&
		     strncmp(json_string_value(ev), r->event, n) == 0 &&
		     (json_string_value(ev)[n] == '\0' ||
		      json_string_value(ev)[n] == '.' || r->event[n - 1] == '.');
	}
	if (ok && r->has_id) {
		json_t *v = json_object_get(o, "flow");
		ok = json_is_integer(v) && (uint64_t)json_integer_value(v) == r->id;
	}
	if (ok && r->has_addr) {
		any = false;
		for (size_t i = 0; i < 3; i++)
			any |= ep_has(o, eps[i], true, r->addr, 0);
		ok = any;
	}
	if (ok && r->fport) {
		any = false;
		for (size_t i = 0; i < 3; i++)
			any |= ep_has(o, eps[i], false, 0, r->fport);
		ok = any;
	}
	if (ok && r->fproto)
		ok = str_is(o, "proto", nat_proto_name(r->fproto));
	if (ok && r->has_kind)
		ok = str_is(o, "kind",
			    nat_flow_kind_name((enum nat_flow_kind)r->kind));
	if (ok && r->state)
		ok = str_is(o, "state",
			    nat_tcp_state_name((enum nat_tcp_state)(r->state -
								     1)));
	if (ok && r->rule[0])
		ok = str_is(o, "rule", r->rule);
	json_decref(o);
	return ok;
}

/* Per inside network: its name, address and counters. */
static json_t *networks_json(struct nat_engine *e)
{
	json_t *arr = json_array();
	const struct nat_config *cfg = nat_engine_config(e);
	for (unsigned i = 0; arr && i < nat_engine_n_nets(e); i++) {
		const struct nat_net_stats *n = nat_engine_net_stats(e, i);
		char ip[16], net[20];
		snprintf(net, sizeof(net), "%s/%u",
			 nat_ip_str(cfg->nets[i].cidr.addr, ip),
			 cfg->nets[i].cidr.len);
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
				  "name", nat_engine_net_name(e, i), "network",
				  net, "max_flows",
				  (json_int_t)cfg->nets[i].max_flows,
				  "flows_active", (json_int_t)n->flows_active,
				  "flows_total", (json_int_t)n->flows_total,
				  "flows_evicted", (json_int_t)n->flows_evicted,
				  "packets", (json_int_t)n->packets, "bytes",
				  (json_int_t)n->bytes));
	}
	return arr;
}

/* Every counter of the registry (metrics.h), in its JSON form. */
static char *do_stats(struct nat_engine *e, const struct nat_ctl_ops *ops)
{
	struct nat_ctl_extra x;
	struct nat_metrics m;
	char buf[16384];

	memset(&x, 0, sizeof(x));
	if (ops->extra)
		ops->extra(ops->ctx, &x);
	x.forwards = nat_engine_forward_list(e, NULL, 0);
	nat_metrics_fill(&m, nat_engine_stats(e), &x);
	if (nat_metrics_json(&m, buf, sizeof(buf)) >= sizeof(buf))
		return NULL;
	json_t *st = json_loads(buf, 0, NULL);
	if (st)
		json_object_set_new(st, "networks", networks_json(e));
	return finish(json_pack("{s:b, s:o}", "success", 1, "stats", st));
}

char *nat_ctl_execute(struct nat_engine *e, const struct nat_ctl_ops *ops,
		      const struct nat_ctl_req *r, enum nat_ctl_error *code)
{
	static const struct nat_ctl_ops none = { 0 };
	char err[ERRLEN], changes[1024], msg[1200];
	if (!ops)
		ops = &none;
	*code = NAT_CTL_E_NONE;
	switch (r->action) {
	case NAT_CTL_FORWARD_LIST:
		return do_forward_list(e);
	case NAT_CTL_FORWARD_ADD:
		return do_forward_add(e, ops, r, code);
	case NAT_CTL_FORWARD_REMOVE:
		return do_forward_remove(e, ops, r, code);
	case NAT_CTL_FLOWS:
		return do_flows(e, r);
	case NAT_CTL_STATS:
		return do_stats(e, ops);
	case NAT_CTL_FLOW_DELETE:
		return do_flow_delete(e, r);
	case NAT_CTL_SUBSCRIBE: /* the server answers it (server.c) */
		*code = NAT_CTL_E_FAILED;
		return nat_ctl_error_response(
			*code, "subscribe is not available here");
	case NAT_CTL_TRACE_ON:
	case NAT_CTL_TRACE_OFF: {
		bool on = r->action == NAT_CTL_TRACE_ON;
		if (!ops->trace) {
			*code = NAT_CTL_E_FAILED;
			return nat_ctl_error_response(
				*code, "tracing is not available here");
		}
		if (ops->trace(ops->ctx, on, r->bpf, err, sizeof(err)) < 0) {
			*code = NAT_CTL_E_REFUSED;
			return nat_ctl_error_response(*code, err);
		}
		if (!on)
			return ok_message("Tracing off");
		snprintf(msg, sizeof(msg), "Tracing on%s%s",
			 r->bpf[0] ? ", filter: " : " (every flow)", r->bpf);
		return ok_message(msg);
	}
	case NAT_CTL_RELOAD:
		if (!ops->reload) {
			*code = NAT_CTL_E_FAILED;
			return nat_ctl_error_response(
				*code, "reload is not available here");
		}
		if (ops->reload(ops->ctx, changes, sizeof(changes), err,
				sizeof(err)) < 0) {
			*code = NAT_CTL_E_REFUSED;
			return nat_ctl_error_response(*code, err);
		}
		return finish(json_pack("{s:b, s:s, s:s}", "success", 1,
					"message", "Configuration reloaded",
					"changes", changes));
	default:
		*code = NAT_CTL_E_UNKNOWN_ACTION;
		return nat_ctl_error_response(*code, "unknown action");
	}
}
