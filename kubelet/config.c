/* KubeletConfiguration v1beta1: defaults, file loading, flag overrides,
 * validation. Field names, defaults and checks follow the kubelet's
 * config/v1beta1 types, defaults and validation. */
#include "config-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/duration.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/quantity.h"
#include "lib/xalloc.h"
#include "lib/yaml2json.h"

#define ZERO_IS_DEFAULT true
#define OPT(flag, field, type, member, def, zero_is_default, help)                                 \
	{                                                                                          \
		flag, field, KOPT_##type, offsetof(struct kubelet_config, member), def,            \
		    zero_is_default, help                                                          \
	}

/* Flags and fields nodelet uses, with the kubelet's defaults (config/v1beta1
 * defaults.go and the flag defaults). Flags that are deprecated aliases of a
 * config field in the kubelet keep working and take precedence. */
const struct kubelet_option kubelet_options[] = {
    OPT("config", NULL, STRING, config_path, NULL, 0,
	"KubeletConfiguration file (kubelet.config.k8s.io/v1beta1)"),
    OPT("root-dir", NULL, STRING, root_dir, KUBELET_DEFAULT_ROOT_DIR, 0,
	"directory for nodelet files"),
    OPT("hostname-override", NULL, STRING, hostname_override, NULL, 0,
	"node name to use instead of the hostname"),
    OPT("node-ip", NULL, STRING, node_ip, NULL, 0,
	"IP address(es) of the node (comma-separated, one per family)"),
    OPT("kubeconfig", NULL, STRING, kubeconfig, NULL, 0,
	"API server credentials; absent = standalone mode"),
    OPT("v", NULL, INT32, verbosity, "0", 0, "log verbosity (also -v)"),
    OPT("pod-manifest-path", "staticPodPath", STRING, static_pod_path, NULL, 0,
	"static pod manifest directory or file"),
    OPT("manifest-url", "staticPodURL", STRING, static_pod_url, NULL, 0,
	"URL of static pod manifests (not fetched yet)"),
    OPT("sync-frequency", "syncFrequency", DURATION, sync_frequency_ns, "1m0s", ZERO_IS_DEFAULT,
	"max period between pod syncs"),
    OPT("file-check-frequency", "fileCheckFrequency", DURATION, file_check_frequency_ns, "20s",
	ZERO_IS_DEFAULT, "manifest dir re-check period"),
    OPT("http-check-frequency", "httpCheckFrequency", DURATION, http_check_frequency_ns, "20s",
	ZERO_IS_DEFAULT, "manifest URL re-check period"),
    OPT("address", "address", STRING, address, "0.0.0.0", ZERO_IS_DEFAULT,
	"serving address for the kubelet API"),
    OPT("port", "port", INT32, port, "10250", ZERO_IS_DEFAULT, "kubelet API port"),
    OPT("read-only-port", "readOnlyPort", INT32, read_only_port, "0", 0,
	"read-only port for /pods and /healthz; 0 disables"),
    OPT("healthz-port", "healthzPort", INT32, healthz_port, "10248", 0, "healthz port; 0 disables"),
    OPT("healthz-bind-address", "healthzBindAddress", STRING, healthz_bind_address, "127.0.0.1",
	ZERO_IS_DEFAULT, "healthz address"),
    OPT("container-runtime-endpoint", "containerRuntimeEndpoint", STRING,
	container_runtime_endpoint, KUBELET_DEFAULT_CRI_ENDPOINT, ZERO_IS_DEFAULT, "CRI endpoint"),
    OPT("image-service-endpoint", "imageServiceEndpoint", STRING, image_service_endpoint, NULL, 0,
	"CRI image endpoint (default: the runtime endpoint)"),
    OPT("cgroup-driver", "cgroupDriver", STRING, cgroup_driver, "cgroupfs", ZERO_IS_DEFAULT,
	"cgroupfs or systemd"),
    OPT("cgroup-root", "cgroupRoot", STRING, cgroup_root, "/", 0, "root cgroup for pods"),
    OPT("cgroups-per-qos", "cgroupsPerQOS", BOOL, cgroups_per_qos, "true", 0,
	"QoS and pod cgroup hierarchy"),
    OPT("max-pods", "maxPods", INT32, max_pods, "110", ZERO_IS_DEFAULT, "max pods on this node"),
    OPT("pod-max-pids", "podPidsLimit", INT64, pod_pids_limit, "-1", 0,
	"max processes per pod; -1 unlimited"),
    OPT("runtime-request-timeout", "runtimeRequestTimeout", DURATION, runtime_request_timeout_ns,
	"2m0s", ZERO_IS_DEFAULT, "CRI request timeout"),
    OPT("serialize-image-pulls", "serializeImagePulls", BOOL, serialize_image_pulls, "true", 0,
	"pull one image at a time"),
    OPT("max-parallel-image-pulls", "maxParallelImagePulls", INT32, max_parallel_image_pulls, NULL,
	0, "max parallel pulls when not serialized"),
    OPT("container-log-max-size", "containerLogMaxSize", STRING, container_log_max_size, "10Mi",
	ZERO_IS_DEFAULT, "rotate container logs at this size"),
    OPT("container-log-max-files", "containerLogMaxFiles", INT32, container_log_max_files, "5", 0,
	"log files kept per container"),
    OPT("container-log-max-workers", "containerLogMaxWorkers", INT32, container_log_max_workers,
	"1", 0, "log rotation workers"),
    OPT("container-log-monitor-interval", "containerLogMonitorInterval", DURATION,
	container_log_monitor_interval_ns, "10s", 0, "log rotation check period"),
    OPT("eviction-hard", "evictionHard", EVICTION, eviction_hard,
	"memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%", 0,
	"hard eviction thresholds (parsed; not enforced yet)"),
    OPT("eviction-pressure-transition-period", "evictionPressureTransitionPeriod", DURATION,
	eviction_pressure_transition_period_ns, "5m0s", ZERO_IS_DEFAULT, ""),
    OPT("cluster-dns", "clusterDNS", STRING_LIST, cluster_dns, NULL, 0,
	"DNS server IPs for pods (comma-separated)"),
    OPT("cluster-domain", "clusterDomain", STRING, cluster_domain, NULL, 0, "cluster DNS domain"),
    OPT("resolv-conf", "resolvConf", STRING, resolv_conf, "/etc/resolv.conf", 0,
	"resolver config for pods"),
    OPT("minimum-image-ttl-duration", "imageMinimumGCAge", DURATION, image_minimum_gc_age_ns,
	"2m0s", ZERO_IS_DEFAULT, ""),
    OPT(NULL, "imageMaximumGCAge", DURATION, image_maximum_gc_age_ns, "0s", 0, ""),
    OPT("image-gc-high-threshold", "imageGCHighThresholdPercent", INT32,
	image_gc_high_threshold_percent, "85", 0, ""),
    OPT("image-gc-low-threshold", "imageGCLowThresholdPercent", INT32,
	image_gc_low_threshold_percent, "80", 0, ""),
    OPT("fail-swap-on", "failSwapOn", BOOL, fail_swap_on, "true", 0,
	"refuse to start with swap on"),
    OPT("node-status-update-frequency", "nodeStatusUpdateFrequency", DURATION,
	node_status_update_frequency_ns, "10s", ZERO_IS_DEFAULT, ""),
    OPT(NULL, "nodeStatusReportFrequency", DURATION, node_status_report_frequency_ns, "5m0s",
	ZERO_IS_DEFAULT, ""),
    OPT(NULL, "nodeLeaseDurationSeconds", INT32, node_lease_duration_seconds, "40", ZERO_IS_DEFAULT,
	""),
    OPT("cpu-cfs-quota", "cpuCFSQuota", BOOL, cpu_cfs_quota, "true", 0,
	"enforce CPU limits with CFS quota"),
    OPT("cpu-cfs-quota-period", "cpuCFSQuotaPeriod", DURATION, cpu_cfs_quota_period_ns, "100ms", 0,
	""),
    OPT("hairpin-mode", "hairpinMode", STRING, hairpin_mode, "promiscuous-bridge", ZERO_IS_DEFAULT,
	"promiscuous-bridge, hairpin-veth or none"),
    OPT("oom-score-adj", "oomScoreAdj", INT32, oom_score_adj, "-999", 0,
	"kubelet's own oom_score_adj"),
    OPT("register-node", "registerNode", BOOL, register_node, "true", 0,
	"register with the API server"),
    OPT("enable-debugging-handlers", "enableDebuggingHandlers", BOOL, enable_debugging_handlers,
	"true", 0, ""),
    OPT("streaming-connection-idle-timeout", "streamingConnectionIdleTimeout", DURATION,
	streaming_connection_idle_timeout_ns, "4h0m0s", ZERO_IS_DEFAULT, ""),
    OPT("volume-stats-agg-period", "volumeStatsAggPeriod", DURATION, volume_stats_agg_period_ns,
	"1m0s", ZERO_IS_DEFAULT, ""),
    OPT(NULL, "podLogsDir", STRING, pod_logs_dir, "/var/log/pods", ZERO_IS_DEFAULT, ""),
    OPT("seccomp-default", "seccompDefault", BOOL, seccomp_default, "false", 0,
	"RuntimeDefault seccomp for all pods"),
    OPT("protect-kernel-defaults", "protectKernelDefaults", BOOL, protect_kernel_defaults, "false",
	0, ""),
    OPT("make-iptables-util-chains", "makeIPTablesUtilChains", BOOL, make_iptables_util_chains,
	"true", 0, ""),
    OPT("iptables-masquerade-bit", "iptablesMasqueradeBit", INT32, iptables_masquerade_bit, "14", 0,
	""),
    OPT("iptables-drop-bit", "iptablesDropBit", INT32, iptables_drop_bit, "15", 0, ""),
    OPT("registry-qps", "registryPullQPS", INT32, registry_pull_qps, "5", 0, ""),
    OPT("registry-burst", "registryBurst", INT32, registry_burst, "10", ZERO_IS_DEFAULT, ""),
    OPT("event-qps", "eventRecordQPS", INT32, event_record_qps, "50", 0, ""),
    OPT("event-burst", "eventBurst", INT32, event_burst, "100", ZERO_IS_DEFAULT, ""),
    OPT("kube-api-qps", "kubeAPIQPS", INT32, kube_api_qps, "50", 0, ""),
    OPT("kube-api-burst", "kubeAPIBurst", INT32, kube_api_burst, "100", ZERO_IS_DEFAULT, ""),
    OPT("max-open-files", "maxOpenFiles", INT32, max_open_files, "1000000", ZERO_IS_DEFAULT, ""),
    OPT("cpu-manager-policy", "cpuManagerPolicy", STRING, cpu_manager_policy, "none",
	ZERO_IS_DEFAULT, "none (static not implemented)"),
    OPT("memory-manager-policy", "memoryManagerPolicy", STRING, memory_manager_policy, "None",
	ZERO_IS_DEFAULT, "None (Static not implemented)"),
    OPT("topology-manager-policy", "topologyManagerPolicy", STRING, topology_manager_policy, "none",
	ZERO_IS_DEFAULT, "none"),
    OPT(NULL, "shutdownGracePeriod", DURATION, shutdown_grace_period_ns, "0s", 0, ""),
    OPT(NULL, "memoryThrottlingFactor", FLOAT, memory_throttling_factor, "0.9", 0, ""),
};
const size_t kubelet_n_options = sizeof(kubelet_options) / sizeof(kubelet_options[0]);

