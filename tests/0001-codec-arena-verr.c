/* 0001-codec-arena-verr.c: the request arena and validation-error paths. */
#include <stdalign.h>
#include <stddef.h>

#include "streamer/codec.h"
#include "tap.h"

static void test_arena(void)
{
	st_arena *a = st_arena_create(1 << 20);
	ok(a != NULL, "arena created");

	/* alignment, zeroing and no overlap across many sizes */
	unsigned char *ptrs[200];
	size_t sizes[200];
	int aligned = 1, zeroed = 1;
	for (int i = 0; i < 200; i++) {
		sizes[i] = (size_t)(i * 37 % 300) + 1;
		ptrs[i] = st_arena_alloc(a, sizes[i]);
		if (!ptrs[i])
			BAIL_OUT("alloc %d failed", i);
		if ((uintptr_t)ptrs[i] % alignof(max_align_t))
			aligned = 0;
		for (size_t k = 0; k < sizes[i]; k++)
			if (ptrs[i][k])
				zeroed = 0;
		memset(ptrs[i], i & 0xff, sizes[i]);
	}
	ok(aligned, "every allocation aligned for max_align_t");
	ok(zeroed, "every allocation zeroed");
	int intact = 1;
	for (int i = 0; i < 200; i++)
		for (size_t k = 0; k < sizes[i]; k++)
			if (ptrs[i][k] != (i & 0xff))
				intact = 0;
	ok(intact, "allocations do not overlap");

	char *s = st_arena_strndup(a, "hello world", 5);
	is(s, "hello", "strndup copies len bytes and terminates");
	s = st_arena_strndup(a, "", 0);
	is(s, "", "strndup of nothing");
	ok(st_arena_alloc(a, 0) != NULL, "alloc(0) gives a pointer");

	st_arena_reset(a);
	unsigned char *p = st_arena_alloc(a, 100);
	ok(p && p[0] == 0 && p[99] == 0, "alloc after reset is zeroed");
	st_arena_free(a);

	/* the cap: 1000-byte pieces under a 64 KiB cap */
	a = st_arena_create(65536);
	size_t got = 0;
	while (st_arena_alloc(a, 1000))
		got++;
	ok(got * 1000 <= 65536, "cap respected: %zu allocations of 1000", got);
	ok(got >= 40, "cap not wasted: %zu of at most 65", got);
	ok(st_arena_alloc(a, 1000) == NULL, "still refused after the cap");
	st_arena_reset(a);
	ok(st_arena_alloc(a, 1000) != NULL, "reset gives the memory back");
	size_t again = 1;
	while (st_arena_alloc(a, 1000))
		again++;
	is_int(again, got, "same number of allocations after reset");
	st_arena_free(a);

	a = st_arena_create(100);
	ok(st_arena_alloc(a, 200) == NULL, "larger than the cap refused");
	ok(st_arena_alloc(a, 50) != NULL, "50 of 100");
	ok(st_arena_alloc(a, 60) == NULL, "then 60 more refused");
	ok(st_arena_strndup(a, "x", SIZE_MAX) == NULL, "strndup SIZE_MAX refused");
	st_arena_free(a);
	st_arena_free(NULL);
	ok(1, "st_arena_free(NULL) is a no-op");
}

static void test_verr(void)
{
	st_verr e;
	st_verr_init(&e);
	is(st_verr_path(&e), "", "empty path");
	is(e.msg, "", "empty message");

	is_int(st_verr_set(&e, "must be a %s", "string"), -1, "set returns -1");
	is(e.msg, "must be a string", "message formatted");
	is_int(st_verr_in_field(&e, "end"), -1, "in_field returns -1");
	is(st_verr_path(&e), "end", "end");
	st_verr_in_field(&e, "range");
	is(st_verr_path(&e), "range.end", "range.end");
	st_verr_in_field(&e, "payload");
	is(st_verr_path(&e), "payload.range.end", "payload.range.end");

	st_verr_init(&e);
	is_int(st_verr_in_index(&e, 3), -1, "in_index returns -1");
	is(st_verr_path(&e), "[3]", "[3]");
	st_verr_in_field(&e, "tags");
	is(st_verr_path(&e), "tags[3]", "tags[3]");
	st_verr_in_field(&e, "payload");
	is(st_verr_path(&e), "payload.tags[3]", "payload.tags[3]");

	st_verr_init(&e);
	st_verr_in_field(&e, "x");
	st_verr_in_index(&e, 0);
	st_verr_in_index(&e, 12);
	st_verr_in_key(&e, "matrixJUNK", 6);
	is(st_verr_path(&e), "matrix[12][0].x", "nested lists and a raw key");

	st_verr_init(&e);
	st_verr_in_index(&e, SIZE_MAX);
	char want[64];
	snprintf(want, sizeof(want), "[%zu]", (size_t)SIZE_MAX);
	is(st_verr_path(&e), want, "largest index");

	/* too long: cut at the front, innermost kept, never overflowing */
	st_verr_init(&e);
	st_verr_in_field(&e, "leaf");
	for (int i = 0; i < 100; i++)
		st_verr_in_field(&e, "level");
	const char *p = st_verr_path(&e);
	ok(strlen(p) <= ST_VERR_PATH_MAX - 1, "cut path fits: %zu", strlen(p));
	ok(!strncmp(p, "...", 3), "cut path starts with ...: %.20s", p);
	ok(strlen(p) >= 10 && !strcmp(p + strlen(p) - 10, "level.leaf"),
	   "innermost part intact");
	st_verr_in_field(&e, "outer");
	is(st_verr_path(&e), p, "a cut path stays as it is");

	/* one name longer than the whole buffer */
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[sizeof(big) - 2] = 'Z';
	st_verr_init(&e);
	st_verr_in_field(&e, big);
	p = st_verr_path(&e);
	is_int(strlen(p), ST_VERR_PATH_MAX - 1, "huge name fills the buffer");
	ok(!strncmp(p, "...", 3) && p[strlen(p) - 1] == 'Z',
	   "huge name: ... and its tail");

	/* long message truncated */
	st_verr_set(&e, "%s", big);
	is_int(strlen(e.msg), ST_VERR_MSG_MAX - 1, "long message truncated");
}

int main(void)
{
	test_arena();
	test_verr();
	return done_testing();
}
