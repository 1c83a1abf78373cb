/* kubelet/pod: parsing, API-server defaulting, validation errors with
 * field paths, container hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kubelet/pod.h"
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

static struct pod *parse_ok(const char *s)
{
	cleanup_json json_t *j = yaml(s);
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (pod_from_json_defaulted(j, &p, &err) < 0)
		fail_msg("pod: %s", ndl_error_msg(&err));
	return p;
}

static void parse_fail(const char *s, const char *want)
{
	cleanup_json json_t *j = yaml(s);
	struct pod *p = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (pod_from_json_defaulted(j, &p, &err) == 0) {
		pod_unref(p);
		fail_msg("accepted; want error \"%s\"", want);
	}
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" does not contain \"%s\"", ndl_error_msg(&err), want);
	ndl_error_clear(&err);
}

#define HDR "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n"

static const char *full_pod =
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: web\n"
    "  labels: {app: web, example.com/tier: front}\n"
    "  annotations: {note: hi}\n"
    "spec:\n"
    "  initContainers:\n"
    "  - name: init\n"
    "    image: busybox:1.36\n"
    "    command: [sh, -c, 'echo init']\n"
    "  containers:\n"
    "  - name: httpd\n"
    "    image: localhost/nodelet-demo:latest\n"
    "    command: [httpd, -f]\n"
    "    args: ['-p', '$(PORT)']\n"
    "    workingDir: /www\n"
    "    ports:\n"
    "    - {name: http, containerPort: 8080}\n"
    "    - {containerPort: 53, protocol: UDP}\n"
    "    env:\n"
    "    - {name: PORT, value: '8080'}\n"
    "    - name: POD_NAME\n"
    "      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n"
    "    - name: MEM\n"
    "      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}\n"
    "    - name: CM\n"
    "      valueFrom: {configMapKeyRef: {name: cfg, key: k, optional: true}}\n"
    "    - name: S\n"
    "      valueFrom: {secretKeyRef: {name: sec, key: k}}\n"
    "    envFrom:\n"
    "    - {prefix: CFG_, configMapRef: {name: cfg}}\n"
    "    resources:\n"
    "      requests: {cpu: 100m, memory: 32Mi}\n"
    "      limits: {cpu: '1', memory: 64Mi}\n"
    "    volumeMounts:\n"
    "    - {name: data, mountPath: /data}\n"
    "    - {name: host, mountPath: /host, readOnly: true}\n"
    "    readinessProbe:\n"
    "      httpGet: {port: http}\n"
    "      initialDelaySeconds: 1\n"
    "    livenessProbe:\n"
    "      tcpSocket: {port: 8080}\n"
    "    startupProbe:\n"
    "      exec: {command: ['true']}\n"
    "      failureThreshold: 30\n"
    "    lifecycle:\n"
    "      preStop: {sleep: {seconds: 5}}\n"
    "      postStart: {httpGet: {port: 8080, path: /started}}\n"
    "    securityContext:\n"
    "      runAsUser: 1000\n"
    "      readOnlyRootFilesystem: true\n"
    "      capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}\n"
    "      seccompProfile: {type: RuntimeDefault}\n"
    "    stdin: true\n"
    "    tty: true\n"
    "  - name: grpc\n"
    "    image: "
    "example.com/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "    readinessProbe: {grpc: {port: 9090}}\n"
    "  volumes:\n"
    "  - {name: data, emptyDir: {medium: Memory, sizeLimit: 64Mi}}\n"
    "  - {name: host, hostPath: {path: /var/log, type: Directory}}\n"
    "  - {name: cm, configMap: {name: cfg, items: [{key: a, path: a.txt}]}}\n"
    "  - {name: sec, secret: {secretName: sec}}\n"
    "  - name: dapi\n"
    "    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}\n"
    "  - name: proj\n"
    "    projected: {sources: [{configMap: {name: cfg}}]}\n"
    "  - name: nosource\n"
    "  restartPolicy: OnFailure\n"
    "  activeDeadlineSeconds: 600\n"
    "  dnsPolicy: None\n"
    "  dnsConfig: {nameservers: [10.0.0.10], searches: [svc.cluster.local], options: [{name: "
    "ndots, value: '2'}]}\n"
    "  hostname: web-0\n"
    "  subdomain: web\n"
    "  shareProcessNamespace: true\n"
    "  securityContext:\n"
    "    runAsUser: 1000\n"
    "    runAsGroup: 1000\n"
    "    fsGroup: 2000\n"
    "    supplementalGroups: [3000, 4000]\n"
    "    sysctls: [{name: net.ipv4.ip_local_port_range, value: '1024 65535'}]\n"
    "    seccompProfile: {type: Localhost, localhostProfile: profiles/a.json}\n"
    "  hostAliases: [{ip: 127.0.0.2, hostnames: [foo.local, bar]}]\n"
    "  priorityClassName: system-node-critical\n";

static void test_parse_full(void **state)
{
	cleanup_pod struct pod *p = parse_ok(full_pod);
	assert_string_equal(p->name, "web");
	assert_string_equal(p->full_name, "web_");
	assert_string_equal(json_string_value(json_object_get(p->labels, "app")), "web");
	assert_string_equal(pod_annotation(p, "note"), "hi");
	assert_int_equal(p->n_init_containers, 1);
	assert_int_equal(p->n_containers, 2);
	const struct pod_container *c = &p->containers[0];
	assert_string_equal(c->name, "httpd");
	assert_int_equal(c->command.n, 2);
	assert_string_equal(c->args.v[1], "$(PORT)");
	assert_string_equal(c->working_dir, "/www");
	assert_int_equal(c->n_ports, 2);
	assert_string_equal(c->ports[0].protocol, "TCP");
	assert_string_equal(c->ports[1].protocol, "UDP");
	assert_int_equal(c->n_env, 5);
	assert_int_equal(c->env[1].source, POD_ENV_FIELD_REF);
	assert_string_equal(c->env[1].api_version, "v1"); /* defaulted */
	assert_int_equal(c->env[2].source, POD_ENV_RESOURCE_FIELD_REF);
	assert_int_equal(c->env[2].divisor.value, 1048576);
	assert_int_equal(c->env[3].source, POD_ENV_CONFIGMAP_KEY_REF);
	assert_true(c->env[3].optional);
	assert_int_equal(c->env[4].source, POD_ENV_SECRET_KEY_REF);
	assert_int_equal(c->n_env_from, 1);
	assert_string_equal(c->env_from[0].prefix, "CFG_");
	assert_int_equal(pod_resource_get(&c->requests, "cpu")->q.milli, 100);
	assert_int_equal(pod_resource_get(&c->limits, "memory")->q.value, 64 << 20);
	assert_int_equal(c->n_mounts, 2);
	assert_true(c->mounts[1].read_only);
	assert_true(c->readiness.present);
	assert_int_equal(c->readiness.handler.type, POD_HANDLER_HTTP_GET);
	assert_string_equal(c->readiness.handler.port.name, "http");
	assert_string_equal(c->readiness.handler.path, "/");
	assert_string_equal(c->readiness.handler.scheme, "HTTP");
	assert_int_equal(c->readiness.timeout_seconds, 1);
	assert_int_equal(c->readiness.period_seconds, 10);
	assert_int_equal(c->readiness.success_threshold, 1);
	assert_int_equal(c->readiness.failure_threshold, 3);
	assert_int_equal(c->readiness.initial_delay_seconds, 1);
	assert_int_equal(c->liveness.handler.type, POD_HANDLER_TCP_SOCKET);
	assert_int_equal(c->liveness.handler.port.number, 8080);
	assert_int_equal(c->startup.handler.type, POD_HANDLER_EXEC);
	assert_int_equal(c->startup.failure_threshold, 30);
	assert_int_equal(c->pre_stop.type, POD_HANDLER_SLEEP);
	assert_int_equal(c->pre_stop.sleep_seconds, 5);
	assert_int_equal(c->post_start.type, POD_HANDLER_HTTP_GET);
	assert_string_equal(c->post_start.path, "/started");
	assert_true(c->has_security_context);
	assert_int_equal(c->sc.run_as_user, 1000);
	assert_int_equal(c->sc.read_only_root_filesystem, TRI_TRUE);
	assert_int_equal(c->sc.privileged, TRI_UNSET);
	assert_string_equal(c->sc.cap_drop.v[0], "ALL");
	assert_string_equal(c->sc.seccomp.type, "RuntimeDefault");
	assert_true(c->stdin && c->tty);
	assert_string_equal(c->image_pull_policy, "Always");
	assert_string_equal(c->termination_message_path, "/dev/termination-log");
	assert_string_equal(c->termination_message_policy, "File");
	assert_string_equal(p->containers[1].image_pull_policy, "IfNotPresent"); /* digest */
	assert_int_equal(p->containers[1].readiness.handler.type, POD_HANDLER_GRPC);
	assert_int_equal(p->containers[1].readiness.handler.grpc_port, 9090);
	assert_string_equal(p->init_containers[0].image_pull_policy, "IfNotPresent");
	assert_true(p->init_containers[0].is_init);
	assert_int_equal(p->n_volumes, 7);
	assert_int_equal(p->volumes[0].type, POD_VOL_EMPTY_DIR);
	assert_string_equal(p->volumes[0].medium, "Memory");
	assert_int_equal(p->volumes[0].size_limit.value, 64 << 20);
	assert_int_equal(p->volumes[1].type, POD_VOL_HOST_PATH);
	assert_string_equal(p->volumes[1].host_path_type, "Directory");
	assert_int_equal(p->volumes[2].type, POD_VOL_CONFIG_MAP);
	assert_int_equal(p->volumes[2].default_mode, 0644);
	assert_int_equal(p->volumes[3].type, POD_VOL_SECRET);
	assert_string_equal(p->volumes[3].source_name, "sec");
	assert_int_equal(p->volumes[4].type, POD_VOL_DOWNWARD_API);
	assert_int_equal(p->volumes[5].type, POD_VOL_PROJECTED);
	assert_int_equal(p->volumes[6].type, POD_VOL_EMPTY_DIR); /* no source -> emptyDir */
	assert_string_equal(p->restart_policy, "OnFailure");
	assert_int_equal(p->termination_grace_period_seconds, 30);
	assert_int_equal(p->active_deadline_seconds, 600);
	assert_string_equal(p->dns_policy, "None");
	assert_string_equal(p->dns_nameservers.v[0], "10.0.0.10");
	assert_string_equal(p->dns_searches.v[0], "svc.cluster.local");
	assert_string_equal(p->hostname, "web-0");
	assert_true(p->share_process_namespace);
	assert_int_equal(p->fs_group, 2000);
	assert_int_equal(p->n_supplemental_groups, 2);
	assert_int_equal(p->n_sysctls, 1);
	assert_string_equal(p->seccomp.localhost_profile, "profiles/a.json");
	assert_int_equal(p->n_host_aliases, 1);
	assert_string_equal(p->host_aliases[0].hostnames.v[1], "bar");
	assert_string_equal(p->priority_class_name, "system-node-critical");
	assert_ptr_equal(pod_find_container(p, "init"), &p->init_containers[0]);
	assert_null(pod_find_container(p, "nope"));
	/* The served JSON carries the defaults. */
	json_t *spec = json_object_get(p->json, "spec");
	assert_string_equal(json_string_value(json_object_get(spec, "schedulerName")),
			    "default-scheduler");
	assert_true(json_is_true(json_object_get(spec, "enableServiceLinks")));
	json_t *res = json_object_get(
	    json_object_get(json_array_get(json_object_get(spec, "containers"), 0), "resources"),
	    "requests");
	assert_string_equal(json_string_value(json_object_get(res, "cpu")), "100m");
}

