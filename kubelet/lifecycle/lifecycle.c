/* Pod workers, relist and publication of /pods.
 *
 * Pod workers (podWorkers): every pod has a struct worker with its desired
 * spec, the update handed over at its next sync, the terminate flag, its
 * back-off table, probe set and last status. Syncs are work items run by a
 * bounded pool of threads, not a thread per pod: at 100 pods a thread each
 * cost ~2.5 MB of touched stacks plus glibc arenas, and every wake-up ran
 * up to 100 concurrent CRI calls. The kubelet's guarantees are kept:
 * - at most one sync of a pod at a time (worker.running), never two;
 * - a pod's kicks (source event, probe result, container event) coalesce
 *   into one due time: kicking a pod that waits, or that is syncing, makes
 *   it due now, however many kicks came;
 * - the periodic re-sync 1 s after a sync ended (the kubelet's relist
 *   period), and an immediate re-sync after a sync that started something
 *   (so the status shows it at once);
 * - an UPDATE with the same UID is handed over at the next sync, never
 *   swapped under a running one;
 * - a terminating pod is stopped with its grace periods and preStop hooks.
 *
 * The pool starts with KL_POOL_BASE threads (max(4, 2 x CPUs)). When work
 * is due and no thread is idle it grows, one thread at a time, up to
 * KL_POOL_MAX, so a sync blocked in a long call (an image pull, a postStart
 * hook, a container stopped for a changed spec with its grace period) does
 * not starve the other pods. The base threads do the periodic re-syncs;
 * the extra ones take kicked pods only (or re-syncs a period late) and
 * exit after KL_POOL_IDLE_NS without such work, which returns their stacks
 * (glibc madvises an exiting thread's stack away). Termination instead runs on a short-lived
 * thread of its own per pod: it is one-off, may block for the whole grace
 * period (30 s by default, preStop hooks included), and the kubelet stops
 * every removed pod concurrently, so removing 100 pods must not queue
 * behind a pool cap. Pool and termination threads have KL_THREAD_STACK
 * (512 KiB) stacks: the deepest paths (a gRPC call through the CRI client,
 * libcurl with TLS for httpGet hooks, jansson over a pod's JSON) use well
 * under it, and only touched pages count.
 *
 * Due times are kept on the workers themselves and the pool picks the
 * earliest due one (a scan of the worker list per dispatch: ~100 entries).
 * A sync whose status changed wakes the publisher thread, which rebuilds
 * /pods for a whole burst of syncs at a time. A relist thread finds
 * sandboxes of pods no source wants (after a restart, or whose manifest
 * disappeared while nodelet was down) and gives them terminating workers;
 * everything is matched by the io.kubernetes.pod.uid label, so a restarted
 * nodelet adopts running pods without restarting anything. Container GC
 * (dead containers and sandboxes of a pod) runs once a minute per pod, as
 * the kubelet's ContainerGCPeriod, and at a worker's first sync. */
#include <curl/curl.h>
#include <errno.h>
#include <arpa/inet.h>
#include <glob.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "cri/client/client.h"
#include "kubelet/qos.h"
#include "kubelet/http.h"
#include "kubelet/lifecycle/internal.h"
#include "kubelet/lifecycle/lifecycle.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/quantity.h"
#include "lib/xalloc.h"

struct worker {
	struct kl_lifecycle *l;
	char *uid;
	struct pod *pod;  /* desired spec; kept while terminating for its grace period */
	/* An UPDATE with the same UID (podWorkers' pendingUpdate): handed over
	 * to the worker at its next sync, never swapped under a running one. */
	struct pod *pending;
	bool terminate;	  /* stop the pod and exit */
	struct pod *then; /* re-added while terminating: start it afterwards */
	/* When the pool should sync it next (CLOCK_MONOTONIC ns); a kick
	 * makes it now. KL_DUE_NONE while a sync runs and no kick came. */
	int64_t due_ns;
	bool running;	  /* a pool thread syncs it (or its termination runs) */
	bool urgent;	  /* kicked (not a periodic re-sync): worth a thread */
	bool done;	  /* terminated: the relist thread frees it */
	int64_t grace_s;  /* -1: from the spec / container annotations */
	struct kl_backoff_table bt;
	struct kl_probe_set *probes;
	bool cgroup_ensured;
	/* Next container GC of this pod (CLOCK_MONOTONIC ns; 0: at its first
	 * sync with a ready sandbox, then every KL_GC_PERIOD_NS). */
	int64_t gc_next_ns;
	/* The PodStatus of the last sync and the spec it was computed for:
	 * /pods pairs them in a shallow copy of the spec's JSON when it is
	 * rebuilt (a deep copy of every pod's JSON kept per worker was ~1/5 of
	 * nodelet's heap at 100 pods). */
	json_t *status;
	struct pod *status_pod;
	int64_t start_time_ns;
	bool deadline_done;
	bool network_blocked; /* its last sync found NetworkReady false */
	/* Refused at admission (maxPods): never synced, its status says why;
	 * only a removal reaches it. */
	bool rejected;
	struct worker *next;
};

struct kl_lifecycle {
	const struct kubelet_config *cfg;
	struct kl_runtime_opts o;
	struct cri_client *cc;
	/* The image service (imageServiceEndpoint): cc itself unless another
	 * endpoint is configured. */
	struct cri_client *ic;
	char runtime_name[64];
	char host_ip[64];
	pthread_mutex_t mu;
	pthread_cond_t cv; /* relist wake-ups, worker done, thread exits */
	struct worker *workers;
	/* The sync pool (under mu): threads alive, idle ones waiting on
	 * pool_cv (CLOCK_MONOTONIC), termination threads alive. */
	pthread_cond_t pool_cv;
	int pool_threads, pool_idle, term_threads;
	/* Wake-ups sent to idle threads and not yet taken: a signalled
	 * thread no longer counts as idle, so a burst of kicks (20 pods at
	 * once) grows the pool instead of signalling the same few threads. */
	int pool_signals;
	/* Threads that never exit (the first pool_base() started). */
	int pool_base_threads;
	bool stop, sources_ready;
	int64_t started_ns;
	pthread_t relist;
	pthread_t events;
	bool has_events;
	struct cri_event_stream *stream;
	struct cgroup_manager *cgm; /* NULL without cgroupsPerQOS or cgroupfs */
	pthread_mutex_t cg_mu;	    /* QoS cgroup updates */
	/* /pods publication: a sync whose status changed marks the list
	 * dirty and wakes the publisher thread, which rebuilds it after a
	 * short coalescing window (a burst of 100 pod syncs rebuilds it a
	 * few times, not 100). */
	pthread_cond_t pub_cv;
	bool pods_dirty, has_publisher;
	pthread_t publisher;
	/* malloc_trim after pod removals: worker count high-water mark since
	 * the last trim, and when that was (relist thread only). */
	size_t trim_high;
	int64_t trim_last_ns;
	/* The runtime's Status (under mu): polled at start and then every
	 * KL_RUNTIME_STATUS_PERIOD_NS by the relist thread (rs_next_ns). No
	 * pod is synced while it reports errors (the kubelet's syncLoop
	 * skips every pod then), and pods on the pod network get no sandbox
	 * while NetworkReady is not true. rs_skipping: the "skipping" message
	 * was logged (once per outage). */
	struct kl_runtime_state rs;
	int64_t rs_next_ns;
	bool rs_skipping;
	/* Next periodic QoS cgroup update (the qosContainerManager's 1 min
	 * loop; relist thread only). */
	int64_t qos_next_ns;
	/* The container log manager's thread (rotation, dangling symlinks),
	 * and its lock: a rotation and the removal of the same logs (the GC,
	 * a pod's removal) never overlap, as the kubelet's log manager
	 * serialises rotateLogs and Clean. */
	pthread_t logs;
	bool has_logs;
	pthread_mutex_t logs_mu;
};

static int64_t now_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t now_mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The kubelet's ContainerGCPeriod. */
#define KL_GC_PERIOD_NS (60 * 1000000000LL)

