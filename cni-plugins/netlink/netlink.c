/* rtnetlink requests over a raw socket: message building, request/ACK and
 * dump transactions, links, addresses and routes. */
#include "cni-plugins/netlink/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/ipv6.h>
#include <linux/magic.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* IF_OPER_* from linux/if.h, which clashes with the libc's net/if.h. */
#ifndef IF_OPER_UP
#define IF_OPER_UNKNOWN 0
#define IF_OPER_UP 6
#endif

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* Requests are small (a link with a nested peer is < 300 bytes). */
#define REQ_SIZE 1024
/* Replies: a dump batch is at most one page per message but the kernel packs
 * several per recv; 32 kB holds a full batch without MSG_TRUNC. */
#define RECV_SIZE 32768

struct req {
	struct nlmsghdr *h;
	union {
		struct nlmsghdr align;
		char buf[REQ_SIZE];
	} u;
};

static void req_init(struct req *r, uint16_t type, uint16_t flags)
{
	memset(&r->u, 0, sizeof(r->u));
	r->h = &r->u.align;
	r->h->nlmsg_len = NLMSG_LENGTH(0);
	r->h->nlmsg_type = type;
	r->h->nlmsg_flags = NLM_F_REQUEST | flags;
}

/* The buffer is sized for the largest request built here; overflowing it is
 * a programming error, not an input error. */
static void *req_put(struct req *r, size_t len)
{
	size_t off = NLMSG_ALIGN(r->h->nlmsg_len);
	if (off + RTA_ALIGN(len) > REQ_SIZE)
		abort();
	void *p = r->u.buf + off;
	r->h->nlmsg_len = off + len;
	return p;
}

static struct rtattr *attr_put(struct req *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = req_put(r, RTA_LENGTH(len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	return a;
}

static void attr_put_u32(struct req *r, uint16_t type, uint32_t v)
{
	attr_put(r, type, &v, sizeof(v));
}
static void attr_put_u8(struct req *r, uint16_t type, uint8_t v)
{
	attr_put(r, type, &v, sizeof(v));
}
static void attr_put_u16(struct req *r, uint16_t type, uint16_t v)
{
	attr_put(r, type, &v, sizeof(v));
}
static void attr_put_str(struct req *r, uint16_t type, const char *s)
{
	attr_put(r, type, s, strlen(s) + 1);
}

static struct rtattr *nest_start(struct req *r, uint16_t type)
{
	return attr_put(r, type, NULL, 0);
}
static void nest_end(struct req *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)r->u.buf + r->h->nlmsg_len - (char *)nest);
}

int netlink_open(struct netlink_sock *s, ndl_error_t *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return ndl_error_set(err, errno, "netlink: socket");
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "netlink: bind");
	}
	/* Dumps of big tables must not fail on the (optional) strict check. */
	int one = 1;
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	s->fd = fd;
	s->seq = (uint32_t)time(NULL);
	return 0;
}

void netlink_close(struct netlink_sock *s)
{
	if (s && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
}

int netlink_netns_enter(int netns_fd, int *ret_saved, ndl_error_t *err)
{
	int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return ndl_error_set(err, errno, "open current netns");
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(saved);
		return ndl_error_set(err, e, "setns");
	}
	*ret_saved = saved;
	return 0;
}

int netlink_netns_leave(int *saved, ndl_error_t *err)
{
	if (*saved < 0)
		return 0;
	int r = setns(*saved, CLONE_NEWNET);
	int e = errno;
	close(*saved);
	*saved = -1;
	if (r < 0)
		return ndl_error_set(err, e, "setns back to the original netns");
	return 0;
}

int netlink_open_in_netns_from(struct netlink_sock *s, int netns_fd, int home_fd,
			       ndl_error_t *err)
{
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return ndl_error_set(err, errno, "setns");
	int r = netlink_open(s, err);
	if (setns(home_fd, CLONE_NEWNET) < 0) {
		/* As below: no safe way to go on in the wrong namespace. */
		ndl_error_clear(err);
		int e = errno;
		netlink_close(s);
		return ndl_error_set(err, e, "setns back");
	}
	return r;
}

int netlink_open_in_netns(struct netlink_sock *s, int netns_fd, ndl_error_t *err)
{
	int saved = -1;
	int r = netlink_netns_enter(netns_fd, &saved, err);
	if (r < 0)
		return r;
	r = netlink_open(s, err);
	ndl_error_t err2 = NDL_ERROR_INIT;
	if (netlink_netns_leave(&saved, &err2) < 0) {
		/* Staying in the wrong namespace would misdirect everything
		 * after this; there is no safe way to go on. */
		ndl_error_clear(err);
		*err = err2;
		netlink_close(s);
		return -abs(err->code);
	}
	return r;
}

