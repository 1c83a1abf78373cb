/* Unit tests of the nodelet-cri state store: record validation and
 * round-trip through disk, ID generation, name reservation, List filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cri/server/store.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static char *mktemp_dir(void)
{
	char tmpl[] = "/tmp/test_cri_store.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static json_t *sandbox(const char *id, const char *name, int state, json_t *labels,
		       long long created)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:I}", "id", id, "name", name, "state", state,
			      "created_at", (json_int_t)created);
	if (labels)
		json_object_set_new(j, "labels", labels);
	return j;
}

static json_t *container(const char *id, const char *name, const char *sid, int state,
			 json_t *labels)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:I}", "id", id, "name", name, "pod_sandbox_id",
			      sid, "state", state, "created_at", (json_int_t)1);
	if (labels)
		json_object_set_new(j, "labels", labels);
	return j;
}

static void test_names(void **state)
{
	char *s = cri_sandbox_name("web", "default", "uid-1", 0);
	assert_string_equal(s, "web_default_uid-1_0");
	char *c = cri_container_name("nginx", "web", "default", "uid-1", 2);
	assert_string_equal(c, "nginx_web_default_uid-1_2");
	free(s);
	free(c);
}

static void test_record_validation(void **state)
{
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *j = NULL;
	char id[65];
	memset(id, 'a', 64);
	id[64] = 0;

	/* Valid. */
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "{\"id\":\"%s\",\"name\":\"n\",\"state\":1,\"labels\":{\"a\":\"b\"}}", id);
	assert_int_equal(cri_record_parse(buf, strlen(buf), CRI_KIND_SANDBOX, &j, &err), 0);
	json_decref(j);

	struct {
		const char *json;
		enum cri_kind kind;
		const char *needle;
	} bad[] = {
	    {"[]", CRI_KIND_SANDBOX, "expected object"},
	    {"{\"name\":\"n\",\"state\":0}", CRI_KIND_SANDBOX, "field \"id\": required"},
	    {"{\"id\":\"abc\",\"name\":\"n\",\"state\":0}", CRI_KIND_SANDBOX, "64 lowercase hex"},
	    {NULL, CRI_KIND_SANDBOX, "field \"state\""}, /* state 7 */
	    {NULL, CRI_KIND_CONTAINER, "field \"pod_sandbox_id\": required"},
	    {NULL, CRI_KIND_SANDBOX, "field \"labels.a\": expected string"},
	    {"{\"id\":", CRI_KIND_SANDBOX, ""},
	};
	char tmp[3][512];
	snprintf(tmp[0], sizeof(tmp[0]), "{\"id\":\"%s\",\"name\":\"n\",\"state\":7}", id);
	snprintf(tmp[1], sizeof(tmp[1]), "{\"id\":\"%s\",\"name\":\"n\",\"state\":0}", id);
	snprintf(tmp[2], sizeof(tmp[2]),
		 "{\"id\":\"%s\",\"name\":\"n\",\"state\":0,\"labels\":{\"a\":1}}", id);
	bad[3].json = tmp[0];
	bad[4].json = tmp[1];
	bad[5].json = tmp[2];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = NULL;
		assert_true(
		    cri_record_parse(bad[i].json, strlen(bad[i].json), bad[i].kind, &j, &err) < 0);
		assert_null(j);
		if (!strstr(ndl_error_msg(&err), bad[i].needle))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, ndl_error_msg(&err),
				 bad[i].needle);
		ndl_error_clear(&err);
	}
}

static void test_ids_unique(void **state)
{
	char *root = mktemp_dir();
	struct cri_store *st = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_store_open(root, &st, &err), 0);
	char a[65], b[65];
	cri_store_new_id(st, a);
	cri_store_new_id(st, b);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	for (int i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	cri_store_close(st);
	ndl_rm_rf(root, NULL);
	free(root);
}

