/* Watching the manifest directory: inotify for low latency (a rename into
 * the directory is seen at once), plus a periodic full re-read
 * (fileCheckFrequency) that catches anything inotify cannot report (a
 * missing directory appearing later, in-place writes without close, queue
 * overflow). Change detection is by file content. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "staticpods.h"

struct sp_entry {
	char *name;    /* file name inside dir */
	char *content; /* last content read, for change detection */
	size_t len;
	struct pod *pod; /* parsed pod, NULL when the manifest is invalid */
	bool active;	 /* pod was announced (ADD/UPDATE) and not removed */
	int64_t seen_ns; /* config.seen of pod: kept while the UID stays */
};

struct sp_source {
	char *dir;	 /* directory watched */
	char *only_name; /* when the configured path is a single file */
	char *node_name;
	int64_t period_ns;
	int epfd, inofd, timerfd;
	int wd; /* -1 when the directory is not watched (missing) */
	bool initial_pending;
	struct sp_entry *entries;
	size_t n_entries;
	struct sp_event *ev; /* events being collected */
	size_t n_ev, cap_ev;
};

const char *sp_event_type_name(enum sp_event_type t)
{
	switch (t) {
	case SP_EVENT_ADD:
		return "ADD";
	case SP_EVENT_UPDATE:
		return "UPDATE";
	case SP_EVENT_REMOVE:
		return "REMOVE";
	default:
		return "ERROR";
	}
}

void sp_events_free(struct sp_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pod_unref(ev[i].pod);
		pod_unref(ev[i].old);
		free(ev[i].file);
		free(ev[i].message);
	}
	free(ev);
}

static char *entry_path(const struct sp_source *s, const char *name)
{
	return xasprintf("%s/%s", s->dir, name);
}

static void emit(struct sp_source *s, enum sp_event_type t, struct pod *pod, struct pod *old,
		 const char *name, const char *msg)
{
	if (s->n_ev == s->cap_ev) {
		s->cap_ev = s->cap_ev ? s->cap_ev * 2 : 8;
		s->ev = xrealloc(s->ev, s->cap_ev * sizeof(*s->ev));
	}
	s->ev[s->n_ev++] = (struct sp_event){
	    .type = t,
	    .pod = pod_ref(pod),
	    .old = pod_ref(old),
	    .file = entry_path(s, name),
	    .message = msg ? xstrdup(msg) : NULL,
	};
}

/* The kubelet reads every non-hidden regular file; nodelet takes the
 * manifest extensions only, so editor backups and temp files are ignored. */
static bool candidate_name(const struct sp_source *s, const char *name)
{
	if (s->only_name)
		return strcmp(name, s->only_name) == 0;
	if (name[0] == '.')
		return false;
	const char *dot = strrchr(name, '.');
	return dot &&
	       (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

static struct sp_entry *find_entry(struct sp_source *s, const char *name)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (strcmp(s->entries[i].name, name) == 0)
			return &s->entries[i];
	return NULL;
}

static struct sp_entry *active_by_full_name(struct sp_source *s, const char *full_name,
					    const struct sp_entry *except)
{
	for (size_t i = 0; i < s->n_entries; i++) {
		struct sp_entry *e = &s->entries[i];
		if (e != except && e->active && strcmp(e->pod->full_name, full_name) == 0)
			return e;
	}
	return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct sp_entry *)a)->name, ((const struct sp_entry *)b)->name);
}

/* Entries with a valid pod that is not active (a duplicate name earlier)
 * get announced once their name is free, in file-name order. */
static void activate_pending(struct sp_source *s)
{
	if (s->n_entries > 1)
		qsort(s->entries, s->n_entries, sizeof(*s->entries), cmp_entry);
	for (size_t i = 0; i < s->n_entries; i++) {
		struct sp_entry *e = &s->entries[i];
		if (e->pod && !e->active && !active_by_full_name(s, e->pod->full_name, e)) {
			e->active = true;
			emit(s, SP_EVENT_ADD, e->pod, NULL, e->name, NULL);
		}
	}
}

static void drop_entry(struct sp_source *s, struct sp_entry *e)
{
	if (e->active)
		emit(s, SP_EVENT_REMOVE, e->pod, NULL, e->name, NULL);
	pod_unref(e->pod);
	free(e->name);
	free(e->content);
	size_t idx = (size_t)(e - s->entries);
	memmove(e, e + 1, (s->n_entries - idx - 1) * sizeof(*e));
	s->n_entries--;
}

