/* OCI runtime spec (config.json, runtime-spec 1.0/1.1) parsed into typed
 * structs. Every validation error names the JSON field. Pure: no syscalls
 * besides reading the file, so it is unit-tested and fuzzed directly. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* Limits on user-controlled sizes. */
#define RT_MAX_ARRAY 65536

enum rt_cap_set {
	RT_CAP_BOUNDING,
	RT_CAP_EFFECTIVE,
	RT_CAP_INHERITABLE,
	RT_CAP_PERMITTED,
	RT_CAP_AMBIENT,
	RT_CAP_NSETS
};

struct rt_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct rt_user {
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	bool has_umask;
	mode_t umask;
};

struct rt_process {
	bool terminal;
	char **args; /* NULL-terminated */
	size_t n_args;
	char **env; /* NULL-terminated */
	size_t n_env;
	char *cwd;
	struct rt_user user;
	bool has_caps;
	uint64_t caps[RT_CAP_NSETS]; /* bit N = capability N */
	struct rt_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
	char *apparmor_profile;
	char *selinux_label;
};

struct rt_mount {
	char *destination;
	char *type;		   /* may be NULL (bind mounts) */
	char *source;		   /* may be NULL */
	unsigned long flags;	   /* MS_* to set */
	unsigned long propagation; /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [| MS_REC], 0 = none */
	char *data;		   /* options the kernel gets as data ("size=64k,mode=755") */
};

struct rt_namespace {
	int type;   /* CLONE_NEW* */
	char *path; /* join this one, or NULL to create */
};

struct rt_id_mapping {
	uint32_t container_id, host_id, size;
};

struct rt_device {
	char *path;
	char type; /* 'c', 'b', 'u', 'p' */
	int64_t major, minor;
	bool has_mode, has_uid, has_gid;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct rt_sysctl {
	char *key, *value;
};

enum rt_hook_kind {
	RT_HOOK_PRESTART,
	RT_HOOK_CREATE_RUNTIME,
	RT_HOOK_CREATE_CONTAINER,
	RT_HOOK_START_CONTAINER,
	RT_HOOK_POSTSTART,
	RT_HOOK_POSTSTOP,
	RT_HOOK_NKINDS
};

struct rt_hook {
	char *path;
	char **args; /* NULL-terminated, may be NULL */
	char **env;  /* NULL-terminated, may be NULL */
	int timeout; /* seconds, 0 = none */
};

struct rt_hooks {
	struct rt_hook *list;
	size_t n;
};

enum rt_seccomp_op {
	RT_SCMP_NE = 1,
	RT_SCMP_LT,
	RT_SCMP_LE,
	RT_SCMP_EQ,
	RT_SCMP_GE,
	RT_SCMP_GT,
	RT_SCMP_MASKED_EQ
};

struct rt_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	enum rt_seccomp_op op;
};

/* Actions, as libseccomp's SCMP_ACT_* but independent of its headers. */
enum rt_seccomp_action {
	RT_SCMP_ACT_KILL = 1, /* kill thread */
	RT_SCMP_ACT_KILL_PROCESS,
	RT_SCMP_ACT_TRAP,
	RT_SCMP_ACT_ERRNO,
	RT_SCMP_ACT_TRACE,
	RT_SCMP_ACT_ALLOW,
	RT_SCMP_ACT_LOG,
	RT_SCMP_ACT_NOTIFY
};

struct rt_seccomp_rule {
	char **names; /* NULL-terminated */
	size_t n_names;
	enum rt_seccomp_action action;
	bool has_errno;
	unsigned errno_ret;
	struct rt_seccomp_arg *args;
	size_t n_args;
};

struct rt_seccomp {
	enum rt_seccomp_action default_action;
	bool has_default_errno;
	unsigned default_errno_ret;
	char **architectures; /* "SCMP_ARCH_X86_64", NULL-terminated */
	size_t n_architectures;
	unsigned flags; /* RT_SECCOMP_FLAG_* */
	struct rt_seccomp_rule *rules;
	size_t n_rules;
};

#define RT_SECCOMP_FLAG_LOG	      1u
#define RT_SECCOMP_FLAG_SPEC_ALLOW    2u
#define RT_SECCOMP_FLAG_WAIT_KILLABLE 4u

