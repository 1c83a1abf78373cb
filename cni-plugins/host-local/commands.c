/* host-local: the IPAM commands over the lease store, as a library so the
 * same code serves the host-local program and, in-process, our bridge. ADD
 * leases one address per range set, DEL releases by container ID + ifname,
 * CHECK finds a lease, GC releases leases of attachments that are no longer
 * valid, STATUS reports whether every range set still has a free address. */
#include <stdio.h>
#include <string.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

/* resolv.conf as the reference reads it: nameserver, domain, search,
 * options; comments (# ;) and short lines skipped. */
static int parse_resolv_conf(const char *path, struct cni_dns *ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(path, 1 << 20, &buf, &len, err) < 0)
		return cni_error_set(err, CNI_ERR_IO, "field \"ipam.resolvConf\": %s",
				     ndl_error_msg(err));
	struct cni_dns d = {0};
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *fields[64];
		int nf = 0;
		char *s2 = NULL;
		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		if (!*line || *line == '#' || *line == ';')
			continue;
		for (char *f = strtok_r(line, " \t\r\v\f", &s2); f && nf < 64;
		     f = strtok_r(NULL, " \t\r\v\f", &s2))
			fields[nf++] = f;
		if (nf < 2)
			continue;
		char ***v = NULL;
		size_t *n = NULL;
		int from = 1, to = nf;
		if (strcmp(fields[0], "nameserver") == 0) {
			v = &d.nameservers;
			n = &d.n_nameservers;
			to = 2;
		} else if (strcmp(fields[0], "domain") == 0) {
			free(d.domain);
			d.domain = xstrdup(fields[1]);
			continue;
		} else if (strcmp(fields[0], "search") == 0) {
			v = &d.search;
			n = &d.n_search;
		} else if (strcmp(fields[0], "options") == 0) {
			v = &d.options;
			n = &d.n_options;
		} else {
			continue;
		}
		for (int i = from; i < to; i++) {
			*v = xrealloc(*v, (*n + 1) * sizeof(char *));
			(*v)[(*n)++] = xstrdup(fields[i]);
		}
	}
	*ret = d;
	return 0;
}

int hl_cmd_add(struct skel_ctx *ctx, hl_emit_fn emit, void *opaque, ndl_error_t *err)
{
	struct hl_config c;
	if (hl_config_parse(&ctx->conf, &ctx->env, &c, err) < 0)
		return -EINVAL;
	cleanup_cni_result struct cni_result *res = cni_result_new();
	struct hl_store st = {.dirfd = -1, .lockfd = -1};
	struct cni_ip *leased = xcalloc(c.n_sets, sizeof(*leased));
	size_t n_leased = 0;
	bool *used = xcalloc(c.n_requested + 1, sizeof(bool));
	int r = -EINVAL;

	if (c.resolv_conf && parse_resolv_conf(c.resolv_conf, &res->dns, err) < 0)
		goto out;
	if (hl_store_open(c.data_dir, c.name, &st, err) < 0)
		goto out;
	for (size_t i = 0; i < c.n_sets; i++) {
		const struct cni_ip *want = NULL;
		for (size_t k = 0; k < c.n_requested; k++)
			if (!used[k] && hl_rangeset_find(&c.sets[i], &c.requested[k])) {
				want = &c.requested[k];
				used[k] = true;
				break;
			}
		struct cni_ipconfig ipc;
		if (hl_allocate(&st, &c.sets[i], i, ctx->env.container_id, ctx->env.ifname, want,
				&ipc, err) < 0) {
			ndl_error_wrap(err, "failed to allocate for range %zu", i);
			goto undo;
		}
		leased[n_leased++] = ipc.address.ip;
		*cni_result_add_ip(res) = ipc;
	}
	char missing[1024] = "";
	for (size_t k = 0; k < c.n_requested; k++)
		if (!used[k]) {
			char a[CNI_IPNET_STRLEN];
			size_t l = strlen(missing);
			snprintf(missing + l, sizeof(missing) - l, " %s",
				 cni_ip_format(&c.requested[k], a));
		}
	if (*missing) {
		ndl_error_setf(err, EINVAL, "failed to allocate all requested IPs:%s", missing);
		goto undo;
	}
	for (size_t i = 0; i < c.n_routes; i++)
		*cni_result_add_route(res) = c.routes[i];
	/* Emitted under the lock and before the leases count as made: a result
	 * that cannot be expressed (or written) undoes them. */
	if (emit(res, opaque, err) < 0)
		goto undo;
	r = 0;
	goto out;
undo:
	/* Release exactly what this ADD leased; leases of earlier ADDs stay. */
	for (size_t i = 0; i < n_leased; i++)
		hl_store_release_ip(&st, &leased[i], NULL);
out:
	hl_store_close(&st);
	free(leased);
	free(used);
	hl_config_clear(&c);
	return r;
}

