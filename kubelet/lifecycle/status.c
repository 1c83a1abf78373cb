/* PodStatus as the kubelet computes it (generateAPIPodStatus): phase,
 * conditions, container statuses with state/lastState/restartCount. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet/lifecycle/internal.h"
#include "kubelet/qos.h"
#include "lib/fs.h"

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

static json_t *container_status(const struct kl_status_input *in, const struct pod_container *c,
				bool *ret_ready, bool *ret_running, bool *ret_succeeded,
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
		*ret_ready = ready && !in->terminating;
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
	} else {
		state = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
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

static json_t *condition(const char *type, bool status, const char *reason, int64_t now)
{
	json_t *c = json_pack("{s:s,s:s,s:n,s:o}", "type", type, "status", status ? "True" : "False",
			      "lastProbeTime", "lastTransitionTime", ts(now));
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	return c;
}

json_t *kl_pod_status(const struct kl_status_input *in)
{
	const struct pod *p = in->p;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
	json_t *init = json_array(), *app = json_array();
	bool initialized = true, init_failed = false;
	for (size_t k = 0; k < p->n_init_containers; k++) {
		bool r, run, ok, fail, wait;
		const struct pod_container *ic = &p->init_containers[k];
		json_t *cs = container_status(in, ic, &r, &run, &ok, &fail, &wait);
		/* A sidecar counts once it runs and its startup probe passed. */
		bool started = json_is_true(json_object_get(cs, "started"));
		json_array_append_new(init, cs);
		bool sidecar = ic->restart_policy && strcmp(ic->restart_policy, "Always") == 0;
		if (sidecar ? !(run && started) : !ok)
			initialized = false;
		if (fail && strcmp(p->restart_policy, "Never") == 0)
			init_failed = true;
	}
	size_t n_running = 0, n_succeeded = 0, n_failed = 0, n_ready = 0, n_waiting = 0;
	for (size_t k = 0; k < p->n_containers; k++) {
		bool r, run, ok, fail, wait;
		json_array_append_new(app, container_status(in, &p->containers[k], &r, &run, &ok,
							    &fail, &wait));
		n_waiting += wait;
		n_running += run;
		n_succeeded += ok;
		n_failed += fail;
		n_ready += r;
	}
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
	bool ready_all = initialized && n_ready == n && n > 0;
	bool done = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
	json_t *conds = json_array();
	json_array_append_new(conds, condition("PodReadyToStartContainers", in->sandbox_ready,
					       NULL, now_ns));
	json_array_append_new(conds, condition("Initialized", initialized,
					       initialized ? NULL : "ContainersNotInitialized",
					       now_ns));
	json_array_append_new(conds, condition("Ready", ready_all,
					       ready_all ? NULL : done ? "PodCompleted" :
									   "ContainersNotReady",
					       now_ns));
	json_array_append_new(conds, condition("ContainersReady", ready_all,
					       ready_all ? NULL : done ? "PodCompleted" :
									   "ContainersNotReady",
					       now_ns));
	json_array_append_new(conds, condition("PodScheduled", true, NULL, now_ns));
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
