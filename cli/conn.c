/* conn.c: streamer-cli's WebSocket connection (see conn.h). Everything
 * runs on the caller's thread inside lws_service; the only other actor is
 * the signal handler, which sets a flag and wakes the loop. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "conn.h"

#define CLOSE_WAIT_US (2 * LWS_US_PER_SEC) /* for the server's close */
#define REQUEST_LINE_MAX 2000 /* lws 4.1 truncates "GET <path> HTTP/1.1" at 2048 */

typedef struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

struct cli_conn {
	const cli_conn_opts *o;       /* borrowed for cli_conn_run */
	struct lws_context *ctx;
	struct lws *wsi;              /* NULL once lws is done with it */
	lws_sorted_usec_list_t sul_timeout; /* connect, then reply deadline */
	lws_sorted_usec_list_t sul_close;   /* bounds the closing handshake */
	out_msg *out_head, *out_tail;
	int out_n;
	char *in;                     /* the message being reassembled */
	size_t in_len, in_cap;
	bool in_binary;               /* the current message is binary: skip it */
	char *auth;                   /* "Bearer <jwt>" for the header mode */
	int end;                      /* a cli_conn_end, once known */
	bool have_end;
	bool established;
	bool closing;                 /* we sent (or are sending) our close */
	bool finished;                /* leave the loop */
	int peer_close;               /* the server's close code, 0 if none */
	char peer_reason[124];
	char *err;
	size_t errlen;
};

static volatile sig_atomic_t interrupted;
static struct lws_context *volatile signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx); /* a write to lws' wake pipe */
}

