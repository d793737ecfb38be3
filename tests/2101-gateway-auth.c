/* The handshake: a real streamerd, real keys (openssl), real tokens
 * (streamer-cli): every refusal is HTTP 401 before the upgrade, counted in
 * /metrics, logged without the token, and leaves no connection row. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "wsclient.h"

static const char *build, *tmp;
static char cli[512];

static char *token(const char *args)
{
	char *t = sh_line("%s token %s", cli, args);
	if (!t)
		BAIL_OUT("streamer-cli token %s failed", args);
	return t;
}

/* The upgrade's HTTP status with the token in the query. */
static int try_query(int port, const char *tok, bool bearer)
{
	size_t n = strlen(tok) + 64;
	char *target = malloc(n);
	snprintf(target, n, "/?Authorization=%s%s", bearer ? "Bearer%20" : "", tok);
	wsc c;
	int st = wsc_connect(&c, port, target, NULL, 0);
	if (st == 101)
		wsc_close(&c);
	free(target);
	return st;
}

static int try_header(int port, const char *tok)
{
	size_t n = strlen(tok) + 64;
	char *h = malloc(n);
	snprintf(h, n, "Authorization: Bearer %s\r\n", tok);
	wsc c;
	int st = wsc_connect(&c, port, "/ws", h, 0);
	if (st == 101)
		wsc_close(&c);
	free(h);
	return st;
}

static long rows(const char *sql)
{
	char *v = sh_line("psql -XAtq -c \"%s\"", sql);
	long n = v ? atol(v) : -1;
	free(v);
	return n;
}


