/* config.json -> struct rt_spec, validating types and values and naming the
 * offending field in every error. */
#include "cri/runtime/spec.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define FIELD_MAX 256

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Optional array of strings -> NULL-terminated vector (NULL when absent). */
static int get_strv(const json_t *obj, const char *where, const char *key, bool required,
		    char ***ret, size_t *ret_n, ndl_error_t *err)
{
	json_t *arr = NULL;
	int r = ndl_json_get_array(obj, where, key, required, &arr, err);
	if (r < 0 || !arr)
		return r;
	size_t n = json_array_size(arr);
	if (n > RT_MAX_ARRAY)
		return ndl_error_setf(err, E2BIG, "field \"%s%s%s\": more than %d entries",
				      where && *where ? where : "", where && *where ? "." : "", key,
				      RT_MAX_ARRAY);
	char **v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			free_strv(v);
			return ndl_error_setf(
			    err, EINVAL, "field \"%s%s%s[%zu]\": expected string, got %s",
			    where && *where ? where : "", where && *where ? "." : "", key, i,
			    ndl_json_type_name(e));
		}
		v[i] = xstrdup(json_string_value(e));
	}
	*ret = v;
	if (ret_n)
		*ret_n = n;
	return 0;
}

static int get_u32(const json_t *obj, const char *where, const char *key, bool required,
		   uint32_t *ret, ndl_error_t *err)
{
	int64_t v;
	bool present =
	    json_object_get(obj, key) != NULL && !json_is_null(json_object_get(obj, key));
	int r = ndl_json_get_int(obj, where, key, required, &v, err);
	if (r < 0)
		return r;
	if (!present)
		return 0;
	if (v < 0 || v > UINT32_MAX)
		return ndl_error_setf(err, ERANGE, "field \"%s.%s\": %lld out of range", where, key,
				      (long long)v);
	*ret = (uint32_t)v;
	return 0;
}

/* uint64 that may exceed INT64_MAX (jansson stores json integers as int64:
 * values like 18446744073709551615 arrive as reals). */
static int get_u64(const json_t *obj, const char *where, const char *key, uint64_t *ret,
		   ndl_error_t *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": required", where, key);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return ndl_error_setf(err, ERANGE, "field \"%s.%s\": negative value", where,
					      key);
		*ret = (uint64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d < 0 || d > 18446744073709551615.0)
			return ndl_error_setf(err, ERANGE, "field \"%s.%s\": out of range", where,
					      key);
		*ret = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
		return 0;
	}
	return ndl_error_setf(err, EINVAL, "field \"%s.%s\": expected integer, got %s", where, key,
			      ndl_json_type_name(v));
}

static int parse_caps(const json_t *caps, const char *where, struct rt_process *p, ndl_error_t *err)
{
	static const char *const keys[RT_CAP_NSETS] = {
	    [RT_CAP_BOUNDING] = "bounding",	  [RT_CAP_EFFECTIVE] = "effective",
	    [RT_CAP_INHERITABLE] = "inheritable", [RT_CAP_PERMITTED] = "permitted",
	    [RT_CAP_AMBIENT] = "ambient",
	};
	for (int s = 0; s < RT_CAP_NSETS; s++) {
		json_t *arr = NULL;
		int r = ndl_json_get_array(caps, where, keys[s], false, &arr, err);
		if (r < 0)
			return r;
		p->caps[s] = 0;
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e)
		{
			if (!json_is_string(e))
				return ndl_error_setf(
				    err, EINVAL, "field \"%s.%s[%zu]\": expected string, got %s",
				    where, keys[s], i, ndl_json_type_name(e));
			int c = rt_cap_from_name(json_string_value(e));
			if (c < 0)
				return ndl_error_setf(
				    err, EINVAL, "field \"%s.%s[%zu]\": unknown capability \"%s\"",
				    where, keys[s], i, json_string_value(e));
			p->caps[s] |= 1ull << c;
		}
	}
	p->has_caps = true;
	return 0;
}

void rt_process_clear(struct rt_process *p)
{
	free_strv(p->args);
	free_strv(p->env);
	free(p->cwd);
	free(p->user.additional_gids);
	free(p->rlimits);
	free(p->apparmor_profile);
	free(p->selinux_label);
	memset(p, 0, sizeof(*p));
}

