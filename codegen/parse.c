/* parse.c: recursive-descent parser of idl.md's grammar. One diagnostic per
 * broken statement, then it skips to the statement's end and goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

typedef struct parser {
	file *f;
	arena *a;          /* f->arena */
	token *t;
	size_t i, n;
} parser;

static const char *const keywords[] = {
	"service", "import", "error", "retryable", "enum", "struct", "action",
	"duration", "timeout", "retries", "permission", "errors", "validate",
	"payload", "result", "list", "pattern", "true", "false", "bool", "int32",
	"int64", "float64", "string", "bytes", "date", "timestamp", "uuid",
};

bool is_keyword(const char *s)
{
	for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
		if (!strcmp(s, keywords[i]))
			return true;
	return false;
}

static token *peek(parser *p)
{
	return &p->t[p->i];
}

static token *peek2(parser *p)
{
	return p->i + 1 < p->n ? &p->t[p->i + 1] : &p->t[p->n - 1];
}

static token *next(parser *p)
{
	token *t = &p->t[p->i];
	if (t->kind != T_EOF)
		p->i++;
	return t;
}

static loc at(parser *p, const token *t)
{
	return (loc){ p->f->path, t->line, t->col };
}

static bool is_kw(const token *t, const char *kw)
{
	return t->kind == T_IDENT && !strcmp(t->str, kw);
}

static const char *kind_text(int k)
{
	switch (k) {
	case T_LBRACE: return "'{'";
	case T_RBRACE: return "'}'";
	case T_LPAREN: return "'('";
	case T_RPAREN: return "')'";
	case T_LT: return "'<'";
	case T_GT: return "'>'";
	case T_COMMA: return "','";
	case T_SEMI: return "';'";
	case T_COLON: return "':'";
	case T_QUEST: return "'?'";
	case T_EQ: return "'='";
	case T_DOTDOT: return "'..'";
	case T_STRING: return "a string";
	case T_INT: return "an integer";
	case T_FLOAT: return "a number";
	case T_DURATION: return "a duration";
	case T_IDENT: return "a name";
	}
	return "a token";
}

/* "'foo'" or "end of file", for "expected X, found Y". */
static const char *found(const token *t)
{
	static char buf[96];
	if (t->kind == T_EOF)
		return "end of file";
	if (t->kind == T_STRING)
		return "a string";
	size_t n = t->len > 40 ? 40 : t->len;
	snprintf(buf, sizeof buf, "'%.*s'", (int)n, t->text);
	return buf;
}

/* Reports "expected WHAT, found ..." unless the token is a lexical error
 * (already reported). */
static void expected(parser *p, const char *what)
{
	token *t = peek(p);
	if (t->kind != T_ERROR)
		diag(at(p, t), "expected %s, found %s", what, found(t));
}

static bool accept(parser *p, int kind)
{
	if (peek(p)->kind == kind) {
		next(p);
		return true;
	}
	return false;
}

static bool expect(parser *p, int kind, const char *ctx)
{
	if (accept(p, kind))
		return true;
	char what[128];
	snprintf(what, sizeof what, "%s%s%s", kind_text(kind), ctx ? " " : "",
		 ctx ? ctx : "");
	expected(p, what);
	return false;
}

/* Skips to the end of the statement: past a ';' or before a '}' at this
 * level (balanced braces in between are skipped). */
static void sync_stmt(parser *p)
{
	int depth = 0;
	for (;;) {
		token *t = peek(p);
		if (t->kind == T_EOF)
			return;
		if (t->kind == T_LBRACE)
			depth++;
		else if (t->kind == T_RBRACE) {
			if (depth == 0)
				return;
			depth--;
			if (depth == 0) {
				next(p);
				return;
			}
		} else if (t->kind == T_SEMI && depth == 0) {
			next(p);
			return;
		}
		next(p);
	}
}

static bool top_keyword(const token *t)
{
	return is_kw(t, "error") || is_kw(t, "enum") || is_kw(t, "struct") ||
	       is_kw(t, "action") || is_kw(t, "import") || is_kw(t, "service");
}

/* After a broken declaration: skip its statement and a closing '}'. */
static void sync_decl(parser *p)
{
	sync_stmt(p);
	accept(p, T_RBRACE);
}

/* Skips to the next top-level declaration. */
static void sync_top(parser *p)
{
	int depth = 0;
	for (;;) {
		token *t = peek(p);
		if (t->kind == T_EOF)
			return;
		if (depth == 0 && top_keyword(t))
			return;
		if (t->kind == T_LBRACE)
			depth++;
		else if (t->kind == T_RBRACE && depth > 0)
			depth--;
		next(p);
	}
}

