/* The CRI method table of nodelet-cri and the handlers implemented so far:
 * Version, Status, RuntimeConfig, UpdateRuntimeConfig. Every other method is
 * in the table and answers UNIMPLEMENTED, naming itself, until it lands. */
#include "cri/server/service.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/network/cni.h"
#include "cri/server/handlers.h"
#include "cri/server/stream.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/yaml2json.h"

#ifndef NODELET_CRI_VERSION
#define NODELET_CRI_VERSION "0.1.0"
#endif

/* ---- configuration ---- */

void cri_daemon_config_defaults(struct cri_daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = xstrdup(CRI_DEFAULT_LISTEN);
	c->root = xstrdup(CRI_DEFAULT_ROOT);
	c->run_root = xstrdup(CRI_DEFAULT_RUN_ROOT);
	c->cni_conf_dir = xstrdup(CNI_DEFAULT_CONF_DIR);
	c->cni_bin_dir = xstrdup(CNI_DEFAULT_BIN_DIR);
	c->cni_cache_dir = xstrdup(CNI_DEFAULT_CACHE_DIR);
	c->log_level = xstrdup("info");
	c->workers = 4;
}

void cri_daemon_config_free(struct cri_daemon_config *c)
{
	free(c->listen);
	free(c->root);
	free(c->run_root);
	free(c->cni_conf_dir);
	free(c->cni_bin_dir);
	free(c->cni_cache_dir);
	free(c->registry_config);
	free(c->image_preload_dir);
	free(c->log_level);
	free(c->config);
	memset(c, 0, sizeof(*c));
}

static char **config_field(struct cri_daemon_config *c, const char *key)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
	    {"listen", offsetof(struct cri_daemon_config, listen)},
	    {"root", offsetof(struct cri_daemon_config, root)},
	    {"run-root", offsetof(struct cri_daemon_config, run_root)},
	    {"cni-conf-dir", offsetof(struct cri_daemon_config, cni_conf_dir)},
	    {"cni-bin-dir", offsetof(struct cri_daemon_config, cni_bin_dir)},
	    {"cni-cache-dir", offsetof(struct cri_daemon_config, cni_cache_dir)},
	    {"registry-config", offsetof(struct cri_daemon_config, registry_config)},
	    {"image-preload-dir", offsetof(struct cri_daemon_config, image_preload_dir)},
	    {"log-level", offsetof(struct cri_daemon_config, log_level)},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].key, key) == 0)
			return (char **)((char *)c + fields[i].off);
	return NULL;
}

int cri_daemon_config_apply_file(struct cri_daemon_config *c, const char *path, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(path, 1024 * 1024, &buf, &len, err) < 0)
		return ndl_error_wrap(err, "config file");
	cleanup_json json_t *doc = NULL;
	/* YAML is a superset of the JSON we accept, so one parser serves both. */
	if (ndl_yaml_parse(buf, len, &doc, err) < 0)
		return ndl_error_wrap(err, "config file %s", path);
	if (json_is_null(doc))
		return 0;
	if (!json_is_object(doc))
		return ndl_error_setf(err, EINVAL, "config file %s: expected a mapping, got %s",
				      path, ndl_json_type_name(doc));
	const char *key;
	json_t *val;
	json_object_foreach(doc, key, val)
	{
		if (strcmp(key, "workers") == 0) {
			if (!json_is_integer(val) || json_integer_value(val) < 1 ||
			    json_integer_value(val) > 256)
				return ndl_error_setf(
				    err, EINVAL,
				    "config file %s: field \"workers\": expected an integer 1..256",
				    path);
			c->workers = (int)json_integer_value(val);
			continue;
		}
		char **f = config_field(c, key);
		if (!f)
			return ndl_error_setf(err, EINVAL, "config file %s: unknown field \"%s\"",
					      path, key);
		if (!json_is_string(val))
			return ndl_error_setf(
			    err, EINVAL, "config file %s: field \"%s\": expected string, got %s",
			    path, key, ndl_json_type_name(val));
		free(*f);
		*f = xstrdup(json_string_value(val));
	}
	return 0;
}

json_t *cri_daemon_config_json(const struct cri_daemon_config *c)
{
	json_t *j = json_object();
#define S(k, v) json_object_set_new(j, k, (v) ? json_string(v) : json_null())
	S("listen", c->listen);
	S("root", c->root);
	S("run-root", c->run_root);
	S("cni-conf-dir", c->cni_conf_dir);
	S("cni-bin-dir", c->cni_bin_dir);
	S("cni-cache-dir", c->cni_cache_dir);
	S("registry-config", c->registry_config);
	S("image-preload-dir", c->image_preload_dir);
	S("log-level", c->log_level);
	S("config", c->config);
#undef S
	json_object_set_new(j, "workers", json_integer(c->workers));
	return j;
}

