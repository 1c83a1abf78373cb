/* kubelet/config + flags: defaults, file vs flag precedence, errors naming
 * the flag or field, accepted-but-unused kubelet flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "kubelet/config-internal.h"
#include "kubelet/config.h"
#include "lib/duration.h"
#include "lib/log.h"

static char cfg_path[64];

static void write_cfg(const char *yaml)
{
	FILE *f = fopen(cfg_path, "we");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);
}

/* Load with argv (NULL-terminated list after argv[0]); returns rc. */
static int load(struct kubelet_config *c, ndl_error_t *err, ...)
{
	char *argv[64] = {"nodelet"};
	int argc = 1;
	va_list ap;
	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	kubelet_config_init(c);
	bool help = false, version = false;
	return kubelet_config_load(c, argc, argv, &help, &version, err);
}

#define EXPECT_FAIL(needle, ...)                                                                   \
	do {                                                                                       \
		struct kubelet_config c_;                                                          \
		ndl_error_t e_ = NDL_ERROR_INIT;                                                   \
		int r_ = load(&c_, &e_, __VA_ARGS__, NULL);                                        \
		if (r_ == 0)                                                                       \
			fail_msg("accepted, want error containing %s", needle);                    \
		if (!strstr(ndl_error_msg(&e_), needle))                                           \
			fail_msg("error \"%s\" does not contain \"%s\"", ndl_error_msg(&e_),       \
				 needle);                                                          \
		ndl_error_clear(&e_);                                                              \
		kubelet_config_free(&c_);                                                          \
	} while (0)

static void test_defaults(void **state)
{
	struct kubelet_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(load(&c, &err, "--hostname-override=Node-A", NULL), 0);
	assert_string_equal(c.node_name, "node-a");
	assert_string_equal(c.container_runtime_endpoint, "unix:///run/nodelet/cri.sock");
	assert_string_equal(c.image_service_endpoint, "unix:///run/nodelet/cri.sock");
	assert_string_equal(c.root_dir, "/var/lib/nodelet");
	assert_null(c.kubeconfig);
	assert_null(c.static_pod_path);
	assert_int_equal(c.sync_frequency_ns, 60 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.file_check_frequency_ns, 20 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.runtime_request_timeout_ns, 120 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.healthz_port, 10248);
	assert_string_equal(c.healthz_bind_address, "127.0.0.1");
	assert_int_equal(c.read_only_port, 0);
	assert_int_equal(c.port, 10250);
	assert_int_equal(c.max_pods, 110);
	assert_int_equal(c.pod_pids_limit, -1);
	assert_string_equal(c.cgroup_driver, "cgroupfs");
	assert_true(c.cgroups_per_qos);
	assert_true(c.serialize_image_pulls);
	assert_string_equal(c.container_log_max_size, "10Mi");
	assert_int_equal(c.container_log_max_files, 5);
	assert_int_equal(c.image_gc_high_threshold_percent, 85);
	assert_int_equal(c.image_gc_low_threshold_percent, 80);
	assert_int_equal(c.image_minimum_gc_age_ns, 120 * NDL_NSEC_PER_SEC);
	assert_true(c.fail_swap_on);
	assert_string_equal(c.resolv_conf, "/etc/resolv.conf");
	assert_int_equal(c.cpu_cfs_quota_period_ns, 100 * NDL_NSEC_PER_MSEC);
	assert_int_equal(c.node_status_report_frequency_ns, 300 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.oom_score_adj, -999);
	assert_string_equal(json_string_value(json_object_get(c.eviction_hard, "memory.available")),
			    "100Mi");
	assert_string_equal(json_string_value(json_object_get(c.eviction_hard, "nodefs.available")),
			    "10%");
	kubelet_config_free(&c);
}

