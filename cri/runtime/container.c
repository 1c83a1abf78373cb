/* Container lifecycle: create (namespaces, cgroup, rootfs, init blocked on
 * the exec fifo), start, kill, delete, state, pause/resume, exec.
 *
 * create forks the init with clone(CLONE_NEW*) directly (fork semantics, no
 * extra exec), and talks to it over a SOCK_SEQPACKET pair: the parent puts
 * it in its cgroup and writes uid/gid maps, then says "go"; the init builds
 * the rootfs, asks the parent to run createRuntime hooks, reports "ready"
 * or an error. The init then waits for `start` to write to the exec fifo
 * (the init holds the read end, so `start` knows at once when the init is
 * gone: opening the write end fails with ENXIO). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "cri/runtime/runtime-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define OCI_VERSION "1.0.2"

#define SYNC_MSG_MAX 2048

enum { SYNC_GO = 'G', SYNC_HOOKS = 'H', SYNC_READY = 'R', SYNC_ERROR = 'E' };

struct sync_msg {
	char type;
	int code;
	char msg[SYNC_MSG_MAX];
};

static int sync_send(int fd, char type, int code, const char *msg)
{
	struct sync_msg m = {.type = type, .code = code};
	if (msg)
		snprintf(m.msg, sizeof(m.msg), "%s", msg);
	size_t len = offsetof(struct sync_msg, msg) + strlen(m.msg) + 1;
	ssize_t n;
	do
		n = send(fd, &m, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/* 1 on a message, 0 on EOF, <0 on error. */
static int sync_recv(int fd, struct sync_msg *m)
{
	ssize_t n;
	memset(m, 0, sizeof(*m));
	do
		n = recv(fd, m, sizeof(*m) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	m->msg[sizeof(m->msg) - 1] = '\0';
	return 1;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void rt_create_opts_init(struct rt_create_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stdio[0] = o->stdio[1] = o->stdio[2] = -1;
}

void rt_exec_opts_init(struct rt_exec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stdio[0] = o->stdio[1] = o->stdio[2] = -1;
}

const char *rt_status_name(enum rt_status s)
{
	switch (s) {
	case RT_STATUS_CREATING:
		return "creating";
	case RT_STATUS_CREATED:
		return "created";
	case RT_STATUS_RUNNING:
		return "running";
	case RT_STATUS_PAUSED:
		return "paused";
	case RT_STATUS_STOPPED:
		return "stopped";
	}
	return "unknown";
}

static const char *root_or_default(const char *root)
{
	return root && *root ? root : RT_DEFAULT_ROOT;
}

static char *now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* ------------------------------------------------------------------ */
/* Pieces shared by the init and exec'd processes.                     */

/* Unrecoverable failure in a child before its parent can hear about it. */
/* Neither path allocates (dprintf's stream would malloc, which a late
 * failure under the container's seccomp filter cannot afford). */
static void child_report(int sync_fd, ndl_error_t *err)
{
	if (sync_fd >= 0) {
		sync_send(sync_fd, SYNC_ERROR, err->code, ndl_error_msg(err));
		return;
	}
	char line[1024];
	int n = snprintf(line, sizeof(line), "nodelet-runtime: %s\n", ndl_error_msg(err));
	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		return; /* nowhere left to say it */
}

static void __attribute__((noreturn)) child_fail(int sync_fd, ndl_error_t *err)
{
	child_report(sync_fd, err);
	_exit(127);
}

/* child_fail for the last steps, which may run under the container's
 * seccomp filter. A filter whose default denies everything leaves no exit
 * syscall: then the trap's SIGILL, which needs none, ends the process. No
 * noreturn function is called: ASan builds instrument such calls with
 * __asan_handle_no_return, whose sigaltstack() the filter makes fail, and
 * the sanitizer then spins forever in its Die(). */
#define child_fail_late(sync_fd, err)                                                              \
	do {                                                                                       \
		child_report(sync_fd, err);                                                        \
		syscall(SYS_exit_group, 127);                                                      \
		__builtin_trap();                                                                  \
	} while (0)

static int setup_stdio(const int stdio[3], ndl_error_t *err)
{
	/* Move the given fds out of the way first so that dup2 onto 0..2
	 * cannot clobber a later source. */
	int tmp[3];
	for (int i = 0; i < 3; i++) {
		tmp[i] = -1;
		if (stdio[i] >= 0) {
			tmp[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 10);
			if (tmp[i] < 0)
				return ndl_error_set(err, errno, "dup stdio %d", i);
		}
	}
	for (int i = 0; i < 3; i++) {
		if (tmp[i] < 0)
			continue;
		if (dup2(tmp[i], i) < 0)
			return ndl_error_set(err, errno, "dup2 stdio %d", i);
		close(tmp[i]);
	}
	return 0;
}

/* Which sysctls belong to which namespace (as runc validates them): a
 * sysctl outside a namespace the container owns would change the host. */
static int check_sysctls(const struct rt_spec *s, ndl_error_t *err)
{
	for (size_t i = 0; i < s->n_sysctls; i++) {
		const char *k = s->sysctls[i].key;
		int need = 0;
		if (strncmp(k, "net.", 4) == 0)
			need = CLONE_NEWNET;
		else if (strncmp(k, "fs.mqueue.", 10) == 0 || strcmp(k, "kernel.msgmax") == 0 ||
			 strcmp(k, "kernel.msgmnb") == 0 || strcmp(k, "kernel.msgmni") == 0 ||
			 strcmp(k, "kernel.sem") == 0 || strcmp(k, "kernel.shmall") == 0 ||
			 strcmp(k, "kernel.shmmax") == 0 || strcmp(k, "kernel.shmmni") == 0 ||
			 strcmp(k, "kernel.shm_rmid_forced") == 0)
			need = CLONE_NEWIPC;
		else if (strcmp(k, "kernel.hostname") == 0 || strcmp(k, "kernel.domainname") == 0)
			need = CLONE_NEWUTS;
		else
			return ndl_error_setf(
			    err, EPERM,
			    "field \"linux.sysctl.%s\": not namespaced, refusing to "
			    "change the host",
			    k);
		if (!rt_spec_namespace(s, need))
			return ndl_error_setf(
			    err, EPERM,
			    "field \"linux.sysctl.%s\": needs the container's own %s "
			    "namespace",
			    k, rt_namespace_name(need));
	}
	return 0;
}

static int apply_sysctls(const struct rt_spec *s, ndl_error_t *err)
{
	for (size_t i = 0; i < s->n_sysctls; i++) {
		char path[512];
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", s->sysctls[i].key);
		for (char *p = path + 10; p < path + n; p++)
			if (*p == '.')
				*p = '/';
		int r = ndl_write_file_str(path, s->sysctls[i].value, err);
		if (r < 0)
			return ndl_error_wrap(err, "field \"linux.sysctl.%s\"", s->sysctls[i].key);
	}
	return 0;
}

/* Connect to the console socket and hand it the pty master. */
static int setup_console(const char *sock_path, int sockfd, ndl_error_t *err)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return ndl_error_set(err, errno, "open /dev/ptmx");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
		close(master);
		return ndl_error_set(err, errno, "unlock pty");
	}
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		close(master);
		return ndl_error_set(err, errno, "open pty peer");
	}
	char buf[1] = {0};
	struct iovec iov = {.iov_base = buf, .iov_len = 1};
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b, .msg_controllen = sizeof(c.b)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	ssize_t n = sendmsg(sockfd, &mh, MSG_NOSIGNAL);
	close(master);
	if (n < 0) {
		close(slave);
		return ndl_error_set(err, errno, "send pty to console socket %s", sock_path);
	}
	if (setsid() < 0 && errno != EPERM) {
		close(slave);
		return ndl_error_set(err, errno, "setsid");
	}
	if (ioctl(slave, TIOCSCTTY, 0) < 0) {
		close(slave);
		return ndl_error_set(err, errno, "set controlling terminal");
	}
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0) {
			close(slave);
			return ndl_error_set(err, errno, "dup2 pty");
		}
	close(slave);
	return 0;
}

