/* nodelet-runtime: runc-compatible OCI runtime CLI over the runtime library.
 * Flags follow runc (urfave/cli style: "--flag value", "--flag=value",
 * "-flag"; global flags before the command). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cri/runtime/runtime.h"
#include "cri/runtime/spec.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char *g_root = RT_DEFAULT_ROOT;
static int g_log_fd = -1;
static bool g_log_json = false;
static bool g_no_cgroups = false;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Errors go to stderr and, with --log, to the log file in the chosen format
 * (conmon/podman read runc's JSON log lines to show the failure). */
static void report(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(2, "nodelet-runtime: %s\n", msg);
	if (g_log_fd >= 0) {
		ndl_log_init(g_log_fd, NDL_LOG_INFO, 0, g_log_json);
		log_error(msg, NULL);
	}
}

/* ---- flag parsing ---- */

struct flag {
	const char *name;
	char short_name;
	bool takes_value;
	bool multi;
	/* results */
	bool set;
	const char *value;
	const char **values;
	size_t n_values;
};

static struct flag *find_flag(struct flag *flags, const char *name, size_t len, char short_name)
{
	for (struct flag *f = flags; f->name; f++) {
		if (short_name && f->short_name == short_name && len == 1)
			return f;
		if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
			return f;
	}
	return NULL;
}

/* Parse flags starting at argv[*i] until the first positional argument
 * ("--" ends flags too). Returns -1 on an unknown flag. */
static int parse_flags(int argc, char **argv, int *i, struct flag *flags, const char *cmd)
{
	while (*i < argc) {
		char *a = argv[*i];
		if (strcmp(a, "--") == 0) {
			(*i)++;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			return 0;
		const char *name = a + 1;
		if (*name == '-')
			name++;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		struct flag *f = find_flag(flags, name, len, len == 1 ? name[0] : 0);
		if (!f) {
			report("%s: unknown flag %s", cmd, a);
			return -1;
		}
		(*i)++;
		f->set = true;
		if (f->takes_value) {
			const char *v = NULL;
			if (eq)
				v = eq + 1;
			else if (*i < argc)
				v = argv[(*i)++];
			else {
				report("%s: flag %s needs a value", cmd, a);
				return -1;
			}
			f->value = v;
			if (f->multi) {
				f->values = xrealloc(f->values, (f->n_values + 2) * sizeof(char *));
				f->values[f->n_values++] = v;
				f->values[f->n_values] = NULL;
			}
		} else if (eq) {
			f->set = strcmp(eq + 1, "false") != 0;
		}
	}
	return 0;
}

static int need_args(int argc, int i, int n, const char *cmd, const char *usage)
{
	if (argc - i < n) {
		report("%s: usage: nodelet-runtime %s %s", cmd, cmd, usage);
		return -1;
	}
	return 0;
}

static int fail(ndl_error_t *err)
{
	report("%s", ndl_error_msg(err));
	ndl_error_clear(err);
	return 1;
}

/* ---- commands ---- */

static void reexec_sealed(char **argv);

static bool joins_pid_namespace(const char *bundle)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	cleanup_json json_t *doc = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_read_file(path, NDL_JSON_MAX_INPUT, &buf, &len, &err) < 0 ||
	    rt_json_parse_wide(buf, len, &doc, &err) < 0) {
		ndl_error_clear(&err); /* create reports it properly */
		return false;
	}
	size_t i;
	json_t *ns;
	json_array_foreach(json_object_get(json_object_get(doc, "linux"), "namespaces"), i, ns)
	{
		const char *t = json_string_value(json_object_get(ns, "type"));
		const char *p = json_string_value(json_object_get(ns, "path"));
		if (t && p && *p && strcmp(t, "pid") == 0)
			return true;
	}
	return false;
}

