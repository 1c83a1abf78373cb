/* Unit tests for host-local: range defaults and validation, range sets,
 * configuration parsing (every source of ranges and requested IPs), the
 * lease store and the round-robin allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cni-hl-test-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	ndl_rm_rf(tmpdir, NULL);
	return 0;
}

static struct hl_range mkrange(const char *subnet, const char *start, const char *end,
			       const char *gw, int *ret, ndl_error_t *err)
{
	struct hl_range r = {0};
	cni_ipnet_parse(subnet, &r.subnet, NULL);
	if (start)
		cni_ip_parse(start, &r.start, NULL);
	if (end)
		cni_ip_parse(end, &r.end, NULL);
	if (gw)
		cni_ip_parse(gw, &r.gateway, NULL);
	*ret = hl_range_canonicalize(&r, start, end, gw, "ipam.ranges[0][0]", err);
	return r;
}

static const char *fmt(const struct cni_ip *ip)
{
	static char buf[4][CNI_IPNET_STRLEN];
	static int i;
	i = (i + 1) % 4;
	return cni_ip_format(ip, buf[i]);
}

static void test_range_defaults(void **state)
{
	int r;
	ndl_error_t err = NDL_ERROR_INIT;
	struct hl_range x = mkrange("10.1.0.0/24", NULL, NULL, NULL, &r, &err);
	assert_int_equal(r, 0);
	assert_string_equal(fmt(&x.start), "10.1.0.1");
	assert_string_equal(fmt(&x.end), "10.1.0.254");
	assert_string_equal(fmt(&x.gateway), "10.1.0.1");
	x = mkrange("fd00::/120", NULL, NULL, NULL, &r, &err);
	assert_int_equal(r, 0);
	assert_string_equal(fmt(&x.start), "fd00::1");
	assert_string_equal(fmt(&x.end), "fd00::ff"); /* no broadcast in IPv6 */
	x = mkrange("10.2.0.0/16", "10.2.1.0", "10.2.1.10", "10.2.0.254", &r, &err);
	assert_int_equal(r, 0);
	assert_string_equal(fmt(&x.start), "10.2.1.0");
	assert_string_equal(fmt(&x.gateway), "10.2.0.254");
	ndl_error_clear(&err);
}

static void expect_range_error(const char *subnet, const char *start, const char *end,
			       const char *gw, const char *frag)
{
	int r;
	ndl_error_t err = NDL_ERROR_INIT;
	mkrange(subnet, start, end, gw, &r, &err);
	assert_true(r < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INVALID_CONFIG);
	if (!strstr(ndl_error_msg(&err), frag))
		fail_msg("\"%s\" lacks \"%s\"", ndl_error_msg(&err), frag);
	ndl_error_clear(&err);
}

static void test_range_errors(void **state)
{
	expect_range_error(
	    "10.0.0.0/31", NULL, NULL, NULL,
	    "ipam.ranges[0][0].subnet\": Network 10.0.0.0/31 too small to allocate from");
	expect_range_error("fd00::/127", NULL, NULL, NULL, "too small");
	expect_range_error("10.0.0.5/24", NULL, NULL, NULL,
			   "Network has host bits set. For a subnet mask of length 24 the network "
			   "address is 10.0.0.0");
	expect_range_error(
	    "10.0.0.0/24", "10.0.1.1", NULL, NULL,
	    "ipam.ranges[0][0].rangeStart\": RangeStart 10.0.1.1 not in network 10.0.0.0/24");
	expect_range_error("10.0.0.0/24", NULL, "11.0.0.1", NULL,
			   "RangeEnd 11.0.0.1 not in network");
	expect_range_error("10.0.0.0/24", "10.0.0.50", "10.0.0.40", NULL,
			   "RangeStart 10.0.0.50 not in network");
	expect_range_error("10.0.0.0/24", "10.0.0.255", NULL, NULL, "is after RangeEnd");
	expect_range_error("10.0.0.0/24", "fd00::1", NULL, NULL, "rangeStart");
	expect_range_error("10.0.0.0/24", NULL, NULL, "fd00::1", "ipam.ranges[0][0].gateway");
}

