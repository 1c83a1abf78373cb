/* Internals of the image store shared between its files (and unit tests). */
#pragma once

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "cri/images/images.h"
#include "lib/error.h"

/* ---- media types ---- */
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Manifests and configs are small; refuse anything larger. */
#define IMAGES_MAX_MANIFEST (4u * 1024 * 1024)
#define IMAGES_MAX_CONFIG (8u * 1024 * 1024)

/* ---- digests ---- */
/* "sha256:<64 lowercase hex>" only: the one algorithm the store keeps. */
bool digest_valid(const char *d);
/* sha256 of buf as "sha256:<hex>" (new string). */
char *digest_of(const void *buf, size_t len);
/* Chain IDs (OCI image spec): chain[0] = diff[0];
 * chain[n] = sha256(chain[n-1] + " " + diff[n]). Returns NULL-terminated. */
char **chain_ids_compute(char *const *diff_ids, size_t n);
void strv_free(char **v);
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);

/* ---- manifests ---- */
struct descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	char *os, *arch, *variant; /* index entries only */
	char **urls;
};
void descriptor_clear(struct descriptor *d);

enum manifest_kind { MANIFEST_INDEX = 1, MANIFEST_IMAGE = 2 };

struct manifest {
	enum manifest_kind kind;
	char *media_type;
	struct descriptor config;    /* image */
	struct descriptor *layers;   /* image */
	size_t n_layers;
	struct descriptor *manifests; /* index */
	size_t n_manifests;
};
void manifest_clear(struct manifest *m);
/* Parse a manifest or index. content_type (HTTP header, may be NULL) is used
 * when the document has no mediaType. Schema 1 is refused clearly. */
int manifest_parse(const char *buf, size_t len, const char *content_type, struct manifest *ret,
		   ndl_error_t *err);

struct platform {
	const char *os, *arch, *variant;
};
/* This machine: linux + uname arch mapped to GOARCH (+ variant for arm). */
void platform_host(struct platform *ret);
/* Index entry matching p (best variant match); -ENOENT names what is offered. */
int manifest_select_platform(const struct manifest *idx, const struct platform *p,
			     const struct descriptor **ret, ndl_error_t *err);

/* Image config: runtime fields + rootfs.diff_ids. */
int image_config_parse(const char *buf, size_t len, struct image_config *ret, char ***ret_diff_ids,
		       ndl_error_t *err);

/* ---- WWW-Authenticate ---- */
struct auth_challenge {
	char *scheme; /* "bearer", "basic" (lowercased) */
	char *realm, *service, *scope;
};
void auth_challenge_clear(struct auth_challenge *c);
/* Parse the first challenge of a header value. */
int auth_challenge_parse(const char *hdr, struct auth_challenge *ret, ndl_error_t *err);
char *base64_encode(const void *buf, size_t len);
/* Decode; NULL on bad input. */
char *base64_decode(const char *s, size_t *ret_len);

/* ---- registries.yaml ---- */
struct registry_mirror {
	char *host;        /* "docker.io", "*" */
	char **endpoints;  /* "https://mirror:5000", NULL-terminated */
	char **rewrite_re; /* regex patterns */
	char **rewrite_to; /* replacements with $1.. */
	size_t n_rewrites;
};
struct registry_host_config {
	char *host;
	char *username, *password, *auth, *identity_token;
	char *ca_file, *cert_file, *key_file;
	bool insecure_skip_verify;
};
struct registry_config {
	struct registry_mirror *mirrors;
	size_t n_mirrors;
	struct registry_host_config *configs;
	size_t n_configs;
};
const struct registry_mirror *registry_config_mirror(const struct registry_config *c,
						      const char *host);
const struct registry_host_config *registry_config_host(const struct registry_config *c,
							const char *host);
/* Apply the first matching rewrite of m to repo; returns a new string. */
char *registry_rewrite(const struct registry_mirror *m, const char *repo);

/* ---- the store ---- */
struct image_store {
	char *root;
	int root_fd;
	struct registry_config *regcfg;
	json_t *docker_auths; /* "auths" object of a docker config.json or NULL */
	uint64_t max_layer_bytes, max_layer_entries;
	int max_parallel, retries;
	long timeout_seconds;
	pthread_mutex_t mu; /* guards nothing shared on disk; see flocks */
};

/* Take an flock on root/<name> (created as needed). Returns the fd. */
int store_lock(struct image_store *s, const char *name, int op, ndl_error_t *err);
static inline void store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

