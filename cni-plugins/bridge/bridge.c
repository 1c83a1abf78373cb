/* bridge: the ADD, DEL and CHECK commands. The sequence follows the
 * reference plugin step for step (bridge -> veth -> IPAM -> container
 * addresses and routes -> gateway on the bridge -> masquerade) so both
 * leave the same state; unlike it, a failed ADD undoes everything it did
 * (veth, spoof-check rules, IPAM lease, masquerade rules). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ip.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "cni-plugins/netlink/netlink.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* IF_OPER_* from linux/if.h (RFC 2863 operational state). */
#ifndef IF_OPER_UP
#define IF_OPER_UNKNOWN 0
#define IF_OPER_UP 6
#endif

static void fmt_mac(const struct netlink_link *l, char *buf)
{
	netlink_mac_format(l->mac, l->mac_len, buf);
}

static void to_nladdr(const struct cni_ipnet *n, int ifindex, struct netlink_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = n->ip.family;
	memcpy(a->addr, n->ip.addr, n->ip.family == AF_INET ? 4 : 16);
	a->prefixlen = n->prefix;
	a->ifindex = ifindex;
}

/* The bridge keys plus CNI_ARGS (MAC, IgnoreUnknown), as loadNetConf. */
static int load_conf(struct skel_ctx *ctx, struct bridge_conf *c, ndl_error_t *err)
{
	if (cni_env_parse_args(&ctx->env, err) < 0)
		return -EINVAL;
	return bridge_conf_parse(ctx->conf.raw, ctx->env.kv, ctx->env.n_kv, c, err);
}

/* ---- bridge ---------------------------------------------------------- */

static int ensure_bridge(struct netlink_sock *hs, const struct bridge_conf *c,
			 struct netlink_link *ret, ndl_error_t *err)
{
	/* Look first: after the first ADD the bridge exists, and the create
	 * that the reference always sends would only fail with EEXIST. */
	struct netlink_link br;
	int r = netlink_link_get(hs, c->br_name, 0, &br, err);
	if (r == -ENODEV) {
		ndl_error_clear(err);
		r = netlink_bridge_add(hs, c->br_name, c->mtu, c->vlan != 0, err);
		if (r < 0 && r != -EEXIST)
			return ndl_error_wrap(
			    err, "failed to create bridge \"%s\": could not add", c->br_name);
		if (r == -EEXIST)
			ndl_error_clear(err); /* a concurrent ADD made it */
		r = netlink_link_get(hs, c->br_name, 0, &br, err);
	}
	if (r < 0)
		return ndl_error_wrap(err, "failed to create bridge \"%s\": could not lookup",
				      c->br_name);
	if (strcmp(br.kind, "bridge") != 0)
		return ndl_error_setf(
		    err, EEXIST,
		    "failed to create bridge \"%s\": \"%s\" already exists but is "
		    "not a bridge",
		    c->br_name, c->br_name);
	if (c->promisc && !(br.flags & IFF_PROMISC)) {
		if (netlink_link_set_flags(hs, br.index, IFF_PROMISC, IFF_PROMISC, err) < 0)
			return ndl_error_wrap(err, "could not set promiscuous mode on \"%s\"",
					      c->br_name);
		br.flags |= IFF_PROMISC;
	}
	/* We want to own the routes for this interface. The reference writes
	 * the sysctl on every ADD; the link dump already tells whether it is
	 * 0, and a /proc/sys lookup costs 10-100 us once a netns has a few
	 * hundred interfaces. */
	if (br.accept_ra != 0) {
		char key[64];
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_ra", c->br_name);
		ndl_error_t ign = NDL_ERROR_INIT;
		(void)netlink_sysctl_write(key, "0", &ign);
		ndl_error_clear(&ign);
	}
	if (!(br.flags & IFF_UP)) {
		if (netlink_link_set_up(hs, br.index, err) < 0)
			return ndl_error_wrap(err, "failed to create bridge \"%s\"", c->br_name);
		br.flags |= IFF_UP;
	}
	*ret = br;
	return 0;
}

/* We own the routes of the host end: no router advertisements there. The
 * lookup walks the dentries of every namespace's /proc/sys/net/ipv6
 * (~0.1 ms at a few hundred pods) without the RTNL, so the ADD does it
 * while it waits for the kernel's link watch anyway; the host end gets no
 * IPv6 address before that (carrier) and sends nothing until its duplicate
 * address detection is over, a second later. */
static void host_accept_ra_off(const char *peer)
{
	char key[64];
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_ra", peer);
	ndl_error_t ign = NDL_ERROR_INIT;
	(void)netlink_sysctl_write(key, "0", &ign);
	ndl_error_clear(&ign);
}

/* Create a veth pair: `name` in the namespace of `ns` (socket), the peer
 * (random "veth…" name) in the namespace of `hs` (host_ns_fd, -1 when both
 * sockets are the same namespace). The host end is set up, enslaved to
 * the bridge, hairpin and vlan configured, and its accept_ra turned off
 * (unless accept_ra_later: then by the caller). made(made_arg) is called
 * as soon as the container end exists. */
static int setup_veth(struct netlink_sock *ns, struct netlink_sock *hs, int host_ns_fd,
		      const struct netlink_link *br, const char *name, int mtu, bool hairpin,
		      int vlan, const uint8_t *mac, void (*made)(void *), void *made_arg,
		      bool accept_ra_later, struct netlink_link *ret_host, struct netlink_link *ret_cont,
		      ndl_error_t *err)
{
	char peer[16];
	int r = -EEXIST;
	for (int i = 0; i < 10; i++) {
		if (bridge_random_veth_name(peer, err) < 0)
			return -EIO;
		r = netlink_veth_add(ns, name, peer, host_ns_fd, mtu, mac, err);
		if (r == 0)
			break;
		if (r != -EEXIST)
			return ndl_error_wrap(err, "failed to make veth pair");
		ndl_error_clear(err);
		struct netlink_link tmp;
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (netlink_link_get(ns, name, 0, &tmp, &e2) == 0)
			return ndl_error_setf(
			    err, EEXIST, "container veth name provided (%s) already exists", name);
		ndl_error_clear(&e2);
		/* The random host name collided: try another. */
	}
	if (r < 0)
		return ndl_error_setf(err, EEXIST, "failed to find a unique veth name");
	if (made)
		made(made_arg);

	struct netlink_link cont, host;
	if (netlink_link_get(ns, name, 0, &cont, err) < 0)
		return ndl_error_wrap(err, "failed to lookup %s", name);
	r = netlink_link_get(hs, peer, 0, &host, err);
	if (r < 0) {
		ndl_error_wrap(err, "failed to lookup \"%s\"", peer);
		goto fail;
	}
	r = netlink_link_set_up(hs, host.index, err);
	if (r < 0) {
		ndl_error_wrap(err, "failed to set \"%s\" up", peer);
		goto fail;
	}
	if (!accept_ra_later)
		host_accept_ra_off(peer);
	r = netlink_link_set_master(hs, host.index, br->index, err);
	if (r < 0) {
		ndl_error_wrap(err, "failed to connect \"%s\" to bridge %s", peer, br->name);
		goto fail;
	}
	/* A new port starts with hairpin off: only turning it on needs a
	 * request. */
	if (hairpin) {
		r = netlink_brport_set_hairpin(hs, host.index, true, err);
		if (r < 0) {
			ndl_error_wrap(err, "failed to setup hairpin mode for %s", peer);
			goto fail;
		}
	}
	if (vlan) {
		r = netlink_bridge_vlan_add(hs, host.index, (uint16_t)vlan, true, true, err);
		if (r < 0) {
			ndl_error_wrap(err, "failed to setup vlan tag on interface \"%s\"", peer);
			goto fail;
		}
	}
	/* Not read again: joining the bridge changes neither the veth's MAC
	 * nor anything else the caller uses. */
	*ret_host = host;
	*ret_cont = cont;
	return 0;
fail:;
	ndl_error_t e3 = NDL_ERROR_INIT;
	if (netlink_link_del(ns, cont.index, &e3) < 0)
		ndl_error_clear(&e3);
	return r;
}

