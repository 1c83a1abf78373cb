# cri/: the nodelet-cri binary (cri/main.c dispatches: `image ...` for now).
$(eval $(call program,nodelet-cri,cri/main.c,cri_server cri_client cri_network cri_api cgroups $(CRI_IMAGES_STATIC),$(CRI_IMAGES_LDLIBS) $(shell $(PKG_CONFIG) --libs grpc libprotobuf-c)))
INSTALL_BINS += nodelet-cri
