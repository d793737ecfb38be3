/* Per-connection limits: the frame cap (1009), the rate limit
 * (RATE_LIMITED with retry_after_ms, then 1008 on sustained abuse), the
 * bounded outbound queue (a client that stops reading is dropped, the
 * server is fine), and SIGTERM draining answers in flight then 1001. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "tap.h"
#include "wsclient.h"

static const char *build;
static char *tok;

static int connect_as(wsc *w, int port, int rcvbuf)
{
	char target[4096];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok);
	return wsc_connect(w, port, target, NULL, rcvbuf);
}


static const char *code_of(json_t *j)
{
	json_t *e = json_object_get(j, "error");
	return json_is_string(json_object_get(e, "code")) ?
		json_string_value(json_object_get(e, "code")) : NULL;
}

int main(void)
{
	build = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	if (!getenv("ST_TMP") || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
	char srvbin[512];
	snprintf(srvbin, sizeof srvbin, "%s/tests/lib/fakesrv", build);
	tok = sh_line("%s/streamer-cli token --alg HS256 --secret lim --sub u --tenant t", build);
	if (!tok)
		BAIL_OUT("no token");

	const char *env[] = { "JWT_SECRET=lim", "STREAMER_MAX_FRAME=4KiB",
			      "STREAMER_RATE_LIMIT=5", "STREAMER_RATE_BURST=5", NULL };
	tsrv s;
	if (tsrv_start(&s, srvbin, env) < 0)
		BAIL_OUT("the server did not start");
	wsc c;

	/* Frame cap. */
	char *big = malloc(8192);
	memset(big, ' ', 8192);
	memcpy(big, "{\"type\":\"ping\"}", 15);
	is_int(connect_as(&c, s.port, 0), 101, "connected");
	wsc_send_frame(&c, WS_TEXT, true, big, 4000);
	char *r = wsc_recv_text(&c, 5000);
	ok(r && strstr(r, "pong"), "a message under the cap is answered");
	free(r);
	wsc_send_frame(&c, WS_TEXT, true, big, 5000);
	is_int(wsc_wait_close(&c, 5000), 1009, "a frame over STREAMER_MAX_FRAME closes with 1009");
	wsc_close(&c);
	is_int(connect_as(&c, s.port, 0), 101, "connected again");
	for (int i = 0; i < 3; i++)
		wsc_send_frame(&c, i ? WS_CONT : WS_TEXT, false, big, 2000);
	is_int(wsc_wait_close(&c, 5000), 1009, "fragments adding up past the cap: 1009 too");
	wsc_close(&c);
	free(big);

	/* A protocol error lws answers itself (a reserved opcode: close 1002)
	 * while a sync request runs: nothing may follow the close frame, not
	 * even that request's answer (RFC 6455 5.5.1). */
	is_int(connect_as(&c, s.port, 0), 101, "connected for a protocol error");
	wsc_send_text(&c, "{\"type\":\"request\",\"id\":\"late\",\"action\":\"sleep\","
			  "\"payload\":{\"ms\":300}}");
	wsc_send_frame(&c, 0x3, true, "x", 1);
	is_int(wsc_wait_close(&c, 5000), 1002, "a reserved opcode closes with 1002");
	char *after = NULL;
	int op = wsc_recv(&c, 1500, &after, NULL);
	ok(op <= 0, "  and the answer of the request in flight does not follow the close (%d%s%.80s)",
	   op, after ? ": " : "", after ? after : "");
	free(after);
	wsc_close(&c);

	/* Rate limit: 5 at once, then 5 per second. */
	sleep(1);
	is_int(connect_as(&c, s.port, 0), 101, "a fresh connection");
	for (int i = 0; i < 8; i++)
		wsc_send_text(&c, "{\"type\":\"ping\"}");
	int pongs = 0, limited = 0;
	long retry = -1;
	for (int i = 0; i < 8; i++) {
		r = wsc_recv_text(&c, 3000);
		json_t *j = r ? json_loads(r, 0, NULL) : NULL;
		if (j && !strcmp(json_string_value(json_object_get(j, "type")), "pong"))
			pongs++;
		if (j && code_of(j) && !strcmp(code_of(j), "RATE_LIMITED")) {
			limited++;
			json_t *ra = json_object_get(json_object_get(j, "error"), "retry_after_ms");
			retry = json_is_integer(ra) ? (long)json_integer_value(ra) : -1;
		}
		json_decref(j);
		free(r);
	}
	is_int(pongs, 5, "the burst is answered");
	is_int(limited, 3, "the rest get RATE_LIMITED");
	ok(retry > 0 && retry <= 1000, "with retry_after_ms (%ld)", retry);
	usleep(500 * 1000);
	wsc_send_text(&c, "{\"type\":\"ping\"}");
	r = wsc_recv_text(&c, 3000);
	ok(r && strstr(r, "pong"), "after waiting, messages are answered again");
	free(r);
	for (int i = 0; i < 40; i++)
		wsc_send_text(&c, "{\"type\":\"ping\"}");
	is_int(wsc_wait_close(&c, 5000), 1008, "sustained abuse closes with 1008");
	wsc_close(&c);
	ok(http_metric(s.port, "streamer_abuse_closed_total") == 1, "counted in /metrics");

	/* Drain: an answer in flight is delivered, then 1001. */
	sleep(1);
	is_int(connect_as(&c, s.port, 0), 101, "connected for the drain");
	wsc_send_text(&c, "{\"id\":\"late\",\"action\":\"sleep\",\"payload\":{\"ms\":800}}");
	usleep(200 * 1000);
	kill(s.pid, SIGTERM);
	r = wsc_recv_text(&c, 5000);
	ok(r && strstr(r, "\"late\"") && strstr(r, "response"), "SIGTERM: the request in flight is answered");
	free(r);
	is_int(wsc_wait_close(&c, 5000), 1001, "then the connection closes with 1001");
	wsc_close(&c);
	is_int(tsrv_stop(&s), 0, "and the server exits 0");

	/* Slow reader. */
	const char *env2[] = { "JWT_SECRET=lim", "STREAMER_RATE_LIMIT=1000000",
			       "STREAMER_RATE_BURST=1000000", "STREAMER_OUTBOUND_MAX=64KiB", NULL };
	if (tsrv_start(&s, srvbin, env2) < 0)
		BAIL_OUT("the server did not start");
	is_int(connect_as(&c, s.port, 4096), 101, "a client that will not read");
	char msg[4200];
	snprintf(msg, sizeof msg, "{\"action\":\"echo\",\"payload\":{\"message\":\"%04000d\"}}", 0);
	for (int i = 0; i < 4000; i++)
		if (wsc_send_text(&c, msg) < 0)
			break;
	double dropped = 0;
	for (int i = 0; i < 100 && dropped < 1; i++, usleep(50000))
		dropped = http_metric(s.port, "streamer_slow_readers_dropped_total");
	ok(dropped == 1, "its outbound queue fills and it is dropped");
	ok(tsrv_log_has(&s, "slow reader dropped"), "and logged");
	wsc_close(&c);
	wsc d;
	is_int(connect_as(&d, s.port, 0), 101, "others still connect");
	wsc_send_text(&d, "{\"type\":\"ping\"}");
	r = wsc_recv_text(&d, 3000);
	ok(r && strstr(r, "pong"), "and are answered");
	free(r);
	wsc_close(&d);
	is_int(tsrv_stop(&s), 0, "stops cleanly");
	free(tok);
	return done_testing();
}