static void test_reserve_and_persist(void **state)
{
	char *root = mktemp_dir();
	struct cri_store *st = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_store_open(root, &st, &err), 0);
	char id1[65], id2[65], cid[65];
	cri_store_new_id(st, id1);
	cri_store_new_id(st, id2);
	cri_store_new_id(st, cid);

	/* Name reservation: same name for another id is AlreadyExists. */
	assert_int_equal(cri_store_reserve_name(st, "web_default_u1_0", id1, &err), 0);
	assert_int_equal(cri_store_reserve_name(st, "web_default_u1_0", id1, &err), 0);
	assert_int_equal(cri_store_reserve_name(st, "web_default_u1_0", id2, &err), -EEXIST);
	assert_non_null(strstr(ndl_error_msg(&err), id1));
	ndl_error_clear(&err);

	/* Adding needs the reservation. */
	json_t *s2 = sandbox(id2, "other_default_u2_0", 0, NULL, 2);
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, s2, NULL, &err), -EINVAL);
	assert_non_null(strstr(ndl_error_msg(&err), "not reserved"));
	ndl_error_clear(&err);
	assert_int_equal(cri_store_reserve_name(st, "other_default_u2_0", id2, &err), 0);
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, s2, NULL, &err), 0);
	json_decref(s2);

	json_t *s1 = sandbox(id1, "web_default_u1_0", 0, json_pack("{s:s}", "app", "web"), 1);
	struct cri_record *rec = NULL;
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, s1, &rec, &err), 0);
	json_decref(s1);
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, rec->data, NULL, &err), -EEXIST);
	ndl_error_clear(&err);

	/* Update and save under the record lock. */
	pthread_mutex_lock(&rec->lock);
	json_object_set_new(rec->data, "state", json_integer(1));
	json_object_set_new(rec->data, "netns", json_string("/run/x/netns"));
	assert_int_equal(cri_store_save(st, rec, &err), 0);
	pthread_mutex_unlock(&rec->lock);
	cri_store_put(rec);

	assert_int_equal(cri_store_reserve_name(st, "c_web_default_u1_0", cid, &err), 0);
	json_t *c = container(cid, "c_web_default_u1_0", id1, 2, NULL);
	assert_int_equal(cri_store_add(st, CRI_KIND_CONTAINER, c, NULL, &err), 0);
	json_decref(c);

	/* The file is there, as JSON with our fields. */
	char *path = xasprintf("%s/sandboxes/%s.json", root, id1);
	json_t *disk = NULL;
	assert_int_equal(ndl_json_load_file(path, &disk, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(disk, "state")), 1);
	assert_string_equal(json_string_value(json_object_get(disk, "netns")), "/run/x/netns");
	json_decref(disk);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(path);
	cri_store_close(st);

	/* Reload: records, order and reservations come back. A corrupt file is
	 * moved aside, not fatal. */
	char *junk = xasprintf("%s/sandboxes/%064d.json", root, 0);
	assert_int_equal(ndl_write_file_atomic(junk, "{broken", 7, 0600, &err), 0);
	st = NULL;
	assert_int_equal(cri_store_open(root, &st, &err), 0);
	assert_int_equal(cri_store_count(st, CRI_KIND_SANDBOX), 2);
	assert_int_equal(cri_store_count(st, CRI_KIND_CONTAINER), 1);
	char *moved = xasprintf("%s.bad", junk);
	assert_true(ndl_path_exists(moved));
	assert_false(ndl_path_exists(junk));
	free(moved);
	free(junk);
	assert_int_equal(cri_store_reserve_name(st, "web_default_u1_0", id2, &err), -EEXIST);
	ndl_error_clear(&err);
	struct cri_record **list = NULL;
	size_t n = 0;
	cri_store_list(st, CRI_KIND_SANDBOX, NULL, &list, &n);
	assert_int_equal(n, 2);
	assert_string_equal(list[0]->id, id1); /* created_at 1 before 2 */
	assert_string_equal(list[1]->id, id2);
	cri_store_list_free(list, n);

	/* Lookup by prefix. */
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%.12s", id1);
	rec = NULL;
	assert_int_equal(cri_store_get(st, CRI_KIND_SANDBOX, prefix, &rec, &err), 0);
	assert_string_equal(rec->id, id1);
	assert_int_equal(json_integer_value(json_object_get(rec->data, "state")), 1);
	assert_int_equal(
	    cri_store_get(st, CRI_KIND_SANDBOX, "zz", &(struct cri_record *){NULL}, &err), -ENOENT);
	ndl_error_clear(&err);
	assert_int_equal(
	    cri_store_get(st, CRI_KIND_SANDBOX, "", &(struct cri_record *){NULL}, &err), -EINVAL);
	ndl_error_clear(&err);

	/* Remove: file gone, name free, lookups fail; our reference stays valid. */
	assert_int_equal(cri_store_remove(st, rec, &err), 0);
	assert_string_equal(rec->id, id1);
	cri_store_put(rec);
	assert_int_equal(
	    cri_store_get(st, CRI_KIND_SANDBOX, id1, &(struct cri_record *){NULL}, &err), -ENOENT);
	ndl_error_clear(&err);
	assert_int_equal(cri_store_reserve_name(st, "web_default_u1_0", id2, &err), 0);
	cri_store_release_name(st, "web_default_u1_0");
	path = xasprintf("%s/sandboxes/%s.json", root, id1);
	assert_false(ndl_path_exists(path));
	free(path);
	cri_store_close(st);
	ndl_rm_rf(root, NULL);
	free(root);
}

