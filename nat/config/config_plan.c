/* The plan printer: what `glassnat check` prints for a loaded config (one
 * line a setting, the rules and forwards numbered as errors name them).
 * Its output is a contract (tests compare it byte for byte). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_yaml.h"

static const char *policy_name(enum nat_policy p)
{
	return p == NAT_POLICY_PASS	   ? "pass"
	       : p == NAT_POLICY_TRANSLATE ? "translate"
					   : "drop";
}

/* 7440 -> "2h4m", 240 -> "4m", 90 -> "1m30s". */
static void fmt_duration(uint32_t s, char out[32])
{
	static const uint32_t mult[] = { 86400, 3600, 60, 1 };
	static const char units[] = "dhms";
	size_t used = 0;

	snprintf(out, 32, "0s");
	for (int i = 0; i < 4 && s; i++) {
		uint32_t q = s / mult[i];
		if (q == 0)
			continue;
		s -= q * mult[i];
		used += (size_t)snprintf(out + used, 32 - used, "%" PRIu32 "%c",
					 q, units[i]);
	}
}

static void fmt_bytes(uint64_t b, char out[32])
{
	if (b >= (1ull << 30) && b % (1ull << 30) == 0)
		snprintf(out, 32, "%" PRIu64 " GiB", b >> 30);
	else if (b >= (1ull << 20) && b % (1ull << 20) == 0)
		snprintf(out, 32, "%" PRIu64 " MiB", b >> 20);
	else if (b >= (1ull << 10) && b % (1ull << 10) == 0)
		snprintf(out, 32, "%" PRIu64 " KiB", b >> 10);
	else
		snprintf(out, 32, "%" PRIu64 " bytes", b);
}

static void print_rule(FILE *out, size_t i, const struct nat_rule_cfg *r,
		       uint32_t nat_ip)
{
	char a[20], ip[16];

	fprintf(out, "  %zu. %s ", i + 1, r->name);
	if (r->proto)
		fprintf(out, " %s", nat_proto_name(r->proto));
	if (r->in_if[0])
		fprintf(out, " in %s", r->in_if);
	if (r->out_if[0])
		fprintf(out, " out %s", r->out_if);
	if (r->src.len) {
		cfg_fmt_cidr(&r->src, a);
		fprintf(out, " src %s", a);
	}
	cfg_fmt_cidr(&r->dst, a);
	fprintf(out, " dst %s", a);
	for (unsigned k = 0; k < r->n_ports; k++) {
		fprintf(out, "%s%u", k ? "," : " ports ", r->ports[k].lo);
		if (r->ports[k].hi != r->ports[k].lo)
			fprintf(out, "-%u", r->ports[k].hi);
	}
	fprintf(out, " -> %s", nat_action_name(r->action));
	if (r->action == NAT_ACT_NAT) {
		cfg_fmt_ip(nat_ip, ip);
		fprintf(out, " (as %s)", ip);
	} else if (r->action == NAT_ACT_SNAT) {
		cfg_fmt_ip(r->to_address, ip);
		fprintf(out, " (as %s)", ip);
	} else if (r->action == NAT_ACT_MASQUERADE) {
		fprintf(out, " (as the out interface's address)");
	} else if (r->action == NAT_ACT_REDIRECT) {
		fprintf(out, " to ");
		if (r->to_address) {
			cfg_fmt_ip(r->to_address, ip);
			fprintf(out, "%s", ip);
		} else {
			fprintf(out, "(same address)");
		}
		if (r->to_port)
			fprintf(out, ":%u", r->to_port);
		fprintf(out, ", then %s", nat_action_name(r->then));
		if (r->then == NAT_ACT_NAT) {
			cfg_fmt_ip(nat_ip, ip);
			fprintf(out, " (as %s)", ip);
		} else if (r->then == NAT_ACT_MASQUERADE) {
			fprintf(out, " (as the out interface's address)");
		}
		fprintf(out, "; replies come from the address asked");
	}
	fprintf(out, "  (line %u)\n", r->line);
	if (r->description[0])
		fprintf(out, "     %s\n", r->description);
}