int rt_process_parse(const json_t *obj, const char *where, struct rt_process *ret, ndl_error_t *err)
{
	struct rt_process p = {0};
	char f[FIELD_MAX];
	int r;
	const char *s = NULL;
	json_t *o = NULL;

	if (!json_is_object(obj))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", where,
				      ndl_json_type_name(obj));
	r = ndl_json_get_bool(obj, where, "terminal", false, &p.terminal, err);
	if (r < 0)
		goto fail;
	r = get_strv(obj, where, "args", false, &p.args, &p.n_args, err);
	if (r < 0)
		goto fail;
	if (p.n_args == 0) {
		r = ndl_error_setf(err, EINVAL, "field \"%s.args\": must name the program to run",
				   where);
		goto fail;
	}
	r = get_strv(obj, where, "env", false, &p.env, &p.n_env, err);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < p.n_env; i++) {
		if (!strchr(p.env[i], '=') || p.env[i][0] == '=') {
			r = ndl_error_setf(err, EINVAL,
					   "field \"%s.env[%zu]\": \"%s\" is not KEY=value", where,
					   i, p.env[i]);
			goto fail;
		}
	}
	s = NULL;
	r = ndl_json_get_string(obj, where, "cwd", true, &s, err);
	if (r < 0)
		goto fail;
	if (s[0] != '/') {
		r = ndl_error_setf(err, EINVAL, "field \"%s.cwd\": \"%s\" is not an absolute path",
				   where, s);
		goto fail;
	}
	p.cwd = xstrdup(s);

	snprintf(f, sizeof(f), "%s.user", where);
	r = ndl_json_get_object(obj, where, "user", false, &o, err);
	if (r < 0)
		goto fail;
	if (o) {
		uint32_t u = 0;
		r = get_u32(o, f, "uid", false, &u, err);
		if (r < 0)
			goto fail;
		p.user.uid = u;
		u = 0;
		r = get_u32(o, f, "gid", false, &u, err);
		if (r < 0)
			goto fail;
		p.user.gid = u;
		json_t *um = json_object_get(o, "umask");
		if (um && !json_is_null(um)) {
			uint32_t m = 0;
			r = get_u32(o, f, "umask", false, &m, err);
			if (r < 0)
				goto fail;
			if (m > 0777) {
				r = ndl_error_setf(err, EINVAL,
						   "field \"%s.umask\": %u is not a mode", f, m);
				goto fail;
			}
			p.user.has_umask = true;
			p.user.umask = m;
		}
		json_t *ag = NULL;
		r = ndl_json_get_array(o, f, "additionalGids", false, &ag, err);
		if (r < 0)
			goto fail;
		if (ag) {
			size_t n = json_array_size(ag);
			if (n > RT_MAX_ARRAY) {
				r = ndl_error_setf(err, E2BIG,
						   "field \"%s.additionalGids\": too many", f);
				goto fail;
			}
			p.user.additional_gids = xcalloc(n ? n : 1, sizeof(gid_t));
			for (size_t i = 0; i < n; i++) {
				json_t *e = json_array_get(ag, i);
				if (!json_is_integer(e) || json_integer_value(e) < 0 ||
				    json_integer_value(e) > UINT32_MAX) {
					r = ndl_error_setf(
					    err, EINVAL,
					    "field \"%s.additionalGids[%zu]\": expected "
					    "a gid",
					    f, i);
					goto fail;
				}
				p.user.additional_gids[i] = (gid_t)json_integer_value(e);
			}
			p.user.n_additional_gids = n;
		}
		s = NULL;
		r = ndl_json_get_string(o, f, "username", false, &s, err);
		if (r < 0)
			goto fail;
	}

	o = NULL;
	snprintf(f, sizeof(f), "%s.capabilities", where);
	r = ndl_json_get_object(obj, where, "capabilities", false, &o, err);
	if (r < 0)
		goto fail;
	if (o && (r = parse_caps(o, f, &p, err)) < 0)
		goto fail;

	json_t *rl = NULL;
	r = ndl_json_get_array(obj, where, "rlimits", false, &rl, err);
	if (r < 0)
		goto fail;
	if (rl) {
		size_t n = json_array_size(rl);
		if (n > 64) {
			r = ndl_error_setf(err, E2BIG, "field \"%s.rlimits\": too many entries",
					   where);
			goto fail;
		}
		p.rlimits = xcalloc(n ? n : 1, sizeof(*p.rlimits));
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(rl, i);
			snprintf(f, sizeof(f), "%s.rlimits[%zu]", where, i);
			if (!json_is_object(e)) {
				r = ndl_error_setf(err, EINVAL, "field \"%s\": expected object", f);
				goto fail;
			}
			s = NULL;
			r = ndl_json_get_string(e, f, "type", true, &s, err);
			if (r < 0)
				goto fail;
			int res = rt_rlimit_from_name(s);
			if (res < 0) {
				r = ndl_error_setf(
				    err, EINVAL, "field \"%s.type\": unknown rlimit \"%s\"", f, s);
				goto fail;
			}
			for (size_t k = 0; k < i; k++)
				if (p.rlimits[k].resource == res) {
					r = ndl_error_setf(
					    err, EINVAL,
					    "field \"%s.type\": duplicate rlimit \"%s\"", f, s);
					goto fail;
				}
			p.rlimits[i].resource = res;
			if ((r = get_u64(e, f, "soft", &p.rlimits[i].soft, err)) < 0 ||
			    (r = get_u64(e, f, "hard", &p.rlimits[i].hard, err)) < 0)
				goto fail;
			if (p.rlimits[i].soft > p.rlimits[i].hard) {
				r = ndl_error_setf(err, EINVAL,
						   "field \"%s\": soft limit above hard limit", f);
				goto fail;
			}
			p.n_rlimits = i + 1;
		}
	}
	r = ndl_json_get_bool(obj, where, "noNewPrivileges", false, &p.no_new_privileges, err);
	if (r < 0)
		goto fail;
	json_t *oom = json_object_get(obj, "oomScoreAdj");
	if (oom && !json_is_null(oom)) {
		int64_t v = 0;
		r = ndl_json_get_int(obj, where, "oomScoreAdj", false, &v, err);
		if (r < 0)
			goto fail;
		if (v < -1000 || v > 1000) {
			r = ndl_error_setf(err, ERANGE,
					   "field \"%s.oomScoreAdj\": %lld not in [-1000, 1000]",
					   where, (long long)v);
			goto fail;
		}
		p.has_oom_score_adj = true;
		p.oom_score_adj = (int)v;
	}
	s = NULL;
	r = ndl_json_get_string(obj, where, "apparmorProfile", false, &s, err);
	if (r < 0)
		goto fail;
	p.apparmor_profile = dup_opt(s);
	s = NULL;
	r = ndl_json_get_string(obj, where, "selinuxLabel", false, &s, err);
	if (r < 0)
		goto fail;
	p.selinux_label = dup_opt(s);
	json_t *cs = json_object_get(obj, "consoleSize");
	if (cs && !json_is_null(cs) && !json_is_object(cs)) {
		r = ndl_error_setf(err, EINVAL, "field \"%s.consoleSize\": expected object", where);
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	rt_process_clear(&p);
	return r;
}

