/* Fuzz the streaming server's parsers of client input: the HTTP request
 * head, SPDY frames, header blocks (plain and zlib with the SPDY
 * dictionary), WebSocket frames and the base64 channel payloads. The first
 * byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/streaming/http.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"

static void frames(const uint8_t *p, size_t n, bool compressed)
{
	struct spdy_zlib z;
	if (compressed && spdy_zlib_init(&z, NULL) < 0)
		return;
	size_t off = 0;
	for (;;) {
		struct spdy_frame f;
		size_t used = 0;
		ndl_error_t e = NDL_ERROR_INIT;
		int r = spdy_parse_frame(p + off, n - off, &f, &used, &e);
		ndl_error_clear(&e);
		if (r <= 0)
			break;
		off += used;
		if (f.control && (f.type == SPDY_SYN_STREAM || f.type == SPDY_HEADERS)) {
			size_t skip = f.type == SPDY_SYN_STREAM ? 10 : 4;
			struct spdy_headers h = {.n = 0};
			int hr = compressed ? spdy_headers_decode(&z, f.payload + skip, f.len - skip, &h, &e)
					    : spdy_headers_parse_plain(f.payload + skip, f.len - skip, &h, &e);
			ndl_error_clear(&e);
			if (hr == 0) {
				(void)spdy_headers_get(&h, "streamtype");
				spdy_headers_clear(&h);
			}
		}
	}
	if (compressed)
		spdy_zlib_free(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 3: {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, p, n);
		size_t off = 0;
		for (;;) {
			struct ws_frame f;
			size_t used = 0;
			ndl_error_t e = NDL_ERROR_INIT;
			int r = ws_parse_frame(copy + off, n - off, &f, &used, &e);
			ndl_error_clear(&e);
			if (r <= 0)
				break;
			off += used;
			uint8_t *dec = malloc(f.len + 4);
			(void)ws_base64_decode((const char *)f.payload, f.len, dec);
			free(dec);
		}
		free(copy);
		break;
	}
	case 0: {
		struct http_request r;
		ndl_error_t e = NDL_ERROR_INIT;
		long hl = http_parse_request((const char *)p, n, &r, &e);
		ndl_error_clear(&e);
		if (hl > 0) {
			const char *v[8];
			(void)http_header_all(&r, "X-Stream-Protocol-Version", v, 8);
			const char *c = http_header_get(&r, "Connection");
			if (c)
				(void)http_token_list_has(c, "upgrade");
			http_request_free(&r);
		}
		break;
	}
	case 1:
		frames(p, n, false);
		break;
	default:
		frames(p, n, true);
		break;
	}
	return 0;
}