static void test_file_and_flag_precedence(void **state)
{
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\n"
		  "kind: KubeletConfiguration\n"
		  "staticPodPath: /etc/from-file\n"
		  "syncFrequency: 30s\n"
		  "fileCheckFrequency: 1m30s\n"
		  "maxPods: 0\n"     /* zero = default for this non-pointer field */
		  "healthzPort: 0\n" /* pointer field: 0 disables */
		  "podPidsLimit: -5\n"
		  "readOnlyPort: 10255\n"
		  "cgroupDriver: systemd\n"
		  "clusterDNS: [10.96.0.10]\n"
		  "clusterDomain: cluster.local\n"
		  "maxParallelImagePulls: 3\n"
		  "evictionHard: {memory.available: 200Mi, nodefs.available: '5%'}\n"
		  "nodeStatusUpdateFrequency: 20s\n"
		  "someFutureField: 1\n"
		  "authentication: {anonymous: {enabled: false}}\n");
	struct kubelet_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	char arg[128];
	snprintf(arg, sizeof(arg), "--config=%s", cfg_path);
	int r = load(&c, &err, arg, "--pod-manifest-path", "/etc/from-flag",
		     "--cgroup-driver=cgroupfs", "--hostname-override=n", NULL);
	if (r < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_string_equal(c.static_pod_path, "/etc/from-flag");
	assert_string_equal(c.cgroup_driver, "cgroupfs");
	assert_int_equal(c.sync_frequency_ns, 30 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.file_check_frequency_ns, 90 * NDL_NSEC_PER_SEC);
	assert_int_equal(c.max_pods, 110);
	assert_int_equal(c.healthz_port, 0);
	assert_int_equal(c.pod_pids_limit, -1);
	assert_int_equal(c.read_only_port, 10255);
	assert_int_equal(c.n_cluster_dns, 1);
	assert_string_equal(c.cluster_dns[0], "10.96.0.10");
	assert_string_equal(c.cluster_domain, "cluster.local");
	assert_false(
	    c.serialize_image_pulls); /* defaults to false with maxParallelImagePulls >= 2 */
	assert_int_equal(c.max_parallel_image_pulls, 3);
	assert_int_equal(c.n_eviction_thresholds, 2);
	assert_int_equal(c.node_status_report_frequency_ns, 20 * NDL_NSEC_PER_SEC);
	kubelet_config_free(&c);

	/* A flag of zero is taken as given. */
	r = load(&c, &err, arg, "--max-pods=0", "--hostname-override=n", NULL);
	assert_int_equal(r, 0);
	assert_int_equal(c.max_pods, 0);
	kubelet_config_free(&c);
}

