/* IPv4 fragment tracking for the translator: non-first fragments follow
 * the translation their first fragment got (docs/fragments.md).
 *
 * A datagram is keyed by (src, dst, protocol, IP id) as it ARRIVES, before
 * any rewrite. The engine translates a first fragment (offset 0, MF=1) as
 * any packet and then tells this table, with nat_frag_learn(), which IP
 * header rewrite later fragments need. A later fragment either finds that
 * rewrite (nat_frag_lookup) or, when it overtook its first fragment, is
 * copied into a small bounded buffer (nat_frag_hold) until the first one
 * is learned (nat_frag_release hands it back rewritten) or the timeout
 * passes (nat_frag_expire drops and counts it).
 *
 * No I/O, no clock (every call takes now_ns), no allocation after
 * nat_frag_create(). One thread owns a table; nothing here locks. */
#ifndef GLASSNAT_FRAG_H
#define GLASSNAT_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One list, many uses: the counters, their enum, their names and their
 * descriptions all come from here. X(ENUM, field, description). */
#define NAT_FRAG_STATS(X)                                                   \
	X(LEARNED, learned, "first fragments whose rewrite was learned")    \
	X(TRANSLATED, translated,                                           \
	  "later fragments that found their first fragment's rewrite")      \
	X(HELD, held,                                                       \
	  "later fragments copied into the buffer before their "            \
	  "first fragment")                                                 \
	X(RELEASED, released,                                               \
	  "held fragments handed back rewritten once the first arrived")    \
	X(EXPIRED_HELD, expired_held,                                       \
	  "held fragments dropped: their first fragment never came")        \
	X(EXPIRED_ENTRIES, expired_entries,                                 \
	  "datagrams forgotten on the timeout before they were complete")   \
	X(DROPPED_FULL, dropped_full,                                       \
	  "fragments dropped: no free datagram entry")                      \
	X(DROPPED_BUFFER, dropped_buffer,                                   \
	  "later fragments dropped: hold buffer out of slots or bytes")     \
	X(DROPPED_OVERLAP, dropped_overlap,                                 \
	  "fragments dropped: overlapping or inconsistent ranges (and the " \
	  "rest of that datagram)")                                         \
	X(DROPPED_TINY, dropped_tiny,                                       \
	  "fragments dropped: offset 8 bytes, or a first fragment shorter " \
	  "than its L4 header (RFC 1858)")

enum nat_frag_stat {
#define NAT_FRAG_X_ENUM(E, f, d) NAT_FRAG_S_##E,
	NAT_FRAG_STATS(NAT_FRAG_X_ENUM)
#undef NAT_FRAG_X_ENUM
	NAT_FRAG_STAT_MAX
};

struct nat_frag_stats {
#define NAT_FRAG_X_FIELD(E, f, d) uint64_t f;
	NAT_FRAG_STATS(NAT_FRAG_X_FIELD)
#undef NAT_FRAG_X_FIELD
};

/* The stable name ("dropped_overlap") and a one-line description of a
 * counter; "?" for a value out of range. */
const char *nat_frag_stat_name(enum nat_frag_stat s);
const char *nat_frag_stat_desc(enum nat_frag_stat s);
/* The counter s of st (for loops over every counter). */
uint64_t nat_frag_stat_value(const struct nat_frag_stats *st,
			     enum nat_frag_stat s);

/* A datagram's identity as it arrives. Host byte order. */
struct nat_frag_key {
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
};

/* One fragment's facts, read from its IP header by nat_frag_parse(). */
struct nat_frag_info {
	struct nat_frag_key key;
	uint16_t ihl;	  /* IP header bytes */
	uint16_t offset;  /* payload offset in bytes (field * 8) */
	uint16_t payload; /* payload bytes (total length - ihl) */
	bool more;	  /* MF */
};

