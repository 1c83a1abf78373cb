/* Small rtnetlink client for the CNI plugins: links (bridge, veth), bridge
 * port options, addresses, routes, DAD settling, per-netns sockets and
 * sysctls.
 *
 * Written over a raw NETLINK_ROUTE socket rather than libnl-route-3: the
 * plugins are exec'd once per pod and must stay under 1 MB peak RSS, and
 * libnl's caches and object model alone cost more than that (measured: a
 * static libnl binary that opens a socket and looks up one link peaks at
 * 1044 kB). Errors are negative errno values, translated from the kernel's
 * NLMSG_ERROR once, here. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct netlink_sock {
	int fd;
	uint32_t seq;
};
#define NETLINK_SOCK_INIT                                                                          \
	{                                                                                          \
		-1, 0                                                                              \
	}

/* Open a NETLINK_ROUTE socket in the current network namespace. */
int netlink_open(struct netlink_sock *s, ndl_error_t *err);
/* Open one inside the network namespace netns_fd: setns there, create the
 * socket (a socket stays bound to the namespace it was created in), setns
 * back. The caller must be single-threaded (the CNI plugins are). */
int netlink_open_in_netns(struct netlink_sock *s, int netns_fd, ndl_error_t *err);
/* The same, returning to home_fd (an fd of the caller's namespace, which
 * stays open) instead of opening one to come back to. */
int netlink_open_in_netns_from(struct netlink_sock *s, int netns_fd, int home_fd,
			       ndl_error_t *err);
void netlink_close(struct netlink_sock *s);

/* Open a network namespace path as the reference ns.GetNS does: the path
 * must be an nsfs (or procfs) file. A missing path gives -ENOENT. */
int netlink_netns_open(const char *path, int *ret_fd, ndl_error_t *err);
/* Enter netns_fd; *ret_saved is an fd of the previous namespace for
 * netlink_netns_leave(). */
int netlink_netns_enter(int netns_fd, int *ret_saved, ndl_error_t *err);
int netlink_netns_leave(int *saved, ndl_error_t *err);

/* ---- links ---------------------------------------------------------- */

/* Set one IPv4 per-interface setting (IPV4_DEVCONF_*, linux/ip.h) of link
 * index over netlink (IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF): the same value
 * and "explicitly set" mark as a write to /proc/sys/net/ipv4/conf/<if>/,
 * without that path's lookups, which are slow in a fresh namespace. */
int netlink_ipv4_devconf_set(struct netlink_sock *s, int index, int key, uint32_t value,
			     ndl_error_t *err);

struct netlink_link {
	int index;
	char name[IF_NAMESIZE];
	char kind[16];	/* IFLA_INFO_KIND: "bridge", "veth", ... or "" */
	unsigned flags; /* IFF_* */
	int mtu;
	uint8_t mac[32];
	int mac_len;
	int master; /* ifindex of the master, 0 = none */
	int link;   /* IFLA_LINK (veth: peer ifindex in the peer's netns) */
	bool link_netnsid_set;
	uint8_t operstate;   /* IF_OPER_* */
	bool vlan_filtering; /* bridges only */
	uint32_t promiscuity;
	int accept_ra; /* IPv6 devconf accept_ra from IFLA_AF_SPEC, -1: not reported */
};

/* Look a link up by name (index 0) or by index (name NULL). A missing link
 * is -ENODEV. */
int netlink_link_get(struct netlink_sock *s, const char *name, int index, struct netlink_link *ret,
		     ndl_error_t *err);

/* Create a bridge. mtu 0 leaves the kernel default; vlan_filtering sets
 * IFLA_BR_VLAN_FILTERING. An existing link of that name gives -EEXIST. */
int netlink_bridge_add(struct netlink_sock *s, const char *name, int mtu, bool vlan_filtering,
		       ndl_error_t *err);

/* Create a veth pair in the socket's namespace: `name` stays there, `peer`
 * is created directly inside the namespace peer_netns_fd (-1: same
 * namespace). mac (6 bytes) may be NULL. txqueuelen 0 like the reference. */
int netlink_veth_add(struct netlink_sock *s, const char *name, const char *peer, int peer_netns_fd,
		     int mtu, const uint8_t *mac, ndl_error_t *err);

int netlink_link_del(struct netlink_sock *s, int index, ndl_error_t *err);

/* Delete link `index` (in the namespace of s) and return as soon as the
 * kernel has unlisted it, not when the syscall returns: unregistering a
 * netdev ends in rcu_barrier() and friends, 15-30 ms on this kernel after
 * the link has already vanished. A detached helper process (double fork,
 * stdio on /dev/null, no other fds) sends the request on s and finishes
 * that wait; we watch for the RTM_DELLINK notification on a second socket
 * `mon` in the same namespace. Kernel errors (e.g. -ENODEV) are reported
 * as from netlink_link_del. s must not be used afterwards. */
int netlink_link_del_detached(struct netlink_sock *s, struct netlink_sock *mon, int index,
			      ndl_error_t *err);
