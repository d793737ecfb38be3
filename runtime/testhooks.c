/* testhooks.c: the test hooks' one definition (testhooks.h): zero, so off,
 * unless the test daemon sets them. */
#include "testhooks.h"

st__testhooks st__test_hooks;
