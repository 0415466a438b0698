/* The option helpers the commands share (see app.h). */
#include "app.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

/* Reports a getopt failure (optstring starts with ':'). */
int app_opt_fail(const char *cmd, int c, char **argv)
{
	char name[64];
	const char *arg = argv[optind - 1];

	if (optopt > 0 && optopt < 128 && arg[0] == '-' && arg[1] != '-')
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="),
			 arg);
	if (c == ':')
		fprintf(stderr, "glassnat %s: option '%s' needs an argument\n",
			cmd, name);
	else
		fprintf(stderr, "glassnat %s: unknown option '%s'\n", cmd,
			name);
	fprintf(stderr, "try 'glassnat %s --help'\n", cmd);
	return EX_USAGE;
}

int app_usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "glassnat %s: %s\n", cmd, what);
	fprintf(stderr, "try 'glassnat %s --help'\n", cmd);
	return EX_USAGE;
}

bool app_copy_opt(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* Compiles a BPF expression for raw IPv4 to check its syntax. */
int app_check_bpf(const char *expr, char *errbuf, size_t errlen)
{
	struct bpf_program prog;
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
	int rc;

	if (!p) {
		snprintf(errbuf, errlen, "cannot set up the BPF compiler");
		return -1;
	}
	rc = pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN);
	if (rc != 0)
		snprintf(errbuf, errlen, "BPF '%s': %s", expr, pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	return rc == 0 ? 0 : -1;
}

/* Loads a config; on failure prints the loader's message as is (it names
 * FILE:LINE:COLUMN) and returns -1. */
int app_load_config(const char *path, struct nat_config *cfg)
{
	char err[ERRBUF_LEN];

	if (nat_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}


uint64_t app_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool app_obs_arg(struct app_obs_args *a, int c, const char *arg)
{
	switch (c) {
	case 'c':
		a->config = arg;
		return true;
	case OPT_TRACE:
		a->trace = arg;
		return true;
	case OPT_TRACE_FILTER:
		a->filter = arg;
		return true;
	case OPT_EVENTS:
		a->events = arg;
		return true;
	case OPT_LOG_FORMAT:
		a->format = arg;
		return true;
	case 'v':
		a->verbose = true;
		return true;
	default:
		return false;
	}
}