/* Subscribe `mon` to link notifications (RTNLGRP_LINK) of its namespace,
 * for netlink_link_wait_oper_up; call it before the change to wait for. */
int netlink_link_watch(struct netlink_sock *mon, ndl_error_t *err);
/* Wait up to timeout_ms for link `index` to be operationally up (carrier,
 * after the kernel's link watch has run): a GETLINK on s, then the
 * RTM_NEWLINK notifications on mon (watched already), asking again after
 * lost notifications. Returns 0 when up; -ETIMEDOUT with *ret_state the
 * last IF_OPER_* seen otherwise. mon may be NULL: then s is polled, at
 * 1 ms doubling to 64 ms. */
int netlink_link_wait_oper_up(struct netlink_sock *s, struct netlink_sock *mon, int index,
			      int timeout_ms, uint8_t *ret_state, ndl_error_t *err);
/* Change IFF_* flags: only bits in mask are changed to their value in flags. */
int netlink_link_set_flags(struct netlink_sock *s, int index, unsigned flags, unsigned mask,
			   ndl_error_t *err);
static inline int netlink_link_set_up(struct netlink_sock *s, int index, ndl_error_t *err)
{
	return netlink_link_set_flags(s, index, IFF_UP, IFF_UP, err);
}
int netlink_link_set_master(struct netlink_sock *s, int index, int master, ndl_error_t *err);
int netlink_link_set_mac(struct netlink_sock *s, int index, const uint8_t *mac, int len,
			 ndl_error_t *err);
int netlink_link_set_mtu(struct netlink_sock *s, int index, int mtu, ndl_error_t *err);

/* Bridge port: IFLA_BRPORT_MODE (hairpin) through AF_BRIDGE IFLA_PROTINFO. */
int netlink_brport_set_hairpin(struct netlink_sock *s, int index, bool on, ndl_error_t *err);
/* Add vlan `vid` to bridge port `index` (the master's vlan table). */
int netlink_bridge_vlan_add(struct netlink_sock *s, int index, uint16_t vid, bool pvid,
			    bool untagged, ndl_error_t *err);

/* ---- addresses ------------------------------------------------------ */

struct netlink_addr {
	int family; /* AF_INET / AF_INET6 */
	uint8_t addr[16];
	int prefixlen;
	int ifindex;
	uint32_t flags; /* IFA_F_* (from IFA_FLAGS when present) */
	uint8_t scope;
};

/* Addresses of ifindex (0 = all) of family (AF_UNSPEC = both). *ret is a
 * malloc'd array. */
int netlink_addr_list(struct netlink_sock *s, int ifindex, int family, struct netlink_addr **ret,
		      size_t *ret_n, ndl_error_t *err);
/* Add with NLM_F_EXCL; IPv4 prefixes shorter than /31 get the computed
 * broadcast address, as the reference's netlink library does. */
int netlink_addr_add(struct netlink_sock *s, const struct netlink_addr *a, ndl_error_t *err);
int netlink_addr_del(struct netlink_sock *s, const struct netlink_addr *a, ndl_error_t *err);

/* Wait until no address of ifindex is tentative or dadfailed (IPv6 DAD),
 * polling (1 ms doubling to 50 ms) for at most timeout_ms: -ETIMEDOUT after. */
int netlink_addr_settle(struct netlink_sock *s, int ifindex, int timeout_ms, ndl_error_t *err);

/* ---- routes --------------------------------------------------------- */

struct netlink_route {
	int family;
	uint8_t dst[16];
	int dst_len;
	bool has_gw;
	uint8_t gw[16];
	int oif;
	uint32_t table;
	uint8_t type;
	uint8_t scope;
	uint8_t protocol;
	uint32_t priority;
};

/* Add a unicast route in the main table (proto boot, scope universe) with
 * NLM_F_CREATE only: IPv6 routes to an existing destination become
 * multipath, as the reference's RouteAddEcmp. */
int netlink_route_add(struct netlink_sock *s, const struct netlink_route *r, ndl_error_t *err);
/* All routes of a family (every table); *ret malloc'd. */
int netlink_route_list(struct netlink_sock *s, int family, struct netlink_route **ret,
		       size_t *ret_n, ndl_error_t *err);

/* ---- sysctl ----------------------------------------------------------- */

/* Write value to /proc/sys/<key> (key with '/' separators, so interface
 * names with dots work) in the calling thread's network namespace. */
int netlink_sysctl_write(const char *key, const char *value, ndl_error_t *err);
/* Read the first line into buf. */
int netlink_sysctl_read(const char *key, char *buf, size_t size, ndl_error_t *err);

/* "aa:bb:cc:dd:ee:ff" formatting/parsing of link-layer addresses. */
#define NETLINK_MAC_STRLEN (32 * 3)
const char *netlink_mac_format(const uint8_t *mac, int len, char *buf);
int netlink_mac_parse(const char *s, uint8_t mac[6]);

/* close_range(2) through syscall(): the plugins are also built against
 * musl, whose headers do not declare the wrapper. */
void netlink_close_range(unsigned lo, unsigned hi);
