/* handlers/demo.c: the handlers of service demo (idl/demo.stream).
 * streamc wrote the stubs once; this file is user code, kept in git.
 * New actions get their stubs appended by `make gen`. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "demo.h"

/* echo: Echoes a message back at once (a sync action). */
int demo_echo(st_req *req, const demo_echo_payload *p, demo_echo_result *r)
{
	r->message = st_strdup(req, p->message.ptr);
	if (!r->message.ptr)
		return st_fail(req, ST_E_INTERNAL_ERROR, "out of memory");
	/* st_strdup stops at a NUL; JSON may carry \u0000, so copy by length */
	if (r->message.len != p->message.len) {
		char *s = st_alloc(req, p->message.len + 1);
		if (!s)
			return st_fail(req, ST_E_INTERNAL_ERROR, "out of memory");
		memcpy(s, p->message.ptr, p->message.len);
		r->message = (st_str){ s, p->message.len };
	}
	r->echoed_at = st_now();
	return ST_OK;
}

/* delay: Sleeps for a while, reporting progress (an async action): `ms`
 * in `steps` equal steps, progress after each; stops when cancelled. */
int demo_delay(st_req *req, const demo_delay_payload *p, demo_delay_result *r)
{
	int64_t done = 0;
	for (int32_t i = 1; i <= p->steps; i++) {
		int64_t until = (int64_t)p->ms * i / p->steps;
		int64_t ms = until - done;
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			; /* interrupted: sleep the rest */
		done = until;
		if (st_progress(req, 100.0 * i / p->steps, "step %d of %d", (int)i,
				(int)p->steps) == ST_FAIL)
			return ST_FAIL;
	}
	r->slept_ms = p->ms;
	return ST_OK;
}
