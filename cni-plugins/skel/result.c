/* The CNI result model and its JSON forms for every supported version:
 * 0.1.0/0.2.0 ("ip4"/"ip6"), 0.3.x/0.4.0 (ips with "version"), 1.0.0 and
 * 1.1.0 (interface mtu/socketPath/pciID, route mtu/advmss/priority/table/scope). */
#include <string.h>
#include <sys/socket.h>

#include "cni-plugins/skel/skel.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* A bound on arrays read from outside: no real result has more. */
#define MAX_RESULT_ITEMS 4096

struct cni_result *cni_result_new(void)
{
	struct cni_result *r = xcalloc(1, sizeof(*r));
	r->version = CNI_VERSION_LATEST;
	return r;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void cni_dns_clear(struct cni_dns *d)
{
	free_strv(d->nameservers, d->n_nameservers);
	free(d->domain);
	free_strv(d->search, d->n_search);
	free_strv(d->options, d->n_options);
	memset(d, 0, sizeof(*d));
}

static char **copy_strv(char **v, size_t n)
{
	if (!n)
		return NULL;
	char **out = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void cni_dns_copy(struct cni_dns *dst, const struct cni_dns *src)
{
	struct cni_dns d = {0};
	d.nameservers = copy_strv(src->nameservers, src->n_nameservers);
	d.n_nameservers = src->n_nameservers;
	d.domain = src->domain ? xstrdup(src->domain) : NULL;
	d.search = copy_strv(src->search, src->n_search);
	d.n_search = src->n_search;
	d.options = copy_strv(src->options, src->n_options);
	d.n_options = src->n_options;
	*dst = d;
}

bool cni_dns_empty(const struct cni_dns *d)
{
	return !d->n_nameservers && !(d->domain && *d->domain) && !d->n_search && !d->n_options;
}

void cni_result_free(struct cni_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_interfaces; i++) {
		struct cni_interface *f = &r->interfaces[i];
		free(f->name);
		free(f->mac);
		free(f->sandbox);
		free(f->socket_path);
		free(f->pci_id);
	}
	free(r->interfaces);
	free(r->ips);
	free(r->routes);
	cni_dns_clear(&r->dns);
	free(r);
}

struct cni_interface *cni_result_add_interface(struct cni_result *r, const char *name,
					       const char *mac, const char *sandbox)
{
	r->interfaces = xrealloc(r->interfaces, (r->n_interfaces + 1) * sizeof(*r->interfaces));
	struct cni_interface *f = &r->interfaces[r->n_interfaces++];
	memset(f, 0, sizeof(*f));
	f->name = xstrdup(name ? name : "");
	f->mac = mac ? xstrdup(mac) : NULL;
	f->sandbox = sandbox ? xstrdup(sandbox) : NULL;
	return f;
}

struct cni_ipconfig *cni_result_add_ip(struct cni_result *r)
{
	r->ips = xrealloc(r->ips, (r->n_ips + 1) * sizeof(*r->ips));
	struct cni_ipconfig *c = &r->ips[r->n_ips++];
	memset(c, 0, sizeof(*c));
	c->interface = -1;
	return c;
}

struct cni_route *cni_result_add_route(struct cni_result *r)
{
	r->routes = xrealloc(r->routes, (r->n_routes + 1) * sizeof(*r->routes));
	struct cni_route *rt = &r->routes[r->n_routes++];
	memset(rt, 0, sizeof(*rt));
	return rt;
}

/* ---- parsing ---- */

static int get_strv(const json_t *obj, const char *where, const char *key, char ***ret_v,
		    size_t *ret_n, ndl_error_t *err)
{
	json_t *arr = NULL;
	int r = ndl_json_get_array(obj, where, key, false, &arr, err);
	if (r < 0)
		return cni_error_set(err, CNI_ERR_DECODE, "%s", ndl_error_msg(err));
	if (!arr)
		return 0;
	size_t n = json_array_size(arr);
	if (n > MAX_RESULT_ITEMS)
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s.%s\": too many entries",
				     where, key);
	char **v = n ? xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s)) {
			free_strv(v, i);
			return cni_error_set(err, CNI_ERR_DECODE,
					     "field \"%s.%s[%zu]\": expected string, got %s", where,
					     key, i, ndl_json_type_name(s));
		}
		v[i] = xstrdup(json_string_value(s));
	}
	*ret_v = v;
	*ret_n = n;
	return 0;
}

