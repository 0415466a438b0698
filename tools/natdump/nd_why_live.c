/* natdump why: what the config says (--config), what the kernel says on
 * the gateway (--live: its queue counters, interfaces) and what the
 * running gateway says over its control socket (-s: counters, flows). */
#include "nd_why_int.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "lint.h"
#include "neigh.h"

/* ---- the config and the live host ---- */

void nd_why_take_config(struct gather *g, const struct nat_config *c, bool live)
{
	struct nd_why_facts *f = &g->f;
	char a[16], b[16];
	f->has_config = true;
	snprintf(f->filtering, sizeof f->filtering, "%s",
		 nat_filtering_name(c->filtering));
	f->port_lo = c->port_range.lo;
	f->port_hi = c->port_range.hi;
	f->max_flows = c->limits.max_flows;
	f->internal = c->internal.addr;
	f->internal_len = c->internal.len;
	f->nat_ip = c->nat_ip;
	uint32_t m = c->internal.len ? ~0u << (32 - c->internal.len) : 0;
	if (f->target.kind == ND_WHY_ADDR && f->target.addr != c->nat_ip &&
	    (f->target.addr & m) != c->internal.addr) {
		/* An inside host that glassnat does not count as inside: on
		 * the gateway, the address is on one of its networks (not
		 * nat_ip's); elsewhere, no packet of it was ever queued. */
		struct nat_cidr net, natnet;
		char ifn[20], natif[20];
		if (live) {
			if (nat_host_net_of(f->target.addr, ifn, sizeof ifn,
					    &net) == 0 &&
			    (nat_host_net_of(c->nat_ip, natif, sizeof natif,
					     &natnet) != 0 ||
			     strcmp(ifn, natif) != 0)) {
				f->target_outside_internal = true;
				snprintf(f->internal_if, sizeof f->internal_if,
					 "%s", ifn);
				f->if_net = net.addr;
				f->if_net_len = net.len;
			}
		} else if (f->units == 0) {
			f->target_outside_internal = true;
		}
		if (f->target_outside_internal)
			nd_why_note(g,
				 "config internal_network %s/%u does not hold "
				 "%s%s%s",
				 nd_why_ip(c->internal.addr, a), c->internal.len,
				 nd_why_ip(f->target.addr, b),
				 f->internal_if[0] ? ", which is on " : "",
				 f->internal_if);
	}
	if (f->shadowed[0])
		nd_why_note(g, "config rule '%s' line %u is shadowed by '%s' line %u",
			 f->shadowed, f->shadowed_line, f->shadower,
			 f->shadower_line);
	if (f->target.kind == ND_WHY_ALL && !f->shadowed[0]) {
		size_t r[1], by[1];
		if (nat_config_shadowed(c, r, by, 1)) {
			snprintf(f->shadowed, sizeof f->shadowed, "%s",
				 c->rules[r[0]].name);
			snprintf(f->shadower, sizeof f->shadower, "%s",
				 c->rules[by[0]].name);
			f->shadowed_line = c->rules[r[0]].line;
			f->shadower_line = c->rules[by[0]].line;
		}
	}
	if (live) {
		struct nat_lint_host h;
		nat_host_lint_facts(c, &h);
		f->internal_on_no_if = h.internal_if_known && !h.internal_on_if;
	}
}

/* /proc/net/netfilter/nfnetlink_queue: "queue portid waiting mode range
 * queue_dropped user_dropped id 1" a line. */
