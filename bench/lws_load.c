/* lws_load: a closed-loop WebSocket load generator built on the
 * libwebsockets client, the kind issue 4 names. bench/run.sh runs it for
 * one step beside bench/loadgen (our own epoll RFC 6455 client, which
 * saturates later), so that the figures can be checked with both.
 *
 *   lws_load [-l LABEL] [-c CONNS] [-w WARMUP_S] [-d SECONDS] -m TEMPLATE URL
 *
 * Opens CONNS connections to URL (ws://host:port/path?query), then each
 * sends TEMPLATE (each "{id}" replaced by a number unique to the run), waits for
 * the answer, and sends again, for WARMUP_S + SECONDS. Prints one JSON
 * line with the same keys as loadgen's: rps and latency percentiles over
 * the SECONDS after the warm-up, `finals` (answers over the whole run, for
 * CPU per request), `errors` (answers of type error, failed connections)
 * and `first_error`. */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#define MSG_MAX 4096

typedef struct client {
	struct lws *wsi;
	bool up, failed;
	int64_t sent_ns;         /* the outstanding request's send time */
	size_t rx_len;
	char rx[MSG_MAX];
} client;

static struct {
	const char *label, *tmpl;
	int nconns, up, failed;
	client *c;
	int64_t start_ns, measure_ns, end_ns;
	uint64_t next_id, finals, errors, measured;
	uint32_t *lat;           /* microseconds, measured answers */
	size_t nlat, cap;
	char first_error[256];
	bool done;
} L;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void error_once(const char *what, const char *detail, size_t n)
{
	L.errors++;
	if (!L.first_error[0])
		snprintf(L.first_error, sizeof L.first_error, "%s%.*s", what,
			 (int)(n < 160 ? n : 160), detail);
}

/* The template with every "{id}" replaced by `id` into out[MSG_MAX]: the
 * length, or -1 when it does not fit. */
static int render(char *out, uint64_t id)
{
	char num[24];
	int nl = snprintf(num, sizeof num, "%" PRIu64, id);
	size_t n = 0;
	for (const char *t = L.tmpl; *t;) {
		bool mark = !strncmp(t, "{id}", 4);
		const char *src = mark ? num : t;
		size_t len = mark ? (size_t)nl : 1;
		if (n + len >= MSG_MAX)
			return -1;
		memcpy(out + n, src, len);
		n += len;
		t += mark ? 4 : 1;
	}
	return (int)n;
}

static int send_next(struct lws *wsi, client *c)
{
	unsigned char buf[LWS_PRE + MSG_MAX];
	int n = render((char *)buf + LWS_PRE, L.next_id++);
	if (n <= 0)
		return -1;
	c->sent_ns = now_ns();
	return lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n ? -1 : 0;
}

