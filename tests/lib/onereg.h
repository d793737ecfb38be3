/* onereg.h: streamerd with a registry of one action, for the tests that
 * are both the client and, started again, the server (2105, 2106). The
 * test declares what is its own: the action's name, payload and result
 * sizes, JSON payload decoder, JSON result encoder and handler. onereg.c
 * supplies the rest: service "test", a declared duration of 10 ms, a JSON
 * payload encoder writing {}, and the registry around the action. */
#ifndef TEST_ONEREG_H
#define TEST_ONEREG_H

#include "streamer/registry.h"

/* Runs streamerd's daemon (st__daemon_main) with `a` as its only action
 * and returns its exit status. Of `a`, a NULL service, a zero
 * duration_ms and a NULL payload_encode_json take the defaults above. */
int onereg_main(int argc, char **argv, const st_action *a);

/* On the client side: this program's path, to start it again as the
 * server; skips the whole test when it does not run under make test. */
const char *onereg_self(void);

#endif
