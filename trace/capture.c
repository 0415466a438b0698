/* Streaming pcap / pcapng reader (see capture.h).
 *
 * A pcapng block is read whole into one buffer after its length has been
 * checked (minimum for its type, multiple of 4, at most CAP_MAX_BLOCK,
 * trailer equal to header); everything inside is then read through one
 * cursor whose take() is the only bounds check. Multi-byte fields are
 * copied out with memcpy and swapped when the section's byte order is not
 * the host's. Facts about the format: draft-ietf-opsawg-pcapng and
 * draft-ietf-opsawg-pcap. */
#include "capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

/* Classic pcap's file magics (the pcapng numbers are in pcapng.h). */
enum {
	PCAP_MAGIC_US = 0xA1B2C3D4u,
	PCAP_MAGIC_NS = 0xA1B23C4Du,
};

enum block_kind { K_SHB, K_IDB, K_EPB, K_PB };

struct cap_iface {
	uint32_t linktype;
	uint32_t snaplen;
	bool ts_binary; /* resolution 2^-exp, else 10^-exp */
	uint8_t ts_exp;
	int64_t tsoffset; /* seconds */
	bool has_name;
	char name[CAP_MAX_STR];
	uint64_t ifdrop; /* latest isb_ifdrop (a running count) */
};

struct cap_reader {
	struct cap_source src;
	enum cap_format fmt;
	bool swap;    /* file byte order differs from the host's */
	uint64_t pos; /* bytes consumed from src */
	uint8_t pending[4];
	size_t n_pending, pending_off;
	int state; /* 0 reading, 1 end of file, -1 failed */
	char err[CAP_ERRBUF_SIZE];

	uint8_t *buf; /* current block / record */
	size_t bufsize;

	struct cap_iface *ifs; /* pcap: ifs[0] describes the file */
	uint32_t n_ifs, ifs_cap;
	uint32_t section;
	bool pcap_ns;
	uint64_t ifdrop_done; /* isb_ifdrop of the sections already left */

	char comment[CAP_MAX_STR];
};

/* ---- byte sources ---- */