static int connect_console(const char *path, int *ret, ndl_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return ndl_error_setf(err, ENAMETOOLONG, "console socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ndl_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "connect console socket %s", path);
	}
	*ret = fd;
	return 0;
}

/* The final, privileged-to-unprivileged transition shared by init and
 * exec: seccomp is loaded as late as possible, right before execve; when
 * noNewPrivileges is off, loading needs CAP_SYS_ADMIN, so it comes before
 * the capability drop (as runc does). */
static void __attribute__((noreturn))
finish_and_exec(const struct rt_process *p, struct rt_seccomp_filter *filter, const char *exe,
		bool setgroups_allowed, unsigned preserve_fds, int sync_fd)
{
	ndl_error_t err = NDL_ERROR_INIT;
	if (filter && !p->no_new_privileges && rt_seccomp_load(filter, &err) < 0)
		child_fail(sync_fd, &err);
	if (rt_apply_user_and_caps(p, setgroups_allowed, &err) < 0)
		child_fail_late(sync_fd, &err);
	if (rt_enter_cwd(p->cwd, &err) < 0)
		child_fail_late(sync_fd, &err);
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ndl_error_set(&err, errno, "set no_new_privs");
		child_fail_late(sync_fd, &err);
	}
	/* Nothing of ours may survive execve: the sync socket is CLOEXEC and
	 * its EOF tells the parent the exec happened. */
	rt_cloexec_from(3 + (int)preserve_fds);
	if (filter && p->no_new_privileges && rt_seccomp_load(filter, &err) < 0)
		child_fail(sync_fd, &err);
	char *empty[] = {NULL};
	/* The caller may block signals to sigwait for us (run, exec): the
	 * container process starts with none blocked. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(exe, p->args, p->env ? p->env : empty);
	ndl_error_set(&err, errno, "exec %s", exe);
	child_fail_late(sync_fd, &err);
}

/* ------------------------------------------------------------------ */
/* create                                                              */

struct init_args {
	const struct rt_spec *spec;
	const struct rt_create_opts *opts;
	const char *rootfs;
	int sync_fd;
	int fifo_fd;
	int join_fds[8];
	int join_types[8];
	size_t n_join;
	struct cgroup_manager *mgr;
	struct cgroup *cg;
	struct rt_seccomp_filter *filter;
	bool userns, cgroupns, mntns;
	int console_fd;
	char **self_enter; /* v1 "tasks" files the init writes "0" to, or NULL */
};

/* Joining a v1 cgroup by writing a pid to cgroup.procs takes the kernel's
 * global threadgroup lock, whose first writer waits for an RCU grace period
 * (~10 ms here). A thread moving itself through "tasks" skips that lock,
 * and a v2 cgroup is joined at birth with CLONE_INTO_CGROUP: so the init
 * enters its cgroups itself. */
static char **v1_task_files(struct cgroup_manager *mgr, struct cgroup *cg)
{
	if (cgroup_manager_mode(mgr) == CGROUP_MODE_V2)
		return NULL;
	const char *ctrls, *mnt;
	size_t n = 0;
	char **v = NULL;
	for (size_t i = 0; cgroup_manager_hierarchy(mgr, i, &ctrls, &mnt); i++) {
		const char *dir = cgroup_controller_dir(cg, ctrls);
		if (!dir)
			continue;
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xasprintf("%s/tasks", dir);
		v[n] = NULL;
	}
	return v;
}

static int enter_self(char **files, ndl_error_t *err)
{
	for (char **f = files; f && *f; f++) {
		int r = ndl_write_file_str(*f, "0", err);
		if (r < 0)
			return ndl_error_wrap(err, "join cgroup");
	}
	return 0;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
struct rt_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
	    set_tid_size, cgroup;
};

/* fork-like clone; into the v2 cgroup cgfd when >= 0 (*ret_in_cg says
 * whether that worked). */
