/* libFuzzer: manifest/index parsing, platform selection, image config. */
#include <stddef.h>
#include <stdint.h>

#include "cri/images/images-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct manifest m = {0};
	if (manifest_parse((const char *)data, size, NULL, &m, &err) == 0) {
		if (m.kind == MANIFEST_INDEX) {
			struct platform p = {"linux", "arm64", "v8"};
			const struct descriptor *d;
			manifest_select_platform(&m, &p, &d, &err);
			ndl_error_clear(&err);
		}
		manifest_clear(&m);
	}
	ndl_error_clear(&err);
	struct image_config c = {0};
	char **diff = NULL;
	if (image_config_parse((const char *)data, size, &c, &diff, &err) == 0) {
		image_config_free(&c);
		strv_free(diff);
	}
	ndl_error_clear(&err);
	return 0;
}
