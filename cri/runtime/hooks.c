/* OCI hooks: each runs with the container state JSON on stdin, its own
 * args/env, and is killed when its timeout passes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cri/runtime/runtime-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int run_hook(const struct rt_hook *h, const char *kind, size_t idx, const char *state_json,
		    ndl_error_t *err)
{
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return ndl_error_set(err, errno, "hooks.%s[%zu]: pipe", kind, idx);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	char *default_args[] = {h->path, NULL};
	char *empty_env[] = {NULL};
	pid_t pid;
	int r =
	    posix_spawn(&pid, h->path, &fa, NULL, h->args && h->args[0] ? h->args : default_args,
			h->env ? h->env : empty_env);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	if (r != 0) {
		close(in[1]);
		return ndl_error_set(err, r, "hooks.%s[%zu]: run %s", kind, idx, h->path);
	}
	/* A hook that does not read stdin must not block us: ignore EPIPE. */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	ndl_error_t we = NDL_ERROR_INIT;
	ndl_write_all(in[1], state_json, strlen(state_json), &we);
	ndl_error_clear(&we);
	close(in[1]);
	signal(SIGPIPE, old);
	long long deadline = h->timeout > 0 ? now_ms() + h->timeout * 1000LL : 0;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, deadline ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return ndl_error_set(err, errno, "hooks.%s[%zu]: wait", kind, idx);
		if (deadline && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return ndl_error_setf(err, ETIMEDOUT,
					      "hooks.%s[%zu]: %s timed out after %ds", kind, idx,
					      h->path, h->timeout);
		}
		if (deadline)
			poll(NULL, 0, 5);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return ndl_error_setf(err, EIO, "hooks.%s[%zu]: %s exited with status %d", kind,
				      idx, h->path, WEXITSTATUS(status));
	return ndl_error_setf(err, EIO, "hooks.%s[%zu]: %s killed by signal %d", kind, idx, h->path,
			      WTERMSIG(status));
}

int rt_run_hooks(const struct rt_hooks *hooks, const char *kind, const char *state_json,
		 ndl_error_t *err)
{
	for (size_t i = 0; i < hooks->n; i++) {
		int r = run_hook(&hooks->list[i], kind, i, state_json, err);
		if (r < 0)
			return r;
	}
	return 0;
}
