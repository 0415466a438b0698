/* The fast path's loader (fastpath.h): opens the BPF object embedded in
 * the binary (built from fastpath.bpf.c), sizes its maps, loads it and
 * attaches it to clsact ingress on every interface; then installs,
 * reads and removes flows for the engine. Linux builds only;
 * docs/fastpath.md. */
#include "fastpath.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fastpath_abi.h"
#include "fastpath_entry.h"

/* The object file, linked in by the Makefile (fastpath_blob.S). */
extern const unsigned char nat_fp_bpf_obj[];
extern const unsigned char nat_fp_bpf_obj_end[];

/* Fixed so a restart after a crash replaces the program a dead run left
 * attached (BPF_TC_F_REPLACE) instead of adding a second one. */
#define FP_TC_HANDLE 0x474e
#define FP_TC_PRIORITY 0x474e

#define FP_MAX_IFS 16

struct fp_if {
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	char name[IF_NAMESIZE];
	int created_hook; /* we made the clsact qdisc: remove it at close */
	int attached;
};

struct nat_fastpath {
	struct bpf_object *obj;
	int flows_fd, stats_fd, prog_fd;
	unsigned ncpu;
	struct fp_if ifs[FP_MAX_IFS];
	size_t n_ifs;
	/* install/remove/read may come from several engine threads: one
	 * buffer of ncpu values, used under the lock. */
	pthread_mutex_t lock;
	struct nat_fp_val *percpu;
	uint64_t installs, install_failed, removes;
};

/* libbpf's messages go nowhere but here: the first warning is kept for
 * the reason nat_fastpath_open() gives, and the last line of a verifier
 * log apart (it names what the verifier refused). */
static char fp_last_warn[256];
static char fp_last_verifier[256];
static int fp_in_log;

static void fp_keep(char *dst, size_t n, const char *line)
{
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	if (len >= n)
		len = n - 1;
	memcpy(dst, line, len);
	dst[len] = '\0';
}

static int fp_print(enum libbpf_print_level level, const char *fmt,
		    va_list ap) __attribute__((format(printf, 2, 0)));
static int fp_print(enum libbpf_print_level level, const char *fmt,
		    va_list ap)
{
	char small[512], *line = small, *big = NULL;
	va_list ap2;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	/* A verifier log is one long message: sized first, so its end
	 * (where the verifier says what it refused) is not cut off. */
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small) && (big = malloc((size_t)n + 1)) != NULL) {
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
		line = big;
	}
	va_end(ap2);

	char *begin = strstr(line, "-- BEGIN PROG LOAD LOG --");
	if (begin || fp_in_log) {
		char *s = begin ? begin + strlen("-- BEGIN PROG LOAD LOG --")
				: line;
		char *end = strstr(s, "-- END PROG LOAD LOG --");
		fp_in_log = end == NULL;
		if (end)
			*end = '\0';
		/* The last line that is not the statistics tail. */
		char *save = NULL;
		for (char *l = strtok_r(s, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			if (strncmp(l, "verification time", 17) == 0 ||
			    strncmp(l, "stack depth", 11) == 0 ||
			    strncmp(l, "processed ", 10) == 0)
				continue;
			fp_keep(fp_last_verifier, sizeof(fp_last_verifier), l);
		}
	} else if (fp_last_warn[0] == '\0') {
		/* The first warning names the cause; later ones the fallout. */
		const char *l = line;
		if (strncmp(l, "libbpf: ", 8) == 0)
			l += 8;
		/* A notice on kernels that account BPF memory by cgroup. */
		if (strstr(l, "RLIMIT_MEMLOCK") == NULL &&
		    strncmp(l, "failed to load object", 21) != 0)
			fp_keep(fp_last_warn, sizeof(fp_last_warn), l);
	}
	free(big);
	return 0;
}

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errbuf || errlen == 0)
		return;
	n = snprintf(errbuf, errlen, "fast path unavailable: ");
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static const char *perm_hint(int err)
{
	return err == EPERM || err == EACCES
		       ? " (no BPF permission: needs CAP_BPF and CAP_NET_ADMIN,"
			 " i.e. root)"
		       : "";
}

/* ARPHRD of ifname, or -1 with errno. */
static int if_hwtype(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	return rc < 0 ? -1 : ifr.ifr_hwaddr.sa_family;
}

