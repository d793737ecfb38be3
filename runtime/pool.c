/* pool.c: worker threads over a bounded ring of jobs.
 *
 * Wake-ups are what cost here, not the queue: a futex wake and a context
 * switch are several microseconds each, far more than a small handler. So
 * a thread that holds the pool (the event loop) queues jobs without waking
 * anyone and wakes workers once per pass (st__pool_kick), and one worker
 * runs a batch of small jobs alone: a burst costs one wake-up instead of
 * one per job. Help comes when the queue stops moving: a kick that finds
 * jobs waiting while no worker has taken one for ST__POOL_STALL_NS wakes
 * another worker, so a slow job keeps the others waiting for about that
 * long at most (the holder kicks again while jobs wait). Waking a second
 * worker for every batch, as this pool first did, cost about 0.5 us per
 * echo in futex calls and context switches (bench/results.md). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"
#include "streamer/codec.h"

#define STAGE_MAX 256 /* jobs the holder queues before taking the lock */
#define SLOT_BYTES 1024 /* st__pool_mem_alloc: what a recycled slot holds */
#define SLOTS_MAX 1024  /* slots kept, at most */

/* The header of st__pool_mem_alloc's memory: small ones are slots that go
 * back to the pool instead of to malloc. 16 bytes: keeps the alignment. */
typedef struct slot {
	struct slot *next;
	size_t small;
} slot;

typedef struct job {
	st__pool_fn fn;
	void *arg;
	bool quick;          /* st__pool_run_one may run it */
} job;

struct st__pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *ring;           /* cap + STAGE_MAX slots (see submit) */
	size_t cap, head;    /* at most cap queued, from head */
	_Atomic size_t n;    /* queued; written under mu, read without */
	size_t running;      /* jobs being run by workers */
	_Atomic size_t running_else; /* and by others (st__pool_run_one) */
	int64_t moved_ns;    /* when a worker last took a job (monotonic) */
	/* Jobs were queued without a wake-up (stage_move), for the kick to
	 * wake for; `turn`: the holder has run quick jobs since its last
	 * kick (st__pool_release). Both under mu. */
	bool unwoken, turn;
	int idle;            /* threads waiting on cv */
	int waking;          /* of those, signalled but not yet running */
	bool stopping;
	int nthreads;
	pthread_t *threads;
	/* The holder's jobs not yet in the ring (its thread only). */
	job stage[STAGE_MAX];
	size_t nstage;
	/* Slots: freed by any thread onto `freed` (a lock-free stack), taken
	 * back all at once by the holder, the only thread that allocates
	 * them (one consumer: no ABA). */
	_Atomic(slot *) freed;
	slot *spare;         /* the holder's */
	size_t nslots;       /* slots allocated (the holder's count) */
};

#define N(p) atomic_load_explicit(&(p)->n, memory_order_relaxed)
#define N_SET(p, v) atomic_store_explicit(&(p)->n, (v), memory_order_relaxed)
#define RING(p) ((p)->cap + STAGE_MAX)

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Appends j to the ring. Caller holds mu and checked the room. */
static void ring_push(st__pool *p, job j)
{
	if (N(p) == 0) /* the queue starts moving now */
		p->moved_ns = mono_ns();
	size_t tail = p->head + N(p);
	p->ring[tail >= RING(p) ? tail - RING(p) : tail] = j;
	N_SET(p, N(p) + 1);
}


/* Takes the oldest job. Caller holds mu and checked there is one. */
static job ring_pop(st__pool *p)
{
	job j = p->ring[p->head];
	p->head = p->head + 1 == RING(p) ? 0 : p->head + 1;
	N_SET(p, N(p) - 1);
	if (N(p)) /* the queue moves on */
		p->moved_ns = mono_ns();
	return j;
}

/* The pool this thread holds (st__pool_hold): its submits are staged. */
static _Thread_local st__pool *held;

/* A worker's request arena (st__pool_arena), reset after each job. */
static _Thread_local st_arena *worker_arena;
static _Thread_local bool is_worker;

/* Whether to wake one more idle worker: when the queued jobs outnumber
 * the threads that will look at the queue anyway (awake and not running a
 * job, or already signalled). Counts the wake-up; the caller signals after
 * unlocking, so that the woken thread does not block on mu at once.
 * Caller holds mu. */
