/* config.c: settings from the environment and flags, checked at start. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define KEY_FILE_MAX (64 * 1024)

/* One setting: its variable, its flag, its default (as text, NULL when
 * none) and what it means. The table is --help. */
typedef struct opt {
	const char *env, *flag, *def, *help;
} opt;

static const opt opts[] = {
	{ "DATABASE_URL", "--database-url", NULL, "libpq connection string" },
	{ "STREAMER_LISTEN", "--listen", "127.0.0.1:8080",
	  "address and port (port 0: any free port, logged)" },
	{ "JWT_PUBLIC_KEY", "--jwt-public-key", NULL,
	  "PEM text or @path of the RS256/ES256 key" },
	{ "JWT_SECRET", "--jwt-secret", NULL, "HS256 secret (development)" },
	{ "JWT_ALG", "--jwt-alg", "RS256 (HS256 when only a secret is set)",
	  "accepted algorithm: RS256, ES256 or HS256" },
	{ "JWT_ISSUER", "--jwt-issuer", NULL, "required iss, checked when set" },
	{ "JWT_AUDIENCE", "--jwt-audience", NULL, "required aud, checked when set" },
	{ "JWT_LEEWAY", "--jwt-leeway", "30s", "clock skew allowed on exp and nbf" },
	{ "STREAMER_ASYNC_THRESHOLD", "--async-threshold", "5s",
	  "actions declared longer than this run async" },
	{ "STREAMER_WORKERS", "--workers", "2 x cores", "async worker threads per process" },
	{ "STREAMER_SYNC_THREADS", "--sync-threads", "cores",
	  "threads running sync handlers declared over 10ms (quicker ones run on the loop's)" },
	{ "STREAMER_SYNC_QUEUE", "--sync-queue", "4096",
	  "sync requests waiting for a thread; beyond: SERVICE_UNAVAILABLE" },
	{ "STREAMER_ROLE", "--role", "all", "gateway, worker or all" },
	{ "STREAMER_MAX_FRAME", "--max-frame", "128KiB", "largest accepted frame" },
	{ "STREAMER_RESULT_TTL", "--result-ttl", "7d", "how long finished requests are kept" },
	{ "STREAMER_LEASE", "--lease", "10s",
	  "async lease: a dead worker's request is retried after this" },
	{ "STREAMER_RETRY_BASE", "--retry-base", "1s",
	  "first retry delay of an async request (doubled per attempt)" },
	{ "STREAMER_RATE_LIMIT", "--rate-limit", "100",
	  "messages per second per connection" },
	{ "STREAMER_RATE_BURST", "--rate-burst", "200",
	  "messages a connection may send at once" },
	{ "STREAMER_OUTBOUND_MAX", "--outbound-max", "4MiB",
	  "bytes queued to one connection before it is dropped" },
	{ "STREAMER_STATIC", "--static", "clients/demo (when present)",
	  "folder served at / (empty: none)" },
	{ "STREAMER_DRAIN", "--drain", "5s", "how long SIGTERM waits for answers" },
	{ "LOG_LEVEL", "--log-level", "info", "debug, info, warn, error" },
};
#define N_OPTS (sizeof opts / sizeof opts[0])

void st__config_usage(FILE *out)
{
	fprintf(out,
		"usage: streamerd [--flag value | --flag=value]...\n"
		"       streamerd migrate\n"
		"Each setting is an environment variable or a flag (flags win).\n\n");
	fprintf(out, "  %-25s %-20s %-28s %s\n", "variable", "flag", "default", "meaning");
	for (size_t i = 0; i < N_OPTS; i++)
		fprintf(out, "  %-25s %-20s %-28s %s\n", opts[i].env, opts[i].flag,
			opts[i].def ? opts[i].def : "none", opts[i].help);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Leading decimal number (digits, optional fraction) and its unit. */
static int split_num(const char *s, double *v, const char **unit)
{
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	errno = 0;
	*v = strtod(s, NULL);
	if (errno)
		return -1;
	*unit = p;
	return 0;
}

/* A number and a unit from `units` (scales to multiply by); values beyond
 * 1e15 are refused. */
struct unit {
	const char *name;
	double scale;
};

static int parse_units(const char *s, const struct unit *units, size_t n,
		       uint64_t *out)
{
	double v;
	const char *u;
	if (split_num(s, &v, &u) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(u, units[i].name) == 0) {
			double x = v * units[i].scale;
			if (x > 1e15)
				return -1;
			*out = (uint64_t)x;
			return 0;
		}
	}
	return -1;
}

