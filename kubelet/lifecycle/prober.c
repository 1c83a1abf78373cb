/* Liveness, readiness and startup probes (pkg/kubelet/prober): a worker
 * per probe of each running container, as the kubelet's, each on its own
 * period, run by a small pool of threads that grows while probes are due
 * at once, so a slow probe delays neither a sync nor another probe; a
 * changed result wakes the pod's worker. exec through
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
#include <pthread.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

int kl_resolve_port(const struct pod_container *c, const struct pod_port_ref *r)
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

int kl_http_get(const struct pod_container *c, const struct pod_handler *h, const char *pod_ip,
		int timeout_ms, const char *user_agent, long *ret_code, char *msg, size_t msz)
{
	int port = c ? kl_resolve_port(c, &h->port) : (h->port.number > 0 ? h->port.number : -1);
	if (port <= 0) {
		snprintf(msg, msz, "unknown port %s", h->port.name ? h->port.name : "");
		return -1;
	}
	const char *host = h->host && *h->host ? h->host : pod_ip;
	if (!host || !*host) {
		snprintf(msg, msz, "no pod IP");
		return -1;
	}
	const char *scheme = h->scheme && strcasecmp(h->scheme, "HTTPS") == 0 ? "https" : "http";
	const char *path = h->path && *h->path ? h->path : "/";
	bool v6 = strchr(host, ':') != NULL;
	cleanup_free char *url = xasprintf("%s://%s%s%s:%d%s%s", scheme, v6 ? "[" : "", host,
					   v6 ? "]" : "", port, path[0] == '/' ? "" : "/", path);
	CURL *cu = curl_easy_init();
	if (!cu) {
		snprintf(msg, msz, "curl init failed");
		return -1;
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
	if (!has_ua) {
		cleanup_free char *ua = xasprintf("User-Agent: %s", user_agent);
		hl = curl_slist_append(hl, ua);
	}
	if (!has_accept)
		hl = curl_slist_append(hl, "Accept: */*");
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
	if (timeout_ms > 0)
		curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L); /* the kubelet skips verification */
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_NOPROXY, "*");
	CURLcode rc = curl_easy_perform(cu);
	int r = 0;
	if (rc != CURLE_OK) {
		snprintf(msg, msz, "Get \"%s\": %s", url, curl_easy_strerror(rc));
		r = -1;
	} else {
		long code = 0;
		curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
		*ret_code = code;
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(cu);
	return r;
}

static int probe_http(const struct pod_container *c, const struct pod_handler *h,
		      const char *pod_ip, int timeout_s, char *msg, size_t msz)
{
	long code = 0;
	if (kl_http_get(c, h, pod_ip, timeout_s * 1000, "kube-probe/1.29", &code, msg, msz) < 0)
		return 0;
	if (code >= 200 && code < 400)
		return 1;
	snprintf(msg, msz, "HTTP probe failed with statuscode: %ld", code);
	return 0;
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
		if (e.code == ETIMEDOUT) {
			/* DeadlineExceeded is a timed-out command: a failure, with
			 * the kubelet's output for it. */
			char joined[256] = "";
			for (size_t i = 0; i < h->command.n; i++)
				snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
					 "%s%s", i ? " " : "", h->command.v[i]);
			snprintf(msg, msz, "command \"%s\" timed out", joined);
		} else {
			/* Any other error is no answer (probe.Unknown): the caller
			 * retries and then throws the result away. */
			snprintf(msg, msz, "%s", ndl_error_msg(&e));
			ok = -1;
		}
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
		int port = kl_resolve_port(c, &pr->handler.port);
		const char *host = pr->handler.host && *pr->handler.host ? pr->handler.host : pod_ip;
		if (port <= 0 || !host) {
			snprintf(msg, msz, "no address to probe");
			return 0;
		}
		return probe_tcp(host, port, timeout, msg, msz);
	}
	case POD_HANDLER_GRPC:
		if (!pod_ip) {
			snprintf(msg, msz, "no pod IP to probe");
			return 0;
		}
		return kl_probe_grpc(pod_ip, pr->handler.grpc_port, pr->handler.grpc_service, timeout,
				     msg, msz);
	default:
		snprintf(msg, msz, "probe handler not supported");
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