static bool want_wake(st__pool *p)
{
	size_t free_awake = (size_t)(p->nthreads - p->idle) - p->running;
	if (p->idle > p->waking && N(p) > free_awake + (size_t)p->waking) {
		p->waking++;
		return true;
	}
	return false;
}

static void *pool_main(void *arg)
{
	st__pool *p = arg;
	pthread_setname_np(pthread_self(), "st-pool"); /* top -H, perf */
	is_worker = true;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (N(p) == 0 && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->idle--;
			if (p->waking > 0)
				p->waking--;
		}
		if (N(p) == 0) /* stopping, and nothing left */
			break;
		job j = ring_pop(p);
		p->running++;
		pthread_mutex_unlock(&p->mu);
		j.fn(j.arg);
		if (worker_arena)
			st_arena_reset(worker_arena);
		pthread_mutex_lock(&p->mu);
		p->running--;
	}
	pthread_mutex_unlock(&p->mu);
	st_arena_free(worker_arena);
	worker_arena = NULL;
	return NULL;
}

st__pool *st__pool_create(int nthreads, size_t max_queued)
{
	st__pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	/* Adaptive: the critical sections are a few stores, so a contended
	 * lock spins briefly instead of sleeping in the kernel. */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&p->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&p->cv, NULL);
	p->cap = max_queued ? max_queued : 1;
	p->ring = calloc(RING(p), sizeof *p->ring);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	if (!p->ring || !p->threads)
		goto fail;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
			pthread_mutex_unlock(&p->mu);
			goto fail;
		}
		p->nthreads++;
	}
	pthread_mutex_unlock(&p->mu);
	return p;
fail:
	st__pool_free(p);
	return NULL;
}

void st__pool_free(st__pool *p)
{
	if (!p)
		return;
	if (held == p)
		held = NULL;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nstage; i++) /* runs what was accepted */
		ring_push(p, p->stage[i]);
	p->nstage = 0;
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	for (slot *lists[2] = { p->spare, atomic_load(&p->freed) }, **l = lists;
	     l < lists + 2; l++)
		while (*l) {
			slot *next = (*l)->next;
			free(*l);
			*l = next;
		}
	free(p->threads);
	free(p->ring);
	free(p);
}

/* Moves the holder's staged jobs into the ring and, with `wake`, wakes
 * for them; without, leaves that to the next kick (unwoken). The ring has
 * STAGE_MAX spare slots: the holder admitted its jobs against a count read
 * without the lock, which other submitters may have raised to cap since. */
static void stage_move(st__pool *p, bool wake)
{
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nstage; i++)
		ring_push(p, p->stage[i]);
	p->nstage = 0;
	p->unwoken = !wake;
	wake = wake && N(p) && want_wake(p);
	pthread_mutex_unlock(&p->mu);
	if (wake)
		pthread_cond_signal(&p->cv);
}

static int submit(st__pool *p, job j)
{
	if (held == p) {
		/* Only this thread adds to the stage, and the ring only
		 * shrinks behind our back (or grows up to cap). */
		if (N(p) + p->nstage >= p->cap)
			return -1;
		p->stage[p->nstage++] = j;
		/* A full stage mid-pass: queued, but the wake-up waits for
		 * the kick, after the holder may have run them itself. */
		if (p->nstage == STAGE_MAX)
			stage_move(p, false);
		return 0;
	}
	int rc = -1;
	bool wake = false;
	pthread_mutex_lock(&p->mu);
	if (!p->stopping && N(p) < p->cap) {
		ring_push(p, j);
		wake = want_wake(p);
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	if (wake)
		pthread_cond_signal(&p->cv);
	return rc;
}

int st__pool_submit(st__pool *p, st__pool_fn fn, void *arg)
{
	return submit(p, (job){ fn, arg, false });
}

int st__pool_submit_quick(st__pool *p, st__pool_fn fn, void *arg)
{
	return submit(p, (job){ fn, arg, true });
}

void st__pool_hold(st__pool *p, bool on)
{
	if (on) {
		held = p;
		return;
	}
	st__pool_kick(p);
	if (held == p)
		held = NULL;
}

void st__pool_release(st__pool *p)
{
	if (held != p)
		return;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nstage; i++)
		ring_push(p, p->stage[i]);
	if (p->nstage)
		p->unwoken = true;
	p->nstage = 0;
	p->turn = true;
	pthread_mutex_unlock(&p->mu);
	held = NULL;
}

