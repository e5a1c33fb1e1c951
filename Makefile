# Chorus: build, test and run the whole suite.
#
#   make demo   the main job: the script-then-voiceover pipeline, offline
#   make test   every check and test (what CI runs)
#   make bench  the suite against its baselines, into BENCHMARKS.md
#   make up     run the suite on 127.0.0.1 until Ctrl-C (with Jaeger, once built)
#   make images the Docker images of docker-compose.yaml (made offline if need be)
#
# The Makefile installs what it needs: Debian packages through apt-get when
# they are missing and we run as root (otherwise it names them), Go tools
# through `go tool` (pinned in tools/go.mod and proto/go.mod).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Every Go module of the workspace, in dependency order; evals (quality
# measurements with libraries the binaries must not carry) and e2e
# (black-box tests of the built suite, with their test-only dependencies)
# build no product binary.
MODULES := proto platform engine evals services/text services/image services/audio services/embed orchestrator gateway cli bench e2e
PKGS := $(MODULES:%=./%/...)
# The binaries `make build` puts in bin/.
CMDS := services/text/cmd/text services/image/cmd/image services/audio/cmd/audio services/embed/cmd/embed \
        orchestrator/cmd/orchestrator gateway/cmd/gateway cli/cmd/chorus
BIN := bin
# Debian packages: flite (speech through cgo), espeak-ng (more languages,
# run as a separate process), fluidsynth and fluid-soundfont-gm (the music
# model renders MIDI through them), chromium (the playground's browser test in
# e2e/), ffmpeg (the narrated-slideshow MP4, and ffprobe to check it),
# postgresql (the server the orchestrator's shared-jobs test starts), flite
# (the command-line tool `make bench` compares the flite backend with).
APT_PACKAGES := flite1-dev espeak-ng fluidsynth fluid-soundfont-gm chromium ffmpeg postgresql flite
GO_TEST_FLAGS ?= -count=1
DEMO_TOPIC ?= the lighthouse keeper
# buf lives in its own module, outside the workspace, because it needs a
# pre-release protobuf runtime.
BUF = $$(GOWORK=off go -C tools tool -n buf)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the Debian packages the build needs (as root), or name them
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    lock="-o DPkg::Lock::Timeout=900"; \
	    apt-get $$lock update -qq && apt-get $$lock install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "install them with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

.PHONY: tools
tools: ## build the pinned code generators (buf and the protoc plugins)
	@GOWORK=off go -C tools tool -n buf >/dev/null
	@for t in protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2; do \
	  go -C proto tool -n $$t >/dev/null; done

.PHONY: generate
generate: tools ## regenerate Go, gateway and OpenAPI code from proto/
	$(BUF) generate

.PHONY: lint
lint: tools ## buf lint, gofmt, go vet
	$(BUF) lint
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(PKGS)

.PHONY: breaking
breaking: tools ## buf breaking against the previous commit, when it has protos
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
	  echo "buf breaking --against .git#ref=HEAD~1"; \
	  $(BUF) breaking --against '.git#ref=HEAD~1'; \
	else \
	  echo "buf breaking: no earlier commit with protos to compare against; skipped"; \
	fi

.PHONY: build
build: deps ## build every binary into bin/
	@mkdir -p $(BIN)
	go build -o $(BIN)/ $(CMDS:%=./%)

.PHONY: test
test: deps lint breaking helm-check jaeger ## run every check and test (CI runs this)
	CHORUS_JAEGER_BIN="$$(deploy/scripts/jaeger.sh)" go test $(GO_TEST_FLAGS) $(PKGS)
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory test-compose

