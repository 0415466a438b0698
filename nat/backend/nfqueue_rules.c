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

#include "fastpath.h"
#include "packet.h"

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

/* ---- running iptables ---------------------------------------------------- */

/* Reads fd to its end into buf[0..len) (NUL-terminated, the rest read
 * and dropped); len 0: all dropped. */
static void read_all(int fd, char *buf, size_t len)
{
	size_t used = 0;
	char sink[256];

	for (;;) {
		char *dst = used + 1 < len ? buf + used : sink;
		size_t room = used + 1 < len ? len - used - 1 : sizeof(sink);
		ssize_t r = read(fd, dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst != sink)
			used += (size_t)r;
	}
	if (len)
		buf[used] = '\0';
}

/* Runs argv[0] (PATH, then /usr/sbin and /sbin) with `input` on its stdin;
 * its stdout is collected into SOUT_LEN bytes at sout (NULL: dropped), its
 * stderr into out (both NUL-terminated). Returns the exit status, or -1
 * when it could not be run. */
enum { SOUT_LEN = 1 << 20 };
static int run_prog(char *const argv[], const char *input, char *sout,
		    char *out, size_t outlen)
{
	int in_pipe[2], err_pipe[2], out_pipe[2] = { -1, -1 };
	pid_t pid;

	if (pipe2(in_pipe, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(err_pipe, O_CLOEXEC) != 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		return -1;
	}
	if (sout && pipe2(out_pipe, O_CLOEXEC) != 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		if (sout) {
			close(out_pipe[0]);
			close(out_pipe[1]);
		}
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
		if (sout)
			dup2(out_pipe[1], 1);
		else if (devnull >= 0)
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
	if (sout)
		close(out_pipe[1]);
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
	if (sout) { /* a save is small; its stderr waits in its pipe */
		read_all(out_pipe[0], sout, SOUT_LEN);
		close(out_pipe[0]);
	}
	read_all(err_pipe[0], out, outlen);
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

	return run_prog(argv, NULL, NULL, out, sizeof(out));
}

/* The jumps and chains of ours in `iptables-save` text. */
void nat_nfq_stale_parse(const char *save, struct nat_nfq_stale *st)
{
	static const char *const jump[NAT_NFQ_J_MAX] = {
		"-A PREROUTING -j " NAT_NFQ_CHAIN_RAW,
		"-A PREROUTING -j " NAT_NFQ_CHAIN_IN,
		"-A POSTROUTING -j " NAT_NFQ_CHAIN_OUT,
	};
	static const char *const decl[NAT_NFQ_J_MAX] = {
		":" NAT_NFQ_CHAIN_RAW " ",
		":" NAT_NFQ_CHAIN_IN " ",
		":" NAT_NFQ_CHAIN_OUT " ",
	};
	bool raw = false;

	memset(st, 0, sizeof(*st));
	for (const char *p = save; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len >= 4 && memcmp(p, "*raw", 4) == 0)
			raw = true;
		else if (len >= 1 && p[0] == '*')
			raw = false;
		for (int k = 0; k < NAT_NFQ_J_MAX; k++) {
			/* The raw chain's jump lives in raw, the others in
			 * mangle: both PREROUTING. */
			if ((k == NAT_NFQ_J_RAW) != raw)
				continue;
			size_t jl = strlen(jump[k]), dl = strlen(decl[k]);
			if (len == jl && memcmp(p, jump[k], jl) == 0)
				st->jumps[k]++;
			if (len > dl && memcmp(p, decl[k], dl) == 0)
				st->chains++;
		}
		if (len > 12 && memcmp(p, "-A GLASSNAT-", 12) == 0) {
			if (memmem(p, len, "NFQUEUE", 7))
				st->queueing = true;
			if (memmem(p, len, NAT_NFQ_CLOSED, strlen(NAT_NFQ_CLOSED)))
				st->closed = true;
		}
		p += len + (e != NULL);
	}
}

int nat_nfq_read_stale(struct nat_nfq_stale *st, char *errbuf, size_t errlen)
{
	static const char *const tables[] = { "raw", "mangle" };
	char *all = malloc(2 * (size_t)SOUT_LEN);
	size_t used = 0;

	if (!all) {
		snprintf(errbuf, errlen, "out of memory (iptables-save)");
		return -1;
	}
	all[0] = '\0';
	for (size_t i = 0; i < 2; i++) {
		char err[256];
		char *argv[] = { (char *)"iptables-save", (char *)"-t",
				 (char *)tables[i], NULL };
		int rc = run_prog(argv, NULL, all + used, err, sizeof(err));
		if (rc != 0) {
			chomp(err);
			snprintf(errbuf, errlen, "iptables-save -t %s failed (%d): %s",
				 tables[i], rc, err[0] ? err : strerror(errno));
			free(all);
			return -1;
		}
		used = strlen(all);
	}
	nat_nfq_stale_parse(all, st);
	free(all);
	return 0;
}

int nat_nfq_remove_chains(char *errbuf, size_t errlen)
{
	struct nat_nfq_stale st;
	struct sbuf b = { 0 };
	static const struct {
		const char *table, *parent, *chain;
	} set[NAT_NFQ_J_MAX] = {
		[NAT_NFQ_J_RAW] = { "raw", "PREROUTING", NAT_NFQ_CHAIN_RAW },
		[NAT_NFQ_J_IN] = { "mangle", "PREROUTING", NAT_NFQ_CHAIN_IN },
		[NAT_NFQ_J_OUT] = { "mangle", "POSTROUTING", NAT_NFQ_CHAIN_OUT },
	};

	if (nat_nfq_read_stale(&st, errbuf, errlen) != 0)
		return -1;
	if (st.chains == 0)
		return 0;
	/* One transaction per table run by one iptables-restore: every
	 * jump first, then the chains (declared first, so -X cannot fail on
	 * a chain an earlier half-done removal already took away). */
	for (int t = 0; t < 2; t++) {
		sb_printf(&b, "*%s\n", t == 0 ? "raw" : "mangle");
		for (int k = 0; k < NAT_NFQ_J_MAX; k++)
			if ((k == NAT_NFQ_J_RAW) == (t == 0))
				sb_printf(&b, ":%s - [0:0]\n", set[k].chain);
		for (int k = 0; k < NAT_NFQ_J_MAX; k++) {
			if ((k == NAT_NFQ_J_RAW) != (t == 0))
				continue;
			for (unsigned n = 0; n < st.jumps[k]; n++)
				sb_printf(&b, "-D %s -j %s\n", set[k].parent,
					  set[k].chain);
		}
		for (int k = 0; k < NAT_NFQ_J_MAX; k++)
			if ((k == NAT_NFQ_J_RAW) == (t == 0))
				sb_printf(&b, "-X %s\n", set[k].chain);
		sb_printf(&b, "COMMIT\n");
	}
	if (b.oom) {
		free(b.p);
		snprintf(errbuf, errlen, "out of memory (rules)");
		return -1;
	}
	int rc = nat_nfq_restore(b.p, errbuf, errlen);
	free(b.p);
	return rc == 0 ? (int)st.chains : -1;
}

/* ---- rule generation ------------------------------------------------------ */

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

/* The i-th inbound match (i < pl->n_ext + pl->n_masq) into m.
 * A fixed address: "! -i lo -d A/32" (the host talking to itself over
 * lo is never the NAT's). A masquerade interface: whatever arrives on it
 * for an address of that interface (addrtype LOCAL limited to the
 * incoming interface), so the match follows its address as it changes;
 * `-i IF` already excludes lo, and iptables takes one -i per rule. */
static void inbound_match(const struct nat_nfq_plan *pl, unsigned i, char *m,
			  size_t len)
{
	char ip[16];

	if (i < pl->n_ext)
		snprintf(m, len, "! -i lo -d %s/32", nat_ip_str(pl->ext[i], ip));
	else
		snprintf(m, len,
			 "-i %s -m addrtype --dst-type LOCAL --limit-iface-in",
			 pl->masq_if[i - pl->n_ext]);
}

static void gen_all_inbound(struct sbuf *b, const struct nat_config *cfg,
			    const struct nat_nfq_plan *pl, const char *chain,
			    const char *target)
{
	char m[96];

	for (unsigned i = 0; i < pl->n_ext + pl->n_masq; i++) {
		inbound_match(pl, i, m, sizeof(m));
		gen_inbound(b, cfg, pl, chain, m, target);
	}
}

/* "-D PARENT -j CHAIN" for every jump an earlier run left, then one new
 * jump: in the same transaction as the chains, so the jump never goes
 * away while the rules are replaced. */
static void gen_jump(struct sbuf *b, const char *parent, const char *chain,
		     unsigned stale)
{
	for (unsigned k = 0; k < stale; k++)
		sb_printf(b, "-D %s -j %s\n", parent, chain);
	sb_printf(b, "-I %s 1 -j %s\n", parent, chain);
}

/* The ICMP errors this host itself sends (TTL exceeded, fragmentation
 * needed, ...) about a packet it forwarded to the inside quote that
 * packet as translated, with the inside address: they go to the queue
 * so the engine puts the NAT address back in the quote (RFC 5508). With
 * xt_u32 only those whose quoted destination is inside; without, every
 * error the host sends outwards (the engine passes the others). */
static void gen_local_icmp_errors(struct sbuf *b, const struct nat_config *cfg,
				  const struct nat_nfq_plan *pl,
				  const char *target)
{
	static const int types[] = { 3, 11, 12 };
	char net[16], u32[96] = "";
	uint32_t mask = cfg->internal.len
				? 0xffffffffu << (32 - cfg->internal.len)
				: 0;

	nat_ip_str(cfg->internal.addr, net);
	if (pl->u32_ok) /* outer IHL, + 8 (ICMP) + 16: the quoted dst */
		snprintf(u32, sizeof(u32),
			 " -m u32 --u32 \"0>>22&0x3C@24&0x%08X=0x%08X\"",
			 mask, cfg->internal.addr & mask);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		sb_printf(b,
			  "-A %s ! -d %s/%u -p icmp --icmp-type %d -m addrtype "
			  "--src-type LOCAL%s -j %s\n",
			  NAT_NFQ_CHAIN_OUT, net, cfg->internal.len, types[i],
			  u32, target);
}

/* The iptables-restore input for the three chains; with `jumps` also the
 * jumps to them from the built-in chains (at install time: each stale
 * jump pl->stale counted is deleted in the same transaction; a chain
 * declared again is flushed and refilled, its jump stays). */
char *nat_nfq_rules_text(const struct nat_config *cfg, const struct nat_nfq_plan *pl,
		       uint32_t queue, bool jumps)
{
	struct sbuf b = { 0 };
	char target[64], net[16], m[96];

	snprintf(target, sizeof(target), "NFQUEUE --queue-num %u", queue);
	nat_ip_str(cfg->internal.addr, net);

	sb_printf(&b, "*raw\n:%s - [0:0]\n", NAT_NFQ_CHAIN_RAW);
	/* What the kernel fast path translated (fastpath.h) is done: no
	 * connection tracking (as for the queued path) and no queue. */
	char fpm[64] = "";
	if (pl->fastpath) {
		snprintf(fpm, sizeof(fpm), "-m mark --mark 0x%08x/0x%08x",
			 NAT_FP_MARK, NAT_FP_MARK_MASK);
		sb_printf(&b, "-A %s %s -j CT --notrack\n-A %s %s -j RETURN\n",
			  NAT_NFQ_CHAIN_RAW, fpm, NAT_NFQ_CHAIN_RAW, fpm);
	}
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
		gen_jump(&b, "PREROUTING", NAT_NFQ_CHAIN_RAW,
			 pl->stale[NAT_NFQ_J_RAW]);
	sb_printf(&b, "COMMIT\n");

	sb_printf(&b, "*mangle\n:%s - [0:0]\n:%s - [0:0]\n", NAT_NFQ_CHAIN_IN,
		  NAT_NFQ_CHAIN_OUT);
	if (pl->fastpath)
		sb_printf(&b, "-A %s %s -j RETURN\n-A %s %s -j RETURN\n",
			  NAT_NFQ_CHAIN_IN, fpm, NAT_NFQ_CHAIN_OUT, fpm);
	gen_all_inbound(&b, cfg, pl, NAT_NFQ_CHAIN_IN, target);
	/* New connections to nat_ip's other ports (no forward owns them):
	 * shown to the engine, which hands them to the host and says so
	 * (reason no_forward, pkt.unowned), so "why does tcp/8081 time out"
	 * has an answer. Rate limited, and --queue-bypass: the host's own
	 * services on nat_ip never wait on glassnat, even when it is gone.
	 * A conntrack match turns the kernel's reassembly on as the socket
	 * rule below does, so it is used only when that is on anyway: without
	 * it (pl->defrag off) a TCP SYN alone says "new", and UDP, where only
	 * conntrack can tell a new datagram from a reply to the host's own,
	 * is not shown (docs/troubleshooting.md). */
	{
		char nip[16];
		const char *ct = pl->defrag ? " -m conntrack --ctstate NEW" : "";
		nat_ip_str(cfg->nat_ip, nip);
		sb_printf(&b,
			  "-A %s -d %s/32 ! -i lo -p tcp --syn%s -m limit "
			  "--limit 20/sec --limit-burst 40 -j %s --queue-bypass\n",
			  NAT_NFQ_CHAIN_IN, nip, ct, target);
		if (pl->defrag)
			sb_printf(&b,
				  "-A %s -d %s/32 ! -i lo -p udp%s -m limit "
				  "--limit 20/sec --limit-burst 40 -j %s "
				  "--queue-bypass\n",
				  NAT_NFQ_CHAIN_IN, nip, ct, target);
	}
	/* Non-first fragments carry no ports: every one to our addresses
	 * goes to the engine, which follows its first fragment's flow. With
	 * the kernel reassembling (below) none reaches this chain. */
	for (unsigned i = 0; i < pl->n_ext + pl->n_masq; i++) {
		inbound_match(pl, i, m, sizeof(m));
		sb_printf(&b, "-A %s %s -f -j %s\n", NAT_NFQ_CHAIN_IN, m,
			  target);
	}
	/* Never matches (IP protocol 255 is reserved): xt_socket's check
	 * turns on the kernel's IPv4 reassembly (nf_defrag_ipv4) before
	 * PREROUTING for this namespace while the rule exists, so the
	 * queue sees whole datagrams and the host's own fragmented traffic
	 * to our addresses reaches it whole (docs/fragments.md). */
	if (pl->defrag)
		sb_printf(&b, "-A %s -p 255 -m socket -j RETURN\n",
			  NAT_NFQ_CHAIN_IN);
	/* With br_netfilter, frames one bridge port passes to another (two
	 * inside hosts on one bridge) pass these chains too: they are not
	 * routed by this host, so not the NAT's. */
	if (pl->physdev)
		sb_printf(&b, "-A %s -m physdev --physdev-is-bridged -j RETURN\n",
			  NAT_NFQ_CHAIN_OUT);
	gen_local_icmp_errors(&b, cfg, pl, target);
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
		gen_jump(&b, "PREROUTING", NAT_NFQ_CHAIN_IN,
			 pl->stale[NAT_NFQ_J_IN]);
		gen_jump(&b, "POSTROUTING", NAT_NFQ_CHAIN_OUT,
			 pl->stale[NAT_NFQ_J_OUT]);
	}
	sb_printf(&b, "COMMIT\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

char *nat_nfq_closed_text(const struct nat_config *cfg)
{
	struct sbuf b = { 0 };
	char net[16];

	nat_ip_str(cfg->internal.addr, net);
	sb_printf(&b, "*raw\n:%s - [0:0]\nCOMMIT\n", NAT_NFQ_CHAIN_RAW);
	sb_printf(&b, "*mangle\n:%s - [0:0]\n:%s - [0:0]\n", NAT_NFQ_CHAIN_IN,
		  NAT_NFQ_CHAIN_OUT);
	if (cfg->has_host_internal_ip) {
		char hip[16];
		sb_printf(&b, "-A %s -s %s/32 -j RETURN\n", NAT_NFQ_CHAIN_OUT,
			  nat_ip_str(cfg->host_internal_ip, hip));
	}
	sb_printf(&b,
		  "-A %s -s %s/%u -m comment --comment \"%s\" -j DROP\n",
		  NAT_NFQ_CHAIN_OUT, net, cfg->internal.len, NAT_NFQ_CLOSED);
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

	int rc = run_prog(argv, rules, NULL, out, sizeof(out));
	if (rc != 0) {
		chomp(out);
		snprintf(errbuf, errlen, "iptables-restore failed (%d): %s", rc,
		       out[0] ? out : "no message");
		return -1;
	}
	return 0;
}

/* Whether the kernel takes `rule` (a match some kernels lack), tried in
 * a throwaway chain of table. */
static bool probe(const char *table, const char *rule)
{
	char text[256], err[64];

	snprintf(text, sizeof(text),
		 "*%s\n:GLASSNAT-PROBE - [0:0]\n-A GLASSNAT-PROBE %s -j "
		 "RETURN\nCOMMIT\n",
		 table, rule);
	bool ok = nat_nfq_restore(text, err, sizeof(err)) == 0;

	iptables(table, "-F", "GLASSNAT-PROBE", NULL, NULL);
	iptables(table, "-X", "GLASSNAT-PROBE", NULL, NULL);
	return ok;
}

bool nat_nfq_probe_u32(void)
{
	return probe("raw", "-p icmp -m u32 --u32 \"0>>22&0x3C@4>>16=1:2\"");
}

bool nat_nfq_probe_physdev(void)
{
	return probe("mangle", "-m physdev --physdev-is-bridged");
}

bool nat_nfq_probe_socket(void)
{
	return probe("mangle", "-p 255 -m socket");
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
