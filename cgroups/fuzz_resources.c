/* libFuzzer target: the OCI linux.resources parser (outside input: bundle
 * config.json, CRI UpdateContainerResources). Every input must either
 * parse or fail cleanly, and free everything either way. */
#include <stddef.h>
#include <stdint.h>

#include "cgroups/cgroups.h"
#include "lib/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!j)
		return 0;
	struct cgroup_resources res;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cgroup_resources_from_json(j, "linux.resources", &res, &err) == 0) {
		char buf[64];
		cgroup_cpu_max_string(res.cpu.has_quota, res.cpu.quota, res.cpu.period, buf,
				      sizeof(buf));
		bool set;
		int64_t v;
		cgroup_swap_v2_value(res.memory.has_swap, res.memory.swap, res.memory.has_limit,
				     res.memory.limit, &set, &v, &err);
		(void)cgroup_shares_to_weight(res.cpu.shares);
		(void)cgroup_blkio_weight_to_io_weight(res.blkio.weight);
	}
	ndl_error_clear(&err);
	cgroup_resources_free(&res);
	json_decref(j);
	return 0;
}
