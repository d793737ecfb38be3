/* check.c: every semantic rule of idl.md: names and their case, types,
 * ranges, patterns, defaults, required options, duplicates within and
 * across files, error codes. Resolves named types and fills in the derived
 * fields the emitters use. Diagnoses; never stops early. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

static const char *const builtin_errors[] = {
	"VALIDATION_ERROR", "INVALID_ACTION", "UNAUTHORIZED", "FORBIDDEN",
	"NOT_FOUND", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "TIMEOUT",
	"CANCELLED", "NOT_IMPLEMENTED", "INTERNAL_ERROR",
};
#define N_BUILTIN (sizeof builtin_errors / sizeof *builtin_errors)

static const char *const scalar_names[] = {
	"bool", "int32", "int64", "float64", "string", "bytes", "date",
	"timestamp", "uuid", "list",
};

static const char *const c_keywords[] = {
	"auto", "break", "case", "char", "const", "continue", "default", "do",
	"double", "else", "enum", "extern", "float", "for", "goto", "if",
	"inline", "int", "long", "register", "restrict", "return", "short",
	"signed", "sizeof", "static", "struct", "switch", "typedef", "union",
	"unsigned", "void", "volatile", "while", "bool", "true", "false",
	"errno", "assert", "offsetof", "alignas", "alignof", "noreturn",
	"static_assert", "thread_local", "complex", "imaginary", "NULL",
	"stdin", "stdout", "stderr", "EOF",
};

bool c_keyword(const char *s)
{
	for (size_t i = 0; i < sizeof c_keywords / sizeof *c_keywords; i++)
		if (!strcmp(s, c_keywords[i]))
			return true;
	return false;
}

char *camel(const char *s)
{
	sbuf b = { 0 };
	bool up = true;
	for (; *s; s++) {
		if (*s == '_') {
			up = true;
			continue;
		}
		char c = *s;
		if (up && c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		up = false;
		sb_add(&b, &c, 1);
	}
	if (!b.s)
		sb_add(&b, "", 0);
	return b.s;
}

char *upper(const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	return u;
}

/* --- Naming rules ---------------------------------------------------------- */

static bool is_lower_snake(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '_') {
			if (p[1] == '_' || p[1] == '\0')
				return false;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	}
	return true;
}

static bool is_upper_camel(const char *s)
{
	if (!(*s >= 'A' && *s <= 'Z'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static bool is_upper_snake(const char *s)
{
	if (!(*s >= 'A' && *s <= 'Z'))
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '_') {
			if (p[1] == '_' || p[1] == '\0')
				return false;
		} else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	}
	return true;
}

/* "fooBar" / "FooBar" / "foo__bar_" -> "foo_bar" */
static char *to_snake(const char *s)
{
	sbuf b = { 0 };
	sb_add(&b, "", 0);
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z') {
			if (p > s && b.len && b.s[b.len - 1] != '_' &&
			    ((p[-1] >= 'a' && p[-1] <= 'z') ||
			     (p[-1] >= '0' && p[-1] <= '9') ||
			     (p[1] >= 'a' && p[1] <= 'z')))
				sb_add(&b, "_", 1);
			c = (char)(c + 32);
		}
		if (c == '_' && (!b.len || b.s[b.len - 1] == '_'))
			continue;
		sb_add(&b, &c, 1);
	}
	while (b.len && b.s[b.len - 1] == '_')
		b.s[--b.len] = '\0';
	return b.s;
}

static void name_rule(const char *name, loc at, const char *what, int rule)
{
	if (!name || is_keyword(name)) /* reported by the parser */
		return;
	char *sn = to_snake(name);
	if (rule == 0 && !is_lower_snake(name)) {
		if (*sn && is_lower_snake(sn))
			diag(at, "%s name '%s' must be lower_snake, e.g. '%s'", what, name, sn);
		else
			diag(at, "%s name '%s' must be lower_snake", what, name);
	} else if (rule == 1 && !is_upper_camel(name)) {
		char *c = camel(sn);
		if (*c && is_upper_camel(c))
			diag(at, "%s name '%s' must be UpperCamel, e.g. '%s'", what, name, c);
		else
			diag(at, "%s name '%s' must be UpperCamel", what, name);
		free(c);
	} else if (rule == 2 && !is_upper_snake(name)) {
		char *u = upper(sn);
		if (*u && is_upper_snake(u))
			diag(at, "%s '%s' must be UPPER_SNAKE, e.g. '%s'", what, name, u);
		else
			diag(at, "%s '%s' must be UPPER_SNAKE", what, name);
		free(u);
	}
	free(sn);
}

