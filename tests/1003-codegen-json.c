/* 1003-codegen-json: the generated JSON decoders of tests/idl/codec_test.stream
 * through st_registry_main (paths start at "payload"): every type, range,
 * pattern, optional field, default, enum, nested struct and nested list,
 * valid and invalid, with the exact path and message; wrong JSON types for
 * every field; every truncation of valid documents; JSON round trips. */
#include <math.h>

#include "tap.h"
#include "streamer/registry.h"
#include "codec_test.h"
#include "demo.h"

static st_arena *arena;

static const st_action *find_action(const char *name)
{
	for (size_t i = 0; i < st_registry_main.n_actions; i++)
		if (!strcmp(st_registry_main.actions[i].name, name))
			return &st_registry_main.actions[i];
	BAIL_OUT("no action %s in st_registry_main", name);
	return NULL;
}

/* Decodes `json` as the payload of `act`; 0 or -1 with *e filled. */
static int decode(const st_action *act, const char *json, void *out, st_verr *e)
{
	st_json j;
	st_arena_reset(arena);
	st_verr_init(e);
	st_json_init(&j, json, strlen(json));
	if (act->payload_decode_json(&j, out, arena, e))
		return -1;
	return st_json_end(&j, e);
}

typedef struct tcase {
	const char *json;
	const char *path; /* NULL: must decode */
	const char *msg;  /* exact message, or NULL for any */
} tcase;

static void run_cases(const char *action, const tcase *cs, size_t n)
{
	const st_action *act = find_action(action);
	void *out = malloc(act->payload_size);
	for (size_t i = 0; i < n; i++) {
		st_verr e;
		int r = decode(act, cs[i].json, out, &e);
		if (!cs[i].path) {
			if (!ok(r == 0, "%s: %s decodes", action, cs[i].json))
				diag("path '%s': %s", st_verr_path(&e), e.msg);
			continue;
		}
		if (!ok(r != 0, "%s: %s is refused", action, cs[i].json))
			continue;
		is(st_verr_path(&e), cs[i].path, "  at %s", cs[i].path);
		if (cs[i].msg)
			is(e.msg, cs[i].msg, "  with '%s'", cs[i].msg);
	}
	free(out);
}

/* --- scalars: every type, required --------------------------------------- */

static const char *const sc_fields[] = { "b", "i", "l", "f", "s", "by", "d", "t", "u", "c" };
static const char *const sc_values[] = {
	"true", "1", "2", "1.5", "\"x\"", "\"AAEC\"", "\"2024-02-29\"",
	"\"2026-11-26T10:30:00+01:00\"", "\"123E4567-e89b-12d3-a456-426614174000\"", "\"red\"",
};
#define NSC 10

/* The valid scalars document with field `k` replaced by `v` (NULL: left out). */
static char *sc_doc(int k, const char *v)
{
	static char buf[4096];
	size_t n = 0;
	bool first = true;
	n += (size_t)snprintf(buf + n, sizeof buf - n, "{");
	for (int i = 0; i < NSC; i++) {
		const char *val = i == k ? v : sc_values[i];
		if (!val)
			continue;
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\":%s", first ? "" : ",",
				      sc_fields[i], val);
		first = false;
	}
	snprintf(buf + n, sizeof buf - n, "}");
	return buf;
}

static void test_scalars(void)
{
	const st_action *act = find_action("scalars");
	codec_test_scalars_payload p;
	st_verr e;
	char path[64];

	ok(decode(act, sc_doc(-1, NULL), &p, &e) == 0, "scalars: the valid document decodes");
	ok(p.b == true && p.i == 1 && p.l == 2 && p.f == 1.5, "  bool, int32, int64, float64");
	ok(p.s.len == 1 && p.s.ptr[0] == 'x' && p.s.ptr[1] == '\0', "  string");
	ok(p.by.len == 3 && p.by.ptr[0] == 0 && p.by.ptr[2] == 2, "  bytes");
	st_date d;
	st_time t;
	st_parse_date("2024-02-29", 10, &d);
	st_parse_time("2026-11-26T09:30:00Z", 20, &t);
	ok(p.d == d && p.t == t, "  date, timestamp (offset applied)");
	ok(p.u.b[0] == 0x12 && p.u.b[1] == 0x3e && p.u.b[15] == 0x00, "  uuid");
	ok(p.c == codec_test_Color_red, "  enum");

	/* each field left out: "is required" */
	for (int k = 0; k < NSC; k++) {
		int r = decode(act, sc_doc(k, NULL), &p, &e);
		snprintf(path, sizeof path, "payload.%s", sc_fields[k]);
		ok(r != 0, "scalars without '%s' is refused", sc_fields[k]);
		is(st_verr_path(&e), path, "  at %s", path);
		is(e.msg, "is required", "  is required");
	}
	/* wrong JSON types for every field */
	static const char *const wrong[] = {
		"null", "{}", "[]", "\"str\"", "1", "true", "1.25", "\"\"",
	};
	for (int k = 0; k < NSC; k++) {
		for (size_t w = 0; w < sizeof wrong / sizeof *wrong; w++) {
			/* skip values that are valid for the field */
			if ((k == 1 || k == 2) && !strcmp(wrong[w], "1"))
				continue;
			if (k == 0 && !strcmp(wrong[w], "true"))
				continue;
			if (k == 3 && (!strcmp(wrong[w], "1") || !strcmp(wrong[w], "1.25")))
				continue;
			if ((k == 4 || k == 5) && (!strcmp(wrong[w], "\"str\"") || !strcmp(wrong[w], "\"\"")))
				continue;
			int r = decode(act, sc_doc(k, wrong[w]), &p, &e);
			snprintf(path, sizeof path, "payload.%s", sc_fields[k]);
			ok(r != 0 && !strcmp(st_verr_path(&e), path) && e.msg[0],
			   "scalars.%s = %s is refused at %s (%s)", sc_fields[k], wrong[w], path, e.msg);
		}
	}
	/* every truncation of the valid document is refused, none crashes */
	const char *full = sc_doc(-1, NULL);
	char cut[4096];
	size_t len = strlen(full);
	int refused = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(cut, full, i);
		cut[i] = '\0';
		if (decode(act, cut, &p, &e) != 0)
			refused++;
	}
	is_int(refused, len, "every truncation of the scalars document is refused");
}

static const tcase scalar_cases[] = {
	{ "{\"b\":true,\"b\":false}", "payload.b", "is given twice" },
	{ "{\"zz\":1}", "payload.zz", "is not a known field" },
	{ "{\"b\":true,\"unknown\":{\"deep\":[1,2]}}", "payload.unknown", "is not a known field" },
	{ "[]", "payload", "must be an object" },
	{ "\"x\"", "payload", "must be an object" },
};

/* One field of `scalars` replaced: value, expected error (NULL: ok). */
typedef struct fcase {
	int field;
	const char *value;
	const char *msg; /* NULL: valid; "" any message */
} fcase;

