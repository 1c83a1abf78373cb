/* gRPC C-core server: generic unary dispatch on a worker pool, and one thread
 * for server-streaming subscribers. See rpc.h. */
#include "cri/server/rpc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* Unary calls: every worker waits on one shared notification queue, so any
 * idle worker takes the next call, and the pool grows when the last idle
 * worker takes one (up to max_workers; a stop waiting out its grace period
 * holds a worker, and 100 such stops must not queue behind 4 workers). A
 * worker above the configured count exits after idle_ms without a call. */

/* One outstanding grpc_server_request_call and the queue its call's batches
 * complete on (a bound queue need not be registered with the server, so
 * slots can be added after start). Owned by the worker serving its call. */
struct slot {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
};

enum { W_FREE, W_RUNNING, W_EXITED };

struct worker {
	struct cri_rpc_server *s;
	pthread_t thread;
	int state; /* W_*, under s->lock */
};

/* A packed message shared by every subscriber queue it is on. */
struct event_buf {
	int refs;     /* protected by the stream thread (only it touches refs after posting) */
	uint64_t seq; /* posting order, to skip events older than a subscriber */
	size_t len;
	uint8_t data[];
};

struct ev_node {
	struct ev_node *next;
	struct event_buf *buf;
};

struct subscriber {
	struct subscriber *next;
	grpc_call *call;
	int tag_send, tag_close; /* addresses used as completion tags */
	bool sending;		 /* a SEND batch is outstanding */
	bool close_pending;	 /* RECV_CLOSE_ON_SERVER outstanding */
	bool dead;		 /* no more sends */
	int cancelled;
	uint64_t since; /* receives events with seq > since */
	struct ev_node *head, *tail;
	size_t queued;
};

struct pending_stream_call {
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	bool outstanding;
};

struct cri_rpc_server {
	grpc_server *server;
	grpc_completion_queue *notify_cq; /* new unary calls, shared by workers */
	struct worker *workers;		  /* max_workers entries */
	struct slot **slots;		  /* max_workers entries, n_slots used */
	int n_slots;
	int base_workers, max_workers; /* the pool never shrinks below base */
	int n_running, n_idle;	       /* under lock */
	int idle_ms;
	pthread_attr_t attr; /* small stacks for workers */
	const struct cri_method *methods;
	size_t n_methods;
	void *user;
	size_t stream_queue_max;

	/* streaming */
	const struct cri_stream_method *stream;
	void *stream_rm; /* registered method handle */
	grpc_completion_queue *stream_cq;
	pthread_t stream_thread;
	bool stream_started;
	pthread_mutex_t lock; /* protects posted*, stopping, n_subs, the pool */
	struct ev_node *posted_head, *posted_tail;
	bool stopping;
	int n_subs;
	uint64_t seq; /* last posted event */

	bool grpc_inited;
};

#define CRI_MAX_STATUS_MSG 4096

enum cri_status cri_status_from_errno(int code)
{
	switch (code) {
	case 0:
		return CRI_OK;
	case ENOENT:
	case ESRCH:
		return CRI_NOT_FOUND;
	case EEXIST:
		return CRI_ALREADY_EXISTS;
	case EINVAL:
	case E2BIG:
	case ERANGE:
		/* containerd answers a request it refuses (invalid field,
		 * reference, resources) with Unknown; clients see the same. */
		return CRI_UNKNOWN;
	case ETIMEDOUT:
		return CRI_DEADLINE_EXCEEDED;
	case ENOSYS:
	case EOPNOTSUPP:
		return CRI_UNIMPLEMENTED;
	case EACCES:
	case EPERM:
		return CRI_PERMISSION_DENIED;
	case EBUSY:
	case EAGAIN:
		return CRI_FAILED_PRECONDITION;
	case ENOSPC:
	case ENOMEM:
	case EFBIG:
		return CRI_RESOURCE_EXHAUSTED;
	case ECANCELED:
		return CRI_CANCELLED;
	default:
		return CRI_UNKNOWN;
	}
}

