/* fakesrv.c: streamerd with the test registry (fakereg.c) instead of the
 * generated one, so gateway tests can reach every router path. */
#include <string.h>

#include "daemon.h"
#include "fakereg.h"

int main(int argc, char **argv)
{
	return st__daemon_main(argc, argv, &st__test_registry);
}