bool st__pool_run_one(st__pool *p)
{
	if (!N(p))
		return false;
	pthread_mutex_lock(&p->mu);
	if (!N(p) || !p->ring[p->head].quick) {
		pthread_mutex_unlock(&p->mu);
		return false;
	}
	job j = ring_pop(p);
	p->running_else++;
	pthread_mutex_unlock(&p->mu);
	/* A job here gets an arena like on a worker (st__pool_arena). */
	bool was_worker = is_worker;
	is_worker = true;
	j.fn(j.arg);
	is_worker = was_worker;
	if (worker_arena)
		st_arena_reset(worker_arena);
	p->running_else--; /* atomic: no lock for it */
	return true;
}

size_t st__pool_queued(st__pool *p)
{
	return N(p) + (held == p ? p->nstage : 0);
}

void st__pool_thread_end(void)
{
	st_arena_free(worker_arena);
	worker_arena = NULL;
}

bool st__pool_kick(st__pool *p)
{
	if (held != p)
		return false;
	if (p->nstage)
		stage_move(p, true);
	if (!N(p))
		return false;
	pthread_mutex_lock(&p->mu);
	bool wake, turn = p->turn;
	p->turn = false;
	if (p->unwoken && N(p) && (!turn || !p->ring[p->head].quick)) {
		/* Queued without a wake-up, and not for st__pool_run_one (no
		 * turn ran, or what waits first is not quick): wake for them
		 * now. Quick jobs left after a turn wait for the next. */
		p->unwoken = false;
		wake = want_wake(p);
	} else {
		wake = N(p) && mono_ns() - p->moved_ns >= ST__POOL_STALL_NS &&
		       want_wake(p);
	}
	/* Worth another kick only while there are more jobs than workers
	 * already woken for them, and a sleeping worker could still be
	 * woken: with every worker busy, the first to finish takes the
	 * next job itself; and a job that only waits for the worker just
	 * woken for it needs no second one. (A kick scheduled then would
	 * have the loop poll with a zero timeout until the worker ran: lws
	 * rounds timers below 1 ms down to 0.) */
	bool again = N(p) > (size_t)p->waking && p->idle > p->waking;
	pthread_mutex_unlock(&p->mu);
	if (wake)
		pthread_cond_signal(&p->cv);
	return again;
}

st_arena *st__pool_arena(size_t max)
{
	if (!is_worker)
		return NULL;
	if (!worker_arena)
		worker_arena = st_arena_create(max);
	return worker_arena;
}

void *st__pool_mem_alloc(st__pool *p, size_t n)
{
	slot *h = NULL;
	if (held == p && n <= SLOT_BYTES) {
		if (!p->spare)
			p->spare = atomic_exchange_explicit(&p->freed, NULL,
							    memory_order_acquire);
		if (p->spare) {
			h = p->spare;
			p->spare = h->next;
		} else if (p->nslots < SLOTS_MAX &&
			   (h = malloc(sizeof *h + SLOT_BYTES))) {
			p->nslots++;
		}
		if (h) {
			h->small = 1;
			return h + 1;
		}
	}
	h = malloc(sizeof *h + n);
	if (!h)
		return NULL;
	h->small = 0;
	return h + 1;
}

void st__pool_mem_free(st__pool *p, void *mem)
{
	if (!mem)
		return;
	slot *h = (slot *)mem - 1;
	if (!h->small) {
		free(h);
		return;
	}
	slot *top = atomic_load_explicit(&p->freed, memory_order_relaxed);
	do
		h->next = top;
	while (!atomic_compare_exchange_weak_explicit(&p->freed, &top, h,
						      memory_order_release,
						      memory_order_relaxed));
}

size_t st__pool_busy(st__pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = N(p) + p->running + p->running_else + (held == p ? p->nstage : 0);
	pthread_mutex_unlock(&p->mu);
	return n;
}

int st__pool_idle(st__pool *p)
{
	pthread_mutex_lock(&p->mu);
	int n = p->idle - p->waking;
	pthread_mutex_unlock(&p->mu);
	return n;
}
