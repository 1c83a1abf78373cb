/* Unit tests of the runtime library's pure parts: spec parsing and
 * validation, name tables, mount options, seccomp translation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/runtime/runtime-internal.h"
#include "cri/runtime/runtime.h"
#include "cri/runtime/seccomp.h"
#include "cri/runtime/spec.h"
#include "lib/fs.h"
#include "lib/json.h"

static struct rt_spec *parse_ok(json_t *doc)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_spec *s = NULL;
	int r = rt_spec_parse(doc, &s, &err);
	if (r < 0)
		fail_msg("parse failed: %s", ndl_error_msg(&err));
	return s;
}

/* Parse doc and expect an error whose message contains want. */
static void parse_fails(json_t *doc, const char *want)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_spec *s = NULL;
	int r = rt_spec_parse(doc, &s, &err);
	if (r >= 0) {
		rt_spec_free(s);
		fail_msg("expected failure naming %s", want);
	}
	assert_null(s);
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" does not name %s", ndl_error_msg(&err), want);
	ndl_error_clear(&err);
}

static void test_default_spec_parses(void **state)
{
	(void)state;
	json_t *doc = rt_default_spec(false);
	struct rt_spec *s = parse_ok(doc);
	assert_string_equal(s->oci_version, "1.0.2");
	assert_true(s->has_process);
	assert_string_equal(s->process.args[0], "sh");
	assert_null(s->process.args[1]);
	assert_int_equal(s->process.n_env, 2);
	assert_true(s->process.no_new_privileges);
	assert_true(s->process.has_caps);
	uint64_t want = (1ull << 29) | (1ull << 5) | (1ull << 10); /* AUDIT_WRITE KILL NET_BIND */
	assert_int_equal(s->process.caps[RT_CAP_BOUNDING], want);
	assert_int_equal(s->process.caps[RT_CAP_AMBIENT], want);
	assert_int_equal(s->process.caps[RT_CAP_INHERITABLE], 0);
	assert_int_equal(s->process.n_rlimits, 1);
	assert_int_equal(s->process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s->process.rlimits[0].soft, 1024);
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "runc");
	assert_int_equal(s->n_mounts, 7);
	assert_string_equal(s->mounts[1].destination, "/dev");
	assert_int_equal(s->mounts[1].flags, MS_NOSUID | MS_STRICTATIME);
	assert_string_equal(s->mounts[1].data, "mode=755,size=65536k");
	assert_int_equal(s->mounts[5].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	assert_null(s->mounts[5].data);
	assert_int_equal(s->n_namespaces, 5);
	assert_non_null(rt_spec_namespace(s, CLONE_NEWPID));
	assert_non_null(rt_spec_namespace(s, CLONE_NEWNET));
	assert_null(rt_spec_namespace(s, CLONE_NEWUSER));
	assert_int_equal(s->n_masked_paths, 10);
	assert_int_equal(s->n_readonly_paths, 5);
	assert_non_null(s->resources);
	rt_spec_free(s);
	json_decref(doc);
}

static void test_rootless_spec_has_userns(void **state)
{
	(void)state;
	json_t *doc = rt_default_spec(true);
	struct rt_spec *s = parse_ok(doc);
	assert_non_null(rt_spec_namespace(s, CLONE_NEWUSER));
	assert_int_equal(s->n_uid_mappings, 1);
	assert_int_equal(s->uid_mappings[0].host_id, getuid());
	assert_int_equal(s->uid_mappings[0].size, 1);
	rt_spec_free(s);
	json_decref(doc);
}

/* Apply a JSON merge patch-like mutation given as a small program. */
static json_t *spec_with(const char *path, json_t *value)
{
	json_t *doc = rt_default_spec(false);
	/* path: "a.b.c" into objects; value NULL deletes. */
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = doc;
	char *save = NULL, *tok = strtok_r(buf, ".", &save);
	while (tok) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			if (value)
				json_object_set_new(cur, tok, value);
			else
				json_object_del(cur, tok);
			break;
		}
		json_t *child = json_object_get(cur, tok);
		if (!child) {
			child = json_object();
			json_object_set_new(cur, tok, child);
		}
		cur = child;
		tok = next;
	}
	return doc;
}

