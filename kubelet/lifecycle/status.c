/* PodStatus as the kubelet computes it (generateAPIPodStatus): phase,
 * conditions, container statuses with state/lastState/restartCount. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet/lifecycle/internal.h"
#include "kubelet/qos.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

char *kl_rfc3339(int64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static json_t *ts(int64_t ns)
{
	char b[32];
	return json_string(kl_rfc3339(ns, b, sizeof(b)));
}

/* The kubelet's termination message: the file at terminationMessagePath
 * (at most 4096 bytes), else with FallbackToLogsOnError and a failure the
 * last 80 lines (at most 2048 bytes) of the container's log, CRI framing
 * removed. */
static char *termination_message(const struct kl_observed *o)
{
	char *buf = NULL;
	size_t len = 0;
	ndl_error_t e = NDL_ERROR_INIT;
	if (o->term_msg_file && ndl_read_file(o->term_msg_file, 1 << 20, &buf, &len, &e) == 0 &&
	    len) {
		if (len > 4096)
			buf[4096] = 0;
		return buf;
	}
	ndl_error_clear(&e);
	free(buf);
	buf = NULL;
	if (!o->fallback_to_logs || o->exit_code == 0 || !o->log_path)
		return NULL;
	if (ndl_read_file(o->log_path, 16 << 20, &buf, &len, &e) < 0) {
		ndl_error_clear(&e);
		return NULL;
	}
	/* Lines are "<time> <stream> <P|F> <text>". */
	char *start = buf;
	size_t n_lines = 0;
	for (char *q = buf + len; q > buf; q--) {
		if (q[-1] == '\n' && q != buf + len && ++n_lines == 80) {
			start = q;
			break;
		}
	}
	size_t cap = 4096, olen = 0;
	char *out = malloc(cap);
	char *save = NULL;
	for (char *ln = strtok_r(start, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		char *t = ln;
		for (int f = 0; f < 3 && t; f++) {
			t = strchr(t, ' ');
			if (t)
				t++;
		}
		if (!t)
			continue;
		size_t tl = strlen(t);
		if (olen + tl + 2 > cap) {
			cap = (olen + tl + 2) * 2;
			out = realloc(out, cap);
		}
		memcpy(out + olen, t, tl);
		olen += tl;
		out[olen++] = '\n';
	}
	out[olen] = 0;
	free(buf);
	if (olen > 2048) {
		memmove(out, out + olen - 2048, 2049);
	}
	return out;
}

static json_t *terminated(const struct kl_observed *o, const char *runtime)
{
	json_t *t = json_pack("{s:i}", "exitCode", (json_int_t)o->exit_code);
	const char *reason = o->reason && *o->reason ? o->reason :
			     o->exit_code == 0		 ? "Completed" :
							   "Error";
	json_object_set_new(t, "reason", json_string(reason));
	char *tm = termination_message(o);
	if (tm && *tm)
		json_object_set_new(t, "message", json_string(tm));
	else if (o->message && *o->message)
		json_object_set_new(t, "message", json_string(o->message));
	free(tm);
	if (o->started_at)
		json_object_set_new(t, "startedAt", ts(o->started_at));
	if (o->finished_at)
		json_object_set_new(t, "finishedAt", ts(o->finished_at));
	char id[160];
	snprintf(id, sizeof(id), "%s://%s", runtime, o->id);
	json_object_set_new(t, "containerID", json_string(id));
	return json_pack("{s:o}", "terminated", t);
}

static const struct kl_waiting *find_waiting(const struct kl_pod_actions *a, const char *name)
{
	for (size_t i = 0; a && i < a->n_waiting; i++)
		if (a->waiting[i].container && strcmp(a->waiting[i].container, name) == 0)
			return &a->waiting[i];
	return NULL;
}

/* The newest container before `cur` with the same name (lastState). */
static const struct kl_observed *previous(const struct kl_status_input *in,
					  const struct kl_observed *cur, const char *name)
{
	const struct kl_observed *best = NULL;
	for (size_t i = 0; i < in->n_ctrs; i++) {
		const struct kl_observed *o = &in->ctrs[i];
		if (o == cur || strcmp(o->name, name) != 0 || o->state != 2)
			continue;
		if (cur && o->created_at >= cur->created_at)
			continue;
		if (!best || o->created_at > best->created_at)
			best = o;
	}
	return best;
}

static bool is_sidecar(const struct pod_container *c)
{
	return c->restart_policy && strcmp(c->restart_policy, "Always") == 0;
}

static json_t *container_status(const struct kl_status_input *in, const struct pod_container *c,
				bool is_init, bool *ret_ready, bool *ret_running, bool *ret_succeeded,
				bool *ret_failed, bool *ret_waiting)
{
	const struct kl_observed *o = kl_latest(in->ctrs, in->n_ctrs, c->name, NULL);
	const struct kl_waiting *w = find_waiting(in->actions, c->name);
	json_t *st = json_pack("{s:s,s:s,s:b,s:i,s:b}", "name", c->name, "image", c->image, "ready",
			       0, "restartCount", (json_int_t)(o ? o->attempt : 0), "started", 0);
	*ret_ready = *ret_running = *ret_succeeded = *ret_failed = *ret_waiting = false;
	json_t *state;
	if (o && o->state == 1 && !w) {
		state = json_pack("{s:{s:o}}", "running", "startedAt", ts(o->started_at));
		*ret_running = true;
		/* Without a readiness probe a running container is ready;
		 * with one, once it succeeded (after the startup probe). */
		bool started = o->has_probe_result ? o->probe_started : !c->startup.present;
		bool ready = o->has_probe_result ? o->probe_ready :
						   !c->readiness.present && started;
		/* A regular init container is ready only once it exited 0
		 * (prober_manager UpdatePodStatus), never while it runs. */
		*ret_ready = ready && !in->terminating && !(is_init && !is_sidecar(c));
		json_object_set_new(st, "ready", json_boolean(*ret_ready));
		json_object_set_new(st, "started", json_boolean(started));
	} else if (w) {
		state = json_pack("{s:{s:s}}", "waiting", "reason", w->reason);
		if (*w->message)
			json_object_set_new(json_object_get(state, "waiting"), "message",
					    json_string(w->message));
		/* getPhase: waiting with a terminated last state counts as
		 * stopped (not succeeded); waiting without one as waiting. */
		if (o && o->state == 2)
			*ret_failed = true;
		else
			*ret_waiting = true;
	} else if (o && o->state == 2) {
		state = terminated(o, in->runtime_name);
		*ret_succeeded = o->exit_code == 0;
		*ret_failed = o->exit_code != 0;
		/* prober_manager UpdatePodStatus: a (non-restartable) init
		 * container that exited 0 is ready. */
		if (is_init && !is_sidecar(c) && o->exit_code == 0) {
			*ret_ready = true;
			json_object_set_new(st, "ready", json_true());
		}
	} else {
		/* convertToAPIContainerStatuses' default for a container not
		 * created yet: PodInitializing when the pod has init
		 * containers, else ContainerCreating. */
		state = json_pack("{s:{s:s}}", "waiting", "reason",
				  in->p->n_init_containers ? "PodInitializing" : "ContainerCreating");
		*ret_waiting = true;
	}
	json_object_set_new(st, "state", state);
	const struct kl_observed *prev = previous(in, o && o->state == 2 && !w ? o : o, c->name);
	if (w && o && o->state == 2)
		prev = o; /* waiting to restart: the last run is lastState */
	json_object_set_new(st, "lastState", prev ? terminated(prev, in->runtime_name) : json_object());
	if (o) {
		char id[160];
		snprintf(id, sizeof(id), "%s://%s", in->runtime_name, o->id);
		json_object_set_new(st, "containerID", json_string(id));
		if (o->image_ref && *o->image_ref)
			json_object_set_new(st, "imageID", json_string(o->image_ref));
	}
	return st;
}

/* The previous status's condition of that type, or NULL. */
static const json_t *prev_condition(const json_t *prev, const char *type)
{
	size_t i;
	const json_t *c;
	json_array_foreach(json_object_get(prev, "conditions"), i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

/* One condition; lastTransitionTime as the status manager's
 * updateLastTransitionTime: kept from the previous status while the
 * condition's status is the same, else now. */
static json_t *condition(const json_t *prev, const char *type, bool status, const char *reason,
			 const char *message, int64_t now)
{
	const char *sv = status ? "True" : "False";
	json_t *c = json_pack("{s:s,s:s,s:n}", "type", type, "status", sv, "lastProbeTime");
	const json_t *pc = prev_condition(prev, type);
	const char *pstatus = json_string_value(json_object_get(pc, "status"));
	const json_t *pt = json_object_get(pc, "lastTransitionTime");
	if (pstatus && strcmp(pstatus, sv) == 0 && json_is_string(pt))
		json_object_set_new(c, "lastTransitionTime", json_deep_copy(pt));
	else
		json_object_set_new(c, "lastTransitionTime", ts(now));
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (message && *message)
		json_object_set_new(c, "message", json_string(message));
	return c;
}

/* Go's %s of a []string: "[a b c]". */
static void name_list(char *buf, size_t size, const char *prefix, const char **names, size_t n)
{
	size_t w = (size_t)snprintf(buf, size, "%s[", prefix);
	for (size_t i = 0; i < n && w < size; i++)
		w += (size_t)snprintf(buf + w, size - w, "%s%s", i ? " " : "", names[i]);
	if (w < size)
		snprintf(buf + w, size - w, "]");
}

json_t *kl_pod_status(const struct kl_status_input *in)
{
	const struct pod *p = in->p;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
	json_t *init = json_array(), *app = json_array();
	bool initialized = true, init_failed = false;
	size_t n_names = p->n_init_containers + p->n_containers;
	/* Containers named in the condition messages, in spec order:
	 * incomplete init containers; unready sidecars then app containers
	 * (GenerateContainersReadyCondition counts sidecars as 1.29 does). */
	const char **incomplete = xcalloc(n_names + 1, sizeof(*incomplete));
	const char **unready = xcalloc(n_names + 1, sizeof(*unready));
	size_t n_incomplete = 0, n_unready = 0;
	for (size_t k = 0; k < p->n_init_containers; k++) {
		bool r, run, ok, fail, wait;
		const struct pod_container *ic = &p->init_containers[k];
		json_t *cs = container_status(in, ic, true, &r, &run, &ok, &fail, &wait);
		/* A sidecar counts once it runs and its startup probe passed. */
		bool started = json_is_true(json_object_get(cs, "started"));
		json_array_append_new(init, cs);
		bool sidecar = is_sidecar(ic);
		if (sidecar ? !(run && started) : !ok) {
			initialized = false;
			incomplete[n_incomplete++] = ic->name;
		}
		if (sidecar && !r)
			unready[n_unready++] = ic->name;
		if (fail && strcmp(p->restart_policy, "Never") == 0)
			init_failed = true;
	}
	size_t n_running = 0, n_succeeded = 0, n_failed = 0, n_ready = 0, n_waiting = 0;
	bool any_app_started = false;
	for (size_t k = 0; k < p->n_containers; k++) {
		bool r, run, ok, fail, wait;
		json_t *cs = container_status(in, &p->containers[k], false, &r, &run, &ok, &fail,
					      &wait);
		const json_t *state = json_object_get(cs, "state");
		any_app_started |= json_object_get(state, "running") != NULL ||
				   json_object_get(state, "terminated") != NULL;
		json_array_append_new(app, cs);
		n_waiting += wait;
		n_running += run;
		n_succeeded += ok;
		n_failed += fail;
		n_ready += r;
		if (!r)
			unready[n_unready++] = p->containers[k].name;
	}
	/* HasAnyRegularContainerStarted (v1.28, with sidecars): once an app
	 * container ran, the pod was initialized, even while a sidecar
	 * restarts (getPhase and the Initialized condition). */
	if (any_app_started)
		initialized = true;
	/* getPhase, in the kubelet's order: a container not started yet keeps
	 * the pod Pending even when others run. n_failed counts every stopped
	 * container that did not succeed, including one waiting to restart. */
	const char *phase = "Pending";
	size_t n = p->n_containers;
	if (init_failed)
		phase = "Failed";
	else if (!initialized || n_waiting > 0)
		phase = "Pending";
	else if (n_running > 0)
		phase = "Running";
	else if (n_succeeded + n_failed == n && n > 0) {
		if (strcmp(p->restart_policy, "Always") == 0)
			phase = "Running"; /* about to be restarted */
		else if (n_failed && strcmp(p->restart_policy, "Never") == 0)
			phase = "Failed";
		else if (n_failed)
			phase = "Running";
		else
			phase = "Succeeded";
	}
	if (in->deadline_exceeded)
		phase = "Failed";
	bool succeeded = strcmp(phase, "Succeeded") == 0, failed = strcmp(phase, "Failed") == 0;
	bool ready_all = n_unready == 0 && n > 0 && !succeeded && !failed;
	char init_msg[1024] = "", ready_msg[1024] = "";
	const char *init_reason = NULL, *ready_reason = NULL;
	bool init_true = initialized;
	if (succeeded) {
		/* GeneratePodInitializedCondition: every init container known
		 * and the pod Succeeded: True, PodCompleted. */
		init_true = true;
		init_reason = "PodCompleted";
	} else if (!initialized) {
		init_reason = "ContainersNotInitialized";
		name_list(init_msg, sizeof(init_msg), "containers with incomplete status: ", incomplete,
			  n_incomplete);
	}
	/* GenerateContainersReadyCondition (v1.28): a terminal phase reports
	 * PodCompleted / PodFailed without a message; Ready copies it. */
	if (succeeded)
		ready_reason = "PodCompleted";
	else if (failed)
		ready_reason = "PodFailed";
	else if (!ready_all) {
		ready_reason = "ContainersNotReady";
		name_list(ready_msg, sizeof(ready_msg), "containers with unready status: ", unready,
			  n_unready);
	}
	free(incomplete);
	free(unready);
	const json_t *pv = in->prev;
	json_t *conds = json_array();
	json_array_append_new(conds, condition(pv, "PodReadyToStartContainers", in->sandbox_ready,
					       NULL, NULL, now_ns));
	json_array_append_new(conds, condition(pv, "Initialized", init_true, init_reason, init_msg,
					       now_ns));
	json_array_append_new(conds, condition(pv, "Ready", ready_all, ready_reason, ready_msg,
					       now_ns));
	json_array_append_new(conds, condition(pv, "ContainersReady", ready_all, ready_reason,
					       ready_msg, now_ns));
	json_array_append_new(conds, condition(pv, "PodScheduled", true, NULL, NULL, now_ns));
	json_t *st = json_pack("{s:s,s:o,s:o,s:s}", "phase", phase, "conditions", conds,
			       "containerStatuses", app, "qosClass",
			       pod_qos_class_name(pod_qos_class(p)));
	if (in->deadline_exceeded) {
		json_object_set_new(st, "reason", json_string("DeadlineExceeded"));
		json_object_set_new(st, "message",
				    json_string("Pod was active on the node longer than the specified "
						"deadline"));
	}
	if (p->n_init_containers)
		json_object_set_new(st, "initContainerStatuses", init);
	else
		json_decref(init);
	if (in->host_ip && *in->host_ip) {
		json_object_set_new(st, "hostIP", json_string(in->host_ip));
		json_object_set_new(st, "hostIPs", json_pack("[{s:s}]", "ip", in->host_ip));
	}
	/* A hostNetwork pod's IPs are the node's (generateAPIPodStatus),
	 * whatever its sandbox reports. */
	if (p->host_network && in->host_ip && *in->host_ip && in->sandbox_id) {
		json_object_set_new(st, "podIP", json_string(in->host_ip));
		json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", in->host_ip));
	} else if (in->pod_ip && *in->pod_ip) {
		json_object_set_new(st, "podIP", json_string(in->pod_ip));
		json_t *ips = json_array();
		json_array_append_new(ips, json_pack("{s:s}", "ip", in->pod_ip));
		size_t i;
		json_t *ip;
		json_array_foreach(in->pod_ips, i, ip)
			json_array_append_new(ips, json_pack("{s:O}", "ip", ip));
		json_object_set_new(st, "podIPs", ips);
	}
	if (in->start_time_ns)
		json_object_set_new(st, "startTime", ts(in->start_time_ns));
	return st;
}
