# cni-plugins/host-local: the host-local IPAM plugin (jansson only).
# Outside sanitizer builds: static against musl, as bridge (see
# cni-plugins/bridge/module.mk).
HOSTLOCAL_SRCS := cni-plugins/host-local/config.c cni-plugins/host-local/range.c cni-plugins/host-local/allocator.c cni-plugins/host-local/store.c cni-plugins/host-local/commands.c cni-plugins/host-local/note.c
$(eval $(call static_lib,cni_hostlocal,$(HOSTLOCAL_SRCS)))
ifeq ($(SANITIZE),1)
$(eval $(call program,host-local,cni-plugins/host-local/main.c,cni_hostlocal cni_skel ndl,-ljansson))
else
MUSL_PROGRAMS += host-local
MUSL_SRCS_host-local = cni-plugins/host-local/main.c $(CNI_MUSL_COMMON_SRCS)
MUSL_LDLIBS_host-local = $(CNI_MUSL_LDLIBS)
endif
CNI_PLUGINS += host-local
$(eval $(call unit_test,test_cni_hostlocal,tests/unit/test_cni_hostlocal.c,cni_hostlocal cni_skel ndl,-ljansson))
