/* OCI linux.resources: the JSON parser (errors name the field) and the
 * v1 -> v2 value conversions, which follow runc exactly so a config means
 * the same under either runtime. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroups/cgroups.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* Bounds on list sizes so a hostile config cannot make us write forever. */
#define MAX_LIST 4096

uint64_t cgroup_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	/* Shares below the v1 minimum of 2 would underflow; the kernel
	 * clamps them to 2 anyway. */
	if (shares < 2)
		shares = 2;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cgroup_blkio_weight_to_io_weight(uint64_t weight)
{
	if (weight == 0)
		return 0;
	if (weight < 10)
		weight = 10;
	return 1 + (weight - 10) * 9999 / 990;
}

void cgroup_cpu_max_string(bool has_quota, int64_t quota, uint64_t period, char *buf, size_t size)
{
	int n;
	if (has_quota && quota > 0)
		n = snprintf(buf, size, "%" PRId64, quota);
	else
		n = snprintf(buf, size, "max");
	if (period != 0 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " %" PRIu64, period);
}

int cgroup_swap_v2_value(bool has_swap, int64_t swap, bool has_memory, int64_t memory,
			 bool *ret_set, int64_t *ret, ndl_error_t *err)
{
	if (!has_swap)
		swap = 0;
	if (!has_memory)
		memory = 0;
	/* Unlimited memory with swap unset means both unlimited (v1 habit). */
	if (memory == -1 && swap == 0) {
		*ret_set = true;
		*ret = -1;
		return 0;
	}
	if (swap == -1 || swap == 0) {
		*ret_set = swap != 0;
		*ret = swap;
		return 0;
	}
	if (memory == 0)
		return ndl_error_setf(err, EINVAL,
				      "memory.swap: unable to set swap limit without memory limit");
	if (memory < 0)
		return ndl_error_setf(err, EINVAL, "memory.limit: invalid memory value %" PRId64,
				      memory);
	if (swap < memory)
		return ndl_error_setf(err, EINVAL,
				      "memory.swap: memory+swap limit (%" PRId64
				      ") should be >= memory limit (%" PRId64 ")",
				      swap, memory);
	*ret_set = true;
	*ret = swap - memory;
	return 0;
}

void cgroup_resources_free(struct cgroup_resources *res)
{
	if (!res)
		return;
	free(res->cpu.cpus);
	free(res->cpu.mems);
	free(res->blkio.weight_device);
	free(res->blkio.throttle_read_bps);
	free(res->blkio.throttle_write_bps);
	free(res->blkio.throttle_read_iops);
	free(res->blkio.throttle_write_iops);
	free(res->hugepages);
	free(res->devices);
	free(res->network.priorities);
	for (size_t i = 0; i < res->n_unified; i++) {
		free(res->unified[i].key);
		free(res->unified[i].value);
	}
	free(res->unified);
	memset(res, 0, sizeof(*res));
}

/* ---- typed field getters that also report presence ---- */

static char *sub(const char *where, const char *key)
{
	return where && *where ? xasprintf("%s.%s", where, key) : xstrdup(key);
}

static int get_i64(const json_t *obj, const char *where, const char *key, bool *has, int64_t *v,
		   ndl_error_t *err)
{
	json_t *j = json_object_get(obj, key);
	if (!j || json_is_null(j))
		return 0;
	int r = ndl_json_get_int(obj, where, key, false, v, err);
	if (r < 0)
		return r;
	*has = true;
	return 0;
}

static int get_u64(const json_t *obj, const char *where, const char *key, bool *has, uint64_t *v,
		   ndl_error_t *err)
{
	int64_t x = 0;
	bool h = false;
	int r = get_i64(obj, where, key, &h, &x, err);
	if (r < 0)
		return r;
	if (!h)
		return 0;
	if (x < 0)
		return ndl_error_setf(
		    err, EINVAL, "field \"%s%s%s\": must not be negative, got %" PRId64,
		    where && *where ? where : "", where && *where ? "." : "", key, x);
	*v = (uint64_t)x;
	*has = true;
	return 0;
}

static int get_u16(const json_t *obj, const char *where, const char *key, bool *has, uint16_t *v,
		   ndl_error_t *err)
{
	uint64_t x = 0;
	bool h = false;
	int r = get_u64(obj, where, key, &h, &x, err);
	if (r < 0)
		return r;
	if (!h)
		return 0;
	if (x > UINT16_MAX)
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": %" PRIu64 " is out of range",
				      where, key, x);
	*v = (uint16_t)x;
	*has = true;
	return 0;
}

