/* The API server's core/v1 defaulting (SetDefaults_Pod, _PodSpec,
 * _Container, _Probe, _HTTPGetAction, _Volume, ...) applied to a Pod JSON
 * tree, so the typed pod and the served JSON agree. Members of the wrong
 * type are left alone: the parser reports them with their path. */
#include <string.h>

#include "pod.h"

static void set_default(json_t *o, const char *key, json_t *v)
{
	json_t *cur = json_object_get(o, key);
	if (json_is_object(o) && (!cur || json_is_null(cur)))
		json_object_set_new(o, key, v);
	else
		json_decref(v);
}

static json_t *obj(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_object(v) ? v : NULL;
}

static json_t *arr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_array(v) ? v : NULL;
}

/* parsers.ParseImageName: a reference without tag and digest means
 * ":latest"; the tag is after the last ':' that follows the last '/'. */
static const char *default_pull_policy(const char *image)
{
	if (!image)
		return "IfNotPresent";
	if (strchr(image, '@'))
		return "IfNotPresent"; /* digest without tag: tag is empty, not "latest" */
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(slash ? slash : image, ':');
	if (!colon)
		return "Always";
	return strcmp(colon + 1, "latest") == 0 ? "Always" : "IfNotPresent";
}

static void default_http_get(json_t *h)
{
	json_t *g = obj(h, "httpGet");
	if (!g)
		return;
	set_default(g, "path", json_string("/"));
	set_default(g, "scheme", json_string("HTTP"));
}

static void default_probe(json_t *c, const char *key)
{
	json_t *p = obj(c, key);
	if (!p)
		return;
	set_default(p, "timeoutSeconds", json_integer(1));
	set_default(p, "periodSeconds", json_integer(10));
	set_default(p, "successThreshold", json_integer(1));
	set_default(p, "failureThreshold", json_integer(3));
	default_http_get(p);
}

static void default_container(json_t *c, bool host_network)
{
	if (!json_is_object(c))
		return;
	json_t *img = json_object_get(c, "image");
	set_default(c, "imagePullPolicy", json_string(default_pull_policy(json_string_value(img))));
	set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
	set_default(c, "terminationMessagePolicy", json_string("File"));
	json_t *ports = arr(c, "ports");
	size_t i;
	json_t *e;
	json_array_foreach(ports, i, e)
	{
		if (!json_is_object(e))
			continue;
		set_default(e, "protocol", json_string("TCP"));
		/* With hostNetwork the host port is the container port. */
		json_t *hp = json_object_get(e, "hostPort");
		json_t *cp = json_object_get(e, "containerPort");
		if (host_network && json_is_integer(cp) &&
		    (!hp || (json_is_integer(hp) && json_integer_value(hp) == 0)))
			json_object_set_new(e, "hostPort", json_integer(json_integer_value(cp)));
	}
	json_array_foreach(arr(c, "env"), i, e)
	{
		json_t *fr = obj(obj(e, "valueFrom"), "fieldRef");
		if (fr)
			set_default(fr, "apiVersion", json_string("v1"));
	}
	/* Requests default to limits for each resource that has a limit only. */
	json_t *res = obj(c, "resources");
	json_t *lim = obj(res, "limits");
	if (lim && json_object_size(lim) > 0) {
		json_t *req = json_object_get(res, "requests");
		if (!req || json_is_null(req)) {
			req = json_object();
			json_object_set_new(res, "requests", req);
		}
		if (json_is_object(req)) {
			const char *k;
			json_t *v;
			json_object_foreach(lim, k, v) set_default(req, k, json_deep_copy(v));
		}
	}
	default_probe(c, "livenessProbe");
	default_probe(c, "readinessProbe");
	default_probe(c, "startupProbe");
	json_t *lc = obj(c, "lifecycle");
	default_http_get(obj(lc, "postStart"));
	default_http_get(obj(lc, "preStop"));
}

static void default_items_field_refs(json_t *items)
{
	size_t i;
	json_t *e;
	json_array_foreach(items, i, e)
	{
		json_t *fr = obj(e, "fieldRef");
		if (fr)
			set_default(fr, "apiVersion", json_string("v1"));
	}
}

static void default_volume(json_t *v)
{
	if (!json_is_object(v))
		return;
	bool any = false;
	for (size_t i = 0; i < pod_n_volume_sources; i++) {
		json_t *s = json_object_get(v, pod_volume_sources[i]);
		any |= s && !json_is_null(s);
	}
	/* A volume with no source is an emptyDir (SetDefaults_Volume). */
	if (!any)
		json_object_set_new(v, "emptyDir", json_object());
	json_t *s;
	if ((s = obj(v, "hostPath")))
		set_default(s, "type", json_string(""));
	if ((s = obj(v, "configMap")))
		set_default(s, "defaultMode", json_integer(0644));
	if ((s = obj(v, "secret")))
		set_default(s, "defaultMode", json_integer(0644));
	if ((s = obj(v, "downwardAPI"))) {
		set_default(s, "defaultMode", json_integer(0644));
		default_items_field_refs(arr(s, "items"));
	}
	if ((s = obj(v, "projected"))) {
		set_default(s, "defaultMode", json_integer(0644));
		size_t i;
		json_t *e;
		json_array_foreach(arr(s, "sources"), i, e)
		    default_items_field_refs(arr(obj(e, "downwardAPI"), "items"));
	}
}

void pod_apply_defaults(json_t *pod)
{
	json_t *spec = obj(pod, "spec");
	if (!spec)
		return;
	set_default(spec, "restartPolicy", json_string("Always"));
	set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
	set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
	set_default(spec, "securityContext", json_object());
	set_default(spec, "schedulerName", json_string("default-scheduler"));
	set_default(spec, "enableServiceLinks", json_true());
	json_t *hn = json_object_get(spec, "hostNetwork");
	bool host_network = json_is_true(hn);
	size_t i;
	json_t *e;
	json_array_foreach(arr(spec, "initContainers"), i, e) default_container(e, host_network);
	json_array_foreach(arr(spec, "containers"), i, e) default_container(e, host_network);
	json_array_foreach(arr(spec, "volumes"), i, e) default_volume(e);
}
