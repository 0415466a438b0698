/* Fragment tracking: see frag.h and docs/fragments.md.
 *
 * Storage, all reserved by nat_frag_create():
 * - datagram entries in one array, found through a chained hash index and
 *   kept on an age list in order of first sighting; the timeout runs from
 *   that first sighting and is never refreshed, so the list is also in
 *   deadline order and nat_frag_expire() stops at the first live entry;
 * - per entry, a bitmap of the 8-byte blocks seen (8192 bits cover the
 *   largest datagram), which finds every overlap exactly and tells when
 *   all bytes up to the last fragment's end have been seen;
 * - held fragments in slots on a per-entry list in arrival order, their
 *   bytes in 256-byte chunks from one arena. The arena has room for
 *   max_held_bytes plus one partly used chunk per slot, so the byte and
 *   slot limits are the only ones a caller ever meets. */
#include "frag.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

#define NIL	       UINT32_MAX
#define CHUNK	       256u
#define BLOCKS	       8192u /* 8-byte blocks in the largest datagram */
#define BITMAP_WORDS   (BLOCKS / 64u)
#define DGRAM_MAX      65535u
#define LIMIT_MAX      (1u << 20)
#define HELD_BYTES_MIN 576u
#define HELD_BYTES_MAX (1u << 30)

enum {
	IP_OFF_TOTLEN = 2,
	IP_OFF_ID = 4,
	IP_OFF_FRAG = 6,
	IP_OFF_PROTO = 9,
	IP_OFF_CSUM = 10,
	IP_OFF_SRC = 12,
	IP_OFF_DST = 16,
	IP_HDR_MIN = 20,
	IP_FRAG_MF = 0x2000,
	IP_FRAG_OFFSET = 0x1fff,
};

enum { E_LEARNED = 1u << 0, E_LAST_SEEN = 1u << 1 };

struct entry {
	struct nat_frag_key key;
	struct nat_frag_rewrite rw;
	uint64_t deadline_ns;
	uint32_t hnext; /* hash chain; free list when unused */
	uint32_t age_prev, age_next;
	uint32_t held_head, held_tail;
	uint32_t covered;    /* blocks seen */
	uint32_t end_blocks; /* blocks up to the end, once the last was seen */
	uint32_t max_end;    /* highest block end seen */
	uint8_t flags;	     /* E_* */
	uint8_t poison;	     /* 0, or the nat_frag_stat its fragments drop as */
};

struct held {
	uint32_t next; /* entry's list; free list when unused */
	uint32_t chunk;
	uint32_t len;
	uint64_t tag;
};

struct nat_frag_table {
	struct nat_frag_params p;
	uint32_t mask; /* buckets - 1 */
	uint32_t *bucket;
	struct entry *e;
	uint64_t *bits; /* BITMAP_WORDS per entry */
	uint32_t free_entry, n_entries;
	uint32_t age_head, age_tail;
	struct held *h;
	uint32_t free_held, n_held;
	uint8_t *arena;
	uint32_t *chunk_next;
	uint32_t free_chunk, n_chunks;
	uint64_t held_bytes;
	uint64_t latest_ns; /* the latest now_ns seen at a creation */
	/* DGRAM_MAX bytes: a held fragment being handed back */
	uint8_t *scratch;
	struct nat_frag_stats st;
};

/* ---- names ---- */

static const char *const stat_names[NAT_FRAG_STAT_MAX] = {
#define NAT_FRAG_X_NAME(E, f, d) [NAT_FRAG_S_##E] = #f,
	NAT_FRAG_STATS(NAT_FRAG_X_NAME)
#undef NAT_FRAG_X_NAME
};

static const char *const stat_descs[NAT_FRAG_STAT_MAX] = {
#define NAT_FRAG_X_DESC(E, f, d) [NAT_FRAG_S_##E] = d,
	NAT_FRAG_STATS(NAT_FRAG_X_DESC)
#undef NAT_FRAG_X_DESC
};