static int get_str(const json_t *obj, const char *where, const char *key, char **v,
		   ndl_error_t *err)
{
	const char *s = NULL;
	int r = ndl_json_get_string(obj, where, key, false, &s, err);
	if (r < 0)
		return r;
	if (s) {
		free(*v);
		*v = xstrdup(s);
	}
	return 0;
}

static int get_list(const json_t *obj, const char *where, const char *key, json_t **ret,
		    ndl_error_t *err)
{
	json_t *a = NULL;
	int r = ndl_json_get_array(obj, where, key, false, &a, err);
	if (r < 0)
		return r;
	if (a && json_array_size(a) > MAX_LIST)
		return ndl_error_setf(err, E2BIG, "field \"%s.%s\": more than %d entries", where,
				      key, MAX_LIST);
	*ret = a;
	return 0;
}

static int elem_object(json_t *a, size_t i, const char *where, const char *key, char **ret_where,
		       ndl_error_t *err)
{
	json_t *e = json_array_get(a, i);
	char *w = xasprintf("%s.%s[%zu]", where, key, i);
	if (!json_is_object(e)) {
		int r = ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", w,
				       ndl_json_type_name(e));
		free(w);
		return r;
	}
	*ret_where = w;
	return 0;
}

static int parse_devices(const json_t *obj, const char *where, struct cgroup_resources *res,
			 ndl_error_t *err)
{
	json_t *a = NULL;
	if (get_list(obj, where, "devices", &a, err) < 0)
		return -1;
	if (!a)
		return 0;
	res->devices = xcalloc(json_array_size(a) + 1, sizeof(*res->devices));
	for (size_t i = 0; i < json_array_size(a); i++) {
		cleanup_free char *w = NULL;
		if (elem_object(a, i, where, "devices", &w, err) < 0)
			return -1;
		json_t *e = json_array_get(a, i);
		struct cgroup_device_rule *d = &res->devices[res->n_devices];
		*d = (struct cgroup_device_rule){.type = 'a', .major = -1, .minor = -1};
		bool has = false;
		if (ndl_json_get_bool(e, w, "allow", true, &d->allow, err) < 0)
			return -1;
		const char *type = NULL, *access = NULL;
		if (ndl_json_get_string(e, w, "type", false, &type, err) < 0 ||
		    ndl_json_get_string(e, w, "access", false, &access, err) < 0)
			return -1;
		if (type) {
			if (strlen(type) != 1 || !strchr("acb", type[0]))
				return ndl_error_setf(
				    err, EINVAL,
				    "field \"%s.type\": must be \"a\", \"c\" or \"b\", got \"%s\"",
				    w, type);
			d->type = type[0];
		}
		if (get_i64(e, w, "major", &has, &d->major, err) < 0 ||
		    get_i64(e, w, "minor", &has, &d->minor, err) < 0)
			return -1;
		if (access) {
			size_t n = strlen(access);
			bool ok = n <= 3;
			for (size_t k = 0; ok && k < n; k++)
				ok = strchr("rwm", access[k]) && !strchr(access + k + 1, access[k]);
			if (!ok)
				return ndl_error_setf(
				    err, EINVAL,
				    "field \"%s.access\": must be a subset of \"rwm\", got \"%s\"",
				    w, access);
			memcpy(d->access, access, n + 1);
		}
		res->n_devices++;
	}
	return 0;
}

