/* CRI configs built from the Pod as the kubelet builds them
 * (kuberuntime_sandbox.go generatePodSandboxConfig,
 * kuberuntime_container.go generateContainerConfig), as JSON with proto
 * field names, converted to protobuf by the CRI client. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri/client/client.h"
#include "kubelet/env.h"
#include "kubelet/lifecycle/internal.h"
#include "kubelet/qos.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static json_t *json_string_take(char *s)
{
	json_t *j = json_string(s);
	free(s);
	return j;
}

/* runtimeRequestTimeout (2 min by default), set once at start. */
static int request_timeout_ms = 120000;

void kl_cri_set_request_timeout(int64_t ns)
{
	if (ns > 0)
		request_timeout_ms = ns / 1000000 > INT32_MAX / 2 ? INT32_MAX / 2 : (int)(ns / 1000000);
}

int kl_cri_request_timeout_ms(void)
{
	return request_timeout_ms;
}

int kl_cri(struct cri_client *c, const char *method, json_t *req, int timeout_ms,
	   json_t **ret_resp, ndl_error_t *err)
{
	if (timeout_ms == KL_CRI_TIMEOUT)
		timeout_ms = request_timeout_ms;
	else if (timeout_ms == KL_CRI_TIMEOUT_X2)
		timeout_ms = 2 * request_timeout_ms;
	else if (timeout_ms == KL_CRI_NO_DEADLINE)
		timeout_ms = INT32_MAX; /* ~24 days: the client has no "none" */
	const char *svc;
	const ProtobufCMessageDescriptor *rq, *rs;
	int streaming;
	if (cri_method_lookup(method, &svc, &rq, &rs, &streaming) < 0)
		return ndl_error_setf(err, ENOENT, "unknown CRI method %s", method);
	ProtobufCMessage *msg = NULL;
	if (cri_msg_from_json(rq, req, &msg, err) < 0)
		return ndl_error_wrap(err, "%s request", method);
	ProtobufCMessage *resp = NULL;
	int r = cri_client_call_by_name(c, method, msg, timeout_ms, &resp, NULL, err);
	protobuf_c_message_free_unpacked(msg, NULL);
	if (r < 0)
		return r;
	if (ret_resp)
		*ret_resp = cri_msg_to_json(resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

char *kl_write_hosts_file(const struct kl_runtime_opts *o, const struct pod *p, const char *pod_ip,
			  ndl_error_t *err)
{
	/* ensureHostsFile: a hostNetwork pod gets the node's own file (with
	 * a header), any other pod managedHostsFileContent; both end with the
	 * hostAliases. Rewritten at every container creation, so a new
	 * sandbox's IP shows. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return ndl_error_set(err, errno, "open_memstream"), NULL;
	if (p->host_network) {
		cleanup_free char *node = NULL;
		size_t nl = 0;
		if (ndl_read_file("/etc/hosts", 1 << 20, &node, &nl, err) < 0) {
			fclose(f);
			free(buf);
			return NULL;
		}
		fputs("# Kubernetes-managed hosts file (host network).\n", f);
		fwrite(node, 1, nl, f);
	} else {
		char host[64];
		kl_pod_hostname(p, host, sizeof(host));
		fputs("# Kubernetes-managed hosts file.\n"
		      "127.0.0.1\tlocalhost\n"
		      "::1\tlocalhost ip6-localhost ip6-loopback\n"
		      "fe00::0\tip6-localnet\n"
		      "fe00::0\tip6-mcastprefix\n"
		      "fe00::1\tip6-allnodes\n"
		      "fe00::2\tip6-allrouters\n",
		      f);
		/* GeneratePodHostNameAndDomain: with a subdomain, the domain
		 * is <subdomain>.<ns>.svc.<clusterDomain> even when the
		 * cluster domain is empty. */
		const char *cd = o->cfg->cluster_domain;
		if (p->subdomain && *p->subdomain)
			fprintf(f, "%s\t%s.%s.%s.svc.%s\t%s\n", pod_ip, host, p->subdomain,
				p->namespace, cd ? cd : "", host);
		else
			fprintf(f, "%s\t%s\n", pod_ip, host);
	}
	if (p->n_host_aliases) {
		fputs("\n# Entries added by HostAliases.\n", f);
		for (size_t i = 0; i < p->n_host_aliases; i++) {
			fputs(p->host_aliases[i].ip, f);
			for (size_t k = 0; k < p->host_aliases[i].hostnames.n; k++)
				fprintf(f, "\t%s", p->host_aliases[i].hostnames.v[k]);
			fputc('\n', f);
		}
	}
	fclose(f);
	cleanup_free char *pd = kl_pod_dir(o->root_dir, p->uid);
	char *path = xasprintf("%s/etc-hosts", pd);
	int r = ndl_mkdir_p(pd, 0750, err);
	if (r == 0)
		r = ndl_write_file_atomic(path, buf, len, 0644, err);
	free(buf);
	if (r < 0) {
		free(path);
		return NULL;
	}
	return path;
}

void kl_pod_hostname(const struct pod *p, char *buf, size_t size)
{
	/* GeneratePodHostNameAndDomain: spec.hostname, else the pod's name,
	 * cut to 63 characters (a static pod's name carries the node's, which
	 * can make it longer) without a trailing '-' or '.'
	 * (truncatePodHostnameIfNeeded). A hostNetwork pod has none. */
	if (p->host_network) {
		buf[0] = '\0';
		return;
	}
	const char *h = p->hostname && *p->hostname ? p->hostname : p->name;
	size_t n = strlen(h);
	if (n > 63) {
		n = 63;
		while (n > 0 && (h[n - 1] == '-' || h[n - 1] == '.'))
			n--;
	}
	if (n >= size)
		n = size - 1;
	memcpy(buf, h, n);
	buf[n] = '\0';
}

char *kl_pod_log_dir_of(const struct kl_runtime_opts *o, const char *ns, const char *name,
			const char *uid)
{
	return xasprintf("%s/%s_%s_%s", o->pod_logs_dir, ns, name, uid);
}

char *kl_pod_log_dir(const struct kl_runtime_opts *o, const struct pod *p)
{
	return kl_pod_log_dir_of(o, p->namespace, p->name, p->uid);
}

/* cgroupfs driver: <cgroupRoot>/kubepods[/burstable|/besteffort]/pod<uid>
 * (cm.GetPodContainerName); without cgroupsPerQOS the pods share the root. */
char *kl_pod_cgroup_parent(const struct kl_runtime_opts *o, const struct pod *p)
{
	const char *root = o->cfg->cgroup_root && *o->cfg->cgroup_root ? o->cfg->cgroup_root : "/";
	size_t rl = strlen(root);
	const char *sep = rl && root[rl - 1] == '/' ? "" : "/";
	if (!o->cfg->cgroups_per_qos)
		return strcmp(root, "/") == 0 ? xstrdup("") : xstrdup(root);
	enum pod_qos_class q = pod_qos_class(p);
	const char *qdir = q == POD_QOS_GUARANTEED ? "" :
			   q == POD_QOS_BURSTABLE  ? "/burstable" :
						     "/besteffort";
	return xasprintf("%s%skubepods%s/pod%s", root, sep, qdir, p->uid);
}

static void add_strv(json_t *arr, const struct pod_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(arr, json_string(v->v[i]));
}

/* resolv.conf nameserver/search/options lines. */
static void parse_resolv(const char *path, json_t *servers, json_t *searches, json_t *options)
{
	cleanup_free char *buf = NULL;
	size_t len;
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_read_file(path, 1 << 20, &buf, &len, &e) < 0) {
		log_warn("cannot read resolv.conf for pod DNS", "error=%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
		return;
	}
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s2 = NULL;
		char *key = strtok_r(line, " \t\r", &s2);
		if (!key || key[0] == '#' || key[0] == ';')
			continue;
		json_t *dst = strcmp(key, "nameserver") == 0 ? servers :
			      strcmp(key, "search") == 0   ? searches :
			      strcmp(key, "options") == 0  ? options :
							     NULL;
		if (!dst)
			continue;
		if (dst == searches)
			json_array_clear(searches); /* the last search line wins */
		for (char *w = strtok_r(NULL, " \t\r", &s2); w; w = strtok_r(NULL, " \t\r", &s2))
			json_array_append_new(dst, json_string(w));
	}
}

