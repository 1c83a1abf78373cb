/* computePodActions (kuberuntime_manager.go): what one sync of a pod does,
 * from the spec, the runtime's sandboxes/containers and the back-off. Pure:
 * no CRI calls, unit-tested. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/lifecycle/internal.h"
#include "kubelet/qos.h"
#include "lib/xalloc.h"

struct kl_backoff_entry *kl_backoff_get(struct kl_backoff_table *t, const char *key, bool create)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	if (!create)
		return NULL;
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n] = (struct kl_backoff_entry){.key = xstrdup(key)};
	return &t->v[t->n++];
}

void kl_backoff_table_free(struct kl_backoff_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].key);
	free(t->v);
	*t = (struct kl_backoff_table){0};
}

bool kl_backoff_in_backoff_since(struct kl_backoff_table *t, const char *key, int64_t event_ns,
				 int64_t now_ns)
{
	struct kl_backoff_entry *e = kl_backoff_get(t, key, false);
	if (!e || !e->backoff_ns)
		return false;
	/* hasExpired: forgotten 2*max after the last update. */
	if (event_ns - e->last_update_ns > 2 * KUBELET_BACKOFF_MAX_NS)
		return false;
	return now_ns - event_ns < e->backoff_ns;
}

int64_t kl_backoff_next_at(struct kl_backoff_table *t, const char *key, int64_t event_ns,
			   int64_t now_ns)
{
	/* flowcontrol.Backoff.Next(id, eventTime): a new or expired entry
	 * (eventTime more than 2*max after the last update) starts at the
	 * initial delay, else it doubles up to the max (kubelet_backoff_next
	 * judged at eventTime); lastUpdate is the clock's now. */
	struct kl_backoff_entry *e = kl_backoff_get(t, key, true);
	struct kubelet_backoff b = {.backoff_ns = e->backoff_ns, .last_update_ns = e->last_update_ns};
	kubelet_backoff_next(&b, event_ns);
	e->backoff_ns = b.backoff_ns;
	e->last_update_ns = now_ns;
	return e->backoff_ns;
}

int64_t kl_backoff_next(struct kl_backoff_table *t, const char *key, int64_t now_ns)
{
	return kl_backoff_next_at(t, key, now_ns, now_ns);
}

/* Go's time.Duration.String(): "0s", "1.5s", "1m20s", "5m0s", "1h0m0s",
 * and below a second "500ms", "1.5us", "100ns". */
char *kl_go_duration(int64_t ns, char *buf, size_t size)
{
	char tmp[64];
	size_t w = sizeof(tmp);
	tmp[--w] = 0;
	uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	/* Fraction digits of u / 10^prec without trailing zeros. */
#define FRAC(prec)                                                                                 \
	do {                                                                                       \
		bool print = false;                                                                \
		for (int i_ = 0; i_ < (prec); i_++) {                                              \
			unsigned d_ = (unsigned)(u % 10);                                          \
			print = print || d_ != 0;                                                  \
			if (print)                                                                 \
				tmp[--w] = (char)('0' + d_);                                       \
			u /= 10;                                                                   \
		}                                                                                  \
		if (print)                                                                         \
			tmp[--w] = '.';                                                            \
	} while (0)
#define INT(v)                                                                                     \
	do {                                                                                       \
		uint64_t v_ = (v);                                                                 \
		if (v_ == 0)                                                                       \
			tmp[--w] = '0';                                                            \
		while (v_ > 0) {                                                                   \
			tmp[--w] = (char)('0' + v_ % 10);                                          \
			v_ /= 10;                                                                  \
		}                                                                                  \
	} while (0)
	if (u < 1000000000ULL) {
		if (u == 0) {
			snprintf(buf, size, "0s");
			return buf;
		}
		int prec;
		const char *unit;
		if (u < 1000ULL) {
			prec = 0;
			unit = "ns";
		} else if (u < 1000000ULL) {
			prec = 3;
			unit = "\u00b5s";
		} else {
			prec = 6;
			unit = "ms";
		}
		size_t ul = strlen(unit);
		w -= ul;
		memcpy(tmp + w, unit, ul);
		FRAC(prec);
		INT(u);
	} else {
		tmp[--w] = 's';
		FRAC(9);
		INT(u % 60);
		u /= 60;
		if (u > 0) {
			tmp[--w] = 'm';
			INT(u % 60);
			u /= 60;
			if (u > 0) {
				tmp[--w] = 'h';
				INT(u);
			}
		}
	}
#undef FRAC
#undef INT
	if (ns < 0)
		tmp[--w] = '-';
	snprintf(buf, size, "%s", tmp + w);
	return buf;
}

