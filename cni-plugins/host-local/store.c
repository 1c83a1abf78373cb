/* The lease store, byte-compatible with the reference host-local:
 * <dataDir>/<network>/<ip> holds "<containerID>\r\n<ifname>",
 * last_reserved_ip.<set> holds the last address handed out from a range
 * set, and "lock" is flock()ed exclusively around every command. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

/* Lease files are tiny; anything bigger is not ours. */
#define LEASE_MAX 4096
/* Name of the fallback temp file when O_TMPFILE is unsupported. */
#define TMP_PREFIX ".hl-tmp."

int hl_store_open(const char *data_dir, const char *network, struct hl_store *ret, ndl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/%s", data_dir, network);
	/* The directory exists after the first ADD: one open instead of a
	 * mkdir per path component (like MkdirAll's stat first). */
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		if (ndl_mkdir_p(dir, 0755, err) < 0)
			return cni_error_set(err, CNI_ERR_IO, "%s", ndl_error_msg(err));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0)
		return cni_error_set(err, CNI_ERR_IO, "open %s: %s", dir, strerror(errno));
	/* Same mode as the reference's lock file. */
	cleanup_close int lfd =
	    openat(dfd, "lock", O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0750);
	if (lfd < 0)
		return cni_error_set(err, CNI_ERR_IO, "open %s/lock: %s", dir, strerror(errno));
	while (flock(lfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return cni_error_set(err, CNI_ERR_IO, "lock %s/lock: %s", dir,
					     strerror(errno));
	ret->dirfd = steal_fd(&dfd);
	ret->lockfd = steal_fd(&lfd);
	ret->leases = NULL;
	ret->n_leases = 0;
	ret->loaded = false;
	return 0;
}

void hl_store_close(struct hl_store *s)
{
	hl_leases_free(s->leases, s->n_leases);
	s->leases = NULL;
	s->n_leases = 0;
	s->loaded = false;
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
}

static void lease_content(const char *id, const char *ifname, char **ret, size_t *ret_len)
{
	/* The reference trims the id. */
	while (*id == ' ' || *id == '\t' || *id == '\n' || *id == '\r')
		id++;
	size_t l = strlen(id);
	while (l &&
	       (id[l - 1] == ' ' || id[l - 1] == '\t' || id[l - 1] == '\n' || id[l - 1] == '\r'))
		l--;
	*ret = xasprintf("%.*s\r\n%s", (int)l, id, ifname);
	*ret_len = strlen(*ret);
}

/* Make dirfd/name appear with its full content, or not at all: write an
 * unnamed O_TMPFILE and link it in (link fails with EEXIST exactly like
 * O_EXCL), so a crash never leaves an empty or half-written lease. */
static int create_exclusive(int dirfd, const char *name, const char *data, size_t len,
			    ndl_error_t *err)
{
	cleanup_close int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (ndl_write_all(fd, data, len, err) < 0)
			return -EIO;
		if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
			return 1;
		if (errno == EEXIST)
			return 0;
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not. */
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, p, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 1;
		if (errno == EEXIST)
			return 0;
		return ndl_error_set(err, errno, "link lease %s", name);
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return ndl_error_set(err, errno, "create lease %s", name);
	/* Filesystems without O_TMPFILE: a named temp file, removed on failure
	 * and by the next lock holder after a crash. */
	char tmp[96];
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%d", (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ndl_error_set(err, errno, "create %s", tmp);
	if (ndl_write_all(fd, data, len, err) < 0) {
		unlinkat(dirfd, tmp, 0);
		return -EIO;
	}
	int r = linkat(dirfd, tmp, dirfd, name, 0);
	int e = errno;
	unlinkat(dirfd, tmp, 0);
	if (r == 0)
		return 1;
	if (e == EEXIST)
		return 0;
	return ndl_error_set(err, e, "link lease %s", name);
}

int hl_store_reserve(struct hl_store *s, const char *id, const char *ifname,
		     const struct cni_ip *ip, size_t set_idx, ndl_error_t *err)
{
	char name[CNI_IPNET_STRLEN];
	cni_ip_format(ip, name);
	cleanup_free char *data = NULL;
	size_t len;
	lease_content(id, ifname, &data, &len);
	int r = create_exclusive(s->dirfd, name, data, len, err);
	if (r <= 0)
		return r;
	char last[64];
	snprintf(last, sizeof(last), "last_reserved_ip.%zu", set_idx);
	/* Overwrite in place and trim, rather than O_TRUNC: ext4 forces
	 * writeback on close of a file truncated to zero and rewritten
	 * (auto_da_alloc), which made this write cost milliseconds. A torn
	 * record only costs the round-robin position (it fails to parse). */
	cleanup_close int fd =
	    openat(s->dirfd, last, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	size_t nlen = strlen(name);
	ssize_t w = -1;
	if (fd >= 0) {
		do
			w = pwrite(fd, name, nlen, 0);
		while (w < 0 && errno == EINTR);
	}
	if (fd < 0 || w != (ssize_t)nlen || ftruncate(fd, (off_t)nlen) < 0) {
		int e = errno ? errno : EIO;
		/* The reference fails the reservation too; undo the lease. */
		unlinkat(s->dirfd, name, 0);
		return ndl_error_set(err, e, "write %s", last);
	}
	if (s->loaded) {
		s->leases = xrealloc(s->leases, (s->n_leases + 1) * sizeof(*s->leases));
		struct hl_lease *l = &s->leases[s->n_leases++];
		l->ip = *ip;
		/* The same fields a later scan would read back. */
		char *sep = strstr(data, "\r\n");
		l->id = xstrndup(data, sep - data);
		l->ifname = xstrdup(sep + 2);
	}
	return 1;
}

int hl_store_last_reserved(struct hl_store *s, size_t set_idx, struct cni_ip *ret)
{
	char last[64];
	snprintf(last, sizeof(last), "last_reserved_ip.%zu", set_idx);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	ndl_error_t e = NDL_ERROR_INIT;
	int r = ndl_read_file_at(s->dirfd, last, 128, &buf, &len, &e);
	ndl_error_clear(&e);
	if (r < 0)
		return -ENOENT;
	/* A damaged file only loses the round-robin position. */
	if (cni_ip_parse(buf, ret, NULL) < 0)
		return -EINVAL;
	return 0;
}

int hl_store_release_ip(struct hl_store *s, const struct cni_ip *ip, ndl_error_t *err)
{
	char name[CNI_IPNET_STRLEN];
	cni_ip_format(ip, name);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return ndl_error_set(err, errno, "release %s", name);
	for (size_t i = 0; i < s->n_leases; i++)
		if (cni_ip_equal(&s->leases[i].ip, ip)) {
			free(s->leases[i].id);
			free(s->leases[i].ifname);
			s->leases[i] = s->leases[--s->n_leases];
			break;
		}
	return 0;
}

void hl_leases_free(struct hl_lease *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].id);
		free(l[i].ifname);
	}
	free(l);
}

