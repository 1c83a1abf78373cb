/* Container environment and command expansion, as the kubelet does it. */
#include "env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/qos.h"
#include "lib/xalloc.h"

void kubelet_env_free(struct kubelet_env *env)
{
	for (size_t i = 0; i < env->n; i++) {
		free(env->names[i]);
		free(env->values[i]);
	}
	free(env->names);
	free(env->values);
	env->names = env->values = NULL;
	env->n = 0;
}

const char *kubelet_env_get(const struct kubelet_env *env, const char *name)
{
	for (size_t i = 0; i < env->n; i++)
		if (strcmp(env->names[i], name) == 0)
			return env->values[i];
	return NULL;
}

/* A later definition of the same name replaces the value in place. */
static void env_set(struct kubelet_env *env, const char *name, char *value)
{
	for (size_t i = 0; i < env->n; i++) {
		if (strcmp(env->names[i], name) == 0) {
			free(env->values[i]);
			env->values[i] = value;
			return;
		}
	}
	env->names = xrealloc(env->names, (env->n + 1) * sizeof(char *));
	env->values = xrealloc(env->values, (env->n + 1) * sizeof(char *));
	env->names[env->n] = xstrdup(name);
	env->values[env->n] = value;
	env->n++;
}

static const char *env_lookup(const char *name, void *ud)
{
	return kubelet_env_get(ud, name);
}

/* metadata.labels['key'] -> key */
static char *bracket_key(const char *path, const char *prefix)
{
	size_t pl = strlen(prefix), n = strlen(path);
	if (strncmp(path, prefix, pl) != 0 || n < pl + 2 || strcmp(path + n - 2, "']") != 0)
		return NULL;
	return xstrndup(path + pl, n - pl - 2);
}

int kubelet_pod_field_value(const struct pod *p, const char *fp,
			    const struct kubelet_env_context *ctx, char **ret, ndl_error_t *err)
{
	const char *v = NULL;
	char *key;
	if (strcmp(fp, "metadata.name") == 0)
		v = p->name;
	else if (strcmp(fp, "metadata.namespace") == 0)
		v = p->namespace;
	else if (strcmp(fp, "metadata.uid") == 0)
		v = p->uid;
	else if (strcmp(fp, "spec.nodeName") == 0)
		v = p->node_name ? p->node_name : "";
	else if (strcmp(fp, "spec.serviceAccountName") == 0)
		v = p->service_account_name ? p->service_account_name : "";
	else if (strcmp(fp, "status.hostIP") == 0)
		v = ctx && ctx->host_ip ? ctx->host_ip : "";
	else if (strcmp(fp, "status.hostIPs") == 0)
		v = ctx && ctx->host_ips ? ctx->host_ips
					 : (ctx && ctx->host_ip ? ctx->host_ip : "");
	else if (strcmp(fp, "status.podIP") == 0)
		v = ctx && ctx->pod_ip ? ctx->pod_ip : "";
	else if (strcmp(fp, "status.podIPs") == 0)
		v = ctx && ctx->pod_ips ? ctx->pod_ips : (ctx && ctx->pod_ip ? ctx->pod_ip : "");
	else if ((key = bracket_key(fp, "metadata.labels['"))) {
		v = json_string_value(json_object_get(p->labels, key));
		free(key);
		v = v ? v : "";
	} else if ((key = bracket_key(fp, "metadata.annotations['"))) {
		v = json_string_value(json_object_get(p->annotations, key));
		free(key);
		v = v ? v : "";
	} else {
		return ndl_error_setf(err, EINVAL, "unsupported fieldPath \"%s\"", fp);
	}
	*ret = xstrdup(v);
	return 0;
}

