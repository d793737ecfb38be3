/* 0005-codec-fb.c: the FlatBuffers reader and builder, cross-checked with
 * flatc both ways, and the reader against truncated and corrupted buffers. */
#include <jansson.h>
#include <math.h>
#include <unistd.h>

#include "streamer/codec.h"
#include "files.h"
#include "tap.h"

/* Slots of tests/fixtures/codec.fbs */
enum { A_FLAG, A_COLOR, A_I, A_L, A_D, A_S, A_RAW, A_INTS, A_LONGS, A_STRS,
       A_SUB, A_SUBS, A_DBLS, A_NFIELDS };
enum { S_NAME, S_N, S_NFIELDS };
enum { RED, GREEN, BLUE };

/* Everything in an All, as read back. */
typedef struct sub { char name[32]; bool has_name; int32_t n; } sub;
typedef struct all {
	bool flag;
	uint8_t color;
	int32_t i;
	int64_t l;
	double d;
	char s[64];
	size_t s_ncp;
	uint8_t raw[16];
	uint32_t nraw;
	int32_t ints[8];
	uint32_t nints;
	int64_t longs[8];
	uint32_t nlongs;
	char strs[8][16];
	uint32_t nstrs;
	bool has_sub;
	sub sub;
	sub subs[8];
	uint32_t nsubs;
	double dbls[8];
	uint32_t ndbls;
} all;

static int read_sub(const st_fbr *t, sub *o, st_verr *e)
{
	st_str s;
	int r = st_fbr_str(t, S_NAME, &s, NULL, e);
	if (r < 0)
		return -1;
	o->has_name = r == 1;
	snprintf(o->name, sizeof(o->name), "%s", r == 1 ? s.ptr : "");
	return st_fbr_i32(t, S_N, 0, &o->n, e);
}

/* Reads every field, as generated code would; -1 on the first error. */
static int read_all(const uint8_t *buf, size_t len, all *o, st_verr *e)
{
	st_fbr t, st;
	st_fbvec v;
	st_str s;
	int r;
	memset(o, 0, sizeof(*o));
	st_verr_init(e);
	if (st_fbr_root(buf, len, "CDC1", &t, e) < 0 ||
	    st_fbr_bool(&t, A_FLAG, false, &o->flag, e) < 0 ||
	    st_fbr_u8(&t, A_COLOR, GREEN, &o->color, e) < 0 ||
	    st_fbr_i32(&t, A_I, 7, &o->i, e) < 0 ||
	    st_fbr_i64(&t, A_L, 0, &o->l, e) < 0 ||
	    st_fbr_f64(&t, A_D, 0, &o->d, e) < 0)
		return -1;
	if ((r = st_fbr_str(&t, A_S, &s, &o->s_ncp, e)) < 0)
		return -1;
	if (r)
		snprintf(o->s, sizeof(o->s), "%s", s.ptr);
	st_bytes by;
	if ((r = st_fbr_bytes(&t, A_RAW, &by, e)) < 0)
		return -1;
	for (size_t k = 0; r && k < by.len && k < 16; k++)
		o->raw[o->nraw++] = by.ptr[k];
	if ((r = st_fbr_vec(&t, A_INTS, 4, &v, e)) < 0)
		return -1;
	for (uint32_t k = 0; r && k < v.n && k < 8; k++)
		o->ints[o->nints++] = st_fbvec_i32(&v, k);
	if ((r = st_fbr_vec(&t, A_LONGS, 8, &v, e)) < 0)
		return -1;
	for (uint32_t k = 0; r && k < v.n && k < 8; k++)
		o->longs[o->nlongs++] = st_fbvec_i64(&v, k);
	if ((r = st_fbr_vec(&t, A_STRS, 4, &v, e)) < 0)
		return -1;
	for (uint32_t k = 0; r && k < v.n && k < 8; k++) {
		if (st_fbvec_str(&v, k, &s, NULL, e) < 0)
			return -1;
		snprintf(o->strs[o->nstrs++], 16, "%s", s.ptr);
	}
	if ((r = st_fbr_table(&t, A_SUB, &st, e)) < 0)
		return -1;
	o->has_sub = r == 1;
	if (r && read_sub(&st, &o->sub, e) < 0)
		return -1;
	if ((r = st_fbr_vec(&t, A_SUBS, 4, &v, e)) < 0)
		return -1;
	for (uint32_t k = 0; r && k < v.n && k < 8; k++)
		if (st_fbvec_table(&v, k, &st, e) < 0 ||
		    read_sub(&st, &o->subs[o->nsubs++], e) < 0)
			return -1;
	if ((r = st_fbr_vec(&t, A_DBLS, 8, &v, e)) < 0)
		return -1;
	for (uint32_t k = 0; r && k < v.n && k < 8; k++)
		o->dbls[o->ndbls++] = st_fbvec_f64(&v, k);
	return 0;
}

