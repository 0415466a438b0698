/* The counter registry: see metrics.h. The table below is the one list;
 * the renderers walk it in order, so rows that share a Prometheus family
 * or a JSON object ("queue.", "trace.") stay together. */
#include "metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "protocol.h"

enum m_type { M_COUNTER, M_GAUGE, M_BOOL };

/* Where a row's value comes from. */
enum m_src {
	S_STATS,   /* uint64_t at off in struct nat_stats */
	S_REASON,  /* nat_stats.by_reason, labelled by reason name */
	S_EXTRA,   /* uint64_t at off in struct nat_ctl_extra */
	S_BOOL,	   /* bool at off in struct nat_ctl_extra */
	S_CTL_ERR, /* nat_ctl_extra.ctl_errors, labelled by error name */
	S_BACKEND, /* the backend counter called bname (absent if none) */
};

enum m_flags {
	F_LOSS = 1u << 0,    /* non-zero means something was lost: WARN */
	F_NONZERO = 1u << 1, /* the text shows it only when non-zero */
	F_QUALIF = 1u << 2,  /* text: " (words value)" after the one before */
};

struct m_row {
	const char *key;   /* JSON path in the stats object: "queue.enobufs" */
	const char *prom;  /* Prometheus family */
	const char *label; /* its label, for S_REASON / S_CTL_ERR / lv */
	const char *lv;	   /* a fixed label value ("natted"), or NULL */
	enum m_type type;
	enum m_src src;
	size_t off;
	const char *bname;
	const char *unit;
	const char *help;
	const char *words; /* final statistics; NULL: not printed */
	const char *comp;  /* its log component */
	unsigned line;	   /* rows with the same non-zero line print on one */
	unsigned flags;
	const char *cond; /* text only when this bool key is true */
};

#define ST(f) .src = S_STATS, .off = offsetof(struct nat_stats, f)
#define XT(f) .src = S_EXTRA, .off = offsetof(struct nat_ctl_extra, f)
#define XB(f) .src = S_BOOL, .off = offsetof(struct nat_ctl_extra, f)
#define BE(n) .src = S_BACKEND, .bname = n

