/* The Linux live backend: see nfqueue.h.
 *
 * One thread: recvmmsg() takes up to BATCH queued packets at once, the
 * engine translates them as a batch (nat_process_batch), and every verdict
 * of the batch goes back in one sendmsg() whose iovecs point at the
 * rewritten packets in the receive buffers (no copy). Buffers are sized at
 * start; the packet path allocates nothing.
 *
 * Checksums: with NFQA_CFG_F_GSO the queue carries GRO/GSO super-packets
 * and packets whose L4 checksum is still partial (NFQA_SKB_CSUMNOTREADY:
 * the field holds only the pseudo-header sum). A packet handed back with a
 * payload becomes CHECKSUM_NONE in the kernel, so a translated packet that
 * was CSUMNOTREADY and not GSO gets its L4 checksum computed in full; a
 * GSO packet's checksums are recomputed by the kernel when it segments it.
 *
 * The iptables chains are installed with iptables-restore --noflush and
 * removed with iptables, both run through fork + exec with an argv (never
 * a shell), so addresses and names never reach a shell parser. */
#include "nfqueue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "packet.h"

/* libnetfilter_queue's message helpers (nlmsg API). Its public header
 * drags in the old libnfnetlink API, so the few prototypes are here. */
struct nlmsghdr *nfq_nlmsg_put(char *buf, int type, uint32_t queue_num);
void nfq_nlmsg_cfg_put_cmd(struct nlmsghdr *nlh, uint16_t pf, uint8_t cmd);
void nfq_nlmsg_cfg_put_params(struct nlmsghdr *nlh, uint8_t mode, int range);
void nfq_nlmsg_cfg_put_qmaxlen(struct nlmsghdr *nlh, uint32_t qmaxlen);
void nfq_nlmsg_verdict_put(struct nlmsghdr *nlh, int id, int verdict);
int nfq_nlmsg_parse(const struct nlmsghdr *nlh, struct nlattr **attr);

enum {
	BATCH = 64,		      /* packets per recvmmsg */
	RXBUF = 65536 + 4096,	      /* a GSO packet plus its attributes */
	VHDR = 64,		      /* one verdict message without payload */
	SEND_CHUNK = 512 * 1024,      /* bytes per verdict sendmsg at most */
	RCVBUF_BYTES = 64 << 20,      /* SO_RCVBUFFORCE */
	SNDBUF_BYTES = 8 << 20,	      /* one full batch of GSO packets */
	QUEUE_MAXLEN = 16384,	      /* packets the kernel may hold for us */
	TICK_NS = 100 * 1000 * 1000,  /* on_tick period */
	REFRESH_NS = 1000000000,      /* interface names / addresses */
	IFCACHE = 1024,		      /* ifindexes cached by name */
	MAX_OUTIF = 8,		      /* out interfaces followed for masquerade */
};

static const char *const CHAIN_RAW = "GLASSNAT-RAW";
static const char *const CHAIN_IN = "GLASSNAT-IN";
static const char *const CHAIN_OUT = "GLASSNAT-OUT";

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- running iptables ---------------------------------------------------- */

/* Runs argv[0] (PATH, then /usr/sbin and /sbin) with `input` on its stdin;
 * its stderr is collected into out (NUL-terminated). Returns the exit
 * status, or -1 when it could not be run. */
