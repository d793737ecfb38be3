/* fb.c: FlatBuffers: a reader that checks every access, and a builder.
 * Binary-compatible with the official implementation (flatc 2.0.8). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "codecint.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "FlatBuffers are little-endian and so is this runtime");

/* Unaligned-safe loads: the caller's buffer may sit at any address; the
 * alignment checks below are relative to the buffer's start, as in the
 * official Verifier. */
static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int fb_error(st_verr *e, const char *what)
{
	return st_verr_set(e, "invalid FlatBuffer: %s", what);
}

/* --- reader --------------------------------------------------------------- */

/* Checks the table at `pos` and its vtable, then fills `t`. Everything a
 * later field access relies on is established here: the vtable lies in the
 * buffer, and so do the table's tlen bytes. */
static int table_at(const uint8_t *buf, size_t len, uint64_t pos, int depth,
		    st_fbr *t, st_verr *e)
{
	if (depth > ST_FB_MAX_DEPTH)
		return st_verr_set(e, "is nested more than %d levels deep",
				   ST_FB_MAX_DEPTH);
	if (pos % 4 || pos + 4 > len)
		return fb_error(e, "table out of bounds");
	int32_t so;
	memcpy(&so, buf + pos, 4);
	int64_t vpos = (int64_t)pos - so;
	if (vpos < 0 || (uint64_t)vpos + 4 > len || vpos % 2)
		return fb_error(e, "vtable out of bounds");
	uint16_t vlen = rd16(buf + vpos), tlen = rd16(buf + vpos + 2);
	if (vlen < 4 || vlen % 2 || (uint64_t)vpos + vlen > len)
		return fb_error(e, "bad vtable size");
	if (tlen < 4 || pos + tlen > len)
		return fb_error(e, "bad table size");
	*t = (st_fbr){ .buf = buf, .len = len, .pos = (uint32_t)pos,
		       .vpos = (uint32_t)vpos, .vlen = vlen, .tlen = tlen,
		       .depth = depth };
	return 0;
}

int st_fbr_root(const uint8_t *buf, size_t len, const char *ident,
		st_fbr *root, st_verr *e)
{
	if (len > INT32_MAX)  /* offsets are 32-bit; the Verifier's limit too */
		return fb_error(e, "buffer too large");
	if (len < (ident ? 8u : 4u))
		return fb_error(e, "buffer too short");
	if (ident && memcmp(buf + 4, ident, 4) != 0)
		return fb_error(e, "wrong file identifier");
	uint32_t o = rd32(buf);
	if (o == 0)
		return fb_error(e, "bad root offset");
	return table_at(buf, len, o, 0, root, e);
}

/* Where slot's field lies: 1 and *at, 0 when absent, -1 when the vtable
 * puts it (partly) outside the table or misaligned. */
static int field_at(const st_fbr *t, int slot, size_t size, uint32_t *at,
		    st_verr *e)
{
	assert(slot >= 0);
	size_t ve = 4 + 2 * (size_t)slot;
	if (ve + 2 > t->vlen)
		return 0;  /* a vtable older than the schema: absent */
	uint16_t fo = rd16(t->buf + t->vpos + ve);
	if (fo == 0)
		return 0;
	if (fo < 4 || fo + size > t->tlen)
		return fb_error(e, "field outside its table");
	uint32_t p = t->pos + fo;
	if (p % size)
		return fb_error(e, "misaligned field");
	*at = p;
	return 1;
}

bool st_fbr_has(const st_fbr *t, int slot)
{
	size_t ve = 4 + 2 * (size_t)slot;
	return slot >= 0 && ve + 2 <= t->vlen && rd16(t->buf + t->vpos + ve);
}

#define FB_SCALAR(name, type, size, conv)                                      \
	int st_fbr_##name(const st_fbr *t, int slot, type def, type *out,     \
			  st_verr *e)                                          \
	{                                                                      \
		uint32_t at;                                                   \
		int r = field_at(t, slot, size, &at, e);                       \
		if (r < 0)                                                     \
			return -1;                                             \
		if (r == 0) {                                                  \
			*out = def;                                            \
			return 0;                                              \
		}                                                              \
		conv;                                                          \
		return 0;                                                      \
	}

FB_SCALAR(bool, bool, 1, *out = t->buf[at] != 0)
FB_SCALAR(u8, uint8_t, 1, *out = t->buf[at])
FB_SCALAR(i32, int32_t, 4, memcpy(out, t->buf + at, 4))
FB_SCALAR(i64, int64_t, 8, memcpy(out, t->buf + at, 8))
FB_SCALAR(f64, double, 8, memcpy(out, t->buf + at, 8))

/* Follows the uoffset at `at` (4-aligned, inside the buffer) to what it
 * points at: forward, non-zero, 4-aligned, room for a length or soffset. */
