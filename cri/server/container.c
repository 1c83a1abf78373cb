/* Containers of nodelet-cri. */
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "lib/error.h"

static int count_of(struct cri_service *svc, const char *sandbox_id)
{
	struct cri_filter f = {.pod_sandbox_id = sandbox_id};
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &n);
	cri_store_list_free(list, n);
	return (int)n;
}

int cri_containers_stop_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err)
{
	if (count_of(svc, sandbox_id))
		return ndl_error_setf(err, ENOSYS, "containers are not supported yet");
	return 0;
}

int cri_containers_remove_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err)
{
	return cri_containers_stop_all(svc, sandbox_id, err);
}
