/* Driver selection, cgroup path resolution and the operations that are the
 * same for every driver: create (mkdir with undo), open, enter, pids, kill,
 * destroy. Resource files, stats, OOM and freezing live in v1.c / v2.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "cgroups/cgroups-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define MOUNTINFO_MAX	   (4u << 20)
#define DESTROY_TIMEOUT_MS 5000

const char *cgroup_mode_name(enum cgroup_mode mode)
{
	switch (mode) {
	case CGROUP_MODE_V1:
		return "v1";
	case CGROUP_MODE_HYBRID:
		return "hybrid";
	case CGROUP_MODE_V2:
		return "v2";
	default:
		return "auto";
	}
}

static const char *const known_controllers[] = {
    "cpuset",	  "cpu",      "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
    "perf_event", "net_prio", "hugetlb", "pids",  "rdma",   "misc",    "debug",	  NULL,
};

static bool is_controller_opt(const char *opt, size_t len)
{
	if (len > 5 && strncmp(opt, "name=", 5) == 0)
		return true;
	for (size_t i = 0; known_controllers[i]; i++)
		if (strlen(known_controllers[i]) == len &&
		    strncmp(opt, known_controllers[i], len) == 0)
			return true;
	return false;
}

/* Same set of comma-separated names, in any order. */
static bool same_controller_set(const char *a, const char *b)
{
	size_t na = 0, nb = 0;
	for (const char *p = a; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		na++;
	for (const char *p = b; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		nb++;
		const char *c = strchr(p, ',');
		cleanup_free char *one = c ? xstrndup(p, (size_t)(c - p)) : xstrdup(p);
		if (!cg_hier_has(a, one))
			return false;
	}
	return na == nb;
}

void cgroup_manager_free(struct cgroup_manager *mgr)
{
	if (!mgr)
		return;
	for (size_t i = 0; i < mgr->n_hier; i++) {
		free(mgr->hier[i].controllers);
		free(mgr->hier[i].mountpoint);
		free(mgr->hier[i].own);
		free(mgr->hier[i].mount_root);
	}
	free(mgr->hier);
	free(mgr->root);
	free(mgr->unified);
	free(mgr->unified_own);
	free(mgr->unified_mount_root);
	free(mgr);
}

enum cgroup_mode cgroup_manager_mode(const struct cgroup_manager *mgr)
{
	return mgr->mode;
}

bool cgroup_manager_hierarchy(const struct cgroup_manager *mgr, size_t i,
			      const char **ret_controllers, const char **ret_mountpoint)
{
	if (i >= mgr->n_hier)
		return false;
	if (ret_controllers)
		*ret_controllers = mgr->hier[i].controllers;
	if (ret_mountpoint)
		*ret_mountpoint = mgr->hier[i].mountpoint;
	return true;
}

const char *cgroup_manager_unified(const struct cgroup_manager *mgr)
{
	return mgr->unified;
}

static void add_hier(struct cgroup_manager *mgr, const char *controllers, const char *mountpoint,
		     const char *mount_root)
{
	for (size_t i = 0; i < mgr->n_hier; i++)
		if (same_controller_set(mgr->hier[i].controllers, controllers))
			return; /* the same hierarchy bind-mounted twice */
	mgr->hier = xrealloc(mgr->hier, (mgr->n_hier + 1) * sizeof(*mgr->hier));
	mgr->hier[mgr->n_hier++] = (struct cgroup_hier){
	    .controllers = xstrdup(controllers),
	    .mountpoint = xstrdup(mountpoint),
	    .own = xstrdup("/"),
	};
}

static void set_mode(struct cgroup_manager *mgr)
{
	bool has_v1 = false;
	for (size_t i = 0; i < mgr->n_hier; i++)
		if (strncmp(mgr->hier[i].controllers, "name=", 5) != 0)
			has_v1 = true;
	if (has_v1)
		mgr->mode = mgr->unified ? CGROUP_MODE_HYBRID : CGROUP_MODE_V1;
	else
		mgr->mode = CGROUP_MODE_V2;
	mgr->ops = mgr->mode == CGROUP_MODE_V2 ? &cgroup_ops_v2 : &cgroup_ops_v1;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static int parse_mountinfo(struct cgroup_manager *mgr, const char *buf)
{
	cleanup_free char *copy = xstrdup(buf);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *fields[5] = {0};
		char *s2 = NULL;
		int nf = 0;
		for (char *f = strtok_r(line, " ", &s2); f && nf < 5; f = strtok_r(NULL, " ", &s2))
			fields[nf++] = f;
		if (nf < 5)
			continue;
		char *mountpoint = fields[4];
		unescape_octal(mountpoint);
		char *s3 = NULL;
		char *fstype = strtok_r(sep + 3, " ", &s3);
		char *source = strtok_r(NULL, " ", &s3);
		char *superopts = strtok_r(NULL, " ", &s3);
		if (!fstype || !source)
			continue;
		if (strcmp(fstype, "cgroup2") == 0) {
			if (!mgr->unified) {
				mgr->unified = xstrdup(mountpoint);
				unescape_octal(fields[3]);
				mgr->unified_mount_root = xstrdup(fields[3]);
			}
			continue;
		}
		if (strcmp(fstype, "cgroup") != 0 || !superopts)
			continue;
		char ctrls[512] = "";
		size_t used = 0;
		for (char *p = superopts; *p;) {
			char *c = strchr(p, ',');
			size_t len = c ? (size_t)(c - p) : strlen(p);
			if (is_controller_opt(p, len) && used + len + 2 < sizeof(ctrls)) {
				if (used)
					ctrls[used++] = ',';
				memcpy(ctrls + used, p, len);
				used += len;
				ctrls[used] = '\0';
			}
			if (!c)
				break;
			p = c + 1;
		}
		if (used) {
			unescape_octal(fields[3]);
			add_hier(mgr, ctrls, mountpoint, fields[3]);
		}
	}
	return 0;
}

/* /proc/self/cgroup paths are relative to the hierarchy's root; a mount of
 * a sub-tree (a container without a cgroup namespace) shows only what is
 * below its mount root, so strip that prefix. */
static char *own_below_mount(const char *path, const char *mount_root)
{
	size_t n = mount_root ? strlen(mount_root) : 0;
	if (n > 1 && strncmp(path, mount_root, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		return xstrdup(path[n] ? path + n : "/");
	return xstrdup(path);
}

/* Fill each hierarchy's "own" path from /proc/self/cgroup, so relative
 * cgroupsPath values resolve below the caller's cgroup as runc does. */
static void read_own_cgroups(struct cgroup_manager *mgr)
{
	cleanup_free char *buf = NULL;
	size_t len;
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_read_file("/proc/self/cgroup", 1u << 20, &buf, &len, &e) < 0) {
		ndl_error_clear(&e);
		return;
	}
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *path = c2 + 1;
		if (*ctrls == '\0') {
			free(mgr->unified_own);
			mgr->unified_own = own_below_mount(path, mgr->unified_mount_root);
			continue;
		}
		for (size_t i = 0; i < mgr->n_hier; i++)
			if (same_controller_set(mgr->hier[i].controllers, ctrls)) {
				free(mgr->hier[i].own);
				mgr->hier[i].own = own_below_mount(path, mgr->hier[i].mount_root);
			}
	}
}

int cgroup_manager_init(struct cgroup_manager **ret_mgr, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int r = ndl_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &buf, &len, err);
	if (r < 0)
		return ndl_error_wrap(err, "detect cgroup mode");
	struct cgroup_manager *mgr = xcalloc(1, sizeof(*mgr));
	mgr->root = xstrdup("/sys/fs/cgroup");
	parse_mountinfo(mgr, buf);
	if (mgr->n_hier == 0 && !mgr->unified) {
		cgroup_manager_free(mgr);
		return ndl_error_setf(
		    err, ENOENT,
		    "detect cgroup mode: no cgroup or cgroup2 mount in /proc/self/mountinfo");
	}
	mgr->unified_own = xstrdup("/");
	set_mode(mgr);
	read_own_cgroups(mgr);
	log_debug(2, "cgroup driver", "mode=%s hierarchies=%zu unified=%s",
		  cgroup_mode_name(mgr->mode), mgr->n_hier, mgr->unified ? mgr->unified : "none");
	*ret_mgr = mgr;
	return 0;
}

