/* The replay backend (see replay.h): capture file -> link-layer
 * decapsulation -> nat_process() -> pcapng "post-nat". */
#include "replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "linktype.h"
#include "note.h"
#include "pcapng_write.h"

enum {
	REPLAY_BUF = 65536, /* the largest IPv4 datagram, plus one */
};

static uint8_t note_dir(enum nat_dir d)
{
	switch (d) {
	case NAT_DIR_OUT:
		return TRACE_NOTE_OUT;
	case NAT_DIR_IN:
		return TRACE_NOTE_IN;
	default:
		return TRACE_NOTE_DIR_UNKNOWN;
	}
}

/* "flow=ID dir=D verdict=V[ rule=NAME| rule=forward:NAME][ reason=R]", in
 * the spelling replay output has always had (note.h). */
static void format_comment(const struct nat_engine *e,
			   const struct nat_result *nr, char *buf, size_t len)
{
	struct trace_note n;
	memset(&n, 0, sizeof n);
	n.flow = nr->flow_id;
	n.dir = note_dir(nr->dir);
	snprintf(n.verdict, sizeof n.verdict, "%s",
		 nat_verdict_name(nr->verdict));
	if (nr->rule != NAT_RULE_NONE) {
		const char *name =
			nr->forward ? nat_engine_forward_name(e, nr->rule)
				    : nat_engine_rule_name(e, nr->rule);
		n.has_rule = true;
		n.forward = nr->forward;
		snprintf(n.rule, sizeof n.rule, "%s", name ? name : "?");
	}
	if (nr->verdict == NAT_V_PASS && nr->reason != NAT_R_NONE)
		snprintf(n.reason, sizeof n.reason, "%s",
			 nat_reason_name(nr->reason));
	if (trace_note_encode(&n, TRACE_NOTE_REPLAY_V1, buf, len) < 0)
		buf[0] = '\0'; /* cannot happen: len is TRACE_NOTE_MAX */
}

static enum nat_dir capture_dir(const struct cap_packet *cp)
{
	if (cp->has & CAP_HAS_FLAGS) {
		switch (cp->flags & CAP_DIR_MASK) {
		case CAP_DIR_INBOUND:
			return NAT_DIR_IN;
		case CAP_DIR_OUTBOUND:
			return NAT_DIR_OUT;
		default:
			break;
		}
	}
	if (cp->if_name) {
		if (strcmp(cp->if_name, "inside") == 0)
			return NAT_DIR_OUT;
		if (strcmp(cp->if_name, "outside") == 0)
			return NAT_DIR_IN;
	}
	return NAT_DIR_UNKNOWN;
}

struct replay {
	struct nat_engine *e;
	const struct nat_replay_opts *o;
	struct nat_replay_result *res;
	struct pcapng_w *w;
	int w_if;
	uint64_t last_ts;
	uint8_t buf[REPLAY_BUF];
	char comment[TRACE_NOTE_MAX];
	int sink_err; /* a released fragment could not be written */
	char sink_msg[CAP_ERRBUF_SIZE];
};

/* Writes one packet that leaves the NAT. Returns 0 or -1 (errbuf). */
static int write_out(struct replay *rp, const uint8_t *pkt, size_t len,
		     size_t orig, uint64_t ts_ns, const struct nat_result *nr,
		     char *errbuf, size_t errlen)
{
	format_comment(rp->e, nr, rp->comment, sizeof rp->comment);
	if (pcapng_w_packet(rp->w, (uint32_t)rp->w_if, ts_ns, pkt, len, orig,
			    nr->dir == NAT_DIR_IN    ? PCAPNG_W_DIR_IN
			    : nr->dir == NAT_DIR_OUT ? PCAPNG_W_DIR_OUT
						     : PCAPNG_W_DIR_NONE,
			    rp->comment, errbuf, errlen) < 0)
		return -1;
	rp->res->written++;
	return 0;
}

/* The engine's fragment sink: a held fragment leaves, written when its
 * first fragment came (at that packet's time, just before it), never when
 * dropped. */
