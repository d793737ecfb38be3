/* cmd.c: `streamer-cli request|status|list|cancel`. Each opens one
 * connection (conn.c), sends one message, prints every message about it on
 * stdout as one JSON line, shows progress on stderr for humans, and turns
 * the final message into the exit status (cmd.h). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "conn.h"

#define DEFAULT_URL "ws://127.0.0.1:8080/"
#define CONNECT_TIMEOUT_MS 30000
#define ANSWER_TIMEOUT_MS 30000      /* status, list, cancel */
#define PAYLOAD_MAX (CLI_MSG_MAX - 4096) /* room for the envelope */
#define RID_MAX 128                  /* a request_id we keep (UUIDs: 36) */

typedef enum cmd_kind { CMD_REQUEST, CMD_STATUS, CMD_LIST, CMD_CANCEL } cmd_kind;

/* The state of one command while its messages arrive. */
typedef struct watch {
	cmd_kind kind;
	bool follow;             /* wait for the request's final message */
	bool human;              /* progress lines on stderr */
	bool resumed;            /* we sent a status to resume the request */
	char rid[RID_MAX + 1];   /* the server's request_id, once known */
	int rc;                  /* the exit status, once decided */
} watch;

void cli_cmd_usage(FILE *out)
{
	fprintf(out,
		"usage: streamer-cli request [OPTIONS] [--id ID] ACTION [PAYLOAD_JSON | - | @FILE]\n"
		"       streamer-cli status  [OPTIONS] REQUEST_ID [--follow]\n"
		"       streamer-cli list    [OPTIONS]\n"
		"       streamer-cli cancel  [OPTIONS] REQUEST_ID\n"
		"  Every message the server sends about the request is printed on stdout\n"
		"  as one JSON line; progress goes to stderr when it is a terminal.\n"
		"  PAYLOAD_JSON defaults to {}; - reads it from stdin, @FILE from a file.\n"
		"  status --follow resumes the request: its remaining progress, its result.\n"
		"options:\n"
		"  --url URL             ws:// or wss:// (default $STREAMER_URL, else %s)\n"
		"  --token JWT           (default $STREAMER_TOKEN)\n"
		"  --header              send the token as an Authorization header, not in the URL\n"
		"  --timeout SECONDS     wait at most this long for the final message (default:\n"
		"                        none for request and status --follow, else %d)\n"
		"  --connect-timeout S   (default %d)\n"
		"  --insecure            wss: accept self-signed certificates\n"
		"  --progress, --no-progress\n"
		"                        progress on stderr even when it is not a terminal, or never\n"
		"  -v, --verbose         libwebsockets' logs\n"
		"exit status: 0 success, 1 the request failed (or --timeout passed), 2 usage,\n"
		"  3 connection failed (token refused, server unreachable, connection lost),\n"
		"  130 interrupted.\n",
		DEFAULT_URL, ANSWER_TIMEOUT_MS / 1000, CONNECT_TIMEOUT_MS / 1000);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "streamer-cli: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(streamer-cli --help for usage)\n");
	return CLI_EXIT_USAGE;
}

/* "1.5" seconds as milliseconds in *ms; -1 unless 0 < s <= 24 days. */
static int parse_seconds(const char *s, int *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 2e6)
		return -1;
	*ms = (int)ceil(v * 1000);
	return 0;
}

/* The text of PAYLOAD_JSON, - (stdin) or @FILE, at most PAYLOAD_MAX bytes,
 * malloc'd and NUL-terminated; NULL (with a message) on failure. */
