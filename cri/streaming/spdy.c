/* SPDY/3.1 frames and header blocks (see spdy.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/streaming/spdy.h"
#include "lib/xalloc.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int spdy_parse_frame(const uint8_t *buf, size_t len, struct spdy_frame *f, size_t *consumed,
		     ndl_error_t *err)
{
	if (len < SPDY_FRAME_HEADER_LEN)
		return 0;
	uint32_t w0 = be32(buf), w1 = be32(buf + 4);
	uint32_t plen = w1 & 0xffffff;
	if (plen > SPDY_MAX_FRAME_LEN)
		return ndl_error_setf(err, EMSGSIZE, "spdy: frame of %u bytes exceeds %u", plen,
				      SPDY_MAX_FRAME_LEN);
	if (len - SPDY_FRAME_HEADER_LEN < plen)
		return 0;
	memset(f, 0, sizeof(*f));
	f->flags = (uint8_t)(w1 >> 24);
	f->payload = buf + SPDY_FRAME_HEADER_LEN;
	f->len = plen;
	if (w0 & 0x80000000u) {
		f->control = true;
		f->version = (uint16_t)((w0 >> 16) & 0x7fff);
		f->type = (uint16_t)(w0 & 0xffff);
		if (f->version != SPDY_VERSION)
			return ndl_error_setf(err, EPROTO, "spdy: unsupported version %u",
					      f->version);
		uint32_t need = 0;
		switch (f->type) {
		case SPDY_SYN_STREAM:
			need = 10;
			break;
		case SPDY_SYN_REPLY:
		case SPDY_HEADERS:
			need = 4;
			break;
		case SPDY_RST_STREAM:
		case SPDY_WINDOW_UPDATE:
			need = 8;
			break;
		case SPDY_PING:
			need = 4;
			break;
		case SPDY_GOAWAY:
			need = 8;
			break;
		case SPDY_SETTINGS:
			need = 4;
			if (plen >= 4 && (uint64_t)be32(f->payload) * 8 + 4 != plen)
				return ndl_error_setf(err, EPROTO,
						      "spdy: SETTINGS length %u does not match %u "
						      "entries",
						      plen, be32(f->payload));
			break;
		default:
			/* Unknown control frames are ignored by SPDY peers. */
			break;
		}
		if (plen < need)
			return ndl_error_setf(err, EPROTO, "spdy: control frame type %u too short (%u)",
					      f->type, plen);
		if (f->type == SPDY_SYN_STREAM || f->type == SPDY_SYN_REPLY ||
		    f->type == SPDY_HEADERS || f->type == SPDY_RST_STREAM ||
		    f->type == SPDY_WINDOW_UPDATE)
			f->stream_id = be32(f->payload) & 0x7fffffff;
	} else {
		f->stream_id = w0 & 0x7fffffff;
	}
	*consumed = SPDY_FRAME_HEADER_LEN + plen;
	return 1;
}

void spdy_headers_clear(struct spdy_headers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->h[i].name);
		free(h->h[i].value);
	}
	h->n = 0;
}

const char *spdy_headers_get(const struct spdy_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcasecmp(h->h[i].name, name))
			return h->h[i].value;
	return NULL;
}

int spdy_headers_parse_plain(const uint8_t *p, size_t len, struct spdy_headers *ret,
			     ndl_error_t *err)
{
	struct spdy_headers h = {.n = 0};
	if (len < 4)
		return ndl_error_setf(err, EPROTO, "spdy: header block too short");
	uint32_t count = be32(p);
	size_t off = 4;
	if (count > SPDY_MAX_HEADERS)
		return ndl_error_setf(err, EPROTO, "spdy: %u headers exceed the limit of %d", count,
				      SPDY_MAX_HEADERS);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t l[2];
		const uint8_t *s[2];
		for (int k = 0; k < 2; k++) {
			if (len - off < 4)
				goto trunc;
			l[k] = be32(p + off);
			off += 4;
			if (len - off < l[k])
				goto trunc;
			s[k] = p + off;
			off += l[k];
		}
		if (l[0] == 0) {
			spdy_headers_clear(&h);
			return ndl_error_setf(err, EPROTO, "spdy: empty header name");
		}
		for (uint32_t k = 0; k < l[0]; k++)
			if (isupper(s[0][k]) || s[0][k] == 0) {
				spdy_headers_clear(&h);
				return ndl_error_setf(err, EPROTO,
						      "spdy: header name \"%.*s\" is not lower case",
						      (int)l[0], (const char *)s[0]);
			}
		h.h[h.n].name = xstrndup((const char *)s[0], l[0]);
		/* Values may hold several NUL-separated values: keep the first. */
		h.h[h.n].value = xstrndup((const char *)s[1], l[1]);
		h.n++;
	}
	if (off != len) {
		spdy_headers_clear(&h);
		return ndl_error_setf(err, EPROTO, "spdy: %zu stray bytes after header block",
				      len - off);
	}
	*ret = h;
	return 0;
