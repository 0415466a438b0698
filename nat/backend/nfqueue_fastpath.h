/* The NFQUEUE backend's kernel fast path for one run (nfqueue_fastpath.c):
 * opened as the config says (fastpath: auto|on|off), attached on the
 * namespace's Ethernet interfaces, handed to the engine as its offloader,
 * and taken back (every flow accounted) before the chains close. Used by
 * nfqueue.c only; engine thread. docs/translation.md. */
#ifndef GLASSNAT_NFQUEUE_FASTPATH_H
#define GLASSNAT_NFQUEUE_FASTPATH_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "engine.h"
#include "live.h"

enum { NAT_NFQ_FP_MAX_IFS = 16 };

struct nat_nfq_fp {
	struct nat_fastpath *fp; /* NULL: not loaded */
	struct nat_engine *e;
	char ifnames[NAT_NFQ_FP_MAX_IFS][IF_NAMESIZE];
	size_t n_ifs;
};

/* Loads the fast path as cfg->fastpath says and makes it e's offloader.
 * off: nothing. auto: when it cannot be loaded, one line on log says why
 * and the run goes on without it (0). on: -1 with the reason in errbuf.
 * n_queues: the queues the slow path spreads over (>= 1). */
int nat_nfq_fp_open(struct nat_nfq_fp *f, struct nat_engine *e,
		    const struct nat_config *cfg, unsigned n_queues, FILE *log,
		    char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Takes every offloaded flow back into the engine (its counters added),
 * stops offloading and unloads the program. Before the chains close:
 * nothing is translated in the kernel afterwards. Idempotent. */
void nat_nfq_fp_close(struct nat_nfq_fp *f);

/* The fast path's counters for the backend's list (loaded 0/1, packets
 * translated in the kernel, packets dropped by a failing helper), at most
 * max; returns how many (always the same names, zeros when not loaded). */
size_t nat_nfq_fp_counters(const struct nat_nfq_fp *f,
			   struct nat_live_counter *out, size_t max);

#endif