static void mount_clear(struct rt_mount *m)
{
	free(m->destination);
	free(m->type);
	free(m->source);
	free(m->data);
}

static int parse_mount(const json_t *e, const char *f, struct rt_mount *m, ndl_error_t *err)
{
	const char *s = NULL;
	int r;
	if (!json_is_object(e))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", f,
				      ndl_json_type_name(e));
	r = ndl_json_get_string(e, f, "destination", true, &s, err);
	if (r < 0)
		return r;
	if (s[0] != '/')
		return ndl_error_setf(
		    err, EINVAL, "field \"%s.destination\": \"%s\" is not an absolute path", f, s);
	if (strlen(s) >= PATH_MAX)
		return ndl_error_setf(err, ENAMETOOLONG, "field \"%s.destination\": too long", f);
	m->destination = xstrdup(s);
	s = NULL;
	if ((r = ndl_json_get_string(e, f, "type", false, &s, err)) < 0)
		return r;
	m->type = dup_opt(s);
	s = NULL;
	if ((r = ndl_json_get_string(e, f, "source", false, &s, err)) < 0)
		return r;
	m->source = dup_opt(s);
	char **opts = NULL;
	size_t n = 0;
	if ((r = get_strv(e, f, "options", false, &opts, &n, err)) < 0)
		return r;
	r = rt_mount_options_parse((const char *const *)opts, n, &m->flags, &m->propagation,
				   &m->data, err);
	free_strv(opts);
	if (r < 0)
		return ndl_error_wrap(err, "field \"%s.options\"", f);
	/* A mount of type "bind" without the option is still a bind mount. */
	if (m->type && strcmp(m->type, "bind") == 0 && !(m->flags & MS_BIND))
		m->flags |= MS_BIND;
	if (!(m->flags & MS_BIND) && !m->type)
		return ndl_error_setf(
		    err, EINVAL, "field \"%s.type\": required for a mount that is not a bind", f);
	if ((m->flags & MS_BIND) && !m->source)
		return ndl_error_setf(err, EINVAL, "field \"%s.source\": required for a bind mount",
				      f);
	if (!m->source)
		m->source = xstrdup(m->type);
	json_t *um = json_object_get(e, "uidMappings"), *gm = json_object_get(e, "gidMappings");
	if ((um && !json_is_null(um)) || (gm && !json_is_null(gm)))
		return ndl_error_setf(
		    err, ENOTSUP, "field \"%s.uidMappings\": idmapped mounts are not supported", f);
	return 0;
}

static int parse_id_mappings(const json_t *linux_, const char *key, struct rt_id_mapping **ret,
			     size_t *ret_n, ndl_error_t *err)
{
	json_t *arr = NULL;
	char f[FIELD_MAX];
	int r = ndl_json_get_array(linux_, "linux", key, false, &arr, err);
	if (r < 0 || !arr)
		return r;
	size_t n = json_array_size(arr);
	if (n > 340)
		return ndl_error_setf(err, E2BIG, "field \"linux.%s\": at most 340 entries", key);
	struct rt_id_mapping *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		snprintf(f, sizeof(f), "linux.%s[%zu]", key, i);
		if (!json_is_object(e)) {
			free(v);
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected object", f);
		}
		if ((r = get_u32(e, f, "containerID", true, &v[i].container_id, err)) < 0 ||
		    (r = get_u32(e, f, "hostID", true, &v[i].host_id, err)) < 0 ||
		    (r = get_u32(e, f, "size", true, &v[i].size, err)) < 0) {
			free(v);
			return r;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int parse_devices(const json_t *linux_, struct rt_spec *sp, ndl_error_t *err)
{
	json_t *arr = NULL;
	char f[FIELD_MAX];
	int r = ndl_json_get_array(linux_, "linux", "devices", false, &arr, err);
	if (r < 0 || !arr)
		return r;
	size_t n = json_array_size(arr);
	if (n > RT_MAX_ARRAY)
		return ndl_error_setf(err, E2BIG, "field \"linux.devices\": too many entries");
	sp->devices = xcalloc(n ? n : 1, sizeof(*sp->devices));
	for (size_t i = 0; i < n; i++) {
		struct rt_device *d = &sp->devices[i];
		json_t *e = json_array_get(arr, i);
		const char *s = NULL;
		snprintf(f, sizeof(f), "linux.devices[%zu]", i);
		if (!json_is_object(e))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected object", f);
		if ((r = ndl_json_get_string(e, f, "path", true, &s, err)) < 0)
			return r;
		if (s[0] != '/')
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.path\": \"%s\" is not absolute", f, s);
		d->path = xstrdup(s);
		sp->n_devices = i + 1;
		s = NULL;
		if ((r = ndl_json_get_string(e, f, "type", true, &s, err)) < 0)
			return r;
		if (strlen(s) != 1 || !strchr("cbup", s[0]))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.type\": \"%s\" is not one of c, b, u, p",
					      f, s);
		d->type = s[0];
		if (d->type != 'p') {
			if ((r = ndl_json_get_int(e, f, "major", true, &d->major, err)) < 0 ||
			    (r = ndl_json_get_int(e, f, "minor", true, &d->minor, err)) < 0)
				return r;
			if (d->major < 0 || d->major > 4095 || d->minor < 0 || d->minor > 1048575)
				return ndl_error_setf(
				    err, ERANGE,
				    "field \"%s\": device number %lld:%lld out of range", f,
				    (long long)d->major, (long long)d->minor);
		}
		uint32_t v;
		if (json_object_get(e, "fileMode") &&
		    !json_is_null(json_object_get(e, "fileMode"))) {
			if ((r = get_u32(e, f, "fileMode", true, &v, err)) < 0)
				return r;
			if (v > 07777)
				return ndl_error_setf(err, EINVAL,
						      "field \"%s.fileMode\": not a mode", f);
			d->has_mode = true;
			d->mode = v;
		}
		if (json_object_get(e, "uid") && !json_is_null(json_object_get(e, "uid"))) {
			if ((r = get_u32(e, f, "uid", true, &v, err)) < 0)
				return r;
			d->has_uid = true;
			d->uid = v;
		}
		if (json_object_get(e, "gid") && !json_is_null(json_object_get(e, "gid"))) {
			if ((r = get_u32(e, f, "gid", true, &v, err)) < 0)
				return r;
			d->has_gid = true;
			d->gid = v;
		}
	}
	return 0;
}

