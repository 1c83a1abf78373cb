/* The cgroup v1 driver (also hybrid: the v1 hierarchies carry resources,
 * the cgroup2 mount only tracks processes). Writes follow runc's fs driver
 * so the same config behaves the same. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define FREEZE_TIMEOUT_MS 5000
/* v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes. */
#define V1_UNLIMITED_MIN 0x7FFFFFFFFFFFF000ULL

static int need_dir(struct cgroup *cg, const char *controller, const char *what,
		    const char **ret_dir, ndl_error_t *err)
{
	const char *d = cg_v1_dir(cg, controller);
	if (!d)
		return ndl_error_setf(
		    err, ENOTSUP, "%s needs the cgroup v1 \"%s\" controller, which is not mounted",
		    what, controller);
	*ret_dir = d;
	return 0;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			return false;
	return true;
}

/* A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks:
 * copy them from the parent, level by level, as runc does. */
static int v1_prepare_dir(struct cgroup *cg, size_t hier, const char *parent, const char *dir,
			  ndl_error_t *err)
{
	if (hier == CG_UNIFIED || !cg_hier_has(cg->mgr->hier[hier].controllers, "cpuset"))
		return 0;
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *cur = NULL;
		if (cg_read(dir, files[i], &cur, err) < 0)
			return ndl_error_wrap(err, "cpuset init");
		if (!blank(cur))
			continue;
		cleanup_free char *val = NULL;
		if (cg_read(parent, files[i], &val, err) < 0)
			return ndl_error_wrap(err, "cpuset init");
		size_t l = strlen(val);
		while (l && (val[l - 1] == '\n' || val[l - 1] == ' '))
			val[--l] = '\0';
		if (!*val)
			continue;
		if (cg_write(dir, files[i], val, err) < 0)
			return ndl_error_wrap(err, "cpuset init");
	}
	return 0;
}

static int set_memory(const char *dir, int64_t v, ndl_error_t *err)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	int r = cg_write(dir, "memory.limit_in_bytes", buf, err);
	if (r < 0 && err && err->code == EBUSY) {
		uint64_t usage = 0, peak = 0;
		cg_read_u64(dir, "memory.usage_in_bytes", &usage, NULL);
		cg_read_u64(dir, "memory.max_usage_in_bytes", &peak, NULL);
		return ndl_error_setf(err, EBUSY,
				      "unable to set memory limit to %" PRId64
				      " (current usage: %" PRIu64 ", peak usage: %" PRIu64 ")",
				      v, usage, peak);
	}
	return r;
}

static int set_swap(const char *dir, int64_t v, ndl_error_t *err)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cg_write(dir, "memory.memsw.limit_in_bytes", buf, err);
}

/* runc's setMemoryAndSwap: memsw must stay >= limit at every step, so
 * raise memsw first when growing and lower limit first when shrinking. */
static int v1_memory_and_swap(const char *dir, const struct cgroup_resources *res, ndl_error_t *err)
{
	int64_t mem = res->memory.has_limit ? res->memory.limit : 0;
	int64_t swap = res->memory.has_swap ? res->memory.swap : 0;
	if (mem == -1 && swap == 0 && cg_exists(dir, "memory.memsw.limit_in_bytes"))
		swap = -1; /* unlimited memory means unlimited memory+swap */
	if (mem != 0 && swap != 0) {
		uint64_t cur;
		if (cg_read_u64(dir, "memory.limit_in_bytes", &cur, err) < 0)
			return -1;
		if (swap == -1 || cur < (uint64_t)swap) {
			if (set_swap(dir, swap, err) < 0 || set_memory(dir, mem, err) < 0)
				return -1;
			return 0;
		}
	}
	if (mem != 0 && set_memory(dir, mem, err) < 0)
		return -1;
	if (swap != 0 && set_swap(dir, swap, err) < 0)
		return -1;
	return 0;
}

static bool memory_set(const struct cgroup_resources *res)
{
	return res->memory.has_limit || res->memory.has_swap || res->memory.has_reservation ||
	       res->memory.has_kernel_tcp || res->memory.has_swappiness ||
	       res->memory.has_disable_oom_killer || res->memory.has_use_hierarchy;
}

