/* Pod sandboxes of nodelet-cri. A sandbox is no process: it is a set of
 * pinned namespaces (net, ipc, uts, and pid when the pod shares one)
 * bind-mounted on files under <run-root>/sandboxes/<id>/ns/, plus per-pod
 * files (hosts, resolv.conf, hostname), a /dev/shm tmpfs, and the CNI
 * attachment of the net namespace. Containers join these namespaces by path.
 *
 * The namespaces are created in a forked child that unshares, sets the
 * hostname and sysctls inside them and bind-mounts /proc/self/ns/X onto the
 * pin files (same mount namespace as the daemon), then exits: no server
 * thread ever changes namespace. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cri/client/client.h"
#include "cri/network/cni.h"
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define SANDBOX_SHM_OPTS "mode=1777,size=65536k" /* containerd's default /dev/shm */
#define POD_IFNAME	 "eth0"

int64_t cri_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *cri_sandbox_dir(struct cri_service *svc, const char *id)
{
	return xasprintf("%s/sandboxes/%s", svc->cfg->run_root, id);
}

enum cri_status cri_reply_errno_msg(struct cri_reply *r, ndl_error_t *e)
{
	enum cri_status st = cri_reply_from_error(r, e);
	ndl_error_clear(e);
	return st;
}

static const char *ns_names[] = {"net", "ipc", "uts", "pid"};
enum { NS_NET, NS_IPC, NS_UTS, NS_PID, NS_COUNT };

/* ---- namespace pinning ---- */

struct sysctl_set {
	char *path; /* /proc/sys/... */
	char *value;
	char *key;
};

struct pin_job {
	bool want[NS_COUNT];
	char *target[NS_COUNT];
	const char *hostname; /* set in the new uts ns; NULL: none */
	struct sysctl_set *sysctls;
	size_t n_sysctls;
};

/* Child report through the pipe: which step failed and errno. */
struct pin_report {
	int step; /* 0 unshare, 1 hostname, 2 sysctl, 3 bind, 4 lo up */
	int idx;
	int err;
};

static void on_sigchld(int sig)
{
	(void)sig;
}

/* The pod's init is a fork of the daemon, so without this `ps` in the pod's
 * containers would show nodelet-cri's whole command line (host paths and
 * all) as pid 1: name it "pause", as containerd's sandbox process is.
 * comm via prctl; the command line by rewriting the inherited argument
 * area (/proc/self/stat fields 48-49), which is this process's own copy.
 * Runs in a child forked from a threaded process: only read(2) and plain
 * loops, no stdio or malloc. */
static void name_pod_init(void)
{
	prctl(PR_SET_NAME, "pause", 0, 0, 0);
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may hold spaces and parens */
	if (!p)
		return;
	/* after ')' come field 3 (state) ... field 52; we want 48 and 49 */
	unsigned long field[53] = {0};
	int f = 2;
	for (p++; *p && f < 52;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		f++;
		unsigned long v = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (unsigned long)(*p - '0');
		while (*p && *p != ' ')
			p++;
		field[f] = v;
	}
	unsigned long start = field[48], end = field[49];
	if (f < 49 || !start || end <= start + 6)
		return;
	char *area = (char *)start;
	memset(area, 0, end - start);
	memcpy(area, "pause", 5);
}

