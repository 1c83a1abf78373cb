/* Pod JSON -> typed struct pod (no defaulting here: see pod_defaults.c;
 * validation: pod_validate.c). Type errors name the field path. */
#include "pod.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define PATHLEN 512

static int get_str(const json_t *o, const char *where, const char *key, bool req, char **ret,
		   ndl_error_t *err)
{
	const char *s = NULL;
	int r = ndl_json_get_string(o, where, key, req, &s, err);
	if (r < 0)
		return r;
	if (s)
		*ret = xstrdup(s);
	return 0;
}

static int get_i32(const json_t *o, const char *where, const char *key, int32_t *ret,
		   ndl_error_t *err)
{
	int64_t v;
	bool set = false;
	json_t *j = json_object_get(o, key);
	if (!j || json_is_null(j))
		return 0;
	int r = ndl_json_get_int(o, where, key, false, &v, err);
	if (r < 0)
		return r;
	set = true;
	if (set && (v < INT32_MIN || v > INT32_MAX))
		return ndl_error_setf(err, ERANGE, "%s%s%s: %lld does not fit in int32",
				      where ? where : "", where && *where ? "." : "", key,
				      (long long)v);
	*ret = (int32_t)v;
	return 0;
}

static int get_i64(const json_t *o, const char *where, const char *key, bool *has, int64_t *ret,
		   ndl_error_t *err)
{
	json_t *j = json_object_get(o, key);
	if (!j || json_is_null(j))
		return 0;
	int r = ndl_json_get_int(o, where, key, false, ret, err);
	if (r == 0 && has)
		*has = true;
	return r;
}

static int get_bool(const json_t *o, const char *where, const char *key, bool *ret,
		    ndl_error_t *err)
{
	return ndl_json_get_bool(o, where, key, false, ret, err);
}

static int get_tri(const json_t *o, const char *where, const char *key, pod_tristate_t *ret,
		   ndl_error_t *err)
{
	bool b;
	json_t *j = json_object_get(o, key);
	*ret = TRI_UNSET;
	if (!j || json_is_null(j))
		return 0;
	int r = ndl_json_get_bool(o, where, key, false, &b, err);
	if (r == 0)
		*ret = b ? TRI_TRUE : TRI_FALSE;
	return r;
}

/* An object member that must be an object when present (NULL when absent). */
static int get_obj(const json_t *o, const char *where, const char *key, json_t **ret,
		   ndl_error_t *err)
{
	*ret = NULL;
	return ndl_json_get_object(o, where, key, false, ret, err);
}

static int get_arr(const json_t *o, const char *where, const char *key, json_t **ret,
		   ndl_error_t *err)
{
	*ret = NULL;
	return ndl_json_get_array(o, where, key, false, ret, err);
}

static void path_join(char *buf, const char *where, const char *key)
{
	snprintf(buf, PATHLEN, "%s%s%s", where, *where ? "." : "", key);
}

static int get_strv(const json_t *o, const char *where, const char *key, struct pod_strv *ret,
		    ndl_error_t *err)
{
	json_t *a;
	int r = get_arr(o, where, key, &a, err);
	if (r < 0 || !a)
		return r;
	char p[PATHLEN];
	path_join(p, where, key);
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s[%zu]\": expected string, got %s", p, i,
					      ndl_json_type_name(e));
	}
	ret->v = xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach(a, i, e) ret->v[ret->n++] = xstrdup(json_string_value(e));
	return 0;
}

static void strv_free(struct pod_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Quantity from a JSON string or number. */
static int json_quantity(const json_t *v, const char *path, ndl_quantity_t *ret, ndl_error_t *err)
{
	char buf[64];
	const char *s;
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		s = buf;
	} else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		s = buf;
	} else {
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected quantity, got %s", path,
				      ndl_json_type_name(v));
	}
	int r = ndl_quantity_parse(s, ret, err);
	if (r < 0)
		return ndl_error_wrap(err, "%s", path);
	return 0;
}

static int get_resources(const json_t *o, const char *where, const char *key,
			 struct pod_resource_list *ret, ndl_error_t *err)
{
	json_t *m;
	int r = get_obj(o, where, key, &m, err);
	if (r < 0 || !m)
		return r;
	char p[PATHLEN], q[PATHLEN + 64];
	path_join(p, where, key);
	ret->items = xcalloc(json_object_size(m) + 1, sizeof(*ret->items));
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v)
	{
		snprintf(q, sizeof(q), "%s.%s", p, k);
		struct pod_resource *it = &ret->items[ret->n];
		if ((r = json_quantity(v, q, &it->q, err)) < 0)
			return r;
		it->name = xstrdup(k);
		ret->n++;
	}
	return 0;
}

