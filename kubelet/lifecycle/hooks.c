/* Lifecycle hooks (pkg/kubelet/lifecycle/handlers.go): exec through CRI
 * ExecSync, httpGet from nodelet to the pod IP (any HTTP answer is
 * success, as the kubelet's runHTTPHandler only fails on transport errors),
 * sleep (PodLifecycleSleepAction). Messages are the kubelet's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static void strv_fmt(const struct pod_strv *v, char *buf, size_t size)
{
	/* Go's %v of a []string: [a b c]. */
	size_t o = 0;
	o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "[");
	for (size_t i = 0; i < v->n; i++)
		o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s%s", i ? " " : "",
				      v->v[i]);
	snprintf(buf + o, o < size ? size - o : 0, "]");
}

static void sleep_s(int64_t s)
{
	struct timespec ts = {.tv_sec = s};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int kl_run_hook(struct cri_client *cc, const struct pod *p, const struct pod_container *c,
		const char *cname, const struct pod_handler *h, const char *cid, const char *pod_ip,
		int64_t timeout_s, char *msg, size_t msz)
{
	char podfmt[512];
	snprintf(podfmt, sizeof(podfmt), "%s_%s(%s)", p ? p->name : "", p ? p->namespace : "",
		 p ? p->uid : "");
	msg[0] = 0;
	switch (h->type) {
	case POD_HANDLER_EXEC: {
		json_t *cmd = json_array();
		for (size_t i = 0; i < h->command.n; i++)
			json_array_append_new(cmd, json_string(h->command.v[i]));
		/* The kubelet gives hooks no timeout of their own; the caller
		 * bounds preStop by the grace period. */
		json_t *req = json_pack("{s:s,s:o,s:I}", "container_id", cid, "cmd", cmd, "timeout",
					(json_int_t)(timeout_s > 0 ? timeout_s : 0));
		json_t *resp = NULL;
		ndl_error_t e = NDL_ERROR_INIT;
		int r = kl_cri(cc, "ExecSync", req,
			       timeout_s > 0 ? (int)(timeout_s * 1000 + 5000) : 24 * 3600 * 1000, &resp,
			       &e);
		json_decref(req);
		char argv[512];
		strv_fmt(&h->command, argv, sizeof(argv));
		if (r < 0) {
			snprintf(msg, msz,
				 "Exec lifecycle hook (%s) for Container \"%s\" in Pod \"%s\" failed - "
				 "error: %s, message: \"\"",
				 argv, cname, podfmt, ndl_error_msg(&e));
			ndl_error_clear(&e);
			return -1;
		}
		json_t *ec = json_object_get(resp, "exit_code");
		int code = json_is_integer(ec) ? (int)json_integer_value(ec) : 0;
		if (code != 0) {
			/* As kuberuntime's RunInContainer words it, then the
			 * hook's output (stdout and stderr) quoted. */
			const char *so = json_string_value(json_object_get(resp, "stdout"));
			const char *se = json_string_value(json_object_get(resp, "stderr"));
			cleanup_free char *out = xasprintf("%s%s", so ? so : "", se ? se : "");
			json_t *qs = json_string(out);
			cleanup_free char *quoted = qs ? json_dumps(qs, JSON_ENCODE_ANY) : NULL;
			json_decref(qs);
			char joined[512];
			size_t o = 0;
			joined[0] = 0;
			for (size_t i = 0; i < h->command.n && o < sizeof(joined); i++)
				o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s",
						      i ? " " : "", h->command.v[i]);
			snprintf(msg, msz,
				 "Exec lifecycle hook (%s) for Container \"%s\" in Pod \"%s\" failed - "
				 "error: command '%s' exited with %d: %s, message: %s",
				 argv, cname, podfmt, joined, code, se ? se : "",
				 quoted ? quoted : "\"\"");
			json_decref(resp);
			return -1;
		}
		json_decref(resp);
		return 0;
	}
	case POD_HANDLER_HTTP_GET: {
		long code = 0;
		char m[512];
		if (kl_http_get(c, h, pod_ip, timeout_s > 0 ? (int)(timeout_s * 1000) : 0,
				"kube-lifecycle/1.29", &code, m, sizeof(m)) < 0) {
			snprintf(msg, msz,
				 "HTTP lifecycle hook (%s) for Container \"%s\" in Pod \"%s\" failed - "
				 "error: %s",
				 h->path ? h->path : "", cname, podfmt, m);
			return -1;
		}
		return 0;
	}
	case POD_HANDLER_SLEEP: {
		int64_t s = h->sleep_seconds;
		if (timeout_s > 0 && s > timeout_s)
			s = timeout_s;
		if (s > 0)
			sleep_s(s);
		return 0;
	}
	default:
		snprintf(msg, msz, "Cannot run handler: unknown handler type");
		return -1;
	}
}
