#!/usr/bin/env bash
# Makes sure Docker has the public base images the Dockerfiles name. Each tag
# that is missing is pulled; where no registry answers (an offline machine),
# it is made locally instead, from Debian packages and this machine's Go
# toolchain, under the same tag:
#
#   debian:bookworm-slim               debootstrap --variant=minbase bookworm
#   golang:1.26-bookworm               the same plus gcc, libc6-dev, make,
#                                      pkg-config, git, ca-certificates and
#                                      the host's Go (GOROOT) in /usr/local/go
#   gcr.io/distroless/static-debian12:nonroot
#                                      a static root: passwd and group with
#                                      root, nobody and nonroot (65532), the
#                                      CA bundle, tzdata, /tmp
#
# The CA bundles also trust the host's own extra CAs
# (/usr/local/share/ca-certificates), so HTTPS from the builds works behind a
# re-signing proxy; on a normal machine there are none and this adds nothing.
# The roots are cached as tarballs under the cache directory: once made, a
# missing tag is imported again in seconds. Needs root and debootstrap
# (Debian's package) only when a root is not cached yet.
set -euo pipefail
cache=${CHORUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chorus}/base
docker=${DOCKER:-docker}
suite=bookworm
DEBIAN=debian:bookworm-slim
GOLANG=golang:1.26-bookworm
DISTROLESS=gcr.io/distroless/static-debian12:nonroot
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
case $gover in go1.26*) ;; *) echo "base-images: the host's Go is $gover; $GOLANG needs go1.26" >&2; exit 1 ;; esac
mkdir -p "$cache"

have() { $docker image inspect "$1" >/dev/null 2>&1; }
pull() { timeout 120 $docker pull -q "$1" >/dev/null 2>&1; }

# The Debian mirror of the host's apt sources (deb822 or one-line format).
mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n $m ]] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# debootstrap_root TARBALL [--include=...]: a minbase bookworm root, slimmed,
# as a tarball (made once, then cached).
debootstrap_root() {
  local tarball=$1; shift
  [[ -s $tarball ]] && return 0
  command -v debootstrap >/dev/null || { echo "base-images: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  local root m start=$SECONDS
  root=$(mktemp -d "$cache/root.XXXXXX")
  m=$(mirror)
  echo "base-images: debootstrap $suite from $m $*" >&2
  nice -n 10 debootstrap --variant=minbase "$@" "$suite" "$root" "$m" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; rm -rf "$root" "$root.log"; exit 1; }
  # The official image's apt sources: the release, its updates and security.
  local sec=${m%/debian}/debian-security
  [[ $m == */debian ]] || sec=http://deb.debian.org/debian-security
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $m
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  if [[ -d $root/usr/share/ca-certificates ]]; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
    chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
      cat /usr/local/share/ca-certificates/*.crt >>"$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
  fi
  # Slim it as the official image does: no package caches, lists, docs.
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log \
    "$root"/debootstrap
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root" "$root.log"
  echo "base-images: root $(basename "$tarball") made in $((SECONDS - start)) s" >&2
}

# distroless_root TARBALL FROM: the static root, made from a Debian root.
distroless_root() {
  local tarball=$1 from=$2
  [[ -s $tarball ]] && return 0
  local d root
  d=$(mktemp -d "$cache/static.XXXXXX")
  root=$d/root
  mkdir -p "$root"/{etc/ssl/certs,tmp,root,home/nonroot,usr/share,var}
  mkdir -p "$d/debian" && tar -C "$d/debian" -xf "$from" ./usr/share/zoneinfo ./etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
  [[ -d $d/debian/usr/share/zoneinfo ]] && cp -a "$d/debian/usr/share/zoneinfo" "$root/usr/share/"
  if [[ -s $d/debian/etc/ssl/certs/ca-certificates.crt ]]; then
    cp "$d/debian/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/certs/"
  else
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  fi
  cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
P
  cat >"$root/etc/group" <<'G'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
G
  echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
  printf 'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\n' >"$root/etc/os-release"
  chmod 1777 "$root/tmp"; chmod 700 "$root/root"; chown 65532:65532 "$root/home/nonroot"
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$d"
}

provide() { # TAG: true when present or pulled
  if have "$1"; then echo "base-images: $1 present" >&2; return 0; fi
  if pull "$1"; then echo "base-images: $1 pulled" >&2; return 0; fi
  echo "base-images: $1 cannot be pulled; making it locally" >&2
  return 1
}

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if ! provide "$DEBIAN"; then
  debootstrap_root "$cache/debian-$suite-minbase.tar"
  $docker import -c "ENV PATH=$path" -c 'CMD ["bash"]' \
    "$cache/debian-$suite-minbase.tar" "$DEBIAN" >/dev/null
fi

if ! provide "$GOLANG"; then
  debootstrap_root "$cache/debian-$suite-golang.tar" \
    --include=ca-certificates,gcc,libc6-dev,make,pkg-config,git,netbase,curl,xz-utils
  # The Go toolchain: this machine's own (the same release the workspace
  # needs), streamed into the image as /usr/local/go.
  {
    tar -C "$(dirname "$goroot")" --numeric-owner --transform "s,^$(basename "$goroot"),usr/local/go," \
      -cf - "$(basename "$goroot")"
  } >"$cache/go.tar.tmp"
  d=$(mktemp -d "$cache/golang.XXXXXX")
  cp "$cache/debian-$suite-golang.tar" "$d/root.tar"
  tar -A -f "$d/root.tar" "$cache/go.tar.tmp"
  rm -f "$cache/go.tar.tmp"
  $docker import \
    -c "ENV PATH=/go/bin:/usr/local/go/bin:$path" -c 'ENV GOLANG_VERSION='"${gover#go}" \
    -c 'ENV GOPATH=/go' -c 'ENV GOTOOLCHAIN=local' -c 'WORKDIR /go' -c 'CMD ["bash"]' \
    "$d/root.tar" "$GOLANG" >/dev/null
  rm -rf "$d"
fi

if ! provide "$DISTROLESS"; then
  debootstrap_root "$cache/debian-$suite-golang.tar" \
    --include=ca-certificates,gcc,libc6-dev,make,pkg-config,git,netbase,curl,xz-utils
  distroless_root "$cache/distroless-static-debian12.tar" "$cache/debian-$suite-golang.tar"
  $docker import -c 'USER 65532:65532' -c 'WORKDIR /home/nonroot' \
    -c "ENV PATH=$path" -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    "$cache/distroless-static-debian12.tar" "$DISTROLESS" >/dev/null
fi
