/* Pod workers, relist and publication of /pods. Each pod has its own
 * worker thread (blocking CRI calls never run on nodelet's event loop, and
 * one pod's sync never waits for another's): it re-syncs every second (the
 * kubelet's relist period) or right after an event for it. A relist thread
 * finds sandboxes of pods no source wants (after a restart, or whose
 * manifest disappeared while nodelet was down) and gives them terminating
 * workers; everything is matched by the io.kubernetes.pod.uid label, so a
 * restarted nodelet adopts running pods without restarting anything. */
#include <curl/curl.h>
#include <errno.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cri/client/client.h"
#include "kubelet/http.h"
#include "kubelet/lifecycle/internal.h"
#include "kubelet/lifecycle/lifecycle.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct worker {
	struct kl_lifecycle *l;
	char *uid;
	struct pod *pod;  /* desired spec; kept while terminating for its grace period */
	bool terminate;	  /* stop the pod and exit */
	struct pod *then; /* re-added while terminating: start it afterwards */
	bool kicked;
	bool done;	  /* thread finished: the relist thread joins it */
	int64_t grace_s;  /* -1: from the spec / container annotations */
	pthread_t th;
	struct kl_backoff_table bt;
	struct kl_prober prober;
	json_t *status;
	int64_t start_time_ns;
	bool deadline_done;
	struct worker *next;
};