# Each fuzz target runs for FUZZTIME from its seeds (f.Add calls and the
# committed testdata/fuzz/<Target>/ corpora); docs/RELIABILITY.md says what
# each one checks. Nine targets at 6 s take about 2 minutes on 2 cores, half
# of it compiling with coverage instrumentation. A target runs once more only
# when its first run failed with Go 1.26's race at the end of -fuzztime and
# wrote no failing input. The recipe runs under -e, so go test's status is
# caught with || and its log is printed before anything is decided.
FUZZTIME ?= 6s
FUZZ_TARGETS := platform/genai:FuzzValidate gateway/internal/gateway:FuzzCodecDecode \
  engine/gguf:FuzzParse orchestrator/internal/pipeline:FuzzParse \
  services/text/internal/backend/openai:FuzzSSEReader services/text/internal/backend/openai:FuzzReadStream \
  platform/wav:FuzzDecode platform/wav:FuzzEncode engine/imagetok:FuzzRenderPNG
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (6s) each
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t#*:}; \
	  echo "go test -fuzz=$$name ./$$pkg"; \
	  for try in 1 2; do \
	    rc=0; go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg > $$log 2>&1 || rc=$$?; \
	    cat $$log; \
	    [ $$rc = 0 ] && break; \
	    if [ $$try = 1 ] && tail -n 5 $$log | grep -c '^    context deadline exceeded$$' >/dev/null && \
	       [ -z "$$(git status --porcelain -- $$pkg/testdata/fuzz/$$name)" ]; then \
	      echo "no failing input was written: Go 1.26's fuzz coordinator race at the end of -fuzztime (golang/go#75804, fixed in Go 1.27); running $$name again"; \
	      continue; \
	    fi; \
	    exit 1; \
	  done; \
	done

# The reliability run (docs/RELIABILITY.md): the e2e fault, load and
# hostile-request tests with the load held LOAD_DURATION (60s; 5s in make
# test), then every fuzz target; the figures section of docs/RELIABILITY.md
# is rewritten from their logs, kept in out/reliability. About 6 minutes.
LOAD_DURATION ?= 60s
RELIABILITY_TESTS := TestLoad|TestAudioKilledMidRun|TestUpstreamFaults|TestMutualTLS|TestSecurity
.PHONY: reliability
reliability: deps ## faults, load (LOAD_DURATION, 60s) and hostile inputs, then fuzzing; rewrites docs/RELIABILITY.md's figures
	@mkdir -p out/reliability
	CHORUS_LOAD_DURATION=$(LOAD_DURATION) go test -count=1 -v -timeout 30m -run '^($(RELIABILITY_TESTS))$$' ./e2e \
	  >out/reliability/e2e.log 2>&1 || { grep -E -e '--- FAIL|_test.go:[0-9]+:' out/reliability/e2e.log | tail -40; exit 1; }
	$(MAKE) --no-print-directory fuzz >out/reliability/fuzz.log 2>&1 || { tail -40 out/reliability/fuzz.log; exit 1; }
	go run ./e2e/cmd/reliability -e2e out/reliability/e2e.log -fuzz out/reliability/fuzz.log -fuzztime $(FUZZTIME) -doc docs/RELIABILITY.md
	@echo "docs/RELIABILITY.md: figures rewritten from out/reliability/"

# TLS between the services (docs/RELIABILITY.md): servers take -tls-cert,
# -tls-key and -tls-client-ca (mutual TLS), the orchestrator and the gateway
# -upstream-tls-ca, -upstream-tls-cert and -upstream-tls-key.
CERTS_DIR ?= certs
CERTS_HOSTS ?= localhost,127.0.0.1,::1
.PHONY: certs
certs: ## a development CA, server and client certificates in certs/ (TLS and mTLS between the services)
	go run ./platform/devcert/cmd/devcert -dir $(CERTS_DIR) -hosts $(CERTS_HOSTS)

# Docker: images, Compose v2 and Jaeger (deploy/README.md). What takes
# minutes the first time (the base image roots, the Compose and Jaeger
# binaries built from their Go modules) is cached under
# $${XDG_CACHE_HOME:-~/.cache}/chorus, so a second run takes seconds.
DOCKER ?= docker
DOCKER_APT_PACKAGES := debootstrap

.PHONY: jaeger
jaeger: ## build the Jaeger v2 binary from its Go module (cached; about 10 minutes cold)
	@deploy/scripts/jaeger.sh >/dev/null

.PHONY: images
images: ## the Docker images of docker-compose.yaml: pulled, or made offline under the same tags
	@if ! command -v debootstrap >/dev/null; then \
	  $(MAKE) --no-print-directory deps APT_PACKAGES="$(DOCKER_APT_PACKAGES)"; fi
	DOCKER=$(DOCKER) deploy/scripts/images.sh

