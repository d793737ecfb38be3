/* The protocol's order per async request, kept by the gateway for each
 * connection (runtime/follow.h) over real connections. This program is
 * both the client and, started again with ST_FOLLOW_SERVE=1, the server:
 * streamerd's daemon with one action (onereg.h), `replay`, whose handler
 * posts a scripted stream of events to a connection through the engine's
 * hand-off (st__sink_post, then st__gateway_post) as a retried attempt
 * and a late flush would: 302 requests at once on one connection, two of
 * which shared a slot of the old global guard table; each gets progress,
 * then lower progress from "a second attempt", its final message, then a
 * stray progress and a second final. Each connection, JSON and
 * FlatBuffers, must see per request: ack, progress, the lower one raised
 * (with its own message), one final message, nothing after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../runtime/delivery.h"
#include "../runtime/envelope.h"
#include "onereg.h"
#include "tap.h"
#include "wsclient.h"

#define OTHERS 300
#define N_REQ (OTHERS + 2)

static void rid_of(unsigned i, char out[37])
{
	snprintf(out, 37, "00000000-0000-4000-8000-%012x", i);
}

/* The slot the old table in delivery.c gave (request, connection). */
static unsigned old_slot(const char *rid, const char *conn)
{
	unsigned h = 2166136261u;
	for (const char *p = rid; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (const char *p = conn; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % 4096;
}

/* The requests of the script for `conn`: 0 (A) and 1 (B) share an old
 * slot, then OTHERS more. */
static void script_rids(const char *conn, char rids[N_REQ][37])
{
	rid_of(0, rids[0]);
	unsigned i = 1;
	for (;; i++) {
		rid_of(i, rids[1]);
		if (old_slot(rids[1], conn) == old_slot(rids[0], conn))
			break;
	}
	for (unsigned k = 0; k < OTHERS; k++)
		rid_of(i + 1 + k, rids[2 + k]);
}

/* What the script sends: first progress, then the second attempt's. */
static double first_pct(int k)
{
	return k == 0 ? 60 : k == 1 ? 10 : 50;
}

static double retry_pct(int k)
{
	return k == 0 ? 30 : k == 1 ? 5 : 20;
}

/* --- the server side ---------------------------------------------------- */

typedef struct rp_payload {
	st_str conn;
} rp_payload;

typedef struct rp_result {
	int32_t refused;
} rp_result;

static int rp_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	rp_payload *p = out;
	st_str k;
	int r;
	if (st_json_obj_begin(j, e) < 0)
		return -1;
	while ((r = st_json_obj_key(j, a, &k, e)) == 1) {
		if (k.len == 4 && !memcmp(k.ptr, "conn", 4)) {
			if (st_json_str(j, a, &p->conn, NULL, e) < 0)
				return st_verr_in_key(e, k.ptr, k.len);
		} else if (st_json_skip(j, NULL, NULL, e) < 0) {
			return -1;
		}
	}
	return r;
}

static void rp_encode_result(const void *in, st_buf *b)
{
	const rp_result *r = in;
	st_buf_printf(b, "{\"refused\":%d}", r->refused);
}

static int post(const char *conn, const char *rid, st__event_kind k, double pct,
		const char *msg)
{
	st__event ev = {
		.kind = k, .client_id = "c", .action = "replay", .percentage = pct,
		.message = msg, .timestamp_ms = st_now(), .estimated_duration_ms = 1000,
		.result_json = k == ST__EV_COMPLETE ? "{\"ok\":1}" : NULL,
		.error_code = k == ST__EV_ERROR ? "CANCELLED" : NULL,
	};
	snprintf(ev.request_id, sizeof ev.request_id, "%s", rid);
	snprintf(ev.connection_id, sizeof ev.connection_id, "%s", conn);
	st__sink s = { 0 };
	return st__sink_post(&s, &ev) != 0;
}

/* B ends with an error, the others complete. */
static st__event_kind final_of(int k)
{
	return k == 1 ? ST__EV_ERROR : ST__EV_COMPLETE;
}

static int rp_handler(st_req *req, const void *payload, void *result)
{
	(void)req;
	const rp_payload *p = payload;
	rp_result *r = result;
	char conn[64];
	snprintf(conn, sizeof conn, "%.*s", (int)p->conn.len, p->conn.ptr);
	static char rids[N_REQ][37];
	script_rids(conn, rids);
	int bad = 0;
	for (int k = 0; k < N_REQ; k++)
		bad += post(conn, rids[k], ST__EV_ACK, 0, NULL);
	for (int k = 0; k < N_REQ; k++)
		bad += post(conn, rids[k], ST__EV_PROGRESS, first_pct(k), "first");
	for (int k = 0; k < N_REQ; k++)
		bad += post(conn, rids[k], ST__EV_PROGRESS, retry_pct(k), "retry");
	for (int k = 0; k < N_REQ; k++)
		bad += post(conn, rids[k], final_of(k), 100, NULL);
	for (int k = 0; k < N_REQ; k++) {
		bad += post(conn, rids[k], ST__EV_PROGRESS, 99, "stray");
		bad += post(conn, rids[k], ST__EV_COMPLETE, 100, NULL);
	}
	r->refused = bad;
	return ST_OK;
}

static const st_action rp_action = {
	.name = "replay", .payload_size = sizeof(rp_payload), .result_size = sizeof(rp_result),
	.payload_decode_json = rp_decode, .result_encode_json = rp_encode_result,
	.handler = rp_handler,
};

/* --- the client side ----------------------------------------------------- */

static int port;
static char *build_dir;

static int connect_as(wsc *w, const char *sub)
{
	char *tok = sh_line("%s/streamer-cli token --alg HS256 --secret fw-secret --sub %s --tenant t1",
			    build_dir, sub);
	char target[4096];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok ? tok : "");
	free(tok);
	return wsc_connect(w, port, target, NULL, 0);
}

