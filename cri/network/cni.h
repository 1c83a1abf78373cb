/* CNI from the runtime side, as libcni does it: load the network config
 * list from a conf dir, execute the plugin chain (ADD in order with
 * prevResult chaining, DEL in reverse, CHECK), and cache each ADD result on
 * disk so DEL gets the same config and prevResult later. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

#define CNI_DEFAULT_CONF_DIR   "/etc/cni/net.d"
#define CNI_DEFAULT_BIN_DIR    "/opt/cni/bin"
#define CNI_DEFAULT_CACHE_DIR  "/var/lib/cni"
#define CNI_DEFAULT_TIMEOUT_MS (120 * 1000)
/* Largest conf file or plugin output accepted. */
#define CNI_MAX_CONF_SIZE (1024 * 1024)
#define CNI_MAX_OUTPUT	  (4 * 1024 * 1024)

/* A loaded, validated network configuration list. */
struct cni_netconf {
	char *name;
	char *cni_version;
	char *source; /* file it came from (or "<bytes>") */
	json_t *list; /* the conflist object (a .conf is wrapped into one) */
	char *bytes;  /* list serialised: what the result cache records */
	size_t n_plugins;
	bool disable_check;
	bool disable_gc; /* "disableGC" (CNI 1.1) */
};

void cni_netconf_free(struct cni_netconf *n);

/* Parse and validate a config list (is_list) or a single-plugin .conf,
 * wrapping the latter into a list. Errors name the field. */
int cni_netconf_parse(const char *buf, size_t len, bool is_list, const char *source,
		      struct cni_netconf **ret, ndl_error_t *err);

/* Load the config the way containerd's CNI layer does: the lexicographically
 * first "*.conflist", "*.conf" or "*.json" file of dir is the network. ENOENT
 * when the dir holds none; the file's own error when it is invalid. */
int cni_netconf_load_dir(const char *dir, struct cni_netconf **ret, ndl_error_t *err);

/* Load the config named `name` from dir (every file in the same order; the
 * first whose name matches), as libcni's LoadConfList does. ENOENT if none. */
int cni_netconf_load_by_name(const char *dir, const char *name, struct cni_netconf **ret,
			     ndl_error_t *err);

/* The loopback network containerd's CRI attaches before the pod network
 * (go-cni's WithLoNetwork): {"cniVersion": "0.3.1", "name":
 * "cni-loopback", "plugins": [{"type": "loopback"}]}, on interface "lo".
 * ADD it with ifname CNI_LOOPBACK_IFNAME so the pod's lo is up (127.0.0.1
 * reachable between the pod's containers); DEL it on teardown. */
#define CNI_LOOPBACK_NETWORK "cni-loopback"
#define CNI_LOOPBACK_IFNAME  "lo"
struct cni_netconf *cni_loopback_netconf(void);

/* Where and how plugins run. */
struct cni_config {
	const char *const *bin_dirs; /* NULL-terminated search list */
	const char *cache_dir;	     /* NULL: CNI_DEFAULT_CACHE_DIR */
	int timeout_ms;		     /* per plugin invocation; 0: default */
};

/* One CNI_ARGS key=value pair. */
struct cni_arg {
	const char *key;
	const char *value;
};

/* The attachment being operated on. */
struct cni_runtime {
	const char *container_id;
	const char *netns; /* path; may be NULL/"" for DEL */
	const char *ifname;
	const struct cni_arg *args; /* CNI_ARGS, in order */
	size_t n_args;
	/* {"portMappings": [...], "ips": [...], "bandwidth": {...}, "dns": {...},
	 *  "ipRanges": [...]}: passed to each plugin as runtimeConfig, but only
	 * the keys the plugin declares in its "capabilities". May be NULL. */
	json_t *capability_args;
};

/* CNI_ARGS for a Kubernetes pod, in the order the brief of this runtime
 * fixes: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID,
 * K8S_POD_UID, IgnoreUnknown=1. out must have room for 5. Returns 5. */
size_t cni_k8s_args(struct cni_arg *out, const char *ns, const char *name, const char *infra_id,
		    const char *uid);

/* The "ipRanges" capability argument for a pod CIDR list as the kubelet
 * sends it ("10.244.1.0/24,fd00:1::/64"): one range set per CIDR,
 * [[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00:1::/64"}]]. NULL for an
 * empty or NULL list. New reference. */
json_t *cni_ip_ranges(const char *pod_cidrs);

/* "K=V;K=V" (heap). */
char *cni_args_string(const struct cni_arg *args, size_t n);

/* The environment for one invocation (heap, NULL-terminated): the daemon's
 * environment without CNI_* variables, plus CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH. Free with cni_env_free. */