/* The values of tests/fixtures/codec.json, by hand. */
static void check_fixture(const all *o, const char *who)
{
	ok(o->flag == true, "%s: flag", who);
	is_int(o->color, GREEN, "%s: color (default, left out by flatc)", who);
	is_int(o->i, -123456, "%s: i", who);
	is_int(o->l, -9007199254740993LL, "%s: l", who);
	ok(o->d == -2.75, "%s: d", who);
	is(o->s, "h\xc3\xa9llo \xf0\x9f\x98\x80", "%s: s", who);
	is_int(o->s_ncp, 7, "%s: s code points", who);
	ok(o->nraw == 5 && o->raw[0] == 0 && o->raw[1] == 1 && o->raw[2] == 127 &&
	   o->raw[3] == 128 && o->raw[4] == 255, "%s: raw", who);
	ok(o->nints == 3 && o->ints[0] == INT32_MAX && o->ints[1] == INT32_MIN &&
	   o->ints[2] == 0, "%s: ints", who);
	ok(o->nlongs == 2 && o->longs[0] == INT64_MAX && o->longs[1] == -1,
	   "%s: longs", who);
	ok(o->nstrs == 3 && !strcmp(o->strs[0], "") && !strcmp(o->strs[1], "a") &&
	   !strcmp(o->strs[2], "\xe2\x82\xac"), "%s: strs", who);
	ok(o->has_sub && !strcmp(o->sub.name, "inner") && o->sub.n == 5,
	   "%s: sub", who);
	ok(o->nsubs == 3 && !o->subs[0].has_name && o->subs[0].n == 1 &&
	   o->subs[1].has_name && !strcmp(o->subs[1].name, "two") &&
	   o->subs[1].n == 0 && !o->subs[2].has_name && o->subs[2].n == 0,
	   "%s: subs", who);
	ok(o->ndbls == 2 && o->dbls[0] == 0.5 && o->dbls[1] == -1e300,
	   "%s: dbls", who);
}

