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
 * The iptables chains that steer packets here are nfqueue_rules.c's. */
#include "nfqueue.h"
#include "hostcfg.h"
#include "nfqueue_fastpath.h"
#include "nfqueue_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "packet.h"
#include "platform.h"

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
};

/* The queue glassnat binds (docs and `glassnat run --help` name it). */
#define NFQ_QUEUE_NUM 0u

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

/* ---- the queue socket ----------------------------------------------------- */

/* What the queue saw; counters() reports them (with the kernel's). */
struct nfq_stats {
	uint64_t packets;	 /* packets received from the queue */
	uint64_t batches;	 /* recvmmsg calls that returned packets */
	uint64_t max_batch;	 /* most packets in one batch */
	uint64_t gso;		 /* GSO super-packets (NFQA_SKB_GSO) */
	uint64_t csum_full;	 /* L4 checksums recomputed in full */
	uint64_t enobufs;	 /* ENOBUFS on the socket: the kernel lost
				  * messages (packets dropped, fail closed) */
	uint64_t truncated;	 /* copy shorter than the packet: dropped */
	uint64_t verdict_errors; /* sendmsg of verdicts failed */
	uint64_t frag_late;	 /* held fragments given their verdict late */
	int rcvbuf;		 /* socket receive buffer granted, bytes */
};

struct nat_live {
	struct nat_engine *e;
	const struct nat_config *cfg;
	struct nat_live_opts o;
	struct nfq_stats st;
	volatile sig_atomic_t stop; /* request_stop() */
	bool chains;		    /* installed: closed on exit */
	struct nat_nfq_plan plan;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t queue;
	uint8_t *rx;		  /* BATCH * RXBUF */
	struct mmsghdr msgs[BATCH];
	struct iovec rx_iov[BATCH];
	uint8_t vhdr[BATCH][VHDR]; /* verdict headers */
	struct iovec tx_iov[BATCH * 3];
	uint8_t late_hdr[VHDR];	   /* a held fragment's late verdict */
	char ifnames[IFCACHE][IF_NAMESIZE]; /* "" = not looked up */
	char ifname_big[2][IF_NAMESIZE];    /* ifindex >= IFCACHE */
	uint64_t last_ts;
	bool warned_addr_full;
	bool host_init;		 /* host: set up (restore on close) */
	struct nat_hostcfg host; /* sysctls set for the run (hostcfg.h) */
	struct nat_nfq_fp fp;	 /* the kernel fast path (fastpath: ...) */
};

/* Rewrites the chains for cfg with the forwards fw[0..n) in place of
 * cfg's: a forward's port is queued inbound only once it is here. */
static int nfq_set_forwards(struct nat_live *L, const struct nat_config *cfg,
			    const struct nat_forward_cfg *fw, size_t n,
			    char *errbuf, size_t errlen)
{
	struct nat_config c = *cfg;
	c.forwards = (struct nat_forward_cfg *)fw;
	c.n_forwards = n;
	struct nat_nfq_plan pl;
	nat_nfq_plan_build(&pl, &c);
	pl.u32_ok = L->plan.u32_ok;
	pl.defrag = L->plan.defrag;
	pl.physdev = L->plan.physdev;
	char *rules = nat_nfq_rules_text(&c, &pl, L->queue, false);
	if (!rules) {
		seterr(errbuf, errlen, "out of memory (rules)");
		return -1;
	}
	int rc = nat_nfq_restore(rules, errbuf, errlen);
	if (rc == 0) {
		L->plan = pl;
		if (L->o.verbose && L->o.log) {
			fprintf(L->o.log, "rules now:\n%s", rules);
			fflush(L->o.log);
		}
	}
	free(rules);
	return rc;
}

/* Sends one config message and waits for its acknowledgement, so errors
 * (EBUSY: the queue is bound by someone else; EPERM) are reported. */
static int nfq_config(struct nat_live *L, struct nlmsghdr *nlh, const char *what,
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

static int queue_open(struct nat_live *L, char *errbuf, size_t errlen)
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

	int fd = mnl_socket_get_fd(L->nl);
	int sz = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	sz = SNDBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	socklen_t sl = sizeof(L->st.rcvbuf);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &L->st.rcvbuf, &sl);
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