/* The inside networks, when there is more than one or the networks
 * section gave one a name or limits. */
static void print_networks(FILE *out, const struct nat_config *cfg)
{
	char net[20];
	bool custom = cfg->n_nets > 1;
	for (unsigned i = 0; i < cfg->n_nets && !custom; i++) {
		cfg_fmt_cidr(&cfg->nets[i].cidr, net);
		custom = strcmp(net, cfg->nets[i].name) != 0 ||
			 cfg->nets[i].max_flows || cfg->nets[i].max_flows_per_host;
	}
	if (!custom)
		return;
	fprintf(out, "networks (each with its own limits and counters):\n");
	for (unsigned i = 0; i < cfg->n_nets; i++) {
		const struct nat_net_cfg *n = &cfg->nets[i];
		cfg_fmt_cidr(&n->cidr, net);
		fprintf(out, "  %u. %s  %s (%" PRIu64 " addresses)", i + 1,
			n->name, net, (uint64_t)1 << (32 - n->cidr.len));
		if (n->max_flows)
			fprintf(out, "  max_flows %" PRIu32
				     " (least recently used evicted)",
				n->max_flows);
		if (n->max_flows_per_host)
			fprintf(out, "  max_flows_per_host %" PRIu32,
				n->max_flows_per_host);
		fprintf(out, "  (line %u)\n", n->line);
	}
}

static void print_forward(FILE *out, const struct nat_forward_cfg *fw)
{
	char ip[16], net[20];
	if (fw->ext_ip) {
		cfg_fmt_ip(fw->ext_ip, ip);
		fprintf(out, "  %s %s:%u", nat_proto_name(fw->proto), ip,
			fw->ext_port);
	} else {
		fprintf(out, "  %s/%u", nat_proto_name(fw->proto),
			fw->ext_port);
	}
	cfg_fmt_ip(fw->int_ip, ip);
	fprintf(out, " -> %s:%u  \"%s\"", ip, fw->int_port, fw->name);
	for (unsigned k = 0; k < fw->n_src; k++) {
		cfg_fmt_cidr(&fw->src[k], net);
		fprintf(out, "%s%s", k ? "," : "  from ", net);
	}
	if (fw->in_if[0])
		fprintf(out, "  in %s", fw->in_if);
	fprintf(out, "\n");
}

