/* Unit tests of the runtime-side CNI library: conflist loading and
 * validation, CNI_ARGS/env/stdin building, the libcni result cache format,
 * and plugin chaining with fake plugins (shell scripts; no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cri/network/cni.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test_cri_cni.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char *p = xasprintf("%s/%s", dir, name);
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(ndl_write_file_atomic(p, content, strlen(content), mode, &err), 0);
	free(p);
}

static char *read_text(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	char *buf = NULL;
	size_t len;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_read_file(p, 1 << 20, &buf, &len, &err) < 0) {
		ndl_error_clear(&err);
		buf = NULL;
	}
	free(p);
	return buf;
}

static void expect_parse_error(const char *json, bool is_list, const char *needle)
{
	struct cni_netconf *n = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cni_netconf_parse(json, strlen(json), is_list, "t.conflist", &n, &err) < 0);
	assert_null(n);
	if (!strstr(ndl_error_msg(&err), needle))
		fail_msg("\"%s\" lacks \"%s\"", ndl_error_msg(&err), needle);
	ndl_error_clear(&err);
}

static void test_parse_list(void **state)
{
	const char *ok =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"pod-net.1\",\"disableCheck\":\"true\","
	    "\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"portmap\",\"capabilities\":{"
	    "\"portMappings\":true}}]}";
	struct cni_netconf *n = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(ok, strlen(ok), true, "x", &n, &err), 0);
	assert_string_equal(n->name, "pod-net.1");
	assert_string_equal(n->cni_version, "1.0.0");
	assert_int_equal(n->n_plugins, 2);
	assert_true(n->disable_check);
	assert_string_equal(n->bytes, ok); /* cached verbatim, as libcni caches list.Bytes */
	cni_netconf_free(n);

	expect_parse_error("[1]", true, "expected a JSON object");
	expect_parse_error("{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", true,
			   "field \"name\": required");
	expect_parse_error("{\"name\":\"n\",\"plugins\":[{\"type\":\"a\"}]}", true,
			   "field \"cniVersion\": required");
	expect_parse_error(
	    "{\"name\":\"n\",\"cniVersion\":\"9.9.9\",\"plugins\":[{\"type\":\"a\"}]}", true,
	    "unsupported CNI version \"9.9.9\"");
	expect_parse_error("{\"name\":\"n\",\"cniVersion\":\"1.0.0\"}", true,
			   "field \"plugins\": required");
	expect_parse_error("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[]}", true,
			   "no plugins");
	expect_parse_error("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{}]}", true,
			   "field \"plugins[0].type\": required");
	expect_parse_error(
	    "{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"../sh\"}]}", true,
	    "invalid plugin type");
	expect_parse_error(
	    "{\"name\":\"-bad\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", true,
	    "invalid network name");
	expect_parse_error(
	    "{\"name\":\"a/b\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", true,
	    "invalid network name");
	expect_parse_error("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"disableCheck\":3,"
			   "\"plugins\":[{\"type\":\"a\"}]}",
			   true, "field \"disableCheck\"");
	expect_parse_error("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\","
			   "\"capabilities\":[]}]}",
			   true, "field \"plugins[0].capabilities\"");
	expect_parse_error("{\"name\":", true, "t.conflist");
}

static void test_parse_conf_wraps(void **state)
{
	const char *conf =
	    "{\"cniVersion\":\"0.4.0\",\"name\":\"single\",\"type\":\"bridge\",\"bridge\":\"br0\"}";
	struct cni_netconf *n = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(conf, strlen(conf), false, "x.conf", &n, &err), 0);
	assert_string_equal(n->name, "single");
	assert_int_equal(n->n_plugins, 1);
	json_t *p0 = json_array_get(json_object_get(n->list, "plugins"), 0);
	assert_string_equal(json_string_value(json_object_get(p0, "bridge")), "br0");
	/* The cache gets the wrapped list. */
	json_t *b = json_loads(n->bytes, 0, NULL);
	assert_non_null(json_object_get(b, "plugins"));
	json_decref(b);
	cni_netconf_free(n);
	expect_parse_error("{\"cniVersion\":\"0.4.0\",\"name\":\"x\",\"plugins\":[]}", false,
			   "perhaps this is a .conflist");
}