static void test_ambiguous_prefix(void **state)
{
	char *root = mktemp_dir();
	struct cri_store *st = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_store_open(root, &st, &err), 0);
	char a[65], b[65];
	memset(a, 'a', 64);
	a[64] = 0;
	memcpy(b, a, 65);
	b[63] = 'b';
	assert_int_equal(cri_store_reserve_name(st, "x", a, &err), 0);
	assert_int_equal(cri_store_reserve_name(st, "y", b, &err), 0);
	json_t *ja = sandbox(a, "x", 0, NULL, 1), *jb = sandbox(b, "y", 0, NULL, 2);
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, ja, NULL, &err), 0);
	assert_int_equal(cri_store_add(st, CRI_KIND_SANDBOX, jb, NULL, &err), 0);
	json_decref(ja);
	json_decref(jb);
	struct cri_record *r = NULL;
	assert_int_equal(cri_store_get(st, CRI_KIND_SANDBOX, "aaaa", &r, &err), -EINVAL);
	assert_non_null(strstr(ndl_error_msg(&err), "ambiguous"));
	ndl_error_clear(&err);
	/* A full ID is exact even when it is a prefix of nothing else. */
	assert_int_equal(cri_store_get(st, CRI_KIND_SANDBOX, a, &r, &err), 0);
	assert_string_equal(r->id, a);
	cri_store_put(r);
	cri_store_close(st);
	ndl_rm_rf(root, NULL);
	free(root);
}

static void test_filters(void **state)
{
	char sid[65], cid[65];
	memset(sid, '1', 64);
	sid[64] = 0;
	memset(cid, 'c', 64);
	cid[64] = 0;
	json_t *c =
	    container(cid, "n", sid, 1, json_pack("{s:s, s:s}", "app", "web", "tier", "fe"));

	struct cri_filter f = {0};
	assert_true(cri_filter_match(NULL, c));
	assert_true(cri_filter_match(&f, c));
	f.id = "ccc";
	assert_true(cri_filter_match(&f, c));
	f.id = "cd";
	assert_false(cri_filter_match(&f, c));
	f.id = NULL;
	f.has_state = true;
	f.state = 1;
	assert_true(cri_filter_match(&f, c));
	f.state = 0; /* CONTAINER_CREATED: explicit state 0 is a real filter */
	assert_false(cri_filter_match(&f, c));
	f.has_state = false;
	f.pod_sandbox_id = "111";
	assert_true(cri_filter_match(&f, c));
	f.pod_sandbox_id = "2";
	assert_false(cri_filter_match(&f, c));
	f.pod_sandbox_id = NULL;
	json_t *sel = json_pack("{s:s}", "app", "web");
	f.label_selector = sel;
	assert_true(cri_filter_match(&f, c));
	json_object_set_new(sel, "tier", json_string("be"));
	assert_false(cri_filter_match(&f, c));
	json_object_set_new(sel, "tier", json_string("fe"));
	assert_true(cri_filter_match(&f, c));
	json_object_set_new(sel, "missing", json_string("x"));
	assert_false(cri_filter_match(&f, c));
	json_decref(sel);
	json_decref(c);
}

static void test_list_filter_store(void **state)
{
	char *root = mktemp_dir();
	struct cri_store *st = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_store_open(root, &st, &err), 0);
	char sid[65];
	cri_store_new_id(st, sid);
	for (int i = 0; i < 6; i++) {
		char id[65], name[32];
		cri_store_new_id(st, id);
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(cri_store_reserve_name(st, name, id, &err), 0);
		json_t *c = container(id, name, sid, i % 4,
				      json_pack("{s:s}", "parity", i % 2 ? "odd" : "even"));
		assert_int_equal(cri_store_add(st, CRI_KIND_CONTAINER, c, NULL, &err), 0);
		json_decref(c);
	}
	json_t *sel = json_pack("{s:s}", "parity", "odd");
	struct cri_filter f = {.label_selector = sel};
	struct cri_record **list;
	size_t n;
	cri_store_list(st, CRI_KIND_CONTAINER, &f, &list, &n);
	assert_int_equal(n, 3);
	cri_store_list_free(list, n);
	f.has_state = true;
	f.state = 1;
	cri_store_list(st, CRI_KIND_CONTAINER, &f, &list, &n);
	assert_int_equal(n, 2); /* i = 1, 5 */
	cri_store_list_free(list, n);
	json_decref(sel);
	cri_store_list(st, CRI_KIND_SANDBOX, NULL, &list, &n);
	assert_int_equal(n, 0);
	cri_store_list_free(list, n);
	cri_store_close(st);
	ndl_rm_rf(root, NULL);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_record_validation),
	    cmocka_unit_test(test_ids_unique),
	    cmocka_unit_test(test_reserve_and_persist),
	    cmocka_unit_test(test_ambiguous_prefix),
	    cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_list_filter_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
