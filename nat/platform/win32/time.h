/* Windows build only (see nat/platform/win32/README.md): gmtime_r and localtime_r
 * (mingw-w64 defines them given _POSIX_THREAD_SAFE_FUNCTIONS), timegm,
 * and clock_gettime / nanosleep (winpthreads, included by mingw's time.h). */
#ifndef _POSIX_THREAD_SAFE_FUNCTIONS
#define _POSIX_THREAD_SAFE_FUNCTIONS 200112L
#endif
#include_next <time.h>

#ifndef GLASSNAT_WIN32_TIME_H
#define GLASSNAT_WIN32_TIME_H
#define timegm(tm) _mkgmtime(tm)
#endif