static void queue_close(struct nat_live *L)
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

/* queue_dropped (queue full, queue_maxlen) and user_dropped (could not be
 * sent to us: socket full) of our queue, from
 * /proc/net/netfilter/nfnetlink_queue (namespace-local), while bound. */
static void read_queue_counters(const struct nat_live *L, uint64_t *dropped,
				uint64_t *user_dropped)
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
			*dropped = qd;
			*user_dropped = ud;
		}
	}
	fclose(f);
}

/* ---- interfaces ---------------------------------------------------------------- */

static const char *ifname_of(struct nat_live *L, uint32_t ifindex, int slot)
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
static void refresh_addrs(struct nat_live *L)
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
			    !L->warned_addr_full && L->o.log) {
				fprintf(L->o.log, "warning: masquerade: %s\n",
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
static size_t put_verdict(struct nat_live *L, int i, size_t niov, uint32_t id,
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

static void send_verdicts(struct nat_live *L, size_t niov)
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
		L->st.verdict_errors++;
		return;
	}
}

static void process_batch(struct nat_live *L, int n)
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
			metas[m].tag = r->id; /* a held fragment's verdict */
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
				L->st.gso++;
			m++;
		}
	}
	if (m == 0)
		return;
	L->st.packets += (uint64_t)m;
	L->st.batches++;
	if ((uint64_t)m > L->st.max_batch)
		L->st.max_batch = (uint64_t)m;

	nat_process_batch(L->e, pkts, lens, metas, res, (size_t)m);

	size_t niov = 0, bytes = 0;
	for (int i = 0; i < m; i++) {
		const struct pkt_ref *r = &refs[i];
		int v = NF_ACCEPT;
		uint8_t *payload = NULL;

		if (res[i].verdict == NAT_V_HELD)
			continue; /* verdict later, from nfq_frag_out */
		switch (res[i].verdict) {
		case NAT_V_NAT:
			if (r->truncated) {
				/* Handing back a cut copy would cut the
				 * packet; untranslated it must not leave. */
				L->st.truncated++;
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
					L->st.csum_full++;
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

/* The engine's fragment sink (docs/fragments.md): a non-first fragment
 * the engine held (NAT_V_HELD, no verdict given) leaves now. tag is its
 * packet id; the verdict carries the fragment as rewritten, or drops it.
 * Sent at once, on its own: the caller may be in the middle of a batch
 * whose verdicts are not built yet. */
static void nfq_frag_out(void *ctx, uint64_t tag, const uint8_t *pkt,
			 size_t len, const struct nat_meta *meta,
			 const struct nat_result *res)
{
	static const uint8_t zeros[4] = { 0 };
	struct nat_live *L = ctx;
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)L->late_hdr,
					     NFQNL_MSG_VERDICT, L->queue);
	struct iovec iov[3];
	size_t n = 0;

	(void)meta;
	if (!L->nl)
		return;
	if (res->verdict == NAT_V_NAT || res->verdict == NAT_V_BYPASS ||
	    res->verdict == NAT_V_PASS) {
		nfq_nlmsg_verdict_put(nlh, (int)(uint32_t)tag, NF_ACCEPT);
		struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);
		a->nla_type = NFQA_PAYLOAD;
		a->nla_len = (uint16_t)(sizeof(*a) + len);
		nlh->nlmsg_len += MNL_ALIGN(sizeof(*a));
		size_t hdr = nlh->nlmsg_len, pad = MNL_ALIGN(len) - len;
		nlh->nlmsg_len += (uint32_t)MNL_ALIGN(len);
		iov[n++] = (struct iovec){ L->late_hdr, hdr };
		iov[n++] = (struct iovec){ (void *)pkt, len };
		if (pad)
			iov[n++] = (struct iovec){ (void *)zeros, pad };
	} else {
		nfq_nlmsg_verdict_put(nlh, (int)(uint32_t)tag, NF_DROP);
		iov[n++] = (struct iovec){ L->late_hdr, nlh->nlmsg_len };
	}
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr mh = { .msg_name = &snl,
			     .msg_namelen = sizeof(snl),
			     .msg_iov = iov,
			     .msg_iovlen = n };
	while (sendmsg(mnl_socket_get_fd(L->nl), &mh, 0) < 0) {
		if (errno == EINTR)
			continue;
		L->st.verdict_errors++; /* it stays queued: fail closed */
		return;
	}
	L->st.frag_late++;
}

