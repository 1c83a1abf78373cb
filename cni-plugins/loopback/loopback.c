/* loopback: bring "lo" up in CNI_NETNS (down on DEL) and report its
 * addresses, as the reference plugin does. The plugin is a short-lived,
 * single-threaded process, so it enters the target namespace with setns()
 * on its only thread and opens its netlink socket there. */
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cni-plugins/skel/skel.h"
#include "lib/cleanup.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

/* libnl reports -NLE_*; turn it into our error once, here. */
static int nl_fail(ndl_error_t *err, int nlerr, const char *what)
{
	return ndl_error_setf(err, EIO, "%s: netlink: %s", what, nl_geterror(nlerr));
}

/* Enter the network namespace at path. ENOENT is reported distinctly so DEL
 * can treat a vanished namespace as already cleaned up. */
static int enter_netns(const char *path, ndl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "failed to open netns %s", path);
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return ndl_error_set(err, errno, "failed to Statfs \"%s\"", path);
	if (sfs.f_type != NSFS_MAGIC && sfs.f_type != PROC_SUPER_MAGIC)
		return ndl_error_setf(err, EINVAL, "unknown FS magic on \"%s\": %lx", path,
				      (unsigned long)sfs.f_type);
	if (setns(fd, CLONE_NEWNET) < 0)
		return ndl_error_set(err, errno, "failed to enter netns %s", path);
	return 0;
}

struct lo_state {
	struct nl_sock *sk;
	struct rtnl_link *link;
};

static void lo_close(struct lo_state *s)
{
	if (s->link)
		rtnl_link_put(s->link);
	if (s->sk)
		nl_socket_free(s->sk);
}

static int lo_open(struct lo_state *s, ndl_error_t *err)
{
	memset(s, 0, sizeof(*s));
	s->sk = nl_socket_alloc();
	if (!s->sk)
		return ndl_error_setf(err, ENOMEM, "netlink socket");
	int r = nl_connect(s->sk, NETLINK_ROUTE);
	if (r < 0)
		return nl_fail(err, r, "connect");
	r = rtnl_link_get_kernel(s->sk, 0, "lo", &s->link);
	if (r < 0)
		return nl_fail(err, r, "find link lo");
	return 0;
}

static int lo_set(struct lo_state *s, bool up, ndl_error_t *err)
{
	struct rtnl_link *change = rtnl_link_alloc();
	if (!change)
		return ndl_error_setf(err, ENOMEM, "alloc link");
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	int r = rtnl_link_change(s->sk, s->link, change, 0);
	rtnl_link_put(change);
	if (r < 0)
		return nl_fail(err, r, up ? "set lo up" : "set lo down");
	return 0;
}

static bool is_loopback(const struct cni_ip *ip)
{
	static const uint8_t v6lo[16] = {[15] = 1};
	if (ip->family == AF_INET)
		return ip->addr[0] == 127;
	return memcmp(ip->addr, v6lo, 16) == 0;
}

/* The first address of each family (kernel order, as the reference takes
 * them); every address must be a loopback one. */
static int lo_addrs(struct lo_state *s, struct cni_ipnet *v4, struct cni_ipnet *v6,
		    ndl_error_t *err)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_addr_alloc_cache(s->sk, &cache);
	if (r < 0)
		return nl_fail(err, r, "list addresses");
	int ifindex = rtnl_link_get_ifindex(s->link);
	r = 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o && r == 0;
	     o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != ifindex)
			continue;
		struct nl_addr *local = rtnl_addr_get_local(a);
		int fam = rtnl_addr_get_family(a);
		if (!local || (fam != AF_INET && fam != AF_INET6))
			continue;
		struct cni_ipnet n = {.ip.family = fam, .prefix = rtnl_addr_get_prefixlen(a)};
		memcpy(n.ip.addr, nl_addr_get_binary_addr(local), fam == AF_INET ? 4 : 16);
		if (!is_loopback(&n.ip)) {
			char buf[CNI_IPNET_STRLEN];
			r = ndl_error_setf(err, EINVAL,
					   "loopback interface found with non-loopback address \"%s\"",
					   cni_ip_format(&n.ip, buf));
			break;
		}
		struct cni_ipnet *dst = fam == AF_INET ? v4 : v6;
		if (!dst->ip.family)
			*dst = n;
	}
	nl_cache_free(cache);
	return r;
}

static int cmd_add(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct cni_ipnet v4 = {0}, v6 = {0};
	struct lo_state s;
	if (enter_netns(ctx->env.netns, err) < 0)
		return -EINVAL;
	int r = lo_open(&s, err);
	if (r == 0)
		r = lo_set(&s, true, err);
	if (r == 0)
		r = lo_addrs(&s, &v4, &v6, err);
	lo_close(&s);
	if (r < 0)
		return r;
	/* A chained loopback passes the previous result through unchanged. */
	if (ctx->conf.prev_result)
		return cni_print_result(ctx->conf.prev_result, ctx->conf.version, err);
	cleanup_cni_result struct cni_result *res = cni_result_new();
	cni_result_add_interface(res, "lo", "00:00:00:00:00:00", ctx->env.netns);
	struct cni_ipnet *addrs[2] = {&v4, &v6};
	for (int i = 0; i < 2; i++) {
		if (!addrs[i]->ip.family)
			continue;
		struct cni_ipconfig *c = cni_result_add_ip(res);
		c->address = *addrs[i];
		c->interface = 0;
	}
	return cni_print_result(res, ctx->conf.version, err);
}

static int cmd_del(struct skel_ctx *ctx, ndl_error_t *err)
{
	if (!ctx->env.netns)
		return 0;
	/* A namespace that is gone has no loopback left to take down. */
	struct stat st;
	if (stat(ctx->env.netns, &st) < 0 && errno == ENOENT)
		return 0;
	if (enter_netns(ctx->env.netns, err) < 0)
		return -EINVAL;
	struct lo_state s;
	int r = lo_open(&s, err);
	if (r == 0)
		r = lo_set(&s, false, err);
	lo_close(&s);
	return r;
}

static int cmd_check(struct skel_ctx *ctx, ndl_error_t *err)
{
	if (enter_netns(ctx->env.netns, err) < 0)
		return -EINVAL;
	struct lo_state s;
	int r = lo_open(&s, err);
	if (r == 0 && !(rtnl_link_get_flags(s.link) & IFF_UP))
		r = ndl_error_setf(err, ENETDOWN, "loopback interface is down");
	lo_close(&s);
	return r;
}

int main(void)
{
	static const struct skel_plugin plugin = {
		.about = "loopback CNI plugin (nodelet)",
		.versions = cni_all_versions,
		.add = cmd_add,
		.check = cmd_check,
		.del = cmd_del,
	};
	return skel_main(&plugin);
}
