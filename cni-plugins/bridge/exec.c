/* bridge: run a helper tool (iptables-restore, iptables, nft) with some
 * stdin and collect its output. posix_spawn (vfork-style in glibc) so the
 * child never duplicates our pages. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

extern char **environ;

#define OUT_MAX (4u * 1024 * 1024)

static void buf_append(char **b, size_t *len, const char *data, size_t n)
{
	if (*len + n > OUT_MAX)
		n = *len < OUT_MAX ? OUT_MAX - *len : 0;
	*b = xrealloc(*b, *len + n + 1);
	memcpy(*b + *len, data, n);
	*len += n;
	(*b)[*len] = 0;
}

int bridge_run(char *const argv[], const char *in, char **ret_out, char **ret_errout,
	       int *ret_status, ndl_error_t *err)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	int rc = -1;
	pid_t pid = -1;
	char *out = xstrdup(""), *eout = xstrdup("");
	size_t olen = 0, elen = 0;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		rc = ndl_error_set(err, errno, "pipe");
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (e != 0) {
		pid = -1;
		rc = ndl_error_set(err, e, "exec %s", argv[0]);
		goto out;
	}
	close(pin[0]);
	pin[0] = -1;
	close(pout[1]);
	pout[1] = -1;
	close(perr[1]);
	perr[1] = -1;
	/* Inputs here are a few hundred bytes, far below the pipe buffer, so a
	 * plain write cannot deadlock against the child's output. */
	if (in && *in) {
		size_t len = strlen(in), off = 0;
		while (off < len) {
			ssize_t n = write(pin[1], in + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break; /* child exited early: its status tells why */
			off += (size_t)n;
		}
	}
	close(pin[1]);
	pin[1] = -1;

	struct pollfd pf[2] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}};
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = ndl_error_set(err, errno, "poll");
			goto out;
		}
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			char tmp[4096];
			ssize_t n = read(pf[i].fd, tmp, sizeof(tmp));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pf[i].fd);
				if (i == 0)
					pout[0] = -1;
				else
					perr[0] = -1;
				pf[i].fd = -1;
				continue;
			}
			if (i == 0)
				buf_append(&out, &olen, tmp, (size_t)n);
			else
				buf_append(&eout, &elen, tmp, (size_t)n);
		}
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			rc = ndl_error_set(err, errno, "waitpid %s", argv[0]);
			pid = -1;
			goto out;
		}
	}
	pid = -1;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (ret_out)
		*ret_out = steal_ptr(&out);
	if (ret_errout)
		*ret_errout = steal_ptr(&eout);
	rc = 0;
out:
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	free(out);
	free(eout);
	return rc;
}

int bridge_run_quiet_parallel(char *const *const argvs[], const char *const ins[], size_t n,
			      int ret_status[], ndl_error_t *err)
{
	pid_t pids[4];
	int rc = 0;
	size_t started = 0;
	if (n > 4)
		return ndl_error_setf(err, EINVAL, "too many parallel commands");
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0)
		return ndl_error_set(err, errno, "open /dev/null");
	for (size_t i = 0; i < n; i++) {
		int pin[2];
		if (pipe2(pin, O_CLOEXEC) < 0) {
			rc = ndl_error_set(err, errno, "pipe");
			break;
		}
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
		posix_spawn_file_actions_adddup2(&fa, null, 1);
		posix_spawn_file_actions_adddup2(&fa, null, 2);
		int e = posix_spawnp(&pids[i], argvs[i][0], &fa, NULL, argvs[i], environ);
		posix_spawn_file_actions_destroy(&fa);
		close(pin[0]);
		if (e != 0) {
			close(pin[1]);
			rc = ndl_error_set(err, e, "exec %s", argvs[i][0]);
			break;
		}
		started++;
		/* A few hundred bytes: below the pipe buffer, never blocks. A
		 * child that exits early shows in its status, not here. */
		const char *in = ins[i] ? ins[i] : "";
		size_t len = strlen(in), off = 0;
		while (off < len) {
			ssize_t w = write(pin[1], in + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				break;
			off += (size_t)w;
		}
		close(pin[1]);
	}
	close(null);
	for (size_t i = 0; i < started; i++) {
		int st = 0;
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		ret_status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	return rc;
}
