/* The streaming server (see server.h): token cache, listener thread, one
 * thread per connection that reads the HTTP request, negotiates the
 * protocol, upgrades to SPDY/3.1 and runs one poll loop that moves bytes
 * between the client's streams and the process, shim or TCP connection. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cri/streaming/http.h"
#include "cri/streaming/server.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define MAX_IN_FLIGHT	   1000 /* the kubelet's requestCache maxInFlight */
#define TOKEN_BYTES	   8	/* the kubelet's tokenLen */
#define HEAD_TIMEOUT_MS	   10000
#define DRAIN_AFTER_EXIT_MS 2000
#define WBUF_HIGH	   (1u << 20) /* stop reading local fds above this backlog */
#define MAX_PF_PAIRS	   64
#define PF_GRACE_MS	   1000 /* containerd waits 1s for the other direction */
#define STREAM_IDLE_MS	   (4LL * 3600 * 1000) /* streamingConnectionIdleTimeout default */

static const char *const remotecommand_protocols[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
						      "v2.channel.k8s.io", "channel.k8s.io"};
static const char *const portforward_protocols[] = {"portforward.k8s.io"};

struct token_entry {
	char token[16];
	long long expires_ms;
	struct stream_request *req;
	struct token_entry *next;
};

struct stream_server {
	struct stream_server_config cfg;
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	char base_url[96];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct token_entry *tokens;
	size_t n_tokens;
	int n_sessions;
	int session_fds[256]; /* shut down on stop */
	bool stopping;
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

void stream_request_free(struct stream_request *r)
{
	if (!r)
		return;
	free(r->container_id);
	for (size_t i = 0; i < r->n_cmd; i++)
		free(r->cmd[i]);
	free(r->cmd);
	free(r->sandbox_id);
	free(r->ports);
	free(r);
}

void stream_proc_init(struct stream_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->in_fd = p->out_fd = p->err_fd = p->pty_fd = p->attach_fd = -1;
	p->pid = -1;
}

static void proc_close(struct stream_proc *p)
{
	int *fds[] = {&p->in_fd, &p->out_fd, &p->err_fd, &p->pty_fd, &p->attach_fd};
	for (size_t i = 0; i < 5; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	if (p->pid_file) {
		unlink(p->pid_file);
		free(p->pid_file);
		p->pid_file = NULL;
	}
	if (p->tmp_file) {
		unlink(p->tmp_file);
		free(p->tmp_file);
		p->tmp_file = NULL;
	}
}

const char *stream_validate(const struct stream_request *r)
{
	if (r->kind == STREAM_PORTFORWARD)
		return (!r->sandbox_id || !*r->sandbox_id) ? "missing required pod_sandbox_id" : NULL;
	if (!r->container_id || !*r->container_id)
		return "missing required container_id";
	if (r->tty && r->err)
		return "tty and stderr cannot both be true";
	if (!r->in && !r->out && !r->err)
		return r->kind == STREAM_ATTACH ? "one of stdin, stdout, and stderr must be set"
						: "one of stdin, stdout, or stderr must be set";
	return NULL;
}

/* ---- token cache ---- */

static void prune_locked(struct stream_server *s, long long now)
{
	struct token_entry **pp = &s->tokens;
	while (*pp) {
		struct token_entry *e = *pp;
		if (e->expires_ms <= now) {
			*pp = e->next;
			stream_request_free(e->req);
			free(e);
			s->n_tokens--;
		} else {
			pp = &e->next;
		}
	}
}

int stream_server_add(struct stream_server *s, struct stream_request *r, char **ret_url,
		      ndl_error_t *err)
{
	uint8_t raw[TOKEN_BYTES];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		stream_request_free(r);
		return ndl_error_set(err, errno, "streaming: token");
	}
	/* base64url without padding, as the kubelet's tokens. */
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct token_entry *e = xcalloc(1, sizeof(*e));
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < sizeof(raw); i++) {
		acc = acc << 8 | raw[i];
		bits += 8;
		while (bits >= 6) {
			e->token[o++] = b64[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	if (bits)
		e->token[o++] = b64[(acc << (6 - bits)) & 63];
	e->token[o] = '\0';
	e->req = r;
	static const char *const kinds[] = {"exec", "attach", "portforward"};
	const char *kind = kinds[r->kind];
	pthread_mutex_lock(&s->lock);
	long long now = now_ms();
	prune_locked(s, now);
	if (s->n_tokens >= MAX_IN_FLIGHT) {
		pthread_mutex_unlock(&s->lock);
		stream_request_free(r);
		free(e);
		return ndl_error_setf(err, ENOSPC, "maximum number of in-flight requests exceeded");
	}
	e->expires_ms = now + (s->cfg.token_ttl_ms ? s->cfg.token_ttl_ms : 60000);
	e->next = s->tokens;
	s->tokens = e;
	s->n_tokens++;
	*ret_url = xasprintf("%s/%s/%s", s->base_url, kind, e->token);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Single use: the entry leaves the cache whether or not it is usable. */
static struct stream_request *consume(struct stream_server *s, const char *token)
{
	struct stream_request *r = NULL;
	pthread_mutex_lock(&s->lock);
	long long now = now_ms();
	prune_locked(s, now);
	for (struct token_entry **pp = &s->tokens; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->token, token)) {
			struct token_entry *e = *pp;
			*pp = e->next;
			r = e->req;
			free(e);
			s->n_tokens--;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- helpers ---- */

char *stream_go_strv(char **v, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *s = xmalloc(len), *p = s;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ' ';
		size_t l = strlen(v[i]);
		memcpy(p, v[i], l);
		p += l;
	}
	*p++ = ']';
	*p = '\0';
	return s;
}

/* JSON string body escaping as Go's encoding/json does it (HTML-safe). */
static void json_escape(struct spdy_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[8];
		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			spdy_buf_append(b, tmp, 2);
		} else if (*p == '\n') {
			spdy_buf_append(b, "\\n", 2);
		} else if (*p == '\r') {
			spdy_buf_append(b, "\\r", 2);
		} else if (*p == '\t') {
			spdy_buf_append(b, "\\t", 2);
		} else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
			snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
			spdy_buf_append(b, tmp, 6);
		} else {
			spdy_buf_append(b, p, 1);
		}
	}
}

static char *buf_to_str(struct spdy_buf *b)
{
	spdy_buf_append(b, "", 1);
	return (char *)b->data;
}

char *stream_status_json(int exit_code, const char *cmd_desc)
{
	if (exit_code == 0)
		return xstrdup("{\"metadata\":{},\"status\":\"Success\"}");
	/* containerd's exec error, wrapped by the kubelet's remotecommand. */
	char code[16];
	snprintf(code, sizeof(code), "%d", exit_code);
	cleanup_free char *msg =
	    xasprintf("command terminated with non-zero exit code: error executing command %s, "
		      "exit code %d",
		      cmd_desc, exit_code);
	struct spdy_buf b = {0};
	spdy_buf_append(&b, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"", 45);
	json_escape(&b, msg);
	const char *mid = "\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
			  "\"ExitCode\",\"message\":\"";
	spdy_buf_append(&b, mid, strlen(mid));
	spdy_buf_append(&b, code, strlen(code));
	spdy_buf_append(&b, "\"}]}}", 5);
	return buf_to_str(&b);
}

/* metav1 InternalError status (apierrors.NewInternalError). */
static char *internal_status_json(const char *err)
{
	struct spdy_buf b = {0};
	const char *a = "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error "
			"occurred: ";
	spdy_buf_append(&b, a, strlen(a));
	json_escape(&b, err);
	const char *m = "\",\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":\"";
	spdy_buf_append(&b, m, strlen(m));
	json_escape(&b, err);
	const char *e = "\"}]},\"code\":500}";
	spdy_buf_append(&b, e, strlen(e));
	return buf_to_str(&b);
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

size_t stream_parse_resize(const char *buf, size_t len, void (*fn)(void *, unsigned, unsigned),
			   void *arg)
{
	/* Go's json.Encoder writes one object per line; objects hold only
	 * numbers, so the first '}' ends one. */
	size_t used = 0;
	for (;;) {
		const char *p = skip_ws(buf + used, buf + len);
		if (p == buf + len)
			return len;
		const char *close = memchr(p, '}', (size_t)(buf + len - p));
		if (!close) {
			if (buf + len - p > 512)
				return len; /* garbage: drop it */
			return (size_t)(p - buf);
		}
		long w = -1, h = -1;
		for (const char *q = p; q < close; q++) {
			if (*q != '"')
				continue;
			const char *k = q + 1;
			const char *ke = memchr(k, '"', (size_t)(close - k));
			if (!ke)
				break;
			const char *v = ke + 1;
			while (v < close && (*v == ':' || *v == ' '))
				v++;
			long val = 0;
			bool digits = false;
			while (v < close && *v >= '0' && *v <= '9' && val < 100000) {
				val = val * 10 + (*v - '0');
				v++;
				digits = true;
			}
			if (digits && (size_t)(ke - k) == 5 && !strncasecmp(k, "Width", 5))
				w = val;
			else if (digits && (size_t)(ke - k) == 6 && !strncasecmp(k, "Height", 6))
				h = val;
			q = v - 1;
		}
		if (w >= 0 && h >= 0 && w <= 65535 && h <= 65535 && *p == '{')
			fn(arg, (unsigned)w, (unsigned)h);
		used = (size_t)(close + 1 - buf);
	}
}

/* ---- HTTP answers before the upgrade ---- */

static void write_all_timeout(int fd, const void *p, size_t n, int timeout_ms)
{
	const char *c = p;
	long long deadline = now_ms() + timeout_ms;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;
		long long left = deadline - now_ms();
		if (left <= 0)
			return;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		poll(&pf, 1, (int)left);
	}
}

static void http_error(int fd, int code, const char *reason, const char *extra_headers,
		       const char *body)
{
	cleanup_free char *resp =
	    xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		      "X-Content-Type-Options: nosniff\r\n%sContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n%s\n",
		      code, reason, extra_headers ? extra_headers : "", strlen(body) + 1, body);
	write_all_timeout(fd, resp, strlen(resp), 5000);
}

