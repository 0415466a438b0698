/* The Linux live backend: see nfqueue.h.
 *
 * One worker thread per queue (`queues`, nat_nfq_queue_count()): each
 * has its own netlink socket bound to its own queue; recvmmsg() takes up
 * to BATCH queued packets at once, the engine translates them as a batch
 * (nat_process_batch), and every verdict of the batch goes back in one
 * sendmsg() whose iovecs point at the rewritten packets in the worker's
 * receive buffers (no copy). Buffers are sized at start; the packet path
 * allocates nothing.
 *
 * One engine serves every queue. Its calls are serialized by one mutex,
 * L->lock, held only around the engine work of a batch (direction,
 * nat_process_batch, the fragment sink it calls) and the housekeeping
 * after it (on_wake, on_tick, the address refresh, whatever the control
 * requests do). The expensive part of the slow path, the kernel copying
 * each packet to user space and back inside recvmmsg() and sendmsg(),
 * runs outside the lock, on as many cores as there are workers
 * (docs/performance-design.md has the profile and the measurements).
 * Because every engine call is made with the lock held, the engine's
 * hooks (events, trace records) are called by one thread at a time: the
 * observers' single-producer queues see a single producer, the lock
 * hand-over ordering one worker's writes before the next one's.
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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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

/* The first queue glassnat binds; a run binds NFQ_QUEUE_BASE ..
 * NFQ_QUEUE_BASE + n - 1 (docs and `glassnat run --help` name them). */
#define NFQ_QUEUE_BASE 0u

/* A held fragment's meta tag: its queue's index above its packet id, so
 * its late verdict goes to the socket of the queue it came from (only
 * that socket's port may give a verdict on that queue). */
#define TAG(idx, id) ((uint64_t)(idx) << 32 | (uint32_t)(id))
#define TAG_IDX(tag) ((unsigned)((tag) >> 32))
#define TAG_ID(tag) ((uint32_t)(tag))

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

unsigned nat_nfq_queue_count(const struct nat_config *cfg)
{
	if (cfg->queues >= 1)
		return cfg->queues > NAT_QUEUES_MAX ? NAT_QUEUES_MAX
						   : cfg->queues;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > NAT_QUEUES_MAX ? NAT_QUEUES_MAX : (unsigned)n;
}

/* ---- the queue sockets ---------------------------------------------------- */

/* What one queue saw; counters() reports them summed (with the kernel's)
 * and its packets per queue. Written by the queue's worker outside the
 * lock and read by counters() on another: relaxed atomics. */
struct nfq_stats {
	_Atomic uint64_t packets;	 /* packets received from the queue */
	_Atomic uint64_t batches;	 /* recvmmsg calls that returned packets */
	_Atomic uint64_t max_batch;	 /* most packets in one batch */
	_Atomic uint64_t gso;		 /* GSO super-packets (NFQA_SKB_GSO) */
	_Atomic uint64_t csum_full;	 /* L4 checksums recomputed in full */
	_Atomic uint64_t enobufs;	 /* ENOBUFS on the socket: the kernel
					  * lost messages (dropped, closed) */
	_Atomic uint64_t truncated;	 /* copy shorter than the packet */
	_Atomic uint64_t verdict_errors; /* sendmsg of verdicts failed */
};

#define ST_ADD(w, f, v) \
	atomic_fetch_add_explicit(&(w)->st.f, (v), memory_order_relaxed)
#define ST_GET(w, f) atomic_load_explicit(&(w)->st.f, memory_order_relaxed)

struct pkt_ref {
	uint32_t id;
	uint32_t skbinfo;
	uint8_t hook; /* NF_INET_*: POSTROUTING is outbound */
	bool truncated;
};

struct nat_live;

/* One queue and the thread that serves it. Everything here but st is
 * the worker's own; its socket is also used, under the lock, for the
 * late verdicts of fragments held from this queue (nfq_frag_out). */