static bool json_is_zero_value(const struct kubelet_option *o, const json_t *v)
{
	if (!o->zero_is_default)
		return false;
	if (json_is_string(v) && !*json_string_value(v))
		return true;
	if (json_is_integer(v) && json_integer_value(v) == 0)
		return true;
	if (o->type == KOPT_DURATION && json_is_string(v)) {
		int64_t ns = 1;
		ndl_error_t e = NDL_ERROR_INIT;
		if (ndl_duration_parse(json_string_value(v), &ns, &e) == 0 && ns == 0)
			return true;
		ndl_error_clear(&e);
	}
	return false;
}

/* KubeletConfiguration fields that exist in v1beta1 but nodelet does not act
 * on yet: accepted (logged at -v=1) so existing config files keep working. */
static const char *const accepted_fields[] = {
    "enableServer",
    "staticPodURLHeader",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "enableContentionProfiling",
    "providerID",
    "kubeletCgroups",
    "systemCgroups",
    "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "podCIDR",
    "podsPerCore",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "mergeDefaultEvictionSettings",
    "enableControllerAttachDetach",
    "featureGates",
    "memorySwap",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "enableSystemLogQuery",
    "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority",
    "reservedMemory",
    "enableProfilingHandler",
    "enableDebugFlagsHandler",
    "registerWithTaints",
    "localStorageCapacityIsolation",
    "failCgroupV1",
    "crashLoopBackOff",
    "userNamespaces",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "singleProcessOOMKill",
    "contentType",
    "configMapAndSecretChangeDetectionStrategy",
    "nodeStatusMaxImages",
    "containerRuntime",
};

