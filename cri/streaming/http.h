/* The HTTP/1.1 request head the streaming server reads before it upgrades
 * the connection (no body is ever read: exec/attach/portforward requests
 * carry everything in the URL and headers). No I/O, fuzzable. */
#pragma once

#include <stddef.h>

#include "lib/error.h"

#define HTTP_MAX_HEAD	 16384
#define HTTP_MAX_HEADERS 64

struct http_header {
	char *name;
	char *value; /* leading/trailing blanks removed */
};

struct http_request {
	char *method;
	char *target; /* as sent: /exec/TOKEN?x=y */
	char *path;   /* target without the query */
	char *version;
	struct http_header h[HTTP_MAX_HEADERS];
	size_t n;
	char *buf; /* owns every string above */
};

/* Parse a request head from buf. Returns the head's length (through the
 * blank line) with *req filled, 0 when the blank line has not arrived yet
 * (and len < HTTP_MAX_HEAD), or a negative errno with err set (EPROTO:
 * malformed, EMSGSIZE: head over HTTP_MAX_HEAD or too many headers). */
long http_parse_request(const char *buf, size_t len, struct http_request *req, ndl_error_t *err);
void http_request_free(struct http_request *req);
/* First value of a header (case-insensitive name), or NULL. */
const char *http_header_get(const struct http_request *req, const char *name);
/* Every value of a header, in order: returns how many were stored in out. */
size_t http_header_all(const struct http_request *req, const char *name, const char **out,
		       size_t max);
/* Does a comma-separated header value contain token (case-insensitive)? */
int http_token_list_has(const char *value, const char *token);