static int parse_memory(const json_t *obj, const char *where, struct cgroup_resources *res,
			ndl_error_t *err)
{
	json_t *m = NULL;
	if (ndl_json_get_object(obj, where, "memory", false, &m, err) < 0)
		return -1;
	if (!m)
		return 0;
	cleanup_free char *w = sub(where, "memory");
	if (get_i64(m, w, "limit", &res->memory.has_limit, &res->memory.limit, err) < 0 ||
	    get_i64(m, w, "reservation", &res->memory.has_reservation, &res->memory.reservation,
		    err) < 0 ||
	    get_i64(m, w, "swap", &res->memory.has_swap, &res->memory.swap, err) < 0 ||
	    get_i64(m, w, "kernel", &res->memory.has_kernel, &res->memory.kernel, err) < 0 ||
	    get_i64(m, w, "kernelTCP", &res->memory.has_kernel_tcp, &res->memory.kernel_tcp, err) <
		0 ||
	    get_u64(m, w, "swappiness", &res->memory.has_swappiness, &res->memory.swappiness, err) <
		0)
		return -1;
	if (json_object_get(m, "disableOOMKiller") &&
	    !json_is_null(json_object_get(m, "disableOOMKiller"))) {
		if (ndl_json_get_bool(m, w, "disableOOMKiller", false,
				      &res->memory.disable_oom_killer, err) < 0)
			return -1;
		res->memory.has_disable_oom_killer = true;
	}
	if (json_object_get(m, "useHierarchy") &&
	    !json_is_null(json_object_get(m, "useHierarchy"))) {
		if (ndl_json_get_bool(m, w, "useHierarchy", false, &res->memory.use_hierarchy,
				      err) < 0)
			return -1;
		res->memory.has_use_hierarchy = true;
	}
	if (res->memory.has_limit && res->memory.limit < -1)
		return ndl_error_setf(
		    err, EINVAL, "field \"%s.limit\": must be -1 or a byte count, got %" PRId64, w,
		    res->memory.limit);
	if (res->memory.has_swap && res->memory.swap < -1)
		return ndl_error_setf(err, EINVAL,
				      "field \"%s.swap\": must be -1 or a byte count, got %" PRId64,
				      w, res->memory.swap);
	if (res->memory.has_swappiness && res->memory.swappiness > 100)
		return ndl_error_setf(err, EINVAL,
				      "field \"%s.swappiness\": must be 0-100, got %" PRIu64, w,
				      res->memory.swappiness);
	return 0;
}

static int parse_cpu(const json_t *obj, const char *where, struct cgroup_resources *res,
		     ndl_error_t *err)
{
	json_t *c = NULL;
	if (ndl_json_get_object(obj, where, "cpu", false, &c, err) < 0)
		return -1;
	if (!c)
		return 0;
	cleanup_free char *w = sub(where, "cpu");
	if (get_u64(c, w, "shares", &res->cpu.has_shares, &res->cpu.shares, err) < 0 ||
	    get_i64(c, w, "quota", &res->cpu.has_quota, &res->cpu.quota, err) < 0 ||
	    get_u64(c, w, "burst", &res->cpu.has_burst, &res->cpu.burst, err) < 0 ||
	    get_u64(c, w, "period", &res->cpu.has_period, &res->cpu.period, err) < 0 ||
	    get_i64(c, w, "realtimeRuntime", &res->cpu.has_realtime_runtime,
		    &res->cpu.realtime_runtime, err) < 0 ||
	    get_u64(c, w, "realtimePeriod", &res->cpu.has_realtime_period,
		    &res->cpu.realtime_period, err) < 0 ||
	    get_i64(c, w, "idle", &res->cpu.has_idle, &res->cpu.idle, err) < 0 ||
	    get_str(c, w, "cpus", &res->cpu.cpus, err) < 0 ||
	    get_str(c, w, "mems", &res->cpu.mems, err) < 0)
		return -1;
	static const char *const lists[] = {"cpus", "mems"};
	for (size_t i = 0; i < 2; i++) {
		const char *s = i ? res->cpu.mems : res->cpu.cpus;
		for (const char *p = s; p && *p; p++)
			if (!strchr("0123456789,- ", *p))
				return ndl_error_setf(err, EINVAL,
						      "field \"%s.%s\": invalid list \"%s\"", w,
						      lists[i], s);
	}
	return 0;
}

static int parse_throttle(const json_t *b, const char *w, const char *key,
			  struct cgroup_throttle_device **ret, size_t *ret_n, ndl_error_t *err)
{
	json_t *a = NULL;
	if (get_list(b, w, key, &a, err) < 0)
		return -1;
	if (!a)
		return 0;
	*ret = xcalloc(json_array_size(a) + 1, sizeof(**ret));
	for (size_t i = 0; i < json_array_size(a); i++) {
		cleanup_free char *ew = NULL;
		if (elem_object(a, i, w, key, &ew, err) < 0)
			return -1;
		json_t *e = json_array_get(a, i);
		struct cgroup_throttle_device *d = &(*ret)[*ret_n];
		bool hm = false, hn = false, hr = false;
		if (get_i64(e, ew, "major", &hm, &d->major, err) < 0 ||
		    get_i64(e, ew, "minor", &hn, &d->minor, err) < 0 ||
		    get_u64(e, ew, "rate", &hr, &d->rate, err) < 0)
			return -1;
		if (!hm || !hn || !hr)
			return ndl_error_setf(err, EINVAL, "field \"%s.%s\": required", ew,
					      !hm   ? "major"
					      : !hn ? "minor"
						    : "rate");
		if (d->major < 0 || d->minor < 0)
			return ndl_error_setf(err, EINVAL,
					      "field \"%s\": major/minor must not be negative", ew);
		(*ret_n)++;
	}
	return 0;
}

