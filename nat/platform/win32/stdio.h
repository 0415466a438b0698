/* Windows build only (see nat/platform/win32/README.md): getline(). */
#include_next <stdio.h>

#ifndef GLASSNAT_WIN32_STDIO_H
#define GLASSNAT_WIN32_STDIO_H
#include <sys/types.h>
/* POSIX getline: the line with its '\n', NUL-terminated, *buf grown with
 * realloc; returns its length, -1 at end of file or on error. */
ssize_t nat_plat_getline(char **buf, size_t *cap, FILE *f);
#define getline(b, c, f) nat_plat_getline((b), (c), (f))
#endif