const struct kubelet_option *kubelet_option_by_flag(const char *name)
{
	for (size_t i = 0; i < kubelet_n_options; i++)
		if (kubelet_options[i].flag && strcmp(kubelet_options[i].flag, name) == 0)
			return &kubelet_options[i];
	return NULL;
}

const struct kubelet_option *kubelet_option_by_field(const char *field)
{
	for (size_t i = 0; i < kubelet_n_options; i++)
		if (kubelet_options[i].field && strcmp(kubelet_options[i].field, field) == 0)
			return &kubelet_options[i];
	return NULL;
}

static void set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? xstrdup(v) : NULL;
}

void kubelet_config_init(struct kubelet_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < kubelet_n_options; i++) {
		const struct kubelet_option *o = &kubelet_options[i];
		ndl_error_t e = NDL_ERROR_INIT;
		if (o->def && kubelet_option_set_string(c, o, o->def, &e) < 0) {
			/* A default the table's own parser rejects is a bug in
			 * the table, caught by the first run of any test. */
			log_error("invalid built-in default", "error=%s", ndl_error_msg(&e));
			abort();
		}
	}
}

static void free_thresholds(struct kubelet_config *c)
{
	for (size_t i = 0; i < c->n_eviction_thresholds; i++) {
		free(c->eviction_thresholds[i].signal);
		free(c->eviction_thresholds[i].value);
	}
	free(c->eviction_thresholds);
	c->eviction_thresholds = NULL;
	c->n_eviction_thresholds = 0;
}

static void free_list(char ***list, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

void kubelet_config_free(struct kubelet_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < kubelet_n_options; i++) {
		const struct kubelet_option *o = &kubelet_options[i];
		if (o->type == KOPT_STRING) {
			char **slot = (char **)((char *)c + o->offset);
			free(*slot);
			*slot = NULL;
		}
	}
	free(c->node_name);
	c->node_name = NULL;
	if (c->eviction_hard)
		json_decref(c->eviction_hard);
	c->eviction_hard = NULL;
	free_thresholds(c);
	free_list(&c->cluster_dns, &c->n_cluster_dns);
}

