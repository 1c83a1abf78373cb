/* OCI distribution client over libcurl: endpoint selection (mirrors,
 * rewrites, default host), Bearer and Basic auth, retries with backoff on
 * transient failures, verified blob downloads in parallel. */
#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define ACCEPT_MANIFESTS                                                                           \
	"Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST    \
	", " MT_DOCKER_V1_SIGNED ";q=0.5, " MT_DOCKER_V1 ";q=0.5"

struct endpoint {
	char *base; /* "https://host:port" (no trailing slash, may carry a path prefix) */
	char *host; /* "host:port", for registries.yaml configs and docker auths */
	char *repo; /* repository path at this endpoint (after rewrites) */
	bool loopback; /* plain-HTTP fallback allowed (localhost, as docker/containerd) */
	const struct registry_host_config *cfg;
	char *basic; /* "user:password" or NULL */
	char *identity_token, *registry_token;
	char *bearer; /* current token, guarded by the client mutex */
	bool use_http; /* decided after a failed TLS handshake to a loopback host */
};

struct registry_client {
	struct image_store *s;
	struct endpoint *eps;
	size_t n_eps;
	size_t cur; /* endpoint that served the manifest */
	pthread_mutex_t mu;
	/* Idle curl handles: reusing one reuses its open connections (no new
	 * TCP/TLS handshake per blob). Guarded by mu. */
	CURL *idle[16];
	size_t n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool host_is_loopback(const char *host)
{
	size_t hn = strcspn(host, ":");
	if (host[0] == '[')
		return strncmp(host, "[::1]", 5) == 0;
	return (hn == 9 && strncmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0;
}

static void endpoint_free(struct endpoint *e)
{
	free(e->base);
	free(e->host);
	free(e->repo);
	if (e->basic)
		explicit_bzero(e->basic, strlen(e->basic));
	free(e->basic);
	free(e->identity_token);
	free(e->registry_token);
	free(e->bearer);
}

void registry_client_free(struct registry_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_eps; i++)
		endpoint_free(&c->eps[i]);
	free(c->eps);
	for (size_t i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Credentials for an endpoint: the CRI request's, else registries.yaml's,
 * else the docker config's. */
static void endpoint_creds(struct image_store *s, struct endpoint *e, const struct image_auth *a)
{
	if (a && (a->username || a->auth || a->identity_token || a->registry_token)) {
		if (a->auth && *a->auth) {
			size_t n;
			e->basic = base64_decode(a->auth, &n);
		} else if (a->username && *a->username) {
			e->basic = xasprintf("%s:%s", a->username, a->password ? a->password : "");
		}
		if (a->identity_token && *a->identity_token)
			e->identity_token = xstrdup(a->identity_token);
		if (a->registry_token && *a->registry_token)
			e->registry_token = xstrdup(a->registry_token);
		return;
	}
	const struct registry_host_config *h = e->cfg;
	if (h && (h->auth || h->username || h->identity_token)) {
		if (h->auth)
			e->basic = base64_decode(h->auth, NULL);
		else if (h->username)
			e->basic = xasprintf("%s:%s", h->username, h->password ? h->password : "");
		if (h->identity_token)
			e->identity_token = xstrdup(h->identity_token);
		return;
	}
	if (s->docker_auths) {
		json_t *ent = json_object_get(s->docker_auths, e->host);
		if (!ent && strcmp(e->host, "registry-1.docker.io") == 0)
			ent = json_object_get(s->docker_auths, "https://index.docker.io/v1/");
		if (!ent) {
			cleanup_free char *h2 = xasprintf("https://%s", e->host);
			ent = json_object_get(s->docker_auths, h2);
		}
		const char *au = json_string_value(json_object_get(ent, "auth"));
		const char *it = json_string_value(json_object_get(ent, "identitytoken"));
		if (au && *au)
			e->basic = base64_decode(au, NULL);
		if (it && *it)
			e->identity_token = xstrdup(it);
	}
}

static void add_endpoint(struct registry_client *c, const char *url, const char *repo,
			 const struct image_auth *auth)
{
	struct endpoint *e = &c->eps[c->n_eps++];
	memset(e, 0, sizeof(*e));
	if (strstr(url, "://"))
		e->base = xstrdup(url);
	else
		e->base = xasprintf("https://%s", url);
	const char *h = strstr(e->base, "://") + 3;
	e->host = xstrndup(h, strcspn(h, "/"));
	e->repo = xstrdup(repo);
	e->loopback = host_is_loopback(e->host);
	e->cfg = registry_config_host(c->s->regcfg, e->host);
	endpoint_creds(c->s, e, auth);
}

int registry_client_new(struct image_store *s, const struct image_ref *ref,
			const struct image_auth *auth, struct registry_client **ret, ndl_error_t *err)
{
	pthread_once(&curl_once, curl_init_once);
	struct registry_client *c = xcalloc(1, sizeof(*c));
	c->s = s;
	pthread_mutex_init(&c->mu, NULL);
	const struct registry_mirror *m = registry_config_mirror(s->regcfg, ref->domain);
	size_t n = m ? strv_len(m->endpoints) : 0;
	c->eps = xcalloc(n + 1, sizeof(struct endpoint));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *repo = registry_rewrite(m, ref->path);
		add_endpoint(c, m->endpoints[i], repo, auth);
	}
	/* The registry itself comes last, as k3s/containerd do. */
	const char *def = strcmp(ref->domain, "docker.io") == 0 ? "registry-1.docker.io" : ref->domain;
	bool dup = false;
	for (size_t i = 0; i < c->n_eps; i++) {
		const char *h = strstr(c->eps[i].base, "://") + 3;
		if (strcmp(h, def) == 0)
			dup = true;
	}
	if (!dup)
		add_endpoint(c, def, ref->path, auth);
	(void)err;
	*ret = c;
	return 0;
}

/* ---- one HTTP exchange ---- */

struct xfer {
	/* response */
	long status;
	char *content_type, *digest, *www_auth;
	/* body sink: memory or a blob writer */
	char *body;
	size_t len, max;
	struct blob_writer *w;
	ndl_error_t werr;
	bool sink_failed;
	/* progress */
	const char *what;
	struct timespec start, last_log;
	/* curl's detail for a failed transfer (the TLS alert, say), which
	 * curl_easy_strerror alone does not carry */
	char errbuf[CURL_ERROR_SIZE];
};

/* curl's text for a failed transfer plus its detail when it has one:
 * "Failure when receiving data from the peer (OpenSSL SSL_read: ...)".
 * Returns a static buffer per thread. */
static const char *xfer_strerror(const struct xfer *x, CURLcode rc)
{
	static __thread char buf[CURL_ERROR_SIZE + 128];
	const char *gen = curl_easy_strerror(rc);
	if (!x->errbuf[0] || strcmp(x->errbuf, gen) == 0)
		return gen;
	snprintf(buf, sizeof(buf), "%s (%s)", gen, x->errbuf);
	return buf;
}

/* A registry that demands a client certificate lets a TLS 1.3 handshake
 * without one finish, then sends its alert and closes: depending on timing
 * curl reports the alert, or only that the peer went away on the first
 * write/read. Say what the likely cause is rather than leave a bare
 * "Failed sending data to the peer". */
static const char *client_cert_hint(const struct endpoint *e, const char *url, CURLcode rc,
				    const struct xfer *x)
{
	/* Not once a response arrived: a registry dying mid-body is no TLS matter. */
	if (x->status != 0 || strncmp(url, "https://", 8) != 0 || (e->cfg && e->cfg->cert_file))
		return "";
	if (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR && rc != CURLE_GOT_NOTHING)
		return "";
	return "; the registry closed the TLS connection after the handshake: it may require a client "
	       "certificate (registries.yaml configs.\"<host>\".tls.cert_file/key_file)";
}

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = size * n;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a redirect): forget the previous headers;
		 * its status decides where the body goes. */
		const char *sp = memchr(buf, ' ', len);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		free(x->content_type);
		free(x->digest);
		free(x->www_auth);
		x->content_type = x->digest = x->www_auth = NULL;
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t kn = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vn = len - kn - 1;
	while (vn && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
		vn--;
	char **slot = NULL;
	if (kn == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
		slot = &x->content_type;
	else if (kn == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0)
		slot = &x->digest;
	else if (kn == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0)
		slot = &x->www_auth;
	if (slot && !*slot)
		*slot = xstrndup(v, vn);
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = size * n;
	/* Error bodies are kept in memory (bounded) for messages. */
	if (x->w && x->status >= 200 && x->status < 300) {
		if (blob_writer_write(x->w, buf, len, &x->werr) < 0) {
			x->sink_failed = true;
			return 0;
		}
		return len;
	}
	if (x->len + len > x->max) {
		if (x->status >= 300 || x->status == 0)
			return len; /* drop the rest of a long error page */
		ndl_error_setf(&x->werr, EFBIG, "response larger than %zu bytes", x->max);
		x->sink_failed = true;
		return 0;
	}
	x->body = xrealloc(x->body, x->len + len + 1);
	memcpy(x->body + x->len, buf, len);
	x->len += len;
	x->body[x->len] = '\0';
	return len;
}

static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
		       curl_off_t ulnow)
{
	struct xfer *x = data;
	(void)ult;
	(void)ulnow;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - x->last_log.tv_sec >= 5 && now.tv_sec - x->start.tv_sec >= 5) {
		x->last_log = now;
		double secs = (double)(now.tv_sec - x->start.tv_sec) +
			      (double)(now.tv_nsec - x->start.tv_nsec) / 1e9;
		log_debug(1, "pull progress", "blob=%s bytes=%lld total=%lld rate_kib_s=%.0f",
			  x->what ? x->what : "manifest",
			  (long long)dlnow, (long long)dltotal, secs > 0 ? (double)dlnow / 1024 / secs : 0);
	}
	return 0;
}