static const fcase field_cases[] = {
	{ 1, "2147483647", NULL }, { 1, "-2147483648", NULL },
	{ 1, "2147483648", "" }, { 1, "-2147483649", "" }, { 1, "1e3", "" },
	{ 1, "\"1\"", "" }, { 1, "1.0", "" },
	{ 2, "9007199254740993", NULL }, { 2, "\"9223372036854775807\"", NULL },
	{ 2, "-9223372036854775808", NULL }, { 2, "9223372036854775808", "" },
	{ 2, "\"12x\"", "" },
	{ 3, "1e308", NULL }, { 3, "-0.0", NULL }, { 3, "0", NULL }, { 3, "1e999", "" },
	{ 3, "\"NaN\"", "" }, { 3, "NaN", "" }, { 3, "Infinity", "" },
	{ 4, "\"\\u00e9\\ud83d\\ude00\"", NULL }, { 4, "\"\\ud800\"", "" },
	{ 4, "\"a\\u0000b\"", NULL }, { 4, "\"\xc3\x28\"", "" }, { 4, "\"\xed\xa0\x80\"", "" },
	{ 5, "\"\"", NULL }, { 5, "\"AAE=\"", NULL }, { 5, "\"!!\"", "" }, { 5, "\"AAE\"", "" },
	{ 6, "\"2024-02-29\"", NULL }, { 6, "\"2023-02-29\"", "" }, { 6, "\"2024-13-01\"", "" },
	{ 6, "\"2024-04-31\"", "" }, { 6, "\"24-02-29\"", "" }, { 6, "\"2024-02-29T00:00:00Z\"", "" },
	{ 7, "\"2026-11-26T09:30:00.123Z\"", NULL }, { 7, "\"2026-11-26T09:30:00-05:30\"", NULL },
	{ 7, "\"2026-11-26\"", "" }, { 7, "\"2026-11-26T25:00:00Z\"", "" },
	{ 7, "\"2026-11-26T09:30:00\"", "" }, { 7, "1795685400000", "" },
	{ 8, "\"00000000-0000-0000-0000-000000000000\"", NULL },
	{ 8, "\"123e4567e89b12d3a456426614174000\"", "" },
	{ 8, "\"g23e4567-e89b-12d3-a456-426614174000\"", "" },
	{ 8, "\"123e4567-e89b-12d3-a456-42661417400\"", "" },
	{ 9, "\"green\"", NULL }, { 9, "\"blue\"", NULL },
	{ 9, "\"purple\"", "must be one of: red, green, blue" },
	{ 9, "\"Red\"", "must be one of: red, green, blue" }, { 9, "0", "" },
};

static void test_field_cases(void)
{
	const st_action *act = find_action("scalars");
	codec_test_scalars_payload p;
	for (size_t i = 0; i < sizeof field_cases / sizeof *field_cases; i++) {
		const fcase *c = &field_cases[i];
		st_verr e;
		int r = decode(act, sc_doc(c->field, c->value), &p, &e);
		char path[64];
		snprintf(path, sizeof path, "payload.%s", sc_fields[c->field]);
		if (!c->msg) {
			if (!ok(r == 0, "scalars.%s = %s decodes", sc_fields[c->field], c->value))
				diag("%s: %s", st_verr_path(&e), e.msg);
		} else {
			ok(r != 0 && !strcmp(st_verr_path(&e), path) &&
				   (!*c->msg || !strcmp(e.msg, c->msg)),
			   "scalars.%s = %s is refused at %s: %s", sc_fields[c->field], c->value,
			   st_verr_path(&e), e.msg);
		}
	}
}

/* --- constraints: ranges, patterns, optional, defaults ------------------------ */

