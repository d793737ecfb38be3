/* codec.h: what generated code is made of: arena, validation errors, the JSON
 * scanner and writer, and the FlatBuffers reader and builder. Tested once in
 * the runtime so that generated code can stay straight-line. */
#ifndef STREAMER_CODEC_H
#define STREAMER_CODEC_H

#include "streamer/streamer.h"

/* --- Arena: per-request memory, freed at once ---------------------------- */

typedef struct st_arena st_arena;

/* An arena that refuses to grow past `max` bytes in all. NULL on OOM. */
st_arena *st_arena_create(size_t max);
void st_arena_free(st_arena *a);
/* Frees everything allocated so far; keeps the first block for reuse. */
void st_arena_reset(st_arena *a);
/* Zeroed, aligned for any scalar; NULL when the cap is reached. */
void *st_arena_alloc(st_arena *a, size_t size);
/* Copies len bytes and a '\0'. NULL when the cap is reached. */
char *st_arena_strndup(st_arena *a, const char *s, size_t len);

/* --- Validation errors: message plus the path of the failing field ------- */

/* The path is built from the inside out while a decoder unwinds, so the
 * success path pays nothing: the innermost decoder sets the message, each
 * enclosing level prefixes its field name or index. */
#define ST_VERR_PATH_MAX 256
#define ST_VERR_MSG_MAX 256
typedef struct st_verr {
	char msg[ST_VERR_MSG_MAX];
	char path[ST_VERR_PATH_MAX]; /* filled from the end: path + start */
	size_t start;                /* ST_VERR_PATH_MAX - 1 when empty */
} st_verr;

void st_verr_init(st_verr *e);
/* Sets the message (printf-style); returns -1 so decoders can
 * `return st_verr_set(e, "...")`. */
