/* nodelet-cri: one binary, dispatching on its first argument. For now the
 * only command is `image ...` (the image store CLI); the daemon mode is
 * added here by the CRI server. */
#include <stdio.h>
#include <string.h>

#include "cri/images/images.h"
#include "cri/server/daemon.h"

static void usage(FILE *f)
{
	fputs("usage: nodelet-cri image COMMAND ...   (nodelet-cri image --help)\n", f);
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
	if (argc < 2 || argv[1][0] == '-')
		return cri_daemon_main(argc, argv);
	usage(stderr);
	return 2;
}