/* A name of some kind ("field", "action"...). Keywords are reported but
 * accepted so that checking goes on. */
static char *parse_name(parser *p, const char *what, loc *where)
{
	token *t = peek(p);
	const char *art = strchr("aeiou", what[0]) ? "an" : "a";
	if (t->kind != T_IDENT) {
		char msg[64];
		snprintf(msg, sizeof msg, "%s %s name", art, what);
		expected(p, msg);
		return NULL;
	}
	next(p);
	*where = at(p, t);
	if (is_keyword(t->str))
		diag(*where, "'%s' is a keyword and cannot be used as %s %s name",
		     t->str, art, what);
	return t->str;
}

static bool parse_number(parser *p, number *n)
{
	token *t = peek(p);
	if (t->kind == T_INT) {
		next(p);
		n->is_float = false;
		n->i = t->ival;
		n->f = (double)t->ival;
		n->overflow = t->overflow;
		n->at = at(p, t);
		if (t->overflow)
			diag(n->at, "number '%.*s' is out of range", (int)t->len, t->text);
		return true;
	}
	if (t->kind == T_FLOAT) {
		next(p);
		n->is_float = true;
		n->f = t->fval;
		n->at = at(p, t);
		if (t->overflow)
			diag(n->at, "number '%.*s' is out of range", (int)t->len, t->text);
		return true;
	}
	return false;
}

static const struct {
	const char *name;
	int base;
} scalars[] = {
	{ "bool", B_BOOL }, { "int32", B_INT32 }, { "int64", B_INT64 },
	{ "float64", B_FLOAT64 }, { "string", B_STRING }, { "bytes", B_BYTES },
	{ "date", B_DATE }, { "timestamp", B_TIMESTAMP }, { "uuid", B_UUID },
};

static type *parse_type(parser *p, int depth)
{
	token *t = peek(p);
	if (t->kind != T_IDENT) {
		expected(p, "a type");
		return NULL;
	}
	if (depth > 32) {
		diag(at(p, t), "types nest too deeply");
		return NULL;
	}
	next(p);
	type *ty = arena_alloc(p->a, sizeof *ty);
	ty->at = at(p, t);
	ty->pattern_id = -1;
	ty->base = B_NAMED;
	for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
		if (!strcmp(t->str, scalars[i].name))
			ty->base = scalars[i].base;
	if (is_kw(t, "list")) {
		ty->base = B_LIST;
		if (!expect(p, T_LT, "after 'list'"))
			return NULL;
		ty->elem = parse_type(p, depth + 1);
		if (!ty->elem)
			return NULL;
		if (!expect(p, T_GT, "to close 'list<'"))
			return NULL;
	} else if (ty->base == B_NAMED) {
		if (is_keyword(t->str)) {
			diag(ty->at, "expected a type, found keyword '%s'", t->str);
			return NULL;
		}
		ty->name = t->str;
	}
	if (peek(p)->kind == T_LPAREN) {
		ty->range_at = at(p, peek(p));
		ty->has_range = true;
		next(p);
		ty->has_min = parse_number(p, &ty->min);
		if (!accept(p, T_DOTDOT)) {
			expected(p, ty->has_min ? "'..' in the range" :
				 "a number or '..' in the range");
			return NULL;
		}
		ty->has_max = parse_number(p, &ty->max);
		if (!accept(p, T_RPAREN)) {
			expected(p, ty->has_max ? "')' to close the range" :
				 "a number or ')' in the range");
			return NULL;
		}
	}
	if (is_kw(peek(p), "pattern")) {
		ty->pattern_kw = at(p, peek(p));
		next(p);
		token *s = peek(p);
		if (s->kind != T_STRING) {
			expected(p, "a string after 'pattern'");
			return NULL;
		}
		next(p);
		ty->pattern = s->str;
		ty->pattern_at = at(p, s);
	}
	return ty;
}