static char *payload_read(const char *arg, size_t *len)
{
	if (strcmp(arg, "-") && arg[0] != '@') {
		*len = strlen(arg);
		return *len <= PAYLOAD_MAX ? strdup(arg) : NULL;
	}
	FILE *f = strcmp(arg, "-") ? fopen(arg + 1, "rb") : stdin;
	if (!f) {
		fprintf(stderr, "streamer-cli: cannot read %s: %s\n", arg + 1, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 == cap) {
			char *p = cap <= PAYLOAD_MAX ? realloc(buf, cap * 2) : NULL;
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - 1 - n, f);
		n += got;
		if (got == 0)
			break;
	}
	bool bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!buf || bad || n > PAYLOAD_MAX) {
		fprintf(stderr, "streamer-cli: the payload is unreadable or over %u bytes\n",
			PAYLOAD_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* `s` as a JSON string literal (malloc'd), or NULL when it is not UTF-8. */
static char *json_quote(const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(j);
	return q;
}

/* The message to send, malloc'd; NULL (with a message) on bad input. The
 * payload is checked with jansson, then sent as the user wrote it. */
static char *envelope_make(cmd_kind kind, const char *action, const char *id,
			   const char *payload_arg, const char *rid)
{
	char *qa = NULL, *qi = NULL, *qr = NULL, *payload = NULL, *out = NULL;
	size_t plen = 0;
	if (kind == CMD_LIST)
		return strdup("{\"type\":\"list\"}");
	if (kind != CMD_REQUEST) {
		if (!(qr = json_quote(rid))) {
			usage_error("REQUEST_ID is not UTF-8", "");
			return NULL;
		}
		size_t n = strlen(qr) + 48;
		if ((out = malloc(n)))
			snprintf(out, n, "{\"type\":\"%s\",\"request_id\":%s}",
				 kind == CMD_STATUS ? "status" : "cancel", qr);
		free(qr);
		return out;
	}
	if (!(qa = json_quote(action)) || (id && !(qi = json_quote(id)))) {
		usage_error("ACTION and --id must be UTF-8", "");
		goto done;
	}
	payload = payload_read(payload_arg ? payload_arg : "{}", &plen);
	if (!payload)
		goto done;
	json_error_t e;
	json_t *j = json_loadb(payload, plen, JSON_DECODE_ANY, &e);
	if (!j) {
		fprintf(stderr, "streamer-cli: PAYLOAD_JSON is not JSON: %s (line %d, column %d)\n",
			e.text, e.line, e.column);
		goto done;
	}
	json_decref(j);
	size_t n = plen + strlen(qa) + (qi ? strlen(qi) : 0) + 64;
	out = malloc(n);
	if (out)
		snprintf(out, n, "{\"type\":\"request\"%s%s,\"action\":%s,\"payload\":%s}",
			 qi ? ",\"id\":" : "", qi ? qi : "", qa, payload);
done:
	free(qa);
	free(qi);
	free(payload);
	return out;
}

/* Prints one message as one line on stdout (re-encoded only when the
 * server's text spans lines). */
static void print_line(const char *msg, size_t len, const json_t *j)
{
	if (!memchr(msg, '\n', len) && !memchr(msg, '\r', len)) {
		fwrite(msg, 1, len, stdout);
	} else {
		char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s)
			fputs(s, stdout);
		free(s);
	}
	fputc('\n', stdout);
	fflush(stdout);
}

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An error object ({"code","message","field"?,"retry_after_ms"?}) on
 * stderr, for everyone: it explains the exit status. */
static void error_report(const json_t *e)
{
	const char *code = str_of(e, "code"), *msg = str_of(e, "message"),
		   *field = str_of(e, "field");
	json_t *retry = json_object_get(e, "retry_after_ms");
	fprintf(stderr, "streamer-cli: %s: %s", code ? code : "ERROR", msg ? msg : "failed");
	if (field)
		fprintf(stderr, " (field %s)", field);
	if (json_is_number(retry))
		fprintf(stderr, " (retry after %.0f ms)", json_number_value(retry));
	fputc('\n', stderr);
}

static void progress_show(const watch *w, double pct, const char *msg)
{
	if (!w->human)
		return;
	if (!(pct >= 0))
		pct = 0;
	fprintf(stderr, "[%3d%%] %s\n", (int)floor(pct > 100 ? 100 : pct), msg ? msg : "");
}

static bool terminal_state(const char *s)
{
	return s && (!strcmp(s, "completed") || !strcmp(s, "failed") ||
		     !strcmp(s, "cancelled"));
}

/* A `status` answer (or a cancel's). Returns 1 when it settles the
 * command, 0 to wait for more. */
static int on_status(watch *w, const json_t *data)
{
	const char *st = str_of(data, "status");
	if (w->kind == CMD_CANCEL) {
		if (st && !strcmp(st, "cancelled")) {
			w->rc = CLI_EXIT_OK;
		} else {
			fprintf(stderr, "streamer-cli: request %s is already %s\n", w->rid,
				st ? st : "finished");
			w->rc = CLI_EXIT_FAILED;
		}
		return 1;
	}
	bool follow = w->follow || w->resumed;
	if (w->human && (!follow || !terminal_state(st)))
		fprintf(stderr, "request %s: %s, %.0f%% %s\n", w->rid, st ? st : "?",
			json_number_value(json_object_get(data, "percentage")),
			str_of(data, "message") ? str_of(data, "message") : "");
	if (!follow) {
		w->rc = CLI_EXIT_OK;
		return 1;
	}
	if (!terminal_state(st))
		return 0;
	if (!strcmp(st, "completed")) {
		w->rc = CLI_EXIT_OK;
	} else {
		json_t *e = json_object_get(data, "error");
		if (e)
			error_report(e);
		else
			fprintf(stderr, "streamer-cli: request %s %s\n", w->rid, st);
		w->rc = CLI_EXIT_FAILED;
	}
	return 1;
}

static void list_show(const watch *w, const json_t *data)
{
	if (!w->human)
		return;
	size_t i;
	json_t *r;
	if (!json_array_size(data))
		fprintf(stderr, "no requests in the last hour\n");
	json_array_foreach(data, i, r) {
		const char *id = str_of(r, "id");
		fprintf(stderr, "%-36s  %-20s %-10s %3.0f%%  %s%s%s\n",
			str_of(r, "request_id") ? str_of(r, "request_id") : "?",
			str_of(r, "action") ? str_of(r, "action") : "?",
			str_of(r, "status") ? str_of(r, "status") : "?",
			json_number_value(json_object_get(r, "percentage")),
			str_of(r, "created_at") ? str_of(r, "created_at") : "",
			id ? "  id " : "", id ? id : "");
	}
}

/* conn.c's callback: one message from the server. */
static int on_msg(cli_conn *c, void *ud, const char *msg, size_t len)
{
	watch *w = ud;
	json_error_t e;
	json_t *j = json_loadb(msg, len, 0, &e);
	const char *type = str_of(j, "type"), *rid = str_of(j, "request_id");
	if (!json_is_object(j) || !type) {
		fprintf(stderr, "streamer-cli: ignoring a message that is not a protocol "
				"message (%.60s)\n", msg);
		json_decref(j);
		return 0;
	}
	/* A connection carries one request; anything about another is not
	 * ours to print (defensive: the server sends none). */
	if (rid && *w->rid && strcmp(rid, w->rid)) {
		json_decref(j);
		return 0;
	}
	if (rid && !*w->rid && strlen(rid) <= RID_MAX)
		strcpy(w->rid, rid);
	print_line(msg, len, j);

	int done = 0;
	json_t *data = json_object_get(j, "data");
	if (!strcmp(type, "error")) {
		error_report(json_object_get(j, "error"));
		w->rc = CLI_EXIT_FAILED;
		done = 1;
	} else if (!strcmp(type, "response") || !strcmp(type, "complete")) {
		if (w->human && !strcmp(type, "complete"))
			fprintf(stderr, "request %s: completed\n", w->rid);
		w->rc = CLI_EXIT_OK;
		done = 1;
	} else if (!strcmp(type, "acknowledgment")) {
		const char *st = str_of(j, "status");
		if (w->human)
			fprintf(stderr, "request %s: %s\n", w->rid, st ? st : "queued");
		/* The same --id again: the server answers with the first
		 * request's state; resume it to get its progress or result. */
		if (st && strcmp(st, "queued") && *w->rid && !w->resumed) {
			char m[RID_MAX + 48];
			snprintf(m, sizeof m, "{\"type\":\"status\",\"request_id\":\"%s\"}", w->rid);
			w->resumed = strspn(w->rid, "0123456789abcdefABCDEF-") == strlen(w->rid) &&
				     cli_conn_send(c, m, strlen(m)) == 0;
		}
	} else if (!strcmp(type, "progress")) {
		progress_show(w, json_number_value(json_object_get(j, "percentage")),
			      str_of(j, "message"));
	} else if (!strcmp(type, "status") && w->kind != CMD_LIST) {
		done = on_status(w, data);
	} else if (!strcmp(type, "list") && w->kind == CMD_LIST) {
		list_show(w, data);
		w->rc = CLI_EXIT_OK;
		done = 1;
	}
	json_decref(j);
	return done;
}

int cli_cmd_main(const char *cmd, int argc, char **argv)
{
	cmd_kind kind;
	if (!strcmp(cmd, "request"))
		kind = CMD_REQUEST;
	else if (!strcmp(cmd, "status"))
		kind = CMD_STATUS;
	else if (!strcmp(cmd, "list"))
		kind = CMD_LIST;
	else if (!strcmp(cmd, "cancel"))
		kind = CMD_CANCEL;
	else
		return usage_error("unknown command '%s'", cmd);

	cli_conn_opts o = { .connect_timeout_ms = CONNECT_TIMEOUT_MS, .on_msg = on_msg };
	watch w = { .kind = kind, .human = isatty(2), .rc = CLI_EXIT_FAILED };
	const char *url = getenv("STREAMER_URL"), *token = getenv("STREAMER_TOKEN"),
		   *id = NULL, *pos[2] = { NULL, NULL };
	int n_pos = 0, timeout_ms = -1;
	bool opts_done = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!opts_done && !strcmp(a, name) && v && (i++, 1))
		if (!opts_done && !strcmp(a, "--")) opts_done = true;
		else if (ARG("--url")) url = v;
		else if (ARG("--token")) token = v;
		else if (ARG("--id") && kind == CMD_REQUEST) id = v;
		else if (ARG("--timeout")) {
			if (parse_seconds(v, &timeout_ms) < 0)
				return usage_error("bad --timeout '%s' (seconds)", v);
		} else if (ARG("--connect-timeout")) {
			if (parse_seconds(v, &o.connect_timeout_ms) < 0)
				return usage_error("bad --connect-timeout '%s' (seconds)", v);
		} else if (!opts_done && !strcmp(a, "--follow") && kind == CMD_STATUS) w.follow = true;
		else if (!opts_done && !strcmp(a, "--header")) o.token_header = true;
		else if (!opts_done && !strcmp(a, "--insecure")) o.insecure = true;
		else if (!opts_done && !strcmp(a, "--progress")) w.human = true;
		else if (!opts_done && !strcmp(a, "--no-progress")) w.human = false;
		else if (!opts_done && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) o.verbose = true;
		else if (!opts_done && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			cli_cmd_usage(stdout);
			return CLI_EXIT_OK;
		} else if (!opts_done && a[0] == '-' && a[1] == '-')
			return usage_error("unknown or incomplete option '%s'", a);
		else if (n_pos < 2)
			pos[n_pos++] = a;
		else
			return usage_error("unexpected argument '%s'", a);
#undef ARG
	}
	int want_min = kind == CMD_REQUEST || kind == CMD_STATUS || kind == CMD_CANCEL;
	int want_max = kind == CMD_REQUEST ? 2 : want_min;
	if (n_pos < want_min || n_pos > want_max)
		return usage_error("%s: wrong number of arguments", cmd);
	if (!token || !*token)
		return usage_error("%s", "no token: give --token or set STREAMER_TOKEN "
				   "(`make run` prints one)");

	/* A token pasted with its newline still works. */
	size_t tl = strnlen(token, CLI_TOKEN_MAX + 1);
	if (tl > CLI_TOKEN_MAX)
		return usage_error("the token is over %s bytes", "16384");
	char tok[CLI_TOKEN_MAX + 1];
	memcpy(tok, token, tl);
	while (tl && strchr(" \t\r\n", tok[tl - 1]))
		tl--;
	tok[tl] = '\0';

	o.url = url && *url ? url : DEFAULT_URL;
	o.token = tok;
	if (timeout_ms > 0)
		o.timeout_ms = timeout_ms;
	else if (!(kind == CMD_REQUEST || (kind == CMD_STATUS && w.follow)))
		o.timeout_ms = ANSWER_TIMEOUT_MS;
	if (kind != CMD_REQUEST && n_pos)
		snprintf(w.rid, sizeof w.rid, "%s", pos[0]);
	char *first = envelope_make(kind, pos[0], id, pos[1], pos[0]);
	if (!first)
		return CLI_EXIT_USAGE;
	o.first = first;
	o.ud = &w;

	char err[512];
	int end = cli_conn_run(&o, err, sizeof err);
	free(first);
	memset(tok, 0, sizeof tok);

	bool pending = kind == CMD_REQUEST || (kind == CMD_STATUS && w.follow);
	int rc;
	switch (end) {
	case CLI_CONN_DONE:
		return w.rc;
	case CLI_CONN_INTERRUPTED:
		fprintf(stderr, "streamer-cli: interrupted\n");
		rc = CLI_EXIT_INTERRUPTED;
		break;
	case CLI_CONN_TIMEOUT:
		fprintf(stderr, "streamer-cli: timed out: %s\n", err);
		rc = CLI_EXIT_FAILED;
		break;
	case CLI_CONN_ABORTED:
		if (*err)
			fprintf(stderr, "streamer-cli: %s\n", err);
		return CLI_EXIT_FAILED;
	default: /* FAILED, REFUSED, LOST */
		fprintf(stderr, "streamer-cli: %s\n", err);
		rc = CLI_EXIT_CONNECT;
		break;
	}
	/* Async requests outlive the connection: say how to get back to it. */
	if (pending && *w.rid && strspn(w.rid, "0123456789abcdefABCDEF-") == strlen(w.rid))
		fprintf(stderr, "streamer-cli: request %s goes on; `streamer-cli status %s "
			"--follow` resumes it, `streamer-cli cancel %s` stops it\n",
			w.rid, w.rid, w.rid);
	return rc;
}
