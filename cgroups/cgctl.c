/* nodelet-cgctl: a thin CLI over the cgroups library, for the integration
 * tests (the VM runs them too) and for poking at a node by hand.
 *
 *   nodelet-cgctl [--root DIR --mode v1|v2|hybrid] COMMAND PATH [ARGS]
 *     mode                  print the detected mode
 *     of-pid PID            print the cgroup path of a process
 *     create PATH           create (prints the per-controller dirs as JSON)
 *     enter PATH PID
 *     exec PATH CMD...      enter the cgroup, then exec CMD
 *     apply PATH JSON       JSON is an OCI linux.resources object
 *     stats PATH            JSON
 *     oom-wait PATH MS      print "ready", wait for an OOM event, print the count
 *     freeze|thaw|frozen PATH
 *     pids PATH
 *     kill PATH [SIG]
 *     destroy PATH [MS]
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static int usage(void)
{
	fprintf(stderr, "usage: nodelet-cgctl [--root DIR --mode v1|v2|hybrid] "
			"mode|create|enter|exec|apply|stats|oom-wait|freeze|thaw|frozen|pids|kill|"
			"destroy PATH [ARGS]\n");
	return 2;
}

static int fail(ndl_error_t *err)
{
	fprintf(stderr, "nodelet-cgctl: %s\n", ndl_error_msg(err));
	ndl_error_clear(err);
	return 1;
}

static json_t *stats_json(const struct cgroup_stats *s)
{
	return json_pack(
	    "{s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
	    "s:{s:I,s:I}}",
	    "cpu", "usage_ns", (json_int_t)s->cpu.usage_ns, "user_ns", (json_int_t)s->cpu.user_ns,
	    "system_ns", (json_int_t)s->cpu.system_ns, "nr_periods", (json_int_t)s->cpu.nr_periods,
	    "nr_throttled", (json_int_t)s->cpu.nr_throttled, "throttled_ns",
	    (json_int_t)s->cpu.throttled_ns, "memory", "usage", (json_int_t)s->memory.usage,
	    "max_usage", (json_int_t)s->memory.max_usage, "limit",
	    (json_int_t)(s->memory.limit == CGROUP_MAX ? -1 : (int64_t)s->memory.limit),
	    "working_set", (json_int_t)s->memory.working_set, "rss", (json_int_t)s->memory.rss,
	    "cache", (json_int_t)s->memory.cache, "inactive_file",
	    (json_int_t)s->memory.inactive_file, "pgfault", (json_int_t)s->memory.pgfault,
	    "pgmajfault", (json_int_t)s->memory.pgmajfault, "swap_usage",
	    (json_int_t)s->memory.swap_usage, "failcnt", (json_int_t)s->memory.failcnt,
	    "oom_events", (json_int_t)s->memory.oom_events, "oom_kill",
	    (json_int_t)s->memory.oom_kill, "pids", "current", (json_int_t)s->pids.current, "limit",
	    (json_int_t)(s->pids.limit == CGROUP_MAX ? -1 : (int64_t)s->pids.limit));
}

int main(int argc, char **argv)
{
	const char *root = NULL;
	enum cgroup_mode mode = CGROUP_MODE_AUTO;
	int i = 1;
	while (i + 1 < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--root") == 0) {
			root = argv[i + 1];
		} else if (strcmp(argv[i], "--mode") == 0) {
			const char *m = argv[i + 1];
			mode = strcmp(m, "v1") == 0	  ? CGROUP_MODE_V1
			       : strcmp(m, "v2") == 0	  ? CGROUP_MODE_V2
			       : strcmp(m, "hybrid") == 0 ? CGROUP_MODE_HYBRID
							  : CGROUP_MODE_AUTO;
		} else {
			return usage();
		}
		i += 2;
	}
	if (i >= argc)
		return usage();
	const char *cmd = argv[i++];
	ndl_error_t err = NDL_ERROR_INIT;
	cleanup_cgroup_manager struct cgroup_manager *mgr = NULL;
	int r =
	    root ? cgroup_manager_init_at(root, mode, &mgr, &err) : cgroup_manager_init(&mgr, &err);
	if (r < 0)
		return fail(&err);
	if (strcmp(cmd, "mode") == 0) {
		printf("%s\n", cgroup_mode_name(cgroup_manager_mode(mgr)));
		return 0;
	}
	if (i >= argc)
		return usage();
	if (strcmp(cmd, "of-pid") == 0) {
		cleanup_cgroup struct cgroup *pcg = NULL;
		if (cgroup_open_pid(mgr, (pid_t)atoi(argv[i]), &pcg, &err) < 0)
			return fail(&err);
		printf("%s\n", cgroup_path(pcg));
		return 0;
	}
	const char *path = argv[i++];
	cleanup_cgroup struct cgroup *cg = NULL;
	if (strcmp(cmd, "create") == 0 || strcmp(cmd, "exec") == 0)
		r = cgroup_create(mgr, path, &cg, &err);
	else
		r = cgroup_open(mgr, path, &cg, &err);
	if (r < 0)
		return fail(&err);

	if (strcmp(cmd, "create") == 0) {
		cleanup_json json_t *o = json_object();
		const char *ctrls, *mp;
		for (size_t k = 0; cgroup_manager_hierarchy(mgr, k, &ctrls, &mp); k++) {
			const char *first = ctrls;
			cleanup_free char *name = xstrndup(first, strcspn(first, ","));
			const char *d = cgroup_controller_dir(cg, name);
			if (d)
				json_object_set_new(o, ctrls, json_string(d));
		}
		if (cgroup_unified_dir(cg))
			json_object_set_new(o, "unified", json_string(cgroup_unified_dir(cg)));
		cleanup_free char *s = ndl_json_dumps(o, false);
		printf("%s\n", s);
		return 0;
	}
	if (strcmp(cmd, "enter") == 0) {
		if (i >= argc)
			return usage();
		if (cgroup_enter(cg, (pid_t)atoi(argv[i]), &err) < 0)
			return fail(&err);
		return 0;
	}
	if (strcmp(cmd, "exec") == 0) {
		if (i >= argc)
			return usage();
		if (cgroup_enter(cg, getpid(), &err) < 0)
			return fail(&err);
		execvp(argv[i], argv + i);
		fprintf(stderr, "nodelet-cgctl: exec %s: %s\n", argv[i], strerror(errno));
		return 127;
	}
	if (strcmp(cmd, "apply") == 0) {
		if (i >= argc)
			return usage();
		cleanup_json json_t *j = NULL;
		if (ndl_json_parse(argv[i], strlen(argv[i]), &j, &err) < 0)
			return fail(&err);
		struct cgroup_resources res;
		if (cgroup_resources_from_json(j, "linux.resources", &res, &err) < 0)
			return fail(&err);
		r = cgroup_apply(cg, &res, &err);
		cgroup_resources_free(&res);
		return r < 0 ? fail(&err) : 0;
	}
	if (strcmp(cmd, "stats") == 0) {
		struct cgroup_stats st;
		if (cgroup_stats(cg, &st, &err) < 0)
			return fail(&err);
		cleanup_json json_t *o = stats_json(&st);
		cleanup_free char *s = ndl_json_dumps(o, false);
		printf("%s\n", s);
		return 0;
	}
	if (strcmp(cmd, "oom-wait") == 0) {
		int ms = i < argc ? atoi(argv[i]) : 10000;
		int fd;
		uint64_t before = 0, after = 0;
		if (cgroup_oom_kill_count(cg, &before, &err) < 0 ||
		    cgroup_oom_watch_fd(cg, &fd, &err) < 0)
			return fail(&err);
		printf("ready %" PRIu64 "\n", before);
		fflush(stdout);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		r = poll(&p, 1, ms);
		if (r <= 0) {
			close(fd);
			fprintf(stderr, "nodelet-cgctl: no OOM event within %d ms\n", ms);
			return 3;
		}
		if (cgroup_oom_watch_drain(cg, fd, &err) < 0) {
			close(fd);
			return fail(&err);
		}
		close(fd);
		/* The event can precede the counter update by a hair. */
		for (int k = 0; k < 100; k++) {
			if (cgroup_oom_kill_count(cg, &after, &err) < 0)
				return fail(&err);
			if (after > before)
				break;
			usleep(10000);
		}
		printf("oom_kill %" PRIu64 "\n", after);
		return 0;
	}
	if (strcmp(cmd, "freeze") == 0 || strcmp(cmd, "thaw") == 0) {
		r = cmd[0] == 'f' ? cgroup_freeze(cg, &err) : cgroup_thaw(cg, &err);
		return r < 0 ? fail(&err) : 0;
	}
	if (strcmp(cmd, "frozen") == 0) {
		bool f;
		if (cgroup_is_frozen(cg, &f, &err) < 0)
			return fail(&err);
		printf("%s\n", f ? "true" : "false");
		return 0;
	}
	if (strcmp(cmd, "pids") == 0) {
		pid_t *pids;
		size_t n;
		if (cgroup_pids(cg, &pids, &n, &err) < 0)
			return fail(&err);
		for (size_t k = 0; k < n; k++)
			printf("%d\n", (int)pids[k]);
		free(pids);
		return 0;
	}
	if (strcmp(cmd, "kill") == 0) {
		int sig = i < argc ? atoi(argv[i]) : SIGKILL;
		return cgroup_kill_all(cg, sig, &err) < 0 ? fail(&err) : 0;
	}
	if (strcmp(cmd, "destroy") == 0) {
		unsigned ms = i < argc ? (unsigned)atoi(argv[i]) : 5000;
		return cgroup_destroy_timeout(cg, ms, &err) < 0 ? fail(&err) : 0;
	}
	return usage();
}