static const tcase constraint_cases[] = {
	{ "{\"small\":1}", NULL, NULL },
	{ "{\"small\":10}", NULL, NULL },
	{ "{}", "payload.small", "is required" },
	{ "{\"small\":null}", "payload.small", NULL },
	{ "{\"small\":0}", "payload.small", "must be at least 1" },
	{ "{\"small\":11}", "payload.small", "must be at most 10" },
	{ "{\"small\":-2147483648}", "payload.small", "must be at least 1" },
	{ "{\"small\":1,\"big\":5000000000}", NULL, NULL },
	{ "{\"small\":1,\"big\":\"-5000000000\"}", NULL, NULL },
	{ "{\"small\":1,\"big\":5000000001}", "payload.big", "must be at most 5000000000" },
	{ "{\"small\":1,\"big\":-5000000001}", "payload.big", "must be at least -5000000000" },
	{ "{\"small\":1,\"big\":null}", NULL, NULL },
	{ "{\"small\":1,\"ratio\":1.5}", NULL, NULL },
	{ "{\"small\":1,\"ratio\":0}", NULL, NULL },
	{ "{\"small\":1,\"ratio\":1.5000001}", "payload.ratio", "must be at most 1.5" },
	{ "{\"small\":1,\"ratio\":-0.1}", "payload.ratio", "must be at least 0" },
	{ "{\"small\":1,\"name\":\"ab\"}", NULL, NULL },
	{ "{\"small\":1,\"name\":\"\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa9\xc3\xa8\"}", NULL, NULL },
	{ "{\"small\":1,\"name\":\"\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa9\xc3\xa8x\"}", "payload.name",
	  "must be at most 5 characters long" },
	{ "{\"small\":1,\"name\":\"a\"}", "payload.name", "must be at least 2 characters long" },
	{ "{\"small\":1,\"name\":\"abcdef\"}", "payload.name", "must be at most 5 characters long" },
	{ "{\"small\":1,\"name\":\"\\ud83d\\ude00\\ud83d\\ude00\"}", NULL, NULL },
	{ "{\"small\":1,\"code\":\"AB-12\"}", NULL, NULL },
	{ "{\"small\":1,\"code\":\"ZZ-0\"}", NULL, NULL },
	{ "{\"small\":1,\"code\":\"ab-12\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"code\":\"AB-\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"code\":\"AB-12x\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"code\":\"ABC-12\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"code\":\"AB-1\\u00002\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"code\":\"\"}", "payload.code", "must match the pattern [A-Z]{2}-[0-9]+" },
	{ "{\"small\":1,\"blob\":\"AAAAAA==\"}", NULL, NULL },
	{ "{\"small\":1,\"blob\":\"AAAAAAA=\"}", "payload.blob", "must be at most 4 bytes long" },
	{ "{\"small\":1,\"word\":\"foobar\"}", NULL, NULL },
	{ "{\"small\":1,\"word\":\"barfoobar\"}", NULL, NULL },
	{ "{\"small\":1,\"word\":\"\xc3\xbc" "ax\"}", NULL, NULL },
	{ "{\"small\":1,\"word\":\"\xc3\xbc\xc3\xbcx\"}", NULL, NULL },
	{ "{\"small\":1,\"word\":\"\xc3\xbc\\nx\"}", "payload.word", "must match the pattern (foo|bar)+|\xc3\xbc.x" },
	{ "{\"small\":1,\"word\":\"fo\"}", "payload.word", "must match the pattern (foo|bar)+|\xc3\xbc.x" },
	{ "{\"small\":1,\"word\":\"foobarfoobar\"}", "payload.word", "must be at most 10 characters long" },
	{ "{\"small\":1,\"word\":\"\"}", "payload.word", "must not be empty" },
	{ "{\"small\":1,\"count\":100}", NULL, NULL },
	{ "{\"small\":1,\"count\":101}", "payload.count", "must be at most 100" },
	{ "{\"small\":1,\"count\":-1}", "payload.count", "must be at least 0" },
	{ "{\"small\":1,\"title\":\"\"}", NULL, NULL },
	{ "{\"small\":1,\"title\":\"a b c\"}", NULL, NULL },
	{ "{\"small\":1,\"title\":\"Hello\"}", "payload.title", "must match the pattern [a-z ]*" },
	{ "{\"small\":1,\"title\":\"aaaaaaaaaaaaaaaaaaaaa\"}", "payload.title", "must be at most 20 characters long" },
	{ "{\"small\":1,\"color\":\"teal\"}", "payload.color", "must be one of: red, green, blue" },
	{ "{\"small\":1,\"flag\":\"yes\"}", "payload.flag", NULL },
	{ "{\"small\":1,\"maybe_color\":\"red\",\"maybe_flag\":false,\"maybe_day\":\"2000-01-01\","
	  "\"maybe_at\":\"2000-01-01T00:00:00Z\",\"maybe_id\":\"123e4567-e89b-12d3-a456-426614174000\"}",
	  NULL, NULL },
	{ "{\"small\":1,\"maybe_day\":\"2000-02-30\"}", "payload.maybe_day", NULL },
	{ "{\"small\":1,\"small\":2}", "payload.small", "is given twice" },
	{ "{\"small\":1,\"maybe_flag\":null,\"maybe_flag\":null}", "payload.maybe_flag", "is given twice" },
};

