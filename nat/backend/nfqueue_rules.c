/* The NFQUEUE backend's iptables chains (see nfqueue_rules.h): what they
 * match, computed from the config; installed with iptables-restore
 * --noflush and removed with iptables, both run through fork + exec with
 * an argv (never a shell), so addresses and names never reach a shell
 * parser. */
#include "nfqueue_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "packet.h"

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

int nat_nfq_remove_chains(char *errbuf, size_t errlen)
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
				snprintf(errbuf, errlen,
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

static void plan_add_masq(struct nat_nfq_plan *pl, const char *ifname)
{
	for (unsigned i = 0; i < pl->n_masq; i++)
		if (strcmp(pl->masq_if[i], ifname) == 0)
			return;
	if (pl->n_masq < NAT_NFQ_MAX_OUTIF)
		snprintf(pl->masq_if[pl->n_masq++], IF_NAMESIZE, "%s", ifname);
}

void nat_nfq_plan_build(struct nat_nfq_plan *pl, const struct nat_config *cfg)
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
	/* Forwards on other addresses (external_ip) are queued there too;
	 * sources and in_interface are the engine's to check. */
	for (size_t i = 0; i < cfg->n_forwards; i++) {
		uint32_t x = cfg->forwards[i].ext_ip;
		bool seen = x == 0;
		for (unsigned k = 0; k < pl->n_ext; k++)
			seen |= pl->ext[k] == x;
		if (!seen && pl->n_ext < NAT_EXT_ADDR_MAX)
			pl->ext[pl->n_ext++] = x;
	}
	route_devs(cfg->internal.addr, cfg->internal.len, pl->def_dev,
		   pl->in_dev);
	if (pl->masq_any && pl->def_dev[0])
		plan_add_masq(pl, pl->def_dev);
}

/* Appends, for one match `m` of the packets addressed to one external
 * address, the inbound rules of chain with target. */
static void gen_inbound(struct sbuf *b, const struct nat_config *cfg,
			const struct nat_nfq_plan *pl, const char *chain,
			const char *m, const char *target)
{
	static const char *const protos[] = { "tcp", "udp" };
	const struct nat_port_range *pr = &cfg->port_range;

	for (int k = 0; k < 2; k++) {
		uint8_t proto = k == 0 ? 6 : 17;
		sb_printf(b, "-A %s %s -p %s --dport %u:%u -j %s\n", chain, m,
			  protos[k], pr->lo, pr->hi, target);
		for (size_t i = 0; i < cfg->n_forwards; i++) {
			const struct nat_forward_cfg *f = &cfg->forwards[i];
			if (f->proto != proto ||
			    (f->ext_port >= pr->lo && f->ext_port <= pr->hi))
				continue;
			sb_printf(b, "-A %s %s -p %s --dport %u -j %s\n", chain,
				  m, protos[k], f->ext_port, target);
		}
	}
	/* ICMP: errors (about our flows, RFC 5508) always; echo replies only
	 * for identifiers glassnat hands out, when xt_u32 can say so, so the
	 * host's own pings from this address keep working. */
	sb_printf(b, "-A %s %s -p icmp --icmp-type 3 -j %s\n", chain, m,
		  target);
	sb_printf(b, "-A %s %s -p icmp --icmp-type 11 -j %s\n", chain, m,
		  target);
	sb_printf(b, "-A %s %s -p icmp --icmp-type 12 -j %s\n", chain, m,
		  target);
	if (pl->u32_ok)
		sb_printf(b,
			  "-A %s %s -p icmp --icmp-type 0 -m u32 "
			  "--u32 \"0>>22&0x3C@4>>16=%u:%u\" -j %s\n",
			  chain, m, pr->lo, pr->hi, target);
	else
		sb_printf(b, "-A %s %s -p icmp --icmp-type 0 -j %s\n", chain,
			  m, target);
}

/* A fixed address: "! -i lo -d A/32" (the host talking to itself over
 * lo is never the NAT's). A masquerade interface: whatever arrives on it
 * for an address of that interface (addrtype LOCAL limited to the
 * incoming interface), so the match follows its address as it changes;
 * `-i IF` already excludes lo, and iptables takes one -i per rule. */
static void gen_all_inbound(struct sbuf *b, const struct nat_config *cfg,
			    const struct nat_nfq_plan *pl, const char *chain,
			    const char *target)
{
	char m[96], ip[16];

	for (unsigned i = 0; i < pl->n_ext; i++) {
		snprintf(m, sizeof(m), "! -i lo -d %s/32",
			 nat_ip_str(pl->ext[i], ip));
		gen_inbound(b, cfg, pl, chain, m, target);
	}
	for (unsigned i = 0; i < pl->n_masq; i++) {
		snprintf(m, sizeof(m),
			 "-i %s -m addrtype --dst-type LOCAL --limit-iface-in",
			 pl->masq_if[i]);
		gen_inbound(b, cfg, pl, chain, m, target);
	}
}