/* dns.Configurer.GetPodDNS. */
static json_t *dns_config(const struct kl_runtime_opts *o, const struct pod *p)
{
	json_t *servers = json_array(), *searches = json_array(), *options = json_array();
	const char *pol = p->dns_policy ? p->dns_policy : "ClusterFirst";
	bool cluster = false;
	if (strcmp(pol, "ClusterFirstWithHostNet") == 0)
		cluster = true;
	else if (strcmp(pol, "ClusterFirst") == 0)
		cluster = !p->host_network;
	if (cluster && o->cfg->n_cluster_dns == 0) {
		/* The kubelet falls back to the host's resolver when no cluster
		 * DNS is configured (standalone). */
		log_debug(2, "ClusterFirst without clusterDNS: using the host resolv.conf",
			  "pod=%s/%s", p->namespace, p->name);
		cluster = false;
	}
	if (strcmp(pol, "None") != 0) {
		if (cluster) {
			for (size_t i = 0; i < o->cfg->n_cluster_dns; i++)
				json_array_append_new(servers, json_string(o->cfg->cluster_dns[i]));
			const char *d = o->cfg->cluster_domain;
			if (d && *d) {
				json_array_append_new(searches,
						      json_string_take(
							      xasprintf("%s.svc.%s", p->namespace, d)));
				json_array_append_new(searches,
						      json_string_take(xasprintf("svc.%s", d)));
				json_array_append_new(searches, json_string(d));
			}
			json_t *hs = json_array(), *hsv = json_array(), *ho = json_array();
			parse_resolv(o->cfg->resolv_conf ? o->cfg->resolv_conf : "/etc/resolv.conf",
				     hsv, hs, ho);
			json_array_extend(searches, hs);
			json_decref(hs);
			json_decref(hsv);
			json_decref(ho);
			json_array_append_new(options, json_string("ndots:5"));
		} else if (o->cfg->resolv_conf && *o->cfg->resolv_conf) {
			parse_resolv(o->cfg->resolv_conf, servers, searches, options);
		}
	}
	/* pod.spec.dnsConfig is merged on top. */
	for (size_t i = 0; i < p->dns_nameservers.n; i++)
		json_array_append_new(servers, json_string(p->dns_nameservers.v[i]));
	for (size_t i = 0; i < p->dns_searches.n; i++)
		json_array_append_new(searches, json_string(p->dns_searches.v[i]));
	size_t i;
	json_t *opt;
	json_array_foreach(p->dns_options, i, opt)
	{
		const char *n = json_string_value(json_object_get(opt, "name"));
		const char *v = json_string_value(json_object_get(opt, "value"));
		if (!n)
			continue;
		json_array_append_new(options, v ? json_string_take(xasprintf("%s:%s", n, v)) :
						   json_string(n));
	}
	return json_pack("{s:o,s:o,s:o}", "servers", servers, "searches", searches, "options",
			 options);
}

