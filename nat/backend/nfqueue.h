/* The Linux live backend (live.h): packets from nfnetlink queues 0..N-1
 * (`queues`, one worker thread each, one engine) through the engine and
 * back, steered there by iptables chains (nfqueue_rules.h).
 *
 * open() binds the queues, 0 first (failing when another process holds
 * one),
 * removes any GLASSNAT-* chains a crashed run left and installs its own;
 * close() removes them again, on every path. A crash leaves the chains in
 * place: NFQUEUE without a listener drops, so nothing leaks untranslated
 * (fail closed) until the next start cleans them up. set_forwards()
 * rewrites the chains in one iptables-restore. See
 * docs/troubleshooting.md for the rules, the counters and what they mean.
 * Linux builds only. */
#ifndef GLASSNAT_NFQUEUE_H
#define GLASSNAT_NFQUEUE_H

#include "live.h"

extern const struct nat_live_ops nat_live_nfqueue;

/* The number of queues (and worker threads) a run of cfg binds: its
 * `queues`, or for auto the online CPUs; 1..NAT_QUEUES_MAX. What the
 * fast path's nat_fastpath_opts.n_queues must be (its QMARK modulus),
 * so the mark it puts on a packet names one of our queues. */
unsigned nat_nfq_queue_count(const struct nat_config *cfg);

#endif
