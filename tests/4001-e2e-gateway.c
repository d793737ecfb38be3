/* streamerd as shipped (generated registry, handlers/demo.c) end to end:
 * a token from streamer-cli, the demo's echo over a real connection, the
 * HTTP routes (/metrics checked line by line against the Prometheus text
 * format), and /healthz turning 503 while its own PostgreSQL is down. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "wsclient.h"

static bool name_ok(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* The Prometheus text format (0.0.4): # HELP/# TYPE lines, then samples
 * `name{label="value",...} number`. Returns the number of bad lines
 * (printed as diagnostics) and counts samples. */
static int prom_check(char *body, int *samples)
{
	int bad = 0;
	*samples = 0;
	for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			char *sp = strchr(line + 7, ' ');
			if (!sp || !name_ok(line + 7, (size_t)(sp - line - 7)) ||
			    (line[2] == 'T' && !strstr("counter gauge histogram summary untyped", sp + 1))) {
				diag("bad comment: %s", line);
				bad++;
			}
			continue;
		}
		const char *p = line;
		size_t n = strcspn(p, "{ ");
		bool good = name_ok(p, n);
		p += n;
		if (good && *p == '{') {
			p++;
			while (good && *p != '}') {
				size_t k = strcspn(p, "=");
				good = name_ok(p, k) && p[k] == '=' && p[k + 1] == '"';
				p += k + 2;
				while (good && *p && *p != '"')
					p += *p == '\\' ? 2 : 1;
				good = good && *p == '"';
				p++;
				if (*p == ',')
					p++;
				else if (*p != '}')
					good = false;
			}
			p++;
		}
		char *end;
		good = good && *p == ' ';
		if (good) {
			strtod(p + 1, &end);
			good = end != p + 1 && (*end == '\0' || *end == ' ');
		}
		if (!good) {
			diag("bad sample: %s", line);
			bad++;
		} else {
			(*samples)++;
		}
	}
	return bad;
}

int main(void)
{
	const char *build = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	const char *tmp = getenv("ST_TMP");
	if (!tmp || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
	char bin[512];
	snprintf(bin, sizeof bin, "%s/streamerd", build);

	/* Its own cluster, so that stopping it hurts no other test. */
	char *r = sh_line("scripts/pg.sh start %s/pg >/dev/null 2>&1 && psql \"$(scripts/pg.sh url %s/pg postgres)\" "
			  "-Xqc 'CREATE DATABASE e2e' >/dev/null && DATABASE_URL=\"$(scripts/pg.sh url %s/pg e2e)\" "
			  "%s migrate >/dev/null && echo ready", tmp, tmp, tmp, bin);
	if (!r || strcmp(r, "ready"))
		BAIL_OUT("cannot start a private PostgreSQL");
	free(r);
	char dburl[700];
	snprintf(dburl, sizeof dburl, "DATABASE_URL=host=%s/pg user=postgres dbname=e2e", tmp);
	const char *env[] = { dburl, "JWT_SECRET=e2e-secret", NULL };
	tsrv s;
	if (tsrv_start(&s, bin, env) < 0)
		BAIL_OUT("streamerd did not start");

	char *tok = sh_line("%s/streamer-cli token --alg HS256 --secret e2e-secret --sub dev --tenant dev", build);
	char target[2048];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok ? tok : "");
	wsc c;
	is_int(wsc_connect(&c, s.port, target, NULL, 0), 101, "a streamer-cli token connects");
	wsc_send_text(&c, "{\"type\":\"request\",\"id\":\"e1\",\"action\":\"echo\",\"payload\":{\"message\":\"hello\"}}");
	r = wsc_recv_text(&c, 5000);
	json_t *j = r ? json_loads(r, 0, NULL) : NULL;
	json_t *data = json_object_get(j, "data");
	is(json_string_value(json_object_get(j, "type")), "response", "the demo's echo answers");
	is(json_string_value(json_object_get(data, "message")), "hello", "with the message");
	ok(json_is_string(json_object_get(data, "echoed_at")), "and echoed_at");
	json_decref(j);
	free(r);
	wsc_send_text(&c, "{\"action\":\"echo\",\"payload\":{\"message\":\"\"}}");
	r = wsc_recv_text(&c, 5000);
	if (r) diag("%s", r);
	ok(r && strstr(r, "VALIDATION_ERROR") && strstr(r, "\"payload.message\""),
	   "an empty message fails the generated validation, field payload.message");
	free(r);
	wsc_close(&c);

	char *body;
	is_int(http_get(s.port, "/healthz", &body), 200, "/healthz is 200 with the database up");
	free(body);
	is_int(http_get(s.port, "/nope", &body), 404, "unknown paths are 404");
	free(body);
	is_int(http_get(s.port, "/metrics", &body), 200, "/metrics answers");
	int samples;
	is_int(prom_check(body, &samples), 0, "every line of /metrics is valid Prometheus text");
	ok(samples > 10, "with samples (%d)", samples);
	free(body);

	r = sh_line("scripts/pg.sh stop %s/pg >/dev/null 2>&1; echo stopped", tmp);
	free(r);
	int st = 0;
	for (int i = 0; i < 100 && st != 503; i++, usleep(100000)) {
		st = http_get(s.port, "/healthz", &body);
		free(body);
	}
	is_int(st, 503, "/healthz is 503 once the database is down");
	r = sh_line("scripts/pg.sh start %s/pg >/dev/null 2>&1; echo started", tmp);
	free(r);
	for (int i = 0; i < 100 && st != 200; i++, usleep(100000)) {
		st = http_get(s.port, "/healthz", &body);
		free(body);
	}
	is_int(st, 200, "and 200 again when it is back");

	is_int(tsrv_stop(&s), 0, "streamerd stops cleanly");
	r = sh_line("psql \"$(scripts/pg.sh url %s/pg e2e)\" -XAtqc 'SELECT count(*) FROM streamer.connections'", tmp);
	is(r, "0", "and leaves no connection rows");
	free(r);
	r = sh_line("scripts/pg.sh stop %s/pg >/dev/null 2>&1; echo done", tmp);
	free(r);
	free(tok);
	return done_testing();
}
