/* Snapshots: each layer unpacked once under snapshots/<chainid>/fs and shared;
 * container roots and read-only views as overlay mounts over them. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* The kernel copies mount data into one page. */
#define MOUNT_DATA_MAX 4000

void snapshot_short_name(const char *chain_id, char out[27])
{
	snprintf(out, 27, "%.26s", chain_id + 7);
}

static int ensure_short_link(struct image_store *s, const char *chain_id, ndl_error_t *err)
{
	char shortn[27], rel[40], target[128];
	snapshot_short_name(chain_id, shortn);
	snprintf(rel, sizeof(rel), "l/%s", shortn);
	snprintf(target, sizeof(target), "../snapshots/%s/fs", chain_id + 7);
	if (symlinkat(target, s->root_fd, rel) < 0 && errno != EEXIST)
		return ndl_error_set(err, errno, "link %s/%s", s->root, rel);
	return 0;
}

/* Layers are unpacked by a small pool of threads, each taking the next layer
 * (fetching its blob first when pulling, so downloads and unpacks overlap).
 * A layer is committed (fixed-up parents, synced, renamed into place) only
 * after every layer below it is in place: the wait-for chain always points
 * to lower layers, so neither threads nor processes (flock per layer) can
 * deadlock. */
struct snap_job {
	struct image_store *s;
	char *const *layers, *const *diff_ids, *const *chains;
	size_t n;
	snapshot_fetch_fn fetch;
	void *fetch_arg;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	size_t next;
	bool *done;
	bool failed;
	ndl_error_t err;
};

static bool wait_lowers(struct snap_job *j, size_t i)
{
	pthread_mutex_lock(&j->mu);
	for (;;) {
		bool all = true;
		for (size_t k = 0; k < i && all; k++)
			all = j->done[k];
		if (all || j->failed)
			break;
		pthread_cond_wait(&j->cond, &j->mu);
	}
	/* A layer whose lowers are all in place is committed even when another
	 * layer failed: the work is valid and shared by any image using it. */
	bool ok = true;
	for (size_t k = 0; k < i && ok; k++)
		ok = j->done[k];
	pthread_mutex_unlock(&j->mu);
	return ok;
}

