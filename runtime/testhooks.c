/* testhooks.c: the test hooks' one definition (testhooks.h): zero, so off,
 * unless the test daemon sets them. */
#include "testhooks.h"

#include "log.h"

st__testhooks st__test_hooks;

bool st__test_hook_take(atomic_int *count, const char *what)
{
	int n = atomic_load(count);
	while (n > 0 && !atomic_compare_exchange_weak(count, &n, n - 1)) {
	}
	if (n > 0)
		st__log_warn("test hook", "lost=%s", what);
	return n > 0;
}
