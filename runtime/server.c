/* server.c: libwebsockets server, in a libev (epoll) loop run a pass at a
 * time (lead, lws_chores) by one of two threads in turn (run_inline). The
 * thread running the loop owns every connection; other threads reach them
 * through the outbox (a mutex-protected list, then lws_cancel_service),
 * drained in EVENT_WAIT_CANCELLED and after each pass. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "event.h"
#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "server.h"

#define CONN_BUCKETS 4096       /* connection id hash */
#define OUTBOX_MAX 262144       /* messages waiting for the loop */
#define RX_KEEP 4096            /* reassembly buffer kept between messages */
#define URLARG_MAX (ST__TOKEN_MAX + 512)
#define ABUSE_WINDOW_NS 10000000000LL /* strikes are counted over 10 s */
#define OUTQ_MSGS_MAX 65536     /* messages queued to one connection */
#define ANCHOR_US (3650LL * 86400 * LWS_US_PER_SEC) /* see S.anchor */
#define TAKEOVER_NS 2000000     /* when the standby takes the loop over */


typedef struct conn {
	struct lws *wsi;
	char id[37];
	st__claims claims;
	bool established;
	/* Being dropped: queue nothing more. Set under conn_mu. */
	bool dead;
	/* The format of the client's last message: answers to a message go
	 * in its own format; async events go in their request's (known from
	 * its acknowledgment, deliver_event), else, like broadcasts, in the
	 * format the connection spoke last (a resumed request follows the
	 * format of the `status` that resumed it). */
	atomic_bool binary_mode;
	/* The client has sent both formats: its events may need encoding
	 * again in their request's format (st__gateway_post). `spoke`: it
	 * has sent a message (the loop only). */
	atomic_bool mixed;
	bool spoke;
	/* reassembly of one message */
	char *rx;
	size_t rx_len, rx_cap;
	/* outbound: a ring of oq_cap messages, oq_n of them from oq_first;
	 * allocated on the first message, grown by doubling, kept */
	st__msg **oq;
	size_t oq_cap, oq_first, oq_n, oq_bytes;
	/* rate limit: a token bucket, and strikes for abuse */
	double tokens;
	int64_t refill_ns;
	int strikes;
	int64_t strike_start_ns;
	/* the async requests it follows: highest progress sent, final sent */
	st__follow follow;
	/* close once the queue is empty */
	int close_code;
	const char *close_reason;
	struct conn *hnext;          /* hash chain */
	struct conn *prev, *next;    /* every established connection */
} conn;

/* Per-session data of the WebSocket protocol: the connection, once the
 * handshake authenticated it. */
typedef struct ws_pss {
	conn *c;
} ws_pss;

/* Per-session data of plain HTTP: the body being sent. */
typedef struct http_pss {
	char *body;
	size_t len;
} http_pss;

/* A message posted by another thread. Connection ids fit in `id`; user
 * and tenant targets (broadcasts, rare) carry "a\0b" in `ext`. An async
 * event also carries itself in `ev`, for the connection's guard. */
typedef struct obox_item {
	st__target_kind kind;
	st__msg *m;
	char *ext;              /* owned, or NULL */
	st__event *ev;          /* owned (event_copy), or NULL */
	bool strings;           /* ev has all its strings (event_copy's `all`) */
	char id[48];
} obox_item;

/* The outbox: an array that grows to what the traffic needs and is kept,
 * swapped with a spare on each drain, so that posting costs no malloc. */
typedef struct obox {
	obox_item *v;
	size_t n, cap;
} obox;

static struct {
	const st__config *cfg;
	const st__auth *auth;
	st__presence *presence;
	st__pool *pool;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int port;
	/* Two threads take turns running the loop (see run_inline): the
	 * one that does, and a standby asleep on takeover_fd. */
	pthread_t standby;
	bool standby_started;
	int takeover_fd;           /* a timerfd: the standby's alarm */
	/* 0: a thread runs the loop; else the loop is free for the taking,
	 * and this is when its turn began (monotonic ns, odd: never 0). */
	_Atomic int64_t loop_free;
	atomic_bool alarm_set;     /* the alarm will ring */
	atomic_bool standby_ready; /* a thread stands by */
	atomic_bool loop_ended;    /* the standby returns */
	/* connections (the table is also read by other threads) */
	pthread_mutex_t conn_mu;
	conn *buckets[CONN_BUCKETS];
	conn *all;
	size_t n_conns;
	/* outbox */
	pthread_mutex_t obox_mu;
	obox ob;                 /* posted, under obox_mu */
	obox ob_spare;           /* the loop's, between drains */
	bool accepting;          /* outbox open (ctx alive) */
	/* Set by the loop when it receives a frame or runs jobs, cleared by
	 * outbox_drain under obox_mu: while set, the loop is inside a pass
	 * that ends with a drain (lead), so a post needs no
	 * lws_cancel_service (a write, then a read and a pass of its own). */
	atomic_bool in_pass;
	/* stopping */
	atomic_bool stop_asked;
	bool draining, closing, done;
	int64_t drain_deadline_ns;
	lws_sorted_usec_list_t drain_sul; /* drain_check, every 50 ms */
	lws_sorted_usec_list_t kick_sul;  /* a pass while pool jobs wait */
	/* the event loop: see lws_chores */
	struct ev_loop *loop;
	ev_timer sul_timer;               /* wakes the loop for lws's timers */
	lws_sorted_usec_list_t anchor;    /* never due: its list.owner is the
					   * first of lws's timer lists */
} S;

/* This thread runs the loop now: it owns every connection and lws. */
static _Thread_local bool on_loop;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- the connection table ----------------------------------------------- */

/* Our connection ids are random UUIDs: their first 8 characters spread
 * them over the buckets as well as all 36 would. */
static unsigned hash_id(const char *s)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 8 && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h % CONN_BUCKETS;
}

/* Caller holds conn_mu. */
/* The loop changes the table (under conn_mu, for the other threads'
 * reads) and reads it without the lock; other threads hold conn_mu. */
