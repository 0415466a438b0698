/* /metrics over HTTP (docs/metrics.md): Prometheus scrapes the counter
 * registry (metrics.h) here. The server runs its own thread and never
 * touches the engine: the engine thread publishes a snapshot (each tick)
 * and every scrape renders the latest one. Linux: libmicrohttpd; the
 * Windows build has no HTTP server (start fails, saying so). */
#ifndef GLASSNAT_METRICS_HTTP_H
#define GLASSNAT_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct nat_metrics_http;

/* Listens on addr:port (host order; addr 0: every address) and serves
 * GET /metrics. Returns NULL with a message in errbuf (port in use, no
 * support in this build). */
struct nat_metrics_http *nat_metrics_http_start(uint32_t addr, uint16_t port,
						char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Engine thread: m becomes what scrapes see (copied under a lock). */
void nat_metrics_http_publish(struct nat_metrics_http *h,
			      const struct nat_metrics *m);

/* Scrapes answered so far (any thread). */
uint64_t nat_metrics_http_scrapes(const struct nat_metrics_http *h);

/* Stops the server and frees h; NULL is a no-op. */
void nat_metrics_http_stop(struct nat_metrics_http *h);

#endif
