/* kubelet/lifecycle: computePodActions (sandbox creation, init ordering,
 * restart policy and back-off, in-place restart of a changed container),
 * status computation, CRI configs from the Pod, hostPath type checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kubelet/config.h"
#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "static-pods/staticpods.h"

#define SEC 1000000000LL
#define T0  (1700000000LL * SEC)

static struct pod *mkpod(const char *yaml)
{
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (sp_pod_from_manifest(yaml, strlen(yaml), "/etc/m/p.yaml", "node1", T0, &p, &err) < 0)
		fail_msg("manifest: %s", ndl_error_msg(&err));
	return p;
}

static const char *POD2 = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns1}\n"
			  "spec:\n  containers:\n  - {name: a, image: busybox}\n"
			  "  - {name: b, image: busybox, ports: [{containerPort: 80, hostPort: 8080}]}\n";

static json_t *sandboxes(const char *state, int attempt, const char *id)
{
	json_t *a = json_array();
	if (state) {
		json_t *s = json_pack("{s:s,s:{s:i},s:s}", "id", id, "metadata", "attempt", attempt,
				      "created_at", "100");
		if (*state)
			json_object_set_new(s, "state", json_string(state));
		json_array_append_new(a, s);
	}
	return a;
}

static struct kl_observed ctr(const char *id, const char *name, const char *sb, int state,
			      int exit_code, uint32_t attempt, int64_t finished)
{
	return (struct kl_observed){.id = id, .name = name, .sandbox_id = sb, .state = state,
				    .exit_code = exit_code, .attempt = attempt,
				    .created_at = T0 + attempt, .started_at = T0,
				    .finished_at = finished, .reason = "", .message = "",
				    .image_ref = "sha256:1"};
}

static bool starts(const struct kl_pod_actions *a, const char *name, uint32_t rc)
{
	for (size_t i = 0; i < a->n_start; i++)
		if (strcmp(a->start[i].c->name, name) == 0 && a->start[i].restart_count == rc)
			return true;
	return false;
}

static void test_new_pod_creates_sandbox(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	cleanup_json json_t *sbs = sandboxes(NULL, 0, NULL);
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	kl_compute_pod_actions(p, sbs, NULL, 0, &bt, T0, &a);
	assert_true(a.create_sandbox);
	assert_false(a.kill_pod);
	assert_int_equal(a.attempt, 0);
	assert_int_equal(a.n_start, 2);
	assert_true(starts(&a, "a", 0) && starts(&a, "b", 0));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

/* The actions are sized by the pod: 100 containers all start (fixed arrays
 * capped them at 64), and the same actions then serve a smaller pod. */
static void test_actions_sized_by_pod(void **st)
{
	(void)st;
	char *y = xstrdup("apiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec:\n  containers:\n");
	for (int i = 0; i < 100; i++) {
		char *n = xasprintf("%s  - {name: c%d, image: x}\n", y, i);
		free(y);
		y = n;
	}
	cleanup_pod struct pod *big = mkpod(y);
	free(y);
	cleanup_pod struct pod *small = mkpod(POD2);
	cleanup_json json_t *none = sandboxes(NULL, 0, NULL);
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	kl_compute_pod_actions(big, none, NULL, 0, &bt, T0, &a);
	assert_int_equal(a.n_start, 100);
	assert_true(starts(&a, "c0", 0) && starts(&a, "c99", 0));
	assert_true(a.cap_waiting >= 101);
	for (int i = 0; i < 200; i++)
		kl_pod_actions_wait(&a, "c0", "ErrImagePull", "m");
	assert_int_equal(a.n_waiting, a.cap_waiting); /* bounded, never past the array */
	kl_compute_pod_actions(small, none, NULL, 0, &bt, T0, &a);
	assert_int_equal(a.n_start, 2);
	assert_int_equal(a.n_waiting, 0);
	assert_true(starts(&a, "a", 0) && starts(&a, "b", 0));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_sandbox_not_ready_recreated(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	cleanup_json json_t *sbs = sandboxes("SANDBOX_NOTREADY", 2, "s1");
	struct kl_observed c[] = {ctr("c1", "a", "s1", 2, 137, 4, T0)};
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_true(a.create_sandbox);
	assert_true(a.kill_pod);
	assert_int_equal(a.attempt, 3);
	/* The restart count continues across sandboxes. */
	assert_true(starts(&a, "a", 5));
	assert_true(starts(&a, "b", 0));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

/* podSandboxChanged: two ready sandboxes, or a ready one older than a
 * sandbox that is not ready, need a new sandbox too. */
static void test_sandbox_ready_count_and_newest(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	struct kl_observed c[] = {ctr("c1", "a", "s1", 1, 0, 0, 0), ctr("c2", "b", "s1", 1, 0, 0, 0)};
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	/* One ready sandbox: nothing to do. */
	cleanup_json json_t *one = json_pack("[{s:s,s:{s:i},s:s}]", "id", "s1", "metadata", "attempt",
					     0, "created_at", "100");
	kl_compute_pod_actions(p, one, c, 2, &bt, T0, &a);
	assert_false(a.create_sandbox);
	assert_false(a.kill_pod);
	/* Two ready. */
	cleanup_json json_t *two = json_pack("[{s:s,s:{s:i},s:s},{s:s,s:{s:i},s:s}]", "id", "s1",
					     "metadata", "attempt", 0, "created_at", "100", "id",
					     "s2", "metadata", "attempt", 1, "created_at", "200");
	kl_compute_pod_actions(p, two, c, 2, &bt, T0, &a);
	assert_true(a.create_sandbox);
	assert_true(a.kill_pod);
	assert_int_equal(a.attempt, 2);
	/* The newest is not ready, an older one is. */
	cleanup_json json_t *stale = json_pack(
		"[{s:s,s:{s:i},s:s},{s:s,s:{s:i},s:s,s:s}]", "id", "s1", "metadata", "attempt", 0,
		"created_at", "100", "id", "s2", "metadata", "attempt", 1, "created_at", "200",
		"state", "SANDBOX_NOTREADY");
	kl_compute_pod_actions(p, stale, c, 2, &bt, T0, &a);
	assert_true(a.create_sandbox);
	assert_true(a.kill_pod);
	assert_int_equal(a.attempt, 2);
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

/* podSandboxChanged: only the network namespace mode counts. */
static void test_sandbox_netns_changed(void **state)
{
	(void)state;
	struct pod *pod = mkpod(POD2);
	struct pod *host = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: ns1}\n"
				 "spec:\n  hostNetwork: true\n  hostPID: true\n"
				 "  containers:\n  - {name: a, image: busybox}\n");
	json_t *pod_mode = json_pack("{s:{s:{s:{s:s}}}}", "linux", "namespaces", "options", "pid",
				     "NODE"); /* network POD: omitted */
	json_t *node_mode = json_pack("{s:{s:{s:{s:s,s:s}}}}", "linux", "namespaces", "options",
				      "network", "NODE", "ipc", "NODE");
	json_t *empty = json_object();
	assert_false(kl_sandbox_netns_changed(pod, pod_mode));
	assert_false(kl_sandbox_netns_changed(pod, empty));
	assert_true(kl_sandbox_netns_changed(pod, node_mode));
	assert_true(kl_sandbox_netns_changed(host, pod_mode));
	assert_true(kl_sandbox_netns_changed(host, empty));
	assert_false(kl_sandbox_netns_changed(host, node_mode));
	/* A hostNetwork sandbox has no hostname (the node's UTS namespace). */
	struct kubelet_config cfg;
	kubelet_config_init(&cfg);
	struct kl_runtime_opts o = {.cfg = &cfg, .pod_logs_dir = "/var/log/pods",
				    .root_dir = "/tmp/nodelet-unit", .memory_capacity = 1LL << 33};
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *sc = kl_sandbox_config(&o, host, 1, &err);
	assert_non_null(sc);
	assert_string_equal(json_string_value(json_object_get(sc, "hostname")), "");
	json_decref(sc);
	sc = kl_sandbox_config(&o, pod, 0, &err);
	assert_non_null(sc);
	assert_string_equal(json_string_value(json_object_get(sc, "hostname")), pod->name);
	json_decref(sc);
	kubelet_config_free(&cfg);
	json_decref(pod_mode);
	json_decref(node_mode);
	json_decref(empty);
	pod_unref(pod);
	pod_unref(host);
}

/* podSandboxChanged's IP check: a pod-network sandbox whose network status
 * has no IP needs a new one; hostNetwork pods and a runtime sending no
 * network status at all do not. */
static void test_sandbox_lacks_ip(void **state)
{
	(void)state;
	cleanup_pod struct pod *pod = mkpod(POD2);
	cleanup_pod struct pod *host = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: ns1}\n"
		"spec:\n  hostNetwork: true\n  containers:\n  - {name: a, image: busybox}\n");
	cleanup_json json_t *with_ip = json_pack("{s:{s:s}}", "network", "ip", "10.22.0.5");
	cleanup_json json_t *no_ip = json_pack("{s:{}}", "network"); /* ip "" is omitted */
	cleanup_json json_t *empty_ip = json_pack("{s:{s:s}}", "network", "ip", "");
	cleanup_json json_t *no_network = json_object();
	assert_false(kl_sandbox_lacks_ip(pod, with_ip));
	assert_true(kl_sandbox_lacks_ip(pod, no_ip));
	assert_true(kl_sandbox_lacks_ip(pod, empty_ip));
	assert_false(kl_sandbox_lacks_ip(pod, no_network));
	assert_false(kl_sandbox_lacks_ip(host, no_ip));
	assert_false(kl_sandbox_lacks_ip(host, with_ip));
}

