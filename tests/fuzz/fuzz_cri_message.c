/* libFuzzer: CRI messages as the server and the client receive them
 * (protobuf-c unpack of the largest request and response types, then the
 * JSON mapping), and JSON requests as nodelet-crictl reads them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cri/client/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *descs[] = {
	    &runtime__v1__run_pod_sandbox_request__descriptor,
	    &runtime__v1__create_container_request__descriptor,
	    &runtime__v1__pod_sandbox_status_response__descriptor,
	    &runtime__v1__container_status_response__descriptor,
	    &runtime__v1__list_images_response__descriptor,
	};
	for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
		ProtobufCMessage *m = protobuf_c_message_unpack(descs[i], NULL, size, data);
		if (!m)
			continue;
		char where[256];
		(void)cri_msg_unknown_fields(m, where, sizeof(where));
		json_t *j = cri_msg_to_json(m);
		/* Round trip: what we print must parse back. */
		ProtobufCMessage *back = NULL;
		ndl_error_t err = NDL_ERROR_INIT;
		if (cri_msg_from_json(descs[i], j, &back, &err) == 0)
			protobuf_c_message_free_unpacked(back, NULL);
		else
			__builtin_trap();
		ndl_error_clear(&err);
		json_decref(j);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (j) {
		ProtobufCMessage *m = NULL;
		ndl_error_t err = NDL_ERROR_INIT;
		if (cri_msg_from_json(&runtime__v1__run_pod_sandbox_request__descriptor, j, &m,
				      &err) == 0) {
			size_t n = protobuf_c_message_get_packed_size(m);
			uint8_t *buf = malloc(n + 1);
			protobuf_c_message_pack(m, buf);
			free(buf);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		ndl_error_clear(&err);
		json_decref(j);
	}
	return 0;
}
