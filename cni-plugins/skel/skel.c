/* The plugin side of the CNI protocol: error codes and output, version
 * negotiation, delegated plugin execution and the skel_main() dispatcher. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni-plugins/skel/skel.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

extern char **environ;

/* ---- errors ---- */

static char *error_details;

int cni_error_set(ndl_error_t *err, int cni_code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	int r = ndl_error_setf(err, CNI_ECODE(cni_code), "%s", msg);
	free(msg);
	return r;
}

int cni_error_code(const ndl_error_t *err)
{
	if (err && err->code > CNI_ECODE_BASE)
		return err->code - CNI_ECODE_BASE;
	return CNI_ERR_INTERNAL;
}

void cni_error_set_details(const char *details)
{
	free(error_details);
	error_details = details && *details ? xstrdup(details) : NULL;
}

const char *cni_error_details(void)
{
	return error_details;
}

/* ---- output ---- */

static int write_stdout(const char *s, ndl_error_t *err)
{
	int r = ndl_write_all(STDOUT_FILENO, s, strlen(s), err);
	if (r < 0)
		return cni_error_set(err, CNI_ERR_IO, "write result: %s", ndl_error_msg(err));
	return 0;
}

static int print_json(json_t *j, ndl_error_t *err)
{
	/* Indented like the reference plugins print (4 spaces). */
	cleanup_free char *s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	if (!s)
		return cni_error_set(err, CNI_ERR_IO, "serialise JSON");
	return write_stdout(s, err);
}

int cni_print_result(const struct cni_result *r, enum cni_version version, ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (cni_result_to_json(r, version, &j, err) < 0)
		return -EINVAL;
	return print_json(j, err);
}

void cni_print_error(const char *cni_version, int code, const char *msg, const char *details)
{
	cleanup_json json_t *j = json_object();
	if (cni_version && *cni_version)
		json_object_set_new(j, "cniVersion", json_string(cni_version));
	json_object_set_new(j, "code", json_integer(code));
	json_object_set_new(j, "msg", json_string(msg ? msg : ""));
	if (details && *details)
		json_object_set_new(j, "details", json_string(details));
	ndl_error_t e = NDL_ERROR_INIT;
	print_json(j, &e);
	ndl_error_clear(&e);
}

/* ---- delegated plugins ---- */

/* As the reference's invoke.FindInPath, whose errors are plain Go errors
 * that the reference's skel reports as code 999 (internal), with the same
 * messages (the path list printed as Go prints a []string). */
int cni_find_plugin(const char *path_list, const char *type, char **ret_path, ndl_error_t *err)
{
	if (!type || !*type)
		return cni_error_set(err, CNI_ERR_INTERNAL, "no plugin name provided");
	if (strchr(type, '/'))
		return cni_error_set(err, CNI_ERR_INTERNAL, "invalid plugin name: %s", type);
	if (!path_list || !*path_list)
		return cni_error_set(err, CNI_ERR_INTERNAL, "no paths provided");
	const char *p = path_list;
	while (1) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len) {
			char *cand = xasprintf("%.*s/%s", (int)len, p, type);
			struct stat st;
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
				*ret_path = cand;
				return 0;
			}
			free(cand);
		}
		if (!end)
			break;
		p = end + 1;
	}
	cleanup_free char *shown = xstrdup(path_list);
	for (char *c = shown; *c; c++)
		if (*c == ':')
			*c = ' ';
	return cni_error_set(err, CNI_ERR_INTERNAL, "failed to find plugin \"%s\" in path [%s]",
			     type, shown);
}

/* The current environment with CNI_COMMAND replaced. */
static char **child_env(enum cni_command command)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CNI_COMMAND=", 12) != 0)
			env[k++] = environ[i];
	env[k++] = xasprintf("CNI_COMMAND=%s", cni_command_str(command));
	env[k] = NULL;
	return env;
}

/* Feed stdin and collect stdout at once so neither side can block the
 * other whatever the sizes. */