static void resources_free(struct pod_resource_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

const struct pod_resource *pod_resource_get(const struct pod_resource_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

static int get_port_ref(const json_t *o, const char *where, struct pod_port_ref *ret,
			ndl_error_t *err)
{
	json_t *v = json_object_get(o, "port");
	char p[PATHLEN];
	path_join(p, where, "port");
	if (!v || json_is_null(v))
		return ndl_error_setf(err, EINVAL, "%s: Required value", p);
	if (json_is_integer(v)) {
		int64_t n = json_integer_value(v);
		if (n < 1 || n > 65535)
			return ndl_error_setf(
			    err, EINVAL,
			    "%s: Invalid value: %lld: must be between 1 and 65535, inclusive", p,
			    (long long)n);
		ret->number = (int32_t)n;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		/* IntOrString given as a numeric string is still a name to the
		 * API; the kubelet resolves it as a number when it parses. */
		char *end;
		long n = strtol(s, &end, 10);
		if (*s && !*end) {
			if (n < 1 || n > 65535)
				return ndl_error_setf(err, EINVAL,
						      "%s: Invalid value: \"%s\": must be between "
						      "1 and 65535, inclusive",
						      p, s);
			ret->number = (int32_t)n;
			return 0;
		}
		ret->name = xstrdup(s);
		return 0;
	}
	return ndl_error_setf(err, EINVAL, "field \"%s\": expected integer or string, got %s", p,
			      ndl_json_type_name(v));
}

static const char *handler_keys[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"};

int pod_handler_from_json(const json_t *o, const char *where, bool probe, struct pod_handler *h,
			  ndl_error_t *err)
{
	int found = 0;
	const char *first = NULL;
	for (size_t i = 0; i < 5; i++) {
		json_t *v = json_object_get(o, handler_keys[i]);
		if (!v || json_is_null(v))
			continue;
		if (probe && strcmp(handler_keys[i], "sleep") == 0)
			continue; /* sleep is a lifecycle-only handler; ignored as unknown */
		if (!probe && strcmp(handler_keys[i], "grpc") == 0)
			continue;
		if (found++)
			return ndl_error_setf(
			    err, EINVAL,
			    "%s.%s: Forbidden: may not specify more than 1 handler type", where,
			    handler_keys[i]);
		first = handler_keys[i];
	}
	if (!found)
		return ndl_error_setf(err, EINVAL,
				      "%s: Required value: must specify a handler type", where);
	char p[PATHLEN];
	path_join(p, where, first);
	json_t *ho = NULL;
	int r = get_obj(o, where, first, &ho, err);
	if (r < 0)
		return r;
	if (strcmp(first, "exec") == 0) {
		h->type = POD_HANDLER_EXEC;
		if ((r = get_strv(ho, p, "command", &h->command, err)) < 0)
			return r;
	} else if (strcmp(first, "httpGet") == 0) {
		h->type = POD_HANDLER_HTTP_GET;
		if ((r = get_str(ho, p, "path", false, &h->path, err)) < 0 ||
		    (r = get_str(ho, p, "host", false, &h->host, err)) < 0 ||
		    (r = get_str(ho, p, "scheme", false, &h->scheme, err)) < 0 ||
		    (r = get_port_ref(ho, p, &h->port, err)) < 0)
			return r;
		json_t *hs;
		if ((r = get_arr(ho, p, "httpHeaders", &hs, err)) < 0)
			return r;
		if (hs) {
			h->headers = xcalloc(json_array_size(hs) + 1, sizeof(*h->headers));
			size_t i;
			json_t *e;
			json_array_foreach(hs, i, e)
			{
				char q[PATHLEN + 32];
				snprintf(q, sizeof(q), "%s.httpHeaders[%zu]", p, i);
				struct pod_http_header *hh = &h->headers[h->n_headers];
				if ((r = get_str(e, q, "name", true, &hh->name, err)) < 0)
					return r;
				h->n_headers++;
				if ((r = get_str(e, q, "value", false, &hh->value, err)) < 0)
					return r;
				if (!hh->value)
					hh->value = xstrdup("");
			}
		}
	} else if (strcmp(first, "tcpSocket") == 0) {
		h->type = POD_HANDLER_TCP_SOCKET;
		if ((r = get_str(ho, p, "host", false, &h->host, err)) < 0 ||
		    (r = get_port_ref(ho, p, &h->port, err)) < 0)
			return r;
	} else if (strcmp(first, "grpc") == 0) {
		h->type = POD_HANDLER_GRPC;
		json_t *pv = json_object_get(ho, "port");
		if (!json_is_integer(pv))
			return ndl_error_setf(
			    err, EINVAL, "%s.port: Required value: must be an integer port", p);
		int64_t n = json_integer_value(pv);
		if (n < 1 || n > 65535)
			return ndl_error_setf(
			    err, EINVAL,
			    "%s.port: Invalid value: %lld: must be between 1 and 65535, inclusive",
			    p, (long long)n);
		h->grpc_port = (int32_t)n;
		if ((r = get_str(ho, p, "service", false, &h->grpc_service, err)) < 0)
			return r;
	} else {
		h->type = POD_HANDLER_SLEEP;
		bool has = false;
		if ((r = get_i64(ho, p, "seconds", &has, &h->sleep_seconds, err)) < 0)
			return r;
		if (!has)
			return ndl_error_setf(err, EINVAL, "%s.seconds: Required value", p);
	}
	return 0;
}

void pod_handler_free(struct pod_handler *h)
{
	strv_free(&h->command);
	free(h->path);
	free(h->host);
	free(h->scheme);
	for (size_t i = 0; i < h->n_headers; i++) {
		free(h->headers[i].name);
		free(h->headers[i].value);
	}
	free(h->headers);
	free(h->port.name);
	free(h->grpc_service);
	memset(h, 0, sizeof(*h));
}

static int parse_probe(const json_t *c, const char *where, const char *key, struct pod_probe *pr,
		       ndl_error_t *err)
{
	json_t *o;
	int r = get_obj(c, where, key, &o, err);
	pr->termination_grace_period_seconds = -1;
	if (r < 0 || !o)
		return r;
	char p[PATHLEN];
	path_join(p, where, key);
	pr->present = true;
	if ((r = pod_handler_from_json(o, p, true, &pr->handler, err)) < 0)
		return r;
	bool has = false;
	if ((r = get_i32(o, p, "initialDelaySeconds", &pr->initial_delay_seconds, err)) < 0 ||
	    (r = get_i32(o, p, "timeoutSeconds", &pr->timeout_seconds, err)) < 0 ||
	    (r = get_i32(o, p, "periodSeconds", &pr->period_seconds, err)) < 0 ||
	    (r = get_i32(o, p, "successThreshold", &pr->success_threshold, err)) < 0 ||
	    (r = get_i32(o, p, "failureThreshold", &pr->failure_threshold, err)) < 0 ||
	    (r = get_i64(o, p, "terminationGracePeriodSeconds", &has,
			 &pr->termination_grace_period_seconds, err)) < 0)
		return r;
	return 0;
}

static int parse_seccomp(const json_t *sc, const char *where, struct pod_seccomp *s,
			 ndl_error_t *err)
{
	json_t *o;
	int r = get_obj(sc, where, "seccompProfile", &o, err);
	if (r < 0 || !o)
		return r;
	char p[PATHLEN];
	path_join(p, where, "seccompProfile");
	if ((r = get_str(o, p, "type", true, &s->type, err)) < 0 ||
	    (r = get_str(o, p, "localhostProfile", false, &s->localhost_profile, err)) < 0)
		return r;
	return 0;
}

static int parse_container(json_t *c, const char *where, bool is_init, struct pod_container *ct,
			   ndl_error_t *err)
{
	int r;
	char p[PATHLEN + 64];
	ct->json = c;
	ct->is_init = is_init;
	if (!json_is_object(c))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(c));
	if ((r = get_str(c, where, "name", true, &ct->name, err)) < 0 ||
	    (r = get_str(c, where, "image", false, &ct->image, err)) < 0 ||
	    (r = get_strv(c, where, "command", &ct->command, err)) < 0 ||
	    (r = get_strv(c, where, "args", &ct->args, err)) < 0 ||
	    (r = get_str(c, where, "workingDir", false, &ct->working_dir, err)) < 0 ||
	    (r = get_str(c, where, "terminationMessagePath", false, &ct->termination_message_path,
			 err)) < 0 ||
	    (r = get_str(c, where, "terminationMessagePolicy", false,
			 &ct->termination_message_policy, err)) < 0 ||
	    (r = get_str(c, where, "imagePullPolicy", false, &ct->image_pull_policy, err)) < 0 ||
	    (r = get_str(c, where, "restartPolicy", false, &ct->restart_policy, err)) < 0 ||
	    (r = get_bool(c, where, "stdin", &ct->stdin, err)) < 0 ||
	    (r = get_bool(c, where, "stdinOnce", &ct->stdin_once, err)) < 0 ||
	    (r = get_bool(c, where, "tty", &ct->tty, err)) < 0)
		return r;

	json_t *a;
	size_t i;
	json_t *e;
	if ((r = get_arr(c, where, "ports", &a, err)) < 0)
		return r;
	if (a) {
		ct->ports = xcalloc(json_array_size(a) + 1, sizeof(*ct->ports));
		json_array_foreach(a, i, e)
		{
			snprintf(p, sizeof(p), "%s.ports[%zu]", where, i);
			struct pod_port *pt = &ct->ports[ct->n_ports++];
			if (!json_is_object(e))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s\": expected object, got %s", p,
						      ndl_json_type_name(e));
			if (!json_object_get(e, "containerPort"))
				return ndl_error_setf(err, EINVAL,
						      "%s.containerPort: Required value", p);
			if ((r = get_i32(e, p, "containerPort", &pt->container_port, err)) < 0 ||
			    (r = get_i32(e, p, "hostPort", &pt->host_port, err)) < 0 ||
			    (r = get_str(e, p, "name", false, &pt->name, err)) < 0 ||
			    (r = get_str(e, p, "protocol", false, &pt->protocol, err)) < 0 ||
			    (r = get_str(e, p, "hostIP", false, &pt->host_ip, err)) < 0)
				return r;
		}
	}
	if ((r = get_arr(c, where, "env", &a, err)) < 0)
		return r;
	if (a) {
		ct->env = xcalloc(json_array_size(a) + 1, sizeof(*ct->env));
		json_array_foreach(a, i, e)
		{
			snprintf(p, sizeof(p), "%s.env[%zu]", where, i);
			struct pod_env_var *ev = &ct->env[ct->n_env++];
			if (!json_is_object(e))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s\": expected object, got %s", p,
						      ndl_json_type_name(e));
			if ((r = get_str(e, p, "name", true, &ev->name, err)) < 0 ||
			    (r = get_str(e, p, "value", false, &ev->value, err)) < 0)
				return r;
			json_t *vf;
			if ((r = get_obj(e, p, "valueFrom", &vf, err)) < 0)
				return r;
			if (vf && ev->value && *ev->value)
				return ndl_error_setf(err, EINVAL,
						      "%s.valueFrom: Invalid value: may not be "
						      "specified when `value` is not empty",
						      p);
			if (!vf) {
				if (!ev->value)
					ev->value = xstrdup("");
				continue;
			}
			char vp[PATHLEN + 128];
			snprintf(vp, sizeof(vp), "%s.valueFrom", p);
			static const char *srcs[] = {"fieldRef", "resourceFieldRef",
						     "configMapKeyRef", "secretKeyRef"};
			int n = 0;
			const char *which = NULL;
			for (int k = 0; k < 4; k++)
				if (json_object_get(vf, srcs[k]) &&
				    !json_is_null(json_object_get(vf, srcs[k]))) {
					n++;
					which = srcs[k];
				}
			if (n != 1)
				return ndl_error_setf(
				    err, EINVAL,
				    "%s: Invalid value: must have exactly one of: fieldRef, "
				    "resourceFieldRef, configMapKeyRef, secretKeyRef",
				    vp);
			json_t *ro;
			char rp[PATHLEN + 192];
			snprintf(rp, sizeof(rp), "%s.%s", vp, which);
			if ((r = get_obj(vf, vp, which, &ro, err)) < 0)
				return r;
			free(ev->value);
			ev->value = NULL;
			if (strcmp(which, "fieldRef") == 0) {
				ev->source = POD_ENV_FIELD_REF;
				if ((r = get_str(ro, rp, "fieldPath", true, &ev->field_path, err)) <
					0 ||
				    (r = get_str(ro, rp, "apiVersion", false, &ev->api_version,
						 err)) < 0)
					return r;
			} else if (strcmp(which, "resourceFieldRef") == 0) {
				ev->source = POD_ENV_RESOURCE_FIELD_REF;
				if ((r = get_str(ro, rp, "resource", true, &ev->resource, err)) <
					0 ||
				    (r = get_str(ro, rp, "containerName", false,
						 &ev->container_name, err)) < 0)
					return r;
				ev->divisor = ndl_quantity_from_value(1, NDL_QUANTITY_DECIMAL_SI);
				json_t *d = json_object_get(ro, "divisor");
				if (d && !json_is_null(d)) {
					char dp[PATHLEN + 256];
					snprintf(dp, sizeof(dp), "%s.divisor", rp);
					if ((r = json_quantity(d, dp, &ev->divisor, err)) < 0)
						return r;
				}
			} else {
				ev->source = strcmp(which, "configMapKeyRef") == 0
						 ? POD_ENV_CONFIGMAP_KEY_REF
						 : POD_ENV_SECRET_KEY_REF;
				if ((r = get_str(ro, rp, "name", false, &ev->ref_name, err)) < 0 ||
				    (r = get_str(ro, rp, "key", true, &ev->key, err)) < 0 ||
				    (r = get_bool(ro, rp, "optional", &ev->optional, err)) < 0)
					return r;
			}
		}
	}
	if ((r = get_arr(c, where, "envFrom", &a, err)) < 0)
		return r;
	if (a) {
		ct->env_from = xcalloc(json_array_size(a) + 1, sizeof(*ct->env_from));
		json_array_foreach(a, i, e)
		{
			snprintf(p, sizeof(p), "%s.envFrom[%zu]", where, i);
			struct pod_env_from *ef = &ct->env_from[ct->n_env_from++];
			json_t *cm = NULL, *sec = NULL;
			if (!json_is_object(e))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s\": expected object, got %s", p,
						      ndl_json_type_name(e));
			if ((r = get_str(e, p, "prefix", false, &ef->prefix, err)) < 0 ||
			    (r = get_obj(e, p, "configMapRef", &cm, err)) < 0 ||
			    (r = get_obj(e, p, "secretRef", &sec, err)) < 0)
				return r;
			if ((cm != NULL) == (sec != NULL))
				return ndl_error_setf(err, EINVAL,
						      "%s: Invalid value: must specify one of: "
						      "`configMapRef` or `secretRef`",
						      p);
			ef->is_secret = sec != NULL;
			char rp[PATHLEN + 128];
			snprintf(rp, sizeof(rp), "%s.%s", p, sec ? "secretRef" : "configMapRef");
			if ((r = get_str(sec ? sec : cm, rp, "name", true, &ef->name, err)) < 0 ||
			    (r = get_bool(sec ? sec : cm, rp, "optional", &ef->optional, err)) < 0)
				return r;
		}
	}
	json_t *res;
	if ((r = get_obj(c, where, "resources", &res, err)) < 0)
		return r;
	if (res) {
		snprintf(p, sizeof(p), "%s.resources", where);
		if ((r = get_resources(res, p, "limits", &ct->limits, err)) < 0 ||
		    (r = get_resources(res, p, "requests", &ct->requests, err)) < 0)
			return r;
	}
	if ((r = get_arr(c, where, "volumeMounts", &a, err)) < 0)
		return r;
	if (a) {
		ct->mounts = xcalloc(json_array_size(a) + 1, sizeof(*ct->mounts));
		json_array_foreach(a, i, e)
		{
			snprintf(p, sizeof(p), "%s.volumeMounts[%zu]", where, i);
			struct pod_volume_mount *m = &ct->mounts[ct->n_mounts++];
			if (!json_is_object(e))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s\": expected object, got %s", p,
						      ndl_json_type_name(e));
			if ((r = get_str(e, p, "name", true, &m->name, err)) < 0 ||
			    (r = get_str(e, p, "mountPath", true, &m->mount_path, err)) < 0 ||
			    (r = get_str(e, p, "subPath", false, &m->sub_path, err)) < 0 ||
			    (r = get_str(e, p, "subPathExpr", false, &m->sub_path_expr, err)) < 0 ||
			    (r = get_str(e, p, "mountPropagation", false, &m->mount_propagation,
					 err)) < 0 ||
			    (r = get_bool(e, p, "readOnly", &m->read_only, err)) < 0)
				return r;
		}
	}
	if ((r = parse_probe(c, where, "livenessProbe", &ct->liveness, err)) < 0 ||
	    (r = parse_probe(c, where, "readinessProbe", &ct->readiness, err)) < 0 ||
	    (r = parse_probe(c, where, "startupProbe", &ct->startup, err)) < 0)
		return r;
	json_t *lc;
	if ((r = get_obj(c, where, "lifecycle", &lc, err)) < 0)
		return r;
	if (lc) {
		json_t *h;
		snprintf(p, sizeof(p), "%s.lifecycle", where);
		char hp[PATHLEN + 128];
		if ((r = get_obj(lc, p, "postStart", &h, err)) < 0)
			return r;
		snprintf(hp, sizeof(hp), "%s.postStart", p);
		if (h && (r = pod_handler_from_json(h, hp, false, &ct->post_start, err)) < 0)
			return r;
		if ((r = get_obj(lc, p, "preStop", &h, err)) < 0)
			return r;
		snprintf(hp, sizeof(hp), "%s.preStop", p);
		if (h && (r = pod_handler_from_json(h, hp, false, &ct->pre_stop, err)) < 0)
			return r;
	}
	json_t *sc;
	if ((r = get_obj(c, where, "securityContext", &sc, err)) < 0)
		return r;
	if (sc) {
		ct->has_security_context = true;
		snprintf(p, sizeof(p), "%s.securityContext", where);
		struct pod_container_security *s = &ct->sc;
		if ((r = get_tri(sc, p, "privileged", &s->privileged, err)) < 0 ||
		    (r = get_tri(sc, p, "runAsNonRoot", &s->run_as_non_root, err)) < 0 ||
		    (r = get_tri(sc, p, "readOnlyRootFilesystem", &s->read_only_root_filesystem,
				 err)) < 0 ||
		    (r = get_tri(sc, p, "allowPrivilegeEscalation", &s->allow_privilege_escalation,
				 err)) < 0 ||
		    (r = get_i64(sc, p, "runAsUser", &s->has_run_as_user, &s->run_as_user, err)) <
			0 ||
		    (r = get_i64(sc, p, "runAsGroup", &s->has_run_as_group, &s->run_as_group,
				 err)) < 0 ||
		    (r = get_str(sc, p, "procMount", false, &s->proc_mount, err)) < 0 ||
		    (r = parse_seccomp(sc, p, &s->seccomp, err)) < 0 ||
		    (r = get_obj(sc, p, "seLinuxOptions", &s->se_linux_options, err)) < 0)
			return r;
		json_t *caps;
		if ((r = get_obj(sc, p, "capabilities", &caps, err)) < 0)
			return r;
		if (caps) {
			char cp[PATHLEN + 128];
			snprintf(cp, sizeof(cp), "%s.capabilities", p);
			if ((r = get_strv(caps, cp, "add", &s->cap_add, err)) < 0 ||
			    (r = get_strv(caps, cp, "drop", &s->cap_drop, err)) < 0)
				return r;
		}
	}
	ct->hash = pod_container_hash(ct->name, ct->image ? ct->image : "");
	ct->spec_hash = pod_container_hash_json(c);
	return 0;
}

