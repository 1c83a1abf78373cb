/* CRI streaming server: SPDY frames and header blocks, the HTTP request
 * parser, request validation, the remotecommand status JSON, resize
 * parsing, and the token cache through a running server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cri/streaming/http.h"
#include "cri/streaming/server.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_syn_roundtrip(void **state)
{
	struct spdy_zlib tx, rx;
	assert_int_equal(spdy_zlib_init(&tx, NULL), 0);
	assert_int_equal(spdy_zlib_init(&rx, NULL), 0);
	struct spdy_buf b = {0};
	const char *names[] = {"streamtype", "port"};
	const char *values[] = {"data", "8080"};
	/* Two blocks in one zlib stream: the second depends on the first. */
	for (int round = 0; round < 2; round++) {
		b.len = 0;
		assert_int_equal(spdy_put_syn(&b, &tx, true, 5 + 2 * (uint32_t)round, 0, names,
					      values, 2, NULL),
				 0);
		struct spdy_frame f;
		size_t used = 0;
		assert_int_equal(spdy_parse_frame(b.data, b.len - 1, &f, &used, NULL), 0);
		assert_int_equal(spdy_parse_frame(b.data, b.len, &f, &used, NULL), 1);
		assert_int_equal(used, b.len);
		assert_true(f.control);
		assert_int_equal(f.type, SPDY_SYN_STREAM);
		assert_int_equal(f.stream_id, 5 + 2 * round);
		struct spdy_headers h = {.n = 0};
		assert_int_equal(spdy_headers_decode(&rx, f.payload + 10, f.len - 10, &h, NULL), 0);
		assert_int_equal(h.n, 2);
		assert_string_equal(spdy_headers_get(&h, "StreamType"), "data");
		assert_string_equal(spdy_headers_get(&h, "port"), "8080");
		assert_null(spdy_headers_get(&h, "requestid"));
		spdy_headers_clear(&h);
	}
	spdy_buf_free(&b);
	spdy_zlib_free(&tx);
	spdy_zlib_free(&rx);
}

static void test_frames(void **state)
{
	struct spdy_buf b = {0};
	spdy_put_data(&b, 3, SPDY_FLAG_FIN, "abc", 3);
	spdy_put_rst(&b, 7, SPDY_RST_CANCEL);
	spdy_put_ping(&b, 9);
	spdy_put_goaway(&b, 11, 0);
	struct spdy_frame f;
	size_t used, off = 0;
	assert_int_equal(spdy_parse_frame(b.data, b.len, &f, &used, NULL), 1);
	assert_false(f.control);
	assert_int_equal(f.stream_id, 3);
	assert_int_equal(f.flags, SPDY_FLAG_FIN);
	assert_memory_equal(f.payload, "abc", 3);
	off += used;
	assert_int_equal(spdy_parse_frame(b.data + off, b.len - off, &f, &used, NULL), 1);
	assert_int_equal(f.type, SPDY_RST_STREAM);
	assert_int_equal(f.stream_id, 7);
	off += used;
	assert_int_equal(spdy_parse_frame(b.data + off, b.len - off, &f, &used, NULL), 1);
	assert_int_equal(f.type, SPDY_PING);
	off += used;
	assert_int_equal(spdy_parse_frame(b.data + off, b.len - off, &f, &used, NULL), 1);
	assert_int_equal(f.type, SPDY_GOAWAY);
	off += used;
	assert_int_equal(off, b.len);
	spdy_buf_free(&b);

	/* Wrong version, short control frame, oversized frame. */
	uint8_t v2[] = {0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1};
	ndl_error_t e = NDL_ERROR_INIT;
	assert_true(spdy_parse_frame(v2, sizeof(v2), &f, &used, &e) < 0);
	assert_non_null(strstr(ndl_error_msg(&e), "version 2"));
	ndl_error_clear(&e);
	uint8_t shortrst[] = {0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1};
	assert_true(spdy_parse_frame(shortrst, sizeof(shortrst), &f, &used, NULL) < 0);
	uint8_t big[] = {0, 0, 0, 1, 0, 0xff, 0xff, 0xff};
	assert_int_equal(spdy_parse_frame(big, sizeof(big), &f, &used, NULL), -EMSGSIZE);
}