int netlink_netns_open(const char *path, int *ret_fd, ndl_error_t *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "failed to open netns %s", path);
	struct statfs st;
	if (fstatfs(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_set(err, e, "failed to open netns %s", path);
	}
	if ((unsigned long)st.f_type != NSFS_MAGIC &&
	    (unsigned long)st.f_type != PROC_SUPER_MAGIC) {
		close(fd);
		return ndl_error_setf(err, EINVAL,
				      "failed to open netns %s: unknown FS magic 0x%lx", path,
				      (unsigned long)st.f_type);
	}
	*ret_fd = fd;
	return 0;
}

/* ---- transactions ------------------------------------------------------ */

static int nl_send(struct netlink_sock *s, struct req *r, ndl_error_t *err)
{
	r->h->nlmsg_seq = ++s->seq;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	ssize_t n;
	do
		n = sendto(s->fd, r->u.buf, r->h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ndl_error_set(err, errno, "netlink: send");
	return 0;
}

typedef int (*nl_cb)(struct nlmsghdr *h, void *data);

/* Read replies to the last request until its ACK/error (or DONE for dumps),
 * calling cb for each data message. */
static int nl_recv(struct netlink_sock *s, nl_cb cb, void *data, ndl_error_t *err)
{
	cleanup_free char *buf = xmalloc(RECV_SIZE);
	for (;;) {
		ssize_t n;
		do
			n = recv(s->fd, buf, RECV_SIZE, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return ndl_error_set(err, errno, "netlink: recv");
		if (n == 0)
			return ndl_error_setf(err, EIO, "netlink: socket closed");
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != s->seq)
				continue; /* a late reply to an earlier request */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return ndl_error_setf(err, EIO,
							      "netlink: short error message");
				if (e->error == 0)
					return 0;
				return ndl_error_set(err, -e->error, "netlink");
			}
			if (cb) {
				int r = cb(h, data);
				if (r < 0)
					return ndl_error_set(err, -r, "netlink: parse reply");
			}
		}
	}
}

static int nl_do(struct netlink_sock *s, struct req *r, nl_cb cb, void *data, ndl_error_t *err)
{
	r->h->nlmsg_flags |= NLM_F_ACK;
	int ret = nl_send(s, r, err);
	if (ret < 0)
		return ret;
	return nl_recv(s, cb, data, err);
}

static void parse_attrs(struct rtattr **tb, int max, struct rtattr *rta, int len)
{
	memset(tb, 0, sizeof(*tb) * (max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		unsigned short t = rta->rta_type & NLA_TYPE_MASK;
		if (t <= max && !tb[t])
			tb[t] = rta;
	}
}

static uint32_t rta_u32(const struct rtattr *a)
{
	uint32_t v = 0;
	memcpy(&v, RTA_DATA(a), RTA_PAYLOAD(a) < 4 ? RTA_PAYLOAD(a) : 4);
	return v;
}

/* ---- links ------------------------------------------------------------- */

static int parse_link(struct nlmsghdr *h, void *data)
{
	struct netlink_link *l = data;
	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct rtattr *tb[IFLA_MAX + 1];
	parse_attrs(tb, IFLA_MAX, IFLA_RTA(ifi), (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi))));
	memset(l, 0, sizeof(*l));
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%s", (char *)RTA_DATA(tb[IFLA_IFNAME]));
	if (tb[IFLA_MTU])
		l->mtu = (int)rta_u32(tb[IFLA_MTU]);
	if (tb[IFLA_ADDRESS]) {
		size_t n = RTA_PAYLOAD(tb[IFLA_ADDRESS]);
		if (n > sizeof(l->mac))
			n = sizeof(l->mac);
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), n);
		l->mac_len = (int)n;
	}
	if (tb[IFLA_MASTER])
		l->master = (int)rta_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_LINK])
		l->link = (int)rta_u32(tb[IFLA_LINK]);
	l->link_netnsid_set = tb[IFLA_LINK_NETNSID] != NULL;
	if (tb[IFLA_OPERSTATE])
		l->operstate = *(uint8_t *)RTA_DATA(tb[IFLA_OPERSTATE]);
	if (tb[IFLA_PROMISCUITY])
		l->promiscuity = rta_u32(tb[IFLA_PROMISCUITY]);
	l->accept_ra = -1;
	if (tb[IFLA_AF_SPEC]) {
		struct rtattr *af[AF_MAX + 1];
		parse_attrs(af, AF_MAX, RTA_DATA(tb[IFLA_AF_SPEC]),
			    (int)RTA_PAYLOAD(tb[IFLA_AF_SPEC]));
		if (af[AF_INET6]) {
			struct rtattr *in6[IFLA_INET6_MAX + 1];
			parse_attrs(in6, IFLA_INET6_MAX, RTA_DATA(af[AF_INET6]),
				    (int)RTA_PAYLOAD(af[AF_INET6]));
			struct rtattr *conf = in6[IFLA_INET6_CONF];
			if (conf && RTA_PAYLOAD(conf) >= (DEVCONF_ACCEPT_RA + 1) * sizeof(int32_t)) {
				int32_t v;
				memcpy(&v, (char *)RTA_DATA(conf) + DEVCONF_ACCEPT_RA * sizeof(v),
				       sizeof(v));
				l->accept_ra = v;
			}
		}
	}
	if (tb[IFLA_LINKINFO]) {
		struct rtattr *li[IFLA_INFO_MAX + 1];
		parse_attrs(li, IFLA_INFO_MAX, RTA_DATA(tb[IFLA_LINKINFO]),
			    (int)RTA_PAYLOAD(tb[IFLA_LINKINFO]));
		if (li[IFLA_INFO_KIND])
			snprintf(l->kind, sizeof(l->kind), "%.*s",
				 (int)RTA_PAYLOAD(li[IFLA_INFO_KIND]),
				 (char *)RTA_DATA(li[IFLA_INFO_KIND]));
		if (li[IFLA_INFO_DATA] && strcmp(l->kind, "bridge") == 0) {
			struct rtattr *br[IFLA_BR_MAX + 1];
			parse_attrs(br, IFLA_BR_MAX, RTA_DATA(li[IFLA_INFO_DATA]),
				    (int)RTA_PAYLOAD(li[IFLA_INFO_DATA]));
			if (br[IFLA_BR_VLAN_FILTERING])
				l->vlan_filtering =
				    *(uint8_t *)RTA_DATA(br[IFLA_BR_VLAN_FILTERING]) != 0;
		}
	}
	return 0;
}