static pid_t clone_child(unsigned long flags, int cgfd, bool *ret_in_cg)
{
	*ret_in_cg = false;
	if (cgfd >= 0) {
		struct rt_clone_args ca = {.flags = flags | CLONE_INTO_CGROUP,
					   .exit_signal = SIGCHLD,
					   .cgroup = (uint64_t)cgfd};
		pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid >= 0) {
			*ret_in_cg = true;
			return pid;
		}
	}
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static void __attribute__((noreturn)) container_init(struct init_args *a)
{
	ndl_error_t err = NDL_ERROR_INIT;
	const struct rt_spec *s = a->spec;
	struct sync_msg m;
	/* Until we are ready, die with a crashed parent rather than linger. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (sync_recv(a->sync_fd, &m) <= 0 || m.type != SYNC_GO)
		_exit(1);
	if (a->self_enter && enter_self(a->self_enter, &err) < 0)
		child_fail(a->sync_fd, &err);
	if (a->userns) {
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			ndl_error_set(&err, errno, "become root in the user namespace");
			child_fail(a->sync_fd, &err);
		}
	}
	for (size_t i = 0; i < a->n_join; i++)
		if (setns(a->join_fds[i], a->join_types[i]) < 0) {
			ndl_error_set(&err, errno, "join %s namespace",
				      rt_namespace_name(a->join_types[i]));
			child_fail(a->sync_fd, &err);
		}
	/* After the parent moved us into the cgroup: its root becomes ours. */
	if (a->cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		ndl_error_set(&err, errno, "unshare cgroup namespace");
		child_fail(a->sync_fd, &err);
	}
	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
		ndl_error_set(&err, errno, "field \"hostname\": sethostname");
		child_fail(a->sync_fd, &err);
	}
	if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0) {
		ndl_error_set(&err, errno, "field \"domainname\": setdomainname");
		child_fail(a->sync_fd, &err);
	}
	if (setup_stdio(a->opts->stdio, &err) < 0)
		child_fail(a->sync_fd, &err);
	struct rt_rootfs_ctx ctx = {.spec = s,
				    .rootfs = a->rootfs,
				    .cgmgr = a->mgr,
				    .cg = a->cg,
				    .userns = a->userns,
				    .cgroupns = a->cgroupns};
	if (a->mntns && rt_rootfs_prepare(&ctx, &err) < 0)
		child_fail(a->sync_fd, &err);
	if (s->hooks[RT_HOOK_PRESTART].n || s->hooks[RT_HOOK_CREATE_RUNTIME].n) {
		if (sync_send(a->sync_fd, SYNC_HOOKS, 0, NULL) < 0 ||
		    sync_recv(a->sync_fd, &m) <= 0 || m.type != SYNC_GO)
			_exit(1);
	}
	if (s->hooks[RT_HOOK_CREATE_CONTAINER].n) {
		cleanup_free char *st = xasprintf(
		    "{\"ociVersion\":\"%s\",\"id\":\"%s\",\"status\":\"creating\",\"pid\":%d,"
		    "\"bundle\":\"%s\"}",
		    OCI_VERSION, a->opts->id, (int)syscall(SYS_getpid), a->opts->bundle);
		if (rt_run_hooks(&s->hooks[RT_HOOK_CREATE_CONTAINER], "createContainer", st, &err) <
		    0)
			child_fail(a->sync_fd, &err);
	}
	if (a->mntns) {
		if (rt_rootfs_pivot(a->rootfs, a->opts->no_pivot, &err) < 0)
			child_fail(a->sync_fd, &err);
	}
	/* Before readonlyPaths makes /proc/sys read-only. */
	if (apply_sysctls(s, &err) < 0)
		child_fail(a->sync_fd, &err);
	if (a->mntns && rt_rootfs_finalize(s, &err) < 0)
		child_fail(a->sync_fd, &err);
	if (a->console_fd >= 0) {
		if (setup_console(a->opts->console_socket, a->console_fd, &err) < 0)
			child_fail(a->sync_fd, &err);
		close(a->console_fd);
	}
	if (rt_apply_rlimits(&s->process, &err) < 0)
		child_fail(a->sync_fd, &err);
	rt_apply_oom_score_adj(&s->process);
	cleanup_free char *exe = NULL;
	if (rt_find_executable(s->process.args[0], s->process.env, &exe, &err) < 0)
		child_fail(a->sync_fd, &err);
	/* From here the parent may be gone (CLI create exits). */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (sync_send(a->sync_fd, SYNC_READY, 0, NULL) < 0)
		_exit(1);
	/* Wait for `start`: it opens the fifo's write end and writes a byte.
	 * EOF without a byte means the state dir was deleted: exit. */
	int flags = fcntl(a->fifo_fd, F_GETFL);
	fcntl(a->fifo_fd, F_SETFL, flags & ~O_NONBLOCK);
	for (;;) {
		struct pollfd pfd = {.fd = a->fifo_fd, .events = POLLIN};
		int pr = poll(&pfd, 1, -1);
		if (pr < 0 && errno == EINTR)
			continue;
		char c;
		ssize_t n = read(a->fifo_fd, &c, 1);
		if (n == 1)
			break;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		_exit(1);
	}
	close(a->fifo_fd);
	int sync_fd = a->sync_fd;
	close(sync_fd);
	if (s->hooks[RT_HOOK_START_CONTAINER].n) {
		cleanup_free char *st = xasprintf(
		    "{\"ociVersion\":\"%s\",\"id\":\"%s\",\"status\":\"created\",\"pid\":%d,"
		    "\"bundle\":\"%s\"}",
		    OCI_VERSION, a->opts->id, (int)syscall(SYS_getpid), a->opts->bundle);
		if (rt_run_hooks(&s->hooks[RT_HOOK_START_CONTAINER], "startContainer", st, &err) <
		    0)
			child_fail(-1, &err);
	}
	bool setgroups_ok = true;
	finish_and_exec(&s->process, a->filter, exe, setgroups_ok, a->opts->preserve_fds, -1);
}

static int write_id_map(pid_t pid, const char *file, const struct rt_id_mapping *m, size_t n,
			ndl_error_t *err)
{
	char buf[340 * 36];
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
					m[i].container_id, m[i].host_id, m[i].size);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	if (write(fd, buf, len) != (ssize_t)len)
		return ndl_error_set(err, errno, "field \"linux.%s\": write %s",
				     strcmp(file, "uid_map") == 0 ? "uidMappings" : "gidMappings",
				     path);
	return 0;
}

/* Default device cgroup rules runc always allows, appended after the
 * spec's own rules (v1 devices.allow, v2 the BPF device program). */
static void add_default_device_rules(const struct rt_spec *s, struct cgroup_resources *res)
{
	static const struct cgroup_device_rule defaults[] = {
	    {true, 'c', -1, -1, "m"}, {true, 'b', -1, -1, "m"},	   {true, 'c', 1, 3, "rwm"},
	    {true, 'c', 1, 8, "rwm"}, {true, 'c', 1, 7, "rwm"},	   {true, 'c', 5, 0, "rwm"},
	    {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 9, "rwm"},	   {true, 'c', 136, -1, "rwm"},
	    {true, 'c', 5, 2, "rwm"}, {true, 'c', 10, 200, "rwm"},
	};
	size_t nd = sizeof(defaults) / sizeof(defaults[0]);
	size_t n = res->n_devices + nd + s->n_devices;
	res->devices = xrealloc(res->devices, n * sizeof(*res->devices));
	memcpy(res->devices + res->n_devices, defaults, sizeof(defaults));
	res->n_devices += nd;
	for (size_t i = 0; i < s->n_devices; i++) {
		if (s->devices[i].type == 'p')
			continue;
		struct cgroup_device_rule *d = &res->devices[res->n_devices++];
		d->allow = true;
		d->type = s->devices[i].type == 'b' ? 'b' : 'c';
		d->major = s->devices[i].major;
		d->minor = s->devices[i].minor;
		strcpy(d->access, "rwm");
	}
}

/* Undo a cgroup of a create that failed, once our init (if any) is reaped:
 * whatever is still in it is not ours (a shared cgroupsPath), so then
 * nothing is killed and only the empty directories go, without waiting for
 * a drain that will not happen. Checked here rather than up front, so a
 * create that succeeds pays nothing for it. */
static void undo_cgroup(struct cgroup *cg)
{
	pid_t *pids = NULL;
	size_t n = 0;
	int pr = cgroup_pids(cg, &pids, &n, NULL);
	free(pids);
	ndl_error_t e2 = NDL_ERROR_INIT;
	if (pr == 0 && n > 0) {
		cgroup_destroy_timeout(cg, 0, &e2);
	} else {
		/* The init never forks before its execve, so the cgroup is
		 * empty; when it cannot be read, make sure of it. */
		if (pr < 0)
			cgroup_kill_all(cg, SIGKILL, &e2);
		ndl_error_clear(&e2);
		cgroup_destroy(cg, &e2);
	}
	ndl_error_clear(&e2);
}

static int setup_cgroup(const struct rt_spec *s, const char *id, struct cgroup_manager **ret_mgr,
			struct cgroup **ret_cg, ndl_error_t *err)
{
	const char *path = s->cgroups_path ? s->cgroups_path : id;
	if (cgroup_path_is_systemd(path))
		return ndl_error_setf(
		    err, ENOTSUP,
		    "field \"linux.cgroupsPath\": \"%s\" is a systemd path; only the "
		    "cgroupfs driver is supported",
		    path);
	struct cgroup_manager *mgr = NULL;
	int r = cgroup_manager_init(&mgr, err);
	if (r < 0)
		return r;
	struct cgroup_resources res;
	memset(&res, 0, sizeof(res));
	if (s->resources &&
	    (r = cgroup_resources_from_json(s->resources, "linux.resources", &res, err)) < 0) {
		cgroup_resources_free(&res);
		cgroup_manager_free(mgr);
		return r;
	}
	add_default_device_rules(s, &res);
	struct cgroup *cg = NULL;
	r = cgroup_create(mgr, path, &cg, err);
	if (r < 0) {
		cgroup_resources_free(&res);
		cgroup_manager_free(mgr);
		return ndl_error_wrap(err, "field \"linux.cgroupsPath\"");
	}
	r = cgroup_apply(cg, &res, err);
	cgroup_resources_free(&res);
	if (r < 0) {
		undo_cgroup(cg);
		cgroup_free(cg);
		cgroup_manager_free(mgr);
		return ndl_error_wrap(err, "field \"linux.resources\"");
	}
	*ret_mgr = mgr;
	*ret_cg = cg;
	return 0;
}

