/* kubelet-compatible command line: pflag syntax (--name=value, --name value,
 * boolean --name / --name=false, -v N shorthand), unknown flags rejected,
 * real kubelet flags we do not act on yet accepted with a warning so that
 * kubeadm drop-ins keep working. */
#include <stdio.h>
#include <string.h>

#include "config-internal.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* Flags of the real kubelet (current and recently removed) that nodelet
 * accepts and ignores. Bool ones do not consume the next argument. */
const struct kubelet_unused_flag kubelet_unused_flags[] = {
    {"bootstrap-kubeconfig", false},
    {"cert-dir", false},
    {"container-runtime", false},
    {"pod-infra-container-image", false},
    {"network-plugin", false},
    {"network-plugin-mtu", false},
    {"cni-bin-dir", false},
    {"cni-conf-dir", false},
    {"cni-cache-dir", false},
    {"node-labels", false},
    {"register-with-taints", false},
    {"register-schedulable", true},
    {"cloud-provider", false},
    {"cloud-config", false},
    {"provider-id", false},
    {"feature-gates", false},
    {"rotate-certificates", true},
    {"rotate-server-certificates", true},
    {"tls-cert-file", false},
    {"tls-private-key-file", false},
    {"tls-cipher-suites", false},
    {"tls-min-version", false},
    {"client-ca-file", false},
    {"anonymous-auth", true},
    {"authentication-token-webhook", true},
    {"authorization-mode", false},
    {"kube-reserved", false},
    {"system-reserved", false},
    {"kube-reserved-cgroup", false},
    {"system-reserved-cgroup", false},
    {"enforce-node-allocatable", false},
    {"eviction-soft", false},
    {"eviction-soft-grace-period", false},
    {"eviction-max-pod-grace-period", false},
    {"eviction-minimum-reclaim", false},
    {"volume-plugin-dir", false},
    {"kubelet-cgroups", false},
    {"runtime-cgroups", false},
    {"system-cgroups", false},
    {"log-dir", false},
    {"log-file", false},
    {"logtostderr", true},
    {"alsologtostderr", true},
    {"log-flush-frequency", false},
    {"logging-format", false},
    {"experimental-allocatable-ignore-eviction", true},
    {"node-status-max-images", false},
    {"allowed-unsafe-sysctls", false},
    {"lock-file", false},
    {"exit-on-lock-contention", true},
    {"seccomp-profile-root", false},
    {"image-credential-provider-config", false},
    {"image-credential-provider-bin-dir", false},
    {"keep-terminated-pod-volumes", true},
    {"reserved-cpus", false},
    {"topology-manager-scope", false},
    {"cpu-manager-reconcile-period", false},
    {"qos-reserved", false},
    {"pods-per-core", false},
    {"dynamic-config-dir", false},
    {"experimental-mounter-path", false},
    {"enable-controller-attach-detach", true},
    {"enable-server", true},
    {"housekeeping-interval", false},
    {"storage-driver-db", false},
    {"local-storage-capacity-isolation", true},
    {"containerd", false},
    {"docker-endpoint", false},
    {"image-pull-progress-deadline", false},
    {"master-service-namespace", false},
    {"non-masquerade-cidr", false},
    {"pod-cidr", false},
    {"redirect-container-streaming", true},
    {"runonce", true},
    {"vmodule", false},
    {"add-dir-header", true},
    {"skip-headers", true},
    {"skip-log-headers", true},
    {"stderrthreshold", false},
    {"one-output", true},
    {"log-file-max-size", false},
    {"log-backtrace-at", false},
    {"contention-profiling", true},
    {"profiling", true},
    {"node-lease-duration-seconds", false},
    {"image-gc-period", false},
    {"config-dir", false},
    /* The rest of the v1.28 flag list (options.go, globalflags, the
     * component-base logging flags). */
    {"minimum-container-ttl-duration", false},
    {"maximum-dead-containers-per-container", false},
    {"maximum-dead-containers", false},
    {"kernel-memcg-notification", true},
    {"experimental-check-node-capabilities-before-mount", true},
    {"reserved-memory", false},
    {"authentication-token-webhook-cache-ttl", false},
    {"authorization-webhook-cache-authorized-ttl", false},
    {"authorization-webhook-cache-unauthorized-ttl", false},
    {"manifest-url-header", false},
    {"cpu-manager-policy-options", false},
    {"topology-manager-policy-options", false},
    {"kube-api-content-type", false},
    {"azure-container-registry-config", false},
    {"log-json-split-stream", true},
    {"log-json-info-buffer-size", false},
};
const size_t kubelet_n_unused_flags =
    sizeof(kubelet_unused_flags) / sizeof(kubelet_unused_flags[0]);

static const struct kubelet_unused_flag *unused_by_name(const char *name)
{
	for (size_t i = 0; i < kubelet_n_unused_flags; i++)
		if (strcmp(kubelet_unused_flags[i].name, name) == 0)
			return &kubelet_unused_flags[i];
	return NULL;
}

