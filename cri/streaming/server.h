/* nodelet-cri's streaming server: the URLs CRI Exec/Attach/PortForward
 * return, served over HTTP/1.1 upgraded to SPDY/3.1 with Kubernetes'
 * remotecommand (v4/v3/v2/channel.k8s.io) and portforward.k8s.io protocols,
 * as the kubelet's streaming package serves them. Tokens are random, single
 * use and expire after a minute. What the streams connect to (an exec'd
 * process, a shim's attach socket, a port in a pod's network namespace)
 * comes from the backend the daemon passes in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

enum stream_kind { STREAM_EXEC, STREAM_ATTACH, STREAM_PORTFORWARD };

struct stream_request {
	enum stream_kind kind;
	char *container_id; /* exec, attach */
	char **cmd;	    /* exec */
	size_t n_cmd;
	bool tty, in, out, err;
	char *sandbox_id; /* port forward */
	int32_t *ports;	  /* port forward: PortForwardRequest.port (the WebSocket channels) */
	size_t n_ports;
};

void stream_request_free(struct stream_request *r);

/* The process side of an exec or attach, filled by the backend. Every fd is
 * -1 when absent; the session owns (closes) them. */
struct stream_proc {
	int in_fd;  /* exec: write stdin here (with tty: a dup of the pty master) */
	int out_fd; /* exec: stdout, or the pty master with tty */
	int err_fd;
	int pty_fd;    /* exec with tty: TIOCSWINSZ target (a dup of the master) */
	int attach_fd; /* attach: SOCK_SEQPACKET connection to the shim */
	pid_t pid;     /* exec: the runtime process, whose exit status is the command's */
	char *pid_file; /* exec: the exec'd process's pid, killed when the client goes */
	char *tmp_file; /* removed when the session ends */
};

void stream_proc_init(struct stream_proc *p);

struct stream_backend {
	int (*exec)(void *user, const struct stream_request *r, struct stream_proc *p,
		    ndl_error_t *err);
	int (*attach)(void *user, const struct stream_request *r, struct stream_proc *p,
		      ndl_error_t *err);
	/* A TCP connection to localhost:port inside the sandbox's network namespace. */
	int (*port_connect)(void *user, const char *sandbox_id, uint16_t port, int *ret_fd,
			    ndl_error_t *err);
	void *user;
};

struct stream_server_config {
	const char *address; /* IPv4/IPv6 literal, default 127.0.0.1 */
	int port;	     /* 0: chosen by the kernel */
	struct stream_backend backend;
	int token_ttl_ms;	  /* 0: 60000 as the kubelet's request cache */
	int stream_create_ms;	  /* 0: 30000 (streamCreationTimeout) */
	long long idle_ms;	  /* 0: 4 h (the kubelet's streamingConnectionIdleTimeout) */
};

struct stream_server;

int stream_server_start(const struct stream_server_config *cfg, struct stream_server **ret,
			ndl_error_t *err);
/* Stop listening, end every session (exec'd processes are killed), join. Accepts NULL. */
void stream_server_stop(struct stream_server *s);
/* "http://127.0.0.1:PORT" */
const char *stream_server_base_url(const struct stream_server *s);

/* Cache a request under a new token and return its URL (heap). The request
 * is taken over (also on failure). ENOSPC when 1000 requests are in flight. */
int stream_server_add(struct stream_server *s, struct stream_request *r, char **ret_url,
		      ndl_error_t *err);

/* The kubelet's request validation: NULL when valid, else the message its
 * streaming server answers with (gRPC InvalidArgument). */
const char *stream_validate(const struct stream_request *r);

/* Internals shared with the unit tests. */
/* The remotecommand status JSON for an exit code (0: Success), as the
 * kubelet writes it on the v4 error stream. cmd names the command. Heap. */
char *stream_status_json(int exit_code, const char *cmd_desc);
/* Go's %v of a []string: "[sh -c exit 3]". Heap. */
char *stream_go_strv(char **v, size_t n);
/* Parse a resize stream's JSON values ({"Width":W,"Height":H}...), calling
 * fn for each complete one; returns bytes consumed (the rest is incomplete). */
size_t stream_parse_resize(const char *buf, size_t len,
			   void (*fn)(void *arg, unsigned w, unsigned h), void *arg);
