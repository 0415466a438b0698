/* Windows build only (see nat/platform/win32/README.md). glassnat opens every file
 * with O_CLOEXEC; on Windows that becomes "not inherited" and binary, so
 * no file it writes ever gets CR LF line endings. */
#include_next <fcntl.h>

#ifndef GLASSNAT_WIN32_FCNTL_H
#define GLASSNAT_WIN32_FCNTL_H
#include <io.h>
#ifndef O_CLOEXEC
#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#endif
#endif