/* runtimeState as updateRuntimeUp feeds it from CRI Status replies. */
static void test_runtime_state(void **state)
{
	(void)state;
	struct kl_runtime_state rs;
	char msg[600];
	const int64_t T = 1000LL * 1000000000LL;
	kl_runtime_state_init(&rs);
	/* Before the first reply: nothing is synced, the network is unknown. */
	assert_true(kl_runtime_errors(&rs, T, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime status check may not have completed yet");
	assert_true(kl_network_errors(&rs, msg, sizeof(msg)));
	assert_string_equal(msg, "network state unknown");

	/* Runtime ready, network not (false is omitted on the wire). */
	cleanup_json json_t *net_down = json_pack(
		"{s:{s:[{s:s,s:b},{s:s,s:s,s:s}]}}", "status", "conditions", "type", "RuntimeReady",
		"status", 1, "type", "NetworkReady", "reason", "NetworkPluginNotReady", "message",
		"Network plugin returns error: cni plugin not initialized");
	kl_runtime_state_update(&rs, net_down, T);
	assert_false(kl_runtime_errors(&rs, T, msg, sizeof(msg)));
	assert_true(kl_network_errors(&rs, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime network not ready: NetworkReady=false "
				 "reason:NetworkPluginNotReady message:Network plugin returns "
				 "error: cni plugin not initialized");

	/* Both ready. */
	cleanup_json json_t *up = json_pack("{s:{s:[{s:s,s:b},{s:s,s:b}]}}", "status",
					    "conditions", "type", "RuntimeReady", "status", 1,
					    "type", "NetworkReady", "status", 1);
	kl_runtime_state_update(&rs, up, T + 5000000000LL);
	assert_false(kl_runtime_errors(&rs, T + 5000000000LL, msg, sizeof(msg)));
	assert_false(kl_network_errors(&rs, msg, sizeof(msg)));
	/* No good reply for 30 s: the runtime counts as down. */
	assert_false(kl_runtime_errors(&rs, T + 34000000000LL, msg, sizeof(msg)));
	assert_true(kl_runtime_errors(&rs, T + 35000000000LL, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime is down");

	/* RuntimeReady false: an error, and the last sync keeps ageing. */
	cleanup_json json_t *rt_down = json_pack(
		"{s:{s:[{s:s,s:s,s:s},{s:s,s:b}]}}", "status", "conditions", "type", "RuntimeReady",
		"reason", "ContainerdNotReady", "message", "boom", "type", "NetworkReady", "status", 1);
	kl_runtime_state_update(&rs, rt_down, T + 10000000000LL);
	assert_true(kl_runtime_errors(&rs, T + 10000000000LL, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime not ready: RuntimeReady=false "
				 "reason:ContainerdNotReady message:boom");
	assert_true(kl_runtime_errors(&rs, T + 40000000000LL, msg, sizeof(msg)));
	assert_string_equal(msg, "[container runtime is down, container runtime not ready: "
				 "RuntimeReady=false reason:ContainerdNotReady message:boom]");
	assert_false(kl_network_errors(&rs, msg, sizeof(msg)));

	/* No conditions at all: both nil, as Go prints them. */
	cleanup_json json_t *none = json_pack("{s:{}}", "status");
	kl_runtime_state_update(&rs, none, T + 11000000000LL);
	assert_true(kl_network_errors(&rs, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime network not ready: <nil>");
	assert_true(kl_runtime_errors(&rs, T + 11000000000LL, msg, sizeof(msg)));
	assert_string_equal(msg, "container runtime not ready: <nil>");
	/* Ready again. */
	kl_runtime_state_update(&rs, up, T + 12000000000LL);
	assert_false(kl_runtime_errors(&rs, T + 12000000000LL, msg, sizeof(msg)));
}

static void test_running_unchanged_no_action(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	cleanup_json json_t *sbs = sandboxes("", 0, "s1"); /* READY is omitted */
	struct kl_observed c[] = {ctr("c1", "a", "s1", 1, 0, 0, 0), ctr("c2", "b", "s1", 1, 0, 0, 0)};
	c[0].has_spec_hash = c[1].has_spec_hash = true;
	c[0].spec_hash = p->containers[0].spec_hash;
	c[1].spec_hash = p->containers[1].spec_hash;
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	kl_compute_pod_actions(p, sbs, c, 2, &bt, T0, &a);
	assert_false(a.create_sandbox);
	assert_string_equal(a.sandbox_id, "s1");
	assert_int_equal(a.n_start, 0);
	assert_int_equal(a.n_kill, 0);
	/* b's spec changed: exactly b restarts. */
	c[1].spec_hash ^= 1;
	kl_compute_pod_actions(p, sbs, c, 2, &bt, T0, &a);
	assert_int_equal(a.n_kill, 1);
	assert_string_equal(a.kill[0]->name, "b");
	assert_int_equal(a.n_start, 1);
	assert_true(starts(&a, "b", 1));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_unknown_container_killed(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_observed c[] = {ctr("c1", "a", "s1", 1, 0, 0, 0), ctr("c2", "b", "s1", 1, 0, 0, 0),
				  ctr("c3", "gone", "s1", 1, 0, 0, 0)};
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	kl_compute_pod_actions(p, sbs, c, 3, &bt, T0, &a);
	assert_int_equal(a.n_kill, 1);
	assert_string_equal(a.kill[0]->id, "c3");
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_init_containers_in_order(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: i}\nspec:\n"
		"  initContainers:\n  - {name: i1, image: x}\n  - {name: i2, image: x}\n"
		"  containers:\n  - {name: app, image: x}\n");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	cleanup_json json_t *none = sandboxes(NULL, 0, NULL);
	kl_compute_pod_actions(p, none, NULL, 0, &bt, T0, &a);
	assert_true(a.create_sandbox);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "i1");

	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_observed c[3];
	c[0] = ctr("c1", "i1", "s1", 1, 0, 0, 0);
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 0); /* i1 still running */
	c[0] = ctr("c1", "i1", "s1", 2, 0, 0, T0);
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "i2");
	c[1] = ctr("c2", "i2", "s1", 2, 0, 0, T0);
	kl_compute_pod_actions(p, sbs, c, 2, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "app");
	/* A failing init container is restarted (Always) before any app. */
	c[1] = ctr("c2", "i2", "s1", 2, 3, 0, T0);
	kl_compute_pod_actions(p, sbs, c, 2, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "i2");
	assert_int_equal(a.start[0].restart_count, 1);
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_sidecar_init_containers(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: sc}\nspec:\n  restartPolicy: Never\n"
		"  initContainers:\n  - {name: side, image: x, restartPolicy: Always}\n"
		"  - {name: i2, image: x}\n"
		"  containers:\n  - {name: app, image: x}\n");
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	struct kl_observed c[3];
	kl_compute_pod_actions(p, sbs, c, 0, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "side");
	/* Running sidecar: the next init container starts (no waiting for exit). */
	c[0] = ctr("c1", "side", "s1", 1, 0, 0, 0);
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "i2");
	/* ...unless its startup probe has not succeeded yet (kubelet 1.29). */
	c[0].has_probe_result = true;
	c[0].probe_started = false;
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 0);
	c[0].probe_started = true;
	kl_compute_pod_actions(p, sbs, c, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "i2");
	c[1] = ctr("c2", "i2", "s1", 2, 0, 0, T0);
	kl_compute_pod_actions(p, sbs, c, 2, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_string_equal(a.start[0].c->name, "app");
	/* An exited sidecar restarts even under restartPolicy Never. */
	c[0] = ctr("c1", "side", "s1", 2, 0, 0, T0);
	c[2] = ctr("c3", "app", "s1", 1, 0, 0, 0);
	kl_compute_pod_actions(p, sbs, c, 3, &bt, T0, &a);
	assert_int_equal(a.n_start, 1);
	assert_true(starts(&a, "side", 1));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_backoff_crashloop(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					  "  containers:\n  - {name: a, image: x}\n");
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	/* First exit: restarted at once. */
	struct kl_observed c = ctr("c1", "a", "s1", 2, 1, 0, T0);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0, &a);
	assert_true(starts(&a, "a", 1));
	/* Second exit 1 s later: back-off 10 s from its finish. */
	c = ctr("c2", "a", "s1", 2, 1, 1, T0 + 2 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 3 * SEC, &a);
	assert_int_equal(a.n_start, 0);
	assert_int_equal(a.n_waiting, 1);
	assert_string_equal(a.waiting[0].reason, "CrashLoopBackOff");
	assert_non_null(strstr(a.waiting[0].message, "back-off 10s restarting failed container=a"));
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 11 * SEC, &a);
	assert_int_equal(a.n_start, 0);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 12 * SEC + 1, &a);
	assert_true(starts(&a, "a", 2));
	/* Next window is 20 s. */
	c = ctr("c3", "a", "s1", 2, 1, 2, T0 + 13 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 30 * SEC, &a);
	assert_int_equal(a.n_start, 0);
	assert_non_null(strstr(a.waiting[0].message, "back-off 20s"));
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 34 * SEC, &a);
	assert_true(starts(&a, "a", 3));
	/* After 10 minutes without a restart the back-off is forgotten. */
	c = ctr("c4", "a", "s1", 2, 1, 3, T0 + 700 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 701 * SEC, &a);
	assert_true(starts(&a, "a", 4));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static void test_restart_policies(void **st)
{
	(void)st;
	cleanup_pod struct pod *on = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					   "  restartPolicy: OnFailure\n"
					   "  containers:\n  - {name: a, image: x}\n");
	cleanup_pod struct pod *never = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					      "  restartPolicy: Never\n"
					      "  containers:\n  - {name: a, image: x}\n");
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	struct kl_observed ok = ctr("c1", "a", "s1", 2, 0, 0, T0);
	struct kl_observed bad = ctr("c1", "a", "s1", 2, 2, 0, T0);
	kl_compute_pod_actions(on, sbs, &ok, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 0);
	assert_true(a.pod_done);
	kl_compute_pod_actions(on, sbs, &bad, 1, &bt, T0, &a);
	assert_true(starts(&a, "a", 1));
	kl_compute_pod_actions(never, sbs, &bad, 1, &bt, T0, &a);
	assert_int_equal(a.n_start, 0);
	assert_true(a.pod_done);
	/* A finished Never pod whose sandbox died is not re-created. */
	cleanup_json json_t *dead = sandboxes("SANDBOX_NOTREADY", 0, "s1");
	kl_compute_pod_actions(never, dead, &bad, 1, &bt, T0, &a);
	assert_false(a.create_sandbox);
	assert_true(a.pod_done);
	assert_false(a.kill_pod); /* nothing runs: nothing to stop again */
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static const char *cstate(json_t *status, size_t i, const char *which)
{
	json_t *cs = json_array_get(json_object_get(status, "containerStatuses"), i);
	json_t *s = json_object_get(json_object_get(cs, "state"), which);
	return s ? json_string_value(json_object_get(s, "reason")) : NULL;
}

