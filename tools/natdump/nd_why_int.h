/* natdump why's internals shared by nd_why.c (the trace and the events)
 * and nd_why_live.c (the config, the live host and its control socket):
 * what is gathered about the target, and the helpers both use. */
#ifndef GLASSNAT_ND_WHY_INT_H
#define GLASSNAT_ND_WHY_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "nd.h"
#include "nd_why.h"

enum { EV_LINES_MAX = 6, PKT_LINES_MAX = 8, PLAIN_LINES_MAX = 3,
       FWD_MAX = 1024, FLOWS_MAX = 8192 };

struct fwd_seen {
	uint64_t id;
	uint64_t in, out;
	uint32_t ip;
	uint16_t port, ext;
	uint8_t proto;
	char name[192];
};

struct gather {
	struct nd_why_facts f;
	const struct nat_config *cfg; /* NULL without --config */
	bool has_since, has_until;
	uint64_t since, until;
	/* The same drop seen in the trace and as an event counts once:
	 * each source counts apart, the larger wins. */
	uint64_t ev_drops[NAT_R_MAX], ev_unowned, ev_flows;
	uint64_t ev_fwd_silent;
	uint64_t flow_ids[FLOWS_MAX];
	size_t n_flow_ids;
	struct fwd_seen fwd[FWD_MAX];
	size_t n_fwd;
	/* Evidence. */
	char *ev_lines[EV_LINES_MAX];
	size_t n_ev_lines, ev_more;
	FILE *pkts; /* show lines of matched packets (tmpfile) */
	struct nd_out pout;
	size_t n_pkt_lines, n_plain_lines, pkt_more;
	char notes[4][256];
	size_t n_notes;
};

struct ep {
	bool on;
	uint32_t ip;
	uint16_t port;
};

/* "1.2.3.4" into b (16 bytes); returns b. */
const char *nd_why_ip(uint32_t a, char *b);
/* Adds a config or kernel note to the evidence (at most four). */
void nd_why_note(struct gather *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Counts flow id once (0: no flow). */
void nd_why_count_flow(struct gather *g, uint64_t id);
/* A stats object (event or control answer): queue counters by name, and
 * for the whole gateway the drops by reason. */
void nd_why_take_stats(struct gather *g, json_t *o);
/* An event's or a listed flow's "proto" as a number. */
uint8_t nd_why_ev_proto(json_t *o);
/* The endpoints eps[0..n) (inside, mapped, remote) are the target's. */
bool nd_why_ev_matches(const struct nd_why_target *t, json_t *o, uint8_t proto,
		       const struct ep *eps, size_t n);
bool nd_why_json_u64(json_t *v, uint64_t *out);

/* nd_why_live.c: the config's view (--config), the kernel's queue
 * counters (--live), the running gateway's counters and flows (-s);
 * read_socket returns 1 when the gateway did not answer. */
void nd_why_take_config(struct gather *g, const struct nat_config *c,
			bool live);
void nd_why_take_proc_queue(struct gather *g);
int nd_why_read_socket(struct gather *g, const char *sock);

#endif
