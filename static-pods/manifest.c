/* One manifest file -> a static pod with the kubelet's file-source
 * defaults: name "<name>-<node>", namespace "default", content-derived UID,
 * spec.nodeName, the config.* annotations, the NoExecute toleration and
 * the critical priority for system-node-critical pods. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/md5.h"
#include "lib/xalloc.h"
#include "lib/yaml2json.h"
#include "staticpods.h"

void sp_static_pod_uid(const json_t *pod, const char *node_name, const char *source_path,
		       char ret_hex[33])
{
	cleanup_free char *canon = json_dumps(pod, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	unsigned char md[16];
	struct ndl_md5 m;
	ndl_md5_init(&m);
	if (canon)
		ndl_md5_update(&m, canon, strlen(canon));
	/* The kubelet writes the source after the object, in this format. */
	cleanup_free char *host = xasprintf("host:%s", node_name);
	cleanup_free char *file = xasprintf("file:%s", source_path);
	ndl_md5_update(&m, host, strlen(host));
	ndl_md5_update(&m, file, strlen(file));
	ndl_md5_final(&m, md);
	for (unsigned int i = 0; i < 16; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	ret_hex[32] = 0;
}

/* Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped. */
static void rfc3339nano(int64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000LL);
	long frac = (long)(ns % 1000000000LL);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char base[32], fr[16] = "";
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		snprintf(fr, sizeof(fr), ".%09ld", frac);
		for (int i = (int)strlen(fr) - 1; i > 0 && fr[i] == '0'; i--)
			fr[i] = 0;
	}
	snprintf(buf, size, "%s%sZ", base, fr);
}

static bool has_noexecute_exists(json_t *tolerations)
{
	size_t i;
	json_t *t;
	json_array_foreach(tolerations, i, t)
	{
		const char *key = json_string_value(json_object_get(t, "key"));
		const char *op = json_string_value(json_object_get(t, "operator"));
		const char *eff = json_string_value(json_object_get(t, "effect"));
		if ((!key || !*key) && op && strcmp(op, "Exists") == 0 && eff &&
		    strcmp(eff, "NoExecute") == 0)
			return true;
	}
	return false;
}

