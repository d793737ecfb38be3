/* broadcast.c: encode once per format, then let server.c fan the shared
 * message out on the loop. */
#include <stdatomic.h>

#include "broadcast.h"
#include "router.h"
#include "server.h"

static atomic_ulong encodes_json, encodes_fb;

/* The JSON message with its FlatBuffers twin as `alt`; NULL on OOM. */
static st__msg *encode_pair(const st__event *ev)
{
	st__msg *m = st__router_event_msg(ev, ST__FMT_JSON);
	if (!m)
		return NULL;
	atomic_fetch_add_explicit(&encodes_json, 1, memory_order_relaxed);
	m->alt = st__router_event_msg(ev, ST__FMT_FB);
	if (m->alt) {
		atomic_fetch_add_explicit(&encodes_fb, 1, memory_order_relaxed);
		m->alt->final = m->final;
	}
	return m;
}

int st__broadcast_conns(const char *const *conn_ids, size_t n,
			const st__event *ev)
{
	st__msg *m = encode_pair(ev);
	if (!m)
		return -1;
	int queued = 0;
	for (size_t i = 0; i < n; i++)
		if (st__server_post(ST__TO_CONN, conn_ids[i], NULL, st__msg_ref(m)) == 0)
			queued++;
	st__msg_unref(m);
	return n && !queued ? -1 : 0;
}

int st__broadcast_user(const char *tenant_id, const char *user_id,
		       const st__event *ev)
{
	st__msg *m = encode_pair(ev);
	return m ? st__server_post(ST__TO_USER, tenant_id, user_id, m) : -1;
}

int st__broadcast_tenant(const char *tenant_id, const st__event *ev)
{
	st__msg *m = encode_pair(ev);
	return m ? st__server_post(ST__TO_TENANT, tenant_id, NULL, m) : -1;
}

void st__broadcast_encodes(unsigned long *json, unsigned long *fb)
{
	*json = atomic_load(&encodes_json);
	*fb = atomic_load(&encodes_fb);
}
