/* loadgen.c: a WebSocket load generator for `make bench`.
 *
 * One thread, epoll, non-blocking sockets; the RFC 6455 client side
 * (handshake, masked frames, ping/pong, fragments) is done here rather than
 * through the libwebsockets client so that the generator costs a few
 * microseconds per request and never saturates before the server does.
 *
 * Modes:
 *   closed loop (default)  every connection keeps -p requests in flight
 *   fixed rate (-r RATE)   open loop: request k is due at t0 + k/RATE on
 *                          connection k mod N, sent when due whatever is in
 *                          flight; latency is measured from the due time, so
 *                          a stalled server is charged for the requests it
 *                          delayed (no coordinated omission)
 *   idle (--idle)          connect, print a "connected" line, hold the
 *                          connections for -d seconds without a request
 *
 * Each request is the -m template with every "{id}" replaced by a counter.
 * Answers are matched by the trailing digits of their "id" field. A message
 * of type "acknowledgment" or "progress" is intermediate (its latency is
 * recorded as submit->ack and submit->first progress); any other message
 * that carries the id ends the request; "error" ends it as an error, left
 * out of throughput and latency. Echo servers send the request back,
 * which ends it.
 *
 * The report: one human line on stderr, then one flat JSON object on stdout
 * (flat so that shell scripts can pick fields with grep).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define LG_MAX_MSG	(16u << 20)	/* largest message we reassemble */
#define LG_RBUF		(64u << 10)	/* one read() */
#define LG_MAX_WBUF	(64u << 20)	/* unsent bytes per connection */
#define LG_TABLE	(1u << 18)	/* requests tracked at once (power of 2) */
#define LG_WS_KEY	"dGhlIHNhbXBsZSBub25jZQ=="
#define LG_WS_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 1.3 */

/* --- time and histogram ------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A log-bucketed histogram of nanoseconds (HdrHistogram's layout with 64
 * sub-buckets per power of two: under 1.6% error, fixed 28 KiB). */
#define H_SUB		64
#define H_SLOTS		(2 * H_SUB + 56 * H_SUB)

struct hist {
	uint64_t n, max;
	uint32_t c[H_SLOTS];
};

static unsigned hist_slot(uint64_t v)
{
	if (v < 2 * H_SUB)
		return (unsigned)v;
	unsigned msb = 63 - (unsigned)__builtin_clzll(v);
	unsigned e = msb - 6;		/* v >> e is in [64, 127] */
	unsigned s = 2 * H_SUB + (e - 1) * H_SUB + (unsigned)((v >> e) - H_SUB);
	return s < H_SLOTS ? s : H_SLOTS - 1;
}

/* The middle of slot s. */
static uint64_t hist_value(unsigned s)
{
	if (s < 2 * H_SUB)
		return s;
	unsigned e = (s - 2 * H_SUB) / H_SUB + 1;
	uint64_t lo = (uint64_t)(H_SUB + (s - 2 * H_SUB) % H_SUB) << e;
	return lo + ((1ull << e) >> 1);
}

static void hist_add(struct hist *h, int64_t v)
{
	uint64_t u = v > 0 ? (uint64_t)v : 0;
	h->c[hist_slot(u)]++;
	h->n++;
	if (u > h->max)
		h->max = u;
}

/* The q-quantile (0..1) in microseconds; 0 when empty. */
static double hist_us(const struct hist *h, double q)
{
	if (!h->n)
		return 0;
	if (q >= 1)
		return h->max / 1e3;
	uint64_t rank = (uint64_t)(q * (double)h->n), seen = 0;
	for (unsigned s = 0; s < H_SLOTS; s++) {
		seen += h->c[s];
		if (seen > rank) {
			uint64_t v = hist_value(s);
			return (v > h->max ? h->max : v) / 1e3;
		}
	}
	return h->max / 1e3;
}

/* --- options ----------------------------------------------------------- */

