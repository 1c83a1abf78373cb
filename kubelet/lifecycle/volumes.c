/* Pod volumes in standalone mode: emptyDir (a directory, or tmpfs for
 * medium Memory, sized as the kubelet sizes it), hostPath with the kubelet's type checks,
 * downwardAPI files. configMap/secret/projected need the API server. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelet/env.h"
#include "kubelet/lifecycle/internal.h"
#include "kubelet/qos.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

char *kl_pod_dir(const char *root_dir, const char *uid)
{
	return xasprintf("%s/pods/%s", root_dir, uid);
}

static const char *plugin_dir(enum pod_volume_type t)
{
	switch (t) {
	case POD_VOL_EMPTY_DIR:
		return "kubernetes.io~empty-dir";
	case POD_VOL_DOWNWARD_API:
		return "kubernetes.io~downward-api";
	default:
		return NULL;
	}
}

static const struct pod_volume *find_volume(const struct pod *p, const char *name)
{
	for (size_t i = 0; i < p->n_volumes; i++)
		if (strcmp(p->volumes[i].name, name) == 0)
			return &p->volumes[i];
	return NULL;
}

char *kl_volume_host_path(const struct kl_runtime_opts *o, const struct pod *p, const char *name)
{
	const struct pod_volume *v = find_volume(p, name);
	if (!v)
		return NULL;
	if (v->type == POD_VOL_HOST_PATH)
		return xstrdup(v->path);
	const char *pd = plugin_dir(v->type);
	if (!pd)
		return NULL;
	cleanup_free char *dir = kl_pod_dir(o->root_dir, p->uid);
	return xasprintf("%s/volumes/%s/%s", dir, pd, v->name);
}

static bool is_mountpoint(const char *path)
{
	struct stat a, b;
	cleanup_free char *parent = xasprintf("%s/..", path);
	return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* hostPath type checks (pkg/volume/hostpath checkType). */
static int host_path_check(const struct pod_volume *v, ndl_error_t *err)
{
	const char *t = v->host_path_type ? v->host_path_type : "";
	struct stat st;
	int r = stat(v->path, &st);
	if (!*t)
		return 0;
	if (strcmp(t, "DirectoryOrCreate") == 0) {
		if (r < 0)
			return ndl_mkdir_p(v->path, 0755, err);
		if (!S_ISDIR(st.st_mode))
			return ndl_error_setf(err, EEXIST, "hostPath type check failed: %s is not a directory", v->path);
		return 0;
	}
	if (strcmp(t, "FileOrCreate") == 0) {
		if (r < 0) {
			int fd = open(v->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0 && errno != EEXIST)
				return ndl_error_set(err, errno, "hostPath %s: create file", v->path);
			if (fd >= 0)
				close(fd);
			return 0;
		}
		if (S_ISDIR(st.st_mode))
			return ndl_error_setf(err, EEXIST, "hostPath type check failed: %s is not a file", v->path);
		return 0;
	}
	struct {
		const char *name;
		mode_t fmt;
		const char *what;
	} checks[] = {
		{"Directory", S_IFDIR, "directory"},
		{"File", S_IFREG, "file"},
		{"Socket", S_IFSOCK, "socket"},
		{"CharDevice", S_IFCHR, "character device"},
		{"BlockDevice", S_IFBLK, "block device"},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (strcmp(t, checks[i].name) != 0)
			continue;
		if (r < 0)
			return ndl_error_setf(err, ENOENT, "hostPath type check failed: %s is not a %s",
					      v->path, checks[i].what);
		/* File accepts anything that is not a directory, as the kubelet. */
		bool ok = checks[i].fmt == S_IFREG ? !S_ISDIR(st.st_mode) :
						     (st.st_mode & S_IFMT) == checks[i].fmt;
		if (!ok)
			return ndl_error_setf(err, EINVAL, "hostPath type check failed: %s is not a %s",
					      v->path, checks[i].what);
		return 0;
	}
	return ndl_error_setf(err, EINVAL, "hostPath %s: unknown type %s", v->path, t);
}

static int downward_api(const struct kl_runtime_opts *o, const struct pod *p,
			const struct pod_volume *v, const char *dir, ndl_error_t *err)
{
	size_t i;
	json_t *it;
	struct kubelet_env_context ctx = {.pod_ip = "", .pod_ips = "",
					  .host_ip = o->host_ip ? o->host_ip : "",
					  .host_ips = o->host_ip ? o->host_ip : ""};
	json_array_foreach(v->items, i, it)
	{
		const char *path = json_string_value(json_object_get(it, "path"));
		json_t *fr = json_object_get(it, "fieldRef");
		json_t *rr = json_object_get(it, "resourceFieldRef");
		if (!path)
			continue;
		cleanup_free char *val = NULL;
		if (fr) {
			const char *fp = json_string_value(json_object_get(fr, "fieldPath"));
			if (kubelet_pod_field_value(p, fp ? fp : "", &ctx, &val, err) < 0)
				return ndl_error_wrap(err, "volume %s: items[%zu]", v->name, i);
		} else if (rr) {
			return ndl_error_setf(err, ENOTSUP,
					      "volume %s: items[%zu].resourceFieldRef is not supported "
					      "by nodelet",
					      v->name, i);
		} else {
			continue;
		}
		cleanup_free char *f = xasprintf("%s/%s", dir, path);
		char *slash = strrchr(f, '/');
		*slash = 0;
		int r = ndl_mkdir_p(f, 0755, err);
		*slash = '/';
		if (r < 0)
			return r;
		int mode = v->default_mode ? v->default_mode : 0644;
		if (ndl_write_file_atomic(f, val, strlen(val), mode, err) < 0)
			return ndl_error_wrap(err, "volume %s", v->name);
	}
	return 0;
}

