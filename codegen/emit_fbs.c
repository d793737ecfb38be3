/* emit_fbs.c: FlatBuffers schemas: gen/<service>.fbs (namespace <service>,
 * a table per struct, <Action>Payload and <Action>Result per action, an
 * enum : ubyte per enum, wrapper tables List_<T> for nested lists) and
 * gen/streamer.fbs, the envelope of the wire protocol. Wire mapping as in
 * runtime/include/streamer/codec.h; field slots follow declaration order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamc.h"

static const char *svc;

static const char *fb_scalar(int base)
{
	switch (base) {
	case B_BOOL: return "bool";
	case B_INT32: return "int";
	case B_INT64: return "long";
	case B_FLOAT64: return "double";
	case B_STRING: return "string";
	case B_BYTES: return "[ubyte]";
	case B_DATE: return "int";
	case B_TIMESTAMP: return "long";
	case B_UUID: return "string";
	}
	return "?";
}

static void decl_ref(const type *t, sbuf *o)
{
	const file *df = t->base == B_ENUM ? t->en->file : t->st->file;
	const char *name = t->base == B_ENUM ? t->en->name : t->st->name;
	if (strcmp(df->service, svc))
		sb_printf(o, "%s.", df->service);
	sb_puts(o, name);
}

static const char *idl_scalar(int base)
{
	static const char *const n[] = {
		[B_BOOL] = "bool", [B_INT32] = "int32", [B_INT64] = "int64",
		[B_FLOAT64] = "float64", [B_STRING] = "string", [B_BYTES] = "bytes",
		[B_DATE] = "date", [B_TIMESTAMP] = "timestamp", [B_UUID] = "uuid",
	};
	return n[base];
}

/* Wrapper table name for a list element that cannot be a vector item: a
 * list<T> item is wrapped in List_<T>, a bytes item in Wrap_bytes. */
static void wrapper_name(const type *t, sbuf *o)
{
	if (t->base == B_BYTES) {
		sb_puts(o, "Wrap_bytes");
		return;
	}
	sb_puts(o, "List_");
	const type *e = t->elem;
	if (e->base == B_LIST)
		wrapper_name(e, o);
	else if (e->base == B_ENUM || e->base == B_STRUCT) {
		const file *df = e->base == B_ENUM ? e->en->file : e->st->file;
		if (strcmp(df->service, svc))
			sb_printf(o, "%s_", df->service);
		sb_puts(o, e->base == B_ENUM ? e->en->name : e->st->name);
	} else
		sb_puts(o, idl_scalar(e->base));
}

static void fb_type(const type *t, sbuf *o)
{
	if (t->base == B_LIST) {
		sb_puts(o, "[");
		if (t->elem->base == B_LIST || t->elem->base == B_BYTES)
			wrapper_name(t->elem, o);
		else
			fb_type(t->elem, o);
		sb_puts(o, "]");
	} else if (t->base == B_ENUM || t->base == B_STRUCT)
		decl_ref(t, o);
	else
		sb_puts(o, fb_scalar(t->base));
}

static void doc_lines(sbuf *o, const char *doc, const char *ind)
{
	if (!doc || !*doc)
		return;
	const char *s = doc;
	for (;;) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		sb_printf(o, "%s/// %.*s\n", ind, (int)n, s);
		if (!nl)
			break;
		s = nl + 1;
	}
}

/* The wrapper tables already written for the file being emitted (owned
 * names), freed by wrappers_free. */
static char **wrappers;
static int nwrappers;

static void wrappers_free(void)
{
	for (int i = 0; i < nwrappers; i++)
		free(wrappers[i]);
	free(wrappers);
	wrappers = NULL;
	nwrappers = 0;
}

static void collect_wrappers(const type *t, sbuf *o)
{
	if (t->base != B_LIST)
		return;
	collect_wrappers(t->elem, o);
	const type *e = t->elem;
	if (e->base != B_LIST && e->base != B_BYTES)
		return;
	sbuf n = { 0 };
	wrapper_name(e, &n);
	for (int i = 0; i < nwrappers; i++)
		if (!strcmp(wrappers[i], n.s)) {
			sb_free(&n);
			return;
		}
	wrappers = xrealloc(wrappers, (size_t)(nwrappers + 1) * sizeof *wrappers);
	wrappers[nwrappers++] = n.s;
	sb_printf(o, "/// Wrapper: one item of a list of %s.\ntable %s {\n  items:",
		  e->base == B_LIST ? "lists" : "bytes", n.s);
	fb_type(e, o);
	sb_puts(o, ";\n}\n\n");
}

