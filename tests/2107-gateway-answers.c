/* Sync answers of quick jobs run by the loop's own thread between passes
 * (server.c, run_inline), against the real streamerd and its echo: every
 * answer arrives whole and in order within the byte stream, with both
 * header sizes (up to 125 bytes, and up to 64 KiB), one request at a time
 * (each its own turn: the log says so), a burst read in one pass (its
 * jobs run in one turn), and pipelined with pings and async requests whose
 * messages go through the loop's queue. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "e2e.h"

/* A message of `len` characters, different for each `seed`. */
static void fill(char *buf, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (seed + (int)i) % 26);
	buf[len] = '\0';
}

/* Is `r` the echo of `want`? */
static bool echoed(json_t *r, const char *want)
{
	json_t *p = json_object_get(r, "data");
	const char *got = json_string_value(json_object_get(p, "message"));
	return got && !strcmp(got, want) && json_is_string(json_object_get(p, "echoed_at"));
}

static int log_count(const tsrv *s, const char *needle)
{
	char *n = sh_line("grep -c '%s' %s", needle, s->log);
	int v = n ? atoi(n) : 0;
	free(n);
	return v;
}

int main(void)
{
	e2e_need_env();
	tsrv s;
	e2e_start(&s, "all", "LOG_LEVEL=debug", "STREAMER_RATE_LIMIT=100000",
		  "STREAMER_RATE_BURST=100000", NULL);
	e2e_client c;
	e2e_connect(&c, &s, "u1", "t1");
	static char msg[4097];

	/* One at a time: answers from 150 to over 4 KiB. */
	static const size_t big[] = { 1000, 2000, 3800, 3950, 4096 };
	int sent = 0, whole = 0;
	for (int i = 0; i < 300 + 5; i++) {
		size_t len = i < 300 ? (size_t)i + 1 : big[i - 300];
		fill(msg, len, i);
		char id[16];
		snprintf(id, sizeof id, "s%d", i);
		e2e_send(&c, "{\"type\":\"request\",\"id\":\"%s\",\"action\":\"echo\","
			     "\"payload\":{\"message\":\"%s\"}}", id, msg);
		sent++;
		json_t *r = e2e_wait(&c, "response", NULL, id, 5000);
		if (r && echoed(r, msg))
			whole++;
		else
			diag("echo of %zu characters (%s): %s", len, id, r ? "wrong" : "no answer");
	}
	is_int(whole, sent, "one at a time: every echo answered whole, 1 to 4,096 characters");
	is_int(c.n, sent, "  and nothing else arrived");
	int turns = log_count(&s, "jobs run on the loop.s thread");
	diag("%d turns of jobs on the loop's thread for %d requests", turns, sent);
	ok(turns >= sent / 2, "their jobs ran on the loop's thread (log: jobs run on the loop's thread)");

	/* A burst in one TCP segment: the loop reads its frames in one pass
	 * and runs their jobs in one turn. */
	int burst_ok = 0;
	int one = 1, zero = 0;
	setsockopt(c.ws.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
	for (int i = 0; i < 20; i++)
		e2e_send(&c, "{\"type\":\"request\",\"id\":\"b%d\",\"action\":\"echo\","
			     "\"payload\":{\"message\":\"burst %d\"}}", i, i);
	setsockopt(c.ws.fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
	for (int i = 0; i < 20; i++) {
		char id[16], want[16];
		snprintf(id, sizeof id, "b%d", i);
		snprintf(want, sizeof want, "burst %d", i);
		json_t *r = e2e_wait(&c, "response", NULL, id, 5000);
		burst_ok += r && echoed(r, want);
	}
	is_int(burst_ok, 20, "a burst of 20 in one segment: every echo answered");
	ok(log_count(&s, "jobs run on the loop.s thread.*\"jobs\":[1-9][0-9]") > 0,
	   "  in a turn of ten jobs or more");

	/* Pipelined: echoes, pings and async delays sent at once. */
	int base = c.n, echoes = 0, pings = 0;
	char rids[4][37];
	for (int i = 0; i < 600; i++) {
		if (i % 150 == 0) {
			e2e_send(&c, "{\"type\":\"request\",\"id\":\"d%d\",\"action\":\"delay\","
				     "\"payload\":{\"ms\":50,\"steps\":5}}", i / 150);
		} else if (i % 3 == 0) {
			e2e_send(&c, "{\"type\":\"ping\",\"id\":\"p%d\"}", i);
			pings++;
		} else {
			fill(msg, (size_t)(i * 7) % 300 + 1, i);
			e2e_send(&c, "{\"type\":\"request\",\"id\":\"m%d\",\"action\":\"echo\","
				     "\"payload\":{\"message\":\"%s\"}}", i, msg);
			echoes++;
		}
	}
	int got_echo = 0, got_pong = 0, bad = 0;
	for (int i = 0; i < 600; i++) {
		char id[16];
		if (i % 150 == 0) {
			snprintf(id, sizeof id, "d%d", i / 150);
			json_t *ack = e2e_wait_from(&c, base, "acknowledgment", NULL, id, 10000);
			const char *rid = ack ? e2e_str(ack, "request_id") : NULL;
			snprintf(rids[i / 150], sizeof rids[0], "%s", rid ? rid : "");
			continue;
		}
		snprintf(id, sizeof id, "%c%d", i % 3 == 0 ? 'p' : 'm', i);
		json_t *r = e2e_wait_from(&c, base, i % 3 == 0 ? "pong" : "response", NULL,
					  id, 10000);
		if (!r) {
			bad++;
			diag("no answer to %s", id);
		} else if (i % 3 == 0) {
			got_pong++;
		} else {
			fill(msg, (size_t)(i * 7) % 300 + 1, i);
			if (echoed(r, msg))
				got_echo++;
			else
				bad++;
		}
	}
	is_int(got_echo, echoes, "pipelined: every echo answered whole");
	is_int(got_pong, pings, "  every ping answered");
	is_int(bad, 0, "  nothing missing or mangled");
	int finals = 0, progress = 0;
	for (int d = 0; d < 4; d++) {
		json_t *f = rids[d][0] ? e2e_wait_final(&c, rids[d], 10000) : NULL;
		if (f && !strcmp(e2e_str(f, "type"), "complete"))
			finals++;
		progress += rids[d][0] ? e2e_count(&c, "progress", rids[d]) : 0;
	}
	is_int(finals, 4, "  the async delays between them acknowledged and completed");
	ok(progress >= 4, "  with their progress (%d messages)", progress);
	int dups = 0;
	for (int i = base; i < c.n; i++)
		for (int j = i + 1; j < c.n; j++)
			if (e2e_match(c.msgs[j].j, e2e_str(c.msgs[i].j, "type"), NULL,
				      e2e_str(c.msgs[i].j, "id")) &&
			    e2e_str(c.msgs[i].j, "id") && !e2e_is_final(c.msgs[i].j) &&
			    strcmp(e2e_str(c.msgs[i].j, "type"), "progress") != 0)
				dups++;
	is_int(dups, 0, "  no answer twice");

	e2e_free(&c);
	is_int(e2e_stop(&s), 0, "streamerd stops cleanly");
	done_testing();
}
