/* <root>/<id>/state.json: what later commands need to find a container
 * (init pid and its start time against pid reuse, bundle, cgroup, the
 * spec as created). One atomic write per create. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri/runtime/runtime-internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

int rt_validate_id(const char *id, ndl_error_t *err)
{
	if (!id || !*id)
		return ndl_error_setf(err, EINVAL, "container id: empty");
	if (strlen(id) > 1024)
		return ndl_error_setf(err, EINVAL, "container id: longer than 1024 bytes");
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return ndl_error_setf(err, EINVAL, "container id \"%s\": invalid", id);
	for (const char *p = id; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '+' || *p == '-' ||
		      *p == '.'))
			return ndl_error_setf(
			    err, EINVAL, "container id \"%s\": only [a-zA-Z0-9_+.-] allowed", id);
	return 0;
}

void rt_state_rec_clear(struct rt_state_rec *r)
{
	free(r->id);
	free(r->bundle);
	free(r->rootfs);
	free(r->cgroup_path);
	free(r->created);
	free(r->text);
	if (r->config)
		json_decref(r->config);
	if (r->cgroup)
		json_decref(r->cgroup);
	if (r->annotations)
		json_decref(r->annotations);
	if (r->hooks)
		json_decref(r->hooks);
	memset(r, 0, sizeof(*r));
}

/* Two JSON documents, one per line: the record every command reads, then
 * the spec, which only exec (and start/delete when the spec has hooks)
 * needs. A default spec is 2 KB of JSON and a CRI one with a seccomp
 * profile 15-20 KB; parsing it cost state/kill/delete more than the rest of
 * their work, so readers stop after the first document (jansson's
 * JSON_DISABLE_EOF_CHECK) and parse the spec on demand. */