static conn *conn_find(const char *id)
{
	for (conn *c = S.buckets[hash_id(id)]; c; c = c->hnext)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static void conn_link(conn *c)
{
	unsigned h = hash_id(c->id);
	pthread_mutex_lock(&S.conn_mu);
	c->hnext = S.buckets[h];
	S.buckets[h] = c;
	c->next = S.all;
	if (S.all)
		S.all->prev = c;
	S.all = c;
	S.n_conns++;
	pthread_mutex_unlock(&S.conn_mu);
}

static void conn_unlink(conn *c)
{
	unsigned h = hash_id(c->id);
	pthread_mutex_lock(&S.conn_mu);
	for (conn **p = &S.buckets[h]; *p; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			break;
		}
	if (c->prev)
		c->prev->next = c->next;
	else
		S.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	S.n_conns--;
	pthread_mutex_unlock(&S.conn_mu);
}

int st__server_has_conn(const char *conn_id)
{
	pthread_mutex_lock(&S.conn_mu);
	int r = conn_find(conn_id) != NULL;
	pthread_mutex_unlock(&S.conn_mu);
	return r;
}

static void conn_free(conn *c)
{
	for (size_t i = 0; i < c->oq_n; i++)
		st__msg_unref(c->oq[(c->oq_first + i) % c->oq_cap]);
	free(c->oq);
	st__follow_fini(&c->follow);
	st__claims_fini(&c->claims);
	free(c->rx);
	free(c);
}

/* --- outbound --------------------------------------------------------------- */

/* Marks c dropped (it is being closed): nothing more is written to it. */
static void conn_kill(conn *c)
{
	pthread_mutex_lock(&S.conn_mu);
	c->dead = true;
	pthread_mutex_unlock(&S.conn_mu);
}

/* Writes m to c with lws_write (the loop); true when lws took it all (it
 * may keep part to send later). */
static bool conn_write(conn *c, st__msg *m)
{
	int n = lws_write(c->wsi, m->data, m->len,
			  m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	if (n < (int)m->len)
		return false;
	st__metrics_out(m->type);
	return true;
}

/* Queues m (a new reference is taken) to c; drops a connection whose queue
 * is over the limit. Service thread. */
static void conn_enqueue(conn *c, st__msg *m)
{
	if (c->dead || !c->established)
		return;
	if (m->alt && m->alt->binary == atomic_load(&c->binary_mode))
		m = m->alt;
	if (c->oq_bytes + m->len > S.cfg->outbound_max || c->oq_n >= OUTQ_MSGS_MAX) {
		st__logctx lc = { c->id, NULL, NULL };
		st__log(ST__LOG_WARN, &lc, "slow reader dropped", "queued_bytes=%zu",
			c->oq_bytes);
		st__metrics_count(ST__C_SLOW_READER);
		conn_kill(c);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return;
	}
	/* A sync answer that nothing waits before: written now, without a
	 * WRITEABLE round (a POLLOUT request, a poll() and lws's dispatch;
	 * 2% of the CPU per echo in closed loops, bench/results.md). Async
	 * events still wait for WRITEABLE: written at once they cost 12% of
	 * the durable throughput end to end (three A/B pairs; not traced,
	 * likely the loop holding conn_mu across many more sends while the
	 * async threads look connections up under it). lws's guide says to
	 * write only in WRITEABLE, for HTTP/2 and TLS; for a WebSocket on a
	 * plain socket of its own, lws 4.1 sends what the socket takes and
	 * keeps the rest (lws_issue_raw), after which lws_partial_buffered
	 * holds the next messages in our queue, bounded as before: a slow
	 * reader costs one message more. A WebSocket over HTTP/2 still
	 * writes in its stream's WRITEABLE turn. */
	if (m->answer && c->oq_n == 0 && !c->close_code && !lws_partial_buffered(c->wsi) &&
	    lws_get_network_wsi(c->wsi) == c->wsi) {
		if (!conn_write(c, m)) {
			conn_kill(c);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		}
		return;
	}
	if (c->oq_n == c->oq_cap) {
		size_t cap = c->oq_cap ? c->oq_cap * 2 : 4;
		st__msg **q = malloc(cap * sizeof *q);
		if (!q)
			return;
		for (size_t i = 0; i < c->oq_n; i++)
			q[i] = c->oq[(c->oq_first + i) % c->oq_cap];
		free(c->oq);
		c->oq = q;
		c->oq_cap = cap;
		c->oq_first = 0;
	}
	c->oq[(c->oq_first + c->oq_n) % c->oq_cap] = st__msg_ref(m);
	c->oq_bytes += m->len;
	/* A non-empty queue already waits for WRITEABLE (on_writable asks
	 * again while messages remain). */
	if (c->oq_n++ == 0)
		lws_callback_on_writable(c->wsi);
}

/* Delivers an outbox item on the loop. */
static void deliver(st__target_kind k, const char *a, const char *b, st__msg *m)
{
	if (k == ST__TO_CONN) {
		conn *c = conn_find(a);
		if (c)
			conn_enqueue(c, m);
		return;
	}
	/* User or tenant: one message, shared by every recipient. The list
	 * only changes on this thread, so no lock is needed to walk it. */
	for (conn *c = S.all; c; c = c->next) {
		if (strcmp(c->claims.tenant_id, a) != 0)
			continue;
		if (k == ST__TO_USER && strcmp(c->claims.sub, b) != 0)
			continue;
		conn_enqueue(c, m);
	}
}

/* Delivers an async event on the loop, through its connection's
 * guard (follow.h): an event after the request's final message is
 * dropped; progress below what the connection was sent (a retried attempt
 * restarts from the row's progress, which lags) is sent raised to it; and
 * every event goes in its request's format when the connection knows it
 * (from the acknowledgment), whatever the client sent since. In those
 * cases it is encoded again from `ev` (m was encoded when it was posted,
 * in the format the connection spoke then), when `ev` has the strings for
 * it (`strings`, else only a progress message's). Borrows ev and m;
 * ev->percentage may be changed. */
static void deliver_event(st__event *ev, st__msg *m, bool strings)
{
	conn *c = conn_find(ev->connection_id);
	if (!c || c->dead || !c->established)
		return;
	double pct = ev->percentage;
	uint8_t fmt = ev->format;
	if (!st__follow_event(&c->follow, ev->kind, ev->request_id, &pct, &fmt)) {
		st__logctx lc = { c->id, ev->request_id, NULL };
		st__log(ST__LOG_DEBUG, &lc, "event after the final message dropped",
			"kind=%s", ev->kind == ST__EV_PROGRESS ? "progress"
				   : ev->kind == ST__EV_ACK ? "ack" : "final");
		return;
	}
	bool binary = fmt ? fmt == ST__EVFMT_FB : m->binary;
	/* A copy made before the client mixed formats has no strings but a
	 * progress message's (event_copy): such an event goes as encoded. */
	if (binary != m->binary && ev->kind != ST__EV_PROGRESS && !strings)
		binary = m->binary;
	if (pct == ev->percentage && binary == m->binary) {
		conn_enqueue(c, m);
		return;
	}
	ev->percentage = pct;
	st__msg *r = st__router_event_msg(ev, binary ? ST__FMT_FB : ST__FMT_JSON);
	if (r) {
		conn_enqueue(c, r);
		st__msg_unref(r);
	}
}

static void outbox_drain(void)
{
	pthread_mutex_lock(&S.obox_mu);
	atomic_store_explicit(&S.in_pass, false, memory_order_relaxed);
	if (!S.ob.n) {
		pthread_mutex_unlock(&S.obox_mu);
		return;
	}
	obox got = S.ob;
	S.ob = S.ob_spare;
	S.ob.n = 0;
	pthread_mutex_unlock(&S.obox_mu);
	for (size_t i = 0; i < got.n; i++) {
		obox_item *it = &got.v[i];
		if (it->ev)
			deliver_event(it->ev, it->m, it->strings);
		else if (it->ext)
			deliver(it->kind, it->ext, it->ext + strlen(it->ext) + 1, it->m);
		else
			deliver(it->kind, it->id, "", it->m);
		st__msg_unref(it->m);
		free(it->ext);
		free(it->ev);
	}
	/* Keep the array for the next swap, unless a burst left it large. */
	if (got.cap > 4096 && got.n < got.cap / 4) {
		free(got.v);
		got = (obox){ NULL, 0, 0 };
	}
	got.n = 0;
	S.ob_spare = got;
}

/* Appends `it` to the outbox and wakes the loop. Takes what the item
 * owns; on failure (server stopped, outbox full, OOM) frees it and
 * returns -1. */
static int outbox_put(obox_item it)
{
	pthread_mutex_lock(&S.obox_mu);
	if (!S.accepting || S.ob.n >= OUTBOX_MAX)
		goto refuse;
	if (S.ob.n == S.ob.cap) {
		size_t cap = S.ob.cap ? S.ob.cap * 2 : 256;
		obox_item *v = realloc(S.ob.v, cap * sizeof *v);
		if (!v)
			goto refuse;
		S.ob.v = v;
		S.ob.cap = cap;
	}
	S.ob.v[S.ob.n++] = it;
	/* The loop drains all at once: one wake-up, none in a pass. */
	if (S.ob.n == 1 && !atomic_load_explicit(&S.in_pass, memory_order_relaxed))
		lws_cancel_service(S.ctx);
	pthread_mutex_unlock(&S.obox_mu);
	return 0;
refuse:;
	bool full = S.accepting;
	pthread_mutex_unlock(&S.obox_mu);
	if (full)
		st__log_warn("outbox full: message dropped", "to=%s",
			     it.ext ? it.ext : it.id);
	st__msg_unref(it.m);
	free(it.ext);
	free(it.ev);
	return -1;
}

int st__server_post(st__target_kind k, const char *a, const char *b, st__msg *m)
{
	if (!m)
		return -1;
	if (S.accepting && on_loop) {
		deliver(k, a, b ? b : "", m);
		st__msg_unref(m);
		return 0;
	}
	obox_item it = { k, m, NULL, NULL, false, "" };
	size_t al = strnlen(a, 63), bl = b ? strnlen(b, ST__CLAIM_MAX) : 0;
	if (k == ST__TO_CONN && al < sizeof it.id) {
		memcpy(it.id, a, al);
		it.id[al] = '\0';
	} else {
		it.ext = malloc(al + bl + 2);
		if (!it.ext) {
			st__msg_unref(m);
			return -1;
		}
		memcpy(it.ext, a, al);
		it.ext[al] = '\0';
		if (bl)
			memcpy(it.ext + al + 1, b, bl);
		it.ext[al + 1 + bl] = '\0';
	}
	return outbox_put(it);
}

/* The router's way out: every message from another thread goes through
 * the outbox (a job run by the loop's thread runs while the loop is free
 * for the standby to take: see run_inline). */
void st__server_send(const char *conn_id, st__msg *m)
{
	st__server_post(ST__TO_CONN, conn_id, NULL, m);
}

/* A copy of `ev` in one allocation (free() it), with the strings the
 * event may be encoded from again (deliver_event): a progress message's,
 * or with `all` every one; otherwise only the fixed fields. NULL on OOM. */
static st__event *event_copy(const st__event *ev, bool all)
{
	bool progress = ev->kind == ST__EV_PROGRESS;
	const char *src[6] = { ev->client_id, ev->action, ev->message,
			       ev->result_json, ev->error_code, ev->error_message };
	size_t len[6], total = sizeof *ev;
	for (int i = 0; i < 6; i++) {
		len[i] = (all || (progress && i < 3)) && src[i] ? strlen(src[i]) + 1 : 0;
		total += len[i];
	}
	st__event *e = malloc(total);
	if (!e)
		return NULL;
	*e = *ev;
	e->client_id = e->action = e->message = NULL;
	e->result_json = e->error_code = e->error_message = NULL;
	const char **dst[6] = { &e->client_id, &e->action, &e->message,
				&e->result_json, &e->error_code, &e->error_message };
	char *p = (char *)(e + 1);
	for (int i = 0; i < 6; i++)
		if (len[i]) {
			*dst[i] = memcpy(p, src[i], len[i]);
			p += len[i];
		}
	return e;
}

/* The async engine's events for local connections: encoded here, in the
 * connection's format, and ordered per request by deliver_event on the
 * loop (the guard needs no lock there: the loop owns the connection). */
int st__gateway_post(const st__event *ev)
{
	pthread_mutex_lock(&S.conn_mu);
	conn *c = conn_find(ev->connection_id);
	bool binary = ev->format ? ev->format == ST__EVFMT_FB
				 : c && atomic_load(&c->binary_mode);
	bool mixed = c && atomic_load(&c->mixed);
	pthread_mutex_unlock(&S.conn_mu);
	if (!c)
		return -1;
	st__msg *m = st__router_event_msg(ev, binary ? ST__FMT_FB : ST__FMT_JSON);
	if (!m)
		return 0; /* OOM: accepted and lost, like a dropped frame */
	st__event *copy = event_copy(ev, mixed);
	if (!copy) /* OOM: sent unguarded rather than lost */
		return st__server_post(ST__TO_CONN, ev->connection_id, NULL, m) < 0 ? -1 : 0;
	if (S.accepting && on_loop) {
		deliver_event(copy, m, mixed);
		st__msg_unref(m);
		free(copy);
		return 0;
	}
	obox_item it = { ST__TO_CONN, m, NULL, copy, mixed, "" };
	return outbox_put(it) < 0 ? -1 : 0;
}

/* --- the handshake ------------------------------------------------------------ */

/* Finds the token in the query (?Authorization=[Bearer ]T) or the header
 * (Authorization: Bearer T). Returns its length (0: none; -1: too large),
 * the token in buf. */
static int find_token(struct lws *wsi, char *buf, size_t cap)
{
	const char *v = lws_get_urlarg_by_name(wsi, "Authorization=", buf, (int)cap - 1);
	if (!v) {
		int args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
		if (args >= (int)cap - 1)
			return -1;
		int hl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
		if (hl <= 0)
			return 0;
		if (hl >= (int)cap - 1)
			return -1;
		if (lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
			return -1;
		v = buf;
	}
	size_t n = strlen(v);
	if (n >= 7 && (!strncmp(v, "Bearer ", 7) || !strncmp(v, "Bearer+", 7))) {
		v += 7;
		n -= 7;
	}
	while (n && *v == ' ')
		v++, n--;
	memmove(buf, v, n);
	buf[n] = '\0';
	return (int)n;
}

/* 0 to accept (pss->c set), -1 after answering 401/503. */
static int handshake(struct lws *wsi, ws_pss *pss)
{
	char peer[64] = "";
	lws_get_peer_simple(wsi, peer, sizeof peer);
	if (S.draining) {
		st__metrics_rejected(ST__AUTH_DRAINING);
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
		return -1;
	}
	char *buf = malloc(URLARG_MAX);
	st__claims claims;
	st__auth_reason r = ST__AUTH_MISSING;
	if (buf) {
		int n = find_token(wsi, buf, URLARG_MAX);
		if (n < 0)
			r = ST__AUTH_TOO_LARGE;
		else if (n > 0)
			r = st__auth_verify(S.auth, buf, (size_t)n, (int64_t)time(NULL), &claims);
		free(buf);
	}
	if (r != ST__AUTH_OK) {
		st__metrics_rejected(r);
		st__log(ST__LOG_INFO, NULL, "handshake refused", "reason=%s peer=%s",
			st__auth_reason_label(r), peer);
		lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, NULL);
		return -1;
	}
	conn *c = calloc(1, sizeof *c);
	if (!c) {
		st__claims_fini(&claims);
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
		return -1;
	}
	st__follow_init(&c->follow);
	c->wsi = wsi;
	c->claims = claims;
	st__uuid_text(c->id);
	c->tokens = S.cfg->rate_burst;
	c->refill_ns = mono_ns();
	pss->c = c;
	return 0;
}

/* --- receiving ------------------------------------------------------------- */

/* true when the message (arrived at `now`, monotonic ns) may go on; else
 * it was answered RATE_LIMITED, or the connection must close (*close set). */
static bool rate_ok(conn *c, int64_t now, bool binary, bool *close)
{
	double rate = S.cfg->rate_limit, burst = S.cfg->rate_burst;
	c->tokens += (double)(now - c->refill_ns) / 1e9 * rate;
	if (c->tokens > burst)
		c->tokens = burst;
	c->refill_ns = now;
	if (c->tokens >= 1) {
		c->tokens -= 1;
		return true;
	}
	st__metrics_count(ST__C_RATE_LIMITED);
	if (now - c->strike_start_ns > ABUSE_WINDOW_NS) {
		c->strike_start_ns = now;
		c->strikes = 0;
	}
	int max_strikes = burst < 10 ? 10 : (int)burst;
	if (++c->strikes > max_strikes) {
		*close = true;
		return false;
	}
	long retry = (long)((1 - c->tokens) / rate * 1000) + 1;
	st__msg *m = st__router_error_msg(binary, ST_E_RATE_LIMITED,
					  "too many messages; slow down", retry);
	if (m) {
		conn_enqueue(c, m);
		st__msg_unref(m);
	}
	return false;
}

/* RFC 6455: a text message must be valid UTF-8, else the connection is
 * closed with 1007. Checked here on the whole message, 8 ASCII bytes at a
 * time, instead of by lws (LWS_SERVER_OPTION_VALIDATE_UTF8), whose frame
 * parser checks byte by byte: about 900 instructions for a small request,
 * a tenth of what streamerd spends on one. */
static bool utf8_valid(const char *s, size_t n)
{
	size_t i = 0, ncp;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
	}
	while (i < n && !((unsigned char)s[i] & 0x80))
		i++;
	return i == n || st_utf8_check(s + i, n - i, &ncp) == 0;
}

static int on_receive(struct lws *wsi, conn *c, const void *in, size_t len)
{
	if (c->rx_len + len > S.cfg->max_frame) {
		st__logctx lc = { c->id, NULL, NULL };
		st__log(ST__LOG_INFO, &lc, "frame too large: closing 1009",
			"max=%zu", S.cfg->max_frame);
		st__metrics_count(ST__C_FRAME_TOO_LARGE);
		static const char why[] = "message too large";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)why, sizeof why - 1);
		return -1;
	}
	bool final = lws_is_final_fragment(wsi);
	const char *msg = in;
	size_t mlen = len;
	if (!final || c->rx_len) {
		size_t need = c->rx_len + len + 1;
		if (need > c->rx_cap) {
			size_t cap = c->rx_cap ? c->rx_cap : 4096;
			while (cap < need)
				cap *= 2;
			char *p = realloc(c->rx, cap);
			if (!p)
				return -1;
			c->rx = p;
			c->rx_cap = cap;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!final)
			return 0;
		msg = c->rx;
		mlen = c->rx_len;
	}
	bool binary = lws_frame_is_binary(wsi);
	if (!binary && !utf8_valid(msg, mlen)) {
		st__logctx lc = { c->id, NULL, NULL };
		st__log(ST__LOG_INFO, &lc, "invalid UTF-8 in a text message: closing 1007", NULL);
		c->rx_len = 0;
		static const char why[] = "invalid UTF-8";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
				 (unsigned char *)why, sizeof why - 1);
		return -1;
	}
	bool close = false;
	int64_t now = mono_ns(); /* one clock read: the bucket and the latency */
	atomic_store_explicit(&S.in_pass, true, memory_order_relaxed);
	if (rate_ok(c, now, binary, &close)) {
		/* `mixed` first: a poster that reads the new format also
		 * reads mixed (st__gateway_post), so it copies every string. */
		if (c->spoke && atomic_load(&c->binary_mode) != binary)
			atomic_store(&c->mixed, true);
		atomic_store(&c->binary_mode, binary);
		c->spoke = true;
		st__router_conn rc = { c->id, &c->claims, now };
		st__router_dispatch(&rc, msg, mlen, binary);
	}
	c->rx_len = 0;
	if (c->rx_cap > RX_KEEP) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	if (close) {
		st__logctx lc = { c->id, NULL, NULL };
		st__log(ST__LOG_WARN, &lc, "sustained abuse: closing 1008", NULL);
		st__metrics_count(ST__C_ABUSE_CLOSED);
		static const char why[] = "rate limit exceeded";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)why, sizeof why - 1);
		return -1;
	}
	return 0;
}

