/* Internals of kubelet/lifecycle shared between its files and unit tests. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kubelet/config.h"
#include "kubelet/pod.h"
#include "lib/error.h"

struct cri_client;

/* Labels and annotations as the kubelet sets them. */
#define KL_LABEL_POD_NAME	 "io.kubernetes.pod.name"
#define KL_LABEL_POD_NAMESPACE	 "io.kubernetes.pod.namespace"
#define KL_LABEL_POD_UID	 "io.kubernetes.pod.uid"
#define KL_LABEL_CONTAINER_NAME	 "io.kubernetes.container.name"
#define KL_ANN_CONTAINER_HASH	 "io.kubernetes.container.hash"
#define KL_ANN_RESTART_COUNT	 "io.kubernetes.container.restartCount"
#define KL_ANN_TERM_MSG_PATH	 "io.kubernetes.container.terminationMessagePath"
#define KL_ANN_TERM_MSG_POLICY	 "io.kubernetes.container.terminationMessagePolicy"
#define KL_ANN_POD_GRACE	 "io.kubernetes.pod.terminationGracePeriod"
#define KL_ANN_PRESTOP		 "io.kubernetes.container.preStopHandler"
#define KL_ANN_PORTS		 "io.kubernetes.container.ports"
/* nodelet's own: FNV of the whole container spec, so any change (command,
 * env, ...) of a pod whose UID stays restarts exactly that container. */
#define KL_ANN_SPEC_HASH "nodelet.io/container-spec-hash"

/* One CRI call with JSON in and out (proto field names, see
 * cri_msg_to_json). timeout_ms: a time in ms, KL_CRI_TIMEOUT
 * (runtimeRequestTimeout, as the kubelet's remote runtime uses for most
 * calls), KL_CRI_TIMEOUT_X2 (twice that: RunPodSandbox) or
 * KL_CRI_NO_DEADLINE (PullImage). */
#define KL_CRI_TIMEOUT	    (-1)
#define KL_CRI_TIMEOUT_X2   (-2)
#define KL_CRI_NO_DEADLINE (-3)
int kl_cri(struct cri_client *c, const char *method, json_t *req, int timeout_ms,
	   json_t **ret_resp, ndl_error_t *err);
void kl_cri_set_request_timeout(int64_t ns);
int kl_cri_request_timeout_ms(void);

/* ---- runtime.c: CRI configs from the Pod ---- */
struct kl_runtime_opts {
	const struct kubelet_config *cfg;
	const char *pod_logs_dir; /* /var/log/pods */
	const char *root_dir;
	int64_t memory_capacity;
	const char *host_ip; /* --node-ip, else the node's first address; may be "" */
};
char *kl_pod_log_dir(const struct kl_runtime_opts *o, const struct pod *p);
/* The same directory from the pod's namespace, name and UID. */
char *kl_pod_log_dir_of(const struct kl_runtime_opts *o, const char *ns, const char *name,
			const char *uid);
/* The sandbox's hostname (at most 63 characters; "" for hostNetwork);
 * size at least 64. */
void kl_pod_hostname(const struct pod *p, char *buf, size_t size);
/* Write the pod's managed hosts file (<root>/pods/<uid>/etc-hosts) for the
 * given pod IP; its path, or NULL with err. */
char *kl_write_hosts_file(const struct kl_runtime_opts *o, const struct pod *p, const char *pod_ip,
			  ndl_error_t *err);
char *kl_pod_cgroup_parent(const struct kl_runtime_opts *o, const struct pod *p);
json_t *kl_sandbox_config(const struct kl_runtime_opts *o, const struct pod *p, uint32_t attempt,
			  ndl_error_t *err);
json_t *kl_container_config(const struct kl_runtime_opts *o, const struct pod *p,
			    const struct pod_container *c, uint32_t restart_count,
			    const char *pod_ip, ndl_error_t *err);
/* Pull per imagePullPolicy; the returned reason on failure is ErrImagePull
 * or ErrImageNeverPull. */
void kl_pull_limit_set(int limit);
/* runAsNonRoot as the kubelet's verifyRunAsNonRoot: 0 when the container
 * may start, else an error naming why (its reason is
 * CreateContainerConfigError). May ask the image service for the image's
 * user. */
int kl_verify_run_as_non_root(struct cri_client *cc, const struct pod *p,
			      const struct pod_container *c, ndl_error_t *err);
