/* cri/images: references, manifests, platforms, configs, registries.yaml,
 * WWW-Authenticate, chain IDs, layer unpack (whiteouts and refusals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

/* ---- references ---- */

static void check_ref(const char *in, const char *want_full, const char *want_familiar)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct image_ref r = {0};
	int rc = image_ref_parse(in, &r, &err);
	if (rc != 0)
		fail_msg("parse %s: %s", in, ndl_error_msg(&err));
	cleanup_free char *full = image_ref_string(&r);
	assert_string_equal(full, want_full);
	if (want_familiar) {
		cleanup_free char *fam = image_ref_familiar(&r);
		assert_string_equal(fam, want_familiar);
	}
	image_ref_free(&r);
}

static void check_bad_ref(const char *in, const char *want_substr)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct image_ref r = {0};
	assert_int_equal(image_ref_parse(in, &r, &err), -EINVAL);
	if (!strstr(ndl_error_msg(&err), want_substr))
		fail_msg("%s: error \"%s\" lacks \"%s\"", in, ndl_error_msg(&err), want_substr);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_reference_normalize(void **state)
{
	check_ref("busybox", "docker.io/library/busybox:latest", "busybox:latest");
	check_ref("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36");
	check_ref("library/busybox", "docker.io/library/busybox:latest", NULL);
	check_ref("docker.io/busybox", "docker.io/library/busybox:latest", NULL);
	check_ref("index.docker.io/library/busybox", "docker.io/library/busybox:latest", NULL);
	check_ref("user/app:v2", "docker.io/user/app:v2", "user/app:v2");
	check_ref("localhost/foo", "localhost/foo:latest", "localhost/foo:latest");
	check_ref("localhost:5000/foo/bar:baz", "localhost:5000/foo/bar:baz", NULL);
	check_ref("127.0.0.1:5000/a_b/c-d.e__f:t", "127.0.0.1:5000/a_b/c-d.e__f:t", NULL);
	check_ref("quay.io/a/b@" D64, "quay.io/a/b@" D64, NULL);
	check_ref("quay.io/a/b:tag@" D64, "quay.io/a/b:tag@" D64, NULL);
	check_ref("busybox@" D64, "docker.io/library/busybox@" D64, "busybox@" D64);
	check_ref("Registry.Example.com/x", "Registry.Example.com/x:latest", NULL);
	check_ref("[::1]:5000/x/y:1", "[::1]:5000/x/y:1", NULL);
	check_ref("[fe80::1]/x", "[fe80::1]/x:latest", NULL);
}