static const size_t stat_offsets[NAT_FRAG_STAT_MAX] = {
#define NAT_FRAG_X_OFF(E, f, d) \
	[NAT_FRAG_S_##E] = offsetof(struct nat_frag_stats, f),
	NAT_FRAG_STATS(NAT_FRAG_X_OFF)
#undef NAT_FRAG_X_OFF
};

const char *nat_frag_stat_name(enum nat_frag_stat s)
{
	return (unsigned)s < NAT_FRAG_STAT_MAX ? stat_names[s] : "?";
}

const char *nat_frag_stat_desc(enum nat_frag_stat s)
{
	return (unsigned)s < NAT_FRAG_STAT_MAX ? stat_descs[s] : "?";
}

uint64_t nat_frag_stat_value(const struct nat_frag_stats *st,
			     enum nat_frag_stat s)
{
	if ((unsigned)s >= NAT_FRAG_STAT_MAX)
		return 0;
	uint64_t v;
	memcpy(&v, (const uint8_t *)st + stat_offsets[s], sizeof(v));
	return v;
}

static void bump(struct nat_frag_table *t, enum nat_frag_stat s)
{
	uint64_t *c = (uint64_t *)((uint8_t *)&t->st + stat_offsets[s]);
	(*c)++;
}

/* ---- bytes ---- */

static uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static void wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void wr32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

enum nat_frag_kind nat_frag_parse(const uint8_t *pkt, size_t len,
				  struct nat_frag_info *fi)
{
	memset(fi, 0, sizeof(*fi));
	if (len < IP_HDR_MIN || (pkt[0] >> 4) != 4)
		return NAT_FRAG_BAD;
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	size_t total = rd16(pkt + IP_OFF_TOTLEN);
	if (ihl < IP_HDR_MIN || ihl > len || total < ihl || total > len)
		return NAT_FRAG_BAD;
	uint16_t frag = rd16(pkt + IP_OFF_FRAG);
	fi->key.src = rd32(pkt + IP_OFF_SRC);
	fi->key.dst = rd32(pkt + IP_OFF_DST);
	fi->key.id = rd16(pkt + IP_OFF_ID);
	fi->key.proto = pkt[IP_OFF_PROTO];
	fi->ihl = (uint16_t)ihl;
	fi->offset = (uint16_t)((frag & IP_FRAG_OFFSET) * 8u);
	fi->payload = (uint16_t)(total - ihl);
	fi->more = (frag & IP_FRAG_MF) != 0;
	if (fi->offset == 0 && !fi->more)
		return NAT_FRAG_NONE;
	/* RFC 791: every fragment but the last carries a multiple of 8
	 * bytes; an empty fragment has nothing to translate; and the
	 * reassembled datagram must fit its 16-bit length (ping of death). */
	if (fi->payload == 0 || (fi->more && fi->payload % 8u) ||
	    ihl + fi->offset + fi->payload > DGRAM_MAX)
		return NAT_FRAG_BAD;
	return fi->offset == 0 ? NAT_FRAG_FIRST : NAT_FRAG_LATER;
}

bool nat_frag_apply(uint8_t *pkt, size_t len, const struct nat_frag_rewrite *rw)
{
	if (len < IP_HDR_MIN)
		return false;
	uint16_t csum = rd16(pkt + IP_OFF_CSUM);
	if (rw->what & NAT_FRAG_RW_SRC) {
		csum = nat_csum_adjust32(csum, rd32(pkt + IP_OFF_SRC), rw->src);
		wr32(pkt + IP_OFF_SRC, rw->src);
	}
	if (rw->what & NAT_FRAG_RW_DST) {
		csum = nat_csum_adjust32(csum, rd32(pkt + IP_OFF_DST), rw->dst);
		wr32(pkt + IP_OFF_DST, rw->dst);
	}
	wr16(pkt + IP_OFF_CSUM, csum);
	return true;
}

/* ---- lifetime ---- */

static bool params_ok(const struct nat_frag_params *p, char *errbuf,
		      size_t errlen)
{
	const char *what = NULL;
	unsigned long v = 0;
	if (p->max_datagrams < 1 || p->max_datagrams > LIMIT_MAX)
		what = "max_datagrams", v = p->max_datagrams;
	else if (p->max_held < 1 || p->max_held > LIMIT_MAX)
		what = "max_held", v = p->max_held;
	else if (p->max_held_bytes < HELD_BYTES_MIN ||
		 p->max_held_bytes > HELD_BYTES_MAX)
		what = "max_held_bytes", v = p->max_held_bytes;
	if (!what)
		return true;
	if (errbuf && errlen)
		snprintf(errbuf, errlen,
			 "fragments: %s %lu out of range (datagrams and held "
			 "1..%u, bytes %u..%u)",
			 what, v, LIMIT_MAX, HELD_BYTES_MIN, HELD_BYTES_MAX);
	return false;
}

static uint32_t bucket_count(uint32_t n)
{
	uint32_t b = 16;
	while (b < n)
		b <<= 1;
	return b;
}

static uint32_t chunk_count(const struct nat_frag_params *p)
{
	return (p->max_held_bytes + CHUNK - 1) / CHUNK + p->max_held;
}

size_t nat_frag_memory(const struct nat_frag_params *p)
{
	if (!params_ok(p, NULL, 0))
		return 0;
	size_t n = p->max_datagrams;
	size_t c = chunk_count(p);
	return sizeof(struct nat_frag_table) +
	       bucket_count(p->max_datagrams) * sizeof(uint32_t) +
	       n * (sizeof(struct entry) + BITMAP_WORDS * sizeof(uint64_t)) +
	       (size_t)p->max_held * sizeof(struct held) +
	       c * (CHUNK + sizeof(uint32_t)) + DGRAM_MAX;
}

struct nat_frag_table *nat_frag_create(const struct nat_frag_params *p,
				       char *errbuf, size_t errlen)
{
	if (!params_ok(p, errbuf, errlen))
		return NULL;
	struct nat_frag_table *t = calloc(1, sizeof(*t));
	if (!t)
		goto oom;
	t->p = *p;
	if (!t->p.timeout_ns)
		t->p.timeout_ns = NAT_FRAG_TIMEOUT_DEFAULT_NS;
	uint32_t nb = bucket_count(p->max_datagrams);
	t->mask = nb - 1;
	t->n_chunks = chunk_count(p);
	t->bucket = malloc(nb * sizeof(*t->bucket));
	t->e = calloc(p->max_datagrams, sizeof(*t->e));
	t->bits = calloc((size_t)p->max_datagrams * BITMAP_WORDS,
			 sizeof(*t->bits));
	t->h = calloc(p->max_held, sizeof(*t->h));
	t->arena = malloc((size_t)t->n_chunks * CHUNK);
	t->chunk_next = malloc((size_t)t->n_chunks * sizeof(*t->chunk_next));
	t->scratch = malloc(DGRAM_MAX);
	if (!t->bucket || !t->e || !t->bits || !t->h || !t->arena ||
	    !t->chunk_next || !t->scratch)
		goto oom;
	for (uint32_t i = 0; i < nb; i++)
		t->bucket[i] = NIL;
	for (uint32_t i = 0; i < p->max_datagrams; i++)
		t->e[i].hnext = i + 1 < p->max_datagrams ? i + 1 : NIL;
	for (uint32_t i = 0; i < p->max_held; i++)
		t->h[i].next = i + 1 < p->max_held ? i + 1 : NIL;
	for (uint32_t i = 0; i < t->n_chunks; i++)
		t->chunk_next[i] = i + 1 < t->n_chunks ? i + 1 : NIL;
	t->free_entry = t->free_held = t->free_chunk = 0;
	t->age_head = t->age_tail = NIL;
	return t;
oom:
	nat_frag_destroy(t);
	if (errbuf && errlen)
		snprintf(errbuf, errlen,
			 "fragments: out of memory for %zu bytes",
			 nat_frag_memory(p));
	return NULL;
}

void nat_frag_destroy(struct nat_frag_table *t)
{
	if (!t)
		return;
	free(t->bucket);
	free(t->e);
	free(t->bits);
	free(t->h);
	free(t->arena);
	free(t->chunk_next);
	free(t->scratch);
	free(t);
}

/* ---- datagram entries ---- */

static uint32_t hash(const struct nat_frag_table *t,
		     const struct nat_frag_key *k)
{
	uint64_t x = ((uint64_t)k->src << 32 | k->dst) ^
		     ((uint64_t)t->p.hash_seed << 24);
	x ^= (uint64_t)k->id << 8 | k->proto;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint32_t)x & t->mask;
}