static void test_range_contains_overlaps(void **state)
{
	int r;
	struct hl_range a = mkrange("10.0.0.0/24", "10.0.0.10", "10.0.0.20", NULL, &r, NULL);
	struct hl_range b = mkrange("10.0.0.0/24", "10.0.0.21", "10.0.0.30", NULL, &r, NULL);
	struct hl_range c = mkrange("10.0.0.0/24", "10.0.0.20", "10.0.0.30", NULL, &r, NULL);
	struct hl_range d = mkrange("fd00::/64", NULL, NULL, NULL, &r, NULL);
	struct cni_ip ip;
	cni_ip_parse("10.0.0.10", &ip, NULL);
	assert_true(hl_range_contains(&a, &ip));
	cni_ip_parse("10.0.0.9", &ip, NULL);
	assert_false(hl_range_contains(&a, &ip));
	cni_ip_parse("10.0.0.21", &ip, NULL);
	assert_false(hl_range_contains(&a, &ip));
	assert_false(hl_range_overlaps(&a, &b));
	assert_true(hl_range_overlaps(&a, &c));
	assert_true(hl_range_overlaps(&c, &b));
	assert_false(hl_range_overlaps(&a, &d));
	struct hl_range set[] = {a, b};
	struct hl_rangeset s = {set, 2};
	char *str = hl_rangeset_str(&s);
	assert_string_equal(str, "10.0.0.10-10.0.0.20,10.0.0.21-10.0.0.30");
	free(str);
	cni_ip_parse("10.0.0.25", &ip, NULL);
	assert_ptr_equal(hl_rangeset_find(&s, &ip), &set[1]);
	cni_ip_parse("10.0.0.35", &ip, NULL);
	assert_null(hl_rangeset_find(&s, &ip));
}

static void test_allocatable(void **state)
{
	int r;
	struct hl_range a = mkrange("10.0.0.0/30", "10.0.0.0", "10.0.0.3", "10.0.0.1", &r, NULL);
	assert_int_equal(r, 0);
	struct cni_ip ip;
	const char *cases[][2] = {
	    {"10.0.0.0", "n"}, {"10.0.0.1", "n"}, {"10.0.0.2", "y"}, {"10.0.0.3", "n"}};
	for (int i = 0; i < 4; i++) {
		cni_ip_parse(cases[i][0], &ip, NULL);
		assert_int_equal(hl_range_allocatable(&a, &ip), cases[i][1][0] == 'y');
	}
	struct hl_range v6 = mkrange("fd00::/126", NULL, NULL, NULL, &r, NULL);
	cni_ip_parse("fd00::3", &ip, NULL);
	assert_true(hl_range_allocatable(&v6, &ip));
	cni_ip_parse("fd00::", &ip, NULL);
	assert_false(hl_range_allocatable(&v6, &ip));
}

/* ---- configuration ---- */

static int parse(const char *json, const char *cni_args, struct cni_conf *conf, struct hl_config *c,
		 ndl_error_t *err)
{
	if (cni_conf_parse(xstrdup(json), strlen(json), conf, err) < 0)
		return -1;
	struct cni_env env = {.args = cni_args};
	int r = hl_config_parse(conf, &env, c, err);
	cni_env_clear(&env);
	return r;
}

