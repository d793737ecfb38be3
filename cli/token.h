/* token.h: `streamer-cli token`, development JWTs. */
#ifndef CLI_TOKEN_H
#define CLI_TOKEN_H

/* Runs `streamer-cli token` with the arguments after the command word;
 * returns the exit status (0, 1 on failure, 2 on bad usage). */
int cli_token_main(int argc, char **argv);

#endif