static int file_read(void *ctx, void *buf, size_t n, size_t *got, char *errbuf,
		     size_t errlen)
{
	FILE *f = ctx;
	*got = fread(buf, 1, n, f);
	if (*got < n && ferror(f)) {
		snprintf(errbuf, errlen, "read error: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void cap_source_file(struct cap_source *src, FILE *f)
{
	src->ctx = f;
	src->read = file_read;
}

static int mem_read(void *ctx, void *buf, size_t n, size_t *got, char *errbuf,
		    size_t errlen)
{
	struct cap_mem *m = ctx;
	size_t avail = m->len - m->pos;
	(void)errbuf;
	(void)errlen;
	if (n > avail)
		n = avail;
	if (n)
		memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	*got = n;
	return 0;
}

void cap_source_mem(struct cap_source *src, struct cap_mem *m, const void *data,
		    size_t len)
{
	m->data = data;
	m->len = len;
	m->pos = 0;
	src->ctx = m;
	src->read = mem_read;
}

/* ---- errors, input, decoding ---- */

__attribute__((format(printf, 3, 4))) static int
fail(struct cap_reader *r, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, sizeof r->err, "offset %" PRIu64 ": ", off);
	if (n > 0 && (size_t)n < sizeof r->err) {
		va_start(ap, fmt);
		vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
		va_end(ap);
	}
	r->state = -1;
	return -1;
}

/* Reads up to n bytes (fewer only at the end of the input). */
static int rd(struct cap_reader *r, void *buf, size_t n, size_t *got)
{
	uint8_t *out = buf;
	size_t done = 0;
	while (r->n_pending && done < n) {
		out[done++] = r->pending[r->pending_off++];
		r->n_pending--;
	}
	if (done < n) {
		char msg[CAP_ERRBUF_SIZE] = "";
		size_t more = 0;
		if (r->src.read(r->src.ctx, out + done, n - done, &more, msg,
				sizeof msg) < 0)
			return fail(r, r->pos + done, "%s", msg);
		if (more > n - done)
			more = n - done; /* a misbehaving source */
		done += more;
	}
	r->pos += done;
	*got = done;
	return 0;
}

static bool host_be(void)
{
	return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
}

static uint16_t dec16(const struct cap_reader *r, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return r->swap ? __builtin_bswap16(v) : v;
}

static uint32_t dec32(const struct cap_reader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return r->swap ? __builtin_bswap32(v) : v;
}

static uint64_t dec64(const struct cap_reader *r, const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return r->swap ? __builtin_bswap64(v) : v;
}

/* The cursor through a block's body: take() is the one bounds check. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *q;
	if (n > c->left)
		return NULL;
	q = c->p;
	c->p += n;
	c->left -= n;
	return q;
}

static bool get16(const struct cap_reader *r, struct cur *c, uint16_t *v)
{
	const uint8_t *q = take(c, 2);
	if (q)
		*v = dec16(r, q);
	return q != NULL;
}

static bool get32(const struct cap_reader *r, struct cur *c, uint32_t *v)
{
	const uint8_t *q = take(c, 4);
	if (q)
		*v = dec32(r, q);
	return q != NULL;
}

static int ensure_buf(struct cap_reader *r, size_t n, uint64_t off)
{
	uint8_t *nb;
	size_t sz;
	if (n <= r->bufsize)
		return 0;
	sz = r->bufsize ? r->bufsize : 65536;
	while (sz < n)
		sz *= 2;
	if (sz > CAP_MAX_BLOCK)
		sz = CAP_MAX_BLOCK;
	nb = realloc(r->buf, sz);
	if (!nb)
		return fail(r, off, "out of memory for a %zu-byte block", n);
	r->buf = nb;
	r->bufsize = sz;
	return 0;
}

static void copy_str(char *dst, const uint8_t *src, size_t len)
{
	if (len > CAP_MAX_STR - 1)
		len = CAP_MAX_STR - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static uint64_t ts_to_ns(const struct cap_iface *ifc, uint64_t t)
{
	static const uint64_t pow10[] = {
		1u,	    10u,	 100u,	       1000u,
		10000u,	    100000u,	 1000000u,     10000000u,
		100000000u, 1000000000u, 10000000000u, 100000000000u,
	};
	uint64_t ns;
	if (ifc->ts_binary) {
		/* exp <= 63; the product needs up to 94 bits */
		ns = (uint64_t)(((unsigned __int128)t * 1000000000u) >>
				ifc->ts_exp);
	} else if (ifc->ts_exp <= 9) {
		ns = t * pow10[9 - ifc->ts_exp];
	} else {
		uint64_t div = 1;
		for (unsigned i = 9; i < ifc->ts_exp; i++)
			div *= 10; /* exp <= 19: fits */
		ns = t / div;
	}
	/* unsigned arithmetic: a negative offset wraps as intended */
	return ns + (uint64_t)ifc->tsoffset * 1000000000u;
}

/* ---- pcapng ---- */

static const char *block_name(uint32_t type)
{
	switch (type) {
	case PCAPNG_BT_SHB:
		return "SHB";
	case PCAPNG_BT_IDB:
		return "IDB";
	case PCAPNG_BT_EPB:
		return "EPB";
	case PCAPNG_BT_SPB:
		return "SPB";
	case PCAPNG_BT_PB:
		return "PB";
	default:
		return "block";
	}
}

static uint32_t block_min(uint32_t type)
{
	switch (type) {
	case PCAPNG_BT_SHB:
		return PCAPNG_MIN_SHB;
	case PCAPNG_BT_IDB:
		return PCAPNG_MIN_IDB;
	case PCAPNG_BT_EPB:
		return PCAPNG_MIN_EPB;
	case PCAPNG_BT_SPB:
		return PCAPNG_MIN_SPB;
	case PCAPNG_BT_PB:
		return PCAPNG_MIN_PB;
	default:
		return PCAPNG_MIN_BLOCK;
	}
}

/* Reads one whole block into r->buf. Returns 1 with *type and *body (the
 * bytes between the length and the trailer) set, 0 at a clean end of
 * input, -1 on error. An SHB sets the byte order from its magic. */