static void test_defaults(void **state)
{
	cleanup_pod struct pod *p = parse_ok(
	    HDR "spec:\n  containers:\n"
		"  - name: a\n    image: busybox\n"
		"  - name: b\n    image: registry:5000/busybox:1.0\n"
		"  - name: c\n    image: registry:5000/busybox\n"
		"  - name: d\n    image: busybox:latest\n"
		"    resources: {limits: {cpu: 250m, memory: 1Gi}, requests: {memory: 512Mi}}\n");
	assert_string_equal(p->restart_policy, "Always");
	assert_string_equal(p->dns_policy, "ClusterFirst");
	assert_int_equal(p->termination_grace_period_seconds, 30);
	assert_int_equal(p->active_deadline_seconds, -1);
	assert_string_equal(p->containers[0].image_pull_policy, "Always");
	assert_string_equal(p->containers[1].image_pull_policy, "IfNotPresent");
	assert_string_equal(p->containers[2].image_pull_policy, "Always");
	assert_string_equal(p->containers[3].image_pull_policy, "Always");
	/* Requests default to limits per resource; explicit ones are kept. */
	assert_int_equal(pod_resource_get(&p->containers[3].requests, "cpu")->q.milli, 250);
	assert_int_equal(pod_resource_get(&p->containers[3].requests, "memory")->q.value,
			 512 << 20);

	/* hostNetwork: hostPort defaults to containerPort. */
	cleanup_pod struct pod *h =
	    parse_ok(HDR "spec:\n  hostNetwork: true\n  containers:\n"
			 "  - name: a\n    image: busybox\n    ports: [{containerPort: 80}]\n");
	assert_int_equal(h->containers[0].ports[0].host_port, 80);
	/* Explicit values win over defaults. */
	cleanup_pod struct pod *e = parse_ok(
	    HDR
	    "spec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 0\n"
	    "  containers:\n  - name: a\n    image: busybox\n    imagePullPolicy: Never\n"
	    "    readinessProbe: {exec: {command: [x]}, timeoutSeconds: 5, periodSeconds: 2}\n");
	assert_string_equal(e->restart_policy, "Never");
	assert_int_equal(e->termination_grace_period_seconds, 0);
	assert_string_equal(e->containers[0].image_pull_policy, "Never");
	assert_int_equal(e->containers[0].readiness.timeout_seconds, 5);
	assert_int_equal(e->containers[0].readiness.period_seconds, 2);
	assert_int_equal(e->containers[0].readiness.failure_threshold, 3);
}