static bool key_eq(const struct nat_frag_key *a, const struct nat_frag_key *b)
{
	return a->src == b->src && a->dst == b->dst && a->id == b->id &&
	       a->proto == b->proto;
}

static uint32_t find(const struct nat_frag_table *t,
		     const struct nat_frag_key *k)
{
	for (uint32_t i = t->bucket[hash(t, k)]; i != NIL; i = t->e[i].hnext)
		if (key_eq(&t->e[i].key, k))
			return i;
	return NIL;
}

/* A new entry for k, last on the age list; NIL when the table is full. */
static uint32_t create(struct nat_frag_table *t, const struct nat_frag_key *k,
		       uint64_t now_ns)
{
	uint32_t i = t->free_entry;
	if (i == NIL)
		return NIL;
	struct entry *e = &t->e[i];
	t->free_entry = e->hnext;
	memset(e, 0, sizeof(*e));
	memset(&t->bits[(size_t)i * BITMAP_WORDS], 0,
	       BITMAP_WORDS * sizeof(uint64_t));
	e->key = *k;
	/* A caller's clock that steps back must not unsort the age list. */
	if (now_ns > t->latest_ns)
		t->latest_ns = now_ns;
	e->deadline_ns = t->latest_ns + t->p.timeout_ns;
	e->held_head = e->held_tail = NIL;
	uint32_t b = hash(t, k);
	e->hnext = t->bucket[b];
	t->bucket[b] = i;
	e->age_prev = t->age_tail;
	e->age_next = NIL;
	if (t->age_tail != NIL)
		t->e[t->age_tail].age_next = i;
	else
		t->age_head = i;
	t->age_tail = i;
	t->n_entries++;
	return i;
}

