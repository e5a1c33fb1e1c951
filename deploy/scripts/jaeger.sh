#!/usr/bin/env bash
# Builds the Jaeger v2 binary from its Go module, pinned in deploy/tools/jaeger
# (module v1.76.0 is the release tagged v2.13.0, the image tag that
# docker-compose.yaml names), into the cache directory, and prints its path.
# A second run finds it there and takes no time. CGO off, no UI assets: the
# OTLP receivers and the query API (/api/services, /api/traces) are all the
# suite's tests need.
#
#   deploy/scripts/jaeger.sh            build when missing, print the path
#   deploy/scripts/jaeger.sh -path      print the path only (built or not)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CHORUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chorus}
mod=$root/deploy/tools/jaeger
module_version=$(awk '$1 == "github.com/jaegertracing/jaeger" {print $2}' "$mod/go.mod")
# Jaeger tags every release twice: v1.N.0 (the Go module's version) and
# v2.(N-63).0 (the v2 binary and image).
minor=$(echo "$module_version" | cut -d. -f2)
release=v2.$((minor - 63)).0
out=$cache/jaeger/$module_version/jaeger
if [[ ${1:-} == -path ]]; then echo "$out"; exit 0; fi
if [[ -x $out ]]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
echo "building jaeger $release (module $module_version) into $out; about 10 minutes cold on 2 cores" >&2
start=$SECONDS
vpkg=github.com/jaegertracing/jaeger/internal/version
GOWORK=off CGO_ENABLED=0 nice -n 10 go -C "$mod" build -trimpath \
  -ldflags "-s -w -X $vpkg.latestVersion=$release" \
  -o "$out.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
mv "$out.tmp" "$out"
echo "built jaeger $release in $((SECONDS - start)) s" >&2
echo "$out"
