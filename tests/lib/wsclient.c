/* wsclient.c: raw RFC 6455 client, HTTP GET and server processes for tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

#define MSG_MAX (64u * 1024 * 1024)

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more into c->buf, waiting at most ms. 1 read, 0 timeout, -1 EOF. */
static int fill(wsc *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int r = poll(&p, 1, ms < 0 ? 0 : ms);
	if (r == 0)
		return 0;
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	if (c->cap - c->len < 65536) {
		size_t cap = c->cap ? c->cap * 2 : 131072;
		unsigned char *nb = realloc(c->buf, cap);
		if (!nb)
			return -1;
		c->buf = nb;
		c->cap = cap;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 1;
}

static void consume(wsc *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* A masked frame in a malloc'd buffer, its size in *n; NULL when out of
 * memory. */
static unsigned char *frame_make(int opcode, bool fin, const void *p, size_t len,
				 size_t *n)
{
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 15));
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *f = malloc(h + len);
	if (!f)
		return NULL;
	memcpy(f, hdr, h);
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++)
		f[h + i] = s[i] ^ mask[i & 3];
	*n = h + len;
	return f;
}

int wsc_send_frame(wsc *c, int opcode, bool fin, const void *p, size_t len)
{
	size_t n;
	unsigned char *f = frame_make(opcode, fin, p, len, &n);
	if (!f)
		return -1;
	int rc = write_all(c->fd, f, n);
	free(f);
	return rc;
}

static int connect_early(wsc *c, int port, const char *target,
			 const char *headers, int rcvbuf, const char *early)
{
	memset(c, 0, sizeof *c);
	c->fd = tcp_connect(port, rcvbuf);
	if (c->fd < 0)
		return -1;
	size_t fl = 0;
	unsigned char *f = early ? frame_make(WS_TEXT, true, early, strlen(early), &fl) : NULL;
	size_t hl = strlen(target) + (headers ? strlen(headers) : 0) + 512 + fl;
	char *req = early && !f ? NULL : malloc(hl);
	if (!req) {
		free(f);
		wsc_close(c);
		return -1;
	}
	int n = snprintf(req, hl,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n%s\r\n",
			 target, port, headers ? headers : "");
	if (f)
		memcpy(req + n, f, fl);
	free(f);
	int rc = write_all(c->fd, req, (size_t)n + fl);
	free(req);
	if (rc < 0) {
		wsc_close(c);
		return 0;
	}
	long long deadline = now_ms() + 5000;
	for (;;) {
		unsigned char *e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
		if (e) {
			int status = 0;
			if (sscanf((char *)c->buf, "HTTP/1.%*d %d", &status) != 1)
				status = 0;
			consume(c, (size_t)(e + 4 - c->buf));
			if (status != 101)
				wsc_close(c);
			return status;
		}
		long long left = deadline - now_ms();
		if (left <= 0 || fill(c, (int)left) < 0) {
			wsc_close(c);
			return 0;
		}
	}
}

int wsc_connect(wsc *c, int port, const char *target, const char *headers,
		int rcvbuf)
{
	return connect_early(c, port, target, headers, rcvbuf, NULL);
}

int wsc_connect_early(wsc *c, int port, const char *target, const char *text)
{
	return connect_early(c, port, target, NULL, 0, text);
}

int wsc_send_text(wsc *c, const char *s)
{
	return wsc_send_frame(c, WS_TEXT, true, s, strlen(s));
}

