/* nodelet: the kubelet. This version parses the kubelet's flags and
 * KubeletConfiguration, runs the static pod source and reports its events,
 * and serves healthz and the read-only /pods. The pod workers (CRI client,
 * PLEG, probes, status) are not part of it yet. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kubelet/config.h"
#include "kubelet/http.h"
#include "kubelet/lifecycle/lifecycle.h"
#include "kubelet/pod.h"
#include "lib/cleanup.h"
#include "lib/duration.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "static-pods/staticpods.h"

#define NODELET_VERSION "v0.1.0"

/* Rebuild the PodList served on /pods from the source's active pods. */
static void publish_pods(struct sp_source *src)
{
	json_t *items = json_array();
	if (src) {
		struct pod **pods = NULL;
		size_t n = sp_source_pods(src, &pods);
		for (size_t i = 0; i < n; i++) {
			json_array_append(items, pods[i]->json);
			pod_unref(pods[i]);
		}
		free(pods);
	}
	json_t *list = json_pack("{s:s,s:s,s:{},s:o}", "kind", "PodList", "apiVersion", "v1",
				 "metadata", "items", items);
	kubelet_http_set_pods(json_dumps(list, JSON_COMPACT));
	json_decref(list);
}

static void log_events(struct sp_event *ev, size_t n)
{
	char q1[512], q2[1024], hb[16];
	for (size_t i = 0; i < n; i++) {
		struct sp_event *e = &ev[i];
		if (e->type == SP_EVENT_ERROR) {
			log_error("invalid static pod manifest, skipped", "file=%s error=%s",
				  ndl_log_quote(e->file, q1, sizeof(q1)),
				  ndl_log_quote(e->message, q2, sizeof(q2)));
			continue;
		}
		const struct pod *p = e->pod;
		const char *hash = pod_annotation(p, "kubernetes.io/config.hash");
		if (e->type == SP_EVENT_UPDATE)
			log_info("static pod UPDATE",
				 "op=UPDATE pod=%s/%s uid=%s hash=%s old_uid=%s file=%s",
				 p->namespace, p->name, p->uid, hash ? hash : "", e->old->uid,
				 ndl_log_quote(e->file, q1, sizeof(q1)));
		else
			log_info(e->type == SP_EVENT_ADD ? "static pod ADD" : "static pod REMOVE",
				 "op=%s pod=%s/%s uid=%s hash=%s file=%s",
				 sp_event_type_name(e->type), p->namespace, p->name, p->uid,
				 hash ? hash : "", ndl_log_quote(e->file, q1, sizeof(q1)));
		if (e->type != SP_EVENT_REMOVE) {
			for (size_t k = 0; k < p->n_containers; k++) {
				snprintf(hb, sizeof(hb), "%x", p->containers[k].hash);
				log_debug(2, "static pod container",
					  "pod=%s/%s container=%s image=%s hash=%s", p->namespace,
					  p->name, p->containers[k].name,
					  ndl_log_quote(p->containers[k].image, q2, sizeof(q2)),
					  hb);
			}
		}
	}
}