static void container_free(struct pod_container *c)
{
	free(c->name);
	free(c->image);
	strv_free(&c->command);
	strv_free(&c->args);
	free(c->working_dir);
	for (size_t i = 0; i < c->n_ports; i++) {
		free(c->ports[i].name);
		free(c->ports[i].protocol);
		free(c->ports[i].host_ip);
	}
	free(c->ports);
	for (size_t i = 0; i < c->n_env; i++) {
		struct pod_env_var *e = &c->env[i];
		free(e->name);
		free(e->value);
		free(e->field_path);
		free(e->api_version);
		free(e->container_name);
		free(e->resource);
		free(e->ref_name);
		free(e->key);
	}
	free(c->env);
	for (size_t i = 0; i < c->n_env_from; i++) {
		free(c->env_from[i].prefix);
		free(c->env_from[i].name);
	}
	free(c->env_from);
	resources_free(&c->requests);
	resources_free(&c->limits);
	for (size_t i = 0; i < c->n_mounts; i++) {
		struct pod_volume_mount *m = &c->mounts[i];
		free(m->name);
		free(m->mount_path);
		free(m->sub_path);
		free(m->sub_path_expr);
		free(m->mount_propagation);
	}
	free(c->mounts);
	pod_handler_free(&c->liveness.handler);
	pod_handler_free(&c->readiness.handler);
	pod_handler_free(&c->startup.handler);
	pod_handler_free(&c->post_start);
	pod_handler_free(&c->pre_stop);
	free(c->termination_message_path);
	free(c->termination_message_policy);
	free(c->image_pull_policy);
	free(c->restart_policy);
	strv_free(&c->sc.cap_add);
	strv_free(&c->sc.cap_drop);
	free(c->sc.proc_mount);
	free(c->sc.seccomp.type);
	free(c->sc.seccomp.localhost_profile);
}

