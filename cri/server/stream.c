/* CRI Exec, Attach and PortForward: validate, check the container or
 * sandbox, cache the request in the streaming server (cri/streaming/) and
 * answer its URL, as containerd does. The backend below is what the
 * streams connect to: `nodelet-runtime exec` with pipes or a pty, the
 * shim's attach socket, a TCP connection made inside the pod's network
 * namespace. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "cri/server/stream.h"
#include "cri/streaming/server.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

extern char **environ;

/* One daemon per process: the server and the service it serves. */
static struct stream_server *g_server;
static struct cri_service *g_svc;

static char *sibling(const char *name)
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

/* Running per the record and no exit recorded by the shim yet. */
static enum cri_status container_running(struct cri_service *svc, const char *id, char *ret_id,
					 struct cri_reply *r)
{
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_CONTAINER, id, &rec, &e) < 0) {
		ndl_error_wrap(&e, "failed to find container \"%s\" in store", id);
		return cri_reply_errno_msg(r, &e);
	}
	pthread_mutex_lock(&rec->lock);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	pthread_mutex_unlock(&rec->lock);
	memcpy(ret_id, rec->id, sizeof(rec->id));
	cri_store_put(rec);
	cleanup_free char *exitf = xasprintf("%s/s/%s/exit.json", svc->cfg->run_root, ret_id);
	if (state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING && access(exitf, F_OK) == 0)
		state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	if (state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
		static const char *const names[] = {"CONTAINER_CREATED", "CONTAINER_RUNNING",
						    "CONTAINER_EXITED", "CONTAINER_UNKNOWN"};
		return cri_reply_error(r, CRI_FAILED_PRECONDITION, "container is in %s state",
				       names[state >= 0 && state <= 3 ? state : 3]);
	}
	return CRI_OK;
}

static enum cri_status hand_out(struct stream_request *sr, struct cri_reply *r,
				ProtobufCMessage *resp, char **url_field)
{
	if (!g_server) {
		stream_request_free(sr);
		return cri_reply_error(r, CRI_UNAVAILABLE, "streaming server is not running");
	}
	char *url = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (stream_server_add(g_server, sr, &url, &e) < 0) {
		enum cri_status st = cri_reply_error(r, CRI_RESOURCE_EXHAUSTED, "%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
		return st;
	}
	*url_field = url;
	enum cri_status st = cri_reply_ok(r, resp);
	free(url);
	return st;
}

enum cri_status cri_h_exec(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__ExecRequest *in = (const Runtime__V1__ExecRequest *)req;
	struct stream_request *sr = xcalloc(1, sizeof(*sr));
	sr->kind = STREAM_EXEC;
	sr->container_id = xstrdup(in->container_id ? in->container_id : "");
	sr->tty = in->tty;
	sr->in = in->stdin;
	sr->out = in->stdout;
	sr->err = in->stderr;
	const char *bad = stream_validate(sr);
	if (!bad && in->n_cmd == 0)
		bad = "missing required cmd";
	if (bad) {
		stream_request_free(sr);
		return cri_reply_error(r, CRI_INVALID_ARGUMENT, "%s", bad);
	}
	char id[CRI_ID_LEN + 1];
	enum cri_status st = container_running(svc, in->container_id, id, r);
	if (st != CRI_OK) {
		stream_request_free(sr);
		return st;
	}
	free(sr->container_id);
	sr->container_id = xstrdup(id);
	sr->cmd = xcalloc(in->n_cmd, sizeof(char *));
	for (size_t i = 0; i < in->n_cmd; i++)
		sr->cmd[i] = xstrdup(in->cmd[i]);
	sr->n_cmd = in->n_cmd;
	Runtime__V1__ExecResponse resp = RUNTIME__V1__EXEC_RESPONSE__INIT;
	return hand_out(sr, r, &resp.base, &resp.url);
}

enum cri_status cri_h_attach(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__AttachRequest *in = (const Runtime__V1__AttachRequest *)req;
	struct stream_request *sr = xcalloc(1, sizeof(*sr));
	sr->kind = STREAM_ATTACH;
	sr->container_id = xstrdup(in->container_id ? in->container_id : "");
	sr->tty = in->tty;
	sr->in = in->stdin;
	sr->out = in->stdout;
	sr->err = in->stderr;
	const char *bad = stream_validate(sr);
	if (bad) {
		stream_request_free(sr);
		return cri_reply_error(r, CRI_INVALID_ARGUMENT, "%s", bad);
	}
	char id[CRI_ID_LEN + 1];
	enum cri_status st = container_running(svc, in->container_id, id, r);
	if (st != CRI_OK) {
		stream_request_free(sr);
		return st;
	}
	free(sr->container_id);
	sr->container_id = xstrdup(id);
	Runtime__V1__AttachResponse resp = RUNTIME__V1__ATTACH_RESPONSE__INIT;
	return hand_out(sr, r, &resp.base, &resp.url);
}

enum cri_status cri_h_port_forward(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	struct cri_service *svc = user;
	const Runtime__V1__PortForwardRequest *in = (const Runtime__V1__PortForwardRequest *)req;
	struct stream_request *sr = xcalloc(1, sizeof(*sr));
	sr->kind = STREAM_PORTFORWARD;
	sr->sandbox_id = xstrdup(in->pod_sandbox_id ? in->pod_sandbox_id : "");
	if (in->n_port) {
		sr->ports = xcalloc(in->n_port, sizeof(int32_t));
		memcpy(sr->ports, in->port, in->n_port * sizeof(int32_t));
		sr->n_ports = in->n_port;
	}
	const char *bad = stream_validate(sr);
	if (bad) {
		stream_request_free(sr);
		return cri_reply_error(r, CRI_INVALID_ARGUMENT, "%s", bad);
	}
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, in->pod_sandbox_id, &rec, &e) < 0) {
		stream_request_free(sr);
		ndl_error_wrap(&e, "failed to find sandbox \"%s\" in store", in->pod_sandbox_id);
		return cri_reply_errno_msg(r, &e);
	}
	pthread_mutex_lock(&rec->lock);
	int state = (int)json_integer_value(json_object_get(rec->data, "state"));
	pthread_mutex_unlock(&rec->lock);
	free(sr->sandbox_id);
	sr->sandbox_id = xstrdup(rec->id);
	cri_store_put(rec);
	if (state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY) {
		stream_request_free(sr);
		return cri_reply_error(r, CRI_FAILED_PRECONDITION, "sandbox container is not running");
	}
	Runtime__V1__PortForwardResponse resp = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;
	return hand_out(sr, r, &resp.base, &resp.url);
}

