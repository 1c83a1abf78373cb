/* Image references: the docker/distribution grammar and its normalization
 * (busybox -> docker.io/library/busybox:latest). */
#include <ctype.h>
#include <string.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define NAME_MAX_TOTAL 255
#define TAG_MAX 128

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* domain-component ('.' domain-component)* (':' port)?, or an IPv6
 * literal in brackets with an optional port. */
static bool valid_domain(const char *d, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return false;
	if (d[0] == '[') {
		const char *close = memchr(d, ']', n);
		if (!close || close == d + 1)
			return false;
		for (const char *p = d + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':')
				return false;
		i = (size_t)(close - d) + 1;
		if (i == n)
			return true;
		if (d[i] != ':')
			return false;
		size_t ps = ++i;
		while (i < n && isdigit((unsigned char)d[i]))
			i++;
		return i == n && i > ps && i - ps <= 5;
	}
	for (;;) {
		size_t start = i;
		while (i < n && (isalnum((unsigned char)d[i]) || d[i] == '-'))
			i++;
		if (i == start || d[start] == '-' || d[i - 1] == '-')
			return false;
		if (i == n)
			return true;
		if (d[i] == '.') {
			i++;
			continue;
		}
		if (d[i] == ':') {
			i++;
			size_t ps = i;
			while (i < n && isdigit((unsigned char)d[i]))
				i++;
			return i == n && i > ps && i - ps <= 5;
		}
		return false;
	}
}

/* path-component ('/' path-component)*, where a component is
 * [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static const char *check_path(const char *p, size_t n)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		while (i < n && p[i] != '/') {
			if (isupper((unsigned char)p[i]))
				return "repository name must be lowercase";
			i++;
		}
		size_t cn = i - start;
		const char *c = p + start;
		if (cn == 0)
			return "empty path component";
		if (!is_alnum_lower(c[0]) || !is_alnum_lower(c[cn - 1]))
			return "path component must start and end with [a-z0-9]";
		for (size_t k = 0; k < cn;) {
			if (is_alnum_lower(c[k])) {
				k++;
				continue;
			}
			if (c[k] == '.') {
				k++;
			} else if (c[k] == '_') {
				k++;
				if (k < cn && c[k] == '_')
					k++;
			} else if (c[k] == '-') {
				while (k < cn && c[k] == '-')
					k++;
			} else {
				return "invalid character in repository name";
			}
			if (k >= cn || !is_alnum_lower(c[k]))
				return "invalid separator in repository name";
		}
		if (i == n)
			return NULL;
		i++; /* '/' */
	}
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > TAG_MAX)
		return false;
	if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

bool digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void image_ref_free(struct image_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

static int bad(ndl_error_t *err, const char *s, const char *why)
{
	return ndl_error_setf(err, EINVAL, "invalid reference format \"%s\": %s", s, why);
}

int image_ref_parse(const char *s, struct image_ref *ret, ndl_error_t *err)
{
	if (!s || !*s)
		return ndl_error_setf(err, EINVAL, "invalid reference format: empty reference");
	if (strlen(s) > 4096)
		return ndl_error_setf(err, EINVAL, "invalid reference format: too long");
	cleanup_free char *work = xstrdup(s);
	char *digest = NULL, *tag = NULL;
	char *at = strchr(work, '@');
	if (at) {
		*at = '\0';
		digest = at + 1;
		if (strncmp(digest, "sha256:", 7) != 0 && strchr(digest, ':'))
			return bad(err, s, "unsupported digest algorithm (only sha256)");
		if (!digest_valid(digest))
			return bad(err, s, "invalid digest (want sha256:<64 lowercase hex>)");
	}
	char *slash = strrchr(work, '/');
	char *colon = strrchr(slash ? slash : work, ':');
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
		if (!valid_tag(tag))
			return bad(err, s, "invalid tag");
	}
	char *name = work;
	if (!*name)
		return bad(err, s, "empty repository name");

	/* Split the domain as docker does: the first component is a domain when
	 * it has '.' or ':' or is "localhost" (or is not all lowercase). */
	cleanup_free char *domain = NULL;
	const char *rest = name;
	char *first_slash = strchr(name, '/');
	if (first_slash) {
		size_t dn = (size_t)(first_slash - name);
		bool is_domain = memchr(name, '.', dn) || memchr(name, ':', dn) ||
				 (dn == 9 && strncmp(name, "localhost", 9) == 0);
		for (size_t i = 0; i < dn && !is_domain; i++)
			if (isupper((unsigned char)name[i]))
				is_domain = true;
		if (is_domain) {
			if (!valid_domain(name, dn))
				return bad(err, s, "invalid domain");
			domain = xstrndup(name, dn);
			rest = first_slash + 1;
		}
	}
	if (!domain)
		domain = xstrdup("docker.io");
	if (strcmp(domain, "index.docker.io") == 0) {
		free(domain);
		domain = xstrdup("docker.io");
	}
	/* A bare 64-hex name is an image id, never a repository. */
	if (strlen(rest) == 64 && strspn(rest, "0123456789abcdef") == 64 && !strchr(name, '/'))
		return bad(err, s, "cannot specify 64-byte hexadecimal strings");
	const char *why = check_path(rest, strlen(rest));
	if (why)
		return bad(err, s, why);
	cleanup_free char *path = NULL;
	if (strcmp(domain, "docker.io") == 0 && !strchr(rest, '/'))
		path = xasprintf("library/%s", rest);
	else
		path = xstrdup(rest);
	if (strlen(domain) + 1 + strlen(path) > NAME_MAX_TOTAL)
		return bad(err, s, "repository name must not be more than 255 characters");

	ret->domain = steal_ptr(&domain);
	ret->path = steal_ptr(&path);
	ret->tag = tag ? xstrdup(tag) : (digest ? NULL : xstrdup("latest"));
	ret->digest = digest ? xstrdup(digest) : NULL;
	return 0;
}

char *image_ref_name(const struct image_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *image_ref_string(const struct image_ref *r)
{
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
			 r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *image_ref_familiar(const struct image_ref *r)
{
	const char *p = r->path;
	bool hub = strcmp(r->domain, "docker.io") == 0;
	if (hub && strncmp(p, "library/", 8) == 0 && !strchr(p + 8, '/'))
		p += 8;
	return xasprintf("%s%s%s%s%s%s%s", hub ? "" : r->domain, hub ? "" : "/", p, r->tag ? ":" : "",
			 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}
