/* Windows build only (see nat/platform/win32/README.md): getrandom() on
 * BCryptGenRandom (the system RNG; never blocks, flags ignored). */
#ifndef GLASSNAT_WIN32_SYS_RANDOM_H
#define GLASSNAT_WIN32_SYS_RANDOM_H

#include <stddef.h>
#include <sys/types.h>

#define GRND_NONBLOCK 0x01
#define GRND_RANDOM 0x02

/* Fills buf; returns len, or -1 with errno EIO. */
ssize_t nat_plat_getrandom(void *buf, size_t len, unsigned flags);
#define getrandom(b, l, f) nat_plat_getrandom((b), (l), (f))

#endif