static int v1_memory(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (res->memory.has_kernel)
		/* Kernel memory limits are deprecated in the OCI spec and
		 * gone from the kernel (5.16+); runc ignores them too. */
		log_debug(3, "ignoring linux.resources.memory.kernel", "cgroup=%s", cg->path);
	if (!memory_set(res))
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "memory", "memory limits", &dir, err) < 0)
		return -1;
	if ((res->memory.has_limit || res->memory.has_swap) &&
	    v1_memory_and_swap(dir, res, err) < 0)
		return -1;
	if (res->memory.has_reservation && res->memory.reservation != 0 &&
	    cg_writef(dir, "memory.soft_limit_in_bytes", err, "%" PRId64, res->memory.reservation) <
		0)
		return -1;
	if (res->memory.has_kernel_tcp && res->memory.kernel_tcp != 0 &&
	    cg_writef(dir, "memory.kmem.tcp.limit_in_bytes", err, "%" PRId64,
		      res->memory.kernel_tcp) < 0)
		return -1;
	if (res->memory.has_disable_oom_killer &&
	    cg_write(dir, "memory.oom_control", res->memory.disable_oom_killer ? "1" : "0", err) <
		0)
		return -1;
	if (res->memory.has_swappiness) {
		if (res->memory.swappiness > 100)
			return ndl_error_setf(err, EINVAL,
					      "invalid memory swappiness %" PRIu64
					      ": valid range is 0-100",
					      res->memory.swappiness);
		if (cg_writef(dir, "memory.swappiness", err, "%" PRIu64, res->memory.swappiness) <
		    0)
			return -1;
	}
	if (res->memory.has_use_hierarchy) {
		/* Modern kernels fix use_hierarchy at 1 and reject writes:
		 * only write when it would change something. */
		uint64_t cur = 0;
		if (cg_read_u64(dir, "memory.use_hierarchy", &cur, err) < 0)
			return -1;
		if ((cur != 0) != res->memory.use_hierarchy &&
		    cg_write(dir, "memory.use_hierarchy", res->memory.use_hierarchy ? "1" : "0",
			     err) < 0)
			return -1;
	}
	return 0;
}

static int v1_cpu(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	const struct cgroup_resources *r = res;
	bool any = (r->cpu.has_shares && r->cpu.shares) || (r->cpu.has_quota && r->cpu.quota) ||
		   (r->cpu.has_period && r->cpu.period) || r->cpu.has_burst || r->cpu.has_idle ||
		   (r->cpu.has_realtime_period && r->cpu.realtime_period) ||
		   (r->cpu.has_realtime_runtime && r->cpu.realtime_runtime);
	if (!any)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "cpu", "cpu limits", &dir, err) < 0)
		return -1;
	if (r->cpu.has_shares && r->cpu.shares) {
		if (cg_writef(dir, "cpu.shares", err, "%" PRIu64, r->cpu.shares) < 0)
			return -1;
		/* The kernel clamps out-of-range shares silently. */
		uint64_t got;
		if (cg_read_u64(dir, "cpu.shares", &got, err) < 0)
			return -1;
		if (r->cpu.shares > got)
			return ndl_error_setf(err, EINVAL,
					      "the maximum allowed cpu-shares is %" PRIu64, got);
		if (r->cpu.shares < got)
			return ndl_error_setf(err, EINVAL,
					      "the minimum allowed cpu-shares is %" PRIu64, got);
	}
	bool period_pending = false;
	if (r->cpu.has_period && r->cpu.period) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg_writef(dir, "cpu.cfs_period_us", &e2, "%" PRIu64, r->cpu.period) < 0) {
			/* A smaller period can exceed the parent's quota
			 * ratio with the old quota: retry after the quota. */
			if (e2.code != EINVAL || !(r->cpu.has_quota && r->cpu.quota)) {
				if (err) {
					ndl_error_clear(err);
					*err = e2;
				} else {
					ndl_error_clear(&e2);
				}
				return -1;
			}
			ndl_error_clear(&e2);
			period_pending = true;
		}
	}
	if (r->cpu.has_quota && r->cpu.quota) {
		if (cg_writef(dir, "cpu.cfs_quota_us", err, "%" PRId64, r->cpu.quota) < 0)
			return -1;
		if (period_pending &&
		    cg_writef(dir, "cpu.cfs_period_us", err, "%" PRIu64, r->cpu.period) < 0)
			return -1;
	}
	if (r->cpu.has_burst &&
	    cg_writef(dir, "cpu.cfs_burst_us", err, "%" PRIu64, r->cpu.burst) < 0)
		return -1;
	if (r->cpu.has_idle && cg_writef(dir, "cpu.idle", err, "%" PRId64, r->cpu.idle) < 0)
		return -1;
	if (r->cpu.has_realtime_period && r->cpu.realtime_period &&
	    cg_writef(dir, "cpu.rt_period_us", err, "%" PRIu64, r->cpu.realtime_period) < 0)
		return -1;
	if (r->cpu.has_realtime_runtime && r->cpu.realtime_runtime &&
	    cg_writef(dir, "cpu.rt_runtime_us", err, "%" PRId64, r->cpu.realtime_runtime) < 0)
		return -1;
	return 0;
}