static int on_writable(struct lws *wsi, conn *c)
{
	if (c->dead)
		return -1;
	if (!c->oq_n) {
		if (c->close_code) {
			lws_close_reason(wsi, (enum lws_close_status)c->close_code,
					 (unsigned char *)c->close_reason,
					 strlen(c->close_reason));
			return -1;
		}
		return 0;
	}
	st__msg *m = c->oq[c->oq_first];
	if (!conn_write(c, m))
		return -1;
	c->oq_first = c->oq_first + 1 == c->oq_cap ? 0 : c->oq_first + 1;
	c->oq_bytes -= m->len;
	c->oq_n--;
	st__msg_unref(m);
	if (c->oq_n || c->close_code)
		lws_callback_on_writable(wsi);
	return 0;
}

/* --- stopping ---------------------------------------------------------------- */

static void drain_check(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	int64_t now = mono_ns();
	bool quiet = st__pool_busy(S.pool) == 0;
	pthread_mutex_lock(&S.obox_mu);
	quiet = quiet && S.ob.n == 0;
	pthread_mutex_unlock(&S.obox_mu);
	for (conn *c = S.all; quiet && c; c = c->next)
		if (c->oq_n)
			quiet = false;
	if (!S.closing && (quiet || now > S.drain_deadline_ns)) {
		S.closing = true;
		S.drain_deadline_ns = now + 2000000000LL; /* for the closes */
		pthread_mutex_lock(&S.conn_mu);
		for (conn *c = S.all; c; c = c->next) {
			c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
			c->close_reason = "server shutting down";
			lws_callback_on_writable(c->wsi);
		}
		pthread_mutex_unlock(&S.conn_mu);
	}
	if (S.closing && (S.all == NULL || now > S.drain_deadline_ns)) {
		S.done = true;
		lws_cancel_service(S.ctx);
		return;
	}
	lws_sul_schedule(S.ctx, 0, &S.drain_sul, drain_check, 50 * LWS_US_PER_MS);
}