/* The "<bridge>.<vlan>" veth that carries the gateway address when a vlan
 * is set (reference ensureVlanInterface). */
static int ensure_vlan_iface(struct netlink_sock *hs, const struct netlink_link *br, int vlan,
			     struct netlink_link *ret, ndl_error_t *err)
{
	char name[32];
	snprintf(name, sizeof(name), "%s.%d", br->name, vlan);
	if (strlen(name) >= IF_NAMESIZE)
		return ndl_error_setf(err, EINVAL, "vlan gateway interface name %s too long", name);
	int r = netlink_link_get(hs, name, 0, ret, err);
	if (r == 0)
		return 0;
	if (r != -ENODEV)
		return ndl_error_wrap(err, "failed to find interface \"%s\"", name);
	ndl_error_clear(err);
	struct netlink_link host, gw;
	if (setup_veth(hs, hs, -1, br, name, br->mtu, false, vlan, NULL, NULL, NULL, false, &host,
		       &gw, err) < 0)
		return ndl_error_wrap(err, "faild to create vlan gateway \"%s\"", name);
	if (netlink_link_set_up(hs, gw.index, err) < 0)
		return ndl_error_wrap(err, "failed to up \"%s\"", name);
	return netlink_link_get(hs, name, 0, ret, err);
}

static bool ipnet_equal(const struct netlink_addr *a, const struct cni_ipnet *n)
{
	return a->family == n->ip.family && a->prefixlen == n->prefix &&
	       memcmp(a->addr, n->ip.addr, a->family == AF_INET ? 4 : 16) == 0;
}

static bool prefix_contains(const uint8_t *net, int plen, const uint8_t *ip)
{
	for (int i = 0; i < plen; i++) {
		int b = i / 8, m = 0x80 >> (i % 8);
		if ((net[b] & m) != (ip[b] & m))
			return false;
	}
	return true;
}

/* Put gateway gw/prefix on link (reference ensureAddr). */
static int ensure_addr(struct netlink_sock *hs, const struct netlink_link *l,
		       const struct cni_ipnet *gw, bool force, ndl_error_t *err)
{
	struct netlink_addr *v = NULL;
	size_t n = 0;
	if (netlink_addr_list(hs, l->index, gw->ip.family, &v, &n, err) < 0)
		return ndl_error_wrap(err, "could not get list of IP addresses");
	char gs[CNI_IPNET_STRLEN];
	cni_ipnet_format(gw, gs);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (ipnet_equal(&v[i], gw))
			goto out;
		/* Several IPv6 addresses are fine when their subnets do not
		 * overlap; IPv4 allows only one. */
		int plen_min = v[i].prefixlen < gw->prefix ? v[i].prefixlen : gw->prefix;
		if (gw->ip.family == AF_INET || prefix_contains(v[i].addr, plen_min, gw->ip.addr)) {
			if (!force) {
				r = ndl_error_setf(
				    err, EEXIST,
				    "\"%s\" already has an IP address different from %s", l->name,
				    gs);
				goto out;
			}
			if (netlink_addr_del(hs, &v[i], err) < 0) {
				r = ndl_error_wrap(err, "could not remove IP address from \"%s\"",
						   l->name);
				goto out;
			}
		}
	}
	struct netlink_addr a;
	to_nladdr(gw, l->index, &a);
	r = netlink_addr_add(hs, &a, err);
	if (r == -EEXIST) {
		ndl_error_clear(err);
		r = 0;
	} else if (r < 0) {
		ndl_error_wrap(err, "could not add IP address to \"%s\"", l->name);
		goto out;
	}
	/* Pin the bridge MAC to its current value: otherwise it follows the
	 * lowest port MAC and changes as veths come and go. Read it now: the
	 * reference uses the value from before the veth joined, which is
	 * 00:00:00:00:00:00 for a port-less bridge that never had its MAC set
	 * (after an L2-only network was torn down) and then fails EINVAL. */
	struct netlink_link now;
	r = netlink_link_get(hs, NULL, l->index, &now, err);
	if (r < 0)
		goto out;
	r = netlink_link_set_mac(hs, l->index, now.mac, now.mac_len, err);
	if (r < 0)
		ndl_error_wrap(err, "could not set bridge's mac");
out:
	free(v);
	return r;
}

static void gateway_of(const struct cni_ipnet *addr, struct cni_ip *ret)
{
	struct cni_ipnet net;
	cni_ipnet_mask(addr, &net);
	*ret = net.ip;
	cni_ip_next(ret);
}

static bool is_default_dst(const struct cni_ipnet *d, int family)
{
	return d->ip.family == family && d->prefix == 0;
}

static bool ip_is_global_unicast(const struct netlink_addr *a)
{
	if (a->family == AF_INET) {
		const uint8_t *b = a->addr;
		if (b[0] == 127 || b[0] >= 224 || (b[0] == 169 && b[1] == 254) ||
		    (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) ||
		    (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255))
			return false;
		return true;
	}
	static const uint8_t zero[16], loop[16] = {[15] = 1};
	if (!memcmp(a->addr, zero, 16) || !memcmp(a->addr, loop, 16))
		return false;
	if (a->addr[0] == 0xff)
		return false;
	if (a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80)
		return false;
	return true;
}

/* ---- container side -------------------------------------------------- */

/* The container interface's sysctls that have no netlink form (the IPv6
 * ones, and arp_notify when its netlink form is refused). /proc/sys/net
 * follows the calling thread's namespace, so this enters the container's
 * and returns to home_fd. */
