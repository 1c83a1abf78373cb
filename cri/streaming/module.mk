# cri/streaming/: the CRI streaming server (exec, attach, port-forward URLs
# served over HTTP/1.1 + SPDY/3.1) and its CRI handlers (cri/server/stream.c).
CRI_STREAMING_SRCS := cri/streaming/server.c cri/streaming/spdy.c cri/streaming/spdy_dict.c \
	cri/streaming/http.c cri/streaming/websocket.c
$(eval $(call static_lib,cri_streaming,$(CRI_STREAMING_SRCS)))
# nodelet-cri links libcri_server.a, whose archive rule takes every
# prerequisite ($^): adding ours puts the streaming server and the
# Exec/Attach/PortForward handlers into it without touching the link lines of
# cri/module.mk and cri/server/module.mk. zlib (SPDY header compression) and
# libcrypto (the WebSocket accept key's SHA-1) are shared libraries, so they
# resolve from the front of the link line too.
$(BUILD)/lib/libcri_server.a: $(call obj,cri/server/stream.c $(CRI_STREAMING_SRCS))
$(call obj,cri/server/stream.c): | $(CRI_API_GEN_H)
$(BUILD)/bin/nodelet-cri $(BUILD)/tests/test_cri_store $(BUILD)/tests/test_cri_rpc: BASE_LDFLAGS += -lz -lcrypto
APT_PKGS += zlib1g-dev libssl-dev
$(eval $(call unit_test,test_cri_streaming,tests/unit/test_cri_streaming.c,cri_streaming ndl,-lz -lcrypto -ljansson -lpthread))
$(eval $(call fuzz_target,fuzz_cri_spdy,tests/fuzz/fuzz_cri_spdy.c cri/streaming/spdy.c cri/streaming/spdy_dict.c cri/streaming/http.c cri/streaming/websocket.c lib/error.c lib/xalloc.c,-lz -lcrypto))
