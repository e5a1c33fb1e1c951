# Chorus: build, test and run the whole suite.
#
#   make demo   the main job: the script-then-voiceover pipeline, offline
#   make test   every check and test (what CI runs)
#   make up     run the suite on 127.0.0.1 until Ctrl-C
#
# The Makefile installs what it needs: Debian packages through apt-get when
# they are missing and we run as root (otherwise it names them), Go tools
# through `go tool` (pinned in tools/go.mod and proto/go.mod).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Every Go module of the workspace, in dependency order.
MODULES := proto platform engine services/text services/image services/audio orchestrator gateway cli
PKGS := $(MODULES:%=./%/...)
# The binaries `make build` puts in bin/.
CMDS := services/text/cmd/text services/image/cmd/image services/audio/cmd/audio \
        orchestrator/cmd/orchestrator gateway/cmd/gateway cli/cmd/chorus
BIN := bin
# Debian packages: flite (speech through cgo), espeak-ng (more languages,
# run as a separate process).
APT_PACKAGES := flite1-dev espeak-ng
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
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
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
test: deps lint breaking ## run every check and test (CI runs this)
	go test $(GO_TEST_FLAGS) $(PKGS)

.PHONY: demo
demo: build ## the main job: start the suite, run script-then-voiceover offline, write out/demo, stop
	$(BIN)/chorus demo -bin-dir $(BIN) -out out/demo -input topic="$(DEMO_TOPIC)"

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
# Debian packages, a caption tokenizer, about an hour of training on 2 cores, export, the
# consistency index that `make test` checks.
IMAGE_CORPUS_PACKAGES := fonts-noto-color-emoji unicode-cldr-core openclipart-png openclipart-svg
IMAGE_CORPUS_DIR ?= out/imagecorpus
IMAGE_TRAIN_DIR ?= out/imagetrain
IMAGE_STEPS ?= 4800

.PHONY: image-corpus
image-corpus: ## build the captioned-picture corpus from Debian packages (installs them as root)
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(IMAGE_CORPUS_PACKAGES)"
	go run ./engine/cmd/imagecorpus -o $(IMAGE_CORPUS_DIR)

.PHONY: image-model
image-model: image-corpus ## train models/chorus-pixels.gguf from scratch on the CPU (about an hour on 2 cores)
	go run ./engine/cmd/imagetrain tokenizer -corpus $(IMAGE_CORPUS_DIR) -vocab 1024 -o $(IMAGE_TRAIN_DIR)/tokenizer.json
	nice -n 10 go run ./engine/cmd/imagetrain fit -corpus $(IMAGE_CORPUS_DIR) -dir $(IMAGE_TRAIN_DIR) -preset image -steps $(IMAGE_STEPS)
	go run ./engine/cmd/imagetrain export -dir $(IMAGE_TRAIN_DIR) -corpus $(IMAGE_CORPUS_DIR) -type Q8_0 -o models/chorus-pixels.gguf
	go run ./engine/cmd/imagetrain eval -dir $(IMAGE_TRAIN_DIR) -corpus $(IMAGE_CORPUS_DIR)
	go run ./engine/cmd/imagetrain consistency -model models/chorus-pixels.gguf -corpus $(IMAGE_CORPUS_DIR) \
	  -index models/chorus-pixels-index.json

.PHONY: up
up: build ## run the whole suite on 127.0.0.1 (gateway on :8080) until Ctrl-C
	$(BIN)/chorus up -bin-dir $(BIN)

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN) out
