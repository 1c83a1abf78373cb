/* OCI / Docker v2 manifests, indexes and image configs; platform selection;
 * digests and chain IDs. Pure parsing: no I/O. */
#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* ---- string vectors ---- */

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **strv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = strv_len(v);
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

/* ---- digests ---- */

static char *hex_digest(const unsigned char *md, unsigned len)
{
	char *out = xmalloc(7 + len * 2 + 1);
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < len; i++)
		sprintf(out + 7 + i * 2, "%02x", md[i]);
	return out;
}

char *digest_of(const void *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	return hex_digest(md, mdlen);
}

char **chain_ids_compute(char *const *diff_ids, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (i == 0) {
			out[i] = xstrdup(diff_ids[0]);
			continue;
		}
		cleanup_free char *joined = xasprintf("%s %s", out[i - 1], diff_ids[i]);
		out[i] = digest_of(joined, strlen(joined));
	}
	return out;
}

/* ---- descriptors and manifests ---- */

void descriptor_clear(struct descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->os);
	free(d->arch);
	free(d->variant);
	strv_free(d->urls);
	memset(d, 0, sizeof(*d));
}

void manifest_clear(struct manifest *m)
{
	free(m->media_type);
	descriptor_clear(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_clear(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_manifests; i++)
		descriptor_clear(&m->manifests[i]);
	free(m->manifests);
	memset(m, 0, sizeof(*m));
}

static int parse_descriptor(const json_t *j, const char *where, bool with_platform,
			    struct descriptor *d, ndl_error_t *err)
{
	const char *mt = NULL, *dg = NULL;
	int64_t size = -1;
	if (!json_is_object(j))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(j));
	if (ndl_json_get_string(j, where, "mediaType", false, &mt, err) < 0 ||
	    ndl_json_get_string(j, where, "digest", true, &dg, err) < 0 ||
	    ndl_json_get_int(j, where, "size", true, &size, err) < 0)
		return -EINVAL;
	if (!digest_valid(dg))
		return ndl_error_setf(err, EINVAL,
				      "field \"%s.digest\": unsupported digest \"%s\" (want sha256)",
				      where, dg);
	if (size < 0)
		return ndl_error_setf(err, EINVAL, "field \"%s.size\": negative", where);
	d->media_type = xstrdup(mt ? mt : "");
	d->digest = xstrdup(dg);
	d->size = size;
	json_t *urls = json_object_get(j, "urls");
	if (json_is_array(urls) && json_array_size(urls) > 0) {
		d->urls = xcalloc(json_array_size(urls) + 1, sizeof(char *));
		size_t k = 0, i;
		json_t *u;
		json_array_foreach(urls, i, u) if (json_is_string(u)) d->urls[k++] =
			xstrdup(json_string_value(u));
	}
	if (with_platform) {
		json_t *p = json_object_get(j, "platform");
		if (p && !json_is_null(p)) {
			cleanup_free char *pw = xasprintf("%s.platform", where);
			const char *os = NULL, *arch = NULL, *var = NULL;
			if (ndl_json_get_string(p, pw, "os", false, &os, err) < 0 ||
			    ndl_json_get_string(p, pw, "architecture", false, &arch, err) < 0 ||
			    ndl_json_get_string(p, pw, "variant", false, &var, err) < 0) {
				descriptor_clear(d);
				return -EINVAL;
			}
			d->os = os ? xstrdup(os) : NULL;
			d->arch = arch ? xstrdup(arch) : NULL;
			d->variant = var ? xstrdup(var) : NULL;
		}
	}
	return 0;
}

static bool is_layer_type(const char *mt)
{
	static const char *ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar",
		"", /* unset: libarchive detects the compression */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(mt, ok[i]) == 0)
			return true;
	return false;
}

