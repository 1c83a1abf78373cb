/* healthz and read-only /pods: a small HTTP/1.1 server of our own, one
 * thread per listening port, poll(2) over the listener and its connections.
 *
 * Why not libmicrohttpd: Debian's libmicrohttpd links GnuTLS (and with it
 * nettle, hogweed, gmp, p11-kit, libtasn1, libidn2, libunistring), ~2.6 MB
 * of pages the dynamic loader touches in every nodelet, for endpoints that
 * answer three GET paths over plain TCP. The request head is parsed by the
 * streaming server's parser (cri/streaming/http.h); what is served is
 * modelled on the real kubelet's Go net/http server: keep-alive by default
 * on HTTP/1.1 (and on 1.0 when asked), HEAD answered with the GET's
 * headers, 404 "404 page not found", 400/431 and a close for a head that is
 * malformed or too large, request bodies read and dropped, idle connections
 * closed after 30 s.
 *
 * The pod list is a prebuilt JSON document published by the pod workers; a
 * request never walks live pod state or asks the runtime anything. Each
 * published document is reference-counted and written from as is, so a
 * request costs a lock and a counter, not a copy of the list (pollers ask
 * every few tens of milliseconds; with 100 pods the list is ~100 KB). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cri/streaming/http.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define MAX_CONNS	 256
#define IDLE_TIMEOUT_MS	 30000
/* A body larger than this (we never want one) ends the connection after
 * the answer instead of being read and dropped. */
#define MAX_DISCARD_BODY (1 << 20)
#define LINGER_MS	 2000

/* ---- the published pod list ---- */

struct pods_doc {
	atomic_uint refs; /* the published slot holds one, each reply one */
	size_t len;
	char *json;
};

static pthread_mutex_t pods_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pods_doc *pods_cur;

static void pods_doc_unref(struct pods_doc *d)
{
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(d->json);
	free(d);
}

void kubelet_http_set_pods(char *json)
{
	struct pods_doc *d = NULL;
	if (json) {
		d = xmalloc(sizeof(*d));
		atomic_init(&d->refs, 1);
		d->len = strlen(json);
		d->json = json;
	}
	pthread_mutex_lock(&pods_lock);
	struct pods_doc *old = pods_cur;
	pods_cur = d;
	pthread_mutex_unlock(&pods_lock);
	if (old)
		pods_doc_unref(old);
}

static struct pods_doc *pods_get(void)
{
	pthread_mutex_lock(&pods_lock);
	struct pods_doc *d = pods_cur;
	if (d)
		atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pods_lock);
	return d;
}

/* ---- requests and replies (no I/O) ---- */

static const char text_plain[] = "text/plain; charset=utf-8";

