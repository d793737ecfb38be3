/* lexer.re: the .stream lexer (re2c): tokens with line and column. Columns
 * count code points from 1. Errors are diagnosed here and leave a T_ERROR
 * token so the parser can go on. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

typedef struct lexer {
	arena *arena;      /* the tokens' strings */
	const char *file;
	const unsigned char *base, *cur, *lim, *tok, *mark;
	const unsigned char *line_start;
	int line;
	token *toks;
	size_t n, cap;
	sbuf doc;          /* pending `///` text */
	bool have_doc;
} lexer;

/* Column of `p`: code points since the start of its line, from 1. */
static int col_of(const lexer *l, const unsigned char *p)
{
	int col = 1;
	for (const unsigned char *q = l->line_start; q < p; q++)
		if ((*q & 0xC0) != 0x80)
			col++;
	return col;
}

static loc here(const lexer *l, const unsigned char *p)
{
	return (loc){ l->file, l->line, col_of(l, p) };
}

static token *push(lexer *l, int kind)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->toks = xrealloc(l->toks, l->cap * sizeof *l->toks);
	}
	token *t = &l->toks[l->n++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->line = l->line;
	t->col = col_of(l, l->tok);
	t->text = (const char *)l->tok;
	t->len = (size_t)(l->cur - l->tok);
	if (l->have_doc) {
		t->doc = arena_strdup(l->arena, l->doc.s ? l->doc.s : "");
		sb_free(&l->doc);
		l->have_doc = false;
	}
	return t;
}

static void newline(lexer *l, const unsigned char *after)
{
	l->line++;
	l->line_start = after;
}

