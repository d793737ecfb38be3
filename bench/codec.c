/* bench/codec.c: `make bench` (bench-codec): decoding and validating the
 * demo payloads with the generated decoders against jansson's json_loads
 * alone (no validation) on the same bytes, in one run; then streamc on a
 * generated file of 500 actions. Prints the timings and the ratios. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double bench_ours(const char *doc, int which, int n, st_arena *a)
{
	size_t len = strlen(doc);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		st_json j;
		st_verr e;
		st_json_init(&j, doc, len);
		int r;
		if (which == 0) {
			demo_echo_payload p;
			r = demo_echo_payload_decode_json(&j, &p, a, &e);
		} else {
			demo_delay_payload p;
			r = demo_delay_payload_decode_json(&j, &p, a, &e);
		}
		if (r) {
			fprintf(stderr, "bench: %s: %s\n", st_verr_path(&e), e.msg);
			exit(1);
		}
		st_arena_reset(a);
	}
	return (now() - t0) / n * 1e9;
}

static double bench_jansson(const char *doc, int n)
{
	size_t len = strlen(doc);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		json_error_t err;
		json_t *v = json_loadb(doc, len, 0, &err);
		if (!v)
			exit(1);
		json_decref(v);
	}
	return (now() - t0) / n * 1e9;
}

int main(int argc, char **argv)
{
	const char *streamc = argc > 1 ? argv[1] : "build/streamc";
	st_arena *a = st_arena_create(1 << 20);
	char msg[4200], echo[4300];
	struct {
		const char *name;
		int which;
		const char *doc;
	} docs[4];
	static const char small_echo[] = "{\"message\":\"Hello, world! \\u00e9 is fine.\"}";
	memset(msg, 'x', 4000);
	msg[4000] = '\0';
	snprintf(echo, sizeof echo, "{\"message\":\"%s\"}", msg);
	docs[0].name = "echo (short message)";
	docs[0].which = 0;
	docs[0].doc = small_echo;
	docs[1].name = "echo (4000-byte message)";
	docs[1].which = 0;
	docs[1].doc = echo;
	docs[2].name = "delay";
	docs[2].which = 1;
	docs[2].doc = "{\"ms\":1500,\"steps\":20}";
	docs[3].name = "delay (default steps)";
	docs[3].which = 1;
	docs[3].doc = "{\"ms\":250}";
	printf("%-28s %14s %14s %8s\n", "payload", "streamc ns/op", "jansson ns/op", "ratio");
	int worst_ok = 1;
	for (int i = 0; i < 4; i++) {
		int n = docs[i].doc == echo ? 20000 : 500000;
		bench_ours(docs[i].doc, docs[i].which, n / 10, a); /* warm up */
		bench_jansson(docs[i].doc, n / 10);
		double ours = bench_ours(docs[i].doc, docs[i].which, n, a);
		double theirs = bench_jansson(docs[i].doc, n);
		printf("%-28s %14.1f %14.1f %7.1fx\n", docs[i].name, ours, theirs, theirs / ours);
		if (theirs / ours < 2)
			worst_ok = 0;
	}
	printf("decode+validate at least 2x faster than json_loads alone: %s\n",
	       worst_ok ? "yes" : "NO");

	/* streamc on 500 actions */
	char dir[] = "/tmp/streamc-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[256], cmd[1024];
	snprintf(path, sizeof path, "%s/big.stream", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "service big;\nenum Kind { a, b, c }\nerror BIG_FAIL \"Failed\";\n");
	for (int i = 0; i < 500; i++)
		fprintf(f, "/// Action %d.\naction act_%d {\n  duration %dms;\n  errors BIG_FAIL;\n"
			   "  payload {\n    name: string(1..64) pattern \"[a-z]+_%d\";\n    n: int32(0..%d) = 1;\n"
			   "    kind: Kind = b;\n    tags: list<string(1..8)>(..10)?;\n    at: timestamp?;\n  }\n"
			   "  result {\n    id: uuid;\n    total: int64;\n  }\n}\n",
			i, i, 10 + i, i, 1000 + i);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s -o %s/gen --handlers %s/handlers %s", streamc, dir, dir, path);
	double t0 = now();
	int rc = system(cmd);
	double t = now() - t0;
	printf("streamc on 500 actions (500 patterns): %.3f s (exit %d)\n", t, rc);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd)) {
	}
	st_arena_free(a);
	return 0;
}
