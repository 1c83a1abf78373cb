/* WebSocket frames and handshake (see websocket.h). */
#include <string.h>

#include <openssl/sha.h>

#include "cri/streaming/websocket.h"

int ws_parse_frame(uint8_t *buf, size_t len, struct ws_frame *f, size_t *consumed,
		   ndl_error_t *err)
{
	if (len < 2)
		return 0;
	uint8_t b0 = buf[0], b1 = buf[1];
	if (b0 & 0x70)
		return ndl_error_setf(err, EPROTO, "websocket: reserved bits set");
	if (!(b1 & 0x80))
		return ndl_error_setf(err, EPROTO, "websocket: client frame is not masked");
	uint64_t plen = b1 & 0x7f;
	size_t off = 2;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		off = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		off = 10;
	}
	uint8_t op = b0 & 0x0f;
	if (op >= 0x8 && (plen > 125 || !(b0 & 0x80)))
		return ndl_error_setf(err, EPROTO, "websocket: invalid control frame");
	if ((op > 0x2 && op < 0x8) || op > 0xa)
		return ndl_error_setf(err, EPROTO, "websocket: unknown opcode %u", op);
	if (plen > WS_MAX_FRAME)
		return ndl_error_setf(err, EMSGSIZE, "websocket: frame of %llu bytes exceeds %u",
				      (unsigned long long)plen, WS_MAX_FRAME);
	if (len - off < 4 + plen)
		return 0;
	const uint8_t *mask = buf + off;
	off += 4;
	for (size_t i = 0; i < plen; i++)
		buf[off + i] ^= mask[i & 3];
	f->fin = b0 & 0x80;
	f->opcode = op;
	f->payload = buf + off;
	f->len = (size_t)plen;
	*consumed = off + (size_t)plen;
	return 1;
}

void ws_put_frame(struct spdy_buf *b, uint8_t opcode, const void *p, size_t n)
{
	uint8_t h[10];
	size_t hl;
	h[0] = 0x80 | opcode;
	if (n < 126) {
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	spdy_buf_append(b, h, hl);
	spdy_buf_append(b, p, n);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ws_base64_encode(const uint8_t *p, size_t n, struct spdy_buf *out)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
			     i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
		spdy_buf_append(out, q, 4);
	}
}

long ws_base64_decode(const char *p, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long o = 0;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		const char *k = c ? strchr(b64, c) : NULL;
		if (!k)
			return -1;
		acc = acc << 6 | (uint32_t)(k - b64);
		bits += 6;
		if (bits >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (pad > 2)
		return -1;
	return o;
}

void ws_accept_key(const char *key, char *out)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t in[256 + sizeof(guid)];
	size_t kl = strnlen(key, 256);
	memcpy(in, key, kl);
	memcpy(in + kl, guid, sizeof(guid) - 1);
	uint8_t md[SHA_DIGEST_LENGTH];
	SHA1(in, kl + sizeof(guid) - 1, md);
	struct spdy_buf b = {0};
	ws_base64_encode(md, sizeof(md), &b);
	memcpy(out, b.data, b.len);
	out[b.len] = '\0';
	spdy_buf_free(&b);
}
