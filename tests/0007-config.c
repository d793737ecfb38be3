/* streamerd's settings: the value parsers, a bad value of every kind is a
 * clear error naming the setting, flags override the environment, and
 * --help lists every variable of the protocol's configuration table. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/config.h"
#include "tap.h"

static void duration(const char *s, int rc, uint64_t want)
{
	uint64_t v = 0;
	int r = st__parse_duration_ms(s, &v);
	if (rc == 0)
		ok(r == 0 && v == want, "duration '%s' is %llu ms", s, (unsigned long long)want);
	else
		ok(r == -1, "duration '%s' is refused", s);
}

static void size(const char *s, int rc, uint64_t want)
{
	uint64_t v = 0;
	int r = st__parse_size(s, &v);
	if (rc == 0)
		ok(r == 0 && v == want, "size '%s' is %llu bytes", s, (unsigned long long)want);
	else
		ok(r == -1, "size '%s' is refused", s);
}

/* Loads with one environment variable set; the error text. */
static int load_env(const char *name, const char *value, char *err, size_t n)
{
	st__config c;
	setenv(name, value, 1);
	int r = st__config_load(&c, 1, (char *[]){ "streamerd", NULL }, NULL, err, n);
	unsetenv(name);
	if (r == 0)
		st__config_fini(&c);
	return r;
}

int main(void)
{
	setenv("JWT_SECRET", "s", 1);
	setenv("DATABASE_URL", "dbname=x", 1);

	duration("250ms", 0, 250);
	duration("5s", 0, 5000);
	duration("2m", 0, 120000);
	duration("1h", 0, 3600000);
	duration("7d", 0, 604800000);
	duration("1.5s", 0, 1500);
	duration("5", -1, 0);
	duration("s", -1, 0);
	duration("-1s", -1, 0);
	duration("5 s", -1, 0);
	duration("5sec", -1, 0);
	duration("1.s", -1, 0);
	duration("", -1, 0);
	duration("99999999999999999999d", -1, 0);

	size("128KiB", 0, 131072);
	size("4096", 0, 4096);
	size("4MiB", 0, 4194304);
	size("1GiB", 0, 1073741824);
	size("10KB", 0, 10000);
	size("12XB", -1, 0);
	size("KiB", -1, 0);
	size("-1", -1, 0);

	char *host = NULL;
	int port = -1;
	ok(st__parse_listen("127.0.0.1:8080", &host, &port) == 0 && host &&
	   !strcmp(host, "127.0.0.1") && port == 8080, "listen host:port");
	free(host);
	host = NULL;
	ok(st__parse_listen("127.0.0.1:0", &host, &port) == 0 && port == 0,
	   "port 0 means any free port");
	free(host);
	host = NULL;
	ok(st__parse_listen("127.0.0.1:99999", &host, &port) == -1, "port 99999 is refused");
	free(host);
	host = NULL;
	ok(st__parse_listen("127.0.0.1", &host, &port) == -1, "a missing port is refused");
	free(host);

	static const struct { const char *name, *value; } bad[] = {
		{ "STREAMER_LISTEN", "nowhere" },
		{ "STREAMER_ASYNC_THRESHOLD", "soon" },
		{ "STREAMER_WORKERS", "-3" },
		{ "STREAMER_WORKERS", "many" },
		{ "STREAMER_ROLE", "boss" },
		{ "STREAMER_MAX_FRAME", "huge" },
		{ "STREAMER_RESULT_TTL", "forever" },
		{ "LOG_LEVEL", "chatty" },
		{ "JWT_ALG", "none" },
		{ "JWT_ALG", "HS512" },
		{ "JWT_PUBLIC_KEY", "@/nonexistent/key.pem" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[512] = "";
		int r = load_env(bad[i].name, bad[i].value, err, sizeof err);
		ok(r == -1 && strstr(err, bad[i].name),
		   "%s=%s stops start-up naming the setting (%s)", bad[i].name,
		   bad[i].value, err);
	}

	/* A flag wins over the environment. */
	st__config c;
	char err[512] = "";
	setenv("STREAMER_LISTEN", "127.0.0.1:1111", 1);
	int r = st__config_load(&c, 3,
		(char *[]){ "streamerd", "--listen", "127.0.0.1:2222", NULL }, NULL,
		err, sizeof err);
	ok(r == 0 && c.listen_port == 2222, "--listen overrides STREAMER_LISTEN (%s)", err);
	if (r == 0)
		st__config_fini(&c);
	unsetenv("STREAMER_LISTEN");

	r = st__config_load(&c, 2, (char *[]){ "streamerd", "--no-such-flag", NULL },
			    NULL, err, sizeof err);
	ok(r == -1 && strstr(err, "--no-such-flag"), "an unknown flag is an error (%s)", err);

	/* --help: every variable of the configuration table, with a default. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	r = st__config_load(&c, 2, (char *[]){ "streamerd", "--help", NULL }, f, err, sizeof err);
	fclose(f);
	ok(r == 1, "--help is answered");
	static const char *vars[] = {
		"DATABASE_URL", "STREAMER_LISTEN", "JWT_PUBLIC_KEY", "JWT_SECRET",
		"JWT_ALG", "JWT_ISSUER", "JWT_AUDIENCE", "STREAMER_ASYNC_THRESHOLD",
		"STREAMER_WORKERS", "STREAMER_ROLE", "STREAMER_MAX_FRAME",
		"STREAMER_RESULT_TTL", "LOG_LEVEL",
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		ok(text && strstr(text, vars[i]), "--help lists %s", vars[i]);
	ok(text && strstr(text, "127.0.0.1:8080") && strstr(text, "128KiB") &&
	   strstr(text, "7d"), "with the defaults of the spec");
	free(text);
	return done_testing();
}
