/* The RuntimeDefault seccomp profile: containerd 1.6's default
 * (contrib/seccomp/seccomp_default.go at v1.6.20, the containerd of this
 * Debian release), built the same way: everything not listed fails with
 * EPERM (the runtime's default errno); a common allowlist; personality
 * only with the values containerd allows; ptrace on kernels >= 4.8; the
 * architecture's own syscalls; the syscalls guarded by a capability only
 * when the container's bounding set holds it; without CAP_SYS_ADMIN, clone
 * only without namespace flags and clone3 answering ENOSYS (so libcs fall
 * back to clone, moby#42681). */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "cri/server/handlers.h"

static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
    "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
    "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
    "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64",
    "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
    "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
    "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
    "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair", "splice",
    "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
    "write", "writev",
    NULL};

/* Allowed when the bounding set holds the capability (containerd's table). */
static const struct {
	const char *cap;
	const char *const names[25];
} by_cap[] = {
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at", NULL}},
    {"CAP_SYS_ADMIN",
     {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
      "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "open_tree",
      "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
      "syslog", "umount", "umount2", "unshare", NULL}},
    {"CAP_SYS_BOOT", {"reboot", NULL}},
    {"CAP_SYS_CHROOT", {"chroot", NULL}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module", NULL}},
    {"CAP_SYS_PACCT", {"acct", NULL}},
    {"CAP_SYS_PTRACE",
     {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
      "ptrace", NULL}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm", NULL}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64", NULL}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup", NULL}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", NULL}},
    {"CAP_SYSLOG", {"syslog", NULL}},
    {"CAP_BPF", {"bpf", NULL}},
    {"CAP_PERFMON", {"perf_event_open", NULL}},
};

/* The build's architecture: the seccomp arches to cover and the syscalls
 * containerd adds for it. */
#if defined(__x86_64__)
static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
static const char *const arch_names[] = {"arch_prctl", "modify_ldt", NULL};
#elif defined(__i386__)
static const char *const arches[] = {NULL};
static const char *const arch_names[] = {"modify_ldt", NULL};
#elif defined(__aarch64__) || defined(__arm__)
#if defined(__aarch64__)
static const char *const arches[] = {"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", NULL};
#else
static const char *const arches[] = {NULL};
#endif
static const char *const arch_names[] = {"arm_fadvise64_64", "arm_sync_file_range",
					 "sync_file_range2",  "breakpoint",
					 "cacheflush",	      "set_tls",
					 NULL};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const char *const arches[] = {NULL};
static const char *const arch_names[] = {"sync_file_range2", "swapcontext", NULL};
#elif defined(__s390x__) || defined(__s390__)
static const char *const arches[] = {"SCMP_ARCH_S390", "SCMP_ARCH_S390X", NULL};
static const char *const arch_names[] = {"s390_pci_mmio_read", "s390_pci_mmio_write",
					 "s390_runtime_instr", NULL};
#elif defined(__riscv) && __riscv_xlen == 64
static const char *const arches[] = {"SCMP_ARCH_RISCV64", NULL};
static const char *const arch_names[] = {"riscv_flush_icache", NULL};
#else
static const char *const arches[] = {NULL};
static const char *const arch_names[] = {NULL};
#endif

static json_t *allow_rule(const char *const *names)
{
	json_t *n = json_array();
	for (; *names; names++)
		json_array_append_new(n, json_string(*names));
	return json_pack("{s:o,s:s}", "names", n, "action", "SCMP_ACT_ALLOW");
}

static bool has_cap(const json_t *bounding, const char *cap)
{
	size_t i;
	const json_t *v;
	json_array_foreach(bounding, i, v)
	{
		const char *s = json_string_value(v);
		if (s && strcmp(s, cap) == 0)
			return true;
	}
	return false;
}

/* containerd adds ptrace for kernels >= 4.8 (older ones let a ptracer
 * bypass seccomp). */
static bool kernel_at_least_4_8(void)
{
	struct utsname u;
	int maj = 0, min = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return false;
	return maj > 4 || (maj == 4 && min >= 8);
}

json_t *cri_seccomp_default_profile(const json_t *bounding)
{
	json_t *rules = json_array();
	json_array_append_new(rules, allow_rule(allowed));
	/* personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
	 * and the query (0xffffffff). */
	static const long personas[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffff};
	for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++)
		json_array_append_new(
		    rules, json_pack("{s:[s],s:s,s:[{s:i,s:I,s:s}]}", "names", "personality",
				     "action", "SCMP_ACT_ALLOW", "args", "index", 0, "value",
				     (json_int_t)personas[i], "op", "SCMP_CMP_EQ"));
	if (kernel_at_least_4_8())
		json_array_append_new(rules, json_pack("{s:[s],s:s}", "names", "ptrace", "action",
						       "SCMP_ACT_ALLOW"));
	if (arch_names[0])
		json_array_append_new(rules, allow_rule(arch_names));
	for (size_t i = 0; i < sizeof(by_cap) / sizeof(by_cap[0]); i++)
		if (has_cap(bounding, by_cap[i].cap))
			json_array_append_new(rules, allow_rule(by_cap[i].names));
	if (!has_cap(bounding, "CAP_SYS_ADMIN")) {
		/* CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP must be
		 * clear; the flags are argument 1 on s390. */
#if defined(__s390x__) || defined(__s390__)
		int flags_arg = 1;
#else
		int flags_arg = 0;
#endif
		json_array_append_new(
		    rules, json_pack("{s:[s],s:s,s:[{s:i,s:I,s:I,s:s}]}", "names", "clone", "action",
				     "SCMP_ACT_ALLOW", "args", "index", flags_arg, "value",
				     (json_int_t)0x7E020000, "valueTwo", (json_int_t)0, "op",
				     "SCMP_CMP_MASKED_EQ"));
		json_array_append_new(rules, json_pack("{s:[s],s:s,s:i}", "names", "clone3",
						       "action", "SCMP_ACT_ERRNO", "errnoRet", 38));
	}
	json_t *ar = json_array();
	for (const char *const *a = arches; *a; a++)
		json_array_append_new(ar, json_string(*a));
	return json_pack("{s:s,s:o,s:o}", "defaultAction", "SCMP_ACT_ERRNO", "architectures", ar,
			 "syscalls", rules);
}
