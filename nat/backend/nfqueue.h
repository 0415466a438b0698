/* The Linux live backend: packets from an nfnetlink queue through the
 * engine and back, and the iptables chains that steer them there.
 *
 * At start nat_nfqueue_run() binds queue `queue_num` (failing when another
 * process holds it), removes any GLASSNAT-* chains a crashed run left,
 * installs its own (raw: notrack; mangle PREROUTING: inbound to our
 * external addresses on port_range, forwarded ports and ICMP; mangle
 * POSTROUTING: everything from internal_network) and removes them again
 * before it returns, on every path. A crash leaves the chains in place:
 * NFQUEUE without a listener drops, so nothing leaks untranslated (fail
 * closed) until the next start cleans them up. See docs/troubleshooting.md
 * for the rules, the counters and what they mean. */
#ifndef GLASSNAT_NFQUEUE_H
#define GLASSNAT_NFQUEUE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "engine.h"

struct nat_live_opts {
	volatile sig_atomic_t *stop;   /* non-zero: leave the loop */
	volatile sig_atomic_t *reload; /* SIGHUP seen; on_tick handles it */
	/* Called about every 100 ms on the engine thread, busy or idle:
	 * main uses it for trace.loss, SIGHUP and periodic stats. */
	void (*on_tick)(void *ctx, uint64_t now_ns);
	/* Called once on the engine thread when the queue is bound and the
	 * chains are installed, before the first packet (main starts the
	 * control socket here, so a second glassnat fails on the queue
	 * first). -1 ends the run with the message in errbuf. May be NULL. */
	int (*on_start)(void *ctx, char *errbuf, size_t errlen);
	void *ctx;
	uint32_t queue_num; /* nfnetlink queue number, 0..65535 */
	bool verbose;	    /* the rules installed, echoed to log */
	FILE *log;	    /* text lines: startup facts and warnings */
};

struct nat_live_stats {
	uint64_t packets;	/* packets received from the queue */
	uint64_t batches;	/* recvmmsg calls that returned packets */
	uint64_t max_batch;	/* most packets in one batch */
	uint64_t gso;		/* GSO super-packets (NFQA_SKB_GSO) */
	uint64_t csum_full;	/* L4 checksums recomputed in full */
	uint64_t enobufs;	/* ENOBUFS on the socket: the kernel lost
				 * messages (packets dropped, fail closed) */
	uint64_t truncated;	/* copy shorter than the packet: dropped */
	uint64_t verdict_errors; /* sendmsg of verdicts failed */
	/* From /proc/net/netfilter/nfnetlink_queue at exit: */
	uint64_t queue_dropped; /* queue full (queue_maxlen) */
	uint64_t user_dropped;	/* could not be sent to us (socket full) */
	uint32_t queue_maxlen;
	int rcvbuf;		/* socket receive buffer granted, bytes */
};

/* Runs the live gateway until *o->stop becomes non-zero. Installs the
 * chains (see above) and removes them before returning. e must have been
 * created from cfg; its hooks are set by the caller. Returns 0 after a
 * stop, -1 with a message in errbuf on failure (queue busy, no netlink,
 * iptables refused the rules); st is filled in both cases. */
int nat_nfqueue_run(struct nat_engine *e, const struct nat_config *cfg,
		    const struct nat_live_opts *o, struct nat_live_stats *st,
		    char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Rewrites the chains of the running nat_nfqueue_run() for cfg (its
 * addresses and rules, after a reload) with the forwards fw[0..n) in place
 * of cfg's: a forward's port is queued inbound only once it is here. One
 * iptables-restore: each chain is replaced atomically. Engine thread,
 * from on_tick or on_start only. Returns -1 with errbuf (also when no run
 * is active); the old chains then stay. */
int nat_nfqueue_set_forwards(const struct nat_config *cfg,
			     const struct nat_forward_cfg *fw, size_t n,
			     char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Removes every chain and jump nat_nfqueue_run installs, in the current
 * network namespace. Returns how many chains existed (0: nothing to do),
 * -1 when iptables cannot be run (errbuf). */
int nat_nfqueue_remove_chains(char *errbuf, size_t errlen);

#endif
