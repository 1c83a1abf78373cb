/* The kubelet's plain-HTTP endpoints: healthz (healthzBindAddress:
 * healthzPort, /healthz) and the read-only port (/healthz, /pods). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct kubelet_http;

/* Listen on addr:port (IPv4 or IPv6 literal). serve_pods adds /pods.
 * `what` names the flag for errors ("--healthz-port"). */
int kubelet_http_start(const char *addr, int port, bool serve_pods, const char *what,
		       struct kubelet_http **ret, ndl_error_t *err);
void kubelet_http_stop(struct kubelet_http *h);

/* Replace the PodList served by /pods (takes ownership of json). Shared
 * by every server; thread-safe. */
void kubelet_http_set_pods(char *json);

/* One answer, as the server's connection loop builds it from the bytes a
 * client sent (no I/O: the fuzz target drives it). */
struct kubelet_http_reply {
	char head[512];	  /* status line and headers, through the blank line */
	size_t head_len;
	const char *body; /* NULL for none; points into doc when doc is set */
	size_t body_len;  /* 0 with HEAD (Content-Length still says the size) */
	void *doc;	  /* a reference on the published PodList, or NULL */
	bool close;	  /* close the connection once this is written */
	size_t skip;	  /* request body bytes to discard after the head */
};

/* Parse one request at the front of in[0..len) and build its answer.
 * Returns the bytes of the request head consumed (> 0) with *r filled, 0 when
 * more bytes are needed, or -1 when the connection must end without an
 * answer. A malformed or oversized head gets an answer (400/431/505) with
 * r->close set, like Go's net/http. Release r with kubelet_http_reply_done. */
long kubelet_http_respond(bool serve_pods, const char *in, size_t len,
			  struct kubelet_http_reply *r);
void kubelet_http_reply_done(struct kubelet_http_reply *r);
