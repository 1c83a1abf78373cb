/* C client of a CRI v1 endpoint (nodelet-cri, containerd, CRI-O) over gRPC
 * core: connect to a unix socket, unary calls with a deadline and the gRPC
 * status, typed wrappers for every unary CRI method, and generic JSON
 * conversion of CRI messages (proto field names, as protobuf's JSON mapping
 * with preserved names writes them). Thread-safe: one client may serve
 * concurrent calls. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "cri/api/api.h"
#include "lib/error.h"

struct cri_client;

/* endpoint: "unix:///path", "unix:/path" or "/path". Connecting is lazy, as
 * in gRPC: a dead endpoint shows up as UNAVAILABLE on the first call. */
int cri_client_connect(const char *endpoint, struct cri_client **ret, ndl_error_t *err);
void cri_client_close(struct cri_client *c);

/* The outcome of a call beyond the errno-style err: the gRPC status code
 * (0 = OK) and its message. */
struct cri_call_status {
	int code;
	char message[512];
};

/* gRPC status code name ("UNIMPLEMENTED"). */
const char *cri_status_name(int code);

/* One unary call. path: "/runtime.v1.RuntimeService/Version". On a non-OK
 * status, err reads "<Method>: rpc error: code = Unimplemented desc = ..."
 * and its code maps the status to errno (NOT_FOUND->ENOENT,
 * ALREADY_EXISTS->EEXIST, INVALID_ARGUMENT->EINVAL, UNIMPLEMENTED->ENOSYS,
 * DEADLINE_EXCEEDED->ETIMEDOUT, UNAVAILABLE->ECONNREFUSED, other->EIO).
 * timeout_ms <= 0 means 2 minutes. *ret_resp is freed with
 * protobuf_c_message_free_unpacked(resp, NULL). st may be NULL. */
int cri_client_call(struct cri_client *c, const char *path, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
		    ProtobufCMessage **ret_resp, struct cri_call_status *st, ndl_error_t *err);

/* Call by method name ("Version", "PullImage"): finds the service and the
 * response type from the generated descriptors. */
int cri_client_call_by_name(struct cri_client *c, const char *method, const ProtobufCMessage *req,
			    int timeout_ms, ProtobufCMessage **ret_resp, struct cri_call_status *st,
			    ndl_error_t *err);

/* Descriptors of a method by name, or -ENOENT. */
int cri_method_lookup(const char *method, const char **ret_service,
		      const ProtobufCMessageDescriptor **ret_req,
		      const ProtobufCMessageDescriptor **ret_resp, int *ret_streaming);

/* GetContainerEvents, the server stream (the kubelet's evented PLEG). */
struct cri_event_stream;
int cri_client_events_open(struct cri_client *c, struct cri_event_stream **ret, ndl_error_t *err);
/* Wait up to timeout_ms (<0: forever) for the next event. 0 with *ret set
 * (free with runtime__v1__container_event_response__free_unpacked);
 * -ETIMEDOUT when none arrived (the stream stays usable); another negative
 * value when the stream ended, with the gRPC status in err. */
int cri_client_events_next(struct cri_event_stream *s, int timeout_ms,
			   Runtime__V1__ContainerEventResponse **ret, ndl_error_t *err);
/* Cancel and release. Accepts NULL. */
void cri_client_events_close(struct cri_event_stream *s);

/* Typed wrappers, one per unary method:
 *   int cri_client_version(c, const Runtime__V1__VersionRequest *req,
 *                          Runtime__V1__VersionResponse **ret, int timeout_ms,
 *                          ndl_error_t *err);
 * (and cri_client_run_pod_sandbox, _status, _list_containers, _pull_image,
 * ... as listed in cri/client/methods.h). */
#define CRI_CLIENT_DECL(svc, Method, lname, Req, Resp)                                             \
	int cri_client_##lname(struct cri_client *c, const Runtime__V1__##Req *req,                \
			       Runtime__V1__##Resp **ret, int timeout_ms, ndl_error_t *err);
#include "cri/client/methods.h"
CRI_UNARY_METHODS(CRI_CLIENT_DECL)
#undef CRI_CLIENT_DECL

/* JSON <-> message with proto field names: enums by name, 64-bit integers
 * and bytes (base64) as strings, maps as objects, default values omitted —
 * the same shape as protobuf's MessageToDict(preserving_proto_field_name). */
json_t *cri_msg_to_json(const ProtobufCMessage *msg);
/* Accepts what cri_msg_to_json writes, plus numbers for enums and 64-bit
 * ints. Unknown fields and wrong types are errors naming the field path. */
int cri_msg_from_json(const ProtobufCMessageDescriptor *desc, const json_t *j,
		      ProtobufCMessage **ret, ndl_error_t *err);

/* Fields in a received message tree that our proto does not define (a
 * wire-compatibility gap with the peer); the path of the first, e.g.
 * "status.linux#7", is written to where. */
size_t cri_msg_unknown_fields(const ProtobufCMessage *msg, char *where, size_t wsize);