static struct {
	char host[256], port[16], path[8192];
	int conns, inflight, connect_par;
	double rate, duration, warmup, drain;
	uint64_t max_requests;
	int idle;
	const char *tmpl, *label;
} opt = {
	.conns = 10, .inflight = 1, .connect_par = 64,
	.duration = 5, .warmup = 0, .drain = 2,
	.tmpl = "{\"type\":\"request\",\"id\":\"c-{id}\",\"action\":\"echo\","
		"\"payload\":{\"message\":\"hi\"}}",
	.label = "loadgen",
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: loadgen [options] [ws://]HOST:PORT[/PATH[?QUERY]]\n"
"  -c N        connections (10)\n"
"  -p K        requests in flight per connection, closed loop (1)\n"
"  -r RATE     fixed total rate in requests/s (open loop) instead\n"
"  -d SECONDS  measured duration (5); with --idle, how long to hold\n"
"  -w SECONDS  warm-up before measuring (0)\n"
"  -n N        stop after N requests have been sent\n"
"  -m JSON     request template; each {id} becomes a counter\n"
"              (default: an echo request)\n"
"  -l LABEL    label in the report (loadgen)\n"
"  --drain S   wait at most S seconds for answers after the end (2)\n"
"  --connect-concurrency N   handshakes in progress at once (64)\n"
"  --idle      connect, print {\"event\":\"connected\",...}, hold, report\n"
"  --free-port print a free TCP port on 127.0.0.1 and exit\n");
}

static int parse_url(const char *u)
{
	if (strncmp(u, "ws://", 5) == 0)
		u += 5;
	else if (strstr(u, "://"))
		return -1;			/* wss:// is not supported */
	const char *slash = strchr(u, '/');
	const char *hp_end = slash ? slash : u + strlen(u);
	const char *colon = memchr(u, ':', (size_t)(hp_end - u));
	if (!colon || colon == u || (size_t)(colon - u) >= sizeof opt.host ||
	    (size_t)(hp_end - colon - 1) >= sizeof opt.port || hp_end == colon + 1)
		return -1;
	memcpy(opt.host, u, (size_t)(colon - u));
	memcpy(opt.port, colon + 1, (size_t)(hp_end - colon - 1));
	if (snprintf(opt.path, sizeof opt.path, "%s", slash ? slash : "/") >=
	    (int)sizeof opt.path)
		return -1;
	return 0;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("loadgen: free port");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

/* --- connections and requests ------------------------------------------ */

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

struct buf {
	char *p;
	size_t len, cap, off;		/* bytes [off, len) are pending */
};

struct conn {
	int fd;
	enum cstate st;
	int inflight;
	int want_out;			/* EPOLLOUT registered */
	int64_t t_start;		/* socket() */
	uint32_t mask_seed;
	struct buf in, out, msg;	/* msg: a fragmented message so far */
};

struct req {
	uint64_t id;			/* 0: free */
	int64_t t0;			/* submit (or due) time */
	int64_t t_sent;			/* when it really went out */
	int64_t t_prog;			/* first progress, 0 if none yet */
	uint32_t conn;
};

static struct conn *conns;
static struct req *table;
static int ep, tfd = -1;
static struct addrinfo *addr;

static struct {
	uint64_t sent, done, errors_msg, unmatched, conn_failed, closed;
	uint64_t acks, progress, finals, late_sends;
	int64_t max_lag;
	int http_status;		/* last non-101 status seen */
	char first_error[256];
	struct hist lat, ack, prog, conn;
	struct hist svc;		/* from the real send, not the due time */
} st;

static int measuring;
static int refill;			/* closed loop: answer -> next request */
static int64_t t_measure, t_stop;
static uint64_t next_id = 1;
static uint64_t sent_at_measure;
static int open_count, connecting;

static void note_error(const char *fmt, ...)
{
	if (st.first_error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.first_error, sizeof st.first_error, fmt, ap);
	va_end(ap);
}

static int buf_reserve(struct buf *b, size_t more, size_t max)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return 0;
	if (b->off) {			/* slide pending bytes to the front */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return 0;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > max)
		return -1;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void ep_set(struct conn *c, int out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (out ? EPOLLOUT : 0),
		.data.u32 = (uint32_t)(c - conns),
	};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = out;
}

