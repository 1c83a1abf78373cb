# static-pods/: the static pod file source (manifest dir watch -> pod events).
$(eval $(call static_lib,staticpods,static-pods/manifest.c static-pods/source.c))
CFLAGS_static-pods_ := -Wno-format-truncation
$(eval $(call unit_test,test_staticpods,tests/unit/test_staticpods.c,staticpods kubelet ndl_quantity ndl_yaml ndl,-lcrypto -lyaml -ljansson -lm))
