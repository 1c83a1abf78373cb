/* Name tables shared by the spec parser and the CLI: capabilities, signals,
 * rlimits, namespaces, mount options and seccomp actions/operators. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "cri/runtime/spec.h"
#include "lib/xalloc.h"

/* Indexed by capability number (linux/capability.h); kept here rather than
 * taken from libcap so names work for capabilities newer than the library. */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

int rt_cap_last(void)
{
	return (int)(sizeof(cap_names) / sizeof(cap_names[0])) - 1;
}

int rt_cap_from_name(const char *name)
{
	if (!name)
		return -1;
	const char *n = name;
	if (strncasecmp(n, "CAP_", 4) == 0)
		n += 4;
	for (int i = 0; i <= rt_cap_last(); i++)
		if (strcasecmp(cap_names[i] + 4, n) == 0)
			return i;
	return -1;
}

const char *rt_cap_name(int cap)
{
	if (cap < 0 || cap > rt_cap_last())
		return NULL;
	return cap_names[cap];
}

static const struct {
	const char *name;
	int sig;
} sig_table[] = {
    {"HUP", SIGHUP},	   {"INT", SIGINT},	{"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},	   {"ABRT", SIGABRT},	{"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},	   {"KILL", SIGKILL},	{"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},	   {"PIPE", SIGPIPE},	{"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},	{"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP},	   {"TSTP", SIGTSTP},	{"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},	   {"XCPU", SIGXCPU},	{"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},	   {"WINCH", SIGWINCH}, {"IO", SIGIO},	   {"POLL", SIGPOLL},
    {"PWR", SIGPWR},	   {"SYS", SIGSYS},
};

static int parse_small_int(const char *s, int max)
{
	if (!*s)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	return (int)v;
}

int rt_signal_from_name(const char *name)
{
	if (!name || !*name)
		return -1;
	int n = parse_small_int(name, 64);
	if (n >= 0)
		return n >= 1 ? n : -1;
	const char *s = name;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sig_table) / sizeof(sig_table[0]); i++)
		if (strcasecmp(sig_table[i].name, s) == 0)
			return sig_table[i].sig;
	/* RTMIN, RTMIN+N, RTMAX-N as kill(1) accepts them. */
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		int off = 0;
		if (s[5] == '+')
			off = parse_small_int(s + 6, 64);
		else if (s[5])
			return -1;
		if (off < 0 || SIGRTMIN + off > SIGRTMAX)
			return -1;
		return SIGRTMIN + off;
	}
	if (strncasecmp(s, "RTMAX", 5) == 0) {
		int off = 0;
		if (s[5] == '-')
			off = parse_small_int(s + 6, 64);
		else if (s[5])
			return -1;
		if (off < 0 || SIGRTMAX - off < SIGRTMIN)
			return -1;
		return SIGRTMAX - off;
	}
	return -1;
}

const char *rt_signal_name(int sig)
{
	static const char *const names[] = {
	    [SIGHUP] = "SIGHUP",       [SIGINT] = "SIGINT",	  [SIGQUIT] = "SIGQUIT",
	    [SIGILL] = "SIGILL",       [SIGTRAP] = "SIGTRAP",	  [SIGABRT] = "SIGABRT",
	    [SIGBUS] = "SIGBUS",       [SIGFPE] = "SIGFPE",	  [SIGKILL] = "SIGKILL",
	    [SIGUSR1] = "SIGUSR1",     [SIGSEGV] = "SIGSEGV",	  [SIGUSR2] = "SIGUSR2",
	    [SIGPIPE] = "SIGPIPE",     [SIGALRM] = "SIGALRM",	  [SIGTERM] = "SIGTERM",
	    [SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD",	  [SIGCONT] = "SIGCONT",
	    [SIGSTOP] = "SIGSTOP",     [SIGTSTP] = "SIGTSTP",	  [SIGTTIN] = "SIGTTIN",
	    [SIGTTOU] = "SIGTTOU",     [SIGURG] = "SIGURG",	  [SIGXCPU] = "SIGXCPU",
	    [SIGXFSZ] = "SIGXFSZ",     [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
	    [SIGWINCH] = "SIGWINCH",   [SIGIO] = "SIGIO",	  [SIGPWR] = "SIGPWR",
	    [SIGSYS] = "SIGSYS",
	};
	if (sig <= 0 || sig >= (int)(sizeof(names) / sizeof(names[0])))
		return NULL;
	return names[sig];
}

static const struct {
	const char *name;
	int res;
} rlimit_table[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

int rt_rlimit_from_name(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(rlimit_table) / sizeof(rlimit_table[0]); i++)
		if (strcmp(rlimit_table[i].name, name) == 0)
			return rlimit_table[i].res;
	return -1;
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *spec_name; /* as in config.json */
	const char *proc_name; /* as in /proc/<pid>/ns/ */
	int type;
} ns_table[] = {
    {"pid", "pid", CLONE_NEWPID},	   {"network", "net", CLONE_NEWNET},
    {"mount", "mnt", CLONE_NEWNS},	   {"ipc", "ipc", CLONE_NEWIPC},
    {"uts", "uts", CLONE_NEWUTS},	   {"user", "user", CLONE_NEWUSER},
    {"cgroup", "cgroup", CLONE_NEWCGROUP}, {"time", "time", CLONE_NEWTIME},
};

int rt_namespace_from_name(const char *name)
{
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++)
		if (strcmp(ns_table[i].spec_name, name) == 0)
			return ns_table[i].type;
	return 0;
}

const char *rt_namespace_name(int type)
{
	for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++)
		if (ns_table[i].type == type)
			return ns_table[i].proc_name;
	return NULL;
}