static int ng_read_block(struct cap_reader *r, uint32_t *type, struct cur *body,
			 uint64_t *offp)
{
	uint64_t off = r->pos;
	uint8_t hdr[12];
	size_t got, have = 8;
	uint32_t total;

	*offp = off;
	if (rd(r, hdr, 8, &got) < 0)
		return -1;
	if (got == 0)
		return 0;
	if (got < 8)
		return fail(r, off, "truncated block header (%zu of 8 bytes)",
			    got);
	*type = dec32(r, hdr); /* SHB's type reads the same either way */
	if (*type == PCAPNG_BT_SHB) {
		uint32_t bom;
		if (rd(r, hdr + 8, 4, &got) < 0)
			return -1;
		if (got < 4)
			return fail(r, off,
				    "truncated block (SHB cut at %zu "
				    "of its first 12 bytes)",
				    8 + got);
		have = 12;
		memcpy(&bom, hdr + 8, 4);
		if (bom == PCAPNG_BOM)
			r->swap = false;
		else if (bom == __builtin_bswap32(PCAPNG_BOM))
			r->swap = true;
		else
			return fail(r, off,
				    "SHB byte-order magic 0x%08" PRIx32
				    " is neither 0x1a2b3c4d nor 0x4d3c2b1a",
				    dec32(r, hdr + 8));
	}
	total = dec32(r, hdr + 4);
	if (total < block_min(*type))
		return fail(r, off,
			    "%s (type 0x%" PRIx32 ") length %" PRIu32
			    " below its minimum %" PRIu32,
			    block_name(*type), *type, total, block_min(*type));
	if (total % 4)
		return fail(r, off,
			    "%s (type 0x%" PRIx32 ") length %" PRIu32
			    " not a multiple of 4",
			    block_name(*type), *type, total);
	if (total > CAP_MAX_BLOCK)
		return fail(r, off,
			    "%s (type 0x%" PRIx32 ") length %" PRIu32
			    " exceeds the maximum %u",
			    block_name(*type), *type, total,
			    (unsigned)CAP_MAX_BLOCK);
	if (ensure_buf(r, total, off) < 0)
		return -1;
	memcpy(r->buf, hdr, have);
	if (rd(r, r->buf + have, total - have, &got) < 0)
		return -1;
	if (got < total - have)
		return fail(r, off,
			    "truncated block (%s, length %" PRIu32
			    ", %zu bytes present)",
			    block_name(*type), total, have + got);
	if (dec32(r, r->buf + total - 4) != total)
		return fail(r, off,
			    "%s trailer length %" PRIu32
			    " differs from header length %" PRIu32,
			    block_name(*type), dec32(r, r->buf + total - 4),
			    total);
	body->p = r->buf + 8;
	body->left = total - 12;
	return 1;
}

struct pkt_opts {
	uint32_t has, flags, queue;
	uint64_t dropcount, packetid;
	bool has_comment;
};

static bool is_custom_option(uint16_t code)
{
	return code == 2988 || code == 2989 || code == 19372 || code == 19373;
}

/* Checks a fixed-length option; the message names the option. */
static int opt_len(struct cap_reader *r, uint64_t off, const char *name,
		   uint16_t len, uint16_t want)
{
	if (len != want)
		return fail(r, off, "%s option length %u, expected %u", name,
			    len, want);
	return 0;
}

static int idb_option(struct cap_reader *r, uint64_t off, struct cap_iface *ifc,
		      uint16_t code, const uint8_t *v, uint16_t len)
{
	switch (code) {
	case PCAPNG_IF_NAME:
		copy_str(ifc->name, v, len);
		ifc->has_name = true;
		return 0;
	case PCAPNG_IF_TSRESOL:
		if (opt_len(r, off, "if_tsresol", len, 1) < 0)
			return -1;
		ifc->ts_binary = (v[0] & 0x80) != 0;
		ifc->ts_exp = v[0] & 0x7f;
		/* more than 2^64 units a second cannot be held */
		if ((ifc->ts_binary && ifc->ts_exp > 63) ||
		    (!ifc->ts_binary && ifc->ts_exp > 19))
			return fail(r, off,
				    "if_tsresol 0x%02x: resolution too fine",
				    v[0]);
		return 0;
	case PCAPNG_IF_TSOFFSET:
		if (opt_len(r, off, "if_tsoffset", len, 8) < 0)
			return -1;
		ifc->tsoffset = (int64_t)dec64(r, v);
		return 0;
	default:
		/* if_description, addresses, speed, filter, os, fcslen,
		 * hardware, tzone, ...: not needed here */
		return 0;
	}
}