static void test_reference_invalid(void **state)
{
	check_bad_ref("", "empty");
	check_bad_ref("Busybox", "must be lowercase");
	check_bad_ref("docker.io/Library/busybox", "must be lowercase");
	check_bad_ref("a:b:c", "invalid reference format");
	check_bad_ref("a:-x", "invalid tag");
	check_bad_ref(":tag", "empty repository");
	check_bad_ref("a@sha256:abc", "invalid digest");
	check_bad_ref("a@md5:0123", "unsupported digest algorithm");
	check_bad_ref("a//b", "empty path component");
	check_bad_ref("-a", "start and end");
	check_bad_ref("a..b", "invalid separator");
	check_bad_ref("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		      "64-byte hexadecimal");
	check_bad_ref("host:99999999/x", "invalid domain");
	check_bad_ref("[::g]/x", "invalid domain");
	check_bad_ref("[::1/x", "invalid domain");
	check_bad_ref("a b", "invalid character");
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	check_bad_ref(longname, "255 characters");
}

/* ---- manifests ---- */

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static void test_manifest_parse(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct manifest m = {0};
	const char *oci = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
			  "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":7},"
			  "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
			  "\"digest\":\"" DB "\",\"size\":100},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
			  "\"digest\":\"" DC "\",\"size\":5}]}";
	assert_int_equal(manifest_parse(oci, strlen(oci), NULL, &m, &err), 0);
	assert_int_equal(m.kind, MANIFEST_IMAGE);
	assert_string_equal(m.config.digest, DA);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(m.layers[0].size, 100);
	assert_string_equal(m.layers[1].digest, DC);
	manifest_clear(&m);

	/* Docker v2 schema 2, no mediaType in the body but in Content-Type:
	 * decided from the document. */
	const char *docker = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
			     "\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"digest\":\"" DA "\",\"size\":7},"
			     "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
			     "\"digest\":\"" DB "\",\"size\":1}]}";
	assert_int_equal(manifest_parse(docker, strlen(docker), NULL, &m, &err), 0);
	assert_string_equal(m.media_type, MT_DOCKER_MANIFEST);
	manifest_clear(&m);

	const char *idx = "{\"schemaVersion\":2,\"manifests\":["
			  "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
			  "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
			  "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":1,"
			  "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
			  "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":1,"
			  "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
	assert_int_equal(manifest_parse(idx, strlen(idx), MT_OCI_INDEX, &m, &err), 0);
	assert_int_equal(m.kind, MANIFEST_INDEX);
	assert_int_equal(m.n_manifests, 3);
	const struct descriptor *d = NULL;
	struct platform amd = {"linux", "amd64", NULL}, arm64 = {"linux", "arm64", "v8"},
			armv7 = {"linux", "arm", "v7"}, s390 = {"linux", "s390x", NULL},
			win = {"windows", "amd64", NULL};
	assert_int_equal(manifest_select_platform(&m, &amd, &d, &err), 0);
	assert_string_equal(d->digest, DC);
	assert_int_equal(manifest_select_platform(&m, &arm64, &d, &err), 0);
	assert_string_equal(d->digest, DB);
	assert_int_equal(manifest_select_platform(&m, &armv7, &d, &err), 0);
	assert_string_equal(d->digest, DA); /* v6 runs on v7 */
	assert_int_equal(manifest_select_platform(&m, &s390, &d, &err), -ENOENT);
	assert_non_null(strstr(ndl_error_msg(&err), "linux/amd64"));
	assert_non_null(strstr(ndl_error_msg(&err), "no manifest for platform linux/s390x"));
	assert_int_equal(manifest_select_platform(&m, &win, &d, &err), -ENOENT);
	manifest_clear(&m);

	struct platform host;
	platform_host(&host);
	assert_string_equal(host.os, "linux");
	assert_non_null(host.arch);
}

static void check_bad_manifest(const char *doc, const char *want)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct manifest m = {0};
	assert_true(manifest_parse(doc, strlen(doc), NULL, &m, &err) < 0);
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" lacks \"%s\"", ndl_error_msg(&err), want);
}

static void test_manifest_invalid(void **state)
{
	check_bad_manifest("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", "schema 1 is not supported");
	check_bad_manifest("{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_V1_SIGNED "\"}", "schema 1");
	check_bad_manifest("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}",
			   "field \"config\": required");
	check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},"
			   "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:xyz\",\"size\":1}]}",
			   "layers[0].digest");
	check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},"
			   "\"layers\":[{\"mediaType\":\"application/x-foo\",\"digest\":\"" DB "\",\"size\":1}]}",
			   "unsupported layer type");
	check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":-4},\"layers\":[]}",
			   "config.size");
	check_bad_manifest("[1,2]", "expected object");
	check_bad_manifest("{", "manifest");
	check_bad_manifest("{\"schemaVersion\":2,\"mediaType\":\"application/foo\"}", "unsupported media type");
	check_bad_manifest("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":3}}]}",
			   "manifests[0].platform.os");
}

