/* libFuzzer: image reference parsing and normalization. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cri/images/images-internal.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	ndl_error_t err = NDL_ERROR_INIT;
	struct image_ref r = {0};
	if (image_ref_parse(s, &r, &err) == 0) {
		/* Normalizing twice must be stable. */
		char *full = image_ref_string(&r), *fam = image_ref_familiar(&r);
		struct image_ref r2 = {0};
		if (image_ref_parse(full, &r2, NULL) != 0)
			__builtin_trap();
		char *full2 = image_ref_string(&r2);
		if (strcmp(full, full2) != 0)
			__builtin_trap();
		free(full2);
		image_ref_free(&r2);
		free(full);
		free(fam);
		image_ref_free(&r);
	}
	ndl_error_clear(&err);
	free(s);
	return 0;
}
