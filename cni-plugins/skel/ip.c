/* IP address and prefix parsing, formatting and arithmetic for CNI results
 * and IPAM (same textual forms as Go's net package prints them). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cni-plugins/skel/skel.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int cni_ip_parse(const char *s, struct cni_ip *ret, ndl_error_t *err)
{
	struct cni_ip ip = {0};
	if (!s || !*s)
		return cni_error_set(err, CNI_ERR_DECODE, "invalid IP address \"\"");
	if (strlen(s) >= INET6_ADDRSTRLEN)
		return cni_error_set(err, CNI_ERR_DECODE, "invalid IP address \"%.64s...\"", s);
	if (inet_pton(AF_INET, s, ip.addr) == 1) {
		ip.family = AF_INET;
	} else if (inet_pton(AF_INET6, s, ip.addr) == 1) {
		/* Go treats ::ffff:a.b.c.d as the IPv4 address; so do we. */
		if (memcmp(ip.addr, v4mapped_prefix, 12) == 0) {
			memmove(ip.addr, ip.addr + 12, 4);
			memset(ip.addr + 4, 0, 12);
			ip.family = AF_INET;
		} else {
			ip.family = AF_INET6;
		}
	} else {
		return cni_error_set(err, CNI_ERR_DECODE, "invalid IP address \"%s\"", s);
	}
	*ret = ip;
	return 0;
}

int cni_ipnet_parse(const char *s, struct cni_ipnet *ret, ndl_error_t *err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= INET6_ADDRSTRLEN || !slash[1] || strlen(slash + 1) > 3)
		return cni_error_set(err, CNI_ERR_DECODE, "invalid CIDR address \"%s\"",
				     s ? s : "");
	memcpy(buf, s, slash - s);
	buf[slash - s] = 0;
	int prefix = 0;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return cni_error_set(err, CNI_ERR_DECODE, "invalid CIDR address \"%s\"", s);
		prefix = prefix * 10 + (*p - '0');
	}
	struct cni_ipnet n = {0};
	/* A v4-mapped v6 address with a v6 prefix is not the IPv4 address:
	 * parse the family strictly here. */
	if (inet_pton(AF_INET, buf, n.ip.addr) == 1)
		n.ip.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, n.ip.addr) == 1)
		n.ip.family = AF_INET6;
	else
		return cni_error_set(err, CNI_ERR_DECODE, "invalid CIDR address \"%s\"", s);
	if (prefix > (n.ip.family == AF_INET ? 32 : 128))
		return cni_error_set(err, CNI_ERR_DECODE, "invalid CIDR address \"%s\"", s);
	n.prefix = prefix;
	*ret = n;
	return 0;
}

/* IPv6 text as Go's net.IP.String() writes it (RFC 5952: lowercase, the
 * longest run of two or more zero groups, the first on ties, becomes "::"),
 * which host-local's lease file names depend on. glibc's inet_ntop differs
 * for IPv4-compatible addresses (it prints "::10.0.0.1"). */
static void format_v6(const uint8_t *a, char *buf)
{
	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		if (a[2 * i] || a[2 * i + 1]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !a[2 * j] && !a[2 * j + 1])
			j++;
		if (j - i >= 2 && j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}
	char *p = buf;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && p[-1] != ':')
			*p++ = ':';
		p += sprintf(p, "%x", (unsigned)(a[2 * i] << 8 | a[2 * i + 1]));
	}
	*p = 0;
}

/* Dotted quad by hand: host-local formats every lease name it scans to
 * check that it is canonical, and snprintf costs ~20x more. */
static void format_v4(const uint8_t *a, char *buf)
{
	char *p = buf;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : 0;
	}
}

const char *cni_ip_format(const struct cni_ip *ip, char *buf)
{
	if (ip->family == AF_INET)
		format_v4(ip->addr, buf);
	else if (ip->family == AF_INET6)
		format_v6(ip->addr, buf);
	else
		snprintf(buf, CNI_IPNET_STRLEN, "<nil>");
	return buf;
}

const char *cni_ipnet_format(const struct cni_ipnet *n, char *buf)
{
	char ip[CNI_IPNET_STRLEN];
	cni_ip_format(&n->ip, ip);
	/* An address is at most 45 characters, so this never truncates. */
	size_t l = strnlen(ip, 48);
	memcpy(buf, ip, l);
	snprintf(buf + l, CNI_IPNET_STRLEN - 48, "/%u", (unsigned)n->prefix & 0xff);
	return buf;
}

static size_t ip_len(const struct cni_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

bool cni_ip_equal(const struct cni_ip *a, const struct cni_ip *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, ip_len(a)) == 0;
}

int cni_ip_cmp(const struct cni_ip *a, const struct cni_ip *b)
{
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	int c = memcmp(a->addr, b->addr, ip_len(a));
	return c < 0 ? -1 : c > 0;
}

void cni_ipnet_mask(const struct cni_ipnet *n, struct cni_ipnet *ret)
{
	struct cni_ipnet m = *n;
	size_t len = ip_len(&n->ip);
	for (size_t i = 0; i < len; i++) {
		int bits = n->prefix - (int)i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		m.ip.addr[i] &= mask;
	}
	*ret = m;
}

bool cni_ipnet_contains(const struct cni_ipnet *n, const struct cni_ip *ip)
{
	if (n->ip.family != ip->family)
		return false;
	struct cni_ipnet a, b;
	struct cni_ipnet t = {.ip = *ip, .prefix = n->prefix};
	cni_ipnet_mask(n, &a);
	cni_ipnet_mask(&t, &b);
	return memcmp(a.ip.addr, b.ip.addr, ip_len(ip)) == 0;
}

void cni_ip_next(struct cni_ip *ip)
{
	for (int i = (int)ip_len(ip) - 1; i >= 0; i--)
		if (++ip->addr[i] != 0)
			break;
}

void cni_ip_prev(struct cni_ip *ip)
{
	for (int i = (int)ip_len(ip) - 1; i >= 0; i--)
		if (ip->addr[i]-- != 0)
			break;
}
