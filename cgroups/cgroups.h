/* cgroups: the cgroupfs driver for cgroup v1, v2 and hybrid hosts. Creates
 * cgroups from OCI cgroupsPath values, applies OCI linux.resources, reads
 * stats, watches OOM events, freezes, kills and destroys. Used by the OCI
 * runtime (container cgroups) and the kubelet (pod and QoS cgroups). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

enum cgroup_mode {
	CGROUP_MODE_AUTO = 0, /* only for cgroup_manager_init_at: detect */
	CGROUP_MODE_V1,	      /* v1 controllers only */
	CGROUP_MODE_HYBRID,   /* v1 controllers + a controller-less cgroup2 mount */
	CGROUP_MODE_V2,	      /* unified hierarchy */
};

const char *cgroup_mode_name(enum cgroup_mode mode);

/* One per process, chosen once at startup. Opaque. */
struct cgroup_manager;
/* One cgroup (in every v1 hierarchy and/or the unified one). Opaque. */
struct cgroup;

/* Detect the mode from /proc/self/mountinfo (cgroup / cgroup2 mounts under
 * /sys/fs/cgroup) and pick the driver. */
int cgroup_manager_init(struct cgroup_manager **ret_mgr, ndl_error_t *err);

/* Use the tree under root (tests point this at a fake tree in a temp dir).
 * v1/hybrid: every subdirectory of root is a hierarchy named by its
 * comma-separated controllers ("cpu,cpuacct", "memory", "name=systemd");
 * hybrid: root/unified is the cgroup2 mount. v2: root is the cgroup2 mount.
 * CGROUP_MODE_AUTO guesses from root/cgroup.controllers and root/unified. */
int cgroup_manager_init_at(const char *root, enum cgroup_mode mode, struct cgroup_manager **ret_mgr,
			   ndl_error_t *err);

void cgroup_manager_free(struct cgroup_manager *mgr);
enum cgroup_mode cgroup_manager_mode(const struct cgroup_manager *mgr);

/* v1/hybrid hierarchies, for callers that mount cgroupfs into a container:
 * returns false when i is past the end. *ret_controllers is the
 * comma-separated list ("cpu,cpuacct"), *ret_mountpoint its host path.
 * The unified mount (v2, or hybrid's cgroup2) is cgroup_manager_unified(). */
bool cgroup_manager_hierarchy(const struct cgroup_manager *mgr, size_t i,
			      const char **ret_controllers, const char **ret_mountpoint);
const char *cgroup_manager_unified(const struct cgroup_manager *mgr);

/* True when path is a systemd-driver path ("slice:prefix:name"). Only the
 * cgroupfs driver exists: callers given --systemd-cgroup or such a path
 * must reject it; cgroup_create/open do so with ENOTSUP. */
bool cgroup_path_is_systemd(const char *path);

/* path is an OCI cgroupsPath: absolute ("/kubepods/pod1/ctr") is relative to
 * each hierarchy's root; relative ("ctr") is below the caller's own cgroup in
 * each hierarchy, as runc does. ".." components are rejected; the root
 * cgroup itself cannot be created or opened. */

/* Create (mkdir -p in every hierarchy; v1 cpuset cpus/mems are copied from
 * the parent so tasks can join; v2 controllers are enabled in the parents'
 * cgroup.subtree_control when missing). An existing cgroup is reused. On
 * failure, directories this call created are removed. */
int cgroup_create(struct cgroup_manager *mgr, const char *path, struct cgroup **ret_cg,
		  ndl_error_t *err);
/* Open an existing cgroup (for update, stats, kill from another process). */
int cgroup_open(struct cgroup_manager *mgr, const char *path, struct cgroup **ret_cg,
		ndl_error_t *err);
/* Open the cgroup a running pid is in (v2: its unified path; v1: its memory
 * (else first) hierarchy path), e.g. to find a container's cgroup. */
int cgroup_open_pid(struct cgroup_manager *mgr, pid_t pid, struct cgroup **ret_cg,
		    ndl_error_t *err);

/* Where a cgroup is, as a JSON object another process can turn back into a
 * handle with cgroup_open_saved without reading /proc/self/mountinfo and
 * /proc/self/cgroup or probing each hierarchy. The OCI runtime keeps it in
 * its state: `delete`, `kill` and `state` run once per container, and that
 * discovery was most of their cgroup work. Each hierarchy maps to the
 * directory the cgroup path goes below (mountpoint, plus our own cgroup
 * for a relative path):
 *   {"mode":"hybrid","path":"/k/c","v1":{"cpu,cpuacct":
 *    "/sys/fs/cgroup/cpu,cpuacct",...},"unified":"/sys/fs/cgroup/unified"}
 * Only hierarchies where the handle has the cgroup are listed. */
json_t *cgroup_save(const struct cgroup *cg);
/* Rebuild a handle from cgroup_save's object. Each directory must be
 * absolute with no "." or ".." component, and the path is normalized as by
 * cgroup_open; errors name the field. The handle owns a private manager
 * that knows only these directories: every operation except cgroup_create
 * works on it, and cgroup_free releases both. Directories are not checked
 * for existence (cgroup_destroy counts a missing one as removed). */
