/* What the commands of the `glassnat` program share: exit codes, option
 * numbers, help texts, the option helpers, and one entry point per
 * command (argv[0] is the command's name; each returns an exit code).
 *
 * Exit status, for every command: 0 ok, 1 runtime failure, 2 usage or
 * config error (EX_*). Only main() ends the process, through its return. */
#ifndef GLASSNAT_APP_H
#define GLASSNAT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#ifndef GLASSNAT_VERSION
#define GLASSNAT_VERSION "0.1.0"
#endif

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2 };

#define ERRBUF_LEN 512

/* Long options without a short form get values above any char. */
enum {
	OPT_TRACE = 256,
	OPT_TRACE_FILTER,
	OPT_EVENTS,
	OPT_LOG_FORMAT,
	OPT_VERSION,
	OPT_NAME,
	OPT_SOCKET,
	OPT_JSON,
	OPT_PROTO,
	OPT_PORT,
	OPT_TO,
	OPT_HOST,
	OPT_LIMIT,
	OPT_PROMETHEUS,
	OPT_SOURCE,
	OPT_IN_IF,
	OPT_EXT_IP,
};

/* The help texts (help.c), printed as they are. */
extern const char app_help_main[], app_help_run[], app_help_replay[],
	app_help_check[], app_help_forward[], app_help_flows[],
	app_help_stats[], app_help_trace[], app_help_reload[],
	app_help_version[], app_help_uninstall[], app_help_service[],
	app_help_flow[], app_help_watch[];

/* Reports a getopt_long failure of command cmd (the optstring starts with
 * ':'; c is what getopt_long returned) on stderr. Returns EX_USAGE. */
int app_opt_fail(const char *cmd, int c, char **argv);

/* Prints "glassnat CMD: WHAT" and the --help hint. Returns EX_USAGE. */
int app_usage_error(const char *cmd, const char *what);

/* Copies src into dst[size]; false (dst unchanged) when it does not fit. */
bool app_copy_opt(char *dst, size_t size, const char *src);

/* Compiles a BPF expression for raw IPv4 to check its syntax. Returns 0,
 * -1 with the expression and libpcap's message in errbuf. */
int app_check_bpf(const char *expr, char *errbuf, size_t errlen);

/* Loads a config; on failure prints the loader's message as is (it names
 * FILE:LINE:COLUMN) and returns -1. */
int app_load_config(const char *path, struct nat_config *cfg);

/* The wall clock in ns since 1970, for events' timestamps. */
uint64_t app_wall_ns(void);

/* The commands (cmd_run.c, cmd_offline.c, cmd_control.c). */
/* The options run and replay share: -c, --trace, --trace-filter,
 * --events, --log-format, -v. */
struct app_obs_args {
	const char *config, *trace, *filter, *events, *format;
	bool verbose;
};

/* Takes getopt's c and its argument into a when c is one of those
 * options; returns whether it did. */
bool app_obs_arg(struct app_obs_args *a, int c, const char *arg);

int app_cmd_run(int argc, char **argv);
int app_cmd_replay(int argc, char **argv);
int app_cmd_check(int argc, char **argv);
int app_cmd_forward(int argc, char **argv);
int app_cmd_flows(int argc, char **argv);
int app_cmd_flow(int argc, char **argv);
int app_cmd_watch(int argc, char **argv);
int app_cmd_stats(int argc, char **argv);
int app_cmd_trace(int argc, char **argv);
int app_cmd_reload(int argc, char **argv);
int app_cmd_uninstall(int argc, char **argv); /* cmd_uninstall.c */
int app_cmd_service(int argc, char **argv);

#endif
