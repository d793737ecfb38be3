/* json.re: the JSON pull scanner (re2c): tokens, strings, structure and the
 * value readers generated decoders call. No DOM: values are checked and
 * converted as they are read. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecint.h"

/* Bounds: the input need not be NUL-terminated, so the lexers use re2c's
 * custom API with a bounds-checked YYPEEK that returns the sentinel 0 at
 * `end`. On a 0, re2c asks YYLESSTHAN whether it is the real end; a NUL
 * byte inside the input is then an ordinary (invalid) character. The
 * cursor therefore never moves past `end` and no byte past it is read. */

enum {
	TK_ERR, TK_EOF, TK_LBRACE, TK_RBRACE, TK_LBRACK, TK_RBRACK, TK_COLON,
	TK_COMMA, TK_TRUE, TK_FALSE, TK_NULL,
	TK_INT,  /* a number without fraction or exponent */
	TK_NUM,  /* any other number */
	TK_STR,  /* the opening quote: the scanner is at the content */
};

typedef struct tok {
	int kind;
	const char *p;  /* first byte of the token */
	size_t n;       /* its length (1 for TK_STR: the quote) */
} tok;

/*!re2c
	re2c:api = custom;
	re2c:api:style = free-form;
	re2c:define:YYCTYPE = "unsigned char";
	re2c:define:YYPEEK = "(cur < end ? (unsigned char)*cur : 0)";
	re2c:define:YYSKIP = "cur++;";
	re2c:define:YYBACKUP = "mar = cur;";
	re2c:define:YYRESTORE = "cur = mar;";
	re2c:define:YYLESSTHAN = "cur >= end";
	re2c:yyfill:enable = 0;
	re2c:eof = 0;

	WS     = [ \t\n\r]+;
	INT    = "-"? ("0" | [1-9] [0-9]*);
	FRAC   = "." [0-9]+;
	EXP    = [eE] [+-]? [0-9]+;
	HEX    = [0-9a-fA-F];
	BMP    = [0-9a-cA-CefEF] HEX{3} | [dD] [0-7] HEX{2};
	HI     = [dD] [89abAB] HEX{2};
	LO     = [dD] [c-fC-F] HEX{2};
	PLAIN  = [^"\\\x00-\x1f\x80-\xff]+;
	CONT   = [\x80-\xbf];
	U2     = [\xc2-\xdf] CONT;
	U3     = "\xe0" [\xa0-\xbf] CONT | [\xe1-\xec\xee\xef] CONT{2}
	       | "\xed" [\x80-\x9f] CONT;
	U4     = "\xf0" [\x90-\xbf] CONT{2} | [\xf1-\xf3] CONT{3}
	       | "\xf4" [\x80-\x8f] CONT{2};
*/

/* One token after optional whitespace; never consumes what follows it. */
static int lex(st_json *j, tok *t)
{
	const char *cur = j->cur, *end = j->end, *mar;
	(void)mar;
	for (;;) {
		t->p = cur;
	/*!re2c
		WS               { continue; }
		"{"              { t->kind = TK_LBRACE; break; }
		"}"              { t->kind = TK_RBRACE; break; }
		"["              { t->kind = TK_LBRACK; break; }
		"]"              { t->kind = TK_RBRACK; break; }
		":"              { t->kind = TK_COLON;  break; }
		","              { t->kind = TK_COMMA;  break; }
		"true"           { t->kind = TK_TRUE;   break; }
		"false"          { t->kind = TK_FALSE;  break; }
		"null"           { t->kind = TK_NULL;   break; }
		INT              { t->kind = TK_INT;    break; }
		INT FRAC? EXP?   { t->kind = TK_NUM;    break; }
		["]              { t->kind = TK_STR;    break; }
		$                { t->kind = TK_EOF;    break; }
		*                { t->kind = TK_ERR;    break; }
	*/
	}
	t->n = (size_t)(cur - t->p);
	j->cur = cur;
	return t->kind;
}

/* What lex_str learned about a string it checked. */
typedef struct strscan {
	const char *p;  /* raw content, between the quotes */
	size_t n;
	size_t ncp;     /* code points once unescaped */
	bool esc;       /* has escapes: must be unescaped before use */
} strscan;

static int syntax_error(st_json *j, const char *at, const char *what,
			st_verr *e)
{
	return st_verr_set(e, "invalid JSON at byte %zu: %s",
			   (size_t)(at - j->base), what);
}

