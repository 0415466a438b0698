/* pcapng writer (see pcapng_write.h). Every block is laid out in w->buf
 * through put*(), which cannot run past the buffer: its size covers the
 * largest block this writer can produce (a clipped packet plus a clipped
 * comment and the flags). */
#include "pcapng_write.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

enum {
	/* EPB: 28 fixed + flags 8 + comment 4 + padded + end 4 + trailer */
	BUF_SIZE = 28 + PCAPNG_W_MAX_PACKET + 8 + 4 + PCAPNG_W_MAX_COMMENT + 4 +
		   4 + 4 + 64,
};

struct pcapng_w {
	pcapng_w_sink_fn sink;
	pcapng_w_gather_fn gather; /* NULL: EPBs go whole to sink */
	void *ctx;
	uint32_t n_ifs;
	uint64_t bytes;
	size_t len; /* bytes laid out in buf */
	uint8_t buf[BUF_SIZE];
};

int pcapng_w_file_sink(void *ctx, const void *buf, size_t len, char *errbuf,
		       size_t errlen)
{
	FILE *f = ctx;
	if (fwrite(buf, 1, len, f) != len) {
		snprintf(errbuf, errlen, "write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void put(struct pcapng_w *w, const void *p, size_t n)
{
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put16(struct pcapng_w *w, uint16_t v)
{
	put(w, &v, sizeof v);
}

static void put32(struct pcapng_w *w, uint32_t v)
{
	put(w, &v, sizeof v);
}

static void put64(struct pcapng_w *w, uint64_t v)
{
	put(w, &v, sizeof v);
}

static void pad4(struct pcapng_w *w)
{
	static const uint8_t zero[4];
	put(w, zero, (4 - (w->len & 3)) & 3);
}

static void put_opt(struct pcapng_w *w, uint16_t code, const void *v,
		    size_t len)
{
	put16(w, code);
	put16(w, (uint16_t)len);
	put(w, v, len);
	pad4(w);
}

/* Clips a string to max bytes without splitting a UTF-8 sequence
 * (option strings are UTF-8). */
static size_t clip_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static void begin(struct pcapng_w *w, uint32_t type)
{
	w->len = 0;
	put32(w, type);
	put32(w, 0); /* total length, set by finish() */
}

/* Ends the options, sets both lengths and hands the block to the sink. */
static int finish(struct pcapng_w *w, bool has_opts, char *errbuf,
		  size_t errlen)
{
	uint32_t total;
	if (has_opts) {
		put16(w, PCAPNG_OPT_ENDOFOPT);
		put16(w, 0);
	}
	total = (uint32_t)w->len + 4;
	memcpy(w->buf + 4, &total, 4);
	put32(w, total);
	if (w->sink(w->ctx, w->buf, w->len, errbuf, errlen) < 0)
		return -1;
	w->bytes += w->len;
	return 0;
}

struct pcapng_w *pcapng_w_open(pcapng_w_sink_fn sink, void *ctx, char *errbuf,
			       size_t errlen)
{
	static const char appl[] = "glassnat";
	struct pcapng_w *w = malloc(sizeof *w);
	if (!w) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	w->sink = sink;
	w->gather = NULL;
	w->ctx = ctx;
	w->n_ifs = 0;
	w->bytes = 0;
	begin(w, PCAPNG_BT_SHB);
	put32(w, PCAPNG_BOM);
	put16(w, 1); /* version 1.0 */
	put16(w, 0);
	put64(w, UINT64_MAX); /* section length not known */
	put_opt(w, PCAPNG_SHB_USERAPPL, appl, sizeof appl - 1);
	if (finish(w, true, errbuf, errlen) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

struct pcapng_w *pcapng_w_open_file(FILE *f, char *errbuf, size_t errlen)
{
	return pcapng_w_open(pcapng_w_file_sink, f, errbuf, errlen);
}

int pcapng_w_interface(struct pcapng_w *w, const char *name, uint16_t linktype,
		       char *errbuf, size_t errlen)
{
	uint8_t tsresol = 9;
	if (w->n_ifs == INT32_MAX) {
		snprintf(errbuf, errlen, "too many interfaces");
		return -1;
	}
	begin(w, PCAPNG_BT_IDB);
	put16(w, linktype);
	put16(w, 0);
	put32(w, 0); /* snaplen: no limit */
	if (name) {
		put_opt(w, PCAPNG_IF_NAME, name, clip_utf8(name, PCAPNG_W_MAX_NAME));
	}
	put_opt(w, PCAPNG_IF_TSRESOL, &tsresol, 1);
	if (finish(w, true, errbuf, errlen) < 0)
		return -1;
	return (int)w->n_ifs++;
}

/* An EPB's options (direction flags, comment), each only when set;
 * whether any was written (the end-of-options then follows). */
static bool put_epb_opts(struct pcapng_w *w, uint32_t dir_flags,
			 const char *comment)
{
	if (dir_flags)
		put_opt(w, PCAPNG_EPB_FLAGS, &dir_flags, 4);
	if (comment)
		put_opt(w, PCAPNG_OPT_COMMENT, comment,
			clip_utf8(comment, PCAPNG_W_MAX_COMMENT));
	return dir_flags || comment;
}

/* The rest of an EPB whose fixed fields are laid out: the options and
 * the trailer go after them in buf (which, like the stream there, is
 * 4-aligned: the packet's padding is a piece of its own), the packet
 * stays where it is, and the pieces go to the gather sink: the same bytes
 * as the copying path. */
static int packet_gather(struct pcapng_w *w, const uint8_t *data,
			 size_t caplen, uint32_t dir_flags, const char *comment,
			 char *errbuf, size_t errlen)
{
	static const uint8_t zero[4];
	size_t head = w->len, pad = (4 - (caplen & 3)) & 3;
	bool has_opts = put_epb_opts(w, dir_flags, comment);
	if (has_opts) {
		put16(w, PCAPNG_OPT_ENDOFOPT);
		put16(w, 0);
	}
	uint32_t total = (uint32_t)(w->len + caplen + pad + 4);
	memcpy(w->buf + 4, &total, 4);
	put32(w, total);
	struct pcapng_w_piece v[4] = {
		{ w->buf, head },
		{ data, caplen },
		{ zero, pad },
		{ w->buf + head, w->len - head },
	};
	if (w->gather(w->ctx, v, 4, errbuf, errlen) < 0)
		return -1;
	w->bytes += total;
	return 0;
}

void pcapng_w_set_gather(struct pcapng_w *w, pcapng_w_gather_fn fn)
{
	w->gather = fn;
}

int pcapng_w_packet(struct pcapng_w *w, uint32_t if_id, uint64_t ts_ns,
		    const uint8_t *data, size_t caplen, size_t orig_len,
		    uint32_t dir_flags, const char *comment, char *errbuf,
		    size_t errlen)
{
	if (if_id >= w->n_ifs) {
		snprintf(errbuf, errlen, "packet for interface %u, %u written",
			 if_id, w->n_ifs);
		return -1;
	}
	if (caplen > PCAPNG_W_MAX_PACKET)
		caplen = PCAPNG_W_MAX_PACKET;
	if (orig_len < caplen)
		orig_len = caplen;
	if (orig_len > UINT32_MAX)
		orig_len = UINT32_MAX;
	begin(w, PCAPNG_BT_EPB);
	put32(w, if_id);
	put32(w, (uint32_t)(ts_ns >> 32));
	put32(w, (uint32_t)ts_ns);
	put32(w, (uint32_t)caplen);
	put32(w, (uint32_t)orig_len);
	if (w->gather)
		return packet_gather(w, data, caplen, dir_flags, comment,
				     errbuf, errlen);
	if (caplen)
		put(w, data, caplen);
	pad4(w);
	return finish(w, put_epb_opts(w, dir_flags, comment), errbuf, errlen);
}

int pcapng_w_isb(struct pcapng_w *w, uint32_t if_id, uint64_t ts_ns,
		 uint64_t ifdrop, char *errbuf, size_t errlen)
{
	if (if_id >= w->n_ifs) {
		snprintf(errbuf, errlen, "statistics for interface %u, %u written",
			 if_id, w->n_ifs);
		return -1;
	}
	begin(w, PCAPNG_BT_ISB);
	put32(w, if_id);
	put32(w, (uint32_t)(ts_ns >> 32));
	put32(w, (uint32_t)ts_ns);
	uint32_t end[2] = {(uint32_t)(ts_ns >> 32), (uint32_t)ts_ns};
	put_opt(w, PCAPNG_ISB_ENDTIME, end, 8);
	put_opt(w, PCAPNG_ISB_IFDROP, &ifdrop, 8);
	return finish(w, true, errbuf, errlen);
}

uint64_t pcapng_w_bytes(const struct pcapng_w *w)
{
	return w->bytes;
}

void pcapng_w_close(struct pcapng_w *w)
{
	free(w);
}