int cni_dns_from_json(const json_t *j, const char *where, struct cni_dns *ret, ndl_error_t *err)
{
	struct cni_dns d = {0};
	if (!json_is_object(j))
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s\": expected object, got %s",
				     where, ndl_json_type_name(j));
	const char *domain = NULL;
	if (get_strv(j, where, "nameservers", &d.nameservers, &d.n_nameservers, err) < 0 ||
	    get_strv(j, where, "search", &d.search, &d.n_search, err) < 0 ||
	    get_strv(j, where, "options", &d.options, &d.n_options, err) < 0)
		goto fail;
	if (ndl_json_get_string(j, where, "domain", false, &domain, err) < 0) {
		cni_error_set(err, CNI_ERR_DECODE, "%s", ndl_error_msg(err));
		goto fail;
	}
	d.domain = domain ? xstrdup(domain) : NULL;
	*ret = d;
	return 0;
fail:
	cni_dns_clear(&d);
	return -EINVAL;
}

/* Decode-error wrapper for the typed getters. */
#define GET(call)                                                                                  \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			return cni_error_set(err, CNI_ERR_DECODE, "%s", ndl_error_msg(err));       \
	} while (0)

/* ndl_json_get_int converts any JSON real with (int64_t)d, which is undefined
 * for values beyond int64 (lib/json.c; not ours to change): screen those
 * out first so a hostile "mtu": 1e300 is a plain type error. */
static int get_int(const json_t *obj, const char *where, const char *key, int64_t *ret,
		   ndl_error_t *err)
{
	json_t *j = json_object_get(obj, key);
	if (json_is_real(j) && !(json_real_value(j) > -9.2e18 && json_real_value(j) < 9.2e18))
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": expected integer, got number",
				      where, key);
	return ndl_json_get_int(obj, where, key, false, ret, err);
}

static int get_uint_opt(const json_t *obj, const char *where, const char *key, int *ret,
			bool *ret_has, ndl_error_t *err)
{
	int64_t v = 0;
	json_t *j = json_object_get(obj, key);
	if (!j || json_is_null(j))
		return 0;
	GET(get_int(obj, where, key, &v, err));
	if (v < 0 || v > INT32_MAX)
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s.%s\": %lld out of range",
				     where, key, (long long)v);
	*ret = (int)v;
	if (ret_has)
		*ret_has = true;
	return 0;
}

static int parse_route(const json_t *j, const char *where, struct cni_route *rt, ndl_error_t *err)
{
	const char *dst = NULL, *gw = NULL;
	if (!json_is_object(j))
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s\": expected object, got %s",
				     where, ndl_json_type_name(j));
	GET(ndl_json_get_string(j, where, "dst", true, &dst, err));
	GET(ndl_json_get_string(j, where, "gw", false, &gw, err));
	if (cni_ipnet_parse(dst, &rt->dst, err) < 0)
		return ndl_error_wrap(err, "field \"%s.dst\"", where);
	if (gw && *gw && cni_ip_parse(gw, &rt->gw, err) < 0)
		return ndl_error_wrap(err, "field \"%s.gw\"", where);
	if (get_uint_opt(j, where, "mtu", &rt->mtu, NULL, err) < 0 ||
	    get_uint_opt(j, where, "advmss", &rt->advmss, NULL, err) < 0 ||
	    get_uint_opt(j, where, "priority", &rt->priority, NULL, err) < 0 ||
	    get_uint_opt(j, where, "table", &rt->table, &rt->has_table, err) < 0 ||
	    get_uint_opt(j, where, "scope", &rt->scope, &rt->has_scope, err) < 0)
		return -EINVAL;
	return 0;
}

static int parse_routes(const json_t *obj, const char *where, struct cni_result *r,
			ndl_error_t *err)
{
	json_t *arr = NULL;
	GET(ndl_json_get_array(obj, where, "routes", false, &arr, err));
	if (json_array_size(arr) > MAX_RESULT_ITEMS)
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s.routes\": too many entries",
				     where);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char w[256];
		snprintf(w, sizeof(w), "%s.routes[%zu]", where, i);
		if (parse_route(json_array_get(arr, i), w, cni_result_add_route(r), err) < 0)
			return -EINVAL;
	}
	return 0;
}

