/* pool.h: a fixed set of threads running jobs from a bounded queue. */
#ifndef STREAMER_POOL_H
#define STREAMER_POOL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct st__pool st__pool;

/* A job: fn(arg) runs once on a pool thread; it owns arg. */
typedef void (*st__pool_fn)(void *arg);

/* `nthreads` threads, at most `max_queued` jobs waiting. NULL on failure. */
st__pool *st__pool_create(int nthreads, size_t max_queued);
/* Runs every job already queued, then joins the threads and frees. */
void st__pool_free(st__pool *p);

/* Queues a job; -1 when the queue is full or the pool is stopping (the
 * caller still owns arg). Thread-safe. */
int st__pool_submit(st__pool *p, st__pool_fn fn, void *arg);
/* The same for a job short enough to run on a holder that runs jobs
 * itself (st__pool_run_one); the workers run it otherwise. */
int st__pool_submit_quick(st__pool *p, st__pool_fn fn, void *arg);

/* Batching for the event loop: while the calling thread holds p, its
 * submits are staged without a lock or a wake-up, and st__pool_kick (call
 * it once per loop pass, on that thread) queues them all and wakes what
 * they need. Releasing kicks. Release before st__pool_free.
 *
 * A worker runs the jobs of a batch one after the other; another one is
 * woken by a kick that finds the queue has not moved for ST__POOL_STALL_NS
 * (a slow job is holding it up). st__pool_kick returns true while jobs are
 * waiting and a sleeping worker could take them: then kick again within
 * about that long, even with nothing else to do, so that no job waits
 * behind a slow one for longer. */
#define ST__POOL_STALL_NS 200000
void st__pool_hold(st__pool *p, bool on);
bool st__pool_kick(st__pool *p);

/* For a holder that runs quick jobs itself between passes:
 * st__pool_release queues its staged jobs without waking anyone and stops
 * holding p (its submits are ordinary ones again, as a job's must be);
 * st__pool_run_one then runs the oldest queued job on the calling thread,
 * with an arena as on a worker, if it is a quick one, and returns false
 * when there was none. Hold p again after, and kick: a job that is not
 * quick left at the head of the queue wakes a worker then.
 * st__pool_queued: jobs queued or staged, read without the lock (a hint). */
void st__pool_release(st__pool *p);
bool st__pool_run_one(st__pool *p);
size_t st__pool_queued(st__pool *p);
/* Frees the calling thread's arena, for a thread that ran jobs with
 * st__pool_run_one and is about to end. */
void st__pool_thread_end(void);

/* On a pool thread, inside a job: that thread's arena (created with `max`
 * on first use), empty at the start of each job and reset by the pool
 * after it; borrowed, never freed by the job. NULL elsewhere or on OOM.
 * Saves a job the malloc and free of an arena of its own. */
struct st_arena *st__pool_arena(size_t max);

/* Memory for a job's argument, allocated on the holding thread and freed
 * on a worker: small blocks are recycled through the pool rather than
 * malloc'd on one thread and freed on another (glibc then takes the
 * allocating thread's arena lock). Any size; NULL on OOM. Free with
 * st__pool_mem_free (any thread, before st__pool_free). */
void *st__pool_mem_alloc(st__pool *p, size_t n);
void st__pool_mem_free(st__pool *p, void *mem);

/* Jobs queued plus running. */
size_t st__pool_busy(st__pool *p);
/* Threads asleep waiting for jobs (for tests). */
int st__pool_idle(st__pool *p);

#endif