static void loc_text(loc l, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%d:%d", l.file, l.line, l.col);
}

/* The closest of `cands` to `name`, or NULL when none is near. */
static const char *nearest(const char *name, const char *const *cands, int n)
{
	size_t len = strlen(name);
	size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
	const char *best = NULL;
	size_t bd = limit + 1;
	for (int i = 0; i < n; i++) {
		if (!cands[i])
			continue;
		size_t d = edit_distance(name, cands[i]);
		/* 'int' for 'int32': a prefix of three or more is near */
		size_t lc = strlen(cands[i]);
		if (d > 1 && len >= 3 && lc > len && !strncmp(name, cands[i], len))
			d = 1;
		if (d < bd) {
			bd = d;
			best = cands[i];
		}
	}
	return best;
}

/* --- Scalars of default values ---------------------------------------------- */

int utf8_count(const char *s, size_t len, size_t *ncp)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	size_t n = 0;
	while (p < e) {
		unsigned c = *p;
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			p++;
			n++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
		} else
			return -1;
		if ((size_t)(e - p) <= k)
			return -1;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp < 0xE000))
			return -1;
		p += k + 1;
		n++;
	}
	*ncp = n;
	return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int month_days(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return md[m - 1];
}

int parse_date(const char *s, size_t len, int64_t *days)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return -1;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
int parse_time(const char *s, size_t len, int64_t *ms)
{
	int64_t days;
	if (len < 20 || parse_date(s, 10, &days) || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return -1;
	int hh = digits(s + 11, 2), mi = digits(s + 14, 2), ss = digits(s + 17, 2);
	if (s[13] != ':' || s[16] != ':' || hh < 0 || hh > 23 || mi < 0 ||
	    mi > 59 || ss < 0 || ss > 60)
		return -1;
	size_t i = 19;
	int frac = 0, nf = 0;
	if (i < len && s[i] == '.') {
		i++;
		size_t st = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nf < 3) {
				frac = frac * 10 + (s[i] - '0');
				nf++;
			}
			i++;
		}
		if (i == st)
			return -1;
		while (nf < 3) {
			frac *= 10;
			nf++;
		}
	}
	int off = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		i++;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else
		return -1;
	if (i != len)
		return -1;
	if (ss == 60)
		ss = 59;
	*ms = ((days * 86400 + hh * 3600 + mi * 60 + ss) - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

int parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	if (len != 36)
		return -1;
	int k = 0;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		if (k % 2 == 0)
			out[k / 2] = (uint8_t)(v << 4);
		else
			out[k / 2] |= (uint8_t)v;
		k++;
	}
	return 0;
}

/* --- Types ------------------------------------------------------------------ */

static const char *base_name(int b)
{
	static const char *const names[] = {
		"bool", "int32", "int64", "float64", "string", "bytes", "date",
		"timestamp", "uuid", "list", "type", "enum", "struct",
	};
	return names[b];
}

void type_name(const type *t, sbuf *out)
{
	if (t->base == B_LIST) {
		sb_puts(out, "list<");
		type_name(t->elem, out);
		sb_puts(out, ">");
	} else if (t->name)
		sb_puts(out, t->name);
	else
		sb_puts(out, base_name(t->base));
}

typedef struct scope {
	file *f;
} scope;

/* Enums and structs visible in `f`: its own, then its direct imports'. */
static void *find_type(file *f, const char *name, int *is_struct, loc *where)
{
	for (int pass = 0; pass <= f->n_imports; pass++) {
		file *g = pass == 0 ? f : f->imports[pass - 1].target;
		if (!g)
			continue;
		for (int i = 0; i < g->n_enums; i++)
			if (g->enums[i]->name && !strcmp(g->enums[i]->name, name)) {
				*is_struct = 0;
				*where = g->enums[i]->at;
				return g->enums[i];
			}
		for (int i = 0; i < g->n_structs; i++)
			if (g->structs[i]->name && !strcmp(g->structs[i]->name, name)) {
				*is_struct = 1;
				*where = g->structs[i]->at;
				return g->structs[i];
			}
	}
	return NULL;
}

