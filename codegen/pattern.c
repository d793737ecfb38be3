/* pattern.c: `pattern` regular expressions: a parser of the accepted syntax
 * (a subset of re2c's, written the way people write regexes: bare literal
 * characters, [classes], ., ( | ), * + ? {n,m}), a small matcher used only
 * to check default values at generation time, and the compilation of every
 * pattern of a file into C matchers by running re2c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "streamc.h"

extern char **environ;

enum { P_SET, P_CAT, P_ALT, P_REP };

#define REP_MAX 1000

struct pattern {
	int kind;
	/* P_SET: sorted code point ranges, negated when `neg` */
	uint32_t (*r)[2];
	int nr;
	bool neg;
	/* P_CAT, P_ALT */
	struct pattern **kids;
	int n;
	/* P_REP */
	int min, max; /* max -1: unbounded */
};

typedef struct pp {
	arena *a;          /* the nodes */
	const uint32_t *cp;
	size_t n, i;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
} pp;

static void perr(pp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(pp *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static pattern *node(pp *p, int kind)
{
	pattern *n = arena_alloc(p->a, sizeof *n);
	n->kind = kind;
	return n;
}

static void add_kid(pp *p, pattern *n, pattern *k)
{
	n->kids = arena_grow(p->a, n->kids, n->n, sizeof *n->kids);
	n->kids[n->n++] = k;
}

static void add_range(pp *p, pattern *n, uint32_t lo, uint32_t hi)
{
	n->r = arena_grow(p->a, n->r, n->nr, sizeof *n->r);
	n->r[n->nr][0] = lo;
	n->r[n->nr][1] = hi;
	n->nr++;
}

static pattern *single(pp *p, uint32_t c)
{
	pattern *n = node(p, P_SET);
	add_range(p, n, c, c);
	return n;
}

static bool peekc(pp *p, uint32_t c)
{
	return p->i < p->n && p->cp[p->i] == c;
}

static int hexd(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

/* After a backslash: the escaped code point, or (uint32_t)-1. */
static uint32_t escape(pp *p)
{
	if (p->i >= p->n) {
		perr(p, "trailing backslash");
		return (uint32_t)-1;
	}
	uint32_t c = p->cp[p->i++];
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'x':
	case 'u': {
		int nd = c == 'x' ? 2 : 4;
		uint32_t v = 0;
		for (int k = 0; k < nd; k++) {
			int h = p->i < p->n ? hexd(p->cp[p->i]) : -1;
			if (h < 0) {
				perr(p, "'\\%c' needs %d hex digits", (char)c, nd);
				return (uint32_t)-1;
			}
			v = v * 16 + (uint32_t)h;
			p->i++;
		}
		if (v >= 0xD800 && v < 0xE000) {
			perr(p, "surrogate code point in '\\u' escape");
			return (uint32_t)-1;
		}
		return v;
	}
	}
	if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9')))
		return c;
	if (c < 0x80)
		perr(p, "unknown escape '\\%c'", (char)c);
	else
		perr(p, "unknown escape");
	return (uint32_t)-1;
}

static pattern *parse_alt(pp *p);

static pattern *parse_class(pp *p)
{
	pattern *n = node(p, P_SET);
	if (peekc(p, '^')) {
		n->neg = true;
		p->i++;
	}
	for (;;) {
		if (p->i >= p->n) {
			perr(p, "missing ']'");
			return n;
		}
		uint32_t c = p->cp[p->i++];
		if (c == ']') {
			if (n->nr == 0)
				perr(p, "empty character class");
			return n;
		}
		if (c == '\\') {
			c = escape(p);
			if (p->failed)
				return n;
		} else if (c == '[') {
			perr(p, "'[' inside a character class must be escaped");
			return n;
		}
		uint32_t hi = c;
		if (peekc(p, '-') && p->i + 1 < p->n && p->cp[p->i + 1] != ']') {
			p->i++;
			hi = p->cp[p->i++];
			if (hi == '\\') {
				hi = escape(p);
				if (p->failed)
					return n;
			}
			if (hi < c) {
				perr(p, "invalid range in character class (end before start)");
				return n;
			}
		}
		add_range(p, n, c, hi);
	}
}

static int parse_count(pp *p, int *out)
{
	int v = 0, nd = 0;
	while (p->i < p->n && p->cp[p->i] >= '0' && p->cp[p->i] <= '9') {
		v = v * 10 + (int)(p->cp[p->i] - '0');
		if (v > REP_MAX)
			v = REP_MAX + 1;
		p->i++;
		nd++;
	}
	*out = v;
	return nd;
}

static pattern *parse_atom(pp *p)
{
	uint32_t c = p->cp[p->i++];
	switch (c) {
	case '(': {
		if (++p->depth > 100) {
			perr(p, "groups nest too deeply");
			return NULL;
		}
		pattern *in = parse_alt(p);
		p->depth--;
		if (p->failed)
			return in;
		if (!peekc(p, ')')) {
			perr(p, "missing ')'");
			return in;
		}
		p->i++;
		return in;
	}
	case '[':
		return parse_class(p);
	case '.': {
		pattern *n = node(p, P_SET);
		n->neg = true;
		add_range(p, n, '\n', '\n');
		return n;
	}
	case '\\': {
		uint32_t e = escape(p);
		return p->failed ? NULL : single(p, e);
	}
	case ')':
		perr(p, "unmatched ')'");
		return NULL;
	case ']':
	case '}':
		perr(p, "unmatched '%c'; escape it as '\\%c'", (char)c, (char)c);
		return NULL;
	case '*':
	case '+':
	case '?':
	case '{':
		perr(p, "nothing to repeat before '%c'", (char)c);
		return NULL;
	case '^':
	case '$':
		perr(p, "anchors ('%c') are not supported: the whole string always has to match; escape it as '\\%c'",
		     (char)c, (char)c);
		return NULL;
	}
	return single(p, c);
}

static pattern *parse_cat(pp *p)
{
	pattern *cat = node(p, P_CAT);
	while (p->i < p->n && !peekc(p, '|') && !peekc(p, ')') && !p->failed) {
		pattern *a = parse_atom(p);
		if (p->failed)
			return cat;
		for (;;) {
			int min, max;
			if (peekc(p, '*')) {
				min = 0;
				max = -1;
				p->i++;
			} else if (peekc(p, '+')) {
				min = 1;
				max = -1;
				p->i++;
			} else if (peekc(p, '?')) {
				min = 0;
				max = 1;
				p->i++;
			} else if (peekc(p, '{')) {
				p->i++;
				if (!parse_count(p, &min)) {
					perr(p, "'{' must be followed by a count, as in {2} or {1,3}");
					return cat;
				}
				max = min;
				if (peekc(p, ',')) {
					p->i++;
					if (!parse_count(p, &max))
						max = -1;
				}
				if (!peekc(p, '}')) {
					perr(p, "missing '}' in a repetition");
					return cat;
				}
				p->i++;
				if (min > REP_MAX || max > REP_MAX) {
					perr(p, "repetition count above %d", REP_MAX);
					return cat;
				}
				if (max >= 0 && min > max) {
					perr(p, "repetition {%d,%d}: minimum above maximum", min, max);
					return cat;
				}
			} else
				break;
			pattern *r = node(p, P_REP);
			r->min = min;
			r->max = max;
			add_kid(p, r, a);
			a = r;
		}
		add_kid(p, cat, a);
	}
	if (cat->n == 0 && !p->failed)
		perr(p, "empty alternative");
	return cat;
}

static pattern *parse_alt(pp *p)
{
	pattern *alt = node(p, P_ALT);
	add_kid(p, alt, parse_cat(p));
	while (!p->failed && peekc(p, '|')) {
		p->i++;
		add_kid(p, alt, parse_cat(p));
	}
	return alt;
}

pattern *pattern_parse(arena *a, const char *src, size_t len, char *err,
		       size_t errlen)
{
	/* decode UTF-8 (the lexer already checked it) */
	uint32_t *cp = xmalloc((len + 1) * sizeof *cp);
	size_t n = 0;
	const unsigned char *s = (const unsigned char *)src;
	for (size_t i = 0; i < len;) {
		uint32_t c = s[i];
		size_t k = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
		if (k)
			c &= 0x3F >> k;
		for (size_t m = 1; m <= k && i + m < len; m++)
			c = (c << 6) | (s[i + m] & 0x3F);
		cp[n++] = c;
		i += k + 1;
	}
	pp p = { a, cp, n, 0, err, errlen, false, 0 };
	if (n == 0) {
		snprintf(err, errlen, "empty pattern");
		free(cp);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (cp[i] == 0) {
			snprintf(err, errlen, "NUL character in the pattern");
			free(cp);
			return NULL;
		}
	pattern *r = parse_alt(&p);
	if (!p.failed && p.i < p.n)
		perr(&p, "unmatched ')'");
	free(cp);
	return p.failed ? NULL : r;
}

/* --- Matching (generation time only) ---------------------------------------- */

static bool in_set(const pattern *n, uint32_t c)
{
	bool in = false;
	for (int i = 0; i < n->nr; i++)
		if (c >= n->r[i][0] && c <= n->r[i][1])
			in = true;
	return in != n->neg;
}

/* Positions reachable after `n` from the positions set in `in`. */
static void step(const pattern *n, const uint32_t *cp, size_t len,
		 const bool *in, bool *out)
{
	memset(out, 0, len + 1);
	switch (n->kind) {
	case P_SET:
		for (size_t i = 0; i < len; i++)
			if (in[i] && in_set(n, cp[i]))
				out[i + 1] = true;
		return;
	case P_CAT: {
		bool *cur = xmalloc(len + 1), *tmp = xmalloc(len + 1);
		memcpy(cur, in, len + 1);
		for (int k = 0; k < n->n; k++) {
			step(n->kids[k], cp, len, cur, tmp);
			memcpy(cur, tmp, len + 1);
		}
		memcpy(out, cur, len + 1);
		free(cur);
		free(tmp);
		return;
	}
	case P_ALT: {
		bool *tmp = xmalloc(len + 1);
		for (int k = 0; k < n->n; k++) {
			step(n->kids[k], cp, len, in, tmp);
			for (size_t i = 0; i <= len; i++)
				out[i] |= tmp[i];
		}
		free(tmp);
		return;
	}
	case P_REP: {
		bool *cur = xmalloc(len + 1), *tmp = xmalloc(len + 1);
		memcpy(cur, in, len + 1);
		for (int k = 0; k < n->min; k++) {
			step(n->kids[0], cp, len, cur, tmp);
			memcpy(cur, tmp, len + 1);
		}
		memcpy(out, cur, len + 1);
		int extra = n->max < 0 ? (int)len + 1 : n->max - n->min;
		for (int k = 0; k < extra; k++) {
			step(n->kids[0], cp, len, cur, tmp);
			bool grew = false;
			for (size_t i = 0; i <= len; i++)
				if (tmp[i] && !out[i])
					out[i] = grew = true;
			memcpy(cur, tmp, len + 1);
			if (!grew && n->max < 0)
				break;
		}
		free(cur);
		free(tmp);
		return;
	}
	}
}

bool pattern_match(const pattern *p, const char *s, size_t len)
{
	uint32_t *cp = xmalloc((len + 1) * sizeof *cp);
	size_t n = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		uint32_t c = u[i];
		size_t k = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
		if (k)
			c &= 0x3F >> k;
		for (size_t m = 1; m <= k && i + m < len; m++)
			c = (c << 6) | (u[i + m] & 0x3F);
		cp[n++] = c;
		i += k + 1;
	}
	bool *in = xcalloc(n + 1, 1), *out = xcalloc(n + 1, 1);
	in[0] = true;
	step(p, cp, n, in, out);
	bool r = out[n];
	free(in);
	free(out);
	free(cp);
	return r;
}

bool pattern_nullable(const pattern *p)
{
	switch (p->kind) {
	case P_SET:
		return false;
	case P_CAT:
		for (int i = 0; i < p->n; i++)
			if (!pattern_nullable(p->kids[i]))
				return false;
		return true;
	case P_ALT:
		for (int i = 0; i < p->n; i++)
			if (pattern_nullable(p->kids[i]))
				return true;
		return false;
	case P_REP:
		return p->min == 0 || pattern_nullable(p->kids[0]);
	}
	return false;
}

/* --- re2c syntax -------------------------------------------------------------- */

static void re_cp(sbuf *out, uint32_t c)
{
	if (c < 0x80)
		sb_printf(out, "\\x%02X", (unsigned)c);
	else if (c < 0x10000)
		sb_printf(out, "\\u%04X", (unsigned)c);
	else
		sb_printf(out, "\\U%08X", (unsigned)c);
}

void pattern_re2c(const pattern *p, sbuf *out)
{
	switch (p->kind) {
	case P_SET:
		sb_puts(out, p->neg ? "[^" : "[");
		for (int i = 0; i < p->nr; i++) {
			re_cp(out, p->r[i][0]);
			if (p->r[i][1] != p->r[i][0]) {
				sb_puts(out, "-");
				re_cp(out, p->r[i][1]);
			}
		}
		sb_puts(out, "]");
		return;
	case P_CAT:
		sb_puts(out, "(");
		for (int i = 0; i < p->n; i++) {
			if (i)
				sb_puts(out, " ");
			pattern_re2c(p->kids[i], out);
		}
		sb_puts(out, ")");
		return;
	case P_ALT:
		sb_puts(out, "(");
		for (int i = 0; i < p->n; i++) {
			if (i)
				sb_puts(out, " | ");
			pattern_re2c(p->kids[i], out);
		}
		sb_puts(out, ")");
		return;
	case P_REP:
		sb_puts(out, "(");
		pattern_re2c(p->kids[0], out);
		sb_puts(out, ")");
		if (p->min == 0 && p->max < 0)
			sb_puts(out, "*");
		else if (p->min == 1 && p->max < 0)
			sb_puts(out, "+");
		else if (p->min == 0 && p->max == 1)
			sb_puts(out, "?");
		else if (p->max < 0)
			sb_printf(out, "{%d,}", p->min);
		else if (p->max == p->min)
			sb_printf(out, "{%d}", p->min);
		else
			sb_printf(out, "{%d,%d}", p->min, p->max);
		return;
	}
}

/* --- Running re2c ---------------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -1;
	size_t w = fwrite(data, 1, len, fp);
	if (fclose(fp) || w != len)
		return -1;
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	sbuf b = { 0 };
	char tmp[8192];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
		sb_add(&b, tmp, n);
	fclose(fp);
	if (!b.s)
		sb_add(&b, "", 0);
	*len = b.len;
	return b.s;
}

/* Runs argv with stderr to `errpath`; kills it after `secs`. Returns the
 * exit status, or -1 when it could not run or timed out. */
static int run(char *const argv[], const char *errpath, int secs)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	struct timespec ts = { 0, 2000000 };
	long waited = 0;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		nanosleep(&ts, NULL);
		waited += 2;
		if (waited > (long)secs * 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -2;
		}
	}
}

