# cri/network: CNI invocation from the runtime side (conflist loading,
# plugin exec, libcni result cache). No gRPC dependency.
$(eval $(call static_lib,cri_network,cri/network/cni.c))
LIBS_CRI_NETWORK := -ljansson
$(eval $(call unit_test,test_cri_cni,tests/unit/test_cri_cni.c,cri_network ndl,-ljansson))
# A cnitool-compatible driver of the library, used by the integration tests
# and handy for debugging a conflist on a node.
$(eval $(call program,nodelet-cnitool,cri/network/cnitool.c,cri_network ndl,-ljansson))
$(eval $(call fuzz_target,fuzz_cri_conflist,tests/fuzz/fuzz_cri_conflist.c cri/network/cni.c lib/error.c lib/xalloc.c lib/json.c lib/fs.c lib/log.c,-ljansson))
