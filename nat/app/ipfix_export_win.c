/* The IPFIX exporter on Windows: not built (ipfix.h). The encoder is. */
#include "ipfix.h"

#include <stdio.h>
#include <string.h>

struct ipfix_exporter *ipfix_export_start(const struct nat_ipfix_cfg *cfg,
					  const struct ipfix_limits *lim,
					  char *errbuf, size_t errlen)
{
	(void)cfg;
	(void)lim;
	snprintf(errbuf, errlen,
		 "ipfix: IPFIX export is not available in the Windows build");
	return NULL;
}

void ipfix_export_event(struct ipfix_exporter *x, const struct nat_event *ev)
{
	(void)x;
	(void)ev;
}

void ipfix_export_counts(const struct ipfix_exporter *x,
			 struct ipfix_counts *c)
{
	(void)x;
	memset(c, 0, sizeof(*c));
}

void ipfix_export_stop(struct ipfix_exporter *x, struct ipfix_counts *final)
{
	(void)x;
	if (final)
		memset(final, 0, sizeof(*final));
}