static void test_load_dir_order(void **state)
{
	char *d = tmpdir();
	ndl_error_t err = NDL_ERROR_INIT;
	struct cni_netconf *n = NULL;
	assert_int_equal(cni_netconf_load_dir(d, &n, &err), -ENOENT);
	assert_non_null(strstr(ndl_error_msg(&err), "no network config found"));
	ndl_error_clear(&err);

	write_file(d, "README", "not a config", 0644);
	write_file(d, "99-last.conflist",
		   "{\"cniVersion\":\"1.0.0\",\"name\":\"last\",\"plugins\":[{\"type\":\"a\"}]}",
		   0644);
	write_file(d, "20-mid.json",
		   "{\"cniVersion\":\"1.0.0\",\"name\":\"mid\",\"type\":\"bridge\"}", 0644);
	assert_int_equal(cni_netconf_load_dir(d, &n, &err), 0);
	assert_string_equal(n->name, "mid"); /* .json is a single conf */
	cni_netconf_free(n);

	write_file(d, "10-first.conf",
		   "{\"cniVersion\":\"1.0.0\",\"name\":\"first\",\"type\":\"x\"}", 0644);
	assert_int_equal(cni_netconf_load_dir(d, &n, &err), 0);
	assert_string_equal(n->name, "first");
	cni_netconf_free(n);

	/* The first file decides, as containerd's CNI layer: invalid means not ready. */
	write_file(d, "05-broken.conflist",
		   "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[]}", 0644);
	assert_true(cni_netconf_load_dir(d, &n, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "05-broken.conflist"));
	ndl_error_clear(&err);
	ndl_rm_rf(d, NULL);
	free(d);
}

static void test_args_env_stdin(void **state)
{
	struct cni_arg args[5];
	size_t n = cni_k8s_args(args, "default", "web", "abc", "uid-1");
	char *s = cni_args_string(args, n);
	assert_string_equal(s, "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
			       "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=uid-1;IgnoreUnknown=1");
	free(s);

	setenv("CNI_COMMAND", "BOGUS", 1);
	const char *dirs[] = {"/opt/cni/bin", "/usr/lib/cni", NULL};
	struct cni_config cfg = {.bin_dirs = dirs};
	struct cni_runtime rt = {.container_id = "abc",
				 .netns = "/run/netns/x",
				 .ifname = "eth0",
				 .args = args,
				 .n_args = n};
	char **env = cni_build_env("ADD", &cfg, &rt);
	int seen_cmd = 0;
	bool path = false, cnipath = false, netns = false, cniargs = false;
	for (char **e = env; *e; e++) {
		if (strncmp(*e, "CNI_COMMAND=", 12) == 0) {
			seen_cmd++;
			assert_string_equal(*e, "CNI_COMMAND=ADD");
		}
		path |= strncmp(*e, "PATH=", 5) == 0;
		cnipath |= strcmp(*e, "CNI_PATH=/opt/cni/bin:/usr/lib/cni") == 0;
		netns |= strcmp(*e, "CNI_NETNS=/run/netns/x") == 0;
		cniargs |= strncmp(*e, "CNI_ARGS=K8S_POD_NAMESPACE=default;", 35) == 0;
	}
	assert_int_equal(seen_cmd, 1);
	assert_true(path && cnipath && netns && cniargs);
	cni_env_free(env);
	unsetenv("CNI_COMMAND");

	const char *list =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"plugins\":["
	    "{\"type\":\"bridge\",\"name\":\"ignored\",\"prevResult\":{\"stale\":1}},"
	    "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":false}}]}";
	struct cni_netconf *net = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(list, strlen(list), true, "x", &net, &err), 0);
	json_t *caps = json_pack("{s:[{s:i,s:i,s:s}], s:{s:i}, s:[s]}", "portMappings", "hostPort",
				 8080, "containerPort", 80, "protocol", "tcp", "bandwidth",
				 "ingressRate", 1, "ips", "10.1.0.5/24");
	json_t *c0 = cni_plugin_stdin(net, 0, NULL, caps);
	assert_string_equal(json_string_value(json_object_get(c0, "name")), "net");
	assert_string_equal(json_string_value(json_object_get(c0, "cniVersion")), "1.0.0");
	assert_null(json_object_get(c0, "prevResult"));
	assert_null(json_object_get(c0, "runtimeConfig")); /* no capabilities declared */
	json_t *prev = json_pack("{s:s}", "cniVersion", "1.0.0");
	json_t *c1 = cni_plugin_stdin(net, 1, prev, caps);
	assert_true(json_equal(json_object_get(c1, "prevResult"), prev));
	json_t *rc = json_object_get(c1, "runtimeConfig");
	assert_non_null(json_object_get(rc, "portMappings"));
	assert_null(json_object_get(rc, "bandwidth")); /* declared false */
	assert_null(json_object_get(rc, "ips"));       /* not declared */
	json_decref(c0);
	json_decref(c1);
	json_decref(prev);
	json_decref(caps);
	cni_netconf_free(net);
}