/* *ret_init: pid of the pod's init when a pid namespace was made, else 0. */
static int pin_namespaces(const struct pin_job *j, pid_t *ret_init, ndl_error_t *err)
{
	*ret_init = 0;
	int flags = 0;
	if (j->want[NS_NET])
		flags |= CLONE_NEWNET;
	if (j->want[NS_IPC])
		flags |= CLONE_NEWIPC;
	if (j->want[NS_UTS])
		flags |= CLONE_NEWUTS;
	if (j->want[NS_PID])
		flags |= CLONE_NEWPID;
	if (!flags && !j->n_sysctls)
		return 0;
	/* Everything the child needs is prepared before fork: after it, only
	 * system calls (the daemon is multithreaded). */
	char self_ns[NS_COUNT][40];
	for (int i = 0; i < NS_COUNT; i++)
		snprintf(self_ns[i], sizeof(self_ns[i]), "/proc/self/ns/%s",
			 i == NS_PID ? "pid_for_children" : ns_names[i]);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ndl_error_set(err, errno, "pipe");
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		if (devnull >= 0)
			close(devnull);
		return ndl_error_set(err, errno, "fork");
	}
	if (pid == 0) {
		struct pin_report rep = {0};
		pid_t init_pid = 0;
		close(p[0]);
		if (unshare(flags) < 0) {
			rep = (struct pin_report){0, 0, errno};
			goto fail;
		}
		/* A new network namespace starts with lo down: bring it up, as
		 * containerd does with the loopback plugin for every pod, so the
		 * pod's containers reach each other on 127.0.0.1 whatever the
		 * conflist holds. */
		if (flags & CLONE_NEWNET) {
			struct ifreq ifr = {0};
			memcpy(ifr.ifr_name, "lo", 3);
			int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
				rep = (struct pin_report){4, 0, errno};
				goto fail;
			}
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
				rep = (struct pin_report){4, 0, errno};
				goto fail;
			}
			close(s);
		}
		if (j->hostname && sethostname(j->hostname, strlen(j->hostname)) < 0) {
			rep = (struct pin_report){1, 0, errno};
			goto fail;
		}
		for (size_t i = 0; i < j->n_sysctls; i++) {
			int fd = open(j->sysctls[i].path, O_WRONLY | O_CLOEXEC);
			size_t len = strlen(j->sysctls[i].value);
			if (fd < 0 || write(fd, j->sysctls[i].value, len) != (ssize_t)len) {
				rep = (struct pin_report){2, (int)i, errno};
				goto fail;
			}
			close(fd);
		}
		if (j->want[NS_PID]) {
			/* A pid namespace can only be joined while its init lives:
			 * the pod's init is a tiny pause-like process that reaps
			 * orphans, in its own session so it outlives the daemon. */
			pid_t init = fork();
			if (init < 0) {
				rep = (struct pin_report){0, 0, errno};
				goto fail;
			}
			if (init == 0) {
				setsid();
				if (devnull >= 0) {
					dup2(devnull, 0);
					dup2(devnull, 1);
					dup2(devnull, 2);
				}
				/* Keep none of the daemon's descriptors (its lock!). */
				close_range(3, ~0U, 0);
				name_pod_init();
				struct sigaction sa = {0};
				sa.sa_handler = on_sigchld;
				sigaction(SIGCHLD, &sa, NULL);
				/* SIGCHLD stays blocked except inside sigsuspend: one
				 * arriving between the reaping loop and the wait would
				 * otherwise be lost and leave a zombie behind. */
				sigset_t chld, none;
				sigemptyset(&chld);
				sigaddset(&chld, SIGCHLD);
				sigemptyset(&none);
				sigprocmask(SIG_SETMASK, &chld, NULL);
				for (;;) {
					while (waitpid(-1, NULL, WNOHANG) > 0)
						;
					sigsuspend(&none);
				}
			}
			init_pid = init;
		}
		for (int i = 0; i < NS_COUNT; i++) {
			if (!j->want[i])
				continue;
			if (mount(self_ns[i], j->target[i], NULL, MS_BIND, NULL) < 0) {
				rep = (struct pin_report){3, i, errno};
				goto fail;
			}
		}
		rep.step = -1;
		rep.idx = init_pid;
		(void)!write(p[1], &rep, sizeof(rep));
		_exit(0);
	fail:
		if (init_pid > 0)
			kill(init_pid, SIGKILL);
		(void)!write(p[1], &rep, sizeof(rep));
		_exit(1);
	}
	close(p[1]);
	if (devnull >= 0)
		close(devnull);
	struct pin_report rep;
	ssize_t n;
	do
		n = read(p[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(rep) && rep.step == -1) {
		*ret_init = rep.idx;
	} else if (n == (ssize_t)sizeof(rep)) {
		switch (rep.step) {
		case 0:
			return ndl_error_set(err, rep.err, "unshare pod namespaces");
		case 1:
			return ndl_error_set(err, rep.err, "set hostname \"%s\"", j->hostname);
		case 2:
			return ndl_error_set(err, rep.err, "sysctl \"%s\" = \"%s\"",
					     j->sysctls[rep.idx].key, j->sysctls[rep.idx].value);
		case 4:
			return ndl_error_set(err, rep.err, "bring up lo in the pod network namespace");
		default:
			return ndl_error_set(err, rep.err, "pin %s namespace on %s",
					     ns_names[rep.idx], j->target[rep.idx]);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ndl_error_setf(err, EIO, "namespace helper failed (status %d)", status);
	return 0;
}

/* ---- files ---- */

static int copy_host_file(const char *src, const char *dst, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_read_file(src, 1024 * 1024, &buf, &len, &e) < 0) {
		/* A host without the file: the pod gets an empty one. */
		log_warn("host file unreadable, using an empty one", "path=%s err=\"%s\"", src,
			 ndl_error_msg(&e));
		ndl_error_clear(&e);
		return ndl_write_file_atomic(dst, "", 0, 0644, err);
	}
	return ndl_write_file_atomic(dst, buf, len, 0644, err);
}

/* resolv.conf from the pod's DNSConfig, as containerd writes it. */
static char *resolv_conf(const Runtime__V1__DNSConfig *d)
{
	size_t cap = 256;
	for (size_t i = 0; i < d->n_servers; i++)
		cap += strlen(d->servers[i]) + 16;
	for (size_t i = 0; i < d->n_searches; i++)
		cap += strlen(d->searches[i]) + 2;
	for (size_t i = 0; i < d->n_options; i++)
		cap += strlen(d->options[i]) + 2;
	char *out = xmalloc(cap);
	size_t n = 0;
	out[0] = 0;
	if (d->n_searches) {
		n += (size_t)snprintf(out + n, cap - n, "search");
		for (size_t i = 0; i < d->n_searches; i++)
			n += (size_t)snprintf(out + n, cap - n, " %s", d->searches[i]);
		n += (size_t)snprintf(out + n, cap - n, "\n");
	}
	for (size_t i = 0; i < d->n_servers; i++)
		n += (size_t)snprintf(out + n, cap - n, "nameserver %s\n", d->servers[i]);
	if (d->n_options) {
		n += (size_t)snprintf(out + n, cap - n, "options");
		for (size_t i = 0; i < d->n_options; i++)
			n += (size_t)snprintf(out + n, cap - n, " %s", d->options[i]);
		n += (size_t)snprintf(out + n, cap - n, "\n");
	}
	return out;
}

/* ---- sysctls ---- */

/* Which namespace a sysctl belongs to (runc's rule): net.* -> net, the IPC
 * ones -> ipc, kernel.hostname/domainname -> uts; anything else is not
 * namespaced and refused. */
static int sysctl_ns(const char *key)
{
	if (strncmp(key, "net.", 4) == 0)
		return NS_NET;
	if (strncmp(key, "fs.mqueue.", 10) == 0 || strcmp(key, "kernel.msgmax") == 0 ||
	    strcmp(key, "kernel.msgmnb") == 0 || strcmp(key, "kernel.msgmni") == 0 ||
	    strcmp(key, "kernel.sem") == 0 || strcmp(key, "kernel.shmall") == 0 ||
	    strcmp(key, "kernel.shmmax") == 0 || strcmp(key, "kernel.shmmni") == 0 ||
	    strcmp(key, "kernel.shm_rmid_forced") == 0)
		return NS_IPC;
	if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0)
		return NS_UTS;
	return -1;
}