static void unknown_type(file *f, type *t)
{
	const char **cands = NULL;
	int n = 0;
	for (size_t i = 0; i < sizeof scalar_names / sizeof *scalar_names; i++) {
		cands = xrealloc(cands, (size_t)(n + 1) * sizeof *cands);
		cands[n++] = scalar_names[i];
	}
	for (int pass = 0; pass <= f->n_imports; pass++) {
		file *g = pass == 0 ? f : f->imports[pass - 1].target;
		if (!g)
			continue;
		for (int i = 0; i < g->n_enums; i++) {
			cands = xrealloc(cands, (size_t)(n + 1) * sizeof *cands);
			cands[n++] = g->enums[i]->name;
		}
		for (int i = 0; i < g->n_structs; i++) {
			cands = xrealloc(cands, (size_t)(n + 1) * sizeof *cands);
			cands[n++] = g->structs[i]->name;
		}
	}
	const char *best = nearest(t->name, cands, n);
	if (best)
		diag(t->at, "unknown type '%s'; did you mean '%s'?", t->name, best);
	else
		diag(t->at, "unknown type '%s'", t->name);
	free(cands);
}

static void resolve_type(file *f, type *t)
{
	if (t->base == B_LIST) {
		resolve_type(f, t->elem);
		return;
	}
	if (t->base != B_NAMED)
		return;
	int is_struct;
	loc where;
	void *d = find_type(f, t->name, &is_struct, &where);
	if (!d) {
		unknown_type(f, t);
		return;
	}
	if (is_struct) {
		t->base = B_STRUCT;
		t->st = d;
	} else {
		t->base = B_ENUM;
		t->en = d;
	}
}

static bool range_allowed(int b)
{
	return b == B_STRING || b == B_BYTES || b == B_LIST || b == B_INT32 ||
	       b == B_INT64 || b == B_FLOAT64;
}

static bool int_fits(int b, int64_t v)
{
	if (b == B_INT32)
		return v >= INT32_MIN && v <= INT32_MAX;
	if (b == B_STRING || b == B_BYTES || b == B_LIST)
		return v >= 0 && v <= UINT32_MAX;
	return true;
}

static void check_bound(const type *t, const number *n, bool *ok)
{
	sbuf tn = { 0 };
	type_name(t, &tn);
	bool length = t->base == B_STRING || t->base == B_BYTES || t->base == B_LIST;
	if (n->overflow) {
		*ok = false;
	} else if (n->is_float && t->base != B_FLOAT64) {
		diag(n->at, "%s bound must be an integer", length ? "a length" : "an int range");
		*ok = false;
	} else if (!n->is_float && !int_fits(t->base, n->i)) {
		if (length && n->i < 0)
			diag(n->at, "a length bound cannot be negative");
		else
			diag(n->at, "range bound %lld is out of range for %s",
			     (long long)n->i, tn.s);
		*ok = false;
	}
	sb_free(&tn);
}

