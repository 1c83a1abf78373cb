/* `nodelet-cri image ...`: the image store for people, on the same root the
 * daemon uses (all store operations take the store's file locks). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char usage_text[] =
	"usage: nodelet-cri image [options] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  pull REF                 pull an image from its registry (or a mirror)\n"
	"  import PATH...           import OCI layouts (dir or tar) or docker save archives\n"
	"  preload DIR              import every archive/layout in DIR\n"
	"  list                     list images\n"
	"  inspect NAME             show an image (id, tags, layers, config)\n"
	"  remove NAME...           remove images (a tag of a multi-tag image: untag)\n"
	"  mount NAME DIR           mount a read-only view of the image's root fs on DIR\n"
	"  unmount DIR              undo mount\n"
	"  gc                       delete unreferenced blobs and layers\n"
	"  usage                    disk usage of the store (bytes, inodes)\n"
	"\n"
	"options:\n"
	"  --root DIR               store root (default " IMAGES_DEFAULT_ROOT ")\n"
	"  --registry-config FILE   registries.yaml (mirrors, rewrites, TLS, auth)\n"
	"  --docker-config FILE     docker config.json with \"auths\"\n"
	"  -o, --output table|json  output format (default table)\n"
	"  -v, --v N                log verbosity (1: pull progress)\n"
	"  --max-layer-size BYTES   refuse layers that unpack larger than this\n"
	"  --parallel N             parallel blob downloads (default 3)\n"
	"  --tag REF                (import) name for an unnamed image\n"
	"  --username U --password P | --auth BASE64 | --identity-token T | --registry-token T\n"
	"                           (pull) credentials, as a CRI AuthConfig carries them\n";

static void print_size(uint64_t b, char *buf, size_t n)
{
	const char *u[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, n, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *info_json(const struct image_info *i, bool full)
{
	/* CRI's JSON (crictl) writes the uint64 size as a string. */
	char sz[32];
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)i->size);
	json_t *o = json_pack("{s:s,s:o,s:o,s:s}", "id", i->id, "repoTags", strv_json(i->repo_tags),
			      "repoDigests", strv_json(i->repo_digests), "size", sz);
	if (!full)
		return o;
	const struct image_config *c = &i->config;
	json_t *cfg = json_object();
	json_object_set_new(cfg, "Env", strv_json(c->env));
	if (c->entrypoint)
		json_object_set_new(cfg, "Entrypoint", strv_json(c->entrypoint));
	if (c->cmd)
		json_object_set_new(cfg, "Cmd", strv_json(c->cmd));
	if (c->working_dir)
		json_object_set_new(cfg, "WorkingDir", json_string(c->working_dir));
	if (c->user)
		json_object_set_new(cfg, "User", json_string(c->user));
	if (c->exposed_ports)
		json_object_set_new(cfg, "ExposedPorts", strv_json(c->exposed_ports));
	if (c->volumes)
		json_object_set_new(cfg, "Volumes", strv_json(c->volumes));
	json_object_set(cfg, "Labels", c->labels);
	if (c->stop_signal)
		json_object_set_new(cfg, "StopSignal", json_string(c->stop_signal));
	json_object_set_new(o, "manifestDigest", json_string(i->manifest_digest));
	json_object_set_new(o, "layers", strv_json(i->layers));
	json_object_set_new(o, "chainIds", strv_json(i->chain_ids));
	json_object_set_new(o, "created", json_integer(i->created));
	json_object_set_new(o, "os", json_string(c->os ? c->os : ""));
	json_object_set_new(o, "architecture", json_string(c->architecture ? c->architecture : ""));
	json_object_set_new(o, "config", cfg);
	return o;
}

static void print_json(json_t *j)
{
	char *s = ndl_json_dumps(j, true);
	printf("%s\n", s);
	free(s);
}

/* crictl-style name split: "docker.io/library/busybox:latest" -> repo, tag */
static void split_tag(const char *rt, char *repo, size_t rn, const char **tag)
{
	const char *slash = strrchr(rt, '/');
	const char *colon = strrchr(slash ? slash : rt, ':');
	size_t n = colon ? (size_t)(colon - rt) : strlen(rt);
	snprintf(repo, rn, "%.*s", (int)n, rt);
	*tag = colon ? colon + 1 : "<none>";
}