static char *abs_path(const char *base, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	return xasprintf("%s/%s", base, p);
}

static int write_pid_file(const char *path, pid_t pid, ndl_error_t *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	/* Callers (conmon, podman) read it as soon as we exit: atomic, but a
	 * pid needs no fsync (see rt_write_volatile_at). */
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	const char *name = path;
	int dfd = AT_FDCWD;
	if (slash) {
		*slash = '\0';
		name = slash + 1;
		dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return ndl_error_set(err, errno, "pid file %s", path);
	}
	int r = rt_write_volatile_at(dfd, name, buf, (size_t)n, 0644, err);
	if (dfd != AT_FDCWD)
		close(dfd);
	return r;
}

static char *state_json_string(const char *id, const char *status, pid_t pid, const char *bundle,
			       json_t *annotations)
{
	cleanup_json json_t *j =
	    json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", OCI_VERSION, "id", id, "status",
		      status, "pid", (int)pid, "bundle", bundle);
	if (annotations)
		json_object_set(j, "annotations", annotations);
	return json_dumps(j, JSON_COMPACT);
}

int rt_container_create(const struct rt_create_opts *opts, pid_t *ret_pid, ndl_error_t *err)
{
	const char *root = root_or_default(opts->root);
	int r = rt_validate_id(opts->id, err);
	if (r < 0)
		return r;
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return ndl_error_set(err, errno, "getcwd");
	cleanup_free char *bundle = abs_path(cwd, opts->bundle ? opts->bundle : ".");
	cleanup_spec struct rt_spec *s = NULL;
	if ((r = rt_spec_load(bundle, &s, err)) < 0)
		return r;
	if (!s->has_process)
		return ndl_error_setf(err, EINVAL,
				      "field \"process\": required to create a container");
	if (s->process.terminal && !opts->console_socket)
		return ndl_error_setf(err, EINVAL,
				      "field \"process.terminal\": true needs --console-socket");
	if ((r = check_sysctls(s, err)) < 0)
		return r;
	cleanup_free char *rootfs = abs_path(bundle, s->root_path);
	struct stat st;
	if (stat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return ndl_error_set(err, errno ? errno : ENOTDIR, "field \"root.path\": %s",
				     rootfs);

	struct init_args a = {.spec = s,
			      .opts = opts,
			      .rootfs = rootfs,
			      .sync_fd = -1,
			      .fifo_fd = -1,
			      .console_fd = -1};
	int clone_flags = 0;
	int pidns_fd = -1;
	/* Declared before the first goto: the failure paths clean them up. */
	cleanup_free char *statedir = xasprintf("%s/%s", root, opts->id);
	cleanup_free char *fifo = xasprintf("%s/exec.fifo", statedir);
	cleanup_close int dirfd = -1;
	pid_t pid = -1;
	int socks[2] = {-1, -1};
	bool cg_made = false;
	for (size_t i = 0; i < s->n_namespaces; i++) {
		const struct rt_namespace *ns = &s->namespaces[i];
		if (ns->type == (int)0x00000080 /* CLONE_NEWTIME */)
			return ndl_error_setf(err, ENOTSUP,
					      "field \"linux.namespaces[%zu]\": time namespace not "
					      "supported",
					      i);
		if (!ns->path) {
			if (ns->type == CLONE_NEWCGROUP)
				a.cgroupns = true;
			else
				clone_flags |= ns->type;
			continue;
		}
		int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = ndl_error_set(err, errno,
					  "field \"linux.namespaces[%zu].path\": open %s", i,
					  ns->path);
			goto fail_early;
		}
		if (ns->type == CLONE_NEWPID) {
			pidns_fd = fd;
			continue;
		}
		if (ns->type == CLONE_NEWUSER) {
			r = ndl_error_setf(err, ENOTSUP,
					   "field \"linux.namespaces[%zu].path\": joining a user "
					   "namespace is not supported",
					   i);
			close(fd);
			goto fail_early;
		}
		a.join_fds[a.n_join] = fd;
		a.join_types[a.n_join++] = ns->type;
		if (ns->type == CLONE_NEWNS)
			a.mntns = true;
	}
	a.userns = clone_flags & CLONE_NEWUSER;
	if (a.userns && a.n_join) {
		r = ndl_error_setf(
		    err, ENOTSUP,
		    "field \"linux.namespaces\": joining a namespace by path together "
		    "with a new user namespace is not supported");
		goto fail_early;
	}
	if (clone_flags & CLONE_NEWNS)
		a.mntns = true;
	if (!a.mntns) {
		r = ndl_error_setf(err, EINVAL,
				   "field \"linux.namespaces\": a mount namespace is required");
		goto fail_early;
	}
	if (s->seccomp && (r = rt_seccomp_compile(s->seccomp, &a.filter, err)) < 0)
		goto fail_early;

	/* State directory: its creation is the lock against a duplicate id. */
	if (ndl_mkdir_p(root, 0711, err) < 0) {
		r = -1;
		goto fail_early;
	}
	if (mkdir(statedir, 0711) < 0) {
		if (errno == EEXIST)
			r = ndl_error_setf(err, EEXIST, "container with id \"%s\" already exists",
					   opts->id);
		else
			r = ndl_error_set(err, errno, "mkdir %s", statedir);
		goto fail_early;
	}
	dirfd = open(statedir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = ndl_error_set(err, errno, "open %s", statedir);
		goto fail;
	}
	if (mkfifo(fifo, 0600) < 0) {
		r = ndl_error_set(err, errno, "mkfifo %s", fifo);
		goto fail;
	}
	/* O_NONBLOCK: a read-side open of a fifo does not wait for a writer. */
	a.fifo_fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (a.fifo_fd < 0) {
		r = ndl_error_set(err, errno, "open %s", fifo);
		goto fail;
	}
	if (!opts->no_cgroups) {
		if ((r = setup_cgroup(s, opts->id, &a.mgr, &a.cg, err)) < 0)
			goto fail;
		cg_made = true;
	}
	if (opts->console_socket &&
	    (r = connect_console(opts->console_socket, &a.console_fd, err)) < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0) {
		r = ndl_error_set(err, errno, "socketpair");
		goto fail;
	}
	a.sync_fd = socks[1];

	/* Joining a pid namespace only affects our future children. */
	int own_pidns = -1;
	if (pidns_fd >= 0) {
		own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (own_pidns < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
			r = ndl_error_set(err, errno,
					  "field \"linux.namespaces\": join pid namespace");
			if (own_pidns >= 0)
				close(own_pidns);
			goto fail;
		}
	}
	/* Not dumpable: while our code runs in the container's namespaces its
	 * processes must not open /proc/<pid>/exe (CVE-2019-5736). */
	int was_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	fflush(NULL);
	const char *udir = a.cg ? cgroup_unified_dir(a.cg) : NULL;
	int cgfd = udir ? open(udir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	bool in_cg = false;
	if (a.cg && (cgroup_manager_mode(a.mgr) != CGROUP_MODE_V2 || cgfd >= 0))
		a.self_enter = v1_task_files(a.mgr, a.cg);
	pid = clone_child((unsigned long)clone_flags, cgfd, &in_cg);
	if (pid == 0) {
		close(socks[0]);
		container_init(&a);
	}
	int clone_errno = errno;
	if (cgfd >= 0)
		close(cgfd);
	bool need_enter = a.cg && cgroup_manager_mode(a.mgr) == CGROUP_MODE_V2 && !in_cg;
	if (was_dumpable > 0)
		prctl(PR_SET_DUMPABLE, was_dumpable, 0, 0, 0);
	if (own_pidns >= 0) {
		setns(own_pidns, CLONE_NEWPID);
		close(own_pidns);
	}
	close(socks[1]);
	socks[1] = -1;
	a.sync_fd = -1;
	if (pid < 0) {
		r = ndl_error_set(err, clone_errno, "clone container init");
		goto fail;
	}
	if (a.userns) {
		if ((r = write_id_map(pid, "uid_map", s->uid_mappings, s->n_uid_mappings, err)) <
			0 ||
		    (r = write_id_map(pid, "gid_map", s->gid_mappings, s->n_gid_mappings, err)) < 0)
			goto fail;
	}
	if (need_enter && (r = cgroup_enter(a.cg, pid, err)) < 0)
		goto fail;
	if (sync_send(socks[0], SYNC_GO, 0, NULL) < 0) {
		r = ndl_error_set(err, errno, "sync with container init");
		goto fail;
	}
	for (;;) {
		struct sync_msg m;
		int rr = sync_recv(socks[0], &m);
		if (rr <= 0) {
			r = ndl_error_setf(err, EIO, "container init exited during setup");
			goto fail;
		}
		if (m.type == SYNC_READY)
			break;
		if (m.type == SYNC_ERROR) {
			r = ndl_error_setf(err, m.code ? m.code : EIO, "%s", m.msg);
			goto fail;
		}
		if (m.type == SYNC_HOOKS) {
			cleanup_free char *stj =
			    state_json_string(opts->id, "creating", pid, bundle, s->annotations);
			if ((r = rt_run_hooks(&s->hooks[RT_HOOK_PRESTART], "prestart", stj, err)) <
				0 ||
			    (r = rt_run_hooks(&s->hooks[RT_HOOK_CREATE_RUNTIME], "createRuntime",
					      stj, err)) < 0)
				goto fail;
			if (sync_send(socks[0], SYNC_GO, 0, NULL) < 0) {
				r = ndl_error_set(err, errno, "sync with container init");
				goto fail;
			}
		}
	}
	struct rt_state_rec rec = {
	    .id = (char *)opts->id,
	    .pid = pid,
	    .start_time = rt_pid_start_time(pid),
	    .bundle = bundle,
	    .rootfs = rootfs,
	    .cgroup_path = a.cg ? (char *)cgroup_path(a.cg) : "",
	    .created = now_rfc3339(),
	    .owner = geteuid(),
	    .config = s->raw,
	    .cgroup = a.cg ? cgroup_save(a.cg) : NULL,
	};
	r = rt_state_rec_write(dirfd, &rec, err);
	free(rec.created);
	if (rec.cgroup)
		json_decref(rec.cgroup);
	if (r < 0)
		goto fail;
	if (opts->pid_file && (r = write_pid_file(opts->pid_file, pid, err)) < 0)
		goto fail;
	close(socks[0]);
	close(a.fifo_fd);
	if (a.console_fd >= 0)
		close(a.console_fd);
	for (size_t i = 0; i < a.n_join; i++)
		close(a.join_fds[i]);
	if (pidns_fd >= 0)
		close(pidns_fd);
	rt_seccomp_filter_free(a.filter);
	strv_free(a.self_enter);
	if (a.cg)
		cgroup_free(a.cg);
	if (a.mgr)
		cgroup_manager_free(a.mgr);
	*ret_pid = pid;
	return 0;

fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (socks[0] >= 0)
		close(socks[0]);
	if (a.fifo_fd >= 0)
		close(a.fifo_fd);
	if (a.console_fd >= 0)
		close(a.console_fd);
	if (cg_made) {
		undo_cgroup(a.cg);
		cgroup_free(a.cg);
		cgroup_manager_free(a.mgr);
	}
	{
		ndl_error_t e2 = NDL_ERROR_INIT;
		ndl_rm_rf(statedir, &e2);
		ndl_error_clear(&e2);
	}
fail_early:
	strv_free(a.self_enter);
	for (size_t i = 0; i < a.n_join; i++)
		close(a.join_fds[i]);
	if (pidns_fd >= 0)
		close(pidns_fd);
	rt_seccomp_filter_free(a.filter);
	return r;
}

/* ------------------------------------------------------------------ */
/* state, start, kill, delete                                          */

static bool fifo_exists(const char *root, const char *id)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/exec.fifo", root, id);
	return access(path, F_OK) == 0;
}

