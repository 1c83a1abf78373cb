/* cribench: the CRI pod lifecycle driver of bench/cri. One process, one
 * gRPC channel per runtime (connected and warmed up with Version before any
 * timing), so client start-up and connection set-up stay out of the numbers
 * and both runtimes see the very same client code.
 *
 *   cribench -n 50 --sandbox SB.json --container CT.json
 *            --runtime NAME=ENDPOINT --runtime NAME=ENDPOINT
 *
 * Phase 1, for pod i = 0..n-1, runtimes in alternating order (pod 0 first
 * runtime first, pod 1 second runtime first, ...): RunPodSandbox,
 * CreateContainer, StartContainer, each timed. A JSON line per pod and
 * runtime goes to stdout; then the line {"phase":"running"} and the driver
 * waits for a line on stdin (the bench measures memory meanwhile).
 * Phase 2, same alternation: StopPodSandbox + RemovePodSandbox, timed.
 * Then {"phase":"done"}.
 *
 * The templates are CRI request messages in JSON (proto field names):
 * sandbox = PodSandboxConfig, container = ContainerConfig. Per pod the driver
 * makes metadata.name "<name>-<i>", metadata.uid "<runtime>-<i>-<pid>" and
 * log_directory "<log_directory>/<runtime>-<i>" so pods never collide.
 * Requests are built before the clock starts; only the RPC is timed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cri/client/client.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define MAX_RUNTIMES	4
#define CALL_TIMEOUT_MS (120 * 1000)

struct runtime {
	const char *name;
	const char *endpoint;
	struct cri_client *client;
	char **sandbox_ids; /* per pod */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, ndl_error_t *err)
{
	fprintf(stderr, "cribench: %s: %s\n", what, err ? ndl_error_msg(err) : "");
	exit(1);
}

/* The template with per-pod names filled in, as a typed message. */
static ProtobufCMessage *pod_message(const ProtobufCMessageDescriptor *desc, const json_t *tmpl,
				     const char *rt, int i, bool sandbox)
{
	cleanup_json json_t *j = json_deep_copy(tmpl);
	json_t *md = json_object_get(j, "metadata");
	if (!json_is_object(md)) {
		md = json_object();
		json_object_set_new(j, "metadata", md);
	}
	const char *base = json_string_value(json_object_get(md, "name"));
	cleanup_free char *name = xasprintf("%s-%d", base ? base : "bench", i);
	json_object_set_new(md, "name", json_string(name));
	if (sandbox) {
		cleanup_free char *uid = xasprintf("%s-%d-%d", rt, i, (int)getpid());
		json_object_set_new(md, "uid", json_string(uid));
		const char *ld = json_string_value(json_object_get(j, "log_directory"));
		if (ld) {
			cleanup_free char *d = xasprintf("%s/%s-%d", ld, rt, i);
			json_object_set_new(j, "log_directory", json_string(d));
		}
	}
	ndl_error_t err = NDL_ERROR_INIT;
	ProtobufCMessage *m = NULL;
	if (cri_msg_from_json(desc, j, &m, &err) < 0)
		die(sandbox ? "sandbox template" : "container template", &err);
	return m;
}

static void phase_start(struct runtime *r, int i, const json_t *sb_tmpl, const json_t *ct_tmpl)
{
	ndl_error_t err = NDL_ERROR_INIT;
	Runtime__V1__PodSandboxConfig *sbc = (Runtime__V1__PodSandboxConfig *)pod_message(
	    &runtime__v1__pod_sandbox_config__descriptor, sb_tmpl, r->name, i, true);
	Runtime__V1__ContainerConfig *ctc = (Runtime__V1__ContainerConfig *)pod_message(
	    &runtime__v1__container_config__descriptor, ct_tmpl, r->name, i, false);

	Runtime__V1__RunPodSandboxRequest rq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	rq.config = sbc;
	Runtime__V1__RunPodSandboxResponse *rr = NULL;
	double t0 = now_ms();
	if (cri_client_run_pod_sandbox(r->client, &rq, &rr, CALL_TIMEOUT_MS, &err) < 0)
		die(r->name, &err);
	double t1 = now_ms();
	r->sandbox_ids[i] = xstrdup(rr->pod_sandbox_id);

	Runtime__V1__CreateContainerRequest cq = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	cq.pod_sandbox_id = r->sandbox_ids[i];
	cq.config = ctc;
	cq.sandbox_config = sbc;
	Runtime__V1__CreateContainerResponse *cr = NULL;
	double t2 = now_ms();
	if (cri_client_create_container(r->client, &cq, &cr, CALL_TIMEOUT_MS, &err) < 0)
		die(r->name, &err);
	double t3 = now_ms();

	Runtime__V1__StartContainerRequest sq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	sq.container_id = cr->container_id;
	Runtime__V1__StartContainerResponse *sr = NULL;
	double t4 = now_ms();
	if (cri_client_start_container(r->client, &sq, &sr, CALL_TIMEOUT_MS, &err) < 0)
		die(r->name, &err);
	double t5 = now_ms();

	printf("{\"phase\":\"start\",\"runtime\":\"%s\",\"pod\":%d,\"runp\":%.3f,\"create\":%.3f,"
	       "\"start\":%.3f,\"sandbox\":\"%s\",\"container\":\"%s\"}\n",
	       r->name, i, t1 - t0, t3 - t2, t5 - t4, rr->pod_sandbox_id, cr->container_id);
	fflush(stdout);
	protobuf_c_message_free_unpacked(&rr->base, NULL);
	protobuf_c_message_free_unpacked(&cr->base, NULL);
	protobuf_c_message_free_unpacked(&sr->base, NULL);
	protobuf_c_message_free_unpacked(&sbc->base, NULL);
	protobuf_c_message_free_unpacked(&ctc->base, NULL);
}

