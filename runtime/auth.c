/* auth.c: JWT verification. libjwt checks the signature; everything it
 * leaves open (PLATFORM.md) is closed here: the algorithm is pinned before
 * and after decoding, exp is required, nbf/iss/aud are checked, claims are
 * typed. */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"

struct st__auth {
	st__alg alg;
	jwt_alg_t jalg;
	const char *alg_name;
	unsigned char *key;
	int keylen;
	char *issuer, *audience;
	int64_t leeway;
};

const char *st__auth_reason_label(st__auth_reason r)
{
	static const char *const labels[] = {
		"ok",
#define ST__AUTH_LABEL(name, label) label,
		ST__AUTH_REASONS(ST__AUTH_LABEL)
#undef ST__AUTH_LABEL
	};
	return r < ST__AUTH_N ? labels[r] : "?";
}

/* Why the PEM public key `pem` cannot verify `alg` tokens, or NULL. It is
 * read as libjwt reads it (PEM_read_bio_PUBKEY), so that a key libjwt
 * would refuse on every connection stops start-up instead. This also
 * loads OpenSSL's configuration now rather than in the first handshake. */
static const char *key_problem(const char *pem, st__alg alg)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	const char *why = NULL;
	char group[64] = "";
	if (!k)
		why = "JWT_PUBLIC_KEY does not parse as a PEM public key"
		      " (-----BEGIN PUBLIC KEY-----)";
	else if (alg == ST__ALG_RS256 && EVP_PKEY_base_id(k) != EVP_PKEY_RSA)
		why = "JWT_PUBLIC_KEY is not an RSA key, as JWT_ALG=RS256 needs";
	else if (alg == ST__ALG_ES256 &&
		 (EVP_PKEY_base_id(k) != EVP_PKEY_EC ||
		  !EVP_PKEY_get_group_name(k, group, sizeof group, NULL) ||
		  strcmp(group, "prime256v1") != 0))
		why = "JWT_PUBLIC_KEY is not an EC P-256 key, as JWT_ALG=ES256 needs";
	EVP_PKEY_free(k);
	ERR_clear_error();
	return why;
}

st__auth *st__auth_create(const st__config *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "out of memory");
	if (c->jwt_alg != ST__ALG_HS256 && c->jwt_public_key) {
		const char *why = key_problem(c->jwt_public_key, c->jwt_alg);
		if (why) {
			snprintf(err, errlen, "%s", why);
			return NULL;
		}
	}
	st__auth *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->alg = c->jwt_alg;
	const char *k = c->jwt_alg == ST__ALG_HS256 ? c->jwt_secret : c->jwt_public_key;
	switch (c->jwt_alg) {
	case ST__ALG_HS256: a->jalg = JWT_ALG_HS256; a->alg_name = "HS256"; break;
	case ST__ALG_RS256: a->jalg = JWT_ALG_RS256; a->alg_name = "RS256"; break;
	case ST__ALG_ES256: a->jalg = JWT_ALG_ES256; a->alg_name = "ES256"; break;
	}
	if (!k || !*k)
		goto fail;
	a->keylen = (int)strlen(k);
	a->key = (unsigned char *)strdup(k);
	if (!a->key)
		goto fail;
	if (c->jwt_issuer && !(a->issuer = strdup(c->jwt_issuer)))
		goto fail;
	if (c->jwt_audience && !(a->audience = strdup(c->jwt_audience)))
		goto fail;
	a->leeway = c->jwt_leeway_s;
	return a;
fail:
	st__auth_free(a);
	return NULL;
}

void st__auth_free(st__auth *a)
{
	if (!a)
		return;
	if (a->key)
		memset(a->key, 0, (size_t)a->keylen);
	free(a->key);
	free(a->issuer);
	free(a->audience);
	free(a);
}

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '-') return 62;
	if (c == '_') return 63;
	return -1;
}

/* base64url without padding into out (at least len*3/4+1 bytes); the
 * number of bytes, or -1. */