struct nfq_worker {
	struct nat_live *L;
	unsigned idx;	/* 0 .. L->n - 1 */
	uint32_t queue; /* NFQ_QUEUE_BASE + idx */
	struct mnl_socket *nl;
	uint32_t portid;
	pthread_t thread;
	bool thread_started;
	struct nfq_stats st;
	uint8_t *rx; /* BATCH * RXBUF */
	struct mmsghdr msgs[BATCH];
	struct iovec rx_iov[BATCH];
	uint8_t vhdr[BATCH][VHDR]; /* verdict headers */
	struct iovec tx_iov[BATCH * 3];
	uint8_t *pkts[BATCH];
	size_t lens[BATCH];
	struct nat_meta metas[BATCH];
	struct nat_result res[BATCH];
	struct pkt_ref refs[BATCH];
	char ifnames[IFCACHE][IF_NAMESIZE]; /* "" = not looked up */
	char ifname_big[2][IF_NAMESIZE];    /* ifindex >= IFCACHE */
	unsigned if_gen;		    /* L->if_gen the cache is of */
};

struct nat_live {
	struct nat_engine *e;
	const struct nat_config *cfg;
	struct nat_live_opts o;
	atomic_int stop; /* request_stop(), or a worker failed */
	bool chains;	 /* installed: closed on exit */
	unsigned n;	 /* queues = workers */
	struct nfq_worker *w[NAT_QUEUES_MAX];
	int rcvbuf;	 /* socket receive buffer granted, bytes */
	int wfd;	 /* o.wake_fd's, or -1; worker 0 waits on it */
	/* The engine lock; everything below it is guarded by it. */
	pthread_mutex_t lock;
	bool lock_init;
	struct nat_nfq_plan plan;
	uint64_t last_ts;		/* the engine's clock never goes back */
	_Atomic uint64_t next_tick;	/* read unlocked to size idle waits */
	uint64_t next_refresh;
	atomic_uint if_gen;		/* bumped by refresh_addrs */
	uint8_t late_hdr[VHDR];		/* a held fragment's late verdict */
	uint64_t frag_late;		/* held fragments given it late */
	uint64_t late_errors;		/* late verdicts the kernel refused */
	bool warned_addr_full;
	char err[256];			/* the first worker failure */
	bool host_init;		 /* host: set up (restore on close) */
	struct nat_hostcfg host; /* sysctls set for the run (hostcfg.h) */
	struct nat_nfq_fp fp;	 /* the kernel fast path (fastpath: ...) */
};

/* Rewrites the chains for cfg with the forwards fw[0..n) in place of
 * cfg's: a forward's port is queued inbound only once it is here. Under
 * the lock (from on_tick or on_start). */
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
	pl.n_queues = L->plan.n_queues;
	pl.qmark = L->plan.qmark;
	pl.fastpath = L->plan.fastpath;
	char *rules = nat_nfq_rules_text(&c, &pl, NFQ_QUEUE_BASE, false);
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

/* Sends one config message on w's socket and waits for its
 * acknowledgement, so errors (EBUSY: the queue is bound by someone else;
 * EPERM) are reported. */