static int64_t jint(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* This pod's sandboxes and containers (with ContainerStatus details). */
struct observed {
	json_t *sandboxes;
	json_t *statuses; /* keeps the strings of ctrs alive */
	struct kl_observed *ctrs;
	size_t n;
};

static void observed_free(struct observed *ob)
{
	json_decref(ob->sandboxes);
	json_decref(ob->statuses);
	free(ob->ctrs);
	memset(ob, 0, sizeof(*ob));
}

static int observe(struct kl_lifecycle *l, const char *uid, struct observed *ob, ndl_error_t *err)
{
	memset(ob, 0, sizeof(*ob));
	json_t *resp = NULL;
	json_t *req = json_pack("{s:{s:{s:s}}}", "filter", "label_selector", KL_LABEL_POD_UID, uid);
	int r = kl_cri(l->cc, "ListPodSandbox", req, KL_CRI_TIMEOUT, &resp, err);
	json_decref(req);
	if (r < 0)
		return r;
	ob->sandboxes = json_incref(json_object_get(resp, "items"));
	if (!ob->sandboxes)
		ob->sandboxes = json_array();
	json_decref(resp);
	req = json_pack("{s:{s:{s:s}}}", "filter", "label_selector", KL_LABEL_POD_UID, uid);
	r = kl_cri(l->cc, "ListContainers", req, KL_CRI_TIMEOUT, &resp, err);
	json_decref(req);
	if (r < 0)
		return r;
	json_t *list = json_object_get(resp, "containers");
	ob->statuses = json_array();
	ob->ctrs = xcalloc(json_array_size(list) + 1, sizeof(*ob->ctrs));
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
	{
		json_t *st = NULL;
		json_t *sreq = json_pack("{s:s}", "container_id", jstr(c, "id"));
		ndl_error_t e = NDL_ERROR_INIT;
		int rr = kl_cri(l->cc, "ContainerStatus", sreq, KL_CRI_TIMEOUT, &st, &e);
		json_decref(sreq);
		if (rr < 0) {
			ndl_error_clear(&e); /* removed meanwhile */
			continue;
		}
		json_t *s = json_object_get(st, "status");
		json_object_set(s, "pod_sandbox_id", json_object_get(c, "pod_sandbox_id"));
		json_array_append(ob->statuses, s);
		json_decref(st);
	}
	json_decref(resp);
	json_array_foreach(ob->statuses, i, c)
	{
		struct kl_observed *o = &ob->ctrs[ob->n++];
		json_t *md = json_object_get(c, "metadata");
		json_t *labels = json_object_get(c, "labels");
		json_t *ann = json_object_get(c, "annotations");
		o->id = jstr(c, "id");
		o->name = json_string_value(json_object_get(labels, KL_LABEL_CONTAINER_NAME));
		if (!o->name)
			o->name = jstr(md, "name");
		o->sandbox_id = jstr(c, "pod_sandbox_id");
		const char *state = jstr(c, "state");
		o->state = strcmp(state, "CONTAINER_RUNNING") == 0 ? 1 :
			   strcmp(state, "CONTAINER_EXITED") == 0  ? 2 :
			   strcmp(state, "CONTAINER_UNKNOWN") == 0 ? 3 :
								     0;
		const char *rc = json_string_value(json_object_get(ann, KL_ANN_RESTART_COUNT));
		o->attempt = rc ? (uint32_t)strtoul(rc, NULL, 10) : (uint32_t)jint(md, "attempt");
		o->exit_code = (int32_t)jint(c, "exit_code");
		o->created_at = jint(c, "created_at");
		o->started_at = jint(c, "started_at");
		o->finished_at = jint(c, "finished_at");
		o->reason = jstr(c, "reason");
		o->message = jstr(c, "message");
		o->image = json_string_value(json_object_get(json_object_get(c, "image"), "image"));
		o->image_ref = jstr(c, "image_ref");
		o->log_path = json_string_value(json_object_get(c, "log_path"));
		const char *tp = json_string_value(json_object_get(ann, KL_ANN_TERM_MSG_PATH));
		const char *tpol = json_string_value(json_object_get(ann, KL_ANN_TERM_MSG_POLICY));
		o->fallback_to_logs = tpol && strcmp(tpol, "FallbackToLogsOnError") == 0;
		size_t mi;
		json_t *m;
		json_array_foreach(json_object_get(c, "mounts"), mi, m)
		{
			const char *cp = json_string_value(json_object_get(m, "container_path"));
			if (tp && cp && strcmp(cp, tp) == 0)
				o->term_msg_file = json_string_value(json_object_get(m, "host_path"));
		}
		const char *sh = json_string_value(json_object_get(ann, KL_ANN_SPEC_HASH));
		if (sh) {
			o->has_spec_hash = true;
			o->spec_hash = (uint32_t)strtoul(sh, NULL, 16);
		}
	}
	return 0;
}

static json_t *container_annotations(const struct observed *ob, const char *id)
{
	size_t i;
	json_t *c;
	json_array_foreach(ob->statuses, i, c) if (strcmp(jstr(c, "id"), id) == 0) return json_object_get(c, "annotations");
	return NULL;
}

static int64_t pod_grace(const struct worker *w, const struct observed *ob)
{
	if (w->grace_s >= 0)
		return w->grace_s;
	if (w->pod)
		return w->pod->has_termination_grace_period_seconds ?
			       w->pod->termination_grace_period_seconds :
			       30;
	for (size_t i = 0; i < ob->n; i++) {
		const char *g = json_string_value(
			json_object_get(container_annotations(ob, ob->ctrs[i].id), KL_ANN_POD_GRACE));
		if (g)
			return strtoll(g, NULL, 10);
	}
	return 30;
}

/* ---- killing containers (killContainer / killContainersWithSyncResult) ---- */

struct kill_group;
struct kill_job {
	struct kill_group *g;
	const char *id, *name;
	const json_t *ann; /* the container's annotations (preStop when no spec) */
	int order;	   /* -1: regular container; else the sidecar's init index */
	int64_t grace_s;   /* -1: the group's */
	bool done;
	pthread_t th;
	bool has_thread;
};

struct kill_group {
	struct kl_lifecycle *l;
	const struct pod *pod; /* NULL when only the runtime's view is known */
	const char *pod_ip;
	int64_t grace_s;
	const char *why;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct kill_job *jobs;
	size_t n;
};

/* The container's preStop handler: from the spec when there is one, else
 * from the io.kubernetes.container.preStopHandler annotation (the handler
 * object as the kubelet writes it; an array is an exec command as older
 * nodelet versions wrote it). */
static bool prestop_handler(const struct kill_job *j, const struct pod_container **ret_c,
			    struct pod_handler *ret_h, bool *ret_owned)
{
	const struct pod_container *c = j->g->pod ? pod_find_container(j->g->pod, j->name) : NULL;
	*ret_c = c;
	*ret_owned = false;
	if (c) {
		if (c->pre_stop.type == POD_HANDLER_NONE)
			return false;
		*ret_h = c->pre_stop;
		return true;
	}
	const char *hook = json_string_value(json_object_get(j->ann, KL_ANN_PRESTOP));
	if (!hook)
		return false;
	json_t *hj = json_loads(hook, 0, NULL);
	bool ok = false;
	memset(ret_h, 0, sizeof(*ret_h));
	if (json_is_array(hj)) {
		json_t *o = json_pack("{s:{s:O}}", "exec", "command", hj);
		json_decref(hj);
		hj = o;
	}
	if (json_is_object(hj)) {
		ndl_error_t e = NDL_ERROR_INIT;
		if (pod_handler_from_json(hj, "preStop", false, ret_h, &e) == 0) {
			ok = true;
		} else {
			log_warn("cannot read the preStop handler", "container=%s error=%s", j->id,
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
			pod_handler_free(ret_h);
		}
	}
	json_decref(hj);
	if (ok && ret_h->port.name) {
		/* A named port: from the ports annotation. */
		json_t *ports = json_loads(
			json_string_value(json_object_get(j->ann, KL_ANN_PORTS)) ?: "[]", 0, NULL);
		size_t i;
		json_t *pt;
		json_array_foreach(ports, i, pt)
		{
			const char *n = json_string_value(json_object_get(pt, "name"));
			if (n && strcmp(n, ret_h->port.name) == 0)
				ret_h->port.number =
					(int32_t)json_integer_value(json_object_get(pt, "containerPort"));
		}
		json_decref(ports);
	}
	*ret_owned = ok;
	return ok;
}

/* terminationOrdering (kubelet 1.29): regular containers stop at once;
 * a sidecar waits for every regular container and for the sidecars
 * declared after it (so sidecars stop in reverse order), as long as the
 * grace period lasts. Under g->mu. */
static bool my_turn(const struct kill_group *g, const struct kill_job *j)
{
	if (j->order < 0)
		return true;
	for (size_t i = 0; i < g->n; i++) {
		const struct kill_job *o = &g->jobs[i];
		if (o != j && !o->done && (o->order < 0 || o->order > j->order))
			return false;
	}
	return true;
}

/* StopContainer's deadline: the grace period plus runtimeRequestTimeout,
 * as the kubelet's remote runtime (clamped to what an int holds). */
static int stop_deadline_ms(int64_t grace_s)
{
	int64_t ms = grace_s * 1000 + kl_cri_request_timeout_ms();
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void kill_one(struct kill_job *j)
{
	struct kill_group *g = j->g;
	struct kl_lifecycle *l = g->l;
	int64_t t0 = now_real();
	int64_t grace = j->grace_s >= 0 ? j->grace_s : g->grace_s;
	const struct pod_container *c = NULL;
	struct pod_handler h;
	bool owned = false;
	if (grace > 0 && prestop_handler(j, &c, &h, &owned)) {
		char msg[1024], q[1100];
		/* Bounded by the grace period, as executePreStopHook. */
		if (kl_run_hook(l->cc, g->pod, c, j->name, &h, j->id, g->pod_ip, grace, msg,
				sizeof(msg)) < 0)
			log_warn("preStop hook failed", "container=%s name=%s message=%s", j->id,
				 j->name, ndl_log_quote(msg, q, sizeof(q)));
		if (owned)
			pod_handler_free(&h);
	}
	int64_t deadline = t0 + grace * 1000000000LL;
	pthread_mutex_lock(&g->mu);
	while (!my_turn(g, j) && now_real() < deadline) {
		struct timespec dl = {.tv_sec = deadline / 1000000000LL,
				      .tv_nsec = deadline % 1000000000LL};
		pthread_cond_timedwait(&g->cv, &g->mu, &dl);
	}
	pthread_mutex_unlock(&g->mu);
	int64_t left = grace - (now_real() - t0) / 1000000000LL;
	/* The kubelet always leaves at least minimumGracePeriodInSeconds. */
	if (left < 2)
		left = 2;
	char wq[128];
	log_info("killing container", "container=%s name=%s grace_period=%lld reason=%s", j->id,
		 j->name, (long long)left, ndl_log_quote(g->why, wq, sizeof(wq)));
	ndl_error_t e = NDL_ERROR_INIT;
	json_t *req = json_pack("{s:s,s:I}", "container_id", j->id, "timeout", (json_int_t)left);
	if (kl_cri(l->cc, "StopContainer", req, stop_deadline_ms(left), NULL, &e) < 0) {
		log_warn("StopContainer failed", "container=%s error=%s", j->id, ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	json_decref(req);
	pthread_mutex_lock(&g->mu);
	j->done = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void *kill_main(void *arg)
{
	kill_one(arg);
	return NULL;
}

static int sidecar_order(const struct pod *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_init_containers; i++) {
		const struct pod_container *c = &p->init_containers[i];
		if (strcmp(c->name, name) == 0)
			return c->restart_policy && strcmp(c->restart_policy, "Always") == 0 ? (int)i :
											      -1;
	}
	return -1;
}

/* Kill the given containers in parallel (one thread each), every one with
 * the grace period counted from now, sidecars last in reverse order. */
static void kill_containers(struct kl_lifecycle *l, const struct pod *p, const char *pod_ip,
			    const struct observed *ob, const struct kl_observed *const *which,
			    const int64_t *grace_each, size_t n, int64_t grace_s, const char *why)
{
	if (!n)
		return;
	struct kill_group g = {.l = l, .pod = p, .pod_ip = pod_ip, .grace_s = grace_s, .why = why,
			       .n = n};
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	g.jobs = xcalloc(n, sizeof(*g.jobs));
	for (size_t i = 0; i < n; i++) {
		g.jobs[i] = (struct kill_job){.g = &g,
					      .id = which[i]->id,
					      .name = which[i]->name,
					      .ann = container_annotations(ob, which[i]->id),
					      .order = sidecar_order(p, which[i]->name),
					      .grace_s = grace_each ? grace_each[i] : -1};
	}
	for (size_t i = 1; i < n; i++)
		g.jobs[i].has_thread = pthread_create(&g.jobs[i].th, NULL, kill_main, &g.jobs[i]) == 0;
	kill_one(&g.jobs[0]);
	for (size_t i = 1; i < n; i++) {
		if (g.jobs[i].has_thread)
			pthread_join(g.jobs[i].th, NULL);
		else
			kill_one(&g.jobs[i]); /* no thread: in line */
	}
	free(g.jobs);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
}

/* ---- pod and QoS cgroups (cm podContainerManager, qosContainerManager) ---- */

static int64_t cpu_period_us(const struct kl_lifecycle *l)
{
	int64_t p = l->cfg->cpu_cfs_quota_period_ns / 1000;
	return p > 0 ? p : KUBELET_QUOTA_PERIOD_US;
}

static char *qos_root(const struct kl_lifecycle *l)
{
	const char *root = l->cfg->cgroup_root && *l->cfg->cgroup_root ? l->cfg->cgroup_root : "/";
	size_t rl = strlen(root);
	return xasprintf("%s%skubepods", root, rl && root[rl - 1] == '/' ? "" : "/");
}

static void cg_write(struct kl_lifecycle *l, const char *path, const struct cgroup_resources *res)
{
	ndl_error_t e = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	if (cgroup_create(l->cgm, path, &cg, &e) < 0 || cgroup_apply(cg, res, &e) < 0) {
		log_warn("cannot set up cgroup", "path=%s error=%s", path, ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	if (cg)
		cgroup_free(cg);
}

/* The QoS cgroups' values as setCPUCgroupConfig: besteffort gets the
 * minimum shares, burstable the shares of the sum of its pods' CPU
 * requests. (Memory limits there need the alpha QOSReserved: not set.) */
static void update_qos_cgroups(struct kl_lifecycle *l)
{
	if (!l->cgm)
		return;
	int64_t burstable_milli = 0;
	pthread_mutex_lock(&l->mu);
	for (struct worker *w = l->workers; w; w = w->next)
		if (w->pod && !w->terminate && !w->done &&
		    pod_qos_class(w->pod) == POD_QOS_BURSTABLE)
			burstable_milli += kubelet_pod_requests(w->pod, "cpu");
	pthread_mutex_unlock(&l->mu);
	cleanup_free char *top = qos_root(l);
	cleanup_free char *be = xasprintf("%s/besteffort", top);
	cleanup_free char *bu = xasprintf("%s/burstable", top);
	struct cgroup_resources res = {0};
	res.cpu.has_shares = true;
	res.cpu.shares = KUBELET_MIN_SHARES;
	pthread_mutex_lock(&l->cg_mu);
	cg_write(l, be, &res);
	res.cpu.shares = (uint64_t)kubelet_milli_cpu_to_shares(burstable_milli);
	cg_write(l, bu, &res);
	pthread_mutex_unlock(&l->cg_mu);
}

/* The node allocatable cgroup (kubepods): shares of the node's CPUs and
 * its memory as the limit (nothing reserved), then the QoS cgroups. */
static void setup_qos_cgroups(struct kl_lifecycle *l)
{
	cleanup_free char *top = qos_root(l);
	struct cgroup_resources res = {0};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	res.cpu.has_shares = true;
	res.cpu.shares = (uint64_t)kubelet_milli_cpu_to_shares((ncpu > 0 ? ncpu : 1) * 1000);
	res.memory.has_limit = true;
	res.memory.limit = l->o.memory_capacity;
	cg_write(l, top, &res);
	update_qos_cgroups(l);
}

/* EnsureExists: the pod cgroup with ResourceConfigForPod's values and
 * podPidsLimit, before the sandbox (the runtime puts the containers below
 * it). */
static void ensure_pod_cgroup(struct kl_lifecycle *l, const struct pod *p)
{
	if (!l->cgm)
		return;
	struct kubelet_pod_cgroup_config rc;
	kubelet_pod_resource_config(p, l->cfg->cpu_cfs_quota, cpu_period_us(l), &rc);
	struct cgroup_resources res = {0};
	if (rc.has_cpu_shares) {
		res.cpu.has_shares = true;
		res.cpu.shares = (uint64_t)rc.cpu_shares;
	}
	if (rc.has_cpu_quota) {
		res.cpu.has_quota = true;
		res.cpu.quota = rc.cpu_quota;
		res.cpu.has_period = true;
		res.cpu.period = (uint64_t)rc.cpu_period;
	}
	if (rc.has_memory) {
		res.memory.has_limit = true;
		res.memory.limit = rc.memory;
	}
	if (l->cfg->pod_pids_limit > 0) {
		res.pids.has_limit = true;
		res.pids.limit = l->cfg->pod_pids_limit;
	}
	cleanup_free char *path = kl_pod_cgroup_parent(&l->o, p);
	update_qos_cgroups(l);
	pthread_mutex_lock(&l->cg_mu);
	cg_write(l, path, &res);
	pthread_mutex_unlock(&l->cg_mu);
}

/* podContainerManager.Exists: the pod cgroup is in every hierarchy its
 * values go to (cpu, memory, pids; v2: the unified one). Checked at every
 * sync, so a pod cgroup removed behind nodelet's back is made again. */
static bool pod_cgroup_exists(struct kl_lifecycle *l, const struct pod *p)
{
	if (!l->cgm)
		return true;
	ndl_error_t e = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	cleanup_free char *path = kl_pod_cgroup_parent(&l->o, p);
	if (cgroup_open(l->cgm, path, &cg, &e) < 0) {
		ndl_error_clear(&e);
		return false;
	}
	bool ok = true;
	static const char *const ctrls[] = {"cpu", "memory", "pids"};
	for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]) && ok; i++) {
		const char *d = cgroup_controller_dir(cg, ctrls[i]);
		ok = !d || access(d, F_OK) == 0;
	}
	cgroup_free(cg);
	return ok;
}

static void remove_cgroup_path(struct kl_lifecycle *l, const char *path)
{
	ndl_error_t e = NDL_ERROR_INIT;
	struct cgroup *cg = NULL;
	if (cgroup_open(l->cgm, path, &cg, &e) == 0) {
		if (cgroup_destroy_timeout(cg, 2000, &e) < 0) {
			log_warn("cannot remove the pod cgroup", "path=%s error=%s", path,
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		cgroup_free(cg);
	} else {
		ndl_error_clear(&e); /* never created */
	}
}

/* A pod known only from the runtime (its manifest went while nodelet was
 * down): its QoS class is unknown, so each QoS level is tried. */
static void remove_orphan_pod_cgroup(struct kl_lifecycle *l, const char *uid)
{
	if (!l->cgm)
		return;
	cleanup_free char *top = qos_root(l);
	static const char *const levels[] = {"", "/burstable", "/besteffort"};
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *path = xasprintf("%s%s/pod%s", top, levels[i], uid);
		remove_cgroup_path(l, path);
	}
	update_qos_cgroups(l);
}

static void remove_pod_cgroup(struct kl_lifecycle *l, const struct pod *p)
{
	if (!l->cfg->cgroups_per_qos)
		return;
	cleanup_free char *path = kl_pod_cgroup_parent(&l->o, p);
	if (l->cgm) {
		ndl_error_t e = NDL_ERROR_INIT;
		struct cgroup *cg = NULL;
		if (cgroup_open(l->cgm, path, &cg, &e) == 0) {
			if (cgroup_destroy_timeout(cg, 2000, &e) < 0) {
				log_warn("cannot remove the pod cgroup", "path=%s error=%s", path,
					 ndl_error_msg(&e));
				ndl_error_clear(&e);
			}
			cgroup_free(cg);
		} else {
			ndl_error_clear(&e); /* never created */
		}
		update_qos_cgroups(l);
		return;
	}
	/* No cgroup driver at hand: rmdir in every v1 hierarchy. */
	cleanup_closedir DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "unified") == 0)
			continue;
		cleanup_free char *pp = xasprintf("/sys/fs/cgroup/%s%s", de->d_name, path);
		rmdir(pp);
	}
}

/* The legacy symlink /var/log/containers/<pod>_<ns>_<container>-<id>.log
 * to the container's log, for log shippers (made only when the log exists,
 * as the kubelet does). */
static void legacy_log_symlink(const struct pod *p, const struct pod_container *c,
			       const char *cid, const char *pod_log_dir, uint32_t restart_count)
{
	cleanup_free char *target = xasprintf("%s/%s/%u.log", pod_log_dir, c->name, restart_count);
	if (access(target, F_OK) < 0 && errno == ENOENT)
		return;
	cleanup_free char *link =
		kl_legacy_log_symlink(KL_LEGACY_LOGS_DIR, p->name, p->namespace, c->name, cid);
	if (symlink(target, link) < 0 && errno != EEXIST)
		log_warn("cannot create the legacy container log symlink", "path=%s errno=%d", link,
			 errno);
}

/* A container's logs go with it (removeContainerLog): its log file and the
 * rotated ones, and its legacy symlink. */
static void remove_container_logs(struct kl_lifecycle *l, const struct kl_observed *o,
				  const char *pod_name, const char *pod_namespace)
{
	pthread_mutex_lock(&l->logs_mu);
	kl_log_clean(o->log_path);
	if (pod_name && pod_namespace) {
		cleanup_free char *link = kl_legacy_log_symlink(KL_LEGACY_LOGS_DIR, pod_name,
								pod_namespace, o->name, o->id);
		if (unlink(link) < 0 && errno != ENOENT)
			log_warn("cannot remove a container log symlink", "path=%s errno=%d", link,
				 errno);
	}
	pthread_mutex_unlock(&l->logs_mu);
}

/* Stop every running container (in parallel, each within the pod's grace
 * period; sidecars after the others, in reverse order), then the
 * sandboxes. remove: also remove the sandboxes and the pod's directory and
 * cgroup (the pod is gone for good). */
static void kill_pod(struct worker *w, struct observed *ob, const char *pod_ip, bool remove)
{
	struct kl_lifecycle *l = w->l;
	int64_t grace = pod_grace(w, ob);
	const struct kl_observed **which = xcalloc(ob->n + 1, sizeof(*which));
	size_t nk = 0;
	for (size_t i = 0; i < ob->n; i++)
		if (ob->ctrs[i].state == 1 || ob->ctrs[i].state == 0)
			which[nk++] = &ob->ctrs[i];
	kill_containers(l, w->pod, pod_ip, ob, which, NULL, nk, grace,
			remove ? "pod removed" : "pod sandbox changed");
	free(which);
	size_t i;
	json_t *s;
	ndl_error_t e = NDL_ERROR_INIT;
	json_array_foreach(ob->sandboxes, i, s)
	{
		json_t *req = json_pack("{s:s}", "pod_sandbox_id", jstr(s, "id"));
		if (kl_cri(l->cc, "StopPodSandbox", req, KL_CRI_TIMEOUT, NULL, &e) < 0) {
			log_warn("StopPodSandbox failed", "sandbox=%s error=%s", jstr(s, "id"),
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		if (remove && kl_cri(l->cc, "RemovePodSandbox", req, KL_CRI_TIMEOUT, NULL, &e) < 0) {
			log_warn("RemovePodSandbox failed", "sandbox=%s error=%s", jstr(s, "id"),
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		json_decref(req);
	}
	if (remove) {
		/* The pod's logs (evictPodLogsDirectories and the containers'
		 * removal): its directory under podLogsDir and the legacy
		 * symlinks, named after the sandbox's metadata (an orphan has
		 * no spec). */
		const json_t *md = json_object_get(json_array_get(ob->sandboxes, 0), "metadata");
		const char *pn = json_string_value(json_object_get(md, "name"));
		const char *pns = json_string_value(json_object_get(md, "namespace"));
		for (size_t k = 0; k < ob->n; k++)
			remove_container_logs(l, &ob->ctrs[k], pn, pns);
		if (pn && pns) {
			cleanup_free char *dir = kl_pod_log_dir_of(&l->o, pns, pn, w->uid);
			pthread_mutex_lock(&l->logs_mu);
			int rr = ndl_rm_rf(dir, &e);
			pthread_mutex_unlock(&l->logs_mu);
			if (rr < 0) {
				log_warn("cannot remove the pod's logs", "path=%s error=%s", dir,
					 ndl_error_msg(&e));
				ndl_error_clear(&e);
			}
		}
		kl_volumes_teardown(l->o.root_dir, w->uid);
		if (w->pod)
			remove_pod_cgroup(l, w->pod);
		else
			remove_orphan_pod_cgroup(l, w->uid);
	}
}

void log_probe_failure(const struct pod *p, const struct pod_container *c, const char *kind,
		       const char *msg)
{
	char q[600];
	log_info("probe failed", "pod=%s/%s container=%s probe=%s output=%s", p->namespace,
		 p->name, c->name, kind, ndl_log_quote(msg, q, sizeof(q)));
}

/* The sandbox's primary IP (NULL when none) and, with ret_changed, why
 * podSandboxChanged wants a new one (NULL: it does not): its network
 * namespace mode is not the one the pod wants now (an UPDATE of the same
 * UID that flipped hostNetwork), or it is on the pod network and has no IP.
 * An unreadable status changes nothing. */
static char *sandbox_ip_check(struct kl_lifecycle *l, const char *sid, const struct pod *p,
			      const char **ret_changed)
{
	ndl_error_t e = NDL_ERROR_INIT;
	char *ip = NULL;
	if (ret_changed)
		*ret_changed = NULL;
	json_t *req = json_pack("{s:s}", "pod_sandbox_id", sid), *resp = NULL;
	if (kl_cri(l->cc, "PodSandboxStatus", req, KL_CRI_TIMEOUT, &resp, &e) == 0) {
		const json_t *st = json_object_get(resp, "status");
		const char *s = json_string_value(
			json_object_get(json_object_get(st, "network"), "ip"));
		if (s && *s)
			ip = xstrdup(s);
		if (ret_changed && p && kl_sandbox_netns_changed(p, st))
			*ret_changed = "network namespace changed";
		else if (ret_changed && p && kl_sandbox_lacks_ip(p, st))
			*ret_changed = "sandbox has no IP address";
	} else {
		ndl_error_clear(&e);
	}
	json_decref(req);
	json_decref(resp);
	return ip;
}

static char *sandbox_ip(struct kl_lifecycle *l, const char *sid)
{
	return sandbox_ip_check(l, sid, NULL, NULL);
}

/* Container GC of a live pod (the kubelet's evictContainers and
 * evictSandboxes with its default policy: MinAge 0, MaxPerPodContainer 1):
 * exited containers with a newer exited container of the same name go,
 * whatever their sandbox, with their logs (a crash-looping container keeps
 * its last dead instance, the pod's lastState, and no more); then older
 * sandboxes that are not ready and hold no container any more. The newest
 * sandbox always stays. */
static void gc_pod(struct kl_lifecycle *l, const struct pod *p, const struct observed *ob,
		   const char *cur_sid)
{
	bool *gone = xcalloc(ob->n + 1, sizeof(*gone));
	ndl_error_t e = NDL_ERROR_INIT;
	for (size_t i = 0; i < ob->n; i++) {
		const struct kl_observed *o = &ob->ctrs[i];
		if (o->state != 2)
			continue;
		bool newer = false;
		for (size_t k = 0; k < ob->n && !newer; k++)
			newer = k != i && ob->ctrs[k].state == 2 &&
				strcmp(ob->ctrs[k].name, o->name) == 0 &&
				ob->ctrs[k].created_at > o->created_at;
		if (!newer)
			continue;
		remove_container_logs(l, o, p->name, p->namespace);
		json_t *req = json_pack("{s:s}", "container_id", o->id);
		if (kl_cri(l->cc, "RemoveContainer", req, KL_CRI_TIMEOUT, NULL, &e) < 0) {
			log_warn("RemoveContainer failed", "container=%s error=%s", o->id,
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		} else {
			log_info("removed dead container", "pod=%s/%s container=%s id=%s",
				 p->namespace, p->name, o->name, o->id);
			gone[i] = true;
		}
		json_decref(req);
	}
	const json_t *newest = NULL;
	size_t i;
	json_t *sb;
	json_array_foreach(ob->sandboxes, i, sb)
	{
		if (!newest || jint(sb, "created_at") > jint(newest, "created_at"))
			newest = sb;
	}
	json_array_foreach(ob->sandboxes, i, sb)
	{
		const char *id = jstr(sb, "id");
		const char *st = json_string_value(json_object_get(sb, "state"));
		if (sb == newest || strcmp(id, cur_sid) == 0 || !st ||
		    strcmp(st, "SANDBOX_READY") == 0)
			continue;
		bool used = false;
		for (size_t k = 0; k < ob->n && !used; k++)
			used = !gone[k] && strcmp(ob->ctrs[k].sandbox_id, id) == 0;
		if (used)
			continue;
		json_t *req = json_pack("{s:s}", "pod_sandbox_id", id);
		if (kl_cri(l->cc, "RemovePodSandbox", req, KL_CRI_TIMEOUT, NULL, &e) < 0) {
			log_warn("RemovePodSandbox failed", "sandbox=%s error=%s", id,
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		} else {
			log_info("removed dead sandbox", "pod=%s/%s sandbox=%s", p->namespace, p->name,
				 id);
		}
		json_decref(req);
	}
	free(gone);
}

/* The kubelet's syncPod refuses pods on the pod network while the runtime's
 * NetworkReady is not true (it logs and records NetworkNotReady). Logged
 * once per pod and outage here: the pod is re-synced every second. */
static bool network_blocked(struct worker *w, const struct pod *p)
{
	char msg[600];
	pthread_mutex_lock(&w->l->mu);
	bool blocked = kl_network_errors(&w->l->rs, msg, sizeof(msg));
	pthread_mutex_unlock(&w->l->mu);
	if (blocked && !w->network_blocked) {
		char full[700], q[800];
		snprintf(full, sizeof(full), "network is not ready: %s", msg);
		log_warn("error syncing pod, skipping", "pod=%s/%s reason=NetworkNotReady error=%s",
			 p->namespace, p->name, ndl_log_quote(full, q, sizeof(q)));
	}
	w->network_blocked = blocked;
	return blocked;
}

/* Returns true when it created a sandbox or started a container: the
 * worker then re-observes at once, so the status reflects them. */
static bool sync_pod(struct worker *w, struct pod *p)
{
	bool started = false;
	struct kl_lifecycle *l = w->l;
	ndl_error_t e = NDL_ERROR_INIT;
	struct observed ob;
	char q[1024];
	if (observe(l, p->uid, &ob, &e) < 0) {
		log_warn("cannot observe pod", "pod=%s/%s error=%s", p->namespace, p->name,
			 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
		ndl_error_clear(&e);
		observed_free(&ob);
		return false;
	}
	int64_t now = now_real();
	cleanup_free char *pod_ip = NULL;
	cleanup_free char *new_sid = NULL;
	json_t *sbcfg = NULL;
	const char *sid = NULL;
	const json_t *cur_sb = kl_pick_sandbox(ob.sandboxes);
	const char *changed = NULL;
	if (cur_sb)
		pod_ip = sandbox_ip_check(l, json_string_value(json_object_get(cur_sb, "id")), p,
					  &changed);
	if (changed) {
		/* podSandboxChanged: the sandbox's network namespace mode is no
		 * longer the pod's (hostNetwork flipped by an update of the same
		 * UID), or the sandbox is on the pod network without an IP. It
		 * no longer counts as the pod's ready sandbox, so the actions
		 * below kill every container and the sandbox, create a new one
		 * (attempt + 1) and start the containers again, as
		 * computePodActions does for a changed sandbox. */
		log_info("a new pod sandbox is needed", "pod=%s/%s sandbox=%s reason=\"%s\" host_network=%s",
			 p->namespace, p->name, jstr(cur_sb, "id"), changed,
			 p->host_network ? "true" : "false");
		json_object_set_new((json_t *)cur_sb, "state", json_string("SANDBOX_NOTREADY"));
		cur_sb = NULL;
		free(steal_ptr(&pod_ip));
	}
	/* Probe workers for the running containers of the current sandbox
	 * (their own threads); a liveness/startup failure they reported kills
	 * the container here and the actions below restart it (with the
	 * back-off) as for any exit. */
	struct kl_probe_kill pk[16];
	size_t npk = kl_probe_set_sync(w->probes, p, ob.ctrs, ob.n,
				       cur_sb ? json_string_value(json_object_get(cur_sb, "id")) : NULL,
				       pod_ip, pk, 16);
	if (npk) {
		const struct kl_observed *which[16];
		int64_t graces[16];
		for (size_t i = 0; i < npk; i++) {
			log_info("container failed a probe", "pod=%s/%s container=%s message=%s",
				 p->namespace, p->name, pk[i].ctr->name,
				 ndl_log_quote(pk[i].message, q, sizeof(q)));
			which[i] = pk[i].ctr;
			/* A probe-level terminationGracePeriodSeconds wins. */
			graces[i] = pk[i].grace_s >= 0 ? pk[i].grace_s : pod_grace(w, &ob);
		}
		kill_containers(l, p, pod_ip, &ob, which, graces, npk, pod_grace(w, &ob),
				"probe failure");
		for (size_t i = 0; i < npk; i++) {
			struct kl_observed *o = pk[i].ctr;
			o->state = 2;
			o->exit_code = 137;
			o->finished_at = now_real();
			o->reason = "Error";
			o->has_probe_result = false;
		}
	}
	if (!w->cgroup_ensured || !pod_cgroup_exists(l, p)) {
		/* Once per worker (and after an update), and again whenever it
		 * has gone (the kubelet's Exists check in syncPod): the
		 * runtime's pods adopted after a restart get their values too.
		 * Unlike the kubelet, running containers are not killed first
		 * when it is missing: under cgroup v1 and v2 alike it cannot be
		 * removed while they run in it, and a creation that keeps
		 * failing would otherwise kill the pod at every sync. */
		ensure_pod_cgroup(l, p);
		w->cgroup_ensured = true;
	}
	struct kl_pod_actions act = {0}, *a = &act;
	/* activeDeadlineSeconds (counted from the pod's start): the pod is
	 * failed, its containers stopped and never restarted. */
	/* status.startTime: the first sync (the status manager sets it the
	 * first time it stores the pod's status), so a pod that never gets a
	 * container (image pull back-off) has one and its deadline runs; a
	 * pod adopted after a restart keeps its sandbox's creation time. */
	if (!w->start_time_ns) {
		int64_t first = 0;
		size_t si;
		json_t *sj;
		json_array_foreach(ob.sandboxes, si, sj)
		{
			int64_t c = jint(sj, "created_at");
			if (c > 0 && (!first || c < first))
				first = c;
		}
		w->start_time_ns = first ? first : now;
	}
	bool deadline = p->has_active_deadline_seconds && w->start_time_ns &&
			now - w->start_time_ns >= p->active_deadline_seconds * 1000000000LL;
	if (deadline) {
		if (!w->deadline_done) {
			log_info("pod exceeded activeDeadlineSeconds, stopping it", "pod=%s/%s",
				 p->namespace, p->name);
			kill_pod(w, &ob, pod_ip, false);
			w->deadline_done = true;
		}
		for (size_t i = 0; i < ob.n; i++)
			if (ob.ctrs[i].state == 1)
				ob.ctrs[i].state = 2; /* stopped just now */
		goto status;
	}
	if (!p->host_network && network_blocked(w, p)) {
		/* syncPod: "network is not ready" before any runtime action; the
		 * status still shows what runs. */
		kl_pod_actions_reset(a, p, ob.n);
		sid = cur_sb ? json_string_value(json_object_get(cur_sb, "id")) : NULL;
		goto status;
	}
	kl_compute_pod_actions(p, ob.sandboxes, ob.ctrs, ob.n, &w->bt, now, a);
	sid = a->sandbox_id;
	if (a->kill_pod) {
		log_info("pod sandbox changed, killing the pod", "pod=%s/%s", p->namespace,
			 p->name);
		kill_pod(w, &ob, pod_ip, false);
	}
	if (a->pod_done && sid) {
		json_t *req = json_pack("{s:s}", "pod_sandbox_id", sid);
		if (kl_cri(l->cc, "StopPodSandbox", req, KL_CRI_TIMEOUT, NULL, &e) < 0)
			ndl_error_clear(&e);
		json_decref(req);
	}
	for (size_t i = 0; i < a->n_kill; i++)
		log_info("container definition changed, will be restarted",
			 "pod=%s/%s container=%s", p->namespace, p->name, a->kill[i]->name);
	kill_containers(l, p, pod_ip, &ob, a->kill, NULL, a->n_kill, pod_grace(w, &ob),
			"container spec changed");
	if (a->create_sandbox) {
		sbcfg = kl_sandbox_config(&l->o, p, a->attempt, &e);
		cleanup_free char *logdir = kl_pod_log_dir(&l->o, p);
		json_t *resp = NULL;
		if (ndl_mkdir_p(logdir, 0755, &e) < 0 || kl_volumes_setup(&l->o, p, &e) < 0) {
			log_warn("cannot prepare the pod", "pod=%s/%s error=%s", p->namespace,
				 p->name, ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			for (size_t k = 0; k < a->n_start; k++)
				kl_pod_actions_wait(a, a->start[k].c->name, "CreateContainerConfigError",
					    ndl_error_msg(&e));
			a->n_start = 0;
			ndl_error_clear(&e);
			goto status;
		}
		json_t *req = json_pack("{s:O}", "config", sbcfg);
		int r = kl_cri(l->cc, "RunPodSandbox", req, KL_CRI_TIMEOUT_X2, &resp, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("RunPodSandbox failed", "pod=%s/%s error=%s", p->namespace, p->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			for (size_t k = 0; k < a->n_start; k++)
				kl_pod_actions_wait(a, a->start[k].c->name, "ContainerCreating",
					    ndl_error_msg(&e));
			a->n_start = 0;
			ndl_error_clear(&e);
			goto status;
		}
		new_sid = xstrdup(jstr(resp, "pod_sandbox_id"));
		json_decref(resp);
		sid = new_sid;
		started = true;
		log_info("pod sandbox created", "pod=%s/%s sandbox=%s attempt=%u", p->namespace,
			 p->name, sid, a->attempt);
	} else if (sid && a->n_start) {
		/* Same sandbox: its config as created (attempt from its metadata). */
		const json_t *sb = kl_pick_sandbox(ob.sandboxes);
		sbcfg = kl_sandbox_config(&l->o, p,
					  (uint32_t)jint(json_object_get(sb, "metadata"), "attempt"),
					  &e);
	}
	if (new_sid) {
		free(pod_ip);
		pod_ip = sandbox_ip(l, new_sid);
	}
	for (size_t k = 0; k < a->n_start && sid; k++) {
		const struct pod_container *c = a->start[k].c;
		const char *reason = NULL;
		char key[512];
		snprintf(key, sizeof(key), "image:%s:%s", c->name, c->image);
		struct kl_backoff_entry *be = kl_backoff_get(&w->bt, key, false);
		if (be && be->backoff_ns && now - be->last_update_ns < be->backoff_ns) {
			char msg[300];
			snprintf(msg, sizeof(msg), "Back-off pulling image \"%s\"", c->image);
			kl_pod_actions_wait(a, c->name, "ImagePullBackOff", msg);
			continue;
		}
		if (kl_ensure_image(l->ic, c, sbcfg, &reason, &e) < 0) {
			log_warn("image pull failed", "pod=%s/%s container=%s error=%s", p->namespace,
				 p->name, c->name, ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			/* As the kubelet's image manager: a missing image with
			 * pull policy Never (ErrImageNeverPull) and an image that
			 * cannot be inspected (ImageInspectError) are reported at
			 * every sync and never enter the pull back-off (no pull
			 * was tried). */
			if (!reason || (strcmp(reason, "ErrImageNeverPull") != 0 &&
					strcmp(reason, "ImageInspectError") != 0))
				kl_backoff_next(&w->bt, key, now);
			kl_pod_actions_wait(a, c->name, reason ? reason : "ErrImagePull", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		if (be)
			be->backoff_ns = 0;
		json_t *cc = kl_verify_run_as_non_root(l->ic, p, c, &e) < 0 ?
				     NULL :
				     kl_container_config(&l->o, p, c, a->start[k].restart_count,
							 pod_ip, &e);
		if (!cc) {
			kl_pod_actions_wait(a, c->name, "CreateContainerConfigError", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		cleanup_free char *cdir = kl_pod_log_dir(&l->o, p);
		cleanup_free char *cld = xasprintf("%s/%s", cdir, c->name);
		if (ndl_mkdir_p(cld, 0755, &e) < 0)
			ndl_error_clear(&e);
		json_t *req = json_pack("{s:s,s:o,s:O}", "pod_sandbox_id", sid, "config", cc,
					"sandbox_config", sbcfg),
		       *resp = NULL;
		int r = kl_cri(l->cc, "CreateContainer", req, KL_CRI_TIMEOUT, &resp, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("CreateContainer failed", "pod=%s/%s container=%s error=%s",
				 p->namespace, p->name, c->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			kl_pod_actions_wait(a, c->name, "CreateContainerError", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		cleanup_free char *cid = xstrdup(jstr(resp, "container_id"));
		json_decref(resp);
		req = json_pack("{s:s}", "container_id", cid);
		r = kl_cri(l->cc, "StartContainer", req, KL_CRI_TIMEOUT, NULL, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("StartContainer failed", "pod=%s/%s container=%s error=%s",
				 p->namespace, p->name, c->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			kl_pod_actions_wait(a, c->name, "RunContainerError", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		started = true;
		log_info("container started", "pod=%s/%s container=%s id=%s restart_count=%u",
			 p->namespace, p->name, c->name, cid, a->start[k].restart_count);
		legacy_log_symlink(p, c, cid, cdir, a->start[k].restart_count);
		/* postStart (exec, httpGet, sleep), synchronous as in the
		 * kubelet and without a timeout of its own: a failure kills the
		 * container (FailedPostStartHook), which then restarts per
		 * restartPolicy. */
		if (c->post_start.type != POD_HANDLER_NONE) {
			char hmsg[1024];
			if (kl_run_hook(l->cc, p, c, c->name, &c->post_start, cid, pod_ip, 0, hmsg,
					sizeof(hmsg)) < 0) {
				log_warn("postStart hook failed, killing the container",
					 "pod=%s/%s container=%s reason=FailedPostStartHook message=%s",
					 p->namespace, p->name, c->name,
					 ndl_log_quote(hmsg, q, sizeof(q)));
				struct kl_observed ko = {.id = cid, .name = c->name, .state = 1};
				const struct kl_observed *kp = &ko;
				kill_containers(l, p, pod_ip, &ob, &kp, NULL, 1, pod_grace(w, &ob),
						"FailedPostStartHook");
			}
		}
		/* Started: the status below must not still call it waiting. */
	}
	/* Container GC once a minute (the kubelet's ContainerGCPeriod), not
	 * at every sync: each pass costs RemoveContainer/RemovePodSandbox
	 * calls, and the kubelet's dead containers linger up to a minute too.
	 * It also runs at a worker's first sync, so a restarted nodelet
	 * collects at once, as the kubelet's GC loop starts immediately. */
	if (sid && !a->create_sandbox && !a->kill_pod && now_mono() >= w->gc_next_ns) {
		gc_pod(l, p, &ob, sid);
		w->gc_next_ns = now_mono() + KL_GC_PERIOD_NS;
	}
status:;
	/* Status from what was observed plus this sync's waiting reasons;
	 * when something was started the worker syncs again at once and that
	 * sync's status (observed after the start) is the one /pods shows. */
	struct kl_status_input in = {
		.p = p,
		.sandbox_id = sid,
		.sandbox_ready = sid != NULL,
		.pod_ip = pod_ip,
		.host_ip = l->host_ip,
		.runtime_name = l->runtime_name,
		.ctrs = ob.ctrs,
		.n_ctrs = ob.n,
		.actions = a,
		.start_time_ns = w->start_time_ns,
		.deadline_exceeded = deadline,
		.prev = w->status, /* replaced only by this pod's syncs */
	};
	json_t *st = kl_pod_status(&in);
	struct pod *old_pod = NULL;
	pthread_mutex_lock(&l->mu);
	if (!w->status || w->status_pod != p || !json_equal(w->status, st)) {
		l->pods_dirty = true;
		pthread_cond_signal(&l->pub_cv);
	}
	json_decref(w->status);
	w->status = st;
	if (w->status_pod != p) {
		old_pod = w->status_pod;
		w->status_pod = pod_ref(p);
	}
	pthread_mutex_unlock(&l->mu);
	if (old_pod)
		pod_unref(old_pod);
	json_decref(sbcfg);
	kl_pod_actions_free(a);
	observed_free(&ob);
	return started;
}

/* Pool sizes and timings (see the header comment). */
#define KL_POOL_MIN	 4
#define KL_POOL_MAX	 32
#define KL_POOL_IDLE_NS	 5000000000LL
#define KL_RESYNC_NS	 1000000000LL /* the kubelet's relist period */
#define KL_QOS_UPDATE_NS 60000000000LL /* periodicQOSCgroupUpdateInterval */
#define KL_THREAD_STACK	 (512 * 1024)
#define KL_DUE_NONE	 INT64_MAX

static int pool_base(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 && 2 * n > KL_POOL_MIN ? (int)(2 * n < KL_POOL_MAX ? 2 * n : KL_POOL_MAX) :
					      KL_POOL_MIN;
}

static int start_thread(void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, KL_THREAD_STACK);
	pthread_t th;
	int r = pthread_create(&th, &at, fn, arg);
	pthread_attr_destroy(&at);
	return r;
}

static void *pool_main(void *arg);

/* Under l->mu: a pool thread more (false when none could start). */
static bool pool_grow(struct kl_lifecycle *l)
{
	l->pool_threads++;
	int r = start_thread(pool_main, l);
	if (r != 0) {
		l->pool_threads--;
		log_warn("cannot start a pod worker thread", "threads=%d errno=%d", l->pool_threads,
			 r);
		return false;
	}
	return true;
}

/* Under l->mu: something became due now; an idle thread takes it, else
 * the pool grows (up to its cap; at the cap it waits for a thread). */
static void pool_wake(struct kl_lifecycle *l)
{
	if (l->stop)
		return;
	if (l->pool_idle > 0) {
		l->pool_idle--;
		l->pool_signals++;
		pthread_cond_signal(&l->pool_cv);
	} else if (l->pool_threads < KL_POOL_MAX)
		pool_grow(l);
}

/* Under l->mu: sync w as soon as a thread is free (coalesces). */
static void kick_locked(struct kl_lifecycle *l, struct worker *w)
{
	if (w->rejected && !w->terminate)
		return;
	int64_t now = now_mono();
	if (w->due_ns > now)
		w->due_ns = now;
	w->urgent = true;
	if (!w->running)
		pool_wake(l);
}

/* updateRuntimeUp: one CRI Status call into l->rs. A failed call changes
 * nothing (the last good reply ages until the runtime counts as down).
 * Each message is logged when it changes, not every period. When pods may
 * be synced again, or get the pod network again, every pod is kicked. */
static void runtime_status_poll(struct kl_lifecycle *l)
{
	ndl_error_t e = NDL_ERROR_INIT;
	json_t *req = json_object(), *resp = NULL;
	int r = kl_cri(l->cc, "Status", req, 10000, &resp, &e);
	json_decref(req);
	char rt0[600] = "", net0[600] = "", rt1[600] = "", net1[600] = "", q[800];
	pthread_mutex_lock(&l->mu);
	int64_t now = now_mono();
	bool rt_was = kl_runtime_errors(&l->rs, now, rt0, sizeof(rt0));
	bool net_was = kl_network_errors(&l->rs, net0, sizeof(net0));
	if (r == 0)
		kl_runtime_state_update(&l->rs, resp, now);
	bool rt_now = kl_runtime_errors(&l->rs, now, rt1, sizeof(rt1));
	bool net_now = kl_network_errors(&l->rs, net1, sizeof(net1));
	if ((rt_was && !rt_now) || (net_was && !net_now))
		for (struct worker *w = l->workers; w; w = w->next)
			if (!w->done)
				kick_locked(l, w);
	if (!rt_now)
		l->rs_skipping = false;
	pthread_mutex_unlock(&l->mu);
	json_decref(resp);
	if (r < 0) {
		log_debug(2, "container runtime sanity check failed", "error=%s",
			  ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
		ndl_error_clear(&e);
	}
	if (rt_now && strcmp(rt0, rt1) != 0)
		log_warn("container runtime not ready", "error=%s", ndl_log_quote(rt1, q, sizeof(q)));
	else if (!rt_now && rt_was)
		log_info("container runtime ready", "runtime=%s", l->runtime_name);
	if (net_now && strcmp(net0, net1) != 0)
		log_warn("container runtime network not ready", "error=%s",
			 ndl_log_quote(net1, q, sizeof(q)));
	else if (!net_now && net_was)
		log_info("container runtime network ready", "runtime=%s", l->runtime_name);
}

/* Under l->mu: may pods be synced (the kubelet's syncLoop skips them all
 * while runtimeErrors() says no)? Logged once per outage. */
static bool runtime_blocked_locked(struct kl_lifecycle *l)
{
	char msg[600], q[800];
	if (!kl_runtime_errors(&l->rs, now_mono(), msg, sizeof(msg)))
		return false;
	if (!l->rs_skipping) {
		l->rs_skipping = true;
		log_warn("skipping pod synchronization", "error=%s", ndl_log_quote(msg, q, sizeof(q)));
	}
	return true;
}

/* Under l->mu: the worker adopts the update handed over by the sources. */
static void take_pending(struct worker *w)
{
	if (!w->pending)
		return;
	if (w->pod)
		pod_unref(w->pod);
	w->pod = steal_ptr(&w->pending);
	w->cgroup_ensured = false; /* resources may have changed */
}

/* Stop the pod for good: probes first, then containers (grace periods,
 * preStop hooks, sidecars last), sandboxes, volumes and cgroup. */
static void terminate_pod(struct worker *w)
{
	struct kl_lifecycle *l = w->l;
	/* Probes end before the containers are stopped (outside l->mu: a
	 * probe thread holds the set's lock while it takes l->mu to kick). */
	kl_probe_set_close(w->probes);
	w->probes = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	struct observed ob;
	if (observe(l, w->uid, &ob, &e) == 0) {
		log_info("terminating pod", "uid=%s grace_period=%lld", w->uid,
			 (long long)pod_grace(w, &ob));
		const json_t *sb = kl_pick_sandbox(ob.sandboxes);
		cleanup_free char *ip = sb ? sandbox_ip(l, jstr(sb, "id")) : NULL;
		kill_pod(w, &ob, ip, true);
		log_info("pod terminated", "uid=%s", w->uid);
	} else {
		log_warn("cannot observe pod to terminate it", "uid=%s error=%s", w->uid,
			 ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	observed_free(&ob);
}

/* Under l->mu: the worker is finished; the relist thread frees it (and
 * starts the pod again when it was re-added meanwhile). */
static void worker_finish(struct worker *w)
{
	w->running = false;
	w->done = true;
	pthread_cond_broadcast(&w->l->cv); /* relist, kl_lifecycle_stop */
}

static void *term_main(void *arg)
{
	struct worker *w = arg;
	struct kl_lifecycle *l = w->l;
	pthread_setname_np(pthread_self(), "pod-terminate");
	terminate_pod(w);
	pthread_mutex_lock(&l->mu);
	worker_finish(w);
	l->term_threads--;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Under l->mu: the worker due first among those not running, or NULL.
 * any false: only kicked ones, or periodic re-syncs already a period late
 * (see pool_main). */
static struct worker *pool_pick(struct kl_lifecycle *l, bool any, int64_t now, int64_t *ret_due)
{
	struct worker *best = NULL;
	for (struct worker *w = l->workers; w; w = w->next)
		if (!w->running && !w->done && (!best || w->due_ns < best->due_ns) &&
		    (any || w->urgent || w->due_ns <= now - KL_RESYNC_NS))
			best = w;
	*ret_due = best ? best->due_ns : KL_DUE_NONE;
	return best;
}

/* One pool thread: runs due syncs, one pod at a time. The first
 * pool_base() threads are the base: they take any work, periodic re-syncs
 * included, and wait for the next one when idle. Threads the pool grew
 * (kicks arriving while every thread was busy) take kicked pods only, or
 * periodic re-syncs a whole period late (the base threads all blocked),
 * and exit after KL_POOL_IDLE_NS without such work: in steady state the
 * base threads do the periodic re-syncs and the extras go. */
static void *pool_main(void *arg)
{
	struct kl_lifecycle *l = arg;
	pthread_setname_np(pthread_self(), "pod-worker"); /* for ps -L, gdb, tests */
	pthread_mutex_lock(&l->mu);
	bool base = l->pool_base_threads < pool_base();
	l->pool_base_threads += base;
	int64_t idle_since = now_mono();
	while (!l->stop) {
		int64_t due, now = now_mono();
		struct worker *w = pool_pick(l, base, now, &due);
		if (!w || due > now) {
			if (!base && now - idle_since >= KL_POOL_IDLE_NS)
				break;
			int64_t until = base ? due : idle_since + KL_POOL_IDLE_NS;
			if (until > now + 60 * 1000000000LL)
				until = now + 60 * 1000000000LL;
			struct timespec dl = {.tv_sec = until / 1000000000LL,
					      .tv_nsec = until % 1000000000LL};
			l->pool_idle++;
			pthread_cond_timedwait(&l->pool_cv, &l->mu, &dl);
			/* Either a wake-up token is taken or the thread leaves the
			 * idle count (a timeout): each waiter undoes one. */
			if (l->pool_signals > 0)
				l->pool_signals--;
			else
				l->pool_idle--;
			continue;
		}
		w->running = true;
		w->urgent = false;
		w->due_ns = KL_DUE_NONE;
		/* Another kicked pod waits: wake an idle thread or grow (which,
		 * picking work, may start the next one). Periodic re-syncs are
		 * left to the threads that wait for them. */
		for (struct worker *o = l->workers; o; o = o->next) {
			if (!o->running && !o->done && o->due_ns <= now &&
			    (o->urgent || o->due_ns <= now - KL_RESYNC_NS)) {
				pool_wake(l);
				break;
			}
		}
		if (w->terminate) {
			/* Terminating: with the latest spec (its grace period and
			 * hooks), on a thread of its own. */
			take_pending(w);
			l->term_threads++;
			if (start_thread(term_main, w) != 0) {
				l->term_threads--;
				pthread_mutex_unlock(&l->mu);
				terminate_pod(w); /* no thread: here */
				pthread_mutex_lock(&l->mu);
				worker_finish(w);
			}
			idle_since = now_mono();
			continue;
		}
		if (runtime_blocked_locked(l)) {
			/* No sync while the runtime is not ready: retried in a
			 * period, or at once when a Status reply says it is. */
			w->running = false;
			if (w->due_ns == KL_DUE_NONE)
				w->due_ns = now + KL_RESYNC_NS;
			continue;
		}
		take_pending(w);
		struct pod *p = pod_ref(w->pod);
		pthread_mutex_unlock(&l->mu);
		bool again = sync_pod(w, p);
		pod_unref(p);
		pthread_mutex_lock(&l->mu);
		w->running = false;
		now = now_mono();
		idle_since = now;
		if (again || w->terminate || w->pending) {
			w->due_ns = now;
			w->urgent = true;
		}
		else if (w->due_ns == KL_DUE_NONE) /* not kicked meanwhile */
			w->due_ns = now + KL_RESYNC_NS;
	}
	l->pool_threads--;
	l->pool_base_threads -= base;
	pthread_cond_broadcast(&l->cv); /* kl_lifecycle_stop may be waiting */
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* A probe result changed: sync the pod now. */
static void kick_worker(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->l->mu);
	kick_locked(w->l, w);
	pthread_mutex_unlock(&w->l->mu);
}

/* Under l->mu. */
static struct worker *find_worker(struct kl_lifecycle *l, const char *uid)
{
	for (struct worker *w = l->workers; w; w = w->next)
		if (strcmp(w->uid, uid) == 0 && !w->done)
			return w;
	return NULL;
}

/* Under l->mu: a new pod worker, due at once. */
static void spawn_worker(struct kl_lifecycle *l, const char *uid, struct pod *p, bool terminate)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	w->l = l;
	w->uid = xstrdup(uid);
	w->pod = p ? pod_ref(p) : NULL;
	w->terminate = terminate;
	w->grace_s = -1;
	w->due_ns = KL_DUE_NONE;
	w->probes = kl_probe_set_new(l->cc, kick_worker, w);
	w->next = l->workers;
	l->workers = w;
	kick_locked(l, w);
}

/* The worker must be done, or never have run (shutdown). */
static void worker_free(struct worker *w)
{
	if (w->pod)
		pod_unref(w->pod);
	if (w->then)
		pod_unref(w->then);
	if (w->pending)
		pod_unref(w->pending);
	kl_probe_set_close(w->probes); /* NULL once terminated */
	json_decref(w->status);
	if (w->status_pod)
		pod_unref(w->status_pod);
	kl_backoff_table_free(&w->bt);
	free(w->uid);
	free(w);
}

static void publish(struct kl_lifecycle *l);

/* Under l->mu: canAdmitPod's pod count (the predicate admit handler):
 * with maxPods active pods a new pod is rejected as the kubelet's rejectPod
 * does: phase Failed, reason OutOfpods, never started. Active pods are
 * those of the pod manager that are not in a terminal phase: a removed
 * pod still in its grace period is no longer in the kubelet's pod manager
 * and does not count, hence terminating workers do not. A rejected pod
 * stays so until removed; a changed manifest is a new pod and is admitted
 * if there is room then. */
static bool admit_locked(struct kl_lifecycle *l, struct pod *p)
{
	int32_t max = l->cfg->max_pods;
	if (max <= 0)
		return true;
	int32_t used = 0;
	for (struct worker *w = l->workers; w; w = w->next) {
		if (w->terminate || w->done || w->rejected || !w->pod)
			continue;
		const char *ph = json_string_value(json_object_get(w->status, "phase"));
		used += !ph || (strcmp(ph, "Succeeded") != 0 && strcmp(ph, "Failed") != 0);
	}
	if (used < max)
		return true;
	char msg[256], ts[40];
	snprintf(msg, sizeof(msg),
		 "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: %d, "
		 "capacity: %d",
		 used, max);
	log_warn("pod rejected at admission", "pod=%s/%s reason=OutOfpods used=%d capacity=%d",
		 p->namespace, p->name, used, max);
	struct worker *w = xcalloc(1, sizeof(*w));
	w->l = l;
	w->uid = xstrdup(p->uid);
	w->pod = pod_ref(p);
	w->grace_s = -1;
	w->due_ns = KL_DUE_NONE;
	w->rejected = true;
	w->start_time_ns = now_real();
	w->status = json_pack("{s:s,s:s,s:s,s:s}", "phase", "Failed", "reason", "OutOfpods",
			      "message", msg, "startTime",
			      kl_rfc3339(w->start_time_ns, ts, sizeof(ts)));
	w->status_pod = pod_ref(p);
	w->next = l->workers;
	l->workers = w;
	l->pods_dirty = true;
	pthread_cond_signal(&l->pub_cv);
	return false;
}

void kl_lifecycle_handle_events(struct kl_lifecycle *l, const struct sp_event *ev, size_t n)
{
	pthread_mutex_lock(&l->mu);
	l->sources_ready = true;
	for (size_t i = 0; i < n; i++) {
		const struct sp_event *e = &ev[i];
		if (e->type == SP_EVENT_ERROR)
			continue;
		struct worker *w;
		if (e->type == SP_EVENT_UPDATE && strcmp(e->old->uid, e->pod->uid) != 0) {
			/* A new UID is a new pod (static pod UIDs hash the
			 * content): the old one terminates. */
			if ((w = find_worker(l, e->old->uid))) {
				w->terminate = true;
				kick_locked(l, w);
			}
		}
		w = find_worker(l, e->pod->uid);
		if (e->type == SP_EVENT_REMOVE) {
			if (w) {
				w->terminate = true;
				if (w->then)
					pod_unref(w->then);
				w->then = NULL;
				kick_locked(l, w);
			}
			continue;
		}
		if (w && w->rejected && !w->terminate) {
			continue; /* a rejected pod stays Failed (terminal) */
		} else if (w && !w->terminate) {
			/* Same UID, new spec: handed over to the worker for its
			 * next sync (a newer update replaces one not taken yet). */
			if (w->pending)
				pod_unref(w->pending);
			w->pending = pod_ref(e->pod);
			kick_locked(l, w);
		} else if (!w) {
			if (!admit_locked(l, e->pod))
				continue;
			spawn_worker(l, e->pod->uid, e->pod, false);
		} else {
			/* Back while still terminating (the kubelet waits for the
			 * termination to finish, then starts the pod afresh). */
			if (w->then)
				pod_unref(w->then);
			w->then = pod_ref(e->pod);
		}
	}
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	/* /pods follows the sources at once, statuses come with the syncs. */
	publish(l);
}

/* Replace /pods with the workers' pods and statuses. The list is built
 * and handed over under the lock, so a relist's publication can never
 * overwrite a newer one made for a source event. */
static void publish(struct kl_lifecycle *l)
{
	json_t *items = json_array();
	pthread_mutex_lock(&l->mu);
	for (struct worker *w = l->workers; w; w = w->next) {
		if (w->terminate || !w->pod)
			continue;
		/* Shallow copies (json_copy): the specs' values are shared,
		 * only the top-level object is new, so setting its status
		 * leaves the spec untouched. */
		if (w->pending) {
			/* The new spec at once, with the status so far. */
			json_t *pj = json_copy(w->pending->json);
			if (w->status)
				json_object_set(pj, "status", w->status);
			json_array_append_new(items, pj);
		} else if (w->status) {
			json_t *pj = json_copy(w->status_pod->json);
			json_object_set(pj, "status", w->status);
			json_array_append_new(items, pj);
		} else {
			json_array_append(items, w->pod->json);
		}
	}
	json_t *list = json_pack("{s:s,s:s,s:{},s:o}", "kind", "PodList", "apiVersion", "v1",
				 "metadata", "items", items);
	kubelet_http_set_pods(json_dumps(list, JSON_COMPACT));
	pthread_mutex_unlock(&l->mu);
	json_decref(list);
}

/* Rebuilds /pods when a sync changed a status. The window lets the other
 * workers of a burst (every pod woken by one PLEG event, 100 pods created
 * at once) finish their syncs first, so the list, which is the whole
 * PodList serialised, is rebuilt once per window rather than per pod. */
#define KL_PUBLISH_WINDOW_NS 3000000L
static void *publisher_main(void *arg)
{
	struct kl_lifecycle *l = arg;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stop && !l->pods_dirty)
			pthread_cond_wait(&l->pub_cv, &l->mu);
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->mu);
		struct timespec win = {.tv_sec = 0, .tv_nsec = KL_PUBLISH_WINDOW_NS};
		nanosleep(&win, NULL);
		pthread_mutex_lock(&l->mu);
		/* Cleared before the list is built: a status stored after this
		 * point marks it dirty again and gets its own publication. */
		l->pods_dirty = false;
		pthread_mutex_unlock(&l->mu);
		publish(l);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void *relist_main(void *arg)
{
	struct kl_lifecycle *l = arg;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		/* Reap finished workers. */
		for (struct worker **pp = &l->workers; *pp;) {
			if ((*pp)->done) {
				struct worker *w = *pp;
				*pp = w->next;
				struct pod *then = steal_ptr(&w->then);
				pthread_mutex_unlock(&l->mu);
				worker_free(w);
				pthread_mutex_lock(&l->mu);
				if (then && !l->stop) {
					/* Admitted as any new pod (a pod rejected
					 * and re-added is judged again). */
					if (admit_locked(l, then))
						spawn_worker(l, then->uid, then, false);
					pod_unref(then);
				} else if (then) {
					pod_unref(then);
				}
				pp = &l->workers; /* the list may have changed */
				continue;
			}
			pp = &(*pp)->next;
		}
		size_t n_workers = 0;
		int64_t nm = now_mono();
		bool late = false;
		for (struct worker *w = l->workers; w; w = w->next) {
			n_workers++;
			late |= !w->running && !w->done && w->due_ns <= nm - KL_RESYNC_NS;
		}
		/* Periodic re-syncs a period late: the base threads are all
		 * blocked (long grace periods, pulls); an extra thread takes
		 * them. */
		if (late)
			pool_wake(l);
		if (n_workers > l->trim_high)
			l->trim_high = n_workers;
		/* Half the pods (at least 8) went since the last trim: their
		 * threads' stacks are unmapped, but the heap they used (JSON of
		 * statuses, CRI replies) stays in glibc's arenas, one per
		 * thread up to 8 per core, until trimmed. At most once every
		 * 5 s: a trim walks every arena. */
		if (l->trim_high >= n_workers + 8 && n_workers * 2 <= l->trim_high &&
		    now_real() - l->trim_last_ns >= 5000000000LL) {
			l->trim_high = n_workers;
			l->trim_last_ns = now_real();
			pthread_mutex_unlock(&l->mu);
			malloc_trim(0);
			log_debug(2, "memory trimmed after pod removals", "workers=%zu", n_workers);
			pthread_mutex_lock(&l->mu);
		}
		/* Sources are trusted after their first batch, or 10 s. */
		bool ready = l->sources_ready || now_real() - l->started_ns > 10000000000LL;
		bool poll = nm >= l->rs_next_ns;
		if (poll)
			l->rs_next_ns = nm + KL_RUNTIME_STATUS_PERIOD_NS;
		pthread_mutex_unlock(&l->mu);
		if (poll)
			runtime_status_poll(l);
		if (l->cgm && nm >= l->qos_next_ns) {
			/* Besides pod starts and removals, once a minute: values
			 * changed behind nodelet's back are put back. */
			if (l->qos_next_ns)
				update_qos_cgroups(l);
			l->qos_next_ns = nm + KL_QOS_UPDATE_NS;
		}
		if (ready) {
			json_t *resp = NULL;
			ndl_error_t e = NDL_ERROR_INIT;
			json_t *req = json_object();
			if (kl_cri(l->cc, "ListPodSandbox", req, KL_CRI_TIMEOUT, &resp, &e) == 0) {
				size_t i;
				json_t *s;
				pthread_mutex_lock(&l->mu);
				json_array_foreach(json_object_get(resp, "items"), i, s)
				{
					const char *uid = json_string_value(json_object_get(
						json_object_get(s, "labels"), KL_LABEL_POD_UID));
					if (!uid || find_worker(l, uid))
						continue;
					log_info("found a pod no source wants: stopping it",
						 "uid=%s sandbox=%s", uid, jstr(s, "id"));
					spawn_worker(l, uid, NULL, true);
				}
				pthread_mutex_unlock(&l->mu);
			} else {
				log_debug(2, "relist failed", "error=%s", ndl_error_msg(&e));
				ndl_error_clear(&e);
			}
			json_decref(req);
			json_decref(resp);
		}
		publish(l);
		pthread_mutex_lock(&l->mu);
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		if (!l->stop)
			pthread_cond_timedwait(&l->cv, &l->mu, &dl);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* ---- the container log manager (pkg/kubelet/logs) ---- */

struct reopen_ctx {
	struct kl_lifecycle *l;
	const char *id;
};

static int reopen_log(void *arg, ndl_error_t *err)
{
	struct reopen_ctx *c = arg;
	json_t *req = json_pack("{s:s}", "container_id", c->id);
	int r = kl_cri(c->l->cc, "ReopenContainerLog", req, KL_CRI_TIMEOUT, NULL, err);
	json_decref(req);
	return r;
}

/* rotateLogs: every running container of the runtime whose log reached
 * max_size is rotated (one at a time: containerLogMaxWorkers' default). */
static void rotate_logs(struct kl_lifecycle *l, int64_t max_size)
{
	ndl_error_t e = NDL_ERROR_INIT;
	char q[600];
	json_t *req = json_object(), *resp = NULL;
	int r = kl_cri(l->cc, "ListContainers", req, KL_CRI_TIMEOUT, &resp, &e);
	json_decref(req);
	if (r < 0) {
		log_debug(2, "log rotation: cannot list containers", "error=%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
		return;
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(resp, "containers"), i, c)
	{
		const char *state = json_string_value(json_object_get(c, "state"));
		const char *id = json_string_value(json_object_get(c, "id"));
		if (!id || !state || strcmp(state, "CONTAINER_RUNNING") != 0)
			continue;
		json_t *sreq = json_pack("{s:s}", "container_id", id), *st = NULL;
		if (kl_cri(l->cc, "ContainerStatus", sreq, KL_CRI_TIMEOUT, &st, &e) == 0) {
			const char *path = json_string_value(
				json_object_get(json_object_get(st, "status"), "log_path"));
			struct stat sb;
			struct reopen_ctx rc = {l, id};
			int sr = path && *path ? stat(path, &sb) : 0;
			if (sr < 0 && errno == ENOENT) {
				/* The log is gone (a rotation whose reopen and
				 * rename back both failed): have the runtime
				 * open it again, as rotateLogs does. */
				if (reopen_log(&rc, &e) < 0) {
					log_warn("cannot reopen a missing container log",
						 "container=%s error=%s", id,
						 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
					ndl_error_clear(&e);
				}
				sr = stat(path, &sb);
			}
			pthread_mutex_lock(&l->logs_mu);
			if (path && *path && sr == 0 && sb.st_size >= max_size &&
			    access(path, F_OK) == 0) {
				if (kl_log_rotate(path, l->cfg->container_log_max_files, now_real(),
						  reopen_log, &rc, &e) < 0) {
					log_warn("cannot rotate a container log", "container=%s error=%s",
						 id, ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
					ndl_error_clear(&e);
				} else {
					log_debug(2, "rotated container log", "container=%s path=%s size=%lld",
						  id, path, (long long)sb.st_size);
				}
			}
			pthread_mutex_unlock(&l->logs_mu);
		} else {
			ndl_error_clear(&e); /* gone meanwhile */
		}
		json_decref(sreq);
		json_decref(st);
	}
	json_decref(resp);
}

/* The container GC's sweep of legacy symlinks whose log is gone: removed
 * unless their container still runs (its log may be between the rename
 * and the reopen of a rotation). */
static void sweep_legacy_symlinks(struct kl_lifecycle *l)
{
	glob_t g = {0};
	if (glob(KL_LEGACY_LOGS_DIR "/*.log", GLOB_NOSORT, NULL, &g) != 0) {
		globfree(&g);
		return;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *link = g.gl_pathv[i];
		struct stat sb;
		char id[128];
		if (stat(link, &sb) == 0 || errno != ENOENT)
			continue;
		/* A dangling link goes unless its container still runs; one
		 * without a container ID in its name goes too. */
		bool keep = false;
		json_t *req = NULL, *st = NULL;
		ndl_error_t e = NDL_ERROR_INIT;
		if (kl_legacy_log_id(link, id, sizeof(id)) == 0 &&
		    kl_cri(l->cc, "ContainerStatus", (req = json_pack("{s:s}", "container_id", id)),
			   KL_CRI_TIMEOUT, &st, &e) == 0) {
			const char *state = json_string_value(
				json_object_get(json_object_get(st, "status"), "state"));
			keep = !state || strcmp(state, "CONTAINER_EXITED") != 0;
		} else {
			ndl_error_clear(&e);
		}
		json_decref(req);
		json_decref(st);
		if (!keep && unlink(link) < 0 && errno != ENOENT)
			log_warn("cannot remove a dangling log symlink", "path=%s errno=%d", link,
				 errno);
	}
	globfree(&g);
}

#define KL_LOG_SWEEP_NS 60000000000LL /* the container GC's period */

static void *logs_main(void *arg)
{
	struct kl_lifecycle *l = arg;
	pthread_setname_np(pthread_self(), "log-manager");
	ndl_quantity_t q;
	ndl_error_t e = NDL_ERROR_INIT;
	int64_t max_size = 10 << 20;
	if (ndl_quantity_parse(l->cfg->container_log_max_size, &q, &e) == 0 && q.value > 0)
		max_size = q.value; /* validated at start */
	ndl_error_clear(&e);
	int64_t period = l->cfg->container_log_monitor_interval_ns > 0 ?
				 l->cfg->container_log_monitor_interval_ns :
				 10000000000LL;
	int64_t next_rotate = now_real() + period, next_sweep = now_real() + KL_LOG_SWEEP_NS;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		int64_t now = now_real();
		if (now >= next_rotate || now >= next_sweep) {
			bool rotate = now >= next_rotate, sweep = now >= next_sweep;
			pthread_mutex_unlock(&l->mu);
			if (rotate)
				rotate_logs(l, max_size);
			if (sweep)
				sweep_legacy_symlinks(l);
			pthread_mutex_lock(&l->mu);
			now = now_real();
			if (rotate)
				next_rotate = now + period;
			if (sweep)
				next_sweep = now + KL_LOG_SWEEP_NS;
			continue;
		}
		int64_t until = next_rotate < next_sweep ? next_rotate : next_sweep;
		struct timespec dl = {.tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL};
		pthread_cond_timedwait(&l->cv, &l->mu, &dl);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* The evented PLEG: GetContainerEvents, when the runtime offers it (ours
 * does, containerd 1.6 does not), wakes every pod worker at once instead of
 * waiting for the next one-second relist. */
static void *events_main(void *arg)
{
	struct kl_lifecycle *l = arg;
	int64_t retry_ns = 0;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		bool stop = l->stop;
		pthread_mutex_unlock(&l->mu);
		if (stop)
			break;
		if (!l->stream) {
			if (now_real() < retry_ns) {
				usleep(200000);
				continue;
			}
			ndl_error_t e = NDL_ERROR_INIT;
			struct cri_event_stream *s = NULL;
			if (cri_client_events_open(l->cc, &s, &e) < 0) {
				log_debug(2, "GetContainerEvents unavailable, relisting only",
					  "error=%s", ndl_error_msg(&e));
				ndl_error_clear(&e);
				retry_ns = now_real() + 30000000000LL;
				continue;
			}
			pthread_mutex_lock(&l->mu);
			l->stream = s;
			pthread_mutex_unlock(&l->mu);
		}
		Runtime__V1__ContainerEventResponse *ev = NULL;
		ndl_error_t e = NDL_ERROR_INIT;
		int r = cri_client_events_next(l->stream, 200, &ev, &e);
		if (r == -ETIMEDOUT) {
			ndl_error_clear(&e);
			continue;
		}
		if (r < 0) {
			/* Ended (UNIMPLEMENTED on containerd 1.6, or the runtime
			 * restarted): relisting covers it; retry later. */
			log_debug(2, "container event stream ended", "error=%s", ndl_error_msg(&e));
			ndl_error_clear(&e);
			pthread_mutex_lock(&l->mu);
			struct cri_event_stream *s = l->stream;
			l->stream = NULL;
			pthread_mutex_unlock(&l->mu);
			cri_client_events_close(s);
			retry_ns = now_real() + 30000000000LL;
			continue;
		}
		log_debug(3, "container event", "container=%s type=%d", ev->container_id,
			  (int)ev->container_event_type);
		/* The event names its pod (pod_sandbox_status.metadata.uid):
		 * only that pod syncs, not all 100 of a full node at each of
		 * their container starts. Without it, every pod. */
		const char *uid = ev->pod_sandbox_status && ev->pod_sandbox_status->metadata ?
					  ev->pod_sandbox_status->metadata->uid :
					  NULL;
		pthread_mutex_lock(&l->mu);
		struct worker *target = uid && *uid ? find_worker(l, uid) : NULL;
		if (target) {
			kick_locked(l, target);
		} else if (!uid || !*uid) {
			for (struct worker *w = l->workers; w; w = w->next)
				if (!w->done)
					kick_locked(l, w);
		}
		pthread_mutex_unlock(&l->mu);
		runtime__v1__container_event_response__free_unpacked(ev, NULL);
	}
	return NULL;
}

/* The node's address for status.hostIP when --node-ip is not given (the
 * kubelet picks the node's first non-loopback address): IPv4 first. */
static void pick_host_ip(char *buf, size_t size)
{
	struct ifaddrs *ifs = NULL, *i;
	buf[0] = 0;
	if (getifaddrs(&ifs) < 0)
		return;
	for (int fam = AF_INET; !buf[0] && fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
		for (i = ifs; i && !buf[0]; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != fam ||
			    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
				continue;
			const void *a = fam == AF_INET ?
						(const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr :
						(const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (fam == AF_INET6 && IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)a))
				continue;
			inet_ntop(fam, a, buf, (socklen_t)size);
		}
	}
	freeifaddrs(ifs);
}

int kl_lifecycle_start(const struct kubelet_config *cfg, struct kl_lifecycle **ret,
		       ndl_error_t *err)
{
	struct kl_lifecycle *l = xcalloc(1, sizeof(*l));
	l->cfg = cfg;
	l->o.cfg = cfg;
	l->o.pod_logs_dir = cfg->pod_logs_dir ? cfg->pod_logs_dir : "/var/log/pods";
	l->o.root_dir = cfg->root_dir;
	l->o.memory_capacity = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	if (cfg->node_ip && *cfg->node_ip)
		snprintf(l->host_ip, sizeof(l->host_ip), "%s", cfg->node_ip);
	else
		pick_host_ip(l->host_ip, sizeof(l->host_ip));
	l->o.host_ip = l->host_ip;
	kl_pull_limit_set(cfg->serialize_image_pulls	     ? 1 :
			  cfg->max_parallel_image_pulls > 0 ? cfg->max_parallel_image_pulls :
							      0);
	/* libcurl's global state, before any prober runs (not thread-safe). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	kl_cri_set_request_timeout(cfg->runtime_request_timeout_ns);
	if (cri_client_connect(cfg->container_runtime_endpoint, &l->cc, err) < 0) {
		free(l);
		return ndl_error_wrap(err, "--container-runtime-endpoint");
	}
	l->ic = l->cc;
	if (cfg->image_service_endpoint && *cfg->image_service_endpoint &&
	    strcmp(cfg->image_service_endpoint, cfg->container_runtime_endpoint) != 0 &&
	    cri_client_connect(cfg->image_service_endpoint, &l->ic, err) < 0) {
		cri_client_close(l->cc);
		free(l);
		return ndl_error_wrap(err, "--image-service-endpoint");
	}
	snprintf(l->runtime_name, sizeof(l->runtime_name), "cri");
	json_t *resp = NULL, *req = json_object();
	if (kl_cri(l->cc, "Version", req, 10000, &resp, err) == 0) {
		const char *n = json_string_value(json_object_get(resp, "runtime_name"));
		if (n && *n)
			snprintf(l->runtime_name, sizeof(l->runtime_name), "%s", n);
		log_info("container runtime", "name=%s version=%s", l->runtime_name,
			 jstr(resp, "runtime_version"));
	} else {
		log_warn("container runtime not reachable yet", "error=%s", ndl_error_msg(err));
		ndl_error_clear(err);
	}
	json_decref(req);
	json_decref(resp);
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->cg_mu, NULL);
	pthread_mutex_init(&l->logs_mu, NULL);
	/* Pod and QoS cgroups are nodelet's with cgroupsPerQOS and the
	 * cgroupfs driver (the systemd driver's are systemd's to make). */
	if (cfg->cgroups_per_qos && (!cfg->cgroup_driver || strcmp(cfg->cgroup_driver, "cgroupfs") == 0)) {
		if (cgroup_manager_init(&l->cgm, err) < 0) {
			log_warn("no cgroup driver: pod cgroups are left to the runtime", "error=%s",
				 ndl_error_msg(err));
			ndl_error_clear(err);
			l->cgm = NULL;
		} else {
			setup_qos_cgroups(l);
		}
	}
	pthread_cond_init(&l->cv, NULL);
	pthread_cond_init(&l->pub_cv, NULL);
	/* The first Status before any sync, as the kubelet waits for it. */
	kl_runtime_state_init(&l->rs);
	runtime_status_poll(l);
	l->rs_next_ns = now_mono() + KL_RUNTIME_STATUS_PERIOD_NS;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->pool_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < pool_base(); i++)
		if (!pool_grow(l))
			break;
	bool no_pool = l->pool_threads == 0;
	pthread_mutex_unlock(&l->mu);
	l->started_ns = now_real();
	if (no_pool || pthread_create(&l->relist, NULL, relist_main, l) != 0) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_broadcast(&l->pool_cv);
		while (l->pool_threads > 0)
			pthread_cond_wait(&l->cv, &l->mu);
		pthread_mutex_unlock(&l->mu);
		pthread_cond_destroy(&l->pool_cv);
		if (l->ic != l->cc)
			cri_client_close(l->ic);
		cri_client_close(l->cc);
		if (l->cgm)
			cgroup_manager_free(l->cgm);
		pthread_cond_destroy(&l->pub_cv);
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		pthread_mutex_destroy(&l->cg_mu);
		pthread_mutex_destroy(&l->logs_mu);
		free(l);
		return ndl_error_set(err, EAGAIN, "start the pod worker and relist threads");
	}
	/* Without it /pods still follows every relist (once a second). */
	l->has_publisher = pthread_create(&l->publisher, NULL, publisher_main, l) == 0;
	if (!l->has_publisher)
		log_warn("cannot start the /pods publisher: statuses follow the relist only",
			 "errno=%d", errno);
	l->has_events = pthread_create(&l->events, NULL, events_main, l) == 0;
	/* The legacy log symlinks' directory, made at start as the kubelet
	 * does; then the log manager. */
	if (ndl_mkdir_p(KL_LEGACY_LOGS_DIR, 0755, err) < 0) {
		log_warn("cannot create the legacy container log directory", "path=%s error=%s",
			 KL_LEGACY_LOGS_DIR, ndl_error_msg(err));
		ndl_error_clear(err);
	}
	l->has_logs = pthread_create(&l->logs, NULL, logs_main, l) == 0;
	if (!l->has_logs)
		log_warn("cannot start the container log manager: logs are not rotated", "errno=%d",
			 errno);
	*ret = l;
	return 0;
}

/* Kept reachable for leak checkers when threads had to be left running. */
static struct kl_lifecycle *volatile abandoned;

void kl_lifecycle_stop(struct kl_lifecycle *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_broadcast(&l->cv);
	pthread_cond_broadcast(&l->pub_cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->relist, NULL);
	if (l->has_publisher)
		pthread_join(l->publisher, NULL);
	if (l->has_events)
		pthread_join(l->events, NULL);
	if (l->has_logs)
		pthread_join(l->logs, NULL);
	cri_client_events_close(l->stream);
	/* Pool threads finish their sync and exit; one blocked in a long
	 * call (an image pull, a hook) or a termination within its grace
	 * period is left behind: nodelet exits now, as the kubelet does, and
	 * the pods keep running. */
	int64_t deadline = now_real() + 2000000000LL;
	pthread_mutex_lock(&l->mu);
	pthread_cond_broadcast(&l->pool_cv);
	while ((l->pool_threads > 0 || l->term_threads > 0) && now_real() < deadline) {
		struct timespec dl = {.tv_sec = deadline / 1000000000LL,
				      .tv_nsec = deadline % 1000000000LL};
		pthread_cond_timedwait(&l->cv, &l->mu, &dl);
	}
	bool left = l->pool_threads > 0 || l->term_threads > 0;
	for (struct worker **pp = &l->workers; *pp;) {
		struct worker *w = *pp;
		if (w->running) {
			log_info("pod worker busy at shutdown, not waiting for it", "uid=%s", w->uid);
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		pthread_mutex_unlock(&l->mu);
		worker_free(w);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	/* Stopped probe workers are released at once; one in a run when its
	 * run ends (at its timeout at the latest). */
	while (kl_probe_workers_left() && now_real() < deadline)
		usleep(10000);
	if (left || kl_probe_workers_left()) {
		abandoned = l; /* the threads still use it; the process exits */
		return;
	}
	if (l->ic != l->cc)
		cri_client_close(l->ic);
	cri_client_close(l->cc);
	if (l->cgm)
		cgroup_manager_free(l->cgm);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->pub_cv);
	pthread_cond_destroy(&l->pool_cv);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->cg_mu);
	pthread_mutex_destroy(&l->logs_mu);
	free(l);
}