/* The connection id of `user`'s connection (polls streamer.connections). */
static void conn_id_of(const char *user, char out[64])
{
	out[0] = '\0';
	for (int i = 0; i < 100 && !out[0]; i++, usleep(50000)) {
		char *r = sh_line("psql \"$DATABASE_URL\" -XAtc \"SELECT connection_id FROM "
				  "streamer.connections WHERE user_id = '%s'\"", user);
		if (r && strlen(r) == 36)
			snprintf(out, 64, "%s", r);
		free(r);
	}
}

/* What one connection saw of one request, as a string:
 * "ack p60:first p60:retry complete". */
typedef struct seen {
	char rid[37];
	char log[256];
} seen;

static void add(seen *s, const char *rid, const char *what)
{
	for (int k = 0; k < N_REQ; k++)
		if (!strcmp(s[k].rid, rid)) {
			size_t n = strlen(s[k].log);
			snprintf(s[k].log + n, sizeof s[k].log - n, "%s%s", n ? " " : "", what);
			return;
		}
	diag("a message for an unknown request %s: %s", rid, what);
}

static const char *kind_word(int env_type)
{
	switch (env_type) {
	case ST__ENV_ACK: return "ack";
	case ST__ENV_COMPLETE: return "complete";
	case ST__ENV_ERROR: return "error";
	default: return "?";
	}
}

/* Reads `c` until it is quiet for 500 ms, filing each message under its
 * request. Returns the number of messages. */
static int read_all(wsc *c, bool binary, seen *s)
{
	int n = 0;
	st_arena *a = st_arena_create(1 << 20);
	for (;;) {
		char *m = NULL, what[128];
		size_t len;
		int op = wsc_recv(c, 500, &m, &len);
		if (op != WS_TEXT && op != WS_BIN) {
			free(m);
			break;
		}
		n++;
		char rid[37] = "";
		if (op == WS_BIN && binary) {
			st__env env;
			st_verr e;
			st_verr_init(&e);
			if (st__env_decode((const uint8_t *)m, len, a, &env, &e) == 0) {
				snprintf(rid, sizeof rid, "%.*s", (int)env.request_id.len,
					 env.request_id.ptr ? env.request_id.ptr : "");
				if (env.type == ST__ENV_PROGRESS)
					snprintf(what, sizeof what, "p%g:%.*s", env.percentage,
						 (int)env.message.len, env.message.ptr);
				else
					snprintf(what, sizeof what, "%s", kind_word(env.type));
			} else {
				snprintf(what, sizeof what, "undecodable");
			}
			st_arena_reset(a);
		} else if (op == WS_TEXT && !binary) {
			json_t *j = json_loads(m, 0, NULL);
			const char *t = json_string_value(json_object_get(j, "type"));
			const char *r = json_string_value(json_object_get(j, "request_id"));
			snprintf(rid, sizeof rid, "%s", r ? r : "");
			if (t && !strcmp(t, "progress"))
				snprintf(what, sizeof what, "p%g:%s",
					 json_number_value(json_object_get(j, "percentage")),
					 json_string_value(json_object_get(j, "message")));
			else if (t && !strcmp(t, "acknowledgment"))
				snprintf(what, sizeof what, "ack");
			else
				snprintf(what, sizeof what, "%s", t ? t : "?");
			json_decref(j);
		} else {
			snprintf(what, sizeof what, "wrong format");
		}
		add(s, rid, what);
		free(m);
	}
	st_arena_free(a);
	return n;
}

