/* nodelet-cri: one binary, dispatching on its first argument: `image ...`
 * is the image store CLI, no command (only flags) is the CRI daemon. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/images/images.h"
#include "cri/server/daemon.h"

static void usage(FILE *f)
{
	fputs("usage: nodelet-cri image COMMAND ...   (nodelet-cri image --help)\n", f);
}

/* One malloc arena for the daemon. glibc gives each thread that allocates
 * an arena of its own (up to 8 per core) and an arena keeps the pages it
 * once grew to: with the gRPC, worker, event and streaming threads that is
 * ~0.4 MB more RSS after 50 pods than with one shared arena (measured with
 * bench/cri). The daemon's allocations are small and short next to the
 * work of an RPC (spawns, mounts, netlink), so the shared lock does not
 * show in pod start latency. An admin's own MALLOC_ARENA_MAX /
 * GLIBC_TUNABLES arena setting wins. */
static void tune_malloc(void)
{
	const char *t = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "glibc.malloc.arena_max")))
		return;
	mallopt(M_ARENA_MAX, 1);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "image") == 0)
		return images_cli_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	/* Daemon mode: no subcommand, only flags (nodelet-cri --listen ...). */
	if (argc < 2 || argv[1][0] == '-') {
		tune_malloc();
		return cri_daemon_main(argc, argv);
	}
	usage(stderr);
	return 2;
}