/* Trim as Go's strings.TrimSpace does for ASCII. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	size_t l = strlen(s);
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r' ||
		     s[l - 1] == '\v' || s[l - 1] == '\f'))
		s[--l] = 0;
	return s;
}

/* One lease file in three syscalls: they are a few bytes, so one read
 * returns all of it, into the caller's buffer of LEASE_MAX + 1 bytes. */
static bool read_lease(int dirfd, const char *name, char *buf)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return false;
	ssize_t n;
	do
		n = read(fd, buf, LEASE_MAX);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return true;
}

static int load(struct hl_store *s, ndl_error_t *err)
{
	if (s->loaded)
		return 0;
	int dfd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return ndl_error_set(err, errno, "dup");
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return ndl_error_set(err, errno, "opendir");
	}
	rewinddir(d);
	struct hl_lease *out = NULL;
	size_t n = 0, cap = 0;
	char buf[LEASE_MAX + 1];
	struct dirent *e;
	while ((e = readdir(d))) {
		/* We hold the lock, so nobody else is mid-reserve: a named temp
		 * file here is from a writer that died (done in this scan rather
		 * than a directory pass of its own). */
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			unlinkat(s->dirfd, e->d_name, 0);
			continue;
		}
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		struct cni_ip ip;
		char canon[CNI_IPNET_STRLEN];
		/* Only files named by an address are leases. */
		if (cni_ip_parse(e->d_name, &ip, NULL) < 0 ||
		    strcmp(cni_ip_format(&ip, canon), e->d_name) != 0)
			continue;
		if (!read_lease(s->dirfd, e->d_name, buf))
			continue; /* vanished or unreadable: not a lease we can match */
		char *t = trim(buf);
		char *sep = strstr(t, "\r\n");
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			out = xrealloc(out, cap * sizeof(*out));
		}
		out[n].ip = ip;
		if (sep) {
			*sep = 0;
			out[n].id = xstrdup(t);
			out[n].ifname = xstrdup(sep + 2);
		} else {
			out[n].id = xstrdup(t);
			out[n].ifname = xstrdup("");
		}
		/* A lease whose content is just "id" matches by id (old format);
		 * keep a marker for that: an empty ifname with no separator. */
		if (!sep)
			out[n].ifname[0] = 0;
		n++;
	}
	closedir(d);
	s->leases = out;
	s->n_leases = n;
	s->loaded = true;
	return 0;
}

