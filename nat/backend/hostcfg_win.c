/* The Windows side of portres.h: persistent TCP/UDP port reservations
 * through iphlpapi.dll (CreatePersistentTcpPortReservation and its three
 * siblings, documented since Windows Vista SP2 / Server 2008). The
 * functions are looked up at run time, so a system without them (wine
 * has none) gets a clear warning instead of an executable that does not
 * start. */
#include "hostcfg_win.h"

#include <stdio.h>
#include <string.h>

#include <windows.h>

typedef ULONG(WINAPI *res_create_fn)(USHORT start, USHORT count,
				     PULONG64 token);
typedef ULONG(WINAPI *res_delete_fn)(USHORT start, USHORT count);

/* A code of ours for "the function is not in iphlpapi.dll": outside
 * Windows' error codes (bit 29 is the application bit). */
#define PORTRES_NO_API (0x20000000ul | 1ul)

static HMODULE iphlpapi(void)
{
	static HMODULE dll;

	if (!dll)
		dll = LoadLibraryExA("iphlpapi.dll", NULL,
				     LOAD_LIBRARY_SEARCH_SYSTEM32);
	return dll;
}

static FARPROC api(const char *name)
{
	HMODULE dll = iphlpapi();

	return dll ? GetProcAddress(dll, name) : NULL;
}

static unsigned long win_reserve(void *ctx, uint8_t proto, uint16_t start,
				 uint16_t count)
{
	const char *name = proto == 6 ? "CreatePersistentTcpPortReservation"
				      : "CreatePersistentUdpPortReservation";
	FARPROC fp = api(name);
	res_create_fn fn;
	ULONG64 token = 0;

	(void)ctx;
	if (!fp)
		return PORTRES_NO_API;
	memcpy(&fn, &fp, sizeof(fn));
	return fn(start, count, &token);
}

static unsigned long win_release(void *ctx, uint8_t proto, uint16_t start,
				 uint16_t count)
{
	const char *name = proto == 6 ? "DeletePersistentTcpPortReservation"
				      : "DeletePersistentUdpPortReservation";
	FARPROC fp = api(name);
	res_delete_fn fn;

	(void)ctx;
	if (!fp)
		return PORTRES_NO_API;
	memcpy(&fn, &fp, sizeof(fn));
	return fn(start, count);
}

static void win_describe(void *ctx, unsigned long code, char *buf, size_t len)
{
	DWORD n;

	(void)ctx;
	if (code == PORTRES_NO_API) {
		snprintf(buf, len,
			 "this system's iphlpapi.dll has no persistent port "
			 "reservation functions (Create/Delete"
			 "Persistent{Tcp,Udp}PortReservation, in Windows since "
			 "Vista SP2)");
		return;
	}
	n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
				   FORMAT_MESSAGE_IGNORE_INSERTS,
			   NULL, (DWORD)code, 0, buf, (DWORD)len, NULL);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	if (n == 0)
		snprintf(buf, len, "Windows error %lu", code);
	if (code == ERROR_ACCESS_DENIED && strlen(buf) + 40 < len)
		strcat(buf, " (glassnat is not running as administrator)");
}

const struct nat_portres_ops nat_portres_windows = {
	.reserve = win_reserve,
	.release = win_release,
	.describe = win_describe,
	.not_found = ERROR_NOT_FOUND,
	.ctx = NULL,
};