static void test_cache_format(void **state)
{
	const char *list =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"plugins\":[{\"type\":\"bridge\"}]}";
	struct cni_netconf *net = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(list, strlen(list), true, "x", &net, &err), 0);
	struct cni_arg args[5];
	size_t n = cni_k8s_args(args, "ns", "p", "id", "u");
	json_t *caps = json_pack("{s:[]}", "portMappings");
	struct cni_runtime rt = {.container_id = "cid",
				 .netns = "/run/netns/a",
				 .ifname = "eth0",
				 .args = args,
				 .n_args = n,
				 .capability_args = caps};
	json_t *result =
	    json_pack("{s:s, s:[{s:s}]}", "cniVersion", "1.0.0", "ips", "address", "10.0.0.2/24");
	json_t *rec = cni_cache_record(net, &rt, result);
	assert_string_equal(json_string_value(json_object_get(rec, "kind")), "cniCacheV1");
	assert_string_equal(json_string_value(json_object_get(rec, "containerId")), "cid");
	assert_string_equal(json_string_value(json_object_get(rec, "ifName")), "eth0");
	assert_string_equal(json_string_value(json_object_get(rec, "networkName")), "net");
	assert_string_equal(json_string_value(json_object_get(rec, "netns")), "/run/netns/a");
	/* config is base64 of the list bytes, like Go's []byte in JSON. */
	assert_string_equal(json_string_value(json_object_get(rec, "config")),
			    "eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoibmV0IiwicGx1Z2lucyI6W3sidHlwZS"
			    "I6ImJyaWRnZSJ9XX0=");
	json_t *a0 = json_array_get(json_object_get(rec, "cniArgs"), 0);
	assert_string_equal(json_string_value(json_array_get(a0, 0)), "K8S_POD_NAMESPACE");
	assert_true(json_equal(json_object_get(rec, "result"), result));
	assert_true(json_equal(json_object_get(rec, "capabilityArgs"), caps));

	char *text = json_dumps(rec, 0);
	struct cni_netconf *back = NULL;
	json_t *rres = NULL, *rcaps = NULL;
	assert_int_equal(cni_cache_parse(text, strlen(text), &back, &rres, &rcaps, &err), 0);
	assert_string_equal(back->bytes, list);
	assert_true(json_equal(rres, result));
	assert_true(json_equal(rcaps, caps));
	cni_netconf_free(back);
	json_decref(rres);
	json_decref(rcaps);
	free(text);

	const char *bad[] = {
	    "{\"kind\":\"other\",\"config\":\"e30=\"}",
	    "{\"kind\":\"cniCacheV1\",\"config\":\"!!!\"}", "{\"kind\":\"cniCacheV1\"}",
	    "{\"kind\":\"cniCacheV1\",\"config\":\"e30=\"}", /* "{}": no name */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		back = NULL;
		assert_true(cni_cache_parse(bad[i], strlen(bad[i]), &back, NULL, NULL, &err) < 0);
		assert_null(back);
		ndl_error_clear(&err);
	}

	struct cni_config cfg = {.cache_dir = "/var/lib/cni"};
	char *p = cni_cache_path(&cfg, "net", "cid", "eth0");
	assert_string_equal(p, "/var/lib/cni/results/net-cid-eth0");
	free(p);
	json_decref(rec);
	json_decref(result);
	json_decref(caps);
	cni_netconf_free(net);
}

static void test_ip_ranges(void **state)
{
	assert_null(cni_ip_ranges(NULL));
	assert_null(cni_ip_ranges(""));
	assert_null(cni_ip_ranges(","));
	json_t *r = cni_ip_ranges("10.244.1.0/24,fd00:1::/64");
	json_t *want = json_loads(
	    "[[{\"subnet\":\"10.244.1.0/24\"}],[{\"subnet\":\"fd00:1::/64\"}]]", 0, NULL);
	assert_true(json_equal(r, want));
	json_decref(r);
	json_decref(want);
}

