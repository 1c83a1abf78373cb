/* The kubelet's plain-HTTP endpoints: healthz (healthzBindAddress:
 * healthzPort, /healthz) and the read-only port (/healthz, /pods). */
#pragma once

#include <stdbool.h>

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
