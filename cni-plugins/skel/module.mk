# cni-plugins/skel: the CNI protocol library every plugin links (no libnl).
$(eval $(call static_lib,cni_skel,cni-plugins/skel/skel.c cni-plugins/skel/conf.c cni-plugins/skel/result.c cni-plugins/skel/ip.c))
APT_PKGS += libjansson-dev
$(eval $(call unit_test,test_cni_skel,tests/unit/test_cni_skel.c,cni_skel ndl,-ljansson))
CNI_FUZZ_LIB_SRCS := cni-plugins/skel/skel.c cni-plugins/skel/conf.c cni-plugins/skel/result.c cni-plugins/skel/ip.c lib/error.c lib/xalloc.c lib/json.c lib/fs.c lib/log.c
$(eval $(call fuzz_target,fuzz_cni_result,tests/fuzz/fuzz_cni_result.c $(CNI_FUZZ_LIB_SRCS),-ljansson))
$(eval $(call fuzz_target,fuzz_cni_conf,tests/fuzz/fuzz_cni_conf.c cni-plugins/host-local/config.c cni-plugins/host-local/range.c $(CNI_FUZZ_LIB_SRCS),-ljansson))