void nd_why_take_proc_queue(struct gather *g)
{
	FILE *fp = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
	char line[256];
	if (!fp)
		return;
	g->f.queue_known = true;
	while (fgets(line, sizeof line, fp)) {
		unsigned long long v[9];
		if (sscanf(line, "%llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7], &v[8]) < 7)
			continue;
		g->f.queue_dropped += v[5];
		g->f.user_dropped += v[6];
		nd_why_note(g,
			 "kernel nfnetlink_queue %llu: waiting=%llu "
			 "queue_dropped=%llu user_dropped=%llu",
			 v[0], v[2], v[5], v[6]);
	}
	fclose(fp);
}

/* ---- the live gateway, over its control socket ---- */

/* "1.2.3.4:5" or "1.2.3.4" into an endpoint. */
static struct ep ep_str(const char *s)
{
	struct ep e = { 0 };
	char ip[24];
	struct nd_why_target t;
	if (!s)
		return e;
	snprintf(ip, sizeof ip, "%s", s);
	char *colon = strchr(ip, ':');
	if (colon)
		*colon = '\0';
	if (!nd_why_parse_target(ip, &t) || t.kind != ND_WHY_ADDR)
		return e;
	e.on = true;
	e.ip = t.addr;
	e.port = colon ? (uint16_t)atoi(colon + 1) : 0;
	return e;
}

static json_t *ctl(const char *sock, const char *req)
{
	char *resp = NULL;
	size_t len = 0;
	unsigned long oserr = 0;
	if (nat_ctl_call(sock, req, 5000, &resp, &len, &oserr) !=
	    NAT_CTL_CALL_OK) {
		fprintf(stderr, "natdump why: no answer from %s\n", sock);
		free(resp);
		return NULL;
	}
	json_error_t jerr;
	json_t *o = json_loadb(resp, len, 0, &jerr);
	free(resp);
	if (!json_is_true(json_object_get(o, "success"))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The running gateway's counters (queue included, whatever their names)
 * and its live flows of the target: forward flows whose inside host has
 * not answered yet. Returns 1 when the gateway did not answer. */
int nd_why_read_socket(struct gather *g, const char *sock)
{
	struct nd_why_facts *f = &g->f;
	json_t *st = ctl(sock, "{\"action\":\"stats\"}\n");
	if (!st)
		return 1;
	nd_why_take_stats(g, json_object_get(st, "stats"));
	json_decref(st);
	json_t *fl = ctl(sock, "{\"action\":\"flows\",\"limit\":10000}\n");
	if (!fl)
		return 1;
	size_t i;
	json_t *o;
	uint64_t silent = 0;
	json_array_foreach(json_object_get(fl, "flows"), i, o)
	{
		uint8_t proto = nd_why_ev_proto(o);
		struct ep eps[3] = {
			ep_str(json_string_value(json_object_get(o, "inside"))),
			ep_str(json_string_value(json_object_get(o, "mapped"))),
			ep_str(json_string_value(json_object_get(o, "remote")))
		};
		if (!nd_why_ev_matches(&f->target, o, proto, eps, 3) &&
		    !(f->target.kind == ND_WHY_FLOW &&
		      (uint64_t)json_integer_value(json_object_get(o, "id")) ==
			      f->target.flow))
			continue;
		uint64_t in = 0, out = 0, id = 0;
		(void)nd_why_json_u64(json_object_get(o, "pkts_in"), &in);
		(void)nd_why_json_u64(json_object_get(o, "pkts_out"), &out);
		(void)nd_why_json_u64(json_object_get(o, "id"), &id);
		nd_why_count_flow(g, id);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		if (kind && strcmp(kind, "forward") == 0 && in > 1 && !out &&
		    !silent++) {
			nd_why_note(g, "live flow %llu: forward to %s, %llu packets "
				    "in, none back",
				 (unsigned long long)id,
				 json_string_value(json_object_get(o, "inside")),
				 (unsigned long long)in);
			if (!f->fwd_ip) {
				f->fwd_ip = eps[0].ip;
				f->fwd_port = eps[0].port;
				f->fwd_ext = eps[1].port;
				f->fwd_proto = proto;
				const char *r = json_string_value(
					json_object_get(o, "rule"));
				snprintf(f->fwd_name, sizeof f->fwd_name, "%s",
					 r ? r : "");
			}
		}
	}
	if (silent > g->ev_fwd_silent)
		g->ev_fwd_silent = silent;
	json_decref(fl);
	return 0;
}

