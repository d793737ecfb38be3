/* token.c: `streamer-cli token`: prints a signed JWT for streamerd (and,
 * for tests, deliberately broken ones). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include "token.h"

#define KEY_MAX (64 * 1024)
#define PERMS_MAX 256
#define AUDS_MAX 16

static int token_usage(FILE *out)
{
	fprintf(out,
		"usage: streamer-cli token --alg HS256|RS256|ES256|none\n"
		"           (--secret S | --secret @FILE | --key PEMFILE)\n"
		"           [--sub U] [--tenant T] [--perm P]... [--exp SECONDS | --no-exp]\n"
		"           [--nbf SECONDS] [--iss I] [--aud A]... [--pad BYTES]\n"
		"  Prints a JWT. --exp and --nbf are relative to now (negative: past);\n"
		"  --exp defaults to 3600. --pad adds a claim of BYTES characters.\n");
	return out == stdout ? 0 : 2;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "streamer-cli: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(KEY_MAX + 1);
	size_t n = buf ? fread(buf, 1, KEY_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n == 0 || n > KEY_MAX) {
		fprintf(stderr, "streamer-cli: %s is empty or too large\n", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end)
		return -1;
	*out = v;
	return 0;
}

/* `streamer-cli token ...`: argv holds the arguments after `token`.
 * Prints the JWT; returns the exit status (0, 1 on failure, 2 usage). */
int cli_token_main(int argc, char **argv)
{
	const char *alg_s = NULL, *secret = NULL, *keyfile = NULL, *sub = NULL,
		   *tenant = NULL, *iss = NULL;
	const char *perms[PERMS_MAX], *auds[AUDS_MAX];
	int n_perms = 0, n_auds = 0, no_exp = 0, has_nbf = 0;
	long exp_s = 3600, nbf_s = 0, pad = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
		if (ARG("--alg")) alg_s = v;
		else if (ARG("--secret")) secret = v;
		else if (ARG("--key")) keyfile = v;
		else if (ARG("--sub")) sub = v;
		else if (ARG("--tenant")) tenant = v;
		else if (ARG("--iss")) iss = v;
		else if (ARG("--perm")) {
			if (n_perms == PERMS_MAX)
				return token_usage(stderr);
			perms[n_perms++] = v;
		} else if (ARG("--aud")) {
			if (n_auds == AUDS_MAX)
				return token_usage(stderr);
			auds[n_auds++] = v;
		} else if (ARG("--exp")) {
			if (parse_long(v, &exp_s) < 0)
				return token_usage(stderr);
		} else if (ARG("--nbf")) {
			if (parse_long(v, &nbf_s) < 0)
				return token_usage(stderr);
			has_nbf = 1;
		} else if (ARG("--pad")) {
			if (parse_long(v, &pad) < 0 || pad < 0 || pad > 1 << 20)
				return token_usage(stderr);
		} else if (!strcmp(a, "--no-exp")) no_exp = 1;
		else if (!strcmp(a, "--help")) return token_usage(stdout);
		else {
			fprintf(stderr, "streamer-cli: unknown or incomplete argument '%s'\n", a);
			return token_usage(stderr);
		}
#undef ARG
	}
	if (!alg_s)
		return token_usage(stderr);
	jwt_alg_t alg = !strcmp(alg_s, "none") ? JWT_ALG_NONE : jwt_str_alg(alg_s);
	if (alg == JWT_ALG_INVAL) {
		fprintf(stderr, "streamer-cli: unknown algorithm '%s'\n", alg_s);
		return 2;
	}
	char *key = NULL;
	size_t keylen = 0;
	if (alg != JWT_ALG_NONE) {
		if (keyfile) {
			key = read_file(keyfile, &keylen);
		} else if (secret && secret[0] == '@') {
			key = read_file(secret + 1, &keylen);
		} else if (secret) {
			key = strdup(secret);
			keylen = strlen(secret);
		} else {
			fprintf(stderr, "streamer-cli: --secret or --key is required\n");
			return 2;
		}
		if (!key)
			return 1;
	}

	int rc = 1;
	jwt_t *j = NULL;
	char *pad_s = NULL, *out = NULL;
	time_t now = time(NULL);
	if (jwt_new(&j) != 0)
		goto done;
	if (sub && jwt_add_grant(j, "sub", sub))
		goto done;
	if (tenant && jwt_add_grant(j, "tenant_id", tenant))
		goto done;
	if (iss && jwt_add_grant(j, "iss", iss))
		goto done;
	jwt_add_grant_int(j, "iat", now);
	if (!no_exp && jwt_add_grant_int(j, "exp", now + exp_s))
		goto done;
	if (has_nbf && jwt_add_grant_int(j, "nbf", now + nbf_s))
		goto done;
	json_t *o = json_object();
	if (n_perms) {
		json_t *arr = json_array();
		for (int i = 0; i < n_perms; i++)
			json_array_append_new(arr, json_string(perms[i]));
		json_object_set_new(o, "permissions", arr);
	}
	if (n_auds == 1) {
		json_object_set_new(o, "aud", json_string(auds[0]));
	} else if (n_auds > 1) {
		json_t *arr = json_array();
		for (int i = 0; i < n_auds; i++)
			json_array_append_new(arr, json_string(auds[i]));
		json_object_set_new(o, "aud", arr);
	}
	if (pad) {
		pad_s = malloc((size_t)pad + 1);
		if (!pad_s) {
			json_decref(o);
			goto done;
		}
		memset(pad_s, 'x', (size_t)pad);
		pad_s[pad] = '\0';
		json_object_set_new(o, "pad", json_string(pad_s));
	}
	char *extra = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!extra)
		goto done;
	if (strcmp(extra, "{}") != 0 && jwt_add_grants_json(j, extra) != 0) {
		free(extra);
		goto done;
	}
	free(extra);
	if (jwt_set_alg(j, alg, (const unsigned char *)key, (int)keylen) != 0) {
		fprintf(stderr, "streamer-cli: the key does not suit %s\n", alg_s);
		goto done;
	}
	out = jwt_encode_str(j);
	if (!out) {
		fprintf(stderr, "streamer-cli: cannot sign (is the key a private key for %s?)\n",
			alg_s);
		goto done;
	}
	printf("%s\n", out);
	rc = 0;
done:
	if (rc && !out)
		fprintf(stderr, "streamer-cli: token: failed\n");
	free(out);
	jwt_free(j);
	free(pad_s);
	if (key)
		memset(key, 0, keylen);
	free(key);
	return rc;
}