/* strconv.ParseBool, which pflag uses for bool flags. */
static int parse_bool(const char *v, bool *ret)
{
	static const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(v, t[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(v, f[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -1;
}

static int parse_int64(const char *v, int64_t min, int64_t max, int64_t *ret)
{
	if (!*v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno || *end || x < min || x > max || isspace((unsigned char)*v))
		return -1;
	*ret = x;
	return 0;
}

/* One "signal<value" threshold; as the kubelet's eviction API accepts. */
static const char *const eviction_signals[] = {
    "memory.available",	      "nodefs.available",   "nodefs.inodesFree",
    "imagefs.available",      "imagefs.inodesFree", "containerfs.available",
    "containerfs.inodesFree", "pid.available",	    "allocatableMemory.available",
};

static int set_eviction(struct kubelet_config *c, json_t *map, const char *name, ndl_error_t *err)
{
	struct kubelet_eviction_threshold *th = NULL;
	size_t n = 0;
	const char *sig;
	json_t *v;
	json_object_foreach(map, sig, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(eviction_signals) / sizeof(eviction_signals[0]); i++)
			known |= strcmp(sig, eviction_signals[i]) == 0;
		const char *val = json_string_value(v);
		int r = 0;
		if (!known)
			r = ndl_error_setf(err, EINVAL, "%s: unsupported eviction signal \"%s\"",
					   name, sig);
		else if (!val)
			r = ndl_error_setf(err, EINVAL, "%s.%s: expected string, got %s", name, sig,
					   ndl_json_type_name(v));
		struct kubelet_eviction_threshold t = {0};
		if (r == 0) {
			size_t len = strlen(val);
			if (len > 0 && val[len - 1] == '%') {
				char *end;
				t.percentage = true;
				t.percent = strtod(val, &end);
				if (end != val + len - 1 || len == 1 ||
				    !(t.percent >= 0 && t.percent <= 100))
					r = ndl_error_setf(
					    err, EINVAL,
					    "%s.%s: invalid percentage \"%s\" (must be 0%%-100%%)",
					    name, sig, val);
			} else {
				ndl_quantity_t q;
				r = ndl_quantity_parse(val, &q, err);
				if (r == 0 && q.value < 0)
					r = ndl_error_setf(
					    err, EINVAL, "%s.%s: must not be negative", name, sig);
				else if (r < 0)
					ndl_error_wrap(err, "%s.%s", name, sig);
				t.quantity_value = q.value;
			}
		}
		if (r < 0) {
			for (size_t i = 0; i < n; i++) {
				free(th[i].signal);
				free(th[i].value);
			}
			free(th);
			return r;
		}
		th = xrealloc(th, (n + 1) * sizeof(*th));
		t.signal = xstrdup(sig);
		t.value = xstrdup(val);
		th[n++] = t;
	}
	free_thresholds(c);
	c->eviction_thresholds = th;
	c->n_eviction_thresholds = n;
	if (c->eviction_hard)
		json_decref(c->eviction_hard);
	c->eviction_hard = json_incref(map);
	return 0;
}

static const char *opt_name(const struct kubelet_option *o, bool from_flag, char *buf, size_t size)
{
	if (from_flag && o->flag)
		snprintf(buf, size, "flag --%s", o->flag);
	else
		snprintf(buf, size, "config field \"%s\"", o->field);
	return buf;
}

/* Parse v as o's type and store it; `name` says where v came from. */
static int store_text(struct kubelet_config *c, const struct kubelet_option *o, const char *v,
		      const char *name, ndl_error_t *err)
{
	void *slot = (char *)c + o->offset;
	int64_t i64;
	switch (o->type) {
	case KOPT_STRING:
		set_str(slot, v);
		return 0;
	case KOPT_BOOL:
		if (parse_bool(v, slot) < 0)
			return ndl_error_setf(err, EINVAL,
					      "invalid value \"%s\" for %s: expected a boolean", v,
					      name);
		return 0;
	case KOPT_INT32:
		if (parse_int64(v, INT32_MIN, INT32_MAX, &i64) < 0)
			return ndl_error_setf(
			    err, EINVAL, "invalid value \"%s\" for %s: expected a 32-bit integer",
			    v, name);
		*(int32_t *)slot = (int32_t)i64;
		return 0;
	case KOPT_INT64:
		if (parse_int64(v, INT64_MIN, INT64_MAX, &i64) < 0)
			return ndl_error_setf(err, EINVAL,
					      "invalid value \"%s\" for %s: expected an integer", v,
					      name);
		*(int64_t *)slot = i64;
		return 0;
	case KOPT_DURATION:
		if (ndl_duration_parse(v, slot, err) < 0)
			return ndl_error_wrap(err, "%s", name);
		return 0;
	case KOPT_FLOAT: {
		char *end;
		double d = strtod(v, &end);
		if (!*v || *end || !isfinite(d))
			return ndl_error_setf(
			    err, EINVAL, "invalid value \"%s\" for %s: expected a number", v, name);
		*(double *)slot = d;
		return 0;
	}
	case KOPT_EVICTION: {
		/* "memory.available<100Mi,nodefs.available<10%" */
		cleanup_json json_t *map = json_object();
		cleanup_free char *copy = xstrdup(v);
		char *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			char *lt = strchr(tok, '<');
			if (!lt)
				return ndl_error_setf(
				    err, EINVAL,
				    "invalid value \"%s\" for %s: expected signal<value pairs", v,
				    name);
			*lt = 0;
			json_object_set_new(map, tok, json_string(lt + 1));
		}
		return set_eviction(c, map, name, err);
	}
	case KOPT_STRING_LIST: {
		char ***list = slot;
		size_t *n = (size_t *)((char *)slot + sizeof(char **));
		free_list(list, n);
		cleanup_free char *copy = xstrdup(v);
		char *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			*list = xrealloc(*list, (*n + 1) * sizeof(char *));
			(*list)[(*n)++] = xstrdup(tok);
		}
		return 0;
	}
	}
	return ndl_error_setf(err, EINVAL, "%s: unsupported option type", name);
}

int kubelet_option_set_string(struct kubelet_config *c, const struct kubelet_option *o,
			      const char *v, ndl_error_t *err)
{
	char name[128];
	return store_text(c, o, v, opt_name(o, true, name, sizeof(name)), err);
}

static int set_list_json(struct kubelet_config *c, const struct kubelet_option *o, const json_t *v,
			 ndl_error_t *err)
{
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return ndl_error_setf(err, EINVAL,
					      "config field \"%s[%zu]\": expected string, got %s",
					      o->field, i, ndl_json_type_name(e));
	}
	char ***list = (char ***)((char *)c + o->offset);
	size_t *n = (size_t *)((char *)list + sizeof(char **));
	free_list(list, n);
	json_array_foreach(v, i, e)
	{
		*list = xrealloc(*list, (*n + 1) * sizeof(char *));
		(*list)[(*n)++] = xstrdup(json_string_value(e));
	}
	return 0;
}