static void fp_detach_all(struct nat_fastpath *fp)
{
	for (size_t i = 0; i < fp->n_ifs; i++) {
		struct fp_if *f = &fp->ifs[i];

		if (f->attached) {
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, d,
					    .handle = f->opts.handle,
					    .priority = f->opts.priority);
			bpf_tc_detach(&f->hook, &d);
		}
		if (f->created_hook) {
			/* Both points: libbpf removes the clsact qdisc only
			 * then (ingress alone just flushes its filters). */
			f->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&f->hook);
		}
	}
	fp->n_ifs = 0;
}

static int fp_attach(struct nat_fastpath *fp, const char *ifname,
		     char *errbuf, size_t errlen)
{
	struct fp_if *f = &fp->ifs[fp->n_ifs];
	unsigned idx;
	int type, rc;

	if (strlen(ifname) >= IF_NAMESIZE) {
		seterr(errbuf, errlen, "interface name %s too long", ifname);
		return -1;
	}
	idx = if_nametoindex(ifname);
	if (idx == 0) {
		seterr(errbuf, errlen, "interface %s missing: %s", ifname,
		       strerror(errno));
		return -1;
	}
	type = if_hwtype(ifname);
	if (type != ARPHRD_ETHER) {
		seterr(errbuf, errlen,
		       "interface %s is not Ethernet (type %d): the program "
		       "reads Ethernet frames",
		       ifname, type);
		return -1;
	}
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", ifname);
	f->hook.sz = sizeof(f->hook);
	f->hook.ifindex = (int)idx;
	f->hook.attach_point = BPF_TC_INGRESS;
	fp->n_ifs++; /* from here fp_detach_all() undoes it */

	rc = bpf_tc_hook_create(&f->hook);
	if (rc == 0)
		f->created_hook = 1;
	else if (rc != -EEXIST) {
		seterr(errbuf, errlen, "%s: creating the clsact qdisc: %s%s",
		       ifname, strerror(-rc), perm_hint(-rc));
		return -1;
	}
	f->opts.sz = sizeof(f->opts);
	f->opts.prog_fd = fp->prog_fd;
	f->opts.handle = FP_TC_HANDLE;
	f->opts.priority = FP_TC_PRIORITY;
	f->opts.flags = BPF_TC_F_REPLACE;
	rc = bpf_tc_attach(&f->hook, &f->opts);
	if (rc < 0) {
		seterr(errbuf, errlen, "%s: attaching to clsact ingress: %s%s",
		       ifname, strerror(-rc), perm_hint(-rc));
		return -1;
	}
	f->attached = 1;
	f->opts.prog_fd = 0;
	f->opts.prog_id = 0;
	f->opts.flags = 0;
	return 0;
}