int main(int argc, char **argv)
{
	/* One malloc arena: glibc gives each thread that allocates (pod
	 * workers, probes, gRPC) its own arena, up to 8 per core, each keeping
	 * its freed memory; at 100 pods that was 2-5 MB of anonymous RSS more
	 * than one shared arena. Our allocations are small next to the work
	 * they serve (RPCs to the runtime), so the shared lock costs nothing
	 * visible. An admin's MALLOC_ARENA_MAX / GLIBC_TUNABLES setting wins. */
	const char *tun = getenv("GLIBC_TUNABLES");
	if (!getenv("MALLOC_ARENA_MAX") && !(tun && strstr(tun, "glibc.malloc.arena_max")))
		mallopt(M_ARENA_MAX, 1);
	ndl_log_init(STDERR_FILENO, NDL_LOG_INFO, 0, false);
	struct kubelet_config cfg;
	kubelet_config_init(&cfg);
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	bool help = false, version = false;
	char q[1024];
	if (kubelet_config_load(&cfg, argc, argv, &help, &version, &err) < 0) {
		log_error("invalid configuration", "error=%s",
			  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
		fprintf(stderr, "Run 'nodelet --help' for usage.\n");
		kubelet_config_free(&cfg);
		return 1;
	}
	if (help) {
		kubelet_flags_usage(stdout);
		kubelet_config_free(&cfg);
		return 0;
	}
	if (version) {
		printf("nodelet %s (kubelet-compatible flags and KubeletConfiguration v1beta1)\n",
		       NODELET_VERSION);
		kubelet_config_free(&cfg);
		return 0;
	}
	ndl_log_init(STDERR_FILENO, cfg.verbosity > 0 ? NDL_LOG_DEBUG : NDL_LOG_INFO, cfg.verbosity,
		     false);
	int rc = 1;
	struct sp_source *src = NULL;
	struct kl_lifecycle *lc = NULL;
	struct kubelet_http *healthz = NULL, *ro = NULL;
	int sfd = -1, epfd = -1;

	log_info("starting nodelet", "version=%s node=%s root_dir=%s mode=%s runtime_endpoint=%s",
		 NODELET_VERSION, cfg.node_name, cfg.root_dir,
		 cfg.kubeconfig ? "api" : "standalone", cfg.container_runtime_endpoint);
	if (cfg.kubeconfig)
		log_warn("--kubeconfig given, but the API server client is not implemented yet; "
			 "running standalone",
			 "kubeconfig=%s", cfg.kubeconfig);
	if (ndl_log_verbosity() >= 2) {
		json_t *cj = kubelet_config_to_json(&cfg);
		cleanup_free char *s = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(cj);
		log_debug(2, "effective configuration", "config=%s", s);
	}
	cleanup_free char *pods_dir = xasprintf("%s/pods", cfg.root_dir);
	if (ndl_mkdir_p(cfg.root_dir, 0750, &err) < 0 || ndl_mkdir_p(pods_dir, 0750, &err) < 0) {
		log_error("cannot create the root directory", "error=%s",
			  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
		goto out;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0) {
		log_error("cannot set up the event loop", "errno=%d", errno);
		goto out;
	}
	struct epoll_event ee = {.events = EPOLLIN, .data.u32 = 1};
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ee);

	publish_pods(NULL);
	if (cfg.healthz_port > 0 &&
	    kubelet_http_start(cfg.healthz_bind_address, cfg.healthz_port, false, "--healthz-port",
			       &healthz, &err) < 0) {
		log_error("cannot start the healthz server", "error=%s",
			  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
		goto out;
	}
	if (cfg.read_only_port > 0 && kubelet_http_start(cfg.address, cfg.read_only_port, true,
							 "--read-only-port", &ro, &err) < 0) {
		log_error("cannot start the read-only server", "error=%s",
			  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
		goto out;
	}
	if (cfg.static_pod_path && *cfg.static_pod_path) {
		struct sp_options o = {.path = cfg.static_pod_path,
				       .node_name = cfg.node_name,
				       .check_period_ns = cfg.file_check_frequency_ns};
		if (sp_source_new(&o, &src, &err) < 0) {
			log_error("cannot start the static pod source", "error=%s",
				  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
			goto out;
		}
		ee = (struct epoll_event){.events = EPOLLIN, .data.u32 = 2};
		epoll_ctl(epfd, EPOLL_CTL_ADD, sp_source_fd(src), &ee);
		char d[32];
		log_info("watching static pod manifests", "path=%s check_frequency=%s",
			 cfg.static_pod_path,
			 ndl_duration_format(cfg.file_check_frequency_ns, d, sizeof(d)));
	} else {
		log_info("no static pod path configured (--pod-manifest-path / staticPodPath)",
			 NULL);
	}
	if (kl_lifecycle_start(&cfg, &lc, &err) < 0) {
		log_error("cannot start the pod lifecycle", "error=%s",
			  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
		goto out;
	}
	if (!src)
		kl_lifecycle_handle_events(lc, NULL, 0); /* no source: ready as is */
	log_info("nodelet ready", "healthz=%s:%d read_only_port=%d", cfg.healthz_bind_address,
		 cfg.healthz_port, cfg.read_only_port);

	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait failed", "errno=%d", errno);
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 1) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					log_info("shutting down", "signal=%s",
						 strsignal((int)si.ssi_signo));
					rc = 0;
					goto out;
				}
			} else if (evs[i].data.u32 == 2) {
				struct sp_event *sev = NULL;
				size_t nev = 0;
				if (sp_source_process(src, &sev, &nev, &err) < 0) {
					log_error("static pod source failed", "error=%s",
						  ndl_log_quote(ndl_error_msg(&err), q, sizeof(q)));
					ndl_error_clear(&err);
					continue;
				}
				/* Published on /pods before logged. */
				kl_lifecycle_handle_events(lc, sev, nev);
				log_events(sev, nev);
				bool changed = false;
				for (size_t k = 0; k < nev; k++)
					changed |= sev[k].type != SP_EVENT_ERROR;
				sp_events_free(sev, nev);
				/* With the lifecycle running, it publishes /pods
				 * (with statuses). */
				if (changed && !lc)
					publish_pods(src);
			}
		}
	}
out:
	kl_lifecycle_stop(lc);
	kubelet_http_stop(ro);
	kubelet_http_stop(healthz);
	sp_source_free(src);
	kubelet_http_set_pods(NULL);
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
	kubelet_config_free(&cfg);
	return rc;
}