bool store_has_blob(struct image_store *s, const char *digest);
/* Open a verified blob for reading. */
int store_open_blob(struct image_store *s, const char *digest, ndl_error_t *err);
int store_read_blob(struct image_store *s, const char *digest, size_t max, char **ret,
		    size_t *ret_len, ndl_error_t *err);
char *store_blob_path(struct image_store *s, const char *digest);

/* Incremental writer: temp file in ingest/, sha256 while written, commit
 * checks digest (+ size when >= 0), fsyncs and renames into blobs/. */
struct blob_writer {
	struct image_store *s;
	int fd;
	char *tmp_name; /* relative to root */
	EVP_MD_CTX *md;
	uint64_t written;
	char *expect_digest;
	int64_t expect_size;
};
int blob_writer_open(struct image_store *s, const char *expect_digest, int64_t expect_size,
		     struct blob_writer *ret, ndl_error_t *err);
int blob_writer_write(struct blob_writer *w, const void *buf, size_t len, ndl_error_t *err);
/* Verify and commit; returns the digest (new string) when ret_digest. */
int blob_writer_commit(struct blob_writer *w, char **ret_digest, ndl_error_t *err);
void blob_writer_abort(struct blob_writer *w);
/* Whole buffer; verifies against expect_digest when not NULL. */
int store_put_blob(struct image_store *s, const void *buf, size_t len, const char *expect_digest,
		   char **ret_digest, ndl_error_t *err);

/* Image records. A record is keyed by id (config digest). */
struct image_record_in {
	const char *id;
	const char *manifest_digest;
	const char *index_digest; /* or NULL */
	const char *name;         /* normalized "domain/path" or NULL */
	const char *tag;          /* or NULL */
	char *const *layers;      /* layer blob digests, bottom first */
	char *const *chain_ids;
	size_t n_layers;
	uint64_t size;
};
/* Add/merge a record; a tag that pointed at another image moves here. */
int store_record_image(struct image_store *s, const struct image_record_in *in, ndl_error_t *err);
/* Load all records (object id -> record) without locking (atomic file). */
int store_load_records(struct image_store *s, json_t **ret, ndl_error_t *err);

/* ---- registry client ---- */
struct registry_client;
int registry_client_new(struct image_store *s, const struct image_ref *ref,
			const struct image_auth *auth, struct registry_client **ret,
			ndl_error_t *err);
void registry_client_free(struct registry_client *c);
/* GET manifest by tag or digest; returns body, content type and digest. */
int registry_get_manifest(struct registry_client *c, const char *tag_or_digest, char **ret_body,
			  size_t *ret_len, char **ret_type, char **ret_digest, ndl_error_t *err);
/* Download one blob into the store (verified; nothing if present; one
 * download at a time per blob across threads and processes). */
int registry_fetch_blob(struct registry_client *c, const struct descriptor *d, ndl_error_t *err);
/* Download blobs into the store (parallel, verified, skipping present ones). */
int registry_fetch_blobs(struct registry_client *c, const struct descriptor *d, size_t n,
			 ndl_error_t *err);

/* ---- unpack / snapshots ---- */
struct unpack_limits {
	uint64_t max_bytes;
	uint64_t max_entries;
};
/* Unpack a (possibly compressed) layer tar from fd into the directory dirfd,
 * as an overlay layer: whiteouts become 0:0 char devices, opaque markers the
 * trusted.overlay.opaque xattr. Refuses entries that would escape. */
int layer_unpack_fd(int fd, int dirfd, const struct unpack_limits *lim, ndl_error_t *err);
/* Same, returning the sha256 of the uncompressed stream (the diff ID) and
 * the directories created only as parents of entries (no tar entry). */
int layer_unpack_fd_digest(int fd, int dirfd, const struct unpack_limits *lim, char **ret_diff_id,
			   char ***ret_implicit_dirs, ndl_error_t *err);
/* Copy metadata of those directories from the lower layers (top-most first). */
void layer_fix_parents(int dirfd, char *const *dirs, const int *lowers, size_t n_lowers);
/* Make sure snapshots/<chain>/fs exists for every layer, unpacking missing
 * ones in parallel (one process per layer at a time, by flock). When fetch
 * is given, it is called first for each layer to get its blob, so downloads
 * and unpacks overlap. */
typedef int (*snapshot_fetch_fn)(void *arg, size_t i, ndl_error_t *err);
int snapshots_ensure(struct image_store *s, char *const *layers, char *const *diff_ids,
		     char *const *chain_ids, size_t n, snapshot_fetch_fn fetch, void *fetch_arg,
		     ndl_error_t *err);
/* Short link name for a chain id (its first 26 hex digits). */
void snapshot_short_name(const char *chain_id, char out[27]);