static void conn_kill(struct conn *c, const char *why)
{
	if (c->st == C_DEAD)
		return;
	if (c->st == C_OPEN) {
		open_count--;
		st.closed++;
		note_error("connection closed: %s", why);
	} else {
		if (c->st == C_CONNECTING || c->st == C_HANDSHAKE)
			connecting--;
		st.conn_failed++;
		note_error("connect failed: %s", why);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_DEAD;
	c->inflight = 0;
}

/* Sends bytes [p, p+n) or queues what the socket would not take. */
static void conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->out.len == c->out.off) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_kill(c, strerror(errno));
			return;
		}
		if (w < 0)
			w = 0;
		p = (const char *)p + w;
		n -= (size_t)w;
		if (!n)
			return;
	}
	if (buf_reserve(&c->out, n, LG_MAX_WBUF) < 0) {
		conn_kill(c, "output buffer full");
		return;
	}
	memcpy(c->out.p + c->out.len, p, n);
	c->out.len += n;
	if (!c->want_out)
		ep_set(c, 1);
}

static void conn_flush(struct conn *c)
{
	while (c->out.off < c->out.len) {
		ssize_t w = send(c->fd, c->out.p + c->out.off,
				 c->out.len - c->out.off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_kill(c, strerror(errno));
			return;
		}
		c->out.off += (size_t)w;
	}
	c->out.off = c->out.len = 0;
	if (c->want_out)
		ep_set(c, 0);
}

/* One masked client frame. */
static void ws_send(struct conn *c, int opcode, const char *p, size_t n)
{
	static char *fr;
	static size_t frcap;
	if (n + 14 > frcap) {
		size_t cap = n + 14 > 4096 ? n + 14 : 4096;
		char *q = realloc(fr, cap);
		if (!q) {
			conn_kill(c, "out of memory");
			return;
		}
		fr = q;
		frcap = cap;
	}
	size_t h = 0;
	fr[h++] = (char)(0x80 | opcode);
	if (n < 126) {
		fr[h++] = (char)(0x80 | n);
	} else if (n < 65536) {
		fr[h++] = (char)(0x80 | 126);
		fr[h++] = (char)(n >> 8);
		fr[h++] = (char)n;
	} else {
		fr[h++] = (char)(0x80 | 127);
		for (int i = 7; i >= 0; i--)
			fr[h++] = (char)((uint64_t)n >> (8 * i));
	}
	/* xorshift: masks need not be strong here, only present. */
	uint32_t m = c->mask_seed;
	m ^= m << 13;
	m ^= m >> 17;
	m ^= m << 5;
	c->mask_seed = m;
	unsigned char mk[4];
	memcpy(mk, &m, 4);
	memcpy(fr + h, mk, 4);
	h += 4;
	unsigned char *dst = (unsigned char *)fr + h;
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)p[i] ^ mk[i & 3];
	conn_write(c, fr, h + n);
}

/* The template split at each {id}, so that a request is a few memcpys. */
static struct { const char *p; size_t n; } parts[64];
static int nparts;

static int tmpl_compile(const char *t)
{
	const char *s = t;
	nparts = 0;
	for (;;) {
		const char *q = strstr(s, "{id}");
		if (nparts >= (int)(sizeof parts / sizeof parts[0]) - 1)
			return -1;
		parts[nparts].p = s;
		parts[nparts].n = q ? (size_t)(q - s) : strlen(s);
		nparts++;
		if (!q)
			return 0;
		s = q + 4;
	}
}

static void send_request(uint32_t ci, int64_t t0)
{
	struct conn *c = &conns[ci];
	static char *msg;
	static size_t cap;
	uint64_t id = next_id++;
	char idtxt[24];
	int idn = snprintf(idtxt, sizeof idtxt, "%llu", (unsigned long long)id);
	size_t need = 0;
	for (int i = 0; i < nparts; i++)
		need += parts[i].n + (size_t)idn;
	if (need > cap) {
		char *q = realloc(msg, need);
		if (!q)
			return;
		msg = q;
		cap = need;
	}
	size_t n = 0;
	for (int i = 0; i < nparts; i++) {
		memcpy(msg + n, parts[i].p, parts[i].n);
		n += parts[i].n;
		if (i + 1 < nparts) {
			memcpy(msg + n, idtxt, (size_t)idn);
			n += (size_t)idn;
		}
	}
	struct req *r = &table[id & (LG_TABLE - 1)];
	if (r->id) {
		/* Still unanswered after LG_TABLE later requests: give it up. */
		st.unmatched++;
		if (conns[r->conn].inflight > 0)
			conns[r->conn].inflight--;
	}
	r->id = id;
	r->t0 = t0;
	r->t_sent = now_ns();
	r->t_prog = 0;
	r->conn = ci;
	c->inflight++;
	st.sent++;
	ws_send(c, 0x1, msg, n);
}