static int pkt_option(struct cap_reader *r, uint64_t off, struct pkt_opts *o,
		      uint16_t code, const uint8_t *v, uint16_t len)
{
	switch (code) {
	case PCAPNG_EPB_FLAGS:
		if (opt_len(r, off, "epb_flags", len, 4) < 0)
			return -1;
		o->flags = dec32(r, v);
		o->has |= CAP_HAS_FLAGS;
		return 0;
	case PCAPNG_EPB_HASH:
		if (len < 1)
			return fail(r, off, "epb_hash option is empty");
		o->has |= CAP_HAS_HASH;
		return 0;
	case PCAPNG_EPB_DROPCOUNT:
		if (opt_len(r, off, "epb_dropcount", len, 8) < 0)
			return -1;
		o->dropcount = dec64(r, v);
		o->has |= CAP_HAS_DROPCOUNT;
		return 0;
	case PCAPNG_EPB_PACKETID:
		if (opt_len(r, off, "epb_packetid", len, 8) < 0)
			return -1;
		o->packetid = dec64(r, v);
		o->has |= CAP_HAS_PACKETID;
		return 0;
	case PCAPNG_EPB_QUEUE:
		if (opt_len(r, off, "epb_queue", len, 4) < 0)
			return -1;
		o->queue = dec32(r, v);
		o->has |= CAP_HAS_QUEUE;
		return 0;
	case PCAPNG_EPB_VERDICT:
		if (len < 1)
			return fail(r, off, "epb_verdict option is empty");
		o->has |= CAP_HAS_VERDICT;
		return 0;
	default:
		return 0;
	}
}

/* Walks the options in c (the rest of a block body). Unknown options are
 * skipped; opt_endofopt, or the end of the block, ends the list. The
 * first opt_comment goes to r->comment when o is given. */
static int ng_options(struct cap_reader *r, uint64_t off, struct cur *c,
		      enum block_kind kind, struct cap_iface *ifc,
		      struct pkt_opts *o)
{
	while (c->left > 0) {
		uint16_t code, len;
		const uint8_t *v;
		if (!get16(r, c, &code) || !get16(r, c, &len))
			return fail(r, off, "%s option header truncated",
				    kind == K_SHB   ? "SHB"
				    : kind == K_IDB ? "IDB"
				    : kind == K_EPB ? "EPB"
						    : "PB");
		v = take(c, ((size_t)len + 3) & ~(size_t)3);
		if (!v)
			return fail(r, off,
				    "option %u length %u exceeds the block "
				    "(%zu bytes left)",
				    code, len, c->left);
		if (code == PCAPNG_OPT_ENDOFOPT) {
			if (len != 0)
				return fail(r, off,
					    "opt_endofopt with length %u", len);
			return 0;
		}
		if (code == PCAPNG_OPT_COMMENT) {
			if (o && !o->has_comment) {
				copy_str(r->comment, v, len);
				o->has_comment = true;
			}
			continue;
		}
		if (is_custom_option(code)) {
			if (len < 4)
				return fail(r, off,
					    "custom option %u length %u "
					    "shorter than its PEN",
					    code, len);
			continue;
		}
		if (kind == K_IDB && idb_option(r, off, ifc, code, v, len) < 0)
			return -1;
		if ((kind == K_EPB || kind == K_PB) &&
		    pkt_option(r, off, o, code, v, len) < 0)
			return -1;
		/* SHB: shb_hardware, shb_os, shb_userappl: skipped */
	}
	return 0;
}

static int ng_shb(struct cap_reader *r, uint64_t off, struct cur *c)
{
	uint16_t major, minor;
	take(c, 4); /* byte-order magic, checked by ng_read_block */
	if (!get16(r, c, &major) || !get16(r, c, &minor) || !take(c, 8))
		return fail(r, off, "SHB too short"); /* PCAPNG_MIN_SHB prevents it */
	if (major != 1)
		return fail(r, off, "unsupported pcapng version %u.%u", major,
			    minor);
	for (uint32_t i = 0; i < r->n_ifs; i++)
		r->ifdrop_done += r->ifs[i].ifdrop;
	r->n_ifs = 0;
	return ng_options(r, off, c, K_SHB, NULL, NULL);
}

/* Interface Statistics Block: only isb_ifdrop is kept (the packets the
 * capture lost for lack of resources; glassnat's trace rings put their
 * losses there). The block is informational: one that names no known
 * interface or whose options do not parse is skipped, like an unknown
 * block, rather than failing the file. */
