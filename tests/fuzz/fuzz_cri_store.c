/* libFuzzer: sandbox/container state records read from <root> at startup.
 * The first byte picks the record kind; valid records go through the filter
 * matcher as List* would. */
#include <stddef.h>
#include <stdint.h>

#include "cri/server/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *rec = NULL;
	enum cri_kind kind = (data[0] & 1) ? CRI_KIND_CONTAINER : CRI_KIND_SANDBOX;
	if (cri_record_parse((const char *)data + 1, size - 1, kind, &rec, &err) == 0) {
		json_t *sel = json_pack("{s:s}", "app", "web");
		struct cri_filter f = {.id = "ab",
				       .has_state = true,
				       .state = 1,
				       .pod_sandbox_id = "cd",
				       .label_selector = sel};
		(void)cri_filter_match(&f, rec);
		json_decref(sel);
		json_decref(rec);
	}
	ndl_error_clear(&err);
	return 0;
}
