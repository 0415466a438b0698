/* libFuzzer target for the trace note codec (trace/note.c).
 *
 * The input is copied into a heap buffer of exactly its size (no NUL), so
 * ASan reports any read past it. Beyond memory safety it checks what must
 * hold for any input: every decoded string is terminated within its field,
 * an error comes with a message, and a note that decodes cleanly encodes
 * (in the documented spelling) to a note that decodes to the same facts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_terminated(const struct trace_note *n)
{
	check(memchr(n->verdict, '\0', sizeof n->verdict) != NULL);
	check(memchr(n->reason, '\0', sizeof n->reason) != NULL);
	check(memchr(n->rule, '\0', sizeof n->rule) != NULL);
	check(n->stage <= TRACE_NOTE_POST && n->dir <= TRACE_NOTE_IN);
}

static int same(const struct trace_note *a, const struct trace_note *b)
{
	return a->flow == b->flow && a->has_flow == b->has_flow &&
	       a->stage == b->stage && a->dir == b->dir &&
	       a->has_rule == b->has_rule && a->forward == b->forward &&
	       a->hairpin == b->hairpin && a->has_map == b->has_map &&
	       (!a->has_map ||
		(a->map_ip == b->map_ip && a->map_port == b->map_port)) &&
	       strcmp(a->verdict, b->verdict) == 0 &&
	       strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->rule, b->rule) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_note a, b;
	char err[128], buf[TRACE_NOTE_MAX];
	char *in = malloc(size ? size : 1);
	int rc, len;

	if (!in)
		return 0;
	memcpy(in, data, size);
	rc = trace_note_decode(&a, in, size, err, sizeof err);
	free(in);
	check_terminated(&a);
	check(rc == 0 || rc == -1);
	if (rc < 0) {
		check(err[0] != '\0');
		return 0;
	}
	check(a.has_flow);
	len = trace_note_encode(&a, TRACE_NOTE_ENCODED, buf, sizeof buf);
	check(len > 0 && (size_t)len < sizeof buf);
	check(strlen(buf) == (size_t)len);
	rc = trace_note_decode(&b, buf, (size_t)len, err, sizeof err);
	check(rc == 0);
	check(same(&a, &b));
	/* replay's spelling encodes too (names unencoded: no round trip) */
	len = trace_note_encode(&a, TRACE_NOTE_REPLAY_V1, buf, sizeof buf);
	check(len > 0);
	return 0;
}