int kl_ensure_image(struct cri_client *cc, const struct pod_container *c, json_t *sandbox_config,
		    const char **ret_reason, ndl_error_t *err);

/* ---- volumes.c ---- */
char *kl_pod_dir(const char *root_dir, const char *uid);
/* Make every volume of the pod; on failure what was made stays for
 * kl_volumes_teardown (the pod cannot start, and is retried). */
int kl_volumes_setup(const struct kl_runtime_opts *o, const struct pod *p, ndl_error_t *err);
/* Host path of a volume (after setup), or NULL. */
char *kl_volume_host_path(const struct kl_runtime_opts *o, const struct pod *p, const char *name);
void kl_volumes_teardown(const char *root_dir, const char *uid);

/* ---- sync.c: computePodActions ---- */
/* One container as observed (ContainerStatus merged into the list entry). */
struct kl_observed {
	const char *id, *name, *sandbox_id;
	int state; /* 0 created, 1 running, 2 exited, 3 unknown */
	uint32_t attempt;
	int32_t exit_code;
	int64_t created_at, started_at, finished_at; /* ns */
	const char *reason, *message, *image, *image_ref;
	uint32_t spec_hash;
	bool has_spec_hash;
	const char *log_path;	   /* ContainerStatus.log_path (absolute) */
	const char *term_msg_file; /* host file mounted at terminationMessagePath */
	bool fallback_to_logs;	   /* terminationMessagePolicy FallbackToLogsOnError */
	/* Set by the prober for running containers. */
	bool has_probe_result;
	bool probe_ready, probe_started;
};
struct kl_backoff_entry {
	char *key;
	int64_t backoff_ns, last_update_ns; /* realtime */
};
struct kl_backoff_table {
	struct kl_backoff_entry *v;
	size_t n;
};
struct kl_backoff_entry *kl_backoff_get(struct kl_backoff_table *t, const char *key, bool create);
void kl_backoff_table_free(struct kl_backoff_table *t);
/* flowcontrol.Backoff IsInBackOffSince(key, event_ns). */
bool kl_backoff_in_backoff_since(struct kl_backoff_table *t, const char *key, int64_t event_ns,
				 int64_t now_ns);
/* Next(key, now): records a restart. Returns the new back-off. */
int64_t kl_backoff_next(struct kl_backoff_table *t, const char *key, int64_t now_ns);
/* Next(key, eventTime) as doBackOff calls it: the expiry is judged from
 * event_ns (the container's FinishedAt), the last update is now_ns. */
int64_t kl_backoff_next_at(struct kl_backoff_table *t, const char *key, int64_t event_ns,
			   int64_t now_ns);
/* getStableKey: "name_namespace_uid_container_spechash". */
void kl_backoff_key(const struct pod *p, const struct pod_container *c, char *buf, size_t size);
/* time.Duration.String() of ns ("10s", "1m20s", "5m0s"). */
char *kl_go_duration(int64_t ns, char *buf, size_t size);

struct kl_start {
	const struct pod_container *c;
	uint32_t restart_count;
};
struct kl_waiting {
	const char *container;
	char reason[64];
	char message[256];
};
struct kl_pod_actions {
	bool kill_pod;	     /* stop every container and the sandbox first */
	bool create_sandbox; /* then create a new one */
	uint32_t attempt;    /* of the new sandbox */
	const char *sandbox_id;
	/* Arrays sized by the pod (containers, observed containers) rather
	 * than fixed: a worker per pod syncs every second, and 64-entry
	 * arrays made each sync allocate ~21 KB. cap_* are their sizes. */
	/* containers to kill (running but changed, unknown name, ...) */
	const struct kl_observed **kill;
	size_t n_kill, cap_kill;
	struct kl_start *start;
	size_t n_start, cap_start;
	struct kl_waiting *waiting;
	size_t n_waiting, cap_waiting;
	bool pod_done; /* restartPolicy says nothing more runs (Succeeded/Failed) */
};
/* Empty the actions for pod p with n_ctrs observed containers, growing the
 * arrays as needed (a must be zeroed, or filled by an earlier call). */
void kl_pod_actions_reset(struct kl_pod_actions *a, const struct pod *p, size_t n_ctrs);
void kl_pod_actions_free(struct kl_pod_actions *a);
/* Add a waiting reason (dropped when the array is full). */
void kl_pod_actions_wait(struct kl_pod_actions *a, const char *container, const char *reason,
			 const char *msg);