/* The bytes PLAIN matches: printable ASCII other than '"' and '\\'. */
#define PLAIN16(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
#define PLAIN_ROW(r) PLAIN16(r), PLAIN16(r + 1), PLAIN16(r + 2), PLAIN16(r + 3), \
	PLAIN16(r + 4), PLAIN16(r + 5), PLAIN16(r + 6), PLAIN16(r + 7)
static const bool plain_byte[256] = {
	PLAIN_ROW(0x00), PLAIN_ROW(0x08), PLAIN_ROW(0x10), PLAIN_ROW(0x18),
	PLAIN_ROW(0x20), PLAIN_ROW(0x28), PLAIN_ROW(0x30), PLAIN_ROW(0x38),
	PLAIN_ROW(0x40), PLAIN_ROW(0x48), PLAIN_ROW(0x50), PLAIN_ROW(0x58),
	PLAIN_ROW(0x60), PLAIN_ROW(0x68), PLAIN_ROW(0x70), PLAIN_ROW(0x78),
	/* 0x80..0xff: not plain (zero) */
};

/* Checks a string's content up to and including the closing quote, with
 * the scanner just past the opening one. */
static int lex_str(st_json *j, strscan *s, st_verr *e)
{
	const char *cur = j->cur, *end = j->end, *mar, *p;
	(void)mar;
	s->p = cur;
	s->ncp = 0;
	s->esc = false;
	for (;;) {
		/* Most content is plain ASCII: a table lookup a byte skips it
		 * (exactly what PLAIN matches) more cheaply than the scanner's
		 * bounds-checked byte dispatch. */
		p = cur;
		while (cur < end && plain_byte[(unsigned char)*cur])
			cur++;
		s->ncp += (size_t)(cur - p);
		p = cur;
	/*!re2c
		["]              { break; }
		PLAIN            { s->ncp += (size_t)(cur - p); continue; }
		U2 | U3 | U4     { s->ncp++; continue; }
		"\\" ["\\/bfnrt] { s->ncp++; s->esc = true; continue; }
		"\\u" BMP        { s->ncp++; s->esc = true; continue; }
		"\\u" HI "\\u" LO { s->ncp++; s->esc = true; continue; }
		"\\u" (HI | LO)  { j->cur = cur;
				   return st_verr_set(e, "must not contain an unpaired surrogate escape"); }
		"\\"             { return syntax_error(j, p, "invalid escape in a string", e); }
		[\x00-\x1f]      { return syntax_error(j, p, "control character in a string", e); }
		$                { return syntax_error(j, p, "unterminated string", e); }
		*                { return st_verr_set(e, "must not contain invalid UTF-8"); }
	*/
	}
	s->n = (size_t)(p - s->p);
	j->cur = cur;
	return 0;
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = (unsigned char)p[i];
		v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* Unescapes content lex_str accepted into `out` (room for s->n + 1 bytes:
 * no escape is shorter than what it stands for) and adds a '\0'. */
static size_t unescape(const strscan *s, char *out)
{
	const char *p = s->p, *end = s->p + s->n;
	char *o = out;
	while (p < end) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		char c = p[1];
		p += 2;
		switch (c) {
		case 'b': *o++ = '\b'; continue;
		case 'f': *o++ = '\f'; continue;
		case 'n': *o++ = '\n'; continue;
		case 'r': *o++ = '\r'; continue;
		case 't': *o++ = '\t'; continue;
		case 'u': break;
		default: *o++ = c; continue;  /* '"', '\\', '/' */
		}
		unsigned cp = hex4(p);
		p += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) {  /* lex_str saw the pair */
			cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
			p += 6;
		}
		if (cp < 0x80) {
			*o++ = (char)cp;
		} else if (cp < 0x800) {
			*o++ = (char)(0xC0 | cp >> 6);
			*o++ = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			*o++ = (char)(0xE0 | cp >> 12);
			*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
			*o++ = (char)(0x80 | (cp & 0x3F));
		} else {
			*o++ = (char)(0xF0 | cp >> 18);
			*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
			*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
			*o++ = (char)(0x80 | (cp & 0x3F));
		}
	}
	*o = '\0';
	return (size_t)(o - out);
}

/* A copy of the string in the arena, unescaped, '\0'-terminated. */
static int str_copy(const strscan *s, st_arena *a, st_str *out, st_verr *e)
{
	char *p = a && s->n < SIZE_MAX ? st_arena_alloc(a, s->n + 1) : NULL;
	if (!p)
		return st_verr_set(e, "is too large for this request's memory");
	size_t n;
	if (s->esc) {
		n = unescape(s, p);
	} else {
		memcpy(p, s->p, s->n);
		p[s->n] = '\0';
		n = s->n;
	}
	*out = (st_str){ p, n };
	return 0;
}