static void xfer_reset(struct xfer *x)
{
	free(x->content_type);
	free(x->digest);
	free(x->www_auth);
	free(x->body);
	ndl_error_clear(&x->werr);
	struct blob_writer *w = x->w;
	size_t max = x->max;
	const char *what = x->what;
	memset(x, 0, sizeof(*x));
	x->w = w;
	x->max = max;
	x->what = what;
}

static void setup_tls(CURL *h, const struct endpoint *e)
{
	const struct registry_host_config *cfg = e->cfg;
	if (!cfg)
		return;
	if (cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
	}
	if (cfg->insecure_skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* The daemon forks shims while pulls run: no socket may leak into them. */
static curl_socket_t open_socket_cloexec(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Perform one request. Returns the CURLcode; x holds the response. */
static CURLcode perform(struct registry_client *c, struct endpoint *e, const char *url,
			const char *accept, const char *authz, const char *post, struct xfer *x)
{
	pthread_mutex_lock(&c->mu);
	CURL *h = c->n_idle ? c->idle[--c->n_idle] : NULL;
	pthread_mutex_unlock(&c->mu);
	if (h)
		curl_easy_reset(h); /* options only: connections stay cached */
	else
		h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	if (accept)
		hdrs = curl_slist_append(hdrs, accept);
	if (authz)
		hdrs = curl_slist_append(hdrs, authz);
	hdrs = curl_slist_append(hdrs, "User-Agent: nodelet-cri/0.1");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	/* Blob redirects to storage hosts: curl never sends our custom
	 * Authorization header to a different host (CURLOPT_UNRESTRICTED_AUTH off). */
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket_cloexec);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->s->timeout_seconds);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
	if (post)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
	setup_tls(h, e);
	x->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	x->last_log = x->start;
	/* Status before the body arrives, so the body sink knows where to go. */
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	/* The handle outlives x in the idle pool. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	pthread_mutex_lock(&c->mu);
	if (c->n_idle < sizeof(c->idle) / sizeof(c->idle[0]))
		c->idle[c->n_idle++] = h, h = NULL;
	pthread_mutex_unlock(&c->mu);
	if (h)
		curl_easy_cleanup(h);
	return rc;
}

static bool transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool tls_failure(CURLcode rc)
{
	/* Only a failed handshake (a plain-HTTP server answering): a
	 * certificate that does not verify is never a reason to drop TLS. */
	return rc == CURLE_SSL_CONNECT_ERROR;
}

static char *url_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *r = xstrdup(e);
	curl_free(e);
	return r;
}

