/* libFuzzer: registries.yaml parsing and rewrite application. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cri/images/images-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct registry_config *c = NULL;
	if (registry_config_parse((const char *)data, size, &c, &err) == 0) {
		const struct registry_mirror *m = registry_config_mirror(c, "docker.io");
		free(registry_rewrite(m, "library/busybox"));
		registry_config_host(c, "docker.io");
		registry_config_free(c);
	}
	ndl_error_clear(&err);
	return 0;
}