static int parse_blkio(const json_t *obj, const char *where, struct cgroup_resources *res,
		       ndl_error_t *err)
{
	json_t *b = NULL;
	if (ndl_json_get_object(obj, where, "blockIO", false, &b, err) < 0)
		return -1;
	if (!b)
		return 0;
	cleanup_free char *w = sub(where, "blockIO");
	if (get_u16(b, w, "weight", &res->blkio.has_weight, &res->blkio.weight, err) < 0 ||
	    get_u16(b, w, "leafWeight", &res->blkio.has_leaf_weight, &res->blkio.leaf_weight, err) <
		0)
		return -1;
	json_t *a = NULL;
	if (get_list(b, w, "weightDevice", &a, err) < 0)
		return -1;
	if (a) {
		res->blkio.weight_device =
		    xcalloc(json_array_size(a) + 1, sizeof(*res->blkio.weight_device));
		for (size_t i = 0; i < json_array_size(a); i++) {
			cleanup_free char *ew = NULL;
			if (elem_object(a, i, w, "weightDevice", &ew, err) < 0)
				return -1;
			json_t *e = json_array_get(a, i);
			struct cgroup_weight_device *d =
			    &res->blkio.weight_device[res->blkio.n_weight_device];
			bool hm = false, hn = false;
			if (get_i64(e, ew, "major", &hm, &d->major, err) < 0 ||
			    get_i64(e, ew, "minor", &hn, &d->minor, err) < 0 ||
			    get_u16(e, ew, "weight", &d->has_weight, &d->weight, err) < 0 ||
			    get_u16(e, ew, "leafWeight", &d->has_leaf_weight, &d->leaf_weight,
				    err) < 0)
				return -1;
			if (!hm || !hn)
				return ndl_error_setf(err, EINVAL, "field \"%s.%s\": required", ew,
						      !hm ? "major" : "minor");
			if (d->major < 0 || d->minor < 0)
				return ndl_error_setf(
				    err, EINVAL, "field \"%s\": major/minor must not be negative",
				    ew);
			res->blkio.n_weight_device++;
		}
	}
	if (parse_throttle(b, w, "throttleReadBpsDevice", &res->blkio.throttle_read_bps,
			   &res->blkio.n_throttle_read_bps, err) < 0 ||
	    parse_throttle(b, w, "throttleWriteBpsDevice", &res->blkio.throttle_write_bps,
			   &res->blkio.n_throttle_write_bps, err) < 0 ||
	    parse_throttle(b, w, "throttleReadIOPSDevice", &res->blkio.throttle_read_iops,
			   &res->blkio.n_throttle_read_iops, err) < 0 ||
	    parse_throttle(b, w, "throttleWriteIOPSDevice", &res->blkio.throttle_write_iops,
			   &res->blkio.n_throttle_write_iops, err) < 0)
		return -1;
	return 0;
}

static int parse_hugepages(const json_t *obj, const char *where, struct cgroup_resources *res,
			   ndl_error_t *err)
{
	json_t *a = NULL;
	if (get_list(obj, where, "hugepageLimits", &a, err) < 0)
		return -1;
	if (!a)
		return 0;
	res->hugepages = xcalloc(json_array_size(a) + 1, sizeof(*res->hugepages));
	for (size_t i = 0; i < json_array_size(a); i++) {
		cleanup_free char *ew = NULL;
		if (elem_object(a, i, where, "hugepageLimits", &ew, err) < 0)
			return -1;
		json_t *e = json_array_get(a, i);
		struct cgroup_hugepage_limit *h = &res->hugepages[res->n_hugepages];
		const char *ps = NULL;
		bool hl = false;
		if (ndl_json_get_string(e, ew, "pageSize", true, &ps, err) < 0 ||
		    get_u64(e, ew, "limit", &hl, &h->limit, err) < 0)
			return -1;
		if (!hl)
			return ndl_error_setf(err, EINVAL, "field \"%s.limit\": required", ew);
		/* The size becomes part of a file name: digits then a unit. */
		size_t n = strlen(ps), k = 0;
		while (k < n && ps[k] >= '0' && ps[k] <= '9')
			k++;
		bool ok = k > 0 && n < sizeof(h->page_size) &&
			  (strcmp(ps + k, "KB") == 0 || strcmp(ps + k, "MB") == 0 ||
			   strcmp(ps + k, "GB") == 0);
		if (!ok)
			return ndl_error_setf(
			    err, EINVAL,
			    "field \"%s.pageSize\": expected e.g. \"2MB\" or \"1GB\", got \"%s\"",
			    ew, ps);
		memcpy(h->page_size, ps, n + 1);
		res->n_hugepages++;
	}
	return 0;
}

