/* emit_c.c: the C outputs: gen/<service>.h and .c (types, JSON and
 * FlatBuffers codecs, handler prototypes), gen/registry.c and the handler
 * stubs. Generated code is straight-line, one block per field, commented
 * with the field's IDL declaration; the logic lives in the runtime. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

static const char *svc; /* service of the file being emitted */

/* The generated-file banner: the source path without absolute parts. */
static const char *shown_path(const file *f)
{
	if (f->path[0] != '/')
		return f->path;
	const char *s = strrchr(f->path, '/');
	return s + 1;
}

/* --- Names ------------------------------------------------------------------ */

static const char *scalar_c[] = {
	[B_BOOL] = "bool", [B_INT32] = "int32_t", [B_INT64] = "int64_t",
	[B_FLOAT64] = "double", [B_STRING] = "st_str", [B_BYTES] = "st_bytes",
	[B_DATE] = "st_date", [B_TIMESTAMP] = "st_time", [B_UUID] = "st_uuid",
};
static const char *scalar_id[] = {
	[B_BOOL] = "bool", [B_INT32] = "int32", [B_INT64] = "int64",
	[B_FLOAT64] = "float64", [B_STRING] = "string", [B_BYTES] = "bytes",
	[B_DATE] = "date", [B_TIMESTAMP] = "timestamp", [B_UUID] = "uuid",
};

static const char *decl_service(const type *t)
{
	return t->base == B_ENUM ? t->en->file->service : t->st->file->service;
}

static const char *decl_name(const type *t)
{
	return t->base == B_ENUM ? t->en->name : t->st->name;
}

/* The part of a list typedef's name for element type `t`. */
static void mangle(const type *t, sbuf *o)
{
	if (t->base == B_LIST) {
		sb_puts(o, "list_");
		mangle(t->elem, o);
	} else if (t->base == B_ENUM || t->base == B_STRUCT) {
		if (strcmp(decl_service(t), svc))
			sb_printf(o, "%s_", decl_service(t));
		sb_puts(o, decl_name(t));
	} else
		sb_puts(o, scalar_id[t->base]);
}

static void ctype(const type *t, sbuf *o)
{
	if (t->base == B_LIST) {
		sb_printf(o, "%s__list_", svc);
		mangle(t->elem, o);
	} else if (t->base == B_ENUM || t->base == B_STRUCT)
		sb_printf(o, "%s_%s", decl_service(t), decl_name(t));
	else
		sb_puts(o, scalar_c[t->base]);
}

static char *ctype_s(const type *t)
{
	sbuf b = { 0 };
	ctype(t, &b);
	return b.s;
}

/* A C string literal of s[0..len), escaped. */
static void c_string(sbuf *o, const char *s, size_t len)
{
	sb_puts(o, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_printf(o, "\\%c", c);
		else if (c == '\n')
			sb_puts(o, "\\n");
		else if (c == '\t')
			sb_puts(o, "\\t");
		else if (c < 0x20 || c >= 0x7f || c == '?')
			sb_printf(o, "\\%03o", c);
		else
			sb_add(o, (const char *)&c, 1);
	}
	sb_puts(o, "\"");
}

/* The field's IDL declaration, for comments: "tags: list<string>(..20)?". */
static void idl_type(const type *t, sbuf *o)
{
	if (t->base == B_LIST) {
		sb_puts(o, "list<");
		idl_type(t->elem, o);
		sb_puts(o, ">");
	} else if (t->name)
		sb_puts(o, t->name);
	else
		sb_puts(o, scalar_id[t->base]);
	if (t->has_range) {
		sb_puts(o, "(");
		if (t->has_min) {
			if (t->min.is_float)
				sb_printf(o, "%g", t->min.f);
			else
				sb_printf(o, "%lld", (long long)t->min.i);
		}
		sb_puts(o, "..");
		if (t->has_max) {
			if (t->max.is_float)
				sb_printf(o, "%g", t->max.f);
			else
				sb_printf(o, "%lld", (long long)t->max.i);
		}
		sb_puts(o, ")");
	}
	if (t->pattern)
		sb_puts(o, " pattern");
}

/* A comment-safe copy of `s` ("*" "/" broken up). */
static void comment_text(sbuf *o, const char *s)
{
	for (; *s; s++) {
		if (s[0] == '*' && s[1] == '/')
			sb_puts(o, "* ");
		else if (s[0] == '/' && s[1] == '*')
			sb_puts(o, "/ ");
		else
			sb_add(o, s, 1);
	}
}

static void field_comment(sbuf *o, const field *fl, const char *ind)
{
	sb_printf(o, "%s/* %s: ", ind, fl->name);
	idl_type(fl->t, o);
	if (fl->optional)
		sb_puts(o, "?");
	if (fl->def) {
		const literal *l = fl->def;
		sb_puts(o, " = ");
		switch (l->kind) {
		case L_INT: sb_printf(o, "%lld", (long long)l->i); break;
		case L_FLOAT: sb_printf(o, "%g", l->f); break;
		case L_BOOL: sb_puts(o, l->b ? "true" : "false"); break;
		case L_NAME: sb_puts(o, l->s); break;
		case L_STRING: {
			sbuf q = { 0 };
			c_string(&q, l->s, l->slen);
			comment_text(o, q.s);
			sb_free(&q);
			break;
		}
		}
	}
	sb_puts(o, " */\n");
}

static void doc_comment(sbuf *o, const char *doc, const char *ind)
{
	if (!doc || !*doc)
		return;
	sb_printf(o, "%s/** ", ind);
	for (const char *s = doc; *s; s++) {
		if (*s == '\n')
			sb_printf(o, "\n%s * ", ind);
		else if (s[0] == '*' && s[1] == '/')
			sb_puts(o, "* ");
		else
			sb_add(o, s, 1);
	}
	sb_puts(o, " */\n");
}

/* --- The records of a file: structs (in dependency order), payloads, results */

typedef struct rec {
	record *r;
	char *cname;                /* owned */
	const char *doc;
} rec;

/* Filled by collect_recs for the file being emitted, freed by recs_free. */
static rec *recs;
static int nrecs;

static void recs_free(void)
{
	for (int i = 0; i < nrecs; i++)
		free(recs[i].cname);
	free(recs);
	recs = NULL;
	nrecs = 0;
}

static void add_rec(record *r, char *cname, const char *doc)
{
	recs = xrealloc(recs, (size_t)(nrecs + 1) * sizeof *recs);
	recs[nrecs++] = (rec){ r, cname, doc };
}

static void visit_struct(struct_decl *s, file *f)
{
	if (s->visiting)
		return;
	s->visiting = 2;
	for (int i = 0; i < s->rec.n; i++) {
		type *t = s->rec.fields[i]->t;
		if (t->base == B_STRUCT && t->st->file == f)
			visit_struct(t->st, f);
	}
	add_rec(&s->rec, xprintf("%s_%s", f->service, s->name), s->doc);
}

static void collect_recs(file *f)
{
	recs_free();
	for (int i = 0; i < f->n_structs; i++)
		f->structs[i]->visiting = 0;
	for (int i = 0; i < f->n_structs; i++)
		visit_struct(f->structs[i], f);
	for (int i = 0; i < f->n_structs; i++)
		f->structs[i]->visiting = 0;
	for (int i = 0; i < f->n_actions; i++) {
		action *a = f->actions[i];
		add_rec(&a->payload, xprintf("%s_%s_payload", f->service, a->name), NULL);
		add_rec(&a->result, xprintf("%s_%s_result", f->service, a->name), NULL);
	}
}

/* List typedefs used by the file, inner ones first, each once: filled by
 * collect_lists, freed by lists_free. */
static char **lists;                /* owned names */
static type **list_types;
static int nlists;

static void lists_free(void)
{
	for (int i = 0; i < nlists; i++)
		free(lists[i]);
	free(lists);
	free(list_types);
	lists = NULL;
	list_types = NULL;
	nlists = 0;
}

static void collect_list(type *t)
{
	if (t->base != B_LIST)
		return;
	collect_list(t->elem);
	char *n = ctype_s(t);
	for (int i = 0; i < nlists; i++)
		if (!strcmp(lists[i], n)) {
			free(n);
			return;
		}
	lists = xrealloc(lists, (size_t)(nlists + 1) * sizeof *lists);
	list_types = xrealloc(list_types, (size_t)(nlists + 1) * sizeof *list_types);
	lists[nlists] = n;
	list_types[nlists++] = t;
}

static void collect_lists(void)
{
	lists_free();
	for (int i = 0; i < nrecs; i++)
		for (int k = 0; k < recs[i].r->n; k++)
			collect_list(recs[i].r->fields[k]->t);
}

static bool uses(file *f, int base, int depth);

/* --- Header ------------------------------------------------------------------- */