static void sysctls_free(struct sysctl_set *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].path);
		free(s[i].value);
		free(s[i].key);
	}
	free(s);
}

/* ---- record helpers ---- */

/* IPs of the pod interface from a CNI result (any version >= 0.3): IPv4
 * first, as containerd orders them. */
static json_t *result_ips(const json_t *result)
{
	json_t *v4 = json_array(), *v6 = json_array();
	json_t *ifaces = json_object_get(result, "interfaces");
	json_t *ips = json_object_get(result, "ips");
	size_t i;
	json_t *ip;
	json_array_foreach(ips, i, ip)
	{
		json_t *idx = json_object_get(ip, "interface");
		if (idx && json_is_integer(idx)) {
			json_t *ifc = json_array_get(ifaces, (size_t)json_integer_value(idx));
			const char *name = json_string_value(json_object_get(ifc, "name"));
			if (name && strcmp(name, POD_IFNAME) != 0)
				continue;
		}
		const char *addr = json_string_value(json_object_get(ip, "address"));
		if (!addr)
			continue;
		cleanup_free char *a = xstrdup(addr);
		char *slash = strchr(a, '/');
		if (slash)
			*slash = 0;
		json_array_append_new(strchr(a, ':') ? v6 : v4, json_string(a));
	}
	json_array_extend(v4, v6);
	json_decref(v6);
	return v4;
}

static json_t *port_mappings_json(const Runtime__V1__PodSandboxConfig *c)
{
	json_t *a = json_array();
	for (size_t i = 0; i < c->n_port_mappings; i++) {
		const Runtime__V1__PortMapping *pm = c->port_mappings[i];
		/* containerd passes only mappings with a host port. */
		if (pm->host_port <= 0)
			continue;
		const char *proto = pm->protocol == RUNTIME__V1__PROTOCOL__UDP	  ? "udp"
				    : pm->protocol == RUNTIME__V1__PROTOCOL__SCTP ? "sctp"
										  : "tcp";
		json_t *m = json_pack("{s:i,s:i,s:s}", "hostPort", (int)pm->host_port,
				      "containerPort", (int)pm->container_port, "protocol", proto);
		if (pm->host_ip && *pm->host_ip)
			json_object_set_new(m, "hostIP", json_string(pm->host_ip));
		json_array_append_new(a, m);
	}
	return a;
}

static void cni_cfg_of(struct cri_service *svc, struct cni_config *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->bin_dirs = (const char *const *)svc->cni_bin_dirs;
	cc->cache_dir = svc->cfg->cni_cache_dir;
}

/* CNI DEL of the sandbox's attachment, with the cached config/result. */
static int sandbox_cni_del(struct cri_service *svc, const json_t *data, ndl_error_t *err)
{
	const char *net_name = json_string_value(json_object_get(data, "cni_network"));
	if (!net_name)
		return 0;
	const char *id = json_string_value(json_object_get(data, "id"));
	const json_t *md = json_object_get(data, "metadata");
	struct cni_config cc;
	cni_cfg_of(svc, &cc);
	struct cni_arg args[5];
	struct cni_runtime rt = {
	    .container_id = id,
	    .netns = json_string_value(json_object_get(data, "netns")),
	    .ifname = POD_IFNAME,
	    .args = args,
	};
	rt.n_args = cni_k8s_args(args, json_string_value(json_object_get(md, "namespace")),
				 json_string_value(json_object_get(md, "name")), id,
				 json_string_value(json_object_get(md, "uid")));
	struct cni_netconf *net = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (cni_cache_read(&cc, net_name, id, POD_IFNAME, &net, NULL, NULL, &e) < 0) {
		ndl_error_clear(&e);
		if (cni_netconf_load_by_name(svc->cfg->cni_conf_dir, net_name, &net, &e) < 0) {
			/* Neither the cache nor the config: nothing can be run. */
			log_warn("CNI DEL skipped: no config", "id=%s network=%s err=\"%s\"", id,
				 net_name, ndl_error_msg(&e));
			ndl_error_clear(&e);
			return 0;
		}
	}
	int rc = cni_network_del(&cc, net, &rt, err);
	cni_netconf_free(net);
	return rc;
}

/* Kill the pod's init, but only if pid still is that init: its pid
 * namespace must be the one pinned at pin (pids are reused). */
static void kill_pod_init(pid_t pid, const char *pin)
{
	struct stat a, b;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, &a) < 0 || stat(pin, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return;
	kill(pid, SIGKILL);
}

/* Unmount the pins and shm, delete the sandbox dir. Best effort; errors
 * are logged and the first returned. */
static int sandbox_teardown_dir(struct cri_service *svc, const char *id, ndl_error_t *err)
{
	cleanup_free char *dir = cri_sandbox_dir(svc, id);
	int rc = 0;
	for (int i = 0; i < NS_COUNT; i++) {
		cleanup_free char *p = xasprintf("%s/ns/%s", dir, ns_names[i]);
		if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			if (rc == 0)
				rc = ndl_error_set(err, errno, "unmount %s", p);
		}
	}
	cleanup_free char *shm = xasprintf("%s/shm", dir);
	if (umount2(shm, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && rc == 0)
		rc = ndl_error_set(err, errno, "unmount %s", shm);
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_rm_rf(dir, &e) < 0) {
		if (rc == 0) {
			rc = -abs(e.code ? e.code : EIO);
			if (err) {
				ndl_error_clear(err);
				*err = e;
				e = (ndl_error_t)NDL_ERROR_INIT;
			}
		}
		ndl_error_clear(&e);
	}
	return rc;
}

