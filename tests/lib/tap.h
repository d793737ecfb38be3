/* tap.h: Test Anything Protocol for C tests: plan, ok, is, done_testing.
 * Header-only; a test is a program whose stdout prove reads. */
#ifndef TAP_H
#define TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static int tap_okv(int cond, const char *file, int line, const char *fmt,
		   va_list ap)
{
	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   Failed test at %s line %d.\n", file, line);
	}
	fflush(stdout);
	return cond;
}

static inline __attribute__((format(printf, 4, 5))) int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_okv(cond, file, line, fmt, ap);
	va_end(ap);
	return r;
}

/* ok(cond, "name %d", ...) */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* is(got, want, "name"): strings (NULL-safe) */
#define is(got, want, ...)                                                   \
	do {                                                                 \
		const char *tap_g_ = (got), *tap_w_ = (want);                \
		int tap_c_ = (tap_g_ && tap_w_) ? !strcmp(tap_g_, tap_w_)    \
						: tap_g_ == tap_w_;          \
		if (!ok(tap_c_, __VA_ARGS__)) {                              \
			printf("#          got: '%s'\n#     expected: '%s'\n", \
			       tap_g_ ? tap_g_ : "(null)",                   \
			       tap_w_ ? tap_w_ : "(null)");                  \
		}                                                            \
	} while (0)

/* is_int(got, want, "name"): integers */
#define is_int(got, want, ...)                                               \
	do {                                                                 \
		intmax_t tap_g_ = (intmax_t)(got), tap_w_ = (intmax_t)(want); \
		if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                      \
			printf("#          got: %jd\n#     expected: %jd\n",     \
			       tap_g_, tap_w_);                              \
	} while (0)

#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))
#define plan(n) printf("1..%d\n", (n))
#define skip_all(why) (printf("1..0 # SKIP %s\n", (why)), exit(0))
#define BAIL_OUT(...) \
	(printf("Bail out! "), printf(__VA_ARGS__), printf("\n"), exit(255))

/* Prints the plan when none was given up front; exit status for main. */
static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