int netlink_link_get(struct netlink_sock *s, const char *name, int index, struct netlink_link *ret,
		     ndl_error_t *err)
{
	struct req r;
	req_init(&r, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (name) {
		if (strlen(name) >= IF_NAMESIZE)
			return ndl_error_setf(err, EINVAL, "interface name %s too long", name);
		attr_put_str(&r, IFLA_IFNAME, name);
	}
	/* Skip the VF/stats blobs we never read. */
	attr_put_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	struct netlink_link l;
	memset(&l, 0, sizeof(l));
	l.index = -1;
	int rc = nl_do(s, &r, parse_link, &l, err);
	if (rc < 0) {
		if (rc == -ENODEV || rc == -ENOENT) {
			if (name)
				return ndl_error_setf(err, ENODEV, "link %s not found", name);
			return ndl_error_setf(err, ENODEV, "link index %d not found", index);
		}
		return ndl_error_wrap(err, "get link %s", name ? name : "");
	}
	if (l.index < 0)
		return ndl_error_setf(err, ENODEV, "link %s not found", name ? name : "");
	*ret = l;
	return 0;
}

static struct ifinfomsg *link_req(struct req *r, uint16_t type, uint16_t flags, int index)
{
	req_init(r, type, flags);
	struct ifinfomsg *ifi = req_put(r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

int netlink_bridge_add(struct netlink_sock *s, const char *name, int mtu, bool vlan_filtering,
		       ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	attr_put_str(&r, IFLA_IFNAME, name);
	if (mtu > 0)
		attr_put_u32(&r, IFLA_MTU, (uint32_t)mtu);
	struct rtattr *li = nest_start(&r, IFLA_LINKINFO);
	attr_put_str(&r, IFLA_INFO_KIND, "bridge");
	if (vlan_filtering) {
		struct rtattr *d = nest_start(&r, IFLA_INFO_DATA);
		attr_put_u8(&r, IFLA_BR_VLAN_FILTERING, 1);
		nest_end(&r, d);
	}
	nest_end(&r, li);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "add bridge %s", name);
	return 0;
}

int netlink_veth_add(struct netlink_sock *s, const char *name, const char *peer, int peer_netns_fd,
		     int mtu, const uint8_t *mac, ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	attr_put_str(&r, IFLA_IFNAME, name);
	if (mtu > 0)
		attr_put_u32(&r, IFLA_MTU, (uint32_t)mtu);
	/* The reference creates both ends with txqueuelen 0 (Go zero value). */
	attr_put_u32(&r, IFLA_TXQLEN, 0);
	if (mac)
		attr_put(&r, IFLA_ADDRESS, mac, 6);
	struct rtattr *li = nest_start(&r, IFLA_LINKINFO);
	attr_put_str(&r, IFLA_INFO_KIND, "veth");
	struct rtattr *d = nest_start(&r, IFLA_INFO_DATA);
	struct rtattr *p = nest_start(&r, VETH_INFO_PEER);
	struct ifinfomsg *pifi = req_put(&r, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	attr_put_str(&r, IFLA_IFNAME, peer);
	attr_put_u32(&r, IFLA_TXQLEN, 0);
	if (mtu > 0)
		attr_put_u32(&r, IFLA_MTU, (uint32_t)mtu);
	if (peer_netns_fd >= 0)
		attr_put_u32(&r, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	nest_end(&r, p);
	nest_end(&r, d);
	nest_end(&r, li);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "add veth %s/%s", name, peer);
	return 0;
}

int netlink_link_del(struct netlink_sock *s, int index, ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_DELLINK, 0, index);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "delete link %d", index);
	return 0;
}

void netlink_close_range(unsigned lo, unsigned hi)
{
	(void)syscall(SYS_close_range, lo, hi, 0U);
}

/* Close every fd except stdio, a and b. */
static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	if (lo > 3)
		netlink_close_range(3, (unsigned)lo - 1);
	if (hi > lo + 1)
		netlink_close_range((unsigned)lo + 1, (unsigned)hi - 1);
	netlink_close_range((unsigned)hi + 1, ~0U);
}