/* Re-read one file and emit what changed. */
static void rescan_file(struct sp_source *s, const char *name)
{
	struct sp_entry *e = find_entry(s, name);
	cleanup_free char *path = entry_path(s, name);
	struct stat st;
	if (!candidate_name(s, name) || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (e)
			drop_entry(s, e);
		return;
	}
	cleanup_free char *buf = NULL;
	size_t len = 0;
	cleanup_error ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_read_file(path, SP_MAX_MANIFEST_SIZE, &buf, &len, &err) < 0) {
		if (err.code == ENOENT) {
			if (e)
				drop_entry(s, e);
			return;
		}
		emit(s, SP_EVENT_ERROR, NULL, NULL, name, ndl_error_msg(&err));
		return;
	}
	if (e && e->content && e->len == len && memcmp(e->content, buf, len) == 0)
		return; /* unchanged */
	if (!e) {
		s->entries = xrealloc(s->entries, (s->n_entries + 1) * sizeof(*s->entries));
		e = &s->entries[s->n_entries++];
		*e = (struct sp_entry){.name = xstrdup(name)};
	}
	free(e->content);
	e->content = steal_ptr(&buf);
	e->len = len;

	struct pod *pod = NULL;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	if (sp_pod_from_manifest(e->content, len, path, s->node_name, now_ns, &pod, &err) < 0) {
		/* The kubelet ends up without a pod for an invalid manifest
		 * (its next full listing drops it); do that at once. */
		emit(s, SP_EVENT_ERROR, NULL, NULL, name, ndl_error_msg(&err));
		if (e->active)
			emit(s, SP_EVENT_REMOVE, e->pod, NULL, name, NULL);
		pod_unref(e->pod);
		e->pod = NULL;
		e->active = false;
		return;
	}
	struct pod *old = e->pod;
	bool was_active = e->active;
	if (old && strcmp(old->uid, pod->uid) == 0) {
		if (!sp_pods_differ_semantically(old, pod)) {
			/* Same pod (e.g. only the bytes' layout changed): keep
			 * the old one, its config.seen time included. */
			pod_unref(pod);
			return;
		}
		/* Same UID (an explicit metadata.uid), new content: the
		 * kubelet's checkAndUpdatePod updates the pod in place and
		 * keeps its local annotations (config.seen among them). */
		struct pod *again = NULL;
		if (sp_pod_from_manifest(e->content, len, path, s->node_name, e->seen_ns, &again,
					 &err) == 0) {
			pod_unref(pod);
			pod = again;
		} else {
			ndl_error_clear(&err);
		}
		e->pod = pod;
		if (e->active)
			emit(s, SP_EVENT_UPDATE, pod, old, name, NULL);
		pod_unref(old);
		return;
	}
	e->seen_ns = now_ns;
	e->pod = pod;
	e->active = false;
	struct sp_entry *other = active_by_full_name(s, pod->full_name, e);
	if (other) {
		cleanup_free char *msg = xasprintf("duplicate pod name \"%s\" in namespace \"%s\": "
						   "already defined by %s/%s; ignored",
						   pod->name, pod->namespace, s->dir, other->name);
		emit(s, SP_EVENT_ERROR, NULL, NULL, name, msg);
		if (was_active)
			emit(s, SP_EVENT_REMOVE, old, NULL, name, NULL);
	} else if (was_active && strcmp(old->full_name, pod->full_name) == 0) {
		e->active = true;
		emit(s, SP_EVENT_UPDATE, pod, old, name, NULL);
	} else {
		if (was_active)
			emit(s, SP_EVENT_REMOVE, old, NULL, name, NULL);
		e->active = true;
		emit(s, SP_EVENT_ADD, pod, NULL, name, NULL);
	}
	pod_unref(old);
}

/* The kubelet's podsDifferSemantically (pkg/kubelet/config/config.go):
 * spec, labels, deletionTimestamp, deletionGracePeriodSeconds and the
 * annotations other than its local ones (config.source, config.mirror,
 * config.seen; config.hash does count). */
