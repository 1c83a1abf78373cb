/* Sandbox/container record store: an in-memory index guarded by one short
 * lock (never held across I/O of other objects' work), per-record locks,
 * atomic JSON files on disk. */
#include "cri/server/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char *const kind_dirs[] = {"sandboxes", "containers"};

/* Reference counts are protected by one global mutex so cri_store_put needs
 * no back pointer to its store. Lock order: st->lock, then refs_lock; a
 * record's own lock is never taken while st->lock is held. */
static pthread_mutex_t refs_lock = PTHREAD_MUTEX_INITIALIZER;

struct name_res {
	char *name;
	char id[CRI_ID_LEN + 1];
};

struct cri_store {
	char *root;
	int dirfd[2];
	pthread_mutex_t lock; /* index and name table */
	struct cri_record **recs[2];
	size_t n[2], cap[2];
	struct name_res *names;
	size_t n_names, cap_names;
};

static bool is_hex_id(const char *s)
{
	if (strlen(s) != CRI_ID_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

char *cri_sandbox_name(const char *name, const char *ns, const char *uid, uint32_t attempt)
{
	return xasprintf("%s_%s_%s_%u", name, ns, uid, attempt);
}

char *cri_container_name(const char *name, const char *sandbox_name, const char *ns,
			 const char *uid, uint32_t attempt)
{
	return xasprintf("%s_%s_%s_%s_%u", name, sandbox_name, ns, uid, attempt);
}

static int check_string_map(const json_t *data, const char *key, ndl_error_t *err)
{
	json_t *m = json_object_get(data, key);
	if (!m || json_is_null(m))
		return 0;
	if (!json_is_object(m))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s", key,
				      ndl_json_type_name(m));
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)m, k, v)
	{
		if (!json_is_string(v))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s.%s\": expected string, got %s", key, k,
					      ndl_json_type_name(v));
	}
	return 0;
}

int cri_record_validate(const json_t *data, enum cri_kind kind, ndl_error_t *err)
{
	if (!json_is_object(data))
		return ndl_error_setf(err, EINVAL, "record: expected object, got %s",
				      ndl_json_type_name(data));
	const char *id = NULL, *name = NULL, *sid = NULL;
	int64_t state = 0, created = 0;
	if (ndl_json_get_string(data, "", "id", true, &id, err) < 0 ||
	    ndl_json_get_string(data, "", "name", true, &name, err) < 0 ||
	    ndl_json_get_int(data, "", "state", true, &state, err) < 0 ||
	    ndl_json_get_int(data, "", "created_at", false, &created, err) < 0 ||
	    check_string_map(data, "labels", err) < 0 ||
	    check_string_map(data, "annotations", err) < 0)
		return -EINVAL;
	if (!is_hex_id(id))
		return ndl_error_setf(
		    err, EINVAL, "field \"id\": expected 64 lowercase hex digits, got \"%s\"", id);
	if (!*name)
		return ndl_error_setf(err, EINVAL, "field \"name\": must not be empty");
	/* PodSandboxState has 2 values, ContainerState 4. */
	if (state < 0 || state > (kind == CRI_KIND_SANDBOX ? 1 : 3))
		return ndl_error_setf(err, EINVAL, "field \"state\": invalid %s state %lld",
				      kind == CRI_KIND_SANDBOX ? "sandbox" : "container",
				      (long long)state);
	if (kind == CRI_KIND_CONTAINER) {
		if (ndl_json_get_string(data, "", "pod_sandbox_id", true, &sid, err) < 0)
			return -EINVAL;
		if (!is_hex_id(sid))
			return ndl_error_setf(err, EINVAL,
					      "field \"pod_sandbox_id\": expected 64 lowercase hex "
					      "digits, got \"%s\"",
					      sid);
	}
	return 0;
}

