/* libFuzzer target: a CNI result of any version (a delegated IPAM plugin's
 * output or a prevResult), parsed and re-serialised as every version; the
 * re-serialised 1.1.0 form must parse back to the same JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni-plugins/skel/skel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
	if (!j)
		return 0;
	struct cni_result *r = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cni_result_from_json(j, CNI_VERSION_INVALID, "result", &r, &err) == 0) {
		for (int v = CNI_VERSION_0_1_0; v <= CNI_VERSION_LATEST; v++) {
			json_t *out = NULL;
			if (cni_result_to_json(r, (enum cni_version)v, &out, &err) == 0)
				json_decref(out);
		}
		json_t *a = NULL, *b = NULL;
		struct cni_result *r2 = NULL;
		if (cni_result_to_json(r, CNI_VERSION_1_1_0, &a, &err) == 0) {
			if (cni_result_from_json(a, CNI_VERSION_INVALID, "again", &r2, &err) != 0)
				abort();
			if (cni_result_to_json(r2, CNI_VERSION_1_1_0, &b, &err) != 0 ||
			    !json_equal(a, b))
				abort();
		}
		json_decref(a);
		json_decref(b);
		cni_result_free(r2);
		cni_result_free(r);
	}
	ndl_error_clear(&err);
	cni_error_set_details(NULL);
	json_decref(j);
	return 0;
}
