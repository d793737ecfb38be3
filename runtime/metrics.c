/* metrics.c: lock-free counters (relaxed atomics) and fixed-bucket
 * histograms, rendered as Prometheus text. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "req.h"

typedef _Atomic unsigned long long counter;

static const double buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct histo {
	counter b[N_BUCKETS + 1]; /* last: +Inf */
	counter sum_ns;
	counter count;
} histo;

static const char *const builtin_codes[] = {
#define ST__BC(name, r, m) #name,
	ST_BUILTIN_ERRORS(ST__BC)
#undef ST__BC
};
#define N_BUILTIN (sizeof builtin_codes / sizeof builtin_codes[0])

static struct {
	const st_registry *reg;
	size_t n_act;     /* actions + 1 ("_unknown") */
	size_t n_status;  /* "ok" + built-ins + service codes */
	counter *requests; /* [n_act][n_status] */
	histo *handler, *e2e; /* [n_act] */
	counter in[ST__MT_N], out[ST__MT_N];
	counter ev[ST__C_N];
	counter rejected[ST__AUTH_N];
	_Atomic long open, queue_depth;
} m;

const char *st__msg_type_label(st__msg_type t)
{
	static const char *const l[] = {
#define ST__MT_LABEL(name, label) label,
		ST__MSG_TYPES(ST__MT_LABEL)
#undef ST__MT_LABEL
	};
	return t < ST__MT_N ? l[t] : "?";
}

int st__metrics_init(const st_registry *reg)
{
	m.reg = reg;
	m.n_act = reg->n_actions + 1;
	m.n_status = 1 + N_BUILTIN + reg->n_errors;
	m.requests = calloc(m.n_act * m.n_status, sizeof *m.requests);
	m.handler = calloc(m.n_act, sizeof *m.handler);
	m.e2e = calloc(m.n_act, sizeof *m.e2e);
	if (!m.requests || !m.handler || !m.e2e) {
		st__metrics_fini();
		return -1;
	}
	return 0;
}

void st__metrics_fini(void)
{
	free(m.requests);
	free(m.handler);
	free(m.e2e);
	m.requests = NULL;
	m.handler = m.e2e = NULL;
}

static size_t act_index(const st_action *act)
{
	if (!act || !m.reg || act < m.reg->actions ||
	    act >= m.reg->actions + m.reg->n_actions)
		return m.n_act - 1;
	return (size_t)(act - m.reg->actions);
}

static size_t status_index(const char *code)
{
	if (!code)
		return 0;
	for (size_t i = 0; i < N_BUILTIN; i++)
		if (!strcmp(builtin_codes[i], code))
			return 1 + i;
	for (size_t i = 0; m.reg && i < m.reg->n_errors; i++)
		if (!strcmp(m.reg->errors[i].code, code))
			return 1 + N_BUILTIN + i;
	return status_index(ST_E_INTERNAL_ERROR);
}

static const char *status_label(size_t i)
{
	if (i == 0)
		return "ok";
	if (i <= N_BUILTIN)
		return builtin_codes[i - 1];
	return m.reg->errors[i - 1 - N_BUILTIN].code;
}

#define INC(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)
#define GET(c) atomic_load_explicit(&(c), memory_order_relaxed)

void st__metrics_conn(int delta)
{
	atomic_fetch_add_explicit(&m.open, delta, memory_order_relaxed);
}
void st__metrics_in(st__msg_type t) { INC(m.in[t]); }
void st__metrics_out(st__msg_type t) { INC(m.out[t]); }
void st__metrics_count(st__event_counter c) { INC(m.ev[c]); }
void st__metrics_rejected(st__auth_reason r)
{
	if (r < ST__AUTH_N)
		INC(m.rejected[r]);
}
void st__metrics_queue_depth(long n)
{
	atomic_store_explicit(&m.queue_depth, n, memory_order_relaxed);
}

void st__metrics_request(const st_action *act, const char *code)
{
	if (m.requests)
		INC(m.requests[act_index(act) * m.n_status + status_index(code)]);
}

static void observe(histo *h, double s)
{
	size_t i = 0;
	while (i < N_BUCKETS && s > buckets[i])
		i++;
	INC(h->b[i]);
	INC(h->count);
	atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(s * 1e9),
				  memory_order_relaxed);
}

void st__metrics_handler_seconds(const st_action *act, double s)
{
	if (m.handler)
		observe(&m.handler[act_index(act)], s);
}

void st__metrics_e2e_seconds(const st_action *act, double s)
{
	if (m.e2e)
		observe(&m.e2e[act_index(act)], s);
}

static const char *act_label(size_t i)
{
	return i < m.n_act - 1 ? m.reg->actions[i].name : "_unknown";
}

