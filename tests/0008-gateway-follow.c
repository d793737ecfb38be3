/* The gateway's per-connection guard (runtime/follow.h): progress below
 * what was sent is raised, nothing passes after the final message, an ack
 * takes no entry unless it brings the request's format, which the
 * request's later events then carry; two requests that shared a slot of the old global table
 * (FNV-1a of request and connection ids, modulo 4096) keep their own
 * percentages; the table stops at ST__FOLLOW_MAX, forgetting the request
 * with the oldest event; and a long random run agrees with a plain model
 * (which checks the deletions by backward shift). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/follow.h"
#include "tap.h"

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

static double progress(st__follow *f, const char *rid, double pct, bool *sent)
{
	uint8_t fmt = ST__EVFMT_UNKNOWN;
	*sent = st__follow_event(f, ST__EV_PROGRESS, rid, &pct, &fmt);
	return pct;
}

/* The model: every request ever seen, and which ones are remembered. */
#define POOL 3000
static struct {
	bool in, final;
	double pct;
	unsigned long long used;
} M[POOL];

int main(void)
{
	st__follow f;
	bool sent;
	uint8_t fmt = ST__EVFMT_UNKNOWN;
	st__follow_init(&f);

	/* Two requests that collide in the old table, on one connection. */
	const char *conn = "5b1d3c1e-8f4a-4c39-9a57-0d6c2e1f7a10";
	char a[37], b[37];
	rid_of(0, a);
	unsigned i = 1;
	for (;; i++) {
		rid_of(i, b);
		if (old_slot(b, conn) == old_slot(a, conn))
			break;
	}
	diag("%s and %s shared slot %u of the old table", a, b, old_slot(a, conn));
	ok(progress(&f, a, 60, &sent) == 60 && sent, "A's progress 60 is sent");
	ok(progress(&f, b, 10, &sent) == 10 && sent, "B's progress 10 is sent");
	ok(progress(&f, a, 30, &sent) == 60 && sent,
	   "A's retried attempt at 30 is sent raised to 60 (the old table sent 30)");
	ok(progress(&f, b, 5, &sent) == 10 && sent, "B's 5 is raised to 10");
	ok(progress(&f, a, 75, &sent) == 75 && sent, "A's 75 goes on");
	is_int(st__follow_count(&f), 2, "two requests remembered");

	double pct = 100;
	ok(st__follow_event(&f, ST__EV_COMPLETE, a, &pct, &fmt), "A's final message is sent");
	progress(&f, a, 90, &sent);
	ok(!sent, "a progress after A's final message is dropped");
	pct = 0;
	ok(!st__follow_event(&f, ST__EV_ERROR, a, &pct, &fmt), "so is a second final message");
	ok(!st__follow_event(&f, ST__EV_ACK, a, &pct, &fmt), "and an ack");
	ok(progress(&f, b, 50, &sent) == 50 && sent, "B is not affected");
	pct = 0;
	ok(st__follow_event(&f, ST__EV_ERROR, b, &pct, &fmt), "B's final message is sent");

	char c[37];
	rid_of(999999, c);
	pct = 0;
	ok(st__follow_event(&f, ST__EV_ACK, c, &pct, &fmt), "an ack for a new request is sent");
	is_int(st__follow_count(&f), 2, "  and takes no entry");
	pct = 100;
	ok(st__follow_event(&f, ST__EV_COMPLETE, c, &pct, &fmt),
	   "a final message with no progress before it is sent");
	progress(&f, c, 10, &sent);
	ok(!sent, "  and what follows it is dropped");
	is_int(fmt, ST__EVFMT_UNKNOWN, "none of these knew a format");

	/* The request's format, from its acknowledgment. */
	char d[37], e[37];
	rid_of(1000001, d);
	rid_of(1000002, e);
	unsigned before = st__follow_count(&f);
	pct = 0;
	fmt = ST__EVFMT_FB;
	ok(st__follow_event(&f, ST__EV_ACK, d, &pct, &fmt), "an ack bringing FlatBuffers is sent");
	is_int(st__follow_count(&f), before + 1, "  and takes an entry");
	fmt = ST__EVFMT_JSON;
	ok(st__follow_event(&f, ST__EV_ACK, e, &pct, &fmt), "an ack bringing JSON is sent");
	pct = 40;
	fmt = ST__EVFMT_UNKNOWN;
	ok(st__follow_event(&f, ST__EV_PROGRESS, d, &pct, &fmt) && pct == 40,
	   "the first request's progress is sent as it is");
	is_int(fmt, ST__EVFMT_FB, "  in FlatBuffers");
	fmt = ST__EVFMT_UNKNOWN;
	pct = 100;
	ok(st__follow_event(&f, ST__EV_COMPLETE, e, &pct, &fmt), "the second's final message is sent");
	is_int(fmt, ST__EVFMT_JSON, "  in JSON");
	fmt = ST__EVFMT_UNKNOWN;
	pct = 100;
	ok(st__follow_event(&f, ST__EV_COMPLETE, d, &pct, &fmt) && fmt == ST__EVFMT_FB,
	   "the first's final message in FlatBuffers");
	fmt = ST__EVFMT_UNKNOWN;
	pct = 0;
	ok(!st__follow_event(&f, ST__EV_PROGRESS, d, &pct, &fmt), "  and nothing after it");
	st__follow_fini(&f);

	/* The bound: 5000 requests, each with one progress (i + 1). */
	st__follow_init(&f);
	unsigned most = 0;
	for (i = 0; i < 5000; i++) {
		char r[37];
		rid_of(i, r);
		progress(&f, r, i + 1, &sent);
		if (st__follow_count(&f) > most)
			most = st__follow_count(&f);
	}
	is_int(most, ST__FOLLOW_MAX, "the table stops at ST__FOLLOW_MAX (%d)", ST__FOLLOW_MAX);
	unsigned kept = 0;
	for (i = 5000 - ST__FOLLOW_MAX; i < 5000; i++) {
		char r[37];
		rid_of(i, r);
		kept += progress(&f, r, 0, &sent) == i + 1;
	}
	is_int(kept, ST__FOLLOW_MAX, "the newest ST__FOLLOW_MAX are remembered");
	char r0[37];
	rid_of(0, r0);
	ok(progress(&f, r0, 0, &sent) == 0 && sent, "the oldest was forgotten");
	st__follow_fini(&f);

	/* A random run against the model, over a pool four times the bound:
	 * evictions all the time. */
	st__follow_init(&f);
	srand(4242);
	unsigned long long clock = 0;
	unsigned n = 0, bad = 0, evictions = 0, drops = 0;
	for (int step = 0; step < 400000 && bad < 5; step++) {
		unsigned id = (unsigned)rand() % POOL;
		int roll = rand() % 100;
		st__event_kind k = roll < 80 ? ST__EV_PROGRESS : roll < 92 ? ST__EV_ACK
				 : roll < 96 ? ST__EV_COMPLETE : ST__EV_ERROR;
		double in = rand() % 101, want = in, got = in;
		bool want_sent = true;
		if (M[id].in && M[id].final) {
			want_sent = false;
		} else if (M[id].in || k != ST__EV_ACK) {
			if (!M[id].in) {
				if (n == ST__FOLLOW_MAX) {
					unsigned old = POOL;
					for (unsigned j = 0; j < POOL; j++)
						if (M[j].in && (old == POOL || M[j].used < M[old].used))
							old = j;
					M[old].in = false;
					n--;
					evictions++;
				}
				M[id].in = true;
				M[id].final = false;
				M[id].pct = in;
				n++;
			}
			M[id].used = ++clock;
			if (k == ST__EV_PROGRESS) {
				if (want < M[id].pct)
					want = M[id].pct;
				M[id].pct = want;
			} else if (k != ST__EV_ACK) {
				M[id].final = true;
			}
		}
		char r[37];
		rid_of(id, r);
		uint8_t none = ST__EVFMT_UNKNOWN;
		bool s = st__follow_event(&f, k, r, &got, &none);
		drops += !s;
		if (s != want_sent || got != want || st__follow_count(&f) != n) {
			diag("step %d: request %u kind %d: sent %d pct %g count %u;"
			     " the model: %d %g %u", step, id, (int)k, s, got,
			     st__follow_count(&f), want_sent, want, n);
			bad++;
		}
	}
	ok(bad == 0, "400000 random events agree with the model"
	   " (%u evictions, %u dropped after a final)", evictions, drops);
	st__follow_fini(&f);
	return done_testing();
}
