/* Which live backend this build runs (platform.h). Apart from platform.c
 * so that only programs that run a gateway link a backend in. */
#include "platform.h"

#ifdef _WIN32
#include "windivert.h"
#else
#include "nfqueue.h"
#endif

const struct nat_live_ops *nat_plat_live_backend(void)
{
#ifdef _WIN32
	return &nat_live_windivert;
#else
	return &nat_live_nfqueue;
#endif
}
