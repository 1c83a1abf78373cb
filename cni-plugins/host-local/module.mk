# cni-plugins/host-local: the host-local IPAM plugin (jansson only).
$(eval $(call static_lib,cni_hostlocal,cni-plugins/host-local/config.c cni-plugins/host-local/range.c cni-plugins/host-local/allocator.c cni-plugins/host-local/store.c cni-plugins/host-local/commands.c cni-plugins/host-local/note.c))
$(eval $(call program,host-local,cni-plugins/host-local/main.c,cni_hostlocal cni_skel ndl,$(if $(filter 1,$(SANITIZE)),,-static -Wl,-z,noseparate-code) -ljansson))
CNI_PLUGINS += host-local
$(eval $(call unit_test,test_cni_hostlocal,tests/unit/test_cni_hostlocal.c,cni_hostlocal cni_skel ndl,-ljansson))