static literal *parse_literal(parser *p)
{
	token *t = peek(p);
	literal *l = arena_alloc(p->a, sizeof *l);
	l->at = at(p, t);
	switch (t->kind) {
	case T_INT:
		l->kind = L_INT;
		l->i = t->ival;
		l->f = (double)t->ival;
		l->overflow = t->overflow;
		break;
	case T_FLOAT:
		l->kind = L_FLOAT;
		l->f = t->fval;
		l->overflow = t->overflow;
		break;
	case T_STRING:
		l->kind = L_STRING;
		l->s = t->str;
		l->slen = t->slen;
		break;
	case T_IDENT:
		if (is_kw(t, "true") || is_kw(t, "false")) {
			l->kind = L_BOOL;
			l->b = is_kw(t, "true");
		} else {
			l->kind = L_NAME;
			l->s = t->str;
			l->slen = t->slen;
		}
		break;
	default:
		expected(p, "a default value");
		return NULL;
	}
	next(p);
	return l;
}

static field *parse_field(parser *p)
{
	field *fl = arena_alloc(p->a, sizeof *fl);
	fl->doc = peek(p)->doc;
	fl->name = parse_name(p, "field", &fl->at);
	if (!fl->name)
		return NULL;
	if (!expect(p, T_COLON, "after the field name"))
		return NULL;
	fl->t = parse_type(p, 0);
	if (!fl->t)
		return NULL;
	if (accept(p, T_QUEST))
		fl->optional = true;
	if (accept(p, T_EQ)) {
		fl->def = parse_literal(p);
		if (!fl->def)
			return NULL;
	}
	if (!expect(p, T_SEMI, "after the field")) {
		return NULL;
	}
	return fl;
}

/* '{' { field } '}' */
static void parse_record(parser *p, record *r)
{
	r->present = true;
	if (!expect(p, T_LBRACE, NULL)) {
		sync_stmt(p);
		return;
	}
	while (peek(p)->kind != T_RBRACE && peek(p)->kind != T_EOF) {
		size_t before = p->i;
		field *fl = parse_field(p);
		if (!fl) {
			sync_stmt(p);
			if (p->i == before)
				next(p);
			continue;
		}
		r->fields = arena_grow(p->a, r->fields, r->n, sizeof *r->fields);
		r->fields[r->n++] = fl;
	}
	expect(p, T_RBRACE, "to close the field list");
}

static void parse_error_decl(parser *p)
{
	token *kw = next(p);
	error_decl *e = arena_alloc(p->a, sizeof *e);
	e->doc = kw->doc;
	e->file = p->f;
	token *t = peek(p);
	if (t->kind != T_IDENT) {
		expected(p, "an error code");
		sync_stmt(p);
		return;
	}
	next(p);
	e->code = t->str;
	e->at = at(p, t);
	if (is_keyword(t->str))
		diag(e->at, "'%s' is a keyword and cannot be used as an error code",
		     t->str);
	if (is_kw(peek(p), "retryable")) {
		next(p);
		e->retryable = true;
	}
	t = peek(p);
	if (t->kind != T_STRING) {
		expected(p, "the error's message (a string)");
		sync_stmt(p);
		return;
	}
	next(p);
	e->message = t->str;
	if (t->slen == 0)
		diag(at(p, t), "the message of error '%s' is empty", e->code);
	if (!expect(p, T_SEMI, "after the error")) {
		sync_stmt(p);
	}
	file *f = p->f;
	f->errors = arena_grow(p->a, f->errors, f->n_errors, sizeof *f->errors);
	f->errors[f->n_errors++] = e;
}

static void parse_enum(parser *p)
{
	token *kw = next(p);
	enum_decl *e = arena_alloc(p->a, sizeof *e);
	e->doc = kw->doc;
	e->file = p->f;
	e->name = parse_name(p, "enum", &e->at);
	if (!e->name || !expect(p, T_LBRACE, "after the enum name")) {
		sync_decl(p);
		return;
	}
	for (;;) {
		if (peek(p)->kind == T_RBRACE && e->n > 0)
			break;
		loc vat;
		char *doc = peek(p)->doc;
		char *v = parse_name(p, "enum value", &vat);
		if (!v) {
			sync_decl(p);
			return;
		}
		e->values = arena_grow(p->a, e->values, e->n, sizeof *e->values);
		e->vat = arena_grow(p->a, e->vat, e->n, sizeof *e->vat);
		e->docs = arena_grow(p->a, e->docs, e->n, sizeof *e->docs);
		e->values[e->n] = v;
		e->vat[e->n] = vat;
		e->docs[e->n] = doc;
		e->n++;
		if (!accept(p, T_COMMA))
			break;
	}
	if (!expect(p, T_RBRACE, "or ',' in the enum")) {
		sync_decl(p);
		return;
	}
	file *f = p->f;
	f->enums = arena_grow(p->a, f->enums, f->n_enums, sizeof *f->enums);
	f->enums[f->n_enums++] = e;
}

