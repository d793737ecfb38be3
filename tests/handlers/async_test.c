/* tests/handlers/async_test.c: the handlers of service async_test
 * (tests/idl/async_test.stream), for the end-to-end tests of the async
 * path. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "async_test.h"

/* flaky: AT_BUSY (retryable) on attempts 1..fail_times, then success. */
int async_test_flaky(st_req *req, const async_test_flaky_payload *p,
		     async_test_flaky_result *r)
{
	int attempt = st_attempt(req);
	if (attempt <= p->fail_times)
		return st_fail(req, ASYNC_TEST_E_AT_BUSY, "busy on attempt %d", attempt);
	r->attempt = attempt;
	return ST_OK;
}

/* hang: reports nothing and sleeps until told to stop (a timeout or a
 * cancel), then gives up. */
int async_test_hang(st_req *req, const async_test_hang_payload *p,
		    async_test_hang_result *r)
{
	(void)p, (void)r;
	while (!st_cancelled(req)) {
		struct timespec ts = { 0, 10 * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return st_fail(req, ST_E_CANCELLED, NULL);
}

/* lookup: a hit answers at once; a miss defers to an async worker, where
 * the same handler runs again (st_is_async) and answers. */
int async_test_lookup(st_req *req, const async_test_lookup_payload *p,
		      async_test_lookup_result *r)
{
	if (p->miss && !st_is_async(req))
		return ST_DEFER;
	r->key = st_strdup(req, p->key.ptr);
	r->deferred = st_is_async(req);
	return r->key.ptr ? ST_OK : st_fail(req, ST_E_INTERNAL_ERROR, "out of memory");
}

/* big: `size` bytes of 'x'. */
int async_test_big(st_req *req, const async_test_big_payload *p,
		   async_test_big_result *r)
{
	char *s = st_alloc(req, (size_t)p->size + 1);
	if (!s)
		return st_fail(req, ST_E_INTERNAL_ERROR, "out of memory");
	memset(s, 'x', (size_t)p->size);
	s[p->size] = '\0';
	r->data = (st_str){ s, (size_t)p->size };
	return ST_OK;
}

/* sleepy: `ms` in `steps`, progress after each (demo's delay, retried). */
int async_test_sleepy(st_req *req, const async_test_sleepy_payload *p,
		      async_test_sleepy_result *r)
{
	int64_t done = 0;
	for (int32_t i = 1; i <= p->steps; i++) {
		int64_t until = (int64_t)p->ms * i / p->steps, ms = until - done;
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		done = until;
		if (st_progress(req, 100.0 * i / p->steps, "step %d of %d", (int)i,
				(int)p->steps) == ST_FAIL)
			return ST_FAIL;
	}
	r->slept_ms = p->ms;
	r->attempt = st_attempt(req);
	return ST_OK;
}