void emit_header(file *f, sbuf *o)
{
	svc = f->service;
	collect_recs(f);
	collect_lists();
	char *U = upper(svc);
	sb_printf(o, "/* Generated by streamc from %s. DO NOT EDIT. */\n", shown_path(f));
	sb_printf(o, "/* Change %s and run `make gen`; names are documented in docs/idl.md. */\n",
		  shown_path(f));
	sb_printf(o, "#ifndef %s_GEN_H\n#define %s_GEN_H\n\n", U, U);
	sb_puts(o, "#include \"streamer/codec.h\"\n");
	for (int i = 0; i < f->n_imports; i++)
		if (f->imports[i].target)
			sb_printf(o, "#include \"%s.h\"\n", f->imports[i].target->service);
	sb_printf(o, "\n#if ST_ABI_VERSION != 1\n#error \"%s.h was generated for streamer ABI 1: run make gen\"\n#endif\n\n",
		  svc);
	if (f->doc) {
		doc_comment(o, f->doc, "");
		sb_puts(o, "\n");
	}
	if (f->n_errors) {
		sb_puts(o, "/* Error codes (return them with st_fail). */\n");
		for (int i = 0; i < f->n_errors; i++) {
			error_decl *e = f->errors[i];
			doc_comment(o, e->doc, "");
			sb_printf(o, "#define %s_E_%s \"%s\"\n", U, e->code, e->code);
		}
		sb_puts(o, "\n");
	}
	for (int i = 0; i < f->n_enums; i++) {
		enum_decl *e = f->enums[i];
		doc_comment(o, e->doc, "");
		sb_printf(o, "typedef enum %s_%s {\n", svc, e->name);
		for (int k = 0; k < e->n; k++) {
			doc_comment(o, e->docs[k], "\t");
			sb_printf(o, "\t%s_%s_%s = %d,\n", svc, e->name, e->values[k], k);
		}
		sb_printf(o, "} %s_%s;\n#define %s_%s_COUNT %d\n", svc, e->name, svc, e->name, e->n);
		sb_printf(o, "/* The value's name (\"\" when out of range), and back (0 or -1). */\n");
		sb_printf(o, "const char *%s_%s_name(%s_%s v);\n", svc, e->name, svc, e->name);
		sb_printf(o, "int %s_%s_parse(const char *s, size_t len, %s_%s *out);\n\n",
			  svc, e->name, svc, e->name);
	}
	for (int i = 0; i < f->n_structs; i++)
		sb_printf(o, "typedef struct %s_%s %s_%s;\n", svc, f->structs[i]->name, svc,
			  f->structs[i]->name);
	if (f->n_structs)
		sb_puts(o, "\n");
	if (nlists) {
		sb_puts(o, "/* Lists: `count` items at `items`. */\n");
		for (int i = 0; i < nlists; i++) {
			char *et = ctype_s(list_types[i]->elem);
			const char *tag = list_types[i]->elem->base == B_LIST ||
						  list_types[i]->elem->base == B_STRUCT
					  ? "struct "
					  : "";
			sb_printf(o, "typedef struct %s {\n\t%s%s *items;\n\tsize_t count;\n} %s;\n",
				  lists[i], tag, et, lists[i]);
			free(et);
		}
		sb_puts(o, "\n");
	}
	for (int i = 0; i < nrecs; i++) {
		rec *r = &recs[i];
		doc_comment(o, r->doc, "");
		bool is_struct = i < f->n_structs;
		if (is_struct)
			sb_printf(o, "struct %s {\n", r->cname);
		else
			sb_printf(o, "typedef struct %s {\n", r->cname);
		for (int k = 0; k < r->r->n; k++) {
			field *fl = r->r->fields[k];
			doc_comment(o, fl->doc, "\t");
			field_comment(o, fl, "\t");
			if (fl->optional && !fl->def)
				sb_printf(o, "\tbool has_%s;\n", fl->name);
			char *ct = ctype_s(fl->t);
			sb_printf(o, "\t%s %s;\n", ct, fl->cname);
			free(ct);
		}
		if (r->r->n == 0)
			sb_puts(o, "\tchar unused_; /* no fields */\n");
		if (is_struct)
			sb_puts(o, "};\n\n");
		else
			sb_printf(o, "} %s;\n\n", r->cname);
	}
	sb_puts(o, "/* Codecs: decoders validate and return 0, or -1 with the message and\n"
		   " * the failing field's path in `e`; strings point into the input or `a`. */\n");
	for (int i = 0; i < nrecs; i++) {
		const char *n = recs[i].cname;
		sb_printf(o, "int %s_decode_json(st_json *j, %s *out, st_arena *a, st_verr *e);\n", n, n);
		sb_printf(o, "void %s_encode_json(const %s *in, st_buf *b);\n", n, n);
		sb_printf(o, "int %s_decode_fb(const st_fbr *t, %s *out, st_arena *a, st_verr *e);\n", n, n);
		sb_printf(o, "st_fbref %s_encode_fb(st_fbb *b, const %s *in);\n", n, n);
	}
	if (f->n_actions) {
		sb_puts(o, "\n/* Handlers, implemented in handlers/");
		sb_printf(o, "%s.c: return ST_OK with *r filled in, ST_FAIL\n"
			     " * after st_fail()/st_invalid(), or ST_DEFER (sync actions). */\n", svc);
	}
	for (int i = 0; i < f->n_actions; i++) {
		action *a = f->actions[i];
		doc_comment(o, a->doc, "");
		sb_printf(o, "int %s_%s(st_req *req, const %s_%s_payload *p, %s_%s_result *r);\n",
			  svc, a->name, svc, a->name, svc, a->name);
		if (a->validate)
			sb_printf(o, "int %s_%s_validate(st_req *req, const %s_%s_payload *p);\n",
				  svc, a->name, svc, a->name);
	}
	sb_printf(o, "\n#endif\n");
	free(U);
	lists_free();
	recs_free();
	(void)uses;
}

/* --- Source: JSON decoders ---------------------------------------------------- */

static void ind(sbuf *o, int n)
{
	for (int i = 0; i < n; i++)
		sb_puts(o, "\t");
}

static void i64_lit(sbuf *o, int64_t v)
{
	if (v == INT64_MIN)
		sb_puts(o, "INT64_MIN");
	else
		sb_printf(o, "INT64_C(%" PRId64 ")", v);
}

static void f64_lit(sbuf *o, double v)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%.17g", v);
	sb_puts(o, tmp);
	if (!strpbrk(tmp, ".eEn"))
		sb_puts(o, ".0");
}

static void num_text(char *buf, size_t n, const number *x)
{
	if (x->is_float)
		snprintf(buf, n, "%.17g", x->f);
	else
		snprintf(buf, n, "%lld", (long long)x->i);
	/* shortest form that reads back */
	if (x->is_float)
		for (int p = 1; p <= 17; p++) {
			snprintf(buf, n, "%.*g", p, x->f);
			if (strtod(buf, NULL) == x->f)
				break;
		}
}

/* Emits "if (COND) { st_verr_set(e, MSG); FAIL }" */
static void fail_if(sbuf *o, int d, const char *cond, const char *msg, const char *fail)
{
	ind(o, d);
	sb_printf(o, "if (%s) {\n", cond);
	ind(o, d + 1);
	sb_puts(o, "st_verr_set(e, \"%s\", ");
	c_string(o, msg, strlen(msg));
	sb_puts(o, ");\n");
	ind(o, d + 1);
	sb_printf(o, "%s\n", fail);
	ind(o, d);
	sb_puts(o, "}\n");
}

static void fail_if_not_finite(sbuf *o, int d, const char *lv, const char *fail)
{
	char *cond = xprintf("!isfinite(%s)", lv);
	fail_if(o, d, cond, "must be a finite number", fail);
	free(cond);
}

/* One bound of a numeric range: fail when `v op bound`. */
static void emit_bound(sbuf *o, const type *t, const number *bound, const char *v,
		       const char *op, const char *words, const char *fail, int d)
{
	char num[64], msg[128];
	num_text(num, sizeof num, bound);
	sbuf c = { 0 };
	sb_printf(&c, "%s %s ", v, op);
	if (t->base == B_FLOAT64)
		f64_lit(&c, bound->f);
	else
		i64_lit(&c, bound->i);
	snprintf(msg, sizeof msg, "must be %s %s", words, num);
	fail_if(o, d, c.s, msg, fail);
	sb_free(&c);
}

/* Range and pattern checks of a decoded value `v` (an lvalue). `len` is the
 * expression of a string's code points or a bytes/list length. */