char **cni_build_env(const char *command, const struct cni_config *cfg,
		     const struct cni_runtime *rt);
void cni_env_free(char **env);

/* The stdin config of plugin i of the list: the plugin object plus "name",
 * "cniVersion", "prevResult" (when given) and "runtimeConfig" (declared
 * capabilities only). New reference. */
json_t *cni_plugin_stdin(const struct cni_netconf *net, size_t i, json_t *prev_result,
			 json_t *capability_args);

/* Run one plugin binary (found in cfg->bin_dirs) with env and stdin; on
 * success *ret_output is its parsed stdout (NULL when empty). A failing
 * plugin's CNI error object becomes the message: 'plugin "bridge" ADD failed:
 * code 7: msg (details)'. Never changes namespace in this process. */
int cni_exec_plugin(const struct cni_config *cfg, const char *type, char *const env[],
		    const char *stdin_data, size_t stdin_len, const char *command,
		    json_t **ret_output, ndl_error_t *err);

/* ADD the list: each plugin in order, prevResult chained; the final result
 * is cached and returned. On failure the plugins already run are DELeted
 * (best effort) and the cache entry removed. */
int cni_network_add(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, json_t **ret_result, ndl_error_t *err);

/* DEL: in reverse order, with the cached config and result of the ADD when
 * present (else net); then removes the cache entry. Missing cache and a
 * missing net is an error (nothing to run). */
int cni_network_del(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, ndl_error_t *err);

/* CHECK (cniVersion >= 0.4.0): in order, with the cached result as prevResult. */
int cni_network_check(const struct cni_config *cfg, const struct cni_netconf *net,
		      const struct cni_runtime *rt, ndl_error_t *err);

/* STATUS, as libcni's GetStatusNetworkList: for a list of cniVersion >=
 * 1.1.0, each plugin in order gets CNI_COMMAND=STATUS with its config (no
 * container, netns or ifname); the first failure is returned, naming the
 * plugin and its CNI error code (50: not available, 51: limited
 * connectivity). Lists before 1.1.0 have no STATUS: 0 without running
 * anything. */
int cni_network_status(const struct cni_config *cfg, const struct cni_netconf *net,
		       ndl_error_t *err);

/* An attachment the runtime still uses (libcni's GCAttachment). */
struct cni_attachment {
	const char *container_id;
	const char *ifname;
};

/* GC, as libcni's GCNetworkList. Unless the list says "disableGC": true,
 * (1) every cached attachment of this network (result cache) that is not in
 * valid gets a DEL with what the cache recorded (netns, CNI_ARGS,
 * capability args); (2) for cniVersion >= 1.1.0, each plugin gets
 * CNI_COMMAND=GC with "cni.dev/valid-attachments" (and the older spelling
 * "cni.dev/attachments") listing valid, so plugins free what no attachment
 * holds (host-local leases, stale bridge rules). valid == NULL means no
 * list at all (every cached attachment is stale and no key is sent, as
 * libcni does for nil GCArgs); use a non-NULL pointer with n_valid 0 for an
 * empty list. Every step runs even after a failure; the first error is
 * returned, with the number of failures. */
int cni_network_gc(const struct cni_config *cfg, const struct cni_netconf *net,
		   const struct cni_attachment *valid, size_t n_valid, ndl_error_t *err);

/* ---- the libcni result cache: <cache_dir>/results/<net>-<id>-<ifname> ---- */
char *cni_cache_path(const struct cni_config *cfg, const char *net_name, const char *container_id,
		     const char *ifname);
/* The cache record (kind "cniCacheV1"; config base64 of the list bytes). */
json_t *cni_cache_record(const struct cni_netconf *net, const struct cni_runtime *rt,
			 json_t *result);
int cni_cache_write(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, json_t *result, ndl_error_t *err);
/* Read and validate a record; *ret_net is the cached list, *ret_result the
 * cached result (may be NULL), *ret_caps the cached capability args (may be NULL). */
int cni_cache_read(const struct cni_config *cfg, const char *net_name, const char *container_id,
		   const char *ifname, struct cni_netconf **ret_net, json_t **ret_result,
		   json_t **ret_caps, ndl_error_t *err);
int cni_cache_parse(const char *buf, size_t len, struct cni_netconf **ret_net, json_t **ret_result,
		    json_t **ret_caps, ndl_error_t *err);
int cni_cache_remove(const struct cni_config *cfg, const char *net_name, const char *container_id,
		     const char *ifname, ndl_error_t *err);

/* Compare semantic CNI versions ("0.4.0" < "1.0.0"); unparsable sorts lowest. */
int cni_version_cmp(const char *a, const char *b);
