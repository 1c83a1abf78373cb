# cri/shim/: nodelet-shim, the per-container monitor. Linked statically
# (outside sanitizer builds) and free of the runtime library, so each running
# container costs well under 1 MB of RSS.
$(eval $(call static_lib,cri_shim,cri/shim/logwriter.c cri/shim/shim.c))
SHIM_STATIC_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-static)
$(eval $(call program,nodelet-shim,cri/shim/main.c,cri_shim ndl,$(SHIM_STATIC_LDFLAGS) -ljansson))
INSTALL_BINS += nodelet-shim
$(eval $(call unit_test,test_shim_log,tests/unit/test_shim_log.c,cri_shim ndl,-ljansson))
