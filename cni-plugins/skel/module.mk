# cni-plugins/skel: the CNI protocol library every plugin links (no libnl).
CNI_SKEL_SRCS := cni-plugins/skel/skel.c cni-plugins/skel/conf.c cni-plugins/skel/result.c cni-plugins/skel/ip.c
$(eval $(call static_lib,cni_skel,$(CNI_SKEL_SRCS)))
# What every musl-linked plugin (bridge, host-local) compiles in: host-local's
# allocator (bridge runs it in-process), the skel, the lib/ helpers, our
# malloc and the glibc symbols libjansson.a needs (mk/rules.mk musl_program).
CNI_MUSL_COMMON_SRCS = $(HOSTLOCAL_SRCS) $(CNI_SKEL_SRCS) lib/error.c lib/xalloc.c lib/log.c lib/json.c lib/fs.c \
	cni-plugins/skel/arena_malloc.c cni-plugins/skel/glibc_compat.c
CNI_MUSL_LDLIBS = $(shell $(CC) -print-file-name=libjansson.a)
APT_PKGS += libjansson-dev
$(eval $(call unit_test,test_cni_skel,tests/unit/test_cni_skel.c,cni_skel ndl,-ljansson))
CNI_FUZZ_LIB_SRCS := cni-plugins/skel/skel.c cni-plugins/skel/conf.c cni-plugins/skel/result.c cni-plugins/skel/ip.c lib/error.c lib/xalloc.c lib/json.c lib/fs.c lib/log.c
$(eval $(call fuzz_target,fuzz_cni_result,tests/fuzz/fuzz_cni_result.c $(CNI_FUZZ_LIB_SRCS),-ljansson))
$(eval $(call fuzz_target,fuzz_cni_conf,tests/fuzz/fuzz_cni_conf.c cni-plugins/host-local/config.c cni-plugins/host-local/range.c $(CNI_FUZZ_LIB_SRCS),-ljansson))
# The musl plugins' malloc, tested in a glibc program it takes over (not
# under the sanitizers, which bring their own malloc).
ifneq ($(SANITIZE),1)
$(eval $(call unit_test,test_arena_malloc,tests/unit/test_arena_malloc.c cni-plugins/skel/arena_malloc.c,,))
endif
