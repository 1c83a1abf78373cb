/* bridge: ipMasq rules programmed through nf_tables over raw netlink
 * (NETLINK_NETFILTER), in exactly the layout iptables-nft 1.8.9 writes for
 * the reference plugin's `iptables -t nat` commands:
 *
 *   table <ip|ip6> nat
 *   chain POSTROUTING  type nat hook postrouting priority 100 policy accept
 *   chain CNI-<hash>   (user chain)
 *   rule: payload(daddr) [bitwise] cmp, match comment rev 0, counter,
 *         immediate accept | target MASQUERADE rev 0 | immediate jump
 *
 * Byte for byte what iptables-nft sends (learned with strace on
 * `iptables -t nat -A ...`), so `iptables -t nat -S` shows the reference's
 * rules and iptables' own `-D`, `-F`, `-X` (the reference's DEL) match ours,
 * and we find and delete the reference's rules by handle.
 *
 * Why not exec iptables-restore: each exec is ~2 ms and the child's 2 MB
 * peak RSS counts in the plugin's ru_maxrss. One batch per family here is
 * atomic like an iptables-restore transaction.
 *
 * Anything unexpected (a repeated ADD whose chain exists, a jump rule we
 * cannot parse, a kernel without nf_tables) returns an error and the caller
 * falls back to the iptables tools, which handle every case. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "cni-plugins/netlink/netlink.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define XT_COMMENT_LEN 256 /* struct xt_comment_info */
/* MASQUERADE rev 0 target info: IPv4 struct nf_nat_ipv4_multi_range_compat
 * (rangesize = 1, one zeroed range), IPv6 struct nf_nat_range (zeroed). */
#define MASQ4_INFO_LEN 24
#define MASQ6_INFO_LEN 40

struct nbuf {
	uint8_t *b;
	size_t len, cap;
};

static void nb_reserve(struct nbuf *n, size_t more)
{
	if (n->len + more <= n->cap)
		return;
	size_t c = n->cap ? n->cap : 2048;
	while (c < n->len + more)
		c *= 2;
	n->b = xrealloc(n->b, c);
	n->cap = c;
}

static void *nb_put(struct nbuf *n, const void *data, size_t len)
{
	size_t al = NLA_ALIGN(len);
	nb_reserve(n, al);
	void *p = n->b + n->len;
	if (data)
		memcpy(p, data, len);
	else
		memset(p, 0, len);
	memset((uint8_t *)p + len, 0, al - len);
	n->len += al;
	return p;
}

static void attr(struct nbuf *n, uint16_t type, const void *data, size_t len)
{
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
	nb_put(n, &a, sizeof a);
	nb_put(n, data, len);
}
static void attr_str(struct nbuf *n, uint16_t type, const char *s)
{
	attr(n, type, s, strlen(s) + 1);
}
static void attr_be32(struct nbuf *n, uint16_t type, uint32_t v)
{
	v = htonl(v);
	attr(n, type, &v, 4);
}
static size_t nest_start(struct nbuf *n, uint16_t type)
{
	size_t off = n->len;
	struct nlattr a = {.nla_len = 0, .nla_type = (uint16_t)(type | NLA_F_NESTED)};
	nb_put(n, &a, sizeof a);
	return off;
}
static void nest_end(struct nbuf *n, size_t off)
{
	((struct nlattr *)(n->b + off))->nla_len = (uint16_t)(n->len - off);
}

static size_t msg_start(struct nbuf *n, uint16_t type, uint16_t flags, uint8_t family,
			uint16_t res_id, uint32_t *seq)
{
	size_t off = n->len;
	struct nlmsghdr h = {.nlmsg_type = type, .nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags),
			     .nlmsg_seq = ++*seq};
	nb_put(n, &h, sizeof h);
	struct nfgenmsg g = {.nfgen_family = family, .version = NFNETLINK_V0,
			     .res_id = htons(res_id)};
	nb_put(n, &g, sizeof g);
	return off;
}
static void msg_end(struct nbuf *n, size_t off)
{
	((struct nlmsghdr *)(n->b + off))->nlmsg_len = (uint32_t)(n->len - off);
}
static uint16_t nft_type(int msg)
{
	return (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg);
}

/* ---- expressions ------------------------------------------------------ */

static size_t expr_start(struct nbuf *n, const char *name)
{
	size_t e = nest_start(n, NFTA_LIST_ELEM);
	attr_str(n, NFTA_EXPR_NAME, name);
	return e;
}

