/* libFuzzer target for nat/backend/nfqueue_rules' reader of iptables-save
 * text (nat_nfq_stale_parse: which GLASSNAT jumps and chains an earlier
 * run left), fed from memory as a NUL-terminated copy of exactly its size
 * (ASan sees any read past it). It must not crash, count at most one jump
 * or chain per line, and give the same answer twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfqueue_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct nat_nfq_stale a, b;
	size_t lines = 1;

	check(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size && text[i]; i++)
		lines += text[i] == '\n';
	nat_nfq_stale_parse(text, &a);
	nat_nfq_stale_parse(text, &b);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	size_t jumps = 0;
	for (int k = 0; k < NAT_NFQ_J_MAX; k++)
		jumps += a.jumps[k];
	check(jumps + a.chains <= lines);
	free(text);
	return 0;
}
