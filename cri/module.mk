# cri/: the nodelet-cri binary (cri/main.c dispatches: the daemon, or
# `image ...` for the image store CLI).
#
# Memory: the daemon's idle RSS is mostly shared-library pages touched at
# load time (relocations), not our data. So outside sanitizer builds:
# - gRPC core is linked statically from libgrpc_unsecure.a (we serve a unix
#   socket only: no TLS), with --gc-sections keeping only what we call;
# - libarchive is linked statically: the image code names the decoders it
#   uses (gzip, zstd, xz, bzip2), which keeps libxml2, ICU, nettle, acl and
#   lz4 out of the process.
# - libcurl is loaded on the first image pull, not at start
#   (lib/lazycurl.h): with it went GnuTLS, libssl, Kerberos, LDAP, SASL,
#   libssh2, nghttp2, p11-kit and friends, ~4.5 MB of pages the dynamic
#   loader touched in a daemon that mostly never pulls.
# This takes the idle daemon from ~18.5 MB to ~15 MB (static gRPC and
# libarchive), then to ~10.5 MB (lazy libcurl); `image list` from ~16 MB to
# ~13 MB (docs/benchmarks.md, bench/cri).
ifeq ($(SANITIZE),1)
NODELET_CRI_LAZY :=
NODELET_CRI_LDLIBS := $(CRI_IMAGES_LDLIBS) $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c)
else
NODELET_CRI_LAZY := ndl_lazycurl ndl
NODELET_CRI_GRPC := -Wl,-Bstatic -lgrpc_unsecure -Wl,-Bdynamic -lupb -lre2 -lcares -laddress_sorting \
	$(filter-out -lgrpc_unsecure,$(shell $(PKG_CONFIG) --libs grpc_unsecure libprotobuf-c)) -lstdc++
NODELET_CRI_LDLIBS := -Wl,--gc-sections -ldl -Wl,-Bstatic -larchive -llzma -lbz2 -Wl,-Bdynamic \
	-lzstd -lz -lcrypto -lyaml -ljansson -lpthread $(NODELET_CRI_GRPC) -lm
endif
$(eval $(call program,nodelet-cri,cri/main.c,cri_server cri_client cri_network cri_api cgroups $(CRI_IMAGES_STATIC) $(NODELET_CRI_LAZY),$(NODELET_CRI_LDLIBS)))
INSTALL_BINS += nodelet-cri
# Static archives for the link above.
APT_PKGS += libgrpc-dev libarchive-dev liblzma-dev libbz2-dev libzstd-dev zlib1g-dev
