/* Ranges and range sets: defaults, validation, membership, overlap. */
#include <string.h>
#include <sys/socket.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/xalloc.h"

static size_t alen(const struct cni_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

/* The last address of the subnet (all host bits set). */
static struct cni_ip last_ip(const struct cni_ipnet *n)
{
	struct cni_ip ip = n->ip;
	for (size_t i = 0; i < alen(&ip); i++) {
		int bits = n->prefix - (int)i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		ip.addr[i] |= (uint8_t)~mask;
	}
	return ip;
}

int hl_range_canonicalize(struct hl_range *r, bool has_start, bool has_end, bool has_gw,
			  const char *where, ndl_error_t *err)
{
	char a[CNI_IPNET_STRLEN], b[CNI_IPNET_STRLEN];
	int bits = r->subnet.ip.family == AF_INET ? 32 : 128;
	/* No room for a gateway and a host below /30 (/126). */
	if (r->subnet.prefix > bits - 2)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s.subnet\": Network %s too small to allocate from",
				     where, cni_ipnet_format(&r->subnet, a));
	struct cni_ipnet masked;
	cni_ipnet_mask(&r->subnet, &masked);
	if (!cni_ip_equal(&masked.ip, &r->subnet.ip))
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s.subnet\": Network has host bits set. For a subnet "
				     "mask of length %d the network address is %s",
				     where, r->subnet.prefix, cni_ip_format(&masked.ip, a));
	if (!has_gw) {
		r->gateway = r->subnet.ip;
		cni_ip_next(&r->gateway);
	} else if (r->gateway.family != r->subnet.ip.family) {
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s.gateway\": %s is not in the address family of %s",
				     where, cni_ip_format(&r->gateway, a),
				     cni_ipnet_format(&r->subnet, b));
	}
	struct hl_range probe = {.subnet = r->subnet};
	/* Checked as the reference does: against the subnet and whichever bound
	 * is already known. */
	if (has_end)
		probe.end = r->end;
	if (has_start) {
		if (!hl_range_contains(&probe, &r->start))
			return cni_error_set(
			    err, CNI_ERR_INVALID_CONFIG,
			    "field \"%s.rangeStart\": RangeStart %s not in network %s", where,
			    cni_ip_format(&r->start, a), cni_ipnet_format(&r->subnet, b));
	} else {
		r->start = r->subnet.ip;
		cni_ip_next(&r->start);
	}
	probe.start = r->start;
	if (has_end) {
		if (!hl_range_contains(&probe, &r->end))
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "field \"%s.rangeEnd\": RangeEnd %s not in network %s",
					     where, cni_ip_format(&r->end, a),
					     cni_ipnet_format(&r->subnet, b));
	} else {
		r->end = last_ip(&r->subnet);
		/* IPv4 keeps its broadcast address out of the range. */
		if (r->end.family == AF_INET)
			cni_ip_prev(&r->end);
	}
	/* A start past the end would never meet the end while iterating. */
	if (cni_ip_cmp(&r->start, &r->end) > 0)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s.rangeStart\": RangeStart %s is after RangeEnd %s",
				     where, cni_ip_format(&r->start, a), cni_ip_format(&r->end, b));
	return 0;
}

bool hl_range_contains(const struct hl_range *r, const struct cni_ip *ip)
{
	if (ip->family != r->subnet.ip.family || !cni_ipnet_contains(&r->subnet, ip))
		return false;
	if (r->start.family && cni_ip_cmp(ip, &r->start) < 0)
		return false;
	if (r->end.family && cni_ip_cmp(ip, &r->end) > 0)
		return false;
	return true;
}

bool hl_range_overlaps(const struct hl_range *a, const struct hl_range *b)
{
	if (a->subnet.ip.family != b->subnet.ip.family)
		return false;
	return hl_range_contains(a, &b->start) || hl_range_contains(a, &b->end) ||
	       hl_range_contains(b, &a->start) || hl_range_contains(b, &a->end);
}

char *hl_rangeset_str(const struct hl_rangeset *s)
{
	size_t cap = s->n * (2 * CNI_IPNET_STRLEN + 2) + 1, off = 0;
	char *out = xmalloc(cap);
	out[0] = 0;
	for (size_t i = 0; i < s->n; i++) {
		char a[CNI_IPNET_STRLEN], b[CNI_IPNET_STRLEN];
		off += snprintf(out + off, cap - off, "%s%s-%s", i ? "," : "",
				cni_ip_format(&s->ranges[i].start, a),
				cni_ip_format(&s->ranges[i].end, b));
	}
	return out;
}

const struct hl_range *hl_rangeset_find(const struct hl_rangeset *s, const struct cni_ip *ip)
{
	for (size_t i = 0; i < s->n; i++)
		if (hl_range_contains(&s->ranges[i], ip))
			return &s->ranges[i];
	return NULL;
}

bool hl_range_allocatable(const struct hl_range *r, const struct cni_ip *ip)
{
	if (cni_ip_equal(ip, &r->gateway))
		return false;
	struct cni_ipnet masked;
	cni_ipnet_mask(&r->subnet, &masked);
	if (cni_ip_equal(ip, &masked.ip))
		return false;
	if (ip->family == AF_INET) {
		struct cni_ip bcast = last_ip(&r->subnet);
		if (cni_ip_equal(ip, &bcast))
			return false;
	}
	return true;
}
