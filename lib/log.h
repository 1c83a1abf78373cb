/* Structured logging: one line per event,
 *   time=2026-11-26T12:00:00.123Z level=info msg="pulled image" image=busybox
 * with kubelet-style -v verbosity for debug detail. Library code logs only at
 * debug level (ndl_log_v); main() decides what the user sees. */
#pragma once

#include <stdbool.h>

enum ndl_log_level { NDL_LOG_ERROR = 0, NDL_LOG_WARN = 1, NDL_LOG_INFO = 2, NDL_LOG_DEBUG = 3 };

/* Where lines go (default stderr) and what passes. verbosity is the -v value. */
void ndl_log_init(int fd, enum ndl_log_level level, int verbosity, bool json);
void ndl_log_set_fd(int fd);
int ndl_log_verbosity(void);
bool ndl_log_enabled(enum ndl_log_level level);

/* msg is quoted as needed; kvfmt is printf-style "key=%s key2=%d" (may be NULL).
 * Values with spaces should be passed through %q-free formatting by the caller;
 * use ndl_log_quote() when a value may contain spaces or quotes. */
void ndl_log(enum ndl_log_level level, const char *msg, const char *kvfmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Debug detail shown at -v=V or higher. */
void ndl_log_v(int v, const char *msg, const char *kvfmt, ...) __attribute__((format(printf, 3, 4)));

/* Quote a value for key=value output into buf (always NUL-terminated). */
const char *ndl_log_quote(const char *val, char *buf, unsigned long size);

#define log_error(msg, ...) ndl_log(NDL_LOG_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...)  ndl_log(NDL_LOG_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...)  ndl_log(NDL_LOG_INFO, msg, __VA_ARGS__)
#define log_debug(v, msg, ...) ndl_log_v(v, msg, __VA_ARGS__)
