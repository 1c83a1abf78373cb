/* cgroups unit tests: v1<->v2 conversions, the OCI linux.resources parser,
 * and the v1 and v2 drivers' file writes and stats parsing against fake
 * cgroup trees in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "cgroups/cgroups-internal.h"
#include "cgroups/cgroups.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static char *mktree(void)
{
	char tmpl[] = "/tmp/test-cgroups-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void rmtree(char *root)
{
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(ndl_rm_rf(root, &err), 0);
	free(root);
}

static void put(const char *dir, const char *file, const char *content)
{
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(ndl_mkdir_p(dir, 0755, &err), 0);
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *get(const char *dir, const char *file)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	char *buf = NULL;
	size_t len;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_read_file(p, 1 << 20, &buf, &len, &err) < 0) {
		fail_msg("read %s: %s", p, ndl_error_msg(&err));
	}
	return buf;
}

#define assert_file(dir, file, want)                                                               \
	do {                                                                                       \
		cleanup_free char *_got = get(dir, file);                                          \
		assert_string_equal(_got, want);                                                   \
	} while (0)

static void parse(const char *json, struct cgroup_resources *res)
{
	cleanup_json json_t *j = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(ndl_json_parse(json, strlen(json), &j, &err), 0);
	int r = cgroup_resources_from_json(j, "linux.resources", res, &err);
	if (r < 0)
		fail_msg("parse: %s", ndl_error_msg(&err));
}

static char *parse_error(const char *json)
{
	cleanup_json json_t *j = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(ndl_json_parse(json, strlen(json), &j, &err), 0);
	struct cgroup_resources res;
	assert_true(cgroup_resources_from_json(j, "linux.resources", &res, &err) < 0);
	/* failure leaves nothing allocated */
	assert_null(res.devices);
	assert_int_equal(res.n_unified, 0);
	char *m = xstrdup(ndl_error_msg(&err));
	ndl_error_clear(&err);
	return m;
}

/* ---- conversions ---- */

static void test_shares_to_weight(void **state)
{
	(void)state;
	assert_int_equal(cgroup_shares_to_weight(0), 0);
	assert_int_equal(cgroup_shares_to_weight(2), 1);
	assert_int_equal(cgroup_shares_to_weight(1024), 39);
	assert_int_equal(cgroup_shares_to_weight(512), 1 + (510 * 9999) / 262142);
	assert_int_equal(cgroup_shares_to_weight(262144), 10000);
}