static void expect_field(const char *path, json_t *value, const char *want)
{
	json_t *doc = spec_with(path, value);
	parse_fails(doc, want);
	json_decref(doc);
}

static void test_validation_names_fields(void **state)
{
	(void)state;
	expect_field("ociVersion", NULL, "field \"ociVersion\": required");
	expect_field("ociVersion", json_string("2.0.0"), "ociVersion");
	expect_field("root.path", json_integer(3), "field \"root.path\": expected string");
	expect_field("process.args", json_array(), "process.args");
	expect_field("process.cwd", json_string("tmp"), "process.cwd");
	expect_field("process.env", json_pack("[s]", "NOEQUALS"), "process.env[0]");
	expect_field("process.user.uid", json_integer(-1), "process.user.uid");
	expect_field("process.user.additionalGids", json_pack("[i, s]", 1, "x"),
		     "process.user.additionalGids[1]");
	expect_field("process.capabilities.effective", json_pack("[s, s]", "CAP_KILL", "CAP_BOGUS"),
		     "process.capabilities.effective[1]");
	expect_field("process.rlimits",
		     json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOPE", "soft", 1, "hard", 1),
		     "process.rlimits[0].type");
	expect_field("process.rlimits",
		     json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "soft", 10, "hard", 1),
		     "process.rlimits[0]");
	expect_field("process.oomScoreAdj", json_integer(5000), "process.oomScoreAdj");
	expect_field("mounts", json_pack("[{s:s}]", "destination", "relative"),
		     "mounts[0].destination");
	expect_field("mounts", json_pack("[{s:s}]", "destination", "/x"), "mounts[0].type");
	expect_field("mounts",
		     json_pack("[{s:s, s:s, s:[s]}]", "destination", "/x", "type", "none",
			       "options", "bind"),
		     "mounts[0].source");
	expect_field("mounts",
		     json_pack("[{s:s, s:s, s:s, s:[s]}]", "destination", "/x", "type", "tmpfs",
			       "source", "t", "options", "rro"),
		     "mounts[0].options");
	expect_field("linux.namespaces", json_pack("[{s:s}]", "type", "bogus"),
		     "linux.namespaces[0].type");
	expect_field("linux.namespaces", json_pack("[{s:s}, {s:s}]", "type", "pid", "type", "pid"),
		     "linux.namespaces[1].type");
	expect_field("linux.namespaces", json_pack("[{s:s, s:s}]", "type", "net", "path", "rel"),
		     "linux.namespaces[0].type");
	expect_field("linux.namespaces",
		     json_pack("[{s:s, s:s}]", "type", "network", "path", "rel"),
		     "linux.namespaces[0].path");
	expect_field("linux.uidMappings",
		     json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 1000, "size", 1),
		     "linux.uidMappings");
	expect_field("linux.devices",
		     json_pack("[{s:s, s:s, s:i, s:i}]", "path", "/dev/x", "type", "q", "major", 1,
			       "minor", 1),
		     "linux.devices[0].type");
	expect_field("linux.devices", json_pack("[{s:s, s:s}]", "path", "/dev/x", "type", "c"),
		     "linux.devices[0].major");
	expect_field("linux.sysctl", json_pack("{s:i}", "net.x", 1), "linux.sysctl.net.x");
	expect_field("linux.rootfsPropagation", json_string("sideways"), "linux.rootfsPropagation");
	expect_field("linux.maskedPaths", json_pack("[s]", "proc/kcore"), "linux.maskedPaths[0]");
	expect_field("linux.seccomp", json_pack("{s:s}", "defaultAction", "SCMP_ACT_NOPE"),
		     "linux.seccomp.defaultAction");
	expect_field("linux.seccomp",
		     json_pack("{s:s, s:[{s:[s], s:s, s:[{s:i, s:i, s:s}]}]}", "defaultAction",
			       "SCMP_ACT_ALLOW", "syscalls", "names", "read", "action",
			       "SCMP_ACT_ERRNO", "args", "index", 9, "value", 1, "op",
			       "SCMP_CMP_EQ"),
		     "linux.seccomp.syscalls[0].args[0].index");
	expect_field("linux.seccomp",
		     json_pack("{s:s, s:[{s:[s], s:s, s:[{s:i, s:i, s:s}]}]}", "defaultAction",
			       "SCMP_ACT_ALLOW", "syscalls", "names", "read", "action",
			       "SCMP_ACT_ERRNO", "args", "index", 0, "value", 1, "op",
			       "SCMP_CMP_XX"),
		     "linux.seccomp.syscalls[0].args[0].op");
	expect_field(
	    "linux.seccomp",
	    json_pack("{s:s, s:s}", "defaultAction", "SCMP_ACT_ALLOW", "listenerPath", "/x"),
	    "linux.seccomp.listenerPath");
	expect_field("hooks.prestart", json_pack("[{s:s}]", "path", "rel"),
		     "hooks.prestart[0].path");
	expect_field("hooks.poststop", json_pack("[{s:s, s:i}]", "path", "/x", "timeout", 0),
		     "hooks.poststop[0].timeout");
	expect_field("annotations", json_pack("{s:i}", "a", 1), "annotations.a");
}