static void data_value(struct nbuf *n, uint16_t type, const void *v, size_t len)
{
	size_t d = nest_start(n, type);
	attr(n, NFTA_DATA_VALUE, v, len);
	nest_end(n, d);
}

/* iptables-nft's add_addr(): a prefix on a byte boundary loads just those
 * bytes and compares; otherwise the whole address, a bitwise mask, and a
 * compare. */
static void expr_addr(struct nbuf *n, uint32_t offset, const uint8_t *addr, int alen, int prefix,
		      bool neq)
{
	uint8_t mask[16] = {0}, val[16] = {0};
	for (int i = 0; i < alen; i++) {
		int bits = prefix - 8 * i;
		mask[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		val[i] = addr[i] & mask[i];
	}
	bool bitwise = prefix % 8 != 0;
	uint32_t len = bitwise ? (uint32_t)alen : (uint32_t)(prefix / 8);

	size_t e = expr_start(n, "payload");
	size_t d = nest_start(n, NFTA_EXPR_DATA);
	attr_be32(n, NFTA_PAYLOAD_DREG, NFT_REG_1);
	attr_be32(n, NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	attr_be32(n, NFTA_PAYLOAD_OFFSET, offset);
	attr_be32(n, NFTA_PAYLOAD_LEN, len);
	nest_end(n, d);
	nest_end(n, e);

	if (bitwise) {
		uint8_t zero[16] = {0};
		e = expr_start(n, "bitwise");
		d = nest_start(n, NFTA_EXPR_DATA);
		attr_be32(n, NFTA_BITWISE_SREG, NFT_REG_1);
		attr_be32(n, NFTA_BITWISE_DREG, NFT_REG_1);
		attr_be32(n, NFTA_BITWISE_LEN, len);
		data_value(n, NFTA_BITWISE_MASK, mask, len);
		data_value(n, NFTA_BITWISE_XOR, zero, len);
		nest_end(n, d);
		nest_end(n, e);
	}

	e = expr_start(n, "cmp");
	d = nest_start(n, NFTA_EXPR_DATA);
	attr_be32(n, NFTA_CMP_SREG, NFT_REG_1);
	attr_be32(n, NFTA_CMP_OP, neq ? NFT_CMP_NEQ : NFT_CMP_EQ);
	data_value(n, NFTA_CMP_DATA, val, len);
	nest_end(n, d);
	nest_end(n, e);
}

static void expr_comment(struct nbuf *n, const char *comment)
{
	char info[XT_COMMENT_LEN] = {0};
	strncpy(info, comment, sizeof info - 1);
	size_t e = expr_start(n, "match");
	size_t d = nest_start(n, NFTA_EXPR_DATA);
	attr_str(n, NFTA_MATCH_NAME, "comment");
	attr_be32(n, NFTA_MATCH_REV, 0);
	attr(n, NFTA_MATCH_INFO, info, sizeof info);
	nest_end(n, d);
	nest_end(n, e);
}

static void expr_counter(struct nbuf *n)
{
	uint64_t zero = 0;
	size_t e = expr_start(n, "counter");
	size_t d = nest_start(n, NFTA_EXPR_DATA);
	attr(n, NFTA_COUNTER_BYTES, &zero, 8);
	attr(n, NFTA_COUNTER_PACKETS, &zero, 8);
	nest_end(n, d);
	nest_end(n, e);
}

static void expr_verdict(struct nbuf *n, int code, const char *chain)
{
	size_t e = expr_start(n, "immediate");
	size_t d = nest_start(n, NFTA_EXPR_DATA);
	attr_be32(n, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	size_t v = nest_start(n, NFTA_IMMEDIATE_DATA);
	size_t vv = nest_start(n, NFTA_DATA_VERDICT);
	attr_be32(n, NFTA_VERDICT_CODE, (uint32_t)code);
	if (chain)
		attr_str(n, NFTA_VERDICT_CHAIN, chain);
	nest_end(n, vv);
	nest_end(n, v);
	nest_end(n, d);
	nest_end(n, e);
}

static void expr_masquerade(struct nbuf *n, int family)
{
	uint8_t info[MASQ6_INFO_LEN] = {0};
	size_t len = MASQ6_INFO_LEN;
	if (family == AF_INET) {
		uint32_t rangesize = 1; /* host order, as the kernel struct */
		memcpy(info, &rangesize, 4);
		len = MASQ4_INFO_LEN;
	}
	size_t e = expr_start(n, "target");
	size_t d = nest_start(n, NFTA_EXPR_DATA);
	attr_str(n, NFTA_TARGET_NAME, "MASQUERADE");
	attr_be32(n, NFTA_TARGET_REV, 0);
	attr(n, NFTA_TARGET_INFO, info, len);
	nest_end(n, d);
	nest_end(n, e);
}

enum rule_kind { RULE_ACCEPT_DST, RULE_MASQ, RULE_JUMP_SRC };

static void rule_add(struct nbuf *n, uint32_t *seq, int family, const char *chain,
		     enum rule_kind kind, const uint8_t *addr, int prefix, const char *target,
		     const char *comment)
{
	int alen = family == AF_INET ? 4 : 16;
	uint8_t nfproto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	size_t m = msg_start(n, nft_type(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND, nfproto,
			     0, seq);
	attr_str(n, NFTA_RULE_TABLE, "nat");
	attr_str(n, NFTA_RULE_CHAIN, chain);
	size_t ex = nest_start(n, NFTA_RULE_EXPRESSIONS);
	uint32_t daddr = family == AF_INET ? 16 : 24, saddr = family == AF_INET ? 12 : 8;
	switch (kind) {
	case RULE_ACCEPT_DST:
		expr_addr(n, daddr, addr, alen, prefix, false);
		break;
	case RULE_MASQ: {
		/* ! -d 224.0.0.0/4 | ff00::/8 */
		uint8_t mc[16] = {0};
		mc[0] = family == AF_INET ? 0xe0 : 0xff;
		expr_addr(n, daddr, mc, alen, family == AF_INET ? 4 : 8, true);
		break;
	}
	case RULE_JUMP_SRC:
		expr_addr(n, saddr, addr, alen, alen * 8, false);
		break;
	}
	expr_comment(n, comment);
	expr_counter(n);
	if (kind == RULE_ACCEPT_DST)
		expr_verdict(n, NF_ACCEPT, NULL);
	else if (kind == RULE_MASQ)
		expr_masquerade(n, family);
	else
		expr_verdict(n, NFT_JUMP, target);
	nest_end(n, ex);
	/* iptables-nft always sends the compat protocol (0: no -p) */
	size_t c = nest_start(n, NFTA_RULE_COMPAT);
	attr_be32(n, NFTA_RULE_COMPAT_PROTO, 0);
	attr_be32(n, NFTA_RULE_COMPAT_FLAGS, 0);
	nest_end(n, c);
	msg_end(n, m);
}

/* ---- transport -------------------------------------------------------- */

int bridge_nfnl_open(ndl_error_t *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return ndl_error_setf(err, errno, "netlink netfilter socket: %s", strerror(errno));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return ndl_error_setf(err, e, "netlink netfilter bind: %s", strerror(e));
	}
	return fd;
}

static void batch_begin(struct nbuf *n, uint32_t *seq)
{
	size_t m = msg_start(n, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, seq);
	msg_end(n, m);
}
static void batch_end(struct nbuf *n, uint32_t *seq)
{
	size_t m = msg_start(n, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, seq);
	msg_end(n, m);
}

/* Sequence numbers stay unique across the batches and requests sent on one
 * socket, so a late reply to one is never taken for another's. */
static uint32_t seq_base(void)
{
	static uint32_t next = 1;
	uint32_t b = next;
	next += 1u << 16;
	return b;
}

/* Send a batch and collect its errors. nfnetlink processes the whole batch
 * inside sendmsg(), so every reply (errors, and the ack asked for on the
 * last message) is queued when it returns: drain the queue without
 * blocking, so nothing of this batch is left for the next one. */
static int batch_send(int fd, struct nbuf *n, size_t last_msg, uint32_t last_seq,
		      ndl_error_t *err)
{
	((struct nlmsghdr *)(n->b + last_msg))->nlmsg_flags |= NLM_F_ACK;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (sendto(fd, n->b, n->len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
		return ndl_error_setf(err, errno, "nftables batch: %s", strerror(errno));
	uint8_t buf[8192];
	int first_err = 0;
	bool acked = false;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return ndl_error_setf(err, errno, "nftables batch reply: %s",
					      strerror(errno));
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r);
		     h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error && !first_err)
				first_err = e->error;
			if (!e->error && h->nlmsg_seq == last_seq)
				acked = true;
		}
	}
	if (first_err)
		return ndl_error_setf(err, -first_err, "nftables: %s", strerror(-first_err));
	if (!acked)
		return ndl_error_setf(err, EIO, "nftables: batch not acknowledged");
	return 0;
}

/* ---- setup ------------------------------------------------------------ */

int bridge_nft_masq_setup(int fd, int family, const struct cni_ipnet *addrs, size_t n,
			  const char *chain, const char *comment, ndl_error_t *err)
{
	if (strlen(comment) >= XT_COMMENT_LEN)
		return ndl_error_set(err, ENAMETOOLONG, "comment too long for xt_comment");
	uint8_t nfproto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	struct nbuf b = {0};
	uint32_t seq = seq_base();
	batch_begin(&b, &seq);
	/* table and base chain: created when missing, as iptables-nft does */
	size_t m = msg_start(&b, nft_type(NFT_MSG_NEWTABLE), NLM_F_CREATE, nfproto, 0, &seq);
	attr_str(&b, NFTA_TABLE_NAME, "nat");
	msg_end(&b, m);
	/* our chain must be new: when it exists (a repeated ADD) the batch
	 * fails with EEXIST and the caller takes the read-then-append path */
	m = msg_start(&b, nft_type(NFT_MSG_NEWCHAIN), NLM_F_EXCL, nfproto, 0, &seq);
	attr_str(&b, NFTA_CHAIN_TABLE, "nat");
	attr_str(&b, NFTA_CHAIN_NAME, chain);
	msg_end(&b, m);

	/* per address an ACCEPT for its subnet and one MASQUERADE, without
	 * duplicates (the reference's AppendUnique) */
	bool masq_done = false;
	size_t any = 0;
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ip.family != family)
			continue;
		struct cni_ipnet net, other;
		cni_ipnet_mask(&addrs[i], &net);
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++) {
			if (addrs[j].ip.family != family)
				continue;
			cni_ipnet_mask(&addrs[j], &other);
			dup = other.prefix == net.prefix &&
			      memcmp(other.ip.addr, net.ip.addr, 16) == 0;
		}
		if (!dup)
			rule_add(&b, &seq, family, chain, RULE_ACCEPT_DST, net.ip.addr, net.prefix,
				 NULL, comment);
		if (!masq_done) {
			rule_add(&b, &seq, family, chain, RULE_MASQ, NULL, 0, NULL, comment);
			masq_done = true;
		}
		any++;
	}
	/* the base chain after our chain, in the order of the reference's
	 * iptables calls (-N, -A chain, -A POSTROUTING), so handles and
	 * listings come out the same */
	size_t m2 = msg_start(&b, nft_type(NFT_MSG_NEWCHAIN), NLM_F_CREATE, nfproto, 0, &seq);
	attr_str(&b, NFTA_CHAIN_TABLE, "nat");
	attr_str(&b, NFTA_CHAIN_NAME, "POSTROUTING");
	size_t h = nest_start(&b, NFTA_CHAIN_HOOK);
	attr_be32(&b, NFTA_HOOK_HOOKNUM, NF_INET_POST_ROUTING);
	attr_be32(&b, NFTA_HOOK_PRIORITY, 100); /* NF_IP_PRI_NAT_SRC */
	nest_end(&b, h);
	attr_be32(&b, NFTA_CHAIN_POLICY, NF_ACCEPT);
	attr_str(&b, NFTA_CHAIN_TYPE, "nat");
	msg_end(&b, m2);
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ip.family != family)
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= addrs[j].ip.family == family &&
			       memcmp(addrs[j].ip.addr, addrs[i].ip.addr, 16) == 0;
		if (!dup)
			rule_add(&b, &seq, family, "POSTROUTING", RULE_JUMP_SRC, addrs[i].ip.addr,
				 0, chain, comment);
	}
	if (!any) {
		free(b.b);
		return 0;
	}
	size_t last = 0;
	/* the ack goes on the last message before BATCH_END */
	for (size_t off = 0; off < b.len;) {
		last = off;
		off += NLMSG_ALIGN(((struct nlmsghdr *)(b.b + off))->nlmsg_len);
	}
	uint32_t last_seq = seq;
	batch_end(&b, &seq);
	int r = batch_send(fd, &b, last, last_seq, err);
	free(b.b);
	return r;
}

