/* auth.h: JWT verification for the WebSocket handshake. */
#ifndef STREAMER_AUTH_H
#define STREAMER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Tokens longer than this are refused without being parsed. */
#define ST__TOKEN_MAX 8192
#define ST__CLAIM_MAX 256   /* bytes in sub, tenant_id, one permission */
#define ST__PERMS_MAX 256   /* permissions kept per token */

/* Why a handshake was refused: X(name, label in /metrics). */
#define ST__AUTH_REASONS(X)                  \
	X(MISSING, "missing")                \
	X(TOO_LARGE, "too_large")            \
	X(MALFORMED, "malformed")            \
	X(ALGORITHM, "algorithm")            \
	X(SIGNATURE, "signature")            \
	X(EXPIRED, "expired")                \
	X(NOT_YET_VALID, "not_yet_valid")    \
	X(ISSUER, "issuer")                  \
	X(AUDIENCE, "audience")              \
	X(CLAIMS, "claims")                  \
	X(DRAINING, "draining")

typedef enum st__auth_reason {
	ST__AUTH_OK = 0,
#define ST__AUTH_ENUM(name, label) ST__AUTH_##name,
	ST__AUTH_REASONS(ST__AUTH_ENUM)
#undef ST__AUTH_ENUM
	ST__AUTH_N
} st__auth_reason;

const char *st__auth_reason_label(st__auth_reason r);

/* Who the token says the client is. Owned (st__claims_fini). */
typedef struct st__claims {
	char *sub, *tenant_id;
	char **perms;
	size_t n_perms;
	int64_t exp;
} st__claims;

typedef struct st__auth st__auth;

/* Borrows nothing from `c` after the call (keys are copied). A public key
 * must parse and suit the algorithm (an RSA key for RS256, a P-256 key for
 * ES256): else NULL, with why in err, as on OOM. */
st__auth *st__auth_create(const st__config *c, char *err, size_t errlen);
void st__auth_free(st__auth *a);

/* Verifies `token` (len bytes, need not be NUL-terminated) at time `now`
 * (Unix seconds). Returns ST__AUTH_OK and fills `out`, or a reason.
 * Thread-safe. */
st__auth_reason st__auth_verify(const st__auth *a, const char *token,
				size_t len, int64_t now, st__claims *out);
void st__claims_fini(st__claims *c);

/* True when the claims grant `perm`. */
int st__claims_has(const st__claims *c, const char *perm);

#endif