static void check_type(file *f, type *t, field *fl)
{
	if (t->base == B_LIST)
		check_type(f, t->elem, NULL);
	sbuf tn = { 0 };
	type_name(t, &tn);
	if (t->has_range) {
		if (t->base == B_NAMED) {
			/* unknown type: already reported */
		} else if (!range_allowed(t->base)) {
			diag(t->range_at, "a range is not allowed on %s '%s'; only on string, bytes, list, int32, int64 and float64",
			     t->base == B_ENUM ? "enum" : t->base == B_STRUCT ? "struct" : "type",
			     tn.s);
		} else {
			bool ok = true;
			if (t->has_min)
				check_bound(t, &t->min, &ok);
			if (t->has_max)
				check_bound(t, &t->max, &ok);
			if (ok && t->has_min && t->has_max) {
				bool gt = t->base == B_FLOAT64 ? t->min.f > t->max.f
							      : t->min.i > t->max.i;
				if (gt) {
					char a[64], b[64];
					if (t->min.is_float || t->max.is_float) {
						snprintf(a, sizeof a, "%g", t->min.f);
						snprintf(b, sizeof b, "%g", t->max.f);
					} else {
						snprintf(a, sizeof a, "%lld", (long long)t->min.i);
						snprintf(b, sizeof b, "%lld", (long long)t->max.i);
					}
					diag(t->min.at, "range minimum %s is greater than maximum %s", a, b);
				}
			}
		}
	}
	if (t->pattern) {
		if (t->base != B_STRING && t->base != B_NAMED) {
			diag(t->pattern_kw, "a pattern is only allowed on string, not on '%s'", tn.s);
		} else if (t->base == B_STRING) {
			char err[256];
			t->re = pattern_parse(f->arena, t->pattern, strlen(t->pattern), err,
					      sizeof err);
			if (strlen(t->pattern) != 0 && memchr(t->pattern, 0, 1))
				t->re = NULL;
			if (!t->re)
				diag(t->pattern_at, "invalid pattern: %s", err);
			else {
				t->pattern_id = f->n_patterns;
				f->patterns = arena_grow(f->arena, f->patterns, f->n_patterns,
							 sizeof *f->patterns);
				f->patterns[f->n_patterns++] = t;
			}
		}
	}
	(void)fl;
	sb_free(&tn);
}

/* Does the default literal fit the field's type, range, pattern, enum? */
static void check_default(field *fl)
{
	literal *l = fl->def;
	type *t = fl->t;
	sbuf tn = { 0 };
	type_name(t, &tn);
	if (fl->optional)
		diag(l->at, "field '%s' has a default and is thus optional already; remove the '?'",
		     fl->name);
	switch (t->base) {
	case B_NAMED:
		break;
	case B_LIST:
	case B_STRUCT:
	case B_BYTES:
		diag(l->at, "a default is not allowed on a field of type '%s'", tn.s);
		break;
	case B_BOOL:
		if (l->kind != L_BOOL)
			diag(l->at, "the default of '%s' must be true or false", fl->name);
		else
			fl->def_i = l->b;
		break;
	case B_INT32:
	case B_INT64:
		if (l->kind != L_INT) {
			diag(l->at, "the default of '%s' must be an integer (%s)", fl->name, tn.s);
			break;
		}
		if (l->overflow || (t->base == B_INT32 && (l->i < INT32_MIN || l->i > INT32_MAX))) {
			diag(l->at, "the default of '%s' is out of range for %s", fl->name, tn.s);
			break;
		}
		fl->def_i = l->i;
		if (t->has_min && !t->min.is_float && l->i < t->min.i)
			diag(l->at, "the default %lld is below the minimum %lld", (long long)l->i, (long long)t->min.i);
		else if (t->has_max && !t->max.is_float && l->i > t->max.i)
			diag(l->at, "the default %lld is above the maximum %lld", (long long)l->i, (long long)t->max.i);
		break;
	case B_FLOAT64: {
		if (l->kind != L_INT && l->kind != L_FLOAT) {
			diag(l->at, "the default of '%s' must be a number", fl->name);
			break;
		}
		double v = l->kind == L_INT ? (double)l->i : l->f;
		if (l->overflow || !isfinite(v)) {
			diag(l->at, "the default of '%s' is out of range", fl->name);
			break;
		}
		fl->def_f = v;
		if (t->has_min && v < t->min.f)
			diag(l->at, "the default %g is below the minimum %g", v, t->min.f);
		else if (t->has_max && v > t->max.f)
			diag(l->at, "the default %g is above the maximum %g", v, t->max.f);
		break;
	}
	case B_STRING: {
		if (l->kind != L_STRING) {
			diag(l->at, "the default of '%s' must be a string", fl->name);
			break;
		}
		size_t n = 0;
		utf8_count(l->s, l->slen, &n);
		if (t->has_min && !t->min.is_float && (int64_t)n < t->min.i)
			diag(l->at, "the default is shorter than the minimum length %lld", (long long)t->min.i);
		else if (t->has_max && !t->max.is_float && (int64_t)n > t->max.i)
			diag(l->at, "the default is longer than the maximum length %lld", (long long)t->max.i);
		else if (t->re && !pattern_match(t->re, l->s, l->slen))
			diag(l->at, "the default does not match the pattern \"%s\"", t->pattern);
		break;
	}
	case B_DATE:
		if (l->kind != L_STRING || parse_date(l->s, l->slen, &fl->def_i))
			diag(l->at, "the default of '%s' must be a date string \"YYYY-MM-DD\"", fl->name);
		break;
	case B_TIMESTAMP:
		if (l->kind != L_STRING || parse_time(l->s, l->slen, &fl->def_i))
			diag(l->at, "the default of '%s' must be an RFC 3339 timestamp string", fl->name);
		break;
	case B_UUID: {
		uint8_t u[16];
		if (l->kind != L_STRING || parse_uuid(l->s, l->slen, u))
			diag(l->at, "the default of '%s' must be a uuid string (8-4-4-4-12 hex)", fl->name);
		break;
	}
	case B_ENUM: {
		enum_decl *en = t->en;
		if (l->kind != L_NAME) {
			diag(l->at, "the default of '%s' must be a value of enum '%s', written without quotes",
			     fl->name, en->name);
			break;
		}
		for (int i = 0; i < en->n; i++)
			if (!strcmp(en->values[i], l->s)) {
				fl->def_i = i;
				goto done;
			}
		const char *best = nearest(l->s, (const char *const *)en->values, en->n);
		if (best)
			diag(l->at, "'%s' is not a value of enum '%s'; did you mean '%s'?", l->s, en->name, best);
		else
			diag(l->at, "'%s' is not a value of enum '%s'", l->s, en->name);
		break;
	}
	}
done:
	sb_free(&tn);
}