int cgroup_manager_init_at(const char *root, enum cgroup_mode mode, struct cgroup_manager **ret_mgr,
			   ndl_error_t *err)
{
	struct stat st;
	if (stat(root, &st) < 0)
		return ndl_error_set(err, errno, "cgroup root %s", root);
	if (!S_ISDIR(st.st_mode))
		return ndl_error_setf(err, ENOTDIR, "cgroup root %s: not a directory", root);
	if (mode == CGROUP_MODE_AUTO) {
		if (cg_exists(root, "cgroup.controllers"))
			mode = CGROUP_MODE_V2;
		else if (cg_exists(root, "unified"))
			mode = CGROUP_MODE_HYBRID;
		else
			mode = CGROUP_MODE_V1;
	}
	struct cgroup_manager *mgr = xcalloc(1, sizeof(*mgr));
	mgr->root = xstrdup(root);
	mgr->mode = mode;
	mgr->unified_own = xstrdup("/");
	if (mode == CGROUP_MODE_V2) {
		mgr->unified = xstrdup(root);
	} else {
		DIR *d = opendir(root);
		if (!d) {
			cgroup_manager_free(mgr);
			return ndl_error_set(err, errno, "opendir %s", root);
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			cleanup_free char *p = xasprintf("%s/%s", root, de->d_name);
			if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
				continue; /* cpu -> cpu,cpuacct style symlinks */
			if (strcmp(de->d_name, "unified") == 0) {
				if (mode == CGROUP_MODE_HYBRID)
					mgr->unified = xstrdup(p);
				continue;
			}
			add_hier(mgr, de->d_name, p, "/");
		}
		closedir(d);
		if (mgr->n_hier == 0) {
			cgroup_manager_free(mgr);
			return ndl_error_setf(err, ENOENT, "cgroup root %s: no v1 hierarchies",
					      root);
		}
		if (mode == CGROUP_MODE_HYBRID && !mgr->unified) {
			cgroup_manager_free(mgr);
			return ndl_error_setf(err, ENOENT,
					      "cgroup root %s: hybrid mode needs %s/unified", root,
					      root);
		}
	}
	mgr->ops = mode == CGROUP_MODE_V2 ? &cgroup_ops_v2 : &cgroup_ops_v1;
	/* A hierarchy that is not cgroupfs means a fake tree (unit tests). */
	struct statfs sfs;
	const char *probe = mode == CGROUP_MODE_V2 ? mgr->unified : mgr->hier[0].mountpoint;
	if (statfs(probe, &sfs) == 0)
		mgr->fake = sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC;
	*ret_mgr = mgr;
	return 0;
}