static int parse_020_ip(const json_t *j, const char *where, int family, struct cni_result *r,
			ndl_error_t *err)
{
	const char *ip = NULL, *gw = NULL;
	if (!json_is_object(j))
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s\": expected object, got %s",
				     where, ndl_json_type_name(j));
	GET(ndl_json_get_string(j, where, "ip", true, &ip, err));
	GET(ndl_json_get_string(j, where, "gateway", false, &gw, err));
	struct cni_ipconfig *c = cni_result_add_ip(r);
	if (cni_ipnet_parse(ip, &c->address, err) < 0)
		return ndl_error_wrap(err, "field \"%s.ip\"", where);
	if (c->address.ip.family != family)
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s.ip\": wrong address family",
				     where);
	if (gw && *gw && cni_ip_parse(gw, &c->gateway, err) < 0)
		return ndl_error_wrap(err, "field \"%s.gateway\"", where);
	return parse_routes(j, where, r, err);
}

static int parse_current(const json_t *j, const char *where, struct cni_result *r, ndl_error_t *err)
{
	json_t *arr = NULL;
	GET(ndl_json_get_array(j, where, "interfaces", false, &arr, err));
	if (json_array_size(arr) > MAX_RESULT_ITEMS)
		return cni_error_set(err, CNI_ERR_DECODE,
				     "field \"%s.interfaces\": too many entries", where);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char w[256];
		snprintf(w, sizeof(w), "%s.interfaces[%zu]", where, i);
		json_t *o = json_array_get(arr, i);
		if (!json_is_object(o))
			return cni_error_set(err, CNI_ERR_DECODE,
					     "field \"%s\": expected object, got %s", w,
					     ndl_json_type_name(o));
		const char *name = NULL, *mac = NULL, *sandbox = NULL, *sock = NULL, *pci = NULL;
		GET(ndl_json_get_string(o, w, "name", false, &name, err));
		GET(ndl_json_get_string(o, w, "mac", false, &mac, err));
		GET(ndl_json_get_string(o, w, "sandbox", false, &sandbox, err));
		GET(ndl_json_get_string(o, w, "socketPath", false, &sock, err));
		GET(ndl_json_get_string(o, w, "pciID", false, &pci, err));
		struct cni_interface *f = cni_result_add_interface(
		    r, name, mac && *mac ? mac : NULL, sandbox && *sandbox ? sandbox : NULL);
		f->socket_path = sock && *sock ? xstrdup(sock) : NULL;
		f->pci_id = pci && *pci ? xstrdup(pci) : NULL;
		if (get_uint_opt(o, w, "mtu", &f->mtu, NULL, err) < 0)
			return -EINVAL;
	}

	arr = NULL;
	GET(ndl_json_get_array(j, where, "ips", false, &arr, err));
	if (json_array_size(arr) > MAX_RESULT_ITEMS)
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s.ips\": too many entries",
				     where);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char w[256];
		snprintf(w, sizeof(w), "%s.ips[%zu]", where, i);
		json_t *o = json_array_get(arr, i);
		if (!json_is_object(o))
			return cni_error_set(err, CNI_ERR_DECODE,
					     "field \"%s\": expected object, got %s", w,
					     ndl_json_type_name(o));
		const char *addr = NULL, *gw = NULL;
		int64_t idx = -1;
		GET(ndl_json_get_string(o, w, "address", true, &addr, err));
		GET(ndl_json_get_string(o, w, "gateway", false, &gw, err));
		GET(get_int(o, w, "interface", &idx, err));
		struct cni_ipconfig *c = cni_result_add_ip(r);
		if (cni_ipnet_parse(addr, &c->address, err) < 0)
			return ndl_error_wrap(err, "field \"%s.address\"", w);
		if (gw && *gw && cni_ip_parse(gw, &c->gateway, err) < 0)
			return ndl_error_wrap(err, "field \"%s.gateway\"", w);
		if (idx < -1 || idx > MAX_RESULT_ITEMS)
			return cni_error_set(err, CNI_ERR_DECODE,
					     "field \"%s.interface\": %lld out of range", w,
					     (long long)idx);
		c->interface = (int)idx;
	}
	return parse_routes(j, where, r, err);
}

