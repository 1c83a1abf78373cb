/* Error type shared by every module: an errno-style code plus a message that
 * grows context as it unwinds ("ADD: setup veth eth0: netlink: File exists"). */
#pragma once

#include <errno.h>
#include <stdarg.h>

typedef struct ndl_error {
	int code;  /* errno value (positive), or a module-specific code */
	char *msg; /* heap-allocated, owned by the error */
} ndl_error_t;

#define NDL_ERROR_INIT {0, NULL}

/* Fill *err (replacing any previous content) and return -abs(code), or -EIO
 * when code is 0, so callers can `return ndl_error_set(err, errno, ...)`.
 * When code is an errno value, ": strerror(code)" is appended. A NULL err is
 * accepted and only the return value is produced. */
int ndl_error_set(ndl_error_t *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like ndl_error_set but without the strerror suffix: for validation errors. */
int ndl_error_setf(ndl_error_t *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix context: "context: previous message". Returns -abs(err->code). */
int ndl_error_wrap(ndl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Release the message and reset. Accepts NULL. */
void ndl_error_clear(ndl_error_t *err);

/* The message, or "" when none is set. */
const char *ndl_error_msg(const ndl_error_t *err);

static inline void ndl_error_cleanup(ndl_error_t *err)
{
	ndl_error_clear(err);
}
#define cleanup_error __attribute__((cleanup(ndl_error_cleanup)))