int sp_pod_from_manifest(const char *buf, size_t len, const char *source_path,
			 const char *node_name, int64_t seen_ns, struct pod **ret_pod,
			 ndl_error_t *err)
{
	cleanup_json json_t *doc = NULL;
	int r;
	/* As the kubelet's yaml.ToJSON: a document that starts with '{' is
	 * JSON and goes to a JSON parser as is; anything else is YAML. */
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (i < len && buf[i] == '{') {
		json_error_t je;
		doc = json_loadb(buf, len, 0, &je);
		if (!doc)
			return ndl_error_setf(err, EINVAL, "JSON: %s at line %d column %d", je.text,
					      je.line, je.column);
	} else if ((r = ndl_yaml_parse(buf, len, &doc, err)) < 0) {
		return r;
	}
	if (!json_is_object(doc))
		return ndl_error_setf(err, EINVAL, "expected a Pod object, got %s",
				      json_is_null(doc) ? "an empty document"
							: ndl_json_type_name(doc));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *api = json_string_value(json_object_get(doc, "apiVersion"));
	if (!kind || !*kind)
		return ndl_error_setf(err, EINVAL,
				      "kind: Required value: Object 'Kind' is missing");
	if (strcmp(kind, "Pod") != 0)
		return ndl_error_setf(
		    err, EINVAL,
		    "kind: Invalid value: \"%s\": a manifest must hold a single Pod (kind \"Pod\")",
		    kind);
	if (!api || strcmp(api, "v1") != 0)
		return ndl_error_setf(err, EINVAL,
				      "apiVersion: Invalid value: \"%s\": expected \"v1\"",
				      api ? api : "");
	json_t *md = json_object_get(doc, "metadata");
	if (!json_is_object(md))
		return ndl_error_setf(err, EINVAL, "metadata: Required value");
	json_t *spec = json_object_get(doc, "spec");
	if (!json_is_object(spec))
		return ndl_error_setf(err, EINVAL, "spec: Required value");
	json_t *jname = json_object_get(md, "name");
	if (jname && !json_is_string(jname))
		return ndl_error_setf(err, EINVAL,
				      "field \"metadata.name\": expected string, got %s",
				      ndl_json_type_name(jname));
	if (!jname || !*json_string_value(jname))
		return ndl_error_setf(
		    err, EINVAL, "metadata.name: Required value: name or generateName is required");
	json_t *jns = json_object_get(md, "namespace");
	if (jns && !json_is_null(jns) && !json_is_string(jns))
		return ndl_error_setf(err, EINVAL,
				      "field \"metadata.namespace\": expected string, got %s",
				      ndl_json_type_name(jns));
	json_t *ann = json_object_get(md, "annotations");
	if (ann && !json_is_null(ann) && !json_is_object(ann))
		return ndl_error_setf(err, EINVAL,
				      "field \"metadata.annotations\": expected object, got %s",
				      ndl_json_type_name(ann));
	json_t *tol = json_object_get(spec, "tolerations");
	if (tol && !json_is_null(tol) && !json_is_array(tol))
		return ndl_error_setf(err, EINVAL,
				      "field \"spec.tolerations\": expected array, got %s",
				      ndl_json_type_name(tol));

	/* API defaulting happens at decode time, before the kubelet hashes. */
	pod_apply_defaults(doc);

	json_t *juid = json_object_get(md, "uid");
	char uid[33];
	if (json_is_string(juid) && *json_string_value(juid)) {
		snprintf(uid, sizeof(uid), "%s", json_string_value(juid));
	} else {
		sp_static_pod_uid(doc, node_name, source_path, uid);
		json_object_set_new(md, "uid", json_string(uid));
	}
	const char *uid_s = json_string_value(json_object_get(md, "uid"));
	cleanup_free char *name = xasprintf("%s-%s", json_string_value(jname), node_name);
	json_object_set_new(md, "name", json_string(name));
	if (!jns || json_is_null(jns) || !*json_string_value(jns))
		json_object_set_new(md, "namespace", json_string("default"));
	json_object_set_new(spec, "nodeName", json_string(node_name));
	if (!ann || json_is_null(ann)) {
		ann = json_object();
		json_object_set_new(md, "annotations", ann);
	}
	json_object_set_new(ann, "kubernetes.io/config.hash", json_string(uid_s));
	json_object_set_new(ann, "kubernetes.io/config.source", json_string("file"));
	if (seen_ns == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seen_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	char seen[64];
	rfc3339nano(seen_ns, seen, sizeof(seen));
	json_object_set_new(ann, "kubernetes.io/config.seen", json_string(seen));
	/* Static pods must survive node problems: tolerate every NoExecute taint. */
	if (!tol || json_is_null(tol)) {
		tol = json_array();
		json_object_set_new(spec, "tolerations", tol);
	}
	if (!has_noexecute_exists(tol))
		json_array_append_new(
		    tol, json_pack("{s:s,s:s}", "operator", "Exists", "effect", "NoExecute"));
	/* No priority admission for static pods: resolve the two built-in
	 * system classes here. */
	const char *pcn = json_string_value(json_object_get(spec, "priorityClassName"));
	json_t *prio = json_object_get(spec, "priority");
	if (pcn && (!prio || json_is_null(prio))) {
		if (strcmp(pcn, "system-node-critical") == 0)
			json_object_set_new(spec, "priority",
					    json_integer(POD_SYSTEM_NODE_CRITICAL_PRIORITY));
		else if (strcmp(pcn, "system-cluster-critical") == 0)
			json_object_set_new(spec, "priority",
					    json_integer(POD_SYSTEM_CLUSTER_CRITICAL_PRIORITY));
	}
	if (!json_object_get(doc, "status"))
		json_object_set_new(doc, "status", json_pack("{s:s}", "phase", "Pending"));
	return pod_from_json(doc, ret_pod, err);
}