static int v1_cpuset(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (!res->cpu.cpus && !res->cpu.mems)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "cpuset", "cpu.cpus/cpu.mems", &dir, err) < 0)
		return -1;
	if (res->cpu.cpus && cg_write(dir, "cpuset.cpus", res->cpu.cpus, err) < 0)
		return -1;
	if (res->cpu.mems && cg_write(dir, "cpuset.mems", res->cpu.mems, err) < 0)
		return -1;
	return 0;
}

static void dev_num(char *buf, size_t size, int64_t n)
{
	if (n < 0)
		snprintf(buf, size, "*");
	else
		snprintf(buf, size, "%" PRId64, n);
}

static int v1_devices(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (!res->n_devices)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "devices", "device rules", &dir, err) < 0)
		return -1;
	/* The kernel takes one rule per write(): on cgroupfs each of the two
	 * files is opened once for all its rules (a container has a dozen).
	 * Fake trees are plain files that must show the last rule written,
	 * so there every rule goes through cg_write (open + O_TRUNC). */
	bool reuse = !cg->mgr->fake;
	cleanup_close int deny_fd = -1;
	cleanup_close int allow_fd = -1;
	for (size_t i = 0; i < res->n_devices; i++) {
		const struct cgroup_device_rule *d = &res->devices[i];
		char maj[24], min[24];
		dev_num(maj, sizeof(maj), d->major);
		dev_num(min, sizeof(min), d->minor);
		/* "a" means every device: the kernel wants it bare. */
		cleanup_free char *val = d->type == 'a'
					     ? xstrdup("a")
					     : xasprintf("%c %s:%s %s", d->type, maj, min,
							 d->access[0] ? d->access : "rwm");
		const char *file = d->allow ? "devices.allow" : "devices.deny";
		if (!reuse) {
			if (cg_write(dir, file, val, err) < 0)
				return -1;
			continue;
		}
		int *fd = d->allow ? &allow_fd : &deny_fd;
		if (*fd < 0) {
			cleanup_free char *path = xasprintf("%s/%s", dir, file);
			*fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
			if (*fd < 0)
				return ndl_error_set(err, errno, "open %s", path);
		}
		size_t len = strlen(val);
		ssize_t n;
		while ((n = write(*fd, val, len)) < 0 && errno == EINTR)
			;
		if (n < 0)
			return ndl_error_set(err, errno, "write %s to %s/%s", val, dir, file);
		if ((size_t)n != len)
			return ndl_error_setf(err, EIO, "short write to %s/%s", dir, file);
	}
	return 0;
}

static int v1_pids(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (!res->pids.has_limit || res->pids.limit == 0)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "pids", "pids.limit", &dir, err) < 0)
		return -1;
	if (res->pids.limit < 0)
		return cg_write(dir, "pids.max", "max", err);
	return cg_writef(dir, "pids.max", err, "%" PRId64, res->pids.limit);
}

static int write_devs(const char *dir, const char *file, const struct cgroup_throttle_device *d,
		      size_t n, ndl_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (cg_writef(dir, file, err, "%" PRId64 ":%" PRId64 " %" PRIu64, d[i].major,
			      d[i].minor, d[i].rate) < 0)
			return -1;
	return 0;
}