/* ---- teardown --------------------------------------------------------- */

/* Send one request (a dump or a get with NLM_F_ACK) and hand every reply
 * message to cb until NLMSG_DONE or the ack. Returns the kernel's error
 * (negative errno) or 0. */
static int nl_request(int fd, struct nbuf *n, void (*cb)(const struct nlmsghdr *, void *),
		      void *data)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (sendto(fd, n->b, n->len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -errno;
	static uint8_t buf[32768];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r);
		     h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
			cb(h, data);
		}
	}
}

#define ATTR_FOREACH(a, start, len)                                                               \
	for (const struct nlattr *a = (const struct nlattr *)(start);                              \
	     (size_t)((const uint8_t *)a - (const uint8_t *)(start)) + NLA_HDRLEN <= (len) &&      \
	     a->nla_len >= NLA_HDRLEN &&                                                           \
	     (size_t)((const uint8_t *)a - (const uint8_t *)(start)) + a->nla_len <= (len);        \
	     a = (const struct nlattr *)((const uint8_t *)a + NLA_ALIGN(a->nla_len)))
#define ATTR_DATA(a) ((const uint8_t *)(a) + NLA_HDRLEN)
#define ATTR_LEN(a) ((size_t)(a)->nla_len - NLA_HDRLEN)
#define ATTR_TYPE(a) ((a)->nla_type & NLA_TYPE_MASK)