.PHONY: test-compose
test-compose: ## run docker-compose.yaml under Docker and test the stack (skipped without a Docker daemon)
	@if ! $(DOCKER) version --format '{{.Server.Version}}' >/dev/null 2>&1; then \
	  echo "test-compose: skipped: no Docker daemon answers ($(DOCKER) version failed)"; exit 0; fi; \
	$(MAKE) --no-print-directory images && \
	CHORUS_COMPOSE_TEST=1 CHORUS_COMPOSE="$$(DOCKER=$(DOCKER) deploy/scripts/compose.sh)" DOCKER=$(DOCKER) \
	  go test -count=1 -timeout 45m -v -run TestComposeStack ./cli/internal/composetest

# helm and kubeconform are pinned in their own module, deploy/tools, outside
# the workspace (helm brings Kubernetes' client libraries); go tool builds and
# caches them. The tests derive kubeconform's schemas offline from the
# Kubernetes OpenAPI document in the module cache (deploy/README.md).
.PHONY: helm-check
helm-check: ## helm lint and kubeconform -strict on deploy/helm/chorus, offline
	@unformatted=$$(gofmt -l deploy/tools); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@# Built here, not inside the tests, so a cold build does not count
	@# against go test's timeout.
	cd deploy/tools && GOWORK=off go tool -n helm >/dev/null && GOWORK=off go tool -n kubeconform >/dev/null
	cd deploy/tools && GOWORK=off go vet ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./...

.PHONY: demo
demo: build ## the main job: start the suite, run script-then-voiceover offline, write out/demo, stop
	$(BIN)/chorus demo -bin-dir $(BIN) -out out/demo -input topic="$(DEMO_TOPIC)"

# The suite's benchmark (bench/README.md): every figure a ratio against a
# baseline measured in the same run. BENCH_FLAGS=-rounds=10 for more rounds.
BENCH_FLAGS ?=

.PHONY: bench
bench: deps ## measure the gateway, orchestrator, streaming and speech against baselines; write BENCHMARKS.md
	nice -n 10 go run ./bench $(BENCH_FLAGS)

# The shipped model's recipe (models/README.md): corpus from Debian packages,
# tokenizer, about an hour of training on 2 cores, export, evaluation.
CORPUS_PACKAGES := bible-kjv bible-kjv-text dict-wn fortunes fortunes-min jargon-text dict-devil
CORPUS_DIR ?= out/corpus
TRAIN_DIR ?= out/train

.PHONY: corpus
corpus: ## build the training corpus from Debian packages (installs them as root)
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(CORPUS_PACKAGES)"
	go run ./engine/cmd/corpus -o $(CORPUS_DIR)

.PHONY: model
model: corpus ## train models/chorus-mini.gguf from scratch on the CPU (about an hour on 2 cores)
	go run ./engine/cmd/train tokenizer -corpus $(CORPUS_DIR) -vocab 4096 -o $(TRAIN_DIR)/tokenizer.json
	nice -n 5 go run ./engine/cmd/train fit -corpus $(CORPUS_DIR) -dir $(TRAIN_DIR) -preset mini -steps 4500
	nice -n 5 go run ./engine/cmd/train fit -corpus $(CORPUS_DIR) -dir $(TRAIN_DIR) -steps 7000
	go run ./engine/cmd/train export -dir $(TRAIN_DIR) -type Q8_0 -o models/chorus-mini.gguf
	go run ./engine/cmd/train eval -model models/chorus-mini.gguf -corpus $(CORPUS_DIR) -dir $(TRAIN_DIR) \
	  -unigram models/unigram.json -sample models/heldout-sample.jsonl -sample-docs 60

# The image model's recipe (models/chorus-pixels.md): captioned emoji and clip art from
# Debian packages, a caption tokenizer, training (1,250 steps of 32 pictures: about an hour on
# 2 idle cores, 10 minutes on 16; IMAGE_WORKERS goroutines, a divisor of 32), export, the
# consistency index that `make test` checks.
IMAGE_CORPUS_PACKAGES := fonts-noto-color-emoji unicode-cldr-core openclipart-png openclipart-svg
IMAGE_CORPUS_DIR ?= out/imagecorpus
IMAGE_TRAIN_DIR ?= out/imagetrain
IMAGE_STEPS ?= 1250
IMAGE_WORKERS ?= 2

