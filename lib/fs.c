/* Filesystem helpers. */
#include "fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "xalloc.h"

int ndl_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len, ndl_error_t *err)
{
	size_t cap = max < 4096 ? max : 4096, len = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				/* Full: only an immediate EOF keeps it within the limit. */
				char extra;
				ssize_t n;
				do
					n = read(fd, &extra, 1);
				while (n < 0 && errno == EINTR);
				if (n == 0)
					break;
				free(buf);
				return ndl_error_setf(err, EFBIG, "input larger than %zu bytes", max);
			}
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			return ndl_error_set(err, e, "read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int ndl_read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
		     ndl_error_t *err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	int r = ndl_read_fd(fd, max, ret_buf, ret_len, err);
	if (r < 0)
		return ndl_error_wrap(err, "%s", path);
	return 0;
}

int ndl_write_all(int fd, const void *buf, size_t len, ndl_error_t *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ndl_error_set(err, errno, "write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ndl_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			     mode_t mode, ndl_error_t *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", name, (int)getpid()) >= (int)sizeof(tmp))
		return ndl_error_setf(err, ENAMETOOLONG, "path too long: %s", name);
	cleanup_close int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return ndl_error_set(err, errno, "create %s", tmp);
	int r = ndl_write_all(fd, data, len, err);
	if (r == 0 && fsync(fd) < 0)
		r = ndl_error_set(err, errno, "fsync %s", tmp);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = ndl_error_set(err, errno, "rename %s", tmp);
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return ndl_error_wrap(err, "write %s", name);
	}
	/* Make the rename itself durable. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", name);
	char *slash = strrchr(dir, '/');
	const char *dpath = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
	cleanup_close int dfd = openat(dirfd, dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

int ndl_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  ndl_error_t *err)
{
	return ndl_write_file_atomic_at(AT_FDCWD, path, data, len, mode, err);
}

int ndl_write_file_str(const char *path, const char *s, ndl_error_t *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	size_t len = strlen(s);
	for (;;) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ndl_error_set(err, errno, "write %s", path);
		if ((size_t)n != len)
			return ndl_error_setf(err, EIO, "short write to %s", path);
		return 0;
	}
}

int ndl_mkdir_p(const char *path, mode_t mode, ndl_error_t *err)
{
	if (!path || !*path)
		return ndl_error_setf(err, EINVAL, "empty path");
	cleanup_free char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return ndl_error_set(err, errno, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0) {
		struct stat st;
		if (errno != EEXIST)
			return ndl_error_set(err, errno, "mkdir %s", p);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			return ndl_error_set(err, ENOTDIR, "mkdir %s", p);
	}
	return 0;
}

static int rm_rf_at(int parent_fd, const char *name, dev_t dev, ndl_error_t *err)
{
	struct stat st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ndl_error_set(err, errno, "stat %s", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
			return ndl_error_set(err, errno, "unlink %s", name);
		return 0;
	}
	if (st.st_dev != dev)
		return ndl_error_setf(err, EXDEV, "refusing to remove across mount point: %s", name);
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ndl_error_set(err, errno, "opendir %s", name);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_rf_at(dirfd(d), de->d_name, dev, err);
	}
	closedir(d);
	if (r < 0)
		return ndl_error_wrap(err, "%s", name);
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ndl_error_set(err, errno, "rmdir %s", name);
	return 0;
}

int ndl_rm_rf(const char *path, ndl_error_t *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ndl_error_set(err, errno, "stat %s", path);
	return rm_rf_at(AT_FDCWD, path, st.st_dev, err);
}

bool ndl_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}