int netlink_link_del_detached(struct netlink_sock *s, struct netlink_sock *mon, int index,
			      ndl_error_t *err)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	socklen_t sl = sizeof(sa);
	int grp = RTNLGRP_LINK;
	if (setsockopt(mon->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0 ||
	    getsockname(mon->fd, (struct sockaddr *)&sa, &sl) < 0)
		return netlink_link_del(s, index, err); /* cannot watch: just wait */
	int pfd[2];
	/* No pipe or no process to spare (pids limit): delete and wait. */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return netlink_link_del(s, index, err);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return netlink_link_del(s, index, err);
	}
	if (pid == 0) {
		/* Double fork: the helper is not our child, so nobody has
		 * to reap it when we are gone. */
		pid_t g = fork();
		if (g > 0)
			_exit(0);
		/* g == 0: the detached helper. g < 0: no second process to
		 * spare, so this one deletes while our parent waits for it. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		/* The caller may wait for EOF on pipes it gave us. */
		close_all_but(s->fd, pfd[1]);
		ndl_error_t e = NDL_ERROR_INIT;
		int r = netlink_link_del(s, index, &e);
		int code = r < 0 ? -r : 0;
		ssize_t n = write(pfd[1], &code, sizeof(code));
		(void)n;
		_exit(0);
	}
	close(pfd[1]);
	netlink_close(s);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	cleanup_free char *buf = xmalloc(RECV_SIZE);
	struct pollfd pf[2] = {{mon->fd, POLLIN, 0}, {pfd[0], POLLIN, 0}};
	int rc = 0;
	for (;;) {
		int n = poll(pf, 2, 30000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = ndl_error_setf(err, ETIMEDOUT, "delete link %d: no answer", index);
			break;
		}
		if (pf[1].revents) {
			int code = 0;
			ssize_t r = read(pfd[0], &code, sizeof(code));
			if (r != (ssize_t)sizeof(code))
				rc = ndl_error_setf(err, EIO, "delete link %d: helper died", index);
			else if (code)
				rc = ndl_error_set(err, code, "delete link %d: netlink", index);
			break;
		}
		if (pf[0].revents) {
			ssize_t r = recv(mon->fd, buf, RECV_SIZE, MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				/* ENOBUFS: events lost; the helper's answer still comes. */
				pf[0].fd = -1;
				continue;
			}
			bool gone = false;
			for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r);
			     h = NLMSG_NEXT(h, r)) {
				if (h->nlmsg_type != RTM_DELLINK)
					continue;
				struct ifinfomsg *ifi = NLMSG_DATA(h);
				if (ifi->ifi_index == index)
					gone = true;
			}
			if (gone)
				break;
		}
	}
	close(pfd[0]);
	return rc;
}

