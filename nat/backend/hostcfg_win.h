/* The real system calls behind portres.h on Windows (hostcfg_win.c). */
#ifndef GLASSNAT_HOSTCFG_WIN_H
#define GLASSNAT_HOSTCFG_WIN_H

#include "portres.h"

/* Persistent TCP/UDP port reservations through iphlpapi.dll, looked up
 * at run time; a missing function is reported as an error of its own. */
extern const struct nat_portres_ops nat_portres_windows;

#endif
