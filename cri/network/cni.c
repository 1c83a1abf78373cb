/* CNI invocation from the runtime side: config list loading and validation,
 * plugin execution (posix_spawn, never setns here), chaining and the libcni
 * result cache. */
#include "cri/network/cni.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

extern char **environ;

static const char *const known_versions[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
					     "0.4.0", "1.0.0", "1.1.0", NULL};

void cni_netconf_free(struct cni_netconf *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->cni_version);
	free(n->source);
	free(n->bytes);
	if (n->list)
		json_decref(n->list);
	free(n);
}

int cni_version_cmp(const char *a, const char *b)
{
	unsigned va[3] = {0}, vb[3] = {0};
	int na = a ? sscanf(a, "%u.%u.%u", &va[0], &va[1], &va[2]) : 0;
	int nb = b ? sscanf(b, "%u.%u.%u", &vb[0], &vb[1], &vb[2]) : 0;
	if (na <= 0 && nb <= 0)
		return 0;
	if (na <= 0)
		return -1;
	if (nb <= 0)
		return 1;
	for (int i = 0; i < 3; i++)
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	return 0;
}

/* libcni's network name rule: it becomes part of file names (cache, leases). */
static bool valid_network_name(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (p == s ? !alnum : !(alnum || *p == '_' || *p == '.' || *p == '-'))
			return false;
	}
	return true;
}

static bool valid_plugin_type(const char *s)
{
	/* The type names a file in the bin dirs: no path components. */
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
	       strlen(s) < 256;
}

static int validate_version(const char *v, const char *where, ndl_error_t *err)
{
	for (size_t i = 0; known_versions[i]; i++)
		if (strcmp(v, known_versions[i]) == 0)
			return 0;
	return ndl_error_setf(err, EINVAL, "field \"%s\": unsupported CNI version \"%s\"", where,
			      v);
}

static int get_disable_flag(json_t *list, const char *key, bool *ret, ndl_error_t *err)
{
	json_t *dc = json_object_get(list, key);
	if (!dc || json_is_null(dc))
		return 0;
	if (json_is_boolean(dc)) {
		*ret = json_is_true(dc);
		return 0;
	}
	/* libcni also accepts the strings "true"/"false". */
	if (json_is_string(dc)) {
		const char *s = json_string_value(dc);
		if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) {
			*ret = strcasecmp(s, "true") == 0;
			return 0;
		}
	}
	return ndl_error_setf(err, EINVAL, "field \"%s\": expected boolean, got %s", key,
			      ndl_json_type_name(dc));
}

int cni_netconf_parse(const char *buf, size_t len, bool is_list, const char *source,
		      struct cni_netconf **ret, ndl_error_t *err)
{
	cleanup_json json_t *doc = NULL;
	if (ndl_json_parse(buf, len, &doc, err) < 0)
		return ndl_error_wrap(err, "%s", source);
	if (!json_is_object(doc))
		return ndl_error_setf(err, EINVAL, "%s: expected a JSON object, got %s", source,
				      ndl_json_type_name(doc));

	cleanup_json json_t *list = NULL;
	if (is_list) {
		list = json_incref(doc);
	} else {
		/* A single plugin conf becomes a list of one, as libcni's
		 * ConfListFromConf does. */
		const char *type = NULL;
		if (ndl_json_get_string(doc, "", "type", false, &type, err) < 0)
			return ndl_error_wrap(err, "%s", source);
		if (!type)
			return ndl_error_setf(err, EINVAL,
					      "%s: field \"type\": required (perhaps this is a "
					      ".conflist?)",
					      source);
		list = json_object();
		json_t *v;
		if ((v = json_object_get(doc, "name")))
			json_object_set(list, "name", v);
		if ((v = json_object_get(doc, "cniVersion")))
			json_object_set(list, "cniVersion", v);
		json_t *plugins = json_array();
		json_array_append(plugins, doc);
		json_object_set_new(list, "plugins", plugins);
	}

