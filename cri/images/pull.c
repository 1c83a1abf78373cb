/* Getting images into the store: pull from a registry, import an OCI layout
 * (directory or tar) or a `docker save` archive, preload a directory. Both
 * paths end in image_finish(): config -> diff IDs -> chain IDs -> snapshots
 * -> image record. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* All blobs of the image are in the store: unpack and record it. */
static int image_finish(struct image_store *s, const char *name, const char *tag,
			const char *index_digest, const char *manifest_digest,
			const struct manifest *m, uint64_t manifest_len, snapshot_fetch_fn fetch,
			void *fetch_arg, char **ret_id, ndl_error_t *err)
{
	cleanup_free char *cfg = NULL;
	size_t cfg_len = 0;
	if (store_read_blob(s, m->config.digest, IMAGES_MAX_CONFIG, &cfg, &cfg_len, err) < 0)
		return ndl_error_wrap(err, "image config");
	struct image_config ic = {0};
	char **diff = NULL;
	if (image_config_parse(cfg, cfg_len, &ic, &diff, err) < 0)
		return -abs(err->code);
	image_config_free(&ic);
	int r = 0;
	char **chains = NULL, **layers = NULL;
	size_t n = strv_len(diff);
	if (n != m->n_layers) {
		r = ndl_error_setf(err, EINVAL,
				   "image config has %zu diff_ids but the manifest has %zu layers", n,
				   m->n_layers);
		goto out;
	}
	chains = chain_ids_compute(diff, n);
	layers = xcalloc(n + 1, sizeof(char *));
	uint64_t size = (uint64_t)m->config.size + manifest_len;
	for (size_t i = 0; i < n; i++) {
		layers[i] = xstrdup(m->layers[i].digest);
		size += (uint64_t)m->layers[i].size;
	}
	if ((r = snapshots_ensure(s, layers, diff, chains, n, fetch, fetch_arg, err)) < 0)
		goto out;
	struct image_record_in in = {
		.id = m->config.digest,
		.manifest_digest = manifest_digest,
		.index_digest = index_digest,
		.name = name,
		.tag = tag,
		.layers = layers,
		.chain_ids = chains,
		.n_layers = n,
		.size = size,
	};
	if ((r = store_record_image(s, &in, err)) < 0)
		goto out;
	if (ret_id)
		*ret_id = xstrdup(m->config.digest);
out:
	strv_free(diff);
	strv_free(chains);
	strv_free(layers);
	return r;
}

struct pull_fetch {
	struct registry_client *c;
	const struct manifest *m;
};

static int pull_fetch_layer(void *arg, size_t i, ndl_error_t *err)
{
	struct pull_fetch *pf = arg;
	return registry_fetch_blob(pf->c, &pf->m->layers[i], err);
}

