# The images of the Chorus servers, one build target each, from the
# repository root:
#   docker build --target text .          (text, image, audio, embed, orchestrator, gateway)
# docker-compose.yaml builds all six. The base images (golang:1.26-bookworm,
# gcr.io/distroless/static-debian12, debian:bookworm-slim) must be available
# locally: docker pull them, or run `make images`, which pulls them or,
# offline, makes them under the same tags. The build needs the Go module proxy
# and, for audio, Debian's package mirror besides. RUN --mount needs BuildKit
# (Docker's default builder).
#
# The five pure-Go servers come from one build stage, so a whole stack
# compiles the workspace once; each final image is distroless, runs as
# nonroot, and holds its server and the `chorus` command, whose `chorus
# health` (no shell or curl in the image) checks the server that
# CHORUS_GRPC_ADDR or CHORUS_HTTP_ADDR names.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The whole workspace: go.work names every module, so each must be present.
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,id=chorus-go-build,target=/root/.cache/go-build \
    --mount=type=cache,id=chorus-go-mod,target=/go/pkg/mod \
    go build -trimpath -ldflags="-s -w" -o /out/ \
      ./services/text/cmd/text ./services/image/cmd/image ./services/embed/cmd/embed \
      ./orchestrator/cmd/orchestrator ./gateway/cmd/gateway ./cli/cmd/chorus

# Flite is linked into the audio service with cgo: its voices and lexicon
# statically, so the runtime needs only libasound, libm and libc.
FROM golang:1.26-bookworm AS build-audio
RUN apt-get update && apt-get install -y --no-install-recommends flite1-dev libasound2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=chorus-go-build,target=/root/.cache/go-build \
    --mount=type=cache,id=chorus-go-mod,target=/go/pkg/mod \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/audio ./services/audio/cmd/audio

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/chorus /usr/local/bin/chorus
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["/usr/local/bin/chorus", "health"]

FROM runtime AS text
COPY --from=build /out/text /usr/local/bin/text
# Chorus's own language model, served offline by the embedded engine (image
# models there are skipped).
COPY models/*.gguf /models/
ENV CHORUS_MODELS_DIR=/models
# Inside a container a server must listen on every interface.
ENV CHORUS_GRPC_ADDR=0.0.0.0:50051
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/text"]

FROM runtime AS image
COPY --from=build /out/image /usr/local/bin/image
# Chorus's own image model (text models there are skipped).
COPY models/*.gguf /models/
ENV CHORUS_MODELS_DIR=/models
ENV CHORUS_GRPC_ADDR=0.0.0.0:50052
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
EXPOSE 50052
ENTRYPOINT ["/usr/local/bin/image"]

FROM runtime AS embed
COPY --from=build /out/embed /usr/local/bin/embed
# Chorus's own embedding model (the text and image models there are skipped).
COPY models/*.gguf /models/
ENV CHORUS_MODELS_DIR=/models
ENV CHORUS_GRPC_ADDR=0.0.0.0:50054
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
EXPOSE 50054
ENTRYPOINT ["/usr/local/bin/embed"]

FROM runtime AS orchestrator
COPY --from=build /out/orchestrator /usr/local/bin/orchestrator
ENV CHORUS_GRPC_ADDR=0.0.0.0:50050
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
# Jobs (SQLite) and stored artifacts; the image's user owns its home. Mount
# a volume here to keep them across containers.
ENV CHORUS_DATA_DIR=/home/nonroot/orchestrator
EXPOSE 50050
ENTRYPOINT ["/usr/local/bin/orchestrator"]

# The gateway's health is its /readyz: healthy once every upstream answers
# SERVING, so that `docker compose up --wait` returns when the suite serves.
FROM runtime AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
ENV CHORUS_HTTP_ADDR=0.0.0.0:8080
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]

# espeak-ng (GPL) is never linked: the image installs Debian's package and
# the service runs it as a separate process (the `espeak` model); likewise
# FluidSynth (LGPL) and the FluidR3 General MIDI soundfont for `music`.
FROM debian:bookworm-slim AS audio
RUN apt-get update && apt-get install -y --no-install-recommends libasound2 espeak-ng fluidsynth fluid-soundfont-gm \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && useradd --system --uid 65532 --no-create-home chorus
COPY --from=build /out/chorus /usr/local/bin/chorus
COPY --from=build-audio /out/audio /usr/local/bin/audio
USER 65532
ENV CHORUS_GRPC_ADDR=0.0.0.0:50053
# Inside a container the server must listen on every interface; without
# API keys (CHORUS_API_KEYS or -api-keys-file) that is allowed explicitly.
ENV CHORUS_ALLOW_INSECURE_BIND=true
EXPOSE 50053
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["/usr/local/bin/chorus", "health"]
ENTRYPOINT ["/usr/local/bin/audio"]
