/* The ndl_error_t implementation. */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int ret_code(int code)
{
	if (code == 0)
		return -EIO;
	return code < 0 ? code : -code;
}

static int set_va(ndl_error_t *err, int code, int with_strerror, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (!err)
		return ret_code(code);
	char *base = xvasprintf(fmt, ap);
	char *msg;
	if (with_strerror && code > 0 && code < 4096)
		msg = xasprintf("%s: %s", base, strerror(code));
	else
		msg = xstrdup(base);
	free(base);
	free(err->msg);
	err->msg = msg;
	err->code = code ? code : EIO;
	return ret_code(err->code);
}

int ndl_error_set(ndl_error_t *err, int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int r = set_va(err, code, 1, fmt, ap);
	va_end(ap);
	errno = saved;
	return r;
}

int ndl_error_setf(ndl_error_t *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = set_va(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int ndl_error_wrap(ndl_error_t *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = err->msg ? xasprintf("%s: %s", ctx, err->msg) : xstrdup(ctx);
	free(ctx);
	free(err->msg);
	err->msg = msg;
	if (err->code == 0)
		err->code = EIO;
	return ret_code(err->code);
}

void ndl_error_clear(ndl_error_t *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
}

const char *ndl_error_msg(const ndl_error_t *err)
{
	return err && err->msg ? err->msg : "";
}