/* Appends code point `cp` as UTF-8. */
static void put_utf8(sbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sb_add(b, u, n);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string literal; l->cur is just past the opening quote. Escapes: \" \\
 * \n \t \uXXXX (surrogate pairs combine). Raw newlines are not allowed. */
static void lex_string(lexer *l)
{
	sbuf b = { 0 };
	bool bad = false;
	sb_add(&b, "", 0);
	for (;;) {
		const unsigned char *p = l->cur;
		if (p >= l->lim || *p == '\n') {
			diag(here(l, l->tok), "unterminated string");
			l->cur = p; /* the rest of the line is lost */
			push(l, T_ERROR);
			sb_free(&b);
			return;
		}
		if (*p == '"') {
			l->cur = p + 1;
			break;
		}
		if (*p != '\\') {
			sb_add(&b, (const char *)p, 1);
			l->cur = p + 1;
			continue;
		}
		unsigned char c = p + 1 < l->lim ? p[1] : 0;
		switch (c) {
		case '"':  sb_add(&b, "\"", 1); l->cur = p + 2; continue;
		case '\\': sb_add(&b, "\\", 1); l->cur = p + 2; continue;
		case 'n':  sb_add(&b, "\n", 1); l->cur = p + 2; continue;
		case 't':  sb_add(&b, "\t", 1); l->cur = p + 2; continue;
		case 'u': {
			uint32_t cp = 0;
			int i;
			for (i = 0; i < 4 && p + 2 + i < l->lim; i++) {
				int h = hexval(p[2 + i]);
				if (h < 0)
					break;
				cp = cp * 16 + (uint32_t)h;
			}
			if (i < 4) {
				diag(here(l, p), "invalid \\u escape: four hex digits expected");
				bad = true;
				l->cur = p + 2;
				continue;
			}
			l->cur = p + 6;
			if (cp >= 0xD800 && cp < 0xDC00 && l->cur + 6 <= l->lim &&
			    l->cur[0] == '\\' && l->cur[1] == 'u') {
				uint32_t lo = 0;
				int k;
				for (k = 0; k < 4; k++) {
					int h = hexval(l->cur[2 + k]);
					if (h < 0)
						break;
					lo = lo * 16 + (uint32_t)h;
				}
				if (k == 4 && lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					l->cur += 6;
				}
			}
			if (cp >= 0xD800 && cp < 0xE000) {
				diag(here(l, p), "invalid \\u escape: lone surrogate");
				bad = true;
				continue;
			}
			put_utf8(&b, cp);
			continue;
		}
		default:
			diag(here(l, p), "invalid escape '\\%c' in string",
			     c >= 0x20 && c < 0x7f ? c : '?');
			bad = true;
			l->cur = p + (c ? 2 : 1);
			continue;
		}
	}
	token *t = push(l, bad ? T_ERROR : T_STRING);
	size_t ncp;
	if (!bad && utf8_count(b.s, b.len, &ncp)) {
		diag((loc){ l->file, t->line, t->col }, "string is not valid UTF-8");
		t->kind = T_ERROR;
	}
	t->str = arena_strndup(l->arena, b.s, b.len);
	t->slen = b.len;
	sb_free(&b);
}

/* A block comment; l->cur is just past the opening. Not nested. */
static void lex_block_comment(lexer *l)
{
	const unsigned char *start = l->tok;
	int line = l->line, col = col_of(l, start);
	for (const unsigned char *p = l->cur; p < l->lim; p++) {
		if (*p == '\n')
			newline(l, p + 1);
		else if (*p == '*' && p + 1 < l->lim && p[1] == '/') {
			l->cur = p + 2;
			return;
		}
	}
	diag((loc){ l->file, line, col }, "unterminated comment");
	l->cur = l->lim;
}

static int64_t parse_digits(const unsigned char *p, const unsigned char *e,
			    bool *overflow)
{
	bool neg = false;
	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	uint64_t v = 0;
	for (; p < e && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10) {
			*overflow = true;
			v = 0;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (!neg && v > (uint64_t)INT64_MAX) {
		*overflow = true;
		return 0;
	}
	if (neg && v > (uint64_t)INT64_MAX + 1) {
		*overflow = true;
		return 0;
	}
	return neg ? (int64_t)(0 - v) : (int64_t)v;
}

/* Duration: digits then ms, s, m or h; anything else is an error. */
static void lex_number_word(lexer *l)
{
	const unsigned char *p = l->tok, *d = p;
	if (*d == '-')
		d++;
	while (d < l->cur && *d >= '0' && *d <= '9')
		d++;
	size_t ulen = (size_t)(l->cur - d);
	int64_t mult = 0;
	if (ulen == 2 && !memcmp(d, "ms", 2))
		mult = 1;
	else if (ulen == 1 && *d == 's')
		mult = 1000;
	else if (ulen == 1 && *d == 'm')
		mult = 60000;
	else if (ulen == 1 && *d == 'h')
		mult = 3600000;
	token *t = push(l, T_DURATION);
	if (!mult && (*d == 'e' || *d == 'E')) {
		diag((loc){ l->file, t->line, t->col },
		     "invalid number '%.*s': a float needs digits on both sides of the '.' (as in 1.0e3)",
		     (int)t->len, t->text);
		t->kind = T_ERROR;
		return;
	}
	if (!mult) {
		diag((loc){ l->file, t->line, t->col },
		     "invalid duration '%.*s': the unit must be ms, s, m or h",
		     (int)t->len, t->text);
		t->kind = T_ERROR;
		return;
	}
	if (*p == '-') {
		diag((loc){ l->file, t->line, t->col },
		     "a duration cannot be negative");
		t->kind = T_ERROR;
		return;
	}
	bool of = false;
	int64_t v = parse_digits(p, d, &of);
	if (of || v > INT64_MAX / mult)
		t->overflow = true;
	else
		t->ival = v * mult;
}

/*!re2c
	re2c:define:YYCTYPE = "unsigned char";
	re2c:define:YYCURSOR = "l->cur";
	re2c:define:YYMARKER = "l->mark";
	re2c:define:YYLIMIT = "l->lim";
	re2c:yyfill:enable = 0;
	re2c:eof = 0;

	DIGITS  = [0-9]+;
	IDENT   = [A-Za-z_][A-Za-z0-9_]*;
	INT     = "-"? DIGITS;
	FLOAT   = "-"? DIGITS "." DIGITS ([eE] [+-]? DIGITS)?;
	UTF8    = [\xc2-\xdf][\x80-\xbf] | [\xe0-\xef][\x80-\xbf]{2}
		| [\xf0-\xf4][\x80-\xbf]{3};
*/

token *lex(arena *a, const char *file, const char *src, size_t len, size_t *ntok)
{
	lexer L = { 0 }, *l = &L;
	l->arena = a;
	l->file = file;
	l->base = l->cur = l->line_start = (const unsigned char *)src;
	l->lim = l->base + len;
	l->line = 1;
	/* a UTF-8 byte order mark is allowed and skipped */
	if (len >= 3 && !memcmp(src, "\xEF\xBB\xBF", 3))
		l->cur = l->line_start = l->base + 3;
	for (;;) {
		l->tok = l->cur;
		/*!re2c
		$                      { push(l, T_EOF); break; }
		[ \t\r\f\v]+           { continue; }
		"\n"                   { newline(l, l->cur); continue; }
		"///" [^\n\x00]*       {
			const char *s = (const char *)l->tok + 3;
			size_t n = (size_t)(l->cur - l->tok) - 3;
			if (n && *s == ' ') { s++; n--; }
			while (n && (s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
			if (l->have_doc)
				sb_add(&l->doc, "\n", 1);
			sb_add(&l->doc, s, n);
			l->have_doc = true;
			continue;
		}
		"//" [^\n\x00]*        { continue; }
		"/*"                   { lex_block_comment(l); continue; }
		IDENT                  {
			token *t = push(l, T_IDENT);
			t->str = arena_strndup(l->arena, t->text, t->len);
			t->slen = t->len;
			continue;
		}
		INT                    {
			token *t = push(l, T_INT);
			t->ival = parse_digits(l->tok, l->cur, &t->overflow);
			continue;
		}
		INT IDENT              { lex_number_word(l); continue; }
		FLOAT                  {
			token *t = push(l, T_FLOAT);
			char tmp[128];
			size_t n = t->len < sizeof tmp - 1 ? t->len : sizeof tmp - 1;
			memcpy(tmp, t->text, n);
			tmp[n] = '\0';
			errno = 0;
			t->fval = strtod(tmp, NULL);
			if (errno == ERANGE && (t->fval > 1 || t->fval < -1))
				t->overflow = true;
			continue;
		}
		["]                    { lex_string(l); continue; }
		"{"                    { push(l, T_LBRACE); continue; }
		"}"                    { push(l, T_RBRACE); continue; }
		"("                    { push(l, T_LPAREN); continue; }
		")"                    { push(l, T_RPAREN); continue; }
		"<"                    { push(l, T_LT); continue; }
		">"                    { push(l, T_GT); continue; }
		","                    { push(l, T_COMMA); continue; }
		";"                    { push(l, T_SEMI); continue; }
		":"                    { push(l, T_COLON); continue; }
		"?"                    { push(l, T_QUEST); continue; }
		"="                    { push(l, T_EQ); continue; }
		".."                   { push(l, T_DOTDOT); continue; }
		UTF8                   {
			diag(here(l, l->tok), "unexpected character '%.*s'",
			     (int)(l->cur - l->tok), (const char *)l->tok);
			continue;
		}
		*                      {
			unsigned char c = *l->tok;
			if (c >= 0x20 && c < 0x7f)
				diag(here(l, l->tok), "unexpected character '%c'", c);
			else if (c < 0x80)
				diag(here(l, l->tok), "unexpected character (byte 0x%02x)", c);
			else
				diag(here(l, l->tok), "invalid UTF-8 (byte 0x%02x)", c);
			continue;
		}
		*/
	}
	sb_free(&l->doc);
	*ntok = l->n;
	return l->toks;
}