enum nat_frag_kind {
	NAT_FRAG_NONE = 0, /* not a fragment (offset 0, MF clear) */
	NAT_FRAG_FIRST,	   /* offset 0, MF set: carries the L4 header */
	NAT_FRAG_LATER,	   /* offset > 0: no L4 header */
	NAT_FRAG_BAD,	   /* not IPv4, truncated header, total length below
			      IHL or past len, a non-last fragment whose
			      payload is empty or not a multiple of 8, or an
			      end past 65535 */
};

/* Reads the IP header of pkt[0..len) into *fi. Never reads past len; the
 * IP total length must fit in len (a truncated copy is NAT_FRAG_BAD: a
 * held fragment must be whole). */
enum nat_frag_kind nat_frag_parse(const uint8_t *pkt, size_t len,
				  struct nat_frag_info *fi)
	__attribute__((warn_unused_result));

/* The IP header rewrite later fragments get. NAT_FRAG_RW_SRC/DST say
 * which address changes; none means "pass unchanged" (a bypassed flow).
 * flow_id is the engine's, carried back untouched for its counters and
 * events. Host byte order. */
enum { NAT_FRAG_RW_SRC = 1u << 0, NAT_FRAG_RW_DST = 1u << 1 };
struct nat_frag_rewrite {
	uint8_t what;
	uint32_t src, dst;
	uint64_t flow_id;
	/* The engine's too, carried back untouched: the flow's slot and how
	 * the first fragment went (enum nat_verdict, nat_reason, nat_dir). */
	uint32_t flow_idx;
	uint8_t verdict, reason, dir;
};

/* Rewrites the addresses rw asks for in the IPv4 header at pkt[0..len)
 * and adjusts the header checksum incrementally (RFC 1624), so a header
 * whose checksum was valid stays valid. Only the IP header is touched: a
 * later fragment has no L4 header, and the L4 checksum of the whole
 * datagram (in the first fragment) was fixed when the first fragment was
 * translated. Returns false, changing nothing, when len < 20. */
bool nat_frag_apply(uint8_t *pkt, size_t len,
		    const struct nat_frag_rewrite *rw);

struct nat_frag_params {
	uint32_t max_datagrams;	 /* datagrams tracked at once (>= 1) */
	uint32_t max_held;	 /* later fragments held at once (>= 1) */
	uint32_t max_held_bytes; /* bytes held at once (>= 576) */
	uint64_t timeout_ns;	 /* from a datagram's first sighting; 0: 30 s */
	uint32_t hash_seed;	 /* chosen by the caller, e.g. at random */
};

#define NAT_FRAG_TIMEOUT_DEFAULT_NS (30ull * 1000000000ull)

struct nat_frag_table;

/* Reserves every table, list and buffer for p. Returns NULL with a
 * message in errbuf on a bad parameter or out of memory. */
