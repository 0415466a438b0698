/* natdump's input: files and directories read as one time-ordered stream.
 *
 * Ring files follow one another in time, so keeping every file open for a
 * k-way merge would cost a reader and a zstd stream per file for nothing.
 * A first pass reads only each file's first timestamp; files are then
 * opened in that order, a file joining the merge only when its first
 * packet is due. Memory is that of the files overlapping in time
 * (usually one), whatever the size of the set. */
#include "nd.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture_zstd.h"

/* The first bytes of a file, read to tell zstd from pcap, handed back
 * before the rest: no seek, so a pipe or standard input reads like a file. */
struct peek_src {
	struct cap_source inner;
	uint8_t buf[4];
	size_t n, off;
};

enum { FILE_BUF = 1u << 20 };

struct nd_file {
	char *path;
	unsigned order; /* position on the command line / in its directory */
	uint64_t first_ts;
	bool opened, done, damaged;
	bool stream; /* a pipe or "-": read once, kept open from the first pass */
	FILE *f;
	struct peek_src *peek; /* allocated: the reader keeps a pointer */
	char *fbuf;
	struct cap_zstd *z;
	struct cap_reader *r;
	struct cap_packet cur;
	uint64_t last_ts; /* for packets without a timestamp (SPB) */
};

struct nd_input {
	struct nd_file *files;
	unsigned n, cap;
	unsigned next_open; /* files[next_open..] not yet in the merge */
	unsigned *heap, heap_n;
	int popped; /* file whose packet was handed out last, or -1 */
	unsigned damaged, open_now, max_open;
	bool stdin_used;
	uint64_t ifdrop; /* isb_ifdrop of the files already closed */
};

