/* Resource quantity parsing and canonical formatting (Kubernetes
 * apimachinery resource.Quantity semantics, held in milli-units). */
#include "quantity.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef __int128 i128;

/* Far above any int64 result, far below i128 overflow. */
#define BIG ((i128)1 << 120)

static int mul_check(i128 *x, i128 m)
{
	if (*x != 0 && (m > BIG / (*x < 0 ? -*x : *x)))
		return -1;
	*x *= m;
	return 0;
}

/* mant * 10^e10 * 2^b2 as i128, rounded up when round_up (else truncated);
 * sticky says digits below mant were dropped. -1 when it cannot fit. */
static int scale(i128 mant, int e10, int b2, bool sticky, bool round_up, i128 *ret)
{
	i128 x = mant;
	if (mul_check(&x, (i128)1 << b2) < 0)
		return -1;
	bool rem = sticky;
	if (e10 >= 0) {
		for (int i = 0; i < e10; i++)
			if (mul_check(&x, 10) < 0)
				return -1;
	} else {
		for (int i = 0; i < -e10 && x != 0; i++) {
			if (x % 10 != 0)
				rem = true;
			x /= 10;
		}
	}
	if (rem && round_up && mant != 0)
		x += 1;
	*ret = x;
	return 0;
}

int ndl_quantity_parse(const char *s, ndl_quantity_t *ret, ndl_error_t *err)
{
	if (!s || !*s)
		return ndl_error_setf(err, EINVAL,
				      "quantity \"\": must be a number with an optional suffix");
	const char *p = s;
	bool neg = false;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	i128 mant = 0;
	int e10 = 0, digits = 0;
	bool sticky = false, seen_dot = false;
	for (;; p++) {
		if (*p >= '0' && *p <= '9') {
			digits++;
			if (mant < ((i128)1 << 100)) {
				mant = mant * 10 + (*p - '0');
				if (seen_dot)
					e10--;
			} else {
				/* Too many significant digits: keep magnitude, remember
				 * that something non-zero was dropped. */
				if (!seen_dot)
					e10++;
				if (*p != '0')
					sticky = true;
			}
		} else if (*p == '.' && !seen_dot) {
			seen_dot = true;
		} else {
			break;
		}
	}
	if (digits == 0)
		return ndl_error_setf(err, EINVAL, "quantity \"%s\": must start with a number", s);

	enum ndl_quantity_format fmt = NDL_QUANTITY_DECIMAL_SI;
	int b2 = 0;
	const char *suf = p;
	if (!*suf) {
	} else if (suf[1] == 'i' && !suf[2] && strchr("KMGTPE", suf[0])) {
		b2 = 10 * (int)(strchr("KMGTPE", suf[0]) - "KMGTPE" + 1);
		fmt = NDL_QUANTITY_BINARY_SI;
	} else if (!suf[1] && strchr("numkMGTPE", suf[0])) {
		static const int exps[] = {-9, -6, -3, 3, 6, 9, 12, 15, 18};
		e10 += exps[strchr("numkMGTPE", suf[0]) - "numkMGTPE"];
	} else if ((suf[0] == 'e' || suf[0] == 'E') && suf[1]) {
		const char *q = suf + 1;
		bool eneg = false;
		if (*q == '+' || *q == '-')
			eneg = *q++ == '-';
		if (!*q)
			return ndl_error_setf(err, EINVAL, "quantity \"%s\": invalid exponent", s);
		int ev = 0;
		for (; *q; q++) {
			if (*q < '0' || *q > '9')
				return ndl_error_setf(err, EINVAL,
						      "quantity \"%s\": invalid exponent", s);
			if (ev < 1000)
				ev = ev * 10 + (*q - '0');
		}
		if (ev >= 1000)
			return ndl_error_setf(err, EINVAL, "quantity \"%s\": exponent out of range",
					      s);
		e10 += eneg ? -ev : ev;
		fmt = NDL_QUANTITY_DECIMAL_EXPONENT;
	} else {
		return ndl_error_setf(err, EINVAL, "quantity \"%s\": unknown suffix \"%s\"", s,
				      suf);
	}

	ndl_quantity_t q = {.format = fmt};
	/* Kubernetes rounds up (towards +inf): magnitudes of positive values
	 * round up, of negative values truncate. */
	i128 v, m;
	if (scale(mant, e10, b2, sticky, !neg, &v) < 0 || v > INT64_MAX)
		return ndl_error_setf(err, ERANGE, "quantity \"%s\": too large", s);
	q.value = neg ? -(int64_t)v : (int64_t)v;
	if (scale(mant, e10 + 3, b2, sticky, !neg, &m) < 0 || m > INT64_MAX) {
		q.milli = neg ? INT64_MIN : INT64_MAX;
		q.milli_saturated = true;
	} else {
		q.milli = neg ? -(int64_t)m : (int64_t)m;
	}
	*ret = q;
	return 0;
}

