/* 1004-codegen-fb: the generated FlatBuffers readers and builders of
 * tests/idl/codec_test.stream, cross-checked with independent
 * implementations: our buffers pass the C++ flatbuffers::Verifier (flatc
 * --cpp, g++) and flatc reads them (--json) and writes them back (-b) to the
 * same values, which our readers then decode; every truncation and bit flip
 * of our buffers is handled without a crash (run under SAN=1 for ASan). */
#include <unistd.h>

#include "files.h"
#include "tap.h"
#include "streamer/registry.h"
#include "codec_test.h"

static st_arena *arena;
static char dir[512], gen[2048];

static const st_action *find_action(const char *name)
{
	for (size_t i = 0; i < st_registry_main.n_actions; i++)
		if (!strcmp(st_registry_main.actions[i].name, name))
			return &st_registry_main.actions[i];
	BAIL_OUT("no action %s", name);
	return NULL;
}

typedef struct fcase {
	const char *action;
	bool result;
	const char *table; /* FlatBuffers root table */
	const char *json;
} fcase;

static const fcase cases[] = {
	{ "scalars", false, "ScalarsPayload",
	  "{\"b\":true,\"i\":-5,\"l\":9007199254740993,\"f\":-1.25,\"s\":\"h\xc3\xa9llo\",\"by\":\"AAEC/w==\","
	  "\"d\":\"1969-12-31\",\"t\":\"2026-11-26T09:30:00.123Z\",\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"c\":\"blue\"}" },
	{ "scalars", true, "ScalarsResult",
	  "{\"b\":false,\"i\":0,\"l\":0,\"f\":0,\"s\":\"\",\"by\":\"\",\"d\":\"1970-01-01\",\"t\":\"1970-01-01T00:00:00Z\","
	  "\"u\":\"00000000-0000-0000-0000-000000000000\",\"c\":\"red\"}" },
	{ "constraints", false, "ConstraintsPayload", "{\"small\":1}" },
	{ "constraints", false, "ConstraintsPayload",
	  "{\"small\":10,\"big\":0,\"ratio\":0,\"name\":\"ab\",\"code\":\"AB-1\",\"blob\":\"\",\"word\":\"foo\","
	  "\"flag\":false,\"count\":0,\"level\":0,\"scale\":0,\"title\":\"\",\"color\":\"red\",\"maybe_color\":\"red\","
	  "\"maybe_flag\":false,\"maybe_day\":\"1970-01-01\",\"maybe_at\":\"1970-01-01T00:00:00Z\","
	  "\"maybe_id\":\"123e4567-e89b-12d3-a456-426614174000\"}" },
	{ "lists", false, "ListsPayload", "{\"matrix\":[]}" },
	{ "lists", false, "ListsPayload",
	  "{\"tags\":[\"a\",\"b-c\"],\"matrix\":[[1,2],[3]],\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":1,\"y\":2,\"label\":\"p\"},"
	  "{\"x\":-3,\"y\":0}],\"color\":\"blue\",\"origin\":{\"x\":0,\"y\":0},\"window\":{\"from\":\"2026-01-01T00:00:00Z\","
	  "\"to\":\"2026-01-02T00:00:00Z\"}}],\"colors\":[\"red\",\"blue\",\"green\"],\"flags\":[true,false,true],"
	  "\"longs\":[1,-9007199254740993],\"floats\":[0.5,-2],\"days\":[\"2024-02-29\"],\"times\":[\"2024-02-29T12:00:00.001Z\"],"
	  "\"ids\":[\"123e4567-e89b-12d3-a456-426614174000\"],\"blobs\":[\"AA==\",\"AAEC\"],"
	  "\"cube\":[[[\"a\"]],[[],[\"b\",\"c\"]]],\"shape\":{\"name\":\"one\",\"points\":[{\"x\":9,\"y\":9}]}}" },
	{ "lists", true, "ListsResult",
	  "{\"matrix\":[[1],[],[2,3]],\"shapes\":[{\"name\":\"a\",\"points\":[{\"x\":1,\"y\":2}]}]}" },
};
#define NCASES (sizeof cases / sizeof *cases)

