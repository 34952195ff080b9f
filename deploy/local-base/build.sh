#!/usr/bin/env bash
# Base images for a machine that reaches Debian's archive and PyPI but not Docker Hub:
#   imagine-local/bookworm     Debian bookworm (minbase, python3, ca-certificates) from debootstrap
#   imagine-local/python:3.11  stands in for python:3.11-slim   (python.Dockerfile)
#   imagine-local/postgres:15  stands in for postgres:16        (postgres.Dockerfile, Debian's PostgreSQL 15)
#   imagine-local/prometheus   stands in for prom/prometheus    (prometheus.Dockerfile, Debian's package)
# Usage: deploy/local-base/build.sh [ROOTFS_DIR]   (root; needs debootstrap and a running Docker daemon)
# Certificates added to this machine (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's) are
# trusted in the images too, so pip and apt inside a build reach their registries as the host does.
# The builds use the host's network: a daemon started without a bridge or iptables (a sandbox) has no other.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rootfs=${1:-$(mktemp -d)/rootfs}
docker=${DOCKER:-docker}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! "$docker" image inspect imagine-local/bookworm >/dev/null 2>&1; then
    if [ ! -x "$rootfs/usr/bin/python3" ]; then
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror"
    fi
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    # What an image needs none of: package caches and lists (apt-get update refreshes them in a build).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$docker" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - imagine-local/bookworm
fi
"$docker" build --network host -t imagine-local/python:3.11 -f "$here/python.Dockerfile" "$here"
"$docker" build --network host -t imagine-local/postgres:15 -f "$here/postgres.Dockerfile" "$here"
"$docker" build --network host -t imagine-local/prometheus -f "$here/prometheus.Dockerfile" "$here"
