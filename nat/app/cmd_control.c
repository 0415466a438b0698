/* The control commands: forward, flows, stats, trace and reload send one
 * request to the running gateway's control socket (client.h) and print
 * its answer, as tables for people or as JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "client.h"
#include "control.h"
#include "metrics.h"
#include "packet.h"
#include "platform.h"

/* ---- control-socket commands ----------------------------------------- */

/* Checks "tcp/8080:172.17.240.21[:80]". */
static bool parse_forward_spec(const char *spec, char *why, size_t whylen)
{
	char buf[96], *slash, *colon, *ip, *end;
	unsigned long port;

	if (!app_copy_opt(buf, sizeof(buf), spec)) {
		snprintf(why, whylen, "forward spec too long");
		return false;
	}
	slash = strchr(buf, '/');
	if (!slash) {
		snprintf(why, whylen,
			 "'%.95s': expected PROTO/EXT_PORT:INT_IP"
			 "[:INT_PORT]",
			 spec);
		return false;
	}
	*slash = '\0';
	if (strcmp(buf, "tcp") != 0 && strcmp(buf, "udp") != 0) {
		snprintf(why, whylen, "'%.95s': protocol must be tcp or udp",
			 spec);
		return false;
	}
	errno = 0;
	port = strtoul(slash + 1, &end, 10);
	if (end == slash + 1 || *end != ':' || port < 1 || port > 65535 ||
	    errno) {
		snprintf(why, whylen,
			 "'%.95s': external port must be 1-65535 "
			 "followed by :INT_IP",
			 spec);
		return false;
	}
	ip = end + 1;
	colon = strchr(ip, ':');
	if (colon)
		*colon = '\0';
	uint32_t addr;
	if (!nat_ip_parse(ip, &addr)) {
		snprintf(why, whylen, "'%.95s': '%.95s' is not an IPv4 address",
			 spec, ip);
		return false;
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port < 1 || port > 65535 ||
		    errno) {
			snprintf(why, whylen,
				 "'%.95s': internal port must be 1-65535",
				 spec);
			return false;
		}
	}
	return true;
}

static bool parse_port(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return end != s && !*end && !errno && v >= 1 && v <= 65535;
}

/* What the control commands share: where the socket is, how to print. */
struct ctl_opts {
	const char *socket;
	const char *config;
	const char *name;
	const char *proto;
	const char *port;
	const char *to;
	const char *source; /* forward add: "CIDR[,CIDR...]" */
	const char *in_if;
	const char *ext_ip;
	const char *host;
	const char *limit;
	const char *state;
	const char *rule;
	const char *kind;
	const char *flow;
	const char *event;
	bool count;
	bool all;
	bool json;
	bool prometheus;
};

enum {
	CO_NAME = 1,
	CO_FWD = 2,   /* --proto --port --to (forward add) */
	CO_FLOWS = 4, /* --host --port --proto --limit */
	CO_PROM = 8,
	CO_FILTER = 16, /* --state --rule --kind --flow (flows, flow, watch) */
	CO_COUNT = 32,	/* --count (flows) */
	CO_ALL = 64,	/* --all (flow delete) */
	CO_EVENT = 128, /* --event (watch) */
};

/* Long options of these commands only (app.h's OPT_* stay below). */
enum {
	CO_OPT_STATE = 1000,
	CO_OPT_RULE,
	CO_OPT_KIND,
	CO_OPT_FLOW,
	CO_OPT_COUNT,
	CO_OPT_ALL,
	CO_OPT_EVENT,
};

/* Parses the options common to the control commands; returns -1 when
 * done (help printed or error), with *rc set. */
