/* streamc.h: the .stream compiler's shared types: tokens, the syntax tree,
 * diagnostics, and the passes (lex, parse, check, emit). */
#ifndef STREAMC_H
#define STREAMC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- Small utilities (util.c) -------------------------------------------- */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An arena: many allocations, all freed at once by arena_free. It holds the
 * sources, syntax trees and their strings, which live until the end of the
 * run (or of a fuzzing input). Memory from it starts zeroed; there is no
 * per-object free and no realloc, except arena_grow for arrays that only
 * grow. */
typedef struct arena arena;
arena *arena_create(void);
void arena_free(arena *a);
void *arena_alloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n); /* n bytes + NUL */
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `array` (n elements of `size` bytes, from arena_grow or NULL) with room
 * for n + 1; append with `v = arena_grow(a, v, n, sizeof *v); v[n++] = x;`. */
void *arena_grow(arena *a, void *array, int n, size_t size);

/* A growable string, NUL-terminated at all times. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;
void sb_add(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *b);

/* Levenshtein distance, for "did you mean". */
size_t edit_distance(const char *a, const char *b);

/* A location in a source file; `file` is the path as displayed. */
typedef struct loc {
	const char *file;
	int line, col;
} loc;

/* Records a diagnostic; all are printed, sorted, at the end of the run. */
void diag(loc at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int diag_count(void);
void diag_reset(void); /* forget and free all (fuzzing, the end of a run) */
void diag_print(void);
/* Index of a file for sorting diagnostics (order of loading). */
void diag_file_order(const char *file, int order);

/* --- Tokens (lexer.re) --------------------------------------------------- */

enum tok_kind {
	T_EOF, T_IDENT, T_INT, T_FLOAT, T_STRING, T_DURATION,
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LT, T_GT, T_COMMA,
	T_SEMI, T_COLON, T_QUEST, T_EQ, T_DOTDOT, T_ERROR,
};

typedef struct token {
	int kind;
	int line, col;
	const char *text; /* points into the source */
	size_t len;
	char *doc;        /* `///` lines right before this token, or NULL */
	/* values */
	char *str;        /* T_STRING: unescaped; T_IDENT: copy */
	size_t slen;
	int64_t ival;     /* T_INT; T_DURATION in milliseconds */
	double fval;      /* T_FLOAT */
	bool overflow;    /* T_INT / T_DURATION out of range */
} token;

/* Splits `src` (NUL-terminated, `len` bytes) into tokens ending with T_EOF.
 * Lexical errors are diagnosed and produce T_ERROR tokens. The array is
 * malloc'd (the caller frees it); the tokens' strings are allocated from
 * `a`, so that the tree can keep them. */
token *lex(arena *a, const char *file, const char *src, size_t len, size_t *ntok);

/* --- Syntax tree -------------------------------------------------------- */

/* Every node, array and string of the tree is allocated from the arena of
 * its file, by the lexer, the parser and the checker; names and docs are the
 * tokens' strings. Pointers between nodes (resolved types, imports, files)
 * are borrowed. */

enum base {
	B_BOOL, B_INT32, B_INT64, B_FLOAT64, B_STRING, B_BYTES, B_DATE,
	B_TIMESTAMP, B_UUID, B_LIST, B_NAMED, B_ENUM, B_STRUCT,
};

typedef struct number {
	bool is_float;
	int64_t i;
	double f;
	loc at;
	bool overflow;
} number;

struct pattern;
struct enum_decl;
struct struct_decl;
struct file;

typedef struct type {
	int base;
	loc at;
	struct type *elem;          /* B_LIST */
	char *name;                 /* B_NAMED/B_ENUM/B_STRUCT */
	struct enum_decl *en;       /* B_ENUM after checking */
	struct struct_decl *st;     /* B_STRUCT after checking */
	bool has_range;
	loc range_at;
	bool has_min, has_max;
	number min, max;
	char *pattern;              /* the pattern source, or NULL */
	loc pattern_at;
	loc pattern_kw;
	struct pattern *re;         /* parsed pattern, NULL when invalid */
	int pattern_id;             /* index in the file's matchers, -1 */
} type;

enum lit_kind { L_INT, L_FLOAT, L_STRING, L_BOOL, L_NAME };

typedef struct literal {
	int kind;
	loc at;
	int64_t i;
	double f;
	char *s;
	size_t slen;
	bool b;
	bool overflow;
} literal;

typedef struct field {
	char *name;
	loc at;
	char *doc;
	type *t;
	bool optional;
	literal *def;
	/* derived */
	char *cname;                /* C member name (keywords get a '_') */
	int64_t def_i;              /* the default as stored: int, enum, date, ms */
	double def_f;
	int slot;                   /* FlatBuffers slot */
} field;

typedef struct record {         /* the fields of a struct, payload or result */
	field **fields;
	int n;
	loc at;
	bool present;
} record;

typedef struct enum_decl {
	char *name;
	loc at;
	char *doc;
	char **values;
	char **docs;
	loc *vat;
	int n;
	struct file *file;
} enum_decl;

typedef struct struct_decl {
	char *name;
	loc at;
	char *doc;
	record rec;
	struct file *file;
	int visiting;               /* for the containment check */
} struct_decl;

typedef struct error_decl {
	char *code;
	loc at;
	char *doc;
	bool retryable;
	char *message;
	struct file *file;
} error_decl;

typedef struct action {
	char *name;
	loc at;
	char *doc;
	bool has_duration, has_timeout, has_retries;
	loc duration_at, timeout_at, retries_at, permission_at, errors_at,
	    validate_at;
	int64_t duration_ms, timeout_ms, retries;
	char *permission;
	char **errors;
	loc *errors_loc;
	int n_errors;
	bool validate;
	record payload, result;
	struct file *file;
} action;

typedef struct import {
	char *path;                 /* as written */
	loc at;
	struct file *target;
} import;

typedef struct file {
	arena *arena;               /* holds the tree (borrowed: may be shared) */
	char *path;                 /* display path (normalized) */
	char *src;
	size_t srclen;
	int order;
	bool on_cmdline;
	char *service;
	loc service_at;
	char *doc;
	import *imports;
	int n_imports;
	enum_decl **enums;
	int n_enums;
	struct_decl **structs;
	int n_structs;
	error_decl **errors;
	int n_errors;
	action **actions;
	int n_actions;
	/* derived: the patterns to compile, in order of appearance */
	type **patterns;
	int n_patterns;
	int state;                  /* import traversal: 0 new, 1 active, 2 done */
} file;

/* parse.c: the tree of `f`, from f->src into f->arena. */
void parse_file(file *f);
bool is_keyword(const char *s);

/* check.c: every semantic rule. `files` in load order. */
void check_files(file **files, int n);
/* Helpers shared with the emitters. */
bool c_keyword(const char *s);
char *camel(const char *snake);           /* echo_it -> EchoIt */
char *upper(const char *s);               /* demo -> DEMO */

/* pattern.c: the regular expressions of `pattern`. */
typedef struct pattern pattern;
/* Parses `src` into a tree allocated from `a`; NULL and a message in `err`
 * when invalid. */
pattern *pattern_parse(arena *a, const char *src, size_t len, char *err,
		       size_t errlen);
/* True when the whole `s` matches (used to check defaults). */
bool pattern_match(const pattern *p, const char *s, size_t len);
bool pattern_nullable(const pattern *p);
/* Appends the pattern in re2c's syntax. */
void pattern_re2c(const pattern *p, sbuf *out);
/* Runs re2c on the file's patterns; appends the C matchers
 * `static bool <prefix>N(const char *s, size_t len)` to `out`. Returns 0,
 * or -1 with diagnostics. */
int pattern_compile(file *f, const char *prefix, sbuf *out);

/* Small scalar parsers for default values. */
int parse_date(const char *s, size_t len, int64_t *days);
int parse_time(const char *s, size_t len, int64_t *ms);
int parse_uuid(const char *s, size_t len, uint8_t out[16]);
int utf8_count(const char *s, size_t len, size_t *ncp);

/* emit_c.c, emit_fbs.c: each returns the text of one output file. */
void emit_header(file *f, sbuf *out);
void emit_source(file *f, sbuf *out, int *failed);
void emit_registry(file **files, int n, sbuf *out);
void emit_fbs(file *f, sbuf *out);
void emit_envelope(sbuf *out);
/* The stubs of `f`'s actions missing from `existing` (NULL: new file). */
void emit_stubs(file *f, const char *existing, sbuf *out);

/* The display name of a type: "list<string>". */
void type_name(const type *t, sbuf *out);

#endif