int cri_record_parse(const char *buf, size_t len, enum cri_kind kind, json_t **ret,
		     ndl_error_t *err)
{
	if (len > CRI_RECORD_MAX_SIZE)
		return ndl_error_setf(err, EFBIG, "record larger than %d bytes",
				      CRI_RECORD_MAX_SIZE);
	cleanup_json json_t *j = NULL;
	if (ndl_json_parse(buf, len, &j, err) < 0)
		return -EINVAL;
	if (cri_record_validate(j, kind, err) < 0)
		return -EINVAL;
	*ret = steal_ptr(&j);
	return 0;
}

static struct cri_record *record_new(enum cri_kind kind, json_t *data)
{
	struct cri_record *r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	snprintf(r->id, sizeof(r->id), "%s", json_string_value(json_object_get(data, "id")));
	r->name = xstrdup(json_string_value(json_object_get(data, "name")));
	r->data = data;
	r->refs = 1;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void record_free(struct cri_record *r)
{
	json_decref(r->data);
	free(r->name);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Caller holds st->lock. */
static struct name_res *find_name(struct cri_store *st, const char *name)
{
	for (size_t i = 0; i < st->n_names; i++)
		if (strcmp(st->names[i].name, name) == 0)
			return &st->names[i];
	return NULL;
}

static void add_name_locked(struct cri_store *st, const char *name, const char *id)
{
	if (st->n_names == st->cap_names) {
		st->cap_names = st->cap_names ? st->cap_names * 2 : 16;
		st->names = xrealloc(st->names, st->cap_names * sizeof(*st->names));
	}
	st->names[st->n_names].name = xstrdup(name);
	snprintf(st->names[st->n_names].id, sizeof(st->names[0].id), "%s", id);
	st->n_names++;
}

int cri_store_reserve_name(struct cri_store *st, const char *name, const char *id, ndl_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	struct name_res *n = find_name(st, name);
	int r = 0;
	if (n && strcmp(n->id, id) != 0)
		r = ndl_error_setf(err, EEXIST, "name \"%s\" is reserved for \"%s\"", name, n->id);
	else if (!n)
		add_name_locked(st, name, id);
	pthread_mutex_unlock(&st->lock);
	return r;
}

void cri_store_release_name(struct cri_store *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	struct name_res *n = find_name(st, name);
	if (n) {
		free(n->name);
		*n = st->names[--st->n_names];
	}
	pthread_mutex_unlock(&st->lock);
}

static void index_add_locked(struct cri_store *st, struct cri_record *r)
{
	int k = r->kind;
	if (st->n[k] == st->cap[k]) {
		st->cap[k] = st->cap[k] ? st->cap[k] * 2 : 16;
		st->recs[k] = xrealloc(st->recs[k], st->cap[k] * sizeof(*st->recs[k]));
	}
	st->recs[k][st->n[k]++] = r;
}

static int load_kind(struct cri_store *st, enum cri_kind kind, ndl_error_t *err)
{
	int dfd = dup(st->dirfd[kind]);
	if (dfd < 0)
		return ndl_error_set(err, errno, "dup");
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return ndl_error_set(err, errno, "%s/%s", st->root, kind_dirs[kind]);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != CRI_ID_LEN + 5 || strcmp(de->d_name + CRI_ID_LEN, ".json") != 0)
			continue;
		cleanup_free char *buf = NULL;
		size_t len = 0;
		ndl_error_t e = NDL_ERROR_INIT;
		json_t *data = NULL;
		char id[CRI_ID_LEN + 1];
		snprintf(id, sizeof(id), "%.*s", CRI_ID_LEN, de->d_name);
		if (ndl_read_file_at(st->dirfd[kind], de->d_name, CRI_RECORD_MAX_SIZE, &buf, &len,
				     &e) < 0 ||
		    cri_record_parse(buf, len, kind, &data, &e) < 0 ||
		    strcmp(json_string_value(json_object_get(data, "id")), id) != 0) {
			if (data) {
				ndl_error_setf(&e, EINVAL,
					       "field \"id\" does not match the file name");
				json_decref(data);
			}
			log_warn("moving aside unreadable record", "dir=%s/%s file=%s err=\"%s\"",
				 st->root, kind_dirs[kind], de->d_name, ndl_error_msg(&e));
			char bad[CRI_ID_LEN + 16];
			snprintf(bad, sizeof(bad), "%s.bad", de->d_name);
			renameat(st->dirfd[kind], de->d_name, st->dirfd[kind], bad);
			ndl_error_clear(&e);
			continue;
		}
		struct cri_record *r = record_new(kind, data);
		pthread_mutex_lock(&st->lock);
		struct name_res *n = find_name(st, r->name);
		if (n)
			log_warn("duplicate name in store", "name=%s id=%s holder=%s", r->name,
				 r->id, n->id);
		else
			add_name_locked(st, r->name, r->id);
		index_add_locked(st, r);
		pthread_mutex_unlock(&st->lock);
	}
	closedir(d);
	return 0;
}

