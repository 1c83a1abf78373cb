/* Pod validation as the API server does it for the fields the kubelet
 * uses (pkg/apis/core/validation). Messages follow the API's field-error
 * style: "<path>: Invalid value: ...", "Required value", "Duplicate value". */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pod.h"

#define INVALID(path, ...) ndl_error_setf(err, EINVAL, __VA_ARGS__)

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool pod_is_dns1123_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool pod_is_dns1123_subdomain(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253)
		return false;
	char buf[254];
	memcpy(buf, s, n + 1);
	char *save = NULL;
	if (buf[0] == '.' || buf[n - 1] == '.' || strstr(buf, ".."))
		return false;
	for (char *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
		size_t m = strlen(t);
		if (!alnum_lower(t[0]) || !alnum_lower(t[m - 1]))
			return false;
		for (size_t i = 0; i < m; i++)
			if (!alnum_lower(t[i]) && t[i] != '-')
				return false;
	}
	return true;
}

static bool alnum_any(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

/* [prefix/]name: name is ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], <= 63;
 * prefix a DNS-1123 subdomain. */
bool pod_is_qualified_name(const char *s)
{
	if (!s || !*s)
		return false;
	const char *slash = strchr(s, '/');
	const char *name = s;
	if (slash) {
		if (strchr(slash + 1, '/'))
			return false;
		size_t pl = (size_t)(slash - s);
		char prefix[254];
		if (pl == 0 || pl > 253)
			return false;
		memcpy(prefix, s, pl);
		prefix[pl] = 0;
		if (!pod_is_dns1123_subdomain(prefix))
			return false;
		name = slash + 1;
	}
	size_t n = strlen(name);
	if (n == 0 || n > 63 || !alnum_any(name[0]) || !alnum_any(name[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_any(name[i]) && !strchr("-_.", name[i]))
			return false;
	return true;
}

static bool is_label_value(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return true;
	if (n > 63 || !alnum_any(s[0]) || !alnum_any(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_any(s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

/* Current API servers (RelaxedEnvironmentVariableValidation, on by
 * default since 1.32) accept any printable ASCII except '=' in env names;
 * the older C-identifier-like rule would reject pods those clusters run. */
bool pod_is_env_var_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < 32 || *p > 126 || *p == '=')
			return false;
	return true;
}

/* IANA service name: 1-15 chars of [a-z0-9-], at least one letter, no
 * leading/trailing or double hyphen. */
bool pod_is_iana_svc_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	bool letter = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static bool valid_ip(const char *s)
{
	unsigned char b[16];
	return s && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1);
}

static bool one_of(const char *s, const char *const *vals)
{
	for (; *vals; vals++)
		if (s && strcmp(s, *vals) == 0)
			return true;
	return false;
}

/* Relative path without ".." elements (subPath, items[].path). */
static bool is_safe_relative(const char *s)
{
	if (!s || s[0] == '/')
		return false;
	const char *p = s;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

static int validate_port_ref(const struct pod_port_ref *pr, const char *path, ndl_error_t *err)
{
	if (pr->name && !pod_is_iana_svc_name(pr->name))
		return INVALID(
		    path,
		    "%s.port: Invalid value: \"%s\": must be a port number or an IANA service name",
		    path, pr->name);
	return 0;
}

static int validate_handler(const struct pod_handler *h, const char *path, ndl_error_t *err)
{
	switch (h->type) {
	case POD_HANDLER_EXEC:
		if (h->command.n == 0)
			return INVALID(path, "%s.exec.command: Required value", path);
		return 0;
	case POD_HANDLER_HTTP_GET: {
		static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
		if (h->scheme && !one_of(h->scheme, schemes))
			return INVALID(path,
				       "%s.httpGet.scheme: Unsupported value: \"%s\": supported "
				       "values: \"HTTP\", \"HTTPS\"",
				       path, h->scheme);
		char p[600];
		snprintf(p, sizeof(p), "%s.httpGet", path);
		for (size_t i = 0; i < h->n_headers; i++) {
			const char *n = h->headers[i].name;
			bool ok = *n != 0;
			for (const char *c = n; *c; c++)
				ok &= isgraph((unsigned char)*c) &&
				      !strchr("()<>@,;:\\\"/[]?={}", *c);
			if (!ok)
				return INVALID(path,
					       "%s.httpHeaders[%zu].name: Invalid value: \"%s\": "
					       "must be a valid HTTP header name",
					       p, i, n);
		}
		return validate_port_ref(&h->port, p, err);
	}
	case POD_HANDLER_TCP_SOCKET: {
		char p[600];
		snprintf(p, sizeof(p), "%s.tcpSocket", path);
		return validate_port_ref(&h->port, p, err);
	}
	case POD_HANDLER_SLEEP:
		if (h->sleep_seconds < 0)
			return INVALID(
			    path, "%s.sleep.seconds: Invalid value: %lld: must be non-negative",
			    path, (long long)h->sleep_seconds);
		return 0;
	default:
		return 0;
	}
}

static int validate_probe(const struct pod_probe *pr, const char *path, bool success_must_be_1,
			  ndl_error_t *err)
{
	if (!pr->present)
		return 0;
	struct {
		const char *n;
		int32_t v;
		int32_t min;
	} f[] = {
	    {"initialDelaySeconds", pr->initial_delay_seconds, 0},
	    {"timeoutSeconds", pr->timeout_seconds, 0},
	    {"periodSeconds", pr->period_seconds, 0},
	    {"successThreshold", pr->success_threshold, 0},
	    {"failureThreshold", pr->failure_threshold, 0},
	};
	for (size_t i = 0; i < 5; i++)
		if (f[i].v < f[i].min)
			return INVALID(
			    path, "%s.%s: Invalid value: %d: must be greater than or equal to 0",
			    path, f[i].n, f[i].v);
	if (success_must_be_1 && pr->success_threshold != 1)
		return INVALID(path, "%s.successThreshold: Invalid value: %d: must be 1", path,
			       pr->success_threshold);
	if (pr->termination_grace_period_seconds == 0)
		return INVALID(
		    path,
		    "%s.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
		    path);
	return validate_handler(&pr->handler, path, err);
}

static bool is_standard_resource(const char *n)
{
	static const char *const std[] = {"cpu", "memory", "ephemeral-storage", "storage", NULL};
	if (one_of(n, std) || strncmp(n, "hugepages-", 10) == 0)
		return true;
	/* Extended resources must be fully qualified and outside kubernetes.io. */
	return strchr(n, '/') && pod_is_qualified_name(n) && !strstr(n, "kubernetes.io/");
}

static int validate_resources(const struct pod_container *c, const char *path, ndl_error_t *err)
{
	/* Limits first, as the API server's ValidateResourceRequirements. */
	const struct pod_resource_list *lists[2] = {&c->limits, &c->requests};
	const char *ln[2] = {"limits", "requests"};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct pod_resource *r = &lists[l]->items[i];
			char q[64];
			if (!is_standard_resource(r->name))
				return INVALID(path,
					       "%s.resources.%s[%s]: Invalid value: \"%s\": must "
					       "be a standard resource type or fully qualified",
					       path, ln[l], r->name, r->name);
			if (r->q.milli < 0)
				return INVALID(path,
					       "%s.resources.%s[%s]: Invalid value: \"%s\": must "
					       "be greater than or equal to 0",
					       path, ln[l], r->name,
					       ndl_quantity_format(&r->q, q, sizeof(q)));
			/* Only cpu may be fractional. */
			if (strcmp(r->name, "cpu") != 0 && r->q.milli % 1000 != 0 &&
			    !r->q.milli_saturated)
				return INVALID(path,
					       "%s.resources.%s[%s]: Invalid value: \"%s\": must "
					       "be an integer",
					       path, ln[l], r->name,
					       ndl_quantity_format(&r->q, q, sizeof(q)));
		}
	}
	for (size_t i = 0; i < c->requests.n; i++) {
		const struct pod_resource *req = &c->requests.items[i];
		const struct pod_resource *lim = pod_resource_get(&c->limits, req->name);
		char a[64], b[64];
		if (lim && ndl_quantity_cmp(&req->q, &lim->q) > 0)
			return INVALID(path,
				       "%s.resources.requests: Invalid value: \"%s\": must be less "
				       "than or equal to %s limit of %s",
				       path, ndl_quantity_format(&req->q, a, sizeof(a)), req->name,
				       ndl_quantity_format(&lim->q, b, sizeof(b)));
		if (strncmp(req->name, "hugepages-", 10) == 0 && !lim)
			return INVALID(
			    path, "%s.resources.limits: Required value: %s limit must be specified",
			    path, req->name);
	}
	return 0;
}

static const struct pod_volume *find_volume(const struct pod *p, const char *name)
{
	for (size_t i = 0; i < p->n_volumes; i++)
		if (strcmp(p->volumes[i].name, name) == 0)
			return &p->volumes[i];
	return NULL;
}

static int validate_env(const struct pod_container *c, const char *path, ndl_error_t *err)
{
	static const char *const fields[] = {"metadata.name",
					     "metadata.namespace",
					     "metadata.uid",
					     "spec.nodeName",
					     "spec.serviceAccountName",
					     "status.hostIP",
					     "status.hostIPs",
					     "status.podIP",
					     "status.podIPs",
					     NULL};
	static const char *const resources[] = {"limits.cpu",
						"limits.memory",
						"limits.ephemeral-storage",
						"requests.cpu",
						"requests.memory",
						"requests.ephemeral-storage",
						NULL};
	for (size_t i = 0; i < c->n_env; i++) {
		const struct pod_env_var *e = &c->env[i];
		if (!pod_is_env_var_name(e->name))
			return INVALID(
			    path,
			    "%s.env[%zu].name: Invalid value: \"%s\": a valid environment variable "
			    "name must consist only of printable ASCII characters other than '='",
			    path, i, e->name);
		char p[600];
		if (e->source == POD_ENV_FIELD_REF) {
			snprintf(p, sizeof(p), "%s.env[%zu].valueFrom.fieldRef", path, i);
			if (e->api_version && strcmp(e->api_version, "v1") != 0)
				return INVALID(path,
					       "%s.apiVersion: Unsupported value: \"%s\": "
					       "supported values: \"v1\"",
					       p, e->api_version);
			const char *fp = e->field_path;
			bool ok = one_of(fp, fields);
			if (!ok && (strncmp(fp, "metadata.labels['", 17) == 0 ||
				    strncmp(fp, "metadata.annotations['", 22) == 0)) {
				size_t n = strlen(fp);
				ok = n > 2 && strcmp(fp + n - 2, "']") == 0;
			}
			if (!ok && (strcmp(fp, "metadata.labels") == 0 ||
				    strcmp(fp, "metadata.annotations") == 0))
				ok = false; /* whole maps only in downwardAPI volumes */
			if (!ok)
				return INVALID(path, "%s.fieldPath: Unsupported value: \"%s\"", p,
					       fp);
		} else if (e->source == POD_ENV_RESOURCE_FIELD_REF) {
			snprintf(p, sizeof(p), "%s.env[%zu].valueFrom.resourceFieldRef", path, i);
			if (!one_of(e->resource, resources) &&
			    strncmp(e->resource, "limits.hugepages-", 17) != 0 &&
			    strncmp(e->resource, "requests.hugepages-", 19) != 0)
				return INVALID(path, "%s.resource: Unsupported value: \"%s\"", p,
					       e->resource);
			if (e->divisor.milli <= 0)
				return INVALID(path, "%s.divisor: Invalid value: must be positive",
					       p);
		} else if (e->source == POD_ENV_CONFIGMAP_KEY_REF ||
			   e->source == POD_ENV_SECRET_KEY_REF) {
			snprintf(p, sizeof(p), "%s.env[%zu].valueFrom.%s", path, i,
				 e->source == POD_ENV_SECRET_KEY_REF ? "secretKeyRef"
								     : "configMapKeyRef");
			if (!e->ref_name || !*e->ref_name)
				return INVALID(path, "%s.name: Required value", p);
			if (!*e->key)
				return INVALID(path, "%s.key: Required value", p);
		}
	}
	for (size_t i = 0; i < c->n_env_from; i++) {
		const struct pod_env_from *f = &c->env_from[i];
		if (f->prefix && *f->prefix && !pod_is_env_var_name(f->prefix))
			return INVALID(path,
				       "%s.envFrom[%zu].prefix: Invalid value: \"%s\": a valid "
				       "environment variable name must consist only of printable "
				       "ASCII characters other than '='",
				       path, i, f->prefix);
		if (!pod_is_dns1123_subdomain(f->name))
			return INVALID(path,
				       "%s.envFrom[%zu].%s.name: Invalid value: \"%s\": must be a "
				       "DNS-1123 subdomain",
				       path, i, f->is_secret ? "secretRef" : "configMapRef",
				       f->name);
	}
	return 0;
}

static int validate_container(const struct pod *p, const struct pod_container *c, const char *path,
			      ndl_error_t *err)
{
	if (!pod_is_dns1123_label(c->name))
		return INVALID(path,
			       "%s.name: Invalid value: \"%s\": a lowercase RFC 1123 label must "
			       "consist of lower case alphanumeric characters or '-', and must "
			       "start and end with an alphanumeric character",
			       path, c->name);
	if (!c->image || !*c->image)
		return INVALID(path, "%s.image: Required value", path);
	/* Only surrounding whitespace is invalid (strings.TrimSpace check). */
	size_t il = strlen(c->image);
	if (isspace((unsigned char)c->image[0]) || isspace((unsigned char)c->image[il - 1]))
		return INVALID(path,
			       "%s.image: Invalid value: \"%s\": must not have leading or "
			       "trailing whitespace",
			       path, c->image);
	static const char *const protos[] = {"TCP", "UDP", "SCTP", NULL};
	for (size_t i = 0; i < c->n_ports; i++) {
		const struct pod_port *pt = &c->ports[i];
		if (pt->container_port < 1 || pt->container_port > 65535)
			return INVALID(path,
				       "%s.ports[%zu].containerPort: Invalid value: %d: must be "
				       "between 1 and 65535, inclusive",
				       path, i, pt->container_port);
		if (pt->host_port < 0 || pt->host_port > 65535)
			return INVALID(path,
				       "%s.ports[%zu].hostPort: Invalid value: %d: must be between "
				       "1 and 65535, inclusive",
				       path, i, pt->host_port);
		if (!pt->protocol || !one_of(pt->protocol, protos))
			return INVALID(path,
				       "%s.ports[%zu].protocol: Unsupported value: \"%s\": "
				       "supported values: \"SCTP\", \"TCP\", \"UDP\"",
				       path, i, pt->protocol ? pt->protocol : "");
		if (pt->name) {
			if (!pod_is_iana_svc_name(pt->name))
				return INVALID(path,
					       "%s.ports[%zu].name: Invalid value: \"%s\": must be "
					       "an IANA service name (at most 15 lower-case "
					       "letters, digits and '-', with at least one letter)",
					       path, i, pt->name);
			for (size_t j = 0; j < i; j++)
				if (c->ports[j].name && strcmp(c->ports[j].name, pt->name) == 0)
					return INVALID(
					    path, "%s.ports[%zu].name: Duplicate value: \"%s\"",
					    path, i, pt->name);
		}
		if (pt->host_ip && *pt->host_ip && !valid_ip(pt->host_ip))
			return INVALID(path,
				       "%s.ports[%zu].hostIP: Invalid value: \"%s\": must be a "
				       "valid IP address",
				       path, i, pt->host_ip);
		if (p->host_network && pt->host_port != pt->container_port)
			return INVALID(path,
				       "%s.ports[%zu].hostPort: Invalid value: %d: must match "
				       "`containerPort` when `hostNetwork` is true",
				       path, i, pt->host_port);
	}
	int r;
	if ((r = validate_env(c, path, err)) < 0 || (r = validate_resources(c, path, err)) < 0)
		return r;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct pod_volume_mount *m = &c->mounts[i];
		if (!find_volume(p, m->name))
			return INVALID(path, "%s.volumeMounts[%zu].name: Not found: \"%s\"", path,
				       i, m->name);
		if (!*m->mount_path)
			return INVALID(path, "%s.volumeMounts[%zu].mountPath: Required value", path,
				       i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->mounts[j].mount_path, m->mount_path) == 0)
				return INVALID(path,
					       "%s.volumeMounts[%zu].mountPath: Invalid value: "
					       "\"%s\": must be unique",
					       path, i, m->mount_path);
		if (m->sub_path && *m->sub_path && !is_safe_relative(m->sub_path))
			return INVALID(path,
				       "%s.volumeMounts[%zu].subPath: Invalid value: \"%s\": must "
				       "be a relative path without '..'",
				       path, i, m->sub_path);
		if (m->sub_path && *m->sub_path && m->sub_path_expr && *m->sub_path_expr)
			return INVALID(path,
				       "%s.volumeMounts[%zu].subPathExpr: Invalid value: \"%s\": "
				       "subPathExpr and subPath are mutually exclusive",
				       path, i, m->sub_path_expr);
		static const char *const props[] = {"None", "HostToContainer", "Bidirectional",
						    NULL};
		if (m->mount_propagation && !one_of(m->mount_propagation, props))
			return INVALID(
			    path,
			    "%s.volumeMounts[%zu].mountPropagation: Unsupported value: \"%s\": "
			    "supported values: \"Bidirectional\", \"HostToContainer\", \"None\"",
			    path, i, m->mount_propagation);
		if (m->mount_propagation && strcmp(m->mount_propagation, "Bidirectional") == 0 &&
		    c->sc.privileged != TRI_TRUE)
			return INVALID(
			    path,
			    "%s.volumeMounts[%zu].mountPropagation: Forbidden: Bidirectional mount "
			    "propagation is available only to privileged containers",
			    path, i);
	}
	bool sidecar = c->is_init && c->restart_policy && strcmp(c->restart_policy, "Always") == 0;
	if (c->restart_policy) {
		if (!c->is_init)
			return INVALID(
			    path,
			    "%s.restartPolicy: Forbidden: may not be set for non-init containers",
			    path);
		if (strcmp(c->restart_policy, "Always") != 0)
			return INVALID(path,
				       "%s.restartPolicy: Unsupported value: \"%s\": supported "
				       "values: \"Always\"",
				       path, c->restart_policy);
	}
	char pp[600];
	if (c->is_init && !sidecar) {
		if (c->liveness.present)
			return INVALID(path,
				       "%s.livenessProbe: Forbidden: may not be set for init "
				       "containers without restartPolicy=Always",
				       path);
		if (c->readiness.present)
			return INVALID(path,
				       "%s.readinessProbe: Forbidden: may not be set for init "
				       "containers without restartPolicy=Always",
				       path);
		if (c->startup.present)
			return INVALID(path,
				       "%s.startupProbe: Forbidden: may not be set for init "
				       "containers without restartPolicy=Always",
				       path);
		if (c->post_start.type || c->pre_stop.type)
			return INVALID(path,
				       "%s.lifecycle: Forbidden: may not be set for init "
				       "containers without restartPolicy=Always",
				       path);
	}
	snprintf(pp, sizeof(pp), "%s.livenessProbe", path);
	if ((r = validate_probe(&c->liveness, pp, true, err)) < 0)
		return r;
	snprintf(pp, sizeof(pp), "%s.readinessProbe", path);
	if ((r = validate_probe(&c->readiness, pp, false, err)) < 0)
		return r;
	if (c->readiness.present && c->readiness.termination_grace_period_seconds >= 0)
		return INVALID(path,
			       "%s.terminationGracePeriodSeconds: Invalid value: must not be set "
			       "for readinessProbes",
			       pp);
	snprintf(pp, sizeof(pp), "%s.startupProbe", path);
	if ((r = validate_probe(&c->startup, pp, true, err)) < 0)
		return r;
	snprintf(pp, sizeof(pp), "%s.lifecycle.postStart", path);
	if (c->post_start.type && (r = validate_handler(&c->post_start, pp, err)) < 0)
		return r;
	snprintf(pp, sizeof(pp), "%s.lifecycle.preStop", path);
	if (c->pre_stop.type && (r = validate_handler(&c->pre_stop, pp, err)) < 0)
		return r;
	static const char *const tmp[] = {"File", "FallbackToLogsOnError", NULL};
	if (!c->termination_message_policy || !one_of(c->termination_message_policy, tmp))
		return INVALID(path,
			       "%s.terminationMessagePolicy: Unsupported value: \"%s\": supported "
			       "values: \"File\", \"FallbackToLogsOnError\"",
			       path,
			       c->termination_message_policy ? c->termination_message_policy : "");
	if (c->termination_message_path && strlen(c->termination_message_path) > 4096)
		return INVALID(path,
			       "%s.terminationMessagePath: Too long: must have at most 4096 bytes",
			       path);
	static const char *const ipp[] = {"Always", "IfNotPresent", "Never", NULL};
	if (!c->image_pull_policy || !one_of(c->image_pull_policy, ipp))
		return INVALID(path,
			       "%s.imagePullPolicy: Unsupported value: \"%s\": supported values: "
			       "\"Always\", \"IfNotPresent\", \"Never\"",
			       path, c->image_pull_policy ? c->image_pull_policy : "");
	if (c->stdin_once && !c->stdin)
		return INVALID(path, "%s.stdinOnce: Forbidden: stdinOnce requires stdin", path);
	if (c->has_security_context) {
		const struct pod_container_security *s = &c->sc;
		if (s->has_run_as_user && (s->run_as_user < 0 || s->run_as_user > 2147483647))
			return INVALID(path,
				       "%s.securityContext.runAsUser: Invalid value: %lld: must be "
				       "between 0 and 2147483647, inclusive",
				       path, (long long)s->run_as_user);
		if (s->has_run_as_group && (s->run_as_group < 0 || s->run_as_group > 2147483647))
			return INVALID(path,
				       "%s.securityContext.runAsGroup: Invalid value: %lld: must "
				       "be between 0 and 2147483647, inclusive",
				       path, (long long)s->run_as_group);
		if (s->allow_privilege_escalation == TRI_FALSE && s->privileged == TRI_TRUE)
			return INVALID(
			    path,
			    "%s.securityContext: Invalid value: cannot set "
			    "`allowPrivilegeEscalation` to false and `privileged` to true",
			    path);
		static const char *const pm[] = {"Default", "Unmasked", NULL};
		if (s->proc_mount && !one_of(s->proc_mount, pm))
			return INVALID(path,
				       "%s.securityContext.procMount: Unsupported value: \"%s\": "
				       "supported values: \"Default\", \"Unmasked\"",
				       path, s->proc_mount);
		snprintf(pp, sizeof(pp), "%s.securityContext.seccompProfile", path);
		static const char *const st[] = {"RuntimeDefault", "Unconfined", "Localhost", NULL};
		if (s->seccomp.type) {
			if (!one_of(s->seccomp.type, st))
				return INVALID(
				    path,
				    "%s.type: Unsupported value: \"%s\": supported values: "
				    "\"Localhost\", \"RuntimeDefault\", \"Unconfined\"",
				    pp, s->seccomp.type);
			bool lh = strcmp(s->seccomp.type, "Localhost") == 0;
			if (lh && (!s->seccomp.localhost_profile || !*s->seccomp.localhost_profile))
				return INVALID(path,
					       "%s.localhostProfile: Required value: must be set "
					       "when seccomp type is Localhost",
					       pp);
			if (!lh && s->seccomp.localhost_profile)
				return INVALID(path,
					       "%s.localhostProfile: Invalid value: can only be "
					       "set when seccomp type is Localhost",
					       pp);
		}
	}
	return 0;
}

static int validate_volume(const struct pod_volume *v, const char *path, ndl_error_t *err)
{
	if (!pod_is_dns1123_label(v->name))
		return INVALID(path,
			       "%s.name: Invalid value: \"%s\": a lowercase RFC 1123 label must "
			       "consist of lower case alphanumeric characters or '-', and must "
			       "start and end with an alphanumeric character",
			       path, v->name);
	static const char *const hpt[] = {
	    "",		  "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
	    "CharDevice", "BlockDevice",       NULL};
	switch (v->type) {
	case POD_VOL_EMPTY_DIR:
		if (v->medium && *v->medium && strcmp(v->medium, "Memory") != 0 &&
		    strcmp(v->medium, "HugePages") != 0 &&
		    strncmp(v->medium, "HugePages-", 10) != 0)
			return INVALID(path,
				       "%s.emptyDir.medium: Unsupported value: \"%s\": supported "
				       "values: \"\", \"Memory\", \"HugePages\"",
				       path, v->medium);
		if (v->has_size_limit && v->size_limit.milli < 0)
			return INVALID(path,
				       "%s.emptyDir.sizeLimit: Invalid value: must be greater than "
				       "or equal to 0",
				       path);
		break;
	case POD_VOL_HOST_PATH:
		if (!*v->path)
			return INVALID(path, "%s.hostPath.path: Required value", path);
		if (v->host_path_type && !one_of(v->host_path_type, hpt))
			return INVALID(
			    path,
			    "%s.hostPath.type: Unsupported value: \"%s\": supported values: \"\", "
			    "\"BlockDevice\", \"CharDevice\", \"Directory\", "
			    "\"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
			    path, v->host_path_type);
		for (const char *p = v->path; *p;) {
			const char *s = strchr(p, '/');
			size_t n = s ? (size_t)(s - p) : strlen(p);
			if (n == 2 && p[0] == '.' && p[1] == '.')
				return INVALID(path,
					       "%s.hostPath.path: Invalid value: \"%s\": must not "
					       "contain '..'",
					       path, v->path);
			if (!s)
				break;
			p = s + 1;
		}
		break;
	case POD_VOL_CONFIG_MAP:
	case POD_VOL_SECRET:
	case POD_VOL_DOWNWARD_API:
	case POD_VOL_PROJECTED: {
		const char *k = v->type == POD_VOL_CONFIG_MAP  ? "configMap"
				: v->type == POD_VOL_SECRET    ? "secret"
				: v->type == POD_VOL_PROJECTED ? "projected"
							       : "downwardAPI";
		if (v->default_mode < 0 || v->default_mode > 0777)
			return INVALID(path,
				       "%s.%s.defaultMode: Invalid value: %d: must be a number "
				       "between 0 and 0777 (octal), both inclusive",
				       path, k, v->default_mode);
		if (v->type == POD_VOL_CONFIG_MAP && (!v->source_name || !*v->source_name))
			return INVALID(path, "%s.configMap.name: Required value", path);
		if (v->type == POD_VOL_SECRET && (!v->source_name || !*v->source_name))
			return INVALID(path, "%s.secret.secretName: Required value", path);
		if (v->type != POD_VOL_PROJECTED && v->items) {
			size_t i;
			json_t *e;
			json_array_foreach(v->items, i, e)
			{
				const char *ip = json_string_value(json_object_get(e, "path"));
				if (!ip || !*ip)
					return INVALID(path,
						       "%s.%s.items[%zu].path: Required value",
						       path, k, i);
				if (!is_safe_relative(ip))
					return INVALID(
					    path,
					    "%s.%s.items[%zu].path: Invalid value: \"%s\": must be "
					    "a relative path without '..'",
					    path, k, i, ip);
				if (v->type != POD_VOL_DOWNWARD_API &&
				    !json_is_string(json_object_get(e, "key")))
					return INVALID(path, "%s.%s.items[%zu].key: Required value",
						       path, k, i);
			}
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

int pod_validate(const struct pod *p, ndl_error_t *err)
{
	if (!*p->name)
		return INVALID("",
			       "metadata.name: Required value: name or generateName is required");
	if (!pod_is_dns1123_subdomain(p->name))
		return INVALID("",
			       "metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 "
			       "subdomain must consist of lower case alphanumeric characters, '-' "
			       "or '.', and must start and end with an alphanumeric character",
			       p->name);
	if (*p->namespace && !pod_is_dns1123_label(p->namespace))
		return INVALID("",
			       "metadata.namespace: Invalid value: \"%s\": a lowercase RFC 1123 "
			       "label must consist of lower case alphanumeric characters or '-'",
			       p->namespace);
	const char *k;
	json_t *v;
	json_object_foreach(p->labels, k, v)
	{
		if (!pod_is_qualified_name(k))
			return INVALID(
			    "",
			    "metadata.labels: Invalid value: \"%s\": name part must consist of "
			    "alphanumeric characters, '-', '_' or '.', and must start and end with "
			    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
			    "'123-abc'), with an optional DNS subdomain prefix and '/'",
			    k);
		if (!is_label_value(json_string_value(v)))
			return INVALID(
			    "",
			    "metadata.labels: Invalid value: \"%s\": a valid label must be an "
			    "empty string or consist of alphanumeric characters, '-', '_' or '.', "
			    "and must start and end with an alphanumeric character",
			    json_string_value(v));
	}
	size_t total = 0;
	json_object_foreach(p->annotations, k, v)
	{
		if (!pod_is_qualified_name(k))
			return INVALID(
			    "",
			    "metadata.annotations: Invalid value: \"%s\": must be a qualified name",
			    k);
		total += strlen(k) + strlen(json_string_value(v));
	}
	if (total > 256 * 1024)
		return INVALID("",
			       "metadata.annotations: Too long: must have at most 262144 bytes");
	if (p->n_containers == 0)
		return INVALID("", "spec.containers: Required value");
	int r;
	for (size_t i = 0; i < p->n_volumes; i++) {
		char path[64];
		snprintf(path, sizeof(path), "spec.volumes[%zu]", i);
		if ((r = validate_volume(&p->volumes[i], path, err)) < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->volumes[j].name, p->volumes[i].name) == 0)
				return INVALID(path, "%s.name: Duplicate value: \"%s\"", path,
					       p->volumes[i].name);
	}
	/* Container names are unique across init and regular containers. */
	struct {
		const struct pod_container *v;
		size_t n;
		const char *key;
	} groups[2] = {{p->init_containers, p->n_init_containers, "initContainers"},
		       {p->containers, p->n_containers, "containers"}};
	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < groups[g].n; i++) {
			char path[64];
			snprintf(path, sizeof(path), "spec.%s[%zu]", groups[g].key, i);
			const struct pod_container *c = &groups[g].v[i];
			if ((r = validate_container(p, c, path, err)) < 0)
				return r;
			for (int g2 = 0; g2 <= g; g2++)
				for (size_t j = 0; j < (g2 == g ? i : groups[g2].n); j++)
					if (strcmp(groups[g2].v[j].name, c->name) == 0)
						return INVALID(path,
							       "%s.name: Duplicate value: \"%s\"",
							       path, c->name);
		}
	}
	/* Host ports are unique per protocol and host IP among the containers
	 * of a group (AccumulateUniqueHostPorts). */
	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < groups[g].n; i++) {
			const struct pod_container *c = &groups[g].v[i];
			for (size_t pi = 0; pi < c->n_ports; pi++) {
				const struct pod_port *a = &c->ports[pi];
				if (a->host_port == 0)
					continue;
				for (size_t j = 0; j <= i; j++) {
					const struct pod_container *d = &groups[g].v[j];
					for (size_t m = 0; m < (j == i ? pi : d->n_ports); m++) {
						const struct pod_port *b = &d->ports[m];
						const char *ia = a->host_ip ? a->host_ip : "";
						const char *ib = b->host_ip ? b->host_ip : "";
						if (b->host_port == a->host_port &&
						    strcmp(a->protocol, b->protocol) == 0 &&
						    strcmp(ia, ib) == 0)
							return INVALID("",
								       "spec.%s[%zu].ports[%zu]."
								       "hostPort: Duplicate value: "
								       "\"%s/%s/%d\"",
								       groups[g].key, i, pi,
								       a->protocol, ia,
								       a->host_port);
					}
				}
			}
		}
	}
	static const char *const rp[] = {"Always", "OnFailure", "Never", NULL};
	if (!p->restart_policy || !one_of(p->restart_policy, rp))
		return INVALID("",
			       "spec.restartPolicy: Unsupported value: \"%s\": supported values: "
			       "\"Always\", \"OnFailure\", \"Never\"",
			       p->restart_policy ? p->restart_policy : "");
	static const char *const dp[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default",
					 "None", NULL};
	if (!p->dns_policy || !one_of(p->dns_policy, dp))
		return INVALID(
		    "",
		    "spec.dnsPolicy: Unsupported value: \"%s\": supported values: "
		    "\"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\"",
		    p->dns_policy ? p->dns_policy : "");
	bool has_dns_config =
	    json_is_object(json_object_get(json_object_get(p->json, "spec"), "dnsConfig"));
	if (strcmp(p->dns_policy, "None") == 0 && (!has_dns_config || p->dns_nameservers.n == 0))
		return INVALID("", "spec.dnsConfig: Required value: must provide at least one DNS "
				   "nameserver when DNSPolicy is set to None");
	if (p->dns_nameservers.n > 3)
		return INVALID("", "spec.dnsConfig.nameservers: Invalid value: must not have more "
				   "than 3 nameservers");
	for (size_t i = 0; i < p->dns_nameservers.n; i++)
		if (!valid_ip(p->dns_nameservers.v[i]))
			return INVALID("",
				       "spec.dnsConfig.nameservers[%zu]: Invalid value: \"%s\": "
				       "must be valid IP address",
				       i, p->dns_nameservers.v[i]);
	if (p->dns_searches.n > 32)
		return INVALID("", "spec.dnsConfig.searches: Invalid value: must not have more "
				   "than 32 search paths");
	for (size_t i = 0; i < p->dns_searches.n; i++) {
		const char *s = p->dns_searches.v[i];
		char tmp[256];
		size_t n = strlen(s);
		/* A trailing dot is allowed; the rest must be a subdomain. */
		if (n >= sizeof(tmp) || n == 0)
			return INVALID("", "spec.dnsConfig.searches[%zu]: Invalid value: \"%s\"", i,
				       s);
		memcpy(tmp, s, n + 1);
		if (n > 1 && tmp[n - 1] == '.')
			tmp[n - 1] = 0;
		if (strcmp(tmp, ".") != 0 && !pod_is_dns1123_subdomain(tmp))
			return INVALID("",
				       "spec.dnsConfig.searches[%zu]: Invalid value: \"%s\": must "
				       "be a DNS-1123 subdomain",
				       i, s);
	}
	if (p->dns_options) {
		size_t i;
		json_t *e;
		json_array_foreach(p->dns_options, i, e)
		{
			const char *n = json_string_value(json_object_get(e, "name"));
			if (!n || !*n)
				return INVALID(
				    "", "spec.dnsConfig.options[%zu].name: Required value", i);
		}
	}
	if (p->has_termination_grace_period_seconds && p->termination_grace_period_seconds < 0)
		return INVALID("",
			       "spec.terminationGracePeriodSeconds: Invalid value: %lld: must be "
			       "greater than or equal to 0",
			       (long long)p->termination_grace_period_seconds);
	if (p->has_active_deadline_seconds &&
	    (p->active_deadline_seconds < 1 || p->active_deadline_seconds > 2147483647))
		return INVALID("",
			       "spec.activeDeadlineSeconds: Invalid value: %lld: must be between 1 "
			       "and 2147483647, inclusive",
			       (long long)p->active_deadline_seconds);
	if (p->hostname && *p->hostname && !pod_is_dns1123_label(p->hostname))
		return INVALID("",
			       "spec.hostname: Invalid value: \"%s\": a lowercase RFC 1123 label "
			       "must consist of lower case alphanumeric characters or '-'",
			       p->hostname);
	if (p->subdomain && *p->subdomain && !pod_is_dns1123_label(p->subdomain))
		return INVALID("",
			       "spec.subdomain: Invalid value: \"%s\": a lowercase RFC 1123 label "
			       "must consist of lower case alphanumeric characters or '-'",
			       p->subdomain);
	if (p->share_process_namespace && p->host_pid)
		return INVALID("",
			       "spec.securityContext.shareProcessNamespace: Invalid value: true: "
			       "ShareProcessNamespace and HostPID cannot both be enabled");
	if (p->has_run_as_user && (p->run_as_user < 0 || p->run_as_user > 2147483647))
		return INVALID("",
			       "spec.securityContext.runAsUser: Invalid value: %lld: must be "
			       "between 0 and 2147483647, inclusive",
			       (long long)p->run_as_user);
	if (p->has_run_as_group && (p->run_as_group < 0 || p->run_as_group > 2147483647))
		return INVALID("",
			       "spec.securityContext.runAsGroup: Invalid value: %lld: must be "
			       "between 0 and 2147483647, inclusive",
			       (long long)p->run_as_group);
	if (p->has_fs_group && (p->fs_group < 0 || p->fs_group > 2147483647))
		return INVALID("",
			       "spec.securityContext.fsGroup: Invalid value: %lld: must be between "
			       "0 and 2147483647, inclusive",
			       (long long)p->fs_group);
	for (size_t i = 0; i < p->n_supplemental_groups; i++)
		if (p->supplemental_groups[i] < 0 || p->supplemental_groups[i] > 2147483647)
			return INVALID("",
				       "spec.securityContext.supplementalGroups[%zu]: Invalid "
				       "value: %lld: must be between 0 and 2147483647, inclusive",
				       i, (long long)p->supplemental_groups[i]);
	for (size_t i = 0; i < p->n_sysctls; i++) {
		const char *n = p->sysctls[i].name;
		bool ok = *n && strlen(n) <= 253;
		for (const char *c = n; *c && ok; c++)
			ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
			     *c == '.' || *c == '-' || *c == '/';
		if (!ok || n[0] == '.' || n[0] == '/')
			return INVALID("",
				       "spec.securityContext.sysctls[%zu].name: Invalid value: "
				       "\"%s\": must have at most 253 characters and match regex "
				       "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./"
				       "])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
				       i, n);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->sysctls[j].name, n) == 0)
				return INVALID("",
					       "spec.securityContext.sysctls[%zu].name: Duplicate "
					       "value: \"%s\"",
					       i, n);
	}
	static const char *const st[] = {"RuntimeDefault", "Unconfined", "Localhost", NULL};
	if (p->seccomp.type) {
		if (!one_of(p->seccomp.type, st))
			return INVALID(
			    "",
			    "spec.securityContext.seccompProfile.type: Unsupported value: \"%s\": "
			    "supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\"",
			    p->seccomp.type);
		bool lh = strcmp(p->seccomp.type, "Localhost") == 0;
		if (lh && (!p->seccomp.localhost_profile || !*p->seccomp.localhost_profile))
			return INVALID(
			    "", "spec.securityContext.seccompProfile.localhostProfile: Required "
				"value: must be set when seccomp type is Localhost");
		if (!lh && p->seccomp.localhost_profile)
			return INVALID(
			    "", "spec.securityContext.seccompProfile.localhostProfile: Invalid "
				"value: can only be set when seccomp type is Localhost");
	}
	for (size_t i = 0; i < p->n_host_aliases; i++) {
		if (!valid_ip(p->host_aliases[i].ip))
			return INVALID("",
				       "spec.hostAliases[%zu].ip: Invalid value: \"%s\": must be a "
				       "valid IP address",
				       i, p->host_aliases[i].ip);
		for (size_t j = 0; j < p->host_aliases[i].hostnames.n; j++)
			if (!pod_is_dns1123_subdomain(p->host_aliases[i].hostnames.v[j]))
				return INVALID("",
					       "spec.hostAliases[%zu].hostnames[%zu]: Invalid "
					       "value: \"%s\": must be a DNS-1123 subdomain",
					       i, j, p->host_aliases[i].hostnames.v[j]);
	}
	return 0;
}
