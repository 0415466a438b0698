/* Trace selection (see select.h). The filter is run with bpf_filter() on
 * the packet bytes as they are: DLT_RAW programs start at the IP header. */
#include "select.h"

#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

struct trace_sel {
	struct bpf_program prog;
	bool has_prog; /* false: empty expression, everything matches */
	uint32_t gen;  /* 0..TRACE_SEL_GEN_MASK */
	uint32_t cap;  /* 0 = none */
	char expr[TRACE_SEL_EXPR_MAX];
};

/* Compiles expr into *prog; *has false for an empty expression. */
static int compile(const char *expr, struct bpf_program *prog, bool *has,
		   char *errbuf, size_t errlen)
{
	*has = false;
	if (!expr || !*expr)
		return 0;
	if (strlen(expr) >= TRACE_SEL_EXPR_MAX) {
		snprintf(errbuf, errlen, "trace filter: longer than %d bytes",
			 TRACE_SEL_EXPR_MAX - 1);
		return -1;
	}
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
	if (!p) {
		snprintf(errbuf, errlen, "trace filter '%s': out of memory",
			 expr);
		return -1;
	}
	if (pcap_compile(p, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(errbuf, errlen, "trace filter '%s': %s", expr,
			 pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	*has = true;
	return 0;
}

struct trace_sel *trace_sel_open(const char *bpf, uint32_t max_per_flow,
				 char *errbuf, size_t errlen)
{
	struct trace_sel *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (compile(bpf, &s->prog, &s->has_prog, errbuf, errlen) < 0) {
		free(s);
		return NULL;
	}
	if (bpf)
		snprintf(s->expr, sizeof s->expr, "%s", bpf);
	s->cap = max_per_flow > TRACE_SEL_COUNT_MASK ? TRACE_SEL_COUNT_MASK
						     : max_per_flow;
	return s;
}

void trace_sel_close(struct trace_sel *s)
{
	if (!s)
		return;
	if (s->has_prog)
		pcap_freecode(&s->prog);
	free(s);
}

int trace_sel_set_filter(struct trace_sel *s, const char *bpf, char *errbuf,
			 size_t errlen)
{
	struct bpf_program prog;
	bool has;
	if (compile(bpf, &prog, &has, errbuf, errlen) < 0)
		return -1;
	if (s->has_prog)
		pcap_freecode(&s->prog);
	s->prog = prog;
	s->has_prog = has;
	snprintf(s->expr, sizeof s->expr, "%s", bpf ? bpf : "");
	s->gen = (s->gen + 1) & TRACE_SEL_GEN_MASK;
	return 0;
}

const char *trace_sel_filter(const struct trace_sel *s)
{
	return s->expr;
}

bool trace_sel_match(const struct trace_sel *s, const uint8_t *pkt, size_t len)
{
	if (!s->has_prog)
		return true;
	u_int n = len > UINT32_MAX ? UINT32_MAX : (u_int)len;
	return bpf_filter(s->prog.bf_insns, pkt, n, n) != 0;
}

enum trace_sel_state trace_sel_state(const struct trace_sel *s, uint32_t word)
{
	if (!(word & TRACE_SEL_DECIDED) ||
	    ((word >> TRACE_SEL_GEN_SHIFT) & TRACE_SEL_GEN_MASK) != s->gen)
		return TRACE_SEL_UNDECIDED;
	if (!(word & TRACE_SEL_SELECTED))
		return TRACE_SEL_NO;
	if (s->cap && (word & TRACE_SEL_COUNT_MASK) >= s->cap)
		return TRACE_SEL_CAPPED;
	return TRACE_SEL_YES;
}

void trace_sel_decide(const struct trace_sel *s, uint32_t *word, bool selected)
{
	*word = TRACE_SEL_DECIDED | (selected ? TRACE_SEL_SELECTED : 0) |
		s->gen << TRACE_SEL_GEN_SHIFT;
}

bool trace_sel_take(const struct trace_sel *s, uint32_t *word)
{
	uint32_t n = *word & TRACE_SEL_COUNT_MASK;
	if (s->cap && n >= s->cap)
		return false;
	if (n < TRACE_SEL_COUNT_MASK)
		*word += 1;
	return true;
}