struct nat_frag_table *nat_frag_create(const struct nat_frag_params *p,
				       char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
void nat_frag_destroy(struct nat_frag_table *t);
/* Bytes nat_frag_create() reserves for p (0 for a bad p). */
size_t nat_frag_memory(const struct nat_frag_params *p);

/* What a call did with a fragment. */
enum nat_frag_result {
	NAT_FRAG_OK = 0,       /* learned / translated (rewrite filled) */
	NAT_FRAG_MISS,	       /* lookup: first fragment not learned yet */
	NAT_FRAG_HELD,	       /* hold: copied, the caller drops its copy */
	NAT_FRAG_DROP_FULL,    /* no free datagram entry */
	NAT_FRAG_DROP_BUFFER,  /* hold buffer full (slots or bytes) */
	NAT_FRAG_DROP_OVERLAP, /* overlapping or inconsistent range */
	NAT_FRAG_DROP_TINY,    /* RFC 1858 tiny fragment */
};

/* Called once for every held fragment leaving the buffer. why is
 * NAT_FRAG_S_RELEASED (pkt is the fragment, rewritten: emit it) or the
 * counter it was dropped under (NAT_FRAG_S_EXPIRED_HELD, NAT_FRAG_S_DROPPED_OVERLAP);
 * tag is the caller's, from nat_frag_hold(). pkt points into the table's
 * scratch buffer: valid during the call only. The callback must not call
 * back into the table. */
struct nat_frag_out {
	void *ctx;
	void (*fn)(void *ctx, uint64_t tag, uint8_t *pkt, size_t len,
		   enum nat_frag_stat why);
};

/* After the engine translated (or bypassed) a first fragment fi (kind
 * NAT_FRAG_FIRST, key as it arrived): records rw for the datagram's later
 * fragments until it is complete or times out. The engine must have
 * parsed the first fragment's L4 header in full before (a first fragment
 * too short for it is the engine's parse error, never learned); this call
 * checks again and refuses a payload shorter than the protocol's header
 * (TCP 20, UDP and ICMP 8) as DROP_TINY. A second first fragment for the
 * same key is DROP_OVERLAP. On NAT_FRAG_OK the caller then calls
 * nat_frag_release() for the same key. On a DROP_* result nothing was
 * learned and the counter was bumped: drop the first fragment too (its
 * later fragments cannot follow it). */
enum nat_frag_result
nat_frag_learn(struct nat_frag_table *t, const struct nat_frag_info *fi,
	       const struct nat_frag_rewrite *rw, uint64_t now_ns)
	__attribute__((warn_unused_result));

/* For a later fragment fi (kind NAT_FRAG_LATER): NAT_FRAG_OK with *rw
 * filled when its first fragment was learned (apply it with
 * nat_frag_apply, then send); NAT_FRAG_MISS when not (call
 * nat_frag_hold); DROP_OVERLAP / DROP_TINY when the fragment (or an
 * earlier one of its datagram) is unacceptable: drop it. A datagram whose
 * last fragment was seen and whose bytes are all accounted for is
 * forgotten here. */
enum nat_frag_result
nat_frag_lookup(struct nat_frag_table *t, const struct nat_frag_info *fi,
		uint64_t now_ns, struct nat_frag_rewrite *rw)
	__attribute__((warn_unused_result));

/* Copies the later fragment pkt[0..len) (fi from nat_frag_parse of the
 * same bytes) into the buffer, in arrival order, with the caller's tag.
 * NAT_FRAG_HELD: the table owns the copy (the caller drops the original);
 * DROP_*: refused and counted. */
enum nat_frag_result
nat_frag_hold(struct nat_frag_table *t, const struct nat_frag_info *fi,
	      const uint8_t *pkt, size_t len, uint64_t tag, uint64_t now_ns)
	__attribute__((warn_unused_result));

/* Hands every fragment held for key to out, rewritten, in arrival order
 * (why NAT_FRAG_S_RELEASED), once the key's first fragment was learned;
 * for a datagram found overlapping they leave as DROPPED_OVERLAP. Forgets
 * the datagram when it is complete. Returns the number handed back. */
size_t nat_frag_release(struct nat_frag_table *t,
			const struct nat_frag_key *key,
			const struct nat_frag_out *out);

/* Forgets every datagram first seen timeout_ns or more before now_ns:
 * its held fragments leave through out as EXPIRED_HELD (or
 * DROPPED_OVERLAP for a datagram found overlapping) and the datagram
 * counts as EXPIRED_ENTRIES. O(expired). A now_ns that steps back
 * delays expiry; it never reorders it. Call it at least once a second
 * (expiry has the caller's resolution); out may have fn NULL. Returns the
 * number of datagrams forgotten. */
size_t nat_frag_expire(struct nat_frag_table *t, uint64_t now_ns,
		       const struct nat_frag_out *out);

/* Current use, for stats and tests. */
struct nat_frag_usage {
	uint32_t datagrams, held;
	uint64_t held_bytes;
};
void nat_frag_usage(const struct nat_frag_table *t, struct nat_frag_usage *u);
const struct nat_frag_stats *nat_frag_stats(const struct nat_frag_table *t);

#endif