/* Short strings (dates, UUIDs...): unescaped into the caller's `tmp` when
 * needed, else pointing into the input. -1 when too long for `tmp`: such a
 * string cannot be what the caller expects anyway. */
#define SHORT_MAX 256
static int str_short(const strscan *s, char tmp[SHORT_MAX], const char **p,
		     size_t *n)
{
	if (!s->esc) {
		*p = s->p;
		*n = s->n;
		return 0;
	}
	if (s->n >= SHORT_MAX)
		return -1;
	*n = unescape(s, tmp);
	*p = tmp;
	return 0;
}

void st_json_init(st_json *j, const char *buf, size_t len)
{
	j->base = j->cur = buf;
	j->end = buf + len;
	j->depth = 0;
}

static int unexpected(st_json *j, const tok *t, st_verr *e)
{
	char what[64];
	if (t->kind == TK_EOF)
		return st_verr_set(e, "invalid JSON: unexpected end of input");
	unsigned char c = (unsigned char)*t->p;
	if (c > 0x20 && c < 0x7f)
		snprintf(what, sizeof(what), "unexpected '%c'", c);
	else
		snprintf(what, sizeof(what), "unexpected byte 0x%02x", c);
	return syntax_error(j, t->p, what, e);
}

/* Numbers and literals must end at a delimiter: "truex", "12abc" and "01"
 * are refused here rather than as a confusing next token. */
static int value_end(st_json *j, st_verr *e)
{
	if (j->cur == j->end)
		return 0;
	switch (*j->cur) {
	case ' ': case '\t': case '\n': case '\r':
	case ',': case ']': case '}': case ':':
		return 0;
	default:
		return syntax_error(j, j->cur, "unexpected character after a value", e);
	}
}

/* Consumes the next byte when it is `c`. Compact JSON's punctuation and
 * quotes so skip lex's bounds-checked dispatch; anything else (whitespace
 * first, an error) is left to lex, which tells it apart as before. */
static inline bool take(st_json *j, char c)
{
	if (j->cur < j->end && *j->cur == c) {
		j->cur++;
		return true;
	}
	return false;
}

/* The next token, which must be able to start a value: a token that cannot
 * ('}', ',', the end...) is a syntax error rather than a wrong type. */
static int value_tok(st_json *j, tok *t, st_verr *e)
{
	if (take(j, '"')) {
		*t = (tok){ TK_STR, j->cur - 1, 1 };
		return TK_STR;
	}
	switch (lex(j, t)) {
	case TK_LBRACE: case TK_LBRACK: case TK_STR:
		return t->kind;
	case TK_TRUE: case TK_FALSE: case TK_NULL: case TK_INT: case TK_NUM:
		return value_end(j, e) < 0 ? -1 : t->kind;
	default:
		return unexpected(j, t, e);
	}
}

static int nest(st_json *j, st_verr *e)
{
	if (j->depth >= ST_JSON_MAX_DEPTH)
		return st_verr_set(e, "is nested more than %d levels deep",
				   ST_JSON_MAX_DEPTH);
	j->depth++;
	return 0;
}

int st_json_obj_begin(st_json *j, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	if (k != TK_LBRACE)
		return st_verr_set(e, "must be an object");
	return nest(j, e);
}

int st_json_arr_begin(st_json *j, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	if (k != TK_LBRACK)
		return st_verr_set(e, "must be an array");
	return nest(j, e);
}

/* The scanner keeps no per-level state: begin leaves the cursor right after
 * '{' or '[', and no token consumes trailing whitespace, so the byte before
 * the cursor says whether this is the first member (no comma expected). A
 * value never ends with '{' or '['. */
static bool at_first(const st_json *j, char open)
{
	return j->cur > j->base && j->cur[-1] == open;
}