static int nfq_config(struct nfq_worker *w, struct nlmsghdr *nlh,
		      const char *what, char *errbuf, size_t errlen)
{
	char buf[8192];
	uint32_t seq = (uint32_t)time(NULL) ^ nlh->nlmsg_type;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0) {
		seterr(errbuf, errlen, "queue %u: %s: %s", w->queue, what,
		       strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			seterr(errbuf, errlen, "queue %u: %s: %s", w->queue,
			       what, strerror(errno));
			return -1;
		}
		int rc = mnl_cb_run(buf, (size_t)n, seq, w->portid, NULL, NULL);
		if (rc == MNL_CB_ERROR) {
			seterr(errbuf, errlen, "queue %u: %s: %s%s", w->queue,
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

/* Opens w's socket and binds it to w->queue (fails when another process
 * holds the queue). */
static int queue_open(struct nfq_worker *w, char *errbuf, size_t errlen)
{
	char buf[8192];
	struct nlmsghdr *nlh;

	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!w->nl) {
		seterr(errbuf, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		seterr(errbuf, errlen, "netlink bind: %s", strerror(errno));
		mnl_socket_close(w->nl);
		w->nl = NULL;
		return -1;
	}
	w->portid = mnl_socket_get_portid(w->nl);

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (nfq_config(w, nlh, "bind", errbuf, errlen) != 0) {
		mnl_socket_close(w->nl); /* not bound: nothing to unbind */
		w->nl = NULL;
		return -1;
	}

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	/* GSO on; fail-open deliberately off: a full queue drops. */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (nfq_config(w, nlh, "set mode (GSO)", errbuf, errlen) != 0)
		return -1;

	int fd = mnl_socket_get_fd(w->nl);
	int sz = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	sz = SNDBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	socklen_t sl = sizeof(w->L->rcvbuf);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &w->L->rcvbuf, &sl);
	/* Verdicts for packets we never ask an ACK for: no replies. */
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

	for (int i = 0; i < BATCH; i++) {
		w->rx_iov[i].iov_base = w->rx + (size_t)i * RXBUF;
		w->rx_iov[i].iov_len = RXBUF;
		memset(&w->msgs[i], 0, sizeof(w->msgs[i]));
		w->msgs[i].msg_hdr.msg_iov = &w->rx_iov[i];
		w->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void queue_close(struct nfq_worker *w)
{
	char buf[8192];
	char err[128];

	if (!w->nl)
		return;
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	(void)nfq_config(w, nlh, "unbind", err, sizeof(err));
	mnl_socket_close(w->nl);
	w->nl = NULL;
}

/* queue_dropped (queue full, queue_maxlen) and user_dropped (could not be
 * sent to us: socket full) of queues base .. base + n - 1, summed, from
 * /proc/net/netfilter/nfnetlink_queue (namespace-local), while bound. */
static void read_queue_counters(uint32_t base, unsigned n, uint64_t *dropped,
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
		    q >= base && q - base < n) {
			*dropped += qd;
			*user_dropped += ud;
		}
	}
	fclose(f);
}

/* ---- interfaces ---------------------------------------------------------------- */

/* The name of ifindex from w's cache (emptied when L->if_gen moves). */
static const char *ifname_of(struct nfq_worker *w, uint32_t ifindex, int slot)
{
	if (ifindex == 0)
		return NULL;
	char *dst = ifindex < IFCACHE ? w->ifnames[ifindex]
				      : w->ifname_big[slot];
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
 * address that went away still translate their replies). Every worker's
 * name cache is emptied too (at its next batch). Under the lock. */
static void refresh_addrs(struct nat_live *L)
{
	struct ifaddrs *ifa, *p;
	char err[128];

	atomic_fetch_add_explicit(&L->if_gen, 1, memory_order_relaxed);
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

/* Appends the verdict for packet i to w's iovecs; payload NULL: no
 * payload (accept unchanged, or drop). */
static size_t put_verdict(struct nfq_worker *w, int i, size_t niov,
			  uint32_t id, int verdict, uint8_t *payload,
			  size_t len, size_t *bytes)
{
	static const uint8_t zeros[4] = { 0 };
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)w->vhdr[i],
					     NFQNL_MSG_VERDICT, w->queue);

	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	if (payload) {
		struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);
		a->nla_type = NFQA_PAYLOAD;
		a->nla_len = (uint16_t)(sizeof(*a) + len);
		nlh->nlmsg_len += MNL_ALIGN(sizeof(*a));
		size_t hdr = nlh->nlmsg_len;
		size_t pad = MNL_ALIGN(len) - len;
		nlh->nlmsg_len += (uint32_t)MNL_ALIGN(len);
		w->tx_iov[niov++] = (struct iovec){ w->vhdr[i], hdr };
		w->tx_iov[niov++] = (struct iovec){ payload, len };
		if (pad)
			w->tx_iov[niov++] =
				(struct iovec){ (void *)zeros, pad };
	} else {
		w->tx_iov[niov++] = (struct iovec){ w->vhdr[i], nlh->nlmsg_len };
	}
	*bytes += nlh->nlmsg_len;
	return niov;
}