static void test_blkio_to_io_weight(void **state)
{
	(void)state;
	assert_int_equal(cgroup_blkio_weight_to_io_weight(0), 0);
	assert_int_equal(cgroup_blkio_weight_to_io_weight(10), 1);
	assert_int_equal(cgroup_blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
	assert_int_equal(cgroup_blkio_weight_to_io_weight(1000), 10000);
}

static void test_cpu_max_string(void **state)
{
	(void)state;
	char buf[64];
	cgroup_cpu_max_string(true, 50000, 100000, buf, sizeof(buf));
	assert_string_equal(buf, "50000 100000");
	cgroup_cpu_max_string(true, -1, 100000, buf, sizeof(buf));
	assert_string_equal(buf, "max 100000");
	cgroup_cpu_max_string(true, 20000, 0, buf, sizeof(buf));
	assert_string_equal(buf, "20000");
	cgroup_cpu_max_string(false, 0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "max");
}

static void test_swap_v2_value(void **state)
{
	(void)state;
	ndl_error_t err = NDL_ERROR_INIT;
	bool set;
	int64_t v;
	assert_int_equal(cgroup_swap_v2_value(true, 300, true, 100, &set, &v, &err), 0);
	assert_true(set);
	assert_int_equal(v, 200);
	assert_int_equal(cgroup_swap_v2_value(false, 0, true, -1, &set, &v, &err), 0);
	assert_true(set);
	assert_int_equal(v, -1); /* memory unlimited, swap unset: both unlimited */
	assert_int_equal(cgroup_swap_v2_value(true, -1, true, 100, &set, &v, &err), 0);
	assert_int_equal(v, -1);
	assert_int_equal(cgroup_swap_v2_value(false, 0, true, 100, &set, &v, &err), 0);
	assert_false(set);
	assert_int_equal(cgroup_swap_v2_value(true, 100, true, 100, &set, &v, &err), 0);
	assert_true(set);
	assert_int_equal(v, 0);
	assert_true(cgroup_swap_v2_value(true, 50, true, 100, &set, &v, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "should be >= memory limit"));
	ndl_error_clear(&err);
	assert_true(cgroup_swap_v2_value(true, 50, false, 0, &set, &v, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "without memory limit"));
	ndl_error_clear(&err);
}

/* ---- parser ---- */

static void test_parse_full(void **state)
{
	(void)state;
	struct cgroup_resources r;
	parse(
	    "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
	    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
	    "\"memory\":{\"limit\":1048576,\"reservation\":524288,\"swap\":2097152,\"kernel\":-1,"
	    "\"kernelTCP\":4096,\"swappiness\":10,\"disableOOMKiller\":true},"
	    "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"realtimeRuntime\":0,"
	    "\"cpus\":\"0-1\",\"mems\":\"0\",\"burst\":1000,\"idle\":0},"
	    "\"pids\":{\"limit\":100},"
	    "\"blockIO\":{\"weight\":500,\"leafWeight\":300,\"weightDevice\":[{\"major\":8,"
	    "\"minor\":0,\"weight\":200}],"
	    "\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}]},"
	    "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2097152}],"
	    "\"network\":{\"classID\":1048577,\"priorities\":[{\"name\":\"eth0\",\"priority\":5}]},"
	    "\"unified\":{\"memory.high\":\"1M\"}}",
	    &r);
	assert_int_equal(r.n_devices, 2);
	assert_false(r.devices[0].allow);
	assert_int_equal(r.devices[0].type, 'a');
	assert_int_equal(r.devices[0].major, -1);
	assert_int_equal(r.devices[1].type, 'c');
	assert_int_equal(r.devices[1].minor, 3);
	assert_string_equal(r.devices[1].access, "rw");
	assert_true(r.memory.has_limit && r.memory.limit == 1048576);
	assert_true(r.memory.has_swap && r.memory.swap == 2097152);
	assert_true(r.memory.has_kernel && r.memory.kernel == -1);
	assert_true(r.memory.has_swappiness && r.memory.swappiness == 10);
	assert_true(r.memory.has_disable_oom_killer && r.memory.disable_oom_killer);
	assert_false(r.memory.has_use_hierarchy);
	assert_true(r.cpu.has_shares && r.cpu.shares == 1024);
	assert_true(r.cpu.has_quota && r.cpu.quota == 50000);
	assert_true(r.cpu.has_realtime_runtime && r.cpu.realtime_runtime == 0);
	assert_false(r.cpu.has_realtime_period);
	assert_string_equal(r.cpu.cpus, "0-1");
	assert_true(r.pids.has_limit && r.pids.limit == 100);
	assert_int_equal(r.blkio.weight, 500);
	assert_int_equal(r.blkio.n_weight_device, 1);
	assert_true(r.blkio.weight_device[0].has_weight &&
		    !r.blkio.weight_device[0].has_leaf_weight);
	assert_int_equal(r.blkio.n_throttle_read_bps, 1);
	assert_int_equal(r.blkio.throttle_read_bps[0].rate, 1048576);
	assert_int_equal(r.n_hugepages, 1);
	assert_string_equal(r.hugepages[0].page_size, "2MB");
	assert_true(r.network.has_class_id && r.network.class_id == 1048577);
	assert_string_equal(r.network.priorities[0].name, "eth0");
	assert_int_equal(r.n_unified, 1);
	assert_string_equal(r.unified[0].key, "memory.high");
	cgroup_resources_free(&r);
	assert_null(r.cpu.cpus);

	parse("{}", &r);
	assert_false(r.memory.has_limit || r.cpu.has_shares || r.pids.has_limit);
	cgroup_resources_free(&r);
}

static void test_parse_errors_name_fields(void **state)
{
	(void)state;
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"{\"memory\":{\"limit\":\"1G\"}}", "linux.resources.memory.limit"},
	    {"{\"memory\":{\"limit\":-5}}", "linux.resources.memory.limit"},
	    {"{\"memory\":{\"swappiness\":101}}", "linux.resources.memory.swappiness"},
	    {"{\"cpu\":{\"shares\":-1}}", "linux.resources.cpu.shares"},
	    {"{\"cpu\":{\"cpus\":\"0;1\"}}", "linux.resources.cpu.cpus"},
	    {"{\"pids\":{}}", "limit"},
	    {"{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}",
	     "linux.resources.devices[0].access"},
	    {"{\"devices\":[{\"access\":\"r\"}]}", "allow"},
	    {"{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}", "linux.resources.devices[0].type"},
	    {"{\"devices\":[1]}", "linux.resources.devices[0]"},
	    {"{\"hugepageLimits\":[{\"pageSize\":\"../2MB\",\"limit\":1}]}", "pageSize"},
	    {"{\"hugepageLimits\":[{\"pageSize\":\"2MB\"}]}",
	     "linux.resources.hugepageLimits[0].limit"},
	    {"{\"blockIO\":{\"weight\":70000}}", "linux.resources.blockIO.weight"},
	    {"{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"rate\":1}]}}",
	     "linux.resources.blockIO.throttleReadBpsDevice[0].minor"},
	    {"{\"unified\":{\"memory.high\":5}}", "linux.resources.unified.memory.high"},
	    {"{\"unified\":{\"../x\":\"1\"}}", "invalid cgroup file name"},
	    {"{\"network\":{\"priorities\":[{\"name\":\"a b\",\"priority\":1}]}}", "name"},
	    {"{\"rdma\":{\"mlx5_0\":{\"hcaHandles\":1}}}", "linux.resources.rdma"},
	    {"[]", "expected object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *m = parse_error(cases[i].json);
		if (!strstr(m, cases[i].want))
			fail_msg("%s: error \"%s\" does not name %s", cases[i].json, m,
				 cases[i].want);
	}
}

/* ---- v1 fake tree ---- */

struct v1 {
	char *root;
	struct cgroup_manager *mgr;
};

static const char *const V1_HIER[] = {
    "cpu,cpuacct", "cpuset",  "memory",		  "pids", "blkio", "hugetlb",
    "freezer",	   "devices", "net_cls,net_prio", NULL};

static char *v1dir(struct v1 *t, const char *hier, const char *path)
{
	return xasprintf("%s/%s%s", t->root, hier, path);
}

static void v1_setup(struct v1 *t, const char *path)
{
	t->root = mktree();
	for (size_t i = 0; V1_HIER[i]; i++) {
		cleanup_free char *d = v1dir(t, V1_HIER[i], path);
		put(d, "cgroup.procs", "");
	}
	cleanup_free char *top = xasprintf("%s/cpuset", t->root);
	put(top, "cpuset.cpus", "0-3\n");
	put(top, "cpuset.mems", "0\n");
	cleanup_free char *cs = v1dir(t, "cpuset", path);
	put(cs, "cpuset.cpus", "\n");
	put(cs, "cpuset.mems", "\n");
	/* the intermediate cpuset level of a two-level path */
	if (strchr(path + 1, '/')) {
		cleanup_free char *mid = xstrndup(cs, strrchr(cs, '/') - cs);
		put(mid, "cpuset.cpus", "");
		put(mid, "cpuset.mems", "");
	}
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cgroup_manager_init_at(t->root, CGROUP_MODE_AUTO, &t->mgr, &err), 0);
	assert_int_equal(cgroup_manager_mode(t->mgr), CGROUP_MODE_V1);
}

static void v1_teardown(struct v1 *t)
{
	cgroup_manager_free(t->mgr);
	rmtree(t->root);
}