int manifest_parse(const char *buf, size_t len, const char *content_type, struct manifest *ret,
		   ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (len > IMAGES_MAX_MANIFEST)
		return ndl_error_setf(err, EFBIG, "manifest larger than %u bytes", IMAGES_MAX_MANIFEST);
	if (ndl_json_parse(buf, len, &j, err) < 0)
		return ndl_error_wrap(err, "manifest");
	if (!json_is_object(j))
		return ndl_error_setf(err, EINVAL, "manifest: expected object, got %s",
				      ndl_json_type_name(j));
	const char *mt = NULL;
	int64_t schema = 0;
	if (ndl_json_get_string(j, "", "mediaType", false, &mt, err) < 0 ||
	    ndl_json_get_int(j, "", "schemaVersion", false, &schema, err) < 0)
		return ndl_error_wrap(err, "manifest");
	if (schema == 1 || (mt && (strcmp(mt, MT_DOCKER_V1) == 0 || strcmp(mt, MT_DOCKER_V1_SIGNED) == 0)) ||
	    (!mt && content_type &&
	     (strncmp(content_type, MT_DOCKER_V1, strlen(MT_DOCKER_V1)) == 0)))
		return ndl_error_setf(err, ENOTSUP,
				      "manifest: Docker image manifest schema 1 is not supported "
				      "(deprecated; push the image again with a current client)");
	if (schema != 2)
		return ndl_error_setf(err, EINVAL, "manifest: field \"schemaVersion\": expected 2, got %lld",
				      (long long)schema);
	if (!mt && content_type && *content_type) {
		/* Strip parameters such as "; charset=utf-8". */
		size_t n = strcspn(content_type, "; ");
		if (n == strlen(MT_OCI_INDEX) && strncmp(content_type, MT_OCI_INDEX, n) == 0)
			mt = MT_OCI_INDEX;
		else if (n == strlen(MT_OCI_MANIFEST) && strncmp(content_type, MT_OCI_MANIFEST, n) == 0)
			mt = MT_OCI_MANIFEST;
	}
	/* OCI documents may omit mediaType: decide by content. */
	if (!mt)
		mt = json_object_get(j, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;

	struct manifest m = {0};
	m.media_type = xstrdup(mt);
	if (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0) {
		m.kind = MANIFEST_INDEX;
		json_t *arr = NULL;
		if (ndl_json_get_array(j, "", "manifests", true, &arr, err) < 0)
			goto fail;
		size_t n = json_array_size(arr);
		if (n > 10000) {
			ndl_error_setf(err, EINVAL, "field \"manifests\": too many entries (%zu)", n);
			goto fail;
		}
		m.manifests = xcalloc(n ? n : 1, sizeof(struct descriptor));
		for (size_t i = 0; i < n; i++) {
			char where[64];
			snprintf(where, sizeof(where), "manifests[%zu]", i);
			if (parse_descriptor(json_array_get(arr, i), where, true, &m.manifests[i], err) < 0)
				goto fail;
			m.n_manifests++;
		}
	} else if (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0) {
		m.kind = MANIFEST_IMAGE;
		json_t *cfg = NULL, *arr = NULL;
		if (ndl_json_get_object(j, "", "config", true, &cfg, err) < 0 ||
		    parse_descriptor(cfg, "config", false, &m.config, err) < 0 ||
		    ndl_json_get_array(j, "", "layers", true, &arr, err) < 0)
			goto fail;
		size_t n = json_array_size(arr);
		if (n > 1000) {
			ndl_error_setf(err, EINVAL, "field \"layers\": too many layers (%zu)", n);
			goto fail;
		}
		m.layers = xcalloc(n ? n : 1, sizeof(struct descriptor));
		for (size_t i = 0; i < n; i++) {
			char where[64];
			snprintf(where, sizeof(where), "layers[%zu]", i);
			if (parse_descriptor(json_array_get(arr, i), where, false, &m.layers[i], err) < 0)
				goto fail;
			m.n_layers++;
			if (!is_layer_type(m.layers[i].media_type)) {
				ndl_error_setf(err, ENOTSUP, "field \"%s.mediaType\": unsupported layer type \"%s\"",
					       where, m.layers[i].media_type);
				goto fail;
			}
		}
	} else {
		ndl_error_setf(err, ENOTSUP, "manifest: unsupported media type \"%s\"", mt);
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	manifest_clear(&m);
	return ndl_error_wrap(err, "manifest");
}

/* ---- platforms ---- */

static struct utsname host_uts;
static const char *host_arch, *host_variant;

static void platform_host_init(void)
{
	uname(&host_uts);
	const char *m = host_uts.machine;
	if (strcmp(m, "x86_64") == 0)
		host_arch = "amd64";
	else if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
		host_arch = "arm64", host_variant = "v8";
	else if (strncmp(m, "armv7", 5) == 0)
		host_arch = "arm", host_variant = "v7";
	else if (strncmp(m, "armv6", 5) == 0)
		host_arch = "arm", host_variant = "v6";
	else if (strcmp(m, "i686") == 0 || strcmp(m, "i386") == 0)
		host_arch = "386";
	else if (strcmp(m, "ppc64le") == 0)
		host_arch = "ppc64le";
	else if (strcmp(m, "s390x") == 0)
		host_arch = "s390x";
	else if (strcmp(m, "riscv64") == 0)
		host_arch = "riscv64";
	else
		host_arch = m;
}

void platform_host(struct platform *ret)
{
	/* The daemon pulls from several threads at once. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, platform_host_init);
	ret->os = "linux";
	ret->arch = host_arch;
	ret->variant = host_variant;
}

/* arm64's "v8" is the default: an entry without a variant matches it. */
static int variant_score(const char *want, const char *have, const char *arch)
{
	if (!want || !*want)
		return (!have || !*have) ? 2 : 1;
	if (have && strcmp(want, have) == 0)
		return 3;
	if ((!have || !*have) && strcmp(arch, "arm64") == 0 && strcmp(want, "v8") == 0)
		return 2;
	/* Older arm variants run on newer cores (v6 on v7, v5 on v6). */
	if (have && strcmp(arch, "arm") == 0 && have[0] == 'v' && want[0] == 'v' &&
	    atoi(have + 1) < atoi(want + 1))
		return 1;
	return 0;
}

int manifest_select_platform(const struct manifest *idx, const struct platform *p,
			     const struct descriptor **ret, ndl_error_t *err)
{
	const struct descriptor *best = NULL;
	int best_score = 0;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct descriptor *d = &idx->manifests[i];
		if (!d->os || !d->arch || strcmp(d->os, p->os) != 0 || strcmp(d->arch, p->arch) != 0)
			continue;
		int sc = variant_score(p->variant, d->variant, p->arch);
		if (sc > best_score) {
			best = d;
			best_score = sc;
		}
	}
	if (!best) {
		char offered[512] = "";
		size_t off = 0;
		for (size_t i = 0; i < idx->n_manifests && off < sizeof(offered) - 64; i++) {
			const struct descriptor *d = &idx->manifests[i];
			off += (size_t)snprintf(offered + off, sizeof(offered) - off, "%s%s/%s%s%s",
						off ? ", " : "", d->os ? d->os : "?",
						d->arch ? d->arch : "?", d->variant ? "/" : "",
						d->variant ? d->variant : "");
		}
		return ndl_error_setf(err, ENOENT, "no manifest for platform %s/%s%s%s (offered: %s)",
				      p->os, p->arch, p->variant ? "/" : "", p->variant ? p->variant : "",
				      off ? offered : "none");
	}
	*ret = best;
	return 0;
}

/* ---- image config ---- */

void image_config_free(struct image_config *c)
{
	if (!c)
		return;
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->working_dir);
	free(c->user);
	strv_free(c->exposed_ports);
	strv_free(c->volumes);
	if (c->labels)
		json_decref(c->labels);
	free(c->stop_signal);
	free(c->os);
	free(c->architecture);
	free(c->variant);
	memset(c, 0, sizeof(*c));
}

static int get_strv(const json_t *o, const char *where, const char *key, char ***ret,
		    ndl_error_t *err)
{
	json_t *a = json_object_get(o, key);
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": expected array, got %s", where,
				      key, ndl_json_type_name(a));
	char **v = xcalloc(json_array_size(a) + 1, sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e)) {
			strv_free(v);
			return ndl_error_setf(err, EINVAL, "field \"%s.%s[%zu]\": expected string, got %s",
					      where, key, i, ndl_json_type_name(e));
		}
		v[i] = xstrdup(json_string_value(e));
	}
	*ret = v;
	return 0;
}

