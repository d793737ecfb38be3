/* streamer-cli: the development tool. `token` prints a signed JWT for
 * streamerd (token.c); `request`, `status`, `list` and `cancel` talk to a
 * running streamerd over WebSocket (cmd.c, conn.c). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "token.h"

static int usage(FILE *out)
{
	fprintf(out, "usage: streamer-cli token --alg ALG ... (streamer-cli token --help)\n");
	cli_cmd_usage(out);
	return out == stdout ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "token"))
		return cli_token_main(argc - 2, argv + 2);
	if (!strcmp(cmd, "request") || !strcmp(cmd, "status") || !strcmp(cmd, "list") ||
	    !strcmp(cmd, "cancel"))
		return cli_cmd_main(cmd, argc - 2, argv + 2);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return usage(stdout);
	fprintf(stderr, "streamer-cli: unknown command '%s'\n", cmd);
	return usage(stderr);
}