void rt_seccomp_free(struct rt_seccomp *s)
{
	if (!s)
		return;
	free_strv(s->architectures);
	for (size_t i = 0; i < s->n_rules; i++) {
		free_strv(s->rules[i].names);
		free(s->rules[i].args);
	}
	free(s->rules);
	free(s);
}

static int parse_action(const json_t *obj, const char *f, const char *key, bool required,
			enum rt_seccomp_action *ret, ndl_error_t *err)
{
	const char *s = NULL;
	int r = ndl_json_get_string(obj, f, key, required, &s, err);
	if (r < 0 || !s)
		return r;
	int a = rt_seccomp_action_from_name(s);
	if (a < 0)
		return ndl_error_setf(err, EINVAL, "field \"%s.%s\": unknown action \"%s\"", f, key,
				      s);
	*ret = a;
	return 0;
}

int rt_seccomp_parse(const json_t *obj, const char *where, struct rt_seccomp **ret,
		     ndl_error_t *err)
{
	char f[FIELD_MAX];
	int r;
	struct rt_seccomp *sc = xcalloc(1, sizeof(*sc));
	if (!json_is_object(obj)) {
		r = ndl_error_setf(err, EINVAL, "field \"%s\": expected object", where);
		goto fail;
	}
	if ((r = parse_action(obj, where, "defaultAction", true, &sc->default_action, err)) < 0)
		goto fail;
	json_t *der = json_object_get(obj, "defaultErrnoRet");
	if (der && !json_is_null(der)) {
		uint32_t v;
		if ((r = get_u32(obj, where, "defaultErrnoRet", true, &v, err)) < 0)
			goto fail;
		sc->has_default_errno = true;
		sc->default_errno_ret = v;
	}
	if ((r = get_strv(obj, where, "architectures", false, &sc->architectures,
			  &sc->n_architectures, err)) < 0)
		goto fail;
	char **flags = NULL;
	size_t nflags = 0;
	if ((r = get_strv(obj, where, "flags", false, &flags, &nflags, err)) < 0)
		goto fail;
	for (size_t i = 0; i < nflags; i++) {
		if (strcmp(flags[i], "SECCOMP_FILTER_FLAG_LOG") == 0)
			sc->flags |= RT_SECCOMP_FLAG_LOG;
		else if (strcmp(flags[i], "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
			sc->flags |= RT_SECCOMP_FLAG_SPEC_ALLOW;
		else if (strcmp(flags[i], "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
			sc->flags |= RT_SECCOMP_FLAG_WAIT_KILLABLE;
		else {
			r = ndl_error_setf(err, EINVAL,
					   "field \"%s.flags[%zu]\": unknown flag \"%s\"", where, i,
					   flags[i]);
			free_strv(flags);
			goto fail;
		}
	}
	free_strv(flags);
	const char *lp = NULL;
	if ((r = ndl_json_get_string(obj, where, "listenerPath", false, &lp, err)) < 0)
		goto fail;
	if (lp) {
		r = ndl_error_setf(err, ENOTSUP,
				   "field \"%s.listenerPath\": seccomp notify is not supported",
				   where);
		goto fail;
	}
	json_t *sys = NULL;
	if ((r = ndl_json_get_array(obj, where, "syscalls", false, &sys, err)) < 0)
		goto fail;
	size_t n = json_array_size(sys);
	if (n > RT_MAX_ARRAY) {
		r = ndl_error_setf(err, E2BIG, "field \"%s.syscalls\": too many entries", where);
		goto fail;
	}
	sc->rules = xcalloc(n ? n : 1, sizeof(*sc->rules));
	for (size_t i = 0; i < n; i++) {
		struct rt_seccomp_rule *ru = &sc->rules[i];
		json_t *e = json_array_get(sys, i);
		sc->n_rules = i + 1;
		snprintf(f, sizeof(f), "%s.syscalls[%zu]", where, i);
		if (!json_is_object(e)) {
			r = ndl_error_setf(err, EINVAL, "field \"%s\": expected object", f);
			goto fail;
		}
		if ((r = get_strv(e, f, "names", true, &ru->names, &ru->n_names, err)) < 0)
			goto fail;
		if (ru->n_names == 0) {
			r = ndl_error_setf(err, EINVAL, "field \"%s.names\": empty", f);
			goto fail;
		}
		if ((r = parse_action(e, f, "action", true, &ru->action, err)) < 0)
			goto fail;
		if (ru->action == RT_SCMP_ACT_NOTIFY) {
			r = ndl_error_setf(err, ENOTSUP,
					   "field \"%s.action\": SCMP_ACT_NOTIFY is not supported",
					   f);
			goto fail;
		}
		json_t *er = json_object_get(e, "errnoRet");
		if (er && !json_is_null(er)) {
			uint32_t v;
			if ((r = get_u32(e, f, "errnoRet", true, &v, err)) < 0)
				goto fail;
			ru->has_errno = true;
			ru->errno_ret = v;
		}
		json_t *args = NULL;
		if ((r = ndl_json_get_array(e, f, "args", false, &args, err)) < 0)
			goto fail;
		size_t na = json_array_size(args);
		if (na > 6 * 8) {
			r = ndl_error_setf(err, E2BIG, "field \"%s.args\": too many entries", f);
			goto fail;
		}
		ru->args = xcalloc(na ? na : 1, sizeof(*ru->args));
		for (size_t k = 0; k < na; k++) {
			char af[FIELD_MAX + 16];
			json_t *a = json_array_get(args, k);
			snprintf(af, sizeof(af), "%s.args[%zu]", f, k);
			if (!json_is_object(a)) {
				r = ndl_error_setf(err, EINVAL, "field \"%s\": expected object",
						   af);
				goto fail;
			}
			uint32_t idx;
			if ((r = get_u32(a, af, "index", true, &idx, err)) < 0)
				goto fail;
			if (idx > 5) {
				r = ndl_error_setf(err, ERANGE,
						   "field \"%s.index\": %u is not 0..5", af, idx);
				goto fail;
			}
			ru->args[k].index = idx;
			if ((r = get_u64(a, af, "value", &ru->args[k].value, err)) < 0)
				goto fail;
			json_t *v2 = json_object_get(a, "valueTwo");
			if (v2 && !json_is_null(v2) &&
			    (r = get_u64(a, af, "valueTwo", &ru->args[k].value_two, err)) < 0)
				goto fail;
			const char *op = NULL;
			if ((r = ndl_json_get_string(a, af, "op", true, &op, err)) < 0)
				goto fail;
			int o = rt_seccomp_op_from_name(op);
			if (o < 0) {
				r = ndl_error_setf(err, EINVAL,
						   "field \"%s.op\": unknown operator \"%s\"", af,
						   op);
				goto fail;
			}
			ru->args[k].op = o;
			ru->n_args = k + 1;
		}
	}
	*ret = sc;
	return 0;
fail:
	rt_seccomp_free(sc);
	return r;
}

static void hooks_clear(struct rt_hooks *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->list[i].path);
		free_strv(h->list[i].args);
		free_strv(h->list[i].env);
	}
	free(h->list);
	memset(h, 0, sizeof(*h));
}

static int parse_hooks(const json_t *doc, struct rt_spec *sp, ndl_error_t *err)
{
	static const char *const names[RT_HOOK_NKINDS] = {
	    [RT_HOOK_PRESTART] = "prestart",
	    [RT_HOOK_CREATE_RUNTIME] = "createRuntime",
	    [RT_HOOK_CREATE_CONTAINER] = "createContainer",
	    [RT_HOOK_START_CONTAINER] = "startContainer",
	    [RT_HOOK_POSTSTART] = "poststart",
	    [RT_HOOK_POSTSTOP] = "poststop",
	};
	json_t *hooks = NULL;
	char where[FIELD_MAX], f[FIELD_MAX + 16];
	int r = ndl_json_get_object(doc, "", "hooks", false, &hooks, err);
	if (r < 0 || !hooks)
		return r;
	for (int k = 0; k < RT_HOOK_NKINDS; k++) {
		json_t *arr = NULL;
		if ((r = ndl_json_get_array(hooks, "hooks", names[k], false, &arr, err)) < 0)
			return r;
		size_t n = json_array_size(arr);
		if (n > 1024)
			return ndl_error_setf(err, E2BIG, "field \"hooks.%s\": too many", names[k]);
		struct rt_hooks *h = &sp->hooks[k];
		h->list = xcalloc(n ? n : 1, sizeof(*h->list));
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(arr, i);
			const char *s = NULL;
			snprintf(where, sizeof(where), "hooks.%s[%zu]", names[k], i);
			if (!json_is_object(e))
				return ndl_error_setf(err, EINVAL, "field \"%s\": expected object",
						      where);
			h->n = i + 1;
			if ((r = ndl_json_get_string(e, where, "path", true, &s, err)) < 0)
				return r;
			if (s[0] != '/')
				return ndl_error_setf(err, EINVAL,
						      "field \"%s.path\": \"%s\" is not absolute",
						      where, s);
			h->list[i].path = xstrdup(s);
			if ((r = get_strv(e, where, "args", false, &h->list[i].args, NULL, err)) <
				0 ||
			    (r = get_strv(e, where, "env", false, &h->list[i].env, NULL, err)) < 0)
				return r;
			int64_t t = 0;
			if ((r = ndl_json_get_int(e, where, "timeout", false, &t, err)) < 0)
				return r;
			if (t < 0 || t > 86400) {
				snprintf(f, sizeof(f), "%s.timeout", where);
				return ndl_error_setf(err, ERANGE,
						      "field \"%s\": %lld must be positive", f,
						      (long long)t);
			}
			if (json_object_get(e, "timeout") && t == 0)
				return ndl_error_setf(
				    err, ERANGE, "field \"%s.timeout\": must be positive", where);
			h->list[i].timeout = (int)t;
		}
	}
	return 0;
}

void rt_spec_free(struct rt_spec *s)
{
	if (!s)
		return;
	free(s->oci_version);
	rt_process_clear(&s->process);
	free(s->root_path);
	free(s->hostname);
	free(s->domainname);
	for (size_t i = 0; i < s->n_mounts; i++)
		mount_clear(&s->mounts[i]);
	free(s->mounts);
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	free(s->uid_mappings);
	free(s->gid_mappings);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].path);
	free(s->devices);
	free(s->cgroups_path);
	for (size_t i = 0; i < s->n_sysctls; i++) {
		free(s->sysctls[i].key);
		free(s->sysctls[i].value);
	}
	free(s->sysctls);
	rt_seccomp_free(s->seccomp);
	free_strv(s->masked_paths);
	free_strv(s->readonly_paths);
	free(s->mount_label);
	for (int k = 0; k < RT_HOOK_NKINDS; k++)
		hooks_clear(&s->hooks[k]);
	if (s->raw)
		json_decref(s->raw);
	free(s);
}