/* The iptables-restore input for the three chains; with `jumps` also the
 * jumps to them from the built-in chains (at install time only: a chain
 * declared again is flushed and refilled, its jump stays). */
char *nat_nfq_rules_text(const struct nat_config *cfg, const struct nat_nfq_plan *pl,
		       uint32_t queue, bool jumps)
{
	struct sbuf b = { 0 };
	char target[64], net[16];

	snprintf(target, sizeof(target), "NFQUEUE --queue-num %u", queue);
	nat_ip_str(cfg->internal.addr, net);

	sb_printf(&b, "*raw\n:%s - [0:0]\n", NAT_NFQ_CHAIN_RAW);
	sb_printf(&b,
		  "-A %s -s %s/%u -m addrtype ! --dst-type LOCAL "
		  "-j CT --notrack\n",
		  NAT_NFQ_CHAIN_RAW, net, cfg->internal.len);
	for (unsigned i = 1; i < cfg->n_nets; i++) /* more inside networks */
		sb_printf(&b,
			  "-A %s -s %s/%u -m addrtype ! --dst-type LOCAL "
			  "-j CT --notrack\n",
			  NAT_NFQ_CHAIN_RAW,
			  nat_ip_str(cfg->nets[i].cidr.addr, net),
			  cfg->nets[i].cidr.len);
	nat_ip_str(cfg->internal.addr, net);
	gen_all_inbound(&b, cfg, pl, NAT_NFQ_CHAIN_RAW, "CT --notrack");
	if (jumps)
		sb_printf(&b, "-I PREROUTING 1 -j %s\n", NAT_NFQ_CHAIN_RAW);
	sb_printf(&b, "COMMIT\n");

	sb_printf(&b, "*mangle\n:%s - [0:0]\n:%s - [0:0]\n", NAT_NFQ_CHAIN_IN,
		  NAT_NFQ_CHAIN_OUT);
	gen_all_inbound(&b, cfg, pl, NAT_NFQ_CHAIN_IN, target);
	/* The host's own inside address is never translated: its packets
	 * (IGMP, its own connections) need not wait for a verdict. */
	if (cfg->has_host_internal_ip) {
		char hip[16];
		sb_printf(&b, "-A %s -s %s/32 -j RETURN\n", NAT_NFQ_CHAIN_OUT,
			  nat_ip_str(cfg->host_internal_ip, hip));
	}
	sb_printf(&b, "-A %s -s %s/%u -j %s\n", NAT_NFQ_CHAIN_OUT, net,
		  cfg->internal.len, target);
	for (unsigned i = 1; i < cfg->n_nets; i++) /* more inside networks */
		sb_printf(&b, "-A %s -s %s/%u -j %s\n", NAT_NFQ_CHAIN_OUT,
			  nat_ip_str(cfg->nets[i].cidr.addr, net),
			  cfg->nets[i].cidr.len, target);
	if (jumps) {
		sb_printf(&b, "-I PREROUTING 1 -j %s\n", NAT_NFQ_CHAIN_IN);
		sb_printf(&b, "-I POSTROUTING 1 -j %s\n", NAT_NFQ_CHAIN_OUT);
	}
	sb_printf(&b, "COMMIT\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int nat_nfq_restore(const char *rules, char *errbuf, size_t errlen)
{
	char out[512];
	char *argv[] = { (char *)"iptables-restore", (char *)"-w",
			 (char *)"--noflush", NULL };

	int rc = run_prog(argv, rules, out, sizeof(out));
	if (rc != 0) {
		chomp(out);
		snprintf(errbuf, errlen, "iptables-restore failed (%d): %s", rc,
		       out[0] ? out : "no message");
		return -1;
	}
	return 0;
}

/* Whether the kernel takes an xt_u32 match (it is a module some kernels
 * lack): tried in a throwaway chain of the raw table. */
bool nat_nfq_probe_u32(void)
{
	static const char probe[] =
		"*raw\n:GLASSNAT-PROBE - [0:0]\n"
		"-A GLASSNAT-PROBE -p icmp -m u32 --u32 \"0>>22&0x3C@4>>16=1:2\" "
		"-j RETURN\nCOMMIT\n";
	char err[64];
	bool ok = nat_nfq_restore(probe, err, sizeof(err)) == 0;

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

void nat_nfq_startup_warnings(FILE *log)
{
	char buf[128];

	if (!log)
		return;
	if (read_proc("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)) &&
	    buf[0] == '0')
		fprintf(log,
			"warning: net.ipv4.ip_forward is 0: the kernel will "
			"not forward anything, nothing will be translated\n");
}