static void label_common(json_t *labels, const struct pod *p)
{
	json_object_set_new(labels, KL_LABEL_POD_NAME, json_string(p->name));
	json_object_set_new(labels, KL_LABEL_POD_NAMESPACE, json_string(p->namespace));
	json_object_set_new(labels, KL_LABEL_POD_UID, json_string(p->uid));
}

static int64_t grace_seconds(const struct pod *p)
{
	return p->has_termination_grace_period_seconds ? p->termination_grace_period_seconds : 30;
}

json_t *kl_sandbox_config(const struct kl_runtime_opts *o, const struct pod *p, uint32_t attempt,
			  ndl_error_t *err)
{
	(void)err;
	json_t *labels = json_deep_copy(p->labels);
	label_common(labels, p);
	json_t *ann = json_deep_copy(p->annotations);
	json_t *ports = json_array();
	for (size_t k = 0; k < p->n_containers; k++) {
		const struct pod_container *c = &p->containers[k];
		for (size_t i = 0; i < c->n_ports; i++) {
			const struct pod_port *pp = &c->ports[i];
			if (pp->host_port <= 0)
				continue; /* the kubelet maps only ports with hostPort */
			json_t *m = json_pack("{s:s,s:i,s:i}", "protocol",
					      pp->protocol ? pp->protocol : "TCP", "container_port",
					      (json_int_t)pp->container_port, "host_port",
					      (json_int_t)pp->host_port);
			if (pp->host_ip && *pp->host_ip)
				json_object_set_new(m, "host_ip", json_string(pp->host_ip));
			json_array_append_new(ports, m);
		}
	}
	/* As generatePodSandboxConfig: a hostNetwork pod's sandbox gets no
	 * hostname (it shares the node's UTS namespace; containerd and runc
	 * refuse to set a hostname without a private one). */
	char hostname[64];
	kl_pod_hostname(p, hostname, sizeof(hostname));
	json_t *sysctls = json_object();
	for (size_t i = 0; i < p->n_sysctls; i++)
		json_object_set_new(sysctls, p->sysctls[i].name, json_string(p->sysctls[i].value));
	json_t *nsopt = json_pack("{s:s,s:s,s:s}", "network", p->host_network ? "NODE" : "POD", "pid",
				  p->host_pid		       ? "NODE" :
				  p->share_process_namespace ? "POD" :
								 "CONTAINER",
				  "ipc", p->host_ipc ? "NODE" : "POD");
	json_t *sc = json_pack("{s:o}", "namespace_options", nsopt);
	if (p->has_run_as_user)
		json_object_set_new(sc, "run_as_user",
				    json_pack("{s:I}", "value", (json_int_t)p->run_as_user));
	if (p->has_run_as_group)
		json_object_set_new(sc, "run_as_group",
				    json_pack("{s:I}", "value", (json_int_t)p->run_as_group));
	json_t *sg = json_array();
	for (size_t i = 0; i < p->n_supplemental_groups; i++)
		json_array_append_new(sg, json_integer(p->supplemental_groups[i]));
	if (p->has_fs_group)
		json_array_append_new(sg, json_integer(p->fs_group));
	json_object_set_new(sc, "supplemental_groups", sg);
	cleanup_free char *logdir = kl_pod_log_dir(o, p);
	cleanup_free char *cg = kl_pod_cgroup_parent(o, p);
	return json_pack(
		"{s:{s:s,s:s,s:s,s:i},s:s,s:s,s:o,s:o,s:o,s:o,s:{s:s,s:o,s:o}}", "metadata", "name",
		p->name, "namespace", p->namespace, "uid", p->uid, "attempt", (json_int_t)attempt,
		"hostname", hostname, "log_directory", logdir, "dns_config", dns_config(o, p),
		"port_mappings", ports, "labels", labels, "annotations", ann, "linux",
		"cgroup_parent", cg, "sysctls", sysctls, "security_context", sc);
}

