/* Redirect rules (action redirect): a new outbound flow's destination is
 * rewritten to the rule's to_address / to_port; the flow remembers what
 * the inside host addressed (vis_ip:vis_port, its in-index key) so its
 * packets are found and its replies translated back (engine.c). See
 * docs/translation.md, "Redirect". Engine thread. */
#include "engine.h"

#include "engine_int.h"
#include "packet.h"

void nat_eng_redirect_plan(const struct nat_engine *e, uint16_t rule,
			   const struct nat_pkt *p, struct nat_redir *rd,
			   enum nat_action *act)
{
	rd->on = false;
	rd->ip = p->dst;
	rd->port = p->dport;
	if (*act != NAT_ACT_REDIRECT || rule == NAT_RULE_NONE)
		return;
	const struct nat_rule_cfg *r = &e->cfg.rules[rule];
	rd->on = true;
	if (r->to_address)
		rd->ip = r->to_address;
	if (r->to_port && p->proto != 1)
		rd->port = r->to_port;
	*act = r->then;
}

void nat_eng_set_remote(struct nat_flow *f, const struct nat_pkt *p,
			const struct nat_redir *rd)
{
	f->rem_ip = rd->ip;
	f->rem_port = rd->port;
	f->tflags = NAT_TF_OUT_INIT;
	if (rd->on) {
		f->tflags |= NAT_TF_REDIRECT;
		f->vis_ip = p->dst;
		f->vis_port = p->dport;
	}
}

bool nat_eng_redirect_clash(const struct nat_engine *e, uint8_t proto,
			    uint32_t map_ip, uint16_t map_port,
			    const struct nat_redir *rd)
{
	return nat_flow_find_out(&e->ft, proto, map_ip, map_port, rd->ip,
				 rd->port) != NAT_FLOW_NIL;
}
