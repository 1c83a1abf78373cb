/* lib/md5: RFC 1321's test suite (appendix A.5), then random inputs fed in
 * random pieces compared with OpenSSL's MD5 (the peer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "lib/md5.h"

static void hex(const unsigned char *d, char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_rfc1321_suite(void **st)
{
	(void)st;
	static const char *const v[][2] = {
	    {"", "d41d8cd98f00b204e9800998ecf8427e"},
	    {"a", "0cc175b9c0f1b6a831c399e269772661"},
	    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
	    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
	    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	     "d174ab98d277d9f5a5611c2c9f419d9f"},
	    {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
	     "0",
	     "57edf4a22be3c955ac49da2e2107b67a"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ndl_md5 m;
		unsigned char d[16];
		char h[33];
		ndl_md5_init(&m);
		ndl_md5_update(&m, v[i][0], strlen(v[i][0]));
		ndl_md5_final(&m, d);
		hex(d, h);
		assert_string_equal(h, v[i][1]);
	}
}

static void test_matches_openssl_in_pieces(void **st)
{
	(void)st;
	srand(6);
	unsigned char *buf = malloc(5000);
	assert_non_null(buf);
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)(rand() % 5000);
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)rand();
		struct ndl_md5 m;
		ndl_md5_init(&m);
		for (size_t off = 0; off < n;) {
			size_t k = (size_t)(rand() % 130);
			if (k > n - off)
				k = n - off;
			ndl_md5_update(&m, buf + off, k);
			off += k;
		}
		unsigned char ours[16], theirs[16];
		unsigned int tl = 0;
		ndl_md5_final(&m, ours);
		assert_int_equal(EVP_Digest(buf, n, theirs, &tl, EVP_md5(), NULL), 1);
		assert_int_equal(tl, 16);
		assert_memory_equal(ours, theirs, 16);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc1321_suite),
	    cmocka_unit_test(test_matches_openssl_in_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
