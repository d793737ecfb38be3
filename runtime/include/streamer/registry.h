/* registry.h: the registration table streamc generates (gen/registry.c) and
 * the runtime loads: one entry per action, plus the service error codes. */
#ifndef STREAMER_REGISTRY_H
#define STREAMER_REGISTRY_H

#include "streamer/codec.h"

/* One action. Codec and handler pointers take `void *` to the action's
 * generated payload/result structs (thin typed wrappers in registry.c). */
typedef struct st_action {
	const char *name;         /* "generate_report" */
	const char *service;      /* "reports" */
	uint32_t duration_ms;     /* declared duration */
	uint32_t timeout_ms;      /* 0: the runtime's default */
	uint32_t retries;         /* further attempts allowed */
	const char *permission;   /* NULL when none is required */
	const char *const *errors; /* the codes in `errors`, sorted */
	size_t n_errors;
	size_t payload_size, result_size; /* sizeof the generated structs */

	int (*payload_decode_json)(st_json *j, void *out, st_arena *a, st_verr *e);
	int (*payload_decode_fb)(const st_fbr *t, void *out, st_arena *a, st_verr *e);
	void (*payload_encode_json)(const void *in, st_buf *b);
	st_fbref (*payload_encode_fb)(st_fbb *b, const void *in);

	int (*result_decode_json)(st_json *j, void *out, st_arena *a, st_verr *e);
	int (*result_decode_fb)(const st_fbr *t, void *out, st_arena *a, st_verr *e);
	void (*result_encode_json)(const void *in, st_buf *b);
	st_fbref (*result_encode_fb)(st_fbb *b, const void *in);

	/* The user's code (handlers/<service>.c). */
	int (*handler)(st_req *req, const void *payload, void *result);
	int (*validate)(st_req *req, const void *payload); /* NULL unless declared */
} st_action;

/* A service-defined error code. */
typedef struct st_error_def {
	const char *code;
	const char *message;
	bool retryable;
} st_error_def;

typedef struct st_registry {
	const st_action *actions; /* sorted by name (strcmp) */
	size_t n_actions;
	const st_error_def *errors; /* all services' codes, sorted */
	size_t n_errors;
} st_registry;

/* Defined by gen/registry.c. */
extern const st_registry st_registry_main;

#endif
