/* verr.c: validation errors: a message and the path of the failing field,
 * built from the inside out while decoders unwind. */
#include <stdio.h>
#include <string.h>

#include "streamer/codec.h"

#define VERR_EMPTY (ST_VERR_PATH_MAX - 1)

void st_verr_init(st_verr *e)
{
	e->msg[0] = '\0';
	e->path[VERR_EMPTY] = '\0';
	e->start = VERR_EMPTY;
}

int st_verr_set(st_verr *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);  /* truncates, never overflows */
	va_end(ap);
	return -1;
}

/* A path cut at the front starts with "..." and start == 0; once cut, outer
 * levels are dropped: the innermost part is what locates the error. */
static bool path_cut(const st_verr *e)
{
	return e->start == 0 && memcmp(e->path, "...", 3) == 0;
}

/* Prepends `n` bytes; when they do not fit, keeps their tail and marks the
 * cut with "...". */
static void path_prepend(st_verr *e, const char *p, size_t n)
{
	if (path_cut(e))
		return;
	if (n <= e->start) {
		e->start -= n;
		memcpy(e->path + e->start, p, n);
		return;
	}
	memcpy(e->path, p + (n - e->start), e->start);
	e->start = 0;
	memcpy(e->path, "...", 3);
}

/* "range" + "end" -> "range.end", "[0]" + "x" -> "[0].x", but
 * "tags" + "[3]" -> "tags[3]": a '.' goes before a path that is a name. */
static int prefix(st_verr *e, const char *p, size_t len)
{
	if (e->start < VERR_EMPTY && e->path[e->start] != '[')
		path_prepend(e, ".", 1);
	path_prepend(e, p, len);
	return -1;
}

int st_verr_in_field(st_verr *e, const char *name)
{
	return prefix(e, name, strlen(name));
}

int st_verr_in_key(st_verr *e, const char *key, size_t len)
{
	return prefix(e, key, len);
}

int st_verr_in_index(st_verr *e, size_t index)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "[%zu]", index);
	return prefix(e, tmp, (size_t)n);
}

const char *st_verr_path(const st_verr *e)
{
	return e->path + e->start;
}