static int control_opts(const char *cmd, const char *help, int argc,
			char **argv, unsigned allow, struct ctl_opts *co,
			int *rc)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "name", required_argument, NULL, 'n' },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "to", required_argument, NULL, OPT_TO },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "in-interface", required_argument, NULL, OPT_IN_IF },
		{ "external-ip", required_argument, NULL, OPT_EXT_IP },
		{ "state", required_argument, NULL, CO_OPT_STATE },
		{ "rule", required_argument, NULL, CO_OPT_RULE },
		{ "kind", required_argument, NULL, CO_OPT_KIND },
		{ "flow", required_argument, NULL, CO_OPT_FLOW },
		{ "count", no_argument, NULL, CO_OPT_COUNT },
		{ "all", no_argument, NULL, CO_OPT_ALL },
		{ "event", required_argument, NULL, CO_OPT_EVENT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(co, 0, sizeof(*co));
	while ((c = getopt_long(argc, argv, ":s:c:n:h", longopts, NULL)) !=
	       -1) {
		unsigned need = 0;
		switch (c) {
		case 's':
			co->socket = optarg;
			break;
		case OPT_JSON:
			co->json = true;
			break;
		case 'c':
			co->config = optarg;
			break;
		case 'n':
			need = CO_NAME;
			co->name = optarg;
			break;
		case OPT_PROTO:
			need = CO_FWD | CO_FLOWS;
			co->proto = optarg;
			break;
		case OPT_PORT:
			need = CO_FWD | CO_FLOWS;
			co->port = optarg;
			break;
		case OPT_TO:
			need = CO_FWD;
			co->to = optarg;
			break;
		case OPT_SOURCE:
			need = CO_FWD;
			co->source = optarg;
			break;
		case OPT_IN_IF:
			need = CO_FWD;
			co->in_if = optarg;
			break;
		case OPT_EXT_IP:
			need = CO_FWD;
			co->ext_ip = optarg;
			break;
		case OPT_HOST:
			need = CO_FLOWS;
			co->host = optarg;
			break;
		case OPT_LIMIT:
			need = CO_FLOWS;
			co->limit = optarg;
			break;
		case OPT_PROMETHEUS:
			need = CO_PROM;
			co->prometheus = true;
			break;
		case CO_OPT_STATE:
			need = CO_FILTER;
			co->state = optarg;
			break;
		case CO_OPT_RULE:
			need = CO_FILTER;
			co->rule = optarg;
			break;
		case CO_OPT_KIND:
			need = CO_FILTER;
			co->kind = optarg;
			break;
		case CO_OPT_FLOW:
			need = CO_FILTER;
			co->flow = optarg;
			break;
		case CO_OPT_COUNT:
			need = CO_COUNT;
			co->count = true;
			break;
		case CO_OPT_ALL:
			need = CO_ALL;
			co->all = true;
			break;
		case CO_OPT_EVENT:
			need = CO_EVENT;
			co->event = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			*rc = EX_OK;
			return -1;
		default:
			*rc = app_opt_fail(cmd, c, argv);
			return -1;
		}
		if (need && !(need & allow)) {
			fprintf(stderr,
				"glassnat %s: unknown option '%s'\n"
				"try 'glassnat %s --help'\n",
				cmd, argv[optind - 1], cmd);
			*rc = EX_USAGE;
			return -1;
		}
	}
	return 0;
}

/* The socket path: -s, else the config's control_socket, else the
 * default. Returns NULL (printed) when the config does not load. */
static const char *ctl_socket_path(const struct ctl_opts *co, char *buf,
				   size_t len)
{
	if (co->socket)
		return co->socket;
	if (co->config) {
		struct nat_config cfg;
		if (app_load_config(co->config, &cfg) != 0)
			return NULL;
		snprintf(buf, len, "%s", cfg.control_socket);
		nat_config_free(&cfg);
		return buf;
	}
	return NAT_CONTROL_SOCKET_DEFAULT;
}

#define CTL_TIMEOUT_MS 15000

/* Sends one request and reads its response. Returns the parsed response
 * or NULL with the reason printed (exit 1). */