static bool cap_name(const char *name)
{
	static const char *const ext[] = {".pcap",     ".pcapng",     ".cap",
					  ".pcap.zst", ".pcapng.zst", ".cap.zst"};
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(name + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

static int add_file(struct nd_input *in, const char *path)
{
	struct nd_file *fl;
	if (in->n == in->cap) {
		unsigned nc = in->cap ? in->cap * 2 : 16;
		struct nd_file *nf = realloc(in->files, nc * sizeof *nf);
		if (!nf)
			return -1;
		in->files = nf;
		in->cap = nc;
	}
	fl = &in->files[in->n];
	memset(fl, 0, sizeof *fl);
	fl->path = strdup(path);
	if (!fl->path)
		return -1;
	fl->order = in->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(struct nd_input *in, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	if (!d) {
		fprintf(stderr, "natdump: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char *p;
		if (!cap_name(e->d_name))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof *nn);
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
			cap = nc;
		}
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) {
			rc = -1;
			break;
		}
		names[n++] = p;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && add_file(in, names[i]) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	if (rc < 0)
		fprintf(stderr, "natdump: %s: out of memory\n", dir);
	return rc;
}

static void file_close(struct nd_input *in, struct nd_file *fl)
{
	if (fl->opened && in)
		in->open_now--;
	if (fl->r && in)
		in->ifdrop += cap_ifdrop(fl->r);
	cap_close(fl->r);
	cap_zstd_free(fl->z);
	if (fl->f && fl->f != stdin)
		fclose(fl->f);
	free(fl->fbuf);
	free(fl->peek);
	fl->peek = NULL;
	fl->r = NULL;
	fl->z = NULL;
	fl->f = NULL;
	fl->fbuf = NULL;
	fl->opened = false;
}

static void damage(struct nd_input *in, struct nd_file *fl, const char *msg)
{
	fprintf(stderr, "%s: %s\n", fl->path, msg);
	if (!fl->damaged)
		in->damaged++;
	fl->damaged = true;
}

static int peek_read(void *ctx, void *buf, size_t n, size_t *got,
		     char *errbuf, size_t errlen)
{
	struct peek_src *p = ctx;
	size_t k = 0, more = 0;
	if (p->off < p->n) {
		k = p->n - p->off < n ? p->n - p->off : n;
		memcpy(buf, p->buf + p->off, k);
		p->off += k;
	}
	if (k < n && p->inner.read(p->inner.ctx, (uint8_t *)buf + k, n - k,
				   &more, errbuf, errlen) < 0)
		return -1;
	*got = k + more;
	return 0;
}

/* Opens fl: plain or zstd by its first bytes, which are read once and
 * replayed (no seek). Returns 0 or -1 (reported, file marked done). */
static int file_open(struct nd_input *in, struct nd_file *fl)
{
	char err[CAP_ERRBUF_SIZE];
	struct cap_source src;
	struct stat st;

	fl->f = strcmp(fl->path, "-") == 0 ? stdin : fopen(fl->path, "rb");
	if (!fl->f) {
		snprintf(err, sizeof err, "%s", strerror(errno));
		goto fail;
	}
	fl->stream = fl->f == stdin ||
		     (fstat(fileno(fl->f), &st) == 0 && !S_ISREG(st.st_mode));
	fl->fbuf = malloc(FILE_BUF);
	if (fl->fbuf)
		setvbuf(fl->f, fl->fbuf, _IOFBF, FILE_BUF);
	fl->peek = calloc(1, sizeof *fl->peek);
	if (!fl->peek) {
		snprintf(err, sizeof err, "out of memory");
		goto fail;
	}
	cap_source_file(&fl->peek->inner, fl->f);
	if (fl->peek->inner.read(fl->peek->inner.ctx, fl->peek->buf,
				 sizeof fl->peek->buf, &fl->peek->n, err,
				 sizeof err) < 0)
		goto fail;
	src.ctx = fl->peek;
	src.read = peek_read;
	if (cap_zstd_magic(fl->peek->buf, fl->peek->n)) {
		fl->z = cap_zstd_new(&src, err, sizeof err);
		if (!fl->z)
			goto fail;
		cap_zstd_source(fl->z, &src);
	}
	fl->r = cap_open(&src, err, sizeof err);
	if (!fl->r)
		goto fail;
	fl->opened = true;
	if (++in->open_now > in->max_open)
		in->max_open = in->open_now;
	return 0;
fail:
	damage(in, fl, err);
	file_close(NULL, fl);
	fl->done = true;
	return -1;
}

/* Reads fl's next packet into fl->cur. Returns 1, or 0 when the file is
 * finished (closed; damage reported). */
static int file_advance(struct nd_input *in, struct nd_file *fl)
{
	char err[CAP_ERRBUF_SIZE];
	int rc = cap_next(fl->r, &fl->cur, err, sizeof err);
	if (rc == 1) {
		if (fl->cur.has & CAP_HAS_TS)
			fl->last_ts = fl->cur.ts_ns;
		else
			fl->cur.ts_ns = fl->last_ts;
		return 1;
	}
	if (rc < 0)
		damage(in, fl, err);
	file_close(in, fl);
	fl->done = true;
	return 0;
}

static bool before(const struct nd_file *a, const struct nd_file *b)
{
	if (a->cur.ts_ns != b->cur.ts_ns)
		return a->cur.ts_ns < b->cur.ts_ns;
	return a->order < b->order;
}

static void heap_push(struct nd_input *in, unsigned fi)
{
	unsigned i = in->heap_n++;
	in->heap[i] = fi;
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		if (!before(&in->files[in->heap[i]], &in->files[in->heap[p]]))
			break;
		unsigned t = in->heap[i];
		in->heap[i] = in->heap[p];
		in->heap[p] = t;
		i = p;
	}
}

static unsigned heap_pop(struct nd_input *in)
{
	unsigned top = in->heap[0], i = 0;
	in->heap[0] = in->heap[--in->heap_n];
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		if (l < in->heap_n &&
		    before(&in->files[in->heap[l]], &in->files[in->heap[m]]))
			m = l;
		if (r < in->heap_n &&
		    before(&in->files[in->heap[r]], &in->files[in->heap[m]]))
			m = r;
		if (m == i)
			break;
		unsigned t = in->heap[i];
		in->heap[i] = in->heap[m];
		in->heap[m] = t;
		i = m;
	}
	return top;
}