bool cgroup_path_is_systemd(const char *path)
{
	if (!path || path[0] == '/')
		return false;
	const char *c1 = strchr(path, ':');
	if (!c1)
		return false;
	const char *c2 = strchr(c1 + 1, ':');
	return c2 && !strchr(c2 + 1, ':');
}

/* Collapse slashes, drop a trailing one; reject ".", "..", empty names and
 * the root itself. The result keeps a leading '/' when path had one. */
static int normalize_path(const char *path, char **ret, ndl_error_t *err)
{
	if (!path || !*path)
		return ndl_error_setf(err, EINVAL, "cgroup path: empty");
	if (cgroup_path_is_systemd(path))
		return ndl_error_setf(
		    err, ENOTSUP,
		    "cgroup path \"%s\": systemd cgroup paths (slice:prefix:name) need the systemd "
		    "cgroup driver, which nodelet does not have; use a cgroupfs path",
		    path);
	if (strlen(path) >= PATH_MAX / 2)
		return ndl_error_setf(err, ENAMETOOLONG, "cgroup path: too long");
	char *out = xmalloc(strlen(path) + 2);
	size_t w = 0;
	bool abs = path[0] == '/';
	if (abs)
		out[w++] = '/';
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			free(out);
			return ndl_error_setf(
			    err, EINVAL, "cgroup path \"%s\": \".\" and \"..\" are not allowed",
			    path);
		}
		if (w > (abs ? 1u : 0u))
			out[w++] = '/';
		memcpy(out + w, p, len);
		w += len;
		p += len;
	}
	out[w] = '\0';
	if (w == 0 || (abs && w == 1)) {
		free(out);
		return ndl_error_setf(err, EINVAL,
				      "cgroup path \"%s\": the root cgroup cannot be used", path);
	}
	*ret = out;
	return 0;
}

static char *join_dir(const char *mountpoint, const char *own, const char *path)
{
	if (path[0] == '/')
		return xasprintf("%s%s", mountpoint, path);
	if (!own || strcmp(own, "/") == 0)
		return xasprintf("%s/%s", mountpoint, path);
	return xasprintf("%s%s/%s", mountpoint, own, path);
}

static struct cgroup *cgroup_new(struct cgroup_manager *mgr, char *normalized)
{
	struct cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->mgr = mgr;
	cg->path = normalized;
	cg->dirs = xcalloc(mgr->n_hier ? mgr->n_hier : 1, sizeof(char *));
	if (mgr->mode != CGROUP_MODE_V2)
		for (size_t i = 0; i < mgr->n_hier; i++)
			cg->dirs[i] =
			    join_dir(mgr->hier[i].mountpoint, mgr->hier[i].own, normalized);
	if (mgr->unified)
		cg->unified_dir = join_dir(mgr->unified, mgr->unified_own, normalized);
	return cg;
}

void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	if (cg->dirs)
		for (size_t i = 0; i < cg->mgr->n_hier; i++)
			free(cg->dirs[i]);
	free(cg->dirs);
	free(cg->unified_dir);
	free(cg->path);
	if (cg->owns_mgr)
		cgroup_manager_free(cg->mgr);
	free(cg);
}

