/* Unit tests for the CNI protocol library: versions, IP math, result
 * parsing and per-version conversion, config and environment parsing,
 * error codes and delegated plugin execution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni-plugins/skel/skel.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static json_t *J(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", s, je.text);
	return j;
}

static void test_versions(void **state)
{
	assert_int_equal(cni_version_parse("1.1.0"), CNI_VERSION_1_1_0);
	assert_int_equal(cni_version_parse("0.3.1"), CNI_VERSION_0_3_1);
	assert_int_equal(cni_version_parse(""), CNI_VERSION_0_1_0);
	assert_int_equal(cni_version_parse(NULL), CNI_VERSION_0_1_0);
	assert_int_equal(cni_version_parse("1.0"), CNI_VERSION_INVALID);
	assert_int_equal(cni_version_parse("2.0.0"), CNI_VERSION_INVALID);
	assert_string_equal(cni_version_str(CNI_VERSION_0_4_0), "0.4.0");
	assert_null(cni_version_str(CNI_VERSION_INVALID));
	assert_true(CNI_VERSION_0_4_0 < CNI_VERSION_1_0_0);
	size_t n = 0;
	while (cni_all_versions[n] != CNI_VERSION_INVALID)
		n++;
	assert_int_equal(n, 7);
}

static void test_ip_parse_format(void **state)
{
	struct cni_ip ip;
	char buf[CNI_IPNET_STRLEN];
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_ip_parse("10.1.2.3", &ip, &err), 0);
	assert_int_equal(ip.family, AF_INET);
	assert_string_equal(cni_ip_format(&ip, buf), "10.1.2.3");
	assert_int_equal(cni_ip_parse("::ffff:10.1.2.3", &ip, &err), 0);
	assert_int_equal(ip.family, AF_INET);
	assert_string_equal(cni_ip_format(&ip, buf), "10.1.2.3");
	/* Go-style IPv6 text (glibc would print "::10.0.0.1"). */
	assert_int_equal(cni_ip_parse("::a00:1", &ip, &err), 0);
	assert_string_equal(cni_ip_format(&ip, buf), "::a00:1");
	assert_int_equal(cni_ip_parse("2001:DB8:0:0:1:0:0:1", &ip, &err), 0);
	assert_string_equal(cni_ip_format(&ip, buf), "2001:db8::1:0:0:1");
	assert_int_equal(cni_ip_parse("2001:db8:0:1:1:1:1:1", &ip, &err), 0);
	assert_string_equal(cni_ip_format(&ip, buf), "2001:db8:0:1:1:1:1:1");
	assert_int_equal(cni_ip_parse("fd00::", &ip, &err), 0);
	assert_string_equal(cni_ip_format(&ip, buf), "fd00::");
	assert_int_equal(cni_ip_parse("::", &ip, &err), 0);
	assert_string_equal(cni_ip_format(&ip, buf), "::");
	/* The hand-written dotted quad against printf, every octet value in
	 * every position. */
	for (unsigned v = 0; v < 256; v++) {
		char want[CNI_IPNET_STRLEN];
		struct cni_ip q = {.family = AF_INET, .addr = {v, 255 - v, v / 3, v ^ 0x5a}};
		snprintf(want, sizeof(want), "%u.%u.%u.%u", q.addr[0], q.addr[1], q.addr[2],
			 q.addr[3]);
		assert_string_equal(cni_ip_format(&q, buf), want);
	}
	assert_true(cni_ip_parse("10.1.2", &ip, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_DECODE);
	assert_non_null(strstr(ndl_error_msg(&err), "\"10.1.2\""));
	assert_true(cni_ip_parse("", &ip, &err) < 0);
	assert_true(cni_ip_parse("1.2.3.4 ", &ip, &err) < 0);
	ndl_error_clear(&err);
}