/* Idle: waits for the queue or the wake descriptor, up to the next tick;
 * a wake is read (the eventfd cleared) here. */
static void wait_idle(int fd, int wfd, uint64_t next_tick)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = wfd, .events = POLLIN } };
	uint64_t t = now_ns();
	int ms = t >= next_tick ? 0 : (int)((next_tick - t) / 1000000u) + 1;
	if (poll(p, 2, ms > 100 ? 100 : ms) > 0 && (p[1].revents & POLLIN)) {
		uint64_t v;
		ssize_t r = read(wfd, &v, sizeof(v));
		(void)r;
	}
}

static int loop(struct nat_live *L, char *errbuf, size_t errlen)
{
	int fd = mnl_socket_get_fd(L->nl);
	uint64_t next_tick = 0, next_refresh = 0;
	int wfd = L->o.wake_fd ? L->o.wake_fd(L->o.ctx) : -1;

	while (!L->stop) {
		/* With a wake descriptor the queue is read without waiting,
		 * and an empty queue waits in poll on both. */
		int n = recvmmsg(fd, L->msgs, BATCH,
				 MSG_WAITFORONE | (wfd >= 0 ? MSG_DONTWAIT : 0),
				 NULL);
		int err = n < 0 ? errno : 0;
		if (n > 0) {
			process_batch(L, n);
		} else if (n < 0) {
			if (err == ENOBUFS) {
				/* The kernel could not deliver: those packets
				 * are dropped (fail closed). Keep going. */
				L->st.enobufs++;
			} else if (err == EAGAIN || err == EWOULDBLOCK) {
				if (wfd >= 0)
					wait_idle(fd, wfd, next_tick);
			} else if (err != EINTR) {
				seterr(errbuf, errlen, "queue %u: recvmmsg: %s",
				       L->queue, strerror(err));
				return -1;
			}
		}
		/* Control requests: after every batch and every wake. */
		if (L->o.on_wake)
			L->o.on_wake(L->o.ctx);
		uint64_t t = now_ns();
		if (t >= next_tick) {
			if (t < L->last_ts)
				t = L->last_ts;
			L->last_ts = t;
			nat_engine_tick(L->e, t);
			if (L->o.on_tick)
				L->o.on_tick(L->o.ctx, t);
			next_tick = t + TICK_NS;
		}
		if (t >= next_refresh) {
			refresh_addrs(L);
			next_refresh = t + REFRESH_NS;
		}
	}
	return 0;
}

static void nfq_close(struct nat_live *L)
{
	if (!L)
		return;
	nat_nfq_fp_close(&L->fp); /* before the chains: see nfqueue_fastpath.h */
	nat_engine_set_frag_sink(L->e, NULL);
	if (L->chains) {
		/* Not removed: swapped, in one transaction, for rules that
		 * drop what the queue took from the inside, so nothing leaves
		 * untranslated once nobody translates (glassnat uninstall
		 * opens the path). If even that fails, the queueing rules
		 * stay and drop (fail closed) once the queue is unbound. */
		char err2[256];
		char *closed = nat_nfq_closed_text(L->cfg);
		if (!closed || nat_nfq_restore(closed, err2, sizeof(err2)) != 0) {
			if (L->o.log)
				fprintf(L->o.log,
					"error: closing the chains: %s; they "
					"stay as they were and drop the NAT's "
					"traffic\n",
					closed ? err2 : "out of memory");
		} else if (L->o.log) {
			char net[16];
			fprintf(L->o.log,
				"chains closed: traffic from %s/%u is dropped "
				"until glassnat runs again (glassnat uninstall "
				"removes the chains)\n",
				nat_ip_str(L->cfg->internal.addr, net),
				L->cfg->internal.len);
		}
		free(closed);
	}
	/* After the chains: while they are in, the reservation keeps the
	 * host's own connections out of the queued ports. */
	if (L->host_init) {
		char err3[600];
		if (nat_hostcfg_restore(&L->host, err3, sizeof(err3)) != 0 &&
		    L->o.log)
			fprintf(L->o.log,
				"error: putting back the host settings: %s\n",
				err3);
	}
	queue_close(L);
	free(L->rx);
	free(L);
}