/* --- answers ------------------------------------------------------------ */

/* The string value of "key" in a flat scan of a JSON text; 0 if absent. */
static const char *json_str(const char *p, size_t n, const char *key,
			    size_t *len)
{
	size_t kl = strlen(key);
	const char *end = p + n, *s = p;
	while ((s = memmem(s, (size_t)(end - s), key, kl))) {
		const char *v = s + kl;
		s = v;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v != ':')
			continue;
		v++;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v != '"')
			continue;
		v++;
		const char *q = memchr(v, '"', (size_t)(end - v));
		if (!q)
			return NULL;
		*len = (size_t)(q - v);
		return v;
	}
	return NULL;
}

static void on_message(struct conn *c, const char *p, size_t n)
{
	int64_t t = now_ns();
	size_t tl = 0, il = 0;
	const char *type = json_str(p, n, "\"type\"", &tl);
	const char *id = json_str(p, n, "\"id\"", &il);
	uint64_t v = 0, mul = 1;
	size_t i = il;
	while (id && i > 0 && id[i - 1] >= '0' && id[i - 1] <= '9' && mul) {
		v += (uint64_t)(id[i - 1] - '0') * mul;
		mul = mul < UINT64_MAX / 10 ? mul * 10 : 0;
		i--;
	}
	struct req *r = &table[v & (LG_TABLE - 1)];
	if (!v || r->id != v) {
		st.unmatched++;
		note_error("unmatched message: %.*s", (int)(n < 160 ? n : 160), p);
		return;
	}
	if (type && tl == 14 && memcmp(type, "acknowledgment", 14) == 0) {
		st.acks++;
		if (measuring && r->t0 >= t_measure)
			hist_add(&st.ack, t - r->t0);
		return;
	}
	if (type && tl == 8 && memcmp(type, "progress", 8) == 0) {
		st.progress++;
		if (!r->t_prog) {
			r->t_prog = t;
			if (measuring && r->t0 >= t_measure)
				hist_add(&st.prog, t - r->t0);
		}
		return;
	}
	st.finals++;
	int failed = type && tl == 5 && memcmp(type, "error", 5) == 0;
	if (failed) {
		st.errors_msg++;
		note_error("error answer: %.*s", (int)(n < 200 ? n : 200), p);
	}
	/* Throughput and latency count successes only: a refusal is fast. */
	if (!failed && measuring && r->t0 >= t_measure) {
		hist_add(&st.lat, t - r->t0);
		hist_add(&st.svc, t - r->t_sent);
		if (t <= t_stop)
			st.done++;
	}
	r->id = 0;
	struct conn *owner = &conns[r->conn];
	if (owner->inflight > 0)
		owner->inflight--;
	if (refill && owner->st == C_OPEN && owner->inflight < opt.inflight &&
	    (!opt.max_requests || st.sent < opt.max_requests))
		send_request(r->conn, t);
	(void)c;
}

