/* Round-robin allocation: continue after the last reserved address of the
 * range set, skip reserved addresses, wrap around once. The caller holds the
 * store lock for the whole command. */
#include <string.h>
#include <sys/socket.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

struct iter {
	const struct hl_rangeset *set;
	size_t ri;
	struct cni_ip cur;
};

static void iter_advance(struct iter *it)
{
	const struct hl_range *r = &it->set->ranges[it->ri];
	if (cni_ip_equal(&it->cur, &r->end)) {
		it->ri = (it->ri + 1) % it->set->n;
		it->cur = it->set->ranges[it->ri].start;
	} else {
		cni_ip_next(&it->cur);
	}
}

static void fill(struct cni_ipconfig *c, const struct hl_range *r, const struct cni_ip *ip)
{
	memset(c, 0, sizeof(*c));
	c->address.ip = *ip;
	c->address.prefix = r->subnet.prefix;
	c->gateway = r->gateway;
	c->interface = -1;
}

int hl_allocate(struct hl_store *s, const struct hl_rangeset *set, size_t idx, const char *id,
		const char *ifname, const struct cni_ip *requested, struct cni_ipconfig *ret,
		ndl_error_t *err)
{
	char a[CNI_IPNET_STRLEN];
	if (requested) {
		const struct hl_range *r = hl_rangeset_find(set, requested);
		if (!r) {
			cleanup_free char *ss = hl_rangeset_str(set);
			return ndl_error_setf(err, EINVAL, "%s not in range set %s",
					      cni_ip_format(requested, a), ss);
		}
		if (cni_ip_equal(requested, &r->gateway))
			return ndl_error_setf(err, EINVAL, "requested ip %s is subnet's gateway",
					      cni_ip_format(requested, a));
		if (!hl_range_allocatable(r, requested))
			return ndl_error_setf(
			    err, EINVAL,
			    "requested ip %s is the subnet's network or broadcast address",
			    cni_ip_format(requested, a));
		int k = hl_store_reserve(s, id, ifname, requested, idx, err);
		if (k < 0)
			return k;
		if (k == 0) {
			cleanup_free char *ss = hl_rangeset_str(set);
			return ndl_error_setf(
			    err, EEXIST, "requested IP address %s is not available in range set %s",
			    cni_ip_format(requested, a), ss);
		}
		fill(ret, r, requested);
		return 0;
	}

	cleanup_free struct cni_ip *mine = NULL;
	size_t n_mine = 0;
	if (hl_store_get_by_id(s, id, ifname, &mine, &n_mine, err) < 0)
		return -EIO;
	for (size_t i = 0; i < n_mine; i++)
		if (hl_rangeset_find(set, &mine[i]))
			return ndl_error_setf(
			    err, EEXIST,
			    "%s has been allocated to %s, duplicate allocation is not allowed",
			    cni_ip_format(&mine[i], a), id);

	struct iter it = {.set = set};
	struct cni_ip last;
	const struct hl_range *lr = NULL;
	if (hl_store_last_reserved(s, idx, &last) == 0)
		lr = hl_rangeset_find(set, &last);
	if (lr) {
		it.ri = (size_t)(lr - set->ranges);
		it.cur = last;
		iter_advance(&it);
	} else {
		it.ri = 0;
		it.cur = set->ranges[0].start;
	}
	const struct cni_ip first = it.cur;
	do {
		const struct hl_range *r = &set->ranges[it.ri];
		if (hl_range_allocatable(r, &it.cur)) {
			int k = hl_store_reserve(s, id, ifname, &it.cur, idx, err);
			if (k < 0)
				return k;
			if (k == 1) {
				fill(ret, r, &it.cur);
				return 0;
			}
		}
		iter_advance(&it);
	} while (!cni_ip_equal(&it.cur, &first));
	cleanup_free char *ss = hl_rangeset_str(set);
	return ndl_error_setf(err, ENOSPC, "no IP addresses available in range set: %s", ss);
}

/* Allocatable addresses in r, saturating at UINT64_MAX. */
static uint64_t range_capacity(const struct hl_range *r)
{
	size_t len = r->start.family == AF_INET ? 4 : 16;
	unsigned __int128 a = 0, b = 0;
	for (size_t i = 0; i < len; i++) {
		a = a << 8 | r->start.addr[i];
		b = b << 8 | r->end.addr[i];
	}
	unsigned __int128 n = b - a + 1;
	/* Minus what lies inside [start,end] but is never leased: count by
	 * walking the few special addresses (gateway, network, broadcast). */
	struct cni_ipnet masked;
	cni_ipnet_mask(&r->subnet, &masked);
	struct cni_ip special[3] = {r->gateway, masked.ip, masked.ip};
	size_t n_special = 2;
	if (r->subnet.ip.family == AF_INET) {
		for (size_t i = 0; i < 4; i++) {
			int bits = r->subnet.prefix - (int)i * 8;
			uint8_t m = bits >= 8	? 0xff
				    : bits <= 0 ? 0
						: (uint8_t)(0xff << (8 - bits));
			special[2].addr[i] |= (uint8_t)~m;
		}
		n_special = 3;
	}
	for (size_t i = 0; i < n_special; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= cni_ip_equal(&special[i], &special[j]);
		if (!dup && hl_range_contains(r, &special[i]))
			n--;
	}
	return n > UINT64_MAX ? UINT64_MAX : (uint64_t)n;
}

int hl_rangeset_has_free(struct hl_store *s, const struct hl_rangeset *set, bool *ret,
			 ndl_error_t *err)
{
	uint64_t cap = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint64_t c = range_capacity(&set->ranges[i]);
		cap = cap + c < cap ? UINT64_MAX : cap + c;
	}
	struct hl_lease *leases = NULL;
	size_t n = 0;
	if (hl_store_list(s, &leases, &n, err) < 0)
		return -EIO;
	uint64_t used = 0;
	for (size_t i = 0; i < n; i++) {
		const struct hl_range *r = hl_rangeset_find(set, &leases[i].ip);
		if (r && hl_range_allocatable(r, &leases[i].ip))
			used++;
	}
	hl_leases_free(leases, n);
	*ret = used < cap;
	return 0;
}