int images_pull(struct image_store *s, const char *refstr, const struct image_auth *auth,
		char **ret_id, ndl_error_t *err)
{
	struct image_ref ref = {0};
	if (image_ref_parse(refstr, &ref, err) < 0)
		return -abs(err->code);
	cleanup_free char *name = image_ref_name(&ref);
	/* Held shared for the whole pull: GC (exclusive) waits for us. */
	int gl = store_lock(s, "gc.lock", LOCK_SH, err);
	if (gl < 0) {
		image_ref_free(&ref);
		return gl;
	}
	struct registry_client *c = NULL;
	struct manifest m = {0}, idx = {0};
	cleanup_free char *body = NULL, *ctype = NULL, *dg = NULL, *index_digest = NULL;
	size_t len = 0;
	int r = registry_client_new(s, &ref, auth, &c, err);
	if (r < 0)
		goto out;
	if ((r = registry_get_manifest(c, ref.digest ? ref.digest : ref.tag, &body, &len, &ctype, &dg,
				       err)) < 0)
		goto out;
	if ((r = manifest_parse(body, len, ctype, &m, err)) < 0)
		goto out;
	if ((r = store_put_blob(s, body, len, dg, NULL, err)) < 0)
		goto out;
	if (m.kind == MANIFEST_INDEX) {
		struct platform p;
		platform_host(&p);
		const struct descriptor *pick;
		if ((r = manifest_select_platform(&m, &p, &pick, err)) < 0)
			goto out;
		idx = m;
		memset(&m, 0, sizeof(m));
		index_digest = steal_ptr(&dg);
		cleanup_free char *want = xstrdup(pick->digest);
		free(body);
		free(ctype);
		body = ctype = NULL;
		if ((r = registry_get_manifest(c, want, &body, &len, &ctype, &dg, err)) < 0)
			goto out;
		if ((r = manifest_parse(body, len, ctype, &m, err)) < 0)
			goto out;
		if (m.kind != MANIFEST_IMAGE) {
			r = ndl_error_setf(err, EINVAL, "manifest %s: nested index is not supported", want);
			goto out;
		}
		if ((r = store_put_blob(s, body, len, dg, NULL, err)) < 0)
			goto out;
	}
	if ((r = registry_fetch_blob(c, &m.config, err)) < 0)
		goto out;
	/* Layers: downloaded and unpacked by the same workers, overlapping. */
	struct pull_fetch pf = {c, &m};
	r = image_finish(s, name, ref.tag, index_digest, dg, &m, len, pull_fetch_layer, &pf, ret_id, err);
out:
	if (r < 0)
		ndl_error_wrap(err, "pull %s", refstr);
	manifest_clear(&m);
	manifest_clear(&idx);
	registry_client_free(c);
	store_unlock(gl);
	image_ref_free(&ref);
	return r;
}

/* ---- import ---- */

/* Where an import reads blobs from. */
struct source {
	int dirfd;         /* OCI layout directory, or -1 */
	json_t *tar_blobs; /* tar: member name -> digest already in the store */
};

static int copy_fd_to_store(struct image_store *s, int fd, const char *expect, char **ret,
			    ndl_error_t *err)
{
	struct blob_writer w;
	if (blob_writer_open(s, expect, -1, &w, err) < 0)
		return -abs(err->code);
	cleanup_free char *buf = xmalloc(1 << 16);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			blob_writer_abort(&w);
			return ndl_error_set(err, e, "read");
		}
		if (n == 0)
			break;
		if (blob_writer_write(&w, buf, (size_t)n, err) < 0) {
			blob_writer_abort(&w);
			return -abs(err->code);
		}
	}
	return blob_writer_commit(&w, ret, err);
}

