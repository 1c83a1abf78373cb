/* MD5 (RFC 1321), for content hashes that must match the kubelet's (the
 * static pod UID is an MD5 of the manifest, as Go's crypto/md5 computes
 * it), not for security. Why not OpenSSL's: in nodelet the static pod hash
 * was libcrypto's only use, and OpenSSL 3's EVP_md5 (provider, name and
 * error-string tables) kept ~3.3 MB of libcrypto pages resident for it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ndl_md5 {
	uint32_t h[4];
	uint64_t len; /* bytes hashed so far */
	unsigned char buf[64];
	size_t nbuf;
};

void ndl_md5_init(struct ndl_md5 *m);
void ndl_md5_update(struct ndl_md5 *m, const void *data, size_t len);
void ndl_md5_final(struct ndl_md5 *m, unsigned char out[16]);
