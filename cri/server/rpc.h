/* gRPC (C core) server framework of nodelet-cri: a dispatch table of unary
 * methods served by a pool of worker threads, each with its own completion
 * queue and one outstanding generic request, plus one thread that serves
 * server-streaming subscriptions (GetContainerEvents) fed by posted events. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "lib/error.h"

/* gRPC status codes (same values as grpc_status_code; kept here so handlers
 * need not include grpc headers). */
enum cri_status {
	CRI_OK = 0,
	CRI_CANCELLED = 1,
	CRI_UNKNOWN = 2,
	CRI_INVALID_ARGUMENT = 3,
	CRI_DEADLINE_EXCEEDED = 4,
	CRI_NOT_FOUND = 5,
	CRI_ALREADY_EXISTS = 6,
	CRI_PERMISSION_DENIED = 7,
	CRI_RESOURCE_EXHAUSTED = 8,
	CRI_FAILED_PRECONDITION = 9,
	CRI_ABORTED = 10,
	CRI_OUT_OF_RANGE = 11,
	CRI_UNIMPLEMENTED = 12,
	CRI_INTERNAL = 13,
	CRI_UNAVAILABLE = 14,
};

/* Largest request accepted (and response sent), as containerd and the kubelet use. */
#define CRI_MAX_MSG_SIZE (16 * 1024 * 1024)

/* What a handler produces: on CRI_OK a packed response, otherwise a status
 * and a message for the client. */
struct cri_reply {
	enum cri_status status;
	char *message; /* heap, may be NULL */
	uint8_t *data; /* heap, packed response */
	size_t len;
};

/* Pack msg into r (status OK). Returns CRI_OK. */
enum cri_status cri_reply_ok(struct cri_reply *r, const ProtobufCMessage *msg);
/* Set an error status with a printf message. Returns status. */
enum cri_status cri_reply_error(struct cri_reply *r, enum cri_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map an ndl_error_t (errno-style code) onto a gRPC status with its message. */
enum cri_status cri_reply_from_error(struct cri_reply *r, const ndl_error_t *err);
enum cri_status cri_status_from_errno(int code);

/* A unary handler: req is the unpacked request (never NULL). */
typedef enum cri_status (*cri_unary_fn)(void *user, const ProtobufCMessage *req,
					struct cri_reply *reply);

struct cri_method {
	const char *path; /* "/runtime.v1.RuntimeService/Version" */
	const ProtobufCMessageDescriptor *request;
	cri_unary_fn handler; /* NULL: answered UNIMPLEMENTED with not_implemented_msg */
	const char *not_implemented_msg;
};

/* A server-streaming method: every subscriber receives every posted message
 * from the time it subscribed. `on_subscribe` may reject a subscription. */
struct cri_stream_method {
	const char *path;
	const ProtobufCMessageDescriptor *request;
	enum cri_status (*on_subscribe)(void *user, const ProtobufCMessage *req,
					struct cri_reply *reply);
};

struct cri_rpc_config {
	const char *listen; /* "unix:/path" or a path */
	int workers;	    /* worker threads kept, >= 1 */
	int max_workers;    /* the pool grows to this when all are busy; 0: max(workers, 64) */
	int idle_ms;	    /* a worker above `workers` idle this long exits; 0: 5000 */
	const struct cri_method *methods;
	size_t n_methods;
	const struct cri_stream_method *stream; /* may be NULL */
	void *user;
	size_t max_msg_size;	 /* 0: CRI_MAX_MSG_SIZE */
	size_t stream_queue_max; /* per subscriber backlog before it is dropped; 0: 1024 */
};

struct cri_rpc_server;

/* Bind and start serving. The listen path must not exist (the caller handles
 * locking and stale sockets). */
int cri_rpc_start(const struct cri_rpc_config *cfg, struct cri_rpc_server **ret, ndl_error_t *err);

/* Post a message to every current stream subscriber (serialised once). Safe
 * from any thread. Returns the number of subscribers it was queued for. */
int cri_rpc_post_event(struct cri_rpc_server *s, const ProtobufCMessage *msg);

/* Unary worker threads running now (base + those grown on demand). */
int cri_rpc_workers(struct cri_rpc_server *s);

/* Number of live stream subscribers (for tests and status). */
int cri_rpc_subscribers(struct cri_rpc_server *s);

/* Stop accepting, cancel in-flight calls, join every thread, free. Accepts NULL. */
void cri_rpc_stop(struct cri_rpc_server *s);