struct rt_spec {
	char *oci_version;
	bool has_process;
	struct rt_process process;
	char *root_path;
	bool root_readonly;
	char *hostname;
	char *domainname;
	struct rt_mount *mounts;
	size_t n_mounts;
	/* linux */
	struct rt_namespace *namespaces;
	size_t n_namespaces;
	struct rt_id_mapping *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	struct rt_device *devices;
	size_t n_devices;
	char *cgroups_path;
	json_t *resources; /* linux.resources as given (borrowed from raw), or NULL */
	struct rt_sysctl *sysctls;
	size_t n_sysctls;
	struct rt_seccomp *seccomp;	  /* NULL when absent */
	unsigned long rootfs_propagation; /* 0 = default (rslave) */
	char **masked_paths;
	size_t n_masked_paths;
	char **readonly_paths;
	size_t n_readonly_paths;
	char *mount_label;
	struct rt_hooks hooks[RT_HOOK_NKINDS];
	json_t *annotations; /* object, borrowed from raw, or NULL */
	json_t *raw;	     /* the whole document (owned) */
};

/* Parse a whole config.json document; the spec takes its own reference to
 * doc. On error nothing is allocated and err names the field. */
int rt_spec_parse(json_t *doc, struct rt_spec **ret, ndl_error_t *err);
int rt_spec_parse_buf(const char *buf, size_t len, struct rt_spec **ret, ndl_error_t *err);
/* JSON parse that accepts uint64 literals beyond int64 (as reals). */
int rt_json_parse_wide(const char *buf, size_t len, json_t **ret, ndl_error_t *err);
/* bundle/config.json */
int rt_spec_load(const char *bundle, struct rt_spec **ret, ndl_error_t *err);
void rt_spec_free(struct rt_spec *s);
static inline void rt_spec_freep(struct rt_spec **s)
{
	rt_spec_free(*s);
}
#define cleanup_spec __attribute__((cleanup(rt_spec_freep)))

/* The "process" object alone (exec --process process.json). */
int rt_process_parse(const json_t *obj, const char *where, struct rt_process *ret,
		     ndl_error_t *err);
void rt_process_clear(struct rt_process *p);

/* Seccomp object alone (for tests and the fuzzer). */
int rt_seccomp_parse(const json_t *obj, const char *where, struct rt_seccomp **ret,
		     ndl_error_t *err);
void rt_seccomp_free(struct rt_seccomp *s);

/* Find a namespace entry of type CLONE_NEW*, or NULL. */
const struct rt_namespace *rt_spec_namespace(const struct rt_spec *s, int type);

/* ---- name tables (tables.c) ---- */

/* "CAP_SYS_ADMIN" -> 21; -1 when unknown. Accepts names without "CAP_" too. */
int rt_cap_from_name(const char *name);
/* 21 -> "CAP_SYS_ADMIN", NULL when unknown. */
const char *rt_cap_name(int cap);
int rt_cap_last(void); /* highest capability number the table knows */

/* "SIGKILL", "KILL", "9" -> 9; RTMIN+N too. -1 when unknown. */
int rt_signal_from_name(const char *name);
const char *rt_signal_name(int sig); /* "SIGKILL", NULL when unknown */

/* "RLIMIT_NOFILE" -> RLIMIT_NOFILE; -1 when unknown. */
int rt_rlimit_from_name(const char *name);

/* "network" -> CLONE_NEWNET ... ; 0 when unknown. "user", "time" included. */
int rt_namespace_from_name(const char *name);
const char *rt_namespace_name(int type); /* "net" as in /proc/self/ns/<name> */

/* Parse a mount's options: flags to set, propagation, leftover data options.
 * Unknown options go into *ret_data (comma-joined, may be NULL) as runc does.
 * Returns <0 for options that are recognised but unsupported. */
int rt_mount_options_parse(const char *const *opts, size_t n, unsigned long *ret_flags,
			   unsigned long *ret_propagation, char **ret_data, ndl_error_t *err);
/* "rslave" -> MS_SLAVE|MS_REC; 0 when unknown. */
unsigned long rt_propagation_from_name(const char *name);

/* seccomp names */
int rt_seccomp_action_from_name(const char *name); /* -1 unknown */
int rt_seccomp_op_from_name(const char *name);	   /* -1 unknown */
