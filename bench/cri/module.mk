# bench/cri: the CRI pod lifecycle driver (one process, the C CRI client,
# both runtimes on their own channel) used by bench/cri/run.sh.
# (Spelled out rather than $(CRI_CLIENT_STATIC): bench/ is included before
# cri/, so that variable is still empty here.)
$(eval $(call program,cribench,bench/cri/cribench.c,cri_client cri_api ndl,$(shell $(PKG_CONFIG) --libs grpc libprotobuf-c 2>/dev/null) -ljansson -lpthread))
$(call obj,bench/cri/cribench.c): | $(BUILD)/gen/cri/api/api.pb-c.h
