/* Host settings glassnat needs for its lifetime on Linux, set at start and
 * put back on exit, and after a crash at the next start.
 *
 * Two are needed on a host as it comes (docs: issue 17):
 * - the NAT's port_range is reserved from the kernel's ephemeral allocator
 *   (net.ipv4.ip_local_reserved_ports), so the host's own connections never
 *   pick a port whose replies would land in the NAT's queue;
 * - on the inside interface, accept_local=1 and a reverse-path filter that
 *   is not strict, so hairpinned packets (source rewritten to the NAT
 *   address, a local address, before routing) are not dropped as martians.
 *
 * Every value is read and written through <proc_sys>/net/ipv4/..., which
 * is per network namespace. Before anything is changed the original values
 * are written to a state file (atomically); restore puts back what was
 * changed and deletes it; recover does the same from a file a crashed run
 * left. The module does no packet I/O and knows nothing of the engine. */
#ifndef GLASSNAT_HOSTCFG_H
#define GLASSNAT_HOSTCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	NAT_HOSTCFG_IFS_MAX = 8,     /* interfaces in one want */
	NAT_HOSTCFG_RANGES_MAX = 16, /* port ranges in one want */
	NAT_HOSTCFG_PATH_MAX = 512,  /* proc_sys prefix, state file path */
	NAT_HOSTCFG_CHANGES_MAX = 1 + 2 * NAT_HOSTCFG_IFS_MAX,
};

/* A set of TCP/UDP ports, 0-65535, as a bitmap: the kernel keeps
 * ip_local_reserved_ports the same way, so any list it accepts fits. */
struct nat_hostcfg_ports {
	uint64_t w[65536 / 64];
};

struct nat_hostcfg_range {
	uint16_t lo, hi; /* inclusive, lo <= hi */
};

/* What the run needs. */
struct nat_hostcfg_want {
	/* Reserved from the ephemeral allocator (the NAT's port_range). */
	struct nat_hostcfg_range reserve[NAT_HOSTCFG_RANGES_MAX];
	size_t n_reserve;
	/* Interfaces that receive hairpinned packets (the inside one). */
	char hairpin_if[NAT_HOSTCFG_IFS_MAX][16];
	size_t n_hairpin_if;
};

/* One line for people, without a trailing newline: a change made, a value
 * put back, or (warning) a value left alone or not put back. */
typedef void (*nat_hostcfg_log_fn)(void *ctx, bool warning, const char *line);

/* One change: the file under proc_sys, the value found, the value set. */
struct nat_hostcfg_change {
	char rel[96]; /* e.g. "net/ipv4/conf/eth1/accept_local" */
	char was[16];
	char now[16];
};

struct nat_hostcfg {
	char proc_sys[NAT_HOSTCFG_PATH_MAX];
	char state_path[NAT_HOSTCFG_PATH_MAX];
	nat_hostcfg_log_fn log;
	void *log_ctx;
	bool active; /* apply changed something; restore has work to do */
	bool ports_changed;
	char boot_id[40]; /* kernel/random/boot_id when applied; "" unknown */
	struct nat_hostcfg_ports ports_added; /* reserved by glassnat */
	struct nat_hostcfg_change chg[NAT_HOSTCFG_CHANGES_MAX];
	size_t n_chg;
};

/* ---- the ip_local_reserved_ports syntax --------------------------------- */

/* Parses "8080,9000-9010" (the kernel's syntax: ports and lo-hi ranges
 * separated by commas; blanks around items and a trailing newline are
 * allowed; an empty text is the empty set) into *out. Returns 0, or -1
 * with the offending item and its offset in errbuf (*out is then empty). */
int nat_hostcfg_ports_parse(const char *text, size_t len,
			    struct nat_hostcfg_ports *out, char *errbuf,
			    size_t errlen) __attribute__((warn_unused_result));

/* Formats the set the way the kernel prints it ("8080,9000-9010", "" when
 * empty) into buf, always NUL-terminated when len > 0. Returns the length
 * the whole text needs (without the NUL), like snprintf: the text is
 * complete only when the result is < len. At most 229,376 bytes. */
size_t nat_hostcfg_ports_format(const struct nat_hostcfg_ports *set, char *buf,
				size_t len);

void nat_hostcfg_ports_clear(struct nat_hostcfg_ports *set);
void nat_hostcfg_ports_add(struct nat_hostcfg_ports *set, uint16_t lo,
			   uint16_t hi);
bool nat_hostcfg_ports_has(const struct nat_hostcfg_ports *set, uint16_t port);
/* a |= b; a &= ~b; number of ports in a. */
void nat_hostcfg_ports_merge(struct nat_hostcfg_ports *a,
			     const struct nat_hostcfg_ports *b);
void nat_hostcfg_ports_subtract(struct nat_hostcfg_ports *a,
				const struct nat_hostcfg_ports *b);
size_t nat_hostcfg_ports_count(const struct nat_hostcfg_ports *a);

/* ---- host settings ------------------------------------------------------- */

/* Prepares h: proc_sys NULL or "" means "/proc/sys" (tests pass a
 * directory tree of their own); log may be NULL. Changes nothing. */
void nat_hostcfg_init(struct nat_hostcfg *h, const char *proc_sys,
		      nat_hostcfg_log_fn log, void *log_ctx);

/* Restores what a state file left by a run that did not exit cleanly
 * records, then deletes it; no file is not an error. Call it before
 * nat_hostcfg_apply at every start. Returns 0, or -1 with errbuf (the file
 * is then kept for the next start). */
int nat_hostcfg_recover(struct nat_hostcfg *h, const char *state_path,
			char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Reads the current values, writes the originals of those that must
 * change to state_path (temp file in the same directory, O_EXCL and
 * O_NOFOLLOW, fsync, rename), then changes them, one log line each.
 * Reserved ports are only added (a user's reservations stay). Nothing to
 * change: no state file, 0. Refuses when state_path exists (recover
 * first) or when the reservation would leave the host no ephemeral port.
 * On failure puts back what it changed and returns -1 with the file and
 * the value in errbuf. */
int nat_hostcfg_apply(struct nat_hostcfg *h,
		      const struct nat_hostcfg_want *want,
		      const char *state_path, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Puts back what apply changed, one log line each: the ports glassnat
 * reserved are removed (reservations the user made meanwhile stay); a value
 * is put back only if it still holds what glassnat set (a value the user
 * changed meanwhile is left, with a warning). Deletes the state file.
 * Safe to call when nothing was applied. Returns 0, or -1 with errbuf
 * (the rest is still restored; the state file is kept for the next start). */
int nat_hostcfg_restore(struct nat_hostcfg *h, char *errbuf, size_t errlen);

#endif