static void ng_isb(struct cap_reader *r, struct cur *c)
{
	uint32_t id, hi, lo;
	if (!get32(r, c, &id) || !get32(r, c, &hi) || !get32(r, c, &lo) ||
	    id >= r->n_ifs)
		return;
	for (;;) {
		uint16_t code, len;
		if (!get16(r, c, &code) || !get16(r, c, &len) || code == 0)
			return;
		const uint8_t *v = take(c, len);
		if (!v || !take(c, (4 - (len & 3)) & 3))
			return;
		if (code == 5 && len == 8) { /* isb_ifdrop */
			uint64_t a = dec32(r, v), b = dec32(r, v + 4);
			/* A 64-bit value in the section's byte order. */
			r->ifs[id].ifdrop = r->swap != (__BYTE_ORDER__ ==
							__ORDER_BIG_ENDIAN__)
						    ? (a << 32 | b)
						    : (b << 32 | a);
		}
	}
}

static int ng_idb(struct cap_reader *r, uint64_t off, struct cur *c)
{
	struct cap_iface ifc;
	uint16_t lt, reserved;
	memset(&ifc, 0, sizeof ifc);
	ifc.ts_exp = 6;
	if (!get16(r, c, &lt) || !get16(r, c, &reserved) ||
	    !get32(r, c, &ifc.snaplen))
		return fail(r, off, "IDB too short");
	ifc.linktype = lt;
	if (ng_options(r, off, c, K_IDB, &ifc, NULL) < 0)
		return -1;
	if (r->n_ifs == CAP_MAX_IFACES)
		return fail(r, off, "more than %u interfaces in a section",
			    (unsigned)CAP_MAX_IFACES);
	if (r->n_ifs == r->ifs_cap) {
		uint32_t ncap = r->ifs_cap ? r->ifs_cap * 2 : 4;
		struct cap_iface *n = realloc(r->ifs, ncap * sizeof *n);
		if (!n)
			return fail(r, off, "out of memory for interfaces");
		r->ifs = n;
		r->ifs_cap = ncap;
	}
	r->ifs[r->n_ifs++] = ifc;
	return 0;
}

static void fill_iface(const struct cap_reader *r, struct cap_packet *pkt,
		       uint32_t id)
{
	const struct cap_iface *ifc = &r->ifs[id];
	pkt->ifindex = id;
	pkt->linktype = ifc->linktype & 0xffffu;
	pkt->if_name = ifc->has_name ? ifc->name : NULL;
}

static void fill_opts(const struct cap_reader *r, struct cap_packet *pkt,
		      const struct pkt_opts *o)
{
	pkt->has |= o->has;
	pkt->flags = o->flags;
	pkt->dropcount = o->dropcount;
	pkt->packetid = o->packetid;
	pkt->queue = o->queue;
	pkt->comment = o->has_comment ? r->comment : NULL;
}

/* EPB and the obsolete PB share their layout after the interface id. */
static int ng_epb_pb(struct cap_reader *r, uint64_t off, struct cur *c,
		     bool is_pb, struct cap_packet *pkt)
{
	uint32_t if_id, ts_hi, ts_lo, caplen, len;
	struct pkt_opts o;
	const uint8_t *data;
	const char *name = is_pb ? "PB" : "EPB";

	memset(&o, 0, sizeof o);
	if (is_pb) {
		uint16_t id16, drops;
		if (!get16(r, c, &id16) || !get16(r, c, &drops))
			return fail(r, off, "PB too short");
		if_id = id16;
		if (drops != 0xffffu) { /* 0xffff: not known */
			o.dropcount = drops;
			o.has |= CAP_HAS_DROPCOUNT;
		}
	} else if (!get32(r, c, &if_id)) {
		return fail(r, off, "EPB too short");
	}
	if (!get32(r, c, &ts_hi) || !get32(r, c, &ts_lo) ||
	    !get32(r, c, &caplen) || !get32(r, c, &len))
		return fail(r, off, "%s too short", name);
	data = take(c, ((uint64_t)caplen + 3) & ~(uint64_t)3);
	if (!data)
		return fail(r, off,
			    "%s captured length %" PRIu32
			    " exceeds the block (%zu bytes left)",
			    name, caplen, c->left);
	if (if_id >= r->n_ifs)
		return fail(r, off,
			    "%s refers to interface %" PRIu32
			    " but the section defines %" PRIu32,
			    name, if_id, r->n_ifs);
	if (ng_options(r, off, c, is_pb ? K_PB : K_EPB, NULL, &o) < 0)
		return -1;
	fill_iface(r, pkt, if_id);
	fill_opts(r, pkt, &o);
	pkt->data = data;
	pkt->caplen = caplen;
	pkt->len = len;
	pkt->ts_ns = ts_to_ns(&r->ifs[if_id], ((uint64_t)ts_hi << 32) | ts_lo);
	pkt->has |= CAP_HAS_TS;
	return 1;
}

