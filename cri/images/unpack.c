/* Layer unpack: a (tar, tar+gzip, tar+zstd) layer into one overlay layer
 * directory, confined to it. Every path is resolved one component at a time
 * from the layer's directory fd with O_NOFOLLOW, after `..` and absolute
 * names were refused, so no symlink (from this layer or planted by it) can
 * lead a write outside. Two libarchive readers are chained: the outer one
 * decompresses (format "raw"), the inner one parses tar from the outer's
 * output, which lets us hash the uncompressed stream (the diff ID) and
 * watch the expansion ratio against decompression bombs. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* A bomb is a stream that expands absurdly: past BOMB_MIN_BYTES of tar,
 * more than BOMB_RATIO times its compressed size is refused. Real layers
 * compress 2-10x; even text-only layers stay far below this. */
#define BOMB_MIN_BYTES (128ull << 20)
#define BOMB_RATIO 250
/* Small buffers: big ones buy no speed here and cost resident memory. */
#define IOBUF (64 * 1024)

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct unpacker {
	struct archive *outer, *inner;
	EVP_MD_CTX *md;
	uint64_t tar_bytes;  /* uncompressed stream read so far */
	uint64_t file_bytes; /* file content written */
	uint64_t entries;
	const struct unpack_limits *lim;
	int rootfd;
	json_t *implicit; /* parent dirs created without a tar entry */
	char *cache_path; /* the last parent directory resolved, and its fd */
	int cache_fd;
	struct dir_time *dirs; /* times applied at the end: children change them */
	size_t n_dirs, cap_dirs;
	char *limit_msg; /* set by the read callback when a limit trips */
	unsigned char buf[IOBUF];
};

/* Every uncompressed byte passes here: hash it, and stop bombs (also ones
 * hidden after the end-of-archive marker, which must still be hashed). */
static int account(struct unpacker *u, size_t n)
{
	EVP_DigestUpdate(u->md, u->buf, n);
	u->tar_bytes += (uint64_t)n;
	int64_t comp = archive_filter_bytes(u->outer, -1);
	if (u->tar_bytes > BOMB_MIN_BYTES && comp > 0 && u->tar_bytes / (uint64_t)comp > BOMB_RATIO) {
		free(u->limit_msg);
		u->limit_msg = xasprintf("decompression bomb: %llu bytes from %lld compressed (ratio over %d)",
					 (unsigned long long)u->tar_bytes, (long long)comp, BOMB_RATIO);
		return -1;
	}
	/* Headers and padding add a little to the content limit. */
	if (u->tar_bytes > u->lim->max_bytes + u->lim->max_bytes / 8 + (64u << 20)) {
		free(u->limit_msg);
		u->limit_msg = xasprintf("layer stream larger than the limit of %llu bytes",
					 (unsigned long long)u->lim->max_bytes);
		return -1;
	}
	return 0;
}

static la_ssize_t inner_read(struct archive *a, void *data, const void **buf)
{
	struct unpacker *u = data;
	la_ssize_t n = archive_read_data(u->outer, u->buf, sizeof(u->buf));
	if (n < 0) {
		archive_set_error(a, EIO, "decompress: %s", archive_error_string(u->outer));
		return -1;
	}
	if (account(u, (size_t)n) < 0) {
		archive_set_error(a, EFBIG, "%s", u->limit_msg);
		return -1;
	}
	*buf = u->buf;
	return n;
}

/* Split a tar entry name into clean components. Refuses absolute names and
 * `..`; drops "." and empty components. Returns the count (0 = the root). */
static int split_path(const char *name, char *work, char **comps, int max, ndl_error_t *err)
{
	if (name[0] == '/')
		return ndl_error_setf(err, EPERM, "entry \"%s\": absolute path", name);
	int n = 0;
	char *save = NULL;
	for (char *c = strtok_r(work, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0)
			return ndl_error_setf(err, EPERM, "entry \"%s\": path contains \"..\"", name);
		if (n >= max)
			return ndl_error_setf(err, ENAMETOOLONG, "entry \"%s\": too deep", name);
		if (strlen(c) > NAME_MAX)
			return ndl_error_setf(err, ENAMETOOLONG, "entry \"%s\": name too long", name);
		comps[n++] = c;
	}
	return n;
}

#define MAX_DEPTH 256

