/* main.c: streamc's command line: loads the .stream files and their imports,
 * checks them, generates every output in memory, and only when the whole
 * run succeeded replaces the outputs (temp file + rename, unchanged files
 * left alone). Exit 0 ok, 1 errors in the input, 2 usage, 3 I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "streamc.h"

#define MAX_SOURCE (16u << 20)

/* The syntax trees of every file, their tokens and sources: one arena,
 * freed at exit. */
static arena *tree;
static file **files;
static int nfiles;

static void usage(void)
{
	fputs("usage: streamc -o OUTDIR --handlers HANDLERDIR FILE.stream...\n"
	      "Compiles .stream files into C, FlatBuffers schemas and handler stubs.\n",
	      stderr);
}

/* Lexically normalized path: no "." parts, "a/../" folded. */
static char *normalize(const char *path)
{
	char *buf = xstrdup(path);
	bool abs = path[0] == '/';
	char **parts = xcalloc(strlen(path) + 1, sizeof *parts);
	int n = 0;
	for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..") && n > 0 && strcmp(parts[n - 1], ".."))
			n--;
		else
			parts[n++] = tok;
	}
	sbuf b = { 0 };
	if (abs)
		sb_puts(&b, "/");
	for (int i = 0; i < n; i++) {
		if (i)
			sb_puts(&b, "/");
		sb_puts(&b, parts[i]);
	}
	if (!b.s)
		sb_puts(&b, ".");
	free(parts);
	free(buf);
	return b.s;
}

static char *read_source(const char *path, size_t *len, int *err)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		*err = errno;
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(fp);
		*err = EISDIR;
		return NULL;
	}
	sbuf b = { 0 };
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0) {
		sb_add(&b, tmp, n);
		if (b.len > MAX_SOURCE) {
			fclose(fp);
			free(b.s);
			*err = EFBIG;
			return NULL;
		}
	}
	if (ferror(fp)) {
		*err = errno;
		fclose(fp);
		free(b.s);
		return NULL;
	}
	fclose(fp);
	if (!b.s)
		sb_add(&b, "", 0);
	*len = b.len;
	return b.s;
}

static file *find_file(const char *path)
{
	for (int i = 0; i < nfiles; i++)
		if (!strcmp(files[i]->path, path))
			return files[i];
	return NULL;
}

/* Loads and parses `path`, then its imports, depth first. `from` is the
 * import statement that asked for it (NULL for the command line). */
static file *load(const char *path, const import *from)
{
	file *f = find_file(path);
	if (f)
		return f;
	size_t len;
	int err;
	char *src = read_source(path, &len, &err);
	if (!src) {
		if (from)
			diag(from->at, "cannot import \"%s\": %s", from->path, strerror(err));
		else
			diag((loc){ arena_strdup(tree, path), 0, 0 }, "cannot read the file: %s",
			     strerror(err));
		return NULL;
	}
	f = arena_alloc(tree, sizeof *f);
	f->arena = tree;
	f->path = arena_strdup(tree, path);
	f->src = arena_strndup(tree, src, len);
	f->srclen = len;
	free(src);
	f->order = nfiles;
	diag_file_order(f->path, f->order);
	files = xrealloc(files, (size_t)(nfiles + 1) * sizeof *files);
	files[nfiles++] = f;
	parse_file(f);
	const char *slash = strrchr(f->path, '/');
	for (int i = 0; i < f->n_imports; i++) {
		import *im = &f->imports[i];
		char *joined = im->path[0] == '/' || !slash
				       ? xstrdup(im->path)
				       : xprintf("%.*s/%s", (int)(slash - f->path), f->path, im->path);
		char *norm = normalize(joined);
		free(joined);
		for (int k = 0; k < i; k++)
			if (f->imports[k].target && !strcmp(f->imports[k].target->path, norm)) {
				diag(im->at, "\"%s\" is already imported", im->path);
				goto next;
			}
		if (!strcmp(norm, f->path)) {
			diag(im->at, "import cycle: %s imports itself", f->path);
			goto next;
		}
		im->target = load(norm, im);
next:
		free(norm);
	}
	return f;
}

/* Depth-first search for import cycles; reports the import closing one. */
static void find_cycles(file *f, file **stack, int depth)
{
	f->state = 1;
	stack[depth] = f;
	for (int i = 0; i < f->n_imports; i++) {
		file *g = f->imports[i].target;
		if (!g || g == f)
			continue;
		if (g->state == 1) {
			sbuf b = { 0 };
			int k = 0;
			while (stack[k] != g)
				k++;
			for (; k <= depth; k++) {
				sb_puts(&b, stack[k]->path);
				sb_puts(&b, " -> ");
			}
			sb_puts(&b, g->path);
			diag(f->imports[i].at, "import cycle: %s", b.s);
			sb_free(&b);
		} else if (g->state == 0)
			find_cycles(g, stack, depth + 1);
	}
	f->state = 2;
}

/* --- Output ------------------------------------------------------------------ */

typedef struct output {
	char *path;
	char *tmp;
	sbuf data;
} output;

static output *outs;
static int nouts;

static sbuf *add_output(const char *path)
{
	outs = xrealloc(outs, (size_t)(nouts + 1) * sizeof *outs);
	output *o = &outs[nouts++];
	memset(o, 0, sizeof *o);
	o->path = xstrdup(path);
	sb_add(&o->data, "", 0);
	return &o->data;
}

