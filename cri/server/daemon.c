/* nodelet-cri daemon mode: flags and config file, the socket lock, serving
 * until SIGTERM/SIGINT. Containers (once they exist) keep running across a
 * daemon stop: shutdown only closes the socket and the state store. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/server/daemon.h"
#include "cri/server/handlers.h"
#include "cri/server/service.h"
#include "cri/server/stream.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nodelet-cri [flags]\n"
		"Serve the CRI v1 RuntimeService and ImageService on a unix socket.\n\n"
		"  --listen PATH            socket (default " CRI_DEFAULT_LISTEN ")\n"
		"  --root DIR               persistent state (default " CRI_DEFAULT_ROOT ")\n"
		"  --run-root DIR           runtime state (default " CRI_DEFAULT_RUN_ROOT ")\n"
		"  --cni-conf-dir DIR       CNI network configs (default /etc/cni/net.d)\n"
		"  --cni-bin-dir DIRS       CNI plugin dirs, ':' separated (default /opt/cni/bin)\n"
		"  --cni-cache-dir DIR      CNI result cache (default /var/lib/cni)\n"
		"  --registry-config FILE   registries.yaml\n"
		"  --image-preload-dir DIR  OCI archives imported at startup\n"
		"  --log-level LEVEL        error|warn|info|debug (default info)\n"
		"  --workers N              gRPC worker threads (default 4)\n"
		"  --stream-address IP      streaming server (exec/attach/port-forward) address\n"
		"                           (default 127.0.0.1)\n"
		"  --stream-port PORT       streaming server port (default 0: any free port)\n"
		"  --config FILE            YAML/JSON file with the same keys (flags win)\n");
}

enum {
	OPT_LISTEN = 256,
	OPT_ROOT,
	OPT_RUN_ROOT,
	OPT_CONF_DIR,
	OPT_BIN_DIR,
	OPT_CACHE_DIR,
	OPT_REGISTRY,
	OPT_PRELOAD,
	OPT_LOG_LEVEL,
	OPT_CONFIG,
	OPT_WORKERS,
	OPT_STREAM_ADDRESS,
	OPT_STREAM_PORT,
	OPT_HELP
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"root", required_argument, NULL, OPT_ROOT},
    {"run-root", required_argument, NULL, OPT_RUN_ROOT},
    {"cni-conf-dir", required_argument, NULL, OPT_CONF_DIR},
    {"cni-bin-dir", required_argument, NULL, OPT_BIN_DIR},
    {"cni-cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"registry-config", required_argument, NULL, OPT_REGISTRY},
    {"image-preload-dir", required_argument, NULL, OPT_PRELOAD},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"stream-address", required_argument, NULL, OPT_STREAM_ADDRESS},
    {"stream-port", required_argument, NULL, OPT_STREAM_PORT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void set_str(char **dst, const char *v)
{
	/* v may point into *dst: copy before freeing. */
	char *copy = xstrdup(v);
	free(*dst);
	*dst = copy;
}

static int parse_level(const char *s, enum ndl_log_level *ret)
{
	static const struct {
		const char *name;
		enum ndl_log_level level;
	} levels[] = {{"error", NDL_LOG_ERROR}, {"warn", NDL_LOG_WARN},	  {"warning", NDL_LOG_WARN},
		      {"info", NDL_LOG_INFO},	{"debug", NDL_LOG_DEBUG}, {"trace", NDL_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0) {
			*ret = levels[i].level;
			return 0;
		}
	return -1;
}

/* The streaming server's flags (not in the config file). */
static char *stream_address;
static int stream_port;

/* Flags over config file over defaults: the file is found first, then every
 * flag is applied on top of it. */
static int parse_args(int argc, char **argv, struct cri_daemon_config *c)
{
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
		if (opt == OPT_CONFIG)
			set_str(&c->config, optarg);
	if (c->config) {
		ndl_error_t e = NDL_ERROR_INIT;
		if (cri_daemon_config_apply_file(c, c->config, &e) < 0) {
			fprintf(stderr, "nodelet-cri: %s\n", ndl_error_msg(&e));
			ndl_error_clear(&e);
			return 2;
		}
	}
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			set_str(&c->listen, optarg);
			break;
		case OPT_ROOT:
			set_str(&c->root, optarg);
			break;
		case OPT_RUN_ROOT:
			set_str(&c->run_root, optarg);
			break;
		case OPT_CONF_DIR:
			set_str(&c->cni_conf_dir, optarg);
			break;
		case OPT_BIN_DIR:
			set_str(&c->cni_bin_dir, optarg);
			break;
		case OPT_CACHE_DIR:
			set_str(&c->cni_cache_dir, optarg);
			break;
		case OPT_REGISTRY:
			set_str(&c->registry_config, optarg);
			break;
		case OPT_PRELOAD:
			set_str(&c->image_preload_dir, optarg);
			break;
		case OPT_LOG_LEVEL:
			set_str(&c->log_level, optarg);
			break;
		case OPT_CONFIG:
			break;
		case OPT_WORKERS: {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 1 || n > 256) {
				fprintf(
				    stderr,
				    "nodelet-cri: flag --workers: expected 1..256, got \"%s\"\n",
				    optarg);
				return 2;
			}
			c->workers = (int)n;
			break;
		}
		case OPT_STREAM_ADDRESS:
			set_str(&stream_address, optarg);
			break;
		case OPT_STREAM_PORT: {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 0 || n > 65535) {
				fprintf(stderr,
					"nodelet-cri: flag --stream-port: expected 0..65535, got "
					"\"%s\"\n",
					optarg);
				return 2;
			}
			stream_port = (int)n;
			break;
		}
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nodelet-cri: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	/* Accept the endpoint spelling the kubelet uses, too. */
	if (strncmp(c->listen, "unix://", 7) == 0)
		set_str(&c->listen, c->listen + 7);
	if (c->listen[0] != '/') {
		fprintf(
		    stderr,
		    "nodelet-cri: flag --listen: expected an absolute socket path, got \"%s\"\n",
		    c->listen);
		return 2;
	}
	enum ndl_log_level lv;
	if (parse_level(c->log_level, &lv) < 0) {
		fprintf(stderr, "nodelet-cri: flag --log-level: unknown level \"%s\"\n",
			c->log_level);
		return 2;
	}
	return 0;
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* Only one daemon per socket: the lock file is held for the daemon's life,
 * so a stale socket (its daemon died) can be replaced safely. */
