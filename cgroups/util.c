/* cgroupfs file helpers shared by the v1 and v2 drivers: one write per
 * value (the kernel parses each write on its own), bounded reads, and the
 * "key value" files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

/* cgroup files are small; memory.stat / io.stat of a big tree are the
 * largest we read. */
#define CG_MAX_READ (1u << 20)

bool cg_hier_has(const char *controllers, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = controllers; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

int cg_write(const char *dir, const char *file, const char *val, ndl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	/* O_TRUNC is harmless on cgroupfs and gives fake trees (unit tests)
	 * the same "last value written" view. No O_CREAT: a missing file
	 * means the controller is not there, and that must be an error. */
	cleanup_close int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	size_t len = strlen(val);
	for (;;) {
		ssize_t n = write(fd, val, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ndl_error_set(err, errno, "write %s to %s", val, path);
		if ((size_t)n != len)
			return ndl_error_setf(err, EIO, "short write to %s", path);
		return 0;
	}
}

int cg_writef(const char *dir, const char *file, ndl_error_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *val = xvasprintf(fmt, ap);
	va_end(ap);
	return cg_write(dir, file, val, err);
}

int cg_read(const char *dir, const char *file, char **ret_buf, ndl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	size_t len;
	return ndl_read_file(path, CG_MAX_READ, ret_buf, &len, err);
}

bool cg_exists(const char *dir, const char *file)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

int cg_parse_u64(const char *s, uint64_t *ret)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || s[3] == '\n' || s[3] == ' ')) {
		*ret = CGROUP_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (*end != '\0' && *end != '\n' && *end != ' ')
		return -EINVAL;
	*ret = v;
	return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	int r = cg_read(dir, file, &buf, err);
	if (r < 0)
		return r;
	uint64_t v;
	if (cg_parse_u64(buf, &v) < 0)
		return ndl_error_setf(err, EINVAL, "%s/%s: not a number: \"%.32s\"", dir, file,
				      buf);
	*ret = v;
	return 0;
}

bool cg_kv_u64(const char *buf, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);
	for (const char *p = buf; p && *p;) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			uint64_t v;
			if (cg_parse_u64(p + kl + 1, &v) == 0) {
				*ret = v;
				return true;
			}
			return false;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

int cg_collect_pids(const char *dir, pid_t **pids, size_t *n, size_t *cap, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	int r = cg_read(dir, "cgroup.procs", &buf, err);
	if (r < 0) {
		/* A child cgroup that vanished while we walked is fine. */
		if (err && err->code == ENOENT && access(dir, F_OK) != 0) {
			ndl_error_clear(err);
			return 0;
		}
		return r;
	}
	for (char *p = buf; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 0) {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				*pids = xrealloc(*pids, *cap * sizeof(pid_t));
			}
			(*pids)[(*n)++] = (pid_t)v;
		}
		p = end;
		while (*p == '\n' || *p == ' ')
			p++;
	}
	cleanup_closedir DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ndl_error_set(err, errno, "opendir %s", dir);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *sub = xasprintf("%s/%s", dir, de->d_name);
		r = cg_collect_pids(sub, pids, n, cap, err);
		if (r < 0)
			return r;
	}
	return 0;
}