/* Make sure digest is in the store (copying it from a layout dir). */
static int source_blob(struct image_store *s, struct source *src, const char *digest,
		       ndl_error_t *err)
{
	if (store_has_blob(s, digest))
		return 0;
	if (src->dirfd < 0)
		return ndl_error_setf(err, ENOENT, "blob %s: missing from the archive", digest);
	char rel[96];
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
	cleanup_close int fd = openat(src->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ndl_error_set(err, errno, "blob %s", digest);
	if (copy_fd_to_store(s, fd, digest, NULL, err) < 0)
		return ndl_error_wrap(err, "blob %s", digest);
	return 0;
}

static int import_manifest(struct image_store *s, struct source *src, const char *digest,
			   const char *name, const char *tag, char ***ids, size_t *n_ids,
			   ndl_error_t *err)
{
	cleanup_free char *body = NULL;
	size_t len = 0;
	struct manifest m = {0};
	cleanup_free char *index_digest = NULL, *mdg = xstrdup(digest);
	if (source_blob(s, src, digest, err) < 0 ||
	    store_read_blob(s, digest, IMAGES_MAX_MANIFEST, &body, &len, err) < 0 ||
	    manifest_parse(body, len, NULL, &m, err) < 0)
		return -abs(err->code);
	if (m.kind == MANIFEST_INDEX) {
		struct platform p;
		platform_host(&p);
		const struct descriptor *pick;
		if (manifest_select_platform(&m, &p, &pick, err) < 0) {
			manifest_clear(&m);
			return -abs(err->code);
		}
		index_digest = steal_ptr(&mdg);
		mdg = xstrdup(pick->digest);
		manifest_clear(&m);
		free(body);
		body = NULL;
		if (source_blob(s, src, mdg, err) < 0 ||
		    store_read_blob(s, mdg, IMAGES_MAX_MANIFEST, &body, &len, err) < 0 ||
		    manifest_parse(body, len, NULL, &m, err) < 0)
			return -abs(err->code);
		if (m.kind != MANIFEST_IMAGE) {
			manifest_clear(&m);
			return ndl_error_setf(err, EINVAL, "manifest %s: nested index", mdg);
		}
	}
	int r = source_blob(s, src, m.config.digest, err);
	for (size_t i = 0; r == 0 && i < m.n_layers; i++)
		r = source_blob(s, src, m.layers[i].digest, err);
	char *id = NULL;
	if (r == 0)
		r = image_finish(s, name, tag, index_digest, mdg, &m, len, NULL, NULL, &id, err);
	manifest_clear(&m);
	if (r == 0) {
		*ids = xrealloc(*ids, (*n_ids + 2) * sizeof(char *));
		(*ids)[(*n_ids)++] = id;
		(*ids)[*n_ids] = NULL;
	}
	return r;
}

/* Name for an index.json entry: containerd's full-name annotation, else the
 * OCI ref.name when it is a full reference, else tag_as. */
static int entry_name(const json_t *desc, const char *tag_as, char **ret_name, char **ret_tag,
		      ndl_error_t *err)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	const char *refname = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
	const char *use = tag_as;
	if (!use && full)
		use = full;
	if (!use && refname && (strchr(refname, '/') || strchr(refname, '.')))
		use = refname;
	*ret_name = *ret_tag = NULL;
	if (!use)
		return 0;
	struct image_ref ref = {0};
	if (image_ref_parse(use, &ref, err) < 0)
		return ndl_error_wrap(err, "image name");
	*ret_name = image_ref_name(&ref);
	*ret_tag = ref.tag ? xstrdup(ref.tag) : NULL;
	image_ref_free(&ref);
	return 0;
}

static int import_oci_index(struct image_store *s, struct source *src, const char *idx_buf,
			    size_t idx_len, const char *tag_as, char ***ids, size_t *n_ids,
			    ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (ndl_json_parse(idx_buf, idx_len, &j, err) < 0)
		return ndl_error_wrap(err, "index.json");
	json_t *mans = NULL;
	if (ndl_json_get_array(j, "", "manifests", true, &mans, err) < 0)
		return ndl_error_wrap(err, "index.json");
	size_t i;
	json_t *d;
	json_array_foreach(mans, i, d)
	{
		const char *dg = NULL;
		char where[48];
		snprintf(where, sizeof(where), "manifests[%zu]", i);
		if (ndl_json_get_string(d, where, "digest", true, &dg, err) < 0)
			return ndl_error_wrap(err, "index.json");
		if (!digest_valid(dg))
			return ndl_error_setf(err, EINVAL, "index.json: field \"%s.digest\": invalid \"%s\"",
					      where, dg);
		cleanup_free char *name = NULL, *tag = NULL;
		if (entry_name(d, json_array_size(mans) == 1 ? tag_as : NULL, &name, &tag, err) < 0)
			return -abs(err->code);
		if (import_manifest(s, src, dg, name, tag, ids, n_ids, err) < 0)
			return ndl_error_wrap(err, "index.json %s", where);
	}
	return 0;
}

/* docker save: manifest.json lists Config, RepoTags and Layers (member
 * names). We write a Docker v2 manifest for it so the image looks pulled. */