static int cmd_create_or_run(int argc, char **argv, int i, bool run)
{
	struct flag flags[] = {
	    {"bundle", 'b', true},	  {"pid-file", 0, true},
	    {"console-socket", 0, true},  {"no-pivot", 0, false},
	    {"no-new-keyring", 0, false}, {"preserve-fds", 0, true},
	    {"detach", 'd', false},	  {"keep", 0, false},
	    {"no-subreaper", 0, false},	  {NULL},
	};
	const char *cmd = run ? "run" : "create";
	if (parse_flags(argc, argv, &i, flags, cmd) < 0 ||
	    need_args(argc, i, 1, cmd, "[flags] <container-id>") < 0)
		return 1;
	struct rt_create_opts o;
	rt_create_opts_init(&o);
	o.id = argv[i];
	o.root = g_root;
	o.bundle = flags[0].set ? flags[0].value : ".";
	o.pid_file = flags[1].set ? flags[1].value : NULL;
	o.console_socket = flags[2].set ? flags[2].value : NULL;
	o.no_pivot = flags[3].set;
	o.no_cgroups = g_no_cgroups;
	if (flags[5].set) {
		char *end;
		long n = strtol(flags[5].value, &end, 10);
		if (*end || n < 0 || n > 1024) {
			report("%s: --preserve-fds %s: not a count", cmd, flags[5].value);
			return 1;
		}
		o.preserve_fds = (unsigned)n;
	}
	bool detach = flags[6].set;
	o.keep_parent = run && !detach;
	ndl_error_t err = NDL_ERROR_INIT;
	pid_t pid;
	/* Joining an existing pid namespace (a pod sharing one) makes the
	 * init visible to processes already there: same protection as exec. */
	if (joins_pid_namespace(o.bundle))
		reexec_sealed(argv);
	if (!run)
		return rt_container_create(&o, &pid, &err) < 0 ? fail(&err) : 0;

	/* run: forward signals to the container; the init is our child. */
	sigset_t set, old;
	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	if (rt_container_create(&o, &pid, &err) < 0)
		return fail(&err);
	if (!detach)
		sigprocmask(SIG_BLOCK, &set, &old);
	if (rt_container_start(g_root, o.id, &err) < 0) {
		int rc = fail(&err);
		rt_container_delete(g_root, o.id, true, &err);
		ndl_error_clear(&err);
		return rc;
	}
	if (detach)
		return 0;
	int status = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			pid_t w;
			bool done = false;
			while ((w = waitpid(-1, &status, WNOHANG)) > 0)
				if (w == pid)
					done = true;
			if (done)
				break;
			continue;
		}
		kill(pid, sig);
	}
	bool oom = false;
	if (rt_container_oom_killed(g_root, o.id, &oom, &err) == 0 && oom)
		report("container %s: a process was killed by the OOM killer", o.id);
	ndl_error_clear(&err);
	if (!flags[7].set && rt_container_delete(g_root, o.id, true, &err) < 0)
		fail(&err);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

static int cmd_start(int argc, char **argv, int i)
{
	struct flag flags[] = {{NULL}};
	if (parse_flags(argc, argv, &i, flags, "start") < 0 ||
	    need_args(argc, i, 1, "start", "<container-id>") < 0)
		return 1;
	ndl_error_t err = NDL_ERROR_INIT;
	return rt_container_start(g_root, argv[i], &err) < 0 ? fail(&err) : 0;
}

static int cmd_state(int argc, char **argv, int i)
{
	struct flag flags[] = {{NULL}};
	if (parse_flags(argc, argv, &i, flags, "state") < 0 ||
	    need_args(argc, i, 1, "state", "<container-id>") < 0)
		return 1;
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_state st;
	if (rt_container_state(g_root, argv[i], &st, &err) < 0)
		return fail(&err);
	cleanup_json json_t *j = rt_state_to_json(&st);
	rt_state_clear(&st);
	cleanup_free char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	return 0;
}

static int cmd_kill(int argc, char **argv, int i)
{
	struct flag flags[] = {{"all", 'a', false}, {NULL}};
	if (parse_flags(argc, argv, &i, flags, "kill") < 0 ||
	    need_args(argc, i, 1, "kill", "[--all] <container-id> [signal]") < 0)
		return 1;
	const char *id = argv[i++];
	int sig = SIGTERM;
	if (i < argc) {
		sig = rt_signal_from_name(argv[i]);
		if (sig < 0) {
			report("kill: unknown signal \"%s\"", argv[i]);
			return 1;
		}
	}
	ndl_error_t err = NDL_ERROR_INIT;
	return rt_container_kill(g_root, id, sig, flags[0].set, &err) < 0 ? fail(&err) : 0;
}

