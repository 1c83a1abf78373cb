/* Containers of nodelet-cri: CreateContainer turns the CRI ContainerConfig
 * and the image config into an OCI bundle (config.json + the overlay rootfs
 * mounted at <bundle>/rootfs) and starts a nodelet-shim, which runs
 * `nodelet-runtime create` and stays the parent of the container's init.
 * Start/kill/delete go through the nodelet-runtime CLI (a child process:
 * the daemon never enters a container namespace). Exits are read from the
 * shim's <state>/exit.json, watched with inotify to post events.
 *
 * Layout: <run-root>/containers/<id>/bundle/{config.json,rootfs},
 * <run-root>/s/<id>/{shim.pid,init.pid,exit.json,shim.sock}; the runtime's
 * own state is under <run-root>/runtime. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "cri/client/client.h"
#include "cri/images/images.h"
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

extern char **environ;

enum {
	C_CREATED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED,
	C_RUNNING = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING,
	C_EXITED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED,
	C_UNKNOWN = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN,
};

/* containerd's default capability set. */
static const char *default_caps[] = {
    "CAP_CHOWN",	"CAP_DAC_OVERRIDE", "CAP_FSETID",	    "CAP_FOWNER",
    "CAP_MKNOD",	"CAP_NET_RAW",	    "CAP_SETGID",	    "CAP_SETUID",
    "CAP_SETFCAP",	"CAP_SETPCAP",	    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",		"CAP_AUDIT_WRITE",  NULL};

/* In kernel bit order (the index is the capability number). */
static const char *all_caps[] = {
    "CAP_CHOWN",	      "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",	      "CAP_KILL",	    "CAP_SETGID",	   "CAP_SETUID",
    "CAP_SETPCAP",	      "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",	      "CAP_NET_RAW",	    "CAP_IPC_LOCK",	   "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",	      "CAP_SYS_RAWIO",	    "CAP_SYS_CHROOT",	   "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",	      "CAP_SYS_ADMIN",	    "CAP_SYS_BOOT",	   "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",	      "CAP_SYS_TIME",	    "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",	      "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",	      "CAP_MAC_ADMIN",	    "CAP_SYSLOG",	   "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",      "CAP_AUDIT_READ",	    "CAP_PERFMON",	   "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", NULL};

/* containerd's defaults for a non-privileged container. */
static const char *default_masked[] = {"/proc/acpi",	    "/proc/kcore",	"/proc/keys",
				       "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
				       "/proc/sched_debug", "/proc/scsi",	"/sys/firmware",
				       NULL};
static const char *default_readonly[] = {"/proc/asound", "/proc/bus",	   "/proc/fs",
					 "/proc/irq",	 "/proc/sys",	   "/proc/sysrq-trigger",
					 NULL};

/* ---- paths and helpers ---- */

static char *cdir(struct cri_service *svc, const char *id, const char *sub)
{
	return xasprintf("%s/containers/%s%s%s", svc->cfg->run_root, id, sub ? "/" : "",
			 sub ? sub : "");
}

/* The shim's state dir, <run-root>/s/<id>: short, because the shim's
 * control socket lives there and a unix socket path has 108 bytes. */
static char *spath(struct cri_service *svc, const char *id, const char *file)
{
	return xasprintf("%s/s/%s%s%s", svc->cfg->run_root, id, file ? "/" : "", file ? file : "");
}

static char *runtime_root(struct cri_service *svc)
{
	return xasprintf("%s/runtime", svc->cfg->run_root);
}

/* A binary installed beside nodelet-cri. */
static char *sibling_bin(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return xstrdup(name);
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	return xasprintf("%s/%s", self, name);
}

/* Run argv, capturing stdout+stderr (at most 64 KiB). Returns the exit
 * status (0..255), or a negative errno with err set; timeout_ms 0: none. */
static int run_tool(char *const argv[], char **ret_out, int timeout_ms, ndl_error_t *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ndl_error_set(err, errno, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		return ndl_error_set(err, rc, "run %s", argv[0]);
	}
	size_t cap = 65536, len = 0;
	char *out = xmalloc(cap + 1);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool timed_out = false;
	for (;;) {
		int wait_ms = -1;
		if (timeout_ms > 0) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			wait_ms = el >= timeout_ms ? 0 : (int)(timeout_ms - el);
		}
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		char buf[4096];
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n < cap - len ? (size_t)n : cap - len;
		memcpy(out + len, buf, take);
		len += take;
	}
	close(p[0]);
	out[len] = 0;
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		free(out);
		return ndl_error_setf(err, ETIMEDOUT, "%s timed out after %d ms", argv[0],
				      timeout_ms);
	}
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = 0;
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* nodelet-runtime --root R <args...> */
static int runtime_cmd(struct cri_service *svc, ndl_error_t *err, const char *a1, const char *a2,
		       const char *a3, const char *a4)
{
	cleanup_free char *bin = sibling_bin("nodelet-runtime");
	cleanup_free char *root = runtime_root(svc);
	char *argv[] = {bin, (char *)"--root", root, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			NULL};
	cleanup_free char *out = NULL;
	int rc = run_tool(argv, &out, 30000, err);
	if (rc < 0)
		return rc;
	if (rc != 0)
		return ndl_error_setf(err, EIO, "nodelet-runtime %s failed: %s", a1,
				      out && *out ? out : "(no output)");
	return 0;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void append_strv(json_t *a, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
}

static size_t nullv_len(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* ---- users from the image's /etc/passwd and /etc/group ---- */

struct user_info {
	uint32_t uid, gid;
	char name[256];
	bool found;
};

/* Look up by name (name != NULL) or uid in <rootfs>/etc/passwd. */
static bool passwd_lookup(const char *rootfs, const char *name, uint32_t uid, struct user_info *u)
{
	cleanup_free char *path = xasprintf("%s/etc/passwd", rootfs);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL;
		char *n = strtok_r(line, ":", &save);
		strtok_r(NULL, ":", &save);
		char *us = strtok_r(NULL, ":", &save);
		char *gs = strtok_r(NULL, ":", &save);
		if (!n || !us || !gs)
			continue;
		uint32_t lu = (uint32_t)strtoul(us, NULL, 10);
		if (name ? strcmp(n, name) == 0 : lu == uid) {
			u->uid = lu;
			u->gid = (uint32_t)strtoul(gs, NULL, 10);
			snprintf(u->name, sizeof(u->name), "%s", n);
			u->found = true;
			return true;
		}
	}
	return false;
}

static bool group_lookup(const char *rootfs, const char *name, uint32_t *gid)
{
	cleanup_free char *path = xasprintf("%s/etc/group", rootfs);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL;
		char *n = strtok_r(line, ":", &save);
		strtok_r(NULL, ":", &save);
		char *gs = strtok_r(NULL, ":", &save);
		if (n && gs && strcmp(n, name) == 0) {
			*gid = (uint32_t)strtoul(gs, NULL, 10);
			return true;
		}
	}
	return false;
}

/* Groups of /etc/group listing user as a member (additional gids). */
static void member_groups(const char *rootfs, const char *user, json_t *gids)
{
	if (!user || !*user)
		return;
	cleanup_free char *path = xasprintf("%s/etc/group", rootfs);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *save = NULL;
		strtok_r(line, ":", &save);
		strtok_r(NULL, ":", &save);
		char *gs = strtok_r(NULL, ":", &save);
		char *mem = strtok_r(NULL, ":", &save);
		if (!gs || !mem)
			continue;
		char *s2 = NULL;
		for (char *m = strtok_r(mem, ",", &s2); m; m = strtok_r(NULL, ",", &s2))
			if (strcmp(m, user) == 0)
				json_array_append_new(gids, json_integer(strtoul(gs, NULL, 10)));
	}
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The process user: run_as_username > run_as_user > image User, then
 * run_as_group, supplemental groups. Names resolve in the image's files. */
static int resolve_user(const char *rootfs, const Runtime__V1__LinuxContainerSecurityContext *sc,
			const char *image_user, json_t **ret, ndl_error_t *err)
{
	struct user_info u = {0};
	cleanup_free char *group_part = NULL;
	/* A group alone would silently run as root's uid: containerd refuses
	 * it, and critest checks that CreateContainer fails. */
	if (sc && sc->run_as_group && !sc->run_as_user &&
	    !(sc->run_as_username && *sc->run_as_username))
		return ndl_error_setf(err, EINVAL,
				      "field \"linux.security_context.run_as_group\": user group %lld "
				      "is specified without user (run_as_user or run_as_username)",
				      (long long)sc->run_as_group->value);
	if (sc && sc->run_as_username && *sc->run_as_username) {
		if (!passwd_lookup(rootfs, sc->run_as_username, 0, &u))
			return ndl_error_setf(
			    err, EINVAL,
			    "field \"linux.security_context.run_as_username\": user \"%s\" not "
			    "found in the image's /etc/passwd",
			    sc->run_as_username);
	} else if (sc && sc->run_as_user) {
		u.uid = (uint32_t)sc->run_as_user->value;
		if (!passwd_lookup(rootfs, NULL, u.uid, &u))
			u.gid = 0;
		u.uid = (uint32_t)sc->run_as_user->value;
	} else if (image_user && *image_user) {
		cleanup_free char *us = xstrdup(image_user);
		char *colon = strchr(us, ':');
		if (colon) {
			*colon = 0;
			group_part = xstrdup(colon + 1);
		}
		if (all_digits(us)) {
			u.uid = (uint32_t)strtoul(us, NULL, 10);
			if (!passwd_lookup(rootfs, NULL, u.uid, &u))
				u.gid = 0;
			u.uid = (uint32_t)strtoul(us, NULL, 10);
		} else if (!passwd_lookup(rootfs, us, 0, &u)) {
			return ndl_error_setf(err, EINVAL,
					      "image user \"%s\": not found in the image's "
					      "/etc/passwd",
					      image_user);
		}
		if (group_part && *group_part) {
			if (all_digits(group_part))
				u.gid = (uint32_t)strtoul(group_part, NULL, 10);
			else if (!group_lookup(rootfs, group_part, &u.gid))
				return ndl_error_setf(err, EINVAL,
						      "image user \"%s\": group \"%s\" not found in "
						      "the image's /etc/group",
						      image_user, group_part);
		}
	} else {
		passwd_lookup(rootfs, NULL, 0, &u);
		u.uid = 0;
		u.gid = 0;
	}
	if (sc && sc->run_as_group)
		u.gid = (uint32_t)sc->run_as_group->value;
	json_t *gids = json_array();
	member_groups(rootfs, u.found ? u.name : NULL, gids);
	for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++)
		json_array_append_new(gids, json_integer(sc->supplemental_groups[i]));
	json_t *user = json_pack("{s:I,s:I}", "uid", (json_int_t)u.uid, "gid", (json_int_t)u.gid);
	if (json_array_size(gids))
		json_object_set_new(user, "additionalGids", gids);
	else
		json_decref(gids);
	*ret = user;
	return 0;
}

/* ---- capabilities ---- */

static bool cap_eq(const char *a, const char *b)
{
	/* The kubelet sends "NET_ADMIN"; the OCI spec wants "CAP_NET_ADMIN". */
	if (strncasecmp(a, "CAP_", 4) == 0)
		a += 4;
	if (strncasecmp(b, "CAP_", 4) == 0)
		b += 4;
	return strcasecmp(a, b) == 0;
}