static void fb_field(sbuf *o, const field *fl)
{
	doc_lines(o, fl->doc, "  ");
	sb_printf(o, "  %s:", fl->name);
	fb_type(fl->t, o);
	const type *t = fl->t;
	bool scalar = t->base == B_BOOL || t->base == B_INT32 || t->base == B_INT64 ||
		      t->base == B_FLOAT64 || t->base == B_DATE ||
		      t->base == B_TIMESTAMP || t->base == B_ENUM;
	if (scalar && fl->optional && !fl->def)
		sb_puts(o, " = null");
	else if (scalar && fl->def) {
		sb_puts(o, " = ");
		switch (t->base) {
		case B_BOOL: sb_puts(o, fl->def_i ? "true" : "false"); break;
		case B_FLOAT64: {
			char tmp[64];
			snprintf(tmp, sizeof tmp, "%.17g", fl->def_f);
			sb_puts(o, tmp);
			if (!strpbrk(tmp, ".eE"))
				sb_puts(o, ".0");
			break;
		}
		case B_ENUM: sb_puts(o, t->en->values[fl->def_i]); break;
		default: sb_printf(o, "%" PRId64, fl->def_i); break;
		}
	}
	sb_printf(o, "; // slot %d", fl->slot);
	if (fl->def && !scalar)
		sb_puts(o, ", default applied by the reader");
	sb_puts(o, "\n");
}

static void fb_table(sbuf *o, const char *name, const record *r, const char *doc)
{
	doc_lines(o, doc, "");
	sb_printf(o, "table %s {\n", name);
	for (int i = 0; i < r->n; i++)
		fb_field(o, r->fields[i]);
	sb_puts(o, "}\n\n");
}

void emit_fbs(file *f, sbuf *o)
{
	svc = f->service;
	wrappers_free();
	const char *shown = f->path[0] == '/' ? strrchr(f->path, '/') + 1 : f->path;
	sb_printf(o, "// Generated by streamc from %s. DO NOT EDIT.\n", shown);
	sb_printf(o, "// Change %s and run `make gen`. Mapping: docs/idl.md.\n\n", shown);
	for (int i = 0; i < f->n_imports; i++)
		if (f->imports[i].target)
			sb_printf(o, "include \"%s.fbs\";\n", f->imports[i].target->service);
	if (f->n_imports)
		sb_puts(o, "\n");
	doc_lines(o, f->doc, "");
	sb_printf(o, "namespace %s;\n\n", svc);
	for (int i = 0; i < f->n_enums; i++) {
		enum_decl *e = f->enums[i];
		doc_lines(o, e->doc, "");
		sb_printf(o, "enum %s : ubyte {\n", e->name);
		for (int k = 0; k < e->n; k++) {
			doc_lines(o, e->docs[k], "  ");
			sb_printf(o, "  %s = %d%s\n", e->values[k], k, k + 1 < e->n ? "," : "");
		}
		sb_puts(o, "}\n\n");
	}
	for (int i = 0; i < f->n_structs; i++)
		for (int k = 0; k < f->structs[i]->rec.n; k++)
			collect_wrappers(f->structs[i]->rec.fields[k]->t, o);
	for (int i = 0; i < f->n_actions; i++) {
		for (int k = 0; k < f->actions[i]->payload.n; k++)
			collect_wrappers(f->actions[i]->payload.fields[k]->t, o);
		for (int k = 0; k < f->actions[i]->result.n; k++)
			collect_wrappers(f->actions[i]->result.fields[k]->t, o);
	}
	for (int i = 0; i < f->n_structs; i++)
		fb_table(o, f->structs[i]->name, &f->structs[i]->rec, f->structs[i]->doc);
	for (int i = 0; i < f->n_actions; i++) {
		action *a = f->actions[i];
		char *c = camel(a->name);
		char *pn = xprintf("%sPayload", c), *rn = xprintf("%sResult", c);
		char *pd = xprintf("The payload of `%s`.%s%s", a->name, a->doc ? "\n" : "",
				   a->doc ? a->doc : "");
		char *rd = xprintf("The result of `%s`.", a->name);
		fb_table(o, pn, &a->payload, pd);
		fb_table(o, rn, &a->result, rd);
		free(c);
		free(pn);
		free(rn);
		free(pd);
		free(rd);
	}
	/* drop the last blank line */
	if (o->len >= 2 && o->s[o->len - 1] == '\n' && o->s[o->len - 2] == '\n')
		o->s[--o->len] = '\0';
	wrappers_free();
}

