/* The content store: verified blobs addressed by sha256, image records,
 * store-wide locks, lookup, removal, garbage collection and disk usage. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define RECORDS_FILE "images.json"
#define RECORDS_MAX (64u * 1024 * 1024)

static const char *const store_dirs[] = {"blobs", "blobs/sha256", "ingest", "snapshots",
					  "l",     "rootfs",       "locks"};

int images_store_open(const struct image_store_options *opts, struct image_store **ret,
		      ndl_error_t *err)
{
	const char *root = opts && opts->root ? opts->root : IMAGES_DEFAULT_ROOT;
	if (ndl_mkdir_p(root, 0700, err) < 0)
		return ndl_error_wrap(err, "store root %s", root);
	char real[PATH_MAX];
	if (!realpath(root, real))
		return ndl_error_set(err, errno, "store root %s", root);
	struct image_store *s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(real);
	s->root_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		ndl_error_set(err, errno, "open store root %s", real);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++)
		if (mkdirat(s->root_fd, store_dirs[i], 0700) < 0 && errno != EEXIST) {
			ndl_error_set(err, errno, "create %s/%s", real, store_dirs[i]);
			goto fail;
		}
	s->max_layer_bytes = opts && opts->max_layer_bytes ? opts->max_layer_bytes : (64ull << 30);
	s->max_layer_entries =
		opts && opts->max_layer_entries ? opts->max_layer_entries : 2000000;
	s->max_parallel = opts && opts->max_parallel > 0 ? opts->max_parallel : 3;
	s->retries = opts && opts->retries > 0 ? opts->retries : 4;
	s->timeout_seconds = opts && opts->timeout_seconds > 0 ? opts->timeout_seconds : 60;
	pthread_mutex_init(&s->mu, NULL);
	if (opts && opts->registry_config &&
	    registry_config_load(opts->registry_config, &s->regcfg, err) < 0)
		goto fail;
	if (opts && opts->docker_config) {
		json_t *dc = NULL;
		if (ndl_json_load_file(opts->docker_config, &dc, err) < 0) {
			ndl_error_wrap(err, "docker config");
			goto fail;
		}
		json_t *auths = json_object_get(dc, "auths");
		if (auths && !json_is_object(auths)) {
			json_decref(dc);
			ndl_error_setf(err, EINVAL, "docker config %s: field \"auths\": expected object",
				       opts->docker_config);
			goto fail;
		}
		s->docker_auths = auths ? json_incref(auths) : NULL;
		json_decref(dc);
	}
	*ret = s;
	return 0;
fail:
	images_store_close(s);
	return -abs(err && err->code ? err->code : EIO);
}

void images_store_close(struct image_store *s)
{
	if (!s)
		return;
	if (s->root_fd >= 0)
		close(s->root_fd);
	registry_config_free(s->regcfg);
	if (s->docker_auths)
		json_decref(s->docker_auths);
	free(s->root);
	free(s);
}

const char *images_store_root(const struct image_store *s)
{
	return s->root;
}

int store_lock(struct image_store *s, const char *name, int op, ndl_error_t *err)
{
	int fd = openat(s->root_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ndl_error_set(err, errno, "open lock %s", name);
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "lock %s", name);
	}
	return fd;
}

/* ---- blobs ---- */

static void blob_rel(const char *digest, char out[96])
{
	snprintf(out, 96, "blobs/sha256/%.64s", digest + 7);
}

