/* files.h: whole files and shell commands for C tests that cross-check
 * against other programs (flatc, the C++ verifier). */
#ifndef FILES_H
#define FILES_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes n bytes; 0 or -1. */
static inline int file_write(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

/* The whole file (malloc'd, with a '\0' after the last byte), or NULL. */
static inline uint8_t *file_read(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	uint8_t *p = malloc(cap);
	while (p) {
		len += fread(p + len, 1, cap - len - 1, f);
		if (len < cap - 1)
			break;
		uint8_t *q = realloc(p, cap *= 2);
		if (!q)
			free(p);
		p = q;
	}
	fclose(f);
	if (p) {
		p[len] = '\0';
		*n = len;
	}
	return p;
}

/* system() of a printf-formatted command: its wait status. */
static inline __attribute__((format(printf, 1, 2))) int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof cmd)
		return -1;
	return system(cmd);
}

#endif