static bool annotations_equal(const json_t *a, const json_t *b)
{
	static const char *const local[] = {"kubernetes.io/config.source",
					    "kubernetes.io/config.mirror",
					    "kubernetes.io/config.seen"};
	json_t *ca = json_is_object(a) ? json_copy((json_t *)a) : json_object();
	json_t *cb = json_is_object(b) ? json_copy((json_t *)b) : json_object();
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		json_object_del(ca, local[i]);
		json_object_del(cb, local[i]);
	}
	bool eq = json_equal(ca, cb);
	json_decref(ca);
	json_decref(cb);
	return eq;
}

static bool field_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return !a && !b;
	return json_equal((json_t *)a, (json_t *)b);
}

bool sp_pods_differ_semantically(const struct pod *a, const struct pod *b)
{
	const json_t *ma = json_object_get(a->json, "metadata");
	const json_t *mb = json_object_get(b->json, "metadata");
	static const char *const fields[] = {"labels", "deletionTimestamp",
					     "deletionGracePeriodSeconds"};
	if (!field_equal(json_object_get(a->json, "spec"), json_object_get(b->json, "spec")))
		return true;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const json_t *fa = json_object_get(ma, fields[i]);
		const json_t *fb = json_object_get(mb, fields[i]);
		/* An empty map is the same as none (Go's DeepEqual of a nil
		 * and an empty map differs, but both decode alike here). */
		if (json_is_object(fa) && !json_object_size(fa))
			fa = NULL;
		if (json_is_object(fb) && !json_object_size(fb))
			fb = NULL;
		if (!field_equal(fa, fb))
			return true;
	}
	return !annotations_equal(json_object_get(ma, "annotations"),
				  json_object_get(mb, "annotations"));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void try_watch(struct sp_source *s)
{
	if (s->wd >= 0)
		return;
	s->wd =
	    inotify_add_watch(s->inofd, s->dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
				  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK);
	if (s->wd < 0)
		log_debug(2, "manifest directory not watched", "dir=%s errno=%d", s->dir, errno);
}

static void full_rescan(struct sp_source *s)
{
	try_watch(s);
	cleanup_closedir DIR *d = opendir(s->dir);
	char **names = NULL;
	size_t n = 0;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!candidate_name(s, de->d_name))
				continue;
			names = xrealloc(names, (n + 1) * sizeof(char *));
			names[n++] = xstrdup(de->d_name);
		}
	}
	/* Entries whose files are gone. */
	for (size_t i = 0; i < s->n_entries;) {
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(names[k], s->entries[i].name) == 0;
		if (!seen)
			drop_entry(s, &s->entries[i]);
		else
			i++;
	}
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_name);
	for (size_t k = 0; k < n; k++) {
		rescan_file(s, names[k]);
		free(names[k]);
	}
	free(names);
	activate_pending(s);
}

int sp_source_new(const struct sp_options *opt, struct sp_source **ret, ndl_error_t *err)
{
	if (!opt->path || !*opt->path)
		return ndl_error_setf(err, EINVAL, "static pod path: required");
	if (!opt->node_name || !*opt->node_name)
		return ndl_error_setf(err, EINVAL, "static pod source: node name required");
	struct sp_source *s = xcalloc(1, sizeof(*s));
	s->epfd = s->inofd = s->timerfd = s->wd = -1;
	s->node_name = xstrdup(opt->node_name);
	s->period_ns = opt->check_period_ns > 0 ? opt->check_period_ns : 20LL * 1000000000LL;
	struct stat st;
	if (stat(opt->path, &st) == 0 && S_ISREG(st.st_mode)) {
		cleanup_free char *copy = xstrdup(opt->path);
		char *slash = strrchr(copy, '/');
		if (slash) {
			*slash = 0;
			s->dir = xstrdup(*copy ? copy : "/");
			s->only_name = xstrdup(slash + 1);
		} else {
			s->dir = xstrdup(".");
			s->only_name = xstrdup(copy);
		}
	} else {
		s->dir = xstrdup(opt->path);
		size_t l = strlen(s->dir);
		while (l > 1 && s->dir[l - 1] == '/')
			s->dir[--l] = 0;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->inofd < 0 || s->timerfd < 0) {
		int r = ndl_error_set(err, errno, "static pod source: set up watch");
		sp_source_free(s);
		return r;
	}
	struct itimerspec its = {
	    .it_interval = {(time_t)(s->period_ns / 1000000000LL),
			    (long)(s->period_ns % 1000000000LL)},
	    .it_value = {(time_t)(s->period_ns / 1000000000LL),
			 (long)(s->period_ns % 1000000000LL)},
	};
	struct epoll_event e1 = {.events = EPOLLIN, .data.fd = s->inofd};
	struct epoll_event e2 = {.events = EPOLLIN, .data.fd = s->timerfd};
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->inofd, &e1) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, &e2) < 0) {
		int r = ndl_error_set(err, errno, "static pod source: set up timer");
		sp_source_free(s);
		return r;
	}
	try_watch(s);
	/* Make the fd readable so the first process() call reads the dir. */
	s->initial_pending = true;
	struct itimerspec now = its;
	now.it_value = (struct timespec){0, 1};
	timerfd_settime(s->timerfd, 0, &now, NULL);
	*ret = s;
	return 0;
}