static int pump(int in_fd, const char *data, size_t len, int out_fd, char **ret_out,
		size_t *ret_len, ndl_error_t *err)
{
	size_t off = 0, cap = 4096, used = 0;
	char *buf = xmalloc(cap);
	/* A blocking write of more than the pipe holds would wait for a reader
	 * that may itself be waiting for us to read its output. */
	if (in_fd >= 0)
		fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
	if (len == 0) {
		if (in_fd >= 0)
			close(in_fd);
		in_fd = -1;
	}
	while (out_fd >= 0) {
		struct pollfd fds[2];
		int n = 0;
		fds[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		if (in_fd >= 0)
			fds[n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			int r = ndl_error_set(err, errno, "poll");
			free(buf);
			if (in_fd >= 0)
				close(in_fd);
			return r;
		}
		if (n > 1 && fds[1].revents) {
			ssize_t w = write(in_fd, data + off, len - off);
			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EINTR && errno != EAGAIN) || off == len) {
				/* EPIPE: the plugin did not read everything; its exit
				 * status tells the story. */
				close(in_fd);
				in_fd = -1;
			}
		}
		if (fds[0].revents) {
			if (cap - used < 1024) {
				if (cap >= NDL_JSON_MAX_INPUT) {
					free(buf);
					if (in_fd >= 0)
						close(in_fd);
					return cni_error_set(err, CNI_ERR_IO,
							     "plugin output larger than %u bytes",
							     NDL_JSON_MAX_INPUT);
				}
				cap *= 2;
				buf = xrealloc(buf, cap);
			}
			ssize_t r = read(out_fd, buf + used, cap - used - 1);
			if (r > 0)
				used += (size_t)r;
			else if (r == 0 || (errno != EINTR && errno != EAGAIN))
				break;
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	buf[used] = 0;
	*ret_out = buf;
	*ret_len = used;
	return 0;
}

/* The error a delegated plugin printed, made ours (code, msg, details). */
static int plugin_error(const char *out, size_t len, int status, ndl_error_t *err)
{
	if (len == 0) {
		if (WIFSIGNALED(status))
			return cni_error_set(err, CNI_ERR_INTERNAL,
					     "netplugin failed with no error message: signal: %s",
					     strsignal(WTERMSIG(status)));
		return cni_error_set(err, CNI_ERR_INTERNAL,
				     "netplugin failed with no error message: exit status %d",
				     WEXITSTATUS(status));
	}
	cleanup_json json_t *j = json_loadb(out, len, 0, NULL);
	json_t *code = j ? json_object_get(j, "code") : NULL;
	json_t *msg = j ? json_object_get(j, "msg") : NULL;
	if (!json_is_integer(code))
		return cni_error_set(
		    err, CNI_ERR_INTERNAL,
		    "netplugin failed but error parsing its diagnostic message \"%.*s\"",
		    (int)(len > 1024 ? 1024 : len), out);
	json_int_t c = json_integer_value(code);
	const char *details = json_string_value(json_object_get(j, "details"));
	cni_error_set_details(details);
	return cni_error_set(err, c > 0 && c < CNI_ECODE_BASE ? (int)c : CNI_ERR_INTERNAL, "%s",
			     json_is_string(msg) ? json_string_value(msg) : "");
}

/* vfork + execve instead of posix_spawn: posix_spawn blocks every signal
 * and resets all 64 dispositions in the child (~130 syscalls, ~0.1 ms of
 * each ADD) to protect signal handlers that share the parent's memory; the
 * plugins install no handlers, so the child only wires its stdio and
 * execs. It writes nothing but *ret_errno (0 after a successful exec). Kept
 * out of line so that nothing of the caller's frame lives across vfork. */
static __attribute__((noinline)) pid_t spawn_plugin(const char *path, char *const argv[],
						    char *const envp[], int in_fd, int out_fd,
						    int *ret_errno)
{
	volatile int exec_errno = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0) {
			exec_errno = errno;
			_exit(127);
		}
		execve(path, argv, envp);
		exec_errno = errno;
		_exit(127);
	}
	*ret_errno = pid < 0 ? errno : exec_errno;
	return pid;
}

