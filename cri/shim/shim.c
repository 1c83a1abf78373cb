/* nodelet-shim: the per-container monitor. It is the parent of the
 * container's init for the container's whole life: it runs the OCI runtime's
 * `create` as a child subreaper (so the init is reparented to it), writes the
 * container's stdout/stderr to the CRI log, answers control requests on a
 * unix socket (reopen the log, state), and records the exit status, OOM kill
 * and finish time in <state-dir>/exit.json when the init exits. With --tty
 * it owns the container's pty master (received on a console socket), with
 * --stdin the write end of its stdin; <state-dir>/attach serves attach
 * clients (CRI Attach) with the live output, stdin and resize. It is
 * statically linked and never loads the runtime library itself, which keeps
 * it small (well under 1 MB RSS); it outlives restarts of nodelet-cri. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cri/shim/logwriter.h"
#include "cri/shim/shim.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* After the init exits, how long to wait for other holders of the stdio
 * pipes (processes outside a pid namespace) before finishing anyway. */
#define DRAIN_TIMEOUT_MS 2000
/* Attach clients served at once (each costs one fd, no memory). */
#define MAX_ATTACH 8

/* Attach protocol, one SOCK_SEQPACKET message each, first byte the type:
 *   client -> shim: "a<in><out><err>" (flags '0'/'1', first message),
 *                   "i<bytes>" stdin, "c" stdin ended, "r<W> <H>" resize
 *   shim -> client: "o<bytes>" stdout, "e<bytes>" stderr, "d" detached
 *                   (stdin ended and stdin_once does not apply), "x" exited */
struct attach_client {
	int fd;
	bool in, out, err;
};

struct shim {
	struct shim_opts o;
	struct logw log;
	int epfd;
	int sigfd;
	int out_fd, err_fd; /* read ends of the container's stdout/stderr */
	int pty_fd;	    /* with --tty: the pty master (output side) */
	int stdin_w;	    /* --stdin: pipe write end, or a dup of the pty master */
	bool stdin_blocked; /* stdin_w is full: clients are not read meanwhile */
	int listen_fd;
	int attach_fd;
	struct attach_client clients[MAX_ATTACH];
	pid_t init_pid;
	bool exited;
	int wait_status;
	struct timespec finished;
	char oom_file[PATH_MAX]; /* memory.oom_control (v1) or memory.events (v2) */
	char sock_path[PATH_MAX];
	char attach_path[PATH_MAX];
	char console_path[PATH_MAX];
};

/* One byte in front for the attach message type. */
static char iobuf[1 + 65536];
/* Stdin bytes an attach client sent that the container has not read yet. */
static char stdin_pend[65536];
static size_t stdin_pend_len;

static void usage(FILE *f)
{
	fprintf(f, "Usage: nodelet-shim --id ID --bundle DIR --state-dir DIR [options]\n"
		   "\n"
		   "Monitor one container: create it with an OCI runtime, keep its init as a\n"
		   "child, write its output in the CRI log format, record its exit.\n"
		   "\n"
		   "  --id ID              container id\n"
		   "  --bundle DIR         OCI bundle with config.json\n"
		   "  --state-dir DIR      shim.pid, init.pid, exit.json, shim.sock go here\n"
		   "  --runtime PATH       OCI runtime (default: nodelet-runtime beside this binary)\n"
		   "  --runtime-root DIR   --root passed to the runtime\n"
		   "  --log-path PATH      CRI log file (default: output is discarded)\n"
		   "  --stdin              keep the container's stdin open for attach\n"
		   "  --stdin-once         close it after the first attach with stdin ends\n"
		   "  --tty                the container has a terminal (process.terminal)\n"
		   "  --foreground         do not detach (for debugging)\n"
		   "  -h, --help\n");
}