/* Forgets entry i; its held list must be empty. */
static void forget(struct nat_frag_table *t, uint32_t i)
{
	struct entry *e = &t->e[i];
	uint32_t *pp = &t->bucket[hash(t, &e->key)];
	while (*pp != i)
		pp = &t->e[*pp].hnext;
	*pp = e->hnext;
	if (e->age_prev != NIL)
		t->e[e->age_prev].age_next = e->age_next;
	else
		t->age_head = e->age_next;
	if (e->age_next != NIL)
		t->e[e->age_next].age_prev = e->age_prev;
	else
		t->age_tail = e->age_prev;
	e->hnext = t->free_entry;
	t->free_entry = i;
	t->n_entries--;
}

static bool complete(const struct entry *e)
{
	return (e->flags & E_LEARNED) && (e->flags & E_LAST_SEEN) &&
	       e->covered == e->end_blocks && !e->poison && e->held_head == NIL;
}

/* Marks the datagram bad: this fragment and every later one (held ones
 * included) drop under `why`. */
static enum nat_frag_result poison(struct nat_frag_table *t, struct entry *e,
				   enum nat_frag_stat why)
{
	e->poison = (uint8_t)why;
	bump(t, why);
	return why == NAT_FRAG_S_DROPPED_TINY ? NAT_FRAG_DROP_TINY
					      : NAT_FRAG_DROP_OVERLAP;
}

/* Accounts fi's bytes to entry i, or refuses it: RFC 1858's offset-1
 * fragment, any overlap with bytes seen, and any fragment inconsistent
 * with the last fragment's end poison the datagram (RFC 5722's rule,
 * applied to IPv4: a datagram with overlaps is never delivered whole). */
static enum nat_frag_result admit(struct nat_frag_table *t, uint32_t i,
				  const struct nat_frag_info *fi)
{
	struct entry *e = &t->e[i];
	if (e->poison) {
		bump(t, (enum nat_frag_stat)e->poison);
		return e->poison == NAT_FRAG_S_DROPPED_TINY
			       ? NAT_FRAG_DROP_TINY
			       : NAT_FRAG_DROP_OVERLAP;
	}
	if (fi->offset == 8)
		return poison(t, e, NAT_FRAG_S_DROPPED_TINY);
	uint32_t b0 = fi->offset / 8u;
	uint32_t b1 = ((uint32_t)fi->offset + fi->payload + 7u) / 8u;
	if (e->flags & E_LAST_SEEN) {
		if (b1 > e->end_blocks || (!fi->more && b1 != e->end_blocks))
			return poison(t, e, NAT_FRAG_S_DROPPED_OVERLAP);
	} else if (!fi->more && b1 < e->max_end) {
		return poison(t, e, NAT_FRAG_S_DROPPED_OVERLAP);
	}
	uint64_t *bits = &t->bits[(size_t)i * BITMAP_WORDS];
	for (uint32_t b = b0; b < b1; b++)
		if (bits[b / 64] & (1ull << (b % 64)))
			return poison(t, e, NAT_FRAG_S_DROPPED_OVERLAP);
	for (uint32_t b = b0; b < b1; b++)
		bits[b / 64] |= 1ull << (b % 64);
	e->covered += b1 - b0;
	if (b1 > e->max_end)
		e->max_end = b1;
	if (!fi->more) {
		e->flags |= E_LAST_SEEN;
		e->end_blocks = b1;
	}
	return NAT_FRAG_OK;
}

