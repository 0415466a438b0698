/* The observer sections of the config that talk to other tools:
 * `metrics:` (/metrics over HTTP) and `ipfix:` (NAT event export).
 * Private to nat/config (config.c calls them for their keys). */
#ifndef GLASSNAT_CONFIG_OBSERVE_H
#define GLASSNAT_CONFIG_OBSERVE_H

#include "config_yaml.h"

/* metrics: {listen: "IP:PORT"}. Returns 0, or -1 with the message. */
int cfg_read_metrics(struct loader *l, const yaml_node_t *n);

/* ipfix: {collector: "IP:PORT", template_interval: 60s, queue: N,
 * observation_domain: N}. Returns 0, or -1 with the message. */
int cfg_read_ipfix(struct loader *l, const yaml_node_t *n);

#endif
