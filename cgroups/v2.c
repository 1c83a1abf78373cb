/* The cgroup v2 (unified) driver: one directory per cgroup, controllers
 * enabled through the parents' cgroup.subtree_control, v1-style OCI values
 * converted exactly as runc's fs2 driver does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define FREEZE_TIMEOUT_MS 5000

/* Enable in parent every controller it has but does not yet delegate. The
 * root cgroup's settings are never touched: on a real v2 host the init
 * system has delegated them already. */
static int v2_prepare_dir(struct cgroup *cg, size_t hier, const char *parent, const char *dir,
			  ndl_error_t *err)
{
	if (strcmp(parent, cg->mgr->unified) == 0)
		return 0;
	cleanup_free char *avail = NULL, *enabled = NULL;
	if (cg_read(parent, "cgroup.controllers", &avail, err) < 0 ||
	    cg_read(parent, "cgroup.subtree_control", &enabled, err) < 0)
		return ndl_error_wrap(err, "enable controllers");
	char *save = NULL;
	for (char *c = strtok_r(avail, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
		bool have = false;
		for (const char *p = enabled; (p = strstr(p, c)); p += strlen(c))
			if ((p == enabled || p[-1] == ' ') &&
			    (p[strlen(c)] == ' ' || p[strlen(c)] == '\n' || p[strlen(c)] == '\0'))
				have = true;
		if (have)
			continue;
		/* One at a time: one controller refusing (e.g. cpu with a
		 * realtime task) must not keep the others off. Applying a
		 * resource of a missing controller then fails by file name. */
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg_writef(parent, "cgroup.subtree_control", &e2, "+%s", c) < 0)
			log_debug(2, "cgroup: enable controller failed",
				  "dir=%s controller=%s error=\"%s\"", parent, c,
				  ndl_error_msg(&e2));
		ndl_error_clear(&e2);
	}
	return 0;
}

static const char *num_or_max(char *buf, size_t size, int64_t v)
{
	if (v < 0)
		return "max";
	snprintf(buf, size, "%" PRId64, v);
	return buf;
}

static int v2_memory(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	const char *dir = cg->unified_dir;
	/* runc's fs2 ignores the v1-only knobs (kernel, kernelTCP,
	 * swappiness, disableOOMKiller, useHierarchy): there is no v2 file. */
	int64_t mem = r->memory.has_limit ? r->memory.limit : 0;
	int64_t swap = r->memory.has_swap ? r->memory.swap : 0;
	int64_t resv = r->memory.has_reservation ? r->memory.reservation : 0;
	if (mem == 0 && swap == 0 && resv == 0)
		return 0;
	bool swap_set;
	int64_t swapv;
	if (cgroup_swap_v2_value(swap != 0, swap, mem != 0, mem, &swap_set, &swapv, err) < 0)
		return -1;
	char buf[32];
	const char *swap_str = NULL;
	if (swap_set && swapv != 0)
		swap_str = num_or_max(buf, sizeof(buf), swapv);
	else if (swap_set && swapv == 0 && swap > 0)
		swap_str = "0"; /* memory == swap: no swap at all */
	if (swap_str) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg_write(dir, "memory.swap.max", swap_str, &e2) < 0) {
			/* Without swap accounting, "unlimited" and "none"
			 * are already true. */
			if (!(e2.code == ENOENT &&
			      (strcmp(swap_str, "max") == 0 || strcmp(swap_str, "0") == 0))) {
				if (err) {
					ndl_error_clear(err);
					*err = e2;
				} else {
					ndl_error_clear(&e2);
				}
				return -1;
			}
			ndl_error_clear(&e2);
		}
	}
	char b2[32];
	if (mem != 0 && cg_write(dir, "memory.max", num_or_max(b2, sizeof(b2), mem), err) < 0)
		return -1;
	if (resv != 0 && cg_write(dir, "memory.low", num_or_max(b2, sizeof(b2), resv), err) < 0)
		return -1;
	return 0;
}

static int v2_pids(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	if (!r->pids.has_limit || r->pids.limit == 0)
		return 0;
	char buf[32];
	return cg_write(cg->unified_dir, "pids.max", num_or_max(buf, sizeof(buf), r->pids.limit),
			err);
}

static int write_io_max(const char *dir, const char *key, const struct cgroup_throttle_device *d,
			size_t n, ndl_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (cg_writef(dir, "io.max", err, "%" PRId64 ":%" PRId64 " %s=%" PRIu64, d[i].major,
			      d[i].minor, key, d[i].rate) < 0)
			return -1;
	return 0;
}

