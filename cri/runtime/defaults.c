/* Generated documents: the default config.json of `spec` (runc's shape)
 * and the runtime-spec features document. */
#include <seccomp.h>
#include <string.h>
#include <unistd.h>

#include "cri/runtime/runtime.h"
#include "cri/runtime/spec.h"

static const char *const default_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};

static json_t *strarr(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}
#define STRARR(v) strarr(v, sizeof(v) / sizeof(v[0]))

json_t *rt_default_spec(bool rootless)
{
	static const char *const masked[] = {
	    "/proc/acpi",	   "/proc/asound",     "/proc/kcore",	    "/proc/keys",
	    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	    "/sys/firmware",	   "/proc/scsi",
	};
	static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					 "/proc/sysrq-trigger"};
	json_t *caps = json_pack("{s:o, s:o, s:o, s:o}", "bounding", STRARR(default_caps),
				 "effective", STRARR(default_caps), "permitted",
				 STRARR(default_caps), "ambient", STRARR(default_caps));
	json_t *process =
	    json_pack("{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s, s:o, s:[{s:s, s:i, s:i}], s:b}",
		      "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env",
		      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		      "TERM=xterm", "cwd", "/", "capabilities", caps, "rlimits", "type",
		      "RLIMIT_NOFILE", "hard", 1024, "soft", 1024, "noNewPrivileges", 1);
	json_t *mounts = json_pack(
	    "[{s:s, s:s, s:s},"
	    " {s:s, s:s, s:s, s:[s, s, s, s]},"
	    " {s:s, s:s, s:s, s:[s, s, s, s, s, s]},"
	    " {s:s, s:s, s:s, s:[s, s, s, s, s]},"
	    " {s:s, s:s, s:s, s:[s, s, s]},"
	    " {s:s, s:s, s:s, s:[s, s, s, s]},"
	    " {s:s, s:s, s:s, s:[s, s, s, s, s]}]",
	    "destination", "/proc", "type", "proc", "source", "proc", "destination", "/dev", "type",
	    "tmpfs", "source", "tmpfs", "options", "nosuid", "strictatime", "mode=755",
	    "size=65536k", "destination", "/dev/pts", "type", "devpts", "source", "devpts",
	    "options", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
	    "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid",
	    "noexec", "nodev", "mode=1777", "size=65536k", "destination", "/dev/mqueue", "type",
	    "mqueue", "source", "mqueue", "options", "nosuid", "noexec", "nodev", "destination",
	    "/sys", "type", "sysfs", "source", "sysfs", "options", "nosuid", "noexec", "nodev",
	    "ro", "destination", "/sys/fs/cgroup", "type", "cgroup", "source", "cgroup", "options",
	    "nosuid", "noexec", "nodev", "relatime", "ro");
	json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type",
			       "network", "type", "ipc", "type", "uts", "type", "mount");
	json_t *lx = json_pack("{s:o, s:o, s:o}", "namespaces", ns, "maskedPaths", STRARR(masked),
			       "readonlyPaths", STRARR(ro));
	if (rootless) {
		json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
		json_object_set_new(lx, "uidMappings",
				    json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID",
					      (int)getuid(), "size", 1));
		json_object_set_new(lx, "gidMappings",
				    json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID",
					      (int)getgid(), "size", 1));
		/* Without privileges: no cgroup mount, no device rules. */
		json_array_remove(mounts, json_array_size(mounts) - 1);
	} else {
		json_object_set_new(
		    lx, "resources",
		    json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
	}
	return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2",
			 "process", process, "root", "path", "rootfs", "readonly", 1, "hostname",
			 "runc", "mounts", mounts, "linux", lx);
}

json_t *rt_features(void)
{
	static const char *const hooks[] = {"prestart",	      "createRuntime", "createContainer",
					    "startContainer", "poststart",     "poststop"};
	static const char *const mount_opts[] = {
	    "async",	     "atime",	   "bind",	 "defaults",   "dev",
	    "diratime",	     "dirsync",	   "exec",	 "iversion",   "lazytime",
	    "loud",	     "mand",	   "noatime",	 "nodev",      "nodiratime",
	    "noexec",	     "noiversion", "nolazytime", "nomand",     "norelatime",
	    "nostrictatime", "nosuid",	   "private",	 "rbind",      "relatime",
	    "remount",	     "ro",	   "rprivate",	 "rshared",    "rslave",
	    "runbindable",   "rw",	   "shared",	 "silent",     "slave",
	    "strictatime",   "suid",	   "sync",	 "unbindable",
	};
	static const char *const nss[] = {"cgroup", "ipc",  "mount", "network",
					  "pid",    "user", "uts"};
	static const char *const actions[] = {
	    "SCMP_ACT_ALLOW",	    "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",	"SCMP_ACT_KILL_PROCESS",
	    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",   "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"};
	static const char *const ops[] = {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
					  "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
					  "SCMP_CMP_NE"};
	static const char *const archs[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32",
					    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"};
	static const char *const flags[] = {"SECCOMP_FILTER_FLAG_LOG",
					    "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
	json_t *caps = json_array();
	for (int c = 0; c <= rt_cap_last(); c++)
		json_array_append_new(caps, json_string(rt_cap_name(c)));
	const struct scmp_version *v = seccomp_version();
	char ver[32];
	snprintf(ver, sizeof(ver), "%u.%u.%u", v->major, v->minor, v->micro);
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:{s:o, s:o, s:{s:b, s:b, s:b}, s:{s:b, s:o, s:o, s:o, s:o, "
	    "s:o, s:{s:s}}, s:{s:b}, s:{s:b}}, s:{s:s}}",
	    "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0", "hooks", STRARR(hooks),
	    "mountOptions", STRARR(mount_opts), "linux", "namespaces", STRARR(nss), "capabilities",
	    caps, "cgroup", "v1", 1, "v2", 1, "systemd", 0, "seccomp", "enabled", 1, "actions",
	    STRARR(actions), "operators", STRARR(ops), "archs", STRARR(archs), "knownFlags",
	    STRARR(flags), "supportedFlags", STRARR(flags), "lib", "version", ver, "apparmor",
	    "enabled", 0, "selinux", "enabled", 0, "annotations", "org.nodelet.runtime.version",
	    "0.1");
}
