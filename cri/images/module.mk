# cri/images: the image store (content store, registry client, importers,
# layer unpack, overlay snapshots) and its CLI (`nodelet-cri image`).
CRI_IMAGES_SRCS := cri/images/reference.c cri/images/manifest.c cri/images/regconfig.c \
	cri/images/store.c cri/images/unpack.c cri/images/snapshot.c cri/images/registry.c \
	cri/images/pull.c cri/images/cli.c
$(eval $(call static_lib,cri_images,$(CRI_IMAGES_SRCS)))
# Link line for anything embedding the image store (dependents first).
CRI_IMAGES_STATIC := cri_images ndl_yaml ndl
CRI_IMAGES_LDLIBS := -lcurl -larchive -lcrypto -lyaml -ljansson -lpthread
APT_PKGS += libcurl4-openssl-dev libarchive-dev libssl-dev libyaml-dev libjansson-dev
# Tests: a local registry, image tools to build and compare test images.
APT_PKGS += docker-registry skopeo umoci busybox-static openssl containerd zstd python3-pytest

$(eval $(call unit_test,test_images,tests/unit/test_images.c,$(CRI_IMAGES_STATIC),$(CRI_IMAGES_LDLIBS)))

# Fuzz targets compile the parsers themselves (instrumented).
FUZZ_IMAGES_CORE := cri/images/reference.c cri/images/manifest.c lib/error.c lib/xalloc.c lib/json.c lib/log.c lib/fs.c
$(eval $(call fuzz_target,fuzz_image_reference,tests/fuzz/fuzz_image_reference.c $(FUZZ_IMAGES_CORE),-ljansson -lcrypto))
$(eval $(call fuzz_target,fuzz_image_manifest,tests/fuzz/fuzz_image_manifest.c $(FUZZ_IMAGES_CORE),-ljansson -lcrypto))
$(eval $(call fuzz_target,fuzz_image_regconfig,tests/fuzz/fuzz_image_regconfig.c cri/images/regconfig.c lib/yaml2json.c $(FUZZ_IMAGES_CORE),-lyaml -ljansson -lcrypto))
$(eval $(call fuzz_target,fuzz_image_wwwauth,tests/fuzz/fuzz_image_wwwauth.c $(FUZZ_IMAGES_CORE),-ljansson -lcrypto))
$(eval $(call fuzz_target,fuzz_image_unpack,tests/fuzz/fuzz_image_unpack.c cri/images/unpack.c $(FUZZ_IMAGES_CORE),-larchive -ljansson -lcrypto))
