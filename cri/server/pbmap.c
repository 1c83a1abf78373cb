/* Conversions shared by the sandbox and container handlers between the
 * CRI's string maps (labels, annotations, label selectors) and JSON, and
 * the List* filters built from requests. */
#include <pthread.h>
#include <stdlib.h>

#include "cri/api/api.h"
#include "cri/server/handlers.h"
#include "cri/server/store.h"
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
