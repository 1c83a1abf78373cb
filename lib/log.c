/* Structured log writer. One write(2) per line so concurrent writers do not
 * interleave within a line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum ndl_log_level log_level = NDL_LOG_INFO;
static int log_verbosity = 0;
static bool log_json = false;

static const char *level_names[] = {"error", "warning", "info", "debug"};

void ndl_log_init(int fd, enum ndl_log_level level, int verbosity, bool json)
{
	log_fd = fd;
	log_level = level;
	log_verbosity = verbosity;
	log_json = json;
}

void ndl_log_set_fd(int fd)
{
	log_fd = fd;
}

int ndl_log_verbosity(void)
{
	return log_verbosity;
}

bool ndl_log_enabled(enum ndl_log_level level)
{
	return level <= log_level || (level == NDL_LOG_DEBUG && log_verbosity > 0);
}

const char *ndl_log_quote(const char *val, char *buf, unsigned long size)
{
	if (size == 0)
		return "";
	if (!val)
		val = "";
	bool need = *val == '\0';
	for (const char *p = val; *p && !need; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
			need = true;
	if (!need) {
		snprintf(buf, size, "%s", val);
		return buf;
	}
	unsigned long o = 0;
	buf[o++] = '"';
	for (const char *p = val; *p && o + 3 < size; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < 0x20) {
			buf[o++] = '?';
		} else {
			buf[o++] = (char)c;
		}
	}
	if (o < size - 1)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* JSON string body escaping into buf. */
static const char *json_escape(const char *val, char *buf, size_t size)
{
	size_t o = 0;
	for (const char *p = val ? val : ""; *p && o + 7 < size; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			o += snprintf(buf + o, size - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* runc's --log-format json shape: {"level":..,"msg":..,"time":..} with the
 * key=value detail appended to msg. */
static void emit_json(const char *level, const struct tm *tm, long msec, const char *msg,
		      const char *kvfmt, va_list ap)
{
	char detail[2048] = "";
	char full[3072];
	char esc[4096];
	char line[4608];
	if (kvfmt && *kvfmt)
		vsnprintf(detail, sizeof(detail), kvfmt, ap);
	snprintf(full, sizeof(full), "%s%s%s", msg, *detail ? " " : "", detail);
	int n = snprintf(line, sizeof(line),
			 "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"}\n",
			 level, json_escape(full, esc, sizeof(esc)), tm->tm_year + 1900, tm->tm_mon + 1,
			 tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, msec);
	if (n > 0)
		(void)!write(log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void emit(const char *level, const char *msg, const char *kvfmt, va_list ap)
{
	char line[4096];
	char q[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (log_json) {
		emit_json(level, &tm, ts.tv_nsec / 1000000, msg, kvfmt, ap);
		return;
	}
	int n = snprintf(line, sizeof(line), "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level, ndl_log_quote(msg, q, sizeof(q)));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (kvfmt && *kvfmt && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		int m = vsnprintf(line + n, sizeof(line) - 1 - n, kvfmt, ap);
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
}

void ndl_log(enum ndl_log_level level, const char *msg, const char *kvfmt, ...)
{
	if (level > log_level)
		return;
	va_list ap;
	va_start(ap, kvfmt);
	emit(level_names[level], msg, kvfmt, ap);
	va_end(ap);
}

void ndl_log_v(int v, const char *msg, const char *kvfmt, ...)
{
	if (v > log_verbosity && log_level < NDL_LOG_DEBUG)
		return;
	va_list ap;
	va_start(ap, kvfmt);
	emit(v > 0 ? "debug" : "info", msg, kvfmt, ap);
	va_end(ap);
}
