/* nodelet-cnitool: drive the runtime-side CNI library from the command line,
 * with the interface of the reference `cnitool`:
 *   nodelet-cnitool add|check|del <network-name> <netns-path>
 *   nodelet-cnitool gc|status <network-name>
 * env: NETCONFPATH (default /etc/cni/net.d), CNI_PATH (plugin dirs, ':'),
 * CNI_IFNAME (default eth0), CNI_ARGS ("K=V;K=V"), CAP_ARGS (JSON object of
 * capability args), CNI_CONTAINERID (default derived from the netns path),
 * CNI_CACHE_DIR (default /var/lib/cni). ADD prints the result JSON.
 * gc: like the reference cnitool, without a list of valid attachments
 * (every cached attachment of the network is stale) unless
 * CNI_VALID_ATTACHMENTS names some: "ID/IFNAME,ID/IFNAME" (may be empty: an
 * empty list is sent to the plugins). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/network/cni.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static const char *env_or(const char *k, const char *def)
{
	const char *v = getenv(k);
	return v && *v ? v : def;
}

int main(int argc, char **argv)
{
	bool noattach = argc == 3 && (strcmp(argv[1], "gc") == 0 || strcmp(argv[1], "status") == 0);
	if (!noattach && (argc != 4 || (strcmp(argv[1], "add") && strcmp(argv[1], "del") &&
					strcmp(argv[1], "check")))) {
		fprintf(stderr, "usage: nodelet-cnitool add|check|del <network-name> <netns-path>\n"
				"       nodelet-cnitool gc|status <network-name>\n");
		return 2;
	}
	const char *cmd = argv[1], *netname = argv[2], *netns = noattach ? "" : argv[3];
	ndl_error_t err = NDL_ERROR_INIT;
	struct cni_netconf *net = NULL;
	if (cni_netconf_load_by_name(env_or("NETCONFPATH", CNI_DEFAULT_CONF_DIR), netname, &net,
				     &err) < 0) {
		fprintf(stderr, "nodelet-cnitool: %s\n", ndl_error_msg(&err));
		return 1;
	}
	/* Plugin dirs. */
	cleanup_free char *path_copy = xstrdup(env_or("CNI_PATH", CNI_DEFAULT_BIN_DIR));
	const char *dirs[64];
	size_t nd = 0;
	char *save = NULL;
	for (char *t = strtok_r(path_copy, ":", &save); t && nd < 63;
	     t = strtok_r(NULL, ":", &save))
		dirs[nd++] = t;
	dirs[nd] = NULL;
	struct cni_config cfg = {.bin_dirs = dirs,
				 .cache_dir = env_or("CNI_CACHE_DIR", CNI_DEFAULT_CACHE_DIR)};

	/* CNI_ARGS -> pairs. */
	cleanup_free char *args_copy = xstrdup(env_or("CNI_ARGS", ""));
	struct cni_arg args[64];
	size_t na = 0;
	save = NULL;
	for (char *t = strtok_r(args_copy, ";", &save); t && na < 64;
	     t = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(t, '=');
		if (!eq) {
			fprintf(stderr, "nodelet-cnitool: CNI_ARGS: \"%s\" is not KEY=VALUE\n", t);
			cni_netconf_free(net);
			return 2;
		}
		*eq = 0;
		args[na++] = (struct cni_arg){t, eq + 1};
	}
	cleanup_json json_t *caps = NULL;
	const char *caps_s = getenv("CAP_ARGS");
	if (caps_s && *caps_s &&
	    (ndl_json_parse(caps_s, strlen(caps_s), &caps, &err) < 0 || !json_is_object(caps))) {
		fprintf(stderr, "nodelet-cnitool: CAP_ARGS: %s\n",
			*ndl_error_msg(&err) ? ndl_error_msg(&err) : "expected a JSON object");
		cni_netconf_free(net);
		return 2;
	}
	/* cnitool derives the container ID from the netns path; any stable
	 * string will do: FNV-1a of the path, as 16 hex digits. */
	char idbuf[17];
	unsigned long long h = 1469598103934665603ULL;
	for (const char *p = netns; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(idbuf, sizeof(idbuf), "%016llx", h);

	struct cni_runtime rt = {
	    .container_id = env_or("CNI_CONTAINERID", idbuf),
	    .netns = netns,
	    .ifname = env_or("CNI_IFNAME", "eth0"),
	    .args = args,
	    .n_args = na,
	    .capability_args = caps,
	};
	int r;
	if (strcmp(cmd, "status") == 0) {
		r = cni_network_status(&cfg, net, &err);
	} else if (strcmp(cmd, "gc") == 0) {
		const char *va = getenv("CNI_VALID_ATTACHMENTS");
		cleanup_free char *va_copy = va ? xstrdup(va) : NULL;
		struct cni_attachment valid[64];
		size_t nv = 0;
		save = NULL;
		for (char *t = va_copy ? strtok_r(va_copy, ",", &save) : NULL; t;
		     t = strtok_r(NULL, ",", &save)) {
			char *slash = strchr(t, '/');
			if (!slash || nv == 64) {
				fprintf(stderr,
					"nodelet-cnitool: CNI_VALID_ATTACHMENTS: \"%s\" is not "
					"ID/IFNAME (at most 64)\n",
					t);
				cni_netconf_free(net);
				return 2;
			}
			*slash = 0;
			valid[nv++] = (struct cni_attachment){t, slash + 1};
		}
		r = cni_network_gc(&cfg, net, va ? valid : NULL, nv, &err);
	} else if (strcmp(cmd, "add") == 0) {
		json_t *result = NULL;
		r = cni_network_add(&cfg, net, &rt, &result, &err);
		if (r == 0) {
			char *s = json_dumps(result, JSON_INDENT(2));
			printf("%s\n", s);
			free(s);
			json_decref(result);
		}
	} else if (strcmp(cmd, "check") == 0) {
		r = cni_network_check(&cfg, net, &rt, &err);
	} else {
		r = cni_network_del(&cfg, net, &rt, &err);
	}
	if (r < 0)
		fprintf(stderr, "nodelet-cnitool: %s\n", ndl_error_msg(&err));
	ndl_error_clear(&err);
	cni_netconf_free(net);
	return r < 0 ? 1 : 0;
}