static void host_log(void *ctx, bool warning, const char *line)
{
	FILE *log = ctx;

	if (log) {
		fprintf(log, "%shost: %s\n", warning ? "warning: " : "", line);
		fflush(log);
	}
}

/* The host settings the run needs (hostcfg.h): first puts back what a
 * crashed run left (its state file sits beside the control socket), then
 * reserves port_range from the kernel's ephemeral ports (replies to the
 * host's own connections must not land in the queue) and lets hairpinned
 * packets in on the inside interface. */
static int host_setup(struct nat_live *L, const struct nat_config *cfg,
		      char *errbuf, size_t errlen)
{
	struct nat_hostcfg_want want = { 0 };
	char state[NAT_HOSTCFG_PATH_MAX], err[600];

	if (snprintf(state, sizeof(state), "%s.host", cfg->control_socket) >=
	    (int)sizeof(state)) {
		seterr(errbuf, errlen, "control_socket %s: path too long",
		       cfg->control_socket);
		return -1;
	}
	nat_hostcfg_init(&L->host, NULL, host_log, L->o.log);
	L->host_init = true;
	if (nat_hostcfg_recover(&L->host, state, err, sizeof(err)) != 0) {
		seterr(errbuf, errlen,
		       "putting back the host settings a crashed run left: %s",
		       err);
		return -1;
	}
	want.reserve[0].lo = cfg->port_range.lo;
	want.reserve[0].hi = cfg->port_range.hi;
	want.n_reserve = 1;
	if (L->plan.in_dev[0]) {
		snprintf(want.hairpin_if[0], sizeof(want.hairpin_if[0]), "%s",
			 L->plan.in_dev);
		want.n_hairpin_if = 1;
	}
	if (nat_hostcfg_apply(&L->host, &want, state, err, sizeof(err)) != 0) {
		seterr(errbuf, errlen, "host settings: %s", err);
		return -1;
	}
	return 0;
}

struct lint_first {
	char *errbuf;
	size_t errlen;
	unsigned n;
};

/* nat_config_lint_addrs' emit: the first message becomes the error. */
static void lint_keep_first(void *ctx, const char *msg)
{
	struct lint_first *lf = ctx;

	if (lf->n++ == 0)
		seterr(lf->errbuf, lf->errlen, "%s", msg);
}

/* Binds the queue first: a second glassnat fails here (EBUSY) before it
 * could touch the first one's chains. Then removes what a crashed run
 * left and installs the chains. */