static void replay_frag_out(void *ctx, uint64_t tag, const uint8_t *pkt,
			    size_t len, const struct nat_meta *m,
			    const struct nat_result *nr)
{
	struct replay *rp = ctx;
	(void)tag;
	if (nr->verdict == NAT_V_DROP || !rp->w || rp->sink_err)
		return;
	if (write_out(rp, pkt, len, len, m->ts_ns, nr, rp->sink_msg,
		      sizeof rp->sink_msg) < 0)
		rp->sink_err = -1;
}

/* Processes one captured packet. Returns 0, or -1 when the output
 * cannot be written (errbuf). */
static int replay_packet(struct replay *rp, const struct cap_packet *cp,
			 char *errbuf, size_t errlen)
{
	struct nat_meta meta;
	struct nat_result nr;
	size_t off, len, orig;
	enum trace_l3 l3 =
		trace_link_decap(cp->linktype, cp->data, cp->caplen, &off);

	if (cp->caplen < cp->len)
		rp->res->truncated++;
	if (l3 == TRACE_L3_UNKNOWN_LINK || l3 == TRACE_L3_NOT_IP) {
		rp->res->skipped++;
		if (l3 == TRACE_L3_UNKNOWN_LINK)
			rp->res->unknown_link++;
		return 0;
	}
	len = cp->caplen - off;
	if (len > sizeof rp->buf - 1)
		len = sizeof rp->buf - 1; /* no IP datagram is longer */
	/* the engine rewrites in place: never hand it the reader's buffer */
	memcpy(rp->buf, cp->data + off, len);
	orig = cp->len > off ? cp->len - off : len;
	if (orig < len)
		orig = len;

	if (cp->has & CAP_HAS_TS)
		rp->last_ts = cp->ts_ns;
	memset(&meta, 0, sizeof meta);
	meta.ts_ns = rp->last_ts; /* an SPB has no time: keep the last */
	meta.in_if = cp->if_name;
	meta.dir = capture_dir(cp);
	if (l3 == TRACE_L3_IPV6) {
		rp->res->ipv6++;
	} else if (meta.dir == NAT_DIR_UNKNOWN &&
		   nat_engine_classify(rp->e, rp->buf, len) ==
			   NAT_DIR_UNKNOWN) {
		rp->res->unknown_dir++;
	}
	memset(&nr, 0, sizeof nr);
	nat_process(rp->e, rp->buf, len, &meta, &nr);
	if (rp->o->after_packet)
		rp->o->after_packet(rp->o->ctx, meta.ts_ns);
	if (rp->sink_err) {
		snprintf(errbuf, errlen, "%s", rp->sink_msg);
		return -1;
	}
	/* A held fragment is written when it is released, if ever. */
	if (nr.verdict == NAT_V_DROP || nr.verdict == NAT_V_HELD || !rp->w)
		return 0;
	return write_out(rp, rp->buf, len, orig, meta.ts_ns, &nr, errbuf,
			 errlen);
}

/* Opens the output and writes the section and the "post-nat" interface. */
static int open_output(struct replay *rp, FILE **outp, char *errbuf,
		       size_t errlen)
{
	char msg[CAP_ERRBUF_SIZE];
	*outp = fopen(rp->o->out_path, "wb");
	if (!*outp) {
		snprintf(errbuf, errlen, "%s: %s", rp->o->out_path,
			 strerror(errno));
		return -1;
	}
	rp->w = pcapng_w_open_file(*outp, msg, sizeof msg);
	if (rp->w)
		rp->w_if = pcapng_w_interface(rp->w, "post-nat", TRACE_LT_RAW, msg,
					      sizeof msg);
	if (!rp->w || rp->w_if < 0) {
		snprintf(errbuf, errlen, "%s: %s", rp->o->out_path, msg);
		return -1;
	}
	return 0;
}