int cni_exec_plugin_start(const struct cni_env *env, const char *type, enum cni_command command,
			  const char *stdin_data, size_t stdin_len, struct cni_plugin_run *run,
			  ndl_error_t *err)
{
	*run = (struct cni_plugin_run){.pid = -1, .in_fd = -1, .out_fd = -1};
	cleanup_free char *path = NULL;
	if (cni_find_plugin(env->path, type, &path, err) < 0)
		return -EINVAL;
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return cni_error_set(err, CNI_ERR_IO, "pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		return cni_error_set(err, CNI_ERR_IO, "pipe: %s", strerror(e));
	}
	char **envp = child_env(command);
	char *argv[] = {path, NULL};
	int r = 0;
	pid_t pid = spawn_plugin(path, argv, envp, in[0], out[1], &r);
	/* The last entry is the one we allocated. */
	size_t n = 0;
	while (envp[n])
		n++;
	free(envp[n - 1]);
	free(envp);
	close(in[0]);
	close(out[1]);
	if (r != 0) {
		close(in[1]);
		close(out[0]);
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		return cni_error_set(err, CNI_ERR_INTERNAL, "exec %s: %s", path, strerror(r));
	}
	/* A plugin that stops reading must not kill us with SIGPIPE. */
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &ign, &run->old_sigpipe);
	run->pid = pid;
	run->in_fd = in[1];
	run->out_fd = out[0];
	run->data = stdin_data;
	run->len = stdin_len;
	run->type = xstrdup(type);
	/* Hand over what the pipe takes now (all of a usual config), so the
	 * plugin can work while the caller does something else. */
	fcntl(run->in_fd, F_SETFL, fcntl(run->in_fd, F_GETFL) | O_NONBLOCK);
	while (run->off < run->len) {
		ssize_t w = write(run->in_fd, run->data + run->off, run->len - run->off);
		if (w > 0)
			run->off += (size_t)w;
		else if (!(w < 0 && errno == EINTR))
			break;
	}
	if (run->off == run->len) {
		close(run->in_fd);
		run->in_fd = -1;
	}
	return 0;
}

int cni_exec_plugin_finish(struct cni_plugin_run *run, struct cni_result **ret, ndl_error_t *err)
{
	if (ret)
		*ret = NULL;
	if (run->pid <= 0)
		return cni_error_set(err, CNI_ERR_INTERNAL, "plugin was not started");
	cleanup_free char *type = steal_ptr(&run->type);
	cleanup_free char *output = NULL;
	size_t out_len = 0;
	int r = pump(run->in_fd, run->data + run->off, run->len - run->off, run->out_fd, &output,
		     &out_len, err);
	close(run->out_fd);
	run->in_fd = run->out_fd = -1;
	sigaction(SIGPIPE, &run->old_sigpipe, NULL);
	int status = 0;
	while (waitpid(run->pid, &status, 0) < 0 && errno == EINTR)
		;
	run->pid = -1;
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return plugin_error(output, out_len, status, err);
	if (!ret)
		return 0;
	if (out_len == 0)
		return 0;
	cleanup_json json_t *j = NULL;
	if (ndl_json_parse(output, out_len, &j, err) < 0)
		return cni_error_set(err, CNI_ERR_DECODE, "plugin %s result: %s", type,
				     ndl_error_msg(err));
	if (cni_result_from_json(j, CNI_VERSION_INVALID, "result", ret, err) < 0)
		return ndl_error_wrap(err, "plugin %s", type);
	return 0;
}

int cni_exec_plugin(const struct cni_env *env, const char *type, enum cni_command command,
		    const char *stdin_data, size_t stdin_len, struct cni_result **ret,
		    ndl_error_t *err)
{
	struct cni_plugin_run run;
	if (cni_exec_plugin_start(env, type, command, stdin_data, stdin_len, &run, err) < 0)
		return -EINVAL;
	return cni_exec_plugin_finish(&run, ret, err);
}

int cni_ipam_exec_start(const struct cni_env *env, const struct cni_conf *conf,
			enum cni_command command, struct cni_plugin_run *run, ndl_error_t *err)
{
	*run = (struct cni_plugin_run){.pid = -1, .in_fd = -1, .out_fd = -1};
	if (!conf->ipam_type || !*conf->ipam_type)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "field \"ipam.type\": required");
	int r = cni_exec_plugin_start(env, conf->ipam_type, command, conf->stdin_data,
				      conf->stdin_len, run, err);
	run->ipam_type = conf->ipam_type;
	run->command = command;
	return r;
}