static int run_prog(char *const argv[], const char *input, char *out,
		    size_t outlen)
{
	int in_pipe[2], err_pipe[2];
	pid_t pid;

	if (pipe2(in_pipe, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(err_pipe, O_CLOEXEC) != 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		return -1;
	}
	if (pid == 0) {
		static const char *const dirs[] = { "/usr/sbin/", "/sbin/" };
		char path[PATH_MAX];
		int devnull = open("/dev/null", O_WRONLY);

		/* Its own process group: a Ctrl+C from the terminal, or a
		 * signal sent to glassnat's group (timeout(1) does that),
		 * must not kill iptables halfway through removing the
		 * chains, which would leave them failing closed. */
		setpgid(0, 0);
		dup2(in_pipe[0], 0);
		dup2(err_pipe[1], 2);
		if (devnull >= 0)
			dup2(devnull, 1);
		execvp(argv[0], argv);
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", dirs[i], argv[0]);
			execv(path, argv);
		}
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(in_pipe[0]);
	close(err_pipe[1]);
	if (input) {
		size_t left = strlen(input);
		while (left > 0) {
			ssize_t w = write(in_pipe[1], input, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			input += w;
			left -= (size_t)w;
		}
	}
	close(in_pipe[1]);
	size_t used = 0;
	char sink[256];
	for (;;) {
		char *dst = used + 1 < outlen ? out + used : sink;
		size_t room = used + 1 < outlen ? outlen - used - 1
						: sizeof(sink);
		ssize_t r = read(err_pipe[0], dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst != sink)
			used += (size_t)r;
	}
	if (outlen)
		out[used] = '\0';
	close(err_pipe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFSIGNALED(status)) {
		errno = EINTR; /* killed by a signal: reported as such */
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Trims trailing newlines so a message fits one line. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static int iptables(const char *table, const char *a1, const char *a2,
		    const char *a3, const char *a4)
{
	char out[256];
	char *argv[] = { (char *)"iptables", (char *)"-w", (char *)"-t",
			 (char *)table,	     (char *)a1,   (char *)a2,
			 (char *)a3,	     (char *)a4,   NULL };

	return run_prog(argv, NULL, out, sizeof(out));
}

int nat_nfqueue_remove_chains(char *errbuf, size_t errlen)
{
	static const struct {
		const char *table, *parent, *chain;
	} set[] = {
		{ "raw", "PREROUTING", "GLASSNAT-RAW" },
		{ "mangle", "PREROUTING", "GLASSNAT-IN" },
		{ "mangle", "POSTROUTING", "GLASSNAT-OUT" },
	};
	int existed = 0;

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		/* Every jump, even duplicates from a run that died while
		 * installing; bounded in case -D keeps "succeeding". */
		for (int k = 0; k < 64; k++) {
			int rc = iptables(set[i].table, "-D", set[i].parent,
					  "-j", set[i].chain);
			if (rc < 0) {
				seterr(errbuf, errlen,
				       "cannot run iptables: %s",
				       strerror(errno));
				return -1;
			}
			if (rc != 0)
				break;
		}
		if (iptables(set[i].table, "-F", set[i].chain, NULL, NULL) ==
		    0) {
			existed++;
			iptables(set[i].table, "-X", set[i].chain, NULL, NULL);
		}
	}
	return existed;
}

/* ---- rule generation ------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0,
				  fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* The route table's device for the default route and for the inside
 * network, from /proc/net/route (the kernel's own, namespace-local). */
static void route_devs(uint32_t internal, uint8_t len, char *def_dev,
		       char *in_dev)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256];

	def_dev[0] = in_dev[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char dev[IF_NAMESIZE + 1];
		unsigned dst, gw, flags, mask;

		if (sscanf(line, "%16s %x %x %x %*s %*s %*s %x", dev, &dst, &gw,
			   &flags, &mask) != 5)
			continue;
		dst = ntohl(dst);
		mask = ntohl(mask);
		if (dst == 0 && mask == 0 && !def_dev[0])
			snprintf(def_dev, IF_NAMESIZE, "%.15s", dev);
		uint32_t m = len ? 0xffffffffu << (32 - len) : 0;
		if (mask != 0 && (internal & mask) == dst && (m & mask) == mask &&
		    !in_dev[0])
			snprintf(in_dev, IF_NAMESIZE, "%.15s", dev);
	}
	fclose(f);
}

/* What the chains match, computed once from the config. */
struct plan {
	uint32_t ext[NAT_EXT_ADDR_MAX]; /* nat_ip and snat to_addresses */
	unsigned n_ext;
	char masq_if[MAX_OUTIF][IF_NAMESIZE]; /* masquerade out interfaces */
	unsigned n_masq;
	bool masq_any;	 /* a masquerade rule without out_interface */
	bool u32_ok;	 /* xt_u32 usable: echo replies matched by id */
	char def_dev[IF_NAMESIZE], in_dev[IF_NAMESIZE];
};

static void plan_add_masq(struct plan *pl, const char *ifname)
{
	for (unsigned i = 0; i < pl->n_masq; i++)
		if (strcmp(pl->masq_if[i], ifname) == 0)
			return;
	if (pl->n_masq < MAX_OUTIF)
		snprintf(pl->masq_if[pl->n_masq++], IF_NAMESIZE, "%s", ifname);
}

static void plan_build(struct plan *pl, const struct nat_config *cfg)
{
	memset(pl, 0, sizeof(*pl));
	pl->ext[pl->n_ext++] = cfg->nat_ip;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nat_rule_cfg *r = &cfg->rules[i];
		if (r->action == NAT_ACT_SNAT) {
			bool seen = false;
			for (unsigned k = 0; k < pl->n_ext; k++)
				seen |= pl->ext[k] == r->to_address;
			if (!seen && pl->n_ext < NAT_EXT_ADDR_MAX)
				pl->ext[pl->n_ext++] = r->to_address;
		} else if (r->action == NAT_ACT_MASQUERADE) {
			if (r->out_if[0])
				plan_add_masq(pl, r->out_if);
			else
				pl->masq_any = true;
		}
	}
	route_devs(cfg->internal.addr, cfg->internal.len, pl->def_dev,
		   pl->in_dev);
	if (pl->masq_any && pl->def_dev[0])
		plan_add_masq(pl, pl->def_dev);
}