static void test_v1_create_copies_cpuset(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/kubepods/pod1");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_create(t.mgr, "kubepods//pod1/", &cg, &err), 0);
	cleanup_free char *cs = v1dir(&t, "cpuset", "/kubepods/pod1");
	cleanup_free char *mid = v1dir(&t, "cpuset", "/kubepods");
	assert_file(mid, "cpuset.cpus", "0-3");
	assert_file(cs, "cpuset.cpus", "0-3");
	assert_file(cs, "cpuset.mems", "0");
	assert_string_equal(cgroup_controller_dir(cg, "cpuset"), cs);
	cleanup_free char *cpu = v1dir(&t, "cpu,cpuacct", "/kubepods/pod1");
	assert_string_equal(cgroup_controller_dir(cg, "cpuacct"), cpu);
	assert_null(cgroup_controller_dir(cg, "rdma"));
	assert_null(cgroup_unified_dir(cg));
	assert_int_equal(cgroup_enter(cg, 1234, &err), 0);
	assert_file(cs, "cgroup.procs", "1234");
	cleanup_free char *mem = v1dir(&t, "memory", "/kubepods/pod1");
	assert_file(mem, "cgroup.procs", "1234");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_false(ndl_path_exists(cs));
	assert_true(ndl_path_exists(mid));
	cgroup_free(cg);
	v1_teardown(&t);
}

static void test_v1_apply_writes(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/c");
	cleanup_free char *cpu = v1dir(&t, "cpu,cpuacct", "/c");
	cleanup_free char *mem = v1dir(&t, "memory", "/c");
	cleanup_free char *pids = v1dir(&t, "pids", "/c");
	cleanup_free char *blk = v1dir(&t, "blkio", "/c");
	cleanup_free char *huge = v1dir(&t, "hugetlb", "/c");
	cleanup_free char *dev = v1dir(&t, "devices", "/c");
	cleanup_free char *net = v1dir(&t, "net_cls,net_prio", "/c");
	cleanup_free char *cs = v1dir(&t, "cpuset", "/c");
	put(mem, "memory.limit_in_bytes", "9223372036854771712\n");
	put(mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
	put(mem, "memory.soft_limit_in_bytes", "");
	put(mem, "memory.swappiness", "60\n");
	put(mem, "memory.oom_control", "oom_kill_disable 0\n");
	put(mem, "memory.kmem.tcp.limit_in_bytes", "");
	put(cpu, "cpu.shares", "1024\n");
	put(cpu, "cpu.cfs_quota_us", "-1\n");
	put(cpu, "cpu.cfs_period_us", "100000\n");
	put(cpu, "cpu.cfs_burst_us", "0\n");
	put(pids, "pids.max", "max\n");
	put(blk, "blkio.weight", "");
	put(blk, "blkio.leaf_weight", "");
	put(blk, "blkio.weight_device", "");
	put(blk, "blkio.throttle.read_bps_device", "");
	put(blk, "blkio.throttle.write_iops_device", "");
	put(huge, "hugetlb.2MB.limit_in_bytes", "");
	put(huge, "hugetlb.2MB.rsvd.limit_in_bytes", "");
	put(dev, "devices.allow", "");
	put(dev, "devices.deny", "");
	put(net, "net_cls.classid", "");
	put(net, "net_prio.ifpriomap", "");

	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_create(t.mgr, "/c", &cg, &err), 0);
	struct cgroup_resources r;
	parse(
	    "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
	    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":-1,\"access\":\"rw\"}],"
	    "\"memory\":{\"limit\":67108864,\"swap\":134217728,\"reservation\":33554432,"
	    "\"swappiness\":5,\"disableOOMKiller\":true,\"kernelTCP\":8192,\"kernel\":4096},"
	    "\"cpu\":{\"shares\":512,\"quota\":20000,\"period\":50000,\"burst\":1000,\"cpus\":"
	    "\"1\",\"mems\":\"0\"},"
	    "\"pids\":{\"limit\":64},"
	    "\"blockIO\":{\"weight\":300,\"leafWeight\":200,\"weightDevice\":[{\"major\":8,"
	    "\"minor\":0,\"weight\":100}],"
	    "\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}],"
	    "\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":16,\"rate\":100}]},"
	    "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}],"
	    "\"network\":{\"classID\":65537,\"priorities\":[{\"name\":\"eth0\",\"priority\":3}]}}",
	    &r);
	if (cgroup_apply(cg, &r, &err) < 0)
		fail_msg("apply: %s", ndl_error_msg(&err));
	cgroup_resources_free(&r);
	assert_file(mem, "memory.limit_in_bytes", "67108864");
	assert_file(mem, "memory.memsw.limit_in_bytes", "134217728");
	assert_file(mem, "memory.soft_limit_in_bytes", "33554432");
	assert_file(mem, "memory.swappiness", "5");
	assert_file(mem, "memory.oom_control", "1");
	assert_file(mem, "memory.kmem.tcp.limit_in_bytes", "8192");
	{
		/* kernel memory is ignored (as runc): nothing written */
		cleanup_free char *kmem = xasprintf("%s/memory.kmem.limit_in_bytes", mem);
		assert_false(ndl_path_exists(kmem));
	}
	assert_file(cpu, "cpu.shares", "512");
	assert_file(cpu, "cpu.cfs_quota_us", "20000");
	assert_file(cpu, "cpu.cfs_period_us", "50000");
	assert_file(cpu, "cpu.cfs_burst_us", "1000");
	assert_file(cs, "cpuset.cpus", "1");
	assert_file(pids, "pids.max", "64");
	assert_file(blk, "blkio.weight", "300");
	assert_file(blk, "blkio.leaf_weight", "200");
	assert_file(blk, "blkio.weight_device", "8:0 100");
	assert_file(blk, "blkio.throttle.read_bps_device", "8:0 1048576");
	assert_file(blk, "blkio.throttle.write_iops_device", "8:16 100");
	assert_file(huge, "hugetlb.2MB.limit_in_bytes", "4194304");
	assert_file(huge, "hugetlb.2MB.rsvd.limit_in_bytes", "4194304");
	assert_file(dev, "devices.deny", "a");
	assert_file(dev, "devices.allow", "c 1:* rw");
	assert_file(net, "net_cls.classid", "65537");
	assert_file(net, "net_prio.ifpriomap", "eth0 3");

	/* unlimited: memsw follows memory to -1; pids max */
	parse("{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1},\"cpu\":{\"quota\":-1}}", &r);
	assert_int_equal(cgroup_apply(cg, &r, &err), 0);
	cgroup_resources_free(&r);
	assert_file(mem, "memory.limit_in_bytes", "-1");
	assert_file(mem, "memory.memsw.limit_in_bytes", "-1");
	assert_file(pids, "pids.max", "max");
	assert_file(cpu, "cpu.cfs_quota_us", "-1");
	assert_file(cpu, "cpu.cfs_period_us", "50000"); /* untouched */

	/* unset fields are not written */
	put(cpu, "cpu.shares", "777");
	parse("{\"pids\":{\"limit\":0},\"memory\":{}}", &r);
	assert_int_equal(cgroup_apply(cg, &r, &err), 0);
	cgroup_resources_free(&r);
	assert_file(cpu, "cpu.shares", "777");
	assert_file(pids, "pids.max", "max");

	/* v2-only input is refused on v1 */
	parse("{\"unified\":{\"memory.high\":\"1\"}}", &r);
	assert_true(cgroup_apply(cg, &r, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "cgroup v2"));
	ndl_error_clear(&err);
	cgroup_resources_free(&r);

	/* a resource whose controller is missing names it */
	cleanup_free char *hroot = xasprintf("%s/hugetlb", t.root);
	ndl_rm_rf(hroot, &err);
	cgroup_free(cg);
	cgroup_manager_free(t.mgr);
	assert_int_equal(cgroup_manager_init_at(t.root, CGROUP_MODE_V1, &t.mgr, &err), 0);
	assert_int_equal(cgroup_open(t.mgr, "/c", &cg, &err), 0);
	parse("{\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":0}]}", &r);
	assert_true(cgroup_apply(cg, &r, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "\"hugetlb\" controller"));
	ndl_error_clear(&err);
	cgroup_resources_free(&r);
	cgroup_free(cg);
	v1_teardown(&t);
}