static void test_defaults(void)
{
	const st_action *act = find_action("constraints");
	codec_test_constraints_payload p;
	st_verr e;
	ok(decode(act, "{\"small\":3}", &p, &e) == 0, "constraints: only the required field");
	ok(p.small == 3, "  small");
	ok(!p.has_big && !p.has_ratio && !p.has_name && !p.has_code && !p.has_blob &&
		   !p.has_word && !p.has_maybe_color && !p.has_maybe_flag && !p.has_maybe_day &&
		   !p.has_maybe_at && !p.has_maybe_id,
	   "  optional fields absent");
	ok(p.flag == true, "  default bool");
	ok(p.count == 42, "  default int32");
	ok(p.level == -7, "  default int64");
	ok(p.scale == 2.5, "  default float64");
	ok(p.title.len == 11 && !strcmp(p.title.ptr, "hello world"), "  default string");
	ok(p.color == codec_test_Color_blue, "  default enum");
	st_date d;
	st_time t;
	st_uuid u;
	st_parse_date("2024-02-29", 10, &d);
	st_parse_time("2026-11-26T09:30:00Z", 20, &t);
	st_parse_uuid("123e4567-e89b-12d3-a456-426614174000", 36, &u);
	ok(p.day == d, "  default date");
	ok(p.at == t, "  default timestamp");
	ok(!memcmp(&p.id, &u, sizeof u), "  default uuid");
	ok(decode(act, "{\"small\":3,\"count\":null,\"title\":null,\"maybe_flag\":null}", &p, &e) == 0,
	   "null for optional and defaulted fields");
	ok(p.count == 42 && p.title.len == 11 && !p.has_maybe_flag, "  null means absent");
	if (!ok(decode(act, "{\"small\":3,\"count\":7,\"maybe_flag\":false,\"big\":\"-4999999999\"}", &p, &e) == 0,
		"given values win"))
		diag("%s: %s", st_verr_path(&e), e.msg);
	ok(p.count == 7 && p.has_maybe_flag && p.maybe_flag == false && p.has_big &&
		   p.big == INT64_C(-4999999999),
	   "  and set presence flags");
}

/* --- lists and structs ---------------------------------------------------------- */