static struct nat_live *nfq_open(struct nat_engine *e,
				 const struct nat_config *cfg,
				 const struct nat_live_opts *o, char *errbuf,
				 size_t errlen)
{
	struct nat_live *L = calloc(1, sizeof(*L));
	char *rules = NULL;

	if (!L) {
		seterr(errbuf, errlen, "out of memory");
		return NULL;
	}
	L->e = e;
	L->cfg = cfg;
	L->o = *o;
	L->queue = NFQ_QUEUE_NUM;
	/* Replies to an address the host does not have never reach it: the
	 * NAT's traffic would vanish. Refused before anything is touched. */
	nat_nfq_plan_build(&L->plan, cfg);
	struct lint_first lf = { errbuf, errlen, 0 };
	if (nat_config_lint_addrs(cfg, nat_plat_addr_is_local,
				  L->plan.def_dev, lint_keep_first, &lf) > 0) {
		size_t n = strlen(errbuf);
		snprintf(errbuf + n, errlen > n ? errlen - n : 0,
			 "; nothing installed%s",
			 lf.n > 1 ? " (and more: glassnat check -c FILE lists "
				    "them)"
				  : "");
		goto fail;
	}
	L->rx = malloc((size_t)BATCH * RXBUF);
	if (!L->rx) {
		seterr(errbuf, errlen, "out of memory (%d receive buffers)",
		       BATCH);
		goto fail;
	}
	if (queue_open(L, errbuf, errlen) != 0)
		goto fail;

	/* What an earlier run left is replaced in the same transaction
	 * that installs ours: its jumps never go away in between. */
	struct nat_nfq_stale stale;
	if (nat_nfq_read_stale(&stale, errbuf, errlen) != 0)
		goto fail;
	memcpy(L->plan.stale, stale.jumps, sizeof(L->plan.stale));

	if (host_setup(L, cfg, errbuf, errlen) != 0)
		goto fail;
	L->plan.u32_ok = nat_nfq_probe_u32();
	L->plan.physdev = nat_nfq_probe_physdev();
	const char *dfg = getenv("GLASSNAT_NFQ_DEFRAG");
	L->plan.defrag = !(dfg && strcmp(dfg, "0") == 0) &&
			 nat_nfq_probe_socket();
	nat_nfq_startup_warnings(o->log);
	if (nat_nfq_fp_open(&L->fp, e, cfg, 1, o->log, errbuf, errlen) != 0)
		goto fail;
	L->plan.fastpath = L->fp.fp != NULL;
	rules = nat_nfq_rules_text(cfg, &L->plan, L->queue, true);
	if (!rules) {
		seterr(errbuf, errlen, "out of memory (rules)");
		goto fail;
	}
	if (nat_nfq_restore(rules, errbuf, errlen) != 0)
		goto fail;
	L->chains = true;
	memset(L->plan.stale, 0, sizeof(L->plan.stale));
	struct nat_frag_sink sink = { .ctx = L, .fn = nfq_frag_out };
	nat_engine_set_frag_sink(e, &sink);
	if (stale.queueing && o->log)
		fprintf(o->log,
			"warning: replaced the GLASSNAT chains an earlier run "
			"left when it did not stop cleanly (they dropped the "
			"NAT's traffic until now)\n");
	else if (stale.chains > 0 && o->log)
		fprintf(o->log, "replaced the closed GLASSNAT chains the last "
				"run left when it stopped\n");
	if (o->log && !L->plan.defrag)
		fprintf(o->log,
			"%sfragments reach the queue as they are (the "
			"kernel's reassembly is off%s): the engine follows "
			"them\n",
			dfg ? "" : "warning: ",
			dfg ? ", GLASSNAT_NFQ_DEFRAG=0"
			    : ": no xt_socket match in this kernel");
	if (o->log) {
		fprintf(o->log,
			"queue %u bound (GSO on, receive buffer %d bytes, "
			"queue length %u); chains %s, %s, %s installed\n",
			L->queue, L->st.rcvbuf, QUEUE_MAXLEN, NAT_NFQ_CHAIN_RAW,
			NAT_NFQ_CHAIN_IN, NAT_NFQ_CHAIN_OUT);
		if (L->plan.in_dev[0] || L->plan.def_dev[0])
			fprintf(o->log,
				"inside interface %s, default route via %s\n",
				L->plan.in_dev[0] ? L->plan.in_dev : "?",
				L->plan.def_dev[0] ? L->plan.def_dev : "?");
		if (o->verbose)
			fprintf(o->log, "rules:\n%s", rules);
		fflush(o->log);
	}
	free(rules);
	refresh_addrs(L);
	return L;
fail:
	free(rules);
	nfq_close(L);
	return NULL;
}

static int nfq_run(struct nat_live *L, char *errbuf, size_t errlen)
{
	if (L->o.on_start && L->o.on_start(L->o.ctx, errbuf, errlen) != 0)
		return -1;
	return loop(L, errbuf, errlen);
}

static void nfq_request_stop(struct nat_live *L)
{
	L->stop = 1;
}

/* The final statistics print them in this order, two lines. */
static const struct nat_live_counter nfq_counter_list[] = {
	{ "batches", "Batches", 0, 0, 0 },
	{ "max_batch", "largest", 0, 0, NAT_LIVE_C_QUALIF },
	{ "gso", "GSO packets", 0, 0, 0 },
	{ "csum_full", "checksums computed in full", 0, 0, 0 },
	{ "queue_dropped", "Queue overflow", 0, 1, NAT_LIVE_C_LOSS },
	{ "user_dropped", "not delivered (socket full)", 0, 1,
	  NAT_LIVE_C_LOSS },
	{ "enobufs", "ENOBUFS", 0, 1, NAT_LIVE_C_LOSS },
	{ "verdict_errors", "verdict errors", 0, 1, 0 },
	{ "truncated", "truncated", 0, 1, 0 },
	{ "frag_late", "held fragments given a late verdict", 0, 1, 0 },
};