static int v2_io(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	const char *dir = cg->unified_dir;
	bool bfq = cg_exists(dir, "io.bfq.weight");
	if (r->blkio.has_weight && r->blkio.weight) {
		/* BFQ takes blkio's 10-1000 scale as is; io.weight wants
		 * 1-10000. */
		if (bfq) {
			if (cg_writef(dir, "io.bfq.weight", err, "%u", (unsigned)r->blkio.weight) <
			    0)
				return -1;
		} else if (cg_writef(dir, "io.weight", err, "default %" PRIu64,
				     cgroup_blkio_weight_to_io_weight(r->blkio.weight)) < 0) {
			return -1;
		}
	}
	for (size_t i = 0; i < r->blkio.n_weight_device; i++) {
		const struct cgroup_weight_device *w = &r->blkio.weight_device[i];
		if (!w->has_weight)
			continue; /* leaf weights have no v2 equivalent */
		if (bfq) {
			if (cg_writef(dir, "io.bfq.weight", err, "%" PRId64 ":%" PRId64 " %u",
				      w->major, w->minor, (unsigned)w->weight) < 0)
				return -1;
		} else if (cg_writef(dir, "io.weight", err, "%" PRId64 ":%" PRId64 " %" PRIu64,
				     w->major, w->minor,
				     cgroup_blkio_weight_to_io_weight(w->weight)) < 0) {
			return -1;
		}
	}
	if (write_io_max(dir, "rbps", r->blkio.throttle_read_bps, r->blkio.n_throttle_read_bps,
			 err) < 0 ||
	    write_io_max(dir, "wbps", r->blkio.throttle_write_bps, r->blkio.n_throttle_write_bps,
			 err) < 0 ||
	    write_io_max(dir, "riops", r->blkio.throttle_read_iops, r->blkio.n_throttle_read_iops,
			 err) < 0 ||
	    write_io_max(dir, "wiops", r->blkio.throttle_write_iops, r->blkio.n_throttle_write_iops,
			 err) < 0)
		return -1;
	return 0;
}

static int v2_cpu(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	const char *dir = cg->unified_dir;
	if ((r->cpu.has_realtime_period && r->cpu.realtime_period) ||
	    (r->cpu.has_realtime_runtime && r->cpu.realtime_runtime))
		return ndl_error_setf(
		    err, ENOTSUP,
		    "cpu.realtimePeriod/realtimeRuntime: not supported with cgroup v2");
	if (r->cpu.has_shares && r->cpu.shares &&
	    cg_writef(dir, "cpu.weight", err, "%" PRIu64, cgroup_shares_to_weight(r->cpu.shares)) <
		0)
		return -1;
	if (r->cpu.has_idle && cg_writef(dir, "cpu.idle", err, "%" PRId64, r->cpu.idle) < 0)
		return -1;
	bool has_quota = r->cpu.has_quota && r->cpu.quota != 0;
	bool has_period = r->cpu.has_period && r->cpu.period != 0;
	if (has_quota || has_period) {
		int64_t quota = has_quota ? r->cpu.quota : -1;
		if (!has_quota) {
			/* Only the period changes (an update): keep the
			 * quota in force rather than lifting it. */
			cleanup_free char *cur = NULL;
			if (cg_read(dir, "cpu.max", &cur, err) < 0)
				return -1;
			uint64_t q;
			if (cg_parse_u64(cur, &q) == 0 && q != CGROUP_MAX)
				quota = (int64_t)q;
		}
		char buf[64];
		cgroup_cpu_max_string(true, quota, has_period ? r->cpu.period : 0, buf,
				      sizeof(buf));
		if (cg_write(dir, "cpu.max", buf, err) < 0)
			return -1;
	}
	/* After cpu.max: the kernel checks burst against the quota. */
	if (r->cpu.has_burst && cg_writef(dir, "cpu.max.burst", err, "%" PRIu64, r->cpu.burst) < 0)
		return -1;
	return 0;
}

static int v2_cpuset(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	if (r->cpu.cpus && cg_write(cg->unified_dir, "cpuset.cpus", r->cpu.cpus, err) < 0)
		return -1;
	if (r->cpu.mems && cg_write(cg->unified_dir, "cpuset.mems", r->cpu.mems, err) < 0)
		return -1;
	return 0;
}

