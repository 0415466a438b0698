/* The iptables chains of the NFQUEUE backend (nfqueue_rules.c), used by
 * nfqueue.c only.
 *
 * raw GLASSNAT-RAW: notrack for what we translate; mangle GLASSNAT-IN
 * (PREROUTING): inbound to our external addresses on port_range, the
 * forwarded ports and ICMP, to the queue; mangle GLASSNAT-OUT
 * (POSTROUTING): everything from internal_network, to the queue. A crash
 * leaves them in place: NFQUEUE without a listener drops, so nothing
 * leaks untranslated (fail closed) until the next start replaces them in
 * one transaction; a clean stop swaps in rules that drop the same
 * traffic (nat_nfq_closed_text). */
#ifndef GLASSNAT_NFQUEUE_RULES_H
#define GLASSNAT_NFQUEUE_RULES_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define NAT_NFQ_CHAIN_RAW "GLASSNAT-RAW"
#define NAT_NFQ_CHAIN_IN  "GLASSNAT-IN"
#define NAT_NFQ_CHAIN_OUT "GLASSNAT-OUT"
/* The comment on the rule that keeps the path closed after a clean stop. */
#define NAT_NFQ_CLOSED "glassnat stopped: closed until it runs again or glassnat uninstall"

/* The jumps to our chains, by chain. */
enum { NAT_NFQ_J_RAW, NAT_NFQ_J_IN, NAT_NFQ_J_OUT, NAT_NFQ_J_MAX };

/* What an earlier run left, read from iptables-save. */
struct nat_nfq_stale {
	unsigned jumps[NAT_NFQ_J_MAX]; /* jumps to each chain */
	unsigned chains;	       /* our chains that exist */
	bool queueing;		       /* they send to a queue (a crash) */
	bool closed;		       /* the closed rules of a clean stop */
};

enum { NAT_NFQ_MAX_OUTIF = 8 }; /* out interfaces followed for masquerade */

/* What the chains match, computed once from the config. */
struct nat_nfq_plan {
	uint32_t ext[NAT_EXT_ADDR_MAX]; /* nat_ip and snat to_addresses */
	unsigned n_ext;
	char masq_if[NAT_NFQ_MAX_OUTIF][IF_NAMESIZE]; /* masquerade out ifs */
	unsigned n_masq;
	bool masq_any; /* a masquerade rule without out_interface */
	bool u32_ok;   /* xt_u32 usable: echo replies matched by id */
	bool defrag;   /* xt_socket usable: the kernel reassembles first */
	bool physdev;  /* xt_physdev usable: bridged frames not queued */
	bool fastpath; /* the kernel fast path is on: what it translated
			  (NAT_FP_MARK) is neither tracked nor queued */
	unsigned stale[NAT_NFQ_J_MAX]; /* jumps to delete when installing */
	char def_dev[IF_NAMESIZE], in_dev[IF_NAMESIZE];
};

/* Fills pl from cfg and the namespace's routes (/proc/net/route);
 * pl->u32_ok is left false (nat_nfq_probe_u32 says). */
void nat_nfq_plan_build(struct nat_nfq_plan *pl, const struct nat_config *cfg);

/* Whether the kernel takes an xt_u32 match, tried in a throwaway chain. */
bool nat_nfq_probe_u32(void);
/* Whether it takes an xt_socket match (the rule that turns on the
 * kernel's reassembly for the namespace, pl->defrag). */
bool nat_nfq_probe_socket(void);
/* Whether it takes xt_physdev (bridged frames skip the queue). */
bool nat_nfq_probe_physdev(void);

/* The iptables-restore input for the three chains sending to `queue`;
 * with `jumps` also the jumps to them from the built-in chains (at
 * install time only), deleting the pl->stale ones in the same transaction:
 * one restore replaces whatever an earlier run left, atomically. Returns
 * a malloc'd string, NULL when out of memory. */
char *nat_nfq_rules_text(const struct nat_config *cfg,
			 const struct nat_nfq_plan *pl, uint32_t queue,
			 bool jumps);

/* The rules a clean stop leaves (the jumps stay): what the queue would
 * have taken from internal_network is dropped, nothing else touched, so
 * no inside address leaves untranslated while glassnat is not running.
 * `glassnat run` replaces them; `glassnat uninstall` removes them.
 * Returns a malloc'd string, NULL when out of memory. */
char *nat_nfq_closed_text(const struct nat_config *cfg);

/* Reads our jumps and chains from iptables-save text (both tables). */
void nat_nfq_stale_parse(const char *save, struct nat_nfq_stale *st);
/* The same from `iptables-save -t raw` and `-t mangle`. Returns 0, -1
 * (errbuf). */
int nat_nfq_read_stale(struct nat_nfq_stale *st, char *errbuf,
		       size_t errlen);

/* Feeds rules to iptables-restore --noflush (each chain replaced
 * atomically). Returns 0, -1 with its message in errbuf. */
int nat_nfq_restore(const char *rules, char *errbuf, size_t errlen);

/* Removes every chain and jump the backend installs, in the current
 * network namespace, in one iptables-restore. Returns how many chains existed (0: nothing to do),
 * -1 when iptables cannot be run (errbuf). */
int nat_nfq_remove_chains(char *errbuf, size_t errlen);

/* Warns on log (NULL: nothing) about host settings that defeat the NAT and
 * that glassnat does not set itself: ip_forward off. (The reserved ports
 * and accept_local are set for the run by hostcfg.h.) */
void nat_nfq_startup_warnings(FILE *log);

#endif