/* sandboxes: this pod's ListPodSandbox items (JSON); containers: observed
 * containers of the chosen sandbox and earlier ones. a as for
 * kl_pod_actions_reset; release it with kl_pod_actions_free. */
void kl_compute_pod_actions(const struct pod *p, const json_t *sandboxes,
			    const struct kl_observed *ctrs, size_t n_ctrs,
			    struct kl_backoff_table *bt, int64_t now_ns,
			    struct kl_pod_actions *ret);
/* The sandbox the pod uses: the newest READY one, or NULL. */
const json_t *kl_pick_sandbox(const json_t *sandboxes);
/* podSandboxChanged's namespace check: the PodSandboxStatus "status"
 * object's network namespace mode is not the one p wants (hostNetwork
 * NODE, else POD). */
bool kl_sandbox_netns_changed(const struct pod *p, const json_t *sandbox_status);
/* podSandboxChanged's IP check: a sandbox on the pod network whose
 * PodSandboxStatus "status" has a network status without an IP needs a new
 * sandbox (a runtime that sends no network status at all is left alone). */
bool kl_sandbox_lacks_ip(const struct pod *p, const json_t *sandbox_status);
/* The newest observed container with that name in that sandbox. */
const struct kl_observed *kl_latest(const struct kl_observed *ctrs, size_t n, const char *name,
				    const char *sandbox_id);

/* ---- logs.c: container log rotation and cleanup ---- */
/* The legacy symlinks' directory (the kubelet's legacyContainerLogsDir). */
#define KL_LEGACY_LOGS_DIR "/var/log/containers"
/* containerLogManager.rotateLog for one container's log (a file the caller
 * found at or over containerLogMaxSize): drop unused and excess rotated
 * files (at most max_files - 2 stay), gzip the uncompressed one, rename the
 * log to <log>.<YYYYMMDD-hhmmss> (local time of now_ns) and call reopen
 * (ReopenContainerLog); if that fails the log gets its name back. */
int kl_log_rotate(const char *log, int max_files, int64_t now_ns,
		  int (*reopen)(void *arg, ndl_error_t *err), void *arg, ndl_error_t *err);
/* Remove a container's log and its rotated files (logManager.Clean). */
void kl_log_clean(const char *log);
/* <dir>/<pod>_<namespace>_<container>-<id>.log, cut to ext4's 255 bytes. */
char *kl_legacy_log_symlink(const char *dir, const char *pod_name, const char *pod_namespace,
			    const char *container_name, const char *container_id);
/* The container ID of such a symlink's name; -1 when it has none. */
int kl_legacy_log_id(const char *path, char *id, size_t size);

/* ---- runtime_state.c: the kubelet's runtimeState ---- */
/* updateRuntimeUp's period, and how old the last good Status may get
 * before the runtime counts as down (maxWaitForContainerRuntime). */
#define KL_RUNTIME_STATUS_PERIOD_NS  5000000000LL
#define KL_RUNTIME_SYNC_THRESHOLD_NS 30000000000LL
struct kl_runtime_state {
	int64_t last_sync_ns; /* CLOCK_MONOTONIC of the last RuntimeReady; 0: never */
	char runtime_err[512]; /* "" while RuntimeReady */
	char network_err[512]; /* "" while NetworkReady */
};
/* Before any Status reply: no sync yet, network state unknown. */
void kl_runtime_state_init(struct kl_runtime_state *s);
/* A CRI Status reply ({"status":{"conditions":[...]}}) at now_ns. */
void kl_runtime_state_update(struct kl_runtime_state *s, const json_t *resp, int64_t now_ns);
/* runtimeErrors(): true with the kubelet's message in buf when pods must
 * not be synced (no good Status yet, none for 30 s, RuntimeReady false). */
bool kl_runtime_errors(const struct kl_runtime_state *s, int64_t now_ns, char *buf, size_t size);
/* networkErrors(): true with the message when NetworkReady is not true;
 * pods on the pod network then get no sandbox ("network is not ready"). */
bool kl_network_errors(const struct kl_runtime_state *s, char *buf, size_t size);

/* ---- status.c ---- */
struct kl_status_input {
	const struct pod *p;
	const char *sandbox_id; /* NULL when none */
	bool sandbox_ready;
	const char *pod_ip;
	json_t *pod_ips; /* array of strings or NULL */
	const char *host_ip;
	const char *runtime_name; /* "containerd" -> containerd://id */
	const struct kl_observed *ctrs;
	size_t n_ctrs;
	const struct kl_pod_actions *actions; /* waiting reasons */
	int64_t start_time_ns;
	bool terminating;
	bool deadline_exceeded; /* activeDeadlineSeconds passed: Failed */
	const json_t *prev; /* the pod's previous PodStatus, or NULL */
};
/* The v1 PodStatus object. */
json_t *kl_pod_status(const struct kl_status_input *in);
char *kl_rfc3339(int64_t ns, char *buf, size_t size);

