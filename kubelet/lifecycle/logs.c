/* Container logs the kubelet's way (pkg/kubelet/logs, kuberuntime_container):
 * rotation of a running container's log once it reaches containerLogMaxSize
 * (renamed to <log>.<YYYYMMDD-hhmmss>, the runtime told to reopen it, older
 * rotated files gzipped, at most containerLogMaxFiles files in all), the
 * legacy /var/log/containers symlinks that log shippers tail, and the removal
 * of a container's logs with the container. The CRI calls are the caller's:
 * these functions take a reopen callback, so the file handling is unit-tested
 * on its own. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kubelet/lifecycle/internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define COMPRESS_SUFFIX ".gz"
#define TMP_SUFFIX	".tmp"

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* gzip src into src.gz (through src.gz.tmp, renamed when complete), then
 * remove src: compressLog. */
static int compress_log(const char *src, ndl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s%s%s", src, COMPRESS_SUFFIX, TMP_SUFFIX);
	cleanup_free char *dst = xasprintf("%s%s", src, COMPRESS_SUFFIX);
	cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return ndl_error_setf(err, errno, "open %s", src);
	cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0)
		return ndl_error_setf(err, errno, "create %s", tmp);
	gzFile gz = gzdopen(out, "wb");
	if (!gz) {
		unlink(tmp);
		return ndl_error_setf(err, ENOMEM, "gzip %s", tmp);
	}
	out = -1; /* gzclose closes it */
	char buf[65536];
	ssize_t n;
	int r = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (gzwrite(gz, buf, (unsigned)n) != (int)n) {
			r = ndl_error_setf(err, EIO, "gzip into %s", tmp);
			break;
		}
	}
	if (n < 0 && r == 0)
		r = ndl_error_setf(err, errno, "read %s", src);
	if (gzclose(gz) != Z_OK && r == 0)
		r = ndl_error_setf(err, EIO, "gzip into %s", tmp);
	if (r == 0 && rename(tmp, dst) < 0)
		r = ndl_error_setf(err, errno, "rename %s to %s", tmp, dst);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* The uncompressed file goes once the compressed one is complete; a
	 * crash in between leaves both, and the next pass drops the plain one
	 * (cleanupUnusedLogs). */
	if (unlink(src) < 0 && errno != ENOENT)
		return ndl_error_setf(err, errno, "remove %s", src);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kl_log_rotate(const char *log, int max_files, int64_t now_ns,
		  int (*reopen)(void *arg, ndl_error_t *err), void *arg, ndl_error_t *err)
{
	/* Every rotated file of this log: <log>.* */
	cleanup_free char *pattern = xasprintf("%s.*", log);
	glob_t g = {0};
	int gr = glob(pattern, GLOB_NOSORT, NULL, &g);
	if (gr != 0 && gr != GLOB_NOMATCH) {
		globfree(&g);
		return ndl_error_setf(err, EIO, "list rotated logs %s", pattern);
	}
	size_t n = gr == 0 ? g.gl_pathc : 0;
	char **logs = xcalloc(n ? n : 1, sizeof(*logs));
	size_t k = 0;
	/* cleanupUnusedLogs: temporary files of an interrupted compression,
	 * and plain files whose compressed copy is complete, are not in use. */
	for (size_t i = 0; i < n; i++) {
		const char *l = g.gl_pathv[i];
		bool unused = has_suffix(l, TMP_SUFFIX);
		if (!unused && !has_suffix(l, COMPRESS_SUFFIX)) {
			cleanup_free char *gz = xasprintf("%s%s", l, COMPRESS_SUFFIX);
			unused = access(gz, F_OK) == 0;
		}
		if (unused) {
			if (unlink(l) < 0 && errno != ENOENT)
				log_warn("cannot remove an unused rotated log", "path=%s errno=%d", l,
					 errno);
			continue;
		}
		logs[k++] = xstrdup(l);
	}
	globfree(&g);
	/* removeExcessLogs: besides the live log and the one about to be
	 * rotated, at most max_files - 2 rotated files stay; the oldest go
	 * first (the names sort by their timestamps). */
	qsort(logs, k, sizeof(*logs), cmp_str);
	size_t keep = max_files > 2 ? (size_t)(max_files - 2) : 0;
	size_t first = k > keep ? k - keep : 0;
	int r = 0;
	for (size_t i = 0; i < first && r == 0; i++)
		if (unlink(logs[i]) < 0 && errno != ENOENT)
			r = ndl_error_setf(err, errno, "remove old rotated log %s", logs[i]);
	/* Compress what stays uncompressed (the file rotated last time). */
	for (size_t i = first; i < k && r == 0; i++)
		if (!has_suffix(logs[i], COMPRESS_SUFFIX))
			r = compress_log(logs[i], err);
	for (size_t i = 0; i < k; i++)
		free(logs[i]);
	free(logs);
	if (r < 0)
		return r;
	/* rotateLatestLog: rename, then have the runtime reopen the path; if
	 * it cannot, the name goes back so the next pass tries again. */
	time_t secs = (time_t)(now_ns / 1000000000LL);
	struct tm tm;
	localtime_r(&secs, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	cleanup_free char *rotated = xasprintf("%s.%s", log, stamp);
	if (rename(log, rotated) < 0)
		return ndl_error_setf(err, errno, "rename %s to %s", log, rotated);
	if (reopen(arg, err) < 0) {
		if (rename(rotated, log) < 0)
			log_warn("cannot put the log back after a failed reopen", "path=%s errno=%d",
				 rotated, errno);
		return ndl_error_wrap(err, "reopen the container log %s", log);
	}
	return 0;
}

void kl_log_clean(const char *log)
{
	if (!log || !*log)
		return;
	/* logManager.Clean: the log and every rotated file of it. */
	cleanup_free char *pattern = xasprintf("%s*", log);
	glob_t g = {0};
	if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (unlink(g.gl_pathv[i]) < 0 && errno != ENOENT)
				log_warn("cannot remove a container log", "path=%s errno=%d",
					 g.gl_pathv[i], errno);
	globfree(&g);
}

char *kl_legacy_log_symlink(const char *dir, const char *pod_name, const char *pod_namespace,
			    const char *container_name, const char *container_id)
{
	/* <pod>_<namespace>_<container>-<id>.log, the name cut so that the
	 * file name stays within ext4's 255 bytes (logSymlink). */
	cleanup_free char *name =
		xasprintf("%s_%s_%s-%s", pod_name, pod_namespace, container_name, container_id);
	const size_t max = 255 - strlen(".log");
	if (strlen(name) > max)
		name[max] = '\0';
	return xasprintf("%s/%s.log", dir, name);
}

int kl_legacy_log_id(const char *path, char *id, size_t size)
{
	/* getContainerIDFromLegacyLogSymlink: the part after the last '-' of
	 * the name without ".log". */
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n < 4 || strcmp(base + n - 4, ".log") != 0)
		return -1;
	const char *dash = NULL;
	for (const char *c = base; c < base + n - 4; c++)
		if (*c == '-')
			dash = c;
	if (!dash)
		return -1;
	/* A container ID as short as 6 characters still finds a container;
	 * anything shorter is no ID. */
	size_t len = (size_t)(base + n - 4 - (dash + 1));
	if (len < 6 || len + 1 > size)
		return -1;
	memcpy(id, dash + 1, len);
	id[len] = '\0';
	return 0;
}
