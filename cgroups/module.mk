# cgroups/: the cgroupfs driver (v1, v2, hybrid) used by the runtime and the
# kubelet. Link as: cgroups ndl, with -ljansson.
CGROUPS_SRCS := cgroups/manager.c cgroups/v1.c cgroups/v2.c cgroups/resources.c cgroups/util.c
$(eval $(call static_lib,cgroups,$(CGROUPS_SRCS)))
LIBS_CGROUPS := -ljansson
# Test/debug CLI over the library (not installed).
$(eval $(call program,nodelet-cgctl,cgroups/cgctl.c,cgroups ndl,-ljansson))
