/* libFuzzer: layer unpack (tar / gzip / zstd) into a scratch directory,
 * which is emptied after every input. Nothing may appear outside it. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/images/images-internal.h"
#include "lib/fs.h"

static char dir[64];

static void rm_tree(void)
{
	char sub[80];
	snprintf(sub, sizeof(sub), "%s/x", dir);
	if (ndl_rm_rf(sub, NULL) < 0 || mkdir(sub, 0700) < 0)
		abort();
}

static void remove_dir(void)
{
	ndl_rm_rf(dir, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz-unpack-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
		rm_tree();
	}
	int mfd = memfd_create("layer", MFD_CLOEXEC);
	if (mfd < 0 || write(mfd, data, size) != (ssize_t)size)
		abort();
	lseek(mfd, 0, SEEK_SET);
	char sub[80];
	snprintf(sub, sizeof(sub), "%s/x", dir);
	int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct unpack_limits lim = {64u << 20, 10000};
	ndl_error_t err = NDL_ERROR_INIT;
	layer_unpack_fd(mfd, dfd, &lim, &err);
	ndl_error_clear(&err);
	close(dfd);
	close(mfd);
	rm_tree();
	return 0;
}
