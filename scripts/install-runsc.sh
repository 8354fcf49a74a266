#!/usr/bin/env bash
# Builds gVisor's runsc (the `gvisor` isolation level's runtime) from the Go module proxy and installs it
# at ${TIDEPOOL_RUNSC_DIR:-/usr/local/lib/tidepool}/runsc (a symlink to runsc-<version>).
# gVisor's `go` branch is the Go-buildable one (its master builds with Bazel only); it is pinned here to a
# pseudo-version so every machine builds the same binary. Cached by version: a second run with the same
# version only checks `runsc --version` and prints nothing. A fresh build takes a few minutes on 2 cores
# (the Go toolchain compiles the sentry); CI caches the directory between runs.
# Needs: go (>= 1.26; the module's go.mod says 1.26.3). Skips with a message, exit 0, when go is absent:
# the gvisor runtime then refuses with runtime_unavailable and `tidepool doctor` says why.
set -euo pipefail

version="${TIDEPOOL_RUNSC_VERSION:-v0.0.0-20260905035102-160fafc42237}"
dir="${TIDEPOOL_RUNSC_DIR:-/usr/local/lib/tidepool}"
bin="$dir/runsc-$version"

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  [ "$(readlink "$dir/runsc" 2>/dev/null)" = "runsc-$version" ] || ln -sfn "runsc-$version" "$dir/runsc"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "install-runsc: go is not installed, so runsc (gVisor) is not built; the gvisor isolation level stays unavailable" >&2
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "install-runsc: building gvisor.dev/gvisor/runsc@$version (a few minutes)" >&2
start=$(date +%s)
# A throwaway module dir: -mod=mod lets `go install pkg@version` resolve the go branch's own go.mod.
(cd "$tmp" && env -i PATH="$PATH" HOME="${HOME:-/root}" GOPATH="${GOPATH:-${HOME:-/root}/go}" GOCACHE="${GOCACHE:-${HOME:-/root}/.cache/go-build}" \
  GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$tmp/bin" \
  go install "gvisor.dev/gvisor/runsc@$version")
mkdir -p "$dir"
install -m 0755 "$tmp/bin/runsc" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
ln -sfn "runsc-$version" "$dir/runsc"
echo "install-runsc: installed $dir/runsc ($(("$(date +%s)" - start)) s)" >&2