static int deref(const uint8_t *buf, size_t len, uint32_t at, uint32_t *target,
		 st_verr *e)
{
	uint32_t o = rd32(buf + at);
	uint64_t tg = (uint64_t)at + o;
	if (o == 0 || o > INT32_MAX || tg % 4 || tg + 4 > len)
		return fb_error(e, "offset out of bounds");
	*target = (uint32_t)tg;
	return 0;
}

/* A string: u32 length, the bytes, a NUL; valid UTF-8. */
static int string_at(const uint8_t *buf, size_t len, uint32_t at, st_str *out,
		     size_t *ncp, st_verr *e)
{
	uint32_t tg = 0;
	if (deref(buf, len, at, &tg, e) < 0)
		return -1;
	uint32_t n = rd32(buf + tg);
	if ((uint64_t)tg + 4 + n + 1 > len)
		return fb_error(e, "string out of bounds");
	const char *s = (const char *)buf + tg + 4;
	if (s[n] != '\0')
		return fb_error(e, "string not terminated");
	size_t cps;
	if (st_utf8_check(s, n, &cps) < 0)
		return st_verr_set(e, "must not contain invalid UTF-8");
	*out = (st_str){ s, n };
	if (ncp)
		*ncp = cps;
	return 0;
}

static int vector_at(const uint8_t *buf, size_t len, uint32_t at,
		     size_t elem_size, int depth, st_fbvec *out, st_verr *e)
{
	uint32_t tg = 0;
	if (deref(buf, len, at, &tg, e) < 0)
		return -1;
	uint32_t n = rd32(buf + tg);
	uint64_t first = (uint64_t)tg + 4;
	if (first % elem_size)
		return fb_error(e, "misaligned vector");
	if ((uint64_t)n * elem_size > len - first)
		return fb_error(e, "vector out of bounds");
	*out = (st_fbvec){ .buf = buf, .len = len, .pos = (uint32_t)first,
			   .n = n, .depth = depth };
	return 0;
}

int st_fbr_str(const st_fbr *t, int slot, st_str *out, size_t *ncp, st_verr *e)
{
	uint32_t at;
	int r = field_at(t, slot, 4, &at, e);
	if (r <= 0)
		return r;
	return string_at(t->buf, t->len, at, out, ncp, e) < 0 ? -1 : 1;
}

int st_fbr_bytes(const st_fbr *t, int slot, st_bytes *out, st_verr *e)
{
	st_fbvec v;
	int r = st_fbr_vec(t, slot, 1, &v, e);
	if (r <= 0)
		return r;
	*out = (st_bytes){ v.buf + v.pos, v.n };
	return 1;
}

int st_fbr_table(const st_fbr *t, int slot, st_fbr *out, st_verr *e)
{
	uint32_t at, tg = 0;
	int r = field_at(t, slot, 4, &at, e);
	if (r <= 0)
		return r;
	if (deref(t->buf, t->len, at, &tg, e) < 0 ||
	    table_at(t->buf, t->len, tg, t->depth + 1, out, e) < 0)
		return -1;
	return 1;
}

int st_fbr_vec(const st_fbr *t, int slot, size_t elem_size, st_fbvec *out,
	       st_verr *e)
{
	assert(elem_size == 1 || elem_size == 2 || elem_size == 4 ||
	       elem_size == 8);
	uint32_t at;
	int r = field_at(t, slot, 4, &at, e);
	if (r <= 0)
		return r;
	return vector_at(t->buf, t->len, at, elem_size, t->depth, out, e) < 0
		       ? -1 : 1;
}

/* Elements: st_fbr_vec checked n * elem_size; an index past n (a caller's
 * bug) reads as zero rather than outside the buffer. */
bool st_fbvec_bool(const st_fbvec *v, uint32_t i)
{
	return i < v->n && v->buf[v->pos + i] != 0;
}

uint8_t st_fbvec_u8(const st_fbvec *v, uint32_t i)
{
	return i < v->n ? v->buf[v->pos + i] : 0;
}

int32_t st_fbvec_i32(const st_fbvec *v, uint32_t i)
{
	int32_t x = 0;
	if (i < v->n)
		memcpy(&x, v->buf + v->pos + 4 * (size_t)i, 4);
	return x;
}

int64_t st_fbvec_i64(const st_fbvec *v, uint32_t i)
{
	int64_t x = 0;
	if (i < v->n)
		memcpy(&x, v->buf + v->pos + 8 * (size_t)i, 8);
	return x;
}

double st_fbvec_f64(const st_fbvec *v, uint32_t i)
{
	double x = 0;
	if (i < v->n)
		memcpy(&x, v->buf + v->pos + 8 * (size_t)i, 8);
	return x;
}

