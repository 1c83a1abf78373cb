/* kubelet/qos: QoS class, CRI Linux resources, OOM score (cases and
 * expected values from the kubelet's own tests), $(VAR) expansion (the
 * kubelet's expansion test table), restart back-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/env.h"
#include "kubelet/qos.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/yaml2json.h"

static json_t *yaml(const char *s)
{
	json_t *j = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_yaml_parse(s, strlen(s), &j, &err) < 0)
		fail_msg("yaml: %s", ndl_error_msg(&err));
	return j;
}

/* A pod whose containers carry exactly the given resources (YAML flow
 * maps, NULL = none): everything else defaulted, but requests are NOT
 * defaulted from limits, as in the kubelet's unit tests. */
static struct pod *pod_with(const char *annotations, const char *spec_extra, const char *r1,
			    const char *r2, const char *init_r)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: %s}\nspec:\n%s"
		 "  containers:\n  - {name: a, image: i}\n%s%s",
		 annotations ? annotations : "{}", spec_extra ? spec_extra : "",
		 r2 ? "  - {name: b, image: i}\n" : "",
		 init_r ? "  initContainers:\n  - {name: init, image: i}\n" : "");
	json_t *j = yaml(buf);
	pod_apply_defaults(j);
	json_t *spec = json_object_get(j, "spec");
	const char *rs[3] = {r1, r2, init_r};
	for (int i = 0; i < 3; i++) {
		if (!rs[i])
			continue;
		json_t *c =
		    json_array_get(json_object_get(spec, i == 2 ? "initContainers" : "containers"),
				   i == 2 ? 0 : (size_t)i);
		json_object_set_new(c, "resources", yaml(rs[i]));
	}
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (pod_from_json(j, &p, &err) < 0)
		fail_msg("pod: %s", ndl_error_msg(&err));
	json_decref(j);
	return p;
}

static void test_qos_class(void **state)
{
	struct {
		const char *r1, *r2, *init;
		enum pod_qos_class want;
	} cases[] = {
	    {NULL, NULL, NULL, POD_QOS_BEST_EFFORT},
	    {"{limits: {memory: '0'}}", NULL, NULL, POD_QOS_BEST_EFFORT},
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}", NULL,
	     NULL, POD_QOS_GUARANTEED},
	    /* limits without requests (not defaulted here): sums differ */
	    {"{limits: {cpu: 100m, memory: 100Mi}}", NULL, NULL, POD_QOS_BURSTABLE},
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}",
	     "{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}", NULL,
	     POD_QOS_GUARANTEED},
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}", "{}",
	     NULL, POD_QOS_BURSTABLE},
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 200m, memory: 100Mi}}", NULL,
	     NULL, POD_QOS_BURSTABLE},
	    {"{requests: {cpu: 100m}}", NULL, NULL, POD_QOS_BURSTABLE},
	    {"{limits: {cpu: '10'}}", NULL, NULL, POD_QOS_BURSTABLE},
	    /* extended resources do not count */
	    {"{requests: {example.com/gpu: '1'}, limits: {example.com/gpu: '1'}}", NULL, NULL,
	     POD_QOS_BEST_EFFORT},
	    /* an init container without limits breaks Guaranteed */
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}", NULL,
	     "{requests: {cpu: 10m}}", POD_QOS_BURSTABLE},
	    {"{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}", NULL,
	     "{requests: {cpu: 50m, memory: 10Mi}, limits: {cpu: 50m, memory: 10Mi}}",
	     POD_QOS_GUARANTEED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_pod struct pod *p =
		    pod_with(NULL, NULL, cases[i].r1, cases[i].r2, cases[i].init);
		if (pod_qos_class(p) != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, pod_qos_class_name(pod_qos_class(p)),
				 pod_qos_class_name(cases[i].want));
	}
	assert_string_equal(pod_qos_class_name(POD_QOS_GUARANTEED), "Guaranteed");
	/* With the API server's defaulting, limits-only becomes Guaranteed. */
	json_t *j =
	    yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
		 "  - {name: a, image: i, resources: {limits: {cpu: 100m, memory: 100Mi}}}\n");
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(pod_from_json_defaulted(j, &p, &err), 0);
	assert_int_equal(pod_qos_class(p), POD_QOS_GUARANTEED);
	pod_unref(p);
	json_decref(j);
}

