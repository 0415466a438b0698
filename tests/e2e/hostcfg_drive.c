/* Drives nat/backend/hostcfg for tests/e2e/hostcfg_test.sh, in whatever
 * network namespace it is started in:
 *
 *   hostcfg_drive [-p PROC_SYS] hold STATE LO-HI[,LO-HI...] [IF...]
 *       recover, apply, print "applied", wait for SIGTERM/SIGINT, restore
 *   hostcfg_drive [-p PROC_SYS] recover STATE
 *   hostcfg_drive connect N LO-HI
 *       N TCP connect()s from kernel-picked ports to a listener of its own
 *       on loopback, each to another 127.x address (so each draws another
 *       starting point in the ephemeral range); prints
 *       "N connects, K in LO-HI, min A, max B"
 *
 * Log lines go to stdout ("hostcfg: ..." or "hostcfg warning: ..."),
 * errors to stderr with exit status 1; usage errors exit 2. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostcfg.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void log_line(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	printf("hostcfg%s: %s\n", warning ? " warning" : "", line);
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: hostcfg_drive [-p PROC_SYS] hold STATE LO-HI[,...] "
		"[IF...]\n"
		"       hostcfg_drive [-p PROC_SYS] recover STATE\n"
		"       hostcfg_drive connect N LO-HI\n");
	return 2;
}

static int parse_range(const char *s, unsigned *lo, unsigned *hi)
{
	char extra;
	return sscanf(s, "%u-%u%c", lo, hi, &extra) == 2 && *lo <= *hi &&
			       *hi <= 65535
		       ? 0
		       : -1;
}

static int do_connect(int n, unsigned lo, unsigned hi)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int in = 0, done = 0;
	unsigned min = 65535, max = 0;

	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(ls, 1024) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
		perror("listener");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in d = a, me;
		socklen_t mlen = sizeof(me);
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		d.sin_addr.s_addr =
			htonl(0x7f000000u | (uint32_t)(i / 250) << 8 |
			      (uint32_t)(i % 250 + 1));
		if (s < 0 ||
		    connect(s, (struct sockaddr *)&d, sizeof(d)) != 0 ||
		    getsockname(s, (struct sockaddr *)&me, &mlen) != 0) {
			fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
			if (s >= 0)
				close(s);
			continue;
		}
		unsigned p = ntohs(me.sin_port);
		in += p >= lo && p <= hi;
		min = p < min ? p : min;
		max = p > max ? p : max;
		done++;
		int c = accept(ls, NULL, NULL);
		if (c >= 0)
			close(c);
		close(s);
	}
	close(ls);
	printf("%d connects, %d in %u-%u, min %u, max %u\n", done, in, lo, hi,
	       min, max);
	return done == n ? 0 : 1;
}

static int do_recover(struct nat_hostcfg *h, const char *state)
{
	char err[1024];
	if (nat_hostcfg_recover(h, state, err, sizeof(err)) != 0) {
		fprintf(stderr, "recover: %s\n", err);
		return 1;
	}
	printf("recovered\n");
	return 0;
}

/* args: STATE LO-HI[,...] [IF...] */
static int do_hold(struct nat_hostcfg *h, char **args, int n)
{
	struct nat_hostcfg_want want = { 0 };
	char *save = NULL, err[1024];

	for (char *r = strtok_r(args[1], ",", &save); r;
	     r = strtok_r(NULL, ",", &save)) {
		unsigned lo, hi;
		if (want.n_reserve == NAT_HOSTCFG_RANGES_MAX ||
		    parse_range(r, &lo, &hi))
			return usage();
		want.reserve[want.n_reserve].lo = (uint16_t)lo;
		want.reserve[want.n_reserve++].hi = (uint16_t)hi;
	}
	for (int k = 2; k < n; k++) {
		if (want.n_hairpin_if == NAT_HOSTCFG_IFS_MAX ||
		    strlen(args[k]) >= sizeof(want.hairpin_if[0]))
			return usage();
		strcpy(want.hairpin_if[want.n_hairpin_if++], args[k]);
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (nat_hostcfg_recover(h, args[0], err, sizeof(err)) != 0) {
		fprintf(stderr, "recover: %s\n", err);
		return 1;
	}
	if (nat_hostcfg_apply(h, &want, args[0], err, sizeof(err)) != 0) {
		fprintf(stderr, "apply: %s\n", err);
		return 1;
	}
	printf("applied\n");
	fflush(stdout);
	while (!stop)
		pause();
	if (nat_hostcfg_restore(h, err, sizeof(err)) != 0) {
		fprintf(stderr, "restore: %s\n", err);
		return 1;
	}
	printf("restored\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *proc_sys = NULL;
	struct nat_hostcfg *h;
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "-p")) {
		proc_sys = argv[2];
		i = 3;
	}
	if (argc - i == 3 && !strcmp(argv[i], "connect")) {
		unsigned lo, hi;
		int n = atoi(argv[i + 1]);
		if (n <= 0 || n > 60000 || parse_range(argv[i + 2], &lo, &hi))
			return usage();
		return do_connect(n, lo, hi);
	}
	if (argc - i < 2)
		return usage();
	h = malloc(sizeof(*h));
	if (!h)
		return 1;
	nat_hostcfg_init(h, proc_sys, log_line, NULL);
	int rc = !strcmp(argv[i], "recover") && argc - i == 2
			 ? do_recover(h, argv[i + 1])
		 : !strcmp(argv[i], "hold") && argc - i >= 3
			 ? do_hold(h, argv + i + 1, argc - i - 1)
			 : usage();
	free(h);
	return rc;
}