static void mark_done(struct snap_job *j, size_t i)
{
	pthread_mutex_lock(&j->mu);
	j->done[i] = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int unpack_one(struct snap_job *j, size_t i, ndl_error_t *err)
{
	struct image_store *s = j->s;
	const char *layer = j->layers[i], *chain_id = j->chains[i];
	const char *diff_id = j->diff_ids ? j->diff_ids[i] : NULL;
	const char *hex = chain_id + 7;
	char final[96], lockname[96];
	snprintf(final, sizeof(final), "snapshots/%.64s", hex);
	snprintf(lockname, sizeof(lockname), "locks/snap-%.64s", hex);
	if (j->fetch && j->fetch(j->fetch_arg, i, err) < 0)
		return -abs(err->code ? err->code : EIO);
	if (faccessat(s->root_fd, final, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return ensure_short_link(s, chain_id, err);
	int lk = store_lock(s, lockname, LOCK_EX, err);
	if (lk < 0)
		return lk;
	int r = 0;
	cleanup_free char *tmp = xasprintf("snapshots/tmp-%.16s-%d-%zu", hex, (int)getpid(), i);
	cleanup_free char *tmp_abs = xasprintf("%s/%s", s->root, tmp);
	cleanup_free char *fsrel = xasprintf("%s/fs", tmp);
	char **implicit = NULL;
	int dfd = -1;
	if (faccessat(s->root_fd, final, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		goto done; /* another process unpacked it while we waited */
	ndl_rm_rf(tmp_abs, NULL);
	if (mkdirat(s->root_fd, tmp, 0700) < 0 || mkdirat(s->root_fd, fsrel, 0755) < 0) {
		r = ndl_error_set(err, errno, "create %s/fs", tmp_abs);
		goto fail;
	}
	dfd = openat(s->root_fd, fsrel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = ndl_error_set(err, errno, "open %s/fs", tmp_abs);
		goto fail;
	}
	{
		cleanup_close int bfd = store_open_blob(s, layer, err);
		if (bfd < 0) {
			r = bfd;
			goto fail;
		}
		struct unpack_limits lim = {s->max_layer_bytes, s->max_layer_entries};
		cleanup_free char *got = NULL;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = layer_unpack_fd_digest(bfd, dfd, &lim, &got, &implicit, err);
		if (r < 0)
			goto fail;
		log_debug(1, "unpacked layer", "layer=%s chain=%s secs=%.3f", layer, chain_id,
			  secs_since(&t0));
		if (diff_id && strcmp(got, diff_id) != 0) {
			r = ndl_error_setf(err, EBADMSG,
					   "uncompressed layer digest %s does not match the config's diff_id %s",
					   got, diff_id);
			goto fail;
		}
	}
	if (!wait_lowers(j, i)) {
		r = ndl_error_setf(err, ECANCELED, "canceled: a lower layer failed");
		goto fail;
	}
	if (implicit && implicit[0]) {
		int *lowers = xcalloc(i + 1, sizeof(int));
		size_t nl = 0;
		for (size_t k = i; k-- > 0;) {
			char rel[96];
			snprintf(rel, sizeof(rel), "snapshots/%.64s/fs", j->chains[k] + 7);
			int lfd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (lfd >= 0)
				lowers[nl++] = lfd;
		}
		layer_fix_parents(dfd, implicit, lowers, nl);
		for (size_t k = 0; k < nl; k++)
			close(lowers[k]);
		free(lowers);
	}
	/* Durable before it becomes visible under its final name. */
	if (syncfs(dfd) < 0) {
		r = ndl_error_set(err, errno, "sync %s", tmp_abs);
		goto fail;
	}
	if (renameat(s->root_fd, tmp, s->root_fd, final) < 0) {
		r = ndl_error_set(err, errno, "commit snapshot %s", final);
		goto fail;
	}
	{
		cleanup_close int sd = openat(s->root_fd, "snapshots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sd >= 0)
			fsync(sd);
	}
done:
	if (r == 0)
		r = ensure_short_link(s, chain_id, err);
	if (dfd >= 0)
		close(dfd);
	strv_free(implicit);
	store_unlock(lk);
	return r;
fail:
	if (dfd >= 0)
		close(dfd);
	strv_free(implicit);
	ndl_rm_rf(tmp_abs, NULL);
	store_unlock(lk);
	return ndl_error_wrap(err, "unpack layer %s", layer);
}

static void *snap_worker(void *arg)
{
	struct snap_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		if (j->failed || j->next >= j->n) {
			pthread_mutex_unlock(&j->mu);
			return NULL;
		}
		size_t i = j->next++;
		pthread_mutex_unlock(&j->mu);
		ndl_error_t e = NDL_ERROR_INIT;
		if (unpack_one(j, i, &e) < 0) {
			pthread_mutex_lock(&j->mu);
			/* The first real failure wins over "canceled" follow-ups. */
			if (!j->failed || (j->err.code == ECANCELED && e.code != ECANCELED)) {
				ndl_error_clear(&j->err);
				j->err = e;
			} else {
				ndl_error_clear(&e);
			}
			j->failed = true;
			pthread_cond_broadcast(&j->cond);
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		mark_done(j, i);
	}
}

int snapshots_ensure(struct image_store *s, char *const *layers, char *const *diff_ids,
		     char *const *chain_ids, size_t n, snapshot_fetch_fn fetch, void *fetch_arg,
		     ndl_error_t *err)
{
	struct snap_job j = {.s = s, .layers = layers, .diff_ids = diff_ids, .chains = chain_ids,
			     .n = n, .fetch = fetch, .fetch_arg = fetch_arg};
	j.done = xcalloc(n + 1, sizeof(bool));
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cond, NULL);
	size_t nt = (size_t)s->max_parallel;
	if (nt > n)
		nt = n;
	if (nt > 16)
		nt = 16;
	pthread_t th[16];
	size_t started = 0;
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&th[started], NULL, snap_worker, &j) == 0)
			started++;
	snap_worker(&j);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_cond_destroy(&j.cond);
	pthread_mutex_destroy(&j.mu);
	free(j.done);
	if (j.failed) {
		ndl_error_clear(err);
		*err = j.err;
		return -abs(err->code ? err->code : EIO);
	}
	return 0;
}

/* ---- container roots ---- */

void image_mount_free(struct image_mount *m)
{
	if (!m)
		return;
	free(m->type);
	free(m->source);
	strv_free(m->options);
	strv_free(m->lowerdirs);
	free(m->upperdir);
	free(m->workdir);
	memset(m, 0, sizeof(*m));
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 200 || id[0] == '.')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

int images_prepare_rootfs(struct image_store *s, const char *image, const char *container_id,
			  bool readonly, struct image_mount *ret_mount, ndl_error_t *err)
{
	if (!valid_id(container_id))
		return ndl_error_setf(err, EINVAL, "invalid rootfs id \"%s\"", container_id);
	/* Shared gc lock: the layers cannot vanish while the record is made. */
	int gl = store_lock(s, "gc.lock", LOCK_SH, err);
	if (gl < 0)
		return gl;
	struct image_info info = {0};
	int r = images_get(s, image, &info, err);
	cleanup_free char *dir = xasprintf("%s/rootfs/%s", s->root, container_id);
	bool created = false;
	if (r < 0)
		goto out;
	/* Layers are present for every recorded image, but re-check cheaply
	 * (an interrupted GC or manual deletion must not give a broken root). */
	for (size_t i = 0; i < info.n_layers; i++) {
		char rel[96];
		snprintf(rel, sizeof(rel), "snapshots/%s", info.chain_ids[i] + 7);
		if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ndl_error_setf(err, ENOENT, "image %s: layer %s is not unpacked", info.id,
					   info.chain_ids[i]);
			goto out;
		}
		if ((r = ensure_short_link(s, info.chain_ids[i], err)) < 0)
			goto out;
	}
	if (mkdir(dir, 0700) < 0) {
		r = errno == EEXIST
			    ? ndl_error_setf(err, EEXIST, "rootfs \"%s\" already exists", container_id)
			    : ndl_error_set(err, errno, "create %s", dir);
		goto out;
	}
	created = true;
	{
		json_t *arr = json_array();
		for (size_t i = 0; i < info.n_layers; i++)
			json_array_append_new(arr, json_string(info.chain_ids[i]));
		cleanup_free char *txt = ndl_json_dumps(arr, false);
		json_decref(arr);
		cleanup_free char *lp = xasprintf("%s/layers.json", dir);
		if ((r = ndl_write_file_atomic(lp, txt, strlen(txt), 0600, err)) < 0)
			goto out;
	}
	static const char *const subdirs_rw[] = {"upper", "work", "merged", NULL};
	static const char *const subdirs_ro[] = {"merged", NULL};
	for (const char *const *sd = readonly ? subdirs_ro : subdirs_rw; *sd; sd++) {
		cleanup_free char *p = xasprintf("%s/%s", dir, *sd);
		if (mkdir(p, 0755) < 0) {
			r = ndl_error_set(err, errno, "create %s", p);
			goto out;
		}
	}
	struct image_mount m = {0};
	size_t nl = info.n_layers;
	if (nl == 0) {
		/* An image without layers still needs one lower directory. */
		cleanup_free char *empty = xasprintf("%s/empty", dir);
		if (mkdir(empty, 0755) < 0) {
			r = ndl_error_set(err, errno, "create %s", empty);
			goto out;
		}
		m.lowerdirs = xcalloc(2, sizeof(char *));
		m.lowerdirs[0] = steal_ptr(&empty);
	} else {
		m.lowerdirs = xcalloc(nl + 1, sizeof(char *));
		for (size_t i = 0; i < nl; i++) {
			char shortn[27];
			snapshot_short_name(info.chain_ids[nl - 1 - i], shortn);
			m.lowerdirs[i] = xasprintf("%s/l/%s", s->root, shortn);
		}
	}
	if (!readonly) {
		m.upperdir = xasprintf("%s/upper", dir);
		m.workdir = xasprintf("%s/work", dir);
	}
	if (readonly && strv_len(m.lowerdirs) == 1) {
		/* overlayfs wants two lowers without an upper: bind instead. */
		m.type = xstrdup("bind");
		m.source = xstrdup(m.lowerdirs[0]);
		m.options = xcalloc(4, sizeof(char *));
		m.options[0] = xstrdup("rbind");
		m.options[1] = xstrdup("ro");
	} else {
		m.type = xstrdup("overlay");
		m.source = xstrdup("overlay");
		size_t cap = 64;
		for (size_t i = 0; m.lowerdirs[i]; i++)
			cap += strlen(m.lowerdirs[i]) + 1;
		char *ld = xmalloc(cap);
		size_t off = (size_t)snprintf(ld, cap, "lowerdir=");
		for (size_t i = 0; m.lowerdirs[i]; i++)
			off += (size_t)snprintf(ld + off, cap - off, "%s%s", i ? ":" : "", m.lowerdirs[i]);
		m.options = xcalloc(5, sizeof(char *));
		size_t k = 0;
		m.options[k++] = ld;
		if (!readonly) {
			m.options[k++] = xasprintf("upperdir=%s", m.upperdir);
			m.options[k++] = xasprintf("workdir=%s", m.workdir);
		}
	}
	*ret_mount = m;
	r = 0;
out:
	if (r < 0 && created)
		ndl_rm_rf(dir, NULL);
	image_info_free(&info);
	store_unlock(gl);
	return r;
}

int images_remove_rootfs(struct image_store *s, const char *container_id, ndl_error_t *err)
{
	if (!valid_id(container_id))
		return ndl_error_setf(err, EINVAL, "invalid rootfs id \"%s\"", container_id);
	cleanup_free char *dir = xasprintf("%s/rootfs/%s", s->root, container_id);
	cleanup_free char *merged = xasprintf("%s/merged", dir);
	if (umount2(merged, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return ndl_error_set(err, errno, "unmount %s", merged);
	if (ndl_rm_rf(dir, err) < 0)
		return ndl_error_wrap(err, "remove rootfs %s", container_id);
	return 0;
}

int images_mount_rootfs(const struct image_mount *m, const char *target, bool readonly,
			ndl_error_t *err)
{
	if (strcmp(m->type, "bind") == 0) {
		if (mount(m->source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return ndl_error_set(err, errno, "bind mount %s on %s", m->source, target);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			int e = errno;
			umount2(target, MNT_DETACH);
			return ndl_error_set(err, e, "remount %s read-only", target);
		}
		return 0;
	}
	size_t cap = 1;
	for (size_t i = 0; m->options[i]; i++)
		cap += strlen(m->options[i]) + 1;
	cleanup_free char *data = xmalloc(cap);
	size_t off = 0;
	for (size_t i = 0; m->options[i]; i++)
		off += (size_t)snprintf(data + off, cap - off, "%s%s", i ? "," : "", m->options[i]);
	unsigned long flags = readonly || !m->upperdir ? MS_RDONLY : 0;
	if (off < MOUNT_DATA_MAX) {
		if (mount("overlay", target, "overlay", flags, data) < 0)
			return ndl_error_set(err, errno, "mount overlay on %s", target);
		return 0;
	}
	/* Too long for one page: the new mount API takes one lower at a time
	 * ("lowerdir+", Linux 6.8). */
	cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return ndl_error_set(err, errno, "fsopen overlay");
	for (size_t i = 0; m->lowerdirs[i]; i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", m->lowerdirs[i], 0) < 0)
			return ndl_error_set(err, errno, "overlay: add lower %s (%zu layers)",
					     m->lowerdirs[i], i + 1);
	if (m->upperdir && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", m->upperdir, 0) < 0 ||
			    fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", m->workdir, 0) < 0))
		return ndl_error_set(err, errno, "overlay: upper/work dir");
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ndl_error_set(err, errno, "overlay: create");
	cleanup_close int mfd =
		fsmount(fsfd, FSMOUNT_CLOEXEC, (flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0);
	if (mfd < 0)
		return ndl_error_set(err, errno, "fsmount overlay");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return ndl_error_set(err, errno, "move_mount overlay to %s", target);
	return 0;
}

/* A view's rootfs id is derived from the directory it is mounted on. */
static int view_id(const char *dir, char out[64], ndl_error_t *err)
{
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return ndl_error_set(err, errno, "mount point %s", dir);
	cleanup_free char *d = digest_of(real, strlen(real));
	snprintf(out, 64, "view-%.24s", d + 7);
	return 0;
}

int images_mount_view(struct image_store *s, const char *image, const char *dir, ndl_error_t *err)
{
	char id[64];
	if (view_id(dir, id, err) < 0)
		return -abs(err->code);
	struct image_mount m = {0};
	if (images_prepare_rootfs(s, image, id, true, &m, err) < 0)
		return -abs(err->code);
	int r = images_mount_rootfs(&m, dir, true, err);
	image_mount_free(&m);
	if (r < 0) {
		images_remove_rootfs(s, id, NULL);
		return r;
	}
	cleanup_free char *tp = xasprintf("%s/rootfs/%s/target", s->root, id);
	ndl_write_file_atomic(tp, dir, strlen(dir), 0600, NULL);
	return 0;
}

int images_unmount_view(struct image_store *s, const char *dir, ndl_error_t *err)
{
	char id[64];
	if (view_id(dir, id, err) < 0)
		return -abs(err->code);
	cleanup_free char *rec = xasprintf("%s/rootfs/%s", s->root, id);
	if (!ndl_path_exists(rec))
		return ndl_error_setf(err, ENOENT, "%s: no image mounted here by this store", dir);
	if (umount2(dir, 0) < 0 && errno != EINVAL)
		return ndl_error_set(err, errno, "unmount %s", dir);
	return images_remove_rootfs(s, id, err);
}
