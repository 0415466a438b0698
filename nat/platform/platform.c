/* Platform seams (see platform.h) and, on Windows, the POSIX functions the
 * headers of nat/platform/win32/ map to nat_plat_* names. */
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32

#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <windows.h>
#include <bcrypt.h>

/* mingw-w64 expands wildcards in argv unless told not to; glassnat's and
 * natdump's arguments (BPF expressions, paths) must reach them as typed. */
int _CRT_glob = 0;

__attribute__((constructor)) static void plat_ctor(void)
{
	nat_plat_init();
}

void nat_plat_init(void)
{
	_setmode(_fileno(stdout), _O_BINARY);
	_setmode(_fileno(stderr), _O_BINARY);
	_setmode(_fileno(stdin), _O_BINARY);
}

ssize_t nat_plat_getrandom(void *buf, size_t len, unsigned flags)
{
	(void)flags;
	if (len > 0xffffffffu) {
		errno = EINVAL;
		return -1;
	}
	if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, buf, (ULONG)len,
					    BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)len;
}

int nat_plat_mkdir(const char *path)
{
	return _mkdir(path);
}

ssize_t nat_plat_getline(char **buf, size_t *cap, FILE *f)
{
	size_t n = 0;
	int c;

	if (!buf || !cap) {
		errno = EINVAL;
		return -1;
	}
	while ((c = getc(f)) != EOF) {
		if (n + 2 > *cap) {
			size_t ncap = *cap ? *cap * 2 : 128;
			char *nb = realloc(*buf, ncap);
			if (!nb)
				return -1;
			*buf = nb;
			*cap = ncap;
		}
		(*buf)[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (n == 0)
		return -1;
	(*buf)[n] = '\0';
	return (ssize_t)n;
}

static void (*plat_on_stop)(int signo);

/* Runs on a thread of its own, which the console creates. */
static BOOL WINAPI plat_ctrl(DWORD type)
{
	if (!plat_on_stop)
		return FALSE;
	/* The same names `run` prints for SIGINT / SIGTERM. */
	plat_on_stop(type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT ? SIGINT
								      : SIGTERM);
	return TRUE;
}

int nat_plat_stop_signals(void (*on_stop)(int signo), void (*on_hup)(void))
{
	(void)on_hup;
	plat_on_stop = on_stop;
	return SetConsoleCtrlHandler(plat_ctrl, TRUE) ? 0 : -1;
}

void nat_plat_stop_now(int signo)
{
	if (plat_on_stop)
		plat_on_stop(signo);
}

bool nat_plat_is_admin(void)
{
	SID_IDENTIFIER_AUTHORITY nt = { SECURITY_NT_AUTHORITY };
	PSID admins = NULL;
	BOOL member = FALSE;

	if (!AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID,
				      DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0, 0, 0,
				      0, &admins))
		return false;
	if (!CheckTokenMembership(NULL, admins, &member))
		member = FALSE;
	FreeSid(admins);
	return member != FALSE;
}

int nat_plat_exe_dir(char *buf, size_t len)
{
	char path[MAX_PATH];
	DWORD n = GetModuleFileNameA(NULL, path, sizeof(path));
	char *sep;

	if (n == 0 || n >= sizeof(path))
		return -1;
	sep = strrchr(path, '\\');
	if (!sep)
		return -1;
	*sep = '\0';
	if ((size_t)(sep - path) >= len)
		return -1;
	memcpy(buf, path, (size_t)(sep - path) + 1);
	return 0;
}

const char *nat_plat_os_error(unsigned long err, char *buf, size_t len)
{
	snprintf(buf, len, "Windows error %lu", err);
	return buf;
}

int nat_plat_addr_is_local(uint32_t addr)
{
	(void)addr;
	return -1;
}

#else /* Linux */

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int nat_plat_addr_is_local(uint32_t addr)
{
	struct ifaddrs *ifa, *p;
	int found = 0;

	if (getifaddrs(&ifa) != 0)
		return -1;
	for (p = ifa; p && !found; p = p->ifa_next) {
		if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in sin;
		memcpy(&sin, p->ifa_addr, sizeof(sin));
		found = ntohl(sin.sin_addr.s_addr) == addr;
	}
	freeifaddrs(ifa);
	return found;
}

void nat_plat_init(void)
{
}

static void (*plat_on_stop)(int signo);
static void (*plat_on_hup)(void);

static void plat_on_signal(int sig)
{
	if (sig == SIGHUP) {
		if (plat_on_hup)
			plat_on_hup();
		return;
	}
	plat_on_stop(sig);
}

int nat_plat_stop_signals(void (*on_stop)(int signo), void (*on_hup)(void))
{
	struct sigaction sa;
	int rc = 0;

	plat_on_stop = on_stop;
	plat_on_hup = on_hup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = plat_on_signal;
	sigemptyset(&sa.sa_mask);
	rc |= sigaction(SIGINT, &sa, NULL);
	rc |= sigaction(SIGTERM, &sa, NULL);
	rc |= sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	rc |= sigaction(SIGPIPE, &sa, NULL);
	return rc ? -1 : 0;
}

void nat_plat_stop_now(int signo)
{
	if (plat_on_stop)
		plat_on_stop(signo);
}

bool nat_plat_is_admin(void)
{
	return geteuid() == 0;
}

int nat_plat_exe_dir(char *buf, size_t len)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *sep;

	if (n <= 0)
		return -1;
	path[n] = '\0';
	sep = strrchr(path, '/');
	if (!sep || (size_t)(sep - path) >= len)
		return -1;
	*sep = '\0';
	memcpy(buf, path, (size_t)(sep - path) + 1);
	return 0;
}

const char *nat_plat_os_error(unsigned long err, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror((int)err));
	return buf;
}

#endif
