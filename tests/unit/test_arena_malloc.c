/* cni-plugins/skel/arena_malloc.c, linked into this test program so that it
 * replaces the C library's malloc for everything here (glibc allows that as
 * musl does), cmocka included. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_classes_and_reuse(void **state)
{
	(void)state;
	for (size_t n = 0; n < 70000; n = n * 2 + 1) {
		unsigned char *p = malloc(n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		assert_true(malloc_usable_size(p) >= n);
		memset(p, 0xab, n);
		free(p);
	}
	/* A freed block of a class is handed out again (bounded RSS in loops). */
	void *a = malloc(100);
	free(a);
	void *b = malloc(90);
	assert_ptr_equal(a, b);
	free(b);
}

static void test_calloc_zeroes_reused_blocks(void **state)
{
	(void)state;
	unsigned char *p = malloc(200);
	memset(p, 0xff, 200);
	free(p);
	unsigned char *q = calloc(20, 10);
	assert_ptr_equal(p, q);
	for (int i = 0; i < 200; i++)
		assert_int_equal(q[i], 0);
	free(q);
	errno = 0;
	volatile size_t huge = SIZE_MAX / 2; /* hidden from the compiler's check */
	assert_null(calloc(huge, 4));
	assert_int_equal(errno, ENOMEM);
}

static void test_realloc_keeps_contents(void **state)
{
	(void)state;
	char *p = NULL;
	for (size_t n = 1; n <= 300000; n *= 3) {
		p = realloc(p, n);
		assert_non_null(p);
		p[n - 1] = (char)(n & 0x7f);
		if (n > 1)
			assert_int_equal(p[n / 3 - 1], (char)((n / 3) & 0x7f));
	}
	p = realloc(p, 10); /* shrink from a mapped block into a class */
	assert_non_null(p);
	assert_int_equal(p[0], 1);
	free(p);
}

static void test_large_and_aligned(void **state)
{
	(void)state;
	char *big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, 1, 1 << 20);
	free(big);
	for (size_t align = 8; align <= 8192; align *= 2) {
		void *p = aligned_alloc(align, 100);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % align, 0);
		memset(p, 2, 100);
		free(p);
		void *q = NULL;
		assert_int_equal(posix_memalign(&q, align, 5000), 0);
		assert_int_equal((uintptr_t)q % align, 0);
		free(q);
	}
	assert_null(aligned_alloc(3, 10));
	assert_int_equal(errno, EINVAL);
	free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classes_and_reuse),
	    cmocka_unit_test(test_calloc_zeroes_reused_blocks),
	    cmocka_unit_test(test_realloc_keeps_contents),
	    cmocka_unit_test(test_large_and_aligned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
