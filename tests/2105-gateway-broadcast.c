/* Broadcast (runtime/broadcast.h) over real connections. This program is
 * both the client and, started again with ST_BCAST_SERVE=1, the server:
 * streamerd's daemon with one action (onereg.h) whose handler `bcast`
 * calls st__broadcast_{user,tenant,conns} and returns how many messages
 * were encoded. Two users in tenant t1 (ua with two connections, one of
 * them speaking FlatBuffers; ub), one in t2 (uc): each variant reaches
 * exactly the right connections, in each connection's format, encoded once
 * per format whatever the number of recipients; a closed connection in the
 * list and a reader that stopped reading (dropped) do not disturb the
 * others. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/broadcast.h"
#include "../runtime/envelope.h"
#include "onereg.h"
#include "tap.h"
#include "wsclient.h"

/* --- the server side ---------------------------------------------------- */

#define MAX_CONNS 8

typedef struct bc_payload {
	st_str to, tenant, user, text;
	st_str conns[MAX_CONNS];
	size_t n_conns;
	int32_t pad, repeat;
} bc_payload;

typedef struct bc_result {
	int32_t rc;
	int64_t json, fb;
} bc_result;

static bool key_is(st_str k, const char *s)
{
	return k.len == strlen(s) && !memcmp(k.ptr, s, k.len);
}

static int bc_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	bc_payload *p = out;
	st_str k;
	int r;
	p->repeat = 1;
	if (st_json_obj_begin(j, e) < 0)
		return -1;
	while ((r = st_json_obj_key(j, a, &k, e)) == 1) {
		st_str *s = key_is(k, "to") ? &p->to : key_is(k, "tenant") ? &p->tenant
			  : key_is(k, "user") ? &p->user : key_is(k, "text") ? &p->text : NULL;
		if (s) {
			if (st_json_str(j, a, s, NULL, e) < 0)
				return st_verr_in_key(e, k.ptr, k.len);
		} else if (key_is(k, "pad") || key_is(k, "repeat")) {
			if (st_json_i32(j, key_is(k, "pad") ? &p->pad : &p->repeat, e) < 0)
				return st_verr_in_key(e, k.ptr, k.len);
		} else if (key_is(k, "conns")) {
			if (st_json_arr_begin(j, e) < 0)
				return -1;
			while ((r = st_json_arr_next(j, e)) == 1) {
				if (p->n_conns == MAX_CONNS)
					return st_verr_set(e, "too many");
				if (st_json_str(j, a, &p->conns[p->n_conns++], NULL, e) < 0)
					return -1;
			}
			if (r < 0)
				return -1;
		} else if (st_json_skip(j, NULL, NULL, e) < 0) {
			return -1;
		}
	}
	return r;
}

static void bc_encode_result(const void *in, st_buf *b)
{
	const bc_result *r = in;
	st_buf_printf(b, "{\"rc\":%d,\"json\":%lld,\"fb\":%lld}", r->rc,
		      (long long)r->json, (long long)r->fb);
}

/* Broadcasts a progress message whose text is `text` and `pad` x's,
 * `repeat` times (1 ms apart), to the target; returns the encodes. */
