/* Windows build only (see nat/platform/win32/README.md): byte order conversions
 * without winsock2.h, whose windows.h would bring its macros (IN, OUT,
 * ERROR, interface...) into every file. x86 and ARM Windows are
 * little-endian. */
#ifndef GLASSNAT_WIN32_ARPA_INET_H
#define GLASSNAT_WIN32_ARPA_INET_H

#include <stdint.h>

static inline uint16_t nat_plat_bswap16(uint16_t v)
{
	return __builtin_bswap16(v);
}

static inline uint32_t nat_plat_bswap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

#define htons(v) nat_plat_bswap16((uint16_t)(v))
#define ntohs(v) nat_plat_bswap16((uint16_t)(v))
#define htonl(v) nat_plat_bswap32((uint32_t)(v))
#define ntohl(v) nat_plat_bswap32((uint32_t)(v))

#endif