static int get_keys(const json_t *o, const char *where, const char *key, char ***ret,
		    ndl_error_t *err)
{
	json_t *m = json_object_get(o, key);
	if (!m || json_is_null(m))
		return 0;
	if (!json_is_object(m))
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": expected object, got %s", where,
				      key, ndl_json_type_name(m));
	char **v = xcalloc(json_object_size(m) + 1, sizeof(char *));
	size_t i = 0;
	const char *k;
	json_t *val;
	json_object_foreach(m, k, val) v[i++] = xstrdup(k);
	*ret = v;
	return 0;
}

int image_config_parse(const char *buf, size_t len, struct image_config *ret, char ***ret_diff_ids,
		       ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (len > IMAGES_MAX_CONFIG)
		return ndl_error_setf(err, EFBIG, "image config larger than %u bytes", IMAGES_MAX_CONFIG);
	if (ndl_json_parse(buf, len, &j, err) < 0)
		return ndl_error_wrap(err, "image config");
	if (!json_is_object(j))
		return ndl_error_setf(err, EINVAL, "image config: expected object, got %s",
				      ndl_json_type_name(j));
	struct image_config c = {0};
	char **diff = NULL;
	const char *s = NULL;
	json_t *cfg = NULL, *rootfs = NULL;
	if (ndl_json_get_object(j, "", "config", false, &cfg, err) < 0 ||
	    ndl_json_get_object(j, "", "rootfs", true, &rootfs, err) < 0 ||
	    get_strv(rootfs, "rootfs", "diff_ids", &diff, err) < 0)
		goto fail;
	if (!diff) {
		ndl_error_setf(err, EINVAL, "field \"rootfs.diff_ids\": required");
		goto fail;
	}
	for (size_t i = 0; diff[i]; i++)
		if (!digest_valid(diff[i])) {
			ndl_error_setf(err, EINVAL, "field \"rootfs.diff_ids[%zu]\": invalid digest \"%s\"",
				       i, diff[i]);
			goto fail;
		}
	if (ndl_json_get_string(j, "", "os", false, &s, err) < 0)
		goto fail;
	c.os = s ? xstrdup(s) : NULL;
	s = NULL;
	if (ndl_json_get_string(j, "", "architecture", false, &s, err) < 0)
		goto fail;
	c.architecture = s ? xstrdup(s) : NULL;
	s = NULL;
	if (ndl_json_get_string(j, "", "variant", false, &s, err) < 0)
		goto fail;
	c.variant = s ? xstrdup(s) : NULL;
	if (cfg) {
		if (get_strv(cfg, "config", "Env", &c.env, err) < 0 ||
		    get_strv(cfg, "config", "Entrypoint", &c.entrypoint, err) < 0 ||
		    get_strv(cfg, "config", "Cmd", &c.cmd, err) < 0 ||
		    get_keys(cfg, "config", "ExposedPorts", &c.exposed_ports, err) < 0 ||
		    get_keys(cfg, "config", "Volumes", &c.volumes, err) < 0)
			goto fail;
		s = NULL;
		if (ndl_json_get_string(cfg, "config", "WorkingDir", false, &s, err) < 0)
			goto fail;
		c.working_dir = s && *s ? xstrdup(s) : NULL;
		s = NULL;
		if (ndl_json_get_string(cfg, "config", "User", false, &s, err) < 0)
			goto fail;
		c.user = s && *s ? xstrdup(s) : NULL;
		s = NULL;
		if (ndl_json_get_string(cfg, "config", "StopSignal", false, &s, err) < 0)
			goto fail;
		c.stop_signal = s && *s ? xstrdup(s) : NULL;
		json_t *labels = NULL;
		if (ndl_json_get_object(cfg, "config", "Labels", false, &labels, err) < 0)
			goto fail;
		const char *k;
		json_t *v;
		json_object_foreach(labels, k, v) if (!json_is_string(v))
		{
			ndl_error_setf(err, EINVAL, "field \"config.Labels.%s\": expected string, got %s",
				       k, ndl_json_type_name(v));
			goto fail;
		}
		c.labels = labels ? json_deep_copy(labels) : NULL;
	}
	if (!c.labels)
		c.labels = json_object();
	if (!c.env)
		c.env = xcalloc(1, sizeof(char *));
	*ret = c;
	if (ret_diff_ids)
		*ret_diff_ids = diff;
	else
		strv_free(diff);
	return 0;
fail:
	strv_free(diff);
	image_config_free(&c);
	return ndl_error_wrap(err, "image config");
}