static void test_image_config(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	const char *doc = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
			  "\"Env\":[\"A=1\",\"PATH=/bin\"],\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"x\"],"
			  "\"WorkingDir\":\"/w\",\"User\":\"1:2\",\"ExposedPorts\":{\"80/tcp\":{}},"
			  "\"Volumes\":{\"/data\":{}},\"Labels\":{\"k\":\"v\"},\"StopSignal\":\"SIGINT\"},"
			  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\"]}}";
	struct image_config c = {0};
	char **diff = NULL;
	assert_int_equal(image_config_parse(doc, strlen(doc), &c, &diff, &err), 0);
	assert_string_equal(c.env[1], "PATH=/bin");
	assert_null(c.env[2]);
	assert_string_equal(c.entrypoint[0], "/bin/sh");
	assert_string_equal(c.cmd[0], "x");
	assert_string_equal(c.working_dir, "/w");
	assert_string_equal(c.user, "1:2");
	assert_string_equal(c.exposed_ports[0], "80/tcp");
	assert_string_equal(c.volumes[0], "/data");
	assert_string_equal(json_string_value(json_object_get(c.labels, "k")), "v");
	assert_string_equal(c.stop_signal, "SIGINT");
	assert_string_equal(c.architecture, "amd64");
	assert_int_equal(strv_len(diff), 2);
	image_config_free(&c);
	strv_free(diff);

	const char *bad = "{\"config\":{\"Env\":[1]},\"rootfs\":{\"diff_ids\":[]}}";
	assert_true(image_config_parse(bad, strlen(bad), &c, &diff, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "config.Env[0]"));
	const char *nodiff = "{\"config\":{}}";
	assert_true(image_config_parse(nodiff, strlen(nodiff), &c, &diff, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "rootfs"));
	const char *baddiff = "{\"rootfs\":{\"diff_ids\":[\"md5:1\"]}}";
	assert_true(image_config_parse(baddiff, strlen(baddiff), &c, &diff, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "rootfs.diff_ids[0]"));
}

