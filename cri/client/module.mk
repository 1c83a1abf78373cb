# cri/client: C client of a CRI v1 endpoint (gRPC core), used by the kubelet
# and by nodelet-crictl, a tiny CLI for tests and debugging.
CRI_CLIENT_SRCS := cri/client/client.c cri/client/json.c
$(eval $(call static_lib,cri_client,$(CRI_CLIENT_SRCS)))
$(call obj,$(CRI_CLIENT_SRCS) cri/client/crictl.c): | $(CRI_API_GEN_H)
# Link line for users of the client (dependents first).
CRI_CLIENT_STATIC := cri_client cri_api ndl
CRI_CLIENT_LDLIBS := $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null) -ljansson -lpthread
APT_PKGS += libgrpc-dev libprotobuf-c-dev
$(eval $(call program,nodelet-crictl,cri/client/crictl.c,$(CRI_CLIENT_STATIC),$(CRI_CLIENT_LDLIBS)))
INSTALL_BINS += nodelet-crictl
# Server framework + client together (the client is the framework's test peer).
$(eval $(call unit_test,test_cri_rpc,tests/unit/test_cri_rpc.c,cri_client cri_server cri_network cri_api ndl_yaml ndl,$(CRI_CLIENT_LDLIBS) -lyaml))
$(call obj,tests/unit/test_cri_rpc.c): | $(CRI_API_GEN_H)
# -Ulinux: the generated code is compiled here too (CRI fields named linux).
$(eval $(call fuzz_target,fuzz_cri_message,tests/fuzz/fuzz_cri_message.c cri/client/json.c $(CRI_API_GEN_C) lib/error.c lib/xalloc.c lib/json.c lib/fs.c,-Ulinux -lprotobuf-c -ljansson))
