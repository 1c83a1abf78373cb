/* QoS class, CRI resources and OOM score as the kubelet computes them
 * (pkg/apis/core/v1/helper/qos, pkg/kubelet/cm, pkg/kubelet/qos,
 * kuberuntime generateLinuxContainerResources), plus $(VAR) expansion and
 * the restart back-off. */
#include "qos.h"

#include <string.h>

#include "lib/xalloc.h"

static bool qos_resource(const char *n)
{
	return strcmp(n, "cpu") == 0 || strcmp(n, "memory") == 0;
}

enum pod_qos_class pod_qos_class(const struct pod *p)
{
	/* Sums of positive cpu/memory requests and limits over all containers
	 * (init included); Guaranteed needs every container to limit both and
	 * the sums to match. */
	ndl_quantity_t req[2] = {{0}}, lim[2] = {{0}};
	bool has_req[2] = {false}, has_lim[2] = {false};
	bool guaranteed = true;
	const struct pod_container *groups[2] = {p->containers, p->init_containers};
	size_t ns[2] = {p->n_containers, p->n_init_containers};
	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < ns[g]; i++) {
			const struct pod_container *c = &groups[g][i];
			for (size_t k = 0; k < c->requests.n; k++) {
				const struct pod_resource *r = &c->requests.items[k];
				if (!qos_resource(r->name) || r->q.milli <= 0)
					continue;
				int idx = strcmp(r->name, "cpu") == 0 ? 0 : 1;
				req[idx] = has_req[idx] ? ndl_quantity_add(&req[idx], &r->q) : r->q;
				has_req[idx] = true;
			}
			bool found[2] = {false, false};
			for (size_t k = 0; k < c->limits.n; k++) {
				const struct pod_resource *r = &c->limits.items[k];
				if (!qos_resource(r->name) || r->q.milli <= 0)
					continue;
				int idx = strcmp(r->name, "cpu") == 0 ? 0 : 1;
				found[idx] = true;
				lim[idx] = has_lim[idx] ? ndl_quantity_add(&lim[idx], &r->q) : r->q;
				has_lim[idx] = true;
			}
			if (!found[0] || !found[1])
				guaranteed = false;
		}
	}
	int nreq = has_req[0] + has_req[1], nlim = has_lim[0] + has_lim[1];
	if (nreq == 0 && nlim == 0)
		return POD_QOS_BEST_EFFORT;
	if (guaranteed) {
		for (int i = 0; i < 2; i++)
			if (has_req[i] && (!has_lim[i] || ndl_quantity_cmp(&lim[i], &req[i]) != 0))
				guaranteed = false;
	}
	if (guaranteed && nreq == nlim)
		return POD_QOS_GUARANTEED;
	return POD_QOS_BURSTABLE;
}

const char *pod_qos_class_name(enum pod_qos_class q)
{
	switch (q) {
	case POD_QOS_GUARANTEED:
		return "Guaranteed";
	case POD_QOS_BURSTABLE:
		return "Burstable";
	default:
		return "BestEffort";
	}
}

int64_t kubelet_milli_cpu_to_shares(int64_t milli_cpu)
{
	if (milli_cpu == 0)
		return KUBELET_MIN_SHARES;
	int64_t shares = milli_cpu * 1024 / 1000;
	if (shares < KUBELET_MIN_SHARES)
		return KUBELET_MIN_SHARES;
	if (shares > KUBELET_MAX_SHARES)
		return KUBELET_MAX_SHARES;
	return shares;
}

int64_t kubelet_milli_cpu_to_quota(int64_t milli_cpu, int64_t period_us)
{
	if (milli_cpu == 0)
		return 0;
	int64_t quota = milli_cpu * period_us / 1000;
	if (quota < KUBELET_MIN_QUOTA_US)
		quota = KUBELET_MIN_QUOTA_US;
	return quota;
}

bool pod_is_critical(const struct pod *p)
{
	const char *src = pod_annotation(p, "kubernetes.io/config.source");
	if (src && strcmp(src, "api") != 0)
		return true; /* static pod */
	if (pod_annotation(p, "kubernetes.io/config.mirror"))
		return true;
	return p->has_priority && p->priority >= POD_SYSTEM_CLUSTER_CRITICAL_PRIORITY;
}

static bool is_node_critical(const struct pod *p)
{
	return pod_is_critical(p) && p->priority_class_name &&
	       strcmp(p->priority_class_name, "system-node-critical") == 0;
}

