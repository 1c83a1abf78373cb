/* libFuzzer: WWW-Authenticate challenge parsing and base64 decoding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cri/images/images-internal.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	ndl_error_t err = NDL_ERROR_INIT;
	struct auth_challenge c = {0};
	if (auth_challenge_parse(s, &c, &err) == 0)
		auth_challenge_clear(&c);
	ndl_error_clear(&err);
	free(base64_decode(s, NULL));
	free(s);
	return 0;
}
