/* testhooks.h: faults the end to end tests inject into the runtime, to
 * reach recovery paths that a real failure reaches only by chance. All
 * off (0) by default. Only the test daemon sets them (its main,
 * tests/lib/streamerd-test.c, from its environment, before it starts the
 * daemon); streamerd's own main never touches them, so that a production
 * binary reads no test-only variables. */
#ifndef STREAMER_TESTHOOKS_H
#define STREAMER_TESTHOOKS_H

#include <stdatomic.h>
#include <stdbool.h>

/* Each count N > 0: the first N such operations are treated as if the
 * connection broke between their COMMIT and its reply. The queue and the
 * workers each copy the counts when they are created (st__queue_create,
 * st__workers_create), so they are set before that, while the process has
 * one thread, and each copy counts down on its own. */
typedef struct st__testhooks {
	/* Finish statements that changed rows (worker.c, lose_replies): the
	 * reply is read and thrown away, the case recover_batch exists for. */
	int lose_finish_replies;
	/* Claims that returned rows (worker.c, lose_claims): the reply is
	 * thrown away, the case adopt exists for. */
	int lose_claim_replies;
	/* Cancels that changed a row (queue.c, lose_cancels; the connection
	 * is closed after the commit, the case recover_cancel exists for),
	 * and, N more, commits of SQL_CANCELLED that changed rows (worker.c,
	 * lose_cancels; the case struct fin_lost exists for). */
	int lose_cancel_replies;
	/* Milliseconds the submitter waits between a batch's commit and its
	 * acknowledgments (queue.c, finish_batch): long enough for another
	 * process to run the request and send its events first, the case
	 * the ack_wait in worker.c's on_node_event exists for. */
	int delay_acks_ms;
} st__testhooks;

/* Zero (testhooks.c); only the test daemon writes it. */
extern st__testhooks st__test_hooks;

/* A component's copy of one of the counts above: true when this operation
 * is to be treated as lost (the count was positive; one is taken, and the
 * log says `"lost":"<what>"`, which the tests look for). Thread-safe. */
bool st__test_hook_take(atomic_int *count, const char *what);

#endif
