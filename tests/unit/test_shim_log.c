/* nodelet-shim CRI log writer: format, partial lines, streams, reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri/shim/logwriter.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

static char *tmpdir;

static int setup(void **state)
{
	char t[] = "/tmp/ndl-shimlog-XXXXXX";
	tmpdir = xstrdup(mkdtemp(t));
	return 0;
}

static int teardown(void **state)
{
	ndl_rm_rf(tmpdir, NULL);
	free(tmpdir);
	return 0;
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;
	assert_int_equal(ndl_read_file(path, 1 << 22, &buf, &len, NULL), 0);
	return buf;
}

static void test_time_format(void **state)
{
	char buf[64];
	struct timespec t = {.tv_sec = 1475712429, .tv_nsec = 669794202};
	logw_format_time(&t, buf, sizeof(buf));
	assert_string_equal(buf, "2016-10-06T00:07:09.669794202Z");
	t.tv_nsec = 500000000;
	logw_format_time(&t, buf, sizeof(buf));
	assert_string_equal(buf, "2016-10-06T00:07:09.5Z");
	t.tv_nsec = 0;
	logw_format_time(&t, buf, sizeof(buf));
	assert_string_equal(buf, "2016-10-06T00:07:09Z");
}

static void test_lines_and_streams(void **state)
{
	cleanup_free char *path = xasprintf("%s/0.log", tmpdir);
	struct logw w;
	struct timespec t = {.tv_sec = 1475712429, .tv_nsec = 1000};
	assert_int_equal(logw_open(&w, path, NULL), 0);
	w.fixed_now = &t;
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, "hello\nwor", 9, NULL), 0);
	assert_int_equal(logw_feed(&w, LOGW_STDERR, "err\n\n", 5, NULL), 0);
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, "ld\nend", 6, NULL), 0);
	assert_int_equal(logw_flush(&w, LOGW_STDOUT, NULL), 0);
	assert_int_equal(logw_flush(&w, LOGW_STDERR, NULL), 0);
	logw_close(&w);
	cleanup_free char *got = slurp(path);
	assert_string_equal(got, "2016-10-06T00:07:09.000001Z stdout F hello\n"
				 "2016-10-06T00:07:09.000001Z stderr F err\n"
				 "2016-10-06T00:07:09.000001Z stderr F \n"
				 "2016-10-06T00:07:09.000001Z stdout F world\n"
				 "2016-10-06T00:07:09.000001Z stdout F end\n");
}

static void test_long_line_partial(void **state)
{
	cleanup_free char *path = xasprintf("%s/1.log", tmpdir);
	struct logw w;
	struct timespec t = {.tv_sec = 0, .tv_nsec = 0};
	assert_int_equal(logw_open(&w, path, NULL), 0);
	w.fixed_now = &t;
	size_t n = LOGW_MAX_LINE * 2 + 10;
	cleanup_free char *line = xmalloc(n + 1);
	memset(line, 'a', n);
	line[n] = '\n';
	/* Feed in odd-sized pieces to cross buffer boundaries. */
	for (size_t off = 0; off < n + 1;) {
		size_t k = (n + 1 - off) < 777 ? (n + 1 - off) : 777;
		assert_int_equal(logw_feed(&w, LOGW_STDOUT, line + off, k, NULL), 0);
		off += k;
	}
	/* Exactly max-length line: one full record, no empty partial. */
	memset(line, 'b', LOGW_MAX_LINE);
	line[LOGW_MAX_LINE] = '\n';
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, line, LOGW_MAX_LINE + 1, NULL), 0);
	logw_close(&w);
	cleanup_free char *got = slurp(path);
	const char *p = got;
	const char *tags[] = {"P", "P", "F", "F"};
	size_t lens[] = {LOGW_MAX_LINE, LOGW_MAX_LINE, 10, LOGW_MAX_LINE};
	for (int i = 0; i < 4; i++) {
		const char *prefix = "1970-01-01T00:00:00Z stdout ";
		assert_memory_equal(p, prefix, strlen(prefix));
		p += strlen(prefix);
		assert_memory_equal(p, tags[i], 1);
		p += 2;
		const char *eol = strchr(p, '\n');
		assert_non_null(eol);
		assert_int_equal((size_t)(eol - p), lens[i]);
		p = eol + 1;
	}
	assert_int_equal(*p, '\0');
}

static void test_reopen_after_rotation(void **state)
{
	cleanup_free char *path = xasprintf("%s/2.log", tmpdir);
	cleanup_free char *rotated = xasprintf("%s/2.log.1", tmpdir);
	struct logw w;
	assert_int_equal(logw_open(&w, path, NULL), 0);
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, "one\ntw", 6, NULL), 0);
	assert_int_equal(rename(path, rotated), 0);
	assert_int_equal(logw_reopen(&w, NULL), 0);
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, "o\n", 2, NULL), 0);
	logw_close(&w);
	cleanup_free char *old = slurp(rotated);
	cleanup_free char *cur = slurp(path);
	assert_non_null(strstr(old, " stdout F one\n"));
	assert_null(strstr(old, "two"));
	assert_non_null(strstr(cur, " stdout F two\n"));
}

static void test_disabled(void **state)
{
	struct logw w;
	assert_int_equal(logw_open(&w, NULL, NULL), 0);
	assert_int_equal(logw_feed(&w, LOGW_STDOUT, "x\ny", 3, NULL), 0);
	assert_int_equal(logw_flush(&w, LOGW_STDOUT, NULL), 0);
	assert_int_equal(logw_reopen(&w, NULL), 0);
	logw_close(&w);
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(logw_open(&w, "/nonexistent-dir/x.log", &err), -ENOENT);
	assert_non_null(strstr(ndl_error_msg(&err), "/nonexistent-dir/x.log"));
	ndl_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_lines_and_streams),
		cmocka_unit_test(test_long_line_partial),
		cmocka_unit_test(test_reopen_after_rotation),
		cmocka_unit_test(test_disabled),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