int kubelet_container_oom_score_adj(const struct pod *p, const struct pod_container *c,
				    int64_t memory_capacity)
{
	if (is_node_critical(p))
		return KUBELET_GUARANTEED_OOM_SCORE_ADJ;
	switch (pod_qos_class(p)) {
	case POD_QOS_GUARANTEED:
		return KUBELET_GUARANTEED_OOM_SCORE_ADJ;
	case POD_QOS_BEST_EFFORT:
		return KUBELET_BESTEFFORT_OOM_SCORE_ADJ;
	default:
		break;
	}
	const struct pod_resource *mr = pod_resource_get(&c->requests, "memory");
	int64_t mem_req = mr ? mr->q.value : 0;
	if (memory_capacity <= 0)
		memory_capacity = 1;
	int64_t adj = 1000 - (int64_t)((__int128)1000 * mem_req / memory_capacity);
	/* A sidecar (init container with restartPolicy Always) is never more
	 * likely to be killed than the smallest regular container. */
	if (c->is_init && c->restart_policy && strcmp(c->restart_policy, "Always") == 0) {
		int64_t min_req = 0;
		for (size_t i = 0; i < p->n_containers; i++) {
			const struct pod_resource *r =
			    pod_resource_get(&p->containers[i].requests, "memory");
			int64_t v = r ? r->q.value : 0;
			if (i == 0 || v < min_req)
				min_req = v;
		}
		int64_t min_adj = 1000 - (int64_t)((__int128)1000 * min_req / memory_capacity);
		if (adj > min_adj)
			adj = min_adj;
	}
	/* Burstable stays above Guaranteed and below BestEffort. */
	if (adj < 1000 + KUBELET_GUARANTEED_OOM_SCORE_ADJ)
		return 1000 + KUBELET_GUARANTEED_OOM_SCORE_ADJ;
	if (adj == KUBELET_BESTEFFORT_OOM_SCORE_ADJ)
		return (int)adj - 1;
	return (int)adj;
}

void kubelet_container_linux_resources(const struct pod *p, const struct pod_container *c,
				       int64_t memory_capacity, bool cpu_cfs_quota,
				       int64_t cpu_period_us, struct kubelet_linux_resources *ret)
{
	struct kubelet_linux_resources r = {0};
	const struct pod_resource *cpu_req = pod_resource_get(&c->requests, "cpu");
	const struct pod_resource *cpu_lim = pod_resource_get(&c->limits, "cpu");
	const struct pod_resource *mem_lim = pod_resource_get(&c->limits, "memory");
	int64_t lim_milli = cpu_lim ? cpu_lim->q.milli : 0;
	/* No request but a limit: shares from the limit (as the API server's
	 * defaulting would have done). */
	if (!cpu_req && lim_milli != 0)
		r.cpu_shares = kubelet_milli_cpu_to_shares(lim_milli);
	else
		r.cpu_shares = kubelet_milli_cpu_to_shares(cpu_req ? cpu_req->q.milli : 0);
	r.memory_limit_in_bytes = mem_lim ? mem_lim->q.value : 0;
	if (cpu_cfs_quota) {
		r.cpu_period = cpu_period_us;
		r.cpu_quota = kubelet_milli_cpu_to_quota(lim_milli, cpu_period_us);
	}
	r.oom_score_adj = kubelet_container_oom_score_adj(p, c, memory_capacity);
	*ret = r;
}

static bool is_sidecar(const struct pod_container *c)
{
	return c->is_init && c->restart_policy && strcmp(c->restart_policy, "Always") == 0;
}

static int64_t amount(const struct pod_resource_list *l, const char *name)
{
	const struct pod_resource *r = pod_resource_get(l, name);
	if (!r)
		return 0;
	return strcmp(name, "cpu") == 0 ? r->q.milli : r->q.value;
}

/* resource.PodRequests / PodLimits for one resource. */
static int64_t pod_aggregate(const struct pod *p, const char *name, bool limits)
{
	int64_t sum = 0, sidecars = 0, init_max = 0;
	for (size_t i = 0; i < p->n_containers; i++)
		sum += amount(limits ? &p->containers[i].limits : &p->containers[i].requests, name);
	for (size_t i = 0; i < p->n_init_containers; i++) {
		const struct pod_container *c = &p->init_containers[i];
		int64_t v = amount(limits ? &c->limits : &c->requests, name), eff;
		if (is_sidecar(c)) {
			/* a sidecar keeps running alongside everything after it */
			sum += v;
			sidecars += v;
			eff = sidecars;
		} else {
			eff = v + sidecars;
		}
		if (eff > init_max)
			init_max = eff;
	}
	return sum > init_max ? sum : init_max;
}

int64_t kubelet_pod_requests(const struct pod *p, const char *resource)
{
	return pod_aggregate(p, resource, false);
}

int64_t kubelet_pod_limits(const struct pod *p, const char *resource)
{
	return pod_aggregate(p, resource, true);
}

