/* host-local configuration: "ranges" (range sets), the legacy top-level
 * subnet/rangeStart/rangeEnd/gateway, runtimeConfig.ipRanges, routes,
 * dataDir, resolvConf and the requested IPs (CNI_ARGS IP, args.cni.ips,
 * runtimeConfig.ips), validated as the reference plugin does. */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* Typed-getter failures are configuration errors (code 7). */
#define CGET(call)                                                                                 \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s",                    \
					     ndl_error_msg(err));                                  \
	} while (0)

static int ip_field(const json_t *obj, const char *where, const char *key, struct cni_ip *ret,
		    bool *ret_has, ndl_error_t *err)
{
	const char *s = NULL;
	CGET(ndl_json_get_string(obj, where, key, false, &s, err));
	*ret_has = false;
	if (!s || !*s)
		return 0;
	if (cni_ip_parse(s, ret, err) < 0)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "field \"%s.%s\": %s", where, key,
				     ndl_error_msg(err));
	*ret_has = true;
	return 0;
}

/* One range object (also the legacy top-level form, where = "ipam"). */
static int parse_range(const json_t *o, const char *where, struct hl_range *ret, ndl_error_t *err)
{
	if (!json_is_object(o))
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s\": expected object, got %s", where,
				     ndl_json_type_name(o));
	struct hl_range r = {0};
	const char *subnet = NULL;
	CGET(ndl_json_get_string(o, where, "subnet", true, &subnet, err));
	if (cni_ipnet_parse(subnet, &r.subnet, err) < 0)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "field \"%s.subnet\": %s", where,
				     ndl_error_msg(err));
	bool hs, he, hg;
	if (ip_field(o, where, "rangeStart", &r.start, &hs, err) < 0 ||
	    ip_field(o, where, "rangeEnd", &r.end, &he, err) < 0 ||
	    ip_field(o, where, "gateway", &r.gateway, &hg, err) < 0)
		return -EINVAL;
	if (hl_range_canonicalize(&r, hs, he, hg, where, err) < 0)
		return -EINVAL;
	*ret = r;
	return 0;
}

static int add_set(struct hl_config *c, const struct hl_range *ranges, size_t n)
{
	c->sets = xrealloc(c->sets, (c->n_sets + 1) * sizeof(*c->sets));
	struct hl_rangeset *s = &c->sets[c->n_sets++];
	s->ranges = xmalloc(n * sizeof(*ranges));
	memcpy(s->ranges, ranges, n * sizeof(*ranges));
	s->n = n;
	return 0;
}

/* A list of range sets (ipam.ranges or runtimeConfig.ipRanges). */
static int parse_sets(const json_t *arr, const char *where, struct hl_config *c, size_t *total,
		      ndl_error_t *err)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *set = json_array_get(arr, i);
		char w[128];
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!json_is_array(set))
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "field \"%s\": expected array, got %s", w,
					     ndl_json_type_name(set));
		size_t n = json_array_size(set);
		if (n == 0)
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "field \"%s\": invalid range set %zu: empty range set",
					     w, c->n_sets);
		*total += n;
		if (*total > HL_MAX_RANGES)
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "field \"%s\": more than %d ranges", where,
					     HL_MAX_RANGES);
		struct hl_range ranges[HL_MAX_RANGES];
		for (size_t k = 0; k < n; k++) {
			char wk[160];
			snprintf(wk, sizeof(wk), "%s[%zu]", w, k);
			if (parse_range(json_array_get(set, k), wk, &ranges[k], err) < 0)
				return -EINVAL;
			if (k > 0 && ranges[k].subnet.ip.family != ranges[0].subnet.ip.family)
				return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
						     "field \"%s\": mixed address families", w);
		}
		for (size_t a = 0; a < n; a++)
			for (size_t b = a + 1; b < n; b++)
				if (hl_range_overlaps(&ranges[a], &ranges[b])) {
					struct hl_rangeset sa = {&ranges[a], 1},
							   sb = {&ranges[b], 1};
					cleanup_free char *x = hl_rangeset_str(&sa);
					cleanup_free char *y = hl_rangeset_str(&sb);
					return cni_error_set(
					    err, CNI_ERR_INVALID_CONFIG,
					    "field \"%s\": subnets %s and %s overlap", w, x, y);
				}
		add_set(c, ranges, n);
	}
	return 0;
}