static json_t *capabilities(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
	json_t *caps = json_array();
	const char **base = sc && sc->privileged ? all_caps : default_caps;
	const Runtime__V1__Capability *c = sc ? sc->capabilities : NULL;
	bool drop_all = false, add_all = false;
	for (size_t i = 0; c && i < c->n_drop_capabilities; i++)
		drop_all |= strcasecmp(c->drop_capabilities[i], "ALL") == 0;
	for (size_t i = 0; c && i < c->n_add_capabilities; i++)
		add_all |= strcasecmp(c->add_capabilities[i], "ALL") == 0;
	if (add_all)
		base = all_caps;
	/* "All" means all this process has (containerd's
	 * WithAllCurrentCapabilities): a capability missing from our bounding
	 * set (e.g. CAP_SYS_RESOURCE on hosts that drop it) cannot be granted. */
	uint64_t bnd = ~0ULL;
	if (base == all_caps) {
		cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
		char line[256];
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "CapBnd:", 7) == 0)
				bnd = strtoull(line + 7, NULL, 16);
	}
	if (!drop_all || add_all || (sc && sc->privileged))
		for (const char **p = base; *p; p++)
			if (base != all_caps || (bnd >> (p - all_caps)) & 1)
				json_array_append_new(caps, json_string(*p));
	for (size_t i = 0; c && !add_all && i < c->n_add_capabilities; i++) {
		bool have = false;
		size_t k;
		json_t *v;
		json_array_foreach(caps, k, v)
		{
			have |= cap_eq(json_string_value(v), c->add_capabilities[i]);
		}
		if (!have) {
			const char *n = c->add_capabilities[i];
			json_array_append_new(caps, strncasecmp(n, "CAP_", 4) == 0
							? json_string(n)
							: json_sprintf("CAP_%s", n));
		}
	}
	if (!(sc && sc->privileged)) {
		for (size_t i = 0; c && i < c->n_drop_capabilities; i++) {
			for (size_t k = 0; k < json_array_size(caps);) {
				if (cap_eq(json_string_value(json_array_get(caps, k)),
					   c->drop_capabilities[i]))
					json_array_remove(caps, k);
				else
					k++;
			}
		}
	}
	return json_pack("{s:O,s:O,s:o}", "bounding", caps, "effective", caps, "permitted", caps);
}

/* ---- the spec ---- */

static json_t *mnt(const char *dst, const char *type, const char *src, const char *opts)
{
	json_t *o = json_array();
	cleanup_free char *copy = xstrdup(opts);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(o, json_string(t));
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "type", type, "source", src,
			 "options", o);
}

static bool has_mount(const json_t *mounts, const char *dst)
{
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		const char *d = json_string_value(json_object_get(m, "destination"));
		if (d && strcmp(d, dst) == 0)
			return true;
	}
	return false;
}

static int add_device(json_t *devs, json_t *allow, const Runtime__V1__Device *d, ndl_error_t *err)
{
	struct stat st;
	if (stat(d->host_path, &st) < 0)
		return ndl_error_set(err, errno, "field \"devices\": host_path \"%s\"", d->host_path);
	const char *type = S_ISCHR(st.st_mode) ? "c" : S_ISBLK(st.st_mode) ? "b" : NULL;
	if (!type)
		return ndl_error_setf(err, EINVAL, "field \"devices\": \"%s\" is not a device",
				      d->host_path);
	const char *cp = d->container_path && *d->container_path ? d->container_path : d->host_path;
	json_array_append_new(devs, json_pack("{s:s,s:s,s:I,s:I,s:i,s:I,s:I}", "path", cp, "type",
					      type, "major", (json_int_t)major(st.st_rdev), "minor",
					      (json_int_t)minor(st.st_rdev), "fileMode",
					      (int)(st.st_mode & 07777), "uid", (json_int_t)st.st_uid,
					      "gid", (json_int_t)st.st_gid));
	json_array_append_new(allow, json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type", type,
					       "major", (json_int_t)major(st.st_rdev), "minor",
					       (json_int_t)minor(st.st_rdev), "access",
					       d->permissions && *d->permissions ? d->permissions
										 : "rwm"));
	return 0;
}

/* Privileged containers get every device node of the host, as containerd
 * does (its HostDevices: /dev recursively, minus the pseudo filesystems the
 * spec mounts itself). The device cgroup already allows everything. */
static _Thread_local json_t *host_devs;

static int host_dev_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D) {
		static const char *skip[] = {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", NULL};
		for (const char **p = skip; *p; p++)
			if (strcmp(path, *p) == 0)
				return FTW_SKIP_SUBTREE;
		return FTW_CONTINUE;
	}
	if (flag != FTW_F || !(S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)))
		return FTW_CONTINUE;
	/* /dev/console and the standard nodes are the runtime's own. */
	if (strcmp(path, "/dev/console") == 0 || strcmp(path, "/dev/ptmx") == 0)
		return FTW_CONTINUE;
	size_t i;
	json_t *d;
	json_array_foreach(host_devs, i, d)
	{
		/* A device the config asked for keeps its own entry. */
		if (strcmp(json_string_value(json_object_get(d, "path")), path) == 0)
			return FTW_CONTINUE;
	}
	json_array_append_new(host_devs,
			      json_pack("{s:s,s:s,s:I,s:I,s:i,s:I,s:I}", "path", path, "type",
					S_ISCHR(st->st_mode) ? "c" : "b", "major",
					(json_int_t)major(st->st_rdev), "minor",
					(json_int_t)minor(st->st_rdev), "fileMode",
					(int)(st->st_mode & 07777), "uid", (json_int_t)st->st_uid,
					"gid", (json_int_t)st->st_gid));
	return FTW_CONTINUE;
}