static int obj_key(st_json *j, st_arena *a, st_str *key, st_verr *e)
{
	bool first = at_first(j, '{');
	tok t;
	/* `"` first, or `,"` after a member: the usual, without lex. */
	if (first && take(j, '"'))
		goto key;
	if (!first && take(j, ',')) {
		if (take(j, '"'))
			goto key;
		lex(j, &t);
		goto after_comma;
	}
	lex(j, &t);
	if (t.kind == TK_RBRACE) {
		j->depth--;
		return 0;
	}
	if (!first) {
		if (t.kind != TK_COMMA)
			return t.kind == TK_EOF ? unexpected(j, &t, e)
			       : syntax_error(j, t.p, "expected ',' or '}'", e);
		lex(j, &t);
	}
after_comma:
	if (t.kind != TK_STR)
		return t.kind == TK_EOF ? unexpected(j, &t, e)
		       : syntax_error(j, t.p, "expected a string key", e);
key:;
	strscan s;
	if (lex_str(j, &s, e) < 0)
		return -1;
	if (key) {
		if (!s.esc)
			*key = (st_str){ s.p, s.n };
		else if (str_copy(&s, a, key, e) < 0)
			return -1;
	}
	if (!take(j, ':') && lex(j, &t) != TK_COLON)
		return t.kind == TK_EOF ? unexpected(j, &t, e)
		       : syntax_error(j, t.p, "expected ':'", e);
	return 1;
}

int st_json_obj_key(st_json *j, st_arena *a, st_str *key, st_verr *e)
{
	st_str dummy;
	return obj_key(j, a, key ? key : &dummy, e);
}

int st_json_arr_next(st_json *j, st_verr *e)
{
	bool first = at_first(j, '[');
	const char *save = j->cur;
	tok t;
	lex(j, &t);
	if (t.kind == TK_RBRACK) {
		j->depth--;
		return 0;
	}
	if (first) {
		j->cur = save;  /* that token starts the first item */
		return 1;
	}
	if (t.kind != TK_COMMA)
		return t.kind == TK_EOF ? unexpected(j, &t, e)
		       : syntax_error(j, t.p, "expected ',' or ']'", e);
	save = j->cur;
	if (lex(j, &t) == TK_RBRACK)
		return syntax_error(j, t.p, "trailing comma", e);
	j->cur = save;
	return 1;
}

static int skip_value(st_json *j, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e), r;
	strscan s;
	switch (k) {
	case TK_LBRACE:
		if (nest(j, e) < 0)
			return -1;
		while ((r = obj_key(j, NULL, NULL, e)) == 1)
			if (skip_value(j, e) < 0)
				return -1;
		return r;
	case TK_LBRACK:
		if (nest(j, e) < 0)
			return -1;
		while ((r = st_json_arr_next(j, e)) == 1)
			if (skip_value(j, e) < 0)
				return -1;
		return r;
	case TK_STR:
		return lex_str(j, &s, e);
	default:
		return k < 0 ? -1 : 0;
	}
}

int st_json_skip(st_json *j, const char **start, size_t *len, st_verr *e)
{
	tok ws;
	const char *save = j->cur;
	/* find where the value starts: past the whitespace */
	lex(j, &ws);
	j->cur = save;
	if (skip_value(j, e) < 0)
		return -1;
	if (start)
		*start = ws.p;
	if (len)
		*len = (size_t)(j->cur - ws.p);
	return 0;
}

int st_json_end(st_json *j, st_verr *e)
{
	tok t;
	if (lex(j, &t) != TK_EOF)
		return syntax_error(j, t.p, "unexpected data after the value", e);
	return 0;
}

