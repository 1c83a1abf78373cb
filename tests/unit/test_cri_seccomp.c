/* The RuntimeDefault seccomp profile of nodelet-cri: its shape is what the
 * OCI runtime accepts, common syscalls are allowed, the admin-only ones are
 * not, and the argument rules are containerd's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cri/server/handlers.h"

static bool allowed_plain(json_t *prof, const char *name)
{
	size_t i, k;
	json_t *rule, *n;
	json_array_foreach(json_object_get(prof, "syscalls"), i, rule)
	{
		if (json_object_get(rule, "args"))
			continue;
		if (strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ALLOW") != 0)
			continue;
		json_array_foreach(json_object_get(rule, "names"), k, n) if (strcmp(json_string_value(n), name) == 0) return true;
	}
	return false;
}

static json_t *rule_for(json_t *prof, const char *name)
{
	size_t i, k;
	json_t *rule, *n;
	json_array_foreach(json_object_get(prof, "syscalls"), i, rule)
	{
		json_array_foreach(json_object_get(rule, "names"), k, n) if (strcmp(json_string_value(n), name) == 0) return rule;
	}
	return NULL;
}

static void test_shape(void **state)
{
	json_t *p = cri_seccomp_default_profile();
	assert_string_equal(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(p, "defaultErrnoRet")), 1);
	assert_true(json_array_size(json_object_get(p, "architectures")) >= 1);
	json_decref(p);
}

static void test_allowed_and_denied(void **state)
{
	json_t *p = cri_seccomp_default_profile();
	const char *yes[] = {"read", "write", "openat", "execve", "exit_group", "futex", "clone3",
			     "mmap", "socketpair", "chroot", "setuid", NULL};
	for (const char **s = yes; *s; s++)
		if (strcmp(*s, "clone3") != 0)
			assert_true(allowed_plain(p, *s));
	const char *no[] = {"mount", "umount2", "unshare", "setns", "ptrace", "bpf", "kexec_load",
			    "init_module", "reboot", "swapon", "settimeofday", "keyctl",
			    "add_key", "pivot_root", "perf_event_open", NULL};
	for (const char **s = no; *s; s++) {
		assert_false(allowed_plain(p, *s));
		assert_null(rule_for(p, *s));
	}
	/* clone only without namespace flags; clone3 -> ENOSYS; socket not AF_VSOCK. */
	json_t *c = rule_for(p, "clone");
	assert_non_null(c);
	json_t *a = json_array_get(json_object_get(c, "args"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_MASKED_EQ");
	assert_int_equal(json_integer_value(json_object_get(a, "value")), 0x7E020000);
	json_t *c3 = rule_for(p, "clone3");
	assert_string_equal(json_string_value(json_object_get(c3, "action")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(c3, "errnoRet")), 38);
	json_t *so = rule_for(p, "socket");
	a = json_array_get(json_object_get(so, "args"), 0);
	assert_int_equal(json_integer_value(json_object_get(a, "value")), 40);
	assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_NE");
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_allowed_and_denied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
