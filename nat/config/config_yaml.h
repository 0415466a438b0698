/* The YAML reader under the config loader (config.c): the node walk's
 * shared state, error reporting ("FILE:LINE:COLUMN: field: what is
 * wrong"), field paths, and the scalar parsers (numbers, booleans,
 * strings, enums, addresses, CIDRs, ports, durations, sizes) and mapping
 * checks every section uses. Internal to nat/config/.
 *
 * Every cfg_get_* reads one node; it returns 0 with *out set, or -1 with
 * the message in the loader's errbuf (the first error stops the load). */
#ifndef GLASSNAT_CONFIG_YAML_H
#define GLASSNAT_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config.h"

#define CFG_FILE_MAX	   (16u << 20) /* bytes; a config is never near this */
#define CFG_KEYS_MAX	   24  /* keys in any one mapping of the schema */
#define CFG_FIELD_MAX	   160 /* "port_forward[4096].internal_port" etc. */
#define CFG_SHOW_MAX	   48  /* bytes of an offending value quoted back */
#define CFG_QUEUE_MAX	   (1u << 24)
#define CFG_FLOWS_MAX	   (1u << 24)
#define CFG_TRACE_FILE_MIN (64u << 10)

struct loader {
	const char *file;
	yaml_document_t *doc;
	struct nat_config *cfg;
	char *err;
	size_t errlen;
};

enum str_flags {
	STR_EMPTY_OK = 1, /* "" and null are allowed and mean "none" */
	STR_NO_CTRL = 2,  /* printed in logs, events and plans: one line */
};

enum cidr_flags {
	CIDR_BARE_OK = 1, /* a bare address means /32 */
	CIDR_ANY_OK = 2,  /* "any" means 0.0.0.0/0 */
};

/* Writes "FILE:LINE:COLUMN: field: " and the message; returns -1. */
int cfg_fail_at(struct loader *l, yaml_mark_t m, const char *field,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define fail(l, node, field, ...) \
	cfg_fail_at((l), (node)->start_mark, (field), __VA_ARGS__)

/* "a string", "a list", "a mapping": for "expected X, got Y". */
const char *cfg_kind_name(const yaml_node_t *n);

/* out = "prefix.key", or "key" at the top level. */
void cfg_field_name(char out[CFG_FIELD_MAX], const char *prefix,
		       const char *key);

/* out = "prefix[i]", i counted from 1 as in the plan. */
void cfg_field_index(char out[CFG_FIELD_MAX], const char *prefix, size_t i);

/* True for an empty or null scalar (~, null). */
bool cfg_is_null(const yaml_node_t *n);

/* Scalars, each into *out (or buf); see config_yaml.c for the forms. */
int cfg_get_u32(struct loader *l, const yaml_node_t *n, const char *field,
		   uint32_t min, uint32_t max, uint32_t *out);

int cfg_get_bool(struct loader *l, const yaml_node_t *n, const char *field,
		    bool *out);

int cfg_get_str(struct loader *l, const yaml_node_t *n, const char *field,
		   char *buf, size_t size, int flags);

int cfg_get_enum(struct loader *l, const yaml_node_t *n, const char *field,
		    const char *what, const char *const names[], size_t count,
		    size_t *out);

/* Dotted quad and a.b.c.d/len, as the plan prints them. */
void cfg_fmt_ip(uint32_t a, char out[16]);

void cfg_fmt_cidr(const struct nat_cidr *c, char out[20]);

/* True when a (host order) is inside c. */
bool cfg_cidr_contains(const struct nat_cidr *c, uint32_t a);

int cfg_get_unicast(struct loader *l, const yaml_node_t *n,
		       const char *field, uint32_t *out);

int cfg_get_cidr(struct loader *l, const yaml_node_t *n, const char *field,
		    int flags, struct nat_cidr *out);

int cfg_get_port_range(struct loader *l, const yaml_node_t *n,
			  const char *field, struct nat_port_range *out);

int cfg_get_port(struct loader *l, const yaml_node_t *n, const char *field,
		    uint16_t *out);

int cfg_get_duration(struct loader *l, const yaml_node_t *n,
			const char *field, uint32_t *out);

int cfg_get_size(struct loader *l, const yaml_node_t *n, const char *field,
		    uint64_t min, uint64_t *out);

/* Fills vals[] (NULL: absent) from the mapping map by the key table keys;
 * an unknown key (with a "did you mean" hint) or a duplicate is an error. */
int cfg_read_keys(struct loader *l, const yaml_node_t *map,
		     const char *where, const char *const keys[], size_t nkeys,
		     yaml_node_t *vals[]);

/* -1 with "expected a mapping / a list, got ..." when n is not one. */
int cfg_want_mapping(struct loader *l, const yaml_node_t *n,
			const char *field);

int cfg_want_sequence(struct loader *l, const yaml_node_t *n,
			 const char *field);

/* -1 with "where.key: required key is missing" + why. */
int cfg_missing(struct loader *l, const yaml_node_t *map, const char *where,
		   const char *key, const char *why);

#endif