int cni_result_from_json(const json_t *j, enum cni_version version, const char *where,
			 struct cni_result **ret, ndl_error_t *err)
{
	if (!where)
		where = "result";
	if (!json_is_object(j))
		return cni_error_set(err, CNI_ERR_DECODE, "field \"%s\": expected object, got %s",
				     where, ndl_json_type_name(j));
	if (version == CNI_VERSION_INVALID) {
		const char *vs = NULL;
		GET(ndl_json_get_string(j, where, "cniVersion", false, &vs, err));
		version = cni_version_parse(vs ? vs : "");
		if (version == CNI_VERSION_INVALID)
			return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
					     "field \"%s.cniVersion\": unsupported version \"%s\"",
					     where, vs);
	}
	cleanup_cni_result struct cni_result *r = cni_result_new();
	r->version = version;
	if (version <= CNI_VERSION_0_2_0) {
		json_t *ip4 = json_object_get(j, "ip4"), *ip6 = json_object_get(j, "ip6");
		char w[256];
		snprintf(w, sizeof(w), "%s.ip4", where);
		if (ip4 && !json_is_null(ip4) && parse_020_ip(ip4, w, AF_INET, r, err) < 0)
			return -EINVAL;
		snprintf(w, sizeof(w), "%s.ip6", where);
		if (ip6 && !json_is_null(ip6) && parse_020_ip(ip6, w, AF_INET6, r, err) < 0)
			return -EINVAL;
	} else if (parse_current(j, where, r, err) < 0) {
		return -EINVAL;
	}
	json_t *dns = json_object_get(j, "dns");
	if (dns && !json_is_null(dns)) {
		char w[256];
		snprintf(w, sizeof(w), "%s.dns", where);
		if (cni_dns_from_json(dns, w, &r->dns, err) < 0)
			return -EINVAL;
	}
	/* Interface indexes must point into interfaces: a consumer indexes with
	 * them. */
	for (size_t i = 0; i < r->n_ips; i++)
		if (r->ips[i].interface >= (int)r->n_interfaces)
			return cni_error_set(
			    err, CNI_ERR_DECODE,
			    "field \"%s.ips[%zu].interface\": index %d but only %zu interfaces",
			    where, i, r->ips[i].interface, r->n_interfaces);
	*ret = steal_ptr(&r);
	return 0;
}

/* ---- serialising ---- */

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *cni_dns_to_json(const struct cni_dns *d)
{
	json_t *o = json_object();
	if (d->n_nameservers)
		json_object_set_new(o, "nameservers", strv_json(d->nameservers, d->n_nameservers));
	if (d->domain && *d->domain)
		json_object_set_new(o, "domain", json_string(d->domain));
	if (d->n_search)
		json_object_set_new(o, "search", strv_json(d->search, d->n_search));
	if (d->n_options)
		json_object_set_new(o, "options", strv_json(d->options, d->n_options));
	return o;
}

static json_t *route_json(const struct cni_route *rt, enum cni_version v)
{
	char buf[CNI_IPNET_STRLEN];
	json_t *o = json_object();
	json_object_set_new(o, "dst", json_string(cni_ipnet_format(&rt->dst, buf)));
	if (rt->gw.family)
		json_object_set_new(o, "gw", json_string(cni_ip_format(&rt->gw, buf)));
	/* The reference library keeps these fields through every conversion (they
	 * live in the shared Route type), so we do as well. */
	if (rt->mtu)
		json_object_set_new(o, "mtu", json_integer(rt->mtu));
	if (rt->advmss)
		json_object_set_new(o, "advmss", json_integer(rt->advmss));
	if (rt->priority)
		json_object_set_new(o, "priority", json_integer(rt->priority));
	if (rt->has_table)
		json_object_set_new(o, "table", json_integer(rt->table));
	if (rt->has_scope)
		json_object_set_new(o, "scope", json_integer(rt->scope));
	(void)v;
	return o;
}

