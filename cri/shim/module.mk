# cri/shim/: nodelet-shim, the per-container monitor (CRI log writer first).
$(eval $(call static_lib,cri_shim,cri/shim/logwriter.c))
$(eval $(call unit_test,test_shim_log,tests/unit/test_shim_log.c,cri_shim ndl,-ljansson))