/* Requested addresses: "10.1.2.3" or "10.1.2.3/24" (the address is used). */
static int add_requested(struct hl_config *c, const char *s, const char *where, ndl_error_t *err,
			 int code)
{
	struct cni_ip ip;
	struct cni_ipnet n;
	if (strchr(s, '/')) {
		if (cni_ipnet_parse(s, &n, err) < 0)
			return cni_error_set(err, code, "%s: %s", where, ndl_error_msg(err));
		ip = n.ip;
	} else if (cni_ip_parse(s, &ip, err) < 0) {
		return cni_error_set(err, code, "%s: %s", where, ndl_error_msg(err));
	}
	if (c->n_requested >= HL_MAX_REQUESTED)
		return cni_error_set(err, code, "%s: more than %d requested IPs", where,
				     HL_MAX_REQUESTED);
	c->requested = xrealloc(c->requested, (c->n_requested + 1) * sizeof(*c->requested));
	c->requested[c->n_requested++] = ip;
	return 0;
}

static int requested_list(struct hl_config *c, const json_t *obj, const char *where,
			  ndl_error_t *err)
{
	json_t *arr = NULL;
	CGET(ndl_json_get_array(obj, where, "ips", false, &arr, err));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		char w[96];
		snprintf(w, sizeof(w), "field \"%s.ips[%zu]\"", where, i);
		if (!json_is_string(v))
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "%s: expected string, got %s", w,
					     ndl_json_type_name(v));
		if (add_requested(c, json_string_value(v), w, err, CNI_ERR_INVALID_CONFIG) < 0)
			return -EINVAL;
	}
	return 0;
}

/* CNI_ARGS as the reference's LoadArgs reads them into {IgnoreUnknown, IP}:
 * keys match Go field names exactly; other keys fail unless IgnoreUnknown. */
static int env_args(struct hl_config *c, struct cni_env *env, ndl_error_t *err)
{
	if (cni_env_parse_args(env, err) < 0)
		return -EINVAL;
	bool ignore = false;
	char unknown[512] = "";
	const char *ip = NULL;
	for (size_t i = 0; i < env->n_kv; i++) {
		const char *k = env->kv[i].key, *v = env->kv[i].value;
		if (strcmp(k, "IgnoreUnknown") == 0) {
			if (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0)
				ignore = true;
			else if (strcasecmp(v, "0") == 0 || strcasecmp(v, "false") == 0)
				ignore = false;
			else
				return cni_error_set(
				    err, CNI_ERR_INVALID_ENV,
				    "CNI_ARGS: error parsing value of pair \"%s=%s\": boolean "
				    "unmarshal error: invalid input %s",
				    k, v, v);
		} else if (strcmp(k, "IP") == 0) {
			ip = v;
		} else {
			size_t l = strlen(unknown);
			snprintf(unknown + l, sizeof(unknown) - l, "%s\"%s=%s\"", l ? " " : "", k,
				 v);
		}
	}
	if (*unknown && !ignore)
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "CNI_ARGS: unknown args [%s]",
				     unknown);
	if (ip && *ip && add_requested(c, ip, "CNI_ARGS IP", err, CNI_ERR_INVALID_ENV) < 0)
		return -EINVAL;
	return 0;
}

static int parse_routes(struct hl_config *c, const json_t *ipam, ndl_error_t *err)
{
	json_t *arr = NULL;
	CGET(ndl_json_get_array(ipam, "ipam", "routes", false, &arr, err));
	size_t n = json_array_size(arr);
	if (n > HL_MAX_ROUTES)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"ipam.routes\": more than %d routes", HL_MAX_ROUTES);
	if (!n)
		return 0;
	/* Reuse the result parser: routes have the result's shape. */
	cleanup_json json_t *wrap = json_pack("{s:s,s:O}", "cniVersion", "1.1.0", "routes", arr);
	struct cni_result *r = NULL;
	if (cni_result_from_json(wrap, CNI_VERSION_1_1_0, "ipam", &r, err) < 0)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
	c->routes = steal_ptr(&r->routes);
	c->n_routes = r->n_routes;
	r->n_routes = 0;
	cni_result_free(r);
	return 0;
}