/* calculateEmptyDirMemorySize (SizeMemoryBackedVolumes, on by default): a
 * memory-backed emptyDir is as large as the node's allocatable memory (its
 * capacity less the memory.available hard eviction threshold; nothing is
 * reserved), or the pod's memory limit when it has one and it is smaller,
 * or the volume's sizeLimit when that is smaller still. */
static int64_t empty_dir_memory_size(const struct kl_runtime_opts *o, const struct pod *p,
				     const struct pod_volume *v)
{
	int64_t size = o->memory_capacity;
	for (size_t i = 0; i < o->cfg->n_eviction_thresholds; i++) {
		const struct kubelet_eviction_threshold *t = &o->cfg->eviction_thresholds[i];
		if (strcmp(t->signal, "memory.available") != 0)
			continue;
		size -= t->percentage ? (int64_t)((double)o->memory_capacity * t->percent / 100.0) :
					t->quantity_value;
	}
	struct kubelet_pod_cgroup_config rc;
	kubelet_pod_resource_config(p, true, 100000, &rc);
	if (rc.has_memory && rc.memory > 0 && rc.memory <= size)
		size = rc.memory;
	if (v->has_size_limit && v->size_limit.value > 0 && v->size_limit.value <= size)
		size = v->size_limit.value;
	return size;
}

int kl_volumes_setup(const struct kl_runtime_opts *o, const struct pod *p, ndl_error_t *err)
{
	for (size_t i = 0; i < p->n_volumes; i++) {
		const struct pod_volume *v = &p->volumes[i];
		switch (v->type) {
		case POD_VOL_HOST_PATH:
			if (host_path_check(v, err) < 0)
				return ndl_error_wrap(err, "volume %s", v->name);
			break;
		case POD_VOL_EMPTY_DIR:
		case POD_VOL_DOWNWARD_API: {
			cleanup_free char *dir = kl_volume_host_path(o, p, v->name);
			if (ndl_mkdir_p(dir, 0777, err) < 0)
				return ndl_error_wrap(err, "volume %s", v->name);
			chmod(dir, v->type == POD_VOL_EMPTY_DIR ? 0777 : 0755);
			if (v->type == POD_VOL_DOWNWARD_API) {
				if (downward_api(o, p, v, dir, err) < 0)
					return -1;
				break;
			}
			if (v->medium && strcmp(v->medium, "Memory") == 0 && !is_mountpoint(dir)) {
				char opts[64];
				snprintf(opts, sizeof(opts), "mode=0777,size=%lld",
					 (long long)empty_dir_memory_size(o, p, v));
				if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
					return ndl_error_set(err, errno, "volume %s: mount tmpfs on %s",
							     v->name, dir);
			}
			break;
		}
		case POD_VOL_CONFIG_MAP:
		case POD_VOL_SECRET:
		case POD_VOL_PROJECTED:
		case POD_VOL_PVC:
			return ndl_error_setf(err, ENOTSUP,
					      "volume %s: %s volumes need the API server; nodelet runs "
					      "standalone",
					      v->name,
					      v->type == POD_VOL_CONFIG_MAP ? "configMap" :
					      v->type == POD_VOL_SECRET	    ? "secret" :
					      v->type == POD_VOL_PROJECTED  ? "projected" :
									      "persistentVolumeClaim");
		default:
			return ndl_error_setf(err, ENOTSUP, "volume %s: %s volumes are not supported",
					      v->name, v->other_kind ? v->other_kind : "this kind of");
		}
	}
	return 0;
}

void kl_volumes_teardown(const char *root_dir, const char *uid)
{
	cleanup_free char *pd = kl_pod_dir(root_dir, uid);
	cleanup_free char *ed = xasprintf("%s/volumes/kubernetes.io~empty-dir", pd);
	cleanup_closedir DIR *d = opendir(ed);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *m = xasprintf("%s/%s", ed, de->d_name);
		if (is_mountpoint(m) && umount2(m, MNT_DETACH) < 0)
			log_warn("cannot unmount emptyDir", "path=%s errno=%d", m, errno);
	}
	ndl_error_t e = NDL_ERROR_INIT;
	if (ndl_rm_rf(pd, &e) < 0) {
		log_warn("cannot remove the pod directory", "error=%s", ndl_error_msg(&e));
		ndl_error_clear(&e);
	}
}