static void test_version_cmp(void **state)
{
	assert_true(cni_version_cmp("0.4.0", "1.0.0") < 0);
	assert_true(cni_version_cmp("1.1.0", "1.0.0") > 0);
	assert_int_equal(cni_version_cmp("0.3.1", "0.3.1"), 0);
	assert_true(cni_version_cmp("junk", "0.1.0") < 0);
}

/* A fake plugin: records its invocation and stdin, answers from env. */
static const char fake_plugin[] =
    "#!/bin/sh\n"
    "me=$(basename \"$0\")\n"
    "in=$(cat)\n"
    "echo \"$CNI_COMMAND $me $CNI_CONTAINERID $CNI_IFNAME\" >> \"$FAKE_DIR/log\"\n"
    "printf '%s' \"$in\" > \"$FAKE_DIR/stdin-$CNI_COMMAND-$me\"\n"
    "printf '%s' \"$CNI_NETNS|$CNI_ARGS\" > \"$FAKE_DIR/env-$CNI_COMMAND-$me\"\n"
    "if [ \"$FAIL_PLUGIN\" = \"$me\" ] && [ \"$CNI_COMMAND\" = \"$FAIL_CMD\" ]; then\n"
    "  echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"boom\",\"details\":\"from '$me'\"}'; "
    "exit 1\n"
    "fi\n"
    "if [ \"$SLOW_PLUGIN\" = \"$me\" ]; then sleep 5; fi\n"
    "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
    "  echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.9.0.2/24\"}],\"by\":\"'$me'\"}'\n"
    "fi\n";

struct fake {
	char *dir, *bin, *cache;
	const char *dirs[3];
	struct cni_config cfg;
	struct cni_netconf *net;
};

static void fake_setup(struct fake *f, const char *list)
{
	f->dir = tmpdir();
	f->bin = xasprintf("%s/bin", f->dir);
	f->cache = xasprintf("%s/cache", f->dir);
	mkdir(f->bin, 0755);
	write_file(f->bin, "pa", fake_plugin, 0755);
	write_file(f->bin, "pb", fake_plugin, 0755);
	write_file(f->bin, "pc", fake_plugin, 0755);
	setenv("FAKE_DIR", f->dir, 1);
	unsetenv("FAIL_PLUGIN");
	unsetenv("SLOW_PLUGIN");
	f->dirs[0] = "/nonexistent";
	f->dirs[1] = f->bin;
	f->dirs[2] = NULL;
	f->cfg =
	    (struct cni_config){.bin_dirs = f->dirs, .cache_dir = f->cache, .timeout_ms = 3000};
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(list, strlen(list), true, "x", &f->net, &err), 0);
}

static void fake_teardown(struct fake *f)
{
	cni_netconf_free(f->net);
	ndl_rm_rf(f->dir, NULL);
	free(f->dir);
	free(f->bin);
	free(f->cache);
}

static const char chain3[] = "{\"cniVersion\":\"1.0.0\",\"name\":\"chain\",\"plugins\":["
			     "{\"type\":\"pa\"},{\"type\":\"pb\"},{\"type\":\"pc\","
			     "\"capabilities\":{\"portMappings\":true}}]}";