/* A file value: its JSON type is checked here, then a scalar goes through
 * the same parser and store as a flag's text (one place knows each type's
 * range and storage); maps and lists keep their structure. */
int kubelet_option_set_json(struct kubelet_config *c, const struct kubelet_option *o,
			    const json_t *v, ndl_error_t *err)
{
	char name[128];
	opt_name(o, false, name, sizeof(name));
	char buf[64];
	const char *text = NULL, *want = "?";
	switch (o->type) {
	case KOPT_STRING:
		text = json_string_value(v);
		want = "string";
		break;
	case KOPT_DURATION:
		text = json_string_value(v);
		want = "duration string (e.g. \"1m30s\")";
		break;
	case KOPT_BOOL:
		if (json_is_boolean(v))
			text = json_is_true(v) ? "true" : "false";
		want = "boolean";
		break;
	case KOPT_INT32:
	case KOPT_INT64:
		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			text = buf;
		}
		want = "integer";
		break;
	case KOPT_FLOAT:
		if (json_is_number(v)) {
			snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
			text = buf;
		}
		want = "number";
		break;
	case KOPT_EVICTION:
		if (json_is_object(v))
			return set_eviction(c, (json_t *)v, name, err);
		want = "object";
		break;
	case KOPT_STRING_LIST:
		if (json_is_array(v))
			return set_list_json(c, o, v, err);
		want = "array of strings";
		break;
	}
	if (!text)
		return ndl_error_setf(err, EINVAL, "%s: expected %s, got %s", name, want,
				      ndl_json_type_name(v));
	return store_text(c, o, text, name, err);
}

static void file_derived_defaults(struct kubelet_config *c, const json_t *doc)
{
	/* podPidsLimit: nil or negative means -1. */
	if (c->pod_pids_limit < 0)
		c->pod_pids_limit = -1;
	/* serializeImagePulls defaults to false when maxParallelImagePulls >= 2. */
	json_t *sip = json_object_get(doc, "serializeImagePulls");
	if ((!sip || json_is_null(sip)) && c->max_parallel_image_pulls >= 2)
		c->serialize_image_pulls = false;
	/* nodeStatusReportFrequency follows an explicit nodeStatusUpdateFrequency. */
	json_t *nsr = json_object_get(doc, "nodeStatusReportFrequency");
	json_t *nsu = json_object_get(doc, "nodeStatusUpdateFrequency");
	const struct kubelet_option *o = kubelet_option_by_field("nodeStatusReportFrequency");
	if ((!nsr || json_is_null(nsr) || json_is_zero_value(o, nsr)) && nsu &&
	    !json_is_null(nsu) &&
	    !json_is_zero_value(kubelet_option_by_field("nodeStatusUpdateFrequency"), nsu))
		c->node_status_report_frequency_ns = c->node_status_update_frequency_ns;
}

int kubelet_config_apply_file_json(struct kubelet_config *c, const json_t *doc, ndl_error_t *err)
{
	if (!json_is_object(doc))
		return ndl_error_setf(err, EINVAL, "expected a KubeletConfiguration object, got %s",
				      ndl_json_type_name(doc));
	const char *api = json_string_value(json_object_get(doc, "apiVersion"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (!kind || strcmp(kind, "KubeletConfiguration") != 0)
		return ndl_error_setf(
		    err, EINVAL, "field \"kind\": expected \"KubeletConfiguration\", got \"%s\"",
		    kind ? kind : "");
	if (!api || strcmp(api, "kubelet.config.k8s.io/v1beta1") != 0)
		return ndl_error_setf(
		    err, EINVAL,
		    "field \"apiVersion\": expected \"kubelet.config.k8s.io/v1beta1\", got \"%s\"",
		    api ? api : "");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)doc, key, v)
	{
		if (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0)
			continue;
		const struct kubelet_option *o = kubelet_option_by_field(key);
		if (o) {
			if (json_is_null(v) || json_is_zero_value(o, v))
				continue; /* nil / zero: the default stays */
			int r = kubelet_option_set_json(c, o, v, err);
			if (r < 0)
				return r;
			continue;
		}
		bool accepted = false;
		for (size_t i = 0; i < sizeof(accepted_fields) / sizeof(accepted_fields[0]); i++)
			accepted |= strcmp(key, accepted_fields[i]) == 0;
		if (accepted)
			log_debug(1, "config field accepted but not used by nodelet yet",
				  "field=%s", key);
		else
			/* The kubelet decodes leniently after a strict-decoding
			 * failure and only warns about unknown fields. */
			log_warn("unknown KubeletConfiguration field ignored", "field=%s", key);
	}
	file_derived_defaults(c, doc);
	return 0;
}