/* ---- hooks.c ---- */
/* Run a postStart/preStop handler (exec, httpGet, sleep) for container cid.
 * c may be NULL (handler restored from the container's annotation);
 * timeout_s <= 0: none (sleep runs its full time). 0, or -1 with the
 * kubelet's message ("Exec lifecycle hook ([sh -c x]) for Container ..."). */
int kl_run_hook(struct cri_client *cc, const struct pod *p, const struct pod_container *c,
		const char *cname, const struct pod_handler *h, const char *cid, const char *pod_ip,
		int64_t timeout_s, char *msg, size_t msz);

/* ---- prober.c ---- */
enum { KL_PROBE_LIVENESS = 0, KL_PROBE_READINESS = 1, KL_PROBE_STARTUP = 2 };
struct kl_probe_state {
	char *cid;
	int64_t next_ns[3];
	int succ[3], fail[3];
	int result[3]; /* 1 success, 0 failure */
	bool kill[3], kill_reported[3]; /* liveness/startup reached failureThreshold */
};
struct kl_prober {
	struct kl_probe_state *v;
	size_t n;
};
/* One probe: 1 success, 0 failure (msg says why), -1 no answer (an exec
 * probe's CRI error other than a timeout: probe.Unknown, msg says why). */
int kl_probe_once(struct cri_client *cc, const struct pod_container *c, const struct pod_probe *pr,
		  const char *cid, const char *pod_ip, char *msg, size_t msz);
struct kl_probe_state *kl_prober_get(struct kl_prober *pb, const char *cid, bool create);
/* Apply one result with the thresholds; true when the result flipped. */
bool kl_probe_update(struct kl_probe_state *s, int kind, const struct pod_probe *pr, int ok);
void kl_prober_prune(struct kl_prober *pb, const struct kl_observed *ctrs, size_t n);
void kl_prober_free(struct kl_prober *pb);
/* The probe workers of one pod: one per probe of each running container
 * (kubelet prober workers), run by the shared prober threads.
 * kick(kick_arg) is called from a prober thread, holding the set's lock (so kick may take the lifecycle lock, and
 * the set's functions must never be called with that lock held), when a
 * result changed, until the set is closed. */
struct kl_probe_set;
struct kl_probe_set *kl_probe_set_new(struct cri_client *cc, void (*kick)(void *), void *kick_arg);
struct kl_probe_kill {
	struct kl_observed *ctr;
	int64_t grace_s; /* probe-level terminationGracePeriodSeconds, -1 unset */
	char message[160];
};
/* Start workers for the running containers of sandbox_id, stop those of
 * containers that are gone, fill probe_ready/probe_started of ctrs, and
 * return the containers a liveness/startup failure wants killed (each
 * reported once). */
size_t kl_probe_set_sync(struct kl_probe_set *s, struct pod *p, struct kl_observed *ctrs,
			 size_t n, const char *sandbox_id, const char *pod_ip,
			 struct kl_probe_kill *kills, size_t max_kills);
/* Stop every worker (a run in progress finishes on its own). */
void kl_probe_set_close(struct kl_probe_set *s);
/* Probe workers not released yet, of every set: after every set is
 * closed, those still in a run (shutdown waits for them a little). */
int kl_probe_workers_left(void);
int kl_resolve_port(const struct pod_container *c, const struct pod_port_ref *r);
/* GET for httpGet probes and hooks: 0 with *ret_code when an HTTP answer
 * came, -1 with msg (naming the URL) otherwise. c may be NULL (numbered
 * ports only). timeout_ms <= 0: none. */
int kl_http_get(const struct pod_container *c, const struct pod_handler *h, const char *pod_ip,
		int timeout_ms, const char *user_agent, long *ret_code, char *msg, size_t msz);
/* grpc.health.v1.Health/Check: 1 SERVING, else 0 with the kubelet's message. */
int kl_probe_grpc(const char *host, int port, const char *service, int timeout_s, char *msg,
		  size_t msz);
void log_probe_failure(const struct pod *p, const struct pod_container *c, const char *kind,
		       const char *msg);
