/* What the sandbox and container handlers share: the CRI's string maps
 * (labels, annotations, label selectors) to and from JSON, List* filters
 * and their release, the answers to requests missing a field or naming a
 * record that is gone, and the startup scan for directories a crash left
 * without a record. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cri/api/api.h"
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "cri/server/store.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* Every map<string,string> entry protoc-c generates is {base, key, value};
 * this one stands for all of them. */
typedef Runtime__V1__ContainerStatus__LabelsEntry map_entry_t;

json_t *cri_map_to_json(size_t n, void *entries)
{
	map_entry_t **e = entries;
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, e[i]->key, json_string(e[i]->value ? e[i]->value : ""));
	return o;
}

void cri_kv_fill(struct cri_kv *kv, const json_t *obj)
{
	kv->n = json_object_size(obj);
	map_entry_t *ents = xcalloc(kv->n + 1, sizeof(*ents));
	map_entry_t **ptrs = xcalloc(kv->n + 1, sizeof(*ptrs));
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		runtime__v1__container_status__labels_entry__init(&ents[i]);
		ents[i].key = (char *)k;
		ents[i].value = (char *)json_string_value(v);
		ptrs[i] = &ents[i];
		i++;
	}
	kv->ents = ents;
	kv->ptrs = (void *)ptrs;
}

void cri_kv_free(struct cri_kv *kv)
{
	free(kv->ents);
	free(kv->ptrs);
	kv->ents = kv->ptrs = NULL;
	kv->n = 0;
}

const char *cri_nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

void cri_filter_init(struct cri_filter *f, json_t **sel, const char *id, const char *pod_sandbox_id,
		     const void *state_value, int state, size_t n_selector, void *selector)
{
	*f = (struct cri_filter){.id = cri_nonempty(id), .pod_sandbox_id = cri_nonempty(pod_sandbox_id)};
	if (state_value) {
		f->has_state = true;
		f->state = state;
	}
	*sel = NULL;
	if (n_selector) {
		*sel = cri_map_to_json(n_selector, selector);
		f->label_selector = *sel;
	}
}

void cri_list_release(struct cri_record **list, size_t n, struct cri_kv *kv)
{
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_unlock(&list[i]->lock);
		cri_kv_free(&kv[2 * i]);
		cri_kv_free(&kv[2 * i + 1]);
	}
	free(kv);
	cri_store_list_free(list, n);
}

enum cri_status cri_reply_required(struct cri_reply *r, const char *field)
{
	return cri_reply_error(r, CRI_REFUSED, "field \"%s\": required", field);
}

enum cri_status cri_get_for_remove(struct cri_service *svc, enum cri_kind kind, const char *id,
				   const char *field, const ProtobufCMessage *ok_resp,
				   struct cri_reply *r, struct cri_record **ret)
{
	*ret = NULL;
	if (!cri_nonempty(id))
		return cri_reply_required(r, field);
	ndl_error_t e = NDL_ERROR_INIT;
	int rc = cri_store_get(svc->store, kind, id, ret, &e);
	if (rc == -ENOENT) {
		/* containerd: removing what is gone succeeds. */
		ndl_error_clear(&e);
		return cri_reply_ok(r, ok_resp);
	}
	if (rc < 0)
		return cri_reply_errno_msg(r, &e);
	return CRI_OK;
}

void cri_gc_orphans(struct cri_service *svc, enum cri_kind kind, const char *dir,
		    void (*fn)(struct cri_service *svc, const char *dir, const char *id))
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != CRI_ID_LEN)
			continue;
		struct cri_record *rec = NULL;
		if (cri_store_get(svc->store, kind, de->d_name, &rec, NULL) == 0) {
			cri_store_put(rec);
			continue;
		}
		fn(svc, dir, de->d_name);
	}
}
