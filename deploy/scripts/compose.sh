#!/usr/bin/env bash
# Prints a command that runs Docker Compose v2: `docker compose` when the
# docker CLI has the plugin, else a compose binary built from its Go module
# (github.com/docker/compose/v2, pinned below) into the cache directory. A
# second run finds it there and takes no time.
#
# `go install` refuses this module (its go.mod has exclude directives), so
# the script builds it as the main module of a writable copy of the
# downloaded module, where those directives apply.
#
#   deploy/scripts/compose.sh          print the command, building when needed
#   deploy/scripts/compose.sh -build   build the binary even if the plugin exists
set -euo pipefail
version=v2.40.3
cache=${CHORUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chorus}
docker=${DOCKER:-docker}
if [[ ${1:-} != -build ]] && $docker compose version >/dev/null 2>&1; then
  echo "$docker compose"; exit 0
fi
out=$cache/compose/$version/docker-compose
if [[ ! -x $out ]]; then
  mkdir -p "$(dirname "$out")"
  echo "building docker compose $version into $out; about 10 minutes cold on 2 cores" >&2
  start=$SECONDS
  dir=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$version" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$dir/." "$work/"
  chmod -R u+w "$work"
  GOWORK=off CGO_ENABLED=0 nice -n 10 go -C "$work" build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
    -o "$out.tmp" ./cmd
  mv "$out.tmp" "$out"
  echo "built docker compose $version in $((SECONDS - start)) s" >&2
fi
echo "$out"