int rt_state_rec_write(int dirfd, const struct rt_state_rec *r, ndl_error_t *err)
{
	cleanup_json json_t *j = json_pack(
	    "{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:I}", "id", r->id, "pid", (json_int_t)r->pid,
	    "start_time", (json_int_t)r->start_time, "bundle", r->bundle, "rootfs", r->rootfs,
	    "cgroup_path", r->cgroup_path ? r->cgroup_path : "", "created", r->created, "owner",
	    (json_int_t)r->owner);
	if (!j)
		return ndl_error_setf(err, EINVAL, "state: cannot serialize");
	if (r->cgroup)
		json_object_set(j, "cgroup", r->cgroup);
	json_t *o = r->config ? json_object_get(r->config, "annotations") : NULL;
	if (json_is_object(o))
		json_object_set(j, "annotations", o);
	o = r->config ? json_object_get(r->config, "hooks") : NULL;
	if (json_is_object(o) && json_object_size(o))
		json_object_set(j, "hooks", o);
	cleanup_free char *rec = json_dumps(j, JSON_COMPACT);
	cleanup_free char *cfg =
	    json_dumps(r->config ? r->config : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
	if (!rec || !cfg)
		return ndl_error_setf(err, ENOMEM, "state: cannot serialize");
	cleanup_free char *s = xasprintf("%s\n%s\n", rec, cfg);
	return rt_write_volatile_at(dirfd, "state.json", s, strlen(s), 0600, err);
}

int rt_write_volatile_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
			 ndl_error_t *err)
{
	/* Runtime state describes live processes: after a power loss there is
	 * nothing left for it to describe, so it needs atomicity against
	 * concurrent readers (temp + rename) but no fsync, which costs
	 * milliseconds on a disk-backed /run. */
	char tmp[512];
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%d", name, (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return ndl_error_set(err, errno, "create %s", tmp);
	int r = ndl_write_all(fd, data, len, err);
	close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = ndl_error_set(err, errno, "rename %s", tmp);
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int rt_state_rec_read(const char *root, const char *id, struct rt_state_rec *ret, ndl_error_t *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	cleanup_free char *path = xasprintf("%s/%s/state.json", root, id);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ndl_error_setf(err, ENOENT, "container \"%s\" does not exist", id);
		return ndl_error_set(err, errno, "open %s", path);
	}
	struct rt_state_rec rec = {0};
	if ((r = ndl_read_fd(fd, NDL_JSON_MAX_INPUT, &rec.text, &rec.text_len, err)) < 0)
		return ndl_error_wrap(err, "%s", path);
	json_error_t je;
	cleanup_json json_t *j = json_loadb(rec.text, rec.text_len,
					    JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		r = ndl_error_setf(err, EINVAL, "%s: invalid JSON at line %d column %d: %s", path,
				   je.line, je.column, je.text);
		goto fail;
	}
	rec.config_off = (size_t)je.position;
	const char *s;
	int64_t v;
#define GETS(field, key)                                                                           \
	s = NULL;                                                                                  \
	if ((r = ndl_json_get_string(j, path, key, true, &s, err)) < 0)                            \
		goto fail;                                                                         \
	rec.field = xstrdup(s);
	GETS(id, "id");
	GETS(bundle, "bundle");
	GETS(rootfs, "rootfs");
	GETS(cgroup_path, "cgroup_path");
	GETS(created, "created");
#undef GETS
	if ((r = ndl_json_get_int(j, path, "pid", true, &v, err)) < 0)
		goto fail;
	rec.pid = (pid_t)v;
	if ((r = ndl_json_get_int(j, path, "start_time", true, &v, err)) < 0)
		goto fail;
	rec.start_time = (unsigned long long)v;
	if ((r = ndl_json_get_int(j, path, "owner", true, &v, err)) < 0)
		goto fail;
	rec.owner = (uid_t)v;
	json_t *o = json_object_get(j, "cgroup");
	rec.cgroup = json_is_object(o) ? json_incref(o) : NULL;
	/* State written before the split: one object holding "config". */
	json_t *from = j;
	json_t *cfg = json_object_get(j, "config");
	if (cfg && !json_is_null(cfg)) {
		if (!json_is_object(cfg)) {
			r = ndl_error_setf(err, EINVAL,
					   "%s: field \"config\": expected object, got %s", path,
					   ndl_json_type_name(cfg));
			goto fail;
		}
		rec.config = json_incref(cfg);
		from = cfg;
	}
	o = json_object_get(from, "annotations");
	rec.annotations = json_is_object(o) ? json_incref(o) : NULL;
	o = json_object_get(from, "hooks");
	rec.hooks = json_is_object(o) ? json_incref(o) : NULL;
	*ret = rec;
	return 0;
fail:
	rt_state_rec_clear(&rec);
	return r;
}

int rt_state_rec_config(struct rt_state_rec *r, json_t **ret, ndl_error_t *err)
{
	if (!r->config) {
		size_t off = r->config_off;
		while (off < r->text_len && (r->text[off] == '\n' || r->text[off] == ' ' ||
					     r->text[off] == '\t' || r->text[off] == '\r'))
			off++;
		json_t *j = NULL;
		if (off >= r->text_len ||
		    ndl_json_parse(r->text + off, r->text_len - off, &j, err) < 0) {
			if (off >= r->text_len)
				ndl_error_setf(err, EINVAL, "no spec");
			return ndl_error_wrap(err, "state of container \"%s\"", r->id);
		}
		if (!json_is_object(j)) {
			json_decref(j);
			return ndl_error_setf(err, EINVAL, "state of container \"%s\": no spec",
					      r->id);
		}
		r->config = j;
	}
	*ret = r->config;
	return 0;
}

bool rt_state_rec_has_hooks(const struct rt_state_rec *r, const char *kind)
{
	return json_array_size(json_object_get(r->hooks, kind)) > 0;
}

unsigned long long rt_pid_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parens: fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* p points at " S ppid ...": state is field 3, starttime field 22. */
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 3 && tok[0] == 'Z')
			return 0; /* a zombie has exited */
		if (field == 22)
			return strtoull(tok, NULL, 10);
	}
	return 0;
}

bool rt_pid_alive(pid_t pid, unsigned long long start_time)
{
	if (pid <= 0)
		return false;
	unsigned long long st = rt_pid_start_time(pid);
	return st != 0 && st == start_time;
}