static void test_exec_chain_add_del(void **state)
{
	struct fake f;
	fake_setup(&f, chain3);
	struct cni_arg args[5];
	size_t n = cni_k8s_args(args, "ns", "pod", "cid1", "uid");
	json_t *caps = json_pack("{s:[{s:i}]}", "portMappings", "hostPort", 8080);
	struct cni_runtime rt = {.container_id = "cid1",
				 .netns = "/proc/self/ns/net",
				 .ifname = "eth0",
				 .args = args,
				 .n_args = n,
				 .capability_args = caps};
	json_t *result = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_network_add(&f.cfg, f.net, &rt, &result, &err), 0);
	assert_string_equal(json_string_value(json_object_get(result, "by")), "pc");

	char *log = read_text(f.dir, "log");
	assert_string_equal(log, "ADD pa cid1 eth0\nADD pb cid1 eth0\nADD pc cid1 eth0\n");
	free(log);
	/* prevResult chains: pb got pa's result, pc got pb's; pc got runtimeConfig. */
	char *in_b = read_text(f.dir, "stdin-ADD-pb");
	json_t *jb = json_loads(in_b, 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(jb, "prevResult"), "by")), "pa");
	assert_null(json_object_get(jb, "runtimeConfig"));
	char *in_c = read_text(f.dir, "stdin-ADD-pc");
	json_t *jc = json_loads(in_c, 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(jc, "prevResult"), "by")), "pb");
	assert_non_null(json_object_get(json_object_get(jc, "runtimeConfig"), "portMappings"));
	json_decref(jb);
	json_decref(jc);
	free(in_b);
	free(in_c);

	/* Cached like libcni. */
	char *cache = read_text(f.cache, "results/chain-cid1-eth0");
	assert_non_null(cache);
	free(cache);

	/* CHECK passes the cached result to each plugin. */
	assert_int_equal(cni_network_check(&f.cfg, f.net, &rt, &err), 0);
	char *in_chk = read_text(f.dir, "stdin-CHECK-pa");
	assert_non_null(strstr(in_chk, "\"by\":\"pc\""));
	free(in_chk);

	/* The conflist changes (a plugin is dropped): DEL still runs the cached
	 * list, in reverse, with the cached result as prevResult. */
	const char *changed =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"chain\",\"plugins\":[{\"type\":\"pa\"}]}";
	struct cni_netconf *net2 = NULL;
	assert_int_equal(cni_netconf_parse(changed, strlen(changed), true, "y", &net2, &err), 0);
	char *logpath = xasprintf("%s/log", f.dir);
	unlink(logpath);
	free(logpath);
	struct cni_runtime rt_del = {
	    .container_id = "cid1", .ifname = "eth0", .args = args, .n_args = n};
	assert_int_equal(cni_network_del(&f.cfg, net2, &rt_del, &err), 0);
	log = read_text(f.dir, "log");
	assert_string_equal(log, "DEL pc cid1 eth0\nDEL pb cid1 eth0\nDEL pa cid1 eth0\n");
	free(log);
	char *in_del = read_text(f.dir, "stdin-DEL-pc");
	json_t *jd = json_loads(in_del, 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(jd, "prevResult"), "by")), "pc");
	/* The cached capability args come back for DEL (portmap needs them). */
	assert_non_null(json_object_get(json_object_get(jd, "runtimeConfig"), "portMappings"));
	json_decref(jd);
	free(in_del);
	cache = read_text(f.cache, "results/chain-cid1-eth0");
	assert_null(cache);
	/* A second DEL (no cache) still runs the current list, and succeeds. */
	assert_int_equal(cni_network_del(&f.cfg, net2, &rt_del, &err), 0);

	cni_netconf_free(net2);
	json_decref(result);
	json_decref(caps);
	fake_teardown(&f);
}

static void test_exec_failure_rolls_back(void **state)
{
	struct fake f;
	fake_setup(&f, chain3);
	setenv("FAIL_PLUGIN", "pb", 1);
	setenv("FAIL_CMD", "ADD", 1);
	struct cni_runtime rt = {
	    .container_id = "cid2", .netns = "/proc/self/ns/net", .ifname = "eth0"};
	json_t *result = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cni_network_add(&f.cfg, f.net, &rt, &result, &err) < 0);
	assert_null(result);
	const char *m = ndl_error_msg(&err);
	if (!strstr(m, "plugin \"pb\" ADD failed: code 7: boom (from pb)") || !strstr(m, "chain"))
		fail_msg("message: %s", m);
	ndl_error_clear(&err);
	char *log = read_text(f.dir, "log");
	/* pb failed: pb and pa are DELeted, pc never ran. */
	assert_string_equal(
	    log, "ADD pa cid2 eth0\nADD pb cid2 eth0\nDEL pb cid2 eth0\nDEL pa cid2 eth0\n");
	free(log);
	char *cache = read_text(f.cache, "results/chain-cid2-eth0");
	assert_null(cache);
	unsetenv("FAIL_PLUGIN");
	fake_teardown(&f);
}