static int container_proc_sysctls(int netns_fd, int home_fd, const struct bridge_conf *c,
				  const char *ifname, bool has_v6, bool arp_notify,
				  ndl_error_t *err)
{
	char key[128];
	ndl_error_t ign = NDL_ERROR_INIT;
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return ndl_error_set(err, errno, "setns");
	int r = 0;
	if (c->enable_dad) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/enhanced_dad", ifname);
		(void)netlink_sysctl_write(key, "1", &ign);
		ndl_error_clear(&ign);
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
		(void)netlink_sysctl_write(key, "1", &ign);
	} else {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
		(void)netlink_sysctl_write(key, "0", &ign);
	}
	ndl_error_clear(&ign);
	if (arp_notify) {
		snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", ifname);
		(void)netlink_sysctl_write(key, "1", &ign);
		ndl_error_clear(&ign);
	}
	if (has_v6) {
		const char *ifs[2] = {"lo", ifname};
		for (int i = 0; i < 2 && r == 0; i++) {
			char val[16];
			snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", ifs[i]);
			if (netlink_sysctl_read(key, val, sizeof(val), &ign) < 0) {
				ndl_error_clear(&ign);
				continue;
			}
			if (strcmp(val, "0") == 0)
				continue;
			if (netlink_sysctl_write(key, "0", err) < 0)
				r = ndl_error_wrap(
				    err, "failed to enable IPv6 for interface \"%s\"", ifs[i]);
		}
	}
	if (setns(home_fd, CLONE_NEWNET) < 0) {
		/* Staying in the container's namespace would misdirect
		 * everything after this. */
		ndl_error_clear(err);
		return ndl_error_set(err, errno, "setns back");
	}
	return r;
}

static bool result_has_v6(const struct cni_result *res)
{
	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].address.ip.family == AF_INET6)
			return true;
	return false;
}

/* ---- the IPAM side of an ADD, on a thread -------------------------------
 *
 * While the main thread makes the veth pair and readies its host end (the
 * kernel's slowest steps), a second thread runs the IPAM (our host-local
 * reads every lease file, ~2 us each; a foreign one is an exec'd process
 * to wait for) and then, once the container interface exists, writes its
 * /proc/sys settings. Those lookups walk a dentry hash chain that holds
 * the "ipv6" directory of every network namespace on the node (~0.1 ms at
 * a few hundred pods); the host end's accept_ra lookup, on the main
 * thread, pays the same at the same time.
 *
 * Each of the two jobs is claimed by whichever thread gets to it first:
 * on a machine whose CPUs are all busy the new thread may not run for
 * milliseconds, and then the main thread does the work itself when it
 * needs the result, as if there were no thread (nor is there one under a
 * pids limit that refuses it). The state lives on the heap, shared by
 * both threads: the thread is never waited for once its work is done or
 * taken, and whichever of the two lets go last frees it. */

enum side_job { JOB_FREE, JOB_TAKEN, JOB_DONE };

struct ipam_side {
	struct skel_ctx *ctx;
	bool in_process;
	struct bridge_ipam_add ipam;
	const struct bridge_conf *c;
	const char *ifname;
	int netns_fd, home_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int go;	  /* 0 not yet, 1 the IPAM may run, -1 it never will */
	int veth; /* 0 not yet, 1 the container interface exists, -1 never will */
	enum side_job ipam_job, sysctl_job;
	int refs; /* under mu */
	/* results */
	int ipam_r;
	struct cni_result *ipam_res;
	ndl_error_t ipam_err;
	int sysctl_r;
	ndl_error_t sysctl_err;
};

static void side_put_locked(struct ipam_side *s)
{
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (!last)
		return;
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	cni_result_free(s->ipam_res);
	ndl_error_clear(&s->ipam_err);
	ndl_error_clear(&s->sysctl_err);
	free(s);
}

static void side_ipam(struct ipam_side *s)
{
	s->ipam_r = bridge_ipam_add_finish(&s->ipam, &s->ipam_res, &s->ipam_err);
}

static void side_sysctls(struct ipam_side *s)
{
	s->sysctl_r = container_proc_sysctls(s->netns_fd, s->home_fd, s->c, s->ifname,
					     result_has_v6(s->ipam_res), false, &s->sysctl_err);
}

/* With mu held: when *job is free, take it, run fn without the lock, mark
 * it done and wake the other thread. Returns with mu held. */
static void side_take(struct ipam_side *s, enum side_job *job, void (*fn)(struct ipam_side *))
{
	if (*job != JOB_FREE)
		return;
	*job = JOB_TAKEN;
	pthread_mutex_unlock(&s->mu);
	fn(s);
	pthread_mutex_lock(&s->mu);
	*job = JOB_DONE;
	pthread_cond_broadcast(&s->cv);
}

static void side_wait(struct ipam_side *s, const enum side_job *job)
{
	while (*job != JOB_DONE)
		pthread_cond_wait(&s->cv, &s->mu);
}

static void *side_thread(void *opaque)
{
	struct ipam_side *s = opaque;
	pthread_mutex_lock(&s->mu);
	while (s->go == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	/* The sysctls follow only an IPAM this thread ran itself: one the
	 * main thread took means it does the rest too. */
	if (s->go > 0 && s->ipam_job == JOB_FREE) {
		side_take(s, &s->ipam_job, side_ipam);
		while (s->ipam_r == 0 && s->veth == 0 && s->sysctl_job == JOB_FREE)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->ipam_r == 0 && s->veth > 0)
			side_take(s, &s->sysctl_job, side_sysctls);
	}
	side_put_locked(s);
	return NULL;
}

static struct ipam_side *side_start(struct skel_ctx *ctx, bool in_process,
				    const struct bridge_conf *c, int netns_fd, int home_fd)
{
	struct ipam_side *s = xcalloc(1, sizeof(*s));
	*s = (struct ipam_side){.ctx = ctx, .in_process = in_process, .c = c,
				.ifname = ctx->env.ifname, .netns_fd = netns_fd,
				.home_fd = home_fd, .ipam_err = NDL_ERROR_INIT,
				.sysctl_err = NDL_ERROR_INIT, .refs = 1};
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) == 0) {
		/* far more than the lease scan and the result's round trip use */
		(void)pthread_attr_setstacksize(&attr, 256 * 1024);
		(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		s->refs = 2;
		if (pthread_create(&t, &attr, side_thread, s) != 0)
			s->refs = 1; /* no thread: the main thread does it all */
		pthread_attr_destroy(&attr);
	}
	return s;
}

/* The bridge is there: the IPAM may run now (an exec'd plugin is started
 * here). Until then the thread only waits, so a failure before this point
 * leaves the IPAM untouched, as in the reference. */
static int side_go(struct ipam_side *s, ndl_error_t *err)
{
	int r = bridge_ipam_add_start(s->ctx, s->in_process, &s->ipam, err);
	pthread_mutex_lock(&s->mu);
	s->go = r < 0 ? -1 : 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r < 0 ? -EINVAL : 0;
}

