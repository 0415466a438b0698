/* Units of output: before/after pairs, and the BPF filter on them.
 *
 * The tracer writes a packet's pre and post records one after the other
 * (a drop has only pre), so pairing needs one record of look-back: the
 * pre is copied into a buffer reserved once, then matched with the next
 * record. */
#include "nd.h"

#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

enum { PRE_MAX = 262144 };

struct nd_pairer {
	struct nd_input *in;
	struct nd_pkt pre, look, emit;
	bool have_pre, have_look;
	uint8_t *pre_data;
	char pre_comment[CAP_MAX_STR], pre_ifname[CAP_MAX_STR];
};

struct nd_pairer *nd_pairer_new(struct nd_input *in)
{
	struct nd_pairer *pr = calloc(1, sizeof *pr);
	if (!pr)
		return NULL;
	pr->pre_data = malloc(PRE_MAX);
	if (!pr->pre_data) {
		free(pr);
		return NULL;
	}
	pr->in = in;
	return pr;
}

void nd_pairer_free(struct nd_pairer *pr)
{
	if (!pr)
		return;
	free(pr->pre_data);
	free(pr);
}

static void keep_pre(struct nd_pairer *pr, const struct nd_pkt *p)
{
	pr->pre = *p;
	pr->pre.caplen = p->caplen < PRE_MAX ? p->caplen : PRE_MAX;
	memcpy(pr->pre_data, p->data, pr->pre.caplen);
	pr->pre.data = pr->pre_data;
	if (p->comment) {
		snprintf(pr->pre_comment, sizeof pr->pre_comment, "%s",
			 p->comment);
		pr->pre.comment = pr->pre_comment;
	}
	if (p->if_name) {
		snprintf(pr->pre_ifname, sizeof pr->pre_ifname, "%s",
			 p->if_name);
		pr->pre.if_name = pr->pre_ifname;
	}
	pr->have_pre = true;
}

static void unit_of(struct nd_unit *u, const struct nd_pkt *pre,
		    const struct nd_pkt *post)
{
	u->pre = pre;
	u->post = post;
	u->note = post ? &post->note : &pre->note;
	u->ts_ns = pre ? pre->ts_ns : post->ts_ns;
}

int nd_pairer_next(struct nd_pairer *pr, struct nd_unit *u)
{
	for (;;) {
		struct nd_pkt *cur;
		if (pr->have_look) {
			pr->have_look = false;
			pr->emit = pr->look;
		} else if (nd_input_next(pr->in, &pr->emit) != 1) {
			if (pr->have_pre) {
				pr->have_pre = false;
				unit_of(u, &pr->pre, NULL);
				return 1;
			}
			return 0;
		}
		cur = &pr->emit;
		if (pr->have_pre) {
			if (cur->note.glassnat && cur->note.stage == ND_STAGE_POST &&
			    cur->note.flow == pr->pre.note.flow &&
			    cur->file == pr->pre.file) {
				pr->have_pre = false;
				unit_of(u, &pr->pre, cur);
				return 1;
			}
			/* an unpaired pre: hand it out, keep cur for later */
			pr->look = *cur;
			pr->have_look = true;
			pr->have_pre = false;
			unit_of(u, &pr->pre, NULL);
			return 1;
		}
		if (cur->note.glassnat && cur->note.stage == ND_STAGE_PRE &&
		    strcmp(cur->note.verdict, "drop") != 0) {
			keep_pre(pr, cur);
			continue;
		}
		if (cur->note.glassnat && cur->note.stage == ND_STAGE_PRE)
			unit_of(u, cur, NULL);
		else
			unit_of(u, NULL, cur);
		return 1;
	}
}

/* ---- BPF ---- */

enum { MAX_PROGS = 8 };

struct nd_filter {
	char *expr;
	struct {
		uint32_t linktype;
		bool ok;
		struct bpf_program prog;
	} progs[MAX_PROGS];
	unsigned n;
};

static int dlt_of(uint32_t linktype)
{
	switch (linktype) {
	case 101:
		return DLT_RAW;
	case 228:
		return DLT_IPV4;
	default:
		return (int)linktype;
	}
}

static int compile(struct nd_filter *f, uint32_t linktype, char *err,
		   size_t errlen)
{
	pcap_t *p;
	unsigned i;
	for (i = 0; i < f->n; i++)
		if (f->progs[i].linktype == linktype)
			return (int)i;
	if (f->n == MAX_PROGS)
		return -1;
	i = f->n++;
	f->progs[i].linktype = linktype;
	f->progs[i].ok = false;
	p = pcap_open_dead(dlt_of(linktype), 262144);
	if (!p) {
		snprintf(err, errlen, "pcap_open_dead failed");
		return (int)i;
	}
	if (pcap_compile(p, &f->progs[i].prog, f->expr, 1,
			 PCAP_NETMASK_UNKNOWN) == 0)
		f->progs[i].ok = true;
	else
		snprintf(err, errlen, "%s", pcap_geterr(p));
	pcap_close(p);
	return (int)i;
}

struct nd_filter *nd_filter_new(const char *expr, bool *ok)
{
	struct nd_filter *f;
	char err[PCAP_ERRBUF_SIZE] = "";
	*ok = true;
	if (!expr)
		return NULL;
	f = calloc(1, sizeof *f);
	if (!f || !(f->expr = strdup(expr))) {
		free(f);
		*ok = false;
		fprintf(stderr, "natdump: out of memory\n");
		return NULL;
	}
	/* check the syntax now, on raw IPv4 */
	if (compile(f, 101, err, sizeof err) < 0 || !f->progs[0].ok) {
		fprintf(stderr, "natdump: -f '%s': %s\n", expr, err);
		nd_filter_free(f);
		*ok = false;
		return NULL;
	}
	return f;
}

static bool match(struct nd_filter *f, const struct nd_pkt *p)
{
	struct pcap_pkthdr h;
	char err[PCAP_ERRBUF_SIZE];
	int i = compile(f, p->linktype, err, sizeof err);
	if (i < 0 || !f->progs[i].ok)
		return false; /* a link type the expression cannot apply to */
	memset(&h, 0, sizeof h);
	h.caplen = p->caplen;
	h.len = p->len;
	return pcap_offline_filter(&f->progs[i].prog, &h, p->data) != 0;
}

bool nd_filter_unit(struct nd_filter *f, const struct nd_unit *u)
{
	if (!f)
		return true;
	return (u->pre && match(f, u->pre)) || (u->post && match(f, u->post));
}

void nd_filter_free(struct nd_filter *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->n; i++)
		if (f->progs[i].ok)
			pcap_freecode(&f->progs[i].prog);
	free(f->expr);
	free(f);
}

bool nd_unit_selected(const struct nd_opts *o, struct nd_filter *f,
		      const struct nd_unit *u)
{
	if (o->has_since && u->ts_ns < o->since)
		return false;
	if (o->has_until && u->ts_ns > o->until)
		return false;
	if (o->has_flow && (!u->note->glassnat || u->note->flow != o->flow))
		return false;
	return nd_filter_unit(f, u);
}
