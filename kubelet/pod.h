/* The core/v1 Pod as the kubelet acts on it: typed structs parsed from a
 * jansson tree, API-server-equivalent defaulting and validation with field
 * paths in errors, and the original (defaulted) JSON kept for /pods and
 * hashing. Maps (labels, annotations, nodeSelector) and rarely used nested
 * detail (volume items, projected sources, SELinux options) are borrowed
 * jansson objects inside pod->json. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/quantity.h"

typedef enum { TRI_UNSET = -1, TRI_FALSE = 0, TRI_TRUE = 1 } pod_tristate_t;

struct pod_strv {
	char **v;
	size_t n;
};

struct pod_resource {
	char *name; /* cpu, memory, ephemeral-storage, hugepages-2Mi, example.com/foo */
	ndl_quantity_t q;
};
struct pod_resource_list {
	struct pod_resource *items;
	size_t n;
};

enum pod_env_source {
	POD_ENV_VALUE = 0,
	POD_ENV_FIELD_REF,
	POD_ENV_RESOURCE_FIELD_REF,
	POD_ENV_CONFIGMAP_KEY_REF,
	POD_ENV_SECRET_KEY_REF,
};

struct pod_env_var {
	char *name;
	char *value; /* POD_ENV_VALUE; "" when neither value nor valueFrom */
	enum pod_env_source source;
	char *field_path, *api_version;	 /* fieldRef */
	char *container_name, *resource; /* resourceFieldRef */
	ndl_quantity_t divisor;		 /* resourceFieldRef (default 1) */
	char *ref_name, *key;		 /* configMapKeyRef / secretKeyRef */
	bool optional;
};

struct pod_env_from {
	char *prefix;
	bool is_secret; /* secretRef, else configMapRef */
	char *name;
	bool optional;
};

struct pod_port {
	char *name;
	int32_t container_port;
	int32_t host_port;
	char *protocol; /* TCP, UDP, SCTP */
	char *host_ip;
};

struct pod_volume_mount {
	char *name;
	char *mount_path;
	char *sub_path;
	char *sub_path_expr;
	char *mount_propagation; /* None, HostToContainer, Bidirectional or NULL */
	bool read_only;
};

enum pod_handler_type {
	POD_HANDLER_NONE = 0,
	POD_HANDLER_EXEC,
	POD_HANDLER_HTTP_GET,
	POD_HANDLER_TCP_SOCKET,
	POD_HANDLER_GRPC,
	POD_HANDLER_SLEEP,
};

struct pod_http_header {
	char *name, *value;
};

/* An int-or-string port ("8080" or "http"). */
struct pod_port_ref {
	int32_t number; /* 0 when named */
	char *name;
};

struct pod_handler {
	enum pod_handler_type type;
	struct pod_strv command;	 /* exec */
	char *path, *host, *scheme;	 /* httpGet */
	struct pod_http_header *headers; /* httpGet */
	size_t n_headers;
	struct pod_port_ref port; /* httpGet, tcpSocket */
	int32_t grpc_port;	  /* grpc */
	char *grpc_service;	  /* grpc; NULL = "" */
	int64_t sleep_seconds;	  /* sleep */
};

struct pod_probe {
	bool present;
	struct pod_handler handler;
	int32_t initial_delay_seconds, timeout_seconds, period_seconds;
	int32_t success_threshold, failure_threshold;
	int64_t termination_grace_period_seconds; /* -1 = unset */
};

struct pod_seccomp {
	char *type; /* RuntimeDefault, Unconfined, Localhost or NULL */
	char *localhost_profile;
};

struct pod_container_security {
	pod_tristate_t privileged, run_as_non_root, read_only_root_filesystem,
	    allow_privilege_escalation;
	bool has_run_as_user, has_run_as_group;
	int64_t run_as_user, run_as_group;
	struct pod_strv cap_add, cap_drop;
	char *proc_mount;
	struct pod_seccomp seccomp;
	json_t *se_linux_options; /* borrowed */
};

struct pod_container {
	char *name;
	char *image;
	struct pod_strv command, args;
	char *working_dir;
	struct pod_port *ports;
	size_t n_ports;
	struct pod_env_var *env;
	size_t n_env;
	struct pod_env_from *env_from;
	size_t n_env_from;
	struct pod_resource_list requests, limits;
	struct pod_volume_mount *mounts;
	size_t n_mounts;
	struct pod_probe liveness, readiness, startup;
	struct pod_handler post_start, pre_stop; /* type NONE when absent */
	char *termination_message_path;
	char *termination_message_policy; /* File, FallbackToLogsOnError */
	char *image_pull_policy;	  /* Always, IfNotPresent, Never */
	char *restart_policy;		  /* init containers: "Always" = sidecar */
	bool has_security_context;
	struct pod_container_security sc;
	bool stdin, stdin_once, tty;
	bool is_init;
	json_t *json; /* borrowed: this container in pod->json */
	/* The kubelet's HashContainer (the io.kubernetes.container.hash label,
	 * printed as lower-case hex): it covers name and image only, the fields
	 * of a running pod that may change in place. */
	uint32_t hash;
	/* FNV-1a 32 of the whole canonical container JSON: any spec change. */
	uint32_t spec_hash;
};

enum pod_volume_type {
	POD_VOL_EMPTY_DIR = 1,
	POD_VOL_HOST_PATH,
	POD_VOL_CONFIG_MAP,
	POD_VOL_SECRET,
	POD_VOL_DOWNWARD_API,
	POD_VOL_PROJECTED,
	POD_VOL_PVC,
	POD_VOL_OTHER, /* a source nodelet cannot mount (nfs, csi, ...) */
};

