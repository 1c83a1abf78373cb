/* Private to cgroups/: the manager and cgroup structs, the driver table and
 * the small cgroupfs file helpers the drivers share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroups/cgroups.h"

struct cgroup_ops {
	const char *name;
	/* Called for each newly created-or-existing directory from the top
	 * of a hierarchy down to the target (v1 cpuset init, v2 subtree
	 * enabling). parent is the parent directory. */
	int (*prepare_dir)(struct cgroup *cg, size_t hier, const char *parent, const char *dir,
			   ndl_error_t *err);
	int (*apply)(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err);
	int (*stats)(struct cgroup *cg, struct cgroup_stats *ret, ndl_error_t *err);
	int (*oom_watch_fd)(struct cgroup *cg, int *ret_fd, ndl_error_t *err);
	int (*oom_kill_count)(struct cgroup *cg, uint64_t *ret, ndl_error_t *err);
	int (*set_frozen)(struct cgroup *cg, bool frozen, ndl_error_t *err);
	int (*is_frozen)(struct cgroup *cg, bool *ret, ndl_error_t *err);
	/* Kill everything at once; -ENOTSUP when the kernel has no way. */
	int (*kill)(struct cgroup *cg, ndl_error_t *err);
};

extern const struct cgroup_ops cgroup_ops_v1;
extern const struct cgroup_ops cgroup_ops_v2;

/* Index of a hierarchy in struct cgroup's dirs. In v2 there is one, the
 * unified mount, and it is CG_UNIFIED. */
#define CG_UNIFIED ((size_t)-1)

struct cgroup_hier {
	char *controllers; /* "cpu,cpuacct", "name=systemd" */
	char *mountpoint;
	char *own;	  /* this process's cgroup in the hierarchy ("/" in fake trees) */
	char *mount_root; /* the hierarchy path mounted at mountpoint (mountinfo "root") */
};

struct cgroup_manager {
	enum cgroup_mode mode;
	const struct cgroup_ops *ops;
	char *root;
	struct cgroup_hier *hier; /* v1 / hybrid */
	size_t n_hier;
	char *unified; /* cgroup2 mountpoint (v2, or hybrid's), else NULL */
	char *unified_own;
	char *unified_mount_root;
	/* The tree is not a cgroupfs (unit tests): destroy also unlinks the
	 * plain files a fake cgroup directory holds. */
	bool fake;
};

struct cgroup {
	struct cgroup_manager *mgr;
	char *path;	   /* normalized, as given ("/a/b" or "a/b") */
	char **dirs;	   /* v1: one per hierarchy */
	char *unified_dir; /* v2, or hybrid when the cgroup2 dir exists */
	bool owns_mgr;	   /* from cgroup_open_saved: mgr is private to it */
};

/* Does a v1 hierarchy (comma list) carry controller name? */
bool cg_hier_has(const char *controllers, const char *name);
/* The directory of a v1 controller for this cgroup, or NULL. */
const char *cg_v1_dir(const struct cgroup *cg, const char *controller);

/* cgroupfs file helpers: each names dir/file in its error. */
int cg_write(const char *dir, const char *file, const char *val, ndl_error_t *err);
int cg_writef(const char *dir, const char *file, ndl_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cg_read(const char *dir, const char *file, char **ret_buf, ndl_error_t *err);
bool cg_exists(const char *dir, const char *file);
/* A single number, or "max" -> CGROUP_MAX. */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret, ndl_error_t *err);
int cg_parse_u64(const char *s, uint64_t *ret);
/* "key value" lines (memory.stat, cpu.stat, memory.events, oom_control):
 * true when key was found with a number. */
bool cg_kv_u64(const char *buf, const char *key, uint64_t *ret);

/* Recursively collect pids in dir/cgroup.procs and its sub-cgroups. */
int cg_collect_pids(const char *dir, pid_t **pids, size_t *n, size_t *cap, ndl_error_t *err);

/* v2 device rules: compile to a cgroup device BPF program (exposed for the
 * unit tests) and load + attach it, replacing earlier ones. */
struct bpf_insn;
int cg_devices_bpf_prog(const struct cgroup_device_rule *rules, size_t n, struct bpf_insn **ret,
			size_t *ret_n);
int cg_devices_bpf_apply(const char *dir, const struct cgroup_device_rule *rules, size_t n,
			 ndl_error_t *err);