enum cri_status cri_reply_ok(struct cri_reply *r, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	free(r->data);
	r->data = xmalloc(n ? n : 1);
	r->len = protobuf_c_message_pack(msg, r->data);
	r->status = CRI_OK;
	return CRI_OK;
}

enum cri_status cri_reply_error(struct cri_reply *r, enum cri_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->message);
	r->message = xvasprintf(fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

enum cri_status cri_reply_from_error(struct cri_reply *r, const ndl_error_t *err)
{
	enum cri_status st = cri_status_from_errno(err->code);
	if (st == CRI_OK)
		st = CRI_UNKNOWN;
	return cri_reply_error(r, st, "%s", ndl_error_msg(err));
}

static void reply_clear(struct cri_reply *r)
{
	free(r->message);
	free(r->data);
	memset(r, 0, sizeof(*r));
}

/* Flatten a received byte buffer (possibly compressed) into one allocation. */
static uint8_t *byte_buffer_flatten(grpc_byte_buffer *bb, size_t *ret_len)
{
	grpc_byte_buffer_reader reader;
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return NULL;
	grpc_slice sl = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	size_t n = GRPC_SLICE_LENGTH(sl);
	uint8_t *out = xmalloc(n ? n : 1);
	memcpy(out, GRPC_SLICE_START_PTR(sl), n);
	grpc_slice_unref(sl);
	*ret_len = n;
	return out;
}

/* Wait for our own tag on a completion queue that only this thread uses. */
static bool cq_wait(grpc_completion_queue *cq, void *tag)
{
	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return false;
		if (ev.type == GRPC_OP_COMPLETE && ev.tag == tag)
			return ev.success != 0;
	}
}

static const struct cri_method *find_method(struct cri_rpc_server *s, const char *path)
{
	for (size_t i = 0; i < s->n_methods; i++)
		if (strcmp(s->methods[i].path, path) == 0)
			return &s->methods[i];
	return NULL;
}

static void dispatch(struct cri_rpc_server *s, const char *path, grpc_byte_buffer *payload,
		     struct cri_reply *r)
{
	const struct cri_method *m = find_method(s, path);
	if (!m) {
		/* A client calling a path nobody serves must be answered, or it waits forever. */
		cri_reply_error(r, CRI_UNIMPLEMENTED, "unknown method %s", path);
		return;
	}
	if (!m->handler) {
		cri_reply_error(r, CRI_UNIMPLEMENTED, "%s",
				m->not_implemented_msg ? m->not_implemented_msg
						       : "method not implemented");
		return;
	}
	if (!payload) {
		cri_reply_error(r, CRI_INVALID_ARGUMENT, "%s: missing request message", path);
		return;
	}
	size_t len = 0;
	uint8_t *data = byte_buffer_flatten(payload, &len);
	if (!data) {
		cri_reply_error(r, CRI_INTERNAL, "%s: cannot read request", path);
		return;
	}
	ProtobufCMessage *req = protobuf_c_message_unpack(m->request, NULL, len, data);
	free(data);
	if (!req) {
		cri_reply_error(r, CRI_INVALID_ARGUMENT, "%s: malformed %s message", path,
				m->request->name);
		return;
	}
	memset(r, 0, sizeof(*r));
	enum cri_status st = m->handler(s->user, req, r);
	protobuf_c_message_free_unpacked(req, NULL);
	r->status = st;
	if (st == CRI_OK && !r->data) {
		/* A handler that forgot its response would make the client fail to
		 * parse; report it as the server bug it is. */
		cri_reply_error(r, CRI_INTERNAL, "%s: handler produced no response", path);
	}
}

