/* /metrics with libmicrohttpd (metrics_http.h). One internal polling
 * thread, a few connections, short timeouts: a scraper is not a load
 * this server needs to scale to, and a stuck client must not pin it. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_CONNECTIONS 8 /* concurrent scrapers */
#define HTTP_TIMEOUT_S 5   /* idle connection closed after */
#define BODY_MAX (256u << 10)

struct nat_metrics_http {
	struct MHD_Daemon *d;
	pthread_mutex_t lock; /* guards snap */
	struct nat_metrics snap;
	_Atomic uint64_t scrapes;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct nat_metrics_http *h = cls;
	static char not_found[] = "not found: glassnat serves /metrics\n";
	static char not_allowed[] = "only GET and HEAD\n";
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     not_allowed, sizeof(not_allowed) - 1,
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			     sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	struct nat_metrics *m = malloc(sizeof(*m));
	char *body = malloc(BODY_MAX);
	if (!m || !body) {
		free(m);
		free(body);
		return MHD_NO;
	}
	pthread_mutex_lock(&h->lock);
	*m = h->snap;
	pthread_mutex_unlock(&h->lock);
	size_t n = nat_metrics_prometheus(m, body, BODY_MAX);
	free(m);
	if (n >= BODY_MAX)
		n = BODY_MAX - 1;
	atomic_fetch_add(&h->scrapes, 1);
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		     body, n, MHD_RESPMEM_MUST_FREE);
}

struct nat_metrics_http *nat_metrics_http_start(uint32_t addr, uint16_t port,
						char *errbuf, size_t errlen)
{
	struct nat_metrics_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sa;
	char ip[INET_ADDRSTRLEN];

	if (!h) {
		snprintf(errbuf, errlen, "metrics: out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(addr);
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	errno = 0;
	h->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port,
		NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)HTTP_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
	if (!h->d) {
		snprintf(errbuf, errlen,
			 "metrics.listen %s:%u: cannot serve /metrics there "
			 "(%s)",
			 ip, port,
			 errno ? strerror(errno) : "address in use or invalid");
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

void nat_metrics_http_publish(struct nat_metrics_http *h,
			      const struct nat_metrics *m)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->snap = *m;
	pthread_mutex_unlock(&h->lock);
}

uint64_t nat_metrics_http_scrapes(const struct nat_metrics_http *h)
{
	return h ? atomic_load(&((struct nat_metrics_http *)h)->scrapes) : 0;
}

void nat_metrics_http_stop(struct nat_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