/* The container's cgroup: from the directories create saved in the state
 * (no mountinfo read, no probing: *ret_mgr stays NULL, the handle owns its
 * manager) unless discover is set or the state predates them; else found
 * afresh through the manager, which leaves out hierarchies where the cgroup
 * is already gone. */
static int open_cgroup(const struct rt_state_rec *rec, bool discover,
		       struct cgroup_manager **ret_mgr, struct cgroup **ret_cg, ndl_error_t *err)
{
	*ret_mgr = NULL;
	*ret_cg = NULL;
	if (!rec->cgroup_path || !*rec->cgroup_path)
		return 0;
	if (rec->cgroup && !discover) {
		ndl_error_t e = NDL_ERROR_INIT;
		if (cgroup_open_saved(rec->cgroup, ret_cg, &e) == 0)
			return 0;
		log_debug(1, "saved cgroup unusable, discovering", "error=\"%s\"",
			  ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	struct cgroup_manager *mgr = NULL;
	int r = cgroup_manager_init(&mgr, err);
	if (r < 0)
		return r;
	struct cgroup *cg = NULL;
	r = cgroup_open(mgr, rec->cgroup_path, &cg, err);
	if (r < 0) {
		cgroup_manager_free(mgr);
		return r;
	}
	*ret_mgr = mgr;
	*ret_cg = cg;
	return 0;
}

static enum rt_status status_of(const char *root, const struct rt_state_rec *rec)
{
	if (!rt_pid_alive(rec->pid, rec->start_time))
		return RT_STATUS_STOPPED;
	if (fifo_exists(root, rec->id))
		return RT_STATUS_CREATED;
	struct cgroup_manager *mgr = NULL;
	struct cgroup *cg = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	enum rt_status st = RT_STATUS_RUNNING;
	if (open_cgroup(rec, false, &mgr, &cg, &e) == 0 && cg) {
		bool frozen = false;
		if (cgroup_is_frozen(cg, &frozen, &e) == 0 && frozen)
			st = RT_STATUS_PAUSED;
	}
	ndl_error_clear(&e);
	if (cg)
		cgroup_free(cg);
	if (mgr)
		cgroup_manager_free(mgr);
	return st;
}

void rt_state_clear(struct rt_state *s)
{
	free(s->id);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->cgroup_path);
	if (s->annotations)
		json_decref(s->annotations);
	memset(s, 0, sizeof(*s));
}

int rt_container_state(const char *root, const char *id, struct rt_state *ret, ndl_error_t *err)
{
	root = root_or_default(root);
	struct rt_state_rec rec = {0};
	int r = rt_state_rec_read(root, id, &rec, err);
	if (r < 0)
		return r;
	struct rt_state s = {0};
	s.status = status_of(root, &rec);
	s.pid = s.status == RT_STATUS_STOPPED ? 0 : rec.pid;
	s.id = steal_ptr(&rec.id);
	s.bundle = steal_ptr(&rec.bundle);
	s.rootfs = steal_ptr(&rec.rootfs);
	s.created = steal_ptr(&rec.created);
	s.cgroup_path = steal_ptr(&rec.cgroup_path);
	s.owner = rec.owner;
	s.annotations = rec.annotations ? json_deep_copy(rec.annotations) : json_object();
	rt_state_rec_clear(&rec);
	*ret = s;
	return 0;
}

/* /etc/passwd by hand: getpwuid would drag NSS into a static binary. */
static const char *owner_name(uid_t uid)
{
	static char name[64];
	snprintf(name, sizeof(name), "%s", uid == 0 ? "root" : "");
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return name;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *n = strtok_r(line, ":", &save);
		strtok_r(NULL, ":", &save);
		char *u = strtok_r(NULL, ":", &save);
		if (n && u && (uid_t)strtoul(u, NULL, 10) == uid) {
			snprintf(name, sizeof(name), "%s", n);
			break;
		}
	}
	fclose(f);
	return name;
}