static int bc_handler(st_req *req, const void *payload, void *result)
{
	const bc_payload *p = payload;
	bc_result *r = result;
	unsigned long j0, f0, j1, f1;
	size_t tl = p->text.len, n = tl + (size_t)(p->pad > 0 ? p->pad : 0);
	char *text = st_alloc(req, n + 1);
	if (!text)
		return st_fail(req, ST_E_INTERNAL_ERROR, "out of memory");
	memcpy(text, p->text.ptr, tl);
	memset(text + tl, 'x', n - tl);
	st__event ev = { .kind = ST__EV_PROGRESS, .percentage = 50, .message = text };
	snprintf(ev.request_id, sizeof ev.request_id, "broadcast");
	const char *ids[MAX_CONNS];
	for (size_t i = 0; i < p->n_conns; i++)
		ids[i] = p->conns[i].ptr;
	st__broadcast_encodes(&j0, &f0);
	for (int32_t i = 0; i < p->repeat; i++) {
		ev.timestamp_ms = st_now();
		if (key_is(p->to, "user"))
			r->rc |= st__broadcast_user(p->tenant.ptr, p->user.ptr, &ev);
		else if (key_is(p->to, "tenant"))
			r->rc |= st__broadcast_tenant(p->tenant.ptr, &ev);
		else
			r->rc |= st__broadcast_conns(ids, p->n_conns, &ev);
		if (p->repeat > 1)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	st__broadcast_encodes(&j1, &f1);
	r->json = (int64_t)(j1 - j0);
	r->fb = (int64_t)(f1 - f0);
	return ST_OK;
}

static const st_action bc_action = {
	.name = "bcast", .payload_size = sizeof(bc_payload), .result_size = sizeof(bc_result),
	.payload_decode_json = bc_decode, .result_encode_json = bc_encode_result,
	.handler = bc_handler,
};

/* --- the client side ----------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One recipient's reader thread: counts the broadcasts tagged `tag`. */
typedef struct reader {
	wsc *c;
	const char *tag;
	int want;         /* stop 300 ms after this many (0: read 800 ms) */
	int timeout_ms;
	int json, bin, other;
	bool closed;
	pthread_t tid;
} reader;

static void *reader_main(void *arg)
{
	reader *r = arg;
	char jtag[64];
	snprintf(jtag, sizeof jtag, "\"message\":\"%s", r->tag);
	long long end = now_ms() + (r->want ? r->timeout_ms : 800);
	st_arena *a = st_arena_create(1 << 20);
	while (now_ms() < end) {
		char *m = NULL;
		size_t len;
		int op = wsc_recv(r->c, 100, &m, &len);
		if (op == WS_TEXT) {
			if (strstr(m, jtag) && strstr(m, "\"progress\""))
				r->json++;
			else
				r->other++;
		} else if (op == WS_BIN) {
			st__env env;
			st_verr e;
			st_verr_init(&e);
			if (st__env_decode((const uint8_t *)m, len, a, &env, &e) == 0 &&
			    env.type == ST__ENV_PROGRESS && env.message.ptr &&
			    !strncmp(env.message.ptr, r->tag, strlen(r->tag)))
				r->bin++;
			else
				r->other++;
			st_arena_reset(a);
		} else if (op != 0) {
			r->closed = true;
			free(m);
			break;
		}
		free(m);
		if (r->want && r->json + r->bin == r->want && end - now_ms() > 300)
			end = now_ms() + 300; /* a little longer, for extras */
	}
	st_arena_free(a);
	return NULL;
}

static wsc trig, a1, a2, b, cc, d, slow;
static int port;
static char *build_dir;
static char ida1[64], ida2[64], idb[64], idc[64], idd[64];

static int connect_as(wsc *w, const char *sub, const char *tenant, int rcvbuf)
{
	char *tok = sh_line("%s/streamer-cli token --alg HS256 --secret bc-secret --sub %s --tenant %s",
			    build_dir, sub, tenant);
	char target[4096];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok ? tok : "");
	free(tok);
	return wsc_connect(w, port, target, NULL, rcvbuf);
}

/* The connection id of `user`'s newest connection, not `other` (polls
 * streamer.connections until it appears). */
static void conn_id_of(const char *user, const char *other, char out[64])
{
	out[0] = '\0';
	for (int i = 0; i < 100 && !out[0]; i++, usleep(50000)) {
		char *r = sh_line("psql \"$DATABASE_URL\" -XAtc \"SELECT connection_id FROM "
				  "streamer.connections WHERE user_id = '%s' AND connection_id <> '%s' "
				  "ORDER BY connected_at DESC LIMIT 1\"", user, other ? other : "");
		if (r && strlen(r) == 36)
			snprintf(out, 64, "%s", r);
		free(r);
	}
}

typedef struct expect {
	wsc *c;
	int json, bin;
} expect;

/* Sends the bcast request `body` (tagged `tag`) on trig while every
 * recipient reads; checks each got exactly what `ex` says and the
 * encodes; returns the number of JSON encodes. */