trunc:
	spdy_headers_clear(&h);
	return ndl_error_setf(err, EPROTO, "spdy: truncated header block");
}

int spdy_zlib_init(struct spdy_zlib *z, ndl_error_t *err)
{
	memset(z, 0, sizeof(*z));
	if (inflateInit(&z->in) != Z_OK)
		return ndl_error_setf(err, ENOMEM, "spdy: inflateInit failed");
	z->in_ok = true;
	if (deflateInit(&z->out, Z_DEFAULT_COMPRESSION) != Z_OK ||
	    deflateSetDictionary(&z->out, spdy_header_dict, SPDY_HEADER_DICT_LEN) != Z_OK) {
		spdy_zlib_free(z);
		return ndl_error_setf(err, ENOMEM, "spdy: deflateInit failed");
	}
	z->out_ok = true;
	return 0;
}

void spdy_zlib_free(struct spdy_zlib *z)
{
	if (z->in_ok)
		inflateEnd(&z->in);
	if (z->out_ok)
		deflateEnd(&z->out);
	z->in_ok = z->out_ok = false;
}

int spdy_headers_decode(struct spdy_zlib *z, const uint8_t *block, size_t len,
			struct spdy_headers *ret, ndl_error_t *err)
{
	uint8_t *out = xmalloc(SPDY_MAX_HEADER_BLOCK);
	size_t have = 0;
	z->in.next_in = (Bytef *)block;
	z->in.avail_in = (uInt)len;
	int r = 0;
	while (z->in.avail_in > 0) {
		if (have == SPDY_MAX_HEADER_BLOCK) {
			r = ndl_error_setf(err, EMSGSIZE, "spdy: header block over %u bytes",
					   SPDY_MAX_HEADER_BLOCK);
			goto out;
		}
		z->in.next_out = out + have;
		z->in.avail_out = (uInt)(SPDY_MAX_HEADER_BLOCK - have);
		int zr = inflate(&z->in, Z_SYNC_FLUSH);
		if (zr == Z_NEED_DICT) {
			if (inflateSetDictionary(&z->in, spdy_header_dict, SPDY_HEADER_DICT_LEN) !=
			    Z_OK) {
				r = ndl_error_setf(err, EPROTO, "spdy: header dictionary mismatch");
				goto out;
			}
			zr = Z_OK;
		}
		have = SPDY_MAX_HEADER_BLOCK - z->in.avail_out;
		if (zr == Z_BUF_ERROR && z->in.avail_out > 0)
			break; /* all input used */
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK) {
			r = ndl_error_setf(err, EPROTO, "spdy: header block: zlib error %d", zr);
			goto out;
		}
	}
	r = spdy_headers_parse_plain(out, have, ret, err);
out:
	free(out);
	return r;
}

void spdy_buf_free(struct spdy_buf *b)
{
	free(b->base);
	memset(b, 0, sizeof(*b));
}

/* O(1): a large backlog written out in small pieces must not be moved for
 * each piece; the space is reclaimed when the buffer next grows. */
void spdy_buf_consume(struct spdy_buf *b, size_t n)
{
	if (n >= b->len) {
		b->cap += (size_t)(b->data - b->base);
		b->data = b->base;
		b->len = 0;
		return;
	}
	b->data += n;
	b->len -= n;
	b->cap -= n;
}