/* ---- probe workers ----
 *
 * A probe worker (the kubelet's prober worker) is the schedule of one probe
 * of one container: its next run, whether it is on hold, whether it was
 * stopped. Workers are not threads: every live one is on one queue, and a
 * small pool of "prober" threads runs whichever is due (the earliest
 * first), one run of a worker at a time; idle ones wait for the earliest
 * due time. A "probe-timer" thread watches that queue: when a run has been
 * due for PROBER_LATE_NS and no prober thread is idle (all in runs, say an
 * exec taking its whole timeoutSeconds), it adds a thread (up to
 * PROBER_MAX), so a slow probe delays another by PROBER_LATE_NS at most.
 * Threads beyond PROBER_BASE leave after PROBER_IDLE_NS without a run. Probes
 * that fall due together (pods started at once) mostly share the threads
 * there are: a quick probe (a tcpSocket, an ExecSync of `true`) ends well
 * within PROBER_LATE_NS. A thread per worker, as before, cost ~22 KB of
 * touched stack and arena per probe: 4.3 MiB of nodelet's RSS at 100 pods
 * with two probes each.
 *
 * Locks: a set's mu (its results and worker list) may be held when taking
 * sched.mu (the queue and every worker's schedule), never the other way. */

#define PROBER_BASE	1
#define PROBER_MAX	64
#define PROBER_LATE_NS	500000000LL
#define PROBER_IDLE_NS	5000000000LL
#define PROBER_STACK	(256 * 1024)

struct probe_worker {
	struct kl_probe_set *set;
	char *cid;
	int kind;
	struct pod *pod; /* keeps c and pr alive */
	const struct pod_container *c;
	const struct pod_probe *pr;
	char *pod_ip;
	/* Under sched.mu: the next run (CLOCK_REALTIME ns), on hold after a
	 * liveness/startup failure, stopped by its set, taken by a thread. */
	int64_t due;
	bool on_hold, stop, running;
	struct probe_worker *next;   /* the set's list (set->mu) */
	struct probe_worker *next_q; /* sched.queue (sched.mu) */
};

struct kl_probe_set {
	pthread_mutex_t mu;
	int refs; /* the owner + one per worker not yet released */
	bool closed;
	struct cri_client *cc;
	void (*kick)(void *);
	void *kick_arg;
	struct kl_prober states; /* results per container */
	struct probe_worker *workers;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;	     /* the queue changed, or a run ended */
	struct probe_worker *queue; /* every worker not yet released */
	int threads, idle;	     /* prober threads, those waiting */
	bool timer;		     /* the probe-timer thread runs */
} sched = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int kl_probe_workers_left(void)
{
	int n = 0;
	pthread_mutex_lock(&sched.mu);
	for (struct probe_worker *w = sched.queue; w; w = w->next_q)
		n++;
	pthread_mutex_unlock(&sched.mu);
	return n;
}

static int64_t now_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct kl_probe_set *kl_probe_set_new(struct cri_client *cc, void (*kick)(void *), void *kick_arg)
{
	struct kl_probe_set *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->refs = 1;
	s->cc = cc;
	s->kick = kick;
	s->kick_arg = kick_arg;
	return s;
}