/* What join_dir put before the cgroup path: the mountpoint plus, for a
 * relative path, our own cgroup. Saving this rather than the whole
 * directory keeps the path out of every entry (a Kubernetes container path
 * is 100+ bytes, times ten v1 hierarchies, all parsed on every command). */
static json_t *saved_prefix(const char *dir, const char *norm)
{
	size_t dl = strlen(dir), pl = strlen(norm) + (norm[0] != '/');
	return json_stringn(dir, dl > pl ? dl - pl : 0);
}

json_t *cgroup_save(const struct cgroup *cg)
{
	const struct cgroup_manager *mgr = cg->mgr;
	json_t *j = json_pack("{s:s, s:s}", "mode", cgroup_mode_name(mgr->mode), "path", cg->path);
	if (mgr->mode != CGROUP_MODE_V2) {
		json_t *v1 = json_object();
		for (size_t i = 0; i < mgr->n_hier; i++)
			if (cg->dirs[i])
				json_object_set_new(v1, mgr->hier[i].controllers,
						    saved_prefix(cg->dirs[i], cg->path));
		json_object_set_new(j, "v1", v1);
	}
	if (cg->unified_dir)
		json_object_set_new(j, "unified", saved_prefix(cg->unified_dir, cg->path));
	if (mgr->fake)
		json_object_set_new(j, "fake", json_true());
	return j;
}

/* A saved prefix must be an absolute directory with no "." or ".."
 * component; the cgroup path (checked by normalize_path) goes below it. */