static uint32_t attr_get_be32(const struct nlattr *a)
{
	uint32_t v = 0;
	if (ATTR_LEN(a) >= 4)
		memcpy(&v, ATTR_DATA(a), 4);
	return ntohl(v);
}

/* The value of an NFTA_DATA_VALUE nested in a (cmp data). */
static const struct nlattr *nested_value(const struct nlattr *a, uint16_t type)
{
	ATTR_FOREACH(x, ATTR_DATA(a), ATTR_LEN(a))
	if (ATTR_TYPE(x) == type)
		return x;
	return NULL;
}

struct jump_rule {
	uint64_t handle;
	bool jumps_to_us, our_comment, src_known;
	uint8_t src[16];
	size_t src_len;
};

struct dump_state {
	int family;
	const char *chain;
	const char *comment;
	struct jump_rule *rules;
	size_t n;
};

static void parse_expr(const struct nlattr *elem, struct jump_rule *jr, struct dump_state *st,
		       int *pending_src)
{
	const char *name = NULL;
	const struct nlattr *data = NULL;
	ATTR_FOREACH(a, ATTR_DATA(elem), ATTR_LEN(elem))
	{
		if (ATTR_TYPE(a) == NFTA_EXPR_NAME)
			name = (const char *)ATTR_DATA(a);
		else if (ATTR_TYPE(a) == NFTA_EXPR_DATA)
			data = a;
	}
	if (!name || !data)
		return;
	uint32_t saddr = st->family == AF_INET ? 12 : 8;
	if (strcmp(name, "payload") == 0) {
		uint32_t base = 0, off = 0, len = 0;
		ATTR_FOREACH(a, ATTR_DATA(data), ATTR_LEN(data))
		{
			if (ATTR_TYPE(a) == NFTA_PAYLOAD_BASE)
				base = attr_get_be32(a);
			else if (ATTR_TYPE(a) == NFTA_PAYLOAD_OFFSET)
				off = attr_get_be32(a);
			else if (ATTR_TYPE(a) == NFTA_PAYLOAD_LEN)
				len = attr_get_be32(a);
		}
		*pending_src = base == NFT_PAYLOAD_NETWORK_HEADER && off == saddr ? (int)len : 0;
	} else if (strcmp(name, "cmp") == 0 && *pending_src > 0) {
		ATTR_FOREACH(a, ATTR_DATA(data), ATTR_LEN(data))
		{
			if (ATTR_TYPE(a) != NFTA_CMP_DATA)
				continue;
			const struct nlattr *v = nested_value(a, NFTA_DATA_VALUE);
			if (v && ATTR_LEN(v) == (size_t)*pending_src && ATTR_LEN(v) <= 16) {
				memcpy(jr->src, ATTR_DATA(v), ATTR_LEN(v));
				jr->src_len = ATTR_LEN(v);
				jr->src_known = true;
			}
		}
		*pending_src = 0;
	} else if (strcmp(name, "bitwise") == 0) {
		*pending_src = 0; /* a masked source: not a form we write */
	} else if (strcmp(name, "match") == 0) {
		const char *mname = NULL;
		const struct nlattr *info = NULL;
		ATTR_FOREACH(a, ATTR_DATA(data), ATTR_LEN(data))
		{
			if (ATTR_TYPE(a) == NFTA_MATCH_NAME)
				mname = (const char *)ATTR_DATA(a);
			else if (ATTR_TYPE(a) == NFTA_MATCH_INFO)
				info = a;
		}
		if (mname && strcmp(mname, "comment") == 0 && info &&
		    strnlen((const char *)ATTR_DATA(info), ATTR_LEN(info)) == strlen(st->comment) &&
		    memcmp(ATTR_DATA(info), st->comment, strlen(st->comment)) == 0)
			jr->our_comment = true;
	} else if (strcmp(name, "immediate") == 0) {
		ATTR_FOREACH(a, ATTR_DATA(data), ATTR_LEN(data))
		{
			if (ATTR_TYPE(a) != NFTA_IMMEDIATE_DATA)
				continue;
			const struct nlattr *v = nested_value(a, NFTA_DATA_VERDICT);
			if (!v)
				continue;
			int code = 0;
			const char *chain = NULL;
			ATTR_FOREACH(x, ATTR_DATA(v), ATTR_LEN(v))
			{
				if (ATTR_TYPE(x) == NFTA_VERDICT_CODE)
					code = (int)attr_get_be32(x);
				else if (ATTR_TYPE(x) == NFTA_VERDICT_CHAIN)
					chain = (const char *)ATTR_DATA(x);
			}
			if (code == NFT_JUMP && chain && strcmp(chain, st->chain) == 0)
				jr->jumps_to_us = true;
		}
	}
}

