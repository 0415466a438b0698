/* A stand-in WinDivert.dll for tests/windows/service_test.sh: wine cannot
 * load WinDivert's kernel driver, so this DLL offers the nine functions
 * nat/backend/windivert.c loads, with a handle that never delivers a
 * packet. Each "WinDivert handle" is the server end of a connected named
 * pipe nobody writes to: an overlapped WinDivertRecvEx is pending until
 * glassnat cancels it, as with an idle network. Everything above the
 * driver (the backend's loop, the control pipe, the service) runs for
 * real. */
#include <stdint.h>
#include <stdio.h>
#include <windows.h>

#define EXPORT __declspec(dllexport)
#define MAX_HANDLES 16

static HANDLE client_of[MAX_HANDLES][2]; /* server, client */

EXPORT HANDLE WINAPI WinDivertOpen(const char *filter, int layer,
				   int16_t priority, uint64_t flags);
EXPORT HANDLE WINAPI WinDivertOpen(const char *filter, int layer,
				   int16_t priority, uint64_t flags)
{
	static LONG seq;
	char name[96];
	(void)filter;
	(void)layer;
	(void)priority;
	(void)flags;
	snprintf(name, sizeof(name), "\\\\.\\pipe\\fake-windivert-%lu-%ld",
		 (unsigned long)GetCurrentProcessId(),
		 (long)InterlockedIncrement(&seq));
	HANDLE s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
				    PIPE_TYPE_BYTE, 1, 4096, 4096, 0, NULL);
	if (s == INVALID_HANDLE_VALUE)
		return INVALID_HANDLE_VALUE;
	HANDLE c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			       OPEN_EXISTING, 0, NULL);
	if (c == INVALID_HANDLE_VALUE) {
		CloseHandle(s);
		return INVALID_HANDLE_VALUE;
	}
	for (int i = 0; i < MAX_HANDLES; i++)
		if (!client_of[i][0]) {
			client_of[i][0] = s;
			client_of[i][1] = c;
			return s;
		}
	CloseHandle(c);
	CloseHandle(s);
	SetLastError(ERROR_TOO_MANY_OPEN_FILES);
	return INVALID_HANDLE_VALUE;
}

EXPORT BOOL WINAPI WinDivertRecvEx(HANDLE h, void *pkt, UINT pkt_len,
				   UINT *recv_len, uint64_t flags, void *addr,
				   UINT *addr_len, LPOVERLAPPED ov);
EXPORT BOOL WINAPI WinDivertRecvEx(HANDLE h, void *pkt, UINT pkt_len,
				   UINT *recv_len, uint64_t flags, void *addr,
				   UINT *addr_len, LPOVERLAPPED ov)
{
	(void)recv_len;
	(void)flags;
	(void)addr;
	(void)addr_len;
	return ReadFile(h, pkt, pkt_len, NULL, ov);
}

EXPORT BOOL WINAPI WinDivertSendEx(HANDLE h, const void *pkt, UINT pkt_len,
				   UINT *send_len, uint64_t flags,
				   const void *addr, UINT addr_len,
				   LPOVERLAPPED ov);
EXPORT BOOL WINAPI WinDivertSendEx(HANDLE h, const void *pkt, UINT pkt_len,
				   UINT *send_len, uint64_t flags,
				   const void *addr, UINT addr_len,
				   LPOVERLAPPED ov)
{
	(void)h;
	(void)pkt;
	(void)flags;
	(void)addr;
	(void)addr_len;
	(void)ov;
	if (send_len)
		*send_len = pkt_len;
	return TRUE;
}

EXPORT BOOL WINAPI WinDivertShutdown(HANDLE h, int how);
EXPORT BOOL WINAPI WinDivertShutdown(HANDLE h, int how)
{
	(void)h;
	(void)how;
	return TRUE;
}

EXPORT BOOL WINAPI WinDivertClose(HANDLE h);
EXPORT BOOL WINAPI WinDivertClose(HANDLE h)
{
	for (int i = 0; i < MAX_HANDLES; i++)
		if (client_of[i][0] == h) {
			CloseHandle(client_of[i][1]);
			client_of[i][0] = client_of[i][1] = NULL;
		}
	return CloseHandle(h);
}

EXPORT BOOL WINAPI WinDivertSetParam(HANDLE h, int param, uint64_t value);
EXPORT BOOL WINAPI WinDivertSetParam(HANDLE h, int param, uint64_t value)
{
	(void)h;
	(void)param;
	(void)value;
	return TRUE;
}

/* Version 2.2 for both WINDIVERT_PARAM_VERSION_MAJOR and _MINOR. */
EXPORT BOOL WINAPI WinDivertGetParam(HANDLE h, int param, uint64_t *value);
EXPORT BOOL WINAPI WinDivertGetParam(HANDLE h, int param, uint64_t *value)
{
	(void)h;
	(void)param;
	*value = 2;
	return TRUE;
}

EXPORT BOOL WINAPI WinDivertHelperCalcChecksums(void *pkt, UINT pkt_len,
						void *addr, uint64_t flags);
EXPORT BOOL WINAPI WinDivertHelperCalcChecksums(void *pkt, UINT pkt_len,
						void *addr, uint64_t flags)
{
	(void)pkt;
	(void)pkt_len;
	(void)addr;
	(void)flags;
	return TRUE;
}

EXPORT BOOL WINAPI WinDivertHelperCompileFilter(const char *filter, int layer,
						char *object, UINT obj_len,
						const char **err_str,
						UINT *err_pos);
EXPORT BOOL WINAPI WinDivertHelperCompileFilter(const char *filter, int layer,
						char *object, UINT obj_len,
						const char **err_str,
						UINT *err_pos)
{
	(void)filter;
	(void)layer;
	(void)object;
	(void)obj_len;
	(void)err_str;
	(void)err_pos;
	return TRUE;
}