/* setup_veth's hook: the container interface exists. */
static void side_veth_made(void *opaque)
{
	struct ipam_side *s = opaque;
	pthread_mutex_lock(&s->mu);
	s->veth = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The IPAM's outcome (ipam_r, ipam_res, ipam_err) and, when the veth pair
 * was made and the IPAM succeeded, the container sysctls' (sysctl_r,
 * sysctl_err): each taken from the thread, or done here when the thread
 * has not started on it. */
static void side_join(struct ipam_side *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->veth == 0)
		s->veth = -1; /* the veth part failed */
	if (s->go == 0)
		s->go = -1; /* an earlier step failed */
	pthread_cond_broadcast(&s->cv);
	/* Not started (the bridge step failed), or nothing to lease for
	 * (the veth step failed before our own host-local began): not run.
	 * An exec'd plugin that was started is always collected. */
	if (s->ipam_job == JOB_FREE && (s->go < 0 || (s->veth < 0 && s->ipam.in_process))) {
		s->ipam_r = ndl_error_setf(&s->ipam_err, ECANCELED, "IPAM not run");
		s->ipam_job = JOB_DONE;
	}
	side_take(s, &s->ipam_job, side_ipam);
	side_wait(s, &s->ipam_job);
	if (s->ipam_r == 0 && s->veth > 0) {
		side_take(s, &s->sysctl_job, side_sysctls);
		side_wait(s, &s->sysctl_job);
	}
	pthread_mutex_unlock(&s->mu);
}

static void side_free(struct ipam_side *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	side_put_locked(s);
}

/* reference ipam.ConfigureIface: addresses, link up, DAD settle, routes. */
static int configure_iface(struct netlink_sock *cs, const struct netlink_link *cont,
			   const struct cni_result *res, ndl_error_t *err)
{
	const struct cni_ip *v4gw = NULL, *v6gw = NULL;
	char b1[CNI_IPNET_STRLEN], b2[CNI_IPNET_STRLEN];
	for (size_t i = 0; i < res->n_ips; i++) {
		const struct cni_ipconfig *ipc = &res->ips[i];
		if (ipc->interface < 0)
			continue;
		if ((size_t)ipc->interface >= res->n_interfaces ||
		    strcmp(res->interfaces[ipc->interface].name, cont->name) != 0)
			return ndl_error_setf(
			    err, EINVAL,
			    "failed to add IP addr %s to \"%s\": invalid interface "
			    "index",
			    cni_ipnet_format(&ipc->address, b1), cont->name);
		struct netlink_addr a;
		to_nladdr(&ipc->address, cont->index, &a);
		if (netlink_addr_add(cs, &a, err) < 0)
			return ndl_error_wrap(err, "failed to add IP addr %s to \"%s\"",
					      cni_ipnet_format(&ipc->address, b1), cont->name);
		if (ipc->gateway.family == AF_INET && !v4gw)
			v4gw = &ipc->gateway;
		else if (ipc->gateway.family == AF_INET6 && !v6gw)
			v6gw = &ipc->gateway;
	}
	if (netlink_link_set_up(cs, cont->index, err) < 0)
		return ndl_error_wrap(err, "failed to set \"%s\" UP", cont->name);
	if (v6gw) {
		/* As the reference: wait out DAD, but a slow DAD is not fatal. */
		ndl_error_t ign = NDL_ERROR_INIT;
		(void)netlink_addr_settle(cs, cont->index, 10000, &ign);
		ndl_error_clear(&ign);
	}
	for (size_t i = 0; i < res->n_routes; i++) {
		const struct cni_route *rt = &res->routes[i];
		struct netlink_route nr;
		memset(&nr, 0, sizeof(nr));
		nr.family = rt->dst.ip.family;
		struct cni_ipnet dst;
		cni_ipnet_mask(&rt->dst, &dst);
		memcpy(nr.dst, dst.ip.addr, 16);
		nr.dst_len = rt->dst.prefix;
		nr.oif = cont->index;
		const struct cni_ip *gw = rt->gw.family ? &rt->gw : NULL;
		if (!gw)
			gw = nr.family == AF_INET ? v4gw : v6gw;
		if (gw) {
			nr.has_gw = true;
			memcpy(nr.gw, gw->addr, 16);
		}
		if (netlink_route_add(cs, &nr, err) < 0)
			return ndl_error_wrap(err, "failed to add route '%s via %s dev %s'",
					      cni_ipnet_format(&rt->dst, b1),
					      gw ? cni_ip_format(gw, b2) : "<nil>", cont->name);
	}
	return 0;
}

/* ---- ADD --------------------------------------------------------------- */

/* The result, indented as the reference prints it. */
static int print_result(const struct cni_result *res, enum cni_version v, ndl_error_t *err)
{
	cleanup_json json_t *j = NULL;
	if (cni_result_to_json(res, v, &j, err) < 0)
		return -EINVAL;
	cleanup_free char *s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	if (!s)
		return cni_error_set(err, CNI_ERR_IO, "serialise result");
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cni_error_set(err, CNI_ERR_IO, "write result: %s", strerror(errno));
		off += (size_t)n;
	}
	return 0;
}

struct gw_info {
	struct cni_ipnet gws[16];
	size_t n;
	bool default_route_found;
};

static int calc_gateways(struct cni_result *res, const struct bridge_conf *c, struct gw_info *v4,
			 struct gw_info *v6, ndl_error_t *err)
{
	for (size_t i = 0; i < res->n_ips; i++) {
		struct cni_ipconfig *ipc = &res->ips[i];
		int fam = ipc->address.ip.family;
		struct gw_info *g = fam == AF_INET ? v4 : v6;
		if (fam != AF_INET && fam != AF_INET6)
			return ndl_error_setf(err, EINVAL, "Unknown IP object in IPAM result");
		/* Every address is for the container interface. */
		ipc->interface = 2;
		if (!ipc->gateway.family && c->is_gw)
			gateway_of(&ipc->address, &ipc->gateway);
		if (c->is_default_gw && !g->default_route_found) {
			for (size_t k = 0; k < res->n_routes; k++)
				if (res->routes[k].gw.family &&
				    is_default_dst(&res->routes[k].dst, fam))
					g->default_route_found = true;
			if (!g->default_route_found) {
				struct cni_route *r = cni_result_add_route(res);
				ipc = &res->ips[i]; /* no realloc of ips, but be safe */
				r->dst.ip.family = fam;
				r->dst.prefix = 0;
				r->gw = ipc->gateway;
				g->default_route_found = true;
			}
		}
		if (c->is_gw) {
			if (g->n >= sizeof(g->gws) / sizeof(g->gws[0]))
				return ndl_error_setf(err, E2BIG,
						      "too many addresses in IPAM result");
			g->gws[g->n].ip = ipc->gateway;
			g->gws[g->n].prefix = ipc->address.prefix;
			g->n++;
		}
	}
	return 0;
}