static int saved_dir(const char *prefix, const char *norm, const char *field, char **ret,
		     ndl_error_t *err)
{
	bool bad = prefix[0] != '/' || strlen(prefix) >= PATH_MAX / 2;
	for (const char *p = prefix; !bad && (p = strchr(p, '/'));) {
		p++;
		size_t n = strcspn(p, "/");
		bad = (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
		      (n == 0 && p[0] == '/');
	}
	if (bad)
		return ndl_error_setf(err, EINVAL,
				      "saved cgroup: field \"%s\": \"%s\" is not an absolute "
				      "directory without \".\" or \"..\"",
				      field, prefix);
	size_t l = strlen(prefix);
	if (l && prefix[l - 1] == '/')
		l--;
	*ret = norm[0] == '/' ? xasprintf("%.*s%s", (int)l, prefix, norm)
			      : xasprintf("%.*s/%s", (int)l, prefix, norm);
	return 0;
}

int cgroup_open_saved(const json_t *saved, struct cgroup **ret_cg, ndl_error_t *err)
{
	const char *mode_s = NULL, *path = NULL, *unified = NULL;
	json_t *v1 = NULL;
	bool fake = false;
	int r;
	if (!json_is_object(saved))
		return ndl_error_setf(err, EINVAL, "saved cgroup: expected object, got %s",
				      ndl_json_type_name(saved));
	if (ndl_json_get_string(saved, "", "mode", true, &mode_s, err) < 0 ||
	    ndl_json_get_string(saved, "", "path", true, &path, err) < 0 ||
	    ndl_json_get_string(saved, "", "unified", false, &unified, err) < 0 ||
	    ndl_json_get_object(saved, "", "v1", false, &v1, err) < 0 ||
	    ndl_json_get_bool(saved, "", "fake", false, &fake, err) < 0)
		return ndl_error_wrap(err, "saved cgroup");
	enum cgroup_mode mode;
	if (strcmp(mode_s, "v1") == 0)
		mode = CGROUP_MODE_V1;
	else if (strcmp(mode_s, "hybrid") == 0)
		mode = CGROUP_MODE_HYBRID;
	else if (strcmp(mode_s, "v2") == 0)
		mode = CGROUP_MODE_V2;
	else
		return ndl_error_setf(
		    err, EINVAL, "saved cgroup: field \"mode\": \"%s\" is not v1, hybrid or v2",
		    mode_s);
	if (mode == CGROUP_MODE_V2 && !unified)
		return ndl_error_setf(err, EINVAL, "saved cgroup: field \"unified\": required");
	if (mode != CGROUP_MODE_V2 && json_object_size(v1) == 0)
		return ndl_error_setf(err, EINVAL, "saved cgroup: field \"v1\": required");
	char *norm = NULL;
	if ((r = normalize_path(path, &norm, err)) < 0)
		return ndl_error_wrap(err, "saved cgroup");
	struct cgroup_manager *mgr = xcalloc(1, sizeof(*mgr));
	mgr->mode = mode;
	mgr->ops = mode == CGROUP_MODE_V2 ? &cgroup_ops_v2 : &cgroup_ops_v1;
	mgr->fake = fake;
	struct cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->mgr = mgr;
	cg->owns_mgr = true;
	cg->path = norm;
	size_t n = mode == CGROUP_MODE_V2 ? 0 : json_object_size(v1);
	mgr->hier = xcalloc(n ? n : 1, sizeof(*mgr->hier));
	cg->dirs = xcalloc(n ? n : 1, sizeof(char *));
	const char *ctrls;
	json_t *v;
	if (mode != CGROUP_MODE_V2)
		json_object_foreach(v1, ctrls, v)
		{
			char field[256];
			snprintf(field, sizeof(field), "v1.%s", ctrls);
			if (!json_is_string(v)) {
				r = ndl_error_setf(
				    err, EINVAL,
				    "saved cgroup: field \"%s\": expected string, got %s", field,
				    ndl_json_type_name(v));
				goto fail;
			}
			char *dir = NULL;
			if ((r = saved_dir(json_string_value(v), norm, field, &dir, err)) < 0)
				goto fail;
			mgr->hier[mgr->n_hier].controllers = xstrdup(ctrls);
			cg->dirs[mgr->n_hier++] = dir;
		}
	if (unified) {
		if ((r = saved_dir(unified, norm, "unified", &cg->unified_dir, err)) < 0)
			goto fail;
	}
	*ret_cg = cg;
	return 0;
fail:
	cgroup_free(cg);
	return r;
}

const char *cgroup_path(const struct cgroup *cg)
{
	return cg->path;
}

const char *cg_v1_dir(const struct cgroup *cg, const char *controller)
{
	for (size_t i = 0; i < cg->mgr->n_hier; i++)
		if (cg->dirs[i] && cg_hier_has(cg->mgr->hier[i].controllers, controller))
			return cg->dirs[i];
	return NULL;
}

const char *cgroup_controller_dir(const struct cgroup *cg, const char *controller)
{
	if (cg->mgr->mode == CGROUP_MODE_V2)
		return cg->unified_dir;
	return cg_v1_dir(cg, controller);
}

const char *cgroup_unified_dir(const struct cgroup *cg)
{
	return cg->unified_dir;
}

/* The directory whose cgroup.procs lists the members (every hierarchy
 * holds the same processes once entered). */
static const char *primary_dir(const struct cgroup *cg)
{
	if (cg->mgr->mode == CGROUP_MODE_V2)
		return cg->unified_dir;
	static const char *const pref[] = {"freezer", "pids", "memory", "cpu", NULL};
	for (size_t i = 0; pref[i]; i++) {
		const char *d = cg_v1_dir(cg, pref[i]);
		if (d)
			return d;
	}
	return cg->mgr->n_hier ? cg->dirs[0] : NULL;
}

struct created_list {
	char **dirs;
	size_t n;
};

static void undo_created(struct created_list *cl)
{
	for (size_t i = cl->n; i-- > 0;) {
		if (rmdir(cl->dirs[i]) < 0 && errno != ENOENT)
			log_debug(2, "cgroup undo: rmdir failed", "dir=%s errno=%d", cl->dirs[i],
				  errno);
		free(cl->dirs[i]);
	}
	free(cl->dirs);
	cl->dirs = NULL;
	cl->n = 0;
}

static void forget_created(struct created_list *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		free(cl->dirs[i]);
	free(cl->dirs);
	cl->dirs = NULL;
	cl->n = 0;
}

/* mkdir every component of dir below mountpoint, letting the driver prepare
 * each level (cpuset copy, subtree_control). */
static int make_dirs(struct cgroup *cg, size_t hier, const char *mountpoint, const char *dir,
		     struct created_list *cl, ndl_error_t *err)
{
	size_t mlen = strlen(mountpoint);
	if (strncmp(dir, mountpoint, mlen) != 0 || dir[mlen] != '/')
		return ndl_error_setf(err, EINVAL, "cgroup dir %s is not below %s", dir,
				      mountpoint);
	cleanup_free char *cur = xstrdup(dir);
	cleanup_free char *parent = xstrdup(mountpoint);
	for (size_t i = mlen + 1;; i++) {
		if (cur[i] != '/' && cur[i] != '\0')
			continue;
		char saved = cur[i];
		cur[i] = '\0';
		if (mkdir(cur, 0755) == 0) {
			cl->dirs = xrealloc(cl->dirs, (cl->n + 1) * sizeof(char *));
			cl->dirs[cl->n++] = xstrdup(cur);
		} else if (errno != EEXIST) {
			int r = ndl_error_set(err, errno, "mkdir %s", cur);
			cur[i] = saved;
			return r;
		}
		if (cg->mgr->ops->prepare_dir) {
			int r = cg->mgr->ops->prepare_dir(cg, hier, parent, cur, err);
			if (r < 0) {
				cur[i] = saved;
				return r;
			}
		}
		free(parent);
		parent = xstrdup(cur);
		cur[i] = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

int cgroup_create(struct cgroup_manager *mgr, const char *path, struct cgroup **ret_cg,
		  ndl_error_t *err)
{
	char *norm = NULL;
	int r = normalize_path(path, &norm, err);
	if (r < 0)
		return r;
	cleanup_cgroup struct cgroup *cg = cgroup_new(mgr, norm);
	struct created_list cl = {0};
	if (mgr->mode == CGROUP_MODE_V2) {
		r = make_dirs(cg, CG_UNIFIED, mgr->unified, cg->unified_dir, &cl, err);
		if (r < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < mgr->n_hier; i++) {
			r = make_dirs(cg, i, mgr->hier[i].mountpoint, cg->dirs[i], &cl, err);
			if (r < 0)
				goto fail;
		}
		if (mgr->mode == CGROUP_MODE_HYBRID && cg->unified_dir) {
			/* Process tracking in the cgroup2 tree is best effort,
			 * as in runc: the v1 hierarchies carry the resources. */
			ndl_error_t e2 = NDL_ERROR_INIT;
			struct created_list ucl = {0};
			if (make_dirs(cg, CG_UNIFIED, mgr->unified, cg->unified_dir, &ucl, &e2) <
			    0) {
				log_debug(2, "hybrid: no cgroup2 dir", "error=\"%s\"",
					  ndl_error_msg(&e2));
				ndl_error_clear(&e2);
				undo_created(&ucl);
				free(cg->unified_dir);
				cg->unified_dir = NULL;
			} else {
				for (size_t i = 0; i < ucl.n; i++) {
					cl.dirs = xrealloc(cl.dirs, (cl.n + 1) * sizeof(char *));
					cl.dirs[cl.n++] = steal_ptr(&ucl.dirs[i]);
				}
				forget_created(&ucl);
			}
		}
	}
	forget_created(&cl);
	*ret_cg = steal_ptr(&cg);
	return 0;
fail:
	undo_created(&cl);
	return ndl_error_wrap(err, "create cgroup %s", path);
}

int cgroup_open(struct cgroup_manager *mgr, const char *path, struct cgroup **ret_cg,
		ndl_error_t *err)
{
	char *norm = NULL;
	int r = normalize_path(path, &norm, err);
	if (r < 0)
		return r;
	cleanup_cgroup struct cgroup *cg = cgroup_new(mgr, norm);
	if (mgr->mode == CGROUP_MODE_V2) {
		if (access(cg->unified_dir, F_OK) < 0)
			return ndl_error_set(err, errno, "open cgroup %s: %s", path,
					     cg->unified_dir);
	} else {
		/* Hierarchies where this cgroup is missing are left out (a
		 * half-finished destroy can be finished this way); at least
		 * one must have it. */
		bool any = false;
		int saved = ENOENT;
		const char *first = NULL;
		for (size_t i = 0; i < mgr->n_hier; i++) {
			if (access(cg->dirs[i], F_OK) == 0) {
				any = true;
				continue;
			}
			saved = errno;
			if (!first)
				first = mgr->hier[i].mountpoint;
			free(cg->dirs[i]);
			cg->dirs[i] = NULL;
		}
		if (!any)
			return ndl_error_set(err, saved, "open cgroup %s: not in %s", path,
					     first ? first : "any hierarchy");
		if (mgr->mode == CGROUP_MODE_HYBRID && cg->unified_dir &&
		    access(cg->unified_dir, F_OK) < 0) {
			free(cg->unified_dir);
			cg->unified_dir = NULL;
		}
	}
	*ret_cg = steal_ptr(&cg);
	return 0;
}

int cgroup_open_pid(struct cgroup_manager *mgr, pid_t pid, struct cgroup **ret_cg, ndl_error_t *err)
{
	cleanup_free char *file = xasprintf("/proc/%d/cgroup", (int)pid);
	cleanup_free char *buf = NULL;
	size_t len;
	int r = ndl_read_file(file, 1u << 20, &buf, &len, err);
	if (r < 0)
		return r;
	const char *want = NULL;
	if (mgr->mode != CGROUP_MODE_V2) {
		want = "memory";
		bool found = false;
		for (size_t i = 0; i < mgr->n_hier; i++)
			if (cg_hier_has(mgr->hier[i].controllers, "memory"))
				found = true;
		if (!found)
			want = mgr->hier[0].controllers;
	}
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		bool match = want ? same_controller_set(ctrls, want) || cg_hier_has(ctrls, want)
				  : *ctrls == '\0';
		if (match) {
			/* Paths in /proc/pid/cgroup are absolute within the
			 * hierarchy. */
			return cgroup_open(mgr, c2 + 1, ret_cg, err);
		}
	}
	return ndl_error_setf(err, ENOENT, "%s: no %s cgroup", file, want ? want : "unified");
}

int cgroup_enter(struct cgroup *cg, pid_t pid, ndl_error_t *err)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (cg->mgr->mode == CGROUP_MODE_V2)
		return cg_write(cg->unified_dir, "cgroup.procs", buf, err) < 0
			   ? ndl_error_wrap(err, "enter cgroup %s", cg->path)
			   : 0;
	for (size_t i = 0; i < cg->mgr->n_hier; i++) {
		if (!cg->dirs[i])
			continue;
		if (cg_write(cg->dirs[i], "cgroup.procs", buf, err) < 0)
			return ndl_error_wrap(err, "enter cgroup %s", cg->path);
	}
	if (cg->unified_dir) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg_write(cg->unified_dir, "cgroup.procs", buf, &e2) < 0)
			log_debug(2, "hybrid: cgroup2 join failed", "error=\"%s\"",
				  ndl_error_msg(&e2));
		ndl_error_clear(&e2);
	}
	return 0;
}

