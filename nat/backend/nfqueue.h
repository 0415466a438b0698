/* The Linux live backend (live.h): packets from nfnetlink queue 0 through
 * the engine and back, steered there by iptables chains
 * (nfqueue_rules.h).
 *
 * open() binds the queue (failing when another process holds it),
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

#endif
