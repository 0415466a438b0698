/* What each drop/pass reason means and what to check: made from the
 * engine's one list of reasons (NAT_FOREACH_REASON in types.h), so the
 * names are those of nat_reason_name(). docs/troubleshooting.md carries
 * the same words (tests/e2e/docs_test.sh compares it with
 * `natdump --list-reasons`). */
#include "nd.h"

#include <string.h>

#include "types.h"

#define ND_REASON_DOC_(sym, name, means, check) {name, means, check},
static const struct nd_reason_doc docs[] = {
	NAT_FOREACH_REASON(ND_REASON_DOC_)
};
#undef ND_REASON_DOC_

const struct nd_reason_doc *nd_reason_doc(const char *name)
{
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		if (strcmp(docs[i].name, name) == 0)
			return &docs[i];
	return NULL;
}

int nd_list_reasons(FILE *f)
{
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		fprintf(f, "%s\t%s\t%s\n", docs[i].name, docs[i].meaning,
			docs[i].check);
	return fflush(f) == 0 && !ferror(f) ? 0 : 1;
}
