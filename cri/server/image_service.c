/* The CRI ImageService of nodelet-cri, on the image store (cri/images).
 * Answers follow containerd 1.6 where the CRI leaves room: ImageStatus of an
 * unknown image is OK with no image, RemoveImage of an unknown image is OK,
 * PullImage returns the image id (config digest) as image_ref, uid/username
 * come from the image config's User. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cri/images/images.h"
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static size_t strv_len(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* containerd's getUserFromImage: "uid[:gid]" numeric -> uid, else the user
 * name part; empty -> neither. */
static void image_user(const char *user, bool *has_uid, int64_t *uid, char **username)
{
	*has_uid = false;
	*username = NULL;
	if (!user || !*user)
		return;
	cleanup_free char *u = xstrdup(user);
	char *colon = strchr(u, ':');
	if (colon)
		*colon = 0;
	if (!*u)
		return;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(u, &end, 10);
	if (*end == 0 && errno == 0 && v >= 0) {
		*has_uid = true;
		*uid = v;
		return;
	}
	*username = xstrdup(u);
}

/* A protobuf Image built over an image_info (borrows its strings). */
struct pb_image {
	Runtime__V1__Image img;
	Runtime__V1__Int64Value uid;
	Runtime__V1__ImageSpec spec;
	char *username;
};

static void pb_image_fill(struct pb_image *p, const struct image_info *in)
{
	runtime__v1__image__init(&p->img);
	runtime__v1__int64_value__init(&p->uid);
	runtime__v1__image_spec__init(&p->spec);
	p->img.id = in->id;
	p->img.n_repo_tags = strv_len(in->repo_tags);
	p->img.repo_tags = in->repo_tags;
	p->img.n_repo_digests = strv_len(in->repo_digests);
	p->img.repo_digests = in->repo_digests;
	p->img.size = in->size;
	bool has_uid;
	int64_t uid = 0;
	image_user(in->config.user, &has_uid, &uid, &p->username);
	if (has_uid) {
		p->uid.value = uid;
		p->img.uid = &p->uid;
	}
	p->img.username = p->username ? p->username : (char *)"";
	p->spec.image = in->id;
	p->img.spec = &p->spec;
}

static void pb_image_clear(struct pb_image *p)
{
	free(p->username);
	p->username = NULL;
}

static struct image_store *store_of(void *user)
{
	return ((struct cri_service *)user)->images;
}

static enum cri_status reply_err(struct cri_reply *r, ndl_error_t *e)
{
	enum cri_status st = cri_reply_from_error(r, e);
	ndl_error_clear(e);
	return st;
}

enum cri_status cri_h_list_images(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	const Runtime__V1__ListImagesRequest *in = (const Runtime__V1__ListImagesRequest *)req;
	struct image_store *s = store_of(user);
	ndl_error_t e = NDL_ERROR_INIT;
	struct image_info *list = NULL;
	size_t n = 0;
	const char *want = in->filter && in->filter->image && in->filter->image->image &&
				   *in->filter->image->image
			       ? in->filter->image->image
			       : NULL;
	if (want) {
		/* A filter names one image (any reference form or id): it matches
		 * that image or nothing. */
		list = xcalloc(1, sizeof(*list));
		int rc = images_get(s, want, &list[0], &e);
		if (rc == -ENOENT || rc == -EINVAL) {
			ndl_error_clear(&e);
			free(list);
			list = NULL;
		} else if (rc < 0) {
			free(list);
			return reply_err(r, &e);
		} else {
			n = 1;
		}
	} else if (images_list(s, &list, &n, &e) < 0) {
		return reply_err(r, &e);
	}
	struct pb_image *imgs = xcalloc(n ? n : 1, sizeof(*imgs));
	Runtime__V1__Image **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		pb_image_fill(&imgs[i], &list[i]);
		ptrs[i] = &imgs[i].img;
	}
	Runtime__V1__ListImagesResponse resp = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
	resp.n_images = n;
	resp.images = ptrs;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	for (size_t i = 0; i < n; i++)
		pb_image_clear(&imgs[i]);
	free(imgs);
	free(ptrs);
	if (list)
		image_info_list_free(list, n);
	return st;
}

/* The verbose "info" of ImageStatus: containerd's shape, {"chainID": ...,
 * "imageSpec": <the OCI image config document>}, read from the config blob. */
static char *image_verbose_info(struct image_store *s, const struct image_info *in)
{
	cleanup_json json_t *info = json_object();
	size_t nc = strv_len(in->chain_ids);
	json_object_set_new(info, "chainID", json_string(nc ? in->chain_ids[nc - 1] : ""));
	json_object_set_new(info, "manifestDigest",
			    json_string(in->manifest_digest ? in->manifest_digest : ""));
	const char *hex = strchr(in->id, ':');
	cleanup_free char *path =
	    xasprintf("%s/blobs/sha256/%s", images_store_root(s), hex ? hex + 1 : in->id);
	json_t *cfg = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_json_load_file(path, &cfg, &e) < 0) {
		log_warn("image config unreadable", "id=%s err=\"%s\"", in->id, ndl_error_msg(&e));
		ndl_error_clear(&e);
		cfg = json_null();
	}
	json_object_set_new(info, "imageSpec", cfg);
	return ndl_json_dumps(info, false);
}