int main(void)
{
	build = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	tmp = getenv("ST_TMP");
	if (!tmp || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
	snprintf(cli, sizeof cli, "%s/streamer-cli", build);
	char srvbin[512];
	snprintf(srvbin, sizeof srvbin, "%s/tests/lib/fakesrv", build);

	/* Real keys. */
	char *r = sh_line("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null"
			  " && openssl pkey -in rsa.pem -pubout -out rsa.pub"
			  " && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null"
			  " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null"
			  " && openssl pkey -in ec.pem -pubout -out ec.pub"
			  " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem 2>/dev/null"
			  " && openssl pkey -in ec384.pem -pubout -out ec384.pub"
			  " && printf -- '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n' > bad.pub"
			  " && echo done", tmp);
	if (!r || strcmp(r, "done"))
		BAIL_OUT("openssl could not make keys");
	free(r);

	char env_key[600];
	snprintf(env_key, sizeof env_key, "JWT_PUBLIC_KEY=@%s/rsa.pub", tmp);
	const char *env[] = { env_key, "JWT_ALG=RS256", "JWT_ISSUER=https://issuer.test",
			      "JWT_AUDIENCE=streamer", NULL };
	tsrv s;
	if (tsrv_start(&s, srvbin, env) < 0)
		BAIL_OUT("the server did not start");
	ok(s.port > 0, "the server logs the port it picked (%d)", s.port);

	char base[1024], args[2048];
	snprintf(base, sizeof base, "--alg RS256 --key %s/rsa.pem --iss https://issuer.test --aud streamer", tmp);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme", base);
	char *good = token(args);

	is_int(try_query(s.port, good, true), 101, "query Authorization=Bearer%%20<jwt> upgrades");
	is_int(try_query(s.port, good, false), 101, "query Authorization=<jwt> upgrades");
	is_int(try_header(s.port, good), 101, "header Authorization: Bearer <jwt> upgrades");

	/* A connection is recorded while open, removed on close. */
	{
		wsc c;
		char target[4096];
		snprintf(target, sizeof target, "/?Authorization=%s", good);
		int st = wsc_connect(&c, s.port, target, NULL, 0);
		long n = 0;
		/* The rows are written by a thread of their own, in batches:
		 * the three connections above may still be going away. */
		for (int i = 0; i < 500 && n != 1; i++, usleep(20000))
			n = rows("SELECT count(*) FROM streamer.connections WHERE user_id = 'alice' AND tenant_id = 'acme'");
		ok(st == 101 && n == 1, "an open connection has its row (%ld)", n);
		if (st == 101)
			wsc_close(&c);
		for (int i = 0; i < 500 && n != 0; i++, usleep(20000))
			n = rows("SELECT count(*) FROM streamer.connections");
		is_int(n, 0, "and the row goes when it closes");
	}

	long before = rows("SELECT count(*) FROM streamer.connections");

	/* Every refusal. */
	wsc c;
	is_int(wsc_connect(&c, s.port, "/", NULL, 0), 401, "no token: 401");
	is_int(try_query(s.port, "abc", true), 401, "malformed token: 401");
	is_int(try_query(s.port, "a.b.c", true), 401, "three garbage parts: 401");
	{
		char *bad = strdup(good);
		char *sig = strrchr(bad, '.') + 5;
		*sig = *sig == 'A' ? 'B' : 'A';
		is_int(try_query(s.port, bad, true), 401, "bad signature: 401");
		free(bad);
	}
	char *t;
	snprintf(args, sizeof args, "--alg RS256 --key %s/other.pem --iss https://issuer.test --aud streamer --sub alice --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "signed with another key: 401");
	free(t);
	snprintf(args, sizeof args, "--alg HS256 --secret @%s/rsa.pub --iss https://issuer.test --aud streamer --sub alice --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "HS256 signed with the RSA public key (alg confusion): 401");
	free(t);
	t = token("--alg none --iss https://issuer.test --aud streamer --sub alice --tenant acme");
	is_int(try_query(s.port, t, true), 401, "alg none: 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --exp -3600", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "expired: 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --no-exp", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "no exp: 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --nbf 3600", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "not yet valid (nbf in an hour): 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --nbf 5", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 101, "nbf a few seconds ahead is within the leeway");
	free(t);
	snprintf(args, sizeof args, "--alg RS256 --key %s/rsa.pem --iss https://evil.test --aud streamer --sub alice --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "wrong issuer: 401");
	free(t);
	snprintf(args, sizeof args, "--alg RS256 --key %s/rsa.pem --iss https://issuer.test --aud other --sub alice --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "wrong audience: 401");
	free(t);
	snprintf(args, sizeof args, "--alg RS256 --key %s/rsa.pem --iss https://issuer.test --aud other --aud streamer --sub alice --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 101, "audience array containing ours upgrades");
	free(t);
	snprintf(args, sizeof args, "%s --tenant acme", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "missing sub: 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "missing tenant_id: 401");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --pad 5000", base);
	t = token(args);
	ok(strlen(t) > 4096, "a token over 4 KiB (%zu bytes)", strlen(t));
	is_int(try_query(s.port, t, true), 101, "is accepted from the query (header space raised)");
	is_int(try_header(s.port, t), 101, "and from the header");
	free(t);
	snprintf(args, sizeof args, "%s --sub alice --tenant acme --pad 9000", base);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "a token over the 8 KiB cap: 401 (%zu bytes)", strlen(t));
	is_int(try_header(s.port, t), 401, "also from the header");
	free(t);

	is_int(rows("SELECT count(*) FROM streamer.connections"), before,
	       "refused handshakes leave no connection row");
	ok(http_metric(s.port, "streamer_handshakes_rejected_total{reason=\"missing\"}") == 1,
	   "/metrics counts the missing token");
	ok(http_metric(s.port, "streamer_handshakes_rejected_total{reason=\"algorithm\"}") == 2,
	   "and both algorithm refusals");
	ok(http_metric(s.port, "streamer_handshakes_rejected_total{reason=\"expired\"}") == 1,
	   "and the expired one");
	ok(http_metric(s.port, "streamer_handshakes_rejected_total{reason=\"too_large\"}") == 2,
	   "and the oversized ones");
	ok(tsrv_log_has(&s, "\"reason\":\"signature\""), "refusals are logged with a reason");
	{
		char needle[64];
		snprintf(needle, sizeof needle, "%.40s", strrchr(good, '.') + 1);
		ok(!tsrv_log_has(&s, needle) && !tsrv_log_has(&s, "eyJ"),
		   "the log never contains a token");
	}
	is_int(tsrv_stop(&s), 0, "SIGTERM: the server drains and exits 0");
	free(good);

	/* ES256, and an RS256 token refused by it. */
	snprintf(env_key, sizeof env_key, "JWT_PUBLIC_KEY=@%s/ec.pub", tmp);
	const char *env2[] = { env_key, "JWT_ALG=ES256", NULL };
	if (tsrv_start(&s, srvbin, env2) < 0)
		BAIL_OUT("the ES256 server did not start");
	snprintf(args, sizeof args, "--alg ES256 --key %s/ec.pem --sub bob --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 101, "ES256 token upgrades on an ES256 server");
	free(t);
	snprintf(args, sizeof args, "--alg RS256 --key %s/rsa.pem --sub bob --tenant acme", tmp);
	t = token(args);
	is_int(try_query(s.port, t, true), 401, "an RS256 token does not");
	free(t);
	is_int(tsrv_stop(&s), 0, "stops cleanly");

	/* HS256. */
	const char *env3[] = { "JWT_SECRET=s3cret-for-tests", NULL };
	if (tsrv_start(&s, srvbin, env3) < 0)
		BAIL_OUT("the HS256 server did not start");
	t = token("--alg HS256 --secret s3cret-for-tests --sub carol --tenant acme");
	is_int(try_query(s.port, t, true), 101, "HS256 token upgrades with JWT_SECRET alone");
	free(t);
	t = token("--alg HS256 --secret wrong --sub carol --tenant acme");
	is_int(try_query(s.port, t, true), 401, "a wrong secret does not");
	free(t);

	/* A second server on the same port does not start, and says why. */
	char busy[64];
	snprintf(busy, sizeof busy, "STREAMER_LISTEN=127.0.0.1:%d", s.port);
	const char *env4[] = { "JWT_SECRET=s3cret-for-tests", busy, NULL };
	tsrv s2;
	ok(tsrv_start(&s2, srvbin, env4) < 0, "a port in use: a second server does not start");
	ok(tsrv_log_has(&s2, "cannot listen on 127.0.0.1:"), "and its log says so");

	/* A public key that cannot verify the configured algorithm stops
	 * start-up (libjwt would refuse every token), saying why. */
	static const struct { const char *alg, *file, *says, *what; } keys[] = {
		{ "RS256", "ec.pub", "is not an RSA key", "an EC key for RS256" },
		{ "ES256", "rsa.pub", "is not an EC P-256 key", "an RSA key for ES256" },
		{ "ES256", "ec384.pub", "is not an EC P-256 key", "a P-384 key for ES256" },
		{ "RS256", "bad.pub", "does not parse as a PEM public key", "a PEM block that is no key" },
	};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		char alg[32], key[600];
		snprintf(alg, sizeof alg, "JWT_ALG=%s", keys[k].alg);
		snprintf(key, sizeof key, "JWT_PUBLIC_KEY=@%s/%s", tmp, keys[k].file);
		const char *envk[] = { alg, key, NULL };
		tsrv sk;
		ok(tsrv_start(&sk, srvbin, envk) < 0, "%s: the server does not start", keys[k].what);
		ok(tsrv_log_has(&sk, keys[k].says), "  and its log says the key %s", keys[k].says);
	}
	is_int(tsrv_stop(&s), 0, "stops cleanly");
	return done_testing();
}