/* Frames in c->in; returns -1 when the connection went away. */
static int ws_parse(struct conn *c)
{
	for (;;) {
		const unsigned char *b = (unsigned char *)c->in.p + c->in.off;
		size_t avail = c->in.len - c->in.off;
		if (avail < 2)
			return 0;
		int fin = b[0] & 0x80, op = b[0] & 0x0f, masked = b[1] & 0x80;
		uint64_t len = b[1] & 0x7f;
		size_t h = 2;
		if (len == 126) {
			if (avail < 4)
				return 0;
			len = (uint64_t)b[2] << 8 | b[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				return 0;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | b[2 + i];
			h = 10;
		}
		if (len > LG_MAX_MSG) {
			conn_kill(c, "frame too large");
			return -1;
		}
		if (masked)
			h += 4;
		if (avail < h + len)
			return 0;
		char *pl = (char *)c->in.p + c->in.off + h;
		if (masked)
			for (uint64_t i = 0; i < len; i++)
				pl[i] ^= (char)b[h - 4 + (i & 3)];
		c->in.off += h + (size_t)len;
		switch (op) {
		case 0x0: case 0x1: case 0x2:
			if (!fin || c->msg.len) {
				if (buf_reserve(&c->msg, (size_t)len, LG_MAX_MSG) < 0) {
					conn_kill(c, "message too large");
					return -1;
				}
				memcpy(c->msg.p + c->msg.len, pl, (size_t)len);
				c->msg.len += (size_t)len;
				if (fin) {
					on_message(c, c->msg.p, c->msg.len);
					c->msg.len = 0;
				}
			} else {
				on_message(c, pl, (size_t)len);
			}
			break;
		case 0x8: {
			unsigned code = len >= 2 ? ((unsigned char)pl[0] << 8 |
						    (unsigned char)pl[1]) : 0;
			char why[64];
			snprintf(why, sizeof why, "close frame %u", code);
			conn_kill(c, why);
			return -1;
		}
		case 0x9:
			ws_send(c, 0xA, pl, (size_t)len);
			break;
		default:
			break;
		}
		if (c->st == C_DEAD)
			return -1;
	}
}

/* --- connecting --------------------------------------------------------- */

static void conn_start(struct conn *c)
{
	c->t_start = now_ns();
	c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (c->fd < 0) {
		c->st = C_CONNECTING;
		connecting++;
		conn_kill(c, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->st = C_CONNECTING;
	connecting++;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
				  .data.u32 = (uint32_t)(c - conns) };
	c->want_out = 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 ||
	    (connect(c->fd, addr->ai_addr, addr->ai_addrlen) < 0 &&
	     errno != EINPROGRESS))
		conn_kill(c, strerror(errno));
}

static void conn_upgrade(struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		conn_kill(c, strerror(err));
		return;
	}
	char req[sizeof opt.path + 512];
	int n = snprintf(req, sizeof req,
		"GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: " LG_WS_KEY "\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n", opt.path, opt.host, opt.port);
	c->st = C_HANDSHAKE;
	ep_set(c, 0);
	conn_write(c, req, (size_t)n);
}

/* The 101 answer; the first bytes after it may already be frames. */
static void conn_handshake(struct conn *c)
{
	char *hdr = c->in.p + c->in.off;
	size_t n = c->in.len - c->in.off;
	char *end = memmem(hdr, n, "\r\n\r\n", 4);
	if (!end) {
		if (n > 16384)
			conn_kill(c, "handshake answer too long");
		return;
	}
	*end = 0;
	int status = 0;
	if (sscanf(hdr, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
		st.http_status = status;
		char why[64];
		snprintf(why, sizeof why, "HTTP %d", status);
		conn_kill(c, why);
		return;
	}
	if (!strstr(hdr, LG_WS_ACCEPT)) {
		conn_kill(c, "bad Sec-WebSocket-Accept");
		return;
	}
	c->in.off += (size_t)(end - hdr) + 4;
	c->st = C_OPEN;
	connecting--;
	open_count++;
	hist_add(&st.conn, now_ns() - c->t_start);
	ws_parse(c);
}

static void conn_readable(struct conn *c)
{
	if (buf_reserve(&c->in, LG_RBUF, LG_MAX_MSG + LG_RBUF) < 0) {
		conn_kill(c, "input buffer full");
		return;
	}
	ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_kill(c, r == 0 ? "end of stream" : strerror(errno));
		return;
	}
	c->in.len += (size_t)r;
	if (c->st == C_HANDSHAKE)
		conn_handshake(c);
	else if (c->st == C_OPEN)
		ws_parse(c);
}