/* ---- held fragments ---- */

static void held_free(struct nat_frag_table *t, uint32_t hi)
{
	struct held *h = &t->h[hi];
	uint32_t c = h->chunk;
	while (c != NIL) {
		uint32_t next = t->chunk_next[c];
		t->chunk_next[c] = t->free_chunk;
		t->free_chunk = c;
		c = next;
	}
	t->held_bytes -= h->len;
	t->n_held--;
	h->next = t->free_held;
	t->free_held = hi;
}

/* Copies held fragment hi into the scratch buffer; returns its length. */
static size_t held_copy_out(struct nat_frag_table *t, uint32_t hi)
{
	const struct held *h = &t->h[hi];
	size_t done = 0;
	for (uint32_t c = h->chunk; c != NIL; c = t->chunk_next[c]) {
		size_t n = h->len - done < CHUNK ? h->len - done : CHUNK;
		memcpy(t->scratch + done, t->arena + (size_t)c * CHUNK, n);
		done += n;
	}
	return done;
}

/* Hands every held fragment of entry i to out: rewritten as RELEASED when
 * `released`, else dropped under the entry's poison or `why`. */
static size_t drain(struct nat_frag_table *t, uint32_t i, bool released,
		    enum nat_frag_stat why, const struct nat_frag_out *out)
{
	struct entry *e = &t->e[i];
	size_t n = 0;
	if (e->poison) {
		released = false;
		why = (enum nat_frag_stat)e->poison;
	}
	while (e->held_head != NIL) {
		uint32_t hi = e->held_head;
		e->held_head = t->h[hi].next;
		size_t len = held_copy_out(t, hi);
		uint64_t tag = t->h[hi].tag;
		held_free(t, hi);
		if (released)
			nat_frag_apply(t->scratch, len, &e->rw);
		bump(t, released ? NAT_FRAG_S_RELEASED : why);
		if (out && out->fn)
			out->fn(out->ctx, tag, t->scratch, len,
				released ? NAT_FRAG_S_RELEASED : why);
		n++;
	}
	e->held_tail = NIL;
	return n;
}

/* ---- the calls ---- */

static uint16_t l4_header_min(uint8_t proto)
{
	switch (proto) {
	case 6:
		return 20;
	case 17:
	case 1:
		return 8;
	default:
		return 0;
	}
}

enum nat_frag_result nat_frag_learn(struct nat_frag_table *t,
				    const struct nat_frag_info *fi,
				    const struct nat_frag_rewrite *rw,
				    uint64_t now_ns)
{
	uint32_t i = find(t, &fi->key);
	if (i == NIL)
		i = create(t, &fi->key, now_ns);
	if (i == NIL) {
		bump(t, NAT_FRAG_S_DROPPED_FULL);
		return NAT_FRAG_DROP_FULL;
	}
	struct entry *e = &t->e[i];
	if (fi->offset != 0)
		return poison(t, e, NAT_FRAG_S_DROPPED_OVERLAP);
	if (!e->poison && fi->payload < l4_header_min(fi->key.proto))
		return poison(t, e, NAT_FRAG_S_DROPPED_TINY);
	enum nat_frag_result r = admit(t, i, fi);
	if (r != NAT_FRAG_OK)
		return r;
	e->rw = *rw;
	e->flags |= E_LEARNED;
	bump(t, NAT_FRAG_S_LEARNED);
	return NAT_FRAG_OK;
}

