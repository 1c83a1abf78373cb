# cni-plugins/bridge: the bridge CNI plugin (drop-in for the reference one).
# Outside sanitizer builds it is linked statically against musl with our
# host-local compiled in (musl_program in mk/rules.mk: each ADD/DEL is a
# fresh process, and glibc's static start-up costs ~0.25 ms of cpuid traps
# on a VM; musl's malloc is replaced by cni-plugins/skel/arena_malloc.c,
# which does not return memory to the kernel during the short run). ASan
# cannot link statically, so SANITIZE=1 stays a dynamic glibc program.
BRIDGE_SRCS := cni-plugins/bridge/config.c cni-plugins/bridge/bridge.c cni-plugins/bridge/ipmasq.c cni-plugins/bridge/nftmasq.c cni-plugins/bridge/spoofcheck.c cni-plugins/bridge/exec.c cni-plugins/bridge/ipam.c
$(eval $(call static_lib,cni_bridge,$(BRIDGE_SRCS)))
ifeq ($(SANITIZE),1)
$(eval $(call program,bridge,cni-plugins/bridge/main.c,cni_bridge cni_hostlocal cni_skel cni_netlink ndl,-ljansson))
else
MUSL_PROGRAMS += bridge
MUSL_SRCS_bridge = cni-plugins/bridge/main.c $(BRIDGE_SRCS) $(CNI_MUSL_COMMON_SRCS) cni-plugins/netlink/netlink.c
MUSL_LDLIBS_bridge = $(CNI_MUSL_LDLIBS)
endif
CNI_PLUGINS += bridge
APT_PKGS += libjansson-dev iptables nftables iproute2 musl-tools
# objcopy: the in-process host-local tests make note-less/other-version copies.
APT_PKGS += binutils
$(eval $(call unit_test,test_cni_bridge,tests/unit/test_cni_bridge.c,cni_bridge cni_hostlocal cni_skel cni_netlink ndl,-ljansson))
$(eval $(call fuzz_target,fuzz_cni_bridge_conf,tests/fuzz/fuzz_cni_bridge_conf.c cni-plugins/bridge/config.c cni-plugins/netlink/netlink.c lib/json.c lib/fs.c lib/error.c lib/xalloc.c,-ljansson))
# make check-vm (tests/vm/run_vm.py, Debian's kernel) has bridge VLAN
# filtering, which this machine's kernel lacks: the vlan tests of
# test_cni_bridge.py run their success path there, against the reference
# plugins (the file skips its other tests in the VM).
VM_TESTS += tests/integration/test_cni_bridge.py
VM_MODULES += bridge veth
VM_HOST_BINS += /usr/sbin/ip /usr/sbin/bridge /usr/bin/nsenter /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback
