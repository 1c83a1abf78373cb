/* SPDY/3.1 framing as Kubernetes' streaming protocols use it (the
 * moby/spdystream dialect): frame parsing and building, and zlib-compressed
 * header blocks primed with the SPDY/3 dictionary. No I/O here, so the
 * parsers can be fuzzed and unit tested on their own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "lib/error.h"

#define SPDY_VERSION 3

enum spdy_type {
	SPDY_SYN_STREAM = 1,
	SPDY_SYN_REPLY = 2,
	SPDY_RST_STREAM = 3,
	SPDY_SETTINGS = 4,
	SPDY_PING = 6,
	SPDY_GOAWAY = 7,
	SPDY_HEADERS = 8,
	SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN		 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02

/* RST_STREAM status codes used here. */
#define SPDY_RST_PROTOCOL_ERROR	 1
#define SPDY_RST_INVALID_STREAM	 2
#define SPDY_RST_REFUSED_STREAM	 3
#define SPDY_RST_CANCEL		 5
#define SPDY_RST_INTERNAL_ERROR	 6

#define SPDY_FRAME_HEADER_LEN 8
/* The largest frame payload accepted from a peer. Go's framer allows 2^24-1,
 * but the clients send stdin in chunks of at most 32 KiB; header blocks are
 * tiny. A bound keeps a hostile peer from making us buffer 16 MiB per frame. */
#define SPDY_MAX_FRAME_LEN (1u << 20)
/* Our own DATA frames are cut at this size. */
#define SPDY_DATA_CHUNK 32768
/* Decompressed header block bounds. */
#define SPDY_MAX_HEADER_BLOCK (64u * 1024)
#define SPDY_MAX_HEADERS      64

#define SPDY_HEADER_DICT_LEN 1423
extern const unsigned char spdy_header_dict[SPDY_HEADER_DICT_LEN];

struct spdy_frame {
	bool control;
	uint16_t version; /* control frames */
	uint16_t type;	  /* control frames: enum spdy_type */
	uint8_t flags;
	uint32_t stream_id; /* data frames, and the control frames that carry one */
	const uint8_t *payload;
	uint32_t len;
};

/* Parse one frame at buf. Returns 1 with *f and *consumed set, 0 when more
 * bytes are needed, or a negative errno (EPROTO: malformed, EMSGSIZE: over
 * SPDY_MAX_FRAME_LEN) with err set. For control frames with a stream id
 * (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE) the id is
 * decoded into stream_id and checked for the minimum length. */
int spdy_parse_frame(const uint8_t *buf, size_t len, struct spdy_frame *f, size_t *consumed,
		     ndl_error_t *err);

struct spdy_header {
	char *name;  /* lower case, as SPDY requires */
	char *value; /* several values are joined by NUL in SPDY; kept as is up to the first */
};

struct spdy_headers {
	struct spdy_header h[SPDY_MAX_HEADERS];
	size_t n;
};

void spdy_headers_clear(struct spdy_headers *h);
/* The first value of a header by case-insensitive name, or NULL. */
const char *spdy_headers_get(const struct spdy_headers *h, const char *name);

/* One zlib context per direction and session (SPDY compresses all header
 * blocks of a session in one stream). */
struct spdy_zlib {
	z_stream in, out;
	bool in_ok, out_ok;
};

int spdy_zlib_init(struct spdy_zlib *z, ndl_error_t *err);
void spdy_zlib_free(struct spdy_zlib *z);

/* Decode a compressed header block (count, then length-prefixed name/value
 * pairs, all 32-bit big endian). Names must be lower case and non-empty. */
int spdy_headers_decode(struct spdy_zlib *z, const uint8_t *block, size_t len,
			struct spdy_headers *ret, ndl_error_t *err);
/* Decode an uncompressed header block (the fuzzer and tests use it directly). */
int spdy_headers_parse_plain(const uint8_t *p, size_t len, struct spdy_headers *ret,
			     ndl_error_t *err);

/* Frame builders: append to a growable buffer. */
struct spdy_buf {
	uint8_t *data; /* the unconsumed bytes */
	size_t len;
	size_t cap;    /* room from data on */
	uint8_t *base; /* the allocation: consuming only moves data forward */
};
void spdy_buf_free(struct spdy_buf *b);
void spdy_buf_consume(struct spdy_buf *b, size_t n);
void spdy_buf_append(struct spdy_buf *b, const void *p, size_t n);

/* SYN_REPLY (or SYN_STREAM when syn) with the given headers (names must be
 * lower case). */
int spdy_put_syn(struct spdy_buf *b, struct spdy_zlib *z, bool syn, uint32_t stream_id,
		 uint8_t flags, const char *const *names, const char *const *values, size_t n,
		 ndl_error_t *err);
void spdy_put_data(struct spdy_buf *b, uint32_t stream_id, uint8_t flags, const void *p,
		   size_t n);
void spdy_put_rst(struct spdy_buf *b, uint32_t stream_id, uint32_t status);
void spdy_put_ping(struct spdy_buf *b, uint32_t id);
void spdy_put_goaway(struct spdy_buf *b, uint32_t last_stream, uint32_t status);