/* Token endpoint (distribution token spec): GET with Basic credentials, or
 * the OAuth2 POST when only an identity (refresh) token is known. */
static int fetch_token(struct registry_client *c, struct endpoint *e,
		       const struct auth_challenge *ch, ndl_error_t *err)
{
	cleanup_free char *scope = ch->scope ? xstrdup(ch->scope)
					     : xasprintf("repository:%s:pull", e->repo);
	cleanup_free char *sc_e = url_escape(scope);
	cleanup_free char *sv_e = url_escape(ch->service ? ch->service : "");
	cleanup_free char *url = NULL, *post = NULL, *authz = NULL;
	if (e->identity_token) {
		cleanup_free char *tok_e = url_escape(e->identity_token);
		url = xstrdup(ch->realm);
		post = xasprintf("grant_type=refresh_token&refresh_token=%s&service=%s&scope=%s&client_id=nodelet",
				 tok_e, sv_e, sc_e);
	} else {
		url = xasprintf("%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
				sv_e, sc_e);
		if (e->basic) {
			cleanup_free char *b64 = base64_encode(e->basic, strlen(e->basic));
			authz = xasprintf("Authorization: Basic %s", b64);
		}
	}
	struct xfer x = {.max = 1 << 20};
	CURLcode rc = perform(c, e, url, "Accept: application/json", authz, post, &x);
	int r = 0;
	if (rc != CURLE_OK) {
		r = ndl_error_setf(err, EIO, "token server %s: %s%s", ch->realm, xfer_strerror(&x, rc),
				   client_cert_hint(e, url, rc, &x));
	} else if (x.status != 200) {
		r = ndl_error_setf(err, x.status == 401 || x.status == 403 ? EACCES : EIO,
				   "token server %s: HTTP %ld%s", ch->realm, x.status,
				   x.status == 401 ? " (unauthorized: check credentials)" : "");
	} else {
		cleanup_json json_t *j = NULL;
		if (ndl_json_parse(x.body ? x.body : "", x.len, &j, err) < 0) {
			r = ndl_error_wrap(err, "token server %s", ch->realm);
		} else {
			const char *tok = json_string_value(json_object_get(j, "token"));
			if (!tok || !*tok)
				tok = json_string_value(json_object_get(j, "access_token"));
			if (!tok || !*tok) {
				r = ndl_error_setf(err, EIO, "token server %s: no token in response", ch->realm);
			} else {
				pthread_mutex_lock(&c->mu);
				free(e->bearer);
				e->bearer = xstrdup(tok);
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
	xfer_reset(&x);
	return r;
}

static char *auth_header(struct registry_client *c, struct endpoint *e, bool *basic_mode)
{
	char *r = NULL;
	pthread_mutex_lock(&c->mu);
	if (e->registry_token)
		r = xasprintf("Authorization: Bearer %s", e->registry_token);
	else if (e->bearer)
		r = xasprintf("Authorization: Bearer %s", e->bearer);
	else if (*basic_mode && e->basic) {
		cleanup_free char *b64 = base64_encode(e->basic, strlen(e->basic));
		r = xasprintf("Authorization: Basic %s", b64);
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* GET url with auth challenges answered and transient errors retried.
 * On success x holds a 2xx response. */
static int request(struct registry_client *c, struct endpoint *e, const char *path,
		   const char *accept, struct xfer *x, int (*restart)(void *), void *rarg,
		   ndl_error_t *err)
{
	bool basic_mode = false;
	int auth_rounds = 0;
	int attempt = 0;
	for (;;) {
		cleanup_free char *url = xasprintf("%s%s", e->use_http && strncmp(e->base, "https://", 8) == 0
								   ? "http://"
								   : "",
						   e->use_http && strncmp(e->base, "https://", 8) == 0
							   ? e->base + 8
							   : e->base);
		cleanup_free char *full = xasprintf("%s%s", url, path);
		cleanup_free char *authz = auth_header(c, e, &basic_mode);
		xfer_reset(x);
		if (restart && restart(rarg) < 0)
			return ndl_error_set(err, errno, "restart download");
		CURLcode rc = perform(c, e, full, accept, authz, NULL, x);
		if (x->sink_failed) {
			ndl_error_setf(err, x->werr.code ? x->werr.code : EIO, "%s", ndl_error_msg(&x->werr));
			return ndl_error_wrap(err, "GET %s", full);
		}
		if (rc != CURLE_OK && e->loopback && !e->use_http && tls_failure(rc) &&
		    strncmp(e->base, "https://", 8) == 0) {
			/* Loopback registries may speak plain HTTP (docker and
			 * containerd treat localhost as insecure). */
			log_debug(2, "registry: TLS failed on loopback host, trying plain HTTP", "host=%s",
				  e->host);
			e->use_http = true;
			continue;
		}
		bool transient = (rc != CURLE_OK && transient_curl(rc)) ||
				 (rc == CURLE_OK && (x->status >= 500 || x->status == 429));
		if (transient && ++attempt < c->s->retries) {
			/* Exponential backoff: 0.5 s, 1 s, 2 s ... */
			unsigned ms = 500u << (attempt - 1);
			log_debug(1, "registry: transient error, retrying", "url=%s attempt=%d wait_ms=%u err=\"%s\" status=%ld",
				  full, attempt, ms, rc != CURLE_OK ? xfer_strerror(x, rc) : "", x->status);
			struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (rc != CURLE_OK)
			return ndl_error_setf(err, EIO, "GET %s: %s%s", full, xfer_strerror(x, rc),
					      client_cert_hint(e, full, rc, x));
		if (x->status == 401 && auth_rounds++ < 2) {
			struct auth_challenge ch = {0};
			if (auth_challenge_parse(x->www_auth, &ch, err) < 0)
				return ndl_error_wrap(err, "GET %s: HTTP 401", full);
			int r = 0;
			if (strcmp(ch.scheme, "bearer") == 0) {
				r = fetch_token(c, e, &ch, err);
			} else if (strcmp(ch.scheme, "basic") == 0) {
				if (!e->basic || basic_mode)
					r = ndl_error_setf(err, EACCES, "GET %s: unauthorized (%s)", full,
							   e->basic ? "credentials rejected"
								    : "registry wants credentials");
				basic_mode = true;
			} else {
				r = ndl_error_setf(err, ENOTSUP, "GET %s: unsupported auth scheme \"%s\"",
						   full, ch.scheme);
			}
			auth_challenge_clear(&ch);
			if (r < 0)
				return r;
			continue;
		}
		if (x->status < 200 || x->status >= 300) {
			const char *msg = "";
			cleanup_json json_t *j = NULL;
			if (x->body && ndl_json_parse(x->body, x->len, &j, NULL) == 0) {
				json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
				msg = json_string_value(json_object_get(e0, "message")) ?: "";
			}
			int code = x->status == 404 ? ENOENT
				   : (x->status == 401 || x->status == 403) ? EACCES
									 : EIO;
			return ndl_error_setf(err, code, "GET %s: HTTP %ld%s%s", full, x->status,
					      *msg ? ": " : "", msg);
		}
		return 0;
	}
}

int registry_get_manifest(struct registry_client *c, const char *tag_or_digest, char **ret_body,
			  size_t *ret_len, char **ret_type, char **ret_digest, ndl_error_t *err)
{
	cleanup_error ndl_error_t first = NDL_ERROR_INIT;
	for (size_t i = 0; i < c->n_eps; i++) {
		struct endpoint *e = &c->eps[i];
		cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", e->repo, tag_or_digest);
		struct xfer x = {.max = IMAGES_MAX_MANIFEST};
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (request(c, e, path, ACCEPT_MANIFESTS, &x, NULL, NULL, &e2) < 0) {
			log_debug(1, "registry: endpoint failed", "endpoint=%s err=\"%s\"", e->base,
				  ndl_error_msg(&e2));
			/* Keep the most telling error: the registry's own (last). */
			ndl_error_clear(&first);
			first = e2;
			xfer_reset(&x);
			continue;
		}
		cleanup_free char *d = digest_of(x.body ? x.body : "", x.len);
		if (strncmp(tag_or_digest, "sha256:", 7) == 0 && strcmp(d, tag_or_digest) != 0) {
			xfer_reset(&x);
			return ndl_error_setf(err, EBADMSG, "manifest from %s: digest mismatch: want %s, got %s",
					      e->base, tag_or_digest, d);
		}
		c->cur = i;
		*ret_body = x.body ? x.body : xstrdup("");
		x.body = NULL;
		*ret_len = x.len;
		*ret_type = x.content_type ? xstrdup(x.content_type) : NULL;
		*ret_digest = steal_ptr(&d);
		xfer_reset(&x);
		return 0;
	}
	*err = first;
	first = (ndl_error_t)NDL_ERROR_INIT;
	return -abs(err->code ? err->code : EIO);
}

/* ---- blobs, in parallel ---- */

struct fetch_job {
	struct registry_client *c;
	const struct descriptor *d;
	size_t n, next;
	pthread_mutex_t mu;
	ndl_error_t err;
	bool failed;
};

struct restart_ctx {
	struct blob_writer *w;
	struct image_store *s;
	const struct descriptor *d;
	bool opened;
	ndl_error_t err;
};

static int restart_writer(void *arg)
{
	struct restart_ctx *r = arg;
	if (r->opened)
		blob_writer_abort(r->w);
	r->opened = false;
	if (blob_writer_open(r->s, r->d->digest, r->d->size, r->w, &r->err) < 0) {
		errno = r->err.code;
		return -1;
	}
	r->opened = true;
	return 0;
}

int registry_fetch_blob(struct registry_client *c, const struct descriptor *d, ndl_error_t *err)
{
	struct image_store *s = c->s;
	if (store_has_blob(s, d->digest))
		return 0;
	struct endpoint *e = &c->eps[c->cur];
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", e->repo, d->digest);
	/* One download per blob across threads and processes. */
	char lockname[96];
	snprintf(lockname, sizeof(lockname), "locks/blob-%s", d->digest + 7);
	int lk = store_lock(s, lockname, LOCK_EX, err);
	if (lk < 0)
		return lk;
	int r = 0;
	if (store_has_blob(s, d->digest))
		goto out;
	struct blob_writer w = {0};
	struct restart_ctx rc = {.w = &w, .s = s, .d = d};
	struct xfer x = {.max = 1 << 20, .w = &w, .what = d->digest};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = request(c, e, path, NULL, &x, restart_writer, &rc, err);
	xfer_reset(&x);
	if (r < 0) {
		if (rc.err.code) {
			ndl_error_clear(err);
			*err = rc.err;
			rc.err = (ndl_error_t)NDL_ERROR_INIT;
		}
		if (rc.opened)
			blob_writer_abort(&w);
		goto out;
	}
	ndl_error_clear(&rc.err);
	r = blob_writer_commit(&w, NULL, err);
	if (r < 0) {
		ndl_error_wrap(err, "blob from %s", e->base);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	log_debug(1, "pulled blob", "digest=%s bytes=%lld secs=%.2f rate_kib_s=%.0f", d->digest,
		  (long long)d->size, secs, secs > 0 ? (double)d->size / 1024 / secs : 0);
out:
	store_unlock(lk);
	return r;
}

static void *fetch_worker(void *arg)
{
	struct fetch_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		if (j->failed || j->next >= j->n) {
			pthread_mutex_unlock(&j->mu);
			return NULL;
		}
		const struct descriptor *d = &j->d[j->next++];
		pthread_mutex_unlock(&j->mu);
		ndl_error_t e = NDL_ERROR_INIT;
		if (registry_fetch_blob(j->c, d, &e) < 0) {
			pthread_mutex_lock(&j->mu);
			if (!j->failed) {
				j->failed = true;
				j->err = e;
			} else {
				ndl_error_clear(&e);
			}
			pthread_mutex_unlock(&j->mu);
		}
	}
}

int registry_fetch_blobs(struct registry_client *c, const struct descriptor *d, size_t n,
			 ndl_error_t *err)
{
	struct fetch_job j = {.c = c, .d = d, .n = n};
	pthread_mutex_init(&j.mu, NULL);
	size_t nt = (size_t)c->s->max_parallel;
	if (nt > n)
		nt = n;
	pthread_t th[16];
	if (nt > 16)
		nt = 16;
	size_t started = 0;
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&th[started], NULL, fetch_worker, &j) == 0)
			started++;
	fetch_worker(&j);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.failed) {
		ndl_error_clear(err);
		*err = j.err;
		return -abs(err->code ? err->code : EIO);
	}
	return 0;
}
