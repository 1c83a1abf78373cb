# CNI side: the podman integration test (tests/integration/test_cni_podman.py),
# the CNI benchmark (bench/cni/run.sh) and `make demo` (mk/demo.sh) need a real
# runtime, the reference plugins to compare with, and the usual network tools.
# crun: podman's OCI runtime here (runc cannot run with --cgroups=disabled);
# strace: bench/cni/run.sh --strace.
APT_PKGS += podman crun conmon containernetworking-plugins iptables iproute2 \
	busybox-static util-linux strace