	const char *name = NULL, *version = NULL;
	json_t *plugins = NULL;
	bool disable_check = false, disable_gc = false;
	if (ndl_json_get_string(list, "", "name", true, &name, err) < 0 ||
	    ndl_json_get_string(list, "", "cniVersion", true, &version, err) < 0 ||
	    ndl_json_get_array(list, "", "plugins", true, &plugins, err) < 0 ||
	    get_disable_flag(list, "disableCheck", &disable_check, err) < 0 ||
	    get_disable_flag(list, "disableGC", &disable_gc, err) < 0)
		return ndl_error_wrap(err, "%s", source);
	if (!valid_network_name(name))
		return ndl_error_setf(err, EINVAL,
				      "%s: field \"name\": invalid network name \"%s\" (letters, "
				      "digits, '_', '.', '-'; starting with a letter or digit)",
				      source, name);
	if (validate_version(version, "cniVersion", err) < 0)
		return ndl_error_wrap(err, "%s", source);
	size_t n = json_array_size(plugins);
	if (n == 0)
		return ndl_error_setf(err, EINVAL, "%s: field \"plugins\": no plugins in list",
				      source);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(plugins, i);
		char where[32];
		snprintf(where, sizeof(where), "plugins[%zu]", i);
		if (!json_is_object(p))
			return ndl_error_setf(err, EINVAL,
					      "%s: field \"%s\": expected object, got %s", source,
					      where, ndl_json_type_name(p));
		const char *type = NULL, *pv = NULL;
		json_t *caps = NULL;
		if (ndl_json_get_string(p, where, "type", true, &type, err) < 0 ||
		    ndl_json_get_string(p, where, "cniVersion", false, &pv, err) < 0 ||
		    ndl_json_get_object(p, where, "capabilities", false, &caps, err) < 0)
			return ndl_error_wrap(err, "%s", source);
		if (!valid_plugin_type(type))
			return ndl_error_setf(err, EINVAL,
					      "%s: field \"%s.type\": invalid plugin type \"%s\"",
					      source, where, type);
		if (pv && strcmp(pv, version) != 0 && is_list) {
			/* libcni ignores a plugin's own cniVersion in a list (the list's
			 * wins); tell the admin, once, at debug level. */
			log_debug(2, "cni plugin cniVersion differs from list", "file=%s plugin=%s",
				  source, type);
		}
	}

	struct cni_netconf *nc = xcalloc(1, sizeof(*nc));
	nc->name = xstrdup(name);
	nc->cni_version = xstrdup(version);
	nc->source = xstrdup(source);
	nc->n_plugins = n;
	nc->disable_check = disable_check;
	nc->disable_gc = disable_gc;
	nc->bytes = is_list ? xstrndup(buf, len) : ndl_json_dumps(list, false);
	nc->list = steal_ptr(&list);
	*ret = nc;
	return 0;
}

struct cni_netconf *cni_loopback_netconf(void)
{
	static const char conf[] = "{\"cniVersion\":\"0.3.1\",\"name\":\"" CNI_LOOPBACK_NETWORK
				   "\",\"plugins\":[{\"type\":\"loopback\"}]}";
	struct cni_netconf *n = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	/* A constant that parses: failing here is a bug in this file. */
	if (cni_netconf_parse(conf, sizeof(conf) - 1, true, "<loopback>", &n, &err) < 0)
		abort();
	return n;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted config file names of dir with the extensions libcni looks for. */
static int list_conf_files(const char *dir, char ***ret, size_t *ret_n, ndl_error_t *err)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return ndl_error_set(err, errno, "CNI conf dir %s", dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!has_suffix(de->d_name, ".conflist") && !has_suffix(de->d_name, ".conf") &&
		    !has_suffix(de->d_name, ".json"))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t j = 0; j < n; j++)
		free(names[j]);
	free(names);
}

/* 1: not a regular file (skipped, as libcni's ConfFiles does), 0: loaded,
 * <0: error. */
static int load_one(const char *dir, const char *fname, struct cni_netconf **ret, ndl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, fname);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 1;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(path, CNI_MAX_CONF_SIZE, &buf, &len, err) < 0)
		return -EIO;
	return cni_netconf_parse(buf, len, has_suffix(fname, ".conflist"), path, ret, err);
}

int cni_netconf_load_dir(const char *dir, struct cni_netconf **ret, ndl_error_t *err)
{
	char **names = NULL;
	size_t n = 0;
	if (list_conf_files(dir, &names, &n, err) < 0)
		return -abs(err && err->code ? err->code : EIO);
	int r = 1;
	for (size_t i = 0; i < n && r == 1; i++)
		r = load_one(dir, names[i], ret, err);
	if (r == 1)
		r = ndl_error_setf(err, ENOENT, "no network config found in %s", dir);
	free_names(names, n);
	return r;
}

int cni_netconf_load_by_name(const char *dir, const char *name, struct cni_netconf **ret,
			     ndl_error_t *err)
{
	char **names = NULL;
	size_t n = 0;
	if (list_conf_files(dir, &names, &n, err) < 0)
		return -abs(err && err->code ? err->code : EIO);
	int r = 1;
	for (size_t i = 0; i < n && r != 0; i++) {
		struct cni_netconf *nc = NULL;
		ndl_error_t e = NDL_ERROR_INIT;
		/* Files that do not load are skipped here: they cannot be the one named. */
		if (load_one(dir, names[i], &nc, &e) == 0) {
			if (strcmp(nc->name, name) == 0) {
				*ret = nc;
				r = 0;
			} else {
				cni_netconf_free(nc);
			}
		}
		ndl_error_clear(&e);
	}
	if (r != 0)
		r = ndl_error_setf(err, ENOENT, "no network config named \"%s\" in %s", name, dir);
	free_names(names, n);
	return r;
}

size_t cni_k8s_args(struct cni_arg *out, const char *ns, const char *name, const char *infra_id,
		    const char *uid)
{
	out[0] = (struct cni_arg){"K8S_POD_NAMESPACE", ns};
	out[1] = (struct cni_arg){"K8S_POD_NAME", name};
	out[2] = (struct cni_arg){"K8S_POD_INFRA_CONTAINER_ID", infra_id};
	out[3] = (struct cni_arg){"K8S_POD_UID", uid};
	/* Plugins that do not know the K8S_* keys must not fail on them. */
	out[4] = (struct cni_arg){"IgnoreUnknown", "1"};
	return 5;
}