static int v1_blkio(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	const struct cgroup_resources *r = res;
	if (!r->blkio.has_weight && !r->blkio.has_leaf_weight && !r->blkio.n_weight_device &&
	    !r->blkio.n_throttle_read_bps && !r->blkio.n_throttle_write_bps &&
	    !r->blkio.n_throttle_read_iops && !r->blkio.n_throttle_write_iops)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "blkio", "blockIO", &dir, err) < 0)
		return -1;
	/* Kernels with only BFQ (no CFQ) expose the weight as blkio.bfq.*. */
	bool bfq = !cg_exists(dir, "blkio.weight") && cg_exists(dir, "blkio.bfq.weight");
	const char *wfile = bfq ? "blkio.bfq.weight" : "blkio.weight";
	const char *wdfile = bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
	if (r->blkio.has_weight && r->blkio.weight &&
	    cg_writef(dir, wfile, err, "%u", (unsigned)r->blkio.weight) < 0)
		return -1;
	if (r->blkio.has_leaf_weight && r->blkio.leaf_weight &&
	    cg_writef(dir, "blkio.leaf_weight", err, "%u", (unsigned)r->blkio.leaf_weight) < 0)
		return -1;
	for (size_t i = 0; i < r->blkio.n_weight_device; i++) {
		const struct cgroup_weight_device *w = &r->blkio.weight_device[i];
		if (w->has_weight && cg_writef(dir, wdfile, err, "%" PRId64 ":%" PRId64 " %u",
					       w->major, w->minor, (unsigned)w->weight) < 0)
			return -1;
		if (w->has_leaf_weight &&
		    cg_writef(dir, "blkio.leaf_weight_device", err, "%" PRId64 ":%" PRId64 " %u",
			      w->major, w->minor, (unsigned)w->leaf_weight) < 0)
			return -1;
	}
	if (write_devs(dir, "blkio.throttle.read_bps_device", r->blkio.throttle_read_bps,
		       r->blkio.n_throttle_read_bps, err) < 0 ||
	    write_devs(dir, "blkio.throttle.write_bps_device", r->blkio.throttle_write_bps,
		       r->blkio.n_throttle_write_bps, err) < 0 ||
	    write_devs(dir, "blkio.throttle.read_iops_device", r->blkio.throttle_read_iops,
		       r->blkio.n_throttle_read_iops, err) < 0 ||
	    write_devs(dir, "blkio.throttle.write_iops_device", r->blkio.throttle_write_iops,
		       r->blkio.n_throttle_write_iops, err) < 0)
		return -1;
	return 0;
}

static int v1_hugetlb(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (!res->n_hugepages)
		return 0;
	const char *dir = NULL;
	if (need_dir(cg, "hugetlb", "hugepageLimits", &dir, err) < 0)
		return -1;
	for (size_t i = 0; i < res->n_hugepages; i++) {
		const struct cgroup_hugepage_limit *h = &res->hugepages[i];
		cleanup_free char *f = xasprintf("hugetlb.%s.limit_in_bytes", h->page_size);
		if (cg_writef(dir, f, err, "%" PRIu64, h->limit) < 0)
			return -1;
		/* Reservations are limited too when the kernel has them, so
		 * a reservation cannot dodge the limit (as runc). */
		cleanup_free char *rf = xasprintf("hugetlb.%s.rsvd.limit_in_bytes", h->page_size);
		if (cg_exists(dir, rf) && cg_writef(dir, rf, err, "%" PRIu64, h->limit) < 0)
			return -1;
	}
	return 0;
}

static int v1_network(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	const char *dir = NULL;
	if (res->network.has_class_id) {
		if (need_dir(cg, "net_cls", "network.classID", &dir, err) < 0)
			return -1;
		if (cg_writef(dir, "net_cls.classid", err, "%" PRIu32, res->network.class_id) < 0)
			return -1;
	}
	if (res->network.n_priorities) {
		if (need_dir(cg, "net_prio", "network.priorities", &dir, err) < 0)
			return -1;
		for (size_t i = 0; i < res->network.n_priorities; i++)
			if (cg_writef(dir, "net_prio.ifpriomap", err, "%s %" PRIu32,
				      res->network.priorities[i].name,
				      res->network.priorities[i].priority) < 0)
				return -1;
	}
	return 0;
}

