/* gRPC probes (pkg/probe/grpc): grpc.health.v1.Health/Check against the
 * pod IP over plain HTTP/2 with gRPC core, the request and the response
 * encoded by hand (one string field, one enum field), with the kubelet's
 * messages for each way a probe can fail. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char *const serving_names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
					    "SERVICE_UNKNOWN"};

static const char *const code_names[] = {
    "OK",	       "Canceled",	     "Unknown",		"InvalidArgument",
    "DeadlineExceeded", "NotFound",		     "AlreadyExists",	"PermissionDenied",
    "ResourceExhausted", "FailedPrecondition", "Aborted",		"OutOfRange",
    "Unimplemented",   "Internal",	     "Unavailable",	"DataLoss",
    "Unauthenticated"};

/* Go's time.Duration String() for whole seconds ("1s", "1m30s", "1h0m0s"). */
static void go_seconds(int64_t s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, size, "%lldh%lldm%llds", (long long)(s / 3600),
			 (long long)(s % 3600 / 60), (long long)(s % 60));
}

/* HealthCheckRequest{service = 1}: the field is omitted when empty, as
 * proto3 encoders do. */
static size_t encode_request(const char *service, uint8_t *buf, size_t size)
{
	size_t n = strlen(service), o = 0;
	if (!n)
		return 0;
	if (n + 12 > size)
		n = size - 12;
	buf[o++] = 0x0a; /* field 1, length-delimited */
	for (size_t v = n; ; v >>= 7) {
		buf[o++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	memcpy(buf + o, service, n);
	return o + n;
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -1;
}

/* HealthCheckResponse{status = 1 (enum)}; unknown fields are skipped.
 * -1 when malformed. */
static int decode_status(const uint8_t *p, size_t len, uint64_t *ret)
{
	const uint8_t *end = p + len;
	uint64_t status = 0, key, v;
	while (p < end) {
		if (read_varint(&p, end, &key) < 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (read_varint(&p, end, &v) < 0)
				return -1;
			if (key >> 3 == 1)
				status = v;
			break;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case 2:
			if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
				return -1;
			p += v;
			break;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		default:
			return -1;
		}
	}
	*ret = status;
	return 0;
}

/* Wait for the channel to connect (the kubelet dials with WithBlock: a
 * refused connection is retried until the deadline). */
static bool wait_ready(grpc_channel *ch, grpc_completion_queue *cq, gpr_timespec deadline)
{
	for (;;) {
		grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch, 1);
		if (st == GRPC_CHANNEL_READY)
			return true;
		if (st == GRPC_CHANNEL_SHUTDOWN)
			return false;
		static const char TAG;
		grpc_channel_watch_connectivity_state(ch, st, deadline, cq, (void *)&TAG);
		grpc_event ev = grpc_completion_queue_pluck(cq, (void *)&TAG,
							    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!ev.success)
			return false; /* the deadline passed without a change */
	}
}

int kl_probe_grpc(const char *host, int port, const char *service, int timeout_s, char *msg,
		  size_t msz)
{
	if (!service)
		service = "";
	char tmo[32];
	go_seconds(timeout_s, tmo, sizeof(tmo));
	bool v6 = strchr(host, ':') != NULL;
	cleanup_free char *addr = xasprintf("%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
	cleanup_free char *target = xasprintf("dns:///%s", addr);
	if (!v6 && host[0] >= '0' && host[0] <= '9') {
		free(target);
		target = xasprintf("ipv4:%s", addr);
	} else if (v6) {
		free(target);
		target = xasprintf("ipv6:%s", addr);
	}
	grpc_init();
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis((int64_t)timeout_s * 1000, GPR_TIMESPAN));
	/* A channel of its own per probe (the kubelet dials every time), no
	 * retries or proxies in between. */
	grpc_arg args[2];
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[0].value.integer = 0;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_ENABLE_HTTP_PROXY;
	args[1].value.integer = 0;
	grpc_channel_args chargs = {.num_args = 2, .args = args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	int ok = 0;
	if (!ch) {
		snprintf(msg, msz, "error: failed to connect service at \"%s\": cannot create channel",
			 addr);
		goto out;
	}
	if (!wait_ready(ch, cq, deadline)) {
		snprintf(msg, msz, "timeout: failed to connect service \"%s\" within %s", addr, tmo);
		goto out;
	}

	uint8_t rb[1024];
	size_t rlen = encode_request(service, rb, sizeof(rb));
	grpc_slice req_slice = grpc_slice_from_copied_buffer((const char *)rb, rlen);
	grpc_byte_buffer *req_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
	grpc_slice_unref(req_slice);
	grpc_slice method = grpc_slice_from_static_string("/grpc.health.v1.Health/Check");
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
						   NULL, deadline, NULL);
	grpc_slice_unref(method);
	grpc_metadata_array imd, tmd;
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
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
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
	static const char TAG;
	if (grpc_call_start_batch(call, ops, 6, (void *)&TAG, NULL) != GRPC_CALL_OK) {
		snprintf(msg, msz, "error: health rpc probe failed: cannot start the call");
	} else {
		grpc_completion_queue_pluck(cq, (void *)&TAG, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		char *dmsg = grpc_slice_to_c_string(details);
		const char *cname = (unsigned)status < sizeof(code_names) / sizeof(code_names[0]) ?
					    code_names[status] :
					    "Unknown";
		uint64_t serving = 0;
		if (status == GRPC_STATUS_UNIMPLEMENTED) {
			snprintf(msg, msz,
				 "error: this server does not implement the grpc health protocol "
				 "(grpc.health.v1.Health): %s",
				 dmsg);
		} else if (status == GRPC_STATUS_DEADLINE_EXCEEDED) {
			snprintf(msg, msz, "timeout: health rpc did not complete within %s", tmo);
		} else if (status != GRPC_STATUS_OK) {
			snprintf(msg, msz, "error: health rpc probe failed: rpc error: code = %s desc = %s",
				 cname, dmsg);
		} else if (!resp_bb) {
			snprintf(msg, msz, "error: health rpc probe failed: no response");
		} else {
			grpc_byte_buffer_reader rd;
			grpc_byte_buffer_reader_init(&rd, resp_bb);
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			int dr = decode_status(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all),
					       &serving);
			grpc_slice_unref(all);
			if (dr < 0) {
				snprintf(msg, msz,
					 "error: health rpc probe failed: malformed HealthCheckResponse");
			} else if (serving != 1) {
				char num[24];
				snprintf(num, sizeof(num), "%llu", (unsigned long long)serving);
				snprintf(msg, msz, "service unhealthy (responded with \"%s\")",
					 serving < 4 ? serving_names[serving] : num);
			} else {
				snprintf(msg, msz, "service healthy");
				ok = 1;
			}
		}
		gpr_free(dmsg);
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	if (resp_bb)
		grpc_byte_buffer_destroy(resp_bb);
	grpc_byte_buffer_destroy(req_bb);
	grpc_call_unref(call);
out:
	if (ch)
		grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	return ok;
}