/* Every volume source key of core/v1 VolumeSource: shared with pod_defaults.c,
 * which needs the same list to decide that a volume has no source. */
const char *const pod_volume_sources[] = {
    "emptyDir",
    "hostPath",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "cephfs",
    "cinder",
    "fc",
    "flocker",
    "flexVolume",
    "azureFile",
    "azureDisk",
    "vsphereVolume",
    "quobyte",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "image",
};
const size_t pod_n_volume_sources = sizeof(pod_volume_sources) / sizeof(pod_volume_sources[0]);

static int parse_volume(json_t *v, const char *where, struct pod_volume *vol, ndl_error_t *err)
{
	int r;
	if (!json_is_object(v))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(v));
	if ((r = get_str(v, where, "name", true, &vol->name, err)) < 0)
		return r;
	const char *src = NULL;
	int n = 0;
	for (size_t i = 0; i < pod_n_volume_sources; i++) {
		json_t *s = json_object_get(v, pod_volume_sources[i]);
		if (s && !json_is_null(s)) {
			if (n++)
				return ndl_error_setf(
				    err, EINVAL,
				    "%s.%s: Forbidden: may not specify more than 1 volume type",
				    where, pod_volume_sources[i]);
			src = pod_volume_sources[i];
		}
	}
	if (!src)
		return ndl_error_setf(err, EINVAL, "%s: Required value: must specify a volume type",
				      where);
	json_t *s;
	if ((r = get_obj(v, where, src, &s, err)) < 0)
		return r;
	char p[PATHLEN];
	path_join(p, where, src);
	vol->default_mode = 0644;
	if (strcmp(src, "emptyDir") == 0) {
		vol->type = POD_VOL_EMPTY_DIR;
		if ((r = get_str(s, p, "medium", false, &vol->medium, err)) < 0)
			return r;
		json_t *sl = json_object_get(s, "sizeLimit");
		if (sl && !json_is_null(sl)) {
			char q[PATHLEN + 16];
			snprintf(q, sizeof(q), "%s.sizeLimit", p);
			if ((r = json_quantity(sl, q, &vol->size_limit, err)) < 0)
				return r;
			vol->has_size_limit = true;
		}
	} else if (strcmp(src, "hostPath") == 0) {
		vol->type = POD_VOL_HOST_PATH;
		if ((r = get_str(s, p, "path", true, &vol->path, err)) < 0 ||
		    (r = get_str(s, p, "type", false, &vol->host_path_type, err)) < 0)
			return r;
	} else if (strcmp(src, "configMap") == 0 || strcmp(src, "secret") == 0) {
		vol->type = src[0] == 'c' ? POD_VOL_CONFIG_MAP : POD_VOL_SECRET;
		if ((r = get_str(s, p, src[0] == 'c' ? "name" : "secretName", false,
				 &vol->source_name, err)) < 0 ||
		    (r = get_bool(s, p, "optional", &vol->optional, err)) < 0 ||
		    (r = get_i32(s, p, "defaultMode", &vol->default_mode, err)) < 0 ||
		    (r = get_arr(s, p, "items", &vol->items, err)) < 0)
			return r;
	} else if (strcmp(src, "downwardAPI") == 0) {
		vol->type = POD_VOL_DOWNWARD_API;
		if ((r = get_i32(s, p, "defaultMode", &vol->default_mode, err)) < 0 ||
		    (r = get_arr(s, p, "items", &vol->items, err)) < 0)
			return r;
	} else if (strcmp(src, "projected") == 0) {
		vol->type = POD_VOL_PROJECTED;
		if ((r = get_i32(s, p, "defaultMode", &vol->default_mode, err)) < 0 ||
		    (r = get_arr(s, p, "sources", &vol->items, err)) < 0)
			return r;
	} else if (strcmp(src, "persistentVolumeClaim") == 0) {
		vol->type = POD_VOL_PVC;
		if ((r = get_str(s, p, "claimName", true, &vol->source_name, err)) < 0)
			return r;
	} else {
		vol->type = POD_VOL_OTHER;
		vol->other_kind = xstrdup(src);
	}
	return 0;
}