int cni_ipam_exec_finish(struct cni_plugin_run *run, struct cni_result **ret, ndl_error_t *err)
{
	struct cni_result *res = NULL;
	const char *ipam_type = run->ipam_type;
	enum cni_command command = run->command;
	if (ret)
		*ret = NULL;
	int r = cni_exec_plugin_finish(run, command == CNI_CMD_ADD ? &res : NULL, err);
	if (r < 0)
		return r;
	if (command == CNI_CMD_ADD && !res)
		return cni_error_set(err, CNI_ERR_DECODE, "IPAM plugin %s returned no result",
				     ipam_type);
	if (ret)
		*ret = res;
	else
		cni_result_free(res);
	return 0;
}

int cni_ipam_exec(const struct cni_env *env, const struct cni_conf *conf, enum cni_command command,
		  struct cni_result **ret, ndl_error_t *err)
{
	struct cni_plugin_run run;
	if (cni_ipam_exec_start(env, conf, command, &run, err) < 0)
		return -EINVAL;
	return cni_ipam_exec_finish(&run, ret, err);
}

/* ---- dispatcher ---- */

/* "X.Y.Z" with numeric parts; false for anything else. */
static bool semver_parse(const char *s, long out[3])
{
	for (int i = 0; i < 3; i++) {
		char *end;
		if (*s < '0' || *s > '9')
			return false;
		out[i] = strtol(s, &end, 10);
		s = end;
		if (i < 2 && *s++ != '.')
			return false;
	}
	return *s == 0;
}

static int semver_cmp(const long a[3], const long b[3])
{
	for (int i = 0; i < 3; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static bool plugin_supports(const struct skel_plugin *p, enum cni_version v)
{
	for (const enum cni_version *x = p->versions; *x != CNI_VERSION_INVALID; x++)
		if (*x == v)
			return true;
	return false;
}

static int incompatible(const struct skel_plugin *p, const char *vs, ndl_error_t *err)
{
	char buf[256];
	size_t off = 0;
	for (const enum cni_version *x = p->versions; *x != CNI_VERSION_INVALID; x++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s\"%s\"", off ? " " : "",
				cni_version_str(*x));
	char *d = xasprintf("config is \"%s\", plugin supports [%s]", vs, buf);
	cni_error_set_details(d);
	free(d);
	return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions");
}

/* The version rules of the reference skel: CHECK needs >= 0.4.0, GC and
 * STATUS need >= 1.1.0, and the plugin must support the config's version. */
static int check_version(const struct skel_plugin *p, const struct cni_conf *c,
			 enum cni_command cmd, ndl_error_t *err)
{
	const char *vs = c->cni_version_str && *c->cni_version_str ? c->cni_version_str : "0.1.0";
	const char *min = cmd == CNI_CMD_CHECK				 ? "0.4.0"
			  : (cmd == CNI_CMD_GC || cmd == CNI_CMD_STATUS) ? "1.1.0"
									 : NULL;
	if (min) {
		long have[3], need[3];
		semver_parse(min, need);
		if (!semver_parse(vs, have))
			return cni_error_set(err, CNI_ERR_DECODE, "unable to parse version \"%s\"",
					     vs);
		if (semver_cmp(have, need) < 0)
			return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
					     "config version does not allow %s",
					     cni_command_str(cmd));
		bool any = false;
		for (const enum cni_version *x = p->versions; *x != CNI_VERSION_INVALID; x++) {
			long pv[3];
			semver_parse(cni_version_str(*x), pv);
			if (semver_cmp(pv, have) >= 0)
				any = true;
		}
		if (!any)
			return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
					     "plugin version does not allow %s",
					     cni_command_str(cmd));
	}
	if (c->version == CNI_VERSION_INVALID || !plugin_supports(p, c->version))
		return incompatible(p, vs, err);
	return 0;
}