/* ---- service state ---- */

static char **split_dirs(const char *s)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == ':';
	char **out = xcalloc(n + 1, sizeof(*out));
	size_t k = 0;
	cleanup_free char *copy = xstrdup(s);
	char *save = NULL;
	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
		out[k++] = xstrdup(t);
	return out;
}

static char *runtime_config_path(const struct cri_service *svc)
{
	return xasprintf("%s/runtime-config.json", svc->cfg->root);
}

/* Where the CNI plugins run from (as sandbox.c runs them). */
static void service_cni_cfg(const struct cri_service *svc, struct cni_config *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->bin_dirs = (const char *const *)svc->cni_bin_dirs;
	cc->cache_dir = svc->cfg->cni_cache_dir;
}

/* CNI GC at start, as libcni's GCNetworkList: attachments cached for
 * sandboxes we no longer know (removed while we were down, or a record lost
 * with its state) are DELeted, and 1.1.0 plugins free what no valid
 * attachment holds (host-local leases). The valid ones are the sandboxes
 * whose network is still up. A failure only warns: the node must serve. */
static void service_cni_gc(struct cri_service *svc)
{
	struct cni_netconf *net = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (cni_netconf_load_dir(svc->cfg->cni_conf_dir, &net, &e) < 0) {
		/* No network configured yet: nothing to collect against. */
		log_debug(1, "CNI GC skipped", "dir=%s err=\"%s\"", svc->cfg->cni_conf_dir,
			  ndl_error_msg(&e));
		ndl_error_clear(&e);
		return;
	}
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_SANDBOX, NULL, &list, &n);
	struct cni_attachment *valid = xcalloc(n ? n : 1, sizeof(*valid));
	size_t nv = 0;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&list[i]->lock);
		bool up = json_object_get(list[i]->data, "cni_network") &&
			  !json_is_true(json_object_get(list[i]->data, "network_down"));
		pthread_mutex_unlock(&list[i]->lock);
		if (up)
			valid[nv++] = (struct cni_attachment){list[i]->id, "eth0"};
	}
	struct cni_config cc;
	service_cni_cfg(svc, &cc);
	if (cni_network_gc(&cc, net, valid, nv, &e) < 0)
		log_warn("CNI GC failed", "network=%s valid=%zu err=\"%s\"", net->name, nv,
			 ndl_error_msg(&e));
	else
		log_debug(1, "CNI GC done", "network=%s valid=%zu", net->name, nv);
	ndl_error_clear(&e);
	free(valid);
	cri_store_list_free(list, n);
	cni_netconf_free(net);
}

int cri_service_init(struct cri_service *svc, const struct cri_daemon_config *cfg, ndl_error_t *err)
{
	memset(svc, 0, sizeof(*svc));
	svc->cfg = cfg;
	svc->inotify_fd = svc->watch_stop[0] = svc->watch_stop[1] = -1;
	pthread_mutex_init(&svc->lock, NULL);
	pthread_mutex_init(&svc->exit_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&svc->exit_cond, &ca);
	pthread_condattr_destroy(&ca);
	svc->cni_bin_dirs = split_dirs(cfg->cni_bin_dir);
	svc->pulls_max = cfg->workers > 1 ? cfg->workers - 1 : 1;
	if (cri_store_open(cfg->root, &svc->store, err) < 0) {
		cri_service_fini(svc);
		return -abs(err && err->code ? err->code : EIO);
	}
	/* The image store shares --root with the state store (its own
	 * subdirectories: blobs/, snapshots/, rootfs/, images.json). */
	struct image_store_options io = {
	    .root = cfg->root,
	    .registry_config = cfg->registry_config,
	};
	if (images_store_open(&io, &svc->images, err) < 0) {
		ndl_error_wrap(err, "image store %s", cfg->root);
		cri_service_fini(svc);
		return -abs(err && err->code ? err->code : EIO);
	}
	/* Leftovers of a crash first (containers before their sandboxes). */
	cri_containers_gc(svc);
	cri_sandboxes_gc(svc);
	service_cni_gc(svc);
	if (cri_containers_init(svc, err) < 0) {
		cri_service_fini(svc);
		return -abs(err && err->code ? err->code : EIO);
	}
	if (cfg->image_preload_dir) {
		ndl_error_t pe = NDL_ERROR_INIT;
		/* Errors of single archives are logged by the store; one bad file
		 * must not keep the node from serving the others. */
		if (images_preload_dir(svc->images, cfg->image_preload_dir, &pe) < 0)
			log_warn("image preload incomplete", "dir=%s err=\"%s\"",
				 cfg->image_preload_dir, ndl_error_msg(&pe));
		ndl_error_clear(&pe);
	}
	/* The pod CIDR outlives restarts: the kubelet only sends it on change. */
	cleanup_free char *path = runtime_config_path(svc);
	cleanup_json json_t *rc = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_path_exists(path)) {
		const char *cidr = NULL;
		if (ndl_json_load_file(path, &rc, &e) < 0 ||
		    ndl_json_get_string(rc, "", "podCIDR", false, &cidr, &e) < 0)
			log_warn("ignoring runtime config", "path=%s err=\"%s\"", path,
				 ndl_error_msg(&e));
		else if (cidr && *cidr)
			svc->pod_cidr = xstrdup(cidr);
		ndl_error_clear(&e);
	}
	return 0;
}