static int v2_hugetlb(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	for (size_t i = 0; i < r->n_hugepages; i++) {
		const struct cgroup_hugepage_limit *h = &r->hugepages[i];
		cleanup_free char *f = xasprintf("hugetlb.%s.max", h->page_size);
		if (cg_writef(cg->unified_dir, f, err, "%" PRIu64, h->limit) < 0)
			return -1;
		cleanup_free char *rf = xasprintf("hugetlb.%s.rsvd.max", h->page_size);
		if (cg_exists(cg->unified_dir, rf) &&
		    cg_writef(cg->unified_dir, rf, err, "%" PRIu64, h->limit) < 0)
			return -1;
	}
	return 0;
}

/* A unified key names a file in this cgroup: "<controller>.<knob>". */
static int check_unified_key(const char *key, ndl_error_t *err)
{
	const char *dot = strchr(key, '.');
	if (!*key || strchr(key, '/') || !dot || dot == key || !dot[1] || strstr(key, ".."))
		return ndl_error_setf(err, EINVAL, "field \"unified.%s\": invalid cgroup file name",
				      key);
	static const char *const forbidden[] = {"cgroup.procs",
						"cgroup.threads",
						"cgroup.subtree_control",
						"cgroup.kill",
						"cgroup.freeze",
						"cgroup.type",
						NULL};
	for (size_t i = 0; forbidden[i]; i++)
		if (strcmp(key, forbidden[i]) == 0)
			return ndl_error_setf(
			    err, EINVAL, "field \"unified.%s\": may not be set as a resource", key);
	return 0;
}

static int v2_apply(struct cgroup *cg, const struct cgroup_resources *r, ndl_error_t *err)
{
	if (r->network.has_class_id || r->network.n_priorities)
		return ndl_error_setf(
		    err, ENOTSUP,
		    "linux.resources.network: net_cls/net_prio do not exist in cgroup v2");
	/* runc's fs2 order. */
	if (v2_pids(cg, r, err) < 0 || v2_memory(cg, r, err) < 0 || v2_io(cg, r, err) < 0 ||
	    v2_cpu(cg, r, err) < 0 || v2_cpuset(cg, r, err) < 0 || v2_hugetlb(cg, r, err) < 0)
		return -1;
	if (r->n_devices &&
	    cg_devices_bpf_apply(cg->unified_dir, r->devices, r->n_devices, err) < 0)
		return ndl_error_wrap(err, "linux.resources.devices");
	for (size_t i = 0; i < r->n_unified; i++) {
		if (check_unified_key(r->unified[i].key, err) < 0)
			return -1;
		if (cg_write(cg->unified_dir, r->unified[i].key, r->unified[i].value, err) < 0) {
			if (err && err->code == ENOENT)
				return ndl_error_wrap(
				    err, "unified.%s: controller not enabled or no such file",
				    r->unified[i].key);
			return -1;
		}
	}
	return 0;
}

/* A stats file missing means its controller is not enabled: leave zeros. */
static int read_opt(const char *dir, const char *file, char **ret, ndl_error_t *err)
{
	if (!cg_exists(dir, file))
		return 0;
	int r = cg_read(dir, file, ret, err);
	return r < 0 ? r : 1;
}

static int v2_stats(struct cgroup *cg, struct cgroup_stats *st, ndl_error_t *err)
{
	const char *d = cg->unified_dir;
	cleanup_free char *cpu = NULL, *mstat = NULL, *events = NULL;
	int r;
	if ((r = read_opt(d, "cpu.stat", &cpu, err)) < 0)
		return -1;
	if (r > 0) {
		uint64_t v;
		if (cg_kv_u64(cpu, "usage_usec", &v))
			st->cpu.usage_ns = v * 1000;
		if (cg_kv_u64(cpu, "user_usec", &v))
			st->cpu.user_ns = v * 1000;
		if (cg_kv_u64(cpu, "system_usec", &v))
			st->cpu.system_ns = v * 1000;
		cg_kv_u64(cpu, "nr_periods", &st->cpu.nr_periods);
		cg_kv_u64(cpu, "nr_throttled", &st->cpu.nr_throttled);
		if (cg_kv_u64(cpu, "throttled_usec", &v))
			st->cpu.throttled_ns = v * 1000;
	}
	if (cg_exists(d, "memory.current")) {
		if (cg_read_u64(d, "memory.current", &st->memory.usage, err) < 0 ||
		    cg_read_u64(d, "memory.max", &st->memory.limit, err) < 0)
			return -1;
		if (cg_exists(d, "memory.peak") &&
		    cg_read_u64(d, "memory.peak", &st->memory.max_usage, err) < 0)
			return -1;
		if (cg_exists(d, "memory.swap.current") &&
		    cg_read_u64(d, "memory.swap.current", &st->memory.swap_usage, err) < 0)
			return -1;
		if (cg_read(d, "memory.stat", &mstat, err) < 0 ||
		    cg_read(d, "memory.events", &events, err) < 0)
			return -1;
		cg_kv_u64(mstat, "anon", &st->memory.rss);
		cg_kv_u64(mstat, "file", &st->memory.cache);
		cg_kv_u64(mstat, "inactive_file", &st->memory.inactive_file);
		cg_kv_u64(mstat, "active_file", &st->memory.active_file);
		cg_kv_u64(mstat, "pgfault", &st->memory.pgfault);
		cg_kv_u64(mstat, "pgmajfault", &st->memory.pgmajfault);
		st->memory.working_set = st->memory.usage > st->memory.inactive_file
					     ? st->memory.usage - st->memory.inactive_file
					     : 0;
		cg_kv_u64(events, "max", &st->memory.failcnt);
		cg_kv_u64(events, "oom", &st->memory.oom_events);
		cg_kv_u64(events, "oom_kill", &st->memory.oom_kill);
	}
	if (cg_exists(d, "pids.current")) {
		if (cg_read_u64(d, "pids.current", &st->pids.current, err) < 0 ||
		    cg_read_u64(d, "pids.max", &st->pids.limit, err) < 0)
			return -1;
	}
	return 0;
}