/* The same values through st_fbb, in the order generated code uses. */
static int build_fixture(st_fbb *b, const uint8_t **data, size_t *len)
{
	static const uint8_t raw[] = { 0, 1, 127, 128, 255 };
	static const int32_t ints[] = { INT32_MAX, INT32_MIN, 0 };
	static const int64_t longs[] = { INT64_MAX, -1 };
	static const double dbls[] = { 0.5, -1e300 };
	const char *s = "h\xc3\xa9llo \xf0\x9f\x98\x80";
	st_fbref rs = st_fbb_str(b, s, strlen(s));
	st_fbref rraw = st_fbb_bytes(b, raw, 5);
	st_fbref rints = st_fbb_vec_scalars(b, ints, 3, 4);
	st_fbref rlongs = st_fbb_vec_scalars(b, longs, 2, 8);
	st_fbref strs[3] = { st_fbb_str(b, "", 0), st_fbb_str(b, "a", 1),
			     st_fbb_str(b, "\xe2\x82\xac", 3) };
	st_fbref rstrs = st_fbb_vec_refs(b, strs, 3);
	st_fbref inner = st_fbb_str(b, "inner", 5);
	st_fbb_table_begin(b, S_NFIELDS);
	st_fbb_add_ref(b, S_NAME, inner);
	st_fbb_add_i32(b, S_N, 5, 0);
	st_fbref rsub = st_fbb_table_end(b);
	st_fbref subs[3];
	st_fbb_table_begin(b, S_NFIELDS);
	st_fbb_add_i32(b, S_N, 1, 0);
	subs[0] = st_fbb_table_end(b);
	st_fbref two = st_fbb_str(b, "two", 3);
	st_fbb_table_begin(b, S_NFIELDS);
	st_fbb_add_ref(b, S_NAME, two);
	st_fbb_add_i32(b, S_N, 0, 0);  /* the default: left out */
	subs[1] = st_fbb_table_end(b);
	st_fbb_table_begin(b, S_NFIELDS);
	subs[2] = st_fbb_table_end(b);
	st_fbref rsubs = st_fbb_vec_refs(b, subs, 3);
	st_fbref rdbls = st_fbb_vec_scalars(b, dbls, 2, 8);
	st_fbb_table_begin(b, A_NFIELDS);
	st_fbb_add_bool(b, A_FLAG, true, false);
	st_fbb_add_u8(b, A_COLOR, GREEN, GREEN);
	st_fbb_add_i32(b, A_I, -123456, 7);
	st_fbb_add_i64(b, A_L, -9007199254740993LL, 0);
	st_fbb_add_f64(b, A_D, -2.75, 0);
	st_fbb_add_ref(b, A_S, rs);
	st_fbb_add_ref(b, A_RAW, rraw);
	st_fbb_add_ref(b, A_INTS, rints);
	st_fbb_add_ref(b, A_LONGS, rlongs);
	st_fbb_add_ref(b, A_STRS, rstrs);
	st_fbb_add_ref(b, A_SUB, rsub);
	st_fbb_add_ref(b, A_SUBS, rsubs);
	st_fbb_add_ref(b, A_DBLS, rdbls);
	st_fbref root = st_fbb_table_end(b);
	return st_fbb_finish(b, root, "CDC1", data, len);
}

static char tmpdir[200];
static const char *srcdir;

static int have_flatc(void)
{
	return system("flatc --version >/dev/null 2>&1") == 0;
}

/* st_fbb -> flatc --json -> jansson, compared with the hand values. */
static void test_build_to_flatc(const uint8_t *data, size_t len)
{
	char path[256], cmd[1024];
	snprintf(path, sizeof(path), "%s/built.bin", tmpdir);
	FILE *f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "flatc --json --strict-json --raw-binary -o %s %s/tests/fixtures/codec.fbs -- %s",
		 tmpdir, srcdir, path);
	is_int(system(cmd), 0, "flatc decodes our buffer");
	snprintf(path, sizeof(path), "%s/built.json", tmpdir);
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);
	if (!ok(j != NULL, "flatc wrote JSON")) {
		diag("%s", err.text);
		return;
	}
	ok(json_is_true(json_object_get(j, "flag")), "flatc: flag");
	ok(json_object_get(j, "color") == NULL ||
	   !strcmp(json_string_value(json_object_get(j, "color")) ?: "", "green"),
	   "flatc: color default");
	is_int(json_integer_value(json_object_get(j, "i")), -123456, "flatc: i");
	is_int(json_integer_value(json_object_get(j, "l")), -9007199254740993LL, "flatc: l");
	ok(json_real_value(json_object_get(j, "d")) == -2.75, "flatc: d");
	is(json_string_value(json_object_get(j, "s")),
	   "h\xc3\xa9llo \xf0\x9f\x98\x80", "flatc: s");
	json_t *a = json_object_get(j, "raw");
	ok(json_array_size(a) == 5 &&
	   json_integer_value(json_array_get(a, 3)) == 128 &&
	   json_integer_value(json_array_get(a, 4)) == 255, "flatc: raw");
	a = json_object_get(j, "ints");
	ok(json_array_size(a) == 3 &&
	   json_integer_value(json_array_get(a, 0)) == INT32_MAX &&
	   json_integer_value(json_array_get(a, 1)) == INT32_MIN, "flatc: ints");
	a = json_object_get(j, "longs");
	ok(json_array_size(a) == 2 &&
	   json_integer_value(json_array_get(a, 0)) == INT64_MAX &&
	   json_integer_value(json_array_get(a, 1)) == -1, "flatc: longs");
	a = json_object_get(j, "strs");
	ok(json_array_size(a) == 3 &&
	   !strcmp(json_string_value(json_array_get(a, 2)), "\xe2\x82\xac"),
	   "flatc: strs");
	json_t *s = json_object_get(j, "sub");
	ok(!strcmp(json_string_value(json_object_get(s, "name")) ?: "", "inner") &&
	   json_integer_value(json_object_get(s, "n")) == 5, "flatc: sub");
	a = json_object_get(j, "subs");
	ok(json_array_size(a) == 3 &&
	   json_integer_value(json_object_get(json_array_get(a, 0), "n")) == 1 &&
	   !strcmp(json_string_value(json_object_get(json_array_get(a, 1), "name")) ?: "", "two") &&
	   json_object_size(json_array_get(a, 2)) == 0, "flatc: subs");
	a = json_object_get(j, "dbls");
	ok(json_array_size(a) == 2 &&
	   json_number_value(json_array_get(a, 0)) == 0.5 &&
	   json_number_value(json_array_get(a, 1)) == -1e300, "flatc: dbls");
	json_decref(j);
}

