/* pool.c: worker threads over a bounded ring of jobs. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pool.h"

typedef struct job {
	st__pool_fn fn;
	void *arg;
} job;

struct st__pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *ring;
	size_t cap, head, n; /* ring of cap slots, n queued from head */
	size_t running;
	bool stopping;
	int nthreads;
	pthread_t *threads;
};

static void *pool_main(void *arg)
{
	st__pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->n == 0 && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->n == 0) /* stopping, and nothing left */
			break;
		job j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->n--;
		p->running++;
		pthread_mutex_unlock(&p->mu);
		j.fn(j.arg);
		pthread_mutex_lock(&p->mu);
		p->running--;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

st__pool *st__pool_create(int nthreads, size_t max_queued)
{
	st__pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->cap = max_queued ? max_queued : 1;
	p->ring = calloc(p->cap, sizeof *p->ring);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	if (!p->ring || !p->threads)
		goto fail;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
			goto fail;
		p->nthreads++;
	}
	return p;
fail:
	st__pool_free(p);
	return NULL;
}

void st__pool_free(st__pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p->ring);
	free(p);
}

int st__pool_submit(st__pool *p, st__pool_fn fn, void *arg)
{
	int rc = -1;
	pthread_mutex_lock(&p->mu);
	if (!p->stopping && p->n < p->cap) {
		p->ring[(p->head + p->n) % p->cap] = (job){ fn, arg };
		p->n++;
		pthread_cond_signal(&p->cv);
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

size_t st__pool_busy(st__pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->n + p->running;
	pthread_mutex_unlock(&p->mu);
	return n;
}