json_t *cni_ip_ranges(const char *pod_cidrs)
{
	if (!pod_cidrs || !*pod_cidrs)
		return NULL;
	json_t *sets = json_array();
	cleanup_free char *copy = xstrdup(pod_cidrs);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		if (*t)
			json_array_append_new(sets, json_pack("[{s:s}]", "subnet", t));
	}
	if (json_array_size(sets) == 0) {
		json_decref(sets);
		return NULL;
	}
	return sets;
}

char *cni_args_string(const struct cni_arg *args, size_t n)
{
	size_t cap = 1;
	for (size_t i = 0; i < n; i++)
		cap += strlen(args[i].key) + strlen(args[i].value ? args[i].value : "") + 2;
	char *s = xmalloc(cap);
	char *p = s;
	*p = 0;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s=%s", i ? ";" : "", args[i].key,
			     args[i].value ? args[i].value : "");
	return s;
}

static char *join_dirs(const char *const *dirs)
{
	size_t cap = 1;
	for (size_t i = 0; dirs && dirs[i]; i++)
		cap += strlen(dirs[i]) + 1;
	char *s = xmalloc(cap);
	*s = 0;
	for (size_t i = 0; dirs && dirs[i]; i++) {
		if (i)
			strcat(s, ":");
		strcat(s, dirs[i]);
	}
	return s;
}

char **cni_build_env(const char *command, const struct cni_config *cfg,
		     const struct cni_runtime *rt)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **env = xcalloc(n + 8, sizeof(*env));
	size_t k = 0;
	bool have_path = false;
	for (char **e = environ; e && *e; e++) {
		/* Our own CNI_* values must win over anything inherited. */
		if (strncmp(*e, "CNI_", 4) == 0)
			continue;
		if (strncmp(*e, "PATH=", 5) == 0)
			have_path = true;
		env[k++] = xstrdup(*e);
	}
	cleanup_free char *args = cni_args_string(rt->args, rt->n_args);
	cleanup_free char *path = join_dirs(cfg->bin_dirs);
	env[k++] = xasprintf("CNI_COMMAND=%s", command);
	env[k++] = xasprintf("CNI_CONTAINERID=%s", rt->container_id ? rt->container_id : "");
	env[k++] = xasprintf("CNI_NETNS=%s", rt->netns ? rt->netns : "");
	env[k++] = xasprintf("CNI_IFNAME=%s", rt->ifname ? rt->ifname : "");
	env[k++] = xasprintf("CNI_ARGS=%s", args);
	env[k++] = xasprintf("CNI_PATH=%s", path);
	/* Plugins run iptables, ip, etc.: give them a sane PATH when we have none. */
	if (!have_path)
		env[k++] =
		    xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env[k] = NULL;
	return env;
}

void cni_env_free(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

json_t *cni_plugin_stdin(const struct cni_netconf *net, size_t i, json_t *prev_result,
			 json_t *capability_args)
{
	json_t *plugin = json_array_get(json_object_get(net->list, "plugins"), i);
	json_t *conf = json_deep_copy(plugin);
	json_object_set_new(conf, "name", json_string(net->name));
	json_object_set_new(conf, "cniVersion", json_string(net->cni_version));
	if (prev_result)
		json_object_set(conf, "prevResult", prev_result);
	else
		json_object_del(conf, "prevResult");
	json_t *caps = json_object_get(plugin, "capabilities");
	json_t *rc = NULL;
	if (json_is_object(caps) && json_is_object(capability_args)) {
		const char *key;
		json_t *val;
		json_object_foreach(caps, key, val)
		{
			json_t *arg;
			if (!json_is_true(val) || !(arg = json_object_get(capability_args, key)))
				continue;
			if (!rc)
				rc = json_object();
			json_object_set(rc, key, arg);
		}
	}
	if (rc)
		json_object_set_new(conf, "runtimeConfig", rc);
	return conf;
}

static int find_plugin(const struct cni_config *cfg, const char *type, char **ret, ndl_error_t *err)
{
	for (size_t i = 0; cfg->bin_dirs && cfg->bin_dirs[i]; i++) {
		char *p = xasprintf("%s/%s", cfg->bin_dirs[i], type);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
			*ret = p;
			return 0;
		}
		free(p);
	}
	cleanup_free char *dirs = join_dirs(cfg->bin_dirs);
	return ndl_error_setf(err, ENOENT, "failed to find plugin \"%s\" in path [%s]", type, dirs);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turn a failed plugin's output into a message naming its CNI error code. */
static int plugin_failure(const char *type, const char *command, int status, const char *out,
			  size_t out_len, const char *errbuf, ndl_error_t *err)
{
	json_t *e = out_len ? json_loadb(out, out_len, 0, NULL) : NULL;
	if (json_is_object(e) && json_is_integer(json_object_get(e, "code"))) {
		long long code = json_integer_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "msg"));
		const char *details = json_string_value(json_object_get(e, "details"));
		int r = ndl_error_setf(
		    err, EIO, "plugin \"%s\" %s failed: code %lld: %s%s%s%s", type, command, code,
		    msg ? msg : "", details && *details ? " (" : "",
		    details && *details ? details : "", details && *details ? ")" : "");
		json_decref(e);
		return r;
	}
	if (e)
		json_decref(e);
	char st[64];
	if (WIFEXITED(status))
		snprintf(st, sizeof(st), "exit status %d", WEXITSTATUS(status));
	else
		snprintf(st, sizeof(st), "signal %d", WTERMSIG(status));
	return ndl_error_setf(err, EIO, "plugin \"%s\" %s failed: %s: %.*s%s", type, command, st,
			      (int)(errbuf && *errbuf ? strlen(errbuf) : out_len),
			      errbuf && *errbuf ? errbuf : (out ? out : ""), "");
}

