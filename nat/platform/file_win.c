/* Atomic file replacement on Windows (file.h). */
#include "file.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <windows.h>

#include "platform.h"

enum { FILE_PATH_MAX = 4096 };

static int fail(char *errbuf, size_t errlen, const char *what)
{
	char os[64];
	snprintf(errbuf, errlen, "%s: %s", what,
		 nat_plat_os_error(GetLastError(), os, sizeof(os)));
	return -1;
}

static bool write_all(HANDLE h, const char *p, size_t len)
{
	while (len > 0) {
		DWORD chunk = len > 0x40000000u ? 0x40000000u : (DWORD)len;
		DWORD n = 0;
		if (!WriteFile(h, p, chunk, &n, NULL) || n == 0)
			return false;
		p += n;
		len -= n;
	}
	return FlushFileBuffers(h) != 0;
}

int nat_file_replace(const char *path, const void *data, size_t len,
		     char *errbuf, size_t errlen)
{
	char dir[FILE_PATH_MAX], tmp[FILE_PATH_MAX + 8];
	size_t plen = strlen(path);
	if (plen == 0 || plen >= FILE_PATH_MAX) {
		SetLastError(ERROR_FILENAME_EXCED_RANGE);
		return fail(errbuf, errlen, path);
	}
	memcpy(dir, path, plen + 1);
	char *slash = strrchr(dir, '/');
	char *back = strrchr(dir, '\\'); /* C:\ProgramData\glassnat\... */
	if (back && (!slash || back > slash))
		slash = back;
	if (slash && slash != dir && slash[-1] != ':') {
		*slash = '\0';
		if (!CreateDirectoryA(dir, NULL) &&
		    GetLastError() != ERROR_ALREADY_EXISTS) {
			char what[FILE_PATH_MAX * 2 + 16];
			snprintf(what, sizeof(what), "%s: mkdir %s", path, dir);
			return fail(errbuf, errlen, what);
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* A leftover (a crash mid-save, or a planted link) goes: DeleteFile
	 * removes a link itself; CREATE_NEW refuses anything in its place. */
	if (!DeleteFileA(tmp) && GetLastError() != ERROR_FILE_NOT_FOUND)
		return fail(errbuf, errlen, tmp);
	HANDLE h = CreateFileA(tmp, GENERIC_WRITE, 0, NULL, CREATE_NEW,
			       FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return fail(errbuf, errlen, tmp);
	bool ok = write_all(h, data, len);
	DWORD saved = GetLastError();
	CloseHandle(h);
	if (ok && MoveFileExA(tmp, path,
			      MOVEFILE_REPLACE_EXISTING |
				      MOVEFILE_WRITE_THROUGH))
		return 0;
	if (ok)
		saved = GetLastError();
	DeleteFileA(tmp);
	SetLastError(saved);
	return fail(errbuf, errlen, path);
}
