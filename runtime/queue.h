/* queue.h: the submitting side of the PostgreSQL queue: new requests
 * committed in groups (one INSERT of many rows per transaction, its trigger
 * NOTIFYing the workers), idempotent per client `id`, acknowledged after
 * commit; and status, list and cancel, scoped to the user and tenant. */
#ifndef STREAMER_QUEUE_H
#define STREAMER_QUEUE_H

#include "async.h"

typedef struct st__queue st__queue;

/* `cfg` is the engine's resolved configuration (defaults filled, node_id
 * set); borrowed, it outlives the queue. NULL on OOM. */
st__queue *st__queue_create(const st__async_config *cfg);
/* Starts cfg->submitters threads, each with its own connection (made
 * lazily and again after any failure). 0 or -1. */
int st__queue_start(st__queue *q);
/* Finishes what was queued (or fails it with SERVICE_UNAVAILABLE once its
 * deadline passes) and joins the threads. */
void st__queue_stop(st__queue *q);
void st__queue_free(st__queue *q);
/* This process's workers, when it runs handlers (before st__queue_start):
 * the requests they have room for are inserted claimed and handed to
 * them (st__workers_reserve in worker.h). */
struct st__workers;
void st__queue_set_workers(st__queue *q, struct st__workers *w);

/* See st__async_submit, st__async_status, st__async_list, st__async_cancel. */
int st__queue_submit(st__queue *q, const st__submit *s, st__submit_cb cb,
		     void *ud);
int st__queue_status(st__queue *q, const char *tenant_id, const char *user_id,
		     const char *request_id, const char *connection_id,
		     st__query_cb cb, void *ud);
int st__queue_list(st__queue *q, const char *tenant_id, const char *user_id,
		   st__query_cb cb, void *ud);
int st__queue_cancel(st__queue *q, const char *tenant_id, const char *user_id,
		     const char *request_id, st__query_cb cb, void *ud);

/* Blocks while `request_id` belongs to a batch whose acknowledgments are
 * not yet posted: a worker in this process calls it before the first
 * event of a request, so that the acknowledgment comes first. */
void st__queue_ack_wait(st__queue *q, const char *request_id);
/* The same question without waiting: true while the acknowledgment of
 * `request_id` is still to be posted here (q may be NULL: false). */
bool st__queue_ack_pending(st__queue *q, const char *request_id);

#endif
