/* Persistent state of nodelet-cri: pod sandbox and container records, one
 * JSON file each under <root>/sandboxes/<id>.json and
 * <root>/containers/<id>.json, written atomically, loaded at startup; 64-hex
 * ID generation; name reservation (containerd's rule: one live object per
 * name); List* filters as CRI defines them. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

enum cri_kind { CRI_KIND_SANDBOX = 0, CRI_KIND_CONTAINER = 1 };

#define CRI_ID_LEN	    64
#define CRI_RECORD_MAX_SIZE (4 * 1024 * 1024)

/* One sandbox or container. The store owns it; callers hold a reference
 * (cri_store_get/put) and take `lock` while reading or changing `data`.
 *
 * `data` is a JSON object with at least:
 *   "id": 64 lowercase hex, "name": the reserved name,
 *   "state": integer (PodSandboxState / ContainerState values),
 *   "labels": object of strings (optional), "annotations" (optional),
 *   "pod_sandbox_id": 64 hex (containers only),
 *   "created_at": integer nanoseconds,
 * and anything else the runtime records. */
struct cri_record {
	enum cri_kind kind;
	char id[CRI_ID_LEN + 1];
	char *name;
	json_t *data;
	pthread_mutex_t lock;
	/* private */
	int refs;
	bool removed;
};

struct cri_store;

/* Open (creating dirs) and load every record under root. A record that
 * fails to parse is logged and moved aside to "<id>.json.bad" so one corrupt
 * file cannot stop the daemon. */
int cri_store_open(const char *root, struct cri_store **ret, ndl_error_t *err);
void cri_store_close(struct cri_store *st);

/* A fresh random ID, unique among sandboxes and containers. out: 65 bytes. */
void cri_store_new_id(struct cri_store *st, char out[CRI_ID_LEN + 1]);

/* The name containerd reserves: "<name>_<namespace>_<uid>_<attempt>" for a
 * sandbox, "<container>_<sandbox name>_<namespace>_<uid>_<attempt>" for a
 * container. Heap. */
char *cri_sandbox_name(const char *name, const char *ns, const char *uid, uint32_t attempt);
char *cri_container_name(const char *name, const char *sandbox_name, const char *ns,
			 const char *uid, uint32_t attempt);

/* Reserve name for id: EEXIST (error names the holder) when another id holds
 * it; reserving the same pair again is fine. */
int cri_store_reserve_name(struct cri_store *st, const char *name, const char *id,
			   ndl_error_t *err);
void cri_store_release_name(struct cri_store *st, const char *name);

/* Validate and serialise a record's JSON; parse it back. Errors name the field. */
int cri_record_validate(const json_t *data, enum cri_kind kind, ndl_error_t *err);
int cri_record_parse(const char *buf, size_t len, enum cri_kind kind, json_t **ret,
		     ndl_error_t *err);

/* Add a new record (data is copied; "id" and "name" must be set and the name
 * reserved for that id). Written to disk before it is visible. Returns a
 * reference in *ret (may be NULL). */
int cri_store_add(struct cri_store *st, enum cri_kind kind, json_t *data, struct cri_record **ret,
		  ndl_error_t *err);

/* Look up by full ID or a unique prefix. ENOENT when none, EINVAL when ambiguous. */
int cri_store_get(struct cri_store *st, enum cri_kind kind, const char *id_or_prefix,
		  struct cri_record **ret, ndl_error_t *err);
void cri_store_put(struct cri_record *rec);

/* Persist rec->data (caller holds rec->lock and changed data). */
int cri_store_save(struct cri_store *st, struct cri_record *rec, ndl_error_t *err);

/* Delete the file, release the name, drop from the index. */
int cri_store_remove(struct cri_store *st, struct cri_record *rec, ndl_error_t *err);

/* List* filtering as CRI defines it; every set criterion must match:
 * id: prefix of the ID (the kubelet and crictl pass truncated IDs);
 * state: exact state value when has_state; pod_sandbox_id: prefix (containers);
 * label_selector: every key=value present in the record's labels. */
struct cri_filter {
	const char *id;
	bool has_state;
	int state;
	const char *pod_sandbox_id;
	const json_t *label_selector; /* object of strings, may be NULL */
};
bool cri_filter_match(const struct cri_filter *f, const json_t *data);

/* Matching records, each with a reference (release with cri_store_put), in
 * creation order. Free the array with cri_store_list_free. */
int cri_store_list(struct cri_store *st, enum cri_kind kind, const struct cri_filter *f,
		   struct cri_record ***ret, size_t *ret_n);
void cri_store_list_free(struct cri_record **list, size_t n);
size_t cri_store_count(struct cri_store *st, enum cri_kind kind);