enum nat_frag_result nat_frag_lookup(struct nat_frag_table *t,
				     const struct nat_frag_info *fi,
				     uint64_t now_ns,
				     struct nat_frag_rewrite *rw)
{
	(void)now_ns;
	uint32_t i = find(t, &fi->key);
	if (i == NIL)
		return NAT_FRAG_MISS;
	struct entry *e = &t->e[i];
	if (!(e->flags & E_LEARNED) && !e->poison)
		return NAT_FRAG_MISS;
	enum nat_frag_result r = admit(t, i, fi);
	if (r != NAT_FRAG_OK)
		return r;
	*rw = e->rw;
	bump(t, NAT_FRAG_S_TRANSLATED);
	if (complete(e))
		forget(t, i);
	return NAT_FRAG_OK;
}

enum nat_frag_result nat_frag_hold(struct nat_frag_table *t,
				   const struct nat_frag_info *fi,
				   const uint8_t *pkt, size_t len, uint64_t tag,
				   uint64_t now_ns)
{
	size_t need = (size_t)fi->ihl + fi->payload;
	bool fresh = false;
	uint32_t i = find(t, &fi->key);
	if (i == NIL) {
		i = create(t, &fi->key, now_ns);
		if (i == NIL) {
			bump(t, NAT_FRAG_S_DROPPED_FULL);
			return NAT_FRAG_DROP_FULL;
		}
		fresh = true;
	}
	struct entry *e = &t->e[i];
	if (!e->poison && (need > len || t->free_held == NIL ||
			   t->held_bytes + need > t->p.max_held_bytes)) {
		bump(t, NAT_FRAG_S_DROPPED_BUFFER);
		if (fresh)
			forget(t, i);
		return NAT_FRAG_DROP_BUFFER;
	}
	enum nat_frag_result r = admit(t, i, fi);
	if (r != NAT_FRAG_OK)
		return r;

	uint32_t hi = t->free_held;
	struct held *h = &t->h[hi];
	t->free_held = h->next;
	h->next = NIL;
	h->len = (uint32_t)need;
	h->tag = tag;
	h->chunk = NIL;
	/* The arena always has room (see the file comment): the chunk list
	 * is built front to back. */
	uint32_t *link = &h->chunk;
	for (size_t done = 0; done < need; done += CHUNK) {
		uint32_t c = t->free_chunk;
		t->free_chunk = t->chunk_next[c];
		t->chunk_next[c] = NIL;
		size_t n = need - done < CHUNK ? need - done : CHUNK;
		memcpy(t->arena + (size_t)c * CHUNK, pkt + done, n);
		*link = c;
		link = &t->chunk_next[c];
	}
	t->held_bytes += need;
	t->n_held++;
	if (e->held_tail != NIL)
		t->h[e->held_tail].next = hi;
	else
		e->held_head = hi;
	e->held_tail = hi;
	bump(t, NAT_FRAG_S_HELD);
	return NAT_FRAG_HELD;
}

size_t nat_frag_release(struct nat_frag_table *t,
			const struct nat_frag_key *key,
			const struct nat_frag_out *out)
{
	uint32_t i = find(t, key);
	if (i == NIL)
		return 0;
	struct entry *e = &t->e[i];
	if (!(e->flags & E_LEARNED) && !e->poison)
		return 0;
	size_t n = drain(t, i, true, NAT_FRAG_S_RELEASED, out);
	if (complete(e))
		forget(t, i);
	return n;
}

size_t nat_frag_expire(struct nat_frag_table *t, uint64_t now_ns,
		       const struct nat_frag_out *out)
{
	size_t n = 0;
	while (t->age_head != NIL && t->e[t->age_head].deadline_ns <= now_ns) {
		uint32_t i = t->age_head;
		drain(t, i, false, NAT_FRAG_S_EXPIRED_HELD, out);
		bump(t, NAT_FRAG_S_EXPIRED_ENTRIES);
		forget(t, i);
		n++;
	}
	return n;
}

void nat_frag_usage(const struct nat_frag_table *t, struct nat_frag_usage *u)
{
	u->datagrams = t->n_entries;
	u->held = t->n_held;
	u->held_bytes = t->held_bytes;
}

const struct nat_frag_stats *nat_frag_stats(const struct nat_frag_table *t)
{
	return &t->st;
}