static void on_event(struct epoll_event *ev)
{
	struct conn *c = &conns[ev->data.u32];
	if (c->st == C_DEAD)
		return;
	if (c->st == C_CONNECTING) {
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_upgrade(c);
		return;
	}
	if (ev->events & EPOLLOUT)
		conn_flush(c);
	if (c->st != C_DEAD && ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_readable(c);
}

/* Waits at most until `until` (ns, monotonic; 0: no wait) for events. */
static void poll_once(int64_t until)
{
	struct epoll_event evs[256];
	int timeout = 0;
	if (until) {
		int64_t d = until - now_ns();
		timeout = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
	}
	int n = epoll_wait(ep, evs, 256, timeout);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == UINT32_MAX) {
			uint64_t x;
			if (read(tfd, &x, sizeof x) < 0)
				(void)0;	/* the timer only wakes us */
			continue;
		}
		on_event(&evs[i]);
	}
}

/* Opens every connection, at most --connect-concurrency at a time. */
static void connect_all(void)
{
	int next = 0;
	int64_t deadline = now_ns() + 30 * (int64_t)1000000000;
	while ((next < opt.conns || connecting > 0) && now_ns() < deadline) {
		while (next < opt.conns && connecting < opt.connect_par)
			conn_start(&conns[next++]);
		poll_once(now_ns() + 10000000);
	}
	for (int i = 0; i < opt.conns; i++)
		if (conns[i].st == C_CONNECTING || conns[i].st == C_HANDSHAKE)
			conn_kill(&conns[i], "handshake timed out");
}

