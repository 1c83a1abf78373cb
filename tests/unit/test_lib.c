/* lib/: error wrapping, JSON accessors, YAML conversion, atomic writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/yaml2json.h"

static void test_error_wrap(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	int r = ndl_error_set(&err, EEXIST, "netlink");
	assert_int_equal(r, -EEXIST);
	ndl_error_wrap(&err, "setup veth %s", "eth0");
	r = ndl_error_wrap(&err, "ADD");
	assert_int_equal(r, -EEXIST);
	assert_string_equal(ndl_error_msg(&err), "ADD: setup veth eth0: netlink: File exists");
	ndl_error_setf(&err, EINVAL, "field \"%s\": required", "name");
	assert_string_equal(ndl_error_msg(&err), "field \"name\": required");
	assert_int_equal(ndl_error_set(NULL, 0, "x"), -EIO);
}

static void test_json_getters(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	cleanup_json json_t *j = NULL;
	const char *doc = "{\"name\":\"n\",\"mtu\":1500,\"f\":1500.0,\"b\":true,\"o\":{},\"a\":[],\"z\":null}";
	assert_int_equal(ndl_json_parse(doc, strlen(doc), &j, &err), 0);
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	json_t *o = NULL;
	assert_int_equal(ndl_json_get_string(j, NULL, "name", true, &s, &err), 0);
	assert_string_equal(s, "n");
	assert_int_equal(ndl_json_get_int(j, NULL, "mtu", true, &i, &err), 0);
	assert_int_equal(i, 1500);
	assert_int_equal(ndl_json_get_int(j, NULL, "f", true, &i, &err), 0);
	assert_int_equal(ndl_json_get_bool(j, NULL, "b", true, &b, &err), 0);
	assert_true(b);
	assert_int_equal(ndl_json_get_object(j, NULL, "o", true, &o, &err), 0);
	assert_int_equal(ndl_json_get_array(j, NULL, "a", true, &o, &err), 0);
	/* null and absent are "missing" */
	s = "untouched";
	assert_int_equal(ndl_json_get_string(j, NULL, "z", false, &s, &err), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(ndl_json_get_string(j, "ipam", "subnet", true, &s, &err), -EINVAL);
	assert_string_equal(ndl_error_msg(&err), "field \"ipam.subnet\": required");
	assert_int_equal(ndl_json_get_string(j, "", "mtu", true, &s, &err), -EINVAL);
	assert_string_equal(ndl_error_msg(&err), "field \"mtu\": expected string, got integer");
	cleanup_json json_t *huge = NULL;
	const char *hd = "{\"big\":1e300,\"neg\":-1e19,\"frac\":1.5}";
	assert_int_equal(ndl_json_parse(hd, strlen(hd), &huge, &err), 0);
	assert_int_equal(ndl_json_get_int(huge, NULL, "big", true, &i, &err), -EINVAL);
	assert_int_equal(ndl_json_get_int(huge, NULL, "neg", true, &i, &err), -EINVAL);
	assert_int_equal(ndl_json_get_int(huge, NULL, "frac", true, &i, &err), -EINVAL);
	json_t *bad = NULL;
	assert_int_equal(ndl_json_parse("{\"a\":1,\"a\":2}", 13, &bad, &err), -EINVAL);
	assert_int_equal(ndl_json_parse("{", 1, &bad, &err), -EINVAL);
	assert_non_null(strstr(ndl_error_msg(&err), "line 1"));
}

static void test_yaml(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	cleanup_json json_t *j = NULL;
	const char *y = "apiVersion: v1\n"
			"kind: Pod\n"
			"spec:\n"
			"  containers:\n"
			"  - name: web\n"
			"    ports: [{containerPort: 80}]\n"
			"    env: [{name: A, value: \"80\"}]\n"
			"  mode: 0644\n"
			"  hex: 0x1F\n"
			"  f: 1.5\n"
			"  t: true\n"
			"  n: ~\n"
			"  s: 'true'\n"
			"  anchor: &x {a: 1}\n"
			"  alias: *x\n";
	assert_int_equal(ndl_yaml_parse(y, strlen(y), &j, &err), 0);
	json_t *spec = json_object_get(j, "spec");
	assert_int_equal(json_integer_value(json_object_get(spec, "mode")), 0644);
	assert_int_equal(json_integer_value(json_object_get(spec, "hex")), 31);
	assert_true(json_is_real(json_object_get(spec, "f")));
	assert_true(json_is_true(json_object_get(spec, "t")));
	assert_true(json_is_null(json_object_get(spec, "n")));
	assert_string_equal(json_string_value(json_object_get(spec, "s")), "true");
	json_t *c0 = json_array_get(json_object_get(spec, "containers"), 0);
	json_t *p0 = json_array_get(json_object_get(c0, "ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(p0, "containerPort")), 80);
	json_t *e0 = json_array_get(json_object_get(c0, "env"), 0);
	assert_string_equal(json_string_value(json_object_get(e0, "value")), "80");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "alias"), "a")), 1);

	json_t *bad = NULL;
	const char *dup = "a: 1\na: 2\n";
	assert_true(ndl_yaml_parse(dup, strlen(dup), &bad, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "duplicate key"));
	const char *broken = "a: [1, 2\n";
	assert_true(ndl_yaml_parse(broken, strlen(broken), &bad, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "line"));

	json_t *all = NULL;
	const char *multi = "a: 1\n---\nb: 2\n";
	assert_int_equal(ndl_yaml_parse_all(multi, strlen(multi), &all, &err), 0);
	assert_int_equal(json_array_size(all), 2);
	json_decref(all);
}

static void test_atomic_write(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	char dir[] = "/tmp/ndl-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *sub = xasprintf("%s/a/b/c", dir);
	assert_int_equal(ndl_mkdir_p(sub, 0755, &err), 0);
	assert_int_equal(ndl_mkdir_p(sub, 0755, &err), 0);
	cleanup_free char *f = xasprintf("%s/state.json", sub);
	assert_int_equal(ndl_write_file_atomic(f, "one", 3, 0600, &err), 0);
	assert_int_equal(ndl_write_file_atomic(f, "second", 6, 0600, &err), 0);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	assert_int_equal(ndl_read_file(f, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "second");
	struct stat st;
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *small = NULL;
	assert_int_equal(ndl_read_file(f, 3, &small, &len, &err), -EFBIG);
	assert_int_equal(ndl_read_file("/nonexistent/x", 3, &small, &len, &err), -ENOENT);
	assert_int_equal(ndl_rm_rf(dir, &err), 0);
	assert_false(ndl_path_exists(dir));
	assert_int_equal(ndl_rm_rf(dir, &err), 0);
}

static void test_log_quote(void **state)
{
	char buf[64];
	assert_string_equal(ndl_log_quote("plain", buf, sizeof(buf)), "plain");
	assert_string_equal(ndl_log_quote("two words", buf, sizeof(buf)), "\"two words\"");
	assert_string_equal(ndl_log_quote("a\"b", buf, sizeof(buf)), "\"a\\\"b\"");
	assert_string_equal(ndl_log_quote("", buf, sizeof(buf)), "\"\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_wrap),   cmocka_unit_test(test_json_getters),
		cmocka_unit_test(test_yaml),         cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_log_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