static void volume_free(struct pod_volume *v)
{
	free(v->name);
	free(v->medium);
	free(v->path);
	free(v->host_path_type);
	free(v->source_name);
	free(v->other_kind);
}

static void pod_free(struct pod *p)
{
	free(p->name);
	free(p->namespace);
	free(p->uid);
	free(p->full_name);
	for (size_t i = 0; i < p->n_init_containers; i++)
		container_free(&p->init_containers[i]);
	free(p->init_containers);
	for (size_t i = 0; i < p->n_containers; i++)
		container_free(&p->containers[i]);
	free(p->containers);
	for (size_t i = 0; i < p->n_volumes; i++)
		volume_free(&p->volumes[i]);
	free(p->volumes);
	free(p->restart_policy);
	free(p->dns_policy);
	strv_free(&p->dns_nameservers);
	strv_free(&p->dns_searches);
	free(p->hostname);
	free(p->subdomain);
	free(p->node_name);
	free(p->service_account_name);
	free(p->priority_class_name);
	free(p->runtime_class_name);
	free(p->supplemental_groups);
	for (size_t i = 0; i < p->n_sysctls; i++) {
		free(p->sysctls[i].name);
		free(p->sysctls[i].value);
	}
	free(p->sysctls);
	free(p->seccomp.type);
	free(p->seccomp.localhost_profile);
	for (size_t i = 0; i < p->n_host_aliases; i++) {
		free(p->host_aliases[i].ip);
		strv_free(&p->host_aliases[i].hostnames);
	}
	free(p->host_aliases);
	if (p->labels)
		json_decref(p->labels);
	if (p->annotations)
		json_decref(p->annotations);
	if (p->json)
		json_decref(p->json);
	free(p);
}

