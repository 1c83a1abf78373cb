/* healthz and read-only /pods over libmicrohttpd (its own thread). The pod
 * list is a prebuilt JSON document published by the pod workers; a request
 * never walks live pod state or asks the runtime anything. Each published
 * document is reference-counted and handed to libmicrohttpd as is, so a
 * request costs a lock and a counter, not a copy of the list (pollers ask
 * every few tens of milliseconds; with 100 pods the list is ~100 KB). */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct kubelet_http {
	struct MHD_Daemon *d;
	bool serve_pods;
};

struct pods_doc {
	atomic_uint refs; /* the published slot holds one, each response one */
	size_t len;
	char *json;
};

static pthread_mutex_t pods_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pods_doc *pods_cur;

static void pods_doc_unref(void *cls)
{
	struct pods_doc *d = cls;
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(d->json);
	free(d);
}

void kubelet_http_set_pods(char *json)
{
	struct pods_doc *d = NULL;
	if (json) {
		d = xmalloc(sizeof(*d));
		atomic_init(&d->refs, 1);
		d->len = strlen(json);
		d->json = json;
	}
	pthread_mutex_lock(&pods_lock);
	struct pods_doc *old = pods_cur;
	pods_cur = d;
	pthread_mutex_unlock(&pods_lock);
	if (old)
		pods_doc_unref(old);
}

static enum MHD_Result reply_pods(struct MHD_Connection *conn)
{
	static const char empty[] = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\","
				    "\"metadata\":{},\"items\":[]}";
	pthread_mutex_lock(&pods_lock);
	struct pods_doc *d = pods_cur;
	if (d)
		atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pods_lock);
	struct MHD_Response *r = d ? MHD_create_response_from_buffer_with_free_callback_cls(
					 d->len, d->json, pods_doc_unref, d)
				   : MHD_create_response_from_buffer(
					 sizeof(empty) - 1, (void *)empty, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (d)
			pods_doc_unref(d);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r); /* the document goes when the last response does */
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *ctype,
			     const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct kubelet_http *h = cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
			     "405: Method Not Allowed\n");
	if (strcmp(url, "/healthz") == 0)
		return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok");
	if (h->serve_pods && (strcmp(url, "/pods") == 0 || strcmp(url, "/pods/") == 0))
		return reply_pods(conn);
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "404 page not found\n");
}

int kubelet_http_start(const char *addr, int port, bool serve_pods, const char *what,
		       struct kubelet_http **ret, ndl_error_t *err)
{
	struct sockaddr_storage ss = {0};
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return ndl_error_setf(err, EINVAL, "%s: invalid address \"%s\"", what,
					      addr);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return ndl_error_setf(err, EINVAL, "%s: invalid address \"%s\"", what,
					      addr);
	}
	struct kubelet_http *h = xcalloc(1, sizeof(*h));
	h->serve_pods = serve_pods;
	h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
				MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return ndl_error_setf(
		    err, EADDRINUSE, "%s: cannot listen on %s:%d (address in use or not available)",
		    what, addr, port);
	}
	*ret = h;
	return 0;
}

void kubelet_http_stop(struct kubelet_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