int netlink_link_watch(struct netlink_sock *mon, ndl_error_t *err)
{
	int grp = RTNLGRP_LINK;
	if (setsockopt(mon->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0)
		return ndl_error_set(err, errno, "netlink: watch links");
	return 0;
}

static long long mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int netlink_link_wait_oper_up(struct netlink_sock *s, struct netlink_sock *mon, int index,
			      int timeout_ms, uint8_t *ret_state, ndl_error_t *err)
{
	long long end = mono_ms() + timeout_ms;
	cleanup_free char *buf = NULL;
	bool ask = true;
	uint8_t state = IF_OPER_UNKNOWN;
	long poll_ms = 1; /* without a watcher: 1, 2, 4 ... 64 ms apart */
	for (;;) {
		if (ask) {
			struct netlink_link l;
			if (netlink_link_get(s, NULL, index, &l, err) < 0)
				return -ENODEV;
			state = l.operstate;
			if (state == IF_OPER_UP)
				return 0;
			ask = mon == NULL;
		}
		long long left = end - mono_ms();
		if (left <= 0)
			break;
		if (!mon) {
			long ms = poll_ms < left ? poll_ms : (long)left;
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			if (poll_ms < 64)
				poll_ms *= 2;
			continue;
		}
		struct pollfd pf = {mon->fd, POLLIN, 0};
		int n = poll(&pf, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return ndl_error_set(err, errno, "netlink: poll");
		if (n <= 0)
			continue;
		if (!buf)
			buf = xmalloc(RECV_SIZE);
		ssize_t r = recv(mon->fd, buf, RECV_SIZE, MSG_DONTWAIT);
		if (r < 0) {
			/* ENOBUFS: notifications were lost; ask instead. */
			if (errno == ENOBUFS)
				ask = true;
			continue;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r);
		     h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type != RTM_NEWLINK ||
			    ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index != index)
				continue;
			struct netlink_link l;
			parse_link(h, &l);
			state = l.operstate;
			if (state == IF_OPER_UP)
				return 0;
		}
	}
	if (ret_state)
		*ret_state = state;
	return ndl_error_setf(err, ETIMEDOUT, "link %d not up", index);
}

int netlink_link_set_flags(struct netlink_sock *s, int index, unsigned flags, unsigned mask,
			   ndl_error_t *err)
{
	struct req r;
	struct ifinfomsg *ifi = link_req(&r, RTM_NEWLINK, 0, index);
	ifi->ifi_flags = flags;
	ifi->ifi_change = mask;
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set flags on link %d", index);
	return 0;
}

int netlink_link_set_master(struct netlink_sock *s, int index, int master, ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_NEWLINK, 0, index);
	attr_put_u32(&r, IFLA_MASTER, (uint32_t)master);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set master of link %d", index);
	return 0;
}

int netlink_link_set_mac(struct netlink_sock *s, int index, const uint8_t *mac, int len,
			 ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_NEWLINK, 0, index);
	attr_put(&r, IFLA_ADDRESS, mac, (size_t)len);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set mac of link %d", index);
	return 0;
}

int netlink_link_set_mtu(struct netlink_sock *s, int index, int mtu, ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_NEWLINK, 0, index);
	attr_put_u32(&r, IFLA_MTU, (uint32_t)mtu);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set mtu of link %d", index);
	return 0;
}

int netlink_ipv4_devconf_set(struct netlink_sock *s, int index, int key, uint32_t value,
			     ndl_error_t *err)
{
	struct req r;
	link_req(&r, RTM_SETLINK, 0, index);
	struct rtattr *spec = nest_start(&r, IFLA_AF_SPEC);
	struct rtattr *inet = nest_start(&r, AF_INET);
	struct rtattr *conf = nest_start(&r, IFLA_INET_CONF);
	attr_put_u32(&r, (unsigned short)key, value);
	nest_end(&r, conf);
	nest_end(&r, inet);
	nest_end(&r, spec);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set ipv4 devconf %d of link %d", key, index);
	return 0;
}

int netlink_brport_set_hairpin(struct netlink_sock *s, int index, bool on, ndl_error_t *err)
{
	struct req r;
	struct ifinfomsg *ifi = link_req(&r, RTM_SETLINK, 0, index);
	ifi->ifi_family = AF_BRIDGE;
	struct rtattr *p = nest_start(&r, IFLA_PROTINFO | NLA_F_NESTED);
	attr_put_u8(&r, IFLA_BRPORT_MODE, on ? 1 : 0);
	nest_end(&r, p);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "set hairpin mode of link %d", index);
	return 0;
}

