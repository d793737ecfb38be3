/* lws_echo.c: the ceiling for `make bench`: a bare libwebsockets echo
 * server on 127.0.0.1:PORT. No auth, no parsing, no validation: whatever
 * streamerd does per request on top of libwebsockets is the difference.
 *
 *   lws_echo PORT [--libev]
 *
 * --libev runs it in a libev (epoll) loop, as streamerd runs, instead of
 * lws's own poll() loop (what a libwebsockets user gets by default, and
 * what `make bench` compares with); for one-off comparisons of the loop
 * alone (bench/profile.sh, LWS_ECHO_ARGS=--libev).
 *
 * Every message (text or binary, reassembled from its fragments) is sent
 * back once, in order. A connection whose unsent echoes pass ECHO_MAX_QUEUE
 * bytes is closed, as a real server would.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libwebsockets.h>

#define ECHO_MAX_MSG	(16u << 20)	/* largest message reassembled */
#define ECHO_MAX_QUEUE	(64u << 20)	/* unsent bytes per connection */

struct echo_msg {
	struct echo_msg *next;
	size_t len;
	int binary;
	unsigned char buf[];		/* LWS_PRE + len */
};

struct echo_pss {
	struct echo_msg *head, *tail;	/* owned: to send, oldest first */
	size_t queued;
	unsigned char *rx;		/* owned: a message being reassembled */
	size_t rx_len, rx_cap;
};

static volatile sig_atomic_t stopping;
static struct lws_context *context;

static void echo_pss_free(struct echo_pss *s)
{
	while (s->head) {
		struct echo_msg *m = s->head;
		s->head = m->next;
		free(m);
	}
	s->tail = NULL;
	s->queued = 0;
	free(s->rx);
	s->rx = NULL;
	s->rx_len = s->rx_cap = 0;
}

/* Queues [p, p+n) as one message; -1 when over the limits. */
static int echo_enqueue(struct echo_pss *s, const void *p, size_t n, int binary)
{
	if (s->queued + n > ECHO_MAX_QUEUE)
		return -1;
	struct echo_msg *m = malloc(sizeof *m + LWS_PRE + n);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = n;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, p, n);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->queued += n;
	return 0;
}

static int echo_receive(struct lws *wsi, struct echo_pss *s, void *in,
			size_t len)
{
	int binary = lws_frame_is_binary(wsi);
	int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (last && !s->rx_len)		/* the usual case: one piece */
		return echo_enqueue(s, in, len, binary);
	if (s->rx_len + len > ECHO_MAX_MSG)
		return -1;
	if (s->rx_len + len > s->rx_cap) {
		size_t cap = s->rx_cap ? s->rx_cap : 4096;
		while (cap < s->rx_len + len)
			cap *= 2;
		unsigned char *p = realloc(s->rx, cap);
		if (!p)
			return -1;
		s->rx = p;
		s->rx_cap = cap;
	}
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!last)
		return 0;
	int rc = echo_enqueue(s, s->rx, s->rx_len, binary);
	s->rx_len = 0;
	return rc;
}

static int echo_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct echo_pss *s = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof *s);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (echo_receive(wsi, s, in, len) < 0)
			return -1;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct echo_msg *m = s->head;
		if (!m)
			break;
		int n = lws_write(wsi, m->buf + LWS_PRE, m->len,
				  m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		if (n < (int)m->len)
			return -1;
		s->head = m->next;
		if (!s->head)
			s->tail = NULL;
		s->queued -= m->len;
		free(m);
		if (s->head)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLOSED:
		if (s)
			echo_pss_free(s);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "echo", echo_callback, sizeof(struct echo_pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	if (context)
		lws_cancel_service(context);
}

int main(int argc, char **argv)
{
	char *end = "";
	long port = argc >= 2 ? strtol(argv[1], &end, 10) : -1;
	int libev = argc == 3 && !strcmp(argv[2], "--libev");
	if (argc < 2 || argc > 3 || (argc == 3 && !libev) || *end || port <= 0 ||
	    port > 65535) {
		fprintf(stderr, "usage: lws_echo PORT [--libev]\n");
		return 2;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = (int)port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.max_http_header_data = 16384;
	struct ev_loop *loop = NULL;
	void *loops[1];
	if (libev) {
		loop = ev_loop_new(EVBACKEND_EPOLL);
		loops[0] = loop;
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
	}
	context = !libev || loop ? lws_create_context(&info) : NULL;
	if (!context) {
		fprintf(stderr, "lws_echo: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("lws_echo: listening on 127.0.0.1:%ld%s\n", port, libev ? " (libev)" : "");
	fflush(stdout);
	while (!stopping) {
		if (!libev) {
			if (lws_service(context, 0) < 0)
				break;
			continue;
		}
		/* A pass, then what lws leaves to libev's idle watcher (see
		 * lws_chores in runtime/server.c; this server has no timers). */
		ev_run(loop, EVRUN_ONCE);
		if (!lws_service_adjust_timeout(context, 1, 0))
			_lws_plat_service_forced_tsi(context, 0);
	}
	lws_context_destroy(context);
	if (loop)
		ev_loop_destroy(loop);
	return 0;
}