int kubelet_config_apply_file_yaml(struct kubelet_config *c, const char *buf, size_t len,
				   ndl_error_t *err)
{
	cleanup_json json_t *doc = NULL;
	int r = ndl_yaml_parse(buf, len, &doc, err);
	if (r < 0)
		return r;
	return kubelet_config_apply_file_json(c, doc, err);
}

static bool valid_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return ndl_error_setf(err, EINVAL, "invalid configuration: " __VA_ARGS__); \
	} while (0)

int kubelet_config_validate(struct kubelet_config *c, ndl_error_t *err)
{
	CHECK(c->sync_frequency_ns > 0, "syncFrequency (--sync-frequency) must be positive");
	CHECK(c->file_check_frequency_ns > 0,
	      "fileCheckFrequency (--file-check-frequency) must be positive");
	CHECK(c->http_check_frequency_ns > 0,
	      "httpCheckFrequency (--http-check-frequency) must be positive");
	CHECK(c->runtime_request_timeout_ns > 0,
	      "runtimeRequestTimeout (--runtime-request-timeout) must be positive");
	CHECK(c->port >= 1 && c->port <= 65535,
	      "port (--port) %d must be between 1 and 65535, inclusive", c->port);
	CHECK(c->read_only_port >= 0 && c->read_only_port <= 65535,
	      "readOnlyPort (--read-only-port) %d must be between 0 and 65535, inclusive",
	      c->read_only_port);
	CHECK(c->healthz_port >= 0 && c->healthz_port <= 65535,
	      "healthzPort (--healthz-port) %d must be between 1 and 65535, inclusive",
	      c->healthz_port);
	CHECK(valid_ip(c->address), "address (--address) \"%s\" is not a valid IP address",
	      c->address);
	CHECK(valid_ip(c->healthz_bind_address),
	      "healthzBindAddress (--healthz-bind-address) \"%s\" is not a valid IP address",
	      c->healthz_bind_address);
	CHECK(strcmp(c->cgroup_driver, "cgroupfs") == 0 || strcmp(c->cgroup_driver, "systemd") == 0,
	      "cgroupDriver (--cgroup-driver) \"%s\" must be \"cgroupfs\" or \"systemd\"",
	      c->cgroup_driver);
	CHECK(c->cgroup_root[0] == '/',
	      "cgroupRoot (--cgroup-root) \"%s\" must be an absolute path", c->cgroup_root);
	CHECK(c->max_pods >= 0, "maxPods (--max-pods) %d must not be a negative number",
	      c->max_pods);
	CHECK(c->pod_pids_limit >= -1, "podPidsLimit (--pod-max-pids) %lld must be -1 or positive",
	      (long long)c->pod_pids_limit);
	CHECK(c->image_gc_high_threshold_percent >= 0 && c->image_gc_high_threshold_percent <= 100,
	      "imageGCHighThresholdPercent (--image-gc-high-threshold) %d must be between 0 and "
	      "100, inclusive",
	      c->image_gc_high_threshold_percent);
	CHECK(c->image_gc_low_threshold_percent >= 0 && c->image_gc_low_threshold_percent <= 100,
	      "imageGCLowThresholdPercent (--image-gc-low-threshold) %d must be between 0 and 100, "
	      "inclusive",
	      c->image_gc_low_threshold_percent);
	CHECK(c->image_gc_low_threshold_percent < c->image_gc_high_threshold_percent,
	      "imageGCLowThresholdPercent (--image-gc-low-threshold) %d must be less than "
	      "imageGCHighThresholdPercent (--image-gc-high-threshold) %d",
	      c->image_gc_low_threshold_percent, c->image_gc_high_threshold_percent);
	CHECK(c->image_maximum_gc_age_ns == 0 ||
		  c->image_maximum_gc_age_ns > c->image_minimum_gc_age_ns,
	      "imageMaximumGCAge must be greater than imageMinimumGCAge");
	CHECK(c->container_log_max_files >= 2,
	      "containerLogMaxFiles (--container-log-max-files) %d must be equal to or greater "
	      "than 2",
	      c->container_log_max_files);
	CHECK(c->container_log_max_workers >= 1,
	      "containerLogMaxWorkers (--container-log-max-workers) %d must be equal to or greater "
	      "than 1",
	      c->container_log_max_workers);
	CHECK(c->container_log_monitor_interval_ns >= 3 * NDL_NSEC_PER_SEC,
	      "containerLogMonitorInterval (--container-log-monitor-interval) must be at least 3s");
	{
		ndl_quantity_t q;
		cleanup_error ndl_error_t qe = NDL_ERROR_INIT;
		if (ndl_quantity_parse(c->container_log_max_size, &q, &qe) < 0)
			return ndl_error_setf(err, EINVAL,
					      "invalid configuration: containerLogMaxSize "
					      "(--container-log-max-size): %s",
					      ndl_error_msg(&qe));
		CHECK(q.value > 0,
		      "containerLogMaxSize (--container-log-max-size) \"%s\" must be positive",
		      c->container_log_max_size);
	}
	CHECK(c->node_lease_duration_seconds > 0,
	      "nodeLeaseDurationSeconds %d must be greater than 0", c->node_lease_duration_seconds);
	CHECK(c->node_status_update_frequency_ns > 0,
	      "nodeStatusUpdateFrequency (--node-status-update-frequency) must be positive");
	CHECK(c->node_status_report_frequency_ns > 0, "nodeStatusReportFrequency must be positive");
	CHECK(c->cpu_cfs_quota_period_ns >= NDL_NSEC_PER_MSEC &&
		  c->cpu_cfs_quota_period_ns <= NDL_NSEC_PER_SEC,
	      "cpuCFSQuotaPeriod (--cpu-cfs-quota-period) must be between 1ms and 1s, inclusive");
	CHECK(strcmp(c->hairpin_mode, "promiscuous-bridge") == 0 ||
		  strcmp(c->hairpin_mode, "hairpin-veth") == 0 ||
		  strcmp(c->hairpin_mode, "none") == 0,
	      "hairpinMode (--hairpin-mode) \"%s\" must be one of promiscuous-bridge, "
	      "hairpin-veth, none",
	      c->hairpin_mode);
	CHECK(c->oom_score_adj >= -1000 && c->oom_score_adj <= 1000,
	      "oomScoreAdj (--oom-score-adj) %d must be between -1000 and 1000, inclusive",
	      c->oom_score_adj);
	CHECK(c->iptables_masquerade_bit >= 0 && c->iptables_masquerade_bit <= 31,
	      "iptablesMasqueradeBit (--iptables-masquerade-bit) %d must be between 0 and 31, "
	      "inclusive",
	      c->iptables_masquerade_bit);
	CHECK(c->iptables_drop_bit >= 0 && c->iptables_drop_bit <= 31,
	      "iptablesDropBit (--iptables-drop-bit) %d must be between 0 and 31, inclusive",
	      c->iptables_drop_bit);
	CHECK(c->registry_pull_qps >= 0,
	      "registryPullQPS (--registry-qps) %d must not be a negative number",
	      c->registry_pull_qps);
	CHECK(c->registry_burst >= 0,
	      "registryBurst (--registry-burst) %d must not be a negative number",
	      c->registry_burst);
	CHECK(c->event_record_qps >= 0,
	      "eventRecordQPS (--event-qps) %d must not be a negative number", c->event_record_qps);
	CHECK(c->event_burst >= 0, "eventBurst (--event-burst) %d must not be a negative number",
	      c->event_burst);
	CHECK(c->max_open_files >= 0,
	      "maxOpenFiles (--max-open-files) %d must not be a negative number",
	      c->max_open_files);
	CHECK(c->max_parallel_image_pulls >= 0,
	      "maxParallelImagePulls (--max-parallel-image-pulls) %d must be a positive number",
	      c->max_parallel_image_pulls);
	CHECK(!(c->serialize_image_pulls && c->max_parallel_image_pulls > 1),
	      "maxParallelImagePulls (--max-parallel-image-pulls) %d must be 1 or nil when "
	      "serializeImagePulls (--serialize-image-pulls) is true",
	      c->max_parallel_image_pulls);
	CHECK(c->memory_throttling_factor > 0 && c->memory_throttling_factor <= 1.0,
	      "memoryThrottlingFactor %g must be greater than 0 and less than or equal to 1.0",
	      c->memory_throttling_factor);
	CHECK(c->shutdown_grace_period_ns >= 0, "shutdownGracePeriod must not be negative");
	CHECK(strcmp(c->cpu_manager_policy, "none") == 0,
	      "cpuManagerPolicy (--cpu-manager-policy) \"%s\" is not supported by nodelet (only "
	      "\"none\")",
	      c->cpu_manager_policy);
	for (size_t i = 0; i < c->n_cluster_dns; i++)
		CHECK(valid_ip(c->cluster_dns[i]),
		      "clusterDNS (--cluster-dns) \"%s\" is not a valid IP address",
		      c->cluster_dns[i]);
	if (c->node_ip) {
		cleanup_free char *copy = xstrdup(c->node_ip);
		char *save = NULL;
		int n = 0;
		for (char *tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save), n++)
			CHECK(valid_ip(tok), "--node-ip \"%s\" is not a valid IP address", tok);
		CHECK(n >= 1 && n <= 2, "--node-ip \"%s\" must be one IP or a dual-stack pair",
		      c->node_ip);
	}
	/* The kubelet takes a bare path as a unix socket (deprecated form). */
	const char *eps[] = {c->container_runtime_endpoint, c->image_service_endpoint};
	const char *epn[] = {"containerRuntimeEndpoint (--container-runtime-endpoint)",
			     "imageServiceEndpoint (--image-service-endpoint)"};
	for (int i = 0; i < 2; i++) {
		if (!eps[i] || !*eps[i])
			continue;
		CHECK(strncmp(eps[i], "unix://", 7) == 0 || eps[i][0] == '/',
		      "%s \"%s\": only unix:// endpoints are supported", epn[i], eps[i]);
		CHECK(!(strncmp(eps[i], "unix://", 7) == 0 && eps[i][7] != '/'),
		      "%s \"%s\": the socket path must be absolute", epn[i], eps[i]);
	}
	CHECK(c->root_dir && c->root_dir[0] == '/', "--root-dir \"%s\" must be an absolute path",
	      c->root_dir ? c->root_dir : "");
	CHECK(c->verbosity >= 0, "-v %d must not be negative", c->verbosity);
	if (c->hostname_override) {
		CHECK(*c->hostname_override, "--hostname-override must not be empty");
	}
	return 0;
}