json_t *rt_state_to_json(const struct rt_state *s)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:O}", "ociVersion", OCI_VERSION,
			      "id", s->id, "status", rt_status_name(s->status), "pid", (int)s->pid,
			      "bundle", s->bundle, "rootfs", s->rootfs, "created", s->created,
			      "annotations", s->annotations);
	json_object_set_new(j, "owner", json_string(owner_name(s->owner)));
	return j;
}

static int load_spec_of(struct rt_state_rec *rec, struct rt_spec **ret, ndl_error_t *err)
{
	json_t *cfg = NULL;
	int r = rt_state_rec_config(rec, &cfg, err);
	if (r < 0)
		return r;
	return rt_spec_parse(cfg, ret, err);
}

int rt_container_start(const char *root, const char *id, ndl_error_t *err)
{
	root = root_or_default(root);
	struct rt_state_rec rec = {0};
	cleanup_free char *fifo = xasprintf("%s/%s/exec.fifo", root, id);
	cleanup_close int fd = -1;
	int r = rt_state_rec_read(root, id, &rec, err);
	if (r < 0)
		return r;
	enum rt_status st = status_of(root, &rec);
	if (st != RT_STATUS_CREATED) {
		r = ndl_error_setf(err, EINVAL, "cannot start a container in the %s state",
				   rt_status_name(st));
		goto out;
	}
	/* The init holds the read end: ENXIO means it is gone. */
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENXIO
			? ndl_error_setf(err, ESRCH, "container init of \"%s\" is gone", id)
			: ndl_error_set(err, errno, "open %s", fifo);
		goto out;
	}
	if (write(fd, "0", 1) != 1) {
		r = ndl_error_set(err, errno, "write %s", fifo);
		goto out;
	}
	unlink(fifo);
	struct rt_spec *s = NULL;
	if (rt_state_rec_has_hooks(&rec, "poststart") && load_spec_of(&rec, &s, err) == 0) {
		if (s->hooks[RT_HOOK_POSTSTART].n) {
			cleanup_free char *stj =
			    state_json_string(id, "running", rec.pid, rec.bundle, rec.annotations);
			ndl_error_t he = NDL_ERROR_INIT;
			/* The container runs already: a failing poststart hook is a
			 * warning (runtime-spec), not a failed start. */
			if (rt_run_hooks(&s->hooks[RT_HOOK_POSTSTART], "poststart", stj, &he) < 0)
				log_warn("poststart hook failed", "error=\"%s\"",
					 ndl_error_msg(&he));
			ndl_error_clear(&he);
		}
		rt_spec_free(s);
	}
	ndl_error_clear(err);
	r = 0;
out:
	rt_state_rec_clear(&rec);
	return r;
}

int rt_container_kill(const char *root, const char *id, int sig, bool all, ndl_error_t *err)
{
	root = root_or_default(root);
	struct rt_state_rec rec = {0};
	int r = rt_state_rec_read(root, id, &rec, err);
	if (r < 0)
		return r;
	/* Only "stopped" matters here: the freezer read that tells running
	 * from paused (status_of) would be wasted. */
	bool alive = rt_pid_alive(rec.pid, rec.start_time);
	if (all) {
		struct cgroup_manager *mgr = NULL;
		struct cgroup *cg = NULL;
		r = open_cgroup(&rec, false, &mgr, &cg, err);
		if (r == 0 && cg) {
			r = cgroup_kill_all(cg, sig, err);
			cgroup_free(cg);
			cgroup_manager_free(mgr);
			rt_state_rec_clear(&rec);
			return r;
		}
		if (mgr)
			cgroup_manager_free(mgr);
		ndl_error_clear(err);
	}
	if (!alive) {
		r = ndl_error_setf(err, ESRCH, "container \"%s\" is not running", id);
	} else if (kill(rec.pid, sig) < 0) {
		r = ndl_error_set(err, errno, "kill %d", (int)rec.pid);
	} else {
		r = 0;
	}
	rt_state_rec_clear(&rec);
	return r;
}

static void wait_gone(pid_t pid, unsigned long long start, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 2) {
		/* Our own child (run, shim): reap it. */
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		if (!rt_pid_alive(pid, start))
			return;
		poll(NULL, 0, 2);
	}
}

/* SIGKILL the init and wait until it has exited. Through a pidfd the
 * signal cannot reach a recycled pid (the pidfd is checked against the
 * recorded start time once open) and the wait is a poll that wakes when
 * the process exits, instead of 2 ms naps; the kernel has then killed and
 * reaped the rest of its pid namespace too. Without pidfds (before 5.3):
 * kill and poll /proc. */
static void kill_init_and_wait(pid_t pid, unsigned long long start, int timeout_ms)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		if (rt_pid_alive(pid, start))
			kill(pid, SIGKILL);
		wait_gone(pid, start, timeout_ms);
		return;
	}
	if (rt_pid_alive(pid, start) &&
	    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
			;
	}
	close(pfd);
	/* Our own child (run, shim): reap it. */
	waitpid(pid, NULL, WNOHANG);
}

/* The state directory holds state.json alone once start has consumed
 * exec.fifo: unlink + rmdir instead of the generic walk (a dozen syscalls). */
static int remove_state_dir(const char *root, const char *id, ndl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/%s", root, id);
	cleanup_free char *file = xasprintf("%s/state.json", dir);
	if ((unlink(file) == 0 || errno == ENOENT) && rmdir(dir) == 0)
		return 0;
	return ndl_rm_rf(dir, err);
}