static long long round_of(const char *name, const char *tag, const char *body,
			  const expect *ex, size_t nex, int timeout_ms)
{
	reader rd[8];
	for (size_t i = 0; i < nex; i++) {
		rd[i] = (reader){ .c = ex[i].c, .tag = tag, .want = ex[i].json + ex[i].bin,
				  .timeout_ms = timeout_ms };
		pthread_create(&rd[i].tid, NULL, reader_main, &rd[i]);
	}
	char msg[1024];
	snprintf(msg, sizeof msg, "{\"action\":\"bcast\",\"payload\":%s}", body);
	wsc_send_text(&trig, msg);
	char *r = wsc_recv_text(&trig, timeout_ms);
	long long json = -1, fb = -1, rc = -1;
	const char *p;
	if (r && (p = strstr(r, "\"rc\":")))
		rc = atoll(p + 5);
	if (r && (p = strstr(r, "\"json\":")))
		json = atoll(p + 7);
	if (r && (p = strstr(r, "\"fb\":")))
		fb = atoll(p + 5);
	if (rc != 0)
		diag("answer: %s", r ? r : "(none)");
	free(r);
	bool good = true;
	for (size_t i = 0; i < nex; i++) {
		pthread_join(rd[i].tid, NULL);
		if (rd[i].json != ex[i].json || rd[i].bin != ex[i].bin || rd[i].other) {
			diag("%s: recipient %zu got %d JSON, %d binary, %d other; expected %d, %d",
			     name, i, rd[i].json, rd[i].bin, rd[i].other, ex[i].json, ex[i].bin);
			good = false;
		}
	}
	ok(rc == 0 && good, "%s reaches exactly the right connections, in their formats", name);
	ok(fb == json, "  encoded as often in FlatBuffers as in JSON (%lld)", fb);
	return json;
}

