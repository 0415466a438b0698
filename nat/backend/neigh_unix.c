/* nat_neigh_state() on Linux: one RTM_GETNEIGH dump over rtnetlink, the
 * entry for the address picked out. The dump is what `ip neigh show`
 * reads; a few hundred bytes per entry. */
#include "neigh.h"

#include <arpa/inet.h>
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