static void check_record(file *f, record *r, const char *what)
{
	for (int i = 0; i < r->n; i++) {
		field *fl = r->fields[i];
		name_rule(fl->name, fl->at, "field", 0);
		fl->cname = c_keyword(fl->name) ? arena_printf(f->arena, "%s_", fl->name)
					   : fl->name;
		fl->slot = i;
		for (int k = 0; k < i; k++) {
			if (!strcmp(r->fields[k]->name, fl->name)) {
				char w[512];
				loc_text(r->fields[k]->at, w, sizeof w);
				diag(fl->at, "field '%s' is already declared in this %s at %s",
				     fl->name, what, w);
				break;
			}
		}
		resolve_type(f, fl->t);
		check_type(f, fl->t, fl);
		if (fl->def)
			check_default(fl);
	}
	/* has_<x> presence flags must not clash with real fields */
	for (int i = 0; i < r->n; i++) {
		field *fl = r->fields[i];
		if (!fl->optional || fl->def)
			continue;
		for (int k = 0; k < r->n; k++) {
			if (!strncmp(r->fields[k]->name, "has_", 4) &&
			    !strcmp(r->fields[k]->name + 4, fl->name))
				diag(r->fields[k]->at, "field '%s' clashes with the presence flag of optional field '%s'",
				     r->fields[k]->name, fl->name);
		}
	}
	if (r->n > 60) {
		diag(r->at, "too many fields (%d); at most 60", r->n);
	}
}

/* A struct may not contain itself by value (lists are fine). */
static bool contains(struct_decl *s, struct_decl *target, int depth)
{
	if (depth > 64)
		return false;
	for (int i = 0; i < s->rec.n; i++) {
		type *t = s->rec.fields[i]->t;
		if (t->base == B_STRUCT) {
			if (t->st == target)
				return true;
			if (t->st->visiting)
				continue;
			t->st->visiting = 1;
			bool r = contains(t->st, target, depth + 1);
			t->st->visiting = 0;
			if (r)
				return true;
		}
	}
	return false;
}

static bool is_builtin(const char *code)
{
	for (size_t i = 0; i < N_BUILTIN; i++)
		if (!strcmp(code, builtin_errors[i]))
			return true;
	return false;
}

