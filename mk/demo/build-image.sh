#!/bin/bash
# Builds an image from Debian's busybox-static without any network: an OCI
# layout (umoci) with /bin/busybox and a symlink per applet, written out as a
# docker-archive that nodelet-cri --image-preload-dir imports.
#   build-image.sh WORKDIR REF OUT.tar
set -euo pipefail
work=$1 ref=$2 out=$3
oci=$work/oci
bundle=$work/bundle
mkdir -p "$work" "$(dirname "$out")"
umoci init --layout "$oci"
umoci new --image "$oci:demo"
umoci unpack --image "$oci:demo" "$bundle" >/dev/null
rootfs=$bundle/rootfs
mkdir -p "$rootfs"/{bin,tmp,etc,proc,sys,dev,www}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || [ -e "$rootfs/bin/$a" ] || ln -s busybox "$rootfs/bin/$a"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"
umoci repack --image "$oci:demo" "$bundle"
umoci config --image "$oci:demo" --config.cmd /bin/sh \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
rm -f "$out"
skopeo --insecure-policy copy -q "oci:$oci:demo" "docker-archive:$out:$ref"