static const char *env_lookup(const char *name, void *ud)
{
	return kubelet_env_get(ud, name);
}

static json_t *container_security(const struct pod *p, const struct pod_container *c)
{
	json_t *nsopt = json_pack("{s:s,s:s,s:s}", "network", p->host_network ? "NODE" : "POD", "pid",
				  p->host_pid		       ? "NODE" :
				  p->share_process_namespace ? "POD" :
								 "CONTAINER",
				  "ipc", p->host_ipc ? "NODE" : "POD");
	json_t *sc = json_pack("{s:o}", "namespace_options", nsopt);
	const struct pod_container_security *s = &c->sc;
	bool has_user = c->has_security_context && s->has_run_as_user;
	if (has_user || p->has_run_as_user)
		json_object_set_new(sc, "run_as_user",
				    json_pack("{s:I}", "value",
					      (json_int_t)(has_user ? s->run_as_user :
								      p->run_as_user)));
	bool has_group = c->has_security_context && s->has_run_as_group;
	if (has_group || p->has_run_as_group)
		json_object_set_new(sc, "run_as_group",
				    json_pack("{s:I}", "value",
					      (json_int_t)(has_group ? s->run_as_group :
								       p->run_as_group)));
	if (c->has_security_context) {
		if (s->privileged == TRI_TRUE)
			json_object_set_new(sc, "privileged", json_true());
		if (s->read_only_root_filesystem == TRI_TRUE)
			json_object_set_new(sc, "readonly_rootfs", json_true());
		if (s->allow_privilege_escalation == TRI_FALSE)
			json_object_set_new(sc, "no_new_privs", json_true());
		if (s->cap_add.n || s->cap_drop.n) {
			json_t *a = json_array(), *d = json_array();
			add_strv(a, &s->cap_add);
			add_strv(d, &s->cap_drop);
			json_object_set_new(sc, "capabilities",
					    json_pack("{s:o,s:o}", "add_capabilities", a,
						      "drop_capabilities", d));
		}
	}
	json_t *sg = json_array();
	for (size_t i = 0; i < p->n_supplemental_groups; i++)
		json_array_append_new(sg, json_integer(p->supplemental_groups[i]));
	if (p->has_fs_group)
		json_array_append_new(sg, json_integer(p->fs_group));
	json_object_set_new(sc, "supplemental_groups", sg);
	const struct pod_seccomp *sec = c->has_security_context && s->seccomp.type ? &s->seccomp :
										    &p->seccomp;
	if (sec->type) {
		const char *t = strcmp(sec->type, "RuntimeDefault") == 0 ? "RuntimeDefault" :
				strcmp(sec->type, "Localhost") == 0	 ? "Localhost" :
									   "Unconfined";
		json_t *prof = json_pack("{s:s}", "profile_type", t);
		if (sec->localhost_profile)
			json_object_set_new(prof, "localhost_ref",
					    json_string(sec->localhost_profile));
		json_object_set_new(sc, "seccomp", prof);
	}
	return sc;
}