/* Records how the connection ended; the first outcome wins. */
static void set_end(cli_conn *c, int end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_end(cli_conn *c, int end, const char *fmt, ...)
{
	if (c->have_end)
		return;
	c->have_end = true;
	c->end = end;
	if (fmt && c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
}

static void on_close_timeout(lws_sorted_usec_list_t *sul)
{
	cli_conn *c = lws_container_of(sul, cli_conn, sul_close);
	c->finished = true; /* lws_context_destroy closes what is left */
}

/* Starts our closing handshake (or just stops when there is no open
 * connection to close). */
static void start_close(cli_conn *c)
{
	if (c->closing || c->finished)
		return;
	if (!c->wsi || !c->established) {
		c->finished = true;
		return;
	}
	c->closing = true;
	lws_sul_schedule(c->ctx, 0, &c->sul_close, on_close_timeout, CLOSE_WAIT_US);
	lws_callback_on_writable(c->wsi);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	cli_conn *c = lws_container_of(sul, cli_conn, sul_timeout);
	if (!c->established) {
		set_end(c, CLI_CONN_FAILED, "timed out connecting to %s", c->o->url);
		c->finished = true;
		return;
	}
	set_end(c, CLI_CONN_TIMEOUT, "no final answer within %d ms", c->o->timeout_ms);
	start_close(c);
}

int cli_conn_send(cli_conn *c, const char *msg, size_t len)
{
	if (c->out_n >= CLI_OUT_MAX || len > CLI_MSG_MAX)
		return -1;
	out_msg *m = malloc(sizeof *m + LWS_PRE + len);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, msg, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_n++;
	if (c->wsi && c->established)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void out_free_all(cli_conn *c)
{
	while (c->out_head) {
		out_msg *m = c->out_head;
		c->out_head = m->next;
		free(m);
	}
	c->out_tail = NULL;
	c->out_n = 0;
}

/* Appends a received fragment; on the last one hands the message over.
 * -1 closes the connection. */
static int on_receive(cli_conn *c, struct lws *wsi, const char *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		c->in_len = 0;
		c->in_binary = lws_frame_is_binary(wsi);
	}
	if (c->closing || c->in_binary)
		return 0; /* done already, or not ours to read: we send only text */
	if (len > CLI_MSG_MAX - c->in_len) {
		set_end(c, CLI_CONN_ABORTED, "a message from the server is over %u MiB",
			CLI_MSG_MAX >> 20);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (c->in_len + len + 1 > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 4096;
		while (cap < c->in_len + len + 1)
			cap *= 2;
		char *p = realloc(c->in, cap);
		if (!p) {
			set_end(c, CLI_CONN_ABORTED, "out of memory");
			return -1;
		}
		c->in = p;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, in, len);
	c->in_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	c->in[c->in_len] = '\0';
	int rc = c->o->on_msg(c, c->o->ud, c->in, c->in_len);
	c->in_len = 0;
	if (rc > 0) {
		set_end(c, CLI_CONN_DONE, NULL);
		start_close(c);
	} else if (rc < 0) {
		set_end(c, CLI_CONN_ABORTED, NULL);
		start_close(c);
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	(void)user;
	cli_conn *c = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c->auth) {
			unsigned char **p = in, *end = *p + len;
			if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
							 (unsigned char *)c->auth,
							 (int)strlen(c->auth), p, end))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		/* lws says "HS: ws upgrade unauthorized" for 401, "... not 101"
		 * for other answers; the status itself is still readable here. */
		unsigned int st = lws_http_client_http_response(wsi);
		const char *why = in ? (const char *)in : "unknown error";
		if (st == 401 || strstr(why, "unauthorized"))
			set_end(c, CLI_CONN_REFUSED, "token refused (HTTP 401)");
		else if (st && st != 101)
			set_end(c, CLI_CONN_FAILED, "%s refused the upgrade (HTTP %u)",
				c->o->url, st);
		else
			set_end(c, CLI_CONN_FAILED, "cannot connect to %s: %s", c->o->url, why);
		c->wsi = NULL;
		c->finished = true;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->established = true;
		lws_sul_cancel(&c->sul_timeout);
		if (c->o->timeout_ms > 0)
			lws_sul_schedule(c->ctx, 0, &c->sul_timeout, on_timeout,
					 (lws_usec_t)c->o->timeout_ms * LWS_US_PER_MS);
		if (c->o->first && cli_conn_send(c, c->o->first, strlen(c->o->first)) < 0) {
			set_end(c, CLI_CONN_ABORTED, "out of memory");
			start_close(c);
		}
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1; /* lws sends the close and waits for the answer */
		}
		if (c->out_head) {
			out_msg *m = c->out_head;
			int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			c->out_n--;
			free(m);
			if (n < 0) {
				set_end(c, CLI_CONN_LOST, "cannot send to %s", c->o->url);
				return -1;
			}
			if (c->out_head)
				lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *p = in;
			c->peer_close = p[0] << 8 | p[1];
			size_t n = len - 2 < sizeof c->peer_reason - 1 ? len - 2
								    : sizeof c->peer_reason - 1;
			memcpy(c->peer_reason, p + 2, n);
			c->peer_reason[n] = '\0';
		}
		break; /* 0: lws answers the close */
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c->peer_close && *c->peer_reason)
			set_end(c, CLI_CONN_LOST, "the server closed the connection (%d: %s)",
				c->peer_close, c->peer_reason);
		else if (c->peer_close)
			set_end(c, CLI_CONN_LOST, "the server closed the connection (%d)",
				c->peer_close);
		else
			set_end(c, CLI_CONN_LOST, "the connection was lost");
		c->wsi = NULL;
		c->finished = true;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ .name = "streamer-cli", .callback = callback },
	{ .name = NULL }
};

/* Writes `s` percent-encoded (RFC 3986 unreserved kept) at d; returns the
 * bytes written, or 0 when it does not fit in cap. */
static size_t url_encode(char *d, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool keep = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9') || strchr("-._~", ch);
		if (n + (keep ? 1 : 3) >= cap)
			return 0;
		if (keep) {
			d[n++] = (char)ch;
		} else {
			d[n++] = '%';
			d[n++] = hex[ch >> 4];
			d[n++] = hex[ch & 15];
		}
	}
	d[n] = '\0';
	return n;
}