int cgroup_apply(struct cgroup *cg, const struct cgroup_resources *res, ndl_error_t *err)
{
	int r = cg->mgr->ops->apply(cg, res, err);
	if (r < 0)
		return ndl_error_wrap(err, "cgroup %s", cg->path);
	return 0;
}

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *ret_stats, ndl_error_t *err)
{
	struct cgroup_stats st;
	memset(&st, 0, sizeof(st));
	int r = cg->mgr->ops->stats(cg, &st, err);
	if (r < 0)
		return ndl_error_wrap(err, "stats of cgroup %s", cg->path);
	*ret_stats = st;
	return 0;
}

int cgroup_oom_watch_fd(struct cgroup *cg, int *ret_fd, ndl_error_t *err)
{
	int r = cg->mgr->ops->oom_watch_fd(cg, ret_fd, err);
	return r < 0 ? ndl_error_wrap(err, "watch OOM of cgroup %s", cg->path) : 0;
}

int cgroup_oom_watch_drain(struct cgroup *cg, int fd, ndl_error_t *err)
{
	/* Both the eventfd (v1) and the inotify fd (v2) are non-blocking:
	 * read until empty. */
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return ndl_error_set(err, errno, "read OOM watch of cgroup %s", cg->path);
		return 0;
	}
}