json_t *kubelet_config_to_json(const struct kubelet_config *c)
{
	json_t *o = json_pack("{s:s,s:s}", "apiVersion", "kubelet.config.k8s.io/v1beta1", "kind",
			      "KubeletConfiguration");
	for (size_t i = 0; i < kubelet_n_options; i++) {
		const struct kubelet_option *opt = &kubelet_options[i];
		if (!opt->field)
			continue;
		const void *slot = (const char *)c + opt->offset;
		char buf[64];
		json_t *v = NULL;
		switch (opt->type) {
		case KOPT_STRING:
			v = *(char *const *)slot ? json_string(*(char *const *)slot) : NULL;
			break;
		case KOPT_BOOL:
			v = json_boolean(*(const bool *)slot);
			break;
		case KOPT_INT32:
			v = json_integer(*(const int32_t *)slot);
			break;
		case KOPT_INT64:
			v = json_integer(*(const int64_t *)slot);
			break;
		case KOPT_DURATION:
			v = json_string(
			    ndl_duration_format(*(const int64_t *)slot, buf, sizeof(buf)));
			break;
		case KOPT_FLOAT:
			v = json_real(*(const double *)slot);
			break;
		case KOPT_EVICTION:
			v = c->eviction_hard ? json_deep_copy(c->eviction_hard) : NULL;
			break;
		case KOPT_STRING_LIST: {
			v = json_array();
			for (size_t k = 0; k < c->n_cluster_dns; k++)
				json_array_append_new(v, json_string(c->cluster_dns[k]));
			break;
		}
		}
		if (v)
			json_object_set_new(o, opt->field, v);
	}
	return o;
}

