/* Handlers of nodelet-cri split out of service.c (one file per area), and
 * the daemon-side state they share. Internal to cri/server. */
#pragma once

#include <stdint.h>

#include "cri/server/rpc.h"
#include "cri/server/store.h"
#include "lib/error.h"

/* ImageService (image_service.c), on the image store opened at startup. */
enum cri_status cri_h_list_images(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_image_status(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_pull_image(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_remove_image(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_image_fs_info(void *user, const ProtobufCMessage *req, struct cri_reply *r);

/* Pod sandboxes (sandbox.c). */
enum cri_status cri_h_run_pod_sandbox(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_stop_pod_sandbox(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_remove_pod_sandbox(void *user, const ProtobufCMessage *req,
					 struct cri_reply *r);
enum cri_status cri_h_pod_sandbox_status(void *user, const ProtobufCMessage *req,
					 struct cri_reply *r);
enum cri_status cri_h_list_pod_sandbox(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r);

/* The status of a refused request (missing or invalid field): containerd's,
 * which is Unknown; the message names the field. */
#define CRI_REFUSED CRI_UNKNOWN

struct cri_service;
struct cri_record;
/* Wall clock in nanoseconds (CRI timestamps). */
int64_t cri_now_ns(void);
/* <run-root>/sandboxes/<id> (heap). */
char *cri_sandbox_dir(struct cri_service *svc, const char *id);
/* cri_reply_from_error, then clear e. */
enum cri_status cri_reply_errno_msg(struct cri_reply *r, ndl_error_t *e);
/* Kill every container of the sandbox / remove them all (container.c). */
int cri_containers_stop_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err);
int cri_containers_remove_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err);

/* Containers (container.c). */
enum cri_status cri_h_create_container(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r);
enum cri_status cri_h_start_container(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_stop_container(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_remove_container(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r);
enum cri_status cri_h_container_status(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r);
enum cri_status cri_h_list_containers(void *user, const ProtobufCMessage *req,
				      struct cri_reply *r);
/* Start the exit watcher (inotify on every container state dir) after
 * picking up exits that happened while the daemon was down; stop it. */
int cri_containers_init(struct cri_service *svc, ndl_error_t *err);
void cri_containers_fini(struct cri_service *svc);

#include <jansson.h>
/* containerd's default seccomp profile as an OCI linux.seccomp object (new
 * reference), for a process whose bounding capability set is `bounding`
 * (JSON array of "CAP_*" names; NULL = none): capability-guarded syscalls
 * are allowed only when the set holds the capability. */
json_t *cri_seccomp_default_profile(const json_t *bounding);
enum cri_status cri_h_exec_sync(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_reopen_container_log(void *user, const ProtobufCMessage *req,
					   struct cri_reply *r);
enum cri_status cri_h_update_container_resources(void *user, const ProtobufCMessage *req,
						 struct cri_reply *r);
enum cri_status cri_h_container_stats(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_list_container_stats(void *user, const ProtobufCMessage *req,
					   struct cri_reply *r);
/* At startup: undo sandboxes and containers a crash left without a record. */
void cri_sandboxes_gc(struct cri_service *svc);
void cri_containers_gc(struct cri_service *svc);
enum cri_status cri_h_pod_sandbox_stats(void *user, const ProtobufCMessage *req,
					struct cri_reply *r);
enum cri_status cri_h_list_pod_sandbox_stats(void *user, const ProtobufCMessage *req,
					     struct cri_reply *r);

/* Shared by the sandbox and container handlers (common.c). A CRI map<string,string> (any generated
 * entry type: they share one layout) as a JSON object (new reference). */
json_t *cri_map_to_json(size_t n, void *entries);
/* A JSON object of strings as a response map: ptrs is what goes into the
 * message's `labels`/`annotations` field (cast to its entry type); the
 * strings are borrowed from obj. Free with cri_kv_free. */
struct cri_kv {
	void *ents;
	void *ptrs;
	size_t n;
};
void cri_kv_fill(struct cri_kv *kv, const json_t *obj);
void cri_kv_free(struct cri_kv *kv);
/* s, or NULL when s is NULL or empty (unset proto3 string). */
const char *cri_nonempty(const char *s);
struct cri_filter;
/* A List* filter from a request's filter fields: empty id/pod_sandbox_id
 * match everything, state_value != NULL selects `state`, the label
 * selector map becomes *sel (owned by the caller, NULL if none). */
void cri_filter_init(struct cri_filter *f, json_t **sel, const char *id, const char *pod_sandbox_id,
		     const void *state_value, int state, size_t n_selector, void *selector);
/* The end of a List* answer: unlock every listed record (locked while its
 * fields were borrowed), free its labels/annotations pair kv[2i], kv[2i+1],
 * the kv array and the list. */
void cri_list_release(struct cri_record **list, size_t n, struct cri_kv *kv);
/* `field "<field>": required`, refused as containerd does. */
enum cri_status cri_reply_required(struct cri_reply *r, const char *field);
/* The record a Remove* request names, with a reference (*ret). When it is
 * gone the answer is already ok_resp (containerd's Remove* succeed for an
 * unknown id) and *ret is NULL; an empty id is refused naming `field`.
 * Return the status unless it is CRI_OK with *ret set. */
enum cri_status cri_get_for_remove(struct cri_service *svc, enum cri_kind kind, const char *id,
				   const char *field, const ProtobufCMessage *ok_resp,
				   struct cri_reply *r, struct cri_record **ret);
/* fn(svc, dir, id) for every <dir>/<64-char id> without a record of kind:
 * what a daemon killed between making it and writing the record left. */
void cri_gc_orphans(struct cri_service *svc, enum cri_kind kind, const char *dir,
		    void (*fn)(struct cri_service *svc, const char *dir, const char *id));