static json_t *ctl_call(const char *cmd, const char *path, json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT), *buf = NULL;
	json_decref(req);
	size_t len = line ? strlen(line) : 0, used = 0;
	char *req_nl = line ? malloc(len + 2) : NULL;
	unsigned long oserr = 0;
	if (!req_nl) {
		free(line);
		fprintf(stderr, "glassnat %s: out of memory\n", cmd);
		return NULL;
	}
	memcpy(req_nl, line, len);
	memcpy(req_nl + len, "\n", 2);
	free(line);
	enum nat_ctl_call_result rc =
		nat_ctl_call(path, req_nl, CTL_TIMEOUT_MS, &buf, &used, &oserr);
	free(req_nl);
	switch (rc) {
	case NAT_CTL_CALL_OK:
		break;
	case NAT_CTL_CALL_NOT_RUNNING:
	case NAT_CTL_CALL_NO_ANSWER:
		fprintf(stderr,
			"glassnat %s: the gateway is not running (%s at %s; "
			"start `glassnat run`, or give the socket with -s / "
			"the config with -c)\n",
			cmd,
			rc == NAT_CTL_CALL_NOT_RUNNING
				? "no control socket"
				: "nobody answers on the socket",
			path);
		return NULL;
	case NAT_CTL_CALL_DENIED:
		fprintf(stderr, "glassnat %s: permission denied on %s (%s)\n",
			cmd, path, NAT_PLAT_CTL_DENIED_HINT);
		return NULL;
	case NAT_CTL_CALL_TIMEOUT:
		fprintf(stderr, "glassnat %s: no answer from %s within %d s\n",
			cmd, path, CTL_TIMEOUT_MS / 1000);
		return NULL;
	case NAT_CTL_CALL_CLOSED:
		fprintf(stderr,
			"glassnat %s: the control socket %s closed without an "
			"answer\n",
			cmd, path);
		return NULL;
	case NAT_CTL_CALL_ERROR:
	default: {
		char eb[128];
		fprintf(stderr,
			"glassnat %s: cannot reach the control socket %s: %s\n",
			cmd, path, nat_plat_os_error(oserr, eb, sizeof(eb)));
		return NULL;
	}
	}
	json_error_t je;
	json_t *resp = json_loadb(buf, used, JSON_DISABLE_EOF_CHECK, &je);
	free(buf);
	if (!json_is_object(resp)) {
		fprintf(stderr, "glassnat %s: unreadable answer: %s\n", cmd,
			je.text);
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* Runs one request: prints JSON as is with --json; otherwise an error
 * message, or hands a success to print (may be NULL: the message). */
static int ctl_run(const char *cmd, const struct ctl_opts *co, json_t *req,
		   void (*print)(json_t *resp, const struct ctl_opts *co))
{
	char buf[128];
	const char *path = ctl_socket_path(co, buf, sizeof(buf));
	if (!path) {
		json_decref(req);
		return EX_USAGE;
	}
	json_t *resp = ctl_call(cmd, path, req);
	if (!resp)
		return EX_RUNTIME;
	bool ok = json_is_true(json_object_get(resp, "success"));
	if (co->json) {
		char *s = json_dumps(resp, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
	} else if (!ok) {
		fprintf(stderr, "glassnat %s: %s (%s)\n", cmd,
			json_string_value(json_object_get(resp, "message")),
			json_string_value(json_object_get(resp, "error")));
	} else if (print) {
		print(resp, co);
	} else {
		const char *m =
			json_string_value(json_object_get(resp, "message"));
		const char *ch =
			json_string_value(json_object_get(resp, "changes"));
		printf("%s%s%s\n", m ? m : "ok", ch ? ": " : "", ch ? ch : "");
	}
	json_decref(resp);
	return ok ? EX_OK : EX_RUNTIME;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* A forward's matches after its row: on ADDR, from NETS, in IF. */
static void forward_match_text(json_t *f)
{
	json_t *src = json_object_get(f, "source"), *e;
	size_t i;
	if (json_object_get(f, "external_ip"))
		printf("  on %s", jstr(f, "external_ip"));
	json_array_foreach(src, i, e)
		printf("%s%s", i ? "," : "  from ", json_string_value(e));
	if (json_object_get(f, "in_interface"))
		printf("  in %s", jstr(f, "in_interface"));
}

static void print_forwards(json_t *resp, const struct ctl_opts *co)
{
	json_t *arr = json_object_get(resp, "forwards"), *f;
	size_t i;
	(void)co;
	if (json_array_size(arr) == 0) {
		printf("no port forwards\n");
		return;
	}
	printf("%-24s %-5s %-8s %-22s %-8s %s\n", "NAME", "PROTO", "EXTERNAL",
	       "INTERNAL", "ORIGIN", "FLOWS");
	json_array_foreach(arr, i, f)
	{
		char to[40];
		snprintf(to, sizeof(to), "%s:%lld", jstr(f, "internal_ip"),
			 jint(f, "internal_port"));
		printf("%-24s %-5s %-8lld %-22s %-8s %lld", jstr(f, "name"),
		       jstr(f, "protocol"), jint(f, "external_port"), to,
		       jstr(f, "origin"), jint(f, "flows"));
		forward_match_text(f);
		printf("\n");
	}
}

static void print_added(json_t *resp, const struct ctl_opts *co)
{
	json_t *f = json_object_get(resp, "forward");
	(void)co;
	printf("%s: \"%s\" %s/%lld -> %s:%lld\n", jstr(resp, "message"),
	       jstr(f, "name"), jstr(f, "protocol"), jint(f, "external_port"),
	       jstr(f, "internal_ip"), jint(f, "internal_port"));
}

/* "tcp/8080:172.17.240.21[:80]" into a rule object. */
static json_t *forward_rule(const char *spec, const char *name, char *why,
			    size_t whylen)
{
	char buf[96], *slash, *colon, *ip, *end;
	unsigned long port, iport;
	uint32_t addr;

	if (!parse_forward_spec(spec, why, whylen))
		return NULL;
	app_copy_opt(buf, sizeof(buf), spec);
	slash = strchr(buf, '/');
	*slash = '\0';
	port = strtoul(slash + 1, &end, 10);
	ip = end + 1;
	colon = strchr(ip, ':');
	if (colon)
		*colon = '\0';
	(void)nat_ip_parse(ip, &addr);
	iport = colon ? strtoul(colon + 1, NULL, 10) : port;
	json_t *r = json_pack("{s:s, s:i, s:s, s:i}", "protocol", buf,
			      "external_port", (int)port, "internal_ip", ip,
			      "internal_port", (int)iport);
	if (r && name)
		json_object_set_new(r, "name", json_string(name));
	return r;
}

/* --source (split at commas), --in-interface, --external-ip into the
 * rule; the gateway checks them as it checks the config's. */
static void forward_matches(json_t *rule, const struct ctl_opts *co)
{
	if (co->source) {
		json_t *arr = json_array();
		const char *s = co->source;
		while (arr) {
			const char *comma = strchr(s, ',');
			size_t n = comma ? (size_t)(comma - s) : strlen(s);
			json_array_append_new(arr, json_stringn(s, n));
			if (!comma)
				break;
			s = comma + 1;
		}
		json_object_set_new(rule, "source", arr);
	}
	if (co->in_if)
		json_object_set_new(rule, "in_interface",
				    json_string(co->in_if));
	if (co->ext_ip)
		json_object_set_new(rule, "external_ip",
				    json_string(co->ext_ip));
}

int app_cmd_forward(int argc, char **argv)
{
	struct ctl_opts co;
	const char *sub;
	char why[256]; /* the longest message: spec and address, each <= 95 */
	int rc;

	if (control_opts("forward", app_help_forward, argc, argv,
			 CO_NAME | CO_FWD, &co, &rc))
		return rc;
	if (optind == argc)
		return app_usage_error("forward",
				       "missing list, add or remove");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0) {
		if (optind < argc || co.name || co.proto || co.port || co.to ||
		    co.source || co.in_if || co.ext_ip)
			return app_usage_error("forward", "list takes no "
							  "arguments");
		return ctl_run("forward list", &co,
			       json_pack("{s:s}", "action", "forward_list"),
			       print_forwards);
	}
	if (strcmp(sub, "add") == 0) {
		char spec[128];
		if (argc - optind == 1 && !co.proto && !co.port && !co.to) {
			snprintf(spec, sizeof(spec), "%s", argv[optind]);
		} else if (argc == optind && co.proto && co.port && co.to) {
			snprintf(spec, sizeof(spec), "%s/%s:%s", co.proto,
				 co.port, co.to);
		} else {
			return app_usage_error(
				"forward", "add needs PROTO/EXT_PORT:INT_IP"
					   "[:INT_PORT], or --proto P --port "
					   "N --to INT_IP[:INT_PORT]");
		}
		json_t *rule = forward_rule(spec, co.name, why, sizeof(why));
		if (!rule)
			return app_usage_error("forward", why);
		forward_matches(rule, &co);
		return ctl_run("forward add", &co,
			       json_pack("{s:s, s:o}", "action", "forward_add",
					 "rule", rule),
			       print_added);
	}
	if (strcmp(sub, "remove") == 0) {
		if (argc - optind > 1 || (argc == optind && !co.name) ||
		    (argc > optind && co.name) || co.to || co.port)
			return app_usage_error("forward",
					       "remove needs one "
					       "EXT_PORT or --name N");
		if (argc > optind && !parse_port(argv[optind]))
			return app_usage_error("forward",
					       "remove: EXT_PORT must "
					       "be 1-65535");
		if (co.proto && strcmp(co.proto, "tcp") != 0 &&
		    strcmp(co.proto, "udp") != 0)
			return app_usage_error("forward",
					       "--proto must be tcp or udp");
		json_t *req =
			co.name ? json_pack("{s:s, s:s}", "action",
					    "forward_remove", "name", co.name)
				: json_pack("{s:s, s:i}", "action",
					    "forward_remove", "external_port",
					    atoi(argv[optind]));
		if (co.proto && !co.name)
			json_object_set_new(req, "protocol",
					    json_string(co.proto));
		return ctl_run("forward remove", &co, req, print_added);
	}
	snprintf(why, sizeof(why),
		 "unknown subcommand '%s' (list, add, "
		 "remove)",
		 sub);
	return app_usage_error("forward", why);
}

static void print_flows(json_t *resp, const struct ctl_opts *co)
{
	json_t *arr = json_object_get(resp, "flows"), *f;
	size_t i;
	(void)co;
	printf("%-8s %-5s %-8s %-21s %-21s %-21s %-12s %-16s %s\n", "ID",
	       "PROTO", "KIND", "INSIDE", "MAPPED", "REMOTE", "STATE", "RULE",
	       "PKTS OUT/IN  BYTES OUT/IN  NETWORK");
	json_array_foreach(arr, i, f)
	{
		/* ICMP echo: the identifier after the address, so two pings
		 * from one host tell apart. */
		char in[40], map[40];
		snprintf(in, sizeof in, "%s", jstr(f, "inside"));
		snprintf(map, sizeof map, "%s", jstr(f, "mapped"));
		if (json_object_get(f, "echo_id")) {
			snprintf(in, sizeof in, "%s id=%lld", jstr(f, "inside"),
				 jint(f, "echo_id"));
			snprintf(map, sizeof map, "%s id=%lld",
				 jstr(f, "mapped"), jint(f, "mapped_id"));
		}
		printf("%-8lld %-5s %-8s %-21s %-21s %-21s %-12s %-16s "
		       "%lld/%lld  %lld/%lld  %s",
		       jint(f, "id"), jstr(f, "proto"), jstr(f, "kind"),
		       in, map, jstr(f, "remote"),
		       jstr(f, "state"), jstr(f, "rule"), jint(f, "pkts_out"),
		       jint(f, "pkts_in"), jint(f, "bytes_out"),
		       jint(f, "bytes_in"), jstr(f, "network"));
		if (json_object_get(f, "original")) /* redirected */
			printf("  (asked for %s)", jstr(f, "original"));
		printf("\n");
	}
	printf("%lld flow(s) shown of %lld matching%s\n", jint(resp, "shown"),
	       jint(resp, "matched"),
	       json_is_true(json_object_get(resp, "truncated"))
		       ? " (raise --limit for more)"
		       : "");
}

/* Adds the flow filters given as options (--host --port --proto --state
 * --rule --kind --flow) to req. Returns false with the message in why. */
static bool add_flow_filters(json_t *req, const struct ctl_opts *co,
			     char *why, size_t whylen)
{
	static const char *const kinds[] = { "snat", "bypass", "forward",
					     "inbound" };
	uint32_t a;
	if (co->host) {
		if (!nat_ip_parse(co->host, &a)) {
			snprintf(why, whylen, "--host must be an IPv4 address");
			return false;
		}
		json_object_set_new(req, "address", json_string(co->host));
	}
	if (co->port) {
		if (!parse_port(co->port)) {
			snprintf(why, whylen, "--port must be 1-65535");
			return false;
		}
		json_object_set_new(req, "port", json_integer(atoi(co->port)));
	}
	if (co->proto) {
		if (strcmp(co->proto, "tcp") != 0 &&
		    strcmp(co->proto, "udp") != 0 &&
		    strcmp(co->proto, "icmp") != 0) {
			snprintf(why, whylen, "--proto must be tcp, udp or icmp");
			return false;
		}
		json_object_set_new(req, "protocol", json_string(co->proto));
	}
	if (co->kind) {
		bool known = false;
		for (size_t i = 0; i < 4; i++)
			known |= strcmp(co->kind, kinds[i]) == 0;
		if (!known) {
			snprintf(why, whylen,
				 "--kind must be snat, bypass, forward or "
				 "inbound");
			return false;
		}
		json_object_set_new(req, "kind", json_string(co->kind));
	}
	if (co->state) {
		if (!co->state[0] || strlen(co->state) > 16) {
			snprintf(why, whylen, "--state: a TCP state "
					      "(ESTABLISHED, TIME_WAIT, ...)");
			return false;
		}
		json_object_set_new(req, "state", json_string(co->state));
	}
	if (co->rule) {
		if (!co->rule[0]) {
			snprintf(why, whylen, "--rule: a rule or forward name");
			return false;
		}
		json_object_set_new(req, "rule", json_string(co->rule));
	}
	if (co->flow) {
		char *end;
		errno = 0;
		unsigned long long id = strtoull(co->flow, &end, 10);
		if (*end || end == co->flow || errno || id == 0 ||
		    id > INT64_MAX || co->flow[0] == '-') {
			snprintf(why, whylen, "--flow must be a flow id (1 or more)");
			return false;
		}
		json_object_set_new(req, "flow", json_integer((json_int_t)id));
	}
	return true;
}

static void print_count(json_t *resp, const struct ctl_opts *co)
{
	(void)co;
	printf("%lld\n", jint(resp, "matched"));
}

int app_cmd_flows(int argc, char **argv)
{
	struct ctl_opts co;
	char why[96];
	int rc;
	if (control_opts("flows", app_help_flows, argc, argv,
			 CO_FLOWS | CO_FILTER | CO_COUNT, &co, &rc))
		return rc;
	if (optind < argc)
		return app_usage_error("flows", "unexpected argument");
	json_t *req = json_pack("{s:s}", "action", "flows");
	if (!add_flow_filters(req, &co, why, sizeof(why))) {
		json_decref(req);
		return app_usage_error("flows", why);
	}
	if (co.limit) {
		char *end;
		long v = strtol(co.limit, &end, 10);
		if (*end || end == co.limit || v < 1 || v > NAT_CTL_FLOWS_MAX) {
			json_decref(req);
			return app_usage_error("flows",
					       "--limit must be 1-10000");
		}
		json_object_set_new(req, "limit", json_integer(v));
	}
	if (co.count)
		json_object_set_new(req, "count", json_true());
	return ctl_run("flows", &co, req, co.count ? print_count : print_flows);
}

int app_cmd_flow(int argc, char **argv)
{
	struct ctl_opts co;
	char why[96];
	int rc;
	if (control_opts("flow", app_help_flow, argc, argv,
			 CO_FLOWS | CO_FILTER | CO_ALL, &co, &rc))
		return rc;
	if (optind == argc || strcmp(argv[optind], "delete") != 0)
		return app_usage_error("flow", "expected delete ID|FILTER");
	optind++;
	if (argc - optind > 1)
		return app_usage_error("flow", "delete takes at most one ID");
	if (argc > optind) {
		if (co.flow)
			return app_usage_error("flow", "an ID or --flow, not "
						       "both");
		co.flow = argv[optind];
	}
	if (co.limit)
		return app_usage_error("flow", "--limit is for flows");
	json_t *req = json_pack("{s:s}", "action", "flow_delete");
	if (!add_flow_filters(req, &co, why, sizeof(why))) {
		json_decref(req);
		return app_usage_error("flow", why);
	}
	if (json_object_size(req) == 1 && !co.all) {
		json_decref(req);
		return app_usage_error("flow", "delete needs an ID, a filter "
					       "or --all");
	}
	if (co.all) {
		if (json_object_size(req) > 1) {
			json_decref(req);
			return app_usage_error("flow",
					       "--all takes no filter");
		}
		json_object_set_new(req, "all", json_true());
	}
	return ctl_run("flow delete", &co, req, NULL);
}

/* ---- watch ---- */

struct watch_ctx {
	bool json, failed, started;
};

/* "ip:port" of the endpoint key of o, or "-". */
static const char *ep_text(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *ep = json_object_get(o, key);
	const char *ip = json_string_value(json_object_get(ep, "ip"));
	json_t *port = json_object_get(ep, "port");
	if (!ip)
		return "-";
	if (json_is_integer(port))
		snprintf(buf, len, "%s:%lld", ip,
			 (long long)json_integer_value(port));
	else
		snprintf(buf, len, "%s", ip);
	return buf;
}

/* One event as a line for people, conntrack -E's way: [NEW] [UPDATE]
 * [DESTROY] [DROP], then time, flow, protocol and the tuples. */
static void watch_text(json_t *o)
{
	const char *ev = jstr(o, "ev");
	const char *tag = strcmp(ev, "flow.open") == 0	    ? "[NEW]"
			  : strcmp(ev, "flow.state") == 0   ? "[UPDATE]"
			  : strcmp(ev, "flow.close") == 0   ? "[DESTROY]"
			  : strcmp(ev, "flow.evicted") == 0 ? "[DESTROY]"
			  : strcmp(ev, "pkt.drop") == 0	    ? "[DROP]"
							    : NULL;
	char a[40], b[40], c[40];
	if (strcmp(ev, "watch.loss") == 0) {
		printf("[LOST] %lld events (this reader was too slow)\n",
		       jint(o, "lost_since_last"));
		return;
	}
	printf("%s %s %s", tag ? tag : ev, jstr(o, "ts"), ev);
	if (json_object_get(o, "flow"))
		printf(" flow=%lld", jint(o, "flow"));
	if (json_object_get(o, "proto"))
		printf(" %s", jstr(o, "proto"));
	if (json_object_get(o, "inside") || json_object_get(o, "remote"))
		printf(" %s -> %s mapped=%s", ep_text(o, "inside", a, sizeof(a)),
		       ep_text(o, "remote", b, sizeof(b)),
		       ep_text(o, "mapped", c, sizeof(c)));
	if (json_object_get(o, "kind"))
		printf(" kind=%s", jstr(o, "kind"));
	if (json_is_string(json_object_get(o, "old_state")))
		printf(" state=%s->%s", jstr(o, "old_state"), jstr(o, "state"));
	else if (json_is_string(json_object_get(o, "state")))
		printf(" state=%s", jstr(o, "state"));
	if (json_is_string(json_object_get(o, "end")))
		printf(" end=%s", jstr(o, "end"));
	if (json_is_string(json_object_get(o, "reason")))
		printf(" reason=%s", jstr(o, "reason"));
	if (json_is_string(json_object_get(o, "rule")))
		printf(" rule=%s", jstr(o, "rule"));
	printf("\n");
}

static bool watch_line(void *ctx, const char *line, size_t len)
{
	struct watch_ctx *w = ctx;
	json_t *o = json_loadb(line, len, 0, NULL);
	if (!w->started) {
		w->started = true;
		if (!json_is_true(json_object_get(o, "success"))) {
			fprintf(stderr, "glassnat watch: %s (%s)\n",
				jstr(o, "message"), jstr(o, "error"));
			w->failed = true;
			json_decref(o);
			return false;
		}
		json_decref(o);
		fprintf(stderr, "glassnat watch: watching (Ctrl+C to stop)\n");
		return true;
	}
	if (w->json)
		printf("%.*s\n", (int)len, line);
	else if (json_is_object(o))
		watch_text(o);
	json_decref(o);
	/* Each event as it comes, also into a pipe; a closed reader ends. */
	return fflush(stdout) == 0 && !ferror(stdout);
}

int app_cmd_watch(int argc, char **argv)
{
	struct ctl_opts co;
	char why[160], buf[128];
	int rc;
	if (control_opts("watch", app_help_watch, argc, argv,
			 CO_FLOWS | CO_FILTER | CO_EVENT, &co, &rc))
		return rc;
	if (co.limit)
		return app_usage_error("watch", "--limit is for flows");
	/* FILTER words: KEY=VALUE, as the options without their dashes. */
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char **slot = NULL;
		if (eq) {
			size_t k = (size_t)(eq - argv[i]);
			static const char *const keys[] = {
				"host", "port", "proto", "state",
				"rule", "kind", "flow",	 "event"
			};
			const char **slots[] = { &co.host,  &co.port, &co.proto,
						 &co.state, &co.rule, &co.kind,
						 &co.flow,  &co.event };
			for (size_t j = 0; j < 8; j++)
				if (strlen(keys[j]) == k &&
				    strncmp(argv[i], keys[j], k) == 0)
					slot = slots[j];
		}
		if (!slot) {
			snprintf(why, sizeof(why),
				 "'%.40s': a filter is KEY=VALUE (host, port, "
				 "proto, state, rule, kind, flow, event)",
				 argv[i]);
			return app_usage_error("watch", why);
		}
		*slot = eq + 1;
	}
	json_t *req = json_pack("{s:s}", "action", "subscribe");
	if (!add_flow_filters(req, &co, why, sizeof(why))) {
		json_decref(req);
		return app_usage_error("watch", why);
	}
	if (co.event) {
		if (!co.event[0] || strlen(co.event) > 31) {
			json_decref(req);
			return app_usage_error("watch", "--event: an event "
							"name or prefix "
							"(flow, pkt.drop)");
		}
		json_object_set_new(req, "event", json_string(co.event));
	}
	const char *path = ctl_socket_path(&co, buf, sizeof(buf));
	char *line = path ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!path)
		return EX_USAGE;
	char *req_nl = line ? malloc(strlen(line) + 2) : NULL;
	if (!req_nl) {
		free(line);
		fprintf(stderr, "glassnat watch: out of memory\n");
		return EX_RUNTIME;
	}
	sprintf(req_nl, "%s\n", line);
	free(line);
	struct watch_ctx w = { .json = co.json };
	unsigned long oserr = 0;
	enum nat_ctl_call_result r =
		nat_ctl_stream(path, req_nl, CTL_TIMEOUT_MS, watch_line, &w,
			       &oserr);
	free(req_nl);
	if (w.failed)
		return EX_RUNTIME;
	if (w.started) {
		if (r == NAT_CTL_CALL_CLOSED)
			fprintf(stderr, "glassnat watch: the gateway ended "
					"the stream (stopped?)\n");
		return r == NAT_CTL_CALL_CLOSED || r == NAT_CTL_CALL_OK
			       ? EX_OK
			       : EX_RUNTIME;
	}
	char eb[128];
	fprintf(stderr, "glassnat watch: %s at %s%s%s\n",
		r == NAT_CTL_CALL_NOT_RUNNING	? "the gateway is not running"
		: r == NAT_CTL_CALL_NO_ANSWER	? "nobody answers"
		: r == NAT_CTL_CALL_DENIED	? "permission denied"
		: r == NAT_CTL_CALL_TIMEOUT	? "no answer in time"
		: r == NAT_CTL_CALL_CLOSED	? "closed without an answer"
						: "cannot reach the control socket",
		path, r == NAT_CTL_CALL_ERROR ? ": " : "",
		r == NAT_CTL_CALL_ERROR ? nat_plat_os_error(oserr, eb, sizeof(eb))
					: "");
	return EX_RUNTIME;
}