/* ---- RunPodSandbox ---- */


enum cri_status cri_h_run_pod_sandbox(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__RunPodSandboxRequest *in = (const Runtime__V1__RunPodSandboxRequest *)req;
	const Runtime__V1__PodSandboxConfig *c = in->config;
	if (!c)
		return cri_reply_required(r, "config");
	if (!c->metadata)
		return cri_reply_required(r, "config.metadata");
	if (!c->metadata->name || !*c->metadata->name)
		return cri_reply_required(r, "config.metadata.name");
	if (!c->metadata->namespace_ || !*c->metadata->namespace_)
		return cri_reply_required(r, "config.metadata.namespace");
	if (!c->metadata->uid || !*c->metadata->uid)
		return cri_reply_required(r, "config.metadata.uid");
	if (in->runtime_handler && *in->runtime_handler)
		return cri_reply_error(r, CRI_REFUSED,
				       "field \"runtime_handler\": unknown runtime handler \"%s\" "
				       "(only the default handler \"\" exists)",
				       in->runtime_handler);

	int modes[3] = {RUNTIME__V1__NAMESPACE_MODE__POD, RUNTIME__V1__NAMESPACE_MODE__POD,
			RUNTIME__V1__NAMESPACE_MODE__POD}; /* network, pid, ipc */
	const Runtime__V1__LinuxPodSandboxConfig *lx = c->linux;
	if (lx && lx->security_context && lx->security_context->namespace_options) {
		const Runtime__V1__NamespaceOption *no = lx->security_context->namespace_options;
		modes[0] = no->network;
		modes[1] = no->pid;
		modes[2] = no->ipc;
		/* Not silently ignored: pods asking for a user namespace fail. */
		if (no->userns_options &&
		    no->userns_options->mode != RUNTIME__V1__NAMESPACE_MODE__NODE)
			return cri_reply_error(
			    r, CRI_REFUSED,
			    "field \"config.linux.security_context.namespace_options.userns_options"
			    ".mode\": user namespaces are not supported by nodelet-cri");
		if (modes[0] > RUNTIME__V1__NAMESPACE_MODE__NODE ||
		    modes[1] == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		    modes[2] > RUNTIME__V1__NAMESPACE_MODE__NODE)
			return cri_reply_error(r, CRI_REFUSED,
					       "field \"config.linux.security_context.namespace_options"
					       "\": mode TARGET is only valid for a container's pid");
	}
	bool host_net = modes[0] == RUNTIME__V1__NAMESPACE_MODE__NODE;

	char id[CRI_ID_LEN + 1];
	cri_store_new_id(svc->store, id);
	cleanup_free char *name = cri_sandbox_name(c->metadata->name, c->metadata->namespace_,
						   c->metadata->uid, c->metadata->attempt);
	ndl_error_t e = NDL_ERROR_INIT;
	if (cri_store_reserve_name(svc->store, name, id, &e) < 0) {
		ndl_error_wrap(&e, "failed to reserve sandbox name \"%s\"", name);
		return cri_reply_errno_msg(r, &e);
	}

	cleanup_free char *dir = cri_sandbox_dir(svc, id);
	cleanup_free char *nsdir = xasprintf("%s/ns", dir);
	struct pin_job job = {0};
	struct sysctl_set *sysctls = NULL;
	size_t n_sysctls = 0;
	bool dir_made = false, cni_added = false;
	pid_t init_pid = 0;
	json_t *result = NULL, *ips = NULL, *caps = NULL;
	struct cni_netconf *net = NULL;
	enum cri_status st = CRI_OK;
	cleanup_free char *hostname = NULL;
	cleanup_free char *netns_path = NULL;
	json_t *data = NULL;

	if (c->hostname && *c->hostname) {
		hostname = xstrdup(c->hostname);
	} else {
		char hb[256] = "";
		gethostname(hb, sizeof(hb) - 1);
		hostname = xstrdup(hb);
	}

	/* Sysctls: validated before anything is created. */
	if (lx && lx->n_sysctls) {
		sysctls = xcalloc(lx->n_sysctls, sizeof(*sysctls));
		for (size_t i = 0; i < lx->n_sysctls; i++) {
			const char *k = lx->sysctls[i]->key;
			cleanup_free char *dotted = xstrdup(k);
			for (char *p = dotted; *p; p++)
				if (*p == '/')
					*p = '.';
			int ns = sysctl_ns(dotted);
			bool ok = ns >= 0 && !(ns == NS_NET && host_net) &&
				  !(ns == NS_IPC && modes[2] == RUNTIME__V1__NAMESPACE_MODE__NODE);
			if (!ok || strstr(dotted, "..") || strchr(dotted, ' ')) {
				st = cri_reply_error(r, CRI_REFUSED,
						     "field \"config.linux.sysctls\": sysctl \"%s\" "
						     "is not in a namespace of the pod",
						     k);
				goto fail;
			}
			cleanup_free char *slashed = xstrdup(dotted);
			for (char *p = slashed; *p; p++)
				if (*p == '.')
					*p = '/';
			sysctls[n_sysctls].key = xstrdup(k);
			sysctls[n_sysctls].path = xasprintf("/proc/sys/%s", slashed);
			sysctls[n_sysctls].value = xstrdup(lx->sysctls[i]->value ? lx->sysctls[i]->value
										 : "");
			n_sysctls++;
		}
	}

	if (ndl_mkdir_p(nsdir, 0711, &e) < 0)
		goto fail_err;
	dir_made = true;

	/* Namespace pin files, then the helper. */
	job.want[NS_NET] = !host_net;
	job.want[NS_IPC] = modes[2] != RUNTIME__V1__NAMESPACE_MODE__NODE;
	/* uts follows the network: a host-network pod uses the node's name. */
	job.want[NS_UTS] = !host_net;
	job.want[NS_PID] = modes[1] == RUNTIME__V1__NAMESPACE_MODE__POD;
	for (int i = 0; i < NS_COUNT; i++) {
		job.target[i] = xasprintf("%s/%s", nsdir, ns_names[i]);
		if (!job.want[i])
			continue;
		int fd = open(job.target[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0) {
			ndl_error_set(&e, errno, "create %s", job.target[i]);
			goto fail_err;
		}
		close(fd);
	}
	job.hostname = job.want[NS_UTS] ? hostname : NULL;
	job.sysctls = sysctls;
	job.n_sysctls = n_sysctls;
	if (pin_namespaces(&job, &init_pid, &e) < 0) {
		ndl_error_wrap(&e, "RunPodSandbox");
		goto fail_err;
	}
	if (!host_net)
		netns_path = xstrdup(job.target[NS_NET]);

	/* Per-pod files the containers get mounted. */
	{
		cleanup_free char *hosts = xasprintf("%s/hosts", dir);
		cleanup_free char *resolv = xasprintf("%s/resolv.conf", dir);
		cleanup_free char *hn = xasprintf("%s/hostname", dir);
		cleanup_free char *hn_line = xasprintf("%s\n", hostname);
		cleanup_free char *shm = xasprintf("%s/shm", dir);
		if (copy_host_file("/etc/hosts", hosts, &e) < 0)
			goto fail_err;
		if (c->dns_config) {
			cleanup_free char *rc = resolv_conf(c->dns_config);
			if (ndl_write_file_atomic(resolv, rc, strlen(rc), 0644, &e) < 0)
				goto fail_err;
		} else if (copy_host_file("/etc/resolv.conf", resolv, &e) < 0) {
			goto fail_err;
		}
		if (ndl_write_file_atomic(hn, hn_line, strlen(hn_line), 0644, &e) < 0)
			goto fail_err;
		if (mkdir(shm, 0755) < 0) {
			ndl_error_set(&e, errno, "mkdir %s", shm);
			goto fail_err;
		}
		if (modes[2] != RUNTIME__V1__NAMESPACE_MODE__NODE &&
		    mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, SANDBOX_SHM_OPTS) <
			0) {
			ndl_error_set(&e, errno, "mount tmpfs on %s", shm);
			goto fail_err;
		}
	}

	/* The network. */
	if (!host_net) {
		if (cni_netconf_load_dir(svc->cfg->cni_conf_dir, &net, &e) < 0) {
			ndl_error_wrap(&e, "RunPodSandbox: network not ready: cni config in %s",
				       svc->cfg->cni_conf_dir);
			if (e.code == ENOENT)
				e.code = EAGAIN; /* not the sandbox that is missing */
			goto fail_err;
		}
		struct cni_config cc;
		cni_cfg_of(svc, &cc);
		struct cni_arg args[5];
		struct cni_runtime rt = {
		    .container_id = id, .netns = netns_path, .ifname = POD_IFNAME, .args = args};
		rt.n_args = cni_k8s_args(args, c->metadata->namespace_, c->metadata->name, id,
					 c->metadata->uid);
		caps = json_object();
		json_t *pm = port_mappings_json(c);
		if (json_array_size(pm))
			json_object_set_new(caps, "portMappings", pm);
		else
			json_decref(pm);
		cleanup_free char *cidr = cri_service_pod_cidr(svc);
		json_t *ranges = cni_ip_ranges(cidr);
		if (ranges)
			json_object_set_new(caps, "ipRanges", ranges);
		rt.capability_args = caps;
		if (cni_network_add(&cc, net, &rt, &result, &e) < 0) {
			ndl_error_wrap(&e, "RunPodSandbox: setup network for sandbox %s", id);
			goto fail_err;
		}
		cni_added = true;
		ips = result_ips(result);
	} else {
		ips = json_array();
	}

	/* The record: the request config as JSON (proto field names) plus
	 * what was created. */
	data = json_object();
	json_object_set_new(data, "id", json_string(id));
	json_object_set_new(data, "name", json_string(name));
	json_object_set_new(data, "state", json_integer(RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY));
	json_object_set_new(data, "created_at", json_integer(cri_now_ns()));
	json_object_set_new(data, "labels", cri_map_to_json(c->n_labels, c->labels));
	json_object_set_new(data, "annotations",
			    cri_map_to_json(c->n_annotations, c->annotations));
	json_object_set_new(data, "metadata",
			    json_pack("{s:s,s:s,s:s,s:I}", "name", c->metadata->name, "uid",
				      c->metadata->uid, "namespace", c->metadata->namespace_,
				      "attempt", (json_int_t)c->metadata->attempt));
	json_object_set_new(data, "config", cri_msg_to_json(&c->base));
	json_object_set_new(data, "hostname", json_string(hostname));
	json_object_set_new(data, "dir", json_string(dir));
	json_object_set_new(data, "namespace_modes",
			    json_pack("{s:i,s:i,s:i}", "network", modes[0], "pid", modes[1],
				      "ipc", modes[2]));
	{
		json_t *nsp = json_object();
		for (int i = 0; i < NS_COUNT; i++)
			if (job.want[i])
				json_object_set_new(nsp, ns_names[i], json_string(job.target[i]));
		json_object_set_new(data, "ns_paths", nsp);
	}
	if (netns_path)
		json_object_set_new(data, "netns", json_string(netns_path));
	if (init_pid > 0)
		json_object_set_new(data, "pid_init", json_integer(init_pid));
	json_object_set_new(data, "cgroup_parent",
			    json_string(lx && lx->cgroup_parent ? lx->cgroup_parent : ""));
	json_object_set_new(data, "log_directory",
			    json_string(c->log_directory ? c->log_directory : ""));
	json_object_set_new(data, "runtime_handler", json_string(""));
	json_object_set_new(data, "ips", ips);
	ips = NULL;
	if (net) {
		json_object_set_new(data, "cni_network", json_string(net->name));
		json_object_set_new(data, "cni_result", json_incref(result));
	}
	if (cri_store_add(svc->store, CRI_KIND_SANDBOX, data, NULL, &e) < 0)
		goto fail_err;

	log_info("sandbox ready", "id=%s name=%s ip=%s", id, name,
		 json_string_value(json_array_get(json_object_get(data, "ips"), 0))
		     ? json_string_value(json_array_get(json_object_get(data, "ips"), 0))
		     : "");
	{
		Runtime__V1__RunPodSandboxResponse resp = RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;
		resp.pod_sandbox_id = id;
		st = cri_reply_ok(r, &resp.base);
	}
	goto out;

fail_err:
	st = cri_reply_from_error(r, &e);
	ndl_error_clear(&e);
fail:
	/* Undo in reverse: network, mounts and files, the name. */
	if (cni_added) {
		json_t *tmp = json_pack("{s:s,s:s,s:o}", "id", id, "cni_network", net->name,
					"metadata",
					json_pack("{s:s,s:s,s:s}", "name", c->metadata->name, "uid",
						  c->metadata->uid, "namespace",
						  c->metadata->namespace_));
		if (netns_path)
			json_object_set_new(tmp, "netns", json_string(netns_path));
		if (sandbox_cni_del(svc, tmp, &e) < 0)
			log_warn("rollback: CNI DEL failed", "id=%s err=\"%s\"", id,
				 ndl_error_msg(&e));
		ndl_error_clear(&e);
		json_decref(tmp);
	}
	if (init_pid > 0)
		kill_pod_init(init_pid, job.target[NS_PID]);
	if (dir_made && sandbox_teardown_dir(svc, id, &e) < 0)
		log_warn("rollback: sandbox dir", "id=%s err=\"%s\"", id, ndl_error_msg(&e));
	ndl_error_clear(&e);
	cri_store_release_name(svc->store, name);
out:
	for (int i = 0; i < NS_COUNT; i++)
		free(job.target[i]);
	sysctls_free(sysctls, n_sysctls);
	cni_netconf_free(net);
	if (result)
		json_decref(result);
	if (ips)
		json_decref(ips);
	if (caps)
		json_decref(caps);
	if (data)
		json_decref(data);
	return st;
}