int netlink_bridge_vlan_add(struct netlink_sock *s, int index, uint16_t vid, bool pvid,
			    bool untagged, ndl_error_t *err)
{
	struct req r;
	struct ifinfomsg *ifi = link_req(&r, RTM_SETLINK, 0, index);
	ifi->ifi_family = AF_BRIDGE;
	struct rtattr *spec = nest_start(&r, IFLA_AF_SPEC);
	attr_put_u16(&r, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_MASTER);
	struct bridge_vlan_info vi = {.vid = vid};
	if (pvid)
		vi.flags |= BRIDGE_VLAN_INFO_PVID;
	if (untagged)
		vi.flags |= BRIDGE_VLAN_INFO_UNTAGGED;
	attr_put(&r, IFLA_BRIDGE_VLAN_INFO, &vi, sizeof(vi));
	nest_end(&r, spec);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0)
		return ndl_error_wrap(err, "add vlan %u to link %d", vid, index);
	return 0;
}

/* ---- addresses --------------------------------------------------------- */

struct addr_list {
	struct netlink_addr *v;
	size_t n, cap;
	int ifindex;
	int family;
};

static int parse_addr(struct nlmsghdr *h, void *data)
{
	struct addr_list *l = data;
	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (l->ifindex && (int)ifa->ifa_index != l->ifindex)
		return 0;
	if (l->family != AF_UNSPEC && ifa->ifa_family != l->family)
		return 0;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	struct rtattr *tb[IFA_MAX + 1];
	parse_attrs(tb, IFA_MAX, IFA_RTA(ifa), (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa))));
	/* IFA_LOCAL is the interface's own address (differs from IFA_ADDRESS
	 * only on point-to-point links). */
	struct rtattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct netlink_addr *o = &l->v[l->n++];
	memset(o, 0, sizeof(*o));
	o->family = ifa->ifa_family;
	size_t alen = o->family == AF_INET ? 4 : 16;
	if (RTA_PAYLOAD(a) < alen)
		return -EPROTO;
	memcpy(o->addr, RTA_DATA(a), alen);
	o->prefixlen = ifa->ifa_prefixlen;
	o->ifindex = (int)ifa->ifa_index;
	o->scope = ifa->ifa_scope;
	o->flags = tb[IFA_FLAGS] ? rta_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	return 0;
}