char *store_blob_path(struct image_store *s, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

bool store_has_blob(struct image_store *s, const char *digest)
{
	char rel[96];
	if (!digest_valid(digest))
		return false;
	blob_rel(digest, rel);
	return faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int store_open_blob(struct image_store *s, const char *digest, ndl_error_t *err)
{
	char rel[96];
	if (!digest_valid(digest))
		return ndl_error_setf(err, EINVAL, "invalid digest \"%s\"", digest);
	blob_rel(digest, rel);
	int fd = openat(s->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ndl_error_set(err, errno, "blob %s", digest);
	return fd;
}

int store_read_blob(struct image_store *s, const char *digest, size_t max, char **ret,
		    size_t *ret_len, ndl_error_t *err)
{
	cleanup_close int fd = store_open_blob(s, digest, err);
	if (fd < 0)
		return fd;
	if (ndl_read_fd(fd, max, ret, ret_len, err) < 0)
		return ndl_error_wrap(err, "blob %s", digest);
	return 0;
}

int blob_writer_open(struct image_store *s, const char *expect_digest, int64_t expect_size,
		     struct blob_writer *ret, ndl_error_t *err)
{
	static unsigned long counter;
	unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	struct blob_writer w = {.s = s, .fd = -1, .expect_size = expect_size};
	w.tmp_name = xasprintf("ingest/%.16s.%d.%ld.%lu", expect_digest ? expect_digest + 7 : "anon",
			       (int)getpid(), (long)syscall(SYS_gettid), n);
	w.fd = openat(s->root_fd, w.tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (w.fd < 0) {
		int e = errno;
		free(w.tmp_name);
		return ndl_error_set(err, e, "create temp blob in %s/ingest", s->root);
	}
	w.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(w.md, EVP_sha256(), NULL);
	w.expect_digest = expect_digest ? xstrdup(expect_digest) : NULL;
	*ret = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *buf, size_t len, ndl_error_t *err)
{
	if (w->expect_size >= 0 && w->written + len > (uint64_t)w->expect_size)
		return ndl_error_setf(err, EBADMSG, "blob %s: more data than the expected %lld bytes",
				      w->expect_digest ? w->expect_digest : "", (long long)w->expect_size);
	if (ndl_write_all(w->fd, buf, len, err) < 0)
		return ndl_error_wrap(err, "write %s/%s", w->s->root, w->tmp_name);
	EVP_DigestUpdate(w->md, buf, len);
	w->written += len;
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_name)
		unlinkat(w->s->root_fd, w->tmp_name, 0);
	free(w->tmp_name);
	w->tmp_name = NULL;
	if (w->md)
		EVP_MD_CTX_free(w->md);
	w->md = NULL;
	free(w->expect_digest);
	w->expect_digest = NULL;
}

int blob_writer_commit(struct blob_writer *w, char **ret_digest, ndl_error_t *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_DigestFinal_ex(w->md, md, &mdlen);
	char hex[2 * EVP_MAX_MD_SIZE + 8] = "sha256:";
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 7 + 2 * i, "%02x", md[i]);
	int r = 0;
	if (w->expect_size >= 0 && w->written != (uint64_t)w->expect_size)
		r = ndl_error_setf(err, EBADMSG, "blob %s: size mismatch: got %llu bytes, want %lld",
				   w->expect_digest ? w->expect_digest : hex,
				   (unsigned long long)w->written, (long long)w->expect_size);
	else if (w->expect_digest && strcmp(hex, w->expect_digest) != 0)
		r = ndl_error_setf(err, EBADMSG, "blob digest mismatch: want %s, got %s",
				   w->expect_digest, hex);
	else if (fsync(w->fd) < 0)
		r = ndl_error_set(err, errno, "fsync %s/%s", w->s->root, w->tmp_name);
	else if (close(w->fd) < 0) {
		w->fd = -1;
		r = ndl_error_set(err, errno, "close %s/%s", w->s->root, w->tmp_name);
	} else {
		w->fd = -1;
		char rel[96];
		blob_rel(hex, rel);
		if (renameat(w->s->root_fd, w->tmp_name, w->s->root_fd, rel) < 0)
			r = ndl_error_set(err, errno, "commit blob %s", hex);
		else {
			cleanup_close int dfd =
				openat(w->s->root_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0)
				fsync(dfd);
		}
	}
	if (r == 0 && ret_digest)
		*ret_digest = xstrdup(hex);
	blob_writer_abort(w); /* frees; the temp name is gone after rename */
	return r;
}

int store_put_blob(struct image_store *s, const void *buf, size_t len, const char *expect_digest,
		   char **ret_digest, ndl_error_t *err)
{
	cleanup_free char *d = digest_of(buf, len);
	if (expect_digest && strcmp(d, expect_digest) != 0)
		return ndl_error_setf(err, EBADMSG, "digest mismatch: want %s, got %s", expect_digest, d);
	if (!store_has_blob(s, d)) {
		struct blob_writer w;
		if (blob_writer_open(s, d, (int64_t)len, &w, err) < 0)
			return -abs(err->code);
		if (blob_writer_write(&w, buf, len, err) < 0) {
			blob_writer_abort(&w);
			return -abs(err->code);
		}
		if (blob_writer_commit(&w, NULL, err) < 0)
			return -abs(err->code);
	}
	if (ret_digest)
		*ret_digest = steal_ptr(&d);
	return 0;
}

/* ---- records ---- */

int store_load_records(struct image_store *s, json_t **ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file_at(s->root_fd, RECORDS_FILE, RECORDS_MAX, &buf, &len, err) < 0) {
		if (err && err->code == ENOENT) {
			ndl_error_clear(err);
			*ret = json_object();
			return 0;
		}
		return -abs(err ? err->code : EIO);
	}
	json_t *j = NULL;
	if (ndl_json_parse(buf, len, &j, err) < 0)
		return ndl_error_wrap(err, "%s/%s", s->root, RECORDS_FILE);
	if (!json_is_object(j)) {
		json_decref(j);
		return ndl_error_setf(err, EINVAL, "%s/%s: expected object", s->root, RECORDS_FILE);
	}
	*ret = j;
	return 0;
}

static int save_records(struct image_store *s, json_t *recs, ndl_error_t *err)
{
	cleanup_free char *out = ndl_json_dumps(recs, true);
	return ndl_write_file_atomic_at(s->root_fd, RECORDS_FILE, out, strlen(out), 0600, err);
}

static void strarray_remove(json_t *arr, const char *v)
{
	for (size_t i = json_array_size(arr); i-- > 0;)
		if (strcmp(json_string_value(json_array_get(arr, i)), v) == 0)
			json_array_remove(arr, i);
}

static void strarray_add(json_t *arr, const char *v)
{
	strarray_remove(arr, v);
	json_array_append_new(arr, json_string(v));
}

static json_t *strv_to_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

int store_record_image(struct image_store *s, const struct image_record_in *in, ndl_error_t *err)
{
	cleanup_free char *tag = in->name && in->tag ? xasprintf("%s:%s", in->name, in->tag) : NULL;
	const char *top = in->index_digest ? in->index_digest : in->manifest_digest;
	cleanup_free char *rdig = in->name ? xasprintf("%s@%s", in->name, top) : NULL;
	cleanup_json json_t *recs = NULL;
	int lk = store_lock(s, "meta.lock", LOCK_EX, err);
	if (lk < 0)
		return lk;
	int r = store_load_records(s, &recs, err);
	if (r < 0)
		goto out;
	/* A tag names one image: take it from whichever had it. */
	const char *k;
	json_t *v;
	if (tag)
		json_object_foreach(recs, k, v) strarray_remove(json_object_get(v, "repoTags"), tag);
	json_t *rec = json_object_get(recs, in->id);
	if (!rec) {
		rec = json_object();
		json_object_set_new(rec, "repoTags", json_array());
		json_object_set_new(rec, "repoDigests", json_array());
		json_object_set_new(rec, "created", json_integer((json_int_t)time(NULL)));
		json_object_set_new(recs, in->id, rec);
	}
	json_object_set_new(rec, "manifest", json_string(in->manifest_digest));
	json_object_set_new(rec, "index", in->index_digest ? json_string(in->index_digest) : json_null());
	json_object_set_new(rec, "layers", strv_to_json(in->layers, in->n_layers));
	json_object_set_new(rec, "chainIds", strv_to_json(in->chain_ids, in->n_layers));
	json_object_set_new(rec, "size", json_integer((json_int_t)in->size));
	if (tag)
		strarray_add(json_object_get(rec, "repoTags"), tag);
	if (rdig)
		strarray_add(json_object_get(rec, "repoDigests"), rdig);
	r = save_records(s, recs, err);
out:
	store_unlock(lk);
	return r;
}

/* Which record does name denote? Returns the record id or NULL. */
/* An image id or a unique id prefix (at least 3 hex digits). */
static const char *find_by_id(json_t *recs, const char *name)
{
	const char *k, *found = NULL;
	json_t *v;
	const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
	size_t hn = strlen(hex);
	if (hn < 3 || hn > 64 || strspn(hex, "0123456789abcdef") != hn)
		return NULL;
	int matches = 0;
	json_object_foreach(recs, k, v) if (strncmp(k + 7, hex, hn) == 0)
	{
		found = k;
		matches++;
	}
	return matches == 1 ? found : NULL;
}

static const char *find_by_ref(json_t *recs, const char *name, const char **ret_tag);

/* Which record does name denote? Full ids are ids; otherwise a reference
 * wins over an id prefix (a repository may be called "cafe"), as docker. */
static const char *find_record(json_t *recs, const char *name, const char **ret_tag)
{
	*ret_tag = NULL;
	const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
	if (hex != name || (strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64))
		return find_by_id(recs, name);
	const char *found = find_by_ref(recs, name, ret_tag);
	return found ? found : find_by_id(recs, name);
}

static const char *find_by_ref(json_t *recs, const char *name, const char **ret_tag)
{
	const char *k;
	json_t *v;
	struct image_ref ref = {0};
	if (image_ref_parse(name, &ref, NULL) < 0)
		return NULL;
	cleanup_free char *nm = image_ref_name(&ref);
	const char *found = NULL;
	static __thread char tagbuf[600];
	if (ref.digest) {
		cleanup_free char *want = xasprintf("%s@%s", nm, ref.digest);
		json_object_foreach(recs, k, v)
		{
			json_t *rd = json_object_get(v, "repoDigests"), *e;
			size_t i;
			json_array_foreach(rd, i, e) if (strcmp(json_string_value(e), want) == 0) found = k;
			const char *md = json_string_value(json_object_get(v, "manifest"));
			if (md && strcmp(md, ref.digest) == 0)
				found = k;
		}
	} else {
		snprintf(tagbuf, sizeof(tagbuf), "%s:%s", nm, ref.tag);
		json_object_foreach(recs, k, v)
		{
			json_t *rt = json_object_get(v, "repoTags"), *e;
			size_t i;
			json_array_foreach(rt, i, e) if (strcmp(json_string_value(e), tagbuf) == 0)
			{
				found = k;
				*ret_tag = tagbuf;
			}
		}
	}
	image_ref_free(&ref);
	return found;
}

static char **json_strv(json_t *a)
{
	char **v = xcalloc(json_array_size(a) + 1, sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e) v[i] = xstrdup(json_string_value(e) ? json_string_value(e) : "");
	return v;
}

void image_info_free(struct image_info *i)
{
	if (!i)
		return;
	free(i->id);
	free(i->manifest_digest);
	strv_free(i->repo_tags);
	strv_free(i->repo_digests);
	strv_free(i->chain_ids);
	strv_free(i->layers);
	image_config_free(&i->config);
	memset(i, 0, sizeof(*i));
}

void image_info_list_free(struct image_info *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		image_info_free(&list[i]);
	free(list);
}

static int fill_info(struct image_store *s, const char *id, json_t *rec, struct image_info *ret,
		     ndl_error_t *err)
{
	struct image_info i = {0};
	cleanup_free char *cfg = NULL;
	size_t len = 0;
	if (store_read_blob(s, id, IMAGES_MAX_CONFIG, &cfg, &len, err) < 0)
		return ndl_error_wrap(err, "image %s: config", id);
	if (image_config_parse(cfg, len, &i.config, NULL, err) < 0)
		return ndl_error_wrap(err, "image %s", id);
	i.id = xstrdup(id);
	i.manifest_digest = xstrdup(json_string_value(json_object_get(rec, "manifest")) ?: "");
	i.repo_tags = json_strv(json_object_get(rec, "repoTags"));
	i.repo_digests = json_strv(json_object_get(rec, "repoDigests"));
	i.layers = json_strv(json_object_get(rec, "layers"));
	i.chain_ids = json_strv(json_object_get(rec, "chainIds"));
	i.n_layers = strv_len(i.layers);
	i.size = (uint64_t)json_integer_value(json_object_get(rec, "size"));
	i.created = json_integer_value(json_object_get(rec, "created"));
	*ret = i;
	return 0;
}

int images_get(struct image_store *s, const char *name, struct image_info *ret, ndl_error_t *err)
{
	cleanup_json json_t *recs = NULL;
	if (store_load_records(s, &recs, err) < 0)
		return -abs(err->code);
	const char *tag;
	const char *id = find_record(recs, name, &tag);
	if (!id)
		return ndl_error_setf(err, ENOENT, "image \"%s\": not found", name);
	return fill_info(s, id, json_object_get(recs, id), ret, err);
}

int images_list(struct image_store *s, struct image_info **ret, size_t *ret_n, ndl_error_t *err)
{
	cleanup_json json_t *recs = NULL;
	if (store_load_records(s, &recs, err) < 0)
		return -abs(err->code);
	size_t n = 0, cap = json_object_size(recs);
	struct image_info *list = xcalloc(cap + 1, sizeof(*list));
	const char *k;
	json_t *v;
	json_object_foreach(recs, k, v)
	{
		if (fill_info(s, k, v, &list[n], err) < 0) {
			image_info_list_free(list, n);
			return -abs(err->code);
		}
		n++;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

int images_remove(struct image_store *s, const char *name, ndl_error_t *err)
{
	int gl = store_lock(s, "gc.lock", LOCK_EX, err);
	if (gl < 0)
		return gl;
	int lk = store_lock(s, "meta.lock", LOCK_EX, err);
	if (lk < 0) {
		store_unlock(gl);
		return lk;
	}
	cleanup_json json_t *recs = NULL;
	int r = store_load_records(s, &recs, err);
	if (r == 0) {
		const char *tag;
		const char *found = find_record(recs, name, &tag);
		if (!found) {
			r = ndl_error_setf(err, ENOENT, "image \"%s\": not found", name);
		} else {
			char *id = xstrdup(found);
			json_t *rec = json_object_get(recs, id);
			json_t *tags = json_object_get(rec, "repoTags");
			if (tag && json_array_size(tags) > 1) {
				/* Untag only: the image stays under its other names. */
				strarray_remove(tags, tag);
			} else {
				json_object_del(recs, id);
			}
			r = save_records(s, recs, err);
			free(id);
		}
	}
	store_unlock(lk);
	store_unlock(gl);
	if (r < 0)
		return r;
	return images_gc(s, err);
}

/* ---- garbage collection ---- */

static void add_refs(json_t *set, json_t *arr)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) if (json_is_string(e)) json_object_set_new(set, json_string_value(e),
										   json_true());
}

/* Chain ids used by rootfs/<id>/layers files. */
static void add_rootfs_refs(struct image_store *s, json_t *snaps)
{
	cleanup_close int dfd = openat(s->root_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d)
		return;
	dfd = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char rel[PATH_MAX];
		snprintf(rel, sizeof(rel), "rootfs/%s/layers.json", de->d_name);
		cleanup_free char *buf = NULL;
		size_t len;
		if (ndl_read_file_at(s->root_fd, rel, 1 << 20, &buf, &len, NULL) < 0)
			continue;
		cleanup_json json_t *j = NULL;
		if (ndl_json_parse(buf, len, &j, NULL) == 0)
			add_refs(snaps, j);
	}
	closedir(d);
}

