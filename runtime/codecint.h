/* codecint.h: what the codec's files share and nobody else calls. */
#ifndef STREAMER_CODECINT_H
#define STREAMER_CODECINT_H

#include "streamer/codec.h"

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t st__days_from_civil(int64_t y, unsigned m, unsigned d);
void st__civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Base64, RFC 4648 section 4 alphabet, padding required, canonical (the
 * unused bits of the last group must be zero). st__b64_decode writes at
 * most st__b64_max(len) bytes; 0, or -1 if `s` is not such base64. */
#define st__b64_max(len) ((len) / 4 * 3)
int st__b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen);

#endif