/* ---- backend ---- */

/* The exec'd process is the container's process with other args and a
 * terminal when asked (containerd's rule, as ExecSync). Returns the path
 * of a process.json written for `nodelet-runtime exec --process`. */
static int write_process(struct cri_service *svc, const struct stream_request *r, char **ret,
			 ndl_error_t *err)
{
	cleanup_free char *specp =
	    xasprintf("%s/containers/%s/bundle/config.json", svc->cfg->run_root, r->container_id);
	cleanup_json json_t *spec = NULL;
	if (ndl_json_load_file(specp, &spec, err) < 0)
		return -1;
	json_t *proc = json_deep_copy(json_object_get(spec, "process"));
	if (!proc)
		return ndl_error_setf(err, EINVAL, "%s: no process", specp);
	json_t *args = json_array();
	for (size_t i = 0; i < r->n_cmd; i++)
		json_array_append_new(args, json_string(r->cmd[i]));
	json_object_set_new(proc, "args", args);
	json_object_set_new(proc, "terminal", json_boolean(r->tty));
	json_object_del(proc, "oomScoreAdj");
	cleanup_free char *txt = ndl_json_dumps(proc, false);
	json_decref(proc);
	char tmpl[] = "/tmp/nodelet-exec-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "exec process file");
	if (ndl_write_all(fd, txt, strlen(txt), err) < 0) {
		close(fd);
		unlink(tmpl);
		return -1;
	}
	close(fd);
	*ret = xstrdup(tmpl);
	return 0;
}

/* Receive one fd (the pty master) sent with SCM_RIGHTS. */
static int recv_fd(int sock, int *ret, ndl_error_t *err)
{
	char data[256];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return ndl_error_set(err, errno, "receive pty from console socket");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return ndl_error_setf(err, EPROTO, "console socket: no pty received");
	memcpy(ret, CMSG_DATA(c), sizeof(int));
	return 0;
}