static int64_t jint(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

const json_t *kl_pick_sandbox(const json_t *sandboxes)
{
	const json_t *best = NULL;
	size_t i;
	json_t *s;
	json_array_foreach(sandboxes, i, s)
	{
		/* SANDBOX_READY is the zero value: omitted in the JSON. */
		const char *st = json_string_value(json_object_get(s, "state"));
		if (st && strcmp(st, "SANDBOX_READY") != 0)
			continue;
		if (!best || jint(s, "created_at") > jint(best, "created_at"))
			best = s;
	}
	return best;
}

bool kl_sandbox_netns_changed(const struct pod *p, const json_t *sandbox_status)
{
	/* NetworkNamespaceForPod: NODE for hostNetwork pods, else POD (the
	 * zero value, omitted in the JSON). Only the network mode is
	 * compared, as podSandboxChanged does: hostPID/hostIPC changes do not
	 * recreate the sandbox in the kubelet either. */
	const json_t *opts = json_object_get(
		json_object_get(json_object_get(sandbox_status, "linux"), "namespaces"), "options");
	const char *net = json_string_value(json_object_get(opts, "network"));
	const char *want = p->host_network ? "NODE" : "POD";
	return strcmp(net && *net ? net : "POD", want) != 0;
}

bool kl_sandbox_lacks_ip(const struct pod *p, const json_t *sandbox_status)
{
	if (p->host_network)
		return false;
	const json_t *net = json_object_get(sandbox_status, "network");
	if (!json_is_object(net))
		return false;
	const char *ip = json_string_value(json_object_get(net, "ip"));
	return !ip || !*ip;
}

const struct kl_observed *kl_latest(const struct kl_observed *ctrs, size_t n, const char *name,
				    const char *sandbox_id)
{
	const struct kl_observed *best = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ctrs[i].name, name) != 0)
			continue;
		if (sandbox_id && strcmp(ctrs[i].sandbox_id, sandbox_id) != 0)
			continue;
		if (!best || ctrs[i].created_at > best->created_at)
			best = &ctrs[i];
	}
	return best;
}

static void grow(void **v, size_t *cap, size_t want, size_t elem)
{
	if (*cap >= want)
		return;
	*v = xrealloc(*v, want * elem);
	*cap = want;
}

void kl_pod_actions_reset(struct kl_pod_actions *a, const struct pod *p, size_t n_ctrs)
{
	size_t n = p->n_init_containers + p->n_containers;
	void *kill = a->kill, *start = a->start, *waiting = a->waiting;
	size_t ck = a->cap_kill, cs = a->cap_start, cw = a->cap_waiting;
	/* Every observed container at most once; every container of the
	 * spec started at most once; a waiting reason per container (one
	 * spare). */
	grow(&kill, &ck, n_ctrs ? n_ctrs : 1, sizeof(*a->kill));
	grow(&start, &cs, n ? n : 1, sizeof(*a->start));
	grow(&waiting, &cw, n + 1, sizeof(*a->waiting));
	*a = (struct kl_pod_actions){.kill = kill, .cap_kill = ck, .start = start,
				     .cap_start = cs, .waiting = waiting, .cap_waiting = cw};
}

void kl_pod_actions_free(struct kl_pod_actions *a)
{
	free(a->kill);
	free(a->start);
	free(a->waiting);
	*a = (struct kl_pod_actions){0};
}

void kl_pod_actions_wait(struct kl_pod_actions *a, const char *name, const char *reason,
			 const char *msg)
{
	if (a->n_waiting >= a->cap_waiting)
		return;
	struct kl_waiting *w = &a->waiting[a->n_waiting++];
	w->container = name;
	snprintf(w->reason, sizeof(w->reason), "%s", reason);
	snprintf(w->message, sizeof(w->message), "%s", msg);
}

