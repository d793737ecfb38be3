/* daemon.h: the server process from start to stop: configuration, the
 * database, the async engine, the handler pool, the gateway, signals. */
#ifndef STREAMER_DAEMON_H
#define STREAMER_DAEMON_H

#include "streamer/registry.h"

/* Runs streamerd with the actions of `reg` (borrowed) until SIGTERM or
 * SIGINT, then drains and stops. Returns the exit status: 0; 1 when the
 * database or the listen address fails; 2 for a bad setting. Tests call
 * it with a registry of their own. */
int st__daemon_main(int argc, char **argv, const st_registry *reg);

#endif