static void serve_call(struct cri_rpc_server *s, grpc_completion_queue *cq, grpc_call *call,
		       const char *path)
{
	grpc_byte_buffer *payload = NULL;
	grpc_op op_recv[1];
	memset(op_recv, 0, sizeof(op_recv));
	op_recv[0].op = GRPC_OP_RECV_MESSAGE;
	op_recv[0].data.recv_message.recv_message = &payload;
	int tag1 = 0;
	if (grpc_call_start_batch(call, op_recv, 1, &tag1, NULL) != GRPC_CALL_OK)
		return;
	if (!cq_wait(cq, &tag1)) {
		if (payload)
			grpc_byte_buffer_destroy(payload);
		return;
	}

	struct cri_reply r = {0};
	dispatch(s, path, payload, &r);
	if (payload)
		grpc_byte_buffer_destroy(payload);
	if (r.status != CRI_OK)
		log_debug(2, "rpc error", "method=%s code=%d msg=\"%s\"", path, r.status,
			  r.message ? r.message : "");

	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	size_t n = 0;
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	grpc_byte_buffer *resp = NULL;
	if (r.status == CRI_OK) {
		grpc_slice sl = grpc_slice_from_copied_buffer((const char *)r.data, r.len);
		resp = grpc_raw_byte_buffer_create(&sl, 1);
		grpc_slice_unref(sl);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = resp;
	}
	/* Status details travel as a header: clients refuse headers over 8 KiB,
	 * which would turn our error into a confusing RESOURCE_EXHAUSTED. */
	if (r.message && strlen(r.message) > CRI_MAX_STATUS_MSG)
		strcpy(r.message + CRI_MAX_STATUS_MSG - 4, "...");
	grpc_slice details = grpc_slice_from_copied_string(r.message ? r.message : "");
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)r.status;
	ops[n++].data.send_status_from_server.status_details = r.status == CRI_OK ? NULL : &details;
	int cancelled = 0;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &cancelled;
	int tag2 = 0;
	if (grpc_call_start_batch(call, ops, n, &tag2, NULL) == GRPC_CALL_OK)
		cq_wait(cq, &tag2);
	grpc_slice_unref(details);
	if (resp)
		grpc_byte_buffer_destroy(resp);
	reply_clear(&r);
}

/* Ask the server for the next call into this slot. false: the server is
 * shutting down (nothing outstanding). */
static bool slot_request(struct cri_rpc_server *s, struct slot *sl)
{
	sl->call = NULL;
	grpc_call_details_init(&sl->details);
	grpc_metadata_array_init(&sl->md);
	if (grpc_server_request_call(s->server, &sl->call, &sl->details, &sl->md, sl->cq,
				     s->notify_cq, sl) == GRPC_CALL_OK)
		return true;
	grpc_call_details_destroy(&sl->details);
	grpc_metadata_array_destroy(&sl->md);
	return false;
}

/* Add a slot (caller holds s->lock; n_slots < max_workers). */
static void slot_add(struct cri_rpc_server *s)
{
	struct slot *sl = xcalloc(1, sizeof(*sl));
	sl->cq = grpc_completion_queue_create_for_next(NULL);
	s->slots[s->n_slots++] = sl;
	slot_request(s, sl);
}

static void *worker_main(void *arg);

/* Start one more worker and keep a slot per worker, so every idle worker has
 * a call to wait for. Caller holds s->lock. The new worker counts as idle
 * from now, so concurrent takers do not start one each. */
