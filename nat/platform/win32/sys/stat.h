/* Windows build only (see nat/platform/win32/README.md): mkdir(path, mode); the
 * mode is ignored (the directory inherits its parent's ACL). */
#include_next <sys/stat.h>

#ifndef GLASSNAT_WIN32_SYS_STAT_H
#define GLASSNAT_WIN32_SYS_STAT_H
#include <io.h>
int nat_plat_mkdir(const char *path);
#define mkdir(path, ...) nat_plat_mkdir(path)
#endif
