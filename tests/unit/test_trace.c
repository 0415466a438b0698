/* The packet tracer: engine traffic hooked into trace/, then the ring files
 * read back three ways (our decompress + capture reader, `zstd -t`, tshark)
 * and compared with what the test itself expected, packet by packet. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "capture.h"
#include "config.h"
#include "engine.h"
#include "packet.h"
#include "pktbuild.h"
#include "select.h"
#include "tracer.h"

#define NAT	IP4(203, 0, 113, 1)
#define IN1	IP4(172, 17, 240, 21)
#define IN2	IP4(172, 17, 240, 22)
#define R1	IP4(198, 51, 100, 10)
#define R2	IP4(198, 51, 100, 20)
#define HOSTNET IP4(192, 0, 2, 100)
#define S	(1000000000ull)

static struct nat_rule_cfg g_rules[4];
static struct nat_forward_cfg g_fwd[2];
static struct nat_config g_cfg;
static char g_dir[64];

static void setup(void)
{
	nat_config_defaults(&g_cfg);
	memset(g_rules, 0, sizeof g_rules);
	memset(g_fwd, 0, sizeof g_fwd);
	g_cfg.nat_ip = NAT;
	g_cfg.internal.addr = IP4(172, 17, 240, 0);
	g_cfg.internal.len = 24;
	/* 192.0.2.0/24 bypassed, the rest translated */
	g_rules[0] = (struct nat_rule_cfg){ .action = NAT_ACT_BYPASS,
					    .dst = { IP4(192, 0, 2, 0), 24 } };
	snprintf(g_rules[0].name, NAT_NAME_MAX, "host network");
	g_rules[1] = (struct nat_rule_cfg){ .action = NAT_ACT_NAT };
	snprintf(g_rules[1].name, NAT_NAME_MAX, "internet");
	g_cfg.rules = g_rules;
	g_cfg.n_rules = 2;
	g_fwd[0] = (struct nat_forward_cfg){
		.proto = 6, .ext_port = 8080, .int_ip = IN1, .int_port = 80
	};
	snprintf(g_fwd[0].name, NAT_NAME_MAX, "Web Server");
	g_cfg.forwards = g_fwd;
	g_cfg.n_forwards = 1;
	g_cfg.limits.max_flows = 1024;
	g_cfg.trace.file_size = 64u << 20;
	g_cfg.trace.files = 8;
	g_cfg.trace.queue = 4096;
	snprintf(g_dir, sizeof g_dir, "/tmp/glassnat-trace-test.XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(trace, .init = setup, .fini = teardown, .timeout = 60);

/* ---- driving the engine ---- */

struct rig {
	struct nat_engine *e;
	struct tracer *t;
	struct trace_engine_ctx ctx;
	uint64_t selected, lost, written, failed; /* at close */
};

static void rig_open(struct rig *g, const char *filter,
		     const struct trace_opts *opts)
{
	char err[256];
	g->e = nat_engine_create(&g_cfg, err, sizeof err);
	cr_assert_not_null(g->e, "engine: %s", err);
	g->t = trace_open_opts(&g_cfg.trace, g_dir, filter, opts, err,
			       sizeof err);
	cr_assert_not_null(g->t, "trace_open: %s", err);
	g->ctx = (struct trace_engine_ctx){ g->t, g->e };
	struct nat_hooks h = { .ctx = &g->ctx, .packet = trace_hook };
	nat_engine_set_hooks(g->e, &h);
}

static void rig_close(struct rig *g)
{
	trace_sync(g->t);
	g->selected = trace_selected(g->t);
	g->lost = trace_lost(g->t);
	g->written = trace_written(g->t);
	g->failed = trace_failed(g->t);
	trace_close(g->t);
	nat_engine_destroy(g->e);
}

/* What the test expects in the files, computed here from the packets and
 * the results (not by the code under test). */
#define MAX_X 1024
struct expect {
	uint8_t pre[128], post[128];
	size_t len;
	bool pair;
	uint32_t flags;
	char c_pre[1024], c_post[1024];
};
static struct expect g_x[MAX_X];
static size_t g_nx;
static uint8_t buf[2048];

/* The rule value as the format promises it; the test's names only need
 * spaces escaped. */
static const char *x_rule(const struct nat_result *r, char *tmp, size_t n)
{
	if (r->rule == NAT_RULE_NONE)
		return "";
	const char *name = r->forward ? g_fwd[r->rule].name
				      : g_rules[r->rule].name;
	size_t o = (size_t)snprintf(tmp, n, " rule=%s",
				    r->forward ? "forward:" : "");
	for (; *name && o + 4 < n; name++) {
		if (*name == ' ')
			o += (size_t)snprintf(tmp + o, n - o, "%%20");
		else
			tmp[o++] = *name;
	}
	tmp[o] = '\0';
	return tmp;
}

static struct nat_result push(struct rig *g, size_t len, enum nat_dir d,
			      uint64_t ts, bool expect_traced)
{
	struct nat_meta m = { .dir = d, .ts_ns = ts };
	struct nat_result r;
	struct expect x = { .len = len };
	memcpy(x.pre, buf, len);
	nat_process(g->e, buf, len, &m, &r);
	if (!expect_traced)
		return r;
	cr_assert_lt(g_nx, MAX_X);
	memcpy(x.post, buf, len);
	x.pair = r.verdict != NAT_V_DROP;
	x.flags = r.dir == NAT_DIR_OUT ? 2 : r.dir == NAT_DIR_IN ? 1 : 0;
	char rule[128], reason[64] = "", hp[16] = "", map[64] = "";
	if (r.reason != NAT_R_NONE)
		snprintf(reason, sizeof reason, " reason=%s",
			 nat_reason_name(r.reason));
	if (r.hairpin)
		snprintf(hp, sizeof hp, " hairpin=1");
	const char *dn = r.dir == NAT_DIR_OUT  ? "out"
			 : r.dir == NAT_DIR_IN ? "in"
					       : "unknown";
	const char *rl = x_rule(&r, rule, sizeof rule);
	if (r.verdict == NAT_V_NAT) {
		const uint8_t *p = r.dir == NAT_DIR_OUT ? x.post : x.pre;
		uint32_t ip = r.dir == NAT_DIR_OUT ? tb_src(p) : tb_dst(p);
		uint16_t port = p[9] == 1	       ? tb_echo_id(p)
				: r.dir == NAT_DIR_OUT ? tb_sport(p)
						       : tb_dport(p);
		snprintf(map, sizeof map, " map=%u.%u.%u.%u:%u", ip >> 24,
			 (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port);
	}
	snprintf(x.c_pre, sizeof x.c_pre,
		 "flow=%llu stage=pre dir=%s verdict=%s%s%s%s",
		 (unsigned long long)r.flow_id, dn, nat_verdict_name(r.verdict),
		 reason, rl, hp);
	snprintf(x.c_post, sizeof x.c_post,
		 "flow=%llu stage=post dir=%s verdict=%s%s%s%s%s",
		 (unsigned long long)r.flow_id, dn, nat_verdict_name(r.verdict),
		 reason, rl, hp, map);
	g_x[g_nx++] = x;
	return r;
}

/* ---- reading the ring back ---- */

struct got {
	uint32_t ifindex, flags, caplen;
	char ifname[32];
	char comment[256];
	uint8_t data[256];
};
#define MAX_GOT 16384
static struct got g_got[MAX_GOT];
static size_t g_ngot;

static char g_files[64][512];
static size_t g_nfiles;

static int is_ring(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return !strncmp(d->d_name, "glassnat-", 9) && n > 11 &&
	       !strcmp(d->d_name + n - 11, ".pcapng.zst");
}

static void list_files(void)
{
	struct dirent **ents;
	int n = scandir(g_dir, &ents, is_ring, alphasort);
	cr_assert_geq(n, 0);
	cr_assert_leq(n, 64);
	g_nfiles = (size_t)n;
	for (int i = 0; i < n; i++) {
		snprintf(g_files[i], sizeof g_files[i], "%s/%s", g_dir,
			 ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	uint8_t *b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Decompresses a ring file. A closed file (open == false) must be exactly
 * one complete zstd frame; a file still being written must be one frame
 * not yet ended, decoded up to its last flush. */
static uint8_t *unzstd(const char *path, size_t *out_len, bool open)
{
	size_t n;
	uint8_t *z = slurp(path, &n);
	size_t cap = 1 << 20, o = 0;
	uint8_t *out = malloc(cap);
	size_t fs = ZSTD_findFrameCompressedSize(z, n);
	if (open)
		cr_assert(ZSTD_isError(fs), "%s: the open file's frame ended",
			  path);
	else
		cr_assert_eq(fs, n, "%s: not one zstd frame: %s", path,
			     ZSTD_isError(fs) ? ZSTD_getErrorName(fs)
					      : "more follows the first");
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer in = { z, n, 0 };
	size_t left = 0;
	for (;;) {
		if (cap - o < ZSTD_DStreamOutSize()) {
			cap *= 2;
			out = realloc(out, cap);
		}
		ZSTD_outBuffer ob = { out + o, cap - o, 0 };
		left = ZSTD_decompressStream(d, &ob, &in);
		cr_assert(!ZSTD_isError(left), "%s: %s", path,
			  ZSTD_getErrorName(left));
		o += ob.pos;
		if (in.pos == in.size && ob.pos < ob.size)
			break;
	}
	if (!open)
		cr_assert_eq(left, 0, "%s ends inside a frame", path);
	ZSTD_freeDCtx(d);
	free(z);
	*out_len = o;
	return out;
}

/* Appends every packet of one file (closed, or open: up to its last
 * flush) to g_got; checks the section layout. */
static size_t read_file_as(const char *path, bool open)
{
	size_t len;
	uint8_t *raw = unzstd(path, &len, open);
	struct cap_mem mem;
	struct cap_source src;
	char err[CAP_ERRBUF_SIZE];
	cap_source_mem(&src, &mem, raw, len);
	struct cap_reader *r = cap_open(&src, err, sizeof err);
	cr_assert_not_null(r, "%s: %s", path, err);
	cr_assert_eq(cap_format(r), CAP_PCAPNG);
	struct cap_packet p;
	int rc;
	size_t n = 0;
	while ((rc = cap_next(r, &p, err, sizeof err)) == 1) {
		cr_assert_lt(g_ngot, MAX_GOT);
		struct got *g = &g_got[g_ngot++];
		g->ifindex = p.ifindex;
		g->flags = (p.has & CAP_HAS_FLAGS) ? p.flags : 0;
		g->caplen = p.caplen;
		snprintf(g->ifname, sizeof g->ifname, "%s",
			 p.if_name ? p.if_name : "");
		snprintf(g->comment, sizeof g->comment, "%s",
			 p.comment ? p.comment : "");
		memcpy(g->data, p.data, p.caplen < 256 ? p.caplen : 256);
		cr_assert_eq(p.linktype, 101, "linktype %u", p.linktype);
		cr_assert_eq(p.section, 0, "%s: more than one section", path);
		cr_assert_eq(cap_iface_count(r), 2);
		n++;
	}
	cr_assert_eq(rc, 0, "%s: %s", path, err);
	cap_close(r);
	free(raw);
	return n;
}

static size_t read_file(const char *path)
{
	return read_file_as(path, false);
}

static void read_all(void)
{
	g_ngot = 0;
	list_files();
	for (size_t i = 0; i < g_nfiles; i++)
		read_file(g_files[i]);
}

/* The files hold exactly g_x, in order. */
static void check_against_expected(void)
{
	read_all();
	size_t k = 0;
	for (size_t i = 0; i < g_nx; i++) {
		const struct expect *x = &g_x[i];
		cr_assert_lt(k, g_ngot, "expected record %zu (%s) missing", i,
			     x->c_pre);
		struct got *a = &g_got[k++];
		cr_assert_eq(a->ifindex, 0, "record %zu: pre not on IDB 0", i);
		cr_assert_str_eq(a->ifname, "pre-nat");
		cr_assert_str_eq(a->comment, x->c_pre,
				 "record %zu: got [%s] want [%s]", i,
				 a->comment, x->c_pre);
		cr_assert_eq(a->flags, x->flags, "record %zu flags", i);
		cr_assert_eq(a->caplen, x->len);
		cr_assert(!memcmp(a->data, x->pre, x->len),
			  "record %zu: pre bytes differ", i);
		if (!x->pair)
			continue;
		cr_assert_lt(k, g_ngot, "record %zu: post missing", i);
		struct got *b = &g_got[k++];
		cr_assert_eq(b->ifindex, 1, "record %zu: post not on IDB 1", i);
		cr_assert_str_eq(b->ifname, "post-nat");
		cr_assert_str_eq(b->comment, x->c_post,
				 "record %zu: got [%s] want [%s]", i,
				 b->comment, x->c_post);
		cr_assert_eq(b->flags, x->flags);
		cr_assert(!memcmp(b->data, x->post, x->len),
			  "record %zu: post bytes differ", i);
	}
	cr_assert_eq(k, g_ngot, "%zu packets in the files, %zu expected",
		     g_ngot, k);
}

static size_t expected_epbs(void)
{
	size_t n = 0;
	for (size_t i = 0; i < g_nx; i++)
		n += g_x[i].pair ? 2 : 1;
	return n;
}

/* ---- tests ---- */

static void mixed_traffic(struct rig *g)
{
	struct nat_result r;
	/* TCP out and back */
	size_t n = tb_tcp(buf, IN1, 5000, R1, 80, NAT_TCP_SYN, 0);
	r = push(g, n, NAT_DIR_OUT, 1 * S, true);
	cr_assert_eq(r.verdict, NAT_V_NAT);
	n = tb_tcp(buf, R1, 80, NAT, 5000, NAT_TCP_SYN | NAT_TCP_ACK, 0);
	cr_assert_eq(push(g, n, NAT_DIR_IN, 2 * S, true).verdict, NAT_V_NAT);
	/* UDP out and back */
	n = tb_udp(buf, IN2, 5353, R2, 53, 20);
	push(g, n, NAT_DIR_OUT, 3 * S, true);
	n = tb_udp(buf, R2, 53, NAT, 5353, 40);
	push(g, n, NAT_DIR_IN, 4 * S, true);
	/* ICMP echo */
	n = tb_echo(buf, 8, IN1, R1, 77, 1);
	push(g, n, NAT_DIR_OUT, 5 * S, true);
	n = tb_echo(buf, 0, R1, NAT, 77, 1);
	push(g, n, NAT_DIR_IN, 6 * S, true);
	/* unsolicited inbound: dropped, traced once */
	n = tb_udp(buf, R2, 999, NAT, 40999, 4);
	r = push(g, n, NAT_DIR_IN, 7 * S, true);
	cr_assert_eq(r.verdict, NAT_V_DROP);
	cr_assert_eq(r.reason, NAT_R_NO_MAPPING);
	/* bypass, port forward, hairpin */
	n = tb_tcp(buf, IN1, 5555, HOSTNET, 22, NAT_TCP_SYN, 0);
	cr_assert_eq(push(g, n, NAT_DIR_OUT, 8 * S, true).verdict,
		     NAT_V_BYPASS);
	n = tb_tcp(buf, R2, 7000, NAT, 8080, NAT_TCP_SYN, 0);
	r = push(g, n, NAT_DIR_IN, 9 * S, true);
	cr_assert(r.forward);
	n = tb_tcp(buf, IN2, 6000, NAT, 8080, NAT_TCP_SYN, 0);
	r = push(g, n, NAT_DIR_OUT, 10 * S, true);
	cr_assert(r.hairpin);
}

Test(trace, pairs_written_with_interfaces_flags_and_comments)
{
	struct rig g;
	g_nx = 0;
	rig_open(&g, NULL, NULL);
	mixed_traffic(&g);
	rig_close(&g);
	check_against_expected();
	/* Spot-check the documented forms literally. */
	cr_assert_str_eq(g_x[0].c_pre,
			 "flow=1 stage=pre dir=out verdict=nat rule=internet");
	cr_assert_str_eq(g_x[0].c_post, "flow=1 stage=post dir=out verdict=nat "
					"rule=internet map=203.0.113.1:5000");
	cr_assert_str_eq(g_got[12].comment,
			 "flow=0 stage=pre dir=in verdict=drop "
			 "reason=no_mapping");
	cr_assert_str_eq(g_got[13].comment,
			 "flow=4 stage=pre dir=out verdict=bypass "
			 "rule=host%20network");
	cr_assert(strstr(g_got[15].comment, "rule=forward:Web%20Server"), "%s",
		  g_got[15].comment);
	cr_assert(strstr(g_got[17].comment, "hairpin=1"), "%s",
		  g_got[17].comment);
	cr_assert(strstr(g_got[18].comment, "hairpin=1 map=203.0.113.1:6000"),
		  "%s", g_got[18].comment);
	cr_assert_eq(g.selected, expected_epbs());
	cr_assert_eq(g.written, g.selected);
	cr_assert_eq(g.lost + g.failed, 0);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

Test(trace, files_pass_zstd_test_and_tshark_reads_pairs)
{
	struct rig g;
	g_nx = 0;
	rig_open(&g, NULL, NULL);
	mixed_traffic(&g);
	rig_close(&g);
	list_files();
	cr_assert_eq(g_nfiles, 1);
	cr_assert_eq(run("zstd -q -t '%s'", g_files[0]), 0, "zstd -t failed");
	if (run("command -v tshark >/dev/null") != 0)
		cr_skip_test("tshark not installed");
	char out[600];
	snprintf(out, sizeof out, "%s/tshark.txt", g_dir);
	cr_assert_eq(run("tshark -r '%s' -T fields -E separator='|' "
			 "-e frame.interface_name "
			 "-e frame.packet_flags_direction -e frame.comment "
			 "> '%s' 2>/dev/null",
			 g_files[0], out),
		     0, "tshark failed to read %s", g_files[0]);
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	char line[512];
	size_t i = 0, k = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		cr_assert_lt(i, g_nx);
		const struct expect *x = &g_x[i];
		char want[600];
		bool post = k == 1;
		snprintf(want, sizeof want, "%s|0x%08x|%s",
			 post ? "post-nat" : "pre-nat", x->flags,
			 post ? x->c_post : x->c_pre);
		cr_assert_str_eq(line, want,
				 "tshark line %zu: got [%s] want [%s]", i, line,
				 want);
		if (x->pair && k == 0) {
			k = 1;
		} else {
			k = 0;
			i++;
		}
	}
	fclose(f);
	cr_assert_eq(i, g_nx, "tshark listed %zu records of %zu", i, g_nx);
}

Test(trace, bpf_matches_either_side_and_traces_whole_pair)
{
	struct rig g;
	g_nx = 0;
	/* The translated address appears only after outbound translation and
	 * only before inbound translation. */
	rig_open(&g, "host 203.0.113.1", NULL);
	size_t n = tb_udp(buf, IN1, 4000, R1, 53, 8);
	push(&g, n, NAT_DIR_OUT, 1 * S, true);
	n = tb_udp(buf, R1, 53, NAT, 4000, 8);
	push(&g, n, NAT_DIR_IN, 2 * S, true);
	/* bypassed: never carries the NAT address */
	n = tb_udp(buf, IN1, 4001, HOSTNET, 53, 8);
	push(&g, n, NAT_DIR_OUT, 3 * S, false);
	rig_close(&g);
	check_against_expected();
	cr_assert_eq(g_ngot, 4);
	cr_assert_neq(tb_src(g_got[0].data), NAT, "pre of outbound has NAT");
	cr_assert_neq(tb_dst(g_got[3].data), NAT, "post of inbound has NAT");
}

Test(trace, selection_sticky_per_flow)
{
	struct rig g;
	g_nx = 0;
	/* Only SYNs match; a flow opened by a SYN is traced in full, a flow
	 * first seen without one is never traced, even when it sends a SYN. */
	rig_open(&g, "tcp[tcpflags] & tcp-syn != 0", NULL);
	size_t n = tb_tcp(buf, IN1, 7001, R1, 80, NAT_TCP_SYN, 0);
	push(&g, n, NAT_DIR_OUT, 1 * S, true);
	n = tb_tcp(buf, R1, 80, NAT, 7001, NAT_TCP_ACK, 0);
	push(&g, n, NAT_DIR_IN, 2 * S, true);
	n = tb_tcp(buf, IN1, 7001, R1, 80, NAT_TCP_ACK, 10);
	push(&g, n, NAT_DIR_OUT, 3 * S, true);
	n = tb_tcp(buf, IN2, 7002, R1, 80, NAT_TCP_ACK, 10);
	push(&g, n, NAT_DIR_OUT, 4 * S, false);
	n = tb_tcp(buf, IN2, 7002, R1, 80, NAT_TCP_SYN, 0);
	push(&g, n, NAT_DIR_OUT, 5 * S, false);
	rig_close(&g);
	check_against_expected();
	cr_assert_eq(g_ngot, 6);
}

Test(trace, max_packets_per_flow_caps_pairs)
{
	struct rig g;
	g_nx = 0;
	g_cfg.trace.max_packets_per_flow = 3;
	rig_open(&g, NULL, NULL);
	for (int i = 0; i < 10; i++) {
		size_t n = tb_udp(buf, IN1, 6000, R1, 53, (size_t)i);
		push(&g, n, NAT_DIR_OUT, (uint64_t)i * S, i < 3);
	}
	for (int i = 0; i < 2; i++) {
		size_t n = tb_udp(buf, IN2, 6000, R1, 53, 1);
		push(&g, n, NAT_DIR_OUT, 20 * S, true);
	}
	/* the reply side counts against the same flow */
	size_t n = tb_udp(buf, R1, 53, NAT, 6000, 1);
	push(&g, n, NAT_DIR_IN, 30 * S, false);
	rig_close(&g);
	check_against_expected();
	cr_assert_eq(g.selected, 10);
}

Test(trace, set_filter_decides_flows_afresh)
{
	struct rig g;
	char err[256];
	g_nx = 0;
	rig_open(&g, "udp", NULL);
	size_t n = tb_udp(buf, IN1, 6100, R1, 53, 1);
	push(&g, n, NAT_DIR_OUT, 1 * S, true);
	n = tb_tcp(buf, IN1, 6101, R1, 80, NAT_TCP_SYN, 0);
	push(&g, n, NAT_DIR_OUT, 2 * S, false);
	cr_assert_eq(trace_set_filter(g.t, "tcp and (", err, sizeof err), -1);
	cr_assert(strstr(err, "tcp and ("), "error lacks expression: %s", err);
	n = tb_udp(buf, IN1, 6100, R1, 53, 1); /* old filter still on */
	push(&g, n, NAT_DIR_OUT, 3 * S, true);
	cr_assert_eq(trace_set_filter(g.t, "tcp", err, sizeof err), 0, "%s",
		     err);
	n = tb_udp(buf, IN1, 6100, R1, 53, 1);
	push(&g, n, NAT_DIR_OUT, 4 * S, false);
	n = tb_tcp(buf, IN1, 6101, R1, 80, NAT_TCP_ACK, 0);
	push(&g, n, NAT_DIR_OUT, 5 * S, true);
	trace_set_enabled(g.t, false);
	n = tb_tcp(buf, IN1, 6101, R1, 80, NAT_TCP_ACK, 0);
	push(&g, n, NAT_DIR_OUT, 6 * S, false);
	trace_set_enabled(g.t, true);
	n = tb_tcp(buf, IN1, 6101, R1, 80, NAT_TCP_ACK, 0);
	push(&g, n, NAT_DIR_OUT, 7 * S, true);
	rig_close(&g);
	check_against_expected();
}

Test(trace, bad_bpf_and_unusable_dir_refused_at_open)
{
	char err[256];
	struct tracer *t = trace_open(&g_cfg.trace, g_dir, "host nosuch((", err,
				      sizeof err);
	cr_assert_null(t);
	cr_assert(strstr(err, "'host nosuch(('"), "%s", err);
	t = trace_open(&g_cfg.trace, "/proc/glassnat/trace", NULL, err,
		       sizeof err);
	cr_assert_null(t);
	cr_assert(strstr(err, "/proc/glassnat/trace"), "%s", err);
}

Test(trace, missing_dir_created_0750)
{
	char err[256], dir[128];
	snprintf(dir, sizeof dir, "%s/sub", g_dir);
	mode_t old = umask(022);
	struct tracer *t = trace_open(&g_cfg.trace, dir, NULL, err, sizeof err);
	umask(old);
	cr_assert_not_null(t, "%s", err);
	trace_close(t);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0750, "mode %o", st.st_mode & 0777);
}

Test(trace, utf8_rule_name_encoded_in_comment)
{
	struct rig g;
	g_nx = 0;
	snprintf(g_rules[1].name, NAT_NAME_MAX, "인터넷 전용=1");
	rig_open(&g, NULL, NULL);
	size_t n = tb_udp(buf, IN1, 6200, R1, 53, 1);
	push(&g, n, NAT_DIR_OUT, 1 * S, true);
	rig_close(&g);
	read_all();
	cr_assert_eq(g_ngot, 2);
	cr_assert_str_eq(g_got[0].comment,
			 "flow=1 stage=pre dir=out verdict=nat "
			 "rule=인터넷%20전용%3D1");
}

/* Seq number of a ring file name: glassnat-<stamp>-<seq>.pcapng.zst */
static unsigned seq_of(const char *path)
{
	const char *e = strstr(path, ".pcapng.zst");
	cr_assert_not_null(e);
	return (unsigned)strtoul(e - 6, NULL, 10);
}

Test(trace, rotation_by_size_keeps_newest_files)
{
	struct rig g;
	g_nx = 0;
	g_cfg.trace.file_size = 8192;
	g_cfg.trace.files = 3;
	rig_open(&g, NULL, NULL);
	/* Payload lengths vary so the stream does not compress to nothing. */
	for (int i = 0; i < 6000; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(1000 + i % 50), R1, 53,
				  (size_t)(i * 37 % 200));
		push(&g, n, NAT_DIR_OUT, (uint64_t)i * 1000, false);
	}
	rig_close(&g);
	cr_assert_eq(g.written, 12000);
	list_files();
	cr_assert_eq(g_nfiles, 3, "%zu files kept, bound is 3", g_nfiles);
	size_t got = 0;
	g_ngot = 0;
	for (size_t i = 0; i < g_nfiles; i++) {
		cr_assert_eq(run("zstd -q -t '%s'", g_files[i]), 0, "%s",
			     g_files[i]);
		got += read_file(g_files[i]);
		struct stat st;
		cr_assert_eq(stat(g_files[i], &st), 0);
		if (i + 1 < g_nfiles)
			cr_assert_geq((uint64_t)st.st_size, 8192,
				      "%s rotated at %lld bytes", g_files[i],
				      (long long)st.st_size);
		if (i)
			cr_assert_eq(seq_of(g_files[i]),
				     seq_of(g_files[i - 1]) + 1,
				     "kept files are not the newest in a row");
	}
	cr_assert_gt(seq_of(g_files[0]), 1,
		     "the oldest files were not removed");
	cr_assert_lt(got, 12000);
	cr_assert_eq(got % 2, 0, "a pair was split across files");
	/* the newest file ends with the last packet */
	const struct got *last = &g_got[g_ngot - 1];
	cr_assert(strstr(last->comment, "stage=post"));
	cr_assert_eq(last->caplen, 20 + 8 + (size_t)(5999 * 37 % 200));
}

Test(trace, slow_writer_tiny_queue_loses_counted_never_blocks)
{
	struct rig g;
	struct nat_engine *ref;
	char err[256];
	g_nx = 0;
	g_cfg.trace.queue = 2; /* 3200 bytes */
	struct trace_opts o = { .test_delay_us = 300 };
	rig_open(&g, NULL, &o);
	ref = nat_engine_create(&g_cfg, err, sizeof err);
	cr_assert_not_null(ref);
	uint8_t copy[2048];
	size_t offered = 0;
	for (int i = 0; i < 3000; i++) {
		size_t n =
			i % 3 ? tb_udp(buf, IN1, (uint16_t)(2000 + i % 40), R1,
				       53, (size_t)(i % 100))
			      : tb_udp(buf, R2, 53, NAT, 50000, 4); /* drop */
		enum nat_dir d = i % 3 ? NAT_DIR_OUT : NAT_DIR_IN;
		memcpy(copy, buf, n);
		struct nat_meta m = { .dir = d, .ts_ns = (uint64_t)i };
		struct nat_result r1, r2;
		nat_process(g.e, buf, n, &m, &r1);
		nat_process(ref, copy, n, &m, &r2);
		cr_assert_eq(r1.verdict, r2.verdict, "packet %d", i);
		cr_assert_eq(r1.reason, r2.reason, "packet %d", i);
		cr_assert(!memcmp(buf, copy, n),
			  "packet %d rewritten differently", i);
		offered += r1.verdict == NAT_V_DROP ? 1 : 2;
	}
	nat_engine_destroy(ref);
	rig_close(&g);
	cr_assert_eq(g.selected, offered);
	cr_assert_gt(g.lost, 0,
		     "a 3200-byte queue behind a slow writer lost "
		     "nothing");
	cr_assert_gt(g.written, 0);
	cr_assert_eq(g.failed, 0);
	cr_assert_eq(g.lost, g.selected - g.written);
	read_all();
	cr_assert_eq(g_ngot, g.written);
}

Test(trace, flushed_within_a_second_while_idle)
{
	struct rig g;
	g_nx = 0;
	rig_open(&g, NULL, NULL);
	size_t n = tb_udp(buf, IN1, 3000, R1, 53, 10);
	push(&g, n, NAT_DIR_OUT, 1 * S, true);
	usleep(1100 * 1000); /* no trace_sync: the writer's timer must act */
	list_files();
	cr_assert_eq(g_nfiles, 1);
	g_ngot = 0;
	cr_assert_eq(read_file_as(g_files[0], true), 2,
		     "open ring file not decodable to its pair after a second");
	rig_close(&g);
	/* closing ends the one frame: zstd -t passes, nothing was added */
	cr_assert_eq(run("zstd -q -t '%s'", g_files[0]), 0, "%s", g_files[0]);
	g_ngot = 0;
	cr_assert_eq(read_file(g_files[0]), 2);
}

Test(trace, write_errors_counted_not_fatal)
{
	struct rig g;
	char err[256];
	g_nx = 0;
	g_cfg.trace.file_size = 4096;
	rig_open(&g, NULL, NULL);
	char cmd[128];
	/* The ring's directory vanishes: the open file keeps working until
	 * rotation, then creating the next file fails. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	cr_assert_eq(system(cmd), 0);
	for (int i = 0; i < 3000; i++) {
		size_t n = tb_udp(buf, IN1, (uint16_t)(1000 + i % 50), R1, 53,
				  (size_t)(i * 37 % 200));
		push(&g, n, NAT_DIR_OUT, (uint64_t)i, false);
	}
	trace_sync(g.t);
	trace_last_error(g.t, err, sizeof err);
	rig_close(&g);
	cr_assert_gt(g.failed, 0);
	cr_assert(strstr(err, "create"), "last error: %s", err);
	cr_assert_eq(g.selected, g.written + g.lost + g.failed);
	cr_assert_eq(mkdir(g_dir, 0700), 0); /* for teardown */
}

/* ---- large packets, every byte read back ---- */

/* Record i's packet bytes, regenerated from i for the check: an IPv4
 * header (so selection and notes see a packet) and a pseudo-random rest;
 * the post copy differs in its source address byte. */
static uint64_t rb_seed;
static uint8_t rb_byte(void)
{
	rb_seed ^= rb_seed << 13;
	rb_seed ^= rb_seed >> 7;
	rb_seed ^= rb_seed << 17;
	return (uint8_t)(rb_seed >> 24);
}

static size_t rb_len(size_t i)
{
	/* every tenth a GSO-sized packet, odd lengths included, up to the
	 * most a record keeps; the rest 20-1519 bytes */
	return i % 10 == 3 ? TRACE_MAX_PACKET - (i * 7919) % 40000
			   : 20 + (i * 131) % 1500;
}

static void rb_fill(uint8_t *p, size_t i, bool post)
{
	size_t n = rb_len(i);
	rb_seed = 0x9e3779b97f4a7c15ull * (i + 1);
	for (size_t k = 0; k < n; k++)
		p[k] = rb_byte();
	p[0] = 0x45;
	p[9] = 253; /* experimental protocol: no ports, no map= */
	if (post)
		p[12] ^= 0xff;
}

Test(trace, large_packets_read_back_byte_for_byte_across_wraps_and_files)
{
	enum { N = 600 };
	static uint8_t pkt[TRACE_MAX_PACKET], want[TRACE_MAX_PACKET];
	char err[256];
	/* A queue of 400 KiB: a few GSO-sized pairs, so it wraps many times;
	 * files of 512 KiB: the records span a dozen files. */
	g_cfg.trace.queue = 256;
	g_cfg.trace.file_size = 512u << 10;
	g_cfg.trace.files = 64;
	struct tracer *t = trace_open(&g_cfg.trace, g_dir, NULL, err,
				      sizeof err);
	cr_assert_not_null(t, "%s", err);
	uint64_t epbs = 0, bytes = 0;
	for (size_t i = 0; i < N; i++) {
		bool drop = i % 17 == 5;
		struct nat_meta m = { .dir = drop ? NAT_DIR_IN : NAT_DIR_OUT,
				      .ts_ns = 1700000000ull * S + i * 1000 };
		struct nat_result r = {
			.verdict = drop ? NAT_V_DROP : NAT_V_BYPASS,
			.reason = drop ? NAT_R_NO_MAPPING : NAT_R_NONE,
			.dir = m.dir,
			.flow_id = drop ? 0 : 1000 + i,
			.rule = NAT_RULE_NONE,
		};
		rb_fill(pkt, i, false);
		trace_packet(t, NULL, 0, pkt, rb_len(i), &m, &r);
		if (!drop) {
			rb_fill(pkt, i, true);
			trace_packet(t, NULL, 1, pkt, rb_len(i), &m, &r);
		}
		epbs += drop ? 1 : 2;
		bytes += (drop ? 1 : 2) * rb_len(i);
		if (i % 2) /* two pairs fit the queue: nothing is lost */
			trace_sync(t);
	}
	trace_sync(t);
	cr_assert_eq(trace_selected(t), epbs);
	cr_assert_eq(trace_lost(t), 0);
	cr_assert_eq(trace_written(t), epbs);
	trace_close(t);

	list_files();
	cr_assert_gt(g_nfiles, 5, "%zu files for %llu bytes of packets",
		     g_nfiles, (unsigned long long)bytes);
	size_t i = 0, stage = 0, seen = 0;
	for (size_t f = 0; f < g_nfiles; f++) {
		size_t len;
		uint8_t *raw = unzstd(g_files[f], &len, false);
		struct cap_mem mem;
		struct cap_source src;
		char cerr[CAP_ERRBUF_SIZE];
		cap_source_mem(&src, &mem, raw, len);
		struct cap_reader *rd = cap_open(&src, cerr, sizeof cerr);
		cr_assert_not_null(rd, "%s: %s", g_files[f], cerr);
		struct cap_packet p;
		int rc;
		while ((rc = cap_next(rd, &p, cerr, sizeof cerr)) == 1) {
			cr_assert_lt(i, (size_t)N, "more packets than written");
			bool drop = i % 17 == 5;
			rb_fill(want, i, stage == 1);
			cr_assert_eq(p.ifindex, stage, "record %zu", i);
			cr_assert_eq(p.caplen, rb_len(i), "record %zu", i);
			cr_assert_eq(p.len, rb_len(i), "record %zu", i);
			cr_assert_eq(p.ts_ns, 1700000000ull * S + i * 1000,
				     "record %zu", i);
			cr_assert_eq(p.flags, drop ? 1u : 2u, "record %zu", i);
			cr_assert(!memcmp(p.data, want, p.caplen),
				  "record %zu stage %zu: bytes differ", i,
				  stage);
			char c[128];
			if (drop)
				snprintf(c, sizeof c,
					 "flow=0 stage=pre dir=in verdict=drop "
					 "reason=no_mapping");
			else
				snprintf(c, sizeof c,
					 "flow=%zu stage=%s dir=out "
					 "verdict=bypass",
					 1000 + i, stage ? "post" : "pre");
			cr_assert_str_eq(p.comment ? p.comment : "", c,
					 "record %zu", i);
			seen++;
			if (drop || stage == 1) {
				i++;
				stage = 0;
			} else {
				stage = 1;
			}
		}
		cr_assert_eq(rc, 0, "%s: %s", g_files[f], cerr);
		cap_close(rd);
		free(raw);
	}
	cr_assert_eq(i, (size_t)N, "%zu of %d records read back", i, N);
	cr_assert_eq(seen, epbs);
}

/* The engine's post may be longer than its pre: the record grows in the
 * queue where its pre bytes already are, and reads back whole. */
Test(trace, post_longer_than_pre_read_back_whole)
{
	static uint8_t pre[200], post[260];
	char err[256];
	struct tracer *t = trace_open(&g_cfg.trace, g_dir, NULL, err,
				      sizeof err);
	cr_assert_not_null(t, "%s", err);
	for (size_t k = 0; k < sizeof post; k++)
		post[k] = (uint8_t)(k * 7 + 3);
	memcpy(pre, post, sizeof pre);
	pre[0] = post[0] = 0x45;
	pre[9] = post[9] = 253;
	struct nat_meta m = { .dir = NAT_DIR_OUT, .ts_ns = 5 * S };
	struct nat_result r = { .verdict = NAT_V_BYPASS, .dir = NAT_DIR_OUT,
				.flow_id = 9, .rule = NAT_RULE_NONE };
	trace_packet(t, NULL, 0, pre, sizeof pre, &m, &r);
	trace_packet(t, NULL, 1, post, sizeof post, &m, &r);
	trace_sync(t);
	cr_assert_eq(trace_written(t), 2);
	cr_assert_eq(trace_lost(t), 0);
	trace_close(t);
	read_all();
	cr_assert_eq(g_ngot, 2);
	cr_assert_eq(g_got[0].caplen, sizeof pre);
	cr_assert_eq(g_got[1].caplen, sizeof post);
	cr_assert(!memcmp(g_got[0].data, pre, sizeof pre));
	cr_assert(!memcmp(g_got[1].data, post, 256),
		  "post bytes differ"); /* g_got keeps 256 */
}