static void test_validation_errors(void **state)
{
	parse_fail("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n",
		   "kind: Invalid value: \"Service\"");
	parse_fail("apiVersion: v2\nkind: Pod\nmetadata: {name: a}\nspec: {}\n",
		   "apiVersion: Invalid value: \"v2\"");
	parse_fail("kind: Pod\napiVersion: v1\nspec: {}\n", "field \"metadata\": required");
	parse_fail(HDR "spec: {}\n", "spec.containers: Required value");
	parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: "
		   "[{name: c, image: i}]}\n",
		   "metadata.name: Invalid value: \"Bad_Name\"");
	parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {'a b': x}}\nspec: "
		   "{containers: [{name: c, image: i}]}\n",
		   "metadata.labels: Invalid value: \"a b\"");
	parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {a: 5}}\nspec: "
		   "{containers: [{name: c, image: i}]}\n",
		   "field \"metadata.labels.a\": expected string, got integer");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    ports: "
		       "[{containerPort: 80}, {containerPort: 70000}]\n",
		   "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be "
		   "between 1 and 65535, inclusive");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    ports: "
		       "[{containerPort: 80, protocol: ICMP}]\n",
		   "spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    ports: "
		       "[{containerPort: 80, name: HTTP}]\n",
		   "spec.containers[0].ports[0].name: Invalid value: \"HTTP\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    ports: "
		       "[{containerPort: 80, name: web}, {containerPort: 81, name: web}]\n",
		   "spec.containers[0].ports[1].name: Duplicate value: \"web\"");
	parse_fail(
	    HDR
	    "spec:\n  containers:\n  - name: c\n    image: i\n    ports: [{containerPort: '80'}]\n",
	    "field \"spec.containers[0].ports[0].containerPort\": expected integer, got string");
	parse_fail(HDR "spec:\n  containers:\n  - {name: c, image: i}\n  - {name: c, image: i}\n",
		   "spec.containers[1].name: Duplicate value: \"c\"");
	parse_fail(
	    HDR
	    "spec:\n  initContainers: [{name: c, image: i}]\n  containers: [{name: c, image: i}]\n",
	    "spec.containers[0].name: Duplicate value: \"c\"");
	parse_fail(HDR "spec:\n  containers:\n  - {name: C1, image: i}\n",
		   "spec.containers[0].name: Invalid value: \"C1\"");
	parse_fail(HDR "spec:\n  containers:\n  - {name: c}\n",
		   "spec.containers[0].image: Required value");
	parse_fail(HDR "spec:\n  containers:\n  - {image: i}\n",
		   "field \"spec.containers[0].name\": required");
	parse_fail(HDR "spec:\n  containers:\n  - {name: c, image: i, volumeMounts: [{name: v, "
		       "mountPath: /v}]}\n",
		   "spec.containers[0].volumeMounts[0].name: Not found: \"v\"");
	parse_fail(HDR "spec:\n  volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]\n  "
		       "containers: [{name: c, image: i}]\n",
		   "spec.volumes[1].name: Duplicate value: \"v\"");
	parse_fail(HDR "spec:\n  volumes: [{name: v, emptyDir: {}, hostPath: {path: /x}}]\n  "
		       "containers: [{name: c, image: i}]\n",
		   "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type");
	parse_fail(HDR "spec:\n  volumes: [{name: v, hostPath: {path: /x, type: Weird}}]\n  "
		       "containers: [{name: c, image: i}]\n",
		   "spec.volumes[0].hostPath.type: Unsupported value: \"Weird\"");
	parse_fail(HDR "spec:\n  volumes: [{name: v, emptyDir: {sizeLimit: lots}}]\n  containers: "
		       "[{name: c, image: i}]\n",
		   "spec.volumes[0].emptyDir.sizeLimit: quantity \"lots\"");
	parse_fail(HDR "spec:\n  volumes: [{name: v, configMap: {name: c, items: [{key: k, path: "
		       "../x}]}}]\n  containers: [{name: c, image: i}]\n",
		   "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    livenessProbe: "
		       "{initialDelaySeconds: 1}\n",
		   "spec.containers[0].livenessProbe: Required value: must specify a handler type");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    livenessProbe: {exec: "
		       "{command: [a]}, tcpSocket: {port: 1}}\n",
		   "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more "
		   "than 1 handler type");
	parse_fail(
	    HDR "spec:\n  containers:\n  - name: c\n    image: i\n    livenessProbe: {exec: "
		"{command: [a]}, successThreshold: 2}\n",
	    "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    readinessProbe: "
		       "{exec: {command: [a]}, periodSeconds: -1}\n",
		   "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    readinessProbe: "
		       "{httpGet: {port: 0}}\n",
		   "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    readinessProbe: "
		       "{httpGet: {port: 80, scheme: FTP}}\n",
		   "spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: \"FTP\"");
	parse_fail(
	    HDR "spec:\n  containers:\n  - name: c\n    image: i\n    lifecycle: {preStop: {}}\n",
	    "spec.containers[0].lifecycle.preStop: Required value: must specify a handler type");
	parse_fail(HDR "spec:\n  initContainers:\n  - name: c\n    image: i\n    readinessProbe: "
		       "{exec: {command: [a]}}\n  containers: [{name: d, image: i}]\n",
		   "spec.initContainers[0].readinessProbe: Forbidden");
	parse_fail(HDR "spec:\n  containers: [{name: d, image: i, restartPolicy: Always}]\n",
		   "spec.containers[0].restartPolicy: Forbidden");
	parse_fail(HDR "spec:\n  restartPolicy: Sometimes\n  containers: [{name: c, image: i}]\n",
		   "spec.restartPolicy: Unsupported value: \"Sometimes\"");
	parse_fail(HDR "spec:\n  dnsPolicy: Google\n  containers: [{name: c, image: i}]\n",
		   "spec.dnsPolicy: Unsupported value: \"Google\"");
	parse_fail(HDR "spec:\n  dnsPolicy: None\n  containers: [{name: c, image: i}]\n",
		   "spec.dnsConfig: Required value");
	parse_fail(
	    HDR "spec:\n  dnsConfig: {nameservers: [1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4]}\n  "
		"containers: [{name: c, image: i}]\n",
	    "spec.dnsConfig.nameservers: Invalid value: must not have more than 3 nameservers");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    resources: {requests: "
		       "{cpu: '2'}, limits: {cpu: '1'}}\n",
		   "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than "
		   "or equal to cpu limit of 1");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    resources: {requests: "
		       "{memory: 1.5}}\n",
		   "spec.containers[0].resources.requests[memory]: Invalid value: \"1500m\": must "
		   "be an integer");
	parse_fail(
	    HDR
	    "spec:\n  containers:\n  - name: c\n    image: i\n    resources: {limits: {cpu: -1}}\n",
	    "spec.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be greater than "
	    "or equal to 0");
	parse_fail(
	    HDR
	    "spec:\n  containers:\n  - name: c\n    image: i\n    resources: {limits: {cpu: 1x}}\n",
	    "spec.containers[0].resources.limits.cpu: quantity \"1x\"");
	parse_fail(
	    HDR
	    "spec:\n  containers:\n  - name: c\n    image: i\n    resources: {limits: {gpu: 1}}\n",
	    "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: 'BAD=1', "
		       "value: x}]\n",
		   "spec.containers[0].env[0].name: Invalid value: \"BAD=1\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: A, "
		       "value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n",
		   "spec.containers[0].env[0].valueFrom: Invalid value: may not be specified when "
		   "`value` is not empty");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: A, "
		       "valueFrom: {fieldRef: {fieldPath: spec.bogus}}}]\n",
		   "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "
		   "\"spec.bogus\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: A, "
		       "valueFrom: {}}]\n",
		   "spec.containers[0].env[0].valueFrom: Invalid value: must have exactly one of");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    envFrom: "
		       "[{configMapRef: {name: a}, secretRef: {name: b}}]\n",
		   "spec.containers[0].envFrom[0]: Invalid value: must specify one of");
	parse_fail(
	    HDR "spec:\n  containers:\n  - name: c\n    image: i\n    imagePullPolicy: Sometimes\n",
	    "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    "
		       "terminationMessagePolicy: Always\n",
		   "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Always\"");
	parse_fail(HDR "spec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: i\n    "
		       "ports: [{containerPort: 80, hostPort: 8080}]\n",
		   "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match "
		   "`containerPort`");
	parse_fail(HDR "spec:\n  hostPID: true\n  shareProcessNamespace: true\n  containers: "
		       "[{name: c, image: i}]\n",
		   "ShareProcessNamespace and HostPID cannot both be enabled");
	parse_fail(
	    HDR "spec:\n  securityContext: {runAsUser: -1}\n  containers: [{name: c, image: i}]\n",
	    "spec.securityContext.runAsUser: Invalid value: -1");
	parse_fail(HDR "spec:\n  securityContext: {sysctls: [{name: 'Kernel.X', value: '1'}]}\n  "
		       "containers: [{name: c, image: i}]\n",
		   "spec.securityContext.sysctls[0].name: Invalid value: \"Kernel.X\"");
	parse_fail(HDR "spec:\n  securityContext: {seccompProfile: {type: Localhost}}\n  "
		       "containers: [{name: c, image: i}]\n",
		   "spec.securityContext.seccompProfile.localhostProfile: Required value");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    securityContext: "
		       "{privileged: true, allowPrivilegeEscalation: false}\n",
		   "spec.containers[0].securityContext: Invalid value: cannot set "
		   "`allowPrivilegeEscalation` to false and `privileged` to true");
	parse_fail(HDR "spec:\n  hostAliases: [{ip: not-an-ip, hostnames: [a]}]\n  containers: "
		       "[{name: c, image: i}]\n",
		   "spec.hostAliases[0].ip: Invalid value: \"not-an-ip\"");
	parse_fail(HDR "spec:\n  activeDeadlineSeconds: 0\n  containers: [{name: c, image: i}]\n",
		   "spec.activeDeadlineSeconds: Invalid value: 0");
	parse_fail(
	    HDR "spec:\n  terminationGracePeriodSeconds: -5\n  containers: [{name: c, image: i}]\n",
	    "spec.terminationGracePeriodSeconds: Invalid value: -5");
	parse_fail(
	    HDR "spec:\n  terminationGracePeriodSeconds: -1\n  containers: [{name: c, image: i}]\n",
	    "spec.terminationGracePeriodSeconds: Invalid value: -1");
	parse_fail(HDR "spec:\n  activeDeadlineSeconds: -1\n  containers: [{name: c, image: i}]\n",
		   "spec.activeDeadlineSeconds: Invalid value: -1");
	parse_fail(
	    HDR "spec:\n  activeDeadlineSeconds: 2147483648\n  containers: [{name: c, image: i}]\n",
	    "spec.activeDeadlineSeconds: Invalid value: 2147483648");
	parse_fail(HDR "spec:\n  hostname: Host_1\n  containers: [{name: c, image: i}]\n",
		   "spec.hostname: Invalid value: \"Host_1\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    volumeMounts: [{name: "
		       "v, mountPath: /a, subPath: ../../etc}]\n  volumes: [{name: v}]\n",
		   "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"../../etc\"");
	parse_fail(HDR "spec:\n  containers:\n  - name: c\n    image: i\n    command: [a, 1]\n",
		   "field \"spec.containers[0].command[1]\": expected string, got integer");
	parse_fail(HDR "spec:\n  containers: {name: c}\n",
		   "field \"spec.containers\": expected array, got object");
}