#define FRAG_ROW(E, f, d)                                                    \
	{ .key = "frag." #f, .prom = "glassnat_frag_" #f "_total",           \
	  .type = M_COUNTER, ST(frag.f), .unit = "fragments", .help = d,     \
	  .words = "Fragments " #f, .comp = "FRAG", .flags = F_NONZERO },

static const struct m_row rows[] = {
	/* Hyper-NAT's final statistics, in its order (seed 000). */
	{ .key = "packets", .prom = "glassnat_packets_processed_total",
	  .type = M_COUNTER, ST(packets), .unit = "packets",
	  .help = "Packets the engine processed, every verdict.",
	  .words = "Packets processed", .comp = "MAIN" },
	{ .key = "natted", .prom = "glassnat_packets_total",
	  .label = "verdict", .lv = "natted", .type = M_COUNTER, ST(natted),
	  .unit = "packets", .help = "Packets the engine processed, by verdict.",
	  .words = "Packets NATted", .comp = "MAIN" },
	{ .key = "bypassed", .prom = "glassnat_packets_total",
	  .label = "verdict", .lv = "bypassed", .type = M_COUNTER,
	  ST(bypassed), .unit = "packets", .words = "Packets bypassed",
	  .comp = "MAIN" },
	{ .key = "passed", .prom = "glassnat_packets_total",
	  .label = "verdict", .lv = "passed", .type = M_COUNTER, ST(passed),
	  .unit = "packets", .words = "Packets passed", .comp = "MAIN" },
	{ .key = "dropped", .prom = "glassnat_packets_total",
	  .label = "verdict", .lv = "dropped", .type = M_COUNTER,
	  ST(dropped), .unit = "packets", .words = "Packets dropped",
	  .comp = "MAIN" },
	{ .key = "flows_active", .prom = "glassnat_flows_active",
	  .type = M_GAUGE, ST(flows_active), .unit = "flows",
	  .help = "Flows in the table (in the final statistics: the flows "
		  "shutdown closed).",
	  .words = "Active connections", .comp = "MAIN" },
	{ .key = "flows_total", .prom = "glassnat_flows_total",
	  .type = M_COUNTER, ST(flows_total), .unit = "flows",
	  .help = "Flows opened.", .words = "Total connections",
	  .comp = "MAIN" },
	/* glassnat's own, after Hyper-NAT's. */
	{ .key = "by_reason", .prom = "glassnat_drops_total",
	  .label = "reason", .type = M_COUNTER, .src = S_REASON,
	  .unit = "packets",
	  .help = "Packets dropped or passed untranslated, by reason "
		  "(docs/troubleshooting.md).",
	  .words = "Passed/dropped", .comp = "MAIN", .flags = F_NONZERO },
	{ .key = "hairpinned", .prom = "glassnat_hairpinned_total",
	  .type = M_COUNTER, ST(hairpinned), .unit = "packets",
	  .help = "Packets hairpinned (inside to the NAT address and back "
		  "in).",
	  .words = "Hairpinned", .comp = "MAIN" },
	{ .key = "bytes", .prom = "glassnat_bytes_total", .type = M_COUNTER,
	  ST(bytes), .unit = "bytes",
	  .help = "Bytes of the packets the engine processed.",
	  .words = "Bytes processed", .comp = "MAIN" },
	{ .key = "flows_expired", .prom = "glassnat_flows_expired_total",
	  .type = M_COUNTER, ST(flows_expired), .unit = "flows",
	  .help = "Flows closed by their timeout.",
	  .words = "Expired connections", .comp = "MAIN" },
	{ .key = "flows_evicted", .prom = "glassnat_flows_evicted_total",
	  .type = M_COUNTER, ST(flows_evicted), .unit = "flows",
	  .help = "Flows evicted at max_flows_per_host.",
	  .words = "Evicted connections", .comp = "MAIN" },
	{ .key = "port_exhausted_events",
	  .prom = "glassnat_port_exhausted_events_total", .type = M_COUNTER,
	  ST(port_exhausted_events), .unit = "events",
	  .help = "Times a new flow found no free external port "
		  "(port_exhausted drops).",
	  .words = "Port exhaustion events", .comp = "MAIN",
	  .flags = F_LOSS },
	{ .key = "table_full_events",
	  .prom = "glassnat_table_full_events_total", .type = M_COUNTER,
	  ST(table_full_events), .unit = "events",
	  .help = "Times a new flow found the flow table full (table_full "
		  "drops).",
	  .words = "Table full events", .comp = "MAIN", .flags = F_LOSS },
	{ .key = "forwards", .prom = "glassnat_forwards", .type = M_GAUGE,
	  XT(forwards), .unit = "forwards", .help = "Port forwards active.",
	  .words = "Port forwards", .comp = "MAIN" },
	/* The fragment tracker (docs/fragments.md): one row per counter of
	 * NAT_FRAG_STATS. */
	NAT_FRAG_STATS(FRAG_ROW)
	{ .key = "frag.datagrams_now", .prom = "glassnat_frag_datagrams",
	  .type = M_GAUGE, ST(frag_datagrams_now), .unit = "datagrams",
	  .help = "Fragmented datagrams tracked now." },
	{ .key = "frag.held_now", .prom = "glassnat_frag_held",
	  .type = M_GAUGE, ST(frag_held_now), .unit = "fragments",
	  .help = "Fragments held in the buffer now." },
	/* The kernel fast path (docs/translation.md): the engine's view of
	 * what it offloaded, then the program's own counters (absent where
	 * the backend has no fast path). */
	{ .key = "fastpath.flows_now", .prom = "glassnat_fastpath_flows",
	  .type = M_GAUGE, ST(offload_now), .unit = "flows",
	  .help = "Flows the kernel fast path translates now." },
	{ .key = "fastpath.flows_total",
	  .prom = "glassnat_fastpath_flows_offloaded_total",
	  .type = M_COUNTER, ST(offload_total), .unit = "flows",
	  .help = "Times a flow was handed to the kernel fast path.",
	  .words = "Fast path flows offloaded", .comp = "FASTPATH",
	  .line = 7, .cond = "fastpath.loaded" },
	{ .key = "fastpath.packets", .prom = "glassnat_fastpath_packets_total",
	  .type = M_COUNTER, ST(offload_packets), .unit = "packets",
	  .help = "Packets of offloaded flows the kernel translated (not in "
		  "packets: the engine never saw them).",
	  .words = "packets translated in the kernel", .comp = "FASTPATH",
	  .line = 7, .cond = "fastpath.loaded" },
	{ .key = "fastpath.bytes", .prom = "glassnat_fastpath_bytes_total",
	  .type = M_COUNTER, ST(offload_bytes), .unit = "bytes",
	  .help = "Bytes of the packets the kernel translated.",
	  .words = "bytes", .comp = "FASTPATH", .line = 7,
	  .flags = F_QUALIF, .cond = "fastpath.loaded" },
	{ .key = "fastpath.install_failed",
	  .prom = "glassnat_fastpath_install_failed_total",
	  .type = M_COUNTER, ST(offload_failed), .unit = "flows",
	  .help = "Flows the kernel fast path refused (map full): they "
		  "stayed in user space.",
	  .words = "installs refused", .comp = "FASTPATH", .line = 7,
	  .flags = F_NONZERO, .cond = "fastpath.loaded" },
	{ .key = "fastpath.loaded", .prom = "glassnat_fastpath_loaded",
	  .type = M_GAUGE, BE("fastpath_loaded"), .unit = "bool",
	  .help = "1 when the kernel fast path is loaded for this run." },
	{ .key = "fastpath.hits", .prom = "glassnat_fastpath_hits_total",
	  .type = M_COUNTER, BE("fastpath_hit"), .unit = "packets",
	  .help = "Packets the BPF program translated, as it counts them "
		  "(live; fastpath.packets catches up as flows are read)." },
	{ .key = "fastpath.errors", .prom = "glassnat_fastpath_errors_total",
	  .type = M_COUNTER, BE("fastpath_error"), .unit = "packets",
	  .help = "Packets the BPF program dropped because a kernel helper "
		  "failed mid-rewrite.",
	  .words = "Fast path errors (dropped)", .comp = "FASTPATH",
	  .line = 8, .flags = F_LOSS | F_NONZERO },
	/* The live backend (NFQUEUE, WinDivert): absent when it has none. */
	{ .key = "queue.batches", .prom = "glassnat_queue_batches_total",
	  .type = M_COUNTER, BE("batches"), .unit = "batches",
	  .help = "Receive calls that returned packets.", .words = "Batches",
	  .comp = "QUEUE", .line = 1 },
	{ .key = "queue.max_batch", .prom = "glassnat_queue_batch_max",
	  .type = M_GAUGE, BE("max_batch"), .unit = "packets",
	  .help = "Most packets received in one batch.", .words = "largest",
	  .comp = "QUEUE", .line = 1, .flags = F_QUALIF },
	{ .key = "queue.gso", .prom = "glassnat_queue_gso_packets_total",
	  .type = M_COUNTER, BE("gso"), .unit = "packets",
	  .help = "GSO super-packets received.", .words = "GSO packets",
	  .comp = "QUEUE", .line = 1 },
	{ .key = "queue.csum_full", .prom = "glassnat_queue_csum_full_total",
	  .type = M_COUNTER, BE("csum_full"), .unit = "packets",
	  .help = "Packets whose L4 checksum was computed in full.",
	  .words = "checksums computed in full", .comp = "QUEUE", .line = 1 },
	{ .key = "queue.queue_dropped", .prom = "glassnat_queue_overflow_total",
	  .type = M_COUNTER, BE("queue_dropped"), .unit = "packets",
	  .help = "Packets the kernel queue dropped because it was full "
		  "(queue overflow: the engine fell behind).",
	  .words = "Queue overflow", .comp = "QUEUE", .line = 2,
	  .flags = F_LOSS },
	{ .key = "queue.user_dropped",
	  .prom = "glassnat_queue_user_dropped_total", .type = M_COUNTER,
	  BE("user_dropped"), .unit = "packets",
	  .help = "Packets the kernel could not deliver to the queue socket "
		  "(socket buffer full).",
	  .words = "not delivered (socket full)", .comp = "QUEUE", .line = 2,
	  .flags = F_LOSS },
	{ .key = "queue.enobufs", .prom = "glassnat_queue_enobufs_total",
	  .type = M_COUNTER, BE("enobufs"), .unit = "errors",
	  .help = "ENOBUFS on the queue socket: the kernel lost messages.",
	  .words = "ENOBUFS", .comp = "QUEUE", .line = 2, .flags = F_LOSS },
	{ .key = "queue.verdict_errors",
	  .prom = "glassnat_queue_verdict_errors_total", .type = M_COUNTER,
	  BE("verdict_errors"), .unit = "errors",
	  .help = "Verdicts or reinjections the system refused.",
	  .words = "verdict errors", .comp = "QUEUE", .line = 2 },
	{ .key = "queue.truncated", .prom = "glassnat_queue_truncated_total",
	  .type = M_COUNTER, BE("truncated"), .unit = "packets",
	  .help = "Packets received shorter than they are (dropped).",
	  .words = "truncated", .comp = "QUEUE", .line = 2 },
	{ .key = "queue.frag_late", .prom = "glassnat_queue_frag_late_total",
	  .type = M_COUNTER, BE("frag_late"), .unit = "fragments",
	  .help = "Held fragments given their verdict late, when the engine "
		  "released them (docs/fragments.md).",
	  .words = "held fragments given a late verdict", .comp = "QUEUE",
	  .line = 2 },
	/* The observers. */
	{ .key = "trace.open", .prom = "glassnat_trace_open", .type = M_BOOL,
	  XB(traced), .unit = "bool", .help = "1 when a trace ring is open." },
	{ .key = "trace.on", .prom = "glassnat_trace_on", .type = M_BOOL,
	  XB(trace_on), .unit = "bool",
	  .help = "1 when tracing is on (not paused)." },
	{ .key = "trace.written", .prom = "glassnat_trace_written_total",
	  .type = M_COUNTER, XT(trace_written), .unit = "packets",
	  .help = "Packets written to the trace ring.",
	  .words = "Trace packets written", .comp = "TRACE", .line = 3,
	  .cond = "trace.open" },
	{ .key = "trace.lost", .prom = "glassnat_trace_lost_total",
	  .type = M_COUNTER, XT(trace_lost), .unit = "packets",
	  .help = "Trace records lost: the trace queue was full.",
	  .words = "lost (queue full)", .comp = "TRACE", .line = 3,
	  .flags = F_LOSS, .cond = "trace.open" },
	{ .key = "trace.failed", .prom = "glassnat_trace_failed_total",
	  .type = M_COUNTER, XT(trace_failed), .unit = "packets",
	  .help = "Trace records lost to write errors.",
	  .words = "lost (write errors)", .comp = "TRACE", .line = 3,
	  .flags = F_LOSS, .cond = "trace.open" },
	{ .key = "log.open", .prom = "glassnat_log_open", .type = M_BOOL,
	  XB(logged), .unit = "bool", .help = "1 when an events log is open." },
	{ .key = "log.written", .prom = "glassnat_log_written_total",
	  .type = M_COUNTER, XT(log_written), .unit = "events",
	  .help = "Events written to the events log.",
	  .words = "Events written", .comp = "LOG", .line = 4,
	  .cond = "log.open" },
	{ .key = "log.lost", .prom = "glassnat_log_lost_total",
	  .type = M_COUNTER, XT(log_lost), .unit = "events",
	  .help = "Events lost: the log queue was full.", .words = "lost",
	  .comp = "LOG", .line = 4, .flags = F_LOSS, .cond = "log.open" },
	{ .key = "log.suppressed", .prom = "glassnat_log_suppressed_total",
	  .type = M_COUNTER, XT(log_suppressed), .unit = "events",
	  .help = "pkt.drop events held back by the rate limit (counted, "
		  "summed in the next one).",
	  .words = "drop events rate-limited", .comp = "LOG", .line = 4,
	  .cond = "log.open" },
	{ .key = "log.failed", .prom = "glassnat_log_failed_total",
	  .type = M_COUNTER, XT(log_failed), .unit = "events",
	  .help = "Events lost to write errors (a full disk); part of "
		  "log.lost.",
	  .words = "of them write errors", .comp = "LOG", .line = 4,
	  .flags = F_LOSS | F_NONZERO, .cond = "log.open" },
	{ .key = "log.table_full_suppressed",
	  .prom = "glassnat_log_table_full_suppressed_total",
	  .type = M_COUNTER, XT(table_full_suppressed), .unit = "events",
	  .help = "table.full events held back by the rate limit (counted, "
		  "summed in the next one).",
	  .words = "table.full events rate-limited", .comp = "LOG", .line = 4,
	  .flags = F_NONZERO, .cond = "log.open" },
	{ .key = "log.port_exhausted_suppressed",
	  .prom = "glassnat_log_port_exhausted_suppressed_total",
	  .type = M_COUNTER, XT(port_exhausted_suppressed), .unit = "events",
	  .help = "port.exhausted events held back by the rate limit "
		  "(counted, summed in the next one).",
	  .words = "port.exhausted events rate-limited", .comp = "LOG",
	  .line = 4, .flags = F_NONZERO, .cond = "log.open" },
	{ .key = "ipfix.open", .prom = "glassnat_ipfix_open", .type = M_BOOL,
	  XB(ipfix_open), .unit = "bool",
	  .help = "1 when NAT events are exported over IPFIX." },
	{ .key = "ipfix.sent", .prom = "glassnat_ipfix_records_sent_total",
	  .type = M_COUNTER, XT(ipfix_sent), .unit = "records",
	  .help = "IPFIX data records sent to the collector.",
	  .words = "IPFIX records sent", .comp = "IPFIX", .line = 6,
	  .cond = "ipfix.open" },
	{ .key = "ipfix.lost", .prom = "glassnat_ipfix_records_lost_total",
	  .type = M_COUNTER, XT(ipfix_lost), .unit = "records",
	  .help = "IPFIX records lost: the export queue was full.",
	  .words = "lost (queue full)", .comp = "IPFIX", .line = 6,
	  .flags = F_LOSS, .cond = "ipfix.open" },
	{ .key = "ipfix.failed", .prom = "glassnat_ipfix_records_failed_total",
	  .type = M_COUNTER, XT(ipfix_failed), .unit = "records",
	  .help = "IPFIX records lost: sending their message failed.",
	  .words = "lost (send errors)", .comp = "IPFIX", .line = 6,
	  .flags = F_LOSS, .cond = "ipfix.open" },
	{ .key = "ipfix.messages", .prom = "glassnat_ipfix_messages_total",
	  .type = M_COUNTER, XT(ipfix_messages), .unit = "messages",
	  .help = "IPFIX messages (UDP datagrams) sent.",
	  .words = "messages", .comp = "IPFIX", .line = 6,
	  .cond = "ipfix.open" },
	{ .key = "http.scrapes", .prom = "glassnat_metrics_scrapes_total",
	  .type = M_COUNTER, XT(metrics_scrapes), .unit = "requests",
	  .help = "Scrapes of /metrics answered (metrics.listen)." },
	{ .key = "control.requests",
	  .prom = "glassnat_control_requests_total", .type = M_COUNTER,
	  XT(ctl_requests), .unit = "requests",
	  .help = "Control requests answered.", .words = "Control requests",
	  .comp = "CONTROL", .line = 5 },
	{ .key = "control.errors", .prom = "glassnat_control_errors_total",
	  .label = "error", .type = M_COUNTER, .src = S_CTL_ERR,
	  .unit = "requests", .help = "Control requests refused, by error.",
	  .words = "refused", .comp = "CONTROL", .line = 5,
	  .flags = F_NONZERO },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Label values of a labelled array row: how many, and the i-th. */
static size_t row_width(const struct m_row *r)
{
	if (r->src == S_REASON)
		return NAT_R_MAX - 1;
	if (r->src == S_CTL_ERR)
		return NAT_CTL_E_MAX - 1;
	return 1;
}

static const char *row_lv(const struct m_row *r, size_t i)
{
	if (r->src == S_REASON)
		return nat_reason_name((enum nat_reason)(i + 1));
	if (r->src == S_CTL_ERR)
		return nat_ctl_error_name((enum nat_ctl_error)(i + 1));
	return r->lv;
}

static bool row_array(const struct m_row *r)
{
	return r->src == S_REASON || r->src == S_CTL_ERR;
}

size_t nat_metrics_count(void)
{
	size_t n = 0;
	for (size_t i = 0; i < NROWS; i++)
		n += row_width(&rows[i]);
	return n;
}

static uint64_t u64_at(const void *base, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

void nat_metrics_fill(struct nat_metrics *m, const struct nat_stats *st,
		      const struct nat_ctl_extra *x)
{
	size_t k = 0;
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		for (size_t j = 0; j < row_width(r) && k < NAT_METRICS_MAX;
		     j++, k++) {
			bool absent = false;
			uint64_t v = 0;
			switch (r->src) {
			case S_STATS:
				v = u64_at(st, r->off);
				break;
			case S_REASON:
				v = st->by_reason[j + 1];
				break;
			case S_EXTRA:
				absent = !x;
				v = x ? u64_at(x, r->off) : 0;
				break;
			case S_BOOL: {
				bool b = false;
				if (x)
					memcpy(&b, (const char *)x + r->off,
					       sizeof(b));
				absent = !x;
				v = b;
				break;
			}
			case S_CTL_ERR:
				absent = !x;
				v = x ? x->ctl_errors[j + 1] : 0;
				break;
			case S_BACKEND:
				absent = true;
				for (size_t b = 0; x && b < x->n_backend; b++)
					if (strcmp(x->backend[b].name,
						   r->bname) == 0) {
						v = x->backend[b].value;
						absent = false;
					}
				break;
			}
			m->v[k] = v;
			m->absent[k] = absent;
		}
	}
	m->n = (uint32_t)k;
	if (x)
		m->flow_duration = x->flow_duration;
}

int nat_metrics_index(const char *key, const char *label_value)
{
	size_t k = 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		size_t w = row_width(r);
		if (strcmp(r->key, key) != 0) {
			k += w;
			continue;
		}
		if (!row_array(r))
			return k < NAT_METRICS_MAX ? (int)k : -1;
		for (size_t j = 0; j < w; j++)
			if (label_value && strcmp(row_lv(r, j), label_value) == 0)
				return k + j < NAT_METRICS_MAX ? (int)(k + j)
							       : -1;
		return -1;
	}
	return -1;
}

/* Histogram bounds, seconds: a DNS lookup, a page, a download, an idle
 * TCP session and its 2h4m timeout. */
static const unsigned dur_le[NAT_METRICS_DUR_BUCKETS] = {
	1, 5, 10, 30, 60, 300, 1800, 7440, 86400
};

void nat_metrics_hist_add(struct nat_metrics_hist *h, uint64_t dur_ns)
{
	size_t b = 0;
	uint64_t s = dur_ns / 1000000000u;
	while (b < NAT_METRICS_DUR_BUCKETS &&
	       (s > dur_le[b] || (s == dur_le[b] && dur_ns % 1000000000u)))
		b++;
	h->bucket[b]++;
	h->count++;
	h->sum_ms += dur_ns / 1000000u;
}

/* ---- rendering ---- */

/* A bounded writer that still counts what it would need. */
struct wb {
	char *p;
	size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void wb_printf(struct wb *b,
							    const char *fmt,
							    ...)
{
	va_list ap;
	size_t room = b->n < b->cap ? b->cap - b->n : 0;
	va_start(ap, fmt);
	int k = vsnprintf(room ? b->p + b->n : NULL, room, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->n += (size_t)k;
}

static size_t wb_done(struct wb *b)
{
	if (b->cap)
		b->p[b->n < b->cap ? b->n : b->cap - 1] = '\0';
	return b->n;
}

/* The prefix of key before '.' (len 0: none) and the leaf after it. */
static size_t key_prefix(const char *key, const char **leaf)
{
	const char *dot = strchr(key, '.');
	*leaf = dot ? dot + 1 : key;
	return dot ? (size_t)(dot - key) : 0;
}

size_t nat_metrics_json(const struct nat_metrics *m, char *out, size_t cap)
{
	struct wb b = { out, 0, cap };
	const char *cur = "";
	size_t curlen = 0, k = 0;
	bool top_first = true, in_first = true;

	wb_printf(&b, "{");
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		const char *leaf;
		size_t plen = key_prefix(r->key, &leaf), w = row_width(r);
		if (plen != curlen || strncmp(r->key, cur, plen) != 0) {
			if (curlen)
				wb_printf(&b, "}");
			if (plen) {
				wb_printf(&b, "%s\"%.*s\":{", top_first ? "" : ",",
					  (int)plen, r->key);
				top_first = false;
				in_first = true;
			}
			cur = r->key;
			curlen = plen;
		}
		bool *first = curlen ? &in_first : &top_first;
		if (row_array(r)) {
			wb_printf(&b, "%s\"%s\":{", *first ? "" : ",", leaf);
			*first = false;
			bool f2 = true;
			for (size_t j = 0; j < w; j++, k++) {
				if (m->absent[k])
					continue;
				wb_printf(&b, "%s\"%s\":%llu", f2 ? "" : ",",
					  row_lv(r, j),
					  (unsigned long long)m->v[k]);
				f2 = false;
			}
			wb_printf(&b, "}");
			continue;
		}
		if (!m->absent[k]) {
			if (r->type == M_BOOL)
				wb_printf(&b, "%s\"%s\":%s", *first ? "" : ",",
					  leaf, m->v[k] ? "true" : "false");
			else
				wb_printf(&b, "%s\"%s\":%llu",
					  *first ? "" : ",", leaf,
					  (unsigned long long)m->v[k]);
			*first = false;
		}
		k++;
	}
	if (curlen)
		wb_printf(&b, "}");
	const struct nat_metrics_hist *h = &m->flow_duration;
	wb_printf(&b, "%s\"flow_duration\":{\"count\":%llu,\"sum_ms\":%llu,"
		  "\"buckets\":[",
		  top_first ? "" : ",", (unsigned long long)h->count,
		  (unsigned long long)h->sum_ms);
	for (size_t i = 0; i <= NAT_METRICS_DUR_BUCKETS; i++)
		wb_printf(&b, "%s%llu", i ? "," : "",
			  (unsigned long long)h->bucket[i]);
	wb_printf(&b, "]}}");
	return wb_done(&b);
}

void nat_metrics_from_json(struct nat_metrics *m, json_t *o)
{
	size_t k = 0;
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		const char *leaf;
		size_t plen = key_prefix(r->key, &leaf);
		json_t *parent = o;
		if (plen) {
			char pre[32];
			snprintf(pre, sizeof(pre), "%.*s", (int)plen, r->key);
			parent = json_object_get(o, pre);
		}
		json_t *v = json_object_get(parent, leaf);
		for (size_t j = 0; j < row_width(r) && k < NAT_METRICS_MAX;
		     j++, k++) {
			json_t *e = row_array(r) ? json_object_get(v, row_lv(r, j))
						 : v;
			if (json_is_integer(e))
				m->v[k] = (uint64_t)json_integer_value(e);
			else if (json_is_boolean(e))
				m->v[k] = json_is_true(e);
			else
				m->absent[k] = 1;
		}
	}
	m->n = (uint32_t)k;
	json_t *h = json_object_get(o, "flow_duration");
	m->flow_duration.count =
		(uint64_t)json_integer_value(json_object_get(h, "count"));
	m->flow_duration.sum_ms =
		(uint64_t)json_integer_value(json_object_get(h, "sum_ms"));
	json_t *bk = json_object_get(h, "buckets");
	for (size_t i = 0; i <= NAT_METRICS_DUR_BUCKETS; i++)
		m->flow_duration.bucket[i] =
			(uint64_t)json_integer_value(json_array_get(bk, i));
}

static const char *type_name(enum m_type t)
{
	return t == M_COUNTER ? "counter" : "gauge";
}

/* The help of a family: the first row of it that has one. */
static const char *family_help(size_t i)
{
	while (i > 0 && strcmp(rows[i - 1].prom, rows[i].prom) == 0)
		i--;
	for (size_t j = i; j < NROWS && strcmp(rows[j].prom, rows[i].prom) == 0;
	     j++)
		if (rows[j].help)
			return rows[j].help;
	return "";
}

size_t nat_metrics_prometheus(const struct nat_metrics *m, char *out,
			      size_t cap)
{
	struct wb b = { out, 0, cap };
	const char *last = "";
	size_t k = 0;

	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		size_t w = row_width(r);
		for (size_t j = 0; j < w; j++, k++) {
			if (m->absent[k])
				continue;
			if (strcmp(last, r->prom) != 0) {
				wb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n",
					  r->prom, family_help(i), r->prom,
					  type_name(r->type));
				last = r->prom;
			}
			const char *lv = row_lv(r, j);
			if (lv)
				wb_printf(&b, "%s{%s=\"%s\"} %llu\n", r->prom,
					  r->label, lv,
					  (unsigned long long)m->v[k]);
			else
				wb_printf(&b, "%s %llu\n", r->prom,
					  (unsigned long long)m->v[k]);
		}
	}
	const struct nat_metrics_hist *h = &m->flow_duration;
	const char *hn = "glassnat_flow_duration_seconds";
	uint64_t cum = 0;
	wb_printf(&b,
		  "# HELP %s How long flows lived, open to close.\n"
		  "# TYPE %s histogram\n",
		  hn, hn);
	for (size_t i = 0; i < NAT_METRICS_DUR_BUCKETS; i++) {
		cum += h->bucket[i];
		wb_printf(&b, "%s_bucket{le=\"%u\"} %llu\n", hn, dur_le[i],
			  (unsigned long long)cum);
	}
	cum += h->bucket[NAT_METRICS_DUR_BUCKETS];
	wb_printf(&b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu.%03llu\n"
		  "%s_count %llu\n",
		  hn, (unsigned long long)cum, hn,
		  (unsigned long long)(h->sum_ms / 1000),
		  (unsigned long long)(h->sum_ms % 1000), hn,
		  (unsigned long long)h->count);
	return wb_done(&b);
}

