/* registries.yaml in the format k3s/RKE2 nodes use:
 *
 *   mirrors:
 *     docker.io:
 *       endpoint: ["https://mirror:5000", "http://10.0.0.1:5000"]
 *       rewrite: {"^library/(.*)": "mirrored/$1"}
 *   configs:
 *     "mirror:5000":
 *       auth: {username: u, password: p}     # or auth: <base64>, identity_token
 *       tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: false}
 */
#include <regex.h>
#include <stdbool.h>
#include <string.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "lib/yaml2json.h"

#define REGCFG_MAX (1u << 20)
#define REGCFG_MAX_ENTRIES 1024

void registry_config_free(struct registry_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_mirrors; i++) {
		struct registry_mirror *m = &c->mirrors[i];
		free(m->host);
		strv_free(m->endpoints);
		for (size_t k = 0; k < m->n_rewrites; k++) {
			free(m->rewrite_re[k]);
			free(m->rewrite_to[k]);
		}
		free(m->rewrite_re);
		free(m->rewrite_to);
	}
	free(c->mirrors);
	for (size_t i = 0; i < c->n_configs; i++) {
		struct registry_host_config *h = &c->configs[i];
		free(h->host);
		free(h->username);
		free(h->password);
		free(h->auth);
		free(h->identity_token);
		free(h->ca_file);
		free(h->cert_file);
		free(h->key_file);
	}
	free(c->configs);
	free(c);
}

static int opt_str(const json_t *o, const char *where, const char *key, char **dst,
		   ndl_error_t *err)
{
	const char *s = NULL;
	if (ndl_json_get_string(o, where, key, false, &s, err) < 0)
		return -EINVAL;
	if (s)
		*dst = xstrdup(s);
	return 0;
}

/* An endpoint is a URL with http or https scheme (k3s also accepts a bare
 * host, meaning https). */
static int check_endpoint(const char *where, const char *e, ndl_error_t *err)
{
	const char *h = e;
	if (strncmp(e, "https://", 8) == 0)
		h = e + 8;
	else if (strncmp(e, "http://", 7) == 0)
		h = e + 7;
	else if (strstr(e, "://"))
		return ndl_error_setf(err, EINVAL, "field \"%s\": unsupported scheme in \"%s\"", where, e);
	if (!*h || *h == '/')
		return ndl_error_setf(err, EINVAL, "field \"%s\": no host in \"%s\"", where, e);
	for (const char *p = h; *p; p++)
		if ((unsigned char)*p <= ' ')
			return ndl_error_setf(err, EINVAL, "field \"%s\": invalid endpoint \"%s\"", where, e);
	return 0;
}


/* glibc's regcomp expands bounded repetition (and x+) by copying the
 * subtree, so a nested "((a{255}){255}){255}" or "a++++++++..." from a
 * hostile registries.yaml costs gigabytes. Bound the pattern length and the
 * product of the copies along any nesting path ({n}, {n,}, {n,m}: n+1 or
 * m+1; +: 2). */
#define REWRITE_MAX_LEN 256
#define REWRITE_MAX_REPEAT 100
static bool rewrite_regex_too_costly(const char *re)
{
	if (strlen(re) > REWRITE_MAX_LEN)
		return true;
	/* inner[d]: the largest expansion inside the group open at depth d;
	 * last: the expansion of the atom a following {n,m} would repeat. */
	unsigned long inner[REWRITE_MAX_LEN + 2];
	size_t depth = 0;
	unsigned long last = 1;
	inner[0] = 1;
	for (const char *p = re; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			last = 1;
		} else if (*p == '[') {
			/* Bracket expression: ']' first (or after '^') is literal. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']')
				p++;
			if (!*p)
				return false; /* regcomp reports the syntax error */
			last = 1;
		} else if (*p == '(') {
			inner[++depth] = 1;
			last = 1;
		} else if (*p == ')' && depth > 0) {
			last = inner[depth--];
			if (last > inner[depth])
				inner[depth] = last;
		} else if (*p == '{') {
			unsigned long n = 0, m;
			const char *q = p + 1;
			while (*q >= '0' && *q <= '9' && n <= REWRITE_MAX_REPEAT)
				n = n * 10 + (unsigned long)(*q++ - '0');
			m = n;
			if (*q == ',') {
				q++;
				m = 0;
				while (*q >= '0' && *q <= '9' && m <= REWRITE_MAX_REPEAT)
					m = m * 10 + (unsigned long)(*q++ - '0');
				if (m < n)
					m = n;
			}
			if (n > REWRITE_MAX_REPEAT || m > REWRITE_MAX_REPEAT)
				return true;
			unsigned long cost = last * (m + 1);
			if (cost > REWRITE_MAX_REPEAT)
				return true;
			last = cost;
			if (cost > inner[depth])
				inner[depth] = cost;
		} else if (*p == '+') {
			/* glibc compiles x+ as x x*: the subtree is copied too. */
			unsigned long cost = last * 2;
			if (cost > REWRITE_MAX_REPEAT)
				return true;
			last = cost;
			if (cost > inner[depth])
				inner[depth] = cost;
		} else if (*p == '*' || *p == '?') {
			/* No copy; the atom keeps its cost for a following quantifier. */
		} else {
			last = 1;
		}
	}
	return false;
}