struct add_undo {
	struct netlink_sock *cs;
	int cont_index;
	bool ipam;
	bool ipam_in_process;
	bool spoof;
	bool masq;
	char chain[BRIDGE_CHAIN_LEN + 1];
	char *comment;
	char *spoof_id;
	bool masq_v4, masq_v6;
};

static void rollback(struct skel_ctx *ctx, struct add_undo *u)
{
	ndl_error_t e = NDL_ERROR_INIT;
	if (u->masq) {
		if (bridge_ipmasq_teardown(u->masq_v4, u->masq_v6, NULL, 0, u->chain, u->comment,
					   &e) < 0)
			ndl_error_clear(&e);
	}
	if (u->ipam && bridge_ipam(ctx, CNI_CMD_DEL, u->ipam_in_process, &e) < 0)
		ndl_error_clear(&e);
	if (u->spoof && bridge_spoofcheck_teardown(u->spoof_id, &e) < 0)
		ndl_error_clear(&e);
	if (u->cont_index > 0 && netlink_link_del(u->cs, u->cont_index, &e) < 0)
		ndl_error_clear(&e);
}

/* The bridge MAC into the result's first interface: it may have changed
 * when the first port joined (or a vlan gateway port). */
static int refetch_bridge_mac(struct netlink_sock *hs, const struct bridge_conf *c,
			      struct cni_result *res, ndl_error_t *err)
{
	struct netlink_link br;
	if (netlink_link_get(hs, c->br_name, 0, &br, err) < 0)
		return -ENODEV;
	char mac[NETLINK_MAC_STRLEN];
	fmt_mac(&br, mac);
	free(res->interfaces[0].mac);
	res->interfaces[0].mac = xstrdup(mac);
	return 0;
}

int bridge_cmd_add(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct bridge_conf c;
	if (load_conf(ctx, &c, err) < 0)
		return -EINVAL;
	bool layer3 = ctx->conf.ipam_type && *ctx->conf.ipam_type;
	if (c.is_default_gw)
		c.is_gw = true;
	if (c.hairpin && c.promisc)
		return ndl_error_setf(
		    err, EINVAL, "cannot set hairpin mode and promiscuous mode at the same time.");

	struct netlink_sock hs = NETLINK_SOCK_INIT, cs = NETLINK_SOCK_INIT, mon = NETLINK_SOCK_INIT;
	cleanup_close int netns_fd = -1, host_ns_fd = -1;
	struct cni_result *res = NULL;
	struct add_undo u = {.cs = &cs};
	struct ipam_side *side = NULL;
	bool side_joined = false;
	/* The IPAM's thread (see ipam_side) is made before the bridge is
	 * looked up, and told to go once it is there. It needs the netns,
	 * which is therefore opened first; its error still comes after the
	 * bridge's, in the reference's order. A failing veth step releases
	 * the lease the IPAM made (rollback); the reference runs IPAM after
	 * the veth. */
	ndl_error_t netns_err = NDL_ERROR_INIT;
	int netns_r = netlink_netns_open(ctx->env.netns, &netns_fd, &netns_err);
	if (netns_r == 0) {
		host_ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (host_ns_fd < 0)
			netns_r = ndl_error_set(&netns_err, errno, "open host netns");
	}
	u.ipam_in_process = layer3 && bridge_ipam_in_process(ctx);
	if (netns_r == 0 && layer3)
		side = side_start(ctx, u.ipam_in_process, &c, netns_fd, host_ns_fd);
	int r = netlink_open(&hs, err);
	if (r < 0)
		goto out;
	struct netlink_link br;
	r = ensure_bridge(&hs, &c, &br, err);
	if (r < 0)
		goto out;
	if (netns_r < 0) {
		r = netns_r;
		ndl_error_clear(err);
		*err = netns_err;
		netns_err = (ndl_error_t)NDL_ERROR_INIT;
		goto out;
	}
	if (side) {
		r = side_go(side, err);
		if (r < 0)
			goto out;
	}
	r = netlink_open_in_netns_from(&cs, netns_fd, host_ns_fd, err);
	if (r < 0)
		goto out;

	struct netlink_link host, cont;
	r = setup_veth(&cs, &hs, host_ns_fd, &br, ctx->env.ifname, c.mtu, c.hairpin, c.vlan,
		       c.has_mac ? c.mac : NULL, layer3 ? side_veth_made : NULL, side, true,
		       &host, &cont, err);
	if (r < 0)
		goto out;
	u.cont_index = cont.index;

	res = cni_result_new();
	char mac[NETLINK_MAC_STRLEN];
	fmt_mac(&br, mac);
	cni_result_add_interface(res, br.name, mac, NULL);
	fmt_mac(&host, mac);
	cni_result_add_interface(res, host.name, mac, NULL);
	char cont_mac[NETLINK_MAC_STRLEN];
	fmt_mac(&cont, cont_mac);
	cni_result_add_interface(res, cont.name, cont_mac, ctx->env.netns);

	if (c.macspoofchk) {
		u.spoof_id = xasprintf("%s-%s", ctx->env.container_id, ctx->env.ifname);
		r = bridge_spoofcheck_setup(host.name, cont_mac, u.spoof_id, err);
		if (r < 0)
			goto out;
		u.spoof = true;
	}

	/* Link notifications of the host namespace, from before the container
	 * end goes up (see the port state wait below); without them, poll. */
	ndl_error_t mon_err = NDL_ERROR_INIT;
	if (netlink_open(&mon, &mon_err) < 0 || netlink_link_watch(&mon, &mon_err) < 0)
		netlink_close(&mon);
	ndl_error_clear(&mon_err);

	if (layer3) {
		side_join(side);
		side_joined = true;
		if (side->ipam_r < 0) {
			r = side->ipam_r;
			ndl_error_clear(err);
			*err = side->ipam_err;
			side->ipam_err = (ndl_error_t)NDL_ERROR_INIT;
			goto out;
		}
		struct cni_result *ipam = steal_ptr(&side->ipam_res);
		u.ipam = true;
		/* Take the IPAM addresses and routes into our result. */
		res->ips = steal_ptr(&ipam->ips);
		res->n_ips = ipam->n_ips;
		ipam->n_ips = 0;
		res->routes = steal_ptr(&ipam->routes);
		res->n_routes = ipam->n_routes;
		ipam->n_routes = 0;
		cni_result_free(ipam);
		if (res->n_ips == 0) {
			r = ndl_error_setf(err, EINVAL, "IPAM plugin returned missing IP config");
			goto out;
		}
		struct gw_info v4 = {0}, v6 = {0};
		r = calc_gateways(res, &c, &v4, &v6, err);
		if (r < 0)
			goto out;
		/* arp_notify goes over the container's netlink socket; when
		 * the kernel refuses that form (or there was no thread) the
		 * /proc/sys settings are written here, all of them again. */
		ndl_error_t ign = NDL_ERROR_INIT;
		bool arp_notify_set = netlink_ipv4_devconf_set(&cs, cont.index,
							       IPV4_DEVCONF_ARP_NOTIFY, 1, &ign) == 0;
		ndl_error_clear(&ign);
		if (side->sysctl_job != JOB_DONE || !arp_notify_set) {
			r = container_proc_sysctls(netns_fd, host_ns_fd, &c, ctx->env.ifname,
						   result_has_v6(res), !arp_notify_set, err);
		} else if (side->sysctl_r < 0) {
			r = side->sysctl_r;
			ndl_error_clear(err);
			*err = side->sysctl_err;
			side->sysctl_err = (ndl_error_t)NDL_ERROR_INIT;
		}
		if (r < 0)
			goto out;
		r = configure_iface(&cs, &cont, res, err);
		if (r < 0)
			goto out;

		if (c.is_gw) {
			struct gw_info *fams[2] = {&v4, &v6};
			bool vlan_added = false;
			for (int f = 0; f < 2; f++) {
				for (size_t i = 0; i < fams[f]->n; i++) {
					if (c.vlan) {
						struct netlink_link vl;
						r = ensure_vlan_iface(&hs, &br, c.vlan, &vl, err);
						if (r < 0) {
							ndl_error_wrap(
							    err, "failed to create vlan interface");
							goto out;
						}
						if (!vlan_added) {
							fmt_mac(&vl, mac);
							cni_result_add_interface(res, vl.name, mac,
										 NULL);
							vlan_added = true;
						}
						r = ensure_addr(&hs, &vl, &fams[f]->gws[i],
								c.force_address, err);
						if (r < 0) {
							ndl_error_wrap(
							    err, "failed to set vlan interface for "
								 "bridge with addr");
							goto out;
						}
					} else {
						r = ensure_addr(&hs, &br, &fams[f]->gws[i],
								c.force_address, err);
						if (r < 0) {
							ndl_error_wrap(err,
								       "failed to set bridge addr");
							goto out;
						}
					}
				}
				if (fams[f]->n) {
					r = netlink_sysctl_write(
					    f == 0 ? "net/ipv4/ip_forward"
						   : "net/ipv6/conf/all/forwarding",
					    "1", err);
					if (r < 0) {
						ndl_error_wrap(err, "failed to enable forwarding");
						goto out;
					}
				}
			}
		}

		if (c.ip_masq) {
			bridge_chain_name(ctx->conf.name, ctx->env.container_id, u.chain);
			u.comment = bridge_chain_comment(ctx->conf.name, ctx->env.container_id);
			struct cni_ipnet *addrs = xcalloc(res->n_ips, sizeof(*addrs));
			for (size_t i = 0; i < res->n_ips; i++) {
				addrs[i] = res->ips[i].address;
				if (addrs[i].ip.family == AF_INET)
					u.masq_v4 = true;
				else
					u.masq_v6 = true;
			}
			/* Mark before running: a half-applied family is undone too. */
			u.masq = true;
			r = bridge_ipmasq_setup(addrs, res->n_ips, u.chain, u.comment, err);
			free(addrs);
			if (r < 0)
				goto out;
		}
	} else {
		r = netlink_link_set_up(&cs, cont.index, err);
		if (r < 0) {
			ndl_error_wrap(err, "failed to set \"%s\" up", ctx->env.ifname);
			goto out;
		}
	}

	/* Done while the kernel's link watch (below) still runs: the wait
	 * changes nothing of the bridge. */
	host_accept_ra_off(host.name);
	r = refetch_bridge_mac(&hs, &c, res, err);
	if (r < 0)
		goto out;

	/* The port must be up before the container can talk: the reference
	 * checks its state at 0, 50, 550, 1550 and 2550 ms, here, after the
	 * gateway and masquerade work. It flips once the kernel's link watch
	 * has seen the carrier that bringing the container end up gave (it
	 * waits for the RTNL, often ~1 ms); the notification of that, watched
	 * for since before the change, ends the wait at once. */
	uint8_t state = IF_OPER_UNKNOWN;
	r = netlink_link_wait_oper_up(&hs, mon.fd >= 0 ? &mon : NULL, host.index, 2550, &state,
				      err);
	if (r == -ETIMEDOUT) {
		ndl_error_clear(err);
		r = ndl_error_setf(err, EIO, "bridge port in error state: %u", state);
	}
	if (r < 0)
		goto out;
	if (ctx->conf.has_dns)
		cni_dns_copy(&res->dns, &ctx->conf.dns);

	r = print_result(res, ctx->conf.version, err);
out:
	if (side) {
		/* failed while the IPAM ran: wait for it; a lease it made goes
		 * in rollback */
		if (!side_joined) {
			side_join(side);
			if (side->ipam_r == 0)
				u.ipam = true;
		}
		side_free(side);
	}
	if (r < 0)
		rollback(ctx, &u);
	cni_result_free(res);
	free(u.comment);
	free(u.spoof_id);
	ndl_error_clear(&netns_err);
	netlink_close(&mon);
	netlink_close(&cs);
	netlink_close(&hs);
	return r;
}