int shim_parse_args(int argc, char **argv, struct shim_opts *o, ndl_error_t *err)
{
	static const struct option longopts[] = {
		{"id", required_argument, NULL, 'i'},
		{"bundle", required_argument, NULL, 'b'},
		{"state-dir", required_argument, NULL, 's'},
		{"runtime", required_argument, NULL, 'r'},
		{"runtime-root", required_argument, NULL, 'R'},
		{"log-path", required_argument, NULL, 'l'},
		{"stdin", no_argument, NULL, 'S'},
		{"stdin-once", no_argument, NULL, 'O'},
		{"tty", no_argument, NULL, 'T'},
		{"foreground", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->id = optarg;
			break;
		case 'b':
			o->bundle = optarg;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'r':
			o->runtime = optarg;
			break;
		case 'R':
			o->runtime_root = optarg;
			break;
		case 'l':
			o->log_path = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'S':
			o->stdin = true;
			break;
		case 'O':
			o->stdin_once = true;
			break;
		case 'T':
			o->tty = true;
			break;
		case 'h':
			o->help = true;
			return 0;
		default:
			return ndl_error_setf(err, EINVAL, "unknown or incomplete option \"%s\"",
					      argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ndl_error_setf(err, EINVAL, "unexpected argument \"%s\"", argv[optind]);
	if (!o->id || !*o->id)
		return ndl_error_setf(err, EINVAL, "--id is required");
	if (strchr(o->id, '/') || !strcmp(o->id, ".") || !strcmp(o->id, ".."))
		return ndl_error_setf(err, EINVAL, "--id \"%s\": invalid container id", o->id);
	if (!o->bundle || !*o->bundle)
		return ndl_error_setf(err, EINVAL, "--bundle is required");
	if (!o->state_dir || !*o->state_dir)
		return ndl_error_setf(err, EINVAL, "--state-dir is required");
	return 0;
}

/* The runtime binary: --runtime, else nodelet-runtime next to us. */
static char *find_runtime(const char *given)
{
	if (given)
		return xstrdup(given);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *p = xasprintf("%s/nodelet-runtime", self);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup("nodelet-runtime");
}

static int write_state_file(const char *dir, const char *name, const char *content,
			    ndl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	return ndl_write_file_atomic(path, content, strlen(content), 0644, err);
}

/* The last "msg" of the runtime's JSON log, for a readable create error. */
static char *runtime_error(const char *log_path)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(log_path, 1 << 20, &buf, &len, NULL) < 0 || len == 0)
		return NULL;
	char *last = NULL;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *m = strstr(line, "\"msg\":\"");
		if (!m || !strstr(line, "\"level\":\"error\""))
			continue;
		m += 7;
		char *e = m;
		while (*e && !(*e == '"' && e[-1] != '\\'))
			e++;
		free(last);
		last = xstrndup(m, (size_t)(e - m));
	}
	return last;
}

/* Find the memory cgroup of pid to read its OOM kill counter later. */
static void find_oom_file(pid_t pid, char *out, size_t size)
{
	out[0] = '\0';
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[PATH_MAX + 64];
	char v2[PATH_MAX] = "";
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *cg = c2 + 1;
		bool memory = false;
		cleanup_free char *dup = xstrdup(ctrls);
		for (char *t = strtok(dup, ","); t; t = strtok(NULL, ","))
			if (!strcmp(t, "memory"))
				memory = true;
		if (memory) {
			snprintf(out, size, "/sys/fs/cgroup/memory%s/memory.oom_control", cg);
			return;
		}
		if (!*ctrls)
			snprintf(v2, sizeof(v2), "%s", cg);
	}
	/* Pure cgroup v2: /sys/fs/cgroup is the unified mount. */
	if (*v2 && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
		snprintf(out, size, "/sys/fs/cgroup%s/memory.events", strcmp(v2, "/") ? v2 : "");
}

static long read_oom_kills(const char *file)
{
	if (!*file)
		return -1;
	cleanup_fclose FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char key[64];
	long val;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, "oom_kill"))
			return val;
	return -1;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* A listening unix socket at <state-dir>/name (mode 0600). */