void nat_config_print_plan(FILE *out, const struct nat_config *cfg,
			   size_t reserved_bytes)
{
	const struct nat_timeouts *t = &cfg->timeouts;
	const char *tnames[] = { "tcp_established",
				 "tcp_transitory",
				 "tcp_time_wait",
				 "tcp_closed",
				 "udp",
				 "icmp",
				 "fragment" };
	const uint32_t tvals[] = { t->tcp_established,
				   t->tcp_transitory,
				   t->tcp_time_wait,
				   t->tcp_closed,
				   t->udp,
				   t->icmp,
				   t->fragment };
	char ip[16], net[20], d[32];

	fprintf(out, "glassnat plan for %s\n",
		cfg->path[0] ? cfg->path : "(memory)");
	cfg_fmt_ip(cfg->nat_ip, ip);
	fprintf(out, "  nat_ip            %s\n", ip);
	if (cfg->n_nets > 1) {
		uint64_t total = 0;
		fprintf(out, "  internal_network  ");
		for (unsigned i = 0; i < cfg->n_nets; i++) {
			cfg_fmt_cidr(&cfg->nets[i].cidr, net);
			fprintf(out, "%s%s", i ? ", " : "", net);
			total += (uint64_t)1 << (32 - cfg->nets[i].cidr.len);
		}
		fprintf(out, " (%" PRIu64 " addresses)\n", total);
	} else {
		cfg_fmt_cidr(&cfg->internal, net);
		fprintf(out, "  internal_network  %s (%" PRIu64 " addresses)\n",
			net, (uint64_t)1 << (32 - cfg->internal.len));
	}
	if (cfg->has_host_internal_ip) {
		cfg_fmt_ip(cfg->host_internal_ip, ip);
		fprintf(out, "  host_internal_ip  %s (never translated)\n", ip);
	} else {
		fprintf(out, "  host_internal_ip  (none)\n");
	}
	print_networks(out, cfg);

	if (cfg->n_rules == 0) {
		fprintf(out, "rules: (none)\n");
	} else {
		fprintf(out, "rules (first match, on the first packet of a "
			     "flow):\n");
		for (size_t i = 0; i < cfg->n_rules; i++)
			print_rule(out, i, &cfg->rules[i], cfg->nat_ip);
	}

	if (cfg->n_forwards == 0) {
		fprintf(out, "forwards: (none)\n");
	} else {
		bool matches = false;
		for (size_t i = 0; i < cfg->n_forwards; i++)
			matches |= cfg->forwards[i].ext_ip ||
				   cfg->forwards[i].n_src ||
				   cfg->forwards[i].in_if[0];
		fprintf(out, "forwards (inbound to nat_ip, DNAT%s):\n",
			matches ? "; first match in this order" : "");
		for (size_t i = 0; i < cfg->n_forwards; i++)
			print_forward(out, &cfg->forwards[i]);
	}

	fprintf(out, "translation:\n");
	fprintf(out, "  filtering          %s\n",
		nat_filtering_name(cfg->filtering));
	fprintf(out, "  port_preservation  %s\n",
		cfg->port_preservation ? "yes" : "no");
	fprintf(out, "  port_range         %u-%u (%u ports)\n",
		cfg->port_range.lo, cfg->port_range.hi,
		(unsigned)(cfg->port_range.hi - cfg->port_range.lo + 1));
	fprintf(out, "  fastpath           %s\n",
		nat_fastpath_mode_name(cfg->fastpath));

	fprintf(out, "timeouts:\n");
	for (size_t i = 0; i < 7; i++) {
		fmt_duration(tvals[i], d);
		fprintf(out, "  %-17s  %" PRIu32 " s (%s)\n", tnames[i],
			tvals[i], d);
	}

	fprintf(out, "limits:\n");
	fprintf(out, "  max_flows          %" PRIu32 "\n",
		cfg->limits.max_flows);
	if (cfg->limits.max_flows_per_host)
		fprintf(out,
			"  max_flows_per_host %" PRIu32
			" (least recently used evicted)\n",
			cfg->limits.max_flows_per_host);
	else
		fprintf(out, "  max_flows_per_host none\n");
	fprintf(out,
		"  max_frag_datagrams %" PRIu32 "\n"
		"  max_frag_held      %" PRIu32 "\n"
		"  max_frag_bytes     %" PRIu32 "\n",
		cfg->limits.max_frag_datagrams, cfg->limits.max_frag_held,
		cfg->limits.max_frag_bytes);

	fprintf(out, "policies:\n");
	fprintf(out, "  fragments          %s\n",
		policy_name(cfg->policies.fragments));
	fprintf(out, "  ipv6               %s\n",
		policy_name(cfg->policies.ipv6));
	fprintf(out, "  other_protocols    %s\n",
		policy_name(cfg->policies.other_protocols));
	fprintf(out, "  unmatched_inbound  %s\n",
		policy_name(cfg->policies.unmatched_inbound));

	if (cfg->trace.enabled) {
		fmt_bytes(cfg->trace.file_size, d);
		fprintf(out, "trace: on\n");
		fprintf(out, "  dir                %s\n",
			cfg->trace.dir[0] ? cfg->trace.dir : "(from --trace)");
		fprintf(out, "  filter             %s\n",
			cfg->trace.filter[0] ? cfg->trace.filter
					     : "(all packets)");
		fprintf(out, "  files              %" PRIu32 " x %s\n",
			cfg->trace.files, d);
		if (cfg->trace.max_packets_per_flow)
			fprintf(out, "  max_packets_per_flow %" PRIu32 "\n",
				cfg->trace.max_packets_per_flow);
		else
			fprintf(out, "  max_packets_per_flow no cap\n");
		fprintf(out, "  queue              %" PRIu32 " records\n",
			cfg->trace.queue);
	} else {
		fprintf(out, "trace: off\n");
	}

	fprintf(out, "logging:\n");
	fprintf(out, "  events             %s\n",
		!cfg->logging.events[0]			? "(none)"
		: strcmp(cfg->logging.events, "-") == 0 ? "stdout"
							: cfg->logging.events);
	fprintf(out, "  format             %s%s\n",
		cfg->logging.format == NAT_LOG_JSON ? "json" : "text",
		cfg->logging.verbose ? ", verbose" : "");
	fprintf(out, "  queue              %" PRIu32 " records\n",
		cfg->logging.queue);
	fprintf(out, "control_socket       %s\n", cfg->control_socket);
	fprintf(out, "state_file           %s\n",
		cfg->state_file[0] ? cfg->state_file : "(none)");
	char a[16];
	if (cfg->metrics.enabled) {
		cfg_fmt_ip(cfg->metrics.addr, a);
		fprintf(out, "metrics              http://%s:%u/metrics\n", a,
			cfg->metrics.port);
	}
	if (cfg->ipfix.enabled) {
		cfg_fmt_ip(cfg->ipfix.addr, a);
		fprintf(out,
			"ipfix                %s:%u (UDP), templates every "
			"%us, queue %u, observation domain %u\n",
			a, cfg->ipfix.port, cfg->ipfix.template_interval,
			cfg->ipfix.queue, cfg->ipfix.domain);
	}
	fprintf(out,
		"memory reserved: %zu bytes (%.1f MiB) for %" PRIu32 " flows\n",
		reserved_bytes, (double)reserved_bytes / (1024.0 * 1024.0),
		cfg->limits.max_flows);
}