static const char *cond(json_t *status, const char *type)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(status, "conditions"), i, c) if (
		strcmp(json_string_value(json_object_get(c, "type")), type) ==
		0) return json_string_value(json_object_get(c, "status"));
	return NULL;
}

static void test_status(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	struct kl_observed c[] = {ctr("c1", "a", "s1", 1, 0, 0, 0), ctr("c0", "b", "s1", 2, 1, 0, T0),
				  ctr("c2", "b", "s1", 2, 1, 1, T0 + SEC)};
	struct kl_waiting wv[1] = {{0}};
	struct kl_pod_actions a = {.waiting = wv, .cap_waiting = 1};
	a.n_waiting = 1;
	a.waiting[0].container = "b";
	snprintf(a.waiting[0].reason, sizeof(a.waiting[0].reason), "CrashLoopBackOff");
	struct kl_status_input in = {.p = p, .sandbox_id = "s1", .sandbox_ready = true,
				     .pod_ip = "10.1.0.5", .runtime_name = "containerd",
				     .ctrs = c, .n_ctrs = 3, .actions = &a, .start_time_ns = T0};
	cleanup_json json_t *s = kl_pod_status(&in);
	assert_string_equal(json_string_value(json_object_get(s, "phase")), "Running");
	assert_string_equal(json_string_value(json_object_get(s, "podIP")), "10.1.0.5");
	assert_string_equal(json_string_value(json_object_get(s, "qosClass")), "BestEffort");
	assert_string_equal(cond(s, "Ready"), "False");
	assert_string_equal(cond(s, "Initialized"), "True");
	json_t *cs0 = json_array_get(json_object_get(s, "containerStatuses"), 0);
	assert_string_equal(json_string_value(json_object_get(cs0, "containerID")),
			    "containerd://c1");
	assert_true(json_is_true(json_object_get(cs0, "ready")));
	assert_non_null(json_object_get(json_object_get(cs0, "state"), "running"));
	assert_string_equal(cstate(s, 1, "waiting"), "CrashLoopBackOff");
	json_t *cs1 = json_array_get(json_object_get(s, "containerStatuses"), 1);
	assert_int_equal(json_integer_value(json_object_get(cs1, "restartCount")), 1);
	json_t *last = json_object_get(json_object_get(cs1, "lastState"), "terminated");
	assert_non_null(last);
	assert_int_equal(json_integer_value(json_object_get(last, "exitCode")), 1);
	assert_string_equal(json_string_value(json_object_get(last, "reason")), "Error");
	assert_string_equal(json_string_value(json_object_get(last, "containerID")),
			    "containerd://c2");

	/* All running, no probes: Ready. */
	c[2].state = 1;
	a.n_waiting = 0;
	cleanup_json json_t *s2 = kl_pod_status(&in);
	assert_string_equal(cond(s2, "Ready"), "True");
	assert_string_equal(cond(s2, "ContainersReady"), "True");
	/* Everything exited 0 under OnFailure: Succeeded. */
	cleanup_pod struct pod *on = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					   "  restartPolicy: OnFailure\n"
					   "  containers:\n  - {name: a, image: x}\n");
	struct kl_observed done = ctr("c9", "a", "s1", 2, 0, 0, T0);
	struct kl_status_input in2 = {.p = on, .runtime_name = "containerd", .ctrs = &done,
				      .n_ctrs = 1};
	cleanup_json json_t *s3 = kl_pod_status(&in2);
	assert_string_equal(json_string_value(json_object_get(s3, "phase")), "Succeeded");
	assert_string_equal(cstate(s3, 0, "terminated"), "Completed");

	/* The kubelet's getPhase: the only container crash-looping (waiting,
	 * last state terminated) counts as stopped, so Always -> Running. */
	cleanup_pod struct pod *cl = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					   "  containers:\n  - {name: a, image: x}\n");
	struct kl_observed crashed = ctr("c8", "a", "s1", 2, 1, 3, T0);
	struct kl_waiting bw[1] = {{0}};
	struct kl_pod_actions back = {.waiting = bw, .cap_waiting = 1};
	back.n_waiting = 1;
	back.waiting[0].container = "a";
	snprintf(back.waiting[0].reason, sizeof(back.waiting[0].reason), "CrashLoopBackOff");
	struct kl_status_input in3 = {.p = cl, .runtime_name = "containerd", .ctrs = &crashed,
				      .n_ctrs = 1, .actions = &back};
	cleanup_json json_t *s4 = kl_pod_status(&in3);
	assert_string_equal(json_string_value(json_object_get(s4, "phase")), "Running");
	assert_string_equal(cstate(s4, 0, "waiting"), "CrashLoopBackOff");
	/* ... and under Never (no restart coming) -> Failed. */
	cleanup_pod struct pod *nv = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					   "  restartPolicy: Never\n"
					   "  containers:\n  - {name: a, image: x}\n");
	struct kl_status_input in4 = {.p = nv, .runtime_name = "containerd", .ctrs = &crashed,
				      .n_ctrs = 1};
	cleanup_json json_t *s5 = kl_pod_status(&in4);
	assert_string_equal(json_string_value(json_object_get(s5, "phase")), "Failed");
	/* A container not created yet keeps the pod Pending even while
	 * another one runs. */
	struct kl_observed one_running = ctr("c7", "a", "s1", 1, 0, 0, T0);
	struct kl_status_input in5 = {.p = p, .sandbox_id = "s1", .sandbox_ready = true,
				      .runtime_name = "containerd", .ctrs = &one_running,
				      .n_ctrs = 1};
	cleanup_json json_t *s6 = kl_pod_status(&in5);
	assert_string_equal(json_string_value(json_object_get(s6, "phase")), "Pending");
}