int pattern_compile(file *f, const char *prefix, sbuf *out)
{
	if (f->n_patterns == 0)
		return 0;
	sbuf re = { 0 };
	int *lines = xcalloc((size_t)f->n_patterns, sizeof *lines);
	int line = 1;
	for (int i = 0; i < f->n_patterns; i++) {
		type *t = f->patterns[i];
		sb_printf(&re,
			  "static bool %s%d(const char *s, size_t len)\n{\n"
			  "\tconst unsigned char *YYCURSOR = (const unsigned char *)s;\n"
			  "\tconst unsigned char *YYLIMIT = YYCURSOR + len;\n"
			  "\tconst unsigned char *YYMARKER = YYCURSOR;\n"
			  "\t(void)YYMARKER;\n"
			  "\t/*!re2c\n"
			  "\t\tre2c:define:YYCTYPE = \"unsigned char\";\n"
			  "\t\tre2c:yyfill:enable = 0;\n"
			  "\t\tre2c:eof = 0;\n",
			  prefix, i);
		line += 10;
		lines[i] = line;
		sb_puts(&re, "\t\t");
		pattern_re2c(t->re, &re);
		sb_puts(&re, " { return YYCURSOR == YYLIMIT; }\n");
		sb_printf(&re, "\t\t* { return false; }\n\t\t$ { return %s; }\n\t*/\n}\n\n",
			  pattern_nullable(t->re) ? "true" : "false");
		line += 6;
	}
	char dir[] = "/tmp/streamc-XXXXXX";
	if (!mkdtemp(dir)) {
		diag((loc){ f->path, 0, 0 }, "cannot create a temporary folder: %s", strerror(errno));
		free(lines);
		sb_free(&re);
		return -1;
	}
	char *in = xprintf("%s/p.re", dir), *outc = xprintf("%s/p.c", dir),
	     *err = xprintf("%s/err", dir);
	int ret = -1;
	if (write_file(in, re.s, re.len)) {
		diag((loc){ f->path, 0, 0 }, "cannot write %s: %s", in, strerror(errno));
		goto done;
	}
	const char *re2c = getenv("STREAMC_RE2C");
	char *argv[] = { (char *)(re2c && *re2c ? re2c : "re2c"), "-8", "-i",
			 "--no-generation-date", "--no-version", "-o", outc, in, NULL };
	int rc = run(argv, err, 60);
	if (rc != 0) {
		size_t elen = 0;
		char *emsg = read_all(err, &elen);
		/* "p.re:LINE:COL: error: ..." -> the pattern on that line */
		int eline = 0;
		const char *c = emsg ? strstr(emsg, "p.re:") : NULL;
		if (c)
			eline = atoi(c + 5);
		const char *m = emsg ? strstr(emsg, "error: ") : NULL;
		char msg[256] = "";
		if (m) {
			m += 7;
			size_t k = strcspn(m, "\n");
			if (k > 200)
				k = 200;
			snprintf(msg, sizeof msg, "%.*s", (int)k, m);
		}
		int which = -1;
		for (int i = 0; i < f->n_patterns; i++)
			if (lines[i] == eline)
				which = i;
		if (rc == -2)
			snprintf(msg, sizeof msg, "re2c took too long (the pattern is too complex)");
		else if (rc == -1 && !*msg)
			snprintf(msg, sizeof msg, "cannot run re2c");
		if (which < 0)
			which = 0;
		diag(f->patterns[which]->pattern_at, "invalid pattern: re2c: %s",
		     *msg ? msg : "failed");
		free(emsg);
		goto done;
	}
	size_t olen;
	char *code = read_all(outc, &olen);
	if (!code) {
		diag((loc){ f->path, 0, 0 }, "cannot read re2c's output");
		goto done;
	}
	sb_add(out, code, olen);
	free(code);
	ret = 0;
done:
	unlink(in);
	unlink(outc);
	unlink(err);
	rmdir(dir);
	free(in);
	free(outc);
	free(err);
	free(lines);
	sb_free(&re);
	return ret;
}