static void parse_struct(parser *p)
{
	token *kw = next(p);
	struct_decl *s = arena_alloc(p->a, sizeof *s);
	s->doc = kw->doc;
	s->file = p->f;
	s->name = parse_name(p, "struct", &s->at);
	if (!s->name) {
		sync_stmt(p);
		return;
	}
	s->rec.at = s->at;
	parse_record(p, &s->rec);
	file *f = p->f;
	f->structs = arena_grow(p->a, f->structs, f->n_structs, sizeof *f->structs);
	f->structs[f->n_structs++] = s;
}

static const char *const options[] = {
	"duration", "timeout", "retries", "permission", "errors", "validate",
	"payload", "result",
};

static bool duplicate_option(parser *p, const token *t, bool seen, loc first)
{
	if (!seen)
		return false;
	diag(at(p, t), "duplicate '%s' in this action (first at line %d)",
	     t->str, first.line);
	return true;
}

static void parse_duration_opt(parser *p, int64_t *out, bool *has, loc *where)
{
	token *t = peek(p);
	if (t->kind == T_DURATION) {
		next(p);
		if (t->overflow || t->ival > UINT32_MAX)
			diag(at(p, t), "duration '%.*s' is too long (at most 49 days)",
			     (int)t->len, t->text);
		else if (t->ival == 0)
			diag(at(p, t), "a duration must be positive");
		*out = t->ival;
		*has = true;
		*where = at(p, t);
		if (!expect(p, T_SEMI, NULL))
			sync_stmt(p);
		return;
	}
	if (t->kind == T_INT)
		diag(at(p, t), "duration '%.*s' needs a unit: ms, s, m or h",
		     (int)t->len, t->text);
	else
		expected(p, "a duration (e.g. 250ms, 5s, 2m, 1h)");
	*has = true;
	*where = at(p, t);
	sync_stmt(p);
}

static void parse_action(parser *p)
{
	token *kw = next(p);
	action *a = arena_alloc(p->a, sizeof *a);
	a->doc = kw->doc;
	a->file = p->f;
	a->name = parse_name(p, "action", &a->at);
	if (!a->name || !expect(p, T_LBRACE, "after the action name")) {
		sync_decl(p);
		return;
	}
	while (peek(p)->kind != T_RBRACE && peek(p)->kind != T_EOF) {
		token *t = peek(p);
		loc tl = at(p, t);
		if (t->kind != T_IDENT) {
			expected(p, "an action option");
			size_t before = p->i;
			sync_stmt(p);
			if (p->i == before)
				next(p);
			continue;
		}
		next(p);
		if (!strcmp(t->str, "duration")) {
			bool dup = duplicate_option(p, t, a->has_duration, a->duration_at);
			int64_t v;
			bool h;
			loc w;
			parse_duration_opt(p, &v, &h, &w);
			if (!dup) {
				a->duration_ms = v;
				a->has_duration = h;
				a->duration_at = tl;
			}
		} else if (!strcmp(t->str, "timeout")) {
			bool dup = duplicate_option(p, t, a->has_timeout, a->timeout_at);
			int64_t v;
			bool h;
			loc w;
			parse_duration_opt(p, &v, &h, &w);
			if (!dup) {
				a->timeout_ms = v;
				a->has_timeout = h;
				a->timeout_at = tl;
			}
		} else if (!strcmp(t->str, "retries")) {
			bool dup = duplicate_option(p, t, a->has_retries, a->retries_at);
			token *v = peek(p);
			if (v->kind != T_INT) {
				expected(p, "a number of retries");
				sync_stmt(p);
				continue;
			}
			next(p);
			if (v->ival < 0 || v->overflow || v->ival > 1000)
				diag(at(p, v), "retries must be between 0 and 1000");
			if (!dup) {
				a->retries = v->ival;
				a->has_retries = true;
				a->retries_at = tl;
			}
			if (!expect(p, T_SEMI, NULL))
				sync_stmt(p);
		} else if (!strcmp(t->str, "permission")) {
			bool dup = duplicate_option(p, t, a->permission != NULL,
						    a->permission_at);
			token *v = peek(p);
			if (v->kind != T_STRING) {
				expected(p, "the permission (a string)");
				sync_stmt(p);
				continue;
			}
			next(p);
			if (v->slen == 0)
				diag(at(p, v), "the permission is empty");
			else if (strlen(v->str) != v->slen)
				diag(at(p, v), "the permission contains a NUL character");
			if (!dup) {
				a->permission = v->str;
				a->permission_at = tl;
			}
			if (!expect(p, T_SEMI, NULL))
				sync_stmt(p);
		} else if (!strcmp(t->str, "errors")) {
			bool dup = duplicate_option(p, t, a->errors_at.line != 0,
						    a->errors_at);
			if (!dup)
				a->errors_at = tl;
			for (;;) {
				token *c = peek(p);
				if (c->kind != T_IDENT) {
					expected(p, "an error code");
					break;
				}
				next(p);
				if (!dup) {
					a->errors = arena_grow(p->a, a->errors, a->n_errors, sizeof *a->errors);
					a->errors_loc = arena_grow(p->a, a->errors_loc, a->n_errors, sizeof *a->errors_loc);
					a->errors[a->n_errors] = c->str;
					a->errors_loc[a->n_errors++] = at(p, c);
				}
				if (!accept(p, T_COMMA))
					break;
			}
			if (!expect(p, T_SEMI, "after the error codes"))
				sync_stmt(p);
		} else if (!strcmp(t->str, "validate")) {
			duplicate_option(p, t, a->validate, a->validate_at);
			a->validate = true;
			a->validate_at = tl;
			if (!expect(p, T_SEMI, "after 'validate'"))
				sync_stmt(p);
		} else if (!strcmp(t->str, "payload") || !strcmp(t->str, "result")) {
			record *r = t->str[0] == 'p' ? &a->payload : &a->result;
			if (duplicate_option(p, t, r->present, r->at)) {
				record dummy = { 0 };
				parse_record(p, &dummy);
				continue;
			}
			r->at = tl;
			parse_record(p, r);
		} else {
			const char *best = NULL;
			size_t bd = 3;
			for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
				size_t d = edit_distance(t->str, options[i]);
				if (d < bd) {
					bd = d;
					best = options[i];
				}
			}
			if (best)
				diag(tl, "unknown action option '%s'; did you mean '%s'?",
				     t->str, best);
			else
				diag(tl, "unknown action option '%s'", t->str);
			sync_stmt(p);
		}
	}
	expect(p, T_RBRACE, "to close the action");
	file *f = p->f;
	f->actions = arena_grow(p->a, f->actions, f->n_actions, sizeof *f->actions);
	f->actions[f->n_actions++] = a;
}

