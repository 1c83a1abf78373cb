# cri/: the nodelet-cri binary (cri/main.c dispatches: `image ...` for now).
$(eval $(call program,nodelet-cri,cri/main.c,$(CRI_IMAGES_STATIC),$(CRI_IMAGES_LDLIBS)))
INSTALL_BINS += nodelet-cri