static int import_docker_save(struct image_store *s, struct source *src, const char *buf,
			      size_t len, const char *tag_as, char ***ids, size_t *n_ids,
			      ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (ndl_json_parse(buf, len, &j, err) < 0)
		return ndl_error_wrap(err, "manifest.json");
	if (!json_is_array(j))
		return ndl_error_setf(err, EINVAL, "manifest.json: expected array");
	size_t i;
	json_t *ent;
	json_array_foreach(j, i, ent)
	{
		char where[48];
		snprintf(where, sizeof(where), "[%zu]", i);
		const char *cfgname = NULL;
		json_t *layers = NULL, *tags = NULL;
		if (ndl_json_get_string(ent, where, "Config", true, &cfgname, err) < 0 ||
		    ndl_json_get_array(ent, where, "Layers", true, &layers, err) < 0 ||
		    ndl_json_get_array(ent, where, "RepoTags", false, &tags, err) < 0)
			return ndl_error_wrap(err, "manifest.json");
		const char *cfgdg = json_string_value(json_object_get(src->tar_blobs, cfgname));
		if (!cfgdg)
			return ndl_error_setf(err, ENOENT, "manifest.json%s: member \"%s\" not in archive",
					      where, cfgname);
		struct stat st;
		cleanup_free char *cp = store_blob_path(s, cfgdg);
		if (stat(cp, &st) < 0)
			return ndl_error_set(err, errno, "%s", cp);
		json_t *man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I}}", "schemaVersion", 2, "mediaType",
					MT_DOCKER_MANIFEST, "config", "mediaType", MT_DOCKER_CONFIG,
					"digest", cfgdg, "size", (json_int_t)st.st_size);
		json_t *ls = json_array();
		json_object_set_new(man, "layers", ls);
		size_t k;
		json_t *ln;
		json_array_foreach(layers, k, ln)
		{
			const char *ld = json_string_value(json_object_get(src->tar_blobs, json_string_value(ln) ?: ""));
			if (!ld) {
				json_decref(man);
				return ndl_error_setf(err, ENOENT,
						      "manifest.json%s: layer member \"%s\" not in archive",
						      where, json_string_value(ln) ?: "?");
			}
			cleanup_free char *lp = store_blob_path(s, ld);
			if (stat(lp, &st) < 0) {
				json_decref(man);
				return ndl_error_set(err, errno, "%s", lp);
			}
			json_array_append_new(ls, json_pack("{s:s,s:s,s:I}", "mediaType",
							    "application/vnd.docker.image.rootfs.diff.tar",
							    "digest", ld, "size", (json_int_t)st.st_size));
		}
		cleanup_free char *txt = ndl_json_dumps(man, false);
		json_decref(man);
		cleanup_free char *mdg = NULL;
		if (store_put_blob(s, txt, strlen(txt), NULL, &mdg, err) < 0)
			return -abs(err->code);
		size_t nt = json_array_size(tags);
		if (nt == 0 || tag_as) {
			cleanup_free char *name = NULL, *tag = NULL;
			if (tag_as) {
				struct image_ref ref = {0};
				if (image_ref_parse(tag_as, &ref, err) < 0)
					return -abs(err->code);
				name = image_ref_name(&ref);
				tag = ref.tag ? xstrdup(ref.tag) : NULL;
				image_ref_free(&ref);
			}
			if (import_manifest(s, src, mdg, name, tag, ids, n_ids, err) < 0)
				return ndl_error_wrap(err, "manifest.json%s", where);
		}
		for (size_t t = 0; t < nt; t++) {
			const char *rt = json_string_value(json_array_get(tags, t));
			struct image_ref ref = {0};
			if (!rt || image_ref_parse(rt, &ref, err) < 0)
				return ndl_error_wrap(err, "manifest.json%s.RepoTags[%zu]", where, t);
			cleanup_free char *name = image_ref_name(&ref);
			int r = import_manifest(s, src, mdg, name, ref.tag, ids, n_ids, err);
			image_ref_free(&ref);
			if (r < 0)
				return ndl_error_wrap(err, "manifest.json%s", where);
		}
	}
	return 0;
}