int st__parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	return parse_units(s, units, sizeof units / sizeof units[0], out);
}

int st__parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "B", 1 }, { "KiB", 1024 }, { "MiB", 1048576 },
		{ "GiB", 1073741824.0 }, { "K", 1024 }, { "M", 1048576 },
		{ "KB", 1000 }, { "MB", 1000000 }, { "k", 1024 },
	};
	return parse_units(s, units, sizeof units / sizeof units[0], out);
}

int st__parse_listen(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -1;
	const char *h = s;
	size_t hl = (size_t)(colon - s);
	if (h[0] == '[') { /* [::1]:8080 */
		if (hl < 3 || h[hl - 1] != ']')
			return -1;
		h++;
		hl -= 2;
	}
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5)
		return -1;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return -1;
	long n = strtol(p, NULL, 10);
	if (n < 0 || n > 65535)
		return -1;
	char *hc = strndup(h, hl);
	if (!hc)
		return -1;
	*host = hc;
	*port = (int)n;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	if (!*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

/* A value of "@path" is the file's contents (read once, here). */
static char *read_key(const char *v, char *err, size_t errlen)
{
	if (v[0] != '@')
		return strdup(v);
	FILE *f = fopen(v + 1, "rb");
	if (!f) {
		fail(err, errlen, "JWT_PUBLIC_KEY: cannot read %s: %s", v + 1,
		     strerror(errno));
		return NULL;
	}
	char *buf = malloc(KEY_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, KEY_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > KEY_FILE_MAX || n == 0) {
		free(buf);
		fail(err, errlen, "JWT_PUBLIC_KEY: %s is empty or larger than %d bytes",
		     v + 1, KEY_FILE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* Applies one setting (index i) with value v. */
static int apply(st__config *c, size_t i, const char *v, char *err, size_t errlen)
{
	const char *name = opts[i].env;
	uint64_t u;
	long l;
	double d;
#define BAD(what) fail(err, errlen, "%s: invalid value '%s' (%s)", name, v, what)
	if (!strcmp(name, "DATABASE_URL")) {
		free(c->database_url);
		c->database_url = strdup(v);
	} else if (!strcmp(name, "STREAMER_LISTEN")) {
		char *h;
		int p;
		if (st__parse_listen(v, &h, &p) < 0)
			return BAD("expected host:port, port 0..65535");
		free(c->listen_host);
		c->listen_host = h;
		c->listen_port = p;
	} else if (!strcmp(name, "JWT_PUBLIC_KEY")) {
		free(c->jwt_public_key);
		c->jwt_public_key = NULL;
		if (*v && !(c->jwt_public_key = read_key(v, err, errlen)))
			return -1;
	} else if (!strcmp(name, "JWT_SECRET")) {
		free(c->jwt_secret);
		c->jwt_secret = *v ? strdup(v) : NULL;
	} else if (!strcmp(name, "JWT_ALG")) {
		if (!strcmp(v, "HS256"))
			c->jwt_alg = ST__ALG_HS256;
		else if (!strcmp(v, "RS256"))
			c->jwt_alg = ST__ALG_RS256;
		else if (!strcmp(v, "ES256"))
			c->jwt_alg = ST__ALG_ES256;
		else
			return BAD("expected RS256, ES256 or HS256");
		c->jwt_alg_set = 1;
	} else if (!strcmp(name, "JWT_ISSUER")) {
		free(c->jwt_issuer);
		c->jwt_issuer = *v ? strdup(v) : NULL;
	} else if (!strcmp(name, "JWT_AUDIENCE")) {
		free(c->jwt_audience);
		c->jwt_audience = *v ? strdup(v) : NULL;
	} else if (!strcmp(name, "JWT_LEEWAY")) {
		if (st__parse_duration_ms(v, &u) < 0 || u > 3600000)
			return BAD("a duration such as 30s, at most 1h");
		c->jwt_leeway_s = (uint32_t)(u / 1000);
	} else if (!strcmp(name, "STREAMER_ASYNC_THRESHOLD")) {
		if (st__parse_duration_ms(v, &u) < 0 || u > 86400000)
			return BAD("a duration such as 5s, at most 1d");
		c->async_threshold_ms = (uint32_t)u;
	} else if (!strcmp(name, "STREAMER_WORKERS")) {
		if (parse_int(v, 0, 1024, &l) < 0)
			return BAD("an integer 0..1024");
		c->workers = (int)l;
	} else if (!strcmp(name, "STREAMER_SYNC_THREADS")) {
		if (parse_int(v, 1, 1024, &l) < 0)
			return BAD("an integer 1..1024");
		c->sync_threads = (int)l;
	} else if (!strcmp(name, "STREAMER_SYNC_QUEUE")) {
		if (parse_int(v, 1, 1048576, &l) < 0)
			return BAD("an integer 1..1048576");
		c->sync_queue = (size_t)l;
	} else if (!strcmp(name, "STREAMER_ROLE")) {
		if (!strcmp(v, "all"))
			c->role = ST__ROLE_ALL;
		else if (!strcmp(v, "gateway"))
			c->role = ST__ROLE_GATEWAY;
		else if (!strcmp(v, "worker"))
			c->role = ST__ROLE_WORKER;
		else
			return BAD("expected gateway, worker or all");
	} else if (!strcmp(name, "STREAMER_MAX_FRAME")) {
		if (st__parse_size(v, &u) < 0 || u < 1024 || u > 64u * 1048576)
			return BAD("a size such as 128KiB, 1KiB..64MiB");
		c->max_frame = (size_t)u;
	} else if (!strcmp(name, "STREAMER_RESULT_TTL")) {
		if (st__parse_duration_ms(v, &u) < 0 || u < 1000)
			return BAD("a duration such as 7d, at least 1s");
		c->result_ttl_ms = u;
	} else if (!strcmp(name, "STREAMER_LEASE")) {
		if (st__parse_duration_ms(v, &u) < 0 || u < 300 || u > 3600000)
			return BAD("a duration such as 10s, 300ms..1h");
		c->lease_ms = (uint32_t)u;
	} else if (!strcmp(name, "STREAMER_RETRY_BASE")) {
		if (st__parse_duration_ms(v, &u) < 0 || u < 1 || u > 3600000)
			return BAD("a duration such as 1s, 1ms..1h");
		c->retry_base_ms = (uint32_t)u;
	} else if (!strcmp(name, "STREAMER_RATE_LIMIT")) {
		if (parse_num(v, 0.1, 1e7, &d) < 0)
			return BAD("messages per second, 0.1..10000000");
		c->rate_limit = d;
	} else if (!strcmp(name, "STREAMER_RATE_BURST")) {
		if (parse_num(v, 1, 1e7, &d) < 0)
			return BAD("a number of messages, 1..10000000");
		c->rate_burst = d;
	} else if (!strcmp(name, "STREAMER_OUTBOUND_MAX")) {
		if (st__parse_size(v, &u) < 0 || u < 4096 || u > 1024u * 1048576)
			return BAD("a size such as 4MiB, 4KiB..1GiB");
		c->outbound_max = (size_t)u;
	} else if (!strcmp(name, "STREAMER_STATIC")) {
		free(c->static_dir);
		c->static_dir = *v ? strdup(v) : NULL;
		c->static_set = 1;
	} else if (!strcmp(name, "STREAMER_DRAIN")) {
		if (st__parse_duration_ms(v, &u) < 0 || u > 600000)
			return BAD("a duration such as 5s, at most 10m");
		c->drain_ms = (uint32_t)u;
	} else if (!strcmp(name, "LOG_LEVEL")) {
		int lv = st__log_level_parse(v);
		if (lv < 0)
			return BAD("expected debug, info, warn or error");
		c->log_level = lv;
	}
#undef BAD
	return 0;
}

static int load(st__config *c, int argc, char **argv, FILE *out,
		char *err, size_t errlen)
{
	c->listen_host = strdup("127.0.0.1");
	c->listen_port = 8080;
	c->jwt_alg = ST__ALG_RS256;
	c->jwt_leeway_s = 30;
	c->async_threshold_ms = 5000;
	c->workers = 2 * cores();
	c->sync_threads = cores();
	c->sync_queue = 4096;
	c->role = ST__ROLE_ALL;
	c->max_frame = 128 * 1024;
	c->result_ttl_ms = 7ull * 86400000;
	c->lease_ms = 10000;
	c->retry_base_ms = 1000;
	c->log_level = ST__LOG_INFO;
	c->rate_limit = 100;
	c->rate_burst = 200;
	c->outbound_max = 4 * 1048576;
	c->drain_ms = 5000;

	for (size_t i = 0; i < N_OPTS; i++) {
		const char *v = getenv(opts[i].env);
		if (v && apply(c, i, v, err, errlen) < 0)
			return -1;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			st__config_usage(out);
			return 1;
		}
		size_t i;
		const char *v = NULL;
		for (i = 0; i < N_OPTS; i++) {
			size_t fl = strlen(opts[i].flag);
			if (!strncmp(arg, opts[i].flag, fl)) {
				if (arg[fl] == '=') {
					v = arg + fl + 1;
					break;
				}
				if (arg[fl] == '\0') {
					if (a + 1 >= argc)
						return fail(err, errlen, "%s needs a value", arg);
					v = argv[++a];
					break;
				}
			}
		}
		if (i == N_OPTS)
			return fail(err, errlen, "unknown argument '%s' (see --help)", arg);
		if (apply(c, i, v, err, errlen) < 0)
			return -1;
	}

	if (!c->jwt_alg_set && c->jwt_secret && !c->jwt_public_key)
		c->jwt_alg = ST__ALG_HS256;
	if (c->jwt_alg == ST__ALG_HS256 && !c->jwt_secret)
		return fail(err, errlen, "JWT_ALG is HS256 but JWT_SECRET is not set");
	if (c->jwt_alg != ST__ALG_HS256 && !c->jwt_public_key)
		return fail(err, errlen, "JWT_ALG is %s but JWT_PUBLIC_KEY is not set "
			    "(or set JWT_SECRET for HS256)",
			    c->jwt_alg == ST__ALG_RS256 ? "RS256" : "ES256");
	if (c->jwt_alg != ST__ALG_HS256 && !strstr(c->jwt_public_key, "-----BEGIN"))
		return fail(err, errlen, "JWT_PUBLIC_KEY is not a PEM key "
			    "(PEM text, or @path of a PEM file)");
	if (!c->static_set) {
		struct stat st;
		if (stat("clients/demo", &st) == 0 && S_ISDIR(st.st_mode))
			c->static_dir = strdup("clients/demo");
	}
	if (!c->database_url || !*c->database_url)
		return fail(err, errlen, "DATABASE_URL is not set");
	return 0;
}

int st__config_load(st__config *c, int argc, char **argv, FILE *out,
		    char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	int r = load(c, argc, argv, out, err, errlen);
	if (r != 0)
		st__config_fini(c); /* help or a bad value: nothing to keep */
	return r;
}

void st__config_fini(st__config *c)
{
	free(c->database_url);
	free(c->listen_host);
	free(c->jwt_public_key);
	free(c->jwt_secret);
	free(c->jwt_issuer);
	free(c->jwt_audience);
	free(c->static_dir);
	memset(c, 0, sizeof *c);
}
