/* async_stub.c: the async engine's entry points as the gateway links them
 * before the engine exists: no engine, so async actions and cancel/status/
 * list answer SERVICE_UNAVAILABLE. Weak: the engine's definitions win (and
 * this file goes away when it lands). */
#include <stddef.h>

#include "async.h"

__attribute__((weak)) void st__async_config_defaults(st__async_config *c)
{
	(void)c;
}

__attribute__((weak)) st__async *st__async_create(const st__async_config *cfg)
{
	(void)cfg;
	return NULL;
}

__attribute__((weak)) int st__async_start(st__async *a)
{
	(void)a;
	return -1;
}

__attribute__((weak)) void st__async_stop(st__async *a)
{
	(void)a;
}

__attribute__((weak)) void st__async_free(st__async *a)
{
	(void)a;
}

__attribute__((weak)) const char *st__async_node_id(const st__async *a)
{
	(void)a;
	return NULL;
}

__attribute__((weak)) int st__async_submit(st__async *a, const st__submit *s,
					   st__submit_cb cb, void *ud)
{
	(void)a, (void)s, (void)cb, (void)ud;
	return -1;
}

__attribute__((weak)) int st__async_status(st__async *a, const char *tenant_id,
					   const char *user_id, const char *request_id,
					   const char *connection_id, st__query_cb cb,
					   void *ud)
{
	(void)a, (void)tenant_id, (void)user_id, (void)request_id;
	(void)connection_id, (void)cb, (void)ud;
	return -1;
}

__attribute__((weak)) int st__async_list(st__async *a, const char *tenant_id,
					 const char *user_id, st__query_cb cb, void *ud)
{
	(void)a, (void)tenant_id, (void)user_id, (void)cb, (void)ud;
	return -1;
}

__attribute__((weak)) int st__async_cancel(st__async *a, const char *tenant_id,
					   const char *user_id, const char *request_id,
					   st__query_cb cb, void *ud)
{
	(void)a, (void)tenant_id, (void)user_id, (void)request_id, (void)cb, (void)ud;
	return -1;
}