int rt_container_delete(const char *root, const char *id, bool force, ndl_error_t *err)
{
	root = root_or_default(root);
	struct rt_state_rec rec = {0};
	int r = rt_state_rec_read(root, id, &rec, err);
	if (r < 0)
		return r;
	enum rt_status st = status_of(root, &rec);
	if ((st == RT_STATUS_RUNNING || st == RT_STATUS_PAUSED) && !force) {
		r = ndl_error_setf(err, EBUSY,
				   "cannot delete container \"%s\" that is %s (use --force)", id,
				   rt_status_name(st));
		rt_state_rec_clear(&rec);
		return r;
	}
	ndl_error_t e = NDL_ERROR_INIT;
	bool cg_done = !rec.cgroup_path || !*rec.cgroup_path;
	struct cgroup_manager *mgr = NULL;
	struct cgroup *cg = NULL;
	if (st != RT_STATUS_STOPPED) {
		/* A frozen init cannot die: thaw first. */
		if (st == RT_STATUS_PAUSED && open_cgroup(&rec, false, &mgr, &cg, &e) == 0 && cg)
			cgroup_thaw(cg, &e);
		ndl_error_clear(&e);
		kill_init_and_wait(rec.pid, rec.start_time, 10000);
	}
	if (!cg_done && rec.cgroup) {
		/* The common case: the init has exited and took the container
		 * with it, so each hierarchy holds an empty leaf that one rmdir
		 * removes, found from the saved directories. Tasks left behind
		 * (no pid namespace), child cgroups or tasks still draining make
		 * an rmdir fail at once (no waiting here), and the full path
		 * below kills and drains. */
		struct cgroup *fast = NULL;
		if (cgroup_open_saved(rec.cgroup, &fast, &e) == 0 &&
		    cgroup_destroy_timeout(fast, 0, &e) == 0)
			cg_done = true;
		ndl_error_clear(&e);
		if (fast)
			cgroup_free(fast);
	}
	if (cg)
		cgroup_free(cg);
	if (mgr)
		cgroup_manager_free(mgr);
	if (!cg_done) {
		/* Discovered afresh: hierarchies the attempt above emptied are
		 * left out, so the pid listing and freezer use the ones left. */
		if (open_cgroup(&rec, true, &mgr, &cg, &e) < 0)
			ndl_error_clear(&e);
		if (cg) {
			/* Without a pid namespace, processes can outlive the
			 * init. Only then pay for cgroup_kill_all's freeze/thaw. */
			pid_t *left = NULL;
			size_t nleft = 0;
			if (cgroup_pids(cg, &left, &nleft, &e) < 0 || nleft > 0)
				cgroup_kill_all(cg, SIGKILL, &e);
			free(left);
			ndl_error_clear(&e);
			if (cgroup_destroy(cg, &e) < 0)
				log_debug(1, "cgroup destroy failed", "error=\"%s\"",
					  ndl_error_msg(&e));
			ndl_error_clear(&e);
			cgroup_free(cg);
		}
		if (mgr)
			cgroup_manager_free(mgr);
	}
	struct rt_spec *s = NULL;
	if (rt_state_rec_has_hooks(&rec, "poststop") && load_spec_of(&rec, &s, &e) == 0 &&
	    s->hooks[RT_HOOK_POSTSTOP].n) {
		cleanup_free char *stj =
		    state_json_string(id, "stopped", 0, rec.bundle, rec.annotations);
		if (rt_run_hooks(&s->hooks[RT_HOOK_POSTSTOP], "poststop", stj, &e) < 0)
			log_warn("poststop hook failed", "error=\"%s\"", ndl_error_msg(&e));
	}
	ndl_error_clear(&e);
	rt_spec_free(s);
	r = remove_state_dir(root, id, err);
	rt_state_rec_clear(&rec);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rt_container_list(const char *root, char ***ret_ids, size_t *ret_n, ndl_error_t *err)
{
	root = root_or_default(root);
	cleanup_closedir DIR *d = opendir(root);
	char **ids = NULL;
	size_t n = 0;
	if (!d) {
		if (errno != ENOENT)
			return ndl_error_set(err, errno, "open %s", root);
	} else {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s/state.json", root, de->d_name);
			if (access(p, F_OK) < 0)
				continue;
			ids = xrealloc(ids, (n + 1) * sizeof(char *));
			ids[n++] = xstrdup(de->d_name);
		}
		qsort(ids, n, sizeof(char *), cmp_str);
	}
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

static int with_cgroup(const char *root, const char *id, int op, pid_t **ret_pids, size_t *ret_n,
		       bool *ret_bool, ndl_error_t *err)
{
	root = root_or_default(root);
	struct rt_state_rec rec = {0};
	int r = rt_state_rec_read(root, id, &rec, err);
	if (r < 0)
		return r;
	enum rt_status st = status_of(root, &rec);
	struct cgroup_manager *mgr = NULL;
	struct cgroup *cg = NULL;
	if ((r = open_cgroup(&rec, false, &mgr, &cg, err)) < 0)
		goto out;
	if (!cg) {
		r = ndl_error_setf(err, ENOTSUP, "container \"%s\" has no cgroup", id);
		goto out;
	}
	switch (op) {
	case 0:
		if (st != RT_STATUS_RUNNING) {
			r = ndl_error_setf(err, EINVAL, "container \"%s\" is %s, not running", id,
					   rt_status_name(st));
			break;
		}
		r = cgroup_freeze(cg, err);
		break;
	case 1:
		if (st != RT_STATUS_PAUSED) {
			r = ndl_error_setf(err, EINVAL, "container \"%s\" is %s, not paused", id,
					   rt_status_name(st));
			break;
		}
		r = cgroup_thaw(cg, err);
		break;
	case 2:
		r = cgroup_pids(cg, ret_pids, ret_n, err);
		break;
	case 3: {
		uint64_t c = 0;
		r = cgroup_oom_kill_count(cg, &c, err);
		if (r == 0)
			*ret_bool = c > 0;
		break;
	}
	}
out:
	if (cg)
		cgroup_free(cg);
	if (mgr)
		cgroup_manager_free(mgr);
	rt_state_rec_clear(&rec);
	return r;
}

int rt_container_pause(const char *root, const char *id, ndl_error_t *err)
{
	return with_cgroup(root, id, 0, NULL, NULL, NULL, err);
}
int rt_container_resume(const char *root, const char *id, ndl_error_t *err)
{
	return with_cgroup(root, id, 1, NULL, NULL, NULL, err);
}
int rt_container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
		      ndl_error_t *err)
{
	return with_cgroup(root, id, 2, ret, ret_n, NULL, err);
}
int rt_container_oom_killed(const char *root, const char *id, bool *ret, ndl_error_t *err)
{
	return with_cgroup(root, id, 3, NULL, NULL, ret, err);
}

/* ------------------------------------------------------------------ */
/* exec                                                                */

static char **strv_concat(char *const *a, char *const *b)
{
	size_t na = 0, nb = 0;
	while (a && a[na])
		na++;
	while (b && b[nb])
		nb++;
	char **v = xcalloc(na + nb + 1, sizeof(char *));
	for (size_t i = 0; i < na; i++)
		v[i] = xstrdup(a[i]);
	for (size_t i = 0; i < nb; i++)
		v[na + i] = xstrdup(b[i]);
	return v;
}

/* The process to exec: a whole process object, or the container's own
 * process with the CLI's overrides (as runc exec does). */
