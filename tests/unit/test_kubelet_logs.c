/* Unit tests for kubelet/lifecycle/logs.c: container log rotation as the
 * kubelet's containerLogManager does it, log cleanup, legacy symlink names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

static void put(const char *dir, const char *name, const char *content)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static size_t count(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

struct reopen_state {
	const char *log;
	int calls;
	bool fail;
};

/* What ReopenContainerLog does on the runtime's side: a new file at the
 * log's path. */
static int reopen(void *arg, ndl_error_t *err)
{
	struct reopen_state *r = arg;
	r->calls++;
	if (r->fail)
		return ndl_error_set(err, EIO, "runtime refused");
	FILE *f = fopen(r->log, "w");
	assert_non_null(f);
	fclose(f);
	return 0;
}

static void test_rotate(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/kl-logs-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	cleanup_free char *log = xasprintf("%s/0.log", dir);
	put(dir, "0.log", "2026-11-27T01:00:00.000000000Z stdout F live\n");
	/* Two compressed, one plain from the last rotation, a plain one whose
	 * compressed copy is complete, a temporary file of an interrupted
	 * compression. */
	put(dir, "0.log.20261127-000000.gz", "old0");
	put(dir, "0.log.20261127-000001.gz", "old1");
	put(dir, "0.log.20261127-000002", "2026-11-27T00:00:02.000000000Z stdout F previous\n");
	put(dir, "0.log.20261127-000001", "plain copy of old1");
	put(dir, "0.log.20261127-000003.gz.tmp", "partial");
	struct reopen_state r = {.log = log};
	ndl_error_t err = NDL_ERROR_INIT;
	/* 2026-11-27 01:02:03 in local time. */
	struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 27, .tm_hour = 1, .tm_min = 2,
			.tm_sec = 3, .tm_isdst = -1};
	int64_t now = (int64_t)mktime(&tm) * 1000000000LL;
	assert_int_equal(kl_log_rotate(log, 3, now, reopen, &r, &err), 0);
	assert_int_equal(r.calls, 1);
	/* max_files 3: the live log, the one just rotated, one older
	 * (compressed); everything else is gone. */
	assert_true(exists(dir, "0.log"));
	assert_true(exists(dir, "0.log.20261127-010203"));
	assert_true(exists(dir, "0.log.20261127-000002.gz"));
	assert_int_equal(count(dir), 3);
	/* The compressed file holds the old content. */
	cleanup_free char *gzp = xasprintf("%s/0.log.20261127-000002.gz", dir);
	gzFile gz = gzopen(gzp, "rb");
	assert_non_null(gz);
	char buf[200] = {0};
	int n = gzread(gz, buf, sizeof(buf) - 1);
	gzclose(gz);
	assert_true(n > 0);
	assert_string_equal(buf, "2026-11-27T00:00:02.000000000Z stdout F previous\n");

	/* The runtime refuses to reopen: the log gets its name back. */
	put(dir, "0.log", "more\n");
	r.fail = true;
	tm.tm_sec = 9;
	now = (int64_t)mktime(&tm) * 1000000000LL;
	assert_true(kl_log_rotate(log, 3, now, reopen, &r, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "runtime refused"));
	ndl_error_clear(&err);
	assert_true(exists(dir, "0.log"));
	assert_false(exists(dir, "0.log.20261127-010209"));
	/* That pass still made room: the older one went, the last one was
	 * compressed. */
	assert_true(exists(dir, "0.log.20261127-010203.gz"));
	assert_false(exists(dir, "0.log.20261127-000002.gz"));
	assert_int_equal(count(dir), 2);

	/* max_files 2: no rotated file survives the next rotation but the
	 * new one. */
	r.fail = false;
	tm.tm_sec = 12;
	now = (int64_t)mktime(&tm) * 1000000000LL;
	assert_int_equal(kl_log_rotate(log, 2, now, reopen, &r, &err), 0);
	assert_true(exists(dir, "0.log"));
	assert_true(exists(dir, "0.log.20261127-010212"));
	assert_int_equal(count(dir), 2);

	/* Cleaning a container's logs takes every file of it, and nothing of
	 * another container. */
	put(dir, "1.log", "other\n");
	kl_log_clean(log);
	assert_false(exists(dir, "0.log"));
	assert_false(exists(dir, "0.log.20261127-010212"));
	assert_true(exists(dir, "1.log"));
	assert_int_equal(ndl_rm_rf(dir, &err), 0);
}

static void test_legacy_symlink_names(void **state)
{
	(void)state;
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	cleanup_free char *p = kl_legacy_log_symlink("/var/log/containers", "web-node1", "default",
						     "app", id);
	assert_string_equal(p, "/var/log/containers/web-node1_default_app-0123456789abcdef"
			       "0123456789abcdef0123456789abcdef0123456789abcdef.log");
	char got[128];
	assert_int_equal(kl_legacy_log_id(p, got, sizeof(got)), 0);
	assert_string_equal(got, id);
	/* Over ext4's 255 bytes: the name is cut, ".log" kept. */
	char longname[300];
	memset(longname, 'a', 250);
	longname[250] = '\0';
	cleanup_free char *lp = kl_legacy_log_symlink("/d", longname, "ns", "c", id);
	const char *base = strrchr(lp, '/') + 1;
	assert_int_equal(strlen(base), 255);
	assert_string_equal(base + 251, ".log");
	assert_int_equal(kl_legacy_log_id("/d/x.txt", got, sizeof(got)), -1);
	assert_int_equal(kl_legacy_log_id("/d/nodash.log", got, sizeof(got)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_legacy_symlink_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