static int cmp_created(const void *a, const void *b)
{
	const struct cri_record *x = *(struct cri_record *const *)a;
	const struct cri_record *y = *(struct cri_record *const *)b;
	json_int_t cx = json_integer_value(json_object_get(x->data, "created_at"));
	json_int_t cy = json_integer_value(json_object_get(y->data, "created_at"));
	if (cx != cy)
		return cx < cy ? -1 : 1;
	return strcmp(x->id, y->id);
}

void cri_store_close(struct cri_store *st)
{
	if (!st)
		return;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < st->n[k]; i++) {
			/* References still held elsewhere keep their record alive. */
			cri_store_put(st->recs[k][i]);
		}
		free(st->recs[k]);
		if (st->dirfd[k] >= 0)
			close(st->dirfd[k]);
	}
	for (size_t i = 0; i < st->n_names; i++)
		free(st->names[i].name);
	free(st->names);
	free(st->root);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int cri_store_open(const char *root, struct cri_store **ret, ndl_error_t *err)
{
	struct cri_store *st = xcalloc(1, sizeof(*st));
	st->root = xstrdup(root);
	st->dirfd[0] = st->dirfd[1] = -1;
	pthread_mutex_init(&st->lock, NULL);
	for (int k = 0; k < 2; k++) {
		cleanup_free char *dir = xasprintf("%s/%s", root, kind_dirs[k]);
		if (ndl_mkdir_p(dir, 0700, err) < 0) {
			cri_store_close(st);
			return ndl_error_wrap(err, "state store");
		}
		st->dirfd[k] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->dirfd[k] < 0) {
			int r = ndl_error_set(err, errno, "state store: open %s", dir);
			cri_store_close(st);
			return r;
		}
		if (load_kind(st, k, err) < 0) {
			cri_store_close(st);
			return ndl_error_wrap(err, "state store");
		}
		if (st->n[k] > 1)
			qsort(st->recs[k], st->n[k], sizeof(*st->recs[k]), cmp_created);
	}
	*ret = st;
	return 0;
}

static bool id_in_use_locked(struct cri_store *st, const char *id)
{
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < st->n[k]; i++)
			if (strcmp(st->recs[k][i]->id, id) == 0)
				return true;
	for (size_t i = 0; i < st->n_names; i++)
		if (strcmp(st->names[i].id, id) == 0)
			return true;
	return false;
}

void cri_store_new_id(struct cri_store *st, char out[CRI_ID_LEN + 1])
{
	for (;;) {
		unsigned char b[CRI_ID_LEN / 2];
		size_t got = 0;
		while (got < sizeof(b)) {
			ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
			if (r > 0)
				got += (size_t)r;
			else if (errno != EINTR)
				abort(); /* no entropy source at all: nothing sane to do */
		}
		for (size_t i = 0; i < sizeof(b); i++)
			sprintf(out + 2 * i, "%02x", b[i]);
		out[CRI_ID_LEN] = 0;
		pthread_mutex_lock(&st->lock);
		bool used = id_in_use_locked(st, out);
		pthread_mutex_unlock(&st->lock);
		if (!used)
			return;
	}
}