/* The inside networks' counters, when there are several. */
static void print_networks(json_t *arr)
{
	json_t *n;
	size_t i;
	if (json_array_size(arr) < 2)
		return;
	printf("networks:\n");
	json_array_foreach(arr, i, n)
	{
		printf("  %-16s %-18s %lld active, %lld total, %lld evicted",
		       jstr(n, "name"), jstr(n, "network"),
		       jint(n, "flows_active"), jint(n, "flows_total"),
		       jint(n, "flows_evicted"));
		if (jint(n, "max_flows"))
			printf(" (max_flows %lld)", jint(n, "max_flows"));
		printf("\n");
	}
}

static void print_stat_line(void *ctx, const char *comp, bool warn,
			    const char *line)
{
	(void)ctx;
	(void)comp;
	printf("%s%s\n", line + 2, warn ? "  (!)" : "");
}

/* Text and Prometheus from the registry (metrics.h), the same lines as the
 * final statistics at Ctrl+C. */
static void print_stats(json_t *resp, const struct ctl_opts *co)
{
	static char buf[65536];
	struct nat_metrics m;

	nat_metrics_from_json(&m, json_object_get(resp, "stats"));
	if (co->prometheus) {
		size_t n = nat_metrics_prometheus(&m, buf, sizeof(buf));
		fwrite(buf, 1, n < sizeof(buf) ? n : sizeof(buf) - 1, stdout);
		return;
	}
	nat_metrics_text(&m, print_stat_line, NULL);
	print_networks(json_object_get(json_object_get(resp, "stats"), "networks"));
}

