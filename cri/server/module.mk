# cri/server: gRPC core server framework (rpc.c), the CRI method table and
# handlers (service.c), the daemon (daemon.c) and the sandbox/container state
# store (store.c).
CRI_SERVER_SRCS := cri/server/rpc.c cri/server/service.c cri/server/daemon.c cri/server/store.c
$(eval $(call static_lib,cri_server,$(CRI_SERVER_SRCS)))
# Everything that includes cri/api/api.h needs the generated header first.
$(call obj,$(CRI_SERVER_SRCS)): | $(CRI_API_GEN_H)
CFLAGS_cri_server_ += -DNODELET_CRI_VERSION='"0.1.0+$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)"'
LIBS_GRPC := $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null)
# Link line for anything embedding the server (dependents first).
CRI_SERVER_STATIC := cri_server cri_network cri_api ndl_yaml ndl
CRI_SERVER_LDLIBS := $(LIBS_GRPC) -lyaml -ljansson -lpthread
APT_PKGS += libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
# The daemon is `nodelet-cri` with no subcommand: cri/main.c calls
# cri_daemon_main() (cri/server/daemon.h) and links the libs above.
$(eval $(call unit_test,test_cri_store,tests/unit/test_cri_store.c,$(CRI_SERVER_STATIC),$(CRI_SERVER_LDLIBS)))
$(call obj,tests/unit/test_cri_store.c): | $(CRI_API_GEN_H)
$(eval $(call fuzz_target,fuzz_cri_store,tests/fuzz/fuzz_cri_store.c cri/server/store.c lib/error.c lib/xalloc.c lib/json.c lib/fs.c lib/log.c,-ljansson -lpthread))
