/* Filesystem helpers: bounded reads, atomic writes (temp + fsync + rename),
 * recursive mkdir and removal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Read all of fd (at most max bytes, else EFBIG). The buffer is NUL-terminated
 * (not counted in *ret_len). */
int ndl_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len, ndl_error_t *err);
int ndl_read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
		     ndl_error_t *err);
static inline int ndl_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
				ndl_error_t *err)
{
	return ndl_read_file_at(-100 /* AT_FDCWD */, path, max, ret_buf, ret_len, err);
}

/* Write fully, retrying on EINTR and short writes. */
int ndl_write_all(int fd, const void *buf, size_t len, ndl_error_t *err);

/* Atomically replace dirfd/name with data: write "<name>.tmp.<pid>", fsync,
 * rename, fsync the directory. A crash leaves the old or the new content. */
int ndl_write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			     mode_t mode, ndl_error_t *err);
int ndl_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  ndl_error_t *err);

/* Plain (non-atomic) small write, e.g. to /proc or cgroup files. */
int ndl_write_file_str(const char *path, const char *s, ndl_error_t *err);

/* mkdir -p; existing directories are fine. */
int ndl_mkdir_p(const char *path, mode_t mode, ndl_error_t *err);

/* rm -rf that does not cross mount points and does not follow symlinks.
 * A missing path is success. */
int ndl_rm_rf(const char *path, ndl_error_t *err);

bool ndl_path_exists(const char *path);