static void emit_checks(sbuf *o, const type *t, const char *v, const char *len,
			const char *fail, int d)
{
	char cond[512], msg[256];
	switch (t->base) {
	case B_INT32:
	case B_INT64:
	case B_FLOAT64:
		if (t->has_min)
			emit_bound(o, t, &t->min, v, "<", "at least", fail, d);
		if (t->has_max)
			emit_bound(o, t, &t->max, v, ">", "at most", fail, d);
		break;
	case B_STRING:
	case B_BYTES:
	case B_LIST: {
		const char *unit = t->base == B_STRING ? "characters" :
				   t->base == B_BYTES ? "bytes" : "items";
		bool one_min = t->has_min && t->min.i == 1;
		if (t->has_min && t->min.i > 0) {
			snprintf(cond, sizeof cond, "%s < %lld", len, (long long)t->min.i);
			if (one_min && t->base == B_LIST)
				snprintf(msg, sizeof msg, "must have at least 1 item");
			else if (one_min)
				snprintf(msg, sizeof msg, "must not be empty");
			else if (t->base == B_LIST)
				snprintf(msg, sizeof msg, "must have at least %lld items", (long long)t->min.i);
			else
				snprintf(msg, sizeof msg, "must be at least %lld %s long", (long long)t->min.i, unit);
			fail_if(o, d, cond, msg, fail);
		}
		if (t->has_max && t->base != B_LIST) {
			snprintf(cond, sizeof cond, "%s > %lld", len, (long long)t->max.i);
			snprintf(msg, sizeof msg, "must be at most %lld %s long", (long long)t->max.i, unit);
			fail_if(o, d, cond, msg, fail);
		}
		if (t->re) {
			snprintf(cond, sizeof cond, "!%s__match_%d(%s.ptr, %s.len)", svc, t->pattern_id, v, v);
			sbuf m = { 0 };
			sb_printf(&m, "must match the pattern %s", t->pattern);
			fail_if(o, d, cond, m.s, fail);
			sb_free(&m);
		}
		break;
	}
	default:
		break;
	}
}

static int uniq; /* for local variable names */

static void emit_json_dec(sbuf *o, const type *t, const char *lv, const char *fail, int d)
{
	char buf[1024];
	switch (t->base) {
	case B_BOOL:
	case B_INT32:
	case B_INT64:
	case B_FLOAT64:
	case B_DATE:
	case B_TIMESTAMP:
	case B_UUID: {
		static const char *fn[] = {
			[B_BOOL] = "bool", [B_INT32] = "i32", [B_INT64] = "i64",
			[B_FLOAT64] = "f64", [B_DATE] = "date",
			[B_TIMESTAMP] = "time", [B_UUID] = "uuid",
		};
		ind(o, d);
		sb_printf(o, "if (st_json_%s(j, &%s, e)) {\n", fn[t->base], lv);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		emit_checks(o, t, lv, NULL, fail, d);
		break;
	}
	case B_STRING: {
		int u = uniq++;
		ind(o, d);
		sb_printf(o, "size_t ncp%d;\n", u);
		ind(o, d);
		sb_printf(o, "if (st_json_str(j, a, &%s, &ncp%d, e)) {\n", lv, u);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		snprintf(buf, sizeof buf, "ncp%d", u);
		emit_checks(o, t, lv, buf, fail, d);
		if (!t->has_range) {
			ind(o, d);
			sb_printf(o, "(void)ncp%d;\n", u);
		}
		break;
	}
	case B_BYTES:
		ind(o, d);
		sb_printf(o, "if (st_json_bytes(j, a, &%s, e)) {\n", lv);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		snprintf(buf, sizeof buf, "%s.len", lv);
		emit_checks(o, t, lv, buf, fail, d);
		break;
	case B_ENUM: {
		int u = uniq++;
		const char *es = decl_service(t), *en = decl_name(t);
		ind(o, d);
		sb_printf(o, "st_str s%d;\n", u);
		ind(o, d);
		sb_printf(o, "size_t ncp%d;\n", u);
		ind(o, d);
		sb_printf(o, "if (st_json_str(j, a, &s%d, &ncp%d, e)) {\n", u, u);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		ind(o, d);
		sb_printf(o, "(void)ncp%d;\n", u);
		snprintf(buf, sizeof buf, "%s_%s_parse(s%d.ptr, s%d.len, &%s)", es, en, u, u, lv);
		sbuf m = { 0 };
		sb_puts(&m, "must be one of: ");
		for (int i = 0; i < t->en->n; i++)
			sb_printf(&m, "%s%s", i ? ", " : "", t->en->values[i]);
		fail_if(o, d, buf, m.s, fail);
		sb_free(&m);
		break;
	}
	case B_STRUCT:
		ind(o, d);
		sb_printf(o, "if (%s_%s_decode_json(j, &%s, a, e)) {\n", decl_service(t),
			  decl_name(t), lv);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		break;
	case B_LIST: {
		int u = uniq++;
		ind(o, d);
		sb_printf(o, "size_t cap%d = 0;\n", u);
		ind(o, d);
		sb_printf(o, "int more%d;\n", u);
		ind(o, d);
		sb_puts(o, "if (st_json_arr_begin(j, e)) {\n");
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		ind(o, d);
		sb_printf(o, "while ((more%d = st_json_arr_next(j, e)) == 1) {\n", u);
		if (t->has_max) {
			snprintf(buf, sizeof buf, "%s.count == %lld", lv, (long long)t->max.i);
			char msg[128];
			snprintf(msg, sizeof msg, "must have at most %lld item%s",
				 (long long)t->max.i, t->max.i == 1 ? "" : "s");
			fail_if(o, d + 1, buf, msg, fail);
		}
		ind(o, d + 1);
		sb_printf(o, "if (%s.count == cap%d &&\n", lv, u);
		ind(o, d + 1);
		sb_printf(o, "    !(%s.items = %s__grow(a, %s.items, &cap%d, sizeof *%s.items))) {\n",
			  lv, svc, lv, u, lv);
		ind(o, d + 2);
		sb_puts(o, "st_verr_set(e, \"is too large\");\n");
		ind(o, d + 2);
		sb_printf(o, "%s\n", fail);
		ind(o, d + 1);
		sb_puts(o, "}\n");
		char *elv = xprintf("%s.items[%s.count]", lv, lv);
		char *efail = xprintf("st_verr_in_index(e, %s.count); %s", lv, fail);
		ind(o, d + 1);
		sb_puts(o, "{\n");
		emit_json_dec(o, t->elem, elv, efail, d + 2);
		ind(o, d + 1);
		sb_puts(o, "}\n");
		free(elv);
		free(efail);
		ind(o, d + 1);
		sb_printf(o, "%s.count++;\n", lv);
		ind(o, d);
		sb_puts(o, "}\n");
		ind(o, d);
		sb_printf(o, "if (more%d < 0) {\n", u);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		snprintf(buf, sizeof buf, "%s.count", lv);
		emit_checks(o, t, lv, buf, fail, d);
		break;
	}
	}
}

/* out->x = <the default>; */
static void emit_default(sbuf *o, const field *fl, const char *lv, int d)
{
	const type *t = fl->t;
	ind(o, d);
	switch (t->base) {
	case B_BOOL:
		sb_printf(o, "%s = %s;\n", lv, fl->def_i ? "true" : "false");
		break;
	case B_INT32:
		sb_printf(o, "%s = %" PRId64 ";\n", lv, fl->def_i);
		break;
	case B_INT64:
	case B_TIMESTAMP:
		sb_printf(o, "%s = ", lv);
		i64_lit(o, fl->def_i);
		sb_puts(o, ";\n");
		break;
	case B_DATE:
		sb_printf(o, "%s = %" PRId64 ";\n", lv, fl->def_i);
		break;
	case B_FLOAT64:
		sb_printf(o, "%s = ", lv);
		f64_lit(o, fl->def_f);
		sb_puts(o, ";\n");
		break;
	case B_ENUM:
		sb_printf(o, "%s = %s_%s_%s;\n", lv, decl_service(t), decl_name(t),
			  t->en->values[fl->def_i]);
		break;
	case B_STRING:
		sb_printf(o, "%s = (st_str){ ", lv);
		c_string(o, fl->def->s, fl->def->slen);
		sb_printf(o, ", %zu };\n", fl->def->slen);
		break;
	case B_UUID: {
		uint8_t u[16];
		parse_uuid(fl->def->s, fl->def->slen, u);
		sb_printf(o, "%s = (st_uuid){ {", lv);
		for (int i = 0; i < 16; i++)
			sb_printf(o, "%s0x%02x", i ? ", " : " ", u[i]);
		sb_puts(o, " } };\n");
		break;
	}
	default:
		sb_puts(o, "/* no default */\n");
	}
}

