/* service.h on Linux: systemd runs glassnat (systemd/glassnat.service);
 * `glassnat service` says so. */
#include <stdio.h>

#include "service.h"

#define USE_SYSTEMD                                                          \
	"glassnat service is for Windows; on Linux systemd runs glassnat: "     \
	"systemctl enable --now glassnat (see glassnat(8))"

int nat_service_install(const char *config, bool auto_start, char *errbuf,
			size_t errlen)
{
	(void)config;
	(void)auto_start;
	snprintf(errbuf, errlen, USE_SYSTEMD);
	return -1;
}

int nat_service_remove(char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, USE_SYSTEMD);
	return -1;
}

int nat_service_start(unsigned wait_ms, char *errbuf, size_t errlen)
{
	(void)wait_ms;
	snprintf(errbuf, errlen, USE_SYSTEMD);
	return -1;
}

int nat_service_stop(unsigned wait_ms, char *errbuf, size_t errlen)
{
	(void)wait_ms;
	snprintf(errbuf, errlen, USE_SYSTEMD);
	return -1;
}

int nat_service_run(int (*run)(int argc, char **argv), int argc, char **argv,
		    char *errbuf, size_t errlen)
{
	(void)run;
	(void)argc;
	(void)argv;
	snprintf(errbuf, errlen, USE_SYSTEMD);
	return -1;
}

bool nat_service_active(void)
{
	return false;
}

void nat_service_running(void)
{
}

void nat_service_stopping(void)
{
}