int main(int argc, char **argv)
{
	if (getenv("ST_BCAST_SERVE"))
		return onereg_main(argc, argv, &bc_action);
	build_dir = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	const char *self = onereg_self();
	const char *env[] = { "ST_BCAST_SERVE=1", "JWT_SECRET=bc-secret", "STREAMER_STATIC=",
			      "STREAMER_RATE_LIMIT=100000", "STREAMER_RATE_BURST=100000",
			      "STREAMER_OUTBOUND_MAX=1MiB", "STREAMER_SYNC_THREADS=2", NULL };
	tsrv s;
	if (tsrv_start(&s, self, env) < 0)
		BAIL_OUT("the broadcast server did not start");
	port = s.port;

	if (connect_as(&trig, "ut", "t3", 0) != 101 || connect_as(&a1, "ua", "t1", 0) != 101)
		BAIL_OUT("cannot connect");
	conn_id_of("ua", NULL, ida1);
	if (connect_as(&a2, "ua", "t1", 0) != 101)
		BAIL_OUT("cannot connect");
	conn_id_of("ua", ida1, ida2);
	if (connect_as(&b, "ub", "t1", 0) != 101 || connect_as(&cc, "uc", "t2", 0) != 101 ||
	    connect_as(&d, "ud", "t1", 0) != 101)
		BAIL_OUT("cannot connect");
	conn_id_of("ub", NULL, idb);
	conn_id_of("uc", NULL, idc);
	conn_id_of("ud", NULL, idd);
	ok(ida1[0] && ida2[0] && idb[0] && idc[0] && idd[0], "five connections recorded");
	/* a2 speaks FlatBuffers: a binary ping first */
	{
		st_fbb fb;
		const uint8_t *p;
		size_t n;
		st_fbb_init(&fb, 4096);
		st__env ping = { .type = ST__ENV_PING };
		st__env_encode(&fb, &ping, &p, &n);
		char *r = NULL;
		size_t len;
		ok(wsc_send_frame(&a2, WS_BIN, true, p, n) == 0 &&
		   wsc_recv(&a2, 5000, &r, &len) == WS_BIN, "one of ua's connections speaks FlatBuffers");
		free(r);
		st_fbb_fini(&fb);
	}
	wsc_close(&d); /* d's id stays in our list: a closed connection */
	usleep(200000);

	char body[1024];
	snprintf(body, sizeof body, "{\"to\":\"user\",\"tenant\":\"t1\",\"user\":\"ua\",\"text\":\"<u1>\"}");
	expect e1[] = { { &a1, 1, 0 }, { &a2, 0, 1 }, { &b, 0, 0 }, { &cc, 0, 0 } };
	is_int(round_of("user t1/ua", "<u1>", body, e1, 4, 5000), 1,
	       "  one JSON encode for two recipients");

	snprintf(body, sizeof body, "{\"to\":\"user\",\"tenant\":\"t2\",\"user\":\"ua\",\"text\":\"<u2>\"}");
	expect e2[] = { { &a1, 0, 0 }, { &a2, 0, 0 }, { &b, 0, 0 }, { &cc, 0, 0 } };
	round_of("user t2/ua (same user id, other tenant)", "<u2>", body, e2, 4, 5000);

	snprintf(body, sizeof body, "{\"to\":\"tenant\",\"tenant\":\"t1\",\"text\":\"<t1>\"}");
	expect e3[] = { { &a1, 1, 0 }, { &a2, 0, 1 }, { &b, 1, 0 }, { &cc, 0, 0 } };
	is_int(round_of("tenant t1", "<t1>", body, e3, 4, 5000), 1,
	       "  one JSON encode for three recipients");

	snprintf(body, sizeof body, "{\"to\":\"tenant\",\"tenant\":\"t2\",\"text\":\"<t2>\"}");
	expect e4[] = { { &a1, 0, 0 }, { &a2, 0, 0 }, { &b, 0, 0 }, { &cc, 1, 0 } };
	round_of("tenant t2", "<t2>", body, e4, 4, 5000);

	snprintf(body, sizeof body, "{\"to\":\"conns\",\"conns\":[\"%s\",\"%s\",\"%s\",\"%s\","
		 "\"no-such-connection\"],\"text\":\"<c1>\"}", ida1, idd, idb, idc);
	expect e5[] = { { &a1, 1, 0 }, { &a2, 0, 0 }, { &b, 1, 0 }, { &cc, 1, 0 } };
	is_int(round_of("a list of connections (one closed, one unknown)", "<c1>", body, e5, 4, 5000), 1,
	       "  one JSON encode for three recipients across tenants");

	/* A reader that stopped: ua's third connection never reads. 800
	 * broadcasts of 8 KB (6.4 MB) fill the kernel's buffers and then its
	 * queue (1 MiB) and it is dropped; ua's other two get every one (the
	 * queue leaves them 128 messages of slack on a loaded machine). */
	if (connect_as(&slow, "ua", "t1", 4096) != 101)
		BAIL_OUT("cannot connect");
	usleep(200000);
	snprintf(body, sizeof body, "{\"to\":\"user\",\"tenant\":\"t1\",\"user\":\"ua\","
		 "\"text\":\"<s>\",\"pad\":8000,\"repeat\":800}");
	expect e6[] = { { &a1, 800, 0 }, { &a2, 0, 800 }, { &b, 0, 0 } };
	is_int(round_of("800 broadcasts with a reader that stopped", "<s>", body, e6, 3, 60000),
	       800, "  one JSON encode per broadcast");
	bool dropped = false;
	for (int i = 0; i < 50 && !dropped; i++, usleep(100000))
		dropped = tsrv_log_has(&s, "slow reader dropped");
	ok(dropped, "the reader that stopped was dropped as a slow reader");
	int slow_got = 0;
	for (;;) {
		char *m = NULL;
		size_t len;
		int op = wsc_recv(&slow, 2000, &m, &len);
		free(m);
		if (op != WS_TEXT)
			break;
		slow_got++;
	}
	ok(slow_got < 800, "  having received %d of 800 before its connection ended", slow_got);

	snprintf(body, sizeof body, "{\"to\":\"tenant\",\"tenant\":\"t1\",\"text\":\"<after>\"}");
	expect e7[] = { { &a1, 1, 0 }, { &a2, 0, 1 }, { &b, 1, 0 } };
	round_of("tenant t1 after the drop", "<after>", body, e7, 3, 5000);

	wsc_close(&slow);
	wsc_close(&a1);
	wsc_close(&a2);
	wsc_close(&b);
	wsc_close(&cc);
	wsc_close(&trig);
	is_int(tsrv_stop(&s), 0, "the server stops cleanly");
	return done_testing();
}