/* Appends, for one destination match `dst` ("-d 1.2.3.4" or "-i eth0 -m
 * addrtype --dst-type LOCAL"), the inbound rules of chain with target. */
static void gen_inbound(struct sbuf *b, const struct nat_config *cfg,
			const struct plan *pl, const char *chain,
			const char *dst, const char *target)
{
	static const char *const protos[] = { "tcp", "udp" };
	const struct nat_port_range *pr = &cfg->port_range;

	for (int k = 0; k < 2; k++) {
		uint8_t proto = k == 0 ? 6 : 17;
		sb_printf(b, "-A %s ! -i lo %s -p %s --dport %u:%u -j %s\n",
			  chain, dst, protos[k], pr->lo, pr->hi, target);
		for (size_t i = 0; i < cfg->n_forwards; i++) {
			const struct nat_forward_cfg *f = &cfg->forwards[i];
			if (f->proto != proto ||
			    (f->ext_port >= pr->lo && f->ext_port <= pr->hi))
				continue;
			sb_printf(b, "-A %s ! -i lo %s -p %s --dport %u -j %s\n",
				  chain, dst, protos[k], f->ext_port, target);
		}
	}
	/* ICMP: errors (about our flows, RFC 5508) always; echo replies only
	 * for identifiers glassnat hands out, when xt_u32 can say so, so the
	 * host's own pings from this address keep working. */
	sb_printf(b, "-A %s ! -i lo %s -p icmp --icmp-type 3 -j %s\n", chain,
		  dst, target);
	sb_printf(b, "-A %s ! -i lo %s -p icmp --icmp-type 11 -j %s\n", chain,
		  dst, target);
	sb_printf(b, "-A %s ! -i lo %s -p icmp --icmp-type 12 -j %s\n", chain,
		  dst, target);
	if (pl->u32_ok)
		sb_printf(b,
			  "-A %s ! -i lo %s -p icmp --icmp-type 0 -m u32 "
			  "--u32 \"0>>22&0x3C@4>>16=%u:%u\" -j %s\n",
			  chain, dst, pr->lo, pr->hi, target);
	else
		sb_printf(b, "-A %s ! -i lo %s -p icmp --icmp-type 0 -j %s\n",
			  chain, dst, target);
}

static void gen_all_inbound(struct sbuf *b, const struct nat_config *cfg,
			    const struct plan *pl, const char *chain,
			    const char *target)
{
	char dst[96], ip[16];

	for (unsigned i = 0; i < pl->n_ext; i++) {
		snprintf(dst, sizeof(dst), "-d %s/32", nat_ip_str(pl->ext[i], ip));
		gen_inbound(b, cfg, pl, chain, dst, target);
	}
	for (unsigned i = 0; i < pl->n_masq; i++) {
		snprintf(dst, sizeof(dst), "-i %s -m addrtype --dst-type LOCAL",
			 pl->masq_if[i]);
		gen_inbound(b, cfg, pl, chain, dst, target);
	}
}

/* The iptables-restore input for the three chains; with `jumps` also the
 * jumps to them from the built-in chains (at install time only: a chain
 * declared again is flushed and refilled, its jump stays). */