static void drain_start(void)
{
	if (S.draining)
		return;
	S.draining = true;
	st__log_info("draining", "connections=%zu", S.n_conns);
	S.drain_deadline_ns = mono_ns() + (int64_t)S.cfg->drain_ms * 1000000;
	drain_check(&S.drain_sul);
}

void st__server_stop(void)
{
	atomic_store(&S.stop_asked, true);
	pthread_mutex_lock(&S.obox_mu);
	if (S.accepting && S.ctx)
		lws_cancel_service(S.ctx);
	pthread_mutex_unlock(&S.obox_mu);
}

/* --- callbacks ---------------------------------------------------------------- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	ws_pss *pss = user;
	conn *c = pss ? pss->c : NULL;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return handshake(wsi, pss) < 0 ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (!c)
			return -1;
		c->established = true;
		conn_link(c);
		st__metrics_conn(1);
		st__metrics_count(ST__C_CONNECTIONS);
		st__presence_conn_add(S.presence, c->id, c->claims.sub, c->claims.tenant_id);
		{
			st__logctx lc = { c->id, NULL, NULL };
			st__log(ST__LOG_DEBUG, &lc, "connected", "user=%s tenant=%s",
				c->claims.sub, c->claims.tenant_id);
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!c)
			return -1;
		if (on_receive(wsi, c, in, len) < 0) {
			conn_kill(c); /* lws closes it */
			return -1;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c)
			return -1;
		if (on_writable(wsi, c) < 0) {
			conn_kill(c);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		/* lws answers the client's close, or closes on a protocol
		 * error of its own finding (1002): nothing after that frame. */
		if (c)
			conn_kill(c);
		return 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		/* CLOSED fires for refused handshakes too: pss->c is NULL. */
		if (!c)
			return 0;
		pss->c = NULL;
		if (c->established) {
			conn_unlink(c);
			st__metrics_conn(-1);
			st__presence_conn_remove(S.presence, c->id);
			st__logctx lc = { c->id, NULL, NULL };
			st__log(ST__LOG_DEBUG, &lc, "disconnected", NULL);
		}
		conn_free(c);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		outbox_drain();
		if (atomic_load(&S.stop_asked) && !S.draining)
			drain_start();
		return 0;
	default:
		return 0;
	}
}