const struct rt_namespace *rt_spec_namespace(const struct rt_spec *s, int type)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (s->namespaces[i].type == type)
			return &s->namespaces[i];
	return NULL;
}

static int parse_linux(const json_t *lx, struct rt_spec *sp, ndl_error_t *err)
{
	char f[FIELD_MAX];
	int r;
	const char *s = NULL;
	json_t *arr = NULL;

	if ((r = ndl_json_get_array(lx, "linux", "namespaces", false, &arr, err)) < 0)
		return r;
	size_t n = json_array_size(arr);
	if (n > 16)
		return ndl_error_setf(err, E2BIG, "field \"linux.namespaces\": too many entries");
	sp->namespaces = xcalloc(n ? n : 1, sizeof(*sp->namespaces));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		snprintf(f, sizeof(f), "linux.namespaces[%zu]", i);
		if (!json_is_object(e))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected object", f);
		s = NULL;
		if ((r = ndl_json_get_string(e, f, "type", true, &s, err)) < 0)
			return r;
		int t = rt_namespace_from_name(s);
		if (!t)
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.type\": unknown namespace \"%s\"", f, s);
		for (size_t k = 0; k < i; k++)
			if (sp->namespaces[k].type == t)
				return ndl_error_setf(
				    err, EINVAL, "field \"%s.type\": duplicate namespace \"%s\"", f,
				    s);
		const char *p = NULL;
		if ((r = ndl_json_get_string(e, f, "path", false, &p, err)) < 0)
			return r;
		if (p && *p && p[0] != '/')
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.path\": \"%s\" is not absolute", f, p);
		sp->namespaces[i].type = t;
		sp->namespaces[i].path = p && *p ? xstrdup(p) : NULL;
		sp->n_namespaces = i + 1;
	}
	if ((r = parse_id_mappings(lx, "uidMappings", &sp->uid_mappings, &sp->n_uid_mappings,
				   err)) < 0 ||
	    (r = parse_id_mappings(lx, "gidMappings", &sp->gid_mappings, &sp->n_gid_mappings,
				   err)) < 0)
		return r;
	const struct rt_namespace *userns = rt_spec_namespace(sp, CLONE_NEWUSER);
	if ((sp->n_uid_mappings || sp->n_gid_mappings) && !userns)
		return ndl_error_setf(
		    err, EINVAL, "field \"linux.uidMappings\": mappings need a user namespace");
	if (userns && !userns->path && (!sp->n_uid_mappings || !sp->n_gid_mappings))
		return ndl_error_setf(
		    err, EINVAL,
		    "field \"linux.uidMappings\": a new user namespace needs uid and "
		    "gid mappings");
	if ((r = parse_devices(lx, sp, err)) < 0)
		return r;
	s = NULL;
	if ((r = ndl_json_get_string(lx, "linux", "cgroupsPath", false, &s, err)) < 0)
		return r;
	sp->cgroups_path = s && *s ? xstrdup(s) : NULL;
	json_t *res = NULL;
	if ((r = ndl_json_get_object(lx, "linux", "resources", false, &res, err)) < 0)
		return r;
	sp->resources = res;
	json_t *sysctl = NULL;
	if ((r = ndl_json_get_object(lx, "linux", "sysctl", false, &sysctl, err)) < 0)
		return r;
	if (sysctl) {
		size_t ns = json_object_size(sysctl);
		if (ns > 4096)
			return ndl_error_setf(err, E2BIG,
					      "field \"linux.sysctl\": too many entries");
		sp->sysctls = xcalloc(ns ? ns : 1, sizeof(*sp->sysctls));
		const char *k;
		json_t *v;
		json_object_foreach(sysctl, k, v)
		{
			if (!json_is_string(v))
				return ndl_error_setf(
				    err, EINVAL,
				    "field \"linux.sysctl.%s\": expected string, got %s", k,
				    ndl_json_type_name(v));
			if (!*k || strstr(k, "..") || k[0] == '.' || k[0] == '/')
				return ndl_error_setf(
				    err, EINVAL, "field \"linux.sysctl\": invalid key \"%s\"", k);
			sp->sysctls[sp->n_sysctls].key = xstrdup(k);
			sp->sysctls[sp->n_sysctls].value = xstrdup(json_string_value(v));
			sp->n_sysctls++;
		}
	}
	json_t *sc = NULL;
	if ((r = ndl_json_get_object(lx, "linux", "seccomp", false, &sc, err)) < 0)
		return r;
	if (sc && (r = rt_seccomp_parse(sc, "linux.seccomp", &sp->seccomp, err)) < 0)
		return r;
	s = NULL;
	if ((r = ndl_json_get_string(lx, "linux", "rootfsPropagation", false, &s, err)) < 0)
		return r;
	if (s && *s) {
		sp->rootfs_propagation = rt_propagation_from_name(s);
		if (!sp->rootfs_propagation)
			return ndl_error_setf(
			    err, EINVAL,
			    "field \"linux.rootfsPropagation\": unknown propagation "
			    "\"%s\"",
			    s);
	}
	if ((r = get_strv(lx, "linux", "maskedPaths", false, &sp->masked_paths, &sp->n_masked_paths,
			  err)) < 0 ||
	    (r = get_strv(lx, "linux", "readonlyPaths", false, &sp->readonly_paths,
			  &sp->n_readonly_paths, err)) < 0)
		return r;
	for (size_t i = 0; i < sp->n_masked_paths; i++)
		if (sp->masked_paths[i][0] != '/')
			return ndl_error_setf(
			    err, EINVAL, "field \"linux.maskedPaths[%zu]\": \"%s\" is not absolute",
			    i, sp->masked_paths[i]);
	for (size_t i = 0; i < sp->n_readonly_paths; i++)
		if (sp->readonly_paths[i][0] != '/')
			return ndl_error_setf(
			    err, EINVAL,
			    "field \"linux.readonlyPaths[%zu]\": \"%s\" is not absolute", i,
			    sp->readonly_paths[i]);
	s = NULL;
	if ((r = ndl_json_get_string(lx, "linux", "mountLabel", false, &s, err)) < 0)
		return r;
	sp->mount_label = s && *s ? xstrdup(s) : NULL;
	json_t *intel = json_object_get(lx, "intelRdt");
	if (intel && !json_is_null(intel))
		return ndl_error_setf(err, ENOTSUP, "field \"linux.intelRdt\": not supported");
	json_t *pers = json_object_get(lx, "personality");
	if (pers && !json_is_null(pers))
		return ndl_error_setf(err, ENOTSUP, "field \"linux.personality\": not supported");
	return 0;
}