/* flatc -b from the JSON fixture, read with st_fbr. */
static uint8_t *flatc_buffer(size_t *len)
{
	char cmd[1024], path[256];
	snprintf(cmd, sizeof(cmd), "flatc -b -o %s %s/tests/fixtures/codec.fbs %s/tests/fixtures/codec.json",
		 tmpdir, srcdir, srcdir);
	is_int(system(cmd), 0, "flatc encodes the fixture");
	snprintf(path, sizeof(path), "%s/codec.bin", tmpdir);
	return file_read(path, len);
}

/* Cut at every length and every bit flipped, plus random bytes: the reader
 * returns -1 or values, never reads outside (ASan) or crashes. */
static void test_corruption(const uint8_t *good, size_t len, const char *who)
{
	all o;
	st_verr e;
	int ok_cuts = 0, refused = 0;
	for (size_t k = 0; k < len; k++) {
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, good, k);
		if (read_all(p, k, &o, &e) < 0) {
			refused++;
			if (!e.msg[0])
				diag("cut %zu: no message", k);
		} else {
			ok_cuts++;
		}
		free(p);
	}
	is_int(refused, len, "%s: all %zu truncations refused", who, len);

	int flips = 0, accepted = 0;
	uint8_t *p = malloc(len);
	for (size_t k = 0; k < len; k++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(p, good, len);
			p[k] ^= (uint8_t)(1 << bit);
			accepted += read_all(p, len, &o, &e) == 0;
			flips++;
		}
	}
	unsigned seed = 99;
	for (int round = 0; round < 20000; round++) {
		memcpy(p, good, len);
		for (int m = 0; m < 1 + round % 4; m++) {
			seed = seed * 1103515245 + 12345;
			p[(seed >> 8) % len] = (uint8_t)(seed >> 24);
		}
		accepted += read_all(p, len, &o, &e) == 0;
		flips++;
	}
	free(p);
	ok(1, "%s: %d corrupted buffers survived (%d still read)", who, flips, accepted);
	ok(accepted < flips, "%s: some corruption detected", who);
}