static int v1_apply(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	if (res->n_unified)
		return ndl_error_setf(
		    err, ENOTSUP,
		    "unified resources (%s...) need cgroup v2; this host uses cgroup %s",
		    res->unified[0].key, cgroup_mode_name(cg->mgr->mode));
	/* runc's subsystem order. */
	if (v1_cpuset(cg, res, err) < 0 || v1_devices(cg, res, err) < 0 ||
	    v1_memory(cg, res, err) < 0 || v1_cpu(cg, res, err) < 0 || v1_pids(cg, res, err) < 0 ||
	    v1_blkio(cg, res, err) < 0 || v1_hugetlb(cg, res, err) < 0 ||
	    v1_network(cg, res, err) < 0)
		return -1;
	return 0;
}

static int v1_stats(struct cgroup *cg, struct cgroup_stats *st, ndl_error_t *err)
{
	const char *d;
	if ((d = cg_v1_dir(cg, "cpuacct"))) {
		if (cg_read_u64(d, "cpuacct.usage", &st->cpu.usage_ns, err) < 0)
			return -1;
		if (cg_exists(d, "cpuacct.usage_user") && cg_exists(d, "cpuacct.usage_sys")) {
			if (cg_read_u64(d, "cpuacct.usage_user", &st->cpu.user_ns, err) < 0 ||
			    cg_read_u64(d, "cpuacct.usage_sys", &st->cpu.system_ns, err) < 0)
				return -1;
		} else {
			cleanup_free char *buf = NULL;
			if (cg_read(d, "cpuacct.stat", &buf, err) < 0)
				return -1;
			long hz = sysconf(_SC_CLK_TCK);
			uint64_t u = 0, s = 0;
			cg_kv_u64(buf, "user", &u);
			cg_kv_u64(buf, "system", &s);
			st->cpu.user_ns = u * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
			st->cpu.system_ns = s * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
		}
	}
	if ((d = cg_v1_dir(cg, "cpu")) && cg_exists(d, "cpu.stat")) {
		cleanup_free char *buf = NULL;
		if (cg_read(d, "cpu.stat", &buf, err) < 0)
			return -1;
		cg_kv_u64(buf, "nr_periods", &st->cpu.nr_periods);
		cg_kv_u64(buf, "nr_throttled", &st->cpu.nr_throttled);
		cg_kv_u64(buf, "throttled_time", &st->cpu.throttled_ns);
	}
	if ((d = cg_v1_dir(cg, "memory"))) {
		if (cg_read_u64(d, "memory.usage_in_bytes", &st->memory.usage, err) < 0 ||
		    cg_read_u64(d, "memory.max_usage_in_bytes", &st->memory.max_usage, err) < 0 ||
		    cg_read_u64(d, "memory.limit_in_bytes", &st->memory.limit, err) < 0 ||
		    cg_read_u64(d, "memory.failcnt", &st->memory.failcnt, err) < 0)
			return -1;
		if (st->memory.limit >= V1_UNLIMITED_MIN)
			st->memory.limit = CGROUP_MAX;
		cleanup_free char *buf = NULL;
		if (cg_read(d, "memory.stat", &buf, err) < 0)
			return -1;
		cg_kv_u64(buf, "total_rss", &st->memory.rss);
		cg_kv_u64(buf, "total_cache", &st->memory.cache);
		cg_kv_u64(buf, "total_inactive_file", &st->memory.inactive_file);
		cg_kv_u64(buf, "total_active_file", &st->memory.active_file);
		cg_kv_u64(buf, "total_pgfault", &st->memory.pgfault);
		cg_kv_u64(buf, "total_pgmajfault", &st->memory.pgmajfault);
		st->memory.working_set = st->memory.usage > st->memory.inactive_file
					     ? st->memory.usage - st->memory.inactive_file
					     : 0;
		uint64_t memsw = 0;
		if (cg_exists(d, "memory.memsw.usage_in_bytes") &&
		    cg_read_u64(d, "memory.memsw.usage_in_bytes", &memsw, NULL) == 0 &&
		    memsw > st->memory.usage)
			st->memory.swap_usage = memsw - st->memory.usage;
		cleanup_free char *oom = NULL;
		if (cg_read(d, "memory.oom_control", &oom, err) < 0)
			return -1;
		cg_kv_u64(oom, "oom_kill", &st->memory.oom_kill);
		/* v1 has no OOM event counter; every OOM that mattered
		 * ended in a kill (or hangs under_oom with the killer off). */
		st->memory.oom_events = st->memory.oom_kill;
	}
	if ((d = cg_v1_dir(cg, "pids"))) {
		if (cg_read_u64(d, "pids.current", &st->pids.current, err) < 0 ||
		    cg_read_u64(d, "pids.max", &st->pids.limit, err) < 0)
			return -1;
	}
	return 0;
}

