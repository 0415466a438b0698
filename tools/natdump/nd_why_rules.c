/* natdump why: the target's syntax and the decision (nd_why.h). No I/O:
 * the facts come in, one sentence goes out. */
#include "nd_why.h"

#include "nd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- targets ---- */

static bool parse_ip(const char *s, const char **end, uint32_t *ip)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char *e;
		if (*s < '0' || *s > '9')
			return false;
		unsigned long b = strtoul(s, &e, 10);
		if (b > 255 || e - s > 3)
			return false;
		v = v << 8 | (uint32_t)b;
		s = e;
		if (i < 3) {
			if (*s != '.')
				return false;
			s++;
		}
	}
	*ip = v;
	*end = s;
	return true;
}

static bool parse_port(const char *s, const char **end, uint16_t *p)
{
	char *e;
	if (*s < '0' || *s > '9')
		return false;
	unsigned long v = strtoul(s, &e, 10);
	if (v == 0 || v > 65535)
		return false;
	*p = (uint16_t)v;
	*end = e;
	return true;
}

static uint8_t proto_of(const char *s, size_t n)
{
	if (n == 3 && strncmp(s, "tcp", 3) == 0)
		return 6;
	if (n == 3 && strncmp(s, "udp", 3) == 0)
		return 17;
	if (n == 4 && strncmp(s, "icmp", 4) == 0)
		return 1;
	return 0;
}