int st_verr_set(st_verr *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix a field name (adds '.' before a non-empty path that is not an
 * index), a raw key of `len` bytes, or an index "[i]". Return -1. A path
 * too long for the buffer is cut at the front and starts with "...". */
int st_verr_in_field(st_verr *e, const char *name);
int st_verr_in_key(st_verr *e, const char *key, size_t len);
int st_verr_in_index(st_verr *e, size_t index);
/* The path so far ("" when none). Valid until the next call on `e`. */
const char *st_verr_path(const st_verr *e);

/* --- JSON scanner (re2c): pull tokens, validating as it goes ------------- */

#define ST_JSON_MAX_DEPTH 64

/* A scanner over `len` bytes; the bytes need not be NUL-terminated and
 * must outlive the scanner (strings without escapes point into them). */
typedef struct st_json {
	const char *cur, *end, *base;
	int depth;
} st_json;

void st_json_init(st_json *j, const char *buf, size_t len);

/* Structure. Each returns -1 with a message in `e` on error:
 *   st_json_obj_begin: expects '{'.
 *   st_json_obj_key:   1 and the key (unescaped, in `a` when it had escapes)
 *                      with the scanner at its value; 0 after the closing
 *                      '}'; -1 on error.
 *   st_json_arr_begin / st_json_arr_next: the same for '[' and items: 1
 *                      when an item follows, 0 after ']'.
 *   st_json_skip:      skips one value of any kind (depth-limited); *start
 *                      and *len (when not NULL) give its raw text.
 *   st_json_end:       only whitespace remains.
 *   st_json_null:      1 and consumes when the next value is null, else 0. */
int st_json_obj_begin(st_json *j, st_verr *e);
int st_json_obj_key(st_json *j, st_arena *a, st_str *key, st_verr *e);
int st_json_arr_begin(st_json *j, st_verr *e);
int st_json_arr_next(st_json *j, st_verr *e);
int st_json_skip(st_json *j, const char **start, size_t *len, st_verr *e);
int st_json_end(st_json *j, st_verr *e);
int st_json_null(st_json *j);

/* Values: each reads one value of its JSON form (idl.md's type table),
 * checks it, and returns 0, or -1 with a person-readable message in `e`
 * ("must be a string", "must be a valid date (YYYY-MM-DD)"). */
int st_json_bool(st_json *j, bool *out, st_verr *e);
int st_json_i32(st_json *j, int32_t *out, st_verr *e);
int st_json_i64(st_json *j, int64_t *out, st_verr *e); /* number or "digits" */
int st_json_f64(st_json *j, double *out, st_verr *e);  /* finite only */
/* Valid UTF-8 (no lone surrogates); *ncp is the length in code points. */
int st_json_str(st_json *j, st_arena *a, st_str *out, size_t *ncp, st_verr *e);
int st_json_bytes(st_json *j, st_arena *a, st_bytes *out, st_verr *e); /* base64 */
int st_json_date(st_json *j, st_date *out, st_verr *e);
int st_json_time(st_json *j, st_time *out, st_verr *e);  /* RFC 3339 */
int st_json_uuid(st_json *j, st_uuid *out, st_verr *e);

/* Scalar parsers shared by the JSON and FlatBuffers paths (0 or -1). */
int st_parse_date(const char *s, size_t len, st_date *out);
int st_parse_time(const char *s, size_t len, st_time *out);
int st_parse_uuid(const char *s, size_t len, st_uuid *out);
/* -1 if not valid UTF-8, else 0 and the number of code points. */
int st_utf8_check(const char *s, size_t len, size_t *ncp);

/* --- Output buffer and JSON writer -------------------------------------- */

/* A growable byte buffer with a hard maximum. Appends past `max` set
 * `failed` and do nothing more; check it once at the end. */
typedef struct st_buf {
	char *data;
	size_t len, cap, max;
	bool failed;
} st_buf;

void st_buf_init(st_buf *b, size_t max);
void st_buf_fini(st_buf *b);
void st_buf_reset(st_buf *b);
void st_buf_append(st_buf *b, const void *p, size_t n);
void st_buf_printf(st_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define st_buf_lit(b, lit) st_buf_append((b), (lit), sizeof(lit) - 1)

/* JSON values. Punctuation and keys are written by the caller with
 * st_buf_lit (generated code knows them). Integers beyond +-(2^53-1) are
 * written as strings so that JavaScript clients keep every digit. */
void st_jw_str(st_buf *b, const char *s, size_t len); /* quoted, escaped */
void st_jw_bool(st_buf *b, bool v);
void st_jw_i32(st_buf *b, int32_t v);
void st_jw_i64(st_buf *b, int64_t v);
void st_jw_f64(st_buf *b, double v); /* shortest text that reads back */
void st_jw_bytes(st_buf *b, const uint8_t *p, size_t len); /* base64 */
void st_jw_date(st_buf *b, st_date v);
void st_jw_time(st_buf *b, st_time v); /* "2026-11-26T09:30:00.000Z" */
void st_jw_uuid(st_buf *b, const st_uuid *v);

/* --- FlatBuffers reader: every access checked ----------------------------
 *
 * Types on the wire: bool, int32, int64, float64 as the same scalars; enums
 * as ubyte; string as string; bytes as [ubyte]; date as int (days since
 * 1970-01-01); timestamp as long (Unix ms); uuid as string (canonical);
 * structs as tables; list<T> as [T], a nested list as a vector of wrapper
 * tables with one field `items` (slot 0). Field slots follow declaration
 * order from 0.
 *
 * Readers verify what they touch: offsets inside the buffer, alignment,
 * vtable and table sizes, string termination and UTF-8, vector lengths,
 * and nesting depth (ST_FB_MAX_DEPTH). Failures return -1 with a message in
 * `e`; the generated code adds the field path. */

#define ST_FB_MAX_DEPTH 64

typedef struct st_fbr {  /* a table inside a buffer */
	const uint8_t *buf;
	size_t len;
	uint32_t pos;   /* table start */
	uint32_t vpos;  /* its vtable */
	uint16_t vlen;  /* vtable size in bytes */
	uint16_t tlen;  /* table size in bytes */
	int depth;
} st_fbr;

typedef struct st_fbvec { /* a vector inside a buffer */
	const uint8_t *buf;
	size_t len;
	uint32_t pos;   /* first element */
	uint32_t n;     /* element count */
	int depth;      /* of the table holding it */
} st_fbvec;

/* The root table; `ident` is the 4-byte file identifier to require, or
 * NULL to accept any. */
int st_fbr_root(const uint8_t *buf, size_t len, const char *ident,
		st_fbr *root, st_verr *e);

/* Scalars: absent fields read as `def`. */
int st_fbr_bool(const st_fbr *t, int slot, bool def, bool *out, st_verr *e);
int st_fbr_u8(const st_fbr *t, int slot, uint8_t def, uint8_t *out, st_verr *e);
int st_fbr_i32(const st_fbr *t, int slot, int32_t def, int32_t *out, st_verr *e);
int st_fbr_i64(const st_fbr *t, int slot, int64_t def, int64_t *out, st_verr *e);
int st_fbr_f64(const st_fbr *t, int slot, double def, double *out, st_verr *e);
/* True when the field is present in the buffer. */
bool st_fbr_has(const st_fbr *t, int slot);

/* Offset fields: 1 present (and *out set), 0 absent, -1 invalid. Strings
 * and bytes point into the buffer (zero copy). */
int st_fbr_str(const st_fbr *t, int slot, st_str *out, size_t *ncp, st_verr *e);
int st_fbr_bytes(const st_fbr *t, int slot, st_bytes *out, st_verr *e);
int st_fbr_table(const st_fbr *t, int slot, st_fbr *out, st_verr *e);
int st_fbr_vec(const st_fbr *t, int slot, size_t elem_size, st_fbvec *out,
	       st_verr *e);

/* Vector elements (i < v->n, checked by st_fbr_vec's bounds). */
bool st_fbvec_bool(const st_fbvec *v, uint32_t i);
uint8_t st_fbvec_u8(const st_fbvec *v, uint32_t i);
int32_t st_fbvec_i32(const st_fbvec *v, uint32_t i);
int64_t st_fbvec_i64(const st_fbvec *v, uint32_t i);
double st_fbvec_f64(const st_fbvec *v, uint32_t i);
int st_fbvec_str(const st_fbvec *v, uint32_t i, st_str *out, size_t *ncp,
		 st_verr *e);
int st_fbvec_table(const st_fbvec *v, uint32_t i, st_fbr *out, st_verr *e);

/* --- FlatBuffers builder ---------------------------------------------------
 *
 * Builds back to front like every FlatBuffers builder: children (strings,
 * vectors, tables) first, then the table that refers to them. One table is
 * open at a time. Errors (over `max`) are sticky and reported by finish. */

typedef uint32_t st_fbref; /* offset from the end of the buffer; 0 = none */

#define ST_FBB_MAX_FIELDS 64

typedef struct st_fbb {
	uint8_t *buf;        /* data occupies buf + cap - used .. buf + cap */
	size_t cap, used, max;
	size_t align;        /* largest alignment seen */
	bool failed;
	/* the open table */
	uint32_t table_start;
	int nfields;
	uint32_t field_off[ST_FBB_MAX_FIELDS];
} st_fbb;

void st_fbb_init(st_fbb *b, size_t max);
void st_fbb_fini(st_fbb *b);
void st_fbb_reset(st_fbb *b);

st_fbref st_fbb_str(st_fbb *b, const char *s, size_t len);
st_fbref st_fbb_bytes(st_fbb *b, const uint8_t *p, size_t len);
/* A vector of n little-endian scalars of elem_size bytes each, copied from
 * host-order `elems` (this runtime assumes a little-endian host). */
st_fbref st_fbb_vec_scalars(st_fbb *b, const void *elems, size_t n,
			    size_t elem_size);
/* A vector of offsets to strings or tables built before. */
st_fbref st_fbb_vec_refs(st_fbb *b, const st_fbref *refs, size_t n);

void st_fbb_table_begin(st_fbb *b, int nfields);
/* Scalars equal to their default are left out, as flatc does. */
void st_fbb_add_bool(st_fbb *b, int slot, bool v, bool def);
void st_fbb_add_u8(st_fbb *b, int slot, uint8_t v, uint8_t def);
void st_fbb_add_i32(st_fbb *b, int slot, int32_t v, int32_t def);
void st_fbb_add_i64(st_fbb *b, int slot, int64_t v, int64_t def);
void st_fbb_add_f64(st_fbb *b, int slot, double v, double def);
void st_fbb_add_ref(st_fbb *b, int slot, st_fbref ref); /* 0: left out */
st_fbref st_fbb_table_end(st_fbb *b);

/* Finishes with `root` (and a 4-byte identifier unless NULL); returns 0 and
 * the finished bytes (valid until the builder changes), or -1 if any step
 * failed. */
int st_fbb_finish(st_fbb *b, st_fbref root, const char *ident,
		  const uint8_t **data, size_t *len);

#endif
