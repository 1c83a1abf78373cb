/* The kubelet's pod lifecycle over any CRI v1 runtime: a worker per pod,
 * its syncs run by a bounded thread pool (create the sandbox, init
 * containers in order, app containers, restarts with back-off, in-place
 * restart of a changed container, graceful termination with preStop), a
 * periodic relist that adopts what the runtime
 * already runs (matched by the io.kubernetes.pod.uid label) and stops pods
 * no source wants, volumes (emptyDir, hostPath, downwardAPI) and the pod
 * status the read-only /pods endpoint serves. */
#pragma once

#include <stddef.h>

#include "kubelet/config.h"
#include "lib/error.h"
#include "static-pods/staticpods.h"

struct kl_lifecycle;

/* Connect to cfg->container_runtime_endpoint (lazily) and start the relist
 * thread. cfg must outlive the lifecycle. */
int kl_lifecycle_start(const struct kubelet_config *cfg, struct kl_lifecycle **ret,
		       ndl_error_t *err);
/* Hand over static pod events (ADD/UPDATE/REMOVE; ERROR ignored). The first
 * call (even with n == 0) marks the sources ready: only then are pods that
 * no source wants stopped. Non-blocking. */
void kl_lifecycle_handle_events(struct kl_lifecycle *l, const struct sp_event *ev, size_t n);
/* Stop the threads; pods keep running (as the kubelet leaves them). */
void kl_lifecycle_stop(struct kl_lifecycle *l);