static void test_go_duration(void **st)
{
	(void)st;
	char b[40];
	assert_string_equal(kl_go_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(kl_go_duration(10 * SEC, b, sizeof(b)), "10s");
	assert_string_equal(kl_go_duration(40 * SEC, b, sizeof(b)), "40s");
	assert_string_equal(kl_go_duration(80 * SEC, b, sizeof(b)), "1m20s");
	assert_string_equal(kl_go_duration(300 * SEC, b, sizeof(b)), "5m0s");
	assert_string_equal(kl_go_duration(3661 * SEC, b, sizeof(b)), "1h1m1s");
	assert_string_equal(kl_go_duration(3 * SEC / 2, b, sizeof(b)), "1.5s");
	assert_string_equal(kl_go_duration(90 * SEC + SEC / 2, b, sizeof(b)), "1m30.5s");
	assert_string_equal(kl_go_duration(SEC / 2, b, sizeof(b)), "500ms");
	assert_string_equal(kl_go_duration(1500, b, sizeof(b)), "1.5\u00b5s");
	assert_string_equal(kl_go_duration(100, b, sizeof(b)), "100ns");
	assert_string_equal(kl_go_duration(-10 * SEC, b, sizeof(b)), "-10s");
}

/* The CrashLoopBackOff messages of a container that exits at once, step
 * by step: 10s 20s 40s 1m20s 2m40s 5m0s 5m0s (Go duration format). */
static void test_backoff_messages_and_key(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod("apiVersion: v1\nkind: Pod\n"
					  "metadata: {name: c, namespace: ns, uid: u-1}\nspec:\n"
					  "  containers:\n  - {name: a, image: x}\n");
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	static const char *want[] = {"10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"};
	int64_t t = T0;
	struct kl_observed c = ctr("c0", "a", "s1", 2, 1, 0, t);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, t + 1, &a);
	assert_true(starts(&a, "a", 1));
	int64_t backoff = 10 * SEC;
	for (uint32_t k = 0; k < 7; k++) {
		t += 2 * SEC; /* ran for a second and exited */
		c = ctr("cx", "a", "s1", 2, 1, k + 1, t);
		kl_compute_pod_actions(p, sbs, &c, 1, &bt, t + SEC, &a);
		assert_int_equal(a.n_start, 0);
		assert_int_equal(a.n_waiting, 1);
		char exp[160];
		snprintf(exp, sizeof(exp),
			 "back-off %s restarting failed container=a pod=%s_ns(u-1)", want[k],
			 p->name);
		assert_string_equal(a.waiting[0].message, exp);
		/* Still waiting just before the window ends, started after. */
		kl_compute_pod_actions(p, sbs, &c, 1, &bt, t + backoff - 1, &a);
		assert_int_equal(a.n_start, 0);
		t += backoff;
		kl_compute_pod_actions(p, sbs, &c, 1, &bt, t, &a);
		assert_true(starts(&a, "a", k + 2));
		if (backoff < 300 * SEC)
			backoff = backoff * 2 > 300 * SEC ? 300 * SEC : backoff * 2;
	}
	/* getStableKey: name_namespace_uid_container_spechash. */
	char key[256], exp[256];
	kl_backoff_key(p, &p->containers[0], key, sizeof(key));
	snprintf(exp, sizeof(exp), "%s_ns_u-1_a_%x", p->name, p->containers[0].spec_hash);
	assert_string_equal(key, exp);
	assert_non_null(kl_backoff_get(&bt, key, false));
	/* An edited container (another spec hash) starts with no back-off. */
	t += 2 * SEC;
	c = ctr("cy", "a", "s1", 2, 1, 9, t);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, t + SEC, &a);
	assert_int_equal(a.n_start, 0);
	p->containers[0].spec_hash ^= 0x5a5a;
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, t + SEC, &a);
	assert_true(starts(&a, "a", 10));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