static void test_ipnet(void **state)
{
	struct cni_ipnet n, m;
	char buf[CNI_IPNET_STRLEN];
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_ipnet_parse("10.1.2.3/24", &n, &err), 0);
	assert_int_equal(n.prefix, 24);
	assert_string_equal(cni_ipnet_format(&n, buf), "10.1.2.3/24");
	cni_ipnet_mask(&n, &m);
	assert_string_equal(cni_ipnet_format(&m, buf), "10.1.2.0/24");
	struct cni_ip ip;
	cni_ip_parse("10.1.2.255", &ip, NULL);
	assert_true(cni_ipnet_contains(&n, &ip));
	cni_ip_parse("10.1.3.0", &ip, NULL);
	assert_false(cni_ipnet_contains(&n, &ip));
	cni_ip_parse("fd00::1", &ip, NULL);
	assert_false(cni_ipnet_contains(&n, &ip));
	assert_int_equal(cni_ipnet_parse("fd00::5/61", &n, &err), 0);
	cni_ipnet_mask(&n, &m);
	assert_string_equal(cni_ipnet_format(&m, buf), "fd00::/61");
	const char *bad[] = {"10.0.0/8",  "10.0.0.0/33",   "10.0.0.0",
			     "10.0.0.0/", "10.0.0.0/a",	   "fd00::/129",
			     "/8",	  "10.0.0.0/0008", "x/8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(cni_ipnet_parse(bad[i], &n, &err) < 0);
		assert_int_equal(cni_error_code(&err), CNI_ERR_DECODE);
	}
	assert_int_equal(cni_ipnet_parse("0.0.0.0/0", &n, &err), 0);
	ndl_error_clear(&err);
}

static void test_ip_next_prev_cmp(void **state)
{
	struct cni_ip a, b;
	char buf[CNI_IPNET_STRLEN];
	cni_ip_parse("10.0.0.255", &a, NULL);
	cni_ip_next(&a);
	assert_string_equal(cni_ip_format(&a, buf), "10.0.1.0");
	cni_ip_prev(&a);
	assert_string_equal(cni_ip_format(&a, buf), "10.0.0.255");
	cni_ip_parse("255.255.255.255", &a, NULL);
	cni_ip_next(&a);
	assert_string_equal(cni_ip_format(&a, buf), "0.0.0.0");
	cni_ip_parse("fd00::ffff", &a, NULL);
	cni_ip_next(&a);
	assert_string_equal(cni_ip_format(&a, buf), "fd00::1:0");
	cni_ip_parse("10.0.0.1", &a, NULL);
	cni_ip_parse("10.0.0.2", &b, NULL);
	assert_int_equal(cni_ip_cmp(&a, &b), -1);
	assert_int_equal(cni_ip_cmp(&b, &a), 1);
	assert_int_equal(cni_ip_cmp(&a, &a), 0);
	cni_ip_parse("::1", &b, NULL);
	assert_int_equal(cni_ip_cmp(&a, &b), -1);
	assert_false(cni_ip_equal(&a, &b));
}

static const char *FULL_RESULT =
    "{\"cniVersion\":\"1.1.0\","
    "\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"02:00:00:00:00:01\",\"mtu\":1450},"
    "{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:02\",\"sandbox\":\"/run/netns/x\","
    "\"socketPath\":\"/s\",\"pciID\":\"0000:00:01.0\"}],"
    "\"ips\":[{\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
    "{\"address\":\"fd01::5/64\"}],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"table\":0},"
    "{\"dst\":\"::/0\",\"priority\":5,\"scope\":253,\"advmss\":1300}],"
    "\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"d\",\"search\":[\"a\",\"b\"],"
    "\"options\":[\"ndots:5\"]}}";

static void roundtrip(const char *in, enum cni_version v, const char *want)
{
	cleanup_json json_t *j = J(in);
	struct cni_result *r = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cni_result_from_json(j, CNI_VERSION_INVALID, "result", &r, &err) < 0)
		fail_msg("parse: %s", ndl_error_msg(&err));
	json_t *out = NULL;
	if (cni_result_to_json(r, v, &out, &err) < 0)
		fail_msg("to_json: %s", ndl_error_msg(&err));
	cleanup_json json_t *w = J(want);
	if (!json_equal(out, w)) {
		char *s = json_dumps(out, JSON_SORT_KEYS);
		fail_msg("got %s", s);
	}
	json_decref(out);
	cni_result_free(r);
}

