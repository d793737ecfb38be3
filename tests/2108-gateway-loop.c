/* The event loop under constant load (server.c, lws_chores): while two
 * clients flood the real streamerd with pipelined echoes, so that every
 * pass of the loop has a socket ready,
 * - SIGTERM still drains and stops the server within its drain time,
 *   which takes lws timers (the drain's 50 ms check) firing on time:
 *   without the chores, libev's starved idle watcher never ran them and
 *   the stop hung;
 * - a new connection whose first message comes in the same write as its
 *   upgrade request is answered. lws may keep such a message for a
 *   forced service, the other chore; here it answered either way, so
 *   this part guards rather than proves. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "e2e.h"

#define FLOODS 2        /* flooding connections */
#define WINDOW 128      /* requests in flight on each */

typedef struct flood {
	wsc ws;
	atomic_bool stop;
	atomic_long sent, answered;
	pthread_t writer, reader;
} flood;

/* Pipelined echoes, WINDOW in flight, until told to stop or the server
 * closes: enough that some socket is ready in every pass of the loop,
 * few enough that the server never refuses or drops anything. */
static void *flood_write(void *arg)
{
	flood *f = arg;
	static const char req[] =
		"{\"type\":\"request\",\"id\":\"f\",\"action\":\"echo\","
		"\"payload\":{\"message\":\"flood\"}}";
	while (!atomic_load(&f->stop)) {
		if (atomic_load(&f->sent) - atomic_load(&f->answered) >= WINDOW) {
			e2e_sleep(0);
			continue;
		}
		if (wsc_send_text(&f->ws, req) < 0)
			return NULL;
		atomic_fetch_add(&f->sent, 1);
	}
	return NULL;
}

static void *flood_read(void *arg)
{
	flood *f = arg;
	for (;;) {
		char *m = NULL;
		size_t len;
		int op = wsc_recv(&f->ws, 1000, &m, &len);
		if (op == WS_TEXT && strstr(m, "\"response\""))
			atomic_fetch_add(&f->answered, 1);
		else if (op == WS_TEXT)
			diag("flood: %.200s", m);
		free(m);
		if (op < 0 || op == WS_CLOSE || (op == 0 && atomic_load(&f->stop)))
			return NULL;
	}
}

static void flood_start(flood *f, const tsrv *s)
{
	char target[2048];
	e2e_target(target, sizeof target, "flooder", "t1");
	memset(f, 0, sizeof *f);
	if (wsc_connect(&f->ws, s->port, target, NULL, 0) != 101)
		BAIL_OUT("flood: cannot connect");
	pthread_create(&f->writer, NULL, flood_write, f);
	pthread_create(&f->reader, NULL, flood_read, f);
}

static long flood_answered(flood *f)
{
	long n = 0;
	for (int i = 0; i < FLOODS; i++)
		n += atomic_load(&f[i].answered);
	return n;
}

static void flood_stop(flood *f)
{
	atomic_store(&f->stop, true);
	shutdown(f->ws.fd, SHUT_RDWR);
	pthread_join(f->writer, NULL);
	pthread_join(f->reader, NULL);
	wsc_close(&f->ws);
}

int main(void)
{
	e2e_need_env();
	tsrv s;
	e2e_start(&s, "all", "STREAMER_RATE_LIMIT=10000000",
		  "STREAMER_RATE_BURST=10000000", NULL);
	flood f[FLOODS];
	for (int i = 0; i < FLOODS; i++)
		flood_start(&f[i], &s);
	long long end = e2e_now() + 5000; /* until the loop is visibly busy */
	while (flood_answered(f) < 20000 && e2e_now() < end)
		e2e_sleep(5);
	long before = flood_answered(f);

	char target[2048];
	e2e_target(target, sizeof target, "u1", "t1");
	int answered = 0, tries = 5;
	long long worst = 0;
	for (int i = 0; i < tries; i++) {
		char id[16], ping[64];
		snprintf(id, sizeof id, "\"early%d\"", i);
		snprintf(ping, sizeof ping, "{\"type\":\"ping\",\"id\":%s}", id);
		wsc c;
		long long t0 = e2e_now();
		int st = wsc_connect_early(&c, s.port, target, ping);
		if (st != 101) {
			diag("upgrade %d: status %d", i, st);
			continue;
		}
		char *m = wsc_recv_text(&c, 3000);
		long long took = e2e_now() - t0;
		if (m && strstr(m, "\"pong\"") && strstr(m, id))
			answered++;
		else
			diag("early ping %d: %s after %lld ms", i, m ? m : "no answer", took);
		worst = took > worst ? took : worst;
		free(m);
		wsc_close(&c);
	}
	diag("slowest answer to an early message: %lld ms", worst);
	is_int(answered, tries,
	       "under a flood, a message sent with the upgrade request is answered (within 3 s)");
	long during = flood_answered(f) - before;
	diag("%ld flood echoes answered meanwhile", during);
	ok(during > 100, "  and the flood was being answered meanwhile");

	long long t0 = e2e_now();
	is_int(e2e_stop(&s), 0, "SIGTERM under the flood: the server stops cleanly");
	long long took = e2e_now() - t0;
	diag("stopped in %lld ms (STREAMER_DRAIN=1s)", took);
	ok(took < 4000, "  within its drain time and the closes' 2 s (%lld ms)", took);
	for (int i = 0; i < FLOODS; i++)
		flood_stop(&f[i]);
	return done_testing();
}
