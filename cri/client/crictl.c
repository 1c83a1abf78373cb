/* nodelet-crictl: a tiny CRI client for tests and debugging. Every unary CRI
 * method is reachable with `call <Method> [JSON]`; a few crictl-like
 * shortcuts exist. Responses print as JSON with proto field names. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri/client/client.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: nodelet-crictl [-r ENDPOINT] [-t SECONDS] COMMAND\n"
		   "  -r, --runtime-endpoint  unix:///path (default unix:///run/nodelet/cri.sock,\n"
		   "                          or $CONTAINER_RUNTIME_ENDPOINT)\n"
		   "  -t, --timeout           per call, seconds (default 10)\n"
		   "  -s, --strict            fail (exit 3) if a response has fields unknown to "
		   "our proto\n"
		   "Commands:\n"
		   "  version | status [-v] | runtime-config | update-runtime-config POD_CIDR\n"
		   "  pods | ps | images | imagefsinfo\n"
		   "  call METHOD [JSON | @FILE | -]   any unary method, request as JSON\n"
		   "  methods                          list the methods\n");
}

/* --strict: fail when a response carries fields our proto does not know. */
static bool strict;

static int run_call(struct cri_client *c, const char *method, const char *json_text, int timeout_ms)
{
	const ProtobufCMessageDescriptor *reqd, *respd;
	int streaming;
	if (cri_method_lookup(method, NULL, &reqd, &respd, &streaming) < 0) {
		fprintf(stderr, "nodelet-crictl: unknown method \"%s\"\n", method);
		return 2;
	}
	ndl_error_t err = NDL_ERROR_INIT;
	cleanup_free char *buf = NULL;
	if (json_text && (json_text[0] == '@' || strcmp(json_text, "-") == 0)) {
		size_t len;
		int r = json_text[0] == '@'
			    ? ndl_read_file(json_text + 1, 16 << 20, &buf, &len, &err)
			    : ndl_read_fd(0, 16 << 20, &buf, &len, &err);
		if (r < 0) {
			fprintf(stderr, "nodelet-crictl: %s\n", ndl_error_msg(&err));
			ndl_error_clear(&err);
			return 2;
		}
		json_text = buf;
	}
	cleanup_json json_t *reqj = NULL;
	if (ndl_json_parse(json_text ? json_text : "{}", strlen(json_text ? json_text : "{}"),
			   &reqj, &err) < 0) {
		fprintf(stderr, "nodelet-crictl: request: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		return 2;
	}
	ProtobufCMessage *req = NULL;
	if (cri_msg_from_json(reqd, reqj, &req, &err) < 0) {
		fprintf(stderr, "nodelet-crictl: request: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		return 2;
	}
	ProtobufCMessage *resp = NULL;
	struct cri_call_status st = {0};
	int r = cri_client_call_by_name(c, method, req, timeout_ms, &resp, &st, &err);
	protobuf_c_message_free_unpacked(req, NULL);
	if (r < 0) {
		fprintf(stderr, "nodelet-crictl: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		/* Distinct exit code per gRPC status lets scripts tell them apart. */
		return st.code > 0 ? 10 + st.code : 1;
	}
	char where[512];
	size_t unknown = cri_msg_unknown_fields(resp, where, sizeof(where));
	cleanup_json json_t *out = cri_msg_to_json(resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (unknown && strict) {
		fprintf(stderr,
			"nodelet-crictl: %s response has %zu field(s) unknown to our proto, first "
			"at %s\n",
			method, unknown, where);
		return 3;
	}
	char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", s);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *endpoint = getenv("CONTAINER_RUNTIME_ENDPOINT");
	if (!endpoint || !*endpoint)
		endpoint = "unix:///run/nodelet/cri.sock";
	int timeout_ms = 10000;
	static const struct option opts[] = {{"runtime-endpoint", required_argument, NULL, 'r'},
					     {"timeout", required_argument, NULL, 't'},
					     {"strict", no_argument, NULL, 's'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "+r:t:sh", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			endpoint = optarg;
			break;
		case 't': {
			char *end = NULL;
			double t = strtod(optarg, &end);
			if (!*optarg || *end || t <= 0 || t > 86400) {
				fprintf(stderr, "nodelet-crictl: --timeout: invalid \"%s\"\n",
					optarg);
				return 2;
			}
			timeout_ms = (int)(t * 1000);
			break;
		}
		case 's':
			strict = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (strcmp(cmd, "methods") == 0) {
		const ProtobufCServiceDescriptor *svcs[] = {
		    &runtime__v1__runtime_service__descriptor,
		    &runtime__v1__image_service__descriptor};
		for (int s = 0; s < 2; s++)
			for (unsigned i = 0; i < svcs[s]->n_methods; i++)
				printf("%s/%s\n", svcs[s]->name, svcs[s]->methods[i].name);
		return 0;
	}
	ndl_error_t err = NDL_ERROR_INIT;
	struct cri_client *c = NULL;
	if (cri_client_connect(endpoint, &c, &err) < 0) {
		fprintf(stderr, "nodelet-crictl: %s\n", ndl_error_msg(&err));
		ndl_error_clear(&err);
		return 2;
	}
	int rc;
	cleanup_free char *body = NULL;
	if (strcmp(cmd, "call") == 0) {
		if (!arg) {
			usage(stderr);
			rc = 2;
		} else {
			rc = run_call(c, arg, optind + 2 < argc ? argv[optind + 2] : NULL,
				      timeout_ms);
		}
	} else if (strcmp(cmd, "events") == 0) {
		long max = arg ? strtol(arg, NULL, 10) : -1;
		struct cri_event_stream *es = NULL;
		rc = 0;
		if (cri_client_events_open(c, &es, &err) < 0) {
			fprintf(stderr, "nodelet-crictl: %s\n", ndl_error_msg(&err));
			rc = 1;
		}
		for (long n = 0; es && (max < 0 || n < max); n++) {
			Runtime__V1__ContainerEventResponse *e = NULL;
			int r = cri_client_events_next(es, timeout_ms, &e, &err);
			if (r == -ETIMEDOUT)
				break;
			if (r < 0) {
				fprintf(stderr, "nodelet-crictl: %s\n", ndl_error_msg(&err));
				rc = 1;
				break;
			}
			json_t *j = cri_msg_to_json(&e->base);
			char *line = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
			printf("%s\n", line);
			fflush(stdout);
			free(line);
			json_decref(j);
			runtime__v1__container_event_response__free_unpacked(e, NULL);
		}
		ndl_error_clear(&err);
		cri_client_events_close(es);
	} else if (strcmp(cmd, "version") == 0) {
		rc = run_call(c, "Version", "{}", timeout_ms);
	} else if (strcmp(cmd, "status") == 0) {
		bool v = arg && (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0);
		rc = run_call(c, "Status", v ? "{\"verbose\":true}" : "{}", timeout_ms);
	} else if (strcmp(cmd, "runtime-config") == 0) {
		rc = run_call(c, "RuntimeConfig", "{}", timeout_ms);
	} else if (strcmp(cmd, "update-runtime-config") == 0 && arg) {
		cleanup_json json_t *j =
		    json_pack("{s:{s:{s:s}}}", "runtime_config", "network_config", "pod_cidr", arg);
		body = json_dumps(j, 0);
		rc = run_call(c, "UpdateRuntimeConfig", body, timeout_ms);
	} else if (strcmp(cmd, "pods") == 0) {
		rc = run_call(c, "ListPodSandbox", "{}", timeout_ms);
	} else if (strcmp(cmd, "ps") == 0) {
		rc = run_call(c, "ListContainers", "{}", timeout_ms);
	} else if (strcmp(cmd, "images") == 0) {
		rc = run_call(c, "ListImages", "{}", timeout_ms);
	} else if (strcmp(cmd, "imagefsinfo") == 0) {
		rc = run_call(c, "ImageFsInfo", "{}", timeout_ms);
	} else {
		usage(stderr);
		rc = 2;
	}
	cri_client_close(c);
	return rc;
}
