/* Trace selection: which packets the tracer writes.
 *
 * A BPF expression in libpcap syntax, compiled for raw IPv4 (DLT_RAW), is
 * run on either side of a before/after pair; the decision is sticky per
 * flow and kept in the flow's 32-bit observer word (nat_result.flow_trace,
 * zero when the flow opens):
 *
 *   bit 31      decided
 *   bit 30      selected
 *   bits 24-29  filter generation the decision was made under
 *   bits 0-23   pairs traced so far (saturates at 0xffffff)
 *
 * Changing the filter bumps the generation, so every flow's decision (and
 * its count) is made afresh on its next packet. A decision made 64 filter
 * changes ago looks current again; that is accepted.
 *
 * Everything here runs on the engine thread; nothing allocates except
 * trace_sel_open / trace_sel_set_filter. */
#ifndef GLASSNAT_TRACE_SELECT_H
#define GLASSNAT_TRACE_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TRACE_SEL_DECIDED = 1u << 31,
	TRACE_SEL_SELECTED = 1u << 30,
	TRACE_SEL_GEN_SHIFT = 24,
	TRACE_SEL_GEN_MASK = 0x3fu,
	TRACE_SEL_COUNT_MASK = 0xffffffu, /* also the largest usable cap */
	/* Bytes of a filter expression, NUL included. The selector owns this
	 * limit; the config's filter buffer (NAT_BPF_MAX, config.h) is the
	 * same size, which tracer.c asserts. */
	TRACE_SEL_EXPR_MAX = 512,
};

/* What the flow word says for the current filter. */
enum trace_sel_state {
	TRACE_SEL_UNDECIDED = 0, /* run the filter */
	TRACE_SEL_NO,		 /* not selected: skip */
	TRACE_SEL_YES,		 /* selected, under the cap */
	TRACE_SEL_CAPPED,	 /* selected, max_packets_per_flow reached */
};

struct trace_sel;

/* Compiles bpf ("" or NULL selects everything). max_per_flow: pairs traced
 * per flow, 0 = no cap (values above TRACE_SEL_COUNT_MASK act as that).
 * Returns NULL with "trace filter 'EXPR': pcap message" in errbuf. */
struct trace_sel *trace_sel_open(const char *bpf, uint32_t max_per_flow,
				 char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
void trace_sel_close(struct trace_sel *s);

/* Replaces the filter and bumps the generation. On error the old filter
 * stays and errbuf says why. Engine thread, between packets. */
int trace_sel_set_filter(struct trace_sel *s, const char *bpf, char *errbuf,
			 size_t errlen) __attribute__((warn_unused_result));

/* The expression in force ("" = everything). */
const char *trace_sel_filter(const struct trace_sel *s);

/* Runs the filter on one raw IPv4 packet (true when there is none). */
bool trace_sel_match(const struct trace_sel *s, const uint8_t *pkt, size_t len);

enum trace_sel_state trace_sel_state(const struct trace_sel *s, uint32_t word);

/* Records the decision for the current generation (count 0). */
void trace_sel_decide(const struct trace_sel *s, uint32_t *word, bool selected);

/* Counts one traced pair against the cap. Returns false (and counts
 * nothing) when the flow is already at max_per_flow. */
bool trace_sel_take(const struct trace_sel *s, uint32_t *word);

#endif
