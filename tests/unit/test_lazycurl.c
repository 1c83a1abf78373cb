/* lib/lazycurl: libcurl is not mapped until the first curl call, then every
 * forwarded function reaches the real one with its arguments intact
 * (checked through a file:// transfer: long, pointer, function pointer and
 * curl_off_t options, getinfo, escape, slists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "lib/lazycurl.h"

static bool curl_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	assert_non_null(f);
	char line[512];
	bool found = false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libcurl"))
			found = true;
	fclose(f);
	return found;
}

struct sink {
	char buf[256];
	size_t len;
};

static size_t write_cb(char *p, size_t sz, size_t n, void *user)
{
	struct sink *s = user;
	size_t k = sz * n;
	if (s->len + k > sizeof(s->buf))
		return 0;
	memcpy(s->buf + s->len, p, k);
	s->len += k;
	return k;
}

static void test_loaded_on_first_use(void **state)
{
	(void)state;
	/* Nothing in this process has called curl yet (this test runs first). */
	assert_false(ndl_lazycurl_loaded());
	assert_false(curl_mapped());
	/* curl_global_init is kept for the first real call, not a load. */
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_false(ndl_lazycurl_loaded());
	assert_false(curl_mapped());
	CURL *c = curl_easy_init();
	assert_non_null(c);
	assert_true(ndl_lazycurl_loaded());
	assert_true(curl_mapped());
	curl_easy_cleanup(c);
	/* Once loaded, curl_global_init goes straight through. */
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
	assert_string_equal(curl_easy_strerror(CURLE_COULDNT_CONNECT),
			    "Couldn't connect to server");
}

static void test_file_transfer(void **state)
{
	(void)state;
	char path[] = "/tmp/test_lazycurl.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char data[] = "hello through the forwarders\n";
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	char url[128];
	snprintf(url, sizeof(url), "file://%s", path);

	CURL *h = curl_easy_init();
	assert_non_null(h);
	struct sink s = {.len = 0};
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-One: 1");
	hdrs = curl_slist_append(hdrs, "X-Two: 2");
	assert_non_null(hdrs);
	assert_string_equal(hdrs->next->data, "X-Two: 2");
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);     /* pointer */
	assert_int_equal(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L), CURLE_OK); /* long */
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &s), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1 << 20),
			 CURLE_OK); /* curl_off_t */
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(s.len, strlen(data));
	assert_memory_equal(s.buf, data, s.len);
	curl_off_t got = -1;
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
	assert_int_equal(got, (curl_off_t)strlen(data));
	char *eff = NULL;
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff), CURLE_OK);
	assert_string_equal(eff, url);

	/* The off_t option arrives as an off_t: resuming at offset 6 skips
	 * "hello ". */
	curl_easy_reset(h);
	s.len = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)6), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(s.len, strlen(data) - 6);
	assert_memory_equal(s.buf, data + 6, s.len);
	/* A missing file fails with libcurl's own code. */
	curl_easy_reset(h);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s.missing", url);
	curl_easy_setopt(h, CURLOPT_URL, missing);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	assert_int_equal(curl_easy_perform(h), CURLE_FILE_COULDNT_READ_FILE);

	char *esc = curl_easy_escape(h, "a b/c", 0);
	assert_string_equal(esc, "a%20b%2Fc");
	curl_free(esc);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loaded_on_first_use),
	    cmocka_unit_test(test_file_transfer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
