/* The container's filesystem: mount destinations resolved inside the rootfs
 * without following symlinks out of it, mounts made through /proc/self/fd
 * of the resolved fd (so a path swapped after resolution cannot redirect
 * them), devices, pivot_root, masked and read-only paths. Runs in the
 * container init, in its new mount namespace, before pivot_root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "cri/runtime/runtime-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

static int have_openat2 = -1;

static int openat2_in_root(int rootfd, const char *path, int flags, unsigned resolve_extra)
{
	struct open_how how = {
	    .flags = (unsigned)flags | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve_extra,
	};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Walk component by component, reading each symlink ourselves and
 * restarting from the root for absolute targets, so ".." and symlinks are
 * evaluated against the container root (the fallback without openat2, and
 * the way missing components are created: create is 0, WALK_DIR to make
 * missing ones directories, or WALK_FILE to make the last one a file). A
 * dangling symlink is followed to where it points inside the root. */
#define WALK_DIR  1
#define WALK_FILE 2
static int walk_in_root(int rootfd, const char *path, int flags, unsigned resolve_extra, int create,
			mode_t mode)
{
	char buf[PATH_MAX * 2];
	int links = 0;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	/* stack of directory fds for ".." */
	int stack[256];
	int depth = 0;
	stack[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (stack[0] < 0)
		return -errno;
	char *p = buf;
	int ret = -EINVAL;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			/* The path named a directory we are in. */
			int fd = openat(stack[depth], ".", flags | O_CLOEXEC);
			ret = fd < 0 ? -errno : fd;
			break;
		}
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		if (len > NAME_MAX) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		bool last = true;
		for (char *q = p; *q; q++)
			if (*q != '/') {
				last = false;
				break;
			}
		if (strcmp(comp, ".") == 0) {
			if (last) {
				int fd = openat(stack[depth], ".", flags | O_CLOEXEC);
				ret = fd < 0 ? -errno : fd;
				break;
			}
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			if (depth > 0)
				close(stack[depth--]);
			if (last) {
				int fd = openat(stack[depth], ".", flags | O_CLOEXEC);
				ret = fd < 0 ? -errno : fd;
				break;
			}
			continue;
		}
		struct stat st;
		if (fstatat(stack[depth], comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT || !create) {
				ret = -errno;
				break;
			}
			int cr;
			if (last && create == WALK_FILE) {
				cr = openat(stack[depth], comp,
					    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					    mode);
				if (cr >= 0)
					close(cr);
			} else {
				cr = mkdirat(stack[depth], comp, last ? mode : 0755);
			}
			if ((cr < 0 && errno != EEXIST) ||
			    fstatat(stack[depth], comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				ret = -errno;
				break;
			}
		}
		if (S_ISLNK(st.st_mode)) {
			if ((resolve_extra & RESOLVE_NO_SYMLINKS) || ++links > 40) {
				ret = -ELOOP;
				break;
			}
			char target[PATH_MAX];
			ssize_t n = readlinkat(stack[depth], comp, target, sizeof(target) - 1);
			if (n < 0) {
				ret = -errno;
				break;
			}
			target[n] = '\0';
			char rest[PATH_MAX * 2];
			if (snprintf(rest, sizeof(rest), "%s/%s", target, p) >= (int)sizeof(rest)) {
				ret = -ENAMETOOLONG;
				break;
			}
			if (target[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			snprintf(buf, sizeof(buf), "%s", rest);
			p = buf;
			continue;
		}
		if (last) {
			int fd = openat(stack[depth], comp, flags | O_NOFOLLOW | O_CLOEXEC);
			ret = fd < 0 ? -errno : fd;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			ret = -ENOTDIR;
			break;
		}
		if (depth + 1 >= (int)(sizeof(stack) / sizeof(stack[0]))) {
			ret = -ELOOP;
			break;
		}
		int fd = openat(stack[depth], comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		stack[++depth] = fd;
	}
	while (depth >= 0)
		close(stack[depth--]);
	return ret;
}

int rt_open_in_root(int rootfd, const char *path, int flags, unsigned resolve_extra, int *ret_fd,
		    ndl_error_t *err)
{
	int fd = -1;
	if (have_openat2 != 0) {
		fd = openat2_in_root(rootfd, path, flags, resolve_extra);
		if (fd < 0 && (errno == ENOSYS || errno == EPERM) && have_openat2 < 0) {
			have_openat2 = 0; /* seccomp'd or old kernel */
		} else {
			have_openat2 = 1;
			if (fd < 0)
				return ndl_error_set(err, errno, "open %s in rootfs", path);
			*ret_fd = fd;
			return 0;
		}
	}
	fd = walk_in_root(rootfd, path, flags, resolve_extra, 0, 0);
	if (fd < 0)
		return ndl_error_set(err, -fd, "open %s in rootfs", path);
	*ret_fd = fd;
	return 0;
}

int rt_mkdir_in_root(int rootfd, const char *path, bool is_dir, mode_t mode, int *ret_fd,
		     ndl_error_t *err)
{
	ndl_error_t e = NDL_ERROR_INIT;
	if (rt_open_in_root(rootfd, path, O_PATH, 0, ret_fd, &e) == 0)
		return 0;
	if (e.code != ENOENT) {
		int r = ndl_error_set(err, e.code, "%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
		return r;
	}
	ndl_error_clear(&e);
	/* Create the missing parts with the confined walk: every component is
	 * created relative to the fd of its (already confined) parent, and a
	 * symlink on the way is followed inside the root, never out of it. */
	int fd = walk_in_root(rootfd, path, O_PATH, 0, is_dir ? WALK_DIR : WALK_FILE, mode);
	if (fd < 0)
		return ndl_error_set(err, -fd, "create %s in rootfs", path);
	*ret_fd = fd;
	return 0;
}

static void fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Flags of an existing mount that a bind remount must keep: in a user
 * namespace the kernel refuses to clear locked nodev/nosuid/noexec. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	return f;
}

#define BIND_REMOUNT_MASK                                                                          \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
	 MS_STRICTATIME)

/* After a mount on /proc/self/fd/N, N still names the directory under the
 * new mount: follow-up remounts must resolve the destination again (still
 * confined to the root) to reach the mount itself. */
static int mounted_path(int rootfd, const char *dest, int *ret_fd, char *buf, size_t size,
			ndl_error_t *err)
{
	int r = rt_open_in_root(rootfd, dest, O_PATH, 0, ret_fd, err);
	if (r < 0)
		return r;
	fd_path(*ret_fd, buf, size);
	return 0;
}

static int bind_mount_at(const char *src, int rootfd, int dstfd, const char *dest,
			 unsigned long flags, unsigned long propagation, bool userns,
			 ndl_error_t *err)
{
	char dpath[64];
	fd_path(dstfd, dpath, sizeof(dpath));
	if (mount(src, dpath, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
		return ndl_error_set(err, errno, "bind mount %s on %s", src, dest);
	if (!(flags & BIND_REMOUNT_MASK & ~MS_RELATIME) && !propagation)
		return 0;
	cleanup_close int mfd = -1;
	int r = mounted_path(rootfd, dest, &mfd, dpath, sizeof(dpath), err);
	if (r < 0)
		return r;
	if (flags & BIND_REMOUNT_MASK & ~MS_RELATIME) {
		unsigned long keep = userns ? locked_flags(dpath) & ~MS_RDONLY : 0;
		unsigned long rf = MS_BIND | MS_REMOUNT | (flags & BIND_REMOUNT_MASK) | keep;
		if (mount(NULL, dpath, NULL, rf, NULL) < 0)
			return ndl_error_set(err, errno, "remount %s with options", dest);
	}
	if (propagation && mount(NULL, dpath, NULL, propagation, NULL) < 0)
		return ndl_error_set(err, errno, "set propagation of %s", dest);
	return 0;
}

static bool is_dir_path(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* cgroup v1 (and hybrid): a tmpfs with the container's own cgroup of each
 * hierarchy bind-mounted in, as runc lays it out (cpu,cpuacct also
 * reachable as cpu and cpuacct). v2: cgroup2 itself. */
static int mount_cgroup(const struct rt_rootfs_ctx *ctx, int rootfd, const struct rt_mount *m,
			ndl_error_t *err)
{
	cleanup_close int dfd = -1;
	char dpath[64];
	int r = rt_mkdir_in_root(rootfd, m->destination, true, 0755, &dfd, err);
	if (r < 0)
		return r;
	fd_path(dfd, dpath, sizeof(dpath));
	unsigned long fl = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
	if (!ctx->cgmgr) {
		/* No cgroup manager (none usable): an empty read-only tmpfs. */
		if (mount("tmpfs", dpath, "tmpfs", fl | MS_RDONLY, "mode=755") < 0)
			return ndl_error_set(err, errno, "mount tmpfs on %s", m->destination);
		return 0;
	}
	if (cgroup_manager_mode(ctx->cgmgr) == CGROUP_MODE_V2) {
		if (mount("cgroup2", dpath, "cgroup2", fl, NULL) == 0)
			return 0;
		/* Without a cgroup namespace the kernel may refuse: bind ours. */
		const char *dir = ctx->cg ? cgroup_unified_dir(ctx->cg) : NULL;
		if (!dir)
			return ndl_error_set(err, errno, "mount cgroup2 on %s", m->destination);
		return bind_mount_at(dir, rootfd, dfd, m->destination, fl | MS_BIND, 0, ctx->userns,
				     err);
	}
	if (mount("tmpfs", dpath, "tmpfs", fl & ~MS_RDONLY, "mode=755") < 0)
		return ndl_error_set(err, errno, "mount tmpfs on %s", m->destination);
	/* dfd still names the directory under the new tmpfs: resolve again. */
	cleanup_close int tfd = -1;
	if ((r = rt_open_in_root(rootfd, m->destination, O_RDONLY | O_DIRECTORY, 0, &tfd, err)) < 0)
		return r;
	const char *ctrls, *mnt;
	for (size_t i = 0; cgroup_manager_hierarchy(ctx->cgmgr, i, &ctrls, &mnt); i++) {
		const char *name = strncmp(ctrls, "name=", 5) == 0 ? ctrls + 5 : ctrls;
		char src[PATH_MAX];
		const char *dir = ctx->cg ? cgroup_controller_dir(ctx->cg, ctrls) : NULL;
		if (!dir) {
			/* The hierarchy's own root when we have no cgroup in it. */
			snprintf(src, sizeof(src), "%s", mnt);
			dir = src;
		}
		if (mkdirat(tfd, name, 0755) < 0 && errno != EEXIST)
			return ndl_error_set(err, errno, "mkdir %s/%s", m->destination, name);
		cleanup_close int sub =
		    openat(tfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return ndl_error_set(err, errno, "open %s/%s", m->destination, name);
		char dest[PATH_MAX];
		snprintf(dest, sizeof(dest), "%s/%s", m->destination, name);
		r = bind_mount_at(dir, rootfd, sub, dest, MS_BIND | (fl & (BIND_REMOUNT_MASK)), 0,
				  ctx->userns, err);
		if (r < 0)
			return r;
		/* Co-mounted controllers: "cpu" and "cpuacct" both point at
		 * "cpu,cpuacct". */
		if (strchr(name, ',')) {
			char *copy = xstrdup(name), *save = NULL;
			for (char *tok = strtok_r(copy, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				if (symlinkat(name, tfd, tok) < 0 && errno != EEXIST) {
					free(copy);
					return ndl_error_set(err, errno, "symlink %s/%s",
							     m->destination, tok);
				}
			free(copy);
		}
	}
	/* As runc: the tmpfs itself stays writable, each hierarchy bind
	 * carries the mount's flags (ro). */
	return 0;
}

static int do_mount(const struct rt_rootfs_ctx *ctx, int rootfd, const struct rt_mount *m,
		    ndl_error_t *err)
{
	cleanup_close int dfd = -1;
	char dpath[64];
	int r;
	if (m->type && strcmp(m->type, "cgroup") == 0 && !(m->flags & MS_BIND))
		return mount_cgroup(ctx, rootfd, m, err);
	if (m->flags & MS_BIND) {
		/* The source is a host path; the destination mirrors its type. */
		struct stat st;
		if (stat(m->source, &st) < 0)
			return ndl_error_set(err, errno, "bind source %s", m->source);
		r = rt_mkdir_in_root(rootfd, m->destination, S_ISDIR(st.st_mode), 0755, &dfd, err);
		if (r < 0)
			return r;
		return bind_mount_at(m->source, rootfd, dfd, m->destination, m->flags,
				     m->propagation, ctx->userns, err);
	}
	/* proc and sysfs over a symlink would let the image choose where they
	 * land (CVE-2019-19921-style): refuse symlinks on their path. */
	bool special = strcmp(m->type, "proc") == 0 || strcmp(m->type, "sysfs") == 0;
	if (special) {
		ndl_error_t e = NDL_ERROR_INIT;
		int fd = -1;
		if (rt_open_in_root(rootfd, m->destination, O_PATH, RESOLVE_NO_SYMLINKS, &fd, &e) ==
		    0) {
			struct stat st;
			if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
				close(fd);
				return ndl_error_setf(
				    err, ENOTDIR, "mount %s on %s: destination is not a directory",
				    m->type, m->destination);
			}
			dfd = fd;
		} else if (e.code == ELOOP) {
			ndl_error_clear(&e);
			return ndl_error_setf(err, ELOOP,
					      "mount %s on %s: destination path contains a symlink",
					      m->type, m->destination);
		}
		ndl_error_clear(&e);
	}
	if (dfd < 0) {
		r = rt_mkdir_in_root(rootfd, m->destination, true, 0755, &dfd, err);
		if (r < 0)
			return r;
	}
	fd_path(dfd, dpath, sizeof(dpath));
	unsigned long fl = m->flags & ~(MS_BIND | MS_REC);
	if (mount(m->source, dpath, m->type, fl, m->data) < 0) {
		int e = errno;
		/* sysfs needs a network namespace we own; as runc, fall back
		 * to a read-only bind of the host's /sys. */
		if (strcmp(m->type, "sysfs") == 0 && (e == EPERM || e == EBUSY))
			return bind_mount_at("/sys", rootfd, dfd, m->destination,
					     MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV |
						 MS_NOEXEC,
					     0, ctx->userns, err);
		return ndl_error_set(err, e, "mount %s on %s", m->type, m->destination);
	}
	if (m->propagation) {
		cleanup_close int mfd = -1;
		if ((r = mounted_path(rootfd, m->destination, &mfd, dpath, sizeof(dpath), err)) < 0)
			return r;
		if (mount(NULL, dpath, NULL, m->propagation, NULL) < 0)
			return ndl_error_set(err, errno, "set propagation of %s", m->destination);
	}
	return 0;
}

struct default_dev {
	const char *name;
	unsigned maj, min;
	mode_t mode;
};
static const struct default_dev default_devs[] = {
    {"null", 1, 3, 0666},   {"zero", 1, 5, 0666},    {"full", 1, 7, 0666},
    {"random", 1, 8, 0666}, {"urandom", 1, 9, 0666}, {"tty", 5, 0, 0666},
};

/* Create one device node at path in the rootfs: mknod, or in a user
 * namespace (where mknod is refused) a bind mount of the host's node. */
static int make_device(int rootfd, const char *path, char type, unsigned maj, unsigned min,
		       mode_t mode, bool set_owner, uid_t uid, gid_t gid, bool userns,
		       ndl_error_t *err)
{
	if (userns) {
		char host[PATH_MAX];
		snprintf(host, sizeof(host), "%s", path);
		cleanup_close int fd = -1;
		int r = rt_mkdir_in_root(rootfd, path, false, 0644, &fd, err);
		if (r < 0)
			return r;
		return bind_mount_at(host, rootfd, fd, path, MS_BIND, 0, true, err);
	}
	/* Parent directory inside the root (an O_PATH fd serves as the dirfd
	 * of the *at calls: no second open). The caller has set umask 0. */
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	const char *name = slash + 1;
	*slash = '\0';
	cleanup_close int pfd = -1;
	int r = rt_mkdir_in_root(rootfd, buf[0] ? buf : "/", true, 0755, &pfd, err);
	if (r < 0)
		return r;
	int dir = pfd;
	mode_t ft = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
	/* Replace whatever the image had there (runc does the same). */
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT && errno != EISDIR)
		return ndl_error_set(err, errno, "remove %s", path);
	if (mknodat(dir, name, ft | (mode & 07777), makedev(maj, min)) < 0)
		return ndl_error_set(err, errno, "mknod %s", path);
	if (set_owner && fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return ndl_error_set(err, errno, "chown %s", path);
	return 0;
}

static bool mounted_over(const struct rt_spec *s, const char *dest, bool bind_only)
{
	for (size_t i = 0; i < s->n_mounts; i++) {
		const char *d = s->mounts[i].destination;
		size_t l = strlen(d);
		while (l > 1 && d[l - 1] == '/')
			l--;
		if (strncmp(d, dest, l) == 0 && dest[l] == '\0' &&
		    (!bind_only || (s->mounts[i].flags & MS_BIND)))
			return true;
	}
	return false;
}

/* The default devices, then linux.devices. */
static int make_devices(const struct rt_rootfs_ctx *ctx, int rootfd, ndl_error_t *err)
{
	const struct rt_spec *s = ctx->spec;
	int r;
	for (size_t i = 0; i < sizeof(default_devs) / sizeof(default_devs[0]); i++) {
		char p[32];
		snprintf(p, sizeof(p), "/dev/%s", default_devs[i].name);
		r = make_device(rootfd, p, 'c', default_devs[i].maj, default_devs[i].min,
				default_devs[i].mode, false, 0, 0, ctx->userns, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_devices; i++) {
		const struct rt_device *d = &s->devices[i];
		char t = d->type == 'u' ? 'c' : d->type;
		r = make_device(rootfd, d->path, t, (unsigned)d->major, (unsigned)d->minor,
				d->has_mode ? d->mode : 0666, d->has_uid || d->has_gid,
				d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0, ctx->userns, err);
		if (r < 0)
			return ndl_error_wrap(err, "field \"linux.devices[%zu]\"", i);
	}
	return 0;
}

static int setup_dev(const struct rt_rootfs_ctx *ctx, int rootfd, ndl_error_t *err)
{
	const struct rt_spec *s = ctx->spec;
	int r;
	/* A bind-mounted /dev (privileged containers) is the host's: leave it. */
	if (mounted_over(s, "/dev", true))
		return 0;
	/* Device modes are exact: one umask(0) for all the nodes. */
	mode_t old_umask = umask(0);
	r = make_devices(ctx, rootfd, err);
	umask(old_umask);
	if (r < 0)
		return r;
	cleanup_close int pdev = -1;
	if ((r = rt_open_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0, &pdev, err)) < 0)
		return r;
	static const struct {
		const char *target, *name;
	} links[] = {
	    {"/proc/self/fd", "fd"},
	    {"/proc/self/fd/0", "stdin"},
	    {"/proc/self/fd/1", "stdout"},
	    {"/proc/self/fd/2", "stderr"},
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i].target, pdev, links[i].name) < 0 && errno != EEXIST)
			return ndl_error_set(err, errno, "symlink /dev/%s", links[i].name);
	if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", pdev, "core") < 0 &&
	    errno != EEXIST)
		return ndl_error_set(err, errno, "symlink /dev/core");
	/* /dev/ptmx is the devpts instance's when /dev/pts is mounted. */
	if (mounted_over(s, "/dev/pts", false)) {
		if (unlinkat(pdev, "ptmx", 0) < 0 && errno != ENOENT)
			return ndl_error_set(err, errno, "remove /dev/ptmx");
		if (symlinkat("pts/ptmx", pdev, "ptmx") < 0)
			return ndl_error_set(err, errno, "symlink /dev/ptmx");
	}
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo; in place. */
static void unescape_mountinfo(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* With a shared root propagation the container's mounts stay in the host's
 * peer groups (that is what makes Bidirectional volumes work), so the mount
 * holding the rootfs must become private first, as runc's
 * rootfsParentMountPrivate does: otherwise the rootfs bind mount and every
 * mount under it would propagate to the host, and pivot_root refuses a
 * shared parent. */
static int rootfs_parent_private(const char *rootfs, ndl_error_t *err)
{
	char real[PATH_MAX];
	if (!realpath(rootfs, real))
		return ndl_error_set(err, errno, "resolve rootfs %s", rootfs);
	cleanup_free char *buf = NULL;
	size_t len;
	int r = ndl_read_file("/proc/self/mountinfo", 16 << 20, &buf, &len, err);
	if (r < 0)
		return r;
	char best[PATH_MAX] = "";
	size_t best_len = 0;
	bool best_shared = false;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint options [optional...] - ... */
		char *f[6] = {0}, *tok = line;
		int n = 0;
		while (n < 6 && (f[n] = strsep(&tok, " ")))
			n++;
		if (n < 6)
			continue;
		bool shared = false;
		for (char *opt = f[5]; opt && strcmp(opt, "-") != 0; opt = strsep(&tok, " ")) {
			if (opt != f[5] && strncmp(opt, "shared:", 7) == 0)
				shared = true;
		}
		char *mp = f[4];
		unescape_mountinfo(mp);
		size_t l = strlen(mp);
		bool under = strcmp(mp, "/") == 0 ||
			     (strncmp(real, mp, l) == 0 && (real[l] == '/' || real[l] == '\0'));
		/* Later lines are mounted later: on the same point the last wins. */
		if (under && l < sizeof(best) && l >= best_len) {
			memcpy(best, mp, l + 1);
			best_len = l;
			best_shared = shared;
		}
	}
	if (best_shared && mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0)
		return ndl_error_set(err, errno, "make %s (parent mount of the rootfs) private", best);
	return 0;
}

int rt_rootfs_prepare(const struct rt_rootfs_ctx *ctx, ndl_error_t *err)
{
	const struct rt_spec *s = ctx->spec;
	unsigned long prop = s->rootfs_propagation ? s->rootfs_propagation : MS_SLAVE | MS_REC;
	if (prop & MS_SHARED) {
		/* As runc: the whole tree shared (so Bidirectional volumes
		 * propagate both ways), the rootfs's own mount private so
		 * nothing the runtime mounts reaches the host. "/" itself gets
		 * the flag again after pivot_root. */
		if (mount(NULL, "/", NULL, prop, NULL) < 0)
			return ndl_error_set(err, errno, "set propagation of /");
		int r = rootfs_parent_private(ctx->rootfs, err);
		if (r < 0)
			return r;
	} else if (mount(NULL, "/", NULL, prop | MS_REC, NULL) < 0) {
		/* Nothing we mount may propagate back to the host. */
		return ndl_error_set(err, errno, "set propagation of /");
	}
	/* pivot_root needs the new root to be a mount point. */
	if (mount(ctx->rootfs, ctx->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return ndl_error_set(err, errno, "bind mount rootfs %s", ctx->rootfs);
	cleanup_close int rootfd = open(ctx->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ndl_error_set(err, errno, "open rootfs %s", ctx->rootfs);
	for (size_t i = 0; i < s->n_mounts; i++) {
		int r = do_mount(ctx, rootfd, &s->mounts[i], err);
		if (r < 0)
			return ndl_error_wrap(err, "mounts[%zu]", i);
	}
	int r = setup_dev(ctx, rootfd, err);
	if (r < 0)
		return r;
	/* As runc: a missing working directory is created (images name a
	 * WORKDIR that need not exist), inside the root like any path. */
	if (s->has_process && s->process.cwd) {
		cleanup_close int cfd = -1;
		if ((r = rt_mkdir_in_root(rootfd, s->process.cwd, true, 0755, &cfd, err)) < 0)
			return ndl_error_wrap(err, "field \"process.cwd\"");
	}
	return 0;
}

static int pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int move_root(const char *rootfs, ndl_error_t *err)
{
	if (chdir(rootfs) < 0)
		return ndl_error_set(err, errno, "chdir %s", rootfs);
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		return ndl_error_set(err, errno, "move %s to /", rootfs);
	if (chroot(".") < 0)
		return ndl_error_set(err, errno, "chroot");
	if (chdir("/") < 0)
		return ndl_error_set(err, errno, "chdir /");
	return 0;
}

int rt_rootfs_pivot(const char *rootfs, bool no_pivot, ndl_error_t *err)
{
	if (no_pivot)
		return move_root(rootfs, err);
	/* pivot_root(".", ".") stacks the old root under the new one at "/",
	 * then we detach it: no directory of the old root stays reachable. */
	cleanup_close int oldroot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0)
		return ndl_error_set(err, errno, "open /");
	cleanup_close int newroot = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (newroot < 0)
		return ndl_error_set(err, errno, "open %s", rootfs);
	if (fchdir(newroot) < 0)
		return ndl_error_set(err, errno, "chdir %s", rootfs);
	if (pivot_root(".", ".") < 0) {
		int e = errno;
		/* A ramfs/initramfs root cannot be pivoted away from. */
		struct statfs sf;
		if (e == EINVAL && statfs("/", &sf) == 0 &&
		    (sf.f_type == 0x858458f6 /* RAMFS */ || sf.f_type == 0x01021994 /* TMPFS */))
			return move_root(rootfs, err);
		return ndl_error_set(err, e, "pivot_root %s", rootfs);
	}
	if (fchdir(oldroot) < 0)
		return ndl_error_set(err, errno, "chdir old root");
	/* Make sure the unmount does not propagate to the host. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return ndl_error_set(err, errno, "make old root slave");
	if (umount2(".", MNT_DETACH) < 0)
		return ndl_error_set(err, errno, "detach old root");
	if (chdir("/") < 0)
		return ndl_error_set(err, errno, "chdir /");
	return 0;
}

static int remount_ro(const char *path, ndl_error_t *err)
{
	unsigned long keep = locked_flags(path);
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
		return ndl_error_set(err, errno, "remount %s read-only", path);
	return 0;
}

int rt_rootfs_finalize(const struct rt_spec *s, ndl_error_t *err)
{
	int r;
	for (size_t i = 0; i < s->n_readonly_paths; i++) {
		const char *p = s->readonly_paths[i];
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return ndl_error_set(err, errno,
					     "field \"linux.readonlyPaths[%zu]\": bind %s", i, p);
		}
		if ((r = remount_ro(p, err)) < 0)
			return ndl_error_wrap(err, "field \"linux.readonlyPaths[%zu]\"", i);
	}
	for (size_t i = 0; i < s->n_masked_paths; i++) {
		const char *p = s->masked_paths[i];
		int rr;
		if (is_dir_path(p))
			rr = mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL);
		else
			rr = mount("/dev/null", p, NULL, MS_BIND, NULL);
		if (rr < 0 && errno != ENOENT && errno != ENOTDIR)
			return ndl_error_set(err, errno,
					     "field \"linux.maskedPaths[%zu]\": mask %s", i, p);
	}
	if (s->root_readonly && (r = remount_ro("/", err)) < 0)
		return ndl_error_wrap(err, "field \"root.readonly\"");
	if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
		return ndl_error_set(err, errno, "field \"linux.rootfsPropagation\"");
	return 0;
}