/* Runs the script against connection `c` (id `id`) and checks it. */
static void round_of(const char *name, wsc *trig, wsc *c, const char *id, bool binary)
{
	static seen s[N_REQ];
	static char rids[N_REQ][37];
	memset(s, 0, sizeof s);
	script_rids(id, rids);
	for (int k = 0; k < N_REQ; k++)
		memcpy(s[k].rid, rids[k], 37);
	char msg[256];
	snprintf(msg, sizeof msg, "{\"action\":\"replay\",\"payload\":{\"conn\":\"%s\"}}", id);
	wsc_send_text(trig, msg);
	char *r = wsc_recv_text(trig, 10000);
	ok(r && strstr(r, "\"refused\":0"), "%s: every event was accepted (%s)", name,
	   r ? r : "no answer");
	free(r);
	int n = read_all(c, binary, s);
	diag("%s: %d messages", name, n);
	/* `replay` has no FlatBuffers result: a complete reaches a binary
	 * connection as an INTERNAL_ERROR (router.c), a final all the same. */
	const char *fin = binary ? "error" : "complete";
	char want[128];
	snprintf(want, sizeof want, "ack p60:first p60:retry %s", fin);
	is(s[0].log, want,
	   "%s: A, whose retried attempt restarts at 30, is raised to 60, then nothing"
	   " after its final message", name);
	is(s[1].log, "ack p10:first p10:retry error",
	   "%s: B, which shared A's slot in the old table, keeps its own 10", name);
	int good = 0;
	snprintf(want, sizeof want, "ack p50:first p50:retry %s", fin);
	for (int k = 2; k < N_REQ; k++) {
		if (!strcmp(s[k].log, want))
			good++;
		else if (good + 3 > k)
			diag("%s: %s", s[k].rid, s[k].log);
	}
	is_int(good, OTHERS, "%s: so are the %d others at once", name, OTHERS);
	is_int(n, 4 * N_REQ, "%s: nothing else", name);
}

int main(int argc, char **argv)
{
	if (getenv("ST_FOLLOW_SERVE"))
		return onereg_main(argc, argv, &rp_action);
	build_dir = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	const char *self = onereg_self();
	const char *env[] = { "ST_FOLLOW_SERVE=1", "JWT_SECRET=fw-secret", "STREAMER_STATIC=",
			      "STREAMER_SYNC_THREADS=2", NULL };
	tsrv srv;
	if (tsrv_start(&srv, self, env) < 0)
		BAIL_OUT("the server did not start");
	port = srv.port;

	static wsc trig, js, fb;
	char idj[64], idf[64];
	if (connect_as(&trig, "ut") != 101 || connect_as(&js, "uj") != 101 ||
	    connect_as(&fb, "uf") != 101)
		BAIL_OUT("cannot connect");
	conn_id_of("uj", idj);
	conn_id_of("uf", idf);
	ok(idj[0] && idf[0], "connections recorded");
	{
		/* fb speaks FlatBuffers: a binary ping first */
		st_fbb b;
		const uint8_t *p;
		size_t n;
		st_fbb_init(&b, 4096);
		st__env ping = { .type = ST__ENV_PING };
		st__env_encode(&b, &ping, &p, &n);
		char *r = NULL;
		size_t len;
		ok(wsc_send_frame(&fb, WS_BIN, true, p, n) == 0 &&
		   wsc_recv(&fb, 5000, &r, &len) == WS_BIN, "one connection speaks FlatBuffers");
		free(r);
		st_fbb_fini(&b);
	}

	round_of("JSON", &trig, &js, idj, false);
	round_of("FlatBuffers", &trig, &fb, idf, true);
	/* Once more on the same connection: what it remembers of the
	 * finished requests keeps their events dropped. */
	{
		char msg[256];
		snprintf(msg, sizeof msg, "{\"action\":\"replay\",\"payload\":{\"conn\":\"%s\"}}", idj);
		wsc_send_text(&trig, msg);
		free(wsc_recv_text(&trig, 10000));
		char *m = NULL;
		size_t len;
		int op = wsc_recv(&js, 500, &m, &len);
		ok(op == 0, "the same script again: nothing reaches the connection (%s)",
		   m ? m : "");
		free(m);
	}

	wsc_close(&js);
	wsc_close(&fb);
	wsc_close(&trig);
	is_int(tsrv_stop(&srv), 0, "the server stops cleanly");
	return done_testing();
}
