/* bridge CNI plugin: configuration, naming and the ADD/DEL/CHECK commands.
 * A drop-in for the reference plugin (containernetworking/plugins 1.1.1):
 * same keys, same result, same links/addresses/routes and iptables rules. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni-plugins/skel/skel.h"
#include "lib/error.h"

#define BRIDGE_DEFAULT_NAME "cni0"

struct bridge_conf {
	char br_name[16];
	bool is_gw;
	bool is_default_gw;
	bool force_address;
	bool ip_masq;
	int mtu;
	bool hairpin;
	bool promisc;
	int vlan;
	bool macspoofchk;
	bool enable_dad;
	bool has_mac;
	uint8_t mac[6]; /* container side MAC: CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac */
	char mac_str[32];
};

/* Parse the bridge keys of the network configuration `conf` (the whole stdin
 * object) and CNI_ARGS pairs (kv, n_kv). Errors name the field. */
int bridge_conf_parse(const json_t *conf, const struct cni_kv *kv, size_t n_kv,
		      struct bridge_conf *ret, ndl_error_t *err);

/* "CNI-" + the first 24 hex digits of sha512(network name + container ID):
 * the reference's utils.FormatChainName. buf holds at least 29 bytes. */
#define BRIDGE_CHAIN_LEN 28
void bridge_chain_name(const char *network, const char *container_id, char *buf);
/* `name: "<network>" id: "<containerID>"` (Go %q quoting). */
char *bridge_chain_comment(const char *network, const char *container_id);

/* "veth" + 8 hex digits from 4 random bytes. buf holds >= 13 bytes. */
int bridge_random_veth_name(char *buf, ndl_error_t *err);
/* Same, from given bytes (for tests). */
void bridge_veth_name_from(const uint8_t rnd[4], char *buf);

/* SHA-512 of data into out[64] (only the chain name needs it; libcrypto would
 * cost more RSS than the whole plugin). */
void bridge_sha512(const void *data, size_t len, uint8_t out[64]);

/* Go's %q for a plain string (used in comments and messages). */
char *bridge_go_quote(const char *s);

/* Commands (bridge.c). */
int bridge_cmd_add(struct skel_ctx *ctx, ndl_error_t *err);
int bridge_cmd_del(struct skel_ctx *ctx, ndl_error_t *err);
int bridge_cmd_check(struct skel_ctx *ctx, ndl_error_t *err);
int bridge_cmd_gc(struct skel_ctx *ctx, ndl_error_t *err);
int bridge_cmd_status(struct skel_ctx *ctx, ndl_error_t *err);