/* One frame from the buffer: 1 and its parts, 0 when incomplete. */
static int frame(wsc *c, int *op, bool *fin, size_t *off, size_t *plen)
{
	if (c->len < 2)
		return 0;
	unsigned char *b = c->buf;
	*fin = b[0] & 0x80;
	*op = b[0] & 15;
	uint64_t n = b[1] & 127;
	size_t h = 2;
	if (n == 126) {
		if (c->len < 4)
			return 0;
		n = (uint64_t)b[2] << 8 | b[3];
		h = 4;
	} else if (n == 127) {
		if (c->len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | b[2 + i];
		h = 10;
	}
	if (b[1] & 0x80)
		h += 4; /* servers do not mask; tolerate it anyway */
	if (n > MSG_MAX || c->len < h + n)
		return 0;
	*off = h;
	*plen = (size_t)n;
	return 1;
}

int wsc_recv(wsc *c, int timeout_ms, char **out, size_t *len)
{
	long long deadline = now_ms() + timeout_ms;
	char *msg = NULL;
	size_t mlen = 0;
	int mop = 0;
	*out = NULL;
	for (;;) {
		int op;
		bool fin;
		size_t off, plen;
		while (frame(c, &op, &fin, &off, &plen)) {
			unsigned char *pl = c->buf + off;
			if (op == WS_PING) {
				wsc_send_frame(c, WS_PONG, true, pl, plen);
				consume(c, off + plen);
				continue;
			}
			if (op == WS_PONG) {
				consume(c, off + plen);
				continue;
			}
			if (op == WS_CLOSE) {
				c->close_code = plen >= 2 ? pl[0] << 8 | pl[1] : 1005;
				c->closed = true;
				consume(c, off + plen);
				free(msg);
				return WS_CLOSE;
			}
			char *nm = realloc(msg, mlen + plen + 1);
			if (!nm) {
				free(msg);
				return -1;
			}
			msg = nm;
			memcpy(msg + mlen, pl, plen);
			mlen += plen;
			msg[mlen] = '\0';
			if (op != WS_CONT)
				mop = op;
			consume(c, off + plen);
			if (fin) {
				*out = msg;
				if (len)
					*len = mlen;
				return mop;
			}
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			free(msg); /* a partial message is lost on timeout */
			return 0;
		}
		if (fill(c, (int)left) < 0) {
			c->closed = true;
			free(msg);
			return -1;
		}
	}
}

char *wsc_recv_text(wsc *c, int timeout_ms)
{
	char *m;
	int op = wsc_recv(c, timeout_ms, &m, NULL);
	if (op == WS_TEXT)
		return m;
	free(m);
	return NULL;
}

int wsc_wait_close(wsc *c, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		char *m;
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		int op = wsc_recv(c, (int)left, &m, NULL);
		free(m);
		if (op == WS_CLOSE)
			return c->close_code;
		if (op < 0)
			return 1006;
		if (op == 0)
			return 0;
	}
}

void wsc_close(wsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

int http_get(int port, const char *path, char **body)
{
	*body = NULL;
	int fd = tcp_connect(port, 0);
	if (fd < 0)
		return -1;
	char req[1024];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write_all(fd, req, (size_t)n) < 0) {
		close(fd);
		return -1;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	long long deadline = now_ms() + 5000;
	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		/* Stop at the end of a Content-Length body. */
		char *e = strstr(buf, "\r\n\r\n");
		char *cl = strcasestr(buf, "content-length:");
		if (e && cl && cl < e && len >= (size_t)(e + 4 - buf) + strtoul(cl + 15, NULL, 10))
			break;
	}
	close(fd);
	if (!buf)
		return -1;
	buf[len] = '\0';
	int status = -1;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	char *e = strstr(buf, "\r\n\r\n");
	*body = strdup(e ? e + 4 : "");
	free(buf);
	return status;
}

int tsrv_start(tsrv *s, const char *bin, const char *const *env)
{
	static int seq;
	memset(s, 0, sizeof *s);
	const char *tmp = getenv("ST_TMP") ? getenv("ST_TMP") : "/tmp";
	snprintf(s->log, sizeof s->log, "%s/server-%d-%d.log", tmp, (int)getpid(), ++seq);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* A test that dies (a crash, an abort) takes its servers along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		setenv("STREAMER_LISTEN", "127.0.0.1:0", 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	long long deadline = now_ms() + 15000;
	while (now_ms() < deadline) {
		FILE *f = fopen(s->log, "r");
		char line[4096];
		while (f && fgets(line, sizeof line, f)) {
			char *p = strstr(line, "\"msg\":\"listening\"");
			char *q = p ? strstr(line, "\"port\":") : NULL;
			if (q) {
				s->port = atoi(q + 7);
				fclose(f);
				return 0;
			}
		}
		if (f)
			fclose(f);
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			return -1;
		}
		usleep(20000);
	}
	tsrv_stop(s);
	return -1;
}

int tsrv_stop(tsrv *s)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	long long deadline = now_ms() + 15000;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(s->pid, &st, WNOHANG);
		if (r == s->pid)
			break;
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	s->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tsrv_log_has(const tsrv *s, const char *needle)
{
	FILE *f = fopen(s->log, "r");
	if (!f)
		return 0;
	char line[8192];
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

char *sh_line(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	fflush(stdout);
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (buf && !fgets(buf, (int)cap, p)) {
		free(buf);
		buf = NULL;
	}
	pclose(p);
	if (buf)
		buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

double http_metric(int port, const char *series)
{
	char *body;
	double v = -1;
	if (http_get(port, "/metrics", &body) == 200) {
		size_t n = strlen(series);
		for (char *p = body; (p = strstr(p, series)); p += n)
			if ((p == body || p[-1] == '\n') && p[n] == ' ') {
				v = atof(p + n + 1);
				break;
			}
	}
	free(body);
	return v;
}