int st_json_null(st_json *j)
{
	/* Most values are not null: a look at their first byte spares the
	 * scanner (and the undoing of its token). */
	const char *q = j->cur;
	while (q < j->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
		q++;
	if (q == j->end || *q != 'n')
		return 0;
	const char *save = j->cur;
	tok t;
	st_verr e;
	if (lex(j, &t) == TK_NULL && value_end(j, &e) == 0)
		return 1;
	j->cur = save;
	return 0;
}

int st_json_bool(st_json *j, bool *out, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	if (k != TK_TRUE && k != TK_FALSE)
		return st_verr_set(e, "must be a boolean");
	*out = k == TK_TRUE;
	return 0;
}

/* Decimal digits (with an optional '-') already known to match INT; -1 if
 * the value is outside [min, max]. */
static int parse_int(const char *p, size_t n, int64_t min, int64_t max,
		     int64_t *out)
{
	bool neg = n && *p == '-';
	uint64_t limit = neg ? (uint64_t)0 - (uint64_t)min : (uint64_t)max;
	uint64_t v = 0;
	for (size_t i = neg; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int json_int(st_json *j, int64_t min, int64_t max, bool strings,
		    const char *range_msg, int64_t *out, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	const char *p = t.p;
	size_t n = t.n;
	if (k == TK_STR && strings) {
		/* idl.md: an int64 may come as a decimal string, for clients
		 * whose numbers are doubles; same grammar as a JSON integer */
		strscan s;
		if (lex_str(j, &s, e) < 0)
			return -1;
		st_json sub;
		tok st;
		st_json_init(&sub, s.p, s.n);
		if (s.esc || s.n == 0 || lex(&sub, &st) != TK_INT ||
		    st.p != s.p || sub.cur != sub.end)
			return st_verr_set(e, "must be an integer");
		p = s.p;
		n = s.n;
	} else if (k != TK_INT) {
		return st_verr_set(e, "must be an integer");
	}
	if (parse_int(p, n, min, max, out) < 0)
		return st_verr_set(e, "%s", range_msg);
	return 0;
}

int st_json_i32(st_json *j, int32_t *out, st_verr *e)
{
	int64_t v;
	if (json_int(j, INT32_MIN, INT32_MAX, false, "must be a 32-bit integer",
		     &v, e) < 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int st_json_i64(st_json *j, int64_t *out, st_verr *e)
{
	return json_int(j, INT64_MIN, INT64_MAX, true, "must be a 64-bit integer",
			out, e);
}

/* strtod needs a terminated string: a bounded copy on the stack, or on the
 * heap for the rare number longer than that (JSON puts no limit on digits). */
int st_json_f64(st_json *j, double *out, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	if (k != TK_INT && k != TK_NUM)
		return st_verr_set(e, "must be a number");
	char tmp[128], *copy = tmp;
	if (t.n >= sizeof(tmp) && !(copy = malloc(t.n + 1)))
		return st_verr_set(e, "is too long a number");
	memcpy(copy, t.p, t.n);
	copy[t.n] = '\0';
	double v = strtod(copy, NULL);
	if (copy != tmp)
		free(copy);
	if (!isfinite(v))
		return st_verr_set(e, "must be a finite number");
	*out = v;
	return 0;
}

static int str_tok(st_json *j, strscan *s, const char *msg, st_verr *e)
{
	tok t;
	int k = value_tok(j, &t, e);
	if (k < 0)
		return -1;
	if (k != TK_STR)
		return st_verr_set(e, "%s", msg);
	return lex_str(j, s, e);
}

int st_json_str(st_json *j, st_arena *a, st_str *out, size_t *ncp, st_verr *e)
{
	strscan s;
	if (str_tok(j, &s, "must be a string", e) < 0 || str_copy(&s, a, out, e) < 0)
		return -1;
	if (ncp)
		*ncp = s.ncp;
	return 0;
}

int st_json_bytes(st_json *j, st_arena *a, st_bytes *out, st_verr *e)
{
	strscan s;
	if (str_tok(j, &s, "must be base64", e) < 0)
		return -1;
	const char *p = s.p;
	size_t n = s.n;
	if (s.esc) {  /* "\/" is a legal way to write '/' */
		st_str u;
		if (str_copy(&s, a, &u, e) < 0)
			return -1;
		p = u.ptr;
		n = u.len;
	}
	uint8_t *o = a ? st_arena_alloc(a, st__b64_max(n) + 1) : NULL;
	if (!o)
		return st_verr_set(e, "is too large for this request's memory");
	size_t olen;
	if (st__b64_decode(p, n, o, &olen) < 0)
		return st_verr_set(e, "must be base64");
	*out = (st_bytes){ o, olen };
	return 0;
}

/* date, timestamp, uuid: a short string and a parser. */
static int json_scalar(st_json *j, const char *msg,
		       int (*parse)(const char *, size_t, void *), void *out,
		       st_verr *e)
{
	strscan s;
	char tmp[SHORT_MAX];
	const char *p;
	size_t n;
	if (str_tok(j, &s, msg, e) < 0)
		return -1;
	if (str_short(&s, tmp, &p, &n) < 0 || parse(p, n, out) < 0)
		return st_verr_set(e, "%s", msg);
	return 0;
}

static int parse_date(const char *s, size_t n, void *out)
{
	return st_parse_date(s, n, out);
}

static int parse_time(const char *s, size_t n, void *out)
{
	return st_parse_time(s, n, out);
}

static int parse_uuid(const char *s, size_t n, void *out)
{
	return st_parse_uuid(s, n, out);
}

int st_json_date(st_json *j, st_date *out, st_verr *e)
{
	return json_scalar(j, "must be a valid date (YYYY-MM-DD)", parse_date,
			   out, e);
}

int st_json_time(st_json *j, st_time *out, st_verr *e)
{
	return json_scalar(j, "must be an RFC 3339 timestamp", parse_time, out, e);
}

int st_json_uuid(st_json *j, st_uuid *out, st_verr *e)
{
	return json_scalar(j, "must be a UUID", parse_uuid, out, e);
}
