/* notify.h on Windows: the service control manager hears of the run
 * through service_win.c when glassnat runs as a service; a console run has
 * no one to tell. */
#include "notify.h"
#include "service.h"

bool nat_notify_init(void)
{
	return nat_service_active();
}

void nat_notify_ready(const char *status)
{
	(void)status;
	nat_service_running();
}

void nat_notify_status(const char *status)
{
	(void)status;
}

void nat_notify_reloading(void)
{
}

void nat_notify_stopping(const char *status)
{
	(void)status;
	nat_service_stopping();
}

void nat_notify_watchdog(void)
{
}

uint64_t nat_notify_watchdog_ns(void)
{
	return 0;
}