static int cmd_list(struct image_store *s, bool json, ndl_error_t *err)
{
	struct image_info *list = NULL;
	size_t n = 0;
	if (images_list(s, &list, &n, err) < 0)
		return -1;
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, info_json(&list[i], false));
		json_t *o = json_pack("{s:o}", "images", arr);
		print_json(o);
		json_decref(o);
	} else {
		printf("%-50s %-20s %-13s %s\n", "IMAGE", "TAG", "IMAGE ID", "SIZE");
		for (size_t i = 0; i < n; i++) {
			char sz[32], repo[512];
			print_size(list[i].size, sz, sizeof(sz));
			const char *tag;
			if (!list[i].repo_tags[0]) {
				const char *rd = list[i].repo_digests[0];
				snprintf(repo, sizeof(repo), "%.*s", rd ? (int)strcspn(rd, "@") : 6,
					 rd ? rd : "<none>");
				printf("%-50s %-20s %-13.13s %s\n", repo, "<none>", list[i].id + 7, sz);
			}
			for (size_t t = 0; list[i].repo_tags[t]; t++) {
				split_tag(list[i].repo_tags[t], repo, sizeof(repo), &tag);
				printf("%-50s %-20s %-13.13s %s\n", repo, tag, list[i].id + 7, sz);
			}
		}
	}
	image_info_list_free(list, n);
	return 0;
}

static int cmd_inspect(struct image_store *s, const char *name, bool json, ndl_error_t *err)
{
	struct image_info i = {0};
	if (images_get(s, name, &i, err) < 0)
		return -1;
	json_t *o = info_json(&i, true);
	if (json) {
		print_json(o);
	} else {
		char sz[32];
		print_size(i.size, sz, sizeof(sz));
		printf("ID:        %s\nManifest:  %s\nSize:      %s\nPlatform:  %s/%s\n", i.id,
		       i.manifest_digest, sz, i.config.os ? i.config.os : "?",
		       i.config.architecture ? i.config.architecture : "?");
		for (size_t t = 0; i.repo_tags[t]; t++)
			printf("Tag:       %s\n", i.repo_tags[t]);
		for (size_t t = 0; i.repo_digests[t]; t++)
			printf("Digest:    %s\n", i.repo_digests[t]);
		for (size_t l = 0; l < i.n_layers; l++)
			printf("Layer %-3zu  %s\n", l, i.layers[l]);
		char *cfg = ndl_json_dumps(json_object_get(o, "config"), true);
		printf("Config:    %s\n", cfg);
		free(cfg);
	}
	json_decref(o);
	image_info_free(&i);
	return 0;
}