void cri_service_fini(struct cri_service *svc)
{
	cri_containers_fini(svc);
	images_store_close(svc->images);
	svc->images = NULL;
	cri_store_close(svc->store);
	svc->store = NULL;
	for (char **d = svc->cni_bin_dirs; d && *d; d++)
		free(*d);
	free(svc->cni_bin_dirs);
	svc->cni_bin_dirs = NULL;
	free(svc->pod_cidr);
	svc->pod_cidr = NULL;
	pthread_mutex_destroy(&svc->lock);
	pthread_mutex_destroy(&svc->exit_lock);
	pthread_cond_destroy(&svc->exit_cond);
}

char *cri_service_pod_cidr(struct cri_service *svc)
{
	pthread_mutex_lock(&svc->lock);
	char *s = svc->pod_cidr ? xstrdup(svc->pod_cidr) : NULL;
	pthread_mutex_unlock(&svc->lock);
	return s;
}

int cri_service_post_event(struct cri_service *svc, const Runtime__V1__ContainerEventResponse *ev)
{
	return cri_rpc_post_event(svc->rpc, &ev->base);
}

/* ---- handlers ---- */

static enum cri_status h_version(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
	resp.version = (char *)CRI_KUBELET_API_VERSION;
	resp.runtime_name = (char *)CRI_RUNTIME_NAME;
	resp.runtime_version = (char *)NODELET_CRI_VERSION;
	resp.runtime_api_version = (char *)CRI_RUNTIME_API_VERSION;
	return cri_reply_ok(r, &resp.base);
}

static enum cri_status h_status(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__StatusRequest *in = (const Runtime__V1__StatusRequest *)req;

	struct cni_netconf *net = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	int nr = cni_netconf_load_dir(svc->cfg->cni_conf_dir, &net, &e);
	cleanup_free char *net_msg = NULL;
	if (nr < 0) {
		/* The wording containerd uses, so tools matching on it keep working. */
		net_msg = xasprintf("Network plugin returns error: cni plugin not initialized: %s",
				    ndl_error_msg(&e));
	} else {
		/* The plugins' own readiness (CNI 1.1 STATUS; nothing runs for
		 * older lists), as containerd's netPlugin.Status() reports it. */
		struct cni_config cc;
		service_cni_cfg(svc, &cc);
		nr = cni_network_status(&cc, net, &e);
		if (nr < 0)
			net_msg = xasprintf("Network plugin returns error: %s", ndl_error_msg(&e));
	}

	Runtime__V1__RuntimeCondition rt_cond = RUNTIME__V1__RUNTIME_CONDITION__INIT;
	rt_cond.type = (char *)"RuntimeReady";
	rt_cond.status = true;
	rt_cond.reason = (char *)"";
	rt_cond.message = (char *)"";
	Runtime__V1__RuntimeCondition net_cond = RUNTIME__V1__RUNTIME_CONDITION__INIT;
	net_cond.type = (char *)"NetworkReady";
	net_cond.status = nr == 0;
	net_cond.reason = (char *)(nr == 0 ? "" : "NetworkPluginNotReady");
	net_cond.message = nr == 0 ? (char *)"" : net_msg;
	Runtime__V1__RuntimeCondition *conds[] = {&rt_cond, &net_cond};
	Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
	status.n_conditions = 2;
	status.conditions = conds;
	Runtime__V1__StatusResponse resp = RUNTIME__V1__STATUS_RESPONSE__INIT;
	resp.status = &status;

	Runtime__V1__StatusResponse__InfoEntry info[3];
	Runtime__V1__StatusResponse__InfoEntry *infop[3];
	cleanup_free char *cfg_s = NULL, *cni_s = NULL, *load_s = NULL;
	if (in->verbose) {
		cleanup_json json_t *cj = cri_daemon_config_json(svc->cfg);
		cleanup_free char *pod_cidr = cri_service_pod_cidr(svc);
		json_object_set_new(cj, "podCIDR", json_string(pod_cidr ? pod_cidr : ""));
		cfg_s = ndl_json_dumps(cj, false);
		cni_s = net ? ndl_json_dumps(net->list, false) : xstrdup("{}");
		load_s = xstrdup(nr == 0 ? "OK" : ndl_error_msg(&e));
		const char *keys[] = {"config", "cniconfig", "lastCNILoadStatus"};
		char *vals[] = {cfg_s, cni_s, load_s};
		for (int i = 0; i < 3; i++) {
			runtime__v1__status_response__info_entry__init(&info[i]);
			info[i].key = (char *)keys[i];
			info[i].value = vals[i];
			infop[i] = &info[i];
		}
		resp.n_info = 3;
		resp.info = infop;
	}
	enum cri_status st = cri_reply_ok(r, &resp.base);
	cni_netconf_free(net);
	ndl_error_clear(&e);
	return st;
}

