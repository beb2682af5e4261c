#!/bin/sh
# standin-base.sh ENGINE TAG: build a stand-in for python:3.11-slim-bookworm from Debian's
# own packages, for machines that cannot pull from Docker Hub, and import it as TAG.
#
# The same release (bookworm, with its updates and security suites) and the same shape as
# the official base: a minimal Debian with CA certificates, netbase, tzdata, python3 and
# pip, LANG=C.UTF-8, and pip allowed to install outside Debian's package manager. Only
# the Python differs: Debian's 3.11 lives in /usr/bin (the official one in /usr/local/bin),
# so docker/Dockerfile calls `python3` and never a fixed path. Needs mmdebstrap (root).
set -eu

engine=${1:?usage: standin-base.sh ENGINE TAG}
tag=${2:?usage: standin-base.sh ENGINE TAG}
mirror=http://deb.debian.org

rootfs=$(mktemp --suffix=.tar)
log=$(mktemp --suffix=.log)
trap 'rm -f "$rootfs" "$log"' EXIT

# merged-usr hook: without it mmdebstrap installs usrmerge, which pulls in perl.
# stdin is closed: with no terminal mmdebstrap may read extra sources from it. Its chatty
# output is shown only if it fails.
# The customize hook's "$1" (the new root) is mmdebstrap's to expand, not ours.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=ca-certificates,netbase,tzdata,python3,python3-pip,python-is-python3 \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    bookworm "$rootfs" \
    "deb $mirror/debian bookworm main" \
    "deb $mirror/debian bookworm-updates main" \
    "deb $mirror/debian-security bookworm-security main" </dev/null >"$log" 2>&1 \
    || { cat "$log" >&2; echo "standin-base.sh: mmdebstrap failed (output above)" >&2; exit 1; }

"$engine" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$rootfs" "$tag" >/dev/null
