/* lib/quantity and lib/duration: Kubernetes quantity and Go duration
 * semantics (expected values from apimachinery's Quantity.String() and Go's
 * time.Duration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/duration.h"
#include "lib/quantity.h"

static ndl_quantity_t q(const char *s)
{
	ndl_quantity_t r;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_quantity_parse(s, &r, &err) < 0)
		fail_msg("parse %s: %s", s, ndl_error_msg(&err));
	return r;
}

static void check_canon(const char *in, const char *want)
{
	char buf[64];
	ndl_quantity_t x = q(in);
	if (strcmp(ndl_quantity_format(&x, buf, sizeof(buf)), want) != 0)
		fail_msg("%s: canonical %s, want %s", in, buf, want);
}

static void test_quantity_values(void **state)
{
	assert_int_equal(q("100m").milli, 100);
	assert_int_equal(q("100m").value, 1); /* Value() rounds up */
	assert_int_equal(q("1.5Gi").value, 1610612736LL);
	assert_int_equal(q("10Mi").value, 10485760);
	assert_int_equal(q("128974848").value, 128974848);
	assert_int_equal(q("129e6").value, 129000000);
	assert_int_equal(q("129M").value, 129000000);
	assert_int_equal(q("123Mi").value, 128974848);
	assert_int_equal(q("0.5").milli, 500);
	assert_int_equal(q(".5").milli, 500);
	assert_int_equal(q("5.").value, 5);
	assert_int_equal(q("1").milli, 1000);
	assert_int_equal(q("+1k").value, 1000);
	assert_int_equal(q("1n").milli, 1); /* MilliValue rounds up */
	assert_int_equal(q("1u").value, 1);
	assert_int_equal(q("0").milli, 0);
	assert_int_equal(q("-1").value, -1);
	assert_int_equal(q("-100m").milli, -100);
	assert_int_equal(q("-100m").value, 0); /* ceil(-0.1) */
	assert_int_equal(q("1E3").value, 1000);
	assert_int_equal(q("1e-3").milli, 1);
	assert_int_equal(q("2Ti").value, 2199023255552LL);
	ndl_quantity_t big = q("1Ei");
	assert_int_equal(big.value, 1152921504606846976LL);
	assert_true(big.milli_saturated);
	assert_int_equal(q("1Ki").format, NDL_QUANTITY_BINARY_SI);
	assert_int_equal(q("1e3").format, NDL_QUANTITY_DECIMAL_EXPONENT);
	assert_int_equal(q("1k").format, NDL_QUANTITY_DECIMAL_SI);
}

static void test_quantity_errors(void **state)
{
	const char *bad[] = {"",
			     "abc",
			     "1.2.3",
			     "1Kb",
			     "1e",
			     "10Xi",
			     "1 ",
			     " 1",
			     "1i",
			     "m",
			     "--1",
			     "1e1000",
			     "99999999999999999999",
			     "1.5.Mi",
			     "0x10",
			     "1kk"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ndl_quantity_t r;
		ndl_error_t err = NDL_ERROR_INIT;
		if (ndl_quantity_parse(bad[i], &r, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(ndl_error_msg(&err), "quantity"));
		ndl_error_clear(&err);
	}
}

static void test_quantity_format(void **state)
{
	check_canon("100m", "100m");
	check_canon("1.5Gi", "1536Mi");
	check_canon("10Mi", "10Mi");
	check_canon("1000", "1k");
	check_canon("1500", "1500");
	check_canon("0.5", "500m");
	check_canon("1.5", "1500m");
	check_canon("1000m", "1");
	check_canon("1e3", "1e3");
	check_canon("12e6", "12e6");
	check_canon("1024", "1024");
	check_canon("1Ki", "1Ki");
	check_canon("1023Ki", "1023Ki");
	check_canon("1024Ki", "1Mi");
	check_canon("512", "512");
	check_canon("0.5Ki", "512"); /* binary below 1024 falls back to decimal */
	check_canon("1.5k", "1500");
	check_canon("0", "0");
	check_canon("5G", "5G");
	check_canon("-1Gi", "-1Gi");
	check_canon("1Ei", "1Ei");
}

static void test_quantity_cmp_add(void **state)
{
	ndl_quantity_t a = q("1"), b = q("1000m"), c = q("1Gi"), d = q("1G");
	assert_int_equal(ndl_quantity_cmp(&a, &b), 0);
	assert_int_equal(ndl_quantity_cmp(&c, &d), 1);
	assert_int_equal(ndl_quantity_cmp(&d, &c), -1);
	ndl_quantity_t e = q("250m"), f = q("750m");
	ndl_quantity_t s = ndl_quantity_add(&e, &f);
	assert_int_equal(s.milli, 1000);
	assert_int_equal(s.value, 1);
	assert_true(ndl_quantity_is_zero(&(ndl_quantity_t){0}));
	ndl_quantity_t m = ndl_quantity_from_milli(1500, NDL_QUANTITY_DECIMAL_SI);
	assert_int_equal(m.value, 2);
}

static int64_t dur(const char *s)
{
	int64_t ns;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_duration_parse(s, &ns, &err) < 0)
		fail_msg("parse %s: %s", s, ndl_error_msg(&err));
	return ns;
}