static bool same_content(const char *path, const sbuf *b)
{
	size_t len;
	int err;
	char *old = read_source(path, &len, &err);
	if (!old)
		return false;
	bool same = len == b->len && !memcmp(old, b->s, len);
	free(old);
	return same;
}

/* Writes every output to a temp file next to it, then renames them all.
 * Unchanged files are not touched (make sees no new timestamp). */
static int commit_outputs(void)
{
	int i;
	for (i = 0; i < nouts; i++) {
		output *o = &outs[i];
		if (same_content(o->path, &o->data))
			continue;
		o->tmp = xprintf("%s.tmp%ld", o->path, (long)getpid());
		FILE *fp = fopen(o->tmp, "wb");
		if (!fp) {
			fprintf(stderr, "streamc: cannot write %s: %s\n", o->tmp, strerror(errno));
			goto fail;
		}
		size_t w = fwrite(o->data.s, 1, o->data.len, fp);
		if (fclose(fp) != 0 || w != o->data.len) {
			fprintf(stderr, "streamc: cannot write %s: %s\n", o->tmp, strerror(errno));
			goto fail;
		}
	}
	for (i = 0; i < nouts; i++) {
		output *o = &outs[i];
		if (o->tmp && rename(o->tmp, o->path) != 0) {
			fprintf(stderr, "streamc: cannot rename %s: %s\n", o->tmp, strerror(errno));
			goto fail;
		}
		free(o->tmp);
		o->tmp = NULL;
	}
	return 0;
fail:
	for (int k = 0; k < nouts; k++)
		if (outs[k].tmp)
			unlink(outs[k].tmp);
	return -1;
}

static int make_dir(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -1;
	if (mkdir(path, 0777) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

/* Frees everything a run allocated: the outputs, the files and their tree,
 * the diagnostics. */
static void cleanup(void)
{
	for (int i = 0; i < nouts; i++) {
		free(outs[i].path);
		free(outs[i].tmp);
		sb_free(&outs[i].data);
	}
	free(outs);
	free(files);
	diag_reset();
	arena_free(tree);
}

/* Loads, checks and generates `inputs`, then writes the outputs. Returns
 * the exit status: 0, 1 (diagnostics printed), 3 (I/O error printed). */
static int compile(const char *outdir, const char *hdir, char **inputs, int ninputs)
{
	tree = arena_create();
	for (int i = 0; i < ninputs; i++) {
		char *norm = normalize(inputs[i]);
		file *f = find_file(norm);
		if (!f)
			f = load(norm, NULL);
		if (f)
			f->on_cmdline = true;
		free(norm);
	}
	file **stack = xcalloc((size_t)nfiles + 1, sizeof *stack);
	for (int i = 0; i < nfiles; i++)
		if (files[i]->state == 0)
			find_cycles(files[i], stack, 0);
	free(stack);
	check_files(files, nfiles);
	if (diag_count()) {
		diag_print();
		return 1;
	}

	/* generate everything in memory */
	for (int i = 0; i < nfiles; i++) {
		file *f = files[i];
		char *p = xprintf("%s/%s.h", outdir, f->service);
		emit_header(f, add_output(p));
		free(p);
		p = xprintf("%s/%s.c", outdir, f->service);
		int failed = 0;
		emit_source(f, add_output(p), &failed);
		free(p);
		p = xprintf("%s/%s.fbs", outdir, f->service);
		emit_fbs(f, add_output(p));
		free(p);
	}
	if (diag_count()) {
		diag_print();
		return 1;
	}
	char *p = xprintf("%s/registry.c", outdir);
	emit_registry(files, nfiles, add_output(p));
	free(p);
	p = xprintf("%s/streamer.fbs", outdir);
	emit_envelope(add_output(p));
	free(p);
	for (int i = 0; i < nfiles; i++) {
		file *f = files[i];
		if (f->n_actions == 0)
			continue;
		p = xprintf("%s/%s.c", hdir, f->service);
		size_t len;
		int err;
		char *old = read_source(p, &len, &err);
		if (!old && err != ENOENT) {
			fprintf(stderr, "streamc: cannot read %s: %s\n", p, strerror(err));
			free(p);
			return 3;
		}
		sbuf add = { 0 };
		emit_stubs(f, old, &add);
		if (add.len) {
			sbuf *o = add_output(p);
			if (old)
				sb_add(o, old, len);
			sb_add(o, add.s, add.len);
		}
		sb_free(&add);
		free(old);
		free(p);
	}
	if (make_dir(outdir) || make_dir(hdir)) {
		fprintf(stderr, "streamc: cannot create %s or %s: %s\n", outdir, hdir,
			strerror(errno));
		return 3;
	}
	if (commit_outputs())
		return 3;
	return 0;
}

int main(int argc, char **argv)
{
	const char *outdir = NULL, *hdir = NULL;
	char **inputs = xcalloc((size_t)argc, sizeof *inputs);
	int ninputs = 0, rc = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-o") && i + 1 < argc)
			outdir = argv[++i];
		else if (!strcmp(a, "--handlers") && i + 1 < argc)
			hdir = argv[++i];
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage();
			rc = 0;
			goto done;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "streamc: unknown option '%s'\n", a);
			usage();
			goto done;
		} else
			inputs[ninputs++] = argv[i];
	}
	if (!outdir || !hdir || ninputs == 0) {
		usage();
		goto done;
	}
	rc = compile(outdir, hdir, inputs, ninputs);
	cleanup();
done:
	free(inputs);
	return rc;
}