static void add_host_devices(json_t *devs)
{
	host_devs = devs;
	nftw("/dev", host_dev_visit, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	host_devs = NULL;
}

static json_t *resources_json(const Runtime__V1__LinuxContainerResources *r, json_t *devices)
{
	json_t *res = json_object();
	json_object_set_new(res, "devices", devices);
	if (!r)
		return res;
	json_t *cpu = json_object();
	if (r->cpu_shares)
		json_object_set_new(cpu, "shares", json_integer(r->cpu_shares));
	if (r->cpu_quota)
		json_object_set_new(cpu, "quota", json_integer(r->cpu_quota));
	if (r->cpu_period)
		json_object_set_new(cpu, "period", json_integer(r->cpu_period));
	if (r->cpuset_cpus && *r->cpuset_cpus)
		json_object_set_new(cpu, "cpus", json_string(r->cpuset_cpus));
	if (r->cpuset_mems && *r->cpuset_mems)
		json_object_set_new(cpu, "mems", json_string(r->cpuset_mems));
	if (json_object_size(cpu))
		json_object_set_new(res, "cpu", cpu);
	else
		json_decref(cpu);
	json_t *mem = json_object();
	if (r->memory_limit_in_bytes)
		json_object_set_new(mem, "limit", json_integer(r->memory_limit_in_bytes));
	if (r->memory_swap_limit_in_bytes)
		json_object_set_new(mem, "swap", json_integer(r->memory_swap_limit_in_bytes));
	if (json_object_size(mem))
		json_object_set_new(res, "memory", mem);
	else
		json_decref(mem);
	if (r->n_hugepage_limits) {
		json_t *hp = json_array();
		for (size_t i = 0; i < r->n_hugepage_limits; i++)
			json_array_append_new(hp, json_pack("{s:s,s:I}", "pageSize",
							    r->hugepage_limits[i]->page_size,
							    "limit",
							    (json_int_t)r->hugepage_limits[i]->limit));
		json_object_set_new(res, "hugepageLimits", hp);
	}
	if (r->n_unified) {
		json_t *u = json_object();
		for (size_t i = 0; i < r->n_unified; i++)
			json_object_set_new(u, r->unified[i]->key, json_string(r->unified[i]->value));
		json_object_set_new(res, "unified", u);
	}
	return res;
}

struct spec_in {
	const Runtime__V1__ContainerConfig *c;
	const struct image_info *img;
	const json_t *sandbox; /* sandbox record data */
	const char *id;
	const char *rootfs; /* mounted, for user lookup */
};

static int build_spec(struct cri_service *svc, const struct spec_in *in, json_t **ret,
		      ndl_error_t *err)
{
	const Runtime__V1__ContainerConfig *c = in->c;
	const Runtime__V1__LinuxContainerConfig *lx = c->linux;
	const Runtime__V1__LinuxContainerSecurityContext *sc = lx ? lx->security_context : NULL;
	const struct image_config *ic = &in->img->config;
	bool priv = sc && sc->privileged;

	/* Kubernetes: command replaces Entrypoint, args replace Cmd; Cmd is
	 * dropped when only command is given. */
	json_t *args = json_array();
	if (c->n_command) {
		append_strv(args, c->command, c->n_command);
		append_strv(args, c->args, c->n_args);
	} else {
		append_strv(args, ic->entrypoint, nullv_len(ic->entrypoint));
		if (c->n_args)
			append_strv(args, c->args, c->n_args);
		else
			append_strv(args, ic->cmd, nullv_len(ic->cmd));
	}
	if (json_array_size(args) == 0) {
		json_decref(args);
		return ndl_error_setf(err, EINVAL,
				      "no command specified: neither config.command/args nor the "
				      "image's Entrypoint/Cmd");
	}

	/* env: image, HOSTNAME, then the config (later keys win). */
	json_t *env = json_array();
	const char *hostname = json_string_value(json_object_get(in->sandbox, "hostname"));
	cleanup_json json_t *envmap = json_object();
	cleanup_json json_t *order = json_array();
#define PUT_ENV(k, v)                                                                              \
	do {                                                                                       \
		if (!json_object_get(envmap, k))                                                   \
			json_array_append_new(order, json_string(k));                             \
		json_object_set_new(envmap, k, json_string(v));                                   \
	} while (0)
	for (char **e = ic->env; e && *e; e++) {
		cleanup_free char *k = xstrdup(*e);
		char *eq = strchr(k, '=');
		const char *v = "";
		if (eq) {
			*eq = 0;
			v = eq + 1;
		}
		PUT_ENV(k, v);
	}
	if (hostname)
		PUT_ENV("HOSTNAME", hostname);
	for (size_t i = 0; i < c->n_envs; i++)
		PUT_ENV(c->envs[i]->key, c->envs[i]->value ? c->envs[i]->value : "");
#undef PUT_ENV
	size_t k;
	json_t *kv;
	json_array_foreach(order, k, kv)
	{
		const char *key = json_string_value(kv);
		json_array_append_new(env, json_sprintf("%s=%s", key,
							json_string_value(json_object_get(envmap, key))));
	}

	json_t *user = NULL;
	if (resolve_user(in->rootfs, sc, ic->user, &user, err) < 0) {
		json_decref(args);
		json_decref(env);
		return -abs(err->code);
	}
	const char *cwd = c->working_dir && *c->working_dir ? c->working_dir
			  : ic->working_dir && *ic->working_dir ? ic->working_dir
								: "/";
	/* With tty the shim receives the pty master (--console-socket). */
	json_t *process = json_pack("{s:b,s:o,s:o,s:o,s:s,s:o,s:b}", "terminal", c->tty, "user", user,
				    "args", args, "env", env, "cwd", cwd, "capabilities",
				    capabilities(sc), "noNewPrivileges", sc && sc->no_new_privs);
	if (lx && lx->resources && lx->resources->oom_score_adj)
		json_object_set_new(process, "oomScoreAdj",
				    json_integer(lx->resources->oom_score_adj));

	/* Mounts: the kernel filesystems, the pod's files, then the CRI ones
	 * (which win on the same destination). */
	json_t *mounts = json_array();
	const char *sdir = json_string_value(json_object_get(in->sandbox, "dir"));
	cleanup_free char *hosts = xasprintf("%s/hosts", sdir);
	cleanup_free char *resolv = xasprintf("%s/resolv.conf", sdir);
	cleanup_free char *hname = xasprintf("%s/hostname", sdir);
	cleanup_free char *shm = xasprintf("%s/shm", sdir);
	bool bidirectional = false;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		if (!m->container_path || !*m->container_path || !m->host_path || !*m->host_path) {
			json_decref(mounts);
			json_decref(process);
			return ndl_error_setf(err, EINVAL,
					      "field \"mounts[%zu]\": container_path and host_path "
					      "are required",
					      i);
		}
		if (m->n_uidmappings || m->n_gidmappings) {
			json_decref(mounts);
			json_decref(process);
			return ndl_error_setf(err, EINVAL,
					      "field \"mounts[%zu]\": id-mapped mounts are not "
					      "supported by nodelet-cri",
					      i);
		}
		struct stat st;
		if (stat(m->host_path, &st) < 0) {
			/* containerd creates a missing host directory. */
			ndl_error_t e2 = NDL_ERROR_INIT;
			if (ndl_mkdir_p(m->host_path, 0755, &e2) < 0) {
				json_decref(mounts);
				json_decref(process);
				*err = e2;
				return ndl_error_wrap(err, "field \"mounts[%zu].host_path\"", i);
			}
		}
		const char *prop = m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL
				       ? "rshared"
				   : m->propagation ==
					   RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER
				       ? "rslave"
				       : "rprivate";
		if (m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL)
			bidirectional = true;
		cleanup_free char *opts = xasprintf("rbind,%s,%s", prop, m->readonly ? "ro" : "rw");
		json_array_append_new(mounts, mnt(m->container_path, "bind", m->host_path, opts));
	}
	json_t *all = json_array();
	json_array_append_new(all, mnt("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(all, mnt("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(all, mnt("/dev/pts", "devpts", "devpts",
				       "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(all, mnt("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
	json_array_append_new(all, mnt("/sys", "sysfs", "sysfs",
				       priv ? "nosuid,noexec,nodev,rw" : "nosuid,noexec,nodev,ro"));
	json_array_append_new(all, mnt("/sys/fs/cgroup", "cgroup", "cgroup",
				       priv ? "nosuid,noexec,nodev,relatime,rw"
					    : "nosuid,noexec,nodev,relatime,ro"));
	const json_t *modes = json_object_get(in->sandbox, "namespace_modes");
	bool host_ipc = json_integer_value(json_object_get(modes, "ipc")) ==
			RUNTIME__V1__NAMESPACE_MODE__NODE;
	struct {
		const char *dst, *src;
	} pod_files[] = {{"/etc/hosts", hosts}, {"/etc/resolv.conf", resolv},
			 {"/etc/hostname", hname}, {"/dev/shm", host_ipc ? "/dev/shm" : shm}};
	for (size_t i = 0; i < 4; i++)
		if (!has_mount(mounts, pod_files[i].dst))
			json_array_append_new(all, mnt(pod_files[i].dst, "bind", pod_files[i].src,
						       "rbind,rprivate,rw"));
	json_array_extend(all, mounts);
	json_decref(mounts);

	/* Namespaces: the pod's pinned ones by path, a new mount ns, and a new
	 * pid ns unless the pod shares one (or the host's). */
	const json_t *nsp = json_object_get(in->sandbox, "ns_paths");
	json_t *nss = json_array();
	json_array_append_new(nss, json_pack("{s:s}", "type", "mount"));
	const char *types[][2] = {{"net", "network"}, {"ipc", "ipc"}, {"uts", "uts"}, {"pid", "pid"}};
	int pidmode = (int)json_integer_value(json_object_get(modes, "pid"));
	const Runtime__V1__NamespaceOption *cno = sc ? sc->namespace_options : NULL;
	if (cno)
		pidmode = cno->pid;
	for (int i = 0; i < 4; i++) {
		const char *p = json_string_value(json_object_get(nsp, types[i][0]));
		if (i == 3) {
			if (pidmode == RUNTIME__V1__NAMESPACE_MODE__NODE)
				continue;
			if (pidmode == RUNTIME__V1__NAMESPACE_MODE__TARGET) {
				/* Ephemeral debug containers: the target container's
				 * pid namespace, through its init. */
				const char *tid = cno && cno->target_id ? cno->target_id : "";
				cleanup_free char *pidf = spath(svc, tid, "init.pid");
				cleanup_free char *pb = NULL;
				size_t pl = 0;
				long tp = 0;
				if (!*tid || strchr(tid, '/') ||
				    ndl_read_file(pidf, 64, &pb, &pl, NULL) < 0 ||
				    (tp = strtol(pb, NULL, 10)) <= 0) {
					json_decref(nss);
					json_decref(all);
					json_decref(process);
					return ndl_error_setf(
					    err, ENOENT,
					    "field \"linux.security_context.namespace_options."
					    "target_id\": container \"%s\" not found or not running",
					    tid);
				}
				cleanup_free char *tpath = xasprintf("/proc/%ld/ns/pid", tp);
				json_array_append_new(nss, json_pack("{s:s,s:s}", "type", "pid",
								     "path", tpath));
				continue;
			}
			if (pidmode == RUNTIME__V1__NAMESPACE_MODE__POD && p)
				json_array_append_new(nss, json_pack("{s:s,s:s}", "type", "pid",
								     "path", p));
			else
				json_array_append_new(nss, json_pack("{s:s}", "type", "pid"));
			continue;
		}
		if (p)
			json_array_append_new(nss, json_pack("{s:s,s:s}", "type", types[i][1],
							     "path", p));
	}

	json_t *devs = json_array();
	json_t *allow = json_array();
	json_array_append_new(allow, json_pack("{s:b,s:s}", "allow", priv ? 1 : 0, "access", "rwm"));
	for (size_t i = 0; i < c->n_devices; i++)
		if (add_device(devs, allow, c->devices[i], err) < 0) {
			json_decref(devs);
			json_decref(allow);
			json_decref(nss);
			json_decref(all);
			json_decref(process);
			return -abs(err->code);
		}
	if (priv)
		add_host_devices(devs);
	const char *parent = json_string_value(json_object_get(in->sandbox, "cgroup_parent"));
	cleanup_free char *cgpath = xasprintf("%s/%s", parent && *parent ? parent : "", in->id);
	json_t *linux = json_pack("{s:o,s:s,s:o,s:o}", "namespaces", nss, "cgroupsPath", cgpath,
				  "resources",
				  resources_json(lx ? lx->resources : NULL, allow), "devices", devs);
	/* As containerd: a bidirectional mount needs the container's root
	 * mount shared, else its mounts never propagate back to the host (the
	 * runtime's default, rslave, covers host-to-container). */
	if (bidirectional)
		json_object_set_new(linux, "rootfsPropagation", json_string("rshared"));
	if (!priv) {
		json_t *masked, *ro;
		if (sc && (sc->n_masked_paths || sc->n_readonly_paths)) {
			masked = strv_json(sc->masked_paths, sc->n_masked_paths);
			ro = strv_json(sc->readonly_paths, sc->n_readonly_paths);
		} else {
			masked = strv_json((char **)default_masked, nullv_len((char **)default_masked));
			ro = strv_json((char **)default_readonly,
				       nullv_len((char **)default_readonly));
		}
		json_object_set_new(linux, "maskedPaths", masked);
		json_object_set_new(linux, "readonlyPaths", ro);
	}
	/* Seccomp: Unconfined (or no profile) -> none; Localhost -> the file;
	 * RuntimeDefault -> containerd's default profile. */
	if (cno && cno->userns_options &&
	    cno->userns_options->mode != RUNTIME__V1__NAMESPACE_MODE__NODE) {
		json_decref(linux);
		json_decref(all);
		json_decref(process);
		return ndl_error_setf(err, EINVAL,
				      "field \"linux.security_context.namespace_options.userns_options."
				      "mode\": user namespaces are not supported by nodelet-cri");
	}
	const Runtime__V1__SecurityProfile *sp = sc ? sc->seccomp : NULL;
	if (sp && !priv) {
		if (sp->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost) {
			const char *ref = sp->localhost_ref ? sp->localhost_ref : "";
			json_t *prof = NULL;
			if (ndl_json_load_file(ref, &prof, err) < 0) {
				json_decref(linux);
				json_decref(all);
				json_decref(process);
				return ndl_error_wrap(err, "field \"linux.security_context.seccomp."
							   "localhost_ref\"");
			}
			json_object_set_new(linux, "seccomp", prof);
		} else if (sp->profile_type ==
			   RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault) {
			const json_t *caps = json_object_get(process, "capabilities");
			json_object_set_new(linux, "seccomp",
					    cri_seccomp_default_profile(json_object_get(caps, "bounding")));
		}
	}
	json_t *spec = json_pack("{s:s,s:o,s:{s:s,s:b},s:o,s:o}", "ociVersion", "1.0.2", "process",
				 process, "root", "path", "rootfs", "readonly",
				 sc && sc->readonly_rootfs, "mounts", all, "linux", linux);
	json_t *annos = json_object();
	for (size_t i = 0; i < c->n_annotations; i++)
		json_object_set_new(annos, c->annotations[i]->key,
				    json_string(c->annotations[i]->value));
	json_object_set_new(annos, "io.kubernetes.cri.container-type", json_string("container"));
	json_object_set_new(annos, "io.kubernetes.cri.sandbox-id",
			    json_string(json_string_value(json_object_get(in->sandbox, "id"))));
	json_object_set_new(spec, "annotations", annos);
	*ret = spec;
	return 0;
}

/* ---- events and exit watching ---- */

static const char *jstr(const json_t *d, const char *k);

/* A unary handler called in-process; the packed reply unpacked again. */
static ProtobufCMessage *call_local(cri_unary_fn fn, struct cri_service *svc,
				    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd)
{
	struct cri_reply rr = {0};
	ProtobufCMessage *m = NULL;
	if (fn(svc, req, &rr) == CRI_OK)
		m = protobuf_c_message_unpack(rd, NULL, rr.len, rr.data);
	free(rr.data);
	free(rr.message);
	return m;
}

/* An event as containerd sends it: the container, the pod's status and
 * the statuses of every container of the pod (the kubelet's evented PLEG
 * updates its cache from these). sandbox_id: NULL to look it up. */
static void post_event(struct cri_service *svc, const char *id, const char *sandbox_id, int type)
{
	if (!svc->rpc)
		return;
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	ev.container_id = (char *)id;
	ev.container_event_type = (Runtime__V1__ContainerEventType)type;
	ev.created_at = cri_now_ns();
	char sid[CRI_ID_LEN + 1] = "";
	if (sandbox_id) {
		snprintf(sid, sizeof(sid), "%s", sandbox_id);
	} else {
		struct cri_record *rec = NULL;
		if (cri_store_get(svc->store, CRI_KIND_CONTAINER, id, &rec, NULL) == 0) {
			pthread_mutex_lock(&rec->lock);
			snprintf(sid, sizeof(sid), "%s",
				 jstr(rec->data, "pod_sandbox_id"));
			pthread_mutex_unlock(&rec->lock);
			cri_store_put(rec);
		}
	}
	ProtobufCMessage *psr = NULL;
	ProtobufCMessage **csrs = NULL;
	Runtime__V1__ContainerStatus **sts = NULL;
	size_t n = 0;
	if (*sid) {
		Runtime__V1__PodSandboxStatusRequest pq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
		pq.pod_sandbox_id = sid;
		psr = call_local(cri_h_pod_sandbox_status, svc, &pq.base,
				 &runtime__v1__pod_sandbox_status_response__descriptor);
		if (psr)
			ev.pod_sandbox_status = ((Runtime__V1__PodSandboxStatusResponse *)psr)->status;
		struct cri_filter f = {.pod_sandbox_id = sid};
		struct cri_record **list = NULL;
		size_t cnt = 0;
		cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &cnt);
		csrs = xcalloc(cnt + 1, sizeof(*csrs));
		sts = xcalloc(cnt + 1, sizeof(*sts));
		for (size_t i = 0; i < cnt; i++) {
			Runtime__V1__ContainerStatusRequest cq =
			    RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
			cq.container_id = list[i]->id;
			ProtobufCMessage *m =
			    call_local(cri_h_container_status, svc, &cq.base,
				       &runtime__v1__container_status_response__descriptor);
			if (m && ((Runtime__V1__ContainerStatusResponse *)m)->status) {
				csrs[n] = m;
				sts[n++] = ((Runtime__V1__ContainerStatusResponse *)m)->status;
			} else if (m) {
				protobuf_c_message_free_unpacked(m, NULL);
			}
		}
		cri_store_list_free(list, cnt);
		ev.n_containers_statuses = n;
		ev.containers_statuses = sts;
	}
	cri_service_post_event(svc, &ev);
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(csrs[i], NULL);
	free(csrs);
	free(sts);
	if (psr)
		protobuf_c_message_free_unpacked(psr, NULL);
}

/* Read <state>/exit.json into the record (caller holds rec->lock). Returns
 * true when the record changed to EXITED. */
static bool absorb_exit(struct cri_service *svc, struct cri_record *rec)
{
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	if (state == C_EXITED)
		return false;
	cleanup_free char *path = spath(svc, rec->id, "exit.json");
	json_t *ex = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (!ndl_path_exists(path) || ndl_json_load_file(path, &ex, &e) < 0) {
		ndl_error_clear(&e);
		return false;
	}
	int code = (int)json_integer_value(json_object_get(ex, "exit_code"));
	bool oom = json_is_true(json_object_get(ex, "oom_killed"));
	json_object_set_new(rec->data, "state", json_integer(C_EXITED));
	json_object_set_new(rec->data, "exit_code", json_integer(code));
	json_object_set(rec->data, "finished_at", json_object_get(ex, "finished_at"));
	json_object_set_new(rec->data, "reason",
			    json_string(oom ? "OOMKilled" : code == 0 ? "Completed" : "Error"));
	json_decref(ex);
	if (cri_store_save(svc->store, rec, &e) < 0)
		log_warn("container exit not persisted", "id=%s err=\"%s\"", rec->id,
			 ndl_error_msg(&e));
	ndl_error_clear(&e);
	log_info("container exited", "id=%s exit_code=%d oom=%d", rec->id, code, oom);
	return true;
}

static void refresh(struct cri_service *svc, struct cri_record *rec)
{
	pthread_mutex_lock(&rec->lock);
	bool changed = absorb_exit(svc, rec);
	pthread_mutex_unlock(&rec->lock);
	if (changed)
		post_event(svc, rec->id, NULL, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
}

static void watch_state_dir(struct cri_service *svc, const char *id)
{
	if (svc->inotify_fd < 0)
		return;
	cleanup_free char *d = spath(svc, id, NULL);
	if (inotify_add_watch(svc->inotify_fd, d, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
		log_warn("cannot watch container state", "dir=%s errno=%d", d, errno);
}

/* The watcher: a name event of exit.json in any state dir refreshes that
 * container (the wd is not mapped: the dir path names the id). */
static void *watcher_main(void *arg)
{
	struct cri_service *svc = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		struct pollfd pfd[2] = {{.fd = svc->inotify_fd, .events = POLLIN},
					{.fd = svc->watch_stop[0], .events = POLLIN}};
		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		ssize_t n = read(svc->inotify_fd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		bool any = false;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, "exit.json") == 0)
				any = true;
			p += sizeof(*ev) + ev->len;
		}
		if (!any)
			continue;
		struct cri_filter f = {.has_state = true, .state = C_RUNNING};
		struct cri_record **list = NULL;
		size_t cnt = 0;
		cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &cnt);
		for (size_t i = 0; i < cnt; i++)
			refresh(svc, list[i]);
		cri_store_list_free(list, cnt);
		pthread_mutex_lock(&svc->exit_lock);
		svc->exit_gen++;
		pthread_cond_broadcast(&svc->exit_cond);
		pthread_mutex_unlock(&svc->exit_lock);
	}
	return NULL;
}

int cri_containers_init(struct cri_service *svc, ndl_error_t *err)
{
	svc->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (svc->inotify_fd < 0)
		return ndl_error_set(err, errno, "inotify_init1");
	if (pipe2(svc->watch_stop, O_CLOEXEC) < 0)
		return ndl_error_set(err, errno, "pipe");
	/* Exits during our downtime: exit.json is already there. */
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, NULL, &list, &n);
	for (size_t i = 0; i < n; i++) {
		watch_state_dir(svc, list[i]->id);
		refresh(svc, list[i]);
	}
	cri_store_list_free(list, n);
	if (pthread_create(&svc->watcher, NULL, watcher_main, svc) != 0)
		return ndl_error_setf(err, EAGAIN, "cannot start the exit watcher");
	svc->watcher_started = true;
	return 0;
}

void cri_containers_fini(struct cri_service *svc)
{
	if (svc->watcher_started) {
		(void)!write(svc->watch_stop[1], "x", 1);
		pthread_join(svc->watcher, NULL);
		svc->watcher_started = false;
	}
	if (svc->inotify_fd >= 0)
		close(svc->inotify_fd);
	for (int i = 0; i < 2; i++)
		if (svc->watch_stop[i] >= 0)
			close(svc->watch_stop[i]);
	svc->inotify_fd = svc->watch_stop[0] = svc->watch_stop[1] = -1;
}

/* ---- CreateContainer ---- */


static void cleanup_created(struct cri_service *svc, const char *id, bool rootfs)
{
	ndl_error_t e = NDL_ERROR_INIT;
	cleanup_free char *rootdir = cdir(svc, id, "bundle/rootfs");
	umount2(rootdir, MNT_DETACH);
	if (rootfs && images_remove_rootfs(svc->images, id, &e) < 0)
		log_warn("remove rootfs", "id=%s err=\"%s\"", id, ndl_error_msg(&e));
	ndl_error_clear(&e);
	cleanup_free char *d = cdir(svc, id, NULL);
	if (ndl_rm_rf(d, &e) < 0)
		log_warn("remove container dir", "id=%s err=\"%s\"", id, ndl_error_msg(&e));
	ndl_error_clear(&e);
	cleanup_free char *sd = spath(svc, id, NULL);
	if (ndl_rm_rf(sd, &e) < 0)
		log_warn("remove container state dir", "id=%s err=\"%s\"", id, ndl_error_msg(&e));
	ndl_error_clear(&e);
}

enum cri_status cri_h_create_container(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__CreateContainerRequest *in =
	    (const Runtime__V1__CreateContainerRequest *)req;
	const Runtime__V1__ContainerConfig *c = in->config;
	if (!in->pod_sandbox_id || !*in->pod_sandbox_id)
		return cri_reply_required(r, "pod_sandbox_id");
	if (!c)
		return cri_reply_required(r, "config");
	if (!c->metadata || !c->metadata->name || !*c->metadata->name)
		return cri_reply_required(r, "config.metadata.name");
	if (!c->image || !c->image->image || !*c->image->image)
		return cri_reply_required(r, "config.image.image");
	/* Refused rather than ignored: no CDI registry here. */
	if (c->n_cdi_devices)
		return cri_reply_error(r, CRI_REFUSED,
				       "field \"config.cdi_devices\": CDI devices are not supported by "
				       "nodelet-cri");
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *sb = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, in->pod_sandbox_id, &sb, &e) < 0) {
		ndl_error_wrap(&e, "failed to find sandbox \"%s\"", in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	pthread_mutex_lock(&sb->lock);
	cleanup_json json_t *sbd = json_deep_copy(sb->data);
	pthread_mutex_unlock(&sb->lock);
	cri_store_put(sb);
	if (json_integer_value(json_object_get(sbd, "state")) !=
	    RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
		return cri_reply_error(r, CRI_FAILED_PRECONDITION,
				       "sandbox \"%s\" is not ready (stopped)", in->pod_sandbox_id);
	const json_t *smd = json_object_get(sbd, "metadata");

	struct image_info img;
	int irc = images_get(svc->images, c->image->image, &img, &e);
	if (irc < 0) {
		if (irc == -ENOENT || irc == -EINVAL) {
			ndl_error_clear(&e);
			return cri_reply_error(r, CRI_NOT_FOUND, "image \"%s\" not found: pull it first",
					       c->image->image);
		}
		return cri_reply_errno_msg(r, &e);
	}

	char id[CRI_ID_LEN + 1];
	cri_store_new_id(svc->store, id);
	cleanup_free char *name = cri_container_name(
	    c->metadata->name, json_string_value(json_object_get(smd, "name")),
	    json_string_value(json_object_get(smd, "namespace")),
	    json_string_value(json_object_get(smd, "uid")), c->metadata->attempt);
	enum cri_status st = CRI_OK;
	bool rootfs_made = false;
	json_t *spec = NULL, *data = NULL;
	cleanup_free char *bundle = cdir(svc, id, "bundle");
	cleanup_free char *rootdir = cdir(svc, id, "bundle/rootfs");
	cleanup_free char *statedir = spath(svc, id, NULL);
	cleanup_free char *log_path = NULL;
	const char *logdir = json_string_value(json_object_get(sbd, "log_directory"));
	if (logdir && *logdir && c->log_path && *c->log_path)
		log_path = xasprintf("%s/%s", logdir, c->log_path);
	struct image_mount im = {0};
	cleanup_free char *create_error = NULL;

	if (cri_store_reserve_name(svc->store, name, id, &e) < 0) {
		ndl_error_wrap(&e, "failed to reserve container name \"%s\"", name);
		image_info_free(&img);
		return cri_reply_errno_msg(r, &e);
	}
	if (ndl_mkdir_p(rootdir, 0711, &e) < 0 || ndl_mkdir_p(statedir, 0700, &e) < 0)
		goto fail_err;
	if (images_prepare_rootfs(svc->images, img.id, id, false, &im, &e) < 0)
		goto fail_err;
	rootfs_made = true;
	if (images_mount_rootfs(&im, rootdir, false, &e) < 0)
		goto fail_err;
	struct spec_in si = {.c = c, .img = &img, .sandbox = sbd, .id = id, .rootfs = rootdir};
	if (build_spec(svc, &si, &spec, &e) < 0)
		goto fail_err;
	{
		cleanup_free char *cfg = ndl_json_dumps(spec, true);
		cleanup_free char *cfgp = xasprintf("%s/config.json", bundle);
		if (ndl_write_file_atomic(cfgp, cfg, strlen(cfg), 0600, &e) < 0)
			goto fail_err;
	}
	if (log_path) {
		cleanup_free char *ld = xstrdup(log_path);
		char *sl = strrchr(ld, '/');
		if (sl && sl != ld) {
			*sl = 0;
			if (ndl_mkdir_p(ld, 0755, &e) < 0)
				goto fail_err;
		}
	}
	/* The shim runs `nodelet-runtime create` and reports the init pid. */
	{
		cleanup_free char *shim = sibling_bin("nodelet-shim");
		cleanup_free char *rt = sibling_bin("nodelet-runtime");
		cleanup_free char *rroot = runtime_root(svc);
		char *argv[20];
		int a = 0;
		argv[a++] = shim;
		argv[a++] = (char *)"--id";
		argv[a++] = id;
		argv[a++] = (char *)"--bundle";
		argv[a++] = bundle;
		argv[a++] = (char *)"--state-dir";
		argv[a++] = statedir;
		argv[a++] = (char *)"--runtime";
		argv[a++] = rt;
		argv[a++] = (char *)"--runtime-root";
		argv[a++] = rroot;
		if (log_path) {
			argv[a++] = (char *)"--log-path";
			argv[a++] = log_path;
		}
		/* stdin/tty for CRI Attach: the shim keeps the stdin, owns the pty. */
		if (c->stdin)
			argv[a++] = (char *)"--stdin";
		if (c->stdin && c->stdin_once)
			argv[a++] = (char *)"--stdin-once";
		if (c->tty)
			argv[a++] = (char *)"--tty";
		argv[a] = NULL;
		cleanup_free char *out = NULL;
		int rc = run_tool(argv, &out, 60000, &e);
		if (rc < 0)
			goto fail_err;
		if (rc != 0) {
			/* containerd runs the OCI runtime's create only at
			 * StartContainer, so a command missing from the image (the
			 * runtime resolves it at create) lets CreateContainer succeed
			 * and StartContainer fail with StartError. Do the same: keep
			 * the container CREATED with the error, for Start to report.
			 * The shim is gone and leaves nothing running; its state dir
			 * is emptied so no stale exit.json is read. */
			if (out) {
				size_t ol = strlen(out);
				while (ol && (out[ol - 1] == '\n' || out[ol - 1] == ' '))
					out[--ol] = 0;
			}
			create_error = xasprintf("create container: %s", out && *out ? out : "shim failed");
			log_warn("container create failed; reported at start", "id=%s err=\"%s\"", id,
				 create_error);
			if (ndl_rm_rf(statedir, &e) < 0 || ndl_mkdir_p(statedir, 0700, &e) < 0)
				goto fail_err;
		} else {
			watch_state_dir(svc, id);
		}
	}

	data = json_object();
	json_object_set_new(data, "id", json_string(id));
	json_object_set_new(data, "name", json_string(name));
	json_object_set_new(data, "pod_sandbox_id", json_string(json_string_value(json_object_get(sbd, "id"))));
	json_object_set_new(data, "state", json_integer(C_CREATED));
	json_object_set_new(data, "created_at", json_integer(cri_now_ns()));
	json_object_set_new(data, "metadata", json_pack("{s:s,s:I}", "name", c->metadata->name,
							"attempt", (json_int_t)c->metadata->attempt));
	{
		json_t *l = json_object(), *an = json_object();
		for (size_t i = 0; i < c->n_labels; i++)
			json_object_set_new(l, c->labels[i]->key, json_string(c->labels[i]->value));
		for (size_t i = 0; i < c->n_annotations; i++)
			json_object_set_new(an, c->annotations[i]->key,
					    json_string(c->annotations[i]->value));
		json_object_set_new(data, "labels", l);
		json_object_set_new(data, "annotations", an);
	}
	json_object_set_new(data, "image", json_string(c->image->image));
	json_object_set_new(data, "image_ref", json_string(img.id));
	json_object_set_new(data, "log_path", json_string(log_path ? log_path : ""));
	json_object_set_new(data, "config", cri_msg_to_json(&c->base));
	json_object_set_new(data, "stop_signal",
			    json_string(img.config.stop_signal ? img.config.stop_signal : ""));
	if (create_error)
		json_object_set_new(data, "create_error", json_string(create_error));
	if (cri_store_add(svc->store, CRI_KIND_CONTAINER, data, NULL, &e) < 0) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		runtime_cmd(svc, &e2, "delete", "--force", id, NULL);
		ndl_error_clear(&e2);
		goto fail_err;
	}
	log_info("container created", "id=%s name=%s sandbox=%s", id, name, in->pod_sandbox_id);
	post_event(svc, id, json_string_value(json_object_get(sbd, "id")),
		   RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
	{
		Runtime__V1__CreateContainerResponse resp = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;
		resp.container_id = id;
		st = cri_reply_ok(r, &resp.base);
	}
	goto out;
fail_err:
	st = cri_reply_from_error(r, &e);
	ndl_error_clear(&e);
	cleanup_created(svc, id, rootfs_made);
	cri_store_release_name(svc->store, name);
out:
	if (spec)
		json_decref(spec);
	if (data)
		json_decref(data);
	if (rootfs_made)
		image_mount_free(&im);
	image_info_free(&img);
	return st;
}

/* ---- Start / Stop / Remove ---- */

static enum cri_status get_container(struct cri_service *svc, const char *id,
				     struct cri_record **rec, struct cri_reply *r)
{
	if (!id || !*id)
		return cri_reply_required(r, "container_id");
	ndl_error_t e = NDL_ERROR_INIT;
	if (cri_store_get(svc->store, CRI_KIND_CONTAINER, id, rec, &e) < 0) {
		ndl_error_wrap(&e, "an error occurred when try to find container \"%s\"", id);
		return cri_reply_errno_msg(r, &e);
	}
	return CRI_OK;
}

enum cri_status cri_h_start_container(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__StartContainerRequest *in = (const Runtime__V1__StartContainerRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	ndl_error_t e = NDL_ERROR_INIT;
	pthread_mutex_lock(&rec->lock);
	absorb_exit(svc, rec);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	if (state != C_CREATED) {
		pthread_mutex_unlock(&rec->lock);
		cri_store_put(rec);
		return cri_reply_error(r, CRI_FAILED_PRECONDITION,
				       "container %s is not in created state", in->container_id);
	}
	/* Taken before the call: a command that exits at once must not show
	 * finished_at before started_at. */
	int64_t started = cri_now_ns();
	const char *create_error = jstr(rec->data, "create_error");
	if (*create_error)
		ndl_error_set(&e, EIO, "%s", create_error);
	if (*create_error || runtime_cmd(svc, &e, "start", rec->id, NULL, NULL) < 0) {
		/* containerd 1.6: exited, exit code 128, reason StartError, the
		 * error as message, never started. */
		json_object_set_new(rec->data, "state", json_integer(C_EXITED));
		json_object_set_new(rec->data, "exit_code", json_integer(128));
		json_object_set_new(rec->data, "finished_at", json_integer(cri_now_ns()));
		json_object_set_new(rec->data, "reason", json_string("StartError"));
		json_object_set_new(rec->data, "message", json_string(ndl_error_msg(&e)));
		ndl_error_t e2 = NDL_ERROR_INIT;
		cri_store_save(svc->store, rec, &e2);
		ndl_error_clear(&e2);
		pthread_mutex_unlock(&rec->lock);
		cri_store_put(rec);
		ndl_error_wrap(&e, "failed to start container \"%s\"", in->container_id);
		return cri_reply_errno_msg(r, &e);
	}
	json_object_set_new(rec->data, "state", json_integer(C_RUNNING));
	json_object_set_new(rec->data, "started_at", json_integer(started));
	int rc = cri_store_save(svc->store, rec, &e);
	/* A command that exits at once may already have written exit.json. */
	absorb_exit(svc, rec);
	pthread_mutex_unlock(&rec->lock);
	post_event(svc, rec->id, NULL, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	cri_store_put(rec);
	if (rc < 0)
		return cri_reply_errno_msg(r, &e);
	Runtime__V1__StartContainerResponse resp = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

static int signal_number(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} sigs[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
		    {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
		    {"STOP", SIGSTOP}, {"PWR", SIGPWR}};
	if (!s || !*s)
		return SIGTERM;
	if (all_digits(s))
		return atoi(s);
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(s, sigs[i].n) == 0)
			return sigs[i].v;
	return SIGTERM;
}

/* Wait for the shim's exit.json. The watcher thread sees it appear (inotify on
 * the state dir) and broadcasts exit_cond, so a stop returns as soon as the
 * process exits and sleeps otherwise. exit_lock is held from the existence
 * check to the wait, and the watcher bumps exit_gen under it after the file
 * exists, so no wakeup is lost. The 1 s cap on each wait only covers a state
 * dir whose watch could not be added (watch_state_dir warns). */
static bool wait_exit(struct cri_service *svc, struct cri_record *rec, long timeout_ms)
{
	cleanup_free char *path = spath(svc, rec->id, "exit.json");
	struct timespec now, deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	bool exited = false;
	pthread_mutex_lock(&svc->exit_lock);
	for (;;) {
		if (ndl_path_exists(path)) {
			exited = true;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
			break;
		struct timespec until = {now.tv_sec + 1, now.tv_nsec};
		if (until.tv_sec > deadline.tv_sec ||
		    (until.tv_sec == deadline.tv_sec && until.tv_nsec > deadline.tv_nsec))
			until = deadline;
		unsigned long gen = svc->exit_gen;
		while (gen == svc->exit_gen &&
		       pthread_cond_timedwait(&svc->exit_cond, &svc->exit_lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&svc->exit_lock);
	return exited;
}

/* Signal (stop signal), wait up to timeout_s for exit.json, then SIGKILL
 * everything in the container. Caller holds no lock. */
static int container_stop(struct cri_service *svc, struct cri_record *rec, long timeout_s,
			  ndl_error_t *err)
{
	pthread_mutex_lock(&rec->lock);
	absorb_exit(svc, rec);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	cleanup_free char *sig = xstrdup(
	    json_string_value(json_object_get(rec->data, "stop_signal")) ?: "");
	bool create_failed = json_object_get(rec->data, "create_error") != NULL;
	pthread_mutex_unlock(&rec->lock);
	/* Nothing runs for a container whose create failed (see Create). */
	if (state == C_EXITED || (state == C_CREATED && create_failed))
		return 0;
	/* A created container's init waits in the runtime's create: the
	 * SIGKILL below ends it too, and the shim records the exit. */
	ndl_error_t e = NDL_ERROR_INIT;
	log_debug(1, "stopping container", "id=%s state=%d timeout=%ld signal=%s", rec->id, state,
		  timeout_s, sig);
	if (timeout_s > 0 && state == C_RUNNING) {
		char num[16];
		snprintf(num, sizeof(num), "%d", signal_number(sig));
		if (runtime_cmd(svc, &e, "kill", rec->id, num, NULL) < 0)
			log_debug(1, "stop signal failed", "id=%s err=\"%s\"", rec->id,
				  ndl_error_msg(&e));
		ndl_error_clear(&e);
		if (wait_exit(svc, rec, timeout_s * 1000))
			goto done;
	}
	if (runtime_cmd(svc, &e, "kill", "--all", rec->id, "KILL") < 0)
		log_debug(1, "SIGKILL failed", "id=%s err=\"%s\"", rec->id, ndl_error_msg(&e));
	ndl_error_clear(&e);
	if (!wait_exit(svc, rec, 10000))
		return ndl_error_setf(err, ETIMEDOUT,
				      "container %s did not exit within 10s of SIGKILL", rec->id);
done:
	refresh(svc, rec);
	return 0;
}

enum cri_status cri_h_stop_container(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__StopContainerRequest *in = (const Runtime__V1__StopContainerRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	ndl_error_t e = NDL_ERROR_INIT;
	int rc = container_stop(svc, rec, in->timeout, &e);
	cri_store_put(rec);
	if (rc < 0)
		return cri_reply_errno_msg(r, &e);
	Runtime__V1__StopContainerResponse resp = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

static int container_remove(struct cri_service *svc, struct cri_record *rec, ndl_error_t *err)
{
	if (container_stop(svc, rec, 0, err) < 0)
		return -abs(err->code);
	ndl_error_t e = NDL_ERROR_INIT;
	cleanup_free char *rroot = runtime_root(svc);
	cleanup_free char *rstate = xasprintf("%s/%s", rroot, rec->id);
	if (ndl_path_exists(rstate) && runtime_cmd(svc, &e, "delete", "--force", rec->id, NULL) < 0)
		log_warn("runtime delete", "id=%s err=\"%s\"", rec->id, ndl_error_msg(&e));
	ndl_error_clear(&e);
	cleanup_created(svc, rec->id, true);
	pthread_mutex_lock(&rec->lock);
	char sid[CRI_ID_LEN + 1];
	snprintf(sid, sizeof(sid), "%s", jstr(rec->data, "pod_sandbox_id"));
	pthread_mutex_unlock(&rec->lock);
	int rc = cri_store_remove(svc->store, rec, err);
	if (rc == 0) {
		log_info("container removed", "id=%s", rec->id);
		post_event(svc, rec->id, sid, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
	}
	return rc;
}

enum cri_status cri_h_remove_container(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__RemoveContainerRequest *in =
	    (const Runtime__V1__RemoveContainerRequest *)req;
	Runtime__V1__RemoveContainerResponse resp = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
	struct cri_record *rec = NULL;
	enum cri_status st = cri_get_for_remove(svc, CRI_KIND_CONTAINER, in->container_id,
						"container_id", &resp.base, r, &rec);
	if (st != CRI_OK || !rec)
		return st;
	ndl_error_t e = NDL_ERROR_INIT;
	int rc = container_remove(svc, rec, &e);
	cri_store_put(rec);
	if (rc < 0)
		return cri_reply_errno_msg(r, &e);
	return cri_reply_ok(r, &resp.base);
}

static int for_each_of_sandbox(struct cri_service *svc, const char *sandbox_id, bool remove,
			       ndl_error_t *err)
{
	struct cri_filter f = {.pod_sandbox_id = sandbox_id};
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &n);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *psid = json_string_value(json_object_get(list[i]->data, "pod_sandbox_id"));
		if (!psid || strcmp(psid, sandbox_id) != 0)
			continue;
		rc = remove ? container_remove(svc, list[i], err) : container_stop(svc, list[i], 0, err);
	}
	cri_store_list_free(list, n);
	return rc;
}

int cri_containers_stop_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err)
{
	return for_each_of_sandbox(svc, sandbox_id, false, err);
}

int cri_containers_remove_all(struct cri_service *svc, const char *sandbox_id, ndl_error_t *err)
{
	return for_each_of_sandbox(svc, sandbox_id, true, err);
}

/* ---- Status / List ---- */

static const char *jstr(const json_t *d, const char *k)
{
	const char *s = json_string_value(json_object_get(d, k));
	return s ? s : "";
}

enum cri_status cri_h_container_status(void *user, const ProtobufCMessage *req,
				       struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ContainerStatusRequest *in =
	    (const Runtime__V1__ContainerStatusRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	refresh(svc, rec);
	pthread_mutex_lock(&rec->lock);
	json_t *d = rec->data;
	Runtime__V1__ContainerStatus s = RUNTIME__V1__CONTAINER_STATUS__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	const json_t *jm = json_object_get(d, "metadata");
	md.name = (char *)jstr(jm, "name");
	md.attempt = (uint32_t)json_integer_value(json_object_get(jm, "attempt"));
	s.id = rec->id;
	s.metadata = &md;
	s.state = (Runtime__V1__ContainerState)json_integer_value(json_object_get(d, "state"));
	s.created_at = json_integer_value(json_object_get(d, "created_at"));
	s.started_at = json_integer_value(json_object_get(d, "started_at"));
	s.finished_at = json_integer_value(json_object_get(d, "finished_at"));
	s.exit_code = (int32_t)json_integer_value(json_object_get(d, "exit_code"));
	Runtime__V1__ImageSpec is = RUNTIME__V1__IMAGE_SPEC__INIT;
	is.image = (char *)jstr(d, "image");
	/* containerd reports the image by its first tag when it has one (the
	 * kubelet creates containers by image id). */
	struct image_info ii;
	bool have_ii = images_get(svc->images, jstr(d, "image_ref"), &ii, NULL) == 0;
	if (have_ii && ii.repo_tags && ii.repo_tags[0])
		is.image = ii.repo_tags[0];
	s.image = &is;
	s.image_ref = (char *)jstr(d, "image_ref");
	s.reason = (char *)jstr(d, "reason");
	s.message = (char *)jstr(d, "message");
	struct cri_kv l, a;
	cri_kv_fill(&l, json_object_get(d, "labels"));
	cri_kv_fill(&a, json_object_get(d, "annotations"));
	s.n_labels = l.n;
	s.labels = l.ptrs;
	s.n_annotations = a.n;
	s.annotations = (Runtime__V1__ContainerStatus__AnnotationsEntry **)a.ptrs;
	s.log_path = (char *)jstr(d, "log_path");
	/* Mounts and resources as requested, decoded from the stored config. */
	ProtobufCMessage *cfgmsg = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (cri_msg_from_json(&runtime__v1__container_config__descriptor, json_object_get(d, "config"),
			      &cfgmsg, &e) == 0) {
		Runtime__V1__ContainerConfig *cc = (Runtime__V1__ContainerConfig *)cfgmsg;
		s.n_mounts = cc->n_mounts;
		s.mounts = cc->mounts;
	}
	ndl_error_clear(&e);
	/* Always reported, zero when none were asked for (containerd 1.6 does,
	 * and the kubelet compares them for in-place resize). */
	Runtime__V1__ContainerResources res = RUNTIME__V1__CONTAINER_RESOURCES__INIT;
	Runtime__V1__LinuxContainerResources no_res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.linux = &no_res;
	if (cfgmsg && ((Runtime__V1__ContainerConfig *)cfgmsg)->linux &&
	    ((Runtime__V1__ContainerConfig *)cfgmsg)->linux->resources)
		res.linux = ((Runtime__V1__ContainerConfig *)cfgmsg)->linux->resources;
	s.resources = &res;
	Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
	resp.status = &s;
	cleanup_free char *info_s = NULL;
	Runtime__V1__ContainerStatusResponse__InfoEntry ie;
	Runtime__V1__ContainerStatusResponse__InfoEntry *iep = &ie;
	if (in->verbose) {
		cleanup_json json_t *info = json_object();
		json_object_set(info, "config", json_object_get(d, "config"));
		json_object_set_new(info, "sandboxID", json_string(jstr(d, "pod_sandbox_id")));
		cleanup_free char *pidf = spath(svc, rec->id, "init.pid");
		cleanup_free char *pb = NULL;
		size_t pl = 0;
		if (ndl_read_file(pidf, 64, &pb, &pl, NULL) == 0)
			json_object_set_new(info, "pid", json_integer(atoi(pb)));
		cleanup_free char *specp = cdir(svc, rec->id, "bundle/config.json");
		json_t *spec = NULL;
		if (ndl_json_load_file(specp, &spec, NULL) == 0)
			json_object_set_new(info, "runtimeSpec", spec);
		info_s = ndl_json_dumps(info, false);
		runtime__v1__container_status_response__info_entry__init(&ie);
		ie.key = (char *)"info";
		ie.value = info_s;
		resp.n_info = 1;
		resp.info = &iep;
	}
	st = cri_reply_ok(r, &resp.base);
	pthread_mutex_unlock(&rec->lock);
	if (cfgmsg)
		protobuf_c_message_free_unpacked(cfgmsg, NULL);
	if (have_ii)
		image_info_free(&ii);
	cri_kv_free(&l);
	cri_kv_free(&a);
	cri_store_put(rec);
	return st;
}

enum cri_status cri_h_list_containers(void *user, const ProtobufCMessage *req,
				      struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ListContainersRequest *in =
	    (const Runtime__V1__ListContainersRequest *)req;
	struct cri_filter f = {0};
	cleanup_json json_t *sel = NULL;
	if (in->filter)
		cri_filter_init(&f, &sel, in->filter->id, in->filter->pod_sandbox_id, in->filter->state,
				in->filter->state ? in->filter->state->state : 0,
				in->filter->n_label_selector, in->filter->label_selector);
	/* Exits first, so a state filter sees current states. */
	struct cri_record **all = NULL;
	size_t na = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, NULL, &all, &na);
	for (size_t i = 0; i < na; i++)
		refresh(svc, all[i]);
	cri_store_list_free(all, na);

	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &n);
	Runtime__V1__Container *items = xcalloc(n + 1, sizeof(*items));
	Runtime__V1__Container **ptrs = xcalloc(n + 1, sizeof(*ptrs));
	Runtime__V1__ContainerMetadata *mds = xcalloc(n + 1, sizeof(*mds));
	Runtime__V1__ImageSpec *iss = xcalloc(n + 1, sizeof(*iss));
	struct cri_kv *kv = xcalloc(2 * n + 1, sizeof(*kv));
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&list[i]->lock);
		json_t *d = list[i]->data;
		runtime__v1__container__init(&items[i]);
		runtime__v1__container_metadata__init(&mds[i]);
		runtime__v1__image_spec__init(&iss[i]);
		const json_t *jm = json_object_get(d, "metadata");
		mds[i].name = (char *)jstr(jm, "name");
		mds[i].attempt = (uint32_t)json_integer_value(json_object_get(jm, "attempt"));
		items[i].id = list[i]->id;
		items[i].pod_sandbox_id = (char *)jstr(d, "pod_sandbox_id");
		items[i].metadata = &mds[i];
		iss[i].image = (char *)jstr(d, "image");
		items[i].image = &iss[i];
		items[i].image_ref = (char *)jstr(d, "image_ref");
		items[i].state = (Runtime__V1__ContainerState)json_integer_value(json_object_get(d, "state"));
		items[i].created_at = json_integer_value(json_object_get(d, "created_at"));
		cri_kv_fill(&kv[2 * i], json_object_get(d, "labels"));
		cri_kv_fill(&kv[2 * i + 1], json_object_get(d, "annotations"));
		items[i].n_labels = kv[2 * i].n;
		items[i].labels = (Runtime__V1__Container__LabelsEntry **)kv[2 * i].ptrs;
		items[i].n_annotations = kv[2 * i + 1].n;
		items[i].annotations = (Runtime__V1__Container__AnnotationsEntry **)kv[2 * i + 1].ptrs;
		ptrs[i] = &items[i];
	}
	Runtime__V1__ListContainersResponse resp = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
	resp.n_containers = n;
	resp.containers = ptrs;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	cri_list_release(list, n, kv);
	free(items);
	free(ptrs);
	free(mds);
	free(iss);
	return st;
}

/* ---- ExecSync / ReopenContainerLog ---- */

/* Kill the process named by a pid file (the exec'd process of a timed
 * out ExecSync) while its parent, the runtime, still lives: the runtime
 * reaps it. Killing the runtime first would orphan it to the host's init
 * (orphans go to the reaper of the dying parent's pid namespace), where it
 * would linger as a zombie that pgrep in the container still sees. */
static void kill_pidfile(const char *path)
{
	cleanup_free char *pb = NULL;
	size_t pl = 0;
	long xp = 0;
	if (path && ndl_read_file(path, 64, &pb, &pl, NULL) == 0 && (xp = strtol(pb, NULL, 10)) > 1)
		kill((pid_t)xp, SIGKILL);
}

/* Run argv with separate stdout/stderr captures (each capped at max
 * bytes) and a timeout; on timeout the process in victim_pidfile (if any)
 * is killed, the child gets a moment to reap it and exit, then it is
 * killed too, and ETIMEDOUT returned. Returns the exit status. */
static int run_split(char *const argv[], char **ret_out, size_t *out_len, char **ret_err,
		     size_t *err_len, size_t max, int timeout_ms, const char *victim_pidfile,
		     ndl_error_t *err)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return ndl_error_set(err, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return ndl_error_set(err, errno, "pipe");
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		return ndl_error_set(err, rc, "run %s", argv[0]);
	}
	char *bufs[2] = {xmalloc(max + 1), xmalloc(max + 1)};
	size_t lens[2] = {0, 0};
	int fds[2] = {po[0], pe[0]};
	bool open_[2] = {true, true}, timed_out = false;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (open_[0] || open_[1]) {
		int wait_ms = -1;
		if (timeout_ms > 0) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			wait_ms = el >= timeout_ms ? 0 : (int)(timeout_ms - el);
		}
		struct pollfd pfd[2] = {{.fd = open_[0] ? fds[0] : -1, .events = POLLIN},
					{.fd = open_[1] ? fds[1] : -1, .events = POLLIN}};
		int pr = poll(pfd, 2, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			timed_out = true;
			kill_pidfile(victim_pidfile);
			/* up to 2 s for the runtime to reap it and exit */
			for (int i = 0; i < 200 && waitpid(pid, NULL, WNOHANG) == 0; i++) {
				struct timespec ts = {0, 10 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
			kill(pid, SIGKILL);
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!open_[i] || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char b[4096];
			ssize_t n = read(fds[i], b, sizeof(b));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				open_[i] = false;
				continue;
			}
			size_t take = (size_t)n < max - lens[i] ? (size_t)n : max - lens[i];
			memcpy(bufs[i] + lens[i], b, take);
			lens[i] += take;
		}
	}
	close(fds[0]);
	close(fds[1]);
	int st = 0;
	/* after a timeout the child may already be reaped above (ECHILD) */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		free(bufs[0]);
		free(bufs[1]);
		return ndl_error_setf(err, ETIMEDOUT, "timeout %d ms exceeded", timeout_ms);
	}
	*ret_out = bufs[0];
	*out_len = lens[0];
	*ret_err = bufs[1];
	*err_len = lens[1];
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

#define EXEC_SYNC_MAX_OUTPUT (16 * 1024 * 1024 / 4) /* both fit in a 16 MiB reply */

enum cri_status cri_h_exec_sync(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ExecSyncRequest *in = (const Runtime__V1__ExecSyncRequest *)req;
	if (!in->n_cmd)
		return cri_reply_required(r, "cmd");
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	refresh(svc, rec);
	pthread_mutex_lock(&rec->lock);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	pthread_mutex_unlock(&rec->lock);
	if (state != C_RUNNING) {
		cri_store_put(rec);
		return cri_reply_error(r, CRI_FAILED_PRECONDITION, "container %s is not running",
				       in->container_id);
	}
	/* The exec'd process is the container's process with other args: same
	 * user, env, cwd, capabilities (containerd's rule). */
	ndl_error_t e = NDL_ERROR_INIT;
	cleanup_free char *specp = cdir(svc, rec->id, "bundle/config.json");
	cleanup_json json_t *spec = NULL;
	if (ndl_json_load_file(specp, &spec, &e) < 0) {
		cri_store_put(rec);
		return cri_reply_errno_msg(r, &e);
	}
	json_t *proc = json_deep_copy(json_object_get(spec, "process"));
	json_object_set_new(proc, "args", strv_json(in->cmd, in->n_cmd));
	json_object_set_new(proc, "terminal", json_false());
	json_object_del(proc, "oomScoreAdj");
	cleanup_free char *txt = ndl_json_dumps(proc, false);
	json_decref(proc);
	char tmpl[] = "/tmp/nodelet-exec-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0 || ndl_write_all(fd, txt, strlen(txt), &e) < 0) {
		if (fd >= 0) {
			close(fd);
			unlink(tmpl);
		} else {
			ndl_error_set(&e, errno, "exec process file");
		}
		cri_store_put(rec);
		return cri_reply_errno_msg(r, &e);
	}
	close(fd);
	cleanup_free char *bin = sibling_bin("nodelet-runtime");
	cleanup_free char *root = runtime_root(svc);
	/* The pid file names the exec'd process, so a timeout can kill it
	 * (killing the runtime alone would leave it running in the container). */
	cleanup_free char *pidf = xasprintf("%s.pid", tmpl);
	char *argv[] = {bin,	   (char *)"--root",	 root, (char *)"exec", (char *)"--process",
			tmpl,	   (char *)"--pid-file", pidf, rec->id,	       NULL};
	char *out = NULL, *errb = NULL;
	size_t olen = 0, elen = 0;
	int rc = run_split(argv, &out, &olen, &errb, &elen, EXEC_SYNC_MAX_OUTPUT,
			   in->timeout > 0 ? (int)(in->timeout * 1000) : 0, pidf, &e);
	unlink(tmpl);
	if (rc < 0 && e.code == ETIMEDOUT)
		kill_pidfile(pidf); /* the runtime may have written it late */
	unlink(pidf);
	cri_store_put(rec);
	if (rc < 0) {
		if (e.code == ETIMEDOUT) {
			ndl_error_wrap(&e, "ExecSync %s", in->container_id);
			e.code = ETIMEDOUT;
		}
		return cri_reply_errno_msg(r, &e);
	}
	Runtime__V1__ExecSyncResponse resp = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;
	resp.stdout.data = (uint8_t *)out;
	resp.stdout.len = olen;
	resp.stderr.data = (uint8_t *)errb;
	resp.stderr.len = elen;
	resp.exit_code = rc;
	st = cri_reply_ok(r, &resp.base);
	free(out);
	free(errb);
	return st;
}

enum cri_status cri_h_reopen_container_log(void *user, const ProtobufCMessage *req,
					   struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ReopenContainerLogRequest *in =
	    (const Runtime__V1__ReopenContainerLogRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	refresh(svc, rec);
	pthread_mutex_lock(&rec->lock);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	pthread_mutex_unlock(&rec->lock);
	cleanup_free char *sock = spath(svc, rec->id, "shim.sock");
	cri_store_put(rec);
	if (state != C_RUNNING)
		return cri_reply_error(r, CRI_FAILED_PRECONDITION, "container is not running");
	/* The shim's control socket: "reopen" -> "ok" | "error <msg>". */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	char reply[512] = "";
	ssize_t n = -1;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, "reopen\n", 7) == 7) {
		struct timeval tv = {.tv_sec = 10};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = read(fd, reply, sizeof(reply) - 1);
	}
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return cri_reply_error(r, CRI_UNKNOWN, "reopen log of %s: shim %s: %s",
				       in->container_id, sock, strerror(saved));
	reply[n] = 0;
	reply[strcspn(reply, "\n")] = 0;
	if (strncmp(reply, "ok", 2) != 0)
		return cri_reply_error(r, CRI_UNKNOWN, "reopen log of %s: %s", in->container_id,
				       reply);
	Runtime__V1__ReopenContainerLogResponse resp =
	    RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

/* ---- UpdateContainerResources / ContainerStats ---- */

static pthread_mutex_t cg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cgroup_manager *cg_mgr; /* detected once, on first use */

static int open_container_cgroup(struct cri_service *svc, const char *id, struct cgroup **ret,
				 ndl_error_t *err)
{
	pthread_mutex_lock(&cg_lock);
	int rc = cg_mgr ? 0 : cgroup_manager_init(&cg_mgr, err);
	pthread_mutex_unlock(&cg_lock);
	if (rc < 0)
		return rc;
	cleanup_free char *specp = cdir(svc, id, "bundle/config.json");
	cleanup_json json_t *spec = NULL;
	if (ndl_json_load_file(specp, &spec, err) < 0)
		return -abs(err->code);
	const char *path =
	    json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
	if (!path)
		return ndl_error_setf(err, ENOENT, "container %s has no cgroupsPath", id);
	return cgroup_open(cg_mgr, path, ret, err);
}

enum cri_status cri_h_update_container_resources(void *user, const ProtobufCMessage *req,
						 struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__UpdateContainerResourcesRequest *in =
	    (const Runtime__V1__UpdateContainerResourcesRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	if (!in->linux) {
		/* nothing to change (containerd: OK) */
		cri_store_put(rec);
		Runtime__V1__UpdateContainerResourcesResponse resp =
		    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
		return cri_reply_ok(r, &resp.base);
	}
	refresh(svc, rec);
	pthread_mutex_lock(&rec->lock);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	ndl_error_t e = NDL_ERROR_INIT;
	int rc = 0;
	/* Only the fields the CRI carries are written (no devices rule: the
	 * container's device cgroup stays as created). */
	json_t *res = resources_json(in->linux, json_array());
	json_object_del(res, "devices");
	if (state == C_RUNNING || state == C_CREATED) {
		struct cgroup *cg = NULL;
		struct cgroup_resources cr;
		if ((rc = open_container_cgroup(svc, rec->id, &cg, &e)) == 0) {
			if ((rc = cgroup_resources_from_json(res, "linux.resources", &cr, &e)) == 0)
				rc = cgroup_apply(cg, &cr, &e);
			cgroup_resources_free(&cr);
			cgroup_free(cg);
		}
	}
	/* The stored config reports what is in force (ContainerStatus.resources). */
	if (rc == 0) {
		json_t *cfg = json_object_get(rec->data, "config");
		json_t *lx = json_object_get(cfg, "linux");
		if (!lx) {
			lx = json_object();
			json_object_set_new(cfg, "linux", lx);
		}
		json_object_set_new(lx, "resources", cri_msg_to_json(&in->linux->base));
		rc = cri_store_save(svc->store, rec, &e);
	}
	pthread_mutex_unlock(&rec->lock);
	json_decref(res);
	cri_store_put(rec);
	if (rc < 0) {
		/* the kernel refusing a value (EBUSY for a memory limit below
		 * the usage, EINVAL...) is Unknown in containerd, as runc's
		 * update failing */
		ndl_error_wrap(&e, "UpdateContainerResources %s", in->container_id);
		st = cri_reply_error(r, CRI_UNKNOWN, "%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
		return st;
	}
	Runtime__V1__UpdateContainerResourcesResponse resp =
	    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
	return cri_reply_ok(r, &resp.base);
}

static _Thread_local uint64_t du_bytes, du_inodes;

static int du_visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_bytes += (uint64_t)sb->st_blocks * 512;
	du_inodes++;
	return 0;
}

/* One container's stats, heap-allocated sub-messages (freed by stats_free). */
struct stats_buf {
	Runtime__V1__ContainerStats s;
	Runtime__V1__ContainerAttributes attr;
	Runtime__V1__ContainerMetadata md;
	Runtime__V1__CpuUsage cpu;
	Runtime__V1__MemoryUsage mem;
	Runtime__V1__FilesystemUsage fs;
	Runtime__V1__FilesystemIdentifier fsid;
	Runtime__V1__UInt64Value v[9];
	struct cri_kv l, a;
	char *upper;
};

/* CRI cpu and memory usage from cgroup stats, as the kubelet reads them
 * (available = limit - working set). v[0..6] back the optional values. */
static void stats_fill_cpu_mem(const struct cgroup_stats *cs, int64_t now,
			       Runtime__V1__CpuUsage *cpu, Runtime__V1__MemoryUsage *mem,
			       Runtime__V1__UInt64Value *v)
{
	runtime__v1__cpu_usage__init(cpu);
	cpu->timestamp = now;
	v[0].value = cs->cpu.usage_ns;
	cpu->usage_core_nano_seconds = &v[0];
	runtime__v1__memory_usage__init(mem);
	mem->timestamp = now;
	v[1].value = cs->memory.working_set;
	v[2].value = cs->memory.usage;
	v[3].value = cs->memory.rss;
	v[4].value = cs->memory.pgfault;
	v[5].value = cs->memory.pgmajfault;
	mem->working_set_bytes = &v[1];
	mem->usage_bytes = &v[2];
	mem->rss_bytes = &v[3];
	mem->page_faults = &v[4];
	mem->major_page_faults = &v[5];
	if (cs->memory.limit != CGROUP_MAX) {
		v[6].value = cs->memory.limit > cs->memory.working_set
				 ? cs->memory.limit - cs->memory.working_set
				 : 0;
		mem->available_bytes = &v[6];
	}
}

static void stats_fill(struct cri_service *svc, struct cri_record *rec, struct stats_buf *b)
{
	memset(b, 0, sizeof(*b));
	runtime__v1__container_stats__init(&b->s);
	runtime__v1__container_attributes__init(&b->attr);
	runtime__v1__container_metadata__init(&b->md);
	for (int i = 0; i < 9; i++)
		runtime__v1__uint64_value__init(&b->v[i]);
	pthread_mutex_lock(&rec->lock);
	json_t *d = rec->data;
	const json_t *jm = json_object_get(d, "metadata");
	b->md.name = (char *)jstr(jm, "name");
	b->md.attempt = (uint32_t)json_integer_value(json_object_get(jm, "attempt"));
	b->attr.id = rec->id;
	b->attr.metadata = &b->md;
	cri_kv_fill(&b->l, json_object_get(d, "labels"));
	cri_kv_fill(&b->a, json_object_get(d, "annotations"));
	b->attr.n_labels = b->l.n;
	b->attr.labels = (Runtime__V1__ContainerAttributes__LabelsEntry **)b->l.ptrs;
	b->attr.n_annotations = b->a.n;
	b->attr.annotations = (Runtime__V1__ContainerAttributes__AnnotationsEntry **)b->a.ptrs;
	int state = (int)json_integer_value(json_object_get(d, "state"));
	pthread_mutex_unlock(&rec->lock);
	b->s.attributes = &b->attr;
	int64_t now = cri_now_ns();
	struct cgroup *cg = NULL;
	struct cgroup_stats cs;
	ndl_error_t e = NDL_ERROR_INIT;
	if (state == C_RUNNING && open_container_cgroup(svc, rec->id, &cg, &e) == 0 &&
	    cgroup_stats(cg, &cs, &e) == 0) {
		stats_fill_cpu_mem(&cs, now, &b->cpu, &b->mem, b->v);
		b->s.cpu = &b->cpu;
		b->s.memory = &b->mem;
	} else if (e.code) {
		log_debug(1, "container stats", "id=%s err=\"%s\"", rec->id, ndl_error_msg(&e));
	}
	ndl_error_clear(&e);
	if (cg)
		cgroup_free(cg);
	/* The writable layer: the overlay upper dir in the image store. */
	b->upper = xasprintf("%s/rootfs/%s/upper", images_store_root(svc->images), rec->id);
	du_bytes = du_inodes = 0;
	if (nftw(b->upper, du_visit, 16, FTW_PHYS) == 0) {
		runtime__v1__filesystem_usage__init(&b->fs);
		runtime__v1__filesystem_identifier__init(&b->fsid);
		b->fs.timestamp = now;
		b->fsid.mountpoint = (char *)images_store_root(svc->images);
		b->fs.fs_id = &b->fsid;
		b->v[7].value = du_bytes;
		b->v[8].value = du_inodes;
		b->fs.used_bytes = &b->v[7];
		b->fs.inodes_used = &b->v[8];
		b->s.writable_layer = &b->fs;
	}
}

static void stats_free(struct stats_buf *b)
{
	cri_kv_free(&b->l);
	cri_kv_free(&b->a);
	free(b->upper);
}

enum cri_status cri_h_container_stats(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ContainerStatsRequest *in = (const Runtime__V1__ContainerStatsRequest *)req;
	struct cri_record *rec = NULL;
	enum cri_status st = get_container(svc, in->container_id, &rec, r);
	if (st != CRI_OK)
		return st;
	refresh(svc, rec);
	struct stats_buf *b = xmalloc(sizeof(*b));
	stats_fill(svc, rec, b);
	Runtime__V1__ContainerStatsResponse resp = RUNTIME__V1__CONTAINER_STATS_RESPONSE__INIT;
	resp.stats = &b->s;
	st = cri_reply_ok(r, &resp.base);
	stats_free(b);
	free(b);
	cri_store_put(rec);
	return st;
}

enum cri_status cri_h_list_container_stats(void *user, const ProtobufCMessage *req,
					   struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ListContainerStatsRequest *in =
	    (const Runtime__V1__ListContainerStatsRequest *)req;
	struct cri_filter f = {0};
	cleanup_json json_t *sel = NULL;
	if (in->filter)
		cri_filter_init(&f, &sel, in->filter->id, in->filter->pod_sandbox_id, NULL, 0,
				in->filter->n_label_selector, in->filter->label_selector);
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_CONTAINER, &f, &list, &n);
	struct stats_buf *bs = xcalloc(n + 1, sizeof(*bs));
	Runtime__V1__ContainerStats **ptrs = xcalloc(n + 1, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		refresh(svc, list[i]);
		stats_fill(svc, list[i], &bs[i]);
		ptrs[i] = &bs[i].s;
	}
	Runtime__V1__ListContainerStatsResponse resp = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
	resp.n_stats = n;
	resp.stats = ptrs;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	for (size_t i = 0; i < n; i++)
		stats_free(&bs[i]);
	free(bs);
	free(ptrs);
	cri_store_list_free(list, n);
	return st;
}

/* ---- startup: containers a crash left without a record ---- */

/* The record is written after the shim started: a crash in between
 * leaves a live container nobody knows; kill it. */
static void remove_orphan(struct cri_service *svc, const char *dir, const char *id)
{
	(void)dir;
	ndl_error_t e = NDL_ERROR_INIT;
	cleanup_free char *rroot = runtime_root(svc);
	cleanup_free char *rstate = xasprintf("%s/%s", rroot, id);
	if (ndl_path_exists(rstate) && runtime_cmd(svc, &e, "delete", "--force", id, NULL) < 0)
		log_warn("orphan container: runtime delete", "id=%s err=\"%s\"", id,
			 ndl_error_msg(&e));
	ndl_error_clear(&e);
	cleanup_created(svc, id, true);
	log_info("removed orphan container", "id=%s", id);
}

void cri_containers_gc(struct cri_service *svc)
{
	cleanup_free char *a = xasprintf("%s/containers", svc->cfg->run_root);
	cleanup_free char *b = xasprintf("%s/s", svc->cfg->run_root);
	cri_gc_orphans(svc, CRI_KIND_CONTAINER, a, remove_orphan);
	cri_gc_orphans(svc, CRI_KIND_CONTAINER, b, remove_orphan);
}

/* ---- PodSandboxStats / ListPodSandboxStats ---- */

/* One pod: attributes from its status, cpu/memory/process count from the
 * pod cgroup (cgroup_parent, the kubelet's), the containers' stats. No
 * network usage yet (it needs reading inside the pod's netns). */
struct pod_stats_buf {
	Runtime__V1__PodSandboxStats s;
	Runtime__V1__PodSandboxAttributes attr;
	Runtime__V1__LinuxPodSandboxStats lx;
	Runtime__V1__CpuUsage cpu;
	Runtime__V1__MemoryUsage mem;
	Runtime__V1__ProcessUsage proc;
	Runtime__V1__UInt64Value v[8];
	ProtobufCMessage *status; /* PodSandboxStatusResponse */
	ProtobufCMessage *cstats; /* ListContainerStatsResponse */
};

static bool pod_stats_fill(struct cri_service *svc, const char *sid, struct pod_stats_buf *b)
{
	memset(b, 0, sizeof(*b));
	Runtime__V1__PodSandboxStatusRequest pq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	pq.pod_sandbox_id = (char *)sid;
	b->status = call_local(cri_h_pod_sandbox_status, svc, &pq.base,
			       &runtime__v1__pod_sandbox_status_response__descriptor);
	Runtime__V1__PodSandboxStatus *st =
	    b->status ? ((Runtime__V1__PodSandboxStatusResponse *)b->status)->status : NULL;
	if (!st)
		return false;
	runtime__v1__pod_sandbox_stats__init(&b->s);
	runtime__v1__pod_sandbox_attributes__init(&b->attr);
	runtime__v1__linux_pod_sandbox_stats__init(&b->lx);
	for (int i = 0; i < 8; i++)
		runtime__v1__uint64_value__init(&b->v[i]);
	b->attr.id = st->id;
	b->attr.metadata = st->metadata;
	b->attr.n_labels = st->n_labels;
	b->attr.labels = (Runtime__V1__PodSandboxAttributes__LabelsEntry **)st->labels;
	b->attr.n_annotations = st->n_annotations;
	b->attr.annotations = (Runtime__V1__PodSandboxAttributes__AnnotationsEntry **)st->annotations;
	b->s.attributes = &b->attr;
	b->s.linux = &b->lx;

	Runtime__V1__ContainerStatsFilter cf = RUNTIME__V1__CONTAINER_STATS_FILTER__INIT;
	cf.pod_sandbox_id = st->id;
	Runtime__V1__ListContainerStatsRequest cq = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
	cq.filter = &cf;
	b->cstats = call_local(cri_h_list_container_stats, svc, &cq.base,
			       &runtime__v1__list_container_stats_response__descriptor);
	if (b->cstats) {
		Runtime__V1__ListContainerStatsResponse *l =
		    (Runtime__V1__ListContainerStatsResponse *)b->cstats;
		b->lx.n_containers = l->n_stats;
		b->lx.containers = l->stats;
	}

	struct cri_record *rec = NULL;
	char parent[4096] = "";
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, st->id, &rec, NULL) == 0) {
		pthread_mutex_lock(&rec->lock);
		snprintf(parent, sizeof(parent), "%s", jstr(rec->data, "cgroup_parent"));
		pthread_mutex_unlock(&rec->lock);
		cri_store_put(rec);
	}
	if (!*parent || st->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
		return true;
	ndl_error_t e = NDL_ERROR_INIT;
	pthread_mutex_lock(&cg_lock);
	int rc = cg_mgr ? 0 : cgroup_manager_init(&cg_mgr, &e);
	pthread_mutex_unlock(&cg_lock);
	struct cgroup *cg = NULL;
	struct cgroup_stats cs;
	if (rc == 0 && cgroup_open(cg_mgr, parent, &cg, &e) == 0 && cgroup_stats(cg, &cs, &e) == 0) {
		int64_t now = cri_now_ns();
		stats_fill_cpu_mem(&cs, now, &b->cpu, &b->mem, b->v);
		b->lx.cpu = &b->cpu;
		b->lx.memory = &b->mem;
		runtime__v1__process_usage__init(&b->proc);
		b->proc.timestamp = now;
		b->v[7].value = cs.pids.current;
		b->proc.process_count = &b->v[7];
		b->lx.process = &b->proc;
	} else {
		log_debug(1, "pod stats", "id=%s cgroup=%s err=\"%s\"", st->id, parent,
			  ndl_error_msg(&e));
	}
	ndl_error_clear(&e);
	if (cg)
		cgroup_free(cg);
	return true;
}

static void pod_stats_free(struct pod_stats_buf *b)
{
	if (b->status)
		protobuf_c_message_free_unpacked(b->status, NULL);
	if (b->cstats)
		protobuf_c_message_free_unpacked(b->cstats, NULL);
}

enum cri_status cri_h_pod_sandbox_stats(void *user, const ProtobufCMessage *req,
					struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__PodSandboxStatsRequest *in =
	    (const Runtime__V1__PodSandboxStatsRequest *)req;
	if (!in->pod_sandbox_id || !*in->pod_sandbox_id)
		return cri_reply_required(r, "pod_sandbox_id");
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, in->pod_sandbox_id, &rec, &e) < 0) {
		ndl_error_wrap(&e, "an error occurred when try to find sandbox \"%s\"",
			       in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	char sid[CRI_ID_LEN + 1];
	snprintf(sid, sizeof(sid), "%s", rec->id);
	cri_store_put(rec);
	struct pod_stats_buf *b = xmalloc(sizeof(*b));
	enum cri_status st;
	if (!pod_stats_fill(svc, sid, b)) {
		st = cri_reply_error(r, CRI_NOT_FOUND, "sandbox \"%s\" not found", sid);
	} else {
		Runtime__V1__PodSandboxStatsResponse resp = RUNTIME__V1__POD_SANDBOX_STATS_RESPONSE__INIT;
		resp.stats = &b->s;
		st = cri_reply_ok(r, &resp.base);
	}
	pod_stats_free(b);
	free(b);
	return st;
}

enum cri_status cri_h_list_pod_sandbox_stats(void *user, const ProtobufCMessage *req,
					     struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ListPodSandboxStatsRequest *in =
	    (const Runtime__V1__ListPodSandboxStatsRequest *)req;
	struct cri_filter f = {0};
	cleanup_json json_t *sel = NULL;
	if (in->filter)
		cri_filter_init(&f, &sel, in->filter->id, NULL, NULL, 0, in->filter->n_label_selector,
				in->filter->label_selector);
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(svc->store, CRI_KIND_SANDBOX, &f, &list, &n);
	struct pod_stats_buf *bs = xcalloc(n + 1, sizeof(*bs));
	Runtime__V1__PodSandboxStats **ptrs = xcalloc(n + 1, sizeof(*ptrs));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (pod_stats_fill(svc, list[i]->id, &bs[i]))
			ptrs[k++] = &bs[i].s;
	cri_store_list_free(list, n);
	Runtime__V1__ListPodSandboxStatsResponse resp =
	    RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;
	resp.n_stats = k;
	resp.stats = ptrs;
	enum cri_status st = cri_reply_ok(r, &resp.base);
	for (size_t i = 0; i < n; i++)
		pod_stats_free(&bs[i]);
	free(bs);
	free(ptrs);
	return st;
}
