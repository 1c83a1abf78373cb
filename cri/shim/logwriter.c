/* CRI log format writer (see logwriter.h). */
#include "cri/shim/logwriter.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/xalloc.h"

static const char *stream_names[] = {"stdout", "stderr"};

size_t logw_format_time(const struct timespec *t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t->tv_sec, &tm);
	int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= size)
		return 0;
	size_t o = (size_t)n;
	long ns = t->tv_nsec;
	if (ns > 0 && o + 11 < size) {
		char frac[24];
		snprintf(frac, sizeof(frac), "%09ld", ns);
		int digits = 9;
		while (digits > 0 && frac[digits - 1] == '0')
			digits--;
		buf[o++] = '.';
		memcpy(buf + o, frac, digits);
		o += digits;
	}
	if (o + 2 > size)
		return 0;
	buf[o++] = 'Z';
	buf[o] = '\0';
	return o;
}

static int open_log(const char *path, ndl_error_t *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return ndl_error_set(err, errno, "open log %s", path);
	return fd;
}

int logw_open(struct logw *w, const char *path, ndl_error_t *err)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (!path || !*path)
		return 0;
	int fd = open_log(path, err);
	if (fd < 0)
		return fd;
	w->fd = fd;
	w->path = xstrdup(path);
	return 0;
}

int logw_reopen(struct logw *w, ndl_error_t *err)
{
	if (!w->path)
		return 0;
	int fd = open_log(w->path, err);
	if (fd < 0)
		return fd;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	return 0;
}

/* One record, one writev, so a reader never sees half a record. */
static int write_record(struct logw *w, enum logw_stream s, bool partial, const char *data,
			size_t len, ndl_error_t *err)
{
	if (w->fd < 0)
		return 0;
	struct timespec now;
	if (w->fixed_now)
		now = *w->fixed_now;
	else
		clock_gettime(CLOCK_REALTIME, &now);
	char head[64];
	size_t hl = logw_format_time(&now, head, sizeof(head));
	hl += (size_t)snprintf(head + hl, sizeof(head) - hl, " %s %c ", stream_names[s],
			       partial ? 'P' : 'F');
	struct iovec iov[3] = {
		{.iov_base = head, .iov_len = hl},
		{.iov_base = (void *)data, .iov_len = len},
		{.iov_base = "\n", .iov_len = 1},
	};
	size_t total = hl + len + 1;
	for (;;) {
		ssize_t n = writev(w->fd, iov, 3);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ndl_error_set(err, errno, "write log");
		if ((size_t)n != total)
			return ndl_error_setf(err, EIO, "short write to log (%zd of %zu)", n, total);
		return 0;
	}
}

int logw_feed(struct logw *w, enum logw_stream s, const char *data, size_t len, ndl_error_t *err)
{
	struct logw_buf *b = &w->pending[s];
	int r;
	while (len > 0) {
		if (b->len == LOGW_MAX_LINE) {
			/* A full buffer becomes a partial record only once more of the
			 * same line arrives; a newline right after it ends the line. */
			bool ends = data[0] == '\n';
			r = write_record(w, s, !ends, b->data, b->len, err);
			b->len = 0;
			if (r < 0)
				return r;
			if (ends) {
				data++;
				len--;
				continue;
			}
		}
		const char *nl = memchr(data, '\n', len);
		size_t chunk = nl ? (size_t)(nl - data) : len;
		if (b->len == 0 && nl && chunk <= LOGW_MAX_LINE) {
			/* Fast path: a whole line straight from the caller's buffer. */
			r = write_record(w, s, false, data, chunk, err);
			if (r < 0)
				return r;
			data += chunk + 1;
			len -= chunk + 1;
			continue;
		}
		size_t room = LOGW_MAX_LINE - b->len;
		size_t take = chunk < room ? chunk : room;
		memcpy(b->data + b->len, data, take);
		b->len += take;
		data += take;
		len -= take;
		if (nl && take == chunk) {
			r = write_record(w, s, false, b->data, b->len, err);
			b->len = 0;
			data++;
			len--;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int logw_flush(struct logw *w, enum logw_stream s, ndl_error_t *err)
{
	struct logw_buf *b = &w->pending[s];
	if (b->len == 0)
		return 0;
	int r = write_record(w, s, false, b->data, b->len, err);
	b->len = 0;
	return r;
}

void logw_close(struct logw *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->path);
	w->path = NULL;
}