static char *join_comps(char **comps, int n)
{
	size_t cap = 1;
	for (int i = 0; i < n; i++)
		cap += strlen(comps[i]) + 1;
	char *p = xmalloc(cap);
	size_t off = 0;
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(p + off, cap - off, "%s%s", i ? "/" : "", comps[i]);
	p[off] = '\0';
	return p;
}

/* Open (creating as directories) comps[0..n) under the layer root without
 * following any symlink. The fd is cached: don't close it. */
static int open_parent(struct unpacker *u, const char *entry, char **comps, int n, bool create,
		       ndl_error_t *err)
{
	if (n == 0)
		return u->rootfd;
	char key[PATH_MAX] = "";
	size_t off = 0;
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(key + off, sizeof(key) - off, "%s/", comps[i]);
	if (off >= sizeof(key))
		return ndl_error_setf(err, ENAMETOOLONG, "entry \"%s\": path too long", entry);
	if (u->cache_path && strcmp(u->cache_path, key) == 0)
		return u->cache_fd;
	int cur = u->rootfd;
	for (int i = 0; i < n; i++) {
		int fd = openat(cur, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comps[i], 0755) < 0 && errno != EEXIST) {
				int e = errno;
				if (cur != u->rootfd)
					close(cur);
				return ndl_error_set(err, e, "entry \"%s\": create parent \"%s\"", entry,
						     comps[i]);
			}
			fd = openat(cur, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* Not in the tar: its metadata comes from the layers
			 * below, once they are known (layer_fix_parents). */
			if (fd >= 0) {
				char *ikey = join_comps(comps, i + 1);
				json_object_set_new(u->implicit, ikey, json_true());
				free(ikey);
			}
		}
		int e = errno;
		if (cur != u->rootfd)
			close(cur);
		if (fd < 0) {
			if (e == ELOOP || e == ENOTDIR)
				return ndl_error_setf(err, EPERM,
						      "entry \"%s\": path goes through a symlink or non-directory \"%s\"",
						      entry, comps[i]);
			return ndl_error_set(err, e, "entry \"%s\": open parent \"%s\"", entry, comps[i]);
		}
		cur = fd;
	}
	if (u->cache_path && u->cache_fd >= 0)
		close(u->cache_fd);
	free(u->cache_path);
	u->cache_path = xstrdup(key);
	u->cache_fd = cur;
	return cur;
}

static void invalidate_cache(struct unpacker *u)
{
	if (u->cache_path) {
		close(u->cache_fd);
		free(u->cache_path);
		u->cache_path = NULL;
		u->cache_fd = -1;
	}
}

static int rm_rf_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth > MAX_DEPTH)
		return -ELOOP;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf_at(fd, de->d_name, depth + 1);
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
}

/* Later entries replace earlier ones, except a directory over a directory. */
static int clear_target(struct unpacker *u, int pfd, const char *name, bool new_is_dir)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (new_is_dir && S_ISDIR(st.st_mode))
		return 0;
	invalidate_cache(u); /* the cached fd might be inside what goes */
	return rm_rf_at(pfd, name, 0);
}

static void apply_xattrs(struct archive_entry *e, int fd, const char *entry)
{
	const char *name;
	const void *val;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		if (fsetxattr(fd, name, val, size, 0) < 0)
			log_debug(2, "unpack: xattr not set", "entry=%s xattr=%s errno=%d", entry, name,
				  errno);
	}
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

static int write_file(struct unpacker *u, struct archive_entry *e, int pfd, const char *name,
		      const char *entry, ndl_error_t *err)
{
	cleanup_close int fd =
		openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ndl_error_set(err, errno, "entry \"%s\": create", entry);
	const void *buf;
	size_t size;
	la_int64_t offset;
	int64_t end = 0;
	for (;;) {
		int r = archive_read_data_block(u->inner, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			if (u->limit_msg)
				return ndl_error_setf(err, EFBIG, "entry \"%s\": %s", entry, u->limit_msg);
			return ndl_error_setf(err, EIO, "entry \"%s\": read: %s", entry,
					      archive_error_string(u->inner));
		}
		u->file_bytes += size;
		if (u->file_bytes > u->lim->max_bytes)
			return ndl_error_setf(err, EFBIG,
					      "entry \"%s\": layer larger than the limit of %llu bytes",
					      entry, (unsigned long long)u->lim->max_bytes);
		/* Sparse files: holes are skipped by seeking. */
		const char *p = buf;
		size_t left = size;
		while (left > 0) {
			ssize_t w = pwrite(fd, p, left, offset);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return ndl_error_set(err, errno, "entry \"%s\": write", entry);
			}
			p += w;
			left -= (size_t)w;
			offset += w;
		}
		if (offset > end)
			end = offset;
	}
	int64_t want = archive_entry_size(e);
	if (want > end && ftruncate(fd, want) < 0)
		return ndl_error_set(err, errno, "entry \"%s\": truncate", entry);
	if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return ndl_error_set(err, errno, "entry \"%s\": chown", entry);
	/* After chown, which clears set-id bits. */
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return ndl_error_set(err, errno, "entry \"%s\": chmod", entry);
	apply_xattrs(e, fd, entry);
	struct timespec ts[2];
	entry_times(e, ts);
	futimens(fd, ts);
	return 0;
}

