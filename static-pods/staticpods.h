/* The static pod file source: a manifest directory (or single file) watched
 * with inotify plus a periodic re-check, turned into ADD / UPDATE / REMOVE
 * events carrying typed pods, with the kubelet's file-source defaults
 * (pkg/kubelet/config/file.go + common.go applyDefaults). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelet/pod.h"
#include "lib/error.h"

#define SP_MAX_MANIFEST_SIZE (10u * 1024 * 1024)

/* Parse one manifest into a defaulted, validated static pod. As the
 * kubelet's yaml.ToJSON: content starting with '{' is JSON (parsed as such),
 * anything else YAML, of which only the first document counts.
 * source_path is the manifest's path (it is part of the UID). seen_ns is
 * the kubernetes.io/config.seen time (CLOCK_REALTIME ns; 0 = now). */
int sp_pod_from_manifest(const char *buf, size_t len, const char *source_path,
			 const char *node_name, int64_t seen_ns, struct pod **ret_pod,
			 ndl_error_t *err);

/* The static pod UID: md5 hex over the defaulted pod (canonical JSON:
 * sorted keys, compact), then "host:<node>", then "file:<path>". The
 * kubelet hashes its Go struct with spew instead of JSON, so the values
 * differ from the kubelet's, but they are stable, content-derived and
 * unique per node and path in the same way. */
void sp_static_pod_uid(const json_t *defaulted_pod, const char *node_name, const char *source_path,
		       char ret_hex[33]);

/* The kubelet's podsDifferSemantically: spec, labels, deletion fields or
 * annotations other than config.source/mirror/seen differ. Two versions of
 * a pod with the same UID give an UPDATE only when this is true. */
bool sp_pods_differ_semantically(const struct pod *a, const struct pod *b);

enum sp_event_type {
	SP_EVENT_ADD = 0,
	SP_EVENT_UPDATE, /* same pod name, new content: old replaced by pod
			  * (same UID when metadata.uid is explicit) */
	SP_EVENT_REMOVE,
	SP_EVENT_ERROR, /* a manifest was rejected: file + message; nothing changed */
};

struct sp_event {
	enum sp_event_type type;
	struct pod *pod; /* ADD/UPDATE: the new pod; REMOVE: the removed pod */
	struct pod *old; /* UPDATE: the replaced pod */
	char *file;	 /* manifest path */
	char *message;	 /* ERROR */
};

const char *sp_event_type_name(enum sp_event_type t);
void sp_events_free(struct sp_event *ev, size_t n);

struct sp_source;

struct sp_options {
	const char *path;	 /* manifest directory or file */
	const char *node_name;	 /* lowercased node name */
	int64_t check_period_ns; /* fileCheckFrequency; 0 = 20 s */
};

/* Set up the watch and the timer and read the directory once: the first
 * sp_source_process() returns ADD events for what is there. A missing
 * directory is not an error (it is re-checked every period). */
int sp_source_new(const struct sp_options *opt, struct sp_source **ret, ndl_error_t *err);
void sp_source_free(struct sp_source *s);

/* Readable (EPOLLIN) when inotify events or a re-check are pending. */
int sp_source_fd(const struct sp_source *s);

/* Non-blocking: consume pending notifications and return the resulting
 * events (possibly none). The caller frees them with sp_events_free. */
int sp_source_process(struct sp_source *s, struct sp_event **ret_events, size_t *ret_n,
		      ndl_error_t *err);

/* Force a full re-read now (as the periodic re-check does). */
int sp_source_resync(struct sp_source *s, struct sp_event **ret_events, size_t *ret_n,
		     ndl_error_t *err);

/* The pods currently active, ordered by file name; each is a new reference
 * (release with pod_unref, then free the array). */
size_t sp_source_pods(const struct sp_source *s, struct pod ***ret_pods);