static int listen_unix(struct shim *s, const char *name, int type, char *path, int *ret,
		       ndl_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(path, PATH_MAX, "%s/%s", s->o.state_dir, name) >= (int)sizeof(sa.sun_path))
		return ndl_error_setf(err, ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ndl_error_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		ndl_error_set(err, e, "listen on %s", path);
		path[0] = '\0'; /* nothing of ours to remove */
		return -e;
	}
	chmod(path, 0600);
	*ret = fd;
	return 0;
}

static int open_control_socket(struct shim *s, ndl_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(s->sock_path, sizeof(s->sock_path), "%s/shim.sock", s->o.state_dir) >=
		    (int)sizeof(sa.sun_path))
		return ndl_error_setf(err, ENAMETOOLONG, "control socket path too long: %s",
				      s->sock_path);
	strcpy(sa.sun_path, s->sock_path);
	unlink(s->sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ndl_error_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "listen on %s", s->sock_path);
	}
	chmod(s->sock_path, 0600);
	s->listen_fd = fd;
	return 0;
}

/* One request line, one reply line:
 *   reopen  -> "ok" | "error <msg>"   (ReopenContainerLog)
 *   state   -> {"pid":N,"running":bool,"exit_status":N}
 */
static void handle_control(struct shim *s)
{
	int c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct timeval tv = {.tv_sec = 1};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[128];
	ssize_t n = read(c, req, sizeof(req) - 1);
	if (n <= 0) {
		close(c);
		return;
	}
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	char reply[512];
	if (!strcmp(req, "reopen")) {
		ndl_error_t err = NDL_ERROR_INIT;
		if (logw_reopen(&s->log, &err) < 0)
			snprintf(reply, sizeof(reply), "error %s\n", ndl_error_msg(&err));
		else
			snprintf(reply, sizeof(reply), "ok\n");
		ndl_error_clear(&err);
	} else if (!strcmp(req, "state")) {
		snprintf(reply, sizeof(reply), "{\"pid\":%d,\"running\":%s,\"exit_status\":%d}\n",
			 (int)s->init_pid, s->exited ? "false" : "true",
			 s->exited ? s->wait_status : -1);
	} else {
		snprintf(reply, sizeof(reply), "error unknown request \"%.64s\"\n", req);
	}
	(void)!write(c, reply, strlen(reply));
	close(c);
}