/* ---- the SPDY session ---- */

enum st_type { ST_NONE, ST_ERROR, ST_STDIN, ST_STDOUT, ST_STDERR, ST_RESIZE, ST_DATA };

struct pf_pair {
	char request_id[32];
	uint32_t err_sid, data_sid;
	uint16_t port;
	int fd;
	bool started, done;
	bool client_fin, tcp_eof;
	long long created_ms, half_closed_ms;
	struct spdy_buf to_tcp;
};

struct session {
	struct stream_server *srv;
	int sock;
	bool pf;
	int version; /* remotecommand: 1 (channel.k8s.io), 2, 3, 4 */
	struct stream_request *req;
	struct spdy_zlib z;
	struct spdy_buf rbuf, wbuf;
	uint32_t last_sid;
	bool peer_gone, goaway;
	/* WebSocket instead of SPDY: 0 no, 1 binary channels, 2 base64 channels.
	 * A channel is "stream id" channel+1 inside the session. */
	int ws;
	bool ws_v5;
	struct spdy_buf ws_msg; /* fragments of a message */
	/* remotecommand */
	uint32_t sid[ST_DATA];
	bool stdin_fin, stdin_done;
	struct spdy_buf stdin_pend, resize_buf;
	struct stream_proc proc;
	int pidfd;
	bool started, exited, out_eof, err_eof, attach_eof;
	int wait_status;
	long long exited_ms, deadline_ms;
	long long active_ms; /* last byte either way (idle timeout) */
	char *start_error;
	/* port forward */
	struct pf_pair pairs[MAX_PF_PAIRS];
	size_t n_pairs;
};

static enum st_type st_of(const char *s)
{
	static const struct {
		const char *n;
		enum st_type t;
	} m[] = {{"error", ST_ERROR},	{"stdin", ST_STDIN},   {"stdout", ST_STDOUT},
		 {"stderr", ST_STDERR}, {"resize", ST_RESIZE}, {"data", ST_DATA}};
	for (size_t i = 0; s && i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(s, m[i].n))
			return m[i].t;
	return ST_NONE;
}

static void ws_send(struct session *ss, uint32_t sid, const uint8_t *p, size_t n)
{
	uint8_t ch = (uint8_t)(sid - 1);
	struct spdy_buf m = {0};
	if (ss->ws == 1) {
		spdy_buf_append(&m, &ch, 1);
		spdy_buf_append(&m, p, n);
		ws_put_frame(&ss->wbuf, WS_OP_BIN, m.data, m.len);
	} else {
		char c = (char)('0' + ch);
		spdy_buf_append(&m, &c, 1);
		ws_base64_encode(p, n, &m);
		ws_put_frame(&ss->wbuf, WS_OP_TEXT, m.data, m.len);
	}
	spdy_buf_free(&m);
}

static void send_data(struct session *ss, uint32_t sid, const void *p, size_t n, bool fin)
{
	const char *c = p;
	if (ss->ws) {
		/* Channels have no end of their own: a FIN alone sends nothing,
		 * an empty write is an empty message (the "ready" signal). */
		if (!n && fin)
			return;
		do {
			size_t k = n > SPDY_DATA_CHUNK ? SPDY_DATA_CHUNK : n;
			ws_send(ss, sid, (const uint8_t *)c, k);
			c += k;
			n -= k;
		} while (n);
		return;
	}
	while (n > SPDY_DATA_CHUNK) {
		spdy_put_data(&ss->wbuf, sid, 0, c, SPDY_DATA_CHUNK);
		c += SPDY_DATA_CHUNK;
		n -= SPDY_DATA_CHUNK;
	}
	if (n || fin)
		spdy_put_data(&ss->wbuf, sid, fin ? SPDY_FLAG_FIN : 0, c, n);
}

static void reply(struct session *ss, uint32_t sid, bool reject)
{
	ndl_error_t e = NDL_ERROR_INIT;
	if (spdy_put_syn(&ss->wbuf, &ss->z, false, sid, reject ? SPDY_FLAG_FIN : 0, NULL, NULL, 0,
			 &e) < 0) {
		log_debug(1, "streaming: reply", "err=\"%s\"", ndl_error_msg(&e));
		ndl_error_clear(&e);
		ss->peer_gone = true;
	}
}

static bool expected_streams_present(struct session *ss)
{
	const struct stream_request *r = ss->req;
	if (!ss->sid[ST_ERROR])
		return false;
	if (r->in && !ss->sid[ST_STDIN])
		return false;
	if (r->out && !ss->sid[ST_STDOUT])
		return false;
	if (r->err && !ss->sid[ST_STDERR])
		return false;
	if (r->tty && ss->version >= 3 && !ss->sid[ST_RESIZE])
		return false;
	return true;
}

