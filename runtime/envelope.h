/* envelope.h: the FlatBuffers Envelope of binary frames (gen/streamer.fbs,
 * file identifier "STRM"), read and written by hand over codec.h. The slot
 * numbers below are the `id` attributes of gen/streamer.fbs (written by
 * codegen/emit_fbs.c's emit_envelope); tests/2104 checks both against
 * flatc. */
#ifndef STREAMER_ENVELOPE_H
#define STREAMER_ENVELOPE_H

#include "streamer/codec.h"

#define ST__ENV_IDENT "STRM"

/* enum MessageType : ubyte */
typedef enum st__env_type {
	ST__ENV_REQUEST = 0,
	ST__ENV_CANCEL = 1,
	ST__ENV_STATUS = 2,
	ST__ENV_LIST = 3,
	ST__ENV_PING = 4,
	ST__ENV_RESPONSE = 5,
	ST__ENV_ACK = 6,
	ST__ENV_PROGRESS = 7,
	ST__ENV_COMPLETE = 8,
	ST__ENV_ERROR = 9,
	ST__ENV_PONG = 10,
} st__env_type;

/* table Envelope */
enum {
	ST__ENV_F_TYPE = 0, ST__ENV_F_ID = 1, ST__ENV_F_REQUEST_ID = 2,
	ST__ENV_F_ACTION = 3, ST__ENV_F_PAYLOAD = 4, ST__ENV_F_PERCENTAGE = 5,
	ST__ENV_F_MESSAGE = 6, ST__ENV_F_TIMESTAMP = 7, ST__ENV_F_SUCCESS = 8,
	ST__ENV_F_ERROR = 9, ST__ENV_F_STATUS = 10,
	ST__ENV_F_ESTIMATED_DURATION_MS = 11, ST__ENV_F_DATA = 12,
	ST__ENV_F_METADATA = 13,
	ST__ENV_NFIELDS = 14,
};
/* table ErrorInfo */
enum {
	ST__ERR_F_CODE = 0, ST__ERR_F_MESSAGE = 1, ST__ERR_F_FIELD = 2,
	ST__ERR_F_RETRY_AFTER_MS = 3, ST__ERR_F_DETAILS = 4,
	ST__ERR_NFIELDS = 5,
};
/* table RequestState */
enum {
	ST__RS_F_REQUEST_ID = 0, ST__RS_F_ACTION = 1, ST__RS_F_STATUS = 2,
	ST__RS_F_PERCENTAGE = 3, ST__RS_F_MESSAGE = 4, ST__RS_F_ATTEMPTS = 5,
	ST__RS_F_CREATED_AT = 6, ST__RS_F_RESULT = 7, ST__RS_F_ERROR = 8,
	ST__RS_F_ID = 9,
	ST__RS_NFIELDS = 10,
};

/* Strings are absent when ptr is NULL; decoded ones point into the buffer
 * (NUL-terminated, valid UTF-8). */
typedef struct st__env_error {
	st_str code, message, field, details;
	bool has_retry_after_ms;
	int64_t retry_after_ms;
} st__env_error;

typedef struct st__env_state {
	st_str request_id, action, status, message, id;
	double percentage;
	int32_t attempts;
	int64_t created_at;        /* Unix ms */
	bool has_result;
	st_bytes result;           /* nested <Action>Result buffer */
	const st__env_error *error; /* NULL when absent */
} st__env_state;

typedef struct st__env {
	st__env_type type;         /* any ubyte when decoded: check it */
	st_str id, request_id, action, message, status, metadata;
	bool has_payload;
	st_bytes payload;          /* nested <Action>Payload/Result buffer */
	double percentage;
	int64_t timestamp;         /* Unix ms */
	bool success;
	int64_t estimated_duration_ms;
	const st__env_error *error; /* NULL when absent */
	bool has_data;
	const st__env_state *data; /* n_data items (from `a` when decoded) */
	size_t n_data;
} st__env;

/* Verifies `buf` as an Envelope (identifier "STRM") while reading every
 * field into `out`: 0, or -1 with the reason and field path in `e`. The
 * error and data tables are allocated from `a`; strings and bytes point
 * into `buf`, which must outlive `out`. Never reads outside `buf`. */
int st__env_decode(const uint8_t *buf, size_t len, st_arena *a, st__env *out,
		   st_verr *e);

/* Builds `in` into `b` (reset first) and finishes it with "STRM": 0 and
 * the bytes (valid until `b` changes), or -1 when over b's maximum. */
int st__env_encode(st_fbb *b, const st__env *in, const uint8_t **data,
		   size_t *len);

#endif
