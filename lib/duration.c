/* Go time.Duration parsing and formatting. */
#include "duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int64_t ns;
} units[] = {
    {"ns", 1},
    {"us", NDL_NSEC_PER_USEC},
    {"\xc2\xb5s", NDL_NSEC_PER_USEC}, /* U+00B5 micro sign */
    {"\xce\xbcs", NDL_NSEC_PER_USEC}, /* U+03BC Greek mu */
    {"ms", NDL_NSEC_PER_MSEC},
    {"s", NDL_NSEC_PER_SEC},
    {"m", 60 * NDL_NSEC_PER_SEC},
    {"h", 3600 * NDL_NSEC_PER_SEC},
};

int ndl_duration_parse(const char *s, int64_t *ret_ns, ndl_error_t *err)
{
	if (!s)
		s = "";
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ret_ns = 0;
		return 0;
	}
	if (!*p)
		return ndl_error_setf(err, EINVAL, "invalid duration \"%s\"", s);
	unsigned __int128 total = 0;
	while (*p) {
		/* <int>[.<frac>]<unit> */
		unsigned __int128 whole = 0;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (whole > (unsigned __int128)1 << 64)
				return ndl_error_setf(err, ERANGE,
						      "invalid duration \"%s\": overflow", s);
			whole = whole * 10 + (unsigned)(*p++ - '0');
			nd++;
		}
		uint64_t frac = 0, frac_scale = 1;
		int nf = 0;
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				if (frac_scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					frac_scale *= 10;
				}
				p++;
				nf++;
			}
		}
		if (nd == 0 && nf == 0)
			return ndl_error_setf(err, EINVAL, "invalid duration \"%s\"", s);
		const char *u = p;
		while (*p && *p != '.' && (*p < '0' || *p > '9'))
			p++;
		size_t ulen = (size_t)(p - u);
		if (ulen == 0)
			return ndl_error_setf(err, EINVAL, "invalid duration \"%s\": missing unit",
					      s);
		int64_t unit = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0)
				unit = units[i].ns;
		if (!unit)
			return ndl_error_setf(err, EINVAL,
					      "invalid duration \"%s\": unknown unit \"%.*s\"", s,
					      (int)ulen, u);
		unsigned __int128 v = whole * (unsigned __int128)unit;
		/* Go truncates the fractional part to whole nanoseconds. */
		v += (unsigned __int128)frac * (unsigned __int128)unit / frac_scale;
		total += v;
		if (total > (unsigned __int128)INT64_MAX + (neg ? 1 : 0))
			return ndl_error_setf(err, ERANGE, "invalid duration \"%s\": overflow", s);
	}
	*ret_ns = neg ? (int64_t)(-(__int128)total) : (int64_t)total;
	return 0;
}

/* Fraction digits of v/scale without trailing zeros ("5" for 500 of 1000). */
static int put_frac(char *buf, unsigned long size, uint64_t v, uint64_t scale)
{
	uint64_t whole = v / scale, frac = v % scale;
	if (!frac)
		return snprintf(buf, size, "%llu", (unsigned long long)whole);
	int width = 0;
	for (uint64_t t = scale; t > 1; t /= 10)
		width++;
	char fb[32];
	if (width > 19)
		width = 19;
	snprintf(fb, sizeof(fb), "%0*llu", width, (unsigned long long)frac);
	for (int i = (int)strlen(fb) - 1; i >= 0 && fb[i] == '0'; i--)
		fb[i] = 0;
	return snprintf(buf, size, "%llu.%s", (unsigned long long)whole, fb);
}

const char *ndl_duration_format(int64_t ns, char *buf, unsigned long size)
{
	if (size == 0)
		return buf;
	buf[0] = 0;
	bool neg = ns < 0;
	uint64_t u = neg ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	char tmp[64];
	const char *sign = neg ? "-" : "";
	if (u == 0) {
		snprintf(buf, size, "0s");
	} else if (u < (uint64_t)NDL_NSEC_PER_USEC) {
		snprintf(buf, size, "%s%lluns", sign, (unsigned long long)u);
	} else if (u < (uint64_t)NDL_NSEC_PER_MSEC) {
		put_frac(tmp, sizeof(tmp), u, NDL_NSEC_PER_USEC);
		snprintf(buf, size, "%s%s\xc2\xb5s", sign, tmp);
	} else if (u < (uint64_t)NDL_NSEC_PER_SEC) {
		put_frac(tmp, sizeof(tmp), u, NDL_NSEC_PER_MSEC);
		snprintf(buf, size, "%s%sms", sign, tmp);
	} else {
		uint64_t secs_ns = u % (60 * (uint64_t)NDL_NSEC_PER_SEC);
		uint64_t mins = u / (60 * (uint64_t)NDL_NSEC_PER_SEC);
		put_frac(tmp, sizeof(tmp), secs_ns, NDL_NSEC_PER_SEC);
		if (mins == 0)
			snprintf(buf, size, "%s%ss", sign, tmp);
		else if (mins < 60)
			snprintf(buf, size, "%s%llum%ss", sign, (unsigned long long)mins, tmp);
		else
			snprintf(buf, size, "%s%lluh%llum%ss", sign,
				 (unsigned long long)(mins / 60), (unsigned long long)(mins % 60),
				 tmp);
	}
	return buf;
}