/* ---- Stop / Remove ---- */

/* Stop: containers are killed (the kubelet did the graceful part), the
 * network is torn down, the state becomes NOTREADY. Idempotent. */
int cri_sandbox_stop(struct cri_service *svc, struct cri_record *rec, ndl_error_t *err)
{
	if (cri_containers_stop_all(svc, rec->id, err) < 0)
		return -abs(err->code ? err->code : EIO);
	pthread_mutex_lock(&rec->lock);
	int rc = 0;
	/* The pod's init goes with the sandbox, as containerd stops pause. */
	json_t *ip = json_object_get(rec->data, "pid_init");
	const char *pin = json_string_value(json_object_get(json_object_get(rec->data, "ns_paths"), "pid"));
	if (ip && pin)
		kill_pod_init((pid_t)json_integer_value(ip), pin);
	if (json_object_get(rec->data, "cni_network") &&
	    !json_is_true(json_object_get(rec->data, "network_down"))) {
		rc = sandbox_cni_del(svc, rec->data, err);
		if (rc == 0)
			json_object_set_new(rec->data, "network_down", json_true());
	}
	if (rc == 0 && json_integer_value(json_object_get(rec->data, "state")) !=
			   RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY) {
		json_object_set_new(rec->data, "state",
				    json_integer(RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY));
		rc = cri_store_save(svc->store, rec, err);
	} else if (json_is_true(json_object_get(rec->data, "network_down"))) {
		ndl_error_t e = NDL_ERROR_INIT;
		cri_store_save(svc->store, rec, &e);
		ndl_error_clear(&e);
	}
	pthread_mutex_unlock(&rec->lock);
	return rc;
}

