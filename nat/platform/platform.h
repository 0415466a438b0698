/* Platform seams: what differs between Linux and Windows (mingw-w64) and
 * is not covered by the POSIX headers of nat/platform/win32/ (see its README).
 * Everything here is callable on both; on Linux most are trivial. */
#ifndef GLASSNAT_PLATFORM_H
#define GLASSNAT_PLATFORM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Windows: stdout and stderr in binary mode (no CR LF: the programs' output
 * is byte-identical to Linux), no wildcard expansion of the command line
 * (mingw's default). Runs before main on Windows (a constructor in
 * platform.c, linked into both programs); a no-op on Linux. */
void nat_plat_init(void);

/* Routes the platform's requests to stop to on_stop(signo): Linux SIGINT
 * and SIGTERM (no SA_RESTART: a blocking read returns EINTR at once),
 * Windows Ctrl+C / Ctrl+Break (SIGINT) and console close (SIGTERM); and
 * Linux's SIGHUP to on_hup (Windows has none: a service is restarted).
 * Linux also ignores SIGPIPE. The callbacks run in a signal handler or on
 * another thread: async-signal-safe work only. Returns 0, -1 when a
 * handler cannot be installed. */
int nat_plat_stop_signals(void (*on_stop)(int signo), void (*on_hup)(void));

/* Calls the on_stop of nat_plat_stop_signals now, as a stop request
 * would (the Windows service's stop and shutdown controls); nothing when
 * none is installed. Any thread. */
void nat_plat_stop_now(int signo);

struct nat_live_ops;
/* The live backend (live.h) of this build: NFQUEUE on Linux, WinDivert on
 * Windows (live_backend.c). */
const struct nat_live_ops *nat_plat_live_backend(void);

/* True when the process runs with administrator rights (Windows: member of
 * BUILTIN\Administrators with an elevated token) or as root (Linux). */
bool nat_plat_is_admin(void);
#ifdef _WIN32
#define NAT_PLAT_ADMIN_HINT " (glassnat run needs administrator rights)"
#define NAT_PLAT_CTL_DENIED_HINT                                                \
	"the control socket is for administrators: run from an elevated prompt"
#define NAT_PLAT_CTL_ACCESS "administrators only"
#else
#define NAT_PLAT_ADMIN_HINT " (glassnat run needs root)"
#define NAT_PLAT_CTL_DENIED_HINT "the control socket is root's: run as root"
#define NAT_PLAT_CTL_ACCESS "root only"
#endif

/* Where the control endpoint and the state file live when the config
 * names none (server_win.c, docs/windows.md), and the config glassnat run
 * reads without -c (the Debian package's conffile). */
#ifdef _WIN32
#define NAT_PLAT_CONTROL_SOCKET_DEFAULT "\\\\.\\pipe\\glassnat"
#define NAT_PLAT_STATE_FILE_DEFAULT "C:\\ProgramData\\glassnat\\forwards.json"
#define NAT_PLAT_CONFIG_DEFAULT "C:\\ProgramData\\glassnat\\glassnat.yaml"
#else
#define NAT_PLAT_CONTROL_SOCKET_DEFAULT "/run/glassnat/glassnat.sock"
#define NAT_PLAT_CONFIG_DEFAULT "/etc/glassnat/glassnat.yaml"
#define NAT_PLAT_STATE_FILE_DEFAULT "/var/lib/glassnat/forwards.json"
#endif

/* Frees what aligned_alloc returned (Windows: _aligned_free, which
 * nat/platform/win32/stdlib.h maps; free everywhere else). */
#ifndef _WIN32
#define nat_plat_aligned_free(p) free(p)
#endif

/* The text of an OS error code (errno on Linux: strerror; Windows:
 * "Windows error N") in buf, which it returns. */
const char *nat_plat_os_error(unsigned long err, char *buf, size_t len);

/* 1 when addr (host byte order) is configured on an interface of this host
 * (Linux: of this network namespace), 0 when not, -1 when that cannot be
 * told (Windows: not implemented; glassnat check then says nothing). */
int nat_plat_addr_is_local(uint32_t addr);

/* A write-only stream that hands each line written to it (without its
 * newline; a partial last line at fclose) to fn(ctx, line) on the writing
 * thread; fclose calls free_ctx(ctx) when not NULL. NULL where the
 * platform has no such streams (Windows) or out of memory: ctx stays the
 * caller's then. line_stream.c. */
FILE *nat_plat_line_stream(void (*fn)(void *ctx, const char *line), void *ctx,
			   void (*free_ctx)(void *ctx));

/* Directory of the running executable, without the trailing separator,
 * into buf. Returns 0, -1 when it does not fit or cannot be found. */
int nat_plat_exe_dir(char *buf, size_t len);

#endif