void sp_source_free(struct sp_source *s)
{
	if (!s)
		return;
	while (s->n_entries)
		drop_entry(s, &s->entries[s->n_entries - 1]);
	sp_events_free(s->ev, s->n_ev);
	free(s->entries);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->inofd >= 0)
		close(s->inofd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	free(s->dir);
	free(s->only_name);
	free(s->node_name);
	free(s);
}

int sp_source_fd(const struct sp_source *s)
{
	return s->epfd;
}

static void take_events(struct sp_source *s, struct sp_event **ret, size_t *ret_n)
{
	*ret = s->ev;
	*ret_n = s->n_ev;
	s->ev = NULL;
	s->n_ev = s->cap_ev = 0;
}

int sp_source_resync(struct sp_source *s, struct sp_event **ret_events, size_t *ret_n,
		     ndl_error_t *err)
{
	full_rescan(s);
	take_events(s, ret_events, ret_n);
	return 0;
}

int sp_source_process(struct sp_source *s, struct sp_event **ret_events, size_t *ret_n,
		      ndl_error_t *err)
{
	bool need_full = false;
	uint64_t ticks;
	if (read(s->timerfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks))
		need_full = true;
	if (s->initial_pending) {
		need_full = true;
		s->initial_pending = false;
	}
	/* Names touched in this batch, handled once each after the drain. */
	char **names = NULL;
	size_t n = 0;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t len = read(s->inofd, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				for (size_t k = 0; k < n; k++)
					free(names[k]);
				free(names);
				return ndl_error_set(err, errno, "read inotify");
			}
			break;
		}
		if (len == 0)
			break;
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *ie = (struct inotify_event *)p;
			p += sizeof(*ie) + ie->len;
			if (ie->mask & IN_Q_OVERFLOW) {
				need_full = true;
				continue;
			}
			if (ie->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				/* The directory itself went away: forget the watch
				 * and re-read (it may be gone, then everything is). */
				if (ie->wd != s->wd)
					continue; /* a watch already replaced */
				if (s->wd >= 0 && (ie->mask & IN_MOVE_SELF))
					inotify_rm_watch(s->inofd, s->wd);
				s->wd = -1;
				need_full = true;
				continue;
			}
			/* A "..data"-style symlink swap (as ConfigMap volumes do)
			 * changes what the manifest links point at without an
			 * event for them: re-read everything. */
			if (ie->len && strncmp(ie->name, "..", 2) == 0 && !s->only_name) {
				need_full = true;
				continue;
			}
			if (!ie->len || !candidate_name(s, ie->name))
				continue;
			if (ie->mask & IN_CREATE) {
				/* A new empty file is being written: wait for its
				 * close. Symlinks and hard links are complete. */
				cleanup_free char *path = entry_path(s, ie->name);
				struct stat st;
				if (lstat(path, &st) < 0 ||
				    (S_ISREG(st.st_mode) && st.st_size == 0))
					continue;
			}
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = strcmp(names[k], ie->name) == 0;
			if (!dup) {
				names = xrealloc(names, (n + 1) * sizeof(char *));
				names[n++] = xstrdup(ie->name);
			}
		}
	}
	if (need_full) {
		full_rescan(s);
	} else {
		for (size_t k = 0; k < n; k++)
			rescan_file(s, names[k]);
		if (n)
			activate_pending(s);
	}
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	take_events(s, ret_events, ret_n);
	return 0;
}

size_t sp_source_pods(const struct sp_source *s, struct pod ***ret_pods)
{
	struct pod **v = xcalloc(s->n_entries + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < s->n_entries; i++)
		if (s->entries[i].active)
			v[n++] = pod_ref(s->entries[i].pod);
	*ret_pods = v;
	return n;
}