unsigned long rt_propagation_from_name(const char *name)
{
	static const struct {
		const char *name;
		unsigned long flags;
	} t[] = {
	    {"private", MS_PRIVATE},	   {"rprivate", MS_PRIVATE | MS_REC},
	    {"shared", MS_SHARED},	   {"rshared", MS_SHARED | MS_REC},
	    {"slave", MS_SLAVE},	   {"rslave", MS_SLAVE | MS_REC},
	    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
	};
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].flags;
	return 0;
}

/* The mount options runc understands as flags; others are data. */
static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_opts[] = {
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
};

/* Recognised, but not implemented: refusing beats silently ignoring them. */
static const char *const unsupported_opts[] = {
    "idmap",	    "ridmap",	  "rro",       "rrw",	      "rnosuid",      "rsuid",
    "rnodev",	    "rdev",	  "rnoexec",   "rexec",	      "rnoatime",     "ratime",
    "rnodiratime",  "rdiratime",  "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
    "rnosymfollow", "rsymfollow", "tmpcopyup",
};

int rt_mount_options_parse(const char *const *opts, size_t n, unsigned long *ret_flags,
			   unsigned long *ret_propagation, char **ret_data, ndl_error_t *err)
{
	unsigned long flags = 0, prop = 0;
	char *data = NULL;
	size_t dlen = 0;
	for (size_t i = 0; i < n; i++) {
		const char *o = opts[i];
		bool found = false;
		for (size_t k = 0; k < sizeof(mount_opts) / sizeof(mount_opts[0]); k++) {
			if (strcmp(mount_opts[k].name, o) == 0) {
				if (mount_opts[k].clear)
					flags &= ~mount_opts[k].flag;
				else
					flags |= mount_opts[k].flag;
				found = true;
				break;
			}
		}
		if (found)
			continue;
		unsigned long p = rt_propagation_from_name(o);
		if (p) {
			prop = p;
			continue;
		}
		for (size_t k = 0; k < sizeof(unsupported_opts) / sizeof(unsupported_opts[0]);
		     k++) {
			if (strcmp(unsupported_opts[k], o) == 0) {
				free(data);
				return ndl_error_setf(err, ENOTSUP,
						      "option \"%s\" is not supported", o);
			}
		}
		if (!*o)
			continue;
		size_t ol = strlen(o);
		data = xrealloc(data, dlen + ol + 2);
		if (dlen)
			data[dlen++] = ',';
		memcpy(data + dlen, o, ol);
		dlen += ol;
		data[dlen] = '\0';
	}
	*ret_flags = flags;
	*ret_propagation = prop;
	*ret_data = data;
	return 0;
}

int rt_seccomp_action_from_name(const char *name)
{
	static const struct {
		const char *name;
		int act;
	} t[] = {
	    {"SCMP_ACT_KILL", RT_SCMP_ACT_KILL},
	    {"SCMP_ACT_KILL_THREAD", RT_SCMP_ACT_KILL},
	    {"SCMP_ACT_KILL_PROCESS", RT_SCMP_ACT_KILL_PROCESS},
	    {"SCMP_ACT_TRAP", RT_SCMP_ACT_TRAP},
	    {"SCMP_ACT_ERRNO", RT_SCMP_ACT_ERRNO},
	    {"SCMP_ACT_TRACE", RT_SCMP_ACT_TRACE},
	    {"SCMP_ACT_ALLOW", RT_SCMP_ACT_ALLOW},
	    {"SCMP_ACT_LOG", RT_SCMP_ACT_LOG},
	    {"SCMP_ACT_NOTIFY", RT_SCMP_ACT_NOTIFY},
	};
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].act;
	return -1;
}

int rt_seccomp_op_from_name(const char *name)
{
	static const struct {
		const char *name;
		int op;
	} t[] = {
	    {"SCMP_CMP_NE", RT_SCMP_NE},
	    {"SCMP_CMP_LT", RT_SCMP_LT},
	    {"SCMP_CMP_LE", RT_SCMP_LE},
	    {"SCMP_CMP_EQ", RT_SCMP_EQ},
	    {"SCMP_CMP_GE", RT_SCMP_GE},
	    {"SCMP_CMP_GT", RT_SCMP_GT},
	    {"SCMP_CMP_MASKED_EQ", RT_SCMP_MASKED_EQ},
	};
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].op;
	return -1;
}
