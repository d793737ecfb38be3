/* fuzz/parse.c: libFuzzer target: any bytes as a .stream file through the
 * lexer, parser and checker, and the header and schema emitters when the
 * input is valid. Must never crash or hang. (Patterns are not compiled:
 * that would run re2c.) */
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	file *f = xcalloc(1, sizeof *f);
	f->path = "fuzz.stream";
	f->src = xmalloc(size + 1);
	memcpy(f->src, data, size);
	f->src[size] = '\0';
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
	for (size_t i = 0; i < f->ntok; i++) {
		free(f->toks[i].str);
		free(f->toks[i].doc);
	}
	free(f->toks);
	free(f->src);
	return 0; /* the rest of the tree leaks: run with -detect_leaks=0 */
}