int kubelet_container_resource_value(const struct pod_container *c, const char *resource,
				     const ndl_quantity_t *divisor,
				     const struct kubelet_env_context *ctx, char **ret,
				     ndl_error_t *err)
{
	const char *dot = strchr(resource, '.');
	if (!dot)
		return ndl_error_setf(err, EINVAL, "unsupported resource \"%s\"", resource);
	bool limits = strncmp(resource, "limits.", 7) == 0;
	if (!limits && strncmp(resource, "requests.", 9) != 0)
		return ndl_error_setf(err, EINVAL, "unsupported resource \"%s\"", resource);
	const char *name = dot + 1;
	const struct pod_resource *r = pod_resource_get(limits ? &c->limits : &c->requests, name);
	ndl_quantity_t q = {0};
	if (r) {
		q = r->q;
	} else if (limits && ctx) {
		/* No limit: the node's allocatable is the effective limit. */
		if (strcmp(name, "cpu") == 0)
			q = ndl_quantity_from_milli(ctx->alloc_cpu_milli, NDL_QUANTITY_DECIMAL_SI);
		else if (strcmp(name, "memory") == 0)
			q = ndl_quantity_from_value(ctx->alloc_memory, NDL_QUANTITY_BINARY_SI);
		else if (strcmp(name, "ephemeral-storage") == 0)
			q = ndl_quantity_from_value(ctx->alloc_ephemeral_storage,
						    NDL_QUANTITY_BINARY_SI);
	}
	ndl_quantity_t one = ndl_quantity_from_value(1, NDL_QUANTITY_DECIMAL_SI);
	const ndl_quantity_t *d = divisor && !ndl_quantity_is_zero(divisor) ? divisor : &one;
	long long v;
	if (strcmp(name, "cpu") == 0) {
		if (d->milli <= 0)
			return ndl_error_setf(err, EINVAL, "divisor must be positive");
		v = (long long)ceil((double)q.milli / (double)d->milli);
	} else {
		if (d->value <= 0)
			return ndl_error_setf(err, EINVAL, "divisor must be positive");
		v = (long long)ceil((double)q.value / (double)d->value);
	}
	*ret = xasprintf("%lld", v);
	return 0;
}

int kubelet_container_env(const struct pod *p, const struct pod_container *c,
			  const struct kubelet_env_context *ctx, struct kubelet_env *ret,
			  ndl_error_t *err)
{
	struct kubelet_env env = {0};
	for (size_t i = 0; i < c->n_env_from; i++) {
		const struct pod_env_from *f = &c->env_from[i];
		if (f->optional)
			continue;
		kubelet_env_free(&env);
		return ndl_error_setf(
		    err, ENOENT,
		    "envFrom[%zu]: %s \"%s/%s\" is not available without an API server", i,
		    f->is_secret ? "secret" : "configmap", p->namespace, f->name);
	}
	for (size_t i = 0; i < c->n_env; i++) {
		const struct pod_env_var *e = &c->env[i];
		char *val = NULL;
		int r = 0;
		switch (e->source) {
		case POD_ENV_VALUE:
			/* Expansion sees only what was defined before. */
			val = kubelet_expand(e->value ? e->value : "", env_lookup, &env);
			break;
		case POD_ENV_FIELD_REF:
			r = kubelet_pod_field_value(p, e->field_path, ctx, &val, err);
			break;
		case POD_ENV_RESOURCE_FIELD_REF: {
			const struct pod_container *target = c;
			if (e->container_name && *e->container_name) {
				target = pod_find_container(p, e->container_name);
				if (!target) {
					r = ndl_error_setf(err, EINVAL,
							   "container \"%s\" not found",
							   e->container_name);
					break;
				}
			}
			r = kubelet_container_resource_value(target, e->resource, &e->divisor, ctx,
							     &val, err);
			break;
		}
		case POD_ENV_CONFIGMAP_KEY_REF:
		case POD_ENV_SECRET_KEY_REF:
			if (e->optional)
				continue;
			r = ndl_error_setf(
			    err, ENOENT, "%s \"%s/%s\" is not available without an API server",
			    e->source == POD_ENV_SECRET_KEY_REF ? "secret" : "configmap",
			    p->namespace, e->ref_name);
			break;
		}
		if (r < 0) {
			kubelet_env_free(&env);
			return ndl_error_wrap(err, "env[%zu] %s", i, e->name);
		}
		env_set(&env, e->name, val);
	}
	*ret = env;
	return 0;
}

static void expand_strv(const struct pod_strv *in, const struct kubelet_env *env,
			struct pod_strv *out)
{
	out->v = xcalloc(in->n + 1, sizeof(char *));
	out->n = in->n;
	for (size_t i = 0; i < in->n; i++)
		out->v[i] = kubelet_expand(in->v[i], env_lookup, (void *)env);
}

void kubelet_expand_command(const struct pod_container *c, const struct kubelet_env *env,
			    struct pod_strv *ret_command, struct pod_strv *ret_args)
{
	expand_strv(&c->command, env, ret_command);
	expand_strv(&c->args, env, ret_args);
}

void kubelet_strv_free(struct pod_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}