static void test_duration_parse(void **state)
{
	const int64_t S = NDL_NSEC_PER_SEC;
	assert_int_equal(dur("1m30s"), 90 * S);
	assert_int_equal(dur("20s"), 20 * S);
	assert_int_equal(dur("1.5h"), 5400 * S);
	assert_int_equal(dur("300ms"), 300 * NDL_NSEC_PER_MSEC);
	assert_int_equal(dur("-1.5s"), -1500 * NDL_NSEC_PER_MSEC);
	assert_int_equal(dur("1h2m3.5s"), 3723 * S + 500 * NDL_NSEC_PER_MSEC);
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("+5s"), 5 * S);
	assert_int_equal(dur(".5s"), 500 * NDL_NSEC_PER_MSEC);
	assert_int_equal(dur("1.s"), S);
	assert_int_equal(dur("10us"), 10000);
	assert_int_equal(dur("10\xc2\xb5s"), 10000);
	assert_int_equal(dur("7ns"), 7);
	assert_int_equal(dur("2562047h47m16.854775807s"), INT64_MAX);
	const char *bad[] = {"",  "1",		 "1x",	"s",  ".s", "1h 2m",
			     "-", "9999999999h", "1.5", "0x", "1sm"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ns;
		ndl_error_t err = NDL_ERROR_INIT;
		if (ndl_duration_parse(bad[i], &ns, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(ndl_error_msg(&err), "duration"));
		ndl_error_clear(&err);
	}
}

static void test_duration_format(void **state)
{
	char b[64];
	const int64_t S = NDL_NSEC_PER_SEC;
	assert_string_equal(ndl_duration_format(90 * S, b, sizeof(b)), "1m30s");
	assert_string_equal(ndl_duration_format(120 * S, b, sizeof(b)), "2m0s");
	assert_string_equal(ndl_duration_format(3600 * S, b, sizeof(b)), "1h0m0s");
	assert_string_equal(ndl_duration_format(5400 * S, b, sizeof(b)), "1h30m0s");
	assert_string_equal(ndl_duration_format(100 * NDL_NSEC_PER_MSEC, b, sizeof(b)), "100ms");
	assert_string_equal(ndl_duration_format(1500 * NDL_NSEC_PER_MSEC, b, sizeof(b)), "1.5s");
	assert_string_equal(ndl_duration_format(0, b, sizeof(b)), "0s");
	assert_string_equal(ndl_duration_format(1500, b, sizeof(b)), "1.5\xc2\xb5s");
	assert_string_equal(ndl_duration_format(12, b, sizeof(b)), "12ns");
	assert_string_equal(ndl_duration_format(-20 * S, b, sizeof(b)), "-20s");
	assert_string_equal(ndl_duration_format(4 * 3600 * S, b, sizeof(b)), "4h0m0s");
	/* round trip */
	int64_t ns = dur("1h2m3.25s");
	assert_string_equal(ndl_duration_format(ns, b, sizeof(b)), "1h2m3.25s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quantity_values), cmocka_unit_test(test_quantity_errors),
	    cmocka_unit_test(test_quantity_format), cmocka_unit_test(test_quantity_cmp_add),
	    cmocka_unit_test(test_duration_parse),  cmocka_unit_test(test_duration_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