.PHONY: image-corpus
image-corpus: ## build the captioned-picture corpus from Debian packages (installs them as root)
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(IMAGE_CORPUS_PACKAGES)"
	go run ./engine/cmd/imagecorpus -o $(IMAGE_CORPUS_DIR)

.PHONY: image-model
image-model: image-corpus ## train models/chorus-pixels.gguf from scratch on the CPU (about an hour on 2 idle cores)
	go run ./engine/cmd/imagetrain tokenizer -corpus $(IMAGE_CORPUS_DIR) -vocab 1024 -o $(IMAGE_TRAIN_DIR)/tokenizer.json
	nice -n 10 go run ./engine/cmd/imagetrain fit -corpus $(IMAGE_CORPUS_DIR) -dir $(IMAGE_TRAIN_DIR) -preset image -steps $(IMAGE_STEPS) \
	  -batch 32 -workers $(IMAGE_WORKERS)
	go run ./engine/cmd/imagetrain export -dir $(IMAGE_TRAIN_DIR) -corpus $(IMAGE_CORPUS_DIR) -type Q8_0 -o models/chorus-pixels.gguf
	go run ./engine/cmd/imagetrain eval -dir $(IMAGE_TRAIN_DIR) -corpus $(IMAGE_CORPUS_DIR)
	go run ./engine/cmd/imagetrain consistency -model models/chorus-pixels.gguf -corpus $(IMAGE_CORPUS_DIR) \
	  -index models/chorus-pixels-index.json

# The embedding model's recipe (models/chorus-embed.md): WordNet's headwords from the corpus,
# contrastive training (about 25 minutes on 2 cores), export, the held-out retrieval set and
# its fixed subset that `make test` checks, and the figures against BM25.
EMBED_TRAIN_DIR ?= out/embedtrain

.PHONY: embed-model
embed-model: corpus ## train models/chorus-embed.gguf from scratch on the CPU (about 25 minutes on 2 cores)
	nice -n 5 go run ./engine/cmd/embedtrain fit -corpus $(CORPUS_DIR) -dir $(EMBED_TRAIN_DIR)
	go run ./engine/cmd/embedtrain export -dir $(EMBED_TRAIN_DIR) -context 128 -o models/chorus-embed.gguf
	go run ./engine/cmd/embedtrain evalset -corpus $(CORPUS_DIR) -o $(EMBED_TRAIN_DIR)/retrieval.json \
	  -subset models/chorus-embed-eval.json
	go run ./evals/cmd/retrievaleval -set $(EMBED_TRAIN_DIR)/retrieval.json -model models/chorus-embed.gguf
	go run ./evals/cmd/retrievaleval -set models/chorus-embed-eval.json -model models/chorus-embed.gguf

# With the Jaeger binary built (make jaeger) and no OTLP endpoint set, `make
# up` runs Jaeger on loopback too (deploy/jaeger/local.yaml) and sends the
# traces there.
.PHONY: up
up: build ## run the whole suite on 127.0.0.1 (gateway on :8080) until Ctrl-C
	@jaeger=$$(deploy/scripts/jaeger.sh -path); \
	if [ -z "$${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ] && [ -x "$$jaeger" ]; then \
	  "$$jaeger" --config deploy/jaeger/local.yaml >$(BIN)/jaeger.log 2>&1 & jpid=$$!; \
	  trap 'kill $$jpid 2>/dev/null; wait $$jpid 2>/dev/null' EXIT; \
	  sleep 1; \
	  if kill -0 $$jpid 2>/dev/null; then \
	    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317; \
	    echo "Jaeger: traces at http://127.0.0.1:16686 (query API /api/traces; log in $(BIN)/jaeger.log)"; \
	  else \
	    echo "Jaeger did not start (see $(BIN)/jaeger.log); running without traces"; \
	  fi; \
	elif [ -z "$${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then \
	  echo "no Jaeger: run make jaeger once to have make up trace into one"; \
	fi; \
	$(BIN)/chorus up -bin-dir $(BIN)

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN) out