static int http_reply(struct lws *wsi, http_pss *hp, unsigned status,
		      const char *ctype, char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
		*end = hdr + sizeof hdr - 1;
	hp->body = body;
	hp->len = len;
	if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static char *dup_body(const char *s, size_t *len)
{
	*len = strlen(s);
	char *b = malloc(LWS_PRE + *len + 1);
	if (b)
		memcpy(b + LWS_PRE, s, *len + 1);
	return b;
}

static const char *mime_of(const char *path)
{
	static const struct { const char *ext, *mime; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".wasm", "application/wasm" },
		{ ".map", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].mime;
	return "application/octet-stream";
}

/* A file of the demo page: 1 when there is none (the caller answers 404),
 * else what the callback returns. Paths with ".." or hidden files are
 * never served. */
static int serve_static(struct lws *wsi, const char *uri)
{
	char path[1024];
	if (!strcmp(uri, "/"))
		uri = "/index.html";
	if (uri[0] != '/' || strstr(uri, "..") || strstr(uri, "/."))
		return 1;
	int n = snprintf(path, sizeof path, "%s%s", S.cfg->static_dir, uri);
	struct stat st;
	if (n <= 0 || (size_t)n >= sizeof path || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 1;
	int r = lws_serve_http_file(wsi, path, mime_of(path), NULL, 0);
	if (r < 0 || (r > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	http_pss *hp = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		char uri[256];
		if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
			snprintf(uri, sizeof uri, "%.*s", (int)(len < 255 ? len : 255),
				 in ? (const char *)in : "");
		char *q = strchr(uri, '?');
		if (q)
			*q = '\0';
		size_t n;
		char *body;
		if (!strcmp(uri, "/healthz")) {
			bool ok = st__presence_healthy(S.presence) && !S.draining;
			body = dup_body(ok ? "ok\n" : "unavailable\n", &n);
			if (!body)
				return -1;
			return http_reply(wsi, hp, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
					  "text/plain", body, n);
		}
		if (!strcmp(uri, "/metrics")) {
			st_buf b;
			st_buf_init(&b, 16u * 1024 * 1024);
			st_buf_append(&b, "", 0);
			for (int i = 0; i < LWS_PRE; i++)
				st_buf_lit(&b, " ");
			st__metrics_render(&b);
			if (b.failed || !b.data) {
				st_buf_fini(&b);
				return -1;
			}
			return http_reply(wsi, hp, HTTP_STATUS_OK,
					  "text/plain; version=0.0.4; charset=utf-8",
					  b.data, b.len - LWS_PRE);
		}
		if (S.cfg->static_dir) {
			int r = serve_static(wsi, uri);
			if (r != 1)
				return r;
		}
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!hp || !hp->body)
			return 0;
		if (lws_write(wsi, (unsigned char *)hp->body + LWS_PRE, hp->len,
			      LWS_WRITE_HTTP_FINAL) < (int)hp->len)
			return -1;
		free(hp->body);
		hp->body = NULL;
		if (lws_http_transaction_completed(wsi))
			return -1;
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (hp) {
			free(hp->body);
			hp->body = NULL;
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* ws_callback sees it too; once is enough. */
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", http_callback, sizeof(http_pss), 0, 0, NULL, 0 },
	{ "streamer", ws_callback, sizeof(ws_pss), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Clients that name no subprotocol get "streamer". */
static const struct lws_protocol_vhost_options pvo_default = {
	NULL, NULL, "default", "1"
};
static const struct lws_protocol_vhost_options pvo = {
	NULL, &pvo_default, "streamer", ""
};

static void lws_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	char buf[512];
	snprintf(buf, sizeof buf, "%.*s", (int)(n < 511 ? n : 511), line);
	st__log(level == LLL_ERR ? ST__LOG_ERROR : ST__LOG_WARN, NULL, "libwebsockets",
		"detail=%s", buf);
}

/* A timer that does nothing when due: the kick's only ends a loop pass,
 * for st__server_run to kick the pool; the anchor's is never due. */
static void sul_nothing(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

/* Wakes the loop for lws's next timer; lws_chores runs it. */
static void sul_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/*
 * What lws's libev glue leaves to an idle watcher, done after every pass:
 * serving input lws has already read but not parsed (a frame that came in
 * the same read as the upgrade request, the rest of a read that held
 * several frames) and running due timers (lws_sul: lws's own timeouts and
 * ours). libev runs an idle watcher only in a pass where nothing else was
 * ready, which under load never comes: in a first try without these
 * chores (52cff3d), first frames waited seconds and a drain never ended.
 * Returns whether lws still holds input, so that the next pass must not
 * block.
 */
static bool lws_chores(void)
{
	bool more = false;
	if (!lws_service_adjust_timeout(S.ctx, 1, 0))
		more = _lws_plat_service_forced_tsi(S.ctx, 0) != 0;
	lws_usec_t next = __lws_sul_service_ripe(S.anchor.list.owner,
						 LWS_COUNT_PT_SUL_OWNERS, lws_now_usecs());
	if (next > 0) {
		S.sul_timer.repeat = (ev_tstamp)next / 1e6;
		ev_timer_again(S.loop, &S.sul_timer);
	}
	return more;
}

int st__server_create(const st__config *cfg, const st__auth *auth,
		      st__presence *presence, st__pool *pool, char *err,
		      size_t errlen)
{
	memset(&S, 0, sizeof S);
	S.cfg = cfg;
	S.auth = auth;
	S.presence = presence;
	S.pool = pool;
	S.takeover_fd = -1;
	/* Adaptive: held for a few stores, so contention spins briefly
	 * rather than sleeping in the kernel. */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&S.conn_mu, &ma);
	pthread_mutex_init(&S.obox_mu, &ma);
	pthread_mutexattr_destroy(&ma);
	lws_set_log_level(LLL_ERR, lws_emit);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = cfg->listen_port;
	info.iface = cfg->listen_host;
	info.protocols = protocols;
	info.pvo = &pvo;
	info.max_http_header_data = 16384;
	/* Not LWS_SERVER_OPTION_VALIDATE_UTF8: see utf8_valid. */
	info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.vhost_name = "streamer";
	info.timeout_secs = 30;
	/* epoll (libev) rather than lws's own poll(), which scans every
	 * connection on each pass: at a few requests per pass, over
	 * hundreds of connections, that costs more than the requests. The
	 * loop is ours, run a pass at a time by st__server_run. */
	S.loop = ev_loop_new(EVBACKEND_EPOLL);
	if (!S.loop) {
		snprintf(err, errlen, "cannot create the event loop (libev, epoll)");
		return -1;
	}
	void *loops[1] = { S.loop };
	info.options |= LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	S.ctx = lws_create_context(&info);
	if (!S.ctx) {
		snprintf(err, errlen, "cannot listen on %s:%d", cfg->listen_host,
			 cfg->listen_port);
		ev_loop_destroy(S.loop);
		S.loop = NULL;
		return -1;
	}
	ev_init(&S.sul_timer, sul_timer_cb);
	/* A timer that never comes due, scheduled only for its list
	 * pointer: lws keeps a thread's timers in an array of
	 * LWS_COUNT_PT_SUL_OWNERS lists, and a timer without a wake-up flag
	 * goes on the first. */
	lws_sul_schedule(S.ctx, 0, &S.anchor, sul_nothing, ANCHOR_US);
	S.vh = lws_get_vhost_by_name(S.ctx, "streamer");
	S.port = S.vh ? lws_get_vhost_listen_port(S.vh) : cfg->listen_port;
	if (S.port <= 0) {
		snprintf(err, errlen, "cannot listen on %s:%d", cfg->listen_host,
			 cfg->listen_port);
		lws_sul_cancel(&S.anchor);
		lws_context_destroy(S.ctx);
		S.ctx = NULL;
		ev_loop_destroy(S.loop);
		S.loop = NULL;
		return -1;
	}
	pthread_mutex_lock(&S.obox_mu);
	S.accepting = true;
	pthread_mutex_unlock(&S.obox_mu);
	st__log_info("listening", "host=%s port=%d", cfg->listen_host, S.port);
	return 0;
}

int st__server_port(void)
{
	return S.port;
}

/*
 * The loop's own jobs. A sync job handed to a worker costs two wake-ups
 * (the worker's, then the loop's sleep while it works), several
 * microseconds each: at moderate rates most of what a request costs
 * (bench/results.md). So the thread that runs the loop runs the quick jobs
 * its pass queued (actions declared at most 10 ms: router.c) itself, after
 * the pass, while a second thread stands by to take the loop over should
 * one of them be slow. For the turn, the loop is marked free (loop_free
 * holds when the turn began): if the standby's alarm (a timerfd) rings
 * TAKEOVER_NS after that and the turn is still on, the standby takes the
 * loop (an exchange of that very turn's value for 0) and serves
 * the connections while the late job finishes on the other thread, which
 * then stands by in turn. A job declared quick that is not holds the loop
 * up for TAKEOVER_NS at most; jobs declared slower go to the workers and
 * never hold it up. Otherwise the turn ends with the same exchange from
 * this side, after TAKEOVER_NS / 2 at most (what is left waits for the
 * next turn, after a pass that does not block).
 *
 * The alarm is set lazily: a turn sets it only if it is not set already,
 * and the standby, woken, sets it again for the turn then running, if any
 * (it compares loop_free). Setting a timer due within the next scheduler tick
 * costs about 7 us here (the host's timer is reprogrammed); so instead of
 * two timerfd calls per turn, the loop pays about one call and one wake-up
 * of the standby per TAKEOVER_NS of activity.
 *
 * While the loop is free no thread may touch lws or a connection, so the
 * jobs' answers go through the outbox (on_loop is false), with in_pass
 * set: whoever holds the loop next drains it, without a wake-up. While the
 * standby is not ready (it runs a late job), every job goes to the workers
 * as before.
 */

static void alarm_ring_in(int64_t ns)
{
	struct itimerspec it = { .it_value = { ns / 1000000000, ns % 1000000000 } };
	if (timerfd_settime(S.takeover_fd, 0, &it, NULL) < 0) {
		st__log_warn("the loop's standby alarm failed", "error=%s",
			     strerror(errno));
		atomic_store(&S.alarm_set, false); /* the next turn tries again */
	}
}

/* Runs the jobs the pass queued, for TAKEOVER_NS / 2 at most: -1 when
 * the standby took the loop meanwhile (this thread is then the standby),
 * 1 when jobs are left for the next turn, else 0. */
static int run_inline(void)
{
	if (!S.pool || !st__pool_queued(S.pool) ||
	    !atomic_load_explicit(&S.standby_ready, memory_order_acquire))
		return 0;
	st__pool_release(S.pool);
	atomic_store(&S.in_pass, true);
	on_loop = false;
	int64_t t = mono_ns(), turn = t | 1;
	atomic_store(&S.loop_free, turn);
	/* An alarm already set rings early for this turn: the standby then
	 * sets it again (stand_by). The exchange pairs with its store. */
	if (!atomic_exchange(&S.alarm_set, true))
		alarm_ring_in(TAKEOVER_NS);
	int64_t until = t + TAKEOVER_NS / 2;
	int n = 0;
	bool cut = false; /* time is up: the rest wait for the next turn */
	while (st__pool_run_one(S.pool)) {
		n++;
		if (atomic_load_explicit(&S.loop_free, memory_order_relaxed) != turn)
			break;
		/* The clock, every 8 jobs: a read costs as much as a
		 * tenth of an echo, and the alarm bounds the rest. */
		if (n % 8 == 0 && mono_ns() >= until) {
			cut = true;
			break;
		}
	}
	if (n && st__log_enabled(ST__LOG_DEBUG))
		st__log(ST__LOG_DEBUG, NULL, "jobs run on the loop's thread", "jobs=%d", n);
	if (!atomic_compare_exchange_strong(&S.loop_free, &turn, 0))
		return -1;
	on_loop = true;
	st__pool_hold(S.pool, true);
	return cut && st__pool_queued(S.pool);
}

/* Runs the loop until it ends (true) or the standby takes it (false). */
static bool lead(void)
{
	on_loop = true;
	if (S.pool)
		st__pool_hold(S.pool, true);
	/* What the previous holder left: the outbox, input lws holds. */
	bool more = true;
	while (!S.done) {
		ev_run(S.loop, more ? EVRUN_NOWAIT : EVRUN_ONCE);
		int left = run_inline();
		if (left < 0)
			return false;
		/* The jobs' answers and what other threads posted during
		 * the pass: written now, without a wake-up of their own. */
		outbox_drain();
		/* Jobs for the workers (when there was no standby): come
		 * back soon even if nothing happens, for the pool to see
		 * whether a slow job holds them up. */
		if (S.pool && st__pool_kick(S.pool))
			lws_sul_schedule(S.ctx, 0, &S.kick_sul, sul_nothing,
					 ST__POOL_STALL_NS / 1000);
		/* Jobs left: the next pass must not block either. */
		more = lws_chores() || left;
	}
	if (S.pool)
		st__pool_hold(S.pool, false);
	on_loop = false;
	return true;
}

/* Waits for the alarm; true when this thread took the loop, false when
 * the loop has ended. */
static bool stand_by(void)
{
	atomic_store_explicit(&S.standby_ready, true, memory_order_release);
	while (!atomic_load(&S.loop_ended)) {
		uint64_t rings;
		if (read(S.takeover_fd, &rings, sizeof rings) < 0 && errno != EINTR) {
			st__log_error("the loop's standby cannot wait", "error=%s",
				      strerror(errno));
			break;
		}
		if (atomic_load(&S.loop_ended))
			break;
		/* Before reading the state: run_inline either sees this and
		 * sets the alarm, or made the loop free before it, seen here. */
		atomic_store(&S.alarm_set, false);
		int64_t turn = atomic_load(&S.loop_free);
		if (!turn)
			continue; /* the loop's turn ended in time */
		int64_t due = turn + TAKEOVER_NS, now = mono_ns();
		if (now < due) { /* a later turn than the alarm's */
			if (!atomic_exchange(&S.alarm_set, true))
				alarm_ring_in(due - now);
			continue;
		}
		/* Not ready from before the exchange: the late thread, once
		 * it sees the loop taken, stands by and says it is. The
		 * exchange takes that turn only, not one begun since. */
		atomic_store(&S.standby_ready, false);
		if (atomic_compare_exchange_strong(&S.loop_free, &turn, 0)) {
			st__metrics_count(ST__C_LOOP_TAKEOVERS);
			st__log(ST__LOG_DEBUG, NULL, "a turn ran late (a slow job, or its thread "
				"preempted): the standby took the loop", NULL);
			return true;
		}
		atomic_store(&S.standby_ready, true);
	}
	atomic_store(&S.standby_ready, false);
	return false;
}

/* Either thread: leads or stands by, in turns, until the loop ends. */
static void *loop_role(void *lead_first)
{
	bool leading = lead_first != NULL;
	if (!leading)
		pthread_setname_np(pthread_self(), "st-loop"); /* top -H, perf */
	for (;;) {
		if (!leading && !stand_by())
			break;
		if (lead()) {
			atomic_store(&S.loop_ended, true);
			if (S.standby_started)
				alarm_ring_in(1); /* wakes the other */
			break;
		}
		leading = false;
	}
	if (S.pool)
		st__pool_thread_end();
	return NULL;
}

int st__server_run(void)
{
	atomic_store(&S.loop_free, 0);
	S.takeover_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int rc = S.takeover_fd < 0 ? errno
		 : pthread_create(&S.standby, NULL, loop_role, NULL);
	if (rc)
		/* Without a standby the loop runs no job itself: the same
		 * service, from the workers. */
		st__log_warn("no standby thread for the loop: every job goes to the workers",
			     "error=%s", strerror(rc));
	else
		S.standby_started = true;
	loop_role((void *)1);
	if (S.standby_started) {
		pthread_join(S.standby, NULL);
		S.standby_started = false;
	}
	if (S.takeover_fd >= 0)
		close(S.takeover_fd);
	S.takeover_fd = -1;
	/* Whichever thread ran the loop last, this one owns it now. */
	on_loop = false;
	return 0;
}

void st__server_destroy(void)
{
	pthread_mutex_lock(&S.obox_mu);
	S.accepting = false;
	pthread_mutex_unlock(&S.obox_mu);
	if (S.ctx) {
		lws_sul_cancel(&S.drain_sul);
		lws_sul_cancel(&S.kick_sul);
		lws_sul_cancel(&S.anchor);
		lws_context_destroy(S.ctx);
		S.ctx = NULL;
	}
	if (S.loop) {
		ev_timer_stop(S.loop, &S.sul_timer);
		ev_loop_destroy(S.loop);
		S.loop = NULL;
	}
	/* Frees what raced with the end; later posts are refused (the
	 * mutexes stay valid for them). */
	outbox_drain();
	free(S.ob_spare.v);
	S.ob_spare = (obox){ NULL, 0, 0 };
	pthread_mutex_lock(&S.obox_mu);
	free(S.ob.v);
	S.ob = (obox){ NULL, 0, 0 };
	pthread_mutex_unlock(&S.obox_mu);
}