json_t *kl_container_config(const struct kl_runtime_opts *o, const struct pod *p,
			    const struct pod_container *c, uint32_t restart_count,
			    const char *pod_ip, ndl_error_t *err)
{
	struct kubelet_env_context ctx = {
		.pod_ip = pod_ip ? pod_ip : "",
		.pod_ips = pod_ip ? pod_ip : "",
		.host_ip = o->host_ip ? o->host_ip : "",
		.host_ips = o->host_ip ? o->host_ip : "",
		.alloc_cpu_milli = 1000LL * sysconf(_SC_NPROCESSORS_ONLN),
		.alloc_memory = o->memory_capacity,
		.alloc_ephemeral_storage = 0,
	};
	struct kubelet_env env = {0};
	if (kubelet_container_env(p, c, &ctx, &env, err) < 0)
		return NULL;
	struct pod_strv cmd = {0}, args = {0};
	kubelet_expand_command(c, &env, &cmd, &args);
	json_t *envs = json_array();
	for (size_t i = 0; i < env.n; i++)
		json_array_append_new(envs, json_pack("{s:s,s:s}", "key", env.names[i], "value",
						      env.values[i]));
	json_t *jcmd = json_array(), *jargs = json_array();
	add_strv(jcmd, &cmd);
	add_strv(jargs, &args);
	kubelet_strv_free(&cmd);
	kubelet_strv_free(&args);
	kubelet_env_free(&env);
	(void)env_lookup;

	json_t *mounts = json_array();
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct pod_volume_mount *m = &c->mounts[i];
		char *hp = kl_volume_host_path(o, p, m->name);
		if (!hp) {
			json_decref(mounts);
			json_decref(envs);
			json_decref(jcmd);
			json_decref(jargs);
			ndl_error_setf(err, ENOENT,
				       "container %s: volumeMounts[%zu]: volume %s is not available",
				       c->name, i, m->name);
			return NULL;
		}
		if (m->sub_path && *m->sub_path) {
			char *sp = xasprintf("%s/%s", hp, m->sub_path);
			free(hp);
			hp = sp;
			ndl_error_t e2 = NDL_ERROR_INIT;
			if (!ndl_path_exists(hp) && ndl_mkdir_p(hp, 0755, &e2) < 0)
				ndl_error_clear(&e2);
		}
		const char *prop = !m->mount_propagation		       ? "PROPAGATION_PRIVATE" :
				   strcmp(m->mount_propagation, "Bidirectional") == 0 ?
									   "PROPAGATION_BIDIRECTIONAL" :
				   strcmp(m->mount_propagation, "HostToContainer") == 0 ?
									   "PROPAGATION_HOST_TO_CONTAINER" :
									   "PROPAGATION_PRIVATE";
		json_array_append_new(mounts, json_pack("{s:s,s:s,s:b,s:s}", "container_path",
							m->mount_path, "host_path", hp, "readonly",
							m->read_only, "propagation", prop));
		free(hp);
	}
	/* /etc/hosts: the kubelet's managed file, unless the container mounts
	 * something there itself (makeMounts). */
	bool own_hosts = false;
	for (size_t i = 0; i < c->n_mounts; i++)
		own_hosts |= strcmp(c->mounts[i].mount_path, "/etc/hosts") == 0;
	/* Only with pod IPs (a hostNetwork pod's are the node's). */
	const char *hosts_ip = p->host_network ? o->host_ip : pod_ip;
	if (!own_hosts && hosts_ip && *hosts_ip) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		cleanup_free char *hf = kl_write_hosts_file(o, p, hosts_ip, &e2);
		if (hf)
			json_array_append_new(mounts, json_pack("{s:s,s:s}", "container_path",
								"/etc/hosts", "host_path", hf));
		else
			log_warn("cannot write the pod's hosts file", "pod=%s/%s error=%s",
				 p->namespace, p->name, ndl_error_msg(&e2));
		ndl_error_clear(&e2);
	}
	/* /dev/termination-log: the kubelet mounts a per-container file. */
	if (c->termination_message_path && *c->termination_message_path) {
		cleanup_free char *pd = kl_pod_dir(o->root_dir, p->uid);
		cleanup_free char *dir = xasprintf("%s/containers/%s", pd, c->name);
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (ndl_mkdir_p(dir, 0750, &e2) == 0) {
			cleanup_free char *f = xasprintf("%s/%08x", dir, (unsigned)rand());
			FILE *fp = fopen(f, "we");
			if (fp) {
				fclose(fp);
				json_array_append_new(mounts,
						      json_pack("{s:s,s:s}", "container_path",
								c->termination_message_path,
								"host_path", f));
			}
		}
		ndl_error_clear(&e2);
	}

	struct kubelet_linux_resources res;
	int64_t period_us = o->cfg->cpu_cfs_quota_period_ns / 1000;
	if (period_us <= 0)
		period_us = KUBELET_QUOTA_PERIOD_US;
	kubelet_container_linux_resources(p, c, o->memory_capacity, o->cfg->cpu_cfs_quota,
					  period_us, &res);
	json_t *jres = json_object();
	if (res.cpu_period)
		json_object_set_new(jres, "cpu_period", json_integer(res.cpu_period));
	if (res.cpu_quota)
		json_object_set_new(jres, "cpu_quota", json_integer(res.cpu_quota));
	if (res.cpu_shares)
		json_object_set_new(jres, "cpu_shares", json_integer(res.cpu_shares));
	if (res.memory_limit_in_bytes)
		json_object_set_new(jres, "memory_limit_in_bytes",
				    json_integer(res.memory_limit_in_bytes));
	json_object_set_new(jres, "oom_score_adj", json_integer(res.oom_score_adj));

	json_t *labels = json_object();
	label_common(labels, p);
	json_object_set_new(labels, KL_LABEL_CONTAINER_NAME, json_string(c->name));
	char hb[16], sb[16], rc[16], gb[32];
	snprintf(hb, sizeof(hb), "%x", c->hash);
	snprintf(sb, sizeof(sb), "%x", c->spec_hash);
	snprintf(rc, sizeof(rc), "%u", restart_count);
	snprintf(gb, sizeof(gb), "%lld", (long long)grace_seconds(p));
	json_t *ann = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", KL_ANN_CONTAINER_HASH, hb,
				KL_ANN_SPEC_HASH, sb, KL_ANN_RESTART_COUNT, rc, KL_ANN_TERM_MSG_PATH,
				c->termination_message_path ? c->termination_message_path : "",
				KL_ANN_TERM_MSG_POLICY,
				c->termination_message_policy ? c->termination_message_policy :
								"File",
				KL_ANN_POD_GRACE, gb);
	/* The container's ports, as the kubelet keeps them: a preStop
	 * httpGet naming a port resolves from them when the spec is gone. */
	const json_t *ports = json_object_get(c->json, "ports");
	if (json_is_array(ports) && json_array_size(ports)) {
		cleanup_free char *ps_ = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(ann, KL_ANN_PORTS, json_string(ps_));
	}
	/* The preStop hook travels with the container so that a restarted
	 * nodelet can still run it for a pod whose manifest is gone.
	 * As the kubelet: the handler object (exec/httpGet/sleep) as JSON. */
	const json_t *ps = json_object_get(json_object_get(c->json, "lifecycle"), "preStop");
	if (c->pre_stop.type != POD_HANDLER_NONE && json_is_object(ps)) {
		cleanup_free char *hs = json_dumps(ps, JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(ann, KL_ANN_PRESTOP, json_string(hs));
	}
	cleanup_free char *logp = xasprintf("%s/%u.log", c->name, restart_count);
	json_t *cfgj = json_pack("{s:{s:s,s:i},s:{s:s},s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:b,s:b,"
				 "s:{s:o,s:o}}",
				 "metadata", "name", c->name, "attempt", (json_int_t)restart_count,
				 "image", "image", c->image, "command", jcmd, "args", jargs, "envs",
				 envs, "mounts", mounts, "labels", labels, "annotations", ann,
				 "log_path", logp, "stdin", c->stdin, "stdin_once", c->stdin_once,
				 "tty", c->tty, "linux", "resources", jres, "security_context",
				 container_security(p, c));
	if (c->working_dir && *c->working_dir)
		json_object_set_new(cfgj, "working_dir", json_string(c->working_dir));
	return cfgj;
}