/* Next(key, FinishedAt): whether the back-off is forgotten is judged from
 * the exit, not from when the sync saw it. */
static void test_backoff_forget_from_finished_at(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					  "  containers:\n  - {name: a, image: x}\n");
	cleanup_json json_t *sbs = sandboxes("", 0, "s1");
	struct kl_backoff_table bt = {0};
	struct kl_pod_actions a = {0};
	struct kl_observed c = ctr("c0", "a", "s1", 2, 1, 0, T0);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + SEC, &a); /* back-off 10 s */
	assert_true(starts(&a, "a", 1));
	/* Exits 499 s after the last update (inside the 600 s window) but
	 * is seen only at 700 s: the back-off doubles to 20 s. */
	c = ctr("c1", "a", "s1", 2, 1, 1, T0 + 500 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 700 * SEC, &a);
	assert_true(starts(&a, "a", 2));
	c = ctr("c2", "a", "s1", 2, 1, 2, T0 + 701 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 702 * SEC, &a);
	assert_int_equal(a.n_start, 0);
	assert_non_null(strstr(a.waiting[0].message, "back-off 20s "));
	/* A run of more than 10 minutes after the last update: forgotten,
	 * the next window is 10 s again. */
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 722 * SEC, &a);
	assert_true(starts(&a, "a", 3));
	c = ctr("c3", "a", "s1", 2, 1, 3, T0 + 1400 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 1400 * SEC + 1, &a);
	assert_true(starts(&a, "a", 4));
	c = ctr("c4", "a", "s1", 2, 1, 4, T0 + 1402 * SEC);
	kl_compute_pod_actions(p, sbs, &c, 1, &bt, T0 + 1403 * SEC, &a);
	assert_non_null(strstr(a.waiting[0].message, "back-off 10s "));
	kl_backoff_table_free(&bt);
	kl_pod_actions_free(&a);
}

static json_t *cond_obj(json_t *status, const char *type)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(status, "conditions"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
			return c;
	}
	return NULL;
}

static const char *cond_field(json_t *status, const char *type, const char *field)
{
	return json_string_value(json_object_get(cond_obj(status, type), field));
}

/* updateLastTransitionTime: kept from the previous status while a
 * condition's status stays, now when it flips. */