static int backend_exec(void *user, const struct stream_request *r, struct stream_proc *p,
			ndl_error_t *err)
{
	struct cri_service *svc = user;
	cleanup_free char *procf = NULL;
	if (write_process(svc, r, &procf, err) < 0)
		return -1;
	cleanup_free char *bin = sibling("nodelet-runtime");
	cleanup_free char *root = xasprintf("%s/runtime", svc->cfg->run_root);
	cleanup_free char *pidf = xasprintf("%s.pid", procf);
	cleanup_free char *sockdir = NULL, *sockp = NULL;
	int lsock = -1, in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	int rc = -1;
	if (r->tty) {
		char dt[] = "/tmp/nodelet-console-XXXXXX";
		if (!mkdtemp(dt)) {
			ndl_error_set(err, errno, "console socket dir");
			goto out;
		}
		sockdir = xstrdup(dt);
		sockp = xasprintf("%s/console.sock", dt);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockp);
		lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(lsock, 1) < 0) {
			ndl_error_set(err, errno, "console socket %s", sockp);
			goto out;
		}
	} else {
		if ((r->in && pipe2(in, O_CLOEXEC) < 0) || (r->out && pipe2(out, O_CLOEXEC) < 0) ||
		    (r->err && pipe2(errp, O_CLOEXEC) < 0)) {
			ndl_error_set(err, errno, "pipe");
			goto out;
		}
	}
	const char *argv[16];
	int a = 0;
	argv[a++] = bin;
	argv[a++] = "--root";
	argv[a++] = root;
	argv[a++] = "exec";
	argv[a++] = "--process";
	argv[a++] = procf;
	argv[a++] = "--pid-file";
	argv[a++] = pidf;
	if (r->tty) {
		argv[a++] = "--console-socket";
		argv[a++] = sockp;
	}
	argv[a++] = r->container_id;
	argv[a] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (in[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out[1] >= 0)
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (errp[1] >= 0)
		posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* The daemon blocks signals in its threads: the runtime must not inherit that. */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int sr = posix_spawn(&pid, bin, &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (sr != 0) {
		ndl_error_set(err, sr, "run %s", bin);
		goto out;
	}
	p->pid = pid;
	p->pid_file = steal_ptr(&pidf);
	if (r->tty) {
		/* Wait for the runtime to connect and send the pty master, or to fail. */
		long long waited = 0;
		int master = -1;
		for (;;) {
			struct pollfd pf = {.fd = lsock, .events = POLLIN};
			int pr = poll(&pf, 1, 100);
			if (pr > 0) {
				int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
				if (c >= 0) {
					struct timeval tv = {.tv_sec = 10};
					setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
					int rr = recv_fd(c, &master, err);
					close(c);
					if (rr < 0)
						goto fail_kill;
					break;
				}
			}
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				p->pid = -1;
				ndl_error_setf(err, EIO,
					       "%s exec exited with status %d before it sent a terminal",
					       bin, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				goto out;
			}
			waited += 100;
			if (waited >= 30000) {
				ndl_error_setf(err, ETIMEDOUT, "no terminal from %s exec", bin);
				goto fail_kill;
			}
		}
		p->out_fd = master;
		p->pty_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (r->in)
			p->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
	} else {
		if (in[1] >= 0)
			p->in_fd = steal_fd(&in[1]);
		if (out[0] >= 0)
			p->out_fd = steal_fd(&out[0]);
		if (errp[0] >= 0)
			p->err_fd = steal_fd(&errp[0]);
	}
	rc = 0;
	goto out;
fail_kill:
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
out:
	if (rc < 0 && p->pid_file) {
		unlink(p->pid_file);
		free(p->pid_file);
		p->pid_file = NULL;
	}
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (lsock >= 0)
		close(lsock);
	if (sockp)
		unlink(sockp);
	if (sockdir)
		rmdir(sockdir);
	/* The runtime may still be reading the process file: the session
	 * removes it at its end. */
	if (rc < 0)
		unlink(procf);
	else
		p->tmp_file = steal_ptr(&procf);
	return rc;
}

static int backend_attach(void *user, const struct stream_request *r, struct stream_proc *p,
			  ndl_error_t *err)
{
	struct cri_service *svc = user;
	cleanup_free char *path = xasprintf("%s/s/%s/attach", svc->cfg->run_root, r->container_id);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return ndl_error_setf(err, ENAMETOOLONG, "attach socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ndl_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "connect to the container's shim at %s", path);
	}
	/* Tell the shim what this client reads and writes. */
	char hello[8];
	int n = snprintf(hello, sizeof(hello), "a%c%c%c", r->in ? '1' : '0', r->out ? '1' : '0',
			 r->err ? '1' : '0');
	if (send(fd, hello, (size_t)n, MSG_NOSIGNAL) != n) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "attach to the container's shim");
	}
	p->attach_fd = fd;
	return 0;
}

