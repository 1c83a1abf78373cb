/* nodelet OCI runtime library: creates, starts, signals, inspects and
 * deletes containers from an OCI bundle, and execs into running ones. Used
 * by the `nodelet-runtime` CLI (runc-compatible) and by `nodelet-shim`.
 *
 * Lifecycle (as runc): rt_container_create sets up every namespace, cgroup
 * and mount, then leaves the container init blocked on <root>/<id>/exec.fifo
 * just before execve; rt_container_start releases it. State lives in
 * <root>/<id>/state.json (written atomically).
 *
 * Stdio: the container process gets the caller's fds 0-2 unless opts->stdio
 * names others (the shim passes pipes for stdout/stderr). With
 * keep_parent the init stays the caller's child (the caller must reap it);
 * without it, the CLI exits and the init is reparented. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/error.h"

#define RT_DEFAULT_ROOT "/run/nodelet-runtime"

struct rt_create_opts {
	const char *id;
	const char *bundle;	    /* directory holding config.json */
	const char *root;	    /* state root; NULL = RT_DEFAULT_ROOT */
	const char *pid_file;	    /* written atomically when set */
	const char *console_socket; /* process.terminal: send the pty master here */
	bool no_pivot;		    /* MS_MOVE + chroot instead of pivot_root */
	int stdio[3];		    /* fds for the container's 0,1,2; -1 = inherit */
	unsigned preserve_fds;	    /* also pass fds 3 .. 3+n-1 */
	bool keep_parent;	    /* the caller stays the init's parent */
	bool no_cgroups;	    /* no cgroup at all (podman --cgroups=disabled) */
};
/* Sets stdio to -1 and everything else to zero. */
void rt_create_opts_init(struct rt_create_opts *o);

/* Create: on success *ret_pid is the init's pid (host view). On failure
 * nothing is left behind: no state dir, cgroup, mount or process. */
int rt_container_create(const struct rt_create_opts *opts, pid_t *ret_pid, ndl_error_t *err);

/* Release a created container (runs poststart hooks). */
int rt_container_start(const char *root, const char *id, ndl_error_t *err);

/* Signal the init, or with all every process in its cgroup. */
int rt_container_kill(const char *root, const char *id, int sig, bool all, ndl_error_t *err);

/* Remove a stopped (or created) container; force kills a running one
 * first. Runs poststop hooks, destroys the cgroup and the state dir. */
int rt_container_delete(const char *root, const char *id, bool force, ndl_error_t *err);

enum rt_status {
	RT_STATUS_CREATING,
	RT_STATUS_CREATED,
	RT_STATUS_RUNNING,
	RT_STATUS_PAUSED,
	RT_STATUS_STOPPED
};
const char *rt_status_name(enum rt_status s);

struct rt_state {
	char *id;
	enum rt_status status;
	pid_t pid; /* 0 once stopped */
	char *bundle;
	char *rootfs;
	char *created; /* RFC 3339 */
	uid_t owner;
	json_t *annotations; /* object (owned), never NULL */
	char *cgroup_path;   /* "" when the container has no cgroup */
};
int rt_container_state(const char *root, const char *id, struct rt_state *ret, ndl_error_t *err);
void rt_state_clear(struct rt_state *s);
/* runtime-spec state JSON (ociVersion, id, status, pid, bundle, annotations,
 * plus runc's rootfs/created/owner). */
json_t *rt_state_to_json(const struct rt_state *s);

/* Ids of every container under root (sorted). */
int rt_container_list(const char *root, char ***ret_ids, size_t *ret_n, ndl_error_t *err);

int rt_container_pause(const char *root, const char *id, ndl_error_t *err);
int rt_container_resume(const char *root, const char *id, ndl_error_t *err);
/* Pids (host view) in the container's cgroup. */
int rt_container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
		      ndl_error_t *err);
/* Whether the kernel OOM-killed a process of the container (cgroup count). */
int rt_container_oom_killed(const char *root, const char *id, bool *ret, ndl_error_t *err);

struct rt_exec_opts {
	const char *root;
	const char *id;
	/* The process: either a whole OCI process object (process.json) ... */
	const json_t *process;
	/* ... or overrides on the container's own process: */
	char *const *args; /* required when process is NULL */
	char *const *env;  /* appended */
	const char *cwd;
	bool has_user;
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	bool no_new_privs;    /* force noNewPrivileges */
	char *const *cap_add; /* capability names added to every set */
	const char *pid_file;
	int stdio[3];
	unsigned preserve_fds;
	bool tty;		    /* a terminal for the process (with console_socket) */
	const char *console_socket; /* the pty master is sent here (SCM_RIGHTS) */
};
void rt_exec_opts_init(struct rt_exec_opts *o);
/* Start a process inside the running container: same namespaces, cgroup,
 * capabilities, seccomp and noNewPrivileges as the spec asks. The process
 * is the caller's child; *ret_pid is its host pid. */
int rt_exec(const struct rt_exec_opts *opts, pid_t *ret_pid, ndl_error_t *err);

/* A runc-like default config.json (busybox "sh", default capabilities,
 * masked paths...). rootless maps the caller's uid/gid. */
json_t *rt_default_spec(bool rootless);
/* runtime-spec features.md document. */
json_t *rt_features(void);
