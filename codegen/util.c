/* util.c: allocation, the arena of the syntax tree, growable strings, edit
 * distance and the diagnostics list of streamc. Out of memory is fatal in a
 * compiler: exit 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

static void oom(void)
{
	fputs("streamc: out of memory\n", stderr);
	exit(3);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xprintf(const char *fmt, ...)
{
	sbuf b = { 0 };
	va_list ap;
	va_start(ap, fmt);
	char tmp[512];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	if (n >= 0 && (size_t)n < sizeof tmp) {
		va_end(ap2);
		va_end(ap);
		return xstrdup(tmp);
	}
	b.s = xmalloc((size_t)n + 1);
	vsnprintf(b.s, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	va_end(ap);
	return b.s;
}

/* --- Arena ---------------------------------------------------------------- */

/* Chunks hold many small allocations; a request above a quarter of a chunk
 * gets a chunk of its own, linked behind the current one so that the space
 * left in the current one is not lost. */
#define CHUNK_SIZE (64u << 10)

typedef struct chunk {
	struct chunk *next;
	size_t used, size;          /* bytes of data */
	max_align_t data[];
} chunk;

struct arena {
	chunk *head;                /* the chunk being filled; NULL when none */
};

arena *arena_create(void)
{
	return xcalloc(1, sizeof(arena));
}

void arena_free(arena *a)
{
	if (!a)
		return;
	for (chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

/* Chunks come from calloc and are never reused, so every allocation starts
 * zeroed. */
void *arena_alloc(arena *a, size_t n)
{
	size_t align = _Alignof(max_align_t);
	n = n ? (n + align - 1) / align * align : align;
	chunk *c = a->head;
	if (c && c->size - c->used >= n) {
		void *p = (char *)c->data + c->used;
		c->used += n;
		return p;
	}
	bool alone = n > CHUNK_SIZE / 4;
	size_t size = alone ? n : CHUNK_SIZE;
	chunk *fresh = xcalloc(1, sizeof *fresh + size);
	fresh->size = size;
	fresh->used = n;
	if (alone && c) {
		fresh->next = c->next;
		c->next = fresh;
	} else {
		fresh->next = c;
		a->head = fresh;
	}
	return fresh->data;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* The capacity of an array is implicit: the smallest power of two holding
 * its n elements. It is full, and moves to twice the room, when n is zero
 * or a power of two. */
void *arena_grow(arena *a, void *array, int n, size_t size)
{
	if (n & (n - 1))
		return array;
	size_t cap = n ? 2 * (size_t)n : 1;
	void *p = arena_alloc(a, cap * size);
	if (n)
		memcpy(p, array, (size_t)n * size);
	return p;
}

/* --- Growable strings ------------------------------------------------------ */

void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_add(b, tmp, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

void sb_free(sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Optimal string alignment distance: insertions, deletions, substitutions
 * and transpositions cost 1; a change of case only costs nothing. */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			char x = a[i - 1], y = b[j - 1];
			size_t cost = (x == y || ((x | 32) == (y | 32) &&
						  (x | 32) >= 'a' && (x | 32) <= 'z')) ? 0 : 1;
			size_t v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* --- Diagnostics ---------------------------------------------------------- */

typedef struct dmsg {
	loc at;
	int order, seq;
	char *msg;
} dmsg;

static dmsg *msgs;
static int nmsgs, capmsgs;

#define MAX_FILES_ORDER 4096
static struct {
	const char *file;
	int order;
} orders[MAX_FILES_ORDER];
static int norders;

void diag_file_order(const char *file, int order)
{
	if (norders < MAX_FILES_ORDER) {
		orders[norders].file = file;
		orders[norders++].order = order;
	}
}

static int file_order(const char *file)
{
	for (int i = 0; i < norders; i++)
		if (!strcmp(orders[i].file, file))
			return orders[i].order;
	return MAX_FILES_ORDER;
}

void diag(loc at, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	/* the same message at the same place once only */
	for (int i = 0; i < nmsgs; i++)
		if (msgs[i].at.line == at.line && msgs[i].at.col == at.col &&
		    !strcmp(msgs[i].at.file, at.file) && !strcmp(msgs[i].msg, tmp))
			return;
	if (nmsgs == capmsgs) {
		capmsgs = capmsgs ? capmsgs * 2 : 64;
		msgs = xrealloc(msgs, (size_t)capmsgs * sizeof *msgs);
	}
	msgs[nmsgs] = (dmsg){ at, file_order(at.file), nmsgs, xstrdup(tmp) };
	nmsgs++;
}

void diag_reset(void)
{
	for (int i = 0; i < nmsgs; i++)
		free(msgs[i].msg);
	free(msgs);
	msgs = NULL;
	nmsgs = capmsgs = 0;
	norders = 0;
}

int diag_count(void)
{
	return nmsgs;
}

static int dcmp(const void *pa, const void *pb)
{
	const dmsg *a = pa, *b = pb;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	if (a->order == MAX_FILES_ORDER) {
		int c = strcmp(a->at.file, b->at.file);
		if (c)
			return c;
	}
	if (a->at.line != b->at.line)
		return a->at.line < b->at.line ? -1 : 1;
	if (a->at.col != b->at.col)
		return a->at.col < b->at.col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Prints every diagnostic, sorted by file (load order), line and column,
 * at most 1000 of them. */
void diag_print(void)
{
	qsort(msgs, (size_t)nmsgs, sizeof *msgs, dcmp);
	for (int i = 0; i < nmsgs && i < 1000; i++) {
		if (msgs[i].at.line > 0)
			fprintf(stderr, "%s:%d:%d: error: %s\n", msgs[i].at.file,
				msgs[i].at.line, msgs[i].at.col, msgs[i].msg);
		else
			fprintf(stderr, "%s: error: %s\n", msgs[i].at.file,
				msgs[i].msg);
	}
	if (nmsgs > 1000)
		fprintf(stderr, "streamc: %d more errors not shown\n",
			nmsgs - 1000);
}