static int write_record(struct cri_store *st, enum cri_kind kind, const char *id, json_t *data,
			ndl_error_t *err)
{
	cleanup_free char *buf = ndl_json_dumps(data, false);
	char name[CRI_ID_LEN + 6];
	snprintf(name, sizeof(name), "%s.json", id);
	if (ndl_write_file_atomic_at(st->dirfd[kind], name, buf, strlen(buf), 0600, err) < 0)
		return ndl_error_wrap(err, "write %s/%s/%s", st->root, kind_dirs[kind], name);
	return 0;
}

int cri_store_add(struct cri_store *st, enum cri_kind kind, json_t *data, struct cri_record **ret,
		  ndl_error_t *err)
{
	if (cri_record_validate(data, kind, err) < 0)
		return -EINVAL;
	const char *id = json_string_value(json_object_get(data, "id"));
	const char *name = json_string_value(json_object_get(data, "name"));
	pthread_mutex_lock(&st->lock);
	struct name_res *n = find_name(st, name);
	bool ok_name = n && strcmp(n->id, id) == 0;
	bool dup = false;
	for (size_t i = 0; i < st->n[kind]; i++)
		if (strcmp(st->recs[kind][i]->id, id) == 0)
			dup = true;
	pthread_mutex_unlock(&st->lock);
	if (!ok_name)
		return ndl_error_setf(err, EINVAL, "record %s: name \"%s\" is not reserved for it",
				      id, name);
	if (dup)
		return ndl_error_setf(err, EEXIST, "record %s already exists", id);
	json_t *copy = json_deep_copy(data);
	if (write_record(st, kind, id, copy, err) < 0) {
		json_decref(copy);
		return -abs(err && err->code ? err->code : EIO);
	}
	struct cri_record *r = record_new(kind, copy);
	pthread_mutex_lock(&st->lock);
	index_add_locked(st, r);
	pthread_mutex_unlock(&st->lock);
	if (ret) {
		pthread_mutex_lock(&refs_lock);
		r->refs++;
		pthread_mutex_unlock(&refs_lock);
		*ret = r;
	}
	return 0;
}

int cri_store_get(struct cri_store *st, enum cri_kind kind, const char *id_or_prefix,
		  struct cri_record **ret, ndl_error_t *err)
{
	size_t plen = strlen(id_or_prefix);
	if (plen == 0)
		return ndl_error_setf(err, EINVAL, "empty %s ID",
				      kind == CRI_KIND_SANDBOX ? "sandbox" : "container");
	struct cri_record *found = NULL;
	int matches = 0;
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->n[kind]; i++) {
		struct cri_record *r = st->recs[kind][i];
		if (strncmp(r->id, id_or_prefix, plen) == 0) {
			/* An exact match wins over prefixes of longer IDs. */
			if (plen == CRI_ID_LEN) {
				found = r;
				matches = 1;
				break;
			}
			found = r;
			matches++;
		}
	}
	if (matches == 1) {
		pthread_mutex_lock(&refs_lock);
		found->refs++;
		pthread_mutex_unlock(&refs_lock);
	}
	pthread_mutex_unlock(&st->lock);
	const char *what = kind == CRI_KIND_SANDBOX ? "sandbox" : "container";
	if (matches == 0)
		return ndl_error_setf(err, ENOENT, "%s \"%s\" not found", what, id_or_prefix);
	if (matches > 1)
		return ndl_error_setf(err, EINVAL, "%s ID prefix \"%s\" is ambiguous (%d matches)",
				      what, id_or_prefix, matches);
	*ret = found;
	return 0;
}

void cri_store_put(struct cri_record *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&refs_lock);
	bool last = --rec->refs == 0;
	pthread_mutex_unlock(&refs_lock);
	if (last)
		record_free(rec);
}

