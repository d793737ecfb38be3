/* delivery.c: the local sink and the inter-node event payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "delivery.h"

/* The gateway's hand-off, when the gateway is linked in (streamerd); test
 * programs that link only the engine pass their own sink. */
extern int st__gateway_post(const st__event *ev) __attribute__((weak));

int st__sink_post(const st__sink *s, const st__event *ev)
{
	if (s && s->fn)
		return s->fn(s->ud, ev);
	if (st__gateway_post)
		return st__gateway_post(ev);
	return -1;
}

static const char *const kind_names[] = {
	[ST__EV_ACK] = "ack",
	[ST__EV_PROGRESS] = "progress",
	[ST__EV_COMPLETE] = "complete",
	[ST__EV_ERROR] = "error",
};

const char *st__event_kind_name(st__event_kind k)
{
	if ((unsigned)k < sizeof kind_names / sizeof kind_names[0])
		return kind_names[k];
	return "?";
}

static void put_str(st_buf *b, const char *key, const char *v)
{
	if (!v)
		return;
	st_buf_printf(b, ",\"%s\":", key);
	st_jw_str(b, v, strlen(v));
}

static void encode_ref(const st__event *ev, st_buf *b)
{
	st_buf_printf(b, "{\"k\":\"%s\",\"ref\":true", st__event_kind_name(ev->kind));
	put_str(b, "r", ev->request_id);
	put_str(b, "c", ev->connection_id);
	st_buf_lit(b, "}");
}

void st__event_encode(const st__event *ev, st_buf *b)
{
	size_t start = b->len;
	st_buf_printf(b, "{\"k\":\"%s\"", st__event_kind_name(ev->kind));
	put_str(b, "r", ev->request_id);
	put_str(b, "c", ev->connection_id);
	put_str(b, "i", ev->client_id);
	put_str(b, "a", ev->action);
	st_buf_lit(b, ",\"p\":");
	st_jw_f64(b, ev->percentage);
	put_str(b, "m", ev->message);
	st_buf_printf(b, ",\"t\":%lld,\"d\":%u", (long long)ev->timestamp_ms,
		      (unsigned)ev->estimated_duration_ms);
	if (ev->result_json) {
		st_buf_lit(b, ",\"res\":");
		st_buf_append(b, ev->result_json, strlen(ev->result_json));
	}
	put_str(b, "ec", ev->error_code);
	put_str(b, "em", ev->error_message);
	st_buf_lit(b, "}");
	if (b->len - start >= ST__NOTIFY_MAX || b->failed) {
		b->len = start;
		b->failed = false;
		encode_ref(ev, b);
	}
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int st__event_decode(const char *payload, st__event_msg *m)
{
	memset(m, 0, sizeof *m);
	json_t *o = json_loads(payload, 0, NULL);
	m->json = o;
	if (!json_is_object(o))
		return -1;
	const char *k = get_str(o, "k");
	int kind = -1;
	for (size_t i = 0; k && i < sizeof kind_names / sizeof kind_names[0]; i++)
		if (strcmp(k, kind_names[i]) == 0)
			kind = (int)i;
	const char *r = get_str(o, "r"), *c = get_str(o, "c");
	if (kind < 0 || !r || strlen(r) >= sizeof m->ev.request_id)
		return -1;
	st__event *ev = &m->ev;
	ev->kind = (st__event_kind)kind;
	strcpy(ev->request_id, r);
	if (c && strlen(c) < sizeof ev->connection_id)
		strcpy(ev->connection_id, c);
	m->ref = json_is_true(json_object_get(o, "ref"));
	ev->client_id = get_str(o, "i");
	ev->action = get_str(o, "a");
	ev->percentage = json_number_value(json_object_get(o, "p"));
	ev->message = get_str(o, "m");
	ev->timestamp_ms = (int64_t)json_number_value(json_object_get(o, "t"));
	ev->estimated_duration_ms = (uint32_t)json_number_value(json_object_get(o, "d"));
	json_t *res = json_object_get(o, "res");
	if (res && !json_is_null(res)) {
		m->result = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
		ev->result_json = m->result;
	}
	ev->error_code = get_str(o, "ec");
	ev->error_message = get_str(o, "em");
	return 0;
}

void st__event_msg_fini(st__event_msg *m)
{
	free(m->result);
	json_decref(m->json);
	m->result = NULL;
	m->json = NULL;
}