struct nat_fastpath *nat_fastpath_open(const struct nat_fastpath_opts *o,
				       char *errbuf, size_t errlen)
{
	struct nat_fastpath *fp;
	struct bpf_map *flows, *stats, *config;
	struct bpf_program *prog;
	struct nat_fp_config cfgv;
	uint32_t zero = 0;
	int ncpu, rc;

	if (o->max_flows == 0 || o->max_flows > (UINT32_MAX / 2) ||
	    o->n_queues == 0 || o->n_ifnames > FP_MAX_IFS) {
		seterr(errbuf, errlen,
		       "bad options (max_flows %u, n_queues %u, %zu "
		       "interfaces, at most %d)",
		       o->max_flows, o->n_queues, o->n_ifnames, FP_MAX_IFS);
		return NULL;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		seterr(errbuf, errlen, "counting CPUs: %s", strerror(-ncpu));
		return NULL;
	}
	fp = calloc(1, sizeof(*fp));
	if (!fp || !(fp->percpu = calloc((size_t)ncpu, sizeof(*fp->percpu)))) {
		free(fp);
		seterr(errbuf, errlen, "out of memory");
		return NULL;
	}
	fp->ncpu = (unsigned)ncpu;
	fp->flows_fd = fp->stats_fd = fp->prog_fd = -1;
	pthread_mutex_init(&fp->lock, NULL);

	fp_last_warn[0] = fp_last_verifier[0] = '\0';
	fp_in_log = 0;
	libbpf_set_print(fp_print);

	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oo,
			    .object_name = "glassnat_fp");
	fp->obj = bpf_object__open_mem(
		nat_fp_bpf_obj, (size_t)(nat_fp_bpf_obj_end - nat_fp_bpf_obj),
		&oo);
	if (!fp->obj) {
		seterr(errbuf, errlen, "opening the BPF object: %s%s%s",
		       strerror(errno), fp_last_warn[0] ? ": " : "",
		       fp_last_warn);
		goto fail;
	}
	flows = bpf_object__find_map_by_name(fp->obj, NAT_FP_MAP_FLOWS);
	stats = bpf_object__find_map_by_name(fp->obj, NAT_FP_MAP_STATS);
	config = bpf_object__find_map_by_name(fp->obj, NAT_FP_MAP_CONFIG);
	prog = bpf_object__find_program_by_name(fp->obj, NAT_FP_PROG);
	if (!flows || !stats || !config || !prog) {
		seterr(errbuf, errlen, "the BPF object lacks its maps or "
				       "program (a build mismatch)");
		goto fail;
	}
	rc = bpf_map__set_max_entries(flows, 2 * o->max_flows);
	if (rc < 0) {
		seterr(errbuf, errlen, "sizing the flow map: %s",
		       strerror(-rc));
		goto fail;
	}
	rc = bpf_object__load(fp->obj);
	if (rc < 0) {
		if (fp_last_verifier[0])
			seterr(errbuf, errlen,
			       "loading the BPF program: %s: verifier: %s",
			       strerror(-rc), fp_last_verifier);
		else
			seterr(errbuf, errlen, "loading the BPF program: %s%s%s%s",
			       strerror(-rc), perm_hint(-rc),
			       fp_last_warn[0] ? ": " : "", fp_last_warn);
		goto fail;
	}
	fp->flows_fd = bpf_map__fd(flows);
	fp->stats_fd = bpf_map__fd(stats);
	fp->prog_fd = bpf_program__fd(prog);

	memset(&cfgv, 0, sizeof(cfgv));
	cfgv.n_queues = o->n_queues;
	rc = bpf_map_update_elem(bpf_map__fd(config), &zero, &cfgv, BPF_ANY);
	if (rc < 0) {
		seterr(errbuf, errlen, "setting the queue count: %s",
		       strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < o->n_ifnames; i++)
		if (fp_attach(fp, o->ifnames[i], errbuf, errlen) != 0)
			goto fail;
	return fp;

fail:
	nat_fastpath_close(fp);
	return NULL;
}

void nat_fastpath_close(struct nat_fastpath *fp)
{
	if (!fp)
		return;
	fp_detach_all(fp);
	bpf_object__close(fp->obj);
	pthread_mutex_destroy(&fp->lock);
	free(fp->percpu);
	free(fp);
}

/* Reads both directions into c (zeroed first); how many were there. */
static int fp_read_locked(struct nat_fastpath *fp,
			  const struct nat_fp_rewrite rw[2],
			  struct nat_fp_counters *c)
{
	uint64_t last = 0;
	int found = 0;

	memset(c, 0, sizeof(*c));
	for (int d = 0; d < 2; d++) {
		struct nat_fp_key key;
		struct nat_fp_val unused;

		nat_fp_entry_build(&rw[d], &key, &unused);
		if (bpf_map_lookup_elem(fp->flows_fd, &key, fp->percpu) != 0)
			continue;
		found++;
		for (unsigned cpu = 0; cpu < fp->ncpu; cpu++)
			nat_fp_counters_add(c, d, &fp->percpu[cpu], &last);
	}
	if (last) {
		struct timespec m, w;

		clock_gettime(CLOCK_MONOTONIC, &m);
		clock_gettime(CLOCK_REALTIME, &w);
		c->last_ns = nat_fp_mono_to_wall(
			last, (uint64_t)m.tv_sec * 1000000000u + (uint64_t)m.tv_nsec,
			(uint64_t)w.tv_sec * 1000000000u + (uint64_t)w.tv_nsec);
	}
	return found;
}