/* Stream a tar (possibly compressed) once: every regular member goes into
 * the store (verified against its name when it is blobs/sha256/<hex>), the
 * small JSON indexes are kept in memory. */
static int import_tar(struct image_store *s, const char *path, const char *tag_as, char ***ids,
		      size_t *n_ids, ndl_error_t *err)
{
	struct archive *a = archive_read_new();
	/* The compressions image archives come in (docker save, OCI layout
	 * tars, `ctr export`); naming them keeps the unused decoders (and
	 * their libraries) out of the binary. */
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	cleanup_json json_t *blobs = json_object(), *links = json_object();
	cleanup_free char *index = NULL, *dmanifest = NULL;
	size_t index_len = 0, dmanifest_len = 0;
	int r = 0;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		archive_read_free(a);
		return ndl_error_set(err, errno, "open %s", path);
	}
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		r = ndl_error_setf(err, EINVAL, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	for (;;) {
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = ndl_error_setf(err, EINVAL, "%s: %s", path, archive_error_string(a));
			goto out;
		}
		const char *nm = archive_entry_pathname(e);
		while (nm && strncmp(nm, "./", 2) == 0)
			nm += 2;
		if (!nm)
			continue;
		if (archive_entry_filetype(e) == AE_IFLNK || archive_entry_hardlink(e)) {
			/* docker save links identical layers; resolve after. */
			const char *t = archive_entry_hardlink(e) ? archive_entry_hardlink(e)
								  : archive_entry_symlink(e);
			if (t)
				json_object_set_new(links, nm, json_string(t));
			continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		char **keep = NULL;
		size_t *keep_len = NULL;
		if (strcmp(nm, "index.json") == 0)
			keep = &index, keep_len = &index_len;
		else if (strcmp(nm, "manifest.json") == 0)
			keep = &dmanifest, keep_len = &dmanifest_len;
		if (keep) {
			int64_t sz = archive_entry_size(e);
			if (sz < 0 || sz > (int64_t)IMAGES_MAX_MANIFEST) {
				r = ndl_error_setf(err, EFBIG, "%s: member %s too large", path, nm);
				goto out;
			}
			free(*keep);
			*keep = xmalloc((size_t)sz + 1);
			la_ssize_t got = archive_read_data(a, *keep, (size_t)sz);
			if (got != sz) {
				r = ndl_error_setf(err, EIO, "%s: read %s", path, nm);
				goto out;
			}
			(*keep)[sz] = '\0';
			*keep_len = (size_t)sz;
			continue;
		}
		cleanup_free char *expect = NULL;
		if (strncmp(nm, "blobs/sha256/", 13) == 0) {
			expect = xasprintf("sha256:%s", nm + 13);
			if (!digest_valid(expect)) {
				free(expect);
				expect = NULL;
			}
		}
		struct blob_writer w;
		if ((r = blob_writer_open(s, expect, archive_entry_size(e), &w, err)) < 0)
			goto out;
		cleanup_free char *buf = xmalloc(1 << 16);
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, 1 << 16);
			if (n < 0) {
				blob_writer_abort(&w);
				r = ndl_error_setf(err, EIO, "%s: %s: %s", path, nm, archive_error_string(a));
				goto out;
			}
			if (n == 0)
				break;
			if ((r = blob_writer_write(&w, buf, (size_t)n, err)) < 0) {
				blob_writer_abort(&w);
				goto out;
			}
		}
		char *dg = NULL;
		if ((r = blob_writer_commit(&w, &dg, err)) < 0) {
			ndl_error_wrap(err, "%s: member %s", path, nm);
			goto out;
		}
		json_object_set_new(blobs, nm, json_string(dg));
		free(dg);
	}
	/* Resolve links (relative to the link's directory, as docker writes them). */
	const char *k;
	json_t *v;
	json_object_foreach(links, k, v)
	{
		const char *t = json_string_value(v);
		json_t *hit = json_object_get(blobs, t);
		if (!hit) {
			cleanup_free char *dir = xstrdup(k);
			char *sl = strrchr(dir, '/');
			if (sl)
				*sl = '\0';
			cleanup_free char *joined = sl ? xasprintf("%s/%s", dir, t) : xstrdup(t);
			/* Collapse one "../" level, which is all docker uses. */
			char *p;
			while ((p = strstr(joined, "/../"))) {
				char *q = p;
				while (q > joined && q[-1] != '/')
					q--;
				memmove(q, p + 4, strlen(p + 4) + 1);
			}
			hit = json_object_get(blobs, joined);
		}
		if (hit)
			json_object_set(blobs, k, hit);
	}
	struct source src = {.dirfd = -1, .tar_blobs = blobs};
	if (index && !dmanifest)
		r = import_oci_index(s, &src, index, index_len, tag_as, ids, n_ids, err);
	else if (dmanifest)
		r = import_docker_save(s, &src, dmanifest, dmanifest_len, tag_as, ids, n_ids, err);
	else
		r = ndl_error_setf(err, EINVAL,
				   "%s: neither an OCI image layout (index.json) nor a docker save archive (manifest.json)",
				   path);