int hl_store_list(struct hl_store *s, struct hl_lease **ret, size_t *ret_n, ndl_error_t *err)
{
	if (load(s, err) < 0)
		return -EIO;
	struct hl_lease *out = s->n_leases ? xcalloc(s->n_leases, sizeof(*out)) : NULL;
	for (size_t i = 0; i < s->n_leases; i++) {
		out[i].ip = s->leases[i].ip;
		out[i].id = xstrdup(s->leases[i].id);
		out[i].ifname = xstrdup(s->leases[i].ifname);
	}
	*ret = out;
	*ret_n = s->n_leases;
	return 0;
}

/* The reference compares the trimmed content with "id\r\nifname", then
 * (when nothing matched) with "id" alone. */
static bool match_full(const struct hl_lease *l, const char *id, const char *ifname)
{
	return strcmp(l->id, id) == 0 && strcmp(l->ifname, ifname) == 0;
}
static bool match_old(const struct hl_lease *l, const char *id)
{
	return strcmp(l->id, id) == 0 && l->ifname[0] == 0;
}

int hl_store_release_by_id(struct hl_store *s, const char *id, const char *ifname, ndl_error_t *err)
{
	if (load(s, err) < 0)
		return -EIO;
	bool found = false;
	int r = 0;
	for (int pass = 0; pass < 2 && !found; pass++)
		for (size_t i = 0; i < s->n_leases;) {
			struct hl_lease *l = &s->leases[i];
			if (pass == 0 ? !match_full(l, id, ifname) : !match_old(l, id)) {
				i++;
				continue;
			}
			struct cni_ip ip = l->ip;
			/* Releasing removes entry i (the last one moves into it). */
			if (hl_store_release_ip(s, &ip, err) < 0) {
				r = -EIO;
				i++;
			} else {
				found = true;
			}
		}
	return r;
}

int hl_store_get_by_id(struct hl_store *s, const char *id, const char *ifname, struct cni_ip **ret,
		       size_t *ret_n, ndl_error_t *err)
{
	if (load(s, err) < 0)
		return -EIO;
	struct cni_ip *out = NULL;
	size_t k = 0;
	for (size_t i = 0; i < s->n_leases; i++) {
		const struct hl_lease *l = &s->leases[i];
		if (match_full(l, id, ifname) || match_old(l, id)) {
			out = xrealloc(out, (k + 1) * sizeof(*out));
			out[k++] = l->ip;
		}
	}
	*ret = out;
	*ret_n = k;
	return 0;
}