static void test_result_versions(void **state)
{
	/* 1.1.0 keeps everything. */
	roundtrip(FULL_RESULT, CNI_VERSION_1_1_0, FULL_RESULT);
	/* 0.4.0: "version" in ips, interface mtu/socketPath/pciID dropped,
	 * "dns" always present. */
	roundtrip(
	    FULL_RESULT, CNI_VERSION_0_4_0,
	    "{\"cniVersion\":\"0.4.0\","
	    "\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"02:00:00:00:00:01\"},"
	    "{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:02\",\"sandbox\":\"/run/netns/x\"}],"
	    "\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.5/"
	    "24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
	    "{\"version\":\"6\",\"address\":\"fd01::5/64\"}],"
	    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"table\":0},"
	    "{\"dst\":\"::/0\",\"priority\":5,\"scope\":253,\"advmss\":1300}],"
	    "\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"d\",\"search\":[\"a\",\"b\"],"
	    "\"options\":[\"ndots:5\"]}}");
	/* 0.2.0: first address per family, routes by family. */
	roundtrip(
	    FULL_RESULT, CNI_VERSION_0_2_0,
	    "{\"cniVersion\":\"0.2.0\","
	    "\"ip4\":{\"ip\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\","
	    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"}]},"
	    "\"ip6\":{\"ip\":\"fd01::5/64\",\"routes\":[{\"dst\":\"::/0\"}]},"
	    "\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"d\",\"search\":[\"a\",\"b\"],"
	    "\"options\":[\"ndots:5\"]}}");
	/* 0.2.0 in, 1.0.0 out. */
	roundtrip(
	    "{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.2.0.3/16\",\"gateway\":\"10.2.0.1\","
	    "\"routes\":[{\"dst\":\"1.0.0.0/8\"}]},\"dns\":{}}",
	    CNI_VERSION_1_0_0,
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.2.0.3/"
	    "16\",\"gateway\":\"10.2.0.1\"}],"
	    "\"routes\":[{\"dst\":\"1.0.0.0/8\"}],\"dns\":{}}");
	/* 0.3.1 in (with version), 1.0.0 out drops it and keeps an empty dns
	 * (as the reference prints it). */
	roundtrip(
	    "{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"4\",\"address\":\"10.3.0.3/16\"}],"
	    "\"dns\":{}}",
	    CNI_VERSION_1_0_0,
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.3.0.3/16\"}],\"dns\":{}}");
}

static void test_result_to_020_needs_ip(void **state)
{
	struct cni_result *r = cni_result_new();
	cni_result_add_interface(r, "lo", NULL, "/ns");
	json_t *out = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cni_result_to_json(r, CNI_VERSION_0_2_0, &out, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INCOMPATIBLE_VERSION);
	assert_true(cni_result_to_json(r, CNI_VERSION_INVALID, &out, &err) < 0);
	ndl_error_clear(&err);
	cni_result_free(r);
}

static void expect_bad_result(const char *in, const char *frag)
{
	cleanup_json json_t *j = J(in);
	struct cni_result *r = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cni_result_from_json(j, CNI_VERSION_INVALID, "prevResult", &r, &err) == 0)
		fail_msg("accepted %s", in);
	if (!strstr(ndl_error_msg(&err), frag))
		fail_msg("error \"%s\" lacks \"%s\"", ndl_error_msg(&err), frag);
	int code = cni_error_code(&err);
	assert_true(code == CNI_ERR_DECODE || code == CNI_ERR_INCOMPATIBLE_VERSION);
	ndl_error_clear(&err);
}

static void test_result_errors(void **state)
{
	expect_bad_result("[]", "field \"prevResult\": expected object");
	expect_bad_result("{\"cniVersion\":\"7.0.0\"}", "prevResult.cniVersion");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"ips\":[{}]}", "prevResult.ips[0].address");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"1.2.3.4\"}]}",
			  "prevResult.ips[0].address");
	expect_bad_result(
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"1.2.3.4/8\",\"gateway\":\"x\"}]}",
	    "prevResult.ips[0].gateway");
	expect_bad_result(
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"1.2.3.4/8\",\"interface\":0}]}",
	    "prevResult.ips[0].interface");
	expect_bad_result(
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"1.2.3.4/8\",\"interface\":-5}]}",
	    "prevResult.ips[0].interface");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"interfaces\":[7]}",
			  "prevResult.interfaces[0]");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":1}]}",
			  "prevResult.interfaces[0].name");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"mtu\":-1}]}",
			  "prevResult.interfaces[0].mtu");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":\"1.2.3.4\"}]}",
			  "prevResult.routes[0].dst");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"routes\":{}}", "prevResult.routes");
	/* Reals beyond int64 must not reach a float-to-int conversion. */
	expect_bad_result(
	    "{\"cniVersion\":\"1.0.0\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"mtu\":1e300}]}",
	    "prevResult.routes[0].mtu");
	expect_bad_result(
	    "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"1.2.3.4/8\",\"interface\":-1e19}]}",
	    "prevResult.ips[0].interface");
	expect_bad_result("{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":[1]}}",
			  "prevResult.dns.nameservers[0]");
	expect_bad_result("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"fd00::1/64\"}}",
			  "prevResult.ip4.ip");
}