static void drop_client(struct shim *s, struct attach_client *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Live output to attach clients. A client that cannot keep up is dropped
 * rather than slowing the container (whose log must keep flowing). */
static void broadcast(struct shim *s, char type, size_t n)
{
	iobuf[0] = type;
	for (int i = 0; i < MAX_ATTACH; i++) {
		struct attach_client *c = &s->clients[i];
		if (c->fd < 0 || !(type == 'o' ? c->out : c->err))
			continue;
		if (send(c->fd, iobuf, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			drop_client(s, c);
	}
}

static void pump(struct shim *s, int *fd, enum logw_stream st)
{
	ssize_t n = read(*fd, iobuf + 1, sizeof(iobuf) - 1);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		broadcast(s, st == LOGW_STDOUT ? 'o' : 'e', (size_t)n);
		ndl_error_t err = NDL_ERROR_INIT;
		if (logw_feed(&s->log, st, iobuf + 1, (size_t)n, &err) < 0) {
			log_warn("cannot write container log", "id=%s err=\"%s\"", s->o.id,
				 ndl_error_msg(&err));
			ndl_error_clear(&err);
		}
		return;
	}
	/* EOF or error (EIO: the pty's last slave fd closed): the stream is done. */
	logw_flush(&s->log, st, NULL);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

static void set_clients_readable(struct shim *s, bool on)
{
	for (int i = 0; i < MAX_ATTACH; i++)
		if (s->clients[i].fd >= 0) {
			struct epoll_event ev = {.events = on ? EPOLLIN : 0,
						 .data.fd = s->clients[i].fd};
			epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->clients[i].fd, &ev);
		}
}

static void close_stdin(struct shim *s)
{
	if (s->stdin_w < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->stdin_w, NULL);
	close(s->stdin_w);
	s->stdin_w = -1;
	stdin_pend_len = 0;
	if (s->stdin_blocked) {
		s->stdin_blocked = false;
		set_clients_readable(s, true);
	}
}

/* Write the pending stdin bytes; while the container does not read, stop
 * reading attach clients (their socket buffers hold the rest). */
static void flush_stdin(struct shim *s)
{
	while (stdin_pend_len && s->stdin_w >= 0) {
		ssize_t w = write(s->stdin_w, stdin_pend, stdin_pend_len);
		if (w > 0) {
			memmove(stdin_pend, stdin_pend + w, stdin_pend_len - (size_t)w);
			stdin_pend_len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		close_stdin(s); /* EPIPE: the container closed its stdin */
		return;
	}
	bool blocked = stdin_pend_len > 0;
	if (blocked != s->stdin_blocked) {
		struct epoll_event ev = {.events = blocked ? EPOLLOUT : 0, .data.fd = s->stdin_w};
		epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->stdin_w, &ev);
		set_clients_readable(s, !blocked);
		s->stdin_blocked = blocked;
	}
}

static void accept_attach(struct shim *s)
{
	int c = accept4(s->attach_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	for (int i = 0; i < MAX_ATTACH; i++) {
		if (s->clients[i].fd >= 0)
			continue;
		s->clients[i] = (struct attach_client){.fd = c, .out = true, .err = true};
		struct epoll_event ev = {.events = s->stdin_blocked ? 0 : EPOLLIN, .data.fd = c};
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, c, &ev);
		if (s->exited) {
			(void)!send(c, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			drop_client(s, &s->clients[i]);
		}
		return;
	}
	close(c); /* too many attach clients */
}

static void handle_attach(struct shim *s, struct attach_client *c)
{
	char *m = iobuf; /* reused: output is never pumped while we are here */
	ssize_t n = recv(c->fd, m, sizeof(iobuf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(s, c);
		return;
	}
	switch (m[0]) {
	case 'a':
		if (n >= 4) {
			c->in = m[1] == '1';
			c->out = m[2] == '1';
			c->err = m[3] == '1';
		}
		break;
	case 'i':
		if (!c->in || s->stdin_w < 0 || n == 1)
			break;
		if ((size_t)n - 1 > sizeof(stdin_pend) - stdin_pend_len) {
			n = (ssize_t)(sizeof(stdin_pend) - stdin_pend_len) + 1;
		}
		memcpy(stdin_pend + stdin_pend_len, m + 1, (size_t)n - 1);
		stdin_pend_len += (size_t)n - 1;
		flush_stdin(s);
		break;
	case 'r': {
		unsigned w = 0, h = 0;
		m[n < (ssize_t)sizeof(iobuf) ? n : n - 1] = '\0';
		if (s->pty_fd >= 0 && sscanf(m + 1, "%u %u", &w, &h) == 2 && w < 65536 &&
		    h < 65536) {
			struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
			ioctl(s->pty_fd, TIOCSWINSZ, &ws);
		}
		break;
	}
	case 'c':
		/* The client's stdin ended. containerd closes the container's stdin
		 * for stdin_once without a terminal, and otherwise detaches. */
		if (!c->in)
			break;
		if (s->o.stdin_once && !s->o.tty) {
			flush_stdin(s);
			close_stdin(s);
			c->in = false;
		} else {
			(void)!send(c->fd, "d", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			drop_client(s, c);
		}
		break;
	default:
		break;
	}
}

static void reap(struct shim *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			log_info("shim ignores termination; stop the container instead", "id=%s",
				 s->o.id);
	}
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			break;
		if (p == s->init_pid && !s->exited) {
			s->exited = true;
			s->wait_status = st;
			clock_gettime(CLOCK_REALTIME, &s->finished);
		}
	}
}

int shim_exit_json(int wait_status, long long finished_ns, bool oom_killed, char *buf,
		   size_t size)
{
	int code = 0, sig = 0;
	if (WIFEXITED(wait_status))
		code = WEXITSTATUS(wait_status);
	else if (WIFSIGNALED(wait_status)) {
		sig = WTERMSIG(wait_status);
		code = 128 + sig;
	}
	return snprintf(buf, size,
			"{\"exit_code\":%d,\"signal\":%d,\"oom_killed\":%s,\"finished_at\":%lld}\n",
			code, sig, oom_killed ? "true" : "false", finished_ns);
}

static int record_exit(struct shim *s, long oom_before, ndl_error_t *err)
{
	long oom_after = read_oom_kills(s->oom_file);
	bool oom = oom_before >= 0 && oom_after > oom_before;
	char buf[256];
	long long ns = (long long)s->finished.tv_sec * 1000000000LL + s->finished.tv_nsec;
	shim_exit_json(s->wait_status, ns, oom, buf, sizeof(buf));
	return write_state_file(s->o.state_dir, "exit.json", buf, err);
}

static long long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000LL + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int run_loop(struct shim *s, long oom_before)
{
	struct timespec exited_mono = {0};
	for (;;) {
		if (s->exited && exited_mono.tv_sec == 0)
			clock_gettime(CLOCK_MONOTONIC, &exited_mono);
		if (s->exited && ((s->out_fd < 0 && s->err_fd < 0 && s->pty_fd < 0) ||
				  ms_since(&exited_mono) >= DRAIN_TIMEOUT_MS))
			break;
		int timeout = s->exited ? 100 : -1;
		struct epoll_event evs[8];
		int n = epoll_wait(s->epfd, evs, 8, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == s->sigfd)
				reap(s);
			else if (fd == s->listen_fd)
				handle_control(s);
			else if (fd == s->out_fd)
				pump(s, &s->out_fd, LOGW_STDOUT);
			else if (fd == s->err_fd)
				pump(s, &s->err_fd, LOGW_STDERR);
			else if (fd == s->pty_fd)
				pump(s, &s->pty_fd, LOGW_STDOUT);
			else if (fd == s->stdin_w)
				flush_stdin(s);
			else if (fd == s->attach_fd)
				accept_attach(s);
			else
				for (int k = 0; k < MAX_ATTACH; k++)
					if (s->clients[k].fd == fd)
						handle_attach(s, &s->clients[k]);
		}
	}
	/* Whatever is still buffered (drain timeout) goes out as is. */
	while (s->out_fd >= 0 && s->exited) {
		ssize_t n = read(s->out_fd, iobuf, sizeof(iobuf));
		if (n <= 0)
			break;
		logw_feed(&s->log, LOGW_STDOUT, iobuf, (size_t)n, NULL);
	}
	logw_flush(&s->log, LOGW_STDOUT, NULL);
	logw_flush(&s->log, LOGW_STDERR, NULL);
	/* Attached clients see the end of the container. */
	for (int k = 0; k < MAX_ATTACH; k++)
		if (s->clients[k].fd >= 0) {
			(void)!send(s->clients[k].fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			drop_client(s, &s->clients[k]);
		}
	close_stdin(s);
	ndl_error_t err = NDL_ERROR_INIT;
	int r = record_exit(s, oom_before, &err);
	if (r < 0)
		log_error("cannot record exit", "id=%s err=\"%s\"", s->o.id, ndl_error_msg(&err));
	ndl_error_clear(&err);
	return r;
}

/* Tell the waiting parent how create went: "ok <pid>\n" or "error <msg>\n". */
static void report(int fd, const char *fmt, ...)
{
	if (fd < 0)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	(void)!write(fd, buf, (size_t)n);
	close(fd);
}

/* Run `<runtime> [--root R] --log L --log-format json create --bundle B
 * --pid-file P ID` with the container's stdio pipes, and wait for it. */
static int runtime_create(struct shim *s, int in_r, int out_w, int err_w, ndl_error_t *err)
{
	cleanup_free char *runtime = find_runtime(s->o.runtime);
	cleanup_free char *log = xasprintf("%s/runtime.log", s->o.state_dir);
	cleanup_free char *pidf = xasprintf("%s/init.pid", s->o.state_dir);
	const char *argv[16];
	int a = 0;
	argv[a++] = runtime;
	if (s->o.runtime_root) {
		argv[a++] = "--root";
		argv[a++] = s->o.runtime_root;
	}
	argv[a++] = "--log";
	argv[a++] = log;
	argv[a++] = "--log-format";
	argv[a++] = "json";
	argv[a++] = "create";
	argv[a++] = "--bundle";
	argv[a++] = s->o.bundle;
	argv[a++] = "--pid-file";
	argv[a++] = pidf;
	if (s->o.tty) {
		argv[a++] = "--console-socket";
		argv[a++] = s->console_path;
	}
	argv[a++] = s->o.id;
	argv[a] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		return ndl_error_set(err, errno, "fork");
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(in_r >= 0 ? in_r : nul, 0) < 0 || dup2(out_w, 1) < 0 ||
		    dup2(err_w, 2) < 0)
			_exit(127);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return ndl_error_set(err, errno, "wait for runtime");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cleanup_free char *msg = runtime_error(log);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !msg)
			return ndl_error_setf(err, ENOENT, "runtime %s could not be executed",
					      runtime);
		return ndl_error_setf(err, EIO, "%s create: %s", runtime,
				      msg ? msg : "failed (see runtime.log)");
	}
	cleanup_free char *buf = NULL;
	size_t len;
	int r = ndl_read_file(pidf, 64, &buf, &len, err);
	if (r < 0)
		return ndl_error_wrap(err, "runtime left no pid file");
	long p = strtol(buf, NULL, 10);
	if (p <= 0)
		return ndl_error_setf(err, EIO, "runtime pid file %s: invalid pid \"%s\"", pidf, buf);
	s->init_pid = (pid_t)p;
	return 0;
}

