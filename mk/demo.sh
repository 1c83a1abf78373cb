#!/bin/bash
# make demo: nodelet runs the static pods of static-pods/examples on
# nodelet-cri, inside namespaces of its own (see mk/demo/static-pods.sh).
# The CNI-only demo (our plugins wiring two namespaces) is mk/demo/cni.sh.
#   bash mk/demo.sh [builddir]      DEMO_SECONDS=N: stop by itself after N s
exec bash "$(dirname "$0")/demo/static-pods.sh" "$@"
