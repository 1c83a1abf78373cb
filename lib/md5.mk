# lib/md5.mk: MD5 (RFC 1321) without libcrypto; see lib/md5.h.
$(eval $(call static_lib,ndl_md5,lib/md5.c))
$(eval $(call unit_test,test_md5,tests/unit/test_md5.c,ndl_md5,-lcrypto))
APT_PKGS += libssl-dev