static int parse_conf(const char *s, struct cni_conf *c, ndl_error_t *err)
{
	return cni_conf_parse(xstrdup(s), strlen(s), c, err);
}

static void test_conf_parse(void **state)
{
	struct cni_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	const char *s =
	    "{\"cniVersion\":\"1.1.0\",\"name\":\"net-1.a_b\",\"type\":\"bridge\","
	    "\"ipam\":{\"type\":\"host-local\"},\"dns\":{\"nameservers\":[\"1.1.1.1\"]},"
	    "\"runtimeConfig\":{\"ips\":[\"10.0.0.5\"]},\"capabilities\":{\"ips\":true},"
	    "\"args\":{\"cni\":{}},"
	    "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"}],"
	    "\"prevResult\":{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"10.0.0.5/24\"}]}}";
	if (parse_conf(s, &c, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_int_equal(c.version, CNI_VERSION_1_1_0);
	assert_string_equal(c.name, "net-1.a_b");
	assert_string_equal(c.type, "bridge");
	assert_string_equal(c.ipam_type, "host-local");
	assert_true(c.has_dns);
	assert_int_equal(c.dns.n_nameservers, 1);
	assert_non_null(c.runtime_config);
	assert_non_null(c.capabilities);
	assert_non_null(c.args);
	assert_true(c.has_valid_attachments);
	assert_int_equal(c.n_valid_attachments, 1);
	assert_string_equal(c.valid_attachments[0].ifname, "eth0");
	assert_non_null(c.prev_result);
	assert_int_equal(c.prev_result->n_ips, 1);
	cni_conf_clear(&c);

	/* cniVersion missing means 0.1.0. */
	assert_int_equal(parse_conf("{\"name\":\"n\"}", &c, &err), 0);
	assert_int_equal(c.version, CNI_VERSION_0_1_0);
	cni_conf_clear(&c);
	/* Unknown version parses; the dispatcher rejects it. */
	assert_int_equal(parse_conf("{\"name\":\"n\",\"cniVersion\":\"3.0.0\"}", &c, &err), 0);
	assert_int_equal(c.version, CNI_VERSION_INVALID);
	cni_conf_clear(&c);
	ndl_error_clear(&err);
}

static void expect_bad_conf(const char *s, int code, const char *frag)
{
	struct cni_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	cni_error_set_details(NULL);
	if (parse_conf(s, &c, &err) == 0)
		fail_msg("accepted %s", s);
	if (cni_error_code(&err) != code || !strstr(ndl_error_msg(&err), frag))
		fail_msg("%s: code %d \"%s\", want %d \"%s\"", s, cni_error_code(&err),
			 ndl_error_msg(&err), code, frag);
	ndl_error_clear(&err);
}

static void test_conf_errors(void **state)
{
	expect_bad_conf("", 6, "error unmarshall network config");
	expect_bad_conf("{", 6, "error unmarshall network config");
	expect_bad_conf("\"x\"", 6, "expected object");
	expect_bad_conf("{\"name\":\"a\",\"name\":\"b\"}", 6, "error unmarshall");
	expect_bad_conf("{\"cniVersion\":\"1.0.0\"}", 7, "missing network name");
	expect_bad_conf("{\"name\":5}", 7, "field \"name\": expected string");
	expect_bad_conf("{\"name\":\"a/b\"}", 7, "invalid characters found in network name");
	assert_string_equal(cni_error_details(), "a/b");
	expect_bad_conf("{\"name\":\"n\",\"cniVersion\":1}", 6, "field \"cniVersion\"");
	expect_bad_conf("{\"name\":\"n\",\"ipam\":[]}", 7, "field \"ipam\": expected object");
	expect_bad_conf("{\"name\":\"n\",\"ipam\":{\"type\":1}}", 7, "field \"ipam.type\"");
	expect_bad_conf("{\"name\":\"n\",\"dns\":{\"search\":\"x\"}}", 7, "field \"dns.search\"");
	expect_bad_conf("{\"name\":\"n\",\"runtimeConfig\":1}", 7, "field \"runtimeConfig\"");
	expect_bad_conf("{\"name\":\"n\",\"cni.dev/valid-attachments\":{}}", 7,
			"cni.dev/valid-attachments");
	expect_bad_conf("{\"name\":\"n\",\"cni.dev/valid-attachments\":[{\"ifname\":\"e\"}]}", 7,
			"cni.dev/valid-attachments[0].containerID");
	expect_bad_conf("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"prevResult\":{\"ips\":[{}]}}",
			6, "prevResult.ips[0].address");
}

static void clear_cni_env(void)
{
	const char *vars[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
			      "CNI_IFNAME",  "CNI_ARGS",	"CNI_PATH"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void test_env(void **state)
{
	struct cni_env e;
	ndl_error_t err = NDL_ERROR_INIT;
	clear_cni_env();
	assert_true(cni_env_load(&e, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INVALID_ENV);
	assert_string_equal(ndl_error_msg(&err), "required env variables [CNI_COMMAND] missing");
	setenv("CNI_COMMAND", "ADD", 1);
	assert_true(cni_env_load(&e, &err) < 0);
	assert_string_equal(
	    ndl_error_msg(&err),
	    "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing");
	setenv("CNI_CONTAINERID", "abc", 1);
	setenv("CNI_NETNS", "/run/netns/x", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_PATH", "/opt/cni/bin", 1);
	assert_int_equal(cni_env_load(&e, &err), 0);
	assert_int_equal(e.command, CNI_CMD_ADD);
	assert_string_equal(e.ifname, "eth0");
	setenv("CNI_CONTAINERID", "a b", 1);
	assert_true(cni_env_load(&e, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "invalid characters in containerID");
	setenv("CNI_CONTAINERID", "abc", 1);
	setenv("CNI_IFNAME", "0123456789abcdef", 1);
	assert_true(cni_env_load(&e, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "interface name is too long");
	/* DEL needs no netns; GC and STATUS need only CNI_PATH. */
	clear_cni_env();
	setenv("CNI_COMMAND", "DEL", 1);
	setenv("CNI_CONTAINERID", "abc", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_PATH", "/p", 1);
	assert_int_equal(cni_env_load(&e, &err), 0);
	clear_cni_env();
	setenv("CNI_COMMAND", "GC", 1);
	assert_true(cni_env_load(&e, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "required env variables [CNI_PATH] missing");
	setenv("CNI_PATH", "/p", 1);
	assert_int_equal(cni_env_load(&e, &err), 0);
	setenv("CNI_COMMAND", "VERSION", 1);
	unsetenv("CNI_PATH");
	assert_int_equal(cni_env_load(&e, &err), 0);
	setenv("CNI_COMMAND", "NOPE", 1);
	assert_true(cni_env_load(&e, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "unknown CNI_COMMAND: NOPE");
	clear_cni_env();
	ndl_error_clear(&err);
}

static void test_env_args(void **state)
{
	struct cni_env e = {0};
	ndl_error_t err = NDL_ERROR_INIT;
	e.args = "IgnoreUnknown=1;IP=10.0.0.5;K8S_POD_NAME=a-b;EMPTY=";
	assert_int_equal(cni_env_parse_args(&e, &err), 0);
	assert_int_equal(e.n_kv, 4);
	assert_string_equal(cni_env_arg(&e, "IP"), "10.0.0.5");
	assert_string_equal(cni_env_arg(&e, "EMPTY"), "");
	assert_null(cni_env_arg(&e, "ip"));
	e.args = "A=1;B";
	assert_true(cni_env_parse_args(&e, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INVALID_ENV);
	assert_string_equal(ndl_error_msg(&err), "ARGS: invalid pair \"B\"");
	assert_int_equal(e.n_kv, 0);
	e.args = "A=1=2";
	assert_true(cni_env_parse_args(&e, &err) < 0);
	cni_env_clear(&e);
	ndl_error_clear(&err);
}

static void test_error_codes(void **state)
{
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_error_code(&err), CNI_ERR_INTERNAL);
	cni_error_set(&err, CNI_ERR_TRY_AGAIN, "busy %d", 1);
	assert_int_equal(cni_error_code(&err), 11);
	ndl_error_wrap(&err, "ctx");
	assert_int_equal(cni_error_code(&err), 11);
	assert_string_equal(ndl_error_msg(&err), "ctx: busy 1");
	ndl_error_set(&err, ENOENT, "open x");
	assert_int_equal(cni_error_code(&err), CNI_ERR_INTERNAL);
	cni_error_set_details("d");
	assert_string_equal(cni_error_details(), "d");
	cni_error_set_details("");
	assert_null(cni_error_details());
	ndl_error_clear(&err);
}

/* ---- delegated plugins ---- */

static char tmpdir[64];

static int exec_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cni-skel-test-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int exec_teardown(void **state)
{
	ndl_rm_rf(tmpdir, NULL);
	clear_cni_env();
	return 0;
}

static void write_script(const char *name, const char *body)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	char *s = xasprintf("#!/bin/sh\n%s\n", body);
	assert_int_equal(ndl_write_file_atomic(p, s, strlen(s), 0755, NULL), 0);
	free(s);
	free(p);
}

static struct cni_env env_for(const char *cmd, const char *path)
{
	clear_cni_env();
	setenv("CNI_COMMAND", cmd, 1);
	setenv("CNI_CONTAINERID", "ctr1", 1);
	setenv("CNI_NETNS", "/run/netns/none", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_PATH", path, 1);
	struct cni_env e;
	ndl_error_t err = NDL_ERROR_INIT;
	if (cni_env_load(&e, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	return e;
}

static void test_exec_fake_plugins(void **state)
{
	char *path = xasprintf("/nonexistent:%s", tmpdir);
	/* The delegate sees our environment with CNI_COMMAND replaced and the
	 * same stdin. */
	write_script(
	    "echoer",
	    "in=$(cat | tr -d '{}\\\":')\n"
	    "printf "
	    "'{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.9.9.9/8\"}],"
	    "\"dns\":{\"domain\":\"%s-%s-%s\"}}' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$in\"");
	struct cni_env e = env_for("DEL", path);
	ndl_error_t err = NDL_ERROR_INIT;
	struct cni_result *r = NULL;
	const char *in = "{\"x\":1}";
	assert_int_equal(cni_exec_plugin(&e, "echoer", CNI_CMD_ADD, in, strlen(in), &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(r->version, CNI_VERSION_0_4_0);
	assert_string_equal(r->dns.domain, "ADD-ctr1-x1");
	cni_result_free(r);

	/* A delegate's error becomes ours with code, msg and details. */
	write_script(
	    "failer",
	    "cat >/dev/null; echo '{\"code\":11,\"msg\":\"later\",\"details\":\"busy\"}'; exit 1");
	assert_true(cni_exec_plugin(&e, "failer", CNI_CMD_ADD, in, strlen(in), &r, &err) < 0);
	assert_int_equal(cni_error_code(&err), 11);
	assert_string_equal(ndl_error_msg(&err), "later");
	assert_string_equal(cni_error_details(), "busy");
	cni_error_set_details(NULL);

	write_script("garbage", "echo not-json; exit 3");
	assert_true(cni_exec_plugin(&e, "garbage", CNI_CMD_ADD, in, strlen(in), &r, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INTERNAL);
	assert_non_null(strstr(ndl_error_msg(&err), "error parsing its diagnostic message"));

	write_script("silent", "exit 2");
	assert_true(cni_exec_plugin(&e, "silent", CNI_CMD_DEL, in, strlen(in), NULL, &err) < 0);
	assert_string_equal(ndl_error_msg(&err),
			    "netplugin failed with no error message: exit status 2");

	write_script("killed", "kill -9 $$");
	assert_true(cni_exec_plugin(&e, "killed", CNI_CMD_DEL, in, strlen(in), NULL, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "signal"));

	write_script(
	    "badresult",
	    "cat >/dev/null; echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"x\"}]}'");
	assert_true(cni_exec_plugin(&e, "badresult", CNI_CMD_ADD, in, strlen(in), &r, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_DECODE);

	/* Big stdin does not deadlock against a delegate that writes first. */
	write_script("chatty", "head -c 200000 /dev/zero | tr '\\0' ' '; cat >/dev/null; echo "
			       "'{\"cniVersion\":\"1.0.0\"}'");
	size_t big = 300000;
	char *bigin = xmalloc(big);
	memset(bigin, ' ', big);
	assert_int_equal(cni_exec_plugin(&e, "chatty", CNI_CMD_ADD, bigin, big, &r, &err), 0);
	cni_result_free(r);
	free(bigin);

	/* A delegate that ignores stdin does not kill us with SIGPIPE. */
	write_script("deaf", "echo '{\"cniVersion\":\"1.0.0\"}'");
	bigin = xcalloc(1, 1 << 20);
	memset(bigin, ' ', (1 << 20) - 1);
	assert_int_equal(cni_exec_plugin(&e, "deaf", CNI_CMD_ADD, bigin, (1 << 20) - 1, &r, &err),
			 0);
	cni_result_free(r);
	free(bigin);

	assert_true(cni_exec_plugin(&e, "missing", CNI_CMD_ADD, in, strlen(in), &r, &err) < 0);
	/* the reference's FindInPath errors: code 999, Go's []string format */
	assert_int_equal(cni_error_code(&err), CNI_ERR_INTERNAL);
	assert_non_null(strstr(ndl_error_msg(&err), "failed to find plugin \"missing\" in path ["));
	assert_null(strchr(strstr(ndl_error_msg(&err), "in path ["), ':'));
	ndl_error_clear(&err);
	assert_true(cni_exec_plugin(&e, "../bin/sh", CNI_CMD_ADD, in, strlen(in), &r, &err) < 0);
	assert_int_equal(cni_error_code(&err), CNI_ERR_INTERNAL);
	assert_string_equal(ndl_error_msg(&err), "invalid plugin name: ../bin/sh");
	ndl_error_clear(&err);
	free(path);
}

/* Delegated IPAM against the real reference host-local (when installed). */
static void test_ipam_exec_reference(void **state)
{
	if (access("/usr/lib/cni/host-local", X_OK) != 0)
		skip();
	char *s = xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"skeltest\",\"type\":\"bridge\","
			    "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\","
			    "\"ranges\":[[{\"subnet\":\"10.77.0.0/30\"}]]}}",
			    tmpdir);
	struct cni_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_conf_parse(s, strlen(s), &c, &err), 0);
	struct cni_env e = env_for("ADD", "/usr/lib/cni");
	struct cni_result *r = NULL;
	if (cni_ipam_exec(&e, &c, CNI_CMD_ADD, &r, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_int_equal(r->n_ips, 1);
	char buf[CNI_IPNET_STRLEN];
	assert_string_equal(cni_ipnet_format(&r->ips[0].address, buf), "10.77.0.2/30");
	assert_string_equal(cni_ip_format(&r->ips[0].gateway, buf), "10.77.0.1");
	cni_result_free(r);
	/* Exhausted: the delegate's message comes through. */
	setenv("CNI_CONTAINERID", "ctr2", 1);
	e.container_id = getenv("CNI_CONTAINERID");
	assert_true(cni_ipam_exec(&e, &c, CNI_CMD_ADD, &r, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "no IP addresses available in range set"));
	e = env_for("DEL", "/usr/lib/cni");
	assert_int_equal(cni_ipam_exec(&e, &c, CNI_CMD_DEL, NULL, &err), 0);
	char *lease = xasprintf("%s/skeltest/10.77.0.2", tmpdir);
	assert_false(ndl_path_exists(lease));
	free(lease);
	cni_conf_clear(&c);
	ndl_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_ip_parse_format),
	    cmocka_unit_test(test_ipnet),
	    cmocka_unit_test(test_ip_next_prev_cmp),
	    cmocka_unit_test(test_result_versions),
	    cmocka_unit_test(test_result_to_020_needs_ip),
	    cmocka_unit_test(test_result_errors),
	    cmocka_unit_test(test_conf_parse),
	    cmocka_unit_test(test_conf_errors),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_env_args),
	    cmocka_unit_test(test_error_codes),
	    cmocka_unit_test_setup_teardown(test_exec_fake_plugins, exec_setup, exec_teardown),
	    cmocka_unit_test_setup_teardown(test_ipam_exec_reference, exec_setup, exec_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
