/* loopback: bring "lo" up in CNI_NETNS (down on DEL) and report its
 * addresses, as the reference plugin does. The plugin is a short-lived,
 * single-threaded process, so it enters the target namespace with setns()
 * on its only thread and opens its netlink socket there. */
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
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

struct addr_walk {
	int ifindex;
	struct cni_ipnet *v4, *v6;
	ndl_error_t *err;
	int r;
};

/* One RTM_NEWADDR of the dump. */
static int on_addr(struct nl_msg *msg, void *arg)
{
	struct addr_walk *w = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (h->nlmsg_type != RTM_NEWADDR || w->r < 0)
		return NL_OK;
	struct ifaddrmsg *ifa = nlmsg_data(h);
	struct nlattr *tb[IFA_MAX + 1];
	if (nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return NL_OK;
	if ((int)ifa->ifa_index != w->ifindex ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return NL_OK;
	/* IFA_LOCAL is the address itself where it differs from IFA_ADDRESS
	 * (point-to-point); on lo they are the same. */
	struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size_t len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || nla_len(a) < (int)len)
		return NL_OK;
	struct cni_ipnet n = {.ip.family = ifa->ifa_family, .prefix = ifa->ifa_prefixlen};
	memcpy(n.ip.addr, nla_data(a), len);
	if (!is_loopback(&n.ip)) {
		char buf[CNI_IPNET_STRLEN];
		w->r = ndl_error_setf(w->err, EINVAL,
				      "loopback interface found with non-loopback address \"%s\"",
				      cni_ip_format(&n.ip, buf));
		return NL_OK;
	}
	struct cni_ipnet *dst = ifa->ifa_family == AF_INET ? w->v4 : w->v6;
	if (!dst->ip.family)
		*dst = n;
	return NL_OK;
}

/* The first address of each family (kernel order, as the reference takes
 * them); every address must be a loopback one. A plain RTM_GETADDR dump
 * rather than an rtnl_addr cache: fewer allocations keep the plugin's peak
 * RSS under 1 MB. */
static int lo_addrs(struct lo_state *s, struct cni_ipnet *v4, struct cni_ipnet *v6,
		    ndl_error_t *err)
{
	struct addr_walk w = {
	    .ifindex = rtnl_link_get_ifindex(s->link), .v4 = v4, .v6 = v6, .err = err};
	struct rtgenmsg g = {.rtgen_family = AF_UNSPEC};
	int r = nl_send_simple(s->sk, RTM_GETADDR, NLM_F_DUMP, &g, sizeof(g));
	if (r < 0)
		return nl_fail(err, r, "list addresses");
	r = nl_socket_modify_cb(s->sk, NL_CB_VALID, NL_CB_CUSTOM, on_addr, &w);
	if (r < 0)
		return nl_fail(err, r, "list addresses");
	r = nl_recvmsgs_default(s->sk);
	if (r < 0)
		return nl_fail(err, r, "list addresses");
	return w.r;
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