ndl_quantity_t ndl_quantity_from_milli(int64_t milli, enum ndl_quantity_format fmt)
{
	ndl_quantity_t q = {.milli = milli, .format = fmt};
	/* ceil(milli / 1000) */
	q.value = milli / 1000 + ((milli % 1000) > 0 ? 1 : 0);
	return q;
}

ndl_quantity_t ndl_quantity_from_value(int64_t value, enum ndl_quantity_format fmt)
{
	ndl_quantity_t q = {.value = value, .format = fmt};
	if (value > INT64_MAX / 1000 || value < INT64_MIN / 1000) {
		q.milli = value > 0 ? INT64_MAX : INT64_MIN;
		q.milli_saturated = true;
	} else {
		q.milli = value * 1000;
	}
	return q;
}

ndl_quantity_t ndl_quantity_add(const ndl_quantity_t *a, const ndl_quantity_t *b)
{
	ndl_quantity_t q = {.format = a->format};
	if (a->milli_saturated || b->milli_saturated ||
	    __builtin_add_overflow(a->milli, b->milli, &q.milli)) {
		int64_t v;
		if (__builtin_add_overflow(a->value, b->value, &v))
			v = a->value > 0 ? INT64_MAX : INT64_MIN;
		q = ndl_quantity_from_value(v, a->format);
		q.milli_saturated = true;
		q.milli = v > 0 ? INT64_MAX : INT64_MIN;
		return q;
	}
	return ndl_quantity_from_milli(q.milli, a->format);
}

int ndl_quantity_cmp(const ndl_quantity_t *a, const ndl_quantity_t *b)
{
	if (a->milli_saturated || b->milli_saturated) {
		if (a->value != b->value)
			return a->value < b->value ? -1 : 1;
	}
	if (a->milli != b->milli)
		return a->milli < b->milli ? -1 : 1;
	return 0;
}

/* Decimal rendering of milli-units as <int><suffix> with the largest
 * power-of-1000 exponent that keeps the number exact. */
static const char *format_decimal(int64_t milli, bool exponent, char *buf, unsigned long size)
{
	static const char *sfx[] = {"m", "", "k", "M", "G", "T", "P", "E"};
	if (milli == 0) {
		snprintf(buf, size, "0");
		return buf;
	}
	bool neg = milli < 0;
	unsigned long long u =
	    neg ? (unsigned long long)(-(milli + 1)) + 1 : (unsigned long long)milli;
	int idx = 0;
	while (idx < 7 && u % 1000 == 0) {
		u /= 1000;
		idx++;
	}
	if (exponent) {
		int e = (idx - 1) * 3;
		if (e == 0)
			snprintf(buf, size, "%s%llu", neg ? "-" : "", u);
		else
			snprintf(buf, size, "%s%llue%d", neg ? "-" : "", u, e);
	} else {
		snprintf(buf, size, "%s%llu%s", neg ? "-" : "", u, sfx[idx]);
	}
	return buf;
}

const char *ndl_quantity_format(const ndl_quantity_t *q, char *buf, unsigned long size)
{
	if (q->milli_saturated) {
		/* Whole units only: render from value. */
		if (q->format == NDL_QUANTITY_BINARY_SI) {
			static const char *bs[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
			int64_t v = q->value;
			int i = 0;
			while (i < 6 && v != 0 && v % 1024 == 0) {
				v /= 1024;
				i++;
			}
			snprintf(buf, size, "%lld%s", (long long)v, bs[i]);
			return buf;
		}
		static const char *ds[] = {"", "k", "M", "G", "T", "P", "E"};
		int64_t v = q->value;
		int i = 0;
		while (i < 6 && v != 0 && v % 1000 == 0) {
			v /= 1000;
			i++;
		}
		snprintf(buf, size, "%lld%s", (long long)v, ds[i]);
		return buf;
	}
	if (q->format == NDL_QUANTITY_BINARY_SI) {
		/* Kubernetes falls back to decimal for |x| < 1024 and for
		 * non-integers, so as not to lose precision. */
		if (q->milli % 1000 == 0 && (q->value >= 1024 || q->value <= -1024)) {
			static const char *bs[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
			int64_t v = q->value;
			int i = 0;
			while (i < 6 && v % 1024 == 0) {
				v /= 1024;
				i++;
			}
			snprintf(buf, size, "%lld%s", (long long)v, bs[i]);
			return buf;
		}
		return format_decimal(q->milli, false, buf, size);
	}
	return format_decimal(q->milli, q->format == NDL_QUANTITY_DECIMAL_EXPONENT, buf, size);
}
