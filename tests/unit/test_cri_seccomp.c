/* The RuntimeDefault seccomp profile of nodelet-cri against containerd
 * 1.6.20's: shape, the common allowlist, the argument rules, and the
 * capability- and architecture-conditional parts. */
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

/* containerd's default capability set (CRI's default for a container). */
static json_t *default_caps(void)
{
	return json_pack("[s,s,s,s,s,s,s,s,s,s,s,s,s,s]", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
			 "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
			 "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
			 "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE");
}

static void test_shape(void **state)
{
	json_t *caps = default_caps();
	json_t *p = cri_seccomp_default_profile(caps);
	assert_string_equal(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
	/* containerd leaves the errno to the runtime's default (EPERM) */
	assert_null(json_object_get(p, "defaultErrnoRet"));
#if defined(__x86_64__)
	json_t *ar = json_object_get(p, "architectures");
	assert_int_equal(json_array_size(ar), 3);
	assert_string_equal(json_string_value(json_array_get(ar, 0)), "SCMP_ARCH_X86_64");
	assert_string_equal(json_string_value(json_array_get(ar, 1)), "SCMP_ARCH_X86");
	assert_string_equal(json_string_value(json_array_get(ar, 2)), "SCMP_ARCH_X32");
#endif
	json_decref(p);
	json_decref(caps);
}

static void test_allowed_and_denied(void **state)
{
	json_t *caps = default_caps();
	json_t *p = cri_seccomp_default_profile(caps);
	/* socket: every family, as in containerd 1.6 (no AF_VSOCK rule);
	 * chroot: CAP_SYS_CHROOT is in the default set; ptrace: kernel >= 4.8 */
	const char *yes[] = {"read",  "write",	"openat", "execve", "exit_group", "futex", "mmap",
			     "socketpair", "socket", "chroot", "setuid", "ptrace", "io_uring_setup",
			     NULL};
	for (const char **s = yes; *s; s++)
		assert_true(allowed_plain(p, *s));
#if defined(__x86_64__)
	assert_true(allowed_plain(p, "arch_prctl"));
	assert_true(allowed_plain(p, "modify_ldt"));
#endif
	/* CAP_SYS_ADMIN, SYS_MODULE, SYS_TIME, SYS_BOOT, ... are not in the set;
	 * keyctl/add_key/pivot_root/kexec/swapon are never allowed. */
	const char *no[] = {"mount",	  "umount2",	   "unshare",	    "setns", "bpf",
			    "kexec_load", "init_module",   "reboot",	    "swapon", "settimeofday",
			    "keyctl",	  "add_key",	   "pivot_root",    "perf_event_open",
			    "name_to_handle_at", "open_by_handle_at", "kcmp", "acct", "vhangup",
			    "mbind",	  "syslog",	   "iopl",	    NULL};
	for (const char **s = no; *s; s++) {
		assert_false(allowed_plain(p, *s));
		assert_null(rule_for(p, *s));
	}
	/* clone only without namespace flags; clone3 -> ENOSYS. */
	json_t *c = rule_for(p, "clone");
	assert_non_null(c);
	json_t *a = json_array_get(json_object_get(c, "args"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "op")), "SCMP_CMP_MASKED_EQ");
	assert_int_equal(json_integer_value(json_object_get(a, "value")), 0x7E020000);
	json_t *c3 = rule_for(p, "clone3");
	assert_string_equal(json_string_value(json_object_get(c3, "action")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(c3, "errnoRet")), 38);
	/* personality: exactly containerd's five values */
	size_t i, n = 0;
	json_t *rule;
	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
	{
		json_t *nm = json_array_get(json_object_get(rule, "names"), 0);
		if (strcmp(json_string_value(nm), "personality") == 0)
			n++;
	}
	assert_int_equal(n, 5);
	json_decref(p);
	json_decref(caps);
}

static void test_capability_conditional(void **state)
{
	/* No capabilities at all: chroot goes too. */
	json_t *p = cri_seccomp_default_profile(NULL);
	assert_false(allowed_plain(p, "chroot"));
	assert_non_null(rule_for(p, "clone3"));
	json_decref(p);
	/* CAP_SYS_ADMIN: mount & co allowed, clone and clone3 unconditionally. */
	json_t *caps = json_pack("[s,s,s,s]", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME",
				 "CAP_DAC_READ_SEARCH");
	p = cri_seccomp_default_profile(caps);
	const char *yes[] = {"mount", "umount2", "unshare", "setns", "sethostname", "bpf", "clone",
			     "clone3", "name_to_handle_at", "kcmp", "process_vm_readv",
			     "settimeofday", "clock_settime", "open_by_handle_at", NULL};
	for (const char **s = yes; *s; s++)
		assert_true(allowed_plain(p, *s));
	/* no argument-filtered clone nor ENOSYS clone3 rule with SYS_ADMIN */
	size_t i;
	json_t *rule;
	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
	{
		assert_string_equal(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ALLOW");
		if (json_object_get(rule, "args")) {
			json_t *nm = json_array_get(json_object_get(rule, "names"), 0);
			assert_string_equal(json_string_value(nm), "personality");
		}
	}
	assert_false(allowed_plain(p, "reboot"));
	assert_false(allowed_plain(p, "init_module"));
	json_decref(p);
	json_decref(caps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_allowed_and_denied),
	    cmocka_unit_test(test_capability_conditional),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