static void print_version(const struct skel_plugin *p)
{
	/* The spec echoes the caller's cniVersion; stdin may be absent (a
	 * terminal), then we answer with our latest. */
	enum cni_version v = CNI_VERSION_LATEST;
	if (!isatty(STDIN_FILENO)) {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		ndl_error_t e = NDL_ERROR_INIT;
		if (ndl_read_fd(STDIN_FILENO, NDL_JSON_MAX_INPUT, &buf, &len, &e) == 0 && len) {
			cleanup_json json_t *j = json_loadb(buf, len, 0, NULL);
			const char *s = json_string_value(json_object_get(j, "cniVersion"));
			enum cni_version pv = s ? cni_version_parse(s) : CNI_VERSION_INVALID;
			if (pv != CNI_VERSION_INVALID && plugin_supports(p, pv))
				v = pv;
		}
		ndl_error_clear(&e);
	}
	json_t *j = json_object();
	json_object_set_new(j, "cniVersion", json_string(cni_version_str(v)));
	json_t *a = json_array();
	for (const enum cni_version *x = p->versions; *x != CNI_VERSION_INVALID; x++)
		json_array_append_new(a, json_string(cni_version_str(*x)));
	json_object_set_new(j, "supportedVersions", a);
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	ndl_error_t e = NDL_ERROR_INIT;
	if (s)
		ndl_write_all(STDOUT_FILENO, s, strlen(s), &e);
	ndl_error_clear(&e);
	free(s);
}

static int dispatch(const struct skel_plugin *p, struct skel_ctx *ctx, ndl_error_t *err)
{
	if (cni_env_load(&ctx->env, err) < 0) {
		if (!getenv("CNI_COMMAND") || !*getenv("CNI_COMMAND")) {
			if (p->about) {
				fprintf(stderr, "%s\nCNI protocol versions supported:", p->about);
				for (const enum cni_version *x = p->versions;
				     *x != CNI_VERSION_INVALID; x++)
					fprintf(stderr, "%s %s", x == p->versions ? "" : ",",
						cni_version_str(*x));
				fputc('\n', stderr);
				return 0;
			}
		}
		return -EINVAL;
	}
	enum cni_command cmd = ctx->env.command;
	if (cmd == CNI_CMD_VERSION) {
		print_version(p);
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	if (ndl_read_fd(STDIN_FILENO, NDL_JSON_MAX_INPUT, &buf, &len, err) < 0)
		return cni_error_set(err, CNI_ERR_IO, "error reading from stdin: %s",
				     ndl_error_msg(err));
	if (cni_conf_parse(buf, len, &ctx->conf, err) < 0)
		return -EINVAL;
	if (check_version(p, &ctx->conf, cmd, err) < 0)
		return -EINVAL;
	skel_cmd_fn fn = NULL;
	switch (cmd) {
	case CNI_CMD_ADD:
		fn = p->add;
		break;
	case CNI_CMD_CHECK:
		fn = p->check;
		break;
	case CNI_CMD_DEL:
		fn = p->del;
		break;
	case CNI_CMD_GC:
		fn = p->gc;
		if (!fn)
			return 0;
		break;
	case CNI_CMD_STATUS:
		fn = p->status;
		if (!fn)
			return 0;
		break;
	default:
		break;
	}
	if (!fn)
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "unsupported CNI_COMMAND: %s",
				     cni_command_str(cmd));
	return fn(ctx, err);
}

int skel_main(const struct skel_plugin *p)
{
	/* jansson seeds its hash function from /dev/urandom (open, read,
	 * close) on first use; one getrandom() does it in a single syscall. */
	size_t seed = 0;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || !seed)
		seed = (size_t)getpid() * 2654435761u + 1;
	json_object_seed(seed);
	struct skel_ctx ctx = {0};
	ndl_error_t err = NDL_ERROR_INIT;
	int r = dispatch(p, &ctx, &err);
	if (r < 0) {
		/* Answer in the caller's version when we speak it. */
		const char *vs = cni_version_str(CNI_VERSION_LATEST);
		if (ctx.conf.version != CNI_VERSION_INVALID && ctx.conf.cni_version_str &&
		    *ctx.conf.cni_version_str)
			vs = ctx.conf.cni_version_str;
		cni_print_error(vs, cni_error_code(&err), ndl_error_msg(&err), cni_error_details());
	}
	ndl_error_clear(&err);
	cni_error_set_details(NULL);
	cni_conf_clear(&ctx.conf);
	cni_env_clear(&ctx.env);
	return r < 0 ? 1 : 0;
}
