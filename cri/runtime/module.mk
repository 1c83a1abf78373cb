# cri/runtime: the OCI runtime library (used by nodelet-shim) and the
# runc-compatible `nodelet-runtime` CLI.
# Link as: cri_runtime cgroups ndl, with $(LIBS_CRI_RUNTIME).
RT_SRCS := cri/runtime/spec.c cri/runtime/tables.c cri/runtime/rootfs.c cri/runtime/process.c \
	cri/runtime/seccomp.c cri/runtime/state.c cri/runtime/hooks.c cri/runtime/container.c \
	cri/runtime/defaults.c
$(eval $(call static_lib,cri_runtime,$(RT_SRCS)))
LIBS_CRI_RUNTIME := -lseccomp -lcap -ljansson
# Flag tables use positional initialisers with trailing fields left zero.
CFLAGS_cri_runtime_ := -Wno-missing-field-initializers
# Static outside sanitizer builds: every runtime command is a fresh
# process, and skipping the dynamic loader saves time and resident memory.
ifeq ($(SANITIZE),1)
RT_STATIC :=
else
RT_STATIC := -static
endif
$(eval $(call program,nodelet-runtime,cri/runtime/main.c,cri_runtime cgroups ndl,$(RT_STATIC) $(LIBS_CRI_RUNTIME)))
INSTALL_BINS += nodelet-runtime
APT_PKGS += libseccomp-dev libcap-dev libjansson-dev busybox-static runc podman skopeo umoci
$(eval $(call unit_test,test_runtime,tests/unit/test_runtime.c,cri_runtime cgroups ndl,$(LIBS_CRI_RUNTIME)))
$(eval $(call fuzz_target,fuzz_oci_config,tests/fuzz/fuzz_oci_config.c cri/runtime/spec.c cri/runtime/tables.c lib/json.c lib/error.c lib/xalloc.c lib/fs.c,-ljansson))
VM_TESTS += tests/integration/test_runtime_v2.py
