/* Kubernetes resource quantities ("100m", "10Mi", "1.5Gi", "1e3") as the API
 * server parses and canonicalises them, held as exact milli-units. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

enum ndl_quantity_format {
	NDL_QUANTITY_DECIMAL_SI = 0,  /* "", m, k, M, G, T, P, E (and n, u on input) */
	NDL_QUANTITY_BINARY_SI,	      /* Ki, Mi, Gi, Ti, Pi, Ei */
	NDL_QUANTITY_DECIMAL_EXPONENT /* 1e3, 5E-3 */
};

typedef struct ndl_quantity {
	/* Value in thousandths, rounded up (towards +inf) as Kubernetes'
	 * MilliValue(). Saturates at INT64_MAX/MIN when the milli value does
	 * not fit (e.g. "1Ei"); `value` is still exact in that case. */
	int64_t milli;
	/* Value rounded up to an integer, as Kubernetes' Value(). */
	int64_t value;
	bool milli_saturated;
	enum ndl_quantity_format format;
} ndl_quantity_t;

/* Parse the Kubernetes quantity grammar. Rejects empty strings, junk,
 * values whose integer part does not fit in int64. The message names only
 * the value; callers wrap it with the field name. */
int ndl_quantity_parse(const char *s, ndl_quantity_t *ret, ndl_error_t *err);

/* Canonical form as Kubernetes prints it (Quantity.String()) for values
 * representable in milli-units: "1536Mi", "500m", "1k", "1e3". Writes into
 * buf (always NUL-terminated) and returns buf. */
const char *ndl_quantity_format(const ndl_quantity_t *q, char *buf, unsigned long size);

/* -1, 0, 1 like Quantity.Cmp. */
int ndl_quantity_cmp(const ndl_quantity_t *a, const ndl_quantity_t *b);

static inline bool ndl_quantity_is_zero(const ndl_quantity_t *q)
{
	return q->milli == 0 && q->value == 0;
}

/* Build from milli-units / whole units. */
ndl_quantity_t ndl_quantity_from_milli(int64_t milli, enum ndl_quantity_format fmt);
ndl_quantity_t ndl_quantity_from_value(int64_t value, enum ndl_quantity_format fmt);

/* a + b, saturating. The format is a's. */
ndl_quantity_t ndl_quantity_add(const ndl_quantity_t *a, const ndl_quantity_t *b);