static void parse_import(parser *p)
{
	next(p);
	token *t = peek(p);
	if (t->kind != T_STRING) {
		expected(p, "the imported file's path (a string)");
		sync_stmt(p);
		return;
	}
	next(p);
	file *f = p->f;
	f->imports = arena_grow(p->a, f->imports, f->n_imports, sizeof *f->imports);
	import *im = &f->imports[f->n_imports++];
	memset(im, 0, sizeof *im);
	im->path = t->str;
	im->at = at(p, t);
	if (!expect(p, T_SEMI, "after the import"))
		sync_stmt(p);
}

void parse_file(file *f)
{
	parser p = { 0 };
	p.f = f;
	p.a = f->arena;
	p.t = lex(f->arena, f->path, f->src, f->srclen, &p.n);
	token *t = peek(&p);
	if (is_kw(t, "service")) {
		f->doc = t->doc;
		next(&p);
		f->service = parse_name(&p, "service", &f->service_at);
		if (!f->service || !expect(&p, T_SEMI, "after the service name"))
			sync_top(&p);
	} else {
		if (t->kind != T_ERROR)
			diag(at(&p, t), "expected 'service <name>;' at the start of the file, found %s",
			     found(t));
		sync_top(&p);
	}
	bool decls = false;
	while (peek(&p)->kind != T_EOF) {
		t = peek(&p);
		if (is_kw(t, "import")) {
			if (decls)
				diag(at(&p, t), "imports must come before declarations");
			parse_import(&p);
		} else if (is_kw(t, "service")) {
			diag(at(&p, t), "only one service per file");
			next(&p);
			sync_stmt(&p);
		} else if (is_kw(t, "error")) {
			decls = true;
			parse_error_decl(&p);
		} else if (is_kw(t, "enum")) {
			decls = true;
			parse_enum(&p);
		} else if (is_kw(t, "struct")) {
			decls = true;
			parse_struct(&p);
		} else if (is_kw(t, "action")) {
			decls = true;
			parse_action(&p);
		} else {
			if (t->kind != T_ERROR)
				diag(at(&p, t), "expected a declaration (error, enum, struct or action), found %s",
				     found(t));
			next(&p);
			sync_top(&p);
		}
	}
	free(p.t);
	(void)peek2;
}
