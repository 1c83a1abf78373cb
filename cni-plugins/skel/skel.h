/* CNI plugin protocol (spec 0.3.0 .. 1.1.0): CNI_* environment, stdin network
 * configuration, result model with per-version JSON, error output, version
 * negotiation, delegated IPAM, and the skel_main() command dispatcher. */
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* ---- versions ---------------------------------------------------------- */

/* Ordered so that comparisons (>=) follow the spec's version order. */
enum cni_version {
	CNI_VERSION_INVALID = 0,
	CNI_VERSION_0_1_0,
	CNI_VERSION_0_2_0,
	CNI_VERSION_0_3_0,
	CNI_VERSION_0_3_1,
	CNI_VERSION_0_4_0,
	CNI_VERSION_1_0_0,
	CNI_VERSION_1_1_0,
};
#define CNI_VERSION_LATEST CNI_VERSION_1_1_0

/* "1.0.0" -> CNI_VERSION_1_0_0; unknown -> CNI_VERSION_INVALID. An empty or
 * missing cniVersion means 0.1.0, as in the spec. */
enum cni_version cni_version_parse(const char *s);
const char *cni_version_str(enum cni_version v);

/* ---- error codes (SPEC.md "Error") -------------------------------------- */

enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_PLUGIN_NOT_AVAILABLE = 50, /* STATUS: plugin cannot serve ADDs */
	CNI_ERR_LIMITED_CONNECTIVITY = 51, /* STATUS */
	CNI_ERR_INTERNAL = 999,		   /* anything without a CNI code */
};

/* An ndl_error_t whose code is CNI_ECODE(n) carries CNI error code n; any
 * other code (an errno) is reported as CNI_ERR_INTERNAL (999), as the
 * reference plugins report untyped errors. */
