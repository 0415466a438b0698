/* The metrics: and ipfix: sections (config_observe.h). */
#include "config_observe.h"

#include <stdlib.h>
#include <string.h>

#include "packet.h"

/* "a.b.c.d:port" into addr/port; unicast: the address must be a host. */
static int get_endpoint(struct loader *l, const yaml_node_t *n,
			const char *field, bool unicast, uint32_t *addr,
			uint16_t *port)
{
	char buf[CFG_SHOW_MAX], ip[16];
	if (cfg_get_str(l, n, field, buf, sizeof buf, STR_NO_CTRL) < 0)
		return -1;
	char *colon = strrchr(buf, ':');
	char *end = NULL;
	unsigned long p = 0;
	if (colon) {
		*colon = '\0';
		p = strtoul(colon + 1, &end, 10);
	}
	if (!colon || !nat_ip_parse(buf, addr) || end == colon + 1 || *end ||
	    p < 1 || p > 65535) {
		if (colon)
			*colon = ':';
		return fail(l, n, field,
			    "\"%s\" is not IPV4:PORT (for example "
			    "127.0.0.1:9469)",
			    buf);
	}
	if (unicast && (*addr == 0 || *addr == 0xffffffffu ||
			(*addr >> 28) == 0xe)) {
		cfg_fmt_ip(*addr, ip);
		return fail(l, n, field, "%s is not a unicast host address",
			    ip);
	}
	*port = (uint16_t)p;
	return 0;
}

int cfg_read_metrics(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "listen" };
	struct nat_metrics_cfg *m = &l->cfg->metrics;
	yaml_node_t *v[1];
	int r = cfg_want_mapping(l, n, "metrics");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "metrics", keys, 1, v) < 0)
		return -1;
	if (!v[0])
		return cfg_missing(l, n, "metrics", "listen",
				   " (the address /metrics is served on, e.g. "
				   "127.0.0.1:9469)");
	if (get_endpoint(l, v[0], "metrics.listen", false, &m->addr,
			 &m->port) < 0)
		return -1;
	m->enabled = true;
	return 0;
}

int cfg_read_ipfix(struct loader *l, const yaml_node_t *n)
{
	static const char *const keys[] = { "collector", "template_interval",
					    "queue", "observation_domain" };
	struct nat_ipfix_cfg *x = &l->cfg->ipfix;
	yaml_node_t *v[4];
	int r = cfg_want_mapping(l, n, "ipfix");

	if (r <= 0)
		return r;
	if (cfg_read_keys(l, n, "ipfix", keys, 4, v) < 0)
		return -1;
	if (!v[0])
		return cfg_missing(l, n, "ipfix", "collector",
				   " (the IPFIX collector, e.g. "
				   "198.51.100.9:4739)");
	if (get_endpoint(l, v[0], "ipfix.collector", true, &x->addr,
			 &x->port) < 0)
		return -1;
	x->template_interval = 60;
	x->queue = 4096;
	if (v[1] && cfg_get_duration(l, v[1], "ipfix.template_interval",
				     &x->template_interval) < 0)
		return -1;
	if (x->template_interval == 0)
		return fail(l, v[1], "ipfix.template_interval",
			    "must be at least 1s (templates are re-sent on "
			    "this timer)");
	if (v[2] && cfg_get_u32(l, v[2], "ipfix.queue", 16, CFG_QUEUE_MAX,
				&x->queue) < 0)
		return -1;
	if (v[3] && cfg_get_u32(l, v[3], "ipfix.observation_domain", 0,
				UINT32_MAX, &x->domain) < 0)
		return -1;
	x->enabled = true;
	return 0;
}