size_t nat_config_lint_addrs(const struct nat_config *cfg,
			     nat_addr_local_fn is_local, const char *out_dev,
			     void (*emit)(void *ctx, const char *msg), void *ctx)
{
	const char *dev = out_dev && out_dev[0] ? out_dev : "OUT";
	char ip[16], msg[512];
	size_t n = 0;

	if (is_local(cfg->nat_ip) == 0) {
		cfg_fmt_ip(cfg->nat_ip, ip);
		snprintf(msg, sizeof(msg),
			 "nat_ip %s is not an address of this host (no "
			 "interface has it): add it to the outside interface "
			 "(ip addr add %s/32 dev %s) or fix nat_ip",
			 ip, ip, dev);
		emit(ctx, msg);
		n++;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];
		if (r->action != NAT_ACT_SNAT || is_local(r->to_address) != 0)
			continue;
		cfg_fmt_ip(r->to_address, ip);
		snprintf(msg, sizeof(msg),
			 "snat rule '%s': to_address %s is not an address of "
			 "this host (ip addr add %s/32 dev %s, or use "
			 "masquerade)",
			 r->name, ip, ip, r->out_if[0] ? r->out_if : dev);
		emit(ctx, msg);
		n++;
	}
	for (size_t i = 0; i < cfg->n_forwards; i++) {
		const struct nat_forward_cfg *f = &cfg->forwards[i];
		if (!f->ext_ip || is_local(f->ext_ip) != 0)
			continue;
		cfg_fmt_ip(f->ext_ip, ip);
		snprintf(msg, sizeof(msg),
			 "forward '%s': external_ip %s is not an address of "
			 "this host (ip addr add %s/32 dev %s)",
			 f->name, ip, ip, f->in_if[0] ? f->in_if : dev);
		emit(ctx, msg);
		n++;
	}
	return n;
}