/* One text line being built: its component and whether it shows a loss. */
struct tline {
	char buf[512];
	struct wb b;
	const char *comp;
	bool warn, any;
};

static void tline_start(struct tline *t, const char *comp)
{
	t->b = (struct wb){ t->buf, 0, sizeof(t->buf) };
	wb_printf(&t->b, "  ");
	t->comp = comp;
	t->warn = t->any = false;
}

static void tline_add(struct tline *t, const struct m_row *r, const char *lv,
		      uint64_t v)
{
	unsigned long long u = (unsigned long long)v;
	if (r->flags & F_QUALIF)
		wb_printf(&t->b, " (%s %llu)", r->words, u);
	else if (lv)
		wb_printf(&t->b, "%s%s %s: %llu", t->any ? ", " : "", r->words,
			  lv, u);
	else
		wb_printf(&t->b, "%s%s: %llu", t->any ? ", " : "", r->words, u);
	t->any = true;
	if ((r->flags & F_LOSS) && v)
		t->warn = true;
}

static void tline_end(struct tline *t,
		      void (*fn)(void *, const char *, bool, const char *),
		      void *ctx)
{
	if (t->any) {
		wb_done(&t->b);
		fn(ctx, t->comp, t->warn, t->buf);
	}
	t->any = false;
}

