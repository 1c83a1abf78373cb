/* The nodelet-cri daemon entry point, for cri/main.c (no gRPC or CRI
 * headers needed by the includer). */
#pragma once

/* Daemon mode: parse flags/config, take the socket lock, serve CRI until
 * SIGTERM/SIGINT. Returns the process exit code. */
int cri_daemon_main(int argc, char **argv);
