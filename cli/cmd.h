/* cmd.h: streamer-cli's protocol commands: request, status, list, cancel
 * (one WebSocket connection each; see cli/README.md). */
#ifndef CLI_CMD_H
#define CLI_CMD_H

#include <stdio.h>

/* Exit statuses. */
enum {
	CLI_EXIT_OK = 0,        /* response, complete; the status/list answer */
	CLI_EXIT_FAILED = 1,    /* an error message, a timeout */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_CONNECT = 3,   /* no connection, token refused, connection lost */
	CLI_EXIT_INTERRUPTED = 130,
};

/* Runs command `cmd` ("request", "status", "list" or "cancel") with the
 * arguments after the command word; returns the exit status. */
int cli_cmd_main(const char *cmd, int argc, char **argv);

/* Prints the usage of the four commands. */
void cli_cmd_usage(FILE *out);

#endif
