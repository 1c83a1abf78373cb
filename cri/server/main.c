/* Temporary entry point `nodelet-cri-server` (daemon mode only) until the
 * `nodelet-cri` binary's cri/main.c dispatches to cri_daemon_main(). */
#include "cri/server/daemon.h"

int main(int argc, char **argv)
{
	return cri_daemon_main(argc, argv);
}
