# cni-plugins/skel: the CNI protocol library every plugin links (no libnl).
$(eval $(call static_lib,cni_skel,cni-plugins/skel/skel.c cni-plugins/skel/conf.c cni-plugins/skel/result.c cni-plugins/skel/ip.c))
APT_PKGS += libjansson-dev
$(eval $(call unit_test,test_cni_skel,tests/unit/test_cni_skel.c,cni_skel ndl,-ljansson))
