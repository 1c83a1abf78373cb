/* nodelet-cri's CRI services: daemon configuration, the RuntimeService and
 * ImageService dispatch table, and the handlers implemented so far. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "cri/api/api.h"
#include "cri/images/images.h"
#include "cri/server/rpc.h"
#include "cri/server/store.h"
#include "lib/error.h"

#define CRI_RUNTIME_NAME	"nodelet-cri"
#define CRI_KUBELET_API_VERSION "0.1.0" /* VersionResponse.version, as containerd answers */
#define CRI_RUNTIME_API_VERSION "v1"

#define CRI_DEFAULT_LISTEN   "/run/nodelet/cri.sock"
#define CRI_DEFAULT_ROOT     "/var/lib/nodelet-cri"
#define CRI_DEFAULT_RUN_ROOT "/run/nodelet-cri"

/* Daemon settings: every flag also has a key of the same name (without the
 * dashes) in the config file. */
struct cri_daemon_config {
	char *listen;
	char *root;
	char *run_root;
	char *cni_conf_dir;
	char *cni_bin_dir; /* ':' separated */
	char *cni_cache_dir;
	char *registry_config;
	char *image_preload_dir;
	char *log_level;
	char *config;
	int workers;
};

void cri_daemon_config_defaults(struct cri_daemon_config *c);
void cri_daemon_config_free(struct cri_daemon_config *c);
/* Apply a config file document (YAML or JSON object); unknown keys and wrong
 * types are errors naming the key. */
int cri_daemon_config_apply_file(struct cri_daemon_config *c, const char *path, ndl_error_t *err);
/* The effective configuration as JSON (Status verbose "config"). */
json_t *cri_daemon_config_json(const struct cri_daemon_config *c);

struct cri_service {
	const struct cri_daemon_config *cfg;
	struct cri_store *store;
	struct cri_rpc_server *rpc;
	char **cni_bin_dirs;  /* split cfg->cni_bin_dir, NULL-terminated */
	pthread_mutex_t lock; /* pod_cidr, pulls_active */
	char *pod_cidr;	      /* from UpdateRuntimeConfig, persisted */
	struct image_store *images; /* opened on --root at start */
	int pulls_active, pulls_max; /* concurrent PullImage calls (max: workers-1, >= 1) */
	/* Container exit watcher (container.c). */
	int inotify_fd, watch_stop[2];
	pthread_t watcher;
	bool watcher_started;
	/* Broadcast by the watcher after each batch of exit.json events, so a
	 * stop waits for the exit without polling (exit_gen counts batches). */
	pthread_mutex_t exit_lock;
	pthread_cond_t exit_cond; /* CLOCK_MONOTONIC */
	unsigned long exit_gen;
};

int cri_service_init(struct cri_service *svc, const struct cri_daemon_config *cfg,
		     ndl_error_t *err);
void cri_service_fini(struct cri_service *svc);

/* The method table (every CRI v1 method of both services). */
const struct cri_method *cri_service_methods(size_t *ret_n);
const struct cri_stream_method *cri_service_stream(void);

/* The pod CIDR(s) last set by UpdateRuntimeConfig (heap, comma separated,
 * NULL when unset), used as the CNI "ipRanges" capability. */
char *cri_service_pod_cidr(struct cri_service *svc);

/* Post a container lifecycle event to GetContainerEvents subscribers. */
int cri_service_post_event(struct cri_service *svc, const Runtime__V1__ContainerEventResponse *ev);

/* The daemon: flags, lock, socket, serve until SIGTERM/SIGINT. Returns the
 * process exit code. */
int cri_daemon_main(int argc, char **argv);