int images_cli_main(int argc, char **argv)
{
	struct image_store_options opts = {0};
	struct image_auth auth = {0};
	const char *output = "table", *tag_as = NULL;
	int verbosity = 0;
	enum {
		O_ROOT = 256, O_REGCFG, O_DOCKERCFG, O_USER, O_PASS, O_AUTH, O_IDTOK, O_REGTOK, O_TAG,
		O_MAXLAYER, O_PARALLEL
	};
	static const struct option longopts[] = {
		{"root", required_argument, NULL, O_ROOT},
		{"registry-config", required_argument, NULL, O_REGCFG},
		{"docker-config", required_argument, NULL, O_DOCKERCFG},
		{"output", required_argument, NULL, 'o'},
		{"v", required_argument, NULL, 'v'},
		{"username", required_argument, NULL, O_USER},
		{"password", required_argument, NULL, O_PASS},
		{"auth", required_argument, NULL, O_AUTH},
		{"identity-token", required_argument, NULL, O_IDTOK},
		{"registry-token", required_argument, NULL, O_REGTOK},
		{"tag", required_argument, NULL, O_TAG},
		{"max-layer-size", required_argument, NULL, O_MAXLAYER},
		{"parallel", required_argument, NULL, O_PARALLEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "o:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ROOT: opts.root = optarg; break;
		case O_REGCFG: opts.registry_config = optarg; break;
		case O_DOCKERCFG: opts.docker_config = optarg; break;
		case 'o': output = optarg; break;
		case 'v': verbosity = atoi(optarg); break;
		case O_USER: auth.username = optarg; break;
		case O_PASS: auth.password = optarg; break;
		case O_AUTH: auth.auth = optarg; break;
		case O_IDTOK: auth.identity_token = optarg; break;
		case O_REGTOK: auth.registry_token = optarg; break;
		case O_TAG: tag_as = optarg; break;
		case O_MAXLAYER: opts.max_layer_bytes = strtoull(optarg, NULL, 10); break;
		case O_PARALLEL: opts.max_parallel = atoi(optarg); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (strcmp(output, "json") != 0 && strcmp(output, "table") != 0) {
		fprintf(stderr, "error: -o: want table or json, got \"%s\"\n", output);
		return 2;
	}
	bool json = strcmp(output, "json") == 0;
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	char **args = argv + optind;
	ndl_log_init(STDERR_FILENO, NDL_LOG_INFO, verbosity, false);

	struct {
		const char *name;
		int min, max;
	} const cmds[] = {{"pull", 1, 1},  {"import", 1, 64}, {"preload", 1, 1}, {"list", 0, 0},
			  {"ls", 0, 0},    {"inspect", 1, 1}, {"remove", 1, 64}, {"rm", 1, 64},
			  {"mount", 2, 2}, {"unmount", 1, 1}, {"gc", 0, 0},      {"usage", 0, 0}};
	bool known = false;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, cmd) == 0) {
			known = true;
			if (nargs < cmds[i].min || nargs > cmds[i].max) {
				fprintf(stderr, "error: %s: wrong number of arguments\n\n%s", cmd, usage_text);
				return 2;
			}
		}
	if (!known) {
		fprintf(stderr, "error: unknown command \"%s\"\n\n%s", cmd, usage_text);
		return 2;
	}

	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct image_store *s = NULL;
	if (images_store_open(&opts, &s, &err) < 0) {
		fprintf(stderr, "error: %s\n", ndl_error_msg(&err));
		return 1;
	}
	int r = 0;
	if (strcmp(cmd, "pull") == 0) {
		cleanup_free char *id = NULL;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = images_pull(s, args[0], &auth, &id, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r == 0) {
			double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			if (json) {
				json_t *o = json_pack("{s:s,s:s,s:f}", "image", args[0], "id", id, "seconds", secs);
				print_json(o);
				json_decref(o);
			} else {
				printf("%s\n", id);
			}
		}
	} else if (strcmp(cmd, "import") == 0) {
		json_t *out = json_array();
		for (int i = 0; i < nargs && r == 0; i++) {
			char **ids = NULL;
			r = images_import(s, args[i], tag_as, &ids, &err);
			for (size_t k = 0; r == 0 && ids[k]; k++) {
				if (!json)
					printf("%s\n", ids[k]);
				json_array_append_new(out, json_string(ids[k]));
			}
			strv_free(ids);
		}
		if (r == 0 && json) {
			json_t *o = json_pack("{s:o}", "ids", out);
			print_json(o);
			json_decref(o);
		} else {
			json_decref(out);
		}
	} else if (strcmp(cmd, "preload") == 0) {
		r = images_preload_dir(s, args[0], &err);
	} else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "ls") == 0) {
		r = cmd_list(s, json, &err);
	} else if (strcmp(cmd, "inspect") == 0) {
		r = cmd_inspect(s, args[0], json, &err);
	} else if (strcmp(cmd, "remove") == 0 || strcmp(cmd, "rm") == 0) {
		for (int i = 0; i < nargs && r == 0; i++) {
			r = images_remove(s, args[i], &err);
			if (r == 0 && !json)
				printf("Deleted: %s\n", args[i]);
		}
	} else if (strcmp(cmd, "mount") == 0) {
		r = images_mount_view(s, args[0], args[1], &err);
		if (r == 0 && !json)
			printf("%s\n", args[1]);
	} else if (strcmp(cmd, "unmount") == 0) {
		r = images_unmount_view(s, args[0], &err);
	} else if (strcmp(cmd, "gc") == 0) {
		r = images_gc(s, &err);
	} else if (strcmp(cmd, "usage") == 0) {
		struct images_usage u = {0};
		r = images_usage(s, &u, &err);
		if (r == 0) {
			if (json) {
				json_t *o = json_pack("{s:s,s:I,s:I}", "mountpoint", u.mountpoint, "usedBytes",
						      (json_int_t)u.used_bytes, "inodesUsed",
						      (json_int_t)u.inodes_used);
				print_json(o);
				json_decref(o);
			} else {
				printf("%-40s %-15s %s\n", "MOUNTPOINT", "USED BYTES", "INODES");
				printf("%-40s %-15llu %llu\n", u.mountpoint, (unsigned long long)u.used_bytes,
				       (unsigned long long)u.inodes_used);
			}
			free(u.mountpoint);
		}
	}
	images_store_close(s);
	if (r < 0) {
		fprintf(stderr, "error: %s\n", ndl_error_msg(&err));
		return 1;
	}
	return 0;
}