/* serializeImagePulls / maxParallelImagePulls: at most this many PullImage
 * calls in flight across all pods (0 = no limit). */
static pthread_mutex_t pull_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pull_cv = PTHREAD_COND_INITIALIZER;
static int pull_limit, pull_active;

void kl_pull_limit_set(int limit)
{
	pthread_mutex_lock(&pull_mu);
	pull_limit = limit;
	pthread_mutex_unlock(&pull_mu);
}

/* The kubelet sees a CRI error as Go's gRPC prints it ("rpc error: code =
 * ... desc = ..."); our client names the method first. The message becomes
 * prefix (a format with one %s) followed by the error without that name. */
static int grpc_error_as_kubelet(ndl_error_t *err, const char *method, const char *prefix,
				 const char *arg)
{
	cleanup_free char *msg = xstrdup(ndl_error_msg(err));
	int code = err->code;
	size_t ml = strlen(method);
	const char *m = msg;
	if (strncmp(m, method, ml) == 0 && strncmp(m + ml, ": ", 2) == 0)
		m += ml + 2;
	char pre[512];
	snprintf(pre, sizeof(pre), prefix, arg);
	ndl_error_clear(err);
	return ndl_error_setf(err, code ? code : EIO, "%s%s", pre, m);
}

int kl_verify_run_as_non_root(struct cri_client *cc, const struct pod *p,
			      const struct pod_container *c, ndl_error_t *err)
{
	/* verifyRunAsNonRoot over the effective security context (the
	 * container's fields over the pod's). */
	pod_tristate_t nr = c->sc.run_as_non_root != TRI_UNSET ? c->sc.run_as_non_root :
								 p->run_as_non_root;
	if (nr != TRI_TRUE)
		return 0;
	if (c->sc.has_run_as_user || p->has_run_as_user) {
		int64_t uid = c->sc.has_run_as_user ? c->sc.run_as_user : p->run_as_user;
		if (uid != 0)
			return 0;
		return ndl_error_setf(err, EPERM,
				      "container's runAsUser breaks non-root policy (pod: \"%s_%s(%s)\", "
				      "container: %s)",
				      p->name, p->namespace, p->uid, c->name);
	}
	/* getImageUser: the image's numeric uid, else its user name; neither
	 * means root. */
	json_t *st = NULL;
	json_t *req = json_pack("{s:{s:s}}", "image", "image", c->image);
	int r = kl_cri(cc, "ImageStatus", req, KL_CRI_TIMEOUT, &st, err);
	json_decref(req);
	if (r < 0)
		return ndl_error_wrap(err, "get the image user of %s", c->image);
	const json_t *img = json_object_get(st, "image");
	const json_t *uidj = json_object_get(img, "uid");
	const char *user = json_string_value(json_object_get(img, "username"));
	int64_t uid = json_integer_value(json_object_get(uidj, "value")); /* 0: omitted */
	if (uidj && uid != 0) {
		json_decref(st);
		return 0;
	}
	if (!uidj && user && *user) {
		r = ndl_error_setf(err, EPERM,
				   "container has runAsNonRoot and image has non-numeric user (%s), cannot "
				   "verify user is non-root (pod: \"%s_%s(%s)\", container: %s)",
				   user, p->name, p->namespace, p->uid, c->name);
		json_decref(st);
		return r;
	}
	json_decref(st);
	return ndl_error_setf(err, EPERM,
			      "container has runAsNonRoot and image will run as root (pod: "
			      "\"%s_%s(%s)\", container: %s)",
			      p->name, p->namespace, p->uid, c->name);
}