static void test_flag_syntax(void **state)
{
	struct kubelet_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	int r = load(
	    &c, &err, "-v", "3", "--fail-swap-on=false", "--cgroups-per-qos", "--hostname-override",
	    "x", "--bootstrap-kubeconfig", "/etc/kubernetes/bootstrap-kubelet.conf",
	    "--register-schedulable", "--node-labels=a=b", "--container-runtime=remote",
	    "--pod-infra-container-image", "pause:3.9", "--network-plugin=cni",
	    "--eviction-hard=memory.available<1Gi,nodefs.available<15%",
	    "--cluster-dns=10.0.0.10,fd00::a", "--container-runtime-endpoint=/run/x.sock", NULL);
	if (r < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_int_equal(c.verbosity, 3);
	assert_false(c.fail_swap_on);
	assert_true(c.cgroups_per_qos);
	assert_string_equal(c.node_name, "x");
	assert_int_equal(c.n_eviction_thresholds, 2);
	assert_int_equal(c.n_cluster_dns, 2);
	assert_string_equal(c.container_runtime_endpoint, "unix:///run/x.sock");
	kubelet_config_free(&c);
	assert_int_equal(load(&c, &err, "--v=5", "-v=6", "--hostname-override=x", NULL), 0);
	assert_int_equal(c.verbosity, 6);
	kubelet_config_free(&c);
	assert_int_equal(load(&c, &err, "-v7", "--hostname-override=x", NULL), 0);
	assert_int_equal(c.verbosity, 7);
	kubelet_config_free(&c);
	/* The rest of the v1.28 flags: accepted (warned), bools bare or
	 * =true/false without taking the next argument, valued ones in
	 * both forms. */
	r = load(&c, &err, "--maximum-dead-containers-per-container", "1",
		 "--minimum-container-ttl-duration=0s", "--maximum-dead-containers", "-1",
		 "--reserved-memory", "0:memory=1Gi", "--kernel-memcg-notification",
		 "--cpu-manager-policy-options=full-pcpus-only=true",
		 "--topology-manager-policy-options", "prefer-closest-numa-nodes=true",
		 "--manifest-url-header=a:b", "--kube-api-content-type",
		 "application/vnd.kubernetes.protobuf", "--log-json-split-stream=false",
		 "--experimental-check-node-capabilities-before-mount=true",
		 "--authentication-token-webhook-cache-ttl=2m0s", "--hostname-override=x", NULL);
	if (r < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_string_equal(c.node_name, "x");
	kubelet_config_free(&c);
	/* A bare bool does not eat the next argument. */
	assert_int_equal(load(&c, &err, "--kernel-memcg-notification", "--hostname-override=y",
			      NULL),
			 0);
	assert_string_equal(c.node_name, "y");
	kubelet_config_free(&c);
	/* pflag's ParseBool: a bad value for an ignored bool flag is an error. */
	assert_int_not_equal(load(&c, &err, "--kernel-memcg-notification=maybe",
				  "--hostname-override=x", NULL),
			     0);
	assert_non_null(strstr(ndl_error_msg(&err), "invalid argument \"maybe\" for "
						    "\"--kernel-memcg-notification\" flag"));
	ndl_error_clear(&err);
	kubelet_config_free(&c);
	/* A valued flag at the end without its value. */
	assert_int_not_equal(load(&c, &err, "--hostname-override=x", "--reserved-memory", NULL),
			     0);
	assert_non_null(strstr(ndl_error_msg(&err), "flag needs an argument: --reserved-memory"));
	ndl_error_clear(&err);
	kubelet_config_free(&c);
	bool help = false, version = false;
	kubelet_config_init(&c);
	char *hargv[] = {"nodelet", "--help", "--bogus"};
	/* --help wins only when the flags parse: an unknown flag is still an error */
	assert_int_not_equal(kubelet_config_load(&c, 3, hargv, &help, &version, &err), 0);
	ndl_error_clear(&err);
	kubelet_config_free(&c);
	kubelet_config_init(&c);
	char *h2[] = {"nodelet", "-h"};
	assert_int_equal(kubelet_config_load(&c, 2, h2, &help, &version, &err), 0);
	assert_true(help);
	kubelet_config_free(&c);
}

static void test_errors(void **state)
{
	char arg[128];
	snprintf(arg, sizeof(arg), "--config=%s", cfg_path);
	EXPECT_FAIL("unknown flag: --no-such-flag", "--no-such-flag=1");
	EXPECT_FAIL("unknown flag: --pod-manifest", "--pod-manifest=/x");
	EXPECT_FAIL("unknown shorthand flag: 'x'", "-x");
	EXPECT_FAIL("unknown command \"run\"", "run");
	EXPECT_FAIL("flag needs an argument: --root-dir", "--root-dir");
	EXPECT_FAIL("--sync-frequency", "--sync-frequency=10");
	EXPECT_FAIL("invalid duration \"1x\"", "--runtime-request-timeout=1x");
	EXPECT_FAIL("flag --max-pods: expected a 32-bit integer", "--max-pods=lots");
	EXPECT_FAIL("flag --fail-swap-on: expected a boolean", "--fail-swap-on=maybe");
	EXPECT_FAIL("readOnlyPort (--read-only-port) 70000", "--read-only-port=70000");
	EXPECT_FAIL("healthzPort (--healthz-port)", "--healthz-port=-1");
	EXPECT_FAIL("cgroupDriver (--cgroup-driver) \"docker\"", "--cgroup-driver=docker");
	EXPECT_FAIL("containerLogMaxFiles (--container-log-max-files) 1",
		    "--container-log-max-files=1");
	EXPECT_FAIL("containerLogMaxSize (--container-log-max-size)",
		    "--container-log-max-size=10XB");
	EXPECT_FAIL("imageGCLowThresholdPercent (--image-gc-low-threshold) 90 must be less than",
		    "--image-gc-low-threshold=90");
	EXPECT_FAIL("only unix:// endpoints", "--container-runtime-endpoint=tcp://1.2.3.4:5");
	EXPECT_FAIL("--node-ip \"1.2.3\"", "--node-ip=1.2.3");
	EXPECT_FAIL("clusterDNS (--cluster-dns) \"dns\"", "--cluster-dns=dns");
	EXPECT_FAIL("unsupported eviction signal \"cpu.available\"",
		    "--eviction-hard=cpu.available<1");
	EXPECT_FAIL("--eviction-hard.memory.available: invalid percentage",
		    "--eviction-hard=memory.available<150%");
	EXPECT_FAIL("--root-dir \"rel\" must be an absolute path", "--root-dir=rel");
	EXPECT_FAIL("hairpinMode (--hairpin-mode)", "--hairpin-mode=weird");
	EXPECT_FAIL("maxParallelImagePulls (--max-parallel-image-pulls) 4 must be 1 or nil",
		    "--max-parallel-image-pulls=4", "--serialize-image-pulls=true");

	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: "
		  "many\n");
	EXPECT_FAIL("config field \"maxPods\": expected integer, got string", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
		  "KubeletConfiguration\nsyncFrequency: 10\n");
	EXPECT_FAIL("config field \"syncFrequency\": expected duration", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
		  "KubeletConfiguration\nsyncFrequency: 1q\n");
	EXPECT_FAIL("config field \"syncFrequency\": invalid duration \"1q\"", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
		  "KubeletConfiguration\nclusterDNS: [1, 2]\n");
	EXPECT_FAIL("config field \"clusterDNS[0]\": expected string", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
		  "KubeletConfiguration\nfailSwapOn: 'no'\n");
	EXPECT_FAIL("config field \"failSwapOn\": expected boolean", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: "
		  "KubeletConfiguration\nevictionHard: {memory.available: 1Zi}\n");
	EXPECT_FAIL("config field \"evictionHard\".memory.available", arg);
	write_cfg("apiVersion: kubelet.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n");
	EXPECT_FAIL("field \"apiVersion\": expected \"kubelet.config.k8s.io/v1beta1\"", arg);
	write_cfg("apiVersion: v1\nkind: Pod\n");
	EXPECT_FAIL("field \"kind\": expected \"KubeletConfiguration\"", arg);
	write_cfg(
	    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nport: 99999\n");
	EXPECT_FAIL("port (--port) 99999", arg);
	write_cfg("key: [unclosed\n");
	EXPECT_FAIL("config file", arg);
	EXPECT_FAIL("--config", "--config=/nonexistent/kubelet.yaml");
}

static void test_relative_paths_from_file(void **state)
{
	write_cfg("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
		  "staticPodPath: manifests\nresolvConf: ''\npodLogsDir: /abs/logs\n");
	struct kubelet_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	char arg[128];
	snprintf(arg, sizeof(arg), "--config=%s", cfg_path);
	assert_int_equal(load(&c, &err, arg, "--hostname-override=x", NULL), 0);
	assert_string_equal(c.static_pod_path, "/tmp/manifests"); /* the file's directory */
	assert_string_equal(c.resolv_conf, "");			  /* "" = no resolv.conf, kept */
	assert_string_equal(c.pod_logs_dir, "/abs/logs");
	kubelet_config_free(&c);
	/* flags are not rewritten */
	assert_int_equal(
	    load(&c, &err, arg, "--pod-manifest-path=rel", "--hostname-override=x", NULL), 0);
	assert_string_equal(c.static_pod_path, "rel");
	kubelet_config_free(&c);
}

static void test_to_json(void **state)
{
	struct kubelet_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(load(&c, &err, "--hostname-override=x", "--sync-frequency=90s", NULL), 0);
	json_t *j = kubelet_config_to_json(&c);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "KubeletConfiguration");
	assert_string_equal(json_string_value(json_object_get(j, "syncFrequency")), "1m30s");
	assert_string_equal(json_string_value(json_object_get(j, "runtimeRequestTimeout")), "2m0s");
	assert_int_equal(json_integer_value(json_object_get(j, "maxPods")), 110);
	/* and it loads back */
	struct kubelet_config c2;
	kubelet_config_init(&c2);
	if (kubelet_config_apply_file_json(&c2, j, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_int_equal(c2.sync_frequency_ns, 90 * NDL_NSEC_PER_SEC);
	json_decref(j);
	kubelet_config_free(&c2);
	kubelet_config_free(&c);
}

/* The table is the one source of defaults: init applies them, a file's
 * zero value of a non-pointer field falls back to them, --help shows them. */
static void test_table_defaults(void **state)
{
	struct kubelet_config def;
	kubelet_config_init(&def);
	json_t *dj = kubelet_config_to_json(&def);
	/* The eviction default is parsed like a flag: thresholds too. */
	assert_int_equal(def.n_eviction_thresholds, 4);
	assert_true(def.memory_throttling_factor == 0.9);
	assert_int_equal(def.max_open_files, 1000000);
	size_t n_zero = 0;
	for (size_t i = 0; i < kubelet_n_options; i++) {
		const struct kubelet_option *o = &kubelet_options[i];
		if (!o->zero_is_default)
			continue;
		assert_non_null(o->field);
		assert_non_null(o->def);
		const char *zero = o->type == KOPT_STRING     ? "''"
				   : o->type == KOPT_DURATION ? "0s"
							      : "0";
		char yaml[256];
		snprintf(yaml, sizeof(yaml),
			 "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
			 "%s: %s\n",
			 o->field, zero);
		struct kubelet_config c;
		kubelet_config_init(&c);
		ndl_error_t err = NDL_ERROR_INIT;
		if (kubelet_config_apply_file_yaml(&c, yaml, strlen(yaml), &err) < 0)
			fail_msg("%s: %s", o->field, ndl_error_msg(&err));
		json_t *cj = kubelet_config_to_json(&c);
		if (!json_equal(json_object_get(cj, o->field), json_object_get(dj, o->field)))
			fail_msg("%s: %s did not keep the default %s", o->field, zero, o->def);
		json_decref(cj);
		kubelet_config_free(&c);
		n_zero++;
	}
	assert_true(n_zero >= 27);
	/* A pointer field's zero is taken as given. */
	struct kubelet_config c;
	kubelet_config_init(&c);
	ndl_error_t err = NDL_ERROR_INIT;
	const char *y =
	    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	    "oomScoreAdj: 0\nimageGCHighThresholdPercent: 0\nmemoryThrottlingFactor: 0.5\n";
	assert_int_equal(kubelet_config_apply_file_yaml(&c, y, strlen(y), &err), 0);
	assert_int_equal(c.oom_score_adj, 0);
	assert_int_equal(c.image_gc_high_threshold_percent, 0);
	assert_true(c.memory_throttling_factor == 0.5);
	/* Out of range for the field's type, named as the file's field. */
	y = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	    "maxPods: 99999999999\n";
	assert_int_not_equal(kubelet_config_apply_file_yaml(&c, y, strlen(y), &err), 0);
	assert_non_null(strstr(ndl_error_msg(&err), "config field \"maxPods\""));
	assert_non_null(strstr(ndl_error_msg(&err), "32-bit integer"));
	ndl_error_clear(&err);
	kubelet_config_free(&c);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	kubelet_flags_usage(f);
	fclose(f);
	assert_non_null(strstr(buf, "--sync-frequency"));
	assert_non_null(strstr(buf, "max period between pod syncs (default 1m0s); config field "
				    "syncFrequency\n"));
	assert_non_null(strstr(buf, "(default unix:///run/nodelet/cri.sock)"));
	assert_non_null(strstr(buf, "--max-pods"));
	assert_null(strstr(buf, "does not start containers"));
	free(buf);
	json_decref(dj);
	kubelet_config_free(&def);
}

static int setup(void **state)
{
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/test_kubelet_config.%d.yaml", getpid());
	/* Warnings for unused flags go to /dev/null during the tests. */
	ndl_log_init(open("/dev/null", O_WRONLY | O_CLOEXEC), NDL_LOG_ERROR, 0, false);
	return 0;
}

static int teardown(void **state)
{
	unlink(cfg_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	   cmocka_unit_test(test_file_and_flag_precedence),
	    cmocka_unit_test(test_flag_syntax),	   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_to_json),	   cmocka_unit_test(test_relative_paths_from_file),
	    cmocka_unit_test(test_table_defaults),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