enum cri_status cri_h_stop_pod_sandbox(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__StopPodSandboxRequest *in = (const Runtime__V1__StopPodSandboxRequest *)req;
	if (!cri_nonempty(in->pod_sandbox_id))
		return cri_reply_required(r, "pod_sandbox_id");
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, in->pod_sandbox_id, &rec, &e) < 0) {
		ndl_error_wrap(&e, "an error occurred when try to find sandbox \"%s\"",
			       in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	int rc = cri_sandbox_stop(svc, rec, &e);
	cri_store_put(rec);
	if (rc < 0) {
		ndl_error_wrap(&e, "StopPodSandbox %s", in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	Runtime__V1__StopPodSandboxResponse resp = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

enum cri_status cri_h_remove_pod_sandbox(void *user, const ProtobufCMessage *req,
					 struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__RemovePodSandboxRequest *in =
	    (const Runtime__V1__RemovePodSandboxRequest *)req;
	Runtime__V1__RemovePodSandboxResponse resp = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;
	struct cri_record *rec = NULL;
	enum cri_status st = cri_get_for_remove(svc, CRI_KIND_SANDBOX, in->pod_sandbox_id,
						"pod_sandbox_id", &resp.base, r, &rec);
	if (st != CRI_OK || !rec)
		return st;
	ndl_error_t e = NDL_ERROR_INIT;
	int rc;
	/* Remove implies stop (containers killed, network down). */
	if (cri_sandbox_stop(svc, rec, &e) < 0 || cri_containers_remove_all(svc, rec->id, &e) < 0 ||
	    sandbox_teardown_dir(svc, rec->id, &e) < 0) {
		ndl_error_wrap(&e, "RemovePodSandbox %s", rec->id);
		cri_store_put(rec);
		return cri_reply_errno_msg(r, &e);
	}
	rc = cri_store_remove(svc->store, rec, &e);
	log_info("sandbox removed", "id=%s", rec->id);
	cri_store_put(rec);
	if (rc < 0)
		return cri_reply_errno_msg(r, &e);
	return cri_reply_ok(r, &resp.base);
}

/* ---- Status / List ---- */

static void metadata_fill(Runtime__V1__PodSandboxMetadata *m, const json_t *md)
{
	runtime__v1__pod_sandbox_metadata__init(m);
	m->name = (char *)json_string_value(json_object_get(md, "name"));
	m->uid = (char *)json_string_value(json_object_get(md, "uid"));
	m->namespace_ = (char *)json_string_value(json_object_get(md, "namespace"));
	m->attempt = (uint32_t)json_integer_value(json_object_get(md, "attempt"));
}

enum cri_status cri_h_pod_sandbox_status(void *user, const ProtobufCMessage *req,
					 struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__PodSandboxStatusRequest *in =
	    (const Runtime__V1__PodSandboxStatusRequest *)req;
	if (!cri_nonempty(in->pod_sandbox_id))
		return cri_reply_required(r, "pod_sandbox_id");
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, in->pod_sandbox_id, &rec, &e) < 0) {
		ndl_error_wrap(&e, "an error occurred when try to find sandbox \"%s\"",
			       in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	pthread_mutex_lock(&rec->lock);
	json_t *d = rec->data;
	Runtime__V1__PodSandboxMetadata md;
	metadata_fill(&md, json_object_get(d, "metadata"));
	Runtime__V1__PodSandboxStatus s = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
	s.id = rec->id;
	s.metadata = &md;
	s.state = (Runtime__V1__PodSandboxState)json_integer_value(json_object_get(d, "state"));
	s.created_at = json_integer_value(json_object_get(d, "created_at"));
	Runtime__V1__PodSandboxNetworkStatus ns = RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT;
	json_t *ips = json_object_get(d, "ips");
	size_t nips = json_array_size(ips);
	Runtime__V1__PodIP *pips = xcalloc(nips ? nips : 1, sizeof(*pips));
	Runtime__V1__PodIP **pipp = xcalloc(nips ? nips : 1, sizeof(*pipp));
	/* A stopped sandbox has no network: its IP is no longer reported
	 * (containerd keeps it; the kubelet ignores it then). We keep it too,
	 * as containerd, until removal. */
	ns.ip = nips ? (char *)json_string_value(json_array_get(ips, 0)) : (char *)"";
	for (size_t i = 1; i < nips; i++) {
		runtime__v1__pod_ip__init(&pips[i]);
		pips[i].ip = (char *)json_string_value(json_array_get(ips, i));
		pipp[i - 1] = &pips[i];
	}
	ns.n_additional_ips = nips > 1 ? nips - 1 : 0;
	ns.additional_ips = pipp;
	s.network = &ns;
	json_t *modes = json_object_get(d, "namespace_modes");
	Runtime__V1__NamespaceOption no = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	no.network = (Runtime__V1__NamespaceMode)json_integer_value(json_object_get(modes, "network"));
	no.pid = (Runtime__V1__NamespaceMode)json_integer_value(json_object_get(modes, "pid"));
	no.ipc = (Runtime__V1__NamespaceMode)json_integer_value(json_object_get(modes, "ipc"));
	Runtime__V1__Namespace nsm = RUNTIME__V1__NAMESPACE__INIT;
	nsm.options = &no;
	Runtime__V1__LinuxPodSandboxStatus ls = RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT;
	ls.namespaces = &nsm;
	s.linux = &ls;
	struct cri_kv labels, annos;
	cri_kv_fill(&labels, json_object_get(d, "labels"));
	cri_kv_fill(&annos, json_object_get(d, "annotations"));
	s.n_labels = labels.n;
	s.labels = labels.ptrs;
	s.n_annotations = annos.n;
	s.annotations = (Runtime__V1__PodSandboxStatus__AnnotationsEntry **)annos.ptrs;
	s.runtime_handler = (char *)json_string_value(json_object_get(d, "runtime_handler"));
	if (!s.runtime_handler)
		s.runtime_handler = (char *)"";
	Runtime__V1__PodSandboxStatusResponse resp = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;
	resp.status = &s;
	resp.timestamp = cri_now_ns();
	cleanup_free char *info_s = NULL;
	Runtime__V1__PodSandboxStatusResponse__InfoEntry ie;
	Runtime__V1__PodSandboxStatusResponse__InfoEntry *iep = &ie;
	if (in->verbose) {
		/* containerd's shape where it applies: one "info" JSON document. */
		cleanup_json json_t *info = json_object();
		json_object_set(info, "config", json_object_get(d, "config"));
		json_object_set_new(info, "netNamespacePath",
				    json_string(json_string_value(json_object_get(d, "netns"))
						    ? json_string_value(json_object_get(d, "netns"))
						    : ""));
		json_object_set(info, "namespacePaths", json_object_get(d, "ns_paths"));
		json_object_set_new(info, "netNamespaceClosed",
				    json_boolean(json_is_true(json_object_get(d, "network_down"))));
		json_t *cr = json_object_get(d, "cni_result");
		if (cr)
			json_object_set(info, "cniResult", cr);
		json_object_set(info, "cgroupParent", json_object_get(d, "cgroup_parent"));
		json_object_set(info, "hostname", json_object_get(d, "hostname"));
		json_object_set(info, "sandboxDir", json_object_get(d, "dir"));
		info_s = ndl_json_dumps(info, false);
		runtime__v1__pod_sandbox_status_response__info_entry__init(&ie);
		ie.key = (char *)"info";
		ie.value = info_s;
		resp.n_info = 1;
		resp.info = &iep;
	}
	enum cri_status st = cri_reply_ok(r, &resp.base);
	pthread_mutex_unlock(&rec->lock);
	cri_kv_free(&labels);
	cri_kv_free(&annos);
	free(pips);
	free(pipp);
	cri_store_put(rec);
	return st;
}

enum cri_status cri_h_list_pod_sandbox(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ListPodSandboxRequest *in =
	    (const Runtime__V1__ListPodSandboxRequest *)req;
	struct cri_filter f = {0};
	cleanup_json json_t *sel = NULL;
	if (in->filter)
		cri_filter_init(&f, &sel, in->filter->id, NULL, in->filter->state,
				in->filter->state ? in->filter->state->state : 0,
				in->filter->n_label_selector, in->filter->label_selector);
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_SANDBOX, &f, &list, &n);
	Runtime__V1__PodSandbox *items = xcalloc(n ? n : 1, sizeof(*items));
	Runtime__V1__PodSandbox **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	Runtime__V1__PodSandboxMetadata *mds = xcalloc(n ? n : 1, sizeof(*mds));
	struct cri_kv *kvs = xcalloc(n ? 2 * n : 1, sizeof(*kvs));
	for (size_t i = 0; i < n; i++)
		pthread_mutex_lock(&list[i]->lock);
	for (size_t i = 0; i < n; i++) {
		json_t *d = list[i]->data;
		runtime__v1__pod_sandbox__init(&items[i]);
		items[i].id = list[i]->id;
		metadata_fill(&mds[i], json_object_get(d, "metadata"));
		items[i].metadata = &mds[i];
		items[i].state =
		    (Runtime__V1__PodSandboxState)json_integer_value(json_object_get(d, "state"));
		items[i].created_at = json_integer_value(json_object_get(d, "created_at"));
		cri_kv_fill(&kvs[2 * i], json_object_get(d, "labels"));
		cri_kv_fill(&kvs[2 * i + 1], json_object_get(d, "annotations"));
		items[i].n_labels = kvs[2 * i].n;
		items[i].labels = (Runtime__V1__PodSandbox__LabelsEntry **)kvs[2 * i].ptrs;
		items[i].n_annotations = kvs[2 * i + 1].n;
		items[i].annotations =
		    (Runtime__V1__PodSandbox__AnnotationsEntry **)kvs[2 * i + 1].ptrs;
		const char *rh = json_string_value(json_object_get(d, "runtime_handler"));
		items[i].runtime_handler = (char *)(rh ? rh : "");
		ptrs[i] = &items[i];
	}
	Runtime__V1__ListPodSandboxResponse resp = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
	resp.n_items = n;
	resp.items = ptrs;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	cri_list_release(list, n, kvs);
	free(items);
	free(ptrs);
	free(mds);
	return st;
}

/* ---- startup: what a crash left without a record ---- */

/* A daemon killed inside RunPodSandbox leaves pins, mounts, a sandbox dir
 * and maybe a CNI attachment with no record: undo them (the record is
 * written last, so a dir without one never was a sandbox the kubelet knew). */
static void remove_orphan(struct cri_service *svc, const char *base, const char *id)
{
	ndl_error_t e = NDL_ERROR_INIT;
	/* A CNI attachment is known by its cache entry. */
	struct cni_config cc;
	cni_cfg_of(svc, &cc);
	cleanup_free char *rdir = xasprintf("%s/results", cc.cache_dir);
	cleanup_closedir DIR *rd = opendir(rdir);
	cleanup_free char *suffix = xasprintf("-%s-%s", id, POD_IFNAME);
	struct dirent *re;
	while (rd && (re = readdir(rd))) {
		size_t ln = strlen(re->d_name), ls = strlen(suffix);
		if (ln <= ls || strcmp(re->d_name + ln - ls, suffix) != 0)
			continue;
		cleanup_free char *net = xstrndup(re->d_name, ln - ls);
		cleanup_free char *nsp = xasprintf("%s/%s/ns/net", base, id);
		json_t *tmp = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", id, "cni_network", net,
					"netns", nsp, "metadata", "name", "", "uid", "", "namespace",
					"");
		if (sandbox_cni_del(svc, tmp, &e) < 0)
			log_warn("orphan sandbox: CNI DEL failed", "id=%s err=\"%s\"", id,
				 ndl_error_msg(&e));
		ndl_error_clear(&e);
		json_decref(tmp);
	}
	cleanup_free char *pin = xasprintf("%s/%s/ns/pid", base, id);
	/* The pod init, if one was made, is found by its namespace. */
	struct stat pst;
	if (stat(pin, &pst) == 0 && pst.st_dev != 0) {
		cleanup_closedir DIR *pd = opendir("/proc");
		struct dirent *pe;
		while (pd && (pe = readdir(pd))) {
			char *end = NULL;
			long pid = strtol(pe->d_name, &end, 10);
			if (*end || pid <= 1)
				continue;
			kill_pod_init((pid_t)pid, pin);
		}
	}
	if (sandbox_teardown_dir(svc, id, &e) < 0)
		log_warn("orphan sandbox: cleanup", "id=%s err=\"%s\"", id, ndl_error_msg(&e));
	else
		log_info("removed orphan sandbox", "id=%s", id);
	ndl_error_clear(&e);
}

void cri_sandboxes_gc(struct cri_service *svc)
{
	cleanup_free char *base = xasprintf("%s/sandboxes", svc->cfg->run_root);
	cri_gc_orphans(svc, CRI_KIND_SANDBOX, base, remove_orphan);
}