int rt_spec_parse(json_t *doc, struct rt_spec **ret, ndl_error_t *err)
{
	int r;
	const char *s = NULL;
	json_t *o = NULL;
	if (!json_is_object(doc))
		return ndl_error_setf(err, EINVAL, "config: expected a JSON object, got %s",
				      ndl_json_type_name(doc));
	struct rt_spec *sp = xcalloc(1, sizeof(*sp));
	sp->raw = json_incref(doc);

	if ((r = ndl_json_get_string(doc, "", "ociVersion", true, &s, err)) < 0)
		goto fail;
	if (strncmp(s, "1.", 2) != 0) {
		r = ndl_error_setf(err, EINVAL, "field \"ociVersion\": unsupported version \"%s\"",
				   s);
		goto fail;
	}
	sp->oci_version = xstrdup(s);

	if ((r = ndl_json_get_object(doc, "", "root", true, &o, err)) < 0)
		goto fail;
	s = NULL;
	if ((r = ndl_json_get_string(o, "root", "path", true, &s, err)) < 0)
		goto fail;
	if (!*s) {
		r = ndl_error_setf(err, EINVAL, "field \"root.path\": empty");
		goto fail;
	}
	sp->root_path = xstrdup(s);
	if ((r = ndl_json_get_bool(o, "root", "readonly", false, &sp->root_readonly, err)) < 0)
		goto fail;

	o = NULL;
	if ((r = ndl_json_get_object(doc, "", "process", false, &o, err)) < 0)
		goto fail;
	if (o) {
		if ((r = rt_process_parse(o, "process", &sp->process, err)) < 0)
			goto fail;
		sp->has_process = true;
	}
	s = NULL;
	if ((r = ndl_json_get_string(doc, "", "hostname", false, &s, err)) < 0)
		goto fail;
	if (s && strlen(s) > 64) {
		r = ndl_error_setf(err, EINVAL, "field \"hostname\": longer than 64 bytes");
		goto fail;
	}
	sp->hostname = dup_opt(s);
	s = NULL;
	if ((r = ndl_json_get_string(doc, "", "domainname", false, &s, err)) < 0)
		goto fail;
	if (s && strlen(s) > 64) {
		r = ndl_error_setf(err, EINVAL, "field \"domainname\": longer than 64 bytes");
		goto fail;
	}
	sp->domainname = dup_opt(s);

	json_t *mounts = NULL;
	if ((r = ndl_json_get_array(doc, "", "mounts", false, &mounts, err)) < 0)
		goto fail;
	size_t n = json_array_size(mounts);
	if (n > RT_MAX_ARRAY) {
		r = ndl_error_setf(err, E2BIG, "field \"mounts\": too many entries");
		goto fail;
	}
	sp->mounts = xcalloc(n ? n : 1, sizeof(*sp->mounts));
	for (size_t i = 0; i < n; i++) {
		char f[FIELD_MAX];
		snprintf(f, sizeof(f), "mounts[%zu]", i);
		sp->n_mounts = i + 1;
		if ((r = parse_mount(json_array_get(mounts, i), f, &sp->mounts[i], err)) < 0)
			goto fail;
	}

	o = NULL;
	if ((r = ndl_json_get_object(doc, "", "linux", false, &o, err)) < 0)
		goto fail;
	if (o && (r = parse_linux(o, sp, err)) < 0)
		goto fail;
	if (!o)
		sp->namespaces = xcalloc(1, sizeof(*sp->namespaces));
	if (sp->hostname && *sp->hostname) {
		const struct rt_namespace *uts = rt_spec_namespace(sp, CLONE_NEWUTS);
		if (!uts || uts->path) {
			r = ndl_error_setf(
			    err, EINVAL,
			    "field \"hostname\": setting it needs a new uts namespace");
			goto fail;
		}
	}
	if ((r = parse_hooks(doc, sp, err)) < 0)
		goto fail;
	o = NULL;
	if ((r = ndl_json_get_object(doc, "", "annotations", false, &o, err)) < 0)
		goto fail;
	if (o) {
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v)
		{
			if (!json_is_string(v)) {
				r = ndl_error_setf(
				    err, EINVAL,
				    "field \"annotations.%s\": expected string, got %s", k,
				    ndl_json_type_name(v));
				goto fail;
			}
		}
	}
	sp->annotations = o;
	*ret = sp;
	return 0;
