# cni-plugins/loopback: brings lo up in the container's netns (libnl-route).
# CNI plugins are linked statically outside sanitizer builds: a plugin runs
# once per attachment, and skipping the dynamic loader keeps it fast. Peak
# RSS (target <= 1 MB) is dominated by the mapped text, so the static link
# also merges the code segment with the read-only data (noseparate-code:
# fewer, fuller pages) and leaves out glibc's name-service code that libnl
# references but loopback never reaches (static-trim.c).
CNI_STATIC_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-static -Wl,-z,noseparate-code)
LOOPBACK_SRCS := cni-plugins/loopback/loopback.c $(if $(filter 1,$(SANITIZE)),,cni-plugins/loopback/static-trim.c)
$(eval $(call program,loopback,$(LOOPBACK_SRCS),cni_skel ndl,$(CNI_STATIC_LDFLAGS) -lnl-route-3 -lnl-3 -ljansson -lpthread -lm))
CNI_PLUGINS += loopback
APT_PKGS += libnl-3-dev libnl-route-3-dev libjansson-dev