static char *json_of(const st_action *act, bool result, const void *v)
{
	st_buf b;
	st_buf_init(&b, 1 << 20);
	(result ? act->result_encode_json : act->payload_encode_json)(v, &b);
	st_buf_append(&b, "", 1);
	char *s = strdup(b.data);
	st_buf_fini(&b);
	return s;
}

/* Our reader on `buf`: 0 and the JSON of what it read, or -1. */
static int read_fb(const st_action *act, bool result, const uint8_t *buf, size_t len,
		   char **json, st_verr *e)
{
	void *v = calloc(1, result ? act->result_size : act->payload_size);
	st_fbr root;
	st_verr_init(e);
	int r = st_fbr_root(buf, len, NULL, &root, e);
	if (!r)
		r = (result ? act->result_decode_fb : act->payload_decode_fb)(&root, v, arena, e);
	if (!r && json)
		*json = json_of(act, result, v);
	free(v);
	return r;
}

/* The C++ verifier: one program for every root table of the cases. */
static bool build_verifier(void)
{
	if (sh("cd %s && flatc --cpp -o %s codec_test.fbs ct_common.fbs", gen, dir))
		return false;
	char path[1024];
	snprintf(path, sizeof path, "%s/verify.cpp", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fprintf(f, "#include <cstdio>\n#include <cstring>\n#include <vector>\n"
		   "#include \"codec_test_generated.h\"\n"
		   "int main(int argc, char **argv) {\n"
		   "  FILE *f = fopen(argv[2], \"rb\"); if (!f) return 2;\n"
		   "  std::vector<uint8_t> b(1 << 20); size_t n = fread(b.data(), 1, b.size(), f); fclose(f);\n"
		   "  flatbuffers::Verifier v(b.data(), n);\n  bool ok = false;\n");
	for (size_t i = 0; i < NCASES; i++)
		fprintf(f, "  if (!strcmp(argv[1], \"%s\")) ok = v.VerifyBuffer<codec_test::%s>(nullptr);\n",
			cases[i].table, cases[i].table);
	fprintf(f, "  (void)argc; return ok ? 0 : 1;\n}\n");
	fclose(f);
	return sh("g++ -std=c++17 -I%s -o %s/verify %s/verify.cpp", dir, dir, dir) == 0;
}

int main(void)
{
	const char *build = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	const char *tmp = getenv("ST_TMP") ? getenv("ST_TMP") : "/tmp";
	snprintf(dir, sizeof dir, "%s/fbXXXXXX", tmp);
	if (!mkdtemp(dir))
		BAIL_OUT("mkdtemp");
	char cwd[1024];
	if (!getcwd(cwd, sizeof cwd))
		BAIL_OUT("getcwd");
	snprintf(gen, sizeof gen, "%s%s%s/test-gen", build[0] == '/' ? "" : cwd,
		 build[0] == '/' ? "" : "/", build);
	arena = st_arena_create(16u << 20);
	bool have_flatc = sh("flatc --version > /dev/null 2>&1") == 0;
	ok(have_flatc, "flatc is installed");
	ok(sh("cd %s && flatc -o %s/schema-check --cpp *.fbs > %s/flatc.log 2>&1", gen, dir, dir) == 0,
	   "flatc accepts every generated schema");
	bool have_verifier = have_flatc && build_verifier();
	ok(have_verifier, "C++ verifier built (flatc --cpp, libflatbuffers-dev)");

	for (size_t c = 0; c < NCASES; c++) {
		const fcase *fc = &cases[c];
		const st_action *act = find_action(fc->action);
		size_t size = fc->result ? act->result_size : act->payload_size;
		void *v = calloc(1, size);
		st_json j;
		st_verr e;
		st_verr_init(&e);
		st_json_init(&j, fc->json, strlen(fc->json));
		int r = (fc->result ? act->result_decode_json : act->payload_decode_json)(&j, v, arena, &e);
		if (!ok(r == 0, "case %zu (%s): the JSON decodes", c, fc->table)) {
			diag("%s: %s", st_verr_path(&e), e.msg);
			free(v);
			continue;
		}
		char *want = json_of(act, fc->result, v);
		st_fbb b;
		st_fbb_init(&b, 1 << 20);
		st_fbref root = (fc->result ? act->result_encode_fb : act->payload_encode_fb)(&b, v);
		const uint8_t *data;
		size_t len;
		ok(st_fbb_finish(&b, root, NULL, &data, &len) == 0, "  our builder finishes (%zu bytes)", len);
		uint8_t *buf = malloc(len);
		memcpy(buf, data, len);
		st_fbb_fini(&b);
		char *got = NULL;
		r = read_fb(act, fc->result, buf, len, &got, &e);
		if (!ok(r == 0, "  our reader reads our buffer"))
			diag("%s: %s", st_verr_path(&e), e.msg);
		else
			is(got, want, "  to the same values");
		free(got);

		char bin[1024], fbs[1024], json[1024], back[1024];
		snprintf(bin, sizeof bin, "%s/case%zu.bin", dir, c);
		snprintf(fbs, sizeof fbs, "%s/case%zu.fbs", dir, c);
		snprintf(json, sizeof json, "%s/out%zu/case%zu.json", dir, c, c);
		snprintf(back, sizeof back, "%s/back%zu/case%zu.bin", dir, c, c);
		file_write(bin, buf, len);
		char root_fbs[512];
		int rn = snprintf(root_fbs, sizeof root_fbs,
				  "include \"codec_test.fbs\";\nnamespace codec_test;\nroot_type %s;\n",
				  fc->table);
		file_write(fbs, root_fbs, (size_t)rn);
		if (have_verifier)
			ok(sh("%s/verify %s %s", dir, fc->table, bin) == 0,
			   "  flatbuffers::Verifier accepts our buffer");
		if (have_flatc) {
			ok(sh("flatc --json --strict-json --raw-binary -I %s -o %s/out%zu %s -- %s 2> /dev/null",
			      gen, dir, c, fbs, bin) == 0,
			   "  flatc --json reads our buffer");
			ok(sh("flatc -b -I %s -o %s/back%zu %s %s 2> /dev/null", gen, dir, c, fbs, json) == 0,
			   "  flatc -b writes it back");
			size_t blen = 0;
			uint8_t *bbuf = file_read(back, &blen);
			got = NULL;
			r = bbuf ? read_fb(act, fc->result, bbuf, blen, &got, &e) : -1;
			if (!ok(r == 0, "  our reader reads flatc's buffer"))
				diag("%s: %s", st_verr_path(&e), e.msg);
			else
				is(got, want, "  to the same values");
			free(got);
			free(bbuf);
		}
		/* a truncation is refused unless only padding was cut; bit flips
		 * never crash */
		int wrong = 0, refused = 0, flips = 0;
		for (size_t n = 0; n < len; n++) {
			got = NULL;
			if (read_fb(act, fc->result, buf, n, &got, &e) != 0)
				refused++;
			else if (strcmp(got, want))
				wrong++;
			free(got);
		}
		ok(wrong == 0 && refused > (int)len / 2,
		   "  truncations are refused (%d of %zu) or read the same values", refused, len);
		uint8_t *m = malloc(len);
		for (size_t i = 0; i < len; i++)
			for (int bit = 0; bit < 8; bit += 3) {
				memcpy(m, buf, len);
				m[i] ^= (uint8_t)(1u << bit);
				read_fb(act, fc->result, m, len, NULL, &e);
				flips++;
			}
		/* offsets pointing everywhere */
		for (size_t i = 0; i + 4 <= len; i += 4) {
			memcpy(m, buf, len);
			uint32_t bad = 0xFFFFFFF0u;
			memcpy(m + i, &bad, 4);
			read_fb(act, fc->result, m, len, NULL, &e);
			flips++;
		}
		ok(flips > 0, "  %d corrupted buffers read without a crash", flips);
		free(m);
		free(buf);
		free(want);
		free(v);
	}
	st_arena_free(arena);
	sh("rm -rf %s", dir);
	return done_testing();
}