static void test_status_transition_time(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(POD2);
	struct kl_observed c[] = {ctr("c1", "a", "s1", 1, 0, 0, 0), ctr("c2", "b", "s1", 1, 0, 0, 0)};
	struct kl_status_input in = {.p = p, .sandbox_id = "s1", .sandbox_ready = true,
				     .runtime_name = "containerd", .ctrs = c, .n_ctrs = 2};
	cleanup_json json_t *prev = kl_pod_status(&in);
	/* Pretend the previous status is old. */
	size_t i;
	json_t *cd;
	json_array_foreach(json_object_get(prev, "conditions"), i, cd)
		json_object_set_new(cd, "lastTransitionTime", json_string("2001-01-01T00:00:00Z"));
	in.prev = prev;
	cleanup_json json_t *s = kl_pod_status(&in);
	const char *types[] = {"PodReadyToStartContainers", "Initialized", "Ready",
			       "ContainersReady", "PodScheduled"};
	for (size_t k = 0; k < 5; k++)
		assert_string_equal(cond_field(s, types[k], "lastTransitionTime"),
				    "2001-01-01T00:00:00Z");
	assert_true(json_equal(s, prev));
	/* b stops being ready: Ready and ContainersReady flip (now), the
	 * others keep their time. */
	c[1].has_probe_result = true;
	c[1].probe_started = true;
	c[1].probe_ready = false;
	cleanup_json json_t *s2 = kl_pod_status(&in);
	assert_string_equal(cond(s2, "Ready"), "False");
	assert_string_not_equal(cond_field(s2, "Ready", "lastTransitionTime"),
				"2001-01-01T00:00:00Z");
	assert_string_not_equal(cond_field(s2, "ContainersReady", "lastTransitionTime"),
				"2001-01-01T00:00:00Z");
	assert_string_equal(cond_field(s2, "Initialized", "lastTransitionTime"),
			    "2001-01-01T00:00:00Z");
	assert_string_equal(cond_field(s2, "Ready", "reason"), "ContainersNotReady");
	assert_string_equal(cond_field(s2, "Ready", "message"),
			    "containers with unready status: [b]");
	assert_string_equal(cond_field(s2, "ContainersReady", "message"),
			    "containers with unready status: [b]");
	c[0].has_probe_result = true;
	c[0].probe_started = true;
	cleanup_json json_t *s3 = kl_pod_status(&in);
	assert_string_equal(cond_field(s3, "ContainersReady", "message"),
			    "containers with unready status: [a b]");
	assert_null(json_object_get(cond_obj(s3, "Initialized"), "message"));
	assert_null(json_object_get(cond_obj(s3, "Initialized"), "reason"));
}

/* Init containers: a completed one is ready, app containers not created
 * yet show PodInitializing, Initialized names the incomplete ones. */
static void test_status_init_containers(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: ic}\nspec:\n"
		"  initContainers:\n  - {name: i1, image: x}\n  - {name: i2, image: x}\n"
		"  containers:\n  - {name: app, image: x}\n");
	struct kl_observed c[] = {ctr("c1", "i1", "s1", 2, 0, 0, T0), ctr("c2", "i2", "s1", 1, 0, 0, 0)};
	struct kl_status_input in = {.p = p, .sandbox_id = "s1", .sandbox_ready = true,
				     .runtime_name = "containerd", .ctrs = c, .n_ctrs = 2};
	cleanup_json json_t *s = kl_pod_status(&in);
	json_t *ics = json_object_get(s, "initContainerStatuses");
	assert_true(json_is_true(json_object_get(json_array_get(ics, 0), "ready")));
	assert_false(json_is_true(json_object_get(json_array_get(ics, 1), "ready")));
	assert_string_equal(cstate(s, 0, "waiting"), "PodInitializing");
	assert_string_equal(json_string_value(json_object_get(s, "phase")), "Pending");
	assert_string_equal(cond(s, "Initialized"), "False");
	assert_string_equal(cond_field(s, "Initialized", "reason"), "ContainersNotInitialized");
	assert_string_equal(cond_field(s, "Initialized", "message"),
			    "containers with incomplete status: [i2]");
	assert_string_equal(cond_field(s, "ContainersReady", "message"),
			    "containers with unready status: [app]");
	/* A failed init container is not ready. */
	c[0].exit_code = 1;
	cleanup_json json_t *s2 = kl_pod_status(&in);
	ics = json_object_get(s2, "initContainerStatuses");
	assert_false(json_is_true(json_object_get(json_array_get(ics, 0), "ready")));
	assert_string_equal(cond_field(s2, "Initialized", "message"),
			    "containers with incomplete status: [i1 i2]");
	/* Without init containers the default is ContainerCreating. */
	cleanup_pod struct pod *plain = mkpod(POD2);
	struct kl_status_input in2 = {.p = plain, .runtime_name = "containerd"};
	cleanup_json json_t *s3 = kl_pod_status(&in2);
	assert_string_equal(cstate(s3, 0, "waiting"), "ContainerCreating");
	/* A sidecar that runs but is not ready is named in ContainersReady
	 * (before the app containers); a running started sidecar counts as
	 * initialized. */
	cleanup_pod struct pod *sc = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: sc}\nspec:\n"
		"  initContainers:\n  - {name: side, image: x, restartPolicy: Always,\n"
		"    readinessProbe: {exec: {command: [\"true\"]}}}\n"
		"  containers:\n  - {name: app, image: x}\n");
	struct kl_observed sv[] = {ctr("c1", "side", "s1", 1, 0, 0, 0),
				   ctr("c2", "app", "s1", 1, 0, 0, 0)};
	sv[0].has_probe_result = true;
	sv[0].probe_started = true;
	struct kl_status_input in3 = {.p = sc, .sandbox_id = "s1", .sandbox_ready = true,
				      .runtime_name = "containerd", .ctrs = sv, .n_ctrs = 2};
	cleanup_json json_t *s4 = kl_pod_status(&in3);
	assert_string_equal(cond(s4, "Initialized"), "True");
	assert_string_equal(cond(s4, "ContainersReady"), "False");
	assert_string_equal(cond_field(s4, "ContainersReady", "message"),
			    "containers with unready status: [side]");
	/* The sidecar restarting (exited) after the app container ran: still
	 * initialized (HasAnyRegularContainerStarted). */
	sv[0].state = 2;
	cleanup_json json_t *s6 = kl_pod_status(&in3);
	assert_string_equal(cond(s6, "Initialized"), "True");
	assert_string_equal(json_string_value(json_object_get(s6, "phase")), "Running");
	sv[0].state = 1;
	sv[0].probe_ready = true;
	cleanup_json json_t *s5 = kl_pod_status(&in3);
	assert_string_equal(cond(s5, "ContainersReady"), "True");
	assert_string_equal(cond(s5, "Ready"), "True");
}

/* Finished pods (v1.28): Succeeded -> Initialized True/PodCompleted, Ready
 * and ContainersReady False/PodCompleted; Failed -> PodFailed. */
