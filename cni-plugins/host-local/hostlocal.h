/* host-local IPAM: configuration, ranges and the round-robin allocator over
 * the reference plugin's on-disk lease store (<dataDir>/<network>/<ip>). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni-plugins/skel/skel.h"

#define HL_DEFAULT_DATA_DIR "/var/lib/cni/networks"
/* Bounds on user-controlled sizes (the reference has none; no real network
 * needs more). */
#define HL_MAX_RANGES	 256
#define HL_MAX_ROUTES	 1024
#define HL_MAX_REQUESTED 64

struct hl_range {
	struct cni_ipnet subnet;  /* network address (host bits clear) + prefix */
	struct cni_ip start, end; /* inclusive */
	struct cni_ip gateway;
};

struct hl_rangeset {
	struct hl_range *ranges;
	size_t n;
};

struct hl_config {
	const char *name;  /* network name (borrowed from the cni_conf) */
	char *data_dir;	   /* dataDir or the default */
	char *resolv_conf; /* NULL when unset */
	struct hl_rangeset *sets;
	size_t n_sets;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_ip *requested; /* CNI_ARGS IP, args.cni.ips, runtimeConfig.ips */
	size_t n_requested;
};

/* Parse and validate the IPAM part of conf (env supplies CNI_ARGS). Errors
 * carry CNI_ERR_INVALID_CONFIG (or CNI_ERR_INVALID_ENV for CNI_ARGS) and name
 * the field. */
int hl_config_parse(const struct cni_conf *conf, struct cni_env *env, struct hl_config *ret,
		    ndl_error_t *err);
void hl_config_clear(struct hl_config *c);

/* Fill defaults (gateway = network+1, start = network+1, end = last usable)
 * and validate one range; `where` names it in errors. */
int hl_range_canonicalize(struct hl_range *r, bool has_start, bool has_end, bool has_gw,
			  const char *where, ndl_error_t *err);
bool hl_range_contains(const struct hl_range *r, const struct cni_ip *ip);
bool hl_range_overlaps(const struct hl_range *a, const struct hl_range *b);
/* "start-end" joined with "," as the reference prints a range set. */
char *hl_rangeset_str(const struct hl_rangeset *s);
const struct hl_range *hl_rangeset_find(const struct hl_rangeset *s, const struct cni_ip *ip);
/* Whether ip may ever be leased from r: not the gateway, not the network
 * address, not the IPv4 broadcast address. */
bool hl_range_allocatable(const struct hl_range *r, const struct cni_ip *ip);

/* ---- lease store ---- */

struct hl_lease;
struct hl_store {
	int dirfd; /* <dataDir>/<network> */
	int lockfd;
	/* The leases, read once per command: under the lock nobody else
	 * changes the directory, and every change we make updates the cache. */
	struct hl_lease *leases;
	size_t n_leases;
	bool loaded;
};

/* mkdir -p the network directory, open it and take the exclusive flock on
 * its "lock" file (held until hl_store_close). */
int hl_store_open(const char *data_dir, const char *network, struct hl_store *ret,
		  ndl_error_t *err);
void hl_store_close(struct hl_store *s);
/* Create the lease file for ip atomically with its full content; 1 when
 * reserved, 0 when already taken. Also records last_reserved_ip.<set>. */
int hl_store_reserve(struct hl_store *s, const char *id, const char *ifname,
		     const struct cni_ip *ip, size_t set_idx, ndl_error_t *err);
int hl_store_last_reserved(struct hl_store *s, size_t set_idx, struct cni_ip *ret);
int hl_store_release_ip(struct hl_store *s, const struct cni_ip *ip, ndl_error_t *err);
/* Release the leases of (id, ifname); when none match, those of id alone
 * (files written by old versions hold only the id), as the reference does. */
int hl_store_release_by_id(struct hl_store *s, const char *id, const char *ifname,
			   ndl_error_t *err);
/* IPs leased to (id, ifname) (or to id alone, as the reference matches). */
int hl_store_get_by_id(struct hl_store *s, const char *id, const char *ifname, struct cni_ip **ret,
		       size_t *ret_n, ndl_error_t *err);
/* Every lease: ip + owner. */
struct hl_lease {
	struct cni_ip ip;
	char *id;
	char *ifname; /* "" for old single-line leases */
};
int hl_store_list(struct hl_store *s, struct hl_lease **ret, size_t *ret_n, ndl_error_t *err);
void hl_leases_free(struct hl_lease *l, size_t n);

/* ---- allocator ---- */

/* Lease one address of set `idx` to (id, ifname): the requested one when
 * given, else the next free one after last_reserved_ip.<idx> (round robin).
 * Fills the ipconfig (address with the subnet's prefix, gateway). */
int hl_allocate(struct hl_store *s, const struct hl_rangeset *set, size_t idx, const char *id,
		const char *ifname, const struct cni_ip *requested, struct cni_ipconfig *ret,
		ndl_error_t *err);
/* Whether any address of the set is still free (STATUS). */
int hl_rangeset_has_free(struct hl_store *s, const struct hl_rangeset *set, bool *ret,
			 ndl_error_t *err);

/* ---- commands (commands.c) ---- */

/* Called by hl_cmd_add with the result while the leases are held; when it
 * fails, the leases this ADD made are released again. */
typedef int (*hl_emit_fn)(const struct cni_result *res, void *opaque, ndl_error_t *err);
int hl_cmd_add(struct skel_ctx *ctx, hl_emit_fn emit, void *opaque, ndl_error_t *err);
int hl_cmd_del(struct skel_ctx *ctx, ndl_error_t *err);
int hl_cmd_check(struct skel_ctx *ctx, ndl_error_t *err);
int hl_cmd_gc(struct skel_ctx *ctx, ndl_error_t *err);
int hl_cmd_status(struct skel_ctx *ctx, ndl_error_t *err);

/* ---- identity (note.c) ---- */

/* The host-local program carries an ELF note (owner "nodelet", this type)
 * whose description names the behaviour and on-disk layout of this code.
 * Bump the number whenever host-local's results, errors or files change,
 * so a bridge never runs in-process a host-local that behaves differently
 * from the binary it finds in CNI_PATH. */
#define HL_NOTE_NAME	  "nodelet"
#define HL_NOTE_TYPE	  0x4c48u /* "HL" */
#define HL_NOTE_DESC	  "host-local/1"
#define HL_NOTE_ALIGN4(n) (((n) + 3u) & ~3u)
#define HL_NOTE_NAME_SIZE HL_NOTE_ALIGN4(sizeof(HL_NOTE_NAME))
#define HL_NOTE_DESC_SIZE HL_NOTE_ALIGN4(sizeof(HL_NOTE_DESC))

/* Whether the executable at path is a host-local built from this code: a
 * regular executable ELF file of our class carrying the note above. Any
 * doubt (unreadable, not ELF, other note, script) answers false, and the
 * caller then execs the file as any other plugin. */
bool hl_binary_is_ours(const char *path);