static void send_verdicts(struct nfq_worker *w, size_t niov)
{
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr mh = {
		.msg_name = &snl,
		.msg_namelen = sizeof(snl),
		.msg_iov = w->tx_iov,
		.msg_iovlen = niov,
	};

	if (niov == 0)
		return;
	while (sendmsg(mnl_socket_get_fd(w->nl), &mh, 0) < 0) {
		if (errno == EINTR)
			continue;
		/* The packets stay queued until the kernel gives up on
		 * them: fail closed, counted. */
		ST_ADD(w, verdict_errors, 1);
		return;
	}
}

/* The packets of the n messages recvmmsg returned, into w->pkts, lens,
 * metas (all but time and direction) and refs. No engine call: outside
 * the lock. Returns how many. */
static int parse_batch(struct nfq_worker *w, int n)
{
	unsigned gen = atomic_load_explicit(&w->L->if_gen,
					    memory_order_relaxed);
	uint64_t gso = 0;
	int m = 0;

	if (gen != w->if_gen) {
		memset(w->ifnames, 0, sizeof(w->ifnames));
		w->if_gen = gen;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *buf = w->rx + (size_t)i * RXBUF;
		int len = (int)w->msgs[i].msg_len;
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
			struct pkt_ref *r = &w->refs[m];
			r->id = ntohl(ph.packet_id);
			r->hook = ph.hook;
			r->skbinfo = attr[NFQA_SKB_INFO]
					     ? ntohl(mnl_attr_get_u32(
						       attr[NFQA_SKB_INFO]))
					     : 0;
			w->pkts[m] = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
			w->lens[m] = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
			r->truncated =
				attr[NFQA_CAP_LEN] &&
				ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) >
					w->lens[m];
			uint32_t in = attr[NFQA_IFINDEX_INDEV]
					      ? ntohl(mnl_attr_get_u32(
							attr[NFQA_IFINDEX_INDEV]))
					      : 0;
			uint32_t out = attr[NFQA_IFINDEX_OUTDEV]
					       ? ntohl(mnl_attr_get_u32(
							 attr[NFQA_IFINDEX_OUTDEV]))
					       : 0;
			struct nat_meta *mt = &w->metas[m];
			mt->tag = TAG(w->idx, r->id); /* a held fragment's */
			mt->in_if = ifname_of(w, in, 0);
			mt->out_if = ifname_of(w, out, 1);
			if (r->skbinfo & NFQA_SKB_GSO)
				gso++;
			m++;
		}
	}
	if (m == 0)
		return 0;
	ST_ADD(w, packets, (uint64_t)m);
	ST_ADD(w, batches, 1);
	ST_ADD(w, gso, gso);
	if ((uint64_t)m > ST_GET(w, max_batch)) /* only w writes it */
		atomic_store_explicit(&w->st.max_batch, (uint64_t)m,
				      memory_order_relaxed);
	return m;
}

/* The engine's part of a batch: its time, each packet's direction, the
 * translation. Under the lock. */
static void engine_batch(struct nat_live *L, struct nfq_worker *w, int m)
{
	uint64_t ts = now_ns();

	if (ts < L->last_ts)
		ts = L->last_ts; /* the engine's clock never goes back */
	L->last_ts = ts;
	for (int i = 0; i < m; i++) {
		struct nat_meta *mt = &w->metas[i];
		mt->ts_ns = ts;
		/* POSTROUTING carries only traffic from the inside;
		 * PREROUTING carries traffic to our addresses, from
		 * outside or, hairpinned, from inside. */
		if (w->refs[i].hook == NF_INET_POST_ROUTING) {
			mt->dir = NAT_DIR_OUT;
		} else {
			mt->dir = nat_engine_classify(L->e, w->pkts[i],
						      w->lens[i]);
			if (mt->dir == NAT_DIR_UNKNOWN)
				mt->dir = NAT_DIR_IN;
		}
	}
	nat_process_batch(L->e, w->pkts, w->lens, w->metas, w->res, (size_t)m);
}

/* The verdicts of a batch, back to w's queue in as few sendmsg calls as
 * SEND_CHUNK allows. Outside the lock: only w's buffers and socket. */