static void test_hostname_needs_uts(void **state)
{
	(void)state;
	json_t *doc = rt_default_spec(false);
	json_object_set_new(json_object_get(doc, "linux"), "namespaces",
			    json_pack("[{s:s}]", "type", "mount"));
	parse_fails(doc, "field \"hostname\"");
	json_object_del(doc, "hostname");
	struct rt_spec *s = parse_ok(doc);
	rt_spec_free(s);
	json_decref(doc);
}

static void test_large_values_and_hooks(void **state)
{
	(void)state;
	const char *cfg =
	    "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},"
	    "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_AS\","
	    "\"soft\":18446744073709551615,\"hard\":18446744073709551615}]},"
	    "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
	    "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
	    "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
	    "\"value\":4294967295,\"valueTwo\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]},"
	    "\"rootfsPropagation\":\"rshared\"},"
	    "\"hooks\":{\"prestart\":[{\"path\":\"/bin/"
	    "a\",\"args\":[\"a\",\"b\"],\"env\":[\"X=1\"],"
	    "\"timeout\":5}]}}";
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_spec *s = NULL;
	if (rt_spec_parse_buf(cfg, strlen(cfg), &s, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_true(s->process.rlimits[0].soft == UINT64_MAX);
	assert_non_null(s->seccomp);
	assert_int_equal(s->seccomp->default_action, RT_SCMP_ACT_ERRNO);
	assert_int_equal(s->seccomp->default_errno_ret, 38);
	assert_int_equal(s->seccomp->flags, RT_SECCOMP_FLAG_LOG);
	assert_int_equal(s->seccomp->n_rules, 2);
	assert_int_equal(s->seccomp->rules[1].args[0].op, RT_SCMP_MASKED_EQ);
	assert_int_equal(s->seccomp->rules[1].args[0].value, 4294967295u);
	assert_int_equal(s->rootfs_propagation, MS_SHARED | MS_REC);
	assert_int_equal(s->hooks[RT_HOOK_PRESTART].n, 1);
	assert_int_equal(s->hooks[RT_HOOK_PRESTART].list[0].timeout, 5);
	assert_string_equal(s->hooks[RT_HOOK_PRESTART].list[0].args[1], "b");
	/* a process with no user defaults to root */
	assert_int_equal(s->process.user.uid, 0);
	rt_spec_free(s);
	/* invalid JSON names the position */
	assert_true(rt_spec_parse_buf("{", 1, &s, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "line"));
	ndl_error_clear(&err);
}

static void test_capability_names(void **state)
{
	(void)state;
	assert_int_equal(rt_cap_from_name("CAP_CHOWN"), 0);
	assert_int_equal(rt_cap_from_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(rt_cap_from_name("sys_admin"), 21);
	assert_int_equal(rt_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
	assert_int_equal(rt_cap_from_name("CAP_NOPE"), -1);
	assert_int_equal(rt_cap_from_name(""), -1);
	for (int c = 0; c <= rt_cap_last(); c++)
		assert_int_equal(rt_cap_from_name(rt_cap_name(c)), c);
	assert_null(rt_cap_name(-1));
	assert_null(rt_cap_name(rt_cap_last() + 1));
}

static void test_signal_names(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_from_name("KILL"), SIGKILL);
	assert_int_equal(rt_signal_from_name("SIGTERM"), SIGTERM);
	assert_int_equal(rt_signal_from_name("sigusr1"), SIGUSR1);
	assert_int_equal(rt_signal_from_name("9"), 9);
	assert_int_equal(rt_signal_from_name("15"), 15);
	assert_int_equal(rt_signal_from_name("0"), -1);
	assert_int_equal(rt_signal_from_name("65"), -1);
	assert_int_equal(rt_signal_from_name("RTMIN"), SIGRTMIN);
	assert_int_equal(rt_signal_from_name("SIGRTMIN+3"), SIGRTMIN + 3);
	assert_int_equal(rt_signal_from_name("RTMAX-1"), SIGRTMAX - 1);
	assert_int_equal(rt_signal_from_name("RTMIN+99"), -1);
	assert_int_equal(rt_signal_from_name("NOPE"), -1);
	assert_int_equal(rt_signal_from_name(""), -1);
	assert_int_equal(rt_signal_from_name("9x"), -1);
	assert_string_equal(rt_signal_name(SIGKILL), "SIGKILL");
	assert_int_equal(rt_signal_from_name(rt_signal_name(SIGWINCH)), SIGWINCH);
}

static void test_rlimit_and_namespace_names(void **state)
{
	(void)state;
	assert_int_equal(rt_rlimit_from_name("RLIMIT_NOFILE"), RLIMIT_NOFILE);
	assert_int_equal(rt_rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
	assert_int_equal(rt_rlimit_from_name("NOFILE"), -1);
	assert_int_equal(rt_namespace_from_name("network"), CLONE_NEWNET);
	assert_int_equal(rt_namespace_from_name("mount"), CLONE_NEWNS);
	assert_int_equal(rt_namespace_from_name("net"), 0);
	assert_string_equal(rt_namespace_name(CLONE_NEWNET), "net");
	assert_string_equal(rt_namespace_name(CLONE_NEWNS), "mnt");
}

static void opts(const char *const *o, size_t n, unsigned long want_flags, unsigned long want_prop,
		 const char *want_data)
{
	unsigned long f = 0, p = 0;
	char *data = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (rt_mount_options_parse(o, n, &f, &p, &data, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	assert_int_equal(f, want_flags);
	assert_int_equal(p, want_prop);
	if (want_data)
		assert_string_equal(data, want_data);
	else
		assert_null(data);
	free(data);
}

static void test_mount_options(void **state)
{
	(void)state;
	const char *a[] = {"nosuid", "nodev", "noexec", "ro", "relatime"};
	opts(a, 5, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY | MS_RELATIME, 0, NULL);
	const char *b[] = {"rbind", "rprivate", "ro", "rw"};
	opts(b, 4, MS_BIND | MS_REC, MS_PRIVATE | MS_REC, NULL);
	const char *c[] = {"nosuid", "size=65536k", "mode=755", "strictatime"};
	opts(c, 4, MS_NOSUID | MS_STRICTATIME, 0, "size=65536k,mode=755");
	const char *d[] = {"bind", "shared", "suid", "exec", "dev", "defaults"};
	opts(d, 6, MS_BIND, MS_SHARED, NULL);
	const char *e[] = {"rslave", "newinstance", "ptmxmode=0666", ""};
	opts(e, 4, 0, MS_SLAVE | MS_REC, "newinstance,ptmxmode=0666");
	assert_int_equal(rt_propagation_from_name("runbindable"), MS_UNBINDABLE | MS_REC);
	assert_int_equal(rt_propagation_from_name("nope"), 0);
	/* Recognised but unsupported options are refused, not ignored. */
	const char *f[] = {"ro", "idmap"};
	unsigned long fl, pr;
	char *data = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(rt_mount_options_parse(f, 2, &fl, &pr, &data, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "idmap"));
	ndl_error_clear(&err);
}

static void test_seccomp_translation(void **state)
{
	(void)state;
	uint32_t v;
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_ALLOW, false, 0, &v), 0);
	assert_int_equal(v, SCMP_ACT_ALLOW);
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_ERRNO, false, 0, &v), 0);
	assert_int_equal(v, SCMP_ACT_ERRNO(EPERM));
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_ERRNO, true, 38, &v), 0);
	assert_int_equal(v, SCMP_ACT_ERRNO(38));
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_KILL, false, 0, &v), 0);
	assert_int_equal(v, SCMP_ACT_KILL_THREAD);
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_KILL_PROCESS, false, 0, &v), 0);
	assert_int_equal(v, SCMP_ACT_KILL_PROCESS);
	assert_int_equal(rt_seccomp_action_value(RT_SCMP_ACT_TRACE, true, 7, &v), 0);
	assert_int_equal(v, SCMP_ACT_TRACE(7));
	assert_true(rt_seccomp_action_value(RT_SCMP_ACT_NOTIFY, false, 0, &v) < 0);
	assert_int_equal(rt_seccomp_op_value(RT_SCMP_MASKED_EQ), SCMP_CMP_MASKED_EQ);
	assert_int_equal(rt_seccomp_op_value(RT_SCMP_NE), SCMP_CMP_NE);
	assert_int_equal(rt_seccomp_arch_value("SCMP_ARCH_X86_64"), SCMP_ARCH_X86_64);
	assert_int_equal(rt_seccomp_arch_value("SCMP_ARCH_AARCH64"), SCMP_ARCH_AARCH64);
	assert_int_equal(rt_seccomp_arch_value("SCMP_ARCH_NOPE"), 0);
	assert_int_equal(rt_seccomp_arch_value("x86_64"), 0);
	assert_int_equal(rt_seccomp_action_from_name("SCMP_ACT_KILL_THREAD"), RT_SCMP_ACT_KILL);
}