struct pod *pod_ref(struct pod *p)
{
	if (p)
		__atomic_add_fetch(&p->refcount, 1, __ATOMIC_RELAXED);
	return p;
}

void pod_unref(struct pod *p)
{
	if (p && __atomic_sub_fetch(&p->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		pod_free(p);
}

static int parse_containers(json_t *spec, const char *key, bool is_init, struct pod_container **ret,
			    size_t *ret_n, ndl_error_t *err)
{
	json_t *a;
	int r = get_arr(spec, "spec", key, &a, err);
	if (r < 0 || !a)
		return r;
	*ret = xcalloc(json_array_size(a) + 1, sizeof(**ret));
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		char p[PATHLEN];
		snprintf(p, sizeof(p), "spec.%s[%zu]", key, i);
		(*ret_n)++;
		if ((r = parse_container(e, p, is_init, &(*ret)[i], err)) < 0)
			return r;
	}
	return 0;
}

static int parse_pod(struct pod *p, ndl_error_t *err)
{
	json_t *j = p->json;
	int r;
	if (!json_is_object(j))
		return ndl_error_setf(err, EINVAL, "expected a Pod object, got %s",
				      ndl_json_type_name(j));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *api = json_string_value(json_object_get(j, "apiVersion"));
	if (!kind || !*kind)
		return ndl_error_setf(err, EINVAL,
				      "kind: Required value: Object 'Kind' is missing");
	if (strcmp(kind, "Pod") != 0)
		return ndl_error_setf(err, EINVAL, "kind: Invalid value: \"%s\": expected \"Pod\"",
				      kind);
	if (!api || strcmp(api, "v1") != 0)
		return ndl_error_setf(err, EINVAL,
				      "apiVersion: Invalid value: \"%s\": expected \"v1\"",
				      api ? api : "");
	json_t *md, *spec, *labels = NULL, *annotations = NULL;
	if ((r = ndl_json_get_object(j, "", "metadata", true, &md, err)) < 0)
		return r;
	if ((r = get_str(md, "metadata", "name", false, &p->name, err)) < 0 ||
	    (r = get_str(md, "metadata", "namespace", false, &p->namespace, err)) < 0 ||
	    (r = get_str(md, "metadata", "uid", false, &p->uid, err)) < 0 ||
	    (r = get_obj(md, "metadata", "labels", &labels, err)) < 0 ||
	    (r = get_obj(md, "metadata", "annotations", &annotations, err)) < 0)
		return r;
	/* Map values must be strings. */
	json_t *maps[2] = {labels, annotations};
	const char *mn[2] = {"labels", "annotations"};
	for (int m = 0; m < 2; m++) {
		const char *k;
		json_t *v;
		/* Held as new references so a missing map can be an empty
		 * object without adding it to the served JSON. */
		maps[m] = maps[m] ? json_incref(maps[m]) : json_object();
		if (m == 0)
			p->labels = maps[0];
		else
			p->annotations = maps[1];
		json_object_foreach(maps[m], k, v)
		{
			if (!json_is_string(v))
				return ndl_error_setf(
				    err, EINVAL,
				    "field \"metadata.%s.%s\": expected string, got %s", mn[m], k,
				    ndl_json_type_name(v));
		}
	}
	if (!p->name)
		p->name = xstrdup("");
	if (!p->namespace)
		p->namespace = xstrdup("");
	if (!p->uid)
		p->uid = xstrdup("");
	p->full_name = xasprintf("%s_%s", p->name, p->namespace);

	if ((r = ndl_json_get_object(j, "", "spec", true, &spec, err)) < 0)
		return r;
	if ((r = parse_containers(spec, "initContainers", true, &p->init_containers,
				  &p->n_init_containers, err)) < 0 ||
	    (r = parse_containers(spec, "containers", false, &p->containers, &p->n_containers,
				  err)) < 0)
		return r;
	json_t *a;
	size_t i;
	json_t *e;
	if ((r = get_arr(spec, "spec", "volumes", &a, err)) < 0)
		return r;
	if (a) {
		p->volumes = xcalloc(json_array_size(a) + 1, sizeof(*p->volumes));
		json_array_foreach(a, i, e)
		{
			char vp[PATHLEN];
			snprintf(vp, sizeof(vp), "spec.volumes[%zu]", i);
			p->n_volumes++;
			if ((r = parse_volume(e, vp, &p->volumes[i], err)) < 0)
				return r;
		}
	}
	bool has_tgps = false, has_ads = false;
	if ((r = get_str(spec, "spec", "restartPolicy", false, &p->restart_policy, err)) < 0 ||
	    (r = get_i64(spec, "spec", "terminationGracePeriodSeconds", &has_tgps,
			 &p->termination_grace_period_seconds, err)) < 0 ||
	    (r = get_i64(spec, "spec", "activeDeadlineSeconds", &has_ads,
			 &p->active_deadline_seconds, err)) < 0 ||
	    (r = get_str(spec, "spec", "dnsPolicy", false, &p->dns_policy, err)) < 0 ||
	    (r = get_bool(spec, "spec", "hostNetwork", &p->host_network, err)) < 0 ||
	    (r = get_bool(spec, "spec", "hostPID", &p->host_pid, err)) < 0 ||
	    (r = get_bool(spec, "spec", "hostIPC", &p->host_ipc, err)) < 0 ||
	    (r = get_bool(spec, "spec", "shareProcessNamespace", &p->share_process_namespace,
			  err)) < 0 ||
	    (r = get_str(spec, "spec", "hostname", false, &p->hostname, err)) < 0 ||
	    (r = get_str(spec, "spec", "subdomain", false, &p->subdomain, err)) < 0 ||
	    (r = get_str(spec, "spec", "nodeName", false, &p->node_name, err)) < 0 ||
	    (r = get_str(spec, "spec", "serviceAccountName", false, &p->service_account_name,
			 err)) < 0 ||
	    (r = get_str(spec, "spec", "priorityClassName", false, &p->priority_class_name, err)) <
		0 ||
	    (r = get_str(spec, "spec", "runtimeClassName", false, &p->runtime_class_name, err)) <
		0 ||
	    (r = get_obj(spec, "spec", "nodeSelector", &p->node_selector, err)) < 0)
		return r;
	p->has_termination_grace_period_seconds = has_tgps;
	if (!has_tgps)
		p->termination_grace_period_seconds = -1;
	p->has_active_deadline_seconds = has_ads;
	if (!has_ads)
		p->active_deadline_seconds = -1;
	if (json_object_get(spec, "priority") && !json_is_null(json_object_get(spec, "priority"))) {
		if ((r = get_i32(spec, "spec", "priority", &p->priority, err)) < 0)
			return r;
		p->has_priority = true;
	}
	json_t *dc;
	if ((r = get_obj(spec, "spec", "dnsConfig", &dc, err)) < 0)
		return r;
	if (dc) {
		if ((r = get_strv(dc, "spec.dnsConfig", "nameservers", &p->dns_nameservers, err)) <
			0 ||
		    (r = get_strv(dc, "spec.dnsConfig", "searches", &p->dns_searches, err)) < 0 ||
		    (r = get_arr(dc, "spec.dnsConfig", "options", &p->dns_options, err)) < 0)
			return r;
	}
	json_t *sc;
	if ((r = get_obj(spec, "spec", "securityContext", &sc, err)) < 0)
		return r;
	if (sc) {
		const char *w = "spec.securityContext";
		if ((r = get_i64(sc, w, "runAsUser", &p->has_run_as_user, &p->run_as_user, err)) <
			0 ||
		    (r = get_i64(sc, w, "runAsGroup", &p->has_run_as_group, &p->run_as_group,
				 err)) < 0 ||
		    (r = get_i64(sc, w, "fsGroup", &p->has_fs_group, &p->fs_group, err)) < 0 ||
		    (r = get_tri(sc, w, "runAsNonRoot", &p->run_as_non_root, err)) < 0 ||
		    (r = parse_seccomp(sc, w, &p->seccomp, err)) < 0 ||
		    (r = get_arr(sc, w, "supplementalGroups", &a, err)) < 0)
			return r;
		if (a) {
			p->supplemental_groups = xcalloc(json_array_size(a) + 1, sizeof(int64_t));
			json_array_foreach(a, i, e)
			{
				if (!json_is_integer(e))
					return ndl_error_setf(
					    err, EINVAL,
					    "field \"%s.supplementalGroups[%zu]\": expected "
					    "integer, got %s",
					    w, i, ndl_json_type_name(e));
				p->supplemental_groups[p->n_supplemental_groups++] =
				    json_integer_value(e);
			}
		}
		if ((r = get_arr(sc, w, "sysctls", &a, err)) < 0)
			return r;
		if (a) {
			p->sysctls = xcalloc(json_array_size(a) + 1, sizeof(*p->sysctls));
			json_array_foreach(a, i, e)
			{
				char sp[PATHLEN];
				snprintf(sp, sizeof(sp), "%s.sysctls[%zu]", w, i);
				struct pod_sysctl *s = &p->sysctls[p->n_sysctls++];
				if ((r = get_str(e, sp, "name", true, &s->name, err)) < 0 ||
				    (r = get_str(e, sp, "value", true, &s->value, err)) < 0)
					return r;
			}
		}
	}
	if (!p->seccomp.type) {
		/* nothing: pods without a profile get the runtime's choice */
	}
	if ((r = get_arr(spec, "spec", "hostAliases", &a, err)) < 0)
		return r;
	if (a) {
		p->host_aliases = xcalloc(json_array_size(a) + 1, sizeof(*p->host_aliases));
		json_array_foreach(a, i, e)
		{
			char hp[PATHLEN];
			snprintf(hp, sizeof(hp), "spec.hostAliases[%zu]", i);
			struct pod_host_alias *h = &p->host_aliases[p->n_host_aliases++];
			if ((r = get_str(e, hp, "ip", true, &h->ip, err)) < 0 ||
			    (r = get_strv(e, hp, "hostnames", &h->hostnames, err)) < 0)
				return r;
		}
	}
	return 0;
}

int pod_from_json(json_t *json, struct pod **ret_pod, ndl_error_t *err)
{
	struct pod *p = xcalloc(1, sizeof(*p));
	p->refcount = 1;
	p->json = json_incref(json);
	int r = parse_pod(p, err);
	if (r == 0)
		r = pod_validate(p, err);
	if (r < 0) {
		pod_unref(p);
		return r;
	}
	*ret_pod = p;
	return 0;
}

int pod_from_json_defaulted(const json_t *in, struct pod **ret_pod, ndl_error_t *err)
{
	cleanup_json json_t *copy = json_deep_copy(in);
	if (!copy)
		return ndl_error_setf(err, EINVAL, "expected a Pod object");
	pod_apply_defaults(copy);
	return pod_from_json(copy, ret_pod, err);
}

const struct pod_container *pod_find_container(const struct pod *p, const char *name)
{
	for (size_t i = 0; i < p->n_containers; i++)
		if (strcmp(p->containers[i].name, name) == 0)
			return &p->containers[i];
	for (size_t i = 0; i < p->n_init_containers; i++)
		if (strcmp(p->init_containers[i].name, name) == 0)
			return &p->init_containers[i];
	return NULL;
}

const char *pod_annotation(const struct pod *p, const char *key)
{
	return json_string_value(json_object_get(p->annotations, key));
}

uint32_t pod_container_hash_json(const json_t *container)
{
	cleanup_free char *s =
	    json_dumps(container, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	uint32_t h = 2166136261u; /* FNV-1a 32, as the kubelet's HashContainer */
	for (const unsigned char *q = (const unsigned char *)s; q && *q; q++) {
		h ^= *q;
		h *= 16777619u;
	}
	return h;
}

/* Go's encoding/json string encoding (HTML-safe escapes, U+2028/2029
 * escaped, invalid UTF-8 replaced by U+FFFD), appended to buf. */
static void go_json_string(const char *s, char **buf, size_t *len, size_t *cap)
{
	static const char hex[] = "0123456789abcdef";
#define APPEND(str, n)                                                                             \
	do {                                                                                       \
		size_t _n = (n);                                                                   \
		if (*len + _n + 1 > *cap) {                                                        \
			*cap = (*len + _n + 1) * 2;                                                \
			*buf = xrealloc(*buf, *cap);                                               \
		}                                                                                  \
		memcpy(*buf + *len, (str), _n);                                                    \
		*len += _n;                                                                        \
	} while (0)
	APPEND("\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		if (c < 0x80) {
			char esc[7];
			if (c == '"' || c == '\\') {
				esc[0] = '\\';
				esc[1] = (char)c;
				APPEND(esc, 2);
			} else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
				esc[0] = '\\';
				esc[1] = c == '\n'   ? 'n'
					 : c == '\r' ? 'r'
					 : c == '\t' ? 't'
					 : c == '\b' ? 'b'
						     : 'f';
				APPEND(esc, 2);
			} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				APPEND(esc, 6);
			} else {
				APPEND(p, 1);
			}
			p++;
			continue;
		}
		/* multi-byte UTF-8: validate */
		int n = (c >= 0xc2 && c <= 0xdf)   ? 2
			: (c >= 0xe0 && c <= 0xef) ? 3
			: (c >= 0xf0 && c <= 0xf4) ? 4
						   : 0;
		bool ok = n > 0;
		uint32_t cp = n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
		for (int i = 1; ok && i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				ok = false;
			else
				cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (ok && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
			   (n == 4 && (cp < 0x10000 || cp > 0x10ffff))))
			ok = false;
		if (!ok) {
			APPEND("\\ufffd", 6);
			p++;
			continue;
		}
		if (cp == 0x2028 || cp == 0x2029)
			APPEND(cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
		else
			APPEND(p, (size_t)n);
		p += n;
	}
	APPEND("\"", 1);
	(*buf)[*len] = 0;
#undef APPEND
}

