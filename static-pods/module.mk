# static-pods/: the static pod file source (manifest dir watch -> pod events).
$(eval $(call static_lib,staticpods,static-pods/manifest.c static-pods/source.c))
CFLAGS_static-pods_ := -Wno-format-truncation
$(eval $(call unit_test,test_staticpods,tests/unit/test_staticpods.c,staticpods kubelet ndl_quantity ndl_yaml ndl_md5 ndl,-lyaml -ljansson -lm))
$(eval $(call fuzz_target,fuzz_manifest,tests/fuzz/fuzz_manifest.c static-pods/manifest.c kubelet/pod.c kubelet/pod_defaults.c kubelet/pod_validate.c kubelet/qos.c lib/quantity.c lib/yaml2json.c lib/json.c lib/fs.c lib/log.c lib/error.c lib/xalloc.c lib/md5.c,-lyaml -ljansson))