/* ---- WWW-Authenticate ---- */

void auth_challenge_clear(struct auth_challenge *c)
{
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* RFC 7235: scheme 1*SP auth-param *( "," auth-param ); values are tokens or
 * quoted strings with backslash escapes. Parameters of later challenges
 * (after a new scheme) are ignored. */
int auth_challenge_parse(const char *hdr, struct auth_challenge *ret, ndl_error_t *err)
{
	if (!hdr)
		return ndl_error_setf(err, EINVAL, "WWW-Authenticate: missing");
	const char *p = hdr;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t sn = strcspn(p, " \t,");
	if (sn == 0 || sn > 32)
		return ndl_error_setf(err, EINVAL, "WWW-Authenticate: no auth scheme in \"%.80s\"", hdr);
	struct auth_challenge c = {0};
	c.scheme = xstrndup(p, sn);
	for (char *q = c.scheme; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	p += sn;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t kn = strcspn(p, "= \t,");
		const char *key = p;
		p += kn;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			break; /* a following challenge's scheme: stop */
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		char *val;
		if (*p == '"') {
			p++;
			size_t cap = strlen(p) + 1, vn = 0;
			val = xmalloc(cap);
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				val[vn++] = *p++;
			}
			val[vn] = '\0';
			if (*p != '"') {
				free(val);
				auth_challenge_clear(&c);
				return ndl_error_setf(err, EINVAL,
						      "WWW-Authenticate: unterminated quoted string");
			}
			p++;
		} else {
			size_t vn = strcspn(p, " \t,");
			val = xstrndup(p, vn);
			p += vn;
		}
		char **slot = NULL;
		if (kn == 5 && strncasecmp(key, "realm", 5) == 0)
			slot = &c.realm;
		else if (kn == 7 && strncasecmp(key, "service", 7) == 0)
			slot = &c.service;
		else if (kn == 5 && strncasecmp(key, "scope", 5) == 0)
			slot = &c.scope;
		if (slot) {
			free(*slot);
			*slot = val;
		} else {
			free(val);
		}
	}
	if (strcmp(c.scheme, "bearer") == 0 && (!c.realm || !*c.realm)) {
		auth_challenge_clear(&c);
		return ndl_error_setf(err, EINVAL, "WWW-Authenticate: bearer challenge without realm");
	}
	*ret = c;
	return 0;
}

char *base64_encode(const void *buf, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

char *base64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4 != 0 || n > (1u << 20))
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(out);
		return NULL;
	}
	size_t len = (size_t)r;
	if (n >= 1 && s[n - 1] == '=')
		len--;
	if (n >= 2 && s[n - 2] == '=')
		len--;
	out[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return (char *)out;
}
