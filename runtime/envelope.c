/* envelope.c: the binary frame's Envelope, read (checked) and written. */
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

/* --- reading -------------------------------------------------------------- */

/* An optional string: absent leaves *out {NULL, 0}. */
static int rd_str(const st_fbr *t, int slot, st_str *out, const char *name,
		  st_verr *e)
{
	*out = (st_str){ NULL, 0 };
	if (st_fbr_str(t, slot, out, NULL, e) < 0)
		return st_verr_in_field(e, name);
	return 0;
}

static int rd_error(const st_fbr *parent, int slot, st_arena *a,
		    const st__env_error **out, st_verr *e)
{
	st_fbr t;
	*out = NULL;
	int r = st_fbr_table(parent, slot, &t, e);
	if (r <= 0)
		return r < 0 ? st_verr_in_field(e, "error") : 0;
	st__env_error *er = st_arena_alloc(a, sizeof *er);
	if (!er)
		return st_verr_set(e, "the message is too large");
	if (rd_str(&t, ST__ERR_F_CODE, &er->code, "code", e) < 0 ||
	    rd_str(&t, ST__ERR_F_MESSAGE, &er->message, "message", e) < 0 ||
	    rd_str(&t, ST__ERR_F_FIELD, &er->field, "field", e) < 0 ||
	    rd_str(&t, ST__ERR_F_DETAILS, &er->details, "details", e) < 0)
		return st_verr_in_field(e, "error");
	er->has_retry_after_ms = st_fbr_has(&t, ST__ERR_F_RETRY_AFTER_MS);
	if (st_fbr_i64(&t, ST__ERR_F_RETRY_AFTER_MS, 0, &er->retry_after_ms, e) < 0) {
		st_verr_in_field(e, "retry_after_ms");
		return st_verr_in_field(e, "error");
	}
	*out = er;
	return 0;
}

static int rd_state(const st_fbr *t, st_arena *a, st__env_state *s, st_verr *e)
{
	if (rd_str(t, ST__RS_F_REQUEST_ID, &s->request_id, "request_id", e) < 0 ||
	    rd_str(t, ST__RS_F_ACTION, &s->action, "action", e) < 0 ||
	    rd_str(t, ST__RS_F_STATUS, &s->status, "status", e) < 0 ||
	    rd_str(t, ST__RS_F_MESSAGE, &s->message, "message", e) < 0 ||
	    rd_str(t, ST__RS_F_ID, &s->id, "id", e) < 0)
		return -1;
	if (st_fbr_f64(t, ST__RS_F_PERCENTAGE, 0, &s->percentage, e) < 0)
		return st_verr_in_field(e, "percentage");
	if (st_fbr_i32(t, ST__RS_F_ATTEMPTS, 0, &s->attempts, e) < 0)
		return st_verr_in_field(e, "attempts");
	if (st_fbr_i64(t, ST__RS_F_CREATED_AT, 0, &s->created_at, e) < 0)
		return st_verr_in_field(e, "created_at");
	int r = st_fbr_bytes(t, ST__RS_F_RESULT, &s->result, e);
	if (r < 0)
		return st_verr_in_field(e, "result");
	s->has_result = r == 1;
	return rd_error(t, ST__RS_F_ERROR, a, &s->error, e);
}

int st__env_decode(const uint8_t *buf, size_t len, st_arena *a, st__env *out,
		   st_verr *e)
{
	st_fbr t;
	memset(out, 0, sizeof *out);
	if (st_fbr_root(buf, len, ST__ENV_IDENT, &t, e) < 0)
		return -1;
	uint8_t type;
	if (st_fbr_u8(&t, ST__ENV_F_TYPE, ST__ENV_REQUEST, &type, e) < 0)
		return st_verr_in_field(e, "type");
	out->type = (st__env_type)type;
	if (rd_str(&t, ST__ENV_F_ID, &out->id, "id", e) < 0 ||
	    rd_str(&t, ST__ENV_F_REQUEST_ID, &out->request_id, "request_id", e) < 0 ||
	    rd_str(&t, ST__ENV_F_ACTION, &out->action, "action", e) < 0 ||
	    rd_str(&t, ST__ENV_F_MESSAGE, &out->message, "message", e) < 0 ||
	    rd_str(&t, ST__ENV_F_STATUS, &out->status, "status", e) < 0 ||
	    rd_str(&t, ST__ENV_F_METADATA, &out->metadata, "metadata", e) < 0)
		return -1;
	int r = st_fbr_bytes(&t, ST__ENV_F_PAYLOAD, &out->payload, e);
	if (r < 0)
		return st_verr_in_field(e, "payload");
	out->has_payload = r == 1;
	if (st_fbr_f64(&t, ST__ENV_F_PERCENTAGE, 0, &out->percentage, e) < 0)
		return st_verr_in_field(e, "percentage");
	if (st_fbr_i64(&t, ST__ENV_F_TIMESTAMP, 0, &out->timestamp, e) < 0)
		return st_verr_in_field(e, "timestamp");
	if (st_fbr_bool(&t, ST__ENV_F_SUCCESS, false, &out->success, e) < 0)
		return st_verr_in_field(e, "success");
	if (st_fbr_i64(&t, ST__ENV_F_ESTIMATED_DURATION_MS, 0,
		       &out->estimated_duration_ms, e) < 0)
		return st_verr_in_field(e, "estimated_duration_ms");
	if (rd_error(&t, ST__ENV_F_ERROR, a, &out->error, e) < 0)
		return -1;
	st_fbvec v;
	r = st_fbr_vec(&t, ST__ENV_F_DATA, 4, &v, e);
	if (r < 0)
		return st_verr_in_field(e, "data");
	if (r == 1) {
		out->has_data = true;
		st__env_state *items = v.n ? st_arena_alloc(a, (size_t)v.n * sizeof *items) : NULL;
		if (v.n && !items)
			return st_verr_set(e, "the message is too large");
		for (uint32_t i = 0; i < v.n; i++) {
			st_fbr it;
			if (st_fbvec_table(&v, i, &it, e) < 0 ||
			    rd_state(&it, a, &items[i], e) < 0) {
				st_verr_in_index(e, i);
				return st_verr_in_field(e, "data");
			}
		}
		out->data = items;
		out->n_data = v.n;
	}
	return 0;
}

