# lib/: shared helpers used by every component (error, log, json, fs, yaml).
# Split so small binaries (CNI plugins) link only what they use: libndl has
# no YAML dependency; libndl_yaml adds it.
$(eval $(call static_lib,ndl,lib/error.c lib/xalloc.c lib/log.c lib/json.c lib/fs.c))
$(eval $(call static_lib,ndl_yaml,lib/yaml2json.c))
LIBS_NDL := -ljansson
LIBS_NDL_YAML := -lyaml
APT_PKGS += libjansson-dev libyaml-dev
$(eval $(call unit_test,test_lib,tests/unit/test_lib.c,ndl_yaml ndl,-lyaml -ljansson))
APT_PKGS += libcmocka-dev
$(eval $(call fuzz_target,fuzz_yaml,tests/fuzz/fuzz_yaml.c lib/yaml2json.c lib/error.c lib/xalloc.c,-lyaml -ljansson))
