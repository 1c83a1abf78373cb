/* Liveness, readiness and startup probes (pkg/kubelet/prober): exec through
 * CRI ExecSync, httpGet (libcurl; 200-399 is success, redirects are not
 * followed and count as success), tcpSocket (connect within the timeout),
 * with initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold
 * and failureThreshold. Probes run from nodelet's network namespace to the
 * pod IP, as the kubelet's do. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int resolve_port(const struct pod_container *c, const struct pod_port_ref *r)
{
	if (r->number > 0)
		return r->number;
	for (size_t i = 0; r->name && i < c->n_ports; i++)
		if (c->ports[i].name && strcmp(c->ports[i].name, r->name) == 0)
			return c->ports[i].container_port;
	return -1;
}

static int probe_tcp(const char *host, int port, int timeout_s, char *msg, size_t msz)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
		snprintf(msg, msz, "dial tcp %s:%d: cannot resolve", host, port);
		return 0;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ok = 0;
	if (fd >= 0) {
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r == 0) {
			ok = 1;
		} else if (errno == EINPROGRESS) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			if (poll(&pf, 1, timeout_s * 1000) == 1) {
				int e = 0;
				socklen_t l = sizeof(e);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
				ok = e == 0;
				if (!ok)
					snprintf(msg, msz, "dial tcp %s:%d: connect: %s", host, port,
						 strerror(e));
			} else {
				snprintf(msg, msz, "dial tcp %s:%d: i/o timeout", host, port);
			}
		} else {
			snprintf(msg, msz, "dial tcp %s:%d: connect: %s", host, port, strerror(errno));
		}
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

static size_t discard(void *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int probe_http(const struct pod_container *c, const struct pod_handler *h,
		      const char *pod_ip, int timeout_s, char *msg, size_t msz)
{
	int port = resolve_port(c, &h->port);
	if (port <= 0) {
		snprintf(msg, msz, "unknown port %s", h->port.name ? h->port.name : "");
		return 0;
	}
	const char *host = h->host && *h->host ? h->host : pod_ip;
	const char *scheme = h->scheme && strcmp(h->scheme, "HTTPS") == 0 ? "https" : "http";
	const char *path = h->path && *h->path ? h->path : "/";
	bool v6 = strchr(host, ':') != NULL;
	cleanup_free char *url = xasprintf("%s://%s%s%s:%d%s%s", scheme, v6 ? "[" : "", host,
					   v6 ? "]" : "", port, path[0] == '/' ? "" : "/", path);
	CURL *cu = curl_easy_init();
	if (!cu) {
		snprintf(msg, msz, "curl init failed");
		return 0;
	}
	struct curl_slist *hl = NULL;
	bool has_ua = false, has_accept = false;
	for (size_t i = 0; i < h->n_headers; i++) {
		cleanup_free char *line = xasprintf("%s: %s", h->headers[i].name, h->headers[i].value);
		hl = curl_slist_append(hl, line);
		has_ua |= strcasecmp(h->headers[i].name, "User-Agent") == 0;
		has_accept |= strcasecmp(h->headers[i].name, "Accept") == 0;
	}
	/* The kubelet's defaults. */
	if (!has_ua)
		hl = curl_slist_append(hl, "User-Agent: kube-probe/1.30");
	if (!has_accept)
		hl = curl_slist_append(hl, "Accept: */*");
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L); /* the kubelet skips verification */
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_NOPROXY, "*");
	CURLcode rc = curl_easy_perform(cu);
	long code = 0;
	int ok = 0;
	if (rc != CURLE_OK) {
		snprintf(msg, msz, "Get \"%s\": %s", url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
		ok = code >= 200 && code < 400;
		if (!ok)
			snprintf(msg, msz, "HTTP probe failed with statuscode: %ld", code);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(cu);
	return ok;
}

static int probe_exec(struct cri_client *cc, const char *cid, const struct pod_handler *h,
		      int timeout_s, char *msg, size_t msz)
{
	json_t *cmd = json_array();
	for (size_t i = 0; i < h->command.n; i++)
		json_array_append_new(cmd, json_string(h->command.v[i]));
	json_t *req = json_pack("{s:s,s:o,s:I}", "container_id", cid, "cmd", cmd, "timeout",
				(json_int_t)timeout_s);
	json_t *resp = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	int ok = 0;
	if (kl_cri(cc, "ExecSync", req, timeout_s * 1000 + 5000, &resp, &e) < 0) {
		snprintf(msg, msz, "%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
	} else {
		json_t *ec = json_object_get(resp, "exit_code");
		int code = json_is_integer(ec) ? (int)json_integer_value(ec) : 0;
		ok = code == 0;
		if (!ok)
			snprintf(msg, msz, "command exited with %d", code);
	}
	json_decref(req);
	json_decref(resp);
	return ok;
}

int kl_probe_once(struct cri_client *cc, const struct pod_container *c, const struct pod_probe *pr,
		  const char *cid, const char *pod_ip, char *msg, size_t msz)
{
	int timeout = pr->timeout_seconds > 0 ? pr->timeout_seconds : 1;
	msg[0] = 0;
	switch (pr->handler.type) {
	case POD_HANDLER_EXEC:
		return probe_exec(cc, cid, &pr->handler, timeout, msg, msz);
	case POD_HANDLER_HTTP_GET:
		if (!pod_ip && !(pr->handler.host && *pr->handler.host)) {
			snprintf(msg, msz, "no pod IP to probe");
			return 0;
		}
		return probe_http(c, &pr->handler, pod_ip, timeout, msg, msz);
	case POD_HANDLER_TCP_SOCKET: {
		int port = resolve_port(c, &pr->handler.port);
		const char *host = pr->handler.host && *pr->handler.host ? pr->handler.host : pod_ip;
		if (port <= 0 || !host) {
			snprintf(msg, msz, "no address to probe");
			return 0;
		}
		return probe_tcp(host, port, timeout, msg, msz);
	}
	default:
		snprintf(msg, msz, "probe handler not supported by nodelet (grpc)");
		return 0;
	}
}

struct kl_probe_state *kl_prober_get(struct kl_prober *pb, const char *cid, bool create)
{
	for (size_t i = 0; i < pb->n; i++)
		if (strcmp(pb->v[i].cid, cid) == 0)
			return &pb->v[i];
	if (!create)
		return NULL;
	pb->v = xrealloc(pb->v, (pb->n + 1) * sizeof(*pb->v));
	struct kl_probe_state *s = &pb->v[pb->n++];
	memset(s, 0, sizeof(*s));
	s->cid = xstrdup(cid);
	/* Initial results (prober results manager): liveness and startup
	 * succeed until proven otherwise... startup is unknown (not started),
	 * readiness fails until the first success. */
	s->result[KL_PROBE_LIVENESS] = 1;
	s->result[KL_PROBE_READINESS] = 0;
	s->result[KL_PROBE_STARTUP] = 0;
	return s;
}

/* Forget containers that are gone. */
void kl_prober_prune(struct kl_prober *pb, const struct kl_observed *ctrs, size_t n)
{
	for (size_t i = 0; i < pb->n;) {
		bool live = false;
		for (size_t k = 0; k < n && !live; k++)
			live = ctrs[k].state == 1 && strcmp(ctrs[k].id, pb->v[i].cid) == 0;
		if (live) {
			i++;
			continue;
		}
		free(pb->v[i].cid);
		pb->v[i] = pb->v[--pb->n];
	}
}

void kl_prober_free(struct kl_prober *pb)
{
	for (size_t i = 0; i < pb->n; i++)
		free(pb->v[i].cid);
	free(pb->v);
	memset(pb, 0, sizeof(*pb));
}

bool kl_probe_update(struct kl_probe_state *s, int kind, const struct pod_probe *pr, int ok)
{
	int succ_th = pr->success_threshold > 0 ? pr->success_threshold : 1;
	int fail_th = pr->failure_threshold > 0 ? pr->failure_threshold : 3;
	int before = s->result[kind];
	if (ok) {
		s->fail[kind] = 0;
		if (++s->succ[kind] >= succ_th)
			s->result[kind] = 1;
	} else {
		s->succ[kind] = 0;
		if (++s->fail[kind] >= fail_th)
			s->result[kind] = 0;
	}
	return before != s->result[kind];
}

int kl_prober_tick(struct kl_prober *pb, struct cri_client *cc, const struct pod *p,
		   struct kl_observed *o, const char *pod_ip, int64_t now_ns, char *kill_msg,
		   size_t kmsz)
{
	const struct pod_container *c = pod_find_container(p, o->name);
	if (!c || c->is_init || o->state != 1)
		return 0;
	struct kl_probe_state *s = kl_prober_get(pb, o->id, true);
	const struct pod_probe *probes[3] = {&c->liveness, &c->readiness, &c->startup};
	bool started = !c->startup.present || s->result[KL_PROBE_STARTUP] == 1;
	int kill = 0;
	for (int k = KL_PROBE_STARTUP; k >= 0; k--) {
		const struct pod_probe *pr = probes[k];
		if (!pr->present)
			continue;
		if (k == KL_PROBE_STARTUP && started)
			continue; /* startup probes stop once they succeeded */
		if (k != KL_PROBE_STARTUP && !started)
			continue; /* the others wait for the startup probe */
		int64_t first = o->started_at + (int64_t)pr->initial_delay_seconds * 1000000000LL;
		if (now_ns < first || now_ns < s->next_ns[k])
			continue;
		int period = pr->period_seconds > 0 ? pr->period_seconds : 10;
		s->next_ns[k] = now_ns + (int64_t)period * 1000000000LL;
		char msg[512];
		int ok = kl_probe_once(cc, c, pr, o->id, pod_ip, msg, sizeof(msg));
		kl_probe_update(s, k, pr, ok);
		if (k == KL_PROBE_STARTUP && s->result[k] == 1)
			started = true;
		if (!ok) {
			static const char *names[] = {"Liveness", "Readiness", "Startup"};
			log_probe_failure(p, c, names[k], msg);
		}
		if ((k == KL_PROBE_LIVENESS || k == KL_PROBE_STARTUP) && s->fail[k] >= (pr->failure_threshold > 0 ? pr->failure_threshold : 3)) {
			snprintf(kill_msg, kmsz, "Container %s failed %s probe, will be restarted",
				 c->name, k == KL_PROBE_LIVENESS ? "liveness" : "startup");
			kill = 1;
		}
	}
	o->probe_started = started;
	o->probe_ready = !c->readiness.present ? (started ? 1 : 0) :
			 (started && s->result[KL_PROBE_READINESS] == 1);
	o->has_probe_result = true;
	return kill;
}