/* The runtime connected to the console socket during create and sent the
 * pty master (SCM_RIGHTS); the connection is queued, so accept it now. */
static int receive_pty(struct shim *s, int lsock, ndl_error_t *err)
{
	int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return ndl_error_set(err, errno, "console socket: runtime did not connect");
	char data[256];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	int e = errno;
	close(c);
	struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return ndl_error_setf(err, n < 0 ? e : EPROTO, "console socket: no pty received");
	memcpy(&s->pty_fd, CMSG_DATA(cm), sizeof(int));
	return 0;
}

static int shim_run(struct shim *s, int report_fd)
{
	ndl_error_t err = NDL_ERROR_INIT;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, console = -1;
	s->out_fd = s->err_fd = s->listen_fd = s->sigfd = s->epfd = -1;
	s->pty_fd = s->stdin_w = s->attach_fd = -1;
	for (int i = 0; i < MAX_ATTACH; i++)
		s->clients[i].fd = -1;

	/* Orphans of the runtime (the container init) become our children. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		report(report_fd, "error set child subreaper: %s\n", strerror(errno));
		return 1;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sigfd < 0 || s->epfd < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (s->o.stdin && !s->o.tty && pipe2(inp, O_CLOEXEC) < 0)) {
		report(report_fd, "error setup: %s\n", strerror(errno));
		return 1;
	}
	if (logw_open(&s->log, s->o.log_path, &err) < 0 || open_control_socket(s, &err) < 0 ||
	    listen_unix(s, "attach", SOCK_SEQPACKET, s->attach_path, &s->attach_fd, &err) < 0 ||
	    (s->o.tty &&
	     listen_unix(s, "console.sock", SOCK_STREAM, s->console_path, &console, &err) < 0) ||
	    runtime_create(s, inp[0], outp[1], errp[1], &err) < 0 ||
	    (s->o.tty && receive_pty(s, console, &err) < 0)) {
		/* Undo before reporting: the caller may look right after. */
		if (s->init_pid > 0)
			kill(s->init_pid, SIGKILL);
		unlink(s->sock_path);
		if (s->attach_path[0])
			unlink(s->attach_path);
		if (s->console_path[0])
			unlink(s->console_path);
		report(report_fd, "error %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		return 1;
	}
	if (console >= 0) {
		close(console);
		unlink(s->console_path);
	}
	close(outp[1]);
	close(errp[1]);
	if (inp[0] >= 0) {
		close(inp[0]);
		s->stdin_w = inp[1];
	} else if (s->o.stdin && s->pty_fd >= 0) {
		s->stdin_w = fcntl(s->pty_fd, F_DUPFD_CLOEXEC, 3);
	}
	if (s->pty_fd >= 0)
		fcntl(s->pty_fd, F_SETFL, O_NONBLOCK);
	if (s->stdin_w >= 0) {
		fcntl(s->stdin_w, F_SETFL, O_NONBLOCK);
		struct epoll_event ev = {.events = 0, .data.fd = s->stdin_w};
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stdin_w, &ev);
	}
	s->out_fd = outp[0];
	s->err_fd = errp[0];
	fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
	epoll_add(s->epfd, s->sigfd);
	epoll_add(s->epfd, s->listen_fd);
	epoll_add(s->epfd, s->out_fd);
	epoll_add(s->epfd, s->err_fd);
	epoll_add(s->epfd, s->attach_fd);
	if (s->pty_fd >= 0)
		epoll_add(s->epfd, s->pty_fd);

	find_oom_file(s->init_pid, s->oom_file, sizeof(s->oom_file));
	long oom_before = read_oom_kills(s->oom_file);

	char pidbuf[32];
	snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
	if (write_state_file(s->o.state_dir, "shim.pid", pidbuf, &err) < 0) {
		report(report_fd, "error %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		kill(s->init_pid, SIGKILL);
		return 1;
	}
	report(report_fd, "ok %d\n", (int)s->init_pid);
	/* The init may already have died (bad command); reap() handles it. */
	reap(s);
	int r = run_loop(s, oom_before);
	unlink(s->sock_path);
	unlink(s->attach_path);
	logw_close(&s->log);
	return r < 0 ? 1 : 0;
}