static int parse_mirror(const char *host, const json_t *v, struct registry_mirror *m,
			ndl_error_t *err)
{
	cleanup_free char *where = xasprintf("mirrors.%s", host);
	m->host = xstrdup(host);
	if (!json_is_object(v))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(v));
	json_t *eps = NULL, *rw = NULL;
	if (ndl_json_get_array(v, where, "endpoint", false, &eps, err) < 0 ||
	    ndl_json_get_object(v, where, "rewrite", false, &rw, err) < 0)
		return -EINVAL;
	size_t n = json_array_size(eps);
	if (n > REGCFG_MAX_ENTRIES)
		return ndl_error_setf(err, EINVAL, "field \"%s.endpoint\": too many entries", where);
	m->endpoints = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(eps, i);
		char ew[300];
		snprintf(ew, sizeof(ew), "%s.endpoint[%zu]", where, i);
		if (!json_is_string(e))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected string, got %s", ew,
					      ndl_json_type_name(e));
		if (check_endpoint(ew, json_string_value(e), err) < 0)
			return -EINVAL;
		m->endpoints[i] = xstrdup(json_string_value(e));
		/* Trailing slashes would double up when joined with "/v2/". */
		size_t l = strlen(m->endpoints[i]);
		while (l > 0 && m->endpoints[i][l - 1] == '/')
			m->endpoints[i][--l] = '\0';
	}
	size_t nr = json_object_size(rw);
	if (nr > REGCFG_MAX_ENTRIES)
		return ndl_error_setf(err, EINVAL, "field \"%s.rewrite\": too many entries", where);
	m->rewrite_re = xcalloc(nr + 1, sizeof(char *));
	m->rewrite_to = xcalloc(nr + 1, sizeof(char *));
	const char *k;
	json_t *to;
	json_object_foreach(rw, k, to)
	{
		if (!json_is_string(to))
			return ndl_error_setf(err, EINVAL, "field \"%s.rewrite.%s\": expected string, got %s",
					      where, k, ndl_json_type_name(to));
		if (rewrite_regex_too_costly(k))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.rewrite\": regex \"%.64s\" is too long or "
					      "repeats too much (at most %d bytes, repetition counts "
					      "multiplying to at most %d)",
					      where, k, REWRITE_MAX_LEN, REWRITE_MAX_REPEAT);
		regex_t re;
		int rc = regcomp(&re, k, REG_EXTENDED);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			return ndl_error_setf(err, EINVAL, "field \"%s.rewrite\": invalid regex \"%s\": %s",
					      where, k, msg);
		}
		regfree(&re);
		m->rewrite_re[m->n_rewrites] = xstrdup(k);
		m->rewrite_to[m->n_rewrites] = xstrdup(json_string_value(to));
		m->n_rewrites++;
	}
	return 0;
}

static int parse_host_config(const char *host, const json_t *v, struct registry_host_config *h,
			     ndl_error_t *err)
{
	cleanup_free char *where = xasprintf("configs.%s", host);
	h->host = xstrdup(host);
	if (!json_is_object(v))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(v));
	json_t *auth = NULL, *tls = NULL;
	if (ndl_json_get_object(v, where, "auth", false, &auth, err) < 0 ||
	    ndl_json_get_object(v, where, "tls", false, &tls, err) < 0)
		return -EINVAL;
	if (auth) {
		cleanup_free char *aw = xasprintf("%s.auth", where);
		if (opt_str(auth, aw, "username", &h->username, err) < 0 ||
		    opt_str(auth, aw, "password", &h->password, err) < 0 ||
		    opt_str(auth, aw, "auth", &h->auth, err) < 0 ||
		    opt_str(auth, aw, "identity_token", &h->identity_token, err) < 0)
			return -EINVAL;
		if (h->auth) {
			cleanup_free char *dec = base64_decode(h->auth, NULL);
			if (!dec || !strchr(dec, ':'))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s.auth\": not base64 of \"user:password\"", aw);
		}
	}
	if (tls) {
		cleanup_free char *tw = xasprintf("%s.tls", where);
		if (opt_str(tls, tw, "ca_file", &h->ca_file, err) < 0 ||
		    opt_str(tls, tw, "cert_file", &h->cert_file, err) < 0 ||
		    opt_str(tls, tw, "key_file", &h->key_file, err) < 0 ||
		    ndl_json_get_bool(tls, tw, "insecure_skip_verify", false, &h->insecure_skip_verify,
				      err) < 0)
			return -EINVAL;
		if (!!h->cert_file != !!h->key_file)
			return ndl_error_setf(err, EINVAL,
					      "field \"%s\": cert_file and key_file go together", tw);
	}
	return 0;
}