static void test_exec_missing_and_timeout(void **state)
{
	const char *list =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"m\",\"plugins\":[{\"type\":\"nope\"}]}";
	struct fake f;
	fake_setup(&f, list);
	struct cni_runtime rt = {
	    .container_id = "c", .netns = "/proc/self/ns/net", .ifname = "eth0"};
	json_t *result = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cni_network_add(&f.cfg, f.net, &rt, &result, &err) < 0);
	assert_non_null(
	    strstr(ndl_error_msg(&err), "failed to find plugin \"nope\" in path [/nonexistent:"));
	ndl_error_clear(&err);

	/* Timeout: the plugin is killed and reaped; the error says so. */
	setenv("SLOW_PLUGIN", "pa", 1);
	f.cfg.timeout_ms = 300;
	char **env = cni_build_env("ADD", &f.cfg, &rt);
	json_t *out = NULL;
	assert_int_equal(cni_exec_plugin(&f.cfg, "pa", env, "{}", 2, "ADD", &out, &err),
			 -ETIMEDOUT);
	assert_non_null(strstr(ndl_error_msg(&err), "timed out"));
	ndl_error_clear(&err);
	cni_env_free(env);
	unsetenv("SLOW_PLUGIN");

	/* Missing args are refused before anything runs. */
	struct cni_runtime bad = {.container_id = "", .netns = "/x", .ifname = "eth0"};
	assert_int_equal(cni_network_add(&f.cfg, f.net, &bad, &result, &err), -EINVAL);
	ndl_error_clear(&err);
	fake_teardown(&f);
}

static void test_exec_plugin_garbage_output(void **state)
{
	char *d = tmpdir();
	write_file(d, "junk", "#!/bin/sh\ncat >/dev/null; echo 'not json'\n", 0755);
	write_file(d, "crash", "#!/bin/sh\necho 'oops on stderr' >&2; exit 3\n", 0755);
	const char *dirs[] = {d, NULL};
	struct cni_config cfg = {.bin_dirs = dirs, .timeout_ms = 3000};
	struct cni_runtime rt = {.container_id = "c", .netns = "/x", .ifname = "eth0"};
	char **env = cni_build_env("ADD", &cfg, &rt);
	json_t *out = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cni_exec_plugin(&cfg, "junk", env, "{}", 2, "ADD", &out, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "invalid result"));
	ndl_error_clear(&err);
	/* A plugin that exits without reading stdin: no SIGPIPE death for us. */
	char big[200000];
	memset(big, ' ', sizeof(big));
	assert_true(cni_exec_plugin(&cfg, "crash", env, big, sizeof(big), "ADD", &out, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "exit status 3: oops on stderr"));
	ndl_error_clear(&err);
	cni_env_free(env);
	ndl_rm_rf(d, NULL);
	free(d);
}

static const char chain3_11[] = "{\"cniVersion\":\"1.1.0\",\"name\":\"chain\",\"plugins\":["
				"{\"type\":\"pa\"},{\"type\":\"pb\"},{\"type\":\"pc\"}]}";

static void rm_log(struct fake *f)
{
	char *p = xasprintf("%s/log", f->dir);
	unlink(p);
	free(p);
}

static void test_status(void **state)
{
	struct fake f;
	fake_setup(&f, chain3_11);
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_network_status(&f.cfg, f.net, &err), 0);
	char *log = read_text(f.dir, "log");
	/* No container, netns or ifname: present in the env, empty. */
	assert_string_equal(log, "STATUS pa  \nSTATUS pb  \nSTATUS pc  \n");
	free(log);
	char *in = read_text(f.dir, "stdin-STATUS-pb");
	json_t *j = json_loads(in, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "chain");
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	assert_null(json_object_get(j, "prevResult"));
	json_decref(j);
	free(in);

	/* The first failing plugin ends it, with its CNI error. */
	rm_log(&f);
	setenv("FAIL_PLUGIN", "pb", 1);
	setenv("FAIL_CMD", "STATUS", 1);
	assert_true(cni_network_status(&f.cfg, f.net, &err) < 0);
	assert_string_equal(ndl_error_msg(&err), "CNI STATUS network \"chain\": plugin \"pb\" "
						 "STATUS failed: code 7: boom (from pb)");
	ndl_error_clear(&err);
	log = read_text(f.dir, "log");
	assert_string_equal(log, "STATUS pa  \nSTATUS pb  \n");
	free(log);
	unsetenv("FAIL_PLUGIN");
	fake_teardown(&f);

	/* Before 1.1.0 there is no STATUS: ready without asking. */
	fake_setup(&f, chain3);
	assert_int_equal(cni_network_status(&f.cfg, f.net, &err), 0);
	assert_null(read_text(f.dir, "log"));
	fake_teardown(&f);
}