int hl_config_parse(const struct cni_conf *conf, struct cni_env *env, struct hl_config *ret,
		    ndl_error_t *err)
{
	struct hl_config c = {0};
	const json_t *ipam = conf->ipam;
	const char *s = NULL;
	size_t total = 0;
	if (!ipam) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "IPAM config missing 'ipam' key");
		goto fail;
	}
	c.name = conf->name;
	if (env && env->args && env_args(&c, env, err) < 0)
		goto fail;
	if (conf->args) {
		json_t *cni = NULL;
		if (ndl_json_get_object(conf->args, "args", "cni", false, &cni, err) < 0) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
			goto fail;
		}
		if (cni && requested_list(&c, cni, "args.cni", err) < 0)
			goto fail;
	}
	json_t *rt_ranges = NULL;
	if (conf->runtime_config) {
		if (requested_list(&c, conf->runtime_config, "runtimeConfig", err) < 0)
			goto fail;
		if (ndl_json_get_array(conf->runtime_config, "runtimeConfig", "ipRanges", false,
				       &rt_ranges, err) < 0) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
			goto fail;
		}
	}

	/* Order as the reference: runtimeConfig.ipRanges, then the legacy
	 * top-level range, then ipam.ranges. */
	if (rt_ranges && parse_sets(rt_ranges, "runtimeConfig.ipRanges", &c, &total, err) < 0)
		goto fail;
	json_t *legacy = json_object_get(ipam, "subnet");
	if (legacy && !json_is_null(legacy) &&
	    !(json_is_string(legacy) && !*json_string_value(legacy))) {
		struct hl_range r;
		if (parse_range(ipam, "ipam", &r, err) < 0)
			goto fail;
		add_set(&c, &r, 1);
		total++;
	}
	json_t *ranges = NULL;
	if (ndl_json_get_array(ipam, "ipam", "ranges", false, &ranges, err) < 0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
		goto fail;
	}
	if (ranges && parse_sets(ranges, "ipam.ranges", &c, &total, err) < 0)
		goto fail;
	if (c.n_sets == 0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "no IP ranges specified");
		goto fail;
	}
	int n4 = 0, n6 = 0;
	for (size_t i = 0; i < c.n_sets; i++)
		*(c.sets[i].ranges[0].subnet.ip.family == AF_INET ? &n4 : &n6) += 1;
	if ((n4 > 1 || n6 > 1) && conf->version < CNI_VERSION_0_3_0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "CNI version %s does not support more than 1 address per family",
			      conf->cni_version_str);
		goto fail;
	}
	for (size_t i = 0; i < c.n_sets; i++)
		for (size_t j = i + 1; j < c.n_sets; j++)
			for (size_t a = 0; a < c.sets[i].n; a++)
				for (size_t b = 0; b < c.sets[j].n; b++)
					if (hl_range_overlaps(&c.sets[i].ranges[a],
							      &c.sets[j].ranges[b])) {
						cni_error_set(err, CNI_ERR_INVALID_CONFIG,
							      "range set %zu overlaps with %zu", i,
							      j);
						goto fail;
					}
	if (parse_routes(&c, ipam, err) < 0)
		goto fail;
	if (ndl_json_get_string(ipam, "ipam", "dataDir", false, &s, err) < 0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
		goto fail;
	}
	c.data_dir = xstrdup(s && *s ? s : HL_DEFAULT_DATA_DIR);
	s = NULL;
	if (ndl_json_get_string(ipam, "ipam", "resolvConf", false, &s, err) < 0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
		goto fail;
	}
	c.resolv_conf = s && *s ? xstrdup(s) : NULL;
	*ret = c;
	return 0;
fail:
	hl_config_clear(&c);
	return -EINVAL;
}

void hl_config_clear(struct hl_config *c)
{
	for (size_t i = 0; i < c->n_sets; i++)
		free(c->sets[i].ranges);
	free(c->sets);
	free(c->routes);
	free(c->requested);
	free(c->data_dir);
	free(c->resolv_conf);
	memset(c, 0, sizeof(*c));
}
