/* Benchmark spawn helper: runs argv[1..] with stdin/stdout on /dev/null and
 * prints "<elapsed ns> <exit code> <ru_maxrss KiB>". A small static process
 * forks it, so ru_maxrss is the runtime's own peak (and of the children it
 * waited for), not inflated by a large parent's pages as a vfork from Python
 * would be. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rtspawn cmd [args...]\n");
		return 2;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(fd, 0);
		dup2(fd, 1);
		execv(argv[1], argv + 1);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%lld %d %ld\n", ns, code, ru.ru_maxrss);
	return 0;
}
