/* Go time.Duration syntax ("1m30s", "20s", "1.5h", "300ms"), as used by the
 * kubelet's flags and KubeletConfiguration (metav1.Duration). */
#pragma once

#include <stdint.h>

#include "error.h"

#define NDL_NSEC_PER_USEC 1000LL
#define NDL_NSEC_PER_MSEC 1000000LL
#define NDL_NSEC_PER_SEC  1000000000LL

/* Parse as Go's time.ParseDuration: optional sign, then one or more
 * <decimal><unit> with units ns, us, µs, ms, s, m, h; "0" alone is allowed.
 * Result in nanoseconds; overflow is an error. */
int ndl_duration_parse(const char *s, int64_t *ret_ns, ndl_error_t *err);

/* Format as Go's Duration.String(): "1m30s", "2m0s", "1h0m0s", "100ms",
 * "1.5s", "0s". buf should be at least 32 bytes. */
const char *ndl_duration_format(int64_t ns, char *buf, unsigned long size);