static void emit_json_decoder(sbuf *o, const rec *r)
{
	record *rc = r->r;
	sb_printf(o, "int %s_decode_json(st_json *j, %s *out, st_arena *a, st_verr *e)\n{\n",
		  r->cname, r->cname);
	sb_puts(o, "\tst_str key;\n\tint more;\n");
	if (rc->n)
		sb_printf(o, "\tbool seen[%d] = { false };\n", rc->n);
	sb_puts(o, "\n\tmemset(out, 0, sizeof *out);\n");
	sb_puts(o, "\tif (st_json_obj_begin(j, e))\n\t\treturn -1;\n");
	sb_puts(o, "\twhile ((more = st_json_obj_key(j, a, &key, e)) == 1) {\n");
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		size_t nl = strlen(fl->name);
		sb_printf(o, "\t\t%sif (key.len == %zu && !memcmp(key.ptr, \"%s\", %zu)) {\n",
			  k ? "} else " : "", nl, fl->name, nl);
		field_comment(o, fl, "\t\t\t");
		char *fail = xprintf("return st_verr_in_field(e, \"%s\");", fl->name);
		sb_printf(o, "\t\t\tif (seen[%d]) {\n\t\t\t\tst_verr_set(e, \"is given twice\");\n"
			     "\t\t\t\t%s\n\t\t\t}\n\t\t\tseen[%d] = true;\n", k, fail, k);
		char *lv = xprintf("out->%s", fl->cname);
		if (fl->optional || fl->def) {
			sb_puts(o, "\t\t\tif (st_json_null(j)) {\n");
			if (fl->def)
				emit_default(o, fl, lv, 4);
			else
				sb_puts(o, "\t\t\t\t/* null: absent */\n");
			sb_puts(o, "\t\t\t} else {\n");
			if (!fl->def)
				sb_printf(o, "\t\t\t\tout->has_%s = true;\n", fl->name);
			emit_json_dec(o, fl->t, lv, fail, 4);
			sb_puts(o, "\t\t\t}\n");
		} else {
			sb_puts(o, "\t\t\t{\n");
			emit_json_dec(o, fl->t, lv, fail, 4);
			sb_puts(o, "\t\t\t}\n");
		}
		free(lv);
		free(fail);
	}
	if (rc->n)
		sb_puts(o, "\t\t} else {\n");
	else
		sb_puts(o, "\t\t{\n");
	sb_puts(o, "\t\t\tst_verr_set(e, \"is not a known field\");\n"
		   "\t\t\treturn st_verr_in_key(e, key.ptr, key.len);\n\t\t}\n\t}\n");
	sb_puts(o, "\tif (more < 0)\n\t\treturn -1;\n");
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		if (fl->optional && !fl->def)
			continue;
		char *lv = xprintf("out->%s", fl->cname);
		sb_printf(o, "\tif (!seen[%d]) {\n", k);
		if (fl->def)
			emit_default(o, fl, lv, 2);
		else
			sb_printf(o, "\t\tst_verr_set(e, \"is required\");\n"
				     "\t\treturn st_verr_in_field(e, \"%s\");\n", fl->name);
		sb_puts(o, "\t}\n");
		free(lv);
	}
	sb_puts(o, "\t(void)a;\n\treturn 0;\n}\n\n");
}

/* --- Source: JSON encoders ----------------------------------------------------- */

static void emit_json_enc(sbuf *o, const type *t, const char *v, int d)
{
	ind(o, d);
	switch (t->base) {
	case B_BOOL: sb_printf(o, "st_jw_bool(b, %s);\n", v); break;
	case B_INT32: sb_printf(o, "st_jw_i32(b, %s);\n", v); break;
	case B_INT64: sb_printf(o, "st_jw_i64(b, %s);\n", v); break;
	case B_FLOAT64: sb_printf(o, "st_jw_f64(b, %s);\n", v); break;
	case B_STRING: sb_printf(o, "st_jw_str(b, %s.ptr, %s.len);\n", v, v); break;
	case B_BYTES: sb_printf(o, "st_jw_bytes(b, %s.ptr, %s.len);\n", v, v); break;
	case B_DATE: sb_printf(o, "st_jw_date(b, %s);\n", v); break;
	case B_TIMESTAMP: sb_printf(o, "st_jw_time(b, %s);\n", v); break;
	case B_UUID: sb_printf(o, "st_jw_uuid(b, &%s);\n", v); break;
	case B_ENUM: {
		int u = uniq++;
		sb_printf(o, "const char *n%d = %s_%s_name(%s);\n", u, decl_service(t),
			  decl_name(t), v);
		ind(o, d);
		sb_printf(o, "st_jw_str(b, n%d, strlen(n%d));\n", u, u);
		break;
	}
	case B_STRUCT:
		sb_printf(o, "%s_%s_encode_json(&%s, b);\n", decl_service(t), decl_name(t), v);
		break;
	case B_LIST: {
		int u = uniq++;
		sb_puts(o, "st_buf_lit(b, \"[\");\n");
		ind(o, d);
		sb_printf(o, "for (size_t i%d = 0; i%d < %s.count; i%d++) {\n", u, u, v, u);
		ind(o, d + 1);
		sb_printf(o, "if (i%d)\n", u);
		ind(o, d + 2);
		sb_puts(o, "st_buf_lit(b, \",\");\n");
		char *ev = xprintf("%s.items[i%d]", v, u);
		ind(o, d + 1);
		sb_puts(o, "{\n");
		emit_json_enc(o, t->elem, ev, d + 2);
		ind(o, d + 1);
		sb_puts(o, "}\n");
		free(ev);
		ind(o, d);
		sb_puts(o, "}\n");
		ind(o, d);
		sb_puts(o, "st_buf_lit(b, \"]\");\n");
		break;
	}
	}
}

static void emit_json_encoder(sbuf *o, const rec *r)
{
	record *rc = r->r;
	sb_printf(o, "void %s_encode_json(const %s *in, st_buf *b)\n{\n", r->cname, r->cname);
	bool dyn = false;
	for (int k = 0; k < rc->n; k++)
		if (rc->fields[k]->optional && !rc->fields[k]->def)
			dyn = true;
	if (dyn)
		sb_puts(o, "\tbool first = true;\n\n");
	sb_puts(o, "\tst_buf_lit(b, \"{\");\n");
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		field_comment(o, fl, "\t");
		char *v = xprintf("in->%s", fl->cname);
		int d = 1;
		bool opt = fl->optional && !fl->def;
		if (opt) {
			sb_printf(o, "\tif (in->has_%s) {\n", fl->name);
			d = 2;
		}
		if (dyn) {
			ind(o, d);
			sb_puts(o, "if (!first)\n");
			ind(o, d + 1);
			sb_puts(o, "st_buf_lit(b, \",\");\n");
			ind(o, d);
			sb_puts(o, "first = false;\n");
			ind(o, d);
			sb_printf(o, "st_buf_lit(b, \"\\\"%s\\\":\");\n", fl->name);
		} else {
			ind(o, d);
			sb_printf(o, "st_buf_lit(b, \"%s\\\"%s\\\":\");\n", k ? "," : "", fl->name);
		}
		if (fl->t->base == B_LIST || fl->t->base == B_ENUM) {
			ind(o, d);
			sb_puts(o, "{\n");
			emit_json_enc(o, fl->t, v, d + 1);
			ind(o, d);
			sb_puts(o, "}\n");
		} else
			emit_json_enc(o, fl->t, v, d);
		if (opt)
			sb_puts(o, "\t}\n");
		free(v);
	}
	sb_puts(o, "\tst_buf_lit(b, \"}\");\n");
	if (rc->n == 0)
		sb_puts(o, "\t(void)in;\n");
	sb_puts(o, "}\n\n");
}

/* --- Source: FlatBuffers -------------------------------------------------------- */

/* Size of a list element on the wire (scalars) or 4 (offsets). */
static int fb_elem_size(const type *t)
{
	switch (t->base) {
	case B_BOOL:
	case B_ENUM:
		return 1;
	case B_INT32:
	case B_DATE:
		return 4;
	case B_INT64:
	case B_TIMESTAMP:
	case B_FLOAT64:
		return 8;
	default:
		return 4;
	}
}

/* Decode the value of a list element i of vector `vec` into lv. */
static void emit_fb_list(sbuf *o, const type *t, const char *tbl, int slot,
			 const char *lv, const char *fail, int d, bool required,
			 const char *absent);