/* Hand-made buffers for each check of the reader. */
static void test_invalid(void)
{
	st_fbr t;
	st_verr e;
	/* root 8 -> table at 8 with soffset 4 -> vtable at 4: [4, 4]: empty */
	uint8_t ok_buf[12] = { 8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0 };
	is_int(st_fbr_root(ok_buf, 12, NULL, &t, &e), 0, "minimal empty table");
	int32_t i32 = 0;
	ok(st_fbr_i32(&t, 3, 42, &i32, &e) == 0 && i32 == 42, "absent field reads as default");
	ok(!st_fbr_has(&t, 0), "has: absent");

	uint8_t b[64];
	struct { const char *what; int (*mk)(uint8_t *); } unused;
	(void)unused;

#define CASE(name, len, ident, ...)                                          \
	do {                                                                 \
		static const uint8_t src[] = { __VA_ARGS__ };                \
		memset(b, 0, sizeof(b));                                     \
		memcpy(b, src, sizeof(src));                                 \
		st_verr_init(&e);                                            \
		is_int(st_fbr_root(b, len, ident, &t, &e), -1, name);       \
		ok(!strncmp(e.msg, "invalid FlatBuffer: ", 20), "%s: %s", name, e.msg); \
	} while (0)

	CASE("empty buffer", 0, NULL, 0);
	CASE("3 bytes", 3, NULL, 4, 0, 0);
	CASE("root offset 0", 8, NULL, 0, 0, 0, 0);
	CASE("root past the end", 12, NULL, 12, 0, 0, 0);
	CASE("root misaligned", 16, NULL, 6, 0, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0);
	CASE("vtable before the buffer", 12, NULL, 8, 0, 0, 0, 4, 0, 4, 0, 16, 0, 0, 0);
	CASE("vtable after the buffer", 12, NULL, 8, 0, 0, 0, 4, 0, 4, 0, 0xf0, 0xff, 0xff, 0xff);
	CASE("vtable odd", 16, NULL, 8, 0, 0, 0, 0, 4, 0, 4, 3, 0, 0, 0);
	CASE("vtable size odd", 12, NULL, 8, 0, 0, 0, 5, 0, 4, 0, 4, 0, 0, 0);
	CASE("vtable size 2", 12, NULL, 8, 0, 0, 0, 2, 0, 4, 0, 4, 0, 0, 0);
	CASE("vtable past the end", 12, NULL, 8, 0, 0, 0, 40, 0, 4, 0, 4, 0, 0, 0);
	CASE("table size 2", 12, NULL, 8, 0, 0, 0, 4, 0, 2, 0, 4, 0, 0, 0);
	CASE("table past the end", 12, NULL, 8, 0, 0, 0, 4, 0, 8, 0, 4, 0, 0, 0);
	CASE("wrong identifier", 16, "CDC1", 12, 0, 0, 0, 'X', 'D', 'C', '1', 4, 0, 4, 0, 4, 0, 0, 0);
	CASE("identifier but too short", 6, "CDC1", 8, 0, 0, 0, 'C', 'D');
#undef CASE

	/* fields: vtable [8, 12, f0, f1] at 4, table at 12 (soffset 8), 12 bytes */
#define FIELD(name, want_, f0, f1, ...)                                              \
	do {                                                                  \
		uint8_t fb[40] = { 12, 0, 0, 0, 8, 0, 12, 0, f0, 0, f1, 0,    \
				   8, 0, 0, 0, __VA_ARGS__ };                 \
		st_verr_init(&e);                                             \
		int rr = st_fbr_root(fb, sizeof(fb), NULL, &t, &e);           \
		is_int(rr, 0, "%s: root reads", name);                        \
		st_str s_;                                                    \
		int64_t i64_;                                                 \
		int r1 = st_fbr_i64(&t, 0, 0, &i64_, &e);                      \
		int r2 = r1 < 0 ? -1 : st_fbr_str(&t, 1, &s_, NULL, &e);       \
		is_int(r2, -1, "%s: refused", name);                          \
		is(e.msg, want_, "%s: message", name);                        \
	} while (0)

#define OUTSIDE "invalid FlatBuffer: field outside its table"
#define OFFSET "invalid FlatBuffer: offset out of bounds"
#define STROUT "invalid FlatBuffer: string out of bounds"
	FIELD("i64 past the table", OUTSIDE, 8, 0, 0);
	FIELD("field offset inside the soffset", OUTSIDE, 2, 0, 0);
	FIELD("string offset 0", OFFSET, 0, 4, 0, 0, 0, 0);
	FIELD("string past the end", OFFSET, 0, 4, 100, 0, 0, 0);
	FIELD("string offset misaligned", OFFSET, 0, 4, 6, 0, 0, 0);
	FIELD("string length too long", STROUT, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0);
	FIELD("string length huge", STROUT, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff);
	FIELD("string not terminated", "invalid FlatBuffer: string not terminated", 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 'c');
	FIELD("string not UTF-8", "must not contain invalid UTF-8", 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0xc0, 0x80, 0);
	FIELD("offset negative as soffset", OFFSET, 0, 4, 0, 0, 0, 0x80);
#undef FIELD

	{
		/* i32 at table offset 6: inside the table, not 4-aligned */
		uint8_t fb[24] = { 12, 0, 0, 0, 6, 0, 12, 0, 6, 0, 0, 0,
				   8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
		is_int(st_fbr_root(fb, sizeof(fb), NULL, &t, &e), 0, "misaligned: root reads");
		is_int(st_fbr_i32(&t, 0, 0, &i32, &e), -1, "i32 misaligned refused");
		is(e.msg, "invalid FlatBuffer: misaligned field", "misaligned message");
	}

	/* a valid string field, for contrast */
	{
		/* exactly 31 bytes: the string ends the buffer */
		uint8_t fb[31] = { 12, 0, 0, 0, 8, 0, 12, 0, 0, 0, 4, 0, 8, 0, 0, 0,
				   8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'o', 'k', 0 };
		st_str s;
		size_t ncp;
		st_fbr_root(fb, sizeof(fb), NULL, &t, &e);
		ok(st_fbr_str(&t, 1, &s, &ncp, &e) == 1 && s.len == 2 &&
		   !strcmp(s.ptr, "ok") && ncp == 2, "hand-made string reads");
		ok(st_fbr_has(&t, 1) && !st_fbr_has(&t, 0) && !st_fbr_has(&t, 2),
		   "has");
		st_fbvec v;
		is_int(st_fbr_vec(&t, 1, 8, &v, &e), -1, "vector of 8-byte elements misaligned");
		is_int(st_fbr_vec(&t, 1, 4, &v, &e), -1, "2 elements of 4 bytes do not fit");
		ok(st_fbr_vec(&t, 1, 1, &v, &e) == 1 && v.n == 2, "2 bytes fit");
		is_int(st_fbvec_u8(&v, 5), 0, "index past n reads 0");
		st_fbr sub;
		is_int(st_fbr_table(&t, 1, &sub, &e), -1, "a string is not a table");
	}
}

/* Tables nested through slot 0, deeper than ST_FB_MAX_DEPTH. */
static void test_depth(void)
{
	st_fbb b;
	st_fbb_init(&b, 1 << 20);
	st_fbref prev = 0;
	for (int d = 0; d < ST_FB_MAX_DEPTH + 5; d++) {
		st_fbb_table_begin(&b, 2);
		st_fbb_add_ref(&b, 0, prev);
		st_fbb_add_i32(&b, 1, d, -1);
		prev = st_fbb_table_end(&b);
	}
	const uint8_t *data;
	size_t len;
	is_int(st_fbb_finish(&b, prev, NULL, &data, &len), 0, "deep chain built");
	st_fbr t, next;
	st_verr e;
	st_fbr_root(data, len, NULL, &t, &e);
	int levels = 0, r;
	while ((r = st_fbr_table(&t, 0, &next, &e)) == 1) {
		t = next;
		levels++;
	}
	is_int(r, -1, "too deep refused");
	is_int(levels, ST_FB_MAX_DEPTH, "after %d levels", ST_FB_MAX_DEPTH);
	is(e.msg, "is nested more than 64 levels deep", "depth message");
	st_fbb_fini(&b);
}

static void test_builder_errors(void)
{
	st_fbb b;
	const uint8_t *data;
	size_t len;
	st_fbb_init(&b, 64);
	char big[100] = { 0 };
	ok(st_fbb_str(&b, big, sizeof(big)) == 0, "string over max");
	st_fbb_table_begin(&b, 1);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "failure is sticky");
	st_fbb_reset(&b);
	st_fbb_table_begin(&b, 1);
	st_fbref r = st_fbb_table_end(&b);
	is_int(st_fbb_finish(&b, r, NULL, &data, &len), 0, "reset clears failure");
	is_int(len % 4, 0, "length a multiple of 4");

	st_fbb_reset(&b);
	st_fbb_table_begin(&b, 1);
	st_fbb_table_begin(&b, 1);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "nested table_begin fails");
	st_fbb_reset(&b);
	st_fbb_table_begin(&b, 1);
	st_fbb_str(&b, "x", 1);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "string inside an open table fails");
	st_fbb_reset(&b);
	st_fbb_table_begin(&b, 1);
	st_fbb_add_i32(&b, 1, 5, 0);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "slot past nfields fails");
	st_fbb_reset(&b);
	st_fbb_add_i32(&b, 0, 5, 0);
	is_int(st_fbb_finish(&b, 4, NULL, &data, &len), -1, "field outside a table fails");
	st_fbb_reset(&b);
	st_fbb_table_begin(&b, ST_FBB_MAX_FIELDS + 1);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "too many fields fails");
	st_fbb_reset(&b);
	st_fbb_table_begin(&b, 1);
	st_fbb_add_ref(&b, 0, 1000);
	is_int(st_fbb_finish(&b, st_fbb_table_end(&b), NULL, &data, &len), -1,
	       "reference to nothing fails");
	st_fbb_fini(&b);

	/* growth well past the first block, then read back */
	st_fbb_init(&b, 1 << 22);
	st_fbref refs[3000];
	char name[16];
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "s%d", i);
		refs[i] = st_fbb_str(&b, name, (size_t)n);
	}
	st_fbref vec = st_fbb_vec_refs(&b, refs, 3000);
	st_fbb_table_begin(&b, 1);
	st_fbb_add_ref(&b, 0, vec);
	st_fbref root = st_fbb_table_end(&b);
	is_int(st_fbb_finish(&b, root, NULL, &data, &len), 0, "3000 strings built");
	st_fbr t;
	st_fbvec v;
	st_verr e;
	int good = st_fbr_root(data, len, NULL, &t, &e) == 0 &&
		   st_fbr_vec(&t, 0, 4, &v, &e) == 1 && v.n == 3000;
	for (uint32_t i = 0; good && i < 3000; i++) {
		st_str s;
		snprintf(name, sizeof(name), "s%u", i);
		good = st_fbvec_str(&v, i, &s, NULL, &e) == 0 && !strcmp(s.ptr, name);
	}
	ok(good, "3000 strings read back");
	ok((uintptr_t)data % 8 == 0, "finished bytes 8-aligned in memory");
	st_fbb_fini(&b);

	/* -0.0 keeps its sign; NaN can be stored */
	st_fbb_init(&b, 1024);
	st_fbb_table_begin(&b, 2);
	st_fbb_add_f64(&b, 0, -0.0, 0.0);
	st_fbb_add_f64(&b, 1, NAN, 0.0);
	root = st_fbb_table_end(&b);
	st_fbb_finish(&b, root, NULL, &data, &len);
	double d0 = 1, d1 = 0;
	st_fbr_root(data, len, NULL, &t, &e);
	st_fbr_f64(&t, 0, 0.0, &d0, &e);
	st_fbr_f64(&t, 1, 0.0, &d1, &e);
	ok(d0 == 0 && signbit(d0), "-0.0 survives");
	ok(isnan(d1), "NaN stored");
	st_fbb_fini(&b);
}

