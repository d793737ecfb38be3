/* The worker pool (runtime/pool.c): jobs run; a holder's batch wakes one
 * worker, and a job queued behind a slow one gets another worker once the
 * queue has stood still for ST__POOL_STALL_NS, as long as the holder keeps
 * kicking while st__pool_kick says jobs wait (as the event loop does);
 * a holder that runs quick jobs itself (st__pool_release, run_one) runs
 * those, on its own thread with an arena, and a kick hands the rest to the
 * workers at once; freeing runs what was accepted. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/pool.h"
#include "tap.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static atomic_int ran;
static atomic_llong fast_done_at; /* when the last fast job finished */

static pthread_t ran_on[64];

static void fast(void *arg)
{
	(void)arg;
	int k = atomic_fetch_add(&ran, 1);
	if (k < 64)
		ran_on[k] = pthread_self();
	atomic_store(&fast_done_at, now_ms());
}

static atomic_int arena_seen;

/* Counts the job's arena (st__pool_arena) when it has one. */
static void with_arena(void *arg)
{
	(void)arg;
	if (st__pool_arena(1024))
		atomic_fetch_add(&arena_seen, 1);
	atomic_fetch_add(&ran, 1);
}

static void quick_arena(void *arg)
{
	with_arena(arg);
}

static void slow(void *arg)
{
	usleep((useconds_t)(long)arg * 1000);
	atomic_fetch_add(&ran, 1);
}

/* Kicks every 100 us, as the loop's timer does, until `n` jobs ran or
 * `ms` passed; how many kicks said jobs were waiting. */
static int kick_until(st__pool *p, int n, int ms)
{
	int waiting = 0;
	for (int64_t end = now_ms() + ms; atomic_load(&ran) < n && now_ms() < end;) {
		waiting += st__pool_kick(p);
		usleep(100);
	}
	return waiting;
}

int main(void)
{
	st__pool *p = st__pool_create(2, 64);
	ok(p != NULL, "a pool of two threads");

	/* Plain submits (no holder). */
	for (int i = 0; i < 10; i++)
		st__pool_submit(p, fast, NULL);
	for (int64_t end = now_ms() + 2000; atomic_load(&ran) < 10 && now_ms() < end;)
		usleep(1000);
	is_int(atomic_load(&ran), 10, "ten submitted jobs run");

	/* A holder's batch: a slow job first, then fast ones behind it,
	 * both workers asleep at first (a worker still on its way to sleep
	 * would take the fast jobs at once, and no kick would see them wait). */
	for (int64_t end = now_ms() + 5000; st__pool_idle(p) < 2 && now_ms() < end;)
		usleep(1000);
	atomic_store(&ran, 0);
	st__pool_hold(p, true);
	int64_t t0 = now_ms();
	st__pool_submit(p, slow, (void *)1000L);
	for (int i = 0; i < 5; i++)
		st__pool_submit(p, fast, NULL);
	is_int(st__pool_busy(p), 6, "six jobs staged by the holder");
	ok(st__pool_kick(p), "the kick says jobs wait");
	int waiting = kick_until(p, 6, 5000);
	int64_t fast_ms = atomic_load(&fast_done_at) - t0;
	ok(fast_ms < 500, "the jobs behind a 1 s job ran in %lld ms (another worker came)",
	   (long long)fast_ms);
	ok(waiting > 0, "kicks said jobs were waiting meanwhile (%d)", waiting);
	is_int(atomic_load(&ran), 6, "all six ran");
	ok(!st__pool_kick(p), "with nothing queued the kick says so");

	/* Both workers busy with slow jobs, one more waiting: nobody to
	 * wake, so the kick does not ask to be called again. */
	atomic_store(&ran, 0);
	st__pool_submit(p, slow, (void *)300L);
	st__pool_submit(p, slow, (void *)300L);
	st__pool_submit(p, fast, NULL);
	st__pool_kick(p);
	for (int64_t end = now_ms() + 2000; st__pool_busy(p) != 3 && now_ms() < end;)
		usleep(1000);
	usleep(1000);
	int64_t t1 = now_ms();
	bool again = true;
	while (now_ms() - t1 < 100 && (again = st__pool_kick(p)))
		usleep(100);
	ok(!again, "every worker busy: the kick does not ask to come back");
	kick_until(p, 3, 3000);
	is_int(atomic_load(&ran), 3, "and the waiting job runs when a worker is free");

	/* A batch of fast jobs, one kick: one worker runs them all (no
	 * second wake-up for a batch that keeps moving). */
	atomic_store(&ran, 0);
	for (int i = 0; i < 40; i++)
		st__pool_submit(p, fast, NULL);
	st__pool_kick(p);
	for (int64_t end = now_ms() + 2000; atomic_load(&ran) < 40 && now_ms() < end;)
		usleep(1000);
	is_int(atomic_load(&ran), 40, "a batch of forty runs after one kick");
	int threads = 1;
	for (int i = 1; i < 40; i++)
		if (!pthread_equal(ran_on[i], ran_on[0]))
			threads = 2;
	is_int(threads, 1, "on one worker");

	/* The holder runs its quick jobs itself: in order, on its thread,
	 * with a worker's arena; the first job that is not quick stops it,
	 * and the next kick wakes a worker for that one and what follows. */
	for (int64_t end = now_ms() + 5000; st__pool_idle(p) < 2 && now_ms() < end;)
		usleep(1000); /* no worker awake to take them first */
	atomic_store(&ran, 0);
	for (int i = 0; i < 3; i++)
		st__pool_submit_quick(p, fast, NULL);
	st__pool_submit(p, with_arena, NULL);
	st__pool_submit_quick(p, fast, NULL);
	ok(st__pool_queued(p) == 5, "five jobs staged, three quick first");
	st__pool_release(p);
	ok(st__pool_arena(1024) == NULL, "no arena outside a job");
	int mine = 0;
	while (st__pool_run_one(p))
		mine++;
	is_int(mine, 3, "the holder ran the three quick ones, then stopped");
	int here = 0;
	for (int i = 0; i < 3; i++)
		here += pthread_equal(ran_on[i], pthread_self());
	is_int(here, 3, "  on its own thread");
	st__pool_submit_quick(p, quick_arena, NULL);
	ok(!st__pool_run_one(p), "  a quick job behind one that is not waits its turn");
	st__pool_hold(p, true);
	st__pool_kick(p);
	for (int64_t end = now_ms() + 2000; atomic_load(&ran) < 6 && now_ms() < end;)
		usleep(1000);
	is_int(atomic_load(&ran), 6, "the kick had a worker run the rest");
	ok(atomic_load(&arena_seen) == 2, "every job had an arena, on a worker or not");
	for (int64_t end = now_ms() + 5000; st__pool_idle(p) < 2 && now_ms() < end;)
		usleep(1000); /* no worker awake to take it first */
	st__pool_submit_quick(p, quick_arena, NULL);
	st__pool_release(p);
	ok(st__pool_run_one(p), "a quick job alone runs here too");
	ok(atomic_load(&arena_seen) == 3, "  with an arena");
	st__pool_thread_end();
	st__pool_hold(p, true);

	/* Free runs what was accepted. */
	atomic_store(&ran, 0);
	for (int i = 0; i < 20; i++)
		st__pool_submit(p, slow, (void *)1L);
	st__pool_hold(p, false);
	st__pool_free(p);
	is_int(atomic_load(&ran), 20, "freeing runs every accepted job first");
	return done_testing();
}
