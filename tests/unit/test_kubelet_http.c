/* kubelet/http: the answers nodelet's healthz and read-only servers give
 * (status, headers, bodies, keep-alive), and the server over real sockets:
 * pipelined requests, heads split across writes, bodies dropped, HEAD,
 * Connection: close, oversized heads, the pod list swapped while a reply
 * that references the old one is in flight. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/http.h"
#include "lib/xalloc.h"

static long respond(bool pods, const char *req, struct kubelet_http_reply *r)
{
	return kubelet_http_respond(pods, req, strlen(req), r);
}

static void assert_head_has(const struct kubelet_http_reply *r, const char *s)
{
	if (!strstr(r->head, s))
		fail_msg("head lacks \"%s\":\n%s", s, r->head);
}

static void test_healthz(void **st)
{
	(void)st;
	struct kubelet_http_reply r;
	const char *q = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
	assert_int_equal(respond(false, q, &r), strlen(q));
	assert_head_has(&r, "HTTP/1.1 200 OK\r\n");
	assert_head_has(&r, "Content-Length: 2\r\n");
	assert_head_has(&r, "Content-Type: text/plain; charset=utf-8\r\n");
	assert_head_has(&r, "Date: ");
	assert_null(strstr(r.head, "Connection:"));
	assert_false(r.close);
	assert_int_equal(r.body_len, 2);
	assert_memory_equal(r.body, "ok", 2);
	kubelet_http_reply_done(&r);
	/* The query does not change the path. */
	assert_true(respond(false, "GET /healthz?verbose HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	assert_head_has(&r, " 200 OK");
	kubelet_http_reply_done(&r);
}

static void test_incomplete_head_waits(void **st)
{
	(void)st;
	struct kubelet_http_reply r;
	assert_int_equal(respond(true, "GET /pods HTTP/1.1\r\nHost: h\r\n", &r), 0);
	assert_int_equal(respond(true, "", &r), 0);
}

static void test_pods_get_head_and_swap(void **st)
{
	(void)st;
	struct kubelet_http_reply r, h, old;
	kubelet_http_set_pods(NULL);
	assert_true(respond(true, "GET /pods HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	assert_head_has(&r, "Content-Type: application/json\r\n");
	assert_non_null(strstr(r.body, "\"items\":[]"));
	kubelet_http_reply_done(&r);

	kubelet_http_set_pods(xstrdup("{\"kind\":\"PodList\",\"items\":[1]}"));
	assert_true(respond(true, "GET /pods/ HTTP/1.1\r\nHost: h\r\n\r\n", &old) > 0);
	/* A new list while the old reply is still being written: the old one
	 * stays valid until its reply is done (ASan checks the reads). */
	kubelet_http_set_pods(xstrdup("{\"kind\":\"PodList\",\"items\":[2,3]}"));
	assert_memory_equal(old.body, "{\"kind\":\"PodList\",\"items\":[1]}", old.body_len);
	kubelet_http_reply_done(&old);

	assert_true(respond(true, "HEAD /pods HTTP/1.1\r\nHost: h\r\n\r\n", &h) > 0);
	assert_head_has(&h, "HTTP/1.1 200 OK");
	char want[64];
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n",
		 strlen("{\"kind\":\"PodList\",\"items\":[2,3]}"));
	assert_head_has(&h, want);
	assert_int_equal(h.body_len, 0);
	kubelet_http_reply_done(&h);
	kubelet_http_set_pods(NULL);
}

static void test_not_found_and_method(void **st)
{
	(void)st;
	struct kubelet_http_reply r;
	/* The healthz server has no /pods. */
	assert_true(respond(false, "GET /pods HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	assert_head_has(&r, "HTTP/1.1 404 Not Found\r\n");
	assert_head_has(&r, "X-Content-Type-Options: nosniff\r\n");
	assert_memory_equal(r.body, "404 page not found\n", r.body_len);
	kubelet_http_reply_done(&r);
	assert_true(respond(true, "POST /pods HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", &r) > 0);
	assert_head_has(&r, "HTTP/1.1 405 Method Not Allowed\r\n");
	assert_int_equal(r.skip, 3); /* the body is dropped, the connection kept */
	assert_false(r.close);
	kubelet_http_reply_done(&r);
}

static void test_connection_handling(void **st)
{
	(void)st;
	struct kubelet_http_reply r;
	assert_true(respond(false, "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", &r) > 0);
	assert_true(r.close);
	assert_head_has(&r, "Connection: close\r\n");
	kubelet_http_reply_done(&r);
	/* HTTP/1.0: closes unless asked to keep the connection; Host optional. */
	assert_true(respond(false, "GET /healthz HTTP/1.0\r\n\r\n", &r) > 0);
	assert_true(r.close);
	assert_null(strstr(r.head, "Connection:")); /* closing is 1.0's default */
	kubelet_http_reply_done(&r);
	assert_true(respond(false, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
	assert_false(r.close);
	assert_head_has(&r, "Connection: keep-alive\r\n");
	kubelet_http_reply_done(&r);
	/* A chunked body is not read: answered, then the connection ends. */
	assert_true(respond(false, "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
	assert_true(r.close);
	kubelet_http_reply_done(&r);
}

static void test_bad_requests(void **st)
{
	(void)st;
	struct kubelet_http_reply r;
	const char *bad[] = {
	    "GET /healthz HTTP/1.1\r\n\r\n", /* no Host */
	    "GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET healthz HTTP/1.1\r\nHost: h\r\n\r\n",
	    "GET /healthz HTTP/1.1x\r\nHost: h\r\n\r\n",
	    "G(T /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(respond(false, bad[i], &r) > 0);
		assert_head_has(&r, "HTTP/1.1 400 Bad Request\r\n");
		assert_head_has(&r, "Connection: close\r\n");
		assert_true(r.close);
		kubelet_http_reply_done(&r);
	}
	/* Another major version: 505, as Go's server. */
	assert_true(respond(false, "GET /healthz HTTP/2.0\r\nHost: h\r\n\r\n", &r) > 0);
	assert_head_has(&r, "HTTP/1.1 505 HTTP Version Not Supported\r\n");
	assert_true(r.close);
	kubelet_http_reply_done(&r);
	/* A head that never ends within the limit. */
	size_t n = 20000;
	char *big = xmalloc(n + 1);
	memcpy(big, "GET /healthz HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', n - 26);
	big[n] = '\0';
	assert_true(respond(false, big, &r) > 0);
	assert_head_has(&r, "HTTP/1.1 431 ");
	assert_true(r.close);
	kubelet_http_reply_done(&r);
	free(big);
}

/* ---- over sockets ---- */

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
	close(s);
	return ntohs(a.sin_port);
}

static int dial(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

static void send_all(int s, const char *p)
{
	size_t n = strlen(p);
	while (n) {
		ssize_t w = send(s, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Read until the peer closes or `want` bytes arrived or 20 s pass (a
 * loaded machine can stall the server thread for seconds). */
static size_t recv_some(int s, char *buf, size_t cap, size_t want, bool *eof)
{
	size_t got = 0;
	*eof = false;
	while (got < want && got < cap) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, 20000) <= 0)
			break;
		ssize_t n = recv(s, buf + got, cap - got, 0);
		if (n <= 0) {
			*eof = n == 0;
			break;
		}
		got += (size_t)n;
	}
	return got;
}

static size_t count(const char *hay, size_t n, const char *needle)
{
	size_t k = 0, nl = strlen(needle);
	for (size_t i = 0; i + nl <= n; i++)
		if (!memcmp(hay + i, needle, nl))
			k++;
	return k;
}

static void test_server(void **st)
{
	(void)st;
	int port = free_port();
	struct kubelet_http *h = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(kubelet_http_start("127.0.0.1", port, true, "--read-only-port", &h, &err), 0);
	char *doc = xmalloc(200001);
	memset(doc, 'x', 200000);
	doc[200000] = '\0';
	memcpy(doc, "{\"a\":\"", 6);
	memcpy(doc + 199998, "\"}", 2);
	kubelet_http_set_pods(doc);

	/* Pipelined: GET (200 KB, more than a socket buffer), a POST with a
	 * body (dropped), a HEAD, a head split across two writes, then close. */
	int s = dial(port);
	send_all(s, "GET /pods HTTP/1.1\r\nHost: h\r\n\r\n"
		    "POST /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
		    "HEAD /pods HTTP/1.1\r\nHost: h\r\n\r\nGET /heal");
	usleep(50000);
	send_all(s, "thz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	size_t cap = 400000;
	char *buf = xmalloc(cap);
	bool eof = false;
	size_t n = recv_some(s, buf, cap, cap, &eof);
	assert_true(eof);
	assert_int_equal(count(buf, n, "HTTP/1.1 "), 4);
	assert_int_equal(count(buf, n, "HTTP/1.1 200 OK"), 3);
	assert_int_equal(count(buf, n, "HTTP/1.1 405 "), 1);
	assert_int_equal(count(buf, n, "Content-Length: 200000\r\n"), 2);
	/* One body of the list (the HEAD sent none), and "ok" last. */
	assert_int_equal(count(buf, n, "\"}"), 1);
	assert_memory_equal(buf + n - 2, "ok", 2);
	close(s);

	/* Idle keep-alive connections do not block others; a peer that goes
	 * away mid-reply is dropped. */
	int idle = dial(port);
	int gone = dial(port);
	send_all(gone, "GET /pods HTTP/1.1\r\nHost: h\r\n\r\n");
	close(gone);
	s = dial(port);
	send_all(s, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n");
	n = recv_some(s, buf, cap, 1, &eof);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "200 OK"));
	close(s);

	/* An oversized head: 431, then the connection ends. */
	s = dial(port);
	char *big = xmalloc(20001);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	send_all(s, big);
	n = recv_some(s, buf, cap, cap, &eof);
	assert_true(eof);
	assert_true(n > 12);
	assert_memory_equal(buf, "HTTP/1.1 431", 12);
	close(s);
	free(big);

	/* The port is taken: the error names the flag. */
	struct kubelet_http *h2 = NULL;
	assert_int_equal(kubelet_http_start("127.0.0.1", port, false, "--healthz-port", &h2, &err),
			 -EADDRINUSE);
	assert_non_null(strstr(ndl_error_msg(&err), "--healthz-port"));
	ndl_error_clear(&err);
	assert_true(kubelet_http_start("300.1.1.1", port, false, "--healthz-port", &h2, &err) < 0);
	ndl_error_clear(&err);

	close(idle);
	kubelet_http_stop(h);
	kubelet_http_set_pods(NULL);
	free(buf);
}

/* An IPv6 literal listens on IPv6 ("::" would take IPv4 too, as Go's). */
static void test_ipv6(void **st)
{
	(void)st;
	int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (probe >= 0)
			close(probe);
		skip(); /* no IPv6 loopback here */
	}
	socklen_t l = sizeof(a);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&a, &l), 0);
	close(probe);
	struct kubelet_http *h = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(kubelet_http_start("::1", ntohs(a.sin6_port), false, "--healthz-port", &h,
					    &err),
			 0);
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	send_all(s, "GET /healthz HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n");
	char buf[1024];
	bool eof = false;
	size_t n = recv_some(s, buf, sizeof(buf) - 1, sizeof(buf) - 1, &eof);
	buf[n] = '\0';
	assert_true(eof);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
	assert_memory_equal(buf + n - 2, "ok", 2);
	close(s);
	kubelet_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthz),
	    cmocka_unit_test(test_incomplete_head_waits),
	    cmocka_unit_test(test_pods_get_head_and_swap),
	    cmocka_unit_test(test_not_found_and_method),
	    cmocka_unit_test(test_connection_handling),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_server),
	    cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