int cgroup_oom_kill_count(struct cgroup *cg, uint64_t *ret_count, ndl_error_t *err)
{
	int r = cg->mgr->ops->oom_kill_count(cg, ret_count, err);
	return r < 0 ? ndl_error_wrap(err, "OOM kill count of cgroup %s", cg->path) : 0;
}

int cgroup_freeze(struct cgroup *cg, ndl_error_t *err)
{
	int r = cg->mgr->ops->set_frozen(cg, true, err);
	return r < 0 ? ndl_error_wrap(err, "freeze cgroup %s", cg->path) : 0;
}

int cgroup_thaw(struct cgroup *cg, ndl_error_t *err)
{
	int r = cg->mgr->ops->set_frozen(cg, false, err);
	return r < 0 ? ndl_error_wrap(err, "thaw cgroup %s", cg->path) : 0;
}

int cgroup_is_frozen(struct cgroup *cg, bool *ret_frozen, ndl_error_t *err)
{
	int r = cg->mgr->ops->is_frozen(cg, ret_frozen, err);
	return r < 0 ? ndl_error_wrap(err, "freezer state of cgroup %s", cg->path) : 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

int cgroup_pids(struct cgroup *cg, pid_t **ret_pids, size_t *ret_n, ndl_error_t *err)
{
	const char *dir = primary_dir(cg);
	if (!dir)
		return ndl_error_setf(err, ENOENT, "pids of cgroup %s: no hierarchy", cg->path);
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	int r = cg_collect_pids(dir, &pids, &n, &cap, err);
	if (r < 0) {
		free(pids);
		return ndl_error_wrap(err, "pids of cgroup %s", cg->path);
	}
	if (n > 1)
		qsort(pids, n, sizeof(pid_t), cmp_pid);
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (w == 0 || pids[w - 1] != pids[i])
			pids[w++] = pids[i];
	*ret_pids = pids;
	*ret_n = w;
	return 0;
}

static bool can_freeze(struct cgroup *cg)
{
	if (cg->mgr->mode == CGROUP_MODE_V2)
		return cg->unified_dir && cg_exists(cg->unified_dir, "cgroup.freeze");
	return cg_v1_dir(cg, "freezer") != NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cgroup_kill_all(struct cgroup *cg, int sig, ndl_error_t *err)
{
	if (sig == SIGKILL && cg->mgr->ops->kill) {
		int r = cg->mgr->ops->kill(cg, err);
		if (r == 0)
			return 0;
		if (r != -ENOTSUP)
			return ndl_error_wrap(err, "kill cgroup %s", cg->path);
	}
	/* Freeze first so no process forks a child we would miss. */
	bool frozen = false;
	if (can_freeze(cg)) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg->mgr->ops->set_frozen(cg, true, &e2) == 0)
			frozen = true;
		else
			log_debug(2, "kill: freeze failed, signalling unfrozen", "error=\"%s\"",
				  ndl_error_msg(&e2));
		ndl_error_clear(&e2);
	}
	/* Without a freezer, SIGKILL rounds until the cgroup is empty
	 * catch children forked between listing and signalling. */
	int rounds = frozen || sig != SIGKILL ? 1 : 50;
	int ret = 0;
	for (int round = 0; round < rounds; round++) {
		pid_t *pids = NULL;
		size_t n = 0;
		ret = cgroup_pids(cg, &pids, &n, err);
		if (ret < 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (kill(pids[i], sig) < 0 && errno != ESRCH) {
				ret = ndl_error_set(err, errno, "kill %d in cgroup %s",
						    (int)pids[i], cg->path);
				break;
			}
		free(pids);
		if (ret < 0 || n == 0)
			break;
		if (round + 1 < rounds)
			sleep_ms(10);
	}
	if (frozen) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		if (cg->mgr->ops->set_frozen(cg, false, &e2) < 0 && ret == 0) {
			ret = -1;
			if (err) {
				ndl_error_clear(err);
				*err = e2;
				e2 = (ndl_error_t)NDL_ERROR_INIT;
			}
			ndl_error_wrap(err, "kill cgroup %s: thaw", cg->path);
		}
		ndl_error_clear(&e2);
	}
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unit tests use plain directories with plain files: remove those so the
 * rmdir below behaves as on cgroupfs. */
static void unlink_fake_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_type == DT_REG) {
			cleanup_free char *p = xasprintf("%s/%s", dir, de->d_name);
			unlink(p);
		}
	closedir(d);
}