static void test_header_block_errors(void **state)
{
	struct spdy_headers h = {.n = 0};
	/* Upper-case name, truncated, trailing bytes, too many. */
	uint8_t upper[] = {0, 0, 0, 1, 0, 0, 0, 1, 'A', 0, 0, 0, 0};
	assert_true(spdy_headers_parse_plain(upper, sizeof(upper), &h, NULL) < 0);
	uint8_t trunc[] = {0, 0, 0, 1, 0, 0, 0, 9, 'a'};
	assert_true(spdy_headers_parse_plain(trunc, sizeof(trunc), &h, NULL) < 0);
	uint8_t extra[] = {0, 0, 0, 0, 1};
	assert_true(spdy_headers_parse_plain(extra, sizeof(extra), &h, NULL) < 0);
	uint8_t many[] = {0, 0, 1, 0};
	assert_true(spdy_headers_parse_plain(many, sizeof(many), &h, NULL) < 0);
	uint8_t empty[] = {0, 0, 0, 0};
	assert_int_equal(spdy_headers_parse_plain(empty, sizeof(empty), &h, NULL), 0);
	assert_int_equal(h.n, 0);
	/* Garbage that is not zlib. */
	struct spdy_zlib z;
	assert_int_equal(spdy_zlib_init(&z, NULL), 0);
	uint8_t junk[] = {1, 2, 3, 4, 5, 6};
	assert_true(spdy_headers_decode(&z, junk, sizeof(junk), &h, NULL) < 0);
	spdy_zlib_free(&z);
}

static void test_http(void **state)
{
	const char *req = "POST /exec/tok?x=1 HTTP/1.1\r\nHost: a\r\nConnection:  keep-alive, Upgrade \r\n"
			  "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
			  "x-stream-protocol-version: v2.channel.k8s.io\r\n\r\nSPDY";
	struct http_request r;
	assert_int_equal(http_parse_request(req, 20, &r, NULL), 0);
	long hl = http_parse_request(req, strlen(req), &r, NULL);
	assert_int_equal(hl, (long)strlen(req) - 4);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.path, "/exec/tok");
	assert_string_equal(r.target, "/exec/tok?x=1");
	assert_string_equal(http_header_get(&r, "connection"), "keep-alive, Upgrade");
	assert_true(http_token_list_has(http_header_get(&r, "connection"), "upgrade"));
	assert_false(http_token_list_has("upgraded", "upgrade"));
	const char *v[4];
	assert_int_equal(http_header_all(&r, "X-Stream-Protocol-Version", v, 4), 2);
	assert_string_equal(v[1], "v2.channel.k8s.io");
	http_request_free(&r);

	ndl_error_t e = NDL_ERROR_INIT;
	const char *bad[] = {"GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/2\r\n\r\n",
			     "GET x HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
			     "GET / HTTP/1.1\r\n folded: x\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(http_parse_request(bad[i], strlen(bad[i]), &r, &e) < 0);
		ndl_error_clear(&e);
	}
	char *huge = xmalloc(HTTP_MAX_HEAD + 10);
	memset(huge, 'a', HTTP_MAX_HEAD + 10);
	assert_int_equal(http_parse_request(huge, HTTP_MAX_HEAD + 10, &r, NULL), -EMSGSIZE);
	free(huge);
}

static void test_validate_and_status(void **state)
{
	struct stream_request r = {.kind = STREAM_EXEC, .container_id = (char *)"c"};
	assert_string_equal(stream_validate(&r), "one of stdin, stdout, or stderr must be set");
	r.tty = r.err = true;
	assert_string_equal(stream_validate(&r), "tty and stderr cannot both be true");
	r.tty = false;
	assert_null(stream_validate(&r));
	r.container_id = (char *)"";
	assert_string_equal(stream_validate(&r), "missing required container_id");
	struct stream_request pf = {.kind = STREAM_PORTFORWARD};
	assert_string_equal(stream_validate(&pf), "missing required pod_sandbox_id");

	char *cmd[] = {(char *)"sh", (char *)"-c", (char *)"echo \"<hi>\"; exit 3"};
	cleanup_free char *v = stream_go_strv(cmd, 3);
	assert_string_equal(v, "[sh -c echo \"<hi>\"; exit 3]");
	cleanup_free char *ok = stream_status_json(0, v);
	assert_string_equal(ok, "{\"metadata\":{},\"status\":\"Success\"}");
	cleanup_free char *fail = stream_status_json(3, v);
	/* Go's encoding/json escapes <, > and & (HTML-safe). */
	assert_string_equal(
	    fail, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
		  "non-zero exit code: error executing command [sh -c echo \\\"\\u003chi\\u003e\\\"; "
		  "exit 3], exit code 3\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{"
		  "\"reason\":\"ExitCode\",\"message\":\"3\"}]}}");
}

