/* libFuzzer: a static pod manifest (YAML/JSON -> Pod with file-source
 * defaults, API defaulting and validation), plus the QoS/resources and
 * hash code that reads the resulting typed pod. */
#include <stddef.h>
#include <stdint.h>

#include "kubelet/qos.h"
#include "static-pods/staticpods.h"

static const char *lookup(const char *name, void *ud)
{
	return name[0] == 'A' ? "x" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct pod *p = NULL;
	if (sp_pod_from_manifest((const char *)data, size, "/etc/kubernetes/manifests/f.yaml",
				 "node", 1, &p, &err) == 0) {
		(void)pod_qos_class(p);
		for (size_t i = 0; i < p->n_containers; i++) {
			struct kubelet_linux_resources r;
			kubelet_container_linux_resources(p, &p->containers[i], 1LL << 33, true,
							  100000, &r);
			for (size_t k = 0; k < p->containers[i].args.n; k++)
				free(kubelet_expand(p->containers[i].args.v[k], lookup, NULL));
		}
		pod_unref(p);
	}
	ndl_error_clear(&err);
	return 0;
}
