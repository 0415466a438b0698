/* The NFQUEUE backend's kernel fast path for one run: see
 * nfqueue_fastpath.h. The program (fastpath.h) goes on every Ethernet
 * interface of the namespace that is up and has an IPv4 address (not
 * loopback): whichever one carries an inside network or the outside route,
 * a packet of an offloaded flow meets it where it arrives, and on any
 * other it finds no map entry and goes on as before. */
#include "nfqueue_fastpath.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fastpath.h"

/* Whether ifname is up and Ethernet (veth, bridges, NICs), by ioctl on
 * fd. */
static bool if_wanted(int fd, const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP) ||
	    (ifr.ifr_flags & IFF_LOOPBACK))
		return false;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return false;
	return ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
}

/* Fills f->ifnames: every interface with an IPv4 address (an inside
 * network's or the outside link's) that if_wanted() accepts. Bridge ports
 * carry no address and are left out: the bridge itself gets the program,
 * so a packet is looked up once. Returns -1 with errbuf when there is none
 * or too many. */
static int pick_ifs(struct nat_nfq_fp *f, char *errbuf, size_t errlen)
{
	struct ifaddrs *all = NULL;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	f->n_ifs = 0;
	if (fd < 0 || getifaddrs(&all) != 0) {
		snprintf(errbuf, errlen, "listing the interfaces: %s",
			 strerror(errno));
		rc = -1;
		goto out;
	}
	for (struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET ||
		    !if_wanted(fd, a->ifa_name))
			continue;
		bool dup = false;
		for (size_t i = 0; i < f->n_ifs; i++)
			dup |= strcmp(f->ifnames[i], a->ifa_name) == 0;
		if (dup)
			continue;
		if (f->n_ifs == NAT_NFQ_FP_MAX_IFS) {
			snprintf(errbuf, errlen,
				 "more than %d Ethernet interfaces with an "
				 "IPv4 address are up",
				 NAT_NFQ_FP_MAX_IFS);
			rc = -1;
			goto out;
		}
		snprintf(f->ifnames[f->n_ifs++], IF_NAMESIZE, "%s", a->ifa_name);
	}
	if (f->n_ifs == 0) {
		snprintf(errbuf, errlen,
			 "no Ethernet interface with an IPv4 address is up");
		rc = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	if (all)
		freeifaddrs(all);
	return rc;
}

int nat_nfq_fp_open(struct nat_nfq_fp *f, struct nat_engine *e,
		    const struct nat_config *cfg, unsigned n_queues, FILE *log,
		    char *errbuf, size_t errlen)
{
	const char *names[NAT_NFQ_FP_MAX_IFS];
	char why[512];

	memset(f, 0, sizeof(*f));
	if (cfg->fastpath == NAT_FASTPATH_OFF) {
		if (log)
			fprintf(log, "fast path off (fastpath: off or "
				     "--no-fastpath): every packet goes "
				     "through the queue\n");
		return 0;
	}
	if (pick_ifs(f, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < f->n_ifs; i++)
			names[i] = f->ifnames[i];
		struct nat_fastpath_opts o = {
			.ifnames = names,
			.n_ifnames = f->n_ifs,
			.max_flows = cfg->limits.max_flows,
			.n_queues = n_queues ? n_queues : 1,
		};
		f->fp = nat_fastpath_open(&o, why, sizeof(why));
	}
	if (f->fp) {
		struct nat_offload_ops ops = nat_fastpath_ops(f->fp);
		if (nat_engine_set_offload(e, &ops, why, sizeof(why)) != 0) {
			nat_fastpath_close(f->fp);
			f->fp = NULL;
		}
	}
	if (!f->fp) {
		if (cfg->fastpath == NAT_FASTPATH_ON) {
			snprintf(errbuf, errlen,
				 "fastpath: on, but the kernel fast path cannot "
				 "be loaded: %s",
				 why);
			return -1;
		}
		if (log)
			fprintf(log,
				"fast path off: %s (fastpath: auto; every packet "
				"goes through the queue)\n",
				why);
		return 0;
	}
	f->e = e;
	if (log) {
		fprintf(log, "fast path on: established flows nobody traces "
			     "are translated in the kernel (TC BPF on");
		for (size_t i = 0; i < f->n_ifs; i++)
			fprintf(log, "%s%s", i ? ", " : " ", f->ifnames[i]);
		fprintf(log, "; room for %u flows)\n", cfg->limits.max_flows);
	}
	return 0;
}

void nat_nfq_fp_close(struct nat_nfq_fp *f)
{
	if (!f->fp)
		return;
	char err[64];
	/* Every flow's kernel counters into the engine, then no more (it
	 * cannot fail without ops: it reserves nothing). */
	if (nat_engine_set_offload(f->e, NULL, err, sizeof(err)) != 0)
		f->e = NULL;
	nat_fastpath_close(f->fp);
	f->fp = NULL;
}

static const struct nat_live_counter fp_counter_list[] = {
	{ "fastpath_loaded", "Fast path loaded", 0, 2, 0 },
	{ "fastpath_hit", "translated in the kernel", 0, 2, 0 },
	{ "fastpath_error", "dropped by the kernel fast path", 0, 2,
	  NAT_LIVE_C_LOSS },
};

size_t nat_nfq_fp_counters(const struct nat_nfq_fp *f,
			   struct nat_live_counter *out, size_t max)
{
	const size_t all = sizeof(fp_counter_list) / sizeof(fp_counter_list[0]);
	uint64_t v[3] = { f && f->fp ? 1 : 0, 0, 0 };

	if (f && f->fp) {
		const char *names[32];
		uint64_t vals[32];
		size_t n = nat_fastpath_counters(f->fp, names, vals, 32);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(names[i], "fastpath_hit") == 0)
				v[1] = vals[i];
			else if (strcmp(names[i], "fastpath_error") == 0)
				v[2] = vals[i];
		}
	}
	return nat_live_fill_counters(fp_counter_list, v, all, out, max);
}