static void send_batch(struct nfq_worker *w, int m)
{
	size_t niov = 0, bytes = 0;

	for (int i = 0; i < m; i++) {
		const struct pkt_ref *r = &w->refs[i];
		int v = NF_ACCEPT;
		uint8_t *payload = NULL;

		if (w->res[i].verdict == NAT_V_HELD)
			continue; /* verdict later, from nfq_frag_out */
		switch (w->res[i].verdict) {
		case NAT_V_NAT:
			if (r->truncated) {
				/* Handing back a cut copy would cut the
				 * packet; untranslated it must not leave. */
				ST_ADD(w, truncated, 1);
				v = NF_DROP;
				break;
			}
			payload = w->pkts[i];
			if ((r->skbinfo & NFQA_SKB_CSUMNOTREADY) &&
			    !(r->skbinfo & NFQA_SKB_GSO)) {
				struct nat_pkt p;
				if (nat_pkt_parse(&p, w->pkts[i], w->lens[i]) ==
				    NAT_PARSE_OK) {
					nat_pkt_l4_csum_full(&p);
					ST_ADD(w, csum_full, 1);
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
		niov = put_verdict(w, i, niov, r->id, v, payload, w->lens[i],
				   &bytes);
		if (bytes >= SEND_CHUNK) {
			send_verdicts(w, niov);
			niov = 0;
			bytes = 0;
		}
	}
	send_verdicts(w, niov);
}

/* The engine's fragment sink (docs/fragments.md): a non-first fragment
 * the engine held (NAT_V_HELD, no verdict given) leaves now. Its tag
 * names its queue and packet id; the verdict, on that queue's socket,
 * carries the fragment as rewritten, or drops it. Sent at once, on its
 * own: the caller may be in the middle of a batch whose verdicts are not
 * built yet. Called by the engine, so under the lock (late_hdr and the
 * counters are the lock's). */
static void nfq_frag_out(void *ctx, uint64_t tag, const uint8_t *pkt,
			 size_t len, const struct nat_meta *meta,
			 const struct nat_result *res)
{
	static const uint8_t zeros[4] = { 0 };
	struct nat_live *L = ctx;
	unsigned idx = TAG_IDX(tag);
	struct nfq_worker *w = idx < L->n ? L->w[idx] : NULL;
	struct iovec iov[3];
	size_t n = 0;

	(void)meta;
	if (!w || !w->nl) {
		L->late_errors++; /* no such queue: it stays, fail closed */
		return;
	}
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)L->late_hdr,
					     NFQNL_MSG_VERDICT, w->queue);
	if (res->verdict == NAT_V_NAT || res->verdict == NAT_V_BYPASS ||
	    res->verdict == NAT_V_PASS) {
		nfq_nlmsg_verdict_put(nlh, (int)TAG_ID(tag), NF_ACCEPT);
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
		nfq_nlmsg_verdict_put(nlh, (int)TAG_ID(tag), NF_DROP);
		iov[n++] = (struct iovec){ L->late_hdr, nlh->nlmsg_len };
	}
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr mh = { .msg_name = &snl,
			     .msg_namelen = sizeof(snl),
			     .msg_iov = iov,
			     .msg_iovlen = n };
	/* The worker of that queue may be in sendmsg on the same socket:
	 * the kernel takes each message whole. */
	while (sendmsg(mnl_socket_get_fd(w->nl), &mh, 0) < 0) {
		if (errno == EINTR)
			continue;
		L->late_errors++; /* it stays queued: fail closed */
		return;
	}
	L->frag_late++;
}

/* Idle: waits for the queue (and, wfd >= 0, the wake descriptor) up to
 * the next tick; a wake is read (the eventfd cleared) here. */
static void wait_idle(struct nat_live *L, int fd, int wfd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = wfd, .events = POLLIN } };
	uint64_t t = now_ns();
	uint64_t next = atomic_load_explicit(&L->next_tick,
					     memory_order_relaxed);
	int ms = t >= next ? 0 : (int)((next - t) / 1000000u) + 1;
	if (poll(p, wfd >= 0 ? 2 : 1, ms > 100 ? 100 : ms) > 0 &&
	    wfd >= 0 && (p[1].revents & POLLIN)) {
		uint64_t v;
		ssize_t r = read(wfd, &v, sizeof(v));
		(void)r;
	}
}