static int ng_spb(struct cap_reader *r, uint64_t off, struct cur *c,
		  struct cap_packet *pkt)
{
	uint32_t len, caplen, snap;
	if (!get32(r, c, &len))
		return fail(r, off, "SPB too short");
	if (r->n_ifs == 0)
		return fail(r, off, "SPB but the section defines no interface");
	/* Captured bytes: the original length clipped to interface 0's
	 * snaplen and to what the block holds. */
	caplen = len;
	snap = r->ifs[0].snaplen;
	if (snap != 0 && caplen > snap)
		caplen = snap;
	if (caplen > c->left)
		caplen = (uint32_t)c->left;
	fill_iface(r, pkt, 0);
	pkt->data = take(c, caplen);
	pkt->caplen = caplen;
	pkt->len = len;
	return 1;
}

static int ng_next(struct cap_reader *r, struct cap_packet *pkt)
{
	for (;;) {
		uint32_t type;
		uint64_t off;
		struct cur body;
		int rc = ng_read_block(r, &type, &body, &off);
		if (rc <= 0)
			return rc;
		memset(pkt, 0, sizeof *pkt);
		pkt->offset = off;
		pkt->section = r->section;
		switch (type) {
		case PCAPNG_BT_SHB:
			r->section++;
			if (ng_shb(r, off, &body) < 0)
				return -1;
			break;
		case PCAPNG_BT_IDB:
			if (ng_idb(r, off, &body) < 0)
				return -1;
			break;
		case PCAPNG_BT_EPB:
			return ng_epb_pb(r, off, &body, false, pkt);
		case PCAPNG_BT_PB:
			return ng_epb_pb(r, off, &body, true, pkt);
		case PCAPNG_BT_SPB:
			return ng_spb(r, off, &body, pkt);
		case PCAPNG_BT_ISB:
			ng_isb(r, &body);
			break;
		default:
			break; /* NRB, DSB, custom, unknown: skipped */
		}
	}
}

/* ---- classic pcap ---- */

static int pcap_header(struct cap_reader *r, uint32_t magic_le)
{
	uint8_t h[20];
	size_t got;
	uint16_t major;
	struct cap_iface *ifc;

	/* The magic was read little-endian; a swapped value is a
	 * big-endian file. */
	bool be = magic_le == __builtin_bswap32(PCAP_MAGIC_US) ||
		  magic_le == __builtin_bswap32(PCAP_MAGIC_NS);
	r->swap = be != host_be();
	r->pcap_ns = magic_le == PCAP_MAGIC_NS ||
		     magic_le == __builtin_bswap32(PCAP_MAGIC_NS);
	if (rd(r, h, sizeof h, &got) < 0)
		return -1;
	if (got < sizeof h)
		return fail(r, 0,
			    "truncated pcap file header (%zu of 24 bytes)",
			    4 + got);
	major = dec16(r, h);
	if (major != 2)
		return fail(r, 0, "unsupported pcap version %u.%u", major,
			    dec16(r, h + 2));
	r->ifs = calloc(1, sizeof *r->ifs);
	if (!r->ifs)
		return fail(r, 0, "out of memory");
	r->ifs_cap = r->n_ifs = 1;
	ifc = &r->ifs[0];
	ifc->snaplen = dec32(r, h + 12);
	/* the upper bits hold the FCS length, not the link type */
	ifc->linktype = dec32(r, h + 16) & 0xffffu;
	ifc->ts_exp = r->pcap_ns ? 9 : 6;
	return 0;
}