static void test_status_terminal_reasons(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n"
					  "  restartPolicy: Never\n"
					  "  initContainers:\n  - {name: i, image: x}\n"
					  "  containers:\n  - {name: a, image: x}\n");
	struct kl_observed c[] = {ctr("c0", "i", "s1", 2, 0, 0, T0), ctr("c1", "a", "s1", 2, 0, 0, T0)};
	struct kl_status_input in = {.p = p, .runtime_name = "containerd", .ctrs = c, .n_ctrs = 2};
	cleanup_json json_t *s = kl_pod_status(&in);
	assert_string_equal(json_string_value(json_object_get(s, "phase")), "Succeeded");
	assert_string_equal(cond(s, "Initialized"), "True");
	assert_string_equal(cond_field(s, "Initialized", "reason"), "PodCompleted");
	assert_string_equal(cond(s, "Ready"), "False");
	assert_string_equal(cond_field(s, "Ready", "reason"), "PodCompleted");
	assert_string_equal(cond_field(s, "ContainersReady", "reason"), "PodCompleted");
	assert_null(json_object_get(cond_obj(s, "Ready"), "message"));
	c[1].exit_code = 2;
	cleanup_json json_t *s2 = kl_pod_status(&in);
	assert_string_equal(json_string_value(json_object_get(s2, "phase")), "Failed");
	assert_string_equal(cond_field(s2, "Ready", "reason"), "PodFailed");
	assert_string_equal(cond_field(s2, "ContainersReady", "reason"), "PodFailed");
	assert_null(json_object_get(cond_obj(s2, "ContainersReady"), "message"));
	assert_string_equal(cond(s2, "Initialized"), "True");
	assert_null(json_object_get(cond_obj(s2, "Initialized"), "reason"));
}

static void test_configs(void **st)
{
	(void)st;
	cleanup_pod struct pod *p = mkpod(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns1, labels: {app: w}}\n"
		"spec:\n  terminationGracePeriodSeconds: 7\n  containers:\n"
		"  - name: a\n    image: busybox\n    command: [sh, -c, 'echo $(GREETING) $(MY_POD)']\n"
		"    env:\n    - {name: GREETING, value: hi}\n"
		"    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
		"    ports: [{containerPort: 80, hostPort: 8080}]\n"
		"    resources: {limits: {cpu: 500m, memory: 64Mi}}\n"
		"    lifecycle: {preStop: {exec: {command: [sh, -c, 'echo bye']}}}\n");
	struct kubelet_config cfg;
	kubelet_config_init(&cfg);
	struct kl_runtime_opts o = {.cfg = &cfg, .pod_logs_dir = "/var/log/pods",
				    .root_dir = "/tmp/nodelet-unit", .memory_capacity = 1LL << 33};
	ndl_error_t err = NDL_ERROR_INIT;
	cleanup_json json_t *sb = kl_sandbox_config(&o, p, 2, &err);
	assert_non_null(sb);
	json_t *md = json_object_get(sb, "metadata");
	/* Static pods are named <name>-<node>. */
	assert_string_equal(json_string_value(json_object_get(md, "name")), "web-node1");
	assert_string_equal(json_string_value(json_object_get(md, "namespace")), "ns1");
	assert_int_equal(json_integer_value(json_object_get(md, "attempt")), 2);
	char want[256];
	snprintf(want, sizeof(want), "/var/log/pods/ns1_web-node1_%s", p->uid);
	assert_string_equal(json_string_value(json_object_get(sb, "log_directory")), want);
	json_t *labels = json_object_get(sb, "labels");
	assert_string_equal(json_string_value(json_object_get(labels, "app")), "w");
	assert_string_equal(json_string_value(json_object_get(labels, "io.kubernetes.pod.uid")),
			    p->uid);
	json_t *pm = json_array_get(json_object_get(sb, "port_mappings"), 0);
	assert_int_equal(json_integer_value(json_object_get(pm, "host_port")), 8080);
	/* Guaranteed (limits only -> requests defaulted): kubepods/pod<uid>. */
	snprintf(want, sizeof(want), "/kubepods/pod%s", p->uid);
	assert_string_equal(json_string_value(json_object_get(json_object_get(sb, "linux"),
							      "cgroup_parent")),
			    want);

	cleanup_json json_t *cc = kl_container_config(&o, p, &p->containers[0], 3, "10.0.0.9", &err);
	assert_non_null(cc);
	assert_string_equal(json_string_value(json_object_get(cc, "log_path")), "a/3.log");
	json_t *cmd = json_object_get(cc, "command");
	assert_string_equal(json_string_value(json_array_get(cmd, 2)), "echo hi web-node1");
	json_t *ann = json_object_get(cc, "annotations");
	assert_string_equal(json_string_value(json_object_get(ann, KL_ANN_RESTART_COUNT)), "3");
	assert_string_equal(json_string_value(json_object_get(ann, KL_ANN_POD_GRACE)), "7");
	assert_string_equal(json_string_value(json_object_get(ann, KL_ANN_TERM_MSG_POLICY)), "File");
	char hb[16];
	snprintf(hb, sizeof(hb), "%x", p->containers[0].hash);
	assert_string_equal(json_string_value(json_object_get(ann, KL_ANN_CONTAINER_HASH)), hb);
	assert_string_equal(json_string_value(json_object_get(ann, KL_ANN_PRESTOP)),
			    "{\"exec\":{\"command\":[\"sh\",\"-c\",\"echo bye\"]}}");
	json_t *res = json_object_get(json_object_get(cc, "linux"), "resources");
	assert_int_equal(json_integer_value(json_object_get(res, "cpu_quota")), 50000);
	assert_int_equal(json_integer_value(json_object_get(res, "memory_limit_in_bytes")),
			 64 << 20);
	assert_int_equal(json_integer_value(json_object_get(res, "oom_score_adj")), -997);
	ndl_rm_rf("/tmp/nodelet-unit", &err);
	kubelet_config_free(&cfg);
}