static unsigned got_w[4], got_h[4], n_got;
static void on_resize(void *arg, unsigned w, unsigned h)
{
	got_w[n_got] = w;
	got_h[n_got++] = h;
}

static void test_resize(void **state)
{
	const char *s = "{\"Width\":80,\"Height\":24}\n{\"Height\":5, \"Width\":7}\n{\"Width\":1";
	n_got = 0;
	size_t used = stream_parse_resize(s, strlen(s), on_resize, NULL);
	assert_int_equal(n_got, 2);
	assert_int_equal(got_w[0], 80);
	assert_int_equal(got_h[0], 24);
	assert_int_equal(got_w[1], 7);
	assert_int_equal(got_h[1], 5);
	assert_string_equal(s + used, "{\"Width\":1");
}

static int fake_exec(void *u, const struct stream_request *r, struct stream_proc *p,
		     ndl_error_t *err)
{
	return ndl_error_setf(err, ENOSYS, "no exec in unit tests");
}

static int fake_port(void *u, const char *sb, uint16_t port, int *fd, ndl_error_t *err)
{
	return ndl_error_setf(err, ECONNREFUSED, "refused");
}

/* One request, the whole answer (the server closes after an error). */
static char *http(int port, const char *req)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	char *buf = xcalloc(1, 8192);
	size_t len = 0;
	ssize_t n;
	while (len < 8191 && (n = read(fd, buf + len, 8191 - len)) > 0) {
		len += (size_t)n;
		if (strstr(buf, "101 Switching"))
			break;
	}
	close(fd);
	return buf;
}

static void test_server_tokens(void **state)
{
	struct stream_server_config c = {
	    .backend = {.exec = fake_exec, .attach = fake_exec, .port_connect = fake_port},
	    .token_ttl_ms = 300,
	    .idle_ms = 300};
	struct stream_server *s = NULL;
	assert_int_equal(stream_server_start(&c, &s, NULL), 0);
	int port = atoi(strrchr(stream_server_base_url(s), ':') + 1);
	assert_true(port > 0);
	char *url = NULL;
	struct stream_request *r = xcalloc(1, sizeof(*r));
	r->kind = STREAM_PORTFORWARD;
	r->sandbox_id = xstrdup("sb");
	assert_int_equal(stream_server_add(s, r, &url, NULL), 0);
	assert_non_null(strstr(url, "/portforward/"));
	const char *tok = strrchr(url, '/') + 1;
	assert_int_equal(strlen(tok), 11); /* 8 random bytes, base64url */

	cleanup_free char *nf = http(port, "GET /portforward/nope HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(nf, "HTTP/1.1 404"));
	char req[256];
	snprintf(req, sizeof(req), "POST /portforward/%s HTTP/1.1\r\nConnection: Upgrade\r\n"
				   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
		 tok);
	cleanup_free char *neg = http(port, req);
	assert_non_null(strstr(neg, "HTTP/1.1 403"));
	assert_non_null(strstr(neg, "X-Accepted-Stream-Protocol-Versions: portforward.k8s.io"));
	cleanup_free char *again = http(port, req); /* single use */
	assert_non_null(strstr(again, "HTTP/1.1 404"));
	free(url);

	/* Expiry. */
	r = xcalloc(1, sizeof(*r));
	r->kind = STREAM_PORTFORWARD;
	r->sandbox_id = xstrdup("sb");
	assert_int_equal(stream_server_add(s, r, &url, NULL), 0);
	usleep(400 * 1000);
	snprintf(req, sizeof(req), "POST /portforward/%s HTTP/1.1\r\nConnection: Upgrade\r\n"
				   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
		 strrchr(url, '/') + 1);
	cleanup_free char *exp = http(port, req);
	assert_non_null(strstr(exp, "HTTP/1.1 404"));
	free(url);

	/* A live one upgrades. */
	r = xcalloc(1, sizeof(*r));
	r->kind = STREAM_PORTFORWARD;
	r->sandbox_id = xstrdup("sb");
	assert_int_equal(stream_server_add(s, r, &url, NULL), 0);
	snprintf(req, sizeof(req), "POST /portforward/%s HTTP/1.1\r\nConnection: Upgrade\r\n"
				   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
		 strrchr(url, '/') + 1);
	cleanup_free char *up = http(port, req);
	assert_non_null(strstr(up, "HTTP/1.1 101 Switching Protocols"));
	assert_non_null(strstr(up, "X-Stream-Protocol-Version: portforward.k8s.io"));
	free(url);

	/* An idle session is closed after idle_ms: GOAWAY, then EOF. */
	r = xcalloc(1, sizeof(*r));
	r->kind = STREAM_PORTFORWARD;
	r->sandbox_id = xstrdup("sb");
	assert_int_equal(stream_server_add(s, r, &url, NULL), 0);
	snprintf(req, sizeof(req), "POST /portforward/%s HTTP/1.1\r\nConnection: Upgrade\r\n"
				   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
		 strrchr(url, '/') + 1);
	free(url);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t buf[4096];
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0); /* EOF, not the 5 s timeout */
	const uint8_t *end = memmem(buf, got, "\r\n\r\n", 4);
	assert_non_null(end);
	struct spdy_frame f;
	size_t used;
	assert_int_equal(spdy_parse_frame(end + 4, got - (size_t)(end + 4 - buf), &f, &used, NULL), 1);
	assert_true(f.control);
	assert_int_equal(f.type, SPDY_GOAWAY);
	close(fd);
	stream_server_stop(s);
}