int st_fbvec_str(const st_fbvec *v, uint32_t i, st_str *out, size_t *ncp,
		 st_verr *e)
{
	if (i >= v->n)
		return fb_error(e, "index out of range");
	return string_at(v->buf, v->len, v->pos + 4 * i, out, ncp, e);
}

int st_fbvec_table(const st_fbvec *v, uint32_t i, st_fbr *out, st_verr *e)
{
	uint32_t tg = 0;
	if (i >= v->n)
		return fb_error(e, "index out of range");
	if (deref(v->buf, v->len, v->pos + 4 * i, &tg, e) < 0)
		return -1;
	return table_at(v->buf, v->len, tg, v->depth + 1, out, e);
}

/* --- builder -------------------------------------------------------------- */

/* Offsets count from the end, where building starts, so an object's ref
 * never changes as the buffer grows toward the front. Alignment is also
 * reckoned from the end; finish pads the front so that the total is a
 * multiple of the largest alignment, which makes it hold from the start. */

void st_fbb_init(st_fbb *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->align = 1;
	b->nfields = -1;  /* no table open */
}

void st_fbb_fini(st_fbb *b)
{
	free(b->buf);
	b->buf = NULL;
	b->cap = b->used = 0;
}

void st_fbb_reset(st_fbb *b)
{
	b->used = 0;
	b->align = 1;
	b->failed = false;
	b->nfields = -1;
}

/* Room for n more bytes in front; false (and sticky failure) past max.
 * The end of the block stays 16-aligned in memory so that finished bytes
 * are aligned for in-place readers too. */
static bool fbb_room(st_fbb *b, size_t n)
{
	if (b->failed)
		return false;
	if (n > b->max || b->used > b->max - n) {
		b->failed = true;
		return false;
	}
	if (b->cap - b->used >= n)
		return true;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap - b->used < n)
		cap *= 2;
	uint8_t *nb = malloc(cap);
	if (!nb) {
		b->failed = true;
		return false;
	}
	if (b->used)
		memcpy(nb + cap - b->used, b->buf + b->cap - b->used, b->used);
	free(b->buf);
	b->buf = nb;
	b->cap = cap;
	return true;
}

static uint8_t *fbb_front(st_fbb *b)
{
	return b->buf + b->cap - b->used;
}

static void fbb_push(st_fbb *b, const void *p, size_t n)
{
	if (!fbb_room(b, n))
		return;
	b->used += n;
	if (p)
		memcpy(fbb_front(b), p, n);
	else
		memset(fbb_front(b), 0, n);
}

static void fbb_push32(st_fbb *b, uint32_t v)
{
	fbb_push(b, &v, 4);
}

/* Pads so that, once `extra` more bytes are pushed, the front is aligned
 * to `align` (flatbuffers' PreAlign). */
static void fbb_prep(st_fbb *b, size_t align, size_t extra)
{
	if (align > b->align)
		b->align = align;
	size_t pad = (0 - (b->used + extra)) & (align - 1);
	if (pad)
		fbb_push(b, NULL, pad);
}

/* A uoffset to `ref` from the 4 bytes about to be pushed. */
static void fbb_push_ref(st_fbb *b, st_fbref ref)
{
	fbb_prep(b, 4, 0);
	if (ref == 0 || ref > b->used) {
		b->failed = true;  /* not built in this buffer */
		return;
	}
	fbb_push32(b, (uint32_t)(b->used + 4 - ref));
}

static bool fbb_outside_table(st_fbb *b)
{
	if (b->nfields >= 0)
		b->failed = true;  /* children first, then the table */
	return !b->failed;
}

st_fbref st_fbb_str(st_fbb *b, const char *s, size_t len)
{
	if (!fbb_outside_table(b) || len > INT32_MAX) {
		b->failed = true;
		return 0;
	}
	fbb_prep(b, 4, len + 1);
	fbb_push(b, NULL, 1);  /* the NUL readers may rely on */
	fbb_push(b, s, len);
	fbb_push32(b, (uint32_t)len);
	return b->failed ? 0 : (st_fbref)b->used;
}

st_fbref st_fbb_bytes(st_fbb *b, const uint8_t *p, size_t len)
{
	return st_fbb_vec_scalars(b, p, len, 1);
}

st_fbref st_fbb_vec_scalars(st_fbb *b, const void *elems, size_t n,
			    size_t elem_size)
{
	assert(elem_size == 1 || elem_size == 2 || elem_size == 4 ||
	       elem_size == 8);
	if (!fbb_outside_table(b) || n > INT32_MAX / elem_size) {
		b->failed = true;
		return 0;
	}
	size_t bytes = n * elem_size;
	fbb_prep(b, 4, bytes);
	fbb_prep(b, elem_size, bytes);
	if (bytes)
		fbb_push(b, elems, bytes);
	fbb_push32(b, (uint32_t)n);
	return b->failed ? 0 : (st_fbref)b->used;
}

