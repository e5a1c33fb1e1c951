#!/usr/bin/env bash
# `make images`: everything docker-compose.yaml needs, as local images.
#
#   1. the base images the Dockerfiles name (deploy/scripts/base-images.sh:
#      pulled, or made offline under the same tags);
#   2. the Jaeger image the compose file names: pulled, or, offline, the
#      Jaeger v2 binary built from its Go module (deploy/scripts/jaeger.sh)
#      wrapped in an image under the same tag (no UI assets; the OTLP
#      receivers and the query API work);
#   3. the suite's five images, built by Compose v2 (chorus/SERVICE:latest).
#
# Each step keeps what it made in the cache directory or in Docker, so a
# second run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scripts=$root/deploy/scripts
docker=${DOCKER:-docker}
start=$SECONDS

"$scripts/base-images.sh"

jaeger_image=$(awk '/^ *image: jaegertracing\/jaeger:/ {print $2; exit}' "$root/docker-compose.yaml")
jaeger_release=v$(echo "$jaeger_image" | cut -d: -f2)
if $docker image inspect "$jaeger_image" >/dev/null 2>&1; then
  echo "images: $jaeger_image present" >&2
elif timeout 120 $docker pull -q "$jaeger_image" >/dev/null 2>&1; then
  echo "images: $jaeger_image pulled" >&2
else
  echo "images: $jaeger_image cannot be pulled; wrapping the Jaeger binary built from its Go module" >&2
  bin=$("$scripts/jaeger.sh")
  built=$("$bin" version 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1 || true)
  if [[ -n $built && $built != "$jaeger_release" ]]; then
    echo "images: the compose file names Jaeger $jaeger_release but deploy/tools/jaeger builds $built" >&2
    exit 1
  fi
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$bin" "$ctx/jaeger-linux"
  # As Jaeger's own image (cmd/jaeger/Dockerfile): the binary, its ports,
  # a non-root user; no flags means the built-in all-in-one configuration
  # with in-memory storage.
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.description="Jaeger built from its Go module by Chorus's make images (no UI assets), standing in for the official image offline"
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 5778 5779 9411 13133 14250 14268 16686
COPY jaeger-linux /cmd/jaeger/jaeger-linux
USER 10001
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
DOCKERFILE
  DOCKER_BUILDKIT=0 $docker build -q -t "$jaeger_image" "$ctx" >/dev/null 2>"$ctx/build.log" ||
    $docker build -q -t "$jaeger_image" "$ctx" >/dev/null
fi

compose=$("$scripts/compose.sh")
echo "images: building the suite's images with $compose" >&2
$compose -f "$root/docker-compose.yaml" --progress=quiet build
echo "images: done in $((SECONDS - start)) s" >&2
