# kubelet/: the nodelet binary (kubelet): configuration, pod model, QoS,
# static pod events, healthz and read-only /pods.
KUBELET_SRCS := kubelet/config.c kubelet/flags.c kubelet/pod.c kubelet/pod_defaults.c \
	kubelet/pod_validate.c kubelet/qos.c kubelet/env.c kubelet/http.c
$(eval $(call static_lib,kubelet,$(KUBELET_SRCS)))
# kubelet/http.c parses request heads with the streaming server's parser
# (cri/streaming/http.h). The archive rule takes every prerequisite ($^), so
# that one object joins libkubelet.a: every program and test linking
# libkubelet.a gets it without linking the rest of the streaming server
# (SPDY, zlib, WebSocket, libcrypto). It joins under its own member name:
# ar keys members by file name, and kubelet/http.o is already "http.o".
$(BUILD)/obj/kubelet/cri_streaming_http.o: $(call obj,cri/streaming/http.c)
	@mkdir -p $(dir $@)
	cp $< $@
$(BUILD)/lib/libkubelet.a: $(BUILD)/obj/kubelet/cri_streaming_http.o
# ndl_md5: for the static pod UID hash once static-pods/manifest.c uses
# lib/md5.h instead of OpenSSL's EVP_md5 (an archive nobody references adds
# nothing). libcrypto is linked --as-needed so that it then leaves nodelet:
# EVP_md5 alone keeps 1.5 MB of libcrypto pages resident at start and 3.3 MB
# once manifests were hashed (measured in a scratch build with that switch:
# 9.4 vs 10.6 MiB fresh, 20.8 vs 24.1 MiB at 100 pods, bench/kubelet).
KUBELET_LIBS := kubelet_lifecycle staticpods kubelet cri_client cri_api ndl_quantity ndl_yaml ndl_md5 ndl
# Memory (issue 6): nodelet's RSS at a fresh start was ~17 of ~20 MB
# shared-library pages the dynamic loader touched. So, as nodelet-cri
# (cri/module.mk), outside sanitizer builds:
# - gRPC core is linked statically from libgrpc_unsecure.a (the CRI client
#   and grpc probes speak plaintext), with --gc-sections keeping only what we
#   call: no dynamic libgrpc/libssl relocations at start; so are its
#   dependencies (abseil, upb, re2, c-ares, protobuf-c, libstdc++) and
#   jansson/libyaml: ~30 shared libraries each mapped whole with their own
#   relocated data cost 2.4 MB of RSS at start (9.5 -> 7.1 MB measured);
# - libcurl (httpGet probes and hooks) is loaded on first use (lib/lazycurl.h),
#   not at start: with it go GnuTLS, libssl, Kerberos, LDAP, SASL, libssh2...;
# - the HTTP endpoints are our own (kubelet/http.c), not libmicrohttpd, which
#   brought GnuTLS again.
# Sanitizer builds keep the plain dynamic link (ASan and static C++ gRPC
# do not mix well, and the lazy loader's dlopen hides curl from LSan).
ifeq ($(SANITIZE),1)
KUBELET_LAZY :=
KUBELET_LDLIBS := -lcrypto -lyaml -ljansson -lpthread -lm -lcurl \
	$(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null)
else
KUBELET_LAZY := ndl_lazycurl ndl
KUBELET_GRPC := -Wl,-Bstatic -lgrpc_unsecure -lupb -lre2 -lcares -laddress_sorting \
	$(filter-out -lgrpc_unsecure -latomic -lrt,$(shell $(PKG_CONFIG) --static --libs grpc_unsecure libprotobuf-c 2>/dev/null)) \
	-lyaml -ljansson -lstdc++ -Wl,-Bdynamic -lz -lrt
KUBELET_LDLIBS := -Wl,--gc-sections -ldl -Wl,--as-needed -lcrypto -Wl,--no-as-needed -lpthread $(KUBELET_GRPC) -lm
endif
$(eval $(call program,nodelet,kubelet/main.c,$(KUBELET_LIBS) $(KUBELET_LAZY),$(KUBELET_LDLIBS)))
INSTALL_BINS += nodelet
# libmicrohttpd-dev stays: mk/rules.mk asks pkg-config for libmicrohttpd's
# flags with every other package's, and kubelet/lifecycle's unit test links it.
APT_PKGS += libmicrohttpd-dev libssl-dev libyaml-dev libjansson-dev libgrpc-dev libprotobuf-c-dev
# Field paths in messages are built in bounded buffers; a (theoretical)
# truncated path is acceptable, so gcc's truncation warning is off here.
CFLAGS_kubelet_ := -Wno-format-truncation

# Unit tests and fuzz targets.
$(eval $(call unit_test,test_kubelet_quantity,tests/unit/test_kubelet_quantity.c,ndl_quantity ndl,-ljansson))
KUBELET_TEST_LIBS := staticpods kubelet ndl_quantity ndl_yaml ndl_md5 ndl
KUBELET_TEST_LDLIBS := -lyaml -ljansson -lpthread -lm
$(eval $(call unit_test,test_kubelet_config,tests/unit/test_kubelet_config.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call unit_test,test_kubelet_pod,tests/unit/test_kubelet_pod.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call unit_test,test_kubelet_qos,tests/unit/test_kubelet_qos.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call fuzz_target,fuzz_kubeletconfig,tests/fuzz/fuzz_kubeletconfig.c kubelet/config.c kubelet/flags.c lib/quantity.c lib/duration.c lib/yaml2json.c lib/json.c lib/fs.c lib/log.c lib/error.c lib/xalloc.c,-lyaml -ljansson -lm))
$(eval $(call unit_test,test_kubelet_http,tests/unit/test_kubelet_http.c,kubelet ndl,-ljansson -lpthread))
$(eval $(call fuzz_target,fuzz_kubelet_http,tests/fuzz/fuzz_kubelet_http.c kubelet/http.c cri/streaming/http.c lib/error.c lib/xalloc.c lib/log.c,-lpthread))