out:
	archive_read_free(a);
	return r;
}

int images_import(struct image_store *s, const char *path, const char *tag_as, char ***ret_ids,
		  ndl_error_t *err)
{
	int gl = store_lock(s, "gc.lock", LOCK_SH, err);
	if (gl < 0)
		return gl;
	char **ids = NULL;
	size_t n_ids = 0;
	int r = 0;
	struct stat st;
	if (stat(path, &st) < 0) {
		r = ndl_error_set(err, errno, "%s", path);
	} else if (S_ISDIR(st.st_mode)) {
		cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cleanup_free char *idx = NULL;
		size_t len = 0;
		if (dfd < 0)
			r = ndl_error_set(err, errno, "open %s", path);
		else if (faccessat(dfd, "oci-layout", F_OK, 0) < 0)
			r = ndl_error_setf(err, EINVAL, "%s: not an OCI image layout (no oci-layout file)", path);
		else if ((r = ndl_read_file_at(dfd, "index.json", IMAGES_MAX_MANIFEST, &idx, &len, err)) == 0) {
			struct source src = {.dirfd = dfd};
			r = import_oci_index(s, &src, idx, len, tag_as, &ids, &n_ids, err);
		}
	} else {
		r = import_tar(s, path, tag_as, &ids, &n_ids, err);
	}
	store_unlock(gl);
	if (r == 0 && n_ids == 0)
		r = ndl_error_setf(err, ENOENT, "%s: no images in archive", path);
	if (r < 0) {
		strv_free(ids);
		return ndl_error_wrap(err, "import %s", path);
	}
	if (ret_ids)
		*ret_ids = ids;
	else
		strv_free(ids);
	return 0;
}

int images_preload_dir(struct image_store *s, const char *dir, ndl_error_t *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return ndl_error_set(err, errno, "preload dir %s", dir);
	int r = 0, failures = 0, tried = 0;
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (nm[0] != '.') {
			tried++;
			cleanup_free char *p = xasprintf("%s/%s", dir, nm);
			ndl_error_t e = NDL_ERROR_INIT;
			char **ids = NULL;
			if (images_import(s, p, NULL, &ids, &e) < 0) {
				failures++;
				log_warn("preload: import failed", "path=%s err=\"%s\"", p, ndl_error_msg(&e));
				if (r == 0) {
					r = -abs(e.code ? e.code : EIO);
					ndl_error_clear(err);
					*err = e;
				} else {
					ndl_error_clear(&e);
				}
			} else {
				for (size_t k = 0; ids[k]; k++)
					log_debug(1, "preloaded image", "path=%s id=%s", p, ids[k]);
				strv_free(ids);
			}
		}
		free(names[i]);
	}
	free(names);
	if (failures)
		ndl_error_wrap(err, "preload %s: %d of %d entries failed", dir, failures, tried);
	return r;
}