/* ---- DEL --------------------------------------------------------------- */

int bridge_cmd_del(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct bridge_conf c;
	if (load_conf(ctx, &c, err) < 0)
		return -EINVAL;
	bool layer3 = ctx->conf.ipam_type && *ctx->conf.ipam_type;
	bool ipam_in_process = layer3 && bridge_ipam_in_process(ctx);

	if (!ctx->env.netns || !*ctx->env.netns) {
		if (layer3)
			return bridge_ipam(ctx, CNI_CMD_DEL, ipam_in_process, err);
		return 0;
	}
	cleanup_close int netns_fd = -1;
	int r = netlink_netns_open(ctx->env.netns, &netns_fd, err);
	if (r == -ENOENT) {
		/* The runtime may have removed the netns already: release the
		 * address anyway (kubernetes/kubernetes#43014). */
		ndl_error_clear(err);
		if (layer3)
			return bridge_ipam(ctx, CNI_CMD_DEL, ipam_in_process, err);
		return 0;
	}
	if (r < 0)
		return r;

	struct netlink_sock cs = NETLINK_SOCK_INIT;
	struct netlink_addr *addrs = NULL;
	size_t n_addrs = 0;
	r = netlink_open_in_netns(&cs, netns_fd, err);
	if (r < 0)
		return r;
	struct netlink_link cont;
	r = netlink_link_get(&cs, ctx->env.ifname, 0, &cont, err);
	if (r == -ENODEV) {
		/* DEL is idempotent: the device is already gone. */
		ndl_error_clear(err);
		r = 0;
	} else if (r == 0) {
		r = netlink_addr_list(&cs, cont.index, AF_UNSPEC, &addrs, &n_addrs, err);
		if (r < 0) {
			ndl_error_wrap(err, "failed to get IP addresses for \"%s\"",
				       ctx->env.ifname);
			goto out;
		}
		/* Return once the link is gone; the kernel's RCU teardown of
		 * the netdev finishes in a detached helper. */
		struct netlink_sock mon = NETLINK_SOCK_INIT;
		r = netlink_open_in_netns(&mon, netns_fd, err);
		if (r < 0)
			goto out;
		r = netlink_link_del_detached(&cs, &mon, cont.index, err);
		netlink_close(&mon);
		if (r < 0) {
			ndl_error_wrap(err, "failed to delete \"%s\"", ctx->env.ifname);
			goto out;
		}
	} else {
		ndl_error_wrap(err, "failed to lookup \"%s\"", ctx->env.ifname);
		goto out;
	}

	if (layer3) {
		r = bridge_ipam(ctx, CNI_CMD_DEL, ipam_in_process, err);
		if (r < 0)
			goto out;
	}

	if (c.macspoofchk) {
		cleanup_free char *id = xasprintf("%s-%s", ctx->env.container_id, ctx->env.ifname);
		ndl_error_t e = NDL_ERROR_INIT;
		if (bridge_spoofcheck_teardown(id, &e) < 0) {
			/* As the reference: reported, not fatal. */
			fprintf(stderr, "%s", ndl_error_msg(&e));
			ndl_error_clear(&e);
		}
	}

	if (layer3 && c.ip_masq) {
		bool v4 = false, v6 = false;
		struct cni_ipnet *ips = xcalloc(n_addrs + 1, sizeof(*ips));
		size_t n_ips = 0;
		for (size_t i = 0; i < n_addrs; i++) {
			if (!ip_is_global_unicast(&addrs[i]))
				continue;
			if (addrs[i].family == AF_INET)
				v4 = true;
			else
				v6 = true;
			ips[n_ips].ip.family = addrs[i].family;
			memcpy(ips[n_ips].ip.addr, addrs[i].addr, 16);
			ips[n_ips].prefix = addrs[i].prefixlen;
			n_ips++;
		}
		char chain[BRIDGE_CHAIN_LEN + 1];
		bridge_chain_name(ctx->conf.name, ctx->env.container_id, chain);
		cleanup_free char *comment =
		    bridge_chain_comment(ctx->conf.name, ctx->env.container_id);
		r = bridge_ipmasq_teardown(v4, v6, ips, n_ips, chain, comment, err);
		free(ips);
		if (r < 0)
			goto out;
	}
out:
	free(addrs);
	netlink_close(&cs);
	return r;
}

