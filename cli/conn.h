/* conn.h: one WebSocket connection from streamer-cli to streamerd (a
 * libwebsockets client): connect with a token, send text messages, hand
 * each received message to a callback, close cleanly. */
#ifndef CLI_CONN_H
#define CLI_CONN_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_MSG_MAX   (16u << 20) /* largest message sent or received */
#define CLI_TOKEN_MAX (16u << 10) /* longest token */
#define CLI_URL_MAX   2048        /* longest --url */
#define CLI_OUT_MAX   8           /* messages queued for sending */

typedef struct cli_conn cli_conn;

/* How cli_conn_run ended. */
typedef enum cli_conn_end {
	CLI_CONN_DONE = 0,         /* the callback got what it wanted */
	CLI_CONN_FAILED = -1,      /* no connection (bad URL, refused, DNS, TLS,
				    * a handshake answer other than 101 or 401) */
	CLI_CONN_REFUSED = -2,     /* the server answered the upgrade with 401 */
	CLI_CONN_LOST = -3,        /* closed by the server or the network first */
	CLI_CONN_TIMEOUT = -4,     /* timeout_ms passed after the upgrade */
	CLI_CONN_INTERRUPTED = -5, /* SIGINT or SIGTERM */
	CLI_CONN_ABORTED = -6,     /* the callback failed, or a message was
				    * over CLI_MSG_MAX */
} cli_conn_end;

/* Called on the service thread for each complete text message: `msg` is
 * NUL-terminated and borrowed until return. Returns 0 to wait for more,
 * 1 when done (the connection is then closed with 1000), -1 to abort. It
 * may call cli_conn_send. */
typedef int (*cli_conn_msg_fn)(cli_conn *c, void *ud, const char *msg,
			       size_t len);

typedef struct cli_conn_opts {
	const char *url;        /* ws://host[:port][/path] or wss://... */
	const char *token;      /* the JWT; NULL: none */
	bool token_header;      /* send it as `Authorization: Bearer`, not
				 * as the query parameter (done anyway when
				 * it would make the URL over 2000 bytes) */
	bool insecure;          /* wss: accept self-signed certificates and
				 * other host names */
	bool verbose;           /* libwebsockets' own logs on stderr */
	int connect_timeout_ms; /* until the upgrade completes; 0: none */
	int timeout_ms;         /* from the upgrade until done; 0: none */
	const char *first;      /* sent as soon as the upgrade completes */
	cli_conn_msg_fn on_msg;
	void *ud;
} cli_conn_opts;

/* Connects, sends o->first, feeds every message to o->on_msg until it
 * returns 1, then closes with 1000 and waits (at most 2 s) for the server's
 * close. Returns a cli_conn_end; on failure err holds a sentence for the
 * user. Everything in `o` is borrowed for the call. SIGINT and SIGTERM are
 * caught for its duration (a second one kills). */
int cli_conn_run(const cli_conn_opts *o, char *err, size_t errlen);

/* Queues a copy of a text message. 0, or -1 when CLI_OUT_MAX messages are
 * already waiting or it is over CLI_MSG_MAX. */
int cli_conn_send(cli_conn *c, const char *msg, size_t len);

#endif