static struct rt_seccomp *sc_parse(const char *js)
{
	json_t *j = json_loads(js, 0, NULL);
	assert_non_null(j);
	struct rt_seccomp *sc = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (rt_seccomp_parse(j, "linux.seccomp", &sc, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	json_decref(j);
	return sc;
}

static size_t bpf_len(struct rt_seccomp_filter *f)
{
	char path[] = "/tmp/rt-bpf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(rt_seccomp_export_bpf(f, fd), 0);
	off_t n = lseek(fd, 0, SEEK_END);
	close(fd);
	return (size_t)n;
}

static void test_seccomp_compile(void **state)
{
	(void)state;
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_seccomp_filter *f = NULL;
	/* Unknown syscall names are skipped (as runc); a rule with the default
	 * action adds nothing; duplicate arg indexes become separate rules. */
	struct rt_seccomp *sc = sc_parse(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
	    "\"SCMP_ARCH_X86\"],\"syscalls\":["
	    "{\"names\":[\"mkdir\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\"},"
	    "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
	    "{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
	    "{\"index\":0,\"value\":2,\"op\":\"SCMP_CMP_EQ\"}]}]}");
	if (rt_seccomp_compile(sc, &f, &err) < 0)
		fail_msg("%s", ndl_error_msg(&err));
	size_t with_rules = bpf_len(f);
	rt_seccomp_filter_free(f);
	rt_seccomp_free(sc);

	sc = sc_parse(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
	    "\"SCMP_ARCH_X86\"],\"syscalls\":[{\"names\":[\"read\"],\"action\":"
	    "\"SCMP_ACT_ALLOW\"}]}");
	assert_int_equal(rt_seccomp_compile(sc, &f, &err), 0);
	size_t empty = bpf_len(f);
	rt_seccomp_filter_free(f);
	rt_seccomp_free(sc);
	assert_true(with_rules > empty);

	sc = sc_parse(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_MIPS9\"]}");
	assert_true(rt_seccomp_compile(sc, &f, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "linux.seccomp.architectures[0]"));
	ndl_error_clear(&err);
	rt_seccomp_free(sc);
}

static void test_id_validation(void **state)
{
	(void)state;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(rt_validate_id("abc-DEF_1.2+3", &err), 0);
	assert_true(rt_validate_id("", &err) < 0);
	ndl_error_clear(&err);
	assert_true(rt_validate_id("..", &err) < 0);
	ndl_error_clear(&err);
	assert_true(rt_validate_id("a/b", &err) < 0);
	ndl_error_clear(&err);
	assert_true(rt_validate_id("a b", &err) < 0);
	ndl_error_clear(&err);
}

static void test_state_json(void **state)
{
	(void)state;
	struct rt_state st = {.id = "c1",
			      .status = RT_STATUS_RUNNING,
			      .pid = 42,
			      .bundle = "/b",
			      .rootfs = "/b/rootfs",
			      .created = "2026-01-01T00:00:00Z",
			      .owner = 0,
			      .annotations = json_pack("{s:s}", "k", "v")};
	json_t *j = rt_state_to_json(&st);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "ociVersion")), "1.0.2");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "annotations"), "k")), "v");
	json_decref(j);
	json_decref(st.annotations);
	assert_string_equal(rt_status_name(RT_STATUS_STOPPED), "stopped");
	assert_string_equal(rt_status_name(RT_STATUS_PAUSED), "paused");
}

