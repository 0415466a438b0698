/* /metrics on Windows: not built (libmicrohttpd is not part of the
 * Windows build); `glassnat stats --prometheus` gives the same text. */
#include "metrics_http.h"

#include <stdio.h>

struct nat_metrics_http *nat_metrics_http_start(uint32_t addr, uint16_t port,
						char *errbuf, size_t errlen)
{
	(void)addr;
	(void)port;
	snprintf(errbuf, errlen,
		 "metrics.listen: /metrics over HTTP is not available in the "
		 "Windows build (use glassnat stats --prometheus)");
	return NULL;
}

void nat_metrics_http_publish(struct nat_metrics_http *h,
			      const struct nat_metrics *m)
{
	(void)h;
	(void)m;
}

uint64_t nat_metrics_http_scrapes(const struct nat_metrics_http *h)
{
	(void)h;
	return 0;
}

void nat_metrics_http_stop(struct nat_metrics_http *h)
{
	(void)h;
}