void nat_metrics_text(const struct nat_metrics *m,
		      void (*fn)(void *ctx, const char *comp, bool warn,
				 const char *line),
		      void *ctx)
{
	struct tline t;
	unsigned cur_line = 0;
	size_t k = 0;

	tline_start(&t, "MAIN");
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		size_t w = row_width(r);
		bool shown = r->words != NULL;
		if (shown && r->cond) {
			int c = nat_metrics_index(r->cond, NULL);
			shown = c >= 0 && !m->absent[c] && m->v[c];
		}
		if (!shown) {
			k += w;
			continue;
		}
		if (!r->line || r->line != cur_line) {
			tline_end(&t, fn, ctx);
			tline_start(&t, r->comp);
			cur_line = r->line;
		}
		for (size_t j = 0; j < w; j++, k++) {
			if (m->absent[k] || ((r->flags & F_NONZERO) && !m->v[k]))
				continue;
			if (!r->line && t.any) {
				tline_end(&t, fn, ctx);
				tline_start(&t, r->comp);
			}
			tline_add(&t, r, row_array(r) ? row_lv(r, j) : NULL,
				  m->v[k]);
		}
	}
	tline_end(&t, fn, ctx);
}

size_t nat_metrics_doc(char *out, size_t cap)
{
	struct wb b = { out, 0, cap };
	wb_printf(&b, "| key (`stats --json`) | Prometheus | type | unit | "
		      "meaning |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < NROWS; i++) {
		const struct m_row *r = &rows[i];
		char lab[64] = "";
		if (r->lv)
			snprintf(lab, sizeof(lab), "{%s=\"%s\"}", r->label,
				 r->lv);
		else if (r->label)
			snprintf(lab, sizeof(lab), "{%s}", r->label);
		wb_printf(&b, "| `%s` | `%s%s` | %s | %s | %s |\n", r->key,
			  r->prom, lab,
			  r->type == M_BOOL ? "gauge (0/1)" : type_name(r->type),
			  r->unit, family_help(i));
	}
	return wb_done(&b);
}