static void emit_fb_elem(sbuf *o, const type *t, const char *vec, const char *i,
			 const char *lv, const char *fail, int d)
{
	char buf[512];
	int u = uniq++;
	switch (t->base) {
	case B_BOOL:
		ind(o, d);
		sb_printf(o, "%s = st_fbvec_bool(&%s, %s);\n", lv, vec, i);
		break;
	case B_INT32:
	case B_DATE:
		ind(o, d);
		sb_printf(o, "%s = st_fbvec_i32(&%s, %s);\n", lv, vec, i);
		emit_checks(o, t, lv, NULL, fail, d);
		break;
	case B_INT64:
	case B_TIMESTAMP:
		ind(o, d);
		sb_printf(o, "%s = st_fbvec_i64(&%s, %s);\n", lv, vec, i);
		emit_checks(o, t, lv, NULL, fail, d);
		break;
	case B_FLOAT64:
		ind(o, d);
		sb_printf(o, "%s = st_fbvec_f64(&%s, %s);\n", lv, vec, i);
		fail_if_not_finite(o, d, lv, fail);
		emit_checks(o, t, lv, NULL, fail, d);
		break;
	case B_ENUM: {
		ind(o, d);
		sb_printf(o, "uint8_t v%d = st_fbvec_u8(&%s, %s);\n", u, vec, i);
		snprintf(buf, sizeof buf, "v%d >= %s_%s_COUNT", u, decl_service(t), decl_name(t));
		fail_if(o, d, buf, "is not a known value", fail);
		ind(o, d);
		sb_printf(o, "%s = (%s_%s)v%d;\n", lv, decl_service(t), decl_name(t), u);
		break;
	}
	case B_STRING:
	case B_UUID: {
		ind(o, d);
		sb_printf(o, "size_t ncp%d;\n", u);
		if (t->base == B_UUID) {
			ind(o, d);
			sb_printf(o, "st_str s%d;\n", u);
		}
		char *dst = t->base == B_UUID ? xprintf("s%d", u) : xstrdup(lv);
		ind(o, d);
		sb_printf(o, "if (st_fbvec_str(&%s, %s, &%s, &ncp%d, e)) {\n", vec, i, dst, u);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		if (t->base == B_UUID) {
			snprintf(buf, sizeof buf, "st_parse_uuid(s%d.ptr, s%d.len, &%s)", u, u, lv);
			fail_if(o, d, buf, "must be a uuid", fail);
		} else {
			snprintf(buf, sizeof buf, "ncp%d", u);
			emit_checks(o, t, lv, buf, fail, d);
		}
		ind(o, d);
		sb_printf(o, "(void)ncp%d;\n", u);
		free(dst);
		break;
	}
	case B_STRUCT:
		ind(o, d);
		sb_printf(o, "st_fbr w%d;\n", u);
		ind(o, d);
		sb_printf(o, "if (st_fbvec_table(&%s, %s, &w%d, e) ||\n", vec, i, u);
		ind(o, d);
		sb_printf(o, "    %s_%s_decode_fb(&w%d, &%s, a, e)) {\n", decl_service(t),
			  decl_name(t), u, lv);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		break;
	case B_LIST:
	case B_BYTES: {
		/* a wrapper table with the value in slot 0 */
		ind(o, d);
		sb_printf(o, "st_fbr w%d;\n", u);
		ind(o, d);
		sb_printf(o, "if (st_fbvec_table(&%s, %s, &w%d, e)) {\n", vec, i, u);
		ind(o, d + 1);
		sb_printf(o, "%s\n", fail);
		ind(o, d);
		sb_puts(o, "}\n");
		char *w = xprintf("w%d", u);
		if (t->base == B_LIST) {
			emit_fb_list(o, t, w, 0, lv, fail, d, false, NULL);
		} else {
			ind(o, d);
			sb_printf(o, "if (st_fbr_bytes(&w%d, 0, &%s, e) < 0) {\n", u, lv);
			ind(o, d + 1);
			sb_printf(o, "%s\n", fail);
			ind(o, d);
			sb_puts(o, "}\n");
			snprintf(buf, sizeof buf, "%s.len", lv);
			emit_checks(o, t, lv, buf, fail, d);
		}
		free(w);
		break;
	}
	}
}

static void emit_fb_list(sbuf *o, const type *t, const char *tbl, int slot,
			 const char *lv, const char *fail, int d, bool required,
			 const char *absent)
{
	int u = uniq++;
	char buf[512];
	ind(o, d);
	sb_printf(o, "st_fbvec v%d;\n", u);
	ind(o, d);
	sb_printf(o, "int r%d = st_fbr_vec(&%s, %d, %d, &v%d, e);\n", u, tbl, slot,
		  fb_elem_size(t->elem), u);
	ind(o, d);
	sb_printf(o, "if (r%d < 0) {\n", u);
	ind(o, d + 1);
	sb_printf(o, "%s\n", fail);
	ind(o, d);
	sb_puts(o, "}\n");
	if (required) {
		snprintf(buf, sizeof buf, "r%d == 0", u);
		fail_if(o, d, buf, "is required", fail);
	}
	if (absent) {
		ind(o, d);
		sb_printf(o, "%s = r%d == 1;\n", absent, u);
	}
	if (t->has_max) {
		snprintf(buf, sizeof buf, "r%d == 1 && v%d.n > %lld", u, u, (long long)t->max.i);
		char msg[128];
		snprintf(msg, sizeof msg, "must have at most %lld item%s", (long long)t->max.i,
			 t->max.i == 1 ? "" : "s");
		fail_if(o, d, buf, msg, fail);
	}
	ind(o, d);
	sb_printf(o, "if (r%d == 1 && v%d.n > 0) {\n", u, u);
	ind(o, d + 1);
	sb_printf(o, "%s.items = st_arena_alloc(a, (size_t)v%d.n * sizeof *%s.items);\n", lv, u, lv);
	char *cond = xprintf("!%s.items", lv);
	fail_if(o, d + 1, cond, "is too large", fail);
	free(cond);
	ind(o, d + 1);
	sb_printf(o, "for (uint32_t i%d = 0; i%d < v%d.n; i%d++) {\n", u, u, u, u);
	char *elv = xprintf("%s.items[i%d]", lv, u);
	char *efail = xprintf("st_verr_in_index(e, i%d); %s", u, fail);
	char *vec = xprintf("v%d", u), *iv = xprintf("i%d", u);
	emit_fb_elem(o, t->elem, vec, iv, elv, efail, d + 2);
	free(elv);
	free(efail);
	free(vec);
	free(iv);
	ind(o, d + 1);
	sb_puts(o, "}\n");
	ind(o, d + 1);
	sb_printf(o, "%s.count = v%d.n;\n", lv, u);
	ind(o, d);
	sb_puts(o, "}\n");
	if (t->has_min && t->min.i > 0) {
		ind(o, d);
		sb_printf(o, "if (r%d == 1) {\n", u);
		snprintf(buf, sizeof buf, "%s.count", lv);
		emit_checks(o, t, lv, buf, fail, d + 1);
		ind(o, d);
		sb_puts(o, "}\n");
	}
}

static const char *fb_scalar_fn(int base)
{
	switch (base) {
	case B_BOOL: return "bool";
	case B_ENUM: return "u8";
	case B_INT32: case B_DATE: return "i32";
	case B_INT64: case B_TIMESTAMP: return "i64";
	case B_FLOAT64: return "f64";
	}
	return NULL;
}

static void fb_default(sbuf *o, const field *fl)
{
	const type *t = fl->t;
	if (!fl->def) {
		sb_puts(o, t->base == B_BOOL ? "false" : t->base == B_FLOAT64 ? "0.0" : "0");
		return;
	}
	switch (t->base) {
	case B_BOOL: sb_puts(o, fl->def_i ? "true" : "false"); break;
	case B_FLOAT64: f64_lit(o, fl->def_f); break;
	case B_INT64: case B_TIMESTAMP: i64_lit(o, fl->def_i); break;
	default: sb_printf(o, "%" PRId64, fl->def_i); break;
	}
}