static void test_v1_stats(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/s");
	cleanup_free char *cpu = v1dir(&t, "cpu,cpuacct", "/s");
	cleanup_free char *mem = v1dir(&t, "memory", "/s");
	cleanup_free char *pids = v1dir(&t, "pids", "/s");
	put(cpu, "cpuacct.usage", "5000000000\n");
	put(cpu, "cpuacct.usage_user", "3000000000\n");
	put(cpu, "cpuacct.usage_sys", "1500000000\n");
	put(cpu, "cpu.stat", "nr_periods 10\nnr_throttled 3\nthrottled_time 7000\n");
	put(mem, "memory.usage_in_bytes", "104857600\n");
	put(mem, "memory.max_usage_in_bytes", "209715200\n");
	put(mem, "memory.limit_in_bytes", "9223372036854771712\n");
	put(mem, "memory.failcnt", "2\n");
	put(mem, "memory.memsw.usage_in_bytes", "110000000\n");
	put(mem, "memory.stat",
	    "cache 1\nrss 2\ninactive_file 5\ntotal_cache 4096000\ntotal_rss 8192000\n"
	    "total_inactive_file 4857600\ntotal_active_file 100\ntotal_pgfault "
	    "77\ntotal_pgmajfault 7\n");
	put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n");
	put(pids, "pids.current", "3\n");
	put(pids, "pids.max", "max\n");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_open(t.mgr, "/s", &cg, &err), 0);
	struct cgroup_stats st;
	if (cgroup_stats(cg, &st, &err) < 0)
		fail_msg("stats: %s", ndl_error_msg(&err));
	assert_int_equal(st.cpu.usage_ns, 5000000000ULL);
	assert_int_equal(st.cpu.user_ns, 3000000000ULL);
	assert_int_equal(st.cpu.system_ns, 1500000000ULL);
	assert_int_equal(st.cpu.nr_periods, 10);
	assert_int_equal(st.cpu.nr_throttled, 3);
	assert_int_equal(st.cpu.throttled_ns, 7000);
	assert_int_equal(st.memory.usage, 104857600);
	assert_int_equal(st.memory.max_usage, 209715200);
	assert_true(st.memory.limit == CGROUP_MAX);
	assert_int_equal(st.memory.working_set, 100000000);
	assert_int_equal(st.memory.rss, 8192000);
	assert_int_equal(st.memory.cache, 4096000);
	assert_int_equal(st.memory.pgfault, 77);
	assert_int_equal(st.memory.pgmajfault, 7);
	assert_int_equal(st.memory.swap_usage, 110000000 - 104857600);
	assert_int_equal(st.memory.failcnt, 2);
	assert_int_equal(st.memory.oom_kill, 4);
	assert_int_equal(st.pids.current, 3);
	assert_true(st.pids.limit == CGROUP_MAX);
	uint64_t n = 0;
	assert_int_equal(cgroup_oom_kill_count(cg, &n, &err), 0);
	assert_int_equal(n, 4);

	/* older kernels: cpuacct.stat in USER_HZ ticks */
	cleanup_free char *u = xasprintf("%s/cpuacct.usage_user", cpu);
	unlink(u);
	put(cpu, "cpuacct.stat", "user 250\nsystem 50\n");
	assert_int_equal(cgroup_stats(cg, &st, &err), 0);
	long hz = sysconf(_SC_CLK_TCK);
	assert_int_equal(st.cpu.user_ns, 250ULL * (1000000000ULL / (uint64_t)hz));
	assert_int_equal(st.cpu.system_ns, 50ULL * (1000000000ULL / (uint64_t)hz));

	/* a garbage number is an error that names the file */
	put(mem, "memory.usage_in_bytes", "lots\n");
	assert_true(cgroup_stats(cg, &st, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "memory.usage_in_bytes"));
	ndl_error_clear(&err);
	cgroup_free(cg);
	v1_teardown(&t);
}

static void test_v1_freeze_and_pids(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/f");
	cleanup_free char *fz = v1dir(&t, "freezer", "/f");
	put(fz, "freezer.state", "THAWED\n");
	put(fz, "cgroup.procs", "30\n10\n20\n");
	cleanup_free char *sub = xasprintf("%s/sub", fz);
	put(sub, "cgroup.procs", "20\n5\n");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_open(t.mgr, "/f", &cg, &err), 0);
	assert_int_equal(cgroup_freeze(cg, &err), 0);
	assert_file(fz, "freezer.state", "FROZEN");
	bool frozen = false;
	assert_int_equal(cgroup_is_frozen(cg, &frozen, &err), 0);
	assert_true(frozen);
	assert_int_equal(cgroup_thaw(cg, &err), 0);
	assert_file(fz, "freezer.state", "THAWED");
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(pids[0], 5);
	assert_int_equal(pids[1], 10);
	assert_int_equal(pids[2], 20);
	assert_int_equal(pids[3], 30);
	free(pids);
	cgroup_free(cg);
	v1_teardown(&t);
}