static long b64url_decode(const char *s, size_t len, unsigned char *out)
{
	if (len % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

/* A base64url part that decodes to a JSON object. NULL otherwise. */
static json_t *part_json(const char *s, size_t len)
{
	unsigned char buf[ST__TOKEN_MAX];
	long n = b64url_decode(s, len, buf);
	if (n <= 0)
		return NULL;
	json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static char *claim_str(json_t *payload, const char *name)
{
	json_t *v = json_object_get(payload, name);
	if (!json_is_string(v))
		return NULL;
	size_t n = json_string_length(v);
	if (n == 0 || n > ST__CLAIM_MAX || memchr(json_string_value(v), 0, n))
		return NULL;
	return strdup(json_string_value(v));
}

/* NumericDate: integer or real seconds. -1 when absent, -2 when not a
 * number. */
static int numeric_date(json_t *payload, const char *name, int64_t *out)
{
	json_t *v = json_object_get(payload, name);
	if (!v)
		return -1;
	if (json_is_integer(v))
		*out = (int64_t)json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) > -9e15 && json_real_value(v) < 9e15)
		*out = (int64_t)json_real_value(v);
	else
		return -2;
	return 0;
}

st__auth_reason st__auth_verify(const st__auth *a, const char *token,
				size_t len, int64_t now, st__claims *out)
{
	memset(out, 0, sizeof *out);
	if (len == 0)
		return ST__AUTH_MISSING;
	if (len > ST__TOKEN_MAX)
		return ST__AUTH_TOO_LARGE;
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return ST__AUTH_MALFORMED;

	st__auth_reason r = ST__AUTH_MALFORMED;
	json_t *hdr = part_json(token, (size_t)(d1 - token));
	json_t *pl = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	char tok[ST__TOKEN_MAX + 1];
	jwt_t *j = NULL;
	if (!hdr || !pl)
		goto done;
	/* Pinned before libjwt sees it: libjwt would take the token's word. */
	json_t *alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), a->alg_name) != 0) {
		r = ST__AUTH_ALGORITHM;
		goto done;
	}
	memcpy(tok, token, len);
	tok[len] = '\0';
	if (jwt_decode(&j, tok, a->key, a->keylen) != 0 || !j) {
		r = ST__AUTH_SIGNATURE;
		goto done;
	}
	if (jwt_get_alg(j) != a->jalg) { /* and after */
		r = ST__AUTH_ALGORITHM;
		goto done;
	}

	/* The signature covers header.payload: `pl` is what was signed. */
	int64_t exp, nbf;
	int rc = numeric_date(pl, "exp", &exp);
	if (rc < 0) {
		r = ST__AUTH_CLAIMS;
		goto done;
	}
	if (now - a->leeway >= exp) {
		r = ST__AUTH_EXPIRED;
		goto done;
	}
	rc = numeric_date(pl, "nbf", &nbf);
	if (rc == -2) {
		r = ST__AUTH_CLAIMS;
		goto done;
	}
	if (rc == 0 && now + a->leeway < nbf) {
		r = ST__AUTH_NOT_YET_VALID;
		goto done;
	}
	if (a->issuer) {
		json_t *iss = json_object_get(pl, "iss");
		if (!json_is_string(iss) || strcmp(json_string_value(iss), a->issuer) != 0) {
			r = ST__AUTH_ISSUER;
			goto done;
		}
	}
	if (a->audience) {
		json_t *aud = json_object_get(pl, "aud");
		bool found = false;
		if (json_is_string(aud)) {
			found = !strcmp(json_string_value(aud), a->audience);
		} else if (json_is_array(aud)) {
			size_t i;
			json_t *v;
			json_array_foreach(aud, i, v)
				if (json_is_string(v) && !strcmp(json_string_value(v), a->audience))
					found = true;
		}
		if (!found) {
			r = ST__AUTH_AUDIENCE;
			goto done;
		}
	}
	r = ST__AUTH_CLAIMS;
	out->exp = exp;
	if (!(out->sub = claim_str(pl, "sub")) ||
	    !(out->tenant_id = claim_str(pl, "tenant_id")))
		goto done;
	json_t *perms = json_object_get(pl, "permissions");
	if (perms) {
		if (!json_is_array(perms) || json_array_size(perms) > ST__PERMS_MAX)
			goto done;
		size_t n = json_array_size(perms);
		out->perms = calloc(n ? n : 1, sizeof *out->perms);
		if (!out->perms)
			goto done;
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(perms, i);
			if (!json_is_string(v) || json_string_length(v) > ST__CLAIM_MAX)
				goto done;
			if (!(out->perms[out->n_perms] = strdup(json_string_value(v))))
				goto done;
			out->n_perms++;
		}
	}
	r = ST__AUTH_OK;
done:
	if (j)
		jwt_free(j);
	json_decref(hdr);
	json_decref(pl);
	if (r != ST__AUTH_OK)
		st__claims_fini(out);
	return r;
}

void st__claims_fini(st__claims *c)
{
	free(c->sub);
	free(c->tenant_id);
	for (size_t i = 0; i < c->n_perms; i++)
		free(c->perms[i]);
	free(c->perms);
	memset(c, 0, sizeof *c);
}

int st__claims_has(const st__claims *c, const char *perm)
{
	for (size_t i = 0; i < c->n_perms; i++)
		if (!strcmp(c->perms[i], perm))
			return 1;
	return 0;
}
