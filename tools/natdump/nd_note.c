/* glassnat's trace notes as natdump sees them, and the packet headers
 * natdump shows. The note codec is trace/note.c, the link layers
 * trace/linktype.c: natdump reads what glassnat writes and replays. */
#include "nd.h"

#include <stdio.h>
#include <string.h>

#include "linktype.h"
#include "note.h"
#include "packet.h"

void nd_note_parse(struct nd_note *n, const char *comment)
{
	struct trace_note tn;
	char err[64];

	memset(n, 0, sizeof *n);
	if (!comment)
		return;
	/* What is not understood is left out: a note with a bad map still
	 * names its flow. */
	(void)trace_note_decode(&tn, comment, strlen(comment), err,
				sizeof err);
	n->glassnat = tn.has_flow;
	n->flow = tn.flow;
	n->stage = tn.stage == TRACE_NOTE_PRE	 ? ND_STAGE_PRE
		   : tn.stage == TRACE_NOTE_POST ? ND_STAGE_POST
						 : ND_STAGE_NONE;
	n->dir = tn.dir == TRACE_NOTE_OUT  ? ND_DIR_OUT
		 : tn.dir == TRACE_NOTE_IN ? ND_DIR_IN
					   : ND_DIR_NONE;
	n->has_map = tn.has_map;
	n->map_ip = tn.map_ip;
	n->map_port = tn.map_port;
	n->hairpin = tn.hairpin;
	snprintf(n->verdict, sizeof n->verdict, "%s", tn.verdict);
	snprintf(n->reason, sizeof n->reason, "%s", tn.reason);
	if (tn.has_rule) { /* "forward:NAME", cut to the field */
		const char *pre = tn.forward ? "forward:" : "";
		size_t pl = strlen(pre), rl = strlen(tn.rule);
		if (rl > sizeof n->rule - 1 - pl)
			rl = sizeof n->rule - 1 - pl;
		memcpy(n->rule, pre, pl);
		memcpy(n->rule + pl, tn.rule, rl);
		n->rule[pl + rl] = '\0';
	}
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void nd_hdr_parse(struct nd_hdr *h, const uint8_t *data, size_t caplen,
		  uint32_t linktype)
{
	uint8_t copy[192];
	struct nat_pkt p;
	enum nat_parse_status st;
	size_t l3, n;

	memset(h, 0, sizeof *h);
	if (trace_link_decap(linktype, data, caplen, &l3) != TRACE_L3_IPV4)
		return;
	n = caplen - l3;
	if (n > sizeof copy)
		n = sizeof copy;
	memcpy(copy, data + l3, n);
	st = nat_pkt_parse(&p, copy, n);
	if (st == NAT_PARSE_IPV6 || n < 20 || (copy[0] >> 4) != 4)
		return;
	h->ip = true;
	h->proto = copy[9];
	h->src = rd32(copy + 12);
	h->dst = rd32(copy + 16);
	if (st != NAT_PARSE_OK || (p.flags & NAT_PKT_FRAG_LATER))
		return;
	h->icmp_type = p.icmp_type;
	h->icmp_code = p.icmp_code;
	if (p.flags & NAT_PKT_ICMP_ERROR) {
		const uint8_t *ic = copy + p.ihl; /* 8 bytes checked */
		h->icmp_err = true;
		if (p.icmp_type == 3 && p.icmp_code == 4)
			h->mtu = (uint16_t)(ic[6] << 8 | ic[7]);
		h->inner.ip = true;
		h->inner.proto = p.inner.proto;
		h->inner.src = p.inner.src;
		h->inner.dst = p.inner.dst;
		h->inner.ports = p.inner.proto == 6 || p.inner.proto == 17 ||
				 (p.inner.proto == 1 &&
				  (p.inner.icmp_type == 0 || p.inner.icmp_type == 8));
		h->inner.sport = p.inner.sport;
		h->inner.dport = p.inner.dport;
	}
	if (p.proto == 6 || p.proto == 17 ||
	    (p.proto == 1 && (p.flags & NAT_PKT_ICMP_QUERY))) {
		h->ports = true;
		h->sport = p.sport;
		h->dport = p.dport;
	}
	if (p.proto == 6) {
		const uint8_t *t = copy + p.ihl; /* 20 bytes checked */
		size_t doff = (size_t)(t[12] >> 4) * 4;
		size_t ip_data = p.ip_total > p.ihl ? p.ip_total - p.ihl : 0;
		h->tcp_flags = p.tcp_flags;
		h->seq = rd32(t + 4);
		h->ack = rd32(t + 8);
		h->payload = (uint16_t)(ip_data > doff ? ip_data - doff : 0);
	}
}

const char *nd_icmp_name(uint8_t type, uint8_t code, char *buf)
{
	static const char *const unreach[] = {
		"net-unreachable",	   "host-unreachable",
		"protocol-unreachable",	   "port-unreachable",
		"frag-needed",		   "source-route-failed",
		"net-unknown",		   "host-unknown",
		"host-isolated",	   "net-prohibited",
		"host-prohibited",	   "net-unreachable-tos",
		"host-unreachable-tos",	   "admin-prohibited",
		"host-precedence-violation", "precedence-cutoff",
	};
	switch (type) {
	case 0:
		return "echo-reply";
	case 8:
		return "echo-request";
	case 3:
		if (code < sizeof unreach / sizeof unreach[0])
			return unreach[code];
		break;
	case 11:
		return code == 0 ? "time-exceeded"
		       : code == 1 ? "reassembly-time-exceeded"
				   : "time-exceeded";
	case 12:
		return "parameter-problem";
	default:
		break;
	}
	snprintf(buf, 16, "icmp-%u/%u", type, code);
	return buf;
}

void nd_icmp_words(const struct nd_hdr *h, char *buf, size_t len)
{
	char b[16];
	const char *w = nd_icmp_name(h->icmp_type, h->icmp_code, b);
	if (h->icmp_type == 3 && h->icmp_code == 4)
		snprintf(buf, len, "%s mtu=%u", w, h->mtu);
	else
		snprintf(buf, len, "%s", w);
}