/* Unlink every file of root_fd/sub except those whose "sha256:<name>" is a
 * key of `keep` (NULL: keep nothing). Returns how many were removed. */
static unsigned unlink_entries(int root_fd, const char *sub, json_t *keep)
{
	int dfd = openat(root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	unsigned removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (keep) {
			char dg[80];
			snprintf(dg, sizeof(dg), "sha256:%.64s", de->d_name);
			if (json_object_get(keep, dg))
				continue;
		}
		if (unlinkat(dfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int images_gc(struct image_store *s, ndl_error_t *err)
{
	int gl = store_lock(s, "gc.lock", LOCK_EX, err);
	if (gl < 0)
		return gl;
	int lk = store_lock(s, "meta.lock", LOCK_EX, err);
	if (lk < 0) {
		store_unlock(gl);
		return lk;
	}
	cleanup_json json_t *recs = NULL;
	cleanup_json json_t *blobs = json_object(), *snaps = json_object();
	int r = store_load_records(s, &recs, err);
	if (r < 0)
		goto out;
	const char *k;
	json_t *v;
	json_object_foreach(recs, k, v)
	{
		json_object_set_new(blobs, k, json_true());
		const char *m = json_string_value(json_object_get(v, "manifest"));
		const char *ix = json_string_value(json_object_get(v, "index"));
		if (m)
			json_object_set_new(blobs, m, json_true());
		if (ix)
			json_object_set_new(blobs, ix, json_true());
		add_refs(blobs, json_object_get(v, "layers"));
		add_refs(snaps, json_object_get(v, "chainIds"));
	}
	add_rootfs_refs(s, snaps);
	unsigned removed_blobs, removed_snaps = 0;

	/* Blobs no image references */
	removed_blobs = unlink_entries(s->root_fd, "blobs/sha256", blobs);
	/* Nobody is pulling (gc.lock is exclusive): every ingest file is stale. */
	unlink_entries(s->root_fd, "ingest", NULL);
	/* Snapshots and their short links */
	{
		cleanup_close int dfd =
			openat(s->root_fd, "snapshots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		if (d) {
			dfd = -1;
			struct dirent *de;
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.')
					continue;
				char dg[80];
				snprintf(dg, sizeof(dg), "sha256:%.64s", de->d_name);
				/* Unfinished unpacks ("tmp-...") are dropped too. */
				if (strlen(de->d_name) == 64 && json_object_get(snaps, dg))
					continue;
				if (strlen(de->d_name) == 64) {
					char shortn[27], lrel[40];
					snapshot_short_name(dg, shortn);
					snprintf(lrel, sizeof(lrel), "l/%s", shortn);
					unlinkat(s->root_fd, lrel, 0);
				}
				cleanup_free char *p = xasprintf("%s/snapshots/%s", s->root, de->d_name);
				ndl_error_t e2 = NDL_ERROR_INIT;
				if (ndl_rm_rf(p, &e2) == 0)
					removed_snaps++;
				else
					log_debug(1, "gc: remove snapshot failed", "path=%s err=\"%s\"", p,
						  ndl_error_msg(&e2));
				ndl_error_clear(&e2);
			}
			closedir(d);
		}
	}
	/* Lock files: only pulls, imports and unpacks open them, and they all
	 * hold gc.lock shared, so none is in use now. */
	unlink_entries(s->root_fd, "locks", NULL);
	log_debug(1, "gc done", "blobs_removed=%u snapshots_removed=%u", removed_blobs, removed_snaps);
out:
	store_unlock(lk);
	store_unlock(gl);
	return r;
}

/* ---- usage ---- */

static void walk_usage(int dirfd, uint64_t *bytes, uint64_t *inodes, int depth)
{
	if (depth > 512)
		return;
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*bytes += (uint64_t)st.st_blocks * 512;
		*inodes += 1;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub >= 0) {
				struct stat pst;
				/* Do not cross into mounts (container roots). */
				if (fstat(sub, &pst) == 0 && pst.st_dev == st.st_dev)
					walk_usage(sub, bytes, inodes, depth + 1);
				else
					close(sub);
			}
		}
	}
	closedir(d);
}

int images_usage(struct image_store *s, struct images_usage *ret, ndl_error_t *err)
{
	uint64_t bytes = 0, inodes = 0;
	static const char *const dirs[] = {"blobs", "snapshots"};
	for (size_t i = 0; i < 2; i++) {
		int fd = openat(s->root_fd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return ndl_error_set(err, errno, "open %s/%s", s->root, dirs[i]);
		walk_usage(fd, &bytes, &inodes, 0);
	}
	ret->used_bytes = bytes;
	ret->inodes_used = inodes;
	ret->mountpoint = xstrdup(s->root);
	return 0;
}