st_fbref st_fbb_vec_refs(st_fbb *b, const st_fbref *refs, size_t n)
{
	if (!fbb_outside_table(b) || n > INT32_MAX / 4) {
		b->failed = true;
		return 0;
	}
	fbb_prep(b, 4, n * 4);
	for (size_t i = n; i-- > 0;)
		fbb_push_ref(b, refs[i]);
	fbb_push32(b, (uint32_t)n);
	return b->failed ? 0 : (st_fbref)b->used;
}

void st_fbb_table_begin(st_fbb *b, int nfields)
{
	if (b->nfields >= 0 || nfields < 0 || nfields > ST_FBB_MAX_FIELDS) {
		b->failed = true;
		return;
	}
	b->nfields = nfields;
	b->table_start = (uint32_t)b->used;
	memset(b->field_off, 0, sizeof(b->field_off));
}

static bool fbb_slot_ok(st_fbb *b, int slot)
{
	if (b->nfields < 0 || slot < 0 || slot >= b->nfields)
		b->failed = true;  /* a generator's bug, reported by finish */
	return !b->failed;
}

static void fbb_add(st_fbb *b, int slot, const void *v, size_t size)
{
	if (!fbb_slot_ok(b, slot))
		return;
	fbb_prep(b, size, 0);
	fbb_push(b, v, size);
	b->field_off[slot] = (uint32_t)b->used;
}

/* Defaults are compared bit for bit: -0.0 is not left out for 0.0, so its
 * sign survives (flatc leaves it out; either reads back correctly). */
void st_fbb_add_bool(st_fbb *b, int slot, bool v, bool def)
{
	uint8_t x = v;
	if (v != def)
		fbb_add(b, slot, &x, 1);
}

void st_fbb_add_u8(st_fbb *b, int slot, uint8_t v, uint8_t def)
{
	if (v != def)
		fbb_add(b, slot, &v, 1);
}

void st_fbb_add_i32(st_fbb *b, int slot, int32_t v, int32_t def)
{
	if (v != def)
		fbb_add(b, slot, &v, 4);
}

void st_fbb_add_i64(st_fbb *b, int slot, int64_t v, int64_t def)
{
	if (v != def)
		fbb_add(b, slot, &v, 8);
}

void st_fbb_add_f64(st_fbb *b, int slot, double v, double def)
{
	if (memcmp(&v, &def, sizeof(v)) != 0)
		fbb_add(b, slot, &v, 8);
}

void st_fbb_add_ref(st_fbb *b, int slot, st_fbref ref)
{
	if (ref == 0 || !fbb_slot_ok(b, slot))
		return;
	fbb_push_ref(b, ref);
	b->field_off[slot] = (uint32_t)b->used;
}

/* Writes the soffset, then a fresh vtable right in front of the table
 * (vtables are not deduplicated: simpler, and a few bytes per table), and
 * points the one at the other. Trailing absent slots are trimmed from the
 * vtable, as flatc does. */
st_fbref st_fbb_table_end(st_fbb *b)
{
	if (b->nfields < 0) {
		b->failed = true;
		return 0;
	}
	int nf = 0;
	for (int i = 0; i < b->nfields; i++)
		if (b->field_off[i])
			nf = i + 1;
	b->nfields = -1;
	fbb_prep(b, 4, 0);
	fbb_push32(b, 0);
	if (b->failed)
		return 0;
	size_t tref = b->used, tsize = tref - b->table_start;
	if (tsize > UINT16_MAX) {
		b->failed = true;
		return 0;
	}
	uint16_t vt[2 + ST_FBB_MAX_FIELDS];
	vt[0] = (uint16_t)(4 + 2 * nf);
	vt[1] = (uint16_t)tsize;
	for (int i = 0; i < nf; i++)
		vt[2 + i] = b->field_off[i] ? (uint16_t)(tref - b->field_off[i]) : 0;
	fbb_push(b, vt, vt[0]);
	if (b->failed)
		return 0;
	int32_t so = (int32_t)(b->used - tref);  /* table - vtable, > 0 */
	memcpy(b->buf + b->cap - tref, &so, 4);
	return (st_fbref)tref;
}

int st_fbb_finish(st_fbb *b, st_fbref root, const char *ident,
		  const uint8_t **data, size_t *len)
{
	if (b->nfields >= 0 || root == 0 || root > b->used)
		b->failed = true;
	fbb_prep(b, b->align > 4 ? b->align : 4, 4 + (ident ? 4 : 0));
	if (ident)
		fbb_push(b, ident, 4);
	fbb_push_ref(b, root);
	if (b->failed)
		return -1;
	*data = fbb_front(b);
	*len = b->used;
	return 0;
}
