/* arena.c: per-request memory: bump allocation in blocks, freed at once. */
#include <stdlib.h>
#include <string.h>

#include "streamer/codec.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the runtime assumes a little-endian host");

/* Blocks are chained newest first; the first (oldest) block is kept on
 * reset so that a reused arena costs one malloc for its whole life. */
typedef struct st_block {
	struct st_block *next;
	size_t size, used;
	_Alignas(max_align_t) unsigned char data[];
} st_block;

struct st_arena {
	st_block *head;  /* newest block, where allocation happens */
	size_t total;    /* bytes of all blocks' data, counted against max */
	size_t max;
};

#define ARENA_ALIGN _Alignof(max_align_t)
#define ARENA_BLOCK_MIN 4096

static st_block *block_new(st_arena *a, size_t need)
{
	size_t size = ARENA_BLOCK_MIN;
	if (a->head && a->head->size * 2 > size)
		size = a->head->size * 2;  /* geometric: few blocks per request */
	if (size < need)
		size = need;
	if (size > a->max - a->total)
		size = a->max - a->total;  /* last block: exactly what is left */
	if (size < need)
		return NULL;
	st_block *b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = a->head;
	b->size = size;
	b->used = 0;
	a->head = b;
	a->total += size;
	return b;
}

st_arena *st_arena_create(size_t max)
{
	st_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->max = max;
	return a;
}

void st_arena_free(st_arena *a)
{
	if (!a)
		return;
	st_block *b = a->head;
	while (b) {
		st_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

void st_arena_reset(st_arena *a)
{
	st_block *b = a->head;
	if (!b)
		return;
	while (b->next) {
		st_block *next = b->next;
		a->total -= b->size;
		free(b);
		b = next;
	}
	b->used = 0;
	a->head = b;
}

void *st_arena_alloc(st_arena *a, size_t size)
{
	if (size == 0)
		size = 1;  /* distinct non-NULL pointers, as malloc(0) may not be */
	if (size > a->max)
		return NULL;
	size_t rounded = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	st_block *b = a->head;
	if (!b || b->size - b->used < rounded) {
		b = block_new(a, rounded);
		if (!b)
			return NULL;
	}
	void *p = b->data + b->used;
	b->used += rounded;
	memset(p, 0, size);
	return p;
}

char *st_arena_strndup(st_arena *a, const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *p = st_arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
