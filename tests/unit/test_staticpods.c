/* static-pods: manifest -> static pod (kubelet file-source defaults, UID),
 * and the directory source's ADD/UPDATE/REMOVE/ERROR events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "static-pods/staticpods.h"

static const char *web = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
			 "  - name: c\n    image: busybox\n";

static struct pod *manifest_ok(const char *s, const char *path, const char *node)
{
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (sp_pod_from_manifest(s, strlen(s), path, node, 1764158400123456789LL, &p, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	return p;
}

static void manifest_fail(const char *s, const char *want)
{
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (sp_pod_from_manifest(s, strlen(s), "/m/x.yaml", "n", 0, &p, &err) == 0) {
		pod_unref(p);
		fail_msg("accepted, want %s", want);
	}
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" does not contain \"%s\"", ndl_error_msg(&err), want);
	ndl_error_clear(&err);
}

static void test_file_source_defaults(void **state)
{
	cleanup_pod struct pod *p = manifest_ok(web, "/etc/kubernetes/manifests/web.yaml", "node1");
	assert_string_equal(p->name, "web-node1");
	assert_string_equal(p->namespace, "default");
	assert_string_equal(p->full_name, "web-node1_default");
	assert_int_equal(strlen(p->uid), 32);
	assert_string_equal(pod_annotation(p, "kubernetes.io/config.hash"), p->uid);
	assert_string_equal(pod_annotation(p, "kubernetes.io/config.source"), "file");
	assert_string_equal(pod_annotation(p, "kubernetes.io/config.seen"),
			    "2025-11-26T12:00:00.123456789Z");
	assert_string_equal(p->node_name, "node1");
	json_t *tol = json_object_get(json_object_get(p->json, "spec"), "tolerations");
	assert_int_equal(json_array_size(tol), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tol, 0), "operator")),
			    "Exists");
	assert_string_equal(json_string_value(json_object_get(json_array_get(tol, 0), "effect")),
			    "NoExecute");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p->json, "status"), "phase")),
	    "Pending");
	assert_false(p->has_priority);
	/* API defaults applied too */
	assert_string_equal(p->restart_policy, "Always");
	assert_string_equal(p->containers[0].image_pull_policy, "Always");

	/* explicit namespace and uid kept; existing toleration not duplicated;
	 * system-node-critical gets its priority */
	cleanup_pod struct pod *q = manifest_ok(
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: etcd, namespace: kube-system, uid: "
	    "my-uid}\n"
	    "spec:\n  priorityClassName: system-node-critical\n"
	    "  tolerations: [{operator: Exists, effect: NoExecute}, {key: a, operator: Exists}]\n"
	    "  containers: [{name: etcd, image: etcd:3.5}]\n",
	    "/m/etcd.yaml", "node1");
	assert_string_equal(q->namespace, "kube-system");
	assert_string_equal(q->uid, "my-uid");
	assert_string_equal(pod_annotation(q, "kubernetes.io/config.hash"), "my-uid");
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(q->json, "spec"), "tolerations")), 2);
	assert_true(q->has_priority);
	assert_int_equal(q->priority, 2000001000);
	cleanup_pod struct pod *r =
	    manifest_ok("apiVersion: v1\nkind: Pod\nmetadata: {name: dns}\nspec:\n  "
			"priorityClassName: system-cluster-critical\n"
			"  containers: [{name: c, image: i}]\n",
			"/m/dns.yaml", "n");
	assert_int_equal(r->priority, 2000000000);
}

