/* The `glassnat` command line: which command runs. Each command lives in
 * its own file (cmd_run.c, cmd_offline.c, cmd_control.c; help texts in
 * help.c); main only picks one, after rewriting Hyper-NAT's single-dash
 * spellings (-config, -verbose, -version) to their long forms.
 *
 * Exit status, for every command: 0 ok, 1 runtime failure, 2 usage or
 * config error. This is the only file of the program that calls exit
 * (through main's return). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static int cmd_version(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(app_help_version, stdout);
			return EX_OK;
		}
		return app_opt_fail("version", c, argv);
	}
	if (optind < argc)
		return app_usage_error("version", "unexpected argument");
	printf("glassnat %s (backends: replay)\n", GLASSNAT_VERSION);
	return EX_OK;
}

/* ---- dispatch -------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "run", app_cmd_run },	    { "replay", app_cmd_replay },
	{ "check", app_cmd_check }, { "forward", app_cmd_forward },
	{ "flows", app_cmd_flows }, { "stats", app_cmd_stats },
	{ "trace", app_cmd_trace }, { "reload", app_cmd_reload },
	{ "version", cmd_version },
	{ "uninstall", app_cmd_uninstall },
	{ "service", app_cmd_service },
	{ "flow", app_cmd_flow },
	{ "watch", app_cmd_watch },
};

/* Rewrites Hyper-NAT's Go-style single-dash long options in place (up to
 * a "--"): -config[=F] -> --config[=F], -verbose, -version. The strings
 * are static or point into the original argument. */
static void translate_hyper_nat(int argc, char **argv, char **store,
				size_t store_len)
{
	static const char *const names[] = { "config", "verbose", "version" };
	size_t used = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '-')
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t n = strlen(names[k]);

			if (strncmp(a + 1, names[k], n) != 0 ||
			    (a[1 + n] != '\0' && a[1 + n] != '='))
				continue;
			if (used == store_len)
				return;
			size_t len = strlen(a) + 2;
			char *s = malloc(len);
			if (!s)
				return;
			snprintf(s, len, "-%s", a);
			store[used++] = s;
			argv[i] = s;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	char *store[64] = { NULL };
	const struct command *cmd = NULL;
	int rc;

	translate_hyper_nat(argc, argv, store,
			    sizeof(store) / sizeof(store[0]));
	opterr = 0;

	if (argc < 2) {
		fputs(app_help_main, stderr);
		return EX_USAGE;
	}
	if (argv[1][0] != '-') {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]);
		     i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				cmd = &commands[i];
		if (!cmd) {
			fprintf(stderr, "glassnat: unknown command '%s'\n",
				argv[1]);
			fprintf(stderr, "try 'glassnat --help'\n");
			rc = EX_USAGE;
			goto out;
		}
		/* The command sees itself as argv[0]. */
		rc = cmd->fn(argc - 1, argv + 1);
		goto out;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(app_help_main, stdout);
		rc = EX_OK;
		goto out;
	}
	if (strcmp(argv[1], "--version") == 0 && argc == 2) {
		rc = cmd_version(1, argv);
		goto out;
	}
	rc = app_cmd_run(argc, argv); /* options only: the default command */
out:
	for (size_t i = 0; i < sizeof(store) / sizeof(store[0]); i++)
		free(store[i]);
	return rc;
}
