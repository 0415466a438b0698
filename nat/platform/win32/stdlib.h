/* Windows build only (see nat/platform/win32/README.md): aligned_alloc() on
 * _aligned_malloc. Memory from it must be released with
 * nat_plat_aligned_free() (logging/log.c does, under _WIN32): the CRT's
 * free() cannot release it. */
#include_next <stdlib.h>

#ifndef GLASSNAT_WIN32_STDLIB_H
#define GLASSNAT_WIN32_STDLIB_H
#include <malloc.h>
#define aligned_alloc(align, size) _aligned_malloc((size), (align))
#define nat_plat_aligned_free(p) _aligned_free(p)
#endif