int kl_ensure_image(struct cri_client *cc, const struct pod_container *c, json_t *sandbox_config,
		    const char **ret_reason, ndl_error_t *err)
{
	const char *pol = c->image_pull_policy ? c->image_pull_policy : "IfNotPresent";
	*ret_reason = NULL;
	if (strcmp(pol, "Always") != 0) {
		json_t *st = NULL;
		json_t *req = json_pack("{s:{s:s}}", "image", "image", c->image);
		int r = kl_cri(cc, "ImageStatus", req, KL_CRI_TIMEOUT, &st, err);
		json_decref(req);
		if (r < 0) {
			/* The image manager's ErrImageInspect. */
			*ret_reason = "ImageInspectError";
			return grpc_error_as_kubelet(err, "ImageStatus", "Failed to inspect image \"%s\": ",
						     c->image);
		}
		bool present = json_object_get(st, "image") != NULL;
		json_decref(st);
		if (present)
			return 0;
		if (strcmp(pol, "Never") == 0) {
			*ret_reason = "ErrImageNeverPull";
			return ndl_error_setf(err, ENOENT,
					      "Container image \"%s\" is not present with pull "
					      "policy of Never",
					      c->image);
		}
	}
	json_t *req = json_pack("{s:{s:s},s:O}", "image", "image", c->image, "sandbox_config",
				sandbox_config);
	pthread_mutex_lock(&pull_mu);
	while (pull_limit > 0 && pull_active >= pull_limit)
		pthread_cond_wait(&pull_cv, &pull_mu);
	pull_active++;
	pthread_mutex_unlock(&pull_mu);
	int r = kl_cri(cc, "PullImage", req, KL_CRI_NO_DEADLINE, NULL, err);
	pthread_mutex_lock(&pull_mu);
	pull_active--;
	pthread_cond_signal(&pull_cv);
	pthread_mutex_unlock(&pull_mu);
	json_decref(req);
	if (r < 0) {
		/* evalCRIPullErr's fallback: the runtime's error as it is. */
		*ret_reason = "ErrImagePull";
		return grpc_error_as_kubelet(err, "PullImage", "%s", "");
	}
	return 0;
}