static void test_uid(void **state)
{
	cleanup_pod struct pod *a = manifest_ok(web, "/m/web.yaml", "node1");
	cleanup_pod struct pod *b = manifest_ok(web, "/m/web.yaml", "node1");
	cleanup_pod struct pod *c = manifest_ok(web, "/m/other.yaml", "node1");
	cleanup_pod struct pod *d = manifest_ok(web, "/m/web.yaml", "node2");
	/* same object, different layout / format */
	cleanup_pod struct pod *e =
	    manifest_ok("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"spec\":{\"containers\":[{"
			"\"image\":\"busybox\",\"name\":\"c\"}]},"
			"\"metadata\":{\"name\":\"web\"}}",
			"/m/web.yaml", "node1");
	/* explicit defaults hash like implicit ones (hash after defaulting) */
	cleanup_pod struct pod *f = manifest_ok(
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  restartPolicy: Always\n"
	    "  containers: [{name: c, image: busybox, imagePullPolicy: Always}]\n",
	    "/m/web.yaml", "node1");
	cleanup_pod struct pod *g =
	    manifest_ok("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: "
			"[{name: c, image: busybox:1}]\n",
			"/m/web.yaml", "node1");
	assert_string_equal(a->uid, b->uid);
	assert_string_not_equal(a->uid, c->uid);
	assert_string_not_equal(a->uid, d->uid);
	assert_string_equal(a->uid, e->uid);
	assert_string_equal(a->uid, f->uid);
	assert_string_not_equal(a->uid, g->uid);
	/* the algorithm: md5(canonical defaulted pod JSON + "host:<node>" + "file:<path>") */
	char hex[33];
	json_t *j = json_pack("{s:s}", "k", "v");
	sp_static_pod_uid(j, "n", "/p", hex);
	json_decref(j);
	/* md5('{"k":"v"}host:nfile:/p') */
	assert_string_equal(hex, "78da7a0fbb953c0a609c88bd43259fae");
}

static void test_manifest_errors(void **state)
{
	manifest_fail("", "expected a Pod object, got an empty document");
	manifest_fail("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n",
		      "kind: Invalid value: \"Deployment\"");
	manifest_fail("apiVersion: v1\nkind: PodList\nitems: []\n",
		      "kind: Invalid value: \"PodList\"");
	manifest_fail("apiVersion: v1\nmetadata: {name: a}\n", "Object 'Kind' is missing");
	manifest_fail("- a\n- b\n", "expected a Pod object, got array");
	manifest_fail(
	    "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c, image: i}]}\n",
	    "metadata.name: Required value");
	manifest_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: "
		      "[{name: c, image: i\n",
		      "line");
	manifest_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - "
		      "name: c\n    image: i\n"
		      "    ports: [{containerPort: 0}]\n",
		      "spec.containers[0].ports[0].containerPort: Invalid value: 0");
	manifest_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: Bad}\nspec: "
		      "{containers: [{name: c, image: i}]}\n",
		      "metadata.namespace: Invalid value: \"Bad\"");
	/* Only the first YAML document counts (the kubelet's yaml.ToJSON). */
	cleanup_pod struct pod *p =
	    manifest_ok("apiVersion: v1\nkind: Pod\nmetadata: {name: first}\n"
			"spec: {containers: [{name: c, image: i}]}\n---\n"
			"apiVersion: v1\nkind: Pod\nmetadata: {name: second}\n",
			"/m/multi.yaml", "n");
	assert_string_equal(p->name, "first-n");
}

/* --- the directory source --- */

static char dir[64];

static void put(const char *name, const char *content)
{
	char tmp[128], path[128];
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(tmp, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0); /* IN_MOVED_TO, the common path */
}

static void put_inplace(const char *name, const char *content)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f); /* IN_CLOSE_WRITE */
}