static int exec_process(const struct rt_exec_opts *o, const struct rt_spec *s, struct rt_process *p,
			ndl_error_t *err)
{
	int r;
	if (o->process)
		return rt_process_parse(o->process, "process", p, err);
	json_t *pj = json_object_get(s->raw, "process");
	if (!pj)
		return ndl_error_setf(err, EINVAL, "container has no process to base exec on");
	if ((r = rt_process_parse(pj, "process", p, err)) < 0)
		return r;
	if (!o->args || !o->args[0])
		return ndl_error_setf(err, EINVAL, "exec: no command given");
	strv_free(p->args);
	p->args = strv_concat(o->args, NULL);
	for (p->n_args = 0; p->args[p->n_args]; p->n_args++)
		;
	if (o->env) {
		char **e = strv_concat(p->env, o->env);
		strv_free(p->env);
		p->env = e;
	}
	if (o->cwd) {
		free(p->cwd);
		p->cwd = xstrdup(o->cwd);
	}
	if (o->has_user) {
		p->user.uid = o->uid;
		p->user.gid = o->gid;
		free(p->user.additional_gids);
		p->user.additional_gids = NULL;
		p->user.n_additional_gids = 0;
		if (o->n_additional_gids) {
			p->user.additional_gids = xcalloc(o->n_additional_gids, sizeof(gid_t));
			memcpy(p->user.additional_gids, o->additional_gids,
			       o->n_additional_gids * sizeof(gid_t));
			p->user.n_additional_gids = o->n_additional_gids;
		}
	}
	if (o->no_new_privs)
		p->no_new_privileges = true;
	p->terminal = o->tty;
	for (char *const *c = o->cap_add; c && *c; c++) {
		int cap = rt_cap_from_name(*c);
		if (cap < 0)
			return ndl_error_setf(err, EINVAL, "--cap %s: unknown capability", *c);
		p->has_caps = true;
		for (int set = 0; set < RT_CAP_NSETS; set++)
			p->caps[set] |= 1ull << cap;
	}
	return 0;
}

int rt_exec(const struct rt_exec_opts *o, pid_t *ret_pid, ndl_error_t *err)
{
	const char *root = root_or_default(o->root);
	struct rt_state_rec rec = {0};
	int r = rt_state_rec_read(root, o->id, &rec, err);
	if (r < 0)
		return r;
	struct rt_spec *s = NULL;
	struct rt_process p = {0};
	struct rt_seccomp_filter *filter = NULL;
	struct cgroup_manager *mgr = NULL;
	struct cgroup *cg = NULL;
	int nsfds[8], nstypes[8];
	size_t nns = 0;
	int pidns = -1, own_pidns = -1, socks[2] = {-1, -1}, console_fd = -1;
	pid_t pid = -1;
	enum rt_status st = status_of(root, &rec);
	if (st != RT_STATUS_RUNNING && st != RT_STATUS_CREATED) {
		r = ndl_error_setf(err, EINVAL, "cannot exec in a %s container",
				   rt_status_name(st));
		goto out;
	}
	if ((r = load_spec_of(&rec, &s, err)) < 0)
		goto out;
	if ((r = exec_process(o, s, &p, err)) < 0)
		goto out;
	if (s->seccomp && (r = rt_seccomp_compile(s->seccomp, &filter, err)) < 0)
		goto out;
	/* The init's namespaces, user first (it grants the rights for the
	 * rest) and mount last (after it host paths are gone). */
	static const int order[] = {CLONE_NEWUSER, CLONE_NEWIPC,    CLONE_NEWUTS,
				    CLONE_NEWNET,  CLONE_NEWCGROUP, CLONE_NEWNS};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char path[64], self[64];
		const char *name = rt_namespace_name(order[i]);
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)rec.pid, name);
		snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
		struct stat a, b;
		if (stat(path, &a) < 0 ||
		    (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev))
			continue; /* shared with us: nothing to join */
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = ndl_error_set(err, errno, "open %s", path);
			goto out;
		}
		nsfds[nns] = fd;
		nstypes[nns++] = order[i];
	}
	{
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)rec.pid);
		pidns = open(path, O_RDONLY | O_CLOEXEC);
		if (pidns < 0) {
			r = ndl_error_set(err, errno, "open %s", path);
			goto out;
		}
	}
	if ((r = open_cgroup(&rec, false, &mgr, &cg, err)) < 0)
		goto out;
	if (p.terminal) {
		if (!o->console_socket) {
			r = ndl_error_setf(
			    err, EINVAL, "field \"process.terminal\": true needs --console-socket");
			goto out;
		}
		if ((r = connect_console(o->console_socket, &console_fd, err)) < 0)
			goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0) {
		r = ndl_error_set(err, errno, "socketpair");
		goto out;
	}
	own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (own_pidns < 0 || setns(pidns, CLONE_NEWPID) < 0) {
		r = ndl_error_set(err, errno, "join pid namespace of %d", (int)rec.pid);
		goto out;
	}
	int was_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	fflush(NULL);
	pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		ndl_error_t ce = NDL_ERROR_INIT;
		struct sync_msg m;
		close(socks[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (sync_recv(socks[1], &m) <= 0 || m.type != SYNC_GO)
			_exit(1);
		if (setup_stdio(o->stdio, &ce) < 0)
			child_fail(socks[1], &ce);
		for (size_t i = 0; i < nns; i++) {
			if (setns(nsfds[i], nstypes[i]) < 0) {
				ndl_error_set(&ce, errno, "join %s namespace",
					      rt_namespace_name(nstypes[i]));
				child_fail(socks[1], &ce);
			}
		}
		/* After joining the mount namespace: the container's /dev/ptmx. */
		if (console_fd >= 0) {
			if (setup_console(o->console_socket, console_fd, &ce) < 0)
				child_fail(socks[1], &ce);
			close(console_fd);
		}
		if (rt_apply_rlimits(&p, &ce) < 0)
			child_fail(socks[1], &ce);
		rt_apply_oom_score_adj(&p);
		char *exe = NULL;
		if (rt_find_executable(p.args[0], p.env, &exe, &ce) < 0)
			child_fail(socks[1], &ce);
		/* Let the caller keep its stdin open: pdeathsig off, we exec. */
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		finish_and_exec(&p, filter, exe, true, o->preserve_fds, socks[1]);
	}
	int ce = errno;
	if (was_dumpable > 0)
		prctl(PR_SET_DUMPABLE, was_dumpable, 0, 0, 0);
	setns(own_pidns, CLONE_NEWPID);
	close(socks[1]);
	socks[1] = -1;
	if (pid < 0) {
		r = ndl_error_set(err, ce, "clone exec process");
		goto out;
	}
	if (cg && (r = cgroup_enter(cg, pid, err)) < 0)
		goto out_kill;
	if (sync_send(socks[0], SYNC_GO, 0, NULL) < 0) {
		r = ndl_error_set(err, errno, "sync with exec process");
		goto out_kill;
	}
	struct sync_msg m;
	int rr = sync_recv(socks[0], &m);
	if (rr > 0 && m.type == SYNC_ERROR) {
		r = ndl_error_setf(err, m.code ? m.code : EIO, "%s", m.msg);
		goto out_kill;
	}
	if (o->pid_file && (r = write_pid_file(o->pid_file, pid, err)) < 0)
		goto out_kill;
	*ret_pid = pid;
	r = 0;
	goto out;
out_kill:
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (size_t i = 0; i < nns; i++)
		close(nsfds[i]);
	if (pidns >= 0)
		close(pidns);
	if (own_pidns >= 0)
		close(own_pidns);
	if (console_fd >= 0)
		close(console_fd);
	if (socks[0] >= 0)
		close(socks[0]);
	if (socks[1] >= 0)
		close(socks[1]);
	if (cg)
		cgroup_free(cg);
	if (mgr)
		cgroup_manager_free(mgr);
	rt_seccomp_filter_free(filter);
	rt_process_clear(&p);
	rt_spec_free(s);
	rt_state_rec_clear(&rec);
	return r;
}
