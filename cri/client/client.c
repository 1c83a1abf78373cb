/* CRI client over gRPC core: one channel per client, one pluck completion
 * queue per call (so concurrent calls from several threads never share one). */
#include "cri/client/client.h"

#include <pthread.h>
#include <stdbool.h>
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
#include "lib/xalloc.h"

/* Responses (ListImages on a big node, ListContainers) can be large; the
 * kubelet allows 16 MiB, so do we. */
#define CLIENT_MAX_RECV (16 * 1024 * 1024)

struct cri_client {
	grpc_channel *channel;
	char *target;
};

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* The spelling Go's gRPC uses in "rpc error: code = X desc = Y". */
static const char *const status_go_names[] = {
    "OK",	"Canceled",	   "Unknown",	       "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",	"OutOfRange",	   "Unimplemented",    "Internal",	    "Unavailable",
    "DataLoss", "Unauthenticated",
};

const char *cri_status_name(int code)
{
	if (code >= 0 && code < (int)(sizeof(status_names) / sizeof(status_names[0])))
		return status_names[code];
	return "UNKNOWN";
}

static int status_errno(int code)
{
	switch (code) {
	case GRPC_STATUS_NOT_FOUND:
		return ENOENT;
	case GRPC_STATUS_ALREADY_EXISTS:
		return EEXIST;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return EINVAL;
	case GRPC_STATUS_UNIMPLEMENTED:
		return ENOSYS;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return ETIMEDOUT;
	case GRPC_STATUS_UNAVAILABLE:
		return ECONNREFUSED;
	case GRPC_STATUS_PERMISSION_DENIED:
		return EACCES;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return EMSGSIZE;
	case GRPC_STATUS_CANCELLED:
		return ECANCELED;
	case GRPC_STATUS_FAILED_PRECONDITION:
		return EBUSY;
	default:
		return EIO;
	}
}