static void render_histo(st_buf *b, const char *name, const char *help, histo *hs)
{
	st_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t a = 0; a < m.n_act; a++) {
		histo *h = &hs[a];
		unsigned long long count = GET(h->count);
		if (!count)
			continue;
		unsigned long long cum = 0;
		for (size_t i = 0; i <= N_BUCKETS; i++) {
			cum += GET(h->b[i]);
			if (i < N_BUCKETS)
				st_buf_printf(b, "%s_bucket{action=\"%s\",le=\"%g\"} %llu\n",
					      name, act_label(a), buckets[i], cum);
			else
				st_buf_printf(b, "%s_bucket{action=\"%s\",le=\"+Inf\"} %llu\n",
					      name, act_label(a), cum);
		}
		st_buf_printf(b, "%s_sum{action=\"%s\"} %.9f\n", name, act_label(a),
			      (double)GET(h->sum_ns) / 1e9);
		st_buf_printf(b, "%s_count{action=\"%s\"} %llu\n", name, act_label(a), count);
	}
}

void st__metrics_render(st_buf *b)
{
	st_buf_printf(b, "# HELP streamer_connections_open Open WebSocket connections.\n"
		      "# TYPE streamer_connections_open gauge\n"
		      "streamer_connections_open %ld\n",
		      atomic_load_explicit(&m.open, memory_order_relaxed));
	static const struct { const char *name, *help; } evs[ST__C_N] = {
		{ "streamer_connections_accepted_total", "Connections authenticated and upgraded." },
		{ "streamer_rate_limited_total", "Messages refused by the rate limit." },
		{ "streamer_abuse_closed_total", "Connections closed (1008) for sustained abuse." },
		{ "streamer_frames_too_large_total", "Connections closed (1009) for a frame over the limit." },
		{ "streamer_slow_readers_dropped_total", "Connections dropped because their outbound queue was full." },
		{ "streamer_pool_full_total", "Requests refused because the handler pool was full." },
		{ "streamer_loop_takeovers_total", "Times a turn of jobs on the event loop's thread ran 2 ms late (a slow job, or the thread preempted) and the standby thread took the loop over." },
	};
	for (int i = 0; i < ST__C_N; i++)
		st_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", evs[i].name,
			      evs[i].help, evs[i].name, evs[i].name, GET(m.ev[i]));

	st_buf_lit(b, "# HELP streamer_messages_in_total Messages received, by type.\n"
		   "# TYPE streamer_messages_in_total counter\n");
	for (int t = 0; t < ST__MT_N; t++)
		if (GET(m.in[t]))
			st_buf_printf(b, "streamer_messages_in_total{type=\"%s\"} %llu\n",
				      st__msg_type_label(t), GET(m.in[t]));
	st_buf_lit(b, "# HELP streamer_messages_out_total Messages sent, by type.\n"
		   "# TYPE streamer_messages_out_total counter\n");
	for (int t = 0; t < ST__MT_N; t++)
		if (GET(m.out[t]))
			st_buf_printf(b, "streamer_messages_out_total{type=\"%s\"} %llu\n",
				      st__msg_type_label(t), GET(m.out[t]));

	st_buf_lit(b, "# HELP streamer_requests_total Requests by action and final status.\n"
		   "# TYPE streamer_requests_total counter\n");
	for (size_t a = 0; m.requests && a < m.n_act; a++)
		for (size_t s = 0; s < m.n_status; s++) {
			unsigned long long v = GET(m.requests[a * m.n_status + s]);
			if (v)
				st_buf_printf(b, "streamer_requests_total{action=\"%s\",status=\"%s\"} %llu\n",
					      act_label(a), status_label(s), v);
		}

	st_buf_lit(b, "# HELP streamer_handshakes_rejected_total Refused upgrades (HTTP 401/503), by reason.\n"
		   "# TYPE streamer_handshakes_rejected_total counter\n");
	for (int r = 1; r < ST__AUTH_N; r++)
		st_buf_printf(b, "streamer_handshakes_rejected_total{reason=\"%s\"} %llu\n",
			      st__auth_reason_label(r), GET(m.rejected[r]));

	st_buf_printf(b, "# HELP streamer_queue_depth Async requests waiting.\n"
		      "# TYPE streamer_queue_depth gauge\n"
		      "streamer_queue_depth %ld\n",
		      atomic_load_explicit(&m.queue_depth, memory_order_relaxed));
	if (m.handler)
		render_histo(b, "streamer_handler_duration_seconds",
			     "Time spent in handlers.", m.handler);
	if (m.e2e)
		render_histo(b, "streamer_request_duration_seconds",
			     "From the request frame to its answer being queued.", m.e2e);
}
