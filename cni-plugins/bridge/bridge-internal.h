/* bridge: helpers shared between the plugin's files (not a public API). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cni-plugins/bridge/bridge.h"
#include "cni-plugins/skel/skel.h"
#include "lib/error.h"

/* Run argv[0] (PATH lookup) with `in` on stdin; collect stdout/stderr.
 * ret_out/ret_errout may be NULL. Fails only when the tool cannot be run;
 * its exit status goes to *ret_status. */
int bridge_run(char *const argv[], const char *in, char **ret_out, char **ret_errout,
	       int *ret_status, ndl_error_t *err);

/* Run up to 4 commands at once, each with its stdin from ins[i] and its
 * output discarded; wait for all and give their exit statuses. */
int bridge_run_quiet_parallel(char *const *const argvs[], const char *const ins[], size_t n,
			      int ret_status[], ndl_error_t *err);

/* iptables masquerade for the addresses of one attachment, exactly the
 * rules of the reference's ip.SetupIPMasq / TeardownIPMasq (one chain per
 * network+container in the nat table, jumped to from POSTROUTING). */
int bridge_ipmasq_setup(const struct cni_ipnet *addrs, size_t n, const char *chain,
			const char *comment, ndl_error_t *err);
/* Remove the POSTROUTING jumps to `chain` (IPv4 when v4, IPv6 when v6)
 * made for the addresses ips (all of them when n_ips is 0), and the chain
 * once nothing jumps to it any more. Missing rules are fine. */
int bridge_ipmasq_teardown(bool v4, bool v6, const struct cni_ipnet *ips, size_t n_ips,
			   const char *chain, const char *comment, ndl_error_t *err);

/* MAC spoof check (nftables bridge table "nat", as the reference's
 * link.SpoofChecker). id is "<containerID>-<ifname>". */
int bridge_spoofcheck_setup(const char *host_iface, const char *mac, const char *id,
			    ndl_error_t *err);
int bridge_spoofcheck_teardown(const char *id, ndl_error_t *err);

/* nf_tables (raw netlink) version of the above for one family, in the
 * exact layout iptables-nft 1.8.9 gives the reference's rules. setup fails
 * with EEXIST when the chain already exists; any failure leaves nothing
 * half done (one atomic batch) and the caller falls back to the tools. */
bool bridge_iptables_is_nft(void);
/* fd: a NETLINK_NETFILTER socket from bridge_nfnl_open(), shared by the
 * families; bridge_nfnl_close() returns without waiting for the kernel's
 * post-commit RCU grace period. */
int bridge_nfnl_open(ndl_error_t *err);
void bridge_nfnl_close(int fd);
int bridge_nft_masq_setup(int fd, int family, const struct cni_ipnet *addrs, size_t n,
			  const char *chain, const char *comment, ndl_error_t *err);
int bridge_nft_masq_teardown(int fd, int family, const struct cni_ipnet *ips, size_t n_ips,
			     const char *chain, const char *comment, ndl_error_t *err);

/* Delegated IPAM (ipam.c). In-process when ipam.type is "host-local" and
 * CNI_PATH resolves it to our own host-local binary; exec'd otherwise.
 * Callers decide once per command and pass the answer on, so an ADD and
 * its rollback never mix the two ways. */
bool bridge_ipam_in_process(const struct skel_ctx *ctx);
/* ADD of the IPAM in two halves, so that it can proceed while the veth
 * pair is made: start execs a foreign plugin (which then runs as its own
 * process); finish collects its result, or runs our host-local in this
 * process (on whatever thread calls it). The result is the one the exec'd
 * plugin's stdout would give. finish must be called once after a
 * successful start, also on failure paths (a lease the IPAM made then goes
 * in the rollback). */
struct bridge_ipam_add {
	struct skel_ctx *ctx;
	bool in_process, started;
	struct cni_plugin_run run; /* exec'd */
};
int bridge_ipam_add_start(struct skel_ctx *ctx, bool in_process, struct bridge_ipam_add *a,
			  ndl_error_t *err);
int bridge_ipam_add_finish(struct bridge_ipam_add *a, struct cni_result **ret, ndl_error_t *err);
/* DEL, CHECK, GC or STATUS of the IPAM, in-process or exec'd. */
int bridge_ipam(struct skel_ctx *ctx, enum cni_command cmd, bool in_process, ndl_error_t *err);