static int take_lock(const char *listen, int *ret_fd, ndl_error_t *err)
{
	cleanup_free char *lock_path = xasprintf("%s.lock", listen);
	cleanup_close int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ndl_error_set(err, errno, "open lock %s", lock_path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return ndl_error_setf(err, EBUSY,
					      "another nodelet-cri is serving %s (lock %s is held)",
					      listen, lock_path);
		return ndl_error_set(err, errno, "lock %s", lock_path);
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, pid, (size_t)n, 0);
	*ret_fd = steal_fd(&fd);
	return 0;
}

static int remove_stale_socket(const char *path, ndl_error_t *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ndl_error_set(err, errno, "stat %s", path);
	if (!S_ISSOCK(st.st_mode))
		return ndl_error_setf(err, EEXIST, "%s exists and is not a socket", path);
	if (unlink(path) < 0)
		return ndl_error_set(err, errno, "remove stale socket %s", path);
	log_info("removed stale socket", "path=%s", path);
	return 0;
}

int cri_daemon_main(int argc, char **argv)
{
	struct cri_daemon_config cfg;
	cri_daemon_config_defaults(&cfg);
	int rc = parse_args(argc, argv, &cfg);
	if (rc != 0) {
		cri_daemon_config_free(&cfg);
		return rc == 1 ? 0 : rc;
	}
	enum ndl_log_level lv = NDL_LOG_INFO;
	parse_level(cfg.log_level, &lv);
	ndl_log_init(STDERR_FILENO, lv, lv == NDL_LOG_DEBUG ? 4 : 0, false);

	/* The usual umask: directories of the image store and container
	 * roots (overlay upper dirs become a container's "/") must keep the
	 * modes they are created with. Private state is created with explicit
	 * modes (records 0600, dirs 0700, the socket chmod 0600). */
	umask(0022);
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals before any thread starts, so they reach only
	 * the signalfd read below. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	ndl_error_t err = NDL_ERROR_INIT;
	int lock_fd = -1, sfd = -1;
	struct cri_service svc;
	bool svc_inited = false;
	rc = 1;
	cleanup_free char *sock_dir = dirname_of(cfg.listen);
	if (ndl_mkdir_p(sock_dir, 0755, &err) < 0 || ndl_mkdir_p(cfg.root, 0700, &err) < 0 ||
	    ndl_mkdir_p(cfg.run_root, 0700, &err) < 0)
		goto out;
	if (take_lock(cfg.listen, &lock_fd, &err) < 0 || remove_stale_socket(cfg.listen, &err) < 0)
		goto out;
	if (cri_service_init(&svc, &cfg, &err) < 0)
		goto out;
	svc_inited = true;

	size_t n_methods;
	const struct cri_method *methods = cri_service_methods(&n_methods);
	struct cri_rpc_config rc_cfg = {
	    .listen = cfg.listen,
	    .workers = cfg.workers,
	    .methods = methods,
	    .n_methods = n_methods,
	    .stream = cri_service_stream(),
	    .user = &svc,
	};
	if (cri_stream_start(&svc, stream_address, stream_port, &err) < 0)
		goto out;
	if (cri_rpc_start(&rc_cfg, &svc.rpc, &err) < 0)
		goto out;
	if (chmod(cfg.listen, 0600) < 0) {
		ndl_error_set(&err, errno, "chmod %s", cfg.listen);
		goto out;
	}
	sfd = signalfd(-1, &stop, SFD_CLOEXEC);
	if (sfd < 0) {
		ndl_error_set(&err, errno, "signalfd");
		goto out;
	}
	log_info("serving CRI", "listen=%s root=%s run_root=%s workers=%d", cfg.listen, cfg.root,
		 cfg.run_root, cfg.workers);
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == (ssize_t)sizeof(si)) {
			log_info("shutting down", "signal=%u", si.ssi_signo);
			break;
		}
		ndl_error_set(&err, errno, "read signalfd");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		log_error("nodelet-cri failed", "err=\"%s\"", ndl_error_msg(&err));
	if (svc_inited) {
		/* The exit watcher posts events through the server: stop it first. */
		cri_containers_fini(&svc);
		cri_rpc_stop(svc.rpc);
		cri_stream_stop();
		svc.rpc = NULL;
		/* Only our own socket: a second daemon that failed to lock never got here. */
		if (lock_fd >= 0)
			unlink(cfg.listen);
		cri_service_fini(&svc);
	}
	if (sfd >= 0)
		close(sfd);
	if (lock_fd >= 0)
		close(lock_fd);
	ndl_error_clear(&err);
	cri_daemon_config_free(&cfg);
	free(stream_address);
	stream_address = NULL;
	return rc;
}