void emit_envelope(sbuf *o)
{
	sb_puts(o,
"// Generated by streamc: the envelope of the wire protocol. DO NOT EDIT.\n"
"// Binary WebSocket frames carry one Envelope (file identifier \"STRM\");\n"
"// the fields mirror the JSON messages of spec/protocol.md. Field slots\n"
"// are fixed by the `id` attributes and never reused.\n"
"\n"
"namespace streamer;\n"
"\n"
"/// The `type` of a message.\n"
"enum MessageType : ubyte {\n"
"  /// client: run an action (the default)\n"
"  request = 0,\n"
"  /// client: cancel request_id\n"
"  cancel = 1,\n"
"  /// client: ask for request_id's state; server: the answer (in `data`)\n"
"  status = 2,\n"
"  /// client: the user's recent requests; server: the answer (in `data`)\n"
"  list = 3,\n"
"  /// client: liveness check\n"
"  ping = 4,\n"
"  /// server: a sync action finished (`payload` holds its <Action>Result)\n"
"  response = 5,\n"
"  /// server: an async action was queued\n"
"  acknowledgment = 6,\n"
"  /// server: progress of an async action\n"
"  progress = 7,\n"
"  /// server: an async action finished (`payload` holds its <Action>Result)\n"
"  complete = 8,\n"
"  /// server: any failure (`error`)\n"
"  error = 9,\n"
"  /// server: the answer to ping\n"
"  pong = 10\n"
"}\n"
"\n"
"/// The `error` object of an error message.\n"
"table ErrorInfo {\n"
"  code:string (id: 0);            // VALIDATION_ERROR, a service's own code...\n"
"  message:string (id: 1);\n"
"  /// the failing field's path (payload.range.end), VALIDATION_ERROR only\n"
"  field:string (id: 2);\n"
"  /// RATE_LIMITED: when to try again\n"
"  retry_after_ms:long = null (id: 3);\n"
"  /// extra details as JSON text\n"
"  details:string (id: 4);\n"
"}\n"
"\n"
"/// One request's state: the `data` of status (one item) and list answers.\n"
"table RequestState {\n"
"  request_id:string (id: 0);\n"
"  action:string (id: 1);\n"
"  /// queued, running, completed, failed, cancelled\n"
"  status:string (id: 2);\n"
"  percentage:double (id: 3);\n"
"  message:string (id: 4);\n"
"  attempts:int (id: 5);\n"
"  /// Unix ms\n"
"  created_at:long (id: 6);\n"
"  /// a nested buffer whose root is the action's <Action>Result, when finished\n"
"  result:[ubyte] (id: 7);\n"
"  error:ErrorInfo (id: 8);\n"
"  id:string (id: 9);\n"
"}\n"
"\n"
"table Envelope {\n"
"  type:MessageType = request (id: 0);\n"
"  /// the client's own correlation id (at most 128 bytes)\n"
"  id:string (id: 1);\n"
"  /// server-assigned (a uuid)\n"
"  request_id:string (id: 2);\n"
"  action:string (id: 3);\n"
"  /// a nested FlatBuffer: <Action>Payload of gen/<service>.fbs in a\n"
"  /// request, <Action>Result in response and complete\n"
"  payload:[ubyte] (id: 4);\n"
"  /// progress: 0..100, never decreasing\n"
"  percentage:double (id: 5);\n"
"  message:string (id: 6);\n"
"  /// Unix ms\n"
"  timestamp:long (id: 7);\n"
"  success:bool (id: 8);\n"
"  error:ErrorInfo (id: 9);\n"
"  /// acknowledgment: \"queued\"\n"
"  status:string (id: 10);\n"
"  /// acknowledgment: the action's declared duration\n"
"  estimated_duration_ms:long (id: 11);\n"
"  /// status (one item) and list answers\n"
"  data:[RequestState] (id: 12);\n"
"  /// request metadata as JSON text (e.g. {\"trace_id\":\"...\"})\n"
"  metadata:string (id: 13);\n"
"}\n"
"\n"
"root_type Envelope;\n"
"file_identifier \"STRM\";\n");
}