int netlink_addr_list(struct netlink_sock *s, int ifindex, int family, struct netlink_addr **ret,
		      size_t *ret_n, ndl_error_t *err)
{
	struct req r;
	req_init(&r, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = req_put(&r, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	struct addr_list l = {.ifindex = ifindex, .family = family};
	/* One link of one family: with the strict check on for this dump the
	 * kernel walks only that link, not every link of the namespace (a
	 * few hundred veths on a node). Without it (older kernels) the
	 * filter above does the same work here. */
	int on = 1, off = 0;
	bool strict = ifindex > 0 && family != AF_UNSPEC &&
		      setsockopt(s->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on)) == 0;
	if (strict)
		ifa->ifa_index = (uint32_t)ifindex;
	int rc = nl_do(s, &r, parse_addr, &l, err);
	if (strict) {
		(void)setsockopt(s->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &off, sizeof(off));
		if (rc < 0) {
			/* a kernel that has the check but not this filter */
			ndl_error_clear(err);
			free(l.v);
			l = (struct addr_list){.ifindex = ifindex, .family = family};
			ifa->ifa_index = 0;
			rc = nl_do(s, &r, parse_addr, &l, err);
		}
	}
	if (rc < 0) {
		free(l.v);
		return ndl_error_wrap(err, "list addresses");
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

static int addr_req(struct netlink_sock *s, uint16_t type, uint16_t flags,
		    const struct netlink_addr *a, ndl_error_t *err)
{
	struct req r;
	req_init(&r, type, flags);
	struct ifaddrmsg *ifa = req_put(&r, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = (uint8_t)a->prefixlen;
	ifa->ifa_index = (uint32_t)a->ifindex;
	ifa->ifa_scope = a->scope;
	size_t alen = a->family == AF_INET ? 4 : 16;
	attr_put(&r, IFA_LOCAL, a->addr, alen);
	attr_put(&r, IFA_ADDRESS, a->addr, alen);
	if (type == RTM_NEWADDR && a->family == AF_INET && a->prefixlen < 31) {
		uint32_t ip;
		memcpy(&ip, a->addr, 4);
		uint32_t mask = a->prefixlen ? htonl(~0u << (32 - a->prefixlen)) : 0;
		uint32_t brd = ip | ~mask;
		attr_put(&r, IFA_BROADCAST, &brd, 4);
	}
	return nl_do(s, &r, NULL, NULL, err);
}

static const char *addr_str(const struct netlink_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(a->family, a->addr, ip, sizeof(ip));
	snprintf(buf, size, "%s/%d", ip, a->prefixlen);
	return buf;
}

int netlink_addr_add(struct netlink_sock *s, const struct netlink_addr *a, ndl_error_t *err)
{
	int rc = addr_req(s, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a, err);
	if (rc < 0) {
		char b[64];
		return ndl_error_wrap(err, "add address %s", addr_str(a, b, sizeof(b)));
	}
	return 0;
}

int netlink_addr_del(struct netlink_sock *s, const struct netlink_addr *a, ndl_error_t *err)
{
	int rc = addr_req(s, RTM_DELADDR, 0, a, err);
	if (rc < 0) {
		char b[64];
		return ndl_error_wrap(err, "delete address %s", addr_str(a, b, sizeof(b)));
	}
	return 0;
}

int netlink_addr_settle(struct netlink_sock *s, int ifindex, int timeout_ms, ndl_error_t *err)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	long step_ms = 1;
	for (;;) {
		struct netlink_addr *v = NULL;
		size_t n = 0;
		int rc = netlink_addr_list(s, ifindex, AF_UNSPEC, &v, &n, err);
		if (rc < 0)
			return rc;
		bool busy = false;
		for (size_t i = 0; i < n; i++)
			if (v[i].flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
				busy = true;
		free(v);
		if (!busy)
			return 0;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= timeout_ms)
			return ndl_error_setf(err, ETIMEDOUT,
					      "link %d still has tentative addresses after %d ms",
					      ifindex, timeout_ms);
		/* Without DAD the kernel clears "tentative" from a workqueue
		 * right after link up: poll from 1 ms, doubling up to 50 ms. */
		struct timespec d = {0, step_ms * 1000000L};
		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		if (step_ms < 50)
			step_ms = step_ms * 2 > 50 ? 50 : step_ms * 2;
	}
}

/* ---- routes ------------------------------------------------------------ */

int netlink_route_add(struct netlink_sock *s, const struct netlink_route *rt, ndl_error_t *err)
{
	struct req r;
	req_init(&r, RTM_NEWROUTE, NLM_F_CREATE);
	struct rtmsg *m = req_put(&r, sizeof(*m));
	m->rtm_family = (uint8_t)rt->family;
	m->rtm_dst_len = (uint8_t)rt->dst_len;
	m->rtm_table = RT_TABLE_MAIN;
	m->rtm_protocol = RTPROT_BOOT;
	m->rtm_scope = rt->scope;
	m->rtm_type = RTN_UNICAST;
	size_t alen = rt->family == AF_INET ? 4 : 16;
	if (rt->dst_len > 0)
		attr_put(&r, RTA_DST, rt->dst, alen);
	if (rt->has_gw)
		attr_put(&r, RTA_GATEWAY, rt->gw, alen);
	if (rt->oif)
		attr_put_u32(&r, RTA_OIF, (uint32_t)rt->oif);
	if (rt->priority)
		attr_put_u32(&r, RTA_PRIORITY, rt->priority);
	int rc = nl_do(s, &r, NULL, NULL, err);
	if (rc < 0) {
		char d[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN] = "<nil>";
		inet_ntop(rt->family, rt->dst, d, sizeof(d));
		if (rt->has_gw)
			inet_ntop(rt->family, rt->gw, g, sizeof(g));
		return ndl_error_wrap(err, "add route %s/%d via %s", d, rt->dst_len, g);
	}
	return 0;
}

struct route_list {
	struct netlink_route *v;
	size_t n, cap;
	int family;
};

static int parse_route(struct nlmsghdr *h, void *data)
{
	struct route_list *l = data;
	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	struct rtmsg *m = NLMSG_DATA(h);
	if (m->rtm_family != l->family)
		return 0;
	struct rtattr *tb[RTA_MAX + 1];
	parse_attrs(tb, RTA_MAX, RTM_RTA(m), (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m))));
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct netlink_route *o = &l->v[l->n++];
	memset(o, 0, sizeof(*o));
	o->family = m->rtm_family;
	o->dst_len = m->rtm_dst_len;
	size_t alen = o->family == AF_INET ? 4 : 16;
	if (tb[RTA_DST] && RTA_PAYLOAD(tb[RTA_DST]) >= alen)
		memcpy(o->dst, RTA_DATA(tb[RTA_DST]), alen);
	if (tb[RTA_GATEWAY] && RTA_PAYLOAD(tb[RTA_GATEWAY]) >= alen) {
		memcpy(o->gw, RTA_DATA(tb[RTA_GATEWAY]), alen);
		o->has_gw = true;
	}
	if (tb[RTA_OIF])
		o->oif = (int)rta_u32(tb[RTA_OIF]);
	o->table = tb[RTA_TABLE] ? rta_u32(tb[RTA_TABLE]) : m->rtm_table;
	if (tb[RTA_PRIORITY])
		o->priority = rta_u32(tb[RTA_PRIORITY]);
	o->type = m->rtm_type;
	o->scope = m->rtm_scope;
	o->protocol = m->rtm_protocol;
	/* A multipath route: report each hop as its own entry so lookups by
	 * gateway find them. */
	if (tb[RTA_MULTIPATH]) {
		struct netlink_route base = *o;
		l->n--;
		struct rtnexthop *nh = RTA_DATA(tb[RTA_MULTIPATH]);
		int len = (int)RTA_PAYLOAD(tb[RTA_MULTIPATH]);
		while (len >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) &&
		       nh->rtnh_len <= len) {
			struct netlink_route hop = base;
			hop.oif = nh->rtnh_ifindex;
			struct rtattr *na[RTA_MAX + 1];
			parse_attrs(na, RTA_MAX, RTNH_DATA(nh), (int)(nh->rtnh_len - sizeof(*nh)));
			if (na[RTA_GATEWAY] && RTA_PAYLOAD(na[RTA_GATEWAY]) >= alen) {
				memcpy(hop.gw, RTA_DATA(na[RTA_GATEWAY]), alen);
				hop.has_gw = true;
			}
			if (l->n == l->cap) {
				l->cap *= 2;
				l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
			}
			l->v[l->n++] = hop;
			len -= RTNH_ALIGN(nh->rtnh_len);
			nh = RTNH_NEXT(nh);
		}
	}
	return 0;
}