static char *pod_yaml(const char *name, const char *image)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec: {containers: [{name: c, "
		 "image: %s}]}\n",
		 name, image);
	return buf;
}

static bool same_uid_updates;

/* Wait up to ms for events; returns them as "TYPE:name" joined by ' '. */
static char *events(struct sp_source *s, int ms)
{
	static char out[4096];
	out[0] = 0;
	for (int waited = 0; waited <= ms; waited += 10) {
		struct pollfd pfd = {.fd = sp_source_fd(s), .events = POLLIN};
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		struct sp_event *ev = NULL;
		size_t n = 0;
		ndl_error_t err = NDL_ERROR_INIT;
		assert_int_equal(sp_source_process(s, &ev, &n, &err), 0);
		for (size_t i = 0; i < n; i++) {
			char one[256];
			snprintf(one, sizeof(one), "%s%s:%s", out[0] ? " " : "",
				 sp_event_type_name(ev[i].type),
				 ev[i].pod ? ev[i].pod->name : strrchr(ev[i].file, '/') + 1);
			strncat(out, one, sizeof(out) - strlen(out) - 1);
			if (ev[i].type == SP_EVENT_UPDATE && !same_uid_updates)
				assert_string_not_equal(ev[i].old->uid, ev[i].pod->uid);
			if (ev[i].type == SP_EVENT_UPDATE && same_uid_updates) {
				assert_string_equal(ev[i].old->uid, ev[i].pod->uid);
				/* checkAndUpdatePod keeps the local annotations */
				assert_string_equal(
				    pod_annotation(ev[i].old, "kubernetes.io/config.seen"),
				    pod_annotation(ev[i].pod, "kubernetes.io/config.seen"));
			}
		}
		sp_events_free(ev, n);
		if (n)
			ms = waited + 50; /* settle: collect what follows at once */
	}
	return out;
}

static void test_source_events(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_staticpods.%d", getpid());
	ndl_error_t err = NDL_ERROR_INIT;
	ndl_rm_rf(dir, &err);
	assert_int_equal(ndl_mkdir_p(dir, 0755, &err), 0);
	put("a.yaml", pod_yaml("a", "busybox"));
	put("ignored.txt", pod_yaml("txt", "busybox"));
	put(".hidden.yaml", pod_yaml("hidden", "busybox"));
	struct sp_source *s = NULL;
	struct sp_options o = {
	    .path = dir, .node_name = "n1", .check_period_ns = 3600LL * 1000000000LL};
	assert_int_equal(sp_source_new(&o, &s, &err), 0);
	assert_string_equal(events(s, 200), "ADD:a-n1");

	put("b.json", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"},"
		      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
	assert_string_equal(events(s, 500), "ADD:b-n1");
	put("a.yaml", pod_yaml("a", "busybox:2"));
	assert_string_equal(events(s, 500), "UPDATE:a-n1");
	put_inplace("a.yaml", pod_yaml("a", "busybox:2")); /* same content: nothing */
	assert_string_equal(events(s, 150), "");
	put_inplace("c.yml", pod_yaml("c", "busybox"));
	assert_string_equal(events(s, 500), "ADD:c-n1");

	/* a bad manifest: error, the pod of that file goes, others stay */
	put("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: "
		      "c, image: i, ports: [{containerPort: 0}]}]}\n");
	assert_string_equal(events(s, 500), "ERROR:a.yaml REMOVE:a-n1");
	put("a.yaml", pod_yaml("a", "busybox:3"));
	assert_string_equal(events(s, 500), "ADD:a-n1");

	/* duplicate pod name in another file: rejected until the first goes */
	put("z.yaml", pod_yaml("a", "other"));
	assert_string_equal(events(s, 500), "ERROR:z.yaml");
	char path[128];
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	unlink(path);
	assert_string_equal(events(s, 500), "REMOVE:a-n1 ADD:a-n1");

	/* renaming a file out of the directory removes its pod */
	char out[128];
	snprintf(path, sizeof(path), "%s/b.json", dir);
	snprintf(out, sizeof(out), "%s.away", dir);
	assert_int_equal(rename(path, out), 0);
	assert_string_equal(events(s, 500), "REMOVE:b-n1");
	unlink(out);

	struct pod **pods = NULL;
	size_t n = sp_source_pods(s, &pods);
	assert_int_equal(n, 2); /* c.yml, z.yaml */
	assert_string_equal(pods[0]->name, "c-n1");
	assert_string_equal(pods[1]->name, "a-n1");
	for (size_t i = 0; i < n; i++)
		pod_unref(pods[i]);
	free(pods);

	/* a full resync after removing everything behind inotify's back */
	sp_source_free(s);
	s = NULL;
	ndl_rm_rf(dir, &err);
	assert_int_equal(sp_source_new(&o, &s, &err), 0); /* missing dir is fine */
	assert_string_equal(events(s, 150), "");
	assert_int_equal(ndl_mkdir_p(dir, 0755, &err), 0);
	put("late.yaml", pod_yaml("late", "i"));
	struct sp_event *ev = NULL;
	assert_int_equal(sp_source_resync(s, &ev, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SP_EVENT_ADD);
	sp_events_free(ev, n);
	/* after the resync the directory is watched */
	put("late2.yaml", pod_yaml("late2", "i"));
	assert_string_equal(events(s, 500), "ADD:late2-n1");
	/* the directory itself disappears: everything is removed */
	ndl_rm_rf(dir, &err);
	assert_string_equal(events(s, 500), "REMOVE:late-n1 REMOVE:late2-n1");
	sp_source_free(s);
}

/* A manifest with an explicit metadata.uid: edits keep the UID and give an
 * UPDATE exactly when the kubelet's podsDifferSemantically says so. */
static void test_source_explicit_uid_updates(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_staticpods_uid.%d", getpid());
	ndl_error_t err = NDL_ERROR_INIT;
	ndl_rm_rf(dir, &err);
	assert_int_equal(ndl_mkdir_p(dir, 0755, &err), 0);
	const char *fmt = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: u\n  uid: 1234-abcd\n"
			  "%s%s"
			  "spec:\n  containers:\n  - {name: c, image: %s}\n";
	char buf[1024];
	snprintf(buf, sizeof(buf), fmt, "", "", "busybox");
	put("u.yaml", buf);
	struct sp_source *s = NULL;
	struct sp_options o = {
	    .path = dir, .node_name = "n1", .check_period_ns = 3600LL * 1000000000LL};
	assert_int_equal(sp_source_new(&o, &s, &err), 0);
	same_uid_updates = true;
	assert_string_equal(events(s, 200), "ADD:u-n1");
	usleep(20000); /* a later config.seen would show if it were not kept */
	snprintf(buf, sizeof(buf), fmt, "", "", "busybox:2"); /* spec */
	put("u.yaml", buf);
	assert_string_equal(events(s, 500), "UPDATE:u-n1");
	snprintf(buf, sizeof(buf), fmt, "  labels: {app: x}\n", "", "busybox:2"); /* labels */
	put("u.yaml", buf);
	assert_string_equal(events(s, 500), "UPDATE:u-n1");
	snprintf(buf, sizeof(buf), fmt, "  labels: {app: x}\n", "  annotations: {a: b}\n",
		 "busybox:2");
	put("u.yaml", buf);
	assert_string_equal(events(s, 500), "UPDATE:u-n1");
	/* Layout only (flow vs block style): nothing. */
	put("u.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: u, uid: 1234-abcd, labels: "
		      "{app: x}, annotations: {a: b}}\nspec: {containers: [{name: c, image: "
		      "'busybox:2'}]}\n");
	assert_string_equal(events(s, 150), "");
	/* An explicit config.source (a local annotation) makes no difference. */
	put("u.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: u, uid: 1234-abcd, labels: "
		      "{app: x}, annotations: {a: b, kubernetes.io/config.source: file}}\nspec: "
		      "{containers: [{name: c, image: 'busybox:2'}]}\n");
	assert_string_equal(events(s, 150), "");
	same_uid_updates = false;
	struct pod **pods = NULL;
	size_t n = sp_source_pods(s, &pods);
	assert_int_equal(n, 1);
	assert_string_equal(pods[0]->uid, "1234-abcd");
	assert_string_equal(pods[0]->containers[0].image, "busybox:2");
	pod_unref(pods[0]);
	free(pods);
	sp_source_free(s);
	ndl_rm_rf(dir, &err);
}

/* podsDifferSemantically itself: the local annotations do not count,
 * config.hash, labels and the spec do. */
static void test_pods_differ_semantically(void **state)
{
	(void)state;
	const char *y = "apiVersion: v1\nkind: Pod\nmetadata: {name: d, uid: u1}\n"
			"spec: {containers: [{name: c, image: i}]}\n";
	struct pod *a = NULL, *b = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(sp_pod_from_manifest(y, strlen(y), "/m/d.yaml", "n1", 1, &a, &err), 0);
	assert_int_equal(sp_pod_from_manifest(y, strlen(y), "/m/d.yaml", "n1", 2, &b, &err), 0);
	assert_false(sp_pods_differ_semantically(a, b)); /* only config.seen differs */
	json_object_set_new(json_object_get(json_object_get(b->json, "metadata"), "annotations"),
			    "kubernetes.io/config.hash", json_string("other"));
	assert_true(sp_pods_differ_semantically(a, b));
	pod_unref(b);
	assert_int_equal(sp_pod_from_manifest(y, strlen(y), "/m/d.yaml", "n1", 2, &b, &err), 0);
	json_object_set_new(json_object_get(b->json, "metadata"), "deletionGracePeriodSeconds",
			    json_integer(5));
	assert_true(sp_pods_differ_semantically(a, b));
	json_object_del(json_object_get(b->json, "metadata"), "deletionGracePeriodSeconds");
	json_object_set_new(json_object_get(b->json, "spec"), "hostNetwork", json_true());
	assert_true(sp_pods_differ_semantically(a, b));
	pod_unref(a);
	pod_unref(b);
}

static void test_source_single_file(void **state)
{
	ndl_error_t err = NDL_ERROR_INIT;
	snprintf(dir, sizeof(dir), "/tmp/test_staticpods1.%d", getpid());
	ndl_rm_rf(dir, &err);
	assert_int_equal(ndl_mkdir_p(dir, 0755, &err), 0);
	put("only.manifest", pod_yaml("only", "i")); /* any name when it is the path itself */
	put("other.yaml", pod_yaml("other", "i"));
	char path[128];
	snprintf(path, sizeof(path), "%s/only.manifest", dir);
	struct sp_source *s = NULL;
	struct sp_options o = {.path = path, .node_name = "n1", .check_period_ns = 0};
	assert_int_equal(sp_source_new(&o, &s, &err), 0);
	assert_string_equal(events(s, 200), "ADD:only-n1");
	put("other.yaml", pod_yaml("other", "j"));
	assert_string_equal(events(s, 150), "");
	put("only.manifest", pod_yaml("only", "j"));
	assert_string_equal(events(s, 500), "UPDATE:only-n1");
	sp_source_free(s);
	ndl_rm_rf(dir, &err);
}

/* The layout of a ConfigMap volume: manifests are symlinks through a
 * "..data" symlink that is swapped atomically. */
static void test_source_configmap_style_swap(void **state)
{
	ndl_error_t err = NDL_ERROR_INIT;
	snprintf(dir, sizeof(dir), "/tmp/test_staticpods2.%d", getpid());
	ndl_rm_rf(dir, &err);
	char p[256], q[256];
	snprintf(p, sizeof(p), "%s/..v1", dir);
	assert_int_equal(ndl_mkdir_p(p, 0755, &err), 0);
	put_inplace("..v1/web.yaml", pod_yaml("web", "one"));
	snprintf(p, sizeof(p), "%s/..data", dir);
	assert_int_equal(symlink("..v1", p), 0);
	snprintf(p, sizeof(p), "%s/web.yaml", dir);
	assert_int_equal(symlink("..data/web.yaml", p), 0);
	struct sp_source *s = NULL;
	struct sp_options o = {
	    .path = dir, .node_name = "n1", .check_period_ns = 3600LL * 1000000000LL};
	assert_int_equal(sp_source_new(&o, &s, &err), 0);
	assert_string_equal(events(s, 200), "ADD:web-n1");
	snprintf(p, sizeof(p), "%s/..v2", dir);
	assert_int_equal(ndl_mkdir_p(p, 0755, &err), 0);
	put_inplace("..v2/web.yaml", pod_yaml("web", "two"));
	snprintf(p, sizeof(p), "%s/..data_tmp", dir);
	assert_int_equal(symlink("..v2", p), 0);
	snprintf(q, sizeof(q), "%s/..data", dir);
	assert_int_equal(rename(p, q), 0);
	assert_string_equal(events(s, 500), "UPDATE:web-n1");
	sp_source_free(s);
	ndl_rm_rf(dir, &err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_source_defaults),
	    cmocka_unit_test(test_uid),
	    cmocka_unit_test(test_manifest_errors),
	    cmocka_unit_test(test_source_events),
	    cmocka_unit_test(test_source_explicit_uid_updates),
	    cmocka_unit_test(test_pods_differ_semantically),
	    cmocka_unit_test(test_source_single_file),
	    cmocka_unit_test(test_source_configmap_style_swap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
