/* libFuzzer target: the capture reader fed from memory, every packet read
 * and every byte it hands out touched (so ASan sees any overread). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CAP_ERRBUF_SIZE];
	struct cap_source src;
	struct cap_mem m;
	struct cap_reader *r;
	struct cap_packet p;
	volatile uint32_t sink = 0;
	int rc;

	cap_source_mem(&src, &m, data, size);
	r = cap_open(&src, err, sizeof err);
	if (!r) {
		if (strncmp(err, "offset ", 7) != 0)
			__builtin_trap(); /* every message names its offset */
		return 0;
	}
	while ((rc = cap_next(r, &p, err, sizeof err)) == 1) {
		for (uint32_t i = 0; i < p.caplen; i++)
			sink += p.data[i];
		if (p.if_name)
			sink += (uint32_t)strlen(p.if_name);
		if (p.comment)
			sink += (uint32_t)strlen(p.comment);
		if (p.linktype > 0xffff)
			__builtin_trap();
	}
	if (rc < 0 && strncmp(err, "offset ", 7) != 0)
		__builtin_trap();
	cap_close(r);
	(void)sink;
	return 0;
}