static void test_host_port_conflicts(void **state)
{
	parse_fail(HDR "spec:\n  containers:\n  - {name: a, image: i, ports: [{containerPort: 80, "
		       "hostPort: 8080}]}\n"
		       "  - {name: b, image: i, ports: [{containerPort: 81, hostPort: 8080}]}\n",
		   "spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\"");
	/* other protocol or host IP: fine */
	cleanup_pod struct pod *p =
	    parse_ok(HDR "spec:\n  containers:\n  - {name: a, image: i, ports: [{containerPort: "
			 "80, hostPort: 8080}, "
			 "{containerPort: 80, hostPort: 8080, protocol: UDP}, {containerPort: 81, "
			 "hostPort: 8080, hostIP: 127.0.0.1}]}\n");
	assert_int_equal(p->containers[0].n_ports, 3);
}

static void test_image_whitespace(void **state)
{
	parse_fail(HDR "spec:\n  containers:\n  - {name: c, image: ' busybox'}\n",
		   "spec.containers[0].image: Invalid value: \" busybox\": must not have leading "
		   "or trailing whitespace");
	parse_fail(HDR "spec:\n  containers:\n  - {name: c, image: \"busybox\\t\"}\n",
		   "must not have leading or trailing whitespace");
	cleanup_pod struct pod *p =
	    parse_ok(HDR "spec:\n  containers:\n  - {name: c, image: 'odd name'}\n");
	assert_string_equal(p->containers[0].image, "odd name");
}