/* state.json: the record, then the spec on a line of its own; readers
 * parse the spec only when asked. */
static void test_state_record_roundtrip(void **state)
{
	(void)state;
	char root[] = "/tmp/rt-state-XXXXXX";
	assert_non_null(mkdtemp(root));
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/c1", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	ndl_error_t err = NDL_ERROR_INIT;
	json_t *cfg = json_pack("{s:s, s:{s:[s]}, s:{s:s}, s:{s:[{s:s}], s:[]}}", "ociVersion",
				"1.0.2", "process", "args", "true", "annotations", "k", "v",
				"hooks", "poststop", "path", "/bin/true", "poststart");
	json_t *cg = json_pack("{s:s, s:s, s:{s:s}}", "mode", "v1", "path", "/x", "v1", "memory",
			       "/sys/fs/cgroup/memory");
	struct rt_state_rec w = {.id = "c1",
				 .pid = 4242,
				 .start_time = 99,
				 .bundle = "/b",
				 .rootfs = "/b/rootfs",
				 .cgroup_path = "/x",
				 .created = "2026-01-01T00:00:00Z",
				 .owner = 0,
				 .config = cfg,
				 .cgroup = cg};
	assert_int_equal(rt_state_rec_write(dfd, &w, &err), 0);
	json_decref(cg);

	char path[300];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(ndl_read_file(path, 1 << 20, &text, &len, &err), 0);
	char *nl = strchr(text, '\n');
	assert_non_null(nl);
	char *spec = strstr(text, "ociVersion"); /* only in the spec, on the second line */
	assert_non_null(spec);
	assert_true(spec > nl);
	assert_string_equal(nl + strlen(nl) - 1, "\n");
	free(text);

	struct rt_state_rec r = {0};
	assert_int_equal(rt_state_rec_read(root, "c1", &r, &err), 0);
	assert_string_equal(r.id, "c1");
	assert_int_equal(r.pid, 4242);
	assert_int_equal(r.start_time, 99);
	assert_string_equal(r.bundle, "/b");
	assert_string_equal(r.cgroup_path, "/x");
	assert_string_equal(json_string_value(json_object_get(r.cgroup, "mode")), "v1");
	assert_string_equal(json_string_value(json_object_get(r.annotations, "k")), "v");
	assert_true(rt_state_rec_has_hooks(&r, "poststop"));
	assert_false(rt_state_rec_has_hooks(&r, "poststart")); /* empty list */
	assert_false(rt_state_rec_has_hooks(&r, "prestart"));
	assert_null(r.config); /* not parsed until asked */
	json_t *got = NULL;
	assert_int_equal(rt_state_rec_config(&r, &got, &err), 0);
	assert_true(json_equal(got, cfg));
	rt_state_rec_clear(&r);

	/* Written before the split: one object with "config" inside. */
	json_t *old = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:i, s:O}", "id", "c1", "pid",
				7, "start_time", 8, "bundle", "/b", "rootfs", "/b/r", "cgroup_path",
				"", "created", "t", "owner", 0, "config", cfg);
	assert_int_equal(json_dump_file(old, path, JSON_COMPACT), 0);
	json_decref(old);
	assert_int_equal(rt_state_rec_read(root, "c1", &r, &err), 0);
	assert_int_equal(r.pid, 7);
	assert_null(r.cgroup);
	assert_string_equal(json_string_value(json_object_get(r.annotations, "k")), "v");
	assert_true(rt_state_rec_has_hooks(&r, "poststop"));
	assert_int_equal(rt_state_rec_config(&r, &got, &err), 0);
	assert_true(json_equal(got, cfg));
	rt_state_rec_clear(&r);

	/* A damaged spec line fails only the commands that need the spec. */
	FILE *f = fopen(path, "w");
	fputs("{\"id\":\"c1\",\"pid\":1,\"start_time\":2,\"bundle\":\"/b\",\"rootfs\":\"/r\","
	      "\"cgroup_path\":\"\",\"created\":\"t\",\"owner\":0}\n{\"oci",
	      f);
	fclose(f);
	assert_int_equal(rt_state_rec_read(root, "c1", &r, &err), 0);
	assert_null(r.annotations);
	assert_true(rt_state_rec_config(&r, &got, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "state of container \"c1\""));
	ndl_error_clear(&err);
	rt_state_rec_clear(&r);
	/* ...and a record without the spec line at all */
	f = fopen(path, "w");
	fputs("{\"id\":\"c1\",\"pid\":1,\"start_time\":2,\"bundle\":\"/b\",\"rootfs\":\"/r\","
	      "\"cgroup_path\":\"\",\"created\":\"t\",\"owner\":0}\n",
	      f);
	fclose(f);
	assert_int_equal(rt_state_rec_read(root, "c1", &r, &err), 0);
	assert_true(rt_state_rec_config(&r, &got, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "no spec"));
	ndl_error_clear(&err);
	rt_state_rec_clear(&r);
	/* A damaged record names the file. */
	f = fopen(path, "w");
	fputs("{\"id\":\"c1\",\"pid\":\"x\"}\n", f);
	fclose(f);
	assert_true(rt_state_rec_read(root, "c1", &r, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), path));
	ndl_error_clear(&err);

	json_decref(cfg);
	close(dfd);
	assert_int_equal(ndl_rm_rf(root, &err), 0);
}