enum cri_status cri_h_image_status(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	const Runtime__V1__ImageStatusRequest *in = (const Runtime__V1__ImageStatusRequest *)req;
	struct image_store *s = store_of(user);
	if (!in->image || !in->image->image || !*in->image->image)
		return cri_reply_error(r, CRI_REFUSED, "field \"image.image\": required");
	ndl_error_t e = NDL_ERROR_INIT;
	struct image_info info;
	Runtime__V1__ImageStatusResponse resp = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;
	int rc = images_get(s, in->image->image, &info, &e);
	if (rc == -ENOENT) {
		/* Not an error for the CRI: the kubelet pulls when image is unset. */
		ndl_error_clear(&e);
		return cri_reply_ok(r, &resp.base);
	}
	if (rc < 0)
		return reply_err(r, &e);
	struct pb_image p;
	pb_image_fill(&p, &info);
	resp.image = &p.img;
	Runtime__V1__ImageStatusResponse__InfoEntry ent;
	Runtime__V1__ImageStatusResponse__InfoEntry *entp = &ent;
	cleanup_free char *vinfo = NULL;
	if (in->verbose) {
		vinfo = image_verbose_info(s, &info);
		runtime__v1__image_status_response__info_entry__init(&ent);
		ent.key = (char *)"info";
		ent.value = vinfo;
		resp.n_info = 1;
		resp.info = &entp;
	}
	enum cri_status st = cri_reply_ok(r, &resp.base);
	pb_image_clear(&p);
	image_info_free(&info);
	return st;
}

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

enum cri_status cri_h_pull_image(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__PullImageRequest *in = (const Runtime__V1__PullImageRequest *)req;
	if (!in->image || !in->image->image || !*in->image->image)
		return cri_reply_error(r, CRI_REFUSED, "field \"image.image\": required");
	/* Pulls block their worker for as long as the transfer takes; at most
	 * workers-1 run at once so the pool always has a thread for the
	 * kubelet's status and lifecycle calls. A pull over the limit fails at
	 * once with RESOURCE_EXHAUSTED; the kubelet retries it with backoff. */
	pthread_mutex_lock(&svc->lock);
	bool ok = svc->pulls_active < svc->pulls_max;
	if (ok)
		svc->pulls_active++;
	int active = svc->pulls_active;
	pthread_mutex_unlock(&svc->lock);
	if (!ok)
		return cri_reply_error(r, CRI_RESOURCE_EXHAUSTED,
				       "PullImage %s: %d pulls already in progress (limit is "
				       "--workers minus one); retry later",
				       in->image->image, active);
	struct image_auth auth = {0};
	const struct image_auth *authp = NULL;
	if (in->auth) {
		auth.username = nz(in->auth->username);
		auth.password = nz(in->auth->password);
		auth.auth = nz(in->auth->auth);
		auth.identity_token = nz(in->auth->identity_token);
		auth.registry_token = nz(in->auth->registry_token);
		if (auth.username || auth.password || auth.auth || auth.identity_token ||
		    auth.registry_token)
			authp = &auth;
	}
	ndl_error_t e = NDL_ERROR_INIT;
	char *id = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = images_pull(svc->images, in->image->image, authp, &id, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&svc->lock);
	svc->pulls_active--;
	pthread_mutex_unlock(&svc->lock);
	if (rc < 0) {
		ndl_error_wrap(&e, "failed to pull image \"%s\"", in->image->image);
		log_warn("pull failed", "image=%s err=\"%s\"", in->image->image, ndl_error_msg(&e));
		return reply_err(r, &e);
	}
	log_info("pulled image", "image=%s id=%s ms=%ld", in->image->image, id,
		 (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;
	resp.image_ref = id;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	free(id);
	return st;
}

enum cri_status cri_h_remove_image(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	const Runtime__V1__RemoveImageRequest *in = (const Runtime__V1__RemoveImageRequest *)req;
	struct image_store *s = store_of(user);
	if (!in->image || !in->image->image || !*in->image->image)
		return cri_reply_error(r, CRI_REFUSED, "field \"image.image\": required");
	ndl_error_t e = NDL_ERROR_INIT;
	struct image_info info;
	Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
	int rc = images_get(s, in->image->image, &info, &e);
	if (rc == -ENOENT) {
		/* containerd: removing an image that is not there succeeds. */
		ndl_error_clear(&e);
		return cri_reply_ok(r, &resp.base);
	}
	if (rc < 0)
		return reply_err(r, &e);
	/* The CRI removes the image, not one of its names: by id, every tag
	 * and digest goes (as containerd does). */
	rc = images_remove(s, info.id, &e);
	if (rc < 0 && rc != -ENOENT) {
		image_info_free(&info);
		return reply_err(r, &e);
	}
	ndl_error_clear(&e);
	log_info("removed image", "image=%s id=%s", in->image->image, info.id);
	image_info_free(&info);
	return cri_reply_ok(r, &resp.base);
}

enum cri_status cri_h_image_fs_info(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct image_store *s = store_of(user);
	ndl_error_t e = NDL_ERROR_INIT;
	struct images_usage u = {0};
	if (images_usage(s, &u, &e) < 0)
		return reply_err(r, &e);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	Runtime__V1__FilesystemIdentifier fsid = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
	fsid.mountpoint = u.mountpoint;
	Runtime__V1__UInt64Value used = RUNTIME__V1__UINT64_VALUE__INIT;
	Runtime__V1__UInt64Value inodes = RUNTIME__V1__UINT64_VALUE__INIT;
	used.value = u.used_bytes;
	inodes.value = u.inodes_used;
	Runtime__V1__FilesystemUsage fu = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
	fu.timestamp = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	fu.fs_id = &fsid;
	fu.used_bytes = &used;
	fu.inodes_used = &inodes;
	Runtime__V1__FilesystemUsage *fup = &fu;
	Runtime__V1__ImageFsInfoResponse resp = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
	resp.n_image_filesystems = 1;
	resp.image_filesystems = &fup;
	/* Container writable layers live in the same store (rootfs/<id>/upper),
	 * so the container filesystem is the same one (CRI 1.29 field). */
	resp.n_container_filesystems = 1;
	resp.container_filesystems = &fup;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	free(u.mountpoint);
	return st;
}
