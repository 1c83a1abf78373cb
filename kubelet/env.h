/* A container's environment and command line as the kubelet builds them
 * (kubelet_pods.go makeEnvironmentVariables + ExpandContainerCommandAndArgs):
 * env in declaration order, each value expanded against the variables
 * defined before it; fieldRef / resourceFieldRef resolved; command and args
 * expanded against the final environment. */
#pragma once

#include <stdint.h>

#include "kubelet/pod.h"
#include "lib/error.h"

/* What the environment needs from outside the pod spec. */
struct kubelet_env_context {
	const char *pod_ip;   /* status.podIP ("" before the sandbox has one) */
	const char *pod_ips;  /* status.podIPs, comma-separated */
	const char *host_ip;  /* status.hostIP */
	const char *host_ips; /* status.hostIPs, comma-separated */
	/* Node allocatable, used for limits.* when a container has no limit. */
	int64_t alloc_cpu_milli;
	int64_t alloc_memory;
	int64_t alloc_ephemeral_storage;
};

struct kubelet_env {
	char **names, **values;
	size_t n;
};

void kubelet_env_free(struct kubelet_env *env);
const char *kubelet_env_get(const struct kubelet_env *env, const char *name);

/* Build the environment. configMapKeyRef / secretKeyRef / envFrom need the
 * API server: an optional reference is skipped, a required one is an error
 * naming the field (standalone mode has no ConfigMaps or Secrets). */
int kubelet_container_env(const struct pod *p, const struct pod_container *c,
			  const struct kubelet_env_context *ctx, struct kubelet_env *ret,
			  ndl_error_t *err);

/* A downward-API field value (metadata.name, metadata.labels['k'], ...). */
int kubelet_pod_field_value(const struct pod *p, const char *field_path,
			    const struct kubelet_env_context *ctx, char **ret, ndl_error_t *err);

/* A resourceFieldRef value: ceil(quantity / divisor) as the kubelet prints. */
int kubelet_container_resource_value(const struct pod_container *c, const char *resource,
				     const ndl_quantity_t *divisor,
				     const struct kubelet_env_context *ctx, char **ret,
				     ndl_error_t *err);

/* command and args with $(VAR) expanded against env (new arrays). */
void kubelet_expand_command(const struct pod_container *c, const struct kubelet_env *env,
			    struct pod_strv *ret_command, struct pod_strv *ret_args);
void kubelet_strv_free(struct pod_strv *v);