static void gc_add(struct fake *f, struct cni_netconf *net, const char *id)
{
	struct cni_arg args[5];
	size_t n = cni_k8s_args(args, "ns", id, id, "uid");
	char *netns = xasprintf("/run/netns/%s", id);
	struct cni_runtime rt = {
	    .container_id = id, .netns = netns, .ifname = "eth0", .args = args, .n_args = n};
	json_t *result = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_network_add(&f->cfg, net, &rt, &result, &err), 0);
	json_decref(result);
	free(netns);
}

static bool cached(struct fake *f, const char *name)
{
	char *p = xasprintf("%s/results/%s", f->cache, name);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static void test_gc(void **state)
{
	struct fake f;
	fake_setup(&f, chain3_11);
	/* "chain-b" shares the file name prefix "chain-": never touched. */
	const char other[] = "{\"cniVersion\":\"1.1.0\",\"name\":\"chain-b\",\"plugins\":["
			     "{\"type\":\"pa\"}]}";
	struct cni_netconf *net_b = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_netconf_parse(other, strlen(other), true, "b", &net_b, &err), 0);
	gc_add(&f, f.net, "cid1");
	gc_add(&f, f.net, "cid2");
	gc_add(&f, f.net, "cid3");
	gc_add(&f, net_b, "cid9");
	rm_log(&f);

	struct cni_attachment valid[] = {{"cid2", "eth0"}};
	assert_int_equal(cni_network_gc(&f.cfg, f.net, valid, 1, &err), 0);
	char *log = read_text(f.dir, "log");
	/* Stale attachments DELeted (sorted, reverse chain), then each plugin's GC. */
	assert_string_equal(log, "DEL pc cid1 eth0\nDEL pb cid1 eth0\nDEL pa cid1 eth0\n"
				 "DEL pc cid3 eth0\nDEL pb cid3 eth0\nDEL pa cid3 eth0\n"
				 "GC pa  \nGC pb  \nGC pc  \n");
	free(log);
	/* The DEL had what the cache recorded: netns and CNI_ARGS. */
	char *env = read_text(f.dir, "env-DEL-pa");
	assert_string_equal(env, "/run/netns/cid3|K8S_POD_NAMESPACE=ns;K8S_POD_NAME=cid3;"
				 "K8S_POD_INFRA_CONTAINER_ID=cid3;K8S_POD_UID=uid;IgnoreUnknown=1");
	free(env);
	char *in = read_text(f.dir, "stdin-GC-pb");
	json_t *j = json_loads(in, 0, NULL);
	json_t *va = json_object_get(j, "cni.dev/valid-attachments");
	assert_int_equal(json_array_size(va), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(va, 0), "containerID")), "cid2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(va, 0), "ifname")),
			    "eth0");
	assert_true(json_equal(va, json_object_get(j, "cni.dev/attachments")));
	assert_string_equal(json_string_value(json_object_get(j, "name")), "chain");
	json_decref(j);
	free(in);
	assert_false(cached(&f, "chain-cid1-eth0"));
	assert_true(cached(&f, "chain-cid2-eth0"));
	assert_false(cached(&f, "chain-cid3-eth0"));
	assert_true(cached(&f, "chain-b-cid9-eth0"));

	/* A failing plugin GC is reported; the others still run. */
	rm_log(&f);
	setenv("FAIL_PLUGIN", "pb", 1);
	setenv("FAIL_CMD", "GC", 1);
	assert_true(cni_network_gc(&f.cfg, f.net, valid, 1, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "CNI GC network \"chain\" (1 failure): plugin "
						    "\"pb\" GC failed: code 7: boom"));
	ndl_error_clear(&err);
	log = read_text(f.dir, "log");
	assert_string_equal(log, "GC pa  \nGC pb  \nGC pc  \n");
	free(log);
	unsetenv("FAIL_PLUGIN");

	/* No list at all (cnitool gc): everything cached is stale, no key sent. */
	rm_log(&f);
	assert_int_equal(cni_network_gc(&f.cfg, f.net, NULL, 0, &err), 0);
	assert_false(cached(&f, "chain-cid2-eth0"));
	in = read_text(f.dir, "stdin-GC-pa");
	j = json_loads(in, 0, NULL);
	assert_null(json_object_get(j, "cni.dev/valid-attachments"));
	json_decref(j);
	free(in);
	cni_netconf_free(net_b);
	fake_teardown(&f);

	/* Before 1.1.0: stale attachments are still DELeted, no plugin GC. */
	fake_setup(&f, chain3);
	gc_add(&f, f.net, "cid1");
	rm_log(&f);
	struct cni_attachment none[1];
	assert_int_equal(cni_network_gc(&f.cfg, f.net, none, 0, &err), 0);
	log = read_text(f.dir, "log");
	assert_string_equal(log, "DEL pc cid1 eth0\nDEL pb cid1 eth0\nDEL pa cid1 eth0\n");
	free(log);
	fake_teardown(&f);

	/* "disableGC": nothing at all. */
	const char off[] = "{\"cniVersion\":\"1.1.0\",\"name\":\"chain\",\"disableGC\":true,"
			   "\"plugins\":[{\"type\":\"pa\"}]}";
	fake_setup(&f, off);
	gc_add(&f, f.net, "cid1");
	rm_log(&f);
	assert_int_equal(cni_network_gc(&f.cfg, f.net, none, 0, &err), 0);
	assert_null(read_text(f.dir, "log"));
	assert_true(cached(&f, "chain-cid1-eth0"));
	fake_teardown(&f);
}

