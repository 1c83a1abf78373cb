/* nodelet-shim internals shared with its unit tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct shim_opts {
	const char *id;
	const char *bundle;
	const char *state_dir;
	const char *runtime;
	const char *runtime_root;
	const char *log_path;
	bool stdin;	 /* keep the container's stdin open for attach */
	bool stdin_once; /* close it when the first attach with stdin detaches */
	bool tty;	 /* the container has a terminal (process.terminal in the bundle) */
	bool foreground;
	bool help;
};

int shim_parse_args(int argc, char **argv, struct shim_opts *o, ndl_error_t *err);

/* exit.json content for a wait(2) status: exit_code is the exit status, or
 * 128+signal when killed (as runtimes report it), finished_at in ns. */
int shim_exit_json(int wait_status, long long finished_ns, bool oom_killed, char *buf,
		   size_t size);

/* The nodelet-shim command (see usage). */
int shim_main(int argc, char **argv);
