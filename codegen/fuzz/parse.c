/* fuzz/parse.c: libFuzzer target: any bytes as a .stream file through the
 * lexer, parser and checker, and the header and schema emitters when the
 * input is valid. Must never crash, hang or leak. (Patterns are not
 * compiled: that would run re2c.) */
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arena *a = arena_create();
	file *f = arena_alloc(a, sizeof *f);
	f->arena = a;
	f->path = "fuzz.stream";
	f->src = arena_strndup(a, (const char *)data, size);
	f->srclen = size;
	diag_reset();
	diag_file_order(f->path, 0);
	parse_file(f);
	check_files(&f, 1);
	if (diag_count() == 0) {
		sbuf h = { 0 }, s = { 0 };
		emit_header(f, &h);
		emit_fbs(f, &s);
		sb_free(&h);
		sb_free(&s);
	}
	diag_reset();
	arena_free(a);
	return 0;
}