/* ---- CHECK ------------------------------------------------------------- */

static int check_bridge(struct netlink_sock *hs, const struct cni_interface *intf,
			const struct bridge_conf *c, struct netlink_link *ret, ndl_error_t *err)
{
	if (!intf || !intf->name || !*intf->name)
		return ndl_error_setf(err, EINVAL, "Interface name missing ");
	struct netlink_link l;
	if (netlink_link_get(hs, intf->name, 0, &l, err) < 0)
		return ndl_error_setf(err, ENODEV, "Interface name %s not found", intf->name);
	if (intf->sandbox && *intf->sandbox)
		return ndl_error_setf(err, EINVAL, "Interface %s should not be in sandbox",
				      intf->name);
	if (strcmp(l.kind, "bridge") != 0)
		return ndl_error_setf(err, EINVAL, "Interface %s does not have link type of bridge",
				      intf->name);
	char mac[NETLINK_MAC_STRLEN];
	fmt_mac(&l, mac);
	if (intf->mac && *intf->mac && strcmp(intf->mac, mac) != 0)
		return ndl_error_setf(err, EINVAL, "Bridge interface %s Mac doesn't match: %s",
				      intf->name, intf->mac);
	bool promisc = (l.flags & IFF_PROMISC) != 0;
	if (promisc != c->promisc)
		return ndl_error_setf(
		    err, EINVAL,
		    "Bridge interface %s configured Promisc Mode %s doesn't match "
		    "current state: %s ",
		    intf->name, c->promisc ? "true" : "false", promisc ? "true" : "false");
	*ret = l;
	return 0;
}

static bool route_matches(const struct netlink_route *kr, const struct cni_ipnet *dst,
			  const struct cni_ip *gw, const struct cni_ip *fallback_gw)
{
	size_t alen = dst->ip.family == AF_INET ? 4 : 16;
	if (kr->table != 254 /* RT_TABLE_MAIN */ || kr->dst_len != dst->prefix)
		return false;
	struct cni_ipnet m;
	cni_ipnet_mask(dst, &m);
	if (dst->prefix && memcmp(kr->dst, m.ip.addr, alen) != 0)
		return false;
	if (dst->prefix == 0)
		return true; /* a default route: any gateway (as the reference) */
	if (gw && gw->family)
		return kr->has_gw && memcmp(kr->gw, gw->addr, alen) == 0;
	/* No gateway in the result: ADD routed it via the family's gateway. */
	if (!kr->has_gw)
		return true;
	return fallback_gw && fallback_gw->family && memcmp(kr->gw, fallback_gw->addr, alen) == 0;
}

static int check_container(struct netlink_sock *cs, const struct cni_result *res,
			   const char *ifname, ndl_error_t *err)
{
	struct netlink_link l;
	struct netlink_route *rt4 = NULL, *rt6 = NULL;
	size_t n4 = 0, n6 = 0;
	struct netlink_addr *v = NULL;
	size_t n = 0;
	int r = 0;
	char b[CNI_IPNET_STRLEN];
	const struct cni_ip *v4gw = NULL, *v6gw = NULL;
	if (netlink_link_get(cs, ifname, 0, &l, err) < 0)
		return ndl_error_setf(err, ENODEV, "Cannot find container link %s", ifname);
	if ((r = netlink_addr_list(cs, l.index, AF_UNSPEC, &v, &n, err)) < 0)
		goto out;
	if ((r = netlink_route_list(cs, AF_INET, &rt4, &n4, err)) < 0)
		goto out;
	if ((r = netlink_route_list(cs, AF_INET6, &rt6, &n6, err)) < 0)
		goto out;
	for (size_t i = 0; i < res->n_ips; i++) {
		const struct cni_ipconfig *ipc = &res->ips[i];
		if (ipc->gateway.family == AF_INET && !v4gw)
			v4gw = &ipc->gateway;
		if (ipc->gateway.family == AF_INET6 && !v6gw)
			v6gw = &ipc->gateway;
		bool match = false;
		for (size_t k = 0; k < n; k++)
			if (ipnet_equal(&v[k], &ipc->address))
				match = true;
		if (!match) {
			r = ndl_error_setf(err, ENOENT, "Failed to match addr %s on interface %s",
					   cni_ipnet_format(&ipc->address, b), ifname);
			goto out;
		}
		/* The prefix route the kernel made for the address. */
		struct cni_ipnet pfx;
		cni_ipnet_mask(&ipc->address, &pfx);
		bool v4 = ipc->address.ip.family == AF_INET;
		struct netlink_route *rts = v4 ? rt4 : rt6;
		size_t nr = v4 ? n4 : n6;
		bool found = false;
		for (size_t k = 0; k < nr && !found; k++)
			found = rts[k].table == 254 && rts[k].dst_len == pfx.prefix &&
				memcmp(rts[k].dst, pfx.ip.addr, v4 ? 4 : 16) == 0;
		if (!found) {
			char g[CNI_IPNET_STRLEN] = "<nil>";
			if (ipc->gateway.family)
				cni_ip_format(&ipc->gateway, g);
			r = ndl_error_setf(err, ENOENT,
					   "Failed to find Gateway %s for interface %s", g, ifname);
			goto out;
		}
	}
	for (size_t i = 0; i < res->n_routes; i++) {
		const struct cni_route *ro = &res->routes[i];
		bool v4 = ro->dst.ip.family == AF_INET;
		struct netlink_route *rts = v4 ? rt4 : rt6;
		size_t nr = v4 ? n4 : n6;
		bool found = false;
		for (size_t k = 0; k < nr && !found; k++)
			found = route_matches(&rts[k], &ro->dst, &ro->gw, v4 ? v4gw : v6gw);
		if (!found) {
			char g[CNI_IPNET_STRLEN] = "<nil>";
			if (ro->gw.family)
				cni_ip_format(&ro->gw, g);
			r = ndl_error_setf(
			    err, ENOENT, "Expected Route {Dst:%s GW:%s} not found in routing table",
			    cni_ipnet_format(&ro->dst, b), g);
			goto out;
		}
	}
out:
	free(v);
	free(rt4);
	free(rt6);
	return r;
}

