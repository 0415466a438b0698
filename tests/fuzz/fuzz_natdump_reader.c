/* libFuzzer target: natdump's reading path fed from memory. Input that
 * starts with a zstd (or skippable) frame goes through the streaming zstd
 * source, anything else straight to the pcap/pcapng reader; every packet's
 * bytes are touched and its comment and headers decoded as natdump does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "capture.h"
#include "capture_zstd.h"

#include "../../tools/natdump/nd_note.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CAP_ERRBUF_SIZE];
	struct cap_source src;
	struct cap_mem m;
	struct cap_zstd *z = NULL;
	struct cap_reader *r;
	struct cap_packet p;
	volatile uint32_t sink = 0;
	int rc;

	cap_source_mem(&src, &m, data, size);
	if (cap_zstd_magic(data, size)) {
		z = cap_zstd_new(&src, err, sizeof err);
		if (!z)
			return 0;
		cap_zstd_source(z, &src);
	}
	r = cap_open(&src, err, sizeof err);
	if (!r) {
		if (strncmp(err, "offset ", 7) != 0)
			__builtin_trap();
		cap_zstd_free(z);
		return 0;
	}
	while ((rc = cap_next(r, &p, err, sizeof err)) == 1) {
		struct nd_note n;
		struct nd_hdr h;
		for (uint32_t i = 0; i < p.caplen; i++)
			sink += p.data[i];
		nd_note_parse(&n, p.comment);
		sink += (uint32_t)strlen(n.rule) + (uint32_t)strlen(n.reason);
		nd_hdr_parse(&h, p.data, p.caplen, p.linktype);
		sink += h.sport;
	}
	if (rc < 0 && strncmp(err, "offset ", 7) != 0)
		__builtin_trap();
	cap_close(r);
	cap_zstd_free(z);
	(void)sink;
	return 0;
}