int shim_main(int argc, char **argv)
{
	struct shim s;
	memset(&s, 0, sizeof(s));
	ndl_error_t err = NDL_ERROR_INIT;
	if (shim_parse_args(argc, argv, &s.o, &err) < 0) {
		fprintf(stderr, "nodelet-shim: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		usage(stderr);
		return 2;
	}
	if (s.o.help) {
		usage(stdout);
		return 0;
	}
	if (ndl_mkdir_p(s.o.state_dir, 0700, &err) < 0) {
		fprintf(stderr, "nodelet-shim: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		return 1;
	}
	/* Our own messages go to <state-dir>/shim.log once detached. */
	cleanup_free char *own_log = xasprintf("%s/shim.log", s.o.state_dir);
	if (s.o.foreground)
		return shim_run(&s, -1);

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("nodelet-shim: pipe");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("nodelet-shim: fork");
		return 1;
	}
	if (child == 0) {
		/* The monitor: its own session, detached from the caller's stdio,
		 * so a restart of nodelet-cri does not touch it. */
		close(pfd[0]);
		setsid();
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		int lf = open(own_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		dup2(lf >= 0 ? lf : nul, 2);
		ndl_log_init(2, NDL_LOG_INFO, 0, false);
		_exit(shim_run(&s, pfd[1]));
	}
	close(pfd[1]);
	/* The caller waits for "ok <pid>" or "error <msg>". */
	char buf[1024];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (strncmp(buf, "ok ", 3) == 0) {
		printf("%s", buf + 3);
		return 0;
	}
	fprintf(stderr, "nodelet-shim: %s", len > 6 ? buf + 6 : "monitor exited during create\n");
	return 1;
}
