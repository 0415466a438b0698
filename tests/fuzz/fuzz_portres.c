/* libFuzzer target for the Windows port reservation state file parser
 * (nat/backend/portres.c, nat_portres_parse), fed from memory: the input
 * is copied into a heap buffer of exactly its size (ASan sees any read
 * past it). An accepted file must hold 0 to NAT_PORTRES_MAX reservations,
 * each TCP or UDP and within 1-65535; a refused one must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nat_portres_entry e[NAT_PORTRES_MAX];
	char err[256];
	size_t n = 99;
	char *buf = malloc(size ? size : 1);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	err[0] = '\0';
	if (nat_portres_parse(buf, size, e, &n, err, sizeof(err)) == 0) {
		if (n > NAT_PORTRES_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((e[i].proto != 6 && e[i].proto != 17) ||
			    e[i].start == 0 || e[i].count == 0 ||
			    (uint32_t)e[i].start + e[i].count - 1 > 65535)
				abort();
	} else if (err[0] == '\0') {
		abort();
	}
	free(buf);
	return 0;
}