static void add_start(struct kl_pod_actions *a, const struct pod_container *c, uint32_t rc)
{
	if (a->n_start < a->cap_start)
		a->start[a->n_start++] = (struct kl_start){.c = c, .restart_count = rc};
}

static void add_kill(struct kl_pod_actions *a, const struct kl_observed *o)
{
	if (a->n_kill < a->cap_kill)
		a->kill[a->n_kill++] = o;
}

/* Should an exited container run again (ShouldContainerBeRestarted)? */
static bool should_restart(const struct pod *p, const struct kl_observed *o)
{
	if (strcmp(p->restart_policy, "Never") == 0)
		return false;
	if (strcmp(p->restart_policy, "OnFailure") == 0)
		return o->exit_code != 0;
	return true;
}

void kl_backoff_key(const struct pod *p, const struct pod_container *c, char *buf, size_t size)
{
	/* getStableKey: name_namespace_uid_container_hash, the hash covering
	 * the whole container spec, so an edited container starts with no
	 * back-off (and a recreated pod, with its new UID, too). */
	snprintf(buf, size, "%s_%s_%s_%s_%x", p->name, p->namespace, p->uid, c->name,
		 c->spec_hash);
}

/* doBackOff: start c now unless its back-off says wait. The window counts
 * from the exited container's FinishedAt, and Next() is told that time too,
 * so the 10-minute forget window runs from the exit. */
static void start_or_backoff(const struct pod *p, const struct pod_container *c,
			     const struct kl_observed *last, struct kl_backoff_table *bt,
			     int64_t now_ns, struct kl_pod_actions *a)
{
	uint32_t rc = last ? last->attempt + 1 : 0;
	if (last) {
		char key[768];
		kl_backoff_key(p, c, key, sizeof(key));
		int64_t since = last->finished_at;
		if (kl_backoff_in_backoff_since(bt, key, since, now_ns)) {
			struct kl_backoff_entry *e = kl_backoff_get(bt, key, false);
			char msg[256], d[40];
			snprintf(msg, sizeof(msg),
				 "back-off %s restarting failed container=%s pod=%s_%s(%s)",
				 kl_go_duration(e->backoff_ns, d, sizeof(d)), c->name, p->name,
				 p->namespace, p->uid);
			kl_pod_actions_wait(a, c->name, "CrashLoopBackOff", msg);
			return;
		}
		kl_backoff_next_at(bt, key, since, now_ns);
	}
	add_start(a, c, rc);
}

void kl_compute_pod_actions(const struct pod *p, const json_t *sandboxes,
			    const struct kl_observed *ctrs, size_t n_ctrs,
			    struct kl_backoff_table *bt, int64_t now_ns,
			    struct kl_pod_actions *a)
{
	kl_pod_actions_reset(a, p, n_ctrs);
	const json_t *sb = kl_pick_sandbox(sandboxes);
	uint32_t max_attempt = 0;
	size_t i;
	json_t *s;
	bool any = false;
	const json_t *newest = NULL;
	size_t n_ready = 0;
	json_array_foreach(sandboxes, i, s)
	{
		const json_t *md = json_object_get(s, "metadata");
		uint32_t at = (uint32_t)jint(md, "attempt");
		if (!any || at > max_attempt)
			max_attempt = at;
		any = true;
		if (!newest || jint(s, "created_at") > jint(newest, "created_at"))
			newest = s;
		const char *st = json_string_value(json_object_get(s, "state"));
		n_ready += !st || strcmp(st, "SANDBOX_READY") == 0;
	}
	/* podSandboxChanged: more than one ready sandbox, or a newer one that
	 * is not ready, also means a new sandbox (every container killed). */
	if (sb && (n_ready > 1 || newest != sb))
		sb = NULL;
	if (!sb) {
		/* No ready sandbox: (re)create it unless the pod already finished
		 * under restartPolicy Never/OnFailure (podSandboxChanged). */
		bool done = false;
		if (any && strcmp(p->restart_policy, "Always") != 0) {
			done = true;
			for (size_t k = 0; k < p->n_containers; k++) {
				const struct kl_observed *o = kl_latest(ctrs, n_ctrs, p->containers[k].name, NULL);
				if (!o || (strcmp(p->restart_policy, "OnFailure") == 0 && o->exit_code != 0))
					done = false;
			}
		}
		if (done) {
			/* Finished: only what still runs is stopped (once). */
			a->pod_done = true;
			for (size_t k = 0; k < n_ctrs; k++)
				a->kill_pod |= ctrs[k].state == 1;
			return;
		}
		a->kill_pod = any;
		a->create_sandbox = true;
		a->attempt = any ? max_attempt + 1 : 0;
		/* A new sandbox starts with the first init container (or all
		 * app containers). */
		if (p->n_init_containers) {
			add_start(a, &p->init_containers[0], 0);
			return;
		}
		for (size_t k = 0; k < p->n_containers; k++) {
			const struct kl_observed *o = kl_latest(ctrs, n_ctrs, p->containers[k].name, NULL);
			add_start(a, &p->containers[k], o ? o->attempt + 1 : 0);
		}
		return;
	}
	const char *sid = json_string_value(json_object_get(sb, "id"));
	a->sandbox_id = sid;