int main(void)
{
	srcdir = getenv("ST_SRCDIR") ? getenv("ST_SRCDIR") : ".";
	/* run-test gives each test a scratch folder in ST_TMP */
	const char *tmp = getenv("ST_TMP") ? getenv("ST_TMP") : "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/st-codec-fb.XXXXXX", tmp);
	if (!mkdtemp(tmpdir))
		BAIL_OUT("mkdtemp");

	st_fbb b;
	const uint8_t *data;
	size_t len;
	all o;
	st_verr e;
	st_fbb_init(&b, 1 << 16);
	is_int(build_fixture(&b, &data, &len), 0, "st_fbb builds the fixture");
	is_int(read_all(data, len, &o, &e), 0, "st_fbr reads st_fbb's buffer");
	check_fixture(&o, "st_fbb");
	is_int(len % 8, 0, "length a multiple of the largest alignment");

	if (have_flatc()) {
		test_build_to_flatc(data, len);
		size_t flen = 0;
		uint8_t *fbuf = flatc_buffer(&flen);
		if (ok(fbuf != NULL, "flatc wrote a buffer")) {
			int r = read_all(fbuf, flen, &o, &e);
			if (!ok(r == 0, "st_fbr reads flatc's buffer"))
				diag("%s", e.msg);
			check_fixture(&o, "flatc");
			test_corruption(fbuf, flen, "flatc buffer");
			free(fbuf);
		}
	} else {
		ok(1, "# SKIP flatc not installed");
	}
	test_corruption(data, len, "st_fbb buffer");
	st_fbb_fini(&b);

	test_invalid();
	test_depth();
	test_builder_errors();

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return done_testing();
}