/* The spellings strconv.ParseBool accepts. */
static bool parse_bool_ok(const char *v)
{
	static const char *const ok[] = {"1", "t", "T", "TRUE", "true", "True",
					 "0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(v, ok[i]) == 0)
			return true;
	return false;
}

int kubelet_flags_parse(int argc, char **argv, struct kubelet_flag_value **ret_values,
			size_t *ret_n, bool *ret_help, bool *ret_version, ndl_error_t *err)
{
	struct kubelet_flag_value *vals = xcalloc((size_t)argc + 1, sizeof(*vals));
	size_t n = 0;
	bool help = false, version = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char name[128];
		const char *value = NULL;
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc) {
				free(vals);
				return ndl_error_setf(err, EINVAL,
						      "unexpected argument \"%s\": nodelet takes "
						      "no positional arguments",
						      argv[i + 1]);
			}
			break;
		}
		if (a[0] != '-' || a[1] == 0) {
			free(vals);
			return ndl_error_setf(
			    err, EINVAL, "unknown command \"%s\": nodelet takes only flags", a);
		}
		const char *body;
		if (a[1] == '-') {
			body = a + 2;
		} else {
			/* Shorthands: -v N / -v=N / -vN and -h. */
			body = a + 1;
			if (body[0] != 'v' && body[0] != 'h') {
				free(vals);
				return ndl_error_setf(
				    err, EINVAL, "unknown shorthand flag: '%c' in %s", body[0], a);
			}
			if (body[0] == 'h' && body[1] == 0) {
				help = true;
				continue;
			}
			if (body[0] == 'v' && body[1] && body[1] != '=') {
				snprintf(name, sizeof(name), "v");
				vals[n++] = (struct kubelet_flag_value){kubelet_option_by_flag("v"),
									body + 1, a};
				continue;
			}
		}
		const char *eq = strchr(body, '=');
		size_t nlen = eq ? (size_t)(eq - body) : strlen(body);
		if (nlen == 0 || nlen >= sizeof(name)) {
			free(vals);
			return ndl_error_setf(err, EINVAL, "bad flag syntax: %s", a);
		}
		memcpy(name, body, nlen);
		name[nlen] = 0;
		if (eq)
			value = eq + 1;
		if (strcmp(name, "help") == 0) {
			help = true;
			continue;
		}
		if (strcmp(name, "version") == 0) {
			version = true;
			continue;
		}
		const struct kubelet_option *o = kubelet_option_by_flag(name);
		const struct kubelet_unused_flag *u = o ? NULL : unused_by_name(name);
		if (!o && !u) {
			free(vals);
			return ndl_error_setf(err, EINVAL, "unknown flag: --%s", name);
		}
		bool is_bool = o ? o->type == KOPT_BOOL : u->is_bool;
		if (!value) {
			if (is_bool) {
				value = "true";
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				free(vals);
				return ndl_error_setf(err, EINVAL, "flag needs an argument: --%s",
						      name);
			}
		}
		if (u && u->is_bool && !parse_bool_ok(value)) {
			/* pflag's strconv.ParseBool: a bad value stops startup
			 * even for a flag we ignore. */
			free(vals);
			return ndl_error_setf(err, EINVAL,
					      "invalid argument \"%s\" for \"--%s\" flag: "
					      "strconv.ParseBool: parsing \"%s\": invalid syntax",
					      value, name, value);
		}
		if (u) {
			log_warn("flag accepted but not used by nodelet", "flag=--%s", name);
			continue;
		}
		vals[n++] = (struct kubelet_flag_value){o, value, a};
	}
	*ret_values = vals;
	*ret_n = n;
	*ret_help = help;
	*ret_version = version;
	return 0;
}

void kubelet_flags_usage(FILE *f)
{
	fprintf(f, "Usage: nodelet [flags]\n\n"
		   "nodelet is a kubelet-compatible node agent. It runs the static pods of\n"
		   "--pod-manifest-path (or staticPodPath) on a CRI runtime, restarts and probes\n"
		   "their containers, and serves /pods and /healthz. Without --kubeconfig it runs\n"
		   "standalone.\n\nFlags:\n");
	for (size_t i = 0; i < kubelet_n_options; i++) {
		const struct kubelet_option *o = &kubelet_options[i];
		if (!o->flag)
			continue;
		/* The default comes from the same table row that sets it. */
		fprintf(f, "  --%-36s %s%s%s%s%s%s%s\n", o->flag, o->help,
			o->def ? (*o->help ? " (default " : "(default ") : "",
			o->def ? (*o->def ? o->def : "\"\"") : "", o->def ? ")" : "",
			o->field ? (*o->help || o->def ? "; " : "") : "",
			o->field ? "config field " : "", o->field ? o->field : "");
	}
	fprintf(f, "  -h, --help                             this help\n");
	fprintf(f, "      --version                          print the version\n\n");
	fprintf(f, "Accepted for compatibility with the kubelet, ignored with a warning:\n  ");
	int col = 2;
	for (size_t i = 0; i < kubelet_n_unused_flags; i++) {
		int w = (int)strlen(kubelet_unused_flags[i].name) + 3;
		if (col + w > 78) {
			fprintf(f, "\n  ");
			col = 2;
		}
		fprintf(f, "--%s ", kubelet_unused_flags[i].name);
		col += w;
	}
	fprintf(f, "\n");
}