static void test_paths(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/p");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_true(cgroup_path_is_systemd("system.slice:docker:abc"));
	assert_false(cgroup_path_is_systemd("/a:b:c"));
	assert_false(cgroup_path_is_systemd("a/b"));
	static const char *const bad[] = {"", "/", "//", "/a/../b", "./a", "kubepods.slice:cri:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(cgroup_create(t.mgr, bad[i], &cg, &err) < 0);
		assert_null(cg);
		ndl_error_clear(&err);
	}
	assert_true(cgroup_create(t.mgr, "k.slice:cri:x", &cg, &err) < 0);
	assert_int_equal(err.code, ENOTSUP);
	assert_non_null(strstr(ndl_error_msg(&err), "systemd"));
	ndl_error_clear(&err);
	/* opening a missing cgroup fails; nothing gets created */
	assert_true(cgroup_open(t.mgr, "/missing", &cg, &err) < 0);
	ndl_error_clear(&err);
	cleanup_free char *m = v1dir(&t, "memory", "/missing");
	assert_false(ndl_path_exists(m));
	/* relative paths resolve below our own cgroup ("/" in a fake tree) */
	assert_int_equal(cgroup_create(t.mgr, "p", &cg, &err), 0);
	cleanup_free char *want = v1dir(&t, "memory", "/p");
	assert_string_equal(cgroup_controller_dir(cg, "memory"), want);
	assert_string_equal(cgroup_path(cg), "p");
	cgroup_free(cg);
	v1_teardown(&t);
}

/* ---- saved cgroups (what the runtime keeps in its state) ---- */

static json_t *saved_json(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s", je.text);
	return j;
}

/* Expect cgroup_open_saved to fail with a message containing want. */
static void saved_fails(const char *text, const char *want)
{
	json_t *j = saved_json(text);
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_true(cgroup_open_saved(j, &cg, &err) < 0);
	assert_null(cg);
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" lacks \"%s\"", ndl_error_msg(&err), want);
	ndl_error_clear(&err);
	json_decref(j);
}

static void test_v1_saved_roundtrip(void **state)
{
	(void)state;
	struct v1 t;
	v1_setup(&t, "/sv");
	cleanup_free char *fz = v1dir(&t, "freezer", "/sv");
	put(fz, "freezer.state", "THAWED\n");
	put(fz, "cgroup.procs", "7\n");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_open(t.mgr, "/sv", &cg, &err), 0);
	json_t *j = cgroup_save(cg);
	assert_string_equal(json_string_value(json_object_get(j, "mode")), "v1");
	assert_string_equal(json_string_value(json_object_get(j, "path")), "/sv");
	assert_true(json_is_true(json_object_get(j, "fake")));
	json_t *v1 = json_object_get(j, "v1");
	assert_int_equal(json_object_size(v1), 9);
	cleanup_free char *mem = v1dir(&t, "memory", "/sv");
	cleanup_free char *mem_mount = v1dir(&t, "memory", "");
	assert_string_equal(json_string_value(json_object_get(v1, "memory")), mem_mount);
	assert_null(json_object_get(j, "unified"));
	/* Through text, as the runtime's state file carries it. */
	cleanup_free char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = saved_json(text);
	struct cgroup *sv = NULL;
	assert_int_equal(cgroup_open_saved(j, &sv, &err), 0);
	json_decref(j);
	assert_string_equal(cgroup_path(sv), "/sv");
	assert_string_equal(cgroup_controller_dir(sv, "memory"), mem);
	cleanup_free char *cpu = v1dir(&t, "cpu,cpuacct", "/sv");
	assert_string_equal(cgroup_controller_dir(sv, "cpuacct"), cpu);
	assert_null(cgroup_unified_dir(sv));
	/* The operations a later runtime process uses work on it. */
	assert_int_equal(cgroup_freeze(sv, &err), 0);
	assert_file(fz, "freezer.state", "FROZEN");
	bool frozen = false;
	assert_int_equal(cgroup_is_frozen(sv, &frozen, &err), 0);
	assert_true(frozen);
	assert_int_equal(cgroup_thaw(sv, &err), 0);
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(cgroup_pids(sv, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], 7);
	free(pids);
	/* Saved, then a hierarchy removed by someone: destroy counts it gone. */
	cleanup_free char *huge = v1dir(&t, "hugetlb", "/sv");
	assert_int_equal(ndl_rm_rf(huge, &err), 0);
	assert_int_equal(cgroup_destroy(sv, &err), 0);
	for (size_t i = 0; V1_HIER[i]; i++) {
		cleanup_free char *d = v1dir(&t, V1_HIER[i], "/sv");
		assert_false(ndl_path_exists(d));
	}
	cgroup_free(sv);
	cgroup_free(cg);
	v1_teardown(&t);
}