int cni_exec_plugin(const struct cni_config *cfg, const char *type, char *const env[],
		    const char *stdin_data, size_t stdin_len, const char *command,
		    json_t **ret_output, ndl_error_t *err)
{
	cleanup_free char *path = NULL;
	if (find_plugin(cfg, type, &path, err) < 0)
		return -ENOENT;

	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		int r = ndl_error_set(err, errno, "plugin \"%s\": pipe", type);
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (out[i] >= 0)
				close(out[i]);
			if (errp[i] >= 0)
				close(errp[i]);
		}
		return r;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	/* The plugin gets default signal handling and an empty mask whatever the
	 * daemon's threads have blocked. */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = {(char *)path, NULL};
	pid_t pid;
	int sr = posix_spawn(&pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	if (sr != 0) {
		close(in[1]);
		close(out[0]);
		close(errp[0]);
		return ndl_error_set(err, sr, "plugin \"%s\": exec %s", type, path);
	}

	/* A plugin that exits without reading stdin must not kill us with SIGPIPE:
	 * block it on this thread and consume any that is raised. */
	sigset_t pipe_set, old_mask;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	bool epipe = false;

	fcntl(in[1], F_SETFL, O_NONBLOCK);
	size_t written = 0;
	if (stdin_len == 0) {
		close(in[1]);
		in[1] = -1;
	}
	char *obuf = NULL;
	size_t olen = 0, ocap = 0;
	char ebuf[4096];
	size_t elen = 0;
	int timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : CNI_DEFAULT_TIMEOUT_MS;
	long long deadline = now_ms() + timeout_ms;
	bool timed_out = false, too_big = false;
	while (out[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[3];
		int np = 0, i_in = -1, i_out = -1, i_err = -1;
		if (in[1] >= 0) {
			i_in = np;
			pfd[np++] = (struct pollfd){in[1], POLLOUT, 0};
		}
		if (out[0] >= 0) {
			i_out = np;
			pfd[np++] = (struct pollfd){out[0], POLLIN, 0};
		}
		if (errp[0] >= 0) {
			i_err = np;
			pfd[np++] = (struct pollfd){errp[0], POLLIN, 0};
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int pr = poll(pfd, (nfds_t)np, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		if (i_in >= 0 && pfd[i_in].revents) {
			ssize_t w = write(in[1], stdin_data + written, stdin_len - written);
			if (w > 0)
				written += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_len) {
				if (w < 0 && errno == EPIPE)
					epipe = true;
				close(in[1]);
				in[1] = -1;
			}
		}
		if (i_out >= 0 && pfd[i_out].revents) {
			if (ocap - olen < 65536) {
				ocap = ocap ? ocap * 2 : 65536;
				obuf = xrealloc(obuf, ocap + 1);
			}
			ssize_t r = read(out[0], obuf + olen, ocap - olen);
			if (r > 0) {
				olen += (size_t)r;
				if (olen > CNI_MAX_OUTPUT) {
					too_big = true;
					break;
				}
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(out[0]);
				out[0] = -1;
			}
		}
		if (i_err >= 0 && pfd[i_err].revents) {
			char tmp[4096];
			ssize_t r = read(errp[0], tmp, sizeof(tmp));
			if (r > 0) {
				/* Keep the first 4 KiB: the cause, not the tail of a trace. */
				size_t room = sizeof(ebuf) - 1 - elen;
				size_t k = (size_t)r < room ? (size_t)r : room;
				memcpy(ebuf + elen, tmp, k);
				elen += k;
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(errp[0]);
				errp[0] = -1;
			}
		}
	}
	ebuf[elen] = 0;
	while (elen && (ebuf[elen - 1] == '\n' || ebuf[elen - 1] == ' '))
		ebuf[--elen] = 0;
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	if (errp[0] >= 0)
		close(errp[0]);
	if (timed_out || too_big)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (epipe) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	cleanup_free char *output = obuf;
	if (output)
		output[olen] = 0;

	if (timed_out)
		return ndl_error_setf(err, ETIMEDOUT, "plugin \"%s\" %s: timed out after %d ms",
				      type, command, timeout_ms);
	if (too_big)
		return ndl_error_setf(err, EFBIG, "plugin \"%s\" %s: output larger than %d bytes",
				      type, command, CNI_MAX_OUTPUT);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return plugin_failure(type, command, status, output, olen, ebuf, err);
	/* Only whitespace: a DEL or CHECK has no result. */
	size_t k = 0;
	while (k < olen &&
	       (output[k] == ' ' || output[k] == '\n' || output[k] == '\t' || output[k] == '\r'))
		k++;
	if (k == olen) {
		*ret_output = NULL;
		return 0;
	}
	json_t *res = NULL;
	if (ndl_json_parse(output, olen, &res, err) < 0)
		return ndl_error_wrap(err, "plugin \"%s\" %s: invalid result", type, command);
	if (!json_is_object(res)) {
		json_decref(res);
		return ndl_error_setf(err, EINVAL, "plugin \"%s\" %s: result is not an object",
				      type, command);
	}
	*ret_output = res;
	return 0;
}

static const char *plugin_type(const struct cni_netconf *net, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(net->list, "plugins"), i), "type"));
}

