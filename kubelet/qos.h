/* What the kubelet derives from a pod's resources: QoS class, the CRI
 * LinuxContainerResources (cpu shares/quota/period, memory limit,
 * oom_score_adj), $(VAR) expansion and the container restart back-off. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kubelet/pod.h"

enum pod_qos_class { POD_QOS_BEST_EFFORT = 0, POD_QOS_BURSTABLE, POD_QOS_GUARANTEED };

enum pod_qos_class pod_qos_class(const struct pod *p);
const char *pod_qos_class_name(enum pod_qos_class q); /* "BestEffort", "Burstable", "Guaranteed" */

/* cm.MilliCPUToShares / MilliCPUToQuota. */
#define KUBELET_MIN_SHARES	2
#define KUBELET_MAX_SHARES	262144
#define KUBELET_QUOTA_PERIOD_US 100000
#define KUBELET_MIN_QUOTA_US	1000
int64_t kubelet_milli_cpu_to_shares(int64_t milli_cpu);
int64_t kubelet_milli_cpu_to_quota(int64_t milli_cpu, int64_t period_us);

#define KUBELET_GUARANTEED_OOM_SCORE_ADJ (-997)
#define KUBELET_BESTEFFORT_OOM_SCORE_ADJ 1000

/* qos.GetContainerOOMScoreAdjust. memory_capacity is the node's bytes. */
int kubelet_container_oom_score_adj(const struct pod *p, const struct pod_container *c,
				    int64_t memory_capacity);

/* The CRI LinuxContainerResources fields the kubelet fills from the spec. */
struct kubelet_linux_resources {
	int64_t cpu_period;
	int64_t cpu_quota;
	int64_t cpu_shares;
	int64_t memory_limit_in_bytes;
	int64_t oom_score_adj;
};

/* generateLinuxContainerResources with cpuCFSQuota on and the given period
 * (microseconds, normally 100000). */
void kubelet_container_linux_resources(const struct pod *p, const struct pod_container *c,
				       int64_t memory_capacity, bool cpu_cfs_quota,
				       int64_t cpu_period_us, struct kubelet_linux_resources *ret);

/* The pod-level cgroup settings (cm.ResourceConfigForPod): cpu shares from
 * the pod's requests, CFS quota and memory limit when every container
 * declares them (always for Guaranteed; BestEffort gets the minimum shares
 * only). Pod requests/limits are the kubelet's PodRequests/PodLimits: the
 * sum of the regular containers and sidecars, or the largest init container
 * (plus the sidecars started before it) when that is larger. */
struct kubelet_pod_cgroup_config {
	bool has_cpu_shares, has_cpu_quota, has_memory;
	int64_t cpu_shares;
	int64_t cpu_quota;  /* -1 when CFS quota is not enforced */
	int64_t cpu_period; /* with cpu_quota */
	int64_t memory;	    /* bytes */
};
void kubelet_pod_resource_config(const struct pod *p, bool enforce_cpu_limits,
				 int64_t cpu_period_us, struct kubelet_pod_cgroup_config *ret);
/* PodRequests / PodLimits of one resource ("cpu" in milli, else value). */
int64_t kubelet_pod_requests(const struct pod *p, const char *resource);
int64_t kubelet_pod_limits(const struct pod *p, const char *resource);

/* Static pods, mirror pods and priority >= system-cluster-critical. */
bool pod_is_critical(const struct pod *p);

/* The kubelet's $(VAR) expansion (third_party/forked/golang/expansion):
 * $(NAME) is replaced by lookup(NAME) when it returns non-NULL, else left
 * as written; $$ is an escaped '$'; anything else is copied. Returns a new
 * string. */
typedef const char *(*kubelet_expand_lookup_fn)(const char *name, void *userdata);
char *kubelet_expand(const char *in, kubelet_expand_lookup_fn lookup, void *userdata);

/* Restart back-off (flowcontrol.Backoff as the kubelet configures it):
 * 10 s, doubling, capped at 300 s; forgotten when nothing happened for
 * 2 * 300 s (i.e. after 10 minutes of running without a restart). */
#define KUBELET_BACKOFF_INITIAL_NS (10LL * 1000000000LL)
#define KUBELET_BACKOFF_MAX_NS	   (300LL * 1000000000LL)
struct kubelet_backoff {
	int64_t backoff_ns;	/* 0 = no entry */
	int64_t last_update_ns; /* monotonic time of the last Next() */
};
/* Record a restart at now_ns; returns the delay to wait before it. */
int64_t kubelet_backoff_next(struct kubelet_backoff *b, int64_t now_ns);
/* True while now_ns is inside the current back-off window. */
bool kubelet_backoff_in_backoff(const struct kubelet_backoff *b, int64_t now_ns);
