/* bench/cni timing helper: runs one program with the given stdin/stdout/stderr
 * files and prints "<ns> <exit code> <ru_maxrss KiB>" for it.
 *
 * Why a separate, statically linked helper: the kernel folds the RSS
 * high-water mark of the address space a child had before execve() into the
 * child's ru_maxrss. Spawned straight from Python, every plugin would be
 * charged with the interpreter's ~13 MB. This helper is a few hundred KiB, so
 * wait4()'s ru_maxrss is the plugin's own peak (bridge's, including the
 * host-local child it runs and reaps). The timed window is vfork() to the reap;
 * file opening and result parsing stay outside it.
 *
 *   spawn-timer IN OUT ERR PROG [ARG...]     (environment is passed through)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "spawn-timer: open %s: %m\n", path);
		exit(125);
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: spawn-timer IN OUT ERR PROG [ARG...]\n");
		return 125;
	}
	int in = open_or_die(argv[1], O_RDONLY);
	int out = open_or_die(argv[2], O_WRONLY | O_CREAT | O_TRUNC);
	int err = open_or_die(argv[3], O_WRONLY | O_CREAT | O_TRUNC);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = vfork();
	if (pid < 0) {
		fprintf(stderr, "spawn-timer: vfork: %m\n");
		return 125;
	}
	if (pid == 0) {
		/* dup2 clears O_CLOEXEC on the targets only. */
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		execve(argv[4], argv + 4, environ);
		/* Only async-signal-safe calls here (vfork child). */
		static const char msg[] = "spawn-timer: execve failed\n";
		ssize_t unused = write(2, msg, sizeof(msg) - 1);
		(void)unused;
		_exit(127);
	}
	int status;
	struct rusage ru;
	pid_t r;
	do
		r = wait4(pid, &status, 0, &ru);
	while (r < 0 && errno == EINTR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		fprintf(stderr, "spawn-timer: wait4: %m\n");
		return 125;
	}
	long long ns =
	    (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%lld %d %ld\n", ns, code, ru.ru_maxrss);
	return 0;
}
