/* The image store of nodelet-cri: pull from OCI registries, import archives,
 * keep content-addressed blobs, unpack layers once into overlay snapshots and
 * hand containers their root filesystem.
 *
 * Everything lives under one root directory (default /var/lib/nodelet-cri):
 *
 *   blobs/sha256/<hex>          verified blobs (manifests, configs, layers)
 *   ingest/                     partial downloads (temp files, same filesystem)
 *   snapshots/<chainid-hex>/fs  one unpacked layer, shared by every image
 *   l/<short>                   short symlinks to snapshots/<id>/fs (lowerdir)
 *   images.json                 image records (atomic rewrite under meta.lock)
 *   rootfs/<id>/{upper,work,merged,layers}  container and view roots
 *   locks/                      per-blob and per-layer flock files
 *   meta.lock, gc.lock          store-wide locks (see docs/images.md)
 *
 * Several processes (the daemon and the CLI) may use one root at once: all
 * shared state is guarded by flock(2) locks, and every file is written
 * atomically, so a crash at any point leaves the store consistent.
 *
 * Functions follow the project convention: return 0 or a negative errno and
 * fill *err on failure; ret_* out-parameters are written only on success. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define IMAGES_DEFAULT_ROOT "/var/lib/nodelet-cri"

/* ---- references (docker/distribution grammar) -------------------------- */

struct image_ref {
	char *domain; /* "docker.io", "localhost:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when only a digest was given */
	char *digest; /* "sha256:<hex>" or NULL */
};

/* Parse and normalize: "busybox" -> docker.io/library/busybox:latest. A
 * reference with neither tag nor digest gets tag "latest". Errors say what
 * is wrong ("invalid reference format: repository name must be lowercase"). */
int image_ref_parse(const char *s, struct image_ref *ret, ndl_error_t *err);
void image_ref_free(struct image_ref *r);
/* "domain/path" */
char *image_ref_name(const struct image_ref *r);
/* Full normalized form: name[:tag][@digest] */
char *image_ref_string(const struct image_ref *r);
/* Short familiar form, as crictl prints it: "busybox:latest" for docker.io/library. */
char *image_ref_familiar(const struct image_ref *r);

/* ---- registry access --------------------------------------------------- */

/* Credentials, as the CRI AuthConfig carries them. Any field may be NULL. */
struct image_auth {
	const char *username;
	const char *password;
	const char *auth;           /* base64("user:password") */
	const char *identity_token; /* OAuth2 refresh token for the token endpoint */
	const char *registry_token; /* bearer token sent as is */
};

/* registries.yaml (k3s format): mirrors, rewrites, TLS and auth per host. */
struct registry_config;
int registry_config_load(const char *path, struct registry_config **ret, ndl_error_t *err);
int registry_config_parse(const char *buf, size_t len, struct registry_config **ret,
			  ndl_error_t *err);
void registry_config_free(struct registry_config *c);

/* ---- the store ---------------------------------------------------------- */

struct image_store;

struct image_store_options {
	const char *root;                /* NULL -> IMAGES_DEFAULT_ROOT */
	const char *registry_config;     /* registries.yaml path or NULL */
	const char *docker_config;       /* docker config.json with "auths", or NULL */
	uint64_t max_layer_bytes;        /* unpacked size limit per layer, 0 = default */
	uint64_t max_layer_entries;      /* entry count limit per layer, 0 = default */
	int max_parallel;                /* parallel blob downloads, 0 = default (3) */
	int retries;                     /* attempts per request on transient errors, 0 = 4 */
	long timeout_seconds;            /* stall timeout per transfer, 0 = 60 */
};

int images_store_open(const struct image_store_options *opts, struct image_store **ret,
		      ndl_error_t *err);
void images_store_close(struct image_store *s);
const char *images_store_root(const struct image_store *s);

/* Image config fields the runtime needs (from the OCI image config). */
struct image_config {
	char **env;         /* "K=V", NULL-terminated */
	char **entrypoint;  /* NULL-terminated or NULL */
	char **cmd;         /* NULL-terminated or NULL */
	char *working_dir;  /* or NULL */
	char *user;         /* or NULL */
	char **exposed_ports; /* "80/tcp", NULL-terminated or NULL */
	char **volumes;     /* paths, NULL-terminated or NULL */
	json_t *labels;     /* object (never NULL) */
	char *stop_signal;  /* or NULL */
	char *os, *architecture, *variant;
};
void image_config_free(struct image_config *c);

