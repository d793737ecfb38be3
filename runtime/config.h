/* config.h: streamerd's settings, from the environment and flags. */
#ifndef STREAMER_CONFIG_H
#define STREAMER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum st__alg {
	ST__ALG_HS256,
	ST__ALG_RS256,
	ST__ALG_ES256,
} st__alg;

typedef enum st__role {
	ST__ROLE_ALL,
	ST__ROLE_GATEWAY,
	ST__ROLE_WORKER,
} st__role;

/* Every string is owned by the config (st__config_fini frees them). */
typedef struct st__config {
	char *database_url;
	char *listen_host;      /* "127.0.0.1" */
	int listen_port;        /* 0: any free port */
	char *jwt_public_key;   /* PEM text (read from @path at load) */
	char *jwt_secret;
	st__alg jwt_alg;
	char *jwt_issuer, *jwt_audience; /* NULL: not checked */
	uint32_t jwt_leeway_s;           /* clock skew allowed on exp/nbf */
	uint32_t async_threshold_ms;
	int workers;            /* async workers (the queue's) */
	int sync_threads;       /* the gateway's handler pool */
	size_t sync_queue;      /* sync requests waiting for it, at most */
	st__role role;
	size_t max_frame;
	uint64_t result_ttl_ms;
	uint32_t lease_ms;      /* async lease (renewed at a third) */
	uint32_t retry_base_ms; /* first retry delay, doubled per attempt */
	int log_level;
	double rate_limit;      /* messages per second per connection */
	double rate_burst;      /* bucket size */
	size_t outbound_max;    /* bytes queued to one connection */
	char *static_dir;       /* NULL: no demo page */
	uint32_t drain_ms;      /* how long SIGTERM waits for answers */
	int jwt_alg_set, static_set; /* given explicitly */
} st__config;

/* Fills `c` from the environment, then from argv (flags override), then
 * checks it. Returns 0; 1 when --help was printed to `out`; -1 with a
 * message in err (the caller exits 2). Only after 0 does `c` hold anything
 * to free with st__config_fini. */
int st__config_load(st__config *c, int argc, char **argv, FILE *out,
		    char *err, size_t errlen);
void st__config_fini(st__config *c);
/* Prints the settings table (variable, flag, default, meaning). */
void st__config_usage(FILE *out);

/* The parsers, exposed for tests: 0, or -1 for a bad value. */
int st__parse_duration_ms(const char *s, uint64_t *out);   /* "5s", "10ms", "7d" */
int st__parse_size(const char *s, uint64_t *out);          /* "128KiB", "4096" */
int st__parse_listen(const char *s, char **host, int *port); /* "host:port" */

#endif