int cgroup_open_saved(const json_t *saved, struct cgroup **ret_cg, ndl_error_t *err);

/* Normalized path ("/kubepods/pod1/ctr"). */
const char *cgroup_path(const struct cgroup *cg);
/* Host directory of this cgroup for a controller ("memory", "cpu",
 * "name=systemd"; in v2 any name gives the unified dir), NULL when that
 * controller is not mounted. */
const char *cgroup_controller_dir(const struct cgroup *cg, const char *controller);
/* Directory in the unified hierarchy (v2, or hybrid's cgroup2 when it could
 * be created), else NULL. */
const char *cgroup_unified_dir(const struct cgroup *cg);

/* Move pid (a whole process) into the cgroup in every hierarchy. */
int cgroup_enter(struct cgroup *cg, pid_t pid, ndl_error_t *err);

/* ---- resources (OCI linux.resources) ---- */

struct cgroup_weight_device {
	int64_t major, minor;
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;
};

struct cgroup_throttle_device {
	int64_t major, minor;
	uint64_t rate;
};

struct cgroup_hugepage_limit {
	char page_size[16]; /* "2MB", "1GB" as in the hugetlb file names */
	uint64_t limit;
};

struct cgroup_device_rule {
	bool allow;
	char type;	/* 'a', 'c' or 'b' */
	int64_t major;	/* -1 = any */
	int64_t minor;	/* -1 = any */
	char access[4]; /* subset of "rwm" */
};

struct cgroup_net_priority {
	char name[16]; /* interface name (IFNAMSIZ) */
	uint32_t priority;
};

struct cgroup_unified_entry {
	char *key; /* file name, e.g. "memory.high" */
	char *value;
};

/* Fields are written only when their has_* flag (or non-NULL pointer, or
 * non-zero count) is set; the same struct is used to update. Values keep
 * OCI semantics: memory -1 = unlimited; swap is memory+swap (v1 memsw; v2
 * gets swap.max = swap - memory as runc computes it). */
struct cgroup_resources {
	struct {
		bool has_shares, has_quota, has_period, has_realtime_runtime, has_realtime_period,
		    has_burst, has_idle;
		uint64_t shares;
		int64_t quota; /* -1 = unlimited */
		uint64_t period;
		int64_t realtime_runtime;
		uint64_t realtime_period;
		uint64_t burst;
		int64_t idle;
		char *cpus; /* NULL = unset */
		char *mems;
	} cpu;
	struct {
		bool has_limit, has_reservation, has_swap, has_kernel, has_kernel_tcp,
		    has_swappiness, has_disable_oom_killer, has_use_hierarchy;
		int64_t limit, reservation, swap, kernel, kernel_tcp;
		uint64_t swappiness;
		bool disable_oom_killer;
		bool use_hierarchy;
	} memory;
	struct {
		bool has_limit;
		int64_t limit; /* <0 = max; 0 = leave alone (runc) */
	} pids;
	struct {
		bool has_weight, has_leaf_weight;
		uint16_t weight, leaf_weight;
		struct cgroup_weight_device *weight_device;
		size_t n_weight_device;
		struct cgroup_throttle_device *throttle_read_bps, *throttle_write_bps,
		    *throttle_read_iops, *throttle_write_iops;
		size_t n_throttle_read_bps, n_throttle_write_bps, n_throttle_read_iops,
		    n_throttle_write_iops;
	} blkio;
	struct cgroup_hugepage_limit *hugepages;
	size_t n_hugepages;
	/* v1 net_cls / net_prio (no cgroup v2 equivalent: an error there). */
	struct {
		bool has_class_id;
		uint32_t class_id;
		struct cgroup_net_priority *priorities;
		size_t n_priorities;
	} network;
	/* Applied in order on v1 (devices.allow / devices.deny); on v2
	 * compiled into a BPF cgroup device program (last matching rule
	 * wins, default deny) that replaces the previous one. As in the OCI
	 * spec, the list is complete: the runtime adds its default devices
	 * (null, zero, full, random, urandom, tty, ptmx...) itself. */
	struct cgroup_device_rule *devices;
	size_t n_devices;
	struct cgroup_unified_entry *unified; /* v2 only */
	size_t n_unified;
};

/* Parse an OCI linux.resources object (where names it in errors, e.g.
 * "linux.resources"). *ret is zeroed first; free with cgroup_resources_free
 * (also on failure: parsed parts are released before returning). */
int cgroup_resources_from_json(const json_t *obj, const char *where, struct cgroup_resources *ret,
			       ndl_error_t *err);
/* Release what cgroup_resources_from_json allocated; the struct is zeroed. */
void cgroup_resources_free(struct cgroup_resources *res);

/* Write the set fields, ordered as runc does (v1 memsw vs limit depending on
 * direction; cfs period retried after quota). Errors name the file. */