static int cmd_delete(int argc, char **argv, int i)
{
	struct flag flags[] = {{"force", 'f', false}, {NULL}};
	if (parse_flags(argc, argv, &i, flags, "delete") < 0 ||
	    need_args(argc, i, 1, "delete", "[--force] <container-id>...") < 0)
		return 1;
	int rc = 0;
	for (; i < argc; i++) {
		ndl_error_t err = NDL_ERROR_INIT;
		if (rt_container_delete(g_root, argv[i], flags[0].set, &err) < 0) {
			/* As runc: --force on a missing container is not an error. */
			if (flags[0].set && err.code == ENOENT) {
				ndl_error_clear(&err);
				continue;
			}
			rc = fail(&err);
		}
	}
	return rc;
}

static int cmd_pause_resume(int argc, char **argv, int i, bool pause)
{
	struct flag flags[] = {{NULL}};
	const char *cmd = pause ? "pause" : "resume";
	if (parse_flags(argc, argv, &i, flags, cmd) < 0 ||
	    need_args(argc, i, 1, cmd, "<container-id>") < 0)
		return 1;
	ndl_error_t err = NDL_ERROR_INIT;
	int r = pause ? rt_container_pause(g_root, argv[i], &err)
		      : rt_container_resume(g_root, argv[i], &err);
	return r < 0 ? fail(&err) : 0;
}

static int cmd_list(int argc, char **argv, int i)
{
	struct flag flags[] = {{"format", 'f', true}, {"quiet", 'q', false}, {NULL}};
	if (parse_flags(argc, argv, &i, flags, "list") < 0)
		return 1;
	bool json = flags[0].set && strcmp(flags[0].value, "json") == 0;
	if (flags[0].set && !json && strcmp(flags[0].value, "table") != 0) {
		report("list: --format %s: expected table or json", flags[0].value);
		return 1;
	}
	ndl_error_t err = NDL_ERROR_INIT;
	char **ids = NULL;
	size_t n = 0;
	if (rt_container_list(g_root, &ids, &n, &err) < 0)
		return fail(&err);
	cleanup_json json_t *arr = json_array();
	if (!json && !flags[1].set)
		printf("%-24s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	for (size_t k = 0; k < n; k++) {
		struct rt_state st;
		if (rt_container_state(g_root, ids[k], &st, &err) < 0) {
			ndl_error_clear(&err);
			free(ids[k]);
			continue;
		}
		json_t *j = rt_state_to_json(&st);
		if (json)
			json_array_append(arr, j);
		else if (flags[1].set)
			printf("%s\n", st.id);
		else
			printf("%-24s %-8d %-10s %-40s %-32s %s\n", st.id, (int)st.pid,
			       rt_status_name(st.status), st.bundle, st.created,
			       json_string_value(json_object_get(j, "owner")));
		json_decref(j);
		rt_state_clear(&st);
		free(ids[k]);
	}
	free(ids);
	if (json) {
		cleanup_free char *s = json_dumps(arr, JSON_COMPACT);
		printf("%s\n", s);
	}
	return 0;
}

/* The col-th whitespace-separated field of a ps(1) output line (copied into
 * buf), or NULL when the line has fewer fields. */
static const char *ps_field(const char *line, int col, char *buf, size_t size)
{
	snprintf(buf, size, "%s", line);
	char *save = NULL;
	char *t = strtok_r(buf, " \t\n", &save);
	for (int c = 0; t && c < col; c++)
		t = strtok_r(NULL, " \t\n", &save);
	return t;
}