int cli_conn_run(const cli_conn_opts *o, char *err, size_t errlen)
{
	cli_conn c = { .o = o, .err = err, .errlen = errlen };
	char *url = NULL, *path = NULL;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND },
			 old_int, old_term;
	if (errlen)
		err[0] = '\0';

	/* URL: scheme, host, port, path (lws_parse_uri cuts a copy in place). */
	size_t ulen = strlen(o->url);
	if (ulen > CLI_URL_MAX) {
		set_end(&c, CLI_CONN_FAILED, "the URL is longer than %d bytes", CLI_URL_MAX);
		return c.end;
	}
	url = strdup(o->url);
	size_t path_cap = ulen + 64 + 3 * (o->token ? strlen(o->token) : 0);
	path = malloc(path_cap);
	if (!url || !path) {
		set_end(&c, CLI_CONN_FAILED, "out of memory");
		goto done;
	}
	const char *prot, *host, *upath;
	int port;
	if (lws_parse_uri(url, &prot, &host, &port, &upath) || !*host) {
		set_end(&c, CLI_CONN_FAILED, "cannot parse the URL '%s'", o->url);
		goto done;
	}
	bool tls = !strcmp(prot, "wss") || !strcmp(prot, "https");
	if (!tls && strcmp(prot, "ws") && strcmp(prot, "http")) {
		set_end(&c, CLI_CONN_FAILED, "the URL must start with ws:// or wss://");
		goto done;
	}
	int n = snprintf(path, path_cap, "/%s", upath);
	bool header = o->token_header;
	if (o->token && !header) {
		int n0 = n;
		n += snprintf(path + n, path_cap - (size_t)n, "%cAuthorization=Bearer%%20",
			      strchr(upath, '?') ? '&' : '?');
		size_t e = url_encode(path + n, path_cap - (size_t)n, o->token);
		/* lws 4.1 cuts the request line at 2048 bytes: a token too
		 * long for the URL goes in the header instead. */
		if (!e || (size_t)n + e > REQUEST_LINE_MAX) {
			path[n0] = '\0';
			header = true;
		}
	}
	if (o->token && header) {
		size_t al = strlen(o->token) + 8;
		c.auth = malloc(al);
		if (!c.auth) {
			set_end(&c, CLI_CONN_FAILED, "out of memory");
			goto done;
		}
		snprintf(c.auth, al, "Bearer %s", o->token);
	}

	lws_set_log_level(o->verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : 0, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = &c;
	info.gid = -1;
	info.uid = -1;
	/* The upgrade request (with a token in its URL) is built in the
	 * per-thread buffer and kept in the header space: room for 16 KiB. */
	info.pt_serv_buf_size = 32 * 1024;
	info.max_http_header_data = 32 * 1024;
	if (tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	c.ctx = lws_create_context(&info);
	if (!c.ctx) {
		set_end(&c, CLI_CONN_FAILED, "cannot create the libwebsockets context");
		goto done;
	}

	interrupted = 0;
	signal_ctx = c.ctx;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = c.ctx;
	ci.address = host;
	ci.port = port;
	ci.path = path;
	ci.host = host;
	ci.origin = host;
	ci.ietf_version_or_minus_one = -1;
	ci.pwsi = &c.wsi;
	if (tls)
		ci.ssl_connection = LCCSCF_USE_SSL |
			(o->insecure ? LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_EXPIRED |
			 LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK : 0);
	if (o->connect_timeout_ms > 0)
		lws_sul_schedule(c.ctx, 0, &c.sul_timeout, on_timeout,
				 (lws_usec_t)o->connect_timeout_ms * LWS_US_PER_MS);
	if (!lws_client_connect_via_info(&ci)) {
		/* lws may already have reported it through the callback */
		set_end(&c, CLI_CONN_FAILED, "cannot connect to %s", o->url);
		c.finished = true;
	}

	/* The schedule: wait once, then look at the flags the callbacks set. */
	while (!c.finished) {
		if (lws_service(c.ctx, 0) < 0)
			break;
		if (interrupted) {
			set_end(&c, CLI_CONN_INTERRUPTED, "interrupted");
			start_close(&c);
		}
	}

done:
	if (c.ctx) {
		signal_ctx = NULL;
		lws_context_destroy(c.ctx); /* may still call back into c */
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (!c.have_end)
		set_end(&c, CLI_CONN_LOST, "the connection was lost");
	out_free_all(&c);
	free(c.in);
	free(c.auth);
	free(path);
	free(url);
	return c.end;
}