void kubelet_pod_resource_config(const struct pod *p, bool enforce_cpu_limits,
				 int64_t cpu_period_us, struct kubelet_pod_cgroup_config *ret)
{
	struct kubelet_pod_cgroup_config r = {0};
	/* A limit counts as declared only when every container (init
	 * included) sets a non-zero one. */
	bool cpu_declared = true, mem_declared = true;
	const struct pod_container *groups[2] = {p->containers, p->init_containers};
	size_t ns[2] = {p->n_containers, p->n_init_containers};
	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < ns[g]; i++) {
			if (amount(&groups[g][i].limits, "cpu") == 0)
				cpu_declared = false;
			if (amount(&groups[g][i].limits, "memory") == 0)
				mem_declared = false;
		}
	}
	int64_t shares = kubelet_milli_cpu_to_shares(kubelet_pod_requests(p, "cpu"));
	int64_t quota = kubelet_milli_cpu_to_quota(kubelet_pod_limits(p, "cpu"), cpu_period_us);
	if (!enforce_cpu_limits)
		quota = -1;
	int64_t memory = kubelet_pod_limits(p, "memory");
	switch (pod_qos_class(p)) {
	case POD_QOS_GUARANTEED:
		r.has_cpu_shares = r.has_cpu_quota = r.has_memory = true;
		r.cpu_shares = shares;
		r.cpu_quota = quota;
		r.cpu_period = cpu_period_us;
		r.memory = memory;
		break;
	case POD_QOS_BURSTABLE:
		r.has_cpu_shares = true;
		r.cpu_shares = shares;
		if (cpu_declared) {
			r.has_cpu_quota = true;
			r.cpu_quota = quota;
			r.cpu_period = cpu_period_us;
		}
		if (mem_declared) {
			r.has_memory = true;
			r.memory = memory;
		}
		break;
	default:
		r.has_cpu_shares = true;
		r.cpu_shares = KUBELET_MIN_SHARES;
		break;
	}
	*ret = r;
}

char *kubelet_expand(const char *in, kubelet_expand_lookup_fn lookup, void *userdata)
{
	size_t len = strlen(in), cap = len + 1, n = 0;
	char *out = xmalloc(cap);
#define PUT(s, l)                                                                                  \
	do {                                                                                       \
		size_t _l = (l);                                                                   \
		if (n + _l + 1 > cap) {                                                            \
			cap = (n + _l + 1) * 2;                                                    \
			out = xrealloc(out, cap);                                                  \
		}                                                                                  \
		memcpy(out + n, (s), _l);                                                          \
		n += _l;                                                                           \
	} while (0)
	size_t checkpoint = 0;
	for (size_t cur = 0; cur < len; cur++) {
		if (in[cur] != '$' || cur + 1 >= len)
			continue;
		PUT(in + checkpoint, cur - checkpoint);
		const char *rest = in + cur + 1;
		size_t advance = 1;
		if (rest[0] == '$') {
			PUT("$", 1); /* escaped operator */
		} else if (rest[0] == '(') {
			const char *close = strchr(rest + 1, ')');
			if (close) {
				size_t nl = (size_t)(close - rest - 1);
				char *name = xstrndup(rest + 1, nl);
				const char *v = lookup ? lookup(name, userdata) : NULL;
				if (v)
					PUT(v, strlen(v));
				else {
					PUT("$(", 2);
					PUT(name, nl);
					PUT(")", 1);
				}
				free(name);
				advance = nl + 2;
			} else {
				PUT("$(", 2); /* incomplete reference */
			}
		} else {
			PUT(in + cur, 2); /* '$' and the next byte, as written */
		}
		cur += advance;
		checkpoint = cur + 1;
	}
	if (checkpoint < len)
		PUT(in + checkpoint, len - checkpoint);
#undef PUT
	out[n] = 0;
	return out;
}

int64_t kubelet_backoff_next(struct kubelet_backoff *b, int64_t now_ns)
{
	if (b->backoff_ns == 0 || now_ns - b->last_update_ns > 2 * KUBELET_BACKOFF_MAX_NS) {
		b->backoff_ns = KUBELET_BACKOFF_INITIAL_NS;
	} else {
		b->backoff_ns *= 2;
		if (b->backoff_ns > KUBELET_BACKOFF_MAX_NS)
			b->backoff_ns = KUBELET_BACKOFF_MAX_NS;
	}
	b->last_update_ns = now_ns;
	return b->backoff_ns;
}

bool kubelet_backoff_in_backoff(const struct kubelet_backoff *b, int64_t now_ns)
{
	return b->backoff_ns != 0 && now_ns - b->last_update_ns < b->backoff_ns;
}