static void test_config_sources(void **state)
{
	struct cni_conf conf;
	struct hl_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	const char *j =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"type\":\"host-local\","
	    "\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\",\"gateway\":\"10.1.0.254\","
	    "\"ranges\":[[{\"subnet\":\"fd00::/64\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
	    "\"resolvConf\":\"/etc/r\"},"
	    "\"runtimeConfig\":{\"ipRanges\":[[{\"subnet\":\"10.9.0.0/24\"}]],"
	    "\"ips\":[\"10.9.0.7/24\"]},"
	    "\"args\":{\"cni\":{\"ips\":[\"fd00::7\"]}}}";
	if (parse(j, "IgnoreUnknown=true;IP=10.1.0.50;FOO=bar", &conf, &c, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	/* runtimeConfig.ipRanges first, then the legacy range, then ranges. */
	assert_int_equal(c.n_sets, 3);
	assert_string_equal(fmt(&c.sets[0].ranges[0].start), "10.9.0.1");
	assert_string_equal(fmt(&c.sets[1].ranges[0].start), "10.1.0.10");
	assert_string_equal(fmt(&c.sets[1].ranges[0].gateway), "10.1.0.254");
	assert_string_equal(fmt(&c.sets[2].ranges[0].start), "fd00::1");
	/* Requested: CNI_ARGS, args.cni.ips, runtimeConfig.ips. */
	assert_int_equal(c.n_requested, 3);
	assert_string_equal(fmt(&c.requested[0]), "10.1.0.50");
	assert_string_equal(fmt(&c.requested[1]), "fd00::7");
	assert_string_equal(fmt(&c.requested[2]), "10.9.0.7");
	assert_int_equal(c.n_routes, 1);
	assert_string_equal(c.data_dir, HL_DEFAULT_DATA_DIR);
	assert_string_equal(c.resolv_conf, "/etc/r");
	hl_config_clear(&c);
	cni_conf_clear(&conf);
	ndl_error_clear(&err);
}

static const char *cfg_version = "0.4.0";

static void expect_config_error(const char *ipam, const char *args, int code, const char *frag)
{
	struct cni_conf conf = {0};
	struct hl_config c;
	ndl_error_t err = NDL_ERROR_INIT;
	char *j = xasprintf("{\"cniVersion\":\"%s\",\"name\":\"n\"%s%s}", cfg_version,
			    ipam ? ",\"ipam\":" : "", ipam ? ipam : "");
	if (parse(j, args, &conf, &c, &err) == 0)
		fail_msg("accepted %s", j);
	if (cni_error_code(&err) != code || !strstr(ndl_error_msg(&err), frag))
		fail_msg("%s: code %d \"%s\"; want %d \"%s\"", j, cni_error_code(&err),
			 ndl_error_msg(&err), code, frag);
	free(j);
	cni_conf_clear(&conf);
	ndl_error_clear(&err);
}

static void test_config_errors(void **state)
{
	expect_config_error(NULL, NULL, 7, "IPAM config missing 'ipam' key");
	expect_config_error("{}", NULL, 7, "no IP ranges specified");
	cfg_version = "0.2.0";
	expect_config_error(
	    "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"10.1.0.0/24\"}]]}", NULL, 7,
	    "CNI version 0.2.0 does not support more than 1 address per family");
	cfg_version = "0.4.0";
	expect_config_error("{\"subnet\":\"10.0.0.0/24\"}", "IP=10.0.0.300", 4, "CNI_ARGS IP");
	expect_config_error("{\"subnet\":\"10.0.0.0/24\"}", "X=1", 4,
			    "CNI_ARGS: unknown args [\"X=1\"]");
	expect_config_error("{\"subnet\":\"10.0.0.0/24\"}", "IgnoreUnknown=yes", 4,
			    "boolean unmarshal error");
	expect_config_error("{\"subnet\":\"10.0.0.0/24\"}", "A", 4, "ARGS: invalid pair");
	expect_config_error("{\"subnet\":\"10.0.0.0/24\",\"routes\":{}}", NULL, 7, "ipam.routes");
	expect_config_error(
	    "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"10.0.0.128/25\"}]]}", NULL,
	    7, "range set 0 overlaps with 1");
	expect_config_error("{\"subnet\":\"10.0.0.0/24\",\"resolvConf\":1}", NULL, 7,
			    "ipam.resolvConf");
}

static void test_config_limits(void **state)
{
	/* More ranges than HL_MAX_RANGES is refused, not looped over. */
	size_t cap = 64 * (HL_MAX_RANGES + 2) + 64;
	char *ranges = xmalloc(cap);
	size_t off = snprintf(ranges, cap, "{\"ranges\":[");
	for (int i = 0; i <= HL_MAX_RANGES; i++)
		off += snprintf(ranges + off, cap - off, "%s[{\"subnet\":\"10.%d.%d.0/24\"}]",
				i ? "," : "", i / 256, i % 256);
	snprintf(ranges + off, cap - off, "]}");
	expect_config_error(ranges, NULL, 7, "more than");
	free(ranges);
}

/* ---- store and allocator ---- */

static struct hl_rangeset one_set(struct hl_range *r, const char *subnet, const char *start,
				  const char *end)
{
	int rc;
	*r = mkrange(subnet, start, end, NULL, &rc, NULL);
	assert_int_equal(rc, 0);
	return (struct hl_rangeset){r, 1};
}

static char *alloc(struct hl_store *st, struct hl_rangeset *s, const char *id, const char *want,
		   ndl_error_t *err)
{
	struct cni_ipconfig ipc;
	struct cni_ip w;
	if (want)
		cni_ip_parse(want, &w, NULL);
	if (hl_allocate(st, s, 0, id, "eth0", want ? &w : NULL, &ipc, err) < 0)
		return NULL;
	char buf[CNI_IPNET_STRLEN];
	return xstrdup(cni_ipnet_format(&ipc.address, buf));
}

static void expect_alloc(struct hl_store *st, struct hl_rangeset *s, const char *id,
			 const char *want, const char *expect)
{
	ndl_error_t err = NDL_ERROR_INIT;
	char *got = alloc(st, s, id, want, &err);
	if (!got)
		fail_msg("%s: %s", id, ndl_error_msg(&err));
	assert_string_equal(got, expect);
	free(got);
}

static void expect_alloc_fail(struct hl_store *st, struct hl_rangeset *s, const char *id,
			      const char *want, const char *frag)
{
	ndl_error_t err = NDL_ERROR_INIT;
	char *got = alloc(st, s, id, want, &err);
	if (got)
		fail_msg("%s: got %s", id, got);
	if (!strstr(ndl_error_msg(&err), frag))
		fail_msg("\"%s\" lacks \"%s\"", ndl_error_msg(&err), frag);
	ndl_error_clear(&err);
}

static void test_allocator_round_robin(void **state)
{
	struct hl_store st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(hl_store_open(tmpdir, "rr", &st, &err), 0);
	struct hl_range r;
	struct hl_rangeset s = one_set(&r, "10.0.0.0/29", NULL, NULL);
	expect_alloc(&st, &s, "a", NULL, "10.0.0.2/29");
	expect_alloc(&st, &s, "b", NULL, "10.0.0.3/29");
	expect_alloc(&st, &s, "c", NULL, "10.0.0.4/29");
	assert_int_equal(hl_store_release_by_id(&st, "b", "eth0", &err), 0);
	/* Continues after the last reserved (.4), not at the freed .3. */
	expect_alloc(&st, &s, "d", NULL, "10.0.0.5/29");
	expect_alloc(&st, &s, "e", NULL, "10.0.0.6/29");
	expect_alloc(&st, &s, "f", NULL, "10.0.0.3/29"); /* wrapped */
	expect_alloc_fail(&st, &s, "g", NULL,
			  "no IP addresses available in range set: 10.0.0.1-10.0.0.6");
	expect_alloc_fail(&st, &s, "a", NULL,
			  "10.0.0.2 has been allocated to a, duplicate allocation is not allowed");
	bool free_left = true;
	assert_int_equal(hl_rangeset_has_free(&st, &s, &free_left, &err), 0);
	assert_false(free_left);
	assert_int_equal(hl_store_release_by_id(&st, "e", "eth0", &err), 0);
	assert_int_equal(hl_rangeset_has_free(&st, &s, &free_left, &err), 0);
	assert_true(free_left);
	/* Releasing an unknown container is not an error. */
	assert_int_equal(hl_store_release_by_id(&st, "zzz", "eth0", &err), 0);
	hl_store_close(&st);
	ndl_error_clear(&err);
}

static void test_allocator_requested(void **state)
{
	struct hl_store st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(hl_store_open(tmpdir, "req", &st, &err), 0);
	struct hl_range r;
	struct hl_rangeset s = one_set(&r, "10.0.0.0/24", "10.0.0.10", "10.0.0.20");
	expect_alloc(&st, &s, "a", "10.0.0.15", "10.0.0.15/24");
	expect_alloc_fail(
	    &st, &s, "b", "10.0.0.15",
	    "requested IP address 10.0.0.15 is not available in range set 10.0.0.10-10.0.0.20");
	expect_alloc_fail(&st, &s, "b", "10.0.0.21",
			  "10.0.0.21 not in range set 10.0.0.10-10.0.0.20");
	struct hl_range g;
	struct hl_rangeset sg = one_set(&g, "10.1.0.0/24", NULL, NULL);
	expect_alloc_fail(&st, &sg, "b", "10.1.0.1", "requested ip 10.1.0.1 is subnet's gateway");
	/* The round robin resumes after the requested address. */
	expect_alloc(&st, &s, "c", NULL, "10.0.0.16/24");
	hl_store_close(&st);
}

static void test_allocator_multi_range_and_v6(void **state)
{
	struct hl_store st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(hl_store_open(tmpdir, "multi", &st, &err), 0);
	int rc;
	struct hl_range rr[2] = {mkrange("10.0.0.0/30", NULL, NULL, NULL, &rc, NULL),
				 mkrange("10.0.1.0/30", NULL, NULL, NULL, &rc, NULL)};
	struct hl_rangeset s = {rr, 2};
	expect_alloc(&st, &s, "a", NULL, "10.0.0.2/30");
	expect_alloc(&st, &s, "b", NULL, "10.0.1.2/30");
	expect_alloc_fail(&st, &s, "c", NULL, "10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2");
	struct hl_range v6;
	struct hl_rangeset s6 = one_set(&v6, "fd00::/125", NULL, NULL);
	struct cni_ipconfig ipc;
	for (int i = 0; i < 6; i++) {
		char id[8];
		snprintf(id, sizeof(id), "v%d", i);
		assert_int_equal(hl_allocate(&st, &s6, 1, id, "eth0", NULL, &ipc, &err), 0);
	}
	assert_string_equal(fmt(&ipc.address.ip), "fd00::7");
	assert_true(hl_allocate(&st, &s6, 1, "v9", "eth0", NULL, &ipc, &err) < 0);
	hl_store_close(&st);
	ndl_error_clear(&err);
}

static void test_store_layout(void **state)
{
	struct hl_store st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(hl_store_open(tmpdir, "lay", &st, &err), 0);
	struct cni_ip ip;
	cni_ip_parse("10.5.0.9", &ip, NULL);
	assert_int_equal(hl_store_reserve(&st, " ctr ", "eth3", &ip, 2, &err), 1);
	assert_int_equal(hl_store_reserve(&st, "other", "eth0", &ip, 2, &err), 0);
	char *p = xasprintf("%s/lay/10.5.0.9", tmpdir);
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(ndl_read_file(p, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "ctr\r\neth3", 9);
	free(buf);
	free(p);
	p = xasprintf("%s/lay/last_reserved_ip.2", tmpdir);
	assert_int_equal(ndl_read_file(p, 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "10.5.0.9");
	free(buf);
	free(p);
	struct cni_ip last;
	assert_int_equal(hl_store_last_reserved(&st, 2, &last), 0);
	assert_true(cni_ip_equal(&last, &ip));
	assert_true(hl_store_last_reserved(&st, 0, &last) < 0);
	/* Stray files are not leases. */
	p = xasprintf("%s/lay/notes.txt", tmpdir);
	ndl_write_file_atomic(p, "ctr\r\neth3", 9, 0644, NULL);
	free(p);
	struct hl_lease *l;
	size_t n;
	assert_int_equal(hl_store_list(&st, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].id, "ctr");
	assert_string_equal(l[0].ifname, "eth3");
	hl_leases_free(l, n);
	struct cni_ip *mine;
	assert_int_equal(hl_store_get_by_id(&st, "ctr", "eth3", &mine, &n, &err), 0);
	assert_int_equal(n, 1);
	free(mine);
	assert_int_equal(hl_store_get_by_id(&st, "ctr", "eth4", &mine, &n, &err), 0);
	assert_int_equal(n, 0);
	free(mine);
	assert_int_equal(hl_store_release_by_id(&st, "ctr", "eth3", &err), 0);
	assert_int_equal(hl_store_list(&st, &l, &n, &err), 0);
	assert_int_equal(n, 0);
	free(l);
	hl_store_close(&st);
	ndl_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_defaults),
	    cmocka_unit_test(test_range_errors),
	    cmocka_unit_test(test_range_contains_overlaps),
	    cmocka_unit_test(test_allocatable),
	    cmocka_unit_test(test_config_sources),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_limits),
	    cmocka_unit_test(test_allocator_round_robin),
	    cmocka_unit_test(test_allocator_requested),
	    cmocka_unit_test(test_allocator_multi_range_and_v6),
	    cmocka_unit_test(test_store_layout),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
