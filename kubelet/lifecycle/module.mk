# kubelet/lifecycle: pod workers over CRI (sandbox/container configs, image
# pulls, computePodActions, restarts with back-off, termination, volumes,
# status for /pods, adoption after a restart).
KL_LIFECYCLE_SRCS := kubelet/lifecycle/runtime.c kubelet/lifecycle/sync.c \
	kubelet/lifecycle/status.c kubelet/lifecycle/volumes.c kubelet/lifecycle/prober.c \
	kubelet/lifecycle/grpcprobe.c kubelet/lifecycle/hooks.c kubelet/lifecycle/runtime_state.c kubelet/lifecycle/logs.c \
	kubelet/lifecycle/lifecycle.c
$(eval $(call static_lib,kubelet_lifecycle,$(KL_LIFECYCLE_SRCS)))
$(call obj,$(KL_LIFECYCLE_SRCS) tests/unit/test_kubelet_lifecycle.c): | $(CRI_API_GEN_H)
CFLAGS_kubelet_lifecycle_ := -Wno-format-truncation
# (This fragment is read before kubelet/module.mk: a library added to
# KUBELET_LIBS there must be listed here too.)
KL_LIFECYCLE_TEST_LIBS := kubelet_lifecycle staticpods kubelet cri_client cri_api cgroups ndl_quantity ndl_yaml ndl_md5 ndl
$(eval $(call unit_test,test_kubelet_lifecycle,tests/unit/test_kubelet_lifecycle.c,$(KL_LIFECYCLE_TEST_LIBS),$(CRI_CLIENT_LDLIBS) -lcurl -lmicrohttpd -lcrypto -lyaml -ljansson -lz -lpthread -lm))
APT_PKGS += libcurl4-openssl-dev
# Pod and QoS cgroups go through cgroups/ (libcgroups). kubelet/module.mk
# links nodelet without it, and its link line is fixed when that fragment
# is read, so the archive is pulled in here as a whole ahead of the libs it
# needs (ndl, jansson), which follow on that line.
$(BUILD)/bin/nodelet: $(BUILD)/lib/libcgroups.a
$(BUILD)/bin/nodelet: BASE_LDFLAGS += -Wl,--whole-archive $(BUILD)/lib/libcgroups.a -Wl,--no-whole-archive
$(eval $(call unit_test,test_kubelet_logs,tests/unit/test_kubelet_logs.c,$(KL_LIFECYCLE_TEST_LIBS),$(CRI_CLIENT_LDLIBS) -lcurl -lcrypto -lyaml -ljansson -lz -lpthread -lm))
