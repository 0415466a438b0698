/* nat_neigh_state() on Linux: one RTM_GETNEIGH dump over rtnetlink, the
 * entry for the address picked out. The dump is what `ip neigh show`
 * reads; a few hundred bytes per entry. */
#include "neigh.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

const char *nat_neigh_state_name(unsigned nud)
{
	if (nud & NUD_REACHABLE)
		return "REACHABLE";
	if (nud & NUD_STALE)
		return "STALE";
	if (nud & NUD_DELAY)
		return "DELAY";
	if (nud & NUD_PROBE)
		return "PROBE";
	if (nud & NUD_INCOMPLETE)
		return "INCOMPLETE";
	if (nud & NUD_FAILED)
		return "FAILED";
	if (nud & NUD_NOARP)
		return "NOARP";
	if (nud & NUD_PERMANENT)
		return "PERMANENT";
	return "none";
}

/* The state of ip in one batch of dump messages; true when found. */
static bool scan(const uint8_t *buf, size_t n, uint32_t ip_be, unsigned *nud,
		 bool *done)
{
	bool found = false;
	while (n >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;
		memcpy(&h, buf, sizeof h);
		if (h.nlmsg_len < sizeof h || h.nlmsg_len > n)
			break;
		if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) {
			*done = true;
			break;
		}
		size_t off = NLMSG_LENGTH(sizeof(struct ndmsg));
		if (h.nlmsg_type == RTM_NEWNEIGH && h.nlmsg_len >= off) {
			struct ndmsg nd;
			memcpy(&nd, buf + NLMSG_HDRLEN, sizeof nd);
			while (nd.ndm_family == AF_INET &&
			       off + sizeof(struct rtattr) <= h.nlmsg_len) {
				struct rtattr a;
				memcpy(&a, buf + off, sizeof a);
				if (a.rta_len < sizeof a ||
				    off + a.rta_len > h.nlmsg_len)
					break;
				uint32_t dst;
				if (a.rta_type == NDA_DST &&
				    a.rta_len >= RTA_LENGTH(4)) {
					memcpy(&dst, buf + off + RTA_LENGTH(0),
					       4);
					if (dst == ip_be) {
						*nud = nd.ndm_state;
						found = true;
					}
				}
				off += RTA_ALIGN(a.rta_len);
			}
		}
		size_t step = NLMSG_ALIGN(h.nlmsg_len);
		if (step > n)
			break;
		buf += step;
		n -= step;
	}
	return found;
}

int nat_neigh_state(uint32_t ip, char *out, size_t len)
{
	snprintf(out, len, "unknown");
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct {
		struct nlmsghdr h;
		struct ndmsg nd;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = RTM_GETNEIGH;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 1;
	req.nd.ndm_family = AF_INET;
	if (send(fd, &req, sizeof req, 0) != (ssize_t)sizeof req) {
		close(fd);
		return -1;
	}
	static uint8_t buf[32768];
	uint32_t ip_be = htonl(ip);
	unsigned nud = 0;
	bool found = false, done = false;
	int rc = 0;
	for (int i = 0; i < 256 && !done; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0) {
			rc = -1;
			break;
		}
		if (scan(buf, (size_t)n, ip_be, &nud, &done))
			found = true;
	}
	close(fd);
	if (rc == 0)
		snprintf(out, len, "%s",
			 found ? nat_neigh_state_name(nud) : "none");
	return rc;
}

static uint32_t sa4(const struct sockaddr *sa)
{
	struct sockaddr_in in;
	memcpy(&in, sa, sizeof in);
	return ntohl(in.sin_addr.s_addr);
}

static unsigned prefix_len(uint32_t mask)
{
	unsigned n = 0;
	while (n < 32 && (mask & (0x80000000u >> n)))
		n++;
	return n;
}

int nat_host_net_of(uint32_t addr, char *ifname, size_t len,
		    struct nat_cidr *net)
{
	struct ifaddrs *ifa, *i;
	int rc = -1;
	if (getifaddrs(&ifa) != 0)
		return -1;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask ||
		    i->ifa_addr->sa_family != AF_INET)
			continue;
		uint32_t a = sa4(i->ifa_addr), m = sa4(i->ifa_netmask);
		if ((a & m) != (addr & m) || (a >> 24) == 127)
			continue;
		snprintf(ifname, len, "%s", i->ifa_name);
		net->addr = a & m;
		net->len = (uint8_t)prefix_len(m);
		rc = 0;
		break;
	}
	freeifaddrs(ifa);
	return rc;
}

void nat_host_lint_facts(const struct nat_config *cfg,
			 struct nat_lint_host *h)
{
	struct ifaddrs *ifa, *i;
	memset(h, 0, sizeof *h);
	uint32_t m = cfg->internal.len ? ~0u << (32 - cfg->internal.len) : 0;
	if (getifaddrs(&ifa) == 0) {
		h->internal_if_known = true;
		for (i = ifa; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			    (sa4(i->ifa_addr) & m) == cfg->internal.addr &&
			    (sa4(i->ifa_addr) >> 24) != 127)
				h->internal_on_if = true;
		freeifaddrs(ifa);
	}
	h->if_has_ipv4 = nat_host_if_has_ipv4;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo, hi;
	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) == 2 && lo <= hi &&
		    hi <= 65535) {
			h->ephemeral_known = true;
			h->ephemeral_lo = (uint16_t)lo;
			h->ephemeral_hi = (uint16_t)hi;
		}
		fclose(f);
	}
}

int nat_host_if_has_ipv4(const char *name)
{
	struct ifaddrs *ifa, *i;
	int rc = 0;
	if (getifaddrs(&ifa) != 0)
		return -1;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    strcmp(i->ifa_name, name) == 0)
			rc = 1;
	freeifaddrs(ifa);
	return rc;
}
