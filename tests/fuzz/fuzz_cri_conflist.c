/* libFuzzer: CNI network config parsing (.conflist/.conf from the conf dir)
 * and the libcni result cache records read back for DEL/CHECK. The first
 * byte picks list vs single-conf parsing. */
#include <stddef.h>
#include <stdint.h>

#include "cri/network/cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	ndl_error_t err = NDL_ERROR_INIT;
	struct cni_netconf *n = NULL;
	bool is_list = data[0] & 1;
	if (cni_netconf_parse((const char *)data + 1, size - 1, is_list, "fuzz", &n, &err) == 0) {
		/* Exercise what the runtime does next with a valid config. */
		json_t *caps = json_pack("{s:[], s:{}}", "portMappings", "bandwidth");
		for (size_t i = 0; i < n->n_plugins; i++) {
			json_t *c = cni_plugin_stdin(n, i, NULL, caps);
			json_decref(c);
		}
		struct cni_runtime rt = {.container_id = "id", .netns = "/x", .ifname = "eth0"};
		json_t *rec = cni_cache_record(n, &rt, NULL);
		json_decref(rec);
		json_decref(caps);
		cni_netconf_free(n);
	}
	ndl_error_clear(&err);

	struct cni_netconf *cn = NULL;
	json_t *res = NULL, *caps2 = NULL;
	if (cni_cache_parse((const char *)data, size, &cn, &res, &caps2, &err) == 0) {
		cni_netconf_free(cn);
		if (res)
			json_decref(res);
		if (caps2)
			json_decref(caps2);
	}
	ndl_error_clear(&err);
	return 0;
}
