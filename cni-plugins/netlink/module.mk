# cni-plugins/netlink: raw rtnetlink helpers shared by the CNI plugins (no
# libnl: see netlink.h for why).
$(eval $(call static_lib,cni_netlink,cni-plugins/netlink/netlink.c))