static error_decl *find_error(file *f, const char *code)
{
	for (int pass = 0; pass <= f->n_imports; pass++) {
		file *g = pass == 0 ? f : f->imports[pass - 1].target;
		if (!g)
			continue;
		for (int i = 0; i < g->n_errors; i++)
			if (!strcmp(g->errors[i]->code, code))
				return g->errors[i];
	}
	return NULL;
}

static void check_action(file *f, action *a)
{
	name_rule(a->name, a->at, "action", 0);
	if (!a->has_duration)
		diag(a->at, "action '%s' has no duration (e.g. 'duration 10ms;')", a->name);
	if (!a->payload.present)
		diag(a->at, "action '%s' has no payload (write 'payload {}' when it takes nothing)", a->name);
	if (!a->result.present)
		diag(a->at, "action '%s' has no result (write 'result {}' when it returns nothing)", a->name);
	check_record(f, &a->payload, "payload");
	check_record(f, &a->result, "result");
	for (int i = 0; i < a->n_errors; i++) {
		const char *c = a->errors[i];
		for (int k = 0; k < i; k++)
			if (!strcmp(a->errors[k], c)) {
				diag(a->errors_loc[i], "error code '%s' is listed twice", c);
				goto next;
			}
		if (is_builtin(c) || find_error(f, c))
			continue;
		const char **cands = NULL;
		int n = 0;
		for (size_t k = 0; k < N_BUILTIN; k++) {
			cands = xrealloc(cands, (size_t)(n + 1) * sizeof *cands);
			cands[n++] = builtin_errors[k];
		}
		for (int pass = 0; pass <= f->n_imports; pass++) {
			file *g = pass == 0 ? f : f->imports[pass - 1].target;
			if (!g)
				continue;
			for (int k = 0; k < g->n_errors; k++) {
				cands = xrealloc(cands, (size_t)(n + 1) * sizeof *cands);
				cands[n++] = g->errors[k]->code;
			}
		}
		const char *best = nearest(c, cands, n);
		if (best)
			diag(a->errors_loc[i], "unknown error code '%s'; did you mean '%s'?", c, best);
		else
			diag(a->errors_loc[i], "unknown error code '%s'; declare it with 'error %s \"message\";'", c, c);
		free(cands);
next:;
	}
}