static int remove_tree(struct cgroup_manager *mgr, const char *dir, int64_t deadline,
		       ndl_error_t *err)
{
	/* The common case is an empty leaf: one rmdir, no directory scan
	 * (container delete does this once per v1 hierarchy). Children or
	 * draining tasks make it fail with EBUSY, and the walk below runs. */
	if (!mgr->fake && (rmdir(dir) == 0 || errno == ENOENT))
		return 0;
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ndl_error_set(err, errno, "opendir %s", dir);
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *sub = xasprintf("%s/%s", dir, de->d_name);
		r = remove_tree(mgr, sub, deadline, err);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	if (mgr->fake)
		unlink_fake_files(dir);
	unsigned delay = 1;
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		/* EBUSY: tasks still draining (exiting processes are
		 * unlinked from the cgroup a little after they die). */
		if (errno != EBUSY && errno != EAGAIN && errno != EINTR)
			return ndl_error_set(err, errno, "rmdir %s", dir);
		if (now_ms() >= deadline)
			return ndl_error_set(err, EBUSY, "rmdir %s: tasks did not drain", dir);
		sleep_ms(delay);
		if (delay < 64)
			delay *= 2;
	}
}

int cgroup_destroy_timeout(struct cgroup *cg, unsigned timeout_ms, ndl_error_t *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	int ret = 0;
	/* Try every hierarchy even after a failure, and report the first. */
	ndl_error_t first = NDL_ERROR_INIT;
	if (cg->unified_dir) {
		ndl_error_t e2 = NDL_ERROR_INIT;
		int r = remove_tree(cg->mgr, cg->unified_dir, deadline, &e2);
		if (r < 0 && cg->mgr->mode == CGROUP_MODE_V2) {
			ret = r;
			first = e2;
		} else {
			ndl_error_clear(&e2);
		}
	}
	for (size_t i = 0; cg->mgr->mode != CGROUP_MODE_V2 && i < cg->mgr->n_hier; i++) {
		if (!cg->dirs[i])
			continue;
		ndl_error_t e2 = NDL_ERROR_INIT;
		int r = remove_tree(cg->mgr, cg->dirs[i], deadline, &e2);
		if (r < 0 && ret == 0) {
			ret = r;
			first = e2;
		} else {
			ndl_error_clear(&e2);
		}
	}
	if (ret < 0) {
		if (err) {
			ndl_error_clear(err);
			*err = first;
		} else {
			ndl_error_clear(&first);
		}
		return ndl_error_wrap(err, "destroy cgroup %s", cg->path);
	}
	return 0;
}

int cgroup_destroy(struct cgroup *cg, ndl_error_t *err)
{
	return cgroup_destroy_timeout(cg, DESTROY_TIMEOUT_MS, err);
}