static void emit_fb_decoder(sbuf *o, const rec *r)
{
	record *rc = r->r;
	sb_printf(o, "int %s_decode_fb(const st_fbr *t, %s *out, st_arena *a, st_verr *e)\n{\n",
		  r->cname, r->cname);
	sb_puts(o, "\tmemset(out, 0, sizeof *out);\n");
	char buf[512];
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		type *t = fl->t;
		field_comment(o, fl, "\t");
		sb_puts(o, "\t{\n");
		char *fail = xprintf("return st_verr_in_field(e, \"%s\");", fl->name);
		char *lv = xprintf("out->%s", fl->cname);
		bool opt = fl->optional && !fl->def;
		const char *fn = fb_scalar_fn(t->base);
		int u = uniq++;
		if (fn) {
			if (opt) {
				sb_printf(o, "\t\tout->has_%s = st_fbr_has(t, %d);\n", fl->name, fl->slot);
			}
			if (t->base == B_ENUM) {
				sb_printf(o, "\t\tuint8_t v%d;\n\t\tif (st_fbr_u8(t, %d, ", u, fl->slot);
				fb_default(o, fl);
				sb_printf(o, ", &v%d, e)) {\n\t\t\t%s\n\t\t}\n", u, fail);
				snprintf(buf, sizeof buf, "v%d >= %s_%s_COUNT", u, decl_service(t), decl_name(t));
				fail_if(o, 2, buf, "is not a known value", fail);
				sb_printf(o, "\t\t%s = (%s_%s)v%d;\n", lv, decl_service(t), decl_name(t), u);
			} else {
				sb_printf(o, "\t\tif (st_fbr_%s(t, %d, ", fn, fl->slot);
				fb_default(o, fl);
				sb_printf(o, ", &%s, e)) {\n\t\t\t%s\n\t\t}\n", lv, fail);
				if (t->base == B_FLOAT64)
					fail_if_not_finite(o, 2, lv, fail);
				if (opt) {
					sb_printf(o, "\t\tif (out->has_%s) {\n", fl->name);
					emit_checks(o, t, lv, NULL, fail, 3);
					sb_puts(o, "\t\t}\n");
				} else
					emit_checks(o, t, lv, NULL, fail, 2);
			}
		} else if (t->base == B_LIST) {
			char *absent = opt ? xprintf("out->has_%s", fl->name) : NULL;
			if (opt) {
				/* checks only when present: wrap in a block evaluated after */
			}
			emit_fb_list(o, t, "(*t)", fl->slot, lv, fail, 2, !opt, absent);
			free(absent);
		} else if (t->base == B_STRUCT) {
			sb_printf(o, "\t\tst_fbr s%d;\n\t\tint r%d = st_fbr_table(t, %d, &s%d, e);\n",
				  u, u, fl->slot, u);
			sb_printf(o, "\t\tif (r%d < 0 || (r%d == 1 && %s_%s_decode_fb(&s%d, &%s, a, e))) {\n\t\t\t%s\n\t\t}\n",
				  u, u, decl_service(t), decl_name(t), u, lv, fail);
			if (opt)
				sb_printf(o, "\t\tout->has_%s = r%d == 1;\n", fl->name, u);
			else {
				snprintf(buf, sizeof buf, "r%d == 0", u);
				fail_if(o, 2, buf, "is required", fail);
			}
		} else {
			/* string, bytes, uuid */
			if (t->base == B_STRING)
				sb_printf(o, "\t\tsize_t ncp%d = 0;\n\t\tint r%d = st_fbr_str(t, %d, &%s, &ncp%d, e);\n",
					  u, u, fl->slot, lv, u);
			else if (t->base == B_BYTES)
				sb_printf(o, "\t\tint r%d = st_fbr_bytes(t, %d, &%s, e);\n", u, fl->slot, lv);
			else
				sb_printf(o, "\t\tst_str s%d;\n\t\tsize_t ncp%d;\n\t\tint r%d = st_fbr_str(t, %d, &s%d, &ncp%d, e);\n",
					  u, u, u, fl->slot, u, u);
			sb_printf(o, "\t\tif (r%d < 0) {\n\t\t\t%s\n\t\t}\n", u, fail);
			if (opt)
				sb_printf(o, "\t\tout->has_%s = r%d == 1;\n", fl->name, u);
			else if (fl->def) {
				sb_printf(o, "\t\tif (r%d == 0) {\n", u);
				emit_default(o, fl, lv, 3);
				if (t->base == B_STRING)
					sb_printf(o, "\t\t\tncp%d = %zu;\n", u, (size_t)0);
				sb_puts(o, "\t\t}\n");
			} else {
				snprintf(buf, sizeof buf, "r%d == 0", u);
				fail_if(o, 2, buf, "is required", fail);
			}
			sb_printf(o, "\t\tif (r%d == 1) {\n", u);
			if (t->base == B_UUID) {
				snprintf(buf, sizeof buf, "st_parse_uuid(s%d.ptr, s%d.len, &%s)", u, u, lv);
				fail_if(o, 3, buf, "must be a uuid", fail);
				sb_printf(o, "\t\t\t(void)ncp%d;\n", u);
			} else if (t->base == B_STRING) {
				snprintf(buf, sizeof buf, "ncp%d", u);
				emit_checks(o, t, lv, buf, fail, 3);
			} else {
				snprintf(buf, sizeof buf, "%s.len", lv);
				emit_checks(o, t, lv, buf, fail, 3);
			}
			sb_puts(o, "\t\t}\n");
			if (t->base == B_STRING)
				sb_printf(o, "\t\t(void)ncp%d;\n", u);
		}
		sb_puts(o, "\t}\n");
		free(fail);
		free(lv);
	}
	sb_puts(o, "\t(void)t;\n\t(void)a;\n\t(void)e;\n\treturn 0;\n}\n\n");
}

/* Builds the children of a value; returns the expression of its ref. */
static void emit_fb_child(sbuf *o, const type *t, const char *v, const char *ref, int d);

static void emit_fb_list_build(sbuf *o, const type *t, const char *v, const char *ref, int d)
{
	int u = uniq++;
	const type *et = t->elem;
	switch (et->base) {
	case B_BOOL:
	case B_INT32:
	case B_DATE:
	case B_INT64:
	case B_TIMESTAMP:
	case B_FLOAT64:
		ind(o, d);
		sb_printf(o, "%s = st_fbb_vec_scalars(b, %s.items, %s.count, %d);\n", ref, v, v,
			  fb_elem_size(et));
		return;
	case B_ENUM:
		ind(o, d);
		sb_printf(o, "uint8_t *u%d = %s.count ? malloc(%s.count) : NULL;\n", u, v, v);
		ind(o, d);
		sb_printf(o, "if (%s.count && !u%d) {\n", v, u);
		ind(o, d + 1);
		sb_puts(o, "b->failed = true;\n");
		ind(o, d);
		sb_puts(o, "} else {\n");
		ind(o, d + 1);
		sb_printf(o, "for (size_t i%d = 0; i%d < %s.count; i%d++)\n", u, u, v, u);
		ind(o, d + 2);
		sb_printf(o, "u%d[i%d] = (uint8_t)%s.items[i%d];\n", u, u, v, u);
		ind(o, d + 1);
		sb_printf(o, "%s = st_fbb_vec_scalars(b, u%d, %s.count, 1);\n", ref, u, v);
		ind(o, d);
		sb_puts(o, "}\n");
		ind(o, d);
		sb_printf(o, "free(u%d);\n", u);
		return;
	default:
		break;
	}
	ind(o, d);
	sb_printf(o, "st_fbref *refs%d = %s.count ? malloc(%s.count * sizeof *refs%d) : NULL;\n",
		  u, v, v, u);
	ind(o, d);
	sb_printf(o, "if (%s.count && !refs%d) {\n", v, u);
	ind(o, d + 1);
	sb_puts(o, "b->failed = true;\n");
	ind(o, d);
	sb_puts(o, "} else {\n");
	ind(o, d + 1);
	sb_printf(o, "for (size_t i%d = 0; i%d < %s.count; i%d++) {\n", u, u, v, u);
	char *ev = xprintf("%s.items[i%d]", v, u);
	char *er = xprintf("refs%d[i%d]", u, u);
	if (et->base == B_LIST || et->base == B_BYTES) {
		int w = uniq++;
		ind(o, d + 2);
		sb_printf(o, "st_fbref in%d = 0;\n", w);
		char *ir = xprintf("in%d", w);
		emit_fb_child(o, et, ev, ir, d + 2);
		ind(o, d + 2);
		sb_puts(o, "st_fbb_table_begin(b, 1);\n");
		ind(o, d + 2);
		sb_printf(o, "st_fbb_add_ref(b, 0, in%d);\n", w);
		ind(o, d + 2);
		sb_printf(o, "%s = st_fbb_table_end(b);\n", er);
		free(ir);
	} else
		emit_fb_child(o, et, ev, er, d + 2);
	free(ev);
	free(er);
	ind(o, d + 1);
	sb_puts(o, "}\n");
	ind(o, d + 1);
	sb_printf(o, "%s = st_fbb_vec_refs(b, refs%d, %s.count);\n", ref, u, v);
	ind(o, d);
	sb_puts(o, "}\n");
	ind(o, d);
	sb_printf(o, "free(refs%d);\n", u);
}

static void emit_fb_child(sbuf *o, const type *t, const char *v, const char *ref, int d)
{
	switch (t->base) {
	case B_STRING:
		ind(o, d);
		sb_printf(o, "%s = st_fbb_str(b, %s.ptr, %s.len);\n", ref, v, v);
		break;
	case B_BYTES:
		ind(o, d);
		sb_printf(o, "%s = st_fbb_bytes(b, %s.ptr, %s.len);\n", ref, v, v);
		break;
	case B_UUID: {
		int u = uniq++;
		ind(o, d);
		sb_printf(o, "char u%d[37];\n", u);
		ind(o, d);
		sb_printf(o, "%s__uuid_text(&%s, u%d);\n", svc, v, u);
		ind(o, d);
		sb_printf(o, "%s = st_fbb_str(b, u%d, 36);\n", ref, u);
		break;
	}
	case B_STRUCT:
		ind(o, d);
		sb_printf(o, "%s = %s_%s_encode_fb(b, &%s);\n", ref, decl_service(t), decl_name(t), v);
		break;
	case B_LIST:
		emit_fb_list_build(o, t, v, ref, d);
		break;
	default:
		break;
	}
}