static char *lower_dup(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

int kubelet_config_load(struct kubelet_config *c, int argc, char **argv, bool *ret_help,
			bool *ret_version, ndl_error_t *err)
{
	cleanup_free struct kubelet_flag_value *vals = NULL;
	size_t n = 0;
	bool help = false, version = false;
	int r = kubelet_flags_parse(argc, argv, &vals, &n, &help, &version, err);
	if (r < 0)
		return r;
	if (help || version) {
		*ret_help = help;
		*ret_version = version;
		return 0;
	}
	/* --config first (it names the file), then the file, then every flag
	 * again so flags win, as the kubelet does. */
	const char *cfg = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(vals[i].opt->flag, "config") == 0)
			cfg = vals[i].value;
	if (cfg && *cfg) {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		r = ndl_read_file(cfg, 4u << 20, &buf, &len, err);
		if (r < 0)
			return ndl_error_wrap(err, "--config");
		r = kubelet_config_apply_file_yaml(c, buf, len, err);
		if (r < 0)
			return ndl_error_wrap(err, "config file %s", cfg);
		/* As the kubelet: relative paths in the file are relative to
		 * the file's directory (flags stay relative to the cwd). */
		cleanup_free char *dir = xstrdup(cfg);
		char *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir ? 1 : 0] = 0;
		else
			strcpy(dir, ".");
		char **paths[] = {&c->static_pod_path, &c->resolv_conf, &c->pod_logs_dir};
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			char *v = *paths[i];
			if (v && *v && v[0] != '/') {
				*paths[i] = xasprintf("%s/%s", dir, v);
				free(v);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = kubelet_option_set_string(c, vals[i].opt, vals[i].value, err);
		if (r < 0)
			return r;
	}
	/* Bare socket paths are the kubelet's deprecated spelling. */
	if (c->container_runtime_endpoint && c->container_runtime_endpoint[0] == '/') {
		char *u = xasprintf("unix://%s", c->container_runtime_endpoint);
		log_warn("using the unix:// scheme for a bare runtime endpoint path", "endpoint=%s",
			 u);
		free(c->container_runtime_endpoint);
		c->container_runtime_endpoint = u;
	}
	if (!c->image_service_endpoint || !*c->image_service_endpoint)
		set_str(&c->image_service_endpoint, c->container_runtime_endpoint);
	r = kubelet_config_validate(c, err);
	if (r < 0)
		return r;
	free(c->node_name);
	if (c->hostname_override) {
		c->node_name = lower_dup(c->hostname_override);
	} else {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) < 0)
			return ndl_error_set(err, errno, "gethostname");
		c->node_name = lower_dup(host);
	}
	*ret_help = false;
	*ret_version = false;
	return 0;
}