int cri_store_save(struct cri_store *st, struct cri_record *rec, ndl_error_t *err)
{
	if (rec->removed)
		return ndl_error_setf(err, ENOENT, "record %s was removed", rec->id);
	if (cri_record_validate(rec->data, rec->kind, err) < 0)
		return -EINVAL;
	const char *id = json_string_value(json_object_get(rec->data, "id"));
	const char *name = json_string_value(json_object_get(rec->data, "name"));
	if (strcmp(id, rec->id) != 0 || strcmp(name, rec->name) != 0)
		return ndl_error_setf(err, EINVAL, "record %s: \"id\" and \"name\" cannot change",
				      rec->id);
	return write_record(st, rec->kind, rec->id, rec->data, err);
}

int cri_store_remove(struct cri_store *st, struct cri_record *rec, ndl_error_t *err)
{
	char name[CRI_ID_LEN + 6];
	snprintf(name, sizeof(name), "%s.json", rec->id);
	if (unlinkat(st->dirfd[rec->kind], name, 0) < 0 && errno != ENOENT)
		return ndl_error_set(err, errno, "remove %s/%s/%s", st->root, kind_dirs[rec->kind],
				     name);
	fsync(st->dirfd[rec->kind]);
	bool drop = false;
	pthread_mutex_lock(&st->lock);
	int k = rec->kind;
	for (size_t i = 0; i < st->n[k]; i++) {
		if (st->recs[k][i] == rec) {
			memmove(&st->recs[k][i], &st->recs[k][i + 1],
				(st->n[k] - i - 1) * sizeof(*st->recs[k]));
			st->n[k]--;
			drop = true;
			break;
		}
	}
	struct name_res *n = find_name(st, rec->name);
	if (n && strcmp(n->id, rec->id) == 0) {
		free(n->name);
		*n = st->names[--st->n_names];
	}
	rec->removed = true;
	pthread_mutex_unlock(&st->lock);
	if (drop)
		cri_store_put(rec); /* the index's reference */
	return 0;
}

bool cri_filter_match(const struct cri_filter *f, const json_t *data)
{
	if (!f)
		return true;
	const char *id = json_string_value(json_object_get(data, "id"));
	if (f->id && *f->id && (!id || strncmp(id, f->id, strlen(f->id)) != 0))
		return false;
	if (f->has_state && json_integer_value(json_object_get(data, "state")) != f->state)
		return false;
	if (f->pod_sandbox_id && *f->pod_sandbox_id) {
		const char *sid = json_string_value(json_object_get(data, "pod_sandbox_id"));
		if (!sid || strncmp(sid, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
			return false;
	}
	if (f->label_selector) {
		json_t *labels = json_object_get(data, "labels");
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)f->label_selector, k, v)
		{
			const char *have = json_string_value(json_object_get(labels, k));
			if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
				return false;
		}
	}
	return true;
}

int cri_store_list(struct cri_store *st, enum cri_kind kind, const struct cri_filter *f,
		   struct cri_record ***ret, size_t *ret_n)
{
	/* Snapshot with references under the index lock, then filter under each
	 * record's own lock: a caller may hold a record lock while it removes. */
	pthread_mutex_lock(&st->lock);
	size_t total = st->n[kind];
	struct cri_record **all = xcalloc(total + 1, sizeof(*all));
	pthread_mutex_lock(&refs_lock);
	for (size_t i = 0; i < total; i++) {
		all[i] = st->recs[kind][i];
		all[i]->refs++;
	}
	pthread_mutex_unlock(&refs_lock);
	pthread_mutex_unlock(&st->lock);
	size_t n = 0;
	for (size_t i = 0; i < total; i++) {
		struct cri_record *r = all[i];
		pthread_mutex_lock(&r->lock);
		bool m = !r->removed && cri_filter_match(f, r->data);
		pthread_mutex_unlock(&r->lock);
		if (m)
			all[n++] = r;
		else
			cri_store_put(r);
	}
	*ret = all;
	*ret_n = n;
	return 0;
}

void cri_store_list_free(struct cri_record **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cri_store_put(list[i]);
	free(list);
}

size_t cri_store_count(struct cri_store *st, enum cri_kind kind)
{
	pthread_mutex_lock(&st->lock);
	size_t n = st->n[kind];
	pthread_mutex_unlock(&st->lock);
	return n;
}