static void answered(client *c)
{
	int64_t t = now_ns();
	L.finals++;
	if (strstr(c->rx, "\"type\":\"error\""))
		error_once("error answer: ", c->rx, c->rx_len);
	if (c->sent_ns >= L.measure_ns && t <= L.end_ns) {
		if (L.nlat == L.cap) {
			size_t cap = L.cap ? L.cap * 2 : 1 << 16;
			uint32_t *v = realloc(L.lat, cap * sizeof *v);
			if (!v)
				return;
			L.lat = v;
			L.cap = cap;
		}
		int64_t us = (t - c->sent_ns) / 1000;
		L.lat[L.nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	client *c = user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->up = true;
		L.up++;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c && !c->failed) {
			error_once("connection failed: ", in ? (const char *)in : "",
				   in ? len : 0);
			c->failed = true;
			L.failed++;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (L.done)
			return -1;
		return send_next(wsi, c);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->rx_len + len < sizeof c->rx) {
			memcpy(c->rx + c->rx_len, in, len);
			c->rx_len += len;
		}
		if (!lws_is_final_fragment(wsi))
			break;
		c->rx[c->rx_len] = '\0';
		answered(c);
		c->rx_len = 0;
		if (!L.done)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!L.done)
			error_once("closed by the server", "", 0);
		if (c && c->up) {
			c->up = false;
			L.up--;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "load", callback, 0, MSG_MAX, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Keeps lws_service returning while nothing happens (a server that stops
 * answering), so that the run still ends on time. */
static lws_sorted_usec_list_t tick_sul;
static struct lws_context *ctx;

static void tick(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(ctx, 0, sul, tick, 50 * LWS_US_PER_MS);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (!L.nlat)
		return 0;
	size_t i = (size_t)(p * (double)(L.nlat - 1) + 0.5);
	return L.lat[i];
}

static void usage(void)
{
	fprintf(stderr, "usage: lws_load [-l LABEL] [-c CONNS] [-w WARMUP_S] [-d SECONDS]"
			" -m TEMPLATE ws://HOST:PORT/PATH\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double warm = 1, dur = 5;
	const char *tmpl = NULL, *url = NULL;
	L.label = "lws_load";
	L.nconns = 100;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 < argc && !strcmp(a, "-l"))
			L.label = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "-c"))
			L.nconns = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "-w"))
			warm = atof(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "-d"))
			dur = atof(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "-m"))
			tmpl = argv[++i];
		else if (a[0] != '-' && !url)
			url = a;
		else
			usage();
	}
	if (!tmpl || !url || L.nconns <= 0 || dur <= 0 || warm < 0)
		usage();

	L.tmpl = tmpl;

	/* ws://host:port/path (lws_parse_uri writes into its argument). */
	char *u = strdup(url);
	const char *proto, *host, *path;
	int port;
	if (lws_parse_uri(u, &proto, &host, &port, &path) || strcmp(proto, "ws"))
		usage();
	char fullpath[2048];
	snprintf(fullpath, sizeof fullpath, "/%s", path);

	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = (unsigned)L.nconns + 16;
	ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "lws_load: cannot create the lws context\n");
		return 1;
	}
	L.c = calloc((size_t)L.nconns, sizeof *L.c);
	if (!L.c)
		return 1;
	for (int i = 0; i < L.nconns; i++) {
		struct lws_client_connect_info ci;
		memset(&ci, 0, sizeof ci);
		ci.context = ctx;
		ci.address = host;
		ci.port = port;
		ci.path = fullpath;
		ci.host = host;
		ci.origin = host;
		ci.local_protocol_name = "load";
		ci.userdata = &L.c[i];
		ci.pwsi = &L.c[i].wsi;
		if (!lws_client_connect_via_info(&ci) && !L.c[i].failed) {
			L.c[i].failed = true;
			L.failed++;
			error_once("connect failed", "", 0);
		}
	}
	tick(&tick_sul);
	/* All up (or failed) within 10 s, then the clock starts. */
	int64_t limit = now_ns() + 10000000000LL;
	while (L.up + L.failed < L.nconns && now_ns() < limit)
		lws_service(ctx, 0);
	L.start_ns = now_ns();
	L.measure_ns = L.start_ns + (int64_t)(warm * 1e9);
	L.end_ns = L.measure_ns + (int64_t)(dur * 1e9);
	for (int i = 0; i < L.nconns; i++)
		if (L.c[i].up)
			lws_callback_on_writable(L.c[i].wsi);
	while (now_ns() < L.end_ns && L.up > 0)
		lws_service(ctx, 0);
	L.done = true;
	int open = L.up;
	lws_sul_cancel(&tick_sul);
	lws_context_destroy(ctx);

	qsort(L.lat, L.nlat, sizeof *L.lat, cmp_u32);
	char esc[sizeof L.first_error * 2];
	size_t j = 0;
	for (const char *s = L.first_error; *s && j + 2 < sizeof esc; s++) {
		if (*s == '"' || *s == '\\')
			esc[j++] = '\\';
		esc[j++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	esc[j] = '\0';
	printf("{\"label\":\"%s\",\"mode\":\"closed\",\"client\":\"lws\",\"conns\":%d,"
	       "\"open\":%d,\"rps\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,"
	       "\"lat_max_us\":%.1f,\"finals\":%" PRIu64 ",\"errors\":%" PRIu64 ","
	       "\"first_error\":\"%s\"}\n",
	       L.label, L.nconns, open, (double)L.nlat / dur, pct(0.50), pct(0.99),
	       L.nlat ? (double)L.lat[L.nlat - 1] : 0, L.finals,
	       L.errors, esc);
	free(L.lat);
	free(L.c);
	free(u);
	return L.failed == L.nconns ? 1 : 0;
}