static void test_find_executable(void **state)
{
	(void)state;
	char *exe = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	char *env[] = {"PATH=/nonexistent:/bin:/usr/bin", NULL};
	assert_int_equal(rt_find_executable("sh", env, &exe, &err), 0);
	assert_true(strcmp(exe, "/bin/sh") == 0 || strcmp(exe, "/usr/bin/sh") == 0);
	free(exe);
	assert_true(rt_find_executable("no-such-prog-xyz", env, &exe, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "executable file not found"));
	ndl_error_clear(&err);
	char path[] = "/tmp/rt-noexec-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	chmod(path, 0644);
	assert_true(rt_find_executable(path, env, &exe, &err) < 0);
	unlink(path);
	ndl_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_spec_parses),
	    cmocka_unit_test(test_rootless_spec_has_userns),
	    cmocka_unit_test(test_validation_names_fields),
	    cmocka_unit_test(test_hostname_needs_uts),
	    cmocka_unit_test(test_large_values_and_hooks),
	    cmocka_unit_test(test_capability_names),
	    cmocka_unit_test(test_signal_names),
	    cmocka_unit_test(test_rlimit_and_namespace_names),
	    cmocka_unit_test(test_mount_options),
	    cmocka_unit_test(test_seccomp_translation),
	    cmocka_unit_test(test_seccomp_compile),
	    cmocka_unit_test(test_id_validation),
	    cmocka_unit_test(test_state_json),
	    cmocka_unit_test(test_state_record_roundtrip),
	    cmocka_unit_test(test_find_executable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