static int cmd_ps(int argc, char **argv, int i)
{
	struct flag flags[] = {{"format", 'f', true}, {NULL}};
	if (parse_flags(argc, argv, &i, flags, "ps") < 0 ||
	    need_args(argc, i, 1, "ps", "[--format table|json] <container-id> [ps options]") < 0)
		return 1;
	const char *id = argv[i++];
	bool json = flags[0].set && strcmp(flags[0].value, "json") == 0;
	ndl_error_t err = NDL_ERROR_INIT;
	pid_t *pids = NULL;
	size_t n = 0;
	if (rt_container_pids(g_root, id, &pids, &n, &err) < 0)
		return fail(&err);
	if (json) {
		printf("[");
		for (size_t k = 0; k < n; k++)
			printf("%s%d", k ? "," : "", (int)pids[k]);
		printf("]\n");
		free(pids);
		return 0;
	}
	/* Table: ps(1)'s own output, filtered to the container's pids. */
	char cmdline[4096];
	size_t off = (size_t)snprintf(cmdline, sizeof(cmdline), "ps");
	if (i >= argc)
		off += (size_t)snprintf(cmdline + off, sizeof(cmdline) - off, " -ef");
	for (; i < argc && off < sizeof(cmdline); i++)
		off += (size_t)snprintf(cmdline + off, sizeof(cmdline) - off, " '%s'", argv[i]);
	FILE *p = popen(cmdline, "re");
	if (!p) {
		free(pids);
		report("ps: cannot run ps");
		return 1;
	}
	char line[8192];
	int pid_col = -1;
	while (fgets(line, sizeof(line), p)) {
		if (pid_col < 0) {
			/* Find the PID column in the header. */
			char copy[8192];
			const char *t;
			for (int col = 0; (t = ps_field(line, col, copy, sizeof(copy))); col++)
				if (strcmp(t, "PID") == 0)
					pid_col = col;
			fputs(line, stdout);
			if (pid_col < 0) {
				pclose(p);
				free(pids);
				report("ps: no PID column in ps output");
				return 1;
			}
			continue;
		}
		char copy[8192];
		const char *t = ps_field(line, pid_col, copy, sizeof(copy));
		if (!t)
			continue;
		pid_t pv = (pid_t)atoi(t);
		for (size_t k = 0; k < n; k++)
			if (pids[k] == pv) {
				fputs(line, stdout);
				break;
			}
	}
	pclose(p);
	free(pids);
	return 0;
}

static int cmd_exec(int argc, char **argv, int i)
{
	struct flag flags[] = {
	    {"process", 'p', true},
	    {"env", 'e', true, true},
	    {"cwd", 0, true},
	    {"user", 'u', true},
	    {"tty", 't', false},
	    {"detach", 'd', false},
	    {"pid-file", 0, true},
	    {"no-new-privs", 0, false},
	    {"cap", 'c', true, true},
	    {"additional-gids", 'g', true, true},
	    {"preserve-fds", 0, true},
	    {"console-socket", 0, true},
	    {"process-label", 0, true},
	    {"apparmor", 0, true},
	    {"ignore-paused", 0, false},
	    {"cgroup", 0, true},
	    {NULL},
	};
	if (parse_flags(argc, argv, &i, flags, "exec") < 0 ||
	    need_args(argc, i, 1, "exec", "[flags] <container-id> <command> [args...]") < 0)
		return 1;
	if (flags[4].set && !flags[11].set) {
		report("exec: --tty needs --console-socket");
		return 1;
	}
	if (flags[13].set && strcmp(flags[13].value, "unconfined") != 0) {
		report("exec: --apparmor %s: AppArmor is not supported", flags[13].value);
		return 1;
	}
	struct rt_exec_opts o;
	rt_exec_opts_init(&o);
	o.root = g_root;
	o.id = argv[i++];
	cleanup_json json_t *proc = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (flags[0].set) {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		if (ndl_read_file(flags[0].value, NDL_JSON_MAX_INPUT, &buf, &len, &err) < 0 ||
		    rt_json_parse_wide(buf, len, &proc, &err) < 0)
			return fail(&err);
		o.process = proc;
	} else {
		if (i >= argc) {
			report("exec: no command given");
			return 1;
		}
		o.args = argv + i;
	}
	o.env = (char *const *)flags[1].values;
	o.cwd = flags[2].set ? flags[2].value : NULL;
	if (flags[3].set) {
		unsigned u = 0, g = 0;
		int n = sscanf(flags[3].value, "%u:%u", &u, &g);
		if (n < 1) {
			report("exec: --user %s: expected uid[:gid]", flags[3].value);
			return 1;
		}
		o.has_user = true;
		o.uid = u;
		o.gid = n == 2 ? g : 0;
	}
	gid_t gids[64];
	for (size_t k = 0; k < flags[9].n_values && k < 64; k++)
		gids[o.n_additional_gids++] = (gid_t)strtoul(flags[9].values[k], NULL, 10);
	if (o.n_additional_gids)
		o.additional_gids = gids;
	o.pid_file = flags[6].set ? flags[6].value : NULL;
	o.tty = flags[4].set;
	o.console_socket = flags[11].set ? flags[11].value : NULL;
	o.no_new_privs = flags[7].set;
	o.cap_add = (char *const *)flags[8].values;
	if (flags[10].set)
		o.preserve_fds = (unsigned)atoi(flags[10].value);
	pid_t pid;
	bool detach = flags[5].set;
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	int rc;
	/* Block before the child exists so its SIGCHLD cannot be lost. */
	if (!detach)
		sigprocmask(SIG_BLOCK, &set, NULL);
	if (rt_exec(&o, &pid, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	rc = 0;
	if (detach)
		goto out;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			int status;
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				rc = WIFEXITED(status) ? WEXITSTATUS(status)
						       : 128 + WTERMSIG(status);
				break;
			}
			continue;
		}
		kill(pid, sig);
	}
