/* streamerd-test.c: streamerd-test's entry point: streamerd's own main
 * (runtime/main.c, compiled in here as streamerd_main, so that `migrate`
 * and the server are the very same code) after the test hooks of
 * runtime/testhooks.h are set from the environment. Only this program
 * reads these variables; streamerd has none of them:
 *   STREAMER_TEST_LOSE_FINISH_REPLY=N  lose_finish_replies
 *   STREAMER_TEST_LOSE_CLAIM_REPLY=N   lose_claim_replies
 *   STREAMER_TEST_LOSE_CANCEL_REPLY=N  lose_cancel_replies
 * each: the first N such operations are treated as if the connection
 * broke after their COMMIT (tests/4018, 4019, 4020); and
 *   STREAMER_TEST_DELAY_ACKS_MS=N      delay_acks_ms (tests/4021).
 * Unset is 0, off. */
#include <stdlib.h>

#include "testhooks.h"

#define main streamerd_main
#include "../../runtime/main.c"
#undef main

static int hook(const char *name)
{
	const char *v = getenv(name);
	return v ? atoi(v) : 0;
}

int main(int argc, char **argv)
{
	/* Before streamerd_main starts any thread or creates the queue and
	 * the workers, which copy the counts. */
	st__test_hooks.lose_finish_replies =
		hook("STREAMER_TEST_LOSE_FINISH_REPLY");
	st__test_hooks.lose_claim_replies =
		hook("STREAMER_TEST_LOSE_CLAIM_REPLY");
	st__test_hooks.lose_cancel_replies =
		hook("STREAMER_TEST_LOSE_CANCEL_REPLY");
	st__test_hooks.delay_acks_ms = hook("STREAMER_TEST_DELAY_ACKS_MS");
	return streamerd_main(argc, argv);
}