/* What runs after every batch and every idle wake of any worker, under
 * the lock: control requests (on_wake), then the tick and the address
 * refresh when due. So ticks run on whichever worker comes first after
 * they are due: every worker wakes at least every TICK_NS. */
static void housekeeping(struct nat_live *L)
{
	if (L->o.on_wake)
		L->o.on_wake(L->o.ctx);
	uint64_t t = now_ns();
	if (t >= atomic_load_explicit(&L->next_tick, memory_order_relaxed)) {
		if (t < L->last_ts)
			t = L->last_ts;
		L->last_ts = t;
		nat_engine_tick(L->e, t);
		if (L->o.on_tick)
			L->o.on_tick(L->o.ctx, t);
		nat_nfq_fp_tick(&L->fp);
		atomic_store_explicit(&L->next_tick, t + TICK_NS,
				      memory_order_relaxed);
	}
	if (t >= L->next_refresh) {
		refresh_addrs(L);
		L->next_refresh = t + REFRESH_NS;
	}
}

/* One worker: receive (no lock), translate and housekeeping (lock), send
 * the verdicts (no lock), until a stop request or a failure. Worker 0
 * also waits on the wake descriptor when idle. */
static void *worker_main(void *arg)
{
	struct nfq_worker *w = arg;
	struct nat_live *L = w->L;
	int fd = mnl_socket_get_fd(w->nl);
	int wfd = w->idx == 0 ? L->wfd : -1;

	while (!atomic_load_explicit(&L->stop, memory_order_relaxed)) {
		int n = recvmmsg(fd, w->msgs, BATCH,
				 MSG_WAITFORONE | MSG_DONTWAIT, NULL);
		int err = n < 0 ? errno : 0, m = 0;
		if (n > 0) {
			m = parse_batch(w, n);
		} else if (n < 0) {
			if (err == ENOBUFS) {
				/* The kernel could not deliver: those packets
				 * are dropped (fail closed). Keep going. */
				ST_ADD(w, enobufs, 1);
			} else if (err == EAGAIN || err == EWOULDBLOCK) {
				wait_idle(L, fd, wfd);
			} else if (err != EINTR) {
				pthread_mutex_lock(&L->lock);
				if (!L->err[0])
					seterr(L->err, sizeof(L->err),
					       "queue %u: recvmmsg: %s",
					       w->queue, strerror(err));
				pthread_mutex_unlock(&L->lock);
				atomic_store(&L->stop, 1);
				break;
			}
		}
		pthread_mutex_lock(&L->lock);
		if (m > 0)
			engine_batch(L, w, m);
		housekeeping(L);
		pthread_mutex_unlock(&L->lock);
		if (m > 0)
			send_batch(w, m);
	}
	return NULL;
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
	for (unsigned i = 0; i < L->n; i++) {
		if (!L->w[i])
			continue;
		queue_close(L->w[i]);
		free(L->w[i]->rx);
		free(L->w[i]);
	}
	if (L->lock_init)
		pthread_mutex_destroy(&L->lock);
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
	L->n = nat_nfq_queue_count(cfg);
	L->wfd = -1;
	if (pthread_mutex_init(&L->lock, NULL) != 0) {
		seterr(errbuf, errlen, "cannot create the engine lock");
		goto fail;
	}
	L->lock_init = true;
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
	/* Every queue, in order: queue 0 first, so a second glassnat
	 * fails on it before anything else. */
	for (unsigned i = 0; i < L->n; i++) {
		struct nfq_worker *w = calloc(1, sizeof(*w));
		if (!w || !(w->rx = malloc((size_t)BATCH * RXBUF))) {
			free(w);
			seterr(errbuf, errlen,
			       "out of memory (queue %u: %d receive buffers)",
			       NFQ_QUEUE_BASE + i, BATCH);
			goto fail;
		}
		w->L = L;
		w->idx = i;
		w->queue = NFQ_QUEUE_BASE + i;
		L->w[i] = w;
		if (queue_open(w, errbuf, errlen) != 0)
			goto fail;
	}
	L->plan.n_queues = L->n;
	/* With the fast path (opened below) the rules steer by its mark.
	 * GLASSNAT_NFQ_QMARK=1 steers by the mark without the fast path:
	 * for tests that set the marks themselves (multiqueue_test.sh). */
	const char *qm = getenv("GLASSNAT_NFQ_QMARK");
	L->plan.qmark = L->n > 1 && qm && strcmp(qm, "1") == 0;

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
	if (nat_nfq_fp_open(&L->fp, e, cfg, L->n, o->log, errbuf, errlen) !=
	    0)
		goto fail;
	L->plan.fastpath = L->fp.fp != NULL;
	/* The fast path's TC program marks each packet it does not
	 * translate with its queue index (flow hash modulo L->n,
	 * NAT_FP_QMARK): the rules steer by that mark. */
	if (L->plan.fastpath && L->n > 1)
		L->plan.qmark = true;
	rules = nat_nfq_rules_text(cfg, &L->plan, NFQ_QUEUE_BASE, true);
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
		char qs[32];
		if (L->n == 1)
			snprintf(qs, sizeof(qs), "queue %u", NFQ_QUEUE_BASE);
		else
			snprintf(qs, sizeof(qs), "queues %u-%u", NFQ_QUEUE_BASE,
				 NFQ_QUEUE_BASE + L->n - 1);
		fprintf(o->log,
			"%s bound (%u worker thread%s, spread %s; GSO on, "
			"receive buffer %d bytes, queue length %u); chains %s, "
			"%s, %s installed\n",
			qs, L->n, L->n == 1 ? "" : "s",
			L->n == 1 ? "none"
			: L->plan.qmark ? "by the fast path's flow hash mark"
					: "by addresses (--queue-balance)",
			L->rcvbuf, QUEUE_MAXLEN, NAT_NFQ_CHAIN_RAW,
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

/* on_start, then worker 0 on this thread and the others on their own
 * threads (signals blocked there, so they reach this one) until a stop
 * request or a worker's failure; every worker is joined before it
 * returns. */
static int nfq_run(struct nat_live *L, char *errbuf, size_t errlen)
{
	sigset_t all, old;

	if (L->o.on_start && L->o.on_start(L->o.ctx, errbuf, errlen) != 0)
		return -1;
	L->wfd = L->o.wake_fd ? L->o.wake_fd(L->o.ctx) : -1;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 1; i < L->n; i++) {
		int rc = pthread_create(&L->w[i]->thread, NULL, worker_main,
					L->w[i]);
		if (rc == 0) { /* `top -H` shows the workers by queue */
			char name[16];
			snprintf(name, sizeof(name), "glassnat-q%u",
				 L->w[i]->queue);
			pthread_setname_np(L->w[i]->thread, name);
		}
		if (rc != 0) {
			seterr(L->err, sizeof(L->err),
			       "queue %u: cannot start its worker thread: %s",
			       L->w[i]->queue, strerror(rc));
			atomic_store(&L->stop, 1);
			break;
		}
		L->w[i]->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	worker_main(L->w[0]);
	atomic_store(&L->stop, 1); /* worker 0 failed: the others stop too */
	for (unsigned i = 1; i < L->n; i++)
		if (L->w[i]->thread_started) {
			pthread_join(L->w[i]->thread, NULL);
			L->w[i]->thread_started = false;
		}
	if (L->err[0]) {
		seterr(errbuf, errlen, "%s", L->err);
		return -1;
	}
	return 0;
}

static void nfq_request_stop(struct nat_live *L)
{
	atomic_store(&L->stop, 1); /* lock-free: async-signal-safe */
}

/* The final statistics print them in this order, two lines; then the
 * packets each queue received (packets_q0 .. _q15, the queues there
 * are), so an operator sees how the slow path spreads. */
#define Q_ROW(k) { "packets_q" #k, "queue " #k, 0, 3, 0 }
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
	{ "queues", "Queues", 0, 2, 0 },
	{ "packets", "packets received", 0, 2, 0 },
	Q_ROW(0),  Q_ROW(1),  Q_ROW(2),	 Q_ROW(3),  Q_ROW(4),  Q_ROW(5),
	Q_ROW(6),  Q_ROW(7),  Q_ROW(8),	 Q_ROW(9),  Q_ROW(10), Q_ROW(11),
	Q_ROW(12), Q_ROW(13), Q_ROW(14), Q_ROW(15),
};
enum { NFQ_FIXED_COUNTERS = 12 }; /* the rows before packets_q0 */
_Static_assert(sizeof(nfq_counter_list) / sizeof(nfq_counter_list[0]) ==
		       NFQ_FIXED_COUNTERS + NAT_QUEUES_MAX,
	       "one packets_qN row per possible queue");
_Static_assert(NFQ_FIXED_COUNTERS + NAT_QUEUES_MAX <= NAT_LIVE_COUNTERS_MAX,
	       "live.h has room for every counter");

/* Under the lock (on_tick, on_wake, on_start) or after run(): the
 * workers' counters are read with relaxed loads, the rest is the
 * lock's. Only the queues this run has are reported per queue. */
static size_t nfq_counters(struct nat_live *L, struct nat_live_counter *out,
			   size_t max)
{
	uint64_t v[NFQ_FIXED_COUNTERS + NAT_QUEUES_MAX] = { 0 };
	uint64_t qd = 0, ud = 0;
	size_t all = NFQ_FIXED_COUNTERS + (L ? L->n : 1);

	for (unsigned i = 0; L && i < L->n; i++) {
		const struct nfq_worker *w = L->w[i];
		if (!w)
			continue;
		uint64_t mb = ST_GET(w, max_batch);
		v[0] += ST_GET(w, batches);
		v[1] = mb > v[1] ? mb : v[1];
		v[2] += ST_GET(w, gso);
		v[3] += ST_GET(w, csum_full);
		v[6] += ST_GET(w, enobufs);
		v[7] += ST_GET(w, verdict_errors);
		v[8] += ST_GET(w, truncated);
		v[11] += ST_GET(w, packets);
		v[NFQ_FIXED_COUNTERS + i] = ST_GET(w, packets);
	}
	if (L) {
		if (L->w[0] && L->w[0]->nl)
			read_queue_counters(NFQ_QUEUE_BASE, L->n, &qd, &ud);
		v[4] = qd;
		v[5] = ud;
		v[7] += L->late_errors;
		v[9] = L->frag_late;
		v[10] = L->n;
	}
	size_t n = nat_live_fill_counters(nfq_counter_list, v, all, out, max);
	return n + nat_nfq_fp_counters(L ? &L->fp : NULL, out + n, max - n);
}

/* Binding queue 0 proves no run is going (every run binds it first:
 * EBUSY otherwise), and keeps one from starting while the chains go.
 * The chains are removed whatever queues a crashed run used. */
static int nfq_uninstall(const struct nat_config *cfg, FILE *log,
			 char *errbuf, size_t errlen)
{
	struct nat_live *L = calloc(1, sizeof(*L));
	struct nfq_worker q0 = { .L = L, .queue = NFQ_QUEUE_BASE };
	char buf[8192], state[NAT_HOSTCFG_PATH_MAX], err[600];
	int rc = -1;

	if (!L) {
		seterr(errbuf, errlen, "out of memory");
		return -1;
	}
	L->o.log = log;
	q0.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q0.nl || mnl_socket_bind(q0.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		seterr(errbuf, errlen, "netlink socket: %s", strerror(errno));
		if (q0.nl)
			mnl_socket_close(q0.nl);
		q0.nl = NULL;
		goto out;
	}
	q0.portid = mnl_socket_get_portid(q0.nl);
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q0.queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (nfq_config(&q0, nlh, "bind", errbuf, errlen) != 0) {
		size_t n = strlen(errbuf);
		mnl_socket_close(q0.nl); /* not ours to unbind */
		q0.nl = NULL;
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
	queue_close(&q0);
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
