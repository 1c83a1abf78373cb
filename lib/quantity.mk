# lib/quantity.mk: Kubernetes resource quantities and Go durations (shared by
# the kubelet and the CRI side).
$(eval $(call static_lib,ndl_quantity,lib/quantity.c lib/duration.c))