int netlink_route_list(struct netlink_sock *s, int family, struct netlink_route **ret,
		       size_t *ret_n, ndl_error_t *err)
{
	struct req r;
	req_init(&r, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *m = req_put(&r, sizeof(*m));
	m->rtm_family = (uint8_t)family;
	struct route_list l = {.family = family};
	int rc = nl_do(s, &r, parse_route, &l, err);
	if (rc < 0) {
		free(l.v);
		return ndl_error_wrap(err, "list routes");
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

/* ---- sysctl ------------------------------------------------------------ */

int netlink_sysctl_write(const char *key, const char *value, ndl_error_t *err)
{
	char path[256];
	if (snprintf(path, sizeof(path), "/proc/sys/%s", key) >= (int)sizeof(path))
		return ndl_error_setf(err, ENAMETOOLONG, "sysctl %s: name too long", key);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "sysctl %s", key);
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0)
		return ndl_error_set(err, e, "sysctl %s=%s", key, value);
	return 0;
}

int netlink_sysctl_read(const char *key, char *buf, size_t size, ndl_error_t *err)
{
	char path[256];
	if (snprintf(path, sizeof(path), "/proc/sys/%s", key) >= (int)sizeof(path))
		return ndl_error_setf(err, ENAMETOOLONG, "sysctl %s: name too long", key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "sysctl %s", key);
	ssize_t n;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0)
		return ndl_error_set(err, e, "sysctl %s", key);
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	return 0;
}

/* ---- MAC strings -------------------------------------------------------- */

const char *netlink_mac_format(const uint8_t *mac, int len, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;
	if (len > 32)
		len = 32;
	for (int i = 0; i < len; i++) {
		if (i)
			*p++ = ':';
		*p++ = hex[mac[i] >> 4];
		*p++ = hex[mac[i] & 15];
	}
	*p = 0;
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int netlink_mac_parse(const char *s, uint8_t mac[6])
{
	/* 6-byte EUI-48 in the forms Go's net.ParseMAC accepts for it:
	 * aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff and aabb.ccdd.eeff. */
	size_t len = strlen(s);
	if (len == 17 && (s[2] == ':' || s[2] == '-')) {
		char sep = s[2];
		for (int i = 0; i < 6; i++) {
			const char *p = s + i * 3;
			int hi = hexval(p[0]), lo = hexval(p[1]);
			if (hi < 0 || lo < 0 || (i < 5 && p[2] != sep))
				return -EINVAL;
			mac[i] = (uint8_t)(hi << 4 | lo);
		}
		return 0;
	}
	if (len == 14 && s[4] == '.' && s[9] == '.') {
		int k = 0;
		for (size_t i = 0; i < len; i++) {
			if (i == 4 || i == 9)
				continue;
			int v = hexval(s[i]);
			if (v < 0)
				return -EINVAL;
			if (k % 2 == 0)
				mac[k / 2] = (uint8_t)(v << 4);
			else
				mac[k / 2] |= (uint8_t)v;
			k++;
		}
		return 0;
	}
	return -EINVAL;
}
