/* libFuzzer target for the control protocol: the request parser and the
 * dispatcher, fed from memory. Each input is split into lines; every line
 * is parsed and, when valid, executed against one small real engine that
 * lives across inputs (forwards added and removed, flows listed, stats,
 * reload with a fixed config), with fake trace / reload / persistence
 * callbacks. Every response must be one JSON object on one line with a
 * boolean "success". A subscribe request's filter is also run over every
 * line of the input taken as an event line (nat_ctl_event_matches).
 * Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_text[] =
	"nat_ip: 203.0.113.1\n"
	"internal_network: 172.17.240.0/24\n"
	"rules:\n"
	"  - { name: inside, destination: 172.17.240.0/24, action: bypass }\n"
	"  - { name: internet, destination: 0.0.0.0/0, action: nat }\n"
	"port_forward:\n"
	"  - { name: web, protocol: tcp, external_port: 8080,\n"
	"      internal_ip: 172.17.240.21, internal_port: 80 }\n"
	"limits: { max_flows: 64 }\n";

static struct nat_config cfg;
static struct nat_engine *eng;
static unsigned calls;

static int fake_trace(void *ctx, bool on, const char *bpf, char *err,
		      size_t len)
{
	(void)ctx;
	if (on && strchr(bpf, '!')) {
		snprintf(err, len, "fake: bad filter");
		return -1;
	}
	return 0;
}

static int fake_reload(void *ctx, char *changes, size_t clen, char *err,
		       size_t elen)
{
	(void)ctx;
	return nat_engine_reload(eng, &cfg, changes, clen, err, elen);
}

/* Fails now and then, so the rollback paths run too. */
static int fake_changed(void *ctx, char *err, size_t len)
{
	(void)ctx;
	if (++calls % 7 == 0) {
		snprintf(err, len, "fake: state file not written");
		return -1;
	}
	return 0;
}

static void check_line(const char *line)
{
	if (!line)
		return; /* out of memory: allowed */
	size_t n = strlen(line);
	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		__builtin_trap();
	json_error_t je;
	json_t *o = json_loadb(line, n, 0, &je);
	if (!json_is_object(o) || !json_is_boolean(json_object_get(o, "success")))
		__builtin_trap();
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nat_ctl_ops ops = {
		.trace = fake_trace,
		.reload = fake_reload,
		.forwards_changed = fake_changed,
	};
	char err[512];
	if (!eng) {
		if (nat_config_load_mem("fuzz.yaml", cfg_text, strlen(cfg_text),
					&cfg, err, sizeof(err)) != 0)
			__builtin_trap();
		eng = nat_engine_create(&cfg, err, sizeof(err));
		if (!eng)
			__builtin_trap();
	}
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct nat_ctl_req req;
		enum nat_ctl_error code;
		if (nat_ctl_parse(p, len, &req, &code, err, sizeof(err)) == 0) {
			if (req.action == NAT_CTL_SUBSCRIBE)
				(void)nat_ctl_event_matches(&req, (const char *)data,
							    size);
			char *line = nat_ctl_execute(eng, &ops, &req, &code);
			check_line(line);
			free(line);
		} else {
			if (code == NAT_CTL_E_NONE || !memchr(err, '\0', sizeof(err)))
				__builtin_trap();
			char *line = nat_ctl_error_response(code, err);
			check_line(line);
			free(line);
		}
		p += len + (nl ? 1 : 0);
	}
	return 0;
}