static int v2_oom_watch_fd(struct cgroup *cg, int *ret_fd, ndl_error_t *err)
{
	cleanup_close int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return ndl_error_set(err, errno, "inotify_init1");
	cleanup_free char *path = xasprintf("%s/memory.events", cg->unified_dir);
	/* cgroupfs signals changes of memory.events as IN_MODIFY. */
	if (inotify_add_watch(fd, path, IN_MODIFY) < 0)
		return ndl_error_set(err, errno, "inotify watch %s", path);
	*ret_fd = steal_fd(&fd);
	return 0;
}

static int v2_oom_kill_count(struct cgroup *cg, uint64_t *ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	if (cg_read(cg->unified_dir, "memory.events", &buf, err) < 0)
		return -1;
	uint64_t v = 0;
	if (!cg_kv_u64(buf, "oom_kill", &v))
		return ndl_error_setf(err, EINVAL, "%s/memory.events: no oom_kill line",
				      cg->unified_dir);
	*ret = v;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int v2_is_frozen(struct cgroup *cg, bool *ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	uint64_t v = 0;
	if (cg_exists(cg->unified_dir, "cgroup.events")) {
		if (cg_read(cg->unified_dir, "cgroup.events", &buf, err) < 0)
			return -1;
		if (cg_kv_u64(buf, "frozen", &v)) {
			*ret = v != 0;
			return 0;
		}
	}
	if (cg_read_u64(cg->unified_dir, "cgroup.freeze", &v, err) < 0)
		return -1;
	*ret = v != 0;
	return 0;
}

static int v2_set_frozen(struct cgroup *cg, bool frozen, ndl_error_t *err)
{
	if (cg_write(cg->unified_dir, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
		return -1;
	if (!cg_exists(cg->unified_dir, "cgroup.events"))
		return 0;
	/* cgroup.freeze only requests; cgroup.events says when done. */
	int64_t deadline = mono_ms() + FREEZE_TIMEOUT_MS;
	long delay = 100;
	for (;;) {
		bool now;
		if (v2_is_frozen(cg, &now, err) < 0)
			return -1;
		if (now == frozen)
			return 0;
		if (mono_ms() >= deadline)
			break;
		struct timespec ts = {0, delay * 1000};
		nanosleep(&ts, NULL);
		if (delay < 10000)
			delay *= 2;
	}
	if (frozen)
		cg_write(cg->unified_dir, "cgroup.freeze", "0", NULL);
	return ndl_error_setf(err, ETIMEDOUT, "%s: cgroup.events not frozen %d after %d ms",
			      cg->unified_dir, frozen, FREEZE_TIMEOUT_MS);
}

static int v2_kill(struct cgroup *cg, ndl_error_t *err)
{
	if (!cg_exists(cg->unified_dir, "cgroup.kill"))
		return -ENOTSUP; /* kernel < 5.14: the caller freezes and signals */
	return cg_write(cg->unified_dir, "cgroup.kill", "1", err);
}

const struct cgroup_ops cgroup_ops_v2 = {
    .name = "v2",
    .prepare_dir = v2_prepare_dir,
    .apply = v2_apply,
    .stats = v2_stats,
    .oom_watch_fd = v2_oom_watch_fd,
    .oom_kill_count = v2_oom_kill_count,
    .set_frozen = v2_set_frozen,
    .is_frozen = v2_is_frozen,
    .kill = v2_kill,
};