static void test_host_path_types(void **st)
{
	(void)st;
	char dir[] = "/tmp/kl-hp-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n"
		 "  - {name: a, image: x}\n  volumes:\n"
		 "  - {name: d, hostPath: {path: %s/new/dir, type: DirectoryOrCreate}}\n"
		 "  - {name: f, hostPath: {path: %s/new/file, type: FileOrCreate}}\n"
		 "  - {name: dd, hostPath: {path: %s/new/dir, type: Directory}}\n"
		 "  - {name: ff, hostPath: {path: %s/new/file, type: File}}\n",
		 dir, dir, dir, dir);
	cleanup_pod struct pod *ok = mkpod(buf);
	struct kubelet_config cfg;
	kubelet_config_init(&cfg);
	char root[300];
	snprintf(root, sizeof(root), "%s/root", dir);
	struct kl_runtime_opts o = {.cfg = &cfg, .pod_logs_dir = "/var/log/pods", .root_dir = root};
	ndl_error_t err = NDL_ERROR_INIT;
	/* FileOrCreate's parent must exist: DirectoryOrCreate comes first. */
	assert_int_equal(kl_volumes_setup(&o, ok, &err), 0);
	struct stat sb;
	snprintf(buf, sizeof(buf), "%s/new/file", dir);
	assert_int_equal(stat(buf, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));

	const char *bad[][2] = {
		{"Directory", "/new/file"}, {"File", "/new/dir"},  {"Socket", "/new/file"},
		{"CharDevice", "/new/file"}, {"BlockDevice", "/new/dir"}, {"Directory", "/missing"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf),
			 "apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n"
			 "  - {name: a, image: x}\n  volumes:\n"
			 "  - {name: x, hostPath: {path: %s%s, type: %s}}\n",
			 dir, bad[i][1], bad[i][0]);
		cleanup_pod struct pod *p = mkpod(buf);
		assert_true(kl_volumes_setup(&o, p, &err) < 0);
		assert_non_null(strstr(ndl_error_msg(&err), "hostPath type check failed"));
		assert_non_null(strstr(ndl_error_msg(&err), "volume x"));
		ndl_error_clear(&err);
	}
	/* A socket passes Socket; /dev/null passes CharDevice. */
	snprintf(buf, sizeof(buf), "%s/sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(buf) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, buf, strlen(buf) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(buf, sizeof(buf),
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n"
		 "  - {name: a, image: x}\n  volumes:\n"
		 "  - {name: s, hostPath: {path: %s/sock, type: Socket}}\n"
		 "  - {name: c, hostPath: {path: /dev/null, type: CharDevice}}\n"
		 "  - {name: e, emptyDir: {}}\n",
		 dir);
	cleanup_pod struct pod *p2 = mkpod(buf);
	assert_int_equal(kl_volumes_setup(&o, p2, &err), 0);
	cleanup_free char *ed = kl_volume_host_path(&o, p2, "e");
	assert_non_null(strstr(ed, "/volumes/kubernetes.io~empty-dir/e"));
	assert_true(ndl_path_exists(ed));
	kl_volumes_teardown(root, p2->uid);
	assert_false(ndl_path_exists(ed));
	close(fd);
	/* configMap: a clear error in standalone mode. */
	cleanup_pod struct pod *cm = mkpod("apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n"
					   "  containers:\n  - {name: a, image: x}\n  volumes:\n"
					   "  - {name: cfg, configMap: {name: c}}\n");
	assert_true(kl_volumes_setup(&o, cm, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "volume cfg: configMap volumes need the API server"));
	ndl_error_clear(&err);
	ndl_rm_rf(dir, &err);
	kubelet_config_free(&cfg);
}

static void test_probe_thresholds(void **st)
{
	(void)st;
	struct kl_prober pb = {0};
	struct kl_probe_state *s = kl_prober_get(&pb, "c1", true);
	/* Initial: live, not ready, not started. */
	assert_int_equal(s->result[KL_PROBE_LIVENESS], 1);
	assert_int_equal(s->result[KL_PROBE_READINESS], 0);
	struct pod_probe pr = {.present = true, .success_threshold = 2, .failure_threshold = 3};
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 1));
	assert_true(kl_probe_update(s, KL_PROBE_READINESS, &pr, 1)); /* 2 successes */
	assert_int_equal(s->result[KL_PROBE_READINESS], 1);
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 0));
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 0));
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 1)); /* resets failures */
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 0));
	assert_false(kl_probe_update(s, KL_PROBE_READINESS, &pr, 0));
	assert_true(kl_probe_update(s, KL_PROBE_READINESS, &pr, 0)); /* 3 in a row */
	assert_int_equal(s->result[KL_PROBE_READINESS], 0);
	struct kl_observed live[] = {ctr("c2", "a", "s", 1, 0, 0, 0)};
	kl_prober_prune(&pb, live, 1);
	assert_null(kl_prober_get(&pb, "c1", false));
	kl_prober_free(&pb);
}

static void test_probe_tcp_and_http(void **st)
{
	(void)st;
	/* A listening socket: tcpSocket succeeds; a closed port fails. */
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	assert_int_equal(listen(ls, 8), 0);
	int port = ntohs(sa.sin_port);
	struct pod_container c = {.name = "a"};
	struct pod_port named = {.name = "web", .container_port = port};
	c.ports = &named;
	c.n_ports = 1;
	struct pod_probe pr = {.present = true, .timeout_seconds = 1,
			       .handler = {.type = POD_HANDLER_TCP_SOCKET, .port = {.name = "web"}}};
	char msg[512];
	assert_int_equal(kl_probe_once(NULL, &c, &pr, "x", "127.0.0.1", msg, sizeof(msg)), 1);
	close(ls);
	assert_int_equal(kl_probe_once(NULL, &c, &pr, "x", "127.0.0.1", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "connect"));
	/* httpGet against nothing listening: failure naming the URL. */
	pr.handler.type = POD_HANDLER_HTTP_GET;
	pr.handler.path = "/healthz";
	assert_int_equal(kl_probe_once(NULL, &c, &pr, "x", "127.0.0.1", msg, sizeof(msg)), 0);
	char want[64];
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/healthz", port);
	assert_non_null(strstr(msg, want));
	/* grpc against nothing listening: the kubelet's blocking dial runs
	 * into the timeout, with its message. */
	struct pod_probe gp = {.present = true, .timeout_seconds = 1,
			       .handler = {.type = POD_HANDLER_GRPC, .grpc_port = port}};
	assert_int_equal(kl_probe_once(NULL, &c, &gp, "x", "127.0.0.1", msg, sizeof(msg)), 0);
	snprintf(want, sizeof(want), "timeout: failed to connect service \"127.0.0.1:%d\" within 1s",
		 port);
	assert_string_equal(msg, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_pod_creates_sandbox),
		cmocka_unit_test(test_actions_sized_by_pod),
		cmocka_unit_test(test_sandbox_not_ready_recreated),
		cmocka_unit_test(test_sandbox_netns_changed),
		cmocka_unit_test(test_sandbox_ready_count_and_newest),
		cmocka_unit_test(test_running_unchanged_no_action),
		cmocka_unit_test(test_unknown_container_killed),
		cmocka_unit_test(test_init_containers_in_order),
		cmocka_unit_test(test_sidecar_init_containers),
		cmocka_unit_test(test_backoff_crashloop),
		cmocka_unit_test(test_restart_policies),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_go_duration),
		cmocka_unit_test(test_backoff_messages_and_key),
		cmocka_unit_test(test_backoff_forget_from_finished_at),
		cmocka_unit_test(test_status_transition_time),
		cmocka_unit_test(test_status_init_containers),
		cmocka_unit_test(test_status_terminal_reasons),
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_host_path_types),
		cmocka_unit_test(test_probe_thresholds),
		cmocka_unit_test(test_probe_tcp_and_http),
		cmocka_unit_test(test_sandbox_lacks_ip),
		cmocka_unit_test(test_runtime_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