/* Under s->mu; unlocks it. */
static void set_unref_unlock(struct kl_probe_set *s)
{
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (!last)
		return;
	kl_prober_free(&s->states);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void worker_release(struct probe_worker *w)
{
	pod_unref(w->pod);
	free(w->cid);
	free(w->pod_ip);
	free(w);
}

/* Under sched.mu. */
static void unqueue(struct probe_worker *w)
{
	for (struct probe_worker **pp = &sched.queue; *pp; pp = &(*pp)->next_q)
		if (*pp == w) {
			*pp = w->next_q;
			return;
		}
}

static int fail_threshold(const struct pod_probe *pr)
{
	return pr->failure_threshold > 0 ? pr->failure_threshold : 3;
}

/* One run of the kubelet's worker.doProbe: the others wait for startup to
 * succeed, startup stops once it has; a liveness/startup failure reaching
 * the threshold puts the worker on hold (the container is killed and a new
 * one gets new workers). Without sched.mu. */
static void run_probe(struct probe_worker *w)
{
	static const char *names[] = {"Liveness", "Readiness", "Startup"};
	struct kl_probe_set *s = w->set;
	pthread_mutex_lock(&s->mu);
	struct kl_probe_state *st = kl_prober_get(&s->states, w->cid, true);
	bool started = !w->c->startup.present || st->result[KL_PROBE_STARTUP] == 1;
	pthread_mutex_unlock(&s->mu);
	if ((w->kind == KL_PROBE_STARTUP) == started)
		return;
	char msg[512];
	/* runProbeWithRetries: an error (no answer at all, not a failure) is
	 * tried again up to three times in all, then the result is thrown
	 * away, as the kubelet's worker does: a runtime that is restarting
	 * kills no container. */
	int ok = -1;
	for (int attempt = 0; attempt < 3 && ok < 0; attempt++)
		ok = kl_probe_once(s->cc, w->c, w->pr, w->cid, w->pod_ip, msg, sizeof(msg));
	if (ok < 0) {
		char q[600];
		log_info("probe errored, result thrown away", "pod=%s/%s container=%s probe=%s error=%s",
			 w->pod->namespace, w->pod->name, w->c->name, names[w->kind],
			 ndl_log_quote(msg, q, sizeof(q)));
		return;
	}
	if (!ok)
		log_probe_failure(w->pod, w->c, names[w->kind], msg);
	else
		log_debug(4, "probe succeeded", "pod=%s/%s container=%s probe=%s",
			  w->pod->namespace, w->pod->name, w->c->name, names[w->kind]);
	pthread_mutex_lock(&s->mu);
	pthread_mutex_lock(&sched.mu);
	bool stopped = w->stop;
	pthread_mutex_unlock(&sched.mu);
	if (!stopped) {
		st = kl_prober_get(&s->states, w->cid, true);
		bool changed = kl_probe_update(st, w->kind, w->pr, ok);
		if (w->kind != KL_PROBE_READINESS && st->fail[w->kind] >= fail_threshold(w->pr)) {
			st->kill[w->kind] = true;
			pthread_mutex_lock(&sched.mu);
			w->on_hold = true;
			pthread_mutex_unlock(&sched.mu);
			changed = true;
		}
		if (changed && !s->closed && s->kick)
			s->kick(s->kick_arg);
	}
	pthread_mutex_unlock(&s->mu);
}

static void *prober_main(void *arg);

/* Under sched.mu: one thread more (false when none could start). */
static bool prober_grow(void)
{
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, PROBER_STACK);
	pthread_t th;
	sched.threads++;
	int r = pthread_create(&th, &at, prober_main, NULL);
	pthread_attr_destroy(&at);
	if (r != 0) {
		sched.threads--;
		log_warn("cannot start a prober thread", "threads=%d errno=%d", sched.threads, r);
		return false;
	}
	return true;
}

/* Under sched.mu: the worker due first among those waiting for a run. */
static struct probe_worker *earliest(void)
{
	struct probe_worker *best = NULL;
	for (struct probe_worker *q = sched.queue; q; q = q->next_q)
		if (!q->running && !q->stop && !q->on_hold && (!best || q->due < best->due))
			best = q;
	return best;
}

/* The probe-timer: adds a prober thread whenever a run has been due for
 * PROBER_LATE_NS with none idle; sleeps until the next such moment. */