static size_t nfq_counters(struct nat_live *L, struct nat_live_counter *out,
			   size_t max)
{
	const size_t all = sizeof(nfq_counter_list) / sizeof(nfq_counter_list[0]);
	struct nfq_stats st = { 0 };
	uint64_t qd = 0, ud = 0;

	if (L) {
		st = L->st;
		if (L->nl)
			read_queue_counters(L, &qd, &ud);
	}
	const uint64_t v[] = { st.batches,   st.max_batch,	st.gso,
			       st.csum_full, qd,		ud,
			       st.enobufs,   st.verdict_errors, st.truncated,
			       st.frag_late };
	_Static_assert(sizeof(v) / sizeof(v[0]) ==
			       sizeof(nfq_counter_list) /
				       sizeof(nfq_counter_list[0]),
		       "one value per counter");
	size_t n = nat_live_fill_counters(nfq_counter_list, v, all, out, max);
	return n + nat_nfq_fp_counters(L ? &L->fp : NULL, out + n, max - n);
}

/* Binding the queue proves no run is going (EBUSY otherwise), and keeps
 * one from starting while the chains go. */
static int nfq_uninstall(const struct nat_config *cfg, FILE *log,
			 char *errbuf, size_t errlen)
{
	struct nat_live *L = calloc(1, sizeof(*L));
	char buf[8192], state[NAT_HOSTCFG_PATH_MAX], err[600];
	int rc = -1;

	if (!L) {
		seterr(errbuf, errlen, "out of memory");
		return -1;
	}
	L->queue = NFQ_QUEUE_NUM;
	L->o.log = log;
	L->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!L->nl || mnl_socket_bind(L->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		seterr(errbuf, errlen, "netlink socket: %s", strerror(errno));
		if (L->nl)
			mnl_socket_close(L->nl);
		L->nl = NULL;
		goto out;
	}
	L->portid = mnl_socket_get_portid(L->nl);
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, L->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (nfq_config(L, nlh, "bind", errbuf, errlen) != 0) {
		size_t n = strlen(errbuf);
		mnl_socket_close(L->nl); /* not ours to unbind */
		L->nl = NULL;
		snprintf(errbuf + n, errlen > n ? errlen - n : 0,
			 "; nothing removed (stop the running glassnat "
			 "first: it closes the path when it stops)");
		goto out;
	}
	if (snprintf(state, sizeof(state), "%s.host", cfg->control_socket) >=
	    (int)sizeof(state)) {
		seterr(errbuf, errlen, "control_socket %s: path too long",
		       cfg->control_socket);
		goto out;
	}
	nat_hostcfg_init(&L->host, NULL, host_log, log);
	if (nat_hostcfg_recover(&L->host, state, err, sizeof(err)) != 0) {
		seterr(errbuf, errlen,
		       "putting back the host settings a crashed run left: %s",
		       err);
		goto out;
	}
	int n = nat_nfq_remove_chains(errbuf, errlen);
	if (n < 0)
		goto out;
	if (log) {
		if (n > 0)
			fprintf(log,
				"removed %d GLASSNAT chain(s) and their jumps: "
				"the kernel forwards traffic from the inside "
				"untranslated again\n",
				n);
		else
			fprintf(log, "no GLASSNAT chain installed: nothing "
				     "to remove\n");
	}
	rc = 0;
out:
	queue_close(L);
	free(L);
	return rc;
}

const struct nat_live_ops nat_live_nfqueue = {
	.name = "nfqueue",
	.open = nfq_open,
	.run = nfq_run,
	.request_stop = nfq_request_stop,
	.set_forwards = nfq_set_forwards,
	.counters = nfq_counters,
	.close = nfq_close,
	.uninstall = nfq_uninstall,
};
