# kubelet/: the nodelet binary (kubelet): configuration, pod model, QoS,
# static pod events, healthz and read-only /pods.
KUBELET_SRCS := kubelet/config.c kubelet/flags.c kubelet/pod.c kubelet/pod_defaults.c \
	kubelet/pod_validate.c kubelet/qos.c kubelet/env.c kubelet/http.c
$(eval $(call static_lib,kubelet,$(KUBELET_SRCS)))
KUBELET_LIBS := kubelet_lifecycle staticpods kubelet cri_client cri_api ndl_quantity ndl_yaml ndl
KUBELET_LDLIBS := -lmicrohttpd -lcrypto -lyaml -ljansson -lpthread -lm -lcurl \
	$(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null)
$(eval $(call program,nodelet,kubelet/main.c,$(KUBELET_LIBS),$(KUBELET_LDLIBS)))
INSTALL_BINS += nodelet
APT_PKGS += libmicrohttpd-dev libssl-dev libyaml-dev libjansson-dev
# Field paths in messages are built in bounded buffers; a (theoretical)
# truncated path is acceptable, so gcc's truncation warning is off here.
CFLAGS_kubelet_ := -Wno-format-truncation

# Unit tests and fuzz targets.
$(eval $(call unit_test,test_kubelet_quantity,tests/unit/test_kubelet_quantity.c,ndl_quantity ndl,-ljansson))
KUBELET_TEST_LIBS := staticpods kubelet ndl_quantity ndl_yaml ndl
KUBELET_TEST_LDLIBS := -lmicrohttpd -lcrypto -lyaml -ljansson -lpthread -lm
$(eval $(call unit_test,test_kubelet_config,tests/unit/test_kubelet_config.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call unit_test,test_kubelet_pod,tests/unit/test_kubelet_pod.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call unit_test,test_kubelet_qos,tests/unit/test_kubelet_qos.c,$(KUBELET_TEST_LIBS),$(KUBELET_TEST_LDLIBS)))
$(eval $(call fuzz_target,fuzz_kubeletconfig,tests/fuzz/fuzz_kubeletconfig.c kubelet/config.c kubelet/flags.c lib/quantity.c lib/duration.c lib/yaml2json.c lib/json.c lib/fs.c lib/log.c lib/error.c lib/xalloc.c,-lyaml -ljansson -lm))