static int parse_network(const json_t *obj, const char *where, struct cgroup_resources *res,
			 ndl_error_t *err)
{
	json_t *n = NULL;
	if (ndl_json_get_object(obj, where, "network", false, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	cleanup_free char *w = sub(where, "network");
	uint64_t cid = 0;
	if (get_u64(n, w, "classID", &res->network.has_class_id, &cid, err) < 0)
		return -1;
	if (cid > UINT32_MAX)
		return ndl_error_setf(err, EINVAL, "field \"%s.classID\": out of range", w);
	res->network.class_id = (uint32_t)cid;
	json_t *a = NULL;
	if (get_list(n, w, "priorities", &a, err) < 0)
		return -1;
	if (!a)
		return 0;
	res->network.priorities = xcalloc(json_array_size(a) + 1, sizeof(*res->network.priorities));
	for (size_t i = 0; i < json_array_size(a); i++) {
		cleanup_free char *ew = NULL;
		if (elem_object(a, i, w, "priorities", &ew, err) < 0)
			return -1;
		json_t *e = json_array_get(a, i);
		struct cgroup_net_priority *p = &res->network.priorities[res->network.n_priorities];
		const char *name = NULL;
		uint64_t prio = 0;
		bool hp = false;
		if (ndl_json_get_string(e, ew, "name", true, &name, err) < 0 ||
		    get_u64(e, ew, "priority", &hp, &prio, err) < 0)
			return -1;
		if (!*name || strlen(name) >= sizeof(p->name) || strpbrk(name, " /\n"))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.name\": invalid interface name \"%s\"",
					      ew, name);
		if (!hp || prio > UINT32_MAX)
			return ndl_error_setf(err, EINVAL, "field \"%s.priority\": required, 0-%u",
					      ew, UINT32_MAX);
		memcpy(p->name, name, strlen(name) + 1);
		p->priority = (uint32_t)prio;
		res->network.n_priorities++;
	}
	return 0;
}

static int parse_unified(const json_t *obj, const char *where, struct cgroup_resources *res,
			 ndl_error_t *err)
{
	json_t *u = NULL;
	if (ndl_json_get_object(obj, where, "unified", false, &u, err) < 0)
		return -1;
	if (!u)
		return 0;
	if (json_object_size(u) > MAX_LIST)
		return ndl_error_setf(err, E2BIG, "field \"%s.unified\": too many entries", where);
	res->unified = xcalloc(json_object_size(u) + 1, sizeof(*res->unified));
	const char *k;
	json_t *v;
	json_object_foreach(u, k, v)
	{
		if (!json_is_string(v))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.unified.%s\": expected string, got %s",
					      where, k, ndl_json_type_name(v));
		if (!*k || strchr(k, '/') || k[0] == '.')
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.unified.%s\": invalid cgroup file name",
					      where, k);
		res->unified[res->n_unified].key = xstrdup(k);
		res->unified[res->n_unified].value = xstrdup(json_string_value(v));
		res->n_unified++;
	}
	return 0;
}

int cgroup_resources_from_json(const json_t *obj, const char *where, struct cgroup_resources *ret,
			       ndl_error_t *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!where)
		where = "";
	if (!json_is_object(obj))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(obj));
	json_t *pids = NULL;
	if (ndl_json_get_object(obj, where, "pids", false, &pids, err) < 0)
		goto fail;
	if (pids) {
		cleanup_free char *w = sub(where, "pids");
		if (ndl_json_get_int(pids, w, "limit", true, &ret->pids.limit, err) < 0)
			goto fail;
		ret->pids.has_limit = true;
	}
	json_t *rdma = json_object_get(obj, "rdma");
	if (rdma && !json_is_null(rdma) && (!json_is_object(rdma) || json_object_size(rdma) > 0)) {
		ndl_error_setf(err, ENOTSUP, "field \"%s.rdma\": rdma limits are not supported",
			       where);
		goto fail;
	}
	if (parse_devices(obj, where, ret, err) < 0 || parse_memory(obj, where, ret, err) < 0 ||
	    parse_cpu(obj, where, ret, err) < 0 || parse_blkio(obj, where, ret, err) < 0 ||
	    parse_hugepages(obj, where, ret, err) < 0 || parse_network(obj, where, ret, err) < 0 ||
	    parse_unified(obj, where, ret, err) < 0)
		goto fail;
	return 0;
fail:
	cgroup_resources_free(ret);
	return -1;
}