static void test_name_validators(void **state)
{
	assert_true(pod_is_dns1123_label("a-1"));
	assert_false(pod_is_dns1123_label("-a"));
	assert_false(pod_is_dns1123_label("a."));
	assert_false(pod_is_dns1123_label("A"));
	char l64[65];
	memset(l64, 'a', 64);
	l64[64] = 0;
	assert_false(pod_is_dns1123_label(l64));
	l64[63] = 0;
	assert_true(pod_is_dns1123_label(l64));
	assert_true(pod_is_dns1123_subdomain("kube-apiserver.example.com"));
	assert_false(pod_is_dns1123_subdomain("a..b"));
	assert_true(pod_is_qualified_name("example.com/My_Name.1"));
	assert_false(pod_is_qualified_name("a/b/c"));
	assert_false(pod_is_qualified_name("/a"));
	assert_true(pod_is_env_var_name("_A.b-c"));
	assert_false(pod_is_env_var_name("A=B"));
	assert_true(pod_is_env_var_name("1 starts with a digit!"));
	assert_false(pod_is_env_var_name(""));
	assert_false(pod_is_env_var_name("tab\there"));
	assert_false(pod_is_env_var_name("caf\xc3\xa9"));
	assert_true(pod_is_iana_svc_name("http-alt"));
	assert_false(pod_is_iana_svc_name("8080"));
	assert_false(pod_is_iana_svc_name("a--b"));
	assert_false(pod_is_iana_svc_name("abcdefghijklmnop"));
}