static void emit_fb_encoder(sbuf *o, const rec *r)
{
	record *rc = r->r;
	sb_printf(o, "st_fbref %s_encode_fb(st_fbb *b, const %s *in)\n{\n", r->cname, r->cname);
	bool refs = false;
	for (int k = 0; k < rc->n; k++)
		if (!fb_scalar_fn(rc->fields[k]->t->base))
			refs = true;
	if (refs)
		sb_printf(o, "\tst_fbref ref[%d] = { 0 };\n\n", rc->n);
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		if (fb_scalar_fn(fl->t->base))
			continue;
		field_comment(o, fl, "\t");
		char *v = xprintf("in->%s", fl->cname), *ref = xprintf("ref[%d]", k);
		bool opt = fl->optional && !fl->def;
		if (opt)
			sb_printf(o, "\tif (in->has_%s) {\n", fl->name);
		else
			sb_puts(o, "\t{\n");
		emit_fb_child(o, fl->t, v, ref, 2);
		sb_puts(o, "\t}\n");
		free(v);
		free(ref);
	}
	sb_printf(o, "\tst_fbb_table_begin(b, %d);\n", rc->n);
	for (int k = 0; k < rc->n; k++) {
		field *fl = rc->fields[k];
		const char *fn = fb_scalar_fn(fl->t->base);
		if (!fn) {
			sb_printf(o, "\tst_fbb_add_ref(b, %d, ref[%d]); /* %s */\n", fl->slot, k, fl->name);
			continue;
		}
		bool opt = fl->optional && !fl->def;
		const char *cast = fl->t->base == B_ENUM ? "(uint8_t)" : "";
		if (opt) {
			/* present: always written (the "default" differs from v) */
			static const char *flip[] = {
				[B_BOOL] = "!%s", [B_ENUM] = "(uint8_t)(%s ^ 1)",
				[B_INT32] = "%s ^ 1", [B_DATE] = "%s ^ 1", [B_INT64] = "%s ^ 1",
				[B_TIMESTAMP] = "%s ^ 1", [B_FLOAT64] = "NAN",
			};
			char *v = xprintf("%sin->%s", cast, fl->cname);
			char *fv = xprintf(flip[fl->t->base], v);
			sb_printf(o, "\tif (in->has_%s) /* %s */\n\t\tst_fbb_add_%s(b, %d, %s, %s);\n",
				  fl->name, fl->name, fn, fl->slot, v, fv);
			free(v);
			free(fv);
		} else {
			sb_printf(o, "\tst_fbb_add_%s(b, %d, %sin->%s, ", fn, fl->slot, cast, fl->cname);
			fb_default(o, fl);
			sb_printf(o, "); /* %s */\n", fl->name);
		}
	}
	if (rc->n == 0)
		sb_puts(o, "\t(void)in;\n");
	sb_puts(o, "\treturn st_fbb_table_end(b);\n}\n\n");
}

static bool type_uses(const type *t, int base)
{
	if (t->base == base)
		return true;
	return t->base == B_LIST && type_uses(t->elem, base);
}

static bool uses(file *f, int base, int depth)
{
	(void)depth;
	for (int i = 0; i < nrecs; i++)
		for (int k = 0; k < recs[i].r->n; k++)
			if (type_uses(recs[i].r->fields[k]->t, base))
				return true;
	(void)f;
	return false;
}

void emit_source(file *f, sbuf *o, int *failed)
{
	svc = f->service;
	collect_recs(f);
	uniq = 0;
	sb_printf(o, "/* Generated by streamc from %s. DO NOT EDIT. */\n", shown_path(f));
	sb_printf(o, "/* Change %s and run `make gen`. */\n", shown_path(f));
	sb_printf(o, "#include <math.h>\n#include <stdlib.h>\n#include <string.h>\n\n#include \"%s.h\"\n\n",
		  svc);
	/* helpers */
	if (uses(f, B_LIST, 0))
		sb_printf(o, "/* Grows a list in the arena (doubling); NULL when the cap is reached. */\n"
		     "static inline void *%s__grow(st_arena *a, void *items, size_t *cap, size_t size)\n"
		     "{\n"
		     "\tsize_t n = *cap ? *cap * 2 : 8;\n"
		     "\tif (n > SIZE_MAX / size)\n\t\treturn NULL;\n"
		     "\tvoid *p = st_arena_alloc(a, n * size);\n"
		     "\tif (!p)\n\t\treturn NULL;\n"
		     "\tif (*cap)\n\t\tmemcpy(p, items, *cap * size);\n"
		     "\t*cap = n;\n\treturn p;\n}\n\n", svc);
	if (uses(f, B_UUID, 0))
		sb_printf(o, "/* The canonical text of a uuid (36 characters and a NUL). */\n"
			     "static inline void %s__uuid_text(const st_uuid *u, char out[37])\n"
			     "{\n\tstatic const char hex[] = \"0123456789abcdef\";\n"
			     "\tsize_t k = 0;\n"
			     "\tfor (int i = 0; i < 16; i++) {\n"
			     "\t\tif (i == 4 || i == 6 || i == 8 || i == 10)\n\t\t\tout[k++] = '-';\n"
			     "\t\tout[k++] = hex[u->b[i] >> 4];\n\t\tout[k++] = hex[u->b[i] & 15];\n"
			     "\t}\n\tout[k] = '\\0';\n}\n\n", svc);
	if (f->n_patterns) {
		sb_puts(o, "/* Patterns, compiled to C by re2c at generation time. */\n");
		for (int i = 0; i < f->n_patterns; i++) {
			sb_printf(o, "/* %d: ", i);
			comment_text(o, f->patterns[i]->pattern);
			sb_puts(o, " */\n");
		}
		char *prefix = xprintf("%s__match_", svc);
		if (pattern_compile(f, prefix, o))
			*failed = 1;
		free(prefix);
		sb_puts(o, "\n");
	}
	for (int i = 0; i < f->n_enums; i++) {
		enum_decl *e = f->enums[i];
		sb_printf(o, "static const char *const %s__%s_names[] = {\n", svc, e->name);
		for (int k = 0; k < e->n; k++)
			sb_printf(o, "\t\"%s\",\n", e->values[k]);
		sb_puts(o, "};\n\n");
		sb_printf(o, "const char *%s_%s_name(%s_%s v)\n{\n"
			     "\treturn (unsigned)v < %d ? %s__%s_names[v] : \"\";\n}\n\n",
			  svc, e->name, svc, e->name, e->n, svc, e->name);
		sb_printf(o, "int %s_%s_parse(const char *s, size_t len, %s_%s *out)\n{\n"
			     "\tfor (int i = 0; i < %d; i++)\n"
			     "\t\tif (strlen(%s__%s_names[i]) == len && !memcmp(s, %s__%s_names[i], len)) {\n"
			     "\t\t\t*out = (%s_%s)i;\n\t\t\treturn 0;\n\t\t}\n\treturn -1;\n}\n\n",
			  svc, e->name, svc, e->name, e->n, svc, e->name, svc, e->name, svc, e->name);
	}
	for (int i = 0; i < nrecs; i++) {
		sb_printf(o, "/* --- %s --- */\n\n", recs[i].cname);
		emit_json_decoder(o, &recs[i]);
		emit_json_encoder(o, &recs[i]);
		emit_fb_decoder(o, &recs[i]);
		emit_fb_encoder(o, &recs[i]);
	}
	recs_free();
}

/* --- Registry ---------------------------------------------------------------------- */

typedef struct aref {
	action *a;
	file *f;
} aref;

static int acmp(const void *x, const void *y)
{
	return strcmp(((const aref *)x)->a->name, ((const aref *)y)->a->name);
}

static int ecmp(const void *x, const void *y)
{
	return strcmp((*(error_decl *const *)x)->code, (*(error_decl *const *)y)->code);
}

static int scmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