static uint8_t *buf_grow(struct spdy_buf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t off = (size_t)(b->data - b->base);
		if (off) {
			memmove(b->base, b->data, b->len);
			b->data = b->base;
			b->cap += off;
		}
		if (b->cap - b->len < n) {
			size_t cap = b->cap ? b->cap : 256;
			while (cap - b->len < n)
				cap *= 2;
			b->base = b->data = xrealloc(b->base, cap);
			b->cap = cap;
		}
	}
	uint8_t *p = b->data + b->len;
	b->len += n;
	return p;
}

void spdy_buf_append(struct spdy_buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(buf_grow(b, n), p, n);
}

static void put_control_header(uint8_t *p, uint16_t type, uint8_t flags, uint32_t len)
{
	put32(p, 0x80000000u | (uint32_t)SPDY_VERSION << 16 | type);
	put32(p + 4, (uint32_t)flags << 24 | (len & 0xffffff));
}

int spdy_put_syn(struct spdy_buf *b, struct spdy_zlib *z, bool syn, uint32_t stream_id,
		 uint8_t flags, const char *const *names, const char *const *values, size_t n,
		 ndl_error_t *err)
{
	struct spdy_buf plain = {0};
	uint8_t w[4];
	put32(w, (uint32_t)n);
	spdy_buf_append(&plain, w, 4);
	for (size_t i = 0; i < n; i++) {
		put32(w, (uint32_t)strlen(names[i]));
		spdy_buf_append(&plain, w, 4);
		spdy_buf_append(&plain, names[i], strlen(names[i]));
		put32(w, (uint32_t)strlen(values[i]));
		spdy_buf_append(&plain, w, 4);
		spdy_buf_append(&plain, values[i], strlen(values[i]));
	}
	size_t fixed = syn ? 10 : 4;
	size_t start = b->len;
	uint8_t *hdr = buf_grow(b, SPDY_FRAME_HEADER_LEN + fixed);
	(void)hdr;
	size_t bound = deflateBound(&z->out, plain.len) + 16;
	uint8_t *zout = buf_grow(b, bound);
	z->out.next_in = plain.data;
	z->out.avail_in = (uInt)plain.len;
	z->out.next_out = zout;
	z->out.avail_out = (uInt)bound;
	int zr = deflate(&z->out, Z_SYNC_FLUSH);
	spdy_buf_free(&plain);
	if (zr != Z_OK || z->out.avail_in != 0) {
		b->len = start;
		return ndl_error_setf(err, EIO, "spdy: compress header block: zlib error %d", zr);
	}
	size_t clen = bound - z->out.avail_out;
	b->len = start + SPDY_FRAME_HEADER_LEN + fixed + clen;
	uint8_t *p = b->data + start;
	put_control_header(p, syn ? SPDY_SYN_STREAM : SPDY_SYN_REPLY, flags,
			   (uint32_t)(fixed + clen));
	put32(p + 8, stream_id & 0x7fffffff);
	if (syn) {
		put32(p + 12, 0); /* associated-to stream */
		p[16] = 0;	  /* priority */
		p[17] = 0;	  /* slot */
	}
	return 0;
}

void spdy_put_data(struct spdy_buf *b, uint32_t stream_id, uint8_t flags, const void *p, size_t n)
{
	uint8_t *h = buf_grow(b, SPDY_FRAME_HEADER_LEN);
	put32(h, stream_id & 0x7fffffff);
	put32(h + 4, (uint32_t)flags << 24 | ((uint32_t)n & 0xffffff));
	spdy_buf_append(b, p, n);
}

void spdy_put_rst(struct spdy_buf *b, uint32_t stream_id, uint32_t status)
{
	uint8_t *h = buf_grow(b, 16);
	put_control_header(h, SPDY_RST_STREAM, 0, 8);
	put32(h + 8, stream_id & 0x7fffffff);
	put32(h + 12, status);
}

void spdy_put_ping(struct spdy_buf *b, uint32_t id)
{
	uint8_t *h = buf_grow(b, 12);
	put_control_header(h, SPDY_PING, 0, 4);
	put32(h + 8, id);
}

void spdy_put_goaway(struct spdy_buf *b, uint32_t last_stream, uint32_t status)
{
	uint8_t *h = buf_grow(b, 16);
	put_control_header(h, SPDY_GOAWAY, 0, 8);
	put32(h + 8, last_stream & 0x7fffffff);
	put32(h + 12, status);
}
