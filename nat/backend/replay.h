/* The replay backend: translates a capture file offline through an engine,
 * exactly as the live path would, and writes what leaves the NAT.
 *
 * Input: classic pcap (either byte order, µs or ns) or pcapng (either byte
 * order, several sections and interfaces); every link type linktype.h
 * decapsulates (raw IP, Ethernet with VLAN/QinQ tags, Linux cooked SLL
 * and SLL2, BSD loopback), the link type masked to its low 16 bits. A packet's direction comes from
 * the pcapng EPB direction flag (inbound = from outside toward the inside
 * = NAT_DIR_IN, outbound = NAT_DIR_OUT), else the interface name ("inside"
 * / "outside"), else the engine's address classification. Its time is the
 * capture's, so timeouts fire in capture time.
 *
 * Output: pcapng, one interface "post-nat" (LINKTYPE_RAW, ns resolution);
 * every packet that is not dropped, after translation, with the EPB
 * direction flag and the comment "flow=ID dir=in|out verdict=V rule=NAME"
 * (reason=R when passed), written by the note codec (note.h) in its
 * TRACE_NOTE_REPLAY_V1 spelling. */
#ifndef GLASSNAT_REPLAY_H
#define GLASSNAT_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "engine.h"

struct nat_replay_opts {
	const char *in_path;
	const char *out_path; /* NULL: translate only, write nothing */
	/* Called after every packet with its time (observers: trace.loss,
	 * keeping the offline writers from overflowing). May be NULL. */
	void (*after_packet)(void *ctx, uint64_t ts_ns);
	void *ctx;
};

struct nat_replay_result {
	uint64_t records;      /* packet records read */
	uint64_t written;      /* packets written to out_path */
	uint64_t skipped;      /* not IP (ARP, ...), unknown link type */
	uint64_t truncated;    /* captured shorter than on the wire */
	uint64_t unknown_dir;  /* IPv4, direction not decidable (the engine
			        * then passes or drops it by policy) */
	uint64_t unknown_link; /* of skipped: link type not decapsulated */
	uint64_t ipv6;	       /* IPv6 packets handed to the engine */
};

/* Runs the whole file through e (created by the caller from cfg, hooks
 * already set). Returns 0, or -1 with "FILE: offset N: what is wrong" in
 * errbuf when the input is unreadable or damaged (the packets before the
 * damage have been processed and written) or the output cannot be
 * written. *res is filled in either case. */
int nat_replay_run(struct nat_engine *e, const struct nat_replay_opts *o,
		   struct nat_replay_result *res, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Prints the replay summary: packets read / written, translated, bypassed,
 * passed and dropped by reason, flows total and active, hairpinned. */
void nat_replay_print_summary(FILE *out, const struct nat_replay_opts *o,
			      const struct nat_replay_result *res,
			      const struct nat_stats *st);

#endif
