/* RFC 6455 WebSocket pieces the streaming server needs for Kubernetes'
 * channel protocols (channel.k8s.io and base64.channel.k8s.io, v4 and v5):
 * the handshake's accept key, frame parsing (client frames are masked) and
 * building (server frames are not). No I/O, fuzzable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cri/streaming/spdy.h" /* struct spdy_buf */
#include "lib/error.h"

#define WS_OP_CONT  0x0
#define WS_OP_TEXT  0x1
#define WS_OP_BIN   0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING  0x9
#define WS_OP_PONG  0xa

/* The largest frame payload accepted from a client. */
#define WS_MAX_FRAME (1u << 20)

struct ws_frame {
	bool fin;
	uint8_t opcode;
	uint8_t *payload; /* unmasked in place */
	size_t len;
};

/* Parse (and unmask in place) one client frame at buf. Returns 1 with *f and
 * *consumed, 0 when more bytes are needed, negative errno with err set
 * (EPROTO: unmasked client frame, reserved bits, bad control frame;
 * EMSGSIZE: over WS_MAX_FRAME). */
int ws_parse_frame(uint8_t *buf, size_t len, struct ws_frame *f, size_t *consumed,
		   ndl_error_t *err);
void ws_put_frame(struct spdy_buf *b, uint8_t opcode, const void *p, size_t n);
/* base64(SHA-1(key + RFC 6455 GUID)) into out (>= 29 bytes). */
void ws_accept_key(const char *key, char *out);
/* Standard base64 (the base64 channel protocols). */
void ws_base64_encode(const uint8_t *p, size_t n, struct spdy_buf *out);
/* Returns the decoded length, or -1 on invalid input; out holds >= n*3/4+3. */
long ws_base64_decode(const char *p, size_t n, uint8_t *out);
