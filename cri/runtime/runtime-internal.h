/* Private interfaces between the runtime library's files. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "cri/runtime/runtime.h"
#include "cri/runtime/spec.h"
#include "lib/error.h"

struct cgroup;
struct cgroup_manager;

/* ---- rootfs.c: confined path resolution and mounts ---- */

/* Open path (absolute, container view) inside the tree at rootfd without
 * letting symlinks or ".." leave it (openat2 RESOLVE_IN_ROOT, falling back
 * to a component walk). flags are open(2) flags (O_PATH is typical). */
int rt_open_in_root(int rootfd, const char *path, int flags, unsigned resolve_extra, int *ret_fd,
		    ndl_error_t *err);
/* Like rt_open_in_root, creating missing directories on the way; the last
 * component becomes a directory (is_dir) or an empty regular file. Returns
 * an O_PATH fd of it. */
int rt_mkdir_in_root(int rootfd, const char *path, bool is_dir, mode_t mode, int *ret_fd,
		     ndl_error_t *err);

/* Context of rootfs setup, filled by the child before pivot_root. */
struct rt_rootfs_ctx {
	const struct rt_spec *spec;
	const char *rootfs;	      /* absolute host path */
	struct cgroup_manager *cgmgr; /* may be NULL (no cgroup) */
	struct cgroup *cg;	      /* container cgroup, may be NULL */
	bool userns;		      /* devices are bind-mounted, not mknod'ed */
	bool cgroupns;		      /* a new cgroup namespace was made */
};

/* Everything before pivot_root: propagation, rootfs bind, spec mounts,
 * devices, /dev symlinks. */
int rt_rootfs_prepare(const struct rt_rootfs_ctx *ctx, ndl_error_t *err);
/* pivot_root (or MS_MOVE + chroot when no_pivot or the root is a ramfs). */
int rt_rootfs_pivot(const char *rootfs, bool no_pivot, ndl_error_t *err);
/* After pivot: masked and read-only paths, read-only root, propagation. */
int rt_rootfs_finalize(const struct rt_spec *spec, ndl_error_t *err);

/* ---- process.c: the container process's last steps ---- */

/* Resolve args[0] against the PATH in env (container view); *ret is owned. */
int rt_find_executable(const char *file, char *const *env, char **ret, ndl_error_t *err);
/* rlimits, umask, oom_score_adj (lowering forbidden here: warn only). */
int rt_apply_rlimits(const struct rt_process *p, ndl_error_t *err);
void rt_apply_oom_score_adj(const struct rt_process *p);
/* Groups, gid, uid, then the five capability sets (libcap) and ambient. */
int rt_apply_user_and_caps(const struct rt_process *p, bool setgroups_allowed, ndl_error_t *err);
/* Working directory, checked to lie inside the (new) root: no leaked
 * host directory (CVE-2024-21626). */
int rt_enter_cwd(const char *cwd, ndl_error_t *err);
/* Mark every fd >= first close-on-exec. */
void rt_cloexec_from(int first);

/* ---- seccomp.c ---- */
struct rt_seccomp_filter;
/* Translate to a libseccomp context (not yet loaded). */
int rt_seccomp_compile(const struct rt_seccomp *sc, struct rt_seccomp_filter **ret,
		       ndl_error_t *err);
int rt_seccomp_load(struct rt_seccomp_filter *f, ndl_error_t *err);
void rt_seccomp_filter_free(struct rt_seccomp_filter *f);

/* ---- hooks.c ---- */
/* Run each hook with the state JSON on stdin, honouring its timeout. */
int rt_run_hooks(const struct rt_hooks *hooks, const char *kind, const char *state_json,
		 ndl_error_t *err);

/* ---- state.c ---- */
struct rt_state_rec {
	char *id;
	pid_t pid;
	unsigned long long start_time; /* /proc/<pid>/stat field 22, against pid reuse */
	char *bundle;
	char *rootfs;
	char *cgroup_path; /* "" when none */
	char *created;	   /* RFC 3339 */
	uid_t owner;
	/* The spec as given. create sets it for rt_state_rec_write; after
	 * rt_state_rec_read it is NULL until rt_state_rec_config parses it. */
	json_t *config;
	/* cgroup_save() of the container's cgroup; NULL without a cgroup or
	 * in state written before it was kept. */
	json_t *cgroup;
	/* Copies of the spec's "annotations" and "hooks" objects (NULL when
	 * absent), so state, start and delete need not parse the spec. */
	json_t *annotations;
	json_t *hooks;
	/* Read side: the state file's text and where the spec starts in it. */
	char *text;
	size_t config_off, text_len;
};
void rt_state_rec_clear(struct rt_state_rec *r);
/* temp + rename, no fsync (see state.c) */
int rt_write_volatile_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
			 ndl_error_t *err);
int rt_state_rec_write(int dirfd, const struct rt_state_rec *r, ndl_error_t *err);
int rt_state_rec_read(const char *root, const char *id, struct rt_state_rec *ret, ndl_error_t *err);
/* The spec of a record read by rt_state_rec_read (parsed on first use and
 * kept in r->config; borrowed). */
int rt_state_rec_config(struct rt_state_rec *r, json_t **ret, ndl_error_t *err);
/* Does the spec have at least one hook of this kind ("poststop")? */
bool rt_state_rec_has_hooks(const struct rt_state_rec *r, const char *kind);
/* start time of pid, 0 when it does not exist */
unsigned long long rt_pid_start_time(pid_t pid);
bool rt_pid_alive(pid_t pid, unsigned long long start_time);
int rt_validate_id(const char *id, ndl_error_t *err);
