/* HTTP/1.1 request head parser (see http.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/streaming/http.h"
#include "lib/xalloc.h"

static const char *find_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return buf + i + 4;
	return NULL;
}

/* RFC 9110 tchar. */
static int is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

long http_parse_request(const char *buf, size_t len, struct http_request *req, ndl_error_t *err)
{
	const char *end = find_end(buf, len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD);
	if (!end) {
		if (len >= HTTP_MAX_HEAD)
			return ndl_error_setf(err, EMSGSIZE, "http: request head over %d bytes",
					      HTTP_MAX_HEAD);
		return 0;
	}
	size_t hl = (size_t)(end - buf);
	struct http_request r;
	memset(&r, 0, sizeof(r));
	r.buf = xstrndup(buf, hl - 4);
	if (strlen(r.buf) != hl - 4) {
		free(r.buf);
		return ndl_error_setf(err, EPROTO, "http: NUL byte in request head");
	}
	char *save = NULL;
	char *line = r.buf;
	char *nl = strstr(line, "\r\n");
	if (nl)
		*nl = '\0';
	save = nl ? nl + 2 : NULL;
	/* Request line: METHOD SP target SP HTTP/1.x */
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line || sp2 == sp1 + 1)
		goto bad_line;
	*sp1 = *sp2 = '\0';
	r.method = line;
	r.target = sp1 + 1;
	r.version = sp2 + 1;
	for (const char *c = r.method; *c; c++)
		if (!is_tchar((unsigned char)*c))
			goto bad_line;
	if (strcmp(r.version, "HTTP/1.1") && strcmp(r.version, "HTTP/1.0"))
		goto bad_line;
	if (r.target[0] != '/')
		goto bad_line;
	for (const char *c = r.target; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			goto bad_line;
	size_t plen = strcspn(r.target, "?#");
	/* path is the last allocation owned separately: a copy of the prefix. */
	while (save && *save) {
		char *l = save;
		nl = strstr(l, "\r\n");
		if (nl) {
			*nl = '\0';
			save = nl + 2;
		} else {
			save = NULL;
		}
		if (*l == ' ' || *l == '\t') {
			free(r.buf);
			return ndl_error_setf(err, EPROTO, "http: obsolete header line folding");
		}
		char *colon = strchr(l, ':');
		if (!colon || colon == l) {
			free(r.buf);
			return ndl_error_setf(err, EPROTO, "http: malformed header line");
		}
		*colon = '\0';
		for (const char *c = l; *c; c++)
			if (!is_tchar((unsigned char)*c)) {
				free(r.buf);
				return ndl_error_setf(err, EPROTO, "http: invalid header name");
			}
		if (r.n == HTTP_MAX_HEADERS) {
			free(r.buf);
			return ndl_error_setf(err, EMSGSIZE, "http: more than %d headers",
					      HTTP_MAX_HEADERS);
		}
		r.h[r.n].name = l;
		r.h[r.n].value = trim(colon + 1);
		r.n++;
	}
	r.path = xstrndup(r.target, plen);
	*req = r;
	return (long)hl;
bad_line:
	free(r.buf);
	return ndl_error_setf(err, EPROTO, "http: malformed request line");
}

void http_request_free(struct http_request *req)
{
	free(req->buf);
	free(req->path);
	memset(req, 0, sizeof(*req));
}

const char *http_header_get(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n; i++)
		if (!strcasecmp(req->h[i].name, name))
			return req->h[i].value;
	return NULL;
}

size_t http_header_all(const struct http_request *req, const char *name, const char **out,
		       size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < req->n && k < max; i++)
		if (!strcasecmp(req->h[i].name, name))
			out[k++] = req->h[i].value;
	return k;
}

int http_token_list_has(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		if (m == tl && !strncasecmp(p, token, tl))
			return 1;
		p += n;
	}
	return 0;
}