static void *timer_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "probe-timer");
	pthread_mutex_lock(&sched.mu);
	for (;;) {
		int64_t now = now_real();
		struct probe_worker *best = earliest();
		int64_t until = now + 3600 * 1000000000LL;
		if (best && best->due + PROBER_LATE_NS <= now) {
			if (sched.idle == 0 && sched.threads < PROBER_MAX)
				prober_grow();
			until = now + PROBER_LATE_NS; /* the new thread's turn */
		} else if (best) {
			until = best->due + PROBER_LATE_NS;
		}
		struct timespec dl = {.tv_sec = until / 1000000000LL,
				      .tv_nsec = until % 1000000000LL};
		pthread_cond_timedwait(&sched.cv, &sched.mu, &dl);
	}
	return NULL;
}

static void *prober_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "prober");
	pthread_mutex_lock(&sched.mu);
	int64_t idle_since = now_real();
	for (;;) {
		int64_t now = now_real();
		struct probe_worker *best = earliest();
		if (!best || best->due > now) {
			/* Threads beyond the base leave after a while without
			 * work; the base ones wait for the next due run. */
			bool extra = sched.threads > PROBER_BASE;
			if (extra && now - idle_since >= PROBER_IDLE_NS)
				break;
			int64_t until = best ? best->due : now + 3600 * 1000000000LL;
			if (extra && until > idle_since + PROBER_IDLE_NS)
				until = idle_since + PROBER_IDLE_NS;
			struct timespec dl = {.tv_sec = until / 1000000000LL,
					      .tv_nsec = until % 1000000000LL};
			sched.idle++;
			pthread_cond_timedwait(&sched.cv, &sched.mu, &dl);
			sched.idle--;
			continue;
		}
		/* The period counts from the start of a run, as the kubelet's
		 * ticker; a run longer than the period is followed at once. */
		int period = best->pr->period_seconds > 0 ? best->pr->period_seconds : 10;
		best->due = now + (int64_t)period * 1000000000LL;
		best->running = true;
		pthread_mutex_unlock(&sched.mu);
		run_probe(best);
		pthread_mutex_lock(&sched.mu);
		best->running = false;
		idle_since = now_real();
		if (best->stop) {
			/* Stopped during the run: released here. */
			unqueue(best);
			pthread_mutex_unlock(&sched.mu);
			struct kl_probe_set *s = best->set;
			worker_release(best);
			pthread_mutex_lock(&s->mu);
			set_unref_unlock(s);
			pthread_mutex_lock(&sched.mu);
			pthread_cond_broadcast(&sched.cv);
		}
	}
	sched.threads--;
	pthread_mutex_unlock(&sched.mu);
	return NULL;
}

/* Under s->mu: take w off the set's list and stop it; released at once
 * unless a thread runs it (that thread releases it after the run). */
static void stop_worker(struct kl_probe_set *s, struct probe_worker **pp)
{
	struct probe_worker *w = *pp;
	*pp = w->next;
	pthread_mutex_lock(&sched.mu);
	w->stop = true;
	bool now = !w->running;
	if (now)
		unqueue(w);
	pthread_mutex_unlock(&sched.mu);
	if (now) {
		worker_release(w);
		s->refs--; /* never the last: the caller's set is still owned */
	}
}

/* Under s->mu: queue a new worker and make sure the base threads run. */
static void start_worker(struct probe_worker *w)
{
	pthread_mutex_lock(&sched.mu);
	w->next_q = sched.queue;
	sched.queue = w;
	while (sched.threads < PROBER_BASE)
		if (!prober_grow())
			break;
	if (!sched.timer) {
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 64 * 1024);
		pthread_t th;
		int r = pthread_create(&th, &at, timer_main, NULL);
		pthread_attr_destroy(&at);
		sched.timer = r == 0;
		if (r != 0)
			log_warn("cannot start the probe-timer thread: a slow probe may delay others",
				 "errno=%d", r);
	}
	pthread_cond_broadcast(&sched.cv);
	pthread_mutex_unlock(&sched.mu);
}