static int do_entry(struct unpacker *u, struct archive_entry *e, ndl_error_t *err)
{
	const char *entry = archive_entry_pathname(e);
	if (!entry)
		return ndl_error_setf(err, EINVAL, "entry without a name");
	if (++u->entries > u->lim->max_entries)
		return ndl_error_setf(err, EFBIG, "entry \"%s\": more than %llu entries", entry,
				      (unsigned long long)u->lim->max_entries);
	cleanup_free char *work = xstrdup(entry);
	char *comps[MAX_DEPTH];
	int n = split_path(entry, work, comps, MAX_DEPTH, err);
	if (n < 0)
		return n;
	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	if (n == 0) {
		/* The layer root itself: keep owner and mode, as runc/umoci do. */
		if (type == AE_IFDIR) {
			if (fchown(u->rootfd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
			    fchmod(u->rootfd, archive_entry_perm(e) & 07777) < 0)
				return ndl_error_set(err, errno, "entry \"%s\": root metadata", entry);
			return 0;
		}
		return ndl_error_setf(err, EPERM, "entry \"%s\": not a directory at the layer root", entry);
	}
	const char *name = comps[n - 1];

	/* Whiteouts (OCI image spec, layer.md). */
	if (strncmp(name, ".wh.", 4) == 0) {
		int pfd = open_parent(u, entry, comps, n - 1, true, err);
		if (pfd < 0)
			return pfd;
		if (strcmp(name, ".wh..wh..opq") == 0) {
			if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
				return ndl_error_set(err, errno, "entry \"%s\": set opaque xattr", entry);
			return 0;
		}
		if (strncmp(name, ".wh..wh.", 8) == 0)
			return 0; /* aufs bookkeeping (.wh..wh.plnk etc.): not content */
		const char *target = name + 4;
		if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0 || strchr(target, '/'))
			return ndl_error_setf(err, EPERM, "entry \"%s\": invalid whiteout", entry);
		if (clear_target(u, pfd, target, false) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": replace", entry);
		pfd = open_parent(u, entry, comps, n - 1, true, err);
		if (pfd < 0)
			return pfd;
		if (mknodat(pfd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": create whiteout", entry);
		return 0;
	}

	int pfd = open_parent(u, entry, comps, n - 1, true, err);
	if (pfd < 0)
		return pfd;
	bool is_dir = !hardlink && type == AE_IFDIR;
	if (clear_target(u, pfd, name, is_dir) < 0)
		return ndl_error_set(err, errno, "entry \"%s\": replace existing", entry);
	pfd = open_parent(u, entry, comps, n - 1, true, err);
	if (pfd < 0)
		return pfd;

	if (hardlink) {
		cleanup_free char *twork = xstrdup(hardlink);
		char *tcomps[MAX_DEPTH];
		int tn = split_path(hardlink, twork, tcomps, MAX_DEPTH, err);
		if (tn < 0)
			return ndl_error_wrap(err, "entry \"%s\": hardlink target", entry);
		if (tn == 0)
			return ndl_error_setf(err, EPERM, "entry \"%s\": hardlink to the layer root", entry);
		/* The target's parent must itself be inside, without symlinks. */
		cleanup_free char *key = u->cache_path ? xstrdup(u->cache_path) : NULL;
		int tpfd = open_parent(u, entry, tcomps, tn - 1, false, err);
		if (tpfd < 0)
			return ndl_error_wrap(err, "hardlink target \"%s\"", hardlink);
		struct stat st;
		if (fstatat(tpfd, tcomps[tn - 1], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": hardlink target \"%s\"", entry,
					     hardlink);
		if (S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			return ndl_error_setf(err, EPERM,
					      "entry \"%s\": hardlink to a directory or device \"%s\"",
					      entry, hardlink);
		cleanup_close int tdup = fcntl(tpfd, F_DUPFD_CLOEXEC, 0);
		pfd = open_parent(u, entry, comps, n - 1, true, err);
		if (pfd < 0)
			return pfd;
		if (linkat(tdup, tcomps[tn - 1], pfd, name, 0) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": link to \"%s\"", entry, hardlink);
		return 0;
	}

	switch (type) {
	case AE_IFREG:
		return write_file(u, e, pfd, name, entry, err);
	case AE_IFDIR: {
		{
			char *key = join_comps(comps, n);
			json_object_del(u->implicit, key);
			free(key);
		}
		if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
			return ndl_error_set(err, errno, "entry \"%s\": mkdir", entry);
		cleanup_close int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return ndl_error_set(err, errno, "entry \"%s\": open", entry);
		if (fchown(dfd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
		    fchmod(dfd, archive_entry_perm(e) & 07777) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": set owner/mode", entry);
		apply_xattrs(e, dfd, entry);
		if (u->n_dirs == u->cap_dirs) {
			u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 64;
			u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
		}
		struct dir_time *dt = &u->dirs[u->n_dirs++];
		dt->path = xstrdup(entry);
		entry_times(e, dt->ts);
		return 0;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target)
			return ndl_error_setf(err, EINVAL, "entry \"%s\": symlink without target", entry);
		/* Any target is fine to create: we never follow links while
		 * unpacking, and the container resolves them in its own root. */
		if (symlinkat(target, pfd, name) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": symlink", entry);
		if (fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
			     AT_SYMLINK_NOFOLLOW) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": chown", entry);
		struct timespec ts[2];
		entry_times(e, ts);
		utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	case AE_IFIFO: {
		if (mkfifoat(pfd, name, archive_entry_perm(e) & 0777) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": mkfifo", entry);
		if (fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0) < 0)
			return ndl_error_set(err, errno, "entry \"%s\": set owner/mode", entry);
		struct timespec ts[2];
		entry_times(e, ts);
		utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	case AE_IFCHR:
	case AE_IFBLK:
		return ndl_error_setf(err, EPERM,
				      "entry \"%s\": device nodes are not allowed in image layers", entry);
	case AE_IFSOCK:
		return 0; /* sockets are meaningless in an archive */
	default:
		return ndl_error_setf(err, EINVAL, "entry \"%s\": unknown file type 0%o", entry,
				      (unsigned)type);
	}
}

static void finish_dirs(struct unpacker *u)
{
	/* Deepest last-seen first would not matter: setting a directory's
	 * times does not change its parent's. */
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_time *dt = &u->dirs[i];
		cleanup_free char *work = xstrdup(dt->path);
		char *comps[MAX_DEPTH];
		int n = split_path(dt->path, work, comps, MAX_DEPTH, NULL);
		if (n <= 0)
			continue;
		int pfd = open_parent(u, dt->path, comps, n - 1, false, NULL);
		if (pfd < 0)
			continue;
		utimensat(pfd, comps[n - 1], dt->ts, AT_SYMLINK_NOFOLLOW);
	}
}

int layer_unpack_fd_digest(int fd, int dirfd, const struct unpack_limits *lim, char **ret_diff_id,
			   char ***ret_implicit_dirs, ndl_error_t *err)
{
	struct unpacker *u = xcalloc(1, sizeof(*u));
	u->lim = lim;
	u->implicit = json_object();
	u->rootfd = dirfd;
	u->cache_fd = -1;
	u->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(u->md, EVP_sha256(), NULL);
	int r = 0;

	u->outer = archive_read_new();
	archive_read_support_filter_gzip(u->outer);
	archive_read_support_filter_zstd(u->outer);
	archive_read_support_filter_none(u->outer);
	archive_read_support_format_raw(u->outer);
	u->inner = archive_read_new();
	archive_read_support_format_tar(u->inner);
	struct archive_entry *e;
	if (archive_read_open_fd(u->outer, fd, IOBUF) != ARCHIVE_OK ||
	    archive_read_next_header(u->outer, &e) != ARCHIVE_OK) {
		r = ndl_error_setf(err, EINVAL, "layer: %s", archive_error_string(u->outer));
		goto out;
	}
	if (archive_read_open(u->inner, u, NULL, inner_read, NULL) != ARCHIVE_OK) {
		r = ndl_error_setf(err, EINVAL, "layer: %s",
				   u->limit_msg ? u->limit_msg : archive_error_string(u->inner));
		goto out;
	}
	for (;;) {
		int ar = archive_read_next_header(u->inner, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = ndl_error_setf(err, u->limit_msg ? EFBIG : EINVAL, "layer: %s",
					   u->limit_msg ? u->limit_msg : archive_error_string(u->inner));
			goto out;
		}
		r = do_entry(u, e, err);
		if (r < 0)
			goto out;
	}
	/* The rest of the stream (tar padding) still counts for the diff ID. */
	for (;;) {
		la_ssize_t n = archive_read_data(u->outer, u->buf, sizeof(u->buf));
		if (n < 0) {
			r = ndl_error_setf(err, EIO, "layer: %s", archive_error_string(u->outer));
			goto out;
		}
		if (n == 0)
			break;
		if (account(u, (size_t)n) < 0) {
			r = ndl_error_setf(err, EFBIG, "layer: after the end of the archive: %s", u->limit_msg);
			goto out;
		}
	}
	finish_dirs(u);
	if (ret_diff_id) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		EVP_DigestFinal_ex(u->md, md, &mdlen);
		char *hex = xmalloc(7 + 2 * mdlen + 1);
		memcpy(hex, "sha256:", 7);
		for (unsigned i = 0; i < mdlen; i++)
			sprintf(hex + 7 + 2 * i, "%02x", md[i]);
		*ret_diff_id = hex;
	}
	if (ret_implicit_dirs) {
		char **v = xcalloc(json_object_size(u->implicit) + 1, sizeof(char *));
		size_t k = 0;
		const char *key;
		json_t *val;
		json_object_foreach(u->implicit, key, val) v[k++] = xstrdup(key);
		*ret_implicit_dirs = v;
	}
out:
	json_decref(u->implicit);
	invalidate_cache(u);
	archive_read_free(u->inner);
	archive_read_free(u->outer);
	EVP_MD_CTX_free(u->md);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	free(u->limit_msg);
	free(u);
	return r;
}

int layer_unpack_fd(int fd, int dirfd, const struct unpack_limits *lim, ndl_error_t *err)
{
	return layer_unpack_fd_digest(fd, dirfd, lim, NULL, NULL, err);
}

/* Give each directory the tar did not list (created as a parent) the owner,
 * mode, xattrs and times the same directory has in the layers below, as
 * containerd does: overlayfs shows the top-most directory's metadata, so
 * this keeps the merged view equal to a flattened unpack. */
void layer_fix_parents(int dirfd, char *const *dirs, const int *lowers, size_t n_lowers)
{
	for (size_t d = 0; dirs && dirs[d]; d++) {
		int mine = openat(dirfd, dirs[d], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (mine < 0)
			continue;
		for (size_t l = 0; l < n_lowers; l++) {
			/* Resolve without symlinks: the path may not escape either. */
			cleanup_free char *work = xstrdup(dirs[d]);
			char *comps[MAX_DEPTH];
			int n = split_path(dirs[d], work, comps, MAX_DEPTH, NULL);
			int cur = lowers[l];
			bool ok = n > 0;
			for (int i = 0; i < n && ok; i++) {
				int fd = openat(cur, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (cur != lowers[l])
					close(cur);
				cur = fd;
				ok = fd >= 0;
			}
			if (!ok)
				continue;
			struct stat st;
			if (fstat(cur, &st) == 0) {
				if (fchown(mine, st.st_uid, st.st_gid) < 0 || fchmod(mine, st.st_mode & 07777) < 0)
					log_debug(2, "unpack: parent metadata not copied", "dir=%s errno=%d",
						  dirs[d], errno);
				char names[4096];
				ssize_t ln = flistxattr(cur, names, sizeof(names));
				for (ssize_t off = 0; ln > 0 && off < ln; off += (ssize_t)strlen(names + off) + 1) {
					char val[4096];
					ssize_t vn = fgetxattr(cur, names + off, val, sizeof(val));
					if (vn >= 0 && strcmp(names + off, "trusted.overlay.opaque") != 0)
						fsetxattr(mine, names + off, val, (size_t)vn, 0);
				}
				struct timespec ts[2] = {st.st_atim, st.st_mtim};
				futimens(mine, ts);
			}
			close(cur);
			break;
		}
		close(mine);
	}
}