/* One image record, as ListImages/ImageStatus report it. */
struct image_info {
	char *id;              /* config digest "sha256:..." */
	char *manifest_digest; /* platform manifest */
	char **repo_tags;      /* normalized "docker.io/library/busybox:latest", NULL-terminated */
	char **repo_digests;   /* "docker.io/library/busybox@sha256:...", NULL-terminated */
	uint64_t size;         /* compressed layers + config + manifest */
	char **chain_ids;      /* bottom layer first, NULL-terminated */
	char **layers;         /* layer blob digests, bottom first */
	size_t n_layers;
	int64_t created;       /* unix seconds when recorded */
	struct image_config config;
};
void image_info_free(struct image_info *i);
void image_info_list_free(struct image_info *list, size_t n);

/* Pull ref (any accepted reference form) for this machine's platform.
 * auth may be NULL (then registries.yaml / docker config credentials apply).
 * On success *ret_id (if not NULL) is the image id. */
int images_pull(struct image_store *s, const char *ref, const struct image_auth *auth,
		char **ret_id, ndl_error_t *err);

/* Import an OCI image layout (directory or tar) or a `docker save` tar.
 * tag_as (optional) names an image whose layout carries no name. The ids of
 * the imported images are returned when ret_ids is not NULL. */
int images_import(struct image_store *s, const char *path, const char *tag_as, char ***ret_ids,
		  ndl_error_t *err);
/* Import every archive/layout found directly in dir (air-gapped preload).
 * Errors of single entries are logged and counted; returns the first. */
int images_preload_dir(struct image_store *s, const char *dir, ndl_error_t *err);

/* Look an image up by id (full or unique prefix of at least 3 hex chars),
 * tag, digest reference or any normalizable reference. -ENOENT if absent. */
int images_get(struct image_store *s, const char *name, struct image_info *ret,
	       ndl_error_t *err);
int images_list(struct image_store *s, struct image_info **ret, size_t *ret_n, ndl_error_t *err);

/* Drop the image (all its tags and digests) and garbage-collect. Removing a
 * name that is one of several tags of an image only drops that tag. */
int images_remove(struct image_store *s, const char *name, ndl_error_t *err);
/* Delete blobs, snapshots and temp files no image or rootfs uses. */
int images_gc(struct image_store *s, ndl_error_t *err);

/* Disk usage of the store (CRI ImageFsInfo). */
struct images_usage {
	uint64_t used_bytes;
	uint64_t inodes_used;
	char *mountpoint; /* the root dir */
};
int images_usage(struct image_store *s, struct images_usage *ret, ndl_error_t *err);

/* ---- root filesystems --------------------------------------------------- */

/* A mount the runtime performs: mount(source, target, type, flags, data)
 * where data is options joined by ','. lowerdir paths are short symlinks
 * (root/l/<26 chars>) so 100+ layers fit in a page; images_mount_rootfs
 * handles any count with the new mount API. */
struct image_mount {
	char *type;     /* "overlay" or "bind" */
	char *source;
	char **options; /* NULL-terminated */
	char **lowerdirs; /* top-most first, NULL-terminated (overlay only) */
	char *upperdir, *workdir; /* NULL for read-only views */
};
void image_mount_free(struct image_mount *m);

/* Create rootfs/<container_id>/{upper,work} over the image's layers and
 * return the overlay mount for it. The layers stay in use (not collected)
 * until images_remove_rootfs. readonly: no upper dir (an image view). */
int images_prepare_rootfs(struct image_store *s, const char *image, const char *container_id,
			  bool readonly, struct image_mount *ret_mount, ndl_error_t *err);
/* Unmount anything left at rootfs/<id>/merged and delete the rootfs record. */
int images_remove_rootfs(struct image_store *s, const char *container_id, ndl_error_t *err);
/* Perform the mount at target (any number of layers). */
int images_mount_rootfs(const struct image_mount *m, const char *target, bool readonly,
			ndl_error_t *err);

/* Read-only view of an image at dir (like `ctr images mount`); unmount
 * undoes it and releases the layers. */
int images_mount_view(struct image_store *s, const char *image, const char *dir,
		      ndl_error_t *err);
int images_unmount_view(struct image_store *s, const char *dir, ndl_error_t *err);

/* ---- CLI ---------------------------------------------------------------- */

/* `nodelet-cri image ...`: argv[0] is "image". Returns the exit code. */
int images_cli_main(int argc, char **argv);
