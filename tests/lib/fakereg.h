/* fakereg.h: a registration table for gateway tests (fakereg.c): boom
 * (undeclared error code), echo, fail (st_fail with the payload's code;
 * declares LEDGER_BUSY), report (2 min: async), secret (permission
 * admin:read), sleep ({"ms":N}), validated (validator refuses "bad"). */
#ifndef TEST_FAKEREG_H
#define TEST_FAKEREG_H

#include "streamer/registry.h"

extern const st_registry st__test_registry;

#endif
