/* Unit tests for the bridge plugin's pure logic: configuration parsing and
 * validation, iptables chain naming (sha512), comments, veth and MAC
 * naming/parsing. Expected chain names come from Python's hashlib and from
 * a run of the reference plugin (name "mynet", id "abc"). The last test
 * waits for a port's operational state on a veth pair in a network
 * namespace of its own (skipped where one cannot be made). */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "cni-plugins/bridge/bridge.h"
#include "cni-plugins/netlink/netlink.h"
#include "lib/json.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha512_vectors(void **state)
{
	(void)state;
	uint8_t h[64];
	char s[129];
	bridge_sha512("", 0, h);
	hex(h, 64, s);
	assert_string_equal(s, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
			       "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
	bridge_sha512("abc", 3, h);
	hex(h, 64, s);
	assert_string_equal(s, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
			       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

/* Multi-block inputs and both padding cases (values from Python's hashlib). */
static void test_sha512_blocks(void **state)
{
	(void)state;
	uint8_t h[64];
	char s[129];
	char buf[200];
	memset(buf, 'a', sizeof(buf));
	bridge_sha512(buf, 200, h);
	hex(h, 64, s);
	assert_string_equal(s, "4b11459c33f52a22ee8236782714c150a3b2c60994e9acee17fe68947a3e6789"
			       "f31e7668394592da7bef827cddca88c4e6f86e4df7ed1ae6cba71f3e98faee9f");
	/* 111 bytes: padding fits one block; 112: needs a second. */
	bridge_sha512(buf, 111, h);
	hex(h, 64, s);
	assert_string_equal(s,
			    "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef86818196921"
			    "760b4beff48404df811b953828274461673c68d04e297b0eb7b2b4d60fc6b566a2");
	bridge_sha512(buf, 112, h);
	hex(h, 64, s);
	assert_string_equal(s,
			    "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc"
			    "32bd05f0f1ba33e568b88fd2d970929b719ecbb152f58f130a407c8830604b70ca");
}

static void test_chain_name(void **state)
{
	(void)state;
	char c[BRIDGE_CHAIN_LEN + 1];
	bridge_chain_name("mynet", "abc", c);
	assert_string_equal(c, "CNI-e88f49d94512ff752ebe6070");
	assert_int_equal(strlen(c), 28);
	bridge_chain_name("podman",
			  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", c);
	assert_string_equal(c, "CNI-a57a867b11d1e93fb32cd24e");
	bridge_chain_name("", "", c);
	assert_string_equal(c, "CNI-cf83e1357eefb8bdf1542850");
}

static void test_chain_comment(void **state)
{
	(void)state;
	char *s = bridge_chain_comment("mynet", "abc");
	assert_string_equal(s, "name: \"mynet\" id: \"abc\"");
	free(s);
	s = bridge_go_quote("a\"b\\c\n");
	assert_string_equal(s, "\"a\\\"b\\\\c\\n\"");
	free(s);
}

static void test_veth_name(void **state)
{
	(void)state;
	char n[16];
	const uint8_t r[4] = {0x00, 0x0a, 0xbc, 0xff};
	bridge_veth_name_from(r, n);
	assert_string_equal(n, "veth000abcff");
	ndl_error_t err = NDL_ERROR_INIT;
	char a[16], b[16];
	assert_int_equal(bridge_random_veth_name(a, &err), 0);
	assert_int_equal(bridge_random_veth_name(b, &err), 0);
	assert_int_equal(strlen(a), 12);
	assert_memory_equal(a, "veth", 4);
	/* 2^-32 chance of a false failure. */
	assert_string_not_equal(a, b);
}

static void test_mac(void **state)
{
	(void)state;
	uint8_t m[6];
	char s[NETLINK_MAC_STRLEN];
	assert_int_equal(netlink_mac_parse("0a:1B:2c:3d:4e:5f", m), 0);
	assert_string_equal(netlink_mac_format(m, 6, s), "0a:1b:2c:3d:4e:5f");
	assert_int_equal(netlink_mac_parse("0a-1b-2c-3d-4e-5f", m), 0);
	assert_int_equal(m[5], 0x5f);
	assert_int_equal(netlink_mac_parse("0a1b.2c3d.4e5f", m), 0);
	assert_string_equal(netlink_mac_format(m, 6, s), "0a:1b:2c:3d:4e:5f");
	assert_int_not_equal(netlink_mac_parse("0a:1b:2c:3d:4e", m), 0);
	assert_int_not_equal(netlink_mac_parse("0a:1b:2c:3d:4e:5g", m), 0);
	assert_int_not_equal(netlink_mac_parse("0a:1b-2c:3d:4e:5f", m), 0);
	assert_int_not_equal(netlink_mac_parse("", m), 0);
}

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	assert_non_null(j);
	return j;
}

static void test_conf_defaults(void **state)
{
	(void)state;
	json_t *j = J("{\"name\":\"n\",\"type\":\"bridge\"}");
	struct bridge_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(bridge_conf_parse(j, NULL, 0, &c, &err), 0);
	assert_string_equal(c.br_name, "cni0");
	assert_false(c.is_gw || c.is_default_gw || c.ip_masq || c.hairpin || c.promisc ||
		     c.force_address || c.macspoofchk || c.enable_dad || c.has_mac);
	assert_int_equal(c.mtu, 0);
	assert_int_equal(c.vlan, 0);
	json_decref(j);
}

static void test_conf_all_keys(void **state)
{
	(void)state;
	json_t *j = J("{\"name\":\"n\",\"bridge\":\"br-x\",\"isGateway\":true,"
		      "\"isDefaultGateway\":true,\"forceAddress\":true,\"ipMasq\":true,"
		      "\"mtu\":1400,\"hairpinMode\":true,\"promiscMode\":false,\"vlan\":100,"
		      "\"macspoofchk\":true,\"enabledad\":true}");
	struct bridge_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(bridge_conf_parse(j, NULL, 0, &c, &err), 0);
	assert_string_equal(c.br_name, "br-x");
	assert_true(c.is_gw && c.is_default_gw && c.force_address && c.ip_masq && c.hairpin &&
		    c.macspoofchk && c.enable_dad);
	assert_false(c.promisc);
	assert_int_equal(c.mtu, 1400);
	assert_int_equal(c.vlan, 100);
	json_decref(j);
}

static void expect_error(const char *conf, const char *needle)
{
	json_t *j = J(conf);
	struct bridge_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(bridge_conf_parse(j, NULL, 0, &c, &err) < 0);
	if (!strstr(ndl_error_msg(&err), needle))
		fail_msg("error \"%s\" does not mention \"%s\"", ndl_error_msg(&err), needle);
	ndl_error_clear(&err);
	json_decref(j);
}

static void test_conf_errors(void **state)
{
	(void)state;
	expect_error("{\"vlan\":4095}", "invalid VLAN ID 4095 (must be between 0 and 4094)");
	expect_error("{\"vlan\":-1}", "invalid VLAN ID -1");
	expect_error("{\"mtu\":\"1500\"}", "mtu");
	expect_error("{\"mtu\":-5}", "invalid MTU -5");
	expect_error("{\"isGateway\":\"yes\"}", "isGateway");
	expect_error("{\"bridge\":\"a-very-long-bridge-name\"}", "field \"bridge\"");
	expect_error("{\"bridge\":\"\"}", "field \"bridge\"");
	expect_error("{\"bridge\":\"a/b\"}", "field \"bridge\"");
	expect_error("{\"bridge\":7}", "bridge");
	expect_error("{\"runtimeConfig\":{\"mac\":\"zz\"}}", "runtimeConfig.mac");
	expect_error("{\"args\":{\"cni\":{\"mac\":\"01:02\"}}}", "args.cni.mac");
}

static void test_conf_mac_precedence(void **state)
{
	(void)state;
	struct cni_kv kv[2] = {{"IgnoreUnknown", "1"}, {"MAC", "02:00:00:00:00:01"}};
	struct bridge_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *j = J("{}");
	assert_int_equal(bridge_conf_parse(j, kv, 2, &c, &err), 0);
	assert_true(c.has_mac);
	assert_int_equal(c.mac[5], 1);
	json_decref(j);
	j = J("{\"args\":{\"cni\":{\"mac\":\"02:00:00:00:00:02\"}}}");
	assert_int_equal(bridge_conf_parse(j, kv, 2, &c, &err), 0);
	assert_int_equal(c.mac[5], 2);
	json_decref(j);
	j = J("{\"args\":{\"cni\":{\"mac\":\"02:00:00:00:00:02\"}},"
	      "\"runtimeConfig\":{\"mac\":\"02:00:00:00:00:03\"}}");
	assert_int_equal(bridge_conf_parse(j, kv, 2, &c, &err), 0);
	assert_int_equal(c.mac[5], 3);
	assert_string_equal(c.mac_str, "02:00:00:00:00:03");
	json_decref(j);
}

static void test_conf_cni_args(void **state)
{
	(void)state;
	struct bridge_conf c;
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *j = J("{}");
	/* Unknown keys fail unless IgnoreUnknown, as types.LoadArgs. */
	struct cni_kv kv1[2] = {{"K8S_POD_NAME", "p"}, {"FOO", "x"}};
	assert_true(bridge_conf_parse(j, kv1, 2, &c, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "ARGS: unknown args [\"K8S_POD_NAME\" \"FOO\"]");
	ndl_error_clear(&err);
	struct cni_kv kv2[2] = {{"K8S_POD_NAME", "p"}, {"IgnoreUnknown", "true"}};
	assert_int_equal(bridge_conf_parse(j, kv2, 2, &c, &err), 0);
	assert_false(c.has_mac);
	struct cni_kv kv3[1] = {{"IgnoreUnknown", "maybe"}};
	assert_true(bridge_conf_parse(j, kv3, 1, &c, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "boolean unmarshal error"));
	ndl_error_clear(&err);
	struct cni_kv kv4[1] = {{"MAC", "nope"}};
	assert_true(bridge_conf_parse(j, kv4, 1, &c, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "CNI_ARGS MAC"));
	ndl_error_clear(&err);
	json_decref(j);
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* netlink_link_wait_oper_up: a veth end whose peer is down stays
 * LOWERLAYERDOWN (timeout, state reported); once the peer is up the
 * notification ends the wait long before the timeout; polling (no
 * watcher) gets there too; an end already up returns at once. */
static void test_wait_oper_up(void **state)
{
	(void)state;
	struct stat before, after;
	if (stat("/proc/self/ns/net", &before) < 0 || unshare(CLONE_NEWNET) < 0 ||
	    stat("/proc/self/ns/net", &after) < 0)
		skip();
	/* Never touch the machine's own namespace. */
	assert_true(before.st_ino != after.st_ino);

	ndl_error_t err = NDL_ERROR_INIT;
	struct netlink_sock s = NETLINK_SOCK_INIT, mon = NETLINK_SOCK_INIT;
	assert_int_equal(netlink_open(&s, &err), 0);
	assert_int_equal(netlink_veth_add(&s, "wa", "wb", -1, 0, NULL, &err), 0);
	struct netlink_link a, b;
	assert_int_equal(netlink_link_get(&s, "wa", 0, &a, &err), 0);
	assert_int_equal(netlink_link_get(&s, "wb", 0, &b, &err), 0);
	assert_int_equal(netlink_link_set_up(&s, a.index, &err), 0);

	assert_int_equal(netlink_open(&mon, &err), 0);
	assert_int_equal(netlink_link_watch(&mon, &err), 0);
	uint8_t st = 0;
	long long t0 = now_ms();
	assert_int_equal(netlink_link_wait_oper_up(&s, &mon, a.index, 150, &st, &err), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 150);
	assert_int_equal(st, 3 /* IF_OPER_LOWERLAYERDOWN */);
	ndl_error_clear(&err);

	assert_int_equal(netlink_link_set_up(&s, b.index, &err), 0);
	t0 = now_ms();
	assert_int_equal(netlink_link_wait_oper_up(&s, &mon, a.index, 5000, NULL, &err), 0);
	assert_true(now_ms() - t0 < 1000);
	/* Already up: one GETLINK, with or without a watcher. */
	assert_int_equal(netlink_link_wait_oper_up(&s, NULL, a.index, 0, NULL, &err), 0);

	/* Down and up again, waited for by polling. */
	assert_int_equal(netlink_link_set_flags(&s, b.index, 0, 1 /* IFF_UP */, &err), 0);
	assert_int_equal(netlink_link_set_up(&s, b.index, &err), 0);
	assert_int_equal(netlink_link_wait_oper_up(&s, NULL, a.index, 5000, NULL, &err), 0);

	/* A link that is not there. */
	assert_true(netlink_link_wait_oper_up(&s, &mon, 999999, 10, NULL, &err) < 0);
	ndl_error_clear(&err);
	netlink_close(&mon);
	netlink_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha512_vectors), cmocka_unit_test(test_sha512_blocks),
	    cmocka_unit_test(test_chain_name),	   cmocka_unit_test(test_chain_comment),
	    cmocka_unit_test(test_veth_name),	   cmocka_unit_test(test_mac),
	    cmocka_unit_test(test_conf_defaults),  cmocka_unit_test(test_conf_all_keys),
	    cmocka_unit_test(test_conf_errors),	   cmocka_unit_test(test_conf_mac_precedence),
	    cmocka_unit_test(test_conf_cni_args),
	    /* last: it moves the process into a network namespace of its own */
	    cmocka_unit_test(test_wait_oper_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