int bridge_cmd_check(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct bridge_conf c;
	if (load_conf(ctx, &c, err) < 0)
		return -EINVAL;
	cleanup_close int netns_fd = -1;
	int r = netlink_netns_open(ctx->env.netns, &netns_fd, err);
	if (r < 0)
		return r;
	if (ctx->conf.ipam_type && *ctx->conf.ipam_type) {
		r = bridge_ipam(ctx, CNI_CMD_CHECK, bridge_ipam_in_process(ctx), err);
		if (r < 0)
			return r;
	}
	const struct cni_result *res = ctx->conf.prev_result;
	if (!res)
		return ndl_error_setf(err, EINVAL, "Required prevResult missing");

	const struct cni_interface *brmap = NULL, *contmap = NULL;
	for (size_t i = 0; i < res->n_interfaces; i++) {
		const struct cni_interface *it = &res->interfaces[i];
		if (!it->name)
			continue;
		if (strcmp(it->name, c.br_name) == 0)
			brmap = it;
		else if (strcmp(it->name, ctx->env.ifname) == 0 && it->sandbox &&
			 strcmp(it->sandbox, ctx->env.netns) == 0)
			contmap = it;
	}
	struct netlink_sock hs = NETLINK_SOCK_INIT, cs = NETLINK_SOCK_INIT;
	if ((r = netlink_open(&hs, err)) < 0)
		return r;
	struct netlink_link brl = {0}, contl = {0};
	r = check_bridge(&hs, brmap, &c, &brl, err);
	if (r < 0)
		goto out;
	if (!contmap) {
		r = ndl_error_setf(err, EINVAL,
				   "Sandbox in prevResult  doesn't match configured netns: %s",
				   ctx->env.netns);
		goto out;
	}
	if ((r = netlink_open_in_netns(&cs, netns_fd, err)) < 0)
		goto out;
	if (netlink_link_get(&cs, contmap->name, 0, &contl, err) < 0) {
		r = ndl_error_setf(err, ENODEV, "Interface name %s not found", contmap->name);
		goto out;
	}
	if (strcmp(contl.kind, "veth") != 0) {
		r = ndl_error_setf(err, EINVAL, "Error: Container interface %s not of type veth",
				   contl.name);
		goto out;
	}
	char mac[NETLINK_MAC_STRLEN];
	fmt_mac(&contl, mac);
	if (contmap->mac && *contmap->mac && strcmp(contmap->mac, mac) != 0) {
		r = ndl_error_setf(err, EINVAL,
				   "Interface %s Mac %s doesn't match container Mac: %s",
				   contmap->name, contmap->mac, mac);
		goto out;
	}
	/* The host veth: peer of the container interface, enslaved to the
	 * bridge. Interfaces that are not veths are not ours: skip them. */
	bool veth_found = false;
	for (size_t i = 0; i < res->n_interfaces && !veth_found; i++) {
		const struct cni_interface *it = &res->interfaces[i];
		if (!it->name || strcmp(it->name, brmap->name) == 0 ||
		    strcmp(it->name, contmap->name) == 0)
			continue;
		struct netlink_link hl;
		if (netlink_link_get(&hs, it->name, 0, &hl, err) < 0) {
			r = ndl_error_setf(err, ENODEV, "Interface name %s not found", it->name);
			goto out;
		}
		if (it->sandbox && *it->sandbox) {
			r = ndl_error_setf(err, EINVAL, "Interface %s should not be in sandbox",
					   it->name);
			goto out;
		}
		if (strcmp(hl.kind, "veth") != 0)
			continue;
		if (hl.index != contl.link || contl.index != hl.link || hl.master != brl.index)
			continue;
		fmt_mac(&hl, mac);
		if (it->mac && *it->mac && strcmp(it->mac, mac) != 0) {
			r = ndl_error_setf(err, EINVAL,
					   "Interface %s Mac doesn't match: %s not found", it->name,
					   it->mac);
			goto out;
		}
		veth_found = true;
	}
	if (!veth_found) {
		r = ndl_error_setf(err, ENOENT, "CNI veth created for bridge %s was not found",
				   c.br_name);
		goto out;
	}
	r = check_container(&cs, res, ctx->env.ifname, err);
out:
	netlink_close(&cs);
	netlink_close(&hs);
	return r;
}

/* ---- GC / STATUS (CNI 1.1) ---------------------------------------------- */

/* The bridge keeps no per-attachment state of its own beyond what DEL
 * removes, so GC and STATUS are the IPAM plugin's, as in later upstream
 * releases of the plugin. */
int bridge_cmd_gc(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct bridge_conf c;
	if (load_conf(ctx, &c, err) < 0)
		return -EINVAL;
	if (!ctx->conf.ipam_type || !*ctx->conf.ipam_type)
		return 0;
	return bridge_ipam(ctx, CNI_CMD_GC, bridge_ipam_in_process(ctx), err);
}

int bridge_cmd_status(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct bridge_conf c;
	if (load_conf(ctx, &c, err) < 0)
		return -EINVAL;
	if (!ctx->conf.ipam_type || !*ctx->conf.ipam_type)
		return 0;
	return bridge_ipam(ctx, CNI_CMD_STATUS, bridge_ipam_in_process(ctx), err);
}
