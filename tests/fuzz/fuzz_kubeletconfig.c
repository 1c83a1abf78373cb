/* libFuzzer: the KubeletConfiguration file parser and validation. */
#include <stddef.h>
#include <stdint.h>

#include "kubelet/config.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		/* unknown-field warnings would flood the fuzzer output */
		ndl_log_init(-1, NDL_LOG_ERROR, 0, false);
		once = 1;
	}
	struct kubelet_config c;
	kubelet_config_init(&c);
	ndl_error_t err = NDL_ERROR_INIT;
	if (kubelet_config_apply_file_yaml(&c, (const char *)data, size, &err) == 0) {
		(void)kubelet_config_validate(&c, &err);
		json_t *j = kubelet_config_to_json(&c);
		json_decref(j);
	}
	ndl_error_clear(&err);
	kubelet_config_free(&c);
	return 0;
}
