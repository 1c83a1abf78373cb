/* libFuzzer target: the CNI network configuration as a plugin reads it
 * (common fields, prevResult, valid-attachments) and host-local's IPAM
 * section. The first line of the input is used as CNI_ARGS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "cni-plugins/skel/skel.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *args = NULL;
	if (nl) {
		args = xstrndup((const char *)data, nl - data);
		size -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	char *buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = 0;
	struct cni_conf conf;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cni_conf_parse(buf, size, &conf, &err) == 0) {
		struct cni_env env = {.args = args};
		struct hl_config c;
		if (hl_config_parse(&conf, &env, &c, &err) == 0) {
			for (size_t i = 0; i < c.n_sets; i++) {
				char *s = hl_rangeset_str(&c.sets[i]);
				free(s);
			}
			hl_config_clear(&c);
		}
		cni_env_clear(&env);
		if (conf.prev_result) {
			json_t *j = NULL;
			ndl_error_t e2 = NDL_ERROR_INIT;
			if (cni_result_to_json(conf.prev_result, CNI_VERSION_0_4_0, &j, &e2) == 0)
				json_decref(j);
			ndl_error_clear(&e2);
		}
		cni_conf_clear(&conf);
	}
	ndl_error_clear(&err);
	cni_error_set_details(NULL);
	free(args);
	return 0;
}