struct pod_volume {
	char *name;
	enum pod_volume_type type;
	char *medium; /* emptyDir: "", Memory, HugePages... */
	bool has_size_limit;
	ndl_quantity_t size_limit;
	char *path;	      /* hostPath */
	char *host_path_type; /* hostPath: "", DirectoryOrCreate, ... */
	char *source_name;    /* configMap name / secret secretName / PVC claimName */
	bool optional;
	int32_t default_mode; /* configMap/secret/downwardAPI/projected */
	json_t *items;	      /* borrowed: items / sources, when present */
	char *other_kind;     /* POD_VOL_OTHER: the JSON key */
};

struct pod_sysctl {
	char *name, *value;
};

struct pod_host_alias {
	char *ip;
	struct pod_strv hostnames;
};

struct pod {
	int refcount;
	json_t *json; /* the defaulted Pod, owned */

	/* metadata */
	char *name, *namespace, *uid;
	json_t *labels, *annotations; /* own references, never NULL */
	char *full_name;	      /* "<name>_<namespace>", the kubelet's key */

	/* spec */
	struct pod_container *init_containers;
	size_t n_init_containers;
	struct pod_container *containers;
	size_t n_containers;
	struct pod_volume *volumes;
	size_t n_volumes;
	char *restart_policy;			  /* Always, OnFailure, Never */
	int64_t termination_grace_period_seconds; /* -1 when absent (not defaulted) */
	bool has_termination_grace_period_seconds;
	int64_t active_deadline_seconds; /* -1 when absent */
	bool has_active_deadline_seconds;
	char *dns_policy;
	struct pod_strv dns_nameservers, dns_searches;
	json_t *dns_options; /* borrowed array or NULL */
	bool host_network, host_pid, host_ipc, share_process_namespace;
	char *hostname, *subdomain;
	char *node_name;
	char *service_account_name;
	char *priority_class_name;
	bool has_priority;
	int32_t priority;
	char *runtime_class_name;
	/* pod securityContext */
	bool has_run_as_user, has_run_as_group, has_fs_group;
	int64_t run_as_user, run_as_group, fs_group;
	pod_tristate_t run_as_non_root;
	int64_t *supplemental_groups;
	size_t n_supplemental_groups;
	struct pod_sysctl *sysctls;
	size_t n_sysctls;
	struct pod_seccomp seccomp;
	struct pod_host_alias *host_aliases;
	size_t n_host_aliases;
	json_t *node_selector; /* borrowed or NULL */
};

/* The volume source keys of core/v1 VolumeSource (emptyDir, hostPath, ...). */
extern const char *const pod_volume_sources[];
extern const size_t pod_n_volume_sources;

/* Apply the API server's v1 defaults to a Pod JSON tree in place (fields
 * of the wrong type are left for the parser to report). */
void pod_apply_defaults(json_t *pod);

/* Parse (no defaulting) + validate. On success *ret_pod owns a reference
 * to `json` (incref'd). Errors name the field path. */
int pod_from_json(json_t *json, struct pod **ret_pod, ndl_error_t *err);

/* Defaults, then parse and validate a copy of `in` (not modified). */
int pod_from_json_defaulted(const json_t *in, struct pod **ret_pod, ndl_error_t *err);

struct pod *pod_ref(struct pod *p);
void pod_unref(struct pod *p);
static inline void pod_unrefp(struct pod **p)
{
	if (*p)
		pod_unref(*p);
}
#define cleanup_pod __attribute__((cleanup(pod_unrefp)))

/* One handler object (exec/httpGet/tcpSocket/grpc/sleep) as in a probe
 * (probe = true: sleep ignored) or a lifecycle hook (grpc ignored); errors
 * name `where`. The kubelet keeps a container's preStop handler as this
 * JSON in a container annotation; the lifecycle reads it back with this.
 * On failure *h may be partly filled: pod_handler_free it. */
int pod_handler_from_json(const json_t *o, const char *where, bool probe, struct pod_handler *h,
			  ndl_error_t *err);
void pod_handler_free(struct pod_handler *h);

/* Validation only (pod_from_json calls it). */
int pod_validate(const struct pod *p, ndl_error_t *err);

/* Lookups. */
const struct pod_resource *pod_resource_get(const struct pod_resource_list *l, const char *name);
const struct pod_container *pod_find_container(const struct pod *p, const char *name);
const char *pod_annotation(const struct pod *p, const char *key);

/* The kubelet's HashContainer, byte for byte: FNV-1a 32 of the spew
 * rendering ("([]uint8)[123 34 ...]") of Go's json.Marshal of
 * {"image": image, "name": name}. */
uint32_t pod_container_hash(const char *name, const char *image);

/* FNV-1a 32 over the canonical (sorted-key,
 * compact) JSON of the container spec; printed as lower-case hex. */
uint32_t pod_container_hash_json(const json_t *container);

/* Name validators (Kubernetes apimachinery), exposed for tests. */
bool pod_is_dns1123_label(const char *s);
bool pod_is_dns1123_subdomain(const char *s);
bool pod_is_qualified_name(const char *s);
bool pod_is_env_var_name(const char *s);
bool pod_is_iana_svc_name(const char *s);

#define POD_SYSTEM_NODE_CRITICAL_PRIORITY    2000001000
#define POD_SYSTEM_CLUSTER_CRITICAL_PRIORITY 2000000000