int app_cmd_stats(int argc, char **argv)
{
	struct ctl_opts co;
	int rc;

	if (control_opts("stats", app_help_stats, argc, argv, CO_PROM, &co,
			 &rc))
		return rc;
	if (optind < argc)
		return app_usage_error("stats", "unexpected argument");
	if (co.json && co.prometheus)
		return app_usage_error("stats",
				       "--json or --prometheus, not both");
	return ctl_run("stats", &co, json_pack("{s:s}", "action", "stats"),
		       print_stats);
}

int app_cmd_trace(int argc, char **argv)
{
	struct ctl_opts co;
	char err[ERRBUF_LEN];
	const char *sub;
	int rc;

	if (control_opts("trace", app_help_trace, argc, argv, 0, &co, &rc))
		return rc;
	if (optind == argc)
		return app_usage_error("trace", "missing on or off");
	sub = argv[optind++];
	if (strcmp(sub, "on") == 0) {
		if (argc - optind > 1)
			return app_usage_error("trace",
					       "on takes at most one BPF "
					       "expression (quote it)");
		if (argc > optind &&
		    app_check_bpf(argv[optind], err, sizeof(err)) != 0)
			return app_usage_error("trace", err);
		json_t *req = json_pack("{s:s}", "action", "trace_on");
		if (argc > optind)
			json_object_set_new(req, "filter",
					    json_string(argv[optind]));
		return ctl_run("trace on", &co, req, NULL);
	}
	if (strcmp(sub, "off") == 0) {
		if (optind < argc)
			return app_usage_error("trace",
					       "off takes no arguments");
		return ctl_run("trace off", &co,
			       json_pack("{s:s}", "action", "trace_off"), NULL);
	}
	return app_usage_error("trace", "expected on [BPF] or off");
}

int app_cmd_reload(int argc, char **argv)
{
	struct ctl_opts co;
	int rc;

	if (control_opts("reload", app_help_reload, argc, argv, 0, &co, &rc))
		return rc;
	if (optind < argc)
		return app_usage_error("reload", "unexpected argument");
	return ctl_run("reload", &co, json_pack("{s:s}", "action", "reload"),
		       NULL);
}
