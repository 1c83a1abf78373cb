/* libFuzzer: YAML -> JSON conversion (manifests, configs, registries.yaml). */
#include <stddef.h>
#include <stdint.h>

#include "lib/yaml2json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *j = NULL;
	if (ndl_yaml_parse_all((const char *)data, size, &j, &err) == 0)
		json_decref(j);
	ndl_error_clear(&err);
	return 0;
}