fail:
	rt_spec_free(sp);
	return r;
}

/* jansson rejects integers beyond int64 ("too big integer"), but OCI uses
 * uint64 fields (rlimits of 18446744073709551615, seccomp values). Rewrite
 * such literals as reals ("...0.0") before parsing; get_u64 maps them back
 * (exact for UINT64_MAX, the value producers write). Strings are skipped. */
static char *widen_big_ints(const char *buf, size_t len, size_t *ret_len)
{
	char *out = NULL;
	size_t o = 0, cap = 0;
	bool changed = false;
	for (size_t i = 0; i < len;) {
		char c = buf[i];
		size_t start = i, end;
		if (c == '"') {
			for (end = i + 1; end < len && buf[end] != '"'; end++)
				if (buf[end] == '\\')
					end++;
			end = end < len ? end + 1 : len;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			end = i + (c == '-');
			while (end < len && buf[end] >= '0' && buf[end] <= '9')
				end++;
		} else {
			end = i + 1;
		}
		bool widen = false;
		if (c == '-' || (c >= '0' && c <= '9')) {
			size_t digits = end - start - (c == '-');
			bool is_int =
			    end >= len || (buf[end] != '.' && buf[end] != 'e' && buf[end] != 'E');
			if (is_int && digits >= 19) {
				/* compare against INT64_MAX / -INT64_MIN textually */
				const char *lim =
				    c == '-' ? "9223372036854775808" : "9223372036854775807";
				const char *d = buf + start + (c == '-');
				widen = digits > 19 || memcmp(d, lim, 19) > 0;
			}
		}
		size_t need = o + (end - start) + 3;
		if (need > cap) {
			cap = need * 2 + 64;
			out = xrealloc(out, cap);
		}
		memcpy(out + o, buf + start, end - start);
		o += end - start;
		if (widen) {
			memcpy(out + o, ".0", 2);
			o += 2;
			changed = true;
		}
		i = end;
	}
	if (!changed) {
		free(out);
		return NULL;
	}
	*ret_len = o;
	return out;
}

int rt_spec_parse_buf(const char *buf, size_t len, struct rt_spec **ret, ndl_error_t *err)
{
	cleanup_json json_t *doc = NULL;
	size_t wlen = 0;
	cleanup_free char *wide = widen_big_ints(buf, len, &wlen);
	int r = wide ? ndl_json_parse(wide, wlen, &doc, err) : ndl_json_parse(buf, len, &doc, err);
	if (r < 0)
		return r;
	return rt_spec_parse(doc, ret, err);
}

int rt_json_parse_wide(const char *buf, size_t len, json_t **ret, ndl_error_t *err)
{
	size_t wlen = 0;
	cleanup_free char *wide = widen_big_ints(buf, len, &wlen);
	return wide ? ndl_json_parse(wide, wlen, ret, err) : ndl_json_parse(buf, len, ret, err);
}

int rt_spec_load(const char *bundle, struct rt_spec **ret, ndl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = ndl_read_file(path, NDL_JSON_MAX_INPUT, &buf, &len, err);
	if (r < 0)
		return r;
	r = rt_spec_parse_buf(buf, len, ret, err);
	if (r < 0)
		return ndl_error_wrap(err, "%s", path);
	return 0;
}
