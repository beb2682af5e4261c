#!/bin/sh
# build.sh ENGINE IMAGE [BASE_IMAGE]: build docker/Dockerfile as IMAGE with ENGINE (docker
# or podman), from the repository root.
#
# Without BASE_IMAGE: the official python:3.11-slim-bookworm if the engine has it or can
# pull it, else a stand-in made from Debian's packages by docker/standin-base.sh. The
# stand-in is kept between runs under a tag holding a hash of that script, so it is built
# once (~75 s here) and again only when its recipe changes.
set -eu
cd "$(dirname "$0")/.."

engine=${1:?usage: build.sh ENGINE IMAGE [BASE_IMAGE]}
image=${2:?usage: build.sh ENGINE IMAGE [BASE_IMAGE]}
base=${3:-}
official=python:3.11-slim-bookworm
command -v "$engine" >/dev/null \
    || { echo "build.sh: $engine is not installed: install docker, or podman (Debian: podman runc)" >&2; exit 1; }

if [ -z "$base" ]; then
    if "$engine" image inspect "$official" >/dev/null 2>&1 || "$engine" pull -q "$official" >/dev/null 2>&1; then
        base=$official
    else
        base=localhost/audio-tasks-standin-base:$(sha256sum docker/standin-base.sh | cut -c1-12)
        if ! "$engine" image inspect "$base" >/dev/null 2>&1; then
            echo "build.sh: $official cannot be pulled; building a stand-in from Debian's packages: $base" >&2
            docker/standin-base.sh "$engine" "$base"
        fi
    fi
fi

# podman only: host networking for pip, and the host's CA bundle for this build's
# downloads (a proxy with its own authority may sit in between); nothing of it is kept.
set --
if [ "$engine" = podman ]; then
    set -- --network host
    ca=/etc/ssl/certs/ca-certificates.crt
    [ -f "$ca" ] && set -- "$@" --volume "$ca:$ca:ro"
fi
echo "build.sh: building $image from $base with $engine" >&2
"$engine" build "$@" --build-arg BASE_IMAGE="$base" --file docker/Dockerfile --tag "$image" .