static void timer_arm(int64_t at)
{
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = at / 1000000000;
	its.it_value.tv_nsec = at % 1000000000;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* --- the run ------------------------------------------------------------ */

/* Fills every connection once; after that each answer sends the next. */
static void run_closed(void)
{
	int64_t t_end = t_stop;
	for (int i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		while (c->st == C_OPEN && c->inflight < opt.inflight &&
		       (!opt.max_requests || st.sent < opt.max_requests))
			send_request((uint32_t)i, now_ns());
	}
	refill = 1;
	while (now_ns() < t_end) {
		if (opt.max_requests && st.sent >= opt.max_requests &&
		    st.finals + st.unmatched >= st.sent)
			break;
		if (!open_count)
			break;
		if (!measuring && now_ns() >= t_measure) {
			measuring = 1;
			sent_at_measure = st.sent;
		}
		poll_once(measuring ? t_end : t_measure);
	}
	refill = 0;
}

static void run_rate(void)
{
	int64_t t0 = now_ns();
	double step = 1e9 / opt.rate;
	uint64_t k = 0;
	uint32_t rr = 0;
	while (now_ns() < t_stop && open_count) {
		int64_t now = now_ns();
		if (!measuring && now >= t_measure) {
			measuring = 1;
			sent_at_measure = st.sent;
		}
		int64_t due;
		while ((due = t0 + (int64_t)(k * step)) <= now &&
		       (!opt.max_requests || st.sent < opt.max_requests)) {
			for (int tries = 0; tries < opt.conns; tries++) {
				rr = (rr + 1) % (uint32_t)opt.conns;
				if (conns[rr].st == C_OPEN)
					break;
			}
			if (conns[rr].st != C_OPEN)
				return;
			if (now - due > st.max_lag)
				st.max_lag = now - due;
			if (now - due > 1000000)
				st.late_sends++;
			send_request(rr, due);
			k++;
		}
		if (opt.max_requests && st.sent >= opt.max_requests)
			break;
		timer_arm(due);
		poll_once(t_stop);
	}
}

static void drain(void)
{
	int64_t until = now_ns() + (int64_t)(opt.drain * 1e9);
	for (;;) {
		uint64_t pending = 0;
		for (int i = 0; i < opt.conns; i++)
			if (conns[i].st == C_OPEN)
				pending += (uint64_t)conns[i].inflight;
		if (!pending || now_ns() >= until)
			return;
		poll_once(until);
	}
}

static void report(void)
{
	double secs = (t_stop - t_measure) / 1e9;
	uint64_t pending = 0;
	for (int i = 0; i < opt.conns; i++)
		if (conns[i].st == C_OPEN)
			pending += (uint64_t)conns[i].inflight;
	uint64_t errors = st.errors_msg + st.unmatched + st.conn_failed +
			  st.closed + pending;
	double rps = opt.idle || secs <= 0 ? 0 : st.done / secs;
	const char *mode = opt.idle ? "idle" : opt.rate > 0 ? "rate" : "closed";

	fprintf(stderr, "%s: %s c=%d: %d open, %.0f req/s, latency p50 %.3f "
		"p90 %.3f p99 %.3f max %.3f ms; connect p50 %.3f p99 %.3f ms; "
		"errors %llu%s%s\n", opt.label, mode, opt.conns, open_count, rps,
		hist_us(&st.lat, .5) / 1e3, hist_us(&st.lat, .9) / 1e3,
		hist_us(&st.lat, .99) / 1e3, hist_us(&st.lat, 1) / 1e3,
		hist_us(&st.conn, .5) / 1e3, hist_us(&st.conn, .99) / 1e3,
		(unsigned long long)errors, st.first_error[0] ? ": " : "",
		st.first_error);
	if (st.acks)
		fprintf(stderr, "%s: async: ack p50 %.3f p99 %.3f ms, first "
			"progress p50 %.3f p99 %.3f ms, complete p50 %.3f p99 "
			"%.3f ms\n", opt.label,
			hist_us(&st.ack, .5) / 1e3, hist_us(&st.ack, .99) / 1e3,
			hist_us(&st.prog, .5) / 1e3, hist_us(&st.prog, .99) / 1e3,
			hist_us(&st.lat, .5) / 1e3, hist_us(&st.lat, .99) / 1e3);
	if (st.late_sends)
		fprintf(stderr, "%s: warning: %llu requests sent over 1 ms late "
			"(max %.3f ms): the generator fell behind; from the real "
			"send: p50 %.3f p99 %.3f ms\n", opt.label,
			(unsigned long long)st.late_sends, st.max_lag / 1e6,
			hist_us(&st.svc, .5) / 1e3, hist_us(&st.svc, .99) / 1e3);

	char esc[sizeof st.first_error * 2];
	size_t j = 0;
	for (const char *s = st.first_error; *s && j + 2 < sizeof esc; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			esc[j++] = '\\';
		esc[j++] = ch < 0x20 ? ' ' : (char)ch;
	}
	esc[j] = 0;
	printf("{\"label\":\"%s\",\"mode\":\"%s\",\"conns\":%d,\"open\":%d,"
	       "\"inflight\":%d,\"rate\":%.0f,\"duration_s\":%.3f,"
	       "\"sent\":%llu,\"done\":%llu,\"rps\":%.1f,"
	       "\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,\"lat_p99_us\":%.1f,"
	       "\"lat_max_us\":%.1f,\"sent_p50_us\":%.1f,"
	       "\"sent_p99_us\":%.1f,\"conn_p50_us\":%.1f,\"conn_p99_us\":%.1f,"
	       "\"conn_max_us\":%.1f,\"acks\":%llu,\"progress\":%llu,"
	       "\"finals\":%llu,\"ack_p50_us\":%.1f,\"ack_p99_us\":%.1f,"
	       "\"prog_p50_us\":%.1f,\"prog_p99_us\":%.1f,"
	       "\"errors\":%llu,\"err_answers\":%llu,\"err_unmatched\":%llu,"
	       "\"err_connect\":%llu,\"err_closed\":%llu,\"err_pending\":%llu,"
	       "\"http_status\":%d,\"late_sends\":%llu,\"max_lag_us\":%.1f,"
	       "\"first_error\":\"%s\"}\n",
	       opt.label, mode, opt.conns, open_count, opt.inflight, opt.rate,
	       secs, (unsigned long long)(st.sent - sent_at_measure),
	       (unsigned long long)st.done, rps,
	       hist_us(&st.lat, .5), hist_us(&st.lat, .9),
	       hist_us(&st.lat, .99), hist_us(&st.lat, 1),
	       hist_us(&st.svc, .5), hist_us(&st.svc, .99),
	       hist_us(&st.conn, .5), hist_us(&st.conn, .99),
	       hist_us(&st.conn, 1), (unsigned long long)st.acks,
	       (unsigned long long)st.progress, (unsigned long long)st.finals,
	       hist_us(&st.ack, .5), hist_us(&st.ack, .99),
	       hist_us(&st.prog, .5), hist_us(&st.prog, .99),
	       (unsigned long long)errors, (unsigned long long)st.errors_msg,
	       (unsigned long long)st.unmatched,
	       (unsigned long long)st.conn_failed,
	       (unsigned long long)st.closed, (unsigned long long)pending,
	       st.http_status, (unsigned long long)st.late_sends,
	       st.max_lag / 1e3, esc);
	fflush(stdout);
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double d = v ? strtod(v, &end) : 0;
	if (!v || errno || end == v || *end || d < lo || d > hi) {
		fprintf(stderr, "loadgen: %s wants a number in [%g, %g], got %s\n",
			name, lo, hi, v ? v : "nothing");
		exit(2);
	}
	return d;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-c"))
			opt.conns = (int)num_arg(a, v, 1, 1000000), i++;
		else if (!strcmp(a, "-p"))
			opt.inflight = (int)num_arg(a, v, 1, 100000), i++;
		else if (!strcmp(a, "-r"))
			opt.rate = num_arg(a, v, 1, 1e8), i++;
		else if (!strcmp(a, "-d"))
			opt.duration = num_arg(a, v, 0, 86400), i++;
		else if (!strcmp(a, "-w"))
			opt.warmup = num_arg(a, v, 0, 86400), i++;
		else if (!strcmp(a, "-n"))
			opt.max_requests = (uint64_t)num_arg(a, v, 1, 1e15), i++;
		else if (!strcmp(a, "--drain"))
			opt.drain = num_arg(a, v, 0, 86400), i++;
		else if (!strcmp(a, "--connect-concurrency"))
			opt.connect_par = (int)num_arg(a, v, 1, 1000000), i++;
		else if (!strcmp(a, "-m") && v)
			opt.tmpl = v, i++;
		else if (!strcmp(a, "-l") && v)
			opt.label = v, i++;
		else if (!strcmp(a, "--idle"))
			opt.idle = 1;
		else if (!strcmp(a, "--free-port"))
			return free_port();
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] != '-' && !url)
			url = a;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!url || parse_url(url) < 0) {
		fprintf(stderr, "loadgen: want ws://HOST:PORT[/PATH], got %s\n",
			url ? url : "nothing");
		return 2;
	}
	if (tmpl_compile(opt.tmpl) < 0) {
		fprintf(stderr, "loadgen: too many {id} in the template\n");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int gai = getaddrinfo(opt.host, opt.port, &hints, &addr);
	if (gai) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", opt.host, opt.port,
			gai_strerror(gai));
		return 2;
	}
	/* Room for the connections, and timers that fire when asked to. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);

	conns = calloc((size_t)opt.conns, sizeof *conns);
	table = calloc(LG_TABLE, sizeof *table);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!conns || !table || ep < 0 || tfd < 0) {
		perror("loadgen");
		return 1;
	}
	struct epoll_event tev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
	for (int i = 0; i < opt.conns; i++) {
		conns[i].fd = -1;
		conns[i].mask_seed = 2463534242u + (uint32_t)i * 2654435761u;
	}

	connect_all();
	if (opt.idle) {
		printf("{\"event\":\"connected\",\"open\":%d}\n", open_count);
		fflush(stdout);
		t_measure = now_ns();
		t_stop = t_measure + (int64_t)(opt.duration * 1e9);
		while (now_ns() < t_stop)
			poll_once(t_stop);
	} else if (open_count) {
		t_measure = now_ns() + (int64_t)(opt.warmup * 1e9);
		t_stop = t_measure + (int64_t)(opt.duration * 1e9);
		measuring = opt.warmup <= 0;
		if (opt.rate > 0)
			run_rate();
		else
			run_closed();
		if (now_ns() < t_stop)
			t_stop = now_ns();	/* ended early: -n or all closed */
		drain();
	} else {
		t_measure = t_stop = now_ns();
	}
	report();
	return open_count ? 0 : 1;
}