int cgroup_apply(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err);

/* ---- conversions (as runc) ---- */
/* cpu.shares -> cpu.weight: 1 + ((shares-2)*9999)/262142; 0 -> 0 (unset). */
uint64_t cgroup_shares_to_weight(uint64_t shares);
/* blkio.weight -> io.weight: 1 + (w-10)*9999/990; 0 -> 0 (unset). */
uint64_t cgroup_blkio_weight_to_io_weight(uint64_t weight);
/* v2 cpu.max content: "max" or quota, then " period" when period != 0. */
void cgroup_cpu_max_string(bool has_quota, int64_t quota, uint64_t period, char *buf, size_t size);
/* v2 memory.swap.max from OCI memory/swap (runc ConvertMemorySwapToCgroupV2Value):
 * *ret is -1 for "max", 0 for unset when !*ret_set. */
int cgroup_swap_v2_value(bool has_swap, int64_t swap, bool has_memory, int64_t memory,
			 bool *ret_set, int64_t *ret, ndl_error_t *err);

/* ---- stats ---- */

#define CGROUP_MAX UINT64_MAX /* "max"/unlimited in limits */

struct cgroup_stats {
	struct {
		uint64_t usage_ns, user_ns, system_ns;
		uint64_t nr_periods, nr_throttled, throttled_ns;
	} cpu;
	struct {
		uint64_t usage;	      /* v1 usage_in_bytes; v2 memory.current */
		uint64_t max_usage;   /* v1 max_usage_in_bytes; v2 memory.peak (0 if absent) */
		uint64_t limit;	      /* CGROUP_MAX when unlimited */
		uint64_t working_set; /* usage - inactive_file (never below 0) */
		uint64_t rss;	      /* v1 total_rss; v2 anon */
		uint64_t cache;	      /* v1 total_cache; v2 file */
		uint64_t inactive_file, active_file;
		uint64_t pgfault, pgmajfault;
		uint64_t swap_usage; /* v1 memsw usage - usage; v2 swap.current */
		uint64_t failcnt;    /* v1 failcnt; v2 memory.events max */
		uint64_t oom_events; /* v2 memory.events oom; v1 has no such counter: = oom_kill */
		uint64_t oom_kill;
	} memory;
	struct {
		uint64_t current;
		uint64_t limit; /* CGROUP_MAX when "max" */
	} pids;
};

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *ret_stats, ndl_error_t *err);

/* ---- OOM ---- */

/* A pollable (POLLIN) O_CLOEXEC fd that becomes readable when the cgroup
 * has an OOM event: v1 an eventfd registered on memory.oom_control via
 * cgroup.event_control (it also fires when the cgroup is removed); v2 an
 * inotify watch on memory.events. After POLLIN call cgroup_oom_watch_drain
 * and compare cgroup_oom_kill_count with the previous value. */
int cgroup_oom_watch_fd(struct cgroup *cg, int *ret_fd, ndl_error_t *err);
int cgroup_oom_watch_drain(struct cgroup *cg, int fd, ndl_error_t *err);
/* v1 memory.oom_control oom_kill; v2 memory.events oom_kill. */
int cgroup_oom_kill_count(struct cgroup *cg, uint64_t *ret_count, ndl_error_t *err);

/* ---- processes ---- */

/* Freeze / thaw, waiting until the kernel reports the new state. */
int cgroup_freeze(struct cgroup *cg, ndl_error_t *err);
int cgroup_thaw(struct cgroup *cg, ndl_error_t *err);
/* Current state: true when frozen. */
int cgroup_is_frozen(struct cgroup *cg, bool *ret_frozen, ndl_error_t *err);

/* Every pid in the cgroup and its descendants (sorted, unique). */
int cgroup_pids(struct cgroup *cg, pid_t **ret_pids, size_t *ret_n, ndl_error_t *err);

/* Send sig to every process: v2 cgroup.kill when sig is SIGKILL and the file
 * exists; else freeze, signal each pid, thaw (so nothing forks past us). */
int cgroup_kill_all(struct cgroup *cg, int sig, ndl_error_t *err);

/* rmdir in every hierarchy, deepest first, retrying (up to ~timeout_ms)
 * while tasks drain (EBUSY). A missing directory counts as removed. Child
 * cgroups are removed too. The handle stays valid (cgroup_free it). */
int cgroup_destroy(struct cgroup *cg, ndl_error_t *err);
int cgroup_destroy_timeout(struct cgroup *cg, unsigned timeout_ms, ndl_error_t *err);

void cgroup_free(struct cgroup *cg);

static inline void cgroup_freep(struct cgroup **cg)
{
	if (*cg)
		cgroup_free(*cg);
}
static inline void cgroup_manager_freep(struct cgroup_manager **m)
{
	if (*m)
		cgroup_manager_free(*m);
}
#define cleanup_cgroup	       __attribute__((cleanup(cgroup_freep)))
#define cleanup_cgroup_manager __attribute__((cleanup(cgroup_manager_freep)))
