/* wsclient.h: test infrastructure: a raw-socket RFC 6455 client (frames,
 * masking, fragments, close codes, a reader that can stop reading), a
 * minimal HTTP GET, and starting/stopping a real server process. */
#ifndef TEST_WSCLIENT_H
#define TEST_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { WS_CONT = 0, WS_TEXT = 1, WS_BIN = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

typedef struct wsc {
	int fd;
	unsigned char *buf; /* bytes received, not yet parsed */
	size_t len, cap;
	int close_code;     /* from the server's close frame, 0 if none */
	bool closed;        /* EOF or close frame seen */
} wsc;

/* Connects to 127.0.0.1:port and upgrades at `target` ("/?a=b"), with
 * extra header lines ("Name: v\r\n", or NULL). rcvbuf > 0 sets SO_RCVBUF
 * first. Returns the HTTP status (101 on success), 0 when the server hung
 * up without one, -1 when the connect failed. On anything but 101 the
 * client is closed. */
int wsc_connect(wsc *c, int port, const char *target, const char *headers,
		int rcvbuf);
/* As wsc_connect, with a text message in the same write as the upgrade
 * request (so that the server reads both at once). */
int wsc_connect_early(wsc *c, int port, const char *target, const char *text);
/* One frame (masked): opcode, FIN bit, payload. 0 or -1. */
int wsc_send_frame(wsc *c, int opcode, bool fin, const void *p, size_t len);
int wsc_send_text(wsc *c, const char *s);
/* Next data message (reassembled; pings answered): returns its opcode and
 * a malloc'd NUL-terminated payload in *out; WS_CLOSE when the server
 * closed (close_code set); 0 on timeout; -1 on EOF/error. */
int wsc_recv(wsc *c, int timeout_ms, char **out, size_t *len);
/* The next text message, or NULL (timeout, close, EOF). Caller frees. */
char *wsc_recv_text(wsc *c, int timeout_ms);
/* Waits for the close: the close code (1000.. from the frame, 1006 for EOF
 * without one), or 0 on timeout. */
int wsc_wait_close(wsc *c, int timeout_ms);
void wsc_close(wsc *c);

/* GET path on 127.0.0.1:port: status (or -1), body malloc'd in *body. */
int http_get(int port, const char *path, char **body);
/* The value of the exact series `name` or `name{labels}` in /metrics, or
 * -1 when it is not there. */
double http_metric(int port, const char *series);

/* A server process. */
typedef struct tsrv {
	pid_t pid;
	int port;
	char log[512];  /* its stderr */
} tsrv;

/* Starts `bin` with the current environment plus `env` ("K=V", NULL
 * terminated; may be NULL) and STREAMER_LISTEN=127.0.0.1:0, stderr to a
 * file in $ST_TMP; waits for its "listening" line. 0 or -1. */
int tsrv_start(tsrv *s, const char *bin, const char *const *env);
/* SIGTERM, then waits (SIGKILL after 15 s): the exit status (128+sig when
 * killed by a signal). */
int tsrv_stop(tsrv *s);
/* 1 when the log contains `needle`. */
int tsrv_log_has(const tsrv *s, const char *needle);

/* Runs a shell command and returns its first line of output (malloc'd,
 * no newline), or NULL. */
char *sh_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
