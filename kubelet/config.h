/* nodelet configuration: kubelet command-line flags and the
 * KubeletConfiguration (kubelet.config.k8s.io/v1beta1) file, with the
 * kubelet's defaults and its precedence (flags override the file). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/error.h"

#define KUBELET_DEFAULT_CRI_ENDPOINT "unix:///run/nodelet/cri.sock"
#define KUBELET_DEFAULT_ROOT_DIR     "/var/lib/nodelet"

struct kubelet_eviction_threshold {
	char *signal; /* memory.available, nodefs.available, ... */
	char *value;  /* "100Mi" or "10%" as written */
	bool percentage;
	double percent;		/* when percentage */
	int64_t quantity_value; /* when not a percentage */
};

struct kubelet_config {
	/* Flag-only settings. */
	char *config_path;	 /* --config */
	char *root_dir;		 /* --root-dir */
	char *hostname_override; /* --hostname-override */
	char *node_ip;		 /* --node-ip */
	char *kubeconfig;	 /* --kubeconfig; NULL = standalone */
	int verbosity;		 /* -v / --v */
	char *node_name;	 /* computed: lowercased hostname-override or hostname */

	/* KubeletConfiguration fields (and their flags). */
	char *static_pod_path;
	char *static_pod_url;
	int64_t sync_frequency_ns;
	int64_t file_check_frequency_ns;
	int64_t http_check_frequency_ns;
	char *address;
	int32_t port;
	int32_t read_only_port;
	int32_t healthz_port;
	char *healthz_bind_address;
	char *container_runtime_endpoint;
	char *image_service_endpoint;
	char *cgroup_driver;
	char *cgroup_root;
	bool cgroups_per_qos;
	int32_t max_pods;
	int64_t pod_pids_limit;
	int64_t runtime_request_timeout_ns;
	bool serialize_image_pulls;
	int32_t max_parallel_image_pulls; /* 0 = unset (nil) */
	char *container_log_max_size;
	int32_t container_log_max_files;
	int32_t container_log_max_workers;
	int64_t container_log_monitor_interval_ns;
	json_t *eviction_hard; /* object signal -> threshold string, as configured */
	struct kubelet_eviction_threshold *eviction_thresholds;
	size_t n_eviction_thresholds;
	int64_t eviction_pressure_transition_period_ns;
	char **cluster_dns;
	size_t n_cluster_dns;
	char *cluster_domain;
	char *resolv_conf;
	int64_t image_minimum_gc_age_ns;
	int64_t image_maximum_gc_age_ns;
	int32_t image_gc_high_threshold_percent;
	int32_t image_gc_low_threshold_percent;
	bool fail_swap_on;
	int64_t node_status_update_frequency_ns;
	int64_t node_status_report_frequency_ns;
	int32_t node_lease_duration_seconds;
	bool cpu_cfs_quota;
	int64_t cpu_cfs_quota_period_ns;
	char *hairpin_mode;
	int32_t oom_score_adj;
	bool register_node;
	bool enable_debugging_handlers;
	int64_t streaming_connection_idle_timeout_ns;
	int64_t volume_stats_agg_period_ns;
	char *pod_logs_dir;
	bool seccomp_default;
	bool protect_kernel_defaults;
	bool make_iptables_util_chains;
	int32_t iptables_masquerade_bit;
	int32_t iptables_drop_bit;
	int32_t registry_pull_qps;
	int32_t registry_burst;
	int32_t event_record_qps;
	int32_t event_burst;
	int32_t kube_api_qps;
	int32_t kube_api_burst;
	int32_t max_open_files;
	char *cpu_manager_policy;
	char *memory_manager_policy;
	char *topology_manager_policy;
	int64_t shutdown_grace_period_ns;
	double memory_throttling_factor;
};

/* Fill with the kubelet's v1beta1 defaults (and nodelet's endpoint/root dir). */
void kubelet_config_init(struct kubelet_config *c);
void kubelet_config_free(struct kubelet_config *c);

/* Parse argv (argv[0] skipped) and the --config file, flags winning, then
 * validate. Warnings for accepted-but-unused flags/fields are logged.
 * *ret_help is set when --help/-h was given (nothing else is done then), and
 * *ret_version for --version. Errors name the flag or config field. */
int kubelet_config_load(struct kubelet_config *c, int argc, char **argv, bool *ret_help,
			bool *ret_version, ndl_error_t *err);

/* Pieces of kubelet_config_load, for tests and fuzzing. */
int kubelet_config_apply_file_json(struct kubelet_config *c, const json_t *doc, ndl_error_t *err);
int kubelet_config_apply_file_yaml(struct kubelet_config *c, const char *buf, size_t len,
				   ndl_error_t *err);
int kubelet_config_validate(struct kubelet_config *c, ndl_error_t *err);

/* The effective configuration as a KubeletConfiguration JSON object
 * (served later by /configz; logged at -v=2). */
json_t *kubelet_config_to_json(const struct kubelet_config *c);

/* Print the flag reference for --help. */
void kubelet_flags_usage(FILE *f);
