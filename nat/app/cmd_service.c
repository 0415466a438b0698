/* `glassnat service install|remove|start|stop|run`: glassnat as a Windows
 * service (service.h does the talking to the service control manager).
 * `run` is what the service control manager starts: it sends every line
 * the run writes (log_line.h) to glassnat.log beside the config, then
 * runs `glassnat run -c FILE` as the service. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "log_line.h"
#include "platform.h"
#include "service.h"

#define SERVICE_WAIT_MS 30000u

static const char *svc_config = NAT_PLAT_CONFIG_DEFAULT;

/* The service's run: `glassnat run -c FILE`, as from a console. The
 * config is loaded once first so that an error in it reaches the log
 * (the service's process has no stderr: app_load_config's message would
 * be lost). */
static int svc_run(int argc, char **argv)
{
	char *args[] = { "run", "-c", (char *)svc_config, NULL };
	char err[ERRBUF_LEN];
	struct nat_config cfg;
	(void)argc;
	(void)argv;
	if (nat_config_load(svc_config, &cfg, err, sizeof(err)) != 0) {
		log_line(LOG_ERROR, "SERVICE", "%s", err);
		return EX_USAGE;
	}
	nat_config_free(&cfg);
	optind = 0; /* getopt starts afresh for run's options */
	return app_cmd_run(3, args);
}

/* The service's lines go to glassnat.log in the config's directory
 * (appended): log_line's output, as a service has no console. */
static FILE *svc_log_beside(const char *config, char *path, size_t len)
{
	const char *slash = strrchr(config, '\\');
	const char *fwd = strrchr(config, '/');
	if (!slash || (fwd && fwd > slash))
		slash = fwd;
	if (slash)
		snprintf(path, len, "%.*s%cglassnat.log",
			 (int)(slash - config), config, *slash);
	else
		snprintf(path, len, "glassnat.log");
	FILE *f = fopen(path, "a");
	if (f)
		setvbuf(f, NULL, _IONBF, 0);
	return f;
}

int app_cmd_service(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "auto", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[ERRBUF_LEN], log[1024];
	bool auto_start = false, have_config = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fputs(app_help_service, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : EX_OK;
	}
	const char *sub = argv[1];
	while ((c = getopt_long(argc - 1, argv + 1, ":c:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			svc_config = optarg;
			have_config = true;
			break;
		case 'a':
			auto_start = true;
			break;
		case 'h':
			fputs(app_help_service, stdout);
			return EX_OK;
		default:
			return app_opt_fail("service", c, argv + 1);
		}
	}
	if (optind < argc - 1)
		return app_usage_error("service", "unexpected argument");
	bool takes_config = strcmp(sub, "install") == 0 ||
			    strcmp(sub, "run") == 0;
	if ((have_config && !takes_config) ||
	    (auto_start && strcmp(sub, "install") != 0))
		return app_usage_error("service", "-c and --auto go with install");

	int rc;
	if (strcmp(sub, "install") == 0)
		rc = nat_service_install(svc_config, auto_start, err,
					 sizeof(err));
	else if (strcmp(sub, "remove") == 0)
		rc = nat_service_remove(err, sizeof(err));
	else if (strcmp(sub, "start") == 0)
		rc = nat_service_start(SERVICE_WAIT_MS, err, sizeof(err));
	else if (strcmp(sub, "stop") == 0)
		rc = nat_service_stop(SERVICE_WAIT_MS, err, sizeof(err));
	else if (strcmp(sub, "run") == 0) {
		FILE *lf = svc_log_beside(svc_config, log, sizeof(log));
		if (!lf) {
			fprintf(stderr, "glassnat service run: cannot open %s\n",
				log);
			return EX_RUNTIME;
		}
		log_line_set_output(lf);
		rc = nat_service_run(svc_run, argc, argv, err, sizeof(err));
		if (rc < 0)
			log_line(LOG_ERROR, "SERVICE", "%s", err);
		log_line_set_output(NULL);
		fclose(lf);
		if (rc < 0) {
			fprintf(stderr, "glassnat service run: %s\n", err);
			return EX_RUNTIME;
		}
		return rc;
	} else
		return app_usage_error("service", "the subcommand is install, "
						  "remove, start or stop");
	if (rc != 0) {
		fprintf(stderr, "glassnat service %s: %s\n", sub, err);
		return EX_RUNTIME;
	}
	printf("glassnat service %s: done\n", sub);
	return EX_OK;
}