static int v1_oom_watch_fd(struct cgroup *cg, int *ret_fd, ndl_error_t *err)
{
	const char *dir = NULL;
	if (need_dir(cg, "memory", "OOM watch", &dir, err) < 0)
		return -1;
	cleanup_close int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return ndl_error_set(err, errno, "eventfd");
	cleanup_free char *path = xasprintf("%s/memory.oom_control", dir);
	/* The kernel keeps its own reference to the cgroup once
	 * registered; this fd is only needed for the registration. */
	cleanup_close int ofd = open(path, O_RDONLY | O_CLOEXEC);
	if (ofd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	if (cg_writef(dir, "cgroup.event_control", err, "%d %d", efd, ofd) < 0)
		return -1;
	*ret_fd = steal_fd(&efd);
	return 0;
}

static int v1_oom_kill_count(struct cgroup *cg, uint64_t *ret, ndl_error_t *err)
{
	const char *dir = NULL;
	if (need_dir(cg, "memory", "OOM kill count", &dir, err) < 0)
		return -1;
	cleanup_free char *buf = NULL;
	if (cg_read(dir, "memory.oom_control", &buf, err) < 0)
		return -1;
	uint64_t v;
	if (!cg_kv_u64(buf, "oom_kill", &v))
		return ndl_error_setf(err, ENOTSUP,
				      "%s/memory.oom_control: no oom_kill counter (kernel < 4.13)",
				      dir);
	*ret = v;
	return 0;
}

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int v1_set_frozen(struct cgroup *cg, bool frozen, ndl_error_t *err)
{
	const char *dir = NULL;
	if (need_dir(cg, "freezer", frozen ? "freeze" : "thaw", &dir, err) < 0)
		return -1;
	const char *want = frozen ? "FROZEN" : "THAWED";
	int64_t deadline = mono_ms() + FREEZE_TIMEOUT_MS;
	long delay = 100;
	for (;;) {
		/* Writing again nudges tasks that were busy (e.g. in vfork)
		 * when the first request came, as runc does. */
		if (cg_write(dir, "freezer.state", want, err) < 0)
			return -1;
		cleanup_free char *state = NULL;
		if (cg_read(dir, "freezer.state", &state, err) < 0)
			return -1;
		if (strncmp(state, want, strlen(want)) == 0)
			return 0;
		if (mono_ms() >= deadline)
			break;
		sleep_us(delay);
		if (delay < 10000)
			delay *= 2;
	}
	if (frozen)
		cg_write(dir, "freezer.state", "THAWED", NULL); /* leave it usable */
	return ndl_error_setf(err, ETIMEDOUT, "%s/freezer.state: not %s after %d ms", dir, want,
			      FREEZE_TIMEOUT_MS);
}

static int v1_is_frozen(struct cgroup *cg, bool *ret, ndl_error_t *err)
{
	const char *dir = NULL;
	if (need_dir(cg, "freezer", "freezer state", &dir, err) < 0)
		return -1;
	cleanup_free char *state = NULL;
	if (cg_read(dir, "freezer.state", &state, err) < 0)
		return -1;
	*ret = strncmp(state, "FROZEN", 6) == 0;
	return 0;
}

const struct cgroup_ops cgroup_ops_v1 = {
    .name = "v1",
    .prepare_dir = v1_prepare_dir,
    .apply = v1_apply,
    .stats = v1_stats,
    .oom_watch_fd = v1_oom_watch_fd,
    .oom_kill_count = v1_oom_kill_count,
    .set_frozen = v1_set_frozen,
    .is_frozen = v1_is_frozen,
    .kill = NULL,
};
