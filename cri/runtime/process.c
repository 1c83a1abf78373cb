/* The container process's last steps before execve: rlimits, oom score,
 * user and groups, the five capability sets, working directory, fds. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cri/runtime/runtime-internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool is_executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return access(path, X_OK) == 0;
}

int rt_find_executable(const char *file, char *const *env, char **ret, ndl_error_t *err)
{
	if (!file || !*file)
		return ndl_error_setf(err, EINVAL, "exec: empty program name");
	if (strchr(file, '/')) {
		if (!is_executable(file))
			return ndl_error_set(err, errno ? errno : EACCES, "exec: \"%s\"", file);
		*ret = xstrdup(file);
		return 0;
	}
	const char *path = NULL;
	for (char *const *e = env; e && *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	if (!path)
		path = DEFAULT_PATH;
	const char *p = path;
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		cleanup_free char *cand =
		    len ? xasprintf("%.*s/%s", (int)len, p, file) : xasprintf("./%s", file);
		if (is_executable(cand)) {
			*ret = steal_ptr(&cand);
			return 0;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	return ndl_error_setf(err, ENOENT, "exec: \"%s\": executable file not found in $PATH",
			      file);
}

int rt_apply_rlimits(const struct rt_process *p, ndl_error_t *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = {
		    .rlim_cur =
			p->rlimits[i].soft == UINT64_MAX ? RLIM_INFINITY : p->rlimits[i].soft,
		    .rlim_max =
			p->rlimits[i].hard == UINT64_MAX ? RLIM_INFINITY : p->rlimits[i].hard,
		};
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return ndl_error_set(err, errno,
					     "field \"process.rlimits[%zu]\": setrlimit", i);
	}
	if (p->user.has_umask)
		umask(p->user.umask);
	return 0;
}

void rt_apply_oom_score_adj(const struct rt_process *p)
{
	if (!p->has_oom_score_adj)
		return;
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
	if (write(fd, buf, (size_t)n) < 0)
		/* Lowering needs CAP_SYS_RESOURCE, which some hosts never grant. */
		log_warn("cannot set oom_score_adj", "value=%d error=\"%s\"", p->oom_score_adj,
			 strerror(errno));
	close(fd);
}

static int last_cap(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	char buf[16] = {0};
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0)
			cached = atoi(buf);
	}
	if (cached <= 0)
		cached = rt_cap_last();
	return cached;
}

int rt_apply_user_and_caps(const struct rt_process *p, bool setgroups_allowed, ndl_error_t *err)
{
	int lc = last_cap();
	if (p->has_caps) {
		/* The bounding set first: it needs CAP_SETPCAP, which we still
		 * hold. */
		for (int c = 0; c <= lc; c++)
			if (!(p->caps[RT_CAP_BOUNDING] & (1ull << c)) &&
			    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				return ndl_error_set(err, errno,
						     "drop capability %s from bounding set",
						     rt_cap_name(c) ? rt_cap_name(c) : "?");
		/* Keep permitted caps across setuid; the sets are set after. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return ndl_error_set(err, errno, "PR_SET_KEEPCAPS");
	}
	if (setgroups_allowed) {
		if (setgroups(p->user.n_additional_gids, p->user.additional_gids) < 0)
			return ndl_error_set(err, errno, "setgroups");
	}
	if (setresgid(p->user.gid, p->user.gid, p->user.gid) < 0)
		return ndl_error_set(err, errno, "setgid %u", (unsigned)p->user.gid);
	if (setresuid(p->user.uid, p->user.uid, p->user.uid) < 0)
		return ndl_error_set(err, errno, "setuid %u", (unsigned)p->user.uid);
	if (!p->has_caps)
		return 0;
	cap_t caps = cap_init();
	if (!caps)
		return ndl_error_set(err, errno, "cap_init");
	static const struct {
		enum rt_cap_set set;
		cap_flag_t flag;
	} sets[] = {
	    {RT_CAP_EFFECTIVE, CAP_EFFECTIVE},
	    {RT_CAP_PERMITTED, CAP_PERMITTED},
	    {RT_CAP_INHERITABLE, CAP_INHERITABLE},
	};
	for (size_t s = 0; s < 3; s++)
		for (int c = 0; c <= lc; c++)
			if (p->caps[sets[s].set] & (1ull << c)) {
				cap_value_t v = c;
				if (cap_set_flag(caps, sets[s].flag, 1, &v, CAP_SET) < 0) {
					cap_free(caps);
					return ndl_error_set(err, errno, "cap_set_flag %d", c);
				}
			}
	int r = cap_set_proc(caps);
	int e = errno;
	cap_free(caps);
	if (r < 0)
		return ndl_error_set(err, e, "set capabilities");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return ndl_error_set(err, errno, "PR_SET_KEEPCAPS");
	/* Ambient caps must be permitted and inheritable; the kernel refuses
	 * others with EPERM. runc's default spec lists ambient caps without
	 * inheritable ones, and runc only warns: so do we. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return ndl_error_set(err, errno, "clear ambient capabilities");
	for (int c = 0; c <= lc; c++)
		if ((p->caps[RT_CAP_AMBIENT] & (1ull << c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			log_debug(1, "cannot raise ambient capability", "cap=%s error=\"%s\"",
				  rt_cap_name(c) ? rt_cap_name(c) : "?", strerror(errno));
	return 0;
}

int rt_enter_cwd(const char *cwd, ndl_error_t *err)
{
	if (chdir(cwd) < 0)
		return ndl_error_set(err, errno, "field \"process.cwd\": chdir %s", cwd);
	/* A cwd outside our root shows as "(unreachable)/..." (CVE-2024-21626). */
	char buf[4096];
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		return ndl_error_setf(
		    err, EPERM, "field \"process.cwd\": %s is not inside the container root", cwd);
	return 0;
}

void rt_cloexec_from(int first)
{
	if (syscall(SYS_close_range, (unsigned)first, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	/* Older kernels: walk the fds ourselves. */
	for (int fd = first; fd < 65536; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
}