	/* Containers in the sandbox the spec does not name are killed. */
	for (size_t k = 0; k < n_ctrs; k++) {
		if (strcmp(ctrs[k].sandbox_id, sid) != 0 || ctrs[k].state != 1)
			continue;
		if (!pod_find_container(p, ctrs[k].name))
			add_kill(a, &ctrs[k]);
	}

	/* Init containers, one at a time, in order. */
	for (size_t k = 0; k < p->n_init_containers; k++) {
		const struct pod_container *c = &p->init_containers[k];
		const struct kl_observed *o = kl_latest(ctrs, n_ctrs, c->name, sid);
		bool sidecar = c->restart_policy && strcmp(c->restart_policy, "Always") == 0;
		if (sidecar) {
			/* A sidecar (restartable init container): started in
			 * order, the next one follows once it runs; restarted
			 * whenever it exits, whatever the pod's policy. */
			if (!o) {
				add_start(a, c, 0);
				return;
			}
			if (o->state == 2) {
				start_or_backoff(p, c, o, bt, now_ns, a);
				if (!a->n_start)
					continue; /* in back-off: the others go on */
				return;
			}
			if (o->state == 0)
				return; /* created, not running yet */
			if (o->has_probe_result && !o->probe_started)
				return; /* the next one waits for its startup probe */
			continue;
		}
		if (!o) {
			add_start(a, c, 0);
			return;
		}
		if (o->state == 0 || o->state == 1)
			return; /* still running: wait */
		if (o->exit_code == 0 && o->state == 2)
			continue;
		/* Failed init container. */
		if (strcmp(p->restart_policy, "Never") == 0) {
			a->pod_done = true;
			return;
		}
		/* App containers not created yet show PodInitializing
		 * (the status's default for a pod with init containers). */
		start_or_backoff(p, c, o, bt, now_ns, a);
		return;
	}

	/* App containers. */
	for (size_t k = 0; k < p->n_containers; k++) {
		const struct pod_container *c = &p->containers[k];
		const struct kl_observed *o = kl_latest(ctrs, n_ctrs, c->name, sid);
		if (!o) {
			/* Never ran in this sandbox: its restart count continues
			 * from earlier sandboxes. */
			const struct kl_observed *prev = kl_latest(ctrs, n_ctrs, c->name, NULL);
			add_start(a, c, prev ? prev->attempt + 1 : 0);
			continue;
		}
		if (o->state == 1 || o->state == 0) {
			if (o->has_spec_hash && o->spec_hash != c->spec_hash) {
				/* Spec changed: restart exactly this container. */
				add_kill(a, o);
				add_start(a, c, o->attempt + 1);
			}
			continue;
		}
		if (!should_restart(p, o))
			continue;
		start_or_backoff(p, c, o, bt, now_ns, a);
	}
	/* Everything exited and nothing restarts: the pod is done. */
	if (strcmp(p->restart_policy, "Always") != 0 && a->n_start == 0 && a->n_waiting == 0) {
		bool all_exited = p->n_containers > 0;
		for (size_t k = 0; k < p->n_containers; k++) {
			const struct kl_observed *o = kl_latest(ctrs, n_ctrs, p->containers[k].name, sid);
			if (!o || o->state != 2)
				all_exited = false;
		}
		a->pod_done = all_exited;
	}
}