struct kl_lifecycle {
	const struct kubelet_config *cfg;
	struct kl_runtime_opts o;
	struct cri_client *cc;
	char runtime_name[64];
	char host_ip[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker *workers;
	bool stop, sources_ready;
	int64_t started_ns;
	pthread_t relist;
	pthread_t events;
	bool has_events;
	struct cri_event_stream *stream;
};

static int64_t now_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
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
	int r = kl_cri(l->cc, "ListPodSandbox", req, 30000, &resp, err);
	json_decref(req);
	if (r < 0)
		return r;
	ob->sandboxes = json_incref(json_object_get(resp, "items"));
	if (!ob->sandboxes)
		ob->sandboxes = json_array();
	json_decref(resp);
	req = json_pack("{s:{s:{s:s}}}", "filter", "label_selector", KL_LABEL_POD_UID, uid);
	r = kl_cri(l->cc, "ListContainers", req, 30000, &resp, err);
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
		int rr = kl_cri(l->cc, "ContainerStatus", sreq, 30000, &st, &e);
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

/* killContainer: preStop (exec through ExecSync) within the grace period,
 * then StopContainer with what is left of it. */
static void kill_container(struct kl_lifecycle *l, const char *id, const json_t *annotations,
			   int64_t grace_s, const char *why)
{
	int64_t t0 = now_real();
	ndl_error_t e = NDL_ERROR_INIT;
	const char *hook = json_string_value(json_object_get(annotations, KL_ANN_PRESTOP));
	if (hook && grace_s > 0) {
		json_t *cmd = json_loads(hook, 0, NULL);
		if (json_is_array(cmd)) {
			json_t *req = json_pack("{s:s,s:O,s:I}", "container_id", id, "cmd", cmd,
						"timeout", (json_int_t)grace_s);
			json_t *resp = NULL;
			if (kl_cri(l->cc, "ExecSync", req, (int)(grace_s * 1000 + 5000), &resp, &e) < 0) {
				log_warn("preStop hook failed", "container=%s error=%s", id,
					 ndl_error_msg(&e));
				ndl_error_clear(&e);
			} else if (jint(resp, "exit_code") != 0) {
				log_warn("preStop hook exited non-zero", "container=%s exit_code=%lld",
					 id, (long long)jint(resp, "exit_code"));
			}
			json_decref(resp);
			json_decref(req);
		}
		json_decref(cmd);
	}
	int64_t left = grace_s - (now_real() - t0) / 1000000000LL;
	/* The kubelet gives at least minimumGracePeriodInSeconds (2 s) after
	 * the hook. */
	if (left < 2)
		left = 2;
	if (grace_s == 0)
		left = 0;
	log_info("killing container", "container=%s grace_period=%lld reason=%s", id,
		 (long long)left, why);
	json_t *req = json_pack("{s:s,s:I}", "container_id", id, "timeout", (json_int_t)left);
	if (kl_cri(l->cc, "StopContainer", req, (int)(left * 1000 + 30000), NULL, &e) < 0) {
		log_warn("StopContainer failed", "container=%s error=%s", id, ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	json_decref(req);
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

/* Stop every running container (in parallel would be the kubelet's way;
 * sequential here, each within what is left of the pod's grace period),
 * then the sandboxes. remove: also remove the sandboxes and the pod's
 * directory and cgroup (the pod is gone for good). */
static void kill_pod(struct worker *w, struct observed *ob, bool remove)
{
	struct kl_lifecycle *l = w->l;
	int64_t grace = pod_grace(w, ob);
	int64_t t0 = now_real();
	for (size_t i = 0; i < ob->n; i++) {
		if (ob->ctrs[i].state != 1 && ob->ctrs[i].state != 0)
			continue;
		int64_t left = grace - (now_real() - t0) / 1000000000LL;
		kill_container(l, ob->ctrs[i].id, container_annotations(ob, ob->ctrs[i].id),
			       left < 0 ? 0 : left, remove ? "pod removed" : "pod sandbox changed");
	}
	size_t i;
	json_t *s;
	ndl_error_t e = NDL_ERROR_INIT;
	json_array_foreach(ob->sandboxes, i, s)
	{
		json_t *req = json_pack("{s:s}", "pod_sandbox_id", jstr(s, "id"));
		if (kl_cri(l->cc, "StopPodSandbox", req, 60000, NULL, &e) < 0) {
			log_warn("StopPodSandbox failed", "sandbox=%s error=%s", jstr(s, "id"),
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		if (remove && kl_cri(l->cc, "RemovePodSandbox", req, 60000, NULL, &e) < 0) {
			log_warn("RemovePodSandbox failed", "sandbox=%s error=%s", jstr(s, "id"),
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		json_decref(req);
	}
	if (remove) {
		kl_volumes_teardown(l->o.root_dir, w->uid);
		/* The pod cgroup (runc made it as the parent of the containers). */
		if (w->pod && l->cfg->cgroups_per_qos) {
			cleanup_free char *cg = kl_pod_cgroup_parent(&l->o, w->pod);
			cleanup_closedir DIR *d = opendir("/sys/fs/cgroup");
			struct dirent *de;
			while (d && (de = readdir(d))) {
				if (de->d_name[0] == '.' || strcmp(de->d_name, "unified") == 0)
					continue;
				cleanup_free char *p = xasprintf("/sys/fs/cgroup/%s%s", de->d_name, cg);
				rmdir(p);
			}
		}
	}
}

void log_probe_failure(const struct pod *p, const struct pod_container *c, const char *kind,
		       const char *msg)
{
	char q[600];
	log_info("probe failed", "pod=%s/%s container=%s probe=%s output=%s", p->namespace,
		 p->name, c->name, kind, ndl_log_quote(msg, q, sizeof(q)));
}

/* The sandbox's primary IP, or NULL. */
static char *sandbox_ip(struct kl_lifecycle *l, const char *sid)
{
	ndl_error_t e = NDL_ERROR_INIT;
	char *ip = NULL;
	json_t *req = json_pack("{s:s}", "pod_sandbox_id", sid), *resp = NULL;
	if (kl_cri(l->cc, "PodSandboxStatus", req, 30000, &resp, &e) == 0) {
		const char *s = json_string_value(json_object_get(
			json_object_get(json_object_get(resp, "status"), "network"), "ip"));
		if (s && *s)
			ip = xstrdup(s);
	} else {
		ndl_error_clear(&e);
	}
	json_decref(req);
	json_decref(resp);
	return ip;
}

static void set_waiting(struct kl_pod_actions *a, const char *name, const char *reason,
			const char *msg)
{
	if (a->n_waiting >= 64)
		return;
	struct kl_waiting *wt = &a->waiting[a->n_waiting++];
	wt->container = name;
	snprintf(wt->reason, sizeof(wt->reason), "%s", reason);
	snprintf(wt->message, sizeof(wt->message), "%s", msg);
}

static void sync_pod(struct worker *w, struct pod *p)
{
	struct kl_lifecycle *l = w->l;
	ndl_error_t e = NDL_ERROR_INIT;
	struct observed ob;
	char q[1024];
	if (observe(l, p->uid, &ob, &e) < 0) {
		log_warn("cannot observe pod", "pod=%s/%s error=%s", p->namespace, p->name,
			 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
		ndl_error_clear(&e);
		observed_free(&ob);
		return;
	}
	int64_t now = now_real();
	cleanup_free char *pod_ip = NULL;
	cleanup_free char *new_sid = NULL;
	json_t *sbcfg = NULL;
	const char *sid = NULL;
	const json_t *cur_sb = kl_pick_sandbox(ob.sandboxes);
	if (cur_sb)
		pod_ip = sandbox_ip(l, json_string_value(json_object_get(cur_sb, "id")));
	/* Probes of the running containers of the current sandbox; a
	 * liveness/startup failure kills the container here and the actions
	 * below restart it (with the back-off) as for any exit. */
	kl_prober_prune(&w->prober, ob.ctrs, ob.n);
	for (size_t i = 0; i < ob.n && cur_sb; i++) {
		struct kl_observed *o = &ob.ctrs[i];
		if (o->state != 1 ||
		    strcmp(o->sandbox_id, json_string_value(json_object_get(cur_sb, "id"))) != 0)
			continue;
		char kmsg[256];
		if (kl_prober_tick(&w->prober, l->cc, p, o, pod_ip, now, kmsg, sizeof(kmsg))) {
			log_info("container failed a probe", "pod=%s/%s container=%s message=%s",
				 p->namespace, p->name, o->name,
				 ndl_log_quote(kmsg, q, sizeof(q)));
			kill_container(l, o->id, container_annotations(&ob, o->id), pod_grace(w, &ob),
				       "probe failure");
			o->state = 2;
			o->exit_code = 137;
			o->finished_at = now_real();
			o->reason = "Error";
			o->has_probe_result = false;
		}
	}
	struct kl_pod_actions *a = xcalloc(1, sizeof(*a));
	/* activeDeadlineSeconds (counted from the pod's start): the pod is
	 * failed, its containers stopped and never restarted. */
	bool deadline = p->has_active_deadline_seconds && w->start_time_ns &&
			now - w->start_time_ns >= p->active_deadline_seconds * 1000000000LL;
	if (deadline) {
		if (!w->deadline_done) {
			log_info("pod exceeded activeDeadlineSeconds, stopping it", "pod=%s/%s",
				 p->namespace, p->name);
			kill_pod(w, &ob, false);
			w->deadline_done = true;
		}
		for (size_t i = 0; i < ob.n; i++)
			if (ob.ctrs[i].state == 1)
				ob.ctrs[i].state = 2; /* stopped just now */
		goto status;
	}
	kl_compute_pod_actions(p, ob.sandboxes, ob.ctrs, ob.n, &w->bt, now, a);
	sid = a->sandbox_id;
	if (a->kill_pod) {
		log_info("pod sandbox changed, killing the pod", "pod=%s/%s", p->namespace,
			 p->name);
		kill_pod(w, &ob, false);
	}
	if (a->pod_done && sid) {
		json_t *req = json_pack("{s:s}", "pod_sandbox_id", sid);
		if (kl_cri(l->cc, "StopPodSandbox", req, 60000, NULL, &e) < 0)
			ndl_error_clear(&e);
		json_decref(req);
	}
	for (size_t i = 0; i < a->n_kill; i++)
		kill_container(l, a->kill[i]->id, container_annotations(&ob, a->kill[i]->id),
			       pod_grace(w, &ob), "container spec changed");
	if (a->create_sandbox) {
		sbcfg = kl_sandbox_config(&l->o, p, a->attempt, &e);
		cleanup_free char *logdir = kl_pod_log_dir(&l->o, p);
		json_t *resp = NULL;
		if (ndl_mkdir_p(logdir, 0755, &e) < 0 || kl_volumes_setup(&l->o, p, &e) < 0) {
			log_warn("cannot prepare the pod", "pod=%s/%s error=%s", p->namespace,
				 p->name, ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			for (size_t k = 0; k < a->n_start; k++)
				set_waiting(a, a->start[k].c->name, "CreateContainerConfigError",
					    ndl_error_msg(&e));
			a->n_start = 0;
			ndl_error_clear(&e);
			goto status;
		}
		json_t *req = json_pack("{s:O}", "config", sbcfg);
		int r = kl_cri(l->cc, "RunPodSandbox", req, 240000, &resp, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("RunPodSandbox failed", "pod=%s/%s error=%s", p->namespace, p->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			for (size_t k = 0; k < a->n_start; k++)
				set_waiting(a, a->start[k].c->name, "ContainerCreating",
					    ndl_error_msg(&e));
			a->n_start = 0;
			ndl_error_clear(&e);
			goto status;
		}
		new_sid = xstrdup(jstr(resp, "pod_sandbox_id"));
		json_decref(resp);
		sid = new_sid;
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
			set_waiting(a, c->name, "ImagePullBackOff", msg);
			continue;
		}
		if (kl_ensure_image(l->cc, c, sbcfg, &reason, &e) < 0) {
			log_warn("image pull failed", "pod=%s/%s container=%s error=%s", p->namespace,
				 p->name, c->name, ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			kl_backoff_next(&w->bt, key, now);
			set_waiting(a, c->name, reason ? reason : "ErrImagePull", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		if (be)
			be->backoff_ns = 0;
		json_t *cc = kl_container_config(&l->o, p, c, a->start[k].restart_count, pod_ip, &e);
		if (!cc) {
			set_waiting(a, c->name, "CreateContainerConfigError", ndl_error_msg(&e));
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
		int r = kl_cri(l->cc, "CreateContainer", req, 240000, &resp, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("CreateContainer failed", "pod=%s/%s container=%s error=%s",
				 p->namespace, p->name, c->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			set_waiting(a, c->name, "CreateContainerError", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		cleanup_free char *cid = xstrdup(jstr(resp, "container_id"));
		json_decref(resp);
		req = json_pack("{s:s}", "container_id", cid);
		r = kl_cri(l->cc, "StartContainer", req, 240000, NULL, &e);
		json_decref(req);
		if (r < 0) {
			log_warn("StartContainer failed", "pod=%s/%s container=%s error=%s",
				 p->namespace, p->name, c->name,
				 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
			set_waiting(a, c->name, "RunContainerError", ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		log_info("container started", "pod=%s/%s container=%s id=%s restart_count=%u",
			 p->namespace, p->name, c->name, cid, a->start[k].restart_count);
		/* postStart (exec): a failure kills the container, which then
		 * restarts per restartPolicy (FailedPostStartHook). */
		if (c->post_start.type == POD_HANDLER_EXEC) {
			json_t *hc = json_array();
			for (size_t i = 0; i < c->post_start.command.n; i++)
				json_array_append_new(hc, json_string(c->post_start.command.v[i]));
			json_t *hreq = json_pack("{s:s,s:o,s:I}", "container_id", cid, "cmd", hc,
						 "timeout", (json_int_t)pod_grace(w, &ob)),
			       *hresp = NULL;
			int hr = kl_cri(l->cc, "ExecSync", hreq, 0, &hresp, &e);
			long long code = hr < 0 ? -1 : (long long)jint(hresp, "exit_code");
			json_decref(hreq);
			json_decref(hresp);
			if (code != 0) {
				log_warn("postStart hook failed, killing the container",
					 "pod=%s/%s container=%s exit_code=%lld error=%s", p->namespace,
					 p->name, c->name, code,
					 ndl_log_quote(ndl_error_msg(&e), q, sizeof(q)));
				ndl_error_clear(&e);
				kill_container(l, cid, NULL, 0, "FailedPostStartHook");
			}
		}
		if (!w->start_time_ns)
			w->start_time_ns = now;
		/* Started: the status below must not still call it waiting. */
	}
status:;
	/* Status from what was observed plus this sync's waiting reasons; the
	 * next sync (at most a second away) observes what was started. */
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
	};
	if (!w->start_time_ns && ob.n)
		w->start_time_ns = ob.ctrs[0].created_at;
	json_t *st = kl_pod_status(&in);
	json_t *pj = json_deep_copy(p->json);
	json_object_set_new(pj, "status", st);
	pthread_mutex_lock(&l->mu);
	json_decref(w->status);
	w->status = pj;
	pthread_mutex_unlock(&l->mu);
	json_decref(sbcfg);
	free(a);
	observed_free(&ob);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kl_lifecycle *l = w->l;
	pthread_mutex_lock(&l->mu);
	while (!l->stop && !w->terminate) {
		struct pod *p = pod_ref(w->pod);
		pthread_mutex_unlock(&l->mu);
		sync_pod(w, p);
		pod_unref(p);
		pthread_mutex_lock(&l->mu);
		if (!w->kicked && !w->terminate && !l->stop) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 1;
			pthread_cond_timedwait(&l->cv, &l->mu, &dl);
		}
		w->kicked = false;
	}
	bool term = w->terminate && !l->stop;
	pthread_mutex_unlock(&l->mu);
	if (term) {
		ndl_error_t e = NDL_ERROR_INIT;
		struct observed ob;
		if (observe(l, w->uid, &ob, &e) == 0) {
			log_info("terminating pod", "uid=%s grace_period=%lld", w->uid,
				 (long long)pod_grace(w, &ob));
			kill_pod(w, &ob, true);
			log_info("pod terminated", "uid=%s", w->uid);
		} else {
			log_warn("cannot observe pod to terminate it", "uid=%s error=%s", w->uid,
				 ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
		observed_free(&ob);
	}
	pthread_mutex_lock(&l->mu);
	w->done = true;
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Under l->mu. */
static struct worker *find_worker(struct kl_lifecycle *l, const char *uid)
{
	for (struct worker *w = l->workers; w; w = w->next)
		if (strcmp(w->uid, uid) == 0 && !w->done)
			return w;
	return NULL;
}

/* Under l->mu. */
static void spawn_worker(struct kl_lifecycle *l, const char *uid, struct pod *p, bool terminate)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	w->l = l;
	w->uid = xstrdup(uid);
	w->pod = p ? pod_ref(p) : NULL;
	w->terminate = terminate;
	w->grace_s = -1;
	if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
		log_error("cannot start a pod worker", "uid=%s errno=%d", uid, errno);
		if (w->pod)
			pod_unref(w->pod);
		free(w->uid);
		free(w);
		return;
	}
	w->next = l->workers;
	l->workers = w;
}

static void worker_free(struct worker *w)
{
	pthread_join(w->th, NULL);
	if (w->pod)
		pod_unref(w->pod);
	if (w->then)
		pod_unref(w->then);
	json_decref(w->status);
	kl_backoff_table_free(&w->bt);
	kl_prober_free(&w->prober);
	free(w->uid);
	free(w);
}

static void publish(struct kl_lifecycle *l);

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
			if ((w = find_worker(l, e->old->uid)))
				w->terminate = true;
		}
		w = find_worker(l, e->pod->uid);
		if (e->type == SP_EVENT_REMOVE) {
			if (w) {
				w->terminate = true;
				if (w->then)
					pod_unref(w->then);
				w->then = NULL;
			}
			continue;
		}
		if (w && !w->terminate) {
			pod_unref(w->pod);
			w->pod = pod_ref(e->pod);
			json_decref(w->status); /* of the old spec */
			w->status = NULL;
			w->kicked = true;
		} else if (!w) {
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
		if (w->status)
			json_array_append(items, w->status);
		else
			json_array_append(items, w->pod->json);
	}
	json_t *list = json_pack("{s:s,s:s,s:{},s:o}", "kind", "PodList", "apiVersion", "v1",
				 "metadata", "items", items);
	kubelet_http_set_pods(json_dumps(list, JSON_COMPACT));
	pthread_mutex_unlock(&l->mu);
	json_decref(list);
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
		/* Sources are trusted after their first batch, or 10 s. */
		bool ready = l->sources_ready || now_real() - l->started_ns > 10000000000LL;
		pthread_mutex_unlock(&l->mu);
		if (ready) {
			json_t *resp = NULL;
			ndl_error_t e = NDL_ERROR_INIT;
			json_t *req = json_object();
			if (kl_cri(l->cc, "ListPodSandbox", req, 30000, &resp, &e) == 0) {
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
		runtime__v1__container_event_response__free_unpacked(ev, NULL);
		pthread_mutex_lock(&l->mu);
		for (struct worker *w = l->workers; w; w = w->next)
			w->kicked = true;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
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
	if (cri_client_connect(cfg->container_runtime_endpoint, &l->cc, err) < 0) {
		free(l);
		return ndl_error_wrap(err, "--container-runtime-endpoint");
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&l->cv, &ca);
	l->started_ns = now_real();
	if (pthread_create(&l->relist, NULL, relist_main, l) != 0) {
		cri_client_close(l->cc);
		free(l);
		return ndl_error_set(err, EAGAIN, "start the relist thread");
	}
	l->has_events = pthread_create(&l->events, NULL, events_main, l) == 0;
	*ret = l;
	return 0;
}

void kl_lifecycle_stop(struct kl_lifecycle *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->relist, NULL);
	if (l->has_events)
		pthread_join(l->events, NULL);
	cri_client_events_close(l->stream);
	while (l->workers) {
		struct worker *w = l->workers;
		l->workers = w->next;
		worker_free(w);
	}
	cri_client_close(l->cc);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