/* containerd's loopback network, attached on "lo", runs the loopback plugin
 * (checked with a fake "loopback" that records its ifname). */
static void test_loopback_netconf(void **state)
{
	struct cni_netconf *lo = cni_loopback_netconf();
	assert_string_equal(lo->name, "cni-loopback");
	assert_string_equal(lo->cni_version, "0.3.1");
	assert_int_equal(lo->n_plugins, 1);
	struct fake f;
	fake_setup(&f, chain3);
	char *src = xasprintf("%s/pa", f.bin);
	char *dst = xasprintf("%s/loopback", f.bin);
	assert_int_equal(link(src, dst), 0);
	struct cni_runtime rt = {
	    .container_id = "cidl", .netns = "/proc/self/ns/net", .ifname = CNI_LOOPBACK_IFNAME};
	json_t *result = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cni_network_add(&f.cfg, lo, &rt, &result, &err), 0);
	char *log = read_text(f.dir, "log");
	assert_string_equal(log, "ADD loopback cidl lo\n");
	free(log);
	assert_true(cached(&f, "cni-loopback-cidl-lo"));
	assert_int_equal(cni_network_del(&f.cfg, lo, &rt, &err), 0);
	assert_false(cached(&f, "cni-loopback-cidl-lo"));
	json_decref(result);
	free(src);
	free(dst);
	cni_netconf_free(lo);
	fake_teardown(&f);
}

/* The cache record is replaced through a temp file and a rename (no
 * leftovers), readable by root only, as libcni writes it. */
static void test_cache_write_no_leftovers(void **state)
{
	struct fake f;
	fake_setup(&f, chain3);
	gc_add(&f, f.net, "cid1");
	gc_add(&f, f.net, "cid1"); /* replaces */
	char *rdir = xasprintf("%s/results", f.cache);
	DIR *d = opendir(rdir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		assert_string_equal(de->d_name, "chain-cid1-eth0");
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
	char *p = xasprintf("%s/chain-cid1-eth0", rdir);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(p);
	free(rdir);
	fake_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_list),
	    cmocka_unit_test(test_parse_conf_wraps),
	    cmocka_unit_test(test_load_dir_order),
	    cmocka_unit_test(test_args_env_stdin),
	    cmocka_unit_test(test_cache_format),
	    cmocka_unit_test(test_version_cmp),
	    cmocka_unit_test(test_ip_ranges),
	    cmocka_unit_test(test_exec_chain_add_del),
	    cmocka_unit_test(test_exec_failure_rolls_back),
	    cmocka_unit_test(test_exec_missing_and_timeout),
	    cmocka_unit_test(test_exec_plugin_garbage_output),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_gc),
	    cmocka_unit_test(test_cache_write_no_leftovers),
	    cmocka_unit_test(test_loopback_netconf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