static const char *skip_sp(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

bool nd_why_parse_target(const char *s, struct nd_why_target *t)
{
	const char *e;
	memset(t, 0, sizeof *t);
	size_t n = strlen(s);
	if (n == 0 || n > 80)
		return false;
	if (strspn(s, "0123456789") == n) { /* a flow id */
		char *end;
		t->kind = ND_WHY_FLOW;
		t->flow = strtoull(s, &end, 10);
		return *end == '\0' && t->flow != 0;
	}
	const char *slash = strchr(s, '/');
	if (slash && !strchr(s, ' ')) { /* tcp/8081 or 8081/tcp */
		uint8_t p = proto_of(s, (size_t)(slash - s));
		if (p == 6 || p == 17) {
			t->kind = ND_WHY_PORT;
			t->proto = p;
			return parse_port(slash + 1, &e, &t->port) && !*e;
		}
		p = proto_of(slash + 1, strlen(slash + 1));
		if (p == 6 || p == 17) {
			t->kind = ND_WHY_PORT;
			t->proto = p;
			return parse_port(s, &e, &t->port) && e == slash;
		}
		return false;
	}
	if (parse_ip(s, &e, &t->addr) && !*e) {
		t->kind = ND_WHY_ADDR;
		return true;
	}
	/* "tcp 1.2.3.4:5 > 6.7.8.9:10" */
	const char *sp = strchr(s, ' ');
	if (!sp)
		return false;
	t->proto = proto_of(s, (size_t)(sp - s));
	if (t->proto != 6 && t->proto != 17)
		return false;
	s = skip_sp(sp);
	if (!parse_ip(s, &e, &t->src) || *e != ':' ||
	    !parse_port(e + 1, &e, &t->sport))
		return false;
	s = skip_sp(e);
	if (*s == '>')
		s = skip_sp(s + 1);
	if (!parse_ip(s, &e, &t->dst) || *e != ':' ||
	    !parse_port(e + 1, &e, &t->dport))
		return false;
	t->kind = ND_WHY_TUPLE;
	return *skip_sp(e) == '\0';
}

/* ---- sentences ---- */

static const char *pname(uint8_t p)
{
	return p == 6 ? "tcp" : p == 17 ? "udp" : p == 1 ? "icmp" : "ip";
}

static const char *ip_s(uint32_t a, char *b)
{
	snprintf(b, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
	return b;
}

/* "tcp 1.2.3.4:5 > 6.7.8.9:10" (ICMP: ids after the addresses). */
static const char *tup_s(const struct nd_why_tuple *t, char *b, size_t n)
{
	char s[16], d[16];
	if (t->proto == 6 || t->proto == 17)
		snprintf(b, n, "%s %s:%u > %s:%u", pname(t->proto),
			 ip_s(t->src, s), t->sport, ip_s(t->dst, d), t->dport);
	else
		snprintf(b, n, "%s %s > %s", pname(t->proto), ip_s(t->src, s),
			 ip_s(t->dst, d));
	return b;
}

static const char *target_s(const struct nd_why_target *t, char *b, size_t n)
{
	char s[16], d[16];
	switch (t->kind) {
	case ND_WHY_FLOW:
		snprintf(b, n, "flow %llu", (unsigned long long)t->flow);
		break;
	case ND_WHY_PORT:
		snprintf(b, n, "%s/%u", pname(t->proto), t->port);
		break;
	case ND_WHY_ADDR:
		ip_s(t->addr, b);
		break;
	case ND_WHY_TUPLE:
		snprintf(b, n, "%s %s:%u > %s:%u", pname(t->proto),
			 ip_s(t->src, s), t->sport, ip_s(t->dst, d), t->dport);
		break;
	default:
		snprintf(b, n, "this gateway");
	}
	return b;
}

static const char *const cause_names[] = {
	[ND_CAUSE_NONE] = "none",
	[ND_CAUSE_NOTHING] = "nothing_seen",
	[ND_CAUSE_WRONG_INTERNAL] = "wrong_internal_network",
	[ND_CAUSE_HOST_PORT_RANGE] = "host_port_in_port_range",
	[ND_CAUSE_PORT_EXHAUSTED] = "port_exhausted",
	[ND_CAUSE_TABLE_FULL] = "table_full",
	[ND_CAUSE_FILTERED] = "filtered",
	[ND_CAUSE_RULE_DROP] = "rule_drop",
	[ND_CAUSE_SHADOWED] = "rule_shadowed",
	[ND_CAUSE_FWD_NO_ARP] = "forward_target_no_arp",
	[ND_CAUSE_FWD_NO_RETURN] = "forward_replies_elsewhere",
	[ND_CAUSE_FWD_SILENT] = "forward_target_silent",
	[ND_CAUSE_NO_FORWARD] = "no_forward",
	[ND_CAUSE_ICMP_MTU] = "icmp_frag_needed",
	[ND_CAUSE_ICMP_TTL] = "icmp_time_exceeded",
	[ND_CAUSE_ICMP_UNREACH] = "icmp_unreachable",
	[ND_CAUSE_ICMP_OTHER] = "icmp_error",
	[ND_CAUSE_DROP_OTHER] = "drop",
	[ND_CAUSE_QUEUE_OVERFLOW] = "queue_overflow",
	[ND_CAUSE_INTERNAL_NO_IF] = "internal_network_on_no_interface",
};

const char *nd_why_cause_name(enum nd_why_cause c)
{
	if ((size_t)c < sizeof cause_names / sizeof cause_names[0] &&
	    cause_names[c])
		return cause_names[c];
	return "?";
}

/* Neighbour states in which the host answered ARP (recently or ever). */
static bool neigh_answered(const char *s)
{
	return strcmp(s, "REACHABLE") == 0 || strcmp(s, "STALE") == 0 ||
	       strcmp(s, "DELAY") == 0 || strcmp(s, "PROBE") == 0 ||
	       strcmp(s, "PERMANENT") == 0 || strcmp(s, "NOARP") == 0;
}

static bool neigh_failed(const char *s)
{
	return strcmp(s, "FAILED") == 0 || strcmp(s, "INCOMPLETE") == 0 ||
	       strcmp(s, "none") == 0;
}

static enum nd_why_cause icmp_sentence(const struct nd_why_icmp *ic,
				       enum nd_why_cause c, char *out,
				       size_t len)
{
	char r[16], t[96], d[16];
	tup_s(&ic->about, t, sizeof t);
	ip_s(ic->about.dst, d);
	ip_s(ic->router, r);
	switch (c) {
	case ND_CAUSE_ICMP_MTU:
		snprintf(out, len,
			 "ICMP frag-needed mtu=%u from %s about %s: the path "
			 "to %s carries at most %u bytes and bigger packets "
			 "with DF set are dropped there; lower the sender's "
			 "MTU or clamp the TCP MSS, and let ICMP type 3 "
			 "through every firewall on the way",
			 ic->mtu, r, t, d, ic->mtu);
		break;
	case ND_CAUSE_ICMP_TTL:
		snprintf(out, len,
			 "ICMP time-exceeded from %s about %s: the packets' "
			 "TTL ran out at %s on the way to %s (a routing loop, "
			 "or a sender TTL too small); trace the path "
			 "(traceroute %s) and fix the loop or the TTL",
			 r, t, r, d, d);
		break;
	case ND_CAUSE_ICMP_UNREACH: {
		char w[32];
		static const char *const words[] = {
			"net-unreachable", "host-unreachable",
			"protocol-unreachable", "port-unreachable"
		};
		if (ic->code < 4)
			snprintf(w, sizeof w, "%s", words[ic->code]);
		else if (ic->code == 9 || ic->code == 10 || ic->code == 13)
			snprintf(w, sizeof w, "admin-prohibited");
		else
			snprintf(w, sizeof w, "unreachable code %u", ic->code);
		snprintf(out, len,
			 "ICMP %s from %s about %s: %s; %s", w, r, t,
			 ic->code == 3 ? "nothing listens on that port there"
			 : ic->code == 13 || ic->code == 9 || ic->code == 10
				 ? "a firewall on the way refuses it"
				 : "the destination cannot be reached from there",
			 ic->code == 3 ? "start the service or fix the port"
			 : ic->code == 13 || ic->code == 9 || ic->code == 10
				 ? "open that firewall for it"
				 : "fix the routing towards it");
		break;
	}
	default:
		snprintf(out, len,
			 "ICMP error type %u code %u from %s about %s: the "
			 "router refused the packet; see RFC 792 for the code",
			 ic->type, ic->code, r, t);
	}
	return c;
}

enum nd_why_cause nd_why_decide(const struct nd_why_facts *f, char *out,
				size_t len)
{
	char tg[96], a[16], b[16], t[96];
	target_s(&f->target, tg, sizeof tg);

	if (f->target_outside_internal) {
		ip_s(f->internal, a);
		if (f->internal_if[0])
			snprintf(t, sizeof t, " (%s/%u on %s)",
				 ip_s(f->if_net, b), f->if_net_len,
				 f->internal_if);
		else
			t[0] = '\0';
		snprintf(out, len,
			 "wrong internal_network: %s is not in internal_network "
			 "%s/%u, so glassnat never sees its packets (they leave "
			 "untranslated and their replies go nowhere); set "
			 "internal_network to the inside network%s",
			 ip_s(f->target.addr, b), a, f->internal_len, t);
		return ND_CAUSE_WRONG_INTERNAL;
	}
	if (f->synack_no_mapping) {
		tup_s(&f->synack_ex, t, sizeof t);
		if (f->has_config)
			snprintf(b, sizeof b, " %u-%u", f->port_lo, f->port_hi);
		else
			b[0] = '\0';
		snprintf(out, len,
			 "the host's own traffic in port_range: %llu TCP "
			 "SYN-ACK(s) (%s) dropped as no_mapping answer a "
			 "connection the host itself opened from port %u, "
			 "inside port_range%s; bind the host's programs to "
			 "ports outside port_range, or give glassnat a nat_ip "
			 "of its own",
			 (unsigned long long)f->synack_no_mapping, t,
			 f->synack_ex.dport, b);
		return ND_CAUSE_HOST_PORT_RANGE;
	}
	if (f->drops[NAT_R_PORT_EXHAUSTED] || f->port_exhausted) {
		uint64_t n = f->drops[NAT_R_PORT_EXHAUSTED]
				     ? f->drops[NAT_R_PORT_EXHAUSTED]
				     : f->port_exhausted;
		const struct nd_why_tuple *x =
			f->drops[NAT_R_PORT_EXHAUSTED]
				? &f->drop_ex[NAT_R_PORT_EXHAUSTED]
				: &f->limit_ex;
		if (f->has_config)
			snprintf(b, sizeof b, " %u-%u", f->port_lo, f->port_hi);
		else
			b[0] = '\0';
		snprintf(out, len,
			 "port exhaustion: port_range%s had no free port for "
			 "%llu new flow(s) (first %s); widen port_range, add "
			 "addresses with snat rules, or shorten the timeouts "
			 "of idle flows",
			 b, (unsigned long long)n, tup_s(x, t, sizeof t));
		return ND_CAUSE_PORT_EXHAUSTED;
	}
	if (f->drops[NAT_R_TABLE_FULL] || f->table_full) {
		uint64_t n = f->drops[NAT_R_TABLE_FULL] ? f->drops[NAT_R_TABLE_FULL]
						       : f->table_full;
		if (f->has_config)
			snprintf(b, sizeof b, " (%u)", f->max_flows);
		else
			b[0] = '\0';
		snprintf(out, len,
			 "table full: limits.max_flows%s was reached and %llu "
			 "new flow(s) were refused; raise limits.max_flows, "
			 "set limits.max_flows_per_host, or shorten the "
			 "timeouts",
			 b, (unsigned long long)n);
		return ND_CAUSE_TABLE_FULL;
	}
	if (f->drops[NAT_R_FILTERED]) {
		const struct nd_why_tuple *x = &f->drop_ex[NAT_R_FILTERED];
		snprintf(out, len,
			 "filtering refused a remote: %s:%u sent %llu "
			 "packet(s) to %s:%u, a mapping an inside host opened "
			 "towards another peer, and filtering %s refuses "
			 "that; if that peer must reach it, set filtering: "
			 "endpoint_independent (or address_dependent)",
			 ip_s(x->src, a), x->sport,
			 (unsigned long long)f->drops[NAT_R_FILTERED],
			 ip_s(x->dst, b), x->dport,
			 f->filtering[0] ? f->filtering
					 : "(address_and_port_dependent by "
					   "default)");
		return ND_CAUSE_FILTERED;
	}
	if (f->drops[NAT_R_RULE_DROP]) {
		snprintf(out, len,
			 "rule '%s' dropped %llu packet(s) of %s: a rule with "
			 "action drop matched their first packet; change or "
			 "move that rule (glassnat check -c FILE prints the "
			 "order)",
			 f->drop_rule[0] ? f->drop_rule : "?",
			 (unsigned long long)f->drops[NAT_R_RULE_DROP], tg);
		return ND_CAUSE_RULE_DROP;
	}
	if (f->shadowed[0]) {
		snprintf(out, len,
			 "rule shadowed: rule '%s' (line %u) never matches "
			 "because rule '%s' (line %u) above it matches "
			 "everything it would, so %s got '%s'; move '%s' "
			 "above '%s'",
			 f->shadowed, f->shadowed_line, f->shadower,
			 f->shadower_line, tg, f->shadower, f->shadowed,
			 f->shadower);
		return ND_CAUSE_SHADOWED;
	}
	if (f->fwd_unanswered) {
		char fw[256];
		ip_s(f->fwd_ip, a);
		if (f->fwd_name[0])
			snprintf(fw, sizeof fw, "forward '%s' (%s/%u)",
				 f->fwd_name, pname(f->fwd_proto), f->fwd_ext);
		else
			snprintf(fw, sizeof fw, "the forward (%s/%u)",
				 pname(f->fwd_proto), f->fwd_ext);
		if (neigh_failed(f->neigh)) {
			snprintf(out, len,
				 "forward target not answering ARP: %s sends "
				 "to %s:%u, which is neighbour %s on the inside "
				 "network, so the forwarded connections go "
				 "nowhere; fix the forward's internal_ip or "
				 "bring that host up",
				 fw, a, f->fwd_port, f->neigh);
			return ND_CAUSE_FWD_NO_ARP;
		}
		if (neigh_answered(f->neigh)) {
			snprintf(out, len,
				 "replies not coming back through the gateway: "
				 "%s answers ARP (neighbour %s) and gets the "
				 "connections of %s, but nothing it sends "
				 "reaches glassnat; make this gateway its "
				 "default route (or the route to the clients)",
				 a, f->neigh, fw);
			return ND_CAUSE_FWD_NO_RETURN;
		}
		snprintf(out, len,
			 "the forward's target never answered: %s sends to "
			 "%s:%u and nothing came back (%llu flow(s)); check "
			 "that the host is up, listens on port %u and routes "
			 "its replies through this gateway (events with "
			 "forward.unanswered tell which)",
			 fw, a, f->fwd_port,
			 (unsigned long long)f->fwd_unanswered, f->fwd_port);
		return ND_CAUSE_FWD_SILENT;
	}
	if (f->unowned || f->passes[NAT_R_NO_FORWARD]) {
		const struct nd_why_tuple *x = &f->unowned_ex;
		uint64_t n = f->unowned ? f->unowned : f->passes[NAT_R_NO_FORWARD];
		snprintf(out, len,
			 "no forward for %s/%u: %llu connection(s) to %s:%u "
			 "were handed to the host, which has no service "
			 "there; add one (glassnat forward add %s/%u:"
			 "INSIDE_IP:PORT) or fix the port the client uses",
			 pname(x->proto), x->dport, (unsigned long long)n,
			 ip_s(x->dst, a), x->dport, pname(x->proto), x->dport);
		return ND_CAUSE_NO_FORWARD;
	}
	if (f->mtu.n)
		return icmp_sentence(&f->mtu, ND_CAUSE_ICMP_MTU, out, len);
	if (f->ttl.n)
		return icmp_sentence(&f->ttl, ND_CAUSE_ICMP_TTL, out, len);
	if (f->unreach.n)
		return icmp_sentence(&f->unreach, ND_CAUSE_ICMP_UNREACH, out,
				     len);
	if (f->other_icmp.n)
		return icmp_sentence(&f->other_icmp, ND_CAUSE_ICMP_OTHER, out,
				     len);
	/* Any other drop: the reason's own words. */
	int worst = 0;
	for (int r = 1; r < NAT_R_MAX; r++)
		if (f->drops[r] > f->drops[worst])
			worst = r;
	if (worst && f->drops[worst]) {
		const char *name = nat_reason_name((enum nat_reason)worst);
		const struct nd_reason_doc *d = nd_reason_doc(name);
		snprintf(out, len,
			 "%llu packet(s) of %s dropped as %s (%s): %s; check %s",
			 (unsigned long long)f->drops[worst], tg, name,
			 tup_s(&f->drop_ex[worst], t, sizeof t),
			 d ? d->meaning : "?", d ? d->check : "the reason");
		return ND_CAUSE_DROP_OTHER;
	}
	if (f->queue_known && (f->queue_dropped || f->user_dropped) &&
	    (f->target.kind == ND_WHY_ALL || f->units == 0)) {
		snprintf(out, len,
			 "queue overflow: the kernel dropped %llu packet(s) "
			 "before glassnat saw them (queue full %llu, socket "
			 "full %llu); glassnat is saturated: give it CPU, make "
			 "--trace selective, and compare with `make bench`",
			 (unsigned long long)(f->queue_dropped + f->user_dropped),
			 (unsigned long long)f->queue_dropped,
			 (unsigned long long)f->user_dropped);
		return ND_CAUSE_QUEUE_OVERFLOW;
	}
	if (f->internal_on_no_if) {
		snprintf(out, len,
			 "wrong internal_network: %s/%u is on no interface of "
			 "this host, so no inside host reaches glassnat "
			 "through it; set it to the inside interface's "
			 "network (ip -4 addr)",
			 ip_s(f->internal, a), f->internal_len);
		return ND_CAUSE_INTERNAL_NO_IF;
	}
	if (f->units == 0 && f->flows == 0) {
		snprintf(out, len,
			 "nothing seen for %s: no traced packet and no event "
			 "names it; check that --trace was on (and its filter "
			 "covers it), that the events file is this run's, and "
			 "that the traffic reaches this gateway",
			 tg);
		return ND_CAUSE_NOTHING;
	}
	snprintf(out, len,
		 "no problem seen for %s: %llu packet(s) in %llu flow(s), "
		 "%llu translated, none dropped, no ICMP error",
		 tg, (unsigned long long)f->units, (unsigned long long)f->flows,
		 (unsigned long long)f->natted);
	return ND_CAUSE_NONE;
}