static bool is_current(const struct kl_observed *ctrs, size_t n, const char *cid,
		       const char *sandbox_id)
{
	for (size_t i = 0; i < n; i++)
		if (ctrs[i].state == 1 && strcmp(ctrs[i].id, cid) == 0 && sandbox_id &&
		    strcmp(ctrs[i].sandbox_id, sandbox_id) == 0)
			return true;
	return false;
}

size_t kl_probe_set_sync(struct kl_probe_set *s, struct pod *p, struct kl_observed *ctrs,
			 size_t n, const char *sandbox_id, const char *pod_ip,
			 struct kl_probe_kill *kills, size_t max_kills)
{
	size_t nk = 0;
	pthread_mutex_lock(&s->mu);
	/* Workers of containers that stopped (or left the sandbox) end. */
	for (struct probe_worker **pp = &s->workers; *pp;) {
		if (!is_current(ctrs, n, (*pp)->cid, sandbox_id))
			stop_worker(s, pp);
		else
			pp = &(*pp)->next;
	}
	kl_prober_prune(&s->states, ctrs, n);
	for (size_t i = 0; i < n; i++) {
		struct kl_observed *o = &ctrs[i];
		if (!is_current(ctrs, n, o->id, sandbox_id))
			continue;
		const struct pod_container *c = pod_find_container(p, o->name);
		/* Regular containers and sidecars (restartable init containers,
		 * probed since kubelet 1.29); other init containers never. */
		if (!c || (c->is_init && !(c->restart_policy &&
					   strcmp(c->restart_policy, "Always") == 0)))
			continue;
		const struct pod_probe *probes[3] = {&c->liveness, &c->readiness, &c->startup};
		for (int k = 0; k < 3; k++) {
			if (!probes[k]->present)
				continue;
			bool have = false;
			for (struct probe_worker *w = s->workers; w && !have; w = w->next)
				have = w->kind == k && strcmp(w->cid, o->id) == 0;
			if (have)
				continue;
			struct probe_worker *w = xcalloc(1, sizeof(*w));
			w->set = s;
			w->cid = xstrdup(o->id);
			w->kind = k;
			w->pod = pod_ref(p);
			w->c = c;
			w->pr = probes[k];
			w->pod_ip = pod_ip ? xstrdup(pod_ip) : NULL;
			/* Nothing before initialDelaySeconds from the start. */
			w->due = (o->started_at ? o->started_at : now_real()) +
				 (int64_t)probes[k]->initial_delay_seconds * 1000000000LL;
			s->refs++;
			w->next = s->workers;
			s->workers = w;
			start_worker(w);
		}
		/* The results so far. */
		struct kl_probe_state *st = kl_prober_get(&s->states, o->id, true);
		bool started = !c->startup.present || st->result[KL_PROBE_STARTUP] == 1;
		o->probe_started = started;
		o->probe_ready = !c->readiness.present ? started :
				 (started && st->result[KL_PROBE_READINESS] == 1);
		o->has_probe_result = true;
		for (int k = 0; k < 3; k++) {
			if (k == KL_PROBE_READINESS || !st->kill[k] || st->kill_reported[k] ||
			    nk >= max_kills)
				continue;
			st->kill_reported[k] = true;
			kills[nk].ctr = o;
			kills[nk].grace_s = probes[k]->termination_grace_period_seconds;
			snprintf(kills[nk].message, sizeof(kills[nk].message),
				 "Container %s failed %s probe, will be restarted", c->name,
				 k == KL_PROBE_LIVENESS ? "liveness" : "startup");
			nk++;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return nk;
}

void kl_probe_set_close(struct kl_probe_set *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->closed = true;
	while (s->workers)
		stop_worker(s, &s->workers);
	set_unref_unlock(s);
}