static const char *reason(unsigned code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* Fill r's head. conn_hdr: NULL, "close" or "keep-alive". */
static void set_head(struct kubelet_http_reply *r, unsigned code, const char *ctype,
		     size_t content_len, const char *conn_hdr, bool nosniff)
{
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int n = snprintf(r->head, sizeof(r->head),
			 "HTTP/1.1 %u %s\r\nContent-Length: %zu\r\nContent-Type: %s\r\n"
			 "Date: %s\r\n%s%s%s%s\r\n",
			 code, reason(code), content_len, ctype, date,
			 conn_hdr ? "Connection: " : "", conn_hdr ? conn_hdr : "",
			 conn_hdr ? "\r\n" : "",
			 nosniff ? "X-Content-Type-Options: nosniff\r\n" : "");
	/* Every input above is bounded well under the buffer. */
	r->head_len = n > 0 && (size_t)n < sizeof(r->head) ? (size_t)n : 0;
}

/* An answer with a static body; close ends the connection after it. */
static void reply_static(struct kubelet_http_reply *r, unsigned code, const char *body,
			 bool head_only, const char *conn_hdr, bool nosniff)
{
	size_t len = strlen(body);
	set_head(r, code, text_plain, len, conn_hdr, nosniff);
	r->body = head_only ? NULL : body;
	r->body_len = head_only ? 0 : len;
}

/* An answer to a request that could not be read: Go's server writes these
 * without Content-Length (the close ends the body) and closes. */
static void reply_error(struct kubelet_http_reply *r, unsigned code, const char *body)
{
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int n = snprintf(r->head, sizeof(r->head),
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nConnection: close\r\n"
			 "Date: %s\r\n\r\n",
			 code, reason(code), text_plain, date);
	r->head_len = n > 0 && (size_t)n < sizeof(r->head) ? (size_t)n : 0;
	r->body = body;
	r->body_len = strlen(body);
	r->close = true;
}

/* Was the request line well formed up to an HTTP version other than 1.x
 * ("HTTP/2.0", "HTTP/7.1")? Go's server answers those 505, not 400. */
static bool bad_major_version(const char *in, size_t len)
{
	const char *eol = memchr(in, '\r', len);
	if (!eol)
		return false;
	const char *v = eol;
	while (v > in && v[-1] != ' ')
		v--;
	if (v == in || eol - v < 8 || memcmp(v, "HTTP/", 5) != 0)
		return false;
	/* HTTP/<digits>.<digits>, all before eol (the buffer is not
	 * NUL-terminated). */
	const char *p = v + 5;
	unsigned long major = 0;
	int nmaj = 0, nmin = 0;
	for (; p < eol && *p >= '0' && *p <= '9'; p++, nmaj++)
		major = major * 10 + (unsigned long)(*p - '0');
	if (!nmaj || nmaj > 7 || p == eol || *p++ != '.')
		return false;
	for (; p < eol && *p >= '0' && *p <= '9'; p++)
		nmin++;
	return nmin && nmin <= 7 && p == eol && major != 1;
}

/* Content-Length: digits only, every copy the same (RFC 9112 6.3).
 * Returns 0 and *n, or -1 when invalid. */
static int content_length(const struct http_request *req, unsigned long long *n)
{
	const char *v[8];
	size_t k = http_header_all(req, "Content-Length", v, 8);
	*n = 0;
	if (k == 0)
		return 0;
	if (k == 8)
		return -1;
	for (size_t i = 0; i < k; i++) {
		if (!*v[i] || strlen(v[i]) > 18 || strspn(v[i], "0123456789") != strlen(v[i]))
			return -1;
		unsigned long long x = strtoull(v[i], NULL, 10);
		if (i && x != *n)
			return -1;
		*n = x;
	}
	return 0;
}

long kubelet_http_respond(bool serve_pods, const char *in, size_t len,
			  struct kubelet_http_reply *r)
{
	memset(r, 0, sizeof(*r));
	struct http_request req;
	ndl_error_t err = NDL_ERROR_INIT;
	long hl = http_parse_request(in, len, &req, &err);
	if (hl == 0)
		return 0;
	if (hl < 0) {
		/* Answered as Go's server does, then the connection ends: what
		 * follows cannot be framed. */
		ndl_error_clear(&err);
		if (hl == -EMSGSIZE)
			reply_error(r, 431, "431 Request Header Fields Too Large");
		else if (bad_major_version(in, len))
			reply_error(r, 505, "505 HTTP Version Not Supported");
		else
			reply_error(r, 400, "400 Bad Request");
		return (long)len;
	}
	bool http10 = strcmp(req.version, "HTTP/1.0") == 0;
	bool head_only = strcmp(req.method, "HEAD") == 0;
	const char *conn = http_header_get(&req, "Connection");
	bool keep = http10 ? conn && http_token_list_has(conn, "keep-alive")
			   : !(conn && http_token_list_has(conn, "close"));
	/* Go says "close" only where keep-alive was the default (1.1), and
	 * "keep-alive" only where it was not (1.0). */
	const char *conn_hdr = http10 ? (keep ? "keep-alive" : NULL) : (keep ? NULL : "close");
	unsigned long long body = 0;
	if (!http10 && !http_header_get(&req, "Host")) {
		reply_error(r, 400, "400 Bad Request: missing required Host header");
		http_request_free(&req);
		return hl;
	}
	if (content_length(&req, &body) < 0) {
		reply_error(r, 400, "400 Bad Request: bad Content-Length");
		http_request_free(&req);
		return hl;
	}
	/* A chunked (or otherwise encoded) body, or a large one, is not read:
	 * the connection ends after the answer. */
	if (http_header_get(&req, "Transfer-Encoding") || body > MAX_DISCARD_BODY) {
		keep = false;
		conn_hdr = http10 ? NULL : "close";
	} else {
		r->skip = (size_t)body;
	}
	r->close = !keep;

	if (strcmp(req.method, "GET") != 0 && !head_only) {
		reply_static(r, 405, "405: Method Not Allowed\n", false, conn_hdr, false);
	} else if (strcmp(req.path, "/healthz") == 0) {
		reply_static(r, 200, "ok", head_only, conn_hdr, true);
	} else if (serve_pods && (strcmp(req.path, "/pods") == 0 || strcmp(req.path, "/pods/") == 0)) {
		static const char empty[] = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\","
					    "\"metadata\":{},\"items\":[]}";
		struct pods_doc *d = pods_get();
		const char *b = d ? d->json : empty;
		size_t bl = d ? d->len : sizeof(empty) - 1;
		set_head(r, 200, "application/json", bl, conn_hdr, false);
		r->doc = d;
		r->body = head_only ? NULL : b;
		r->body_len = head_only ? 0 : bl;
	} else {
		reply_static(r, 404, "404 page not found\n", head_only, conn_hdr, true);
	}
	http_request_free(&req);
	return hl;
}

void kubelet_http_reply_done(struct kubelet_http_reply *r)
{
	if (r->doc)
		pods_doc_unref(r->doc);
	memset(r, 0, sizeof(*r));
}

/* ---- the server ---- */

struct conn {
	int fd;
	char *in; /* request bytes not yet answered */
	size_t in_len, in_cap;
	size_t skip;	/* body bytes still to drop */
	bool busy;	/* r is being written */
	bool peer_eof;	/* the client shut its side: answer what is here, then close */
	bool draining;	/* answered with a close: our side is shut, reading to EOF */
	size_t out_off; /* bytes of head + body written */
	struct kubelet_http_reply r;
	int64_t last_ms;
};

struct kubelet_http {
	int lfd, wake;
	bool serve_pods;
	pthread_t thread;
	struct conn *conns[MAX_CONNS];
	size_t n;
	int64_t accept_paused_until; /* after EMFILE and the like: see accept_all */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_free(struct conn *c)
{
	if (c->busy)
		kubelet_http_reply_done(&c->r);
	close(c->fd);
	free(c->in);
	free(c);
}

/* Write what the socket takes. Returns 1 when the reply is out, 0 when the
 * socket is full, -1 when the connection is gone. */
static int conn_write(struct conn *c)
{
	struct kubelet_http_reply *r = &c->r;
	size_t total = r->head_len + r->body_len;
	while (c->out_off < total) {
		struct iovec iov[2];
		int n = 0;
		if (c->out_off < r->head_len)
			iov[n++] = (struct iovec){(char *)r->head + c->out_off,
						  r->head_len - c->out_off};
		size_t boff = c->out_off > r->head_len ? c->out_off - r->head_len : 0;
		if (r->body_len > boff)
			iov[n++] = (struct iovec){(char *)r->body + boff, r->body_len - boff};
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		c->out_off += (size_t)w;
	}
	return 1;
}

/* After an answer that ends the connection: close our side, then read and
 * drop what the client still sends until it closes too (at most
 * LINGER_MS). Closing with unread bytes would make the kernel send a reset,
 * which can destroy the answer before the client reads it (Go's server
 * lingers the same way). */
static int conn_linger(struct conn *c)
{
	if (c->peer_eof || shutdown(c->fd, SHUT_WR) < 0)
		return -1;
	c->draining = true;
	c->in_len = 0;
	c->skip = 0;
	c->last_ms = now_ms() - (IDLE_TIMEOUT_MS - LINGER_MS);
	return 0;
}

/* Answer the requests buffered on c, in order, while the socket takes the
 * answers. Returns -1 when c is to be closed. */
static int conn_advance(struct kubelet_http *h, struct conn *c)
{
	for (;;) {
		if (c->busy) {
			int w = conn_write(c);
			if (w <= 0)
				return w;
			bool close_after = c->r.close;
			kubelet_http_reply_done(&c->r);
			c->busy = false;
			if (close_after)
				return conn_linger(c);
		}
		if (c->skip && c->in_len) {
			size_t d = c->skip < c->in_len ? c->skip : c->in_len;
			memmove(c->in, c->in + d, c->in_len - d);
			c->in_len -= d;
			c->skip -= d;
		}
		if (c->skip || !c->in_len)
			return c->peer_eof ? -1 : 0;
		long n = kubelet_http_respond(h->serve_pods, c->in, c->in_len, &c->r);
		if (n == 0)
			return c->peer_eof ? -1 : 0;
		if (n < 0)
			return -1;
		memmove(c->in, c->in + n, c->in_len - (size_t)n);
		c->in_len -= (size_t)n;
		c->skip = c->r.skip;
		c->busy = true;
		c->out_off = 0;
	}
}

/* Read what is there. Returns -1 when c is to be closed. */
static int conn_read(struct kubelet_http *h, struct conn *c)
{
	if (c->draining) {
		char sink[4096];
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return n > 0 ? 0 : -1;
	}
	if (c->in_len == c->in_cap) {
		if (c->in_cap >= HTTP_MAX_HEAD)
			return 0; /* full: answered (431) once parsed */
		c->in_cap = c->in_cap ? c->in_cap * 2 : 1024;
		if (c->in_cap > HTTP_MAX_HEAD)
			c->in_cap = HTTP_MAX_HEAD;
		c->in = xrealloc(c->in, c->in_cap);
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n == 0)
		c->peer_eof = true;
	c->in_len += (size_t)n;
	return conn_advance(h, c);
}

static void accept_all(struct kubelet_http *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: the listener stays
			 * readable, so stop polling it for a moment instead of
			 * spinning (Go's server backs off the same way). */
			log_warn("http: accept failed, pausing accepts for 100 ms", "errno=%d",
				 errno);
			h->accept_paused_until = now_ms() + 100;
			return;
		}
		if (h->n == MAX_CONNS) {
			close(fd); /* over the limit: refused, as libmicrohttpd did */
			continue;
		}
		struct conn *c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->last_ms = now_ms();
		h->conns[h->n++] = c;
	}
}

static void *serve(void *arg)
{
	struct kubelet_http *h = arg;
	struct pollfd pf[MAX_CONNS + 2];
	for (;;) {
		int64_t now = now_ms();
		int timeout = -1;
		pf[0] = (struct pollfd){.fd = h->wake, .events = POLLIN};
		bool paused = h->accept_paused_until > now;
		pf[1] = (struct pollfd){.fd = h->lfd, .events = paused ? 0 : POLLIN};
		if (paused)
			timeout = (int)(h->accept_paused_until - now);
		for (size_t i = 0; i < h->n; i++) {
			struct conn *c = h->conns[i];
			short ev = c->busy ? POLLOUT
					   : (c->draining || c->in_len < HTTP_MAX_HEAD ? POLLIN : 0);
			pf[i + 2] = (struct pollfd){.fd = c->fd, .events = ev};
			int64_t left = c->last_ms + IDLE_TIMEOUT_MS - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		if (poll(pf, h->n + 2, timeout) < 0 && errno != EINTR) {
			log_warn("http: poll failed", "errno=%d", errno);
			continue;
		}
		if (pf[0].revents)
			return NULL;
		now = now_ms();
		for (size_t i = 0; i < h->n; i++) {
			struct conn *c = h->conns[i];
			short re = pf[i + 2].revents;
			int rc = 0;
			if (re & POLLNVAL)
				rc = -1;
			else if (c->busy && (re & (POLLOUT | POLLERR | POLLHUP)))
				rc = conn_advance(h, c);
			else if (!c->busy && (re & (POLLIN | POLLERR | POLLHUP)))
				rc = conn_read(h, c);
			if (re && !c->draining)
				c->last_ms = now;
			else if (now - c->last_ms >= IDLE_TIMEOUT_MS)
				rc = -1; /* idle, or a head or reply stuck that long */
			if (rc < 0) {
				conn_free(c);
				h->conns[i] = NULL;
			}
		}
		size_t k = 0;
		for (size_t i = 0; i < h->n; i++)
			if (h->conns[i])
				h->conns[k++] = h->conns[i];
		h->n = k;
		if (pf[1].revents & POLLIN)
			accept_all(h);
	}
}

int kubelet_http_start(const char *addr, int port, bool serve_pods, const char *what,
		       struct kubelet_http **ret, ndl_error_t *err)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int family;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return ndl_error_setf(err, EINVAL, "%s: invalid address \"%s\"", what,
					      addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return ndl_error_setf(err, EINVAL, "%s: invalid address \"%s\"", what,
					      addr);
		sl = sizeof(*s4);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ndl_error_setf(err, errno, "%s: socket: %s", what, strerror(errno));
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "::" takes IPv4 too, as Go's listener on the unspecified address. */
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_setf(err, e, "%s: cannot listen on %s:%d: %s", what, addr, port,
				      strerror(e));
	}
	int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake < 0) {
		int e = errno;
		close(fd);
		return ndl_error_setf(err, e, "%s: eventfd: %s", what, strerror(e));
	}
	struct kubelet_http *h = xcalloc(1, sizeof(*h));
	h->lfd = fd;
	h->wake = wake;
	h->serve_pods = serve_pods;
	/* A small stack: the loop's deepest frame is the poll array. */
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);
	int e = pthread_create(&h->thread, &at, serve, h);
	pthread_attr_destroy(&at);
	if (e) {
		close(fd);
		close(wake);
		free(h);
		return ndl_error_setf(err, e, "%s: cannot start the server thread: %s", what,
				      strerror(e));
	}
	*ret = h;
	return 0;
}

void kubelet_http_stop(struct kubelet_http *h)
{
	if (!h)
		return;
	uint64_t one = 1;
	while (write(h->wake, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	for (size_t i = 0; i < h->n; i++)
		conn_free(h->conns[i]);
	close(h->lfd);
	close(h->wake);
	free(h);
}