int nat_replay_run(struct nat_engine *e, const struct nat_replay_opts *o,
		   struct nat_replay_result *res, char *errbuf, size_t errlen)
{
	struct replay *rp;
	struct cap_source src;
	struct cap_reader *r = NULL;
	struct cap_packet cp;
	FILE *in, *out = NULL;
	char msg[CAP_ERRBUF_SIZE];
	int rc = -1, n;

	memset(res, 0, sizeof *res);
	rp = calloc(1, sizeof *rp);
	if (!rp) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	rp->e = e;
	rp->o = o;
	rp->res = res;
	struct nat_frag_sink sink = {.ctx = rp, .fn = replay_frag_out};
	nat_engine_set_frag_sink(e, &sink);

	in = fopen(o->in_path, "rb");
	if (!in) {
		snprintf(errbuf, errlen, "%s: %s", o->in_path, strerror(errno));
		goto done;
	}
	cap_source_file(&src, in);
	r = cap_open(&src, msg, sizeof msg);
	if (!r) {
		snprintf(errbuf, errlen, "%s: %s", o->in_path, msg);
		goto done;
	}
	if (o->out_path && open_output(rp, &out, errbuf, errlen) < 0)
		goto done;

	while ((n = cap_next(r, &cp, msg, sizeof msg)) == 1) {
		res->records++;
		if (replay_packet(rp, &cp, msg, sizeof msg) < 0) {
			snprintf(errbuf, errlen, "%s: %s", o->out_path, msg);
			goto done;
		}
	}
	if (n < 0)
		snprintf(errbuf, errlen, "%s: %s", o->in_path, msg);
	else
		rc = 0;
done:
	/* Fragments still held when the file ends never saw their first
	 * fragment: they are dropped and counted (fragment_timeout) now,
	 * while the sink still has somewhere to put them. */
	nat_engine_drop_held(e);
	nat_engine_set_frag_sink(e, NULL);
	pcapng_w_close(rp->w);
	if (out && fclose(out) != 0 && rc == 0) {
		snprintf(errbuf, errlen, "%s: %s", o->out_path,
			 strerror(errno));
		rc = -1;
	}
	cap_close(r);
	if (in)
		fclose(in);
	free(rp);
	return rc;
}

void nat_replay_print_summary(FILE *out, const struct nat_replay_opts *o,
			      const struct nat_replay_result *res,
			      const struct nat_stats *st)
{
	bool any = false;
	fprintf(out, "replay %s -> %s\n", o->in_path,
		o->out_path ? o->out_path : "(no output)");
	fprintf(out, "  %-28s %12" PRIu64 "\n", "records read", res->records);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "packets written",
		res->written);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "skipped (not IP)",
		res->skipped);
	if (res->unknown_link)
		fprintf(out, "  %-28s %12" PRIu64 "\n",
			"  of which unknown link type", res->unknown_link);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "truncated in capture",
		res->truncated);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "direction unknown",
		res->unknown_dir);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "IPv6", res->ipv6);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "translated", st->natted);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "bypassed", st->bypassed);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "passed", st->passed);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "dropped", st->dropped);
	for (int i = NAT_R_NONE + 1; i < NAT_R_MAX; i++) {
		if (!st->by_reason[i])
			continue;
		if (!any)
			fprintf(out, "  passed/dropped by reason:\n");
		any = true;
		fprintf(out, "    %-26s %12" PRIu64 "\n",
			nat_reason_name((enum nat_reason)i), st->by_reason[i]);
	}
	fprintf(out, "  %-28s %12" PRIu64 "\n", "flows total", st->flows_total);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "flows active",
		st->flows_active);
	fprintf(out, "  %-28s %12" PRIu64 "\n", "hairpinned", st->hairpinned);
	if (!st->frag.learned && !st->frag.held && !st->frag.translated)
		return;
	fprintf(out, "  fragments:\n");
	for (int i = 0; i < NAT_FRAG_STAT_MAX; i++)
		fprintf(out, "    %-26s %12" PRIu64 "\n",
			nat_frag_stat_name((enum nat_frag_stat)i),
			nat_frag_stat_value(&st->frag, (enum nat_frag_stat)i));
}
