# lib/lazycurl.mk: libcurl loaded on first use (see lib/lazycurl.h); link
# ndl_lazycurl ndl ... -ldl instead of -lcurl. Headers still from libcurl's
# -dev package; the runtime package is libcurl4.
$(eval $(call static_lib,ndl_lazycurl,lib/lazycurl.c))
LIBS_NDL_LAZYCURL := -ldl
APT_PKGS += libcurl4-openssl-dev
$(eval $(call unit_test,test_lazycurl,tests/unit/test_lazycurl.c,ndl_lazycurl ndl,-ldl -ljansson))