static int fp_install(void *ctx, uint64_t id, const struct nat_fp_rewrite rw[2])
{
	struct nat_fastpath *fp = ctx;
	struct nat_fp_key key[2];
	int rc = 0;

	(void)id;
	pthread_mutex_lock(&fp->lock);
	for (int d = 0; d < 2 && rc == 0; d++) {
		nat_fp_entry_build(&rw[d], &key[d], &fp->percpu[0]);
		for (unsigned cpu = 1; cpu < fp->ncpu; cpu++)
			fp->percpu[cpu] = fp->percpu[0];
		if (bpf_map_update_elem(fp->flows_fd, &key[d], fp->percpu,
					BPF_ANY) != 0) {
			rc = -1;
			if (d == 1)
				bpf_map_delete_elem(fp->flows_fd, &key[0]);
		}
	}
	if (rc == 0)
		fp->installs++;
	else
		fp->install_failed++;
	pthread_mutex_unlock(&fp->lock);
	return rc;
}

static void fp_remove(void *ctx, const struct nat_fp_rewrite rw[2],
		      struct nat_fp_counters *c)
{
	struct nat_fastpath *fp = ctx;

	pthread_mutex_lock(&fp->lock);
	/* Deleted right after the read: a packet the kernel translates in
	 * between is not counted (at most a few, on a flow being taken
	 * back). */
	fp_read_locked(fp, rw, c);
	for (int d = 0; d < 2; d++) {
		struct nat_fp_key key;
		struct nat_fp_val unused;

		nat_fp_entry_build(&rw[d], &key, &unused);
		bpf_map_delete_elem(fp->flows_fd, &key);
	}
	fp->removes++;
	pthread_mutex_unlock(&fp->lock);
}

static int fp_read(void *ctx, const struct nat_fp_rewrite rw[2],
		   struct nat_fp_counters *c)
{
	struct nat_fastpath *fp = ctx;
	int found;

	pthread_mutex_lock(&fp->lock);
	found = fp_read_locked(fp, rw, c);
	pthread_mutex_unlock(&fp->lock);
	return found ? 0 : -1;
}

struct nat_offload_ops nat_fastpath_ops(struct nat_fastpath *fp)
{
	struct nat_offload_ops ops = {
		.ctx = fp,
		.install = fp_install,
		.remove = fp_remove,
		.read = fp_read,
	};
	return ops;
}

void nat_fastpath_flush(struct nat_fastpath *fp)
{
	struct nat_fp_key key;

	pthread_mutex_lock(&fp->lock);
	/* Always the first key: deleting under the iteration would restart
	 * it anyway. Bounded by the map's size. */
	while (bpf_map_get_next_key(fp->flows_fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fp->flows_fd, &key) != 0)
			break;
	pthread_mutex_unlock(&fp->lock);
}

int nat_fastpath_prog_fd(const struct nat_fastpath *fp)
{
	return fp->prog_fd;
}

static const char *const fp_counter_names[NAT_FP_C_MAX] = {
#define NAT_FP_X_NAME(name, str) str,
	NAT_FP_FOREACH_COUNTER(NAT_FP_X_NAME)
#undef NAT_FP_X_NAME
};

size_t nat_fastpath_counters(const struct nat_fastpath *fp,
			     const char **names, uint64_t *values, size_t max)
{
	struct nat_fp_stats *per;
	uint64_t sum[NAT_FP_C_MAX] = {0};
	uint32_t zero = 0;
	size_t n = 0;

	per = calloc(fp->ncpu, sizeof(*per));
	if (per && bpf_map_lookup_elem(fp->stats_fd, &zero, per) == 0)
		for (unsigned cpu = 0; cpu < fp->ncpu; cpu++)
			for (int i = 0; i < NAT_FP_C_MAX; i++)
				sum[i] += per[cpu].c[i];
	free(per);
	for (int i = 0; i < NAT_FP_C_MAX && n < max; i++, n++) {
		names[n] = fp_counter_names[i];
		values[n] = sum[i];
	}
	if (n < max) {
		names[n] = "fastpath_installs";
		values[n++] = __atomic_load_n(&fp->installs, __ATOMIC_RELAXED);
	}
	if (n < max) {
		names[n] = "fastpath_install_failed";
		values[n++] =
			__atomic_load_n(&fp->install_failed, __ATOMIC_RELAXED);
	}
	if (n < max) {
		names[n] = "fastpath_removes";
		values[n++] = __atomic_load_n(&fp->removes, __ATOMIC_RELAXED);
	}
	return n;
}
