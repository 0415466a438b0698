/* libFuzzer target: natdump why's target parser (the words a user types:
 * "42", "tcp/8081", "1.2.3.4", "tcp 1.2.3.4:5 > 6.7.8.9:10") and its
 * decision fed arbitrary facts (strings forced to end), which must always
 * write one terminated sentence and name a cause. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../tools/natdump/nd_reasons.c"
#include "../../tools/natdump/nd_why_rules.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERM(s) ((s)[sizeof(s) - 1] = '\0')
/* A bool must hold 0 or 1: fix the byte before anything reads it. */
#define BOOL(b) (*(unsigned char *)&(b) &= 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char word[128];
	struct nd_why_target t;
	size_t n = size < sizeof word - 1 ? size : sizeof word - 1;
	memcpy(word, data, n);
	word[n] = '\0';
	bool ok = nd_why_parse_target(word, &t);
	if (ok && t.kind == ND_WHY_PORT && (t.port == 0 || !t.proto))
		__builtin_trap();

	struct nd_why_facts f;
	memset(&f, 0, sizeof f);
	memcpy(&f, data, size < sizeof f ? size : sizeof f);
	BOOL(f.has_config);
	BOOL(f.target_outside_internal);
	BOOL(f.internal_on_no_if);
	BOOL(f.queue_known);
	f.target.kind = (enum nd_why_kind)((unsigned)f.target.kind % 5);
	TERM(f.drop_rule);
	TERM(f.neigh);
	TERM(f.fwd_name);
	TERM(f.filtering);
	TERM(f.internal_if);
	TERM(f.shadowed);
	TERM(f.shadower);
	TERM(f.flow_rule);
	char out[1024];
	out[sizeof out - 1] = 'x';
	enum nd_why_cause c = nd_why_decide(&f, out, sizeof out);
	if (strnlen(out, sizeof out) == sizeof out ||
	    strcmp(nd_why_cause_name(c), "?") == 0)
		__builtin_trap();
	return 0;
}