int hl_cmd_del(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct hl_config c;
	if (hl_config_parse(&ctx->conf, &ctx->env, &c, err) < 0)
		return -EINVAL;
	struct hl_store st;
	int r = hl_store_open(c.data_dir, c.name, &st, err);
	if (r == 0) {
		r = hl_store_release_by_id(&st, ctx->env.container_id, ctx->env.ifname, err);
		hl_store_close(&st);
	}
	hl_config_clear(&c);
	return r;
}

int hl_cmd_check(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct hl_config c;
	if (hl_config_parse(&ctx->conf, &ctx->env, &c, err) < 0)
		return -EINVAL;
	struct hl_store st;
	int r = hl_store_open(c.data_dir, c.name, &st, err);
	if (r == 0) {
		cleanup_free struct cni_ip *ips = NULL;
		size_t n = 0;
		r = hl_store_get_by_id(&st, ctx->env.container_id, ctx->env.ifname, &ips, &n, err);
		if (r == 0 && n == 0)
			r = ndl_error_setf(
			    err, ENOENT, "host-local: Failed to find address added by container %s",
			    ctx->env.container_id);
		hl_store_close(&st);
	}
	hl_config_clear(&c);
	return r;
}

int hl_cmd_gc(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct hl_config c;
	if (hl_config_parse(&ctx->conf, &ctx->env, &c, err) < 0)
		return -EINVAL;
	struct hl_store st;
	int r;
	/* Without the list every lease would look stale: refuse rather than
	 * release the whole network because a caller forgot the key. */
	if (!ctx->conf.has_valid_attachments) {
		r = cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				  "field \"cni.dev/valid-attachments\": required for GC");
		goto out;
	}
	r = hl_store_open(c.data_dir, c.name, &st, err);
	if (r < 0)
		goto out;
	struct hl_lease *l = NULL;
	size_t n = 0;
	r = hl_store_list(&st, &l, &n, err);
	const struct cni_conf *cf = &ctx->conf;
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool valid = false;
		for (size_t k = 0; k < cf->n_valid_attachments && !valid; k++) {
			const struct cni_attachment *a = &cf->valid_attachments[k];
			/* Old single-line leases name only the container. */
			valid = strcmp(a->container_id, l[i].id) == 0 &&
				(!l[i].ifname[0] || strcmp(a->ifname, l[i].ifname) == 0);
		}
		if (!valid && hl_store_release_ip(&st, &l[i].ip, err) < 0)
			r = -EIO;
	}
	hl_leases_free(l, n);
	hl_store_close(&st);
out:
	hl_config_clear(&c);
	return r;
}

int hl_cmd_status(struct skel_ctx *ctx, ndl_error_t *err)
{
	struct hl_config c;
	if (hl_config_parse(&ctx->conf, &ctx->env, &c, err) < 0)
		return -EINVAL;
	struct hl_store st = {.dirfd = -1, .lockfd = -1};
	int r = hl_store_open(c.data_dir, c.name, &st, err);
	for (size_t i = 0; r == 0 && i < c.n_sets; i++) {
		bool free_left = false;
		r = hl_rangeset_has_free(&st, &c.sets[i], &free_left, err);
		if (r == 0 && !free_left) {
			cleanup_free char *s = hl_rangeset_str(&c.sets[i]);
			r = cni_error_set(err, CNI_ERR_PLUGIN_NOT_AVAILABLE,
					  "no IP addresses available in range set: %s", s);
		}
	}
	hl_store_close(&st);
	hl_config_clear(&c);
	return r;
}