static enum cri_status h_runtime_config(void *user, const ProtobufCMessage *req,
					struct cri_reply *r)
{
	Runtime__V1__LinuxRuntimeConfiguration lin = RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;
	/* Cgroups are managed directly through cgroupfs, never through systemd. */
	lin.cgroup_driver = RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
	Runtime__V1__RuntimeConfigResponse resp = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
	resp.linux = &lin;
	return cri_reply_ok(r, &resp.base);
}

static bool valid_cidr(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s)
		return false;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t alen = (size_t)(slash - s);
	if (alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = 0;
	unsigned char buf[16];
	int max;
	if (inet_pton(AF_INET, addr, buf) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, buf) == 1)
		max = 128;
	else
		return false;
	char *end = NULL;
	const char *p = slash + 1;
	if (*p < '0' || *p > '9')
		return false;
	long bits = strtol(p, &end, 10);
	return *end == 0 && bits >= 0 && bits <= max;
}

static enum cri_status h_update_runtime_config(void *user, const ProtobufCMessage *req,
					       struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__UpdateRuntimeConfigRequest *in =
	    (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
	const char *cidr = "";
	if (in->runtime_config && in->runtime_config->network_config &&
	    in->runtime_config->network_config->pod_cidr)
		cidr = in->runtime_config->network_config->pod_cidr;
	/* The kubelet sends "" before the node has a pod CIDR: nothing to do, as
	 * containerd does. Dual-stack CIDRs arrive comma separated. */
	if (!*cidr) {
		Runtime__V1__UpdateRuntimeConfigResponse resp =
		    RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
		return cri_reply_ok(r, &resp.base);
	}
	cleanup_free char *copy = xstrdup(cidr);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!valid_cidr(t))
			return cri_reply_error(r, CRI_INVALID_ARGUMENT,
					       "field \"runtime_config.network_config.pod_cidr\": "
					       "invalid CIDR \"%.64s%s\"",
					       t, strlen(t) > 64 ? "..." : "");

	cleanup_json json_t *doc = json_pack("{s:s}", "podCIDR", cidr);
	cleanup_free char *data = ndl_json_dumps(doc, true);
	cleanup_free char *path = runtime_config_path(svc);
	ndl_error_t e = NDL_ERROR_INIT;
	pthread_mutex_lock(&svc->lock);
	int wr = ndl_write_file_atomic(path, data, strlen(data), 0600, &e);
	if (wr == 0) {
		free(svc->pod_cidr);
		svc->pod_cidr = xstrdup(cidr);
	}
	pthread_mutex_unlock(&svc->lock);
	if (wr < 0) {
		ndl_error_wrap(&e, "UpdateRuntimeConfig: persist pod CIDR");
		enum cri_status st = cri_reply_from_error(r, &e);
		ndl_error_clear(&e);
		return st;
	}
	log_info("pod CIDR updated", "podCIDR=%s", cidr);
	Runtime__V1__UpdateRuntimeConfigResponse resp =
	    RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

static enum cri_status on_events_subscribe(void *user, const ProtobufCMessage *req,
					   struct cri_reply *r)
{
	log_debug(2, "container events subscriber", NULL);
	return CRI_OK;
}

/* ---- the table ---- */

#define NI_MSG(svc, m) "nodelet-cri: " #svc "/" #m " is not implemented yet"
#define METHOD(svc, m, req, fn)                                                                    \
	{                                                                                          \
		"/runtime.v1." #svc "/" #m, &runtime__v1__##req##__descriptor, fn, NI_MSG(svc, m)  \
	}

static const struct cri_method methods[] = {
    METHOD(RuntimeService, Version, version_request, h_version),
    METHOD(RuntimeService, RunPodSandbox, run_pod_sandbox_request, cri_h_run_pod_sandbox),
    METHOD(RuntimeService, StopPodSandbox, stop_pod_sandbox_request, cri_h_stop_pod_sandbox),
    METHOD(RuntimeService, RemovePodSandbox, remove_pod_sandbox_request, cri_h_remove_pod_sandbox),
    METHOD(RuntimeService, PodSandboxStatus, pod_sandbox_status_request, cri_h_pod_sandbox_status),
    METHOD(RuntimeService, ListPodSandbox, list_pod_sandbox_request, cri_h_list_pod_sandbox),
    METHOD(RuntimeService, CreateContainer, create_container_request, cri_h_create_container),
    METHOD(RuntimeService, StartContainer, start_container_request, cri_h_start_container),
    METHOD(RuntimeService, StopContainer, stop_container_request, cri_h_stop_container),
    METHOD(RuntimeService, RemoveContainer, remove_container_request, cri_h_remove_container),
    METHOD(RuntimeService, ListContainers, list_containers_request, cri_h_list_containers),
    METHOD(RuntimeService, ContainerStatus, container_status_request, cri_h_container_status),
    METHOD(RuntimeService, UpdateContainerResources, update_container_resources_request, cri_h_update_container_resources),
    METHOD(RuntimeService, ReopenContainerLog, reopen_container_log_request, cri_h_reopen_container_log),
    METHOD(RuntimeService, ExecSync, exec_sync_request, cri_h_exec_sync),
    METHOD(RuntimeService, Exec, exec_request, cri_h_exec),
    METHOD(RuntimeService, Attach, attach_request, cri_h_attach),
    METHOD(RuntimeService, PortForward, port_forward_request, cri_h_port_forward),
    METHOD(RuntimeService, ContainerStats, container_stats_request, cri_h_container_stats),
    METHOD(RuntimeService, ListContainerStats, list_container_stats_request, cri_h_list_container_stats),
    METHOD(RuntimeService, PodSandboxStats, pod_sandbox_stats_request, cri_h_pod_sandbox_stats),
    METHOD(RuntimeService, ListPodSandboxStats, list_pod_sandbox_stats_request, cri_h_list_pod_sandbox_stats),
    METHOD(RuntimeService, UpdateRuntimeConfig, update_runtime_config_request,
	   h_update_runtime_config),
    METHOD(RuntimeService, Status, status_request, h_status),
    METHOD(RuntimeService, CheckpointContainer, checkpoint_container_request, NULL),
    METHOD(RuntimeService, ListMetricDescriptors, list_metric_descriptors_request, NULL),
    METHOD(RuntimeService, ListPodSandboxMetrics, list_pod_sandbox_metrics_request, NULL),
    METHOD(RuntimeService, RuntimeConfig, runtime_config_request, h_runtime_config),
    METHOD(ImageService, ListImages, list_images_request, cri_h_list_images),
    METHOD(ImageService, ImageStatus, image_status_request, cri_h_image_status),
    METHOD(ImageService, PullImage, pull_image_request, cri_h_pull_image),
    METHOD(ImageService, RemoveImage, remove_image_request, cri_h_remove_image),
    METHOD(ImageService, ImageFsInfo, image_fs_info_request, cri_h_image_fs_info),
};

static const struct cri_stream_method events_stream = {
    "/runtime.v1.RuntimeService/GetContainerEvents",
    &runtime__v1__get_events_request__descriptor,
    on_events_subscribe,
};

const struct cri_method *cri_service_methods(size_t *ret_n)
{
	*ret_n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}

const struct cri_stream_method *cri_service_stream(void)
{
	return &events_stream;
}