static int run_one(const struct cni_config *cfg, const struct cni_netconf *net, size_t i,
		   const char *command, const struct cni_runtime *rt, json_t *prev, json_t *caps,
		   json_t **ret, ndl_error_t *err)
{
	cleanup_json json_t *conf = cni_plugin_stdin(net, i, prev, caps);
	cleanup_free char *data = ndl_json_dumps(conf, false);
	char **env = cni_build_env(command, cfg, rt);
	json_t *out = NULL;
	int r =
	    cni_exec_plugin(cfg, plugin_type(net, i), env, data, strlen(data), command, &out, err);
	cni_env_free(env);
	if (r < 0)
		return r;
	if (ret)
		*ret = out;
	else if (out)
		json_decref(out);
	return 0;
}

/* DEL over the list in reverse, every plugin even after a failure; the first
 * error is reported. */
static int del_list(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, json_t *prev, json_t *caps, size_t upto,
		    ndl_error_t *err)
{
	int first = 0;
	for (size_t i = upto; i-- > 0;) {
		ndl_error_t e = NDL_ERROR_INIT;
		if (run_one(cfg, net, i, "DEL", rt, prev, caps, NULL, &e) < 0) {
			if (first == 0) {
				first = -abs(e.code ? e.code : EIO);
				if (err) {
					ndl_error_clear(err);
					*err = e;
					e = (ndl_error_t)NDL_ERROR_INIT;
				}
			}
		}
		ndl_error_clear(&e);
	}
	return first;
}

int cni_network_add(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, json_t **ret_result, ndl_error_t *err)
{
	if (!rt->container_id || !*rt->container_id || !rt->ifname || !*rt->ifname || !rt->netns ||
	    !*rt->netns)
		return ndl_error_setf(err, EINVAL,
				      "CNI ADD: container id, netns and ifname are required");
	json_t *prev = NULL;
	for (size_t i = 0; i < net->n_plugins; i++) {
		json_t *res = NULL;
		if (run_one(cfg, net, i, "ADD", rt, prev, rt->capability_args, &res, err) < 0) {
			/* Undo what the earlier plugins (and this one, partially) set up. */
			ndl_error_t e2 = NDL_ERROR_INIT;
			del_list(cfg, net, rt, prev, rt->capability_args, i + 1, &e2);
			ndl_error_clear(&e2);
			if (prev)
				json_decref(prev);
			return ndl_error_wrap(err, "CNI ADD network \"%s\"", net->name);
		}
		if (res) {
			if (prev)
				json_decref(prev);
			prev = res;
		}
	}
	if (!prev)
		prev = json_pack("{s:s}", "cniVersion", net->cni_version);
	if (cni_cache_write(cfg, net, rt, prev, err) < 0) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		del_list(cfg, net, rt, prev, rt->capability_args, net->n_plugins, &e2);
		ndl_error_clear(&e2);
		json_decref(prev);
		return ndl_error_wrap(err, "CNI ADD network \"%s\"", net->name);
	}
	*ret_result = prev;
	return 0;
}