uint32_t pod_container_hash(const char *name, const char *image)
{
	/* json.Marshal(map[string]string{...}) sorts keys: image, then name. */
	size_t len = 0, cap = 64;
	char *js = xmalloc(cap);
	js[0] = 0;
	const char *k1 = "{\"image\":";
	const char *k2 = ",\"name\":";
	size_t l1 = strlen(k1), l2 = strlen(k2);
	memcpy(js, k1, l1);
	len = l1;
	go_json_string(image, &js, &len, &cap);
	if (len + l2 + 1 > cap) {
		cap = (len + l2 + 1) * 2;
		js = xrealloc(js, cap);
	}
	memcpy(js + len, k2, l2);
	len += l2;
	go_json_string(name, &js, &len, &cap);
	if (len + 2 > cap) {
		cap = len + 2;
		js = xrealloc(js, cap);
	}
	js[len++] = '}';
	js[len] = 0;
	/* hash.DeepHashObject prints the []byte with spew's %#v. */
	uint32_t h = 2166136261u;
#define FNV(ch)                                                                                    \
	do {                                                                                       \
		h ^= (unsigned char)(ch);                                                          \
		h *= 16777619u;                                                                    \
	} while (0)
	for (const char *q = "([]uint8)["; *q; q++)
		FNV(*q);
	for (size_t i = 0; i < len; i++) {
		char num[4];
		int n = snprintf(num, sizeof(num), "%u", (unsigned char)js[i]);
		if (i > 0)
			FNV(' ');
		for (int k = 0; k < n; k++)
			FNV(num[k]);
	}
	FNV(']');
#undef FNV
	free(js);
	return h;
}