static void test_websocket(void **state)
{
	char acc[64];
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* A masked client text frame "Hello" (RFC 6455 section 5.7). */
	uint8_t f1[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct ws_frame f;
	size_t used = 0;
	assert_int_equal(ws_parse_frame(f1, 5, &f, &used, NULL), 0);
	assert_int_equal(ws_parse_frame(f1, sizeof(f1), &f, &used, NULL), 1);
	assert_int_equal(used, sizeof(f1));
	assert_true(f.fin);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_memory_equal(f.payload, "Hello", 5);
	/* Unmasked client frames, reserved bits, fragmented control frames. */
	uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
	assert_true(ws_parse_frame(unmasked, sizeof(unmasked), &f, &used, NULL) < 0);
	uint8_t rsv[] = {0xc1, 0x80, 0, 0, 0, 0};
	assert_true(ws_parse_frame(rsv, sizeof(rsv), &f, &used, NULL) < 0);
	uint8_t ctl[] = {0x09, 0x80, 0, 0, 0, 0};
	assert_true(ws_parse_frame(ctl, sizeof(ctl), &f, &used, NULL) < 0);
	uint8_t huge[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0};
	assert_int_equal(ws_parse_frame(huge, sizeof(huge), &f, &used, NULL), -EMSGSIZE);
	/* Server frames: 7-bit, 16-bit and 64-bit lengths, never masked. */
	struct spdy_buf b = {0};
	static uint8_t big[70000];
	ws_put_frame(&b, WS_OP_BIN, "ab", 2);
	assert_int_equal(b.len, 4);
	assert_int_equal(b.data[0], 0x82);
	assert_int_equal(b.data[1], 2);
	b.len = 0;
	ws_put_frame(&b, WS_OP_BIN, big, 300);
	assert_int_equal(b.data[1], 126);
	assert_int_equal(b.len, 4 + 300);
	b.len = 0;
	ws_put_frame(&b, WS_OP_BIN, big, sizeof(big));
	assert_int_equal(b.data[1], 127);
	assert_int_equal(b.len, 10 + sizeof(big));
	/* base64 both ways. */
	b.len = 0;
	ws_base64_encode((const uint8_t *)"\x90\x1f", 2, &b);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "kB8=", 4);
	uint8_t out[8];
	assert_int_equal(ws_base64_decode("aGk=", 4, out), 2);
	assert_memory_equal(out, "hi", 2);
	assert_int_equal(ws_base64_decode("a$==", 4, out), -1);
	spdy_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syn_roundtrip),     cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_header_block_errors), cmocka_unit_test(test_http),
	    cmocka_unit_test(test_validate_and_status), cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_server_tokens),     cmocka_unit_test(test_websocket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
