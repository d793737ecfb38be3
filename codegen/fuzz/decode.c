/* fuzz/decode.c: libFuzzer target: any bytes as JSON and as a FlatBuffer
 * through the generated decoders of tests/idl/codec_test.stream and the
 * demo service; what decodes is encoded again (JSON and FlatBuffers) and
 * must decode again. Must never crash. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "codec_test.h"
#include "demo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ONE(T)                                                                  \
	do {                                                                    \
		T v, w;                                                         \
		st_json j;                                                      \
		st_verr e;                                                      \
		st_fbr root;                                                    \
		st_verr_init(&e);                                               \
		st_json_init(&j, (const char *)data, size);                     \
		if (T##_decode_json(&j, &v, a, &e) == 0) {                      \
			st_buf b;                                               \
			st_buf_init(&b, 1 << 22);                               \
			T##_encode_json(&v, &b);                                \
			st_json_init(&j, b.data, b.len);                        \
			assert(T##_decode_json(&j, &w, a, &e) == 0);            \
			st_fbb fb;                                              \
			st_fbb_init(&fb, 1 << 22);                              \
			st_fbref r = T##_encode_fb(&fb, &v);                    \
			const uint8_t *out;                                     \
			size_t n;                                               \
			if (st_fbb_finish(&fb, r, NULL, &out, &n) == 0) {       \
				assert(st_fbr_root(out, n, NULL, &root, &e) == 0); \
				assert(T##_decode_fb(&root, &w, a, &e) == 0);   \
			}                                                       \
			st_fbb_fini(&fb);                                       \
			st_buf_fini(&b);                                        \
		}                                                               \
		if (st_fbr_root(data, size, NULL, &root, &e) == 0)              \
			(void)T##_decode_fb(&root, &v, a, &e);                  \
		st_arena_reset(a);                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static st_arena *a;
	if (!a)
		a = st_arena_create(8u << 20);
	ONE(codec_test_scalars_payload);
	ONE(codec_test_constraints_payload);
	ONE(codec_test_lists_payload);
	ONE(codec_test_lists_result);
	ONE(demo_echo_payload);
	ONE(demo_delay_payload);
	return 0;
}
