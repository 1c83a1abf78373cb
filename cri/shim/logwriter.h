/* CRI container log writer for nodelet-shim:
 *   <RFC3339Nano time> <stdout|stderr> <P|F> <content>\n
 * Lines longer than the maximum are split into partial (P) records, the
 * last piece of a line is full (F), as containerd writes them and the
 * kubelet reads them. No allocation after logw_open(): the shim's log path
 * must not allocate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/error.h"

/* containerd's default max_container_log_line_size. */
#define LOGW_MAX_LINE 16384

enum logw_stream { LOGW_STDOUT = 0, LOGW_STDERR = 1 };

struct logw_buf {
	char data[LOGW_MAX_LINE];
	size_t len;
};

struct logw {
	int fd;         /* the log file, O_APPEND; -1 when logging is off */
	char *path;     /* for reopen */
	struct logw_buf pending[2];
	/* Test hook: fixed clock when non-NULL. */
	const struct timespec *fixed_now;
};

/* Open (create, append) path. path NULL or "" disables logging: data is
 * consumed and dropped, as a runtime does when no log path was requested. */
int logw_open(struct logw *w, const char *path, ndl_error_t *err);

/* Reopen the same path (after the kubelet rotated it): a new file is
 * created if the old one was renamed away. Pending partial data is kept. */
int logw_reopen(struct logw *w, ndl_error_t *err);

/* Feed bytes read from a stream; complete lines are written now. */
int logw_feed(struct logw *w, enum logw_stream s, const char *data, size_t len, ndl_error_t *err);

/* The stream reached EOF: write what is left as a full record. */
int logw_flush(struct logw *w, enum logw_stream s, ndl_error_t *err);

void logw_close(struct logw *w);

/* Format t as Go's time.RFC3339Nano in UTC (trailing zeros of the fraction
 * trimmed, "Z" suffix); returns the length written (buf >= 40 bytes). */
size_t logw_format_time(const struct timespec *t, char *buf, size_t size);
