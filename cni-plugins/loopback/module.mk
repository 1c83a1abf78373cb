# cni-plugins/loopback: brings lo up in the container's netns (libnl-route).
# Linked statically outside sanitizer builds: a CNI plugin runs once per
# attachment, and skipping the dynamic loader keeps it fast and under 1 MB RSS.
CNI_STATIC_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-static)
$(eval $(call program,loopback,cni-plugins/loopback/loopback.c,cni_skel ndl,$(CNI_STATIC_LDFLAGS) -lnl-route-3 -lnl-3 -ljansson -lpthread -lm))
CNI_PLUGINS += loopback
APT_PKGS += libnl-3-dev libnl-route-3-dev libjansson-dev