static void test_chain_ids(void **state)
{
	char *diff[] = {DA, DB, DC, NULL};
	char **ch = chain_ids_compute(diff, 3);
	assert_string_equal(ch[0], DA);
	assert_string_equal(ch[1], "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
	assert_string_equal(ch[2], "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
	assert_null(ch[3]);
	strv_free(ch);
	cleanup_free char *d = digest_of("", 0);
	assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(digest_valid(D64));
	assert_false(digest_valid("sha256:0123"));
	assert_false(digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
}

/* ---- WWW-Authenticate, base64 ---- */

static void test_www_authenticate(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	struct auth_challenge c = {0};
	assert_int_equal(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
					      "service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
					      &c, &err),
			 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	auth_challenge_clear(&c);

	assert_int_equal(auth_challenge_parse("basic  Realm=\"my \\\"realm\\\"\" , charset=UTF-8", &c, &err), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "my \"realm\"");
	assert_null(c.service);
	auth_challenge_clear(&c);

	/* unquoted values, then a second challenge that must not leak in */
	assert_int_equal(auth_challenge_parse("Bearer realm=http://t/x,service=s, Basic realm=\"b\"", &c, &err), 0);
	assert_string_equal(c.realm, "http://t/x");
	assert_string_equal(c.service, "s");
	auth_challenge_clear(&c);

	assert_true(auth_challenge_parse("Bearer service=\"x\"", &c, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "without realm"));
	assert_true(auth_challenge_parse("Bearer realm=\"unterminated", &c, &err) < 0);
	assert_true(auth_challenge_parse("", &c, &err) < 0);
	assert_true(auth_challenge_parse(NULL, &c, &err) < 0);

	cleanup_free char *b = base64_encode("user:pa:ss", 10);
	assert_string_equal(b, "dXNlcjpwYTpzcw==");
	size_t n = 0;
	cleanup_free char *d = base64_decode(b, &n);
	assert_int_equal(n, 10);
	assert_string_equal(d, "user:pa:ss");
	assert_null(base64_decode("abc", NULL));
}

/* ---- registries.yaml ---- */

static void test_registries_yaml(void **state)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	const char *y = "mirrors:\n"
			"  docker.io:\n"
			"    endpoint:\n"
			"      - \"https://mirror.example.com:5000/\"\n"
			"      - \"http://10.0.0.1:5000\"\n"
			"    rewrite:\n"
			"      \"^library/(.*)\": \"mirrored/$1\"\n"
			"  \"*\":\n"
			"    endpoint: [\"https://catch-all\"]\n"
			"configs:\n"
			"  \"mirror.example.com:5000\":\n"
			"    auth:\n"
			"      username: u\n"
			"      password: p\n"
			"    tls:\n"
			"      ca_file: /etc/ca.pem\n"
			"      cert_file: /etc/c.pem\n"
			"      key_file: /etc/k.pem\n"
			"      insecure_skip_verify: true\n"
			"  other:\n"
			"    auth:\n"
			"      auth: dTpw\n";
	struct registry_config *c = NULL;
	assert_int_equal(registry_config_parse(y, strlen(y), &c, &err), 0);
	const struct registry_mirror *m = registry_config_mirror(c, "docker.io");
	assert_non_null(m);
	assert_string_equal(m->endpoints[0], "https://mirror.example.com:5000");
	assert_string_equal(m->endpoints[1], "http://10.0.0.1:5000");
	assert_null(m->endpoints[2]);
	cleanup_free char *rw = registry_rewrite(m, "library/busybox");
	assert_string_equal(rw, "mirrored/busybox");
	cleanup_free char *norw = registry_rewrite(m, "user/app");
	assert_string_equal(norw, "user/app");
	const struct registry_mirror *wild = registry_config_mirror(c, "quay.io");
	assert_non_null(wild);
	assert_string_equal(wild->host, "*");
	const struct registry_host_config *h = registry_config_host(c, "mirror.example.com:5000");
	assert_non_null(h);
	assert_string_equal(h->username, "u");
	assert_string_equal(h->password, "p");
	assert_string_equal(h->ca_file, "/etc/ca.pem");
	assert_true(h->insecure_skip_verify);
	assert_null(registry_config_host(c, "nothere"));
	assert_string_equal(registry_config_host(c, "other")->auth, "dTpw");
	registry_config_free(c);

	struct {
		const char *doc, *want;
	} bad[] = {
		{"mirrors: [1]\n", "field \"mirrors\": expected object"},
		{"mirrors:\n  d:\n    endpoint: [\"ftp://x\"]\n", "mirrors.d.endpoint[0]"},
		{"mirrors:\n  d:\n    endpoint: [3]\n", "mirrors.d.endpoint[0]"},
		{"mirrors:\n  d:\n    rewrite:\n      \"(\": x\n", "invalid regex"},
		/* Nested bounded repetition would make regcomp allocate gigabytes. */
		{"mirrors:\n  d:\n    rewrite:\n      \"((a{40}){40})\": x\n", "repeats too much"},
		{"mirrors:\n  d:\n    rewrite:\n      \"(x{2,999}){3}\": x\n", "repeats too much"},
		{"mirrors:\n  d:\n    rewrite:\n      \"a{1001}\": x\n", "repeats too much"},
		{"mirrors:\n  d:\n    rewrite:\n      \"i++++++++\": x\n", "repeats too much"},
		{"configs:\n  h:\n    tls:\n      cert_file: /c\n", "cert_file and key_file"},
		{"configs:\n  h:\n    tls:\n      insecure_skip_verify: maybe\n", "configs.h.tls"},
		{"configs:\n  h:\n    auth:\n      auth: \"!!notbase64\"\n", "configs.h.auth.auth"},
		{"- a\n", "top level"},
		{"mirrors: {a: [\n", "line"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		ndl_error_clear(&err);
		if (registry_config_parse(bad[i].doc, strlen(bad[i].doc), &c, &err) == 0)
			fail_msg("accepted: %s", bad[i].doc);
		if (!strstr(ndl_error_msg(&err), bad[i].want))
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].doc, ndl_error_msg(&err), bad[i].want);
	}
	assert_int_equal(registry_config_parse("", 0, &c, &err), 0);
	assert_null(registry_config_mirror(c, "docker.io"));
	registry_config_free(c);
}

/* ---- unpack ---- */

struct tent {
	const char *name;
	int type; /* AE_IF* or 'h' for hardlink */
	const char *data_or_target;
	mode_t mode;
	int major, minor;
};

/* A gzip'd pax tar in a memfd. */
static int make_layer(const struct tent *ents, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	size_t cap = 1 << 20, used = 0;
	char *buf = xmalloc(cap);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (ents[i].type == 'h') {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, ents[i].data_or_target);
			archive_entry_set_size(e, 0);
		} else {
			archive_entry_set_filetype(e, (unsigned)ents[i].type);
			archive_entry_set_perm(e, ents[i].mode ? ents[i].mode : 0644);
			if (ents[i].type == AE_IFLNK)
				archive_entry_set_symlink(e, ents[i].data_or_target);
			if (ents[i].type == AE_IFCHR)
				archive_entry_set_rdev(e, makedev(ents[i].major, ents[i].minor));
			if (ents[i].type == AE_IFREG)
				archive_entry_set_size(e, ents[i].data_or_target ? (la_int64_t)strlen(ents[i].data_or_target) : 0);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (ents[i].type == AE_IFREG && ents[i].data_or_target)
			archive_write_data(a, ents[i].data_or_target, strlen(ents[i].data_or_target));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, used), (ssize_t)used);
	lseek(fd, 0, SEEK_SET);
	free(buf);
	return fd;
}