out:
	free(flags[1].values);
	free(flags[8].values);
	free(flags[9].values);
	return rc;
}

static int cmd_spec(int argc, char **argv, int i)
{
	struct flag flags[] = {{"bundle", 'b', true}, {"rootless", 0, false}, {NULL}};
	if (parse_flags(argc, argv, &i, flags, "spec") < 0)
		return 1;
	const char *dir = flags[0].set ? flags[0].value : ".";
	cleanup_free char *path = xasprintf("%s/config.json", dir);
	if (access(path, F_OK) == 0) {
		report("spec: File %s exists. Remove it first", path);
		return 1;
	}
	cleanup_json json_t *j = rt_default_spec(flags[1].set);
	cleanup_free char *s = json_dumps(j, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_write_file_atomic(path, s, strlen(s), 0666 & ~0022, &err) < 0)
		return fail(&err);
	return 0;
}

static int cmd_features(int argc, char **argv, int i)
{
	struct flag flags[] = {{NULL}};
	if (parse_flags(argc, argv, &i, flags, "features") < 0)
		return 1;
	cleanup_json json_t *j = rt_features();
	cleanup_free char *s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	return 0;
}

/* CVE-2019-5736 defence in depth for exec: the helper that joins a running
 * container is visible there before it execs. It is non-dumpable (so
 * /proc/<pid>/exe cannot be opened without CAP_SYS_PTRACE in our user
 * namespace), and for `exec` we also run from a sealed memfd copy of the
 * binary, so even a privileged container that wins the race can only
 * reach an immutable anonymous copy, never the file on disk. create does
 * not need it: a new pid namespace has nothing in it yet. */