static int pcap_next(struct cap_reader *r, struct cap_packet *pkt)
{
	uint8_t h[16];
	size_t got;
	uint64_t off = r->pos;
	uint32_t sec, frac, caplen, len;

	if (rd(r, h, sizeof h, &got) < 0)
		return -1;
	if (got == 0)
		return 0;
	if (got < sizeof h)
		return fail(r, off, "truncated record header (%zu of 16 bytes)",
			    got);
	sec = dec32(r, h);
	frac = dec32(r, h + 4);
	caplen = dec32(r, h + 8);
	len = dec32(r, h + 12);
	if (caplen > CAP_MAX_BLOCK)
		return fail(r, off,
			    "record captured length %" PRIu32
			    " exceeds the maximum %u",
			    caplen, (unsigned)CAP_MAX_BLOCK);
	if (ensure_buf(r, caplen ? caplen : 1, off) < 0)
		return -1;
	if (rd(r, r->buf, caplen, &got) < 0)
		return -1;
	if (got < caplen)
		return fail(r, off,
			    "truncated record (captured length %" PRIu32
			    ", %zu bytes present)",
			    caplen, got);
	memset(pkt, 0, sizeof *pkt);
	fill_iface(r, pkt, 0);
	pkt->data = r->buf;
	pkt->caplen = caplen;
	pkt->len = len;
	pkt->ts_ns = (uint64_t)sec * 1000000000u +
		     (uint64_t)frac * (r->pcap_ns ? 1u : 1000u);
	pkt->has = CAP_HAS_TS;
	pkt->offset = off;
	return 1;
}

/* ---- public ---- */

static void copy_err(const struct cap_reader *r, char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", r->err);
}

struct cap_reader *cap_open(const struct cap_source *src, char *errbuf,
			    size_t errlen)
{
	struct cap_reader *r = calloc(1, sizeof *r);
	uint8_t m[4];
	size_t got;
	uint32_t magic;
	int rc = -1;

	if (!r) {
		snprintf(errbuf, errlen, "offset 0: out of memory");
		return NULL;
	}
	r->src = *src;
	if (rd(r, m, 4, &got) < 0)
		goto out;
	if (got == 0) {
		fail(r, 0, "empty file");
		goto out;
	}
	if (got < 4) {
		fail(r, 0, "truncated file header (%zu bytes)", got);
		goto out;
	}
	memcpy(&magic, m, 4);
	if (host_be())
		magic = __builtin_bswap32(magic); /* as read little-endian */
	if (magic == PCAPNG_BT_SHB) {
		uint32_t type;
		uint64_t off;
		struct cur body;
		r->fmt = CAP_PCAPNG;
		/* hand the 4 bytes back to the block reader */
		memcpy(r->pending, m, 4);
		r->n_pending = 4;
		r->pending_off = 0;
		r->pos = 0;
		rc = ng_read_block(r, &type, &body, &off);
		if (rc == 1)
			rc = ng_shb(r, off, &body);
	} else if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS ||
		   magic == __builtin_bswap32(PCAP_MAGIC_US) ||
		   magic == __builtin_bswap32(PCAP_MAGIC_NS)) {
		r->fmt = CAP_PCAP;
		rc = pcap_header(r, magic);
	} else {
		fail(r, 0,
		     "not a pcap or pcapng file (magic %02x %02x %02x %02x)",
		     m[0], m[1], m[2], m[3]);
	}
out:
	if (rc < 0) {
		copy_err(r, errbuf, errlen);
		cap_close(r);
		return NULL;
	}
	return r;
}

int cap_next(struct cap_reader *r, struct cap_packet *pkt, char *errbuf,
	     size_t errlen)
{
	int rc;
	if (r->state == 1)
		return 0;
	if (r->state < 0) {
		copy_err(r, errbuf, errlen);
		return -1;
	}
	rc = r->fmt == CAP_PCAP ? pcap_next(r, pkt) : ng_next(r, pkt);
	if (rc == 0)
		r->state = 1;
	if (rc < 0)
		copy_err(r, errbuf, errlen);
	return rc;
}

enum cap_format cap_format(const struct cap_reader *r)
{
	return r->fmt;
}

uint32_t cap_iface_count(const struct cap_reader *r)
{
	return r->n_ifs;
}

uint64_t cap_ifdrop(const struct cap_reader *r)
{
	uint64_t n = r->ifdrop_done;
	for (uint32_t i = 0; i < r->n_ifs; i++)
		n += r->ifs[i].ifdrop;
	return n;
}

void cap_close(struct cap_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->ifs);
	free(r);
}
