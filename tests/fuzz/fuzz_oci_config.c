/* libFuzzer target: OCI config.json parsing and validation (spec.c), and
 * the mount option / name tables it uses. Any input must either parse or
 * fail with an error message, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/runtime/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ndl_error_t err = NDL_ERROR_INIT;
	struct rt_spec *s = NULL;
	if (rt_spec_parse_buf((const char *)data, size, &s, &err) == 0) {
		/* Walk what was parsed so the fuzzer sees every field used. */
		for (size_t i = 0; i < s->n_mounts; i++)
			if (!s->mounts[i].destination || s->mounts[i].destination[0] != '/')
				abort();
		if (s->has_process && (!s->process.args || !s->process.args[0]))
			abort();
		rt_spec_free(s);
	} else {
		if (!ndl_error_msg(&err)[0])
			abort();
		ndl_error_clear(&err);
	}
	/* Also exercise the name tables on the raw bytes as a string. */
	char buf[64];
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
	memcpy(buf, data, n);
	buf[n] = '\0';
	rt_signal_from_name(buf);
	rt_cap_from_name(buf);
	const char *opts[] = {buf, "ro", buf};
	unsigned long f, p;
	char *d = NULL;
	if (rt_mount_options_parse(opts, 3, &f, &p, &d, &err) == 0)
		free(d);
	ndl_error_clear(&err);
	return 0;
}