static void phase_stop(struct runtime *r, int i)
{
	ndl_error_t err = NDL_ERROR_INIT;
	Runtime__V1__StopPodSandboxRequest sq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	sq.pod_sandbox_id = r->sandbox_ids[i];
	Runtime__V1__StopPodSandboxResponse *sr = NULL;
	double t0 = now_ms();
	if (cri_client_stop_pod_sandbox(r->client, &sq, &sr, CALL_TIMEOUT_MS, &err) < 0)
		die(r->name, &err);
	double t1 = now_ms();
	Runtime__V1__RemovePodSandboxRequest rq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	rq.pod_sandbox_id = r->sandbox_ids[i];
	Runtime__V1__RemovePodSandboxResponse *rr = NULL;
	double t2 = now_ms();
	if (cri_client_remove_pod_sandbox(r->client, &rq, &rr, CALL_TIMEOUT_MS, &err) < 0)
		die(r->name, &err);
	double t3 = now_ms();
	printf("{\"phase\":\"stop\",\"runtime\":\"%s\",\"pod\":%d,\"stopp\":%.3f,\"rmp\":%.3f}\n",
	       r->name, i, t1 - t0, t3 - t2);
	fflush(stdout);
	protobuf_c_message_free_unpacked(&sr->base, NULL);
	protobuf_c_message_free_unpacked(&rr->base, NULL);
}

static void usage(FILE *f)
{
	fputs("usage: cribench [-n PODS] --sandbox FILE --container FILE "
	      "--runtime NAME=ENDPOINT...\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pods", required_argument, NULL, 'n'},
	    {"sandbox", required_argument, NULL, 's'},
	    {"container", required_argument, NULL, 'c'},
	    {"runtime", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int n = 50, nrt = 0, opt;
	const char *sb_path = NULL, *ct_path = NULL;
	struct runtime rts[MAX_RUNTIMES] = {0};
	while ((opt = getopt_long(argc, argv, "n:s:c:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 's':
			sb_path = optarg;
			break;
		case 'c':
			ct_path = optarg;
			break;
		case 'r': {
			char *eq = strchr(optarg, '=');
			if (!eq || nrt == MAX_RUNTIMES) {
				usage(stderr);
				return 2;
			}
			*eq = 0;
			rts[nrt].name = optarg;
			rts[nrt].endpoint = eq + 1;
			nrt++;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (n <= 0 || nrt == 0 || !sb_path || !ct_path) {
		usage(stderr);
		return 2;
	}
	ndl_error_t err = NDL_ERROR_INIT;
	cleanup_json json_t *sb = NULL, *ct = NULL;
	if (ndl_json_load_file(sb_path, &sb, &err) < 0)
		die(sb_path, &err);
	if (ndl_json_load_file(ct_path, &ct, &err) < 0)
		die(ct_path, &err);

	for (int k = 0; k < nrt; k++) {
		if (cri_client_connect(rts[k].endpoint, &rts[k].client, &err) < 0)
			die(rts[k].endpoint, &err);
		/* The channel connects on the first call: do it now, untimed. */
		Runtime__V1__VersionRequest vq = RUNTIME__V1__VERSION_REQUEST__INIT;
		Runtime__V1__VersionResponse *vr = NULL;
		if (cri_client_version(rts[k].client, &vq, &vr, CALL_TIMEOUT_MS, &err) < 0)
			die(rts[k].name, &err);
		protobuf_c_message_free_unpacked(&vr->base, NULL);
		rts[k].sandbox_ids = xcalloc((size_t)n, sizeof(char *));
	}

	for (int i = 0; i < n; i++)
		for (int j = 0; j < nrt; j++)
			phase_start(&rts[(i + j) % nrt], i, sb, ct);
	puts("{\"phase\":\"running\"}");
	fflush(stdout);
	/* Wait for the bench to take its memory samples (EOF also proceeds). */
	char line[64];
	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		return 1;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < nrt; j++)
			phase_stop(&rts[(i + j) % nrt], i);
	puts("{\"phase\":\"done\"}");
	fflush(stdout);
	for (int k = 0; k < nrt; k++) {
		for (int i = 0; i < n; i++)
			free(rts[k].sandbox_ids[i]);
		free(rts[k].sandbox_ids);
		cri_client_close(rts[k].client);
	}
	return 0;
}