struct tmpdirs {
	char base[64];
	int layer_fd;
};

static int setup_dirs(void **state)
{
	struct tmpdirs *t = xcalloc(1, sizeof(*t));
	strcpy(t->base, "/tmp/test-images-XXXXXX");
	assert_non_null(mkdtemp(t->base));
	char p[128];
	snprintf(p, sizeof(p), "%s/layer", t->base);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/outside", t->base);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/layer", t->base);
	t->layer_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = t;
	return 0;
}

static int teardown_dirs(void **state)
{
	struct tmpdirs *t = *state;
	close(t->layer_fd);
	ndl_rm_rf(t->base, NULL);
	free(t);
	return 0;
}

static int unpack(struct tmpdirs *t, const struct tent *ents, size_t n, ndl_error_t *err)
{
	int fd = make_layer(ents, n);
	struct unpack_limits lim = {1 << 20, 1000};
	int r = layer_unpack_fd(fd, t->layer_fd, &lim, err);
	close(fd);
	return r;
}

static void test_unpack_whiteouts(void **state)
{
	struct tmpdirs *t = *state;
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	const struct tent ents[] = {
		{"dir/", AE_IFDIR, NULL, 0750, 0, 0},
		{"dir/file", AE_IFREG, "hello", 0640, 0, 0},
		{"dir/link", AE_IFLNK, "/etc/passwd", 0777, 0, 0},
		{"dir/hard", 'h', "dir/file", 0, 0, 0},
		{"dir/.wh.gone", AE_IFREG, NULL, 0, 0, 0},
		{"opq/.wh..wh..opq", AE_IFREG, NULL, 0, 0, 0},
		{"opq/new", AE_IFREG, "n", 0, 0, 0},
		{"./dup", AE_IFREG, "first", 0, 0, 0},
		{"dup", AE_IFREG, "second", 0, 0, 0},
		{".wh..wh.plnk", AE_IFREG, NULL, 0, 0, 0},
	};
	int r = unpack(t, ents, sizeof(ents) / sizeof(ents[0]), &err);
	if (r != 0)
		fail_msg("unpack: %s", ndl_error_msg(&err));
	struct stat st;
	assert_int_equal(fstatat(t->layer_fd, "dir/gone", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	assert_int_equal(fstatat(t->layer_fd, "dir/.wh.gone", &st, AT_SYMLINK_NOFOLLOW), -1);
	char val[8] = "";
	char p[160];
	snprintf(p, sizeof(p), "%s/layer/opq", t->base);
	assert_int_equal(getxattr(p, "trusted.overlay.opaque", val, sizeof(val)), 1);
	assert_int_equal(val[0], 'y');
	assert_int_equal(fstatat(t->layer_fd, "opq/.wh..wh..opq", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(t->layer_fd, "dir", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(fstatat(t->layer_fd, "dir/file", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_mtim.tv_sec, 1700000000);
	char target[64] = "";
	assert_int_equal(readlinkat(t->layer_fd, "dir/link", target, sizeof(target)), 11);
	assert_memory_equal(target, "/etc/passwd", 11);
	cleanup_free char *dup = NULL;
	size_t len;
	assert_int_equal(ndl_read_file_at(t->layer_fd, "dup", 100, &dup, &len, &err), 0);
	assert_string_equal(dup, "second");
	assert_int_equal(fstatat(t->layer_fd, ".wh..wh.plnk", &st, AT_SYMLINK_NOFOLLOW), -1);
}

static void expect_refusal(struct tmpdirs *t, const struct tent *ents, size_t n, const char *want)
{
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	assert_true(unpack(t, ents, n, &err) < 0);
	if (!strstr(ndl_error_msg(&err), want))
		fail_msg("error \"%s\" lacks \"%s\"", ndl_error_msg(&err), want);
	/* Nothing landed next to the layer dir. */
	char p[128];
	snprintf(p, sizeof(p), "%s/outside", t->base);
	DIR *d = opendir(p);
	struct dirent *de;
	int count = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			count++;
	closedir(d);
	assert_int_equal(count, 0);
	snprintf(p, sizeof(p), "%s/escaped", t->base);
	assert_false(ndl_path_exists(p));
}

static void test_unpack_refusals(void **state)
{
	struct tmpdirs *t = *state;
	const struct tent dotdot[] = {{"../escaped", AE_IFREG, "x", 0, 0, 0}};
	expect_refusal(t, dotdot, 1, "entry \"../escaped\": path contains \"..\"");
	const struct tent dotdot2[] = {{"a/../../escaped", AE_IFREG, "x", 0, 0, 0}};
	expect_refusal(t, dotdot2, 1, "path contains \"..\"");
	const struct tent absolute[] = {{"/tmp/escaped", AE_IFREG, "x", 0, 0, 0}};
	expect_refusal(t, absolute, 1, "absolute path");
	const struct tent via_symlink[] = {
		{"out", AE_IFLNK, "../outside", 0777, 0, 0},
		{"out/pwned", AE_IFREG, "x", 0, 0, 0},
	};
	expect_refusal(t, via_symlink, 2, "entry \"out/pwned\": path goes through a symlink");
	const struct tent via_abs_symlink[] = {
		{"abs", AE_IFLNK, "/tmp", 0777, 0, 0},
		{"abs/escaped", AE_IFREG, "x", 0, 0, 0},
	};
	expect_refusal(t, via_abs_symlink, 2, "path goes through a symlink");
	const struct tent hard_out[] = {{"h", 'h', "../outside/x", 0, 0, 0}};
	expect_refusal(t, hard_out, 1, "hardlink target");
	const struct tent hard_via_link[] = {
		{"sl", AE_IFLNK, "/etc", 0777, 0, 0},
		{"h2", 'h', "sl/passwd", 0, 0, 0},
	};
	expect_refusal(t, hard_via_link, 2, "hardlink target");
	const struct tent dev[] = {{"null", AE_IFCHR, NULL, 0666, 1, 3}};
	expect_refusal(t, dev, 1, "entry \"null\": device nodes are not allowed");
	const struct tent wh_dotdot[] = {{"a/.wh...", AE_IFREG, NULL, 0, 0, 0}};
	expect_refusal(t, wh_dotdot, 1, "invalid whiteout");
	/* Over the size limit (1 MiB here). */
	char *big = xmalloc((2 << 20) + 1);
	memset(big, 'z', 2 << 20);
	big[2 << 20] = '\0';
	const struct tent large[] = {{"big", AE_IFREG, big, 0, 0, 0}};
	expect_refusal(t, large, 1, "layer larger than the limit");
	free(big);
}

static void test_unpack_entry_limit(void **state)
{
	struct tmpdirs *t = *state;
	struct tent many[1002];
	char names[1002][16];
	for (int i = 0; i < 1002; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		many[i] = (struct tent){names[i], AE_IFREG, "", 0, 0, 0};
	}
	expect_refusal(t, many, 1002, "more than 1000 entries");
}

static void test_unpack_garbage(void **state)
{
	struct tmpdirs *t = *state;
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	int fd = memfd_create("junk", MFD_CLOEXEC);
	assert_int_equal(write(fd, "\x1f\x8b\x08\x00garbage", 11), 11);
	lseek(fd, 0, SEEK_SET);
	struct unpack_limits lim = {1 << 20, 1000};
	assert_true(layer_unpack_fd(fd, t->layer_fd, &lim, &err) < 0);
	assert_non_null(strstr(ndl_error_msg(&err), "layer"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_normalize),
		cmocka_unit_test(test_reference_invalid),
		cmocka_unit_test(test_manifest_parse),
		cmocka_unit_test(test_manifest_invalid),
		cmocka_unit_test(test_image_config),
		cmocka_unit_test(test_chain_ids),
		cmocka_unit_test(test_www_authenticate),
		cmocka_unit_test(test_registries_yaml),
		cmocka_unit_test_setup_teardown(test_unpack_whiteouts, setup_dirs, teardown_dirs),
		cmocka_unit_test_setup_teardown(test_unpack_refusals, setup_dirs, teardown_dirs),
		cmocka_unit_test_setup_teardown(test_unpack_entry_limit, setup_dirs, teardown_dirs),
		cmocka_unit_test_setup_teardown(test_unpack_garbage, setup_dirs, teardown_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