static int to_json_020(const struct cni_result *r, json_t *o, ndl_error_t *err)
{
	const struct cni_ipconfig *ip4 = NULL, *ip6 = NULL;
	char buf[CNI_IPNET_STRLEN];
	for (size_t i = 0; i < r->n_ips; i++) {
		const struct cni_ipconfig *c = &r->ips[i];
		if (c->address.ip.family == AF_INET && !ip4)
			ip4 = c;
		else if (c->address.ip.family == AF_INET6 && !ip6)
			ip6 = c;
	}
	if (!ip4 && !ip6)
		return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "cannot convert: no valid IP addresses");
	const struct cni_ipconfig *cs[2] = {ip4, ip6};
	const char *keys[2] = {"ip4", "ip6"};
	for (int k = 0; k < 2; k++) {
		if (!cs[k])
			continue;
		json_t *ipo = json_object();
		json_object_set_new(ipo, "ip", json_string(cni_ipnet_format(&cs[k]->address, buf)));
		if (cs[k]->gateway.family)
			json_object_set_new(ipo, "gateway",
					    json_string(cni_ip_format(&cs[k]->gateway, buf)));
		json_t *routes = json_array();
		for (size_t i = 0; i < r->n_routes; i++) {
			const struct cni_route *rt = &r->routes[i];
			if (rt->dst.ip.family != cs[k]->address.ip.family)
				continue;
			json_t *ro = json_object();
			json_object_set_new(ro, "dst",
					    json_string(cni_ipnet_format(&rt->dst, buf)));
			if (rt->gw.family)
				json_object_set_new(ro, "gw",
						    json_string(cni_ip_format(&rt->gw, buf)));
			json_array_append_new(routes, ro);
		}
		if (json_array_size(routes))
			json_object_set_new(ipo, "routes", routes);
		else
			json_decref(routes);
		json_object_set_new(o, keys[k], ipo);
	}
	json_object_set_new(o, "dns", cni_dns_to_json(&r->dns));
	return 0;
}

int cni_result_to_json(const struct cni_result *r, enum cni_version v, json_t **ret,
		       ndl_error_t *err)
{
	char buf[CNI_IPNET_STRLEN];
	if (v == CNI_VERSION_INVALID || !cni_version_str(v))
		return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "unsupported result version");
	cleanup_json json_t *o = json_object();
	json_object_set_new(o, "cniVersion", json_string(cni_version_str(v)));
	if (v <= CNI_VERSION_0_2_0) {
		if (to_json_020(r, o, err) < 0)
			return -EINVAL;
		*ret = steal_ptr(&o);
		return 0;
	}
	if (r->n_interfaces) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_interfaces; i++) {
			const struct cni_interface *f = &r->interfaces[i];
			json_t *fo = json_object();
			json_object_set_new(fo, "name", json_string(f->name ? f->name : ""));
			if (f->mac && *f->mac)
				json_object_set_new(fo, "mac", json_string(f->mac));
			if (v >= CNI_VERSION_1_0_0 && f->mtu)
				json_object_set_new(fo, "mtu", json_integer(f->mtu));
			if (f->sandbox && *f->sandbox)
				json_object_set_new(fo, "sandbox", json_string(f->sandbox));
			if (v >= CNI_VERSION_1_0_0 && f->socket_path && *f->socket_path)
				json_object_set_new(fo, "socketPath", json_string(f->socket_path));
			if (v >= CNI_VERSION_1_0_0 && f->pci_id && *f->pci_id)
				json_object_set_new(fo, "pciID", json_string(f->pci_id));
			json_array_append_new(a, fo);
		}
		json_object_set_new(o, "interfaces", a);
	}
	if (r->n_ips) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_ips; i++) {
			const struct cni_ipconfig *c = &r->ips[i];
			json_t *co = json_object();
			if (v < CNI_VERSION_1_0_0)
				json_object_set_new(
				    co, "version",
				    json_string(c->address.ip.family == AF_INET ? "4" : "6"));
			if (c->interface >= 0)
				json_object_set_new(co, "interface", json_integer(c->interface));
			json_object_set_new(co, "address",
					    json_string(cni_ipnet_format(&c->address, buf)));
			if (c->gateway.family)
				json_object_set_new(co, "gateway",
						    json_string(cni_ip_format(&c->gateway, buf)));
			json_array_append_new(a, co);
		}
		json_object_set_new(o, "ips", a);
	}
	if (r->n_routes) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_routes; i++)
			json_array_append_new(a, route_json(&r->routes[i], v));
		json_object_set_new(o, "routes", a);
	}
	/* Every version carries "dns", an empty object when unset: the
	 * reference's Go result types hold DNS as a struct, which
	 * encoding/json prints even with omitempty. */
	json_object_set_new(o, "dns", cni_dns_to_json(&r->dns));
	*ret = steal_ptr(&o);
	return 0;
}
