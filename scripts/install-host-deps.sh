#!/usr/bin/env bash
# Installs, with apt, the Debian packages tidepool needs on a host and that a fresh machine lacks:
# a C compiler and make (the local runtime's helper; better-sqlite3 builds from source), python3 (node-gyp)
# and python3-venv (the Python SDK's test venv), util-linux (unshare/nsenter), iproute2 (network tests),
# nftables (per-sandbox network rules), mount (losetup), PostgreSQL 15 (ephemeral databases), xfsprogs
# (reflink loop images), btrfs-progs (the sandboxes' disk-limit pool), procps (ps in tests), and for OCI
# template bases: skopeo and umoci (build and push test images), docker-registry (a loopback registry in
# tests), mmdebstrap (a small Debian rootfs for those images).
# Run as root. Idempotent: installs only what is missing, and prints nothing when nothing is.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
# The Python SDK's tests run in a venv; Debian ships venv's ensurepip only in python3-venv.
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
command -v ps >/dev/null || need+=(procps)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v unshare >/dev/null || need+=(util-linux)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
command -v losetup >/dev/null || need+=(mount)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15 postgresql-client-15)

# gVisor's runsc (the gvisor isolation level) is not built here: it takes minutes, and the main job does
# not need it. scripts/install-runsc.sh builds it (.ci/run does, beside npm ci).

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-host-deps: missing ${need[*]}; run as root: sudo $0" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-host-deps: missing ${need[*]}, and this is not a Debian-like system (no apt-get); install them with your package manager" >&2
  exit 1
fi
echo "install-host-deps: apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