int cni_network_del(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, ndl_error_t *err)
{
	const char *name = net ? net->name : NULL;
	struct cni_netconf *cached = NULL;
	json_t *result = NULL, *caps = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (name && cni_cache_read(cfg, name, rt->container_id, rt->ifname, &cached, &result, &caps,
				   &e) < 0) {
		if (e.code != ENOENT)
			log_warn("ignoring unreadable CNI cache", "network=%s id=%s err=\"%s\"",
				 name, rt->container_id, ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
	const struct cni_netconf *use = cached ? cached : net;
	if (!use)
		return ndl_error_setf(err, ENOENT, "CNI DEL: no network config");
	json_t *use_caps = rt->capability_args ? rt->capability_args : caps;
	/* prevResult on DEL exists from 0.4.0 on. */
	json_t *prev = cni_version_cmp(use->cni_version, "0.4.0") >= 0 ? result : NULL;
	int r = del_list(cfg, use, rt, prev, use_caps, use->n_plugins, err);
	if (r == 0)
		r = cni_cache_remove(cfg, use->name, rt->container_id, rt->ifname, err);
	else
		ndl_error_wrap(err, "CNI DEL network \"%s\"", use->name);
	cni_netconf_free(cached);
	if (result)
		json_decref(result);
	if (caps)
		json_decref(caps);
	return r;
}

int cni_network_check(const struct cni_config *cfg, const struct cni_netconf *net,
		      const struct cni_runtime *rt, ndl_error_t *err)
{
	if (cni_version_cmp(net->cni_version, "0.4.0") < 0)
		return ndl_error_setf(err, EOPNOTSUPP,
				      "CNI CHECK network \"%s\": not supported by cniVersion %s",
				      net->name, net->cni_version);
	if (net->disable_check)
		return 0;
	struct cni_netconf *cached = NULL;
	json_t *result = NULL, *caps = NULL;
	if (cni_cache_read(cfg, net->name, rt->container_id, rt->ifname, &cached, &result, &caps,
			   err) < 0)
		return ndl_error_wrap(err, "CNI CHECK network \"%s\": cached result", net->name);
	int r = 0;
	for (size_t i = 0; i < net->n_plugins && r == 0; i++)
		r = run_one(cfg, net, i, "CHECK", rt, result,
			    rt->capability_args ? rt->capability_args : caps, NULL, err);
	if (r < 0)
		ndl_error_wrap(err, "CNI CHECK network \"%s\"", net->name);
	cni_netconf_free(cached);
	if (result)
		json_decref(result);
	if (caps)
		json_decref(caps);
	return r;
}

/* ---- STATUS and GC (CNI 1.1) ---- */

/* Run plugin i of net with conf as its stdin and no container (the
 * environment of STATUS and GC: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and
 * CNI_ARGS present but empty, as libcni sends them). */
static int run_noattach(const struct cni_config *cfg, const struct cni_netconf *net, size_t i,
			const char *command, json_t *conf, ndl_error_t *err)
{
	struct cni_runtime none = {0};
	cleanup_free char *data = ndl_json_dumps(conf, false);
	char **env = cni_build_env(command, cfg, &none);
	json_t *out = NULL;
	int r =
	    cni_exec_plugin(cfg, plugin_type(net, i), env, data, strlen(data), command, &out, err);
	cni_env_free(env);
	if (out)
		json_decref(out);
	return r;
}

int cni_network_status(const struct cni_config *cfg, const struct cni_netconf *net,
		       ndl_error_t *err)
{
	if (cni_version_cmp(net->cni_version, "1.1.0") < 0)
		return 0;
	for (size_t i = 0; i < net->n_plugins; i++) {
		cleanup_json json_t *conf = cni_plugin_stdin(net, i, NULL, NULL);
		if (run_noattach(cfg, net, i, "STATUS", conf, err) < 0)
			return ndl_error_wrap(err, "CNI STATUS network \"%s\"", net->name);
	}
	return 0;
}

/* Keep the first error in err, count the rest. */
static void gc_fail(ndl_error_t *err, ndl_error_t *e, int *first, size_t *nfail)
{
	if (*first == 0) {
		*first = -abs(e->code ? e->code : EIO);
		if (err) {
			ndl_error_clear(err);
			*err = *e;
			*e = (ndl_error_t)NDL_ERROR_INIT;
		}
	}
	(*nfail)++;
	ndl_error_clear(e);
}

static bool attachment_valid(const struct cni_attachment *valid, size_t n, const char *id,
			     const char *ifname)
{
	for (size_t i = 0; valid && i < n; i++)
		if (strcmp(valid[i].container_id, id) == 0 && strcmp(valid[i].ifname, ifname) == 0)
			return true;
	return false;
}

/* DEL of one cached attachment of net that the runtime no longer knows,
 * with what the cache recorded about it (libcni: GetCachedAttachments). */
static int gc_del_cached(const struct cni_config *cfg, const struct cni_netconf *net,
			 const json_t *rec, ndl_error_t *err)
{
	const char *id = json_string_value(json_object_get(rec, "containerId"));
	const char *ifname = json_string_value(json_object_get(rec, "ifName"));
	json_t *cargs = json_object_get(rec, "cniArgs");
	size_t na = json_array_size(cargs);
	struct cni_arg *args = xcalloc(na ? na : 1, sizeof(*args));
	size_t k = 0;
	for (size_t i = 0; i < na; i++) {
		json_t *pair = json_array_get(cargs, i);
		const char *key = json_string_value(json_array_get(pair, 0));
		const char *val = json_string_value(json_array_get(pair, 1));
		if (key)
			args[k++] = (struct cni_arg){key, val ? val : ""};
	}
	json_t *caps = json_object_get(rec, "capabilityArgs");
	struct cni_runtime rt = {
	    .container_id = id,
	    .netns = json_string_value(json_object_get(rec, "netns")),
	    .ifname = ifname,
	    .args = args,
	    .n_args = k,
	    .capability_args = json_is_object(caps) ? caps : NULL,
	};
	log_debug(2, "CNI GC: DEL of a stale attachment", "network=%s id=%s ifname=%s", net->name,
		  id, ifname);
	int r = cni_network_del(cfg, net, &rt, err);
	if (r < 0)
		ndl_error_wrap(err, "stale attachment %s %s", id, ifname);
	free(args);
	return r;
}

int cni_network_gc(const struct cni_config *cfg, const struct cni_netconf *net,
		   const struct cni_attachment *valid, size_t n_valid, ndl_error_t *err)
{
	if (net->disable_gc)
		return 0;
	int first = 0;
	size_t nfail = 0;
	ndl_error_t e = NDL_ERROR_INIT;

	/* (1) Cached attachments of this network the caller did not name. */
	cleanup_free char *rdir =
	    xasprintf("%s/results", cfg->cache_dir ? cfg->cache_dir : CNI_DEFAULT_CACHE_DIR);
	char **names = NULL;
	size_t n = 0;
	{
		cleanup_closedir DIR *d = opendir(rdir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			/* Only "<net>-<id>-<ifname>" files; temp files of a writer
			 * (".tmp.") are not records. */
			size_t ln = strlen(net->name);
			if (strncmp(de->d_name, net->name, ln) != 0 || de->d_name[ln] != '-' ||
			    strstr(de->d_name, ".tmp."))
				continue;
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path = xasprintf("%s/%s", rdir, names[i]);
		cleanup_json json_t *rec = NULL;
		if (ndl_json_load_file(path, &rec, &e) < 0) {
			log_debug(2, "CNI GC: unreadable cache entry skipped", "path=%s err=\"%s\"",
				  path, ndl_error_msg(&e));
			ndl_error_clear(&e);
			continue;
		}
		const char *kind = json_string_value(json_object_get(rec, "kind"));
		const char *rnet = json_string_value(json_object_get(rec, "networkName"));
		const char *id = json_string_value(json_object_get(rec, "containerId"));
		const char *ifname = json_string_value(json_object_get(rec, "ifName"));
		/* A network whose name is a prefix of another's ("pods" and
		 * "pods-b") shares file name prefixes: the record decides. */
		if (!kind || strcmp(kind, "cniCacheV1") != 0 || !rnet ||
		    strcmp(rnet, net->name) != 0 || !id || !*id || !ifname || !*ifname)
			continue;
		if (valid && attachment_valid(valid, n_valid, id, ifname))
			continue;
		if (gc_del_cached(cfg, net, rec, &e) < 0)
			gc_fail(err, &e, &first, &nfail);
	}
	free_names(names, n);

	/* (2) The plugins' own GC, from CNI 1.1 on. */
	if (cni_version_cmp(net->cni_version, "1.1.0") >= 0) {
		json_t *va = NULL;
		if (valid) {
			va = json_array();
			for (size_t i = 0; i < n_valid; i++)
				json_array_append_new(va, json_pack("{s:s,s:s}", "containerID",
								    valid[i].container_id, "ifname",
								    valid[i].ifname));
		}
		for (size_t i = 0; i < net->n_plugins; i++) {
			cleanup_json json_t *conf = cni_plugin_stdin(net, i, NULL, NULL);
			if (va) {
				json_object_set(conf, "cni.dev/valid-attachments", va);
				/* The spelling the 1.1.0 spec text used (libcni sends both). */
				json_object_set(conf, "cni.dev/attachments", va);
			}
			if (run_noattach(cfg, net, i, "GC", conf, &e) < 0)
				gc_fail(err, &e, &first, &nfail);
		}
		if (va)
			json_decref(va);
	}
	if (first < 0)
		return ndl_error_wrap(err, "CNI GC network \"%s\" (%zu failure%s)", net->name,
				      nfail, nfail == 1 ? "" : "s");
	return 0;
}

/* ---- result cache ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64chars[(v >> 18) & 63];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

/* Standard base64 with padding, as Go's encoding/json writes []byte. */
static unsigned char *b64_decode(const char *in, size_t *ret_len)
{
	size_t len = strlen(in);
	if (len % 4)
		return NULL;
	unsigned char *out = xmalloc(len / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = in[i + k] == '=' ? 0 : b64_val(in[i + k]);
			if (v[k] < 0 || (in[i + k] == '=' && (i + 4 < len || k < 2))) {
				free(out);
				return NULL;
			}
		}
		if (in[i + 2] == '=' && in[i + 3] != '=') {
			free(out);
			return NULL;
		}
		unsigned x = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		out[o++] = (unsigned char)(x >> 16);
		if (in[i + 2] != '=')
			out[o++] = (unsigned char)(x >> 8);
		if (in[i + 3] != '=')
			out[o++] = (unsigned char)x;
	}
	out[o] = 0;
	*ret_len = o;
	return out;
}

char *cni_cache_path(const struct cni_config *cfg, const char *net_name, const char *container_id,
		     const char *ifname)
{
	return xasprintf("%s/results/%s-%s-%s",
			 cfg->cache_dir ? cfg->cache_dir : CNI_DEFAULT_CACHE_DIR, net_name,
			 container_id, ifname);
}

json_t *cni_cache_record(const struct cni_netconf *net, const struct cni_runtime *rt,
			 json_t *result)
{
	cleanup_free char *conf64 =
	    b64_encode((const unsigned char *)net->bytes, strlen(net->bytes));
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "cniCacheV1", "containerId",
				rt->container_id, "config", conf64, "ifName", rt->ifname,
				"networkName", net->name);
	if (rt->netns && *rt->netns)
		json_object_set_new(rec, "netns", json_string(rt->netns));
	if (rt->n_args) {
		json_t *a = json_array();
		for (size_t i = 0; i < rt->n_args; i++)
			json_array_append_new(
			    a, json_pack("[s,s]", rt->args[i].key,
					 rt->args[i].value ? rt->args[i].value : ""));
		json_object_set_new(rec, "cniArgs", a);
	}
	if (json_is_object(rt->capability_args) && json_object_size(rt->capability_args))
		json_object_set(rec, "capabilityArgs", rt->capability_args);
	if (result)
		json_object_set(rec, "result", result);
	return rec;
}

/* Replace path with data through a temp file and rename, so a reader never
 * sees half a record, but without fsync: the record describes an attachment
 * (netns, veth) that does not survive a reboot either, and a DEL that finds
 * no record falls back to the conf dir. libcni does not sync it at all; the
 * two fsyncs (file and directory) cost 2-8 ms per pod on this disk. */
static int write_replace(const char *path, const char *data, size_t len, ndl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp.%d.%d", path, (int)getpid(), (int)gettid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ndl_error_set(err, errno, "CNI cache: create %s", tmp);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			unlink(tmp);
			return ndl_error_set(err, e, "CNI cache: write %s", tmp);
		}
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return ndl_error_set(err, e, "CNI cache: write %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return ndl_error_set(err, e, "CNI cache: rename to %s", path);
	}
	return 0;
}