static bool spawn_worker(struct cri_rpc_server *s)
{
	struct worker *w = NULL;
	for (int i = 0; i < s->max_workers && !w; i++)
		if (s->workers[i].state != W_RUNNING)
			w = &s->workers[i];
	if (!w)
		return false;
	if (w->state == W_EXITED) {
		/* It marked itself exited and touches nothing of ours after. */
		pthread_join(w->thread, NULL);
		w->state = W_FREE;
	}
	w->s = s;
	if (pthread_create(&w->thread, &s->attr, worker_main, w) != 0) {
		log_warn("cannot start a gRPC worker", "running=%d errno=%d", s->n_running, errno);
		return false;
	}
	w->state = W_RUNNING;
	s->n_running++;
	s->n_idle++;
	if (s->n_slots < s->n_running)
		slot_add(s);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct cri_rpc_server *s = w->s;
	for (;;) {
		gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					       gpr_time_from_millis(s->idle_ms, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(s->notify_cq, dl, NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			pthread_mutex_lock(&s->lock);
			if (s->n_running > s->base_workers && !s->stopping) {
				s->n_running--;
				s->n_idle--;
				w->state = W_EXITED;
				pthread_mutex_unlock(&s->lock);
				return NULL;
			}
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct slot *sl = ev.tag;
		pthread_mutex_lock(&s->lock);
		s->n_idle--;
		if (s->n_idle == 0 && s->n_running < s->max_workers && !s->stopping)
			spawn_worker(s);
		pthread_mutex_unlock(&s->lock);
		if (ev.success && sl->call) {
			char *path = grpc_slice_to_c_string(sl->details.method);
			serve_call(s, sl->cq, sl->call, path);
			gpr_free(path);
		}
		/* Calls are released before their completion queue is shut down. */
		if (sl->call)
			grpc_call_unref(sl->call);
		grpc_call_details_destroy(&sl->details);
		grpc_metadata_array_destroy(&sl->md);
		pthread_mutex_lock(&s->lock);
		s->n_idle++;
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		/* A failed request means the server is shutting down. */
		if (ev.success && !stopping)
			slot_request(s, sl);
	}
	return NULL;
}

/* ---- streaming ---- */

static void ev_unref(struct event_buf *b)
{
	if (--b->refs == 0)
		free(b);
}

static void sub_free_queue(struct subscriber *sub)
{
	struct ev_node *n = sub->head;
	while (n) {
		struct ev_node *next = n->next;
		ev_unref(n->buf);
		free(n);
		n = next;
	}
	sub->head = sub->tail = NULL;
	sub->queued = 0;
}

static void sub_send_next(struct subscriber *sub)
{
	if (sub->sending || sub->dead || !sub->head)
		return;
	struct ev_node *n = sub->head;
	sub->head = n->next;
	if (!sub->head)
		sub->tail = NULL;
	sub->queued--;
	grpc_slice sl = grpc_slice_from_copied_buffer((const char *)n->buf->data, n->buf->len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	ev_unref(n->buf);
	free(n);
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = bb;
	/* gRPC copies the buffer reference for the batch; we drop ours now. */
	if (grpc_call_start_batch(sub->call, &op, 1, &sub->tag_send, NULL) == GRPC_CALL_OK)
		sub->sending = true;
	else
		sub->dead = true;
	grpc_byte_buffer_destroy(bb);
}

static void stream_request_next(struct cri_rpc_server *s, struct pending_stream_call *p)
{
	memset(p, 0, sizeof(*p));
	grpc_metadata_array_init(&p->md);
	if (grpc_server_request_registered_call(s->server, s->stream_rm, &p->call, &p->deadline,
						&p->md, &p->payload, s->stream_cq, s->stream_cq,
						p) == GRPC_CALL_OK)
		p->outstanding = true;
	else
		grpc_metadata_array_destroy(&p->md);
}

/* Accept a new subscriber: validate the request, send headers, watch for close. */
static struct subscriber *stream_accept(struct cri_rpc_server *s, struct pending_stream_call *p)
{
	struct cri_reply r = {0};
	enum cri_status st = CRI_OK;
	ProtobufCMessage *req = NULL;
	if (p->payload) {
		size_t len = 0;
		uint8_t *data = byte_buffer_flatten(p->payload, &len);
		if (data)
			req = protobuf_c_message_unpack(s->stream->request, NULL, len, data);
		free(data);
	}
	if (!req)
		st = cri_reply_error(&r, CRI_INVALID_ARGUMENT, "%s: malformed %s message",
				     s->stream->path, s->stream->request->name);
	else if (s->stream->on_subscribe)
		st = s->stream->on_subscribe(s->user, req, &r);
	if (req)
		protobuf_c_message_free_unpacked(req, NULL);

	struct subscriber *sub = xcalloc(1, sizeof(*sub));
	/* Events posted before this point (even if not yet dispatched) are not
	 * this subscriber's. */
	pthread_mutex_lock(&s->lock);
	sub->since = s->seq;
	pthread_mutex_unlock(&s->lock);
	sub->call = p->call;
	p->call = NULL;

	grpc_op ops[3];
	memset(ops, 0, sizeof(ops));
	size_t n = 0;
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	grpc_slice details = grpc_slice_from_copied_string(r.message ? r.message : "");
	if (st != CRI_OK) {
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = (grpc_status_code)st;
		ops[n++].data.send_status_from_server.status_details = &details;
		sub->dead = true;
	}
	if (grpc_call_start_batch(sub->call, ops, n, &sub->tag_send, NULL) == GRPC_CALL_OK)
		sub->sending = true;
	else
		sub->dead = true;
	grpc_slice_unref(details);
	reply_clear(&r);

	grpc_op close_op;
	memset(&close_op, 0, sizeof(close_op));
	close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	close_op.data.recv_close_on_server.cancelled = &sub->cancelled;
	if (grpc_call_start_batch(sub->call, &close_op, 1, &sub->tag_close, NULL) == GRPC_CALL_OK)
		sub->close_pending = true;
	else
		sub->dead = true;
	return sub;
}

static void *stream_main(void *arg)
{
	struct cri_rpc_server *s = arg;
	struct subscriber *subs = NULL;
	struct pending_stream_call pending;
	stream_request_next(s, &pending);

	for (;;) {
		/* Posted events are picked up on a short tick: gRPC core offers no
		 * portable way to wake a completion queue from another thread.
		 * Without subscribers nothing is waiting for events, so an idle
		 * daemon wakes only once a second (new subscriptions and shutdown
		 * arrive as completions and wake us at once). */
		int tick_ms = subs ? 20 : 1000;
		grpc_event ev = grpc_completion_queue_next(
		    s->stream_cq,
		    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				 gpr_time_from_millis(tick_ms, GPR_TIMESPAN)),
		    NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE) {
			if (ev.tag == &pending) {
				pending.outstanding = false;
				if (ev.success && pending.call) {
					struct subscriber *sub = stream_accept(s, &pending);
					sub->next = subs;
					subs = sub;
				} else if (pending.call) {
					grpc_call_unref(pending.call);
				}
				if (pending.payload)
					grpc_byte_buffer_destroy(pending.payload);
				grpc_metadata_array_destroy(&pending.md);
				pthread_mutex_lock(&s->lock);
				bool stopping = s->stopping;
				pthread_mutex_unlock(&s->lock);
				if (ev.success && !stopping)
					stream_request_next(s, &pending);
			} else {
				for (struct subscriber *sub = subs; sub; sub = sub->next) {
					if (ev.tag == &sub->tag_send) {
						sub->sending = false;
						if (!ev.success)
							sub->dead = true;
					} else if (ev.tag == &sub->tag_close) {
						/* The client went away (or the call ended). */
						sub->close_pending = false;
						sub->dead = true;
					}
				}
			}
		}

		/* Move posted events to every live subscriber. */
		pthread_mutex_lock(&s->lock);
		struct ev_node *posted = s->posted_head;
		s->posted_head = s->posted_tail = NULL;
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		while (posted) {
			struct ev_node *next = posted->next;
			for (struct subscriber *sub = subs; sub; sub = sub->next) {
				if (sub->dead || posted->buf->seq <= sub->since)
					continue;
				if (sub->queued >= s->stream_queue_max) {
					/* A subscriber that does not read must not grow our memory
					 * without bound; drop it, as containerd does. */
					grpc_call_cancel_with_status(
					    sub->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
					    "event backlog too large", NULL);
					sub->dead = true;
					sub_free_queue(sub);
					continue;
				}
				struct ev_node *n = xcalloc(1, sizeof(*n));
				n->buf = posted->buf;
				n->buf->refs++;
				if (sub->tail)
					sub->tail->next = n;
				else
					sub->head = n;
				sub->tail = n;
				sub->queued++;
			}
			ev_unref(posted->buf);
			free(posted);
			posted = next;
		}

		/* Send, and reap subscribers that have nothing outstanding. */
		int live = 0;
		for (struct subscriber **pp = &subs; *pp;) {
			struct subscriber *sub = *pp;
			if (stopping && !sub->dead) {
				grpc_call_cancel(sub->call, NULL);
				sub->dead = true;
			}
			sub_send_next(sub);
			if (sub->dead && !sub->sending && !sub->close_pending) {
				*pp = sub->next;
				sub_free_queue(sub);
				grpc_call_unref(sub->call);
				free(sub);
				continue;
			}
			if (!sub->dead)
				live++;
			pp = &sub->next;
		}
		pthread_mutex_lock(&s->lock);
		s->n_subs = live;
		pthread_mutex_unlock(&s->lock);

		if (stopping && !pending.outstanding && !subs)
			break;
	}
	return NULL;
}

int cri_rpc_post_event(struct cri_rpc_server *s, const ProtobufCMessage *msg)
{
	if (!s || !s->stream)
		return 0;
	size_t n = protobuf_c_message_get_packed_size(msg);
	struct event_buf *b = xmalloc(sizeof(*b) + (n ? n : 1));
	b->refs = 1;
	b->len = protobuf_c_message_pack(msg, b->data);
	struct ev_node *node = xcalloc(1, sizeof(*node));
	node->buf = b;
	pthread_mutex_lock(&s->lock);
	int subs = s->n_subs;
	if (s->stopping) {
		free(b);
		free(node);
		subs = 0;
	} else {
		b->seq = ++s->seq;
		if (s->posted_tail)
			s->posted_tail->next = node;
		else
			s->posted_head = node;
		s->posted_tail = node;
	}
	pthread_mutex_unlock(&s->lock);
	return subs;
}

int cri_rpc_workers(struct cri_rpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->n_running;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int cri_rpc_subscribers(struct cri_rpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->n_subs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- lifecycle ---- */

static void drain_and_destroy(grpc_completion_queue *cq)
{
	if (!cq)
		return;
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

void cri_rpc_stop(struct cri_rpc_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->server) {
		grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
		static const char TAG_SHUTDOWN;
		grpc_server_shutdown_and_notify(s->server, scq, (void *)&TAG_SHUTDOWN);
		grpc_server_cancel_all_calls(s->server);
		grpc_completion_queue_pluck(scq, (void *)&TAG_SHUTDOWN,
					    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_completion_queue_shutdown(scq);
		grpc_completion_queue_pluck(scq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_completion_queue_destroy(scq);
	}
	/* Outstanding requests have failed onto notify_cq by now; a worker
	 * finishing a call sees `stopping` and asks for no more. Shutting the
	 * queue down ends every worker once those events are taken. */
	if (s->notify_cq)
		grpc_completion_queue_shutdown(s->notify_cq);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; s->workers && i < s->max_workers; i++) {
		if (s->workers[i].state == W_FREE)
			continue;
		pthread_t t = s->workers[i].thread;
		s->workers[i].state = W_FREE;
		/* No new worker starts while stopping, so the table is stable. */
		pthread_mutex_unlock(&s->lock);
		pthread_join(t, NULL);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->stream_started)
		pthread_join(s->stream_thread, NULL);
	for (int i = 0; i < s->n_slots; i++) {
		drain_and_destroy(s->slots[i]->cq);
		free(s->slots[i]);
	}
	drain_and_destroy(s->notify_cq);
	drain_and_destroy(s->stream_cq);
	if (s->server)
		grpc_server_destroy(s->server);
	struct ev_node *n = s->posted_head;
	while (n) {
		struct ev_node *next = n->next;
		ev_unref(n->buf);
		free(n);
		n = next;
	}
	free(s->workers);
	free(s->slots);
	pthread_attr_destroy(&s->attr);
	pthread_mutex_destroy(&s->lock);
	if (s->grpc_inited)
		grpc_shutdown();
	free(s);
}

int cri_rpc_start(const struct cri_rpc_config *cfg, struct cri_rpc_server **ret, ndl_error_t *err)
{
	if (cfg->workers < 1)
		return ndl_error_setf(err, EINVAL, "rpc: workers must be >= 1, got %d",
				      cfg->workers);
	struct cri_rpc_server *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->methods = cfg->methods;
	s->n_methods = cfg->n_methods;
	s->user = cfg->user;
	s->stream = cfg->stream;
	s->stream_queue_max = cfg->stream_queue_max ? cfg->stream_queue_max : 1024;
	s->base_workers = cfg->workers;
	s->max_workers = cfg->max_workers > cfg->workers ? cfg->max_workers
			 : cfg->max_workers ? cfg->workers
					    : (cfg->workers > 64 ? cfg->workers : 64);
	s->idle_ms = cfg->idle_ms > 0 ? cfg->idle_ms : 5000;
	s->workers = xcalloc((size_t)s->max_workers, sizeof(*s->workers));
	s->slots = xcalloc((size_t)s->max_workers, sizeof(*s->slots));
	pthread_attr_init(&s->attr);
	/* Handlers keep big buffers on the heap; a worker's stack needs gRPC's
	 * call path, a handler and libc (TLS in pulls). Sanitizers need more. */
#if !defined(__SANITIZE_ADDRESS__) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define __SANITIZE_ADDRESS__ 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
	pthread_attr_setstacksize(&s->attr, 4u << 20);
#else
	pthread_attr_setstacksize(&s->attr, 512u << 10);
#endif
	grpc_init();
	s->grpc_inited = true;

	int max = (int)(cfg->max_msg_size ? cfg->max_msg_size : CRI_MAX_MSG_SIZE);
	grpc_arg args[2];
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = max;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = max;
	grpc_channel_args chargs = {.num_args = 2, .args = args};
	s->server = grpc_server_create(&chargs, NULL);

	if (s->stream) {
		s->stream_rm = grpc_server_register_method(
		    s->server, s->stream->path, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		s->stream_cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(s->server, s->stream_cq, NULL);
	}
	s->notify_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->notify_cq, NULL);

	const char *listen = cfg->listen;
	cleanup_free char *addr =
	    strncmp(listen, "unix:", 5) == 0 ? xstrdup(listen) : xasprintf("unix:%s", listen);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(s->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		/* Nothing started yet: destroy without the shutdown handshake. */
		int r = ndl_error_setf(err, EADDRINUSE, "rpc: cannot listen on %s", addr);
		grpc_server_destroy(s->server);
		s->server = NULL;
		cri_rpc_stop(s);
		return r;
	}
	grpc_server_start(s->server);

	pthread_mutex_lock(&s->lock);
	int started = 0;
	while (started < cfg->workers && spawn_worker(s))
		started++;
	pthread_mutex_unlock(&s->lock);
	if (started < cfg->workers) {
		int r = ndl_error_set(err, EAGAIN, "rpc: start worker thread");
		cri_rpc_stop(s);
		return r;
	}
	if (s->stream) {
		if (pthread_create(&s->stream_thread, NULL, stream_main, s) != 0) {
			int r = ndl_error_set(err, EAGAIN, "rpc: start stream thread");
			cri_rpc_stop(s);
			return r;
		}
		s->stream_started = true;
	}
	*ret = s;
	return 0;
}
