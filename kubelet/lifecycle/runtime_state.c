/* The kubelet's runtimeState (pkg/kubelet/runtime.go) fed by the CRI Status
 * call (updateRuntimeUp): whether pods may be synced at all, and whether
 * pods on the pod network may get a sandbox. Pure: no CRI calls here, the
 * caller makes the Status call every KL_RUNTIME_STATUS_PERIOD_NS and hands
 * over the reply. Unit-tested. */
#include <stdio.h>
#include <string.h>

#include "kubelet/lifecycle/internal.h"

void kl_runtime_state_init(struct kl_runtime_state *s)
{
	*s = (struct kl_runtime_state){0};
	/* ErrNetworkUnknown until the first Status reply. */
	snprintf(s->network_err, sizeof(s->network_err), "network state unknown");
}

/* RuntimeCondition.String(), or "<nil>" as Go prints a nil one. */
static void condition_string(const json_t *c, const char *type, char *buf, size_t size)
{
	if (!c) {
		snprintf(buf, size, "<nil>");
		return;
	}
	const char *reason = json_string_value(json_object_get(c, "reason"));
	const char *msg = json_string_value(json_object_get(c, "message"));
	snprintf(buf, size, "%s=%s reason:%s message:%s", type,
		 json_is_true(json_object_get(c, "status")) ? "true" : "false", reason ? reason : "",
		 msg ? msg : "");
}

static const json_t *find_condition(const json_t *resp, const char *type)
{
	const json_t *conds = json_object_get(json_object_get(resp, "status"), "conditions");
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

void kl_runtime_state_update(struct kl_runtime_state *s, const json_t *resp, int64_t now_ns)
{
	char cs[400];
	/* CRI booleans are omitted when false: a missing "status" is false. */
	const json_t *net = find_condition(resp, "NetworkReady");
	if (net && json_is_true(json_object_get(net, "status"))) {
		s->network_err[0] = '\0';
	} else {
		condition_string(net, "NetworkReady", cs, sizeof(cs));
		snprintf(s->network_err, sizeof(s->network_err),
			 "container runtime network not ready: %s", cs);
	}
	const json_t *rt = find_condition(resp, "RuntimeReady");
	if (!rt || !json_is_true(json_object_get(rt, "status"))) {
		condition_string(rt, "RuntimeReady", cs, sizeof(cs));
		snprintf(s->runtime_err, sizeof(s->runtime_err), "container runtime not ready: %s",
			 cs);
		return; /* not a sync: the last one ages */
	}
	s->runtime_err[0] = '\0';
	s->last_sync_ns = now_ns;
}

bool kl_runtime_errors(const struct kl_runtime_state *s, int64_t now_ns, char *buf, size_t size)
{
	const char *errs[2];
	size_t n = 0;
	if (!s->last_sync_ns)
		errs[n++] = "container runtime status check may not have completed yet";
	else if (now_ns - s->last_sync_ns >= KL_RUNTIME_SYNC_THRESHOLD_NS)
		errs[n++] = "container runtime is down";
	if (s->runtime_err[0])
		errs[n++] = s->runtime_err;
	/* utilerrors.NewAggregate: one error as it is, several in brackets. */
	if (n == 0)
		return false;
	if (n == 1)
		snprintf(buf, size, "%s", errs[0]);
	else
		snprintf(buf, size, "[%s, %s]", errs[0], errs[1]);
	return true;
}

bool kl_network_errors(const struct kl_runtime_state *s, char *buf, size_t size)
{
	if (!s->network_err[0])
		return false;
	snprintf(buf, size, "%s", s->network_err);
	return true;
}