static void reexec_sealed(char **argv)
{
	char self[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return;
	self[n] = '\0';
	if (strncmp(self, "/memfd:", 7) == 0)
		return; /* already the sealed copy */
	int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return;
	int mfd = memfd_create("nodelet-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		close(src);
		return;
	}
	struct stat st;
	bool ok = fstat(src, &st) == 0;
	for (off_t off = 0; ok && off < st.st_size;) {
		ssize_t w = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
		if (w <= 0)
			ok = false;
	}
	close(src);
	if (ok && fcntl(mfd, F_ADD_SEALS,
			F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0) {
		extern char **environ;
		fexecve(mfd, argv, environ);
	}
	/* Could not: carry on unsealed (still non-dumpable). */
	close(mfd);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nodelet-runtime [global flags] <command> [flags] [args]\n"
		   "\n"
		   "commands: create, start, run, state, kill, delete, exec, list, ps, pause,\n"
		   "          resume, spec, features, --version\n"
		   "global flags: --root DIR (default " RT_DEFAULT_ROOT "), --log FILE,\n"
		   "              --log-format text|json, --debug, --systemd-cgroup (rejected)\n");
}

int main(int argc, char **argv)
{
	struct flag gflags[] = {
	    {"root", 0, true},
	    {"log", 0, true},
	    {"log-format", 0, true},
	    {"debug", 0, false},
	    {"systemd-cgroup", 0, false},
	    {"rootless", 0, true},
	    {"criu", 0, true},
	    {"version", 'v', false},
	    {"help", 'h', false},
	    {"cgroup-manager", 0, true},
	    {NULL},
	};
	/* jansson seeds its hash function from /dev/urandom (open, read,
	 * close) on first use; one getrandom() does it in a single syscall. */
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed) && seed)
		json_object_seed(seed);
	int i = 1;
	if (parse_flags(argc, argv, &i, gflags, "nodelet-runtime") < 0)
		return 1;
	if (gflags[2].set) {
		if (strcmp(gflags[2].value, "json") == 0)
			g_log_json = true;
		else if (strcmp(gflags[2].value, "text") != 0) {
			report("--log-format %s: expected text or json", gflags[2].value);
			return 1;
		}
	}
	if (gflags[1].set && gflags[1].value[0]) {
		g_log_fd = open(gflags[1].value, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (g_log_fd < 0) {
			report("--log %s: %s", gflags[1].value, strerror(errno));
			return 1;
		}
	}
	ndl_log_init(g_log_fd >= 0 ? g_log_fd : 2, gflags[3].set ? NDL_LOG_DEBUG : NDL_LOG_WARN,
		     gflags[3].set ? 5 : 0, g_log_json);
	if (gflags[0].set)
		g_root = gflags[0].value;
	/* crun's flag, which podman passes for --cgroups=disabled. */
	if (gflags[9].set) {
		if (strcmp(gflags[9].value, "disabled") == 0)
			g_no_cgroups = true;
		else if (strcmp(gflags[9].value, "systemd") == 0)
			gflags[4].set = true;
		else if (strcmp(gflags[9].value, "cgroupfs") != 0) {
			report("--cgroup-manager %s: expected cgroupfs, systemd or disabled",
			       gflags[9].value);
			return 1;
		}
	}
	if (gflags[7].set) {
		printf("nodelet-runtime version 0.1\nspec: 1.1.0\n");
		return 0;
	}
	if (gflags[8].set || i >= argc) {
		usage(i >= argc && !gflags[8].set ? stderr : stdout);
		return gflags[8].set ? 0 : 1;
	}
	const char *cmd = argv[i++];
	if (gflags[4].set && (strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0)) {
		report("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs "
		       "(podman: cgroup_manager = \"cgroupfs\")");
		return 1;
	}
	if (strcmp(cmd, "create") == 0)
		return cmd_create_or_run(argc, argv, i, false);
	if (strcmp(cmd, "run") == 0)
		return cmd_create_or_run(argc, argv, i, true);
	if (strcmp(cmd, "start") == 0)
		return cmd_start(argc, argv, i);
	if (strcmp(cmd, "state") == 0)
		return cmd_state(argc, argv, i);
	if (strcmp(cmd, "kill") == 0)
		return cmd_kill(argc, argv, i);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(argc, argv, i);
	if (strcmp(cmd, "exec") == 0) {
		reexec_sealed(argv);
		return cmd_exec(argc, argv, i);
	}
	if (strcmp(cmd, "list") == 0)
		return cmd_list(argc, argv, i);
	if (strcmp(cmd, "ps") == 0)
		return cmd_ps(argc, argv, i);
	if (strcmp(cmd, "pause") == 0)
		return cmd_pause_resume(argc, argv, i, true);
	if (strcmp(cmd, "resume") == 0)
		return cmd_pause_resume(argc, argv, i, false);
	if (strcmp(cmd, "spec") == 0)
		return cmd_spec(argc, argv, i);
	if (strcmp(cmd, "features") == 0)
		return cmd_features(argc, argv, i);
	report("unknown command \"%s\"", cmd);
	usage(stderr);
	return 1;
}