void emit_registry(file **files, int n, sbuf *o)
{
	sb_puts(o, "/* Generated by streamc from");
	for (int i = 0; i < n; i++)
		sb_printf(o, " %s", shown_path(files[i]));
	sb_puts(o, ". DO NOT EDIT. */\n/* The registration table the runtime loads: one entry per action. */\n");
	sb_puts(o, "#include \"streamer/registry.h\"\n\n");
	for (int i = 0; i < n; i++)
		sb_printf(o, "#include \"%s.h\"\n", files[i]->service);
	sb_puts(o, "\n");
	aref *as = NULL;
	int na = 0;
	error_decl **es = NULL;
	int ne = 0;
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < files[i]->n_actions; k++) {
			as = xrealloc(as, (size_t)(na + 1) * sizeof *as);
			as[na++] = (aref){ files[i]->actions[k], files[i] };
		}
		for (int k = 0; k < files[i]->n_errors; k++) {
			es = xrealloc(es, (size_t)(ne + 1) * sizeof *es);
			es[ne++] = files[i]->errors[k];
		}
	}
	if (na)
		qsort(as, (size_t)na, sizeof *as, acmp);
	if (ne)
		qsort(es, (size_t)ne, sizeof *es, ecmp);
	/* type-erased wrappers */
	for (int i = 0; i < na; i++) {
		action *a = as[i].a;
		const char *s = as[i].f->service;
		sb_printf(o, "/* %s.%s */\n", s, a->name);
		for (int pr = 0; pr < 2; pr++) {
			const char *kind = pr ? "result" : "payload";
			char *T = xprintf("%s_%s_%s", s, a->name, kind);
			char *W = xprintf("%s__%s_%s", s, a->name, kind);
			/* decoders report paths from the envelope: "payload.x" */
			if (!pr) {
				sb_printf(o, "static int %s_decode_json(st_json *j, void *out, st_arena *a, st_verr *e)\n"
					     "{\n\treturn %s_decode_json(j, out, a, e) ? st_verr_in_field(e, \"payload\") : 0;\n}\n\n",
					  W, T);
				sb_printf(o, "static int %s_decode_fb(const st_fbr *t, void *out, st_arena *a, st_verr *e)\n"
					     "{\n\treturn %s_decode_fb(t, out, a, e) ? st_verr_in_field(e, \"payload\") : 0;\n}\n\n",
					  W, T);
			} else {
				sb_printf(o, "static int %s_decode_json(st_json *j, void *out, st_arena *a, st_verr *e)\n"
					     "{\n\treturn %s_decode_json(j, out, a, e);\n}\n\n", W, T);
				sb_printf(o, "static int %s_decode_fb(const st_fbr *t, void *out, st_arena *a, st_verr *e)\n"
					     "{\n\treturn %s_decode_fb(t, out, a, e);\n}\n\n", W, T);
			}
			sb_printf(o, "static void %s_encode_json(const void *in, st_buf *b)\n"
				     "{\n\t%s_encode_json(in, b);\n}\n\n", W, T);
			sb_printf(o, "static st_fbref %s_encode_fb(st_fbb *b, const void *in)\n"
				     "{\n\treturn %s_encode_fb(b, in);\n}\n\n", W, T);
			free(T);
			free(W);
		}
		sb_printf(o, "static int %s__%s_handler(st_req *req, const void *payload, void *result)\n"
			     "{\n\treturn %s_%s(req, payload, result);\n}\n\n", s, a->name, s, a->name);
		if (a->validate)
			sb_printf(o, "static int %s__%s_validate(st_req *req, const void *payload)\n"
				     "{\n\treturn %s_%s_validate(req, payload);\n}\n\n", s, a->name, s, a->name);
		if (a->n_errors) {
			char **codes = xcalloc((size_t)a->n_errors, sizeof *codes);
			for (int k = 0; k < a->n_errors; k++)
				codes[k] = a->errors[k];
			qsort(codes, (size_t)a->n_errors, sizeof *codes, scmp);
			sb_printf(o, "static const char *const %s__%s_errors[] = {\n", s, a->name);
			for (int k = 0; k < a->n_errors; k++)
				sb_printf(o, "\t\"%s\",\n", codes[k]);
			sb_puts(o, "};\n\n");
			free(codes);
		}
	}
	if (na) {
		sb_puts(o, "/* Sorted by name (strcmp). */\nstatic const st_action actions[] = {\n");
		for (int i = 0; i < na; i++) {
			action *a = as[i].a;
			const char *s = as[i].f->service;
			sb_printf(o, "\t{\n\t\t.name = \"%s\",\n\t\t.service = \"%s\",\n", a->name, s);
			sb_printf(o, "\t\t.duration_ms = %" PRId64 ",\n\t\t.timeout_ms = %" PRId64 ",\n"
				     "\t\t.retries = %" PRId64 ",\n",
				  a->duration_ms, a->has_timeout ? a->timeout_ms : 0, a->retries);
			if (a->permission) {
				sb_puts(o, "\t\t.permission = ");
				c_string(o, a->permission, strlen(a->permission));
				sb_puts(o, ",\n");
			} else
				sb_puts(o, "\t\t.permission = NULL,\n");
			if (a->n_errors)
				sb_printf(o, "\t\t.errors = %s__%s_errors,\n\t\t.n_errors = %d,\n", s,
					  a->name, a->n_errors);
			else
				sb_puts(o, "\t\t.errors = NULL,\n\t\t.n_errors = 0,\n");
			sb_printf(o, "\t\t.payload_size = sizeof(%s_%s_payload),\n"
				     "\t\t.result_size = sizeof(%s_%s_result),\n", s, a->name, s, a->name);
			for (int pr = 0; pr < 2; pr++) {
				const char *kind = pr ? "result" : "payload";
				sb_printf(o, "\t\t.%s_decode_json = %s__%s_%s_decode_json,\n", kind, s, a->name, kind);
				sb_printf(o, "\t\t.%s_decode_fb = %s__%s_%s_decode_fb,\n", kind, s, a->name, kind);
				sb_printf(o, "\t\t.%s_encode_json = %s__%s_%s_encode_json,\n", kind, s, a->name, kind);
				sb_printf(o, "\t\t.%s_encode_fb = %s__%s_%s_encode_fb,\n", kind, s, a->name, kind);
			}
			sb_printf(o, "\t\t.handler = %s__%s_handler,\n", s, a->name);
			if (a->validate)
				sb_printf(o, "\t\t.validate = %s__%s_validate,\n", s, a->name);
			else
				sb_puts(o, "\t\t.validate = NULL,\n");
			sb_puts(o, "\t},\n");
		}
		sb_puts(o, "};\n\n");
	}
	if (ne) {
		sb_puts(o, "/* Every service's own error codes, sorted. */\nstatic const st_error_def errors[] = {\n");
		for (int i = 0; i < ne; i++) {
			sb_printf(o, "\t{ .code = \"%s\", .message = ", es[i]->code);
			c_string(o, es[i]->message, strlen(es[i]->message));
			sb_printf(o, ", .retryable = %s },\n", es[i]->retryable ? "true" : "false");
		}
		sb_puts(o, "};\n\n");
	}
	sb_puts(o, "const st_registry st_registry_main = {\n");
	sb_printf(o, "\t.actions = %s,\n\t.n_actions = %d,\n", na ? "actions" : "NULL", na);
	sb_printf(o, "\t.errors = %s,\n\t.n_errors = %d,\n", ne ? "errors" : "NULL", ne);
	sb_puts(o, "};\n");
	free(as);
	free(es);
}

/* --- Handler stubs ---------------------------------------------------------------- */

/* Is there an identifier `name` followed by '(' in `text`? */
static bool defines(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, name)); p += n) {
		if (p > text && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
				 (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9')))
			continue;
		const char *q = p + n;
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q == '(')
			return true;
	}
	return false;
}

void emit_stubs(file *f, const char *existing, sbuf *o)
{
	svc = f->service;
	if (!existing) {
		sb_printf(o, "/* handlers/%s.c: the handlers of service %s (%s).\n"
			     " * streamc wrote these stubs once; this file is yours: fill them in.\n"
			     " * New actions get their stubs appended by `make gen`. */\n"
			     "#include \"%s.h\"\n",
			  svc, svc, shown_path(f), svc);
		existing = "";
	}
	for (int i = 0; i < f->n_actions; i++) {
		action *a = f->actions[i];
		char *fn = xprintf("%s_%s", svc, a->name);
		if (!defines(existing, fn)) {
			sb_puts(o, "\n");
			if (a->doc) {
				sb_printf(o, "/* %s: ", a->name);
				comment_text(o, a->doc);
				sb_puts(o, " */\n");
			}
			sb_printf(o, "int %s(st_req *req, const %s_payload *p, %s_result *r)\n{\n"
				     "\t(void)p;\n\t(void)r;\n"
				     "\treturn st_fail(req, ST_E_NOT_IMPLEMENTED, NULL);\n}\n",
				  fn, fn, fn);
		}
		char *vn = xprintf("%s_validate", fn);
		if (a->validate && !defines(existing, vn)) {
			sb_printf(o, "\n/* Cross-field checks of %s; runs after the generated ones.\n"
				     " * Reject with: return st_invalid(req, \"payload.field\", \"why\"); */\n"
				     "int %s(st_req *req, const %s_payload *p)\n{\n"
				     "\t(void)req;\n\t(void)p;\n\treturn ST_OK;\n}\n",
				  a->name, vn, fn);
		}
		free(vn);
		free(fn);
	}
}