/* --- writing ---------------------------------------------------------------- */

static st_fbref wr_str(st_fbb *b, st_str s)
{
	return s.ptr ? st_fbb_str(b, s.ptr, s.len) : 0;
}

static st_fbref wr_error(st_fbb *b, const st__env_error *er)
{
	if (!er)
		return 0;
	st_fbref code = wr_str(b, er->code), msg = wr_str(b, er->message),
		 field = wr_str(b, er->field), det = wr_str(b, er->details);
	st_fbb_table_begin(b, ST__ERR_NFIELDS);
	if (er->has_retry_after_ms) /* `= null`: written even when 0 */
		st_fbb_add_i64(b, ST__ERR_F_RETRY_AFTER_MS, er->retry_after_ms,
			       ~er->retry_after_ms);
	st_fbb_add_ref(b, ST__ERR_F_CODE, code);
	st_fbb_add_ref(b, ST__ERR_F_MESSAGE, msg);
	st_fbb_add_ref(b, ST__ERR_F_FIELD, field);
	st_fbb_add_ref(b, ST__ERR_F_DETAILS, det);
	return st_fbb_table_end(b);
}

static st_fbref wr_state(st_fbb *b, const st__env_state *s)
{
	st_fbref rid = wr_str(b, s->request_id), act = wr_str(b, s->action),
		 st = wr_str(b, s->status), msg = wr_str(b, s->message),
		 id = wr_str(b, s->id);
	st_fbref res = s->has_result ? st_fbb_bytes(b, s->result.ptr, s->result.len) : 0;
	st_fbref err = wr_error(b, s->error);
	st_fbb_table_begin(b, ST__RS_NFIELDS);
	st_fbb_add_f64(b, ST__RS_F_PERCENTAGE, s->percentage, 0);
	st_fbb_add_i64(b, ST__RS_F_CREATED_AT, s->created_at, 0);
	st_fbb_add_ref(b, ST__RS_F_REQUEST_ID, rid);
	st_fbb_add_ref(b, ST__RS_F_ACTION, act);
	st_fbb_add_ref(b, ST__RS_F_STATUS, st);
	st_fbb_add_ref(b, ST__RS_F_MESSAGE, msg);
	st_fbb_add_i32(b, ST__RS_F_ATTEMPTS, s->attempts, 0);
	st_fbb_add_ref(b, ST__RS_F_RESULT, res);
	st_fbb_add_ref(b, ST__RS_F_ERROR, err);
	st_fbb_add_ref(b, ST__RS_F_ID, id);
	return st_fbb_table_end(b);
}

int st__env_encode(st_fbb *b, const st__env *in, const uint8_t **data,
		   size_t *len)
{
	st_fbb_reset(b);
	st_fbref data_ref = 0;
	if (in->has_data) {
		st_fbref one, *refs = in->n_data > 1 ? malloc(in->n_data * sizeof *refs) : &one;
		if (!refs)
			return -1;
		for (size_t i = 0; i < in->n_data; i++)
			refs[i] = wr_state(b, &in->data[i]);
		data_ref = st_fbb_vec_refs(b, refs, in->n_data);
		if (refs != &one)
			free(refs);
	}
	st_fbref id = wr_str(b, in->id), rid = wr_str(b, in->request_id),
		 act = wr_str(b, in->action), msg = wr_str(b, in->message),
		 st = wr_str(b, in->status), meta = wr_str(b, in->metadata);
	st_fbref pl = in->has_payload ? st_fbb_bytes(b, in->payload.ptr, in->payload.len) : 0;
	st_fbref err = wr_error(b, in->error);
	st_fbb_table_begin(b, ST__ENV_NFIELDS);
	st_fbb_add_f64(b, ST__ENV_F_PERCENTAGE, in->percentage, 0);
	st_fbb_add_i64(b, ST__ENV_F_TIMESTAMP, in->timestamp, 0);
	st_fbb_add_i64(b, ST__ENV_F_ESTIMATED_DURATION_MS, in->estimated_duration_ms, 0);
	st_fbb_add_ref(b, ST__ENV_F_ID, id);
	st_fbb_add_ref(b, ST__ENV_F_REQUEST_ID, rid);
	st_fbb_add_ref(b, ST__ENV_F_ACTION, act);
	st_fbb_add_ref(b, ST__ENV_F_PAYLOAD, pl);
	st_fbb_add_ref(b, ST__ENV_F_MESSAGE, msg);
	st_fbb_add_ref(b, ST__ENV_F_ERROR, err);
	st_fbb_add_ref(b, ST__ENV_F_STATUS, st);
	st_fbb_add_ref(b, ST__ENV_F_DATA, data_ref);
	st_fbb_add_ref(b, ST__ENV_F_METADATA, meta);
	st_fbb_add_u8(b, ST__ENV_F_TYPE, (uint8_t)in->type, ST__ENV_REQUEST);
	st_fbb_add_bool(b, ST__ENV_F_SUCCESS, in->success, false);
	st_fbref root = st_fbb_table_end(b);
	return st_fbb_finish(b, root, ST__ENV_IDENT, data, len);
}
