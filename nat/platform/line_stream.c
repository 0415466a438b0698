/* nat_plat_line_stream (platform.h): a FILE * that hands each line written
 * to it to a callback. glibc's fopencookie; mingw-w64 has no such stream,
 * so Windows gets NULL and its callers write to a plain file instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#ifdef _WIN32

FILE *nat_plat_line_stream(void (*fn)(void *ctx, const char *line), void *ctx,
			   void (*free_ctx)(void *ctx))
{
	(void)fn;
	(void)ctx;
	(void)free_ctx;
	return NULL;
}

#else

#define PENDING_MAX 4096 /* a longer line is handed over in pieces */

struct line_cookie {
	void (*fn)(void *ctx, const char *line);
	void *ctx;
	void (*free_ctx)(void *ctx);
	size_t n;
	char buf[PENDING_MAX + 1];
};

static void hand_over(struct line_cookie *c)
{
	c->buf[c->n] = '\0';
	c->fn(c->ctx, c->buf);
	c->n = 0;
}

static ssize_t line_write(void *cookie, const char *p, size_t len)
{
	struct line_cookie *c = cookie;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n') {
			hand_over(c);
			continue;
		}
		c->buf[c->n++] = p[i];
		if (c->n == PENDING_MAX)
			hand_over(c);
	}
	return (ssize_t)len;
}

static int line_close(void *cookie)
{
	struct line_cookie *c = cookie;
	if (c->n)
		hand_over(c);
	if (c->free_ctx)
		c->free_ctx(c->ctx);
	free(c);
	return 0;
}

FILE *nat_plat_line_stream(void (*fn)(void *ctx, const char *line), void *ctx,
			   void (*free_ctx)(void *ctx))
{
	struct line_cookie *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fn = fn;
	c->ctx = ctx;
	c->free_ctx = free_ctx;
	cookie_io_functions_t io = { .write = line_write, .close = line_close };
	FILE *f = fopencookie(c, "w", io);
	if (!f) {
		free(c);
		return NULL;
	}
	/* Each fprintf's text reaches the callback at the next newline, not
	 * when a buffer fills. */
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

#endif
