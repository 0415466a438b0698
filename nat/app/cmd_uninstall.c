/* `glassnat uninstall`: removes what runs leave installed. A clean stop
 * leaves the path of the NAT's traffic closed (docs/translation.md,
 * "Stopping"); a crashed run leaves its steering failing closed and its
 * host settings changed. This opens the path and puts the host back. */
#include <getopt.h>
#include <stdio.h>

#include "app.h"
#include "live.h"
#include "platform.h"

int app_cmd_uninstall(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct nat_live_ops *be = nat_plat_live_backend();
	const char *config = NULL;
	struct nat_config cfg;
	char err[ERRBUF_LEN];
	int c;

	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			fputs(app_help_uninstall, stdout);
			return EX_OK;
		default:
			return app_opt_fail("uninstall", c, argv);
		}
	}
	if (optind < argc)
		return app_usage_error("uninstall", "unexpected argument");
	if (!config)
		return app_usage_error("uninstall",
				       "missing -c FILE (the config file)");
	if (app_load_config(config, &cfg) != 0)
		return EX_USAGE;
	int rc = EX_OK;
	if (!be->uninstall) {
		printf("the %s backend leaves nothing installed\n", be->name);
	} else if (be->uninstall(&cfg, stdout, err, sizeof(err)) != 0) {
		fprintf(stderr, "glassnat uninstall: %s\n", err);
		rc = EX_RUNTIME;
	}
	nat_config_free(&cfg);
	if (fflush(stdout) != 0)
		rc = EX_RUNTIME;
	return rc;
}