int registry_config_parse(const char *buf, size_t len, struct registry_config **ret,
			  ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (ndl_yaml_parse(buf, len, &j, err) < 0)
		return -EINVAL;
	struct registry_config *c = xcalloc(1, sizeof(*c));
	if (json_is_null(j)) {
		*ret = c;
		return 0;
	}
	if (!json_is_object(j)) {
		registry_config_free(c);
		return ndl_error_setf(err, EINVAL, "top level: expected mapping, got %s",
				      ndl_json_type_name(j));
	}
	json_t *mirrors = NULL, *configs = NULL;
	if (ndl_json_get_object(j, "", "mirrors", false, &mirrors, err) < 0 ||
	    ndl_json_get_object(j, "", "configs", false, &configs, err) < 0)
		goto fail;
	if (json_object_size(mirrors) > REGCFG_MAX_ENTRIES ||
	    json_object_size(configs) > REGCFG_MAX_ENTRIES) {
		ndl_error_setf(err, EINVAL, "too many registries");
		goto fail;
	}
	c->mirrors = xcalloc(json_object_size(mirrors) + 1, sizeof(*c->mirrors));
	c->configs = xcalloc(json_object_size(configs) + 1, sizeof(*c->configs));
	const char *k;
	json_t *v;
	json_object_foreach(mirrors, k, v)
	{
		c->n_mirrors++;
		if (parse_mirror(k, v, &c->mirrors[c->n_mirrors - 1], err) < 0)
			goto fail;
	}
	json_object_foreach(configs, k, v)
	{
		c->n_configs++;
		if (parse_host_config(k, v, &c->configs[c->n_configs - 1], err) < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	registry_config_free(c);
	return -EINVAL;
}

int registry_config_load(const char *path, struct registry_config **ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(path, REGCFG_MAX, &buf, &len, err) < 0)
		return ndl_error_wrap(err, "registry config");
	if (registry_config_parse(buf, len, ret, err) < 0)
		return ndl_error_wrap(err, "registry config %s", path);
	return 0;
}

/* Exact host first, then the "*" wildcard (k3s semantics). */
const struct registry_mirror *registry_config_mirror(const struct registry_config *c,
						      const char *host)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_mirrors; i++)
		if (strcmp(c->mirrors[i].host, host) == 0)
			return &c->mirrors[i];
	for (size_t i = 0; i < c->n_mirrors; i++)
		if (strcmp(c->mirrors[i].host, "*") == 0)
			return &c->mirrors[i];
	return NULL;
}

const struct registry_host_config *registry_config_host(const struct registry_config *c,
							const char *host)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_configs; i++)
		if (strcmp(c->configs[i].host, host) == 0)
			return &c->configs[i];
	for (size_t i = 0; i < c->n_configs; i++)
		if (strcmp(c->configs[i].host, "*") == 0)
			return &c->configs[i];
	return NULL;
}

char *registry_rewrite(const struct registry_mirror *m, const char *repo)
{
	for (size_t i = 0; m && i < m->n_rewrites; i++) {
		regex_t re;
		if (regcomp(&re, m->rewrite_re[i], REG_EXTENDED) != 0)
			continue;
		regmatch_t pm[10];
		int rc = regexec(&re, repo, 10, pm, 0);
		regfree(&re);
		if (rc != 0)
			continue;
		/* Replace the matched span; $N expands to group N. */
		size_t cap = strlen(repo) + strlen(m->rewrite_to[i]) * 4 + 256, n = 0;
		char *out = xmalloc(cap);
		memcpy(out, repo, (size_t)pm[0].rm_so);
		n = (size_t)pm[0].rm_so;
		for (const char *t = m->rewrite_to[i]; *t; t++) {
			if (*t == '$' && t[1] >= '0' && t[1] <= '9') {
				int g = t[1] - '0';
				t++;
				if (pm[g].rm_so >= 0) {
					size_t gl = (size_t)(pm[g].rm_eo - pm[g].rm_so);
					if (n + gl + 1 >= cap) {
						cap = (n + gl) * 2 + 16;
						out = xrealloc(out, cap);
					}
					memcpy(out + n, repo + pm[g].rm_so, gl);
					n += gl;
				}
				continue;
			}
			if (n + 2 >= cap) {
				cap *= 2;
				out = xrealloc(out, cap);
			}
			out[n++] = *t;
		}
		size_t tail = strlen(repo + pm[0].rm_eo);
		if (n + tail + 1 >= cap)
			out = xrealloc(out, n + tail + 1);
		memcpy(out + n, repo + pm[0].rm_eo, tail);
		out[n + tail] = '\0';
		return out;
	}
	return xstrdup(repo);
}