void check_files(file **files, int nf)
{
	char w[512];
	/* services: names and one output per service */
	for (int i = 0; i < nf; i++) {
		file *f = files[i];
		if (!f->service)
			continue;
		name_rule(f->service, f->service_at, "service", 0);
		if (!strcmp(f->service, "streamer") || !strcmp(f->service, "registry"))
			diag(f->service_at, "service name '%s' is reserved (it names a generated file)", f->service);
		for (int k = 0; k < i; k++)
			if (files[k]->service && !strcmp(files[k]->service, f->service)) {
				loc_text(files[k]->service_at, w, sizeof w);
				diag(f->service_at, "service '%s' is already declared at %s", f->service, w);
				break;
			}
	}
	/* declarations: names, duplicates */
	for (int i = 0; i < nf; i++) {
		file *f = files[i];
		for (int k = 0; k < f->n_enums; k++) {
			enum_decl *e = f->enums[k];
			name_rule(e->name, e->at, "enum", 1);
			if (e->n > 256)
				diag(e->at, "enum '%s' has %d values; at most 256", e->name, e->n);
			for (int v = 0; v < e->n; v++) {
				name_rule(e->values[v], e->vat[v], "enum value", 0);
				for (int u = 0; u < v; u++)
					if (!strcmp(e->values[u], e->values[v])) {
						loc_text(e->vat[u], w, sizeof w);
						diag(e->vat[v], "enum value '%s' is already declared at %s", e->values[v], w);
						break;
					}
			}
		}
		for (int k = 0; k < f->n_structs; k++)
			name_rule(f->structs[k]->name, f->structs[k]->at, "struct", 1);
		/* types: unique among this file and its imports */
		int nt = f->n_enums + f->n_structs;
		for (int k = 0; k < nt; k++) {
			const char *name = k < f->n_enums ? f->enums[k]->name
							  : f->structs[k - f->n_enums]->name;
			loc at = k < f->n_enums ? f->enums[k]->at
						: f->structs[k - f->n_enums]->at;
			bool dup = false;
			for (int u = 0; u < k && !dup; u++) {
				const char *n2 = u < f->n_enums ? f->enums[u]->name
								: f->structs[u - f->n_enums]->name;
				loc at2 = u < f->n_enums ? f->enums[u]->at
							 : f->structs[u - f->n_enums]->at;
				if (!strcmp(n2, name)) {
					loc_text(at2, w, sizeof w);
					diag(at, "type '%s' is already declared at %s", name, w);
					dup = true;
				}
			}
			for (int m = 0; m < f->n_imports && !dup; m++) {
				file *g = f->imports[m].target;
				if (!g)
					continue;
				int is_struct;
				loc at2;
				file tmp = { 0 };
				tmp.enums = g->enums;
				tmp.n_enums = g->n_enums;
				tmp.structs = g->structs;
				tmp.n_structs = g->n_structs;
				if (find_type(&tmp, name, &is_struct, &at2)) {
					loc_text(at2, w, sizeof w);
					diag(at, "type '%s' is already declared at %s", name, w);
					dup = true;
				}
			}
			/* FlatBuffers table names of actions and list wrappers */
			for (int m = 0; m < f->n_actions && !dup; m++) {
				char *c = camel(f->actions[m]->name);
				char *pn = xprintf("%sPayload", c), *rn = xprintf("%sResult", c);
				if (!strcmp(pn, name) || !strcmp(rn, name)) {
					diag(at, "type '%s' clashes with the FlatBuffers table of action '%s'",
					     name, f->actions[m]->name);
					dup = true;
				}
				free(c);
				free(pn);
				free(rn);
			}
		}
		/* error codes */
		for (int k = 0; k < f->n_errors; k++) {
			error_decl *e = f->errors[k];
			name_rule(e->code, e->at, "error code", 2);
			if (is_builtin(e->code)) {
				diag(e->at, "'%s' is a built-in error code", e->code);
				continue;
			}
			bool dup = false;
			for (int g = 0; g <= i && !dup; g++) {
				int lim = g == i ? k : files[g]->n_errors;
				for (int u = 0; u < lim; u++)
					if (!strcmp(files[g]->errors[u]->code, e->code)) {
						loc_text(files[g]->errors[u]->at, w, sizeof w);
						diag(e->at, "error '%s' is already declared at %s", e->code, w);
						dup = true;
						break;
					}
			}
		}
		/* actions: unique across all files; table names distinct */
		for (int k = 0; k < f->n_actions; k++) {
			action *a = f->actions[k];
			bool dup = false;
			for (int g = 0; g <= i && !dup; g++) {
				int lim = g == i ? k : files[g]->n_actions;
				for (int u = 0; u < lim; u++) {
					action *b = files[g]->actions[u];
					if (!strcmp(b->name, a->name)) {
						loc_text(b->at, w, sizeof w);
						diag(a->at, "action '%s' is already declared at %s", a->name, w);
						dup = true;
						break;
					}
					if (g == i) {
						char *c1 = camel(a->name), *c2 = camel(b->name);
						if (!strcmp(c1, c2)) {
							loc_text(b->at, w, sizeof w);
							diag(a->at, "action '%s' gets the same FlatBuffers table names (%sPayload) as '%s' at %s",
							     a->name, c1, b->name, w);
							dup = true;
						}
						free(c1);
						free(c2);
						if (dup)
							break;
					}
				}
			}
		}
	}
	/* fields, types, defaults, options */
	for (int i = 0; i < nf; i++) {
		file *f = files[i];
		for (int k = 0; k < f->n_structs; k++)
			check_record(f, &f->structs[k]->rec, "struct");
		for (int k = 0; k < f->n_actions; k++)
			check_action(f, f->actions[k]);
	}
	for (int i = 0; i < nf; i++) {
		file *f = files[i];
		for (int k = 0; k < f->n_structs; k++) {
			struct_decl *s = f->structs[k];
			s->visiting = 1;
			if (contains(s, s, 0))
				diag(s->at, "struct '%s' contains itself; use a list or break the cycle", s->name);
			s->visiting = 0;
		}
	}
}