static void test_saved_relative_hybrid_and_v2(void **state)
{
	(void)state;
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	/* relative path: below our own cgroup, which the prefix carries */
	json_t *j = saved_json("{\"mode\":\"hybrid\",\"path\":\"a//b/\",\"v1\":{\"memory\":"
			       "\"/sys/fs/cgroup/memory/own\",\"name=systemd\":"
			       "\"/sys/fs/cgroup/systemd/own/\"},\"unified\":"
			       "\"/sys/fs/cgroup/unified/own\"}");
	assert_int_equal(cgroup_open_saved(j, &cg, &err), 0);
	json_decref(j);
	assert_string_equal(cgroup_path(cg), "a/b");
	assert_string_equal(cgroup_controller_dir(cg, "memory"), "/sys/fs/cgroup/memory/own/a/b");
	assert_string_equal(cgroup_controller_dir(cg, "name=systemd"),
			    "/sys/fs/cgroup/systemd/own/a/b");
	assert_string_equal(cgroup_unified_dir(cg), "/sys/fs/cgroup/unified/own/a/b");
	j = cgroup_save(cg);
	assert_string_equal(json_string_value(json_object_get(j, "mode")), "hybrid");
	assert_string_equal(json_string_value(json_object_get(j, "unified")),
			    "/sys/fs/cgroup/unified/own");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "v1"), "memory")),
			    "/sys/fs/cgroup/memory/own");
	assert_null(json_object_get(j, "fake"));
	json_decref(j);
	cgroup_free(cg);
	j = saved_json("{\"mode\":\"v2\",\"path\":\"/k/c\",\"unified\":\"/sys/fs/cgroup\"}");
	assert_int_equal(cgroup_open_saved(j, &cg, &err), 0);
	json_decref(j);
	assert_string_equal(cgroup_controller_dir(cg, "memory"), "/sys/fs/cgroup/k/c");
	cgroup_free(cg);

	saved_fails("[]", "expected object");
	saved_fails("{\"path\":\"/a\",\"v1\":{\"memory\":\"/m/a\"}}", "\"mode\"");
	saved_fails("{\"mode\":\"v3\",\"path\":\"/a\"}", "\"v3\" is not v1, hybrid or v2");
	saved_fails("{\"mode\":\"v1\",\"v1\":{\"memory\":\"/m/a\"}}", "\"path\"");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\"}", "field \"v1\": required");
	saved_fails("{\"mode\":\"v2\",\"path\":\"/a\"}", "field \"unified\": required");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a/../b\",\"v1\":{\"memory\":\"/m/b\"}}",
		    "are not allowed");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/\",\"v1\":{\"memory\":\"/m\"}}", "root cgroup");
	/* directories that are not absolute or climb */
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"m\"}}",
		    "field \"v1.memory\": \"m\" is not an absolute directory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"\"}}", "v1.memory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"/m/..\"}}", "v1.memory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"/m/../x\"}}",
		    "v1.memory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"/m/./x\"}}",
		    "v1.memory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":\"/m//x\"}}", "v1.memory");
	saved_fails("{\"mode\":\"v1\",\"path\":\"/a\",\"v1\":{\"memory\":7}}",
		    "field \"v1.memory\": expected string, got integer");
	saved_fails("{\"mode\":\"v2\",\"path\":\"/a\",\"unified\":\"u\"}", "\"unified\"");
}

/* ---- v2 fake tree ---- */