static int cmp_first(const void *a, const void *b)
{
	const struct nd_file *x = a, *y = b;
	if (x->done != y->done)
		return x->done ? 1 : -1; /* finished files last */
	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct nd_input *nd_input_open(char **paths, int n)
{
	struct nd_input *in = calloc(1, sizeof *in);
	if (!in)
		return NULL;
	in->popped = -1;
	for (int i = 0; i < n; i++) {
		struct stat st;
		int rc;
		if (strcmp(paths[i], "-") == 0) {
			if (in->stdin_used) {
				fprintf(stderr, "natdump: '-' (standard "
						"input) given twice\n");
				nd_input_close(in);
				return NULL;
			}
			in->stdin_used = true;
			if (add_file(in, paths[i]) < 0) {
				nd_input_close(in);
				return NULL;
			}
			continue;
		}
		if (stat(paths[i], &st) != 0) {
			fprintf(stderr, "natdump: %s: %s\n", paths[i],
				strerror(errno));
			nd_input_close(in);
			return NULL;
		}
		rc = S_ISDIR(st.st_mode) ? add_dir(in, paths[i])
					 : add_file(in, paths[i]);
		if (rc < 0) {
			nd_input_close(in);
			return NULL;
		}
	}
	/* First pass: each file's first timestamp. Files that are empty or
	 * damaged before their first packet are reported here, once. A
	 * stream cannot be read twice: it stays open, its first packet in
	 * hand. */
	for (unsigned i = 0; i < in->n; i++) {
		struct nd_file *fl = &in->files[i];
		if (file_open(in, fl) < 0)
			continue;
		if (file_advance(in, fl) == 1) {
			fl->first_ts = fl->cur.ts_ns;
			if (!fl->stream)
				file_close(in, fl);
		}
	}
	in->max_open = in->open_now; /* the streams kept open */
	if (in->n)
		qsort(in->files, in->n, sizeof *in->files, cmp_first);
	in->heap = calloc(in->n ? in->n : 1, sizeof *in->heap);
	if (!in->heap) {
		nd_input_close(in);
		return NULL;
	}
	return in;
}

int nd_input_next(struct nd_input *in, struct nd_pkt *p)
{
	struct nd_file *fl;
	unsigned fi;
	if (in->popped >= 0) {
		unsigned pf = (unsigned)in->popped;
		in->popped = -1;
		if (file_advance(in, &in->files[pf]) == 1)
			heap_push(in, pf);
	}
	while (in->next_open < in->n) {
		struct nd_file *nx = &in->files[in->next_open];
		if (nx->done) { /* sorted last: nothing more to open */
			in->next_open = in->n;
			break;
		}
		if (in->heap_n &&
		    in->files[in->heap[0]].cur.ts_ns < nx->first_ts)
			break;
		in->next_open++;
		if (nx->opened) /* a stream, its first packet in hand */
			heap_push(in, (unsigned)(nx - in->files));
		else if (file_open(in, nx) == 0 && file_advance(in, nx) == 1)
			heap_push(in, (unsigned)(nx - in->files));
	}
	if (in->heap_n == 0)
		return 0;
	fi = heap_pop(in);
	in->popped = (int)fi;
	fl = &in->files[fi];
	p->data = fl->cur.data;
	p->caplen = fl->cur.caplen;
	p->len = fl->cur.len;
	p->ts_ns = fl->cur.ts_ns;
	p->linktype = fl->cur.linktype;
	p->ifindex = fl->cur.ifindex;
	p->section = fl->cur.section;
	p->has = fl->cur.has;
	p->flags = fl->cur.flags;
	p->dropcount = fl->cur.dropcount;
	p->if_name = fl->cur.if_name;
	p->comment = fl->cur.comment;
	p->file = fi;
	nd_note_parse(&p->note, p->comment);
	return 1;
}

unsigned nd_input_files(const struct nd_input *in)
{
	return in->n;
}

const char *nd_input_path(const struct nd_input *in, unsigned file)
{
	return file < in->n ? in->files[file].path : "?";
}

uint64_t nd_input_ifdrop(const struct nd_input *in)
{
	uint64_t n = in->ifdrop;
	for (unsigned i = 0; i < in->n; i++)
		if (in->files[i].r)
			n += cap_ifdrop(in->files[i].r);
	return n;
}

unsigned nd_input_damaged(const struct nd_input *in)
{
	return in->damaged;
}

unsigned nd_input_max_open(const struct nd_input *in)
{
	return in->max_open;
}

void nd_input_close(struct nd_input *in)
{
	if (!in)
		return;
	for (unsigned i = 0; i < in->n; i++) {
		file_close(in, &in->files[i]);
		free(in->files[i].path);
	}
	free(in->files);
	free(in->heap);
	free(in);
}