int cri_client_connect(const char *endpoint, struct cri_client **ret, ndl_error_t *err)
{
	const char *path = endpoint;
	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	else if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	if (path[0] != '/')
		return ndl_error_setf(
		    err, EINVAL,
		    "endpoint \"%s\": expected unix:///path or an absolute socket path", endpoint);
	grpc_init();
	struct cri_client *c = xcalloc(1, sizeof(*c));
	c->target = xasprintf("unix:%s", path);
	grpc_arg args[1];
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = CLIENT_MAX_RECV;
	grpc_channel_args chargs = {.num_args = 1, .args = args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(c->target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	if (!c->channel) {
		free(c->target);
		free(c);
		grpc_shutdown();
		return ndl_error_setf(err, EINVAL, "endpoint \"%s\": cannot create channel",
				      endpoint);
	}
	*ret = c;
	return 0;
}

void cri_client_close(struct cri_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->channel);
	free(c->target);
	free(c);
	grpc_shutdown();
}

int cri_client_call(struct cri_client *c, const char *path, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
		    ProtobufCMessage **ret_resp, struct cri_call_status *st, ndl_error_t *err)
{
	const char *method = strrchr(path, '/');
	method = method ? method + 1 : path;
	if (timeout_ms <= 0)
		timeout_ms = 120 * 1000;

	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = xmalloc(len ? len : 1);
	protobuf_c_message_pack(req, buf);
	grpc_slice req_slice = grpc_slice_new(buf, len, free);
	grpc_byte_buffer *req_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
	grpc_slice_unref(req_slice);

	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice method_slice = grpc_slice_from_copied_string(path);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   method_slice, NULL, deadline, NULL);
	grpc_slice_unref(method_slice);

	grpc_metadata_array initial_md, trailing_md;
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);
	grpc_byte_buffer *resp_bb = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();

	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;

	static const char TAG;
	int r = 0;
	grpc_call_error ce = grpc_call_start_batch(call, ops, 6, (void *)&TAG, NULL);
	if (ce != GRPC_CALL_OK) {
		r = ndl_error_setf(err, EIO, "%s: start call: error %d", method, ce);
	} else {
		grpc_completion_queue_pluck(cq, (void *)&TAG, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		char *msg = grpc_slice_to_c_string(details);
		if (st) {
			st->code = status;
			snprintf(st->message, sizeof(st->message), "%s", msg);
		}
		if (status != GRPC_STATUS_OK) {
			const char *name = status < (int)(sizeof(status_go_names) / sizeof(char *))
					       ? status_go_names[status]
					       : "Unknown";
			r = ndl_error_setf(err, status_errno(status),
					   "%s: rpc error: code = %s desc = %s", method, name, msg);
		} else if (!resp_bb) {
			r = ndl_error_setf(err, EPROTO, "%s: no response message", method);
		} else {
			grpc_byte_buffer_reader reader;
			grpc_byte_buffer_reader_init(&reader, resp_bb);
			grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
			grpc_byte_buffer_reader_destroy(&reader);
			ProtobufCMessage *resp = protobuf_c_message_unpack(
			    resp_desc, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
			grpc_slice_unref(all);
			if (!resp)
				r = ndl_error_setf(err, EPROTO, "%s: malformed %s", method,
						   resp_desc->name);
			else
				*ret_resp = resp;
		}
		gpr_free(msg);
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	if (resp_bb)
		grpc_byte_buffer_destroy(resp_bb);
	grpc_byte_buffer_destroy(req_bb);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(cq);
	return r;
}

int cri_method_lookup(const char *method, const char **ret_service,
		      const ProtobufCMessageDescriptor **ret_req,
		      const ProtobufCMessageDescriptor **ret_resp, int *ret_streaming)
{
	const ProtobufCServiceDescriptor *svcs[] = {&runtime__v1__runtime_service__descriptor,
						    &runtime__v1__image_service__descriptor};
	for (size_t s = 0; s < 2; s++) {
		for (unsigned i = 0; i < svcs[s]->n_methods; i++) {
			const ProtobufCMethodDescriptor *m = &svcs[s]->methods[i];
			if (strcmp(m->name, method) != 0)
				continue;
			if (ret_service)
				*ret_service = svcs[s]->name;
			if (ret_req)
				*ret_req = m->input;
			if (ret_resp)
				*ret_resp = m->output;
			/* protobuf-c does not record streaming; CRI has exactly one. */
			if (ret_streaming)
				*ret_streaming = strcmp(method, "GetContainerEvents") == 0;
			return 0;
		}
	}
	return -ENOENT;
}

int cri_client_call_by_name(struct cri_client *c, const char *method, const ProtobufCMessage *req,
			    int timeout_ms, ProtobufCMessage **ret_resp, struct cri_call_status *st,
			    ndl_error_t *err)
{
	const char *svc;
	const ProtobufCMessageDescriptor *reqd, *respd;
	int streaming;
	if (cri_method_lookup(method, &svc, &reqd, &respd, &streaming) < 0)
		return ndl_error_setf(err, ENOENT, "unknown CRI method \"%s\"", method);
	if (streaming)
		return ndl_error_setf(err, EINVAL, "%s is a streaming method", method);
	if (req->descriptor != reqd)
		return ndl_error_setf(err, EINVAL, "%s: request must be %s, got %s", method,
				      reqd->name, req->descriptor->name);
	cleanup_free char *path = xasprintf("/%s/%s", svc, method);
	return cri_client_call(c, path, req, respd, timeout_ms, ret_resp, st, err);
}

#define CRI_CLIENT_DEF(svc, Method, lname, Req, Resp)                                              \
	int cri_client_##lname(struct cri_client *c, const Runtime__V1__##Req *req,                \
			       Runtime__V1__##Resp **ret, int timeout_ms, ndl_error_t *err)        \
	{                                                                                          \
		ProtobufCMessage *resp = NULL;                                                     \
		int r =                                                                            \
		    cri_client_call_by_name(c, #Method, &req->base, timeout_ms, &resp, NULL, err); \
		if (r == 0)                                                                        \
			*ret = (Runtime__V1__##Resp *)resp;                                        \
		return r;                                                                          \
	}
CRI_UNARY_METHODS(CRI_CLIENT_DEF)
#undef CRI_CLIENT_DEF

/* ---- GetContainerEvents stream ---- */

struct cri_event_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array md, trailing;
	grpc_byte_buffer *msg; /* target of the outstanding RECV_MESSAGE */
	bool recv_pending;
	bool got_md; /* initial metadata is received with the first message */
	bool ended;
	grpc_status_code status;
	grpc_slice details;
	int tag_start, tag_recv, tag_status;
};

int cri_client_events_open(struct cri_client *c, struct cri_event_stream **ret, ndl_error_t *err)
{
	struct cri_event_stream *s = xcalloc(1, sizeof(*s));
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice method =
	    grpc_slice_from_static_string("/" CRI_RUNTIME_SERVICE "/GetContainerEvents");
	s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, method,
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array_init(&s->md);
	grpc_metadata_array_init(&s->trailing);
	s->details = grpc_empty_slice();

	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	size_t len = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *buf = xmalloc(len ? len : 1);
	protobuf_c_message_pack(&req.base, buf);
	grpc_slice sl = grpc_slice_new(buf, len, free);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);

	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[3].data.recv_status_on_client.status = &s->status;
	ops[3].data.recv_status_on_client.status_details = &s->details;
	ops[3].data.recv_status_on_client.trailing_metadata = &s->trailing;
	/* The status batch completes only when the stream ends; it is plucked
	 * by next() or close(). */
	grpc_call_error ce = grpc_call_start_batch(s->call, ops, 3, &s->tag_start, NULL);
	if (ce == GRPC_CALL_OK)
		ce = grpc_call_start_batch(s->call, &ops[3], 1, &s->tag_status, NULL);
	if (ce != GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(bb);
		grpc_call_unref(s->call);
		grpc_completion_queue_shutdown(s->cq);
		grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_completion_queue_destroy(s->cq);
		grpc_metadata_array_destroy(&s->md);
		grpc_metadata_array_destroy(&s->trailing);
		free(s);
		return ndl_error_setf(err, EIO, "GetContainerEvents: start call: error %d", ce);
	}
	grpc_completion_queue_pluck(s->cq, &s->tag_start, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_byte_buffer_destroy(bb);
	*ret = s;
	return 0;
}

static int events_ended(struct cri_event_stream *s, ndl_error_t *err)
{
	if (!s->ended) {
		grpc_completion_queue_pluck(s->cq, &s->tag_status,
					    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		s->ended = true;
	}
	char *msg = grpc_slice_to_c_string(s->details);
	const char *name = s->status < (int)(sizeof(status_go_names) / sizeof(char *))
			       ? status_go_names[s->status]
			       : "Unknown";
	int r = ndl_error_setf(err, s->status == GRPC_STATUS_OK ? EPIPE : status_errno(s->status),
			       "GetContainerEvents: stream ended: code = %s desc = %s", name, msg);
	gpr_free(msg);
	return r;
}

int cri_client_events_next(struct cri_event_stream *s, int timeout_ms,
			   Runtime__V1__ContainerEventResponse **ret, ndl_error_t *err)
{
	if (s->ended)
		return events_ended(s, err);
	if (!s->recv_pending) {
		grpc_op ops[2];
		memset(ops, 0, sizeof(ops));
		size_t n = 0;
		if (!s->got_md) {
			/* Not in open(): a server may hold its headers until the
			 * first event, and open() must not block on that. */
			ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
			ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->md;
			s->got_md = true;
		}
		ops[n].op = GRPC_OP_RECV_MESSAGE;
		ops[n++].data.recv_message.recv_message = &s->msg;
		s->msg = NULL;
		if (grpc_call_start_batch(s->call, ops, n, &s->tag_recv, NULL) != GRPC_CALL_OK)
			return events_ended(s, err);
		s->recv_pending = true;
	}
	gpr_timespec deadline = timeout_ms < 0
				    ? gpr_inf_future(GPR_CLOCK_REALTIME)
				    : gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
						   gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv, deadline, NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return ndl_error_setf(err, ETIMEDOUT, "GetContainerEvents: no event within %d ms",
				      timeout_ms);
	s->recv_pending = false;
	if (!s->msg)
		return events_ended(s, err); /* end of stream: the status tells why */
	grpc_byte_buffer_reader reader;
	grpc_byte_buffer_reader_init(&reader, s->msg);
	grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	grpc_byte_buffer_destroy(s->msg);
	s->msg = NULL;
	Runtime__V1__ContainerEventResponse *e = runtime__v1__container_event_response__unpack(
	    NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	if (!e)
		return ndl_error_setf(err, EPROTO,
				      "GetContainerEvents: malformed ContainerEventResponse");
	*ret = e;
	return 0;
}

void cri_client_events_close(struct cri_event_stream *s)
{
	if (!s)
		return;
	grpc_call_cancel(s->call, NULL);
	if (s->recv_pending) {
		grpc_completion_queue_pluck(s->cq, &s->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		if (s->msg)
			grpc_byte_buffer_destroy(s->msg);
	}
	if (!s->ended)
		grpc_completion_queue_pluck(s->cq, &s->tag_status,
					    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->md);
	grpc_metadata_array_destroy(&s->trailing);
	grpc_call_unref(s->call);
	grpc_completion_queue_shutdown(s->cq);
	grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(s->cq);
	free(s);
}