static void test_container_hash(void **state)
{
	cleanup_pod struct pod *a =
	    parse_ok(HDR "spec:\n  containers:\n  - {name: c, image: busybox, command: [a]}\n");
	cleanup_pod struct pod *b =
	    parse_ok(HDR "spec:\n  containers:\n  - {command: [a], image: busybox, name: c}\n");
	cleanup_pod struct pod *c =
	    parse_ok(HDR "spec:\n  containers:\n  - {name: c, image: busybox, command: [b]}\n");
	/* Key order does not matter; content does. */
	assert_int_equal(a->containers[0].spec_hash, b->containers[0].spec_hash);
	assert_int_not_equal(a->containers[0].spec_hash, c->containers[0].spec_hash);
	/* FNV-1a 32 of the canonical JSON: known vectors. */
	json_t *empty = json_object();
	assert_int_equal(pod_container_hash_json(empty), 0x5465b825u); /* fnv1a32("{}") */
	json_decref(empty);
	assert_int_equal(a->containers[0].spec_hash,
			 pod_container_hash_json(a->containers[0].json));
}

static void test_kubelet_hash_container(void **state)
{
	/* pkg/kubelet/container TestHashContainer's vector */
	assert_int_equal(pod_container_hash("test_container", "foo/image:v1"), 0x8e45cbd0u);
	cleanup_pod struct pod *a = parse_ok(
	    HDR
	    "spec:\n  containers:\n  - {name: test-container, image: foo/image:v1, args: [x]}\n");
	cleanup_pod struct pod *b = parse_ok(
	    HDR
	    "spec:\n  containers:\n  - {name: test-container, image: foo/image:v1, args: [y]}\n");
	/* only name and image count for the kubelet's hash; everything for spec_hash */
	assert_int_equal(a->containers[0].hash, b->containers[0].hash);
	assert_int_not_equal(a->containers[0].spec_hash, b->containers[0].spec_hash);
	assert_int_equal(a->containers[0].hash,
			 pod_container_hash("test-container", "foo/image:v1"));
	/* HTML-sensitive characters are escaped as Go does: different bytes, different hash */
	assert_int_not_equal(pod_container_hash("c", "a<b"), pod_container_hash("c", "a\\u003cb"));
}

static void test_refcount(void **state)
{
	struct pod *p = parse_ok(HDR "spec:\n  containers: [{name: c, image: i}]\n");
	pod_ref(p);
	pod_unref(p);
	assert_string_equal(p->name, "p");
	pod_unref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_validation_errors),
	    cmocka_unit_test(test_name_validators),
	    cmocka_unit_test(test_container_hash),
	    cmocka_unit_test(test_refcount),
	    cmocka_unit_test(test_kubelet_hash_container),
	    cmocka_unit_test(test_image_whitespace),
	    cmocka_unit_test(test_host_port_conflicts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