#define PT "{\"x\":1,\"y\":2}"
static const tcase list_cases[] = {
	{ "{\"matrix\":[]}", NULL, NULL },
	{ "{\"matrix\":[[1,2],[3]]}", NULL, NULL },
	{ "{}", "payload.matrix", "is required" },
	{ "{\"matrix\":{}}", "payload.matrix", "must be an array" },
	{ "{\"matrix\":[[]]}", "payload.matrix[0]", "must have at least 1 item" },
	{ "{\"matrix\":[[1],[1,2,3,4]]}", "payload.matrix[1]", "must have at most 3 items" },
	{ "{\"matrix\":[[1],[10]]}", "payload.matrix[1][0]", "must be at most 9" },
	{ "{\"matrix\":[[1],[2,-1]]}", "payload.matrix[1][1]", "must be at least 0" },
	{ "{\"matrix\":[[1],\"x\"]}", "payload.matrix[1]", "must be an array" },
	{ "{\"matrix\":[[1],[null]]}", "payload.matrix[1][0]", NULL },
	{ "{\"matrix\":[],\"tags\":[\"a\",\"b-c\",\"d_1\"]}", NULL, NULL },
	{ "{\"matrix\":[],\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "payload.tags", "must have at most 3 items" },
	{ "{\"matrix\":[],\"tags\":[\"ok\",\"BAD\"]}", "payload.tags[1]", "must match the pattern [a-z0-9_-]+" },
	{ "{\"matrix\":[],\"tags\":[\"abcde\"]}", "payload.tags[0]", "must be at most 4 characters long" },
	{ "{\"matrix\":[],\"tags\":[\"\"]}", "payload.tags[0]", "must not be empty" },
	{ "{\"matrix\":[],\"tags\":null}", NULL, NULL },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT "]}]}", NULL, NULL },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT "],\"color\":\"red\","
	  "\"origin\":" PT ",\"window\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-02T00:00:00Z\"}}]}",
	  NULL, NULL },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT ",{\"x\":1001,\"y\":2}]}]}",
	  "payload.shapes[0].points[1].x", "must be at most 1000" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":-1001,\"y\":2}]}]}",
	  "payload.shapes[0].points[0].x", "must be at least -1000" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"Sq\",\"points\":[" PT "]}]}",
	  "payload.shapes[0].name", "must match the pattern [a-z][a-z0-9_]*" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"\",\"points\":[" PT "]}]}",
	  "payload.shapes[0].name", "must not be empty" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[]}]}",
	  "payload.shapes[0].points", "must have at least 1 item" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\"}]}", "payload.shapes[0].points", "is required" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":1}]}]}",
	  "payload.shapes[0].points[0].y", "is required" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":1,\"y\":2,\"z\":3}]}]}",
	  "payload.shapes[0].points[0].z", "is not a known field" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":1,\"y\":2,\"label\":\"123456789\"}]}]}",
	  "payload.shapes[0].points[0].label", "must be at most 8 characters long" },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT "],\"window\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"soon\"}}]}",
	  "payload.shapes[0].window.to", NULL },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT "],\"origin\":{\"x\":\"1\",\"y\":2}}]}",
	  "payload.shapes[0].origin.x", NULL },
	{ "{\"matrix\":[],\"shapes\":[{\"name\":\"sq\",\"points\":[" PT "],\"color\":\"pink\"}]}",
	  "payload.shapes[0].color", "must be one of: red, green, blue" },
	{ "{\"matrix\":[],\"shapes\":[1]}", "payload.shapes[0]", "must be an object" },
	{ "{\"matrix\":[],\"shapes\":[],\"shape\":null}", NULL, NULL },
	{ "{\"matrix\":[],\"shape\":{\"name\":\"a\",\"points\":[" PT ",{\"x\":1,\"y\":true}]}}",
	  "payload.shape.points[1].y", NULL },
	{ "{\"matrix\":[],\"colors\":[\"red\",\"blue\"]}", NULL, NULL },
	{ "{\"matrix\":[],\"colors\":[\"red\",\"nope\"]}", "payload.colors[1]", "must be one of: red, green, blue" },
	{ "{\"matrix\":[],\"flags\":[true,false]}", NULL, NULL },
	{ "{\"matrix\":[],\"flags\":[true,1]}", "payload.flags[1]", NULL },
	{ "{\"matrix\":[],\"longs\":[1,\"2\",-9223372036854775808]}", NULL, NULL },
	{ "{\"matrix\":[],\"longs\":[1,1.5]}", "payload.longs[1]", NULL },
	{ "{\"matrix\":[],\"floats\":[1,2.5,-1e-300]}", NULL, NULL },
	{ "{\"matrix\":[],\"floats\":[1,\"x\"]}", "payload.floats[1]", NULL },
	{ "{\"matrix\":[],\"days\":[\"2024-01-01\",\"x\"]}", "payload.days[1]", NULL },
	{ "{\"matrix\":[],\"times\":[\"2024-01-01T00:00:00Z\",\"2024-01-01\"]}", "payload.times[1]", NULL },
	{ "{\"matrix\":[],\"ids\":[\"123e4567-e89b-12d3-a456-426614174000\",\"123\"]}", "payload.ids[1]", NULL },
	{ "{\"matrix\":[],\"blobs\":[\"AA==\",\"AAAA\"]}", NULL, NULL },
	{ "{\"matrix\":[],\"blobs\":[\"AA==\",\"AAAAAA==\"]}", "payload.blobs[1]", "must be at most 3 bytes long" },
	{ "{\"matrix\":[],\"blobs\":[\"\"]}", "payload.blobs[0]", "must not be empty" },
	{ "{\"matrix\":[],\"cube\":[[[\"a\"]],[[],[\"b\",\"c\"]]]}", NULL, NULL },
	{ "{\"matrix\":[],\"cube\":[[[\"a\"]],[[],[\"b\",7]]]}", "payload.cube[1][1][1]", NULL },
	{ "{\"matrix\":[],\"cube\":[[[\"a\"]],[[],[\"b\"],3]]}", "payload.cube[1][2]", "must be an array" },
};