static void test_oom_score_adj(void **state)
{
	/* pkg/kubelet/qos/policy_test.go */
	struct {
		const char *r;
		int64_t cap;
		int lo, hi;
	} cases[] = {
	    {"{limits: {cpu: '10'}}", 4000000000, 999, 999},
	    {"{requests: {cpu: '0'}, limits: {memory: 10G}}", 8000000000, 999, 999},
	    {"{limits: {memory: '0'}}", 7230457451, 1000, 1000},
	    {"{}", 4000000000, 1000, 1000},
	    {"{requests: {memory: 10G, cpu: 5m}, limits: {cpu: 5m, memory: 10G}}", 123456789, -997,
	     -997},
	    {"{requests: {memory: '4000000000', cpu: 5m}, limits: {memory: 10G}}", 8000000000, 495,
	     505},
	    {"{requests: {memory: '7999999999', cpu: 5m}}", 8000000000, 3, 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_pod struct pod *p = pod_with(NULL, NULL, cases[i].r, NULL, NULL);
		int adj = kubelet_container_oom_score_adj(p, &p->containers[0], cases[i].cap);
		if (adj < cases[i].lo || adj > cases[i].hi)
			fail_msg("case %zu: oom_score_adj %d, want %d..%d", i, adj, cases[i].lo,
				 cases[i].hi);
	}
	/* A static system-node-critical pod is protected whatever its QoS. */
	cleanup_pod struct pod *crit =
	    pod_with("{kubernetes.io/config.source: file}",
		     "  priorityClassName: system-node-critical\n", NULL, NULL, NULL);
	assert_true(pod_is_critical(crit));
	assert_int_equal(kubelet_container_oom_score_adj(crit, &crit->containers[0], 1000), -997);
	/* Critical by priority alone but not node-critical: QoS decides. */
	cleanup_pod struct pod *prio = pod_with(NULL, "  priority: 2000000000\n", NULL, NULL, NULL);
	assert_true(pod_is_critical(prio));
	assert_int_equal(kubelet_container_oom_score_adj(prio, &prio->containers[0], 1000), 1000);
	/* A sidecar is not more killable than the smallest regular container. */
	char init_sc[] = "{requests: {memory: '100'}}";
	cleanup_pod struct pod *sc =
	    pod_with(NULL, NULL, "{requests: {memory: '500'}}", NULL, init_sc);
	json_object_set_new(
	    json_array_get(json_object_get(json_object_get(sc->json, "spec"), "initContainers"), 0),
	    "restartPolicy", json_string("Always"));
	free(sc->init_containers[0].restart_policy);
	sc->init_containers[0].restart_policy = strdup("Always");
	assert_int_equal(kubelet_container_oom_score_adj(sc, &sc->containers[0], 1000), 500);
	assert_int_equal(kubelet_container_oom_score_adj(sc, &sc->init_containers[0], 1000), 500);
}

static void test_linux_resources(void **state)
{
	struct kubelet_linux_resources r;
	cleanup_pod struct pod *a = pod_with(
	    NULL, NULL, "{requests: {cpu: '1'}, limits: {cpu: '2', memory: 128Mi}}", NULL, NULL);
	kubelet_container_linux_resources(a, &a->containers[0], 8LL << 30, true, 100000, &r);
	assert_int_equal(r.cpu_period, 100000);
	assert_int_equal(r.cpu_quota, 200000);
	assert_int_equal(r.cpu_shares, 1024);
	assert_int_equal(r.memory_limit_in_bytes, 134217728);
	/* limit only: shares from the limit */
	cleanup_pod struct pod *b = pod_with(NULL, NULL, "{limits: {cpu: 100m}}", NULL, NULL);
	kubelet_container_linux_resources(b, &b->containers[0], 8LL << 30, true, 100000, &r);
	assert_int_equal(r.cpu_shares, 102);
	assert_int_equal(r.cpu_quota, 10000);
	assert_int_equal(r.memory_limit_in_bytes, 0);
	/* tiny values: shares min 2, quota min 1000 */
	cleanup_pod struct pod *c =
	    pod_with(NULL, NULL, "{requests: {cpu: 1m}, limits: {cpu: 1m}}", NULL, NULL);
	kubelet_container_linux_resources(c, &c->containers[0], 8LL << 30, true, 100000, &r);
	assert_int_equal(r.cpu_shares, 2);
	assert_int_equal(r.cpu_quota, 1000);
	/* nothing: minimum shares, no quota; BestEffort oom */
	cleanup_pod struct pod *d = pod_with(NULL, NULL, NULL, NULL, NULL);
	kubelet_container_linux_resources(d, &d->containers[0], 8LL << 30, true, 100000, &r);
	assert_int_equal(r.cpu_shares, 2);
	assert_int_equal(r.cpu_quota, 0);
	assert_int_equal(r.cpu_period, 100000);
	assert_int_equal(r.oom_score_adj, 1000);
	/* cpuCFSQuota off: no period/quota */
	kubelet_container_linux_resources(a, &a->containers[0], 8LL << 30, false, 100000, &r);
	assert_int_equal(r.cpu_period, 0);
	assert_int_equal(r.cpu_quota, 0);
	/* helpers */
	assert_int_equal(kubelet_milli_cpu_to_shares(0), 2);
	assert_int_equal(kubelet_milli_cpu_to_shares(1000000), 262144);
	assert_int_equal(kubelet_milli_cpu_to_shares(1500), 1536);
	assert_int_equal(kubelet_milli_cpu_to_quota(0, 100000), 0);
	assert_int_equal(kubelet_milli_cpu_to_quota(250, 100000), 25000);
	assert_int_equal(kubelet_milli_cpu_to_quota(250, 50000), 12500);
}

static void test_pod_resource_config(void **state)
{
	struct kubelet_pod_cgroup_config r;
	cleanup_pod struct pod *be = pod_with(NULL, NULL, NULL, NULL, NULL);
	kubelet_pod_resource_config(be, true, 100000, &r);
	assert_true(r.has_cpu_shares && !r.has_cpu_quota && !r.has_memory);
	assert_int_equal(r.cpu_shares, 2);

	cleanup_pod struct pod *bu =
	    pod_with(NULL, NULL, "{requests: {cpu: 100m, memory: 100Mi}}", NULL, NULL);
	kubelet_pod_resource_config(bu, true, 100000, &r);
	assert_true(r.has_cpu_shares && !r.has_cpu_quota && !r.has_memory);
	assert_int_equal(r.cpu_shares, 102);

	cleanup_pod struct pod *bl =
	    pod_with(NULL, NULL,
		     "{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 200m, memory: 200Mi}}",
		     NULL, NULL);
	kubelet_pod_resource_config(bl, true, 100000, &r);
	assert_true(r.has_cpu_quota && r.has_memory);
	assert_int_equal(r.cpu_shares, 102);
	assert_int_equal(r.cpu_quota, 20000);
	assert_int_equal(r.cpu_period, 100000);
	assert_int_equal(r.memory, 200 << 20);

	/* one container without limits: no pod quota/memory limit */
	cleanup_pod struct pod *bp =
	    pod_with(NULL, NULL,
		     "{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 200m, memory: 200Mi}}",
		     "{requests: {cpu: 100m, memory: 100Mi}}", NULL);
	kubelet_pod_resource_config(bp, true, 100000, &r);
	assert_true(r.has_cpu_shares && !r.has_cpu_quota && !r.has_memory);
	assert_int_equal(r.cpu_shares, 204);

	cleanup_pod struct pod *g =
	    pod_with(NULL, NULL,
		     "{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 100m, memory: 100Mi}}",
		     NULL, NULL);
	kubelet_pod_resource_config(g, true, 100000, &r);
	assert_int_equal(r.cpu_shares, 102);
	assert_int_equal(r.cpu_quota, 10000);
	assert_int_equal(r.memory, 100 << 20);
	kubelet_pod_resource_config(g, false, 100000, &r);
	assert_int_equal(r.cpu_quota, -1);
	kubelet_pod_resource_config(g, true, 50000, &r);
	assert_int_equal(r.cpu_quota, 5000);
	assert_int_equal(r.cpu_period, 50000);

	/* an init container bigger than the regular ones sets the pod request */
	cleanup_pod struct pod *in =
	    pod_with(NULL, NULL, "{requests: {cpu: 100m}}", NULL, "{requests: {cpu: '1'}}");
	assert_int_equal(kubelet_pod_requests(in, "cpu"), 1000);
	kubelet_pod_resource_config(in, true, 100000, &r);
	assert_int_equal(r.cpu_shares, 1024);
	/* a sidecar adds to the regular containers */
	cleanup_pod struct pod *sc =
	    pod_with(NULL, NULL, "{requests: {cpu: 100m}}", NULL, "{requests: {cpu: 200m}}");
	free(sc->init_containers[0].restart_policy);
	sc->init_containers[0].restart_policy = strdup("Always");
	assert_int_equal(kubelet_pod_requests(sc, "cpu"), 300);
}

static const char *lookup(const char *name, void *ud)
{
	static const char *vars[][2] = {{"VAR_A", "A"},
					{"VAR_B", "B"},
					{"VAR_C", "C"},
					{"VAR_REF", "$(VAR_A)"},
					{"VAR_EMPTY", ""}};
	for (size_t i = 0; i < 5; i++)
		if (strcmp(vars[i][0], name) == 0)
			return vars[i][1];
	return NULL;
}

static void test_expand(void **state)
{
	/* third_party/forked/golang/expansion test table */
	static const char *cases[][2] = {
	    {"$(VAR_A)", "A"},
	    {"$(VAR_A)-$(VAR_A)", "A-A"},
	    {"$(VAR_A)-1", "A-1"},
	    {"___$(VAR_B)___", "___B___"},
	    {"___$(VAR_C)", "___C"},
	    {"$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
	    {"$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
	    {"$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
	    {"f000-$$VAR_A", "f000-$VAR_A"},
	    {"foo\\$(VAR_C)bar", "foo\\Cbar"},
	    {"foo\\\\$(VAR_C)bar", "foo\\\\Cbar"},
	    {"foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"},
	    {"$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
	    {"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
	    {"$(VAR_REF)", "$(VAR_A)"},
	    {"%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
	    {"foo$(VAR_EMPTY)bar", "foobar"},
	    {"foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
	    {"f00__(VAR_A)__", "f00__(VAR_A)__"},
	    {"$?_boo_$!", "$?_boo_$!"},
	    {"$VAR_A", "$VAR_A"},
	    {"$(VAR_DNE)", "$(VAR_DNE)"},
	    {"$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
	    {"$$$$$$(VAR_A)", "$$$(VAR_A)"},
	    {"$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
	    {"$$$$$$$(VAR_A)", "$$$A"},
	    {"$VAR_A)", "$VAR_A)"},
	    {"${VAR_A}", "${VAR_A}"},
	    {"$(VAR_B)_______$(A", "B_______$(A"},
	    {"$(VAR_C)_______$(", "C_______$("},
	    {"$(VAR_A)foobarzab$", "Afoobarzab$"},
	    {"foo-\\$(VAR_A", "foo-\\$(VAR_A"},
	    {"--$($($($($--", "--$($($($($--"},
	    {"$($($($($--foo$(", "$($($($($--foo$("},
	    {"foo0--$($($($(", "foo0--$($($($("},
	    {"$(foo$$var)", "$(foo$$var)"},
	    {"\n", "\n"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = kubelet_expand(cases[i][0], lookup, NULL);
		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("expand(%s) = %s, want %s", cases[i][0], got, cases[i][1]);
		free(got);
	}
}

static void test_backoff(void **state)
{
	const int64_t S = 1000000000LL;
	struct kubelet_backoff b = {0};
	int64_t t = 1000 * S;
	assert_false(kubelet_backoff_in_backoff(&b, t));
	int64_t want[] = {10, 20, 40, 80, 160, 300, 300, 300};
	for (size_t i = 0; i < 8; i++) {
		int64_t d = kubelet_backoff_next(&b, t);
		assert_int_equal(d, want[i] * S);
		assert_true(kubelet_backoff_in_backoff(&b, t + d - 1));
		assert_false(kubelet_backoff_in_backoff(&b, t + d));
		t += d + S; /* the container restarts and crashes a second later */
	}
	/* 10 minutes since the last restart: still counts as crash-looping... */
	t = b.last_update_ns + 2 * KUBELET_BACKOFF_MAX_NS;
	assert_int_equal(kubelet_backoff_next(&b, t), 300 * S);
	/* ...but more than that resets to the initial delay. */
	t += 2 * KUBELET_BACKOFF_MAX_NS + 1;
	assert_int_equal(kubelet_backoff_next(&b, t), 10 * S);
}

static struct pod *defaulted(const char *y)
{
	json_t *j = yaml(y);
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (pod_from_json_defaulted(j, &p, &err) < 0)
		fail_msg("pod: %s", ndl_error_msg(&err));
	json_decref(j);
	return p;
}

static void test_container_env(void **state)
{
	cleanup_pod struct pod *p = defaulted(
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns, uid: u1, labels: "
	    "{app: a}}\n"
	    "spec:\n  nodeName: node1\n  containers:\n  - name: c\n    image: i\n"
	    "    command: [sh, -c, 'echo $(FOO) $$(FOO) $(NOPE)']\n    args: ['$(BLU)', "
	    "'$$$(ZOO)']\n"
	    "    resources: {requests: {memory: 32Mi}, limits: {cpu: 250m, memory: 64Mi}}\n"
	    "    env:\n"
	    "    - {name: EARLY, value: '$(FOO)'}\n"
	    "    - {name: FOO, value: bar}\n"
	    "    - {name: ZOO, value: '$(FOO)-1'}\n"
	    "    - {name: BLU, value: '$(ZOO)-2'}\n"
	    "    - {name: EMPTY}\n"
	    "    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
	    "    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n"
	    "    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n"
	    "    - {name: NOANN, valueFrom: {fieldRef: {fieldPath: "
	    "\"metadata.annotations['x']\"}}}\n"
	    "    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n"
	    "    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: "
	    "1Mi}}}\n"
	    "    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}\n"
	    "    - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: "
	    "1m}}}\n"
	    "    - {name: REQ_CPU, valueFrom: {resourceFieldRef: {resource: requests.cpu}}}\n"
	    "    - {name: REQ_MEM, valueFrom: {resourceFieldRef: {resource: requests.memory}}}\n"
	    "    - {name: STORAGE, valueFrom: {resourceFieldRef: {resource: "
	    "limits.ephemeral-storage, divisor: 1Gi}}}\n"
	    "    - {name: OPT, valueFrom: {configMapKeyRef: {name: cm, key: k, optional: true}}}\n"
	    "    - {name: FOO, value: again}\n");
	struct kubelet_env_context ctx = {.pod_ip = "10.1.2.3",
					  .alloc_cpu_milli = 4000,
					  .alloc_memory = 8LL << 30,
					  .alloc_ephemeral_storage = 100LL << 30};
	struct kubelet_env env = {0};
	ndl_error_t err = NDL_ERROR_INIT;
	if (kubelet_container_env(p, &p->containers[0], &ctx, &env, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	struct {
		const char *k, *v;
	} want[] = {
	    {"EARLY", "$(FOO)"},     {"FOO", "again"},
	    {"ZOO", "bar-1"},	     {"BLU", "bar-1-2"},
	    {"EMPTY", ""},	     {"NAME", "web"},
	    {"NODE", "node1"},	     {"APP", "a"},
	    {"NOANN", ""},	     {"IP", "10.1.2.3"},
	    {"MEM_MI", "64"},	     {"CPU", "1"},
	    {"CPU_M", "250"},	     {"REQ_CPU", "1"} /* defaulted from the limit */,
	    {"REQ_MEM", "33554432"}, {"STORAGE", "100"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *v = kubelet_env_get(&env, want[i].k);
		if (!v || strcmp(v, want[i].v) != 0)
			fail_msg("%s=%s, want %s", want[i].k, v ? v : "(unset)", want[i].v);
	}
	assert_null(kubelet_env_get(&env, "OPT"));
	assert_string_equal(env.names[1], "FOO"); /* redefinition keeps the first position */
	struct pod_strv cmd, args;
	kubelet_expand_command(&p->containers[0], &env, &cmd, &args);
	assert_string_equal(cmd.v[2], "echo again $(FOO) $(NOPE)");
	assert_string_equal(args.v[0], "bar-1-2");
	assert_string_equal(args.v[1], "$bar-1");
	kubelet_strv_free(&cmd);
	kubelet_strv_free(&args);
	kubelet_env_free(&env);

	/* a required ConfigMap reference cannot be met without an API server */
	cleanup_pod struct pod *q =
	    defaulted("apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers:\n  - "
		      "name: c\n    image: i\n"
		      "    env: [{name: X, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n");
	assert_int_not_equal(kubelet_container_env(q, &q->containers[0], &ctx, &env, &err), 0);
	assert_non_null(strstr(ndl_error_msg(&err), "env[0] X: secret \"/s\""));
	ndl_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qos_class),
	    cmocka_unit_test(test_oom_score_adj),
	    cmocka_unit_test(test_linux_resources),
	    cmocka_unit_test(test_expand),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_container_env),
	    cmocka_unit_test(test_pod_resource_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