static void do_resize(void *arg, unsigned w, unsigned h)
{
	struct session *ss = arg;
	if (ss->proc.pty_fd >= 0) {
		struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
		ioctl(ss->proc.pty_fd, TIOCSWINSZ, &ws);
	} else if (ss->proc.attach_fd >= 0) {
		char m[32];
		int n = snprintf(m, sizeof(m), "r%u %u", w, h);
		send(ss->proc.attach_fd, m, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

static void flush_stdin(struct session *ss);

static void start_proc(struct session *ss)
{
	ndl_error_t e = NDL_ERROR_INIT;
	const struct stream_backend *be = &ss->srv->cfg.backend;
	int r = ss->req->kind == STREAM_EXEC ? be->exec(be->user, ss->req, &ss->proc, &e)
					     : be->attach(be->user, ss->req, &ss->proc, &e);
	ss->started = true;
	if (r < 0) {
		ss->start_error =
		    xasprintf("%s: %s",
			      ss->req->kind == STREAM_EXEC ? "error executing command in container"
							   : "error attaching to container",
			      ndl_error_msg(&e));
		ndl_error_clear(&e);
		return;
	}
	ss->pidfd = -1;
	if (ss->proc.pid > 0)
		ss->pidfd = (int)syscall(SYS_pidfd_open, ss->proc.pid, 0);
	if (ss->proc.out_fd < 0)
		ss->out_eof = true;
	if (ss->proc.err_fd < 0)
		ss->err_eof = true;
	if (ss->proc.out_fd >= 0)
		fcntl(ss->proc.out_fd, F_SETFL, O_NONBLOCK);
	if (ss->proc.err_fd >= 0)
		fcntl(ss->proc.err_fd, F_SETFL, O_NONBLOCK);
	if (ss->proc.in_fd >= 0)
		fcntl(ss->proc.in_fd, F_SETFL, O_NONBLOCK);
	if (ss->proc.attach_fd >= 0)
		fcntl(ss->proc.attach_fd, F_SETFL, O_NONBLOCK);
	flush_stdin(ss);
	/* A resize that came before the process. */
	if (ss->resize_buf.len) {
		size_t used = stream_parse_resize((char *)ss->resize_buf.data, ss->resize_buf.len,
						  do_resize, ss);
		spdy_buf_consume(&ss->resize_buf, used);
	}
}

static void stdin_closed(struct session *ss)
{
	if (ss->stdin_pend.len)
		return; /* once the backlog is written */
	if (ss->proc.in_fd >= 0 && ss->proc.in_fd != ss->proc.pty_fd) {
		close(ss->proc.in_fd);
		ss->proc.in_fd = -1;
	} else if (ss->proc.in_fd >= 0) {
		/* A terminal has no separate stdin to close: send EOF (^D). */
		(void)!write(ss->proc.in_fd, "\x04", 1);
		close(ss->proc.in_fd);
		ss->proc.in_fd = -1;
	}
	if (ss->proc.attach_fd >= 0)
		send(ss->proc.attach_fd, "c", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void flush_stdin(struct session *ss)
{
	if (!ss->started || ss->stdin_done)
		return;
	if (!ss->stdin_pend.len) {
		/* nothing to write */
	} else if (ss->proc.attach_fd >= 0) {
		while (ss->stdin_pend.len) {
			size_t n = ss->stdin_pend.len < 32768 ? ss->stdin_pend.len : 32768;
			uint8_t m[32769];
			m[0] = 'i';
			memcpy(m + 1, ss->stdin_pend.data, n);
			ssize_t w = send(ss->proc.attach_fd, m, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				if (errno != EAGAIN)
					ss->stdin_pend.len = 0;
				return;
			}
			spdy_buf_consume(&ss->stdin_pend, n);
		}
	} else if (ss->proc.in_fd >= 0) {
		ssize_t w = write(ss->proc.in_fd, ss->stdin_pend.data, ss->stdin_pend.len);
		if (w > 0)
			spdy_buf_consume(&ss->stdin_pend, (size_t)w);
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			ss->stdin_pend.len = 0; /* the process closed its stdin */
	} else {
		ss->stdin_pend.len = 0;
	}
	if (!ss->stdin_pend.len && ss->stdin_fin) {
		ss->stdin_done = true;
		stdin_closed(ss);
	}
}

/* ---- port forward ---- */

static struct pf_pair *pf_find(struct session *ss, const char *rid, bool create)
{
	for (size_t i = 0; i < ss->n_pairs; i++)
		if (!strcmp(ss->pairs[i].request_id, rid))
			return &ss->pairs[i];
	if (!create || ss->n_pairs == MAX_PF_PAIRS)
		return NULL;
	struct pf_pair *p = &ss->pairs[ss->n_pairs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->request_id, sizeof(p->request_id), "%s", rid);
	p->fd = -1;
	p->created_ms = now_ms();
	return p;
}

static void pf_finish(struct session *ss, struct pf_pair *p, const char *errmsg)
{
	if (p->done)
		return;
	if (errmsg && p->err_sid)
		send_data(ss, p->err_sid, errmsg, strlen(errmsg), false);
	if (p->err_sid)
		send_data(ss, p->err_sid, NULL, 0, true);
	if (p->data_sid && !p->tcp_eof)
		send_data(ss, p->data_sid, NULL, 0, true);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	spdy_buf_free(&p->to_tcp);
	p->done = true;
}

static void pf_start(struct session *ss, struct pf_pair *p)
{
	ndl_error_t e = NDL_ERROR_INIT;
	const struct stream_backend *be = &ss->srv->cfg.backend;
	p->started = true;
	if (be->port_connect(be->user, ss->req->sandbox_id, p->port, &p->fd, &e) < 0) {
		cleanup_free char *msg = xasprintf("error forwarding port %u to pod %s, uid : %s",
						   p->port, ss->req->sandbox_id, ndl_error_msg(&e));
		log_info("port forward failed", "err=\"%s\"", msg);
		ndl_error_clear(&e);
		pf_finish(ss, p, msg);
		return;
	}
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	int one = 1;
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The kubelet's httpStreamReceived checks; NULL when acceptable. */
static char *pf_check(const struct spdy_headers *h)
{
	const char *port = spdy_headers_get(h, "port");
	if (!port || !*port)
		return xstrdup("\"port\" header is required");
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(port, &end, 10);
	if (*end || errno || v > 65535 || port[0] == '-' || port[0] == '+')
		return xasprintf("unable to parse \"%s\" as a port", port);
	if (v < 1)
		return xasprintf("port \"%s\" must be > 0", port);
	const char *t = spdy_headers_get(h, "streamtype");
	if (!t || !*t)
		return xstrdup("\"streamType\" header is required");
	if (strcmp(t, "error") && strcmp(t, "data"))
		return xasprintf("invalid stream type \"%s\"", t);
	return NULL;
}

static void pf_new_stream(struct session *ss, uint32_t sid, const struct spdy_headers *h)
{
	cleanup_free char *bad = pf_check(h);
	if (bad) {
		/* apimachinery's spdy connection resets a rejected stream. */
		log_debug(1, "port forward stream rejected", "err=\"%s\"", bad);
		spdy_put_rst(&ss->wbuf, sid, SPDY_RST_CANCEL);
		return;
	}
	reply(ss, sid, false);
	const char *rid = spdy_headers_get(h, "requestid");
	bool data = !strcmp(spdy_headers_get(h, "streamtype"), "data");
	char rbuf[32];
	if (!rid) {
		/* Old clients: the pair is (error id, error id + 2). */
		snprintf(rbuf, sizeof(rbuf), "%u", data ? sid - 2 : sid);
		rid = rbuf;
	}
	struct pf_pair *p = pf_find(ss, rid, true);
	if (!p) {
		spdy_put_rst(&ss->wbuf, sid, SPDY_RST_REFUSED_STREAM);
		return;
	}
	uint32_t *slot = data ? &p->data_sid : &p->err_sid;
	if (*slot) {
		/* "error processing stream": a second stream of one type. */
		spdy_put_rst(&ss->wbuf, sid, SPDY_RST_PROTOCOL_ERROR);
		return;
	}
	*slot = sid;
	if (data)
		p->port = (uint16_t)strtoul(spdy_headers_get(h, "port"), NULL, 10);
	if (p->err_sid && p->data_sid && !p->started)
		pf_start(ss, p);
}

static struct pf_pair *pf_by_sid(struct session *ss, uint32_t sid, bool *is_data)
{
	for (size_t i = 0; i < ss->n_pairs; i++) {
		if (ss->pairs[i].data_sid == sid) {
			*is_data = true;
			return &ss->pairs[i];
		}
		if (ss->pairs[i].err_sid == sid) {
			*is_data = false;
			return &ss->pairs[i];
		}
	}
	return NULL;
}

static void pf_flush(struct pf_pair *p)
{
	if (p->fd < 0 || !p->to_tcp.len)
		return;
	ssize_t w = send(p->fd, p->to_tcp.data, p->to_tcp.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0)
		spdy_buf_consume(&p->to_tcp, (size_t)w);
	else if (w < 0 && errno != EAGAIN && errno != EINTR)
		p->to_tcp.len = 0;
	if (!p->to_tcp.len && p->client_fin)
		shutdown(p->fd, SHUT_WR);
}

/* ---- frames from the client ---- */

static void on_data(struct session *ss, const struct spdy_frame *f)
{
	bool fin = f->flags & SPDY_FLAG_FIN;
	if (ss->pf) {
		bool is_data = false;
		struct pf_pair *p = pf_by_sid(ss, f->stream_id, &is_data);
		if (!p || p->done || !is_data)
			return;
		spdy_buf_append(&p->to_tcp, f->payload, f->len);
		if (fin) {
			p->client_fin = true;
			if (!p->half_closed_ms)
				p->half_closed_ms = now_ms();
		}
		pf_flush(p);
		return;
	}
	uint32_t sid = f->stream_id;
	if (sid == ss->sid[ST_STDIN] && sid) {
		if (ss->stdin_fin)
			return;
		spdy_buf_append(&ss->stdin_pend, f->payload, f->len);
		if (fin)
			ss->stdin_fin = true;
		flush_stdin(ss);
	} else if (sid == ss->sid[ST_RESIZE] && sid) {
		spdy_buf_append(&ss->resize_buf, f->payload, f->len);
		if (ss->started) {
			size_t used = stream_parse_resize((char *)ss->resize_buf.data,
							  ss->resize_buf.len, do_resize, ss);
			spdy_buf_consume(&ss->resize_buf, used);
		}
		if (ss->resize_buf.len > 4096)
			ss->resize_buf.len = 0;
	}
}

static int on_frame(struct session *ss, const struct spdy_frame *f)
{
	if (!f->control) {
		on_data(ss, f);
		return 0;
	}
	ndl_error_t e = NDL_ERROR_INIT;
	switch (f->type) {
	case SPDY_SYN_STREAM:
	case SPDY_HEADERS: {
		size_t off = f->type == SPDY_SYN_STREAM ? 10 : 4;
		struct spdy_headers h = {.n = 0};
		/* Always inflate: the zlib stream spans every header block. */
		if (spdy_headers_decode(&ss->z, f->payload + off, f->len - off, &h, &e) < 0) {
			log_debug(1, "streaming: bad header block", "err=\"%s\"", ndl_error_msg(&e));
			ndl_error_clear(&e);
			spdy_put_goaway(&ss->wbuf, ss->last_sid, 1);
			return -1;
		}
		if (f->type == SPDY_HEADERS) {
			spdy_headers_clear(&h);
			return 0;
		}
		uint32_t sid = f->stream_id;
		if (sid == 0 || !(sid & 1) || sid <= ss->last_sid) {
			spdy_headers_clear(&h);
			spdy_put_rst(&ss->wbuf, sid, SPDY_RST_PROTOCOL_ERROR);
			return 0;
		}
		ss->last_sid = sid;
		if (ss->pf) {
			pf_new_stream(ss, sid, &h);
		} else {
			enum st_type t = st_of(spdy_headers_get(&h, "streamtype"));
			reply(ss, sid, false);
			if (t != ST_NONE && t != ST_DATA && !ss->sid[t])
				ss->sid[t] = sid;
			else
				log_debug(1, "streaming: unexpected stream", "type=%s",
					  spdy_headers_get(&h, "streamtype")
					      ? spdy_headers_get(&h, "streamtype")
					      : "");
			if (!ss->started && expected_streams_present(ss))
				start_proc(ss);
		}
		spdy_headers_clear(&h);
		return 0;
	}
	case SPDY_RST_STREAM: {
		struct spdy_frame d = *f;
		d.control = false;
		d.flags = SPDY_FLAG_FIN;
		d.len = 0;
		on_data(ss, &d);
		return 0;
	}
	case SPDY_PING: {
		uint32_t id = (uint32_t)f->payload[0] << 24 | (uint32_t)f->payload[1] << 16 |
			      (uint32_t)f->payload[2] << 8 | f->payload[3];
		/* Our own pings would be even: echo the client's. */
		if (id & 1)
			spdy_put_ping(&ss->wbuf, id);
		return 0;
	}
	case SPDY_GOAWAY:
		ss->goaway = true;
		return 0;
	default:
		/* SETTINGS, WINDOW_UPDATE, SYN_REPLY: spdystream ignores flow control. */
		return 0;
	}
}

/* One complete client message of a channel protocol. */
static void on_ws_message(struct session *ss, uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	int ch;
	uint8_t *data = p + 1;
	size_t len = n - 1;
	if (ss->ws == 1) {
		ch = p[0];
	} else {
		if (p[0] < '0' || p[0] > '9')
			return;
		ch = p[0] - '0';
		long dl = ws_base64_decode((const char *)p + 1, n - 1, p + 1);
		if (dl < 0)
			return;
		len = (size_t)dl;
	}
	struct spdy_frame f = {.payload = data, .len = (uint32_t)len};
	if (ss->ws_v5 && ch == 255) {
		/* v5 close signal: the client closes one of its channels. */
		if (len < 1)
			return;
		f.len = 0;
		f.flags = SPDY_FLAG_FIN;
		ch = data[0];
	}
	f.stream_id = (uint32_t)ch + 1;
	on_data(ss, &f);
}

static int read_ws(struct session *ss)
{
	size_t off = 0;
	int rc = 0;
	for (;;) {
		struct ws_frame f;
		size_t used = 0;
		ndl_error_t e = NDL_ERROR_INIT;
		int r = ws_parse_frame(ss->rbuf.data + off, ss->rbuf.len - off, &f, &used, &e);
		if (r < 0) {
			log_debug(1, "streaming: bad websocket frame", "err=\"%s\"", ndl_error_msg(&e));
			ndl_error_clear(&e);
			ss->peer_gone = true;
			return -1;
		}
		if (r == 0)
			break;
		off += used;
		if (f.opcode == WS_OP_PING) {
			ws_put_frame(&ss->wbuf, WS_OP_PONG, f.payload, f.len);
		} else if (f.opcode == WS_OP_CLOSE) {
			ss->goaway = true;
			break;
		} else if (f.opcode == WS_OP_PONG) {
			continue;
		} else {
			if (ss->ws_msg.len + f.len > WS_MAX_FRAME) {
				ss->peer_gone = true;
				rc = -1;
				break;
			}
			spdy_buf_append(&ss->ws_msg, f.payload, f.len);
			if (f.fin) {
				on_ws_message(ss, ss->ws_msg.data, ss->ws_msg.len);
				ss->ws_msg.len = 0;
			}
		}
	}
	spdy_buf_consume(&ss->rbuf, off);
	return rc;
}

static int read_sock(struct session *ss)
{
	uint8_t buf[65536];
	ssize_t n = recv(ss->sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		ss->peer_gone = true;
		return -1;
	}
	spdy_buf_append(&ss->rbuf, buf, (size_t)n);
	if (ss->ws)
		return read_ws(ss);
	size_t off = 0;
	for (;;) {
		struct spdy_frame f;
		size_t used = 0;
		ndl_error_t e = NDL_ERROR_INIT;
		int r = spdy_parse_frame(ss->rbuf.data + off, ss->rbuf.len - off, &f, &used, &e);
		if (r < 0) {
			log_debug(1, "streaming: bad frame", "err=\"%s\"", ndl_error_msg(&e));
			ndl_error_clear(&e);
			ss->peer_gone = true;
			return -1;
		}
		if (r == 0)
			break;
		off += used;
		if (on_frame(ss, &f) < 0) {
			ss->peer_gone = true;
			return -1;
		}
	}
	spdy_buf_consume(&ss->rbuf, off);
	return 0;
}

static void flush_sock(struct session *ss)
{
	while (ss->wbuf.len) {
		ssize_t w = send(ss->sock, ss->wbuf.data, ss->wbuf.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			spdy_buf_consume(&ss->wbuf, (size_t)w);
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ss->peer_gone = true;
		ss->wbuf.len = 0;
		return;
	}
}

/* Read a process fd into the given stream; returns false at EOF. */
static bool pump_fd(struct session *ss, int fd, uint32_t sid)
{
	uint8_t buf[32768];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) /* EOF, or EIO from a pty whose other side is gone */
		return false;
	if (sid)
		send_data(ss, sid, buf, (size_t)n, false);
	return true;
}

static bool pump_attach(struct session *ss)
{
	uint8_t buf[65537]; /* on the session thread's stack (static TLS would cost every thread) */
	ssize_t n = recv(ss->proc.attach_fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	switch (buf[0]) {
	case 'o':
		if (ss->sid[ST_STDOUT])
			send_data(ss, ss->sid[ST_STDOUT], buf + 1, (size_t)n - 1, false);
		break;
	case 'e':
		if (ss->sid[ST_STDERR])
			send_data(ss, ss->sid[ST_STDERR], buf + 1, (size_t)n - 1, false);
		else if (ss->req->tty && ss->sid[ST_STDOUT])
			send_data(ss, ss->sid[ST_STDOUT], buf + 1, (size_t)n - 1, false);
		break;
	case 'd': /* detached (stdin ended) or the container exited */
	case 'x':
		return false;
	default:
		break;
	}
	return true;
}

static void kill_exec(struct session *ss)
{
	/* The runtime writes the pid file just after the process starts, so a
	 * client that leaves at once can be faster than it: wait for the file
	 * while the runtime lives (killing the runtime first would orphan the
	 * process for good). The bound is generous (10 s): on a loaded node
	 * the runtime can take well over a second to get there. */
	long xp = 0;
	for (int i = 0; ss->proc.pid_file && i < 1000; i++) {
		cleanup_free char *b = NULL;
		size_t l = 0;
		if (ndl_read_file(ss->proc.pid_file, 64, &b, &l, NULL) == 0 &&
		    (xp = strtol(b, NULL, 10)) > 1)
			break;
		xp = 0;
		int st;
		if (ss->proc.pid > 0 && waitpid(ss->proc.pid, &st, WNOHANG) == ss->proc.pid) {
			ss->exited = true;
			ss->wait_status = st;
			break;
		}
		usleep(10 * 1000);
	}
	if (xp > 1) {
		/* Its process group too when it leads one (a tty exec is a
		 * session leader): background children go with it. */
		if (getpgid((pid_t)xp) == (pid_t)xp)
			kill(-(pid_t)xp, SIGKILL);
		kill((pid_t)xp, SIGKILL);
	}
	if (ss->proc.pid > 0 && !ss->exited)
		kill(ss->proc.pid, SIGKILL);
}

static void finish_remotecommand(struct session *ss)
{
	cleanup_free char *status = NULL;
	cleanup_free char *cmd = NULL;
	if (ss->start_error) {
		status = ss->version >= 4 ? internal_status_json(ss->start_error)
					  : xasprintf("Internal error occurred: %s", ss->start_error);
	} else {
		int code = 0;
		if (ss->req->kind == STREAM_EXEC) {
			if (WIFEXITED(ss->wait_status))
				code = WEXITSTATUS(ss->wait_status);
			else if (WIFSIGNALED(ss->wait_status))
				code = 128 + WTERMSIG(ss->wait_status);
		}
		cmd = stream_go_strv(ss->req->cmd, ss->req->n_cmd);
		if (ss->version >= 4)
			status = stream_status_json(code, cmd);
		else if (code)
			status = xasprintf("command terminated with non-zero exit code: error "
					   "executing command %s, exit code %d",
					   cmd, code);
	}
	if (ss->sid[ST_STDOUT])
		send_data(ss, ss->sid[ST_STDOUT], NULL, 0, true);
	if (ss->sid[ST_STDERR])
		send_data(ss, ss->sid[ST_STDERR], NULL, 0, true);
	if (ss->sid[ST_ERROR]) {
		if (status)
			send_data(ss, ss->sid[ST_ERROR], status, strlen(status), false);
		send_data(ss, ss->sid[ST_ERROR], NULL, 0, true);
	}
}

static void run_session(struct session *ss)
{
	long long create_ms = ss->srv->cfg.stream_create_ms ? ss->srv->cfg.stream_create_ms : 30000;
	ss->deadline_ms = now_ms() + create_ms;
	ss->active_ms = now_ms();
	for (;;) {
		if (ss->peer_gone || ss->goaway)
			break;
		long long now = now_ms();
		if (!ss->pf) {
			if (!ss->started && now >= ss->deadline_ms) {
				log_info("streaming: timed out waiting for client to create streams",
					 "container=%s", ss->req->container_id);
				break;
			}
			if (ss->started && ss->start_error)
				break;
			bool done;
			if (ss->req->kind == STREAM_EXEC)
				done = ss->started && ss->exited &&
				       ((ss->out_eof && ss->err_eof) ||
					now - ss->exited_ms >= DRAIN_AFTER_EXIT_MS);
			else
				done = ss->started && ss->attach_eof;
			if (done)
				break;
		} else {
			for (size_t i = 0; i < ss->n_pairs; i++) {
				struct pf_pair *p = &ss->pairs[i];
				if (p->done)
					continue;
				if (!p->started && now - p->created_ms >= create_ms) {
					/* monitorStreamPair's timeout */
					pf_finish(ss, p, "timed out waiting for streams");
				} else if (p->started && ((p->tcp_eof && p->client_fin &&
							   !p->to_tcp.len) ||
							  (p->half_closed_ms &&
							   now - p->half_closed_ms >= PF_GRACE_MS))) {
					pf_finish(ss, p, NULL);
				}
			}
		}
		struct pollfd pfd[8 + MAX_PF_PAIRS];
		int kinds[8 + MAX_PF_PAIRS];
		int n = 0;
		bool room = ss->wbuf.len < WBUF_HIGH;
		/* Backpressure toward the client: stop reading it while what it
		 * sent has not been taken by the process or the TCP peer. */
		bool take = ss->stdin_pend.len < WBUF_HIGH;
		for (size_t i = 0; i < ss->n_pairs; i++)
			if (ss->pairs[i].to_tcp.len >= WBUF_HIGH)
				take = false;
		pfd[n] = (struct pollfd){
		    .fd = ss->sock,
		    .events = (short)((take ? POLLIN : 0) | (ss->wbuf.len ? POLLOUT : 0))};
		kinds[n++] = 0;
		if (!ss->pf && ss->started && !ss->start_error) {
			if (!ss->out_eof && room) {
				pfd[n] = (struct pollfd){.fd = ss->proc.out_fd, .events = POLLIN};
				kinds[n++] = 1;
			}
			if (!ss->err_eof && room) {
				pfd[n] = (struct pollfd){.fd = ss->proc.err_fd, .events = POLLIN};
				kinds[n++] = 2;
			}
			if (ss->stdin_pend.len && ss->proc.in_fd >= 0) {
				pfd[n] = (struct pollfd){.fd = ss->proc.in_fd, .events = POLLOUT};
				kinds[n++] = 3;
			}
			if (ss->pidfd >= 0 && !ss->exited) {
				pfd[n] = (struct pollfd){.fd = ss->pidfd, .events = POLLIN};
				kinds[n++] = 4;
			}
			if (ss->proc.attach_fd >= 0 && !ss->attach_eof) {
				pfd[n] = (struct pollfd){
				    .fd = ss->proc.attach_fd,
				    .events = (short)((room ? POLLIN : 0) |
						      (ss->stdin_pend.len ? POLLOUT : 0))};
				kinds[n++] = 5;
			}
		}
		if (ss->pf) {
			for (size_t i = 0; i < ss->n_pairs; i++) {
				struct pf_pair *p = &ss->pairs[i];
				if (p->done || p->fd < 0)
					continue;
				short ev = 0;
				if (!p->tcp_eof && room)
					ev |= POLLIN;
				if (p->to_tcp.len)
					ev |= POLLOUT;
				pfd[n] = (struct pollfd){.fd = p->fd, .events = ev};
				kinds[n++] = 100 + (int)i;
			}
		}
		int timeout = 200;
		size_t wlen_before = ss->wbuf.len;
		int pr = poll(pfd, (nfds_t)n, timeout);
		if (pr > 0)
			ss->active_ms = now_ms();
		long long idle_ms = ss->srv->cfg.idle_ms ? ss->srv->cfg.idle_ms : STREAM_IDLE_MS;
		if (pr == 0 && !wlen_before && now_ms() - ss->active_ms >= idle_ms) {
			/* The kubelet's streamingConnectionIdleTimeout (4h). */
			log_info("streaming: idle timeout", "idle_ms=%lld", idle_ms);
			break;
		}
		if (pr < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && pr > 0; i++) {
			short re = pfd[i].revents;
			if (!re)
				continue;
			switch (kinds[i]) {
			case 0:
				if (re & (POLLIN | POLLHUP | POLLERR))
					read_sock(ss);
				if (re & POLLOUT)
					flush_sock(ss);
				break;
			case 1:
				if (!pump_fd(ss, ss->proc.out_fd, ss->sid[ST_STDOUT]))
					ss->out_eof = true;
				break;
			case 2:
				if (!pump_fd(ss, ss->proc.err_fd, ss->sid[ST_STDERR]))
					ss->err_eof = true;
				break;
			case 3:
			case 5:
				if (re & POLLOUT)
					flush_stdin(ss);
				if (kinds[i] == 5 && (re & (POLLIN | POLLHUP | POLLERR)) &&
				    !pump_attach(ss))
					ss->attach_eof = true;
				break;
			case 4: {
				int st = 0;
				if (waitpid(ss->proc.pid, &st, WNOHANG) == ss->proc.pid) {
					ss->exited = true;
					ss->wait_status = st;
					ss->exited_ms = now_ms();
				}
				break;
			}
			default: {
				struct pf_pair *p = &ss->pairs[kinds[i] - 100];
				if (re & POLLOUT)
					pf_flush(p);
				if (re & (POLLIN | POLLHUP | POLLERR)) {
					uint8_t buf[32768];
					ssize_t r = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
					if (r > 0) {
						send_data(ss, p->data_sid, buf, (size_t)r, false);
					} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
						p->tcp_eof = true;
						send_data(ss, p->data_sid, NULL, 0, true);
						if (!p->half_closed_ms)
							p->half_closed_ms = now_ms();
					}
				}
				break;
			}
			}
		}
		flush_sock(ss);
	}
	if (!ss->pf) {
		if (ss->started && !ss->start_error && ss->req->kind == STREAM_EXEC && !ss->exited) {
			/* The client went away first: the command must not outlive it. */
			kill_exec(ss);
		}
		if (ss->proc.pid > 0 && !ss->exited) {
			int st = 0;
			while (waitpid(ss->proc.pid, &st, 0) < 0 && errno == EINTR)
				;
			ss->wait_status = st;
		}
		if (!ss->peer_gone && ss->started) {
			/* Output still buffered in the pipes after the exit. */
			if (!ss->out_eof)
				while (pump_fd(ss, ss->proc.out_fd, ss->sid[ST_STDOUT]) &&
				       ss->wbuf.len < WBUF_HIGH)
					;
			if (!ss->err_eof)
				while (pump_fd(ss, ss->proc.err_fd, ss->sid[ST_STDERR]) &&
				       ss->wbuf.len < WBUF_HIGH)
					;
			finish_remotecommand(ss);
		}
		if (ss->started && ss->req->in && ss->proc.attach_fd >= 0 && !ss->stdin_fin)
			send(ss->proc.attach_fd, "c", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (ss->pidfd >= 0)
			close(ss->pidfd);
		proc_close(&ss->proc);
	} else {
		for (size_t i = 0; i < ss->n_pairs; i++)
			pf_finish(ss, &ss->pairs[i], NULL);
	}
	if (!ss->peer_gone) {
		if (ss->ws) {
			uint8_t normal[2] = {0x03, 0xe8}; /* 1000: normal closure */
			ws_put_frame(&ss->wbuf, WS_OP_CLOSE, normal, 2);
		} else {
			spdy_put_goaway(&ss->wbuf, ss->last_sid, 0);
		}
		fcntl(ss->sock, F_SETFL, 0);
		write_all_timeout(ss->sock, ss->wbuf.data, ss->wbuf.len, 5000);
		shutdown(ss->sock, SHUT_WR);
		/* Let the client read everything before the close (no RST). */
		struct pollfd pf = {.fd = ss->sock, .events = POLLIN};
		uint8_t junk[4096];
		long long end = now_ms() + 2000;
		while (now_ms() < end && poll(&pf, 1, 200) >= 0) {
			if (pf.revents && recv(ss->sock, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
				break;
		}
	}
}

/* ---- connections ---- */

struct conn_arg {
	struct stream_server *srv;
	int fd;
};

static char *join_go(const char *const *v, size_t n)
{
	struct spdy_buf b = {0};
	spdy_buf_append(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			spdy_buf_append(&b, " ", 1);
		spdy_buf_append(&b, v[i], strlen(v[i]));
	}
	spdy_buf_append(&b, "]", 1);
	return buf_to_str(&b);
}

/* httpstream.Handshake: the first client protocol the server supports. */
static const char *negotiate(int fd, const struct http_request *hr, const char *const *server,
			     size_t ns)
{
	const char *client[16];
	size_t nc = http_header_all(hr, "X-Stream-Protocol-Version", client, 16);
	if (nc == 0) {
		http_error(fd, 400, "Bad Request", NULL,
			   "unable to upgrade: X-Stream-Protocol-Version is required");
		return NULL;
	}
	for (size_t i = 0; i < nc; i++)
		for (size_t j = 0; j < ns; j++)
			if (!strcmp(client[i], server[j]))
				return server[j];
	struct spdy_buf hdr = {0};
	for (size_t j = 0; j < ns; j++) {
		spdy_buf_append(&hdr, "X-Accepted-Stream-Protocol-Versions: ", 37);
		spdy_buf_append(&hdr, server[j], strlen(server[j]));
		spdy_buf_append(&hdr, "\r\n", 2);
	}
	cleanup_free char *h = buf_to_str(&hdr);
	cleanup_free char *cs = join_go(client, nc);
	cleanup_free char *ss = join_go(server, ns);
	cleanup_free char *msg = xasprintf(
	    "unable to upgrade: unable to negotiate protocol: client supports %s, server accepts %s",
	    cs, ss);
	http_error(fd, 403, "Forbidden", h, msg);
	return NULL;
}

static void register_fd(struct stream_server *s, int fd, bool add)
{
	pthread_mutex_lock(&s->lock);
	if (add) {
		s->n_sessions++;
		for (size_t i = 0; i < 256; i++)
			if (s->session_fds[i] < 0) {
				s->session_fds[i] = fd;
				break;
			}
	} else {
		s->n_sessions--;
		for (size_t i = 0; i < 256; i++)
			if (s->session_fds[i] == fd)
				s->session_fds[i] = -1;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static void session_free(struct session *ss)
{
	spdy_zlib_free(&ss->z);
	spdy_buf_free(&ss->rbuf);
	spdy_buf_free(&ss->wbuf);
	spdy_buf_free(&ss->stdin_pend);
	spdy_buf_free(&ss->resize_buf);
	spdy_buf_free(&ss->ws_msg);
	for (size_t i = 0; i < ss->n_pairs; i++)
		spdy_buf_free(&ss->pairs[i].to_tcp);
	free(ss->start_error);
	free(ss);
}

/* The channel protocols over WebSocket, as the kubelet's wsstream serves
 * them: exec/attach channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4
 * resize; port forward channels 2i (data) and 2i+1 (error) for the i-th
 * "port" query parameter, each starting with the port (uint16 LE). */
static void serve_websocket(struct stream_server *srv, int fd, const struct http_request *hr,
			    struct stream_request *req)
{
	static const char *const rc_protos[] = {"",
						"channel.k8s.io",
						"base64.channel.k8s.io",
						"v4.channel.k8s.io",
						"v4.base64.channel.k8s.io",
						"v5.channel.k8s.io"};
	static const char *const pf_protos[] = {"", "v4.channel.k8s.io",
						"v4.base64.channel.k8s.io"};
	bool pf = req->kind == STREAM_PORTFORWARD;
	const char *const *allowed = pf ? pf_protos : rc_protos;
	size_t n_allowed = pf ? 3 : 6;
	uint16_t ports[MAX_PF_PAIRS];
	size_t n_ports = 0;
	cleanup_free char *resp = NULL;
	const char *ver = http_header_get(hr, "Sec-WebSocket-Version");
	const char *key = http_header_get(hr, "Sec-WebSocket-Key");
	if (!ver || strcmp(ver, "13") || !key || !*key || strlen(key) > 128) {
		http_error(fd, 400, "Bad Request", "Sec-WebSocket-Version: 13\r\n",
			   "websocket: missing or unsupported Sec-WebSocket-Version/Key");
		goto fail;
	}
	if (pf) {
		/* The kubelet's CRI server takes the ports of the PortForwardRequest
		 * (BuildV4Options), not the URL's query; checked in serve_conn. */
		for (size_t i = 0; i < req->n_ports && n_ports < MAX_PF_PAIRS; i++)
			ports[n_ports++] = (uint16_t)req->ports[i];
	}
	/* Sec-WebSocket-Protocol: comma-separated offers, first allowed wins
	 * (none offered counts as ""). */
	const char *offers[16];
	size_t n_off = http_header_all(hr, "Sec-WebSocket-Protocol", offers, 16);
	const char *chosen = NULL;
	if (n_off == 0)
		chosen = "";
	for (size_t i = 0; i < n_off && !chosen; i++) {
		cleanup_free char *list = xstrdup(offers[i]);
		char *save = NULL;
		for (char *t = strtok_r(list, ",", &save); t && !chosen; t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ' || *t == '\t')
				t++;
			size_t tl = strlen(t);
			while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
				t[--tl] = '\0';
			for (size_t j = 0; j < n_allowed; j++)
				if (!strcmp(t, allowed[j]))
					chosen = allowed[j];
		}
	}
	if (!chosen) {
		http_error(fd, 403, "Forbidden", NULL,
			   "websocket: requested protocol(s) are not supported");
		goto fail;
	}
	char accept[64];
	ws_accept_key(key, accept);
	resp = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
			 accept, *chosen ? "Sec-WebSocket-Protocol: " : "", chosen,
			 *chosen ? "\r\n" : "");
	write_all_timeout(fd, resp, strlen(resp), 5000);

	struct session *ss = xcalloc(1, sizeof(*ss));
	ss->srv = srv;
	ss->sock = fd;
	ss->pf = pf;
	ss->req = req;
	ss->ws = strstr(chosen, "base64") ? 2 : 1;
	ss->ws_v5 = !strcmp(chosen, "v5.channel.k8s.io");
	ss->version = !strncmp(chosen, "v4.", 3) || ss->ws_v5 ? 4 : 1;
	stream_proc_init(&ss->proc);
	ss->pidfd = -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (pf) {
		for (size_t i = 0; i < n_ports; i++) {
			struct pf_pair *p = &ss->pairs[ss->n_pairs++];
			memset(p, 0, sizeof(*p));
			snprintf(p->request_id, sizeof(p->request_id), "%zu", i);
			p->fd = -1;
			p->created_ms = now_ms();
			p->data_sid = (uint32_t)(2 * i) + 1;
			p->err_sid = (uint32_t)(2 * i) + 2;
			p->port = ports[i];
			uint8_t le[2] = {(uint8_t)ports[i], (uint8_t)(ports[i] >> 8)};
			send_data(ss, p->data_sid, le, 2, false);
			send_data(ss, p->err_sid, le, 2, false);
		}
		for (size_t i = 0; i < ss->n_pairs; i++)
			pf_start(ss, &ss->pairs[i]);
	} else {
		if (req->in)
			ss->sid[ST_STDIN] = 1;
		if (req->out)
			ss->sid[ST_STDOUT] = 2;
		if (req->err)
			ss->sid[ST_STDERR] = 3;
		ss->sid[ST_ERROR] = 4;
		ss->sid[ST_RESIZE] = 5;
		/* An empty message on the lowest writable channel tells the client
		 * the connection is ready. */
		uint32_t first = req->out ? 2 : req->err ? 3 : 4;
		send_data(ss, first, "", 0, false);
		start_proc(ss);
	}
	run_session(ss);
	session_free(ss);
fail:
	stream_request_free(req);
}

static void serve_conn(struct stream_server *srv, int fd)
{
	/* Read the request head (nothing after it is read before the upgrade). */
	char head[HTTP_MAX_HEAD];
	size_t len = 0;
	struct http_request hr;
	long hl = 0;
	long long deadline = now_ms() + HEAD_TIMEOUT_MS;
	ndl_error_t e = NDL_ERROR_INIT;
	while (hl == 0) {
		long long left = deadline - now_ms();
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return;
		ssize_t n = recv(fd, head + len, sizeof(head) - len, MSG_PEEK | MSG_DONTWAIT);
		if (n <= 0)
			return;
		hl = http_parse_request(head, len + (size_t)n, &hr, &e);
		if (hl < 0) {
			http_error(fd, 400, "Bad Request", NULL, ndl_error_msg(&e));
			ndl_error_clear(&e);
			return;
		}
		/* Consume exactly the head: SPDY frames may follow it. */
		size_t take = hl > 0 ? (size_t)hl - len : (size_t)n;
		if (recv(fd, head + len, take, 0) != (ssize_t)take)
			return;
		len += take;
	}
	struct stream_request *req = NULL;
	cleanup_free char *resp = NULL;
	enum stream_kind kind = STREAM_EXEC;
	const char *tok = NULL;
	if (!strncmp(hr.path, "/exec/", 6)) {
		kind = STREAM_EXEC;
		tok = hr.path + 6;
	} else if (!strncmp(hr.path, "/attach/", 8)) {
		kind = STREAM_ATTACH;
		tok = hr.path + 8;
	} else if (!strncmp(hr.path, "/portforward/", 13)) {
		kind = STREAM_PORTFORWARD;
		tok = hr.path + 13;
	}
	if (!tok || !*tok || strchr(tok, '/')) {
		http_error(fd, 404, "Not Found", NULL, "404 page not found");
		goto out;
	}
	if (strcmp(hr.method, "GET") && strcmp(hr.method, "POST")) {
		http_error(fd, 405, "Method Not Allowed", NULL, "405: Method Not Allowed");
		goto out;
	}
	req = consume(srv, tok);
	if (!req || req->kind != kind) {
		http_error(fd, 404, "Not Found", NULL, "404 page not found");
		goto out;
	}
	for (size_t i = 0; kind == STREAM_PORTFORWARD && i < req->n_ports; i++)
		if (req->ports[i] <= 0 || req->ports[i] > 65535) {
			cleanup_free char *m = xasprintf("invalid port %d", req->ports[i]);
			http_error(fd, 400, "Bad Request", NULL, m);
			goto out;
		}
	const char *conn_h = http_header_get(&hr, "Connection");
	const char *up_h = http_header_get(&hr, "Upgrade");
	if (conn_h && up_h && strcasestr(conn_h, "upgrade") && !strcasecmp(up_h, "websocket")) {
		serve_websocket(srv, fd, &hr, req);
		req = NULL; /* the session took it */
		goto out;
	}
	const char *proto =
	    kind == STREAM_PORTFORWARD
		? negotiate(fd, &hr, portforward_protocols, 1)
		: negotiate(fd, &hr, remotecommand_protocols,
			    sizeof(remotecommand_protocols) / sizeof(remotecommand_protocols[0]));
	if (!proto)
		goto out;
	if (!conn_h || !up_h || !strcasestr(conn_h, "upgrade") || !strcasestr(up_h, "spdy/3.1")) {
		http_error(fd, 400, "Bad Request", NULL,
			   "unable to upgrade: missing upgrade headers in request");
		goto out;
	}
	resp =
	    xasprintf("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
		      "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
		      proto);
	write_all_timeout(fd, resp, strlen(resp), 5000);

	struct session *ss = xcalloc(1, sizeof(*ss));
	ss->srv = srv;
	ss->sock = fd;
	ss->pf = kind == STREAM_PORTFORWARD;
	ss->req = req;
	ss->version = !strcmp(proto, "v4.channel.k8s.io")   ? 4
		      : !strcmp(proto, "v3.channel.k8s.io") ? 3
		      : !strcmp(proto, "v2.channel.k8s.io") ? 2
							    : 1;
	stream_proc_init(&ss->proc);
	ss->pidfd = -1;
	if (spdy_zlib_init(&ss->z, &e) < 0) {
		ndl_error_clear(&e);
		free(ss);
		goto out;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	run_session(ss);
	session_free(ss);
out:
	stream_request_free(req);
	http_request_free(&hr);
}

static void *conn_main(void *arg)
{
	struct conn_arg *a = arg;
	struct stream_server *s = a->srv;
	int fd = a->fd;
	free(a);
	serve_conn(s, fd);
	register_fd(s, fd, false);
	close(fd);
	return NULL;
}

static void *listen_main(void *arg)
{
	struct stream_server *s = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = s->listen_fd, .events = POLLIN},
				       {.fd = s->stop_pipe[0], .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		int c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		/* Interactive streams: no Nagle delay (Go's default for TCP too). */
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&s->lock);
		bool full = s->n_sessions >= 256 || s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (full) {
			close(c);
			continue;
		}
		register_fd(s, c, true);
		struct conn_arg *a = xmalloc(sizeof(*a));
		a->srv = s;
		a->fd = c;
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_main, a) != 0) {
			free(a);
			register_fd(s, c, false);
			close(c);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

int stream_server_start(const struct stream_server_config *cfg, struct stream_server **ret,
			ndl_error_t *err)
{
	const char *addr = cfg->address && *cfg->address ? cfg->address : "127.0.0.1";
	if (cfg->port < 0 || cfg->port > 65535)
		return ndl_error_setf(err, EINVAL, "stream port %d: expected 0..65535", cfg->port);
	struct sockaddr_storage sa;
	memset(&sa, 0, sizeof(sa));
	socklen_t salen;
	int family;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		family = s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg->port);
		salen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		family = s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg->port);
		salen = sizeof(*s6);
	} else {
		return ndl_error_setf(err, EINVAL, "stream address \"%s\": not an IP address", addr);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ndl_error_set(err, errno, "stream server socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "stream server listen on %s:%d", addr, cfg->port);
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "getsockname");
	}
	struct stream_server *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->listen_fd = fd;
	for (size_t i = 0; i < 256; i++)
		s->session_fds[i] = -1;
	int port = ntohs(family == AF_INET ? s4->sin_port : s6->sin6_port);
	snprintf(s->base_url, sizeof(s->base_url), family == AF_INET ? "http://%s:%d" : "http://[%s]:%d",
		 addr, port);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pipe2(s->stop_pipe, O_CLOEXEC) < 0 || pthread_create(&s->thread, NULL, listen_main, s)) {
		int e = errno;
		close(fd);
		free(s);
		return ndl_error_set(err, e, "start stream server");
	}
	*ret = s;
	return 0;
}

const char *stream_server_base_url(const struct stream_server *s)
{
	return s->base_url;
}

void stream_server_stop(struct stream_server *s)
{
	if (!s)
		return;
	(void)!write(s->stop_pipe[1], "x", 1);
	pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (size_t i = 0; i < 256; i++)
		if (s->session_fds[i] >= 0)
			shutdown(s->session_fds[i], SHUT_RDWR);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (s->n_sessions > 0)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
			break;
	bool idle = s->n_sessions == 0;
	prune_locked(s, 1LL << 62);
	pthread_mutex_unlock(&s->lock);
	close(s->listen_fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	if (!idle)
		return; /* a session thread still holds s: leak it rather than crash */
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}
