# cgroups/: the cgroupfs driver (v1, v2, hybrid) used by the runtime and the
# kubelet. Link as: cgroups ndl, with -ljansson.
CGROUPS_SRCS := cgroups/manager.c cgroups/v1.c cgroups/v2.c cgroups/resources.c cgroups/util.c cgroups/devices_bpf.c
$(eval $(call static_lib,cgroups,$(CGROUPS_SRCS)))
LIBS_CGROUPS := -ljansson
# Test/debug CLI over the library (not installed).
$(eval $(call program,nodelet-cgctl,cgroups/cgctl.c,cgroups ndl,-ljansson))

# make check-vm: the cgroup tests (and whoever appends to VM_TESTS) in a VM
# that has only cgroup v2. Other fragments may append to VM_TESTS,
# VM_MODULES (kernel modules to load), VM_FILES (repo paths the tests
# read) and VM_HOST_BINS (host programs to copy in); see tests/vm/run_vm.py.
# The variables are expanded when the rule runs, so appends from fragments
# included after this one count.
VM_TESTS += tests/integration/test_cgroups.py
VM_MODULES +=
VM_FILES +=
VM_HOST_BINS +=
APT_PKGS += qemu-system-x86 linux-image-amd64 busybox-static runc python3-pytest
VM_RUN = /usr/bin/python3 tests/vm/run_vm.py --build $(BUILD) --sanitize $(SANITIZE) \
	--tests "$(VM_TESTS)" --modules "$(VM_MODULES)" --files "$(VM_FILES)" --host-bins "$(VM_HOST_BINS)"
check-vm: all
	@$(VM_RUN)
# make check runs the VM tests too, through a sub-make so every fragment's
# VM_TESTS is in: with KVM when it can boot a stock kernel, else under TCG
# emulation (about a minute here), so pure cgroup v2 is exercised on every
# run, also on hosts whose /dev/kvm is a paravirtual flavour.
# `make check-vm-if-kvm` reports them skipped instead of emulating.
check-vm-if-kvm: all
	@$(VM_RUN) --if-kvm
.PHONY: check-vm-if-kvm
EXTRA_CHECKS += ;; $(MAKE) --no-print-directory -s check-vm BUILD=$(BUILD) SANITIZE=$(SANITIZE)
$(eval $(call unit_test,test_cgroups,tests/unit/test_cgroups.c,cgroups ndl,-ljansson))
# The resources parser reads outside input (config.json, CRI updates).
$(eval $(call fuzz_target,fuzz_cgroup_resources,cgroups/fuzz_resources.c cgroups/resources.c lib/json.c lib/fs.c lib/error.c lib/xalloc.c,-ljansson))