static void test_list_values(void)
{
	const st_action *act = find_action("lists");
	codec_test_lists_payload p;
	st_verr e;
	int r = decode(act, "{\"matrix\":[[1,2],[3]],\"cube\":[[[\"a\"]],[[],[\"b\",\"c\"]]],"
			     "\"shapes\":[{\"name\":\"sq\",\"points\":[{\"x\":5,\"y\":6},{\"x\":7,\"y\":8}]}]}",
		       &p, &e);
	ok(r == 0, "lists: a full document decodes");
	ok(p.matrix.count == 2 && p.matrix.items[0].count == 2 && p.matrix.items[0].items[1] == 2 &&
		   p.matrix.items[1].count == 1 && p.matrix.items[1].items[0] == 3,
	   "  nested list values");
	ok(p.has_cube && p.cube.count == 2 && p.cube.items[1].count == 2 &&
		   p.cube.items[1].items[1].count == 2 && p.cube.items[1].items[1].items[1].ptr[0] == 'c',
	   "  three levels");
	ok(p.has_shapes && p.shapes.count == 1 && p.shapes.items[0].points.count == 2 &&
		   p.shapes.items[0].points.items[1].y == 8 &&
		   p.shapes.items[0].color == codec_test_Color_green && !p.shapes.items[0].has_origin,
	   "  structs in lists, with defaults");
	/* a long list grows past the first allocation */
	char big[65536];
	size_t n = (size_t)snprintf(big, sizeof big, "{\"matrix\":[],\"longs\":[");
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "%s%d", i ? "," : "", i);
	snprintf(big + n, sizeof big - n, "]}");
	r = decode(act, big, &p, &e);
	ok(r == 0 && p.longs.count == 5000 && p.longs.items[4999] == 4999, "5000 items");
}

/* --- round trips ------------------------------------------------------------------ */

static void roundtrip(const char *action, bool result, const char *in, const char *want)
{
	const st_action *act = find_action(action);
	void *v = calloc(1, result ? act->result_size : act->payload_size);
	st_json j;
	st_verr e;
	st_buf b, b2;
	st_arena_reset(arena);
	st_verr_init(&e);
	st_json_init(&j, in, strlen(in));
	int r = result ? act->result_decode_json(&j, v, arena, &e)
		       : act->payload_decode_json(&j, v, arena, &e);
	if (!ok(r == 0, "%s %s: decodes", action, result ? "result" : "payload")) {
		diag("%s: %s", st_verr_path(&e), e.msg);
		free(v);
		return;
	}
	st_buf_init(&b, 1 << 20);
	(result ? act->result_encode_json : act->payload_encode_json)(v, &b);
	st_buf_append(&b, "", 1);
	is(b.data, want, "  encodes to the canonical form");
	/* and the canonical form reads back to itself */
	st_json_init(&j, b.data, b.len - 1);
	memset(v, 0, result ? act->result_size : act->payload_size);
	r = result ? act->result_decode_json(&j, v, arena, &e)
		   : act->payload_decode_json(&j, v, arena, &e);
	st_buf_init(&b2, 1 << 20);
	(result ? act->result_encode_json : act->payload_encode_json)(v, &b2);
	st_buf_append(&b2, "", 1);
	ok(r == 0 && !strcmp(b.data, b2.data), "  and back, unchanged");
	st_buf_fini(&b);
	st_buf_fini(&b2);
	free(v);
}

static void test_roundtrips(void)
{
	roundtrip("scalars", true,
		  "{\"b\":true,\"i\":-1,\"l\":9007199254740993,\"f\":1.5,\"s\":\"a\\\"b\\\\c\\n\\u00e9\\u0001\",\"by\":\"AAEC\","
		  "\"d\":\"2024-02-29\",\"t\":\"2026-11-26T10:30:00.5+01:00\","
		  "\"u\":\"123E4567-E89B-12D3-A456-426614174000\",\"c\":\"blue\"}",
		  "{\"b\":true,\"i\":-1,\"l\":\"9007199254740993\",\"f\":1.5,\"s\":\"a\\\"b\\\\c\\n\xc3\xa9\\u0001\",\"by\":\"AAEC\","
		  "\"d\":\"2024-02-29\",\"t\":\"2026-11-26T09:30:00.500Z\","
		  "\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"c\":\"blue\"}");
	roundtrip("constraints", false, "{\"small\":2}",
		  "{\"small\":2,\"flag\":true,\"count\":42,\"level\":-7,\"scale\":2.5,\"title\":\"hello world\","
		  "\"color\":\"blue\",\"day\":\"2024-02-29\",\"at\":\"2026-11-26T09:30:00.000Z\","
		  "\"id\":\"123e4567-e89b-12d3-a456-426614174000\"}");
	roundtrip("constraints", false, "{\"small\":2,\"maybe_flag\":false,\"code\":\"AB-1\",\"big\":-3}",
		  "{\"small\":2,\"big\":-3,\"code\":\"AB-1\",\"flag\":true,\"count\":42,\"level\":-7,\"scale\":2.5,"
		  "\"title\":\"hello world\",\"color\":\"blue\",\"day\":\"2024-02-29\",\"at\":\"2026-11-26T09:30:00.000Z\","
		  "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"maybe_flag\":false}");
	roundtrip("lists", true, "{\"matrix\":[[1],[],[2,3]],\"shapes\":[{\"name\":\"a\",\"points\":[{\"x\":1,\"y\":2,\"label\":\"p\"}],"
				 "\"window\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T00:00:01Z\"}}]}",
		  "{\"matrix\":[[1],[],[2,3]],\"shapes\":[{\"name\":\"a\",\"points\":[{\"x\":1,\"y\":2,\"label\":\"p\"}],"
		  "\"color\":\"green\",\"window\":{\"from\":\"2026-01-01T00:00:00.000Z\",\"to\":\"2026-01-01T00:00:01.000Z\"}}]}");
	roundtrip("echo", false, "{\"message\":\"hi\"}", "{\"message\":\"hi\"}");
	roundtrip("delay", false, "{\"ms\":5}", "{\"ms\":5,\"steps\":10}");
}

int main(void)
{
	arena = st_arena_create(16u << 20);
	test_scalars();
	run_cases("scalars", scalar_cases, sizeof scalar_cases / sizeof *scalar_cases);
	test_field_cases();
	run_cases("constraints", constraint_cases, sizeof constraint_cases / sizeof *constraint_cases);
	test_defaults();
	run_cases("lists", list_cases, sizeof list_cases / sizeof *list_cases);
	test_list_values();
	test_roundtrips();
	/* the demo service, as the runtime sees it */
	static const tcase demo_echo[] = {
		{ "{\"message\":\"hello\"}", NULL, NULL },
		{ "{\"message\":\"\"}", "payload.message", "must not be empty" },
		{ "{}", "payload.message", "is required" },
		{ "{\"message\":\"x\",\"extra\":1}", "payload.extra", "is not a known field" },
	};
	run_cases("echo", demo_echo, sizeof demo_echo / sizeof *demo_echo);
	static const tcase demo_delay[] = {
		{ "{\"ms\":0}", NULL, NULL },
		{ "{\"ms\":600000,\"steps\":1000}", NULL, NULL },
		{ "{\"ms\":600001}", "payload.ms", "must be at most 600000" },
		{ "{\"ms\":10,\"steps\":0}", "payload.steps", "must be at least 1" },
	};
	run_cases("delay", demo_delay, sizeof demo_delay / sizeof *demo_delay);
	st_arena_free(arena);
	return done_testing();
}