#define CNI_ECODE_BASE 0x10000
#define CNI_ECODE(n)   (CNI_ECODE_BASE + (n))
int cni_error_set(ndl_error_t *err, int cni_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The CNI code carried by err (999 when none). */
int cni_error_code(const ndl_error_t *err);
/* Optional "details" of the error JSON. The plugin is a single-threaded
 * short-lived process, so the details live beside the error in the process
 * (set by the plugin or by a delegated plugin's error) until printed. */
void cni_error_set_details(const char *details);
const char *cni_error_details(void);

/* ---- addresses ---------------------------------------------------------- */

struct cni_ip {
	int family; /* AF_INET / AF_INET6, 0 = unset */
	uint8_t addr[16];
};
struct cni_ipnet {
	struct cni_ip ip; /* for "address": the host's address; for a subnet, any */
	int prefix;
};

int cni_ip_parse(const char *s, struct cni_ip *ret, ndl_error_t *err);
int cni_ipnet_parse(const char *s, struct cni_ipnet *ret, ndl_error_t *err);
/* buf must hold at least CNI_IPNET_STRLEN bytes. */
#define CNI_IPNET_STRLEN 64
const char *cni_ip_format(const struct cni_ip *ip, char *buf);
const char *cni_ipnet_format(const struct cni_ipnet *n, char *buf);
bool cni_ip_equal(const struct cni_ip *a, const struct cni_ip *b);
/* -1/0/1 ordering; addresses of different families order v4 first. */
int cni_ip_cmp(const struct cni_ip *a, const struct cni_ip *b);
/* ip with host bits cleared (the network address). */
void cni_ipnet_mask(const struct cni_ipnet *n, struct cni_ipnet *ret);
bool cni_ipnet_contains(const struct cni_ipnet *n, const struct cni_ip *ip);
/* ip + 1 / ip - 1 (wraps silently). */
void cni_ip_next(struct cni_ip *ip);
void cni_ip_prev(struct cni_ip *ip);

/* ---- result model ------------------------------------------------------- */

struct cni_interface {
	char *name;
	char *mac;	   /* may be NULL */
	int mtu;	   /* 0 = unset (1.1.0+) */
	char *sandbox;	   /* may be NULL: host-side interface */
	char *socket_path; /* 1.1.0+, may be NULL */
	char *pci_id;	   /* 1.1.0+, may be NULL */
};

struct cni_ipconfig {
	struct cni_ipnet address;
	struct cni_ip gateway; /* family 0 = none */
	int interface;	       /* index into result.interfaces, -1 = none */
};

struct cni_route {
	struct cni_ipnet dst;
	struct cni_ip gw; /* family 0 = none */
	/* 1.1.0+ fields; 0 = unset */
	int mtu;
	int advmss;
	int priority;
	int table;
	int scope;
	bool has_table, has_scope;
};

struct cni_dns {
	char **nameservers;
	size_t n_nameservers;
	char *domain;
	char **search;
	size_t n_search;
	char **options;
	size_t n_options;
};

struct cni_result {
	enum cni_version version; /* the version it was parsed from */
	struct cni_interface *interfaces;
	size_t n_interfaces;
	struct cni_ipconfig *ips;
	size_t n_ips;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_dns dns;
};

struct cni_result *cni_result_new(void);
void cni_result_free(struct cni_result *r);
static inline void cni_result_freep(struct cni_result **r)
{
	cni_result_free(*r);
}
#define cleanup_cni_result __attribute__((cleanup(cni_result_freep)))

/* Append and return the new (zeroed, interface = -1) element; the index of an
 * added interface is n_interfaces - 1 after the call. */
struct cni_interface *cni_result_add_interface(struct cni_result *r, const char *name,
					       const char *mac, const char *sandbox);
struct cni_ipconfig *cni_result_add_ip(struct cni_result *r);
struct cni_route *cni_result_add_route(struct cni_result *r);
void cni_dns_clear(struct cni_dns *d);
void cni_dns_copy(struct cni_dns *dst, const struct cni_dns *src);
bool cni_dns_empty(const struct cni_dns *d);

/* Parse a result of any supported version (0.1.0 .. 1.1.0; `version` says
 * which, from its cniVersion field, or pass CNI_VERSION_INVALID to read
 * cniVersion from the object). `where` names the object in errors
 * ("prevResult"). Errors carry CNI_ERR_DECODE. */
int cni_result_from_json(const json_t *j, enum cni_version version, const char *where,
			 struct cni_result **ret, ndl_error_t *err);
/* Serialise as `version` (0.3.x/0.4.0 add "version" to ips; 1.0+ drop it;
 * 1.1-only fields are omitted for older versions). Fails with
 * CNI_ERR_INCOMPATIBLE_VERSION when the result cannot be expressed (0.1/0.2
 * with more than one address per family). */
int cni_result_to_json(const struct cni_result *r, enum cni_version version, json_t **ret,
		       ndl_error_t *err);
int cni_dns_from_json(const json_t *j, const char *where, struct cni_dns *ret, ndl_error_t *err);
json_t *cni_dns_to_json(const struct cni_dns *d);

/* ---- environment and configuration ------------------------------------- */

enum cni_command {
	CNI_CMD_NONE = 0,
	CNI_CMD_ADD,
	CNI_CMD_CHECK,
	CNI_CMD_DEL,
	CNI_CMD_GC,
	CNI_CMD_STATUS,
	CNI_CMD_VERSION,
};
const char *cni_command_str(enum cni_command c);

struct cni_kv {
	char *key;
	char *value;
};

/* The CNI_* environment (pointers into environ, or NULL when unset/empty). */
struct cni_env {
	enum cni_command command;
	const char *command_str;
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *args;  /* raw CNI_ARGS */
	const char *path;  /* raw CNI_PATH */
	struct cni_kv *kv; /* CNI_ARGS parsed: "K1=V1;K2=V2" */
	size_t n_kv;
};

/* Read and validate the environment for the command as the reference skel
 * does (required variables per command, container ID and ifname syntax);
 * errors carry CNI_ERR_INVALID_ENV. */
int cni_env_load(struct cni_env *ret, ndl_error_t *err);
void cni_env_clear(struct cni_env *e);
/* Split CNI_ARGS ("K1=V1;K2=V2") into kv; a pair without exactly one '='
 * is CNI_ERR_INVALID_ENV "ARGS: invalid pair". Called by plugins that read
 * CNI_ARGS (the reference plugins that ignore CNI_ARGS accept any value). */
int cni_env_parse_args(struct cni_env *e, ndl_error_t *err);
/* Value of CNI_ARGS key after cni_env_parse_args (NULL when absent). */
const char *cni_env_arg(const struct cni_env *e, const char *key);

struct cni_attachment {
	char *container_id;
	char *ifname;
};

/* The stdin network configuration. Borrowed json pointers stay valid while
 * `raw` lives. */
struct cni_conf {
	json_t *raw; /* the whole document */
	char *stdin_data;
	size_t stdin_len;
	const char *cni_version_str;
	enum cni_version version;
	const char *name;
	const char *type;
	json_t *ipam;	       /* NULL when absent */
	const char *ipam_type; /* NULL when absent */
	struct cni_dns dns;
	bool has_dns;
	json_t *runtime_config; /* "runtimeConfig", NULL when absent */
	json_t *capabilities;	/* NULL when absent */
	json_t *args;		/* "args", NULL when absent */
	json_t *prev_result_raw;
	struct cni_result *prev_result; /* parsed prevResult, NULL when absent */
	/* GC: "cni.dev/valid-attachments" */
	struct cni_attachment *valid_attachments;
	size_t n_valid_attachments;
	bool has_valid_attachments;
};

/* Parse stdin data (as in the reference skel: missing/invalid name is
 * CNI_ERR_INVALID_CONFIG, bad JSON is CNI_ERR_DECODE). Takes ownership of
 * data (malloc'd). */
int cni_conf_parse(char *data, size_t len, struct cni_conf *ret, ndl_error_t *err);
void cni_conf_clear(struct cni_conf *c);

/* Network name / container ID / interface name validators (same rules as the
 * reference libcni utils). */
int cni_validate_network_name(const char *name, ndl_error_t *err);
int cni_validate_container_id(const char *id, ndl_error_t *err);
int cni_validate_ifname(const char *name, ndl_error_t *err);

/* ---- output -------------------------------------------------------------- */

/* Print the result to stdout as the configuration's cniVersion. */
int cni_print_result(const struct cni_result *r, enum cni_version version, ndl_error_t *err);
/* Print {"cniVersion","code","msg","details"} to stdout. */
void cni_print_error(const char *cni_version, int code, const char *msg, const char *details);

/* ---- delegated plugins (IPAM) ------------------------------------------ */

/* Find `type` in the ':'-separated CNI_PATH. Names with '/' are refused. */
int cni_find_plugin(const char *path_list, const char *type, char **ret_path, ndl_error_t *err);

/* Run plugin `type` for `command` with the current CNI_* environment (with
 * CNI_COMMAND replaced) and `stdin_data`. For ADD (and when the plugin prints
 * one) the parsed result is returned in *ret (may be NULL when not wanted).
 * A plugin error becomes this error, with its code, msg and details. */
int cni_exec_plugin(const struct cni_env *env, const char *type, enum cni_command command,
		    const char *stdin_data, size_t stdin_len, struct cni_result **ret,
		    ndl_error_t *err);

/* The same in two halves, so the caller can work while the plugin runs:
 * start finds and spawns the plugin and hands it stdin (as much as the pipe
 * takes); finish feeds the rest, collects the output, reaps the plugin and
 * returns as cni_exec_plugin does. Every successful start must be
 * finished (it restores SIGPIPE, closes the pipes and reaps the child). */
struct cni_plugin_run {
	pid_t pid;
	int in_fd, out_fd;
	const char *data; /* caller's stdin data: must outlive the run */
	size_t len, off;
	char *type;
	struct sigaction old_sigpipe;
	const char *ipam_type; /* cni_ipam_exec_start only */
	enum cni_command command;
};
int cni_exec_plugin_start(const struct cni_env *env, const char *type, enum cni_command command,
			  const char *stdin_data, size_t stdin_len, struct cni_plugin_run *run,
			  ndl_error_t *err);
int cni_exec_plugin_finish(struct cni_plugin_run *run, struct cni_result **ret, ndl_error_t *err);

/* The delegated IPAM of the config (conf->ipam_type), with the config's own
 * stdin. ADD returns its result; CHECK/DEL/GC/STATUS return no result. */
int cni_ipam_exec(const struct cni_env *env, const struct cni_conf *conf, enum cni_command command,
		  struct cni_result **ret, ndl_error_t *err);
/* Halves of cni_ipam_exec, as cni_exec_plugin_start/finish. */
int cni_ipam_exec_start(const struct cni_env *env, const struct cni_conf *conf,
			enum cni_command command, struct cni_plugin_run *run, ndl_error_t *err);
int cni_ipam_exec_finish(struct cni_plugin_run *run, struct cni_result **ret, ndl_error_t *err);

/* ---- dispatcher --------------------------------------------------------- */

struct skel_ctx {
	struct cni_env env;
	struct cni_conf conf;
};

typedef int (*skel_cmd_fn)(struct skel_ctx *ctx, ndl_error_t *err);

struct skel_plugin {
	const char *about; /* printed on stderr when CNI_COMMAND is unset */
	/* Supported versions, ascending, terminated by CNI_VERSION_INVALID. */
	const enum cni_version *versions;
	/* ADD must print the result (cni_print_result) on success. NULL entries
	 * answer "not supported" for that command, except GC and STATUS which
	 * succeed with nothing done. */
	skel_cmd_fn add, check, del, gc, status;
};

/* Versions every plugin here supports: 0.1.0 .. 1.1.0. */
extern const enum cni_version cni_all_versions[];

/* Read env + stdin, negotiate the version, dispatch, print any error as CNI
 * error JSON. Returns the process exit status (0 or 1). */
int skel_main(const struct skel_plugin *plugin);
