/* Fuzz nodelet's HTTP endpoints as a connection feeds them: the input is a
 * client's byte stream (possibly several pipelined requests, bodies,
 * garbage), answered request by request the way the server loop does,
 * body bytes dropped in between. Checks that every answer is a well-formed
 * head whose Content-Length matches the body (or the GET's for HEAD), or an
 * error answer that closes the connection. The
 * first byte picks the server kind (healthz only, or read-only with /pods)
 * and whether a pod list is published. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool pods = data[0] & 1;
	if (data[0] & 2)
		kubelet_http_set_pods(strdup("{\"kind\":\"PodList\",\"items\":[{}]}"));
	else
		kubelet_http_set_pods(NULL);
	const char *in = (const char *)data + 1;
	size_t len = size - 1, skip = 0;
	for (;;) {
		size_t d = skip < len ? skip : len;
		in += d;
		len -= d;
		skip -= d;
		if (!len)
			break;
		struct kubelet_http_reply r;
		long n = kubelet_http_respond(pods, in, len, &r);
		if (n <= 0)
			break;
		if ((size_t)n > len)
			abort();
		if (r.head_len < 16 || memcmp(r.head, "HTTP/1.1 ", 9) != 0 ||
		    memcmp(r.head + r.head_len - 4, "\r\n\r\n", 4) != 0)
			abort();
		/* Without Content-Length only a closing error answer. */
		const char *cl = strstr(r.head, "Content-Length: ");
		if (!cl && !r.close)
			abort();
		if (cl && r.body_len && r.body_len != strtoul(cl + 16, NULL, 10))
			abort();
		if (r.body_len && !r.body)
			abort();
		if (r.body_len)
			(void)memchr(r.body, 0, r.body_len); /* readable */
		bool close = r.close;
		skip = r.skip;
		kubelet_http_reply_done(&r);
		in += n;
		len -= (size_t)n;
		if (close)
			break;
	}
	kubelet_http_set_pods(NULL);
	return 0;
}