static void test_v2_apply_writes(void **state)
{
	(void)state;
	char *root = mktree();
	put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put(root, "cgroup.subtree_control", "cpu memory\n");
	cleanup_free char *mid = xasprintf("%s/pod", root);
	cleanup_free char *d = xasprintf("%s/pod/ctr", root);
	put(mid, "cgroup.controllers", "cpu memory pids\n");
	put(mid, "cgroup.subtree_control", "memory\n");
	static const char *const files[] = {
	    "cpu.max",	   "cpu.weight",  "cpu.max.burst",   "memory.max",   "memory.swap.max",
	    "memory.low",  "memory.high", "pids.max",	     "io.weight",    "io.max",
	    "cpuset.cpus", "cpuset.mems", "hugetlb.2MB.max", "cgroup.procs", "cgroup.freeze",
	    "cgroup.kill", NULL};
	for (size_t i = 0; files[i]; i++)
		put(d, files[i], "");
	put(d, "cpu.max", "max 100000\n");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup_manager *mgr = NULL;
	assert_int_equal(cgroup_manager_init_at(root, CGROUP_MODE_AUTO, &mgr, &err), 0);
	assert_int_equal(cgroup_manager_mode(mgr), CGROUP_MODE_V2);
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_create(mgr, "/pod/ctr", &cg, &err), 0);
	assert_string_equal(cgroup_unified_dir(cg), d);
	assert_string_equal(cgroup_controller_dir(cg, "memory"), d);
	/* the root's delegation is never touched; pod's gains what it lacked */
	assert_file(root, "cgroup.subtree_control", "cpu memory\n");
	assert_file(mid, "cgroup.subtree_control", "+pids");

	struct cgroup_resources r;
	parse("{\"memory\":{\"limit\":67108864,\"swap\":100663296,\"reservation\":1048576,"
	      "\"swappiness\":3},"
	      "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"burst\":500,\"cpus\":"
	      "\"0-1\",\"mems\":\"0\"},"
	      "\"pids\":{\"limit\":99},"
	      "\"blockIO\":{\"weight\":500,\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,"
	      "\"rate\":42}]},"
	      "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2097152}],"
	      "\"unified\":{\"memory.high\":\"50000000\"}}",
	      &r);
	if (cgroup_apply(cg, &r, &err) < 0)
		fail_msg("apply: %s", ndl_error_msg(&err));
	cgroup_resources_free(&r);
	assert_file(d, "memory.max", "67108864");
	assert_file(d, "memory.swap.max", "33554432");
	assert_file(d, "memory.low", "1048576");
	assert_file(d, "memory.high", "50000000");
	assert_file(d, "cpu.weight", "39");
	assert_file(d, "cpu.max", "50000 100000");
	assert_file(d, "cpu.max.burst", "500");
	assert_file(d, "cpuset.cpus", "0-1");
	assert_file(d, "cpuset.mems", "0");
	assert_file(d, "pids.max", "99");
	cleanup_free char *iow =
	    xasprintf("default %llu", (unsigned long long)cgroup_blkio_weight_to_io_weight(500));
	assert_file(d, "io.weight", iow);
	assert_file(d, "io.max", "8:0 rbps=42");
	assert_file(d, "hugetlb.2MB.max", "2097152");

	/* period-only update keeps the quota in force */
	parse("{\"cpu\":{\"period\":200000}}", &r);
	assert_int_equal(cgroup_apply(cg, &r, &err), 0);
	cgroup_resources_free(&r);
	assert_file(d, "cpu.max", "50000 200000");
	/* memory == swap: no swap; unlimited */
	parse("{\"memory\":{\"limit\":1048576,\"swap\":1048576}}", &r);
	assert_int_equal(cgroup_apply(cg, &r, &err), 0);
	cgroup_resources_free(&r);
	assert_file(d, "memory.swap.max", "0");
	parse("{\"memory\":{\"limit\":-1},\"cpu\":{\"quota\":-1},\"pids\":{\"limit\":-1}}", &r);
	assert_int_equal(cgroup_apply(cg, &r, &err), 0);
	cgroup_resources_free(&r);
	assert_file(d, "memory.max", "max");
	assert_file(d, "memory.swap.max", "max");
	assert_file(d, "cpu.max", "max");
	assert_file(d, "pids.max", "max");

	/* refused on v2, naming why */
	static const char *const refused[][2] = {
	    {"{\"cpu\":{\"realtimeRuntime\":1000}}", "realtime"},
	    {"{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}",
	     "device filter"}, /* not a cgroup */
	    {"{\"network\":{\"classID\":1}}", "net_cls"},
	    {"{\"memory\":{\"swap\":1000}}", "without memory limit"},
	    {"{\"unified\":{\"cgroup.procs\":\"1\"}}", "cgroup.procs"},
	    {"{\"unified\":{\"io.latency\":\"1\"}}", "io.latency"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		parse(refused[i][0], &r);
		assert_true(cgroup_apply(cg, &r, &err) < 0);
		if (!strstr(ndl_error_msg(&err), refused[i][1]))
			fail_msg("%s: \"%s\"", refused[i][0], ndl_error_msg(&err));
		ndl_error_clear(&err);
		cgroup_resources_free(&r);
	}

	/* freeze without cgroup.events, kill through cgroup.kill */
	assert_int_equal(cgroup_freeze(cg, &err), 0);
	assert_file(d, "cgroup.freeze", "1");
	bool frozen = false;
	assert_int_equal(cgroup_is_frozen(cg, &frozen, &err), 0);
	assert_true(frozen);
	put(d, "cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(cgroup_is_frozen(cg, &frozen, &err), 0);
	assert_false(frozen);
	assert_int_equal(cgroup_thaw(cg, &err), 0);
	assert_file(d, "cgroup.freeze", "0");
	assert_int_equal(cgroup_kill_all(cg, SIGKILL, &err), 0);
	assert_file(d, "cgroup.kill", "1");

	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_false(ndl_path_exists(d));
	assert_true(ndl_path_exists(mid));
	cgroup_free(cg);
	cgroup_manager_free(mgr);
	rmtree(root);
}

static void test_v2_stats(void **state)
{
	(void)state;
	char *root = mktree();
	put(root, "cgroup.controllers", "cpu memory pids\n");
	cleanup_free char *d = xasprintf("%s/s", root);
	put(d, "cpu.stat",
	    "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\n"
	    "nr_throttled 1\nthrottled_usec 30\n");
	put(d, "memory.current", "1000000\n");
	put(d, "memory.max", "max\n");
	put(d, "memory.peak", "2000000\n");
	put(d, "memory.swap.current", "4096\n");
	put(d, "memory.stat",
	    "anon 600000\nfile 300000\nkernel 1\nactive_anon 5\ninactive_anon 6\n"
	    "active_file 100000\ninactive_file 200000\npgfault 12\npgmajfault 2\n");
	put(d, "memory.events", "low 0\nhigh 0\nmax 7\noom 3\noom_kill 2\noom_group_kill 0\n");
	put(d, "pids.current", "5\n");
	put(d, "pids.max", "100\n");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup_manager *mgr = NULL;
	assert_int_equal(cgroup_manager_init_at(root, CGROUP_MODE_V2, &mgr, &err), 0);
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_open(mgr, "/s", &cg, &err), 0);
	struct cgroup_stats st;
	if (cgroup_stats(cg, &st, &err) < 0)
		fail_msg("stats: %s", ndl_error_msg(&err));
	assert_int_equal(st.cpu.usage_ns, 2000000);
	assert_int_equal(st.cpu.user_ns, 1500000);
	assert_int_equal(st.cpu.system_ns, 500000);
	assert_int_equal(st.cpu.nr_periods, 4);
	assert_int_equal(st.cpu.nr_throttled, 1);
	assert_int_equal(st.cpu.throttled_ns, 30000);
	assert_int_equal(st.memory.usage, 1000000);
	assert_true(st.memory.limit == CGROUP_MAX);
	assert_int_equal(st.memory.max_usage, 2000000);
	assert_int_equal(st.memory.working_set, 800000);
	assert_int_equal(st.memory.rss, 600000);
	assert_int_equal(st.memory.cache, 300000);
	assert_int_equal(st.memory.pgfault, 12);
	assert_int_equal(st.memory.swap_usage, 4096);
	assert_int_equal(st.memory.failcnt, 7);
	assert_int_equal(st.memory.oom_events, 3);
	assert_int_equal(st.memory.oom_kill, 2);
	assert_int_equal(st.pids.current, 5);
	assert_int_equal(st.pids.limit, 100);
	uint64_t n;
	assert_int_equal(cgroup_oom_kill_count(cg, &n, &err), 0);
	assert_int_equal(n, 2);
	/* working set never goes below zero */
	put(d, "memory.current", "100\n");
	assert_int_equal(cgroup_stats(cg, &st, &err), 0);
	assert_int_equal(st.memory.working_set, 0);
	/* no memory controller here: zeros, not an error */
	cleanup_free char *e = xasprintf("%s/e", root);
	put(e, "cgroup.procs", "");
	struct cgroup *cg2 = NULL;
	assert_int_equal(cgroup_open(mgr, "/e", &cg2, &err), 0);
	assert_int_equal(cgroup_stats(cg2, &st, &err), 0);
	assert_int_equal(st.memory.usage, 0);
	cgroup_free(cg2);
	cgroup_free(cg);
	cgroup_manager_free(mgr);
	rmtree(root);
}

static void test_hybrid_tracks_unified(void **state)
{
	(void)state;
	char *root = mktree();
	cleanup_free char *mem = xasprintf("%s/memory/h", root);
	cleanup_free char *uni = xasprintf("%s/unified", root);
	put(mem, "cgroup.procs", "");
	put(uni, "cgroup.procs", "");
	ndl_error_t err = NDL_ERROR_INIT;
	struct cgroup_manager *mgr = NULL;
	assert_int_equal(cgroup_manager_init_at(root, CGROUP_MODE_AUTO, &mgr, &err), 0);
	assert_int_equal(cgroup_manager_mode(mgr), CGROUP_MODE_HYBRID);
	assert_string_equal(cgroup_manager_unified(mgr), uni);
	const char *ctrls, *mp;
	assert_true(cgroup_manager_hierarchy(mgr, 0, &ctrls, &mp));
	assert_string_equal(ctrls, "memory");
	assert_false(cgroup_manager_hierarchy(mgr, 1, &ctrls, &mp));
	struct cgroup *cg = NULL;
	assert_int_equal(cgroup_create(mgr, "/h", &cg, &err), 0);
	cleanup_free char *ud = xasprintf("%s/h", uni);
	assert_string_equal(cgroup_unified_dir(cg), ud);
	put(ud, "cgroup.procs", "");
	assert_int_equal(cgroup_enter(cg, 77, &err), 0);
	assert_file(ud, "cgroup.procs", "77");
	assert_file(mem, "cgroup.procs", "77");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_false(ndl_path_exists(ud));
	assert_false(ndl_path_exists(mem));
	cgroup_free(cg);
	cgroup_manager_free(mgr);
	rmtree(root);
}