static void rule_cb(const struct nlmsghdr *h, void *data)
{
	struct dump_state *st = data;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWRULE))
		return;
	const uint8_t *p = (const uint8_t *)NLMSG_DATA(h) + sizeof(struct nfgenmsg);
	size_t len = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
	struct jump_rule jr = {0};
	bool have_handle = false;
	ATTR_FOREACH(a, p, len)
	{
		if (ATTR_TYPE(a) == NFTA_RULE_HANDLE && ATTR_LEN(a) == 8) {
			uint64_t v;
			memcpy(&v, ATTR_DATA(a), 8);
			jr.handle = be64toh(v);
			have_handle = true;
		} else if (ATTR_TYPE(a) == NFTA_RULE_EXPRESSIONS) {
			int pending = 0;
			ATTR_FOREACH(e, ATTR_DATA(a), ATTR_LEN(a))
			parse_expr(e, &jr, st, &pending);
		}
	}
	if (!have_handle || !jr.jumps_to_us)
		return;
	st->rules = xrealloc(st->rules, (st->n + 1) * sizeof *st->rules);
	st->rules[st->n++] = jr;
}

static void ignore_cb(const struct nlmsghdr *h, void *data)
{
	(void)h;
	(void)data;
}

/* Does this jump rule's source match one of the addresses, as "-s ip/32"
 * (full address) or the older "-s subnet/prefix" on a byte boundary? */