static char *gen_rules(const struct nat_config *cfg, const struct plan *pl,
		       uint32_t queue, bool jumps)
{
	struct sbuf b = { 0 };
	char target[64], net[16];

	snprintf(target, sizeof(target), "NFQUEUE --queue-num %u", queue);
	nat_ip_str(cfg->internal.addr, net);

	sb_printf(&b, "*raw\n:%s - [0:0]\n", CHAIN_RAW);
	sb_printf(&b,
		  "-A %s -s %s/%u -m addrtype ! --dst-type LOCAL "
		  "-j CT --notrack\n",
		  CHAIN_RAW, net, cfg->internal.len);
	gen_all_inbound(&b, cfg, pl, CHAIN_RAW, "CT --notrack");
	if (jumps)
		sb_printf(&b, "-I PREROUTING 1 -j %s\n", CHAIN_RAW);
	sb_printf(&b, "COMMIT\n");

	sb_printf(&b, "*mangle\n:%s - [0:0]\n:%s - [0:0]\n", CHAIN_IN,
		  CHAIN_OUT);
	gen_all_inbound(&b, cfg, pl, CHAIN_IN, target);
	/* The host's own inside address is never translated: its packets
	 * (IGMP, its own connections) need not wait for a verdict. */
	if (cfg->has_host_internal_ip) {
		char hip[16];
		sb_printf(&b, "-A %s -s %s/32 -j RETURN\n", CHAIN_OUT,
			  nat_ip_str(cfg->host_internal_ip, hip));
	}
	sb_printf(&b, "-A %s -s %s/%u -j %s\n", CHAIN_OUT, net,
		  cfg->internal.len, target);
	if (jumps) {
		sb_printf(&b, "-I PREROUTING 1 -j %s\n", CHAIN_IN);
		sb_printf(&b, "-I POSTROUTING 1 -j %s\n", CHAIN_OUT);
	}
	sb_printf(&b, "COMMIT\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static int restore(const char *rules, char *errbuf, size_t errlen)
{
	char out[512];
	char *argv[] = { (char *)"iptables-restore", (char *)"-w",
			 (char *)"--noflush", NULL };

	int rc = run_prog(argv, rules, out, sizeof(out));
	if (rc != 0) {
		chomp(out);
		seterr(errbuf, errlen, "iptables-restore failed (%d): %s", rc,
		       out[0] ? out : "no message");
		return -1;
	}
	return 0;
}

/* Whether the kernel takes an xt_u32 match (it is a module some kernels
 * lack): tried in a throwaway chain of the raw table. */
static bool probe_u32(void)
{
	static const char probe[] =
		"*raw\n:GLASSNAT-PROBE - [0:0]\n"
		"-A GLASSNAT-PROBE -p icmp -m u32 --u32 \"0>>22&0x3C@4>>16=1:2\" "
		"-j RETURN\nCOMMIT\n";
	char err[64];
	bool ok = restore(probe, err, sizeof(err)) == 0;

	iptables("raw", "-F", "GLASSNAT-PROBE", NULL, NULL);
	iptables("raw", "-X", "GLASSNAT-PROBE", NULL, NULL);
	return ok;
}

/* ---- startup checks --------------------------------------------------------- */

static bool read_proc(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	return ok;
}

static void startup_warnings(const struct nat_config *cfg,
			     const struct plan *pl, FILE *log)
{
	char buf[128];
	unsigned lo, hi;

	if (!log)
		return;
	if (read_proc("/proc/sys/net/ipv4/ip_local_port_range", buf,
		      sizeof(buf)) &&
	    sscanf(buf, "%u %u", &lo, &hi) == 2 && lo <= cfg->port_range.hi &&
	    hi >= cfg->port_range.lo)
		fprintf(log,
			"warning: the host's ip_local_port_range %u-%u overlaps "
			"port_range %u-%u: the host's own connections from "
			"%u-%u on the NAT address will be queued and dropped "
			"(no_mapping); move one of them (sysctl "
			"net.ipv4.ip_local_port_range, see "
			"docs/troubleshooting.md)\n",
			lo, hi, cfg->port_range.lo, cfg->port_range.hi,
			lo > cfg->port_range.lo ? lo : cfg->port_range.lo,
			hi < cfg->port_range.hi ? hi : cfg->port_range.hi);
	if (read_proc("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)) &&
	    buf[0] == '0')
		fprintf(log,
			"warning: net.ipv4.ip_forward is 0: the kernel will "
			"not forward anything, nothing will be translated\n");
	if (cfg->n_forwards > 0 && pl->in_dev[0]) {
		char path[96];
		snprintf(path, sizeof(path),
			 "/proc/sys/net/ipv4/conf/%s/accept_local", pl->in_dev);
		bool dev1 = read_proc(path, buf, sizeof(buf)) && buf[0] == '1';
		bool all1 = read_proc("/proc/sys/net/ipv4/conf/all/accept_local",
				      buf, sizeof(buf)) &&
			    buf[0] == '1';
		if (!dev1 && !all1)
			fprintf(log,
				"warning: net.ipv4.conf.%s.accept_local is 0: "
				"inside hosts reaching a port forward through "
				"the NAT address (hairpin) will be dropped by "
				"the kernel as martians; set it to 1\n",
				pl->in_dev);
	}
}

/* Whether addr is configured on an interface of this namespace. A
 * gateway whose nat_ip is not local would queue nothing useful: the
 * replies never reach it. Checked before anything is installed. */
static bool addr_is_local(uint32_t addr)
{
	struct ifaddrs *ifa, *p;
	bool found = false;

	if (getifaddrs(&ifa) != 0)
		return true; /* cannot tell: do not refuse */
	for (p = ifa; p && !found; p = p->ifa_next) {
		if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in sin;
		memcpy(&sin, p->ifa_addr, sizeof(sin));
		found = ntohl(sin.sin_addr.s_addr) == addr;
	}
	freeifaddrs(ifa);
	return found;
}

/* ---- the queue socket ----------------------------------------------------- */

struct live {
	struct nat_engine *e;
	const struct nat_config *cfg;
	const struct nat_live_opts *o;
	struct nat_live_stats *st;
	struct plan plan;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t queue;
	uint8_t *rx;		  /* BATCH * RXBUF */
	struct mmsghdr msgs[BATCH];
	struct iovec rx_iov[BATCH];
	uint8_t vhdr[BATCH][VHDR]; /* verdict headers */
	struct iovec tx_iov[BATCH * 3];
	char ifnames[IFCACHE][IF_NAMESIZE]; /* "" = not looked up */
	char ifname_big[2][IF_NAMESIZE];    /* ifindex >= IFCACHE */
	uint64_t last_ts;
	bool warned_addr_full;
};

/* The run in progress, for nat_nfqueue_set_forwards (one per process). */
static struct live *g_live;

int nat_nfqueue_set_forwards(const struct nat_config *cfg,
			     const struct nat_forward_cfg *fw, size_t n,
			     char *errbuf, size_t errlen)
{
	struct live *L = g_live;
	if (!L) {
		seterr(errbuf, errlen, "the live gateway is not running");
		return -1;
	}
	struct nat_config c = *cfg;
	c.forwards = (struct nat_forward_cfg *)fw;
	c.n_forwards = n;
	struct plan pl;
	plan_build(&pl, &c);
	pl.u32_ok = L->plan.u32_ok;
	char *rules = gen_rules(&c, &pl, L->queue, false);
	if (!rules) {
		seterr(errbuf, errlen, "out of memory (rules)");
		return -1;
	}
	int rc = restore(rules, errbuf, errlen);
	if (rc == 0) {
		L->plan = pl;
		if (L->o->verbose && L->o->log) {
			fprintf(L->o->log, "rules now:\n%s", rules);
			fflush(L->o->log);
		}
	}
	free(rules);
	return rc;
}

/* Sends one config message and waits for its acknowledgement, so errors
 * (EBUSY: the queue is bound by someone else; EPERM) are reported. */
static int nfq_config(struct live *L, struct nlmsghdr *nlh, const char *what,
		      char *errbuf, size_t errlen)
{
	char buf[8192];
	uint32_t seq = (uint32_t)time(NULL) ^ nlh->nlmsg_type;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(L->nl, nlh, nlh->nlmsg_len) < 0) {
		seterr(errbuf, errlen, "queue %u: %s: %s", L->queue, what,
		       strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(L->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			seterr(errbuf, errlen, "queue %u: %s: %s", L->queue,
			       what, strerror(errno));
			return -1;
		}
		int rc = mnl_cb_run(buf, (size_t)n, seq, L->portid, NULL, NULL);
		if (rc == MNL_CB_ERROR) {
			seterr(errbuf, errlen, "queue %u: %s: %s%s", L->queue,
			       what, strerror(errno),
			       errno == EBUSY || errno == EPERM
				       ? " (another program, maybe another "
					 "glassnat, holds this queue; or not "
					 "root)"
				       : "");
			return -1;
		}
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

static int queue_open(struct live *L, char *errbuf, size_t errlen)
{
	char buf[8192];
	struct nlmsghdr *nlh;

	L->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!L->nl) {
		seterr(errbuf, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(L->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		seterr(errbuf, errlen, "netlink bind: %s", strerror(errno));
		return -1;
	}
	L->portid = mnl_socket_get_portid(L->nl);

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, L->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (nfq_config(L, nlh, "bind", errbuf, errlen) != 0)
		return -1;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, L->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	/* GSO on; fail-open deliberately off: a full queue drops. */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (nfq_config(L, nlh, "set mode (GSO)", errbuf, errlen) != 0)
		return -1;
	L->st->queue_maxlen = QUEUE_MAXLEN;

	int fd = mnl_socket_get_fd(L->nl);
	int sz = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	sz = SNDBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	socklen_t sl = sizeof(L->st->rcvbuf);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &L->st->rcvbuf, &sl);
	/* Verdicts for packets we never ask an ACK for: no replies. */
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	/* The loop wakes at least every tick for timers and signals. */
	struct timeval tv = { .tv_sec = 0, .tv_usec = TICK_NS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	for (int i = 0; i < BATCH; i++) {
		L->rx_iov[i].iov_base = L->rx + (size_t)i * RXBUF;
		L->rx_iov[i].iov_len = RXBUF;
		memset(&L->msgs[i], 0, sizeof(L->msgs[i]));
		L->msgs[i].msg_hdr.msg_iov = &L->rx_iov[i];
		L->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void queue_close(struct live *L)
{
	char buf[8192];
	char err[128];

	if (!L->nl)
		return;
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, L->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	(void)nfq_config(L, nlh, "unbind", err, sizeof(err));
	mnl_socket_close(L->nl);
	L->nl = NULL;
}

/* queue_dropped and user_dropped of our queue, from
 * /proc/net/netfilter/nfnetlink_queue (namespace-local). */
static void read_queue_counters(struct live *L)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	char line[256];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned q, portid, total, mode, range;
		unsigned long long qd, ud;
		if (sscanf(line, "%u %u %u %u %u %llu %llu", &q, &portid, &total,
			   &mode, &range, &qd, &ud) == 7 &&
		    q == L->queue) {
			L->st->queue_dropped = qd;
			L->st->user_dropped = ud;
		}
	}
	fclose(f);
}

/* ---- interfaces ---------------------------------------------------------------- */

static const char *ifname_of(struct live *L, uint32_t ifindex, int slot)
{
	if (ifindex == 0)
		return NULL;
	char *dst = ifindex < IFCACHE ? L->ifnames[ifindex]
				      : L->ifname_big[slot];
	if (ifindex < IFCACHE && dst[0])
		return dst;
	if (!if_indextoname(ifindex, dst)) {
		dst[0] = '\0';
		return NULL;
	}
	return dst;
}

/* Masquerade follows the out interfaces' addresses: every address they
 * have now is given to the engine (it keeps earlier ones, so flows on an
 * address that went away still translate their replies). */
static void refresh_addrs(struct live *L)
{
	struct ifaddrs *ifa, *p;
	char err[128];

	memset(L->ifnames, 0, sizeof(L->ifnames));
	if (L->plan.n_masq == 0 || getifaddrs(&ifa) != 0)
		return;
	for (p = ifa; p; p = p->ifa_next) {
		if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
			continue;
		for (unsigned i = 0; i < L->plan.n_masq; i++) {
			if (strcmp(p->ifa_name, L->plan.masq_if[i]) != 0)
				continue;
			struct sockaddr_in sin;
			memcpy(&sin, p->ifa_addr, sizeof(sin));
			if (nat_engine_set_if_addr(L->e, p->ifa_name,
						   ntohl(sin.sin_addr.s_addr),
						   err, sizeof(err)) != 0 &&
			    !L->warned_addr_full && L->o->log) {
				fprintf(L->o->log, "warning: masquerade: %s\n",
					err);
				L->warned_addr_full = true;
			}
		}
	}
	freeifaddrs(ifa);
}

/* ---- the packet loop ---------------------------------------------------------------- */

struct pkt_ref {
	uint32_t id;
	uint32_t skbinfo;
	bool truncated;
};

/* Appends the verdict for packet i to the iovecs; payload NULL: no
 * payload (accept unchanged, or drop). */
static size_t put_verdict(struct live *L, int i, size_t niov, uint32_t id,
			  int verdict, uint8_t *payload, size_t len,
			  size_t *bytes)
{
	static const uint8_t zeros[4] = { 0 };
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)L->vhdr[i],
					     NFQNL_MSG_VERDICT, L->queue);

	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	if (payload) {
		struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);
		a->nla_type = NFQA_PAYLOAD;
		a->nla_len = (uint16_t)(sizeof(*a) + len);
		nlh->nlmsg_len += MNL_ALIGN(sizeof(*a));
		size_t hdr = nlh->nlmsg_len;
		size_t pad = MNL_ALIGN(len) - len;
		nlh->nlmsg_len += (uint32_t)MNL_ALIGN(len);
		L->tx_iov[niov++] = (struct iovec){ L->vhdr[i], hdr };
		L->tx_iov[niov++] = (struct iovec){ payload, len };
		if (pad)
			L->tx_iov[niov++] =
				(struct iovec){ (void *)zeros, pad };
	} else {
		L->tx_iov[niov++] = (struct iovec){ L->vhdr[i], nlh->nlmsg_len };
	}
	*bytes += nlh->nlmsg_len;
	return niov;
}

static void send_verdicts(struct live *L, size_t niov)
{
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr mh = {
		.msg_name = &snl,
		.msg_namelen = sizeof(snl),
		.msg_iov = L->tx_iov,
		.msg_iovlen = niov,
	};

	if (niov == 0)
		return;
	while (sendmsg(mnl_socket_get_fd(L->nl), &mh, 0) < 0) {
		if (errno == EINTR)
			continue;
		/* The packets stay queued until the kernel gives up on
		 * them: fail closed, counted. */
		L->st->verdict_errors++;
		return;
	}
}

static void process_batch(struct live *L, int n)
{
	static uint8_t *pkts[BATCH];
	static size_t lens[BATCH];
	static struct nat_meta metas[BATCH];
	static struct nat_result res[BATCH];
	static struct pkt_ref refs[BATCH];
	int m = 0;
	uint64_t ts = now_ns();

	if (ts < L->last_ts)
		ts = L->last_ts; /* the engine's clock never goes back */
	L->last_ts = ts;

	for (int i = 0; i < n; i++) {
		uint8_t *buf = L->rx + (size_t)i * RXBUF;
		int len = (int)L->msgs[i].msg_len;
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;

		for (; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct nlattr *attr[NFQA_MAX + 1] = { NULL };
			struct nfqnl_msg_packet_hdr ph;

			if (nlh->nlmsg_type == NLMSG_ERROR ||
			    NFNL_MSG_TYPE(nlh->nlmsg_type) !=
				    NFQNL_MSG_PACKET ||
			    m == BATCH)
				continue;
			if (nfq_nlmsg_parse(nlh, attr) < 0 ||
			    !attr[NFQA_PACKET_HDR] || !attr[NFQA_PAYLOAD] ||
			    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) <
				    sizeof(ph))
				continue;
			memcpy(&ph, mnl_attr_get_payload(attr[NFQA_PACKET_HDR]),
			       sizeof(ph));
			struct pkt_ref *r = &refs[m];
			r->id = ntohl(ph.packet_id);
			r->skbinfo = attr[NFQA_SKB_INFO]
					     ? ntohl(mnl_attr_get_u32(
						       attr[NFQA_SKB_INFO]))
					     : 0;
			pkts[m] = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
			lens[m] = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
			r->truncated =
				attr[NFQA_CAP_LEN] &&
				ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) >
					lens[m];
			uint32_t in = attr[NFQA_IFINDEX_INDEV]
					      ? ntohl(mnl_attr_get_u32(
							attr[NFQA_IFINDEX_INDEV]))
					      : 0;
			uint32_t out = attr[NFQA_IFINDEX_OUTDEV]
					       ? ntohl(mnl_attr_get_u32(
							 attr[NFQA_IFINDEX_OUTDEV]))
					       : 0;
			metas[m].ts_ns = ts;
			metas[m].in_if = ifname_of(L, in, 0);
			metas[m].out_if = ifname_of(L, out, 1);
			/* POSTROUTING carries only traffic from the inside;
			 * PREROUTING carries traffic to our addresses, from
			 * outside or, hairpinned, from inside. */
			if (ph.hook == NF_INET_POST_ROUTING)
				metas[m].dir = NAT_DIR_OUT;
			else {
				metas[m].dir = nat_engine_classify(L->e, pkts[m],
								   lens[m]);
				if (metas[m].dir == NAT_DIR_UNKNOWN)
					metas[m].dir = NAT_DIR_IN;
			}
			if (r->skbinfo & NFQA_SKB_GSO)
				L->st->gso++;
			m++;
		}
	}
	if (m == 0)
		return;
	L->st->packets += (uint64_t)m;
	L->st->batches++;
	if ((uint64_t)m > L->st->max_batch)
		L->st->max_batch = (uint64_t)m;

	nat_process_batch(L->e, pkts, lens, metas, res, (size_t)m);

	size_t niov = 0, bytes = 0;
	for (int i = 0; i < m; i++) {
		const struct pkt_ref *r = &refs[i];
		int v = NF_ACCEPT;
		uint8_t *payload = NULL;

		switch (res[i].verdict) {
		case NAT_V_NAT:
			if (r->truncated) {
				/* Handing back a cut copy would cut the
				 * packet; untranslated it must not leave. */
				L->st->truncated++;
				v = NF_DROP;
				break;
			}
			payload = pkts[i];
			if ((r->skbinfo & NFQA_SKB_CSUMNOTREADY) &&
			    !(r->skbinfo & NFQA_SKB_GSO)) {
				struct nat_pkt p;
				if (nat_pkt_parse(&p, pkts[i], lens[i]) ==
				    NAT_PARSE_OK) {
					nat_pkt_l4_csum_full(&p);
					L->st->csum_full++;
				}
			}
			break;
		case NAT_V_BYPASS:
		case NAT_V_PASS:
			break;
		case NAT_V_DROP:
		default:
			v = NF_DROP;
			break;
		}
		niov = put_verdict(L, i, niov, r->id, v, payload, lens[i],
				   &bytes);
		if (bytes >= SEND_CHUNK) {
			send_verdicts(L, niov);
			niov = 0;
			bytes = 0;
		}
	}
	send_verdicts(L, niov);
}

static int loop(struct live *L, char *errbuf, size_t errlen)
{
	int fd = mnl_socket_get_fd(L->nl);
	uint64_t next_tick = 0, next_refresh = 0;

	while (!*L->o->stop) {
		int n = recvmmsg(fd, L->msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n > 0) {
			process_batch(L, n);
		} else if (n < 0) {
			if (errno == ENOBUFS) {
				/* The kernel could not deliver: those packets
				 * are dropped (fail closed). Keep going. */
				L->st->enobufs++;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR) {
				seterr(errbuf, errlen, "queue %u: recvmmsg: %s",
				       L->queue, strerror(errno));
				return -1;
			}
		}
		uint64_t t = now_ns();
		if (t >= next_tick) {
			if (t < L->last_ts)
				t = L->last_ts;
			L->last_ts = t;
			nat_engine_tick(L->e, t);
			if (L->o->on_tick)
				L->o->on_tick(L->o->ctx, t);
			next_tick = t + TICK_NS;
		}
		if (t >= next_refresh) {
			refresh_addrs(L);
			next_refresh = t + REFRESH_NS;
		}
	}
	return 0;
}

int nat_nfqueue_run(struct nat_engine *e, const struct nat_config *cfg,
		    const struct nat_live_opts *o, struct nat_live_stats *st,
		    char *errbuf, size_t errlen)
{
	struct live *L = calloc(1, sizeof(*L));
	char *rules = NULL;
	bool chains = false;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (!L) {
		seterr(errbuf, errlen, "out of memory");
		return -1;
	}
	L->e = e;
	L->cfg = cfg;
	L->o = o;
	L->st = st;
	L->queue = o->queue_num;
	if (!addr_is_local(cfg->nat_ip)) {
		char ip[16];
		seterr(errbuf, errlen,
		       "nat_ip %s is not an address of this host (no interface "
		       "has it): nothing installed; add it to the outside "
		       "interface (ip addr add %s/PREFIX dev IF) or fix nat_ip",
		       nat_ip_str(cfg->nat_ip, ip), ip);
		goto out;
	}
	L->rx = malloc((size_t)BATCH * RXBUF);
	if (!L->rx) {
		seterr(errbuf, errlen, "out of memory (%d receive buffers)",
		       BATCH);
		goto out;
	}
	/* Bind first: a second glassnat fails here (EBUSY) before it could
	 * touch the first one's chains. */
	if (queue_open(L, errbuf, errlen) != 0)
		goto out;

	int stale = nat_nfqueue_remove_chains(errbuf, errlen);
	if (stale < 0)
		goto out;
	if (stale > 0 && o->log)
		fprintf(o->log,
			"warning: removed %d GLASSNAT chain(s) left by an "
			"earlier run that did not stop cleanly\n",
			stale);

	plan_build(&L->plan, cfg);
	L->plan.u32_ok = probe_u32();
	startup_warnings(cfg, &L->plan, o->log);
	rules = gen_rules(cfg, &L->plan, L->queue, true);
	if (!rules) {
		seterr(errbuf, errlen, "out of memory (rules)");
		goto out;
	}
	chains = true; /* from here on, even a partial install is removed */
	if (restore(rules, errbuf, errlen) != 0)
		goto out;
	if (o->log) {
		fprintf(o->log,
			"queue %u bound (GSO on, receive buffer %d bytes, "
			"queue length %u); chains %s, %s, %s installed\n",
			L->queue, st->rcvbuf, QUEUE_MAXLEN, CHAIN_RAW, CHAIN_IN,
			CHAIN_OUT);
		if (L->plan.in_dev[0] || L->plan.def_dev[0])
			fprintf(o->log,
				"inside interface %s, default route via %s\n",
				L->plan.in_dev[0] ? L->plan.in_dev : "?",
				L->plan.def_dev[0] ? L->plan.def_dev : "?");
		if (o->verbose)
			fprintf(o->log, "rules:\n%s", rules);
		fflush(o->log);
	}
	refresh_addrs(L);
	g_live = L;
	if (o->on_start && o->on_start(o->ctx, errbuf, errlen) != 0)
		goto out;
	rc = loop(L, errbuf, errlen);
out:
	g_live = NULL;
	if (L->nl)
		read_queue_counters(L);
	if (chains) {
		char err2[256];
		if (nat_nfqueue_remove_chains(err2, sizeof(err2)) < 0 &&
		    o->log)
			fprintf(o->log, "error: removing the chains: %s\n",
				err2);
	}
	queue_close(L);
	free(rules);
	free(L->rx);
	free(L);
	return rc;
}