/* ---- v2 device filter program ---- */

/* Just enough of an eBPF interpreter for the instructions the generator
 * emits, so the program's verdicts can be checked without a kernel. */
static int run_prog(const struct bpf_insn *p, size_t n, uint32_t type, uint32_t acc, uint32_t major,
		    uint32_t minor)
{
	uint32_t ctx[3] = {type | (acc << 16), major, minor};
	uint64_t r[11] = {0};
	for (size_t pc = 0; pc < n; pc++) {
		const struct bpf_insn *i = &p[pc];
		uint64_t src =
		    BPF_SRC(i->code) == BPF_X ? r[i->src_reg] : (uint64_t)(int64_t)i->imm;
		switch (i->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			assert_int_equal(i->src_reg, 1);
			assert_true(i->off % 4 == 0 && i->off <= 8);
			r[i->dst_reg] = ctx[i->off / 4];
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			r[i->dst_reg] = (uint32_t)(r[i->dst_reg] & (uint32_t)i->imm);
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
			r[i->dst_reg] = (uint32_t)r[i->dst_reg] >> i->imm;
			break;
		case BPF_ALU | BPF_MOV | BPF_K:
		case BPF_ALU | BPF_MOV | BPF_X:
			r[i->dst_reg] = (uint32_t)src;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
		case BPF_JMP | BPF_JNE | BPF_X:
			if (r[i->dst_reg] != src)
				pc += (size_t)i->off;
			break;
		case BPF_JMP | BPF_EXIT:
			return (int)r[0];
		default:
			fail_msg("unexpected opcode 0x%x at %zu", i->code, pc);
		}
	}
	fail_msg("program fell off the end");
	return -1;
}

/* The kernel verifier rejects programs with unreachable instructions. */
static void assert_all_reachable(const struct bpf_insn *p, size_t n)
{
	bool *seen = xcalloc(n, sizeof(bool));
	size_t *stack = xcalloc(2 * n + 1, sizeof(size_t)), sp = 0;
	stack[sp++] = 0;
	while (sp) {
		size_t pc = stack[--sp];
		if (pc >= n || seen[pc])
			continue;
		seen[pc] = true;
		if (p[pc].code == (BPF_JMP | BPF_EXIT))
			continue;
		stack[sp++] = pc + 1;
		if (BPF_CLASS(p[pc].code) == BPF_JMP)
			stack[sp++] = pc + 1 + (size_t)p[pc].off;
	}
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			fail_msg("instruction %zu of %zu is unreachable", i, n);
	free(seen);
	free(stack);
}

static void test_device_filter_program(void **state)
{
	(void)state;
	const uint32_t C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;
	const uint32_t R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;
	struct cgroup_resources res;
	parse("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
	      "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"},"
	      "{\"allow\":true,\"type\":\"c\",\"major\":136,\"access\":\"rw\"},"
	      "{\"allow\":true,\"type\":\"b\",\"major\":8,\"minor\":0,\"access\":\"r\"},"
	      "{\"allow\":false,\"type\":\"c\",\"major\":136,\"minor\":9}]}",
	      &res);
	struct bpf_insn *p = NULL;
	size_t n = 0;
	assert_int_equal(cg_devices_bpf_prog(res.devices, res.n_devices, &p, &n), 0);
	assert_all_reachable(p, n);
	assert_int_equal(run_prog(p, n, C, R | W, 1, 3), 1); /* /dev/null */
	assert_int_equal(run_prog(p, n, C, M, 1, 3), 1);
	assert_int_equal(run_prog(p, n, C, R, 1, 5), 0);       /* /dev/zero: deny-all */
	assert_int_equal(run_prog(p, n, B, R, 1, 3), 0);       /* type matters */
	assert_int_equal(run_prog(p, n, C, R | W, 136, 2), 1); /* pts, any minor */
	assert_int_equal(run_prog(p, n, C, M, 136, 2), 0);     /* mknod not granted */
	assert_int_equal(run_prog(p, n, C, R, 136, 9), 0);     /* later deny wins */
	assert_int_equal(run_prog(p, n, B, R, 8, 0), 1);
	assert_int_equal(run_prog(p, n, B, R | W, 8, 0), 0); /* write not granted */
	free(p);
	cgroup_resources_free(&res);

	parse("{\"devices\":[{\"allow\":true}]}", &res);
	assert_int_equal(cg_devices_bpf_prog(res.devices, res.n_devices, &p, &n), 0);
	assert_all_reachable(p, n);
	assert_int_equal(run_prog(p, n, B, R | W | M, 259, 1), 1);
	free(p);
	cgroup_resources_free(&res);
	assert_int_equal(cg_devices_bpf_prog(NULL, 0, &p, &n), 0);
	assert_int_equal(run_prog(p, n, C, R, 1, 3), 0); /* no rules: nothing allowed */
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shares_to_weight),
	    cmocka_unit_test(test_blkio_to_io_weight),
	    cmocka_unit_test(test_cpu_max_string),
	    cmocka_unit_test(test_swap_v2_value),
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_errors_name_fields),
	    cmocka_unit_test(test_v1_create_copies_cpuset),
	    cmocka_unit_test(test_v1_apply_writes),
	    cmocka_unit_test(test_v1_stats),
	    cmocka_unit_test(test_v1_freeze_and_pids),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_v1_saved_roundtrip),
	    cmocka_unit_test(test_saved_relative_hybrid_and_v2),
	    cmocka_unit_test(test_v2_apply_writes),
	    cmocka_unit_test(test_v2_stats),
	    cmocka_unit_test(test_hybrid_tracks_unified),
	    cmocka_unit_test(test_device_filter_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