static bool src_matches(const struct jump_rule *jr, int family, const struct cni_ipnet *ips,
			size_t n)
{
	size_t alen = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n; i++) {
		if (ips[i].ip.family != family)
			continue;
		if (jr->src_len == alen && memcmp(jr->src, ips[i].ip.addr, alen) == 0)
			return true;
		struct cni_ipnet net;
		cni_ipnet_mask(&ips[i], &net);
		if ((size_t)net.prefix == jr->src_len * 8 && jr->src_len < alen &&
		    memcmp(jr->src, net.ip.addr, jr->src_len) == 0)
			return true;
	}
	return false;
}

int bridge_nft_masq_teardown(int fd, int family, const struct cni_ipnet *ips, size_t n_ips,
			     const char *chain, const char *comment, ndl_error_t *err)
{
	if (strlen(comment) >= XT_COMMENT_LEN)
		return ndl_error_set(err, ENAMETOOLONG, "comment too long for xt_comment");
	uint8_t nfproto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	uint32_t seq = seq_base();
	struct dump_state st = {.family = family, .chain = chain, .comment = comment};
	struct nbuf b = {0};
	size_t m = msg_start(&b, nft_type(NFT_MSG_GETRULE), NLM_F_DUMP, nfproto, 0, &seq);
	attr_str(&b, NFTA_RULE_TABLE, "nat");
	attr_str(&b, NFTA_RULE_CHAIN, "POSTROUTING");
	msg_end(&b, m);
	int r = nl_request(fd, &b, rule_cb, &st);
	if (r < 0 && r != -ENOENT) {
		free(b.b);
		free(st.rules);
		return ndl_error_setf(err, -r, "nftables: listing nat POSTROUTING: %s",
				      strerror(-r));
	}
	/* does our chain exist? */
	b.len = 0;
	m = msg_start(&b, nft_type(NFT_MSG_GETCHAIN), NLM_F_ACK, nfproto, 0, &seq);
	attr_str(&b, NFTA_CHAIN_TABLE, "nat");
	attr_str(&b, NFTA_CHAIN_NAME, chain);
	msg_end(&b, m);
	r = nl_request(fd, &b, ignore_cb, NULL);
	if (r < 0 && r != -ENOENT) {
		free(b.b);
		free(st.rules);
		return ndl_error_setf(err, -r, "nftables: looking up chain %s: %s", chain,
				      strerror(-r));
	}
	bool chain_exists = r == 0;

	b.len = 0;
	batch_begin(&b, &seq);
	size_t dels = 0, remaining = 0, last = 0;
	for (size_t i = 0; i < st.n; i++) {
		const struct jump_rule *jr = &st.rules[i];
		if (jr->our_comment && !jr->src_known && n_ips) {
			/* ours, but not a source match we can read: let
			 * iptables decide */
			free(b.b);
			free(st.rules);
			return ndl_error_set(err, EOPNOTSUPP, "unrecognised jump rule");
		}
		if (!jr->our_comment || (n_ips && !src_matches(jr, family, ips, n_ips))) {
			remaining++;
			continue;
		}
		last = b.len;
		m = msg_start(&b, nft_type(NFT_MSG_DELRULE), 0, nfproto, 0, &seq);
		attr_str(&b, NFTA_RULE_TABLE, "nat");
		attr_str(&b, NFTA_RULE_CHAIN, "POSTROUTING");
		uint64_t hd = htobe64(jr->handle);
		attr(&b, NFTA_RULE_HANDLE, &hd, 8);
		msg_end(&b, m);
		dels++;
	}
	free(st.rules);
	/* the chain goes only when nothing else jumps to it, so another
	 * interface of the same container keeps its masquerade */
	if (chain_exists && !remaining) {
		m = msg_start(&b, nft_type(NFT_MSG_DELRULE), 0, nfproto, 0, &seq);
		attr_str(&b, NFTA_RULE_TABLE, "nat");
		attr_str(&b, NFTA_RULE_CHAIN, chain);
		msg_end(&b, m);
		last = b.len;
		m = msg_start(&b, nft_type(NFT_MSG_DELCHAIN), 0, nfproto, 0, &seq);
		attr_str(&b, NFTA_CHAIN_TABLE, "nat");
		attr_str(&b, NFTA_CHAIN_NAME, chain);
		msg_end(&b, m);
		dels++;
	}
	if (!dels) {
		free(b.b);
		return 0;
	}
	uint32_t last_seq = seq;
	batch_end(&b, &seq);
	r = batch_send(fd, &b, last, last_seq, err);
	free(b.b);
	return r;
}

bool bridge_iptables_is_nft(void)
{
	/* Debian selects iptables-nft or iptables-legacy through the
	 * alternatives system; rules we write through nf_tables are only what
	 * the node's `iptables` shows when it is the nft variant. Anything
	 * else (legacy, no alternatives link) keeps the iptables tools. */
	char target[256];
	ssize_t n = readlink("/etc/alternatives/iptables", target, sizeof target - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	return strstr(target, "-nft") != NULL;
}

void bridge_nfnl_close(int fd)
{
	/* The last close of a NETLINK_NETFILTER socket that committed a batch
	 * blocks ~7 ms: nf_tables' release notifier flushes the commit's
	 * destroy work, which waits for an RCU grace period. Hand the last
	 * reference to a child that closes it (every other fd closed first, so
	 * the runtime reading our stdout does not wait for it) and return at
	 * once. The child is not waited for: it is reaped by whoever inherits
	 * it when we exit, and a child we do not wait for does not count in
	 * our ru_maxrss. Without a process to spare, close it ourselves. */
	if (fd < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		if (fd > 0)
			netlink_close_range(0, (unsigned)fd - 1);
		netlink_close_range((unsigned)fd + 1, ~0U);
		close(fd);
		_exit(0);
	}
	close(fd);
}