struct netns_job {
	const char *netns;
	int family;
	int fd;
	int err;
};

/* setns is per thread: this thread exists only to create the socket in the
 * pod's namespace (a socket stays in the namespace it was made in). */
static void *netns_socket_main(void *arg)
{
	struct netns_job *j = arg;
	int ns = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		j->err = errno;
		if (ns >= 0)
			close(ns);
		return NULL;
	}
	close(ns);
	/* Port forward dials localhost in the pod. containerd brings the pod's
	 * loopback up when it creates the sandbox; sandboxes made without a
	 * loopback CNI plugin here may still have it down, so make sure. */
	int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ctl >= 0) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		if (ioctl(ctl, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
			ifr.ifr_flags |= IFF_UP;
			ioctl(ctl, SIOCSIFFLAGS, &ifr);
		}
		close(ctl);
	}
	j->fd = socket(j->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (j->fd < 0)
		j->err = errno;
	return NULL;
}

static int backend_port_connect(void *user, const char *sandbox_id, uint16_t port, int *ret_fd,
				ndl_error_t *err)
{
	struct cri_service *svc = user;
	ndl_error_t e = NDL_ERROR_INIT;
	struct cri_record *rec = NULL;
	if (cri_store_get(svc->store, CRI_KIND_SANDBOX, sandbox_id, &rec, &e) < 0) {
		ndl_error_clear(&e);
		return ndl_error_setf(err, ENOENT, "sandbox %s not found", sandbox_id);
	}
	pthread_mutex_lock(&rec->lock);
	const char *ns = json_string_value(json_object_get(rec->data, "netns"));
	cleanup_free char *netns = ns && *ns ? xstrdup(ns) : NULL;
	pthread_mutex_unlock(&rec->lock);
	cri_store_put(rec);
	int fams[2] = {AF_INET, AF_INET6};
	int errs[2] = {0, 0};
	for (int i = 0; i < 2; i++) {
		int fd = -1;
		if (netns) {
			struct netns_job j = {.netns = netns, .family = fams[i], .fd = -1};
			pthread_t t;
			if (pthread_create(&t, NULL, netns_socket_main, &j) != 0)
				return ndl_error_set(err, EAGAIN, "thread");
			pthread_join(t, NULL);
			if (j.fd < 0) {
				errs[i] = j.err;
				continue;
			}
			fd = j.fd;
		} else {
			/* Host-network pod: our own namespace. */
			fd = socket(fams[i], SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				errs[i] = errno;
				continue;
			}
		}
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		socklen_t sl;
		if (fams[i] == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(port);
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sl = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			s6->sin6_addr = in6addr_loopback;
			sl = sizeof(*s6);
		}
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
			*ret_fd = fd;
			return 0;
		}
		errs[i] = errno;
		close(fd);
	}
	return ndl_error_setf(err, errs[0] ? errs[0] : EIO,
			      "failed to connect to localhost:%u inside namespace \"%s\", IPv4: %s "
			      "IPv6 %s ",
			      port, sandbox_id, strerror(errs[0]), strerror(errs[1]));
}

int cri_stream_start(struct cri_service *svc, const char *address, int port, ndl_error_t *err)
{
	struct stream_server_config c = {
	    .address = address,
	    .port = port,
	    .backend = {.exec = backend_exec,
			.attach = backend_attach,
			.port_connect = backend_port_connect,
			.user = svc},
	};
	const char *ttl = getenv("NODELET_CRI_STREAM_TOKEN_TTL_MS");
	if (ttl)
		c.token_ttl_ms = atoi(ttl); /* tests of token expiry */
	g_svc = svc;
	if (stream_server_start(&c, &g_server, err) < 0)
		return ndl_error_wrap(err, "streaming server");
	log_info("streaming server listening", "url=%s", stream_server_base_url(g_server));
	return 0;
}

void cri_stream_stop(void)
{
	stream_server_stop(g_server);
	g_server = NULL;
	g_svc = NULL;
}