int cni_cache_write(const struct cni_config *cfg, const struct cni_netconf *net,
		    const struct cni_runtime *rt, json_t *result, ndl_error_t *err)
{
	cleanup_free char *dir =
	    xasprintf("%s/results", cfg->cache_dir ? cfg->cache_dir : CNI_DEFAULT_CACHE_DIR);
	if (ndl_mkdir_p(dir, 0700, err) < 0)
		return ndl_error_wrap(err, "CNI cache");
	cleanup_json json_t *rec = cni_cache_record(net, rt, result);
	cleanup_free char *data = ndl_json_dumps(rec, false);
	cleanup_free char *path = cni_cache_path(cfg, net->name, rt->container_id, rt->ifname);
	return write_replace(path, data, strlen(data), err);
}

int cni_cache_parse(const char *buf, size_t len, struct cni_netconf **ret_net, json_t **ret_result,
		    json_t **ret_caps, ndl_error_t *err)
{
	cleanup_json json_t *rec = NULL;
	if (ndl_json_parse(buf, len, &rec, err) < 0)
		return -EINVAL;
	if (!json_is_object(rec))
		return ndl_error_setf(err, EINVAL, "expected a JSON object, got %s",
				      ndl_json_type_name(rec));
	const char *kind = NULL, *config = NULL;
	json_t *result = NULL, *caps = NULL;
	if (ndl_json_get_string(rec, "", "kind", true, &kind, err) < 0 ||
	    ndl_json_get_string(rec, "", "config", true, &config, err) < 0 ||
	    ndl_json_get_object(rec, "", "result", false, &result, err) < 0 ||
	    ndl_json_get_object(rec, "", "capabilityArgs", false, &caps, err) < 0)
		return -EINVAL;
	if (strcmp(kind, "cniCacheV1") != 0)
		return ndl_error_setf(err, EINVAL, "field \"kind\": unknown cache kind \"%s\"",
				      kind);
	size_t clen = 0;
	cleanup_free unsigned char *conf = b64_decode(config, &clen);
	if (!conf)
		return ndl_error_setf(err, EINVAL, "field \"config\": invalid base64");
	struct cni_netconf *net = NULL;
	/* The cached bytes are a list when they came from a list; a .conf that
	 * was cached by other tools is a single plugin: accept both. */
	cleanup_json json_t *probe = json_loadb((const char *)conf, clen, 0, NULL);
	bool is_list = json_is_object(probe) && json_object_get(probe, "plugins");
	if (cni_netconf_parse((const char *)conf, clen, is_list, "cached config", &net, err) < 0)
		return ndl_error_wrap(err, "field \"config\"");
	*ret_net = net;
	if (ret_result)
		*ret_result = result ? json_incref(result) : NULL;
	if (ret_caps)
		*ret_caps = caps ? json_incref(caps) : NULL;
	return 0;
}

int cni_cache_read(const struct cni_config *cfg, const char *net_name, const char *container_id,
		   const char *ifname, struct cni_netconf **ret_net, json_t **ret_result,
		   json_t **ret_caps, ndl_error_t *err)
{
	cleanup_free char *path = cni_cache_path(cfg, net_name, container_id, ifname);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ndl_read_file(path, CNI_MAX_OUTPUT, &buf, &len, err) < 0)
		return -abs(err && err->code ? err->code : EIO);
	if (cni_cache_parse(buf, len, ret_net, ret_result, ret_caps, err) < 0)
		return ndl_error_wrap(err, "%s", path);
	return 0;
}

int cni_cache_remove(const struct cni_config *cfg, const char *net_name, const char *container_id,
		     const char *ifname, ndl_error_t *err)
{
	cleanup_free char *path = cni_cache_path(cfg, net_name, container_id, ifname);
	if (unlink(path) < 0 && errno != ENOENT)
		return ndl_error_set(err, errno, "remove CNI cache %s", path);
	return 0;
}
