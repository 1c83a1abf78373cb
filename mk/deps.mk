# Packages every part needs to build and test. Components add their own in
# their module.mk (APT_PKGS += ...).
APT_PKGS += build-essential pkg-config clang clang-format git \
	libjansson-dev libyaml-dev libcmocka-dev \
	python3 python3-pytest iproute2 util-linux procps busybox-static jq
